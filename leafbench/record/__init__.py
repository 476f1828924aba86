"""The one result schema: what a result file and a run manifest hold, where they live, and how they are read.

A result file is an mteb TaskResult JSON (``mteb.TaskResult.from_disk`` reads it; the extra block is ignored, so
the mteb ecosystem can consume them) with a ``leafbench`` block, written atomically (:func:`write_result`).
That block is a :class:`ResultRecord`, built by its constructor (retrieval, mteb evaluators and aggregates all
go through it) and read back by :meth:`ResultRecord.from_dict`, so no reader guesses at keys. Each run folder
has a ``run.json``, a :class:`RunManifest`. Both carry ``schema_version``: files without one were written by
the first format (version 1's keys, read as is); a newer version than this code knows is refused, naming the
file, rather than half-read. A results folder is read by :func:`leafbench.results.load_results`.

Names: ``<output>/<run>/<mode>/<Task>[__<cell>].json`` and ``<output>/<run>/run.json``, where ``<run>`` is
:func:`run_folder_name` (the student's slug, ``+<teacher slug>`` for a pair, ``@<backend>`` off torch,
``__<protocol>`` for a subset or another split); a name too
long for the filesystem is shortened by :func:`fit_name`. Nothing else builds these paths.

No absolute machine paths are written: data is named by its path relative to ``--data-dir`` (else its last
folders) plus its content fingerprint; a local model by its folder name plus its weights hash
(``identity``); see :func:`portable_path` and :func:`relativize`.

Modules: ``names`` (folders and file names), ``paths`` (portable paths), ``scores`` (main scores and the
selection they are taken on), ``schema`` (:class:`ResultRecord`), ``result_file`` (build, write, read a result
file), ``manifest`` (:class:`RunManifest`). Every public name is importable from ``leafbench.record``.
"""

from __future__ import annotations

from .manifest import RunManifest, cell_names
from .names import (
    MAX_NAME_BYTES,
    RUN_MANIFEST_NAME,
    fit_name,
    protocol_suffix,
    result_path,
    run_folder_name,
    run_manifest_path,
)
from .paths import data_roots, is_absolute_path, portable_path, relativize
from .result_file import (
    build_result,
    check_main_scores,
    combine_aggregate,
    is_result,
    read_record,
    read_result,
    result_files,
    write_result,
)
from .schema import DEFAULT_CELL, SCHEMA_VERSION, ResultRecord, SchemaError, model_block
from .scores import SCORE_RANGE, main_score, real_score, scored_selection

__all__ = [
    "DEFAULT_CELL",
    "MAX_NAME_BYTES",
    "SCHEMA_VERSION",
    "RUN_MANIFEST_NAME",
    "ResultRecord",
    "RunManifest",
    "SchemaError",
    "SCORE_RANGE",
    "build_result",
    "cell_names",
    "check_main_scores",
    "combine_aggregate",
    "data_roots",
    "fit_name",
    "is_absolute_path",
    "is_result",
    "main_score",
    "model_block",
    "portable_path",
    "read_record",
    "read_result",
    "real_score",
    "relativize",
    "result_files",
    "result_path",
    "protocol_suffix",
    "run_folder_name",
    "run_manifest_path",
    "scored_selection",
    "write_result",
]
