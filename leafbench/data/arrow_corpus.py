"""A hub task's corpus kept as the Arrow table mteb loaded it into (a `datasets.Dataset`, memory-mapped from the
Hugging Face cache) instead of Python lists: the same interface as a streamed corpus file (`corpus_file`), so
encoders, the store, fingerprints and scoring read it chunk by chunk and the driver never holds every text.

Document texts are built from the ``title`` and ``text`` columns with pyarrow compute, exactly as
`retrieval.doc_text` builds them (title + " " + text when the title is non-empty, stripped of what Python's
``str.strip`` strips), so ids, texts, fingerprints, store rows and scores equal the list path's. A corpus the Arrow
path cannot read exactly as the list path does (non-string columns, nulls, repeated ids, an index mapping left by
``select``/``shuffle``) returns None here, and the list path reads (or refuses) it with its own messages.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .corpus_file import CHUNK, StreamedIds, StreamedTexts

__all__ = ["ArrowIds", "ArrowTexts", "arrow_corpus"]

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


class ArrowIds(StreamedIds):
    """Document ids as an Arrow string column of the task's table (no temporary file: the table owns them)."""

    def __init__(self, column: pa.ChunkedArray) -> None:
        self._col = column


class ArrowTexts(StreamedTexts):
    """Document texts built from the table's ``title`` / ``text`` columns chunk by chunk, never all at once."""

    def __init__(self, columns: pa.Table) -> None:
        super().__init__(None, columns.num_rows, None)  # type: ignore[arg-type]  # no file: `path` None
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
    columns = table.select([c for c in ("title", "text") if c in table.column_names])
    ids, texts = ArrowIds(table.column("id")), ArrowTexts(columns)
    for start in range(0, table.num_rows, CHUNK):
        lengths = pc.binary_length(doc_texts(columns.slice(start, CHUNK)))
        hits = np.nonzero(np.asarray(pc.equal(lengths, 0).to_numpy(), dtype=bool))[0]
        for i, doc_id in zip((start + hits).tolist(), ids.take((start + hits).tolist())):
            empty[doc_id] = f"{origin} corpus row {i}"
    return ids, texts
