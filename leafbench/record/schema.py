"""The ``leafbench`` block of a result file: :class:`ResultRecord`, its schema version and the readings every
consumer needs (labels, each side's model, scores on a selection), so no reader guesses at keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import UserError
from .paths import portable_path, relativize
from .scores import mean_score, selection

SCHEMA_VERSION = 1
DEFAULT_CELL = "full-float32"


class SchemaError(UserError):
    """A result or manifest this version cannot read (newer schema_version, not a leafbench file): one line."""


def model_block(enc: Any, roots: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """A model as results name it: hub id + revision, or (local) its folder name + weights hash (``identity``), or
    an encoder object's name + revision (``user_object``: its class); never the absolute folder."""
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
        # An encoder object (leafbench.user_encoder): its class; its identity is the name and revision the user gave.
        **({"user_object": spec.extra["user_object"]} if (spec.extra or {}).get("user_object") else {}),
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
    scored_on: dict[str, Any] | None = None  # workers that ran the search (engine, workers, tasks); unset: here
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
    scores: dict[str, Any] | None = field(default=None, metadata={"context": True}, repr=False)  # the file's scores

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
    def mode_label(self) -> str:
        """The mode the block records, else the mode folder the file sits in (``<run>/<mode>/<Task>.json``)."""
        return self.mode or (self.path.parent.name if self.path is not None else "")

    @property
    def query_model_name(self) -> str | None:
        """The model that encoded queries (the only model on tasks without a query/document split)."""
        return self.query_model or (self.student or {}).get("name") or (self.teacher or {}).get("name")

    @property
    def document_model_name(self) -> str | None:
        return self.document_model or (self.teacher or {}).get("name") or (self.student or {}).get("name")

    @property
    def student_name(self) -> str | None:
        return (self.student or {}).get("name")

    @property
    def teacher_name(self) -> str | None:
        return (self.teacher or {}).get("name")

    @property
    def query_encoder(self) -> dict[str, Any]:
        """The model block ({} when none) of the model that encoded queries."""
        st, te = self.student or {}, self.teacher or {}
        return st if self.query_model_name == st.get("name") else te

    @property
    def document_encoder(self) -> dict[str, Any]:
        """The model block ({} when none) of the model that encoded documents."""
        st, te = self.student or {}, self.teacher or {}
        return te if self.document_model_name == te.get("name") and te else st

    def model_block_named(self, name: str | None) -> dict[str, Any]:
        """The student's or the teacher's block, whichever is called `name` ({} for neither)."""
        st, te = self.student or {}, self.teacher or {}
        return st if name == st.get("name") else te if name == te.get("name") else {}

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

    def side(self, side: str) -> dict[str, Any]:
        """The throughput block of one side ("query", "document"): model, texts_per_s, n_texts, ... ({} if none)."""
        return (self.throughput or {}).get(side) or {}

    def texts_per_s(self, side: str) -> float | None:
        return self.side(side).get("texts_per_s")

    def per_query_scores(self, metric: str | None) -> dict[str, float] | None:
        """Per-query values of `metric` (the ``per_query`` block), None when not stored."""
        return (self.per_query or {}).get(metric) if metric else None

    def selection(self) -> tuple[list[str], list[str] | None]:
        """(splits, hf_subsets or None for all) this result was scored on (record.scores.scored_selection)."""
        return selection(self.scores or {}, self.eval_splits, self.split, self.hf_subsets, self.task_name)

    def score_on(self, splits: list[str], hf_subsets: list[str] | None) -> float:
        """The main score on another selection (a benchmark's splits and subsets); ValueError when the file
        lacks a split or subset of it."""
        return mean_score(self.scores or {}, self.task_name, list(splits) or self.selection()[0], hf_subsets)

    def to_row(self) -> dict[str, Any]:
        """One flat row (for :func:`leafbench.results.results_frame`)."""
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
