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
from .errors import DistillError
from .options import DistillOptions, cache_folder
from .recipe import Recipe, RecipeError, adaptation, check_sizes, is_staged, load_recipe, load_stages

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
    options: DistillOptions | Path | str,
    *,
    engine: Any = None,
    progress: Progress = None,
    **settings: Any,
) -> DistillResult:
    """Distil a student from `recipe` (a built-in name, a YAML path or a Recipe) into `options.output`.

    `options`: a DistillOptions, or the output folder with the other settings as keywords (`max_steps=3`,
    `cache_dir=...`: the fields of DistillOptions); either way they are built and checked once, here.
    Teacher targets go to the store under the cache folder (reused by every later run), training checkpoints
    to `output/checkpoints` (a rerun resumes), the student to `output/final`. Overrides (`cycles`, `epochs`,
    `max_steps`, ...) apply to every stage. A multi-stage recipe runs stage N in `output/stage-N`, starting from
    stage N-1's `final/`; a finished stage is skipped on a rerun; final evaluation and the Router export are
    done for the last stage only. `bundle`: train from an exported bundle instead (no teacher here).
    `progress` receives one line per step of the work (and switches on progress bars on stderr).
    """
    opts = DistillOptions.build(options, **settings)
    say = progress or _quiet
    bars = progress is not None
    if (recipe is None) == (opts.bundle is None):
        raise DistillError(
            "give exactly one of a recipe (label and train here) or a bundle (train from an exported bundle)"
        )
    stages = [] if recipe is None else [recipe] if isinstance(recipe, Recipe) else load_stages(recipe)
    _check_stages(stages, opts)
    if len(stages) <= 1:  # one run in `output`: a bundle, or a single-stage recipe
        summary = _train(stages[0] if stages else None, opts, engine, say, bars)
        return _result(opts.output, summary)
    done = _run_stages(stages, opts, engine, say, bars)
    _write_stages(opts.output, recipe, stages, done)
    final = done[-1]
    return DistillResult(opts.output, final.student, final.router, final.summary, stages=done)


def _check_stages(stages: list[Recipe], opts: DistillOptions) -> None:
    """Every stage's overrides, sizes, folders and the fields its models decide, before hours go into the
    first stage."""
    first: Recipe | None = None
    for i, stage in enumerate(stages, 1):
        r = _stage_recipe(stage, opts, opts.init_from if i == 1 else None)
        r.resolved_sources()
        check_setup(r, stage_where(r, i, len(stages)), opts.cache_dir, first)
        first = first or r


def _run_stages(
    stages: list[Recipe], opts: DistillOptions, engine: Any, say: Callable[[str], None], bars: bool
) -> list[DistillResult]:
    """Stage N in `output/stage-N`, from stage N-1's student; a stage finished by an earlier call is skipped."""
    done: list[DistillResult] = []
    previous: Path | None = opts.init_from
    opts.output.mkdir(parents=True, exist_ok=True)
    for i, stage in enumerate(stages, 1):
        folder = opts.output / STAGE_DIR.format(i)
        if stage_finished(folder):
            say(f"stage {i}/{len(stages)} ({stage.name}): finished in {folder}, skipped")
            done.append(_result(folder, _read_json(folder / "summary.json"), skipped=True))
        else:
            say(f"stage {i}/{len(stages)} ({stage.name}) -> {folder}" + (f", from {previous}" if previous else ""))
            stage_opts = opts.for_stage(folder, previous, last=i == len(stages))
            done.append(_result(folder, _train(stage, stage_opts, engine, say, bars)))
        previous = folder / "final"
    return done


def _write_stages(output: Path, recipe: str | Recipe, stages: list[Recipe], done: list[DistillResult]) -> None:
    """`stages.json`: which stage ran where, and which were skipped."""
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


def _stage_recipe(recipe: str | Recipe, opts: DistillOptions, init_from: Path | None) -> Recipe:
    """A stage's recipe with this call's overrides; `init_from`: the stage's starting student (a later stage
    starts from the previous one's)."""
    return _load_and_override(recipe, opts.training_dir, opts.data_dir, init_from, opts.max_texts, opts.batch_size)


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
    from .bundle import write_bundle
    from .pipeline import prepare

    r = _load_and_override(recipe, training_dir, data_dir, init_from, max_texts)
    check_setup(r, r.path or r.name, cache_dir, train_here=False)  # before the teacher labels anything
    prep = prepare(
        r, cache_folder(cache_dir), max_texts, device or "cpu", echo=say, engine=engine, bars=progress is not None
    )
    return write_bundle(prep, Path(folder), targets_dtype, student_dtype)


def _train(
    recipe: str | Recipe | None, opts: DistillOptions, engine: Any, say: Callable[[str], None], bars: bool
) -> dict[str, Any]:
    """One training run (a recipe, or one stage of a multi-stage recipe); returns the run summary."""
    from .bundle import bundled_init_from
    from .export import export_student
    from .pipeline import make_evaluator, prepare

    r, prep, opts = _run_recipe(recipe, opts, say)
    overrides = opts.train_overrides()
    r.train = replace(r.train, **overrides)
    output, cache, device = opts.output, opts.cache, opts.run_device
    output.mkdir(parents=True, exist_ok=True)
    say(
        f"recipe {r.name}: teacher {r.teacher.model} ({r.teacher.dim}-d, {r.teacher.precision}), student {r.student.backbone} "
        f"layers={r.student.layers}, {r.train.cycles}x{r.train.epochs_per_cycle} epochs, batch {r.train.batch_size}"
    )
    if prep is None:
        prep = prepare(r, cache, opts.max_texts, device, echo=say, engine=engine, bars=bars)
    resuming = (output / "checkpoints" / "last.pt").exists()
    evaluator = make_evaluator(prep)
    model, ridge, untrained = _start_student(prep, output, cache, device, resuming)
    start = _start_embeddings(prep, model, output, cache, resuming, say)
    selector = _selector(prep, output)
    trainer, state = _fit(prep, model, evaluator, output, resuming, say, bars, start, selector)
    if selector is not None:
        selector.restore(model)
        b = selector.best or {}
        say(f"selected on dev by {selector.rule}: {b.get('tag')} (step {b.get('step')}), {b.get('dev_metrics')}")
    length = _choose_length(prep, model, output, say)
    # A bundle's student sits in the bundle folder; name the student it was copied from.
    init_label = bundled_init_from(prep.info) or r.student.init_from
    manifest = _manifest(prep, model, state, overrides, init_label)
    if prep.dev is not None:
        manifest["selection"] = selector.record() if selector else {"rule": "last", "dev": prep.dev.describe()}
        if length:
            manifest["selection"]["length"] = length
            manifest["max_seq_length"]["inference"] = model.max_seq_length = length["chosen"]
    final_dir = export_student(model, output / "final", manifest, *_prompts(prep))
    ridge = ridge or _read_json(output / "ridge.json")
    summary = _summary(prep, trainer, state, manifest, init_label, ridge, device)
    if "selection" in manifest:
        summary["selection"] = manifest["selection"]
    metrics: dict[str, Any] = {
        "in_training": manifest["final_metrics"]["in_training"],
        "untrained": _untrained(r, state, untrained or _read_json(output / "untrained.json")),
    }
    return finish_run(final_dir, prep, summary, manifest, metrics, opts, say)


def _run_recipe(
    recipe: str | Recipe | None, opts: DistillOptions, say: Callable[[str], None]
) -> tuple[Recipe, Any, DistillOptions]:
    """The run's recipe, and its prepared texts and targets when they come from a bundle (else None). A bundle
    run has no teacher here: its options lose the final evaluation and the Router export."""
    if opts.bundle is None:
        assert recipe is not None
        return _stage_recipe(recipe, opts, opts.init_from), None, opts
    from .bundle import read_bundle

    prep = read_bundle(opts.bundle)
    if opts.final_eval or opts.router:
        say(
            "bundle run: no teacher here, so no final evaluation and no Router export "
            "(where the teacher is: leafbench distill --bundle <bundle> --output <output> --finish)"
        )
    return prep.recipe, prep, replace(opts, final_eval=False, router=False)


def _prompts(prep) -> tuple[str, str]:
    """The teacher's (query, document) prompts, which the student keeps."""
    return prep.teacher.spec.query_prompt, prep.teacher.spec.document_prompt


def _start_student(prep, output: Path, cache: Path, device: str, resuming: bool) -> tuple[Any, dict, dict]:
    """The student training starts from (model, projection fit info, untrained scores). A fresh run records
    where it started in untrained.json and ridge.json before training, so a resumed run still reports it."""
    import torch

    from .pipeline import make_student

    r = prep.recipe
    torch.manual_seed(r.train.seed)  # the random projection (before ridge) is reproducible
    model, ridge = make_student(prep, cache, device, init=False)
    untrained: dict[str, float] = {}
    if resuming:
        return model, ridge, untrained
    if r.student.init_from:
        model, ridge = make_student(prep, cache, device, init=True)
    else:
        untrained = _random_projection_score(prep, model)
        if r.student.projection_init in ("ridge", "procrustes"):
            model, ridge = make_student(prep, cache, device, init=True)
    (output / "untrained.json").write_text(json.dumps(untrained))
    (output / "ridge.json").write_text(json.dumps(ridge))
    return model, ridge, untrained


def _random_projection_score(prep, model) -> dict[str, float]:
    """The random projection's asymmetric nDCG@10, for contrast with what training achieves. With a dev set it
    reads dev (`dev_asym_random_projection`): the test split is read once, after selection."""
    from .evaluation import Evaluator

    qp = prep.teacher.spec.query_prompt
    if prep.dev is not None:
        dev = Evaluator(None, prep.dev.data, prep.dev.teacher_docs, qp, prefix="dev_", read_length=prep.dev.read_length)
        return {"dev_asym_random_projection": dev(model)["dev_asym_ndcg_at_10"]}
    if prep.eval_data is None:
        return {}
    return {"asym_random_projection": Evaluator(None, prep.eval_data, prep.teacher_docs, qp)(model)["asym_ndcg_at_10"]}


def _start_embeddings(prep, model, output: Path, cache: Path, resuming: bool, say: Callable[[str], None]):
    """The starting student's embeddings of the training texts the anchor loss reads (None without it), from the
    store next to the teacher targets (a bundle run has no teacher store: the cache folder's)."""
    loss = prep.recipe.train.loss
    if not loss.needs_start():
        return None
    from leafbench.workspace import Workspace

    from .targets import start_embeddings

    t0 = time.perf_counter()
    store = prep.teacher.store if prep.teacher.store is not None else Workspace.cache_only(cache).store()
    start, stats = start_embeddings(
        model,
        [prep.inputs[i] for i in prep.train_idx],
        [prep.texts.roles[i] for i in prep.train_idx],
        loss.anchor.roles,
        store,
        output,
        resuming,
    )
    say(f"starting student's embeddings for the anchor loss ready in {time.perf_counter() - t0:.1f}s ({stats})")
    return start


def _choose_length(prep, model, output: Path, say: Callable[[str], None]) -> dict[str, Any] | None:
    """The reading length of `student.export_lengths` with the best dev nDCG@10 in student mode (documents are
    what length changes; ties keep the shorter), scored once per length (length.json says what was measured)."""
    lengths = prep.recipe.student.export_lengths
    if not lengths or prep.dev is None:
        return None
    from .evaluation import Evaluator

    qp, dp = _prompts(prep)
    scores = {}
    for n in sorted(lengths):  # the evaluator reads at n and gives the model its training length back
        ev = Evaluator(
            None, prep.dev.data, prep.dev.teacher_docs, qp, dp, student_mode=True, prefix="dev_", read_length=n
        )
        scores[n] = ev(model)["dev_student_ndcg_at_10"]
        say(f"dev student nDCG@10 reading {n} tokens: {scores[n]:.4f}")
    out = {"candidates": {str(n): v for n, v in scores.items()}, "chosen": max(scores, key=lambda n: (scores[n], -n))}
    (output / "length.json").write_text(json.dumps(out, indent=1))
    return out


def _selector(prep, output: Path):
    """The dev-set selector of a recipe with `eval.select` other than last (None otherwise)."""
    if prep.dev is None or prep.recipe.eval.select == "last":
        return None
    from .validation import Selector

    return Selector(prep.recipe.eval.select, output / "checkpoints", prep.dev.describe())


def _fit(
    prep,
    model,
    evaluator,
    output: Path,
    resuming: bool,
    say: Callable[[str], None],
    bars: bool,
    start=None,
    selector=None,
):
    """Train (or resume) to the end of the schedule; returns the trainer and its final state."""
    from .train import Trainer

    trainer = Trainer(
        model,
        [prep.inputs[i] for i in prep.train_idx],
        prep.targets[prep.train_idx],
        prep.recipe.train,
        output,
        evaluator,
        progress=bars,
        roles=[prep.texts.roles[i] for i in prep.train_idx],
        start=start,
        selector=selector,
    )
    say(
        f"training: {len(prep.train_idx)} texts, {trainer.steps_per_epoch} steps/epoch, {trainer.total_steps} steps"
        + (" (resuming)" if resuming else "")
    )
    if trainer.total_steps == 0:
        say("train.epochs_per_cycle 0: no training, the fitted start is the student")
    t0 = time.perf_counter()
    state = trainer.fit()
    say(f"trained {state.step} steps; {trainer.texts_per_s:.1f} texts/s; {time.perf_counter() - t0:.0f}s in this run")
    return trainer, state


def _untrained(r: Recipe, state, untrained: dict[str, float]) -> dict[str, float]:
    """Scores before training: the random projection's, and the student's at step 0 (its starting point)."""
    start = next((h for h in state.history if h.get("tag") == "start"), {})
    p = "dev_" if r.eval.dev is not None else ""  # the split the in-training evaluations read
    if start.get(f"{p}asym_ndcg_at_10") is None:
        return untrained
    start_key = "asym_init_from" if r.student.init_from else f"asym_{r.student.projection_init}_init"  # step 0
    return {**untrained, p + start_key: start[f"{p}asym_ndcg_at_10"]}


def _manifest(prep, model, state, overrides: dict[str, int], init_label: str | None) -> dict[str, Any]:
    """The exported student's leafbench.json (its final metrics are completed by `finish_run`); sets the
    student's inference length first, since the manifest records it."""
    r = prep.recipe
    qp, dp = _prompts(prep)
    final = next((h for h in reversed(state.history) if h.get("tag") == "final"), {})
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
    adapted = adaptation(r)
    if adapted is not None:
        manifest["adaptation"] = adapted
    if r.student.export_max_seq_length:
        model.max_seq_length = r.student.export_max_seq_length
    manifest["max_seq_length"] = {"train": r.student.max_seq_length, "inference": model.max_seq_length}
    return manifest


def _summary(
    prep, trainer, state, manifest: dict[str, Any], init_label: str | None, ridge: dict, device: str
) -> dict[str, Any]:
    """The run's summary.json (final metrics are added by `finish_run`)."""
    from .pipeline import hardware

    r = prep.recipe
    return {
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
        "adaptation": manifest.get("adaptation"),
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


def finish_run(
    final_dir: Path,
    prep,
    summary: dict[str, Any],
    manifest: dict[str, Any],
    metrics: dict[str, Any],
    opts: DistillOptions,
    say: Progress = None,
) -> dict[str, Any]:
    """What needs the teacher: final evaluation, manifest + model card with its numbers, Router export."""
    say = say or _quiet
    from .cards import eval_record, model_card, router_card
    from .export import export_router, write_manifest
    from .pipeline import final_evaluation

    qp, dp = prep.teacher.spec.query_prompt, prep.teacher.spec.document_prompt
    output, results = opts.output, opts.results
    metrics = dict(metrics)
    if opts.final_eval:
        res = final_evaluation(
            final_dir,
            prep,
            opts.cache,
            results or output / "results",
            opts.run_device,
            echo=say,
            selection=manifest.get("selection"),
            adaptation=manifest.get("adaptation"),
        )
        metrics.update(res)
        if prep.eval_data is not None:
            summary["retrieval_protocol"] = (
                f"{prep.eval_data.task_name} {prep.eval_data.split}: {prep.eval_data.n_queries} queries x {prep.eval_data.n_docs} docs"
            )
            summary["retrieval_eval"] = eval_record(prep.eval_data)
    manifest["final_metrics"] = metrics
    summary["final_metrics"] = metrics
    write_manifest(final_dir, manifest)
    (final_dir / "README.md").write_text(model_card(summary, router=opts.router))
    if opts.router:
        teacher_src = prep.teacher.spec.source
        export_router(final_dir, teacher_src, output / "router", qp, dp, manifest)
        (output / "router" / "README.md").write_text(router_card(summary, {"query": qp, "document": dp}))
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
    from .bundle import BundleError, bundled_init_from, read_bundle
    from .pipeline import recipe_teacher

    opts = DistillOptions(output, cache_dir=cache_dir, results=results, device=device, router=router)
    output = opts.output
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
    teacher = recipe_teacher(r, opts.cache, device)
    if teacher.identity != prep.teacher.identity:
        raise BundleError(
            f"teacher {r.teacher.model} here is {teacher.identity}, the bundle was labelled by {prep.teacher.identity}"
        )
    prep.teacher = teacher
    say(f"finishing {output} (trained on: {summary.get('hardware')}) with the teacher here")
    return finish_run(final_dir, prep, summary, manifest, manifest.get("final_metrics", {}), opts, say)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
