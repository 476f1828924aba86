"""Non-retrieval MTEB tasks through mteb's own task objects and evaluators, one call per (mode, cell).

Embeddings come from leafbench's store via StoreEncoder, so the first (mode, cell) of a task pays for
encoding and every other cell re-runs only mteb's evaluator (regression, k-means, logistic regression, ...).
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .cells import Cell, file_label, variant
from .evaluate import TaskRun, _model_block
from .mteb_encoder import ASYMMETRIC_POLICY, ROUTES, StoreEncoder
from .results import result_path, write_result


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
) -> TaskRun:
    """Run one mteb task object for every mode x cell; write mteb TaskResult JSON + a leafbench block.

    The task object is evaluated as configured (its ``eval_splits`` and ``hf_subsets``: a benchmark's object
    restricts them), and the leafbench block records both, with ``selected_by`` saying whose selection it is, so
    a report reads the main score of exactly those splits and subsets.
    """
    import mteb

    name = task.metadata.name
    eval_splits = [str(s) for s in task.eval_splits]
    hf_subsets = [str(s) for s in task.hf_subsets] if getattr(task, "hf_subsets", None) else ["default"]
    run = TaskRun(task_name=name)
    for m in modes:
        roles = set(ROUTES[m])
        for role in roles:
            if role not in encoders:
                raise ValueError(f"mode {m!r} needs a {role} model")
        for cell in cells:
            var = variant(cell, calibration)
            label = file_label(cell, var)
            path = result_path(output, run_slug, m, name, label) if output is not None else None
            if path is not None and path.exists() and not force:
                run.skipped += 1
                continue
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
            data["leafbench"] = {
                "mode": m,
                "task_type": task.metadata.type,
                "student": _model_block(encoders.get("student")) if "student" in used_roles or m != "teacher" else None,
                "teacher": _model_block(encoders.get("teacher")) if "teacher" in used_roles else None,
                "roles_used": used_roles,
                "asymmetric_policy": ASYMMETRIC_POLICY if m == "asymmetric" else None,
                "full_dim": enc.calls[0]["full_dim"] if enc.calls else None,
                "dim": cell.dim or (enc.calls[0]["full_dim"] if enc.calls else None),
                "dtype": cell.dtype,
                "cell": label or "full-float32",
                "variant": var,
                "calibration": "mteb" if calibration == "mteb" else ("per-call" if cell.dtype in ("int8", "uint8") else None),
                "similarity": "cosine",
                "scoring": f"mteb {task.metadata.type} evaluator",
                "data_source": data_source,
                "split": eval_splits[0] if len(eval_splits) == 1 else None,
                "eval_splits": eval_splits,
                "hf_subsets": hf_subsets,
                "selected_by": selected_by or None,
                "encode_calls": enc.calls,
                "n_encoded_now": sum(c["n_encoded"] for c in enc.calls),
                "evaluation_seconds": time.perf_counter() - t0,
                **(extra or {}),
            }
            key = m if label is None else f"{m}/{label}"
            run.results[key] = data
            if path is not None:
                write_result(path, data)
                run.paths[key] = path
    return run
