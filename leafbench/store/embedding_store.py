"""The store facade: `EmbeddingStore`, per-text float32 embeddings on disk, one space per `EncodingKey` (see the
package docstring); it serves text lists from the rows already there and encodes only the texts a space lacks."""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import resource_error_message
from .errors import StoreError
from .index import SpaceIndex
from .keys import KEY_BYTES, EncodingKey, scratch, text_keys
from .legacy import import_v1
from .maintenance import StoreMaintenance
from .rows import EncodeStats, RowsBase, StoredRows, encode_stats
from .shards import (
    DEFAULT_FLUSH_SECONDS,
    DEFAULT_SHARD_SIZE,
    STORE_FORMAT,
    RowBuffer,
    ShardWriter,
    atomic_write_bytes,
)

log = logging.getLogger("leafbench.store")

__all__ = ["EmbeddingStore", "EncodeFn", "TextStore"]

# A batch encoder returns (embeddings [n, dim] float32, number of tokens it processed).
EncodeFn = Callable[[list[str]], tuple[np.ndarray, int]]
# Workers encoding a streamed corpus from its file: (key, texts, their keys, progress) -> (texts encoded, tokens).
FileEngine = Callable[[EncodingKey, Any, np.ndarray, Callable[[int], None] | None], tuple[int, int]]


class TextStore:
    """What every store format shares: serving text lists from the rows a space holds and encoding only the texts
    it lacks. A format provides `writer`, `_locate`, `_rows` and `_where` (and may import older data first in
    `_before_encode`)."""

    store_format = ""  # the format's name (formats.STORE_BACKENDS): what a Ray actor opens

    def __init__(self, shard_size: int = DEFAULT_SHARD_SIZE, flush_seconds: float = DEFAULT_FLUSH_SECONDS) -> None:
        self.shard_size = shard_size
        self.flush_seconds = flush_seconds
        # Texts encoded / served from disk by this process: the "encoded vs reused" line of a run.
        self.n_encoded = 0
        self.n_served = 0
        self.warnings: list[str] = []  # corrupt data found (each also logged)

    def _warn(self, msg: str) -> None:
        log.info(msg)  # callers surface `warnings` themselves (the CLI prints each once)
        self.warnings.append(msg)

    def writer(self, key: EncodingKey) -> RowBuffer:
        raise NotImplementedError

    def _locate(self, key: EncodingKey, keys: np.ndarray) -> tuple[np.ndarray, Any]:
        """(mask of the keys with no row, what `_rows` needs to read the others)."""
        raise NotImplementedError

    def _rows(self, key: EncodingKey, located: Any) -> RowsBase:
        raise NotImplementedError

    def _where(self, key: EncodingKey) -> str:
        """The space's location, for messages."""
        raise NotImplementedError

    def _before_encode(self, key: EncodingKey, texts: list[str], keys: np.ndarray) -> None:
        """Bring rows kept in an older layout for these texts into the space (nothing by default)."""

    # ------------------------------------------------------------------------------------------ reads

    def missing(self, key: EncodingKey, texts: Sequence[str], keys: np.ndarray | None = None) -> list[str]:
        """The distinct texts of `texts` that have no row in the key's space yet (in first-seen order); `keys`:
        their `text_keys`, when the caller has them already."""
        keys = text_keys(texts) if keys is None else keys
        absent, _ = self._locate(key, keys)
        out, seen = [], set()
        for i in np.nonzero(absent)[0]:
            k = keys[i].tobytes()
            if k not in seen:
                seen.add(k)
                out.append(texts[i])
        return out

    def absent(self, key: EncodingKey, keys: np.ndarray) -> np.ndarray:
        """Which of `keys` ([n, 16] text keys) have no row in the key's space yet (a bool mask)."""
        return self._locate(key, keys)[0]

    def rows(self, key: EncodingKey, texts: Sequence[str], keys: np.ndarray | None = None) -> RowsBase:
        """The stored rows of `texts`, in order; StoreError naming the count if any text has none."""
        keys = text_keys(texts) if keys is None else keys
        absent, located = self._locate(key, keys)
        if absent.any():
            raise StoreError(f"{int(absent.sum())} of {len(texts)} texts have no row in {self._where(key)}")
        return self._rows(key, located)

    # ------------------------------------------------------------------------------------------ encode

    def get_or_encode(
        self,
        key: EncodingKey,
        texts: Sequence[str],
        encode: EncodeFn,
        progress: Callable[[int], None] | None = None,
        piece_seconds: float = 5.0,
        prepare: Callable[[], object] | None = None,
        engine: Callable[[EncodingKey, list[str], Callable[[int], None] | None], int] | None = None,
        batch_size: int = 1,
        file_engine: FileEngine | None = None,
    ) -> tuple[RowsBase, EncodeStats]:
        """Rows for `texts`, encoding only the texts the space lacks (committed as it goes).

        `progress(n)` is called with the number of texts newly available (stored ones first), so a caller's
        progress bar shows the whole job. Missing texts are fed to `encode` in pieces sized to take about
        `piece_seconds`, so rows reach disk at least every `flush_seconds`. `prepare()` runs only when something
        must be encoded (loading the model); `engine(key, todo, progress)` replaces this process's encoding loop
        (it must write the rows into this store, e.g. through `writer()`) and returns the tokens processed.
        `file_engine(key, texts, keys, progress)`: for a streamed corpus, workers that read its file themselves and encode
        what the space lacks (`leafbench.ray_corpus`); returns (texts encoded, tokens).
        """
        t0 = time.perf_counter()
        if hasattr(texts, "chunks"):  # a streamed corpus: hashed, looked up and encoded chunk by chunk
            if file_engine is not None and getattr(texts, "path", None) is not None:
                return self._get_or_encode_file(key, texts, file_engine, progress)
            return self._get_or_encode_streamed(
                key, texts, encode, progress, piece_seconds, prepare, engine, batch_size
            )
        texts = list(texts)
        keys = text_keys(texts)
        self._before_encode(key, texts, keys)
        todo = self.missing(key, texts, keys)  # the list is hashed once per call
        if progress:
            progress(len(texts) - len(todo) if todo else len(texts))
        n_tokens = 0
        if todo and engine is not None:
            n_tokens = engine(key, todo, progress)
        elif todo:
            if prepare is not None:
                prepare()
            n_tokens = self.encode_missing(key, todo, encode, piece_seconds=piece_seconds, batch_size=batch_size)
        rows = self.rows(key, texts, keys)
        n_enc = len(todo)
        self.n_encoded += n_enc
        self.n_served += len(texts) - n_enc
        return rows, encode_stats(key.space(), rows, n_enc, n_tokens, time.perf_counter() - t0)

    def _get_or_encode_streamed(
        self,
        key: EncodingKey,
        texts: Any,
        encode: EncodeFn,
        progress: Callable[[int], None] | None,
        piece_seconds: float,
        prepare: Callable[[], object] | None,
        engine: Callable[[EncodingKey, list[str], Callable[[int], None] | None], int] | None,
        batch_size: int,
    ) -> tuple[RowsBase, EncodeStats]:
        """`get_or_encode` for texts read in chunks (`texts.chunks(n)`, e.g. a `StreamedTexts`): each chunk's missing
        texts are encoded before the next chunk is read, so memory holds one chunk of texts whatever the corpus
        size. A text repeated across chunks is encoded once: each chunk is looked up again after the previous one
        was committed."""

        def encode_absent(keys: np.ndarray, absent: np.ndarray) -> tuple[int, int]:
            n_tokens = n_enc = start = 0
            prepared = False
            for chunk in texts.chunks(STREAM_CHUNK):
                mask = absent[start : start + len(chunk)]
                if mask.any():
                    pick = np.nonzero(mask)[0]
                    todo = self.missing(key, [chunk[i] for i in pick], np.asarray(keys[start + pick]))
                    if progress:
                        progress(len(pick) - len(todo))
                    if todo and engine is not None:
                        n_tokens += engine(key, todo, progress)
                    elif todo:
                        if prepare is not None and not prepared:
                            prepare()
                            prepared = True
                        n_tokens += self.encode_missing(key, todo, encode, piece_seconds, batch_size)
                    n_enc += len(todo)
                start += len(chunk)
            return n_enc, n_tokens

        return self._get_or_encode_keyed(key, texts, encode_absent, progress, counts_stored=True)

    def _get_or_encode_file(
        self, key: EncodingKey, texts: Any, file_engine: FileEngine, progress: Callable[[int], None] | None
    ) -> tuple[RowsBase, EncodeStats]:
        """A streamed corpus encoded by workers reading its file: this process only hashes it to serve the rows
        (the workers' progress counts every document they read, stored or not)."""
        return self._get_or_encode_keyed(
            key, texts, lambda keys, _: file_engine(key, texts, keys, progress), progress, counts_stored=False
        )

    def _get_or_encode_keyed(
        self,
        key: EncodingKey,
        texts: Any,
        encode_absent: Callable[[np.ndarray, np.ndarray], tuple[int, int]],
        progress: Callable[[int], None] | None,
        counts_stored: bool,
    ) -> tuple[RowsBase, EncodeStats]:
        """What the two streamed paths share: the texts' keys in a file-backed array (16 B per text of page cache,
        not heap), one lookup, `encode_absent(keys, absent mask) -> (encoded, tokens)` only when something is
        missing, and the rows served from that same lookup when nothing was (a warm run locates once)."""
        t0 = time.perf_counter()
        keys = _file_backed_keys(texts)
        absent, located = self._locate(key, keys)
        n_absent = int(absent.sum())
        if progress and (counts_stored or not n_absent):
            progress(len(keys) - n_absent)
        n_enc, n_tokens = encode_absent(keys, absent) if n_absent else (0, 0)
        rows = self.rows(key, texts, keys) if n_absent else self._rows(key, located)
        self.n_encoded += n_enc
        self.n_served += len(keys) - n_enc
        return rows, encode_stats(key.space(), rows, n_enc, n_tokens, time.perf_counter() - t0)

    def encode_missing(
        self,
        key: EncodingKey,
        todo: Sequence[str],
        encode: EncodeFn,
        piece_seconds: float = 5.0,
        batch_size: int = 1,
    ) -> int:
        """Encode `todo` (texts known to be missing) into the space; returns the tokens processed.

        Texts go in windows of `shard_size` of the list, each window longest first (as sentence-transformers
        sorts a list), in pieces that are whole multiples of the encoder's `batch_size` while the model is fast
        enough: a list of up to `shard_size` texts is batched exactly as `SentenceTransformer.encode` batches it
        (so its floats match bit for bit), and a window's rows stay in a shard or two (reads stay local). A
        slow model (a CPU teacher: <1 text/s) gets smaller pieces, so a kill loses seconds, not a batch.
        Rows buffered when an exception (e.g. Ctrl-C) interrupts are committed before it propagates.
        """
        writer = self.writer(key)
        n_tokens, piece = 0, max(1, batch_size)
        try:
            for w in range(0, len(todo), self.shard_size):
                window = list(todo[w : w + self.shard_size])
                order = sorted(range(len(window)), key=lambda i: -len(window[i]))
                start = 0
                while start < len(order):
                    chunk = [window[i] for i in order[start : start + piece]]
                    ts = time.perf_counter()
                    emb, toks = encode(chunk)
                    dt = time.perf_counter() - ts
                    writer.add(text_keys(chunk), emb, dt, toks)
                    n_tokens += int(toks)
                    start += len(chunk)
                    # Next piece sized to take about piece_seconds at the rate just measured.
                    want = len(chunk) / max(dt, 1e-6) * piece_seconds
                    piece = int(
                        min(want // batch_size * batch_size if want >= batch_size else max(1, want), self.shard_size)
                    )
        finally:
            writer.flush()
        return n_tokens


STREAM_CHUNK = 65536  # texts of a streamed corpus hashed / encoded at a time


def _file_backed_keys(texts: Any) -> np.ndarray:
    """The `text_keys` of a streamed text column, in a file-backed scratch array (page cache, not heap)."""
    keys = scratch((len(texts), KEY_BYTES), np.uint8)
    start = 0
    for chunk in texts.chunks(STREAM_CHUNK):
        keys[start : start + len(chunk)] = text_keys(chunk)
        start += len(chunk)
    if start != len(keys):
        raise StoreError(
            f"{getattr(texts, 'path', 'texts')}: {start} texts read, {len(keys)} expected (changed while read?)"
        )
    return keys


class EmbeddingStore(TextStore, StoreMaintenance):
    """Per-text float32 embeddings on disk in format-2 shards, one space per EncodingKey (see the module docstring)."""

    store_format = "shards"

    def __init__(
        self, root: Path | str, shard_size: int = DEFAULT_SHARD_SIZE, flush_seconds: float = DEFAULT_FLUSH_SECONDS
    ) -> None:
        super().__init__(shard_size, flush_seconds)
        self.root = Path(root)
        self._indexes: dict[str, SpaceIndex] = {}
        self._check_format()

    # ------------------------------------------------------------------------------------------ layout

    def _check_format(self) -> None:
        fpath = self.root / "FORMAT"
        try:
            fmt = int(fpath.read_text().strip() or 0)
        except (FileNotFoundError, NotADirectoryError):
            return  # a new store (or one that cannot be created: named when something must be written)
        except ValueError:
            raise StoreError(f"{fpath}: not a leafbench store format marker") from None
        except OSError as e:
            raise StoreError(f"{fpath}: cannot read the store format marker ({e.strerror or e})") from None
        if fmt > STORE_FORMAT:
            raise StoreError(
                f"{self.root}: embedding store written by a newer leafbench (format {fmt}; this version reads "
                f"<= {STORE_FORMAT}); upgrade leafbench or use another --cache-dir"
            )

    def _ensure_writable(self, space_dir: Path, key: EncodingKey) -> None:
        try:
            space_dir.mkdir(parents=True, exist_ok=True)
            if not (self.root / "FORMAT").exists():
                atomic_write_bytes(self.root / "FORMAT", f"{STORE_FORMAT}\n".encode())
            if not (space_dir / "space.json").exists():
                atomic_write_bytes(
                    space_dir / "space.json",
                    json.dumps({"format": STORE_FORMAT, "key": asdict(key)}, indent=1).encode(),
                )
            probe = tempfile.NamedTemporaryFile(dir=space_dir, prefix=".probe-", delete=True)
            probe.close()
        except OSError as e:
            if resource_error_message(e):
                raise  # disk full, quota: the CLI names the file and the cause
            raise StoreError(
                f"{self.root}: embedding store is not writable ({e.strerror}); pass a writable --cache-dir"
            ) from None

    def space_dir(self, key: EncodingKey) -> Path:
        return self.root / "spaces" / key.space()

    def index(self, key: EncodingKey) -> SpaceIndex:
        space = key.space()
        idx = self._indexes.get(space)
        if idx is None:
            idx = self._indexes[space] = SpaceIndex(self.space_dir(key), self._warn)
        idx.refresh()
        return idx

    def writer(self, key: EncodingKey) -> ShardWriter:
        d = self.space_dir(key)
        self._ensure_writable(d, key)
        return ShardWriter(d, self.shard_size, self.flush_seconds)

    def _locate(self, key: EncodingKey, keys: np.ndarray) -> tuple[np.ndarray, Any]:
        idx = self.index(key)
        shard_no, row = idx.lookup(keys)
        return shard_no < 0, (idx, shard_no, row)

    def _rows(self, key: EncodingKey, located: Any) -> StoredRows:
        idx, shard_no, row = located
        return StoredRows(idx.shards, shard_no, row, idx.dim or 0)

    def _where(self, key: EncodingKey) -> str:
        return str(self.space_dir(key))

    def _before_encode(self, key: EncodingKey, texts: list[str], keys: np.ndarray) -> None:
        """Copy the shards of a format-1 entry for exactly this (key, text list) into the space, once."""
        import_v1(self.root, key, texts, keys, self.writer, self._warn)
