"""A hub task's corpus kept as the Arrow table mteb loaded it into (a `datasets.Dataset`, memory-mapped from the
Hugging Face cache) instead of Python lists: the same interface as a streamed corpus file (`corpus_file`), so
encoders, the store, fingerprints and scoring read it chunk by chunk and the driver never holds every text.

Document texts are built from the ``title`` and ``text`` columns with pyarrow compute, exactly as
`retrieval.doc_text` builds them (title + " " + text when the title is non-empty, stripped of what Python's
``str.strip`` strips), so ids, texts, fingerprints, store rows and scores equal the list path's. A corpus the Arrow
path cannot read exactly as the list path does (non-string columns, nulls, repeated ids, an index mapping left by
``select``/``shuffle``) returns None here, and the list path reads (or refuses) it with its own messages.

A Dataset memory-mapped from cache files also names them (`ArrowFiles`, the texts' ``path``), so Ray workers read
the rows from those files themselves (`leafbench.ray_corpus`) instead of being shipped texts by the driver.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .corpus_file import CHUNK, StreamedIds, StreamedTexts

__all__ = ["ArrowFiles", "ArrowIds", "ArrowTexts", "arrow_corpus", "read_arrow_slice"]

_STRING_TYPES = (pa.string(), pa.large_string())


@functools.cache
def _python_whitespace() -> str:
    """Every character Python's ``str.strip()`` removes (``str.isspace``), for pyarrow's `utf8_trim`."""
    return "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace())


def doc_texts(columns: pa.Table) -> pa.ChunkedArray:
    """`doc_text(title, text)` of every row of `columns` (``text``, optional ``title``), vectorised."""
    text = columns.column("text")
    if "title" in columns.column_names and columns.column("title").type != pa.null():
        title = columns.column("title")
        has_title = pc.fill_null(pc.greater(pc.binary_length(title), 0), False)
        text = pc.if_else(has_title, pc.binary_join_element_wise(title, text, " "), text)
    return pc.utf8_trim(text, characters=_python_whitespace())


@dataclass(frozen=True)
class ArrowFiles:
    """The Arrow cache files (IPC streams) a Dataset's table is the concatenation of, in table order, with their
    row counts and the text columns: what Ray workers read themselves."""

    files: tuple[str, ...]
    rows: tuple[int, ...]
    columns: tuple[str, ...]

    def __str__(self) -> str:
        more = f" (+{len(self.files) - 1} files)" if len(self.files) > 1 else ""
        return self.files[0] + more

    def slices(self, size: int = CHUNK) -> list[dict[str, Any]]:
        """Row ranges of at most `size` rows, file by file: one read task each."""
        return [
            {"file": f, "start": start, "stop": min(start + size, n)}
            for f, n in zip(self.files, self.rows)
            for start in range(0, n, size)
        ]


def read_arrow_slice(file: str, start: int, stop: int, columns: Iterable[str]) -> pa.Table:
    """Rows ``start:stop`` of `columns` of one Arrow cache file, memory-mapped (datasets writes IPC streams)."""
    table = pa.ipc.open_stream(pa.memory_map(file)).read_all()  # zero-copy: pages are read as they are used
    return table.select(list(columns)).slice(start, stop - start)


def _arrow_files(ds: Any, table: pa.Table, columns: tuple[str, ...]) -> ArrowFiles | None:
    """The cache files `table` is read from, when their schemas, row counts and boundary ids match it; else None
    (an in-memory Dataset, or a table changed after it was read: workers are then given texts by the driver)."""
    files = tuple(str(f.get("filename")) for f in getattr(ds, "cache_files", None) or [] if f.get("filename"))
    if not files:
        return None
    rows, offset, ids = [], 0, table.column("id")
    try:
        for f in files:
            part = pa.ipc.open_stream(pa.memory_map(f)).read_all()
            if any(
                c not in part.column_names or part.schema.field(c).type != table.schema.field(c).type
                for c in ("id", *columns)
            ):
                return None
            n = part.num_rows
            if n and (
                offset + n > len(ids)
                or part.column("id")[0] != ids[offset]
                or part.column("id")[n - 1] != ids[offset + n - 1]
            ):
                return None
            rows.append(n)
            offset += n
    except (OSError, pa.ArrowInvalid):
        return None
    return ArrowFiles(files, tuple(rows), columns) if offset == table.num_rows else None


class ArrowIds(StreamedIds):
    """Document ids as an Arrow string column of the task's table (no temporary file: the table owns them)."""

    def __init__(self, column: pa.ChunkedArray) -> None:
        self._col = column


class ArrowTexts(StreamedTexts):
    """Document texts built from the table's ``title`` / ``text`` columns chunk by chunk, never all at once."""

    def __init__(self, columns: pa.Table, files: ArrowFiles | None = None) -> None:
        super().__init__(files, columns.num_rows, None)  # type: ignore[arg-type]  # `path`: the cache files, if any
        self._table = columns

    def chunks(self, size: int = CHUNK) -> Iterator[list[str]]:
        """The texts in runs of `size` (zero-copy slices of the table), in table order."""
        for start in range(0, self._n, size):
            yield doc_texts(self._table.slice(start, size)).to_pylist()

    def take(self, positions: Iterable[int]) -> list[str]:
        """The texts at `positions` (any order, repeats allowed), in one vectorised read."""
        pos = pa.array(np.fromiter(positions, dtype=np.int64), pa.int64())
        return doc_texts(self._table.take(pos)).to_pylist()


def _arrow_table(ds: Any) -> pa.Table | None:
    """The Arrow table behind a `datasets.Dataset` whose rows are the table's rows; None for anything else."""
    if getattr(ds, "_indices", None) is not None:  # select/shuffle/filter left a mapping: rows != table rows
        return None
    table = getattr(getattr(ds, "data", None), "table", None)
    return table if isinstance(table, pa.Table) else None


def _readable(table: pa.Table) -> bool:
    """Whether the Arrow path gives exactly the list path's ids and texts (else the list path reads or refuses)."""
    names = table.column_names
    if "id" not in names or "text" not in names or table.num_rows == 0:
        return False
    ids, text = table.column("id"), table.column("text")
    if ids.type not in _STRING_TYPES or text.type not in _STRING_TYPES or ids.null_count or text.null_count:
        return False
    if "title" in names and table.column("title").type not in (*_STRING_TYPES, pa.null()):
        return False
    return pc.count_distinct(ids).as_py() == table.num_rows  # a repeat: the list path names its row


def arrow_corpus(corpus: Any, origin: str, empty: dict[str, str]) -> tuple[ArrowIds, ArrowTexts] | None:
    """(ids, texts) of mteb's corpus Dataset kept as Arrow, validated in one chunked pass; empty documents
    (id -> row) go to `empty`, named as the list path names them. None: read it as lists instead."""
    table = _arrow_table(corpus)
    if table is None or not _readable(table):
        return None
    names = tuple(c for c in ("title", "text") if c in table.column_names)
    columns = table.select(list(names))
    ids, texts = ArrowIds(table.column("id")), ArrowTexts(columns, _arrow_files(corpus, table, names))
    for start in range(0, table.num_rows, CHUNK):
        lengths = pc.binary_length(doc_texts(columns.slice(start, CHUNK)))
        hits = np.nonzero(np.asarray(pc.equal(lengths, 0).to_numpy(), dtype=bool))[0]
        for i, doc_id in zip((start + hits).tolist(), ids.take((start + hits).tolist())):
            empty[doc_id] = f"{origin} corpus row {i}"
    return ids, texts
