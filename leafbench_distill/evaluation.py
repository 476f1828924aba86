"""In-training and final evaluation of a student held in memory.

Alignment: MSE (the training loss) and cosine to the teacher on held-out queries and documents.
Retrieval: asymmetric nDCG@10 — student queries against the teacher's documents, which come from the
embedding store (encoded once, then cached), so each evaluation re-encodes only the queries. The in-memory
student is encoded directly (the store keys local models by a hash of saved weights, and saving a folder
every evaluation would cost more than the evaluation).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from leafbench.search import dense_topk, normalize_rows, to_run

log = logging.getLogger(__name__)


def encode_texts(model, texts: Sequence[str], prompt: str = "", batch_size: int = 64) -> np.ndarray:
    """float32 embeddings of an in-memory SentenceTransformer (eval mode; caller restores train mode)."""
    model.eval()
    emb = model.encode(
        list(texts),
        prompt=prompt or None,
        batch_size=batch_size,
        show_progress_bar=False,
        convert_to_numpy=True,
        normalize_embeddings=False,
    )
    return np.asarray(emb, dtype=np.float32)


def alignment(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """MSE as the loss defines it (sum over dims, mean over texts) and mean cosine."""
    mse = float(((pred - target) ** 2).sum(1).mean())
    cos = float((normalize_rows(pred) * normalize_rows(target)).sum(1).mean())
    return {"mse": mse, "cosine": cos}


def ndcg10(data, query_emb: np.ndarray, doc_emb: np.ndarray, top_k: int = 100) -> float:
    """nDCG@10 through pytrec_eval alone — the number mteb's evaluator gives (parity-tested), without importing
    mteb, so the trainer also runs on a training box that has torch and sentence-transformers but not the harness."""
    import pytrec_eval

    from leafbench.metrics import drop_identical_ids

    scores, idx = dense_topk(normalize_rows(query_emb), normalize_rows(doc_emb), top_k)
    run = to_run(data.query_ids, data.corpus_ids, scores, idx)
    if data.ignore_identical_ids:
        run = drop_identical_ids(run)
    per_query = pytrec_eval.RelevanceEvaluator({q: dict(r) for q, r in data.qrels.items()}, {"ndcg_cut.10"}).evaluate(
        run
    )
    return float(np.mean([v["ndcg_cut_10"] for v in per_query.values()])) if per_query else 0.0


@dataclass
class HeldOut:
    inputs: list[str]  # texts with prompts already applied, as the student reads them
    roles: list[str]
    targets: np.ndarray


class Evaluator:
    """Callable(model) → metrics dict; cheap enough to run every epoch."""

    def __init__(
        self,
        heldout: HeldOut | None,
        retrieval=None,  # RetrievalData
        teacher_docs: np.ndarray | None = None,
        query_prompt: str = "",
        document_prompt: str = "",
        student_mode: bool = False,
        prefix: str = "",  # "dev_" when `retrieval` is the dev set: a metrics row says which split it read
        sts: dict[str, tuple[list[str], list[str], np.ndarray]] | None = None,  # name -> (s1, s2, gold)
        read_length: int | None = None,  # the student's max_seq_length for retrieval and STS (None: as it is)
    ) -> None:
        self.heldout = heldout
        self.retrieval = retrieval
        self.teacher_docs = teacher_docs
        self.query_prompt = query_prompt
        self.document_prompt = document_prompt
        self.student_mode = student_mode
        self.prefix = prefix
        self.sts = sts or {}
        self.read_length = read_length

    def __call__(self, model) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.heldout is not None and len(self.heldout.inputs):
            pred = encode_texts(model, self.heldout.inputs)
            a = alignment(pred, self.heldout.targets)
            out["heldout_mse"], out["heldout_cosine"] = a["mse"], a["cosine"]
            roles = np.asarray(self.heldout.roles)
            for role in ("query", "document"):
                m = roles == role
                if m.any():
                    a = alignment(pred[m], self.heldout.targets[m])
                    out[f"heldout_{role}_mse"], out[f"heldout_{role}_cosine"] = a["mse"], a["cosine"]
        if not self.read_length:
            return out | self._scores(model)
        train_len, model.max_seq_length = model.max_seq_length, self.read_length
        try:
            return out | self._scores(model)
        finally:
            model.max_seq_length = train_len

    def _scores(self, model) -> dict[str, Any]:
        """Retrieval (asymmetric, and student mode when asked) and STS, at the model's current reading length."""
        out: dict[str, Any] = {}
        p = self.prefix
        if self.retrieval is not None and self.teacher_docs is not None:
            q = encode_texts(model, self.retrieval.query_texts, self.query_prompt)
            out[f"{p}asym_ndcg_at_10"] = ndcg10(self.retrieval, q, self.teacher_docs)
            if self.student_mode:
                d = encode_texts(model, self.retrieval.corpus_texts, self.document_prompt)
                out[f"{p}student_ndcg_at_10"] = ndcg10(self.retrieval, q, d)
        for name, (s1, s2, gold) in self.sts.items():
            out[f"{p}sts_{name}"] = sts_spearman(encode_texts(model, s1), encode_texts(model, s2), gold)
        return out


# ---------------------------------------------------------------------------------------------- STS


def load_sts(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    s1, s2, y = [], [], []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                o = json.loads(line)
                s1.append(o["sentence1"])
                s2.append(o["sentence2"])
                y.append(float(o["score"]))
    return s1, s2, np.asarray(y)


def sts_spearman(emb1: np.ndarray, emb2: np.ndarray, gold: np.ndarray) -> float:
    """Spearman of cosine similarity vs gold scores (a direct computation, not mteb's evaluator)."""
    from scipy.stats import spearmanr

    cos = (normalize_rows(emb1) * normalize_rows(emb2)).sum(1)
    return float(spearmanr(cos, gold).statistic)
