"""Compute a report once, render it twice: `build_report` → `Report` → `to_markdown` / `to_html` / `save`.

Reading order follows the questions a reader brings: (1) how close is each student to its teacher, per
dataset (the LEAF paper's Table 1 layout, one table per teacher, benchmark and data protocol); (2) which systems
are really better: the leaderboard (leaderboard.py), one per data protocol so a 100-query score never sits in a
column next to a full one, one mean per benchmark (the only place a benchmark mean is printed) and rank ranges from
the bootstrap, then the per-task scores those means average; (3) which dim x dtype to deploy, in which mode
(score, bytes, index size, query latency, the Pareto frontier), then the dims x dtypes grids; (4) speed,
provenance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import compare as cmp
from .bootstrap import Interval
from .deploy import deployment_tables, deployments
from .frame import ReportError, load_folders, pick_main_cell, select_cell
from .grid import cell_tables, first_grid
from .leaderboard import leaderboard_table, leaderboards, per_task_tables
from .model_meta import system_columns
from .provenance import protocol_table
from .reference import reference_table
from .subtasks import subtask_table
from .table import MISSING, ReportTable, fmt, make_table, slug, to_markdown
from .throughput import throughput_table

S_PAIRS = "How close is each student to its teacher"
S_BOARD = "Leaderboard"
S_CELLS = "Deployment: dims x dtypes per mode"
S_MORE = "Speed, references and provenance"
OPEN_TABLE1 = 4  # Table-1 tables shown open; the rest fold away (<details>)

INTROS = {
    S_PAIRS: "The LEAF paper's Table 1, one table per teacher, benchmark and data protocol, students as rows: "
    "columns = the benchmark's datasets with results here; the teacher's row once, then per student "
    "`student`, `asymmetric` (student queries, teacher documents), each cell the score x100 (its % of the "
    "teacher's score in that column [95% CI]), and `asym − student`: what teacher documents add, in points x100 "
    "[95% CI]. CI: paired bootstrap over queries (2,000 resamples) where per-query scores are stored. `= student` "
    "(and – in asym − student): the task has no document side, so asymmetric is the student (a table without "
    "any document side shows student rows only). `% of teacher`: the student's mean over the datasets every row "
    "has as % of the teacher's (the benchmark means themselves are in the Leaderboard); students: best first. "
    "Data `full` = the task's whole test split, first; `100q/300d` = a query/document subset (not comparable to "
    "published numbers), in its own table, never averaged with another protocol.",
    S_CELLS: "Which (dim, dtype) cell to deploy, in which mode: one table per run and mode with two or more cells on "
    "retrieval tasks (every cell scored from one encoding pass: truncated, then quantized), largest vectors first. "
    "% of full float32: of the same mode's full-dim float32; % of teacher: of the teacher mode's full-dim float32 on "
    "the same tasks. Bytes / doc: one stored document vector (float32 4·dim, float16 2·dim, int8 dim, binary dim/8 "
    "rounded up; rescored binary stores the same bits). Index: documents x bytes per vector, vectors only (no ANN "
    "graph, ids or int8 ranges), decimal units. Query p50: the query encoder's batch-1 latency where `leafbench "
    "latency` measured it, the same for every cell of a mode. ✓ Pareto: no other cell scores at least as high (as "
    "printed) in at most as many bytes; the other cells pay bytes for nothing. The dims x dtypes grids follow, one per "
    "run and benchmark: each cell is that benchmark's mean over the tasks measured in every cell, computed as the "
    "leaderboard computes it.",
    S_BOARD: "The ranking: one table per data protocol (full data first; a subset protocol never shares a table, a "
    "column or a mean with another), every system evaluated on it (models, teachers, distilled students, "
    "`student → teacher` asymmetric pairs) with MTEB's model columns and one mean per benchmark. Each mean is over "
    "the task set in its header, the same for every row with a number; a row lacking one of those tasks shows – "
    "and the notes name what it lacks. Ranked by the mean over the most tasks, as the notes say. The per-task "
    "scores those means average follow, one table per benchmark, without a mean of their own.",
}


@dataclass
class Report:
    """Everything a report shows, computed once; the renderers only format it."""

    title: str
    source: str
    n_files: int
    n_runs: int
    n_tasks: int
    tables: list[ReportTable]
    figures: list[Any] = field(default_factory=list)  # plots.Figure
    df: pd.DataFrame | None = None

    def to_markdown(self) -> str:
        md = [
            f"# {self.title}",
            "",
            f"Results: `{self.source}` — {self.n_files} result files, {self.n_runs} runs, "
            f"{self.n_tasks} tasks. Interactive version: [index.html](index.html).",
            "",
        ]
        section, folded = None, False
        for i, t in enumerate(self.tables):
            if t.section != section:
                if folded:
                    md += ["</details>", ""]
                    folded = False
                section = t.section
                md += [f"## {section}", ""]
                if section in INTROS:
                    md += [INTROS[section], ""]
            if t.collapsed and not folded:
                n = sum(1 for u in self.tables[i:] if u.section == section and u.collapsed)
                md += ["<details><summary>" + f"{n} more in this section</summary>", ""]
                folded = True
            md.append(to_markdown(t))
            md += [f"![{f.title}](figures/{f.png.name})\n" for f in self.figures if f.after == t.key]
        if folded:
            md += ["</details>", ""]
        return "\n".join(md)

    def to_html(self) -> str:
        from .html import render_html

        return render_html(
            self.title, self.tables, self.figures, source=self.source, n_files=self.n_files, intros=INTROS
        )

    def save(self, out: Path) -> dict[str, Any]:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "index.md").write_text(self.to_markdown())
        (out / "index.html").write_text(self.to_html())
        return {
            "markdown": out / "index.md",
            "html": out / "index.html",
            "figures": [f.svg for f in self.figures] + [f.png for f in self.figures],
            "tables": [t.key for t in self.tables],
            "n_results": self.n_files,
        }


# --------------------------------------------------------------------------------------- Table 1


def _delta(v: float, iv: Interval | None) -> str:
    """Asymmetric − student in points x100 (the shown scores' difference), with the paired bootstrap interval."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return MISSING
    if iv is None:
        return f"{v:+.2f}"
    return f"{v:+.2f} [{100 * iv.low:+.2f}, {100 * iv.high:+.2f}]"


def _score_pct(c: cmp.Cell1) -> str:
    """``59.00 (90.0% [85.7, 94.3])``: the score x100 and its % of the teacher's, with the interval where one
    was computed (the % is the shown scores' ratio; the interval comes from the per-query scores)."""
    if c.same:
        return "= student"
    if math.isnan(c.score):
        return MISSING
    if math.isnan(c.pct):
        return fmt(c.score)
    iv = c.pct_ci
    ci = f" [{100 * iv.low:.1f}, {100 * iv.high:.1f}]" if iv is not None else ""
    return f"{c.score:.2f} ({c.pct:.1f}%{ci})"


def _pct_text(row: cmp.Row1, c: cmp.Cell1) -> str:
    """The % of teacher column: a ratio of means, never the means themselves (a benchmark mean is printed once,
    in the leaderboard); asym − student there: the difference of the two means, points x100."""
    if row.mode == "teacher":
        return "100%"
    if c.same:
        return "= student" if row.mode == "asymmetric" else MISSING
    if row.mode == cmp.ASYM_DELTA:
        return _delta(c.score, c.delta_ci)
    if math.isnan(c.pct):
        return MISSING
    ci = f" [{100 * c.pct_ci.low:.1f}, {100 * c.pct_ci.high:.1f}]" if c.pct_ci is not None else ""
    return f"{c.pct:.1f}%{ci}"


def _pct_sort(row: cmp.Row1) -> float:
    c = row.cells.get(cmp.MEAN)
    if c is None:
        return math.nan
    return 100.0 if row.mode == "teacher" else c.score if row.mode == cmp.ASYM_DELTA else c.pct


def _cell1_text(row: cmp.Row1, col: str, by: dict[tuple[str, str], cmp.Row1]) -> str:
    c = row.cells.get(col)
    if c is None:
        return MISSING
    if col == cmp.MEAN:
        return _pct_text(row, c)
    if row.mode == "teacher":
        return fmt(c.score)
    if row.mode != cmp.ASYM_DELTA:
        return _score_pct(c)
    if c.same or math.isnan(c.score):
        return MISSING
    # The difference of the scores as printed (two decimals), so the row adds up on the page.
    shown = round(by[(row.model, "asymmetric")].cells[col].score, 2) - round(
        by[(row.model, "student")].cells[col].score, 2
    )
    return _delta(shown, c.delta_ci)


def _mean_header(t: cmp.Table1) -> str:
    return f"% of teacher ({len(t.mean_tasks)} datasets)"


def _table1_notes(t: cmp.Table1) -> list[str]:
    notes = []
    if t.mean_tasks:
        notes.append(
            f"{_mean_header(t)}: the row's mean over {', '.join(t.mean_tasks)} (the datasets every row has) as % "
            "of the teacher's mean over them; asym − student there: the difference of those means, points x100. "
            "The means themselves are not printed here: a benchmark's mean is in the Leaderboard, over its task set."
        )
    elif len(t.tasks) > 1:
        notes.append("No % of teacher column: fewer than two datasets have a result in every row.")
    if t.no_doc_side:
        notes.append("No dataset here has a document side, so asymmetric is the student: one row per student.")
    if t.missing:
        notes.append("No result: " + "; ".join(f"{m} on {', '.join(ts)}" for m, ts in t.missing.items()) + ".")
    teacher = t.rows[0]
    runs = [f"{teacher.model} (teacher): " + _runs_text(teacher.runs)]
    runs += [f"{r.model}: {', '.join(r.runs)}" for r in t.rows[1:] if r.mode == "student"]
    return notes + ["Runs — " + "; ".join(runs)]


def _runs_text(runs: Sequence[str]) -> str:
    if len(runs) <= 3:
        return ", ".join(runs)
    return f"the same scores in {len(runs)} run folders ({runs[0]}, …)"


def table1_report_table(t: cmp.Table1, key: str, collapsed: bool = False) -> ReportTable:
    """One teacher, benchmark and data protocol: rows = the teacher, then per student its student, asymmetric
    and asym − student rows; columns = datasets (and the % of teacher over those every row has)."""
    cols = [*t.tasks, *([cmp.MEAN] if t.mean_tasks else [])]
    head = {c: _mean_header(t) if c == cmp.MEAN else c for c in cols}
    frame = pd.DataFrame(
        [
            {"Model": r.model, "Mode": r.mode, **{head[c]: r.cells[c].score if c in r.cells else np.nan for c in cols}}
            for r in t.rows
        ]
    )
    data = "full data" if t.protocol == "full" else f"data {t.protocol}"
    n = sum(r.mode == "student" for r in t.rows)
    title = f"{t.benchmark}, {data}: teacher {t.teacher} and {n} student{'s' if n > 1 else ''}"
    classes = ["reference" if r.mode == "teacher" else "group" if r.mode == "student" else "" for r in t.rows]
    sort = {head[c]: frame[head[c]] for c in cols}
    if t.mean_tasks:
        sort[_mean_header(t)] = pd.Series([_pct_sort(r) for r in t.rows])
    rt = make_table(key, title, frame, sort_keys=sort, row_class=classes)
    rt.notes = _table1_notes(t)
    by = {(r.model, r.mode): r for r in t.rows}
    for c in cols:
        rt.text[head[c]] = [_cell1_text(r, c, by) for r in t.rows]
    rt.section, rt.collapsed = S_PAIRS, collapsed
    return rt


# --------------------------------------------------------------------------------------- assembly


def build_report(
    results: Path | Sequence[Path],
    title: str = "leafbench report",
    figures_dir: Path | None = None,
    subtasks: bool = False,
) -> Report:
    """Load `results` (one folder or several, e.g. the repo's results and an experiment's), compute every table
    (and figures into `figures_dir` when given)."""
    from .latency import load_latency

    roots, df = load_folders(results)
    latency = [x for r in roots for x in load_latency(r)]
    return report_from_frame(df, title, ", ".join(str(r) for r in roots), latency, figures_dir, subtasks)


def report_from_frame(
    df_all: pd.DataFrame,
    title: str = "leafbench report",
    source: str = "",
    latency: Sequence[Any] = (),
    figures_dir: Path | None = None,
    subtasks: bool = False,
) -> Report:
    """The report of an already loaded frame (`load_results`); `build_report` is this plus loading."""
    from .latency import latency_tables

    latency = list(latency)
    sub = df_all[df_all["aggregate"].notna()]
    df = df_all[df_all["aggregate"].isna()]
    if df.empty:
        raise ReportError("only sub-task results of aggregate tasks here; their aggregate results are missing")
    cell = pick_main_cell(df)
    sel = cmp.split_conflicts(select_cell(df, cell))
    c = cmp.cells(sel)
    tables: list[ReportTable] = []
    for i, t1 in enumerate(cmp.table1s(sel, c)):
        tables.append(table1_report_table(t1, f"table1-{i + 1}", collapsed=i >= OPEN_TABLE1))
    where = f"{cell[0]} dim, {cell[1]}"
    boards = leaderboards(c)
    info = system_columns(c)
    for b in boards:
        key = "leaderboard" if b.protocol == "full" else f"leaderboard-{slug(b.protocol)}"
        tables.append(leaderboard_table(b, key, where, info))
    for b in boards:
        key = "per-task" if b.protocol == "full" else f"per-task-{slug(b.protocol)}"
        tables += per_task_tables(b, key)
    tables += latency_tables(latency, df)
    for t in tables:
        t.section = t.section or S_BOARD
    deps = deployments(df, latency)
    tables += _cell_section(df, deployment_tables(deps), {d.run for d in deps})
    more = [
        reference_table(df),
        throughput_table(df),
        protocol_table(df),
        subtask_table(sub, cell) if subtasks and len(sub) else None,
    ]
    for t in more:
        if t is not None:
            t.section = S_MORE
            tables.append(t)
    figs: list[Any] = []
    if figures_dir is not None:
        figs = _figures(df, latency, Path(figures_dir), deps, [t.key for t in tables])
    return Report(title, source, len(df), df["run"].nunique(), df["task"].nunique(), tables, figs, df)


def _cell_section(df: pd.DataFrame, deploy: list[ReportTable], deployed: set[str]) -> list[ReportTable]:
    """The deployment tables, then the dims x dtypes grids (one per run and benchmark): open for what no deployment
    table shows, folded for a deployed run's grids whose tasks are all retrieval (the same scores as one compact
    matrix per run)."""
    grids = cell_tables(df, fold_retrieval=deployed)
    for t in deploy + grids:
        t.section = S_CELLS
    return deploy + [t for t in grids if not t.collapsed] + [t for t in grids if t.collapsed]


def _figures(
    df: pd.DataFrame, latency: Sequence[Any], fig_dir: Path, deps: Sequence[Any] = (), keys: Sequence[str] = ()
) -> list[Any]:
    """Every figure, the deployment figure of a run first: the dims and quantization figures of a run with a
    deployment view follow it (their grid may be folded), the others follow the run's first grid among the table
    `keys` (a run with grids on several benchmarks has no `cells-<run>`)."""
    from .deploy import deployment_figures
    from .latency import plot_latency
    from .plots import make_figures

    for pattern in ("asym-vs-sym.*", "dims-*.*", "quant-*.*", "latency-quality.*", "deploy-*.*"):
        for old in fig_dir.glob(pattern):  # figures of runs no longer in the results must not linger
            if old.suffix in (".svg", ".png"):
                old.unlink()
    deploy = deployment_figures(deps, fig_dir)
    after = {d.run: d.key for d in deps}  # the last (run, mode) table of each run
    figs = make_figures(df, fig_dir)
    for f in figs:
        run = f.after.removeprefix("cells-") if f.after.startswith("cells-") else None
        if run in after:
            f.after = after[run]
        elif run is not None:
            f.after = first_grid(run, keys) or f.after
    figs = figs[:1] + deploy + figs[1:] if figs and figs[0].key == "asym-vs-sym" else deploy + figs
    if latency:
        figs += [f for f in [plot_latency(latency, df, fig_dir)] if f is not None]
    return figs
