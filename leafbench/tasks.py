"""Task selection: names, benchmarks and defaults, resolved with mteb's own registry."""

from __future__ import annotations

import copy
import difflib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from .data.location import DataPath
from .data.names import name_key
from .errors import UserError

BENCHMARK_ALIASES = {
    "beir": "BEIR",
    "nanobeir": "NanoBEIR",
    "mteb(eng, v2)": "MTEB(eng, v2)",
    "mteb(eng,v2)": "MTEB(eng, v2)",
}
DEFAULT_BENCHMARK = "NanoBEIR"
# Text task types leafbench evaluates: Retrieval on its fast path, the rest through mteb's evaluators.
SUPPORTED_TYPES = (
    "Retrieval",
    "STS",
    "Classification",
    "Clustering",
    "PairClassification",
    "Reranking",
    "Summarization",
)


class TaskSelectionError(UserError):
    """A task, benchmark or task type that cannot be selected; the message is for the user."""


@dataclass
class Selection:
    tasks: list[str]
    types: dict[str, str]  # task -> mteb task type
    skipped: dict[str, str]  # task -> reason (unsupported type, ...)
    source: str  # how the list was chosen, for the terminal and the results
    from_benchmark: set[str] = field(default_factory=set)  # missing data here is reported, not fatal
    folders: dict[str, DataPath] = field(default_factory=dict)  # user BEIR folders given as tasks: name -> folder
    subtasks: dict[str, list[str]] = field(default_factory=dict)  # aggregate task -> its sub-tasks (mteb's)
    # Task objects as a benchmark configures them (MTEB(eng, v2): AmazonCounterfactualClassification is its "en"
    # subset on "test", STS17 "en-en"): evaluated as they are, so a benchmark run scores what the benchmark scores.
    task_objects: dict[str, Any] = field(default_factory=dict)
    selected_by: dict[str, str] = field(default_factory=dict)  # task -> the benchmark whose selection it uses


def split_task_arg(arg: str) -> list[str]:
    """Split on commas outside parentheses, so "MTEB(eng, v2),SciFact" is two items."""
    items, depth, cur = [], 0, ""
    for ch in arg:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        if ch == "," and depth == 0:
            items.append(cur.strip())
            cur = ""
        else:
            cur += ch
    items.append(cur.strip())
    return [i for i in items if i]


def _benchmark(name: str):
    import mteb

    try:
        return mteb.get_benchmark(BENCHMARK_ALIASES.get(name.lower().strip(), name))
    except Exception:  # noqa: BLE001 - mteb raises several types for unknown names
        return None


@lru_cache(maxsize=1)
def _all_task_names() -> dict[str, str]:
    import mteb

    return {name_key(t.metadata.name): t.metadata.name for t in mteb.get_tasks(exclude_superseded=False)}


def resolve_task(name: str) -> tuple[str, str]:
    """(mteb task name, task type) for a task name in any case, or a BEIR folder name (scifact, trec-covid)."""
    import mteb

    from .data import DataError, resolve_task_name

    try:
        canonical = resolve_task_name(name)
    except DataError:
        canonical = _all_task_names().get(name_key(name))
    if canonical is None:
        names = list(_all_task_names().values())
        close = difflib.get_close_matches(name, names, n=5, cutoff=0.6)
        hint = f"; closest: {', '.join(close)}" if close else '; see `leafbench tasks --benchmark "MTEB(eng, v2)"`'
        raise TaskSelectionError(f"unknown task {name!r}{hint}")
    return canonical, mteb.get_task(canonical).metadata.type


def _looks_like_path(item: str) -> bool:
    return item.startswith((".", "/", "~")) or "/" in item or "\\" in item


def _folder_of(item: str, data_dir: DataPath | str | None) -> DataPath | None:
    """The folder `item` names: a path or URL as given, else ``<data_dir>/<item>`` or ``<data_dir>/beir/<item>``."""
    from .data import data_location

    if _looks_like_path(item) or (Path(item).expanduser().is_dir() and not data_dir):
        return data_location(item, "--tasks")
    if data_dir is None:
        return None
    root = data_location(data_dir)
    return next((c for c in (root / item, root / "beir" / item) if c.is_dir()), None)


def folder_task(item: str, data_dir: DataPath | str | None = None) -> tuple[str, DataPath] | None:
    """(task name, folder) when `item` names a BEIR-layout folder: a path (``./my-corpus``) or URL
    (``s3://bucket/my-corpus``), or a name found under ``data_dir`` (``my-corpus`` → ``<data_dir>/my-corpus`` or
    ``<data_dir>/beir/my-corpus``).

    The task is named by its folder; a folder named like a BEIR task (``…/scifact``) is that task. A path
    that is not a BEIR folder raises TaskSelectionError naming what it lacks; a bare name that is not a
    folder returns None (it may be an mteb task name)."""
    from .data import DataError, resolve_task_name
    from .data.beir_files import data_file
    from .data.location import listing

    folder = _folder_of(item, data_dir)
    if folder is None:
        return None
    if not folder.is_dir():
        raise TaskSelectionError(
            f"{item}: no such folder (a BEIR folder needs corpus.jsonl, queries.jsonl (or Parquet), qrels/<split>.tsv)"
        )
    lacks = [f"{stem}.jsonl" for stem in ("corpus", "queries") if data_file(folder, stem) is None]
    if not (folder / "qrels").is_dir():
        lacks.append("qrels/")
    if lacks:
        try:
            held = ", ".join(listing(folder)) or "nothing"
        except OSError:
            held = "unreadable"
        raise TaskSelectionError(f"{folder}: not a BEIR folder: missing {', '.join(lacks)} (folder contains: {held})")
    name = folder.resolve().name
    try:
        name = resolve_task_name(name)  # ./copy/scifact is SciFact, with its mteb metadata
    except DataError:
        pass
    return name, folder


def _keep_types(task_types: str | None) -> set[str] | None:
    """The lower-cased task types `--task-types` keeps (None: all); an unknown one is a TaskSelectionError."""
    keep_types = {t.strip().lower() for t in task_types.split(",") if t.strip()} if task_types else None
    if keep_types:
        unknown = keep_types - {t.lower() for t in SUPPORTED_TYPES}
        if unknown:
            raise TaskSelectionError(
                f"--task-types: unknown {', '.join(sorted(unknown))}; choose from {', '.join(SUPPORTED_TYPES)}"
            )
    return keep_types


def _item_tasks(item: str, data_dir: DataPath | str | None, sel: Selection) -> tuple[Any, list[tuple[str, str]]]:
    """(the benchmark `item` names or None, its (task, type) pairs): a benchmark, a BEIR folder (recorded in
    `sel.folders`) or a task name."""
    bench = None if _looks_like_path(item) else _benchmark(item)
    if bench is not None:
        return bench, [(t.metadata.name, t.metadata.type) for t in bench.tasks]
    if _looks_like_path(item):
        found = folder_task(item, data_dir)
    else:
        try:
            return None, [resolve_task(item)]
        except TaskSelectionError:
            found = folder_task(item, data_dir)  # a folder under --data-dir, named by the user
            if found is None:
                raise
    name, folder = found
    sel.folders[name] = folder
    return None, [(name, "Retrieval")]


def _add_task(sel: Selection, name: str, ttype: str, bench: Any) -> None:
    """Select task `name` of type `ttype` (from benchmark `bench`, or None), once."""
    if name in sel.tasks:
        return
    sel.tasks.append(name)
    sel.types[name] = ttype
    if bench is not None:
        sel.from_benchmark.add(name)
        # mteb hands out the same task instances on every call: copy, never load data into them.
        sel.task_objects[name] = copy.deepcopy({t.metadata.name: t for t in bench.tasks}[name])
        sel.selected_by[name] = bench.name
    subs = subtask_names(name) if name not in sel.folders else None
    if subs:
        sel.subtasks[name] = subs


def select_tasks(
    arg: str | None,
    default_benchmark: str | None,
    task_types: str | None = None,
    exclude: str | None = None,
    data_dir: DataPath | str | None = None,
) -> Selection:
    """Tasks from names, BEIR folders and/or benchmarks, optionally filtered by mteb task type; `exclude`
    names are recorded as skipped (a benchmark run that leaves out a task says so instead of looking
    complete). Aggregate tasks (CQADupstackRetrieval) are one entry with their sub-tasks in `subtasks`."""
    items = split_task_arg(arg) if arg else [default_benchmark or DEFAULT_BENCHMARK]
    excluded = [resolve_task(x)[0] for x in split_task_arg(exclude)] if exclude else []
    keep_types = _keep_types(task_types)
    source = f"--tasks {arg}" if arg else f"default for this model: {items[0]}"
    sel = Selection(tasks=[], types={}, skipped={}, source=source)
    for item in items:
        bench, pairs = _item_tasks(item, data_dir, sel)
        for name, ttype in pairs:
            if keep_types and ttype.lower() not in keep_types:
                continue
            if name in excluded:
                sel.skipped[name] = "excluded with --exclude-tasks"
            elif ttype not in SUPPORTED_TYPES:
                sel.skipped[name] = f"{ttype} tasks are not text embedding tasks leafbench evaluates"
            else:
                _add_task(sel, name, ttype, bench)
    if not sel.tasks:
        raise TaskSelectionError(f"no runnable tasks in {arg or items[0]!r}")
    return sel


@lru_cache(maxsize=None)
def _subtasks_cached(name: str) -> tuple[str, ...]:
    from .data import aggregate_subtasks

    return tuple(aggregate_subtasks(name) or ())


def subtask_names(name: str) -> list[str] | None:
    """An mteb aggregate task's sub-tasks (CQADupstackRetrieval: 12 forums), None for other tasks."""
    return list(_subtasks_cached(name)) or None


def describe_benchmark(benchmark: str, data_dir: DataPath | str | None = None) -> list[dict]:
    """Rows for `leafbench tasks`: each task's type, main score, splits and local availability (BEIR folders only
    at a URL: mteb's STS and classification files are read from a local --data-dir)."""
    from .data import find_local_folder, open_data_dir
    from .mteb_local import local_task_names

    bench = _benchmark(benchmark)
    if bench is None:
        raise TaskSelectionError(f'unknown benchmark {benchmark!r}; e.g. "MTEB(eng, v2)", BEIR, NanoBEIR')
    data_dir = open_data_dir(data_dir) if data_dir else None  # an unreachable URL: one error, not one per task
    local = set(local_task_names(data_dir)) if isinstance(data_dir, Path) else set()
    rows = []
    for t in bench.tasks:
        m = t.metadata
        has_local = bool(data_dir) and (
            m.name in local or (m.type == "Retrieval" and find_local_folder(m.name, data_dir) is not None)
        )
        row = {
            "task": m.name,
            "type": m.type,
            "main_score": m.main_score,
            "splits": list(m.eval_splits),
            "local": has_local,
            "leafbench": "fast path"
            if m.type == "Retrieval"
            else ("mteb evaluator" if m.type in SUPPORTED_TYPES else "not supported"),
        }
        if getattr(t, "is_aggregate", False):
            subs = [
                {
                    "task": st.metadata.name,
                    "local": bool(data_dir) and find_local_folder(st.metadata.name, data_dir) is not None,
                }
                for st in m.tasks
            ]
            row.update(
                local=bool(subs) and all(s["local"] for s in subs),
                subtasks=subs,
                leafbench=f"mean of {len(subs)} sub-tasks",
            )
        rows.append(row)
    return rows
