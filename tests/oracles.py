"""In-memory references the streamed product code is tested against: whole matrices, packed bits, mteb's own
retrieval metrics. Nothing here runs in a benchmark; the product's numbers must equal these."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from leafbench.cells import (
    CALIBRATIONS,
    FLOAT_DTYPES,
    INT_DTYPES,
    Cell,
    CellError,
    cast_float,
    corpus_ranges,
    load_ranges,
    mteb_compress,
    truncate,
)
from leafbench.metrics import K_VALUES, MAIN_SCORE, drop_identical_ids
from leafbench.search import dense_topk, normalize_rows, stream_topk


def quantize(x: np.ndarray, dtype: str, ranges: np.ndarray | None = None) -> np.ndarray:
    """sentence-transformers' quantize_embeddings (int8/uint8/binary/ubinary); floats are cast."""
    if dtype in FLOAT_DTYPES:
        return cast_float(x, dtype)
    from sentence_transformers.util.quantization import quantize_embeddings

    if dtype in INT_DTYPES and ranges is None:
        raise CellError(f"{dtype} needs calibration ranges")
    return quantize_embeddings(x, precision=dtype, ranges=ranges)  # type: ignore[arg-type]


def as_unsigned_bits(packed: np.ndarray, dtype: str) -> np.ndarray:
    """ST's `binary` is packbits - 128 stored as int8; undo the offset to get the raw packed bytes."""
    if dtype == "binary":
        return (packed.astype(np.int16) + 128).astype(np.uint8)
    return packed.astype(np.uint8, copy=False)


@dataclass
class PreparedCell:
    """Query/doc matrices of one cell, ready for the scorer named by `scoring`."""

    queries: np.ndarray
    docs: np.ndarray
    scoring: str  # "cosine" | "inner-product" | "hamming"
    dim: int
    calibration: str | None
    ranges: np.ndarray | None = None
    query_float: np.ndarray | None = None  # for binary rescoring


def prepare_cell(queries: np.ndarray, docs: np.ndarray, cell: Cell, ranges_file: Path | None = None) -> PreparedCell:
    """Truncate + quantize both sides of one cell, with the cell's one calibration; bits packed as the library does."""
    calibration = cell.calibration
    if calibration not in CALIBRATIONS:
        raise CellError(f"unknown calibration {calibration!r}; choose from {', '.join(CALIBRATIONS)}")
    full = docs.shape[1]
    if queries.shape[1] != full:
        raise CellError(f"query dim {queries.shape[1]} != document dim {full}")
    dim = cell.resolved_dim(full)
    if calibration == "mteb":
        q = mteb_compress(np.ascontiguousarray(queries[:, :dim], dtype=np.float32), cell.dtype)
        d = mteb_compress(np.ascontiguousarray(docs[:, :dim], dtype=np.float32), cell.dtype)
        return PreparedCell(q, d, "cosine", dim, calibration)
    q = truncate(queries, dim)
    d = truncate(docs, dim)
    if cell.dtype in FLOAT_DTYPES:
        return PreparedCell(cast_float(q, cell.dtype), cast_float(d, cell.dtype), "cosine", dim, None)
    if cell.dtype in INT_DTYPES:
        ranges = load_ranges(ranges_file, dim) if calibration == "fixed" and ranges_file else corpus_ranges(d)
        if calibration == "fixed" and ranges_file is None:
            raise CellError("calibration 'fixed' needs --ranges-file")
        qq, dq = quantize(q, cell.dtype, ranges), quantize(d, cell.dtype, ranges)
        shift = 128 if cell.dtype == "uint8" else 0
        return PreparedCell(
            qq.astype(np.float32) - shift, dq.astype(np.float32) - shift, "inner-product", dim, calibration, ranges
        )
    # binary / ubinary: packed bits, Hamming; queries' float vectors kept for optional rescoring.
    qb = as_unsigned_bits(quantize(q, cell.dtype), cell.dtype)
    db = as_unsigned_bits(quantize(d, cell.dtype), cell.dtype)
    return PreparedCell(qb, db, "hamming", dim, None, query_float=q)


def _unpack_pm1(packed: np.ndarray, dim: int) -> torch.Tensor:
    """Packed bits → ±1 float rows; used chunk by chunk so the corpus itself stays packed."""
    bits = np.unpackbits(np.ascontiguousarray(packed, dtype=np.uint8), axis=1)[:, :dim]
    return torch.from_numpy(bits.astype(np.float32) * 2.0 - 1.0)


def hamming_topk(
    queries: np.ndarray,
    docs: np.ndarray,
    dim: int,
    k: int,
    query_chunk: int = 1024,
    doc_chunk: int = 16384,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k by Hamming distance on packed bits; returns (-distance [nq, k], indices [nq, k]).

    Each doc chunk is unpacked to ±1 and scored with one matmul: for ±1 vectors q·d = dim - 2·hamming, so the
    ranking is exactly Hamming's. Ties (equal distance) keep torch.topk's order.
    """
    if queries.shape[1] != docs.shape[1]:
        raise ValueError(f"query bytes {queries.shape[1]} != document bytes {docs.shape[1]}")
    blocks = ((ds, _unpack_pm1(docs[ds : ds + doc_chunk], dim)) for ds in range(0, docs.shape[0], doc_chunk))
    scores, idx = stream_topk(_unpack_pm1(queries, dim), blocks, k, query_chunk)
    # q·d = dim - 2h  →  -h = (q·d - dim) / 2, exact in float32 for any realistic dim.
    return ((scores - dim) / 2).numpy().astype(np.float32, copy=False), idx.numpy().astype(np.int64, copy=False)


def rescore_binary(
    query_float: np.ndarray,
    docs_packed: np.ndarray,
    candidates: np.ndarray,
    dim: int,
    k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Re-rank Hamming candidates by float query · unpacked 0/1 document bits (sentence-transformers' rescore)."""
    nq, nc = candidates.shape
    k = min(k, nc)
    out_s = np.empty((nq, k), dtype=np.float32)
    out_i = np.empty((nq, k), dtype=np.int64)
    step = max(1, (64 << 20) // max(1, nc * dim * 4))  # ~64 MB of unpacked candidates at a time
    for qs in range(0, nq, step):
        cand = candidates[qs : qs + step]
        bits = np.unpackbits(docs_packed[cand.reshape(-1)].astype(np.uint8), axis=1)[:, :dim]
        bits = bits.reshape(cand.shape[0], nc, dim).astype(np.float32)
        scores = np.einsum("ij,ikj->ik", query_float[qs : qs + step].astype(np.float32), bits)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        out_s[qs : qs + step] = np.take_along_axis(scores, order, 1)
        out_i[qs : qs + step] = np.take_along_axis(cand, order, 1)
    return out_s, out_i


def reference_topk(q: np.ndarray, d: np.ndarray, cell: Cell, k: int) -> tuple[np.ndarray, np.ndarray]:
    """One cell's top-k (scores, indices) with everything in memory: the numbers `scoring.score_cell` must give."""
    prep = prepare_cell(q, d, cell)
    if prep.scoring == "hamming":
        rescore = cell.rescore
        s, i = hamming_topk(prep.queries, prep.docs, prep.dim, k * rescore if rescore else k)
        if rescore:
            s, i = rescore_binary(prep.query_float, prep.docs, i, prep.dim, k)
        return s, i
    if prep.scoring == "inner-product":
        return dense_topk(prep.queries, prep.docs, k)
    return dense_topk(normalize_rows(prep.queries), normalize_rows(prep.docs), k)


def retrieval_scores(
    run: dict[str, dict[str, float]],
    qrels: Mapping[str, Mapping[str, int]],
    k_values: Sequence[int] = K_VALUES,
    ignore_identical_ids: bool = False,
) -> dict[str, Any]:
    """Score a run like mteb's RetrievalEvaluator (mteb's own code); returns mteb's flat score dict plus
    `main_score` — the reference `metrics.topk_retrieval_scores` is held to."""
    from mteb._evaluators.retrieval_metrics import calculate_retrieval_scores, make_score_dict

    if ignore_identical_ids:
        run = drop_identical_ids(run)
    res = calculate_retrieval_scores(run, dict(qrels), list(k_values))
    scores = make_score_dict(
        ndcg=res.ndcg,
        _map=res.map,
        recall=res.recall,
        precision=res.precision,
        mrr=res.mrr,
        naucs=res.naucs,
        naucs_mrr=res.naucs_mrr,
        hit_rate=res.hit_rate,
        task_scores={},
    )
    scores["main_score"] = scores[MAIN_SCORE]
    return scores
