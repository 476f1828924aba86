"""Paired bootstrap over queries: 95% intervals for score deltas measured on the same queries.

Why paired: asym − sym, student − teacher and candidate − baseline are all computed on one query set, so
resampling query *indices* (the same indices for both systems) cancels the per-query difficulty that
dominates an unpaired interval. Inputs are per-query metric values (e.g. nDCG@10 per query, as pytrec_eval
gives them); a task-level mean over several tasks resamples each task's queries independently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_RESAMPLES = 2000
# Resample indices in blocks so memory stays at block x n_queries, whatever the task size.
_BLOCK = 256


@dataclass(frozen=True)
class Interval:
    """A mean delta with its percentile bootstrap interval (same units as the inputs)."""

    delta: float
    low: float
    high: float
    n: int
    level: float = 0.95

    @property
    def excludes_zero(self) -> bool:
        """True when the interval does not contain 0: the sign of the delta is resolved at this level."""
        return self.low > 0 or self.high < 0

    def format(self, scale: float = 100.0, digits: int = 2) -> str:
        """``+1.23 [−0.40, +2.90]`` in points (scale 100 for scores in 0..1)."""
        d, lo, hi = (v * scale for v in (self.delta, self.low, self.high))
        return f"{d:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]"


def _resampled_means(x: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Means of `n_resamples` bootstrap draws of the rows of `x` ([n] or [n, c]: columns share the draws, so
    paired systems stay paired)."""
    n = x.shape[0]
    out = np.empty((n_resamples, *x.shape[1:]))
    for start in range(0, n_resamples, _BLOCK):
        b = min(_BLOCK, n_resamples - start)
        idx = rng.integers(0, n, size=(b, n))
        out[start : start + b] = x[idx].mean(axis=1)
    return out


def _paired(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two systems' per-query scores on one task as float arrays, checked: equal non-empty 1-d, finite."""
    a_, b_ = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a_.shape != b_.shape or a_.ndim != 1:
        raise ValueError(f"paired scores need equal 1-d shapes, got {a_.shape} and {b_.shape}")
    if a_.size == 0:
        raise ValueError("paired_bootstrap needs at least one query per task")
    if not (np.isfinite(a_).all() and np.isfinite(b_).all()):
        raise ValueError("per-query scores contain NaN or inf")
    return a_, b_


def paired_bootstrap(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    n_resamples: int = DEFAULT_RESAMPLES,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Interval for mean(a) − mean(b), where a[i] and b[i] are two systems' scores on query i."""
    return paired_bootstrap_tasks([(a, b)], n_resamples=n_resamples, level=level, seed=seed)


def paired_bootstrap_tasks(
    pairs: Sequence[tuple[Sequence[float] | np.ndarray, Sequence[float] | np.ndarray]],
    n_resamples: int = DEFAULT_RESAMPLES,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Interval for the mean over tasks of per-task mean deltas (Mean(Task) − Mean(Task)).

    Each task's queries are resampled on their own, so a 6,980-query task does not swamp a 50-query one:
    the statistic is the unweighted task mean, as leaderboards report it.
    """
    if not pairs:
        raise ValueError("paired_bootstrap needs at least one (a, b) pair")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    rng = np.random.default_rng(seed)
    point, draws, n_total = [], np.zeros(n_resamples), 0
    for a, b in pairs:
        a_, b_ = _paired(a, b)
        diff = a_ - b_
        point.append(diff.mean())
        draws += _resampled_means(diff, n_resamples, rng)
        n_total += diff.size
    draws /= len(pairs)
    alpha = (1 - level) / 2
    low, high = np.quantile(draws, [alpha, 1 - alpha])
    return Interval(float(np.mean(point)), float(low), float(high), n_total, level)


def align(a: Mapping[str, float], b: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Per-query dicts → paired arrays over the queries both contain (sorted ids, so runs are reproducible)."""
    common = sorted(set(a) & set(b))
    return (
        np.array([a[q] for q in common], dtype=np.float64),
        np.array([b[q] for q in common], dtype=np.float64),
        common,
    )


def interval_from_per_query(
    a: Mapping[str, float] | None,
    b: Mapping[str, float] | None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Interval | None:
    """Bootstrap two stored per-query blocks; None when either is absent or they share no query."""
    if not a or not b:
        return None
    x, y, common = align(a, b)
    if not common:
        return None
    return paired_bootstrap(x, y, n_resamples=n_resamples, seed=seed)


# ------------------------------------------------------------------ ratios, task-level resampling, ranks


@dataclass(frozen=True)
class RatioInterval:
    """mean(a) / mean(b) with its percentile bootstrap interval (a fraction: 0.95 = 95% of b)."""

    ratio: float
    low: float
    high: float
    n: int
    level: float = 0.95

    def format(self, digits: int = 1) -> str:
        """``95.2 [93.0, 97.1]`` in percent."""
        return f"{100 * self.ratio:.{digits}f} [{100 * self.low:.{digits}f}, {100 * self.high:.{digits}f}]"


def paired_bootstrap_ratio_tasks(
    pairs: Sequence[tuple[Sequence[float] | np.ndarray, Sequence[float] | np.ndarray]],
    n_resamples: int = DEFAULT_RESAMPLES,
    level: float = 0.95,
    seed: int = 0,
) -> RatioInterval | None:
    """Interval for (mean over tasks of mean a) / (mean over tasks of mean b), e.g. student % of teacher.

    Each task's queries are resampled on their own (same indices for a and b, so the pairing is kept); None
    when the denominator can be zero (a teacher scoring 0 everywhere gives no percentage)."""
    if not pairs:
        raise ValueError("paired_bootstrap_ratio_tasks needs at least one (a, b) pair")
    rng = np.random.default_rng(seed)
    num, den = np.zeros(n_resamples), np.zeros(n_resamples)
    pa, pb, n_total = [], [], 0
    for a, b in pairs:
        a_, b_ = _paired(a, b)
        means = _resampled_means(np.stack([a_, b_], axis=1), n_resamples, rng)
        num += means[:, 0]
        den += means[:, 1]
        pa.append(a_.mean())
        pb.append(b_.mean())
        n_total += a_.size
    if np.mean(pb) <= 0 or (den <= 0).any():
        return None
    alpha = (1 - level) / 2
    low, high = np.quantile(num / den, [alpha, 1 - alpha])
    return RatioInterval(float(np.mean(pa) / np.mean(pb)), float(low), float(high), n_total, level)


def rank_ranges(better: np.ndarray) -> list[tuple[int, int]]:
    """(best, worst) rank per row from a significance matrix: better[i, j] = row i is significantly above j.

    Best rank = 1 + rows significantly above it; worst = n − rows significantly below it. Rows whose
    differences are not resolved share ranks, so "1–2" reads: the data cannot order this row and its
    neighbour."""
    better = np.asarray(better, dtype=bool)
    n = len(better)
    if better.shape != (n, n):
        raise ValueError(f"significance matrix must be {n}x{n}, got {better.shape}")
    return [(1 + int(better[:, i].sum()), n - int(better[i, :].sum())) for i in range(n)]


def format_rank(r: tuple[int, int]) -> str:
    """``1`` or ``1–2``."""
    return str(r[0]) if r[0] == r[1] else f"{r[0]}–{r[1]}"
