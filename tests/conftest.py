"""Shared pytest fixtures for leafbench."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Fixtures that bring real data or real models: a test using one is an integration test.
INTEGRATION_FIXTURES = {
    "shared_data",
    "scifact_dir",
    "scifact_small",
    "minilm_spec",
    "session_store",
    "env",
    "ray_local",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Two layers: `-m "not integration"` is the fast unit layer (fake encoder, synthetic data, seconds);
    integration tests (real data from ../shared, real models) are marked by their fixtures or explicitly."""
    for item in items:
        if INTEGRATION_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Name the test order even under -q (pytest-random-order says it only in the header), so a failure that
    depends on the order can be replayed with the same seed."""
    config = session.config
    if not config.pluginmanager.hasplugin("random_order"):
        return
    raw = {name: str(config.getoption(f"random_order_{name}")) for name in ("seed", "bucket")}
    if not config.getoption("random_order_enabled") and all(v.startswith("default:") for v in raw.values()):
        return  # the plugin's own rule: shuffled with --random-order or either option given
    seed, bucket = (raw[name].removeprefix("default:") for name in ("seed", "bucket"))
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"test order: --random-order-bucket={bucket} --random-order-seed={seed} replays it")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of the offline benchmark data (``../shared/data`` next to the repo).

    Missing data fails the run on CI (where it must be present) and only skips locally.
    """
    path = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if not path.is_dir():
        reason = f"offline benchmark data not found at {path}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def scifact_dir(shared_data: Path) -> Path:
    return shared_data / "beir" / "scifact"


@pytest.fixture(scope="session")
def scifact_small(scifact_dir: Path):
    """A real SciFact subset small enough for CI: 40 queries, their relevant docs + distractors up to 300."""
    from leafbench.data import load_beir_folder

    return load_beir_folder(scifact_dir, "test", task_name="SciFact").subset(40, 300, seed=0)


@pytest.fixture(scope="session")
def minilm_spec():
    from leafbench.registry import resolve_model

    return resolve_model("minilm-l6")


@pytest.fixture(scope="session")
def session_store(tmp_path_factory: pytest.TempPathFactory):
    """One store for the session so tests that need the same real encodings pay for them once: a shard store,
    marked as one so that runs on a cache linking it (`env`) detect its format rather than start a Lance store."""
    from leafbench.store import STORE_FORMAT, EmbeddingStore

    root = tmp_path_factory.mktemp("store")
    (root / "FORMAT").write_text(f"{STORE_FORMAT}\n")
    return EmbeddingStore(root)


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, session_store) -> dict[str, Path]:
    """Offline CLI runs with a fresh cache folder whose embedding store is the session's (the cache key, not
    the folder, decides reuse), and a results folder under tmp_path."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("LEAFBENCH_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "embeddings").symlink_to(session_store.root)
    return {"out": tmp_path / "results"}


@pytest.fixture(scope="session")
def mteb_scifact_task(scifact_small, scifact_dir: Path):
    """Factory: a fresh mteb SciFact task object holding exactly `scifact_small`, with the raw title/text
    columns from corpus.jsonl, so mteb builds document texts itself (the reference side of parity tests)."""
    from parity_tasks import scifact_task

    return scifact_task(scifact_small, scifact_dir)


@pytest.fixture(scope="session")
def mteb_reference():
    """mteb.evaluate's main score for a task object with the plain SentenceTransformer: the reference side of the
    non-retrieval parity tests."""
    from parity_tasks import mteb_main_score

    return mteb_main_score
