"""A result file is reused only when it was measured on exactly what the run asks for (data, subset, models,
max_seq_length, precision, cell): anything else is recomputed, never printed as the new score."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leafbench.cli import app

runner = CliRunner()


def _score(out: Path) -> tuple[float, dict]:
    data = json.loads((out / "minilm-l6" / "student" / "SciFact.json").read_text())
    return data["scores"]["test"][0]["main_score"], data["leafbench"]


@pytest.mark.slow
def test_stale_cells_are_recomputed(env, scifact_dir: Path) -> None:
    def run(*extra: str) -> str:
        res = runner.invoke(app, ["run", "--model", "minilm-l6", "--tasks", "SciFact", "--data-dir",
                                  str(scifact_dir.parent), "--output", str(env["out"]), *extra], catch_exceptions=False)
        assert res.exit_code == 0, res.output
        return " ".join(res.output.split())

    run("--max-queries", "5", "--max-docs", "50")
    small, lb_small = _score(env["out"])
    assert "0 cells scored, 1 already in" in run("--max-queries", "5", "--max-docs", "50")  # same: reused
    # Another subset: recomputed, not the 5-query score printed again.
    assert "1 cells scored, 0 already in" in run("--max-queries", "12", "--max-docs", "50")
    bigger, lb_bigger = _score(env["out"])
    assert lb_bigger["n_queries"] == 12 and lb_bigger["provenance"] != lb_small["provenance"]
    # Another encoding (max_seq_length): recomputed.
    assert "1 cells scored, 0 already in" in run("--max-queries", "12", "--max-docs", "50", "--max-seq-length", "64")
    short, lb_short = _score(env["out"])
    assert lb_short["student"]["max_seq_length"] == 64 and lb_short["provenance"] != lb_bigger["provenance"]
    assert "0 cells scored, 1 already in" in run("--max-queries", "12", "--max-docs", "50", "--max-seq-length", "64")
    assert small != bigger and lb_small["n_queries"] == 5
