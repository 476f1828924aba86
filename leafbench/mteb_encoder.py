"""An mteb EncoderProtocol that serves embeddings from leafbench's store, routed by mode, with one cell applied.

mteb's own task objects and evaluators (STS, classification, clustering, pair classification, reranking,
summarization) call `encode(...)` with a `prompt_type`; this class routes each call to the student or the
teacher, encodes through the store (so every cell and every mode after the first costs no encoding), and
returns that cell's vectors.

Asymmetric policy for texts without a query/document role: only texts mteb marks as documents
(`prompt_type=document`: retrieval corpora, reranking candidates) go to the teacher; everything else
(queries, STS sentences, classification and clustering texts, pair-classification pairs, summaries) is
encoded by the student — the student is what runs at serving time.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .cells import Cell, cell_vectors
from .errors import UserError
from .modes import Mode

ASYMMETRIC_POLICY = (
    "asymmetric: the teacher encodes only document-role texts (retrieval corpora, reranking candidates); "
    "the student encodes queries and every text without a query/document role (STS, classification, "
    "clustering, pair classification, summarization)"
)


def _texts(inputs: Iterable[dict[str, Any]]) -> list[str]:
    texts: list[str] = []
    for batch in inputs:
        if "text" not in batch:
            raise UserError(f"leafbench encodes text only; this task's batches hold {sorted(batch)}")
        texts.extend(batch["text"])
    return texts


class StoreEncoder:
    """Implements mteb's EncoderProtocol (encode / similarity / similarity_pairwise) over leafbench encoders."""

    def __init__(
        self,
        encoders: dict[str, Any],
        mode: str,
        cell: Cell = Cell(None),
        name: str = "leafbench/model",
        revision: str = "local",
    ) -> None:
        from mteb.models import ModelMeta

        self.encoders = encoders
        self.mode = Mode(mode)
        self.cell = cell
        self.calls: list[dict[str, Any]] = []  # role, side, n_texts, n_encoded: routing and cost evidence
        self.mteb_model_meta = ModelMeta.create_empty(
            overwrites={"name": name, "revision": revision, "similarity_fn_name": "cosine", "modalities": ["text"]}
        )

    def encode(
        self, inputs: Any, *, task_metadata: Any, hf_split: str, hf_subset: str, prompt_type: Any = None, **kwargs: Any
    ) -> np.ndarray:
        texts = _texts(inputs)
        role, side = self.mode.route.for_prompt_type(prompt_type)
        res = self.encoders[role].encode(texts, side)
        self.calls.append(
            {
                "role": role,
                "side": side,
                "n_texts": len(texts),
                "n_encoded": res.stats.n_encoded,
                "texts_per_s": res.stats.texts_per_s,
                "prompt": res.prompt,
                "full_dim": int(res.embeddings.shape[1]),
            }
        )
        return cell_vectors(res.embeddings, self.cell)

    @staticmethod
    def _unit(x: Any) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim == 1:
            x = x[None, :]
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    def similarity(self, embeddings1: Any, embeddings2: Any) -> Any:
        import torch

        return torch.from_numpy(self._unit(embeddings1) @ self._unit(embeddings2).T)

    def similarity_pairwise(self, embeddings1: Any, embeddings2: Any) -> Any:
        import torch

        return torch.from_numpy(np.sum(self._unit(embeddings1) * self._unit(embeddings2), axis=1))
