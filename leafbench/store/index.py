"""The index of one encoding space: text key → (shard, row) over its committed, verified shards, refreshed
incrementally as any writer commits more."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from .keys import KEY_BYTES, split_keys
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
        self._hi = np.empty(0, np.uint64)
        self._lo = np.empty(0, np.uint64)
        self._shard_no = np.empty(0, np.int32)
        self._row = np.empty(0, np.int32)
        self.dim: int | None = None

    def refresh(self) -> None:
        """Add shards committed since the last refresh (by this process or any other writer)."""
        sdir = self.dir / "shards"
        new = sorted(p for p in sdir.glob("*.json") if p.stem not in self._seen) if sdir.exists() else []
        his, los, nos, rows = [self._hi], [self._lo], [self._shard_no], [self._row]
        try:
            for mpath in new:
                opened = self._open(mpath)  # a StoreError leaves this shard unseen: the next refresh retries it
                self._seen.add(mpath.stem)
                if opened is None:
                    continue
                shard, keys = opened
                hi, lo = split_keys(np.frombuffer(keys, dtype=np.uint8).reshape(-1, KEY_BYTES))
                no = len(self.shards)
                self.shards.append(shard)
                his.append(hi)
                los.append(lo)
                nos.append(np.full(len(hi), no, np.int32))
                rows.append(np.arange(len(hi), dtype=np.int32))
        finally:  # the shards opened before an error stay indexed
            if len(his) > 1:
                hi, lo = np.concatenate(his), np.concatenate(los)
                order = np.lexsort((lo, hi))
                self._hi, self._lo = hi[order], lo[order]
                self._shard_no, self._row = np.concatenate(nos)[order], np.concatenate(rows)[order]

    def _open(self, mpath: Path) -> tuple[Shard, bytes] | None:
        """One shard verified (see :func:`open_shard`), or None where it was bad (quarantined) or is gone."""
        opened = open_shard(mpath, self.dim, lambda base, why: quarantine_shard(self.dir, base, why, self.warn))
        if opened is not None:
            self.dim = int(opened[0].manifest["dim"])
        return opened

    @property
    def n_rows(self) -> int:
        return len(self._hi)

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(shard number, row) per key; shard number -1 where the text has no row yet."""
        hi, lo = split_keys(keys)
        pos = np.searchsorted(self._hi, hi)
        shard_no = np.full(len(hi), -1, np.int32)
        row = np.zeros(len(hi), np.int32)
        if len(self._hi):
            p = np.minimum(pos, len(self._hi) - 1)
            hit = (self._hi[p] == hi) & (self._lo[p] == lo)
            shard_no[hit], row[hit] = self._shard_no[p[hit]], self._row[p[hit]]
            # 64-bit prefix shared by several keys (never seen in practice): walk the run of equal prefixes.
            for i in np.nonzero(~hit & (self._hi[p] == hi))[0]:
                j = pos[i]
                while j < len(self._hi) and self._hi[j] == hi[i]:
                    if self._lo[j] == lo[i]:
                        shard_no[i], row[i] = self._shard_no[j], self._row[j]
                        break
                    j += 1
        return shard_no, row
