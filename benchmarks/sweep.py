"""Cost of a dims x dtypes x modes grid, measured in one run (minilm-l6, SciFact, CPU, offline).

(a) time(full grid: 3 modes x 5 dims x 3 dtypes, cold store) / time(one cold cell), full SciFact.
    Both through `leafbench run` in fresh processes with fresh caches. The pair is minilm-l6 with itself as
    teacher, so the store encodes each side once and all 45 cells are derived from those two passes.
(b) time(the same 45 cells through mteb.evaluate, one call per cell, CompressionWrapper + embed_dim)
    / time(leafbench's grid in-process, cold store), on a SciFact subset so mteb finishes in minutes.
    leafbench loads its model outside the timing; mteb loads it per call (a model name is the only way its
    wrapper honours embed_dim), which is how a user runs mteb's grid.

Usage: .venv/bin/python benchmarks/sweep.py [--data-dir ../shared/data/beir] [--subset-queries 30 --subset-docs 200]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIMS = "full,256,128,64,32"  # minilm-l6 is 384-d, so 512 does not exist; five dims as the issue asks
DTYPES = "float32,int8,binary"


def cli(args: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run([str(ROOT / ".venv" / "bin" / "leafbench"), *args], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if proc.returncode != 0:
        sys.exit(proc.stderr[-3000:])
    return time.perf_counter() - t0


def part_a(data_dir: Path, tmp: Path, max_docs: int | None = None) -> tuple[float, float, int]:
    base = ["run", "--model", "minilm-l6", "--tasks", "SciFact", "--data-dir", str(data_dir)]
    if max_docs:
        base += ["--max-docs", str(max_docs), "--max-queries", "300"]
    t_cell = cli(base + ["--mode", "student", "--output", str(tmp / "a1"), "--cache-dir", str(tmp / "c1")])
    t_grid = cli(base + ["--teacher", "minilm-l6", "--mode", "all", "--dims", DIMS, "--dtypes", DTYPES,
                         "--output", str(tmp / "a2"), "--cache-dir", str(tmp / "c2")])
    n = len(list((tmp / "a2").glob("*/*/*.json")))  # run.json manifests are not cells
    return t_cell, t_grid, n


def part_b(data_dir: Path, tmp: Path, n_queries: int, n_docs: int) -> tuple[float, float, int]:
    import mteb
    from datasets import Dataset
    from mteb.models import CompressionWrapper, SentenceTransformerEncoderWrapper
    from mteb.types import OutputDType
    from leafbench.cells import grid, parse_dims, parse_dtypes
    from leafbench.data import load_beir_folder
    from leafbench.encode import Encoder
    from leafbench.evaluate import evaluate_retrieval
    from leafbench.registry import resolve_model
    from leafbench.store import EmbeddingStore

    data = load_beir_folder(data_dir / "scifact", "test", task_name="SciFact").subset(n_queries, n_docs, seed=0)
    rows = {r["_id"]: r for r in map(json.loads, (data_dir / "scifact" / "corpus.jsonl").open())}
    cells = grid(parse_dims(DIMS), parse_dtypes(DTYPES))
    modes = ["student", "teacher", "asymmetric"]
    spec = resolve_model("minilm-l6")

    def task():
        t = mteb.get_task("SciFact")
        t.dataset = {"default": {"test": {
            "corpus": Dataset.from_list([{"id": i, "title": rows[i].get("title") or "", "text": rows[i]["text"]} for i in data.corpus_ids]),
            "queries": Dataset.from_dict({"id": data.query_ids, "text": data.query_texts}),
            "relevant_docs": {q: dict(v) for q, v in data.qrels.items()},
            "top_ranked": None,
        }}}
        t.data_loaded = True
        return t

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _mode in modes:  # mteb has no asymmetric mode: with student = teacher each mode is one more call
            for cell in cells:
                # A model name, not the loaded `st`: mteb's wrapper ignores embed_dim for a model instance.
                model = SentenceTransformerEncoderWrapper(spec.source, device="cpu", embed_dim=cell.dim)
                if cell.dtype != "float32":
                    model = CompressionWrapper(model, OutputDType(cell.dtype))
                mteb.evaluate(model, [task()], cache=None, show_progress_bar=False)
    t_mteb = time.perf_counter() - t0

    student, teacher = Encoder(spec, EmbeddingStore(tmp / "b-store")), Encoder(spec, EmbeddingStore(tmp / "b-store"))
    student.model, teacher.model  # noqa: B018 - load weights outside the timing, as for mteb
    t0 = time.perf_counter()
    run = evaluate_retrieval(data, {"student": student, "teacher": teacher}, modes, tmp / "b-out", "x", cells=cells)
    t_lb = time.perf_counter() - t0
    return t_mteb, t_lb, len(run.results)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data" / "beir")
    ap.add_argument("--subset-queries", type=int, default=30)
    ap.add_argument("--subset-docs", type=int, default=200)
    ap.add_argument("--only", choices=["a", "b"], default=None)
    ap.add_argument("--a-max-docs", type=int, default=None, help="(a) on a SciFact subset of this many docs (default: full)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        if args.only != "b":
            t_cell, t_grid, n = part_a(args.data_dir, tmp, args.a_max_docs)
            where = f"SciFact, 300 queries / {args.a_max_docs} docs" if args.a_max_docs else "full SciFact"
            print(f"(a) {where}: one cold cell {t_cell:.1f}s, {n}-cell grid (3 modes x 5 dims x 3 dtypes) "
                  f"cold {t_grid:.1f}s, ratio grid/cell {t_grid / t_cell:.2f} (target <= 1.3)", flush=True)
        if args.only != "a":
            t_mteb, t_lb, n = part_b(args.data_dir, tmp, args.subset_queries, args.subset_docs)
            print(f"(b) SciFact subset {args.subset_queries} queries / {args.subset_docs} docs, {n} cells: "
                  f"mteb.evaluate per cell {t_mteb:.1f}s, leafbench grid {t_lb:.1f}s, ratio {t_mteb / t_lb:.1f}x (target >= 20)",
                  flush=True)


if __name__ == "__main__":
    main()
