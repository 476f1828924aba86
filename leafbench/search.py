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


def merge_topk(
    best_s: torch.Tensor, best_i: torch.Tensor, cand_s: torch.Tensor, cand_i: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The k best of two (scores, indices) lists per query: how a block's candidates join the running lists, and
    how partial lists computed elsewhere (Ray workers, each over its own rows) are combined."""
    merged_s, merged_i = torch.cat([best_s, cand_s], dim=1), torch.cat([best_i, cand_i], dim=1)
    best_s, pos = torch.topk(merged_s, min(k, merged_s.shape[1]), dim=1)
    return best_s, torch.gather(merged_i, 1, pos)


class TopK:
    """Running exact top-k by dot product, fed one (offset, document block) at a time on the queries' device.

    Kept open (rather than consuming one iterable) so one read of the rows can feed several searches, one per cell.
    Peak memory is one [query_chunk, block] score matrix plus the running [n_queries, k] lists.
    """

    def __init__(self, queries: torch.Tensor, k: int, query_chunk: int = 1024) -> None:
        self.queries, self.k, self.query_chunk = queries, k, query_chunk
        nq, dev = queries.shape[0], queries.device
        self.starts = list(range(0, nq, query_chunk)) or [0]
        self.best_s = [torch.full((min(query_chunk, nq - qs), 0), float("-inf"), device=dev) for qs in self.starts]
        self.best_i = [torch.empty((min(query_chunk, nq - qs), 0), dtype=torch.long, device=dev) for qs in self.starts]

    def add(self, offset: int, block: torch.Tensor) -> None:
        for b, qs in enumerate(self.starts):
            s = self.queries[qs : qs + self.query_chunk] @ block.T
            cs, ci = torch.topk(s, min(self.k, s.shape[1]), dim=1)
            self.best_s[b], self.best_i[b] = merge_topk(self.best_s[b], self.best_i[b], cs, ci + offset, self.k)

    def result(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.queries.shape[0] == 0:
            return torch.empty((0, 0)), torch.empty((0, 0), dtype=torch.long)
        return torch.cat(self.best_s), torch.cat(self.best_i)


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
    acc = TopK(queries, k, query_chunk)
    for offset, block in doc_blocks:
        acc.add(offset, block)
    return acc.result()


class FaissTopK:
    """`TopK` with faiss's exact brute-force kNN (`faiss.knn`, on GPU via `knn_gpu` when faiss has GPUs) scoring
    each block; the running lists are merged the same way. Parity-tested against the torch path."""

    def __init__(self, queries: np.ndarray, k: int) -> None:
        try:
            import faiss
        except ImportError:
            raise ValueError("--search faiss needs faiss: pip install faiss-cpu (or faiss-gpu)") from None
        self.faiss, self.k = faiss, k
        self.q = np.ascontiguousarray(queries, dtype=np.float32)
        self.gpu = hasattr(faiss, "knn_gpu") and faiss.get_num_gpus() > 0
        self.res = faiss.StandardGpuResources() if self.gpu else None
        self.best_s = torch.full((self.q.shape[0], 0), float("-inf"))
        self.best_i = torch.empty((self.q.shape[0], 0), dtype=torch.long)

    def add(self, offset: int, block: np.ndarray) -> None:
        faiss = self.faiss
        b = np.ascontiguousarray(block, dtype=np.float32)
        kk = min(self.k, b.shape[0])
        if self.gpu:
            d, i = faiss.knn_gpu(self.res, self.q, b, kk, metric=faiss.METRIC_INNER_PRODUCT)
        else:
            d, i = faiss.knn(self.q, b, kk, metric=faiss.METRIC_INNER_PRODUCT)
        cand_i = torch.from_numpy(i.astype(np.int64)) + offset
        self.best_s, self.best_i = merge_topk(self.best_s, self.best_i, torch.from_numpy(d), cand_i, self.k)

    def result(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.best_s, self.best_i


def faiss_stream_topk(
    queries: np.ndarray,
    doc_blocks: Iterable[tuple[int, np.ndarray]],
    k: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`stream_topk` with faiss scoring each block (`FaissTopK`)."""
    acc = FaissTopK(queries, k)
    for offset, block in doc_blocks:
        acc.add(offset, block)
    return acc.result()


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
