"""Evidence for scale: per-text reuse, linear cost in bounded memory, Ray encoding, resume after kill -9.

Parts (all by default; `--parts reuse,curve,ray,kill`), each printed and written to benchmarks/results/scale.json:

  reuse  real SciFact, minilm-l6: after the full corpus is in the store, the subset protocols
         (--max-queries 100 --max-docs 300, --max-docs 1000) encode 0 texts, and their nDCG@10 equals a
         cold store's (to 1e-4).
  curve  the fake encoder hash-768 on synthetic corpora (default 0.25M, 0.5M, 1M, 2M documents, 1,000
         queries, k = 1000), each size in its own process: seconds per million documents of evaluation
         (streamed top-k + mteb metrics; best of 2) and peak anonymous memory (RssAnon from /proc/self/status, sampled
         every 20 ms; file-backed pages of memory-mapped shards are not anonymous).
  ray    SciFact subset (100 queries, 2,000 documents), minilm-l6: --engine ray (local cluster, 2 workers)
         vs the local engine from cold stores, end to end (model loads included on both sides): nDCG@10,
         row-wise cosine of the two stores' vectors, throughput ratio; then a Ray run with one worker killed
         (kill -9) mid-encoding.
  run    `leafbench run --model hash-768 --store-format lance` end to end on synthetic BEIR folders (default 1M,
         4M and 8.8M documents, 1,000 queries, k = 1000; --run-sizes), the corpus streamed from its file, each size
         from a cold store and again warm: seconds per million documents and the peak RssAnon of the whole process
         tree (sampled every 0.1 s from /proc).
  fds    a Lance space of >= 20,000 files (one commit per text), then `leafbench run` under `ulimit -n 256`:
         exit 0, nothing encoded, the scores of a store written at once, no file removed; a truncated data file
         is named, `leafbench cache verify` removes its rows, the rerun encodes exactly those.
  index  a fresh process's first lookup of 10,000 keys in a 1M-row Lance space: scanning the key column vs the
         key index saved beside the space (memory-mapped).
  s3     --cache-dir s3://... on a local moto server: a SciFact subset (minilm-l6) scores as on a local cache; a
         run killed (-9) mid-encoding, rerun, encodes only what is missing (needs moto[server]).
  cluster  a two-node Ray cluster on this machine (ray.cluster_utils.Cluster): `leafbench run --engine ray` vs
         the local engine on 200,000 synthetic documents, scores equal to 1e-6, and the nodes the search ran on.
  kill   the teacher (mpnet-base) encoding full SciFact's documents in a child process, killed (-9) after
         --kill-after seconds: texts encoded before the kill that were not committed (re-encoded on resume),
         in seconds of encoding at the measured rate.

Usage: .venv/bin/python benchmarks/scale.py [--parts curve] [--sizes 250000,500000,1000000,2000000]
       [--warm-cache DIR] [--kill-after 300] [--data-dir ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
RESULTS = ROOT / "benchmarks" / "results" / "scale.json"


class AnonPeak:
    """Peak RssAnon of this process, sampled in a thread (the kernel's own figure, not an estimate)."""

    def __init__(self, every: float = 0.02) -> None:
        self.every, self.peak, self._stop = every, 0, threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def now() -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
        return 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.now())
            time.sleep(self.every)

    def __enter__(self) -> "AnonPeak":
        self.peak = self.now()
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self.now())


def _ndcg(result: dict) -> float:
    from leafbench.record import main_score

    return float(main_score(result))


# ---------------------------------------------------------------------------------------------------- reuse


def part_reuse(data_dir: Path, warm_cache: Path | None) -> dict:
    from leafbench.data import load_retrieval_parts
    from leafbench.encode import Encoder
    from leafbench.evaluate import evaluate_retrieval
    from leafbench.registry import resolve_model
    from leafbench.store import EmbeddingStore

    full = load_retrieval_parts("SciFact", data_dir)["default"]
    tmp = Path(tempfile.mkdtemp(prefix="scale-reuse-"))
    warm = EmbeddingStore((warm_cache or tmp / "warm") / "embeddings")
    spec = resolve_model("minilm-l6")
    enc = Encoder(spec, warm)
    t0 = time.perf_counter()
    run = evaluate_retrieval(full, {"student": enc}, ["student"], None, "reuse")
    out: dict = {
        "full": {
            "ndcg_at_10": _ndcg(run.results["student"]),
            "encoded": warm.n_encoded,
            "seconds": time.perf_counter() - t0,
        }
    }
    print(
        f"reuse: full SciFact nDCG@10 {out['full']['ndcg_at_10']:.5f}, {warm.n_encoded} texts encoded "
        f"({'warm store' if warm_cache else 'cold store'})",
        flush=True,
    )
    for name, (nq, nd) in {"100q-300d": (100, 300), "1000d": (None, 1000)}.items():
        sub = full.subset(nq, nd)
        before = warm.n_encoded
        w = evaluate_retrieval(sub, {"student": enc}, ["student"], None, "reuse")
        cold_store = EmbeddingStore(tmp / f"cold-{name}" / "embeddings")
        c = evaluate_retrieval(sub, {"student": Encoder(spec, cold_store)}, ["student"], None, "reuse")
        row = {
            "encoded_from_warm_store": warm.n_encoded - before,
            "ndcg_warm": _ndcg(w.results["student"]),
            "ndcg_cold": _ndcg(c.results["student"]),
            "encoded_cold": cold_store.n_encoded,
        }
        row["abs_diff"] = abs(row["ndcg_warm"] - row["ndcg_cold"])
        out[name] = row
        print(
            f"reuse: {name}: {row['encoded_from_warm_store']} texts encoded after the full run; nDCG@10 "
            f"{row['ndcg_warm']:.5f} vs cold store {row['ndcg_cold']:.5f} (|diff| {row['abs_diff']:.1e})",
            flush=True,
        )
    return out


# ---------------------------------------------------------------------------------------------------- run


def write_synthetic_folder(folder: Path, n_docs: int, n_queries: int, echo: bool = False) -> int:
    """A BEIR folder of `n_docs` short passages (as `synthetic`), `n_queries` queries and their qrels; its bytes.
    `echo`: every other query's relevant passage reads exactly as the fake encoder reads the query ("query: " +
    its text), so those are retrieved first and the scores are not all zero."""
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    step = max(1, n_docs // n_queries)

    def text(i: int) -> str:
        if echo and i % step == 0 and (i // step) % 2 == 0 and i // step < n_queries:
            return f"query: what is in synthetic document {i}"
        return f"synthetic document {i} on topic {i % 997}"

    with open(folder / "corpus.jsonl", "w", buffering=1 << 22) as f:
        for start in range(0, n_docs, 100_000):
            f.write(
                "".join(
                    f'{{"_id": "d{i}", "title": "", "text": "{text(i)}"}}\n'
                    for i in range(start, min(n_docs, start + 100_000))
                )
            )
    with open(folder / "queries.jsonl", "w") as f:
        f.write(
            "".join(
                f'{{"_id": "q{j}", "text": "what is in synthetic document {j * step}"}}\n' for j in range(n_queries)
            )
        )
    with open(folder / "qrels" / "test.tsv", "w") as f:
        f.write("query-id\tcorpus-id\tscore\n" + "".join(f"q{j}\td{j * step}\t1\n" for j in range(n_queries)))
    return (folder / "corpus.jsonl").stat().st_size


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants, from /proc (psutil is not a dependency)."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def tree_rss_anon(pid: int) -> int:
    """RssAnon (bytes) summed over a process and its descendants: the kernel's figure of the memory they own."""
    total = 0
    for p in _tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("RssAnon:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def run_one(folder: Path, cache: Path, output: Path, engine: str) -> dict:
    """`leafbench run` on one folder in a child process: wall time and the peak RssAnon of its process tree."""
    cmd = [
        sys.executable, "-m", "leafbench.cli", "run", "--model", "hash-768", "--mode", "student",
        "--tasks", str(folder), "--cache-dir", str(cache), "--output", str(output), "--store-format", "lance",
        "--engine", engine,
    ]  # fmt: skip
    t0 = time.perf_counter()
    env = {**os.environ, "LEAFBENCH_STREAM_MIN_BYTES": "0"}  # streamed at every size, whatever its file's bytes
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss_anon(proc.pid))
        time.sleep(0.1)
    wall = time.perf_counter() - t0
    log = proc.stdout.read() if proc.stdout else ""
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{log[-3000:]}")
    result = json.loads(next(output.rglob(f"{folder.name}.json")).read_text())
    lb = result["leafbench"]
    return {
        "wall_seconds": wall,
        "peak_rss_anon_tree_GB": peak / 1e9,
        "encode_seconds": lb["encode_seconds"],
        "score_seconds": lb["score_seconds"],
        "ndcg_at_10": _ndcg(result),
        "n_documents": lb["n_documents"],
        "docs_encoded": lb["throughput"]["document"]["n_encoded_now"],
    }


def part_run(sizes: list[int], work: Path, n_queries: int, engine: str = "local", warm: bool = True) -> dict:
    """End to end through `leafbench run` on synthetic BEIR folders streamed from their files, each size from a
    cold Lance store (deleted afterwards: 8.8M x 768-d rows are 27 GB), then once more on the warm store."""
    import shutil

    rows = []
    for n in sizes:
        base = work / f"size-{n}"
        shutil.rmtree(base, ignore_errors=True)
        folder = base / f"synthetic{n}"
        corpus_bytes = write_synthetic_folder(folder, n, n_queries)
        cold = run_one(folder, base / "cache", base / "results-cold", engine)
        again = run_one(folder, base / "cache", base / "results-warm", engine) if warm else cold
        row = {"n_docs": n, "n_queries": n_queries, "corpus_file_GB": corpus_bytes / 1e9, "cold": cold, "warm": again}
        row["cold_seconds_per_M_docs"] = cold["wall_seconds"] / (n / 1e6)
        row["warm_seconds_per_M_docs"] = again["wall_seconds"] / (n / 1e6) if warm else None
        rows.append(row)
        shutil.rmtree(base, ignore_errors=True)
        print(
            f"run: {n:>9,} docs: cold {cold['wall_seconds']:.0f} s ({row['cold_seconds_per_M_docs']:.0f} s/M docs; "
            f"encode {cold['encode_seconds']:.0f} s, score {cold['score_seconds']:.0f} s), peak RssAnon of the tree "
            f"{cold['peak_rss_anon_tree_GB']:.2f} GB; warm {again['wall_seconds']:.0f} s, "
            f"{again['peak_rss_anon_tree_GB']:.2f} GB",
            flush=True,
        )
    first, last = rows[0], rows[-1]
    summary = {
        "engine": engine,
        "sizes": rows,
        "peak_rss_growth_first_to_last": last["cold"]["peak_rss_anon_tree_GB"] / first["cold"]["peak_rss_anon_tree_GB"]
        - 1,
        "cold_s_per_M_docs_last_over_first": last["cold_seconds_per_M_docs"] / first["cold_seconds_per_M_docs"],
        "warm_s_per_M_docs_last_over_first": last["warm_seconds_per_M_docs"] / first["warm_seconds_per_M_docs"]
        if warm
        else None,
    }
    print(
        f"run: peak RssAnon {first['n_docs']:,} -> {last['n_docs']:,} docs: "
        f"{summary['peak_rss_growth_first_to_last']:+.0%}; s/M docs ratio cold "
        f"{summary['cold_s_per_M_docs_last_over_first']:.2f}",
        flush=True,
    )
    return summary


def _cli(args: list[str], nofile: int | None = None) -> subprocess.CompletedProcess:
    """`leafbench <args>` in a child process, under `ulimit -n <nofile>` when given."""
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    cmd = [sys.executable, "-m", "leafbench.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, preexec_fn=limit if nofile else None)


def _space_files(cache: Path) -> int:
    return sum(1 for p in (cache / "embeddings").rglob("*") if p.is_file())


def part_fds(work: Path, n_docs: int = 7000, nofile: int = 256) -> dict:
    """A Lance space written in one commit per text (>= 20,000 files: data file, manifest and transaction per
    commit), then `leafbench run` under `ulimit -n 256`: exit 0, nothing encoded, the scores of a store written in
    one go, no file removed; then one data file truncated: named (exit 2), `cache verify` removes its rows only,
    and the rerun encodes exactly those and scores the same."""
    import shutil

    from leafbench.encode import Encoder
    from leafbench.fake import hash_vectors
    from leafbench.registry import resolve_model
    from leafbench.store import open_store, text_keys

    shutil.rmtree(work, ignore_errors=True)
    folder = work / "fds"
    write_synthetic_folder(folder, n_docs, 200)
    os.environ["LEAFBENCH_STREAM_MIN_BYTES"] = "0"
    from leafbench.data import load_beir_folder

    texts = list(load_beir_folder(folder).corpus_texts)
    cache = work / "cache"
    store = open_store(cache / "embeddings", "lance")
    writer = store.writer(Encoder(resolve_model("hash-64"), store).key("document"))
    t0 = time.perf_counter()
    for t in texts:  # one commit per text
        writer.add(text_keys([t]), hash_vectors([t], 64), 0.0, 1)
        writer.flush()
    write_s = time.perf_counter() - t0
    files = _space_files(cache)
    run = ["run", "--model", "hash-64", "--mode", "student", "--tasks", str(folder), "--store-format", "lance"]
    ref = _cli([*run, "--cache-dir", str(work / "ref"), "--output", str(work / "out-ref")])
    many = _cli([*run, "--cache-dir", str(cache), "--output", str(work / "out-many")], nofile)
    files_after = _space_files(cache)

    def score(out: str) -> float:
        return _ndcg(json.loads(next((work / out).rglob("fds.json")).read_text()))

    def encoded(out: str) -> int:
        lb = json.loads(next((work / out).rglob("fds.json")).read_text())["leafbench"]
        return int(lb["throughput"]["document"]["n_encoded_now"])

    data_files = sorted(p for p in (cache / "embeddings").rglob("*.lance") if p.parent.name == "data")
    victim = data_files[len(data_files) // 2]
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])  # truncated
    broken = _cli([*run, "--cache-dir", str(cache), "--output", str(work / "out-broken"), "--force"], nofile)
    verify = _cli(["cache", "verify", "--cache-dir", str(cache)], nofile)
    again = _cli([*run, "--cache-dir", str(cache), "--output", str(work / "out-again")], nofile)
    out = {
        "n_docs": n_docs,
        "commits": n_docs,
        "files_in_store": files,
        "write_seconds": write_s,
        "ulimit_n": nofile,
        "run_exit": many.returncode,
        "run_encoded": encoded("out-many") if many.returncode == 0 else None,
        "ndcg_at_10_many_files": score("out-many") if many.returncode == 0 else None,
        "ndcg_at_10_one_write": score("out-ref") if ref.returncode == 0 else None,
        "files_removed_by_run": files - files_after if files_after < files else 0,
        "truncated_file": victim.name,
        "broken_run_exit": broken.returncode,
        "broken_run_message": (broken.stderr.strip().splitlines() or [""])[-1][:300].replace(str(work), "<work>"),
        "verify_exit": verify.returncode,
        "verify_output": (verify.stdout + verify.stderr).strip()[-400:].replace(str(work), "<work>"),
        "rerun_exit": again.returncode,
        "rerun_encoded": encoded("out-again") if again.returncode == 0 else None,
        "ndcg_at_10_rerun": score("out-again") if again.returncode == 0 else None,
    }
    for name, proc in (("run", many), ("rerun", again)):
        if proc.returncode != 0:
            out[f"{name}_stderr"] = proc.stderr[-1500:]
    print("fds:", json.dumps(out, indent=1), flush=True)
    return out


def _numbers(obj: Any, path: str = "") -> dict[str, float]:
    """Every number in a nested result dict, by its path (to compare two results value by value)."""
    if isinstance(obj, dict):
        return {k: v for key, val in obj.items() for k, v in _numbers(val, f"{path}/{key}").items()}
    if isinstance(obj, list):
        return {k: v for i, val in enumerate(obj) for k, v in _numbers(val, f"{path}/{i}").items()}
    return {path: float(obj)} if isinstance(obj, (int, float)) and not isinstance(obj, bool) else {}


def part_cluster(work: Path, n_docs: int = 200_000, n_queries: int = 1000) -> dict:
    """A two-node Ray cluster on this machine (`ray.cluster_utils.Cluster`, 1 CPU each): `leafbench run --engine
    ray` against it vs the local engine on a synthetic corpus: every score equal to 1e-6, and where the search ran
    (Ray tasks on both nodes, recorded in the result's `scored_on`)."""
    import shutil

    from ray.cluster_utils import Cluster

    shutil.rmtree(work, ignore_errors=True)
    folder = work / "synthetic200k"
    write_synthetic_folder(folder, n_docs, n_queries, echo=True)
    os.environ["LEAFBENCH_STREAM_MIN_BYTES"] = "0"
    run = ["run", "--model", "hash-768", "--mode", "student", "--tasks", str(folder), "--store-format", "lance"]
    t0 = time.perf_counter()
    local = _cli([*run, "--cache-dir", str(work / "cache-local"), "--output", str(work / "out-local")])
    local_s = time.perf_counter() - t0
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        t0 = time.perf_counter()
        on_ray = _cli(
            [*run, "--engine", "ray", "--ray-address", cluster.address, "--workers", "2"]
            + ["--cache-dir", str(work / "cache-ray"), "--output", str(work / "out-ray")]
        )
        ray_s = time.perf_counter() - t0
    finally:
        cluster.shutdown()
    for name, proc in (("local", local), ("ray", on_ray)):
        if proc.returncode != 0:
            sys.exit(f"cluster: the {name} run failed:\n{proc.stderr[-3000:]}")
    a, b = (json.loads(next((work / o).rglob(f"{folder.name}.json")).read_text()) for o in ("out-local", "out-ray"))
    na, nb = _numbers(a["scores"]), _numbers(b["scores"])
    pa_, pb_ = _numbers(a["leafbench"]["per_query"]), _numbers(b["leafbench"]["per_query"])
    out = {
        "n_docs": n_docs,
        "n_queries": n_queries,
        "nodes": 2,
        "local_seconds": local_s,
        "ray_seconds": ray_s,
        "ndcg_at_10_local": _ndcg(a),
        "ndcg_at_10_ray": _ndcg(b),
        "scores_compared": len(na),
        "max_abs_diff_scores": max(abs(na[k] - nb[k]) for k in na) if na.keys() == nb.keys() else None,
        "max_abs_diff_per_query": max(abs(pa_[k] - pb_[k]) for k in pa_) if pa_.keys() == pb_.keys() else None,
        "scored_on": b["leafbench"].get("scored_on"),
        "docs_encoded_ray": b["leafbench"]["throughput"]["document"]["n_encoded_now"],
    }
    print("cluster:", json.dumps(out, indent=1), flush=True)
    return out


def part_s3(work: Path, data_dir: Path, kill_after: float = 600.0) -> dict:
    """`--cache-dir s3://bucket/prefix` on a local S3-compatible server (moto, started here): a SciFact subset
    (100 queries, 2,000 documents, minilm-l6) scores as on a local cache; a run killed (-9) right after its first
    commit reached the bucket, then rerun, encodes only what is missing."""
    import re
    import shutil

    import boto3
    from moto.server import ThreadedMotoServer

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    s3_env = {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",
    }
    os.environ.update(s3_env)
    boto3.client("s3", endpoint_url=s3_env["AWS_ENDPOINT_URL"]).create_bucket(Bucket="leafbench")
    run = ["run", "-m", "minilm-l6", "--tasks", "SciFact", "--data-dir", str(data_dir), "--max-queries", "100"]
    run += ["--max-docs", "2000"]

    def encoded(text: str) -> int:
        found = re.search(r"encoded ([\d,]+) texts now", " ".join(text.split()))
        return int(found.group(1).replace(",", "")) if found else -1

    try:
        local = _cli([*run, "--cache-dir", str(work / "local"), "--output", str(work / "out-local")])
        # killed mid-encoding: started, then SIGKILL after `kill_after` seconds
        cmd = [sys.executable, "-m", "leafbench.cli", *run, "--cache-dir", "s3://leafbench/x"]
        from leafbench.store.lance_store import LanceEmbeddingStore

        def stored() -> int:
            return sum(sp["rows"] for sp in LanceEmbeddingStore("s3://leafbench/x/embeddings").spaces())

        victim = subprocess.Popen(
            [*cmd, "--output", str(work / "out-killed")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        t0 = time.perf_counter()
        while victim.poll() is None and stored() == 0 and time.perf_counter() - t0 < kill_after:
            time.sleep(1.0)  # killed right after its first commit reaches the bucket
        killed_after = time.perf_counter() - t0
        killed_early = victim.poll() is not None
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        n_stored = stored()
        rerun = _cli([*run, "--cache-dir", "s3://leafbench/x", "--output", str(work / "out-s3")])
        again = _cli([*run, "--cache-dir", "s3://leafbench/x", "--output", str(work / "out-again")])
    finally:
        server.stop()
    for name, proc in (("local", local), ("rerun", rerun), ("again", again)):
        if proc.returncode != 0:
            sys.exit(f"s3: the {name} run failed:\n{proc.stderr[-3000:]}")
    a, b = (json.loads(next((work / o).rglob("SciFact.json")).read_text()) for o in ("out-local", "out-s3"))
    na, nb = _numbers(a["scores"]), _numbers(b["scores"])
    out = {
        "task": "SciFact 100 queries x 2,000 documents, minilm-l6",
        "texts": 2100,
        "killed_after_seconds": killed_after,
        "killed_run_had_finished": killed_early,
        "rows_stored_when_killed": n_stored,
        "rerun_encoded": encoded(rerun.stdout + rerun.stderr),
        "second_run_encoded": encoded(again.stdout + again.stderr),
        "local_encoded": encoded(local.stdout + local.stderr),
        "ndcg_at_10_local": _ndcg(a),
        "ndcg_at_10_s3": _ndcg(b),
        "max_abs_diff_scores": max(abs(na[k] - nb[k]) for k in na) if na.keys() == nb.keys() else None,
    }
    print("s3:", json.dumps(out, indent=1), flush=True)
    return out


INDEX_PROBE = """
import sys, time, numpy as np
from leafbench.store import EncodingKey, open_store
from leafbench.store import lance_space
if sys.argv[2] == "scan":
    lance_space.SAVE_INDEX_ROWS = 10**12  # never saved: every process scans the key column
key = EncodingKey(model_id="probe@1", side="document", prompt="", max_seq_length=None, precision="fp32")
store = open_store(sys.argv[1], "lance")
probe = np.load(sys.argv[1] + "/probe.npy")
t = time.perf_counter()
absent = store.absent(key, probe)
print(time.perf_counter() - t, int(absent.sum()))
"""


def part_index(work: Path, n_rows: int = 1_000_000, n_probe: int = 10_000, repeats: int = 3) -> dict:
    """The cost of a fresh process's first lookup of a 10k-text task in a space of 1M rows: scanning the key
    column (no saved index) vs memory-mapping the index saved beside the space; best of `repeats` each."""
    import shutil

    import numpy as np

    from leafbench.store import EncodingKey, open_store

    shutil.rmtree(work, ignore_errors=True)
    key = EncodingKey(model_id="probe@1", side="document", prompt="", max_seq_length=None, precision="fp32")
    store = open_store(work, "lance", shard_size=n_rows)
    writer = store.writer(key)
    rng = np.random.default_rng(0)
    keys = rng.integers(0, 256, size=(n_rows, 16), dtype=np.uint8)
    for s in range(0, n_rows, 250_000):
        writer.add(keys[s : s + 250_000], rng.standard_normal((len(keys[s : s + 250_000]), 8)).astype(np.float32))
    writer.flush()
    np.save(work / "probe.npy", keys[rng.choice(n_rows, n_probe, replace=False)])

    def probe(mode: str) -> float:
        out = subprocess.run([sys.executable, "-c", INDEX_PROBE, str(work), mode], capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(out.stderr[-2000:])
        seconds, absent = out.stdout.split()
        assert absent == "0"
        return float(seconds)

    index_dir = work / "spaces" / key.space() / "keyindex"
    shutil.rmtree(index_dir, ignore_errors=True)
    scan = min(probe("scan") for _ in range(repeats))
    probe("save")  # the first process scans and saves
    saved = min(probe("saved") for _ in range(repeats))
    out = {"rows_in_space": n_rows, "keys_looked_up": n_probe, "scan_seconds": scan, "saved_index_seconds": saved}
    print("index:", json.dumps(out), flush=True)
    shutil.rmtree(work, ignore_errors=True)
    return out


# ---------------------------------------------------------------------------------------------------- curve


def synthetic(n_docs: int, n_queries: int):
    """A corpus of `n_docs` short texts; query j is judged relevant to document j * (n_docs // n_queries)."""
    from leafbench.data import RetrievalData

    step = max(1, n_docs // n_queries)
    return RetrievalData(
        task_name="Synthetic",
        split="test",
        corpus_ids=[f"d{i}" for i in range(n_docs)],
        corpus_texts=[f"synthetic document {i} on topic {i % 997}" for i in range(n_docs)],
        query_ids=[f"q{j}" for j in range(n_queries)],
        query_texts=[f"what is in synthetic document {j * step}" for j in range(n_queries)],
        qrels={f"q{j}": {f"d{j * step}": 1} for j in range(n_queries)},
        source="synthetic",
    )


def one_size(n_docs: int, store_dir: Path, n_queries: int, repeats: int = 2) -> dict:
    """Runs in its own process, so each size's peak memory is its own."""
    from leafbench.encode import Encoder
    from leafbench.evaluate import evaluate_retrieval
    from leafbench.registry import resolve_model
    from leafbench.store import EmbeddingStore

    with AnonPeak() as total:
        data = synthetic(n_docs, n_queries)
        after_data = AnonPeak.now()
        store = EmbeddingStore(store_dir)
        enc = Encoder(resolve_model("hash-768"), store)
        t0 = time.perf_counter()
        enc.encode(data.corpus_texts, "document")
        t_encode = time.perf_counter() - t0
        n_new = store.n_encoded
        with AnonPeak() as ev:
            times = []
            for _ in range(repeats):  # best of `repeats`: this machine is shared, the minimum is the least disturbed
                t0 = time.perf_counter()
                run = evaluate_retrieval(data, {"student": enc}, ["student"], None, "scale", top_k=1000)
                times.append(time.perf_counter() - t0)
            t_eval = min(times)
    return {
        "n_docs": n_docs,
        "n_queries": n_queries,
        "docs_encoded_now": n_new,
        "encode_seconds": t_encode,
        "eval_seconds": t_eval,
        "eval_seconds_all": times,
        "eval_seconds_per_M_docs": t_eval / (n_docs / 1e6),
        "rss_anon_after_loading_texts_GB": after_data / 1e9,
        "peak_rss_anon_eval_GB": ev.peak / 1e9,
        "peak_rss_anon_process_GB": total.peak / 1e9,
        "vectors_GB": n_docs * 768 * 4 / 1e9,
        "ndcg_at_10": _ndcg(run.results["student"]),
    }


def part_curve(sizes: list[int], store_dir: Path, n_queries: int) -> dict:
    rows = []
    for n in sizes:
        proc = subprocess.run(
            [sys.executable, __file__, "--one-size", str(n), "--store", str(store_dir), "--queries", str(n_queries)],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            sys.exit(f"size {n} failed:\n{proc.stderr[-3000:]}")
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(
            f"curve: {n:>9,} docs ({row['vectors_GB']:.2f} GB of vectors): eval {row['eval_seconds']:.1f} s = "
            f"{row['eval_seconds_per_M_docs']:.1f} s per M docs; peak RssAnon eval {row['peak_rss_anon_eval_GB']:.2f} GB, "
            f"process {row['peak_rss_anon_process_GB']:.2f} GB (texts alone {row['rss_anon_after_loading_texts_GB']:.2f} GB); "
            f"encode {row['docs_encoded_now']:,} new docs in {row['encode_seconds']:.1f} s",
            flush=True,
        )
    per_m = [r["eval_seconds_per_M_docs"] for r in rows]
    mean = sum(per_m) / len(per_m)
    summary = {"sizes": rows, "s_per_M_docs_max_dev_from_mean": max(abs(p - mean) / mean for p in per_m)}
    print(
        f"curve: seconds per M docs within ±{summary['s_per_M_docs_max_dev_from_mean']:.0%} of their mean", flush=True
    )
    return summary


# ---------------------------------------------------------------------------------------------------- ray


def part_ray(data_dir: Path, n_docs: int = 2000) -> dict:
    import numpy as np
    import ray

    from leafbench.data import load_retrieval_parts
    from leafbench.encode import Encoder
    from leafbench.engine import make_engine
    from leafbench.evaluate import evaluate_retrieval
    from leafbench.registry import resolve_model
    from leafbench.store import EmbeddingStore

    sub = load_retrieval_parts("SciFact", data_dir)["default"].subset(100, n_docs)
    texts = {"query": sub.query_texts, "document": sub.corpus_texts}
    spec = resolve_model("minilm-l6")
    tmp = Path(tempfile.mkdtemp(prefix="scale-ray-"))
    t0 = time.perf_counter()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, configure_logging=False)
    t_init = time.perf_counter() - t0

    def encode_all(enc: Encoder) -> float:
        t = time.perf_counter()
        for side, tx in texts.items():
            enc.encode(tx, side)
        return time.perf_counter() - t

    # End to end on both sides: the local encoder loads its model inside the timing, as each Ray actor does.
    local = Encoder(spec, EmbeddingStore(tmp / "local"))
    t_local = encode_all(local)
    remote = Encoder(spec, EmbeddingStore(tmp / "ray"), engine=make_engine("ray", workers=2))
    t_ray = encode_all(remote)
    n = sum(map(len, texts.values()))
    nd_local = _ndcg(evaluate_retrieval(sub, {"student": local}, ["student"], None, "x").results["student"])
    nd_ray = _ndcg(evaluate_retrieval(sub, {"student": remote}, ["student"], None, "x").results["student"])
    cos = []
    for side, tx in texts.items():
        a, b = local.encode(tx, side).embeddings, remote.encode(tx, side).embeddings
        cos.append(float(((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)).min()))
    out = {
        "texts": n,
        "ray_init_seconds": t_init,
        "local_seconds": t_local,
        "ray_seconds": t_ray,
        "throughput_ratio_ray_over_local": t_local / t_ray,
        "ndcg_local": nd_local,
        "ndcg_ray": nd_ray,
        "min_rowwise_cosine": min(cos),
    }
    print(
        f"ray: {n} texts: local {t_local:.1f} s, ray (2 workers x 0.5 CPU) {t_ray:.1f} s -> throughput ratio "
        f"ray/local {out['throughput_ratio_ray_over_local']:.2f} (cluster start {t_init:.1f} s, not included); "
        f"nDCG@10 {nd_local:.5f} vs {nd_ray:.5f}; min row-wise cosine {min(cos):.7f}",
        flush=True,
    )

    # One worker killed (-9) while the documents are being encoded: the run completes with the same score.
    killed_store = EmbeddingStore(tmp / "killed")
    enc = Encoder(spec, killed_store, engine=make_engine("ray", workers=2, batch_size=64))
    done: dict = {}
    th = threading.Thread(target=lambda: done.setdefault("s", encode_all(enc)))
    th.start()
    shards = killed_store.space_dir(enc.key("document")) / "shards"
    while th.is_alive() and not (shards.exists() and list(shards.glob("*.json"))):
        time.sleep(0.2)
    pids = [int(p) for p in subprocess.run(["pgrep", "-f", "MapWorker"], capture_output=True, text=True).stdout.split()]
    if pids:
        os.kill(pids[0], signal.SIGKILL)
    th.join()
    nd_killed = _ndcg(evaluate_retrieval(sub, {"student": enc}, ["student"], None, "x").results["student"])
    out.update({"killed_worker_pid": pids[0] if pids else None, "ndcg_after_worker_kill": nd_killed})
    print(
        f"ray: worker {pids[0] if pids else '(none found)'} killed mid-encoding; run completed, nDCG@10 {nd_killed:.5f}",
        flush=True,
    )
    ray.shutdown()
    return out


# ---------------------------------------------------------------------------------------------------- kill

KILL_CHILD = """
import sys, time
from leafbench.data import load_retrieval_parts
from leafbench.encode import Encoder
from leafbench.registry import resolve_model
from leafbench.store import EmbeddingStore
docs = load_retrieval_parts("SciFact", sys.argv[2])["default"].corpus_texts
enc = Encoder(resolve_model("mpnet-base"), EmbeddingStore(sys.argv[1]))
enc.model
done = 0
t0 = time.perf_counter()
def tick(n):
    global done
    done += n
    print(f"{time.perf_counter() - t0:.2f} {done}", flush=True)
enc.encode(docs, "document", progress=tick)
"""


def part_kill(data_dir: Path, kill_after: float) -> dict:
    from leafbench.data import load_retrieval_parts
    from leafbench.encode import Encoder
    from leafbench.registry import resolve_model
    from leafbench.store import EmbeddingStore

    tmp = Path(tempfile.mkdtemp(prefix="scale-kill-"))
    child = tmp / "child.py"
    child.write_text(KILL_CHILD)
    proc = subprocess.Popen(
        [sys.executable, str(child), str(tmp / "store"), str(data_dir)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    last, first_t = (0.0, 0), None
    t_start = time.monotonic()
    for line in proc.stdout:
        t, n = line.split()
        last = (float(t), int(n))
        if first_t is None and last[1] > 0:
            first_t = time.monotonic()  # the first batch: the model is loaded and the store's first reads done
        if first_t is not None and time.monotonic() - first_t >= kill_after:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    docs = load_retrieval_parts("SciFact", data_dir)["default"].corpus_texts
    store = EmbeddingStore(tmp / "store")
    committed = len(docs) - len(store.missing(Encoder(resolve_model("mpnet-base"), store).key("document"), docs))
    encoded, seconds = last[1], last[0]
    rate = encoded / seconds if seconds else float("nan")
    lost = encoded - committed
    out = {
        "kill_after_seconds": kill_after,
        "encoded_before_kill": encoded,
        "committed": committed,
        "reencoded_on_resume": lost,
        "rate_texts_per_s": rate,
        "lost_seconds_of_encoding": lost / rate if rate else None,
        "wall_seconds": time.monotonic() - t_start,
    }
    print(
        f"kill: mpnet-base encoded {encoded} SciFact documents in {seconds:.0f} s, killed -9; {committed} committed, "
        f"{lost} to re-encode on resume = {out['lost_seconds_of_encoding']:.1f} s of encoding at {rate:.2f} texts/s",
        flush=True,
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", default="reuse,curve,ray,kill")
    ap.add_argument("--sizes", default="250000,500000,1000000,2000000")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--store", type=Path, default=Path(tempfile.gettempdir()) / "leafbench-scale-store")
    ap.add_argument("--warm-cache", type=Path, help="cache dir whose store already holds full SciFact (minilm-l6)")
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--kill-after", type=float, default=300.0)
    ap.add_argument("--run-sizes", default="1000000,4000000,8800000", help="document counts of the `run` part")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "leafbench-scale-run")
    ap.add_argument("--engine", default="local", help="engine of the `run` part (local or ray)")
    ap.add_argument("--no-warm", action="store_true", help="the `run` part without its second (warm) run per size")
    ap.add_argument("--one-size", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one_size:
        print(json.dumps(one_size(args.one_size, args.store, args.queries)))
        return
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for part in args.parts.split(","):
        t0 = time.perf_counter()
        if part == "reuse":
            results[part] = part_reuse(args.data_dir, args.warm_cache)
        elif part == "curve":
            results[part] = part_curve([int(s) for s in args.sizes.split(",")], args.store, args.queries)
        elif part == "ray":
            results[part] = part_ray(args.data_dir)
        elif part == "index":
            results[part] = part_index(args.work / "index")
        elif part == "s3":
            results[part] = part_s3(args.work / "s3", args.data_dir)
        elif part == "cluster":
            results[part] = part_cluster(args.work / "cluster")
        elif part == "fds":
            results[part] = part_fds(args.work / "fds")
        elif part == "run":
            key = "run" if args.engine == "local" else f"run-{args.engine}"
            sizes = [int(s) for s in args.run_sizes.split(",")]
            results[key] = part_run(sizes, args.work, args.queries, args.engine, warm=not args.no_warm)
            part = key
        elif part == "kill":
            results[part] = part_kill(args.data_dir, args.kill_after)
        else:
            sys.exit(f"unknown part {part!r}")
        results[part]["benchmark_seconds"] = time.perf_counter() - t0
        # the command without --work: a scratch folder of this machine, not part of what was measured
        argv = [a for i, a in enumerate(sys.argv[1:]) if a != "--work" and (i == 0 or sys.argv[i] != "--work")]
        results[part]["command"] = " ".join(["benchmarks/scale.py", *argv])
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
