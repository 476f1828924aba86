"""`leafbench run --store-format shards|lance` and `leafbench cache` on a Lance store, on the deterministic `hash-64`
encoder and a tiny BEIR folder written here: the same scores from both formats, a second run that encodes
nothing, the format marker, and the Ray engine's actors opening the driver's format (Ray faked in-process)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner

pytest.importorskip("lance")

from test_plan import _beir  # noqa: E402  (the tiny BEIR folder of the plan tests)

from leafbench.cli import app  # noqa: E402
from leafbench.store import LANCE_MARKER, EmbeddingStore, detect_format  # noqa: E402
from leafbench.store.lance_store import LanceEmbeddingStore  # noqa: E402

runner = CliRunner()


@pytest.fixture()
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    _beir(tmp_path / "data" / "tiny")
    return tmp_path


def _run(tmp: Path, fmt: str, name: str, *extra: str) -> Any:
    return runner.invoke(
        app,
        [
            "run", "-m", "hash-64", "--tasks", "tiny", "--data-dir", str(tmp / "data"), "--output",
            str(tmp / f"out-{name}"), "--cache-dir", str(tmp / f"cache-{name}"), "--store-format", fmt, *extra,
        ],
    )  # fmt: skip


def _cache(tmp: Path, name: str, *args: str) -> Any:
    return runner.invoke(app, ["cache", *args, "--cache-dir", str(tmp / f"cache-{name}")])


def _scores(tmp: Path, name: str) -> dict:
    return json.loads((tmp / f"out-{name}" / "hash-64" / "student" / "tiny.json").read_text())["scores"]


def test_a_lance_run_encodes_once_and_scores_as_the_shard_store(tiny: Path) -> None:
    first = _run(tiny, "lance", "lance")
    assert first.exit_code == 0, first.output
    assert "encoded 12 texts now" in first.output
    root = tiny / "cache-lance" / "embeddings"
    assert detect_format(root) == "lance" and (root / LANCE_MARKER).read_text().strip() == "3"
    assert list(root.glob("spaces/*/rows.lance")) and not list(root.glob("spaces/*/shards"))
    again = _run(tiny, "lance", "lance", "--force")  # every cell scored again, from the stored rows
    assert again.exit_code == 0, again.output
    assert "encoded 0 texts now, 12 served" in again.output
    auto = _run(tiny, "auto", "lance", "--force")  # the default: the format this cache's store already has
    assert auto.exit_code == 0 and "encoded 0 texts now, 12 served" in auto.output, auto.output
    assert not list(root.glob("spaces/*/shards"))

    shards = _run(tiny, "shards", "shards")
    assert shards.exit_code == 0, shards.output
    assert detect_format(tiny / "cache-shards" / "embeddings") == "shards"
    assert list((tiny / "cache-shards" / "embeddings").glob("spaces/*/shards/*.npy"))
    assert _scores(tiny, "lance") == _scores(tiny, "shards")

    ls = _cache(tiny, "lance", "ls", "--json")
    assert ls.exit_code == 0, ls.output
    spaces = [json.loads(line) for line in ls.stdout.splitlines()]
    assert len(spaces) == 2 and {s["format"] for s in spaces} == {"lance"}
    assert sum(s["rows"] for s in spaces) == 12 and all(s["bytes"] > 0 for s in spaces)
    table = _cache(tiny, "lance", "ls")
    assert table.exit_code == 0 and "lance, detected" in table.stdout and "2 spaces, 12 rows" in table.stdout
    verify = _cache(tiny, "lance", "verify")
    assert verify.exit_code == 0, verify.output
    assert "2 spaces checked, 0 bad" in verify.stdout
    compact = _cache(tiny, "lance", "compact")
    assert compact.exit_code == 0 and "compacted 2 spaces" in compact.stdout, compact.output
    prune = _cache(tiny, "lance", "prune")
    assert prune.exit_code == 0 and "removed 0 spaces" in prune.stdout, prune.output
    assert LanceEmbeddingStore(root).verify() == (2, [])
    nothing = _cache(tiny, "shards", "compact")
    assert nothing.exit_code == 0 and "nothing to compact" in nothing.stdout
    as_shards = _cache(tiny, "lance", "ls", "--store-format", "shards")  # the marker overridden: no shard rows
    assert as_shards.exit_code == 0 and "2 spaces, 0 rows" in as_shards.stdout


def test_a_bad_store_format_fails_while_planning(tiny: Path) -> None:
    res = _run(tiny, "zarr", "bad")
    assert res.exit_code == 2
    assert "--store-format: unknown 'zarr'; choose from auto, lance, shards" in res.output
    assert not (tiny / "cache-bad" / "embeddings").exists()
    assert _cache(tiny, "bad", "ls", "--store-format", "zarr").exit_code == 2


def test_a_newer_lance_store_is_refused_naming_its_root(tiny: Path) -> None:
    root = tiny / "cache-new" / "embeddings"
    root.mkdir(parents=True)
    (root / LANCE_MARKER).write_text("99\n")
    res = _run(tiny, "lance", "new")
    assert res.exit_code == 2
    assert "newer leafbench" in res.output and str(root) in res.output.replace("\n", "")
    assert not (root / "spaces").exists() and not (tiny / "out-new").exists()
    assert _cache(tiny, "new", "ls").exit_code == 2  # detected as lance, refused the same way
    # the shard store never reads the Lance marker (and the Lance store reads the shard store's marker)
    assert EmbeddingStore(root).root == root
    (root / LANCE_MARKER).unlink()
    (root / "FORMAT").write_text("9\n")
    assert _run(tiny, "lance", "new").exit_code == 2


class _FakeDataset:
    """Ray Data's map_batches over an actor pool, in this process: one actor built from the constructor args."""

    seen: list[tuple] = []

    def __init__(self, frames: list) -> None:
        self.frames = frames

    def map_batches(self, actor: type, fn_constructor_args: tuple, **kwargs: Any) -> _FakeDataset:
        self.actor, self.args = actor, fn_constructor_args
        _FakeDataset.seen.append(fn_constructor_args)
        return self

    def iter_batches(self, **kwargs: Any):
        actor = self.actor(*self.args)
        for frame in self.frames:
            yield actor({"text": frame["text"].to_numpy()})


def _fake_ray() -> SimpleNamespace:
    context = SimpleNamespace(enable_progress_bars=True)
    data = SimpleNamespace(
        from_pandas=_FakeDataset,
        ActorPoolStrategy=lambda size: size,
        DataContext=SimpleNamespace(get_current=lambda: context),
    )
    # Ray tasks (retrieval scoring on the workers), run in this process when asked for.
    remote = lambda fn: SimpleNamespace(options=lambda **kw: SimpleNamespace(remote=fn))  # noqa: E731
    return SimpleNamespace(
        data=data,
        is_initialized=lambda: True,
        cluster_resources=lambda: {"CPU": 2.0},
        remote=remote,
        put=lambda x: x,
        get=lambda x: x,
    )


def test_ray_actors_open_the_drivers_store_format(tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import leafbench.engine as engine

    monkeypatch.setattr(engine, "_import_ray", _fake_ray)
    _FakeDataset.seen = []
    res = _run(tiny, "lance", "ray", "--engine", "ray", "--workers", "1")
    assert res.exit_code == 0, res.output
    # the actors' constructor arguments: (model spec, side, store root, store format, options)
    assert _FakeDataset.seen and all(args[3] == "lance" for args in _FakeDataset.seen)
    root = tiny / "cache-ray" / "embeddings"
    assert sum(s["rows"] for s in LanceEmbeddingStore(root).spaces()) == 12  # written by the actors
    assert not list(root.glob("spaces/*/shards"))
    again = _run(tiny, "lance", "ray", "--engine", "ray", "--workers", "1", "--force")
    assert again.exit_code == 0 and "encoded 0 texts now" in again.output
    # scored by Ray tasks that reopened the Lance rows themselves; recorded as such, the scores unchanged
    block = json.loads((tiny / "out-ray" / "hash-64" / "student" / "tiny.json").read_text())["leafbench"]
    assert block["scored_on"] == {"engine": "ray", "workers": 1, "nodes": 1, "tasks": 1, "device": "cpu", "cells": 1}
    assert _run(tiny, "lance", "lance").exit_code == 0
    assert _scores(tiny, "ray") == _scores(tiny, "lance")
