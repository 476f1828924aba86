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
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .cells import INT_DTYPES, Cell
from .evaluator import EvalContext, TaskEvaluator, TaskRun, result_protocol
from .modes import Mode
from .mteb_encoder import ASYMMETRIC_POLICY, StoreEncoder
from .record import ResultRecord, data_roots, model_block, relativize

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


class MtebTaskEvaluator(TaskEvaluator):
    """One mteb task object (STS, classification, clustering, ...) scored by mteb's own evaluator per (mode, cell).

    The task object is evaluated as configured (its ``eval_splits`` and ``hf_subsets``: a benchmark's object
    restricts them), and the leafbench block records both, with ``selected_by`` saying whose selection it is, so
    a report reads the main score of exactly those splits and subsets. `data_source` is recorded relative to the
    run's data_dir (never as an absolute path).
    """

    def __init__(
        self, task: Any, data_source: str = "", selected_by: str = "", extra: Mapping[str, Any] | None = None
    ) -> None:
        self.task, self.data_source, self.selected_by = task, data_source, selected_by
        self.task_name = task.metadata.name
        self.eval_splits = [str(s) for s in task.eval_splits]
        self.hf_subsets = [str(s) for s in task.hf_subsets] if getattr(task, "hf_subsets", None) else ["default"]
        self.fingerprint = task_data_fingerprint(task, data_source)
        self.extra = dict(extra or {})

    def cell(self, cell: Cell) -> Cell:
        return cell.without_search()  # no retrieval search here: rescoring does not apply

    def provenance_payload(self, ctx: EvalContext, mode: Mode, cell: Cell) -> dict[str, Any]:
        """The task (name, subsets, splits), its data fingerprint, the encoders this mode routes each kind of text
        to (identity/revision, prompt, max_seq_length, precision, backend), the cell and its calibration."""
        keys = {
            side: asdict(ctx.encoders[mode.route.role(side)].key(side))
            for side in ("query", "document", "text")
            if mode.route.role(side) in ctx.encoders
        }
        return {
            "task": self.task_name,
            "hf_subsets": list(getattr(self.task, "hf_subsets", None) or []),
            "eval_splits": list(getattr(self.task, "eval_splits", None) or self.task.metadata.eval_splits),
            "data": self.fingerprint,
            "encoders": keys,
            "cell": cell.name,
            "calibration": cell.calibration,
        }

    def protocol(self, ctx: EvalContext, mode: Mode) -> dict[str, Any]:
        roles = mode.roles
        blocks = {r: model_block(ctx.encoders[r]) for r in ("student", "teacher") if r in roles}
        split = self.eval_splits[0] if len(self.eval_splits) == 1 else None
        return result_protocol(
            {"split": split, "eval_splits": self.eval_splits, "hf_subsets": self.hf_subsets, **blocks}
        )

    def run(self, ctx: EvalContext) -> list[TaskRun]:
        todo = self.pending(ctx)
        run = TaskRun(task_name=self.task_name, data_fingerprint=self.fingerprint)
        run.skipped = self.n_cells(ctx) - sum(len(v) for v in todo.values())
        n = sum(len(cells) for cells in todo.values())
        if n:  # one line per task; each cell only in the log (--verbose)
            ctx.emit("evaluating", f"{self.task_name}: {n} cells ({', '.join(map(str, todo))})")
        for m, cells in todo.items():
            for cell in cells:
                log.info("evaluating %s %s %s", self.task_name, m, cell.name)
                run.keep(ctx, m, cell, self._evaluate(ctx, m, cell))
        return [run]

    def _evaluate(self, ctx: EvalContext, mode: Mode, cell: Cell) -> dict[str, Any]:
        """mteb.evaluate on the store-backed encoder of one (mode, cell): mteb's TaskResult + the leafbench block."""
        import mteb

        enc = StoreEncoder(ctx.encoders, mode, cell, name=f"leafbench/{ctx.run_slug}")
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # mteb warns per call about superseded tasks / small calibration sets
            res = mteb.evaluate(enc, [self.task], cache=None, show_progress_bar=False)
        if not res.task_results:
            raise RuntimeError(f"mteb returned no result for {self.task_name} ({mode}, {cell.name})")
        data = json.loads(res.task_results[0].model_dump_json())
        data["leafbench"] = self._record(ctx, mode, cell, enc, time.perf_counter() - t0).to_dict()
        return data

    def _record(self, ctx: EvalContext, mode: Mode, cell: Cell, enc: StoreEncoder, seconds: float) -> ResultRecord:
        used_roles = sorted({c["role"] for c in enc.calls})
        roots = data_roots(ctx.data_dir)
        full_dim = enc.calls[0]["full_dim"] if enc.calls else None
        student = "student" in used_roles or mode != Mode.TEACHER
        return ResultRecord(
            mode=str(mode),
            task_type=self.task.metadata.type,
            student=model_block(ctx.encoders.get("student"), roots) if student else None,
            teacher=model_block(ctx.encoders.get("teacher"), roots) if "teacher" in used_roles else None,
            roles_used=used_roles,
            asymmetric_policy=ASYMMETRIC_POLICY if mode == Mode.ASYMMETRIC else None,
            full_dim=full_dim,
            dim=cell.dim or full_dim,
            dtype=cell.dtype,
            cell=cell.name,
            variant=cell.variant,
            calibration="mteb" if cell.calibration == "mteb" else ("per-call" if cell.dtype in INT_DTYPES else None),
            similarity="cosine",
            scoring=f"mteb {self.task.metadata.type} evaluator",
            data_source=relativize(self.data_source, roots),
            data_fingerprint=self.fingerprint,
            provenance=self.provenance(ctx, mode, cell),
            split=self.eval_splits[0] if len(self.eval_splits) == 1 else None,
            eval_splits=self.eval_splits,
            hf_subsets=self.hf_subsets,
            selected_by=self.selected_by or None,
            encode_calls=enc.calls,
            n_encoded_now=sum(c["n_encoded"] for c in enc.calls),
            evaluation_seconds=seconds,
        ).update(self.extra)


def evaluate_mteb_task(
    task: Any,
    encoders: Mapping[str, Any],
    modes: Sequence[Mode | str],
    output: Path | None = None,
    run_slug: str = "x",
    *,
    data_source: str = "",
    selected_by: str = "",
    extra: Mapping[str, Any] | None = None,
    **context: Any,
) -> TaskRun:
    """Run one mteb task object for every mode x cell; write mteb TaskResult JSON + a leafbench block under
    `output` (None: in memory only). `context`: the other EvalContext fields (cells, force, data_dir, ...)."""
    ctx = EvalContext(encoders, modes, output=output, run_slug=run_slug, **context)
    return MtebTaskEvaluator(task, data_source, selected_by, extra).run(ctx)[0]
