"""Non-retrieval MTEB tasks through mteb's own task objects and evaluators, one call per (mode, cell).

Embeddings come from leafbench's store via StoreEncoder, so the first (mode, cell) of a task pays for
encoding and every other cell re-runs only mteb's evaluator (regression, k-means, logistic regression, ...).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .cells import Cell, file_label, variant
from .evaluate import TaskRun, _stored_provenance, check_no_protocol_conflict, result_protocol
from .mteb_encoder import ASYMMETRIC_POLICY, ROUTES, StoreEncoder
from .record import ResultRecord, data_roots, model_block, relativize, result_path, write_result

log = logging.getLogger(__name__)


def task_data_fingerprint(task: Any, data_source: str = "") -> str:
    """Content hash of a task's loaded data (every subset, split, column and row), so a result measured on other
    data (another local copy, a cut, another subset) is never taken for this one; a task mteb will load itself
    (online) is named by its source (``hf:<path>@<revision>``, a pinned dataset revision)."""
    h = hashlib.blake2b(digest_size=16)

    def walk(prefix: str, obj: Any) -> None:
        if isinstance(obj, Mapping):  # {subset: {split: Dataset}} or a DatasetDict
            for key in sorted(obj):
                walk(f"{prefix}/{key}", obj[key])
        elif hasattr(obj, "to_dict") and hasattr(obj, "column_names"):
            h.update(prefix.encode())
            cols = obj.to_dict()
            h.update(
                json.dumps({c: cols[c] for c in sorted(cols)}, ensure_ascii=False, default=str).encode(
                    "utf-8", "surrogatepass"
                )
            )
        else:
            h.update(f"{prefix}={obj!r}".encode("utf-8", "surrogatepass"))

    if getattr(task, "data_loaded", False) and getattr(task, "dataset", None) is not None:
        walk("", task.dataset)
    else:
        h.update(f"source={data_source}".encode())
    return h.hexdigest()


def mteb_cell_provenance(
    task: Any,
    fingerprint: str,
    encoders: Mapping[str, Any],
    mode: str,
    label: str | None,
    calibration: str,
) -> str:
    """Hash of everything that determines one non-retrieval cell: the task (name, subsets, splits), its data
    fingerprint, the encoders this mode routes each kind of text to (identity/revision, prompt, max_seq_length,
    precision, backend), the cell, its calibration and the code versions (as evaluate.cell_provenance does for
    retrieval). A result file is reused only when its provenance equals this."""
    from importlib.metadata import version

    from .version import __version__

    q_role, d_role, t_role = ROUTES[mode]
    keys = {
        side: asdict(encoders[role].key(side))
        for role, side in ((q_role, "query"), (d_role, "document"), (t_role, "text"))
        if role in encoders
    }
    payload = {
        "task": task.metadata.name,
        "hf_subsets": list(getattr(task, "hf_subsets", None) or []),
        "eval_splits": list(getattr(task, "eval_splits", None) or task.metadata.eval_splits),
        "data": fingerprint,
        "encoders": keys,
        "cell": label or "full-float32",
        "calibration": calibration,
        "leafbench": __version__,
        "mteb": version("mteb"),
    }
    return hashlib.blake2b(json.dumps(payload, sort_keys=True, default=str).encode(), digest_size=16).hexdigest()


def evaluate_mteb_task(
    task: Any,
    encoders: dict[str, Any],
    modes: Sequence[str],
    output: Path | None,
    run_slug: str,
    cells: Sequence[Cell] = (Cell(None, "float32"),),
    calibration: str = "corpus",
    force: bool = True,
    extra: dict[str, Any] | None = None,
    data_source: str = "",
    progress: Callable[[str], None] | None = None,
    selected_by: str = "",
    data_dir: Path | None = None,
) -> TaskRun:
    """Run one mteb task object for every mode x cell; write mteb TaskResult JSON + a leafbench block.

    The task object is evaluated as configured (its ``eval_splits`` and ``hf_subsets``: a benchmark's object
    restricts them), and the leafbench block records both, with ``selected_by`` saying whose selection it is, so
    a report reads the main score of exactly those splits and subsets. `data_source` is recorded relative to
    `data_dir` (never as an absolute path).
    """
    import mteb

    name = task.metadata.name
    eval_splits = [str(s) for s in task.eval_splits]
    hf_subsets = [str(s) for s in task.hf_subsets] if getattr(task, "hf_subsets", None) else ["default"]
    fingerprint = task_data_fingerprint(task, data_source)
    run = TaskRun(task_name=name, data_fingerprint=fingerprint)

    def protocol(mode: str) -> dict[str, Any]:
        roles = set(ROUTES[mode])
        blocks = {r: model_block(encoders[r]) for r in ("student", "teacher") if r in roles}
        split = eval_splits[0] if len(eval_splits) == 1 else None
        return result_protocol({"split": split, "eval_splits": eval_splits, "hf_subsets": hf_subsets, **blocks})

    for m in modes:
        roles = set(ROUTES[m])
        for role in roles:
            if role not in encoders:
                raise ValueError(f"mode {m!r} needs a {role} model")
        for cell in cells:
            var = variant(cell, calibration)
            label = file_label(cell, var)
            path = result_path(output, run_slug, m, name, label) if output is not None else None
            provenance = mteb_cell_provenance(task, fingerprint, encoders, m, label, calibration)
            if path is not None and path.exists() and not force:
                if _stored_provenance(path) == provenance:
                    run.skipped += 1
                    continue
                check_no_protocol_conflict(path, protocol(m))
                # Measured on other data, models or settings (or unreadable): recomputed, never shown as this run's.
                log.info("%s: measured on other data or models than this run; recomputing", path)
            if progress:
                progress(f"{name} {m} {label or 'full-float32'}")
            enc = StoreEncoder(encoders, m, cell, calibration, name=f"leafbench/{run_slug}")
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # mteb warns per call about superseded tasks / small calibration sets
                res = mteb.evaluate(enc, [task], cache=None, show_progress_bar=False)
            if not res.task_results:
                raise RuntimeError(f"mteb returned no result for {name} ({m}, {label or 'full-float32'})")
            tr = res.task_results[0]
            data = json.loads(tr.model_dump_json())
            used_roles = sorted({c["role"] for c in enc.calls})
            roots = data_roots(data_dir)
            data["leafbench"] = (
                ResultRecord(
                    mode=m,
                    task_type=task.metadata.type,
                    student=model_block(encoders.get("student"), roots)
                    if "student" in used_roles or m != "teacher"
                    else None,
                    teacher=model_block(encoders.get("teacher"), roots) if "teacher" in used_roles else None,
                    roles_used=used_roles,
                    asymmetric_policy=ASYMMETRIC_POLICY if m == "asymmetric" else None,
                    full_dim=enc.calls[0]["full_dim"] if enc.calls else None,
                    dim=cell.dim or (enc.calls[0]["full_dim"] if enc.calls else None),
                    dtype=cell.dtype,
                    cell=label or "full-float32",
                    variant=var,
                    calibration="mteb"
                    if calibration == "mteb"
                    else ("per-call" if cell.dtype in ("int8", "uint8") else None),
                    similarity="cosine",
                    scoring=f"mteb {task.metadata.type} evaluator",
                    data_source=relativize(data_source, roots),
                    data_fingerprint=fingerprint,
                    provenance=provenance,
                    split=eval_splits[0] if len(eval_splits) == 1 else None,
                    eval_splits=eval_splits,
                    hf_subsets=hf_subsets,
                    selected_by=selected_by or None,
                    encode_calls=enc.calls,
                    n_encoded_now=sum(c["n_encoded"] for c in enc.calls),
                    evaluation_seconds=time.perf_counter() - t0,
                )
                .update(extra)
                .to_dict()
            )
            key = m if label is None else f"{m}/{label}"
            run.results[key] = data
            if path is not None:
                write_result(path, data)
                run.paths[key] = path
    return run
