"""Retrieval evaluation in student / teacher / asymmetric modes, from one encoding per (model, side, texts).

Flow: data (RetrievalData) → encoders (through the store) → per mode: pick query/doc matrices → cosine
top-k → mteb's metrics → result JSON. Modes share encodings: `all` encodes student queries, student
documents, teacher queries and teacher documents once each.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .data import RetrievalData
from .metrics import K_VALUES, retrieval_scores
from .results import build_result, result_path, write_result
from .search import dense_topk, normalize_rows, to_run

log = logging.getLogger(__name__)

# Which encoder serves each side, per mode.
MODE_ROUTES: dict[str, dict[str, str]] = {
    "student": {"query": "student", "document": "student"},
    "teacher": {"query": "teacher", "document": "teacher"},
    "asymmetric": {"query": "student", "document": "teacher"},
}
ALL_MODES = tuple(MODE_ROUTES)


class EncoderLike(Protocol):
    """What evaluation needs from an encoder (leafbench.encode.Encoder implements it)."""

    spec: Any

    @property
    def identity(self) -> str: ...

    def encode(self, texts: Sequence[str], side: str, progress: Callable[[int], None] | None = None) -> Any: ...


def expand_modes(mode: str) -> list[str]:
    if mode == "all":
        return list(ALL_MODES)
    modes = [m.strip() for m in mode.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODE_ROUTES]
    if bad or not modes:
        raise ValueError(f"unknown mode {', '.join(bad) or mode!r}: choose from student, teacher, asymmetric, all")
    return modes


def needed_encodings(modes: Sequence[str]) -> list[tuple[str, str]]:
    """Minimal (role, side) encodings for a set of modes, in a stable order."""
    need: list[tuple[str, str]] = []
    for m in modes:
        for side in ("document", "query"):
            pair = (MODE_ROUTES[m][side], side)
            if pair not in need:
                need.append(pair)
    return need


@dataclass
class TaskRun:
    """Outcome of one task: one result dict per mode plus what was encoded (for the summary table)."""

    task_name: str
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)
    encode_stats: dict[str, Any] = field(default_factory=dict)


def _side_texts(data: RetrievalData, side: str) -> list[str]:
    return data.query_texts if side == "query" else data.corpus_texts


def _throughput(res: Any, spec: Any) -> dict[str, Any]:
    st = res.stats
    return {
        "model": spec.name,
        "n_texts": st.n_texts,
        "n_encoded_now": st.n_encoded,
        "cached": st.cached,
        "texts_per_s": st.texts_per_s,
        "tokens_per_s": st.tokens_per_s,
        "store_entry": st.digest,
    }


def evaluate_retrieval(
    data: RetrievalData,
    encoders: dict[str, EncoderLike],
    modes: Sequence[str],
    output: Path | None,
    run_slug: str,
    progress_factory: Callable[[str, int], Callable[[int], None]] | None = None,
    top_k: int = max(K_VALUES),
    extra: dict[str, Any] | None = None,
) -> TaskRun:
    """Evaluate one retrieval task in every requested mode; writes one result JSON per mode."""
    t_start = time.perf_counter()
    for m in modes:
        for role in MODE_ROUTES[m].values():
            if role not in encoders:
                raise ValueError(f"mode {m!r} needs a {role} model")
    encoded: dict[tuple[str, str], Any] = {}
    for role, side in needed_encodings(modes):
        enc = encoders[role]
        texts = _side_texts(data, side)
        progress = progress_factory(f"{data.task_name} {role} {side}s", len(texts)) if progress_factory else None
        encoded[(role, side)] = enc.encode(texts, side, progress=progress)
    encode_time = time.perf_counter() - t_start

    run = TaskRun(task_name=data.task_name)
    for m in modes:
        t0 = time.perf_counter()
        q_role, d_role = MODE_ROUTES[m]["query"], MODE_ROUTES[m]["document"]
        q_res, d_res = encoded[(q_role, "query")], encoded[(d_role, "document")]
        qe, de = q_res.embeddings, d_res.embeddings
        if qe.shape[1] != de.shape[1]:
            raise ValueError(
                f"{m}: query model {encoders[q_role].spec.name} outputs {qe.shape[1]}-d but document model "
                f"{encoders[d_role].spec.name} outputs {de.shape[1]}-d; an asymmetric pair must share one space"
            )
        scores_, idx = dense_topk(normalize_rows(qe), normalize_rows(de), top_k)
        trec_run = to_run(data.query_ids, data.corpus_ids, scores_, idx)
        scores = retrieval_scores(trec_run, data.qrels, ignore_identical_ids=data.ignore_identical_ids)
        score_time = time.perf_counter() - t0
        lb = {
            "mode": m,
            "student": _model_block(encoders.get("student")) if "student" in MODE_ROUTES[m].values() else None,
            "teacher": _model_block(encoders.get("teacher")) if "teacher" in MODE_ROUTES[m].values() else None,
            "query_model": encoders[q_role].spec.name,
            "document_model": encoders[d_role].spec.name,
            "prompts": {"query": q_res.prompt, "document": d_res.prompt},
            "dim": int(qe.shape[1]),
            "dtype": "float32",
            "similarity": "cosine",
            "scoring": "exact dense top-k",
            "top_k": top_k,
            "data_source": data.source,
            "split": data.split,
            "n_queries": len(data.query_ids),
            "n_documents": len(data.corpus_ids),
            "ignore_identical_ids": data.ignore_identical_ids,
            "throughput": {"query": _throughput(q_res, encoders[q_role].spec), "document": _throughput(d_res, encoders[d_role].spec)},
            "encode_seconds": encode_time,
            "score_seconds": score_time,
            **(extra or {}),
        }
        result = build_result(data.task_name, data.split, scores, evaluation_time=encode_time + score_time, leafbench=lb)
        run.results[m] = result
        if output is not None:
            path = result_path(output, run_slug, m, data.task_name)
            write_result(path, result)
            run.paths[m] = path
    run.encode_stats = {f"{r}/{s}": encoded[(r, s)].stats for r, s in encoded}
    return run


def _model_block(enc: EncoderLike | None) -> dict[str, Any] | None:
    if enc is None:
        return None
    spec = enc.spec
    return {
        "name": spec.name,
        "source": spec.source,
        "hf_id": spec.hf_id,
        "revision": spec.revision,
        "identity": enc.identity,
        "max_seq_length": spec.max_seq_length,
        "precision": spec.precision,
    }


def mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if values else float("nan")
