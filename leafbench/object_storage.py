"""Object-storage URLs (``s3://bucket/prefix``, ``gs://…``, ``memory://…``, any fsspec scheme) opened as pyarrow
filesystems, in one place for everything leafbench reads or writes there (the embedding store, task files).

Credentials, region and endpoint come from the usual environment variables (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``/``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL``; ``GOOGLE_*``; ``AZURE_*``).
S3 gets short timeouts, so a wrong endpoint fails in seconds; a scheme pyarrow has no filesystem for goes through
its fsspec driver.
"""

from __future__ import annotations

import os
import re
from typing import Any

from .errors import UserError

__all__ = ["ObjectStorageError", "arrow_filesystem", "endpoint", "one_line", "split_uri", "url_scheme"]

_SCHEME_PREFIX = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+):")


class ObjectStorageError(UserError):
    """A URL that cannot be opened (no driver for its scheme, a malformed URL); the message names it."""


def url_scheme(text: str) -> str | None:
    """The scheme `text` starts with when it reads as a URL (``s3://…``; also ``s3:foo``, a URL missing its
    ``//``) of a filesystem fsspec or pyarrow knows; None for a local path (``C:\\x``, ``notes:v2`` included)."""
    found = _SCHEME_PREFIX.match(text)
    if found is None:
        return None
    scheme = found.group(1).lower()
    if text[found.end() :].startswith("//"):
        return scheme
    from fsspec.registry import known_implementations

    return scheme if scheme in known_implementations else None


def split_uri(uri: str) -> tuple[str, str, str]:
    """(scheme, bucket, key prefix) of ``scheme://bucket/prefix``."""
    scheme, _, rest = uri.partition("://")
    bucket, _, prefix = rest.partition("/")
    return scheme.lower(), bucket, prefix.strip("/")


def endpoint() -> str | None:
    """The S3 endpoint the environment names (an S3-compatible server: MinIO, moto, a gateway)."""
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT")


def one_line(e: BaseException) -> str:
    """The first line of an error's message (pyarrow's and fsspec's run over many)."""
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def _s3(path: str) -> tuple[Any, str]:
    from pyarrow import fs

    kwargs: dict[str, Any] = {}
    url = endpoint()
    if url:
        kwargs["endpoint_override"] = url.split("://", 1)[-1]
        kwargs["scheme"] = "http" if url.startswith("http://") else "https"
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        kwargs["region"] = region
    retry = fs.AwsStandardS3RetryStrategy(max_attempts=2)
    return fs.S3FileSystem(connect_timeout=5, request_timeout=20, retry_strategy=retry, **kwargs), path


def _missing_driver(uri: str, scheme: str, e: ImportError) -> ObjectStorageError:
    """Which package to install for `scheme`, as fsspec's registry names it."""
    from fsspec.registry import known_implementations

    package = known_implementations.get(scheme, {}).get("class", "").split(".")[0]
    if package and package != "fsspec":
        return ObjectStorageError(f"{uri}: {scheme}:// needs {package}: pip install {package}")
    return ObjectStorageError(f"{uri}: {scheme}:// needs a package that is not installed ({one_line(e)})")


def arrow_filesystem(uri: str) -> tuple[Any, str]:
    """(pyarrow filesystem, path in it) for `uri`: pyarrow's own where it has one (S3 with the environment's
    endpoint and short timeouts), else the scheme's fsspec driver wrapped for pyarrow."""
    from pyarrow import fs

    scheme, bucket, prefix = split_uri(uri)
    if scheme == "s3":
        return _s3(f"{bucket}/{prefix}".rstrip("/"))
    try:
        return fs.FileSystem.from_uri(uri)
    except (ValueError, NotImplementedError, OSError):  # pyarrow without this scheme (az://, memory://)
        pass
    try:
        import fsspec

        ffs, path = fsspec.core.url_to_fs(uri)
    except ImportError as e:
        raise _missing_driver(uri, scheme, e) from None
    except (ValueError, OSError) as e:
        raise ObjectStorageError(f"{uri}: cannot open {scheme}:// ({one_line(e)})") from None
    return fs.PyFileSystem(fs.FSSpecHandler(ffs)), path
