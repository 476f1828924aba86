"""The library entry points: run a benchmark, read its results. ``leafbench run`` is a thin shell over these.

The library never prints: progress goes through a ``progress(description, total) -> advance(n)`` factory and
messages (skipped tasks, data warnings, unpinned models) through ``on_event(kind, text)``; the outcome is a
:class:`RunReport`. Bad input raises :class:`leafbench.errors.UserError` (or one of the typed errors the CLI
maps to exit code 2).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import UserError
from .record import (
    ResultRecord,
    RunManifest,
    SchemaError,
    cell_names,
    data_roots,
    read_record,
    relativize,
    result_path,
    run_folder_name,
)

if TYPE_CHECKING:
    import pandas as pd
    from rich.table import Table

    from .cells import Cell

__all__ = [
    "ProgressFactory",
    "EventSink",
    "RunReport",
    "load_results",
    "results_frame",
    "run_benchmark",
    "summary_rows",
    "summary_table",
    "load_mteb_task",
    "local_task_source",
]

ProgressFactory = Callable[[str, int], Callable[[int], None]]
# on_event(kind, text): kind is "warning" (unpinned model, data warning), "skipped" (a task left out),
# "tasks" (the selection about to run) or "evaluating" (an mteb-evaluator cell starting).
EventSink = Callable[[str, str], None]


def _csv(value: str | Sequence[Any] | None) -> str | None:
    """Options accept "a,b" or a list (["a", "b"], [256, None]); the parsers take the comma form."""
    if value is None or isinstance(value, str):
        return value
    return ",".join("full" if v is None else str(v) for v in value)


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
    cells: list["Cell"]
    calibration: str = "corpus"
    rescore: int | None = None
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
        return [r for r in load_results(self.run_dir) if r.mode in self.modes]

    def to_frame(self) -> "pd.DataFrame":
        """One row per result file of this run (see ResultRecord.to_row)."""
        import pandas as pd

        return pd.DataFrame([r.to_row() for r in self.records()])

    def _summary_args(self) -> tuple[Any, ...]:
        return (self.output, self.run, self.tasks, self.modes, self.cells, self.calibration, self.rescore, self.types)

    def summary_rows(self, max_task_columns: int = 6) -> tuple[str, list[str], list[list[str]]]:
        """(title, columns, rows) of the summary the CLI prints, read back from the result files."""
        return summary_rows(*self._summary_args(), max_task_columns)

    def summary_table(self, max_task_columns: int = 6) -> "Table":
        """The summary as a rich Table (what `leafbench run` prints)."""
        return summary_table(*self._summary_args(), max_task_columns)


def run_benchmark(
    model: str,
    *,
    teacher: str | None = None,
    mode: str | Sequence[str] = "student",
    tasks: str | Sequence[str] | None = None,
    task_types: str | Sequence[str] | None = None,
    exclude_tasks: str | Sequence[str] | None = None,
    data_dir: Path | str | None = None,
    split: str | None = None,
    output: Path | str = "results",
    cache_dir: Path | str | None = None,
    batch_size: int = 32,
    max_seq_length: int | None = None,
    teacher_max_seq_length: int | None = None,
    precision: str = "fp32",
    backend: str = "torch",
    threads: int | None = None,
    device: str | None = None,
    max_queries: int | None = None,
    max_docs: int | None = None,
    dims: str | Sequence[int | None] | None = None,
    dtypes: str | Sequence[str] | None = None,
    calibration: str = "corpus",
    ranges_file: Path | str | None = None,
    rescore: int | None = None,
    force: bool = False,
    shard_size: int = 4096,
    search: str = "torch",
    engine: str = "local",
    ray_address: str | None = None,
    workers: int | None = None,
    strict: bool = False,
    progress: ProgressFactory | None = None,
    on_event: EventSink | None = None,
) -> RunReport:
    """Evaluate a model, or a (student, teacher) pair, on BEIR/MTEB tasks; write mteb-compatible result JSON
    (one file per mode, task and cell) and the run's manifest; return what was done.

    Arguments mirror ``leafbench run``'s options (lists may replace comma strings: ``dims=[256, None]``). Results
    already on disk that were measured on exactly the same data, models and settings are reused (``force``
    recomputes). Everything is checked before any encoding: a bad option fails in seconds, not after hours.
    """
    from .aggregate import evaluate_aggregate
    from .backends import check_backend
    from .cells import CALIBRATIONS, INT_DTYPES, grid, load_ranges, parse_dims, parse_dtypes
    from .data import (
        NoDataError,
        aggregate_local_folders,
        load_aggregate_parts,
        load_beir_folder,
        load_retrieval_parts,
        mark_local_copies,
    )
    from .encode import Encoder, check_device, embedding_dim, max_positions
    from .engine import make_engine
    from .evaluate import MODE_ROUTES, evaluate_retrieval, expand_modes
    from .files import check_writable_dir
    from .mteb_eval import evaluate_mteb_task
    from .registry import default_benchmark, default_cache_dir, resolve_model
    from .scoring import SEARCH_BACKENDS
    from .store import EmbeddingStore
    from .tasks import select_tasks

    emit: EventSink = on_event or (lambda kind, text: None)
    output = Path(output)
    data_dir = Path(data_dir) if data_dir is not None else None
    ranges_file = Path(ranges_file) if ranges_file is not None else None
    mode_arg = _csv(mode) or "student"

    check_writable_dir(output, "--output")  # before any model, data or encoding: a typo fails now
    if cache_dir is not None:
        check_writable_dir(Path(cache_dir), "--cache-dir")
    modes = expand_modes(mode_arg)
    cells = grid(parse_dims(_csv(dims)), parse_dtypes(_csv(dtypes)))
    if calibration not in CALIBRATIONS:
        raise UserError(f"--calibration: unknown {calibration!r}; choose from {', '.join(CALIBRATIONS)}")
    if calibration == "fixed" and ranges_file is None:
        raise UserError("--calibration fixed needs --ranges-file")
    if rescore is not None and rescore < 1:
        raise UserError("--rescore must be >= 1")
    runner = make_engine(engine, ray_address, workers)
    check_device(device, here=not ray_address)  # a cluster's workers may have devices this machine lacks
    if search not in SEARCH_BACKENDS:
        raise UserError(f"--search: unknown {search!r}; choose from {', '.join(SEARCH_BACKENDS)}")
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    check_writable_dir(cache, "--cache-dir")
    store = EmbeddingStore(cache / "embeddings", shard_size=shard_size)
    check_backend(backend)
    student = resolve_model(model, cache).with_overrides(max_seq_length, precision, backend, threads)
    roles = {r for m in modes for r in MODE_ROUTES[m].values()}
    if teacher_max_seq_length is not None and "teacher" not in roles:
        raise UserError(
            f"--teacher-max-seq-length needs a mode that runs the teacher (teacher, asymmetric, all), not {mode_arg}"
        )
    specs = {"student": student}
    if "teacher" in roles:
        tname = teacher or student.teacher
        if not tname:
            raise UserError(
                f"mode {mode_arg} needs a teacher: pass --teacher, or give {model} a leafbench.json manifest naming one"
            )
        specs["teacher"] = resolve_model(tname, cache).with_overrides(
            teacher_max_seq_length or max_seq_length, precision, backend, threads
        )
        if "asymmetric" in modes:
            ds, dt = embedding_dim(specs["student"]), embedding_dim(specs["teacher"])
            if ds and dt and ds != dt:
                raise UserError(
                    f"asymmetric mode needs one embedding space: student {student.name} is {ds}-d, "
                    f"teacher {specs['teacher'].name} is {dt}-d"
                )
    for spec in specs.values():
        if not spec.local and not spec.pinned:
            emit(
                "warning",
                f"{spec.name}: no commit known for {spec.hf_id or spec.source}@{spec.revision or 'main'} "
                "(offline, not in the Hugging Face cache): its results record it as unpinned "
                "(revision null, pinned false)",
            )
    for role in roles:
        full = embedding_dim(specs[role])
        too_big = [c.dim for c in cells if full and c.dim and c.dim > full]
        if too_big:
            raise UserError(f"--dims {too_big[0]} is larger than {specs[role].name}'s embedding dim {full}")
        # A length beyond the position table crashes once a long text comes (after hours of encoding): refuse now.
        length, limit = specs[role].max_seq_length, max_positions(specs[role])
        if length is not None and limit is not None and length > limit:
            option = "--teacher-max-seq-length" if role == "teacher" and teacher_max_seq_length else "--max-seq-length"
            raise UserError(
                f"{option} {length} is beyond {specs[role].name}'s limit of {limit} tokens (its position "
                f"embeddings); use at most {limit}"
            )
    if calibration == "fixed" and ranges_file is not None and any(c.dtype in INT_DTYPES for c in cells):
        # A bad ranges file fails now, not after the encoding: it must cover the largest dim a cell scores.
        full_dims = [embedding_dim(specs[r]) for r in roles]
        load_ranges(ranges_file, max([c.dim or 0 for c in cells] + [d or 0 for d in full_dims] + [1]))
    encoders = {
        role: Encoder(specs[role], store, device=device, batch_size=batch_size, engine=runner) for role in roles
    }
    selection = select_tasks(_csv(tasks), default_benchmark(student), _csv(task_types), _csv(exclude_tasks), data_dir)
    for name, why in selection.skipped.items():
        emit("skipped", f"{name}: {why}")
    run = run_folder_name(student.slug, specs["teacher"].slug if "teacher" in specs else None, backend)
    previous = RunManifest.read(output, run) or RunManifest()  # a damaged run.json fails now, not after encoding
    emit("tasks", f"tasks ({selection.source}): {', '.join(selection.tasks)}; modes: {', '.join(modes)}")
    for agg, subs in selection.subtasks.items():  # an incomplete local aggregate fails now, not after hours
        aggregate_local_folders(agg, data_dir, subs)

    def data_warnings(task_name: str, parts: dict[str, Any]) -> None:
        """A task's data warnings, once per task (they are also written into each of its results), and each local
        copy whose sizes are not mteb's (recorded as such: the data evaluated records its --max-queries/--max-docs
        cut and a local copy itself, see RetrievalData.subset_spec)."""
        from .data import LOCAL_COPY, describe_warnings, task_data_warnings

        for line in describe_warnings(task_data_warnings(parts)):
            emit("warning", f"{task_name}: {line}")
        for sub, d in parts.items():
            if LOCAL_COPY in (d.subset_spec or {}):
                emit(
                    "warning",
                    f"{task_name}: {d.source} is not mteb's {task_name}/{d.split}{'' if sub == 'default' else f' [{sub}]'}"
                    f" ({d.subset_spec[LOCAL_COPY]}): recorded as a local copy (a subset, its data fingerprint as "
                    f"dataset revision), never as {task_name}'s full result",
                )

    runs: list[Any] = []
    missing: dict[str, str] = {}
    retrieval_args = dict(
        progress_factory=progress,
        cells=cells,
        calibration=calibration,
        ranges_file=ranges_file,
        rescore=rescore,
        force=force,
        search=search,
        data_dir=data_dir,
    )
    for task_name in selection.tasks:
        try:
            if task_name in selection.subtasks:
                parts = load_aggregate_parts(task_name, selection.subtasks[task_name], data_dir, split, strict=strict)
                sub_data = {s: _cut(p, max_queries, max_docs) for s, p in parts.items()}
                for sub, p in sub_data.items():
                    data_warnings(sub, p)
                agg_run, sub_runs = evaluate_aggregate(
                    task_name, sub_data, encoders, modes, output, run, **retrieval_args
                )
                runs += [*sub_runs, agg_run]
            elif task_name in selection.folders:
                data = load_beir_folder(selection.folders[task_name], split or "test", task_name, strict=strict)
                mark_local_copies({"default": data})  # ./copy/scifact with 10 of 300 queries is not mteb's SciFact
                data = _cut({"default": data}, max_queries, max_docs)
                data_warnings(task_name, data)
                runs.append(
                    evaluate_retrieval(
                        data,
                        encoders,
                        modes,
                        output,
                        run,
                        task_info={"revision": data["default"].fingerprint()},
                        **retrieval_args,
                    )
                )
            elif selection.types[task_name] == "Retrieval":
                data = _cut(load_retrieval_parts(task_name, data_dir, split, strict=strict), max_queries, max_docs)
                data_warnings(task_name, data)
                runs.append(evaluate_retrieval(data, encoders, modes, output, run, **retrieval_args))
            else:
                task, source = load_mteb_task(task_name, data_dir, selection.task_objects.get(task_name))
                runs.append(
                    evaluate_mteb_task(
                        task,
                        encoders,
                        modes,
                        output,
                        run,
                        cells=cells,
                        calibration=calibration,
                        force=force,
                        data_source=source,
                        data_dir=data_dir,
                        selected_by=selection.selected_by.get(
                            task_name, "mteb.get_task (the task's own splits and subsets)"
                        ),
                        progress=lambda what: emit("evaluating", what),
                    )
                )
        except NoDataError as e:  # a damaged file is an error; only data that is not here is "missing"
            if task_name not in selection.from_benchmark:
                raise
            missing[task_name] = str(e)  # the terminal names the folder; run.json gets it relative
    sub_names = {s for subs in selection.subtasks.values() for s in subs}
    done = [r.task_name for r in runs if r.task_name not in sub_names]
    if not done:
        raise UserError(_nothing_evaluated(selection, missing, data_dir))
    manifest = previous.merged(
        source=selection.source,
        tasks=selection.tasks,
        types=selection.types,
        evaluated=done,
        missing=missing,
        skipped=selection.skipped,
        modes=modes,
        cells=cell_names(cells),
    )
    manifest_path = manifest.write(output, run, data_roots(data_dir))
    return RunReport(
        run=run,
        output=output,
        tasks=done,
        selected=list(selection.tasks),
        source=selection.source,
        types=dict(selection.types),
        missing=missing,
        skipped=dict(selection.skipped),
        modes=list(modes),
        cells=list(cells),
        calibration=calibration,
        rescore=rescore,
        paths=[p for r in runs for p in r.paths.values()],
        n_scored=sum(len(r.paths) for r in runs),
        n_reused=sum(r.skipped for r in runs),
        n_encoded=store.n_encoded,
        n_served=store.n_served,
        store_root=store.root,
        store_warnings=list(store.warnings),
        manifest_path=manifest_path,
    )


def _cut(parts: dict[str, Any], max_queries: int | None, max_docs: int | None) -> dict[str, Any]:
    """--max-queries/--max-docs applied to each subset of a task (each keeps its judged documents)."""
    if not (max_queries or max_docs):
        return parts
    return {s: d.subset(max_queries, max_docs) for s, d in parts.items()}


def _nothing_evaluated(selection: Any, missing: dict[str, str], data_dir: Path | None) -> str:
    """Why a run evaluated no task (every one missing its data), on one line naming what to pass."""
    from .data import _env_offline

    n = len(selection.tasks)
    where = f"under --data-dir {data_dir}" if data_dir else "and no --data-dir given"
    net = "HF_HUB_OFFLINE=1" if _env_offline() else "the hub could not be reached"
    first, why = next(iter(missing.items()))
    return (
        f"no task evaluated: none of the {n} selected tasks ({selection.source}) has data here ({net}, {where}); "
        f"pass --data-dir with local copies (`leafbench tasks --benchmark ... --data-dir DIR` lists what it holds). "
        f"First: {first}: {why}"
    )


def local_task_source(task_name: str, data_dir: Path | str) -> str:
    """Where a local mteb task's files are, relative to `data_dir` (``mteb/sts/STSBenchmark``)."""
    from .mteb_local import LOCAL_TASKS, local_root

    paths = LOCAL_TASKS[task_name].paths(local_root(data_dir))
    common = os.path.commonpath([os.path.abspath(p.parent) for p in paths])
    return str(relativize(common, data_roots(data_dir)))


def load_mteb_task(task_name: str, data_dir: Path | None, task: Any = None) -> tuple[Any, str]:
    """A local copy when --data-dir has one, else mteb's own online loading; offline without a copy: an error.
    Returns (task object, data source: its folder relative to --data-dir, or ``hf:<path>@<revision>``).

    `task`: the task object a benchmark configured (its eval splits and hf subsets, e.g. MTEB(eng, v2)'s
    AmazonCounterfactualClassification = the "en" subset on "test"); it is the object evaluated, local data or
    not. Without one, mteb.get_task's object: every split and subset the task has.
    """
    import mteb

    from .data import NoDataError, _env_offline
    from .mteb_local import load_local_task, local_task_names

    if data_dir is not None and task_name in local_task_names(Path(data_dir)):
        return load_local_task(task_name, Path(data_dir), task=task), local_task_source(task_name, data_dir)
    if _env_offline():
        raise NoDataError(
            f"no local copy of {task_name} under {data_dir or '(no --data-dir given)'}; pass --data-dir with "
            "mteb/<type>/<task> files, or run with network access"
        )
    task = task if task is not None else mteb.get_task(task_name)
    return task, f"hf:{task.metadata.dataset['path']}@{task.metadata.dataset.get('revision')}"


# ------------------------------------------------------------------------------------------ reading


def load_results(folder: Path | str) -> list[ResultRecord]:
    """Every result under `folder` (a results folder, a run folder or a mode folder), as records with their
    task, run folder, path and main score. Run manifests and other JSON are skipped; a damaged result or one
    with a newer schema_version raises SchemaError naming the file (never read as missing)."""
    import json

    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: results folder not found")
    out = []
    for p in sorted(folder.rglob("*.json")):
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise SchemaError(f"{p}:{e.lineno}: invalid result JSON ({e.msg})") from None
        except (OSError, UnicodeDecodeError) as e:
            raise SchemaError(f"{p}: cannot read result ({e})") from None
        if isinstance(data, dict) and "leafbench" in data and "scores" in data:
            out.append(read_record(p, data))
    return out


def results_frame(folder: Path | str) -> "pd.DataFrame":
    """`load_results` as a pandas frame, one row per result file (ResultRecord.to_row)."""
    import pandas as pd

    return pd.DataFrame([r.to_row() for r in load_results(folder)])


def summary_rows(
    output: Path,
    run: str,
    tasks: list[str],
    modes: list[str],
    cells: list[Any],
    calibration: str = "corpus",
    rescore: int | None = None,
    types: dict[str, str] | None = None,
    max_task_columns: int = 6,
) -> tuple[str, list[str], list[list[str]]]:
    """(title, columns, rows) of the leaderboard-style summary, read back from the result files: one row per
    (mode, cell), main score x100 per task; with more than `max_task_columns` tasks, per-type means instead
    (the report has every task)."""
    from .cells import file_label, variant

    types = types or {}
    by_type = len(tasks) > max_task_columns and bool(types)
    type_names = sorted({types.get(t, "?") for t in tasks})
    title = f"{run}: main score x100 (nDCG@10 for retrieval)" + (", mean per task type" if by_type else "")
    columns = ["mode"] + (["dim", "dtype"] if len(cells) > 1 else [])
    columns += [f"Mean({t})" for t in type_names] if by_type else list(tasks)
    columns += ["Mean(Task)" if by_type else "mean", "queries/s", "docs/s"]
    rows: list[list[str]] = []
    for m in modes:
        for cell in cells:
            vals: dict[str, float] = {}
            qps = dps = dim = None
            var = variant(cell, calibration, rescore)
            for t in tasks:
                p = result_path(output, run, m, t, file_label(cell, var))
                if not p.exists():
                    continue
                rec = read_record(p)
                vals[t] = 100 * float(rec.main_score or 0.0)
                if rec.throughput:
                    qps, dps = rec.texts_per_s("query"), rec.texts_per_s("document")
                dim = rec.dim
            row = [m] + (
                [str(dim or cell.dim or "full"), cell.dtype + (f" ({var})" if var else "")] if len(cells) > 1 else []
            )
            if by_type:
                for tn in type_names:
                    got = [vals[t] for t in tasks if types.get(t, "?") == tn and t in vals]
                    n = sum(1 for t in tasks if types.get(t, "?") == tn)
                    row.append(
                        f"{sum(got) / len(got):.2f}" + ("" if len(got) == n else f" ({len(got)}/{n})") if got else "-"
                    )
            else:
                row += [f"{vals[t]:.2f}" if t in vals else "-" for t in tasks]
            done = list(vals.values())
            row.append(
                f"{sum(done) / len(done):.2f}"
                + ("" if len(done) == len(tasks) else f" ({len(done)}/{len(tasks)} tasks)")
                if done
                else "-"
            )
            row += [_fmt_rate(qps), _fmt_rate(dps)]
            rows.append(row)
    return title, columns, rows


def summary_table(*args: Any, **kwargs: Any) -> "Table":
    """`summary_rows(*args, **kwargs)` as a rich Table (what `leafbench run` prints)."""
    from rich.table import Table

    title, columns, rows = summary_rows(*args, **kwargs)
    table = Table(title=title)
    cell_columns = columns[1:3] == ["dim", "dtype"]  # a grid of cells: mode, dim, dtype lead each row
    for i, c in enumerate(columns):
        if i == 0 or (cell_columns and i == 2):
            table.add_column(c)
        elif c in ("mean", "Mean(Task)"):
            table.add_column(c, justify="right", style="bold")
        else:
            table.add_column(c, justify="right")
    for row in rows:
        table.add_row(*row)
    return table


def _fmt_rate(v: float | None) -> str:
    return f"{v:,.1f}" if v else "-"
