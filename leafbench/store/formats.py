"""Which format a store uses: ``lance`` (one Lance dataset per space, local or on object storage; the default for
a new store) or ``shards`` (format 2, local folders only). The shard store does not import Lance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .embedding_store import TextStore
from .errors import StoreError
from .markers import detect_format
from .uris import is_uri

__all__ = ["STORE_BACKENDS", "detect_format", "open_store"]

STORE_BACKENDS = ("lance", "shards")


def open_store(root: Path | str, backend: str | None = None, **options: Any) -> TextStore:
    """The store at `root` in the given format (None: the format the root already has, `detect_format`; Lance
    for a new root); `options`: shard_size, flush_seconds (and storage_options for lance)."""
    backend = backend or detect_format(root)
    if backend == "shards":
        if is_uri(root):
            raise StoreError(f"{root}: the shard store is local only; object storage holds a Lance store")
        from .embedding_store import EmbeddingStore

        return EmbeddingStore(root, **options)
    if backend == "lance":
        try:
            from .lance_store import LanceEmbeddingStore
        except ImportError as e:
            raise StoreError(f'the lance store format needs pylance ({e}): pip install "leafbench[lance]"') from None
        return LanceEmbeddingStore(root, **options)
    raise StoreError(f"unknown store format {backend!r}; one of {', '.join(STORE_BACKENDS)}")
