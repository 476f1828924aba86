"""What format a store root is in, from its marker files: ``FORMAT`` (the shard store's format number, 2) and
``FORMAT-lance`` (the Lance store's, written when a Lance store is first written, also on object storage). Each
store reads the marker of its own format and the shard store never reads ``FORMAT-lance``, so neither misreads
the other; a Lance root that imported format-2 shards holds both. A new root gets the default format, Lance."""

from __future__ import annotations

import re
from pathlib import Path

from .errors import StoreError
from .uris import is_uri

__all__ = ["DEFAULT_FORMAT", "LANCE_MARKER", "SHARDS_MARKER", "detect_format", "read_marker"]

SHARDS_MARKER = "FORMAT"
LANCE_MARKER = "FORMAT-lance"
DEFAULT_FORMAT = "lance"  # what a new store root is written in
_V1_ENTRY = re.compile(r"[0-9a-f]{2}")  # format-1 entries: <aa>/<digest>/, written before any marker existed


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


def _holds_shards(root: Path) -> bool:
    """A shard store without its marker still counts as one: format-2 spaces, or format-1 entries."""
    if any((root / "spaces").glob("*/shards")):
        return True
    try:
        return any(p.is_dir() and _V1_ENTRY.fullmatch(p.name) for p in root.iterdir())
    except OSError:
        return False


def detect_format(root: Path | str) -> str:
    """The format of the store at `root`: ``lance`` on object storage (the shard store is local only) or where
    the root has a Lance marker; ``shards`` where it holds a shard store (its marker, shards, format-1 entries);
    a new or empty root: the default, ``lance``."""
    if is_uri(root):
        return "lance"
    path = Path(str(root).removeprefix("file://"))
    if (path / LANCE_MARKER).is_file():
        return "lance"
    if (path / SHARDS_MARKER).is_file() or _holds_shards(path):
        return "shards"
    return DEFAULT_FORMAT
