"""`leafbench distill` and `leafbench soup`: added to the harness CLI through the `leafbench.commands` entry point
(`register`), plus a standalone app."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console(stderr=True, emoji=False)


def _echo(msg: str) -> None:
    console.print(msg, highlight=False, soft_wrap=True)


def distill(
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Run folder: checkpoints/, final/ (student), router/, metrics.jsonl; a multi-stage recipe: stage-N/ per stage.",
        ),
    ] = None,
    recipe: Annotated[
        str | None,
        typer.Option(
            "--recipe", "-r", help="Built-in recipe (leaf-ir, leaf-mt, mini, mpnet-offline-staged) or a YAML file."
        ),
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Open every source of the recipe and read its first rows (hub datasets streamed), check the fields the models decide (layers, teacher dim, lengths) against their configs, print one line per source and stop: a wrong dataset id, config, split, field or layer index fails in seconds.",
        ),
    ] = False,
    max_texts: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Use at most this many training texts (the recipe's mix, scaled down; more than the recipe's held-out split).",
        ),
    ] = None,
    init_from: Annotated[
        Path | None,
        typer.Option(
            "--init-from",
            help="Continue from an earlier student folder (e.g. runs/leaf-mpnet/final) instead of a fresh projection (a multi-stage recipe: its first stage).",
        ),
    ] = None,
    cache_dir: Annotated[
        Path | None,
        typer.Option("--cache-dir", envvar="LEAFBENCH_CACHE_DIR", help="Embedding store (teacher targets) and models."),
    ] = None,
    results: Annotated[
        Path | None, typer.Option(help="Where final result JSONs go. Default: <output>/results.")
    ] = None,
    training_dir: Annotated[
        Path | None,
        typer.Option(help="Folder of the recipe's local training files (a recipe with local sources needs it)."),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Local evaluation data (BEIR folders, mteb/sts); default: the retrieval task through mteb, no STS.",
        ),
    ] = None,
    cycles: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Override the number of LR cycles. Rerunning a finished run (same --output) with more cycles continues from its checkpoint, to the weights an uninterrupted run would reach.",
        ),
    ] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Override epochs per cycle.")] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Override the batch size (paper: 32).")] = None,
    max_steps: Annotated[int | None, typer.Option(min=1, help="Cap the schedule at this many optimizer steps.")] = None,
    eval_every: Annotated[int | None, typer.Option(min=0, help="Evaluate every N steps (0: every epoch).")] = None,
    device: Annotated[
        str | None, typer.Option(help="cpu | cuda | mps (student training and teacher labelling).")
    ] = None,
    router: Annotated[
        bool, typer.Option("--router/--no-router", help="Also export the asymmetric Router model.")
    ] = True,
    final_eval: Annotated[
        bool, typer.Option("--final-eval/--no-final-eval", help="Evaluate student/teacher/asymmetric at the end.")
    ] = True,
    export_bundle: Annotated[
        Path | None,
        typer.Option(
            "--export-bundle",
            help="Label the training texts with the teacher, write them as a training bundle to this folder and stop (train elsewhere with --bundle).",
        ),
    ] = None,
    bundle: Annotated[
        Path | None,
        typer.Option(
            "--bundle",
            help="Train from a bundle made by --export-bundle: no teacher, no data files needed; the recipe comes from the bundle. Final evaluation and Router export are left to the machine with the teacher.",
        ),
    ] = None,
    finish: Annotated[
        bool,
        typer.Option(
            "--finish",
            help="With --bundle, where the teacher is: finish a run trained elsewhere from that bundle (OUTPUT holds its final/ and summary.json): final evaluation, Router export, model card.",
        ),
    ] = False,
    bundle_targets: Annotated[
        str,
        typer.Option(
            help="Target precision in an exported bundle: float32, float16, or int8 (per-row scale, cosine >= 0.9999 to float32, 1/4 the size)."
        ),
    ] = "float32",
    bundle_student: Annotated[
        str,
        typer.Option(
            help="Precision of the init_from student copied into an exported bundle: float32 or float16 (training restores float32)."
        ),
    ] = "float32",
    engine: Annotated[
        str,
        typer.Option(
            help="Teacher labelling: local (this process) | ray (Ray Data actor pool writing into the same store; needs leafbench[ray])."
        ),
    ] = "local",
    ray_address: Annotated[
        str | None, typer.Option(help="--engine ray: an existing cluster's address. Default: a local cluster.")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="--engine ray: labelling actors. Default: one per GPU, else 2.")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Distil a LEAF student from a recipe: teacher targets once (cached), train with L2, export, evaluate."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    from leafbench.engine import EngineError, make_engine
    from leafbench.errors import UserError

    from . import run

    try:
        if check:
            _check(recipe, training_dir, data_dir, cache_dir)
            return
        if output is None:
            raise ValueError("--output is required (the run folder)")
        runner = make_engine(engine, ray_address, workers)
        from leafbench.files import check_writable_dir

        # Output folders are checked before any teacher labelling or training (--output is written last).
        for path, option in ((output, "--output"), (results, "--results"), (export_bundle, "--export-bundle")):
            if path is not None:
                check_writable_dir(path, option)
        if (recipe is None) == (bundle is None):
            raise ValueError(
                "give exactly one of --recipe (label and train here) or --bundle (train from an exported bundle)"
            )
        if export_bundle is not None:
            if bundle is not None:
                raise ValueError("--export-bundle needs --recipe, not --bundle")
            meta = run.export_bundle(
                recipe,
                export_bundle,
                max_texts,
                cache_dir,
                training_dir,
                data_dir,
                init_from,
                device,
                bundle_targets,
                bundle_student,
                engine=runner,
                progress=_echo,
            )
            _echo(
                f"bundle: {export_bundle} ({len(meta['train_idx'])} training + {len(meta['heldout_idx'])} held-out texts, "
                f"targets {meta['targets_dtype']}); train with: leafbench distill --bundle {export_bundle} --output RUN --device cuda"
            )
            return
        if finish:
            if bundle is None:
                raise ValueError("--finish needs --bundle: the bundle the run in --output was trained from")
            run.finish_bundle(bundle, output, cache_dir, results, data_dir, device, router, progress=_echo)
            return
        res = run.distill(
            recipe,
            output,
            max_texts=max_texts,
            cache_dir=cache_dir,
            results=results,
            training_dir=training_dir,
            data_dir=data_dir,
            cycles=cycles,
            epochs=epochs,
            batch_size=batch_size,
            max_steps=max_steps,
            eval_every=eval_every,
            device=device,
            router=router,
            final_eval=final_eval,
            init_from=init_from,
            bundle=bundle,
            engine=runner,
            progress=_echo,
        )
        if res.stages:
            _echo(
                f"{len(res.stages)} stages ({sum(s.skipped for s in res.stages)} already finished); student: {res.student}"
            )
    except (UserError, ValueError, RuntimeError, EngineError) as e:
        from rich.markup import escape

        console.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from e


def _check(recipe: str | None, training_dir: Path | None, data_dir: Path | None, cache_dir: Path | None) -> None:
    """--check: one line per source; exit 2 naming the sources that failed (or the field the models contradict)."""
    from rich.markup import escape

    from .check import check_recipe

    if recipe is None:
        raise ValueError("--check needs --recipe")
    checks = check_recipe(recipe, training_dir=training_dir, data_dir=data_dir, cache_dir=cache_dir)
    for c in checks:
        if c.ok:
            _echo(
                f"ok   stage {c.stage} {escape(c.source)}: {escape(c.where)}; fields {escape(', '.join(c.fields) or '-')}; "
                f"first text: {escape(repr(c.preview))}"
            )
        else:
            _echo(f"FAIL stage {c.stage} {escape(c.source)}: {escape(c.where)}: {escape(c.error)}")
    bad = [c.source for c in checks if not c.ok]
    if bad:
        raise ValueError(f"{len(bad)} of {len(checks)} sources cannot be read: {', '.join(bad)}")
    _echo(f"{len(checks)} sources ok")


def soup(
    students: Annotated[
        list[Path],
        typer.Argument(
            help="Two or more distilled student folders of one teacher (e.g. runs/leaf-mpnet-stage5/final runs/leaf-mpnet-stage7/final)."
        ),
    ],
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="New student folder (weights, manifest naming the ingredients, README)."),
    ],
    name: Annotated[str | None, typer.Option(help="Model name in results (default: soup-<ingredient names>).")] = None,
) -> None:
    """Average students' weights into one (a model soup): same size and speed; choose ingredients on validation data."""
    from rich.markup import escape

    from .soup import SoupError, average_students

    if output.exists() and any(output.iterdir()):
        _echo(f"[red]error:[/red] {escape(str(output))} exists and is not empty; choose a new --output")
        raise typer.Exit(2)
    try:
        folder = average_students(students, output, name)
    except SoupError as e:
        _echo(f"[red]error:[/red] {escape(str(e))}")
        raise typer.Exit(2) from None
    _echo(f"soup of {len(students)} students -> {folder} (measure it: leafbench run --model {folder} --mode all)")


def register(app: typer.Typer) -> None:
    """Entry point of the `leafbench.commands` group: adds `distill` and `soup` to the `leafbench` app."""
    app.command("distill")(distill)
    app.command("soup")(soup)


app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, help="Distil LEAF students.")
app.command("distill")(distill)
app.command("soup")(soup)


@app.callback()
def _root() -> None:
    """Distil LEAF students (`distill` is also registered as `leafbench distill`)."""


def main() -> None:
    app(prog_name="leafbench-distill")


if __name__ == "__main__":
    sys.exit(main())
