"""Leaderboard tables from result JSONs (pandas): one tidy frame, then the tables a report shows.

Everything starts from `load_results`, one row per result file, so Markdown, HTML, plots and the regression
check read the same numbers. Scores are shown x100 with two decimals, as the MTEB leaderboard and the LEAF
model cards print them. Task types come from mteb's task metadata, so STS/classification results written
in the same layout get their own Mean(<type>) columns without changes here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import UserError
from ..modes import MODE_ORDER  # noqa: E402
from ..record import iter_results, main_score, scored_selection
from .bootstrap import Interval, format_interval, paired_bootstrap_tasks

MAIN_CELL = ("full", "float32")
PER_QUERY_KEY = "per_query"  # proposed leafbench block: {"ndcg_at_10": {query_id: value}}
MISSING = "–"


class ReportError(UserError, ValueError):
    """Bad input for a report (no results, unreadable folder): shown as one line, exit code 2."""


# --------------------------------------------------------------------------------------------- loading


@cache
def official_splits(name: str) -> tuple[str, ...]:
    """The splits a task is scored on by its protocol: mteb's eval splits; "test" (the BEIR default leafbench
    evaluates) for a task mteb does not know."""
    try:
        import mteb

        return tuple(str(s) for s in mteb.get_task(name).metadata.eval_splits)
    except Exception:  # noqa: BLE001 - mteb raises several types for unknown names
        return ("test",)


@cache
def task_meta(name: str) -> tuple[str, str]:
    """(type, main metric) from mteb's registry; unknown names (custom tasks) fall back to the file's own."""
    try:
        import mteb

        md = mteb.get_task(name).metadata
        return str(md.type), str(md.main_score)
    except Exception:  # noqa: BLE001 - mteb raises several types for unknown names
        return "Unknown", ""


def _dim_label(lb: dict[str, Any]) -> str:
    cell = str(lb.get("cell") or "full-float32")
    if cell.startswith("full"):
        return "full"
    dim, full = lb.get("dim"), lb.get("full_dim")
    if dim is not None and full is not None and int(dim) == int(full):
        return "full"
    return str(dim if dim is not None else cell.split("d-", 1)[0])


def _side(lb: dict[str, Any], side: str) -> dict[str, Any]:
    return ((lb.get("throughput") or {}).get(side)) or {}


def load_results(root: Path, disambiguate: bool = True) -> pd.DataFrame:
    """One row per result file under `root` (layout ``<run_slug>/<mode>/<Task>[__<cell>].json``).

    Raises ReportError when the folder is missing or holds no leafbench result, so callers exit 2 with the
    folder named instead of rendering an empty report.
    """
    root = Path(root)
    if not root.is_dir():
        raise ReportError(f"{root}: results folder not found")
    rows: list[dict[str, Any]] = []
    try:
        found = list(iter_results(root))
    except ValueError as e:
        raise ReportError(str(e)) from e
    for path, data in found:
        lb = data["leafbench"]
        splits, hf_subsets = scored_selection(data)  # what the result records as evaluated, never a guess
        task = str(data.get("task_name") or path.stem.split("__")[0])
        ttype, metric = task_meta(task)
        if ttype == "Unknown" and lb.get("task_type"):  # a user's own folder: the result says what it is
            ttype, metric = str(lb["task_type"]), str(lb.get("main_metric") or "")
        st, te = lb.get("student") or {}, lb.get("teacher") or {}
        q, d = _side(lb, "query"), _side(lb, "document")
        sub = lb.get("subset")
        # A split other than the task's own (--split train) is another protocol, like a subset: never ranked
        # or exported with full-protocol results.
        other_splits = [sp for sp in splits if sp not in official_splits(task)]
        qm = lb.get("query_model") or st.get("name") or te.get("name")
        dm = lb.get("document_model") or te.get("name") or st.get("name")
        qrec = st if qm == st.get("name") else te
        drec = te if dm == te.get("name") and te else st
        rows.append(
            {
                "run": path.parent.parent.name,
                "mode": lb.get("mode") or path.parent.name,
                "task": task,
                "task_type": ttype,
                "metric": metric or "main_score",
                "split": ",".join(splits),
                "hf_subsets": ",".join(hf_subsets) if hf_subsets else "",
                "dim_label": _dim_label(lb),
                "dim": lb.get("dim"),
                "full_dim": lb.get("full_dim"),
                # A variant (rescored binary, mteb/fixed calibration) is its own column, never merged with the default.
                "dtype": (lb.get("dtype") or "float32") + (f" ({lb['variant']})" if lb.get("variant") else ""),
                "score": main_score(data),
                "scores_raw": {"scores": data["scores"], "task_name": task, "leafbench": {"eval_splits": splits}},
                "student": st.get("name"),
                "teacher": te.get("name"),
                "query_model": qm,
                "document_model": dm,
                # Who encoded each side, as an identity (two folders evaluating one model share it) and as the
                # name a reader knows (a registry name, or a local checkpoint's folder: runs/x/final -> x).
                "query_id": _encoder_id(qrec, qm),
                "document_id": _encoder_id(drec, dm),
                "query_name": display_name(qm, qrec),
                "document_name": display_name(dm, drec),
                "query_revision": qrec.get("revision"),
                "query_hf_id": qrec.get("hf_id"),
                "distilled": is_distilled(path, root, lb, qrec),
                "n_queries": lb.get("n_queries"),
                "n_documents": lb.get("n_documents"),
                "subset": _subset_label(sub),
                "protocol": protocol_label(sub, other_splits),
                "data_source": lb.get("data_source"),
                "data_fingerprint": lb.get("data_fingerprint"),
                "q_model": _side_name(q.get("model"), st, te),
                "q_texts_per_s": q.get("texts_per_s"),
                "q_tokens_per_s": q.get("tokens_per_s"),
                "q_n_texts": q.get("n_texts"),
                "q_entry": q.get("store_entry"),
                "d_model": _side_name(d.get("model"), st, te),
                "d_texts_per_s": d.get("texts_per_s"),
                "d_tokens_per_s": d.get("tokens_per_s"),
                "d_n_texts": d.get("n_texts"),
                "d_entry": d.get("store_entry"),
                "per_query": (lb.get(PER_QUERY_KEY) or {}).get(metric) if metric else None,
                "mteb_version": data.get("mteb_version"),
                "aggregate": lb.get("aggregate"),  # the aggregate task a sub-task result belongs to
                "path": str(path),
            }
        )
    if not rows:
        raise ReportError(f"{root}: no leafbench result JSON found (expected <run>/<mode>/<Task>.json)")
    if disambiguate:
        _disambiguate_runs(rows, root)
    df = pd.DataFrame(rows)
    df["mode_rank"] = df["mode"].map({m: i for i, m in enumerate(MODE_ORDER)}).fillna(len(MODE_ORDER))
    return df.sort_values(["run", "mode_rank", "task", "dim_label", "dtype"], kind="stable").reset_index(drop=True)


GENERIC_PARTS = {"final", "best", "last", "model", "output", "outputs", "checkpoint", "student", "merged"}


def display_name(name: str | None, rec: dict[str, Any] | None = None) -> str | None:
    """What a reader calls a model: its registry/hub name, or for a local checkpoint path the folder's last
    meaningful part (``runs/leaf-mpnet-stage9/final`` -> ``leaf-mpnet-stage9``)."""
    if not name:
        return name
    rec = rec or {}
    if rec.get("hf_id") or "/" not in name.strip("/") and "\\" not in name:
        return name
    parts = [p for p in Path(name).parts if p not in ("/", ".", "..")]
    for p in reversed(parts):
        if p.lower() not in GENERIC_PARTS and not p.lower().startswith(("checkpoint-", "step-", "epoch-")):
            return p
    return parts[-1] if parts else name


def _side_name(name: str | None, st: dict[str, Any], te: dict[str, Any]) -> str | None:
    rec = st if name == st.get("name") else te if name == te.get("name") else {}
    return display_name(name, rec)


def _encoder_id(rec: dict[str, Any], name: str | None) -> str | None:
    """The model's identity plus the settings that change its vectors (a teacher run with a shorter
    max_seq_length is another encoder, even with the same weights)."""
    base = rec.get("identity") or name
    extra = [
        f"len={rec['max_seq_length']}" if rec.get("max_seq_length") else "",
        f"prec={rec['precision']}" if rec.get("precision") not in (None, "fp32") else "",
    ]
    extra = [e for e in extra if e]
    return f"{base}@{','.join(extra)}" if base and extra else base


def is_distilled(path: Path, root: Path, lb: dict[str, Any], qrec: dict[str, Any]) -> bool:
    """A student/asymmetric result whose student comes from a distillation: a run folder inside a ``distill``
    results tree, or a local checkpoint (no hub id, named by a path) evaluated against a teacher (a local
    model evaluated on its own is a user's model: it belongs on the leaderboard). Teacher results never are."""
    if (lb.get("mode") or path.parent.name) == "teacher":
        return False
    name = str(qrec.get("name") or "")
    run_dir = path.parent.parent
    paired = bool(lb.get("teacher")) or (run_dir / "teacher").is_dir() or (run_dir / "asymmetric").is_dir()
    local_ckpt = not qrec.get("hf_id") and "/" in name.strip("/") and paired
    try:
        rel = path.relative_to(root).parts
    except ValueError:
        rel = path.parts
    return local_ckpt or "distill" in rel[:-3]


def _disambiguate_runs(rows: list[dict[str, Any]], root: Path) -> None:
    """Two run folders with one name (the same pair on two subsets, in two parent folders) stay two runs in
    reports: they are named by their path under `root`, so neither overwrites the other in a table. Unique
    names are left as they are. (`leafbench check` does not do this: there a repeated name is ambiguous input.)"""
    dirs: dict[str, set[Path]] = {}
    for r in rows:
        dirs.setdefault(r["run"], set()).add(Path(r["path"]).parent.parent)
    for r in rows:
        if len(dirs[r["run"]]) > 1:
            run_dir = Path(r["path"]).parent.parent
            try:
                r["run"] = run_dir.relative_to(root).as_posix()
            except ValueError:
                r["run"] = run_dir.as_posix()


def protocol_label(sub: Any, other_splits: Sequence[str] = ()) -> str:
    """Short name of the data a score was measured on: "full", or the subset ("100q/300d"), and the splits that
    are not the task's eval splits ("split=train", "100q/300d/split=train")."""
    split = [f"split={','.join(other_splits)}"] if other_splits else []
    if not sub:
        return "/".join(split) or "full"
    if isinstance(sub, dict):
        q, d = sub.get("max_queries"), sub.get("max_docs")
        parts = ([f"{q}q"] if q else []) + ([f"{d}d"] if d else [])
        rest = [f"{k}={v}" for k, v in sub.items() if k not in ("max_queries", "max_docs") and v is not None]
        return "/".join(parts + rest + split) or "subset"
    return "/".join([str(sub), *split])


def _subset_label(sub: Any) -> str:
    if not sub:
        return ""
    if isinstance(sub, dict):
        parts = [f"{k}={v}" for k, v in sub.items() if v is not None]
        return ", ".join(parts) or "subset"
    return str(sub)


def select_cell(df: pd.DataFrame, cell: tuple[str, str] = MAIN_CELL) -> pd.DataFrame:
    """Rows of one (dim label, dtype) cell; the leaderboard uses full-dim float32."""
    return df[(df["dim_label"] == cell[0]) & (df["dtype"] == cell[1])]


def row_label(run: str, mode: str, sub: pd.DataFrame) -> str:
    """What a reader calls the row: the model that encodes, or `student → teacher` for asymmetric."""
    q = sub["query_model"].dropna()
    d = sub["document_model"].dropna()
    qn = str(q.iloc[0]) if len(q) else run
    dn = str(d.iloc[0]) if len(d) else run
    return qn if qn == dn else f"{qn} → {dn}"  # asymmetric on a task without documents: one model


def task_order(df: pd.DataFrame) -> list[str]:
    """Tasks grouped by type, then by name (the leaderboard's column order)."""
    pairs = df[["task_type", "task"]].drop_duplicates().sort_values(["task_type", "task"])
    return pairs["task"].tolist()


# ---------------------------------------------------------------------------------- numeric tables


def leaderboard(df: pd.DataFrame, cell: tuple[str, str] = MAIN_CELL) -> pd.DataFrame:
    """Scores x100: index (run, mode); task columns; Mean(<type>); Mean(Task); Mean(TaskType); Rank.

    Means of an incomplete row (missing a task other rows have) are over what it has; such rows get no rank
    and are flagged in `n_tasks`/`complete`, as the MTEB leaderboard leaves them unranked.
    """
    sel = select_cell(df, cell)
    if sel.empty:
        return pd.DataFrame()
    tasks = task_order(sel)
    wide = sel.pivot_table(index=["run", "mode"], columns="task", values="score", aggfunc="first") * 100
    wide = wide.reindex(columns=tasks)
    types = sel.drop_duplicates("task").set_index("task")["task_type"]
    type_names = sorted(types.unique())
    out = wide.copy()
    for t in type_names:
        cols = [c for c in tasks if types[c] == t]
        out[f"Mean({t})"] = wide[cols].mean(axis=1, skipna=True)
    out["Mean(Task)"] = wide.mean(axis=1, skipna=True)
    out["Mean(TaskType)"] = out[[f"Mean({t})" for t in type_names]].mean(axis=1, skipna=True)
    out["n_tasks"] = wide.notna().sum(axis=1)
    out["complete"] = out["n_tasks"] == len(tasks)
    ranked = out.loc[out["complete"], "Mean(Task)"].rank(ascending=False, method="min")
    out["Rank"] = ranked.reindex(out.index)
    order = out.assign(_c=~out["complete"], _m=-out["Mean(Task)"].fillna(-1e9)).sort_values(["_c", "_m"])
    return out.loc[order.index]


def per_query_lookup(df: pd.DataFrame, cell: tuple[str, str] = MAIN_CELL) -> dict[tuple[str, str, str], dict]:
    """(run, mode, task) → per-query main-metric dict, for the cells that stored one."""
    sel = select_cell(df, cell)
    return {
        (r.run, r.mode, r.task): r.per_query for r in sel.itertuples() if isinstance(r.per_query, dict) and r.per_query
    }


def paired_interval(
    pq: dict[tuple[str, str, str], dict], run: str, mode_a: str, mode_b: str, tasks: Sequence[str], seed: int = 0
) -> Interval | None:
    """mean(a − b) over `tasks` with a paired bootstrap; None unless every task has both per-query blocks."""
    pairs = []
    for t in tasks:
        a, b = pq.get((run, mode_a, t)), pq.get((run, mode_b, t))
        if not a or not b:
            return None
        common = sorted(set(a) & set(b))
        if not common:
            return None
        pairs.append(([a[q] for q in common], [b[q] for q in common]))
    if not pairs:
        return None
    return paired_bootstrap_tasks(pairs, seed=seed)


def deltas(df: pd.DataFrame, cell: tuple[str, str] = MAIN_CELL) -> pd.DataFrame:
    """Per run and task: teacher / student / asymmetric, "% of teacher", asym − sym and student − teacher.

    asym − sym is asymmetric minus the student's own symmetric mode: what serving documents from the teacher
    buys. Intervals (95%, paired bootstrap over queries) need per-query scores; without them they are None.
    The last row per run is Mean(Task) over the tasks all three modes have.
    """
    sel = select_cell(df, cell)
    pq = per_query_lookup(df, cell)
    rows: list[dict[str, Any]] = []
    for run, g in sel.groupby("run", sort=True):
        wide = g.pivot_table(index="task", columns="mode", values="score", aggfunc="first") * 100
        if len([m for m in MODE_ORDER if m in wide.columns]) < 2:
            continue
        wide = wide.reindex(columns=list(MODE_ORDER))
        tasks = [t for t in task_order(g) if t in wide.index]
        full_rows = [t for t in tasks if wide.loc[t].notna().all()]
        for t in tasks + (["Mean(Task)"] if len(full_rows) > 1 else []):
            if t == "Mean(Task)":
                vals, tset = wide.loc[full_rows].mean(), full_rows
            else:
                vals, tset = wide.loc[t], [t]
            te, stu, asy = vals["teacher"], vals["student"], vals["asymmetric"]
            rows.append(
                {
                    "run": run,
                    "task": t,
                    "teacher": te,
                    "student": stu,
                    "asymmetric": asy,
                    "student_pct": 100 * stu / te if te else np.nan,
                    "asym_pct": 100 * asy / te if te else np.nan,
                    "asym_minus_sym": asy - stu,
                    "asym_minus_sym_ci": paired_interval(pq, run, "asymmetric", "student", tset),
                    "student_minus_teacher": stu - te,
                    "student_minus_teacher_ci": paired_interval(pq, run, "student", "teacher", tset),
                }
            )
    return pd.DataFrame(rows)


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
    dtypes = [d for d in ("float32", "float16", "bfloat16", "int8", "uint8", "binary", "ubinary") if d in grid.columns]
    grid = grid.reindex(columns=dtypes + [c for c in grid.columns if c not in dtypes])
    key = [
        (MODE_ORDER.index(mo) if mo in MODE_ORDER else 9, -1e12 if d == "full" else -int(d) if d.isdigit() else 0)
        for mo, d in grid.index
    ]
    return grid.iloc[sorted(range(len(key)), key=key.__getitem__)]


def throughput(df: pd.DataFrame) -> pd.DataFrame:
    """Per model: queries/s and docs/s over the distinct encoding passes recorded (store entries).

    Each store entry is counted once (many cells share one pass); a rate is total texts / total seconds of
    that model's passes on that side, so a big corpus weighs more than a small query set.
    """
    parts = []
    for side, label in (("q", "query"), ("d", "document")):
        cols = {
            f"{side}_model": "model",
            f"{side}_texts_per_s": "texts_per_s",
            f"{side}_tokens_per_s": "tokens_per_s",
            f"{side}_n_texts": "n_texts",
            f"{side}_entry": "entry",
        }
        p = df[list(cols)].rename(columns=cols).dropna(subset=["model", "texts_per_s", "n_texts"])
        p = p.drop_duplicates(subset=["model", "entry"])
        p = p.assign(side=label, seconds=p["n_texts"] / p["texts_per_s"])
        parts.append(p)
    allp = pd.concat(parts, ignore_index=True)
    if allp.empty:
        return pd.DataFrame()
    allp["tokens"] = allp["tokens_per_s"].fillna(0) * allp["seconds"]
    agg = allp.groupby(["model", "side"]).agg(
        n_texts=("n_texts", "sum"), seconds=("seconds", "sum"), tokens=("tokens", "sum"), passes=("entry", "nunique")
    )
    agg["texts_per_s"] = agg["n_texts"] / agg["seconds"]
    agg["tokens_per_s"] = agg["tokens"] / agg["seconds"]
    out = agg[["texts_per_s", "tokens_per_s", "n_texts", "passes"]].unstack("side")
    out.columns = [f"{s}_{c}" for c, s in out.columns]
    return out


# -------------------------------------------------------------------------------- reference block


@dataclass(frozen=True)
class Protocol:
    key: str
    label: str
    benchmark: str | None  # mteb benchmark name whose task list defines it
    exclude: tuple[str, ...] = ()


PROTOCOLS = {
    "beir15": Protocol("beir15", 'mteb "BEIR" benchmark, 15 tasks incl. MSMARCO; mean nDCG@10', "BEIR"),
    "beir14": Protocol("beir14", "LEAF paper BEIR table, 14 datasets (no MSMARCO); mean nDCG@10", "BEIR", ("MSMARCO",)),
    "mteb_eng_v2": Protocol("mteb_eng_v2", "MTEB(eng, v2), Mean(Task) over its 41 tasks", "MTEB(eng, v2)"),
}

# Benchmarks that get their own table (tasks in the benchmark's order, coverage, Borda rank).
REPORT_BENCHMARKS = ("MTEB(eng, v2)", "BEIR")

# Public numbers (LEAF paper, MTEB leaderboard, model cards), each with the protocol it was measured under.
REFERENCE: tuple[dict[str, Any], ...] = (
    {
        "model": "MongoDB/mdbr-leaf-ir",
        "mode": "student",
        "params": "22.9M",
        "dim": 768,
        "teacher": "Snowflake/snowflake-arctic-embed-m-v1.5",
        "protocol": "beir15",
        "value": 53.55,
        "source": "MTEB leaderboard / model card",
    },
    {
        "model": "MongoDB/mdbr-leaf-ir",
        "mode": "asymmetric",
        "params": "22.9M",
        "dim": 768,
        "teacher": "Snowflake/snowflake-arctic-embed-m-v1.5",
        "protocol": "beir15",
        "value": 54.03,
        "source": "model card",
    },
    {
        "model": "Snowflake/snowflake-arctic-embed-m-v1.5",
        "mode": "teacher",
        "params": "109M",
        "dim": 768,
        "teacher": "",
        "protocol": "beir15",
        "value": 55.16,
        "source": "MTEB leaderboard",
    },
    {
        "model": "MongoDB/mdbr-leaf-ir",
        "mode": "student",
        "params": "22.9M",
        "dim": 768,
        "teacher": "Snowflake/snowflake-arctic-embed-m-v1.5",
        "protocol": "beir14",
        "value": 53.9,
        "source": "arXiv 2509.12539",
    },
    {
        "model": "MongoDB/mdbr-leaf-ir",
        "mode": "asymmetric",
        "params": "22.9M",
        "dim": 768,
        "teacher": "Snowflake/snowflake-arctic-embed-m-v1.5",
        "protocol": "beir14",
        "value": 54.8,
        "source": "arXiv 2509.12539",
    },
    {
        "model": "Snowflake/snowflake-arctic-embed-m-v1.5",
        "mode": "teacher",
        "params": "109M",
        "dim": 768,
        "teacher": "",
        "protocol": "beir14",
        "value": 56.1,
        "source": "arXiv 2509.12539",
    },
    {
        "model": "MongoDB/mdbr-leaf-mt",
        "mode": "student",
        "params": "23.0M",
        "dim": 1024,
        "teacher": "mixedbread-ai/mxbai-embed-large-v1",
        "protocol": "mteb_eng_v2",
        "value": 63.97,
        "source": "MTEB leaderboard / model card",
    },
)


@cache
def protocol_tasks(key: str) -> tuple[str, ...]:
    """Task names of a protocol, read from mteb's benchmark registry (empty if mteb cannot list it)."""
    p = PROTOCOLS[key]
    try:
        import mteb

        names = [t.metadata.name for t in mteb.get_benchmark(p.benchmark).tasks]
    except Exception:  # noqa: BLE001
        return ()
    return tuple(n for n in names if n not in p.exclude)


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


def benchmark_score(row: pd.Series, benchmark: str) -> float:
    """A result's main score on the benchmark's own splits and subsets (NaN when the result lacks one of them:
    it was not measured on what the benchmark scores)."""
    sel = benchmark_selection(benchmark).get(row["task"])
    raw = row.get("scores_raw")
    if sel is None or not isinstance(raw, dict):
        return float("nan")
    try:
        return main_score(raw, splits=list(sel[0]), hf_subsets=list(sel[1]))
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


def benchmark_table(df: pd.DataFrame, benchmark: str, cell: tuple[str, str] = MAIN_CELL) -> ReportTable | None:
    b = benchmark_board(df, benchmark, cell)
    if b.empty:
        return None
    sel = select_cell(df, cell)
    tasks = [c for c in b.columns if c in b.attrs["types"]]
    mean_cols = [c for c in b.columns if c.startswith("Mean(")]
    rows = []
    for (run, mode), r in b.iterrows():
        name = row_label(run, mode, sel[(sel["run"] == run) & (sel["mode"] == mode)])
        rows.append(
            {
                "Rank": r["Rank"],
                "Model": name,
                "Mode": mode,
                "Tasks": f"{int(r['n_tasks'])}/{int(r['n_benchmark'])}",
                **{c: r[c] for c in mean_cols},
                "Borda": r["Borda"],
                **{c: r[c] for c in tasks},
                "Run": run,
            }
        )
    frame = pd.DataFrame(rows)
    frame["Rank"] = frame["Rank"].astype("Float64").astype(float)
    n = int(b["n_benchmark"].iloc[0])
    types = b.attrs["types"]
    per_type = {t: sum(1 for v in types.values() if v == t) for t in set(types.values())}
    have_type = {t: sum(1 for c in tasks if types[c] == t) for t in per_type}
    notes = [
        f"Main score x100 at {cell[0]} dim, {cell[1]}, full data only. Mean(Task) and Mean(TaskType) are over the "
        f"tasks a row has (Tasks column), so a row with fewer than {n} tasks is NOT comparable to the public "
        f"leaderboard's {benchmark} means.",
        "Rank: Borda count (as the MTEB leaderboard ranks) over the tasks every ranked row has: "
        + (", ".join(b.attrs["common"]) if b.attrs["common"] else "none")
        + "; rows with under half the tasks of the best-covered row are not ranked.",
        "Coverage by type: " + ", ".join(f"{t} {have_type[t]}/{per_type[t]}" for t in sorted(per_type)),
    ]
    if b.attrs["missing"]:
        notes.append(
            f"Missing (no result in any row, {len(b.attrs['missing'])} of {n}): " + ", ".join(b.attrs["missing"])
        )
    incomplete = b["n_tasks"] < b["n_benchmark"]
    return make_table(
        f"benchmark-{_slug(benchmark)}",
        f"{benchmark} (tasks with results here)",
        frame,
        best_max=tasks + mean_cols + ["Borda"],
        best_min=["Rank"],
        formatters={"Rank": lambda v: _fmt(v if pd.isna(v) else int(v)), "Borda": lambda v: _fmt(v, 1)},
        row_class=["incomplete" if i else "" for i in incomplete],
        notes=notes,
    )


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name).strip("-").lower()


def reference_block(df: pd.DataFrame) -> pd.DataFrame:
    """Published rows plus ours on the same protocol: a mean only where ours covers every task on full data.

    A subset run or a partial task list is shown as coverage text, never as a number next to a published
    one, because the two would not measure the same thing.
    """
    rows = [{**r, "protocol_label": PROTOCOLS[r["protocol"]].label, "ours": False, "note": ""} for r in REFERENCE]
    sel = select_cell(df)
    for key, proto in PROTOCOLS.items():
        tasks = protocol_tasks(key)
        if not tasks:
            continue
        for (run, mode), g in sel.groupby(["run", "mode"], sort=True):
            have = g[g["task"].isin(tasks)]
            if have.empty:
                continue
            full_data = (have["protocol"] == "full").all()
            complete = set(have["task"]) >= set(tasks)
            value = have["score"].mean() * 100 if complete and full_data else np.nan
            note = (
                ""
                if complete and full_data
                else (
                    f"{have['task'].nunique()}/{len(tasks)} tasks"
                    + ("" if full_data else ", query/doc subset" if (have["subset"] != "").any() else ", other split")
                    + "; not comparable"
                )
            )
            rows.append(
                {
                    "model": row_label(run, mode, g),
                    "mode": mode,
                    "params": "",
                    "dim": g["full_dim"].iloc[0],
                    "teacher": "" if mode == "teacher" else (g["teacher"].iloc[0] or ""),
                    "protocol": key,
                    "protocol_label": proto.label,
                    "value": value,
                    "source": f"ours: {run}",
                    "ours": True,
                    "note": note,
                }
            )
    return pd.DataFrame(rows)


def data_protocol(df: pd.DataFrame) -> pd.DataFrame:
    """Per task: what our numbers were measured on (split, queries, documents, subset, source, mteb)."""
    cols = [
        "task",
        "task_type",
        "metric",
        "split",
        "hf_subsets",
        "n_queries",
        "n_documents",
        "subset",
        "data_source",
        "mteb_version",
    ]
    d = df[cols].astype("object").where(df[cols].notna(), "")
    return d.drop_duplicates().sort_values(["task_type", "task"]).reset_index(drop=True)


# ------------------------------------------------------------------------------ display tables


@dataclass
class ReportTable:
    """A table ready for Markdown and HTML: display text, numeric sort keys, best-cell and row flags."""

    key: str
    title: str
    text: pd.DataFrame  # str cells; columns are the header
    sort: pd.DataFrame  # float sort key per cell (NaN: sort by text)
    best: pd.DataFrame  # bool: highlight
    row_class: list[str] = field(default_factory=list)  # "", "incomplete", "reference", "ours", "mean"
    notes: list[str] = field(default_factory=list)
    numeric: set[str] = field(default_factory=set)  # right-aligned columns
    section: str = ""  # the report section (## heading) the table belongs to
    collapsed: bool = False  # rendered folded (<details>) after the section's open tables


def _fmt(v: Any, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return MISSING
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return f"{v:.{digits}f}"
    return str(v)


def make_table(
    key: str,
    title: str,
    frame: pd.DataFrame,
    best_max: Iterable[str] = (),
    best_min: Iterable[str] = (),
    eligible: pd.Series | None = None,
    formatters: dict[str, Callable[[Any], str]] | None = None,
    sort_keys: dict[str, pd.Series] | None = None,
    row_class: Sequence[str] | None = None,
    notes: Sequence[str] = (),
) -> ReportTable:
    """Format a mixed frame; highlight each best_max (best_min) column's top (bottom) among `eligible` rows."""
    frame = frame.reset_index(drop=True)
    formatters = formatters or {}
    text = pd.DataFrame({c: [formatters.get(c, _fmt)(v) for v in frame[c]] for c in frame.columns}, dtype=object)
    sort = pd.DataFrame(index=frame.index, columns=frame.columns, dtype=float)
    numeric: set[str] = set()
    for c in frame.columns:
        if sort_keys and c in sort_keys:
            sort[c] = pd.to_numeric(pd.Series(sort_keys[c]).reset_index(drop=True), errors="coerce").to_numpy()
            numeric.add(c)
        elif pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c]):
            sort[c] = frame[c].astype(float).to_numpy()
            numeric.add(c)
    best = pd.DataFrame(False, index=frame.index, columns=frame.columns)
    ok = pd.Series(True, index=frame.index) if eligible is None else pd.Series(eligible).reset_index(drop=True)
    for cols, pick in ((best_max, "max"), (best_min, "min")):
        for c in cols:
            vals = sort[c].where(ok)
            if vals.notna().sum() < 2:
                continue
            target = vals.max() if pick == "max" else vals.min()
            best[c] = np.isclose(vals.to_numpy(dtype=float), target, rtol=0, atol=1e-9) & vals.notna().to_numpy()
    return ReportTable(key, title, text, sort, best, list(row_class or [""] * len(frame)), list(notes), numeric)


def leaderboard_table(
    df: pd.DataFrame, cell: tuple[str, str] = MAIN_CELL, key: str = "leaderboard", title: str | None = None
) -> ReportTable | None:
    lb = leaderboard(df, cell)
    if lb.empty:
        return None
    sel = select_cell(df, cell)
    tasks = task_order(sel)
    mean_cols = [c for c in lb.columns if c.startswith("Mean(")]
    rows, classes, missing_notes = [], [], []
    for (run, mode), r in lb.iterrows():
        g = sel[(sel["run"] == run) & (sel["mode"] == mode)]
        name = row_label(run, mode, g)
        if not r["complete"]:
            missing = [t for t in tasks if pd.isna(r[t])]
            missing_notes.append(f"{name} ({mode}): missing {', '.join(missing)}")
            name += " *"
        # Run goes last: on a phone the scores should be what scrolls into view first.
        rows.append(
            {"Rank": r["Rank"], "Model": name, "Mode": mode, **{c: r[c] for c in tasks + mean_cols}, "Run": run}
        )
        classes.append("" if r["complete"] else "incomplete")
    frame = pd.DataFrame(rows)
    frame["Rank"] = frame["Rank"].astype("Float64").astype(float)
    notes = [
        f"Main score x100 ({', '.join(sorted(set(sel['metric'])))}) at {cell[0]} dim, {cell[1]}; "
        "bold = best in column; Rank by Mean(Task) among complete rows."
    ]
    if missing_notes:
        notes.append("* incomplete (means over the tasks it has; not ranked): " + "; ".join(missing_notes))
    subs = sel[sel["subset"] != ""]
    if not subs.empty:
        notes.append(
            "Subset runs (not comparable to published numbers): "
            + "; ".join(sorted({f"{t}: {s}" for t, s in zip(subs["task"], subs["subset"])}))
        )
    return make_table(
        key,
        title or f"Leaderboard ({cell[0]} dim, {cell[1]})",
        frame,
        best_max=tasks + mean_cols,
        best_min=["Rank"],
        eligible=None,
        formatters={"Rank": lambda v: _fmt(v if pd.isna(v) else int(v))},
        row_class=classes,
        notes=notes,
    )


def deltas_table(df: pd.DataFrame, cell: tuple[str, str] = MAIN_CELL) -> ReportTable | None:
    d = deltas(df, cell)
    if d.empty:
        return None
    frame = pd.DataFrame(
        {
            "Run": d["run"],
            "Task": d["task"],
            "Teacher": d["teacher"],
            "Student": d["student"],
            "Asymmetric": d["asymmetric"],
            "Student % of teacher": d["student_pct"],
            "Asym % of teacher": d["asym_pct"],
            "Asym − sym": d["asym_minus_sym"],
            "Asym − sym 95% CI": d["asym_minus_sym_ci"],
            "Student − teacher": d["student_minus_teacher"],
            "Student − teacher 95% CI": d["student_minus_teacher_ci"],
        }
    )
    sign = lambda v: MISSING if pd.isna(v) else f"{v:+.2f}"  # noqa: E731
    ci = lambda iv: format_interval(iv)  # noqa: E731
    ci_sort = {
        c: frame[c].map(lambda iv: iv.delta * 100 if isinstance(iv, Interval) else np.nan)
        for c in ("Asym − sym 95% CI", "Student − teacher 95% CI")
    }
    any_ci = frame[list(ci_sort)].map(lambda v: isinstance(v, Interval)).to_numpy().any()
    notes = [
        "Scores x100. asym − sym = asymmetric (student queries, teacher documents) − student (symmetric). "
        "95% CI: paired bootstrap over queries (2,000 resamples; Mean(Task) resamples each task)."
    ]
    if not any_ci:
        notes.append("CI n/a: these results hold no per-query scores (leafbench block `per_query`).")
    return make_table(
        "deltas",
        "Student, teacher and asymmetric: % of teacher and deltas",
        frame,
        formatters={
            "Asym − sym": sign,
            "Student − teacher": sign,
            "Asym − sym 95% CI": ci,
            "Student − teacher 95% CI": ci,
        },
        sort_keys=ci_sort,
        row_class=["mean" if t == "Mean(Task)" else "" for t in frame["Task"]],
        notes=notes,
    )


def reference_table(df: pd.DataFrame) -> ReportTable:
    ref = reference_block(df)
    # Our rows only where they carry a comparable number; partial coverage is one line per protocol below.
    partial = ref[ref["ours"] & ref["value"].isna()]
    ref = ref[~ref["ours"] | ref["value"].notna()].drop_duplicates(subset=["model", "mode", "protocol", "value"])
    cover = []
    for key, g in partial.groupby("protocol", sort=False):
        n = g["note"].str.extract(r"^(\d+)/(\d+)").astype(float)
        best = f"{int(n[0].max())}/{int(n[1].max())} tasks" if n[0].notna().any() else "partial"
        cover.append(
            f"{PROTOCOLS[key].label}: {g['source'].nunique()} of our runs cover at most {best}"
            + (" (some on query/document subsets)" if g["note"].str.contains("subset").any() else "")
        )
    frame = pd.DataFrame(
        {
            "Model": ref["model"],
            "Mode": ref["mode"],
            "Score": ref["value"],
            "Protocol": ref["protocol_label"],
            "Note": ref["note"],
            "Source": ref["source"],
            "Teacher": ref["teacher"],
            "Params": ref["params"],
            "Dim": ref["dim"],
        }
    )
    classes = ["ours" if o else "reference" for o in ref["ours"]]
    return make_table(
        "reference",
        "Reference: published numbers and ours, by protocol",
        frame,
        row_class=classes,
        formatters={
            "Dim": lambda v: (
                _fmt(int(v)) if isinstance(v, (int, float, np.integer, np.floating)) and not pd.isna(v) else _fmt(v)
            )
        },
        notes=[
            "Published numbers (the Source column; full test sets, prompts as on the model cards). Ours get a "
            "score only where they cover every task of the protocol on full data."
        ]
        + (["Not comparable yet: " + "; ".join(cover) + "."] if cover else []),
    )


def cell_tables(df: pd.DataFrame) -> list[ReportTable]:
    """One dims x dtypes table per (run, task type): rows (mode, dim), columns dtypes, mean over that type's
    tasks with every cell, so a sweep on STS is never averaged with a different grid on retrieval."""
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
            key = f"cells-{run}" if len(types) == 1 else f"cells-{run}-{_slug(ttype)}"
            title = f"Dims x dtypes: {run}" + ("" if len(types) == 1 else f", {ttype} ({len(tasks)} tasks)")
            out.append(make_table(key, title, frame, notes=notes))
    return out


def throughput_table(df: pd.DataFrame) -> ReportTable | None:
    t = throughput(df)
    if t.empty:
        return None
    frame = pd.DataFrame(
        {
            "Model": t.index,
            "Queries/s": t.get("query_texts_per_s"),
            "Docs/s": t.get("document_texts_per_s"),
            "Query tokens/s": t.get("query_tokens_per_s"),
            "Doc tokens/s": t.get("document_tokens_per_s"),
            "Queries encoded": t.get("query_n_texts"),
            "Docs encoded": t.get("document_n_texts"),
        }
    ).reset_index(drop=True)
    one = lambda v: MISSING if pd.isna(v) else f"{v:,.1f}"  # noqa: E731
    cnt = lambda v: MISSING if pd.isna(v) else f"{int(v):,}"  # noqa: E731
    return make_table(
        "throughput",
        "Encoding throughput per model",
        frame,
        best_max=["Queries/s", "Docs/s"],
        formatters={
            "Queries/s": one,
            "Docs/s": one,
            "Query tokens/s": one,
            "Doc tokens/s": one,
            "Queries encoded": cnt,
            "Docs encoded": cnt,
        },
        notes=[
            "Texts per second of the encoding passes that produced the stored embeddings (cache hits keep the "
            "original pass's rate), pooled over distinct passes. Machine-dependent: compare within one report."
        ],
    )


def protocol_table(df: pd.DataFrame) -> ReportTable:
    d = data_protocol(df)
    frame = d.rename(
        columns={
            "task": "Task",
            "task_type": "Type",
            "metric": "Main metric",
            "split": "Split",
            "hf_subsets": "HF subsets",
            "n_queries": "Queries",
            "n_documents": "Documents",
            "subset": "Subset",
            "data_source": "Data",
            "mteb_version": "mteb",
        }
    )
    return make_table("data", "What our numbers were measured on", frame)


def pick_main_cell(df: pd.DataFrame) -> tuple[str, str]:
    """full-dim float32 when present, else the (dim, dtype) cell with the most results (a 256d-only sweep)."""
    if not select_cell(df, MAIN_CELL).empty:
        return MAIN_CELL
    counts = df.groupby(["dim_label", "dtype"]).size()
    if not len(counts):
        return MAIN_CELL
    # Most results first; ties go to float32, then to the largest dim.
    best = min(counts.index, key=lambda c: (-counts[c], c[1] != "float32", -int(c[0]) if c[0].isdigit() else 0))
    return (str(best[0]), str(best[1]))


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


def build_tables(df: pd.DataFrame, subtasks: bool = False) -> list[ReportTable]:
    """All report tables in reading order for a loaded frame (what `leafbench report` renders; see build.py).

    Sub-task results of aggregate tasks stay out of every table (the aggregate is one column, as on mteb's
    leaderboard); with `subtasks` a last table lists them."""
    from .build import report_from_frame

    return report_from_frame(df, subtasks=subtasks).tables


def to_markdown(t: ReportTable) -> str:
    """GitHub Markdown; best cells bold, notes as a paragraph below."""
    esc = lambda s: str(s).replace("|", "\\|")  # noqa: E731
    cols = list(t.text.columns)
    lines = [
        f"### {t.title}",
        "",
        "| " + " | ".join(esc(c) for c in cols) + " |",
        "|" + "|".join("---:" if c in t.numeric else "---" for c in cols) + "|",
    ]
    for i in range(len(t.text)):
        cells = [
            f"**{esc(t.text.iat[i, j])}**" if t.best.iat[i, j] else esc(t.text.iat[i, j]) for j in range(len(cols))
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if t.notes:
        lines += [""] + [f"_{n}_" if n else "" for n in t.notes]
    return "\n".join(lines) + "\n"
