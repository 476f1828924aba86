"""Shard verification and quarantine: a shard is checked on first use in a process (manifest, shape, row count,
crc32 of data and keys); one shown to be bad is moved to ``quarantine/`` and named, while a read that fails for
the machine's reasons (too many open files, permissions, I/O) is a `StoreError` and moves nothing."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import TOO_MANY_FILES, resource_error_message
from .errors import StoreError
from .keys import KEY_BYTES
from .shards import STORE_FORMAT, Shard, crc

__all__ = ["open_shard", "quarantine_shard", "read_error"]


def read_error(e: OSError, path: Path) -> str:
    """One line for a shard file that could not be read for a reason outside the shard (so it is not moved)."""
    named = OSError(e.errno, e.strerror, str(e.filename or path))  # mmap's errors name no file
    if e.errno in TOO_MANY_FILES:
        return f"{resource_error_message(named)}; the store keeps one file open per shard it reads"
    return resource_error_message(named) or f"{named.filename}: cannot read ({e.strerror or e}); nothing was moved"


def open_shard(
    mpath: Path, space_dim: int | None, quarantine: Callable[[Path, str], None]
) -> tuple[Shard, bytes] | None:
    """Verify one shard (manifest, shape, crc32 of keys and data); quarantine and name it only when its files
    are shown to be wrong or missing. An OS error while reading (too many open files, permission, I/O) says
    nothing about the shard: it is a StoreError and nothing is moved. `space_dim`: the dim of the space's
    shards so far (None: any); `quarantine(base, why)` moves a bad shard aside."""
    base = mpath.with_suffix("")
    reading = mpath
    try:
        manifest = json.loads(mpath.read_text())
        if not isinstance(manifest, dict):
            raise ValueError(f"{mpath.name} is a JSON {type(manifest).__name__}, not an object")
        if manifest.get("format") != STORE_FORMAT:
            raise ValueError(f"shard format {manifest.get('format')!r}")
        rows, dim = int(manifest["rows"]), int(manifest["dim"])
        float(manifest.get("encode_seconds", 0.0)), float(manifest.get("tokens", 0))  # used in stats
        reading = base.with_suffix(".keys")
        keys = reading.read_bytes()
        if len(keys) != rows * KEY_BYTES or crc(keys) != manifest["crc32_keys"]:
            raise ValueError("keys do not match the manifest")
        reading = base.with_suffix(".npy")
        data = np.lib.format.open_memmap(reading, mode="r")  # .npy only (np.load would also open a zip)
        if data.shape != (rows, dim) or data.dtype != np.float32:
            raise ValueError(f"data is {data.dtype}{list(data.shape)}, manifest says float32[{rows}, {dim}]")
        if crc(memoryview(np.ascontiguousarray(data)).cast("B")) != manifest["crc32_data"]:
            raise ValueError("data checksum mismatch")
        if space_dim is not None and dim != space_dim:
            raise ValueError(f"dim {dim} differs from the space's {space_dim}")
    except FileNotFoundError:
        if not mpath.exists():
            return None  # pruned or quarantined by another process meanwhile (the manifest goes first)
        quarantine(base, f"{reading.name} is missing")  # a writer commits the manifest last
        return None
    except (ValueError, KeyError, TypeError, EOFError) as e:
        quarantine(base, str(e))
        return None
    except OSError as e:
        raise StoreError(read_error(e, reading)) from None
    return Shard(base, manifest, data), keys


def quarantine_shard(space_dir: Path, base: Path, why: str, warn: Callable[[str], None]) -> None:
    """Move a bad shard to ``<space>/quarantine/`` (manifest first) and name it in a warning; a store that is
    read-only leaves it in place, unused."""
    qdir = space_dir / "quarantine"
    try:
        qdir.mkdir(exist_ok=True)
        for suffix in (".json", ".npy", ".keys"):  # the manifest first: readers stop seeing the shard at once
            try:
                os.replace(base.with_suffix(suffix), qdir / (base.name + suffix))
            except FileNotFoundError:
                pass
    except OSError as e:  # a read-only store: the shard stays where it is, unused
        warn(
            f"{base.with_suffix('.npy')}: corrupt shard ({why}); not used, and left in place (cannot move it to "
            f"{qdir}: {e.strerror or e}); its texts will be encoded again"
        )
        return
    warn(f"{base.with_suffix('.npy')}: corrupt shard ({why}); moved to {qdir}, its texts will be encoded again")
