"""Where a run reads and writes: the cache (embedding store, assembled models, backend exports) and the results
folder (one folder per model or pair, one per mode, one JSON per task and cell, plus the run's manifest).

Every path of that layout is built here, so commands and the library never assemble ``<cache>/embeddings`` or
``<output>/<run>/<mode>/<Task>.json`` by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .cells import Cell
from .files import check_writable_dir
from .record import RunManifest, result_path, run_manifest_path
from .registry import cache_root
from .store import TextStore

__all__ = ["Workspace"]


@dataclass(frozen=True)
class Workspace:
    """A cache folder and a results folder."""

    output: Path
    cache: Path

    @classmethod
    def at(cls, output: Path | str = "results", cache_dir: Path | str | None = None, check: bool = True) -> Workspace:
        """The workspace of a run: `cache_dir` or the default cache; with `check`, both folders must be writable
        now (a typo fails before any model, data or encoding, naming its option)."""
        ws = cls(Path(output), cache_root(cache_dir))
        if check:
            check_writable_dir(ws.output, "--output")
            check_writable_dir(ws.cache, "--cache-dir")
        return ws

    @classmethod
    def cache_only(cls, cache_dir: Path | str | None = None) -> Workspace:
        """A workspace for commands that only use the cache (cache ls/prune, latency)."""
        return cls(Path("results"), cache_root(cache_dir))

    @property
    def embeddings(self) -> Path:
        """The embedding store's root."""
        return self.cache / "embeddings"

    @property
    def models(self) -> Path:
        """Offline models assembled from packages."""
        return self.cache / "models"

    def store(self, shard_size: int = 4096, store_format: str | None = "shards") -> TextStore:
        """The embedding store in `store_format` (``shards``: format 2, the default; ``lance``); None: the format
        the root's marker names (`leafbench.store.detect_format`), shards for a new root."""
        from .store import detect_format, open_store

        return open_store(self.embeddings, store_format or detect_format(self.embeddings), shard_size=shard_size)

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
