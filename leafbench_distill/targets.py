"""Teacher targets through the leafbench encoder and embedding store.

Targets are computed once per (teacher identity, side, prompt, precision, text list), sharded on disk and
resumable, exactly like any evaluation encoding; training only ever reads them, so the teacher never runs
inside the training loop (`TeacherTargets.encoder.calls` records every real teacher forward pass).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .texts import TrainingTexts

log = logging.getLogger(__name__)


@dataclass
class TeacherTargets:
    """float32 [n, d_teacher] aligned with `texts`, plus what it cost."""

    embeddings: np.ndarray
    stats: dict[str, dict]
    encoder: object


def teacher_encoder(teacher: str, store, cache_dir: Path | None = None, precision: str = "fp32", device: str | None = None, batch_size: int = 32, max_seq_length: int | None = None, backend: str = "torch"):
    """The harness Encoder for a teacher alias / HF id / folder (lazy: loads weights only if something is missing)."""
    from leafbench.encode import Encoder
    from leafbench.registry import resolve_model

    spec = resolve_model(teacher, cache_dir).with_overrides(max_seq_length=max_seq_length, precision=precision, backend=backend)
    return Encoder(spec, store, device=device, batch_size=batch_size)


TARGET_CHUNK = 2048  # texts per store entry: the unit of reuse when a recipe's source limits grow
# Texts per shard of a new target entry: the unit of resume. A CPU teacher labels only a few long documents
# per second; with the store's default shard (4,096) a whole 2,048-text chunk was one shard, so an interrupted
# job lost up to 2,047 texts (~13 min of long documents here) instead of at most 255.
TARGET_SHARD = 256


def target_chunks(texts: TrainingTexts, chunk: int = TARGET_CHUNK) -> list[tuple[str, list[int]]]:
    """(role, indices) per store entry: each source's texts in their sample order, cut every `chunk` texts.

    Entries are keyed by their text list, so a source whose limit grows from 3,000 to 8,000 re-encodes only
    from its last partial chunk on, and another mix of the same sources reuses every full chunk.
    """
    ranks = texts.ranks or list(range(len(texts)))
    by_source: dict[str, list[tuple[int, int]]] = {}
    for i, (src, rank) in enumerate(zip(texts.sources, ranks)):
        by_source.setdefault(src, []).append((rank, i))
    order = [s for s in texts.counts if s in by_source] + [s for s in by_source if s not in texts.counts]
    out = []
    for src in order:  # the recipe's source order
        items = by_source[src]
        idx = [i for _, i in sorted(items)]
        roles = {texts.roles[i] for i in idx}
        if len(roles) != 1:
            raise ValueError(f"training source {src!r} mixes roles {sorted(roles)}")
        role = roles.pop()
        out += [(role, idx[k: k + chunk]) for k in range(0, len(idx), chunk)]
    return out


def compute_targets(
    texts: TrainingTexts,
    encoder,
    progress: Callable[[int], None] | None = None,
    chunk: int = TARGET_CHUNK,
) -> TeacherTargets:
    """Teacher embeddings for every text, by role (query texts get the teacher's query prompt)."""
    out: np.ndarray | None = None
    stats: dict[str, dict] = {}
    for role, idx in target_chunks(texts, chunk):
        res = encoder.encode([texts.texts[i] for i in idx], role, progress=progress)
        emb = np.asarray(res.embeddings, dtype=np.float32)
        if out is None:
            out = np.empty((len(texts), emb.shape[1]), dtype=np.float32)
        out[idx] = emb
        st = res.stats
        agg = stats.setdefault(role, {"n_texts": 0, "n_encoded_now": 0, "cached": True, "encode_seconds": 0.0,
                                      "store_entries": [], "prompt": res.prompt})
        agg["n_texts"] += st.n_texts
        agg["n_encoded_now"] += st.n_encoded
        agg["cached"] = agg["cached"] and st.cached
        agg["encode_seconds"] += st.encode_seconds_total
        agg["store_entries"].append(st.digest)
        log.info("teacher %s targets: %d texts (%s)", role, st.n_texts, "cached" if st.cached else f"{st.n_encoded} encoded")
    assert out is not None, "no training texts"
    for agg in stats.values():  # throughput of the passes that produced the entries (survives cache hits)
        agg["texts_per_s"] = agg["n_texts"] / agg["encode_seconds"] if agg["encode_seconds"] > 0 else None
    return TeacherTargets(out, stats, encoder)
