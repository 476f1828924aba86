"""Score one (dim, dtype) cell by streaming the corpus: exact top-k without the whole corpus in memory.

The document side arrives as stored rows (memory-mapped shards, `leafbench.store.StoredRows`) or any array;
each block is truncated, turned into the search vectors of the cell's kind (`cells.kinds`) and scored on its
own, and per-query top-k lists are merged as blocks pass (`search.stream_topk`). What needs the whole corpus —
int8 calibration ranges, mteb's per-side min/max — is one extra streaming pass of min/max. Rescoring of binary
candidates reads only the candidate rows. The numbers are those of the in-memory references in
tests/oracles.py (whole matrices, packed bits), which tests/test_scoring.py pins.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from .cells import CALIBRATIONS, Cell, CellError, Kind, load_ranges, truncate
from .search import faiss_stream_topk, normalize_rows, stream_topk

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


def _minmax(docs: Rows, f: Callable[[np.ndarray], np.ndarray], block: int) -> np.ndarray:
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


def _ranges(rows: Rows, cell: Cell, dim: int, ranges_file: Path | None, block: int) -> np.ndarray:
    """A calibrated cell's ranges: the fixed file's, or the truncated documents' min/max (shared by queries)."""
    if cell.calibration != "fixed":
        return _minmax(rows, lambda b: truncate(b, dim), block)
    if ranges_file is None:
        raise CellError("calibration 'fixed' needs --ranges-file")
    return load_ranges(ranges_file, dim)


def _plan(queries: np.ndarray, rows: Rows, cell: Cell, dim: int, ranges_file: Path | None, block: int) -> _Plan:
    """leafbench's calibrations: truncate and re-normalise, then the kind's vectors, one calibration per cell."""
    kind = cell.kind
    ranges = _ranges(rows, cell, dim, ranges_file, block) if kind.calibrated else None
    return _Plan(
        kind.prepare(truncate(queries, dim), ranges),
        lambda b: kind.prepare(truncate(b, dim), ranges),
        lambda s: kind.scores(s, dim),
        kind.scoring,
        cell.calibration if kind.calibrated else None,
        cell.calibration == "corpus" if kind.calibrated else None,
        cell.rescore if kind.rescorable else None,
    )


def _mteb_plan(queries: np.ndarray, rows: Rows, kind: Kind, dim: int, block: int) -> _Plan:
    """mteb's CompressionWrapper: each side calibrated on itself (the documents by one streamed min/max pass),
    no re-normalisation before compressing, cosine on the compressed values."""
    head = lambda x: np.ascontiguousarray(x[:, :dim])  # noqa: E731
    ranges = _minmax(rows, head, block) if kind.calibrated else None
    return _Plan(
        normalize_rows(kind.compress(head(queries))),
        lambda b: normalize_rows(kind.compress(head(b), ranges)),
        lambda s: s,
        "cosine",
        "mteb",
    )


def _search(plan: _Plan, rows: Rows, k: int, block: int, search: str) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k of the plan's vectors over the document blocks, by torch or faiss."""
    blocks = ((off, plan.docs(b)) for off, b in rows.chunks(block))
    if search == "faiss":
        s, i = faiss_stream_topk(plan.queries, blocks, k)
    else:
        s, i = stream_topk(_t(plan.queries), ((off, _t(d)) for off, d in blocks), k)
    return s.numpy().astype(np.float32, copy=False), i.numpy().astype(np.int64, copy=False)


def score_cell(
    queries: np.ndarray,
    docs: Any,
    cell: Cell,
    top_k: int,
    ranges_file: Path | None = None,
    block: int | None = None,
    search: str = "torch",
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Top-k (scores, indices) of one cell from full-dim float32 queries and a (streamed) document side.

    The cell's kind says how it is searched (floats by cosine, int8/uint8 by integer inner product, binary by
    Hamming distance as ±1 dot products); binary cells with `rescore` re-rank the top `rescore`·k by float
    query · 0/1 document bits; `calibration="mteb"` reproduces mteb's CompressionWrapper (each side calibrated
    on itself, no re-normalisation, cosine on the quantized values). The cell carries its calibration and
    rescoring; `ranges_file` serves the fixed calibration. `search` picks who computes each block's exact
    top-k: torch (default) or faiss (`faiss.knn`, GPU when faiss has one).
    """
    if search not in SEARCH_BACKENDS:
        raise CellError(f"unknown search backend {search!r}; choose from {', '.join(SEARCH_BACKENDS)}")
    if cell.calibration not in CALIBRATIONS:
        raise CellError(f"unknown calibration {cell.calibration!r}; choose from {', '.join(CALIBRATIONS)}")
    rows = as_rows(docs)
    queries = np.asarray(queries, dtype=np.float32)
    if queries.shape[1] != rows.shape[1]:
        raise CellError(f"query dim {queries.shape[1]} != document dim {rows.shape[1]}")
    dim = cell.resolved_dim(rows.shape[1])
    blk = block or BLOCK
    if cell.calibration == "mteb":
        plan = _mteb_plan(queries, rows, cell.kind, dim, blk)
    else:
        plan = _plan(queries, rows, cell, dim, ranges_file, blk)
    k = min(top_k * plan.rescore if plan.rescore else top_k, rows.shape[0])
    scores, idx = _search(plan, rows, k, blk, search)
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
