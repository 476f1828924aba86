"""Files leafbench writes get the mode the process umask gives, not mkstemp's 0600."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from leafbench.files import OutputPathError, atomic_write, check_writable_dir, current_umask


@pytest.fixture()
def umask_027():
    old = os.umask(0o027)
    yield
    os.umask(old)


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_current_umask_reads_without_changing(umask_027) -> None:
    assert current_umask() == 0o027
    assert current_umask() == 0o027


def test_results_and_manifests_follow_the_umask(tmp_path: Path, umask_027) -> None:
    from leafbench.record import build_result, write_result

    path = tmp_path / "r" / "m" / "student" / "SciFact.json"
    write_result(path, build_result("SciFact", "test", {"main_score": 0.5}, 1.0, {"mode": "student"}))
    assert _mode(path) == 0o640
    os.umask(0o022)
    write_result(path, {"x": 1})
    assert _mode(path) == 0o644
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp file left


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    atomic_write(path, "old")

    class Boom(str):
        def encode(self, *a, **k):  # noqa: ANN002, ANN003
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        atomic_write(path, Boom("new"))
    assert path.read_text() == "old" and len(list(tmp_path.iterdir())) == 1


def test_checkpoints_follow_the_umask(tmp_path: Path, umask_027) -> None:
    from leafbench_distill.train import _atomic_torch_save

    _atomic_torch_save({"a": 1}, tmp_path / "last.pt")
    assert _mode(tmp_path / "last.pt") == 0o640


@pytest.mark.parametrize("given", ["s3://bucket/x", Path("s3://bucket/x"), "gs://b/c", "az://container"])
def test_a_url_is_refused_where_a_local_folder_is_needed(given, tmp_path: Path, monkeypatch) -> None:
    """typer hands `--cache-dir s3://bucket/x` over as Path('s3:/bucket/x'): without this check the embeddings
    would go to a local folder named `s3:`."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OutputPathError, match=r"--cache-dir \w+://.*: is a URL"):
        check_writable_dir(given, "--cache-dir")
    assert not any(tmp_path.iterdir())
