"""Export results into mteb's results-folder layout, so mteb's own tooling (``mteb.ResultCache``, the
leaderboard code) reads leafbench numbers next to published ones.

Layout, as ``ResultCache.save_to_cache`` writes it: ``<out>/results/<model name, "/" -> "__">/<revision>/<Task>.json``
plus ``model_meta.json`` in each revision folder, so ``mteb.ResultCache(<out>)`` reads an export to any folder
(an existing mteb cache included: the export joins its results). Only full-protocol, full-dim float32 results are exported: a subset, another
split or a compressed cell would sit in mteb's tables as if it were the model's published number, and so would a
transductive student's (adapted on the evaluation corpus), which is left out too.

An export is all or nothing and never replaces a file unasked: every result is read and every target checked
before the first file is written (an existing one is refused unless ``overwrite``), files are written into a
staging folder inside the output and only then moved into place.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .compare import cells
from .frame import MAIN_CELL, ReportError, load_folders, select_cell

NO_REVISION = "no_revision_available"  # mteb's own name for an unknown revision


@dataclass
class ExportSummary:
    out: Path
    written: list[Path] = field(default_factory=list)
    models: dict[str, str] = field(default_factory=dict)  # "<mteb model name>@<revision>" -> revision
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> number of results


def _s(v: Any) -> str | None:
    """A string field of a frame row, None for missing (NaN is truthy, so `or` chains need this)."""
    return str(v) if isinstance(v, str) and v else None


def mteb_model_name(row: pd.Series) -> str:
    """The hub id when the model has one (mteb knows it), else the display name; asymmetric systems are
    named ``<student>_asym_<teacher>`` since mteb has no notion of two encoders."""
    q = _s(row.get("query_hf_id")) or str(row["query_name"])
    if row["query_id"] == row["document_id"]:
        return str(q)
    d = str(row["document_name"]).split("/")[-1]
    return f"{str(q).split('/')[-1]}_asym_{d}"


def mteb_revision(row: pd.Series) -> str:
    """The recorded revision; for a local checkpoint its content identity (two retrainings stay apart)."""
    rev = _s(row.get("query_revision"))
    if rev:
        return rev
    ident = _s(row.get("query_id")) or ""
    if ident.startswith("local:") and not _s(row.get("query_hf_id")):
        return "local-" + re.sub(r"[^A-Za-z0-9._-]", "-", ident.split(":", 1)[1])
    return NO_REVISION


def model_meta_dict(name: str, revision: str, row: pd.Series) -> dict[str, Any]:
    """model_meta.json as mteb writes it (``ModelMeta.to_dict()``): mteb's registry entry for a hub model
    (revision set to ours), else a minimal ModelMeta naming the checkpoint."""
    import mteb
    from mteb.models.model_meta import ModelMeta, ScoringFunction

    meta = None
    if _s(row.get("query_hf_id")) and row["query_id"] == row["document_id"]:
        try:
            meta = mteb.get_model_meta(str(row["query_hf_id"])).model_copy(update={"revision": revision, "name": name})
        except Exception:  # noqa: BLE001 - not in mteb's registry: build a minimal one
            meta = None
    if meta is None:
        fields: dict[str, Any] = {
            "loader": None,
            "name": name,
            "revision": revision,
            "release_date": None,
            "languages": None,
            "n_parameters": None,
            "memory_usage_mb": None,
            "max_tokens": None,
            "embed_dim": int(row["full_dim"]) if pd.notna(row.get("full_dim")) else None,
            "license": None,
            "open_weights": None,
            "public_training_code": None,
            "public_training_data": None,
            "framework": ["Sentence Transformers"],
            "similarity_fn_name": ScoringFunction.COSINE,
            "use_instructions": False,
            "training_datasets": None,
        }
        try:
            meta = ModelMeta(**fields)
        except Exception:  # noqa: BLE001 - a stricter mteb: same fields, unvalidated, as mteb itself reads them
            meta = ModelMeta.model_construct(**fields)
    data = json.loads(json.dumps(meta.to_dict(), default=str))
    if isinstance(data.get("training_datasets"), list):
        # mteb keeps them as a set: sorted, so exporting the same model twice writes the same model_meta.json.
        data["training_datasets"] = sorted(data["training_datasets"], key=str)
    return data


def export_mteb(
    results: Path | Sequence[Path], out: Path, overwrite: bool = False, names: Mapping[str, str] | None = None
) -> ExportSummary:
    """Write every full-protocol full-dim float32 result under `results` (one folder or several) into mteb's
    layout under `out`/results, the folder ``mteb.ResultCache(out)`` reads.

    `names`: exported name -> the name to publish it under, e.g. an asymmetric pair
    ``leaf-ir_asym_mpnet-base`` -> the hub id its Router model was pushed to (``leafbench push``), so mteb's
    results name the one model that serves both sides. A name no exported system has is an error.

    Identical results from several run folders are written once; two files disagreeing on one model, task
    and revision raise an error (exit 2) instead of one silently overwriting the other. So does a file
    already in `out` (unless `overwrite`; a model_meta.json with the same content is not a conflict): nothing
    is written then."""
    roots, df = load_folders(results)
    out = Path(out)
    summary = ExportSummary(out)
    full = _exported(df, summary, ", ".join(str(r) for r in roots))
    dest = out / "results"
    plan = _plan(cells(full), dest, summary, dict(names or {}))
    _check_targets(plan, dest, overwrite)
    _write(plan, dest, summary)
    return summary


def _exported(df: pd.DataFrame, summary: ExportSummary, results: str) -> pd.DataFrame:
    """The full-protocol full-dim float32 rows; what is left out is counted in `summary.skipped`."""
    sel = select_cell(df, MAIN_CELL)
    if len(df) > len(sel):
        summary.skipped["other dims/dtypes"] = len(df) - len(sel)
    full = sel[sel["protocol"] == "full"]
    if len(sel) > len(full):
        summary.skipped["query/document subsets or other splits"] = len(sel) - len(full)
    # A student trained on the evaluation corpus: never a zero-shot number (its run's teacher rows still are).
    adapted = (
        (full["adaptation"].fillna("").astype(bool) & (full["mode"] != "teacher")) if "adaptation" in full else None
    )
    if adapted is not None and adapted.any():
        summary.skipped["transductive students"] = int(adapted.sum())
        full = full[~adapted]
    if full.empty:
        raise ReportError(f"{results}: no full-protocol full-dim float32 result to export")
    return full


def _plan(c: pd.DataFrame, out: Path, summary: ExportSummary, names: dict[str, str]) -> dict[Path, Any]:
    """Every file to write, relative to `out`, with its content (a TaskResult or model_meta.json's text), at the
    path ``mteb.ResultCache`` gives it (``<model, "/" -> "__">/<revision>/<Task>.json``)."""
    from mteb import ResultCache, TaskResult

    found = {mteb_model_name(row) for _, row in c.iterrows()}
    unknown = sorted(set(names) - found)
    if unknown:
        raise ReportError(
            f"--name {unknown[0]}=...: no exported system is named {unknown[0]!r} (exported: {', '.join(sorted(found))})"
        )
    plan: dict[Path, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        cache = ResultCache(tmp)  # only names paths here: export stages its files and never overwrites unasked
        for _, row in c.iterrows():
            name, rev = mteb_model_name(row), mteb_revision(row)
            name = names.get(name, name)
            try:
                result = TaskResult.from_disk(Path(row["path"]))
            except Exception as e:  # noqa: BLE001 - pydantic and mteb raise several types for a file they refuse
                raise ReportError(f"{row['path']}: mteb cannot read it as a TaskResult ({type(e).__name__})") from None
            target = cache.get_task_result_path(result.task_name, name, rev).relative_to(cache.cache_path / "results")
            if target in plan:  # two systems mapped to one name and revision: refuse, never overwrite
                raise ReportError(f"{row['path']}: {out / target} would also be written from another result")
            plan[target] = result
            if summary.models.get(f"{name}@{rev}") is None:
                plan[target.parent / "model_meta.json"] = json.dumps(model_meta_dict(name, rev, row), indent=4)
                summary.models[f"{name}@{rev}"] = rev
    return plan


def _check_targets(plan: dict[Path, Any], out: Path, overwrite: bool) -> None:
    """Refuse (before anything is written) a target in the way of another or already there unless `overwrite`;
    drop from `plan` a model_meta.json already there with the same content."""
    for target, content in list(plan.items()):
        dest = out / target
        blocker = next((out / f for f in reversed(target.parents) if (out / f).is_file()), None)
        if blocker is not None or dest.is_dir():
            raise ReportError(f"{blocker or dest}: is in the way of {dest} (a file where a folder is, or the reverse)")
        if not dest.exists():
            continue
        if isinstance(content, str) and dest.is_file() and dest.read_text(encoding="utf-8") == content:
            del plan[target]  # the same model_meta.json, from an earlier export of other tasks
        elif not overwrite:
            raise ReportError(f"{dest}: already exists; pass --overwrite to replace files in {out}")


def _write(plan: dict[Path, Any], out: Path, summary: ExportSummary) -> None:
    """Write `plan` into a staging folder inside `out`, then move every file into place."""
    out.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=out, prefix=".leafbench-export-"))
    try:
        for target, content in plan.items():
            (stage / target).parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, str):
                (stage / target).write_text(content, encoding="utf-8")
            else:
                content.to_disk(stage / target)
        for target in plan:
            (out / target).parent.mkdir(parents=True, exist_ok=True)
            os.replace(stage / target, out / target)
            if target.name != "model_meta.json":
                summary.written.append(out / target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
