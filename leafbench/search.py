"""Exact dense top-k, chunked over queries and documents so memory stays bounded on big corpora.

Peak extra memory is one [query_chunk, doc_chunk] score block plus the running [query_chunk, 2k] merge
buffer, whatever the corpus size.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """L2-normalise rows (zero rows stay zero) so a dot product is the cosine."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def stream_topk(
    queries: torch.Tensor,
    doc_blocks: Iterable[tuple[int, torch.Tensor]],
    k: int,
    query_chunk: int = 1024,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact top-k by dot product over a stream of (offset, document block) tensors; the corpus is never whole.

    Keeps a running [n_queries, k] best list and merges each block's top-k into it, `query_chunk` queries at a
    time, so peak memory is one [query_chunk, block] score matrix plus the running lists — it grows with
    queries x k and the block size, not with the corpus.
    """
    nq = queries.shape[0]
    starts = list(range(0, nq, query_chunk)) or [0]
    best_s = [torch.full((min(query_chunk, nq - qs), 0), float("-inf")) for qs in starts]
    best_i = [torch.empty((min(query_chunk, nq - qs), 0), dtype=torch.long) for qs in starts]
    for offset, block in doc_blocks:
        for b, qs in enumerate(starts):
            s = queries[qs : qs + query_chunk] @ block.T
            cs, ci = torch.topk(s, min(k, s.shape[1]), dim=1)
            merged_s, merged_i = torch.cat([best_s[b], cs], dim=1), torch.cat([best_i[b], ci + offset], dim=1)
            best_s[b], pos = torch.topk(merged_s, min(k, merged_s.shape[1]), dim=1)
            best_i[b] = torch.gather(merged_i, 1, pos)
    if nq == 0:
        return torch.empty((0, 0)), torch.empty((0, 0), dtype=torch.long)
    return torch.cat(best_s), torch.cat(best_i)


def faiss_stream_topk(
    queries: np.ndarray,
    doc_blocks: Iterable[tuple[int, np.ndarray]],
    k: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`stream_topk` with faiss's exact brute-force kNN (`faiss.knn`, on GPU via `knn_gpu` when faiss has GPUs)
    scoring each block; the running lists are merged the same way. Parity-tested against the torch path."""
    try:
        import faiss
    except ImportError:
        raise ValueError("--search faiss needs faiss: pip install faiss-cpu (or faiss-gpu)") from None
    q = np.ascontiguousarray(queries, dtype=np.float32)
    gpu = hasattr(faiss, "knn_gpu") and faiss.get_num_gpus() > 0
    res = faiss.StandardGpuResources() if gpu else None
    best_s = torch.full((q.shape[0], 0), float("-inf"))
    best_i = torch.empty((q.shape[0], 0), dtype=torch.long)
    for offset, block in doc_blocks:
        b = np.ascontiguousarray(block, dtype=np.float32)
        kk = min(k, b.shape[0])
        if gpu:
            d, i = faiss.knn_gpu(res, q, b, kk, metric=faiss.METRIC_INNER_PRODUCT)
        else:
            d, i = faiss.knn(q, b, kk, metric=faiss.METRIC_INNER_PRODUCT)
        merged_s = torch.cat([best_s, torch.from_numpy(d)], dim=1)
        merged_i = torch.cat([best_i, torch.from_numpy(i.astype(np.int64)) + offset], dim=1)
        best_s, pos = torch.topk(merged_s, min(k, merged_s.shape[1]), dim=1)
        best_i = torch.gather(merged_i, 1, pos)
    return best_s, best_i


def _as_float_tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


def dense_topk(
    queries: np.ndarray,
    docs: np.ndarray,
    k: int,
    query_chunk: int = 1024,
    doc_chunk: int = 65536,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k documents by dot product for every query; returns (scores [nq, k], indices [nq, k]).

    Exact: every (query, doc) pair is scored. Callers normalise first for cosine.
    """
    if queries.shape[1] != docs.shape[1]:
        raise ValueError(f"query dim {queries.shape[1]} != document dim {docs.shape[1]}")
    blocks = ((ds, _as_float_tensor(docs[ds : ds + doc_chunk])) for ds in range(0, docs.shape[0], doc_chunk))
    scores, idx = stream_topk(_as_float_tensor(queries), blocks, k, query_chunk)
    return scores.numpy().astype(np.float32, copy=False), idx.numpy().astype(np.int64, copy=False)


def to_run(
    query_ids: list[str],
    doc_ids: list[str],
    scores: np.ndarray,
    indices: np.ndarray,
) -> dict[str, dict[str, float]]:
    """A TREC-style run {qid: {docid: score}} as pytrec_eval and mteb consume it."""
    run: dict[str, dict[str, float]] = {}
    for qi, qid in enumerate(query_ids):
        run[qid] = {doc_ids[j]: float(s) for j, s in zip(indices[qi].tolist(), scores[qi].tolist())}
    return run
