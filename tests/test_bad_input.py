"""Bad input gets one plain line and exit 2, before any work; nothing damaged is shown as a score or as
merely missing. Fast: no model is loaded, no text encoded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leafbench.cli import app

runner = CliRunner()


def _out(res) -> str:
    """The output on one line, without the frame typer draws around usage errors."""
    return " ".join(res.output.replace("│", " ").split())


def _beir(folder: Path, n_docs: int = 3, bad_line: str | None = None) -> Path:
    (folder / "qrels").mkdir(parents=True)
    lines = [json.dumps({"_id": f"d{i}", "text": f"doc {i}"}) for i in range(n_docs)]
    if bad_line:
        lines.append(bad_line)
    (folder / "corpus.jsonl").write_text("\n".join(lines) + "\n")
    (folder / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "query"}) + "\n")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td0\t1\n")
    return folder


@pytest.fixture()
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("LEAFBENCH_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


@pytest.mark.parametrize("option", ["--batch-size", "--shard-size", "--max-queries", "--max-docs"])
def test_zero_sizes_are_refused_at_parse_time(offline: Path, option: str) -> None:
    res = runner.invoke(app, ["run", "--model", "minilm-l6", "--tasks", "SciFact", option, "0",
                              "--output", str(offline / "out")])
    assert res.exit_code == 2 and f"Invalid value for '{option}'" in _out(res), res.output
    assert not (offline / "out").exists() and not (offline / "cache").exists()


def test_file_line_and_brackets_print_verbatim(offline: Path) -> None:
    """`corpus.jsonl:100:` is not an emoji and `[v2]` is not markup: messages show user data as it is."""
    folder = _beir(offline / "corpus[v2]", n_docs=99, bad_line=json.dumps({"_id": "x", "text": 5}))
    res = runner.invoke(app, ["run", "--model", "minilm-l6", "--tasks", str(folder), "--output", str(offline / "out")])
    assert res.exit_code == 2
    assert f"error: {folder}/corpus.jsonl:100: field 'text' must be a string, got int" in _out(res)


def _result(path: Path, score: float = 0.5) -> None:
    from leafbench.results import build_result, write_result

    write_result(path, build_result("SciFact", "test", {"ndcg_at_10": score, "main_score": score}, 1.0,
                                    {"mode": "student", "split": "test"}))


def test_truncated_result_fails_report_and_check_naming_it(offline: Path) -> None:
    results = offline / "results"
    _result(results / "m" / "student" / "SciFact.json")
    assert runner.invoke(app, ["baseline", str(results), "--out", str(offline / "b.json")]).exit_code == 0
    bad = results / "m" / "student" / "SciFact.json"
    bad.write_text(bad.read_text()[:200])
    for args in (["report", str(results), "--out", str(offline / "rep"), "--no-figures"],
                 ["check", str(results), "--baseline", str(offline / "b.json")],
                 ["check", str(results), "--baseline", str(offline / "b.json"), "--allow-missing"]):
        res = runner.invoke(app, args)
        assert res.exit_code == 2, (args, res.output)
        assert f"{bad}:" in _out(res) and "invalid result JSON" in _out(res)


def test_zero_cells_compared_is_never_ok(offline: Path) -> None:
    _result(offline / "a" / "m" / "student" / "SciFact.json")
    _result(offline / "b" / "other" / "student" / "SciFact.json")
    assert runner.invoke(app, ["baseline", str(offline / "a"), "--out", str(offline / "b.json")]).exit_code == 0
    res = runner.invoke(app, ["check", str(offline / "b"), "--baseline", str(offline / "b.json"), "--allow-missing"])
    assert res.exit_code == 2 and "0 cells compared" in _out(res)
    assert "no baseline cell has a current result" in _out(res)
