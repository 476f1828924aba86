"""`leafbench distill` and `leafbench soup`: added to the harness CLI through the `leafbench.commands` entry point
(`register`), plus a standalone app."""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

console = Console(stderr=True, emoji=False)


def _echo(msg: str) -> None:
    console.print(msg, highlight=False, soft_wrap=True)


def distill(
    output: Annotated[Path, typer.Option("--output", "-o", help="Run folder: checkpoints/, final/ (student), router/, metrics.jsonl.")],
    recipe: Annotated[str | None, typer.Option("--recipe", "-r", help="Built-in recipe (leaf-ir, leaf-mt, mpnet-offline, mini) or a YAML file.")] = None,
    max_texts: Annotated[int | None, typer.Option(min=1, help="Use at most this many training texts (the recipe's mix, scaled down; more than the recipe's held-out split).")] = None,
    init_from: Annotated[
        Path | None, typer.Option("--init-from", help="Continue from an earlier student folder (e.g. runs/leaf-mpnet/final) instead of a fresh projection.")
    ] = None,
    cache_dir: Annotated[
        Path | None, typer.Option("--cache-dir", envvar="LEAFBENCH_CACHE_DIR", help="Embedding store (teacher targets) and models.")
    ] = None,
    results: Annotated[Path | None, typer.Option(help="Where final result JSONs go. Default: <output>/results.")] = None,
    training_dir: Annotated[Path | None, typer.Option(help="Override the recipe's training text folder.")] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Override the recipe's evaluation data folder (../shared/data).")] = None,
    cycles: Annotated[int | None, typer.Option(min=1, help="Override the number of LR cycles. Rerunning a finished run (same --output) with more cycles continues from its checkpoint, to the weights an uninterrupted run would reach.")] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Override epochs per cycle.")] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Override the batch size (paper: 32).")] = None,
    max_steps: Annotated[int | None, typer.Option(min=1, help="Cap the schedule at this many optimizer steps.")] = None,
    eval_every: Annotated[int | None, typer.Option(min=0, help="Evaluate every N steps (0: every epoch).")] = None,
    device: Annotated[str | None, typer.Option(help="cpu | cuda | mps (student training and teacher labelling).")] = None,
    router: Annotated[bool, typer.Option("--router/--no-router", help="Also export the asymmetric Router model.")] = True,
    final_eval: Annotated[bool, typer.Option("--final-eval/--no-final-eval", help="Evaluate student/teacher/asymmetric at the end.")] = True,
    export_bundle: Annotated[Path | None, typer.Option("--export-bundle", help="Label the training texts with the teacher, write them as a training bundle to this folder and stop (train elsewhere with --bundle).")] = None,
    bundle: Annotated[Path | None, typer.Option("--bundle", help="Train from a bundle made by --export-bundle: no teacher, no data files needed; the recipe comes from the bundle. Final evaluation and Router export are left to the machine with the teacher.")] = None,
    finish: Annotated[bool, typer.Option("--finish", help="With --bundle, where the teacher is: finish a run trained elsewhere from that bundle (OUTPUT holds its final/ and summary.json): final evaluation, Router export, model card.")] = False,
    bundle_targets: Annotated[str, typer.Option(help="Target precision in an exported bundle: float32, float16, or int8 (per-row scale, cosine >= 0.9999 to float32, 1/4 the size).")] = "float32",
    bundle_student: Annotated[str, typer.Option(help="Precision of the init_from student copied into an exported bundle: float32 or float16 (training restores float32).")] = "float32",
    engine: Annotated[str, typer.Option(help="Teacher labelling: local (this process) | ray (Ray Data actor pool writing into the same store; needs leafbench[ray]).")] = "local",
    ray_address: Annotated[str | None, typer.Option(help="--engine ray: an existing cluster's address. Default: a local cluster.")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="--engine ray: labelling actors. Default: one per GPU, else 2.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Distil a LEAF student from a recipe: teacher targets once (cached), train with L2, export, evaluate."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from leafbench.engine import EngineError, make_engine

    from .recipe import RecipeError
    from .texts import TextSourceError

    try:
        runner = make_engine(engine, ray_address, workers)
        from leafbench.files import check_writable_dir

        # Output folders are checked before any teacher labelling or training (--output is written last).
        for path, option in ((output, "--output"), (results, "--results"), (export_bundle, "--export-bundle")):
            if path is not None:
                check_writable_dir(path, option)
        if (recipe is None) == (bundle is None):
            raise ValueError("give exactly one of --recipe (label and train here) or --bundle (train from an exported bundle)")
        if export_bundle is not None:
            if bundle is not None:
                raise ValueError("--export-bundle needs --recipe, not --bundle")
            meta = export_training_bundle(recipe, export_bundle, max_texts, cache_dir, training_dir, data_dir, init_from, device,
                                          bundle_targets, bundle_student, engine=runner)
            _echo(f"bundle: {export_bundle} ({len(meta['train_idx'])} training + {len(meta['heldout_idx'])} held-out texts, "
                  f"targets {meta['targets_dtype']}); train with: leafbench distill --bundle {export_bundle} --output RUN --device cuda")
            return
        if finish:
            if bundle is None:
                raise ValueError("--finish needs --bundle: the bundle the run in --output was trained from")
            finish_bundle_run(bundle, output, cache_dir, results, data_dir, device, router)
            return
        run_distill(recipe, output, max_texts, cache_dir, results, training_dir, data_dir, cycles, epochs, batch_size, max_steps,
                    eval_every, device, router, final_eval, init_from, bundle=bundle, engine=runner)
    except (RecipeError, TextSourceError, ValueError, RuntimeError, EngineError) as e:
        from rich.markup import escape

        console.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from e


def _load_and_override(recipe_name: str, training_dir: Path | None, data_dir: Path | None, init_from: Path | None,
                       max_texts: int | None = None, batch_size: int | None = None):
    from .recipe import RecipeError, check_sizes, load_recipe

    r = load_recipe(recipe_name)
    if r.purpose != "training":
        raise RecipeError(f"{r.path}: purpose: {r.purpose} - a set of texts for choosing between students "
                          "(scripts/alignment.py --recipe ... --source ...), not for training")
    if training_dir is not None:
        r.data = replace(r.data, training_dir=str(training_dir))
    if data_dir is not None:
        r.eval = replace(r.eval, data_dir=str(data_dir))
    if init_from is not None:
        r.student = replace(r.student, init_from=str(init_from))
    if batch_size is not None:
        r.train = replace(r.train, batch_size=batch_size)
    check_sizes(r, max_texts, f"--max-texts {max_texts}")
    return r


def export_training_bundle(
    recipe_name: str,
    folder: Path,
    max_texts: int | None = None,
    cache_dir: Path | None = None,
    training_dir: Path | None = None,
    data_dir: Path | None = None,
    init_from: Path | None = None,
    device: str | None = None,
    targets_dtype: str = "float32",
    student_dtype: str = "float32",
    engine: Any = None,
) -> dict[str, Any]:
    """Texts → teacher targets (store) → a bundle folder; the training half runs elsewhere with --bundle."""
    from leafbench.registry import default_cache_dir

    from .bundle import write_bundle
    from .pipeline import check_student_folder, prepare

    r = _load_and_override(recipe_name, training_dir, data_dir, init_from, max_texts)
    if r.student.init_from:
        check_student_folder(r.resolve_path(r.student.init_from))
    prep = prepare(r, cache_dir or default_cache_dir(), max_texts, device or "cpu", echo=_echo, engine=engine)
    return write_bundle(prep, Path(folder), targets_dtype, student_dtype)


def run_distill(
    recipe_name: str | None,
    output: Path,
    max_texts: int | None = None,
    cache_dir: Path | None = None,
    results: Path | None = None,
    training_dir: Path | None = None,
    data_dir: Path | None = None,
    cycles: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    max_steps: int | None = None,
    eval_every: int | None = None,
    device: str | None = None,
    router: bool = True,
    final_eval: bool = True,
    init_from: Path | None = None,
    bundle: Path | None = None,
    engine: Any = None,
) -> dict[str, Any]:
    """The command's body, callable from Python (tests, notebooks); returns the run summary."""
    from leafbench.registry import default_cache_dir

    from .bundle import bundled_init_from
    from .export import export_student
    from .pipeline import (
        hardware,
        make_evaluator,
        make_student,
        prepare,
    )
    from .train import Trainer

    if bundle is not None:
        from .bundle import read_bundle

        if init_from is not None or max_texts is not None or training_dir is not None:
            raise ValueError("--bundle fixes texts, targets and the starting student: drop --init-from/--max-texts/--training-dir")
        prep = read_bundle(bundle)
        r = prep.recipe
        if final_eval or router:
            _echo("bundle run: no teacher here, so no final evaluation and no Router export "
                  "(where the teacher is: leafbench distill --bundle <bundle> --output <output> --finish)")
        final_eval = router = False
    else:
        assert recipe_name is not None
        r = _load_and_override(recipe_name, training_dir, data_dir, init_from, max_texts, batch_size)
    overrides = {k: v for k, v in {"cycles": cycles, "epochs_per_cycle": epochs, "batch_size": batch_size, "max_steps": max_steps,
                                   "eval_every": eval_every}.items() if v is not None}
    r.train = replace(r.train, **overrides)
    cache_dir = cache_dir or default_cache_dir()
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    device = device or "cpu"
    _echo(f"recipe {r.name}: teacher {r.teacher.model} ({r.teacher.dim}-d, {r.teacher.precision}), student {r.student.backbone} "
          f"layers={r.student.layers}, {r.train.cycles}x{r.train.epochs_per_cycle} epochs, batch {r.train.batch_size}")
    if bundle is None:
        prep = prepare(r, cache_dir, max_texts, device, echo=_echo, engine=engine)
    resuming = (output / "checkpoints" / "last.pt").exists()
    evaluator = make_evaluator(prep)
    import torch

    torch.manual_seed(r.train.seed)  # the random projection (before ridge) is reproducible
    model, ridge = make_student(prep, cache_dir, device, init=False)
    untrained: dict[str, float] = {}
    if not resuming and r.student.init_from:
        model, ridge = make_student(prep, cache_dir, device, init=True)
        (output / "untrained.json").write_text(json.dumps(untrained))
        (output / "ridge.json").write_text(json.dumps(ridge))
    elif not resuming:
        if prep.eval_data is not None:  # the random projection, for contrast with what training achieves
            from .evaluation import Evaluator

            untrained["asym_random_projection"] = Evaluator(None, prep.eval_data, prep.teacher_docs, prep.teacher.spec.query_prompt)(model)["asym_ndcg_at_10"]
        if r.student.projection_init in ("ridge", "procrustes"):
            model, ridge = make_student(prep, cache_dir, device, init=True)
        # Written before training, so a resumed run still reports where it started from.
        (output / "untrained.json").write_text(json.dumps(untrained))
        (output / "ridge.json").write_text(json.dumps(ridge))
    trainer = Trainer(model, [prep.inputs[i] for i in prep.train_idx], prep.targets[prep.train_idx], r.train, output, evaluator)
    _echo(f"training: {len(prep.train_idx)} texts, {trainer.steps_per_epoch} steps/epoch, {trainer.total_steps} steps"
          + (" (resuming)" if resuming else ""))
    t0 = time.perf_counter()
    state = trainer.fit()
    _echo(f"trained {state.step} steps; {trainer.texts_per_s:.1f} texts/s; {time.perf_counter() - t0:.0f}s in this run")
    # A bundle's student sits in the bundle folder; name the student it was copied from.
    init_label = bundled_init_from(prep.info) or r.student.init_from
    start = next((h for h in state.history if h.get("tag") == "start"), {})
    final = next((h for h in reversed(state.history) if h.get("tag") == "final"), {})
    qp, dp = prep.teacher.spec.query_prompt, prep.teacher.spec.document_prompt
    untrained_rec = untrained or _read_json(output / "untrained.json")
    ridge = ridge or _read_json(output / "ridge.json")
    if start.get("asym_ndcg_at_10") is not None:
        start_key = "asym_init_from" if r.student.init_from else f"asym_{r.student.projection_init}_init"  # step 0
        untrained_rec = {**untrained_rec, start_key: start["asym_ndcg_at_10"]}
    manifest = {
        "name": f"leaf-{r.name}",  # the result folder name in `leafbench run` (the model folder is just "final")
        "teacher": r.teacher.model,
        "teacher_revision": r.teacher.revision or prep.teacher.spec.revision or prep.teacher.identity,
        "query_prompt": qp,
        "document_prompt": dp,
        "dims": {"student_hidden": model[0].get_embedding_dimension(), "output": r.teacher.dim},
        "recipe": r.raw | {"name": r.name, "train": {**r.raw.get("train", {}), **overrides},
                           "student": {**r.raw.get("student", {}), "init_from": init_label}},
        "data_hashes": {"training_texts": prep.info["data_hash"], "targets": {k: v["store_entries"] for k, v in prep.target_stats.items()}},
        "final_metrics": {"in_training": {k: v for k, v in final.items() if isinstance(v, float)}},
        "created_by": "leafbench distill",
    }
    if r.student.export_max_seq_length:
        model.max_seq_length = r.student.export_max_seq_length
    manifest["max_seq_length"] = {"train": r.student.max_seq_length, "inference": model.max_seq_length}
    final_dir = export_student(model, output / "final", manifest, qp, dp)
    summary: dict[str, Any] = {
        "name": f"leaf-{r.name}",
        "recipe": r.name,
        "teacher": r.teacher.model,
        "teacher_precision": r.teacher.precision,
        "teacher_backend": r.teacher.backend,
        "student_backbone": r.student.backbone,
        "student_layers": r.student.layers,
        "init_from": init_label,
        "dims": {"student": manifest["dims"]["student_hidden"], "teacher": r.teacher.dim},
        "n_train_texts": len(prep.train_idx),
        "n_heldout_texts": len(prep.heldout_idx),
        "text_counts": prep.info["counts"],
        "eval_overlap_dropped": prep.info["overlap"],
        "domain_selection": prep.info.get("selection", {}),
        "epochs": state.step / trainer.steps_per_epoch,
        "steps": state.step,
        "batch_size": r.train.batch_size,
        "train_minutes": state.train_seconds / 60,
        "texts_per_s": trainer.texts_per_s,
        "teacher_targets": prep.target_stats,
        "ridge_init": ridge,
        "hardware": hardware(device),
        "bundle": prep.info.get("bundle"),
        "history": [h for h in state.history if h.get("kind") == "eval"],
    }
    metrics: dict[str, Any] = {"in_training": manifest["final_metrics"]["in_training"], "untrained": untrained_rec}
    return finish_run(output, final_dir, prep, summary, manifest, metrics, cache_dir, results, device, router, final_eval)


def finish_run(
    output: Path,
    final_dir: Path,
    prep,
    summary: dict[str, Any],
    manifest: dict[str, Any],
    metrics: dict[str, Any],
    cache_dir: Path,
    results: Path | None,
    device: str,
    router: bool,
    final_eval: bool,
) -> dict[str, Any]:
    """What needs the teacher: final evaluation, manifest + model card with its numbers, Router export."""
    from .export import export_router, model_card, write_manifest
    from .pipeline import final_evaluation

    qp, dp = prep.teacher.spec.query_prompt, prep.teacher.spec.document_prompt
    metrics = dict(metrics)
    if final_eval:
        res = final_evaluation(final_dir, prep, cache_dir, results or output / "results", device, echo=_echo)
        metrics.update(res)
        if prep.eval_data is not None:
            summary["retrieval_protocol"] = f"{prep.eval_data.task_name} {prep.eval_data.split}: {prep.eval_data.n_queries} queries x {prep.eval_data.n_docs} docs"
    manifest["final_metrics"] = metrics
    summary["final_metrics"] = metrics
    write_manifest(final_dir, manifest)
    (final_dir / "README.md").write_text(model_card(summary))
    if router:
        teacher_src = prep.teacher.spec.source
        export_router(final_dir, teacher_src, output / "router", qp, dp, manifest)
        (output / "router" / "README.md").write_text(model_card(summary))
        _echo(f"router model: {output / 'router'}")
    (output / "summary.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    if results is not None:
        results.mkdir(parents=True, exist_ok=True)
        (results / "summary.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    _echo(f"student: {final_dir}")
    return summary


def finish_bundle_run(
    bundle: Path,
    output: Path,
    cache_dir: Path | None = None,
    results: Path | None = None,
    data_dir: Path | None = None,
    device: str | None = None,
    router: bool = True,
) -> dict[str, Any]:
    """Back where the teacher is: evaluate and export a run that was trained elsewhere from `bundle`."""
    from leafbench.registry import default_cache_dir

    from .bundle import BundleError, bundled_init_from, read_bundle
    from .pipeline import recipe_teacher

    output = Path(output)
    final_dir = output / "final"
    summary, manifest = _read_json(output / "summary.json"), _read_json(final_dir / "leafbench.json")
    if not summary or not manifest:
        raise BundleError(f"{output}: no summary.json and final/leafbench.json - not a finished `--bundle` run")
    prep = read_bundle(bundle)
    r = prep.recipe
    if data_dir is not None:
        r.eval = replace(r.eval, data_dir=str(data_dir))
    if (manifest.get("data_hashes", {}).get("training_texts") != prep.info.get("data_hash")
            or manifest.get("recipe", {}).get("student", {}).get("init_from") != bundled_init_from(prep.info)):
        raise BundleError(f"{output} was not trained from {bundle} (training texts or starting student differ)")
    cache_dir = cache_dir or default_cache_dir()
    teacher = recipe_teacher(r, cache_dir, device)
    if teacher.identity != prep.teacher.identity:
        raise BundleError(f"teacher {r.teacher.model} here is {teacher.identity}, the bundle was labelled by {prep.teacher.identity}")
    prep.teacher = teacher
    _echo(f"finishing {output} (trained on: {summary.get('hardware')}) with the teacher here")
    return finish_run(output, final_dir, prep, summary, manifest, manifest.get("final_metrics", {}), cache_dir, results,
                      device or "cpu", router, final_eval=True)


def soup(
    students: Annotated[list[Path], typer.Argument(help="Two or more distilled student folders of one teacher (e.g. runs/leaf-mpnet-stage5/final runs/leaf-mpnet-stage7/final).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="New student folder (weights, manifest naming the ingredients, README).")],
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


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


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
