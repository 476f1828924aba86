"""Content fingerprints of retrieval data: one hash of exactly what is scored, whatever folder it came from."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence

__all__ = ["retrieval_fingerprint"]


def retrieval_fingerprint(
    split: str,
    texts: Sequence[Sequence[str]],
    qrels: Mapping[str, Mapping[str, int]],
    ignore_identical_ids: bool,
) -> str:
    """Content hash of a split, its (corpus ids, corpus texts, query ids, query texts) and qrels: two results with
    one fingerprint were measured on the same data."""
    h = hashlib.blake2b(digest_size=16)
    h.update(json.dumps(split, ensure_ascii=False).encode() + b"\0")
    for part in texts:
        # The bytes of json.dumps(part), item by item: a 10M-document corpus is never one giant string.
        h.update(b"[")
        for i, item in enumerate(part):
            h.update((", " if i else "").encode() + json.dumps(item, ensure_ascii=False).encode())
        h.update(b"]\0")
    h.update(json.dumps({q: sorted(d.items()) for q, d in sorted(qrels.items())}).encode())
    h.update(str(ignore_identical_ids).encode())
    return h.hexdigest()
