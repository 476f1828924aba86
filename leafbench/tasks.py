"""Task selection: names, benchmarks and defaults, resolved with mteb's own registry."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from functools import lru_cache

BENCHMARK_ALIASES = {"beir": "BEIR", "nanobeir": "NanoBEIR", "mteb(eng, v2)": "MTEB(eng, v2)", "mteb(eng,v2)": "MTEB(eng, v2)"}
DEFAULT_BENCHMARK = "NanoBEIR"
# Text task types leafbench evaluates: Retrieval on its fast path, the rest through mteb's evaluators.
SUPPORTED_TYPES = ("Retrieval", "STS", "Classification", "Clustering", "PairClassification", "Reranking", "Summarization")


class TaskSelectionError(ValueError):
    pass


@dataclass
class Selection:
    tasks: list[str]
    types: dict[str, str]  # task -> mteb task type
    skipped: dict[str, str]  # task -> reason (unsupported type, ...)
    source: str  # how the list was chosen, for the terminal and the results
    from_benchmark: set[str] = field(default_factory=set)  # missing data here is reported, not fatal


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


def benchmark_tasks(name: str) -> list[tuple[str, str]]:
    """(task name, task type) for a benchmark name as mteb spells it."""
    bench = _benchmark(name)
    if bench is None:
        raise TaskSelectionError(f"unknown benchmark {name!r}")
    return [(t.metadata.name, t.metadata.type) for t in bench.tasks]


def _norm(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


@lru_cache(maxsize=1)
def _all_task_names() -> dict[str, str]:
    import mteb

    return {_norm(t.metadata.name): t.metadata.name for t in mteb.get_tasks(exclude_superseded=False)}


def resolve_task(name: str) -> tuple[str, str]:
    """(mteb task name, task type) for a task name in any case, or a BEIR folder name (scifact, trec-covid)."""
    import mteb

    from .data import DataError, resolve_task_name

    try:
        canonical = resolve_task_name(name)
    except DataError:
        canonical = _all_task_names().get(_norm(name))
    if canonical is None:
        names = list(_all_task_names().values())
        close = difflib.get_close_matches(name, names, n=5, cutoff=0.6)
        hint = f"; closest: {', '.join(close)}" if close else "; see `leafbench tasks --benchmark \"MTEB(eng, v2)\"`"
        raise TaskSelectionError(f"unknown task {name!r}{hint}")
    return canonical, mteb.get_task(canonical).metadata.type


def select_tasks(
    arg: str | None, default_benchmark: str | None, task_types: str | None = None, exclude: str | None = None
) -> Selection:
    """Tasks from names and/or benchmarks, optionally filtered by mteb task type; `exclude` names are recorded
    as skipped (a benchmark run that leaves out a task says so instead of looking complete)."""
    items = split_task_arg(arg) if arg else [default_benchmark or DEFAULT_BENCHMARK]
    excluded = [resolve_task(x)[0] for x in split_task_arg(exclude)] if exclude else []
    keep_types = {t.strip().lower() for t in task_types.split(",") if t.strip()} if task_types else None
    if keep_types:
        unknown = keep_types - {t.lower() for t in SUPPORTED_TYPES}
        if unknown:
            raise TaskSelectionError(f"--task-types: unknown {', '.join(sorted(unknown))}; choose from {', '.join(SUPPORTED_TYPES)}")
    source = f"--tasks {arg}" if arg else f"default for this model: {items[0]}"
    sel = Selection(tasks=[], types={}, skipped={}, source=source)
    for item in items:
        bench = _benchmark(item)
        pairs = [(t.metadata.name, t.metadata.type) for t in bench.tasks] if bench is not None else [resolve_task(item)]
        for name, ttype in pairs:
            if keep_types and ttype.lower() not in keep_types:
                continue
            if name in excluded:
                sel.skipped[name] = "excluded with --exclude-tasks"
            elif ttype not in SUPPORTED_TYPES:
                sel.skipped[name] = f"{ttype} tasks are not text embedding tasks leafbench evaluates"
            elif name not in sel.tasks:
                sel.tasks.append(name)
                sel.types[name] = ttype
                if bench is not None:
                    sel.from_benchmark.add(name)
    if not sel.tasks:
        raise TaskSelectionError(f"no runnable tasks in {arg or items[0]!r}")
    return sel


def describe_benchmark(benchmark: str, data_dir=None) -> list[dict]:
    """Rows for `leafbench tasks`: each task's type, main score, splits and local availability."""
    from pathlib import Path

    from .data import find_local_folder
    from .mteb_local import local_task_names

    bench = _benchmark(benchmark)
    if bench is None:
        raise TaskSelectionError(f"unknown benchmark {benchmark!r}; e.g. \"MTEB(eng, v2)\", BEIR, NanoBEIR")
    local = set(local_task_names(Path(data_dir))) if data_dir else set()
    rows = []
    for t in bench.tasks:
        m = t.metadata
        has_local = bool(data_dir) and (
            m.name in local or (m.type == "Retrieval" and find_local_folder(m.name, Path(data_dir)) is not None)
        )
        rows.append({
            "task": m.name,
            "type": m.type,
            "main_score": m.main_score,
            "splits": list(m.eval_splits),
            "local": has_local,
            "leafbench": "fast path" if m.type == "Retrieval" else ("mteb evaluator" if m.type in SUPPORTED_TYPES else "not supported"),
        })
    return rows
