"""Pair classification, clustering, reranking and summarization through mteb's own task objects and evaluators.

No local copy of these MTEB(eng, v2) tasks exists here, so each test fills the real mteb task object
(TwitterSemEval2015, TwentyNewsgroupsClustering.v2, AskUbuntuDupQuestions, SummEvalSummarization.v2) with
real local texts in that task's format (STSBenchmark pairs, Banking77 intents, SciFact candidates), then
checks leafbench's store-backed encoder gives exactly mteb.evaluate's main score with the plain model.
What is measured is parity of the evaluation path, not the published task scores.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from leafbench.encode import Encoder
from leafbench.mteb_eval import evaluate_mteb_task


def _jsonl(path: Path, n: int) -> list[dict[str, Any]]:
    with path.open() as f:
        return [json.loads(line) for _, line in zip(range(n), f)]


def _pairs(shared_data: Path) -> Callable[[], Any]:
    from datasets import Dataset

    rows = _jsonl(shared_data / "mteb" / "sts" / "STSBenchmark" / "test.jsonl", 300)

    def make():
        import mteb

        task = mteb.get_task("TwitterSemEval2015")
        task.dataset = {
            "test": Dataset.from_dict(
                {
                    "sentence1": [r["sentence1"] for r in rows],
                    "sentence2": [r["sentence2"] for r in rows],
                    "labels": [int(r["score"] >= 3.0) for r in rows],  # paraphrase-like pairs
                }
            )
        }
        task.data_loaded = True
        return task

    return make


def _clusters(shared_data: Path) -> Callable[[], Any]:
    from datasets import Dataset

    rows = _jsonl(shared_data / "mteb" / "classification" / "Banking77" / "train.jsonl", 10_000)
    labels = sorted({r["label"] for r in rows})[:8]
    rows = [r for r in rows if r["label"] in labels][:400]

    def make():
        import mteb

        task = mteb.get_task("TwentyNewsgroupsClustering.v2")
        task.dataset = {
            "test": Dataset.from_dict(
                {"sentences": [r["text"] for r in rows], "labels": [labels.index(r["label"]) for r in rows]}
            )
        }
        task.max_fraction_of_documents_to_embed = None
        task.max_document_to_embed = len(rows)
        task.n_clusters = 3
        task.data_loaded = True
        return task

    return make


def _rerank(scifact_small, scifact_dir: Path) -> Callable[[], Any]:
    from datasets import Dataset

    data = scifact_small
    raw = {r["_id"]: r for r in map(json.loads, (scifact_dir / "corpus.jsonl").open())}
    rng = random.Random(0)
    qids = data.query_ids[:25]
    top = {q: sorted(set(data.qrels[q]) | set(rng.sample(data.corpus_ids, 12))) for q in qids}
    docs = sorted({d for ds in top.values() for d in ds})
    corpus = [{"id": d, "title": raw[d].get("title") or "", "text": raw[d]["text"]} for d in docs]
    qtext = dict(zip(data.query_ids, data.query_texts))

    def make():
        import mteb

        task = mteb.get_task("AskUbuntuDupQuestions")
        task.dataset = {
            "default": {
                "test": {
                    "corpus": Dataset.from_list(corpus),
                    "queries": Dataset.from_dict({"id": qids, "text": [qtext[q] for q in qids]}),
                    "relevant_docs": {q: dict(data.qrels[q]) for q in qids},
                    "top_ranked": top,
                }
            }
        }
        task.data_loaded = True
        return task

    return make


def _summaries(shared_data: Path) -> Callable[[], Any]:
    from datasets import Dataset

    rows = _jsonl(shared_data / "mteb" / "sts" / "STSBenchmark" / "test.jsonl", 240)
    groups = [rows[i : i + 4] for i in range(0, len(rows), 4)]  # 60 "texts", 4 candidate "summaries" each

    def make():
        import mteb

        task = mteb.get_task("SummEvalSummarization.v2")
        task.dataset = {
            "test": Dataset.from_dict(
                {
                    "id": [str(i) for i in range(len(groups))],
                    "text": [" ".join(r["sentence1"] for r in g) for g in groups],
                    "human_summaries": [[g[0]["sentence1"], g[1]["sentence1"]] for g in groups],
                    "machine_summaries": [[r["sentence2"] for r in g] for g in groups],
                    "relevance": [[float(r["score"]) for r in g] for g in groups],
                }
            )
        }
        task.data_loaded = True
        return task

    return make


@pytest.fixture()
def factories(shared_data: Path, scifact_small, scifact_dir: Path) -> dict[str, Callable[[], Any]]:
    return {
        "PairClassification": _pairs(shared_data),
        "Clustering": _clusters(shared_data),
        "Reranking": _rerank(scifact_small, scifact_dir),
        "Summarization": _summaries(shared_data),
    }


@pytest.mark.parametrize("ttype", ["PairClassification", "Clustering", "Reranking", "Summarization"])
def test_main_score_equals_mteb_evaluate(ttype: str, factories, minilm_spec, session_store, mteb_reference) -> None:
    make = factories[ttype]
    task = make()
    assert task.metadata.type == ttype
    run = evaluate_mteb_task(task, {"student": Encoder(minilm_spec, session_store)}, ["student"], None, "x")
    ours = run.results["student"]
    score = ours["scores"]["test"][0]["main_score"]
    assert score == pytest.approx(mteb_reference(make(), minilm_spec.source), abs=1e-6)
    assert ours["leafbench"]["task_type"] == ttype
    assert 0.05 < score <= 1.0


def test_reranking_candidates_are_documents_for_the_teacher(factories, minilm_spec, session_store) -> None:
    """Asymmetric reranking: queries by the student, candidates (prompt_type document) by the teacher."""
    teacher = Encoder(minilm_spec.with_overrides(max_seq_length=48), session_store)
    student = Encoder(minilm_spec, session_store)
    run = evaluate_mteb_task(
        factories["Reranking"](), {"student": student, "teacher": teacher}, ["asymmetric", "student"], None, "x"
    )
    lb = run.results["asymmetric"]["leafbench"]
    assert sorted(lb["roles_used"]) == ["student", "teacher"]
    assert {side for side, _ in teacher.calls} <= {"document"} and teacher.calls
    asym = run.results["asymmetric"]["scores"]["test"][0]["main_score"]
    sym = run.results["student"]["scores"]["test"][0]["main_score"]
    assert asym != sym  # the truncated teacher really scored the candidates
