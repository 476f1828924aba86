"""What format a store root is in, from its marker files: ``FORMAT`` (the shard store's format number, 2) and
``FORMAT-lance`` (the Lance store's, written when a Lance store is first written). Each store reads the marker of
its own format and the shard store never reads ``FORMAT-lance``, so neither misreads the other; a Lance root that
imported format-2 shards holds both."""

from __future__ import annotations

from pathlib import Path

from .errors import StoreError

__all__ = ["LANCE_MARKER", "SHARDS_MARKER", "detect_format", "read_marker"]

SHARDS_MARKER = "FORMAT"
LANCE_MARKER = "FORMAT-lance"


def read_marker(path: Path) -> int | None:
    """The format number in a marker file; None where there is none (a new store)."""
    try:
        return int(path.read_text().strip() or 0)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except ValueError:
        raise StoreError(f"{path}: not a leafbench store format marker") from None
    except OSError as e:
        raise StoreError(f"{path}: cannot read the store format marker ({e.strerror or e})") from None


def detect_format(root: Path | str) -> str:
    """``lance`` where the root has a Lance marker, else ``shards`` (the default format, also for a new root)."""
    if isinstance(root, str) and "://" in root and not root.startswith("file://"):
        return "lance"  # only the Lance store lives on object storage
    return "lance" if (Path(str(root).removeprefix("file://")) / LANCE_MARKER).is_file() else "shards"
