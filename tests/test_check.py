"""Regression check: identical results pass, a deliberately worsened one fails (exit 1), bad input exits 2.

The main cases use a real evaluation (minilm-l6 on a tiny real SciFact subset, the same encodings as
tests/test_report.py so the session store serves them); edge cases edit copies of those real result files.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from leafbench.check import (
    BASELINE_FORMAT,
    EXIT_BAD_INPUT,
    EXIT_OK,
    EXIT_REGRESSION,
    check,
    read_baseline,
    write_baseline,
)

RUN = "minilm-l6+minilm-l6-16"


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory, scifact_small, minilm_spec, session_store) -> Path:
    from leafbench.cells import Cell
    from leafbench.encode import Encoder
    from leafbench.evaluate import evaluate_retrieval
    from leafbench.modes import ALL_MODES

    out = tmp_path_factory.mktemp("check-results")
    encoders = {
        "student": Encoder(minilm_spec, session_store),
        "teacher": Encoder(minilm_spec.with_overrides(max_seq_length=16), session_store),
    }
    cells = [Cell(None, "float32"), Cell(None, "int8"), Cell(32, "binary")]
    evaluate_retrieval(
        scifact_small.subset(16, 64),
        encoders,
        list(ALL_MODES),
        out,
        RUN,
        cells=cells,
        extra={"subset": {"max_queries": 16, "max_docs": 64}},
    )
    return out


@pytest.fixture()
def work(results: Path, tmp_path: Path) -> dict[str, Path]:
    """A fresh copy of the results plus a baseline written from them."""
    cur = tmp_path / "results"
    shutil.copytree(results, cur)
    base = tmp_path / "baselines" / "ci.json"
    write_baseline(results, base)
    return {"results": cur, "baseline": base}


def _edit(path: Path, **scores: float) -> None:
    d = json.loads(path.read_text())
    d["scores"]["test"][0].update(scores)
    path.write_text(json.dumps(d))


def _app() -> typer.Typer:
    """The leafbench command: its one error handler prints bad input as `error: ...` with exit code 2."""
    from leafbench.cli import app

    return app


runner = CliRunner()


def test_baseline_file_round_trips(results: Path, work: dict[str, Path]) -> None:
    data = json.loads(work["baseline"].read_text())
    assert data["format"] == BASELINE_FORMAT and len(data["entries"]) == 9
    e = next(x for x in data["entries"] if (x["mode"], x["dim"], x["dtype"]) == ("asymmetric", "full", "float32"))
    real = json.loads((results / RUN / "asymmetric" / "SciFact.json").read_text())
    assert e["score"] == real["scores"]["test"][0]["main_score"]
    assert (e["run"], e["task"], e["n_queries"], e["n_documents"], e["split"]) == (
        RUN,
        "SciFact",
        16,
        real["leafbench"]["n_documents"],
        "test",
    )
    keys = read_baseline(work["baseline"])
    assert (RUN, "teacher", "SciFact", "32", "binary") in keys and len(keys) == 9


def test_identical_results_pass(work: dict[str, Path]) -> None:
    res = check(work["results"], work["baseline"], tolerance=0.005)
    assert res.exit_code == EXIT_OK, res.summary
    assert (res.table["status"] == "ok").all() and len(res.table) == 9
    assert (res.table["delta"] == 0).all()
    assert res.summary.startswith("check OK: 9 cells compared, 0 regressions")


def test_worsened_result_fails_with_exit_1(work: dict[str, Path]) -> None:
    """The CI guarantee: a change that lowers one cell by more than the tolerance fails the check."""
    target = work["results"] / RUN / "asymmetric" / "SciFact.json"
    before = json.loads(target.read_text())["scores"]["test"][0]["main_score"]
    _edit(target, main_score=before - 0.02, ndcg_at_10=before - 0.02)
    res = check(work["results"], work["baseline"], tolerance=0.005)
    assert res.exit_code == EXIT_REGRESSION
    bad = res.table[res.table["status"] == "REGRESSION"]
    assert bad[["mode", "dim", "dtype"]].values.tolist() == [["asymmetric", "full", "float32"]]
    assert bad["delta"].iloc[0] == pytest.approx(-0.02)
    assert (res.table.drop(bad.index)["status"] == "ok").all()
    # Same through the command: exit code 1 and the delta table names the cell.
    r = runner.invoke(
        _app(), ["check", str(work["results"]), "--baseline", str(work["baseline"]), "--tolerance", "0.005"]
    )
    assert r.exit_code == 1, r.output
    assert "REGRESSION" in r.output and "-0.02000" in r.output and "1 regressions" in r.output
    # A tolerance wider than the drop (absolute, or relative to the baseline) lets it pass.
    assert check(work["results"], work["baseline"], tolerance=0.021).exit_code == EXIT_OK
    assert check(work["results"], work["baseline"], tolerance=0.0, rel_tolerance=0.05).exit_code == EXIT_OK


def test_small_drop_within_tolerance_and_improvements_pass(work: dict[str, Path]) -> None:
    d = work["results"] / RUN
    s = json.loads((d / "student" / "SciFact.json").read_text())["scores"]["test"][0]["main_score"]
    _edit(d / "student" / "SciFact.json", main_score=s - 0.004)
    _edit(d / "teacher" / "SciFact__full-int8.json", main_score=0.999)
    res = check(work["results"], work["baseline"], tolerance=0.005)
    assert res.exit_code == EXIT_OK
    status = {(r["mode"], r["dtype"]): r["status"] for r in res.table[res.table["dim"] == "full"].to_dict("records")}
    assert status[("student", "float32")] == "ok" and status[("teacher", "int8")] == "improved"


def test_missing_and_new_cells(work: dict[str, Path]) -> None:
    (work["results"] / RUN / "teacher" / "SciFact__32d-binary.json").unlink()
    res = check(work["results"], work["baseline"])
    assert res.exit_code == EXIT_REGRESSION and (res.table["status"] == "MISSING").sum() == 1
    assert check(work["results"], work["baseline"], allow_missing=True).exit_code == EXIT_OK
    # A cell the baseline does not know is reported, never a failure.
    src = work["results"] / RUN / "student" / "SciFact.json"
    shutil.copy(src, work["results"] / RUN / "student" / "SciFact__full-float16.json")
    d = json.loads((work["results"] / RUN / "student" / "SciFact__full-float16.json").read_text())
    d["leafbench"].update(dtype="float16", cell="full-float16")
    (work["results"] / RUN / "student" / "SciFact__full-float16.json").write_text(json.dumps(d))
    res = check(work["results"], work["baseline"], allow_missing=True)
    assert res.exit_code == EXIT_OK and (res.table["status"] == "new").sum() == 1


def test_different_data_is_bad_input_not_a_regression(work: dict[str, Path]) -> None:
    p = work["results"] / RUN / "student" / "SciFact.json"
    d = json.loads(p.read_text())
    d["leafbench"]["n_queries"] = 300
    p.write_text(json.dumps(d))
    res = check(work["results"], work["baseline"])
    assert res.exit_code == EXIT_BAD_INPUT
    assert any("n_queries 16 → 300" in m for m in res.messages)


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "baseline file not found"),
        ("{not json", ":1: invalid baseline JSON"),
        ('{"entries": []}', "not a leafbench baseline"),
        (json.dumps({"format": BASELINE_FORMAT, "entries": []}), "baseline has no entries"),
        (
            json.dumps(
                {
                    "format": BASELINE_FORMAT,
                    "entries": [{"run": "r", "mode": "student", "task": "SciFact", "dim": "full", "dtype": "float32"}],
                }
            ),
            "entry 0 lacks score",
        ),
        (
            json.dumps(
                {
                    "format": BASELINE_FORMAT,
                    "entries": [
                        {
                            "run": "r",
                            "mode": "student",
                            "task": "SciFact",
                            "dim": "full",
                            "dtype": "float32",
                            "score": "high",
                        }
                    ],
                }
            ),
            "non-numeric score",
        ),
    ],
)
def test_bad_baseline_exits_2_naming_the_file(
    work: dict[str, Path], tmp_path: Path, content: str | None, message: str
) -> None:
    bad = tmp_path / "bad-baseline.json"
    if content is not None:
        bad.write_text(content)
    res = check(work["results"], bad)
    assert res.exit_code == EXIT_BAD_INPUT
    assert str(bad) in res.messages[0] and message in res.messages[0]
    r = runner.invoke(_app(), ["check", str(work["results"]), "--baseline", str(bad)])
    assert r.exit_code == 2 and "bad-baseline.json" in r.output and message.split(":")[-1].strip() in r.output


def test_bad_results_folder_exits_2(work: dict[str, Path], tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    res = check(empty, work["baseline"])
    assert (
        res.exit_code == EXIT_BAD_INPUT
        and "no leafbench result JSON" in res.messages[0]
        and str(empty) in res.messages[0]
    )
    r = runner.invoke(_app(), ["baseline", str(tmp_path / "nowhere"), "--output", str(tmp_path / "b.json")])
    assert r.exit_code == 2 and "nowhere: results folder not found" in r.output
    # Two files claiming one cell (the same run copied twice under one root) cannot be compared.
    dup = tmp_path / "dup"
    shutil.copytree(work["results"], dup / "a")
    shutil.copytree(work["results"], dup / "b")
    res = check(dup, work["baseline"])
    assert res.exit_code == EXIT_BAD_INPUT and "same cell" in res.messages[0]


def test_baseline_command_and_per_query_interval(work: dict[str, Path], tmp_path: Path) -> None:
    # Per-query blocks (proposed leafbench field) on both sides give candidate − baseline a paired 95% CI.
    p = work["results"] / RUN / "student" / "SciFact.json"
    d = json.loads(p.read_text())
    d["leafbench"]["per_query"] = {"ndcg_at_10": {f"q{i}": 0.5 + 0.01 * (i % 5) for i in range(50)}}
    p.write_text(json.dumps(d))
    out = tmp_path / "b" / "ci.json"
    r = runner.invoke(_app(), ["baseline", str(work["results"]), "--output", str(out)])
    assert r.exit_code == 0 and "9 cells" in r.output
    entries = json.loads(out.read_text())["entries"]
    assert "per_query" in next(
        e for e in entries if (e["mode"], e["dim"], e["dtype"]) == ("student", "full", "float32")
    )
    d["leafbench"]["per_query"]["ndcg_at_10"] = {f"q{i}": 0.5 + 0.01 * (i % 5) - 0.001 for i in range(50)}
    p.write_text(json.dumps(d))
    res = check(work["results"], out)
    row = res.table[
        (res.table["mode"] == "student") & (res.table["dim"] == "full") & (res.table["dtype"] == "float32")
    ].iloc[0]
    assert row["ci95"] == "-0.0010 [-0.0010, -0.0010]"
    # Other cells: "n/a" without stored per-query scores, a zero-width interval when they are stored and unchanged.
    assert res.table.drop(row.name)["ci95"].isin(["n/a", "+0.0000 [+0.0000, +0.0000]"]).all()
    r = runner.invoke(_app(), ["check", str(work["results"]), "--baseline", str(out)])
    assert r.exit_code == 0 and "95% CI (paired)" in r.output


def test_check_formats_for_ci_json_and_markdown(work: dict[str, Path], tmp_path: Path) -> None:
    """`--format json` is parsed by a CI step (same exit code as the table), `--format markdown` is a job summary
    naming the regressed cell; bad input is JSON too, with exit 2."""
    args = ["check", str(work["results"]), "--baseline", str(work["baseline"])]
    ok = runner.invoke(_app(), [*args, "--format", "json"])
    data = json.loads(ok.stdout)
    assert ok.exit_code == 0 and data["status"] == "ok" and len(data["cells"]) == 9
    assert {c["status"] for c in data["cells"]} == {"ok"} and all(c["delta"] == 0 for c in data["cells"])
    _edit(work["results"] / RUN / "student" / "SciFact.json", main_score=0.01, ndcg_at_10=0.01)
    bad = runner.invoke(_app(), [*args, "--format", "json"])
    data = json.loads(bad.stdout)
    assert bad.exit_code == 1 and data["status"] == "regression"
    assert [(c["mode"], c["dim"], c["dtype"]) for c in data["cells"] if c["status"] == "REGRESSION"] == [
        ("student", "full", "float32")
    ]
    md = runner.invoke(_app(), [*args, "--format", "markdown"])
    assert md.exit_code == 1 and md.stdout.startswith("### leafbench check: ❌ regression")
    row = next(x for x in md.stdout.splitlines() if x.startswith(f"| {RUN} | student | SciFact | full | float32 |"))
    assert row.endswith("| 0.01000 | " + row.split(" | ")[-3] + " | 0.00500 | REGRESSION |")
    assert "8 cells within" in md.stdout
    nobase = runner.invoke(
        _app(), ["check", str(work["results"]), "--baseline", str(tmp_path / "no.json"), "--format", "json"]
    )
    assert nobase.exit_code == 2 and json.loads(nobase.stdout)["status"] == "bad input"
    assert runner.invoke(_app(), [*args, "--format", "yaml"]).exit_code == 2


# --------------------------------------------------------------------------- unit layer: synthetic result files


def _result(path: Path, score: float = 0.5, fingerprint: str | None = "fp-a", **lb: object) -> Path:
    """A SciFact result as `leafbench run` writes it (mteb TaskResult + leafbench block), without a model."""
    from leafbench.record import build_result, write_result

    block = {"mode": "student", "split": "test", "n_queries": 10, "n_documents": 100, "data_fingerprint": fingerprint}
    block.update(lb)
    write_result(path, build_result("SciFact", "test", {"ndcg_at_10": score, "main_score": score}, 1.0, block))
    return path


def _set_main_score(path: Path, raw: str) -> None:
    """Put `raw` (JSON text: NaN, Infinity, "0.5", true, 5.0) where the main score is, as a hostile file would."""
    d = json.loads(path.read_text())
    d["scores"]["test"][0]["main_score"] = "__RAW__"
    path.write_text(json.dumps(d).replace('"__RAW__"', raw))


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity", '"0.5"', "true", "5.0", "-1.5", "null"])
def test_check_refuses_a_main_score_that_is_not_a_real_number(tmp_path: Path, raw: str) -> None:
    """NaN, infinities, strings, booleans and scores outside mteb's [-1, 1] are bad input naming the file and the
    key: never compared (a NaN or 5.0 used to pass as "improved")."""
    cur = _result(tmp_path / "results" / "m" / "student" / "SciFact.json")
    base = tmp_path / "b.json"
    write_baseline(tmp_path / "results", base)
    _set_main_score(cur, raw)
    res = check(tmp_path / "results", base)
    assert res.exit_code == EXIT_BAD_INPUT and res.table.empty
    assert res.messages[0].startswith(f"{cur}: scores.test[0].main_score is ")
    r = runner.invoke(_app(), ["check", str(tmp_path / "results"), "--baseline", str(base)])
    assert r.exit_code == 2 and "scores.test[0].main_score" in r.output and "improved" not in r.output
    r = runner.invoke(_app(), ["baseline", str(tmp_path / "results"), "--output", str(tmp_path / "b2.json")])
    assert r.exit_code == 2 and not (tmp_path / "b2.json").exists()


def test_check_reads_a_negative_correlation(tmp_path: Path) -> None:
    """A main score can be negative (a Spearman correlation): within [-1, 1] it is a score like any other."""
    _result(tmp_path / "results" / "m" / "student" / "SciFact.json", score=-0.25)
    base = tmp_path / "b.json"
    write_baseline(tmp_path / "results", base)
    res = check(tmp_path / "results", base)
    assert res.exit_code == EXIT_OK and res.table["current"].tolist() == [-0.25]


@pytest.mark.parametrize(
    "args", [["--tolerance", "nan"], ["--tolerance", "inf"], ["--tolerance", "-0.01"], ["--rel-tolerance", "nan"]]
)
def test_check_refuses_nan_tolerance(tmp_path: Path, args: list[str]) -> None:
    """A NaN tolerance passed every regression (no comparison with NaN is true), inf any drop; a negative one
    fails an unchanged score. All three are bad input: one line, exit 2, nothing compared."""
    _result(tmp_path / "results" / "m" / "student" / "SciFact.json", score=0.5)
    base = tmp_path / "b.json"
    write_baseline(tmp_path / "results", base)
    _result(tmp_path / "results" / "m" / "student" / "SciFact.json", score=0.1)  # a regression
    r = runner.invoke(_app(), ["check", str(tmp_path / "results"), "--baseline", str(base), *args])
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {args[0]} ") and "finite number >= 0" in lines[0]
    tol = {"tolerance": 0.005, "rel_tolerance": 0.0} | {args[0][2:].replace("-", "_"): float(args[1])}
    assert check(tmp_path / "results", base, **tol).exit_code == EXIT_BAD_INPUT


def test_check_reports_another_data_fingerprint_as_a_mismatch(tmp_path: Path) -> None:
    """Another corpus with the same split and counts: the baseline's data fingerprint differs, so the cell is a
    data mismatch (exit 2) naming the task and both fingerprints, never "ok" or "improved"."""
    _result(tmp_path / "results" / "m" / "student" / "SciFact.json", score=0.5, fingerprint="fp-a")
    base = tmp_path / "b.json"
    write_baseline(tmp_path / "results", base)
    assert json.loads(base.read_text())["entries"][0]["data_fingerprint"] == "fp-a"
    _result(tmp_path / "results" / "m" / "student" / "SciFact.json", score=0.6, fingerprint="fp-b")
    res = check(tmp_path / "results", base)
    assert res.exit_code == EXIT_BAD_INPUT and res.table["status"].tolist() == ["DATA MISMATCH"]
    assert any("SciFact" in m and "'fp-a' → 'fp-b'" in m for m in res.messages), res.messages
    # A current result that records no fingerprint cannot show it was measured on the baseline's data either.
    _result(tmp_path / "results" / "m" / "student" / "SciFact.json", score=0.5, fingerprint=None)
    assert check(tmp_path / "results", base).table["status"].tolist() == ["DATA MISMATCH"]
    r = runner.invoke(_app(), ["check", str(tmp_path / "results"), "--baseline", str(base)])
    assert r.exit_code == 2 and "DATA MISMATCH" in r.output


def test_check_accepts_a_baseline_without_fingerprints_with_a_note(tmp_path: Path) -> None:
    """A baseline written before fingerprints were recorded still works: scores compared, and a note says the data
    was not checked."""
    _result(tmp_path / "results" / "m" / "student" / "SciFact.json", score=0.5, fingerprint="fp-a")
    base = tmp_path / "b.json"
    data = write_baseline(tmp_path / "results", base)
    for e in data["entries"]:
        del e["data_fingerprint"]
    base.write_text(json.dumps(data))
    res = check(tmp_path / "results", base)
    assert res.exit_code == EXIT_OK and res.table["status"].tolist() == ["ok"]
    assert any(m.startswith("note: the baseline records no data fingerprint for SciFact") for m in res.messages)


def test_committed_ci_baseline_records_data_fingerprints() -> None:
    """The CI baseline names the data of every cell, so `leafbench check` in CI compares fingerprints too."""
    entries = json.loads((Path(__file__).resolve().parents[1] / "results/baselines/ci.json").read_text())["entries"]
    fps = {e["task"]: {x.get("data_fingerprint") for x in entries if x["task"] == e["task"]} for e in entries}
    assert set(fps) == {"SciFact", "BIOSSES"}
    assert all(len(v) == 1 and None not in v for v in fps.values()), fps


def test_example_ci_workflow_parses_and_uses_the_formats() -> None:
    """docs/ci/leafbench-check.yml is valid YAML whose check step writes the job summary and the JSON verdict."""
    import yaml

    wf = yaml.safe_load((Path(__file__).parents[1] / "docs" / "ci" / "leafbench-check.yml").read_text())
    step = next(s for s in wf["jobs"]["check"]["steps"] if s.get("name") == "Check against the baseline")
    assert (
        "--format markdown" in step["run"] and "GITHUB_STEP_SUMMARY" in step["run"] and "--format json" in step["run"]
    )
