"""Portable paths: no absolute machine path is written into a result or manifest.

Data is named by its path relative to ``--data-dir`` (else its last folders) plus its content fingerprint; a
local model by its folder name plus its weights hash (``identity``). A data dir at a URL (``s3://bucket/prefix``)
is a root like a local one: the same files name themselves alike wherever they are read from.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

_WIN_ABS = re.compile(r"^[A-Za-z]:[\\/]")
# An absolute path inside a longer string (a message, "file:line"): "/a/b" at the start or after a space, quote,
# bracket or "=" (so "hf:org/name", "a/b" and "mteb/<type>/<task>" are left alone), or a drive-letter path.
_ABS_IN_TEXT = re.compile(r"""(?:^|(?<=[\s('"=\[]))(?:/|[A-Za-z]:[\\/])[^\s:;,'"()\[\]{}<>]+""")
_URL_REST = r"""(?=$|[/\s:;,'"()\[\]{}<>])(?:/([^\s:;,'"()\[\]{}<>]+))?"""  # after a URL root: its path, if any


def is_absolute_path(s: str) -> bool:
    """A string that names a machine path: starts with / or a drive letter, or holds /work/, /home/, /tmp/."""
    return s.startswith("/") or bool(_WIN_ABS.match(s)) or any(x in s for x in ("/work/", "/home/", "/tmp/"))


def _parts(path: str) -> tuple[str, ...]:
    p = PureWindowsPath(path) if _WIN_ABS.match(path) else PurePosixPath(path)
    return tuple(x for x in p.parts[1:] if x)


def portable_path(path: str | os.PathLike[str], roots: Mapping[str, str] | None = None) -> str:
    """`path` without the machine: relative to the first of `roots` ({absolute folder: label}) that holds it
    (the root itself becomes its label), else its last two folders (one for a short path). Relative paths
    and non-paths (``hf:org/name@rev``) are returned as they are."""
    s = os.fspath(path)
    if "://" in s:
        return _url_relative(s, roots or {})
    if not (s.startswith("/") or _WIN_ABS.match(s)):
        return s
    parts = _parts(s)
    for root, label in (roots or {}).items():
        rparts = _parts(os.fspath(root).rstrip("/\\") or "/")
        if parts[: len(rparts)] == rparts:
            rest = parts[len(rparts) :]
            return "/".join(rest) if rest else label
    if not parts:
        return "."
    return "/".join(parts[-2:] if len(parts) >= 3 else parts[-1:])


def _url_relative(text: str, roots: Mapping[str, str]) -> str:
    """`text` with each URL under a URL root (a data dir at ``s3://…``) named relative to it, as local paths are."""
    for root, label in roots.items():
        if "://" in root and root in text:
            text = re.sub(re.escape(root) + _URL_REST, lambda m, label=label: m.group(1) or label, text)
    return text


def relativize(obj: Any, roots: Mapping[str, str] | None = None) -> Any:
    """A JSON value with every absolute path replaced by :func:`portable_path` (whole strings and paths inside
    messages alike). Numbers and keys are untouched: it renames where data came from, never a score."""
    if isinstance(obj, Mapping):
        return {k: relativize(v, roots) for k, v in obj.items()}
    if isinstance(obj, list):
        return [relativize(v, roots) for v in obj]
    if isinstance(obj, str):
        if "://" in obj:
            obj = _url_relative(obj, roots or {})
        if (obj.startswith("/") or _WIN_ABS.match(obj)) and not any(c.isspace() for c in obj):
            # A bare path, possibly with a ":line" suffix (data warnings name file:line).
            m = re.match(r"^(.*?)(:\d+)?$", obj)
            assert m is not None
            return portable_path(m.group(1), roots) + (m.group(2) or "")
        if "/" in obj or "\\" in obj:  # a message naming a path ("no local copy of X under /data; ...")
            return _ABS_IN_TEXT.sub(lambda m: portable_path(m.group(0), roots), obj)
    return obj


def data_roots(data_dir: Path | str | object | None, folders: Iterable[str] = ()) -> dict[str, str]:
    """`relativize` roots for a run: paths under --data-dir (a folder or a URL) become relative to it (itself:
    "--data-dir"); paths in a data `folders` outside it are named from that folder (``my-corpus/qrels/test.tsv:4``)."""
    roots: dict[str, str] = {}
    if data_dir is not None and "://" in str(data_dir):
        roots[str(data_dir).rstrip("/")] = "--data-dir"
    elif data_dir is not None:
        for d in (os.path.abspath(os.fspath(data_dir)), os.path.realpath(os.fspath(data_dir))):  # type: ignore[arg-type]
            roots[d] = "--data-dir"
    for f in folders:
        if "://" in f:
            roots.setdefault(f.rstrip("/").rsplit("/", 1)[0], ".")
        elif os.path.isabs(f):
            roots.setdefault(os.path.dirname(os.path.abspath(f)), ".")
    return roots
