"""Where results live: run folder names, result and manifest paths, names fitted to the filesystem.

``<output>/<run>/<mode>/<Task>[__<cell>].json`` and ``<output>/<run>/run.json``, where ``<run>`` is
:func:`run_folder_name` (models, backend and data protocol); a name too long for the filesystem is shortened by :func:`fit_name`. Nothing else
builds these paths.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

RUN_MANIFEST_NAME = "run.json"
# Longest file or folder name leafbench makes, in bytes: filesystems allow 255, less the affixes of atomic_write's
# temp file (".<name>.<8 chars>.tmp") and of files named after a run folder (latency's "<run>.json").
MAX_NAME_BYTES = 200


def fit_name(name: str, suffix: str = "") -> str:
    """`name` + `suffix` as one file or folder name of at most MAX_NAME_BYTES: unchanged when it fits, else the
    longest prefix of `name` that fits with ``~`` and 10 hex digits of a hash of the whole name: still readable,
    one name per task or model (a 250-character BEIR folder name), the same on every run."""
    room = MAX_NAME_BYTES - len(suffix.encode())
    if len(name.encode()) <= room:
        return name + suffix
    tag = "~" + hashlib.blake2b(name.encode(), digest_size=5).hexdigest()
    return name.encode()[: room - len(tag)].decode("utf-8", "ignore") + tag + suffix


def run_folder_name(
    student_slug: str, teacher_slug: str | None = None, backend: str = "torch", protocol: str = ""
) -> str:
    """The run folder: results of a pair live under ``<student>+<teacher>`` whatever the mode (one folder holds a
    comparison); another backend's scores go under ``@<backend>`` so they never overwrite torch's, and a run on
    another data protocol (`protocol_suffix`: a query/document subset, another split) under ``__<protocol>``, so
    a 40-query run never replaces, nor is replaced by, the full task's."""
    name = student_slug if not teacher_slug else f"{student_slug}+{teacher_slug}"
    suffix = ("" if backend == "torch" else f"@{backend}") + (f"__{protocol}" if protocol else "")
    return fit_name(name, suffix)


def protocol_suffix(max_queries: int | None = None, max_docs: int | None = None, split: str | None = None) -> str:
    """The data protocol as a run folder names it: "" for the task's own split in full, else ``40q-300d``,
    ``split-train``, ``40q-300d-split-train``."""
    parts = [f"{max_queries}q"] if max_queries else []
    parts += [f"{max_docs}d"] if max_docs else []
    parts += [f"split-{split}"] if split else []
    return "-".join(parts)


def result_path(output: Path | str, run: str, mode: str, task_name: str, cell: str | None = None) -> Path:
    """``<output>/<run>/<mode>/<Task>[__<cell>].json``; `cell` is cells.file_label (None: full float32). A task
    name too long for one file name is shortened by :func:`fit_name` (the result still names the whole task)."""
    return Path(output) / run / mode / fit_name(task_name, (f"__{cell}" if cell else "") + ".json")


def run_manifest_path(output: Path | str, run: str) -> Path:
    return Path(output) / run / RUN_MANIFEST_NAME
