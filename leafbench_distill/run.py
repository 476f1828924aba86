"""The distillation library: `distill()` runs a recipe (one run, or every stage of a multi-stage recipe) end to
end; `export_bundle()` / `distill(bundle=...)` / `finish_bundle()` split a run between a machine with the
teacher and one without. Nothing here prints: messages go to the `progress` callback, errors are raised
(`leafbench.errors.UserError` subclasses for bad input), and the `leafbench distill` command only parses,
calls and prints.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .check import check_setup, stage_where
from .recipe import Recipe, RecipeError, check_sizes, is_staged, load_recipe, load_stages

Progress = Callable[[str], None] | None

#: Where a multi-stage run keeps stage N (1-based) under its --output.
STAGE_DIR = "stage-{}"


def _quiet(msg: str) -> None:
    """The default progress callback: the library says nothing."""


@dataclass
class DistillResult:
    """What a `distill()` call produced. For a multi-stage recipe, `summary` and `student` are the last
    stage's, and `stages` holds one result per stage (a stage finished by an earlier call is `skipped`)."""

    output: Path
    student: Path | None  # the exported SentenceTransformer folder (<output>/final)
    router: Path | None  # the asymmetric Router model, if exported
    summary: dict[str, Any]
    stages: list[DistillResult] = field(default_factory=list)
    skipped: bool = False
    bundle: Path | None = None  # export_bundle: the bundle folder written instead of a run


def _result(output: Path, summary: dict[str, Any], skipped: bool = False) -> DistillResult:
    router = output / "router"
    return DistillResult(
        output, output / "final", router if (router / "modules.json").is_file() else None, summary, skipped=skipped
    )


def stage_finished(folder: Path) -> bool:
    """A stage folder whose run completed: its student is exported and its summary written (last)."""
    return (folder / "summary.json").is_file() and (folder / "final" / "modules.json").is_file()


def distill(
    recipe: str | Recipe | None,
    output: Path | str,
    *,
    max_texts: int | None = None,
    cache_dir: Path | str | None = None,
    results: Path | str | None = None,
    training_dir: Path | str | None = None,
    data_dir: Path | str | None = None,
    cycles: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    max_steps: int | None = None,
    eval_every: int | None = None,
    device: str | None = None,
    router: bool = True,
    final_eval: bool = True,
    init_from: Path | str | None = None,
    bundle: Path | str | None = None,
    engine: Any = None,
    progress: Progress = None,
) -> DistillResult:
    """Distil a student from `recipe` (a built-in name, a YAML path or a Recipe) into `output`.

    Teacher targets go to the store under `cache_dir` (reused by every later run), training checkpoints to
    `output/checkpoints` (a rerun resumes), the student to `output/final`. Overrides (`cycles`, `epochs`,
    `max_steps`, ...) apply to every stage. A multi-stage recipe runs stage N in `output/stage-N`, starting from
    stage N-1's `final/`; a finished stage is skipped on a rerun; final evaluation and the Router export are
    done for the last stage only. `bundle`: train from an exported bundle instead (no teacher here).
    `progress` receives one line per step of the work (and switches on progress bars on stderr).
    """
    say = progress or _quiet
    bars = progress is not None
    output = Path(output)

    def opt(v: Path | str | None) -> Path | None:
        return Path(v) if v is not None else None

    training_dir, data_dir, init_from = opt(training_dir), opt(data_dir), opt(init_from)
    common = dict(
        max_texts=max_texts,
        cycles=cycles,
        epochs=epochs,
        batch_size=batch_size,
        max_steps=max_steps,
        eval_every=eval_every,
        device=device,
        engine=engine,
        say=say,
        bars=bars,
        cache_dir=opt(cache_dir),
        training_dir=training_dir,
        data_dir=data_dir,
    )
    if (recipe is None) == (bundle is None):
        raise ValueError(
            "give exactly one of a recipe (label and train here) or a bundle (train from an exported bundle)"
        )
    stages = [] if recipe is None else [recipe] if isinstance(recipe, Recipe) else load_stages(recipe)
    first: Recipe | None = None
    # Every stage's overrides, sizes, folders and the fields its models decide, before hours go into the first stage.
    for i, stage in enumerate(stages, 1):
        r = _load_and_override(stage, training_dir, data_dir, init_from if i == 1 else None, max_texts, batch_size)
        r.resolved_sources()
        check_setup(r, stage_where(r, i, len(stages)), opt(cache_dir), first)
        first = first or r
    if len(stages) <= 1:  # one run in `output`: a bundle, or a single-stage recipe
        summary = _train(
            stages[0] if stages else None,
            output,
            results=opt(results),
            router=router,
            final_eval=final_eval,
            init_from=init_from,
            bundle=opt(bundle),
            **common,
        )
        return _result(output, summary)
    done: list[DistillResult] = []
    previous: Path | None = init_from
    output.mkdir(parents=True, exist_ok=True)
    for i, stage in enumerate(stages, 1):
        folder = output / STAGE_DIR.format(i)
        last = i == len(stages)
        if stage_finished(folder):
            say(f"stage {i}/{len(stages)} ({stage.name}): finished in {folder}, skipped")
            done.append(_result(folder, _read_json(folder / "summary.json"), skipped=True))
        else:
            say(f"stage {i}/{len(stages)} ({stage.name}) -> {folder}" + (f", from {previous}" if previous else ""))
            summary = _train(
                stage,
                folder,
                results=opt(results) if last else None,
                router=router and last,
                final_eval=final_eval and last,
                init_from=previous,
                **common,
            )
            done.append(_result(folder, summary))
        previous = folder / "final"
    (output / "stages.json").write_text(
        json.dumps(
            {
                "recipe": str(recipe),
                "stages": [
                    {"stage": i, "name": s.name, "output": str(r.output), "skipped": r.skipped}
                    for i, (s, r) in enumerate(zip(stages, done), 1)
                ],
            },
            indent=1,
        )
        + "\n"
    )
    final = done[-1]
    return DistillResult(output, final.student, final.router, final.summary, stages=done)


def _load_and_override(
    recipe: str | Recipe,
    training_dir: Path | None,
    data_dir: Path | None,
    init_from: Path | None,
    max_texts: int | None = None,
    batch_size: int | None = None,
) -> Recipe:
    """The recipe with the command's overrides applied (a copy: a loaded Recipe is not changed)."""
    r = copy.deepcopy(recipe) if isinstance(recipe, Recipe) else load_recipe(recipe)
    if r.purpose != "training":
        raise RecipeError(
            f"{r.path}: purpose: {r.purpose} - a set of texts for choosing between students "
            "(scripts/alignment.py --recipe ... --source ...), not for training"
        )
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


def export_bundle(
    recipe: str | Recipe,
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
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Texts → teacher targets (store) → a bundle folder (returns its meta); the training half runs elsewhere
    with `distill(..., bundle=folder)` on a machine without the teacher."""
    say = progress or _quiet
    if isinstance(recipe, str) and is_staged(recipe):
        raise RecipeError(f"{recipe}: a multi-stage recipe; a bundle holds one stage - export a stage file's recipe")
    from leafbench.registry import default_cache_dir

    from .bundle import write_bundle
    from .pipeline import prepare

    r = _load_and_override(recipe, training_dir, data_dir, init_from, max_texts)
    check_setup(r, r.path or r.name, cache_dir, train_here=False)  # before the teacher labels anything
    prep = prepare(
        r,
        Path(cache_dir or default_cache_dir()),
        max_texts,
        device or "cpu",
        echo=say,
        engine=engine,
        bars=progress is not None,
    )
    return write_bundle(prep, Path(folder), targets_dtype, student_dtype)


def _train(
    recipe: str | Recipe | None,
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
    say: Progress = None,
    bars: bool = False,
) -> dict[str, Any]:
    """One training run (a recipe, or one stage of a multi-stage recipe); returns the run summary."""
    say = say or _quiet
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
            raise ValueError(
                "--bundle fixes texts, targets and the starting student: drop --init-from/--max-texts/--training-dir"
            )
        prep = read_bundle(bundle)
        r = prep.recipe
        if final_eval or router:
            say(
                "bundle run: no teacher here, so no final evaluation and no Router export "
                "(where the teacher is: leafbench distill --bundle <bundle> --output <output> --finish)"
            )
        final_eval = router = False
    else:
        assert recipe is not None
        r = _load_and_override(recipe, training_dir, data_dir, init_from, max_texts, batch_size)
    overrides = {
        k: v
        for k, v in {
            "cycles": cycles,
            "epochs_per_cycle": epochs,
            "batch_size": batch_size,
            "max_steps": max_steps,
            "eval_every": eval_every,
        }.items()
        if v is not None
    }
    r.train = replace(r.train, **overrides)
    cache_dir = Path(cache_dir or default_cache_dir())
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    device = device or "cpu"
    say(
        f"recipe {r.name}: teacher {r.teacher.model} ({r.teacher.dim}-d, {r.teacher.precision}), student {r.student.backbone} "
        f"layers={r.student.layers}, {r.train.cycles}x{r.train.epochs_per_cycle} epochs, batch {r.train.batch_size}"
    )
    if bundle is None:
        prep = prepare(r, cache_dir, max_texts, device, echo=say, engine=engine, bars=bars)
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

            untrained["asym_random_projection"] = Evaluator(
                None, prep.eval_data, prep.teacher_docs, prep.teacher.spec.query_prompt
            )(model)["asym_ndcg_at_10"]
        if r.student.projection_init in ("ridge", "procrustes"):
            model, ridge = make_student(prep, cache_dir, device, init=True)
        # Written before training, so a resumed run still reports where it started from.
        (output / "untrained.json").write_text(json.dumps(untrained))
        (output / "ridge.json").write_text(json.dumps(ridge))
    trainer = Trainer(
        model,
        [prep.inputs[i] for i in prep.train_idx],
        prep.targets[prep.train_idx],
        r.train,
        output,
        evaluator,
        progress=bars,
    )
    say(
        f"training: {len(prep.train_idx)} texts, {trainer.steps_per_epoch} steps/epoch, {trainer.total_steps} steps"
        + (" (resuming)" if resuming else "")
    )
    t0 = time.perf_counter()
    state = trainer.fit()
    say(f"trained {state.step} steps; {trainer.texts_per_s:.1f} texts/s; {time.perf_counter() - t0:.0f}s in this run")
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
        "recipe": r.raw
        | {
            "name": r.name,
            "train": {**r.raw.get("train", {}), **overrides},
            "student": {**r.raw.get("student", {}), "init_from": init_label},
        },
        "data_hashes": {
            "training_texts": prep.info["data_hash"],
            "targets": {k: v["store_entries"] for k, v in prep.target_stats.items()},
        },
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
    return finish_run(
        output, final_dir, prep, summary, manifest, metrics, cache_dir, results, device, router, final_eval, say
    )


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
    say: Progress = None,
) -> dict[str, Any]:
    """What needs the teacher: final evaluation, manifest + model card with its numbers, Router export."""
    say = say or _quiet
    from .export import export_router, model_card, write_manifest
    from .pipeline import final_evaluation

    qp, dp = prep.teacher.spec.query_prompt, prep.teacher.spec.document_prompt
    metrics = dict(metrics)
    if final_eval:
        res = final_evaluation(final_dir, prep, cache_dir, results or output / "results", device, echo=say)
        metrics.update(res)
        if prep.eval_data is not None:
            summary["retrieval_protocol"] = (
                f"{prep.eval_data.task_name} {prep.eval_data.split}: {prep.eval_data.n_queries} queries x {prep.eval_data.n_docs} docs"
            )
    manifest["final_metrics"] = metrics
    summary["final_metrics"] = metrics
    write_manifest(final_dir, manifest)
    (final_dir / "README.md").write_text(model_card(summary))
    if router:
        teacher_src = prep.teacher.spec.source
        export_router(final_dir, teacher_src, output / "router", qp, dp, manifest)
        (output / "router" / "README.md").write_text(model_card(summary))
        say(f"router model: {output / 'router'}")
    (output / "summary.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    if results is not None:
        results.mkdir(parents=True, exist_ok=True)
        (results / "summary.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    say(f"student: {final_dir}")
    return summary


def finish_bundle(
    bundle: Path,
    output: Path,
    cache_dir: Path | None = None,
    results: Path | None = None,
    data_dir: Path | None = None,
    device: str | None = None,
    router: bool = True,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Back where the teacher is: evaluate and export a run that was trained elsewhere from `bundle`."""
    say = progress or _quiet
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
    if manifest.get("data_hashes", {}).get("training_texts") != prep.info.get("data_hash") or manifest.get(
        "recipe", {}
    ).get("student", {}).get("init_from") != bundled_init_from(prep.info):
        raise BundleError(f"{output} was not trained from {bundle} (training texts or starting student differ)")
    cache_dir = cache_dir or default_cache_dir()
    teacher = recipe_teacher(r, cache_dir, device)
    if teacher.identity != prep.teacher.identity:
        raise BundleError(
            f"teacher {r.teacher.model} here is {teacher.identity}, the bundle was labelled by {prep.teacher.identity}"
        )
    prep.teacher = teacher
    say(f"finishing {output} (trained on: {summary.get('hardware')}) with the teacher here")
    return finish_run(
        output,
        final_dir,
        prep,
        summary,
        manifest,
        manifest.get("final_metrics", {}),
        Path(cache_dir),
        results,
        device or "cpu",
        router,
        final_eval=True,
        say=say,
    )


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
