"""Score one (dim, dtype) cell by streaming the corpus: exact top-k without the whole corpus in memory.

The document side arrives as stored rows (memory-mapped shards, `leafbench.store.StoredRows`) or any array;
each block is truncated, quantized and scored on its own, and per-query top-k lists are merged as blocks
pass (`search.stream_topk`). What needs the whole corpus — int8 calibration ranges, mteb's per-side
min/max — is one extra streaming pass of min/max. Rescoring of binary candidates reads only the candidate
rows. The numbers are those of the in-memory reference (`cells.prepare_cell` + `search.dense_topk` /
`hamming_topk` / `rescore_binary`), which the tests pin.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from .cells import (
    BIT_DTYPES,
    CALIBRATIONS,
    FLOAT_DTYPES,
    INT_DTYPES,
    Cell,
    CellError,
    cast_float,
    load_ranges,
    mteb_compress,
    quantize,
    truncate,
)
from .search import faiss_stream_topk, normalize_rows, stream_topk

SEARCH_BACKENDS = ("torch", "faiss")

# Documents per block: one [query_chunk, block] score matrix and a few [block, dim] copies live at a time
# (~0.3 GB at 768-d and 1,024 queries), whatever the corpus size.
DENSE_BLOCK = 16384
BIT_BLOCK = 16384


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


def _mteb_int(x: np.ndarray, ranges: np.ndarray, dtype: str) -> np.ndarray:
    """mteb's CompressionWrapper int8/uint8 step with given (side-wide) min/max."""
    mins, maxs = ranges
    q = np.floor((x - mins) / ((maxs - mins) / 255.0))
    return (q - (0 if dtype == "uint8" else 128)).astype(np.float32)


def _t(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


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

    Scoring by cell: floats by cosine; int8/uint8 by integer inner product (uint8 shifted by -128); binary by
    Hamming distance (as ±1 dot products: q·d = dim - 2·hamming), optionally rescoring the top `rescore`·k by
    float query · 0/1 document bits; `calibration="mteb"` reproduces mteb's CompressionWrapper (each side
    calibrated on itself, no re-normalisation, cosine on the quantized values). The cell carries its calibration
    and rescoring; `ranges_file` serves the fixed calibration. `search` picks who computes
    each block's exact top-k: torch (default) or faiss (`faiss.knn`, GPU when faiss has one).
    """
    if search not in SEARCH_BACKENDS:
        raise CellError(f"unknown search backend {search!r}; choose from {', '.join(SEARCH_BACKENDS)}")
    calibration, rescore = cell.calibration, cell.rescore
    if calibration not in CALIBRATIONS:
        raise CellError(f"unknown calibration {calibration!r}; choose from {', '.join(CALIBRATIONS)}")
    rows = as_rows(docs)
    queries = np.asarray(queries, dtype=np.float32)
    full = rows.shape[1]
    if queries.shape[1] != full:
        raise CellError(f"query dim {queries.shape[1]} != document dim {full}")
    dim = cell.resolved_dim(full)
    dtype = cell.dtype
    info: dict[str, Any] = {"dim": dim, "scoring": "cosine", "calibration": None, "rescore": None, "search": search}
    bits = dtype in BIT_DTYPES and calibration != "mteb"
    blk = block or (BIT_BLOCK if bits else DENSE_BLOCK)
    k = min(top_k * rescore if (bits and rescore) else top_k, rows.shape[0])

    if calibration == "mteb":
        info["calibration"] = "mteb"
        if dtype in INT_DTYPES:
            ranges = _minmax(rows, lambda b: b[:, :dim], blk)
            doc_f = lambda b: _mteb_int(np.ascontiguousarray(b[:, :dim]), ranges, dtype)  # noqa: E731
        else:
            doc_f = lambda b: mteb_compress(np.ascontiguousarray(b[:, :dim]), dtype)  # noqa: E731
        q = normalize_rows(mteb_compress(np.ascontiguousarray(queries[:, :dim]), dtype))
        doc = lambda b: normalize_rows(doc_f(b))  # noqa: E731
    elif dtype in FLOAT_DTYPES:
        q = normalize_rows(cast_float(truncate(queries, dim), dtype))
        doc = lambda b: normalize_rows(cast_float(truncate(b, dim), dtype))  # noqa: E731
    elif dtype in INT_DTYPES:
        if calibration == "fixed":
            if ranges_file is None:
                raise CellError("calibration 'fixed' needs --ranges-file")
            ranges = load_ranges(ranges_file, dim)
        else:
            ranges = _minmax(rows, lambda b: truncate(b, dim), blk)
        info["calibration"] = calibration
        info["calibration_docs"] = calibration == "corpus"
        info["scoring"] = "inner-product"
        shift = 128 if dtype == "uint8" else 0
        q = quantize(truncate(queries, dim), dtype, ranges).astype(np.float32) - shift
        doc = lambda b: quantize(truncate(b, dim), dtype, ranges).astype(np.float32) - shift  # noqa: E731
    else:  # binary / ubinary: sign bits, scored as ±1 dot products (exactly Hamming's ranking)
        info["scoring"] = "hamming (packed bits)"
        q_float = truncate(queries, dim)
        q = np.where(q_float > 0, 1.0, -1.0).astype(np.float32)
        doc = lambda b: np.where(truncate(b, dim) > 0, 1.0, -1.0).astype(np.float32)  # noqa: E731

    if search == "faiss":
        s, i = faiss_stream_topk(q, ((off, doc(b)) for off, b in rows.chunks(blk)), k)
    else:
        s, i = stream_topk(_t(q), ((off, _t(doc(b))) for off, b in rows.chunks(blk)), k)
    scores, idx = s.numpy().astype(np.float32, copy=False), i.numpy().astype(np.int64, copy=False)
    if bits:
        scores = (scores - dim) / 2  # -hamming distance, exact in float32
        if rescore:
            scores, idx = _rescore(q_float, rows, idx, dim, top_k)
            info["rescore"] = rescore
            info["scoring"] = f"hamming top-{rescore}k, rescored by float query x binary document"
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
