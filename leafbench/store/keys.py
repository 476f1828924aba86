"""Row keys and encoding spaces: a text's key (blake2b-128 of its UTF-8) and the `EncodingKey` that names the
space its embedding lives in."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["KEY_BYTES", "EncodingKey", "hash_texts", "split_keys", "text_keys"]

KEY_BYTES = 16


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
