"""The shard format: one shard is ``<id>.npy`` (float32 [rows, dim]), ``<id>.keys`` (rows x 16 bytes of text keys)
and ``<id>.json`` (manifest: rows, dim, crc32 of data and keys, encoding seconds/tokens), committed data first and
manifest last; `ShardWriter` writes them, `Shard` is one committed shard."""

from __future__ import annotations

import io
import json
import logging
import os
import secrets
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..files import atomic_write
from .errors import StoreError

__all__ = [
    "DEFAULT_FLUSH_SECONDS",
    "DEFAULT_SHARD_SIZE",
    "STORE_FORMAT",
    "RowBuffer",
    "Shard",
    "ShardWriter",
    "atomic_write_bytes",
    "crc",
    "json_object",
]

STORE_FORMAT = 2
DEFAULT_SHARD_SIZE = 4096
DEFAULT_FLUSH_SECONDS = 30.0


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Temp file + fsync + rename, with the umask's mode: readers see the old file or the whole new one."""
    atomic_write(path, data, fsync=True)


def _npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


def crc(data: bytes | memoryview) -> str:
    return f"{zlib.crc32(data) & 0xFFFFFFFF:08x}"


def json_object(path: Path) -> dict | None:
    """`path` parsed as a JSON object; None if it cannot be read, is not JSON, or is JSON but not an object."""
    try:
        obj = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


@dataclass
class Shard:
    """One committed shard: its manifest plus the open (memory-mapped) data once verified."""

    path: Path  # .../shards/<id> without suffix
    manifest: dict
    data: np.ndarray | None = None

    @property
    def rows(self) -> int:
        return int(self.manifest["rows"])

    def array(self) -> np.ndarray:
        if self.data is None:
            self.data = np.load(self.path.with_suffix(".npy"), mmap_mode="r")
        return self.data


class RowBuffer:
    """Buffers encoded rows of one space and commits them (every `shard_size` rows or `flush_seconds`) through
    `_commit`, which a format provides: the buffering, and so what a kill can lose, is the same for every format."""

    def __init__(self, shard_size: int = DEFAULT_SHARD_SIZE, flush_seconds: float = DEFAULT_FLUSH_SECONDS) -> None:
        self.shard_size = shard_size
        self.flush_seconds = flush_seconds
        self._keys: list[np.ndarray] = []
        self._vecs: list[np.ndarray] = []
        self._seconds = 0.0
        self._tokens = 0
        self._last_flush = time.monotonic()
        self.committed: list[str] = []  # what this writer committed (shard ids, dataset versions)

    @property
    def buffered(self) -> int:
        return sum(len(k) for k in self._keys)

    def commit_remaining(self) -> None:
        """Commit what is still buffered, from a destructor (a Ray actor shutting down): never raises; rows that
        fail to commit are logged, and whoever finds them missing encodes them again."""
        if not self.buffered:
            return
        try:
            self.flush()
        except Exception as e:  # noqa: BLE001 - a destructor must not raise
            logging.getLogger("leafbench.store").warning("could not commit %d buffered rows (%s)", self.buffered, e)

    def buffered_keys(self) -> set[bytes]:
        """The keys of the rows added but not committed yet (a writer that dedupes against its own buffer)."""
        return {k.tobytes() for part in self._keys for k in part}

    def add(self, keys: np.ndarray, vectors: np.ndarray, seconds: float = 0.0, tokens: int = 0) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(keys):
            raise StoreError(f"encoder returned {vectors.shape[0] if vectors.ndim else 0} rows for {len(keys)} texts")
        if not np.isfinite(vectors).all():
            raise StoreError("encoder returned non-finite values (NaN/inf); nothing was stored")
        self._keys.append(np.asarray(keys, dtype=np.uint8))
        self._vecs.append(vectors)
        self._seconds += seconds
        self._tokens += int(tokens)
        if time.monotonic() - self._last_flush >= self.flush_seconds:
            self.flush()
        elif self.buffered >= self.shard_size:
            self.flush(full_only=True)

    def flush(self, full_only: bool = False) -> None:
        """Commit the buffered rows in pieces of `shard_size` rows (the remainder too, unless `full_only`)."""
        if not self._keys:
            return
        keys = np.concatenate(self._keys)
        vecs = np.concatenate(self._vecs)
        seconds, tokens, n = self._seconds, self._tokens, len(keys)
        cut = n - n % self.shard_size if full_only else n
        share = lambda i: int(round(tokens * i / n))  # noqa: E731 - cumulative, so the parts add up exactly
        for s in range(0, cut, self.shard_size):
            e = min(cut, s + self.shard_size)
            self._commit(keys[s:e], vecs[s:e], seconds * (e - s) / n, share(e) - share(s))
        left = n - cut
        self._keys, self._vecs = ([keys[cut:]], [vecs[cut:]]) if left else ([], [])
        self._seconds, self._tokens = seconds * left / n, tokens - share(cut)
        if not left:
            self._last_flush = time.monotonic()

    def _commit(self, keys: np.ndarray, vecs: np.ndarray, seconds: float, tokens: int) -> None:
        raise NotImplementedError


class ShardWriter(RowBuffer):
    """Commits buffered rows as format-2 shards. Used by the single-process engine and by every Ray actor:
    writers never share a file name."""

    def __init__(
        self, space_dir: Path, shard_size: int = DEFAULT_SHARD_SIZE, flush_seconds: float = DEFAULT_FLUSH_SECONDS
    ) -> None:
        super().__init__(shard_size, flush_seconds)
        self.shards_dir = space_dir / "shards"

    def _commit(self, keys: np.ndarray, vecs: np.ndarray, seconds: float, tokens: int) -> None:
        """One shard: data and keys first, then the manifest that makes it visible to readers."""
        self.shards_dir.mkdir(parents=True, exist_ok=True)
        sid = f"{time.time_ns():x}-{os.getpid():x}-{secrets.token_hex(4)}"
        base = self.shards_dir / sid
        vecs = np.ascontiguousarray(vecs)
        atomic_write_bytes(base.with_suffix(".npy"), _npy_bytes(vecs))
        atomic_write_bytes(base.with_suffix(".keys"), np.ascontiguousarray(keys).tobytes())
        manifest = {
            "format": STORE_FORMAT,
            "rows": int(len(keys)),
            "dim": int(vecs.shape[1]),
            "crc32_data": crc(memoryview(vecs).cast("B")),
            "crc32_keys": crc(np.ascontiguousarray(keys).tobytes()),
            "encode_seconds": seconds,
            "tokens": tokens,
            "created": time.time(),
        }
        atomic_write_bytes(base.with_suffix(".json"), json.dumps(manifest).encode())
        self.committed.append(sid)
