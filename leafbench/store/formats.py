"""Which on-disk format a store uses: ``shards`` (format 2, the default) or ``lance`` (one Lance dataset per
space, also on object storage). Lance is imported only when asked for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .embedding_store import TextStore
from .errors import StoreError
from .markers import detect_format

__all__ = ["STORE_BACKENDS", "detect_format", "open_store"]

STORE_BACKENDS = ("shards", "lance")


def open_store(root: Path | str, backend: str = "shards", **options: Any) -> TextStore:
    """The store at `root` in the given format; `options`: shard_size, flush_seconds (and storage_options for
    lance)."""
    if backend == "shards":
        from .embedding_store import EmbeddingStore

        return EmbeddingStore(root, **options)
    if backend == "lance":
        try:
            from .lance_store import LanceEmbeddingStore
        except ImportError as e:
            raise StoreError(f'the lance store format needs pylance ({e}): pip install "leafbench[lance]"') from None
        return LanceEmbeddingStore(root, **options)
    raise StoreError(f"unknown store format {backend!r}; one of {', '.join(STORE_BACKENDS)}")
