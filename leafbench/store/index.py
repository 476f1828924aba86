"""The index of one encoding space: text key → (shard, row) over its committed, verified shards, refreshed
incrementally as any writer commits more."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from .keys import KEY_BYTES, SortedKeys
from .shards import Shard
from .verify import open_shard, quarantine_shard

__all__ = ["SpaceIndex"]


class SpaceIndex:
    """Text key → (shard, row) over the committed, verified shards of one space; refreshed incrementally."""

    def __init__(self, space_dir: Path, warn: Callable[[str], None]) -> None:
        self.dir = space_dir
        self.warn = warn
        self.shards: list[Shard] = []
        self._seen: set[str] = set()
        self._keys = SortedKeys()  # id: a row number over all indexed shards, in the order they were indexed
        self._shard_no = np.empty(0, np.int32)
        self._row = np.empty(0, np.int32)
        self.dim: int | None = None

    def refresh(self) -> None:
        """Add shards committed since the last refresh (by this process or any other writer)."""
        sdir = self.dir / "shards"
        new = sorted(p for p in sdir.glob("*.json") if p.stem not in self._seen) if sdir.exists() else []
        parts, nos, rows = [], [self._shard_no], [self._row]
        base = len(self._shard_no)
        try:
            for mpath in new:
                opened = self._open(mpath)  # a StoreError leaves this shard unseen: the next refresh retries it
                self._seen.add(mpath.stem)
                if opened is None:
                    continue
                shard, keys = opened
                n = len(keys) // KEY_BYTES
                parts.append((np.frombuffer(keys, dtype=np.uint8).reshape(-1, KEY_BYTES), np.arange(base, base + n)))
                base += n
                nos.append(np.full(n, len(self.shards), np.int32))
                rows.append(np.arange(n, dtype=np.int32))
                self.shards.append(shard)
        finally:  # the shards opened before an error stay indexed
            if parts:
                self._keys.extend(parts)
                self._shard_no, self._row = np.concatenate(nos), np.concatenate(rows)

    def _open(self, mpath: Path) -> tuple[Shard, bytes] | None:
        """One shard verified (see :func:`open_shard`), or None where it was bad (quarantined) or is gone."""
        opened = open_shard(mpath, self.dim, lambda base, why: quarantine_shard(self.dir, base, why, self.warn))
        if opened is not None:
            self.dim = int(opened[0].manifest["dim"])
        return opened

    @property
    def n_rows(self) -> int:
        return len(self._keys)

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(shard number, row) per key; shard number -1 where the text has no row yet."""
        ids = self._keys.find(keys)
        hit = ids >= 0
        shard_no = np.full(len(ids), -1, np.int32)
        row = np.zeros(len(ids), np.int32)
        shard_no[hit], row[hit] = self._shard_no[ids[hit]], self._row[ids[hit]]
        return shard_no, row
