"""`leafbench distill --check`: open every source of a recipe and read its first rows, before any work.

A wrong hub dataset id, config, split or field otherwise surfaces after the teacher has labelled every
earlier source (hours on a large recipe). Here each source is opened the way training opens it - hub datasets
streamed (`datasets.load_dataset(..., streaming=True)`), local files read - and only its first rows are read.
"""

from __future__ import annotations

import copy
import itertools
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from .recipe import Recipe, load_stages
from .texts import SourceSpec, TextSourceError, iter_source, reference_texts


@dataclass
class SourceCheck:
    """One source of one stage: could its first rows be read, and what do they look like."""

    stage: int
    source: str
    where: str  # hub id (config, split) or file/folder
    ok: bool
    preview: str = ""  # the first text, shortened
    fields: list[str] = field(default_factory=list)  # the row's fields (hub row, jsonl keys, tsv columns)
    error: str = ""


def _where(spec: SourceSpec, base: Path) -> str:
    if spec.hf is not None:
        return f"hub {spec.hf}" + (f" [{spec.hf_config}]" if spec.hf_config else "") + f" split {spec.hf_split}"
    rel = spec.path if spec.path is not None else spec.beir
    p = Path(rel)
    return str(p if p.is_absolute() else base / p)


def _fields(spec: SourceSpec, base: Path) -> list[str]:
    """The fields of a source's first row (hub rows are read by `_peek_hub`)."""
    if spec.beir is not None:
        return ["_id", "title", "text"] if spec.role == "document" else ["_id", "text"]
    p = Path(spec.path) if Path(spec.path).is_absolute() else base / spec.path
    try:
        with p.open(encoding="utf-8") as f:
            first = next((line for line in f if line.strip()), "")
    except (OSError, UnicodeDecodeError):
        return []
    if p.suffix == ".jsonl":
        try:
            obj = json.loads(first)
        except json.JSONDecodeError:
            return []
        return list(obj) if isinstance(obj, dict) else []
    if p.suffix == ".tsv":
        return first.rstrip("\n").split("\t")
    return []


def _peek_hub(spec: SourceSpec, rows: int) -> tuple[list[str], list[str]]:
    try:
        import datasets
    except ImportError as e:  # pragma: no cover - datasets is a dependency
        raise TextSourceError("hub sources need the `datasets` package") from e
    try:
        ds = datasets.load_dataset(spec.hf, spec.hf_config, split=spec.hf_split, streaming=True)
        first = list(itertools.islice(iter(ds), rows))
    except Exception as e:  # unknown id, config or split; no network; gated dataset
        raise TextSourceError(f"could not open ({type(e).__name__}: {str(e)[:300]})") from e
    if not first:
        raise TextSourceError("no rows")
    fields = [str(k) for k in first[0]]
    if spec.field not in first[0]:
        raise TextSourceError(f"no field {spec.field!r} (fields: {', '.join(fields)})")
    texts = [r[spec.field] for r in first if isinstance(r.get(spec.field), str)]
    if not texts:
        raise TextSourceError(f"field {spec.field!r} is not text (first value: {first[0][spec.field]!r:.60})")
    return texts, fields


def check_source(spec: SourceSpec, base: Path, stage: int = 1, rows: int = 3) -> SourceCheck:
    """Read the first `rows` texts of one source (and its domain reference, if any); never raises for the
    source's own faults - they are the check's result."""
    out = SourceCheck(stage, spec.name, _where(spec, base), ok=False)
    try:
        if spec.hf is not None:
            texts, out.fields = _peek_hub(spec, rows)
        else:
            out.fields = _fields(spec, base)
            texts = list(itertools.islice(iter_source(spec, base), rows))
            if not texts:
                raise TextSourceError("no texts")
        if spec.domain is not None and not reference_texts(spec.domain, base):
            raise TextSourceError(f"domain reference {spec.domain} has no texts")
    except (TextSourceError, OSError, ValueError) as e:
        out.error = str(e)
        return out
    out.ok = True
    out.preview = " ".join(texts[0].split())[:70]
    return out


def check_recipe(
    recipe: str | Recipe,
    *,
    training_dir: Path | str | None = None,
    data_dir: Path | str | None = None,
    rows: int = 3,
) -> list[SourceCheck]:
    """Every source of every stage of `recipe` (each distinct file/dataset once), opened and its first rows read.

    A recipe that cannot be resolved (unknown file, invalid YAML or keys, a local source with no
    `training_dir`) raises RecipeError; a source that cannot be read is a failed SourceCheck."""
    stages = [recipe] if isinstance(recipe, Recipe) else load_stages(recipe)
    seen: set[str] = set()
    out: list[SourceCheck] = []
    for i, r in enumerate(stages, 1):
        r = copy.copy(r)  # the overrides below must not change the caller's Recipe
        if training_dir is not None:
            r.data = replace(r.data, training_dir=str(training_dir))
        if data_dir is not None:
            r.eval = replace(r.eval, data_dir=str(data_dir))
        base = r.training_base() or Path(".")
        for spec in r.resolved_sources():
            # What is opened and read; a source's limit or length caps do not change its first rows.
            key = repr(
                (
                    spec.hf,
                    spec.hf_config,
                    spec.hf_split,
                    spec.path,
                    spec.beir,
                    spec.split,
                    spec.role,
                    spec.field,
                    spec.domain,
                )
            )
            if key in seen:
                continue
            seen.add(key)
            out.append(check_source(spec, base, i, rows))
    return out
