"""Where task files are: a local folder (a `Path`, read exactly as always), or a URL (``s3://bucket/prefix``,
``gs://…``, ``memory://…``, any fsspec scheme) read through a pyarrow filesystem, the one the embedding store
opens too (`leafbench.object_storage`: endpoint, region and credentials from the environment).

A `RemotePath` has the few pathlib methods the BEIR readers use (joins, names, is_file/is_dir, listing, open), so
one reader serves both and its messages name the URL as they name a local file. `--data-dir`, `LEAFBENCH_DATA_DIR`
and the library's ``data_dir`` become one of the two through :func:`data_location`.
"""

from __future__ import annotations

import fnmatch
import io
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Union, overload

from ..files import local_path, object_store_uri
from ..object_storage import ObjectStorageError, arrow_filesystem, endpoint, one_line, split_uri, url_scheme
from .errors import DataError

__all__ = [
    "DataPath",
    "RemotePath",
    "arrow_source",
    "check_data_dir",
    "data_location",
    "file_size",
    "listing",
    "open_data_dir",
    "source_name",
]

READ_BUFFER = 1 << 20  # bytes per read from object storage: lines are split from this buffer, not fetched one by one


@dataclass(frozen=True, order=True)
class RemotePath:
    """A file or folder at a URL, with the pathlib methods the BEIR readers use, over a pyarrow filesystem."""

    url: str  # scheme://bucket/key, no trailing slash: what messages name
    fs: Any = field(compare=False, repr=False)
    path: str = field(compare=False, repr=False)  # the same place as `fs` names it

    @classmethod
    def at(cls, url: str) -> RemotePath:
        """The place `url` names, its filesystem opened once (children share it: one client, one set of settings)."""
        try:
            fsys, path = arrow_filesystem(url)
        except ObjectStorageError as e:
            raise DataError(str(e)) from None
        return cls(url, fsys, path)

    def __str__(self) -> str:
        return self.url

    def __truediv__(self, other: str) -> RemotePath:
        return self.joinpath(other)

    def joinpath(self, *others: str) -> RemotePath:
        """`self` / others, as Path joins them (object-store keys are always ``/``-separated)."""
        rel = "/".join(p.strip("/") for p in others if p.strip("/"))
        return RemotePath(f"{self.url}/{rel}", self.fs, f"{self.path.rstrip('/')}/{rel}") if rel else self

    @property
    def parts(self) -> tuple[str, ...]:
        """(bucket, key segments...): what `data.names` matches a task's folder name against."""
        return tuple(self.url.split("://", 1)[1].split("/"))

    @property
    def name(self) -> str:
        return self.parts[-1]

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.name).suffix

    @property
    def stem(self) -> str:
        return PurePosixPath(self.name).stem

    @property
    def parent(self) -> RemotePath:
        if len(self.parts) < 2:  # the bucket is its own parent, as / is
            return self
        return RemotePath(self.url.rsplit("/", 1)[0], self.fs, self.path.rstrip("/").rsplit("/", 1)[0])

    def expanduser(self) -> RemotePath:
        """A URL has no ``~``: itself (so code written for Path works unchanged)."""
        return self

    def resolve(self) -> RemotePath:
        """A URL has no symlinks or relative parts: itself."""
        return self

    def _type(self) -> Any:
        try:
            return self.fs.get_file_info(self.path).type
        except OSError as e:
            raise DataError(f"{self.url}: cannot read ({one_line(e)})") from None

    def is_file(self) -> bool:
        from pyarrow.fs import FileType

        return self._type() == FileType.File

    def is_dir(self) -> bool:
        from pyarrow.fs import FileType

        return self._type() == FileType.Directory

    def size(self) -> int:
        try:
            return int(self.fs.get_file_info(self.path).size or 0)
        except OSError as e:
            raise DataError(f"{self.url}: cannot read ({one_line(e)})") from None

    def _entries(self, missing_ok: bool = True) -> list[Any]:
        """The folder's entries (pyarrow FileInfo), one listing request; none for a missing folder (`missing_ok`,
        as Path.glob finds nothing there), else FileNotFoundError."""
        from pyarrow.fs import FileSelector

        try:
            return sorted(self.fs.get_file_info(FileSelector(self.path)), key=lambda i: i.base_name)
        except FileNotFoundError:
            if missing_ok:
                return []
            raise
        except OSError as e:
            raise DataError(f"{self.url}: cannot list ({one_line(e)})") from None

    def iterdir(self) -> list[RemotePath]:
        return [self / i.base_name for i in self._entries()]

    def glob(self, pattern: str) -> list[RemotePath]:
        """The entries whose names match `pattern` (one level, as the readers' ``*.parquet`` / ``*.tsv``)."""
        return [self / i.base_name for i in self._entries() if fnmatch.fnmatchcase(i.base_name, pattern)]

    def open(self, mode: str = "rb") -> BinaryIO:
        """A buffered binary reader (lines iterate as from a local file)."""
        if mode != "rb":
            raise ValueError(f"{self.url}: task files are read only (mode {mode!r})")
        try:
            stream = self.fs.open_input_stream(self.path)
        except OSError as e:
            raise DataError(f"{self.url}: cannot read ({one_line(e)})") from None
        return io.BufferedReader(stream, buffer_size=READ_BUFFER)  # type: ignore[arg-type]


#: A task file or folder: local, or at a URL.
DataPath = Union[Path, RemotePath]


@overload
def data_location(value: None, option: str = ...) -> None: ...
@overload
def data_location(value: DataPath | str | os.PathLike[str], option: str = ...) -> DataPath: ...
def data_location(value: DataPath | str | os.PathLike[str] | None, option: str = "--data-dir") -> DataPath | None:
    """`value` as a local `Path` or a `RemotePath`: a URL with a scheme (``s3://…``; also ``s3:/…``, which is what
    a `Path` makes of ``s3://``) is remote, ``file://`` is local. ``s3:foo`` (no ``//``) is refused rather than read
    as a local folder; a local folder of that name is ``./s3:foo``."""
    if value is None or isinstance(value, RemotePath):
        return value
    text = os.fspath(value)
    scheme = url_scheme(text)
    if scheme is None:
        return Path(text).expanduser()
    if scheme in ("file", "local"):
        return local_path(text.replace(f"{scheme}:", "file:", 1)).expanduser()
    rest = text[len(scheme) + 1 :]
    if not rest.startswith("/"):
        raise DataError(
            f"{option} {text}: not a URL ({scheme}://bucket/path) and not a local path; "
            f"for a local folder of that name write ./{text}"
        )
    url = object_store_uri(text) or text
    _, bucket, _ = split_uri(url)
    if not bucket:
        raise DataError(f"{option} {text}: no bucket named; expected {scheme}://bucket/path")
    return RemotePath.at(url)


def check_data_dir(location: DataPath) -> DataPath:
    """A data dir that is a folder: one DataError naming it otherwise (for a URL: an unreachable endpoint, a
    missing bucket or prefix, wrong credentials), before any task is looked up there."""
    if isinstance(location, Path):
        if not location.is_dir():
            raise DataError(f"{location}: data dir does not exist")
        return location
    from pyarrow.fs import FileType

    scheme, bucket, _ = split_uri(location.url)
    where = f"bucket {bucket!r}" + (f" at {endpoint()}" if scheme == "s3" and endpoint() else "")
    try:
        kind = location.fs.get_file_info(location.path).type
    except (OSError, ValueError) as e:
        raise DataError(
            f"{location}: cannot reach {where} ({one_line(e)}); check the endpoint and credentials"
        ) from None
    if kind == FileType.NotFound:
        raise DataError(
            f"{location}: data dir does not exist (nothing stored under it in {where}, or these credentials "
            "cannot see it)"
        )
    if kind != FileType.Directory:
        raise DataError(f"{location}: data dir is a file, not a folder")
    return location


def open_data_dir(value: DataPath | str | os.PathLike[str] | None, option: str = "--data-dir") -> DataPath | None:
    """`value` as a data dir (:func:`data_location`); a URL is checked at once (:func:`check_data_dir`), since an
    unreachable one would otherwise fail as a request per task looked up. A local one is checked where a task
    is looked up, as it always was."""
    location = data_location(value, option) if value is not None else None
    return check_data_dir(location) if isinstance(location, RemotePath) else location


def listing(folder: DataPath) -> list[str]:
    """A folder's entry names (folders with a trailing ``/``), for 'missing file' messages; OSError if unreadable."""
    if isinstance(folder, RemotePath):
        from pyarrow.fs import FileType

        return [i.base_name + ("/" if i.type == FileType.Directory else "") for i in folder._entries(missing_ok=False)]
    return sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())


def file_size(path: DataPath) -> int:
    """Bytes of a file, local or remote."""
    return path.size() if isinstance(path, RemotePath) else path.stat().st_size


def source_name(folder: DataPath) -> str:
    """How results name a folder's data before `leafbench.record` makes it relative: absolute path or URL."""
    return folder.url if isinstance(folder, RemotePath) else os.path.abspath(folder)


def arrow_source(path: DataPath) -> tuple[Path | str, Any]:
    """(path, pyarrow filesystem or None) as pyarrow's and Ray Data's readers take them: the filesystem travels with
    the path, so a reader in another process opens the same place with the same endpoint."""
    return (path.path, path.fs) if isinstance(path, RemotePath) else (path, None)
