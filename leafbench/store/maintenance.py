"""Store maintenance (``leafbench cache``): list spaces, verify every shard, prune what is safe to delete; a
mixin of the store facade."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from .errors import StoreError
from .index import SpaceIndex
from .shards import json_object

__all__ = ["StoreMaintenance"]


class StoreMaintenance:
    """`leafbench cache` on a store at `root`: what its spaces hold, whether its shards are intact, and pruning."""

    root: Path
    warnings: list[str]
    _warn: Callable[[str], None]

    def spaces(self) -> Iterator[dict]:
        """One summary per space (for `leafbench cache ls`), without verifying data."""
        sroot = self.root / "spaces"
        for sdir in sorted(sroot.iterdir()) if sroot.exists() else []:
            key = (json_object(sdir / "space.json") or {}).get("key")
            key = key if isinstance(key, dict) else {}
            manifests = []
            for m in sorted((sdir / "shards").glob("*.json")):
                manifest = json_object(m)  # listed, not verified: `verify` quarantines a bad one
                ok = manifest is not None and isinstance(manifest.get("rows"), int) and manifest["rows"] >= 0
                manifests.append(manifest if ok else {"rows": 0, "unreadable": str(m)})
            size = sum(p.stat().st_size for p in (sdir / "shards").glob("*") if p.is_file())
            yield {
                "space": sdir.name,
                "key": key,
                "shards": len(manifests),
                "rows": sum(int(m.get("rows", 0)) for m in manifests),
                "dim": next((m["dim"] for m in manifests if "dim" in m), None),
                "bytes": size,
                "quarantined": len(list((sdir / "quarantine").glob("*.npy"))) if (sdir / "quarantine").exists() else 0,
                "path": str(sdir),
            }

    def old_entries(self) -> list[Path]:
        """Format-1 entries still on disk (imported into a space the first time their text list is asked for)."""
        return sorted(p.parent for p in self.root.glob("[0-9a-f][0-9a-f]/*/meta.json"))

    def verify(self) -> tuple[int, list[str]]:
        """Check every shard of every space (shape, crc32); returns (shards OK, messages about bad ones).
        A store folder that does not exist is a StoreError (a mistyped --cache-dir is not an intact store)."""
        if not self.root.is_dir():
            raise StoreError(f"{self.root}: no embedding store here (not a folder); check --cache-dir")
        before = len(self.warnings)
        ok = 0
        sroot = self.root / "spaces"
        for sdir in sorted(sroot.iterdir()) if sroot.exists() else []:
            idx = SpaceIndex(sdir, self._warn)
            idx.refresh()
            ok += len(idx.shards)
        return ok, self.warnings[before:]

    def prune(
        self,
        older_than_days: float | None = None,
        spaces: Sequence[str] = (),
        orphans: bool = True,
        old_format: bool = False,
        quarantine: bool = True,
    ) -> dict[str, int]:
        """Delete what is safe to delete: temp files and uncommitted shard parts older than an hour, quarantined
        shards, whole spaces (named, or unused for `older_than_days`), format-1 entries when asked."""
        removed = {"files": 0, "spaces": 0, "old_entries": 0, "bytes": 0}
        now = time.time()

        def rm(p: Path) -> None:
            removed["bytes"] += p.stat().st_size
            p.unlink()
            removed["files"] += 1

        sroot = self.root / "spaces"
        for sdir in sorted(sroot.iterdir()) if sroot.exists() else []:
            shards = sdir / "shards"
            newest = max(
                (p.stat().st_mtime for p in shards.glob("*.json")),
                default=(sdir / "space.json").stat().st_mtime if (sdir / "space.json").exists() else now,
            )
            if sdir.name in spaces or (older_than_days is not None and now - newest > older_than_days * 86400):
                removed["bytes"] += sum(p.stat().st_size for p in sdir.rglob("*") if p.is_file())
                shutil.rmtree(sdir)
                removed["spaces"] += 1
                continue
            if orphans and shards.exists():
                committed = {p.stem for p in shards.glob("*.json")}
                for p in shards.iterdir():
                    stem = p.name.split(".")[0] if not p.name.startswith(".") else None
                    partial = p.name.startswith(".") or stem not in committed
                    if partial and now - p.stat().st_mtime > 3600:  # a writer may still be working on it
                        rm(p)
            if quarantine and (sdir / "quarantine").exists():
                for p in (sdir / "quarantine").iterdir():
                    rm(p)
        if old_format:
            for entry in self.old_entries():
                removed["bytes"] += sum(p.stat().st_size for p in entry.rglob("*") if p.is_file())
                shutil.rmtree(entry)
                removed["old_entries"] += 1
        return removed
