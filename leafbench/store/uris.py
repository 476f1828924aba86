"""A store root on object storage (``s3://bucket/prefix``, ``gs://…``, ``az://…``): which schemes work, the options
Lance's object store needs beyond what it reads from the environment, a check that the bucket can be reached
(once, before any encoding), and the small marker files (``FORMAT-lance``) read and written through pyarrow's
filesystems (fsspec's for Azure). Lance itself is not imported here.

Credentials, region and endpoint come from the usual environment variables (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``/``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL``; ``GOOGLE_*``; ``AZURE_*``),
which Lance and pyarrow both read; leafbench passes on only the endpoint and, for an ``http://`` endpoint (MinIO,
moto, a local gateway), ``allow_http``.
"""

from __future__ import annotations

import os
from typing import Any

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


def split_uri(uri: str) -> tuple[str, str, str]:
    """(scheme, bucket, key prefix) of ``scheme://bucket/prefix``."""
    scheme, _, rest = uri.partition("://")
    bucket, _, prefix = rest.partition("/")
    return scheme.lower(), bucket, prefix.strip("/")


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


def _endpoint() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT")


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
    """(pyarrow filesystem, path) for `uri`; an S3 one with short timeouts, so a wrong endpoint fails in seconds."""
    from pyarrow import fs

    scheme, bucket, prefix = split_uri(uri)
    path = f"{bucket}/{prefix}".rstrip("/")
    if scheme == "s3":
        endpoint = _endpoint()
        kwargs: dict[str, Any] = {}
        if endpoint:
            kwargs["endpoint_override"] = endpoint.split("://", 1)[-1]
            kwargs["scheme"] = "http" if endpoint.startswith("http://") else "https"
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if region:
            kwargs["region"] = region
        retry = fs.AwsStandardS3RetryStrategy(max_attempts=2)
        return fs.S3FileSystem(connect_timeout=5, request_timeout=20, retry_strategy=retry, **kwargs), path
    try:
        return fs.FileSystem.from_uri(uri)
    except (ValueError, NotImplementedError, OSError):  # pyarrow without this scheme (az://): fsspec's driver
        pass
    package = OBJECT_SCHEMES.get(scheme)
    try:
        import fsspec

        return fs.PyFileSystem(fs.FSSpecHandler(fsspec.filesystem(scheme))), path
    except ImportError:
        raise StoreError(
            f"{uri}: reading the store's format marker on {scheme}:// needs {package or 'an fsspec driver'}: "
            f"pip install {package or 'fsspec'}"
        ) from None
    except (ValueError, OSError) as e:
        raise StoreError(f"{uri}: cannot open {scheme}:// ({_one_line(e)})") from None


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


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
