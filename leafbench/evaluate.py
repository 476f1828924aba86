"""Retrieval evaluation in student / teacher / asymmetric modes, from one encoding per (model, side, texts).

Flow: data (RetrievalData) → encoders (through the store) → per mode: pick query/doc matrices → cosine
top-k → mteb's metrics → result JSON. Modes share encodings: `all` encodes student queries, student
documents, teacher queries and teacher documents once each.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .cells import Cell, file_label, variant
from .data import RetrievalData, is_local_copy, task_data_warnings
from .errors import UserError
from .metrics import K_VALUES, MAIN_SCORE, topk_retrieval_scores
from .modes import ALL_MODES as ALL_MODES  # ALL_MODES re-exported
from .modes import Mode, parse_modes
from .record import ResultRecord, build_result, data_roots, model_block, relativize, result_path, write_result
from .scoring import score_cell

log = logging.getLogger(__name__)

# Which encoder serves each side, per mode (derived from leafbench.modes, the one definition).
MODE_ROUTES: dict[str, dict[str, str]] = {m.value: {"query": m.route.query, "document": m.route.document} for m in Mode}


class EncoderLike(Protocol):
    """What evaluation needs from an encoder (leafbench.encode.Encoder implements it)."""

    spec: Any

    @property
    def identity(self) -> str: ...

    def key(self, side: str) -> Any: ...

    def encode(self, texts: Sequence[str], side: str, progress: Callable[[int], None] | None = None) -> Any: ...


expand_modes = parse_modes


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
    data_fingerprint: str | None = None  # of the data evaluated (all subsets)


def _side_texts(data: RetrievalData, side: str) -> list[str]:
    return data.query_texts if side == "query" else data.corpus_texts


def _throughput(results: Sequence[Any], spec: Any) -> dict[str, Any]:
    """Encoding figures of one (role, side), pooled over a task's subsets (one store entry each)."""
    stats = [r.stats for r in results]
    seconds = sum(st.encode_seconds_total for st in stats)
    return {
        "model": spec.name,
        "n_texts": sum(st.n_texts for st in stats),
        "n_encoded_now": sum(st.n_encoded for st in stats),
        "cached": all(st.cached for st in stats),
        "texts_per_s": sum(st.n_texts for st in stats) / seconds if seconds > 0 else None,
        "tokens_per_s": sum(st.tokens_total for st in stats) / seconds if seconds > 0 else None,
        "store_entry": ",".join(st.digest for st in stats),
    }


def task_main_metric(task_name: str) -> str:
    """The task's main score as mteb's metadata names it (nDCG@10 for BEIR and for users' own folders)."""
    import mteb

    try:
        return str(mteb.get_task(task_name).metadata.main_score)
    except Exception:  # noqa: BLE001 - a task mteb does not know: a user's BEIR folder
        return MAIN_SCORE


def data_fingerprint(parts: Mapping[str, RetrievalData]) -> str:
    """One task's data fingerprint: its single part's, or a hash over (subset, fingerprint) pairs."""
    if list(parts) == ["default"]:
        return parts["default"].fingerprint()
    import hashlib

    return hashlib.blake2b(
        "\n".join(f"{s}:{d.fingerprint()}" for s, d in parts.items()).encode(), digest_size=16
    ).hexdigest()


def cell_provenance(
    encoders: Mapping[str, EncoderLike],
    mode: str,
    label: str | None,
    fingerprint: str,
    subset_spec: Any,
    calibration: str,
    ranges_file: Path | None,
    rescore: int | None,
    top_k: int,
) -> str:
    """Hash of everything that determines one retrieval cell's score: the data (content fingerprint and subset
    spec), the query and document encoders (identity/revision, prompt, max_seq_length, precision, backend),
    the cell, its calibration and rescoring, top-k and the scoring code's versions. A result file is reused
    only when its provenance equals the current one."""
    import hashlib
    import json
    from importlib.metadata import version

    from .version import __version__

    ranges = hashlib.blake2b(Path(ranges_file).read_bytes(), digest_size=16).hexdigest() if ranges_file else None
    payload = {
        "data": fingerprint,
        "subset": subset_spec,
        "query": asdict(encoders[MODE_ROUTES[mode]["query"]].key("query")),
        "document": asdict(encoders[MODE_ROUTES[mode]["document"]].key("document")),
        "cell": label or "full-float32",
        "calibration": calibration,
        "ranges": ranges,
        "rescore": rescore,
        "top_k": top_k,
        "leafbench": __version__,
        "mteb": version("mteb"),
    }
    return hashlib.blake2b(json.dumps(payload, sort_keys=True, default=str).encode(), digest_size=16).hexdigest()


def _stored_provenance(path: Path) -> str | None:
    """The provenance a result file was written with; None when it has none or cannot be read (recompute)."""
    from .record import read_result

    try:
        block = read_result(path).get("leafbench") or {}
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(block, Mapping):
        return None
    # A file of a newer schema is refused (SchemaError naming it), never overwritten as if it were stale.
    return ResultRecord.from_dict(block, where=str(path)).provenance


# What a user chose that makes a result another measurement, not a newer one of the same: the data protocol
# (split, subsets, a --max-queries/--max-docs cut, the sizes scored) and each model's reading length and precision.
# For these keys None means something (no cut, the model's own length), so a change from or to None is a change too.
_PROTOCOL_KEYS = ("split", "eval_splits", "hf_subsets", "subset", "n_queries", "n_documents")
_NONE_IS_A_VALUE = {"subset", "student max_seq_length", "teacher max_seq_length"}


class ResultConflict(UserError):
    """A result file would be replaced by one of another protocol (a subset over the full task, another length):
    the existing number is the user's, so it is kept unless they pass --force or choose another --output."""


def result_protocol(block: Mapping[str, Any]) -> dict[str, Any]:
    """The protocol fields of a result's ``leafbench`` block (or of the block a run is about to write)."""
    out = {k: block.get(k) for k in _PROTOCOL_KEYS}
    for role in ("student", "teacher"):
        m = block.get(role)
        if isinstance(m, Mapping):
            out[f"{role} max_seq_length"] = m.get("max_seq_length")
            out[f"{role} precision"] = m.get("precision")
    return out


def check_no_protocol_conflict(path: Path, current: Mapping[str, Any]) -> None:
    """Refuse (ResultConflict) to replace `path` when it holds a result of another protocol than `current`
    (result_protocol of the block this run would write). Same protocol, other data or models: a stale result,
    recomputed as usual. Unreadable or from before these fields: nothing to compare, recomputed as usual."""
    from .record import read_result

    try:
        block = read_result(path).get("leafbench")
    except (OSError, ValueError, AttributeError):
        return
    if not isinstance(block, Mapping):
        return
    old = result_protocol(block)
    changed = [
        k
        for k, new in current.items()
        if k in old and old[k] != new and (k in _NONE_IS_A_VALUE or (old[k] is not None and new is not None))
    ]
    if changed:
        what = "; ".join(f"{k} {_show(k, old[k])} there, {_show(k, current[k])} now" for k in changed)
        raise ResultConflict(
            f"{path}: holds a result of another protocol ({what}); keep it by choosing another --output, "
            "or pass --force to replace it"
        )


def _show(key: str, value: Any) -> str:
    if value is None:
        return "none (the full task)" if key == "subset" else "none (the model's own)"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def pending_cells(
    output: Path | None,
    run_slug: str,
    task_name: str,
    modes: Sequence[str],
    cells: Sequence[Cell],
    force: bool,
    calibration: str = "corpus",
    rescore: int | None = None,
    provenance: Callable[[str, str | None], str] | None = None,
    protocol: Callable[[str], Mapping[str, Any]] | None = None,
) -> dict[str, list[Cell]]:
    """Cells per mode still to compute: all of them with `force` or without an output folder; else those whose
    result file is missing or — given `provenance(mode, label)` — was measured on anything else (other data,
    models, code, ...): a stale file is recomputed, never reported as the new score. Given `protocol(mode)`, a
    file of another protocol (a subset run over a full one, another max_seq_length) is never replaced without
    `force`: ResultConflict, before anything is encoded."""
    todo: dict[str, list[Cell]] = {}
    for m in modes:
        left = []
        for c in cells:
            label = file_label(c, variant(c, calibration, rescore))
            path = result_path(output, run_slug, m, task_name, label) if output is not None else None
            if force or path is None or not path.exists():
                left.append(c)
            elif provenance is not None and _stored_provenance(path) != provenance(m, label):
                if protocol is not None:
                    check_no_protocol_conflict(path, protocol(m))
                log.info("%s: measured on other data or models than this run; recomputing", path)
                left.append(c)
        if left:
            todo[m] = left
    return todo


def evaluate_retrieval(
    data: RetrievalData | Mapping[str, RetrievalData],
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
    task_info: dict[str, Any] | None = None,
    search: str = "torch",
    data_dir: Path | None = None,
) -> TaskRun:
    """Evaluate one retrieval task in every requested mode x cell; one result JSON per (mode, cell).

    `data` is one split of a task, or a task's subsets ({hf_subset: data}: each is scored on its own and the
    result holds one score entry per subset, as mteb writes multi-subset tasks; the main score is their
    mean). Encodings are planned from the cells still missing: each needed (role, side) is encoded once at
    full dimension (through the store) and every cell is derived from it. `task_info` adds fields to the
    result's leafbench block and, with "revision", names a custom task's data revision. `data_dir`: data sources
    (and data warnings' file:line) are recorded relative to it.
    """
    t_start = time.perf_counter()
    parts: dict[str, RetrievalData] = dict(data) if isinstance(data, Mapping) else {"default": data}
    if not parts:
        raise ValueError("no data to evaluate")
    first = next(iter(parts.values()))
    task_name, split = first.task_name, first.split
    for m in modes:
        for role in MODE_ROUTES[m].values():
            if role not in encoders:
                raise ValueError(f"mode {m!r} needs a {role} model")
    fingerprint = data_fingerprint(parts)

    def provenance(mode: str, label: str | None) -> str:
        return cell_provenance(
            encoders, mode, label, fingerprint, first.subset_spec, calibration, ranges_file, rescore, top_k
        )

    def protocol(mode: str) -> dict[str, Any]:
        roles = MODE_ROUTES[mode].values()
        return result_protocol(
            {
                "split": split,
                "hf_subsets": list(parts) if len(parts) > 1 else None,
                "subset": (extra or {}).get("subset", first.subset_spec or None),
                "n_queries": sum(d.n_queries for d in parts.values()),
                "n_documents": sum(d.n_docs for d in parts.values()),
                **{r: model_block(encoders[r]) for r in ("student", "teacher") if r in roles},
            }
        )

    todo = pending_cells(output, run_slug, task_name, modes, cells, force, calibration, rescore, provenance, protocol)
    run = TaskRun(task_name=task_name, data_fingerprint=fingerprint)
    run.skipped = sum(len(cells) for _ in modes) - sum(len(v) for v in todo.values())
    encoded: dict[tuple[str, str, str], Any] = {}
    for subset, part in parts.items():
        where = task_name if subset == "default" else f"{task_name}/{subset}"
        for role, side in needed_encodings(list(todo)):
            texts = _side_texts(part, side)
            progress = progress_factory(f"{where} {role} {side}s", len(texts)) if progress_factory else None
            encoded[(subset, role, side)] = encoders[role].encode(texts, side, progress=progress)
    encode_time = time.perf_counter() - t_start
    info_extra = dict(task_info or {})
    revision = info_extra.pop("revision", None)
    local_copy = is_local_copy(parts)  # sizes differ from mteb's: recorded under its own fingerprint
    main_metric = task_main_metric(task_name)
    warnings_ = task_data_warnings(parts)  # empty texts, qrels naming unknown ids, ... (data.WARNING_KINDS)

    for m, mode_cells in todo.items():
        q_role, d_role = MODE_ROUTES[m]["query"], MODE_ROUTES[m]["document"]
        q_all = [encoded[(s, q_role, "query")] for s in parts]
        d_all = [encoded[(s, d_role, "document")] for s in parts]
        q_res, d_res = q_all[0], d_all[0]
        qdim, ddim = q_res.rows.shape[1], d_res.rows.shape[1]
        if qdim != ddim:
            raise ValueError(
                f"{m}: query model {encoders[q_role].spec.name} outputs {qdim}-d but document model "
                f"{encoders[d_role].spec.name} outputs {ddim}-d; an asymmetric pair must share one space"
            )
        for cell in mode_cells:
            var = variant(cell, calibration, rescore)
            label = file_label(cell, var)
            t0 = time.perf_counter()
            by_subset: dict[str, dict[str, Any]] = {}
            per_query: dict[str, dict[str, float]] = {}
            for (subset, part), qr, dr in zip(parts.items(), q_all, d_all):
                scores_, idx, info = score_cell(
                    qr.embeddings, dr.rows, cell, top_k, calibration, ranges_file, rescore, search=search
                )
                by_subset[subset] = topk_retrieval_scores(
                    part.query_ids,
                    part.corpus_ids,
                    scores_,
                    idx,
                    part.qrels,
                    ignore_identical_ids=part.ignore_identical_ids,
                    # Per-query scores (for paired bootstraps) only where the main score is their plain mean.
                    per_query_out=per_query if len(parts) == 1 else None,
                    main_metric=main_metric,
                )
            score_time = time.perf_counter() - t0
            roots = data_roots(data_dir, [d.source for d in parts.values()])
            lb = (
                ResultRecord(
                    mode=m,
                    task_type="Retrieval",
                    student=model_block(encoders.get("student"), roots)
                    if "student" in MODE_ROUTES[m].values()
                    else None,
                    teacher=model_block(encoders.get("teacher"), roots)
                    if "teacher" in MODE_ROUTES[m].values()
                    else None,
                    query_model=encoders[q_role].spec.name,
                    document_model=encoders[d_role].spec.name,
                    prompts={"query": q_res.prompt, "document": d_res.prompt},
                    full_dim=int(ddim),
                    dim=info["dim"],
                    dtype=cell.dtype,
                    cell=label or "full-float32",
                    variant=var,
                    calibration=info["calibration"],
                    rescore=info["rescore"],
                    similarity="cosine",
                    scoring=info["scoring"],
                    search=search,
                    top_k=top_k,
                    main_metric=main_metric,
                    data_source=relativize(
                        first.source if len(parts) == 1 else {s: d.source for s, d in parts.items()}, roots
                    ),
                    data_fingerprint=fingerprint,
                    data_warnings=relativize(warnings_, roots),
                    provenance=provenance(m, label),
                    split=split,
                    hf_subsets=list(parts) if len(parts) > 1 else None,
                    n_queries=sum(d.n_queries for d in parts.values()),
                    n_documents=sum(d.n_docs for d in parts.values()),
                    ignore_identical_ids=first.ignore_identical_ids,
                    throughput={
                        "query": _throughput(q_all, encoders[q_role].spec),
                        "document": _throughput(d_all, encoders[d_role].spec),
                    },
                    encode_seconds=encode_time,
                    score_seconds=score_time,
                    # Main metric per query (pytrec_eval), for paired-bootstrap intervals in reports and checks.
                    per_query=per_query,
                    subset=first.subset_spec or None,
                )
                .update(info_extra)
                .update(extra)
            )
            result = build_result(
                task_name,
                split,
                None,
                evaluation_time=encode_time + score_time,
                leafbench=lb,
                by_subset=by_subset,
                revision=revision or (fingerprint if local_copy else None),
                local_copy=local_copy,
            )
            key = m if label is None else f"{m}/{label}"
            run.results[key] = result
            if output is not None:
                path = result_path(output, run_slug, m, task_name, label)
                write_result(path, result)
                run.paths[key] = path
    run.encode_stats = {
        (f"{r}/{side}" if sub == "default" else f"{sub}/{r}/{side}"): res.stats
        for (sub, r, side), res in encoded.items()
    }
    return run
