"""Distillation throughput: leafbench_distill's Trainer vs a bare forward+backward loop on the same batches.

Both loops see the same student, texts (real training texts, in the Trainer's own batch order), targets and
optimizer; the bare loop is the minimum any training needs (tokenize, forward, L2 loss, backward, AdamW
step). The ratio shows what the trainer's bookkeeping (LR schedule, clipping, progress bar, logging,
checkpoints) costs. It also proves the teacher is never run while training: the teacher encoder's forward
passes are counted (targets come from the embedding store).

    HF_HUB_OFFLINE=1 nice -n 10 .venv/bin/python benchmarks/distill.py --recipe mini --texts 1024
    python benchmarks/distill.py --bundle bundles/stage3 --device cuda --texts 8192   # a GPU box, from a bundle

With --bundle the texts and targets come from a training bundle (`leafbench distill --export-bundle`): there
is no teacher on that machine at all, so "no teacher forward" holds by construction and is reported as such.
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default="mini")
    ap.add_argument("--texts", type=int, default=1024, help="training texts (one epoch each loop)")
    ap.add_argument("--max-texts", type=int, default=2000, help="texts to prepare (labelled once, then cached)")
    ap.add_argument("--cache-dir", type=Path, default=Path(".cache/leafbench"))
    ap.add_argument("--repeats", type=int, default=2, help="alternate trainer/bare this many times; best of each")
    ap.add_argument("--json", type=Path, help="write the figures here")
    ap.add_argument("--bundle", type=Path, help="read texts and targets from a training bundle instead of a recipe")
    ap.add_argument("--device", default="cpu", help="cpu | cuda")
    args = ap.parse_args()

    torch.manual_seed(0)
    if args.bundle:
        from leafbench_distill.bundle import read_bundle

        prep = read_bundle(args.bundle)
        r = prep.recipe
    else:
        r = load_recipe(args.recipe)
        prep = prepare(r, args.cache_dir, max_texts=args.max_texts)
    calls_after_targets = list(getattr(prep.teacher, "calls", []))
    forward_count = {"n": 0}
    if getattr(prep.teacher, "_model", None) is not None:  # count any teacher forward from here on
        prep.teacher._model.register_forward_hook(lambda *a: forward_count.__setitem__("n", forward_count["n"] + 1))
    idx = prep.train_idx[: args.texts]
    inputs = [prep.inputs[i] for i in idx]
    targets = prep.targets[idx]
    cfg = replace(r.train, cycles=1, epochs_per_cycle=1, eval_every=10**9, checkpoint_every=r.train.checkpoint_every)
    batches = epoch_batches(len(inputs), [len(t) for t in inputs], 0, cfg)
    tt = torch.from_numpy(np.ascontiguousarray(targets)).clone()

    trainer_tps, bare_tps = [], []
    for rep in range(args.repeats):
        model, _ = make_student(prep, args.cache_dir, args.device, init=True)
        with tempfile.TemporaryDirectory() as tmp:
            tr = Trainer(model, inputs, targets, cfg, Path(tmp), evaluator=None, progress=True)
            tr.fit(eval_at_start=False)
            trainer_tps.append(tr.texts_per_s_wall)
        model, _ = make_student(prep, args.cache_dir, args.device, init=True)
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
        "teacher_calls_during_training": list(getattr(prep.teacher, "calls", []))[len(calls_after_targets):],
        "teacher_forward_passes_during_training": forward_count["n"],
        "teacher_loaded": getattr(prep.teacher, "_model", None) is not None,
        "teacher_on_this_machine": not args.bundle,
        "device": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu",
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
