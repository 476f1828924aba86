"""mteb's task registry, imported lazily (mteb takes seconds to import): task objects, their hf subsets,
aggregate tasks' sub-tasks and the sizes mteb's statistics give for a split.

Every lookup of a task object in this package goes through :func:`mteb_task` (tests replace it here)."""

from __future__ import annotations

from typing import Any

__all__ = ["aggregate_subtasks", "mteb_sizes", "mteb_task", "task_subsets"]


def mteb_task(task_name: str) -> Any:
    """mteb's task object (lazy import: mteb takes seconds to import)."""
    import mteb

    return mteb.get_task(task_name)


def task_subsets(task: Any) -> list[str]:
    """The hf subsets mteb evaluates for a task (["default"] for single-subset tasks)."""
    return list(getattr(task, "hf_subsets", None) or ["default"])


def aggregate_subtasks(task_name: str) -> list[str] | None:
    """Sub-task names of an mteb aggregate task (CQADupstackRetrieval: its 12 forums), else None."""
    try:
        task = mteb_task(task_name)
    except Exception:  # noqa: BLE001 - unknown to mteb: not an aggregate
        return None
    if not getattr(task, "is_aggregate", False):
        return None
    return [t.metadata.name for t in task.metadata.tasks]


def mteb_sizes(task: Any, split: str, subset: str = "default") -> dict[str, int]:
    """The sizes of one split (and hf subset) of mteb's copy of a task, from the descriptive statistics mteb ships
    with its task metadata (read offline): documents, queries and judgements with a non-zero score (mteb's
    ``num_relevant_docs``); ``documents + queries`` where a stats file has only that total. Empty when mteb has
    no statistics for it: nothing to compare."""
    try:
        stats = (task.metadata.descriptive_stats or {}).get(split) or {}
    except (AttributeError, OSError, ValueError):  # a task object without mteb's metadata, an unreadable stats file
        return {}
    if subset != "default":
        stats = (stats.get("hf_subset_descriptive_stats") or {}).get(subset) or {}
    counts = {
        "queries": stats.get("num_queries"),
        "documents": stats.get("num_documents"),
        "qrels": (stats.get("relevant_docs_statistics") or {}).get("num_relevant_docs"),
    }
    if counts["queries"] is None or counts["documents"] is None:
        counts["documents + queries"] = stats.get("num_samples")
    return {k: v for k, v in counts.items() if type(v) is int}
