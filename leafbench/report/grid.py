"""Dims x dtypes: one run's mean score per (mode, dim) and dtype, over the tasks measured in every cell."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd

from ..cells import DTYPES
from ..modes import MODE_ORDER
from .table import ReportTable, make_table, slug


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
    """One dims x dtypes table per (run, task type): rows (mode, dim), columns dtypes, mean over that type's
    tasks with every cell, so a sweep on STS is never averaged with a different grid on retrieval. The retrieval
    grids of the runs in `fold_retrieval` are marked collapsed (a deployment table shows their scores)."""
    out = []
    for run in sorted(df["run"].unique()):
        g_run = df[df["run"] == run]
        types = sorted(g_run["task_type"].unique())
        for ttype in types:
            g = g_run[g_run["task_type"] == ttype]
            if g[["dim_label", "dtype"]].drop_duplicates().shape[0] < 2:
                continue
            tasks = tasks_with_all_cells(g)
            grid = cell_grid(g, run, tasks)
            frame = grid.reset_index().rename(columns={"mode": "Mode", "dim_label": "Dim"})
            full = (
                grid.xs("full", level="dim_label")["float32"]
                if "float32" in grid.columns and "full" in grid.index.get_level_values(1)
                else None
            )
            notes = [
                f"Main score x100, mean over {', '.join(sorted(tasks))}. Dims: Matryoshka truncation then "
                "re-normalisation; int8 calibrated on the corpus (retrieval) or on each encode call's own "
                "per-dimension ranges (other task types); binary scored by Hamming distance (retrieval) or by the "
                "cosine of ±1 vectors, 1 - 2·Hamming/dim (other task types; mteb's CompressionWrapper uses 0/1 "
                "vectors and no re-normalisation: those cells carry the variant mteb)."
            ]
            if full is not None:
                ret = [f"{m} {full.get(m, np.nan):.2f}" for m in MODE_ORDER if m in full.index]
                notes.append("full float32 reference: " + ", ".join(ret))
            key = f"cells-{run}" if len(types) == 1 else f"cells-{run}-{slug(ttype)}"
            title = f"Dims x dtypes: {run}" + ("" if len(types) == 1 else f", {ttype} ({len(tasks)} tasks)")
            t = make_table(key, title, frame, notes=notes)
            t.collapsed = ttype == "Retrieval" and run in fold_retrieval
            out.append(t)
    return out
