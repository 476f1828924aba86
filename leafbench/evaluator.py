"""The evaluator protocol: what every task kind (retrieval, an mteb evaluator, an aggregate) shares.

A task kind is a :class:`TaskEvaluator` subclass that says what determines its numbers (`provenance_payload`),
which protocol its results belong to (`protocol`) and how it scores the cells still missing (`run`). The base
class owns the rest once: the provenance hash, "skip what is already measured on exactly this", the refusal to
replace a result of another protocol, and where results go (:class:`EvalContext`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .cells import Cell
from .errors import UserError
from .modes import Mode
from .record import ResultRecord, read_result, result_path, write_result
from .scoring import Executor

if TYPE_CHECKING:
    from .data import DataPath

log = logging.getLogger(__name__)

ProgressFactory = Callable[[str, int], Callable[[int], None]]
# on_event(kind, text): kind is "warning", "skipped", "tasks" or "evaluating" (an mteb-evaluator cell starting).
EventSink = Callable[[str, str], None]


class EncoderLike(Protocol):
    """What evaluation needs from an encoder (leafbench.encode.Encoder implements it)."""

    spec: Any

    @property
    def identity(self) -> str: ...

    def key(self, side: str) -> Any: ...

    def encode(self, texts: Sequence[str], side: str, progress: Callable[[int], None] | None = None) -> Any: ...


@dataclass
class EvalContext:
    """What a run gives every evaluator: encoders by role, modes, cells, where results go and how to search.

    `output=None` keeps results in memory only (tests, benchmarks); `force` recomputes cells already measured;
    `executor` runs retrieval scoring's passes over the stored rows on workers (`--engine ray`), same numbers.
    """

    encoders: Mapping[str, EncoderLike]
    modes: Sequence[Mode | str]
    cells: Sequence[Cell] = (Cell(),)
    output: Path | None = None
    run_slug: str = "x"
    force: bool = True
    ranges_file: Path | None = None
    search: str = "torch"
    data_dir: DataPath | None = None  # a local folder or a URL: results name data files relative to it
    progress: ProgressFactory | None = None
    on_event: EventSink | None = None
    executor: Executor | None = None
    overwrite: str = "only-missing"  # "never": a result file measured on anything else is an error, not replaced

    def __post_init__(self) -> None:
        self.modes = [Mode(m) for m in self.modes]
        for m in self.modes:
            for role in sorted(m.roles):  # texts without a role go to one of these too
                if role not in self.encoders:
                    raise UserError(f"mode {m} needs a {role} model")

    def result_path(self, mode: str, task_name: str, cell: Cell) -> Path | None:
        if self.output is None:
            return None
        return result_path(self.output, self.run_slug, mode, task_name, cell.file_label)

    def emit(self, kind: str, text: str) -> None:
        if self.on_event is not None:
            self.on_event(kind, text)


@dataclass
class TaskRun:
    """Outcome of one task: one result dict per (mode, cell) plus what was encoded (for the summary table)."""

    task_name: str
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)
    encode_stats: dict[str, Any] = field(default_factory=dict)
    skipped: int = 0  # cells whose result file already existed, measured on exactly this
    data_fingerprint: str | None = None  # of the data evaluated (all subsets)

    def keep(self, ctx: EvalContext, mode: str, cell: Cell, result: dict[str, Any]) -> None:
        """Record one cell's result, and write it when the run has an output folder."""
        key = result_key(mode, cell)
        self.results[key] = result
        path = ctx.result_path(mode, self.task_name, cell)
        if path is not None:
            write_result(path, result)
            self.paths[key] = path


def result_key(mode: str, cell: Cell) -> str:
    """`TaskRun.results`'s key of one (mode, cell): ``student`` or ``student/256d-int8``."""
    return str(mode) if cell.file_label is None else f"{mode}/{cell.file_label}"


# ------------------------------------------------------------------------------------------ provenance


def provenance_hash(payload: Mapping[str, Any]) -> str:
    """Hash of what determines a number, plus the code that computes it (leafbench's and mteb's versions)."""
    from importlib.metadata import version

    from .version import __version__

    full = {**payload, "leafbench": __version__, "mteb": version("mteb")}
    return hashlib.blake2b(json.dumps(full, sort_keys=True, default=str).encode(), digest_size=16).hexdigest()


def stored_provenance(path: Path) -> str | None:
    """The provenance a result file was written with; None when it has none or cannot be read (recompute)."""
    try:
        block = read_result(path).get("leafbench") or {}
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(block, Mapping):
        return None
    # A file of a newer schema is refused (SchemaError naming it), never overwritten as if it were stale.
    return ResultRecord.from_dict(block, where=str(path)).provenance


# What a user chose that makes a result another measurement, not a newer one of the same: the data protocol
# (split, subsets, a --max-queries/--max-docs cut, the sizes scored) and each model's reading length and precision.
# For these keys None means something (no cut, the model's own length), so a change from or to None is a change too.
_PROTOCOL_KEYS = ("split", "eval_splits", "hf_subsets", "subset", "n_queries", "n_documents")
_NONE_IS_A_VALUE = {"subset", "student max_seq_length", "teacher max_seq_length"}


class ResultConflict(UserError):
    """A result file would be replaced by one of another protocol (a subset over the full task, another length):
    the existing number is the user's, so it is kept unless they pass --force or choose another --output."""


def result_protocol(block: Mapping[str, Any]) -> dict[str, Any]:
    """The protocol fields of a result's ``leafbench`` block (or of the block a run is about to write)."""
    out = {k: block.get(k) for k in _PROTOCOL_KEYS}
    for role in ("student", "teacher"):
        m = block.get(role)
        if isinstance(m, Mapping):
            out[f"{role} max_seq_length"] = m.get("max_seq_length")
            out[f"{role} precision"] = m.get("precision")
    return out


def check_no_protocol_conflict(path: Path, current: Mapping[str, Any]) -> None:
    """Refuse (ResultConflict) to replace `path` when it holds a result of another protocol than `current`
    (result_protocol of the block this run would write). Same protocol, other data or models: a stale result,
    recomputed as usual. Unreadable or from before these fields: nothing to compare, recomputed as usual."""
    try:
        block = read_result(path).get("leafbench")
    except (OSError, ValueError, AttributeError):
        return
    if not isinstance(block, Mapping):
        return
    old = result_protocol(block)
    changed = [
        k
        for k, new in current.items()
        if k in old and old[k] != new and (k in _NONE_IS_A_VALUE or (old[k] is not None and new is not None))
    ]
    if changed:
        what = "; ".join(f"{k} {_show(k, old[k])} there, {_show(k, current[k])} now" for k in changed)
        raise ResultConflict(
            f"{path}: holds a result of another protocol ({what}); keep it by choosing another --output, "
            "or pass --force to replace it"
        )


def _show(key: str, value: Any) -> str:
    if value is None:
        return "none (the full task)" if key == "subset" else "none (the model's own)"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


# ------------------------------------------------------------------------------------------ the protocol


class TaskEvaluator(ABC):
    """One task of one kind, evaluated in every mode x cell of a run.

    Subclasses say what determines a number (`provenance_payload`), the protocol a result belongs to
    (`protocol`) and how the missing cells are scored (`run`); `pending` and `provenance` are shared.
    """

    task_name: str

    @abstractmethod
    def provenance_payload(self, ctx: EvalContext, mode: Mode, cell: Cell) -> dict[str, Any]:
        """Everything besides the code versions that determines one (mode, cell)'s number."""

    @abstractmethod
    def protocol(self, ctx: EvalContext, mode: Mode) -> dict[str, Any]:
        """The data protocol and model settings a result of this mode records (see result_protocol)."""

    @abstractmethod
    def run(self, ctx: EvalContext) -> list[TaskRun]:
        """Score the pending cells; the task's run last (an aggregate's sub-task runs come first)."""

    def cell(self, cell: Cell) -> Cell:
        """The cell as this kind scores it (a kind without a retrieval search drops rescoring)."""
        return cell

    def provenance(self, ctx: EvalContext, mode: Mode, cell: Cell) -> str:
        return provenance_hash(self.provenance_payload(ctx, mode, cell))

    def pending(self, ctx: EvalContext) -> dict[Mode, list[Cell]]:
        """Cells per mode still to compute: all of them with `force` or without an output folder; else those whose
        result file is missing or was measured on anything else (other data, models, code, ...): a stale file is
        recomputed, never reported as the new score. A file of another protocol (a subset run over a full one,
        another max_seq_length) is never replaced without `force`: ResultConflict, before anything is encoded."""
        todo: dict[Mode, list[Cell]] = {}
        for m in ctx.modes:
            left = []
            for c in map(self.cell, ctx.cells):
                path = ctx.result_path(m, self.task_name, c)
                if ctx.force or path is None or not path.exists():
                    left.append(c)
                elif stored_provenance(path) != self.provenance(ctx, m, c):
                    check_no_protocol_conflict(path, self.protocol(ctx, m))
                    if ctx.overwrite == "never":
                        raise ResultConflict(
                            f"{path}: measured on other data, models or code than this run, and "
                            "--overwrite-strategy never keeps it; choose another --output, or use only-missing"
                        )
                    log.info("%s: measured on other data or models than this run; recomputing", path)
                    left.append(c)
            if left:
                todo[m] = left
        return todo

    def n_cells(self, ctx: EvalContext) -> int:
        return len(ctx.modes) * len(ctx.cells)
