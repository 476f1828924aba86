"""From rows read to `RetrievalData`: qrels built from (query, doc, score) rows as mteb builds them, queries
without judgements dropped as mteb drops them, data warnings recorded; shared by every loader."""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping, Sequence
from typing import Any

from .data_warnings import strict_check, warning, where
from .errors import DataError
from .retrieval import RetrievalData

__all__ = ["QrelRow", "assemble", "build_qrels", "keep_judged_queries"]

# A qrels row: query id, corpus id, score, and where it came from (line number or None).
QrelRow = tuple[str, str, int, int | None]


def _at(lineno: int | None) -> str:
    """' at line N' for file-backed rows; nothing for rows from an in-memory dataset."""
    return f" at line {lineno}" if lineno is not None else ""


def build_qrels(
    rows: Iterable[QrelRow],
    corpus_ids: Container[str],
    query_ids: Container[str],
    origin: str,
) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, Any]]]:
    """(qid -> {docid: score} from rows whose query exists, data warnings).

    Rows pointing at unknown docs are kept, as mteb keeps them (they count as misses no
    model can retrieve), so scores stay comparable with mteb's; rows with unknown query ids
    are dropped (BEIR's GenericDataLoader crashes on them). Both are returned as data warnings
    (see :data:`WARNING_KINDS`), and are always a DataError when nothing usable is left.
    Duplicate (query, doc) rows: last one wins, as in mteb and BEIR; conflicting scores are
    a warning too.
    """
    known_docs, known_queries = corpus_ids, query_ids
    qrels: dict[str, dict[str, int]] = {}
    seen_at: dict[tuple[str, str], tuple[int, int | None]] = {}
    n_rows = 0
    unknown_docs: list[tuple[str, int | None]] = []
    unknown_queries: list[tuple[str, int | None]] = []
    conflicts: list[tuple[str, int | None]] = []
    for qid, doc_id, score, lineno in rows:
        n_rows += 1
        if qid not in known_queries:
            unknown_queries.append((qid, lineno))
            continue
        if doc_id not in known_docs:
            # Kept, as mteb keeps them: a judged-but-missing document is a miss no model can retrieve.
            unknown_docs.append((doc_id, lineno))
        prev = seen_at.get((qid, doc_id))
        if prev is not None and prev[0] != score:
            lines = f" (lines {prev[1]} and {lineno})" if lineno is not None else ""
            conflicts.append((f"query {qid!r} / doc {doc_id!r} has scores {prev[0]} and {score}{lines}", lineno))
        seen_at[(qid, doc_id)] = (score, lineno)
        qrels.setdefault(qid, {})[doc_id] = score  # last row wins, as in mteb and BEIR

    if n_rows == 0:
        raise DataError(f"{origin}: no qrels rows, so no queries left for this split")
    if not qrels or len(unknown_docs) == n_rows - len(unknown_queries):
        parts = [
            f"{len(ids)} point at unknown {kind} ids (e.g. {ids[0][0]!r}{_at(ids[0][1])})"
            for ids, kind in ((unknown_queries, "query"), (unknown_docs, "corpus"))
            if ids
        ]
        raise DataError(f"{origin}: no queries left: none of the {n_rows} qrels rows is usable ({'; '.join(parts)})")

    warns: dict[str, dict[str, Any]] = {}
    for ids, kind in ((unknown_docs, "qrels_unknown_documents"), (unknown_queries, "qrels_unknown_queries")):
        if ids:
            warns[kind] = warning(kind, len(ids), repr(ids[0][0]), where(origin, ids[0][1]))
    if conflicts:
        warns["qrels_conflicting_duplicates"] = warning(
            "qrels_conflicting_duplicates", len(conflicts), conflicts[0][0], where(origin, conflicts[0][1])
        )
    return qrels, warns


def keep_judged_queries(
    queries: Iterable[tuple[str, str]], qrels: Mapping[str, Mapping[str, int]]
) -> tuple[list[str], list[str]]:
    """Queries (in order) that have at least one qrel, as mteb keeps them.

    Mirrors ``mteb.abstasks.retrieval._filter_queries_without_positives``, which - despite
    its name - only drops queries whose qrels dict is *empty*; a query judged only with
    score 0 is kept (and scores 0). This also drops queries of other splits.
    """
    ids: list[str] = []
    texts: list[str] = []
    for qid, text in queries:
        if qrels.get(qid):
            ids.append(qid)
            texts.append(text)
    return ids, texts


def assemble(
    task_name: str,
    split: str,
    corpus: tuple[Sequence[str], Sequence[str]],
    queries: Mapping[str, str],
    rows: Iterable[QrelRow],
    origin: str,
    source: str,
    ignore_identical_ids: bool,
    strict: bool,
    empty_where: dict[str, dict[str, str]],
    known_docs: Container[str] | None = None,
) -> RetrievalData:
    """One split as `RetrievalData`: `corpus` (ids, texts), all `queries` (id -> text, file order) and the qrels
    `rows` (named by `origin` in messages); queries without judgements are dropped. ``strict``: the first data
    warning is a DataError. `known_docs`: the qrels' documents the corpus holds, when the corpus is streamed (a set
    of every id would cost what streaming saves)."""
    corpus_ids, corpus_texts = corpus
    known = set(corpus_ids) if known_docs is None else known_docs
    qrels, qrels_warnings = build_qrels(rows, known, queries, origin)
    query_ids, query_texts = keep_judged_queries(queries.items(), qrels)
    qrels = {qid: qrels[qid] for qid in query_ids}
    data = RetrievalData(task_name, split, corpus_ids, corpus_texts, query_ids, query_texts, qrels, source)
    data.ignore_identical_ids, data.qrels_warnings, data.empty_where = ignore_identical_ids, qrels_warnings, empty_where
    strict_check(data.data_warnings(), strict)
    return data
