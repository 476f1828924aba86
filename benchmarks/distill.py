"""Distillation: the trainer's throughput against a bare loop, and the teacher's forward passes during training.

What it measures (each figure lands in the JSON with the settings that produced it):

1. **Teacher forward passes during training, through the real training path.** `leafbench_distill.distill` - the
   library call behind `leafbench distill` - runs the recipe with its in-training evaluator (held-out alignment + asymmetric nDCG@10
   every `--eval-every` steps, and at the start and end) and its checkpoints. Before training starts the teacher's
   weights are loaded on purpose and a forward hook counts every teacher forward pass while `Trainer.fit` runs
   (the teacher encoder's `encode` calls are counted too). The student's forward passes are counted by the same
   kind of hook, which shows the counter is live. Expected: 0 teacher passes (targets and the evaluator's
   teacher documents come from the embedding store, before training).
2. **Trainer / bare-loop throughput.** The Trainer (LR schedule, clipping, progress bar, logging and a
   checkpoint inside the timed steps) against the minimum any training needs (tokenize, forward, L2 loss,
   backward, AdamW step) on the same student weights, texts, batches and targets. One untimed warm-up of each,
   then `--repeats` (>= 5) timed pairs whose order alternates (trainer first, then bare first, ...); the
   figure is the median of the per-pair ratios trainer/bare (`statistics.median`).

    HF_HUB_OFFLINE=1 nice -n 10 .venv/bin/python benchmarks/distill.py --json experiments/mpnet-offline/results/benchmark_distill.json
    python benchmarks/distill.py --bundle bundles/stage3 --device cuda --texts 8192   # a GPU box, from a bundle

With --bundle there is no teacher on the machine (texts and targets come from the bundle), so part 1 is skipped
and reported as such; part 2 runs as above.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from leafbench_distill import pipeline as pipeline_mod
from leafbench_distill.pipeline import make_student, prepare
from leafbench_distill.recipe import load_recipe
from leafbench_distill.train import Trainer, epoch_batches, l2_loss


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bare_loop(model, inputs: list[str], targets: torch.Tensor, batches: list[np.ndarray], lr: float) -> float:
    """tokenize → forward → loss → backward → step, nothing else (targets already on the device); texts/s."""
    device = next(model.parameters()).device
    targets = targets.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    _sync(device)
    n, t0 = 0, time.perf_counter()
    for idx in batches:
        feats = model.preprocess([inputs[i] for i in idx])
        feats = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in feats.items()}
        out = model(feats)["sentence_embedding"]
        loss = l2_loss(out, targets[torch.as_tensor(idx, device=device)])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        n += len(idx)
    _sync(device)
    return n / (time.perf_counter() - t0)


def count_teacher_passes(
    recipe: str,
    cache_dir: Path,
    max_texts: int,
    steps: int,
    eval_every: int,
    device: str,
    training_dir: Path | None = None,
    data_dir: Path | None = None,
) -> dict:
    """Part 1: `leafbench_distill.distill` (the `leafbench distill` body) with its evaluator; count forward passes inside fit()."""
    from leafbench_distill import distill

    counts = {"teacher_forward": 0, "teacher_encode_calls": 0, "student_forward": 0, "evaluations": 0, "checkpoints": 0}
    state = {"in_fit": False, "prep": None}
    real_prepare, real_fit = pipeline_mod.prepare, Trainer.fit
    real_eval, real_ckpt = Trainer.evaluate, Trainer.save_checkpoint

    def prepare_and_arm(*a, **kw):
        prep = real_prepare(*a, **kw)
        teacher = prep.teacher
        model = teacher.model  # load the weights now (a cached run never would), so a forward pass can be seen
        model.register_forward_hook(
            lambda *_: counts.__setitem__("teacher_forward", counts["teacher_forward"] + state["in_fit"])
        )
        real_encode = teacher.encode

        def encode(*ea, **ekw):
            counts["teacher_encode_calls"] += state["in_fit"]
            return real_encode(*ea, **ekw)

        teacher.encode = encode
        state["prep"] = prep
        return prep

    def fit(self, *a, **kw):
        self.model.register_forward_hook(
            lambda *_: counts.__setitem__("student_forward", counts["student_forward"] + state["in_fit"])
        )
        state["in_fit"] = True
        try:
            return real_fit(self, *a, **kw)
        finally:
            state["in_fit"] = False

    def evaluate(self, tag):
        counts["evaluations"] += self.evaluator is not None
        return real_eval(self, tag)

    def save_checkpoint(self):
        counts["checkpoints"] += state["in_fit"]
        return real_ckpt(self)

    pipeline_mod.prepare, Trainer.fit, Trainer.evaluate, Trainer.save_checkpoint = (
        prepare_and_arm,
        fit,
        evaluate,
        save_checkpoint,
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            summary = distill(
                recipe,
                Path(tmp) / "run",
                max_texts=max_texts,
                cache_dir=cache_dir,
                max_steps=steps,
                eval_every=eval_every,
                device=device,
                router=False,
                final_eval=False,
                training_dir=training_dir,
                data_dir=data_dir,
            ).summary
    finally:
        pipeline_mod.prepare, Trainer.fit, Trainer.evaluate, Trainer.save_checkpoint = (
            real_prepare,
            real_fit,
            real_eval,
            real_ckpt,
        )
    prep = state["prep"]
    return {
        "path": "leafbench_distill.distill (the `leafbench distill` body), --no-final-eval --no-router",
        "steps": summary["steps"],
        "eval_every": eval_every,
        "evaluator": {
            "heldout_texts": len(prep.heldout_idx),
            "retrieval": str(prep.eval_data) if prep.eval_data is not None else None,
        },
        "evaluations_during_fit": counts["evaluations"],
        "checkpoints_during_fit": counts["checkpoints"],
        "teacher_weights_loaded": prep.teacher._model is not None,
        "teacher_forward_passes_during_training": counts["teacher_forward"],
        "teacher_encode_calls_during_training": counts["teacher_encode_calls"],
        "student_forward_passes_during_training": counts["student_forward"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default="mini")
    ap.add_argument(
        "--training-dir", type=Path, default=Path("../shared/data/training"), help="the recipe's local training files"
    )
    ap.add_argument("--data-dir", type=Path, default=Path("../shared/data"), help="local evaluation data")
    ap.add_argument("--texts", type=int, default=768, help="training texts per timed run (one epoch)")
    ap.add_argument("--max-texts", type=int, default=2000, help="texts to prepare (labelled once, then cached)")
    ap.add_argument("--cache-dir", type=Path, default=Path(".cache/leafbench"))
    ap.add_argument("--repeats", type=int, default=5, help="timed trainer/bare pairs after one warm-up of each (>= 5)")
    ap.add_argument(
        "--checkpoint-every",
        type=int,
        default=None,
        help="trainer checkpoint interval in steps (default: one checkpoint, mid-run)",
    )
    ap.add_argument("--count-steps", type=int, default=24, help="part 1: training steps of the counted distill run")
    ap.add_argument("--eval-every", type=int, default=8, help="part 1: in-training evaluation interval")
    ap.add_argument("--json", type=Path, help="write the figures here")
    ap.add_argument("--bundle", type=Path, help="read texts and targets from a training bundle instead of a recipe")
    ap.add_argument("--device", default="cpu", help="cpu | cuda")
    args = ap.parse_args()
    if args.repeats < 5:
        ap.error("--repeats must be >= 5 (a median of fewer pairs is not a median worth reporting)")

    counted = None
    if not args.bundle:
        counted = count_teacher_passes(
            args.recipe,
            args.cache_dir,
            args.max_texts,
            args.count_steps,
            args.eval_every,
            args.device,
            args.training_dir,
            args.data_dir,
        )
        print(f"part 1: {json.dumps(counted)}", flush=True)

    torch.manual_seed(0)
    if args.bundle:
        from leafbench_distill.bundle import read_bundle

        prep = read_bundle(args.bundle)
        r = prep.recipe
    else:
        r = load_recipe(args.recipe)
        r.data = replace(r.data, training_dir=str(args.training_dir))
        r.eval = replace(r.eval, data_dir=str(args.data_dir))
        prep = prepare(r, args.cache_dir, max_texts=args.max_texts)
    idx = prep.train_idx[: args.texts]
    inputs = [prep.inputs[i] for i in idx]
    targets = prep.targets[idx]
    steps = -(-len(inputs) // r.train.batch_size)
    ckpt_every = args.checkpoint_every or steps // 2 + 1
    cfg = replace(r.train, cycles=1, epochs_per_cycle=1, max_steps=None, eval_every=10**9, checkpoint_every=ckpt_every)
    batches = epoch_batches(len(inputs), [len(t) for t in inputs], 0, cfg)
    tt = torch.from_numpy(np.ascontiguousarray(targets)).clone()
    start, _ = make_student(prep, args.cache_dir, args.device, init=True)  # one start for every run: same weights

    ckpt_seconds: list[float] = []

    def trainer_run() -> float:
        real_save = Trainer.save_checkpoint
        timed: list[float] = []

        def save(self):  # the checkpoints written inside the loop are inside the timed steps; the one after is not
            t0 = time.perf_counter()
            real_save(self)
            timed.append(time.perf_counter() - t0)

        Trainer.save_checkpoint = save
        try:
            with tempfile.TemporaryDirectory() as tmp:
                tr = Trainer(copy.deepcopy(start), inputs, targets, cfg, Path(tmp), evaluator=None, progress=True)
                tr.fit(eval_at_start=False)
        finally:
            Trainer.save_checkpoint = real_save
        assert len(timed) - 1 == steps // ckpt_every >= 1, (
            timed
        )  # checkpoint(s) inside the timed steps, + the final one
        ckpt_seconds.append(sum(timed[:-1]) / tr.session["wall_seconds"])
        return tr.texts_per_s_wall

    def bare_run() -> float:
        return bare_loop(copy.deepcopy(start), inputs, tt, batches, r.train.lr_max)

    warm = {"trainer": trainer_run(), "bare": bare_run()}
    print(f"warm-up (untimed): trainer {warm['trainer']:.1f}, bare {warm['bare']:.1f} texts/s", flush=True)
    trainer_tps, bare_tps, order = [], [], []
    for rep in range(args.repeats):
        first = "trainer" if rep % 2 == 0 else "bare"
        if first == "trainer":
            t, b = trainer_run(), bare_run()
        else:
            b, t = bare_run(), trainer_run()
        trainer_tps.append(t)
        bare_tps.append(b)
        order.append(first)
        print(
            f"repeat {rep} ({first} first): trainer {t:.1f} texts/s, bare {b:.1f} texts/s, ratio {t / b:.3f}",
            flush=True,
        )
    ratios = [t / b for t, b in zip(trainer_tps, bare_tps)]
    res = {
        "command": "python benchmarks/distill.py " + " ".join(sys.argv[1:]),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "json"},
        "recipe": r.name,
        "texts": len(inputs),
        "batch_size": cfg.batch_size,
        "steps_per_run": steps,
        "checkpoint_every": ckpt_every,
        "checkpoints_in_timed_steps": steps // ckpt_every,
        "repeats": args.repeats,
        "order": order,
        "ratio": statistics.median(ratios),
        "ratio_definition": "median over repeats of trainer texts/s / bare texts/s of the same pair (order alternates, after one untimed warm-up of each)",
        "trainer_texts_per_s": statistics.median(trainer_tps),
        "bare_texts_per_s": statistics.median(bare_tps),
        "per_repeat": {"trainer": trainer_tps, "bare": bare_tps, "ratio": ratios},
        "checkpoint_share_of_trainer_time": statistics.median(ckpt_seconds[1:]),
        "warm_up": warm,
        "teacher_count": counted if counted is not None else "skipped: --bundle, no teacher on this machine",
        "teacher_on_this_machine": not args.bundle,
        "device": torch.cuda.get_device_name(0)
        if args.device.startswith("cuda")
        else f"cpu ({platform.processor() or platform.machine()})",
        "torch_threads": torch.get_num_threads(),
    }
    print(json.dumps(res, indent=1))
    tc = (
        f"{counted['teacher_forward_passes_during_training']} teacher forward passes in {counted['steps']} steps with "
        f"{counted['evaluations_during_fit']} evaluations"
        if counted
        else "teacher count skipped (bundle)"
    )
    print(
        f"trainer/bare = {res['ratio']:.3f} (median of {args.repeats} alternated pairs; {steps // ckpt_every} checkpoint(s) in "
        f"{steps} timed steps, {100 * res['checkpoint_share_of_trainer_time']:.0f}% of the trainer's time); {tc}"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
