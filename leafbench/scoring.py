"""Score one (dim, dtype) cell by streaming the corpus: exact top-k without the whole corpus in memory.

The document side arrives as stored rows (memory-mapped shards, `leafbench.store.StoredRows`) or any array;
each block is truncated, turned into the search vectors of the cell's kind (`cells.kinds`) and scored on its
own, and per-query top-k lists are merged as blocks pass (`search.stream_topk`). What needs the whole corpus —
int8 calibration ranges, mteb's per-side min/max — is one extra streaming pass of min/max. Rescoring of binary
candidates reads only the candidate rows. The numbers are those of the in-memory references in
tests/oracles.py (whole matrices, packed bits), which tests/test_scoring.py pins.

An `Executor` (Ray workers: `leafbench.ray_scoring.RayScorer`) runs the passes over the rows elsewhere: each
worker reads its own rows from the store and sends back per-dimension min/max or [queries, k] lists, merged here
as the blocks' lists are (`search.merge_topk`). `score_cells` scores several cells in one read of the rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from .cells import CALIBRATIONS, Cell, CellError, Kind, load_ranges, truncate
from .search import FaissTopK, TopK, normalize_rows

SEARCH_BACKENDS = ("torch", "faiss")

# Documents per block: one [query_chunk, block] score matrix and a few [block, dim] copies live at a time
# (~0.3 GB at 768-d and 1,024 queries), whatever the corpus size.
BLOCK = 16384


class Rows(Protocol):
    """What scoring needs from a document side: its shape, blocks in order, and rows by position."""

    shape: tuple[int, int]

    def chunks(self, size: int) -> Iterator[tuple[int, np.ndarray]]: ...

    def take(self, positions: np.ndarray) -> np.ndarray: ...


class ArrayRows:
    """An in-memory matrix seen as `Rows`."""

    def __init__(self, a: np.ndarray) -> None:
        self.a = a
        self.shape = a.shape

    def chunks(self, size: int) -> Iterator[tuple[int, np.ndarray]]:
        for s in range(0, self.shape[0], size):
            yield s, np.asarray(self.a[s : s + size], dtype=np.float32)

    def take(self, positions: np.ndarray) -> np.ndarray:
        return np.asarray(self.a[positions], dtype=np.float32)


def as_rows(docs: Any) -> Rows:
    return docs if hasattr(docs, "chunks") and hasattr(docs, "take") else ArrayRows(np.asarray(docs))


def column_minmax(docs: Rows, f: Callable[[np.ndarray], np.ndarray], block: int) -> np.ndarray:
    """[2, dim] per-dimension min and max of f(rows) over the whole side, one block at a time."""
    lo = hi = None
    for _, b in docs.chunks(block):
        x = f(b)
        lo = x.min(axis=0) if lo is None else np.minimum(lo, x.min(axis=0))
        hi = x.max(axis=0) if hi is None else np.maximum(hi, x.max(axis=0))
    assert lo is not None and hi is not None, "no documents"
    return np.stack([lo, hi]).astype(np.float32)


def _t(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


@dataclass(frozen=True)
class SearchJob:
    """One cell's exact search as any process runs it: the prepared query vectors, how a block of full-dim
    document rows becomes the cell's search vectors, and how many documents to keep per query."""

    queries: np.ndarray
    docs: Callable[[np.ndarray], np.ndarray]
    k: int


TopLists = list[tuple[np.ndarray, np.ndarray]]


def search_blocks(
    rows: Rows, jobs: Sequence[SearchJob], block: int, search: str, offset: int = 0, device: str = "cpu"
) -> TopLists:
    """Exact (scores, indices) top-k of every job over the rows, each block read once and scored for every job;
    indices count from `offset`, where these rows start in the whole side (a worker's share of it)."""
    faiss = search == "faiss"
    accs = [FaissTopK(j.queries, j.k) if faiss else TopK(_t(j.queries).to(device), j.k) for j in jobs]
    for off, b in rows.chunks(block):
        for job, acc in zip(jobs, accs):
            d = job.docs(b)
            acc.add(offset + off, d if faiss else _t(d).to(device))
    out = []
    for acc in accs:
        sc, ix = acc.result()
        out.append((sc.cpu().numpy().astype(np.float32, copy=False), ix.cpu().numpy().astype(np.int64, copy=False)))
    return out


class Executor(Protocol):
    """Runs the passes over a document side outside this process (Ray workers: `leafbench.ray_scoring`): each
    worker reads its own rows; only per-dimension min/max and [queries, k] lists come back."""

    def accepts(self, rows: Rows) -> bool:
        """Whether these rows can be reopened by the workers (an in-memory matrix is scored here)."""
        ...

    def minmax(self, rows: Rows, f: Callable[[np.ndarray], np.ndarray], block: int) -> np.ndarray: ...

    def topk(self, rows: Rows, jobs: Sequence[SearchJob], block: int, search: str) -> tuple[TopLists, dict[str, Any]]:
        """Each job's merged top-k over all rows, and where it ran (engine, workers, tasks, device, pids)."""
        ...


class _Ranges:
    """The documents' per-dimension min/max passes of a cell set, each (transform, dim) once however many cells
    need it, here or on the executor."""

    def __init__(self, rows: Rows, block: int, executor: Executor | None) -> None:
        self.rows, self.block, self.executor = rows, block, executor
        self.done: dict[tuple[str, int], np.ndarray] = {}

    def __call__(self, name: str, dim: int, f: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        if (name, dim) not in self.done:
            ex = self.executor
            self.done[(name, dim)] = (
                ex.minmax(self.rows, f, self.block) if ex else column_minmax(self.rows, f, self.block)
            )
        return self.done[(name, dim)]


@dataclass
class _Plan:
    """How one cell is searched: query vectors, a document block's vectors, dot products -> reported scores."""

    queries: np.ndarray
    docs: Callable[[np.ndarray], np.ndarray]
    finish: Callable[[np.ndarray], np.ndarray]
    scoring: str
    calibration: str | None
    calibration_docs: bool | None = None  # int8 ranges from the documents (recorded only for calibrated kinds)
    rescore: int | None = None


def _ranges(cell: Cell, dim: int, ranges_file: Path | None, minmax: _Ranges) -> np.ndarray:
    """A calibrated cell's ranges: the fixed file's, or the truncated documents' min/max (shared by queries)."""
    if cell.calibration != "fixed":
        return minmax("truncate", dim, lambda b: truncate(b, dim))
    if ranges_file is None:
        raise CellError("calibration 'fixed' needs --ranges-file")
    return load_ranges(ranges_file, dim)


def _plan(queries: np.ndarray, cell: Cell, dim: int, ranges_file: Path | None, minmax: _Ranges) -> _Plan:
    """leafbench's calibrations: truncate and re-normalise, then the kind's vectors, one calibration per cell."""
    kind = cell.kind
    ranges = _ranges(cell, dim, ranges_file, minmax) if kind.calibrated else None
    return _Plan(
        kind.prepare(truncate(queries, dim), ranges),
        lambda b: kind.prepare(truncate(b, dim), ranges),
        lambda s: kind.scores(s, dim),
        kind.scoring,
        cell.calibration if kind.calibrated else None,
        cell.calibration == "corpus" if kind.calibrated else None,
        cell.rescore if kind.rescorable else None,
    )


def _mteb_plan(queries: np.ndarray, kind: Kind, dim: int, minmax: _Ranges) -> _Plan:
    """mteb's CompressionWrapper: each side calibrated on itself (the documents by one streamed min/max pass),
    no re-normalisation before compressing, cosine on the compressed values."""
    head = lambda x: np.ascontiguousarray(x[:, :dim])  # noqa: E731
    ranges = minmax("head", dim, head) if kind.calibrated else None
    return _Plan(
        normalize_rows(kind.compress(head(queries))),
        lambda b: normalize_rows(kind.compress(head(b), ranges)),
        lambda s: s,
        "cosine",
        "mteb",
    )


def score_cell(
    queries: np.ndarray,
    docs: Any,
    cell: Cell,
    top_k: int,
    ranges_file: Path | None = None,
    block: int | None = None,
    search: str = "torch",
    executor: Executor | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Top-k (scores, indices) of one cell from full-dim float32 queries and a (streamed) document side.

    The cell's kind says how it is searched (floats by cosine, int8/uint8 by integer inner product, binary by
    Hamming distance as ±1 dot products); binary cells with `rescore` re-rank the top `rescore`·k by float
    query · 0/1 document bits; `calibration="mteb"` reproduces mteb's CompressionWrapper (each side calibrated
    on itself, no re-normalisation, cosine on the quantized values). The cell carries its calibration and
    rescoring; `ranges_file` serves the fixed calibration. `search` picks who computes each block's exact
    top-k: torch (default) or faiss (`faiss.knn`, GPU when faiss has one). `executor` runs the passes over the
    rows on workers (`leafbench.ray_scoring.RayScorer`); the numbers are the same.
    """
    return score_cells(queries, docs, [cell], top_k, ranges_file, block, search, executor)[0]


def score_cells(
    queries: np.ndarray,
    docs: Any,
    cells: Sequence[Cell],
    top_k: int,
    ranges_file: Path | None = None,
    block: int | None = None,
    search: str = "torch",
    executor: Executor | None = None,
) -> list[tuple[np.ndarray, np.ndarray, dict[str, Any]]]:
    """`score_cell` for several cells in one read of the document rows (plus one min/max pass per calibrated
    dim): each block is read once and scored for every cell. Rescoring reads only the candidates' rows, here."""
    if search not in SEARCH_BACKENDS:
        raise CellError(f"unknown search backend {search!r}; choose from {', '.join(SEARCH_BACKENDS)}")
    for cell in cells:
        if cell.calibration not in CALIBRATIONS:
            raise CellError(f"unknown calibration {cell.calibration!r}; choose from {', '.join(CALIBRATIONS)}")
    rows = as_rows(docs)
    queries = np.asarray(queries, dtype=np.float32)
    if queries.shape[1] != rows.shape[1]:
        raise CellError(f"query dim {queries.shape[1]} != document dim {rows.shape[1]}")
    blk = block or BLOCK
    ex = executor if executor is not None and executor.accepts(rows) else None
    minmax = _Ranges(rows, blk, ex)
    plans: list[tuple[_Plan, int]] = []
    for cell in cells:
        dim = cell.resolved_dim(rows.shape[1])
        if cell.calibration == "mteb":
            plans.append((_mteb_plan(queries, cell.kind, dim, minmax), dim))
        else:
            plans.append((_plan(queries, cell, dim, ranges_file, minmax), dim))
    jobs = [
        SearchJob(p.queries, p.docs, min(top_k * p.rescore if p.rescore else top_k, rows.shape[0])) for p, _ in plans
    ]
    where: dict[str, Any] | None = None
    if ex is None:
        found = search_blocks(rows, jobs, blk, search)
    else:
        found, where = ex.topk(rows, jobs, blk, search)
        where = {**where, "cells": len(cells)}  # scored in one read of the rows
    return [_finish(plan, dim, s, i, queries, rows, top_k, search, where) for (plan, dim), (s, i) in zip(plans, found)]


def _finish(
    plan: _Plan,
    dim: int,
    scores: np.ndarray,
    idx: np.ndarray,
    queries: np.ndarray,
    rows: Rows,
    top_k: int,
    search: str,
    where: dict[str, Any] | None,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """A searched cell's reported scores, its rescoring (binary), and the info its result records."""
    scores = plan.finish(scores)
    info: dict[str, Any] = {
        "dim": dim,
        "scoring": plan.scoring,
        "calibration": plan.calibration,
        "rescore": None,
        "search": search,
    }
    if plan.calibration_docs is not None:
        info["calibration_docs"] = plan.calibration_docs
    if plan.rescore:
        scores, idx = _rescore(truncate(queries, dim), rows, idx, dim, top_k)
        info["rescore"] = plan.rescore
        info["scoring"] = f"hamming top-{plan.rescore}k, rescored by float query x binary document"
    if where is not None:
        info["scored_on"] = {k: v for k, v in where.items() if k != "pids"}
        info["worker_pids"] = list(where.get("pids", []))
    return scores, idx, info


def _rescore(
    query_float: np.ndarray, rows: Rows, candidates: np.ndarray, dim: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Re-rank Hamming candidates by float query · 0/1 document bits (sentence-transformers' rescore), reading
    only the candidates' rows, ~64 MB of them at a time."""
    nq, nc = candidates.shape
    k = min(k, nc)
    out_s = np.empty((nq, k), dtype=np.float32)
    out_i = np.empty((nq, k), dtype=np.int64)
    step = max(1, (64 << 20) // max(1, nc * dim * 4))
    for qs in range(0, nq, step):
        cand = candidates[qs : qs + step]
        uniq, inv = np.unique(cand.reshape(-1), return_inverse=True)
        bits = (truncate(rows.take(uniq), dim) > 0).astype(np.float32)[inv].reshape(cand.shape[0], nc, dim)
        scores = np.einsum("ij,ikj->ik", query_float[qs : qs + step].astype(np.float32), bits)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        out_s[qs : qs + step] = np.take_along_axis(scores, order, 1)
        out_i[qs : qs + step] = np.take_along_axis(cand, order, 1)
    return out_s, out_i
