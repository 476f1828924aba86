"""A result file is reused only when it was measured on exactly what the run asks for (data, subset, models,
max_seq_length, precision, cell): anything else is recomputed, never printed as the new score."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leafbench.cli import app

runner = CliRunner()


def _score(out: Path, run: str = "minilm-l6__12q-50d") -> tuple[float, dict]:
    data = json.loads((out / run / "student" / "SciFact.json").read_text())
    return data["scores"]["test"][0]["main_score"], data["leafbench"]


@pytest.mark.slow
def test_stale_cells_are_recomputed(env, scifact_dir: Path) -> None:
    def run(*extra: str, code: int = 0) -> str:
        res = runner.invoke(
            app,
            [
                "run",
                "--model",
                "minilm-l6",
                "--tasks",
                "SciFact",
                "--data-dir",
                str(scifact_dir.parent),
                "--output",
                str(env["out"]),
                *extra,
            ],
            catch_exceptions=False,
        )
        assert res.exit_code == code, res.output
        return " ".join(res.output.split())

    run("--max-queries", "5", "--max-docs", "50")
    small, lb_small = _score(env["out"], "minilm-l6__5q-50d")
    assert "0 cells scored, 1 already in" in run("--max-queries", "5", "--max-docs", "50")  # same: reused
    # Another subset is another run folder: scored there, the 5-query result left as it was.
    assert "1 cells scored, 0 already in" in run("--max-queries", "12", "--max-docs", "50")
    assert _score(env["out"], "minilm-l6__5q-50d") == (small, lb_small)
    bigger, lb_bigger = _score(env["out"])
    assert lb_bigger["n_queries"] == 12 and lb_bigger["provenance"] != lb_small["provenance"]
    # Another encoding (max_seq_length): refused, then recomputed when forced.
    longer = ("--max-queries", "12", "--max-docs", "50", "--max-seq-length", "64")
    assert "student max_seq_length none (the model's own) there, 64 now" in run(*longer, code=2)
    assert "1 cells scored, 0 already in" in run(*longer, "--force")
    short, lb_short = _score(env["out"])
    assert lb_short["student"]["max_seq_length"] == 64 and lb_short["provenance"] != lb_bigger["provenance"]
    assert "0 cells scored, 1 already in" in run(*longer)
    assert small != bigger and lb_small["n_queries"] == 5


def test_non_retrieval_cells_are_reused_only_with_the_same_provenance(
    shared_data: Path, minilm_spec, session_store, tmp_path: Path
) -> None:
    """STS / classification results (mteb's evaluators) follow the same rule as retrieval cells: a file measured
    on other data or another encoding is recomputed, not skipped."""
    from leafbench.encode import Encoder
    from leafbench.evaluator import ResultConflict
    from leafbench.mteb_eval import evaluate_mteb_task
    from leafbench.mteb_local import load_local_task

    def task(n: int):
        t = load_local_task("STSBenchmark", shared_data)
        t.dataset["test"] = t.dataset["test"].select(range(n))
        return t

    enc = Encoder(minilm_spec, session_store)
    path = tmp_path / "m" / "student" / "STSBenchmark.json"

    def score() -> tuple[float, dict]:
        data = json.loads(path.read_text())
        return data["scores"]["test"][0]["main_score"], data["leafbench"]

    first = evaluate_mteb_task(task(40), {"student": enc}, ["student"], tmp_path, "m", force=False)
    s40, lb40 = score()
    assert first.skipped == 0 and lb40["provenance"] and lb40["data_fingerprint"] == first.data_fingerprint
    assert evaluate_mteb_task(task(40), {"student": enc}, ["student"], tmp_path, "m", force=False).skipped == 1
    # Other data (a longer cut): recomputed, and the file now holds the new score.
    again = evaluate_mteb_task(task(60), {"student": enc}, ["student"], tmp_path, "m", force=False)
    s60, lb60 = score()
    assert again.skipped == 0 and lb60["provenance"] != lb40["provenance"] and s60 != s40
    # Another encoding of the same data (max_seq_length) is another protocol: never replaced without force.
    short = Encoder(minilm_spec.with_overrides(max_seq_length=8), session_store)
    with pytest.raises(ResultConflict, match="student max_seq_length none .* there, 8 now"):
        evaluate_mteb_task(task(60), {"student": short}, ["student"], tmp_path, "m", force=False)
    assert score() == (s60, lb60)
    assert evaluate_mteb_task(task(60), {"student": short}, ["student"], tmp_path, "m", force=True).skipped == 0
    assert score()[1]["provenance"] != lb60["provenance"]
    # An unreadable file is recomputed, never skipped.
    path.write_text("{")
    assert evaluate_mteb_task(task(60), {"student": short}, ["student"], tmp_path, "m", force=False).skipped == 0
