"""Retrieval evaluation in student / teacher / asymmetric modes, from one encoding per (model, side, texts).

Flow: data (RetrievalData) → encoders (through the store) → per mode: pick query/doc matrices → streamed exact
top-k per cell → mteb's metrics → result JSON. Modes share encodings: `all` encodes student queries, student
documents, teacher queries and teacher documents once each.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from .cells import Cell
from .data import RetrievalData, is_local_copy, take_items, task_data_warnings
from .errors import UserError
from .evaluator import EncoderLike, EvalContext, TaskEvaluator, TaskRun, result_protocol
from .metrics import K_VALUES, MAIN_SCORE, topk_retrieval_scores
from .modes import Mode, encodings_needed
from .record import ResultRecord, build_result, data_roots, model_block, relativize
from .scoring import score_cells

__all__ = ["RetrievalEvaluator", "evaluate_retrieval", "task_main_metric", "data_fingerprint"]

PLURAL = {"query": "queries", "document": "documents"}  # progress lines name the texts of each side


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


class RetrievalEvaluator(TaskEvaluator):
    """One retrieval task: one split, or a task's subsets ({hf_subset: data}: each is scored on its own and the
    result holds one score entry per subset, as mteb writes multi-subset tasks; the main score is their mean).

    Encodings are planned from the cells still missing: each needed (role, side) is encoded once at full
    dimension (through the store) and every cell is derived from it. `task_info` adds fields to the result's
    leafbench block and, with "revision", names a custom task's data revision; `extra` is merged last.
    """

    def __init__(
        self,
        data: RetrievalData | Mapping[str, RetrievalData],
        task_info: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
        top_k: int = max(K_VALUES),
    ) -> None:
        self.parts: dict[str, RetrievalData] = dict(data) if isinstance(data, Mapping) else {"default": data}
        if not self.parts:
            raise ValueError("no data to evaluate")
        self.first = next(iter(self.parts.values()))
        self.task_name, self.split = self.first.task_name, self.first.split
        self.fingerprint = data_fingerprint(self.parts)
        info = dict(task_info or {})
        self.revision = info.pop("revision", None)
        self.task_info, self.extra, self.top_k = info, dict(extra or {}), top_k
        self.main_metric = task_main_metric(self.task_name)

    def provenance_payload(self, ctx: EvalContext, mode: Mode, cell: Cell) -> dict[str, Any]:
        """The data (content fingerprint and subset spec), the query and document encoders (identity/revision,
        prompt, max_seq_length, precision, backend), the cell, its calibration and rescoring, and top-k."""
        import hashlib

        rf = ctx.ranges_file
        return {
            "data": self.fingerprint,
            "subset": self.first.subset_spec,
            "query": asdict(ctx.encoders[mode.route.query].key("query")),
            "document": asdict(ctx.encoders[mode.route.document].key("document")),
            "cell": cell.name,
            "calibration": cell.calibration,
            "ranges": hashlib.blake2b(Path(rf).read_bytes(), digest_size=16).hexdigest() if rf else None,
            "rescore": cell.rescore,
            "top_k": self.top_k,
        }

    def protocol(self, ctx: EvalContext, mode: Mode) -> dict[str, Any]:
        roles = (mode.route.query, mode.route.document)
        return result_protocol(
            {
                "split": self.split,
                "hf_subsets": list(self.parts) if len(self.parts) > 1 else None,
                "subset": self.extra.get("subset", self.first.subset_spec or None),
                "n_queries": sum(d.n_queries for d in self.parts.values()),
                "n_documents": sum(d.n_docs for d in self.parts.values()),
                **{r: model_block(ctx.encoders[r]) for r in ("student", "teacher") if r in roles},
            }
        )

    def run(self, ctx: EvalContext) -> list[TaskRun]:
        t_start = time.perf_counter()
        todo = self.pending(ctx)
        run = TaskRun(task_name=self.task_name, data_fingerprint=self.fingerprint)
        run.skipped = self.n_cells(ctx) - sum(len(v) for v in todo.values())
        encoded = self._encode(ctx, todo)
        encode_time = time.perf_counter() - t_start
        for m, mode_cells in todo.items():
            q_all = [encoded[(s, m.route.query, "query")] for s in self.parts]
            d_all = [encoded[(s, m.route.document, "document")] for s in self.parts]
            self._check_one_space(ctx, m, q_all[0], d_all[0])
            for cell, (by_subset, per_query, info, seconds) in zip(
                mode_cells, self._score_mode(ctx, mode_cells, q_all, d_all)
            ):
                timing = {"encode_seconds": encode_time, "score_seconds": seconds}
                record = self._record(ctx, m, cell, q_all, d_all, info, per_query, timing)
                result = build_result(
                    self.task_name,
                    self.split,
                    None,
                    evaluation_time=sum(timing.values()),
                    leafbench=record,
                    by_subset=by_subset,
                    revision=self.revision or (self.fingerprint if is_local_copy(self.parts) else None),
                    local_copy=is_local_copy(self.parts),
                )
                run.keep(ctx, m, cell, result)
        run.encode_stats = {
            (f"{r}/{side}" if sub == "default" else f"{sub}/{r}/{side}"): res.stats
            for (sub, r, side), res in encoded.items()
        }
        return [run]

    def _encode(self, ctx: EvalContext, todo: Mapping[Mode, list[Cell]]) -> dict[tuple[str, str, str], Any]:
        """Each (subset, role, side) the pending cells need, encoded once through the store."""
        encoded: dict[tuple[str, str, str], Any] = {}
        for subset, part in self.parts.items():
            where = self.task_name if subset == "default" else f"{self.task_name}/{subset}"
            for role, side in encodings_needed(todo):
                texts = part.query_texts if side == "query" else part.corpus_texts
                progress = (
                    ctx.progress(f"{where} {role} {PLURAL.get(side, side)}", len(texts)) if ctx.progress else None
                )
                encoded[(subset, role, side)] = ctx.encoders[role].encode(texts, side, progress=progress)
        return encoded

    @staticmethod
    def _check_one_space(ctx: EvalContext, mode: Mode, q: Any, d: Any) -> None:
        qdim, ddim = q.rows.shape[1], d.rows.shape[1]
        if qdim != ddim:
            raise UserError(
                f"{mode}: query model {ctx.encoders[mode.route.query].spec.name} outputs {qdim}-d but document model "
                f"{ctx.encoders[mode.route.document].spec.name} outputs {ddim}-d; an asymmetric pair must share one "
                "space"
            )

    def _score_mode(
        self, ctx: EvalContext, cells: Sequence[Cell], q_all: Sequence[Any], d_all: Sequence[Any]
    ) -> Iterator[tuple[dict[str, dict[str, Any]], dict[str, dict[str, float]], dict[str, Any], float]]:
        """A mode's cells with their scoring seconds: one by one here; on an executor's workers all in one read
        of the rows (each cell's seconds: its share of that pass)."""
        if ctx.executor is None:
            for cell in cells:
                t0 = time.perf_counter()
                scored = self._score(ctx, [cell], q_all, d_all)[0]
                yield (*scored, time.perf_counter() - t0)
            return
        t0 = time.perf_counter()
        scored_all = self._score(ctx, cells, q_all, d_all)
        share = (time.perf_counter() - t0) / max(1, len(cells))
        for scored in scored_all:
            yield (*scored, share)

    def _score(
        self, ctx: EvalContext, cells: Sequence[Cell], q_all: Sequence[Any], d_all: Sequence[Any]
    ) -> list[tuple[dict[str, dict[str, Any]], dict[str, dict[str, float]], dict[str, Any]]]:
        """Cells scored on every subset: mteb's metrics per subset, per-query main scores, scoring info (each
        subset's rows read once for all the cells)."""
        out: list[tuple[dict[str, dict[str, Any]], dict[str, dict[str, float]], dict[str, Any]]] = [
            ({}, {}, {}) for _ in cells
        ]
        for (subset, part), qr, dr in zip(self.parts.items(), q_all, d_all):
            found = score_cells(
                qr.embeddings, dr.rows, cells, self.top_k, ctx.ranges_file, search=ctx.search, executor=ctx.executor
            )
            for j, (scores, idx, info) in enumerate(found):
                by_subset, per_query, _ = out[j]
                # Only the documents some query retrieved are named: [nq, k] ids, never the whole corpus's.
                hits, local = np.unique(idx, return_inverse=True)
                by_subset[subset] = topk_retrieval_scores(
                    part.query_ids,
                    take_items(part.corpus_ids, hits),
                    scores,
                    local.reshape(idx.shape),
                    part.qrels,
                    ignore_identical_ids=part.ignore_identical_ids,
                    # Per-query scores (for paired bootstraps) only where the main score is their plain mean.
                    per_query_out=per_query if len(self.parts) == 1 else None,
                    main_metric=self.main_metric,
                )
                out[j] = (by_subset, per_query, info)
        return out

    def _record(
        self,
        ctx: EvalContext,
        mode: Mode,
        cell: Cell,
        q_all: Sequence[Any],
        d_all: Sequence[Any],
        info: Mapping[str, Any],
        per_query: dict[str, dict[str, float]],
        timing: Mapping[str, float],
    ) -> ResultRecord:
        """The result's leafbench block: models, cell, scoring, data provenance, sizes, throughput, timing."""
        parts, first = self.parts, self.first
        q_role, d_role = mode.route.query, mode.route.document
        roots = data_roots(ctx.data_dir, [d.source for d in parts.values()])
        models = {
            r: model_block(ctx.encoders[r], roots) if r in (q_role, d_role) else None for r in ("student", "teacher")
        }
        source = first.source if len(parts) == 1 else {s: d.source for s, d in parts.items()}
        return (
            ResultRecord(
                mode=str(mode),
                task_type="Retrieval",
                **models,
                query_model=ctx.encoders[q_role].spec.name,
                document_model=ctx.encoders[d_role].spec.name,
                prompts={"query": q_all[0].prompt, "document": d_all[0].prompt},
                full_dim=int(d_all[0].rows.shape[1]),
                dim=info["dim"],
                dtype=cell.dtype,
                cell=cell.name,
                variant=cell.variant,
                calibration=info["calibration"],
                rescore=info["rescore"],
                similarity="cosine",
                scoring=info["scoring"],
                search=ctx.search,
                scored_on=info.get("scored_on"),
                top_k=self.top_k,
                main_metric=self.main_metric,
                data_source=relativize(source, roots),
                data_fingerprint=self.fingerprint,
                data_warnings=relativize(task_data_warnings(parts), roots),
                provenance=self.provenance(ctx, mode, cell),
                split=self.split,
                hf_subsets=list(parts) if len(parts) > 1 else None,
                n_queries=sum(d.n_queries for d in parts.values()),
                n_documents=sum(d.n_docs for d in parts.values()),
                ignore_identical_ids=first.ignore_identical_ids,
                throughput={
                    "query": _throughput(q_all, ctx.encoders[q_role].spec),
                    "document": _throughput(d_all, ctx.encoders[d_role].spec),
                },
                **timing,
                # Main metric per query (pytrec_eval), for paired-bootstrap intervals in reports and checks.
                per_query=per_query,
                subset=first.subset_spec or None,
            )
            .update(self.task_info)
            .update(self.extra)
        )


def evaluate_retrieval(
    data: RetrievalData | Mapping[str, RetrievalData],
    encoders: Mapping[str, EncoderLike],
    modes: Sequence[Mode | str],
    output: Path | None = None,
    run_slug: str = "x",
    *,
    top_k: int = max(K_VALUES),
    task_info: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    **context: Any,
) -> TaskRun:
    """Evaluate one retrieval task in every mode x cell; one result JSON per (mode, cell) under `output` (None:
    in memory only). `context`: the other EvalContext fields (cells, force, ranges_file, search, progress, ...)."""
    ctx = EvalContext(encoders, modes, output=output, run_slug=run_slug, **context)
    return RetrievalEvaluator(data, task_info, extra, top_k).run(ctx)[0]
