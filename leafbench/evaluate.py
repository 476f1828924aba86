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
from .metrics import K_VALUES, topk_retrieval_scores
from .results import build_result, result_path, write_result
from .cells import Cell, file_label, prepare_cell, variant
from .search import dense_topk, hamming_topk, normalize_rows, rescore_binary

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
    skipped: int = 0  # cells whose result file already existed


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


def score_cell(
    queries: np.ndarray,
    docs: np.ndarray,
    cell: Cell,
    top_k: int,
    calibration: str = "corpus",
    ranges_file: Path | None = None,
    rescore: int | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Top-k (scores, indices) of one (dim, dtype) cell from full-dim float32 matrices, plus how it was scored."""
    prep = prepare_cell(queries, docs, cell, calibration, ranges_file)
    info: dict[str, Any] = {"dim": prep.dim, "scoring": prep.scoring, "calibration": prep.calibration, "rescore": None}
    if prep.scoring == "hamming":
        k = top_k * rescore if rescore else top_k
        scores, idx = hamming_topk(prep.queries, prep.docs, prep.dim, k)
        info["scoring"] = "hamming (packed bits)"
        if rescore:
            assert prep.query_float is not None
            scores, idx = rescore_binary(prep.query_float, prep.docs, idx, prep.dim, top_k)
            info["rescore"] = rescore
            info["scoring"] = f"hamming top-{rescore}k, rescored by float query x binary document"
    elif prep.scoring == "inner-product":
        scores, idx = dense_topk(prep.queries, prep.docs, top_k)
    else:
        scores, idx = dense_topk(normalize_rows(prep.queries), normalize_rows(prep.docs), top_k)
    if prep.ranges is not None:
        info["calibration_docs"] = calibration == "corpus"
    return scores, idx, info


def pending_cells(
    output: Path | None,
    run_slug: str,
    task_name: str,
    modes: Sequence[str],
    cells: Sequence[Cell],
    force: bool,
    calibration: str = "corpus",
    rescore: int | None = None,
) -> dict[str, list[Cell]]:
    """Cells per mode whose result file is missing (all of them with `force` or without an output folder)."""
    todo: dict[str, list[Cell]] = {}
    for m in modes:
        left = [
            c for c in cells
            if force
            or output is None
            or not result_path(output, run_slug, m, task_name, file_label(c, variant(c, calibration, rescore))).exists()
        ]
        if left:
            todo[m] = left
    return todo


def evaluate_retrieval(
    data: RetrievalData,
    encoders: dict[str, EncoderLike],
    modes: Sequence[str],
    output: Path | None,
    run_slug: str,
    progress_factory: Callable[[str, int], Callable[[int], None]] | None = None,
    top_k: int = max(K_VALUES),
    extra: dict[str, Any] | None = None,
    cells: Sequence[Cell] = (Cell(None, "float32"),),
    calibration: str = "corpus",
    ranges_file: Path | None = None,
    rescore: int | None = None,
    force: bool = True,
) -> TaskRun:
    """Evaluate one retrieval task in every requested mode x cell; one result JSON per (mode, cell).

    Encodings are planned from the cells still missing: each needed (role, side) is encoded once at full
    dimension (through the store) and every cell is derived from it.
    """
    t_start = time.perf_counter()
    for m in modes:
        for role in MODE_ROUTES[m].values():
            if role not in encoders:
                raise ValueError(f"mode {m!r} needs a {role} model")
    todo = pending_cells(output, run_slug, data.task_name, modes, cells, force, calibration, rescore)
    run = TaskRun(task_name=data.task_name)
    run.skipped = sum(len(cells) for _ in modes) - sum(len(v) for v in todo.values())
    encoded: dict[tuple[str, str], Any] = {}
    for role, side in needed_encodings(list(todo)):
        enc = encoders[role]
        texts = _side_texts(data, side)
        progress = progress_factory(f"{data.task_name} {role} {side}s", len(texts)) if progress_factory else None
        encoded[(role, side)] = enc.encode(texts, side, progress=progress)
    encode_time = time.perf_counter() - t_start

    for m, mode_cells in todo.items():
        q_role, d_role = MODE_ROUTES[m]["query"], MODE_ROUTES[m]["document"]
        q_res, d_res = encoded[(q_role, "query")], encoded[(d_role, "document")]
        qe, de = q_res.embeddings, d_res.embeddings
        if qe.shape[1] != de.shape[1]:
            raise ValueError(
                f"{m}: query model {encoders[q_role].spec.name} outputs {qe.shape[1]}-d but document model "
                f"{encoders[d_role].spec.name} outputs {de.shape[1]}-d; an asymmetric pair must share one space"
            )
        for cell in mode_cells:
            var = variant(cell, calibration, rescore)
            label = file_label(cell, var)
            t0 = time.perf_counter()
            scores_, idx, info = score_cell(qe, de, cell, top_k, calibration, ranges_file, rescore)
            per_query: dict[str, dict[str, float]] = {}
            scores = topk_retrieval_scores(
                data.query_ids, data.corpus_ids, scores_, idx, data.qrels, ignore_identical_ids=data.ignore_identical_ids,
                per_query_out=per_query,
            )
            score_time = time.perf_counter() - t0
            lb = {
                "mode": m,
                "student": _model_block(encoders.get("student")) if "student" in MODE_ROUTES[m].values() else None,
                "teacher": _model_block(encoders.get("teacher")) if "teacher" in MODE_ROUTES[m].values() else None,
                "query_model": encoders[q_role].spec.name,
                "document_model": encoders[d_role].spec.name,
                "prompts": {"query": q_res.prompt, "document": d_res.prompt},
                "full_dim": int(de.shape[1]),
                "dim": info["dim"],
                "dtype": cell.dtype,
                "cell": label or "full-float32",
                "variant": var,
                "calibration": info["calibration"],
                "rescore": info["rescore"],
                "similarity": "cosine",
                "scoring": info["scoring"],
                "top_k": top_k,
                "data_source": data.source,
                "split": data.split,
                "n_queries": len(data.query_ids),
                "n_documents": len(data.corpus_ids),
                "ignore_identical_ids": data.ignore_identical_ids,
                "throughput": {
                    "query": _throughput(q_res, encoders[q_role].spec),
                    "document": _throughput(d_res, encoders[d_role].spec),
                },
                "encode_seconds": encode_time,
                "score_seconds": score_time,
                # Main metric per query (pytrec_eval), for paired-bootstrap intervals in reports and checks.
                "per_query": per_query,
                **({"subset": data.subset_spec} if data.subset_spec else {}),
                **(extra or {}),
            }
            result = build_result(
                data.task_name, data.split, scores, evaluation_time=encode_time + score_time, leafbench=lb
            )
            key = m if label is None else f"{m}/{label}"
            run.results[key] = result
            if output is not None:
                path = result_path(output, run_slug, m, data.task_name, label)
                write_result(path, result)
                run.paths[key] = path
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
        "backend": spec.backend,
        **({"backend_info": enc.backend_info} if getattr(enc, "backend_info", None) else {}),
    }
