"""The `leafbench` command end to end: real model, real SciFact subset, results mteb can read, clear errors."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leafbench.cli import app

runner = CliRunner()


def _run(*args: str) -> "object":
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_run_student_mode_writes_mteb_readable_results(env, shared_data: Path) -> None:
    from mteb.results import TaskResult

    res = _run(
        "run",
        "--model",
        "minilm-l6",
        "--mode",
        "student",
        "--tasks",
        "SciFact",
        "--data-dir",
        str(shared_data / "beir"),
        "--max-queries",
        "40",
        "--max-docs",
        "300",
        "--output",
        str(env["out"]),
    )
    assert res.exit_code == 0, res.output
    assert "nDCG@10" in res.output and "student" in res.output
    path = env["out"] / "minilm-l6__40q-300d" / "student" / "SciFact.json"  # the run names its protocol
    data = json.loads(path.read_text())
    assert data["task_name"] == "SciFact" and data["mteb_version"] == "2.26.24"
    assert data["leafbench"]["mode"] == "student" and data["leafbench"]["n_queries"] == 40
    tr = TaskResult.from_disk(path)
    assert tr.get_score() == pytest.approx(data["scores"]["test"][0]["main_score"])
    assert 0.3 < tr.get_score() <= 1.0


def test_pair_from_manifest_runs_all_modes(env, shared_data: Path, tmp_path: Path, minilm_spec) -> None:
    import shutil

    student = tmp_path / "my-student"
    shutil.copytree(minilm_spec.source, student)
    (student / "leafbench.json").write_text(json.dumps({"teacher": "minilm-l6"}))
    res = _run(
        "run",
        "--model",
        str(student),
        "--mode",
        "all",
        "--tasks",
        "scifact",
        "--data-dir",
        str(shared_data),
        "--max-queries",
        "40",
        "--max-docs",
        "300",
        "--output",
        str(env["out"]),
    )
    assert res.exit_code == 0, res.output
    folder = env["out"] / "my-student+minilm-l6__40q-300d"
    scores = {
        m: json.loads((folder / m / "SciFact.json").read_text())["scores"]["test"][0]["main_score"]
        for m in ("student", "teacher", "asymmetric")
    }
    # Student and teacher have identical weights, so all three modes agree exactly.
    assert scores["student"] == scores["teacher"] == scores["asymmetric"]


def test_mteb_short_options_select_tasks_and_benchmarks(env, shared_data: Path) -> None:
    """`-m/-t/-b` as mteb spells them: `-t SciFact` evaluates SciFact; `-b` adds a benchmark's tasks."""
    from leafbench.api import plan_run

    res = _run(
        "run", "-m", "hash-768", "-t", "SciFact", "--data-dir", str(shared_data / "beir"),
        "--max-queries", "5", "--max-docs", "50", "--output", str(env["out"]),
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert (
        json.loads((env["out"] / "hash-768__5q-50d" / "student" / "SciFact.json").read_text())["task_name"] == "SciFact"
    )
    sel = plan_run("hash-768", tasks="SciFact", benchmarks="NanoBEIR", output=env["out"]).selection
    assert sel.tasks[0] == "SciFact" and len(sel.tasks) > 1 and "NanoSciFactRetrieval" in sel.tasks


def test_models_lists_aliases() -> None:
    res = _run("models")
    assert res.exit_code == 0 and "leaf-ir" in res.output and "minilm-l6" in res.output
    rows = json.loads(_run("models", "--json").output)
    by_alias = {r["alias"]: r for r in rows}
    assert {"leaf-ir", "leaf-mt", "minilm-l6", "mpnet-base", "arctic-embed-m-v1.5", "mxbai-embed-large-v1"} <= set(
        by_alias
    )
    assert by_alias["leaf-mt"]["teacher"] == "mxbai-embed-large-v1"
    assert by_alias["minilm-l6"]["resolves to"].endswith("model")


@pytest.mark.parametrize(
    "args,expected",
    [
        (["--model", "no-such-model"], "unknown model 'no-such-model'"),
        (["--model", "minilm-l6", "--tasks", "SciFakt"], "unknown task 'SciFakt'"),
        (["--model", "minilm-l6", "--mode", "asymmetric"], "needs a teacher"),
        (["--model", "minilm-l6", "--teacher", "mpnet-base", "--mode", "asymmetric"], "384-d"),
        (["--model", "minilm-l6", "--tasks", "NFCorpus"], "--data-dir"),
        # mteb's spellings: -t is --tasks, so an old `-t <teacher>` says what happened; an unused teacher is an error
        (["-m", "minilm-l6", "-t", "mpnet-base"], "-t is --tasks, as in mteb; a teacher is --teacher"),
        (["-m", "minilm-l6", "--teacher", "mpnet-base", "-t", "SciFact"], "is not used by --mode student"),
        (["-m", "minilm-l6", "-b", "NanoBEIRx"], "--benchmarks: mteb knows no benchmark 'NanoBEIRx'"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_2(env, shared_data: Path, args: list[str], expected: str) -> None:
    res = _run("run", *args, "--data-dir", str(shared_data / "beir"), "--output", str(env["out"]))
    assert res.exit_code == 2, res.output
    assert expected in res.output
    assert "Traceback" not in res.output
    assert not env["out"].exists(), "nothing half-written"


def test_sweep_writes_every_cell_from_one_encoding_and_skips_existing(env, shared_data: Path) -> None:
    args = [
        "run",
        "--model",
        "minilm-l6",
        "--mode",
        "all",
        "--teacher",
        "minilm-l6",
        "--tasks",
        "SciFact",
        "--data-dir",
        str(shared_data / "beir"),
        "--max-queries",
        "40",
        "--max-docs",
        "300",
        "--dims",
        "full,128",
        "--dtypes",
        "float32,int8,binary",
        "--output",
        str(env["out"]),
    ]
    res = _run(*args)
    assert res.exit_code == 0, res.output
    folder = env["out"] / "minilm-l6+minilm-l6__40q-300d"
    files = sorted(p.relative_to(folder).as_posix() for p in folder.glob("*/*.json"))
    assert len(files) == 3 * 2 * 3
    assert "asymmetric/SciFact__128d-binary.json" in files and "teacher/SciFact.json" in files
    cell = json.loads((folder / "student" / "SciFact__128d-int8.json").read_text())["leafbench"]
    assert (cell["dim"], cell["dtype"], cell["calibration"], cell["scoring"]) == (
        128,
        "int8",
        "corpus",
        "inner-product",
    )
    binary = json.loads((folder / "student" / "SciFact__full-binary.json").read_text())["leafbench"]
    assert binary["scoring"].startswith("hamming") and binary["dim"] == 384
    # Same command again: every cell exists, so nothing is encoded or scored.
    again = _run(*args)
    assert again.exit_code == 0 and "0 cells scored, 18 already in" in again.output.replace("\n", " ")
    forced = _run(*args, "--force")
    assert "18 cells scored" in forced.output.replace("\n", " ") and "encoded 0 texts now" in forced.output


def test_dim_larger_than_model_fails_before_encoding(env, shared_data: Path) -> None:
    res = _run(
        "run",
        "--model",
        "minilm-l6",
        "--tasks",
        "SciFact",
        "--data-dir",
        str(shared_data / "beir"),
        "--dims",
        "full,512",
        "--output",
        str(env["out"]),
    )
    assert res.exit_code == 2 and "512 is larger than minilm-l6's embedding dim 384" in res.output


def test_benchmark_offline_runs_what_is_local_and_lists_the_rest_as_missing(env, shared_data: Path) -> None:
    res = _run(
        "run",
        "--model",
        "minilm-l6",
        "--tasks",
        "BEIR",
        "--data-dir",
        str(shared_data / "beir"),
        "--max-queries",
        "40",
        "--max-docs",
        "300",
        "--output",
        str(env["out"]),
    )
    assert res.exit_code == 0, res.output
    manifest = json.loads((env["out"] / "minilm-l6__40q-300d" / "run.json").read_text())
    assert manifest["evaluated"] == ["SciFact"]
    assert (
        len(manifest["missing"]) == 14
        and "NFCorpus" in manifest["missing"]
        and "--data-dir" in manifest["missing"]["NFCorpus"]
    )
    assert "missing" in res.output and "NFCorpus" in res.output.replace("\n", "")


def test_exclude_tasks_are_recorded_as_skipped_not_dropped() -> None:
    from leafbench.tasks import TaskSelectionError, select_tasks

    sel = select_tasks("MTEB(eng, v2)", None, None, "imdbclassification,STS12")
    assert "ImdbClassification" not in sel.tasks and "STS12" not in sel.tasks and "STS13" in sel.tasks
    assert sel.skipped["ImdbClassification"] == sel.skipped["STS12"] == "excluded with --exclude-tasks"
    with pytest.raises(TaskSelectionError, match="unknown task 'NoSuchTask'"):
        select_tasks("MTEB(eng, v2)", None, None, "NoSuchTask")


def test_summary_of_a_wide_run_shows_per_type_means_and_coverage(tmp_path: Path) -> None:
    from rich.console import Console

    from leafbench.cells import Cell
    from leafbench.record import build_result, result_path, write_result
    from leafbench.summary import as_table, summary_rows

    sts = {"STS12": 0.70, "STS13": 0.80, "STS14": 0.75, "STSBenchmark": 0.85}
    clf = {"Banking77Classification": 0.80, "ImdbClassification": 0.60}
    types = {
        **{t: "STS" for t in sts},
        **{t: "Classification" for t in clf},
        "TweetSentimentExtractionClassification": "Classification",
    }
    for t, v in {**sts, **clf}.items():
        write_result(
            result_path(tmp_path, "m", "student", t),
            build_result(t, "test", {"main_score": v}, 1.0, {"mode": "student"}),
        )
    table = as_table(*summary_rows(tmp_path, "m", list(types), ["student"], [Cell()], types=types))
    console = Console(width=200, record=True)
    console.print(table)
    text = console.export_text()
    assert "Mean(STS)" in text and "Mean(Classification)" in text and "STS12" not in text
    assert "77.50" in text  # STS mean of 70, 80, 75, 85
    assert "70.00 (2/3)" in text  # Tweet has no result: the classification mean says so
    assert f"{100 * (sum(sts.values()) + sum(clf.values())) / 6:.2f} (6/7 tasks)" in text


def test_progress_without_a_terminal_is_plain_lines_with_rate_and_eta(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CI log gets `<desc>: n/total (pct), rate/s, ETA` lines at most every interval, and one line when done."""
    from leafbench import cli

    clock = iter([0.0, 1.0, 5.0, 11.0, 12.0, 20.0])
    monkeypatch.setattr(cli.time, "monotonic", lambda: next(clock))
    lines: list[str] = []
    p = cli.PlainProgress("SciFact student documents", 1000, 10.0, lines.append)  # t0 = 0
    p(100)  # t=1: too soon
    p(100)  # t=5: too soon
    p(300)  # t=11: a line
    p(100)  # t=12: too soon
    p(400)  # t=20: done
    assert lines == [
        "SciFact student documents: 500/1,000 (50.0%), 45/s, ETA 0:11",
        "SciFact student documents: 1,000/1,000 done in 0:20 (50/s)",
    ]


def test_help_keeps_bracketed_text() -> None:
    """Rich markup must not eat `[ray]` from help text."""
    res = runner.invoke(app, ["run", "--help"], env={"COLUMNS": "300"})
    assert "pip install leafbench[ray]" in " ".join(res.output.split())


_MALLINFO = """
import ctypes, sys
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
if sys.argv[1] == "tuned":
    from leafbench.cli import _tune_malloc
    _tune_malloc()
big = bytearray(16 << 20)  # freeing a 16 MiB mapping raises glibc's dynamic threshold past 2 MiB
del big
before = libc.mallinfo2().hblkhd
block = bytearray(2 << 20)
print(libc.mallinfo2().hblkhd - before)
"""


def _glibc_with_mallinfo2() -> bool:
    name, version = platform.libc_ver()
    return sys.platform.startswith("linux") and name == "glibc" and tuple(map(int, version.split(".")[:2])) >= (2, 33)


@pytest.mark.skipif(not _glibc_with_mallinfo2(), reason="glibc >= 2.33 (mallinfo2) only")
@pytest.mark.parametrize("how", ["plain", "tuned"])
def test_the_command_keeps_large_buffers_out_of_mallocs_heaps(how):
    """A freed 16 MiB block makes glibc serve the next 2 MiB ones from a heap (where scoring's per-block buffers
    fragment it); with the command's fixed 1 MiB threshold they are mappings, returned when freed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_TUNABLES"))}
    out = subprocess.run([sys.executable, "-c", _MALLINFO, how], capture_output=True, text=True, env=env, check=True)
    mapped = int(out.stdout.strip())
    assert (mapped >= 2 << 20) if how == "tuned" else mapped == 0
