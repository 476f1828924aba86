"""The report's questions, computed once: how close is each student to its teacher (the LEAF paper's Table 1
layout), and the pieces leaderboard.py ranks systems with (scores per system and task, which systems get a row,
paired bootstrap significance for rank ranges).

Everything here starts from `cells`: one row per *system* (who encodes queries, who encodes documents),
task and data protocol, so a teacher evaluated in twelve pair folders is one set of numbers, and an
"asymmetric" result on a task without a document side (STS, classification: both sides are the student)
is the student's own number, not a second row.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from ..errors import UserError
from .bootstrap import (
    Interval,
    RatioInterval,
    paired_bootstrap,
    paired_bootstrap_ratio_tasks,
    paired_bootstrap_tasks,
)
from .frame import task_meta

# Benchmarks a dataset is filed under in the Table-1 view, first match wins (SciFact: BEIR, not MTEB).
BENCHMARK_ORDER = ("BEIR", "NanoBEIR", "MTEB(eng, v2)")
OTHER_MTEB, USER = "Other mteb tasks", "Your datasets"
# Below this many shared tasks a bootstrap over tasks says nothing (2 tasks: any same-sign pair "differs").
MIN_TASKS_FOR_TASK_BOOTSTRAP = 5
SAME = 1e-9


class ConflictingResults(UserError, ValueError):
    """Two result files claim different scores for one system, task and protocol (bad input: exit 2)."""


@cache
def _benchmark_tasks(name: str) -> frozenset[str]:
    try:
        import mteb

        return frozenset(t.metadata.name for t in mteb.get_benchmark(name).tasks)
    except Exception:  # noqa: BLE001 - mteb without this benchmark: nothing is filed under it
        return frozenset()


def benchmark_of(task: str, task_type: str) -> str:
    """The benchmark a dataset's Table-1 row is filed under (user folders: "Your datasets")."""
    for b in BENCHMARK_ORDER:
        if task in _benchmark_tasks(b):
            return b
    return OTHER_MTEB if task_meta(task)[0] != "Unknown" else USER


# ------------------------------------------------------------------------------------------ cells


def cells(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (query_id, document_id, task, protocol) of an already selected (dim, dtype) cell.

    Identical scores from several run folders collapse to one (the per-query block of any copy that has
    one is kept); different scores for one key raise ConflictingResults naming both files, since picking
    one would print a number the other file contradicts.
    """
    if df.empty:
        return df.assign(runs=[], no_doc_side=[])
    keys = ["query_id", "document_id", "task", "protocol"]
    out = []
    for _, g in df.groupby(keys, sort=False, dropna=False):
        s = g["score"].to_numpy(dtype=float)
        if np.nanmax(s) - np.nanmin(s) > SAME:
            a, b = g.iloc[int(np.nanargmin(s))], g.iloc[int(np.nanargmax(s))]
            raise ConflictingResults(
                f"{a['path']} and {b['path']}: {a['task']} ({a['protocol']}) by {a['query_name']} -> "
                f"{a['document_name']} scores {a['score']:.5f} vs {b['score']:.5f}; remove or move the stale one"
            )
        has_pq = g["per_query"].map(lambda v: isinstance(v, dict) and bool(v))
        row = (g[has_pq] if has_pq.any() else g).iloc[0].copy()
        row["runs"] = tuple(sorted(set(g["run"])))
        out.append(row)
    c = pd.DataFrame(out).reset_index(drop=True)
    # Tasks where an asymmetric-mode run encoded both sides with one model: asymmetric = symmetric there.
    asym_same = df[(df["mode"] == "asymmetric") & (df["query_id"] == df["document_id"])]
    no_doc = set(asym_same["task"])
    c["no_doc_side"] = c["task"].isin(no_doc)
    c["symmetric"] = c["query_id"] == c["document_id"]
    return c


def split_conflicts(df: pd.DataFrame) -> pd.DataFrame:
    """Encoders whose results disagree across run folders (same identity, task and protocol, another score:
    other prompts, another mteb, a nondeterministic GPU) become one encoder per run, named "model (run)", so
    the report shows every number instead of failing or picking one. Agreeing copies still collapse."""
    if df.empty:
        return df
    keys = ["query_id", "document_id", "task", "protocol"]
    spread = df.groupby(keys, dropna=False)["score"].transform(lambda s: s.max() - s.min())
    bad = df[spread > SAME]
    bad_ids = set(bad["query_id"]) | set(bad["document_id"])
    if not bad_ids:
        return df
    df = df.copy()
    for col, name in (("query_id", "query_name"), ("document_id", "document_name")):
        m = df[col].isin(bad_ids)
        df.loc[m, col] = df.loc[m, col].astype(str) + "#" + df.loc[m, "run"]
        df.loc[m, name] = df.loc[m, name].astype(str) + " (" + df.loc[m, "run"] + ")"
    return df


def system_key(q: str, d: str) -> str:
    """One string per system (DataFrame index labels must not be tuples: .loc reads those as row, column)."""
    return f"{q}\t{d}"


def split_key(k: str) -> tuple[str, str]:
    q, d = k.split("\t", 1)
    return q, d


def system_label(q: str, d: str) -> str:
    return q if q == d else f"{q} → {d}"


# ------------------------------------------------------------------------------------ Table 1


@dataclass
class Pair:
    """A distilled (or any) student and the teacher it was compared with in one or more run folders (the run
    folders of each number: Row1.runs)."""

    student_id: str
    teacher_id: str
    student: str
    teacher: str


def pairs(df: pd.DataFrame) -> list[Pair]:
    """(student, teacher) pairs: run folders holding a student-mode result and a teacher (teacher-mode
    result or an asymmetric result's document model). Folders of one pair merge into one Pair."""
    found: dict[tuple[str, str], Pair] = {}
    for run, g in df.groupby("run", sort=True):
        st = g[g["mode"] == "student"]
        te = g[g["mode"] == "teacher"]
        asym = g[(g["mode"] == "asymmetric") & (g["query_id"] != g["document_id"])]
        if st.empty:
            continue
        s_id, s_name = st["query_id"].iloc[0], st["query_name"].iloc[0]
        if len(te):
            t_id, t_name = te["query_id"].iloc[0], te["query_name"].iloc[0]
        elif len(asym):
            t_id, t_name = asym["document_id"].iloc[0], asym["document_name"].iloc[0]
        else:
            continue
        if s_id == t_id:
            continue
        found.setdefault((s_id, t_id), Pair(s_id, t_id, s_name, t_name))
    return list(found.values())


def _pq(row: pd.Series | None) -> dict | None:
    if row is None:
        return None
    v = row.get("per_query")
    return v if isinstance(v, dict) and v else None


def _aligned(a: dict | None, b: dict | None) -> tuple[list[float], list[float]] | None:
    if not a or not b:
        return None
    common = sorted(set(a) & set(b))
    if not common:
        return None
    return [a[q] for q in common], [b[q] for q in common]


def _ratio(
    rows_a: Sequence[pd.Series | None], rows_b: Sequence[pd.Series | None], seed: int = 0
) -> RatioInterval | None:
    pairs_ = [_aligned(_pq(a), _pq(b)) for a, b in zip(rows_a, rows_b)]
    if not pairs_ or any(p is None for p in pairs_):
        return None
    return paired_bootstrap_ratio_tasks(pairs_, seed=seed)  # type: ignore[arg-type]


def _delta(rows_a: Sequence[pd.Series | None], rows_b: Sequence[pd.Series | None], seed: int = 0) -> Interval | None:
    """Paired bootstrap interval of Mean(a) − Mean(b) over the rows' tasks (each task's queries resampled on their
    own); None unless every task stores per-query scores for both."""
    pairs_ = [_aligned(_pq(a), _pq(b)) for a, b in zip(rows_a, rows_b)]
    if not pairs_ or any(p is None for p in pairs_):
        return None
    return paired_bootstrap_tasks(pairs_, seed=seed)  # type: ignore[arg-type]


ASYM_DELTA = "asym − student"  # the Table-1 row of asymmetric minus student, points x100
MEAN = "\tmean"  # the Mean column's key in Row1.cells (no task name holds a tab)


@dataclass
class _Triple:
    """A pair's cells on one task: asymmetric is the student's own cell where the task has no document side
    (`same`), None where no asymmetric result exists."""

    s: pd.Series
    a: pd.Series | None
    t: pd.Series
    same: bool


@dataclass
class Cell1:
    """One Table-1 cell. `score`: x100 (on an asym − student row, the difference in points x100); `pct`: % of the
    teacher's score in the same column; the paired bootstrap intervals over queries where per-query scores exist.
    `same`: the column has no document side, so asymmetric is the student."""

    score: float
    pct: float = math.nan
    pct_ci: RatioInterval | None = None
    delta_ci: Interval | None = None
    same: bool = False


@dataclass
class Row1:
    model: str
    mode: str  # "teacher", "student", "asymmetric" or ASYM_DELTA
    cells: dict[str, Cell1]  # task (or MEAN) -> cell; a task the model has no result for is absent
    runs: tuple[str, ...]  # the run folders its numbers come from


@dataclass
class Table1:
    """The LEAF paper's Table 1 for one teacher, benchmark and data protocol, students as rows: the teacher once,
    then per student its student, asymmetric and asym − student rows (best mean % of teacher first)."""

    teacher: str
    benchmark: str
    protocol: str
    tasks: list[str]  # the benchmark's datasets with results here, one column each
    mean_tasks: list[str]  # what the Mean column averages: datasets every row has ([]: no Mean column)
    rows: list[Row1]
    missing: dict[str, list[str]]  # student label -> datasets of this table it has no result for
    no_doc_side: bool = False  # no dataset here has a document side: student rows only (asymmetric = student)


def _getter(c: pd.DataFrame) -> Callable[[str, str, str, str], pd.Series | None]:
    """The cell of (query encoder, document encoder, task, protocol), or None."""
    idx = c.set_index(["query_id", "document_id", "task", "protocol"])
    idx = idx[~idx.index.duplicated()]

    def get(q: str, d: str, task: str, proto: str) -> pd.Series | None:
        k = (q, d, task, proto)
        return idx.loc[k] if k in idx.index else None

    return get


def _triples(
    c: pd.DataFrame, p: Pair, get: Callable[..., pd.Series | None]
) -> dict[tuple[str, str], dict[str, _Triple]]:
    """(benchmark, protocol) -> task -> the pair's cells there; tasks without a student or teacher cell: none."""
    mine = c[(c["query_id"] == p.student_id) & c["document_id"].isin([p.student_id, p.teacher_id])]
    out: dict[tuple[str, str], dict[str, _Triple]] = {}
    for (task, proto), g in mine.groupby(["task", "protocol"], sort=False):
        s = get(p.student_id, p.student_id, task, proto)
        t = get(p.teacher_id, p.teacher_id, task, proto)
        a = get(p.student_id, p.teacher_id, task, proto)
        if s is None or t is None:
            continue
        same = bool(g["no_doc_side"].any()) and a is None
        bench = benchmark_of(task, str(s["task_type"]))
        out.setdefault((bench, proto), {})[task] = _Triple(s, s if same else a, t, same)
    return out


def _cells1(trs: Sequence[_Triple]) -> tuple[Cell1, Cell1, Cell1]:
    """Student, asymmetric and asym − student cells over `trs` (one task, or the Mean column's tasks)."""
    s, a, t = [x.s for x in trs], [x.a for x in trs], [x.t for x in trs]
    same, has_a = all(x.same for x in trs), all(x is not None for x in a)
    sv = float(np.mean([x["score"] for x in s])) * 100
    tv = float(np.mean([x["score"] for x in t])) * 100
    av = float(np.mean([x["score"] for x in a])) * 100 if has_a else math.nan  # type: ignore[index]
    student = Cell1(sv, 100 * sv / tv if tv else math.nan, _ratio(s, t))
    asym = Cell1(av, 100 * av / tv if tv and has_a else math.nan, _ratio(a, t) if has_a and not same else None)
    delta = Cell1(math.nan if same else av - sv, delta_ci=_delta(a, s) if has_a and not same else None)
    asym.same = delta.same = same
    return student, asym, delta


def _runs(rows: Sequence[pd.Series | None]) -> tuple[str, ...]:
    return tuple(sorted({r for x in rows if x is not None for r in x["runs"]}))


def _student_rows(label: str, ts: dict[str, _Triple], mean_tasks: Sequence[str]) -> list[Row1]:
    """A student's student, asymmetric and asym − student rows, the Mean column over `mean_tasks`."""
    runs = _runs([x for tr in ts.values() for x in (tr.s, tr.a)])
    rows = [Row1(label, mode, {}, runs) for mode in ("student", "asymmetric", ASYM_DELTA)]
    cols: dict[str, list[_Triple]] = {task: [ts[task]] for task in sorted(ts)}
    if mean_tasks:
        cols[MEAN] = [ts[task] for task in mean_tasks]
    for col, trs in cols.items():
        for row, cell in zip(rows, _cells1(trs)):
            row.cells[col] = cell
    return rows


def _pct_of_teacher(trs: Sequence[_Triple]) -> float:
    tv = float(np.mean([x.t["score"] for x in trs]))
    return 100 * float(np.mean([x.s["score"] for x in trs])) / tv if tv else math.nan


def _order_key(ts: dict[str, _Triple], shared: Sequence[str]) -> float:
    """Student % of teacher over the datasets every student of the table has (the Mean column's number where
    there is one); the mean of its own datasets' % where none is shared."""
    pct = (
        _pct_of_teacher([ts[task] for task in shared])
        if shared
        else np.nanmean([_pct_of_teacher([tr]) for tr in ts.values()])
    )
    return -math.inf if math.isnan(pct) else float(pct)


def _student_labels(ps: Sequence[Pair]) -> list[str]:
    """Student names; two students of one table sharing a name carry the settings that tell them apart."""
    names = [p.student for p in ps]
    return [n if names.count(n) == 1 else f"{n} ({_settings(p.student_id) or p.student_id})" for n, p in zip(names, ps)]


def _table1(bench: str, proto: str, members: list[tuple[Pair, dict[str, _Triple]]]) -> Table1:
    tasks = sorted({task for _, ts in members for task in ts})
    shared = [task for task in tasks if all(task in ts for _, ts in members)]
    mean_tasks = shared if len(shared) > 1 else []
    teacher = {task: tr.t for _, ts in members for task, tr in ts.items()}  # one teacher: one cell per task
    t_cells = {k: Cell1(100 * float(v["score"])) for k, v in teacher.items()}
    t_row = Row1(members[0][0].teacher, "teacher", t_cells, _runs(list(teacher.values())))
    if mean_tasks:
        t_row.cells[MEAN] = Cell1(100 * float(np.mean([teacher[task]["score"] for task in mean_tasks])))
    labels = _student_labels([p for p, _ in members])
    ranked = sorted(zip(labels, members), key=lambda lm: (-_order_key(lm[1][1], shared), lm[0]))
    no_doc = all(tr.same for _, ts in members for tr in ts.values())
    rows = [t_row] + [
        r for label, (_, ts) in ranked for r in _student_rows(label, ts, mean_tasks)[: 1 if no_doc else 3]
    ]
    missing = {label: [t for t in tasks if t not in ts] for label, (_, ts) in ranked}
    missing = {k: v for k, v in missing.items() if v}
    return Table1(t_row.model, bench, proto, tasks, mean_tasks, rows, missing, no_doc)


def table1s(df: pd.DataFrame, c: pd.DataFrame | None = None) -> list[Table1]:
    """One Table 1 per (teacher, benchmark, data protocol), the teacher's numbers once in each: per teacher, the
    full-protocol tables first (benchmarks in BENCHMARK_ORDER), then one table per subset protocol. A subset
    score never shares a table, a column or a mean with a full one."""
    c = cells(df) if c is None else c
    get = _getter(c)
    groups: dict[tuple[str, str, str], list[tuple[Pair, dict[str, _Triple]]]] = {}
    for p in pairs(df):
        for (bench, proto), ts in _triples(c, p, get).items():
            groups.setdefault((p.teacher_id, bench, proto), []).append((p, ts))
    order = {b: i for i, b in enumerate((*BENCHMARK_ORDER, OTHER_MTEB, USER))}

    def key(k: tuple[str, str, str]) -> tuple[Any, ...]:
        return (groups[k][0][0].teacher, k[0], k[2] != "full", order.get(k[1], 99), k[1], k[2])

    return [_table1(k[1], k[2], groups[k]) for k in sorted(groups, key=key)]


# ---------------------------------------------------------------------------------- leaderboards


def mode_name(mode: str, symmetric: bool) -> str:
    """The mode a row shows, in the CLI's words: student or teacher for one model on both sides (the mode its
    result was run in), asymmetric for student queries against teacher documents."""
    if not symmetric:
        return "asymmetric"
    return mode if mode in ("student", "teacher") else "student"


def system_labels(c: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """(label, mode) per system key of a cells frame; systems whose names collide (one model read at two lengths
    or precisions) carry the settings that tell them apart: ``minilm-l6 (len=32)``."""
    labels: dict[str, tuple[str, str]] = {}
    for k, g in c.groupby("key", sort=False):
        r = g.iloc[0]
        labels[k] = (system_label(r["query_name"], r["document_name"]), mode_name(str(r["mode"]), bool(r["symmetric"])))
    seen: dict[tuple[str, str], list[str]] = {}
    for k, lab in labels.items():
        seen.setdefault(lab, []).append(k)
    for lab, keys in seen.items():
        if len(keys) > 1:
            for k in keys:
                q, d = split_key(k)
                tags = sorted({t for side in {q, d} for t in [_settings(side)] if t})
                labels[k] = (f"{lab[0]} ({'; '.join(tags)})" if tags else lab[0], lab[1])
    return labels


def _settings(encoder_id: str) -> str:
    """The settings part of an encoder id (``<identity>@len=32,prec=fp16`` -> ``len=32, prec=fp16``)."""
    return encoder_id.rpartition("@")[2].replace(",", ", ") if "@" in encoder_id else ""


def wide_scores(
    c: pd.DataFrame, keys: Sequence[str] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, dict[tuple[str, str], dict]]:
    """(scores x100, inherited, per-query scores) of a cells frame with `key` and `col` columns: one row per system
    key (`keys` when given, in that order), one column per `col`. An asymmetric system carries its student's score
    (and per-query scores) on columns without a document side, flagged in `inherited`."""
    wide = c.pivot_table(index="key", columns="col", values="score", aggfunc="first") * 100
    if keys is not None:
        wide = wide.reindex(index=list(keys))
    pq = {(k, col): v for k, col, v in zip(c["key"], c["col"], c["per_query"]) if isinstance(v, dict) and v}
    inherited = pd.DataFrame(False, index=wide.index, columns=wide.columns)
    no_doc_cols = set(c.loc[c["no_doc_side"], "col"])
    for k in wide.index:
        q, d = split_key(k)
        sym = system_key(q, q)
        if q == d or sym not in wide.index:
            continue
        for col in wide.columns:
            if pd.isna(wide.at[k, col]) and col in no_doc_cols and pd.notna(wide.at[sym, col]):
                wide.at[k, col] = wide.at[sym, col]
                inherited.at[k, col] = True
                if (sym, col) in pq:
                    pq[(k, col)] = pq[(sym, col)]
    return wide, inherited, pq


def shown_systems(wide: pd.DataFrame, inherited: pd.DataFrame) -> list[str]:
    """System keys worth a row: every symmetric system, and an asymmetric one only where it differs from its
    student somewhere (a score of its own, not only inherited ones)."""
    keep = []
    for k in wide.index:
        q, d = split_key(k)
        if q == d or (~inherited.loc[k] & wide.loc[k].notna()).any():
            keep.append(k)
    return keep


def significance(
    wide: pd.DataFrame, pq: dict, ranked: list, shared: list[str], seed: int, pq_cols: Sequence[str] = ()
) -> tuple[np.ndarray, set[str]]:
    """better[i, j]: row i's mean over `shared` is above row j's with a 95% paired bootstrap interval of the
    difference excluding 0. Queries are resampled where every shared column has per-query scores for both
    rows; otherwise tasks are, given enough of them; otherwise the pair is left unresolved."""
    n = len(ranked)
    better = np.zeros((n, n), dtype=bool)
    methods: set[str] = set()
    for i in range(n):
        for j in range(i + 1, n):
            a, b = ranked[i], ranked[j]
            iv = pairwise_interval(wide, pq, a, b, shared, seed)
            if iv is None and pq_cols:
                # Too few tasks to resample and some without per-query scores: test the columns that have them.
                got = pairwise_interval(wide, pq, a, b, pq_cols, seed)
                iv = (got[0], "partial") if got is not None else None
            if iv is None:
                methods.add("none")
                continue
            methods.add(iv[1])
            if iv[0].low > 0:
                better[i, j] = True
            elif iv[0].high < 0:
                better[j, i] = True
    return better, methods


def pairwise_interval(
    wide: pd.DataFrame, pq: dict, a: Any, b: Any, shared: Sequence[str], seed: int = 0
) -> tuple[Interval, str] | None:
    """Interval of mean_a − mean_b over `shared` (score units x100 / 100: 0..1) and what was resampled."""
    if not shared:
        return None
    per_task = [_aligned(pq.get((a, col)), pq.get((b, col))) for col in shared]
    if all(p is not None for p in per_task):
        return paired_bootstrap_tasks(per_task, seed=seed), "queries"  # type: ignore[arg-type]
    if len(shared) >= MIN_TASKS_FOR_TASK_BOOTSTRAP:
        x = wide.loc[[a], shared].to_numpy(dtype=float).ravel() / 100
        y = wide.loc[[b], shared].to_numpy(dtype=float).ravel() / 100
        # Tasks as the resampled units (paired): would the order hold on another draw of tasks like these? A
        # weaker statement than the query-level interval, which holds the task set fixed.
        return paired_bootstrap(x, y, seed=seed), "tasks"
    return None
