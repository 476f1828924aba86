"""Task names and where their local folders are: BEIR's task names and folder names, aggregate tasks' sub-task
folders (``cqadupstack/<forum>/``), and the search for a task's BEIR folder under a data dir (local or a URL)."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

from .beir_files import data_file
from .errors import DataError, IncompleteAggregateError
from .location import DataPath, data_location

__all__ = [
    "AGGREGATE_FOLDERS",
    "TASKS",
    "aggregate_local_folders",
    "find_local_folder",
    "folder_candidates",
    "folder_name",
    "known_name",
    "name_key",
    "resolve_task_name",
    "subtask_folder",
]

#: mteb task name -> BEIR folder name, for the BEIR benchmark (in BEIR-paper order).
TASKS: dict[str, str] = {
    "TRECCOVID": "trec-covid",
    "NFCorpus": "nfcorpus",
    "NQ": "nq",
    "HotpotQA": "hotpotqa",
    "FiQA2018": "fiqa",
    "ArguAna": "arguana",
    "Touche2020": "webis-touche2020",
    "CQADupstackRetrieval": "cqadupstack",
    "QuoraRetrieval": "quora",
    "DBPedia": "dbpedia-entity",
    "SCIDOCS": "scidocs",
    "FEVER": "fever",
    "ClimateFEVER": "climate-fever",
    "SciFact": "scifact",
    "MSMARCO": "msmarco",
}

#: Aggregate tasks whose sub-tasks BEIR ships as sub-folders of one folder: mteb sub-task
#: ``CQADupstack<Forum>Retrieval`` lives in ``cqadupstack/<forum>/``.
AGGREGATE_FOLDERS: dict[str, tuple[str, str, str]] = {
    # aggregate name: (folder, sub-task name prefix, sub-task name suffix)
    "CQADupstackRetrieval": ("cqadupstack", "CQADupstack", "Retrieval"),
}


def name_key(name: str) -> str:
    """Case- and punctuation-insensitive key: 'Trec-Covid', 'trec_covid', 'TRECCOVID' agree."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


_ALIASES: dict[str, str] = {}
for _mteb_name, _folder in TASKS.items():
    _ALIASES[name_key(_mteb_name)] = _mteb_name
    _ALIASES[name_key(_folder)] = _mteb_name


def resolve_task_name(name: str) -> str:
    """The mteb spelling of a BEIR task given its mteb name, BEIR folder name, any case.

    Raises DataError listing the known names, closest matches first.
    """
    key = name_key(name)
    if key in _ALIASES:
        return _ALIASES[key]
    close = difflib.get_close_matches(key, list(_ALIASES), n=len(_ALIASES), cutoff=0.4)
    ordered: list[str] = []
    for alias in close:
        if _ALIASES[alias] not in ordered:
            ordered.append(_ALIASES[alias])
    ordered += [t for t in TASKS if t not in ordered]
    raise DataError(f"unknown task {name!r}; known tasks (closest first): {', '.join(ordered)}")


def known_name(name: str) -> str:
    """The mteb spelling of a BEIR task name (:func:`resolve_task_name`); any other name as given."""
    try:
        return resolve_task_name(name)
    except DataError:
        return name


def subtask_folder(task_name: str) -> str | None:
    """``cqadupstack/android`` for ``CQADupstackAndroidRetrieval``; None for other names."""
    for folder, prefix, suffix in AGGREGATE_FOLDERS.values():
        if task_name.startswith(prefix) and task_name.endswith(suffix) and len(task_name) > len(prefix + suffix):
            return f"{folder}/{task_name[len(prefix) : -len(suffix)].lower()}"
    return None


def folder_name(task_name: str) -> str:
    """BEIR folder (relative path) for a task; unknown names are used as given (custom folders, and any
    other mteb retrieval task: ``<data_dir>/<TaskName>/``)."""
    return TASKS.get(known_name(task_name)) or subtask_folder(task_name) or task_name


def folder_candidates(folder: str, data_dir: DataPath) -> list[DataPath]:
    """Where a task folder may sit: under ``data_dir``, under ``data_dir/beir``, or ``data_dir`` itself."""
    parts = Path(folder).parts
    found = [data_dir / folder, data_dir / "beir" / folder]
    for k in range(len(parts), 0, -1):  # data_dir is the folder itself, or a parent inside it (cqadupstack/)
        if data_dir.parts[-k:] == parts[:k]:
            found.append(data_dir.joinpath(*parts[k:]))
    return found


def find_local_folder(task_name: str, data_dir: DataPath | str, subsets: list[str] | None = None) -> DataPath | None:
    """The local BEIR folder for a task under ``data_dir``, or None.

    ``data_dir`` may be the beir folder itself (``data_dir/scifact/corpus.jsonl``), its
    parent (``data_dir/beir/scifact``), or the task folder itself. A multi-subset task
    (``subsets`` given) is a folder of one BEIR folder per subset (``<task>/<subset>/corpus.jsonl``);
    it is found when at least one subset folder is there (missing ones are named by the loader).
    """
    data_dir = data_location(data_dir)
    for candidate in folder_candidates(folder_name(task_name), data_dir):
        if subsets and subsets != ["default"]:
            if any(data_file(candidate / s, "corpus") is not None for s in subsets):
                return candidate
        elif data_file(candidate, "corpus") is not None:
            return candidate
    return None


def aggregate_local_folders(
    task_name: str, data_dir: DataPath | str | None, subtasks: list[str]
) -> dict[str, DataPath | None]:
    """Sub-task → local BEIR folder (None where absent) under ``data_dir``.

    An aggregate is local when its parent folder (``cqadupstack/``) is there; then every sub-task's folder
    must be too: a missing forum raises DataError naming it (an aggregate is never averaged over fewer
    sub-tasks). Without a parent folder every value is None (online loading, or "missing" offline).
    """
    if data_dir is None:
        return dict.fromkeys(subtasks)
    data_dir = data_location(data_dir)
    found = {s: find_local_folder(s, data_dir) for s in subtasks}
    parent_name = AGGREGATE_FOLDERS.get(task_name, (None,))[0]
    parents = [p for p in folder_candidates(parent_name, data_dir) if p.is_dir()] if parent_name else []
    if any(found.values()) or parents:
        missing = [s for s, f in found.items() if f is None]
        if missing:
            where = parents[0] if parents else data_dir
            names = [(subtask_folder(s) or s).rsplit("/", 1)[-1] for s in missing]
            raise IncompleteAggregateError(
                f"{where}: {task_name} is incomplete: {len(missing)} of {len(subtasks)} sub-task folders missing "
                f"({', '.join(names)}; each needs corpus.jsonl or .parquet, queries.jsonl or .parquet, qrels/); its score is the mean "
                f"of all {len(subtasks)}, so it is not computed from fewer"
            )
    return found
