"""Training objectives: LEAF's plain L2, and the ranking- and geometry-aware terms a recipe may add beside it.

Every function takes the student's embeddings (with gradient) and fixed references (teacher targets, the
starting student's embeddings, a bank of teacher documents), which never receive a gradient.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .errors import DistillError


def l2_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """LEAF's objective: squared Euclidean distance per text, mean over the batch."""
    return ((student - teacher) ** 2).sum(dim=-1).mean()


def rank_kl_loss(student: torch.Tensor, teacher: torch.Tensor, bank: torch.Tensor, tau: float) -> torch.Tensor:
    """KL(p_teacher || p_student), p = softmax(cos(q, bank) / tau) over the bank's documents; mean over the
    queries. Zero when the student's queries are the teacher's (up to scale). The math of sentence-transformers'
    DistillKLDivLoss (`batchmean` KL of log-softmaxes), over a fixed bank instead of per-example candidates, in
    log space on both sides (a sharp teacher's near-zero probabilities do not underflow and drop out), and
    without its tau² factor: at tau < 1 that only shrinks the term, which its weight already scales."""
    docs = F.normalize(bank.detach(), dim=-1)
    log_p_student = F.log_softmax(F.normalize(student, dim=-1) @ docs.T / tau, dim=-1)
    log_p_teacher = F.log_softmax(F.normalize(teacher.detach(), dim=-1) @ docs.T / tau, dim=-1)
    return F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True)


def similarity_matrix_loss(student: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Mean over the pairs i != j of the batch of (cos(s_i, s_j) - cos(r_i, r_j))²: how far the student's
    in-batch cosine matrix is from the reference's (the diagonal, 1 on both sides, is left out). Zero for fewer
    than two texts."""
    n = len(student)
    if n < 2:
        return student.sum() * 0.0
    s = F.normalize(student, dim=-1)
    r = F.normalize(reference.detach(), dim=-1)
    off = ~torch.eye(n, dtype=torch.bool, device=student.device)
    return ((s @ s.T - r @ r.T)[off] ** 2).mean()


def document_bank(targets: np.ndarray, roles: Sequence[str], size: int | None, seed: int) -> np.ndarray:
    """The rank_kl bank: the teacher targets of the document-role texts, a seeded sample of `size` of them
    (in their training order) when there are more."""
    docs = np.flatnonzero(_role_mask(roles, ["document"]))
    if len(docs) < 2:
        raise DistillError(f"train.loss.rank_kl: {len(docs)} document-role training texts; its bank needs >= 2")
    if size is not None and len(docs) > size:
        docs = np.sort(np.random.default_rng(seed).choice(docs, size=size, replace=False))
    return np.ascontiguousarray(targets[docs], dtype=np.float32)


def _role_mask(roles: Sequence[str], wanted: Sequence[str]) -> np.ndarray:
    """Which texts have one of the `wanted` roles (a bool array; no array of strings for millions of texts)."""
    return np.fromiter((r in wanted for r in roles), dtype=bool, count=len(roles))
