"""Evidence for the CPU backends, measured in one run (offline: minilm-l6 student, mpnet-base teacher, SciFact).

Writes benchmarks/results/backends.json and prints:
  1. the machine's GEMM peaks (torch fp32, torch bf16, ONNX Runtime int8 MatMulInteger), GFLOP/s;
  2. per backend, for minilm-l6 and mpnet-base: batch-1 query latency p50/p95/p99 over SciFact's test claims
     (after warm-up) and bulk throughput on a fixed 500-passage sample at batch 32, with achieved GFLOP/s;
     the mpnet-base / minilm-l6 p50 ratio per backend (the paper's 6.4x is the reference);
  3. per backend, SciFact nDCG@10 on the full corpus with minilm-l6 (`leafbench run --backend B`), and its
     difference to torch fp32.

"torch-bf16" rows are the torch backend with `--precision bf16`.

Usage: .venv/bin/python benchmarks/backends.py [--threads 2] [--data-dir ../shared/data/beir]
       [--backends torch,torch-bf16,torch-int8,onnx,onnx-int8,openvino,openvino-bf16] [--no-ndcg] [--no-publish]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ALL = "torch,torch-bf16,torch-int8,onnx,onnx-int8,openvino,openvino-bf16"


def _dumps(record: dict) -> str:
    """Committed JSON names folders without the machine's absolute paths (temp caches, the data folder)."""
    from leafbench.record import relativize

    return json.dumps(relativize(record), indent=1) + "\n"


def split(b: str) -> tuple[str, str]:
    """benchmark label -> (backend, precision)."""
    return ("torch", "bf16") if b == "torch-bf16" else (b, "fp32")


def ndcg(backend: str, threads: int, data_dir: Path, cache: Path, out: Path) -> dict:
    be, prec = split(backend)
    cmd = [
        str(ROOT / ".venv/bin/leafbench"),
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
        "--backend",
        be,
        "--precision",
        prec,
        "--threads",
        str(threads),
    ]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    path = next((out).glob(f"minilm-l6{'' if be == 'torch' else '@' + be}/student/SciFact.json"))
    res = json.loads(path.read_text())
    path.unlink()  # the next precision of the same backend writes the same path
    thr = res["leafbench"].get("throughput", {})
    return {
        "ndcg_at_10": res["scores"]["test"][0]["ndcg_at_10"],
        "wall_s": wall,
        "docs_per_s": (thr.get("document") or {}).get("texts_per_s"),
        "queries_per_s": (thr.get("query") or {}).get("texts_per_s"),
    }


def publish(record: dict, results: Path = ROOT / "results") -> Path:
    """The latency part as `leafbench latency` writes it, plus the per-backend SciFact nDCG@10 of minilm-l6 as its
    quality block, so `leafbench report results/` shows quality next to latency."""
    d = dict(record["latency"])
    d["quality"] = {
        b: {"minilm-l6": r["ndcg_at_10"]} for b, r in (record.get("ndcg") or {}).items() if "ndcg_at_10" in r
    }
    d["quality_source"] = (
        "benchmarks/backends.py: leafbench run --model minilm-l6 --tasks SciFact --backend B (full corpus)"
    )
    d["threads_note"] = (
        f"all runtimes at {record['threads']} thread(s); load average at start {record['loadavg_start'][0]:.1f}"
    )
    path = results / "latency" / "minilm-l6+mpnet-base.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_dumps(d))
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared/data/beir")
    ap.add_argument("--backends", default=ALL)
    ap.add_argument("--queries", type=int, default=None, help="batch-1 queries (default: all 300 SciFact test claims)")
    ap.add_argument("--passages", type=int, default=500)
    ap.add_argument("--no-ndcg", action="store_true")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/backends.json")
    ap.add_argument("--no-publish", action="store_true", help="do not write results/latency/")
    ap.add_argument("--publish", type=Path, help="only write results/latency/ from an earlier run's JSON")
    args = ap.parse_args()
    if args.publish:
        print(f"wrote {publish(json.loads(args.publish.read_text()))}")
        return
    os.environ["HF_HUB_OFFLINE"] = "1"

    from leafbench.latency import LatencyReport, benchmark_texts, gemm_peaks, machine_info, measure_latency
    from leafbench.registry import install_mpnet, resolve_model

    tmp = Path(tempfile.mkdtemp(prefix="leafbench-backends-"))
    cache = tmp / "cache"
    install_mpnet(cache)
    backends = [b for b in args.backends.split(",") if b]
    record: dict = {
        "threads": args.threads,
        "machine": machine_info(),
        "loadavg_start": os.getloadavg(),
        "backends": backends,
    }
    peaks = gemm_peaks(args.threads)
    record["gemm_peaks_gflops"] = peaks
    print(
        f"GEMM peaks ({args.threads} threads, {peaks['m']}x{peaks['k']}x{peaks['n']}): fp32 {peaks['fp32']:.0f}, bf16 {peaks['bf16']:.0f}, int8 {peaks.get('int8', float('nan')):.0f} GFLOP/s",
        flush=True,
    )

    queries, passages, info = benchmark_texts(args.data_dir / "scifact", args.queries, args.passages)
    record["data"] = info
    student, teacher = resolve_model("minilm-l6", cache), resolve_model("mpnet-base", cache)
    results = []
    for b in backends:
        be, prec = split(b)
        for spec in (student, teacher):
            s = replace(spec, backend=be, precision=prec, threads=args.threads)
            try:
                r = measure_latency(s, queries, passages, warmup=10, batch_size=32, cache_dir=cache)
            except Exception as e:  # noqa: BLE001 - a backend that fails is reported, not fatal
                print(f"{b:14s} {spec.name:11s} FAILED: {type(e).__name__}: {e}", flush=True)
                record.setdefault("failed", {})[f"{b}/{spec.name}"] = f"{type(e).__name__}: {e}"
                continue
            r.backend = b  # torch-bf16 keeps its label
            results.append(r)
            print(
                f"{b:14s} {spec.name:11s} p50 {r.latency_ms['p50']:7.2f} ms  p95 {r.latency_ms['p95']:7.2f}  p99 {r.latency_ms['p99']:7.2f}"
                f"  bulk {r.bulk['texts_per_s']:6.2f} texts/s  {r.bulk['gflops_per_s']:5.0f} GFLOP/s  (load {r.load_seconds:.1f} s)",
                flush=True,
            )
    rep = LatencyReport(results, "minilm-l6", "mpnet-base", record["machine"], info)
    record["latency"] = rep.to_dict()
    base = {r.model: r for r in results if r.backend == "torch"}
    summary = {}
    for r in results:
        t = base.get(r.model)
        summary.setdefault(r.backend, {})[r.model] = {
            "p50_ms": r.latency_ms["p50"],
            "bulk_texts_per_s": r.bulk["texts_per_s"],
            "gflops_per_s": r.bulk["gflops_per_s"],
            "bulk_vs_torch": r.bulk["texts_per_s"] / t.bulk["texts_per_s"] if t else None,
            "p50_speedup_vs_torch": t.latency_ms["p50"] / r.latency_ms["p50"] if t else None,
        }
    for b, ratio in rep.ratios().items():
        summary[b]["mpnet_over_minilm_p50"] = ratio["p50_latency"]
    record["summary"] = summary
    print("\nper backend: mpnet/minilm p50 ratio; bulk throughput vs torch fp32 (minilm, mpnet)")
    for b, s in summary.items():
        mi, mp = s.get("minilm-l6", {}), s.get("mpnet-base", {})
        print(
            f"  {b:14s} ratio {s.get('mpnet_over_minilm_p50', float('nan')):5.2f}x   bulk minilm {mi.get('bulk_vs_torch') or float('nan'):5.2f}x"
            f"  mpnet {mp.get('bulk_vs_torch') or float('nan'):5.2f}x",
            flush=True,
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(_dumps(record))

    if not args.no_ndcg:
        record["ndcg"] = {}
        for b in backends:
            r = ndcg(b, args.threads, args.data_dir, cache, tmp / "results")
            record["ndcg"][b] = r
            if "error" in r:
                print(f"nDCG@10 {b:14s} FAILED: {r['error']}", flush=True)
            else:
                d = r["ndcg_at_10"] - record["ndcg"].get("torch", {}).get("ndcg_at_10", r["ndcg_at_10"])
                r["diff_to_torch"] = d
                print(
                    f"nDCG@10 {b:14s} {r['ndcg_at_10']:.5f}  diff {d:+.5f}  docs/s {r['docs_per_s'] or 0:.1f}  ({r['wall_s']:.0f} s)",
                    flush=True,
                )
            args.out.write_text(_dumps(record))
    record["loadavg_end"] = os.getloadavg()
    args.out.write_text(_dumps(record))
    print(f"wrote {args.out}" + ("" if args.no_publish else f" and {publish(record)}"))


if __name__ == "__main__":
    main()
