"""Retrieval metrics exactly as mteb reports them.

We call mteb's own pytrec_eval wrapper and score-dict builder rather than re-implementing them, so metric
names (ndcg_at_10, map_at_100, mrr_at_10, nauc_*, hit_rate_*) and values match the leaderboard.
tests/test_metrics.py pins this against mteb.evaluate on the same data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

K_VALUES: tuple[int, ...] = (1, 3, 5, 10, 20, 100, 1000)
MAIN_SCORE = "ndcg_at_10"


def drop_identical_ids(run: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """mteb's `ignore_identical_ids`: a query never retrieves the document that shares its id (ArguAna, Quora)."""
    for qid, docs in run.items():
        docs.pop(qid, None)
    return run


def retrieval_scores(
    run: dict[str, dict[str, float]],
    qrels: Mapping[str, Mapping[str, int]],
    k_values: Sequence[int] = K_VALUES,
    ignore_identical_ids: bool = False,
) -> dict[str, Any]:
    """Score a run like mteb's RetrievalEvaluator; returns mteb's flat score dict plus `main_score`."""
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
