"""mteb's own split data (``task.dataset[subset][split]``, a ``RetrievalSplitData``) as `RetrievalData`, with the
texts built the way mteb feeds them to models."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .arrow_corpus import arrow_corpus
from .assembly import assemble
from .errors import DataError
from .retrieval import RetrievalData, doc_text

__all__ = ["retrieval_data_from_mteb_split"]


def _column(ds: Any, name: str) -> list[Any] | None:
    """A column of a datasets.Dataset (or dict of lists) as a list; None if absent."""
    names = getattr(ds, "column_names", None)
    if names is None:
        names = list(ds.keys()) if isinstance(ds, Mapping) else []
    if name not in names:
        return None
    return list(ds[name])


def _columns(ds: Any, what: str, origin: str) -> tuple[list[Any], list[Any]]:
    """The 'id' and 'text' columns of mteb's corpus or queries; DataError naming the columns there are."""
    ids, texts = _column(ds, "id"), _column(ds, "text")
    if ids is None or texts is None:
        need = "needs" if what == "corpus" else "need"
        raise DataError(f"{origin}: {what} {need} columns 'id' and 'text' (has {getattr(ds, 'column_names', '?')})")
    return ids, texts


#: What a non-text row of mteb's corpus / queries is called in the error (after "<origin>: ").
_NOT_TEXT = {
    "corpus": "corpus row {i} has non-text 'text' ({kind}); only text tasks are supported",
    "query": "query row {i} is not plain text ({kind}); conversations are not supported",
}


def _rows(columns: tuple[list[Any], list[Any]], what: str, origin: str) -> Iterator[tuple[int, str, str]]:
    """(row, id as a string, text) per row of mteb's corpus or queries (`what`: "corpus" or "query"); a repeated id
    or a text that is not a string is a DataError naming the row."""
    seen: set[str] = set()
    for i, (row_id, text) in enumerate(zip(*columns)):
        row_id = str(row_id)
        if row_id in seen:
            raise DataError(f"{origin}: duplicate {what} id {row_id!r} (row {i})")
        if not isinstance(text, str):
            raise DataError(f"{origin}: " + _NOT_TEXT[what].format(i=i, kind=type(text).__name__))
        seen.add(row_id)
        yield i, row_id, text


def _corpus(
    corpus: Any, columns: tuple[list[Any], list[Any]], origin: str, empty: dict[str, str]
) -> tuple[list[str], list[str]]:
    """(ids, mteb-style document texts) of mteb's corpus, validated; empty documents (id -> row) go to `empty`."""
    c_titles = _column(corpus, "title") or [None] * len(columns[0])
    corpus_ids: list[str] = []
    corpus_texts: list[str] = []
    for title, (i, doc_id, text) in zip(c_titles, _rows(columns, "corpus", origin)):
        corpus_ids.append(doc_id)
        corpus_texts.append(doc_text(title, text))
        if not corpus_texts[-1]:
            empty[doc_id] = f"{origin} corpus row {i}"
    if not corpus_ids:
        raise DataError(f"{origin}: empty corpus (no documents)")
    return corpus_ids, corpus_texts


def _queries(queries: Any, columns: tuple[list[Any], list[Any]], origin: str, empty: dict[str, str]) -> dict[str, str]:
    """mteb's queries, id -> text with its instruction (as mteb combines them); empty ones (id -> row) to `empty`."""
    q_instr = _column(queries, "instruction")
    query_pairs: dict[str, str] = {}
    for i, qid, text in _rows(columns, "query", origin):
        instruction = q_instr[i] if q_instr is not None else None
        # mteb._create_dataloaders._combine_queries_with_instruction_text
        query_pairs[qid] = text + " " + instruction if instruction is not None else text
        if not query_pairs[qid].strip():
            empty[qid] = f"{origin} queries row {i}"
    return query_pairs


def retrieval_data_from_mteb_split(
    task_name: str,
    split: str,
    split_data: Mapping[str, Any],
    source: str,
    ignore_identical_ids: bool,
    strict: bool = False,
) -> RetrievalData:
    """Convert mteb's v2 split data (``task.dataset[subset][split]``) to RetrievalData.

    ``split_data`` is mteb's ``RetrievalSplitData``: ``corpus`` (Dataset: id, text,
    optional title), ``queries`` (Dataset: id, text, optional instruction),
    ``relevant_docs`` (qid -> {docid: score}) and ``top_ranked`` (None for retrieval).
    Texts are built the way mteb feeds them to models. A corpus Dataset stays Arrow-backed (`arrow_corpus`: ids
    and texts read from its memory-mapped table per pass, not Python lists); anything else is read as lists.
    """
    origin = f"{source} [{split}]"
    for key in ("corpus", "queries", "relevant_docs"):
        if key not in split_data:
            raise DataError(f"{origin}: mteb split data has no {key!r} (keys: {sorted(split_data)})")
    if split_data.get("top_ranked"):
        raise DataError(f"{origin}: reranking tasks (with top_ranked) are not supported")
    empty_docs: dict[str, str] = {}
    empty_queries: dict[str, str] = {}
    c_data, q_data = split_data["corpus"], split_data["queries"]
    arrow = arrow_corpus(c_data, origin, empty_docs)
    c_columns = None if arrow else _columns(c_data, "corpus", origin)
    q_columns = _columns(q_data, "queries", origin)
    corpus: tuple[Sequence[str], Sequence[str]] = arrow or _corpus(c_data, c_columns, origin, empty_docs)  # type: ignore[arg-type]
    queries = _queries(q_data, q_columns, origin, empty_queries)
    rows = [
        (str(qid), str(doc_id), int(score), None)
        for qid, docs in split_data["relevant_docs"].items()
        for doc_id, score in docs.items()
    ]
    # The qrels' documents an Arrow corpus holds, found without a set of every id.
    known_docs = set(arrow[0].positions_of(row[1] for row in rows)) if arrow else None
    empty_where = {"empty_queries": empty_queries, "empty_documents": empty_docs}
    return assemble(
        task_name, split, corpus, queries, rows, origin, source, ignore_identical_ids, strict, empty_where, known_docs
    )
