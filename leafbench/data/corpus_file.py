"""A BEIR corpus too big to hold as Python lists: validated in one streaming pass, its ids kept as a memory-mapped
Arrow column (file-backed pages, not the process's heap), its texts read again from the file, chunk by chunk,
whenever a pass needs them.

Python lists cost ~200 B per document beyond the text itself: MS MARCO's 8.8M passages are ~5 GB of lists
before a single row is encoded. A streamed corpus costs a few bytes of heap per document (a duplicate-id check
of 8 B per id, transient); its ids and texts stay in files. `load_beir_folder` streams a
corpus file of at least :data:`STREAM_MIN_BYTES` (``$LEAFBENCH_STREAM_MIN_BYTES``); the texts and ids it yields
are exactly those of the list reader, so results, fingerprints and the store's rows are shared between both. The
file may be at a URL (`data.location`): each pass then streams it from there again, in buffered reads.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import overload

import numpy as np
import pyarrow as pa

from .errors import DataError
from .location import DataPath

__all__ = ["STREAM_MIN_BYTES", "StreamedIds", "StreamedTexts", "stream_threshold", "take_items"]

#: Corpus files from this size on are streamed (64 MiB: ~200k passages of MS MARCO's length).
STREAM_MIN_BYTES = 64 << 20
STREAM_ENV = "LEAFBENCH_STREAM_MIN_BYTES"
CHUNK = 65536  # documents per chunk of a pass: bounded memory whatever the corpus size

#: reader(path, check_duplicates) -> (line number, id, document text) per document: the BEIR reader (data.beir).
DocumentReader = Callable[[DataPath, bool], Iterator[tuple[int, str, str]]]


def stream_threshold() -> int:
    """The corpus-file size from which a BEIR corpus is streamed (``$LEAFBENCH_STREAM_MIN_BYTES`` overrides)."""
    raw = os.environ.get(STREAM_ENV)
    if raw is None or raw == "":
        return STREAM_MIN_BYTES
    try:
        return int(raw)
    except ValueError:
        raise DataError(f"${STREAM_ENV}={raw!r}: expected a number of bytes") from None


class _TakeColumn(Sequence[str]):
    """A read-only column of strings whose reads go through `take` (one vectorised read or one file pass)."""

    def take(self, positions: Iterable[int]) -> list[str]:
        raise NotImplementedError

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...
    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return self.take(range(*i.indices(len(self))))
        n = len(self)
        if not -n <= i < n:
            raise IndexError(i)
        return self.take([i % n])[0]


class StreamedIds(_TakeColumn):
    """Document ids in file order, held as a memory-mapped Arrow string column in a private temporary file."""

    def __init__(self, column: pa.ChunkedArray, folder: str) -> None:
        self._col = column
        self._finalizer = weakref.finalize(self, shutil.rmtree, folder, True)

    def __len__(self) -> int:
        return len(self._col)

    def __iter__(self) -> Iterator[str]:
        for chunk in self._col.chunks:
            yield from chunk.to_pylist()

    def take(self, positions: Iterable[int]) -> list[str]:
        """The ids at `positions` (any order, repeats allowed), in one vectorised read."""
        pos = np.fromiter(positions, dtype=np.int64)
        return [str(x) for x in self._col.take(pa.array(pos)).to_pylist()]

    def positions_of(self, ids: Iterable[str]) -> dict[str, int]:
        """{id: position} for those of `ids` the corpus holds (vectorised: no dict of every id)."""
        import pyarrow.compute as pc

        wanted = pa.array(sorted(set(ids)), self._col.type)  # string or large_string: is_in needs the same
        found: dict[str, int] = {}
        offset = 0
        for chunk in self._col.chunks:
            hit = np.asarray(pc.is_in(chunk, value_set=wanted).to_numpy(zero_copy_only=False), dtype=bool)
            for j in np.nonzero(hit)[0].tolist():
                found[str(chunk[j].as_py())] = offset + j
            offset += len(chunk)
        return found


class StreamedTexts(_TakeColumn):
    """Document texts in file order, read again from the corpus file on every pass (never all in memory).

    `chunks()` is the way to read them; indexing one text costs a pass over the file, so callers that pick
    texts use `take()` (one pass for any number of positions).
    """

    def __init__(self, path: DataPath, n: int, reader: DocumentReader) -> None:
        self.path = path
        self._n = n
        self._reader = reader

    def __len__(self) -> int:
        return self._n

    def chunks(self, size: int = CHUNK) -> Iterator[list[str]]:
        """The texts in runs of `size`, in file order. Ids are not checked for repeats again: the validating pass
        did that, and the check holds every id in a dict (~1 GB for 8.8M ids) for the whole pass."""
        chunk: list[str] = []
        for _, _, text in self._reader(self.path, False):
            chunk.append(text)
            if len(chunk) >= size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def __iter__(self) -> Iterator[str]:
        for chunk in self.chunks():
            yield from chunk

    def take(self, positions: Iterable[int]) -> list[str]:
        """The texts at `positions` (any order, repeats allowed), in one pass over the file."""
        pos = np.fromiter(positions, dtype=np.int64)
        order = np.argsort(pos, kind="stable")
        out: list[str] = [""] * len(pos)
        j, base = 0, 0
        for chunk in self.chunks():
            end = base + len(chunk)
            while j < len(order) and pos[order[j]] < end:
                out[order[j]] = chunk[pos[order[j]] - base]
                j += 1
            if j == len(order):
                break
            base = end
        return out


def take_items(items: Sequence[str], positions: Sequence[int] | np.ndarray) -> list[str]:
    """`[items[i] for i in positions]`, in one vectorised read (or one pass) when `items` is streamed."""
    take = getattr(items, "take", None)
    if take is not None:
        return list(take(np.asarray(positions, dtype=np.int64).tolist()))
    return [items[i] for i in np.asarray(positions, dtype=np.int64).tolist()]


class CorpusScan:
    """What the validating pass over a corpus file learns: ids (memory-mapped), the count, empty documents."""

    def __init__(self, path: DataPath, reader: DocumentReader) -> None:
        self.path = path
        self.reader = reader
        self.empty: dict[str, int] = {}
        self._folder = tempfile.mkdtemp(prefix="leafbench-corpus-")
        self._ids_file = os.path.join(self._folder, "ids.arrow")

    def run(self) -> tuple[StreamedIds, StreamedTexts]:
        """One pass: every line validated as the list reader validates it, ids written to the Arrow file."""
        schema = pa.schema([("id", pa.string())])
        hashes: list[np.ndarray] = []
        n = 0
        try:
            with pa.OSFile(self._ids_file, "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
                ids: list[str] = []
                for lineno, doc_id, text in self.reader(self.path, False):
                    ids.append(doc_id)
                    if not text:
                        self.empty[doc_id] = lineno
                    if len(ids) >= CHUNK:
                        hashes.append(_id_hashes(ids))
                        writer.write_batch(pa.record_batch([pa.array(ids, pa.string())], schema=schema))
                        n += len(ids)
                        ids = []
                if ids:
                    hashes.append(_id_hashes(ids))
                    writer.write_batch(pa.record_batch([pa.array(ids, pa.string())], schema=schema))
                    n += len(ids)
        except BaseException:
            shutil.rmtree(self._folder, ignore_errors=True)
            raise
        if not n:
            shutil.rmtree(self._folder, ignore_errors=True)
            raise DataError(f"{self.path}: empty corpus (no documents)")
        if _has_repeats(hashes):
            shutil.rmtree(self._folder, ignore_errors=True)
            for _ in self.reader(self.path, True):  # the exact check names both lines, as the list reader does
                pass
        column = pa.ipc.open_file(pa.memory_map(self._ids_file)).read_all().column("id")
        return StreamedIds(column, self._folder), StreamedTexts(self.path, n, self.reader)


def _id_hashes(ids: list[str]) -> np.ndarray:
    return np.frombuffer(
        b"".join(hashlib.blake2b(i.encode("utf-8"), digest_size=8).digest() for i in ids), dtype=np.uint64
    )


def _has_repeats(hashes: list[np.ndarray]) -> bool:
    """Whether two ids may be equal (equal 64-bit hashes; the exact check follows only then)."""
    h = np.sort(np.concatenate(hashes)) if hashes else np.empty(0, np.uint64)
    return bool(len(h) > 1 and (h[1:] == h[:-1]).any())


def scan_corpus(path: DataPath, reader: DocumentReader) -> tuple[StreamedIds, StreamedTexts, dict[str, int]]:
    """(ids, texts, {empty document id: line}) of a corpus file, validated in one streaming pass of `reader`."""
    scan = CorpusScan(path, reader)
    ids, texts = scan.run()
    return ids, texts, scan.empty
