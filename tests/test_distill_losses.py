"""The loss terms beside LEAF's L2: each function against an independent numpy computation, and its invariances."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from leafbench_distill.errors import DistillError
from leafbench_distill.losses import document_bank, rank_kl_loss, similarity_matrix_loss


def _rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(size=shape)).double()


def _rotation(d: int, seed: int = 7) -> torch.Tensor:
    q, _ = torch.linalg.qr(_rand(d, d, seed=seed))
    return q


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------------------------------------- loss functions


def test_rank_kl_is_the_kl_of_the_teachers_softmax_over_the_bank_to_the_students() -> None:
    s, t, bank, tau = _rand(5, 8, seed=1), _rand(5, 8, seed=2), _rand(30, 8, seed=3), 0.1
    p_t = _softmax(_unit(t.numpy()) @ _unit(bank.numpy()).T / tau)
    p_s = _softmax(_unit(s.numpy()) @ _unit(bank.numpy()).T / tau)
    expected = np.mean([sum(p_t[i, j] * np.log(p_t[i, j] / p_s[i, j]) for j in range(30)) for i in range(5)])
    assert float(rank_kl_loss(s, t, bank, tau)) == pytest.approx(expected, rel=1e-9)
    assert float(rank_kl_loss(s, t, bank, tau)) > 0
    assert float(rank_kl_loss(t, t, bank, tau)) == pytest.approx(0.0, abs=1e-12)
    assert float(rank_kl_loss(3.0 * t, t, bank, tau)) == pytest.approx(0.0, abs=1e-12)  # cosines: scale-free


def test_rank_kl_is_unchanged_when_student_teacher_and_bank_turn_together() -> None:
    s, t, bank, r = _rand(4, 6, seed=4), _rand(4, 6, seed=5), _rand(20, 6, seed=6), _rotation(6)
    assert float(rank_kl_loss(s @ r, t @ r, bank @ r, 0.05)) == pytest.approx(float(rank_kl_loss(s, t, bank, 0.05)))
    assert float(rank_kl_loss(s @ r, t, bank, 0.05)) != pytest.approx(float(rank_kl_loss(s, t, bank, 0.05)))


def test_similarity_matrix_loss_is_the_mean_squared_cosine_difference_over_pairs() -> None:
    a, b = _rand(6, 5, seed=8), _rand(6, 5, seed=9)
    ua, ub = _unit(a.numpy()), _unit(b.numpy())
    pairs = [(i, j) for i in range(6) for j in range(6) if i != j]
    expected = np.mean([(ua[i] @ ua[j] - ub[i] @ ub[j]) ** 2 for i, j in pairs])
    assert float(similarity_matrix_loss(a, b)) == pytest.approx(expected, rel=1e-9)
    assert float(similarity_matrix_loss(b, b)) == pytest.approx(0.0, abs=1e-12)
    r = _rotation(5)
    assert float(similarity_matrix_loss(a @ r, b @ r)) == pytest.approx(expected, rel=1e-9)  # a shared rotation
    assert float(similarity_matrix_loss(a @ r, b)) == pytest.approx(expected, rel=1e-9)  # geometry only
    assert float(similarity_matrix_loss(a[:1], b[:1])) == 0.0  # no pair


def test_the_losses_send_gradients_to_the_student_only() -> None:
    s = _rand(4, 6, seed=10).requires_grad_()
    t, start, bank = (_rand(*shape, seed=k).requires_grad_() for k, shape in ((11, (4, 6)), (12, (4, 6)), (13, (9, 6))))
    total = rank_kl_loss(s, t, bank, 0.05) + similarity_matrix_loss(s, t) + similarity_matrix_loss(s, start)
    total.backward()
    assert s.grad is not None and float(s.grad.abs().sum()) > 0
    assert t.grad is None and start.grad is None and bank.grad is None


def test_the_bank_is_a_seeded_sample_of_the_document_targets() -> None:
    targets = np.arange(40, dtype=np.float32).reshape(10, 4)
    roles = ["query", "document"] * 5
    np.testing.assert_array_equal(document_bank(targets, roles, None, 0), targets[1::2])
    small = document_bank(targets, roles, 3, 0)
    assert small.shape == (3, 4) and set(small[:, 0] // 4) <= {1, 3, 5, 7, 9}
    np.testing.assert_array_equal(small, document_bank(targets, roles, 3, 0))  # the seed decides
    assert any(not np.array_equal(small, document_bank(targets, roles, 3, s)) for s in range(1, 6))
    with pytest.raises(DistillError, match="bank needs >= 2"):
        document_bank(targets, ["query"] * 9 + ["document"], None, 0)
