"""mteb benchmarks: each task scored on the benchmark's own splits and subsets (:func:`benchmark_score`, what the
report's leaderboard averages), and :func:`benchmark_board`, a benchmark's rows with per-type means over what each
row has, coverage and a Borda rank as the MTEB leaderboard ranks models (docs/results.md's MTEB table; the report
prints one mean per benchmark, over one task set, in its leaderboard).
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd

from ..record import ResultRecord
from .frame import MAIN_CELL, select_cell


@cache
def benchmark_task_types(name: str) -> tuple[tuple[str, str], ...]:
    """(task, type) of an mteb benchmark in its own order (empty if mteb cannot list it)."""
    try:
        import mteb

        return tuple((t.metadata.name, str(t.metadata.type)) for t in mteb.get_benchmark(name).tasks)
    except Exception:  # noqa: BLE001
        return ()


@cache
def benchmark_selection(name: str) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """task -> (eval splits, hf subsets) as an mteb benchmark configures its task objects (MTEB(eng, v2):
    AmazonCounterfactualClassification = ("test",), ("en",)); empty if mteb cannot list the benchmark."""
    try:
        import mteb

        return {
            t.metadata.name: (tuple(t.eval_splits), tuple(t.hf_subsets or ("default",)))
            for t in mteb.get_benchmark(name).tasks
        }
    except Exception:  # noqa: BLE001
        return {}


def benchmark_score(row: pd.Series, benchmark: str, own_splits: bool = False) -> float:
    """A result's main score on the benchmark's own splits and subsets (NaN when the result lacks one of them:
    it was not measured on what the benchmark scores). `own_splits`: on the splits the result ran instead (a
    result on another split is a protocol of its own, ``split=train``), with the benchmark's subsets."""
    sel = benchmark_selection(benchmark).get(row["task"])
    rec = row.get("record")
    if sel is None or not isinstance(rec, ResultRecord):
        return float("nan")
    try:
        return rec.score_on([] if own_splits else list(sel[0]), list(sel[1]))
    except (ValueError, KeyError, TypeError):
        return float("nan")


def borda(scores: pd.DataFrame) -> pd.Series:
    """Borda count as the MTEB leaderboard ranks models: per task, a row earns one point per row it beats
    (ties split the points); points are summed over tasks. Rows are expected to share the task columns."""
    points = scores.rank(axis=0, method="average", ascending=True) - 1
    return points.sum(axis=1, skipna=True)


def benchmark_board(df: pd.DataFrame, benchmark: str, cell: tuple[str, str] = MAIN_CELL) -> pd.DataFrame:
    """One row per (run, mode) with full-data results on `benchmark`'s tasks: per-task scores x100, per-type
    means, Mean(Task) and Mean(TaskType) over what each row has, coverage, and a Borda rank.

    Borda is computed among the rows with at least half the tasks of the best-covered row, over the tasks all
    of them have (so missing tasks neither help nor hurt); Mean(*) over a partial task list is flagged by
    `n_tasks` < the benchmark's size.
    """
    spec = benchmark_task_types(benchmark)
    if not spec:
        return pd.DataFrame()
    names = [t for t, _ in spec]
    types = dict(spec)
    sel = select_cell(df, cell)
    sel = sel[(sel["protocol"] == "full") & sel["task"].isin(names)].copy()
    if sel.empty:
        return pd.DataFrame()
    # Each task's score on the benchmark's own splits and subsets (not the result's: a run of the plain task
    # also holds other splits/subsets, which the benchmark does not average in).
    sel["score"] = [benchmark_score(r, benchmark) for _, r in sel.iterrows()]
    sel = sel[sel["score"].notna()]
    if sel.empty:
        return pd.DataFrame()
    wide = sel.pivot_table(index=["run", "mode"], columns="task", values="score", aggfunc="first") * 100
    wide = wide.reindex(columns=[t for t in names if t in wide.columns])
    out = wide.copy()
    type_names = sorted({types[t] for t in wide.columns})
    for t in type_names:
        out[f"Mean({t})"] = wide[[c for c in wide.columns if types[c] == t]].mean(axis=1, skipna=True)
    out["Mean(Task)"] = wide.mean(axis=1, skipna=True)
    out["Mean(TaskType)"] = out[[f"Mean({t})" for t in type_names]].mean(axis=1, skipna=True)
    out["n_tasks"] = n = wide.notna().sum(axis=1)
    out["n_benchmark"] = len(names)
    # Rows with under half the tasks of the best-covered row (e.g. a 2-task check of a distilled student) are
    # not ranked, so they cannot shrink the task set the other rows are compared on.
    ranked = n >= n.max() / 2
    common = [c for c in wide.columns if wide.loc[ranked, c].notna().all()]
    out["Borda"] = borda(wide.loc[ranked, common]).reindex(out.index) if common else np.nan
    out["Rank"] = out["Borda"].rank(ascending=False, method="min") if common else np.nan
    out.attrs.update(
        benchmark=benchmark, common=common, types=types, missing=[t for t in names if t not in wide.columns]
    )
    return out.sort_values(["Rank", "Mean(Task)"], ascending=[True, False])
