"""The validation protocol: a dev set held out of the train claims selects the student; test is scored once.

Unit layer (no data): the seeded split, the recipe's rules, the selector. Integration (SciFact, the mini recipe
with a dev set): in-training rows read only dev, training never sees a dev claim, the exported student is the
selected one, and test and dev results land as separate protocols.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from leafbench_distill.recipe import RecipeError, load_recipe, parse_recipe
from leafbench_distill.validation import DevSplit, Selector, held_out_ids


def test_the_dev_split_is_a_seeded_half_whatever_the_order() -> None:
    ids = [f"q{i}" for i in range(101)]
    dev = held_out_ids(ids, 0.5, seed=0)
    assert len(dev) == 50 and dev <= set(ids)
    assert held_out_ids(list(reversed(ids)), 0.5, seed=0) == dev  # file order does not matter
    assert held_out_ids(ids, 0.5, seed=1) != dev
    assert held_out_ids(ids + ["q999"], 0.5, seed=0) & dev  # a new query moves the cut by at most one
    split = DevSplit.of(ids, 0.25, 3)
    assert split.dev_ids.isdisjoint(split.train_ids) and split.dev_ids | split.train_ids == set(ids)
    assert split.describe() == {"fraction": 0.25, "seed": 3, "dev_queries": 25, "train_queries": 76}
    with pytest.raises(ValueError, match="fraction"):
        held_out_ids(ids, 1.0)


def _mini_raw(**eval_keys) -> dict:
    raw = dict(load_recipe("mini").raw)
    return {**raw, "eval": {**raw["eval"], **eval_keys}}


@pytest.mark.parametrize(
    ("eval_keys", "match"),
    [
        ({"select": "min"}, "selects on the dev set: set eval.dev"),
        ({"select": "best"}, "eval.select must be one of"),
        ({"dev": {"split": "test"}, "select": "asymmetric"}, "never the test set"),
        ({"dev": {"fraction": 1.5}}, r"fraction must be in \(0, 1\)"),
        ({"dev": {"student_mode": False}, "select": "min"}, "needs student mode on dev"),
        ({"dev": {"folds": 2}}, "unknown keys"),
    ],
)
def test_bad_dev_settings_fail_with_the_field_named(eval_keys: dict, match: str) -> None:
    with pytest.raises(RecipeError, match=match):
        parse_recipe(_mini_raw(**eval_keys), "dev.yaml")


def test_dev_scores_the_student_at_its_export_length() -> None:
    from leafbench_distill.recipe import dev_read_length

    raw = _mini_raw(dev={})
    student = raw["student"]
    assert dev_read_length(parse_recipe(raw, "d.yaml")) is None  # nothing exported longer: the training length
    fixed = {**raw, "student": {**student, "export_max_seq_length": 384}}
    assert dev_read_length(parse_recipe(fixed, "d.yaml")) == 384
    chosen = {**raw, "student": {**student, "export_lengths": [256, 512, 384]}}
    assert dev_read_length(parse_recipe(chosen, "d.yaml")) == 512  # the longest candidate
    own = {**chosen, "eval": {**chosen["eval"], "dev": {"read_length": 256}}}
    assert dev_read_length(parse_recipe(own, "d.yaml")) == 256
    assert dev_read_length(parse_recipe(_mini_raw(), "d.yaml")) is None  # no dev set
    with pytest.raises(RecipeError, match="read_length"):
        parse_recipe(_mini_raw(dev={"read_length": 0}), "d.yaml")


def test_the_dev_evaluator_reads_at_its_length_and_gives_the_training_length_back() -> None:
    import numpy as np

    from leafbench_distill.evaluation import Evaluator

    class Model:  # records the length each encode call read at
        max_seq_length, seen = 128, []

        def eval(self) -> None:
            pass

        def encode(self, texts, **_):
            self.seen.append(self.max_seq_length)
            return np.array([[1.0, ord(t[0]) - 97] for t in texts], dtype=np.float32)

    sts = {"x": (["a", "b", "c"], ["a", "z", "d"], np.array([1.0, 0.0, 0.5]))}
    model = Model()
    out = Evaluator(None, sts=sts, prefix="dev_", read_length=384)(model)
    assert "dev_sts_x" in out and model.seen == [384, 384] and model.max_seq_length == 128
    Evaluator(None, sts=sts)(model)
    assert model.seen[2:] == [128, 128]


def test_a_dev_set_needs_its_queries_dropped_from_training() -> None:
    raw = _mini_raw(dev={})
    with pytest.raises(RecipeError, match="drop_eval_overlap: true"):
        parse_recipe({**raw, "data": {**raw["data"], "drop_eval_overlap": False}}, "dev.yaml")


def test_a_dev_set_parses_with_its_defaults() -> None:
    r = parse_recipe(_mini_raw(dev={"sts": ["STSBenchmark"]}, select="min"), "dev.yaml")
    assert r.eval.dev is not None and (r.eval.dev.split, r.eval.dev.fraction, r.eval.dev.seed) == ("train", 0.5, 0)
    assert r.eval.dev.sts == ["STSBenchmark"] and r.eval.select == "min"
    assert parse_recipe(_mini_raw(), "plain.yaml").eval.dev is None  # no dev: selection stays "last"


def test_the_selector_keeps_the_best_state_and_survives_a_restart(tmp_path: Path) -> None:
    model = torch.nn.Linear(2, 2)
    sel = Selector("min", tmp_path, {"task": "SciFact"})

    def row(tag: str, asym: float, student: float) -> dict:
        return {"tag": tag, "step": len(tag), "dev_asym_ndcg_at_10": asym, "dev_student_ndcg_at_10": student}

    with torch.no_grad():
        model.weight.fill_(1.0)
    assert sel.offer(row("start", 0.60, 0.64), model)  # min 0.60
    with torch.no_grad():
        model.weight.fill_(2.0)
    assert sel.offer(row("epoch1", 0.63, 0.62), model)  # min 0.62: better
    with torch.no_grad():
        model.weight.fill_(3.0)
    assert not sel.offer(row("epoch2", 0.70, 0.62), model)  # a tie keeps the earlier state
    assert not sel.offer(row("final", 0.70, 0.50), model)
    again = Selector("min", tmp_path, {"task": "SciFact"})  # a resumed run reads what was selected
    assert again.best is not None and again.best["tag"] == "epoch1" and again.best["value"] == pytest.approx(0.62)
    again.restore(model)
    assert torch.all(model.weight == 2.0)
    rec = again.record()
    assert (
        rec["rule"] == "min" and rec["dev"] == {"task": "SciFact"} and rec["dev_metrics"]["dev_asym_ndcg_at_10"] == 0.63
    )
    with pytest.raises(ValueError, match="needs"):
        Selector("student", tmp_path / "other", {}).offer({"dev_asym_ndcg_at_10": 0.5}, model)


# ---------------------------------------------------------------------------------------------- integration


def test_dev_claims_leave_the_training_texts_and_the_domain_reference(shared_data: Path, tmp_path: Path) -> None:
    from leafbench_distill.pipeline import load_dev
    from leafbench_distill.texts import SourceSpec, check_overlap, load_texts, norm_text, reference_texts

    raw = _mini_raw(dev={}, data_dir=str(shared_data))
    dev = load_dev(parse_recipe(raw, "dev.yaml"))
    assert dev is not None and len(dev.data.query_ids) == 404 and len(dev.data.corpus_ids) == 5183
    assert dev.data.subset_spec["dev"]["dev_queries"] == 404
    folder = shared_data / "beir" / "scifact"
    claims = SourceSpec.from_dict({"name": "claims", "beir": str(folder), "split": "train", "role": "query"})
    texts = load_texts([claims], tmp_path, seed=0)
    found = check_overlap(texts, dev.guard_sets(), drop=True, quiet=list(dev.guard_sets()))
    dev_texts = {norm_text(q) for q in dev.data.query_texts}
    assert found == {"dev:SciFact/train": 403} and not dev_texts & {norm_text(t) for t in texts.texts}
    assert texts.counts == {"claims": len(texts)} == {"claims": 404}  # counts say what is left after the drop
    pool = SourceSpec.from_dict(
        {
            "name": "q",
            "path": str(shared_data / "training" / "queries_web_qa.jsonl"),
            "role": "query",
            "limit": 50,
            "domain": {"beir": str(folder), "split": "train"},
        }
    )
    picked = load_texts([pool], tmp_path, seed=0, held_out=dev_texts)
    ref = reference_texts(pool.domain, tmp_path)
    assert picked.selection["q"]["n_reference"] == len(ref) - picked.selection["q"]["reference_held_out"]
    assert picked.selection["q"]["reference_held_out"] >= 400  # dev claims are not what domain selection imitates


@pytest.fixture(scope="module")
def dev_run(shared_data: Path, tmp_path_factory: pytest.TempPathFactory, session_store) -> dict:
    """The mini recipe with SciFact's train claims as a training source and half of them as the dev set."""
    from leafbench.cli import app

    tmp = tmp_path_factory.mktemp("devrun")
    cache = tmp / "cache"
    cache.mkdir()
    (cache / "embeddings").symlink_to(session_store.root)
    raw = _mini_raw(dev={"n_docs": 300, "sts": ["STSBenchmark"]}, select="min")
    claims = {"name": "scifact-train-claims", "beir": "$data_dir/beir/scifact", "split": "train", "role": "query"}
    raw["data"] = {**raw["data"], "sources": [claims, *raw["data"]["sources"]]}
    raw["train"] = {**raw["train"], "max_steps": 6, "eval_every": 3}
    raw["student"] = {**raw["student"], "export_lengths": [64, 96]}
    import yaml

    recipe = tmp / "mini-dev.yaml"
    recipe.write_text(yaml.safe_dump({**raw, "name": "mini-dev"}))
    res = CliRunner().invoke(
        app,
        [
            "distill",
            "--recipe",
            str(recipe),
            "--output",
            str(tmp / "run"),
            "--max-texts",
            "600",
            "--cache-dir",
            str(cache),
            "--data-dir",
            str(shared_data),
            "--training-dir",
            str(shared_data / "training"),
            "--no-router",
        ],
        catch_exceptions=False,
        env={"HF_HUB_OFFLINE": "1"},
    )
    assert res.exit_code == 0, res.output
    out = tmp / "run"
    return {
        "out": out,
        "output": res.output,
        "recipe": recipe,
        "cache": cache,
        "summary": json.loads((out / "summary.json").read_text()),
        "metrics": [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()],
    }


@pytest.mark.slow
def test_training_reads_only_dev_and_never_trains_on_a_dev_claim(dev_run: dict, shared_data: Path) -> None:
    from leafbench.data import load_beir_folder

    evals = [m for m in dev_run["metrics"] if m["kind"] == "eval"]
    assert [m["tag"] for m in evals] == ["start", "step3", "final"]
    for m in evals:
        assert {"dev_asym_ndcg_at_10", "dev_student_ndcg_at_10", "dev_sts_STSBenchmark"} <= set(m)
        assert not {"asym_ndcg_at_10", "student_ndcg_at_10"} & set(m)  # the test split is never read in training
    untrained = dev_run["summary"]["final_metrics"]["untrained"]
    assert untrained and all(k.startswith("dev_") for k in untrained)  # the random projection is scored on dev too
    sel = dev_run["summary"]["selection"]
    train = load_beir_folder(shared_data / "beir" / "scifact", "train")
    dev_ids = held_out_ids(train.query_ids, 0.5, 0)
    assert sel["rule"] == "min" and sel["dev"]["dev_queries"] == len(dev_ids) == 404
    assert dev_run["summary"]["eval_overlap_dropped"]["dev:SciFact/train"] > 0  # sampled dev claims were dropped
    best = max(evals, key=lambda m: min(m["dev_asym_ndcg_at_10"], m["dev_student_ndcg_at_10"]))
    assert sel["tag"] == best["tag"] and [m["tag"] for m in evals if m.get("selected")][-1] == best["tag"]


@pytest.mark.slow
def test_the_exported_student_is_the_selected_one_and_test_and_dev_are_separate_protocols(dev_run: dict) -> None:
    out, summary = dev_run["out"], dev_run["summary"]
    sel = summary["selection"]
    dev_final = summary["final_metrics"]["dev"]["retrieval"]["SciFact"]
    # The harness rescoring of the exported (selected) student on dev gives the dev score that selected it
    # (claims are shorter than either reading length; k=1000 vs the in-training top 100 and rows encoded in other
    # batches leave differences far below the tolerance).
    assert dev_final["asymmetric"] == pytest.approx(sel["dev_metrics"]["dev_asym_ndcg_at_10"], abs=2e-3)
    # student mode reads the chosen length, which the length choice scored on the same dev set
    assert dev_final["student"] == pytest.approx(sel["length"]["candidates"][str(sel["length"]["chosen"])], abs=2e-3)
    results = out / "results"
    test_files = sorted(p for p in results.glob("*/asymmetric/SciFact.json") if "__" not in p.parent.parent.name)
    dev_files = sorted(results.glob("*__split-train-dev/asymmetric/SciFact.json"))
    assert len(test_files) == 1 and len(dev_files) == 1
    test_block = json.loads(test_files[0].read_text())
    dev_block = json.loads(dev_files[0].read_text())
    assert "test" in test_block["scores"] and "train" in dev_block["scores"]
    assert test_block["leafbench"]["selected_by"]["tag"] == sel["tag"]
    teacher_block = json.loads((test_files[0].parent.parent / "teacher" / "SciFact.json").read_text())
    assert "selected_by" not in teacher_block["leafbench"]  # the selection describes the student only
    assert dev_block["leafbench"]["subset"]["dev"]["dev_queries"] == 404
    assert summary["final_metrics"]["retrieval"]["SciFact"]["asymmetric"] == pytest.approx(
        test_block["scores"]["test"][0]["ndcg_at_10"]
    )


def test_reading_lengths_are_chosen_on_dev_only(dev_run: dict) -> None:
    out, sel = dev_run["out"], dev_run["summary"]["selection"]
    length = json.loads((out / "length.json").read_text())
    assert set(length["candidates"]) == {"64", "96"} and sel["length"] == length
    best = max(length["candidates"].items(), key=lambda kv: (kv[1], -int(kv[0])))
    assert length["chosen"] == int(best[0])
    manifest = json.loads((out / "final" / "leafbench.json").read_text())
    assert manifest["max_seq_length"]["inference"] == length["chosen"]
    from sentence_transformers import SentenceTransformer

    # the exported student reads the chosen length, not the training length (128)
    assert SentenceTransformer(str(out / "final"), device="cpu").max_seq_length == length["chosen"] != 128


def test_export_lengths_need_a_dev_set() -> None:
    raw = _mini_raw()
    with pytest.raises(RecipeError, match="chosen on dev"):
        parse_recipe({**raw, "student": {**raw["student"], "export_lengths": [256, 384]}}, "len.yaml")


# ---------------------------------------------------------------------------------------------- orthogonal head


def test_an_orthogonal_projection_stays_an_isometry_while_training_and_exports_plain(tmp_path: Path) -> None:
    import numpy as np
    from sentence_transformers import SentenceTransformer

    from leafbench_distill.export import MANIFEST_KEYS, export_student
    from leafbench_distill.student import build_student, dense_module, keep_orthogonal, pooled_outputs
    from leafbench_distill.train import _param_groups

    texts = [f"a sentence about topic {i} and cells" for i in range(8)]
    m = build_student("minilm-l6", 768, max_seq_length=32)
    q, _ = torch.linalg.qr(torch.randn(768, 384, generator=torch.Generator().manual_seed(0)))
    with torch.no_grad():
        dense_module(m).linear.weight.copy_(0.3 * q)  # a scaled isometry, as the Procrustes start is
    keep_orthogonal(m)
    opt = torch.optim.AdamW(_param_groups(m, 0.01), lr=1e-3)  # the trainer's optimizer, its weight decay included
    target = torch.nn.functional.normalize(torch.randn(len(texts), 768, generator=torch.Generator().manual_seed(1)))
    for _ in range(3):
        feats = m.preprocess(texts)
        loss = ((m(feats)["sentence_embedding"] - target) ** 2).sum(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    lin = dense_module(m).linear
    w = lin.weight.detach().double()
    assert float((w.T @ w - torch.eye(384, dtype=torch.float64)).abs().max()) < 1e-4  # still orthonormal columns
    assert float(lin.bias.abs().max()) == 0.0 and not lin.bias.requires_grad
    e = m.encode(texts, convert_to_numpy=True)
    pooled = pooled_outputs(m, texts)
    pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
    np.testing.assert_allclose(e @ e.T, pooled @ pooled.T, atol=1e-5)  # student mode = the (trained) backbone's
    manifest = {k: {} for k in MANIFEST_KEYS}
    folder = export_student(m, tmp_path / "final", manifest, "", "")
    saved = SentenceTransformer(str(folder), device="cpu")
    assert not any("parametrizations" in k for k in saved.state_dict())  # a stock Dense layer
    np.testing.assert_allclose(saved.encode(texts, convert_to_numpy=True), e, atol=1e-5)


def test_orthogonal_needs_a_procrustes_start() -> None:
    raw = _mini_raw()
    with pytest.raises(RecipeError, match="student.orthogonal"):
        parse_recipe({**raw, "student": {**raw["student"], "orthogonal": True}}, "orth.yaml")


def test_the_projection_fit_reads_only_the_named_sources() -> None:
    import numpy as np

    from leafbench_distill.pipeline import Prepared, make_student
    from leafbench_distill.texts import TrainingTexts

    raw = _mini_raw()
    names = [s["name"] for s in raw["data"]["sources"]]
    with pytest.raises(RecipeError, match="fit_sources must name data.sources"):
        parse_recipe({**raw, "student": {**raw["student"], "fit_sources": ["claims"]}}, "fit.yaml")
    student = {**raw["student"], "projection_init": "procrustes", "fit_sources": [names[0]], "layers": None}
    r = parse_recipe({**raw, "student": student}, "fit.yaml")
    srcs = [names[i % 2] for i in range(60)]
    texts = TrainingTexts([f"text {i}" for i in range(60)], ["document"] * 60, srcs)
    targets = np.random.default_rng(0).normal(size=(60, 384)).astype(np.float32)
    prep = Prepared(r, texts, list(range(60)), [], texts.texts, targets, None, {})
    _, info = make_student(prep, None)
    assert info["method"] == "procrustes" and info["n_texts"] == srcs.count(names[0]) == 30


def test_fit_weights_count_a_source_as_that_many_copies_of_its_rows() -> None:
    """A weight w on a source gives the map fitted on its rows repeated w times (the procrustes objective)."""
    import numpy as np

    from leafbench_distill.pipeline import Prepared, make_student
    from leafbench_distill.student import dense_module, pooled_outputs
    from leafbench_distill.texts import TrainingTexts

    raw = _mini_raw()
    names = [s["name"] for s in raw["data"]["sources"]][:2]
    base = {**raw["student"], "projection_init": "procrustes", "fit_sources": names, "layers": [0]}
    rng = np.random.default_rng(0)
    texts = [f"text {i} about {w}" for i, w in enumerate(rng.choice(["cells", "genes", "rain", "films"], 40))]
    srcs = [names[i % 2] for i in range(40)]
    targets = rng.normal(size=(40, 384)).astype(np.float32)

    def fitted(student: dict, rows: list[int]) -> np.ndarray:
        """The fitted map on the texts' pooled outputs (40 texts fix it on their span only)."""
        r = parse_recipe({**raw, "student": student}, "fit.yaml")
        tt = TrainingTexts([texts[i] for i in rows], ["document"] * len(rows), [srcs[i] for i in rows])
        model, _ = make_student(Prepared(r, tt, list(range(len(rows))), [], tt.texts, targets[rows], None, {}), None)
        return pooled_outputs(model, texts) @ dense_module(model).linear.weight.detach().double().numpy().T

    once = list(range(40))
    weighted = fitted({**base, "fit_weights": {names[1]: 3}}, once)
    repeated = fitted(base, once + [i for i in once if srcs[i] == names[1]] * 2)
    np.testing.assert_allclose(weighted, repeated, atol=1e-4 * float(np.abs(repeated).max()))
    assert not np.allclose(weighted, fitted(base, once), atol=1e-2 * float(np.abs(repeated).max()))  # it moves


@pytest.mark.slow
def test_zero_epochs_export_the_fitted_start(shared_data: Path, tmp_path: Path, session_store) -> None:
    """train.epochs_per_cycle 0: the procrustes start on the frozen backbone is the student, evaluated once."""
    import yaml

    from leafbench.cli import app
    from leafbench_distill.pipeline import make_student, prepare
    from leafbench_distill.student import dense_module

    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "embeddings").symlink_to(session_store.root)
    raw = _mini_raw(data_dir=str(shared_data))
    names = [s["name"] for s in raw["data"]["sources"]]
    student = {
        **raw["student"],
        "projection_init": "procrustes",
        "fit_sources": names[:2],
        "fit_weights": {names[1]: 4},
    }
    data = {**raw["data"], "training_dir": str(shared_data / "training")}
    raw = {
        **raw,
        "name": "mini-fit",
        "student": student,
        "data": data,
        "train": {**raw["train"], "epochs_per_cycle": 0},
    }
    recipe = tmp_path / "mini-fit.yaml"
    recipe.write_text(yaml.safe_dump(raw))
    args = ["distill", "--recipe", str(recipe), "--output", str(tmp_path / "run"), "--max-texts", "400"]
    args += ["--cache-dir", str(cache), "--no-router"]
    res = CliRunner().invoke(app, args + ["--no-final-eval"], catch_exceptions=False, env={"HF_HUB_OFFLINE": "1"})
    assert res.exit_code == 0, res.output
    assert "no training, the fitted start is the student" in res.output
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [(m["tag"], m["step"]) for m in rows if m["kind"] == "eval"] == [("final", 0)]
    assert not [m for m in rows if m["kind"] == "train"]
    from sentence_transformers import SentenceTransformer

    r = parse_recipe(raw, str(recipe))
    model, _ = make_student(prepare(r, cache, 400), cache)  # the same fit, here
    exported = SentenceTransformer(str(tmp_path / "run" / "final"), device="cpu")
    w = dense_module(exported).linear.weight.detach()
    assert torch.allclose(w, dense_module(model).linear.weight.detach(), atol=1e-6)


@pytest.mark.parametrize(
    ("student", "train", "match"),
    [
        ({"projection_init": "ridge", "fit_weights": {"msrp": 2}}, {}, "needs projection_init procrustes"),
        ({"projection_init": "procrustes", "fit_weights": {"claims": 2}}, {}, "not fitted: \\['claims'\\]"),
        ({"projection_init": "procrustes", "fit_weights": {"msrp": 0}}, {}, "positive weights"),
        ({"projection_init": "random"}, {"epochs_per_cycle": 0}, "exports the start untrained"),
        ({}, {"epochs_per_cycle": -1}, "epochs_per_cycle >= 0"),
    ],
)
def test_bad_fit_settings_fail_with_the_field_named(student: dict, train: dict, match: str) -> None:
    raw = _mini_raw()
    bad = {**raw, "student": {**raw["student"], **student}, "train": {**raw["train"], **train}}
    with pytest.raises(RecipeError, match=match):
        parse_recipe(bad, "fit.yaml")


def test_the_shipped_isometric_recipe_is_the_dev_selected_experiment(shared_data: Path) -> None:
    """mpnet-offline-iso trains exactly what experiments/isometric-dev's chosen row trained (same texts, start,
    schedule, loss, dev set and rule), and adds only the reading-length choice on dev."""
    from dataclasses import asdict

    from leafbench_distill.check import check_recipe

    root = Path(__file__).resolve().parents[1]
    shipped = load_recipe("mpnet-offline-iso")
    row = load_recipe(str(root / "experiments" / "isometric-dev" / "recipes" / "iso-fit-rank.yaml"))
    assert shipped.data == row.data and asdict(shipped.train) == asdict(row.train) and shipped.eval == row.eval
    assert shipped.teacher == row.teacher and shipped.eval.dev is not None and shipped.eval.select == "min"
    diff = {k for k, v in asdict(shipped.student).items() if asdict(row.student)[k] != v}
    assert diff == {"export_max_seq_length", "export_lengths"} and shipped.student.export_lengths == [256, 384, 512]
    checks = check_recipe("mpnet-offline-iso", training_dir=shared_data / "training", data_dir=shared_data)
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]


def test_a_dev_protocol_has_a_readable_name_in_reports() -> None:
    from leafbench.report.frame import protocol_label

    dev = {"fraction": 0.5, "seed": 0, "dev_queries": 404, "train_queries": 405}
    assert protocol_label({"dev": dev}, ["train"]) == "dev 404q (0.5 of the split, seed 0)/split=train"
    assert protocol_label({"max_docs": 300, "dev": dev}) == "300d/dev 404q (0.5 of the split, seed 0)"


@pytest.mark.slow
def test_a_bundle_carries_the_dev_set_and_selects_there_as_here(
    dev_run: dict, shared_data: Path, tmp_path: Path
) -> None:
    """--export-bundle of a dev recipe, trained with no data and an empty cache: the same dev rows, the same
    selection and length, the same weights; --finish (teacher and data here) scores test once and dev apart."""
    from safetensors.torch import load_file

    from leafbench.cli import app
    from leafbench_distill.bundle import BundleError, read_bundle

    def run(*args: str) -> str:
        res = CliRunner().invoke(app, ["distill", *args], catch_exceptions=False, env={"HF_HUB_OFFLINE": "1"})
        assert res.exit_code == 0, res.output
        return res.output

    here = ["--cache-dir", str(dev_run["cache"]), "--data-dir", str(shared_data)]
    recipe = ["--recipe", str(dev_run["recipe"]), "--max-texts", "600", "--training-dir", str(shared_data / "training")]
    run(*recipe, *here, "--output", str(tmp_path / "unused"), "--export-bundle", str(tmp_path / "b"))
    meta = json.loads((tmp_path / "b" / "meta.json").read_text())
    assert meta["format"] == 2 and meta["dev"]["dev_queries"] == 404 and meta["dev"]["read_length"] == 96
    moved = tmp_path / "moved"
    run("--bundle", str(tmp_path / "b"), "--output", str(moved), "--cache-dir", str(tmp_path / "empty"))
    rows = [json.loads(x) for x in (moved / "metrics.jsonl").read_text().splitlines()]
    evals = {m["tag"]: m for m in rows if m["kind"] == "eval"}
    direct = {m["tag"]: m for m in dev_run["metrics"] if m["kind"] == "eval"}
    assert evals.keys() == direct.keys()
    for tag, m in evals.items():
        assert not {"asym_ndcg_at_10", "student_ndcg_at_10"} & set(m)  # test is not read in training there either
        # The same weights (bit for bit, below), query batches and teacher rows in one process: measured
        # difference 0.0 at every state; the margin is for float formatting, not noise.
        assert m["dev_asym_ndcg_at_10"] == pytest.approx(direct[tag]["dev_asym_ndcg_at_10"], abs=1e-6)
    summary = json.loads((moved / "summary.json").read_text())
    assert summary["selection"]["tag"] == dev_run["summary"]["selection"]["tag"]
    assert summary["selection"]["length"]["chosen"] == dev_run["summary"]["selection"]["length"]["chosen"]
    a = load_file(str(dev_run["out"] / "final" / "model.safetensors"))
    b = load_file(str(moved / "final" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    run("--bundle", str(tmp_path / "b"), "--output", str(moved), "--finish", *here, "--no-router")
    results = moved / "results"
    assert len(list(results.glob("*__split-train-dev/asymmetric/SciFact.json"))) == 1
    test = [p for p in results.glob("*/asymmetric/SciFact.json") if "__" not in p.parent.parent.name]
    assert (
        len(test) == 1
        and json.loads(test[0].read_text())["leafbench"]["selected_by"]["tag"] == (summary["selection"]["tag"])
    )
    (tmp_path / "b" / "dev.json").unlink()  # a dev recipe's bundle without its dev set is refused, not run blind
    with pytest.raises(BundleError, match="no dev.json"):
        read_bundle(tmp_path / "b")
