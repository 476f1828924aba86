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
MAPPED_FROM = 1 << 20  # keys from which a SortedKeys index lives in a mapped temporary file


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
    space, grown as rows are committed.

    New keys are merged into the sorted arrays (no re-sort of what is there). From :data:`MAPPED_FROM` keys on, the
    arrays live in an unlinked temporary file mapped into memory: a 10M-row space's 240 MB index is then page
    cache the kernel can drop and refill, not the process's heap, so memory stays flat as the space grows."""

    def __init__(self) -> None:
        self._hi = np.empty(0, np.uint64)
        self._lo = np.empty(0, np.uint64)
        self._ids = np.empty(0, np.int64)

    def __len__(self) -> int:
        return len(self._hi)

    @classmethod
    def from_arrays(cls, hi: np.ndarray, lo: np.ndarray, ids: np.ndarray) -> SortedKeys:
        """An index over arrays already sorted by (hi, lo), e.g. memory-mapped from a saved index."""
        out = cls()
        out._hi, out._lo, out._ids = hi, lo, ids
        return out

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(hi, lo, ids), sorted: what `from_arrays` takes back."""
        return self._hi, self._lo, self._ids

    def extend(self, parts: Sequence[tuple[np.ndarray, np.ndarray]]) -> None:
        """Add (keys [n, 16] uint8, ids [n]) pairs, merged into the sorted arrays."""
        if not parts:
            return
        halves = [split_keys(k) for k, _ in parts]
        hi = np.concatenate([h for h, _ in halves])
        lo = np.concatenate([lo for _, lo in halves])
        ids = np.concatenate([np.asarray(i, np.int64) for _, i in parts])
        order = np.lexsort((lo, hi))
        hi, lo, ids = hi[order], lo[order], ids[order]
        n, m = len(self._hi), len(hi)
        if n == 0 or (hi[0], lo[0]) > (self._hi[-1], self._lo[-1]):
            at = np.arange(n, n + m)  # all after what is there (the usual case: nothing to interleave)
        else:
            at = _insertion_points(self._hi, self._lo, hi, lo) + np.arange(m)
        out_hi, out_lo, out_ids = _arrays(n + m)
        old = np.ones(n + m, dtype=bool)
        old[at] = False
        for out, was, new in ((out_hi, self._hi, hi), (out_lo, self._lo, lo), (out_ids, self._ids, ids)):
            out[old] = was
            out[at] = new
        self._hi, self._lo, self._ids = out_hi, out_lo, out_ids

    def find(self, keys: np.ndarray) -> np.ndarray:
        """The id of each key ([n] int64); -1 where the key is not there. Looked up a million keys at a time, so a
        10M-key lookup needs its answer and one block of temporaries, not ten."""
        if len(keys) <= FIND_BLOCK:
            return self._find(keys)
        out = scratch(len(keys), np.int64)  # a corpus's worth of positions: page cache, not heap
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


def _insertion_points(hi: np.ndarray, lo: np.ndarray, new_hi: np.ndarray, new_lo: np.ndarray) -> np.ndarray:
    """Where each (new_hi, new_lo) goes in the sorted (hi, lo) pairs: by the high half, then within a run of equal
    high halves (never seen in practice: a 64-bit collision) by the low half."""
    at = np.searchsorted(hi, new_hi, side="left")
    end = np.searchsorted(hi, new_hi, side="right")
    for i in np.nonzero(end > at)[0]:
        at[i] += int(np.searchsorted(lo[at[i] : end[i]], new_lo[i], side="left"))
    return at


def scratch(shape: int | tuple[int, ...], dtype: type) -> np.ndarray:
    """An array of `shape` in an unlinked temporary file mapped into memory: for per-row arrays of a big corpus
    (positions, keys), which then cost page cache the kernel can drop, not the process's heap."""
    import tempfile

    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    n = int(np.prod(shape))
    if n == 0:
        return np.empty(shape, dtype)
    with tempfile.TemporaryFile(prefix="leafbench-") as f:
        f.truncate(n * np.dtype(dtype).itemsize)
        return np.memmap(f, dtype=dtype, mode="r+", shape=shape)  # the mapping outlives the file handle


def _arrays(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hi, lo, ids) arrays of `n` entries: on the heap while small, else in one unlinked temporary file."""
    if n < MAPPED_FROM:
        return np.empty(n, np.uint64), np.empty(n, np.uint64), np.empty(n, np.int64)
    import tempfile

    with tempfile.TemporaryFile(prefix="leafbench-index-") as f:
        f.truncate(n * 24)
        whole = np.memmap(f, dtype=np.uint8, mode="r+", shape=(n * 24,))  # the mapping outlives the file handle
    return whole[: n * 8].view(np.uint64), whole[n * 8 : n * 16].view(np.uint64), whole[n * 16 :].view(np.int64)


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
