"""Where a run reads and writes: the cache (embedding store, assembled models, backend exports) and the results
folder (one folder per model or pair, one per mode, one JSON per task and cell, plus the run's manifest).

A cache given as an object-store URI (``s3://bucket/prefix``) holds the embedding store only (``<uri>/embeddings``,
a Lance store): models and backend exports must be local files, so they stay in the default local cache.

Every path of that layout is built here, so commands and the library never assemble ``<cache>/embeddings`` or
``<output>/<run>/<mode>/<Task>.json`` by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .cells import Cell
from .errors import UserError
from .files import check_writable_dir, object_store_uri
from .record import RunManifest, result_path, run_manifest_path
from .registry import cache_root
from .store import TextStore

__all__ = ["Workspace"]


@dataclass(frozen=True)
class Workspace:
    """A cache folder and a results folder (and the object-store cache the embedding store lives in, if any)."""

    output: Path
    cache: Path  # local: models, backend exports (and the embedding store unless `remote`)
    remote: str | None = None  # an object-store --cache-dir (s3://bucket/prefix): the embedding store's home

    @classmethod
    def at(cls, output: Path | str = "results", cache_dir: Path | str | None = None, check: bool = True) -> Workspace:
        """The workspace of a run: `cache_dir` or the default cache; with `check`, both folders must be writable
        now (a typo fails before any model, data or encoding, naming its option)."""
        ws = cls.cache_only(cache_dir)
        ws = cls(Path(output), ws.cache, ws.remote)
        if check:
            check_writable_dir(ws.output, "--output")
            check_writable_dir(
                ws.cache, "--cache-dir" if ws.remote is None else "the local cache (LEAFBENCH_CACHE_DIR)"
            )
        return ws

    @classmethod
    def cache_only(cls, cache_dir: Path | str | None = None) -> Workspace:
        """A workspace for commands that only use the cache (cache ls/prune, latency)."""
        return cls(Path("results"), cache_root(cache_dir), object_store_uri(cache_dir))

    @property
    def embeddings(self) -> Path | str:
        """The embedding store's root: a folder, or a URI under an object-store cache."""
        return f"{self.remote}/embeddings" if self.remote else self.cache / "embeddings"

    @property
    def models(self) -> Path:
        """Offline models assembled from packages."""
        return self.cache / "models"

    def store(self, shard_size: int = 4096, store_format: str | None = None) -> TextStore:
        """The embedding store in `store_format` (``lance``, ``shards``: format 2); None: the format the root
        already has (`leafbench.store.detect_format`), Lance for a new root. The shard store is local only."""
        from .store import detect_format, open_store

        store_format = store_format or detect_format(self.embeddings)
        if self.remote and store_format != "lance":
            raise UserError(
                f"--store-format {store_format}: the shard store is local only; --cache-dir {self.remote} holds a "
                "Lance store (--store-format lance or auto)"
            )
        return open_store(self.embeddings, store_format, shard_size=shard_size)

    def run_dir(self, run: str) -> Path:
        return self.output / run

    def result_path(self, run: str, mode: str, task_name: str, cell: Cell = Cell()) -> Path:
        """``<output>/<run>/<mode>/<Task>[__<cell>].json``."""
        return result_path(self.output, run, mode, task_name, cell.file_label)

    def manifest_path(self, run: str) -> Path:
        return run_manifest_path(self.output, run)

    def manifest(self, run: str) -> RunManifest:
        """The run folder's manifest so far (empty when there is none); a damaged one fails now."""
        return RunManifest.read(self.output, run) or RunManifest()
