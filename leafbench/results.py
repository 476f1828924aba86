"""Result records: mteb's TaskResult JSON plus a `leafbench` block; read/write, atomically.

Files are valid mteb TaskResult JSON (mteb.TaskResult.from_disk reads them; the extra block is ignored), so
the mteb ecosystem can consume them. Layout: ``<output>/<run_slug>/<mode>/<TaskName>.json``.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MODES = ("student", "teacher", "asymmetric")


def result_path(output: Path, run_slug: str, mode: str, task_name: str, cell: str | None = None) -> Path:
    name = task_name if not cell else f"{task_name}__{cell}"
    return Path(output) / run_slug / mode / f"{name}.json"


def build_result(
    task_name: str,
    split: str,
    scores: dict[str, Any],
    evaluation_time: float,
    leafbench: dict[str, Any],
) -> dict[str, Any]:
    """mteb TaskResult fields (built by mteb itself) + leafbench's provenance block."""
    import mteb
    from mteb.results import TaskResult

    task = mteb.get_task(task_name)
    tr = TaskResult.from_task_results(task, {split: {"default": scores}}, evaluation_time=evaluation_time)
    data = json.loads(tr.model_dump_json())
    data["leafbench"] = leafbench
    return data


def write_result(path: Path, data: dict[str, Any]) -> None:
    """Write via a temp file + rename: an interrupted run never leaves a half-written result."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, sort_keys=False)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_result(path: Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{e.lineno}: invalid result JSON ({e.msg})") from e


def main_score(data: dict[str, Any], split: str | None = None) -> float:
    scores = data["scores"]
    split = split or next(iter(scores))
    return float(scores[split][0]["main_score"])


def iter_results(root: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every leafbench result under `root` (files without a `leafbench` block are skipped)."""
    for p in sorted(Path(root).rglob("*.json")):
        try:
            data = read_result(p)
        except ValueError:
            continue
        if isinstance(data, dict) and "leafbench" in data and "scores" in data:
            yield p, data
