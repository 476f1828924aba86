"""`leafbench latency`: batch-1 query latency and bulk throughput, student and teacher, per backend."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

console = Console(stderr=True)
out = Console()


def latency(
    model: Annotated[str, typer.Option("--model", "-m", help="Student: alias, HF id or model folder.")],
    teacher: Annotated[
        Optional[str],
        typer.Option(help="Teacher measured side by side (default: the model's manifest teacher, if any)."),
    ] = None,
    backend: Annotated[
        str, typer.Option(help="Comma list of backends: torch,torch-int8,onnx,onnx-int8,openvino,openvino-bf16.")
    ] = "torch",
    threads: Annotated[
        Optional[int], typer.Option(help="Intra-op threads for every runtime (recorded). Default: torch's.")
    ] = None,
    data_dir: Annotated[
        Optional[str],
        typer.Option(
            "--data-dir",
            envvar="LEAFBENCH_DATA_DIR",
            help="Task data, as `leafbench run` reads it: DIR/beir/<task>, DIR/<task>, or the task's BEIR folder; "
            "a local folder or a URL (s3://bucket/prefix).",
        ),
    ] = None,
    task: Annotated[
        str, typer.Option("--task", help="Retrieval task whose test queries and passages are timed.")
    ] = "SciFact",
    queries: Annotated[
        Optional[int], typer.Option(help="Batch-1 queries timed (default: all test queries; SciFact: 300).")
    ] = None,
    passages: Annotated[int, typer.Option(help="Passages in the bulk sample (seeded).")] = 500,
    batch_size: Annotated[int, typer.Option(help="Bulk batch size.")] = 32,
    warmup: Annotated[int, typer.Option(help="Untimed batch-1 queries first.")] = 10,
    max_seq_length: Annotated[Optional[int], typer.Option(help="Override the models' max_seq_length.")] = None,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Results folder; writes <output>/latency/<model>[+<teacher>].json.")
    ] = Path("results"),
    cache_dir: Annotated[Optional[Path], typer.Option("--cache-dir", envvar="LEAFBENCH_CACHE_DIR")] = None,
) -> None:
    """Batch-1 query latency (p50/p95/p99) and bulk throughput, per backend, for a student and its teacher."""
    from .backends import BackendError, check_backend
    from .data import DataError, find_local_folder, open_data_dir
    from .latency import benchmark_texts, run_latency
    from .registry import cache_root, resolve_model

    names = [b.strip() for b in backend.split(",") if b.strip()]
    if not names:
        raise BackendError("--backend is empty")
    for b in names:
        check_backend(b)
    if threads is not None and threads < 1:
        raise BackendError(f"--threads must be >= 1, not {threads}")
    if data_dir is None:
        raise DataError("--data-dir is needed: local data holding the task's BEIR folder (e.g. ../shared/data)")
    folder = find_local_folder(task, open_data_dir(data_dir))
    if folder is None:
        raise DataError(
            f"--data-dir {data_dir}: no BEIR folder of {task} there (looked for <dir>/beir/<task>, <dir>/<task>)"
        )
    cache_dir = cache_root(cache_dir)
    student = resolve_model(model, cache_dir).with_overrides(max_seq_length=max_seq_length, threads=threads)
    tname = teacher or student.teacher
    tspec = (
        resolve_model(tname, cache_dir).with_overrides(max_seq_length=max_seq_length, threads=threads)
        if tname
        else None
    )
    qs, ps, info = benchmark_texts(folder, queries, passages)
    report = run_latency(
        student,
        tspec,
        names,
        qs,
        ps,
        info,
        warmup,
        batch_size,
        cache_dir,
        progress=lambda what: console.print(f"[dim]measuring {what}[/]", highlight=False),
    )
    from .record import run_folder_name

    slug = run_folder_name(student.slug, tspec.slug if tspec else None)  # every backend measured: one file
    path = report.write(Path(output) / "latency" / f"{slug}.json")
    out.print(latency_table(report))
    console.print(f"wrote {path}", highlight=False)


def latency_table(report) -> Table:
    t = Table(
        title=f"batch-1 query latency and bulk throughput ({report.data.get('task', '?')}, {report.machine.get('cpu', '')})"
    )
    for c in ("model", "backend", "threads", "p50 ms", "p95 ms", "p99 ms", "bulk texts/s", "GFLOP/s"):
        t.add_column(c, justify="left" if c in ("model", "backend") else "right")
    for r in report.results:
        lat, bulk = r.latency_ms, r.bulk
        t.add_row(
            r.model,
            r.backend,
            str(r.threads),
            f"{lat['p50']:.2f}",
            f"{lat['p95']:.2f}",
            f"{lat['p99']:.2f}",
            f"{bulk.get('texts_per_s', 0):.1f}",
            f"{bulk.get('gflops_per_s', 0):.0f}",
        )
    for b, r in report.ratios().items():
        t.add_row("teacher/student", b, "", f"{r['p50_latency']:.1f}x", "", "", f"{r['bulk_throughput']:.1f}x", "")
    return t
