"""Files leafbench writes: atomically (temp file + rename), with the permissions the process umask gives.

``tempfile.mkstemp`` creates files with mode 0600 whatever the umask, so a results folder, report or cache
written through it would be unreadable to everyone else sharing it. Every temp file that is renamed into
place gets ``0o666 & ~umask`` first (``0o777 & ~umask`` for folders made with ``mkdtemp``), as a plain
``open(path, "w")`` would.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from .errors import UserError

__all__ = [
    "OutputPathError",
    "apply_umask",
    "atomic_write",
    "check_writable_dir",
    "check_writable_file",
    "current_umask",
    "dir_mode",
    "file_mode",
    "local_path",
    "mkstemp",
    "object_store_uri",
]


class OutputPathError(UserError, ValueError):
    """An output path that cannot be written (a file where a folder is needed, no permission): one line, exit 2."""


def current_umask() -> int:
    """The process umask, read without changing it where the OS tells it (Linux /proc), else set and restored."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def file_mode() -> int:
    """Mode of a new regular file under the current umask (0644 with the usual 022)."""
    return 0o666 & ~current_umask()


def dir_mode() -> int:
    """Mode of a new folder under the current umask (0755 with the usual 022)."""
    return 0o777 & ~current_umask()


def apply_umask(path: Path | str, directory: bool | None = None) -> None:
    """chmod a file (or folder) made by mkstemp/mkdtemp to what the umask gives ordinary ones."""
    path = Path(path)
    is_dir = path.is_dir() if directory is None else directory
    os.chmod(path, dir_mode() if is_dir else file_mode())


def mkstemp(path: Path, suffix: str = ".tmp") -> tuple[int, str]:
    """A temp file beside `path` (same folder, so os.replace is atomic), already with the umask's mode."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    try:
        os.chmod(tmp, file_mode())
    except BaseException:
        os.close(fd)
        Path(tmp).unlink(missing_ok=True)
        raise
    return fd, tmp


def atomic_write(path: Path | str, data: str | bytes, fsync: bool = False) -> None:
    """Write `data` to `path` via a temp file + rename: a reader sees the old file or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = mkstemp(path)
    except OSError as e:
        raise _naming(e, path) from e
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and e.errno is not None:
            raise _naming(e, path) from e
        raise


def _naming(e: OSError, path: Path) -> OSError:
    """`e` naming `path`: a failed write (disk full) names no file, or only the hidden temp file."""
    return OSError(e.errno, e.strerror, str(path))  # the errno picks the subclass (PermissionError, ...)


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:")


def object_store_uri(path: Path | str | None) -> str | None:
    """`path` as an object-store URI (``s3://bucket/x``, also where a Path folded ``//`` into ``s3:/bucket/x``);
    None for a local path. ``file://`` names a local folder, so it is None too (see `local_path`)."""
    if path is None:
        return None
    text = str(path)
    first = text.split("/", 1)[0]
    if "://" not in text and not (_SCHEME.fullmatch(first) and len(first) > 2):  # `C:` (a drive) is a local path
        return None
    uri = text if "://" in text else text.replace(":/", "://", 1)
    return None if uri.lower().startswith("file://") else uri.rstrip("/")


def local_path(path: Path | str) -> Path:
    """A local path, from a ``file://`` URI too."""
    text = str(path)
    if text.lower().startswith("file:/"):
        text = "/" + text[len("file:") :].lstrip("/")
    return Path(text)


def check_local(path: Path | str, option: str) -> None:
    """Refuse a URL given where a local folder is needed: `s3://bucket/x` would otherwise become a local folder
    named `s3:` (a path keeps one slash of `//`), and the results or embeddings would silently stay on this disk."""
    text = str(path)
    first = text.split("/", 1)[0]
    if "://" in text or (_SCHEME.fullmatch(first) and len(first) > 2):  # `C:` (a drive) is a local path
        shown = text if "://" in text else text.replace(":/", "://", 1)
        raise OutputPathError(
            f"{option} {shown}: is a URL; {option} needs a local or mounted folder (object storage is not "
            "supported here)"
        )


def check_writable_dir(path: Path, option: str) -> None:
    """A folder leafbench will write into: not a file, and writable (or creatable) - checked before any work,
    so a typo in --output fails now, not after hours of encoding."""
    target = Path(path).expanduser()
    check_local(target, option)
    if target.exists() and not target.is_dir():
        raise OutputPathError(f"{option} {target}: is a file, not a folder")
    probe = target
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        raise OutputPathError(f"{option} {target}: {probe} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as e:
        raise OutputPathError(f"{option} {target}: cannot write in {probe} ({e.strerror or e})") from None


def check_writable_file(path: Path, option: str) -> None:
    """A file leafbench will (over)write: not a folder, in a folder that can be written."""
    target = Path(path).expanduser()
    if target.is_dir():
        raise OutputPathError(f"{option} {target}: is a folder, not a file")
    check_writable_dir(target.parent, option)
