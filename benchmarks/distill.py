"""Distillation throughput: leafbench_distill's Trainer vs a bare forward+backward loop on the same batches.

Both loops see the same student, texts (real training texts, in the Trainer's own batch order), targets and
optimizer; the bare loop is the minimum any training needs (tokenize, forward, L2 loss, backward, AdamW
step). The ratio shows what the trainer's bookkeeping (LR schedule, clipping, progress bar, logging,
checkpoints) costs. It also proves the teacher is never run while training: the teacher encoder's forward
passes are counted (targets come from the embedding store).

    HF_HUB_OFFLINE=1 nice -n 10 .venv/bin/python benchmarks/distill.py --recipe mini --texts 1024
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from leafbench_distill.pipeline import make_student, prepare
from leafbench_distill.recipe import load_recipe
from leafbench_distill.train import Trainer, epoch_batches, l2_loss


def bare_loop(model, inputs: list[str], targets: torch.Tensor, batches: list[np.ndarray], lr: float) -> float:
    """tokenize → forward → loss → backward → step, nothing else; returns texts/s."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    n, t0 = 0, time.perf_counter()
    for idx in batches:
        feats = model.preprocess([inputs[i] for i in idx])
        out = model(feats)["sentence_embedding"]
        loss = l2_loss(out, targets[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        n += len(idx)
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default="mini")
    ap.add_argument("--texts", type=int, default=1024, help="training texts (one epoch each loop)")
    ap.add_argument("--max-texts", type=int, default=2000, help="texts to prepare (labelled once, then cached)")
    ap.add_argument("--cache-dir", type=Path, default=Path(".cache/leafbench"))
    ap.add_argument("--repeats", type=int, default=2, help="alternate trainer/bare this many times; best of each")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args()

    torch.manual_seed(0)
    r = load_recipe(args.recipe)
    prep = prepare(r, args.cache_dir, max_texts=args.max_texts)
    calls_after_targets = list(prep.teacher.calls)
    forward_count = {"n": 0}
    if prep.teacher._model is not None:  # count any teacher forward from here on
        prep.teacher._model.register_forward_hook(lambda *a: forward_count.__setitem__("n", forward_count["n"] + 1))
    idx = prep.train_idx[: args.texts]
    inputs = [prep.inputs[i] for i in idx]
    targets = prep.targets[idx]
    cfg = replace(r.train, cycles=1, epochs_per_cycle=1, eval_every=10**9, checkpoint_every=r.train.checkpoint_every)
    batches = epoch_batches(len(inputs), [len(t) for t in inputs], 0, cfg)
    tt = torch.from_numpy(np.ascontiguousarray(targets)).clone()

    trainer_tps, bare_tps = [], []
    for rep in range(args.repeats):
        model, _ = make_student(prep, args.cache_dir, init=True)
        with tempfile.TemporaryDirectory() as tmp:
            tr = Trainer(model, inputs, targets, cfg, Path(tmp), evaluator=None, progress=True)
            tr.fit(eval_at_start=False)
            trainer_tps.append(tr.texts_per_s_wall)
        model, _ = make_student(prep, args.cache_dir, init=True)
        bare_tps.append(bare_loop(model, inputs, tt, batches, r.train.lr_max))
        print(f"repeat {rep}: trainer {trainer_tps[-1]:.1f} texts/s, bare {bare_tps[-1]:.1f} texts/s", flush=True)
    paired = sorted(t / b for t, b in zip(trainer_tps, bare_tps))
    res = {
        "recipe": r.name,
        "texts": len(inputs),
        "batch_size": cfg.batch_size,
        "trainer_texts_per_s": max(trainer_tps),
        "bare_texts_per_s": max(bare_tps),
        # Each repeat runs trainer then bare back to back; on a shared machine the median of these paired
        # ratios is steadier than a ratio of bests (load from other jobs shifts between repeats).
        "ratio": paired[len(paired) // 2],
        "ratio_of_bests": max(trainer_tps) / max(bare_tps),
        "per_repeat": {"trainer": trainer_tps, "bare": bare_tps},
        "teacher_calls_during_training": prep.teacher.calls[len(calls_after_targets):],
        "teacher_forward_passes_during_training": forward_count["n"],
        "teacher_loaded": prep.teacher._model is not None,
        "torch_threads": torch.get_num_threads(),
    }
    print(json.dumps(res, indent=1))
    print(f"ratio trainer/bare (median of paired repeats) = {res['ratio']:.3f} (target >= 0.9); teacher forward passes during training: "
          f"{res['teacher_forward_passes_during_training']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
