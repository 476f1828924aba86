"""The LEAF trainer: squared L2 to precomputed teacher embeddings, AdamW, cyclic linear LR, resumable.

Loss = ||student(x) − teacher(x)||² summed over dimensions, averaged over the batch — nothing else (no
judgments, no negatives) unless the recipe's `train.loss` adds terms beside it (`losses.Objective`). The teacher
never runs here: targets arrive as a float32 matrix from the store.

Determinism and resume: batch order is a pure function of (seed, epoch); a checkpoint holds model,
optimizer, step and torch's RNG state (dropout), so killing a run and rerunning it continues from the last
checkpoint to the same weights an uninterrupted run reaches.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import DistillError
from .losses import Objective, document_bank
from .losses import l2_loss as l2_loss  # the paper's objective, where it always was
from .recipe import TrainCfg

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "last.pt"
LOG_EVERY = 50  # steps between train rows in metrics.jsonl (and between reads of the loss from the device)
TARGETS_ON_DEVICE_MAX_BYTES = 4 << 30  # targets up to this size are copied to the GPU once, not per batch


def lr_at(step: int, steps_per_cycle: int, cfg: TrainCfg) -> float:
    """Linear decay lr_max → lr_min inside each cycle, restarting at lr_max (the paper's 3 × 10 epochs)."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return cfg.lr_max * (step + 1) / cfg.warmup_steps
    pos = step % steps_per_cycle
    frac = pos / max(1, steps_per_cycle - 1)
    return cfg.lr_max - (cfg.lr_max - cfg.lr_min) * frac


def epoch_batches(n: int, lengths: Sequence[int], epoch: int, cfg: TrainCfg) -> list[np.ndarray]:
    """Index batches of one epoch, a pure function of (seed, epoch).

    With length grouping, shuffled texts are cut into pools of 64 batches, each pool sorted by length and
    split, and the batch order shuffled again: little padding, still random batches.
    """
    rng = np.random.default_rng([cfg.seed, epoch])
    perm = rng.permutation(n)
    bs = cfg.batch_size
    if not cfg.length_grouping:
        return [perm[i : i + bs] for i in range(0, n, bs)]
    lens = np.asarray(lengths)
    pool = bs * 64
    batches: list[np.ndarray] = []
    for s in range(0, n, pool):
        chunk = perm[s : s + pool]
        chunk = chunk[np.argsort(-lens[chunk], kind="stable")]
        batches += [chunk[i : i + bs] for i in range(0, len(chunk), bs)]
    order = rng.permutation(len(batches))
    return [batches[i] for i in order]


def _param_groups(model, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW's groups: no weight decay on a parametrized weight (an orthogonal projection's trivialization:
    decaying it collapses the map to zero, measured), decay on everything else - as before for a plain student.
    Frozen parameters are left out."""
    plain, parametrized = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (parametrized if ".parametrizations." in f".{name}" else plain).append(p)
    groups = [{"params": plain, "weight_decay": weight_decay}]
    return groups + ([{"params": parametrized, "weight_decay": 0.0}] if parametrized else [])


def _atomic_torch_save(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    from leafbench.files import mkstemp

    fd, tmp = mkstemp(path)  # with the umask's mode: a checkpoint folder may be shared
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def progress_bar(total: int, initial: int, desc: str, unit: str = "step"):
    """tqdm on stderr; in a log file (no TTY) one line every 30 s instead of a redraw per update."""
    from tqdm.auto import tqdm

    tty = sys.stderr.isatty()
    return tqdm(
        total=total,
        initial=initial,
        desc=desc,
        unit=unit,
        dynamic_ncols=True,
        mininterval=0.5 if tty else 30.0,
        file=sys.stderr,
    )


class _LossLog:
    """Loss values read from the device: their mean over the steps since the last train row (the total as
    `loss`, each component as `loss_<name>`), the progress bar's moving average and the last gradient norm."""

    def __init__(self, names: Sequence[str]) -> None:
        self.keys = ["loss", *(f"loss_{n}" for n in names)]
        self.sums = [0.0] * len(self.keys)
        self.n = 0
        self.ema: float | None = None
        self.gnorm = float("nan")

    def add(self, rows: list[list[float]]) -> None:
        """Rows of `Trainer._drain`: [loss, grad norm, *components]."""
        for loss, gnorm, *parts in rows:
            self.sums = [a + b for a, b in zip(self.sums, (loss, *parts))]
            self.n += 1
            self.gnorm = gnorm
            self.ema = loss if self.ema is None else 0.98 * self.ema + 0.02 * loss

    def take(self) -> dict[str, float]:
        """The means since the last call, which start over."""
        out = {k: v / self.n for k, v in zip(self.keys, self.sums)}
        self.sums, self.n = [0.0] * len(self.keys), 0
        return out


@dataclass
class TrainState:
    step: int = 0
    history: list[dict] = field(default_factory=list)
    train_seconds: float = 0.0
    texts_seen: int = 0


class Trainer:
    """Trains `model` (a SentenceTransformer student) so model(inputs[i]) ≈ targets[i].

    `roles` (query/document per input) and `start` (the starting student's embeddings, aligned with `inputs`;
    only the rows of `cfg.loss.anchor.roles` are read) are what the loss terms beside l2 need.
    """

    def __init__(
        self,
        model,
        inputs: Sequence[str],
        targets: np.ndarray,
        cfg: TrainCfg,
        output: Path | None,
        evaluator: Callable[[Any], dict[str, Any]] | None = None,
        progress: bool = True,
        roles: Sequence[str] | None = None,
        start: np.ndarray | None = None,
        selector: Any = None,  # validation.Selector: keeps the best evaluated weights by a dev rule
    ) -> None:
        if len(inputs) != len(targets):
            raise ValueError(f"{len(inputs)} inputs but {len(targets)} targets")
        if roles is not None and len(roles) != len(inputs):
            raise ValueError(f"{len(inputs)} inputs but {len(roles)} roles")
        self.model = model
        self.inputs = list(inputs)
        # Targets are plain (non-inference) float32 tensors: safe to use in autograd.
        self.targets = torch.from_numpy(np.ascontiguousarray(targets, dtype=np.float32)).clone()
        self.cfg = cfg
        self.output = Path(output) if output is not None else None
        self.evaluator = evaluator
        self.selector = selector
        self.progress = progress
        self.lengths = [len(t) for t in self.inputs]
        self.steps_per_epoch = math.ceil(len(self.inputs) / cfg.batch_size)
        self.steps_per_cycle = self.steps_per_epoch * cfg.epochs_per_cycle
        full = self.steps_per_cycle * cfg.cycles
        self.total_steps = min(full, cfg.max_steps) if cfg.max_steps else full
        self.state = TrainState()
        if cfg.dropout is not None:
            for m in model.modules():
                if isinstance(m, torch.nn.Dropout):
                    m.p = cfg.dropout
        self.optimizer = torch.optim.AdamW(_param_groups(model, cfg.weight_decay), lr=cfg.lr_max)
        self.device = next(model.parameters()).device
        self._targets_on_device = self._on_device(self.targets)
        self.start, self._start_on_device = self._start_rows(start)
        self.objective = self._objective(roles)
        self._eval_seconds = 0.0
        self.session: dict[str, float] = {"texts": 0, "wall_seconds": 0.0}

    def _on_device(self, rows: torch.Tensor) -> torch.Tensor | None:
        """A per-text matrix copied to the GPU once (None on the CPU, or when too big: then sent per batch)."""
        if self.device.type != "cpu" and rows.nbytes <= TARGETS_ON_DEVICE_MAX_BYTES:
            return rows.to(self.device)
        return None

    def _start_rows(self, start: np.ndarray | None) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The starting student's embeddings, when the loss reads them (host tensor, device copy or None)."""
        if not self.cfg.loss.needs_start():
            return None, None
        want = tuple(self.targets.shape)
        if start is None or start.shape != want:
            got = "none" if start is None else f"shape {start.shape}"
            raise DistillError(
                f"train.loss.anchor needs the starting student's embedding of every input {want}; got {got}"
            )
        rows = torch.from_numpy(np.ascontiguousarray(start, dtype=np.float32)).clone()
        return rows, self._on_device(rows)

    def _objective(self, roles: Sequence[str] | None) -> Objective:
        """The recipe's loss; rank_kl's bank (teacher targets of document-role inputs) is held on the device."""
        bank = None
        if self.cfg.loss.rank_kl.weight > 0:
            if roles is None:
                raise DistillError("train.loss.rank_kl needs the role of every training text")
            rows = document_bank(self.targets.numpy(), roles, self.cfg.loss.rank_kl.bank, self.cfg.seed)
            bank = torch.from_numpy(rows).to(self.device)
        return Objective(self.cfg.loss, roles, bank)

    def _batch_rows(self, host: torch.Tensor, on_device: torch.Tensor | None, idx: np.ndarray) -> torch.Tensor:
        if on_device is not None:
            return on_device[torch.as_tensor(idx, device=self.device)]
        return host[idx].to(self.device)

    # ------------------------------------------------------------------ checkpoints

    @property
    def checkpoint_path(self) -> Path | None:
        return self.output / "checkpoints" / CHECKPOINT_NAME if self.output is not None else None

    def save_checkpoint(self) -> None:
        if self.checkpoint_path is None:
            return
        _atomic_torch_save(
            {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "state": asdict(self.state),
                "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state(self.device)
                if self.device.type == "cuda"
                else None,  # dropout on the GPU
                "n_inputs": len(self.inputs),
                "total_steps": self.total_steps,
                "cfg": asdict(self.cfg),
            },
            self.checkpoint_path,
        )

    def try_resume(self) -> bool:
        """Load the last checkpoint if there is one for this exact setup; returns whether it resumed."""
        path = self.checkpoint_path
        if path is None or not path.exists():
            return False
        ck = torch.load(path, map_location="cpu", weights_only=False)
        ck["cfg"] = {**asdict(TrainCfg()), **ck["cfg"]}  # fields added since the checkpoint: their defaults
        extended = self._extends(ck)
        if ck["n_inputs"] != len(self.inputs) or not (
            extended or (ck["total_steps"] == self.total_steps and ck["cfg"] == asdict(self.cfg))
        ):
            raise DistillError(
                f"{path} belongs to a different run (texts, schedule or config differ); "
                "use a new --output or delete the checkpoint to start over"
            )
        self.model.load_state_dict(ck["model"])
        self.optimizer.load_state_dict(ck["optimizer"])
        self.state = TrainState(**ck["state"])
        torch.set_rng_state(ck["torch_rng"])
        if ck.get("cuda_rng") is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(ck["cuda_rng"], self.device)
        if extended:  # the old end of schedule is now a mid-run evaluation
            for row in self.state.history:
                if row.get("tag") == "final":
                    row["tag"] = f"step{row['step']}"
        if self.output is not None:  # rows written after the checkpoint would otherwise appear twice
            (self.output / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in self.state.history))
        log.info(
            "%s from %s at step %d/%d", "extended" if extended else "resumed", path, self.state.step, self.total_steps
        )
        return True

    def _extends(self, ck: dict) -> bool:
        """A checkpoint of the same run with fewer cycles (or a lower max_steps): training may go on from it.

        Only the number of cycles may differ, so every step already taken is the step this longer schedule
        takes (same batches, same LR) and the extended run ends where an uninterrupted one would.
        """
        old, new = dict(ck["cfg"]), asdict(self.cfg)
        for k in ("cycles", "max_steps"):
            old.pop(k, None)
            new.pop(k, None)
        return old == new and ck["total_steps"] < self.total_steps and ck["state"]["step"] <= self.total_steps

    # ------------------------------------------------------------------ loop

    def _record(self, row: dict) -> None:
        self.state.history.append(row)
        if self.output is not None:
            self.output.mkdir(parents=True, exist_ok=True)
            with (self.output / "metrics.jsonl").open("a") as f:
                f.write(json.dumps(row) + "\n")

    def evaluate(self, tag: str) -> dict[str, Any] | None:
        if self.evaluator is None:
            return None
        t0 = time.perf_counter()
        metrics = self.evaluator(self.model)
        self.model.train()
        self._eval_seconds += time.perf_counter() - t0
        row = {
            "kind": "eval",
            "tag": tag,
            "step": self.state.step,
            "epoch": self.state.step / self.steps_per_epoch,
            "seconds": time.perf_counter() - t0,
            **metrics,
        }
        if self.selector is not None:
            row["selected"] = self.selector.offer(row, self.model)
        self._record(row)
        log.info("eval %s: %s", tag, {k: v for k, v in metrics.items() if isinstance(v, float)})
        return row

    def train_step(self, idx: np.ndarray, lr: float) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """One optimizer step; returns (loss, grad norm, [each loss component, in `objective.names` order]) as
        device scalars - reading them is left to `_drain`."""
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        feats = self.model.preprocess([self.inputs[i] for i in idx])
        feats = {k: (v.to(self.device) if isinstance(v, torch.Tensor) else v) for k, v in feats.items()}
        out = self.model(feats)["sentence_embedding"]
        target = self._batch_rows(self.targets, self._targets_on_device, idx)
        start = self._batch_rows(self.start, self._start_on_device, idx) if self.start is not None else None
        loss, parts = self.objective(out, target, idx, start)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(
            self.model.parameters(), self.cfg.grad_clip if self.cfg.grad_clip > 0 else float("inf")
        )
        self.optimizer.step()
        return loss.detach(), gnorm.detach(), parts

    def _drain(self, pending: list[tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]]) -> list[list[float]]:
        """Read the pending steps' [loss, grad norm, *components] in one transfer; raise at the first non-finite
        loss.

        Reading a GPU scalar waits for the GPU; doing it every step stops the CPU from preparing the next batch
        while the GPU computes (measured on an H100: trainer/bare 0.84 with a read per step). So values are read
        every `LOG_EVERY` steps and before every evaluation and checkpoint - a diverged run still never
        checkpoints non-finite weights.
        """
        if not pending:
            return []
        vals = torch.stack([torch.stack([v.float() for v in (loss, g, *parts)]) for loss, g, parts in pending])
        rows = vals.cpu().tolist()
        first = self.state.step - len(pending)
        for i, row in enumerate(rows):
            if not math.isfinite(row[0]):
                raise FloatingPointError(f"loss is {row[0]} at step {first + i}")
        pending.clear()
        return rows

    def fit(self, stop_after_steps: int | None = None, eval_at_start: bool = True) -> TrainState:
        """Train to the end of the schedule (or `stop_after_steps` more steps, then checkpoint: a simulated kill)."""
        resumed = self.try_resume()
        if not resumed:
            torch.manual_seed(self.cfg.seed)
            random.seed(self.cfg.seed)
            if eval_at_start:  # with no steps to train, the start is the final state: evaluated once
                self.evaluate("final" if self.total_steps == 0 else "start")
        self.model.train()
        eval_every = self.cfg.eval_every or self.steps_per_epoch
        stop_at = (
            self.total_steps if stop_after_steps is None else min(self.total_steps, self.state.step + stop_after_steps)
        )
        bar = progress_bar(self.total_steps, self.state.step, "distill") if self.progress else None
        losses = _LossLog(self.objective.names)
        fit_t0, eval0, step0 = time.perf_counter(), self._eval_seconds, self.state.step
        texts0 = self.state.texts_seen
        window_texts, window_t0 = 0, time.perf_counter()
        pending: list[tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]] = []
        try:
            while self.state.step < stop_at:
                epoch, pos = divmod(self.state.step, self.steps_per_epoch)
                batches = epoch_batches(len(self.inputs), self.lengths, epoch, self.cfg)
                for idx in batches[pos:]:
                    if self.state.step >= stop_at:
                        break
                    t0 = time.perf_counter()
                    lr = lr_at(self.state.step, self.steps_per_cycle, self.cfg)
                    pending.append(self.train_step(idx, lr))
                    self.state.step += 1
                    step = self.state.step
                    log_due = step % LOG_EVERY == 0 or step == stop_at
                    eval_due = step % eval_every == 0 and step < self.total_steps
                    ckpt_due = bool(self.cfg.checkpoint_every) and step % self.cfg.checkpoint_every == 0
                    if log_due or eval_due or ckpt_due:
                        losses.add(self._drain(pending))  # inside the timed region: the GPU wait counts
                    dt = time.perf_counter() - t0
                    self.state.train_seconds += dt
                    self.state.texts_seen += len(idx)
                    window_texts += len(idx)
                    if bar is not None:
                        bar.update(1)
                        if not pending and losses.ema is not None:
                            tps = window_texts / max(1e-9, time.perf_counter() - window_t0)
                            bar.set_postfix(
                                loss=f"{losses.ema:.4f}", texts_s=f"{tps:.1f}", lr=f"{lr:.2e}", refresh=False
                            )
                    if log_due and losses.n:
                        self._record(
                            {
                                "kind": "train",
                                "step": step,
                                **losses.take(),
                                "lr": lr,
                                "grad_norm": losses.gnorm,
                                "texts_per_s": self.state.texts_seen / self.state.train_seconds,
                            }
                        )
                    if eval_due:
                        self.evaluate(f"step{step}")
                        window_texts, window_t0 = 0, time.perf_counter()
                    if ckpt_due:
                        self.save_checkpoint()
        finally:
            if bar is not None:
                bar.close()
            # Wall clock of the loop minus evaluations: everything the trainer adds (schedule, clipping,
            # progress, logging, checkpoints) counts against its throughput.
            self.session = {
                "texts": self.state.texts_seen - texts0,
                "steps": self.state.step - step0,
                "wall_seconds": time.perf_counter() - fit_t0 - (self._eval_seconds - eval0),
            }
        if self.state.step >= self.total_steps and not (
            self.state.history and self.state.history[-1].get("tag") == "final"
        ):
            self.evaluate("final")
        self.save_checkpoint()
        return self.state

    @property
    def texts_per_s_wall(self) -> float:
        """Texts/s of the last fit() call by wall clock, evaluations excluded."""
        return self.session["texts"] / self.session["wall_seconds"] if self.session.get("wall_seconds") else 0.0

    @property
    def texts_per_s(self) -> float:
        return self.state.texts_seen / self.state.train_seconds if self.state.train_seconds else 0.0
