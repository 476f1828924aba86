"""A whole distillation run: texts → teacher targets (store) → student + ridge projection → train → export
→ final evaluation. Every stage is resumable: targets live in the store, training in checkpoints.
"""

from __future__ import annotations

import json
import logging
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DistillError
from .recipe import Recipe, dev_read_length

log = logging.getLogger(__name__)


@dataclass
class Prepared:
    """Everything training needs, built once (and cheaply rebuilt from the store on resume)."""

    recipe: Recipe
    texts: Any  # TrainingTexts (all, before the held-out split)
    train_idx: list[int]
    heldout_idx: list[int]
    inputs: list[str]  # texts with prompts, as the student reads them
    targets: np.ndarray
    teacher: Any  # leafbench Encoder
    target_stats: dict
    eval_data: Any = None  # RetrievalData or None
    teacher_docs: np.ndarray | None = None
    info: dict = field(default_factory=dict)
    dev: Any = None  # DevSet or None: what in-training evaluations score when the recipe names eval.dev


def _say(msg: str, echo: Callable[[str], None] | None) -> None:
    log.info(msg)
    if echo:
        echo(msg)


def prepare(
    recipe: Recipe,
    cache_dir: Path,
    max_texts: int | None = None,
    device: str | None = None,
    echo: Callable[[str], None] | None = None,
    teacher_batch_size: int = 32,
    engine: Any = None,
    bars: bool = True,
) -> Prepared:
    from leafbench.data import load_beir_folder, resolve_task_name

    from .targets import compute_targets
    from .texts import check_overlap, load_texts
    from .train import progress_bar

    teacher = recipe_teacher(recipe, cache_dir, device, teacher_batch_size, engine=engine)
    t0 = time.perf_counter()
    sources = recipe.resolved_sources()
    dev = load_dev(recipe, echo)
    dev_guard = dev.guard_sets() if dev is not None else {}  # normalised once: the reference filter and the guard
    held_out = set().union(*dev_guard.values()) if dev_guard else None
    texts = load_texts(
        sources,
        recipe.training_base() or Path("."),
        recipe.data.seed,
        recipe.data.max_words,
        max_texts,
        held_out=held_out,
    )
    eval_dir = recipe.eval_dir()
    guard_sets, hub_eval = _guard_sets(recipe, echo)
    guard_sets.update(dev_guard)
    overlap = check_overlap(texts, guard_sets, drop=recipe.data.drop_eval_overlap, quiet=list(dev_guard))
    _say(
        f"training texts: {len(texts)} ({texts.counts}); eval overlap: {overlap or 'none'} [{time.perf_counter() - t0:.1f}s]",
        echo,
    )
    from .recipe import check_sizes

    check_sizes(recipe, len(texts), f"{len(texts)} training texts found")  # before the teacher labels any

    t0 = time.perf_counter()
    if bars:
        with progress_bar(len(texts), 0, "teacher targets", unit="text") as bar:  # cached chunks jump ahead at once
            tg = compute_targets(texts, teacher, progress=bar.update)
    else:
        tg = compute_targets(texts, teacher)
    _say(f"teacher targets ready: {tg.embeddings.shape} in {time.perf_counter() - t0:.1f}s ({tg.stats})", echo)
    qp, dp = teacher.spec.query_prompt, teacher.spec.document_prompt
    inputs = [(qp if r == "query" else dp) + t for t, r in zip(texts.texts, texts.roles)]
    train_idx, held_idx = texts.split(recipe.data.heldout, recipe.data.seed)

    eval_data, teacher_docs = hub_eval, None
    if recipe.eval.retrieval and eval_dir is not None:
        folder = eval_dir / recipe.eval.retrieval
        if folder.exists():
            eval_data = load_beir_folder(folder, recipe.eval.split, task_name=resolve_task_name(folder.name))
        else:
            _say(f"no retrieval evaluation: {folder} not found", echo)
    if eval_data is not None:
        if recipe.eval.n_queries or recipe.eval.n_docs:
            eval_data = eval_data.subset(recipe.eval.n_queries, recipe.eval.n_docs, seed=recipe.eval.subset_seed)
        t0 = time.perf_counter()
        teacher_docs = teacher.encode(eval_data.corpus_texts, "document").embeddings
        _say(f"teacher documents for in-training eval: {eval_data} [{time.perf_counter() - t0:.1f}s]", echo)
    if dev is not None:
        t0 = time.perf_counter()
        dev.teacher_docs = teacher.encode(dev.data.corpus_texts, "document").embeddings
        _say(f"teacher documents for the dev set ready [{time.perf_counter() - t0:.1f}s]", echo)
    return Prepared(
        recipe,
        texts,
        train_idx,
        held_idx,
        inputs,
        tg.embeddings,
        teacher,
        tg.stats,
        eval_data,
        teacher_docs,
        info={"overlap": overlap, "counts": texts.counts, "data_hash": texts.digest(), "selection": texts.selection},
        dev=dev,
    )


def _guard_sets(recipe: Recipe, echo: Callable[[str], None] | None) -> tuple[dict[str, set[str]], Any]:
    """The evaluation texts training must not contain (the evaluated split's queries, the corpus, STS test
    sentences, `overlap_check` sets) and, without a local data dir, the task loaded through mteb (or None)."""
    from .texts import eval_texts, norm_text

    eval_dir = recipe.eval_dir()
    if eval_dir is not None:
        guard = [
            eval_dir / p
            for p in ([recipe.eval.retrieval] if recipe.eval.retrieval else [])
            + [f"mteb/sts/{t}/test.jsonl" for t in recipe.eval.sts]
            + recipe.eval.overlap_check
        ]
        splits = {eval_dir / recipe.eval.retrieval: recipe.eval.split} if recipe.eval.retrieval else {}
        adapted = list(splits) if recipe.data.transductive else []  # its corpus is training text, its queries not
        return eval_texts(guard, splits, adapted), None
    if not recipe.eval.retrieval:
        return {}, None
    hub_eval = hub_retrieval_data(recipe, echo)
    if hub_eval is None:
        return {}, None
    corpus = [] if recipe.data.transductive else list(hub_eval.corpus_texts)
    texts = {norm_text(t) for t in [*hub_eval.query_texts, *corpus]} - {""}
    return {f"mteb:{hub_eval.task_name}": texts}, hub_eval


def load_dev(recipe: Recipe, echo: Callable[[str], None] | None = None):
    """The recipe's dev set (`eval.dev`) from the local BEIR folder or, without `--data-dir`, through mteb; None
    when the recipe has none. Unlike the test evaluation, a dev set that cannot load is an error: selection
    without it would silently fall back to reading nothing, or to the test split."""
    from leafbench.data import load_beir_folder, load_retrieval_task, resolve_task_name

    from .evaluation import load_sts
    from .validation import DevSet, DevSplit, dev_data

    d = recipe.eval.dev
    if d is None or not recipe.eval.retrieval:
        return None
    eval_dir = recipe.eval_dir()
    name = resolve_task_name(Path(recipe.eval.retrieval).name)
    if eval_dir is not None:
        full = load_beir_folder(eval_dir / recipe.eval.retrieval, d.split, task_name=name)
    else:
        full = load_retrieval_task(name, None, d.split)
    split = DevSplit.of(full.query_ids, d.fraction, d.seed)
    sts = {}
    for task in d.sts:
        path = (eval_dir / "mteb" / "sts" / task / "dev.jsonl") if eval_dir is not None else None
        if path is None or not path.is_file():
            raise DistillError(f"eval.dev.sts {task}: {path or 'no --data-dir'}: no dev split file")
        sts[task] = load_sts(path)
    dev = DevSet(dev_data(full, split, d.n_queries, d.n_docs, d.seed), split, sts, read_length=dev_read_length(recipe))
    _say(f"dev set: {dev.describe()} (held out of training)", echo)
    return dev


def hub_retrieval_data(recipe: Recipe, echo: Callable[[str], None] | None = None):
    """The recipe's retrieval task through mteb (no local data folder), or None - said, not raised - when it
    cannot be loaded (offline): training does not need it, and a missing evaluation writes no number."""
    from leafbench.data import load_retrieval_task, resolve_task_name

    name = resolve_task_name(Path(recipe.eval.retrieval).name)
    try:
        return load_retrieval_task(name, None, recipe.eval.split)
    except Exception as e:  # offline, hub errors, mteb missing: all mean "no in-training retrieval check"
        _say(
            f"no retrieval evaluation: {name} through mteb failed ({type(e).__name__}: {str(e)[:200]}); "
            "a local copy: --data-dir",
            echo,
        )
        return None


def recipe_teacher(
    recipe: Recipe, cache_dir: Path, device: str | None = None, batch_size: int = 32, engine: Any = None
):
    """The recipe's teacher as a harness Encoder over the store in `cache_dir` (weights load only if needed;
    with a Ray `engine`, missing targets are labelled by its actors)."""
    from leafbench.workspace import Workspace

    from .targets import teacher_encoder

    store = Workspace.cache_only(cache_dir).store()
    enc = teacher_encoder(
        recipe.teacher.model,
        store,
        cache_dir,
        recipe.teacher.precision,
        device,
        batch_size,
        recipe.teacher.max_seq_length,
        recipe.teacher.backend,
    )
    enc.engine = engine
    return enc


def check_student_folder(path: Path) -> None:
    """`student.init_from` must be a SentenceTransformer folder; say so before any work is done."""
    if not (Path(path) / "modules.json").is_file():
        raise DistillError(f"student.init_from: {path} is not a SentenceTransformer folder (no modules.json)")


def make_student(prep: Prepared, cache_dir: Path, device: str = "cpu", init: bool = True):
    """Build the student; with `init`, align the projection (ridge or procrustes) on a sample of training texts."""
    from .student import (
        build_student,
        init_projection_procrustes,
        init_projection_ridge,
    )

    r = prep.recipe
    if r.student.init_from:
        return load_student(r.resolve_path(r.student.init_from), r.teacher.dim, r.student.max_seq_length, device)
    model = build_student(
        r.student.backbone,
        r.teacher.dim,
        r.student.layers,
        r.student.max_seq_length,
        r.student.bias,
        r.student.normalize,
        cache_dir,
        device,
    )
    info: dict[str, Any] = {}
    fit = r.student.fit_sources
    idx = [i for i in prep.train_idx if fit is None or prep.texts.sources[i] in fit][: r.student.ridge_texts]
    if init and r.student.projection_init == "ridge":
        info = init_projection_ridge(model, [prep.inputs[i] for i in idx], prep.targets[idx], r.student.ridge_alpha)
    elif init and r.student.projection_init == "procrustes":
        weights = r.student.fit_weights or {}
        w = np.array([weights.get(prep.texts.sources[i], 1.0) for i in idx]) if weights else None
        info = {
            "method": "procrustes",
            **init_projection_procrustes(model, [prep.inputs[i] for i in idx], prep.targets[idx], w),
        }
    if r.student.orthogonal:  # also on a resume (init=False): the checkpoint holds the parametrized weights
        from .student import keep_orthogonal

        keep_orthogonal(model)
    return model, info


def load_student(path: Path, teacher_dim: int, max_seq_length: int | None, device: str = "cpu"):
    """An earlier student (a SentenceTransformer folder with a Dense projection) to continue training."""
    from sentence_transformers import SentenceTransformer

    from .student import dense_module

    check_student_folder(path)
    model = SentenceTransformer(str(path), device=device).float()  # a bundle may carry it in float16
    dense_module(model)  # raises if there is no projection into the teacher's space
    dim = model.get_embedding_dimension()
    if dim != teacher_dim:
        raise DistillError(f"student.init_from: {path} outputs {dim}-d embeddings, the teacher {teacher_dim}-d")
    if max_seq_length:
        model.max_seq_length = max_seq_length
    return model, {"init_from": str(path)}


def make_evaluator(prep: Prepared):
    """In-training evaluation: held-out alignment, and retrieval on the dev set when the recipe names one (the
    test split is then never read during training), else on the recipe's evaluation split."""
    from .evaluation import Evaluator, HeldOut

    held = HeldOut(
        [prep.inputs[i] for i in prep.heldout_idx],
        [prep.texts.roles[i] for i in prep.heldout_idx],
        prep.targets[prep.heldout_idx],
    )
    qp, dp = prep.teacher.spec.query_prompt, prep.teacher.spec.document_prompt
    if prep.dev is not None:
        dev = prep.dev
        assert prep.recipe.eval.dev is not None
        return Evaluator(
            held,
            dev.data,
            dev.teacher_docs,
            qp,
            dp,
            student_mode=prep.recipe.eval.dev.student_mode,
            prefix="dev_",
            sts=dev.sts,
            read_length=dev.read_length,
        )
    return Evaluator(held, prep.eval_data, prep.teacher_docs, qp, dp, student_mode=prep.recipe.eval.student_mode)


def final_evaluation(
    student_folder: Path,
    prep: Prepared,
    cache_dir: Path,
    results_dir: Path | None,
    device: str | None = None,
    echo: Callable[[str], None] | None = None,
    selection: dict[str, Any] | None = None,
    adaptation: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Student, teacher and asymmetric modes through the harness (writes its result JSONs), plus direct STS.
    A transductive student's `adaptation` and the dev `selection` go into its student and asymmetric results
    (the teacher's are the teacher's alone).

    The test split is scored here, once, for the exported (selected) student; with a dev set, the dev scores are
    written beside it as their own protocol (run folder `...__split-<split>-dev`), so a report never mixes them."""
    from leafbench.encode import Encoder
    from leafbench.record import run_folder_name
    from leafbench.registry import resolve_model

    from .evaluation import load_sts, sts_spearman

    r = prep.recipe
    spec = resolve_model(str(student_folder), cache_dir)
    enc_s = Encoder(spec, prep.teacher.store, device=device, cache_dir=cache_dir)
    out: dict[str, Any] = {"retrieval": {}, "sts": {}}
    extra = {k: v for k, v in (("selected_by", selection), ("adaptation", adaptation)) if v} or None
    slug = run_folder_name(spec.slug, prep.teacher.spec.slug)  # = `leafbench run`'s folder
    if prep.eval_data is not None:
        scores = _retrieval_scores(prep.eval_data, enc_s, prep.teacher, results_dir, slug, extra, echo)
        out["retrieval"][prep.eval_data.task_name] = scores
        _say(f"final {prep.eval_data.task_name} nDCG@10: {scores}", echo)
    if prep.dev is not None:
        dev = prep.dev.data
        dev_slug = run_folder_name(spec.slug, prep.teacher.spec.slug, protocol=f"split-{dev.split}-dev")
        scores = _retrieval_scores(dev, enc_s, prep.teacher, results_dir, dev_slug, extra, echo)
        out["dev"] = {"retrieval": {dev.task_name: scores}, "set": prep.dev.describe()}
        _say(f"dev {dev.task_name} nDCG@10: {scores}", echo)
    eval_dir = r.eval_dir()
    if eval_dir is None and r.eval.sts:
        _say(f"STS {', '.join(r.eval.sts)}: no --data-dir, skipped (score them with `leafbench run --tasks ...`)", echo)
    for task in r.eval.sts if eval_dir is not None else []:
        path = eval_dir / "mteb" / "sts" / task / "test.jsonl"
        if not path.exists():
            _say(f"STS {task}: {path} not found, skipped", echo)
            continue
        s1, s2, gold = load_sts(path)
        row = {}
        for role, enc in (("student", enc_s), ("teacher", prep.teacher)):
            e1 = enc.encode(s1, "document").embeddings
            e2 = enc.encode(s2, "document").embeddings
            row[role] = sts_spearman(e1, e2, gold)
        out["sts"][task] = row
        _say(f"final {task} Spearman (direct): {row}", echo)
    if results_dir is not None and out["sts"]:
        results_dir.mkdir(parents=True, exist_ok=True)
        (results_dir / "sts_direct.json").write_text(
            json.dumps(
                {
                    "protocol": "Spearman of cosine(sentence1, sentence2) vs gold on mteb/sts/<task>/test.jsonl, computed directly "
                    "(not mteb's evaluator); no prompts; student and teacher each encode both sentences",
                    "scores": out["sts"],
                },
                indent=1,
            )
            + "\n"
        )
    return out


def _retrieval_scores(
    data, enc_s, teacher, results_dir: Path | None, slug: str, extra: dict | None, echo
) -> dict[str, float]:
    """nDCG@10 of the three modes on `data` through the harness (result JSONs under `results_dir/slug`)."""
    from leafbench.evaluate import evaluate_retrieval
    from leafbench.modes import ALL_MODES

    from .evaluation import ndcg10

    modes = list(ALL_MODES)
    encoders = {"student": enc_s, "teacher": teacher}
    try:  # the harness writes its result JSONs (mteb format + leafbench block)
        # `extra` (selection, adaptation) describes the student: teacher-mode results go without it.
        out: dict[str, float] = {}
        for group, group_extra in ((["teacher"], None), ([m for m in modes if m != "teacher"], extra)):
            run = evaluate_retrieval(data, encoders, group, results_dir, run_slug=slug, extra=group_extra)
            out |= {m: float(run.results[m]["scores"][data.split][0]["ndcg_at_10"]) for m in group}
        return {m: out[m] for m in modes}
    except ImportError as e:  # a box without mteb: the same metric through pytrec_eval alone (parity-tested)
        _say(f"harness evaluation unavailable ({e}); scoring directly from the same encodings, no result JSONs", echo)
    q = {
        role: enc.encode(data.query_texts, "query").embeddings
        for role, enc in (("student", enc_s), ("teacher", teacher))
    }
    d = {
        role: enc.encode(data.corpus_texts, "document").embeddings
        for role, enc in (("student", enc_s), ("teacher", teacher))
    }
    return {
        "student": ndcg10(data, q["student"], d["student"], 1000),
        "teacher": ndcg10(data, q["teacher"], d["teacher"], 1000),
        "asymmetric": ndcg10(data, q["student"], d["teacher"], 1000),
    }


def hardware(device: str | None = None) -> str:
    import os

    import torch

    where = "torch CPU"
    if device and device.startswith("cuda") and torch.cuda.is_available():
        where = f"torch {torch.__version__} on {torch.cuda.get_device_name(torch.device(device))}"
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {where}"
