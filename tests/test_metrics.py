"""The vectorised top-k metric path returns exactly mteb's score dict (mteb's own code is the reference)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from oracles import retrieval_scores

from leafbench.cells import Cell
from leafbench.encode import Encoder
from leafbench.metrics import topk_retrieval_scores
from leafbench.scoring import score_cell
from leafbench.search import to_run


def _assert_same(fast: dict, ref: dict) -> None:
    assert fast.keys() == ref.keys()
    for key, value in ref.items():
        if isinstance(value, float) and math.isnan(value):
            assert math.isnan(fast[key]), key
        else:
            assert fast[key] == pytest.approx(value, abs=1e-12, rel=1e-9), key


@pytest.fixture(scope="module")
def embeddings(scifact_small, minilm_spec, session_store):
    enc = Encoder(minilm_spec, session_store)
    return enc.encode(scifact_small.query_texts, "query").embeddings, enc.encode(
        scifact_small.corpus_texts, "document"
    ).embeddings


@pytest.mark.parametrize("cell", [Cell(None, "float32"), Cell(64, "binary"), Cell(128, "int8")])
def test_fast_path_equals_mteb_on_real_runs(scifact_small, embeddings, cell: Cell) -> None:
    q, d = embeddings
    scores, idx, _ = score_cell(q, d, cell, 1000)
    fast = topk_retrieval_scores(scifact_small.query_ids, scifact_small.corpus_ids, scores, idx, scifact_small.qrels)
    ref = retrieval_scores(to_run(scifact_small.query_ids, scifact_small.corpus_ids, scores, idx), scifact_small.qrels)
    _assert_same(fast, ref)
    if cell.dtype == "binary":  # Hamming ties are common: the tie-break by doc id must match mteb's
        assert len(np.unique(scores[:, :10])) < scores[:, :10].size


def test_fast_path_equals_mteb_with_identical_ids_and_ties() -> None:
    rng = np.random.default_rng(3)
    doc_ids = [f"d{i}" for i in range(40)] + ["q1", "q2"]
    query_ids = ["q1", "q2", "q3"]
    qrels = {"q1": {"d3": 1, "q2": 1}, "q2": {"d7": 2, "d8": 1}, "q3": {"d9": 1}}
    # Coarse scores: many exact ties.
    scores = np.round(rng.uniform(size=(3, len(doc_ids))), 1).astype(np.float32)
    idx = np.argsort(-scores, axis=1, kind="stable")[:, :30]
    top = np.take_along_axis(scores, idx, 1)
    for ignore in (False, True):
        fast = topk_retrieval_scores(query_ids, doc_ids, top, idx, qrels, ignore_identical_ids=ignore)
        ref = retrieval_scores(to_run(query_ids, doc_ids, top, idx), qrels, ignore_identical_ids=ignore)
        _assert_same(fast, ref)


@pytest.mark.parametrize("n_docs", [1, 2])
@pytest.mark.parametrize("cell", [Cell(None, "float32"), Cell(None, "int8"), Cell(None, "binary")])
def test_one_and_two_document_corpora_score_like_mteb_and_pytrec_eval(n_docs: int, cell: Cell) -> None:
    """k up to 1000 over a corpus of one or two documents is legal: the top-k has fewer columns than k, and the
    scores equal mteb's own evaluation of the same run (nDCG@10 is pytrec_eval's mean), never an IndexError."""
    import pytrec_eval

    rng = np.random.default_rng(n_docs)
    doc_ids = [f"d{i}" for i in range(n_docs)]
    query_ids = ["q1", "q2", "q3"]
    qrels = {"q1": {"d0": 1}, "q2": {doc_ids[-1]: 2}, "q3": {"gone": 1}}  # q3's document is not in the corpus
    q = rng.normal(size=(3, 16)).astype(np.float32)
    d = rng.normal(size=(n_docs, 16)).astype(np.float32)
    scores, idx, _ = score_cell(q, d, cell, 1000)
    assert idx.shape == (3, n_docs)
    fast = topk_retrieval_scores(query_ids, doc_ids, scores, idx, qrels)
    run = to_run(query_ids, doc_ids, scores, idx)
    _assert_same(fast, retrieval_scores(run, qrels))
    per_query = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"}).evaluate(run)
    assert fast["ndcg_at_10"] == pytest.approx(np.mean([v["ndcg_cut_10"] for v in per_query.values()]), abs=1e-5)
