"""What a store read hands back: `RowsBase` (a text list's embeddings, array-like; `StoredRows` over memory-mapped
shards) and `EncodeStats` (what one call did: cache hits, encoding throughput)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from .shards import Shard

__all__ = ["EncodeStats", "RowsBase", "RowsReader", "ShardSlice", "StoredRows", "encode_stats"]


@dataclass
class EncodeStats:
    """What one `get_or_encode` call did; surfaces cache hits and throughput in results."""

    n_texts: int
    n_encoded: int
    seconds: float
    n_tokens: int
    cached: bool
    digest: str  # the encoding space
    encode_seconds_total: float = 0.0  # seconds that produced these rows (pro rata of their shards)
    tokens_total: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def texts_per_s(self) -> float | None:
        """Throughput of the passes that produced the rows (survives cache hits)."""
        return self.n_texts / self.encode_seconds_total if self.encode_seconds_total > 0 else None

    @property
    def tokens_per_s(self) -> float | None:
        return self.tokens_total / self.encode_seconds_total if self.encode_seconds_total > 0 else None


class RowsBase:
    """A text list's embeddings, in its order, read on demand: nothing is concatenated until asked.

    Behaves enough like an array for the harness: `shape`, `len`, `chunks()` for streaming, `take()` for
    random rows, `[...]` and `np.asarray()` to materialise (for query sides and small tasks). A format provides
    `take()` and `encode_totals()`.
    """

    dtype = np.dtype(np.float32)
    shape: tuple[int, int]

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def ndim(self) -> int:
        return 2

    def take(self, positions: np.ndarray | Sequence[int]) -> np.ndarray:
        raise NotImplementedError

    def encode_totals(self) -> tuple[float, float]:
        """(encoding seconds, tokens) that produced these rows: what their passes cost, pro rata."""
        raise NotImplementedError

    def reader(self, start: int, stop: int) -> "RowsReader | None":
        """A small picklable description of rows [start, stop) that another process (a Ray worker) reopens and
        reads itself, so the vectors never travel from here; None where the rows cannot be reopened elsewhere."""
        return None

    def chunks(self, size: int) -> Iterator[tuple[int, np.ndarray]]:
        """(start, rows[start:start+size]) over the whole list; only one chunk is in memory at a time."""
        for start in range(0, self.shape[0], size):
            yield start, self.take(np.arange(start, min(start + size, self.shape[0])))

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        arr = self.take(np.arange(self.shape[0]))
        return arr if dtype is None else arr.astype(dtype)

    def __getitem__(self, item):
        if isinstance(item, tuple):
            rows, rest = item[0], item[1:]
            return self[rows][(slice(None), *rest)]
        if isinstance(item, slice):
            return self.take(np.arange(*item.indices(self.shape[0])))
        if isinstance(item, (int, np.integer)):
            return self.take([int(item)])[0]
        return self.take(np.asarray(item))


class RowsReader(Protocol):
    """What `RowsBase.reader` hands out: reopened in any process that sees the store, it reads the rows itself."""

    def open(self) -> RowsBase: ...


@dataclass(frozen=True)
class ShardSlice:
    """Rows of a shard-store text list as another process reopens them: the shard files and each row's (shard,
    row) — a few bytes per row, never the vectors."""

    paths: tuple[str, ...]
    shard_no: np.ndarray
    row: np.ndarray
    dim: int

    def open(self) -> "StoredRows":
        return StoredRows([Shard(Path(p), {}) for p in self.paths], self.shard_no, self.row, self.dim)


class StoredRows(RowsBase):
    """The embeddings of a text list, in its order, backed by memory-mapped shards (format 2)."""

    def __init__(self, shards: Sequence[Shard], shard_no: np.ndarray, row: np.ndarray, dim: int) -> None:
        self._shards = list(shards)
        self._shard_no = shard_no
        self._row = row
        self.shape = (len(shard_no), dim)

    def take(self, positions: np.ndarray | Sequence[int]) -> np.ndarray:
        """Rows at `positions` (of the text list) as a float32 array, read shard by shard."""
        positions = np.asarray(positions, dtype=np.int64)
        out = np.empty((len(positions), self.shape[1]), np.float32)
        sn, rw = self._shard_no[positions], self._row[positions]
        for s in np.unique(sn):
            m = sn == s
            r = rw[m]
            dest = np.nonzero(m)[0]
            if len(r) > 1 and r[-1] - r[0] == len(r) - 1 and (np.diff(r) == 1).all():
                out[dest] = self._shards[s].array()[r[0] : r[-1] + 1]  # rows stored in list order: one slice
                continue
            order = np.argsort(r, kind="stable")  # read each shard front to back
            out[dest[order]] = self._shards[s].array()[r[order]]
        return out

    def reader(self, start: int, stop: int) -> ShardSlice:
        used, shard_no = np.unique(self._shard_no[start:stop], return_inverse=True)
        paths = tuple(str(self._shards[s].path) for s in used)
        return ShardSlice(paths, shard_no.astype(np.int64), self._row[start:stop].copy(), self.shape[1])

    def encode_totals(self) -> tuple[float, float]:
        """Each touched shard's seconds/tokens pro rata of the rows used."""
        used = np.bincount(self._shard_no, minlength=len(self._shards))
        enc_s = tokens = 0.0
        for s in np.nonzero(used)[0]:
            m = self._shards[s].manifest
            frac = used[s] / max(1, m["rows"])
            enc_s += frac * float(m.get("encode_seconds", 0.0))
            tokens += frac * float(m.get("tokens", 0))
        return enc_s, tokens


def encode_stats(space: str, rows: RowsBase, n_encoded: int, n_tokens: int, seconds: float) -> EncodeStats:
    """Per-call stats; the pass throughput is what produced the rows used (`RowsBase.encode_totals`)."""
    enc_s, tokens = rows.encode_totals()
    return EncodeStats(
        n_texts=len(rows),
        n_encoded=n_encoded,
        seconds=seconds,
        n_tokens=n_tokens,
        cached=n_encoded == 0,
        digest=space,
        encode_seconds_total=enc_s,
        tokens_total=int(round(tokens)),
    )
