"""Content-addressed embedding store.

Every encoding pass is expensive, so embeddings are kept on disk keyed by everything that changes them:
model identity (HF id + revision, or a hash of local weights), side, prompt, max_seq_length, precision and a
hash of the texts themselves. Runs that need the same (model, side, texts) share one entry, which is how an
asymmetric run reuses a teacher run's documents and how a dims x dtypes grid costs one encoding pass.

Layout of one entry (``<root>/<digest[:2]>/<digest>/``)::

    meta.json          the key fields, n_texts, shard_size, dim, timing (written first, rewritten at the end)
    shard_00000.npy    float32 [<= shard_size, dim], texts in their original order
    ...
    complete           marker written after the last shard

Each shard is written to a temp file and renamed into place, so a killed run leaves only whole shards and
the next run resumes at the first missing one.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

STORE_FORMAT = 1
DEFAULT_SHARD_SIZE = 4096


def hash_texts(texts: Sequence[str]) -> str:
    """Order-sensitive digest of a text list; length-prefixed so ("ab", "c") != ("a", "bc")."""
    h = hashlib.sha256()
    for t in texts:
        b = t.encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


@dataclass(frozen=True)
class EncodingKey:
    """Everything that determines the embeddings of a text list, except the texts themselves."""

    model_id: str
    side: str
    prompt: str
    max_seq_length: int | None
    precision: str
    backend: str = "torch"  # inference backend incl. quantization (leafbench.backends); torch keeps old keys

    def digest(self, texts_hash: str) -> str:
        fields = asdict(self)
        if fields["backend"] == "torch":  # entries written before backends existed stay valid
            del fields["backend"]
        payload = json.dumps({**fields, "texts": texts_hash, "format": STORE_FORMAT}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()


@dataclass
class EncodeStats:
    """What one `get_or_encode` call did; surfaces cache hits and throughput in results."""

    n_texts: int
    n_encoded: int
    seconds: float
    n_tokens: int
    cached: bool
    digest: str
    encode_seconds_total: float = 0.0
    tokens_total: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def texts_per_s(self) -> float | None:
        """Throughput of the pass that produced the entry (survives cache hits)."""
        return self.n_texts / self.encode_seconds_total if self.encode_seconds_total > 0 else None

    @property
    def tokens_per_s(self) -> float | None:
        return self.tokens_total / self.encode_seconds_total if self.encode_seconds_total > 0 else None


# A batch encoder returns (embeddings [n, dim] float32, number of tokens it processed).
EncodeFn = Callable[[list[str]], tuple[np.ndarray, int]]


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_save_npy(path: Path, array: np.ndarray) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".npy.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, array, allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class EmbeddingStore:
    """Sharded float32 embeddings on disk, one entry per (EncodingKey, texts)."""

    def __init__(self, root: Path | str, shard_size: int = DEFAULT_SHARD_SIZE) -> None:
        self.root = Path(root)
        self.shard_size = shard_size
        # Texts encoded / served from disk by this process: the "encoded vs reused" line of a run.
        self.n_encoded = 0
        self.n_served = 0

    def entry_dir(self, key: EncodingKey, texts_hash: str) -> Path:
        d = key.digest(texts_hash)
        return self.root / d[:2] / d

    def is_complete(self, key: EncodingKey, texts: Sequence[str]) -> bool:
        return (self.entry_dir(key, hash_texts(texts)) / "complete").exists()

    def _read_meta(self, entry: Path) -> dict | None:
        try:
            return json.loads((entry / "meta.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def get_or_encode(
        self,
        key: EncodingKey,
        texts: Sequence[str],
        encode: EncodeFn,
        progress: Callable[[int], None] | None = None,
    ) -> tuple[np.ndarray, EncodeStats]:
        """Return embeddings for `texts`, encoding only the shards not already on disk.

        `progress(n)` is called with the number of texts newly available (cached shards included), so a
        caller's progress bar shows the whole job.
        """
        texts = list(texts)
        th = hash_texts(texts)
        entry = self.entry_dir(key, th)
        entry.mkdir(parents=True, exist_ok=True)
        meta = self._read_meta(entry)
        shard_size = meta["shard_size"] if meta else self.shard_size
        if meta is None:
            meta = {
                "format": STORE_FORMAT,
                "key": asdict(key),
                "texts_hash": th,
                "n_texts": len(texts),
                "shard_size": shard_size,
                "dim": None,
                "encode_seconds": 0.0,
                "n_tokens": 0,
                "created": time.time(),
            }
            _atomic_write_bytes(entry / "meta.json", json.dumps(meta, indent=1).encode())
        n_shards = max(1, -(-len(texts) // shard_size))
        t0 = time.perf_counter()
        n_encoded = 0
        n_tokens = 0
        was_complete = (entry / "complete").exists()
        for i in range(n_shards):
            path = entry / f"shard_{i:05d}.npy"
            chunk = texts[i * shard_size : (i + 1) * shard_size]
            if path.exists():
                if progress:
                    progress(len(chunk))
                continue
            ts = time.perf_counter()
            emb, toks = encode(chunk)
            emb = np.ascontiguousarray(emb, dtype=np.float32)
            if emb.shape[0] != len(chunk):
                raise RuntimeError(f"encoder returned {emb.shape[0]} rows for {len(chunk)} texts")
            _atomic_save_npy(path, emb)
            meta["encode_seconds"] += time.perf_counter() - ts
            meta["n_tokens"] += int(toks)
            meta["dim"] = int(emb.shape[1])
            # Persist timing with every shard so a resumed run still reports the whole pass's throughput.
            _atomic_write_bytes(entry / "meta.json", json.dumps(meta, indent=1).encode())
            n_encoded += len(chunk)
            n_tokens += int(toks)
        if not was_complete:
            _atomic_write_bytes(entry / "complete", b"")
        self.n_encoded += n_encoded
        self.n_served += len(texts) - n_encoded
        arr = self._load(entry, n_shards)
        stats = EncodeStats(
            n_texts=len(texts),
            n_encoded=n_encoded,
            seconds=time.perf_counter() - t0,
            n_tokens=n_tokens,
            cached=n_encoded == 0,
            digest=entry.name,
            encode_seconds_total=float(meta["encode_seconds"]),
            tokens_total=int(meta["n_tokens"]),
        )
        return arr, stats

    def _load(self, entry: Path, n_shards: int) -> np.ndarray:
        shards = [np.load(entry / f"shard_{i:05d}.npy", mmap_mode="r") for i in range(n_shards)]
        if len(shards) == 1:
            return np.asarray(shards[0])
        return np.concatenate(shards, axis=0)

    def iter_entries(self) -> Iterator[dict]:
        """Metadata of every entry (for `leafbench cache` style listings)."""
        for meta_path in sorted(self.root.glob("*/*/meta.json")):
            meta = self._read_meta(meta_path.parent)
            if meta is not None:
                meta["complete"] = (meta_path.parent / "complete").exists()
                meta["path"] = str(meta_path.parent)
                yield meta
