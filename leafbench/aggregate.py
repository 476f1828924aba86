"""Aggregate tasks (mteb's `AbsTaskAggregate`, e.g. CQADupstackRetrieval): every sub-task is a retrieval task
evaluated in every mode and cell like any other (its result files are kept), and the aggregate's result per
(mode, cell) is combined from them by mteb's own `combine_task_results` — the mean of the sub-tasks' main
scores — so it is the file mteb would write. An aggregate missing a sub-task is never averaged over fewer.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .cells import Cell
from .data import LOCAL_COPY, RetrievalData
from .errors import UserError
from .evaluate import RetrievalEvaluator
from .evaluator import EncoderLike, EvalContext, TaskEvaluator, TaskRun, result_key
from .modes import Mode
from .record import ResultRecord, combine_aggregate, main_score, read_result

# Fields of a sub-task's leafbench block that describe that sub-task only; the aggregate recomputes them.
_PER_TASK = (
    "per_query",
    "aggregate",
    "data_source",
    "data_fingerprint",
    "n_queries",
    "n_documents",
    "throughput",
    "encode_seconds",
    "score_seconds",
    "hf_subsets",
    "data_warnings",
)


class AggregateError(UserError, ValueError):
    """A sub-task result that cannot be combined (another data set than the one just evaluated)."""


def _pooled_throughput(blocks: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One side's encoding figures over all sub-tasks: texts summed, rate = texts / seconds of all passes."""
    blocks = [b for b in blocks if b]
    if not blocks:
        return {}
    n = sum(b.get("n_texts") or 0 for b in blocks)
    seconds = sum((b.get("n_texts") or 0) / b["texts_per_s"] for b in blocks if b.get("texts_per_s"))
    return {
        "model": blocks[0].get("model"),
        "n_texts": n,
        "n_encoded_now": sum(b.get("n_encoded_now") or 0 for b in blocks),
        "cached": all(b.get("cached") for b in blocks),
        "texts_per_s": n / seconds if seconds > 0 else None,
        "tokens_per_s": None,
        "store_entry": ",".join(str(b.get("store_entry")) for b in blocks),
    }


def _common_source(sources: Sequence[Any]) -> str:
    """The sub-tasks' common parent folder (``beir/cqadupstack``), or their hub sources joined."""
    flat = [str(s) for s in sources]
    if flat and not any(s.startswith("hf:") for s in flat):
        try:
            common = os.path.commonpath(flat)
        except ValueError:  # absolute and relative mixed
            common = ""
        if common:
            return common
    return "; ".join(sorted(set(flat)))


def aggregate_block(task_name: str, subs: Mapping[str, dict[str, Any]]) -> ResultRecord:
    """The aggregate result's leafbench block: the shared fields of its sub-tasks (mode, models, cell, ...),
    totals, and each sub-task's main score and data fingerprint (provenance of every number averaged)."""
    recs = {name: ResultRecord.from_dict(r["leafbench"], where=name) for name, r in subs.items()}
    first = next(iter(subs.values()))["leafbench"]
    fp = hashlib.blake2b(
        "\n".join(f"{n}:{r.data_fingerprint}" for n, r in recs.items()).encode(), digest_size=16
    ).hexdigest()
    shared = ResultRecord.from_dict({k: v for k, v in first.items() if k not in _PER_TASK})
    # A sub-task measured on a local copy that is not mteb's makes the mean one over that data too, whichever it is.
    n_local = sum(LOCAL_COPY in (r.subset or {}) for r in recs.values())
    subset = {k: v for k, v in (shared.subset or {}).items() if k != LOCAL_COPY}
    if n_local:
        subset[LOCAL_COPY] = f"{n_local} of {len(recs)} sub-tasks"  # each sub-task's own result says what differs
    return shared.update(
        {
            "subset": subset or None,
            "data_source": _common_source([r.data_source for r in recs.values()]),
            "data_fingerprint": fp,
            "data_warnings": {n: r.data_warnings for n, r in recs.items() if r.data_warnings},
            "n_queries": sum(r.n_queries or 0 for r in recs.values()),
            "n_documents": sum(r.n_documents or 0 for r in recs.values()),
            "throughput": {
                side: _pooled_throughput([(r.throughput or {}).get(side) or {} for r in recs.values()])
                for side in ("query", "document")
            },
            "encode_seconds": sum(r.encode_seconds or 0 for r in recs.values()),
            "score_seconds": sum(r.score_seconds or 0 for r in recs.values()),
            "sub_tasks": {
                n: {
                    "main_score": main_score(subs[n]),
                    "data_fingerprint": r.data_fingerprint,
                    "n_queries": r.n_queries,
                    "n_documents": r.n_documents,
                }
                for n, r in recs.items()
            },
            "aggregation": "mean of the sub-tasks' main scores (mteb AbsTaskAggregate.combine_task_results)",
        }
    )


class AggregateEvaluator(TaskEvaluator):
    """An aggregate task: every sub-task evaluated as a retrieval task (all of them: `sub_data` must hold each
    one), then the aggregate's result per (mode, cell) combined from the sub-tasks' results.

    Sub-task cells already on disk are reused only when they were measured on exactly the data given now
    (same data fingerprint); otherwise AggregateError names the file (rerun with --force).
    """

    def __init__(self, task_name: str, sub_data: Mapping[str, RetrievalData | Mapping[str, RetrievalData]]) -> None:
        self.task_name = task_name
        self.subs = [RetrievalEvaluator(data, task_info={"aggregate": task_name}) for data in sub_data.values()]

    def provenance_payload(self, ctx: EvalContext, mode: Mode, cell: Cell) -> dict[str, Any]:
        """The sub-tasks' provenances: the aggregate is a function of them alone."""
        return {"aggregate": self.task_name, "sub_tasks": [s.provenance(ctx, mode, cell) for s in self.subs]}

    def protocol(self, ctx: EvalContext, mode: Mode) -> dict[str, Any]:
        return self.subs[0].protocol(ctx, mode)

    def run(self, ctx: EvalContext) -> list[TaskRun]:
        sub_runs = [r for sub in self.subs for r in sub.run(ctx)]
        run = TaskRun(task_name=self.task_name)
        for m in ctx.modes:
            for cell in ctx.cells:
                subs = {sr.task_name: self._sub_result(ctx, sr, m, cell) for sr in sub_runs}
                block = aggregate_block(self.task_name, subs)
                result = combine_aggregate(self.task_name, list(subs.values()), block)
                if LOCAL_COPY in (block.subset or {}):  # never mteb's dataset revision (as record.build_result)
                    result["dataset_revision"] = block.data_fingerprint
                run.keep(ctx, m, cell, result)
        return [*sub_runs, run]

    @staticmethod
    def _sub_result(ctx: EvalContext, sr: TaskRun, mode: Mode, cell: Cell) -> dict[str, Any]:
        """A sub-task's result of one (mode, cell): computed now, or its file when it was already there."""
        res = sr.results.get(result_key(mode, cell))
        if res is not None:
            return res
        path = ctx.result_path(mode, sr.task_name, cell)
        if path is None:
            raise AggregateError(f"{sr.task_name}: no result for {result_key(mode, cell)}")
        res = read_result(path)
        got = ResultRecord.from_dict(res.get("leafbench") or {}, where=str(path)).data_fingerprint
        if got != sr.data_fingerprint:
            raise AggregateError(
                f"{path}: measured on other data than {sr.task_name} has now (data fingerprint "
                f"{got} vs {sr.data_fingerprint}); rerun with --force to recompute it"
            )
        return res


def evaluate_aggregate(
    task_name: str,
    sub_data: Mapping[str, RetrievalData | Mapping[str, RetrievalData]],
    encoders: Mapping[str, EncoderLike],
    modes: Sequence[Mode | str],
    output: Path | None = None,
    run_slug: str = "x",
    **context: Any,
) -> tuple[TaskRun, list[TaskRun]]:
    """Evaluate every sub-task and write the aggregate's result per (mode, cell). Returns the aggregate's run
    and the sub-tasks' runs. `context`: the other EvalContext fields (cells, force, ...)."""
    ctx = EvalContext(encoders, modes, output=output, run_slug=run_slug, **context)
    *sub_runs, run = AggregateEvaluator(task_name, sub_data).run(ctx)
    return run, sub_runs
