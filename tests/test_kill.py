"""kill -9 of `leafbench run` at several points (encoding, scoring, writing results), then a rerun: the rerun's
score equals a clean run's every time, and no result file is ever left half-written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration  # real SciFact data, killed subprocesses: minutes

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
ARGS = [
    "run",
    "--model",
    "hash-256-1ms",
    "--tasks",
    "SciFact",
    "--data-dir",
    str(DATA),
    "--max-queries",
    "200",
    "--max-docs",
    "3000",
    "--dims",
    "full,64",
    "--dtypes",
    "float32,int8,binary",
]
RESULT = Path("hash-256-1ms__200q-3000d") / "student" / "SciFact.json"


def _cmd(out: Path, cache: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "leafbench.cli",
        *ARGS,
        "--output",
        str(out),
        "--cache-dir",
        str(cache),
        "--shard-size",
        "256",
        "--store-format",
        "shards",  # the points below watch shard files appear
    ]


def _scores(out: Path) -> dict[str, float]:
    return {
        p.name: json.loads(p.read_text())["scores"]["test"][0]["main_score"]
        for p in sorted((out / RESULT.parent).glob("*.json"))
    }


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> dict[str, float]:
    if not (DATA / "beir" / "scifact").exists():
        pytest.skip("needs ../shared/data")
    tmp = tmp_path_factory.mktemp("clean")
    subprocess.run(
        _cmd(tmp / "out", tmp / "cache"), check=True, capture_output=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}
    )
    scores = _scores(tmp / "out")
    assert len(scores) == 6
    return scores


def _first_shard(out: Path, cache: Path) -> bool:
    return any((cache / "embeddings").rglob("*.json")) if (cache / "embeddings").exists() else False


def _all_encoded(out: Path, cache: Path) -> bool:
    """Documents and queries both in the store: the run is scoring (or writing) now."""
    return (
        len(list((cache / "embeddings" / "spaces").glob("*/shards"))) >= 2
        if (cache / "embeddings" / "spaces").exists()
        else False
    )


def _some_results(out: Path, cache: Path) -> bool:
    return (out / RESULT.parent).exists() and any((out / RESULT.parent).glob("*.json"))


@pytest.mark.parametrize("point", [_first_shard, _all_encoded, _some_results], ids=["encoding", "scoring", "writing"])
def test_kill_9_then_rerun_gives_the_clean_score(tmp_path: Path, clean: dict[str, float], point) -> None:
    out, cache = tmp_path / "out", tmp_path / "cache"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(_cmd(out, cache), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 180
    while proc.poll() is None and time.monotonic() < deadline and not point(out, cache):
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    for p in (out / RESULT.parent).glob("*.json") if (out / RESULT.parent).exists() else []:
        json.loads(p.read_text())  # whole files only: results are written atomically
    rerun = subprocess.run(_cmd(out, cache), capture_output=True, text=True, env=env)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert _scores(out) == clean
