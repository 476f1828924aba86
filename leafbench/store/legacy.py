"""Format-1 entries (``<aa>/<digest>/``, one per whole text list, written by older leafbench): imported into
their space on first use and then removed."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .errors import StoreError
from .keys import EncodingKey, hash_texts
from .shards import ShardWriter, json_object
from .verify import read_error

log = logging.getLogger("leafbench.store")

__all__ = ["import_v1"]


def import_v1(
    root: Path,
    key: EncodingKey,
    texts: list[str],
    keys: np.ndarray,
    writer: Callable[[EncodingKey], ShardWriter],
    warn: Callable[[str], None],
) -> None:
    """Copy the shards of a format-1 entry for exactly this (key, text list) into the space, once (`keys`: the
    texts' keys; `writer(key)`: a writer into the space)."""
    d = key.digest(hash_texts(texts))
    entry = root / d[:2] / d
    if not (entry / "meta.json").exists():
        return
    meta = json_object(entry / "meta.json") or {}
    try:
        ss = int(meta["shard_size"])
        float(meta.get("encode_seconds", 0.0)), float(meta.get("n_tokens", 0))
    except (ValueError, KeyError, TypeError):
        ss = 0
    if ss <= 0:
        warn(f"{entry}: unreadable format-1 entry; ignored (its texts are encoded again)")
        return
    writer = writer(key)
    writer.flush_seconds = float("inf")
    n_shards = -(-len(texts) // ss)
    per_row = float(meta.get("encode_seconds", 0.0)) / max(1, len(texts))
    tok_row = float(meta.get("n_tokens", 0)) / max(1, len(texts))
    imported = 0
    for i in range(n_shards):
        p = entry / f"shard_{i:05d}.npy"
        if not p.exists():
            continue
        try:
            arr = np.load(p)
        except (ValueError, EOFError):
            warn(f"{p}: unreadable format-1 shard; its texts will be encoded again")
            continue
        except OSError as e:  # not the shard's fault: fail before the entry is removed below
            raise StoreError(read_error(e, p)) from None
        k = keys[i * ss : (i + 1) * ss]
        if arr.ndim != 2 or arr.shape[0] != len(k):
            warn(f"{p}: format-1 shard holds {arr.shape[0] if arr.ndim else 0} rows, expected {len(k)}; encoded again")
            continue
        writer.add(k, arr, per_row * len(k), int(tok_row * len(k)))
        imported += len(k)
    writer.flush()
    shutil.rmtree(entry, ignore_errors=True)
    log.info("imported %d rows of format-1 entry %s into space %s", imported, d, key.space())
