"""`leafbench distill --check`: open every source of a recipe and read its first rows, before any work.

A wrong hub dataset id, config, split or field otherwise surfaces after the teacher has labelled every
earlier source (hours on a large recipe). Here each source is opened the way training opens it - hub datasets
streamed (`datasets.load_dataset(..., streaming=True)`), local files read - and only its first rows are read.
The fields that depend on the models (layer indices, teacher dim, lengths) are checked against the models'
configs by `check_setup`, here and at the start of every run, without loading weights or encoding a text.
"""

from __future__ import annotations

import copy
import itertools
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NoReturn

from .recipe import Recipe, RecipeError, load_stages
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


def _model_file(source: str, name: str, revision: str | None = None) -> Path | None:
    """One small file of a model folder or hub repo (from the Hugging Face cache, or downloaded alone), or None."""
    if Path(source).is_dir():
        path = Path(source) / name
        return path if path.is_file() else None
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(source, name, revision=revision))
    except Exception:  # noqa: BLE001 - not a hub id, no such file, offline and not cached: nothing to read
        return None


def _read(path: Path | None) -> Any:
    try:
        return json.loads(path.read_text()) if path is not None else None
    except (OSError, ValueError):
        return None


def model_layout(source: str, revision: str | None = None) -> tuple[int | None, str]:
    """(embedding dim, folder of the Transformer module) a SentenceTransformer model declares in its module
    configs - the last Dense's out_features, else the pooled width. The dim is None when a module's config does
    not say (an unknown module type, a model not on this machine): such a model is not checked."""
    modules = _read(_model_file(source, "modules.json", revision))
    if not isinstance(modules, list):  # a plain transformers model: sentence-transformers adds mean pooling
        return (_read(_model_file(source, "config.json", revision)) or {}).get("hidden_size"), ""
    dim: int | None = None
    transformer = ""
    for m in modules:
        kind, sub = str(m.get("type", "")).rsplit(".", 1)[-1], str(m.get("path", ""))
        cfg = _read(_model_file(source, f"{sub}/config.json" if sub else "config.json", revision)) or {}
        if kind == "Transformer":
            transformer, dim = sub, cfg.get("hidden_size")
        elif kind == "Pooling":  # one width per pooling mode (sentence-transformers < 5: pooling_mode_* flags)
            mode = cfg.get("pooling_mode") or [k for k, v in cfg.items() if k.startswith("pooling_mode_") and v is True]
            n = len(mode) if isinstance(mode, list) else 1
            width = cfg.get("embedding_dimension") or cfg.get("word_embedding_dimension")
            dim = width * n if isinstance(width, int) and n else None
        elif kind == "Dense":
            dim = cfg.get("out_features")
        elif kind not in ("Normalize", "LayerNorm", "Dropout"):
            dim = None
    return (dim if isinstance(dim, int) else None), transformer


def _max_tokens(cfg: Any) -> int | None:
    """Tokens a model reads: its position table, less RoBERTa-style models' offset (positions start after the
    padding index). A longer max_seq_length fails at the first long text, mid-labelling or mid-training."""
    n = getattr(cfg, "max_position_embeddings", None)
    if not isinstance(n, int):
        return None
    if getattr(cfg, "model_type", "") in ("roberta", "xlm-roberta", "camembert", "mpnet"):
        n -= (getattr(cfg, "pad_token_id", None) or 0) + 1
    return n


def _config(source: str, subfolder: str = "", revision: str | None = None) -> Any:
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(source, subfolder=subfolder, revision=revision)


def check_setup(
    r: Recipe,
    where: str,
    cache_dir: Path | None = None,
    continues: Recipe | None = None,
    train_here: bool = True,
) -> None:
    """The fields that depend on the models, checked against their configs (no weights, nothing encoded), and
    the local evaluation split: each otherwise fails only after the teacher has labelled every training text.

    teacher.dim must be the teacher's embedding dim; student.layers must exist in the backbone; lengths must fit
    the models' position tables; student.init_from must be a student embedding in teacher.dim. `continues`: the
    first stage of the chain when `r` is a later stage (its student is that stage's, not built from `r`).
    `train_here=False` (a bundle is exported here, trained elsewhere): a backbone this machine cannot read is
    not an error. Raises RecipeError naming `where` and the field."""
    _check_teacher(r, where, cache_dir)
    found = _student_config(r, where, cache_dir, continues, train_here)
    if found is None:
        return
    cfg, source = found
    if continues is None and not r.student.init_from and r.student.layers is not None:
        _check_layers(r, where, cfg)
    _check_student_lengths(r, where, cfg, source)
    _check_eval_split(r, where)


def _fail(where: str, msg: str) -> NoReturn:
    raise RecipeError(f"{where}: {msg}")


def _check_teacher(r: Recipe, where: str, cache_dir: Path | None) -> None:
    """teacher.dim and teacher.max_seq_length against the teacher's module configs."""
    from leafbench.registry import ModelError, resolve_model

    try:
        teacher = resolve_model(r.teacher.model, cache_dir)
    except ModelError as e:
        _fail(where, f"teacher.model: {e}")
    if "hash_dim" in teacher.extra:  # the fake encoder: its dim is in its name, no position table
        dim, limit = teacher.extra["hash_dim"], None
    else:
        dim, sub = model_layout(teacher.source, teacher.revision)
        try:
            limit = _max_tokens(_config(teacher.source, sub, teacher.revision))
        except Exception:  # noqa: BLE001 - not on this machine: the run may still find every target in the store
            limit = None
    if dim is not None and dim != r.teacher.dim:
        _fail(where, f"teacher.dim is {r.teacher.dim}, but {r.teacher.model} embeds in {dim} dimensions")
    if limit and r.teacher.max_seq_length and r.teacher.max_seq_length > limit:
        _fail(
            where,
            f"teacher.max_seq_length {r.teacher.max_seq_length} is more than the {limit} tokens {r.teacher.model} reads",
        )


def _student_config(
    r: Recipe, where: str, cache_dir: Path | None, continues: Recipe | None, train_here: bool
) -> tuple[Any, str] | None:
    """(transformers config, where it was read) of the student the run starts from: the chain's init_from
    folder, else its backbone. None when it cannot be read and training happens elsewhere."""
    from leafbench.registry import ModelError

    from .student import backbone_source

    base = continues or r
    if base.student.init_from:
        folder = base.resolve_path(base.student.init_from)
        if not (folder / "modules.json").is_file():
            _fail(where, f"student.init_from: {folder} is not a SentenceTransformer folder (no modules.json)")
        out, sub = model_layout(str(folder))
        if continues is None and out is not None and out != r.teacher.dim:
            _fail(where, f"student.init_from: {folder} embeds in {out} dimensions, teacher.dim is {r.teacher.dim}")
        what, source = "student.init_from", str(folder / sub)
    else:
        what = "student.backbone"
        try:
            source = backbone_source(base.student.backbone, cache_dir)
        except ModelError as e:
            _fail(where, f"student.backbone: {e}")
    try:
        return _config(source), source
    except Exception as e:  # noqa: BLE001 - unknown id, offline and not cached, not a transformers model
        if not train_here:
            return None
        first_line = f"{type(e).__name__}: {(str(e).strip().splitlines() or [''])[0][:200]}"
        _fail(where, f"{what}: cannot read the model config of {source} ({first_line})")


def _check_layers(r: Recipe, where: str, cfg: Any) -> None:
    """student.layers must exist in the backbone."""
    n = getattr(cfg, "num_hidden_layers", None)
    if not isinstance(n, int):
        _fail(
            where,
            f"student.layers: {r.student.backbone}'s config has no num_hidden_layers; a layer selection needs one",
        )
    keep = list(range(1, n, 2)) if r.student.layers == "every_other" else r.student.layers
    if not keep or keep[-1] >= n:
        _fail(where, f"student.layers {r.student.layers}: {r.student.backbone} has {n} layers (indices 0-{n - 1})")


def _check_student_lengths(r: Recipe, where: str, cfg: Any, source: str) -> None:
    """The student's training and inference lengths must fit its position table."""
    limit = _max_tokens(cfg)
    for name in ("max_seq_length", "export_max_seq_length"):
        v = getattr(r.student, name)
        if limit and v and v > limit:
            _fail(where, f"student.{name} {v} is more than the {limit} tokens the student ({source}) reads")


def _check_eval_split(r: Recipe, where: str) -> None:
    """A local evaluation folder must hold the split the recipe evaluates on."""
    eval_dir = r.eval_dir()
    folder = eval_dir / r.eval.retrieval if eval_dir is not None and r.eval.retrieval else None
    if folder is not None and folder.is_dir() and not (folder / "qrels" / f"{r.eval.split}.tsv").is_file():
        splits = sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))
        _fail(
            where,
            f"eval.split {r.eval.split!r}: {folder} has no qrels/{r.eval.split}.tsv (splits: {', '.join(splits) or 'none'})",
        )


def stage_where(r: Recipe, i: int, n: int) -> str:
    """How errors name stage `i` of `n`: the recipe file, and the stage when there are several."""
    where = r.path or r.name
    return f"{where}: stages[{i}]" if n > 1 else where


def check_recipe(
    recipe: str | Recipe,
    *,
    training_dir: Path | str | None = None,
    data_dir: Path | str | None = None,
    cache_dir: Path | str | None = None,
    rows: int = 3,
) -> list[SourceCheck]:
    """Every source of every stage of `recipe` (each distinct file/dataset once), opened and its first rows read.

    A recipe that cannot be resolved (unknown file, invalid YAML, keys or values, a local source with no
    `training_dir`, a field the models contradict: `check_setup`) raises RecipeError; a source that cannot be
    read is a failed SourceCheck."""
    stages = [recipe] if isinstance(recipe, Recipe) else load_stages(recipe)
    seen: set[str] = set()
    out: list[SourceCheck] = []
    for i, r in enumerate(stages, 1):
        r = copy.copy(r)  # the overrides below must not change the caller's Recipe
        if training_dir is not None:
            r.data = replace(r.data, training_dir=str(training_dir))
        if data_dir is not None:
            r.eval = replace(r.eval, data_dir=str(data_dir))
        check_setup(
            r, stage_where(r, i, len(stages)), Path(cache_dir) if cache_dir else None, stages[0] if i > 1 else None
        )
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
                    spec.cut,
                )
            )
            if key in seen:
                continue
            seen.add(key)
            out.append(check_source(spec, base, i, rows))
    return out
