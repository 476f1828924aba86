"""Modes, routing and caching of the retrieval evaluation, on real SciFact data with a real model."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from leafbench.encode import Encoder
from leafbench.errors import UserError
from leafbench.evaluate import evaluate_retrieval
from leafbench.modes import encodings_needed, parse_modes


class RecordingEncoder(Encoder):
    """Records which texts each side receives, so routing is checked on the real call path."""

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.seen: list[tuple[str, tuple[str, ...]]] = []

    def encode(self, texts: Sequence[str], side: str, progress=None):
        self.seen.append((side, tuple(texts)))
        return super().encode(texts, side, progress)


def _scores(run, mode: str) -> dict:
    return run.results[mode]["scores"]["test"][0]


def test_parse_modes_and_minimal_encodings() -> None:
    assert parse_modes("all") == ["student", "teacher", "asymmetric"]
    assert parse_modes("asymmetric") == ["asymmetric"]
    with pytest.raises(ValueError, match="unknown mode"):
        parse_modes("symmetric")
    # asymmetric alone needs teacher documents and student queries only.
    assert sorted(encodings_needed(["asymmetric"])) == [("student", "query"), ("teacher", "document")]
    # all three modes share: 4 encodings, not 6.
    assert len(encodings_needed(["student", "teacher", "asymmetric"])) == 4


def test_asymmetric_with_same_model_equals_symmetric(scifact_small, minilm_spec, session_store) -> None:
    enc = Encoder(minilm_spec, session_store)
    run = evaluate_retrieval(
        scifact_small,
        {"student": enc, "teacher": Encoder(minilm_spec, session_store)},
        ["student", "asymmetric"],
        None,
        "x",
    )
    sym, asym = _scores(run, "student"), _scores(run, "asymmetric")
    for key, value in sym.items():
        if isinstance(value, float):
            assert asym[key] == value, key


def test_asymmetric_routes_queries_to_student_and_documents_to_teacher(
    scifact_small, minilm_spec, session_store
) -> None:
    student = RecordingEncoder(minilm_spec, session_store)
    # Same weights, different max length: a distinct teacher with a distinct cache key.
    teacher = RecordingEncoder(minilm_spec.with_overrides(max_seq_length=64), session_store)
    run = evaluate_retrieval(scifact_small, {"student": student, "teacher": teacher}, ["asymmetric"], None, "x")
    assert student.seen == [("query", tuple(scifact_small.query_texts))]
    assert teacher.seen == [("document", tuple(scifact_small.corpus_texts))]
    # Below the store, the networks themselves saw only their side.
    assert {side for side, _ in student.calls} <= {"query"}
    assert {side for side, _ in teacher.calls} == {"document"}
    lb = run.results["asymmetric"]["leafbench"]
    assert lb["mode"] == "asymmetric" and lb["teacher"]["max_seq_length"] == 64
    assert lb["throughput"]["document"]["n_texts"] == len(scifact_small.corpus_ids)
    # no caller passed `extra`: the subset is recorded from the data itself
    assert lb["subset"] == {"max_queries": 40, "max_docs": 300}


def test_second_run_hits_the_cache_and_never_loads_the_model(
    scifact_small, minilm_spec, session_store, tmp_path
) -> None:
    first = evaluate_retrieval(
        scifact_small, {"student": Encoder(minilm_spec, session_store)}, ["student"], tmp_path, "m"
    )
    fresh = Encoder(minilm_spec, session_store)
    second = evaluate_retrieval(scifact_small, {"student": fresh}, ["student"], tmp_path, "m")
    assert fresh._model is None, "a fully cached run must not load the weights"
    assert all(s.cached and s.n_encoded == 0 for s in second.encode_stats.values())
    assert _scores(first, "student")["ndcg_at_10"] == _scores(second, "student")["ndcg_at_10"]
    assert second.paths["student"] == tmp_path / "m" / "student" / "SciFact.json"


def test_missing_role_is_reported(scifact_small, minilm_spec, session_store) -> None:
    with pytest.raises(UserError, match="needs a teacher model"):
        evaluate_retrieval(scifact_small, {"student": Encoder(minilm_spec, session_store)}, ["asymmetric"], None, "x")
