"""`LanceEmbeddingStore`: the store facade over Lance datasets, one per encoding space (see `lance_space`), at a
local folder or an object-store URI (``s3://bucket/prefix``, ``gs://…``). It serves and encodes exactly as the
format-2 store does (`TextStore`); a space that has format-2 shards under the same root and no dataset yet is
imported from them on first use (the shards stay, for older leafbench, until pruned)."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .embedding_store import TextStore
from .errors import StoreError
from .index import SpaceIndex
from .keys import KEY_BYTES, EncodingKey
from .lance_space import (
    LANCE_FORMAT,
    LanceIndex,
    LanceRows,
    LanceWriter,
    compact_space,
    open_dataset,
    verify_space,
)
from .markers import LANCE_MARKER, SHARDS_MARKER, read_marker
from .shards import DEFAULT_FLUSH_SECONDS, DEFAULT_SHARD_SIZE, STORE_FORMAT, atomic_write_bytes
from .uris import check_reachable, is_uri, read_uri_marker, storage_options_from_env, write_uri_marker
from .uris import filesystem as uri_filesystem

__all__ = ["LanceEmbeddingStore"]


class LanceEmbeddingStore(TextStore):
    """Per-text float32 embeddings in one Lance dataset per encoding space, at a folder or an object-store URI."""

    store_format = "lance"

    def __init__(
        self,
        root: Path | str,
        shard_size: int = DEFAULT_SHARD_SIZE,
        flush_seconds: float = DEFAULT_FLUSH_SECONDS,
        storage_options: dict[str, str] | None = None,
    ) -> None:
        super().__init__(shard_size, flush_seconds)
        self.root: Path | str = root.rstrip("/") if is_uri(root) else Path(str(root).removeprefix("file://"))
        self.storage_options = storage_options_from_env(str(self.root)) if storage_options is None else storage_options
        self._indexes: dict[str, LanceIndex] = {}
        self._marked = False
        self._check_format()

    def _check_format(self) -> None:
        """Refuse a root written by a newer leafbench (its Lance marker, or the format-2 marker of the shards it
        would import) and, on object storage, a bucket that cannot be reached: one line naming the root, before
        anything is read or written."""
        if is_uri(self.root):
            check_reachable(str(self.root))
            markers = [(LANCE_MARKER, LANCE_FORMAT, read_uri_marker(f"{self.root}/{LANCE_MARKER}"))]
        else:
            root = Path(self.root)
            markers = [
                (m, v, read_marker(root / m)) for m, v in ((LANCE_MARKER, LANCE_FORMAT), (SHARDS_MARKER, STORE_FORMAT))
            ]
        for marker, supported, fmt in markers:
            if fmt is not None and fmt > supported:
                raise StoreError(
                    f"{self.root}: embedding store written by a newer leafbench ({marker} {fmt}; this version reads "
                    f"<= {supported}); upgrade leafbench or use another --cache-dir"
                )
        self._marked = markers[0][2] is not None

    def _mark(self) -> None:
        """Write the root's Lance marker, once (the first write makes the root a Lance store)."""
        if self._marked:
            return
        if is_uri(self.root):
            write_uri_marker(f"{self.root}/{LANCE_MARKER}", LANCE_FORMAT)
        else:
            marker = Path(self.root) / LANCE_MARKER
            if not marker.exists():
                marker.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_bytes(marker, f"{LANCE_FORMAT}\n".encode())
        self._marked = True

    def space_uri(self, key: EncodingKey | str) -> str:
        space = key if isinstance(key, str) else key.space()
        return f"{self.root}/spaces/{space}/rows.lance"

    def index(self, key: EncodingKey) -> LanceIndex:
        space = key.space()
        idx = self._indexes.get(space)
        if idx is None:
            self._import_format2(key)
            idx = self._indexes[space] = LanceIndex(self.space_uri(key), self.storage_options)
        idx.refresh()
        return idx

    def writer(self, key: EncodingKey) -> LanceWriter:
        uri = self.space_uri(key)
        self._mark()
        if not is_uri(self.root):
            Path(uri).parent.mkdir(parents=True, exist_ok=True)
        return LanceWriter(uri, key, self.storage_options, self.shard_size, self.flush_seconds)

    def _locate(self, key: EncodingKey, keys: np.ndarray) -> tuple[np.ndarray, Any]:
        idx = self.index(key)
        pos = idx.lookup(keys)
        return pos < 0, (idx.dataset, pos, idx.dim or 0)

    def _rows(self, key: EncodingKey, located: Any) -> LanceRows:
        return LanceRows(*located)

    def _where(self, key: EncodingKey) -> str:
        return self.space_uri(key)

    def _import_format2(self, key: EncodingKey) -> None:
        """Copy a space's verified format-2 shards into its dataset, once: only where the dataset does not exist
        yet (two processes importing at once store some rows twice; either serves)."""
        if is_uri(self.root):
            return
        sdir = Path(self.root) / "spaces" / key.space()
        if not (sdir / "shards").is_dir() or open_dataset(self.space_uri(key), self.storage_options) is not None:
            return
        old = SpaceIndex(sdir, self._warn)
        old.refresh()
        writer = self.writer(key)
        writer.flush_seconds = float("inf")
        for shard in old.shards:
            keys = np.frombuffer(shard.path.with_suffix(".keys").read_bytes(), np.uint8).reshape(-1, KEY_BYTES)
            m = shard.manifest
            writer.add(keys, np.asarray(shard.array()), float(m.get("encode_seconds", 0.0)), int(m.get("tokens", 0)))
        writer.flush()

    # ------------------------------------------------------------------------------------------ maintenance

    def _space_names(self) -> list[str]:
        if not is_uri(self.root):
            return sorted(p.parent.name for p in (Path(self.root) / "spaces").glob("*/rows.lance"))
        from pyarrow import fs

        filesystem, path = uri_filesystem(f"{self.root}/spaces")
        try:
            infos = filesystem.get_file_info(fs.FileSelector(path, allow_not_found=True))
        except OSError as e:
            raise StoreError(f"{self.root}: cannot list the store's spaces ({e})") from None
        return sorted(i.base_name for i in infos if i.type == fs.FileType.Directory)

    def spaces(self) -> Iterator[dict]:
        """One summary per space (for `leafbench cache ls`), from the manifests only; the keys of the format-2
        store's summaries (a Lance space has no quarantine: `verify` deletes bad rows in a new version)."""
        for name in self._space_names():
            uri = self.space_uri(name)
            ds = open_dataset(uri, self.storage_options)
            if ds is None:
                continue
            meta = ds.schema.metadata or {}
            info = json.loads(meta.get(b"leafbench.space", b"{}") or b"{}")
            latest = ds.versions()[-1]
            yield {
                "space": name,
                "key": info.get("key") or {},
                "shards": len(ds.get_fragments()),
                "rows": ds.count_rows(),
                "dim": ds.schema.field("vector").type.list_size,
                "bytes": int((latest.get("metadata") or {}).get("total_files_size", 0)),
                "quarantined": 0,
                "version": ds.version,
                "written": latest["timestamp"].timestamp(),
                "path": uri,
            }

    def old_entries(self) -> list[Path]:
        """Format-2 shard folders of spaces already imported into a dataset (kept for older leafbench)."""
        if is_uri(self.root):
            return []
        return sorted(
            p / "shards"
            for p in (Path(self.root) / "spaces").glob("*")
            if (p / "rows.lance").is_dir() and (p / "shards").is_dir()
        )

    def verify(self) -> tuple[int, list[str]]:
        """Check every row of every space (see `verify_space`); returns (spaces checked, messages). A store
        folder that does not exist is a StoreError (a mistyped --cache-dir is not an intact store)."""
        if not is_uri(self.root) and not Path(self.root).is_dir():
            raise StoreError(f"{self.root}: no embedding store here (not a folder); check --cache-dir")
        before = len(self.warnings)
        names = self._space_names()
        for name in names:
            verify_space(self.space_uri(name), self.storage_options, self._warn)
        return len(names), self.warnings[before:]

    def compact(self, spaces: Sequence[str] = ()) -> dict[str, dict[str, int]]:
        """Few large files per space (`leafbench cache compact`); all spaces unless named."""
        return {s: compact_space(self.space_uri(s), self.storage_options) for s in (spaces or self._space_names())}

    def _delete_space(self, name: str) -> None:
        uri = self.space_uri(name)
        if is_uri(self.root):
            filesystem, path = uri_filesystem(uri.removesuffix("/rows.lance"))
            filesystem.delete_dir(path)
        else:
            shutil.rmtree(Path(uri).parent)

    def prune(
        self,
        older_than_days: float | None = None,
        spaces: Sequence[str] = (),
        old_format: bool = False,
        versions_older_than_hours: float = 1.0,
    ) -> dict[str, int]:
        """Delete named spaces and spaces not written for `older_than_days`; in the others, the files only
        versions older than `versions_older_than_hours` use (compacted appends, deleted rows: a reader that opened
        an older version within the hour keeps working); with `old_format`, the format-2 shards already imported.
        Returns counts: spaces, versions, old_entries, bytes (and files, always 0: Lance keeps no loose files)."""
        from datetime import timedelta

        removed = {"spaces": 0, "files": 0, "versions": 0, "old_entries": 0, "bytes": 0}
        cutoff = None if older_than_days is None else time.time() - older_than_days * 86400
        for s in list(self.spaces()):
            if s["space"] in spaces or (cutoff is not None and s["written"] < cutoff):
                self._delete_space(s["space"])
                removed["spaces"] += 1
                removed["bytes"] += s["bytes"]
                continue
            ds = open_dataset(s["path"], self.storage_options)
            if ds is not None:
                stats = ds.cleanup_old_versions(older_than=timedelta(hours=versions_older_than_hours))
                removed["versions"] += int(stats.old_versions)
                removed["bytes"] += int(stats.bytes_removed)
        for shards in self.old_entries() if old_format else []:
            removed["bytes"] += sum(p.stat().st_size for p in shards.rglob("*") if p.is_file())
            shutil.rmtree(shards)
            removed["old_entries"] += 1
        return removed
