"""Chunked exact top-k equals a brute-force NumPy ranking."""

from __future__ import annotations

import numpy as np
import pytest

from leafbench.search import dense_topk, normalize_rows, to_run


@pytest.mark.parametrize("query_chunk,doc_chunk", [(1024, 65536), (7, 13), (1, 1)])
def test_chunked_topk_matches_bruteforce(query_chunk: int, doc_chunk: int) -> None:
    rng = np.random.default_rng(0)
    q = normalize_rows(rng.normal(size=(31, 16)))
    d = normalize_rows(rng.normal(size=(97, 16)))
    scores, idx = dense_topk(q, d, k=10, query_chunk=query_chunk, doc_chunk=doc_chunk)
    full = q @ d.T
    ref_idx = np.argsort(-full, axis=1, kind="stable")[:, :10]
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(scores, np.take_along_axis(full, ref_idx, 1), rtol=1e-5, atol=1e-6)


def test_k_larger_than_corpus_returns_every_document() -> None:
    rng = np.random.default_rng(1)
    scores, idx = dense_topk(rng.normal(size=(3, 4)), rng.normal(size=(5, 4)), k=1000, doc_chunk=2)
    assert idx.shape == (3, 5)
    assert all(sorted(row) == list(range(5)) for row in idx.tolist())
    assert np.all(np.diff(scores, axis=1) <= 0)


def test_dim_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="query dim 4 != document dim 3"):
        dense_topk(np.ones((2, 4)), np.ones((2, 3)), k=1)


def test_normalize_rows_keeps_zero_rows_finite() -> None:
    x = normalize_rows(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(x, [[0.6, 0.8], [0.0, 0.0]])


def test_to_run_maps_indices_to_ids() -> None:
    run = to_run(["q1"], ["d0", "d1", "d2"], np.array([[0.9, 0.5]]), np.array([[2, 0]]))
    assert run == {"q1": {"d2": pytest.approx(0.9), "d0": pytest.approx(0.5)}}
