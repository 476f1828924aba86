"""Teacher targets through the leafbench encoder and embedding store.

Targets are computed once per (teacher identity, side, prompt, precision, text), committed to disk as they
are encoded and resumable, exactly like any evaluation encoding; training only ever reads them, so the teacher never runs
inside the training loop (`TeacherTargets.encoder.calls` records every real teacher forward pass). The starting
student's embeddings (the anchor loss's reference) are kept the same way, keyed by a hash of its weights.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DistillError
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


#: Where a run records the store key of its starting student's embeddings (a resumed run reads them back by it).
START_FILE = "start_student.json"


def student_identity(model) -> str:
    """`start:` + sha256 of a student's modules (their classes and configs) and weights (names, dtypes, shapes,
    bytes): the store's model id for its embeddings, as a local model folder is keyed by the hash of its weights.
    The same starting student (same backbone, layers, seed and projection fit, or the same `init_from`) gets the
    same id in every run."""
    import torch

    h = hashlib.sha256()
    configs = [
        [type(m).__name__, m.get_config_dict() if hasattr(m, "get_config_dict") else None] for m in model.children()
    ]
    h.update(json.dumps(configs, sort_keys=True, default=str).encode())
    for name, t in model.state_dict().items():
        t = t.detach().to("cpu").contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return f"start:{h.hexdigest()}"


def _refuse(chunk: list[str]) -> tuple[np.ndarray, int]:
    raise DistillError(
        f"{len(chunk)} of the starting student's embeddings are no longer in the store, and this resumed run no "
        "longer has that student; start over with a new --output"
    )


def start_embeddings(
    model,
    inputs: Sequence[str],
    roles: Sequence[str],
    anchor_roles: Sequence[str],
    store,
    output: Path,
    resuming: bool,
) -> tuple[np.ndarray, dict[str, dict]]:
    """The starting student's embeddings of the inputs of `anchor_roles` (other rows are 0), through the store:
    computed once, like teacher targets, and reused by every run that starts from the same student.

    `inputs` carry their prompts, so the key's prompt is empty. A fresh run keys them by `student_identity(model)`
    and records the key in `output/START_FILE`; a resumed run (whose model already holds trained weights) reads
    them back by the recorded key."""
    from leafbench.store.keys import EncodingKey

    from .evaluation import encode_texts

    record_path = output / START_FILE
    if resuming:
        if not record_path.is_file():
            raise DistillError(f"{record_path} is missing: this run did not start with train.loss.anchor")
        record = json.loads(record_path.read_text())
        encode = _refuse
    else:
        record = {"model_id": student_identity(model), "max_seq_length": model.max_seq_length}
        encode = lambda chunk: (encode_texts(model, chunk), 0)  # noqa: E731
    out: np.ndarray | None = None
    stats: dict[str, dict] = {}
    for role in anchor_roles:
        idx = [i for i, r in enumerate(roles) if r == role]
        if not idx:
            continue
        key = EncodingKey(record["model_id"], role, "", record["max_seq_length"], "fp32")
        rows, st = store.get_or_encode(key, [inputs[i] for i in idx], encode)
        emb = np.asarray(rows, dtype=np.float32)
        if out is None:
            out = np.zeros((len(inputs), emb.shape[1]), dtype=np.float32)
        out[idx] = emb
        stats[role] = {"n_texts": st.n_texts, "n_encoded_now": st.n_encoded, "store_entries": [st.digest]}
        log.info("start student %s embeddings: %d texts (%d encoded)", role, st.n_texts, st.n_encoded)
    if out is None:
        raise DistillError(f"train.loss.anchor: no training text has a role of {list(anchor_roles)}")
    if not resuming:
        record_path.parent.mkdir(parents=True, exist_ok=True)
        record_path.write_text(json.dumps({**record, "roles": list(anchor_roles), "stats": stats}, indent=1) + "\n")
    return out, stats
