"""Result files: an mteb TaskResult JSON plus the ``leafbench`` block, built by mteb, written atomically, and
read back into a :class:`ResultRecord` with its context (task, run folder, path, main score).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .schema import ResultRecord, SchemaError
from .scores import main_score, real_score


def _block(leafbench: ResultRecord | dict[str, Any]) -> dict[str, Any]:
    return leafbench.to_dict() if isinstance(leafbench, ResultRecord) else leafbench


def _mteb_task_or_none(task_name: str) -> Any:
    import mteb

    try:
        return mteb.get_task(task_name)
    except Exception:  # noqa: BLE001 - mteb raises several types for unknown names
        return None


def build_result(
    task_name: str,
    split: str,
    scores: dict[str, Any] | None,
    evaluation_time: float,
    leafbench: ResultRecord | dict[str, Any],
    *,
    by_subset: Mapping[str, dict[str, Any]] | None = None,
    revision: str | None = None,
    local_copy: bool = False,
) -> dict[str, Any]:
    """mteb TaskResult fields (built by mteb itself) + leafbench's provenance block.

    `scores` is one subset's scores; `by_subset` ({hf_subset: scores}) gives a multi-subset task one entry
    per subset, as mteb writes them. A task mteb does not know (a user's BEIR folder) gets the same
    TaskResult layout, with `revision` (its data fingerprint) as dataset revision and no languages. A `local_copy`
    of a task mteb knows (sizes not mteb's, data.mark_local_copies) records `revision` too, never mteb's revision.
    """
    import mteb
    from mteb.results import TaskResult

    subsets = dict(by_subset) if by_subset is not None else {"default": scores or {}}
    task = _mteb_task_or_none(task_name)
    if task is not None:
        tr = TaskResult.from_task_results(task, {split: subsets}, evaluation_time=evaluation_time)
        if local_copy:
            tr.dataset_revision = revision or "local"
    else:
        version = mteb.__version__
        tr = TaskResult(
            dataset_revision=revision or "local",
            task_name=task_name,
            mteb_version=version,
            scores={
                split: [
                    {**sc, "hf_subset": sub, "languages": [], "mteb_version": version} for sub, sc in subsets.items()
                ]
            },
            evaluation_time=evaluation_time,
        )
    data = json.loads(tr.model_dump_json())
    data["leafbench"] = _block(leafbench)
    return data


def combine_aggregate(
    task_name: str,
    sub_results: list[dict[str, Any]],
    leafbench: ResultRecord | dict[str, Any],
) -> dict[str, Any]:
    """An mteb aggregate task's result (CQADupstackRetrieval) from its sub-tasks' result dicts, combined by
    mteb's own `combine_task_results` (main score = mean of the sub-tasks' main scores)."""
    import mteb
    from mteb.results import TaskResult

    task = mteb.get_task(task_name)
    trs = [TaskResult.model_validate({k: v for k, v in r.items() if k != "leafbench"}) for r in sub_results]
    combined = task.combine_task_results(trs)
    data = json.loads(combined.model_dump_json())
    data["leafbench"] = _block(leafbench)
    return data


def write_result(path: Path, data: dict[str, Any]) -> None:
    """Write via a temp file + rename (an interrupted run never leaves a half-written result), with the mode the
    process umask gives ordinary files (results folders are often shared)."""
    from ..files import atomic_write

    atomic_write(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def read_result(path: Path) -> dict[str, Any]:
    """A result (or manifest) JSON; unreadable or invalid files raise ValueError naming the file."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{e.lineno}: invalid result JSON ({e.msg})") from e
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: cannot read result ({e})") from e


def check_main_scores(data: Mapping[str, Any], where: str) -> None:
    """Every main score a result holds (all splits and subsets, read or not: an export copies them all) is a
    :func:`real_score`; otherwise a SchemaError naming `where` and the key."""
    scores = data.get("scores")
    if not isinstance(scores, Mapping):
        raise SchemaError(f"{where}: scores is not an object")
    for sp, entries in scores.items():
        if not isinstance(entries, list):
            raise SchemaError(f"{where}: scores.{sp} is not a list")
        for i, e in enumerate(entries):
            key = f"scores.{sp}[{i}].main_score"
            if not isinstance(e, Mapping) or "main_score" not in e:
                raise SchemaError(f"{where}: {key} is missing")
            try:
                real_score(e["main_score"], key)
            except ValueError as err:
                raise SchemaError(f"{where}: {err}") from None


def read_record(path: Path | str, data: Mapping[str, Any] | None = None) -> ResultRecord:
    """A result file's record with its context (task, run folder, main score); `data`: the parsed JSON when the
    caller has it. Not a leafbench result, a newer schema or no readable main score: an error naming the file."""

    path = Path(path)
    try:
        data = read_result(path) if data is None else data
    except ValueError as e:
        raise SchemaError(str(e)) from None
    if not is_result(data):
        raise SchemaError(f"{path}: not a leafbench result (no scores and leafbench block)")
    rec = ResultRecord.from_dict(data["leafbench"], where=str(path))
    check_main_scores(data, str(path))
    rec.task_name = str(data.get("task_name") or path.stem.split("__")[0])
    rec.run = path.parent.parent.name
    rec.path = path
    rec.mteb_version = data.get("mteb_version")
    rec.scores = data["scores"]
    try:
        rec.main_score = main_score(dict(data))
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise SchemaError(f"{path}: result without a readable main score ({type(e).__name__}: {e})") from None
    return rec


def is_result(data: Any) -> bool:
    """A parsed JSON file is a leafbench result (run manifests, baselines and other JSON are not)."""
    return isinstance(data, Mapping) and "leafbench" in data and "scores" in data


def result_files(root: Path | str) -> Iterator[tuple[Path, dict[str, Any]]]:
    """(path, parsed JSON) of every leafbench result under `root`, in path order; other JSON is skipped. A file
    that cannot be read or parsed raises SchemaError naming file:line (never read as missing)."""
    for p in sorted(Path(root).rglob("*.json")):
        try:
            data = read_result(p)
        except ValueError as e:
            raise SchemaError(str(e)) from None
        if is_result(data):
            yield p, data
