"""The embedding store through the CLI when the store or the machine is hostile: a manifest that is JSON but not an
object, a shard missing a file, a cache folder that is not there, a full disk, no file descriptor left. Each is
one plain line naming the file (exit 2), or - for a damaged shard - a named warning and the rows encoded again
(the score equals a clean run's); never "unexpected", never a wrong number with exit 0, and nothing moved or
deleted that was not damaged."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from leafbench.cli import app

runner = CliRunner()


def _out(res) -> str:
    return " ".join(res.output.split())


def _one_error_line(res) -> str:
    lines = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in res.output and "unexpected" not in res.output, res.output
    return _out(res)


@pytest.fixture()
def tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("LEAFBENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("LEAFBENCH_DEBUG", raising=False)
    folder = tmp_path / "data" / "mine"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": f"d{i}", "text": f"doc {i}"}) + "\n" for i in range(5))
    )
    (folder / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "doc 3"}) + "\n")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td3\t1\n")
    return tmp_path


def _run(tmp: Path, out: str = "out"):
    """A run on the shard store, the format whose shard files these tests damage."""
    return runner.invoke(
        app,
        ["run", "--model", "hash-64", "--tasks", str(tmp / "data" / "mine"), "--output", str(tmp / out)]
        + ["--store-format", "shards"],
    )


def _score(tmp: Path, out: str = "out") -> float:
    data = json.loads((tmp / out / "hash-64" / "student" / "mine.json").read_text())
    return data["scores"]["test"][0]["main_score"]


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _results(tmp: Path, out: str = "out") -> list[Path]:
    return [p for p in (tmp / out).rglob("*.json") if p.name != "run.json"] if (tmp / out).exists() else []


@pytest.mark.parametrize("manifest", ["[]", "3", '"x"'])
def test_a_manifest_that_is_json_but_not_an_object(tmp: Path, manifest: str) -> None:
    """Like an unparseable manifest: `ls` lists it, `verify` names it (exit 1), `run` names it and encodes its
    texts again (same score), `prune` works; nothing is "unexpected"."""
    assert _run(tmp, "clean").exit_code == 0
    mpath = sorted((tmp / "cache" / "embeddings").rglob("shards/*.json"))[0]
    mpath.write_text(manifest)
    (mpath.parents[1] / "space.json").write_text(manifest)
    res = runner.invoke(app, ["cache", "ls"])
    assert res.exit_code == 0 and "2 spaces" in _out(res), res.output
    damaged = _files(tmp / "cache")
    res = _run(tmp)
    assert res.exit_code == 0 and f"{mpath.name} is a JSON" in _out(res), res.output
    assert _score(tmp) == _score(tmp, "clean")
    assert (mpath.parents[1] / "quarantine" / mpath.name).read_text() == manifest
    assert all(k in _files(tmp / "cache") or "shards" in k for k in damaged)
    mpath.write_text(manifest)  # damaged again, for verify to find
    res = runner.invoke(app, ["cache", "verify"])
    assert res.exit_code == 1 and f"{mpath.name} is a JSON" in _out(res) and "1 bad" in _out(res), res.output
    res = runner.invoke(app, ["cache", "prune"])
    assert res.exit_code == 0 and "removed 0 spaces" in _out(res), res.output


def test_verify_of_a_cache_folder_that_does_not_exist_is_exit_2(tmp: Path) -> None:
    res = runner.invoke(app, ["cache", "verify", "--cache-dir", str(tmp / "typo")])
    assert res.exit_code == 2, res.output
    assert f"error: {tmp / 'typo' / 'embeddings'}: no embedding store here" in _one_error_line(res)
    assert not (tmp / "typo").exists()


def test_a_shard_without_its_keys_fails_verify_and_is_encoded_again(tmp: Path) -> None:
    assert _run(tmp, "clean").exit_code == 0
    keys = sorted((tmp / "cache" / "embeddings").rglob("shards/*.keys"))[0]
    rows = json.loads(keys.with_suffix(".json").read_text())["rows"]
    keys.unlink()
    res = runner.invoke(app, ["cache", "verify"])
    assert res.exit_code == 1 and f"{keys.name} is missing" in _out(res) and "1 shards OK, 1 bad" in _out(res)
    assert (keys.parents[1] / "quarantine" / keys.with_suffix(".npy").name).exists()  # moved aside, not deleted
    res = _run(tmp)
    assert res.exit_code == 0 and f"encoded {rows} texts now" in _out(res), res.output
    assert _score(tmp) == _score(tmp, "clean")


def test_disk_full_in_the_store_is_one_line_naming_the_file(tmp: Path, monkeypatch) -> None:
    import leafbench.files

    def fsync(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")  # as the OS raises it: no file name

    monkeypatch.setattr(leafbench.files.os, "fsync", fsync)
    res = _run(tmp)
    assert res.exit_code == 2, res.output
    line = _one_error_line(res)
    assert f"error: no space left on device: {tmp / 'cache' / 'embeddings'}/" in line, line
    assert not _results(tmp) and not list((tmp / "cache").rglob("*.json")) and not list((tmp / "cache").rglob(".*"))


@pytest.mark.parametrize(
    ("code", "cause"), [(errno.ENOSPC, "no space left on device"), (errno.EDQUOT, "disk quota exceeded")]
)
def test_disk_full_writing_a_result_is_one_line_naming_it(tmp: Path, monkeypatch, code: int, cause: str) -> None:
    import leafbench.files

    real = leafbench.files.mkstemp

    def mkstemp(path: Path, suffix: str = ".tmp"):  # noqa: ANN202 - only the results folder is full
        if tmp / "out" in path.parents:
            raise OSError(code, "full", str(path.parent / ".mine.json.x.tmp"))  # mkstemp names its temp file
        return real(path, suffix)

    monkeypatch.setattr(leafbench.files, "mkstemp", mkstemp)
    res = _run(tmp)
    assert res.exit_code == 2, res.output
    assert f"error: {cause}: {tmp / 'out' / 'hash-64' / 'student' / 'mine.json'}" in _one_error_line(res)
    assert not _results(tmp)


def test_too_many_open_files_is_exit_2_and_moves_nothing(tmp: Path, monkeypatch) -> None:
    assert _run(tmp, "clean").exit_code == 0
    before = _files(tmp / "cache")

    def open_memmap(*a, **k):  # noqa: ANN002, ANN003, ANN202
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(np.lib.format, "open_memmap", open_memmap)
    for args in (
        ["cache", "verify"],
        ["run", "--model", "hash-64", "--tasks", str(tmp / "data" / "mine"), "--output", str(tmp / "out"), "--force"],
    ):
        res = runner.invoke(app, args)
        assert res.exit_code == 2, res.output
        line = _one_error_line(res)
        assert (
            "error: too many open files: " in line and ".npy (the limit is" in line and "open files per process" in line
        )
        assert _files(tmp / "cache") == before
    assert not _results(tmp)
