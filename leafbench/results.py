"""Result records: mteb's TaskResult JSON plus a `leafbench` block; read/write, atomically.

Files are valid mteb TaskResult JSON (mteb.TaskResult.from_disk reads them; the extra block is ignored), so
the mteb ecosystem can consume them. Layout and the block's schema: leafbench.record (the one place that names
result files and defines the block).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .record import ResultRecord, result_path as result_path  # noqa: F401  (re-exported: the one naming rule)


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
) -> dict[str, Any]:
    """mteb TaskResult fields (built by mteb itself) + leafbench's provenance block.

    `scores` is one subset's scores; `by_subset` ({hf_subset: scores}) gives a multi-subset task one entry
    per subset, as mteb writes them. A task mteb does not know (a user's BEIR folder) gets the same
    TaskResult layout, with `revision` (its data fingerprint) as dataset revision and no languages.
    """
    import mteb
    from mteb.results import TaskResult

    subsets = dict(by_subset) if by_subset is not None else {"default": scores or {}}
    task = _mteb_task_or_none(task_name)
    if task is not None:
        tr = TaskResult.from_task_results(task, {split: subsets}, evaluation_time=evaluation_time)
    else:
        version = mteb.__version__
        tr = TaskResult(
            dataset_revision=revision or "local",
            task_name=task_name,
            mteb_version=version,
            scores={split: [{**sc, "hf_subset": sub, "languages": [], "mteb_version": version} for sub, sc in subsets.items()]},
            evaluation_time=evaluation_time,
        )
    data = json.loads(tr.model_dump_json())
    data["leafbench"] = _block(leafbench)
    return data


def combine_aggregate(
    task_name: str, sub_results: list[dict[str, Any]], leafbench: ResultRecord | dict[str, Any],
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
    from .files import atomic_write

    atomic_write(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def read_result(path: Path) -> dict[str, Any]:
    """A result (or manifest) JSON; unreadable or invalid files raise ValueError naming the file."""
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{e.lineno}: invalid result JSON ({e.msg})") from e
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: cannot read result ({e})") from e


def scored_selection(data: dict[str, Any]) -> tuple[list[str], list[str] | None]:
    """(splits, hf_subsets or None for all) a result was evaluated on, as its leafbench block records them.

    mteb task results record ``eval_splits`` and ``hf_subsets`` (a benchmark's task object restricts both);
    retrieval results record their one ``split`` (and ``hf_subsets`` for multi-subset tasks). A result that
    records no split is read only when it holds a single one: a file with several and no record (written
    before leafbench recorded them) is ambiguous and refused rather than read at "the first split it finds".
    """
    scores = data["scores"]
    lb = data.get("leafbench") or {}
    subsets = [str(s) for s in lb["hf_subsets"]] if lb.get("hf_subsets") else None
    if lb.get("eval_splits"):
        splits = [str(s) for s in lb["eval_splits"]]
    elif lb.get("split") in scores:
        splits = [lb["split"]]
    elif len(scores) == 1:
        splits = list(scores)
    else:
        raise ValueError(
            f"{data.get('task_name')}: scores for splits {sorted(scores)} but no record of which were evaluated "
            "(a result written before leafbench recorded eval_splits); re-run the task"
        )
    return splits, subsets


def main_score(
    data: dict[str, Any], split: str | None = None, *, splits: list[str] | None = None, hf_subsets: list[str] | None = None,
) -> float:
    """A result's main score, the mean over its (split, hf subset) entries as mteb's TaskResult.get_score
    aggregates them, over the splits and subsets the result records as evaluated (``scored_selection``).

    `split` (one) or `splits` and `hf_subsets` pick another selection, e.g. a benchmark's: every selected
    split must be present, and so must every selected subset in each of them (ValueError otherwise).
    """
    scores = data["scores"]
    rec_splits, rec_subsets = scored_selection(data)
    want_splits = [split] if split else (splits or rec_splits)
    want_subsets = hf_subsets if hf_subsets is not None else rec_subsets
    values: list[float] = []
    for sp in want_splits:
        if sp not in scores:
            raise ValueError(f"{data.get('task_name')}: no scores for split {sp!r} (has {sorted(scores)})")
        entries = scores[sp]
        if want_subsets is not None:
            have = {str(e.get("hf_subset")) for e in entries}
            lacking = [s for s in want_subsets if s not in have]
            if lacking:
                raise ValueError(f"{data.get('task_name')}: split {sp!r} has no scores for subset(s) {lacking}")
            entries = [e for e in entries if str(e.get("hf_subset")) in want_subsets]
        values += [float(e["main_score"]) for e in entries]
    if not values:
        raise ValueError(f"{data.get('task_name')}: no scores for split(s) {want_splits}")
    return float(sum(values) / len(values))


def iter_results(root: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every leafbench result under `root` (JSON files without a `leafbench` block, such as run manifests, are
    skipped). A file that cannot be read or parsed, or has a newer schema_version, raises ValueError naming it:
    a report or check must never show a damaged result as missing."""
    from .record import SchemaError

    for p in sorted(Path(root).rglob("*.json")):
        data = read_result(p)
        if isinstance(data, dict) and "leafbench" in data and "scores" in data:
            try:  # a newer schema than this code reads is refused, never half-read
                ResultRecord.from_dict(data["leafbench"], where=str(p))
            except SchemaError as e:
                raise ValueError(str(e)) from None
            try:
                main_score(data)
            except (KeyError, TypeError, ValueError, IndexError, StopIteration) as e:
                raise ValueError(f"{p}: result without a readable main score ({type(e).__name__}: {e})") from e
            yield p, data
