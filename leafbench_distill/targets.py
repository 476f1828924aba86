"""Teacher targets through the leafbench encoder and embedding store.

Targets are computed once per (teacher identity, side, prompt, precision, text), committed to disk as they
are encoded and resumable, exactly like any evaluation encoding; training only ever reads them, so the teacher never runs
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


def teacher_encoder(
    teacher: str,
    store,
    cache_dir: Path | None = None,
    precision: str = "fp32",
    device: str | None = None,
    batch_size: int = 32,
    max_seq_length: int | None = None,
    backend: str = "torch",
):
    """The harness Encoder for a teacher alias / HF id / folder (lazy: loads weights only if something is missing)."""
    from leafbench.encode import Encoder
    from leafbench.registry import resolve_model

    spec = resolve_model(teacher, cache_dir).with_overrides(
        max_seq_length=max_seq_length, precision=precision, backend=backend
    )
    return Encoder(spec, store, device=device, batch_size=batch_size, cache_dir=cache_dir)


def compute_targets(
    texts: TrainingTexts,
    encoder,
    progress: Callable[[int], None] | None = None,
) -> TeacherTargets:
    """Teacher embeddings for every text, by role (query texts get the teacher's query prompt).

    The store addresses rows per text, so a source whose limit grows, another mix of the same sources and the
    evaluation's own encodings all reuse every text already labelled; an interrupted job resumes from its
    last committed rows.
    """
    out: np.ndarray | None = None
    stats: dict[str, dict] = {}
    for role in dict.fromkeys(texts.roles):
        idx = [i for i, r in enumerate(texts.roles) if r == role]
        res = encoder.encode([texts.texts[i] for i in idx], role, progress=progress)
        emb = np.asarray(res.embeddings, dtype=np.float32)
        if out is None:
            out = np.empty((len(texts), emb.shape[1]), dtype=np.float32)
        out[idx] = emb
        st = res.stats
        stats[role] = {
            "n_texts": st.n_texts,
            "n_encoded_now": st.n_encoded,
            "cached": st.cached,
            "encode_seconds": st.encode_seconds_total,
            "store_entries": [st.digest],
            "prompt": res.prompt,
            "texts_per_s": st.texts_per_s,
        }
        log.info(
            "teacher %s targets: %d texts (%s)", role, st.n_texts, "cached" if st.cached else f"{st.n_encoded} encoded"
        )
    assert out is not None, "no training texts"
    return TeacherTargets(out, stats, encoder)
