"""Building a task's ``dataset`` from its local JSONL files, validated line by line, and filling mteb's task object
with it (:func:`load_local_task`). mteb and datasets are imported lazily (they take seconds)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from ..errors import UserError
from .specs import _LINE, LOCAL_TASKS, LocalSpec, Row, local_root

__all__ = ["LocalDataError", "load_local_task"]


class LocalDataError(UserError):
    """A local MTEB data file is missing or malformed; the message is one line and names the file (and line)."""


def _read_jsonl(path: Path) -> list[Row]:
    """Rows of a JSONL file; bad bytes, bad JSON or a non-object line raise LocalDataError naming file:line."""
    if not path.is_file():
        raise LocalDataError(f"{path}: file not found")
    rows: list[Row] = []
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise LocalDataError(f"{path}:{lineno}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
            if lineno == 1 and line.startswith("\ufeff"):
                line = line[1:]
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise LocalDataError(f"{path}:{lineno}: invalid JSON ({exc.msg} at column {exc.colno})") from None
            except RecursionError:
                raise LocalDataError(f"{path}:{lineno}: invalid JSON (nested too deeply)") from None
            if not isinstance(row, dict):
                raise LocalDataError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
            row[_LINE] = lineno
            rows.append(row)
    return rows


_SURROGATE = re.compile("[\ud800-\udfff]")
_INT64 = 2**63


def _get_text(row: Row, key: str, where: str) -> str:
    value = row.get(key)
    if not isinstance(value, str):
        problem = "missing" if key not in row else f"not a string ({type(value).__name__})"
        raise LocalDataError(f"{where}: field {key!r} {problem}")
    if _SURROGATE.search(value):  # JSON can spell one ("\ud800"); no tokenizer or Arrow column takes it
        raise LocalDataError(
            f"{where}: field {key!r} holds an unpaired surrogate (\\ud800-\\udfff escape): not valid Unicode"
        )
    return value


def _short(value: Any, limit: int = 60) -> str:
    """repr() clipped, so a message stays one readable line whatever the file holds."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _finite(value: Any) -> bool:
    """A JSON number that is a finite float (big ints that overflow a float are not)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _sts_columns(rows: list[Row], path: Path) -> dict[str, list[Any]]:
    s1, s2, score = [], [], []
    for row in rows:
        where = f"{path}:{row.get(_LINE, '?')}"
        s1.append(_get_text(row, "sentence1", where))
        s2.append(_get_text(row, "sentence2", where))
        value = row.get("score")
        if not _finite(value):
            raise LocalDataError(f"{where}: field 'score' must be a finite number, got {_short(value)}")
        score.append(float(value))
    return {"sentence1": s1, "sentence2": s2, "score": score}


def _classification_columns(rows: list[Row], path: Path, spec: LocalSpec) -> dict[str, list[Any]]:
    ids = {name: i for i, name in enumerate(spec.label_names)} if spec.label_names else None
    text, label = [], []
    for row in rows:
        where = f"{path}:{row.get(_LINE, '?')}"
        text.append(_get_text(row, "text", where))
        value = row.get("label")
        if ids is not None:
            if not isinstance(value, str) or value not in ids:
                raise LocalDataError(f"{where}: label {_short(value)} is not one of the task's {len(ids)} class names")
            value = ids[value]
        elif isinstance(value, bool) or not isinstance(value, int) or not -_INT64 <= value < _INT64:
            raise LocalDataError(f"{where}: field 'label' must be an integer class id, got {_short(value)}")
        label.append(value)
    return {"text": text, "label": label}


def _build_split(spec: LocalSpec, subset: str, split: str, root: Path):
    from datasets import Dataset, Features, Value

    path = root / spec.files[subset][split]
    rows = _read_jsonl(path)
    fixup = spec.fixups.get((subset, split))
    if fixup is not None:
        rows = fixup(rows)
    if spec.kind == "sts":
        columns = _sts_columns(rows, path)
        features = Features({"sentence1": Value("string"), "sentence2": Value("string"), "score": Value("float64")})
    else:
        columns = _classification_columns(rows, path, spec)
        features = Features({"text": Value("string"), "label": Value("int64")})
    expected = spec.sizes[subset][split]
    if len(rows) != expected:
        raise LocalDataError(f"{path}: {len(rows)} rows, expected {expected} (mteb's {subset}/{split} size)")
    return Dataset.from_dict(columns, features=features)


def load_local_task(task_name: str, data_dir: Path | str, *, task: Any = None) -> Any:
    """mteb's task object for ``task_name`` with ``.dataset`` filled from local files and ``.data_loaded = True``.

    ``task``: an already configured task object to fill instead of ``mteb.get_task(task_name)`` (e.g. one from
    ``mteb.get_benchmark("MTEB(eng, v2)")``, whose subset and split selection is kept). Its ``hf_subsets`` are
    narrowed to the subsets that are local; every evaluated split must be local.
    """
    spec = LOCAL_TASKS.get(task_name)
    if spec is None:
        raise LocalDataError(f"{task_name}: no local data spec (local tasks: {', '.join(LOCAL_TASKS)})")
    root = local_root(data_dir)

    if task is None:
        import mteb

        task = mteb.get_task(task_name)
    elif task.metadata.name != task_name:
        raise LocalDataError(f"{task_name}: given task object is {task.metadata.name!r}")

    from datasets import DatasetDict

    is_multilingual = task.metadata.is_multilingual
    if not is_multilingual and spec.hf_subsets != ["default"]:
        raise LocalDataError(f"{task_name}: spec has subsets {spec.hf_subsets} but the mteb task is monolingual")
    wanted = list(task.hf_subsets) if task.hf_subsets else list(task.metadata.hf_subsets)
    subsets = [s for s in wanted if s in spec.files] if is_multilingual else ["default"]
    if not subsets:
        raise LocalDataError(f"{task_name}: none of the selected subsets {wanted} is local (local: {spec.hf_subsets})")
    for subset in subsets:
        for rel in spec.files[subset].values():
            if not (root / rel).is_file():
                raise LocalDataError(f"{root / rel}: file not found (needed for {task_name})")
        splits = set(spec.files[subset])
        needed = list(task.eval_splits)
        if spec.kind == "classification":
            needed.append(task.train_split)
        absent = [s for s in needed if s not in splits]
        if absent:
            raise LocalDataError(
                f"{task_name}: split(s) {absent} of subset {subset!r} have no local file "
                f"(local splits: {', '.join(spec.files[subset])})"
            )

    built: dict[str, Any] = {}
    for subset in subsets:
        by_file: dict[str, Any] = {}  # a file two split names read (STSBenchmark dev = validation) is built once
        for split, rel in spec.files[subset].items():
            if rel not in by_file:
                by_file[rel] = _build_split(spec, subset, split, root)
        built[subset] = DatasetDict({split: by_file[rel] for split, rel in spec.files[subset].items()})
    if is_multilingual:
        task.hf_subsets = subsets
        task.dataset = built
    else:
        task.dataset = built["default"]
    task.dataset_transform()
    task.data_loaded = True
    return task
