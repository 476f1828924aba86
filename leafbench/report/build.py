"""Compute a report once, render it twice: `build_report` → `Report` → `to_markdown` / `to_html` / `save`.

Reading order follows the questions a reader brings: (1) how close is each student to its teacher, per
dataset (the LEAF paper's Table 1 layout, one table per teacher, benchmark and data protocol); (2) which full-protocol models are really better (a deduplicated
leaderboard whose ranks are bootstrap rank ranges); (3) distillation runs and subset protocols, kept apart
so a 100-query score never sits in a column next to a full one; (4) which dim x dtype to deploy, in which mode
(score, bytes, index size, query latency, the Pareto frontier), then the dims x dtypes grids; (5) speed,
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
from .benchmarks import REPORT_BENCHMARKS, benchmark_table
from .bootstrap import Interval
from .deploy import deployment_tables, deployments
from .frame import ReportError, load_folders, pick_main_cell, select_cell
from .grid import cell_tables
from .model_meta import COLUMNS as MODEL_COLUMNS
from .model_meta import params_text, system_columns
from .provenance import protocol_table
from .reference import reference_table
from .subtasks import subtask_table
from .table import MISSING, ReportTable, fmt, make_table, slug, to_markdown
from .throughput import throughput_table

S_PAIRS = "How close is each student to its teacher"
S_BOARD = "Leaderboard: full-protocol runs"
S_DISTILL = "Distillation runs and subset protocols"
S_CELLS = "Deployment: dims x dtypes per mode"
S_MORE = "Speed, references and provenance"
OPEN_TABLE1 = 4  # Table-1 tables shown open; the rest fold away (<details>)

INTROS = {
    S_PAIRS: "The LEAF paper's Table 1, one table per teacher, benchmark and data protocol, students as rows: "
    "columns = the benchmark's datasets with results here and their mean; the teacher's row once, then per student "
    "`student`, `asymmetric` (student queries, teacher documents), each cell the score x100 (its % of the "
    "teacher's score in that column [95% CI]), and `asym − student`: what teacher documents add, in points x100 "
    "[95% CI]. CI: paired bootstrap over queries (2,000 resamples) where per-query scores are stored. `= student` "
    "(and – in asym − student): the task has no document side, so asymmetric is the student (a table without "
    "any document side shows student rows only). Students: best "
    "mean % of teacher first. Data `full` = the task's whole test split, first; `100q/300d` = a query/document "
    "subset (not comparable to published numbers), in its own table, never averaged with another protocol.",
    S_CELLS: "Which (dim, dtype) cell to deploy, in which mode: one table per run and mode with two or more cells on "
    "retrieval tasks (every cell scored from one encoding pass: truncated, then quantized), largest vectors first. "
    "% of full float32: of the same mode's full-dim float32; % of teacher: of the teacher mode's full-dim float32 on "
    "the same tasks. Bytes / doc: one stored document vector (float32 4·dim, float16 2·dim, int8 dim, binary dim/8 "
    "rounded up; rescored binary stores the same bits). Index: documents x bytes per vector, vectors only (no ANN "
    "graph, ids or int8 ranges), decimal units. Query p50: the query encoder's batch-1 latency where `leafbench "
    "latency` measured it, the same for every cell of a mode. ✓ Pareto: no other cell scores at least as high (as "
    "printed) in at most as many bytes; the other cells pay bytes for nothing. The dims x dtypes grids follow.",
    S_DISTILL: "Distilled students (local checkpoints evaluated against a teacher, or under a distill/ folder) and subset protocols, each column one "
    "task; one table per data protocol, never averaged or ranked across protocols. Not mixed into the leaderboard above.",
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


def _cell1_text(row: cmp.Row1, col: str, by: dict[tuple[str, str], cmp.Row1]) -> str:
    c = row.cells.get(col)
    if c is None:
        return MISSING
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
    k, n = len(t.mean_tasks), len(t.tasks)
    return f"Mean ({k} datasets)" if k == n else f"Mean ({k} of {n} datasets)"


def _table1_notes(t: cmp.Table1) -> list[str]:
    notes = []
    if t.mean_tasks and len(t.mean_tasks) < len(t.tasks):
        notes.append(f"Mean: over {', '.join(t.mean_tasks)}, the datasets every row has.")
    elif len(t.tasks) > 1 and not t.mean_tasks:
        notes.append("No Mean column: fewer than two datasets have a result in every row.")
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
    and asym − student rows; columns = datasets (and their mean)."""
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
    rt = make_table(key, title, frame, sort_keys={head[c]: frame[head[c]] for c in cols}, row_class=classes)
    rt.notes = _table1_notes(t)
    by = {(r.model, r.mode): r for r in t.rows}
    for c in cols:
        rt.text[head[c]] = [_cell1_text(r, c, by) for r in t.rows]
    rt.section, rt.collapsed = S_PAIRS, collapsed
    return rt


# --------------------------------------------------------------------------------------- boards


def board_report_table(
    b: cmp.Board, key: str, title: str, section: str, info: dict[str, dict[str, Any]] | None = None
) -> ReportTable:
    """A ranked board; with `info` (model_meta.system_columns), MTEB's model columns after the mode."""
    shared = b.shared
    types = sorted({b.types[c] for c in shared})
    other = [c for c in b.scores.columns if c not in shared]
    rows, classes = [], []
    for k in [*b.ranked, *b.unranked]:
        label, mode = b.labels[k]
        ranked = k in b.ranks
        sh = b.scores.loc[k, shared]
        row = {
            "Rank": b.ranks[k][0] if ranked else np.nan,
            "Model": label,
            "Mode": mode,
            **({c: (info.get(k) or {}).get(c) for c in MODEL_COLUMNS} if info is not None else {}),
            f"Mean ({len(shared)} shared)": b.mean[k] if ranked else np.nan,
        }
        for t in types:
            row[f"Mean({t})"] = sh[[c for c in shared if b.types[c] == t]].mean() if ranked else np.nan
        row.update({c: b.scores.at[k, c] for c in [*shared, *other]})
        row["Tasks"] = f"{int(b.scores.loc[k].notna().sum())}/{len(b.scores.columns)}"
        rows.append(row)
        classes.append("" if ranked else "incomplete")
    frame = pd.DataFrame(rows)
    score_cols = [c for c in frame.columns if c not in ("Rank", "Model", "Mode", "Tasks", *MODEL_COLUMNS)]
    ranks = {i: cmp.rank_text(b, k) for i, k in enumerate([*b.ranked, *b.unranked])}
    eligible = pd.Series([k in b.ranks for k in [*b.ranked, *b.unranked]])
    t = make_table(key, title, frame, best_max=score_cols, eligible=eligible, row_class=classes, notes=_board_notes(b))
    t.text["Rank"] = [ranks[i] for i in range(len(frame))]
    if info is not None:
        t.text["Params"] = [params_text(v) for v in frame["Params"]]
        for c in ("Dim", "Max tokens", "Memory (MB)"):
            t.text[c] = [f"{int(v):,}" if v is not None and pd.notna(v) else MISSING for v in frame[c]]
    for i, k in enumerate([*b.ranked, *b.unranked]):
        for c in [*shared, *other]:
            if b.inherited.at[k, c]:
                t.text.at[i, c] = "="
    t.section = section
    return t


def _board_notes(b: cmp.Board) -> list[str]:
    how = {
        "queries": "resampling each task's queries",
        "tasks": "resampling tasks (per-query scores missing)",
        "mixed": "resampling queries where per-query scores exist for both rows, else tasks",
        "none": "not testable here (no per-query scores, under 5 shared tasks): rows share ranks",
        "partial": f"resampling the queries of {', '.join(b.tested)} only: the other shared tasks store no "
        "per-query scores and are too few to resample",
    }[b.method]
    notes = [
        f"Rank a–b: a = 1 + rows significantly better, b = n − rows significantly worse (95% paired bootstrap "
        f"of the difference of Mean over the shared tasks, {how}); rows whose intervals include 0 share ranks."
    ]
    extra = [c for c in b.scores.columns if c not in b.shared]
    notes.append(
        f"Scores x100 (each task's main metric). Ranked on the {len(b.shared)} tasks every ranked row has"
        + (f"; {', '.join(extra)}: not in every row (shown, not averaged)." if extra else ".")
    )
    if b.inherited.to_numpy().any():
        notes.append("= : asymmetric equals symmetric on this task (no document side); counted in the mean.")
    if b.unranked:
        notes.append(
            "Not ranked (under half the tasks of the best-covered row): "
            + "; ".join(f"{b.labels[k][0]} ({b.labels[k][1]}) misses {', '.join(b.missing[k])}" for k in b.unranked)
        )
    return notes


def _dedup_for_benchmark(c: pd.DataFrame) -> pd.DataFrame:
    """Cells as a run/mode frame for the benchmark-coverage tables (one row per system, labelled as the boards
    label it)."""
    d = c.assign(key=[cmp.system_key(q, dq) for q, dq in zip(c["query_id"], c["document_id"])])
    labels = cmp.system_labels(d)
    d["run"] = [labels[k][0] for k in d["key"]]
    d["mode"] = [labels[k][1] for k in d["key"]]
    return d


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
    # Leaderboard: full protocol, not distilled (teacher results from pair folders count: same model).
    main = c[(c["protocol"] == "full") & ~c["distilled"]]
    rest = c[(c["protocol"] != "full") | c["distilled"]]
    where = f"{cell[0]} dim, {cell[1]}"
    b = cmp.board(main)
    if b is not None:
        info = system_columns(main)
        tables.append(board_report_table(b, "leaderboard", f"Leaderboard ({where})", S_BOARD, info))
    for t in latency_tables(latency, df):
        t.section = S_BOARD
        tables.append(t)
    if len(main):
        d = _dedup_for_benchmark(main)
        for name in REPORT_BENCHMARKS:
            bt = benchmark_table(d, name, cell)
            if bt is not None:
                bt.section = S_BOARD
                tables.append(bt)
    for i, (proto, group) in enumerate(rest.groupby("protocol", sort=False)):
        # One board per data protocol: a 10-query score is never averaged or ranked with a 20-query one. The
        # teachers' numbers on the same columns, so each distilled row has its reference in the table.
        tasks = set(group["task"])
        teachers = {p.teacher_id for p in cmp.pairs(sel)}
        ref = c[c["query_id"].isin(teachers) & c["symmetric"] & (c["protocol"] == proto) & c["task"].isin(tasks)]
        both = pd.concat([group, ref]).drop_duplicates(subset=["query_id", "document_id", "task", "protocol"])
        rb = cmp.board(both)
        if rb is not None:
            data = "full data" if proto == "full" else f"data {proto}"
            key = "distill" if i == 0 else f"distill-{slug(proto)}"
            heading = f"Distillation runs and subsets: {data} ({where})"
            tables.append(board_report_table(rb, key, heading, S_DISTILL, system_columns(both)))
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
        figs = _figures(df, latency, Path(figures_dir), deps)
    return Report(title, source, len(df), df["run"].nunique(), df["task"].nunique(), tables, figs, df)


def _cell_section(df: pd.DataFrame, deploy: list[ReportTable], deployed: set[str]) -> list[ReportTable]:
    """The deployment tables, then the dims x dtypes grids: open for what no deployment table shows, folded for
    the retrieval grids of deployed runs (the same scores as one compact matrix per run)."""
    grids = cell_tables(df, fold_retrieval=deployed)
    for t in deploy + grids:
        t.section = S_CELLS
    return deploy + [t for t in grids if not t.collapsed] + [t for t in grids if t.collapsed]


def _figures(df: pd.DataFrame, latency: Sequence[Any], fig_dir: Path, deps: Sequence[Any] = ()) -> list[Any]:
    """Every figure, the deployment figure of a run first: the dims and quantization figures of a run with a
    deployment view follow it (their grid may be folded, or keyed by task type)."""
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
    figs = figs[:1] + deploy + figs[1:] if figs and figs[0].key == "asym-vs-sym" else deploy + figs
    if latency:
        figs += [f for f in [plot_latency(latency, df, fig_dir)] if f is not None]
    return figs
