"""`leafbench distill`, `leafbench soup` and `leafbench push`: added to the harness CLI through the
`leafbench.commands` entry point (`register`), plus a standalone app."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from .errors import DistillError

console = Console(stderr=True, emoji=False)


def _echo(msg: str) -> None:
    console.print(msg, highlight=False, soft_wrap=True)


# The options of `leafbench distill`, one alias each, so the command's signature stays a list of names.
OutputOpt = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        help="Run folder: checkpoints/, final/ (student), router/, metrics.jsonl; a multi-stage recipe: stage-N/ per stage.",
    ),
]
RecipeOpt = Annotated[
    str | None,
    typer.Option(
        "--recipe", "-r", help="Built-in recipe (leaf-ir, leaf-mt, mini, mpnet-offline-staged) or a YAML file."
    ),
]
CheckOpt = Annotated[
    bool,
    typer.Option(
        "--check",
        help="Open every source of the recipe and read its first rows (hub datasets streamed), check the fields the models decide (layers, teacher dim, lengths) against their configs, print one line per source and stop: a wrong dataset id, config, split, field or layer index fails in seconds.",
    ),
]
MaxTextsOpt = Annotated[
    int | None,
    typer.Option(
        min=1,
        help="Use at most this many training texts (the recipe's mix, scaled down; more than the recipe's held-out split).",
    ),
]
InitFromOpt = Annotated[
    Path | None,
    typer.Option(
        "--init-from",
        help="Continue from an earlier student folder (e.g. runs/leaf-mpnet/final) instead of a fresh projection (a multi-stage recipe: its first stage).",
    ),
]
CacheDirOpt = Annotated[
    Path | None,
    typer.Option("--cache-dir", envvar="LEAFBENCH_CACHE_DIR", help="Embedding store (teacher targets) and models."),
]
ResultsOpt = Annotated[Path | None, typer.Option(help="Where final result JSONs go. Default: <output>/results.")]
TrainingDirOpt = Annotated[
    Path | None,
    typer.Option(help="Folder of the recipe's local training files (a recipe with local sources needs it)."),
]
DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Local evaluation data (BEIR folders, mteb/sts); default: the retrieval task through mteb, no STS.",
    ),
]
CyclesOpt = Annotated[
    int | None,
    typer.Option(
        min=1,
        help="Override the number of LR cycles. Rerunning a finished run (same --output) with more cycles continues from its checkpoint, to the weights an uninterrupted run would reach.",
    ),
]
EpochsOpt = Annotated[int | None, typer.Option(min=1, help="Override epochs per cycle.")]
BatchSizeOpt = Annotated[int | None, typer.Option(min=1, help="Override the batch size (paper: 32).")]
MaxStepsOpt = Annotated[int | None, typer.Option(min=1, help="Cap the schedule at this many optimizer steps.")]
EvalEveryOpt = Annotated[int | None, typer.Option(min=0, help="Evaluate every N steps (0: every epoch).")]
DeviceOpt = Annotated[str | None, typer.Option(help="cpu | cuda | mps (student training and teacher labelling).")]
RouterOpt = Annotated[bool, typer.Option("--router/--no-router", help="Also export the asymmetric Router model.")]
FinalEvalOpt = Annotated[
    bool, typer.Option("--final-eval/--no-final-eval", help="Evaluate student/teacher/asymmetric at the end.")
]
ExportBundleOpt = Annotated[
    Path | None,
    typer.Option(
        "--export-bundle",
        help="Label the training texts with the teacher, write them as a training bundle to this folder and stop (train elsewhere with --bundle).",
    ),
]
BundleOpt = Annotated[
    Path | None,
    typer.Option(
        "--bundle",
        help="Train from a bundle made by --export-bundle: no teacher, no data files needed; the recipe comes from the bundle. Final evaluation and Router export are left to the machine with the teacher.",
    ),
]
FinishOpt = Annotated[
    bool,
    typer.Option(
        "--finish",
        help="With --bundle, where the teacher is: finish a run trained elsewhere from that bundle (OUTPUT holds its final/ and summary.json): final evaluation, Router export, model card.",
    ),
]
BundleTargetsOpt = Annotated[
    str,
    typer.Option(
        help="Target precision in an exported bundle: float32, float16, or int8 (per-row scale, cosine >= 0.9999 to float32, 1/4 the size)."
    ),
]
BundleStudentOpt = Annotated[
    str,
    typer.Option(
        help="Precision of the init_from student copied into an exported bundle: float32 or float16 (training restores float32)."
    ),
]
EngineOpt = Annotated[
    str,
    typer.Option(
        help="Teacher labelling: local (this process) | ray (Ray Data actor pool writing into the same store; needs the ray extra: pip install leafbench\\[ray])."
    ),
]
RayAddressOpt = Annotated[
    str | None, typer.Option(help="--engine ray: an existing cluster's address. Default: a local cluster.")
]
WorkersOpt = Annotated[
    int | None, typer.Option(min=1, help="--engine ray: labelling actors. Default: one per GPU, else 2.")
]
PushToHubOpt = Annotated[
    str | None,
    typer.Option(
        "--push-to-hub",
        help="When the run has finished, upload final/ to this Hugging Face repo (ORG/NAME) and router/ to ORG/NAME-router, with model cards for those repos (as `leafbench push`; private repos, a token: use that).",
    ),
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v")]


def distill(
    output: OutputOpt = None,
    recipe: RecipeOpt = None,
    check: CheckOpt = False,
    max_texts: MaxTextsOpt = None,
    init_from: InitFromOpt = None,
    cache_dir: CacheDirOpt = None,
    results: ResultsOpt = None,
    training_dir: TrainingDirOpt = None,
    data_dir: DataDirOpt = None,
    cycles: CyclesOpt = None,
    epochs: EpochsOpt = None,
    batch_size: BatchSizeOpt = None,
    max_steps: MaxStepsOpt = None,
    eval_every: EvalEveryOpt = None,
    device: DeviceOpt = None,
    router: RouterOpt = True,
    final_eval: FinalEvalOpt = True,
    export_bundle: ExportBundleOpt = None,
    bundle: BundleOpt = None,
    finish: FinishOpt = False,
    bundle_targets: BundleTargetsOpt = "float32",
    bundle_student: BundleStudentOpt = "float32",
    engine: EngineOpt = "local",
    ray_address: RayAddressOpt = None,
    workers: WorkersOpt = None,
    push_to_hub: PushToHubOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Distil a LEAF student from a recipe: teacher targets once (cached), train with L2, export, evaluate."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    from leafbench.engine import make_engine

    from . import run
    from .options import DistillOptions

    if check:
        _check(recipe, training_dir, data_dir, cache_dir)
        return
    if output is None:
        raise DistillError("--output is required (the run folder)")
    runner = make_engine(engine, ray_address, workers)
    _check_folders(output, results, export_bundle, recipe, bundle)
    _check_push(push_to_hub, export_bundle)
    if export_bundle is not None:
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
        _say_bundle(export_bundle, meta)
        return
    if finish:
        if bundle is None:
            raise DistillError("--finish needs --bundle: the bundle the run in --output was trained from")
        run.finish_bundle(bundle, output, cache_dir, results, data_dir, device, router, progress=_echo)
        _push_after(output, push_to_hub)
        return
    options = DistillOptions(
        output=output,
        max_texts=max_texts,
        cache_dir=cache_dir,
        results=results,
        training_dir=training_dir,
        data_dir=data_dir,
        init_from=init_from,
        bundle=bundle,
        cycles=cycles,
        epochs=epochs,
        batch_size=batch_size,
        max_steps=max_steps,
        eval_every=eval_every,
        device=device,
        router=router,
        final_eval=final_eval,
    )
    res = run.distill(recipe, options, engine=runner, progress=_echo)
    if res.stages:
        _echo(
            f"{len(res.stages)} stages ({sum(s.skipped for s in res.stages)} already finished); student: {res.student}"
        )
    _push_after(output, push_to_hub)


def _check_push(repo_id: str | None, export_bundle: Path | None) -> None:
    """--push-to-hub: a valid repo id and a reachable hub, checked before hours of training, not after."""
    if repo_id is None:
        return
    from leafbench.offline import hub_offline

    from .hub import PushError, check_repo_id

    if export_bundle is not None:
        raise DistillError("--push-to-hub needs a trained run, not --export-bundle")
    check_repo_id(repo_id, "--push-to-hub")
    if hub_offline():
        raise PushError("--push-to-hub: HF_HUB_OFFLINE is set, so the Hugging Face Hub cannot be reached; unset it")


def _push_after(output: Path, repo_id: str | None) -> None:
    """Upload the finished run in `output` (the last stage's, for a multi-stage run). A failed upload leaves the
    run as it is: the one error line says so, and how to retry."""
    if repo_id is None:
        return
    from .hub import PushError

    try:
        _say_pushed(_push(output, repo_id, None, True, False, None))
    except PushError as e:
        raise PushError(
            f"the run in {output} is finished, but --push-to-hub failed: {e} (retry: leafbench push {output} "
            f"--repo-id {repo_id})"
        ) from None


def _push(run_dir: Path, repo_id: str, router_repo_id: str | None, router: bool, private: bool, token: str | None):
    from .hub import push_run

    return push_run(run_dir, repo_id, router_repo_id, router=router, private=private, token=token, progress=_echo)


def _say_pushed(result) -> None:
    for repo, folder in result.uploaded.items():
        _echo(f"pushed {folder.name}/ -> https://huggingface.co/{repo}")


def _say_bundle(folder: Path, meta: dict) -> None:
    """What an exported bundle holds, and the command that trains from it elsewhere."""
    _echo(
        f"bundle: {folder} ({len(meta['train_idx'])} training + {len(meta['heldout_idx'])} held-out texts, "
        f"targets {meta['targets_dtype']}); train with: leafbench distill --bundle {folder} --output RUN --device cuda"
    )


def _check_folders(
    output: Path, results: Path | None, export_bundle: Path | None, recipe: str | None, bundle: Path | None
) -> None:
    """Before any teacher labelling or training: the folders can be written (--output is written last), and
    the run has one source of texts - a recipe, or a bundle."""
    from leafbench.files import check_writable_dir

    for path, option in ((output, "--output"), (results, "--results"), (export_bundle, "--export-bundle")):
        if path is not None:
            check_writable_dir(path, option)
    if (recipe is None) == (bundle is None):
        raise DistillError(
            "give exactly one of --recipe (label and train here) or --bundle (train from an exported bundle)"
        )
    if export_bundle is not None and bundle is not None:
        raise DistillError("--export-bundle needs --recipe, not --bundle")


def _check(recipe: str | None, training_dir: Path | None, data_dir: Path | None, cache_dir: Path | None) -> None:
    """--check: one line per source; exit 2 naming the sources that failed (or the field the models contradict)."""
    from rich.markup import escape

    from .check import check_recipe

    if recipe is None:
        raise DistillError("--check needs --recipe")
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
        raise DistillError(f"{len(bad)} of {len(checks)} sources cannot be read: {', '.join(bad)}")
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
    from .soup import SoupError, average_students

    if output.exists() and any(output.iterdir()):
        raise SoupError(f"{output} exists and is not empty; choose a new --output")
    folder = average_students(students, output, name)
    _echo(f"soup of {len(students)} students -> {folder} (measure it: leafbench run --model {folder} --mode all)")


def push(
    run_dir: Annotated[
        Path,
        typer.Argument(
            help="A finished `leafbench distill` run folder (its final/ and summary.json; a multi-stage run: its last stage)."
        ),
    ],
    repo_id: Annotated[str, typer.Option("--repo-id", help="Hugging Face model repo for the student: ORG/NAME.")],
    router_repo_id: Annotated[
        str | None,
        typer.Option("--router-repo-id", help="Repo for the asymmetric Router model (default: <repo-id>-router)."),
    ] = None,
    router: Annotated[
        bool, typer.Option("--router/--no-router", help="Also upload router/ (it holds a copy of the teacher).")
    ] = True,
    private: Annotated[bool, typer.Option("--private", help="Create the repos private.")] = False,
    token: Annotated[
        str | None,
        typer.Option("--token", help="A token with write access (default: HF_TOKEN or the `hf auth login` token)."),
    ] = None,
) -> None:
    """Upload a run's student (final/) and Router (router/) to the Hugging Face Hub, each with a model card for its repo."""
    _say_pushed(_push(run_dir, repo_id, router_repo_id, router, private, token))


def register(app: typer.Typer) -> None:
    """Entry point of the `leafbench.commands` group: adds `distill`, `soup` and `push` to the `leafbench` app."""
    app.command("distill")(distill)
    app.command("soup")(soup)
    app.command("push")(push)
