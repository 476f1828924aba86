"""The report's one leaderboard: per data protocol, one row per system (who encodes queries, who encodes
documents), MTEB's model columns and one mean per benchmark (:func:`leaderboards`), rendered with the per-task
tables those means average (:func:`leaderboard_table`, :func:`per_task_tables`).

Every benchmark mean the report prints is computed here, once. A benchmark's mean is over one task set, named
in its header and the same for every row with a number in the column: the tasks every row with more than half
the benchmark's tasks of the best-covered row has. A row lacking one of them shows – and a note names what it
lacks, never a mean over fewer tasks, so one (model, benchmark, data protocol) never shows two means. Tasks in
no benchmark the report knows form "Other mteb tasks" and "Your datasets", each averaged the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..record import ResultRecord
from .benchmarks import benchmark_score, benchmark_task_types
from .bootstrap import format_rank, rank_ranges
from .compare import (
    BENCHMARK_ORDER,
    OTHER_MTEB,
    USER,
    benchmark_of,
    shown_systems,
    significance,
    system_key,
    system_labels,
    wide_scores,
)
from .model_meta import COLUMNS as MODEL_COLUMNS
from .model_meta import params_text
from .table import MISSING, ReportTable, make_table, slug


@dataclass
class BenchmarkMean:
    """One benchmark's mean column of a leaderboard, and the per-task scores it averages."""

    name: str  # "MTEB(eng, v2)", "BEIR", or a group of tasks in no benchmark ("Your datasets")
    size: int | None  # the benchmark's number of tasks; None for a group that is not an mteb benchmark
    tasks: list[str]  # what every number in the column averages, in the benchmark's order
    scores: pd.DataFrame  # system key x the benchmark's tasks with a result here, x100 (its own splits/subsets)
    inherited: pd.DataFrame  # bool, same shape: an asymmetric row's score that is its student's (no document side)
    mean: pd.Series  # per system key; NaN where the row lacks one of `tasks`
    lacking: dict[str, list[str]]  # system key -> the tasks of `tasks` it has no result for

    @property
    def header(self) -> str:
        k = len(self.tasks)
        of = f"{k} of {self.size}" if self.size else f"{k}"
        return f"{self.name} mean ({of} task{'' if (self.size or k) == 1 else 's'})"


@dataclass
class Leaderboard:
    """One data protocol's ranking: rows = systems, ranked by `means[0]` (the mean over the most tasks)."""

    protocol: str
    labels: dict[str, tuple[str, str]]  # system key -> (model label, mode)
    means: list[BenchmarkMean]  # the rank column first
    order: list[str]  # system keys as displayed: ranked rows, then the others
    ranks: dict[str, tuple[int, int]]  # rank range of each ranked row
    method: str  # what the rank ranges resampled: "queries", "tasks", "mixed", "partial" or "none"
    n_tasks: dict[str, int]  # tasks with a result per system (of n_all)
    n_all: int
    tested: list[str] = field(default_factory=list)  # method "partial": the tasks the test resampled


# --------------------------------------------------------------------------------------- computing


def _groups(tasks: Sequence[str], types: dict[str, str]) -> list[tuple[str, int | None, list[str]]]:
    """(name, size, tasks here in the benchmark's order) per benchmark with a result here, then the groups of
    tasks in none of them. A task may count in two benchmarks (FiQA2018: BEIR and MTEB(eng, v2)), as in mteb."""
    out, placed = [], set()
    for name in BENCHMARK_ORDER:
        spec = [t for t, _ in benchmark_task_types(name)]
        mine = [t for t in spec if t in tasks]
        if mine:
            out.append((name, len(spec), mine))
            placed.update(mine)
    for name in (OTHER_MTEB, USER):
        rest = sorted(
            (t for t in tasks if t not in placed and benchmark_of(t, types[t]) == name), key=lambda t: (types[t], t)
        )
        if rest:
            out.append((name, None, rest))
    return out


def _score_on(row: pd.Series, benchmark: str) -> float:
    """A cell's score as `benchmark` counts it: on the benchmark's own splits and subsets (NaN when the result
    lacks them; a protocol on another split: that split, with the benchmark's subsets); the main score for a group
    that is not an mteb benchmark, or a frame without records."""
    if benchmark in BENCHMARK_ORDER and isinstance(row.get("record"), ResultRecord):
        return benchmark_score(row, benchmark, own_splits="split=" in str(row["protocol"]))
    return float(row["score"])


def _task_set(wide: pd.DataFrame) -> list[str]:
    """The tasks a benchmark's mean is over: those every row with more than half the tasks of the best-covered row
    has (a row with half of them cannot halve the set); else those the best-covered rows share; else the task
    most rows have."""
    n = wide.notna().sum(axis=1)
    n = n[n > 0]
    if n.empty:
        return []
    for rows in (n.index[n > n.max() / 2], n.index[n == n.max()]):
        shared = [t for t in wide.columns if wide.loc[rows, t].notna().all()]
        if shared:
            return shared
    return [str(wide.notna().sum().idxmax())]


def benchmark_groups(c: pd.DataFrame, tasks: Sequence[str]) -> list[tuple[str, int | None, list[str], pd.DataFrame]]:
    """(name, size, tasks, rows) per group of `tasks` (_groups): the rows of `c` on the group's tasks, each `score`
    as the benchmark counts it (_score_on), rows without one dropped. Tasks no row has on a benchmark's own splits
    and subsets (a result of another subset only) join "Other mteb tasks", last, with their main score, rather than
    vanishing. The leaderboard and the dims x dtypes grids group and score tasks with this one function, so a grid's
    full-dim float32 cell is the leaderboard's benchmark mean whenever both average the same tasks."""
    types = dict(zip(c["task"], c["task_type"]))
    out = []
    for name, size, ts in _groups(tasks, types):
        sub = c[c["task"].isin(ts)].copy()
        sub["score"] = [_score_on(r, name) for _, r in sub.iterrows()]
        out.append((name, size, ts, sub[sub["score"].notna()]))
    seen = {t for *_, sub in out for t in sub["task"]}
    orphans = [t for t in tasks if t not in seen]
    if orphans:
        others = next((g for g in out if g[0] == OTHER_MTEB), None)
        extra = [] if others is None else [t for t in others[2] if t in set(others[3]["task"])]
        rows = c[c["task"].isin(extra + orphans)].copy()
        rows["score"] = [_score_on(r, OTHER_MTEB) for _, r in rows.iterrows()]
        out = [g for g in out if g[0] != OTHER_MTEB]
        out.append((OTHER_MTEB, None, extra + orphans, rows[rows["score"].notna()]))
    return out


def _benchmark_mean(sub: pd.DataFrame, name: str, size: int | None, tasks: list[str], keys: list[str]) -> BenchmarkMean:
    """The mean column of one group from its scored rows (benchmark_groups): Mean(Task) over _task_set."""
    if sub.empty:
        return BenchmarkMean(name, size, [], pd.DataFrame(index=keys), pd.DataFrame(index=keys), pd.Series(), {})
    wide, inherited, _ = wide_scores(sub, keys)
    cols = [t for t in tasks if t in wide.columns]
    wide, inherited = wide.reindex(columns=cols), inherited.reindex(columns=cols, fill_value=False)
    chosen = _task_set(wide)
    have = wide[chosen].notna().all(axis=1) if chosen else pd.Series(False, index=wide.index)
    mean = wide[chosen].mean(axis=1).where(have) if chosen else pd.Series(np.nan, index=wide.index)
    lacking = {k: [t for t in chosen if pd.isna(wide.at[k, t])] for k in keys if not have[k]}
    return BenchmarkMean(name, size, chosen, wide, inherited.astype(bool), mean, lacking)


def _means(c: pd.DataFrame, tasks: list[str], keys: list[str]) -> list[BenchmarkMean]:
    """One BenchmarkMean per group of `tasks` (benchmark_groups), the rank column first: the mean over the most
    tasks (ties: the one more rows have, then the benchmark order)."""
    means = [_benchmark_mean(sub, name, size, ts, keys) for name, size, ts, sub in benchmark_groups(c, tasks)]
    means = [m for m in means if m.tasks]
    best = max(range(len(means)), key=lambda i: (len(means[i].tasks), int(means[i].mean.notna().sum()), -i))
    return [means[best], *means[:best], *means[best + 1 :]]


def leaderboard(c: pd.DataFrame, seed: int = 0) -> Leaderboard | None:
    """The leaderboard of one data protocol's cells (compare.cells): rows = systems (an asymmetric one only where
    it differs from its student somewhere), one BenchmarkMean per benchmark, ranked by the mean over the most
    tasks (ties: the one more rows have) with bootstrap rank ranges."""
    if c.empty:
        return None
    protos = set(c["protocol"])
    if len(protos) != 1:
        raise ValueError(f"one data protocol per leaderboard, got {sorted(protos)}")
    c = c.assign(col=c["task"], key=[system_key(q, d) for q, d in zip(c["query_id"], c["document_id"])])
    wide, inherited, pq = wide_scores(c)
    keys = shown_systems(wide, inherited)
    labels = system_labels(c)
    means = _means(c, list(wide.columns), keys)
    top = means[0]
    ranked = sorted((k for k in keys if pd.notna(top.mean[k])), key=lambda k: (-top.mean[k], labels[k]))
    pq_cols = [t for t in top.tasks if all((k, t) in pq for k in ranked)]
    better, methods = significance(top.scores, pq, ranked, top.tasks, seed, pq_cols)
    rr = rank_ranges(better) if ranked else []
    idx = sorted(range(len(ranked)), key=lambda i: (rr[i], -top.mean[ranked[i]]))
    ranked, rr = [ranked[i] for i in idx], [rr[i] for i in idx]
    n = wide.loc[keys].notna().sum(axis=1)

    def rest_key(k: str) -> tuple[Any, ...]:
        return (*(-m.mean[k] if pd.notna(m.mean[k]) else math.inf for m in means[1:]), -n[k], labels[k])

    rest = sorted((k for k in keys if k not in ranked), key=rest_key)
    method = methods.pop() if len(methods) == 1 else ("mixed" if methods else "none")
    return Leaderboard(
        str(protos.pop()),
        {k: labels[k] for k in keys},
        means,
        ranked + rest,
        dict(zip(ranked, rr)),
        method,
        {k: int(n[k]) for k in keys},
        len(wide.columns),
        pq_cols if method == "partial" else [],
    )


def leaderboards(c: pd.DataFrame, seed: int = 0) -> list[Leaderboard]:
    """One leaderboard per data protocol of a cells frame, full data first: a subset score never shares a table,
    a column or a mean with a full one."""
    protos = sorted(set(c["protocol"]), key=lambda p: (p != "full", str(p)))
    boards = [leaderboard(c[c["protocol"] == p], seed) for p in protos]
    return [b for b in boards if b is not None]


# --------------------------------------------------------------------------------------- rendering


def data_text(protocol: str) -> str:
    return "full data" if protocol == "full" else f"data {protocol}"


MANY = 5  # rows lacking the same tasks from which a note counts them instead of naming them
HOW = {
    "queries": "resampling each task's queries",
    "tasks": "resampling tasks (per-query scores missing)",
    "mixed": "resampling queries where per-query scores exist for both rows, else tasks",
    "none": "not testable here (no per-query scores, under 5 tasks): rows share ranks",
}


def _lacking_notes(b: Leaderboard, m: BenchmarkMean) -> list[str]:
    """ "MTEB(eng, v2) mean (11 of 41 tasks) –: a, b lack X, Y", one sentence per set of lacking tasks (one
    sentence for all rows without a number when they all lack the same tasks and are many)."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for k in b.order:
        if k in m.lacking:
            groups.setdefault(tuple(m.lacking[k]), []).append(b.labels[k][0])
    out = []
    for lack, who in groups.items():
        what = "all of them" if len(lack) == len(m.tasks) > 1 else ", ".join(lack)
        if len(groups) == 1 and len(who) > MANY:
            out.append(f"{m.header} –: the {len(who)} rows without a number all lack {what}.")
        else:
            out.append(f"{m.header} –: {', '.join(who)} {'lacks' if len(who) == 1 else 'lack'} {what}.")
    return out


def _notes(b: Leaderboard, where: str) -> list[str]:
    top = b.means[0]
    how = HOW.get(
        b.method,
        f"resampling the queries of {', '.join(b.tested)} only: the other tasks store no "
        "per-query scores and are too few to resample",
    )
    notes = [
        f"Rank: by {top.header}, the benchmark mean over the most tasks. a–b: a = 1 + rows significantly better, "
        f"b = n − rows significantly worse (95% paired bootstrap of the difference of that mean, {how}); rows "
        "whose intervals include 0 share ranks. Rows without that mean follow, unranked.",
        f"Scores x100 at {where}, each task's main score on the benchmark's own splits and subsets. Each mean "
        "averages the same tasks in every row; a row lacking one of them shows –, never a mean over fewer tasks. "
        "This is the one place a benchmark mean is printed: the per-task tables below and Table 1 show the scores.",
    ]
    for m in b.means:
        public = f"; not the public {m.name} mean ({m.size} tasks)" if m.size and len(m.tasks) < m.size else ""
        notes.append(f"{m.header}: over {', '.join(m.tasks)}{public}.")
        notes += _lacking_notes(b, m)
    if any(m.inherited.to_numpy().any() for m in b.means):
        notes.append("Asymmetric rows: a task without a document side counts with the student's own score there.")
    return notes


def leaderboard_table(b: Leaderboard, key: str, where: str, info: dict[str, dict[str, Any]]) -> ReportTable:
    """The ranked table: rank, model, mode, MTEB's model columns (model_meta.system_columns), one mean per
    benchmark (the rank column first), tasks with a result."""
    rows = []
    for k in b.order:
        label, mode = b.labels[k]
        row: dict[str, Any] = {"Rank": b.ranks[k][0] if k in b.ranks else np.nan, "Model": label, "Mode": mode}
        row.update({c: (info.get(k) or {}).get(c) for c in MODEL_COLUMNS})
        row.update({m.header: m.mean[k] for m in b.means})
        row["Tasks"] = f"{b.n_tasks[k]}/{b.n_all}"
        rows.append(row)
    frame = pd.DataFrame(rows)
    title = f"Leaderboard: {data_text(b.protocol)} ({where})"
    classes = ["" if k in b.ranks else "incomplete" for k in b.order]
    t = make_table(key, title, frame, best_max=[m.header for m in b.means], row_class=classes, notes=_notes(b, where))
    t.text["Rank"] = [format_rank(b.ranks[k]) if k in b.ranks else MISSING for k in b.order]
    t.text["Params"] = [params_text(v) for v in frame["Params"]]
    for c in ("Dim", "Max tokens", "Memory (MB)"):
        t.text[c] = [f"{int(v):,}" if v is not None and pd.notna(v) else MISSING for v in frame[c]]
    t.filterable = True
    return t


def per_task_tables(b: Leaderboard, key: str) -> list[ReportTable]:
    """Per benchmark with two or more tasks here: the per-task scores its leaderboard mean averages (the mean's
    tasks first, then the others), rows in the leaderboard's order; no mean of their own."""
    out = []
    for m in b.means:
        if len(m.scores.columns) < 2:
            continue
        cols = m.tasks + [t for t in m.scores.columns if t not in m.tasks]
        keys = [k for k in b.order if m.scores.loc[k].notna().any()]
        n = len(m.scores.columns) if m.size is None else m.size
        frame = pd.DataFrame(
            [
                {"Model": b.labels[k][0], "Mode": b.labels[k][1], "Tasks": f"{int(m.scores.loc[k].notna().sum())}/{n}"}
                | {t: m.scores.at[k, t] for t in cols}
                for k in keys
            ]
        )
        t = make_table(f"{key}-{slug(m.name)}", f"{m.name} per task, {data_text(b.protocol)}", frame, best_max=cols)
        for i, k in enumerate(keys):
            for c in cols:
                if m.inherited.at[k, c]:
                    t.text.at[i, c] = "="
        t.notes = _per_task_notes(m, cols)
        t.filterable = True
        out.append(t)
    return out


def _per_task_notes(m: BenchmarkMean, cols: Sequence[str]) -> list[str]:
    others = [c for c in cols if c not in m.tasks]
    notes = [
        f"Scores x100, no mean here: the leaderboard's {m.header} averages "
        + (f"the first {len(m.tasks)} columns" if len(m.tasks) > 1 else m.tasks[0])
        + (f"; {', '.join(others)}: not in that mean (a row it averages lacks it)." if others else ".")
    ]
    if m.inherited.to_numpy().any():
        notes.append("= : asymmetric equals the student on this task (no document side); counted in the mean.")
    spec = dict(benchmark_task_types(m.name)) if m.size else {}
    if spec:
        have = {t: sum(1 for c in m.scores.columns if spec.get(c) == t) for t in set(spec.values())}
        total = {t: sum(1 for v in spec.values() if v == t) for t in have}
        notes.append("Coverage by type: " + ", ".join(f"{t} {have[t]}/{total[t]}" for t in sorted(have)))
        missing = [t for t in spec if t not in m.scores.columns]
        if missing:
            notes.append(f"No result in any row ({len(missing)} of {m.size}): " + ", ".join(missing))
    return notes
