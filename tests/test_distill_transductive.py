"""Transductive adaptation: pseudo-queries cut from an unlabelled BEIR corpus (`cut` sources), allowed on the
evaluation task's own corpus only when a recipe declares `data.transductive`, and labelled wherever a result of
such a student appears (result files, model card, report), so no score reads as zero-shot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leafbench_distill.recipe import RecipeError, adaptation, load_recipe, parse_recipe
from leafbench_distill.texts import SourceSpec, TextSourceError, cut_corpus, iter_source

CORPUS = [
    {
        "_id": "d1",
        "title": "Aspirin and stroke",
        "text": "Aspirin lowers risk. It acts on platelets (COX-1). 3 trials agree.",
    },
    {"_id": "d2", "title": "", "text": "Vitamin D matters in bone health! Deficiency is common."},
]


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "beir" / "scifact"
    folder.mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in CORPUS))
    return folder


def test_a_corpus_cuts_into_sentences_or_titles(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    spec = SourceSpec.from_dict({"name": "pq", "role": "query", "beir": str(folder), "cut": "sentences"})
    assert list(iter_source(spec, tmp_path)) == [
        "Aspirin lowers risk.",
        "It acts on platelets (COX-1).",
        "3 trials agree.",
        "Vitamin D matters in bone health!",
        "Deficiency is common.",
    ]
    titles = SourceSpec.from_dict({"name": "t", "role": "query", "beir": str(folder), "cut": "titles"})
    assert list(iter_source(titles, tmp_path)) == ["Aspirin and stroke"]  # an empty title yields nothing
    assert list(cut_corpus(iter([("", "e.g. a case. Not split.")]), "sentences")) == ["e.g. a case.", "Not split."]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"cut": "paragraphs"}, "cut must be one of"),
        ({"cut": "sentences", "role": "document"}, "needs beir, role query and no split"),
        ({"cut": "sentences", "split": "train"}, "needs beir, role query and no split"),
    ],
)
def test_a_cut_source_names_what_is_wrong(tmp_path: Path, extra: dict, message: str) -> None:
    with pytest.raises(TextSourceError, match=message):
        SourceSpec.from_dict({"name": "pq", "role": "query", "beir": "beir/scifact", **extra})


def _raw(transductive: bool | None, cut_eval: bool = True) -> dict:
    raw = json.loads(json.dumps(load_recipe("mini").raw))
    raw["eval"] = {**raw.get("eval", {}), "retrieval": "beir/scifact", "split": "test"}
    folder = "$data_dir/beir/scifact" if cut_eval else "$data_dir/beir/nfcorpus"
    raw["data"]["sources"] = [
        *raw["data"]["sources"],
        {"name": "pq", "role": "query", "beir": folder, "cut": "sentences"},
    ]
    if transductive is not None:
        raw["data"]["transductive"] = transductive
    return raw


def test_reading_the_evaluation_corpus_must_be_declared_and_is_labelled() -> None:
    with pytest.raises(RecipeError, match=r"pq: reads the evaluation corpus \(beir/scifact\); set data.transductive"):
        parse_recipe(_raw(None), "x.yaml")
    with pytest.raises(RecipeError, match="no source reads the evaluation corpus"):
        parse_recipe(_raw(True, cut_eval=False), "x.yaml")
    assert adaptation(parse_recipe(_raw(None, cut_eval=False), "x.yaml")) is None  # another corpus: zero-shot
    label = adaptation(parse_recipe(_raw(True), "x.yaml"))
    assert label is not None and label["kind"] == "transductive" and label["sources"] == ["pq"]
    assert label["corpus"] == "beir/scifact" and "not a zero-shot" in label["note"]


def test_a_transductive_card_says_so_and_keeps_its_scores_off_the_model_index() -> None:
    from leafbench_distill.cards import model_card, router_card

    summary = {
        "name": "leaf-x",
        "recipe": "x",
        "teacher": "mpnet-base",
        "student_backbone": "minilm-l6",
        "final_metrics": {"retrieval": {"SciFact": {"student": 0.6, "asymmetric": 0.6, "teacher": 0.65}}},
        "retrieval_eval": {"task": "SciFact", "split": "test"},
    }
    plain = model_card(summary)
    label = adaptation(parse_recipe(_raw(True), "x.yaml"))
    card = model_card({**summary, "adaptation": label})
    assert "model-index" in plain and "model-index" not in card
    assert "**Transductive**" in card and "not zero-shot" in card and "**Transductive**" not in plain
    assert "model-index" not in router_card({**summary, "adaptation": label}, {"query": "", "document": ""})


def test_the_report_names_a_transductive_run_as_such(tmp_path: Path) -> None:
    from leafbench.record import build_result, write_result
    from leafbench.report.frame import load_results

    label = {"kind": "transductive", "corpus": "beir/scifact", "sources": ["pq"], "note": "n"}
    runs = [
        ("leaf-x", "student", "x", "x", {"adaptation": label}),
        ("leaf-x", "asymmetric", "x", "t", {"adaptation": label}),
    ]
    runs += [("leaf-x", "teacher", "t", "t", {}), ("leaf-y", "student", "y", "y", {})]  # the teacher: no block
    runs += [("leaf-x__split-train-dev", "student", "x", "x", {"adaptation": label, "subset": {"dev": {"seed": 0}}})]
    for run, mode, q, d, extra in runs:
        models = {"student": {"name": "y" if run == "leaf-y" else "x", "identity": f"local:{q}"}}
        models |= {"teacher": {"name": "t", "identity": "local:t"}} if run != "leaf-y" else {}
        block = {"mode": mode, "split": "train" if "dev" in run else "test", "query_model": q, "document_model": d}
        res = build_result(
            "SciFact", block["split"], {"ndcg_at_10": 0.6, "main_score": 0.6}, 1.0, {**block, **models, **extra}
        )
        write_result(tmp_path / run / mode / "SciFact.json", res)
    df = load_results(tmp_path)
    names = {(r.run, r.mode): (r.query_name, r.document_name) for r in df.itertuples()}
    assert names[("leaf-x [transductive]", "student")] == ("x [transductive]", "x [transductive]")
    assert names[("leaf-x [transductive]", "asymmetric")] == ("x [transductive]", "t")  # the teacher is not adapted
    assert names[("leaf-x [transductive]", "teacher")] == ("t", "t")
    assert names[("leaf-y", "student")] == ("y", "y")
    dev = [run for run, _ in names if "dev" in run]
    assert dev and all(run.endswith("[transductive]") for run in dev)  # another protocol, still labelled
    from leafbench.report.mteb_export import export_mteb

    summary = export_mteb(tmp_path, tmp_path.parent / f"{tmp_path.name}-mteb")  # mteb's tables: zero-shot only
    assert summary.skipped["transductive students"] == 2  # student and asymmetric; the teacher's row exports
    exported = {p.parent.parent.name for p in (tmp_path.parent / f"{tmp_path.name}-mteb").rglob("SciFact.json")}
    assert exported == {"y", "t"}  # mteb names the model, not the run folder
