"""Execute a :class:`~leafbench.plan.RunPlan`: load each task's data, evaluate it with its kind's evaluator, write
the run's manifest, and say what was done (:class:`RunReport`).

The library never prints: progress goes through a ``progress(description, total) -> advance(n)`` factory and
messages (skipped tasks, data warnings, unpinned models) through ``on_event(kind, text)``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cells import Cell
from .data import LOCAL_COPY, DataPath, NoDataError, RetrievalData
from .errors import UserError
from .evaluator import EvalContext, EventSink, ProgressFactory, TaskEvaluator, TaskRun
from .plan import RunPlan
from .record import ResultRecord, data_roots, relativize

if TYPE_CHECKING:
    import pandas as pd
    from rich.table import Table

    from .engine import RayEngine
    from .ray_scoring import RayScorer

__all__ = ["RunReport", "execute", "evaluator_for", "load_mteb_task", "local_task_source"]


@dataclass
class RunReport:
    """What one run did: the run folder, tasks evaluated / missing / skipped, the result files written and what
    was encoded. `summary_table()` reads the scores back from the files (as the CLI shows them)."""

    run: str  # run folder name under `output` (record.run_folder_name)
    output: Path
    tasks: list[str]  # evaluated (aggregates once, not their sub-tasks)
    selected: list[str]
    source: str  # how the task list was chosen
    types: dict[str, str]
    missing: dict[str, str]  # task -> why no data
    skipped: dict[str, str]  # task -> why left out
    modes: list[str]
    cells: list[Cell]
    paths: list[Path] = field(default_factory=list)  # result files written now
    n_scored: int = 0  # cells computed now
    n_reused: int = 0  # cells whose file was already there (measured on the same thing)
    n_encoded: int = 0  # texts encoded now
    n_served: int = 0  # texts served from the embedding store
    store_root: Path | None = None
    store_warnings: list[str] = field(default_factory=list)  # corrupt shards found, moved aside, re-encoded
    manifest_path: Path | None = None

    @property
    def run_dir(self) -> Path:
        return Path(self.output) / self.run

    def records(self) -> list[ResultRecord]:
        """The records of this run's cells (written now or reused), read back from disk."""
        from .results import load_results

        return [r for r in load_results(self.run_dir) if r.mode in self.modes]

    def to_frame(self) -> "pd.DataFrame":
        """One row per result file of this run (see ResultRecord.to_row)."""
        import pandas as pd

        return pd.DataFrame([r.to_row() for r in self.records()])

    def summary_rows(self, max_task_columns: int = 6) -> tuple[str, list[str], list[list[str]]]:
        """(title, columns, rows) of the summary the CLI prints, read back from the result files."""
        from .summary import summary_rows

        return summary_rows(self.output, self.run, self.tasks, self.modes, self.cells, self.types, max_task_columns)

    def summary_table(self, max_task_columns: int = 6) -> "Table":
        """The summary as a rich Table (what `leafbench run` prints)."""
        from .summary import as_table

        return as_table(*self.summary_rows(max_task_columns))


def execute(plan: RunPlan, progress: ProgressFactory | None = None, on_event: EventSink | None = None) -> RunReport:
    """Run the plan: every selected task in every mode x cell; results already on disk that were measured on
    exactly the same data, models and settings are reused (``plan.force`` recomputes)."""
    from .encode import Encoder
    from .engine import make_engine

    emit: EventSink = on_event or (lambda kind, text: None)
    enc = plan.encoding
    runner = make_engine(enc.engine, enc.ray_address, enc.workers)
    store = plan.workspace.store(enc.shard_size, enc.store_format)
    encoders = {
        role: Encoder(
            plan.models[role], store, enc.device, enc.batch_size, engine=runner, cache_dir=plan.workspace.cache
        )
        for role in plan.roles
    }
    for text in plan.unpinned():
        emit("warning", text)
    sel = plan.selection
    for name, why in sel.skipped.items():
        emit("skipped", f"{name}: {why}")
    emit("tasks", f"tasks ({sel.source}): {', '.join(sel.tasks)}; modes: {', '.join(map(str, plan.modes))}")
    ctx = EvalContext(
        encoders, plan.modes, plan.cells, plan.workspace.output, plan.run, plan.force, plan.ranges_file,
        plan.search, plan.data.data_dir, progress, emit, executor=_scoring_executor(runner), overwrite=plan.overwrite,
    )  # fmt: skip
    runs, missing = _evaluate_all(plan, ctx)
    done = [r.task_name for r in runs if r.task_name not in {s for subs in sel.subtasks.values() for s in subs}]
    if not done:
        raise UserError(_nothing_evaluated(plan, missing))
    manifest = plan.workspace.manifest(plan.run).merged(
        source=sel.source,
        tasks=sel.tasks,
        types=sel.types,
        evaluated=done,
        missing=missing,
        skipped=sel.skipped,
        modes=[str(m) for m in plan.modes],
        cells=[c.name for c in plan.cells],
    )
    return RunReport(
        run=plan.run,
        output=plan.workspace.output,
        tasks=done,
        selected=list(sel.tasks),
        source=sel.source,
        types=dict(sel.types),
        missing=missing,
        skipped=dict(sel.skipped),
        modes=[str(m) for m in plan.modes],
        cells=list(plan.cells),
        paths=[p for r in runs for p in r.paths.values()],
        n_scored=sum(len(r.paths) for r in runs),
        n_reused=sum(r.skipped for r in runs),
        n_encoded=store.n_encoded,
        n_served=store.n_served,
        store_root=store.root,
        store_warnings=list(store.warnings),
        manifest_path=manifest.write(plan.workspace.output, plan.run, data_roots(plan.data.data_dir)),
    )


def _scoring_executor(engine: "RayEngine | None") -> "RayScorer | None":
    """Retrieval scoring on the encoding engine's workers (`--engine ray`: `ray_scoring.RayScorer`); None: here."""
    if engine is None:
        return None
    from .ray_scoring import RayScorer

    return RayScorer(engine)


def _evaluate_all(plan: RunPlan, ctx: EvalContext) -> tuple[list[TaskRun], dict[str, str]]:
    """Every selected task's runs, and the benchmark tasks whose data is not here (task -> why)."""
    runs: list[TaskRun] = []
    missing: dict[str, str] = {}
    for task_name in plan.selection.tasks:
        try:
            runs += evaluator_for(task_name, plan, ctx).run(ctx)
        except NoDataError as e:  # a damaged file is an error; only data that is not here is "missing"
            if task_name not in plan.selection.from_benchmark:
                raise
            missing[task_name] = str(e)  # the terminal names the folder; run.json gets it relative
    return runs, missing


def evaluator_for(task_name: str, plan: RunPlan, ctx: EvalContext) -> TaskEvaluator:
    """The evaluator of one selected task, with its data loaded (a kind of task = an evaluator class)."""
    from .aggregate import AggregateEvaluator
    from .data import load_aggregate_parts, load_beir_folder, load_retrieval_parts, mark_local_copies
    from .evaluate import RetrievalEvaluator
    from .mteb_eval import MtebTaskEvaluator

    sel, data = plan.selection, plan.data
    if task_name in sel.subtasks:
        parts = load_aggregate_parts(task_name, sel.subtasks[task_name], data.data_dir, data.split, strict=data.strict)
        sub_data = {s: _cut(p, plan) for s, p in parts.items()}
        for sub, p in sub_data.items():
            _data_warnings(ctx, sub, p)
        return AggregateEvaluator(task_name, sub_data)
    if task_name in sel.folders:
        folder = load_beir_folder(sel.folders[task_name], data.split or "test", task_name, strict=data.strict)
        mark_local_copies({"default": folder})  # ./copy/scifact with 10 of 300 queries is not mteb's SciFact
        parts = _cut({"default": folder}, plan)
        _data_warnings(ctx, task_name, parts)
        return RetrievalEvaluator(parts, task_info={"revision": parts["default"].fingerprint()})
    if sel.types[task_name] == "Retrieval":
        parts = _cut(load_retrieval_parts(task_name, data.data_dir, data.split, strict=data.strict), plan)
        _data_warnings(ctx, task_name, parts)
        return RetrievalEvaluator(parts)
    task, source = load_mteb_task(task_name, data.data_dir, _with_splits(task_name, sel, data.eval_splits))
    selected_by = sel.selected_by.get(task_name, "mteb.get_task (the task's own splits and subsets)")
    return MtebTaskEvaluator(task, source, selected_by)


def _with_splits(task_name: str, sel: Any, splits: Sequence[str] | None) -> Any:
    """The task object to evaluate: a benchmark's, else mteb's, scored on `splits` (--eval-splits) when given,
    set before its data loads so a split the data lacks fails naming the task and split."""
    task = sel.task_objects.get(task_name)
    if not splits:
        return task
    import mteb

    return (task if task is not None else mteb.get_task(task_name)).filter_eval_splits(list(splits))


def _cut(parts: dict[str, RetrievalData], plan: RunPlan) -> dict[str, RetrievalData]:
    """--max-queries/--max-docs applied to each subset of a task (each keeps its judged documents)."""
    q, d = plan.data.max_queries, plan.data.max_docs
    if not (q or d):
        return parts
    return {s: p.subset(q, d) for s, p in parts.items()}


def _data_warnings(ctx: EvalContext, task_name: str, parts: dict[str, RetrievalData]) -> None:
    """A task's data warnings, once per task (they are also written into each of its results), and each local
    copy whose sizes are not mteb's (recorded as such: the data evaluated records its --max-queries/--max-docs
    cut and a local copy itself, see RetrievalData.subset_spec)."""
    from .data import describe_warnings, task_data_warnings

    for line in describe_warnings(task_data_warnings(parts)):
        ctx.emit("warning", f"{task_name}: {line}")
    for sub, d in parts.items():
        if LOCAL_COPY in (d.subset_spec or {}):
            ctx.emit(
                "warning",
                f"{task_name}: {d.source} is not mteb's {task_name}/{d.split}{'' if sub == 'default' else f' [{sub}]'}"
                f" ({d.subset_spec[LOCAL_COPY]}): recorded as a local copy (a subset, its data fingerprint as "
                f"dataset revision), never as {task_name}'s full result",
            )


def _nothing_evaluated(plan: RunPlan, missing: dict[str, str]) -> str:
    """Why a run evaluated no task (every one missing its data), on one line naming what to pass."""
    from .offline import hub_offline

    data_dir, sel = plan.data.data_dir, plan.selection
    where = f"under --data-dir {data_dir}" if data_dir else "and no --data-dir given"
    net = "HF_HUB_OFFLINE=1" if hub_offline() else "the hub could not be reached"
    first, why = next(iter(missing.items()))
    return (
        f"no task evaluated: none of the {len(sel.tasks)} selected tasks ({sel.source}) has data here ({net}, "
        f"{where}); pass --data-dir with local copies (`leafbench tasks --benchmark ... --data-dir DIR` lists what "
        f"it holds). First: {first}: {why}"
    )


def local_task_source(task_name: str, data_dir: Path | str) -> str:
    """Where a local mteb task's files are, relative to `data_dir` (``mteb/sts/STSBenchmark``)."""
    from .mteb_local import LOCAL_TASKS, local_root

    paths = LOCAL_TASKS[task_name].paths(local_root(data_dir))
    common = os.path.commonpath([os.path.abspath(p.parent) for p in paths])
    return str(relativize(common, data_roots(data_dir)))


def load_mteb_task(task_name: str, data_dir: DataPath | None, task: Any = None) -> tuple[Any, str]:
    """A local copy when --data-dir has one, else mteb's own online loading; offline without a copy: an error.
    Returns (task object, data source: its folder relative to --data-dir, or ``hf:<path>@<revision>``).

    `task`: the task object a benchmark configured (its eval splits and hf subsets, e.g. MTEB(eng, v2)'s
    AmazonCounterfactualClassification = the "en" subset on "test"); it is the object evaluated, local data or
    not. Without one, mteb.get_task's object: every split and subset the task has.
    """
    import mteb

    from .mteb_local import load_local_task, local_task_names
    from .offline import hub_offline

    if isinstance(data_dir, Path) and task_name in local_task_names(data_dir):  # mteb files: a local folder only
        return load_local_task(task_name, data_dir, task=task), local_task_source(task_name, data_dir)
    if hub_offline():
        raise NoDataError(
            f"no local copy of {task_name} under {data_dir or '(no --data-dir given)'}; pass --data-dir with "
            "mteb/<type>/<task> files, or run with network access"
        )
    task = task if task is not None else mteb.get_task(task_name)
    return task, f"hf:{task.metadata.dataset['path']}@{task.metadata.dataset.get('revision')}"
