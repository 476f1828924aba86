"""Retrieval metrics exactly as mteb reports them.

`topk_retrieval_scores(...)` serves the dims x dtypes grid, where mteb's own pure-Python MRR and abstention
(nAUC) code costs ~2 s per cell on 300 queries x 1000 hits and would dominate a 45-cell sweep. It keeps
pytrec_eval and mteb's own aggregation for nDCG/MAP/recall/precision/hit-rate, and computes MRR and the nAUC
confidence scores from the already-sorted top-k matrix with NumPy. tests/test_metrics.py proves it returns the
dict of mteb's own `calculate_retrieval_scores` + `make_score_dict` (tests/oracles.py `retrieval_scores`) on real
runs, ties and ignore_identical_ids included.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

K_VALUES: tuple[int, ...] = (1, 3, 5, 10, 20, 100, 1000)
MAIN_SCORE = "ndcg_at_10"
_ABSTENTION_RATES = np.linspace(0, 1, 11)[:-1]  # mteb's _DEFAULT_ABSTENTION_RATES


def drop_identical_ids(run: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """mteb's `ignore_identical_ids`: a query never retrieves the document that shares its id (ArguAna, Quora)."""
    for qid, docs in run.items():
        docs.pop(qid, None)
    return run


def _abstention_curve(conf: np.ndarray, metric: np.ndarray) -> np.ndarray:
    order = np.argsort(conf, stable=True)
    if conf.size == 0:
        return np.full(len(_ABSTENTION_RATES), np.nan)
    sorted_conf, sorted_metric = conf[order], metric[order]
    # Tied confidences share their group's mean metric, as mteb does (#5613).
    start = np.flatnonzero(np.r_[True, sorted_conf[1:] != sorted_conf[:-1]])
    size = np.diff(np.r_[start, len(sorted_conf)])
    sorted_metric = np.repeat(np.add.reduceat(sorted_metric, start) / size, size)
    curve = np.zeros(len(_ABSTENTION_RATES))
    for i, rate in enumerate(_ABSTENTION_RATES):
        n_abst = min(round(rate * order.shape[0]), len(conf) - 1)
        curve[i] = sorted_metric[n_abst:].mean()
    return curve


def nauc(conf: np.ndarray, metric: np.ndarray) -> float:
    """mteb's normalised area under the abstention curve, with np.trapezoid in place of sklearn's auc."""
    abst = np.trapezoid(_abstention_curve(conf, metric), _ABSTENTION_RATES)
    oracle_curve = _abstention_curve(metric, metric)
    oracle = np.trapezoid(oracle_curve, _ABSTENTION_RATES)
    flat = oracle_curve[0] * (_ABSTENTION_RATES[-1] - _ABSTENTION_RATES[0])
    return float("nan") if oracle == flat else float((abst - flat) / (oracle - flat))


def topk_retrieval_scores(
    query_ids: Sequence[str],
    doc_ids: Sequence[str],
    scores: np.ndarray,
    indices: np.ndarray,
    qrels: Mapping[str, Mapping[str, int]],
    k_values: Sequence[int] = K_VALUES,
    ignore_identical_ids: bool = False,
    per_query_out: dict[str, dict[str, float]] | None = None,
    main_metric: str = MAIN_SCORE,
) -> dict[str, Any]:
    """mteb's score dict from a [nq, k] top-k (scores sorted descending per row), without mteb's Python loops.

    `main_metric` is the task's mteb main score (nDCG@10 for BEIR; LoTTE's is hit_rate_at_5); per-query
    values are kept only for nDCG@10, so they are dropped for tasks with another main score.

    With `per_query_out`, also fills ``{"ndcg_at_10": {query_id: value}}`` from pytrec_eval's per-query output
    (the values mteb averages), so reports can put paired-bootstrap intervals on deltas between runs.
    """
    import pytrec_eval
    from mteb._evaluators.retrieval_metrics import make_score_dict, parse_metrics_from_scores

    k_values = list(k_values)
    nq, k = indices.shape
    ids = np.asarray(doc_ids, dtype=object)
    hit_ids = ids[indices]  # [nq, k] doc ids
    valid = np.ones((nq, k), dtype=bool)
    if ignore_identical_ids:
        valid = hit_ids != np.asarray(query_ids, dtype=object)[:, None]
    s64 = scores.astype(np.float64)

    # The run pytrec_eval needs (it sorts and tie-breaks internally).
    run = {
        q: {d: s for d, s, v in zip(hit_ids[i].tolist(), s64[i].tolist(), valid[i].tolist()) if v}
        for i, q in enumerate(query_ids)
    }
    strings = {f"{m}.{','.join(map(str, k_values))}" for m in ("map_cut", "ndcg_cut", "recall", "P", "success")}
    per_query = pytrec_eval.RelevanceEvaluator(dict(qrels), strings).evaluate(run)
    if per_query_out is not None and main_metric == MAIN_SCORE:
        per_query_out[MAIN_SCORE] = {q: round(float(v["ndcg_cut_10"]), 6) for q, v in per_query.items()}
    ndcg, _map, recall, precision, all_ndcgs, all_aps, all_recalls, all_precisions, hit_rate = (
        parse_metrics_from_scores(per_query, k_values)
    )

    # Rank order exactly as mteb's mrr(): score descending, ties by doc id descending.
    id_rank = np.empty(len(doc_ids), dtype=np.int64)
    id_rank[np.argsort(np.asarray(doc_ids, dtype=object), kind="stable")] = np.arange(len(doc_ids))
    key_score = np.where(valid, s64, -np.inf)
    order = np.lexsort((-id_rank[indices], -key_score), axis=1)
    ranked = np.take_along_axis(hit_ids, order, 1)
    ranked_valid = np.take_along_axis(valid, order, 1)
    rel = (
        np.array([[qrels[q].get(d, 0) > 0 for d in row] for q, row in zip(query_ids, ranked.tolist())], dtype=bool)
        & ranked_valid
    )
    first = np.where(rel.any(axis=1), rel.argmax(axis=1), np.iinfo(np.int64).max)
    mrr_lists = {f"MRR@{kk}": np.where(first < kk, 1.0 / (first + 1.0), 0.0) for kk in k_values}
    mrr = {name: float(sum(v.tolist()) / len(v)) for name, v in mrr_lists.items()}

    # Confidence scores per query over all retrieved scores (mteb: max, std, top1 - top2).
    n_valid = valid.sum(axis=1)
    conf = {
        "max": np.where(n_valid > 0, np.nanmax(np.where(valid, s64, -np.inf), axis=1), 0.0),
        "std": np.array([float(np.std(row[v])) if v.any() else 0.0 for row, v in zip(s64, valid)]),
        "diff1": np.zeros(nq),
    }
    srt = -np.sort(-np.where(valid, s64, -np.inf), axis=1)
    two = n_valid > 1
    if k > 1:  # a one-document corpus has no second hit: diff1 stays 0, as in mteb's confidence_scores
        conf["diff1"][two] = srt[two, 0] - srt[two, 1]
    per_query_metrics = {**all_ndcgs, **all_aps, **all_recalls, **all_precisions}
    naucs = {
        f"nAUC_{name}_{fct}": nauc(conf[fct], np.asarray(vals, dtype=np.float64))
        for name, vals in per_query_metrics.items()
        for fct in ("max", "std", "diff1")
    }
    naucs_mrr = {
        f"nAUC_{name}_{fct}": nauc(conf[fct], vals)
        for name, vals in mrr_lists.items()
        for fct in ("max", "std", "diff1")
    }
    out = make_score_dict(
        ndcg=ndcg,
        _map=_map,
        recall=recall,
        precision=precision,
        mrr=mrr,
        naucs=naucs,
        naucs_mrr=naucs_mrr,
        hit_rate=hit_rate,
        task_scores={},
    )
    if main_metric not in out:
        raise ValueError(
            f"main metric {main_metric!r} is not among the retrieval scores ({', '.join(sorted(out)[:8])}, ...)"
        )
    out["main_score"] = out[main_metric]
    return out
