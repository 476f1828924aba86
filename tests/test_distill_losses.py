"""The loss terms a recipe may add beside LEAF's L2 (`train.loss`): each function against an independent numpy
computation and its invariances, the recipe surface and its errors, the default training exactly as before, and a
few steps of a tiny run with rank_kl and the anchor on (hash teacher, one-layer minilm-l6 student)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from leafbench_distill.errors import DistillError
from leafbench_distill.losses import (
    Objective,
    document_bank,
    l2_loss,
    rank_kl_loss,
    similarity_matrix_loss,
)
from leafbench_distill.recipe import RECIPE_DIR, LossCfg, RecipeError, load_recipe, load_stages, parse_recipe

ROOT = Path(__file__).resolve().parents[1]


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


def _cfg(**loss) -> LossCfg:
    raw = load_recipe("mini").raw
    return parse_recipe({**raw, "train": {**raw["train"], "loss": loss}}, "t.yaml").train.loss


def test_the_objective_weighs_each_term_over_the_texts_it_reads() -> None:
    roles = np.array(["query", "document", "document", "query", "document", "document"])
    s, t, start = _rand(6, 4, seed=14), _rand(6, 4, seed=15), _rand(6, 4, seed=16)
    bank = _rand(7, 4, seed=17)
    cfg = _cfg(
        l2=0.5, rank_kl={"weight": 2.0, "tau": 0.1}, anchor={"weight": 0.3, "pairwise": 4.0}, simmat={"weight": 1.5}
    )
    obj = Objective(cfg, list(roles), bank)
    assert obj.names == ["l2", "rank_kl", "anchor", "pairwise", "simmat"]
    idx = np.array([0, 1, 2, 3, 4, 5])
    total, parts = obj(s, t, idx, start)
    q, d = roles == "query", roles == "document"
    expected = [
        l2_loss(s, t),
        rank_kl_loss(s[q], t[q], bank, 0.1),
        l2_loss(s[d], start[d]),
        similarity_matrix_loss(s[d], start[d]),
        similarity_matrix_loss(s, t),
    ]
    assert [float(p) for p in parts] == pytest.approx([float(e) for e in expected])
    assert float(total) == pytest.approx(float(sum(w * e for w, e in zip((0.5, 2.0, 0.3, 4.0, 1.5), expected))))
    # a batch of documents only: rank_kl adds 0, and the total still reaches the student
    docs = np.flatnonzero(d)
    x = s[docs].clone().requires_grad_()
    total, parts = obj(x, t[docs], docs, start[docs])
    assert float(parts[1]) == 0.0 and total.requires_grad
    # l2 at weight 0 is still measured, without a gradient
    obj = Objective(_cfg(l2=0.0, simmat=1.0), list(roles))
    x = s.clone().requires_grad_()
    total, parts = obj(x, t, idx)
    assert obj.names == ["l2", "simmat"] and float(parts[0]) == pytest.approx(float(l2_loss(s, t)))
    assert float(total.detach()) == pytest.approx(float(similarity_matrix_loss(s, t)))


# ---------------------------------------------------------------------------------------------- recipes


def test_the_paper_recipes_and_earlier_experiments_keep_plain_l2() -> None:
    """The paper's recipes, the staged one and the runs recorded before the loss terms existed train on L2 alone
    (recipes built to compare loss terms, like experiments/isometric-dev, are not in this list)."""
    shipped = [RECIPE_DIR / f"{n}.yaml" for n in ("leaf-ir", "leaf-mt", "mini", "mpnet-offline-staged")]
    files = [*shipped, *(ROOT / "experiments" / "mpnet-offline").glob("recipes/**/*.yaml")]
    assert len(files) > len(shipped)
    for path in files:
        for r in load_stages(str(path)):
            assert r.train.loss == LossCfg(), path
            assert Objective(r.train.loss).plain


def test_loss_terms_are_a_weight_or_a_mapping() -> None:
    cfg = _cfg(l2=1.0, rank_kl={"weight": 1.0, "tau": 0.05, "bank": 2000}, anchor={"weight": 0.5, "pairwise": 1.0})
    assert (cfg.l2.weight, cfg.rank_kl.bank, cfg.anchor.roles, cfg.simmat.weight) == (1.0, 2000, ["document"], 0.0)
    assert _cfg(simmat=0.2).simmat.weight == 0.2 and _cfg(simmat=0.2).l2.weight == 1.0  # l2 left out: 1
    assert _cfg(rank_kl={"weight": 1, "bank": None}).rank_kl.bank is None
    assert _cfg(anchor={"weight": 1, "roles": ["query", "document"]}).anchor.roles == ["query", "document"]


@pytest.mark.parametrize(
    "loss, match",
    [
        ({"l2": 1.0, "kl": 1.0}, r"train\.loss: unknown keys \['kl'\]"),
        ({"rank_kl": {"weight": 1, "temperature": 0.1}}, r"train\.loss\.rank_kl: unknown keys \['temperature'\]"),
        ({"rank_kl": {"weight": 1, "tau": 0}}, r"train\.loss\.rank_kl\.tau must be > 0"),
        ({"rank_kl": {"weight": 1, "tau": "0.05"}}, r"train\.loss\.rank_kl\.tau must be a number"),
        ({"rank_kl": {"weight": 1, "bank": 1}}, r"train\.loss\.rank_kl\.bank must be >= 2"),
        ({"rank_kl": {"weight": 1, "bank": 2.5}}, r"train\.loss\.rank_kl\.bank must be an integer or null"),
        ({"anchor": {"weight": -0.5}}, r"train\.loss\.anchor\.weight must be >= 0"),
        ({"anchor": {"pairwise": -1}}, r"train\.loss\.anchor\.pairwise must be >= 0"),
        ({"anchor": {"weight": 1, "roles": ["passage"]}}, r"train\.loss\.anchor\.roles must be distinct roles"),
        ({"anchor": {"weight": 1, "roles": []}}, r"train\.loss\.anchor\.roles must be distinct roles"),
        ({"anchor": {"weight": 1, "roles": "document"}}, r"train\.loss\.anchor\.roles must be a list"),
        ({"simmat": True}, r"train\.loss\.simmat must be a weight \(a number\) or a mapping"),
        ({"simmat": [1]}, r"train\.loss\.simmat must be a weight"),
        ({"l2": 0}, r"train\.loss: every weight is 0"),
        ("l2", r"train\.loss: expected a mapping of loss terms"),
    ],
)
def test_bad_loss_settings_fail_with_the_key_named(loss, match: str) -> None:
    raw = load_recipe("mini").raw
    with pytest.raises(RecipeError, match=match):
        parse_recipe({**raw, "train": {**raw["train"], "loss": loss}}, "bad.yaml")


def test_a_term_that_needs_texts_of_a_role_the_sources_lack_fails() -> None:
    raw = load_recipe("mini").raw
    docs_only = {**raw["data"], "sources": [s for s in raw["data"]["sources"] if s["role"] == "document"]}
    for loss, match in [
        ({"rank_kl": 1.0}, "rank_kl needs query-role texts"),
        ({"anchor": {"weight": 1, "roles": ["query"]}}, r"anchor\.roles \['query'\]: no source has such a role"),
    ]:
        with pytest.raises(RecipeError, match=match):
            parse_recipe({**raw, "data": docs_only, "train": {**raw["train"], "loss": loss}}, "bad.yaml")


# ---------------------------------------------------------------------------------------------- training


def _tiny_data(n: int = 24) -> tuple[list[str], np.ndarray, list[str]]:
    rng = np.random.default_rng(0)
    words = ["protein", "cell", "gene", "cancer", "virus", "drug", "trial", "dose", "brain", "heart"]
    inputs = [" ".join(rng.choice(words, size=rng.integers(2, 7))) for _ in range(n)]
    targets = _unit(rng.normal(size=(n, 384))).astype(np.float32)
    return inputs, targets, ["query" if i % 3 == 0 else "document" for i in range(n)]


def _student():
    from leafbench_distill.student import build_student

    torch.manual_seed(123)
    return build_student("minilm-l6", 384, layers=[0], max_seq_length=16)


def test_the_default_loss_trains_exactly_as_the_plain_l2_loop(tmp_path: Path) -> None:
    """Trainer with no `loss:`, with `loss: {l2: 1.0}`, and the training step as it was before loss terms existed
    (tokenize, forward, l2_loss, backward, clip, AdamW): the same losses and bit-identical weights."""
    from leafbench_distill.train import Trainer, epoch_batches, lr_at

    inputs, targets, roles = _tiny_data()
    base = replace(load_recipe("mini").train, batch_size=8, cycles=1, epochs_per_cycle=1, max_steps=3)
    explicit = replace(base, loss=_cfg(l2=1.0))
    runs = []
    for i, cfg in enumerate((base, explicit)):
        trainer = Trainer(_student(), inputs, targets, cfg, tmp_path / str(i), progress=False, roles=roles)
        trainer.fit(eval_at_start=False)
        runs.append(trainer)
    rows = [[r for r in t.state.history if r["kind"] == "train"] for t in runs]
    assert rows[0][-1]["loss"] == rows[1][-1]["loss"] == rows[0][-1]["loss_l2"]
    model = _student()  # the loop as it was
    torch.manual_seed(base.seed)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=base.lr_max, weight_decay=base.weight_decay)
    t = torch.from_numpy(targets)
    losses = []
    for step, idx in enumerate(epoch_batches(len(inputs), [len(x) for x in inputs], 0, base)[:3]):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, runs[0].steps_per_cycle, base)
        out = model(model.preprocess([inputs[i] for i in idx]))["sentence_embedding"]
        loss = ((out - t[idx]) ** 2).sum(dim=-1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), base.grad_clip)
        opt.step()
        losses.append(float(loss.detach()))
    assert rows[0][-1]["loss"] == pytest.approx(np.mean(losses), rel=1e-6)
    for other in (runs[1].model, model):
        a, b = runs[0].model.state_dict(), other.state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_training_with_every_term_logs_each_beside_their_weighted_total(tmp_path: Path) -> None:
    from leafbench_distill.train import Trainer

    inputs, targets, roles = _tiny_data()
    loss = _cfg(rank_kl={"weight": 1.0, "bank": 5}, anchor={"weight": 0.5, "pairwise": 1.0}, simmat=0.5)
    cfg = replace(load_recipe("mini").train, batch_size=8, cycles=1, epochs_per_cycle=1, max_steps=2, loss=loss)
    with pytest.raises(DistillError, match="starting student's embedding"):
        Trainer(_student(), inputs, targets, cfg, None, progress=False, roles=roles)
    start = np.zeros_like(targets)
    trainer = Trainer(_student(), inputs, targets, cfg, tmp_path, progress=False, roles=roles, start=start)
    assert trainer.objective.bank.shape == (5, 384)
    trainer.fit(eval_at_start=False)
    row = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()][-1]
    names = ["l2", "rank_kl", "anchor", "pairwise", "simmat"]
    assert all(np.isfinite(row[f"loss_{n}"]) for n in names) and row["loss_rank_kl"] > 0
    weights = (1.0, 1.0, 0.5, 1.0, 0.5)
    assert row["loss"] == pytest.approx(sum(w * row[f"loss_{n}"] for w, n in zip(weights, names)), rel=1e-5)


STAGE = """name: tiny-losses
teacher: {model: hash-384, dim: 384}
student: {backbone: minilm-l6, layers: [0], max_seq_length: 16, ridge_texts: 40}
data:
  heldout: 8
  sources:
    - {name: q, path: q.jsonl, role: query}
    - {name: d, path: d.jsonl, role: document}
train:
  batch_size: 8
  cycles: 1
  epochs_per_cycle: 1
  max_steps: 2
  checkpoint_every: 100
  loss:
    l2: 1.0
    rank_kl: {weight: 1.0, tau: 0.05, bank: 20}
    anchor: {weight: 0.5, pairwise: 1.0}
eval: {retrieval: null}
"""


def test_a_run_with_rank_kl_and_the_anchor_computes_the_start_once_and_logs_each_term(tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    from leafbench_distill import distill
    from leafbench_distill.targets import START_FILE

    (tmp_path / "q.jsonl").write_text(
        "".join(json.dumps({"text": f"question {i} on topic {i % 5}"}) + "\n" for i in range(30))
    )
    (tmp_path / "d.jsonl").write_text(
        "".join(json.dumps({"text": f"a passage {i} about subject {i % 4}"}) + "\n" for i in range(30))
    )
    (tmp_path / "r.yaml").write_text(STAGE)
    recipe, cache = str(tmp_path / "r.yaml"), tmp_path / "cache"

    def run(output: str, **kw):
        return distill(recipe, tmp_path / output, training_dir=tmp_path, cache_dir=cache, router=False, **kw)

    first = run("one")
    rows = [json.loads(x) for x in (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in rows if r["kind"] == "train"]
    assert first.summary["steps"] == 2 and train
    assert {"loss", "loss_l2", "loss_rank_kl", "loss_anchor", "loss_pairwise"} <= set(train[-1])
    record = json.loads((tmp_path / "one" / START_FILE).read_text())
    assert record["roles"] == ["document"] and record["model_id"].startswith("start:")
    n_docs = record["stats"]["document"]["n_texts"]
    assert n_docs > 0 and record["stats"]["document"]["n_encoded_now"] == n_docs

    second = run("two")  # the same starting student: its embeddings come from the store
    again = json.loads((tmp_path / "two" / START_FILE).read_text())
    assert again["model_id"] == record["model_id"] and again["stats"]["document"]["n_encoded_now"] == 0
    assert second.summary["steps"] == 2

    # a bundle run (no teacher store there) keeps them in its cache folder's store: the same rows, the same weights
    from leafbench_distill import export_bundle

    export_bundle(recipe, tmp_path / "bundle", cache_dir=cache, training_dir=tmp_path)
    distill(None, tmp_path / "three", bundle=tmp_path / "bundle", cache_dir=cache)
    assert json.loads((tmp_path / "three" / START_FILE).read_text())["stats"]["document"]["n_encoded_now"] == 0
    a, b = (SentenceTransformer(str(tmp_path / run / "final")).state_dict() for run in ("two", "three"))
    assert all(torch.equal(a[k], b[k]) for k in a)

    # a finished run extended by more steps resumes from its checkpoint and reads its start back by the record
    longer = run("one", max_steps=3)
    assert longer.summary["steps"] == 3
    assert json.loads((tmp_path / "one" / START_FILE).read_text()) == record
