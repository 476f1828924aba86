"""leafbench's retrieval fast path gives the same scores as mteb 2.26.24's own evaluation on the same data."""

from __future__ import annotations

import pytest

from leafbench.encode import Encoder
from leafbench.evaluate import evaluate_retrieval

COMPARED = [f"{m}_at_{k}" for m in ("ndcg", "map", "recall", "precision") for k in (1, 3, 5, 10, 20, 100, 1000)] + [
    f"mrr_at_{k}" for k in (1, 3, 5, 10, 20, 100, 1000)
]


@pytest.fixture(scope="module")
def mteb_scores(mteb_scifact_task, minilm_spec) -> dict:
    """mteb.evaluate on the very same subset, fed through mteb's own task object and ST wrapper."""
    import mteb
    from sentence_transformers import SentenceTransformer

    task = mteb_scifact_task()
    model = mteb.models.SentenceTransformerEncoderWrapper(SentenceTransformer(minilm_spec.source, device="cpu"))
    res = mteb.evaluate(model, [task], cache=None, show_progress_bar=False)
    return res.task_results[0].scores["test"][0]


def test_student_mode_matches_mteb_evaluate(scifact_small, minilm_spec, session_store, mteb_scores) -> None:
    enc = Encoder(minilm_spec, session_store)
    run = evaluate_retrieval(scifact_small, {"student": enc}, ["student"], output=None, run_slug="x")
    ours = run.results["student"]["scores"]["test"][0]
    assert ours["main_score"] == pytest.approx(mteb_scores["main_score"], abs=1e-4)
    for key in COMPARED:
        assert ours[key] == pytest.approx(mteb_scores[key], abs=1e-4), key
    # A real signal, not a degenerate ranking.
    assert ours["ndcg_at_10"] > 0.5
