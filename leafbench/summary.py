"""The summary `leafbench run` prints: one row per (mode, cell), main score x100 per task (or per task type),
read back from the result files, so it shows what is on disk, reused cells included."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .cells import Cell
from .record import read_record, result_path

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["summary_rows", "as_table"]


def summary_rows(
    output: Path,
    run: str,
    tasks: Sequence[str],
    modes: Sequence[str],
    cells: Sequence[Cell],
    types: dict[str, str] | None = None,
    max_task_columns: int = 6,
) -> tuple[str, list[str], list[list[str]]]:
    """(title, columns, rows) of the leaderboard-style summary: one row per (mode, cell), main score x100 per
    task; with more than `max_task_columns` tasks, per-type means instead (the report has every task)."""
    types = types or {}
    by_type = len(tasks) > max_task_columns and bool(types)
    type_names = sorted({types.get(t, "?") for t in tasks})
    title = f"{run}: main score x100 (nDCG@10 for retrieval)" + (", mean per task type" if by_type else "")
    columns = ["mode"] + (["dim", "dtype"] if len(cells) > 1 else [])
    columns += [f"Mean({t})" for t in type_names] if by_type else list(tasks)
    columns += ["Mean(Task)" if by_type else "mean", "queries/s", "docs/s"]
    rows: list[list[str]] = []
    for m in modes:
        for cell in cells:
            vals, qps, dps, dim = _read_cell(output, run, m, tasks, cell)
            row = [m] + ([str(dim or cell.dim or "full"), _dtype(cell)] if len(cells) > 1 else [])
            if by_type:
                row += [_type_mean(vals, [t for t in tasks if types.get(t, "?") == tn]) for tn in type_names]
            else:
                row += [f"{vals[t]:.2f}" if t in vals else "-" for t in tasks]
            row.append(_mean(list(vals.values()), len(tasks)))
            rows.append(row + [_fmt_rate(qps), _fmt_rate(dps)])
    return title, columns, rows


def _read_cell(
    output: Path, run: str, mode: str, tasks: Sequence[str], cell: Cell
) -> tuple[dict[str, float], float | None, float | None, int | None]:
    """One (mode, cell)'s main scores x100 by task, and the last result's throughput and dim."""
    vals: dict[str, float] = {}
    qps = dps = dim = None
    for t in tasks:
        p = result_path(output, run, mode, t, cell.file_label)
        if not p.exists():
            continue
        rec = read_record(p)
        vals[t] = 100 * float(rec.main_score or 0.0)
        if rec.throughput:
            qps, dps = rec.texts_per_s("query"), rec.texts_per_s("document")
        dim = rec.dim
    return vals, qps, dps, dim


def _dtype(cell: Cell) -> str:
    return cell.dtype + (f" ({cell.variant})" if cell.variant else "")


def _type_mean(vals: dict[str, float], tasks: Sequence[str]) -> str:
    got = [vals[t] for t in tasks if t in vals]
    if not got:
        return "-"
    return f"{sum(got) / len(got):.2f}" + ("" if len(got) == len(tasks) else f" ({len(got)}/{len(tasks)})")


def _mean(done: list[float], n: int) -> str:
    if not done:
        return "-"
    return f"{sum(done) / len(done):.2f}" + ("" if len(done) == n else f" ({len(done)}/{n} tasks)")


def as_table(title: str, columns: list[str], rows: list[list[str]]) -> "Table":
    """`summary_rows`' output as a rich Table (what `leafbench run` prints) that `print()` and `str()` render as
    plain text too, for scripts and notebooks."""
    from rich.table import Table

    class SummaryTable(Table):
        def __str__(self) -> str:
            import io

            from rich.console import Console

            con = Console(file=io.StringIO(), width=240, color_system=None, record=True)
            con.print(self)
            return con.export_text().rstrip() + "\n"

    table = SummaryTable(title=title)
    cell_columns = columns[1:3] == ["dim", "dtype"]  # a grid of cells: mode, dim, dtype lead each row
    for i, c in enumerate(columns):
        if i == 0 or (cell_columns and i == 2):
            table.add_column(c)
        elif c in ("mean", "Mean(Task)"):
            table.add_column(c, justify="right", style="bold")
        else:
            table.add_column(c, justify="right")
    for row in rows:
        table.add_row(*row)
    return table


def _fmt_rate(v: float | None) -> str:
    return f"{v:,.1f}" if v else "-"
