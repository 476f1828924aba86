"""Cells (dim x dtype) from one encoding: parity with sentence-transformers' quantized search and with mteb."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from oracles import prepare_cell

from leafbench.cells import (
    Cell,
    CellError,
    grid,
    mteb_compress,
    parse_dims,
    parse_dtypes,
    truncate,
)
from leafbench.encode import Encoder
from leafbench.evaluate import evaluate_retrieval
from leafbench.scoring import score_cell


@pytest.fixture(scope="module")
def real_embeddings(scifact_small, minilm_spec, session_store) -> tuple[np.ndarray, np.ndarray]:
    enc = Encoder(minilm_spec, session_store)
    q = enc.encode(scifact_small.query_texts, "query").embeddings
    d = enc.encode(scifact_small.corpus_texts, "document").embeddings
    return q, d


def _ids_scores(hits: list[list[dict]]) -> tuple[list[list[int]], list[list[float]]]:
    return [[h["corpus_id"] for h in row] for row in hits], [[h["score"] for h in row] for row in hits]


def test_parse_grid_arguments() -> None:
    assert parse_dims("full,512, 256,full") == [None, 512, 256]
    assert parse_dtypes("float32,INT8,binary") == ["float32", "int8", "binary"]
    assert len(grid(parse_dims("full,64"), parse_dtypes("float32,int8,binary"))) == 6
    assert Cell(None, "float32").label is None and Cell(256, "int8").label == "256d-int8"
    with pytest.raises(CellError, match="unknown dtype 'int4'"):
        parse_dtypes("int4")
    with pytest.raises(CellError, match="not an integer"):
        parse_dims("big")
    with pytest.raises(CellError, match="dim 512 is larger than the model's embedding dim 384"):
        Cell(512).resolved_dim(384)


def test_truncation_renormalises(real_embeddings) -> None:
    q, _ = real_embeddings
    t = truncate(q, 64)
    assert t.shape == (q.shape[0], 64)
    np.testing.assert_allclose(np.linalg.norm(t, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(t, q[:, :64] / np.linalg.norm(q[:, :64], axis=1, keepdims=True), rtol=1e-5)


def test_binary_cell_matches_sentence_transformers_faiss_hamming(real_embeddings) -> None:
    from sentence_transformers.util.quantization import quantize_embeddings, semantic_search_faiss

    q, d = real_embeddings
    k = 20
    scores, idx, info = score_cell(q, d, Cell(128, "binary"), k)
    assert info["scoring"].startswith("hamming")
    qt, dt = truncate(q, 128), truncate(d, 128)
    hits = semantic_search_faiss(
        quantize_embeddings(qt, "ubinary"),
        quantize_embeddings(dt, "ubinary"),
        corpus_precision="ubinary",
        top_k=k,
        rescore=False,
        exact=True,
    )[0]
    ref_ids, ref_scores = _ids_scores(hits)
    # faiss reports Hamming distances; leafbench reports -distance. Distances per rank must be identical.
    np.testing.assert_array_equal(-scores, np.array(ref_scores))
    # Documents strictly closer than the k-th distance are the same set (ties at the cut-off may differ).
    for row_s, row_i, ref_i, ref_s in zip(scores.tolist(), idx.tolist(), ref_ids, ref_scores):
        kth = -row_s[-1]
        ours = {i for i, s in zip(row_i, row_s) if -s < kth}
        assert ours == {i for i, s in zip(ref_i, ref_s) if s < kth}


def test_binary_rescore_matches_sentence_transformers_usearch(real_embeddings) -> None:
    from sentence_transformers.util.quantization import quantize_embeddings, semantic_search_usearch

    q, d = real_embeddings
    k, mult = 10, 4
    scores, idx, info = score_cell(q, d, Cell(None, "binary", rescore=mult), k)
    assert info["rescore"] == mult
    qt, dt = truncate(q, q.shape[1]), truncate(d, d.shape[1])
    hits = semantic_search_usearch(
        qt,
        quantize_embeddings(dt, "binary"),
        corpus_precision="binary",
        top_k=k,
        rescore=True,
        rescore_multiplier=mult,
        exact=True,
    )[0]
    ref_ids, ref_scores = _ids_scores(hits)
    close = np.isclose(scores, np.array(ref_scores), rtol=1e-5, atol=1e-5).all(axis=1)
    assert close.mean() >= 0.9, close.mean()
    # Rows that differ are exactly those whose Hamming candidates tie across the rescore cut-off (mult*k).
    bits_q = np.unpackbits(quantize_embeddings(qt, "ubinary"), axis=1)
    bits_d = np.unpackbits(quantize_embeddings(dt, "ubinary"), axis=1)
    ham = (bits_q[:, None, :] != bits_d[None, :, :]).sum(-1)
    for row in np.flatnonzero(~close):
        dist = np.sort(ham[row])
        cut = dist[mult * k - 1]
        assert (dist == cut).sum() > (dist[: mult * k] == cut).sum(), f"row {row} differs without a tie"


def test_int8_cell_matches_sentence_transformers_usearch_inner_product(real_embeddings) -> None:
    from sentence_transformers.util.quantization import quantize_embeddings, semantic_search_usearch

    q, d = real_embeddings
    k = 20
    prep = prepare_cell(q, d, Cell(256, "int8"))
    assert prep.scoring == "inner-product" and prep.ranges is not None
    qt, dt = truncate(q, 256), truncate(d, 256)
    ranges = np.vstack([dt.min(0), dt.max(0)])
    np.testing.assert_array_equal(prep.ranges, ranges)  # calibrated on the documents, shared by queries
    qi, di = quantize_embeddings(qt, "int8", ranges=ranges), quantize_embeddings(dt, "int8", ranges=ranges)
    np.testing.assert_array_equal(prep.queries, qi.astype(np.float32))
    scores, idx, _ = score_cell(q, d, Cell(256, "int8"), k)
    hits = semantic_search_usearch(qi, di, corpus_precision="int8", top_k=k, rescore=False, exact=True)[0]
    ref_ids, ref_scores = _ids_scores(hits)
    # usearch's "ip" distance on int8 is reported as 1 - <q, d> in its own scaling; compare rankings via a direct
    # NumPy reference instead, and the candidate sets with usearch.
    ref = qi.astype(np.int64) @ di.astype(np.int64).T
    np.testing.assert_array_equal(scores, -np.sort(-ref, axis=1)[:, :k].astype(np.float32))
    overlap = np.mean([len(set(a) & set(b)) / k for a, b in zip(idx.tolist(), ref_ids)])
    assert overlap >= 0.95, overlap


def test_uint8_ranks_like_int8(real_embeddings) -> None:
    q, d = real_embeddings
    s8, i8, _ = score_cell(q, d, Cell(None, "int8"), 10)
    su, iu, _ = score_cell(q, d, Cell(None, "uint8"), 10)
    np.testing.assert_array_equal(s8, su)
    np.testing.assert_array_equal(i8, iu)


def test_fixed_calibration_reads_ranges_file(real_embeddings, tmp_path: Path) -> None:
    q, d = real_embeddings
    r = np.vstack([np.full(384, -0.3), np.full(384, 0.3)]).astype(np.float32)
    (tmp_path / "r.json").write_text(json.dumps({"min": r[0].tolist(), "max": r[1].tolist()}))
    np.save(tmp_path / "r.npy", r)
    a = prepare_cell(q, d, Cell(128, "int8", "fixed"), tmp_path / "r.json")
    b = prepare_cell(q, d, Cell(128, "int8", "fixed"), tmp_path / "r.npy")
    np.testing.assert_array_equal(a.docs, b.docs)
    np.testing.assert_array_equal(a.ranges, r[:, :128])
    (tmp_path / "bad.json").write_text(json.dumps({"min": [0.0]}))
    with pytest.raises(CellError, match="bad.json"):
        prepare_cell(q, d, Cell(128, "int8", "fixed"), tmp_path / "bad.json")


@pytest.mark.parametrize("dtype", ["int8", "uint8", "binary", "bfloat16", "float16"])
def test_mteb_compress_equals_compression_wrapper(dtype: str) -> None:
    import torch
    from mteb.models import CompressionWrapper
    from mteb.types import OutputDType

    x = np.random.default_rng(0).normal(size=(50, 32)).astype(np.float32)
    wrapper = CompressionWrapper.__new__(CompressionWrapper)  # only the quantizer is exercised
    wrapper._quantization_level = OutputDType(dtype)
    wrapper.clipping_margin = None
    wrapper.min_embeds = 0
    ref = wrapper._quantize_embeddings(torch.from_numpy(x)).float().numpy()
    np.testing.assert_array_equal(mteb_compress(x, dtype), ref)


@pytest.mark.parametrize("dim,dtype", [(None, "int8"), (128, "int8"), (None, "binary")])
def test_mteb_calibration_reproduces_mteb_compression_wrapper(
    scifact_small, mteb_scifact_task, minilm_spec, session_store, dim, dtype
) -> None:
    """mteb.evaluate(CompressionWrapper(model, dtype), embed_dim=dim) on the same subset = leafbench's mteb cell."""
    import warnings

    import mteb
    from mteb.models import CompressionWrapper, SentenceTransformerEncoderWrapper
    from mteb.types import OutputDType

    data = scifact_small
    task = mteb_scifact_task()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # A model *name* is required: mteb's wrapper ignores embed_dim for an already-built SentenceTransformer.
        model = CompressionWrapper(
            SentenceTransformerEncoderWrapper(minilm_spec.source, device="cpu", embed_dim=dim), OutputDType(dtype)
        )
        ref = mteb.evaluate(model, [task], cache=None, show_progress_bar=False).task_results[0].scores["test"][0]
    run = evaluate_retrieval(
        data,
        {"student": Encoder(minilm_spec, session_store)},
        ["student"],
        None,
        "x",
        cells=[Cell(dim, dtype, "mteb")],
    )
    ours = next(iter(run.results.values()))["scores"]["test"][0]
    for key in ("ndcg_at_10", "map_at_10", "recall_at_100", "mrr_at_10"):
        assert ours[key] == pytest.approx(ref[key], abs=1e-4), key


@pytest.mark.parametrize(
    "rows,message",
    [
        ([[0.0, float("nan")], [1.0, 1.0]], r"dimension 1 are not finite numbers"),
        ([[0.0, -float("inf")], [1.0, 1.0]], r"dimension 1 are not finite numbers"),
        ([[0.0, 0.5], [1.0, 0.2]], r"dimension 1 has min 0.5 >= max 0.2"),
        ([[0.0, 0.5], [1.0, 0.5]], r"dimension 1 has min 0.5 >= max 0.5"),
    ],
)
def test_ranges_file_with_nan_or_min_above_max_is_refused(tmp_path: Path, rows, message) -> None:
    """int8 ranges that are not finite or empty quantize to garbage silently: the file is refused, naming it."""
    from leafbench.cells import CellError, load_ranges

    for path in (tmp_path / "r.npy", tmp_path / "r.json"):
        if path.suffix == ".npy":
            np.save(path, np.array(rows))
        else:
            path.write_text(json.dumps({"min": rows[0], "max": rows[1]}))
        with pytest.raises(CellError, match=f"{path.name}: .*{message}"):
            load_ranges(path, 2)
