"""Streaming cell scoring over stored rows equals the in-memory reference for every dtype and calibration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from oracles import reference_topk

from leafbench.cells import Cell
from leafbench.fake import hash_vectors
from leafbench.scoring import score_cell
from leafbench.store import EmbeddingStore, EncodingKey

DOCS = [f"document {i}" for i in range(300)]
KEY = EncodingKey("hash-32@v1", "document", "", None, "fp32")


def _rows(tmp_path: Path):
    # Small shards and a shuffled first pass: rows of the list are spread over shards, out of order.
    store = EmbeddingStore(tmp_path, shard_size=37)
    rng = np.random.default_rng(0)
    store.get_or_encode(KEY, [DOCS[i] for i in rng.permutation(len(DOCS))], lambda c: (hash_vectors(c, 32) * 3, 0))
    rows, _ = store.get_or_encode(KEY, DOCS, lambda c: (hash_vectors(c, 32) * 3, 0))
    return rows


@pytest.mark.parametrize(
    "cell",
    [
        Cell(None, "float32"),
        Cell(16, "float16"),
        Cell(16, "bfloat16"),
        Cell(None, "int8"),
        Cell(16, "uint8"),
        Cell(None, "binary"),
        Cell(16, "ubinary", rescore=3),
        Cell(None, "int8", "mteb"),
        Cell(16, "binary", "mteb"),
        Cell(16, "float16", "mteb"),
    ],
)
def test_streamed_cell_equals_in_memory_reference(tmp_path: Path, cell: Cell) -> None:
    rows = _rows(tmp_path)
    d = np.asarray(rows)
    np.testing.assert_array_equal(d, hash_vectors(DOCS, 32) * 3)
    q = hash_vectors([f"query {i}" for i in range(25)], 32) * 2
    k = 20
    ref_s, ref_i = reference_topk(q, d, cell, k)
    # Rescoring keeps the top rescore*k Hamming candidates: which of the tied ones make the cut depends on block
    # boundaries, so that case streams in the reference's block size (still through the stored rows).
    s, i, info = score_cell(q, rows, cell, k, block=None if cell.rescore else 41)
    np.testing.assert_allclose(s, ref_s, rtol=1e-5, atol=1e-5)
    if cell.dtype in ("binary", "ubinary") and not cell.rescore:
        # Hamming distances tie often; the tied documents may come in another order, the distances may not.
        return
    assert (i == ref_i).mean() > 0.99


@pytest.mark.parametrize("cell", [Cell(None, "float32"), Cell(16, "int8"), Cell(None, "binary")])
def test_faiss_search_equals_torch_search(tmp_path: Path, cell: Cell) -> None:
    pytest.importorskip("faiss")
    rows = _rows(tmp_path)
    q = hash_vectors([f"query {i}" for i in range(25)], 32)
    s_t, i_t, _ = score_cell(q, rows, cell, 20, block=50)
    s_f, i_f, info = score_cell(q, rows, cell, 20, block=50, search="faiss")
    assert info["search"] == "faiss"
    np.testing.assert_allclose(s_f, s_t, rtol=1e-5, atol=1e-4)
    if cell.dtype == "float32":  # ties (int/bit cells) may come in another order
        assert (i_f == i_t).all()
