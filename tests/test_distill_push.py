"""Closing the loop of a distillation run: its model cards (hub ids, epochs, a model-index of the recorded results,
a Router card of its own) and the Router's default route (the student)."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
from huggingface_hub import ModelCard

from leafbench_distill.cards import hub_id, model_card, router_card

MINILM = "sentence-transformers/all-MiniLM-L6-v2"

# The summary.json of a `distill --recipe mini --max-steps 100` run (trimmed), as finish_run writes it.
SUMMARY = {
    "name": "leaf-mini",
    "recipe": "mini",
    "teacher": "minilm-l6",
    "teacher_precision": "fp32",
    "student_backbone": "minilm-l6",
    "student_layers": [0, 3, 5],
    "init_from": None,
    "dims": {"student": 384, "teacher": 384},
    "n_train_texts": 1800,
    "text_counts": {"web-queries": 800, "wordnet-glosses": 400, "sentences": 400, "msrp": 200, "imdb": 200},
    "epochs": 100 / 70,
    "steps": 100,
    "batch_size": 32,
    "train_minutes": 3.2,
    "texts_per_s": 16.6,
    "hardware": "x86_64, 2 CPUs, torch CPU",
    "bundle": None,
    "retrieval_protocol": "SciFact test: 40 queries x 300 docs",
    "retrieval_eval": {
        "task": "SciFact",
        "split": "test",
        "queries": 40,
        "documents": 300,
        "subset": {"max_queries": 40, "max_docs": 300},
    },
    "final_metrics": {
        "in_training": {"heldout_cosine": 0.81},
        "untrained": {"asym_random_projection": 0.0379},
        "retrieval": {"SciFact": {"student": 0.76625, "teacher": 0.8258, "asymmetric": 0.80546}},
        "sts": {},
    },
}


def _card(text: str) -> ModelCard:
    return ModelCard(text)


# ------------------------------------------------------------------------------------------------ model cards


def test_cards_name_hub_ids_round_epochs_and_index_the_recorded_results() -> None:
    assert hub_id("minilm-l6") == MINILM and hub_id("org/model@abc123") == "org/model"
    assert hub_id("/no/such/folder") is None

    text = model_card(SUMMARY, "acme/leaf-mini", router="acme/leaf-mini-router")
    card = _card(text)
    assert card.data.base_model == MINILM  # the backbone's hub id, never the alias
    assert "base_model: minilm-l6" not in text
    assert "1.43 epochs" in text and "1.428" not in text
    assert "*STS" not in text and "Spearman*" not in text  # no STS rows: no STS footnote
    (result,) = card.data.eval_results
    assert (result.dataset_type, result.dataset_split, result.metric_type) == ("mteb/scifact", "test", "ndcg_at_10")
    assert result.metric_value == pytest.approx(0.76625)  # the student's own (student mode) score
    assert "subset" in result.dataset_name and result.dataset_args == {"queries": 40, "documents": 300}
    assert 'SentenceTransformer("acme/leaf-mini")' in text and "https://huggingface.co/acme/leaf-mini-router" in text

    rtext = router_card(
        SUMMARY, {"query": "query: ", "document": ""}, "acme/leaf-mini-router", student="acme/leaf-mini"
    )
    rcard = _card(rtext)
    assert rtext != text
    assert rcard.data.base_model == ["acme/leaf-mini", MINILM]  # both routes' models
    assert "queries → the student" in rtext and "documents → the teacher" in rtext
    assert "encode_query" in rtext and "encode_document" in rtext and 'task="document"' in rtext
    assert "'query: '" in rtext  # the query prompt encode_query applies
    (rresult,) = rcard.data.eval_results
    assert rresult.metric_value == pytest.approx(0.80546)  # the Router's score is the asymmetric one


def test_card_footnotes_and_index_follow_what_the_run_recorded() -> None:
    s = copy.deepcopy(SUMMARY)
    s["final_metrics"]["sts"] = {"STSBenchmark": {"student": 0.81, "teacher": 0.82}}
    text = model_card(s)
    assert "Spearman*" in text and "*STS: Spearman" in text  # a row with the mark, and its note
    assert {r.metric_type for r in _card(text).data.eval_results} == {"ndcg_at_10", "cosine_spearman"}
    assert "router" not in text.lower()  # no Router exported, none mentioned

    s["final_metrics"] = {"in_training": {}, "untrained": {}}  # --no-final-eval
    text = model_card(s)
    assert "model-index" not in text and "No final evaluation was recorded" in text and "Retrieval:" not in text

    old = copy.deepcopy(SUMMARY)  # a run recorded before retrieval_eval: its protocol line, sizes against mteb's
    del old["retrieval_eval"]
    (result,) = _card(model_card(old)).data.eval_results
    assert "a subset: 40 queries x 300 documents" in result.dataset_name and result.dataset_split == "test"


# ------------------------------------------------------------------------------------------ the Router's route


def test_a_plain_encode_on_the_router_runs_the_student(tmp_path: Path, minilm_spec) -> None:
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Dense, Normalize

    from leafbench_distill.export import build_router, export_router, export_student

    torch.manual_seed(0)
    teacher = SentenceTransformer(minilm_spec.source, device="cpu")
    modules = [m for m in teacher.children() if type(m).__name__ != "Normalize"]
    student = SentenceTransformer(modules=[*modules, Dense(384, 384), Normalize()], device="cpu")
    folder = export_student(student, tmp_path / "final", _manifest(), "", "")
    texts = ["how do vaccines work?", "a cat sat on the mat", "Vaccines train the immune system."]
    own = SentenceTransformer(str(folder), device="cpu").encode(texts)
    docs = teacher.encode(texts)
    assert not np.allclose(own, docs, atol=1e-3)  # the two routes differ, so the default route is visible

    router = build_router(folder, minilm_spec.source, "", "")
    np.testing.assert_allclose(router.encode(texts), own, atol=1e-5)
    export_router(folder, minilm_spec.source, tmp_path / "router", "", "", _manifest())
    saved = SentenceTransformer(str(tmp_path / "router"), device="cpu")
    np.testing.assert_allclose(saved.encode(texts), own, atol=1e-5)  # plain encode: the student
    np.testing.assert_allclose(saved.encode_query(texts), own, atol=1e-5)
    np.testing.assert_allclose(saved.encode(texts, task="document"), docs, atol=1e-5)  # the teacher, when asked
    np.testing.assert_allclose(saved.encode_document(texts), docs, atol=1e-5)


def _manifest() -> dict:
    return {
        "teacher": "minilm-l6",
        "teacher_revision": "test",
        "query_prompt": "",
        "document_prompt": "",
        "dims": {"student_hidden": 384, "output": 384},
        "recipe": {"name": "mini"},
        "data_hashes": {},
        "final_metrics": {},
    }
