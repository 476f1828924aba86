"""The one result schema: what a result file and a run manifest hold, where they live, and how they are read.

A result file is an mteb TaskResult JSON (``mteb.TaskResult.from_disk`` reads it; the extra block is ignored, so
the mteb ecosystem can consume them) with a ``leafbench`` block, written atomically (:func:`write_result`).
That block is a :class:`ResultRecord`, built by its constructor (retrieval, mteb evaluators and aggregates all
go through it) and read back by :meth:`ResultRecord.from_dict`, so no reader guesses at keys. Each run folder
has a ``run.json``, a :class:`RunManifest`. Both carry ``schema_version``: files without one were written by
the first format (version 1's keys, read as is); a newer version than this code knows is refused, naming the
file, rather than half-read.

Names: ``<output>/<run>/<mode>/<Task>[__<cell>].json`` and ``<output>/<run>/run.json``, where ``<run>`` is
:func:`run_folder_name` (the student's slug, ``+<teacher slug>`` for a pair, ``@<backend>`` off torch); a name too
long for the filesystem is shortened by :func:`fit_name`. Nothing else builds these paths.

No absolute machine paths are written: data is named by its path relative to ``--data-dir`` (else its last
folders) plus its content fingerprint; a local model by its folder name plus its weights hash
(``identity``); see :func:`portable_path` and :func:`relativize`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from .errors import UserError

SCHEMA_VERSION = 1
RUN_MANIFEST_NAME = "run.json"
DEFAULT_CELL = "full-float32"

__all__ = [
    "SCHEMA_VERSION",
    "RUN_MANIFEST_NAME",
    "ResultRecord",
    "RunManifest",
    "SchemaError",
    "SCORE_RANGE",
    "build_result",
    "check_main_scores",
    "combine_aggregate",
    "fit_name",
    "is_absolute_path",
    "iter_results",
    "main_score",
    "model_block",
    "portable_path",
    "read_record",
    "read_result",
    "real_score",
    "relativize",
    "result_path",
    "run_folder_name",
    "run_manifest_path",
    "scored_selection",
    "write_result",
]


class SchemaError(UserError):
    """A result or manifest this version cannot read (newer schema_version, not a leafbench file): one line."""


# ------------------------------------------------------------------------------------------------ names


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


def run_folder_name(student_slug: str, teacher_slug: str | None = None, backend: str = "torch") -> str:
    """The run folder: results of a pair live under ``<student>+<teacher>`` whatever the mode (one folder holds a
    comparison); another backend's scores go under ``@<backend>`` so they never overwrite torch's."""
    name = student_slug if not teacher_slug else f"{student_slug}+{teacher_slug}"
    return fit_name(name, "" if backend == "torch" else f"@{backend}")


def result_path(output: Path | str, run: str, mode: str, task_name: str, cell: str | None = None) -> Path:
    """``<output>/<run>/<mode>/<Task>[__<cell>].json``; `cell` is cells.file_label (None: full float32). A task
    name too long for one file name is shortened by :func:`fit_name` (the result still names the whole task)."""
    return Path(output) / run / mode / fit_name(task_name, (f"__{cell}" if cell else "") + ".json")


def run_manifest_path(output: Path | str, run: str) -> Path:
    return Path(output) / run / RUN_MANIFEST_NAME


# ------------------------------------------------------------------------------------- portable paths

_WIN_ABS = re.compile(r"^[A-Za-z]:[\\/]")
# An absolute path inside a longer string (a message, "file:line"): "/a/b" at the start or after a space, quote,
# bracket or "=" (so "hf:org/name", "a/b" and "mteb/<type>/<task>" are left alone), or a drive-letter path.
_ABS_IN_TEXT = re.compile(r"""(?:^|(?<=[\s('"=\[]))(?:/|[A-Za-z]:[\\/])[^\s:;,'"()\[\]{}<>]+""")


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


def relativize(obj: Any, roots: Mapping[str, str] | None = None) -> Any:
    """A JSON value with every absolute path replaced by :func:`portable_path` (whole strings and paths inside
    messages alike). Numbers and keys are untouched: it renames where data came from, never a score."""
    if isinstance(obj, Mapping):
        return {k: relativize(v, roots) for k, v in obj.items()}
    if isinstance(obj, list):
        return [relativize(v, roots) for v in obj]
    if isinstance(obj, str):
        if (obj.startswith("/") or _WIN_ABS.match(obj)) and not any(c.isspace() for c in obj):
            # A bare path, possibly with a ":line" suffix (data warnings name file:line).
            m = re.match(r"^(.*?)(:\d+)?$", obj)
            assert m is not None
            return portable_path(m.group(1), roots) + (m.group(2) or "")
        if "/" in obj or "\\" in obj:  # a message naming a path ("no local copy of X under /data; ...")
            return _ABS_IN_TEXT.sub(lambda m: portable_path(m.group(0), roots), obj)
    return obj


def data_roots(data_dir: Path | str | None, folders: Iterable[str] = ()) -> dict[str, str]:
    """`relativize` roots for a run: paths under --data-dir become relative to it (itself: "--data-dir"); paths
    in a data `folders` outside it are named from that folder (``my-corpus/qrels/test.tsv:4``)."""
    roots: dict[str, str] = {}
    if data_dir is not None:
        for d in (os.path.abspath(os.fspath(data_dir)), os.path.realpath(os.fspath(data_dir))):
            roots[d] = "--data-dir"
    for f in folders:
        if os.path.isabs(f):
            roots.setdefault(os.path.dirname(os.path.abspath(f)), ".")
    return roots


# ------------------------------------------------------------------------------------------ records


def model_block(enc: Any, roots: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """A model as results name it: hub id + revision, or (local) its folder name + weights hash (``identity``);
    never the absolute folder."""
    if enc is None:
        return None
    spec = enc.spec
    return {
        "name": portable_path(spec.name, roots),
        "source": portable_path(spec.source, roots),
        "hf_id": spec.hf_id,
        "revision": spec.revision,
        # False: a hub model whose commit could not be resolved (offline, not in the cache): a moving target.
        "pinned": getattr(spec, "pinned", True) if not spec.local else None,
        **({"revision_from": spec.extra["revision_from"]} if (spec.extra or {}).get("revision_from") else {}),
        "identity": enc.identity,
        "max_seq_length": spec.max_seq_length,
        "precision": spec.precision,
        "backend": spec.backend,
        **({"backend_info": relativize(enc.backend_info, roots)} if getattr(enc, "backend_info", None) else {}),
    }


# Fields always written (null when not applicable), in this order; every other field is written only when set.
_ALWAYS = (
    "schema_version",
    "mode",
    "task_type",
    "student",
    "teacher",
    "full_dim",
    "dim",
    "dtype",
    "cell",
    "variant",
    "calibration",
    "similarity",
    "scoring",
    "data_source",
    "data_fingerprint",
    "provenance",
    "split",
)


@dataclass
class ResultRecord:
    """The ``leafbench`` block of a result file: how a score was measured (mode, models, cell, data, protocol)
    and what it cost. Retrieval, mteb-evaluator and aggregate results share it; fields a kind does not have
    stay None and are not written. Context fields (``task_name``, ``run``, ``path``, ``main_score``) are filled
    by :func:`read_record` and never written into the block."""

    mode: str
    task_type: str
    dtype: str = "float32"
    cell: str = DEFAULT_CELL
    dim: int | None = None
    full_dim: int | None = None
    variant: str | None = None
    calibration: str | None = None
    similarity: str = "cosine"
    scoring: str | None = None
    student: dict[str, Any] | None = None
    teacher: dict[str, Any] | None = None
    data_source: Any = None  # relative to --data-dir, "hf:<path>@<revision>", or {subset: source}
    data_fingerprint: str | None = None
    provenance: str | None = None
    split: str | None = None
    eval_splits: list[str] | None = None
    hf_subsets: list[str] | None = None
    selected_by: str | None = None
    subset: dict[str, Any] | None = None  # --max-queries/--max-docs cut
    # retrieval
    query_model: str | None = None
    document_model: str | None = None
    prompts: dict[str, str] | None = None
    rescore: int | None = None
    search: str | None = None
    top_k: int | None = None
    main_metric: str | None = None
    data_warnings: dict[str, Any] | None = None
    n_queries: int | None = None
    n_documents: int | None = None
    ignore_identical_ids: bool | None = None
    throughput: dict[str, Any] | None = None
    encode_seconds: float | None = None
    score_seconds: float | None = None
    per_query: dict[str, dict[str, float]] | None = None
    # mteb evaluators (STS, classification, ...)
    roles_used: list[str] | None = None
    asymmetric_policy: str | None = None
    encode_calls: list[dict[str, Any]] | None = None
    n_encoded_now: int | None = None
    evaluation_seconds: float | None = None
    # aggregates (CQADupstackRetrieval) and their sub-tasks
    aggregate: str | None = None
    sub_tasks: dict[str, Any] | None = None
    aggregation: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # keys this version does not name (kept on round trip)
    schema_version: int = SCHEMA_VERSION
    # context, filled by read_record; not part of the block
    task_name: str | None = field(default=None, metadata={"context": True})
    run: str | None = field(default=None, metadata={"context": True})
    path: Path | None = field(default=None, metadata={"context": True})
    main_score: float | None = field(default=None, metadata={"context": True})
    mteb_version: str | None = field(default=None, metadata={"context": True})

    def update(self, values: Mapping[str, Any] | None) -> "ResultRecord":
        """Set named fields from `values` (a caller's ``extra``/``task_info``); other keys go to ``extra``."""
        known = {f.name for f in fields(self) if not f.metadata.get("context") and f.name != "extra"}
        for k, v in (values or {}).items():
            if k in known:
                setattr(self, k, v)
            else:
                self.extra[k] = v
        return self

    def to_dict(self) -> dict[str, Any]:
        """The block as written: the always-present fields (nulls included), then every other field that is set,
        then unknown keys read from an older or plugin-written file; no absolute machine path."""
        out: dict[str, Any] = {}
        names = [f.name for f in fields(self) if not f.metadata.get("context") and f.name != "extra"]
        for name in (*_ALWAYS, *[n for n in names if n not in _ALWAYS]):
            v = getattr(self, name)
            if name in _ALWAYS or v is not None:
                out[name] = v
        out.update(self.extra)
        # Paths the builders already made relative to --data-dir stay so; any other machine path left (a model
        # typed as a folder, a backend's export folder) is cut to its last folders.
        return relativize(out)

    @classmethod
    def from_dict(cls, block: Mapping[str, Any], *, where: str = "result") -> "ResultRecord":
        """Read a block; files without ``schema_version`` are the first format (same keys). A newer version is
        refused with a SchemaError naming `where`."""
        if not isinstance(block, Mapping):
            raise SchemaError(f"{where}: the leafbench block is not an object")
        version = block.get("schema_version", 1)
        if not isinstance(version, int) or isinstance(version, bool):
            raise SchemaError(f"{where}: schema_version {version!r} is not an integer")
        if version > SCHEMA_VERSION:
            raise SchemaError(
                f"{where}: result schema_version {version} is newer than this leafbench reads ({SCHEMA_VERSION}); "
                "upgrade leafbench to read it"
            )
        known = {f.name for f in fields(cls) if not f.metadata.get("context") and f.name != "extra"}
        kwargs = {k: v for k, v in block.items() if k in known}
        kwargs["schema_version"] = SCHEMA_VERSION
        kwargs.setdefault("mode", "")
        kwargs.setdefault("task_type", "")
        extra = {k: v for k, v in block.items() if k not in known}
        for k in ("dtype", "cell", "similarity"):  # written as null by nothing; never trust a null default
            if kwargs.get(k) is None:
                kwargs.pop(k, None)
        return cls(**kwargs, extra=extra)

    # ---- the readings every consumer needs, in one place (no `a or b or c` guesses elsewhere)

    @property
    def query_model_name(self) -> str | None:
        """The model that encoded queries (the only model on tasks without a query/document split)."""
        return self.query_model or (self.student or {}).get("name") or (self.teacher or {}).get("name")

    @property
    def document_model_name(self) -> str | None:
        return self.document_model or (self.teacher or {}).get("name") or (self.student or {}).get("name")

    @property
    def dim_label(self) -> str:
        """ "full", or the truncated dimension."""
        if self.cell.startswith("full") or (
            self.dim is not None and self.full_dim is not None and int(self.dim) == int(self.full_dim)
        ):
            return "full"
        return str(self.dim if self.dim is not None else self.cell.split("d-", 1)[0])

    @property
    def dtype_label(self) -> str:
        """dtype plus its variant ("binary (rescore10)"): a variant is its own column, never the default's."""
        return self.dtype + (f" ({self.variant})" if self.variant else "")

    def texts_per_s(self, side: str) -> float | None:
        return ((self.throughput or {}).get(side) or {}).get("texts_per_s")

    def to_row(self) -> dict[str, Any]:
        """One flat row (for :func:`leafbench.api.load_results` frames and tables)."""
        return {
            "run": self.run,
            "mode": self.mode,
            "task": self.task_name,
            "task_type": self.task_type,
            "dim": self.dim_label,
            "dtype": self.dtype_label,
            "score": self.main_score,
            "query_model": self.query_model_name,
            "document_model": self.document_model_name,
            "split": ",".join(self.eval_splits or ([self.split] if self.split else [])),
            "n_queries": self.n_queries,
            "n_documents": self.n_documents,
            "q_texts_per_s": self.texts_per_s("query"),
            "d_texts_per_s": self.texts_per_s("document"),
            "data_source": self.data_source,
            "data_fingerprint": self.data_fingerprint,
            "aggregate": self.aggregate,
            "schema_version": self.schema_version,
            "path": str(self.path) if self.path else None,
        }


def read_record(path: Path | str, data: Mapping[str, Any] | None = None) -> ResultRecord:
    """A result file's record with its context (task, run folder, main score); `data`: the parsed JSON when the
    caller has it. Not a leafbench result, a newer schema or no readable main score: an error naming the file."""

    path = Path(path)
    try:
        data = read_result(path) if data is None else data
    except ValueError as e:
        raise SchemaError(str(e)) from None
    if not isinstance(data, Mapping) or "leafbench" not in data or "scores" not in data:
        raise SchemaError(f"{path}: not a leafbench result (no scores and leafbench block)")
    rec = ResultRecord.from_dict(data["leafbench"], where=str(path))
    check_main_scores(data, str(path))
    rec.task_name = str(data.get("task_name") or path.stem.split("__")[0])
    rec.run = path.parent.parent.name
    rec.path = path
    rec.mteb_version = data.get("mteb_version")
    try:
        rec.main_score = main_score(dict(data))
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise SchemaError(f"{path}: result without a readable main score ({type(e).__name__}: {e})") from None
    return rec


# ------------------------------------------------------------------------------------------ manifest


@dataclass
class RunManifest:
    """``run.json``: what runs into one folder were asked for and what they could do, so reports can mark
    incomplete rows. Merged across runs (a rerun adds to it)."""

    source: str = ""
    tasks: list[str] = field(default_factory=list)
    types: dict[str, str] = field(default_factory=dict)
    evaluated: list[str] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    modes: list[str] = field(default_factory=list)
    cells: list[str] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "source": self.source,
            "tasks": self.tasks,
            "types": self.types,
            "evaluated": self.evaluated,
            "missing": self.missing,
            "skipped": self.skipped,
            "modes": self.modes,
            "cells": self.cells,
        }

    @classmethod
    def read(cls, output: Path | str, run: str) -> "RunManifest | None":
        """The run's manifest (None when there is none); a damaged or newer one is a UserError naming file:line."""
        path = run_manifest_path(output, run)
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise UserError(
                f"{path}:{e.lineno}: invalid run manifest JSON ({e.msg}); delete it (it only lists what "
                "earlier runs asked for) or restore it"
            ) from None
        except (OSError, UnicodeDecodeError) as e:
            raise UserError(f"{path}: cannot read the run manifest ({e})") from None
        lists = ("tasks", "evaluated", "modes", "cells")
        maps = ("missing", "types", "skipped")
        if not isinstance(data, dict) or not all(isinstance(data.get(k, []), (list, dict)) for k in (*lists, *maps)):
            raise UserError(
                f"{path}: not a leafbench run manifest; delete it (it only lists what earlier runs asked for)"
            )
        version = data.get("schema_version", 1)
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise SchemaError(
                f"{path}: run manifest schema_version {version!r} is newer than this leafbench reads "
                f"({SCHEMA_VERSION}); upgrade leafbench to read it"
            )
        return cls(
            source=str(data.get("source", "")),
            tasks=list(data.get("tasks", [])),
            types=dict(data.get("types", {})),
            evaluated=list(data.get("evaluated", [])),
            missing=dict(data.get("missing", {})),
            skipped=dict(data.get("skipped", {})),
            modes=list(data.get("modes", [])),
            cells=list(data.get("cells", [])),
        )

    def merged(
        self,
        *,
        source: str,
        tasks: Iterable[str],
        types: Mapping[str, str],
        evaluated: Iterable[str],
        missing: Mapping[str, str],
        skipped: Mapping[str, str],
        modes: Iterable[str],
        cells: Iterable[str],
    ) -> "RunManifest":
        """This manifest plus one more run's selection and outcome (a task evaluated now is no longer missing)."""
        done = set(evaluated)
        return RunManifest(
            source=source,
            tasks=sorted(set(self.tasks) | set(tasks)),
            types={**self.types, **types},
            evaluated=sorted(set(self.evaluated) | done),
            missing={k: v for k, v in {**self.missing, **missing}.items() if k not in done},
            skipped={**self.skipped, **skipped},
            modes=sorted(set(self.modes) | set(modes)),
            cells=sorted(set(self.cells) | set(cells)),
        )

    def write(self, output: Path | str, run: str, roots: Mapping[str, str] | None = None) -> Path:
        """Write atomically, machine paths (in `missing` messages, ...) made portable."""

        path = run_manifest_path(output, run)
        write_result(path, relativize(self.to_dict(), roots))
        return path


def cell_names(cells: Sequence[Any]) -> list[str]:
    """Manifest names of cells (cells.Cell): their label, or full-float32."""
    return [c.label or DEFAULT_CELL for c in cells]


# ------------------------------------------------------------------------------------------------ files


def _block(leafbench: ResultRecord | dict[str, Any]) -> dict[str, Any]:
    return leafbench.to_dict() if isinstance(leafbench, ResultRecord) else leafbench


def _mteb_task_or_none(task_name: str) -> Any:
    import mteb

    try:
        return mteb.get_task(task_name)
    except Exception:  # noqa: BLE001 - mteb raises several types for unknown names
        return None


def build_result(
    task_name: str,
    split: str,
    scores: dict[str, Any] | None,
    evaluation_time: float,
    leafbench: ResultRecord | dict[str, Any],
    *,
    by_subset: Mapping[str, dict[str, Any]] | None = None,
    revision: str | None = None,
    local_copy: bool = False,
) -> dict[str, Any]:
    """mteb TaskResult fields (built by mteb itself) + leafbench's provenance block.

    `scores` is one subset's scores; `by_subset` ({hf_subset: scores}) gives a multi-subset task one entry
    per subset, as mteb writes them. A task mteb does not know (a user's BEIR folder) gets the same
    TaskResult layout, with `revision` (its data fingerprint) as dataset revision and no languages. A `local_copy`
    of a task mteb knows (sizes not mteb's, data.mark_local_copies) records `revision` too, never mteb's revision.
    """
    import mteb
    from mteb.results import TaskResult

    subsets = dict(by_subset) if by_subset is not None else {"default": scores or {}}
    task = _mteb_task_or_none(task_name)
    if task is not None:
        tr = TaskResult.from_task_results(task, {split: subsets}, evaluation_time=evaluation_time)
        if local_copy:
            tr.dataset_revision = revision or "local"
    else:
        version = mteb.__version__
        tr = TaskResult(
            dataset_revision=revision or "local",
            task_name=task_name,
            mteb_version=version,
            scores={
                split: [
                    {**sc, "hf_subset": sub, "languages": [], "mteb_version": version} for sub, sc in subsets.items()
                ]
            },
            evaluation_time=evaluation_time,
        )
    data = json.loads(tr.model_dump_json())
    data["leafbench"] = _block(leafbench)
    return data


def combine_aggregate(
    task_name: str,
    sub_results: list[dict[str, Any]],
    leafbench: ResultRecord | dict[str, Any],
) -> dict[str, Any]:
    """An mteb aggregate task's result (CQADupstackRetrieval) from its sub-tasks' result dicts, combined by
    mteb's own `combine_task_results` (main score = mean of the sub-tasks' main scores)."""
    import mteb
    from mteb.results import TaskResult

    task = mteb.get_task(task_name)
    trs = [TaskResult.model_validate({k: v for k, v in r.items() if k != "leafbench"}) for r in sub_results]
    combined = task.combine_task_results(trs)
    data = json.loads(combined.model_dump_json())
    data["leafbench"] = _block(leafbench)
    return data


def write_result(path: Path, data: dict[str, Any]) -> None:
    """Write via a temp file + rename (an interrupted run never leaves a half-written result), with the mode the
    process umask gives ordinary files (results folders are often shared)."""
    from .files import atomic_write

    atomic_write(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def read_result(path: Path) -> dict[str, Any]:
    """A result (or manifest) JSON; unreadable or invalid files raise ValueError naming the file."""
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{e.lineno}: invalid result JSON ({e.msg})") from e
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: cannot read result ({e})") from e


def scored_selection(data: dict[str, Any]) -> tuple[list[str], list[str] | None]:
    """(splits, hf_subsets or None for all) a result was evaluated on, as its leafbench block records them.

    mteb task results record ``eval_splits`` and ``hf_subsets`` (a benchmark's task object restricts both);
    retrieval results record their one ``split`` (and ``hf_subsets`` for multi-subset tasks). A result that
    records no split is read only when it holds a single one: a file with several and no record (written
    before leafbench recorded them) is ambiguous and refused rather than read at "the first split it finds".
    """
    scores = data["scores"]
    lb = data.get("leafbench") or {}
    subsets = [str(s) for s in lb["hf_subsets"]] if lb.get("hf_subsets") else None
    if lb.get("eval_splits"):
        splits = [str(s) for s in lb["eval_splits"]]
    elif lb.get("split") in scores:
        splits = [lb["split"]]
    elif len(scores) == 1:
        splits = list(scores)
    else:
        raise ValueError(
            f"{data.get('task_name')}: scores for splits {sorted(scores)} but no record of which were evaluated "
            "(a result written before leafbench recorded eval_splits); re-run the task"
        )
    return splits, subsets


SCORE_RANGE = (-1.0, 1.0)  # mteb's main scores: rates and correlations (a correlation can be negative)


def real_score(value: Any, key: str = "main_score") -> float:
    """A main score as a float, or ValueError naming `key`: NaN, infinities, strings, booleans and values outside
    :data:`SCORE_RANGE` are not scores, and must never be shown, ranked or pass a regression check."""
    lo, hi = SCORE_RANGE
    # A comparison is False for NaN, so the range test also refuses NaN (and ±inf, and huge ints without overflow).
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise ValueError(f"{key} is {value!r}: a main score must be a finite number in [{lo:g}, {hi:g}]")
    return float(value)


def check_main_scores(data: Mapping[str, Any], where: str) -> None:
    """Every main score a result holds (all splits and subsets, read or not: an export copies them all) is a
    :func:`real_score`; otherwise a SchemaError naming `where` and the key."""
    scores = data.get("scores")
    if not isinstance(scores, Mapping):
        raise SchemaError(f"{where}: scores is not an object")
    for sp, entries in scores.items():
        if not isinstance(entries, list):
            raise SchemaError(f"{where}: scores.{sp} is not a list")
        for i, e in enumerate(entries):
            key = f"scores.{sp}[{i}].main_score"
            if not isinstance(e, Mapping) or "main_score" not in e:
                raise SchemaError(f"{where}: {key} is missing")
            try:
                real_score(e["main_score"], key)
            except ValueError as err:
                raise SchemaError(f"{where}: {err}") from None


def main_score(
    data: dict[str, Any],
    split: str | None = None,
    *,
    splits: list[str] | None = None,
    hf_subsets: list[str] | None = None,
) -> float:
    """A result's main score, the mean over its (split, hf subset) entries as mteb's TaskResult.get_score
    aggregates them, over the splits and subsets the result records as evaluated (``scored_selection``).

    `split` (one) or `splits` and `hf_subsets` pick another selection, e.g. a benchmark's: every selected
    split must be present, and so must every selected subset in each of them (ValueError otherwise), and each
    score read must be a :func:`real_score` (ValueError naming its key).
    """
    scores = data["scores"]
    rec_splits, rec_subsets = scored_selection(data)
    want_splits = [split] if split else (splits or rec_splits)
    want_subsets = hf_subsets if hf_subsets is not None else rec_subsets
    values: list[float] = []
    for sp in want_splits:
        if sp not in scores:
            raise ValueError(f"{data.get('task_name')}: no scores for split {sp!r} (has {sorted(scores)})")
        entries = list(enumerate(scores[sp]))
        if want_subsets is not None:
            have = {str(e.get("hf_subset")) for _, e in entries}
            lacking = [s for s in want_subsets if s not in have]
            if lacking:
                raise ValueError(f"{data.get('task_name')}: split {sp!r} has no scores for subset(s) {lacking}")
            entries = [(i, e) for i, e in entries if str(e.get("hf_subset")) in want_subsets]
        values += [real_score(e["main_score"], f"scores.{sp}[{i}].main_score") for i, e in entries]
    if not values:
        raise ValueError(f"{data.get('task_name')}: no scores for split(s) {want_splits}")
    return float(sum(values) / len(values))


def iter_results(root: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every leafbench result under `root` (JSON files without a `leafbench` block, such as run manifests, are
    skipped). A file that cannot be read or parsed, has a newer schema_version or a main score that is not a
    :func:`real_score`, raises ValueError naming it (and the key): a report or check must never show a damaged
    result as missing, nor a wrong number as a score."""
    for p in sorted(Path(root).rglob("*.json")):
        data = read_result(p)
        if isinstance(data, dict) and "leafbench" in data and "scores" in data:
            try:  # a newer schema than this code reads is refused, never half-read; so is a score that is none
                ResultRecord.from_dict(data["leafbench"], where=str(p))
                check_main_scores(data, str(p))
            except SchemaError as e:
                raise ValueError(str(e)) from None
            try:
                main_score(data)
            except (KeyError, TypeError, ValueError, IndexError, StopIteration) as e:
                raise ValueError(f"{p}: result without a readable main score ({type(e).__name__}: {e})") from e
            yield p, data
