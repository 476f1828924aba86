"""A dev set for model selection that never reads the test split.

The dev set is a seeded half (by default) of a retrieval task's *train* queries, scored against the full corpus;
the other half stays available for training, and the overlap guard drops dev query texts from every training
source. Which queries are held out is a pure function of (query ids, fraction, seed): the same on every machine
and every rerun, independent of file order.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np


def _rank_key(seed: int, qid: str) -> bytes:
    return hashlib.sha256(f"{seed}\x00{qid}".encode()).digest()


def held_out_ids(query_ids: Sequence[str], fraction: float, seed: int = 0) -> set[str]:
    """The ids of the dev part: the `round(fraction × n)` ids with the smallest seeded hashes (at least one)."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"dev fraction must be in (0, 1), got {fraction}")
    ids = list(dict.fromkeys(query_ids))
    n = max(1, round(fraction * len(ids)))
    return set(sorted(ids, key=lambda q: _rank_key(seed, q))[:n])


@dataclass(frozen=True)
class DevSplit:
    """Which train queries are dev (scored, never trained on) and which remain for training."""

    dev_ids: frozenset[str]
    train_ids: frozenset[str]
    fraction: float
    seed: int

    @classmethod
    def of(cls, query_ids: Sequence[str], fraction: float = 0.5, seed: int = 0) -> DevSplit:
        dev = held_out_ids(query_ids, fraction, seed)
        return cls(frozenset(dev), frozenset(q for q in query_ids if q not in dev), fraction, seed)

    def describe(self) -> dict:
        return {
            "fraction": self.fraction,
            "seed": self.seed,
            "dev_queries": len(self.dev_ids),
            "train_queries": len(self.train_ids),
        }


def dev_data(data, split: DevSplit, n_queries: int | None = None, n_docs: int | None = None, seed: int = 0):
    """`data` (RetrievalData) restricted to the dev queries, the corpus untouched unless `n_queries` / `n_docs`
    cut it as `RetrievalData.subset` does (quick runs, tests). Its `subset_spec` names the dev split, so every
    result scored on it says it is a dev number, not the task's score."""
    keep = [i for i, q in enumerate(data.query_ids) if q in split.dev_ids]
    ids = [data.query_ids[i] for i in keep]
    dev = replace(
        data, query_ids=ids, query_texts=[data.query_texts[i] for i in keep], qrels={q: data.qrels[q] for q in ids}
    )
    if n_queries or n_docs:
        dev = dev.subset(n_queries, n_docs, seed)
    dev.subset_spec = {**(dev.subset_spec or {}), "dev": split.describe()}
    return dev


@dataclass
class DevSet:
    """The dev retrieval data (full corpus, dev queries), its split, and optional STS dev pairs."""

    data: Any  # RetrievalData
    split: DevSplit
    sts: dict[str, tuple[list[str], list[str], np.ndarray]] = field(default_factory=dict)
    teacher_docs: np.ndarray | None = None
    read_length: int | None = None  # the student's reading length on dev (None: its training length)

    def describe(self) -> dict[str, Any]:
        return {
            "task": self.data.task_name,
            "split": self.data.split,
            **self.split.describe(),
            "corpus": len(self.data.corpus_ids),
            "sts": sorted(self.sts),
            **({"read_length": self.read_length} if self.read_length else {}),
        }

    def guard_sets(self) -> dict[str, set[str]]:
        """What training must never contain: the dev queries and the STS dev sentences."""
        from .texts import norm_text

        key = f"dev:{self.data.task_name}/{self.data.split}"
        sets = {key: {norm_text(t) for t in self.data.query_texts} - {""}}
        for name, (s1, s2, _) in self.sts.items():
            sets[f"dev:{name}"] = {norm_text(t) for t in [*s1, *s2]} - {""}
        return sets


#: The in-training metric each rule reads (see `eval.select`).
_RULE_METRICS = {
    "asymmetric": ("dev_asym_ndcg_at_10",),
    "student": ("dev_student_ndcg_at_10",),
    "min": ("dev_asym_ndcg_at_10", "dev_student_ndcg_at_10"),
    "mean": ("dev_asym_ndcg_at_10", "dev_student_ndcg_at_10"),
}

SELECTED = "selected.pt"
SELECTION = "selection.json"


class Selector:
    """Keeps the weights of the best evaluated state by a dev rule (strictly better replaces; ties keep the
    earlier), in `folder` next to the training checkpoint, so a resumed run still knows its best."""

    def __init__(self, rule: str, folder: Path, dev: dict[str, Any]) -> None:
        if rule not in _RULE_METRICS:
            raise ValueError(f"no selection rule {rule!r} (rules: {', '.join(_RULE_METRICS)})")
        self.rule, self.folder, self.dev = rule, folder, dev
        path = folder / SELECTION
        self.best: dict[str, Any] | None = json.loads(path.read_text()) if path.is_file() else None

    def value(self, metrics: dict[str, Any]) -> float | None:
        vals = [metrics.get(k) for k in _RULE_METRICS[self.rule]]
        if any(not isinstance(v, float) for v in vals):
            return None
        return min(vals) if self.rule == "min" else float(np.mean(vals))

    def offer(self, row: dict[str, Any], model) -> bool:
        """Keep `model`'s weights if `row` (an evaluation row) is the best so far; returns whether it was."""
        import torch

        v = self.value(row)
        if v is None:
            raise ValueError(f"selection rule {self.rule!r} needs {_RULE_METRICS[self.rule]} in every evaluation")
        if self.best is not None and v <= self.best["value"]:
            return False
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{SELECTED}.tmp"
        torch.save(model.state_dict(), tmp)
        os.replace(tmp, self.folder / SELECTED)
        self.best = {
            "rule": self.rule,
            "value": v,
            "tag": row.get("tag"),
            "step": row.get("step"),
            "epoch": row.get("epoch"),
            "dev_metrics": {k: x for k, x in row.items() if k.startswith("dev_") and isinstance(x, float)},
        }
        tmp_json = self.folder / f".{SELECTION}.tmp"
        tmp_json.write_text(json.dumps(self.best, indent=1))
        os.replace(tmp_json, self.folder / SELECTION)
        return True

    def restore(self, model) -> None:
        """Load the selected weights into `model` (the exported student is the selected one)."""
        import torch

        if self.best is None:
            raise ValueError("nothing was selected: no evaluation ran")
        model.load_state_dict(torch.load(self.folder / SELECTED, map_location="cpu", weights_only=True))

    def record(self) -> dict[str, Any]:
        """What selected the model: the rule, the dev set and the chosen state with its dev scores."""
        return {**(self.best or {}), "rule": self.rule, "dev": self.dev}
