"""Cost of a dims x dtypes x modes grid on a real (student, teacher) pair, measured in one run (SciFact, CPU, offline).

The pair: the teacher is minilm-l6 (6 layers, 256 tokens); the student is the `mini` recipe's architecture -
minilm-l6's layers [0, 3, 5] + Dense 384->384 + Normalize, 128 tokens, seeded random projection (its scores
mean nothing; its cost is a student's). A distinct teacher means nothing is shared between the two models'
encodings: every (model, side) is encoded once and only once.

(a) `leafbench run` in fresh processes with fresh caches: time(45-cell grid: 3 modes x 5 dims x 3 dtypes) /
    (time(one student-mode cell) + time(one teacher-mode cell)). The two single cells are what encoding each
    model's queries and documents once costs; the claim is that the whole grid costs little more than that.
    Every command loads its models inside its process, on both sides of the ratio.
(b) The same 45 cells through `mteb.evaluate`, one call per cell (CompressionWrapper for quantized dtypes,
    `embed_dim` for dims, a query->student / document->teacher router for the asymmetric mode, as a user would
    write one) / leafbench's grid in-process (`evaluate_retrieval`, cold store). Every model on both sides is
    loaded before the clock starts (mteb: one wrapper per model and dim, since its wrapper honours `embed_dim`
    only when it loads the model itself), so the ratio is encoding and scoring only.

    .venv/bin/python benchmarks/sweep.py --a-max-docs 1000 --json benchmarks/results/sweep.json

That run took ~17 min on 2 cores shared with other jobs, most of it mteb's 45 calls in (b); `--subset-docs 100
--a-max-docs 500` gives a quicker look.
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
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DIMS = "full,256,128,64,32"  # minilm-l6 is 384-d, so 512 does not exist
DTYPES = "float32,int8,binary"
TEACHER = "minilm-l6"


def leafbench_cmd() -> list[str]:
    exe = ROOT / ".venv" / "bin" / "leafbench"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "leafbench.cli"]


def build_student(folder: Path) -> Path:
    """The mini recipe's student architecture, untrained (seeded), saved as a SentenceTransformer folder."""
    import torch

    from leafbench_distill.student import build_student as build

    torch.manual_seed(0)
    model = build("minilm-l6", 384, [0, 3, 5], 128, device="cpu")
    model.save(str(folder))
    return folder


def cli(args: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [*leafbench_cmd(), *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)},
    )
    if proc.returncode != 0:
        sys.exit(proc.stderr[-3000:])
    return time.perf_counter() - t0


def part_a(data_dir: Path, tmp: Path, student: Path, max_docs: int | None) -> dict[str, Any]:
    base = ["run", "--tasks", "SciFact", "--data-dir", str(data_dir)]
    if max_docs:
        base += ["--max-docs", str(max_docs), "--max-queries", "300"]
    t_student = cli(
        base
        + ["--model", str(student), "--mode", "student", "--output", str(tmp / "a1"), "--cache-dir", str(tmp / "c1")]
    )
    t_teacher = cli(
        base + ["--model", TEACHER, "--mode", "student", "--output", str(tmp / "a2"), "--cache-dir", str(tmp / "c2")]
    )
    t_grid = cli(
        base
        + [
            "--model",
            str(student),
            "--teacher",
            TEACHER,
            "--mode",
            "all",
            "--dims",
            DIMS,
            "--dtypes",
            DTYPES,
            "--output",
            str(tmp / "a3"),
            "--cache-dir",
            str(tmp / "c3"),
        ]
    )
    n = len(list((tmp / "a3").glob("*/*/*.json")))  # run.json manifests are not cells
    return {
        "student_cell_s": t_student,
        "teacher_cell_s": t_teacher,
        "grid_s": t_grid,
        "grid_cells": n,
        "ratio": t_grid / (t_student + t_teacher),
        "target": "<= 1.3",
        "data": f"SciFact, 300 queries / {max_docs} docs" if max_docs else "full SciFact",
    }


class Routed:
    """An mteb encoder: queries to the student, documents to the teacher (mteb has no asymmetric mode)."""

    def __init__(self, student: Any, teacher: Any) -> None:
        self.student, self.teacher = student, teacher
        self.mteb_model_meta = student.mteb_model_meta

    def encode(
        self, inputs: Any, *, task_metadata: Any, hf_split: str, hf_subset: str, prompt_type: Any = None, **kw: Any
    ):
        side = self.teacher if getattr(prompt_type, "value", prompt_type) == "document" else self.student
        return side.encode(
            inputs, task_metadata=task_metadata, hf_split=hf_split, hf_subset=hf_subset, prompt_type=prompt_type, **kw
        )

    def similarity(self, a: Any, b: Any) -> Any:
        return self.student.similarity(a, b)

    def similarity_pairwise(self, a: Any, b: Any) -> Any:
        return self.student.similarity_pairwise(a, b)


def part_b(data_dir: Path, tmp: Path, student: Path, n_queries: int, n_docs: int) -> dict[str, Any]:
    import mteb
    from datasets import Dataset
    from mteb.models import CompressionWrapper, SentenceTransformerEncoderWrapper
    from mteb.types import OutputDType

    from leafbench.cells import grid, parse_dims, parse_dtypes
    from leafbench.data import load_beir_folder
    from leafbench.encode import Encoder
    from leafbench.evaluate import evaluate_retrieval
    from leafbench.modes import ALL_MODES
    from leafbench.registry import resolve_model
    from leafbench.store import EmbeddingStore

    data = load_beir_folder(data_dir / "scifact", "test", task_name="SciFact").subset(n_queries, n_docs, seed=0)
    rows = {r["_id"]: r for r in map(json.loads, (data_dir / "scifact" / "corpus.jsonl").open())}
    cells = grid(parse_dims(DIMS), parse_dtypes(DTYPES))
    modes = list(ALL_MODES)
    s_spec, t_spec = resolve_model(str(student)), resolve_model(TEACHER)

    def task():
        t = mteb.get_task("SciFact")
        t.dataset = {
            "default": {
                "test": {
                    "corpus": Dataset.from_list(
                        [
                            {"id": i, "title": rows[i].get("title") or "", "text": rows[i]["text"]}
                            for i in data.corpus_ids
                        ]
                    ),
                    "queries": Dataset.from_dict({"id": data.query_ids, "text": data.query_texts}),
                    "relevant_docs": {q: dict(v) for q, v in data.qrels.items()},
                    "top_ranked": None,
                }
            }
        }
        t.data_loaded = True
        return t

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Outside the clock: every mteb model (one per model and dim) and every task object.
        t0 = time.perf_counter()
        wrappers = {
            (role, c.dim): SentenceTransformerEncoderWrapper(spec.source, device="cpu", embed_dim=c.dim)
            for role, spec in (("student", s_spec), ("teacher", t_spec))
            for c in cells
            if c.dtype == "float32"
        }
        mteb_load_s = time.perf_counter() - t0
        tasks = [task() for _ in range(len(modes) * len(cells))]
        t0 = time.perf_counter()
        for i, (mode, cell) in enumerate((m, c) for m in modes for c in cells):
            s, te = wrappers[("student", cell.dim)], wrappers[("teacher", cell.dim)]
            model = {"student": s, "teacher": te, "asymmetric": Routed(s, te)}[mode]
            if cell.dtype != "float32":
                model = CompressionWrapper(model, OutputDType(cell.dtype))
            mteb.evaluate(model, [tasks[i]], cache=None, show_progress_bar=False)
        t_mteb = time.perf_counter() - t0

    store = EmbeddingStore(tmp / "b-store")
    encoders = {"student": Encoder(s_spec, store, device="cpu"), "teacher": Encoder(t_spec, store, device="cpu")}
    t0 = time.perf_counter()
    for enc in encoders.values():
        enc.model  # noqa: B018 - load the weights outside the timing, as for mteb
    lb_load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    run = evaluate_retrieval(data, encoders, modes, tmp / "b-out", "x", cells=cells)
    t_lb = time.perf_counter() - t0
    return {
        "mteb_s": t_mteb,
        "leafbench_s": t_lb,
        "cells": len(run.results),
        "ratio": t_mteb / t_lb,
        "target": ">= 20",
        "model_loads_outside_timing_s": {"mteb": mteb_load_s, "leafbench": lb_load_s, "mteb_wrappers": len(wrappers)},
        "data": f"SciFact subset {n_queries} queries / {n_docs} docs",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data" / "beir")
    ap.add_argument("--subset-queries", type=int, default=30)
    ap.add_argument("--subset-docs", type=int, default=200)
    ap.add_argument("--only", choices=["a", "b"], default=None)
    ap.add_argument(
        "--a-max-docs", type=int, default=None, help="(a) on a SciFact subset of this many docs (default: full)"
    )
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args()
    res: dict[str, Any] = {
        "command": "python benchmarks/sweep.py " + " ".join(sys.argv[1:]),
        "pair": {
            "student": "mini architecture (minilm-l6 layers [0, 3, 5] + Dense 384->384, 128 tokens, untrained, seed 0)",
            "teacher": f"{TEACHER} (256 tokens)",
        },
        "grid": {"modes": 3, "dims": DIMS, "dtypes": DTYPES},
    }
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        student = build_student(tmp / "mini-student")
        if args.only != "b":
            a = res["a"] = part_a(args.data_dir, tmp, student, args.a_max_docs)
            print(
                f"(a) {a['data']}: student cell {a['student_cell_s']:.1f}s + teacher cell {a['teacher_cell_s']:.1f}s, "
                f"{a['grid_cells']}-cell grid {a['grid_s']:.1f}s, ratio {a['ratio']:.2f} (target <= 1.3)",
                flush=True,
            )
        if args.only != "a":
            b = res["b"] = part_b(args.data_dir, tmp, student, args.subset_queries, args.subset_docs)
            print(
                f"(b) {b['data']}, {b['cells']} cells, models loaded before timing: mteb.evaluate per cell {b['mteb_s']:.1f}s, "
                f"leafbench grid {b['leafbench_s']:.1f}s, ratio {b['ratio']:.1f}x (target >= 20)",
                flush=True,
            )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
