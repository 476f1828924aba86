"""Lance vs Parquet (pyarrow.dataset) for the embedding store's access pattern, measured in one run.

The store keeps one float32 row per (encoding space, 16-byte blake2b key of the text). Each format holds one space as
one dataset with two columns, ``key`` (fixed_size_binary(16)) and ``vector`` (fixed_size_list<float32>[dim]),
uncompressed (random floats do not compress; Parquet: no dictionary, no statistics). Rows are random float32
vectors and random 16-byte keys. Measured per format:

  1. write: --rows rows appended in --batch-row commits (as Ray actors commit) by ONE writer process, then by TWO
     writer processes appending to the same (new) dataset at once; rows/s over the wall time from a common start
     (data generated before the start), per-commit latency p50/p99/max, errors, and a check that every key and
     every vector arrived (row count, sorted keys equal to the keys written, sum of all vectors).
     Lance: `lance.write_dataset(table, uri, mode="append")` per commit (an optimistic-concurrency commit of a new
     fragment). Lance again with two writers, each writing its data once (`lance.fragment.write_fragments`) and
     committing it with `LanceDataset.commit(Append)`, committed again on a commit conflict (Lance's own loop gives
     up after 20 rebases): how many re-commits, and that nothing is lost. Parquet: one file per commit, written
     under a hidden name and renamed into the folder.
  2. files (and bytes) in the dataset folder after the one-writer commits, and after compaction, with its time.
     Lance: `dataset.optimize.compact_files()` then `cleanup_old_versions(older_than=0)`. Parquet: the listed
     files rewritten by `pyarrow.dataset.write_dataset` (files of <= 1,048,576 rows, row groups of 65,536) into a
     hidden staging folder, the new files renamed in and the listed ones deleted (a reader in between sees both).
  3.-6. reads, in a fresh process per format and state (as committed = "fragmented", and "compacted"):
     open time; key lookup (read the key column of the whole space, argsort into a key -> position index, look
     up --take keys with numpy searchsorted); random take of --take rows at random positions (Lance
     `dataset.take(positions, columns=["vector"])`; Parquet both `Dataset.take` and a row-group reader that maps
     positions to (file, row group) from the footers and reads only the row groups hit) with its time and the
     peak RSS growth (VmHWM reset through /proc/self/clear_refs); a sequential scan of the vector column in
     blocks of --block rows (rows/s, MB/s of vector data). Take and scan run cold (the dataset's pages dropped
     from the page cache with posix_fadvise DONTNEED first; the hypervisor may still cache) and then warm.
     Open file descriptors (/proc/self/fd) are counted before and after opening, and sampled every ms during the
     key read, the take and the scan (maximum reported).

Every take of the same positions must return the same rows in every format and state (checksums compared).

Writes benchmarks/results/store_formats.json (figures, versions, machine, command) and prints a summary.
Works in a temporary folder (--tmp, default under /tmp) deleted at the end.

Usage: .venv/bin/python benchmarks/store_formats.py [--rows 1000000] [--dim 384] [--batch 512] [--take 100000]
       [--block 16384] [--formats lance,parquet] [--tmp /tmp] [--no-publish]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pds
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "store_formats.json"
KEY_BYTES = 16
PARQUET_FILE_ROWS = 1 << 20
PARQUET_GROUP_ROWS = 1 << 16
LANCE_APP_RETRIES = 10


# ---------------------------------------------------------------- data and tables


def schema(dim: int) -> pa.Schema:
    return pa.schema(
        [
            pa.field("key", pa.binary(KEY_BYTES), nullable=False),
            pa.field("vector", pa.list_(pa.float32(), dim), nullable=False),
        ]
    )


def rows_for(seed: int, rows: int, dim: int, keys_only: bool = False) -> tuple[bytes, np.ndarray | None]:
    """A writer's rows: keys first, then vectors, from one seed (the checker regenerates the keys alone)."""
    rng = np.random.default_rng(seed)
    keys = rng.bytes(KEY_BYTES * rows)
    return keys, None if keys_only else rng.random((rows, dim), dtype=np.float32)


def table(keys: bytes, vectors: np.ndarray, sch: pa.Schema) -> pa.Table:
    n, dim = vectors.shape
    k = pa.FixedSizeBinaryArray.from_buffers(pa.binary(KEY_BYTES), n, [None, pa.py_buffer(keys)])
    v = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), dim)
    return pa.Table.from_arrays([k, v], schema=sch)


def key_array(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A fixed_size_binary(16) column as a numpy S16 array (fixed length, so S16 order is byte order)."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if len(arr) == 0:
        return np.empty(0, dtype=f"S{KEY_BYTES}")
    return np.frombuffer(arr.buffers()[1], dtype=f"S{KEY_BYTES}", count=len(arr), offset=arr.offset * KEY_BYTES)


def vector_array(col: pa.ChunkedArray | pa.Array, dim: int) -> np.ndarray:
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    return arr.flatten().to_numpy(zero_copy_only=False).reshape(-1, dim)


# ---------------------------------------------------------------- process probes


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class FdPeak:
    """Maximum number of open fds of this process while the block runs, sampled every `every` seconds."""

    def __init__(self, every: float = 0.001) -> None:
        self.every, self.peak, self._stop = every, 0, threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, fd_count() - 1)  # listdir's own fd
            except OSError:
                pass
            time.sleep(self.every)

    def __enter__(self) -> FdPeak:
        self.peak = fd_count()
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, fd_count())


def drop_cache(path: Path) -> None:
    """Ask the kernel to drop the dataset's pages from the page cache (clean pages; no root needed)."""
    for f in path.rglob("*"):
        if f.is_file():
            fd = os.open(f, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def folder_stats(path: Path) -> dict:
    files = [f for f in path.rglob("*") if f.is_file()]
    return {"files": len(files), "bytes": sum(f.stat().st_size for f in files)}


# ---------------------------------------------------------------- writers


def _commit_lance(uri: str, tb: pa.Table) -> None:
    import lance

    lance.write_dataset(tb, uri, mode="append")


class LanceRetryingCommitter:
    """`write_fragments` (the data file), then `LanceDataset.commit(Append)` from the last version this writer saw,
    committed again on a commit conflict (Lance's own rebase loop gives up after 20 conflicts), at most
    LANCE_APP_RETRIES times: what a store writer does to lose nothing under contention."""

    def __init__(self, uri: str) -> None:
        import lance

        self.version, self.retries = lance.dataset(uri).version, 0

    def __call__(self, uri: str, tb: pa.Table) -> None:
        import lance

        frags = lance.fragment.write_fragments(tb, uri)
        for attempt in range(LANCE_APP_RETRIES + 1):
            try:
                self.version = lance.LanceDataset.commit(
                    uri, lance.LanceOperation.Append(frags), read_version=self.version
                ).version
                return
            except OSError as e:
                if "conflict" not in str(e).lower() or attempt == LANCE_APP_RETRIES:
                    raise
                self.retries += 1
                self.version = lance.dataset(uri).version


def _commit_parquet(folder: str, tb: pa.Table) -> None:
    name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}.parquet"
    tmp = os.path.join(folder, "." + name)
    pq.write_table(tb, tmp, compression="none", use_dictionary=False, write_statistics=False)
    os.replace(tmp, os.path.join(folder, name))


def _writer(method: str, uri: str, seed: int, rows: int, dim: int, batch: int, start, queue) -> None:
    """One writer process: generate its rows, wait for the common start, commit them in batches.
    `method`: lance (`write_dataset(mode="append")` per commit), lance-retry (LanceRetryingCommitter), parquet."""
    if method.startswith("lance"):
        import lance  # noqa: F401 (imported before the start, as a long-lived actor would have)
    keys, vectors = rows_for(seed, rows, dim)
    sch = schema(dim)
    queue.put(("ready", os.getpid()))
    start.wait()
    commit = {"lance": _commit_lance, "parquet": _commit_parquet}.get(method) or LanceRetryingCommitter(uri)
    lat, errors = [], []
    t0 = time.monotonic()
    for a in range(0, rows, batch):
        b = min(a + batch, rows)
        tb = table(keys[a * KEY_BYTES : b * KEY_BYTES], vectors[a:b], sch)
        t = time.perf_counter()
        try:
            commit(uri, tb)
        except Exception as e:  # noqa: BLE001 (counted and reported: a lost commit is a finding)
            # Lance appends the Rust source location of the error (a path on its build machine): drop it.
            msg = re.sub(r",\s*/\S+\.rs:\d+:\d+", "", str(e))
            errors.append(f"rows {a}-{b}: {type(e).__name__}: {msg}"[:300])
        lat.append(time.perf_counter() - t)
    t1 = time.monotonic()
    queue.put(
        (
            "done",
            {
                "pid": os.getpid(),
                "rows": rows,
                "commits": len(lat),
                "start": t0,
                "end": t1,
                "latency_s": lat,
                "errors": errors,
                "vector_sum": float(vectors.sum(dtype=np.float64)),
                "app_retries": getattr(commit, "retries", None),
            },
        )
    )


def create_empty(fmt: str, path: Path, dim: int) -> None:
    if fmt == "lance":
        import lance

        lance.write_dataset(schema(dim).empty_table(), str(path), schema=schema(dim))
    else:
        path.mkdir(parents=True)


def open_dataset(fmt: str, path: Path):
    if fmt == "lance":
        import lance

        return lance.dataset(str(path))
    return pds.dataset(str(path), format="parquet")


def _pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q))


def write_run(method: str, path: Path, writers: int, rows: int, dim: int, batch: int, seed0: int) -> dict:
    """`writers` processes append `rows` rows in total to a new dataset at `path`; checked for lost rows after."""
    fmt = method.split("-")[0]
    create_empty(fmt, path, dim)
    ctx = mp.get_context("spawn")
    start, queue = ctx.Event(), ctx.Queue()
    share = [rows // writers + (i < rows % writers) for i in range(writers)]
    seeds = [seed0 + i for i in range(writers)]
    procs = [
        ctx.Process(target=_writer, args=(method, str(path), s, n, dim, batch, start, queue))
        for s, n in zip(seeds, share)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        assert queue.get()[0] == "ready"
    start.set()
    done = [queue.get()[1] for _ in procs]
    for p in procs:
        p.join()
    wall = max(d["end"] for d in done) - min(d["start"] for d in done)
    lat = [x for d in done for x in d["latency_s"]]
    errors = [e for d in done for e in d["errors"]]
    # Check: every key written is there exactly once, and the vectors add up.
    ds = open_dataset(fmt, path)
    got = np.sort(key_array(ds.to_table(columns=["key"]).column("key")))
    want = np.sort(
        np.concatenate(
            [_key_array_from_buffer(rows_for(s, n, dim, keys_only=True)[0], n) for s, n in zip(seeds, share)]
        )
    )
    vsum = 0.0
    for bt in ds.to_batches(columns=["vector"], batch_size=65536):
        vsum += float(vector_array(bt.column(0), dim).sum(dtype=np.float64))
    want_sum = sum(d["vector_sum"] for d in done)
    out = {
        "writers": writers,
        "rows": rows,
        "commits": len(lat),
        "wall_s": wall,
        "rows_per_s": rows / wall,
        "commit_latency_ms": {"p50": 1e3 * _pct(lat, 50), "p99": 1e3 * _pct(lat, 99), "max": 1e3 * max(lat)},
        "commit_latency_ms_first_vs_last_100": [1e3 * float(np.mean(lat[:100])), 1e3 * float(np.mean(lat[-100:]))]
        if writers == 1
        else None,
        "method": method,
        "errors": len(errors),
        "error_samples": errors[:5],
        "app_retries": None if method != "lance-retry" else sum(d["app_retries"] for d in done),
        "rows_read_back": int(len(got)),
        "rows_lost": int(len(np.setdiff1d(want, got))),
        "rows_duplicated": int(len(got) - len(np.unique(got))),
        "keys_equal": bool(len(got) == len(want) and np.array_equal(got, want)),
        "vector_sum_matches": bool(abs(vsum - want_sum) <= 1e-9 * abs(want_sum)),
        **folder_stats(path),
    }
    if fmt == "lance":
        out["lance_version_after"] = ds.version
        out["fragments"] = len(ds.get_fragments())
        out["lance_data_storage_version"] = ds.data_storage_version
    return out


# ---------------------------------------------------------------- compaction


def _key_array_from_buffer(buf: pa.Buffer, n: int) -> np.ndarray:
    return np.frombuffer(buf, dtype=f"S{KEY_BYTES}", count=n)


def compact(fmt: str, path: Path) -> dict:
    before = folder_stats(path)
    if fmt == "lance":
        ds = open_dataset(fmt, path)
        t = time.perf_counter()
        metrics = ds.optimize.compact_files()
        t_compact = time.perf_counter() - t
        mid = folder_stats(path)
        t = time.perf_counter()
        cleanup = ds.cleanup_old_versions(older_than=timedelta(seconds=0))
        t_clean = time.perf_counter() - t
        ds = open_dataset(fmt, path)
        extra = {
            "fragments_after": len(ds.get_fragments()),
            "files_after_compact_before_cleanup": mid["files"],
            "cleanup_s": t_clean,
            "old_versions_removed": getattr(cleanup, "old_versions", None),
            "metrics": {
                k: getattr(metrics, k) for k in ("fragments_removed", "fragments_added", "files_removed", "files_added")
            },
        }
    else:
        t = time.perf_counter()
        old = sorted(f for f in path.iterdir() if f.is_file() and not f.name.startswith((".", "_")))
        staging = path / f"_compact-{uuid.uuid4().hex[:8]}"
        src = pds.dataset([str(f) for f in old], format="parquet")
        opts = pds.ParquetFileFormat().make_write_options(
            compression="none", use_dictionary=False, write_statistics=False
        )
        pds.write_dataset(
            src,
            str(staging),
            format="parquet",
            file_options=opts,
            max_rows_per_file=PARQUET_FILE_ROWS,
            max_rows_per_group=PARQUET_GROUP_ROWS,
            min_rows_per_group=PARQUET_GROUP_ROWS,
            basename_template=f"{time.time_ns():020d}-compact-{{i}}.parquet",
            preserve_order=True,
        )
        for f in sorted(staging.iterdir()):
            os.replace(f, path / f.name)
        staging.rmdir()
        for f in old:
            f.unlink()
        t_compact = time.perf_counter() - t
        t_clean = 0.0
        ds = open_dataset(fmt, path)
        extra = {"files_rewritten": len(old), "fragments_after": len(ds.files)}
    after = folder_stats(path)
    return {
        "files_before": before["files"],
        "bytes_before": before["bytes"],
        "compact_s": t_compact,
        "total_s": t_compact + t_clean,
        "files_after": after["files"],
        "bytes_after": after["bytes"],
        **extra,
    }


# ---------------------------------------------------------------- reads (in a fresh process)


def _parquet_units(ds: pds.FileSystemDataset) -> tuple[list, np.ndarray]:
    """(file path, metadata, row group) per row group in dataset order, and the first position of each."""
    units, starts, pos = [], [], 0
    for frag in ds.get_fragments():
        md = frag.metadata
        for g in range(md.num_row_groups):
            units.append((frag.path, md, g))
            starts.append(pos)
            pos += md.row_group(g).num_rows
    return units, np.asarray(starts, dtype=np.int64)


def parquet_take_row_groups(units: list, starts: np.ndarray, positions: np.ndarray, dim: int) -> np.ndarray:
    """Rows at `positions` (in that order), reading only the row groups that hold them, one file open at a time."""
    unit = np.searchsorted(starts, positions, side="right") - 1
    order = np.argsort(unit, kind="stable")
    u_sorted = unit[order]
    cuts = np.flatnonzero(np.diff(u_sorted)) + 1
    out = np.empty((len(positions), dim), dtype=np.float32)
    pf, pf_path = None, None
    for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(order)]):
        path, md, g = units[u_sorted[a]]
        if path != pf_path:
            if pf is not None:
                pf.close()
            pf, pf_path = pq.ParquetFile(path, metadata=md), path
        block = vector_array(pf.read_row_group(g, columns=["vector"]).column(0), dim)
        idx = order[a:b]
        out[idx] = block[positions[idx] - starts[u_sorted[a]]]
    if pf is not None:
        pf.close()
    return out


def _measure(fn, path: Path | None = None) -> dict:
    """Run fn with fd sampling and peak-RSS reset; drop the page cache of `path` first if given."""
    if path is not None:
        drop_cache(path)
    rss0 = status_kb("VmRSS")
    reset_ok = reset_peak_rss()
    with FdPeak() as fds:
        t = time.perf_counter()
        value = fn()
        dt = time.perf_counter() - t
    return {
        "s": dt,
        "fds_max": fds.peak,
        "peak_rss_growth_mb": (status_kb("VmHWM") - rss0) / 1024 if reset_ok else None,
        "value": value,
    }


TAKERS = {"lance": ("lance_take",), "parquet": ("parquet_row_groups", "parquet_dataset_take")}


def read_child(fmt: str, path: Path, op: str, rows: int, dim: int, take: int, block: int, seed: int) -> dict:
    """One read measurement (`op`: keys, scan or a taker of TAKERS) of one dataset state, in a fresh process, so
    that its peak RSS is its own (Arrow's memory pool keeps what an earlier read freed). Cold first, then warm."""
    if fmt == "lance":
        import lance  # noqa: F401
    positions = np.random.default_rng(seed).integers(0, rows, size=take, dtype=np.int64)
    out: dict = {"fds_before_open": fd_count()}
    drop_cache(path)
    t = time.perf_counter()
    ds = open_dataset(fmt, path)
    if op == "parquet_row_groups":
        units, starts = _parquet_units(ds)  # footers: the row-group map this reader needs
    out["open_s"] = time.perf_counter() - t
    out["fds_after_open"] = fd_count()
    if op == "keys":
        # 3. key lookup: key column -> sorted index -> searchsorted of `take` keys drawn from the space.
        m = _measure(lambda: key_array(ds.to_table(columns=["key"]).column("key")), path)
        keys = m.pop("value")
        assert len(keys) == rows, (len(keys), rows)
        t = time.perf_counter()
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        m["build_index_s"] = time.perf_counter() - t
        wanted = keys[positions]
        t = time.perf_counter()
        found = order[np.searchsorted(sorted_keys, wanted)]
        m["lookup_s"] = time.perf_counter() - t
        assert np.array_equal(keys[found], wanted)
        out["cold"] = m
    elif op == "scan":
        # 5. sequential scan of the vector column in blocks.
        def scan():
            seen, nb = 0, 0
            for bt in ds.to_batches(columns=["vector"], batch_size=block):
                seen += len(vector_array(bt.column(0), dim))
                nb += 1
            return seen, nb

        for temp in ("cold", "warm"):
            m = _measure(scan, path if temp == "cold" else None)
            seen, m["batches"] = m.pop("value")
            assert seen == rows, (seen, rows)
            m["rows_per_s"] = rows / m["s"]
            m["mb_per_s"] = rows * dim * 4 / 1e6 / m["s"]
            out[temp] = m
    else:
        # 4. random take of `take` rows at random positions, returned in the order asked.
        idx = pa.array(positions)
        fn = {
            "lance_take": lambda: vector_array(ds.take(idx, columns=["vector"]).column("vector"), dim),
            "parquet_dataset_take": lambda: vector_array(ds.take(idx, columns=["vector"]).column("vector"), dim),
            "parquet_row_groups": lambda: parquet_take_row_groups(units, starts, positions, dim),
        }[op]
        for temp in ("cold", "warm"):
            m = _measure(fn, path if temp == "cold" else None)
            v = m.pop("value")
            assert v.shape == (take, dim)
            m["checksum"] = float(v.sum(dtype=np.float64))
            m["rows_per_s"] = take / m["s"]
            del v
            out[temp] = m
    out["fds_end"] = fd_count()
    return out


def run_reads(fmt: str, path: Path, args: argparse.Namespace) -> dict:
    out = {}
    for op in ("keys", *TAKERS[fmt], "scan"):
        cmd = [sys.executable, __file__, "--read-child", fmt, str(path), op]
        cmd += ["--rows", str(args.rows), "--dim", str(args.dim), "--take", str(args.take), "--block", str(args.block)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"read child {op} failed for {fmt} {path}:\n{proc.stderr[-3000:]}")
        out[op] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


# ---------------------------------------------------------------- driver


def versions() -> dict:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for p in ("pylance", "pyarrow", "numpy"):
        try:
            out[p] = md.version(p)
        except md.PackageNotFoundError:
            out[p] = None
    return out


def machine(tmp: Path) -> dict:
    mem = next(
        (int(x.split()[1]) for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal")), 0
    )
    cpu = next(
        (x.split(":", 1)[1].strip() for x in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in x), ""
    )
    fs = subprocess.run(["df", "-T", str(tmp)], capture_output=True, text=True).stdout.splitlines()[-1].split()
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "mem_gb": round(mem / 1024**2, 1),
        "kernel": platform.release(),
        "tmp_fs": fs[1] if len(fs) > 1 else None,
    }


def ratios(res: dict) -> dict:
    """Lance / Parquet for the headline figures (Parquet take: the row-group reader)."""
    lz, pq_ = res["lance"], res["parquet"]

    def r(a: float, b: float) -> float | None:
        return a / b if b else None

    out = {
        "write_1_rows_per_s": r(lz["write_1"]["rows_per_s"], pq_["write_1"]["rows_per_s"]),
        "write_2_rows_per_s": r(lz["write_2"]["rows_per_s"], pq_["write_2"]["rows_per_s"]),
        "write_2_retry_rows_per_s": r(lz["write_2_retry"]["rows_per_s"], pq_["write_2"]["rows_per_s"]),
        "files_after_commits": r(lz["write_1"]["files"], pq_["write_1"]["files"]),
        "compact_s": r(lz["compact"]["total_s"], pq_["compact"]["total_s"]),
    }
    for state in ("fragmented", "compacted"):
        a, b = lz["read"][state], pq_["read"][state]
        out[f"{state}_read_keys_s"] = r(a["keys"]["cold"]["s"], b["keys"]["cold"]["s"])
        out[f"{state}_take_cold_peak_rss"] = r(
            a["lance_take"]["cold"]["peak_rss_growth_mb"] or 0,
            b["parquet_row_groups"]["cold"]["peak_rss_growth_mb"] or 0,
        )
        for temp in ("cold", "warm"):
            out[f"{state}_take_{temp}_s"] = r(a["lance_take"][temp]["s"], b["parquet_row_groups"][temp]["s"])
            out[f"{state}_scan_{temp}_rows_per_s"] = r(a["scan"][temp]["rows_per_s"], b["scan"][temp]["rows_per_s"])
    return out


def summary(res: dict) -> None:
    for fmt in TAKERS:
        if fmt not in res:
            continue
        r = res[fmt]
        w1, w2, c = r["write_1"], r["write_2"], r["compact"]
        print(
            f"{fmt}: write 1 writer {w1['rows_per_s']:,.0f} rows/s ({w1['commits']} commits, p99 "
            f"{w1['commit_latency_ms']['p99']:.1f} ms), 2 writers {w2['rows_per_s']:,.0f} rows/s, errors "
            f"{w1['errors']}/{w2['errors']}, lost {w1['rows_lost']}/{w2['rows_lost']}; files {c['files_before']} -> "
            f"{c['files_after']} (compaction {c['total_s']:.1f} s)"
        )
        if "write_2_retry" in r:
            w = r["write_2_retry"]
            print(
                f"  2 writers, commit retried on conflict: {w['rows_per_s']:,.0f} rows/s, {w['app_retries']} retries, "
                f"errors {w['errors']}, lost {w['rows_lost']}, p99 {w['commit_latency_ms']['p99']:.1f} ms"
            )
        for state, rd in r["read"].items():
            take = "; ".join(
                f"{k} {rd[k]['cold']['s']:.2f}/{rd[k]['warm']['s']:.2f} s +{rd[k]['cold']['peak_rss_growth_mb']:.0f} MB "
                f"fds {rd[k]['fds_after_open']}/{rd[k]['cold']['fds_max']}"
                for k in TAKERS[fmt]
            )
            k, sc = rd["keys"], rd["scan"]
            print(
                f"  {state}: open {k['open_s']:.3f} s, fds {k['fds_before_open']}->{k['fds_after_open']}; keys "
                f"{k['cold']['s']:.2f} s (fds {k['cold']['fds_max']}); take cold/warm {take}; scan cold/warm "
                f"{sc['cold']['mb_per_s']:,.0f}/{sc['warm']['mb_per_s']:,.0f} MB/s fds {sc['cold']['fds_max']}"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--batch", type=int, default=512, help="rows per commit")
    ap.add_argument("--take", type=int, default=100_000, help="random rows per take, keys per lookup")
    ap.add_argument("--block", type=int, default=16_384, help="rows per block of the scan")
    ap.add_argument("--formats", default="lance,parquet")
    ap.add_argument("--tmp", type=Path, default=Path(tempfile.gettempdir()))
    ap.add_argument("--no-publish", action="store_true", help="print only; do not write the results JSON")
    ap.add_argument("--read-child", nargs=3, metavar=("FORMAT", "PATH", "OP"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.read_child:
        fmt, path, op = args.read_child
        print(json.dumps(read_child(fmt, Path(path), op, args.rows, args.dim, args.take, args.block, seed=7)))
        return
    t_all = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="leafbench-store-formats-", dir=args.tmp))
    res: dict = {}
    try:
        for fmt in args.formats.split(","):
            r: dict = {}
            print(f"{fmt}: one writer ...", flush=True)
            r["write_1"] = write_run(fmt, work / f"{fmt}-1", 1, args.rows, args.dim, args.batch, seed0=1)
            print(f"{fmt}: two writers ...", flush=True)
            r["write_2"] = write_run(fmt, work / f"{fmt}-2", 2, args.rows, args.dim, args.batch, seed0=1)
            shutil.rmtree(work / f"{fmt}-2")
            if fmt == "lance":
                print(f"{fmt}: two writers, commits retried on conflict ...", flush=True)
                r["write_2_retry"] = write_run("lance-retry", work / f"{fmt}-2r", 2, args.rows, args.dim, args.batch, 1)
                shutil.rmtree(work / f"{fmt}-2r")
            print(f"{fmt}: reads (as committed) ...", flush=True)
            r["read"] = {"fragmented": run_reads(fmt, work / f"{fmt}-1", args)}
            print(f"{fmt}: compaction ...", flush=True)
            r["compact"] = compact(fmt, work / f"{fmt}-1")
            print(f"{fmt}: reads (compacted) ...", flush=True)
            r["read"]["compacted"] = run_reads(fmt, work / f"{fmt}-1", args)
            shutil.rmtree(work / f"{fmt}-1")
            res[fmt] = r
    finally:
        shutil.rmtree(work, ignore_errors=True)
    sums = {
        f"{fmt}/{state}/{name}/{temp}": rd[name][temp]["checksum"]
        for fmt, r in res.items()
        for state, rd in r["read"].items()
        for name in TAKERS[fmt]
        for temp in ("cold", "warm")
    }
    record = {
        "params": {k: getattr(args, k) for k in ("rows", "dim", "batch", "take", "block", "formats")},
        "parquet_layout": {
            "compacted_max_rows_per_file": PARQUET_FILE_ROWS,
            "compacted_row_group_rows": PARQUET_GROUP_ROWS,
        },
        "vector_gb": args.rows * args.dim * 4 / 1e9,
        **res,
        "takes_return_same_rows": len(set(sums.values())) == 1,
        "benchmark_seconds": time.perf_counter() - t_all,
        "versions": versions(),
        "machine": machine(args.tmp),
        "command": " ".join([".venv/bin/python", "benchmarks/store_formats.py", *sys.argv[1:]]),
    }
    if "lance" in res and "parquet" in res:
        record["ratios_lance_over_parquet"] = ratios(res)
    summary(record)
    print(
        f"takes return the same rows everywhere: {record['takes_return_same_rows']}; {record['benchmark_seconds']:.0f} s"
    )
    if not args.no_publish:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
