"""Which files hold a BEIR folder's corpus and queries, and the Parquet readers.

A BEIR folder's corpus is ``corpus.jsonl`` (BEIR's zips) or Parquet: ``corpus.parquet``, or a ``corpus/`` folder
of Parquet parts read in name order (how dataset repos on the hub keep big corpora); queries likewise. A Parquet
file is checked as strictly as a JSONL line: an id column (``_id``, or ``id`` as mteb's v2 datasets name it) of
strings or integers, a string ``text`` and an optional string ``title``; a null text, an empty or repeated id is a
DataError naming the part file and its row. Rows are numbered from 1 over the whole corpus (across parts), which
is what a document's "line" means for Parquet in warnings. The folder may be local or at a URL (`data.location`);
Parquet files at a URL are read through its pyarrow filesystem.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .errors import DataError
from .location import DataPath, arrow_source, file_size

__all__ = [
    "data_file",
    "file_bytes",
    "is_parquet",
    "iter_parquet_documents",
    "parquet_columns",
    "parquet_parts",
    "read_parquet_queries",
]

BATCH_ROWS = 65536  # Parquet rows decoded at a time: bounded memory whatever the corpus size


def data_file(folder: DataPath, stem: str) -> DataPath | None:
    """``<stem>.jsonl``, ``<stem>.parquet`` or a ``<stem>/`` folder of Parquet parts, the first that exists."""
    for candidate in (folder / f"{stem}.jsonl", folder / f"{stem}.parquet"):
        if candidate.is_file():
            return candidate
    parts = folder / stem
    if parts.is_dir() and any(parts.glob("*.parquet")):
        return parts
    return None


def is_parquet(path: DataPath) -> bool:
    """A Parquet file or folder of parts (never asks the filesystem about a ``.jsonl``: at a URL that is a request)."""
    return path.suffix == ".parquet" or (path.suffix != ".jsonl" and path.is_dir())


def parquet_parts(path: DataPath) -> list[DataPath]:
    """A Parquet corpus's files: itself, or a folder's parts in name order."""
    return sorted(path.glob("*.parquet")) if path.is_dir() else [path]


def file_bytes(path: DataPath) -> int:
    """A corpus's size as it is read: the file's bytes for JSONL, the uncompressed column bytes for Parquet (what
    decides whether it is streamed)."""
    if not is_parquet(path):
        return file_size(path)
    total = 0
    for part in parquet_parts(path):
        meta = _open(part).metadata
        total += sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    return total


def _open(part: DataPath) -> pq.ParquetFile:
    source, filesystem = arrow_source(part)
    try:
        return pq.ParquetFile(source, filesystem=filesystem)
    except (OSError, pa.ArrowException) as e:
        raise DataError(f"{part}: not a readable Parquet file ({e})") from None


def parquet_columns(path: DataPath) -> tuple[str, str | None]:
    """(id column, title column or None) of a Parquet corpus or queries file, its types checked."""
    schema = _open(parquet_parts(path)[0]).schema_arrow
    names = schema.names
    id_col = "_id" if "_id" in names else "id" if "id" in names else None
    if id_col is None:
        raise DataError(f"{parquet_parts(path)[0]}: no id column ('_id' or 'id'; columns: {', '.join(names)})")
    if "text" not in names:
        raise DataError(f"{parquet_parts(path)[0]}: no 'text' column (columns: {', '.join(names)})")
    kinds = {id_col: ("string", "integer"), "text": ("string",), "title": ("string",)}
    for col, ok in kinds.items():
        if col not in names:
            continue
        t = schema.field(col).type
        is_str = pa.types.is_string(t) or pa.types.is_large_string(t)
        if not (is_str or ("integer" in ok and pa.types.is_integer(t))):
            raise DataError(f"{parquet_parts(path)[0]}: column '{col}' must be {' or '.join(ok)}, got {t}")
    return id_col, "title" if "title" in names else None


def _rows(
    path: DataPath, with_title: bool
) -> Iterator[tuple[DataPath, int, int, list[Any], list[Any], list[Any] | None]]:
    """(part, first row number in the corpus, first row in the part, ids, texts, titles) per decoded batch."""
    id_col, title_col = parquet_columns(path)
    cols = [id_col, "text", *([title_col] if with_title and title_col else [])]
    base = 0
    for part in parquet_parts(path):
        pf = _open(part)
        got = set(pf.schema_arrow.names)
        if id_col not in got or "text" not in got:
            raise DataError(f"{part}: columns {', '.join(pf.schema_arrow.names)}; the first part has {id_col}, text")
        in_part = 0
        try:
            for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=[c for c in cols if c in got]):
                d = batch.to_pydict()
                titles = d.get(title_col) if with_title and title_col else None
                yield part, base + in_part + 1, in_part + 1, d[id_col], d["text"], titles
                in_part += batch.num_rows
        except UnicodeDecodeError as e:
            raise DataError(f"{part}: a string column is not valid UTF-8 ({e.reason})") from None
        except (OSError, pa.ArrowException) as e:
            raise DataError(f"{part}: unreadable after row {in_part} ({e})") from None
        base += in_part


def _check_id(value: Any, part: DataPath, row: int) -> str:
    if value is None or value == "":
        raise DataError(f"{part}: row {row}: {'null' if value is None else 'empty'} id")
    return str(value)


def iter_parquet_documents(path: DataPath, check_duplicates: bool = True) -> Iterator[tuple[int, str, str]]:
    """(row number, id, mteb-style document text) per document of a Parquet corpus, validated (the JSONL
    reader's contract, `data.corpus_file.DocumentReader`)."""
    from .retrieval import doc_text

    first: dict[str, tuple[DataPath, int]] = {}
    for part, start, part_start, ids, texts, titles in _rows(path, with_title=True):
        for i, (raw_id, text) in enumerate(zip(ids, texts)):
            doc_id = _check_id(raw_id, part, part_start + i)
            if text is None:
                raise DataError(f"{part}: row {part_start + i}: null field 'text'")
            if check_duplicates:
                if doc_id in first:
                    was = first[doc_id]
                    raise DataError(
                        f"{part}: row {part_start + i}: duplicate id {doc_id!r} (first: {was[0]} row {was[1]})"
                    )
                first[doc_id] = (part, part_start + i)
            title = titles[i] if titles is not None else None
            yield start + i, doc_id, doc_text(title or "", text)


def read_parquet_queries(path: DataPath, empty: dict[str, int] | None = None) -> dict[str, str]:
    """All queries of a Parquet file (or folder of parts), id -> text, in file order; empty ones -> row number."""
    queries: dict[str, str] = {}
    for part, start, part_start, ids, texts, _ in _rows(path, with_title=False):
        for i, (raw_id, text) in enumerate(zip(ids, texts)):
            qid = _check_id(raw_id, part, part_start + i)
            if text is None:
                raise DataError(f"{part}: row {part_start + i}: null field 'text'")
            if qid in queries:
                raise DataError(f"{part}: row {part_start + i}: duplicate id {qid!r}")
            queries[qid] = text
            if empty is not None and not text.strip():
                empty[qid] = start + i
    return queries
