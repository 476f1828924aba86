"""Local copies that are not mteb's: a local folder whose sizes differ from mteb's statistics of the task (a
cut-down ``scifact/``) is marked, so that no result computed on it passes for the task's full result."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import mteb_tasks
from .retrieval import LOCAL_COPY, RetrievalData

__all__ = ["is_local_copy", "mark_local_copies"]


def _sizes(data: RetrievalData) -> dict[str, int]:
    """`data`'s sizes as :func:`mteb_sizes` names them."""
    return {
        "queries": data.n_queries,
        "documents": data.n_docs,
        "qrels": sum(1 for docs in data.qrels.values() for score in docs.values() if score != 0),
        "documents + queries": data.n_docs + data.n_queries,
    }


def mark_local_copies(parts: Mapping[str, RetrievalData], task: Any = None) -> dict[str, str]:
    """Mark each local part whose sizes differ from mteb's copy of the task (a cut-down ``scifact/`` with 10 of its
    300 queries): its ``subset_spec`` gets :data:`LOCAL_COPY`, so every result computed on it records a subset
    (never the task's full result) and the data's own fingerprint as dataset revision, never mteb's. `task`: mteb's
    task object (default: looked up by name; a task mteb does not know has no official sizes). Returns
    {subset: what differs} for the parts marked."""
    if task is None:
        try:
            task = mteb_tasks.mteb_task(next(iter(parts.values())).task_name)
        except Exception:  # noqa: BLE001 - a task mteb does not know (a user's folder): nothing to compare
            return {}
    marked: dict[str, str] = {}
    for subset, data in parts.items():
        if data.source.startswith("hf:"):  # mteb's own data, loaded by mteb
            continue
        official = mteb_tasks.mteb_sizes(task, data.split, subset)
        ours = _sizes(data)
        differ = [f"{k}: {ours[k]} (mteb: {v})" for k, v in official.items() if ours[k] != v]
        if differ:
            marked[subset] = ", ".join(differ)
            data.subset_spec = {**(data.subset_spec or {}), LOCAL_COPY: marked[subset]}
    return marked


def is_local_copy(parts: Mapping[str, RetrievalData]) -> bool:
    """Whether any part is a local copy whose sizes are not mteb's (see :func:`mark_local_copies`)."""
    return any(LOCAL_COPY in (d.subset_spec or {}) for d in parts.values())
