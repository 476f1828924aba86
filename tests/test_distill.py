"""leafbench_distill end to end on real models and data: the mini recipe trains, aligns, exports and resumes.

The heavy fixture runs `distill --recipe mini --max-texts 2000` once through a typer app (a few minutes on
2 CPU cores); the other tests read its outputs.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from typer.testing import CliRunner

from leafbench_distill.errors import DistillError
from leafbench_distill.recipe import (
    RecipeError,
    list_recipes,
    load_recipe,
    parse_recipe,
)
from leafbench_distill.texts import (
    EvalOverlapWarning,
    SourceSpec,
    TextSourceError,
    check_overlap,
    domain_scores,
    eval_texts,
    load_texts,
    pack_by_topic,
    pack_texts,
    reference_texts,
)
from leafbench_distill.texts import (
    norm_text as norm,
)
from leafbench_distill.train import epoch_batches, l2_loss, lr_at

# ---------------------------------------------------------------------------------------------- fast unit tests

EXPERIMENT_RECIPES = Path(__file__).resolve().parents[1] / "experiments" / "mpnet-offline" / "recipes"


def exp(name: str) -> str:
    """An experiment recipe (experiments/mpnet-offline/recipes, not shipped in the package) by its path."""
    return str(EXPERIMENT_RECIPES / f"{name}.yaml")


def test_builtin_recipes_load_and_match_the_paper() -> None:
    assert set(list_recipes()) == {"leaf-ir", "leaf-mt", "mini", "mpnet-offline-staged", "mpnet-offline-iso"}
    ir = load_recipe("leaf-ir")
    assert ir.teacher.model == "Snowflake/snowflake-arctic-embed-m-v1.5" and ir.teacher.dim == 768
    assert ir.student.backbone == "nreimers/MiniLM-L6-H384-uncased"
    t = ir.train
    assert (t.batch_size, t.cycles, t.epochs_per_cycle, t.lr_max, t.lr_min) == (32, 3, 10, 1e-4, 1e-5)
    roles = {s.role for s in ir.data.sources}
    assert roles == {"query", "document"} and any(s.hf for s in ir.data.sources)
    mt = load_recipe("leaf-mt")
    assert mt.teacher.model == "mixedbread-ai/mxbai-embed-large-v1" and mt.teacher.dim == 1024
    off = load_recipe(exp("mpnet-offline"))
    assert off.teacher.model == "mpnet-base" and off.teacher.dim == 768 and off.student.backbone == "minilm-l6"
    assert off.data.training_dir == "../shared/data/training" and all(s.path for s in off.data.sources)
    mini = load_recipe("mini")
    assert mini.student.layers == [0, 3, 5] and mini.teacher.dim == 384


@pytest.mark.parametrize(
    "patch, match",
    [
        ({"train": {"batch_sise": 32}}, "unknown keys"),
        ({"data": {"sources": [{"name": "a", "path": "x.jsonl", "role": "passage"}]}}, "role"),
        ({"train": {"lr_max": 1e-5, "lr_min": 1e-4}}, "lr_min"),
        ({"teacher": {"model": "m"}}, "dim"),
        ({"purpose": "testing"}, "purpose must be training or validation"),
    ],
)
def test_bad_recipes_fail_with_the_field_named(patch: dict, match: str) -> None:
    raw = load_recipe("mini").raw
    bad = {**raw, **{k: (v if k != "train" else {**raw["train"], **v}) for k, v in patch.items()}}
    with pytest.raises(RecipeError, match=match):
        parse_recipe(bad, "bad.yaml")


def test_a_recipe_extends_another_with_only_its_differences(tmp_path: Path) -> None:
    (tmp_path / "more.yaml").write_text(
        "extends: mini\nname: mini-more\ntrain: {epochs_per_cycle: 7}\n"
        "data:\n  add_sources:\n    - {name: extra, path: x.jsonl, role: query}\n"
    )
    base, more = load_recipe("mini"), load_recipe(str(tmp_path / "more.yaml"))
    assert more.name == "mini-more" and more.train.epochs_per_cycle == 7
    assert more.train.lr_max == base.train.lr_max and more.teacher == base.teacher  # the rest is the base's
    assert [s.name for s in more.data.sources] == [*(s.name for s in base.data.sources), "extra"]  # appended last
    (tmp_path / "more2.yaml").write_text("extends: more.yaml\nname: mini-more2\nstudent: {max_seq_length: 64}\n")
    two = load_recipe(str(tmp_path / "more2.yaml"))  # chains resolve; a path is looked up next to the recipe
    assert two.train.epochs_per_cycle == 7 and two.student.max_seq_length == 64 and two.student.layers == [0, 3, 5]
    assert "extends" not in two.raw and two.raw["data"]["sources"][-1]["name"] == "extra"  # manifests get it resolved

    # the one-run recipe trains on exactly stage 3's texts, from the backbone, with an isometric projection
    ortho, s3 = load_recipe(exp("mpnet-offline-ortho")), load_recipe(exp("mpnet-offline-stage3"))
    assert ortho.data == s3.data and ortho.student.init_from is None and ortho.student.projection_init == "procrustes"
    with pytest.raises(RecipeError, match="projection_init must be ridge, procrustes or random"):
        parse_recipe({**ortho.raw, "student": {**ortho.raw["student"], "projection_init": "pca"}}, "bad.yaml")

    # the shipped continuation stages are their base plus what they say
    s4, s5, s6, s7 = (load_recipe(exp(f"mpnet-offline-stage{n}")) for n in (4, 5, 6, 7))
    assert [s.name for s in s5.data.sources] == [*(s.name for s in s4.data.sources), "glosses-sci-topic"]
    assert s6.data == s5.data and s6.train.epochs_per_cycle == 2 and s6.train.lr_max == 1e-5
    assert s7.data.sources[:-1] == s5.data.sources and s7.train == s5.train
    assert s7.student.init_from == "runs/leaf-mpnet-stage5/final"
    s8 = load_recipe(exp("mpnet-offline-stage8"))
    assert s8.data.sources[:-1] == s7.data.sources and s8.data.sources[-1].domain and s8.train.epochs_per_cycle == 2
    hold = load_recipe(
        exp("validation/mpnet-offline-holdout")
    )  # a validation set: stage 7's texts come first, then unseen ones
    assert hold.purpose == "validation" and s7.purpose == "training"
    assert hold.data.sources[:-1] == s7.data.sources and hold.data.sources[-1].name == "glosses-sci-topic-holdout"
    s9, hold_imdb = load_recipe(exp("mpnet-offline-stage9")), load_recipe(exp("validation/mpnet-offline-holdout-imdb"))
    assert s9.data.sources[:-1] == s8.data.sources and s9.student.init_from == "runs/leaf-mpnet-stage8/final"
    assert hold_imdb.purpose == "validation" and hold_imdb.data.sources[:-1] == s9.data.sources
    assert s9.data.sources[-1].domain == hold_imdb.data.sources[-1].domain == s8.data.sources[-1].domain  # one ranking
    res = CliRunner().invoke(
        _distill_app(),
        ["distill", "--recipe", exp("validation/mpnet-offline-holdout"), "--output", str(tmp_path / "no")],
    )
    assert res.exit_code == 2 and "not for training" in res.output and not (tmp_path / "no").exists()

    for text, match in [
        ("extends: a.yaml\nname: b\n", "loops"),  # a extends itself
        ("name: a\nteacher: {}\ndata: {add_sources: []}\n", "needs `extends:`"),
        ("extends: no-such-recipe\nname: a\n", "unknown recipe 'no-such-recipe'"),
        ("extends: mini\n", "needs a name of its own"),
    ]:
        (tmp_path / "a.yaml").write_text(text)
        with pytest.raises(RecipeError, match=match):
            load_recipe(str(tmp_path / "a.yaml"))


def test_texts_dedupe_roles_seed_and_overlap_guard(tmp_path: Path) -> None:
    (tmp_path / "q.jsonl").write_text(
        "\n".join(json.dumps({"text": t}) for t in ["What is X?", "what  is x?", "why Y", "a claim"])
    )
    (tmp_path / "d.jsonl").write_text(
        "\n".join(json.dumps({"text": t}) for t in ["why y", "one two three four five six", "doc"])
    )
    sources = [
        SourceSpec.from_dict({"name": "q", "path": "q.jsonl", "role": "query"}),
        SourceSpec.from_dict({"name": "d", "path": "d.jsonl", "role": "document"}),
    ]
    a = load_texts(sources, tmp_path, seed=1, max_words=3)
    b = load_texts(sources, tmp_path, seed=1, max_words=3)
    assert a.texts == b.texts and a.digest() == b.digest()  # seeded
    assert sorted(a.texts) == sorted(
        ["What is X?", "why Y", "a claim", "one two three", "doc"]
    )  # dedupe across sources, cap
    assert dict(zip(a.texts, a.roles))["why Y"] == "query"
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "queries.jsonl").write_text(json.dumps({"_id": "1", "text": "A CLAIM"}) + "\n")
    with pytest.warns(EvalOverlapWarning, match="1 training texts"):
        found = check_overlap(a, eval_texts([tmp_path / "eval"]), drop=True)
    assert list(found.values()) == [1] and "a claim" not in a.texts


def test_a_source_can_keep_long_documents_under_a_short_global_cap(tmp_path: Path) -> None:
    long_text = " ".join(f"w{i}" for i in range(300))
    (tmp_path / "d.jsonl").write_text(
        json.dumps({"text": long_text}) + "\n" + json.dumps({"text": "short one two"}) + "\n"
    )
    spec = {"name": "long", "path": "d.jsonl", "role": "document", "min_words": 100, "max_words": 200}
    t = load_texts([SourceSpec.from_dict(spec)], tmp_path, seed=0, max_words=64)
    assert [len(x.split()) for x in t.texts] == [200]  # the short text is below min_words, the long one capped at 200
    assert [
        len(x.split())
        for x in load_texts(
            [SourceSpec.from_dict({**spec, "max_words": None, "min_words": 1})], tmp_path, max_words=64
        ).texts
    ] in ([64, 3], [3, 64])
    with pytest.raises(TextSourceError, match="max_words"):
        SourceSpec.from_dict({**spec, "min_words": 10, "max_words": 5})


def test_packed_source_joins_short_texts_into_long_documents_and_later_sources_do_not_reuse_them(
    tmp_path: Path,
) -> None:
    rows = [" ".join(f"t{i}w{j}" for j in range(3 + i % 4)) for i in range(60)]  # 60 distinct texts of 3-6 words
    (tmp_path / "g.jsonl").write_text("\n".join(json.dumps({"text": r}) for r in rows) + "\n")
    packed = {"name": "packed", "path": "g.jsonl", "role": "document", "limit": 4, "pack_words": 20}
    rest = {"name": "rest", "path": "g.jsonl", "role": "document"}
    t = load_texts([SourceSpec.from_dict(packed), SourceSpec.from_dict(rest)], tmp_path, seed=0)
    docs = [x for x, src in zip(t.texts, t.sources) if src == "packed"]
    singles = [x for x, src in zip(t.texts, t.sources) if src == "rest"]
    assert len(docs) == 4 and t.counts["packed"] == 4  # limit counts packed documents
    assert all(20 <= len(d.split()) < 26 for d in docs)  # >= pack_words, and stops at the text that reaches it
    used = {r for r in rows if any(r in d for d in docs)}
    assert sum(len(r.split()) for r in used) == sum(len(d.split()) for d in docs)  # whole texts, each once
    assert not used & set(singles) and len(used) + len(singles) == 60  # a packed text is not reused alone
    assert pack_texts(["a b", "c d e", "f"], 4) == [("a b c d e", ["a b", "c d e"])]  # a short tail is dropped
    with pytest.raises(TextSourceError, match="pack_words"):
        SourceSpec.from_dict({**packed, "role": "query"})


def test_topic_packing_keeps_each_document_on_one_subject(tmp_path: Path) -> None:
    # Three subjects interleaved in rank order: rank packing mixes them, topic packing must not.
    subjects = {
        "protein": "protein enzyme amino folding",
        "river": "river water flood valley",
        "court": "court judge trial verdict",
    }
    rows = [
        f"{name} {words.split()[i % 4]} text{i} {words.split()[(i + 1) % 4]}"
        for i in range(30)
        for name, words in subjects.items()
    ]
    docs = pack_by_topic(rows, pack_words=12, limit=4)
    assert len(docs) == 4
    for doc, pieces in docs:
        assert len(doc.split()) >= 12 and doc == " ".join(pieces)
        assert len({p.split()[0] for p in pieces}) == 1  # one subject per document
    assert docs[0][1][0] == rows[0]  # the best-ranked text seeds the first document
    assert len({p for _, ps in docs for p in ps}) == sum(len(ps) for _, ps in docs)  # no text used twice
    assert {p.split()[0] for p in pack_texts(rows, 12)[0][1]} == set(subjects)  # rank packing mixes subjects
    # Through a source: pieces come from the best-ranked pool and are not reused by a later source.
    (tmp_path / "g.jsonl").write_text("\n".join(json.dumps({"text": r}) for r in rows) + "\n")
    spec = {"name": "topic", "path": "g.jsonl", "role": "document", "limit": 3, "pack_words": 12, "pack_by": "topic"}
    t = load_texts(
        [SourceSpec.from_dict(spec), SourceSpec.from_dict({"name": "rest", "path": "g.jsonl", "role": "document"})],
        tmp_path,
    )
    packed = [x for x, src in zip(t.texts, t.sources) if src == "topic"]
    assert len(packed) == 3 and len(t.texts) == 3 + 90 - sum(len(d.split()) // 4 for d in packed)
    with pytest.raises(TextSourceError, match="pack_by"):
        SourceSpec.from_dict({**spec, "pack_by": "cluster"})
    with pytest.raises(TextSourceError, match="pack_by needs pack_words"):
        SourceSpec.from_dict({"name": "x", "path": "g.jsonl", "role": "document", "pack_by": "topic"})


def test_domain_scores_prefer_reference_words_and_never_reward_unseen_rare_words() -> None:
    ref = ["protein expression in tumour cells", "gene expression regulates cell growth"]
    pool = ["tumour cells and protein", "cheap flights to paris", "xqzv", "gene", "the weather in paris today"]
    s = dict(zip(pool, domain_scores(pool, ref)))
    assert s["tumour cells and protein"] > 0 > s["cheap flights to paris"]
    assert s["xqzv"] < 0  # a word that is rare in the pool but absent from the reference is not "in domain"
    assert domain_scores(pool, ref, min_tokens=2)[3] == float("-inf")  # too short for the source's min_words
    with pytest.raises(TextSourceError, match="no words"):
        domain_scores(pool, ["", "!!"])


def test_domain_selection_on_real_training_texts_by_scifact_train_claims(shared_data: Path, tmp_path: Path) -> None:
    """Web queries ranked by SciFact's train claims: the kept ones are biomedical, the eval split is refused."""
    lines = (shared_data / "training" / "queries_web_qa.jsonl").read_text().splitlines()[:20000]
    (tmp_path / "q.jsonl").write_text("\n".join(lines))
    ref = reference_texts({"beir": str(shared_data / "beir" / "scifact"), "split": "train"}, tmp_path)
    assert len(ref) == 809
    dom = {"beir": str(shared_data / "beir" / "scifact"), "split": "train"}
    sources = [
        SourceSpec.from_dict(
            {"name": "sci", "path": "q.jsonl", "role": "query", "limit": 300, "min_words": 2, "domain": dom}
        ),
        SourceSpec.from_dict({"name": "rest", "path": "q.jsonl", "role": "query", "limit": 300}),
    ]
    t = load_texts(sources, tmp_path, seed=0)
    sci = [x for x, src in zip(t.texts, t.sources) if src == "sci"]
    rest = [x for x, src in zip(t.texts, t.sources) if src == "rest"]
    assert len(sci) == 300 and len(rest) == 300 and not set(sci) & set(rest)  # the same file feeds both, no duplicate
    bio = (
        "cell",
        "cancer",
        "disease",
        "protein",
        "gene",
        "blood",
        "infection",
        "syndrome",
        "drug",
        "tumor",
        "dna",
        "virus",
        "vitamin",
        "heart",
        "brain",
        "symptoms",
        "treatment",
        "insulin",
        "bacteria",
        "immune",
    )

    def share(xs: list[str]) -> float:
        return sum(any(w in x.lower() for w in bio) for x in xs) / len(xs)

    assert share(sci) > 0.3 and share(sci) > 4 * share(rest)  # measured: 0.38 vs 0.05 (the list is far from complete)
    info = t.selection["sci"]
    assert (
        info["kept"] == 300 and info["n_reference"] == 809 and info["min_kept_score"] > 0 and "rest" not in t.selection
    )
    raw = load_recipe(exp("mpnet-offline-sci")).raw
    bad = {
        **raw,
        "data": {
            **raw["data"],
            "sources": [{**raw["data"]["sources"][-1], "domain": {"beir": "../beir/scifact", "split": "test"}}],
        },
    }
    with pytest.raises(RecipeError, match="evaluation split"):
        parse_recipe(bad, "leak.yaml")
    with pytest.raises(RecipeError, match="needs a limit"):
        parse_recipe(
            {
                **raw,
                "data": {**raw["data"], "sources": [{"name": "x", "path": "q.jsonl", "role": "query", "domain": dom}]},
            },
            "x.yaml",
        )


def test_beir_query_source_by_split_trains_on_train_claims_and_never_on_the_evaluation_split(
    shared_data: Path, tmp_path: Path
) -> None:
    """SciFact's train claims are legitimate training text for a test-split evaluation; its test claims are not."""
    from leafbench.data import load_beir_folder

    folder = shared_data / "beir" / "scifact"
    src = SourceSpec.from_dict({"name": "claims", "beir": str(folder), "split": "train", "role": "query"})
    t = load_texts([src], tmp_path, seed=0)
    test = load_beir_folder(folder, "test", task_name="SciFact")
    assert len(t) == 807 and set(t.roles) == {"query"}  # 809 train claims, 2 of them repeated word for word
    guard = eval_texts([folder], {folder: "test"})[str(folder)]  # only the evaluated split's queries (+ corpus)
    assert {norm(q) for q in test.query_texts} <= guard
    rank_of = dict(zip(t.texts, t.ranks))
    with pytest.warns(EvalOverlapWarning):  # 2 train claims are word-for-word test claims: dropped, counted
        found = check_overlap(t, {str(folder): guard}, drop=True)
    # Every kept text keeps its own sample rank: target chunks (store keys) must not shift with what was dropped.
    assert t.ranks == [rank_of[x] for x in t.texts]
    assert (
        found == {str(folder): 2}
        and len(t) == 805
        and not {norm(x) for x in t.texts} & {norm(q) for q in test.query_texts}
    )
    assert len(eval_texts([folder])[str(folder)]) > len(guard)  # without a split every query counts, train claims too
    with pytest.raises(TextSourceError, match="needs beir and role query"):
        SourceSpec.from_dict({"name": "c", "beir": str(folder), "split": "train", "role": "document"})
    raw = load_recipe(exp("mpnet-offline-stage3")).raw
    for leak in ({"split": "test"}, {"split": None}):
        srcs = [{**raw["data"]["sources"][0], **leak}, *raw["data"]["sources"][1:]]
        with pytest.raises(RecipeError, match="evaluation split"):
            parse_recipe({**raw, "data": {**raw["data"], "sources": srcs}}, "leak.yaml")


def test_teacher_targets_are_cached_per_text_and_reused_when_a_source_grows(tmp_path: Path, minilm_spec) -> None:
    from leafbench.encode import Encoder
    from leafbench.store import EmbeddingStore
    from leafbench_distill.targets import compute_targets

    (tmp_path / "q.jsonl").write_text(
        "".join(json.dumps({"text": f"what is thing number {i}"}) + "\n" for i in range(30))
    )
    (tmp_path / "d.jsonl").write_text(
        "".join(json.dumps({"text": f"a sentence about item {i} and more"}) + "\n" for i in range(30))
    )

    def texts(nq: int, nd: int):
        return load_texts(
            [SourceSpec("q", "query", "q.jsonl", limit=nq), SourceSpec("d", "document", "d.jsonl", limit=nd)], tmp_path
        )

    small, big = texts(5, 3), texts(9, 3)
    enc = Encoder(minilm_spec, EmbeddingStore(tmp_path / "store"))
    first = compute_targets(small, enc)
    assert first.stats["query"]["n_encoded_now"] == 5 and first.stats["document"]["n_encoded_now"] == 3
    second = compute_targets(big, enc)
    # every text labelled before comes from the store; only the 4 new queries are encoded
    assert second.stats["query"]["n_encoded_now"] == 4 and second.stats["document"]["cached"]
    for i, t in enumerate(big.texts):  # aligned with the training order, equal to a direct encoding
        direct = enc.encode([t], big.roles[i]).embeddings[0]
        np.testing.assert_allclose(second.embeddings[i], direct, atol=1e-5)


def test_cyclic_schedule_and_batches() -> None:
    cfg = load_recipe("mini").train
    spc = 10
    lrs = [lr_at(s, spc, cfg) for s in range(30)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-5) and lrs[10] == pytest.approx(1e-4)
    assert all(a > b for a, b in itertools.pairwise(lrs[:10]))
    lengths = list(range(100))
    b0 = epoch_batches(100, lengths, 0, cfg)
    assert sorted(np.concatenate(b0).tolist()) == list(range(100))
    assert [x.tolist() for x in b0] == [x.tolist() for x in epoch_batches(100, lengths, 0, cfg)]
    assert [x.tolist() for x in b0] != [x.tolist() for x in epoch_batches(100, lengths, 1, cfg)]
    s, t = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([[0.0, 0.0], [0.0, 3.0]])
    assert float(l2_loss(s, t)) == pytest.approx((1 + 4) / 2)  # sum over dims, mean over batch


def test_student_builder_layers_identity_projection(tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    from leafbench_distill.student import build_student, dense_module

    m = build_student("minilm-l6", 768, layers=[0, 3, 5], max_seq_length=64)
    assert len(m[0].auto_model.encoder.layer) == 3 and m[0].auto_model.config.num_hidden_layers == 3
    d = dense_module(m)
    assert isinstance(d.activation_function, torch.nn.Identity) and d.linear.out_features == 768
    m.save(str(tmp_path / "s"))
    assert json.loads((tmp_path / "s" / "config.json").read_text())["num_hidden_layers"] == 3
    m2 = SentenceTransformer(str(tmp_path / "s"), device="cpu")
    x = ["a short sentence", "another, somewhat longer sentence about proteins"]
    np.testing.assert_allclose(m.encode(x), m2.encode(x), atol=1e-6)
    assert np.allclose(np.linalg.norm(m2.encode(x), axis=1), 1.0, atol=1e-5)


def test_procrustes_projection_keeps_the_backbones_cosines(shared_data: Path) -> None:
    """An isometric projection: student-mode cosines are the backbone's own; the map matches scipy's solver."""
    from scipy.linalg import orthogonal_procrustes

    from leafbench_distill.student import (
        build_student,
        dense_module,
        init_projection_procrustes,
        pooled_outputs,
    )

    with open(shared_data / "training" / "wordnet_glosses.jsonl") as f:  # 800 distinct texts > 384 dims
        texts = [json.loads(next(f))["text"] for _ in range(800)]
    m = build_student("minilm-l6", 768, max_seq_length=64)
    x = pooled_outputs(m, texts)
    rng = np.random.default_rng(0)
    rot, _ = np.linalg.qr(rng.normal(size=(768, 384)))  # a known isometry 384 -> 768
    targets = x @ rot.T * 0.1 + rng.normal(scale=1e-3, size=(len(texts), 768))
    info = init_projection_procrustes(m, texts, targets)
    assert info["fit_cosine"] > 0.99  # recovers the isometry that made the targets
    w = dense_module(m).linear.weight.detach().double().numpy()  # [768, 384]
    assert float(dense_module(m).linear.bias.abs().max()) == 0.0
    np.testing.assert_allclose(w.T @ w / info["scale"] ** 2, np.eye(384), atol=1e-4)  # orthogonal columns
    pad = np.zeros((len(texts), 768))
    pad[:, :384] = x
    r, _ = orthogonal_procrustes(pad, targets)  # scipy's square solver on zero-padded inputs
    # the same map where the data determine it (a few near-null directions of the pooled outputs do not)
    np.testing.assert_allclose(x @ w.T / info["scale"], pad @ r, atol=1e-3 * float(np.abs(x).max()))
    probe = [
        "insulin lowers blood glucose 2",
        "the cat sat on the mat 3",
        "a longer text about tumour suppressor genes",
    ]
    e = m.encode(probe)
    pooled = pooled_outputs(m, probe)
    pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
    np.testing.assert_allclose(
        e @ e.T, pooled @ pooled.T, atol=1e-5
    )  # student mode = the backbone's mean-pooled geometry


# ---------------------------------------------------------------------------------------------- the mini run


def _distill_app() -> typer.Typer:
    """leafbench's CLI, where the plugin registers `distill` and `soup` (and its one error handler prints)."""
    from leafbench.cli import app

    return app


@pytest.fixture(scope="module")
def mini_run(shared_data: Path, tmp_path_factory: pytest.TempPathFactory, session_store) -> dict:
    """`distill --recipe mini --max-texts 2000` through a typer app, as leafbench's CLI will register it."""
    tmp = tmp_path_factory.mktemp("distill")
    cache = tmp / "cache"
    cache.mkdir()
    (cache / "embeddings").symlink_to(session_store.root)  # share the session's real encodings
    app = _distill_app()
    res = CliRunner().invoke(
        app,
        [
            "distill",
            "--recipe",
            "mini",
            "--output",
            str(tmp / "run"),
            "--max-texts",
            "2000",
            "--cache-dir",
            str(cache),
            "--data-dir",
            str(shared_data),
            "--training-dir",
            str(shared_data / "training"),
        ],
        catch_exceptions=False,
        env={"HF_HUB_OFFLINE": "1"},
    )
    assert res.exit_code == 0, res.output
    out = tmp / "run"
    return {
        "out": out,
        "cache": cache,
        "summary": json.loads((out / "summary.json").read_text()),
        "metrics": [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()],
    }


@pytest.mark.slow
def test_init_from_continues_where_the_earlier_student_ended(mini_run: dict, shared_data: Path, tmp_path: Path) -> None:
    app = _distill_app()
    args = [
        "distill",
        "--recipe",
        "mini",
        "--max-texts",
        "2000",
        "--cache-dir",
        str(mini_run["cache"]),
        "--data-dir",
        str(shared_data),
        "--training-dir",
        str(shared_data / "training"),
        "--max-steps",
        "2",
        "--no-router",
        "--no-final-eval",
    ]
    bad = CliRunner().invoke(
        app, [*args, "--output", str(tmp_path / "bad"), "--init-from", str(tmp_path)], env={"HF_HUB_OFFLINE": "1"}
    )
    assert bad.exit_code == 2 and "not a SentenceTransformer folder" in bad.output
    res = CliRunner().invoke(
        app,
        [*args, "--output", str(tmp_path / "more"), "--init-from", str(mini_run["out"] / "final")],
        catch_exceptions=False,
        env={"HF_HUB_OFFLINE": "1"},
    )
    assert res.exit_code == 0, res.output
    metrics = [json.loads(x) for x in (tmp_path / "more" / "metrics.jsonl").read_text().splitlines()]
    start = next(m for m in metrics if m.get("tag") == "start")
    ended = next(m for m in reversed(mini_run["metrics"]) if m.get("tag") == "final")
    # same held-out texts, same weights: the continued run starts exactly where the first one ended
    assert start["heldout_cosine"] == pytest.approx(ended["heldout_cosine"], abs=1e-5)
    assert json.loads((tmp_path / "more" / "ridge.json").read_text()) == {"init_from": str(mini_run["out"] / "final")}
    manifest = json.loads((tmp_path / "more" / "final" / "leafbench.json").read_text())
    assert manifest["recipe"]["student"]["init_from"] == str(mini_run["out"] / "final")


@pytest.mark.slow
def test_mini_training_aligns_student_to_teacher(mini_run: dict) -> None:
    rows = mini_run["metrics"]
    train = [r for r in rows if r["kind"] == "train"]
    evals = {r["tag"]: r for r in rows if r["kind"] == "eval"}
    start, final = evals["start"], evals["final"]
    assert train[-1]["loss"] < train[0]["loss"]  # loss falls
    assert final["heldout_mse"] < start["heldout_mse"] - 0.02
    assert final["heldout_cosine"] > start["heldout_cosine"] + 0.01  # held-out alignment rises
    assert final["heldout_query_cosine"] > start["heldout_query_cosine"]
    assert final["heldout_document_cosine"] > start["heldout_document_cosine"]
    untrained = mini_run["summary"]["final_metrics"]["untrained"]
    asym = mini_run["summary"]["final_metrics"]["retrieval"]["SciFact"]["asymmetric"]
    assert untrained["asym_random_projection"] < 0.2  # a random projection is not in the teacher's space
    assert asym > untrained["asym_random_projection"] + 0.3  # training puts it there
    assert final["asym_ndcg_at_10"] > start["asym_ndcg_at_10"]  # and beats the ridge-initialised start
    assert final["asym_ndcg_at_10"] == pytest.approx(asym, abs=0.01)  # in-training eval agrees with the harness


@pytest.mark.slow
def test_export_roundtrip_manifest_and_prompts(mini_run: dict) -> None:
    from sentence_transformers import SentenceTransformer

    from leafbench.registry import resolve_model

    final = mini_run["out"] / "final"
    spec = resolve_model(str(final))
    assert spec.teacher == "minilm-l6" and spec.slug == "leaf-mini"
    manifest = json.loads((final / "leafbench.json").read_text())
    from leafbench_distill.export import MANIFEST_KEYS

    assert set(MANIFEST_KEYS) <= set(manifest)
    assert manifest["dims"]["output"] == 384 and manifest["recipe"]["name"] == "mini"
    assert manifest["final_metrics"]["retrieval"]["SciFact"]["asymmetric"] > 0.3
    cfg = json.loads((final / "config_sentence_transformers.json").read_text())
    assert set(cfg["prompts"]) >= {"query", "document"}
    model = SentenceTransformer(str(final), device="cpu")
    assert [type(m).__name__ for m in model] == ["Transformer", "Pooling", "Dense", "Normalize"]
    assert len(model[0].auto_model.encoder.layer) == 3
    card = (final / "README.md").read_text()
    assert "asymmetric" in card and "sentence-transformers/all-MiniLM-L6-v2" in card
    from huggingface_hub import ModelCard

    meta = ModelCard(card).data
    assert meta.base_model == "sentence-transformers/all-MiniLM-L6-v2"  # the hub id, not the alias minilm-l6
    (result,) = meta.eval_results  # the recorded SciFact score, marked as the subset it is
    assert result.dataset_type == "mteb/scifact" and "a subset: 40 queries x 300 documents" in result.dataset_name
    assert result.metric_value == pytest.approx(manifest["final_metrics"]["retrieval"]["SciFact"]["student"], abs=1e-5)
    assert f"{mini_run['summary']['epochs']:.2f}".rstrip("0").rstrip(".") + " epochs" in card
    router_card = (mini_run["out"] / "router" / "README.md").read_text()
    assert router_card != card and "queries → the student" in router_card and "documents → the teacher" in router_card
    assert ModelCard(router_card).data.base_model == "sentence-transformers/all-MiniLM-L6-v2"  # student's = teacher's


@pytest.mark.slow
def test_router_export_reproduces_the_pair_asymmetric_score(mini_run: dict, scifact_small) -> None:
    from sentence_transformers import SentenceTransformer

    from leafbench_distill.evaluation import ndcg10

    router = SentenceTransformer(str(mini_run["out"] / "router"), device="cpu")
    q = router.encode_query(scifact_small.query_texts, convert_to_numpy=True)
    d = router.encode_document(scifact_small.corpus_texts, convert_to_numpy=True, batch_size=32)
    assert q.shape[1] == d.shape[1] == 384
    expected = mini_run["summary"]["final_metrics"]["retrieval"]["SciFact"]["asymmetric"]
    assert ndcg10(scifact_small, q, d) == pytest.approx(expected, abs=2e-3)
    student = SentenceTransformer(str(mini_run["out"] / "final"), device="cpu")
    np.testing.assert_allclose(q, student.encode_query(scifact_small.query_texts), atol=1e-5)  # query route = student
    # a plain encode (no task) runs the default route: the student, not the teacher
    plain = router.encode(scifact_small.query_texts[:10], convert_to_numpy=True)
    np.testing.assert_allclose(plain, student.encode(scifact_small.query_texts[:10]), atol=1e-5)
    # the harness routes by side too: `leafbench run --model .../router --mode student` scores the pair
    from leafbench.encode import Encoder
    from leafbench.registry import resolve_model

    enc = Encoder(resolve_model(str(mini_run["out"] / "router"), None), store=None, device="cpu")
    hq, _ = enc.encode_batchwise(scifact_small.query_texts, "query")
    hd, _ = enc.encode_batchwise(scifact_small.corpus_texts[:20], "document")
    np.testing.assert_allclose(hq, q, atol=1e-5)
    np.testing.assert_allclose(hd, d[:20], atol=1e-5)


@pytest.mark.slow
def test_training_never_runs_the_teacher(mini_run: dict, shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Targets come from the store: a fresh run's teacher encoder makes no forward pass at all."""
    from dataclasses import replace

    from leafbench.encode import Encoder
    from leafbench_distill.pipeline import make_evaluator, make_student, prepare
    from leafbench_distill.train import Trainer

    r = load_recipe("mini")
    r.data = replace(r.data, training_dir=str(shared_data / "training"))
    r.eval = replace(r.eval, data_dir=str(shared_data))
    r.train = replace(r.train, max_steps=5, checkpoint_every=0)

    def forbidden(self, *a, **k):
        raise AssertionError(f"teacher forward pass: {self.spec.name}")

    monkeypatch.setattr(Encoder, "encode_batchwise", forbidden)  # any real encoding would raise
    prep = prepare(r, mini_run["cache"], max_texts=2000)  # same texts as the mini run: everything is cached
    assert prep.teacher.calls == [] and prep.teacher._model is None  # teacher weights never even loaded
    model, _ = make_student(prep, mini_run["cache"])
    trainer = Trainer(
        model,
        [prep.inputs[i] for i in prep.train_idx],
        prep.targets[prep.train_idx],
        r.train,
        None,
        make_evaluator(prep),
        progress=False,
    )
    state = trainer.fit()
    assert state.step == 5 and prep.teacher.calls == [] and prep.teacher._model is None


@pytest.mark.slow
@pytest.mark.integration
def test_resume_after_a_kill_gives_identical_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    from leafbench_distill.student import build_student
    from leafbench_distill.train import Trainer

    rng = np.random.default_rng(0)
    words = ["protein", "cell", "gene", "cancer", "virus", "drug", "trial", "dose", "brain", "heart"]
    inputs = [" ".join(rng.choice(words, size=rng.integers(2, 9))) for _ in range(48)]
    targets = rng.normal(size=(48, 384)).astype(np.float32)
    targets /= np.linalg.norm(targets, axis=1, keepdims=True)
    cfg = replace(
        load_recipe("mini").train, batch_size=8, cycles=2, epochs_per_cycle=1, checkpoint_every=4, eval_every=0
    )

    def fresh():
        torch.manual_seed(123)
        return build_student("minilm-l6", 384, layers=[0, 5], max_seq_length=32)

    ref = Trainer(fresh(), inputs, targets, cfg, tmp_path / "ref", progress=False)
    ref.fit(eval_at_start=False)
    assert ref.state.step == 12

    killed = Trainer(fresh(), inputs, targets, cfg, tmp_path / "run", progress=False)
    real_step = Trainer.train_step

    def dying(self, idx, lr):
        if self.state.step == 6:  # dies after step 6; the last checkpoint is step 4
            raise KeyboardInterrupt
        return real_step(self, idx, lr)

    monkeypatch.setattr(Trainer, "train_step", dying)
    with pytest.raises(KeyboardInterrupt):
        killed.fit(eval_at_start=False)
    monkeypatch.setattr(Trainer, "train_step", real_step)
    resumed = Trainer(fresh(), inputs, targets, cfg, tmp_path / "run", progress=False)
    assert resumed.try_resume() and resumed.state.step == 4
    resumed = Trainer(fresh(), inputs, targets, cfg, tmp_path / "run", progress=False)
    resumed.fit(eval_at_start=False)
    assert resumed.state.step == 12
    a, b = ref.model.state_dict(), resumed.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    # A finished 1-cycle run extended to 2 cycles (`--cycles 2`, same --output) ends on the same weights.
    short = Trainer(fresh(), inputs, targets, replace(cfg, cycles=1), tmp_path / "ext", progress=False)
    assert short.fit(eval_at_start=False).step == 6
    longer = Trainer(fresh(), inputs, targets, cfg, tmp_path / "ext", progress=False)
    longer.fit(eval_at_start=False)
    c = longer.model.state_dict()
    assert longer.state.step == 12 and all(torch.equal(a[k], c[k]) for k in a)
    other = Trainer(fresh(), inputs, targets, replace(cfg, lr_max=cfg.lr_max * 2), tmp_path / "ext", progress=False)
    with pytest.raises(DistillError, match="different run"):  # anything but the cycle count: refused
        other.try_resume()


def test_train_dropout_override_reaches_every_dropout_layer() -> None:
    from dataclasses import replace

    from leafbench_distill.student import build_student
    from leafbench_distill.train import Trainer

    model = build_student("minilm-l6", 384, layers=[0, 5], max_seq_length=32)
    drops = [m for m in model.modules() if isinstance(m, torch.nn.Dropout)]
    assert drops and all(m.p == pytest.approx(0.1) for m in drops)  # the backbone's own, left alone by default
    Trainer(
        model,
        ["a text"],
        np.ones((1, 384), np.float32),
        replace(load_recipe("mini").train, dropout=0.0),
        None,
        progress=False,
    )
    assert all(m.p == 0.0 for m in drops)
    with pytest.raises(RecipeError, match="dropout"):
        raw = load_recipe("mini").raw
        parse_recipe({**raw, "train": {**raw["train"], "dropout": 1.5}}, "bad.yaml")


@pytest.mark.slow
def test_alignment_script_is_the_cosine_of_student_and_teacher_queries_and_documents(
    mini_run: dict, shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import importlib.util

    from sentence_transformers import SentenceTransformer

    from leafbench.data import load_beir_folder
    from leafbench.registry import resolve_model

    path = Path(__file__).resolve().parents[1] / "scripts" / "alignment.py"
    spec = importlib.util.spec_from_file_location("alignment", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    final = mini_run["out"] / "final"
    beir = shared_data / "beir" / "scifact"
    sub = load_beir_folder(beir, "test").subset(40, 300, seed=0)
    student = SentenceTransformer(str(final), device="cpu")
    teacher = SentenceTransformer(resolve_model("minilm-l6").source, device="cpu")

    res = mod.alignment(str(final), None, beir, "test", 40, 300, mini_run["cache"], side="query")
    assert res["teacher"] == "minilm-l6" and res["n_queries"] == 40  # the teacher comes from the manifest
    s = student.encode_query(sub.query_texts, normalize_embeddings=True)
    t = teacher.encode_query(sub.query_texts, normalize_embeddings=True)
    assert res["mean_cosine"] == pytest.approx(float(np.mean(np.sum(s * t, axis=1))), abs=1e-3)
    assert 0.3 < res["p10_cosine"] < res["mean_cosine"] < 1.0

    docs = mod.alignment(str(final), None, beir, "test", 40, 300, mini_run["cache"], side="document")
    assert docs["side"] == "document" and docs["n_documents"] == 300
    s = student.encode_document(sub.corpus_texts, normalize_embeddings=True)
    t = teacher.encode_document(sub.corpus_texts, normalize_embeddings=True)
    cos = np.sum(s * t, axis=1)
    assert docs["mean_cosine"] == pytest.approx(float(cos.mean()), abs=1e-3)
    buckets = docs["by_length"]  # every document in exactly one length bucket; the weighted means give the total
    assert sum(b["n"] for b in buckets) == 300 and len(buckets) >= 2
    assert sum(b["n"] * b["mean_cosine"] for b in buckets) / 300 == pytest.approx(float(cos.mean()), abs=1e-3)

    # a recipe source as the validation set: exactly the texts that source selects after the earlier sources
    recipe = tmp_path / "holdout.yaml"
    recipe.write_text(
        f"extends: mini\nname: mini-holdout\ndata:\n  training_dir: {shared_data / 'training'}\n  add_sources:\n"
        "    - {name: held-glosses, path: wordnet_glosses.jsonl, role: document, limit: 60, min_words: 4}\n"
    )
    texts, role = mod.source_texts(str(recipe), "held-glosses")
    assert role == "document" and len(texts) == 60
    from leafbench_distill.recipe import load_recipe
    from leafbench_distill.texts import load_texts

    base = load_recipe("mini")
    earlier = load_texts(base.data.sources, shared_data / "training", base.data.seed, base.data.max_words)
    assert not set(texts) & set(earlier.texts)  # never a text the base recipe trains on
    held = mod.text_alignment(str(final), None, texts, role, mini_run["cache"])
    s = student.encode_document(texts, normalize_embeddings=True)
    t = teacher.encode_document(texts, normalize_embeddings=True)
    assert held["n_documents"] == 60 and held["mean_cosine"] == pytest.approx(
        float(np.mean(np.sum(s * t, axis=1))), abs=1e-3
    )
    with pytest.raises(SystemExit, match="no source 'nope'"):
        mod.source_texts(str(recipe), "nope")

    # the command line: --append adds exactly the printed line, so a committed table row is one command
    table = tmp_path / "validation" / "mini-holdout.jsonl"
    argv = [
        "alignment.py",
        str(final),
        "--recipe",
        str(recipe),
        "--source",
        "held-glosses",
        "--cache-dir",
        str(mini_run["cache"]),
        "--append",
        str(table),
    ]
    monkeypatch.setattr("sys.argv", argv)
    mod.main()
    mod.main()
    printed = capsys.readouterr().out.strip().splitlines()
    rows = table.read_text().splitlines()
    assert rows == printed[-2:] and len(rows) == 2
    assert json.loads(rows[0])["source"] == "held-glosses"
    assert json.loads(rows[0])["mean_cosine"] == pytest.approx(held["mean_cosine"], abs=1e-6)


@pytest.mark.slow
def test_a_soup_is_the_mean_of_its_students_weights_and_refuses_other_teachers(mini_run: dict, tmp_path: Path) -> None:
    import shutil

    from sentence_transformers import SentenceTransformer

    from leafbench.registry import resolve_model
    from leafbench_distill.student import dense_module

    final = mini_run["out"] / "final"
    other = tmp_path / "other"  # a second student of the same lineage: the first, its projection moved
    shutil.copytree(final, other)
    m = SentenceTransformer(str(other), device="cpu")
    with torch.no_grad():
        dense_module(m).linear.weight.add_(
            0.05 * torch.randn(dense_module(m).linear.weight.shape, generator=torch.Generator().manual_seed(0))
        )
    m.save(str(other))
    app = _distill_app()
    res = CliRunner().invoke(
        app, ["soup", str(final), str(other), "--output", str(tmp_path / "soup")], env={"HF_HUB_OFFLINE": "1"}
    )
    assert res.exit_code == 0, res.output
    a, b = (SentenceTransformer(str(f), device="cpu").state_dict() for f in (final, other))
    out = SentenceTransformer(str(tmp_path / "soup"), device="cpu")
    for k, v in out.state_dict().items():
        torch.testing.assert_close(v, (a[k] + b[k]) / 2 if v.is_floating_point() else a[k], rtol=0, atol=1e-6)
    manifest = json.loads((tmp_path / "soup" / "leafbench.json").read_text())
    assert manifest["teacher"] == "minilm-l6" and [x["folder"] for x in manifest["soup"]] == [str(final), str(other)]
    assert manifest["final_metrics"] == {} and len(manifest["recipe"]["ingredients"]) == 2
    spec = resolve_model(str(tmp_path / "soup"))
    assert (
        spec.teacher == "minilm-l6" and spec.slug == manifest["name"]
    )  # `leafbench run --mode asymmetric` finds the pair
    assert out.max_seq_length == SentenceTransformer(str(final), device="cpu").max_seq_length

    same = CliRunner().invoke(
        app, ["soup", str(final), str(final), "--output", str(tmp_path / "same")], env={"HF_HUB_OFFLINE": "1"}
    )
    assert same.exit_code == 0, same.output
    x = ["a claim about proteins", "a longer document about the immune system and how vaccines train it"]
    np.testing.assert_allclose(
        SentenceTransformer(str(tmp_path / "same"), device="cpu").encode(x),
        SentenceTransformer(str(final), device="cpu").encode(x),
        atol=1e-6,
    )

    manifest_b = json.loads((other / "leafbench.json").read_text())
    (other / "leafbench.json").write_text(json.dumps({**manifest_b, "teacher": "mpnet-base"}))
    bad = CliRunner().invoke(
        app, ["soup", str(final), str(other), "--output", str(tmp_path / "bad")], env={"HF_HUB_OFFLINE": "1"}
    )
    assert bad.exit_code == 2 and "only students of one teacher" in bad.output and str(other) in bad.output
    (other / "leafbench.json").unlink()
    bad = CliRunner().invoke(
        app, ["soup", str(final), str(other), "--output", str(tmp_path / "bad")], env={"HF_HUB_OFFLINE": "1"}
    )
    assert bad.exit_code == 2 and "no leafbench.json" in bad.output
    bad = CliRunner().invoke(
        app, ["soup", str(final), str(final), "--output", str(tmp_path / "soup")], env={"HF_HUB_OFFLINE": "1"}
    )
    assert bad.exit_code == 2 and "not empty" in bad.output


# ---------------------------------------------------------------------------------------------- bundles


def test_int8_bundle_targets_keep_every_direction(tmp_path: Path) -> None:
    from leafbench_distill.bundle import (
        BundleError,
        dequantize_targets,
        quantize_targets,
        write_bundle,
    )

    rng = np.random.default_rng(0)
    t = rng.normal(size=(500, 768)).astype(np.float32)
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    q, scale = quantize_targets(t, "int8")
    assert q.dtype == np.int8 and q.nbytes == t.nbytes // 4
    back = dequantize_targets(q, scale)
    cos = (back * t).sum(1) / np.linalg.norm(back, axis=1)
    assert cos.min() > 0.9999 and np.abs(back - t).max() <= scale.max() / 2 + 1e-7
    assert np.array_equal(dequantize_targets(*quantize_targets(t, "float32")), t)
    with pytest.raises(BundleError, match="targets dtype"):
        quantize_targets(t, "int4")
    with pytest.raises(BundleError, match="bundle precision"):  # refused before anything is written
        write_bundle(None, tmp_path / "b", "int8", "bfloat16")
    assert not (tmp_path / "b").exists() and not (tmp_path / "b.partial").exists()


def test_in_training_ndcg_without_mteb_equals_the_harness_metric(scifact_small) -> None:
    from oracles import retrieval_scores

    from leafbench.search import dense_topk, normalize_rows, to_run
    from leafbench_distill.evaluation import ndcg10

    rng = np.random.default_rng(1)
    d = rng.normal(size=(scifact_small.n_docs, 32)).astype(np.float32)
    pos = {q: next(iter(r)) for q, r in scifact_small.qrels.items()}
    ids = {c: i for i, c in enumerate(scifact_small.corpus_ids)}
    q = np.stack(
        [
            d[ids[pos[qid]]] + rng.normal(scale=s, size=32)
            for qid, s in zip(scifact_small.query_ids, np.linspace(0.5, 8, scifact_small.n_queries))
        ]
    ).astype(np.float32)
    sc, ix = dense_topk(normalize_rows(q), normalize_rows(d), 100)
    expected = retrieval_scores(to_run(scifact_small.query_ids, scifact_small.corpus_ids, sc, ix), scifact_small.qrels)[
        "ndcg_at_10"
    ]
    assert 0.1 < expected < 0.95
    assert ndcg10(scifact_small, q, d) == pytest.approx(expected, abs=5e-6)  # mteb rounds to 5 decimals


@pytest.mark.slow
def test_bundle_exported_here_trains_elsewhere_to_the_same_weights(
    mini_run: dict, shared_data: Path, tmp_path: Path
) -> None:
    """--export-bundle then --bundle (with no data dir and an empty cache) = one run of the recipe, bit for bit."""
    from safetensors.torch import load_file

    app = _distill_app()

    def run(*args: str) -> str:
        res = CliRunner().invoke(app, ["distill", *args], catch_exceptions=False, env={"HF_HUB_OFFLINE": "1"})
        assert res.exit_code == 0, res.output
        return res.output

    data = [
        "--recipe",
        "mini",
        "--max-texts",
        "2000",
        "--cache-dir",
        str(mini_run["cache"]),
        "--data-dir",
        str(shared_data),
        "--training-dir",
        str(shared_data / "training"),
    ]
    run(*data, "--output", str(tmp_path / "direct"), "--max-steps", "3", "--no-router", "--no-final-eval")
    out = run(*data, "--output", str(tmp_path / "unused"), "--export-bundle", str(tmp_path / "b32"))
    assert "train with: leafbench distill --bundle" in out and not (tmp_path / "unused" / "final").exists()
    empty = tmp_path / "empty-cache"
    out = run(
        "--bundle",
        str(tmp_path / "b32"),
        "--output",
        str(tmp_path / "moved"),
        "--max-steps",
        "3",
        "--cache-dir",
        str(empty),
    )
    assert "no final evaluation" in out and not (empty / "embeddings").exists()  # no store, no teacher touched
    a = load_file(str(tmp_path / "direct" / "final" / "model.safetensors"))
    b = load_file(str(tmp_path / "moved" / "final" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    m_direct = json.loads((tmp_path / "direct" / "final" / "leafbench.json").read_text())
    m_moved = json.loads((tmp_path / "moved" / "final" / "leafbench.json").read_text())
    assert m_moved["data_hashes"] == m_direct["data_hashes"] and m_moved["teacher"] == m_direct["teacher"]
    summary = json.loads((tmp_path / "moved" / "summary.json").read_text())
    assert summary["bundle"]["targets_dtype"] == "float32"
    hist = {h["tag"]: h for h in summary["history"]}
    direct_hist = {h["tag"]: h for h in json.loads((tmp_path / "direct" / "summary.json").read_text())["history"]}
    assert hist["final"]["asym_ndcg_at_10"] == pytest.approx(direct_hist["final"]["asym_ndcg_at_10"], abs=1e-6)

    # Back where the teacher is: --finish evaluates the moved run, exports the Router, keeps the run's own record.
    out = run(
        "--bundle",
        str(tmp_path / "b32"),
        "--output",
        str(tmp_path / "moved"),
        "--finish",
        "--cache-dir",
        str(mini_run["cache"]),
        "--data-dir",
        str(shared_data),
        "--results",
        str(tmp_path / "results"),
    )
    done = json.loads((tmp_path / "moved" / "summary.json").read_text())
    assert done["hardware"] == summary["hardware"] and done["history"] == summary["history"]
    asym = done["final_metrics"]["retrieval"]["SciFact"]["asymmetric"]
    assert 0 < asym < 1 and done["final_metrics"]["in_training"]["asym_ndcg_at_10"] == pytest.approx(
        hist["final"]["asym_ndcg_at_10"]
    )
    assert (tmp_path / "moved" / "router" / "modules.json").exists() and (
        tmp_path / "results" / "summary.json"
    ).exists()

    # A compact bundle continuing a student: int8 targets, float16 student copy; training restores float32.
    run(
        *data,
        "--output",
        str(tmp_path / "unused2"),
        "--export-bundle",
        str(tmp_path / "b8"),
        "--init-from",
        str(mini_run["out"] / "final"),
        "--bundle-targets",
        "int8",
        "--bundle-student",
        "float16",
    )
    assert np.load(tmp_path / "b8" / "targets.npy").dtype == np.int8
    assert all(
        v.dtype == torch.float16
        for v in load_file(str(tmp_path / "b8" / "student" / "model.safetensors")).values()
        if v.is_floating_point()
    )
    run("--bundle", str(tmp_path / "b8"), "--output", str(tmp_path / "moved8"), "--max-steps", "2")
    start = next(
        json.loads(x) for x in (tmp_path / "moved8" / "metrics.jsonl").read_text().splitlines() if '"start"' in x
    )
    ended = next(m for m in reversed(mini_run["metrics"]) if m.get("tag") == "final")
    assert start["heldout_cosine"] == pytest.approx(ended["heldout_cosine"], abs=2e-3)  # float16 weights, int8 targets
    assert all(
        v.dtype == torch.float32
        for v in load_file(str(tmp_path / "moved8" / "final" / "model.safetensors")).values()
        if v.is_floating_point()
    )
    wrong = CliRunner().invoke(
        app,
        [
            "distill",
            "--bundle",
            str(tmp_path / "b8"),
            "--output",
            str(tmp_path / "moved"),
            "--finish",
            "--cache-dir",
            str(mini_run["cache"]),
        ],
        env={"HF_HUB_OFFLINE": "1"},
    )
    assert wrong.exit_code == 2 and "was not trained from" in wrong.output
    bad = CliRunner().invoke(app, ["distill", "--bundle", str(tmp_path), "--output", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "not a training bundle" in bad.output
    both = CliRunner().invoke(
        app, ["distill", "--bundle", str(tmp_path / "b8"), "--recipe", "mini", "--output", str(tmp_path / "x")]
    )
    assert both.exit_code == 2 and "exactly one of --recipe" in both.output


def test_every_builtin_recipe_is_package_data() -> None:
    """A wheel carries only the files pyproject names: a recipe outside those globs works in a checkout only."""
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    root = Path(__file__).resolve().parents[1]
    globs = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "leafbench_distill"
    ]
    pkg = root / "leafbench_distill"
    carried = {p for g in globs for p in pkg.glob(g)}
    recipes = set((pkg / "recipes").rglob("*.yaml"))
    assert recipes and recipes <= carried, sorted(str(p.relative_to(pkg)) for p in recipes - carried)
