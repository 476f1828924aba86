"""The report's frame: one row per result file, built from the records :func:`leafbench.results.load_results`
reads, with what a report adds to a record (the task's type and metric from mteb, who encoded each side as a
reader names it, the data protocol, whether a run is a distillation), so Markdown, HTML, plots, the mteb export
and the regression check all read the same numbers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import UserError
from ..modes import MODE_ORDER
from ..record import ResultRecord, SchemaError
from ..results import load_results as load_records

MAIN_CELL = ("full", "float32")


class ReportError(UserError, ValueError):
    """Bad input for a report (no results, unreadable folder): shown as one line, exit code 2."""


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


def load_results(root: Path, disambiguate: bool = True) -> pd.DataFrame:
    """One row per result file under `root` (layout ``<run_slug>/<mode>/<Task>[__<cell>].json``), built from the
    records :func:`leafbench.results.load_results` reads (the record itself is the ``record`` column).

    Raises ReportError when the folder is missing, holds a damaged result or no leafbench result, so callers exit
    2 with the folder or file named instead of rendering an empty report.
    """
    root = Path(root)
    if not root.is_dir():
        raise ReportError(f"{root}: results folder not found")
    try:
        records = load_records(root)
    except SchemaError as e:
        raise ReportError(str(e)) from e
    if not records:
        raise ReportError(f"{root}: no leafbench result JSON found (expected <run>/<mode>/<Task>.json)")
    rows = [_row(rec, root) for rec in records]
    if disambiguate:
        _disambiguate_runs(rows, root)
        _protocol_runs(rows)
    df = pd.DataFrame(rows)
    df["mode_rank"] = df["mode"].map({m: i for i, m in enumerate(MODE_ORDER)}).fillna(len(MODE_ORDER))
    return df.sort_values(["run", "mode_rank", "task", "dim_label", "dtype"], kind="stable").reset_index(drop=True)


def load_folders(results: Path | str | Sequence[Path | str]) -> tuple[list[Path], pd.DataFrame]:
    """(folders, one frame over all of them) for `results`: one results folder or several (the repo's results
    and an experiment's), each read by :func:`load_results`."""
    roots = [Path(results)] if isinstance(results, (str, Path)) else [Path(r) for r in results]
    if not roots:
        raise ReportError("no results folder given")
    frames = [load_results(r) for r in roots]
    if len(frames) == 1:
        return roots, frames[0]
    df = pd.concat(frames, ignore_index=True)
    _disambiguate_across_roots(df)
    return roots, df


def _row(rec: ResultRecord, root: Path) -> dict[str, Any]:
    """A record as a report row: mteb's task type and metric, who encoded each side, the data protocol."""
    splits, hf_subsets = rec.selection()  # what the result records as evaluated, never a guess
    task = str(rec.task_name)
    ttype, metric = task_meta(task)
    if ttype == "Unknown" and rec.task_type:  # a user's own folder: the result says what it is
        ttype, metric = str(rec.task_type), str(rec.main_metric or "")
    q, d = rec.side("query"), rec.side("document")
    # A split other than the task's own (--split train) is another protocol, like a subset: never ranked
    # or exported with full-protocol results.
    other_splits = [sp for sp in splits if sp not in official_splits(task)]
    qm, dm = rec.query_model_name, rec.document_model_name
    qrec, drec = rec.query_encoder, rec.document_encoder
    row = {
        "run": rec.run,
        "mode": rec.mode_label,
        "task": task,
        "task_type": ttype,
        "metric": metric or "main_score",
        "split": ",".join(splits),
        "hf_subsets": ",".join(hf_subsets) if hf_subsets else "",
        "dim_label": rec.dim_label,
        "dim": rec.dim,
        "full_dim": rec.full_dim,
        # A variant (rescored binary, mteb/fixed calibration) is its own column, never merged with the default.
        "dtype": rec.dtype_label,
        "score": rec.main_score,
        "record": rec,
        "student": rec.student_name,
        "teacher": rec.teacher_name,
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
        "distilled": is_distilled(rec, root),
        "n_queries": rec.n_queries,
        "n_documents": rec.n_documents,
        "subset": _subset_label(rec.subset),
        "protocol": protocol_label(rec.subset, other_splits),
        "adaptation": _adaptation(rec),
        "data_source": rec.data_source,
        "data_fingerprint": rec.data_fingerprint,
        **_side_columns("q", q, rec),
        **_side_columns("d", d, rec),
        "per_query": rec.per_query_scores(metric),
        "mteb_version": rec.mteb_version,
        "aggregate": rec.aggregate,  # the aggregate task a sub-task result belongs to
        "path": str(rec.path),
        "root": str(root),
    }
    if row["adaptation"]:  # every table names the adapted student as such, never as the zero-shot model
        tag = f" [{row['adaptation']}]"
        for side, name in (("query", qm), ("document", dm)):
            if name and name == rec.student_name:
                for col in (f"{side}_model", f"{side}_name", f"{side[0]}_model"):
                    row[col] = f"{row[col]}{tag}" if row[col] else row[col]
    return row


def _side_columns(prefix: str, side: dict[str, Any], rec: ResultRecord) -> dict[str, Any]:
    """One side's encoding pass (``q_*`` or ``d_*``): the model as a reader names it, its rates and store entry."""
    return {
        f"{prefix}_model": display_name(side.get("model"), rec.model_block_named(side.get("model"))),
        f"{prefix}_texts_per_s": side.get("texts_per_s"),
        f"{prefix}_tokens_per_s": side.get("tokens_per_s"),
        f"{prefix}_n_texts": side.get("n_texts"),
        f"{prefix}_entry": side.get("store_entry"),
    }


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


def is_distilled(rec: ResultRecord, root: Path) -> bool:
    """A student/asymmetric result whose student comes from a distillation: a run folder inside a ``distill``
    results tree, or a local checkpoint (no hub id, named by a path) evaluated against a teacher (a local
    model evaluated on its own is a user's model: it belongs on the leaderboard). Teacher results never are."""
    if rec.mode_label == "teacher":
        return False
    qrec, path = rec.query_encoder, Path(str(rec.path))
    name = str(qrec.get("name") or "")
    run_dir = path.parent.parent
    paired = bool(rec.teacher) or (run_dir / "teacher").is_dir() or (run_dir / "asymmetric").is_dir()
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


# The ``__<protocol>`` part of a run folder's name (record.protocol_suffix): 40q-300d, split-train, both.
_PROTOCOL_FOLDER = re.compile(r"__(?:\d+q)?(?:-?\d+d)?(?:-?split-[^/]+)?$")


def _adaptation(rec: ResultRecord) -> str:
    """The kind of adaptation a result's student had, e.g. transductive (leafbench_distill `data.transductive`:
    trained on the evaluation corpus); "" for a zero-shot model."""
    block = rec.extra.get("adaptation")
    return str(block.get("kind", "adapted")) if isinstance(block, dict) else ""


def _protocol_runs(rows: list[dict[str, Any]]) -> None:
    """A run is one data protocol: a run folder's results on a subset or another split are labelled as a run of
    their own (``minilm-l6 [10q/100d]``), so no table, mean, rank or figure keyed by run mixes two protocols.
    A transductive student's runs say so in their name (``leaf-x [transductive]``): never read as zero-shot."""
    # The tag goes on the whole run folder (its teacher-mode rows, which carry no adaptation, included), so one
    # folder stays one run.
    adapted = {(r.get("root"), r["run"]): r["adaptation"] for r in rows if r.get("adaptation")}
    for r in rows:
        kind = adapted.get((r.get("root"), r["run"]))
        if r["protocol"] != "full":
            base = _PROTOCOL_FOLDER.sub("", r["run"])  # a folder named after its protocol: named once
            r["run"] = f"{base} [{r['protocol']}]"
        if kind and f"[{kind}]" not in r["run"]:
            r["run"] = f"{r['run']} [{kind}]"


def _disambiguate_across_roots(df: pd.DataFrame) -> None:
    """Runs of one name in two results folders that hold the same (mode, task, cell) are two runs: each is named
    by its folder (``results-demo/minilm-l6``), so neither number replaces or is averaged with the other.
    Runs that only complement each other (other tasks or cells) stay one."""
    keys = ["run", "mode", "task", "dim_label", "dtype"]
    clash = df.groupby(keys)["root"].transform("nunique") > 1
    for run in df.loc[clash, "run"].unique():
        rows = df["run"] == run
        df.loc[rows, "run"] = [f"{Path(root).name}/{run}" for root in df.loc[rows, "root"]]


def protocol_label(sub: Any, other_splits: Sequence[str] = ()) -> str:
    """Short name of the data a score was measured on: "full", or the subset ("100q/300d"), and the splits that
    are not the task's eval splits ("split=train", "100q/300d/split=train")."""
    split = [f"split={','.join(other_splits)}"] if other_splits else []
    if not sub:
        return "/".join(split) or "full"
    if isinstance(sub, dict):
        q, d = sub.get("max_queries"), sub.get("max_docs")
        parts = ([f"{q}q"] if q else []) + ([f"{d}d"] if d else [])
        dev = [_dev_label(sub["dev"])] if isinstance(sub.get("dev"), dict) else []
        rest = [f"{k}={v}" for k, v in sub.items() if k not in ("max_queries", "max_docs", "dev") and v is not None]
        return "/".join(parts + dev + rest + split) or "subset"
    return "/".join([str(sub), *split])


def _dev_label(dev: dict[str, Any]) -> str:
    """A distillation dev set (leafbench_distill.validation): "dev 404q (0.5 of the split, seed 0)"."""
    return f"dev {dev.get('dev_queries', '?')}q ({dev.get('fraction', '?')} of the split, seed {dev.get('seed', '?')})"


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
