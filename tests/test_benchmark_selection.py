"""A benchmark's task is scored on the benchmark's own splits and subsets, through the CLI, and read back so.

MTEB(eng, v2) configures AmazonCounterfactualClassification as its "en" subset on the "test" split; the plain
mteb task evaluates en-ext and en on validation and test. A benchmark run must evaluate the benchmark's task
object, record what it evaluated, and the report must read exactly that (never the first split it finds).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leafbench.cli import app
from leafbench.record import main_score
from leafbench.report.benchmarks import benchmark_board
from leafbench.report.frame import ReportError, load_results

from parity_tasks import tolerance

TASK = "AmazonCounterfactualClassification"


def _only_amazon(shared_data: Path, tmp_path: Path) -> Path:
    """A data folder holding AmazonCounterfactual alone: the benchmark run evaluates it and lists the rest as missing."""
    root = tmp_path / "data"
    (root / "mteb" / "classification").mkdir(parents=True)
    (root / "mteb" / "classification" / "AmazonCounterfactual").symlink_to(
        shared_data / "mteb" / "classification" / "AmazonCounterfactual"
    )
    return root


def test_benchmark_run_scores_the_benchmarks_split_and_subset_as_mteb_does(
    env, shared_data: Path, tmp_path: Path, minilm_spec, mteb_reference
) -> None:
    import copy

    import mteb

    from leafbench.mteb_local import load_local_task

    data_dir = _only_amazon(shared_data, tmp_path)
    res = CliRunner().invoke(
        app,
        [
            "run",
            "--model",
            "minilm-l6",
            "--tasks",
            "MTEB(eng, v2)",
            "--task-types",
            "Classification",
            "--data-dir",
            str(data_dir),
            "--output",
            str(env["out"]),
        ],
        catch_exceptions=False,
    )
    assert res.exit_code == 0, res.output
    manifest = json.loads((env["out"] / "minilm-l6" / "run.json").read_text())
    assert manifest["evaluated"] == [TASK]

    data = json.loads((env["out"] / "minilm-l6" / "student" / f"{TASK}.json").read_text())
    assert list(data["scores"]) == ["test"]
    assert [e["hf_subset"] for e in data["scores"]["test"]] == ["en"]
    lb = data["leafbench"]
    assert (lb["eval_splits"], lb["hf_subsets"], lb["split"], lb["selected_by"]) == (
        ["test"],
        ["en"],
        "test",
        "MTEB(eng, v2)",
    )

    # As mteb scores it: mteb.evaluate on the benchmark's own task object, same local data, plain SentenceTransformer.
    bench = next(t for t in mteb.get_benchmark("MTEB(eng, v2)").tasks if t.metadata.name == TASK)
    ref = mteb_reference(load_local_task(TASK, shared_data, task=copy.deepcopy(bench)), minilm_spec.source)
    # The session's store may serve rows from other batch compositions: tolerance from measured noise.
    assert main_score(data) == pytest.approx(ref, abs=tolerance("Classification"))

    df = load_results(env["out"])
    row = df[df["task"] == TASK].iloc[0]
    assert (row["split"], row["hf_subsets"]) == ("test", "en")
    # The board shows the result file's own score (x100): the same number, no encoding in between.
    assert benchmark_board(df, "MTEB(eng, v2)")[TASK].iloc[0] == pytest.approx(100 * main_score(data), abs=1e-6)


def _result(scores: dict, leafbench: dict) -> dict:
    return {
        "task_name": TASK,
        "dataset_revision": "x",
        "mteb_version": "2.26.24",
        "evaluation_time": 1.0,
        "scores": scores,
        "leafbench": {
            "mode": "student",
            "dim": 384,
            "full_dim": 384,
            "dtype": "float32",
            "cell": "full-float32",
            **leafbench,
        },
    }


def _entry(subset: str, score: float) -> dict:
    return {"hf_subset": subset, "main_score": score, "accuracy": score, "languages": ["eng-Latn"]}


ALL = {"validation": [_entry("en-ext", 0.60), _entry("en", 0.61)], "test": [_entry("en-ext", 0.62), _entry("en", 0.70)]}


def test_report_reads_the_recorded_selection_and_the_benchmark_reads_its_own(tmp_path: Path) -> None:
    # A plain-task run: every split and subset, recorded. Its own main score is mteb's mean over all four
    # entries; the benchmark table reads the benchmark's test/en entry out of it.
    plain = _result(ALL, {"eval_splits": ["validation", "test"], "hf_subsets": ["en-ext", "en"]})
    assert main_score(plain) == pytest.approx((0.60 + 0.61 + 0.62 + 0.70) / 4)
    assert main_score(plain, splits=["test"], hf_subsets=["en"]) == pytest.approx(0.70)
    path = tmp_path / "res" / "m" / "student" / f"{TASK}.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(plain))
    df = load_results(tmp_path / "res")
    assert df["split"].iloc[0] == "validation,test" and df["hf_subsets"].iloc[0] == "en-ext,en"
    assert df["score"].iloc[0] == pytest.approx(0.6325)
    assert benchmark_board(df, "MTEB(eng, v2)")[TASK].iloc[0] == pytest.approx(70.0)

    # A result holding only another subset is not the benchmark's task: absent from its table, not misread.
    path.write_text(
        json.dumps(_result({"test": [_entry("en-ext", 0.62)]}, {"eval_splits": ["test"], "hf_subsets": ["en-ext"]}))
    )
    assert benchmark_board(load_results(tmp_path / "res"), "MTEB(eng, v2)").empty

    # Several splits and no record of which were evaluated: refused, naming the file, never "the first one".
    path.write_text(json.dumps(_result(ALL, {})))
    with pytest.raises(ReportError, match=f"{TASK}.json.*no record of which were evaluated"):
        load_results(tmp_path / "res")
