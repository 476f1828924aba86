"""The run plan (plan_run → RunPlan → execute), the workspace layout and the evaluator protocol, on the
deterministic `hash-64` encoder and a tiny BEIR folder written here: no shared data, no model, seconds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from leafbench import Cell, Mode, UserError, Workspace, execute, plan_run
from leafbench.encode import Encoder
from leafbench.evaluator import EvalContext, ResultConflict, TaskEvaluator, TaskRun, result_protocol
from leafbench.registry import resolve_model


def _beir(folder: Path) -> Path:
    folder.mkdir(parents=True)
    docs = {f"d{i}": f"document {i} about topic {i % 3}" for i in range(9)}
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": k, "text": v}) + "\n" for k, v in docs.items()))
    (folder / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": f"q{i}", "text": f"topic {i}"}) + "\n" for i in range(3))
    )
    (folder / "qrels").mkdir()
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\td{i}\t1\n" for i in range(3))
    )
    return folder


@pytest.fixture()
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _beir(tmp_path / "data" / "tiny")
    return {"tasks": "tiny", "data_dir": tmp_path / "data", "output": tmp_path / "out", "cache_dir": tmp_path / "cache"}


def test_a_plan_holds_typed_settings(tiny: dict[str, Any]) -> None:
    plan = plan_run(
        "hash-64", teacher="hash-64-1ms", mode="all", dims=[32, None], dtypes="int8,binary", rescore=4, **tiny
    )
    assert plan.modes == (Mode.STUDENT, Mode.TEACHER, Mode.ASYMMETRIC)
    assert plan.roles == ["student", "teacher"] and set(plan.models) == {"student", "teacher"}
    assert [c.name for c in plan.cells] == ["32d-int8", "32d-binary-rescore4", "full-int8", "full-binary-rescore4"]
    assert all(isinstance(c, Cell) and c.rescore == 4 for c in plan.cells)
    assert plan.selection.tasks == ["tiny"] and plan.run == "hash-64+hash-64-1ms"
    ws = plan.workspace
    assert ws.embeddings == tiny["cache_dir"] / "embeddings"
    assert ws.result_path(plan.run, "asymmetric", "tiny", plan.cells[1]) == (
        tiny["output"] / plan.run / "asymmetric" / "tiny__32d-binary-rescore4.json"
    )
    assert ws.result_path(plan.run, "student", "tiny") == tiny["output"] / plan.run / "student" / "tiny.json"


def test_a_teacher_only_plan_runs_no_student(tiny: dict[str, Any]) -> None:
    plan = plan_run("hash-64", teacher="hash-64-1ms", mode="teacher", **tiny)
    assert plan.roles == ["teacher"]  # the student names the run folder, it encodes nothing
    assert plan.run == "hash-64+hash-64-1ms"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"mode": "symmetric"}, "unknown mode"),
        ({"mode": "asymmetric"}, "needs a teacher"),
        ({"dims": "12x"}, "--dims"),
        ({"dtypes": "int4"}, "--dtypes"),
        ({"calibration": "fixed"}, "--ranges-file"),
        ({"rescore": 0}, "--rescore"),
        ({"search": "annoy"}, "--search"),
        ({"engine": "spark"}, "--engine"),
        ({"dims": "128"}, "larger than"),
        ({"teacher_max_seq_length": 64}, "--teacher-max-seq-length needs a mode"),
        ({"tasks": "NoSuchTask"}, "NoSuchTask"),
    ],
)
def test_bad_options_fail_while_planning(tiny: dict[str, Any], options: dict[str, Any], message: str) -> None:
    with pytest.raises(UserError, match=message):
        plan_run("hash-64", **{**tiny, **options})
    assert not (tiny["cache_dir"] / "embeddings").exists() or not any((tiny["cache_dir"] / "embeddings").iterdir())


def test_execute_runs_the_plan_it_is_given(tiny: dict[str, Any]) -> None:
    plan = plan_run("hash-64", dims="full,16", **tiny)
    report = execute(plan)
    assert report.tasks == ["tiny"] and report.n_scored == 2
    assert sorted(p.name for p in report.paths) == ["tiny.json", "tiny__16d-float32.json"]
    again = execute(plan)  # same data, models and settings: every cell reused
    assert again.n_scored == 0 and again.n_reused == 2 and again.n_encoded == 0


class _Constant(TaskEvaluator):
    """A task kind in a few lines: its number is a constant, its provenance that constant."""

    def __init__(self, value: float, n_queries: int = 3) -> None:
        self.task_name, self.value, self.n_queries = "Constant", value, n_queries
        self.calls = 0

    def provenance_payload(self, ctx: EvalContext, mode: Mode, cell: Cell) -> dict[str, Any]:
        return {"value": self.value, "cell": cell.name}

    def protocol(self, ctx: EvalContext, mode: Mode) -> dict[str, Any]:
        return result_protocol({"split": "test", "n_queries": self.n_queries})

    def run(self, ctx: EvalContext) -> list[TaskRun]:
        run = TaskRun(self.task_name)
        for mode, cells in self.pending(ctx).items():
            for cell in cells:
                self.calls += 1
                block = {"mode": str(mode), "provenance": self.provenance(ctx, mode, cell), "split": "test"}
                run.keep(
                    ctx,
                    mode,
                    cell,
                    {
                        "scores": {"test": [{"main_score": self.value}]},
                        "leafbench": {**block, "n_queries": self.n_queries},
                    },
                )
        return [run]


def test_a_new_task_kind_gets_reuse_and_protocol_checks_from_the_base(tmp_path: Path) -> None:
    enc = {"student": Encoder(resolve_model("hash-8"), Workspace.at(tmp_path / "o", tmp_path / "c").store())}
    ctx = EvalContext(enc, ["student"], [Cell(), Cell(4)], output=tmp_path / "o", run_slug="r", force=False)
    first = _Constant(0.5)
    assert len(first.run(ctx)[0].paths) == 2 and first.calls == 2
    same = _Constant(0.5)
    assert same.run(ctx)[0].results == {} and same.calls == 0  # measured on exactly this: reused
    changed = _Constant(0.7)
    assert len(changed.run(ctx)[0].paths) == 2  # another provenance, same protocol: recomputed
    with pytest.raises(ResultConflict, match="n_queries 3 there, 5 now"):
        _Constant(0.9, n_queries=5).run(ctx)  # another protocol: never replaced without force
