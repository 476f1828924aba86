"""BEIR folders (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``; corpus and queries may be Parquet,
`data.beir_files`), local or at a URL (`data.location`): their file readers, which validate every line and name
file:line in a DataError, and the loader of one split of a folder."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .assembly import QrelRow, assemble
from .beir_files import data_file, file_bytes, is_parquet, iter_parquet_documents, read_parquet_queries
from .corpus_file import DocumentReader, StreamedIds, scan_corpus, stream_threshold
from .errors import DataError
from .location import DataPath, data_location, listing, source_name
from .names import known_name
from .retrieval import RetrievalData, doc_text

__all__ = ["load_beir_folder", "read_qrels", "read_queries"]

_INT_RE = re.compile(r"[+-]?[0-9]{1,9}")  # a relevance grade; pytrec_eval holds them as C ints


def _listing(folder: DataPath) -> str:
    """What a folder holds, for 'missing file' messages."""
    try:
        names = listing(folder)
    except OSError:
        return "folder is missing or unreadable"
    return "folder contains: " + (", ".join(names) if names else "nothing")


def _require_file(folder: DataPath, relpath: str) -> None:
    """Fail with the folder listing, since the usual cause is a wrong --data-dir."""
    if not (folder / relpath).is_file():
        raise DataError(f"{folder}: missing {relpath} ({_listing(folder)})")


def _data_file(folder: DataPath, stem: str) -> DataPath:
    """The folder's corpus or queries file (JSONL or Parquet); missing: the folder's listing, since the usual
    cause is a wrong --data-dir."""
    found = data_file(folder, stem)
    if found is None:
        raise DataError(f"{folder}: missing {stem}.jsonl (or {stem}.parquet, {stem}/*.parquet) ({_listing(folder)})")
    return found


def _where(path: DataPath, rows: dict[str, int]) -> dict[str, str]:
    """Rows of a corpus or queries file as warnings name them: file:line, or Parquet's row (counted over parts);
    the layout is looked up once (at a URL, a lookup is a request)."""
    if not rows:
        return {}
    parquet = is_parquet(path)
    return {k: f"{path} row {n}" if parquet else f"{path}:{n}" for k, n in rows.items()}


def _short(value: object, limit: int = 60) -> str:
    """repr() of a value, clipped so error messages stay one readable line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _decode_line(raw: bytes, path: DataPath, lineno: int) -> str:
    """One line as text: UTF-8 only (a BOM is allowed on line 1, as Python's json accepts it there)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}:{lineno}: not valid UTF-8 ({e.reason} at byte {e.start})") from None
    return text[1:] if lineno == 1 and text.startswith("\ufeff") else text


def _iter_jsonl(path: DataPath) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) per non-blank line; bad bytes or bad JSON raise DataError with file:line."""
    loads = json.loads
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            line = _decode_line(raw, path, lineno)
            try:
                obj = loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{lineno}: invalid JSON ({e.msg} at column {e.colno})") from None
            except RecursionError:
                raise DataError(f"{path}:{lineno}: invalid JSON (nested too deeply)") from None
            if type(obj) is not dict:
                raise DataError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
            yield lineno, obj


_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_unicode(value: str, key: str, path: DataPath, lineno: int) -> str:
    """JSON may spell an unpaired surrogate (``"\\ud800"``); such a string is not text any tokenizer or hash
    can take, so it is refused here, naming the line, instead of failing later without one."""
    if _SURROGATE.search(value):
        raise DataError(
            f"{path}:{lineno}: field '{key}' holds an unpaired surrogate (\\ud800-\\udfff escape): not valid Unicode"
        )
    return value


def _get_id(obj: Mapping[str, Any], path: DataPath, lineno: int) -> str:
    """The row's ``_id`` as a string (ints are accepted, like mteb's cast to string)."""
    if "_id" not in obj:
        raise DataError(f"{path}:{lineno}: missing field '_id'")
    value = obj["_id"]
    if type(value) is int:
        value = str(value)
    elif type(value) is not str:
        raise DataError(f"{path}:{lineno}: field '_id' must be a string, got {type(value).__name__}")
    if not value:
        raise DataError(f"{path}:{lineno}: field '_id' is empty")
    return _check_unicode(value, "_id", path, lineno)


def _get_str(obj: Mapping[str, Any], key: str, path: DataPath, lineno: int, optional: bool) -> str:
    """A string field; optional fields may be missing or null (read as '')."""
    value = obj.get(key)
    if value is None:
        if optional:
            return ""
        what = "missing field" if key not in obj else "null field"
        raise DataError(f"{path}:{lineno}: {what} '{key}'")
    if type(value) is not str:
        raise DataError(f"{path}:{lineno}: field '{key}' must be a string, got {type(value).__name__}")
    return _check_unicode(value, key, path, lineno)


def _rows(path: DataPath, check_duplicates: bool = True) -> Iterator[tuple[int, dict[str, Any], str]]:
    """(line number, object, its ``_id``) per row of a corpus or queries file; a repeated ``_id`` is a DataError
    (`check_duplicates`; a streamed corpus checks its ids by hash instead of holding a dict of them)."""
    first_line: dict[str, int] = {}
    for lineno, obj in _iter_jsonl(path):
        row_id = _get_id(obj, path, lineno)
        if check_duplicates:
            if row_id in first_line:
                raise DataError(f"{path}:{lineno}: duplicate _id {row_id!r} (first seen at line {first_line[row_id]})")
            first_line[row_id] = lineno
        yield lineno, obj, row_id


def iter_documents(path: DataPath, check_duplicates: bool = True) -> Iterator[tuple[int, str, str]]:
    """(line number, id, mteb-style document text) per document of a corpus file, validated."""
    for lineno, obj, doc_id in _rows(path, check_duplicates):
        text = _get_str(obj, "text", path, lineno, optional=False)
        title = _get_str(obj, "title", path, lineno, optional=True)
        yield lineno, doc_id, doc_text(title, text)


def _read_corpus(
    path: DataPath, empty: dict[str, int] | None = None, reader: DocumentReader = iter_documents
) -> tuple[list[str], list[str]]:
    """Corpus ids and mteb-style document texts, validated; ids of empty documents -> line go to `empty`."""
    ids: list[str] = []
    texts: list[str] = []
    for lineno, doc_id, text in reader(path, True):
        ids.append(doc_id)
        texts.append(text)
        if empty is not None and not text:
            empty[doc_id] = lineno
    if not ids:
        raise DataError(f"{path}: empty corpus (no documents)")
    return ids, texts


def read_queries(path: DataPath, empty: dict[str, int] | None = None) -> dict[str, str]:
    """All queries of the file (every split), id -> text, in file order; empty ones (id -> line) go to `empty`."""
    queries: dict[str, str] = {}
    for lineno, obj, qid in _rows(path):
        queries[qid] = _get_str(obj, "text", path, lineno, optional=False)
        if empty is not None and not queries[qid].strip():
            empty[qid] = lineno
    return queries


def read_qrels(path: DataPath) -> list[QrelRow]:
    """Rows of a BEIR qrels TSV (header required, as BEIR always skips line 1)."""
    rows: list[QrelRow] = []
    header_seen = False
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, 1):
            line = _decode_line(raw, path, lineno).rstrip("\r\n")
            if not line.strip():
                continue
            cols = line.split("\t")
            if len(cols) != 3:
                hint = (
                    " (TREC format 'qid 0 docid score'? BEIR needs 'query-id<TAB>corpus-id<TAB>score')"
                    if len(cols) == 1 and len(line.split()) == 4
                    else ""
                )
                raise DataError(
                    f"{path}:{lineno}: expected 3 tab-separated columns, got {len(cols)}: {_short(line)}{hint}"
                )
            # ids are used verbatim (as BEIR and mteb do); only the score is trimmed
            qid, doc_id, score = cols[0], cols[1], cols[2].strip()
            if not header_seen:
                header_seen = True
                if _INT_RE.fullmatch(score):
                    raise DataError(
                        f"{path}:{lineno}: missing header line "
                        f"'query-id<TAB>corpus-id<TAB>score' (BEIR skips the first "
                        f"line, which here is data: {_short(line)})"
                    )
                continue
            if not _INT_RE.fullmatch(score):
                raise DataError(f"{path}:{lineno}: score {_short(score)} is not an integer")
            if not qid or not doc_id:
                raise DataError(f"{path}:{lineno}: empty query-id or corpus-id")
            rows.append((qid, doc_id, int(score), lineno))
    return rows


def load_beir_folder(
    folder: DataPath | str,
    split: str = "test",
    task_name: str | None = None,
    ignore_identical_ids: bool = False,
    strict: bool = False,
    stream: bool | None = None,
) -> RetrievalData:
    """Load one split of a local BEIR folder, validating every file.

    ``task_name`` defaults to the mteb spelling of the folder name (or the folder name).
    Data warnings (empty texts, qrels naming unknown ids, conflicting duplicate qrels) are
    recorded on the result (:meth:`RetrievalData.data_warnings`); ``strict=True`` makes the
    first of them a DataError naming file:line. ``stream``: hold the corpus as `StreamedIds` / `StreamedTexts` (ids memory-mapped,
    texts read from the file per pass) instead of lists; default: from :func:`stream_threshold` bytes of corpus file.
    """
    folder = data_location(folder, "folder")
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder ({_listing(folder.parent)})")
    corpus_path = _data_file(folder, "corpus")
    queries_path = _data_file(folder, "queries")
    qrels_path = folder / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        if (folder / "qrels").is_dir():
            splits = sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))
            raise DataError(
                f"{qrels_path}: missing qrels for split {split!r} (available splits: {', '.join(splits) or 'none'})"
            )
        _require_file(folder, f"qrels/{split}.tsv")

    if task_name is None:
        task_name = known_name(folder.name)

    empty_docs: dict[str, int] = {}
    empty_queries: dict[str, int] = {}
    if stream is None:
        stream = file_bytes(corpus_path) >= stream_threshold()
    reader = iter_parquet_documents if is_parquet(corpus_path) else iter_documents
    corpus: tuple[Sequence[str], Sequence[str]]
    if stream:
        ids, texts, empty_docs = scan_corpus(corpus_path, reader)
        corpus = (ids, texts)
    else:
        corpus = _read_corpus(corpus_path, empty_docs, reader)
    read_q = read_parquet_queries if is_parquet(queries_path) else read_queries
    all_queries = read_q(queries_path, empty_queries)
    qrel_rows = read_qrels(qrels_path)
    # The qrels' documents the corpus holds: a streamed corpus answers that without a set of every id.
    known_docs = (
        set(corpus[0].positions_of(row[1] for row in qrel_rows)) if isinstance(corpus[0], StreamedIds) else None
    )
    empty_where = {
        "empty_queries": _where(queries_path, empty_queries),
        "empty_documents": _where(corpus_path, empty_docs),
    }
    return assemble(
        task_name,
        split,
        corpus,
        all_queries,
        qrel_rows,
        str(qrels_path),
        source_name(folder),
        ignore_identical_ids,
        strict,
        empty_where,
        known_docs,
    )
