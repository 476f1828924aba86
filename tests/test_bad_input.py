"""The bad-input table: each case is one row - the input, the exit code, the one plain line it prints (naming
the file and line where there is one) and "no wrong number": no case writes or prints a score, except the
exit-0 rows, whose score equals the clean run's. Most rows fail before any model is loaded or text encoded;
the few that encode use a three-document folder.

Errors: bad input exits 2 with `error: <one line>`; anything unexpected exits 1 with one line and a hint
(the traceback only under --debug / LEAFBENCH_DEBUG=1).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
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
    monkeypatch.delenv("LEAFBENCH_DEBUG", raising=False)
    monkeypatch.delenv("LEAFBENCH_DATA_DIR", raising=False)
    return tmp_path


def _no_number(tmp: Path, res) -> None:
    """No score anywhere: no result file under the output folder, no score table printed, nothing encoded."""
    results = [p for p in (tmp / "out").rglob("*.json") if p.name != "run.json"] if (tmp / "out").exists() else []
    assert not results, results
    assert "main score" not in res.output and "cells scored" not in res.output
    encoded = [*(tmp / "cache").rglob("*.npy"), *(tmp / "cache").rglob("*.lance")]  # either store format
    assert not encoded, "nothing may be encoded before a bad-input error"


def _one_error_line(res) -> str:
    lines = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in res.output, res.output
    return _out(res)


# --------------------------------------------------------------------------- options (checked at parse time)


@pytest.mark.parametrize(
    "option", ["--batch-size", "--shard-size", "--max-queries", "--max-docs", "--max-seq-length", "--threads"]
)
def test_zero_sizes_are_refused_at_parse_time(offline: Path, option: str) -> None:
    res = runner.invoke(
        app, ["run", "--model", "minilm-l6", "--tasks", "SciFact", option, "0", "--output", str(offline / "out")]
    )
    assert res.exit_code == 2 and f"Invalid value for '{option}'" in _out(res), res.output
    assert not (offline / "out").exists() and not (offline / "cache").exists()


# --------------------------------------------------------------------------- `leafbench run`: one row each


@dataclass
class Case:
    """One row: `setup(tmp)` builds the input and returns the arguments after `run`; `expect(tmp)` the text the
    one error line must contain (paths included)."""

    id: str
    setup: Callable[[Path], list[str]]
    expect: Callable[[Path], str]
    code: int = 2


def _run_beir(folder_edit: Callable[[Path], None], *extra: str) -> Callable[[Path], list[str]]:
    def setup(tmp: Path) -> list[str]:
        folder = _beir(tmp / "data" / "mine")
        folder_edit(folder)
        return ["--model", "minilm-l6", "--tasks", str(folder), "--output", str(tmp / "out"), *extra]

    return setup


def _append(name: str, data: bytes) -> Callable[[Path], None]:
    return lambda folder: (folder / name).open("ab").write(data)


def _write(name: str, data: bytes) -> Callable[[Path], None]:
    return lambda folder: (folder / name).write_bytes(data)


def _touch(tmp: Path, name: str) -> Path:
    (tmp / name).write_text("x")
    return tmp / name


def _model_folder(tmp: Path, manifest: str | None = None, modules: bool = True) -> Path:
    folder = tmp / "model[v2]"
    folder.mkdir()
    if modules:
        (folder / "modules.json").write_text("[]")
    if manifest is not None:
        (folder / "leafbench.json").write_text(manifest)
    return folder


def _local_mteb(tmp: Path, rel: str, content: bytes, more: dict[str, bytes] | None = None) -> Path:
    root = tmp / "data"
    for r, c in {rel: content, **(more or {})}.items():
        (root / "mteb" / r).parent.mkdir(parents=True, exist_ok=True)
        (root / "mteb" / r).write_bytes(content if r == rel else c)
    return root / "mteb" / rel


def _sts_rows(n: int) -> bytes:
    return b"".join(
        json.dumps({"sentence1": f"a {i}", "sentence2": f"b {i}", "score": 1.0}).encode() + b"\n" for i in range(n)
    )


def _args(tmp: Path, model: str = "minilm-l6", tasks: str | None = None, *extra: str) -> list[str]:
    return ["--model", model, *(["--tasks", tasks] if tasks else []), "--output", str(tmp / "out"), *extra]


def _corrupt_run_json(tmp: Path) -> list[str]:
    folder = _beir(tmp / "data" / "mine")
    (tmp / "out" / "minilm-l6").mkdir(parents=True)
    (tmp / "out" / "minilm-l6" / "run.json").write_text('{"tasks": [\n')
    return _args(tmp, "minilm-l6", str(folder))


QRELS = "qrels/test.tsv"
CASES = [
    # Output and cache folders: checked before any model, data or encoding.
    Case(
        "output-is-a-file",
        lambda t: _args(t, "minilm-l6", "SciFact")[:-2] + ["--output", str(_touch(t, "f"))],
        lambda t: f"error: --output {t / 'f'}: is a file, not a folder",
    ),
    Case(
        "output-under-a-file",
        lambda t: _args(t, "minilm-l6", "SciFact")[:-2] + ["--output", str(_touch(t, "f") / "x")],
        lambda t: f"{t / 'f'} is a file, not a folder",
    ),
    Case(
        "output-not-writable",
        lambda t: _args(t, "minilm-l6", "SciFact")[:-2] + ["--output", "/sys/leafbench-out"],
        lambda t: "error: --output /sys/leafbench-out: cannot write in /sys (Permission denied)",
    ),
    Case(
        "cache-dir-is-a-file",
        lambda t: _args(t, "minilm-l6", "SciFact", "--cache-dir", str(_touch(t, "c"))),
        lambda t: f"error: --cache-dir {t / 'c'}: is a file, not a folder",
    ),
    Case(
        "corrupt-run-json",
        _corrupt_run_json,
        lambda t: f"error: {t / 'out' / 'minilm-l6' / 'run.json'}:2: invalid run manifest JSON (Expecting value)",
    ),
    # Models.
    Case(
        "model-manifest-bad-json",
        lambda t: _args(t, str(_model_folder(t, "{oops")), "SciFact"),
        lambda t: f"error: {t / 'model[v2]' / 'leafbench.json'}:1: invalid JSON",
    ),
    Case(
        "model-folder-without-model",
        lambda t: _args(t, str(_model_folder(t, modules=False)), "SciFact"),
        lambda t: f"{t / 'model[v2]'}: not a model folder (no modules.json or config.json)",
    ),
    Case(
        "model-is-a-file",
        lambda t: _args(t, str(_touch(t, "weights.bin")), "SciFact"),
        lambda t: "a model must be a folder, not a file",
    ),
    Case("model-unknown", lambda t: _args(t, "no-such-model", "SciFact"), lambda t: "unknown model 'no-such-model'"),
    Case(
        "hub-model-not-loadable-offline",
        lambda t: _args(t, "someorg/no-model", str(_beir(t / "data" / "mine"))),
        lambda t: "error: could not load model someorg/no-model: OSError: ",
    ),
    # BEIR folders: file:line for every damaged line.
    Case(
        "corpus-bad-bytes",
        _run_beir(_append("corpus.jsonl", b'{"_id": "x", "text": "\xff"}\n')),
        lambda t: f"{t / 'data/mine/corpus.jsonl'}:4: not valid UTF-8 (invalid start byte at byte 22)",
    ),
    Case(
        "corpus-bad-json",
        _run_beir(_append("corpus.jsonl", b'{"_id": "x", "text": }\n')),
        lambda t: f"{t / 'data/mine/corpus.jsonl'}:4: invalid JSON (Expecting value at column 22)",
    ),
    Case(
        "corpus-duplicate-id",
        _run_beir(_append("corpus.jsonl", b'{"_id": "d0", "text": "again"}\n')),
        lambda t: f"{t / 'data/mine/corpus.jsonl'}:4: duplicate _id 'd0' (first seen at line 1)",
    ),
    Case(
        "corpus-missing-text",
        _run_beir(_append("corpus.jsonl", b'{"_id": "x"}\n')),
        lambda t: f"{t / 'data/mine/corpus.jsonl'}:4: missing field 'text'",
    ),
    Case(
        "corpus-unpaired-surrogate",
        _run_beir(_append("corpus.jsonl", b'{"_id": "x", "text": "a\\ud800"}\n')),
        lambda t: f"{t / 'data/mine/corpus.jsonl'}:4: field 'text' holds an unpaired surrogate",
    ),
    Case(
        "queries-file-missing",
        _run_beir(lambda f: (f / "queries.jsonl").unlink()),
        lambda t: f"{t / 'data/mine'}: not a BEIR folder: missing queries.jsonl",
    ),
    Case(
        "qrels-no-header",
        _run_beir(_write(QRELS, b"q1\td0\t1\n")),
        lambda t: f"{t / 'data/mine' / QRELS}:1: missing header line",
    ),
    Case(
        "qrels-score-not-integer",
        _run_beir(_write(QRELS, b"query-id\tcorpus-id\tscore\nq1\td0\thigh\n")),
        lambda t: f"{t / 'data/mine' / QRELS}:2: score 'high' is not an integer",
    ),
    Case(
        "qrels-bad-bytes",
        _run_beir(_write(QRELS, b"query-id\tcorpus-id\tscore\nq1\td\xe90\t1\n")),
        lambda t: f"{t / 'data/mine' / QRELS}:2: not valid UTF-8",
    ),
    Case(
        "qrels-trec-format",
        _run_beir(_write(QRELS, b"query-id\tcorpus-id\tscore\nq1 0 d0 1\n")),
        lambda t: "TREC format 'qid 0 docid score'?",
    ),
    Case(
        "qrels-split-missing",
        _run_beir(lambda f: None, "--split", "dev"),
        lambda t: f"{t / 'data/mine/qrels/dev.tsv'}: missing qrels for split 'dev' (available splits: test)",
    ),
    Case(
        "qrels-all-unknown-docs",
        _run_beir(_write(QRELS, b"query-id\tcorpus-id\tscore\nq1\tzz\t1\n")),
        lambda t: f"{t / 'data/mine' / QRELS}: no queries left: none of the 1 qrels rows is usable",
    ),
    # --strict: data warnings are errors (without it they are printed once and recorded, see below).
    Case(
        "strict-qrels-unknown-doc",
        _run_beir(_append(QRELS, b"q1\tgone\t1\n"), "--strict"),
        lambda t: f"{t / 'data/mine' / QRELS}:3: 1 qrels rows naming unknown document ids (e.g. 'gone'); strict mode",
    ),
    Case(
        "strict-qrels-unknown-query",
        _run_beir(_append(QRELS, b"q9\td1\t1\n"), "--strict"),
        lambda t: f"{t / 'data/mine' / QRELS}:3: 1 qrels rows naming unknown query ids (e.g. 'q9')",
    ),
    Case(
        "strict-empty-query",
        _run_beir(_write("queries.jsonl", b'{"_id": "q1", "text": " "}\n'), "--strict"),
        lambda t: f"{t / 'data/mine/queries.jsonl'}:1: 1 queries with an empty text (e.g. 'q1')",
    ),
    Case(
        "strict-empty-document",
        _run_beir(_append("corpus.jsonl", b'{"_id": "e", "title": "", "text": ""}\n'), "--strict"),
        lambda t: f"{t / 'data/mine/corpus.jsonl'}:4: 1 documents with an empty text (e.g. 'e')",
    ),
    # Local MTEB files (STS / classification).
    Case(
        "sts-bad-bytes",
        lambda t: _args(
            t,
            "minilm-l6",
            "STS12",
            "--data-dir",
            str(_local_mteb(t, "sts/STS12/test.jsonl", _sts_rows(1) + b'{"sentence1": "\xff"}\n').parents[3]),
        ),
        lambda t: f"{t / 'data/mteb/sts/STS12/test.jsonl'}:2: not valid UTF-8",
    ),
    Case(
        "sts-bad-json",
        lambda t: _args(
            t,
            "minilm-l6",
            "STS12",
            "--data-dir",
            str(_local_mteb(t, "sts/STS12/test.jsonl", _sts_rows(1) + b'{"sentence1": "a",\n').parents[3]),
        ),
        lambda t: f"{t / 'data/mteb/sts/STS12/test.jsonl'}:2: invalid JSON",
    ),
    Case(
        "sts-score-not-a-number",
        lambda t: _args(
            t,
            "minilm-l6",
            "STS12",
            "--data-dir",
            str(
                _local_mteb(
                    t, "sts/STS12/test.jsonl", _sts_rows(1) + b'{"sentence1": "a", "sentence2": "b", "score": "5"}\n'
                ).parents[3]
            ),
        ),
        lambda t: f"{t / 'data/mteb/sts/STS12/test.jsonl'}:2: field 'score' must be a finite number, got '5'",
    ),
    Case(
        "sts-truncated-copy",
        lambda t: _args(
            t, "minilm-l6", "STS12", "--data-dir", str(_local_mteb(t, "sts/STS12/test.jsonl", _sts_rows(3)).parents[3])
        ),
        lambda t: f"{t / 'data/mteb/sts/STS12/test.jsonl'}: 3 rows, expected 3108 (mteb's default/test size)",
    ),
    Case(
        "classification-bad-label",
        lambda t: _args(
            t,
            "minilm-l6",
            "ImdbClassification",
            "--data-dir",
            str(
                _local_mteb(
                    t,
                    "classification/Imdb/train.jsonl",
                    b'{"text": "ok", "label": "pos"}\n',
                    {"classification/Imdb/test.jsonl": b'{"text": "ok", "label": 1}\n'},
                ).parents[3]
            ),
        ),
        lambda t: (
            f"{t / 'data/mteb/classification/Imdb/train.jsonl'}:1: field 'label' must be an integer class id, got 'pos'"
        ),
    ),
    # Tasks, data folders, options checked before any work.
    Case(
        "data-dir-missing",
        lambda t: _args(t, "minilm-l6", "SciFact", "--data-dir", str(t / "nowhere")),
        lambda t: f"{t / 'nowhere'}: data dir does not exist",
    ),
    Case(
        "nothing-evaluated-offline",
        lambda t: ["--model", "leaf-ir", "--mode", "asymmetric", "--output", str(t / "out")],
        lambda t: (
            "error: no task evaluated: none of the 15 selected tasks (default for this model: BEIR) has data "
            "here (HF_HUB_OFFLINE=1, and no --data-dir given); pass --data-dir"
        ),
    ),
    Case("unknown-task", lambda t: _args(t, "minilm-l6", "SciFakt"), lambda t: "unknown task 'SciFakt'"),
    Case(
        "unknown-mode",
        lambda t: _args(t, "minilm-l6", "SciFact", "--mode", "both"),
        lambda t: "error: unknown mode 'both': choose from student, teacher, asymmetric, all",
    ),
    Case(
        "asymmetric-without-teacher",
        lambda t: _args(t, "minilm-l6", "SciFact", "--mode", "asymmetric"),
        lambda t: "mode asymmetric needs a teacher",
    ),
    Case(
        "dims-larger-than-model",
        lambda t: _args(t, "minilm-l6", "SciFact", "--dims", "512"),
        lambda t: "--dims 512 is larger than minilm-l6's embedding dim 384",
    ),
    Case(
        "calibration-fixed-without-ranges",
        lambda t: _args(t, "minilm-l6", "SciFact", "--dtypes", "int8", "--calibration", "fixed"),
        lambda t: "--calibration fixed needs --ranges-file",
    ),
    Case(
        "precision-unknown",
        lambda t: _args(t, "minilm-l6", str(_beir(t / "data" / "mine")), "--precision", "fp8"),
        lambda t: "precision must be one of ['bf16', 'fp16', 'fp32'], not 'fp8'",
    ),
    Case("backend-unknown", lambda t: _args(t, "minilm-l6", "SciFact", "--backend", "tpu"), lambda t: "tpu"),
    Case(
        "device-unknown",
        lambda t: _args(t, "minilm-l6", str(_beir(t / "data" / "mine")), "--device", "gpu7"),
        lambda t: "error: --device 'gpu7': not a device torch knows (Invalid device string: 'gpu7')",
    ),
    Case(
        "max-seq-length-beyond-position-embeddings",
        lambda t: _args(t, "minilm-l6", str(_beir(t / "data" / "mine")), "--max-seq-length", "100000"),
        lambda t: "error: --max-seq-length 100000 is beyond minilm-l6's limit of 512 tokens (its position embeddings)",
    ),
    Case(
        "teacher-max-seq-length-beyond-position-embeddings",
        lambda t: _args(
            t,
            "hash-64",
            str(_beir(t / "data" / "mine")),
            "--teacher",
            "minilm-l6",
            "--mode",
            "teacher",
            "--teacher-max-seq-length",
            "513",
        ),
        lambda t: "error: --teacher-max-seq-length 513 is beyond minilm-l6's limit of 512 tokens",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_run_bad_input_row(offline: Path, case: Case) -> None:
    if case.id == "output-not-writable" and not Path("/sys").is_dir():
        pytest.skip("needs a /sys that refuses writes (Linux)")
    args = case.setup(offline)
    res = runner.invoke(app, ["run", *args])
    assert res.exit_code == case.code, res.output
    line = _one_error_line(res)
    assert case.expect(offline) in line, line
    _no_number(offline, res)


def test_device_this_machine_lacks_is_refused_before_encoding(offline: Path, monkeypatch) -> None:
    """--device cuda without CUDA, mps off Apple silicon, cuda:1 with one GPU: one line naming the option, exit 2,
    nothing loaded or encoded (torch itself decides what the machine has)."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    folder = str(_beir(offline / "data" / "mine"))
    for device, expect in (
        ("cuda", "error: --device cuda: this machine has no cuda device torch can use; e.g. --device cpu"),
        ("mps", "error: --device mps: this machine has no mps device torch can use"),
    ):
        res = runner.invoke(app, ["run", *_args(offline, "minilm-l6", folder, "--device", device)])
        assert res.exit_code == 2 and expect in _one_error_line(res), res.output
        _no_number(offline, res)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    res = runner.invoke(app, ["run", *_args(offline, "minilm-l6", folder, "--device", "cuda:1")])
    assert res.exit_code == 2, res.output
    assert "error: --device cuda:1: this machine has 1 cuda device(s) (0 to 0)" in _one_error_line(res)
    _no_number(offline, res)


def test_model_load_error_is_one_line_with_the_offline_hint(offline: Path) -> None:
    res = runner.invoke(app, ["run", *_args(offline, "someorg/no-model", str(_beir(offline / "data" / "mine")))])
    assert res.exit_code == 2
    assert "HF_HUB_OFFLINE=1 is set, so only local folders, offline aliases" in _one_error_line(res)
    assert "warning: someorg/no-model: no commit known" in _out(res)  # recorded as unpinned, and said so


def test_file_line_and_brackets_print_verbatim(offline: Path) -> None:
    """`corpus.jsonl:100:` is not an emoji and `[v2]` is not markup: messages show user data as it is."""
    folder = _beir(offline / "corpus[v2]", n_docs=99, bad_line=json.dumps({"_id": "x", "text": 5}))
    res = runner.invoke(app, ["run", "--model", "minilm-l6", "--tasks", str(folder), "--output", str(offline / "out")])
    assert res.exit_code == 2
    assert f"error: {folder}/corpus.jsonl:100: field 'text' must be a string, got int" in _out(res)
    _no_number(offline, res)


# --------------------------------------------------------------------------- unexpected errors


def test_unexpected_error_is_one_line_and_a_hint_traceback_only_with_debug(offline: Path, monkeypatch) -> None:
    import leafbench.tasks

    def boom(*a, **k):  # noqa: ANN002, ANN003
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(leafbench.tasks, "select_tasks", boom)
    args = ["run", *_args(offline, "minilm-l6", "SciFact")]
    res = runner.invoke(app, args)
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert res.output.splitlines()[0] == "error: unexpected RuntimeError: boom"
    assert "rerun with --debug (or LEAFBENCH_DEBUG=1) for the full traceback" in _out(res)
    for debug in (["--debug", *args], [*args, "--debug"]):
        res = runner.invoke(app, debug)
        assert res.exit_code == 1 and "Traceback" in res.output and "second line" in res.output
    monkeypatch.setenv("LEAFBENCH_DEBUG", "1")
    assert "Traceback" in runner.invoke(app, args).output


# --------------------------------------------------------------------------- report / check / baseline / distill


def _result(path: Path, score: float = 0.5) -> None:
    from leafbench.record import build_result, write_result

    write_result(
        path,
        build_result(
            "SciFact", "test", {"ndcg_at_10": score, "main_score": score}, 1.0, {"mode": "student", "split": "test"}
        ),
    )


def test_truncated_result_fails_report_and_check_naming_it(offline: Path) -> None:
    results = offline / "results"
    _result(results / "m" / "student" / "SciFact.json")
    assert runner.invoke(app, ["baseline", str(results), "--output", str(offline / "b.json")]).exit_code == 0
    bad = results / "m" / "student" / "SciFact.json"
    bad.write_text(bad.read_text()[:200])
    for args in (
        ["report", str(results), "--output", str(offline / "rep"), "--no-figures"],
        ["check", str(results), "--baseline", str(offline / "b.json")],
        ["check", str(results), "--baseline", str(offline / "b.json"), "--allow-missing"],
    ):
        res = runner.invoke(app, args)
        assert res.exit_code == 2, (args, res.output)
        assert f"{bad}:" in _out(res) and "invalid result JSON" in _out(res)
        assert "0.5" not in res.output  # the damaged score is neither shown nor compared


def test_zero_cells_compared_is_never_ok(offline: Path) -> None:
    _result(offline / "a" / "m" / "student" / "SciFact.json")
    _result(offline / "b" / "other" / "student" / "SciFact.json")
    assert runner.invoke(app, ["baseline", str(offline / "a"), "--output", str(offline / "b.json")]).exit_code == 0
    res = runner.invoke(app, ["check", str(offline / "b"), "--baseline", str(offline / "b.json"), "--allow-missing"])
    assert res.exit_code == 2 and "0 cells compared" in _out(res)
    assert "no baseline cell has a current result" in _out(res)


def test_corrupt_baseline_is_named(offline: Path) -> None:
    _result(offline / "r" / "m" / "student" / "SciFact.json")
    (offline / "b.json").write_text('{"entries": [\n')
    res = runner.invoke(app, ["check", str(offline / "r"), "--baseline", str(offline / "b.json")])
    assert res.exit_code == 2 and f"error: {offline / 'b.json'}:2: invalid baseline JSON" in _one_error_line(res)


def test_report_out_is_a_file(offline: Path) -> None:
    _result(offline / "r" / "m" / "student" / "SciFact.json")
    res = runner.invoke(app, ["report", str(offline / "r"), "--output", str(_touch(offline, "rep")), "--no-figures"])
    assert res.exit_code == 2 and f"error: --output {offline / 'rep'}: is a file, not a folder" in _one_error_line(res)


def test_baseline_out_is_a_folder(offline: Path) -> None:
    _result(offline / "r" / "m" / "student" / "SciFact.json")
    (offline / "b").mkdir()
    res = runner.invoke(app, ["baseline", str(offline / "r"), "--output", str(offline / "b")])
    assert res.exit_code == 2 and f"error: --output {offline / 'b'}: is a folder, not a file" in _one_error_line(res)
    assert not list((offline / "b").iterdir())


def test_distill_held_out_split_larger_than_the_texts_fails_before_labelling(offline: Path) -> None:
    res = runner.invoke(app, ["distill", "--recipe", "mini", "--max-texts", "50", "--output", str(offline / "run")])
    assert res.exit_code == 2
    assert (
        "error: --max-texts 50: recipe mini holds out data.heldout=200 texts for validation, leaving 0 for "
        "training, fewer than one batch of 32; use at least 232 texts"
    ) in _one_error_line(res)
    assert not (offline / "cache").exists() and not (offline / "run").exists()  # nothing labelled, nothing written


def test_distill_unknown_recipe(offline: Path) -> None:
    res = runner.invoke(app, ["distill", "--recipe", "nope[1]", "--output", str(offline / "run")])
    assert res.exit_code == 2 and "error: unknown recipe 'nope[1]'" in _one_error_line(res)


# --------------------------------------------------------------------------- exit 0: warnings are data


def _score(out: Path, slug: str = "minilm-l6", task: str = "mine") -> tuple[float, dict]:
    data = json.loads((out / slug / "student" / f"{task}.json").read_text())
    return data["scores"]["test"][0]["main_score"], data["leafbench"]


def test_data_warnings_are_printed_once_recorded_and_leave_the_score_as_clean(offline: Path) -> None:
    """qrels naming an unknown query (dropped) and an unknown document (a miss, as mteb keeps it): exit 0, one
    warning line each, recorded in the result; the score equals the clean run's (the unknown query is dropped
    and the same miss counted as mteb counts it)."""
    clean = _beir(offline / "clean" / "mine")
    (clean / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td0\t1\nq1\tgone\t1\n")
    res = runner.invoke(app, ["run", "--model", "minilm-l6", "--tasks", str(clean), "--output", str(offline / "a")])
    assert res.exit_code == 0, res.output
    ref, _ = _score(offline / "a")
    warned = _beir(offline / "warned" / "mine")
    (warned / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td0\t1\nq1\tgone\t1\nq9\td1\t1\n")
    res = runner.invoke(app, ["run", "--model", "minilm-l6", "--tasks", str(warned), "--output", str(offline / "b")])
    assert res.exit_code == 0, res.output
    out = _out(res)
    assert out.count("warning: mine: 1 qrels rows naming unknown query ids") == 1
    assert out.count("warning: mine: 1 qrels rows naming unknown document ids") == 1
    assert "strict=True" not in res.output and "UserWarning" not in res.output
    score, lb = _score(offline / "b")
    assert score == ref
    # Named from the task's folder, never by the machine's absolute path.
    assert lb["data_warnings"]["qrels_unknown_queries"]["where"] == "mine/qrels/test.tsv:4"
    assert lb["data_warnings"]["qrels_unknown_documents"]["count"] == 1
    assert _score(offline / "a")[1]["data_warnings"]["qrels_unknown_documents"]["count"] == 1


def test_cut_down_copy_of_a_known_task_is_recorded_as_a_local_copy_never_as_mtebs(offline: Path) -> None:
    """A scifact/ folder of 3 documents and 1 query (by name under --data-dir, or as a path) is scored with one
    warning naming what differs from mteb's SciFact; its result records a subset and its own data fingerprint as
    dataset revision, never mteb's revision, so export-mteb never writes it as SciFact's full result."""
    import mteb

    folder = _beir(offline / "data" / "scifact")
    official = mteb.get_task("SciFact").metadata.revision
    for i, tasks in enumerate(("SciFact", str(folder))):
        out = offline / f"out{i}"
        data_dir = ["--data-dir", str(offline / "data")]
        res = runner.invoke(app, ["run", "--model", "hash-64", "--tasks", tasks, *data_dir, "--output", str(out)])
        assert res.exit_code == 0, res.output
        differ = "queries: 1 (mteb: 300), documents: 3 (mteb: 5183), qrels: 1 (mteb: 339)"
        assert _out(res).count(f"warning: SciFact: {folder} is not mteb's SciFact/test ({differ}): recorded as") == 1
        data = json.loads((out / "hash-64" / "student" / "SciFact.json").read_text())
        assert data["dataset_revision"] == data["leafbench"]["data_fingerprint"] != official
        assert data["leafbench"]["subset"] == {"local_copy": differ}
        exp = runner.invoke(app, ["export-mteb", str(out), "--output", str(offline / "mteb")])
        assert exp.exit_code == 2 and "no full-protocol full-dim float32 result to export" in _out(exp), exp.output


def test_one_document_corpus_is_scored_not_a_crash(offline: Path) -> None:
    """k = 1000 over a corpus of one document is legal (as in mteb): exit 0, the only document ranked first."""
    res = runner.invoke(app, ["run", *_args(offline, "hash-64", str(_beir(offline / "data" / "mine", n_docs=1)))])
    assert res.exit_code == 0, res.output
    score, lb = _score(offline / "out", "hash-64")
    assert score == 1.0 and lb["n_documents"] == 1


def test_task_folder_name_too_long_for_a_file_name_is_shortened_not_a_crash(offline: Path) -> None:
    """A BEIR folder named with 250 characters: the result's file name is shortened (its start, ~, a hash of the
    whole name) instead of failing after all the encoding; the result names the whole task and a rerun finds it."""
    name = "a" * 250
    args = ["run", *_args(offline, "hash-64", str(_beir(offline / "data" / name)))]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    (path,) = (offline / "out" / "hash-64" / "student").glob("*.json")
    assert len(path.name.encode()) <= 200 and json.loads(path.read_text())["task_name"] == name
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "1 already in" in _out(again), again.output


def test_partial_benchmark_exits_0_and_names_what_is_missing(offline: Path) -> None:
    _beir(offline / "data" / "scifact")
    res = runner.invoke(
        app,
        [
            "run",
            "--model",
            "minilm-l6",
            "--tasks",
            "BEIR",
            "--data-dir",
            str(offline / "data"),
            "--output",
            str(offline / "out"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "missing (14 of 15 tasks, no data here)" in _out(res)
    manifest = json.loads((offline / "out" / "minilm-l6" / "run.json").read_text())
    assert manifest["evaluated"] == ["SciFact"] and len(manifest["missing"]) == 14


def test_damaged_file_in_a_benchmark_run_is_an_error_not_missing(offline: Path) -> None:
    folder = _beir(offline / "data" / "scifact")
    with (folder / "corpus.jsonl").open("a") as f:
        f.write("{broken\n")
    res = runner.invoke(
        app,
        [
            "run",
            "--model",
            "minilm-l6",
            "--tasks",
            "BEIR",
            "--data-dir",
            str(offline / "data"),
            "--output",
            str(offline / "out"),
        ],
    )
    assert res.exit_code == 2 and f"{folder / 'corpus.jsonl'}:4: invalid JSON" in _one_error_line(res)
    _no_number(offline, res)
