"""How far a parity score moves when the same texts are encoded in other batch compositions and thread counts.

The mteb parity tests compare leafbench's store-backed score with mteb.evaluate on the plain model. A store shared
by many tests serves rows encoded in other batches (other padding, other kernels' summation order), so each
embedding can differ in its last bits and a score over near-ties moves. This measures that movement per task type,
on the very tasks the parity tests use (tests/parity_tasks.py), so their tolerances come from a measurement:

  for each encoding configuration (batch 32 / 8 / 128, random batch compositions, 1 and 2 torch threads, and
  embeddings perturbed in their last bits), a fresh store, leafbench's score of every parity task; the largest
  |ours - mteb| per task. Retrieval compares every metric the retrieval parity test compares.

Usage: .venv/bin/python benchmarks/noise.py [--data-dir ../shared/data] [--out benchmarks/results/noise.json]
(minilm-l6, CPU, offline; ~15 min on 2 cores)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from leafbench.encode import Encoder  # noqa: E402
from leafbench.evaluate import evaluate_retrieval  # noqa: E402
from leafbench.mteb_eval import evaluate_mteb_task  # noqa: E402
from leafbench.registry import resolve_model  # noqa: E402
from leafbench.store import EmbeddingStore  # noqa: E402

from parity_tasks import N_TEST, local_task, mteb_result, other_type_tasks, scifact_task  # noqa: E402

RETRIEVAL_METRICS = [f"{m}_at_{k}" for m in ("ndcg", "map", "recall", "precision", "mrr") for k in (1, 3, 5, 10, 100)]

# (name, batch size, seed of random batch compositions or None for length-sorted batches, torch threads,
#  seed of last-bit noise or None): the first six are what this machine's kernels really do; the last-bit ones
# put a relative error of up to ULPS float32 ulps on every embedding value, the size of the differences other
# CPUs, kernels or summation orders give (the parity tests must tolerate them, not only this machine's).
ULPS = 4
CONFIGS: list[tuple[str, int, int | None, int, int | None]] = [
    ("batch32", 32, None, 2, None),
    ("batch8", 8, None, 2, None),
    ("batch128", 128, None, 2, None),
    ("random-batches-32", 32, 0, 2, None),
    ("random-batches-16", 16, 1, 2, None),
    ("threads1", 32, None, 1, None),
    *[(f"last-bits-{s}", 32, None, 2, s) for s in range(4)],
]
# Not noise: a small real change of the encoding (the model reads 16 tokens instead of its 256), the kind of
# difference a parity test exists to catch; reported apart, as the signal each tolerance must stay below.
SIGNAL = ("signal-max-seq-length-16", 16)


class LastBitsEncoder(Encoder):
    """Length-sorted batches as usual, then every value multiplied by (1 + u * ULPS * 2**-23), u ~ U(-1, 1):
    embeddings that differ from this machine's in their last bits only."""

    def __init__(self, *args: Any, seed: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rng = np.random.default_rng(seed)

    def encode_batchwise(self, texts, side, on_batch=None):  # type: ignore[override]
        emb, n = super().encode_batchwise(texts, side, on_batch)
        scale = 1 + self.rng.uniform(-1, 1, size=emb.shape) * ULPS * np.finfo(np.float32).eps
        return (emb * scale).astype(np.float32), n


class RandomBatchEncoder(Encoder):
    """Encodes texts in random groups of `batch_size` (other padding and neighbours than the length-sorted
    batches): the rows a shared store may hold for the same texts."""

    def __init__(self, *args: Any, seed: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rng = np.random.default_rng(seed)

    def encode_batchwise(self, texts, side, on_batch=None):  # type: ignore[override]
        perm = self.rng.permutation(len(texts))
        out: np.ndarray | None = None
        n_tokens = 0
        for start in range(0, len(texts), self.batch_size):
            idx = perm[start : start + self.batch_size]
            emb, n = super().encode_batchwise([texts[i] for i in idx], side, on_batch)
            if out is None:
                out = np.empty((len(texts), emb.shape[1]), dtype=np.float32)
            out[idx] = emb
            n_tokens += n
        assert out is not None
        return out, n_tokens


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "noise.json")
    ap.add_argument("--configs", nargs="*", help="only these configurations (added to an existing --out file)")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from leafbench.data import load_beir_folder

    spec = resolve_model("minilm-l6")
    scifact_dir = args.data_dir / "beir" / "scifact"
    small = load_beir_folder(scifact_dir, "test", task_name="SciFact").subset(40, 300, seed=0)
    tasks = {name: local_task(name, args.data_dir) for name in N_TEST}
    tasks.update(other_type_tasks(args.data_dir, small, scifact_dir))

    t0 = time.perf_counter()
    ref_retrieval = mteb_result(scifact_task(small, scifact_dir)(), str(spec.source)).scores["test"][0]
    refs: dict[str, tuple[str, float]] = {}
    for name, make in tasks.items():
        task = make()
        refs[name] = (task.metadata.type, float(mteb_result(task, str(spec.source)).get_score()))
        print(f"reference {name}: {refs[name][1]:.10f}", flush=True)

    measured: dict[str, dict[str, float]] = {"SciFact": {}} | {name: {} for name in tasks}
    configs = [c for c in CONFIGS if not args.configs or c[0] in args.configs]
    for cname, batch, seed, threads, noise_seed in configs:
        torch.set_num_threads(threads)
        with tempfile.TemporaryDirectory() as tmp:
            store = EmbeddingStore(Path(tmp))
            if noise_seed is not None:
                enc: Encoder = LastBitsEncoder(spec, store, batch_size=batch, seed=noise_seed)
            elif seed is not None:
                enc = RandomBatchEncoder(spec, store, batch_size=batch, seed=seed)
            else:
                enc = Encoder(spec, store, batch_size=batch)
            run = evaluate_retrieval(small, {"student": enc}, ["student"], output=None, run_slug="x")
            ours = run.results["student"]["scores"]["test"][0]
            measured["SciFact"][cname] = max(abs(ours[k] - ref_retrieval[k]) for k in RETRIEVAL_METRICS)
            for name, make in tasks.items():
                task = make()
                res = evaluate_mteb_task(task, {"student": enc}, ["student"], None, "x").results["student"]
                score = res["scores"][task.metadata.eval_splits[-1]][0]["main_score"]
                measured[name][cname] = abs(score - refs[name][1])
        print(f"{cname}: {json.dumps({k: f'{v[cname]:.2e}' for k, v in measured.items()})}", flush=True)

    signal: dict[str, float] = {}
    if not args.configs or SIGNAL[0] in args.configs:
        with tempfile.TemporaryDirectory() as tmp:
            enc = Encoder(spec.with_overrides(max_seq_length=SIGNAL[1]), EmbeddingStore(Path(tmp)))
            run = evaluate_retrieval(small, {"student": enc}, ["student"], output=None, run_slug="x")
            ours = run.results["student"]["scores"]["test"][0]
            signal["SciFact"] = abs(ours["ndcg_at_10"] - ref_retrieval["ndcg_at_10"])
            for name, make in tasks.items():
                task = make()
                res = evaluate_mteb_task(task, {"student": enc}, ["student"], None, "x").results["student"]
                signal[name] = abs(res["scores"][task.metadata.eval_splits[-1]][0]["main_score"] - refs[name][1])
        print(f"{SIGNAL[0]}: {json.dumps({k: f'{v:.2e}' for k, v in signal.items()})}", flush=True)
    if args.configs and args.out.exists():  # a partial rerun adds its configurations to the file's
        for name, row in json.loads(args.out.read_text())["tasks"].items():
            measured[name] = row["abs_diff_by_config"] | measured[name]
            signal.setdefault(name, row.get("signal_abs_diff"))
    out = {
        "what": "largest |leafbench - mteb.evaluate| per task over encoding configurations (fresh store each)",
        "configs": [
            {"name": c, "batch_size": b, "random_batches_seed": s, "threads": t, "last_bits_seed": n, "ulps": ULPS}
            for c, b, s, t, n in CONFIGS
        ],
        "model": "minilm-l6",
        "signal": f"|ours - mteb| when the model reads {SIGNAL[1]} tokens: a real change the tests must catch",
        "tasks": {
            name: {
                "type": "Retrieval" if name == "SciFact" else refs[name][0],
                "metric": "max over " + ",".join(RETRIEVAL_METRICS) if name == "SciFact" else "main_score",
                "abs_diff_by_config": diffs,
                "max_abs_diff": max(diffs.values()),
                "signal_abs_diff": signal.get(name),
            }
            for name, diffs in measured.items()
        },
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__},
        "seconds": round(time.perf_counter() - t0, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    for name, row in out["tasks"].items():
        sig = f"{row['signal_abs_diff']:.2e}" if row["signal_abs_diff"] is not None else "-"
        print(f"{name:28s} {row['type']:20s} max |diff| {row['max_abs_diff']:.2e}   signal {sig}")
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")


if __name__ == "__main__":
    main()
