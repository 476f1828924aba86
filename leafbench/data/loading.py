"""Loading a retrieval task's data, offline first: a local BEIR folder when there is one, else (online) mteb's
own loading, per hf subset; aggregate tasks as all of their sub-tasks or none."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..offline import hub_offline
from . import mteb_tasks
from .beir import load_beir_folder
from .errors import DataError, NoDataError
from .local_copy import mark_local_copies
from .location import DataPath, check_data_dir, data_location
from .mteb_split import retrieval_data_from_mteb_split
from .names import AGGREGATE_FOLDERS, TASKS, aggregate_local_folders, find_local_folder, folder_name, known_name
from .retrieval import RetrievalData

__all__ = [
    "DATA_DIR_ENV",
    "load_aggregate_parts",
    "load_retrieval_parts",
    "load_retrieval_task",
    "task_data_warnings",
]

DATA_DIR_ENV = "LEAFBENCH_DATA_DIR"


def _data_dir(data_dir: DataPath | str | None) -> DataPath | None:
    """``data_dir``, else ``$LEAFBENCH_DATA_DIR``, else None, as a local folder or a URL; a given one that is not
    a folder (or cannot be reached) is a DataError."""
    if data_dir is None and os.environ.get(DATA_DIR_ENV):
        data_dir = data_location(os.environ[DATA_DIR_ENV], DATA_DIR_ENV)
    if data_dir is None:
        return None
    return check_data_dir(data_location(data_dir))


def _no_local_copy(task_name: str, data_dir: DataPath | None, layout: str) -> NoDataError:
    """The error for a task with no local copy while offline, naming the `layout` to provide."""
    return NoDataError(
        f"no local copy of {task_name} under {data_dir or '(no --data-dir given)'}; "
        f"pass --data-dir pointing at a folder with {layout}, or run with network access"
    )


def _local_parts(
    folder: DataPath, task: Any, task_name: str, split: str, ignore_identical_ids: bool, strict: bool
) -> dict[str, RetrievalData]:
    """A task's parts from its local `folder` (one BEIR folder per subset for a multi-subset task), marked where
    they are not mteb's copy."""
    subsets = mteb_tasks.task_subsets(task)
    if subsets == ["default"]:
        local = {"default": load_beir_folder(folder, split, task_name, ignore_identical_ids, strict)}
    else:
        missing = [s for s in subsets if not (folder / s).is_dir()]
        if missing:
            raise DataError(
                f"{folder}: missing subset folders {', '.join(missing)} of {task_name} (its score is the mean "
                f"over all {len(subsets)} subsets: {', '.join(subsets)})"
            )
        local = {s: load_beir_folder(folder / s, split, task_name, ignore_identical_ids, strict) for s in subsets}
    mark_local_copies(local, task)  # a cut-down copy is never recorded as mteb's data
    return local


def _hub_parts(
    task: Any, task_name: str, split: str, ignore_identical_ids: bool, strict: bool
) -> dict[str, RetrievalData]:
    """A task's parts loaded by mteb from the hub; NoDataError when the hub cannot be reached."""
    meta = task.metadata.dataset
    source = f"hf:{meta['path']}@{meta['revision']}"
    try:
        task.load_data()
    except Exception as e:  # network, auth, hub errors: one clear line for the user
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise NoDataError(
            f"could not load {task_name} from {source} ({type(e).__name__}: {first}); "
            f"pass --data-dir with a local BEIR copy instead"
        ) from e
    subsets, dataset = mteb_tasks.task_subsets(task), task.dataset
    missing = [s for s in subsets if s not in dataset]
    if missing:
        raise DataError(f"{source}: no subset {', '.join(missing)} (available: {', '.join(sorted(dataset))})")
    parts = {}
    for s in subsets:
        if split not in dataset[s]:
            raise DataError(f"{source}: no split {split!r} (available: {', '.join(sorted(dataset[s]))})")
        origin = source if s == "default" else f"{source} [{s}]"
        parts[s] = retrieval_data_from_mteb_split(
            task_name, split, dataset[s][split], origin, ignore_identical_ids, strict
        )
    return parts


def load_retrieval_parts(
    name: str,
    data_dir: DataPath | str | None = None,
    split: str | None = None,
    offline: bool | None = None,
    strict: bool = False,
) -> dict[str, RetrievalData]:
    """One retrieval task's data per hf subset (``{"default": data}`` for single-subset tasks): a local
    folder if there is one, else (online) through mteb.

    Any mteb retrieval task works; BEIR's are found under their BEIR folder names (``scifact/``,
    ``cqadupstack/android/`` for CQADupstackAndroidRetrieval), others under ``<TaskName>/``. A multi-subset
    task's local copy is one BEIR folder per subset (``LoTTE/writing_search/corpus.jsonl`` ...).
    ``data_dir`` defaults to ``$LEAFBENCH_DATA_DIR``; ``split`` to the task's first mteb eval split
    ("dev" for MSMARCO); ``offline`` to ``$HF_HUB_OFFLINE`` / ``$TRANSFORMERS_OFFLINE`` (:func:`hub_offline`).
    Aggregate tasks (CQADupstackRetrieval) are a list of tasks, each loaded by this function: see
    :func:`aggregate_subtasks`. A local copy whose sizes differ from mteb's is marked as such
    (:func:`mark_local_copies`).
    """
    task_name = known_name(name)
    data_dir = _data_dir(data_dir)
    if offline is None:
        offline = hub_offline()
    folder = folder_name(task_name)
    # BEIR's own tasks are single-subset: decide offline without importing mteb's task registry.
    if task_name in TASKS and offline and (data_dir is None or find_local_folder(task_name, data_dir) is None):
        raise _no_local_copy(task_name, data_dir, f"{folder}/corpus.jsonl (BEIR layout)")
    task = mteb_tasks.mteb_task(task_name)
    if getattr(task, "is_aggregate", False):
        subs = [t.metadata.name for t in task.metadata.tasks]
        raise DataError(
            f"{task_name} is an aggregate of {len(subs)} tasks ({', '.join(subs[:3])}, ...): evaluate each and "
            "combine them (leafbench run does this)"
        )
    subsets = mteb_tasks.task_subsets(task)
    split = split or task.metadata.eval_splits[0]
    ignore_identical_ids = bool(getattr(task, "ignore_identical_ids", False))
    local = find_local_folder(task_name, data_dir, subsets) if data_dir is not None else None
    if local is not None:
        return _local_parts(local, task, task_name, split, ignore_identical_ids, strict)
    if offline:
        layout = f"{folder}/corpus.jsonl" if subsets == ["default"] else f"{folder}/<subset>/corpus.jsonl"
        raise _no_local_copy(task_name, data_dir, f"{layout} (BEIR layout)")
    return _hub_parts(task, task_name, split, ignore_identical_ids, strict)


def load_retrieval_task(
    name: str,
    data_dir: DataPath | str | None = None,
    split: str | None = None,
    offline: bool | None = None,
    strict: bool = False,
) -> RetrievalData:
    """Load a single-subset retrieval task (see :func:`load_retrieval_parts`, which also serves multi-subset
    tasks); a multi-subset task raises DataError naming its subsets."""
    parts = load_retrieval_parts(name, data_dir, split, offline, strict)
    if list(parts) != ["default"]:
        raise DataError(
            f"{name}: a multi-subset task ({len(parts)} subsets: {', '.join(list(parts)[:4])}"
            f"{', ...' if len(parts) > 4 else ''}); load it with load_retrieval_parts"
        )
    return parts["default"]


def load_aggregate_parts(
    task_name: str,
    subtasks: list[str],
    data_dir: DataPath | str | None = None,
    split: str | None = None,
    offline: bool | None = None,
    strict: bool = False,
) -> dict[str, dict[str, RetrievalData]]:
    """Every sub-task of an aggregate task (sub-task → its parts, see :func:`load_retrieval_parts`).

    Local copies are BEIR's layout (``cqadupstack/<forum>/``); all sub-tasks must load, or DataError names
    what is missing: an aggregate is never scored over fewer sub-tasks.
    """
    data_dir = _data_dir(data_dir)
    folders = aggregate_local_folders(task_name, data_dir, subtasks)
    if offline is None:
        offline = hub_offline()
    if offline and not any(folders.values()):
        parent = AGGREGATE_FOLDERS.get(task_name, (task_name,))[0]
        layout = f"{parent}/<sub-task>/corpus.jsonl (BEIR layout, all {len(subtasks)} sub-tasks)"
        raise _no_local_copy(task_name, data_dir, layout)
    return {s: load_retrieval_parts(s, data_dir, split, offline, strict) for s in subtasks}


def task_data_warnings(parts: Mapping[str, RetrievalData]) -> dict[str, dict[str, Any]]:
    """A task's data warnings: its single part's, or per subset (``<subset>/<kind>``) for multi-subset tasks."""
    if list(parts) == ["default"]:
        return parts["default"].data_warnings()
    return {f"{s}/{k}": w for s, d in parts.items() for k, w in d.data_warnings().items()}
