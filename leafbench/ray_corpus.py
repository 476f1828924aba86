"""A streamed corpus encoded by Ray workers that read its file themselves: the driver never holds its texts.

`ray.data.read_json` (or `read_parquet`) splits the corpus file into blocks that Ray's read tasks parse in parallel; an actor pool
builds each document's text as mteb does (`data.doc_text`), hashes it, keeps only the texts its store space lacks
(a lookup against the space's key index, opened by each actor: an anti-join, not a driver loop), encodes them
and commits them (`RayEngine`'s actor, `leafbench.engine`). Only counts come back to the driver. The file was
validated by the driver's streaming pass first (`data.corpus_file`), so every line the workers read is a
well-formed document. A hub task's corpus memory-mapped from Hugging Face cache files (`data.ArrowFiles`) is read
the same way: each read task maps a row range of one Arrow file, so the driver ships neither texts nor tables.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .data import ArrowFiles, DataPath

log = logging.getLogger(__name__)

__all__ = ["StoreActor", "actor_options", "await_settled", "encode_corpus_file", "texts_of_batch"]


def texts_of_batch(batch: dict[str, Any]) -> list[str]:
    """The mteb-style document texts of a `read_json` batch (title missing or null: text alone)."""
    from .data import doc_text

    texts = batch["text"]
    titles = batch["title"] if "title" in batch else [None] * len(texts)
    return [doc_text(t if isinstance(t, str) else "", str(x)) for t, x in zip(titles, texts)]


class StoreActor:
    """What every encoding actor shares: the model loaded once, a store writer whose buffer commits every
    `commit_rows` rows or `flush_seconds` (every batch with 0), and the commit of what it still holds when Ray Data
    shuts the pool down gracefully (a killed actor cannot; the driver has what never arrived encoded again)."""

    def __init__(self, spec: Any, side: str, store_root: str, store_format: str, options: dict[str, Any]) -> None:
        import torch

        from .encode import Encoder
        from .store import open_store

        if options.get("threads"):
            torch.set_num_threads(options["threads"])
        self.store = open_store(store_root, store_format)  # the driver's format: rows land where the driver reads
        cache = options.get("cache_dir")
        self.encoder = Encoder(
            spec,
            self.store,
            device=options.get("device"),
            batch_size=options["model_batch"],
            cache_dir=Path(cache) if cache else None,
        )
        self.side = side
        self.key = self.encoder.key(side)
        self.writer = self.store.writer(self.key)
        self.writer.shard_size = max(1, int(options.get("commit_rows") or 0))
        self.writer.flush_seconds = options.get("flush_seconds") or self.writer.flush_seconds
        self.encoder.model  # load now: a model that cannot load fails the actor at start, not mid-job

    def __del__(self) -> None:
        writer = getattr(self, "writer", None)  # absent when __init__ failed
        if writer is not None:
            writer.commit_remaining()


def actor_options(encoder: Any, cpus: float, gpus: float, commit_rows: int) -> dict[str, Any]:
    """A `StoreActor`'s options from the driver's encoder and the cluster plan."""
    return {
        "device": encoder.device or ("cuda" if gpus else "cpu"),
        "model_batch": encoder.batch_size,
        "threads": encoder.spec.threads or max(1, int(cpus)),
        "cache_dir": str(encoder.cache_dir) if encoder.cache_dir else None,
        "commit_rows": commit_rows,
        "flush_seconds": encoder.store.flush_seconds,
    }


def await_settled(look: Callable[[], Any], settle_seconds: float, count: Callable[[Any], int] = len) -> Any:
    """What is still missing (`look()`, sized by `count`) once the actors' last commits are in: looks again while
    rows keep arriving, giving up after `settle_seconds` without a new one; returns the last look."""
    missing = look()
    last, since = count(missing), time.monotonic()
    while last and time.monotonic() - since < settle_seconds:
        time.sleep(0.2)
        missing = look()
        if count(missing) < last:
            last, since = count(missing), time.monotonic()
    return missing


class _FileActor(StoreActor):
    """Per batch of file rows: texts, keys, the ones the space lacks, encoded into the actor's buffer."""

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        texts = texts_of_batch(batch)
        todo = self.store.missing(self.key, texts)  # the anti-join: this space's key index, on this worker
        keys = _keys(todo)
        if self.writer.buffered:  # nor what this actor holds uncommitted (a text repeated in the file)
            held = self.writer.buffered_keys()
            keep = [i for i, k in enumerate(keys) if k.tobytes() not in held]
            todo, keys = [todo[i] for i in keep], keys[keep]
        tokens = 0
        if todo:
            t0 = time.perf_counter()
            emb, tokens = self.encoder.encode_batchwise(todo, self.side)
            self.writer.add(keys, emb, time.perf_counter() - t0, tokens)  # commits when due
        return {"n": np.array([len(texts)]), "encoded": np.array([len(todo)]), "tokens": np.array([int(tokens)])}


def _keys(texts: list[str]) -> np.ndarray:
    from .store import text_keys

    return text_keys(texts)


def encode_corpus_file(
    engine: Any,
    encoder: Any,
    side: str,
    path: DataPath | ArrowFiles,
    keys: np.ndarray,
    progress: Callable[[int], None] | None = None,
) -> tuple[int, int]:
    """Encode every text of a corpus file that `encoder.store` lacks on `engine`'s Ray cluster, the workers reading
    the file; returns (texts encoded, tokens processed). `keys`: the file's text keys (the driver's hash pass), to
    wait for the actors' last commits; `progress(n)` counts the documents looked at. Every row is in the store when
    this returns, and a Lance space's appends are compacted into few files."""
    store, key = encoder.store, encoder.key(side)
    encoded, tokens = _job(engine, encoder, side, path, progress, commit_rows=store.shard_size)
    absent = int(await_settled(lambda: store.absent(key, keys), engine.settle_seconds, count=np.count_nonzero).sum())
    if absent:  # buffered in an actor that was killed (or never shut down): again, committed batch by batch
        log.info("ray: %d texts of %s never reached the store; encoding them again", absent, path)
        again, more = _job(engine, encoder, side, path, None, commit_rows=0)
        encoded, tokens = encoded + again, tokens + more
    if store.store_format == "lance":
        log.info("ray: compacted %s", store.compact([key.space()]))
    return encoded, tokens


def _arrow_rows(batch: dict[str, Any], columns: list[str]) -> Any:
    """The (title, text) rows of one row range of an Arrow cache file, read on the worker."""
    from .data import read_arrow_slice

    return read_arrow_slice(str(batch["file"][0]), int(batch["start"][0]), int(batch["stop"][0]), columns)


def _read_arrow_files(ray: Any, source: ArrowFiles, num_cpus: float) -> Any:
    """A Dataset's Arrow cache files as a Ray dataset of (title, text) rows: one read task per row range."""
    ranges = source.slices()
    return ray.data.from_items(ranges, override_num_blocks=len(ranges)).map_batches(
        _arrow_rows, fn_kwargs={"columns": list(source.columns)}, batch_size=1, num_cpus=num_cpus
    )


def _read(ray: Any, path: DataPath | ArrowFiles, num_cpus: float) -> Any:
    """The corpus file as a Ray dataset of (title, text) rows, parsed by Ray's read tasks: JSONL, or Parquet
    (a file, or a folder of parts: only the text columns are read). A file at a URL is read by the workers from
    there, through the filesystem the driver opened it with (endpoint and all), never shipped by the driver.
    A hub task's Arrow cache files are mapped by the workers (`_read_arrow_files`)."""
    from .data import ArrowFiles
    from .data.beir_files import is_parquet, parquet_columns
    from .data.location import arrow_source

    if isinstance(path, ArrowFiles):
        return _read_arrow_files(ray, path, num_cpus)

    source, filesystem = arrow_source(path)
    # One path (the file, or the folder: Ray lists its parts), not a list of files: Ray Data resolves a list's
    # paths on threads that each import fsspec's HTTP filesystem, and without aiohttp one thread's failed import
    # makes another's fail with an ImportError Ray does not catch.
    where: dict[str, Any] = {"paths": str(source), "filesystem": filesystem, "num_cpus": num_cpus}
    if is_parquet(path):
        _, title = parquet_columns(path)
        columns = ["text", *([title] if title else [])]
        return ray.data.read_parquet(**where, columns=columns, file_extensions=["parquet"])
    import pyarrow as pa
    import pyarrow.json as pj

    fields = pj.ParseOptions(
        explicit_schema=pa.schema([("title", pa.string()), ("text", pa.string())]),
        unexpected_field_behavior="ignore",  # _id and anything else: the driver's pass holds the ids
    )
    read_options = pj.ReadOptions(block_size=32 << 20)
    return ray.data.read_json(**where, parse_options=fields, read_options=read_options)


def _job(
    engine: Any,
    encoder: Any,
    side: str,
    path: DataPath | ArrowFiles,
    progress: Callable[[int], None] | None,
    commit_rows: int,
) -> tuple[int, int]:
    """One Ray Data job over the file: (texts encoded, tokens)."""
    ray = engine._init()
    workers, cpus, gpus = engine.plan(ray)
    options = actor_options(encoder, cpus, gpus, commit_rows)
    log.info("ray: %s read by %d workers (%s CPU, %s GPU each)", path, workers, cpus, gpus)
    ds = _read(ray, path, num_cpus=min(cpus, 0.5)).map_batches(
        _FileActor,
        fn_constructor_args=(encoder.spec, side, str(encoder.store.root), encoder.store.store_format, options),
        batch_size=engine.batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=cpus,
        num_gpus=gpus or None,
    )
    encoded = tokens = 0
    for out in ds.iter_batches(batch_size=None, batch_format="numpy"):
        encoded += int(out["encoded"].sum())
        tokens += int(out["tokens"].sum())
        if progress:
            progress(int(out["n"].sum()))
    return encoded, tokens
