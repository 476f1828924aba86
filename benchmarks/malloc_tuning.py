"""What the `leafbench` command's malloc tuning (`cli._tune_malloc`: 2 arenas, a fixed 1 MiB mmap threshold) costs
and saves: the same cold `leafbench run` (fake encoder `hash-768`, a synthetic corpus streamed from its file,
1,000 queries, k = 1000, a fresh Lance store) with the tuning and with glibc's dynamic mmap threshold (arenas still
capped, through MALLOC_ARENA_MAX), alternated so both see the same machine; peak RssAnon of the process tree and
wall seconds of each. Writes benchmarks/results/malloc.json.

    .venv/bin/python benchmarks/malloc_tuning.py --docs 1000000 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import tree_rss_anon, write_synthetic_folder  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "malloc.json"
# The command without _tune_malloc: what `leafbench` did before the mmap threshold was fixed.
UNTUNED = "import sys; from leafbench import cli; sys.argv[0] = 'leafbench'; cli.app(prog_name='leafbench')"


def one_run(variant: str, folder: Path, work: Path) -> dict[str, float]:
    """A cold run of one variant: (wall seconds, peak RssAnon GB of the process tree)."""
    shutil.rmtree(work / "cache", ignore_errors=True)
    shutil.rmtree(work / "out", ignore_errors=True)
    args = ["run", "--model", "hash-768", "--mode", "student", "--tasks", str(folder), "--engine", "local",
            "--cache-dir", str(work / "cache"), "--output", str(work / "out")]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_TUNABLES"))}
    env["LEAFBENCH_STREAM_MIN_BYTES"] = "0"
    if variant == "tuned":
        cmd = [sys.executable, "-m", "leafbench.cli", *args]
    else:
        cmd = [sys.executable, "-c", UNTUNED, *args]
        env["MALLOC_ARENA_MAX"] = "2"
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = [0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss_anon(proc.pid))
            time.sleep(0.1)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    _, err = proc.communicate()
    t.join()
    if proc.returncode != 0:
        sys.exit(f"{variant}: exit {proc.returncode}: {err[-2000:]}")
    return {"seconds": time.perf_counter() - t0, "peak_rss_anon_tree_GB": peak[0] / 1e9}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "leafbench-malloc")
    args = ap.parse_args()
    folder = args.work / f"synthetic{args.docs}"
    if not (folder / "corpus.jsonl").exists():
        write_synthetic_folder(folder, args.docs, 1000)
    runs: dict[str, list[dict[str, float]]] = {"tuned": [], "dynamic_threshold": []}
    for r in range(args.rounds):
        for variant in runs:
            runs[variant].append(one_run(variant, folder, args.work))
            print(f"round {r + 1} {variant}: {runs[variant][-1]}", flush=True)
    mean = {v: {k: sum(x[k] for x in rs) / len(rs) for k in rs[0]} for v, rs in runs.items()}
    out = {
        "docs": args.docs,
        "runs": runs,
        "mean": mean,
        "seconds_tuned_over_dynamic": mean["tuned"]["seconds"] / mean["dynamic_threshold"]["seconds"],
        "peak_tuned_over_dynamic": mean["tuned"]["peak_rss_anon_tree_GB"]
        / mean["dynamic_threshold"]["peak_rss_anon_tree_GB"],
        "command": f"benchmarks/malloc_tuning.py --docs {args.docs} --rounds {args.rounds}",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k != "runs"}, indent=1))


if __name__ == "__main__":
    main()
