"""Task selection: names, benchmarks and defaults, resolved with mteb's own registry."""

from __future__ import annotations

from dataclasses import dataclass

BENCHMARK_ALIASES = {"beir": "BEIR", "nanobeir": "NanoBEIR", "mteb(eng, v2)": "MTEB(eng, v2)"}
DEFAULT_BENCHMARK = "NanoBEIR"
# Task types leafbench evaluates today; others are listed as skipped, never dropped silently.
SUPPORTED_TYPES = ("Retrieval",)


class TaskSelectionError(ValueError):
    pass


@dataclass
class Selection:
    tasks: list[str]
    skipped: dict[str, str]  # task -> reason (unsupported type, ...)
    source: str  # how the list was chosen, for the terminal and the results


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


def benchmark_tasks(name: str) -> list[tuple[str, str]]:
    """(task name, task type) for a benchmark name as mteb spells it."""
    import mteb

    bench = mteb.get_benchmark(BENCHMARK_ALIASES.get(name.lower(), name))
    return [(t.metadata.name, t.metadata.type) for t in bench.tasks]


def _is_benchmark(name: str) -> bool:
    import mteb

    try:
        mteb.get_benchmark(BENCHMARK_ALIASES.get(name.lower(), name))
        return True
    except Exception:  # noqa: BLE001 - mteb raises several types for unknown names
        return False


def select_tasks(arg: str | None, default_benchmark: str | None) -> Selection:
    from .data import resolve_task_name

    items = split_task_arg(arg) if arg else [default_benchmark or DEFAULT_BENCHMARK]
    source = f"--tasks {arg}" if arg else f"default for this model: {items[0]}"
    tasks: list[str] = []
    skipped: dict[str, str] = {}
    for item in items:
        if _is_benchmark(item):
            for name, ttype in benchmark_tasks(item):
                if ttype not in SUPPORTED_TYPES:
                    skipped[name] = f"{ttype} tasks are not evaluated yet"
                elif name not in tasks:
                    tasks.append(name)
            continue
        name = resolve_task_name(item)
        if name not in tasks:
            tasks.append(name)
    if not tasks:
        raise TaskSelectionError(f"no runnable tasks in {arg or items[0]!r}")
    return Selection(tasks=tasks, skipped=skipped, source=source)
