"""Training objectives: LEAF's plain L2, and the ranking- and geometry-aware terms a recipe may add beside it.

Every function takes the student's embeddings (with gradient) and fixed references (teacher targets, the
starting student's embeddings, a bank of teacher documents), which never receive a gradient. `Objective` is the
weighted sum a recipe's `train.loss` asks for; with the default (`l2: 1`, nothing else) it is `l2_loss` itself,
so a recipe without a `loss:` section trains exactly as before.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .errors import DistillError
from .recipe import LossCfg


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


class Objective:
    """The weighted sum of a recipe's loss terms for one batch, and each term's value on its own.

    `names` are the components recorded (`loss_<name>` in metrics.jsonl): l2 always (with weight 0 it is measured
    without a gradient: how far the student is from the teacher is the run's first number), every other term when
    its weight is above 0. rank_kl is averaged over the batch's query-role texts, anchor and pairwise over its
    texts of `anchor.roles`, simmat over all of it; a batch without such texts adds 0 for that term.
    """

    def __init__(
        self,
        cfg: LossCfg,
        roles: Sequence[str] | None = None,
        bank: torch.Tensor | None = None,
    ) -> None:
        self.cfg = cfg
        self.weights = {k: w for k, w in cfg.weights().items() if k == "l2" or w > 0}
        self.names = list(self.weights)
        self.plain = self.names == ["l2"] and cfg.l2.weight == 1.0
        if set(self.names) - {"l2"} and roles is None:
            raise DistillError("train.loss: terms beside l2 need the role of every training text")
        # Which texts each term reads, as host arrays: selecting rows by index read here never waits for the GPU.
        self.is_query = _role_mask(roles, ["query"]) if "rank_kl" in self.names else None
        self.is_anchored = _role_mask(roles, cfg.anchor.roles) if cfg.needs_start() else None
        if "rank_kl" in self.weights and bank is None:
            raise DistillError("train.loss.rank_kl needs a bank of teacher document embeddings")
        self.bank = bank

    def __call__(
        self, student: torch.Tensor, target: torch.Tensor, idx: np.ndarray, start: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(total loss, [each component's value, detached, in `names` order]) for the batch `idx`; `start`: the
        starting student's embeddings of the batch's texts (needed by anchor and pairwise)."""
        if self.plain:  # the paper's objective, the very computation it always was
            loss = l2_loss(student, target)
            return loss, [loss.detach()]
        parts = self._parts(student, target, idx, start)
        total: torch.Tensor | None = None
        for name, value in parts.items():
            w = self.weights[name]
            if w > 0:
                term = value if w == 1.0 else w * value
                total = term if total is None else total + term
        assert total is not None  # the recipe has a weight above 0
        return total, [parts[n].detach() for n in self.names]

    def _parts(
        self, student: torch.Tensor, target: torch.Tensor, idx: np.ndarray, start: torch.Tensor | None
    ) -> dict[str, torch.Tensor]:
        """Each active term's value on this batch."""
        if self.cfg.l2.weight > 0:
            parts = {"l2": l2_loss(student, target)}
        else:
            with torch.no_grad():
                parts = {"l2": l2_loss(student.detach(), target)}
        if "rank_kl" in self.weights:
            q = _rows_where(self.is_query, idx, student.device)
            parts["rank_kl"] = (
                rank_kl_loss(student[q], target[q], self.bank, self.cfg.rank_kl.tau) if len(q) else student.sum() * 0.0
            )
        if "anchor" in self.weights or "pairwise" in self.weights:
            if start is None:
                raise DistillError("train.loss.anchor needs the starting student's embeddings")
            a = _rows_where(self.is_anchored, idx, student.device)
            if "anchor" in self.weights:
                parts["anchor"] = l2_loss(student[a], start[a].detach()) if len(a) else student.sum() * 0.0
            if "pairwise" in self.weights:
                parts["pairwise"] = similarity_matrix_loss(student[a], start[a])
        if "simmat" in self.weights:
            parts["simmat"] = similarity_matrix_loss(student, target)
        return parts


def _role_mask(roles: Sequence[str], wanted: Sequence[str]) -> np.ndarray:
    """Which texts have one of the `wanted` roles (a bool array; no array of strings for millions of texts)."""
    return np.fromiter((r in wanted for r in roles), dtype=bool, count=len(roles))


def _rows_where(mask: np.ndarray, idx: np.ndarray, device: torch.device) -> torch.Tensor:
    """Positions in the batch `idx` of the texts `mask` marks, as an index tensor on `device`."""
    return torch.as_tensor(np.flatnonzero(mask[idx]), device=device)
