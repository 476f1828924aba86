"""Evidence for the core harness, measured in one run on full SciFact with minilm-l6 (CPU, offline).

Prints:
  1. nDCG@10 from `leafbench run` and from mteb 2.26.24's own `mteb.evaluate` on the same local data;
  2. cold / warm wall time of the same `leafbench run` command (the warm run must encode nothing);
  3. a run killed during document encoding, then resumed: texts re-encoded on resume;
  4. encode throughput of leafbench's Encoder vs plain SentenceTransformer.encode on the same texts.

Usage: .venv/bin/python benchmarks/core.py [--data-dir ../shared/data/beir] [--docs 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LEAFBENCH = [str(ROOT / ".venv" / "bin" / "leafbench")]


def leafbench_run(
    cache: Path, out: Path, data_dir: Path, extra: list[str] | None = None
) -> tuple[float, subprocess.CompletedProcess]:
    cmd = (
        LEAFBENCH
        + [
            "run",
            "--model",
            "minilm-l6",
            "--mode",
            "student",
            "--tasks",
            "SciFact",
            "--data-dir",
            str(data_dir),
            "--output",
            str(out),
            "--cache-dir",
            str(cache),
        ]
        + (extra or [])
    )
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"leafbench run failed:\n{proc.stderr[-3000:]}")
    return dt, proc


def result(out: Path) -> dict:
    return json.loads((out / "minilm-l6" / "student" / "SciFact.json").read_text())


def mteb_reference(data_dir: Path) -> float:
    """mteb.evaluate on the same local SciFact files, through mteb's task object and ST wrapper."""
    import mteb
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer

    from leafbench.registry import minilm_path

    folder = data_dir / "scifact"
    corpus = [json.loads(line) for line in (folder / "corpus.jsonl").open()]
    queries = {q["_id"]: q["text"] for q in map(json.loads, (folder / "queries.jsonl").open())}
    qrels: dict[str, dict[str, int]] = {}
    for i, line in enumerate((folder / "qrels" / "test.tsv").open()):
        if i == 0:
            continue
        q, d, s = line.rstrip("\n").split("\t")
        qrels.setdefault(q, {})[d] = int(s)
    qids = [q for q in queries if q in qrels]
    task = mteb.get_task("SciFact")
    task.dataset = {
        "default": {
            "test": {
                "corpus": Dataset.from_list(
                    [{"id": r["_id"], "title": r.get("title") or "", "text": r["text"]} for r in corpus]
                ),
                "queries": Dataset.from_dict({"id": qids, "text": [queries[q] for q in qids]}),
                "relevant_docs": qrels,
                "top_ranked": None,
            }
        }
    }
    task.data_loaded = True
    model = mteb.models.SentenceTransformerEncoderWrapper(SentenceTransformer(str(minilm_path()), device="cpu"))
    res = mteb.evaluate(model, [task], cache=None, show_progress_bar=False)
    return float(res.task_results[0].scores["test"][0]["ndcg_at_10"])


def kill_and_resume(data_dir: Path, tmp: Path, max_docs: int | None = None) -> tuple[int, int, int]:
    """Kill `leafbench run` once 2 document shards exist; rerun; return (shards before kill, docs re-encoded, total docs)."""
    cache, out = tmp / "kill-cache", tmp / "kill-out"
    subset = ["--max-queries", "300", "--max-docs", str(max_docs)] if max_docs else []
    cmd = (
        LEAFBENCH
        + [
            "run",
            "--model",
            "minilm-l6",
            "--tasks",
            "SciFact",
            "--data-dir",
            str(data_dir),
            "--output",
            str(out),
            "--cache-dir",
            str(cache),
            "--shard-size",
            "512",
        ]
        + subset
    )
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "HF_HUB_OFFLINE": "1"}
    )
    shards: list[Path] = []
    while proc.poll() is None:
        spaces = [
            p
            for p in (cache / "embeddings" / "spaces").glob("*")
            if (p / "space.json").exists() and json.loads((p / "space.json").read_text())["key"]["side"] == "document"
        ]
        shards = [s for e in spaces for s in (e / "shards").glob("*.json")]  # committed shards (manifests)
        if len(shards) >= 2:
            proc.send_signal(signal.SIGINT)
            break
        time.sleep(0.5)
    proc.wait()
    n_before = len(shards)
    _, _ = leafbench_run(cache, out, data_dir, ["--shard-size", "512"] + subset)
    doc = result(out)["leafbench"]["throughput"]["document"]
    return n_before, doc["n_encoded_now"], doc["n_texts"]


def throughput(data_dir: Path, n_docs: int, tmp: Path) -> tuple[float, float]:
    """texts/s of leafbench's Encoder (store included, cold) vs SentenceTransformer.encode, same texts, same batch size."""
    from sentence_transformers import SentenceTransformer

    from leafbench.data import load_beir_folder
    from leafbench.encode import Encoder
    from leafbench.registry import resolve_model
    from leafbench.store import EmbeddingStore

    texts = load_beir_folder(data_dir / "scifact", "test", task_name="SciFact").corpus_texts[:n_docs]
    spec = resolve_model("minilm-l6")
    st = SentenceTransformer(spec.source, device="cpu")
    st.encode(texts[:64], batch_size=32)  # warm-up both paths identically
    enc = Encoder(spec, EmbeddingStore(tmp / "tp-store"), device="cpu", batch_size=32)
    enc.model.encode(texts[:64], batch_size=32)
    # Alternate the two, 3 rounds, fresh store each time: the machine is shared, so compare medians.
    t_st, t_lb = [], []
    for r in range(3):
        t0 = time.perf_counter()
        st.encode(texts, batch_size=32, show_progress_bar=False)
        t_st.append(time.perf_counter() - t0)
        enc.store = EmbeddingStore(tmp / f"tp-store-{r}")
        t0 = time.perf_counter()
        enc.encode(texts, "document")
        t_lb.append(time.perf_counter() - t0)
    return n_docs / sorted(t_lb)[1], n_docs / sorted(t_st)[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data" / "beir")
    ap.add_argument("--docs", type=int, default=1000, help="documents for the throughput comparison")
    ap.add_argument(
        "--resume-docs", type=int, default=None, help="corpus size for the kill/resume check (default: all)"
    )
    ap.add_argument("--only", choices=["resume", "throughput"], default=None, help="run one part only")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        if args.only is None:
            cold, _ = leafbench_run(tmp / "cache", tmp / "out", args.data_dir)
            lb_score = result(tmp / "out")["scores"]["test"][0]["ndcg_at_10"]
            skip, _ = leafbench_run(tmp / "cache", tmp / "out", args.data_dir)  # result exists: nothing to do
            warm, proc = leafbench_run(tmp / "cache", tmp / "out", args.data_dir, ["--force"])  # rescore from the store
            warm_doc = result(tmp / "out")["leafbench"]["throughput"]
            print(
                f"[2] cold run {cold:.1f}s; same command again (result exists) {skip:.1f}s, ratio {cold / skip:.1f}x; "
                f"with --force (every embedding from the store, re-scored) {warm:.1f}s, ratio {cold / warm:.1f}x; "
                f"--force run encoded {warm_doc['query']['n_encoded_now'] + warm_doc['document']['n_encoded_now']} texts",
                flush=True,
            )
            print(f"[1] SciFact nDCG@10 minilm-l6 student: leafbench {lb_score:.5f}", flush=True)
            ref = mteb_reference(args.data_dir)
            print(
                f"[1] SciFact nDCG@10 minilm-l6: mteb.evaluate {ref:.5f}  |diff| {abs(ref - lb_score):.2e}", flush=True
            )
        if args.only in (None, "resume"):
            n_before, re_enc, total = kill_and_resume(args.data_dir, tmp, args.resume_docs)
            print(
                f"[3] killed after {n_before} document shards of 512; resume re-encoded {re_enc} of {total} documents "
                f"(saved {total - re_enc})",
                flush=True,
            )
        if args.only in (None, "throughput"):
            lb_tps, st_tps = throughput(args.data_dir, args.docs, tmp)
            print(
                f"[4] encode throughput on {args.docs} SciFact docs (median of 3, alternating): leafbench {lb_tps:.1f} texts/s, "
                f"SentenceTransformer.encode {st_tps:.1f} texts/s, ratio {lb_tps / st_tps:.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
