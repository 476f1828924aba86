"""Dims x dtypes: one run's mean score per (mode, dim) and dtype on one benchmark, over the benchmark's tasks
measured in every cell, averaged as the leaderboard averages that benchmark (the report prints one kind of mean
per benchmark)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd

from ..cells import DTYPES
from ..modes import MODE_ORDER
from .compare import BENCHMARK_ORDER, OTHER_MTEB, USER
from .leaderboard import benchmark_groups
from .table import ReportTable, make_table, slug

RETRIEVAL = "Retrieval"
CELL_NOTE = (
    "Dims: Matryoshka truncation then re-normalisation; int8 calibrated on the corpus (retrieval) or on each encode "
    "call's own per-dimension ranges (other task types); binary scored by Hamming distance (retrieval) or by the "
    "cosine of ±1 vectors, 1 - 2·Hamming/dim (other task types; mteb's CompressionWrapper uses 0/1 vectors and no "
    "re-normalisation: those cells carry the variant mteb)."
)


def tasks_with_all_cells(g: pd.DataFrame) -> list[str]:
    """The tasks with the most (dim, dtype) cells: a grid averages only tasks measured in every one of its cells."""
    n = g.groupby("task").size()
    return n[n == n.max()].index.tolist()


def cell_grid(df: pd.DataFrame, run: str, tasks: Sequence[str] | None = None) -> pd.DataFrame:
    """Scores x100 for one run: index (mode, dim), columns dtypes; mean over `tasks` (default: all with every cell)."""
    g = df[df["run"] == run]
    if tasks is None:
        tasks = tasks_with_all_cells(g)
    g = g[g["task"].isin(tasks)]
    m = g.groupby(["mode", "dim_label", "dtype"])["score"].mean() * 100
    grid = m.unstack("dtype")
    dtypes = [d for d in DTYPES if d in grid.columns]
    grid = grid.reindex(columns=dtypes + [c for c in grid.columns if c not in dtypes])
    key = [
        (MODE_ORDER.index(mo) if mo in MODE_ORDER else 9, -1e12 if d == "full" else -int(d) if d.isdigit() else 0)
        for mo, d in grid.index
    ]
    return grid.iloc[sorted(range(len(key)), key=key.__getitem__)]


def cell_tables(df: pd.DataFrame, fold_retrieval: Collection[str] = ()) -> list[ReportTable]:
    """One dims x dtypes table per (run, benchmark), tasks grouped and scored as the leaderboard groups and scores
    them (benchmark_groups): each cell is one benchmark's mean, never a mean across benchmarks or data protocols.
    The grids of the runs in `fold_retrieval` whose tasks are all retrieval are marked collapsed (a deployment
    table shows those scores)."""
    proto = df["protocol"] if "protocol" in df else pd.Series("full", index=df.index)
    spans = proto.groupby(df["run"]).nunique()  # 1 for every run: load_results names a run per data protocol
    found = []
    for p in sorted(set(proto)):
        d = df[proto == p]
        groups = benchmark_groups(d, sorted(set(d["task"])))
        for run in sorted(set(d["run"])):
            label = run if spans[run] == 1 else f"{run} [{p}]"
            for name, size, _, rows in groups:
                g = rows[rows["run"] == run]
                if g[["dim_label", "dtype"]].drop_duplicates().shape[0] >= 2:
                    found.append((run, label, name, size, g))
    n_grids = Counter(f[1] for f in found)
    out = []
    for run, label, name, size, g in sorted(found, key=lambda f: f[1]):  # stable: benchmark order within a run
        tasks = sorted(tasks_with_all_cells(g))
        key = f"cells-{label}" if n_grids[label] == 1 else f"cells-{label}-{slug(name)}"
        t = _grid_table(g, label, name, size, tasks, key)
        t.collapsed = run in fold_retrieval and bool(g.loc[g["task"].isin(tasks), "task_type"].eq(RETRIEVAL).all())
        out.append(t)
    return out


def _grid_table(g: pd.DataFrame, label: str, name: str, size: int | None, tasks: list[str], key: str) -> ReportTable:
    """One run's grid on one benchmark's `tasks`; the notes say which mean a cell is, so it is not read as another."""
    grid = cell_grid(g, g["run"].iloc[0], tasks)
    frame = grid.reset_index().rename(columns={"mode": "Mode", "dim_label": "Dim"})
    scored = f"each task's main score on {name}'s own splits and subsets" if size else "each task's main score"
    notes = [
        f"Scores x100 ({scored}). Each cell is the {name} mean over {', '.join(tasks)}, the tasks measured in every "
        f"cell, computed as the leaderboard computes a benchmark mean (Mean(Task)): a mode's full-dim float32 cell "
        f"equals its leaderboard {name} mean when that mean is over the same tasks (the leaderboard's notes list them).",
        CELL_NOTE,
    ]
    if "float32" in grid.columns and "full" in grid.index.get_level_values(1):
        full = grid.xs("full", level="dim_label")["float32"]
        notes.append(
            "full float32 reference: "
            + ", ".join(f"{m} {full.get(m, np.nan):.2f}" for m in MODE_ORDER if m in full.index)
        )
    title = f"Dims x dtypes: {label}, {name} ({len(tasks)} task{'' if len(tasks) == 1 else 's'})"
    return make_table(key, title, frame, notes=notes)


def first_grid(run: str, keys: Sequence[str]) -> str | None:
    """The first of `keys` (table order) that is one of `run`'s grids: `cells-<run>`, or `cells-<run>-<benchmark>`
    when the run has grids on several benchmarks, so the run's figures (placed after `cells-<run>`) still follow
    its grids."""
    names = {f"cells-{run}", *(f"cells-{run}-{slug(n)}" for n in (*BENCHMARK_ORDER, OTHER_MTEB, USER))}
    return next((k for k in keys if k in names), None)
