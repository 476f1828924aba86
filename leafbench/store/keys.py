"""Row keys and encoding spaces: a text's key (blake2b-128 of its UTF-8) and the `EncodingKey` that names the
space its embedding lives in."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["KEY_BYTES", "EncodingKey", "SortedKeys", "hash_texts", "split_keys", "text_keys"]

KEY_BYTES = 16
FIND_BLOCK = 1 << 20


def hash_texts(texts: Sequence[str]) -> str:
    """Order-sensitive digest of a text list; length-prefixed so ("ab", "c") != ("a", "bc")."""
    h = hashlib.sha256()
    for t in texts:
        b = t.encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def text_keys(texts: Iterable[str]) -> np.ndarray:
    """blake2b-128 of each text as a [n, 16] uint8 array: the row key of the text in every space."""
    return np.frombuffer(
        b"".join(hashlib.blake2b(t.encode("utf-8"), digest_size=KEY_BYTES).digest() for t in texts), dtype=np.uint8
    ).reshape(-1, KEY_BYTES)


def split_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[n, 16] uint8 → (high, low) uint64 halves, for sorting and binary search."""
    k = np.ascontiguousarray(keys, dtype=np.uint8).view(np.uint64).reshape(-1, 2)
    return k[:, 0], k[:, 1]


class SortedKeys:
    """Text keys sorted for binary search, each with an id (a row number of its format): the in-memory index of a
    space, grown as rows are committed."""

    def __init__(self) -> None:
        self._hi = np.empty(0, np.uint64)
        self._lo = np.empty(0, np.uint64)
        self._ids = np.empty(0, np.int64)

    def __len__(self) -> int:
        return len(self._hi)

    def extend(self, parts: Sequence[tuple[np.ndarray, np.ndarray]]) -> None:
        """Add (keys [n, 16] uint8, ids [n]) pairs, re-sorting once."""
        if not parts:
            return
        halves = [split_keys(k) for k, _ in parts]
        hi = np.concatenate([self._hi, *(h for h, _ in halves)])
        lo = np.concatenate([self._lo, *(lo for _, lo in halves)])
        ids = np.concatenate([self._ids, *(np.asarray(i, np.int64) for _, i in parts)])
        order = np.lexsort((lo, hi))
        self._hi, self._lo, self._ids = hi[order], lo[order], ids[order]

    def find(self, keys: np.ndarray) -> np.ndarray:
        """The id of each key ([n] int64); -1 where the key is not there. Looked up a million keys at a time, so a
        10M-key lookup needs its answer and one block of temporaries, not ten."""
        if len(keys) <= FIND_BLOCK:
            return self._find(keys)
        out = np.empty(len(keys), np.int64)
        for s in range(0, len(keys), FIND_BLOCK):
            out[s : s + FIND_BLOCK] = self._find(keys[s : s + FIND_BLOCK])
        return out

    def _find(self, keys: np.ndarray) -> np.ndarray:
        hi, lo = split_keys(keys)
        pos = np.searchsorted(self._hi, hi)
        out = np.full(len(hi), -1, np.int64)
        if len(self._hi):
            p = np.minimum(pos, len(self._hi) - 1)
            hit = (self._hi[p] == hi) & (self._lo[p] == lo)
            out[hit] = self._ids[p[hit]]
            # 64-bit prefix shared by several keys (never seen in practice): walk the run of equal prefixes.
            for i in np.nonzero(~hit & (self._hi[p] == hi))[0]:
                j = pos[i]
                while j < len(self._hi) and self._hi[j] == hi[i]:
                    if self._lo[j] == lo[i]:
                        out[i] = self._ids[j]
                        break
                    j += 1
        return out


@dataclass(frozen=True)
class EncodingKey:
    """Everything that determines a text's embedding except the text: one encoding space of the store."""

    model_id: str
    side: str
    prompt: str
    max_seq_length: int | None
    precision: str
    backend: str = "torch"  # inference backend incl. quantization (leafbench.backends)

    def _fields(self) -> dict:
        fields = asdict(self)
        if fields["backend"] == "torch":  # keys written before backends existed stay valid
            del fields["backend"]
        return fields

    def digest(self, texts_hash: str) -> str:
        """Format-1 entry digest (one entry per whole text list); used only to import old entries."""
        payload = json.dumps({**self._fields(), "texts": texts_hash, "format": 1}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()

    def space(self) -> str:
        """Name of this key's encoding space."""
        return hashlib.sha256(json.dumps(self._fields(), sort_keys=True).encode()).hexdigest()[:32]
