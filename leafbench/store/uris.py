"""A store root on object storage (``s3://bucket/prefix``, ``gs://…``, ``az://…``): which schemes work, the options
Lance's object store needs beyond what it reads from the environment, a check that the bucket can be reached
(once, before any encoding), and the small marker files (``FORMAT-lance``) read and written through pyarrow's
filesystems (fsspec's for Azure), opened by `leafbench.object_storage`. Lance itself is not imported here.

Credentials, region and endpoint come from the usual environment variables (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``/``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL``; ``GOOGLE_*``; ``AZURE_*``),
which Lance and pyarrow both read; leafbench passes on only the endpoint and, for an ``http://`` endpoint (MinIO,
moto, a local gateway), ``allow_http``.
"""

from __future__ import annotations

from typing import Any

from ..object_storage import ObjectStorageError, arrow_filesystem, split_uri
from ..object_storage import endpoint as _endpoint
from ..object_storage import one_line as _one_line
from .errors import StoreError

__all__ = [
    "OBJECT_SCHEMES",
    "check_reachable",
    "filesystem",
    "is_uri",
    "read_uri_marker",
    "storage_options_from_env",
    "write_uri_marker",
]

#: Object-store schemes Lance writes to, and the package that reads their small files where pyarrow cannot.
OBJECT_SCHEMES: dict[str, str | None] = {"s3": None, "gs": None, "az": "adlfs"}


def is_uri(root: object) -> bool:
    """True for an object-store URI (``file://`` is a local folder)."""
    return isinstance(root, str) and "://" in root and not root.startswith("file://")


def check_scheme(uri: str) -> str:
    """The scheme of `uri`, or a StoreError naming the schemes Lance supports."""
    scheme, bucket, _ = split_uri(uri)
    if scheme not in OBJECT_SCHEMES:
        raise StoreError(
            f"{uri}: the Lance store has no object store for {scheme}:// (supported: "
            f"{', '.join(s + '://' for s in OBJECT_SCHEMES)} or a local folder)"
        )
    if not bucket:
        raise StoreError(f"{uri}: no bucket named; expected {scheme}://bucket/prefix")
    return scheme


def storage_options_from_env(uri: str) -> dict[str, str]:
    """Options for Lance's object store beyond what it reads from the environment itself (AWS_*, GOOGLE_*,
    AZURE_*): an S3 endpoint, and ``allow_http`` where that endpoint is ``http://`` (refused otherwise)."""
    opts: dict[str, str] = {}
    endpoint = _endpoint()
    if uri.startswith("s3://") and endpoint:
        opts["aws_endpoint"] = endpoint
        if endpoint.startswith("http://"):
            opts["allow_http"] = "true"
    return opts


def filesystem(uri: str) -> tuple[Any, str]:
    """(pyarrow filesystem, path) for `uri` (`leafbench.object_storage`, shared with the task-file readers)."""
    try:
        return arrow_filesystem(uri)
    except ObjectStorageError as e:
        raise StoreError(str(e)) from None


def check_reachable(uri: str) -> None:
    """The bucket of `uri` exists and can be read with these credentials: one StoreError naming the bucket (and
    the endpoint) otherwise, before any encoding."""
    from pyarrow import fs

    scheme = check_scheme(uri)
    ofs, _ = filesystem(uri)
    _, bucket, _ = split_uri(uri)
    where = f"bucket {bucket!r}" + (f" at {_endpoint()}" if scheme == "s3" and _endpoint() else "")
    try:
        info = ofs.get_file_info(bucket)
    except (OSError, ValueError) as e:
        raise StoreError(f"{uri}: cannot reach {where} ({_one_line(e)}); check the endpoint and credentials") from None
    if info.type == fs.FileType.NotFound:
        raise StoreError(f"{uri}: {where} does not exist (or these credentials cannot see it); create it first")


def read_uri_marker(uri: str) -> int | None:
    """The format number in the marker file at `uri`; None where there is none."""
    ofs, path = filesystem(uri)
    try:
        with ofs.open_input_stream(path) as f:
            text = f.read().decode("ascii", "replace").strip()
    except FileNotFoundError:
        return None
    except OSError as e:
        if "not found" in str(e).lower() or "nosuchkey" in str(e).lower():
            return None
        raise StoreError(f"{uri}: cannot read the store format marker ({_one_line(e)})") from None
    try:
        return int(text or 0)
    except ValueError:
        raise StoreError(f"{uri}: not a leafbench store format marker") from None


def write_uri_marker(uri: str, fmt: int) -> None:
    """Write a marker file (one object put: a reader sees none or all of it)."""
    ofs, path = filesystem(uri)
    try:
        with ofs.open_output_stream(path) as f:
            f.write(f"{fmt}\n".encode())
    except OSError as e:
        raise StoreError(f"{uri}: cannot write the store format marker ({_one_line(e)})") from None
