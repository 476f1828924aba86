"""Build a LEAF student from sentence-transformers modules.

Student = Transformer (optionally with a subset of its layers) → mean Pooling → Dense(d_student → d_teacher,
identity activation) → Normalize. Built only from stock ST modules so the result saves and loads as a plain
SentenceTransformer folder (0_Transformer / 1_Pooling / 2_Dense / 3_Normalize) that any ST user can load.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .errors import DistillError

log = logging.getLogger(__name__)


def backbone_source(backbone: str, cache_dir: Path | None = None) -> str:
    """An offline alias (minilm-l6, mpnet-base) resolves to its local folder; anything else is an HF id/folder."""
    from leafbench.registry import ALIASES, resolve_model

    alias = ALIASES.get(backbone)
    if alias is not None:
        if alias.offline:
            return resolve_model(backbone, cache_dir).source
        assert alias.hf_id is not None
        return alias.hf_id
    return backbone


def select_layers(transformer, layers: Sequence[int] | str | None) -> list[int] | None:
    """Keep only `layers` of the encoder stack (e.g. [0, 3, 5], or "every_other" as MiniLM-L6 was cut from L12).

    Works on BERT-like models (`auto_model.encoder.layer`); the config is updated so the saved folder reloads
    with the pruned depth.
    """
    if layers is None:
        return None
    model = transformer.auto_model
    encoder = getattr(model, "encoder", None)
    stack = getattr(encoder, "layer", None)
    if stack is None:
        raise DistillError(
            f"layer selection needs a BERT-like encoder (encoder.layer); {type(model).__name__} has none"
        )
    n = len(stack)
    if layers == "every_other":
        keep = list(range(1, n, 2))
    elif isinstance(layers, str):
        raise DistillError(f"layers must be a list of indices or 'every_other', not {layers!r}")
    else:
        keep = [int(i) for i in layers]
    bad = [i for i in keep if not 0 <= i < n]
    if bad or not keep or sorted(set(keep)) != keep:
        raise DistillError(
            f"layers {keep} must be distinct, increasing indices in [0, {n}); the backbone has {n} layers"
        )
    encoder.layer = torch.nn.ModuleList([stack[i] for i in keep])
    model.config.num_hidden_layers = len(keep)
    # Some attention implementations index caches by layer_idx; renumber so the pruned stack is self-consistent.
    for new_idx, layer in enumerate(encoder.layer):
        for mod in layer.modules():
            if hasattr(mod, "layer_idx"):
                mod.layer_idx = new_idx
    return keep


def build_student(
    backbone: str,
    teacher_dim: int,
    layers: Sequence[int] | str | None = None,
    max_seq_length: int | None = 128,
    bias: bool = True,
    normalize: bool = True,
    cache_dir: Path | None = None,
    device: str = "cpu",
):
    """A fresh student; the projection is random until `init_projection_ridge` (or `_procrustes`) aligns it."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import (
        Dense,
        Normalize,
        Pooling,
        Transformer,
    )

    source = backbone_source(backbone, cache_dir)
    transformer = Transformer(source, max_seq_length=max_seq_length)
    select_layers(transformer, layers)
    dim = transformer.get_embedding_dimension()
    modules: list[torch.nn.Module] = [
        transformer,
        Pooling(dim, pooling_mode="mean"),
        # Identity, not ST's default Tanh: LEAF's projection is linear into the teacher's space.
        Dense(dim, teacher_dim, bias=bias, activation_function=torch.nn.Identity()),
    ]
    if normalize:
        modules.append(Normalize())
    return SentenceTransformer(modules=modules, device=device)


def dense_module(model):
    from sentence_transformers.sentence_transformer.modules import Dense

    for m in model.children():
        if isinstance(m, Dense):
            return m
    raise ValueError("student has no Dense projection")


@torch.no_grad()
def pooled_outputs(model, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """Mean-pooled backbone outputs (the projection's input) for texts that already carry their prompts."""
    children = list(model.children())
    dense_idx = next(i for i, m in enumerate(children) if m is dense_module(model))
    was_training = model.training
    model.eval()
    out = []
    order = np.argsort([-len(t) for t in texts], kind="stable")
    for s in range(0, len(texts), batch_size):
        idx = order[s : s + batch_size]
        feats = model.preprocess([texts[i] for i in idx])
        feats = {k: (v.to(model.device) if isinstance(v, torch.Tensor) else v) for k, v in feats.items()}
        for m in children[:dense_idx]:
            feats = m(feats)
        out.append((idx, feats["sentence_embedding"].float().cpu().numpy()))
    model.train(was_training)
    res = np.empty((len(texts), out[0][1].shape[1]), dtype=np.float64)
    for idx, emb in out:
        res[idx] = emb
    return res


def _mean_cosine(pred: np.ndarray, y: np.ndarray) -> float:
    """Mean row-wise cosine of a fitted projection's outputs and the teacher targets (the fit's log line)."""
    pred = pred / np.maximum(np.linalg.norm(pred, axis=1, keepdims=True), 1e-12)
    yn = y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)
    return float((pred * yn).sum(1).mean())


def init_projection_procrustes(
    model, texts: Sequence[str], targets: np.ndarray, weights: np.ndarray | None = None
) -> dict[str, float]:
    """Set the projection to a scaled isometry (orthogonal Procrustes pooled → teacher), bias 0.

    Why: cosine between two student embeddings is then exactly the backbone's own cosine, so student-mode
    retrieval starts at the backbone's score (minilm-l6: 98% of mpnet-base on SciFact) instead of the ridge
    map's 90%; a ridge map is ill-conditioned towards the teacher and amplifies whatever error the backbone
    keeps in those directions. Measured: it also starts asymmetric retrieval higher (README, "An isometric start").
    `weights` (one per text) weight each row's squared error in the fit.
    """
    x = pooled_outputs(model, texts)
    y = np.asarray(targets, dtype=np.float64)
    root = np.sqrt(np.asarray(weights, dtype=np.float64))[:, None] if weights is not None else 1.0
    xw, yw = x * root, y * root
    u, sv, vt = np.linalg.svd(yw.T @ xw, full_matrices=False)  # [d_t, d_s] = U Σ Vᵀ
    scale = float(sv.sum()) / float((xw * xw).sum())  # least-squares scale for the rotation
    w = scale * (u @ vt)  # [d_t, d_s], columns orthogonal with equal norms
    dense = dense_module(model)
    with torch.no_grad():
        dense.linear.weight.copy_(torch.from_numpy(w.astype(np.float32)))
        if dense.linear.bias is not None:
            dense.linear.bias.zero_()  # a bias would change cosines between student embeddings
    cos = _mean_cosine(x @ w.T, y)
    log.info("procrustes projection: scale=%.4g, fit cosine=%.4f on %d texts", scale, cos, len(texts))
    return {"scale": scale, "fit_cosine": cos, "n_texts": len(texts)}


def init_projection_ridge(model, texts: Sequence[str], targets: np.ndarray, alpha: float = 0.01) -> dict[str, float]:
    """Set the projection to the ridge solution pooled → teacher on a sample, λ = alpha × mean eigenvalue.

    Why ridge: plain least squares starts aligned but is ill-conditioned (huge gradients, training collapses);
    random init learns far too slowly on a CPU budget. Ridge keeps most of the alignment with a tame map.
    """
    x = pooled_outputs(model, texts)
    y = np.asarray(targets, dtype=np.float64)
    dense = dense_module(model)
    has_bias = dense.linear.bias is not None
    if has_bias:
        x_mean, y_mean = x.mean(0), y.mean(0)
        xc, yc = x - x_mean, y - y_mean
    else:
        xc, yc = x, y
    gram = xc.T @ xc
    lam = alpha * float(np.trace(gram)) / gram.shape[0]
    w = np.linalg.solve(gram + lam * np.eye(gram.shape[0]), xc.T @ yc)  # [d_s, d_t]
    with torch.no_grad():
        dense.linear.weight.copy_(torch.from_numpy(w.T.astype(np.float32)))
        if has_bias:
            dense.linear.bias.copy_(torch.from_numpy((y_mean - x_mean @ w).astype(np.float32)))
    cos = _mean_cosine(x @ w + (y_mean - x_mean @ w if has_bias else 0.0), y)
    log.info("ridge projection: lambda=%.4g, fit cosine=%.4f on %d texts", lam, cos, len(texts))
    return {"lambda": lam, "fit_cosine": cos, "n_texts": len(texts)}


def keep_orthogonal(model) -> None:
    """Parametrize the projection so every optimizer step keeps its columns orthonormal (the Procrustes start's
    scale is dropped: the student normalizes its output) and freeze its bias at zero, so student-mode cosines
    are the backbone's own throughout training."""
    from torch.nn.utils import parametrizations

    lin = dense_module(model).linear
    if lin.bias is not None:
        with torch.no_grad():
            lin.bias.zero_()
        lin.bias.requires_grad_(False)
    parametrizations.orthogonal(lin)


def plain_projection(model) -> None:
    """Fold a parametrized projection back into a plain weight, so the saved folder is a stock Dense layer."""
    from torch.nn.utils import parametrize

    lin = dense_module(model).linear
    if parametrize.is_parametrized(lin, "weight"):
        parametrize.remove_parametrizations(lin, "weight", leave_parametrized=True)
