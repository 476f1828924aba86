"""Sub-tasks of aggregate tasks (CQADupstack forums): their scores, shown only on request (``--subtasks``)."""

from __future__ import annotations

import pandas as pd

from .frame import MAIN_CELL, select_cell
from .table import ReportTable, make_table


def subtask_table(sub: pd.DataFrame, cell: tuple[str, str] = MAIN_CELL) -> ReportTable | None:
    """Per aggregate task, its sub-tasks' scores x100 (rows: run, mode; columns: sub-tasks), at one cell."""
    sel = select_cell(sub, cell)
    if sel.empty:
        return None
    frames = []
    for agg, g in sel.groupby("aggregate", sort=True):
        wide = g.pivot_table(index=["run", "mode"], columns="task", values="score", aggfunc="first") * 100
        wide.insert(0, "Mean", wide.mean(axis=1, skipna=False))
        wide = wide.reset_index()
        wide.insert(0, "Aggregate", agg)
        frames.append(wide)
    frame = pd.concat(frames, ignore_index=True).rename(columns={"run": "Run", "mode": "Mode"})
    score_cols = [c for c in frame.columns if c not in ("Aggregate", "Run", "Mode")]
    return make_table(
        "subtasks",
        f"Sub-tasks of aggregate tasks ({cell[0]} dim, {cell[1]})",
        frame,
        best_max=score_cols,
        notes=[
            "Each aggregate's main score is the mean of its sub-tasks' (mteb's AbsTaskAggregate); the other "
            "tables show the aggregate only. Mean is empty where a sub-task result is missing."
        ],
    )
