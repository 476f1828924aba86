"""Main scores: which splits and subsets a result was scored on, and the mean of its main scores there."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def scored_selection(data: Mapping[str, Any]) -> tuple[list[str], list[str] | None]:
    """(splits, hf_subsets or None for all) a result was evaluated on, as its leafbench block records them.

    mteb task results record ``eval_splits`` and ``hf_subsets`` (a benchmark's task object restricts both);
    retrieval results record their one ``split`` (and ``hf_subsets`` for multi-subset tasks). A result that
    records no split is read only when it holds a single one: a file with several and no record (written
    before leafbench recorded them) is ambiguous and refused rather than read at "the first split it finds".
    """
    lb = data.get("leafbench") or {}
    return selection(
        data["scores"], lb.get("eval_splits"), lb.get("split"), lb.get("hf_subsets"), data.get("task_name")
    )


def selection(
    scores: Mapping[str, Any], eval_splits: Any, split: Any, hf_subsets: Any, task_name: Any = None
) -> tuple[list[str], list[str] | None]:
    """:func:`scored_selection` from the block's recorded fields (a ResultRecord's ``eval_splits``, ``split``,
    ``hf_subsets``) and the result's ``scores``."""
    subsets = [str(s) for s in hf_subsets] if hf_subsets else None
    if eval_splits:
        splits = [str(s) for s in eval_splits]
    elif split in scores:
        splits = [split]
    elif len(scores) == 1:
        splits = list(scores)
    else:
        raise ValueError(
            f"{task_name}: scores for splits {sorted(scores)} but no record of which were evaluated "
            "(a result written before leafbench recorded eval_splits); re-run the task"
        )
    return splits, subsets


SCORE_RANGE = (-1.0, 1.0)  # mteb's main scores: rates and correlations (a correlation can be negative)


def real_score(value: Any, key: str = "main_score") -> float:
    """A main score as a float, or ValueError naming `key`: NaN, infinities, strings, booleans and values outside
    :data:`SCORE_RANGE` are not scores, and must never be shown, ranked or pass a regression check."""
    lo, hi = SCORE_RANGE
    # A comparison is False for NaN, so the range test also refuses NaN (and ±inf, and huge ints without overflow).
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise ValueError(f"{key} is {value!r}: a main score must be a finite number in [{lo:g}, {hi:g}]")
    return float(value)


def main_score(
    data: Mapping[str, Any],
    split: str | None = None,
    *,
    splits: list[str] | None = None,
    hf_subsets: list[str] | None = None,
) -> float:
    """A result's main score, the mean over its (split, hf subset) entries as mteb's TaskResult.get_score
    aggregates them, over the splits and subsets the result records as evaluated (``scored_selection``).

    `split` (one) or `splits` and `hf_subsets` pick another selection, e.g. a benchmark's: every selected
    split must be present, and so must every selected subset in each of them (ValueError otherwise), and each
    score read must be a :func:`real_score` (ValueError naming its key).
    """
    rec_splits, rec_subsets = scored_selection(data)
    want_splits = [split] if split else (splits or rec_splits)
    want_subsets = hf_subsets if hf_subsets is not None else rec_subsets
    return mean_score(data["scores"], data.get("task_name"), want_splits, want_subsets)


def mean_score(scores: Mapping[str, Any], task_name: Any, splits: list[str], hf_subsets: list[str] | None) -> float:
    """The mean main score over `splits` (each must be present) and `hf_subsets` (None: all; each must be
    present in every split), every value a :func:`real_score`; ValueError otherwise."""
    values: list[float] = []
    for sp in splits:
        if sp not in scores:
            raise ValueError(f"{task_name}: no scores for split {sp!r} (has {sorted(scores)})")
        entries = list(enumerate(scores[sp]))
        if hf_subsets is not None:
            have = {str(e.get("hf_subset")) for _, e in entries}
            lacking = [s for s in hf_subsets if s not in have]
            if lacking:
                raise ValueError(f"{task_name}: split {sp!r} has no scores for subset(s) {lacking}")
            entries = [(i, e) for i, e in entries if str(e.get("hf_subset")) in hf_subsets]
        values += [real_score(e["main_score"], f"scores.{sp}[{i}].main_score") for i, e in entries]
    if not values:
        raise ValueError(f"{task_name}: no scores for split(s) {splits}")
    return float(sum(values) / len(values))
