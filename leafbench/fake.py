"""A deterministic fake encoder (`hash-<dim>`, e.g. `hash-768`): text → fixed pseudo-random unit vector, instantly.

Scale, streaming, concurrency and distributed encoding are properties of the harness, not of a model; this
encoder makes them testable on a laptop CPU. Each vector depends only on (prompt + text) and the dim, so any
two processes, machines or batchings produce bit-identical rows. Its retrieval scores are meaningless (random
vectors), which is the point: it measures the harness alone.
"""

from __future__ import annotations

import hashlib
import re
import time

import numpy as np

# hash-<dim>, optionally with a simulated cost per text (hash-768-5ms): the vectors are the same either way.
HASH_MODEL = re.compile(r"hash-(\d+)(?:-(\d+(?:\.\d+)?)ms)?")
VERSION = "v1"  # part of the model identity: bump when the vectors change

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    x = x + _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def hash_vectors(texts: list[str], dim: int) -> np.ndarray:
    """[n, dim] float32 unit vectors; row i is a function of texts[i] alone."""
    seeds = np.frombuffer(
        b"".join(hashlib.blake2b(t.encode("utf-8"), digest_size=8).digest() for t in texts), dtype=np.uint64
    )
    with np.errstate(over="ignore"):
        lanes = np.arange(dim, dtype=np.uint64) * _GOLDEN
        bits = _splitmix64(seeds[:, None] ^ lanes[None, :])
    x = (bits >> np.uint64(11)).astype(np.float64) * (2.0 / (1 << 53)) - 1.0
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return x.astype(np.float32)


class HashModel:
    """The slice of SentenceTransformer's interface the harness uses (`encode`, `max_seq_length`, no tokenizer)."""

    tokenizer = None

    def __init__(self, dim: int, ms_per_text: float = 0.0) -> None:
        self.dim = dim
        self.ms_per_text = ms_per_text
        self.max_seq_length = 512

    def get_sentence_embedding_dimension(self) -> int:
        return self.dim

    def encode(self, sentences: list[str], prompt: str | None = None, **_: object) -> np.ndarray:
        if self.ms_per_text:  # stand in for a real model's cost (scale and fault-tolerance tests)
            time.sleep(self.ms_per_text * len(sentences) / 1000)
        return hash_vectors([(prompt or "") + s for s in sentences], self.dim)
