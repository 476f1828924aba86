"""Non-retrieval tasks: leafbench's store-backed encoder through mteb's evaluators = mteb.evaluate with the model."""

from __future__ import annotations

from pathlib import Path

import pytest

from leafbench.cells import Cell
from leafbench.encode import Encoder
from leafbench.modes import Mode
from leafbench.mteb_eval import evaluate_mteb_task
from leafbench.mteb_local import load_local_task

from parity_tasks import N_TEST, cut_task, local_task, tolerance


@pytest.mark.parametrize("name", list(N_TEST))
def test_main_score_equals_mteb_evaluate(
    name: str, shared_data: Path, minilm_spec, session_store, mteb_reference
) -> None:
    make = local_task(name, shared_data)
    ours_task = make()
    run = evaluate_mteb_task(ours_task, {"student": Encoder(minilm_spec, session_store)}, ["student"], None, "x")
    ours = run.results["student"]
    ref = mteb_reference(make(), minilm_spec.source)
    score = ours["scores"][ours_task.metadata.eval_splits[-1]][0]["main_score"]
    # Rows in the session's store may come from other batch compositions: tolerance from measured noise.
    assert score == pytest.approx(ref, abs=tolerance(ours_task.metadata.type))
    assert 0.3 < score < 1.0
    assert ours["leafbench"]["task_type"] == ours_task.metadata.type


def test_asymmetric_policy_routes_roleless_texts_to_the_student(shared_data: Path, minilm_spec, session_store) -> None:
    from mteb.types import PromptType

    assert Mode.ASYMMETRIC.route.for_prompt_type(PromptType.query) == ("student", "query")
    assert Mode.ASYMMETRIC.route.for_prompt_type(PromptType.document) == ("teacher", "document")
    assert Mode.ASYMMETRIC.route.for_prompt_type(None) == ("student", "text")
    assert Mode.TEACHER.route.for_prompt_type(None) == ("teacher", "text")
    task = cut_task(load_local_task("STSBenchmark", shared_data), 100)
    teacher = Encoder(minilm_spec.with_overrides(max_seq_length=64), session_store)
    run = evaluate_mteb_task(
        task, {"student": Encoder(minilm_spec, session_store), "teacher": teacher}, ["asymmetric"], None, "x"
    )
    lb = run.results["asymmetric"]["leafbench"]
    assert lb["roles_used"] == ["student"] and "teacher encodes only document-role" in lb["asymmetric_policy"]
    assert teacher.calls == []


def test_cells_reuse_one_encoding(shared_data: Path, minilm_spec, session_store, tmp_path: Path) -> None:
    task = cut_task(load_local_task("STSBenchmark", shared_data), 120)
    enc = Encoder(minilm_spec, session_store)
    cells = [Cell(None, "float32"), Cell(64, "float32"), Cell(None, "int8"), Cell(128, "binary")]
    run = evaluate_mteb_task(task, {"student": enc}, ["student"], tmp_path, "m", cells=cells, force=False)
    encoded = [r["leafbench"]["n_encoded_now"] for r in run.results.values()]
    assert len(run.results) == 4 and sum(encoded[1:]) == 0  # only the first cell may encode
    scores = {k: v["scores"]["test"][0]["main_score"] for k, v in run.results.items()}
    assert scores["student"] > scores["student/128d-binary"] - 0.2
    again = evaluate_mteb_task(task, {"student": enc}, ["student"], tmp_path, "m", cells=cells, force=False)
    assert again.skipped == 4 and not again.results
