"""Pair classification, clustering, reranking and summarization through mteb's own task objects and evaluators.

No local copy of these MTEB(eng, v2) tasks exists here, so each test fills the real mteb task object
(TwitterSemEval2015, TwentyNewsgroupsClustering.v2, AskUbuntuDupQuestions, SummEvalSummarization.v2) with
real local texts in that task's format (STSBenchmark pairs, Banking77 intents, SciFact candidates), then
checks leafbench's store-backed encoder gives exactly mteb.evaluate's main score with the plain model.
What is measured is parity of the evaluation path, not the published task scores.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from leafbench.encode import Encoder
from leafbench.mteb_eval import evaluate_mteb_task

from parity_tasks import other_type_tasks, tolerance


@pytest.fixture()
def factories(shared_data: Path, scifact_small, scifact_dir: Path) -> dict[str, Callable[[], Any]]:
    return other_type_tasks(shared_data, scifact_small, scifact_dir)


@pytest.mark.parametrize("ttype", ["PairClassification", "Clustering", "Reranking", "Summarization"])
def test_main_score_equals_mteb_evaluate(ttype: str, factories, minilm_spec, session_store, mteb_reference) -> None:
    make = factories[ttype]
    task = make()
    assert task.metadata.type == ttype
    run = evaluate_mteb_task(task, {"student": Encoder(minilm_spec, session_store)}, ["student"], None, "x")
    ours = run.results["student"]
    score = ours["scores"]["test"][0]["main_score"]
    # Rows in the session's store may come from other batch compositions: tolerance from measured noise.
    assert score == pytest.approx(mteb_reference(make(), minilm_spec.source), abs=tolerance(ttype))
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
