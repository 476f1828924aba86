"""Encoding engines: the Ray Data engine fills the same store as the local one, survives a killed worker,
and every misuse is one clear error before any work."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from leafbench.encode import Encoder
from leafbench.engine import EngineError, make_engine
from leafbench.fake import hash_vectors
from leafbench.registry import resolve_model
from leafbench.store import EmbeddingStore

TEXTS = [f"document {i} " * (i % 7 + 1) for i in range(1500)]


def test_fake_encoder_is_deterministic_and_independent_of_batching() -> None:
    a = hash_vectors(TEXTS[:10], 768)
    b = np.concatenate([hash_vectors(TEXTS[:3], 768), hash_vectors(TEXTS[3:10], 768)])
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-6)
    assert abs(float(a[0] @ a[1])) < 0.2  # unrelated texts: near-orthogonal
    spec = resolve_model("hash-768-2ms")
    assert spec.extra["ms_per_text"] == 2.0 and spec.identity() == resolve_model("hash-768").identity()


def test_engine_misuse_is_one_clear_error() -> None:
    with pytest.raises(EngineError, match="unknown engine 'spark'"):
        make_engine("spark")
    with pytest.raises(EngineError, match="apply to --engine ray only"):
        make_engine("local", workers=2)
    assert make_engine("local") is None
    pytest.importorskip("ray")
    t0 = time.monotonic()
    with pytest.raises(EngineError, match="cannot reach a Ray cluster"):
        make_engine("ray", address="127.0.0.1:1")
    assert time.monotonic() - t0 < 10
    with pytest.raises(EngineError, match="expected host:port"):
        make_engine("ray", address="nonsense")


def test_cli_engine_and_store_errors_are_one_line_exit_2(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from leafbench.cli import app

    base = ["run", "--model", "hash-64", "--tasks", str(tmp_path / "nowhere"), "--output", str(tmp_path / "o")]
    res = CliRunner().invoke(app, [*base, "--engine", "spark", "--cache-dir", str(tmp_path / "c")])
    assert res.exit_code == 2 and "unknown engine 'spark'" in res.output
    (tmp_path / "new" / "embeddings").mkdir(parents=True)
    (tmp_path / "new" / "embeddings" / "FORMAT").write_text("99\n")
    res = CliRunner().invoke(app, [*base, "--cache-dir", str(tmp_path / "new")])
    assert res.exit_code == 2 and "written by a newer leafbench (format 99" in res.output
    assert not (tmp_path / "o").exists()


def test_ray_missing_names_the_extra(monkeypatch) -> None:
    import builtins

    real = builtins.__import__

    def no_ray(name, *a, **k):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'", name="ray")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(EngineError, match=r'pip install "leafbench\[ray\]"'):
        make_engine("ray")


@pytest.fixture()
def ray_local():
    """A fresh local Ray cluster per test, started here in the main thread and shut down after it. Started by the
    engine inside a test's worker thread instead, the cluster died with that thread (Ray's PR_SET_PDEATHSIG) and
    Ray ended the whole test process 60 s later, whichever test was running then."""
    ray = pytest.importorskip("ray")
    ray.shutdown()
    ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def test_starting_ray_off_the_main_thread_is_warned_about(monkeypatch, caplog) -> None:
    """Its cluster would die with the thread: the engine says so (checked with a stand-in for ray)."""
    import leafbench.engine as engine

    class FakeRay:
        initialized = False

        def is_initialized(self) -> bool:
            return self.initialized

        def init(self, **kwargs) -> None:
            self.initialized = True

        class data:  # noqa: N801 - mirrors ray.data.DataContext
            class DataContext:
                @staticmethod
                def get_current():
                    return type("Ctx", (), {})()

    monkeypatch.setattr(engine, "_import_ray", lambda: FakeRay())
    with caplog.at_level("WARNING", logger="leafbench.engine"):
        engine.RayEngine()._init()
        assert not caplog.records  # main thread: nothing to say
        t = threading.Thread(target=engine.RayEngine()._init)
        t.start()
        t.join()
    assert [r.message for r in caplog.records if "thread other than the main one" in r.message]


@pytest.mark.parametrize("store_format", ["shards", "lance"])
def test_ray_engine_fills_the_store_like_the_local_engine(tmp_path: Path, ray_local, store_format: str) -> None:
    """Ray actors open the driver's store format and commit into it; the rows equal the local engine's."""
    from leafbench.store import open_store

    if store_format == "lance":
        pytest.importorskip("lance")
    spec = resolve_model("hash-64")
    ray_store = open_store(tmp_path / "ray", store_format)
    ray_enc = Encoder(spec, ray_store, engine=make_engine("ray", workers=2))
    seen: list[int] = []
    res = ray_enc.encode(TEXTS, "document", progress=seen.append)
    local = Encoder(spec, EmbeddingStore(tmp_path / "local")).encode(TEXTS, "document")
    np.testing.assert_array_equal(res.embeddings, local.embeddings)
    assert res.stats.n_encoded == len(TEXTS) and sum(seen) == len(TEXTS)
    written = {"shards": "spaces/*/shards/*.npy", "lance": "spaces/*/rows.lance"}
    assert all(bool(list((tmp_path / "ray").glob(g))) == (f == store_format) for f, g in written.items())
    # Actors commit every shard_size rows, not every Ray batch (3 batches of 375 here), and commit what they still
    # buffer as the pool shuts down; a Lance space is compacted after the job: few files, not one per batch.
    if store_format == "lance":
        assert [s["shards"] for s in ray_store.spaces()] == [1]
    else:
        assert len(list((tmp_path / "ray").glob("spaces/*/shards/*.npy"))) <= 2
    again = ray_enc.encode(TEXTS[::-1], "document")  # served from the store: Ray is not even asked
    assert again.stats.n_encoded == 0
    more = ray_enc.encode(TEXTS + ["one new text"], "document")
    assert more.stats.n_encoded == 1


def _actor_pids() -> list[int]:
    out = subprocess.run(["pgrep", "-f", "MapWorker"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_a_worker_killed_mid_encoding_is_retried_and_the_run_completes(tmp_path: Path, ray_local) -> None:
    """The killed actor's batch is retried by Ray; the rows it had buffered (committed every 200 here) never reach
    the store, and the driver has them encoded again."""
    spec = resolve_model("hash-64-4ms")  # ~3 s of simulated encoding per worker
    store = EmbeddingStore(tmp_path / "store", shard_size=200)
    engine = make_engine("ray", workers=2, batch_size=100)
    engine.settle_seconds = 3.0
    enc = Encoder(spec, store, engine=engine)
    result: dict = {}
    t = threading.Thread(target=lambda: result.setdefault("res", enc.encode(TEXTS, "document")))
    t.start()
    shards = store.space_dir(enc.key("document")) / "shards"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (shards.exists() and list(shards.glob("*.json"))):
        time.sleep(0.1)
    pids = _actor_pids()
    assert pids, "no Ray actor process found"
    os.kill(pids[0], signal.SIGKILL)
    t.join(timeout=300)
    assert not t.is_alive()
    res = result["res"]
    np.testing.assert_array_equal(res.embeddings, hash_vectors(TEXTS, 64))
    assert not store.missing(enc.key("document"), TEXTS)
