"""Encoding engines: this process (default) or a Ray cluster (`--engine ray`), both writing into one store.

The Ray engine spreads the texts a store space lacks over an actor pool with Ray Data (`map_batches`): one
model per actor (a GPU each where the cluster has GPUs), each actor writing into the driver's store in the
driver's format (a Lance append, or a shard: unique names, so actors never collide). An actor buffers rows across
batches and commits them every `shard_size` rows or `flush_seconds` (as a local run does), so a space gets few
large files rather than one per Ray batch, and a kill loses at most that much encoding. What an actor still
buffers at the end of the job it commits as it shuts down; the driver then waits for every row, has any that
never arrived (an actor killed with rows buffered) encoded again with a commit per batch, and compacts a Lance
space's appends. A killed worker is restarted by Ray and its batch retried; whatever was committed before a
failure of the whole job stays in the store, so a rerun encodes only what is still missing. Ray is an optional
extra: `pip install "leafbench[ray]"`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import UserError
from .ray_corpus import StoreActor, actor_options, await_settled

if TYPE_CHECKING:
    from .data import ArrowFiles, DataPath

log = logging.getLogger(__name__)

ENGINES = ("local", "ray")
RAY_EXTRA = 'pip install "leafbench[ray]"'


class EngineError(UserError):
    """An engine that cannot run as asked (unknown, Ray missing, cluster unreachable); the message is for the user."""


def _import_ray() -> Any:
    try:
        import ray  # noqa: F401
        import ray.data  # noqa: F401
    except ImportError as e:
        raise EngineError(
            f"--engine ray needs Ray Data, which is not installed ({e.name}); install it with: {RAY_EXTRA}"
        ) from None
    return ray


def make_engine(
    name: str, address: str | None = None, workers: int | None = None, batch_size: int | None = None
) -> "RayEngine | None":
    """The engine object for `--engine` (None: encode in this process); checks what can be checked before any work."""
    if name not in ENGINES:
        raise EngineError(f"--engine: unknown engine {name!r}; choose from {', '.join(ENGINES)}")
    if name == "local":
        if address or workers:
            raise EngineError("--ray-address and --workers apply to --engine ray only")
        return None
    _import_ray()
    if address:
        check_reachable(address)
    return RayEngine(address=address, workers=workers, batch_size=batch_size or RayEngine.batch_size)


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """A TCP connect to a `host:port` / `ray://host:port` address, so an unreachable cluster is one clear error in
    seconds (ray.init itself retries for minutes). `auto` is left to Ray, which fails fast when none runs here."""
    import socket

    if address == "auto" or address.startswith("local"):
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise EngineError(f"--ray-address {address!r}: expected host:port, ray://host:port or auto")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        raise EngineError(f"--ray-address {address}: cannot reach a Ray cluster there ({e.strerror or e})") from None


class _EncodeActor(StoreActor):
    """Per batch of texts (shipped by the driver, all known to be missing): encoded into the actor's buffer."""

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        from .store import text_keys

        texts = [str(t) for t in batch["text"]]
        t0 = time.perf_counter()
        emb, tokens = self.encoder.encode_batchwise(texts, self.side)
        self.writer.add(text_keys(texts), emb, time.perf_counter() - t0, tokens)  # commits when the buffer is due
        return {"n": np.array([len(texts)]), "tokens": np.array([int(tokens)])}


def _warn_off_main_thread() -> None:
    """A local Ray cluster started from another thread dies with that thread: Ray starts its raylet and GCS with
    PR_SET_PDEATHSIG, which Linux fires when the *thread* that spawned them ends, and Ray then ends this whole
    process 60 s later (exit 1). Say so where it happens; `ray.init()` in the main thread first avoids it."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        log.warning(
            "starting a local Ray cluster from a thread other than the main one: it is killed when this thread ends "
            "(and Ray then ends the process); call ray.init() in the main thread before encoding from threads"
        )


@dataclass
class RayEngine:
    """Encode missing texts on a Ray cluster (local by default, an existing one by `address`)."""

    address: str | None = None
    workers: int | None = None  # actors; default: one per GPU, else 2
    batch_size: int = 512  # texts per Ray Data batch (an actor commits every store.shard_size rows or flush_seconds)
    cpus_per_worker: float | None = None  # default: 1 per GPU actor, else 0.5 (leaves room for Ray Data's own tasks)
    settle_seconds: float = 15.0  # how long the driver waits for more of the actors' last commits after a job

    def _init(self) -> Any:
        ray = _import_ray()
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
            try:
                if self.address:
                    ray.init(address=self.address, **kwargs)
                else:
                    _warn_off_main_thread()
                    ray.init(num_cpus=os.cpu_count() or 1, **kwargs)
            except (ConnectionError, RuntimeError, ValueError) as e:
                raise EngineError(
                    f"--ray-address {self.address or '(local)'}: cannot start or reach a Ray cluster ({e})"
                ) from None
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # leafbench's own progress bars count the rows coming back
        if not log.isEnabledFor(logging.INFO):  # Ray Data's per-dataset INFO lines only with --verbose
            logging.getLogger("ray.data").setLevel(logging.WARNING)
        return ray

    def plan(self, ray: Any) -> tuple[int, float, float]:
        """(workers, CPUs per worker, GPUs per worker) for this cluster."""
        res = ray.cluster_resources()
        gpus = int(res.get("GPU", 0))
        workers = self.workers or (gpus if gpus else 2)
        if gpus:
            return workers, self.cpus_per_worker or 1.0, 1.0 if workers <= gpus else gpus / workers
        return workers, self.cpus_per_worker or 0.5, 0.0

    def encode(self, encoder: Any, side: str, key: Any, todo: list[str], progress: Callable[[int], None] | None) -> int:
        """Encode `todo` (texts the space lacks) into `encoder.store`; returns the tokens processed. Every row is
        in the store when this returns, and a Lance space's appends are compacted into few files."""
        ray = self._init()
        store = encoder.store
        tokens = self._job(ray, encoder, side, todo, progress, commit_rows=store.shard_size)
        lost = await_settled(lambda: store.missing(key, todo), self.settle_seconds)
        if lost:  # buffered in an actor that was killed (or never shut down): again, committed batch by batch
            log.info("ray: %d texts never reached the store; encoding them again", len(lost))
            tokens += self._job(ray, encoder, side, lost, None, commit_rows=0)
        if store.store_format == "lance":
            done = store.compact([key.space()])
            log.info("ray: compacted %s", done)
        return tokens

    def _job(
        self,
        ray: Any,
        encoder: Any,
        side: str,
        todo: list[str],
        progress: Callable[[int], None] | None,
        commit_rows: int,
    ) -> int:
        """One Ray Data job over `todo`; actors commit every `commit_rows` rows (0: every batch)."""
        import pandas as pd

        workers, cpus, gpus = self.plan(ray)
        # List order kept (each actor sorts its batch by length): shards hold runs of the list, read as slices.
        # At least two batches per worker, so a small job still spreads over the whole pool.
        batch = max(1, min(self.batch_size, -(-len(todo) // (2 * workers))))
        frames = [pd.DataFrame({"text": todo[i : i + batch]}) for i in range(0, len(todo), batch)]
        log.info("ray: %d texts over %d workers (%s CPU, %s GPU each)", len(todo), workers, cpus, gpus)
        ds = ray.data.from_pandas(frames).map_batches(
            _EncodeActor,
            fn_constructor_args=(
                encoder.spec,
                side,
                str(encoder.store.root),
                encoder.store.store_format,
                actor_options(encoder, cpus, gpus, commit_rows),
            ),
            batch_size=batch,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=cpus,
            num_gpus=gpus or None,
            # Ray Data's actor pools restart dead actors and retry their batches (max_restarts=-1) by default.
        )
        tokens = 0
        for out in ds.iter_batches(batch_size=None, batch_format="numpy"):
            tokens += int(out["tokens"].sum())
            if progress:
                progress(int(out["n"].sum()))
        return tokens

    def encode_file(
        self, encoder: Any, side: str, path: DataPath | ArrowFiles, keys: Any, progress: Callable[[int], None] | None
    ) -> tuple[int, int]:
        """Encode what the store lacks of a corpus file (local or at a URL, or a hub task's Arrow cache files), the
        workers reading it (`leafbench.ray_corpus`)."""
        from .ray_corpus import encode_corpus_file

        return encode_corpus_file(self, encoder, side, path, keys, progress)
