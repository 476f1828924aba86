"""A run, planned and checked before any work: `plan_run(model, **options) -> RunPlan`.

The plan holds typed settings, not option strings: the modes as :class:`~leafbench.modes.Mode`s (with their
routing), the cells as :class:`~leafbench.cells.Cell`s that name themselves, the models resolved by role, the
task selection and the :class:`~leafbench.workspace.Workspace`. Everything a run can get wrong is checked while
planning, so a bad option fails in seconds, not after hours of encoding. ``leafbench run`` and
:func:`leafbench.api.run_benchmark` build the same plan and hand it to :func:`leafbench.runner.execute`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cells import CALIBRATIONS, INT_DTYPES, Cell, grid, load_ranges, parse_dims, parse_dtypes
from .data.location import DataPath
from .errors import UserError
from .modes import Mode, parse_modes
from .registry import ModelSpec
from .tasks import Selection
from .workspace import Workspace

__all__ = ["DataSettings", "EncodingSettings", "RunPlan", "plan_run"]


@dataclass(frozen=True)
class DataSettings:
    """Which data each task is evaluated on: local copies, the split, a seeded cut, and whether warnings fail."""

    data_dir: DataPath | None = None  # a local folder or a URL (leafbench.data.location)
    split: str | None = None
    max_queries: int | None = None
    max_docs: int | None = None
    strict: bool = False
    eval_splits: tuple[str, ...] | None = None  # --eval-splits: the splits every task is scored on


@dataclass(frozen=True)
class EncodingSettings:
    """How missing texts are encoded: where (device, engine) and in what batches and shards."""

    batch_size: int = 32
    device: str | None = None
    shard_size: int = 4096
    engine: str = "local"
    ray_address: str | None = None
    workers: int | None = None
    store_format: str = "lance"  # the embedding store's format (leafbench.store.STORE_BACKENDS)


@dataclass(frozen=True)
class RunPlan:
    """Everything one run does, checked: models by role, modes, cells, tasks, data, where results go."""

    models: dict[str, ModelSpec]  # "student" and, when a mode runs it, "teacher"
    modes: tuple[Mode, ...]
    cells: tuple[Cell, ...]
    selection: Selection
    workspace: Workspace
    data: DataSettings = DataSettings()
    encoding: EncodingSettings = EncodingSettings()
    ranges_file: Path | None = None
    search: str = "torch"
    force: bool = False
    run: str = ""  # the run folder under the output (record.run_folder_name)
    overwrite: str = "only-missing"  # OVERWRITE_STRATEGIES; "always" is `force`

    @property
    def roles(self) -> list[str]:
        """The model roles the modes run, student first (a teacher-only run resolves the student to name its
        folder, but never runs it)."""
        return roles_run(self.modes)

    def unpinned(self) -> list[str]:
        """One warning per hub model whose commit is not known (its results record it as unpinned)."""
        return [
            f"{spec.name}: no commit known for {spec.hf_id or spec.source}@{spec.revision or 'main'} "
            "(offline, not in the Hugging Face cache): its results record it as unpinned (revision null, pinned false)"
            for spec in self.models.values()
            if not spec.local and not spec.pinned
        ]


def roles_run(modes: Sequence[Mode]) -> list[str]:
    """The model roles these modes run, student first."""
    used = set().union(*(m.roles for m in modes))
    return [r for r in ("student", "teacher") if r in used]


def _csv(value: str | Sequence[Any] | None) -> str | None:
    """Options accept "a,b" or a list (["a", "b"], [256, None]); the parsers take the comma form."""
    if value is None or isinstance(value, str):
        return value
    return ",".join("full" if v is None else str(v) for v in value)


def plan_run(
    model: Any,
    *,
    teacher: Any = None,
    model_revision: str | None = None,
    name: str | None = None,
    mode: str | Sequence[str] = "student",
    tasks: str | Sequence[str] | None = None,
    benchmarks: str | Sequence[str] | None = None,
    task_types: str | Sequence[str] | None = None,
    exclude_tasks: str | Sequence[str] | None = None,
    data_dir: Path | str | None = None,
    split: str | None = None,
    eval_splits: str | Sequence[str] | None = None,
    output: Path | str = "results",
    cache_dir: Path | str | None = None,
    batch_size: int = 32,
    max_seq_length: int | None = None,
    teacher_max_seq_length: int | None = None,
    precision: str = "fp32",
    backend: str = "torch",
    threads: int | None = None,
    device: str | None = None,
    max_queries: int | None = None,
    max_docs: int | None = None,
    dims: str | Sequence[int | None] | None = None,
    dtypes: str | Sequence[str] | None = None,
    calibration: str = "corpus",
    ranges_file: Path | str | None = None,
    rescore: int | None = None,
    force: bool = False,
    overwrite_strategy: str | None = None,
    shard_size: int = 4096,
    search: str = "torch",
    engine: str = "local",
    ray_address: str | None = None,
    workers: int | None = None,
    strict: bool = False,
    store_format: str = "auto",
) -> RunPlan:
    """The plan of ``leafbench run`` with these options (lists may replace comma strings: ``dims=[256, None]``),
    every option checked before any encoding. Raises a UserError naming the option on bad input. `name` (with
    `model_revision`) names a `model` that is an mteb encoder object (leafbench.user_encoder)."""
    from .data import open_data_dir
    from .engine import make_engine
    from .record import protocol_suffix, run_folder_name
    from .scoring import SEARCH_BACKENDS
    from .store import STORE_BACKENDS, detect_format

    workspace = Workspace.at(output, cache_dir)
    location = open_data_dir(data_dir)  # a URL is checked now, before any model loads
    mode_arg = _csv(mode) or "student"
    modes = tuple(parse_modes(mode_arg))
    ranges = Path(ranges_file) if ranges_file is not None else None
    cells = tuple(_cells(_csv(dims), _csv(dtypes), calibration, ranges, rescore))
    make_engine(engine, ray_address, workers)  # an unknown engine or unreachable cluster fails now
    _check_device(device, here=not ray_address)
    if search not in SEARCH_BACKENDS:
        raise UserError(f"--search: unknown {search!r}; choose from {', '.join(SEARCH_BACKENDS)}")
    if store_format == "auto":  # the format the cache's store already has; a new store: Lance
        store_format = detect_format(workspace.embeddings)
    if store_format not in STORE_BACKENDS:
        raise UserError(f"--store-format: unknown {store_format!r}; choose from auto, {', '.join(STORE_BACKENDS)}")
    # A store of a newer format, shards on object storage, an unreachable bucket: all fail now, before any encoding.
    workspace.store(shard_size, store_format)
    overrides = _ModelOverrides(max_seq_length, teacher_max_seq_length, precision, backend, threads)
    model = _with_revision(_model_ref(model, workspace, "model", engine, name, model_revision), model_revision)
    teacher = _model_ref(teacher, workspace, "teacher", engine)
    models = _resolve_models(model, teacher, modes, mode_arg, workspace, overrides)
    _check_cells_fit({r: models[r] for r in roles_run(modes)}, cells, ranges, teacher_max_seq_length is not None)
    splits = _eval_splits(split, eval_splits)
    split = splits[0] if splits and len(splits) == 1 else split
    data = DataSettings(location, split, max_queries, max_docs, strict, splits)
    selection = _select(
        models["student"], _with_benchmarks(tasks, benchmarks), task_types, exclude_tasks, data.data_dir
    )
    if splits and len(splits) > 1 and "Retrieval" in selection.types.values():
        raise UserError(f"--eval-splits {','.join(splits)}: retrieval tasks are scored on one split; give one")
    run = run_folder_name(
        models["student"].slug,
        models["teacher"].slug if "teacher" in models else None,
        backend,
        protocol_suffix(max_queries, max_docs, ",".join(splits) if splits else split),
    )
    workspace.manifest(run)  # a damaged run.json fails now, not after the encoding
    return RunPlan(
        models=models,
        modes=modes,
        cells=cells,
        selection=selection,
        workspace=workspace,
        data=data,
        encoding=EncodingSettings(batch_size, device, shard_size, engine, ray_address, workers, store_format),
        ranges_file=ranges,
        search=search,
        force=force or overwrite_strategy == "always",
        overwrite=_overwrite(overwrite_strategy, force),
        run=run,
    )


def _cells(
    dims: str | None, dtypes: str | None, calibration: str, ranges_file: Path | None, rescore: int | None
) -> list[Cell]:
    """The dims x dtypes grid, with its calibration and rescoring checked."""
    if calibration not in CALIBRATIONS:
        raise UserError(f"--calibration: unknown {calibration!r}; choose from {', '.join(CALIBRATIONS)}")
    if calibration == "fixed" and ranges_file is None:
        raise UserError("--calibration fixed needs --ranges-file")
    if rescore is not None and rescore < 1:
        raise UserError("--rescore must be >= 1")
    return grid(parse_dims(dims), parse_dtypes(dtypes), calibration, rescore)


def _check_device(device: str | None, here: bool) -> None:
    from .encode import check_device

    check_device(device, here=here)  # a cluster's workers may have devices this machine lacks


@dataclass(frozen=True)
class _ModelOverrides:
    max_seq_length: int | None
    teacher_max_seq_length: int | None
    precision: str
    backend: str
    threads: int | None

    def apply(self, spec: ModelSpec, role: str) -> ModelSpec:
        length = self.teacher_max_seq_length if role == "teacher" else None
        changed = (length or self.max_seq_length) is not None or (self.precision, self.backend) != ("fp32", "torch")
        if "encoder_object" in spec.extra and changed:
            raise UserError(
                f"{spec.name} is an encoder object: it runs as it is, so max_seq_length, precision and backend "
                "do not apply (set them on the object)"
            )
        return spec.with_overrides(length or self.max_seq_length, self.precision, self.backend, self.threads)


OVERWRITE_STRATEGIES = ("only-missing", "always", "never")


def _overwrite(strategy: str | None, force: bool) -> str:
    """--overwrite-strategy checked (mteb's names; only-cache is for reading: `leafbench.load_results`)."""
    if strategy is None:
        return "always" if force else "only-missing"
    if strategy == "only-cache":
        raise UserError(
            "--overwrite-strategy only-cache: leafbench run always evaluates; read stored results with "
            "`leafbench report` or leafbench.load_results"
        )
    if strategy not in OVERWRITE_STRATEGIES:
        raise UserError(f"--overwrite-strategy: unknown {strategy!r}; choose from {', '.join(OVERWRITE_STRATEGIES)}")
    if force and strategy != "always":
        raise UserError(f"--force and --overwrite-strategy {strategy} disagree; pass one of them")
    return strategy


def _eval_splits(split: str | None, eval_splits: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """--eval-splits (mteb's option, every task kind) and --split (retrieval's), which must agree."""
    if eval_splits is None:
        return None
    splits = tuple(s.strip() for s in (_csv(eval_splits) or "").split(",") if s.strip())
    if not splits:
        raise UserError("--eval-splits is empty")
    if split is not None and splits != (split,):
        raise UserError(f"--split {split} and --eval-splits {','.join(splits)} disagree; give one")
    return splits


def _with_revision(model: str | ModelSpec, revision: str | None) -> str | ModelSpec:
    """--model-revision REV (as in mteb): a hub id pinned to a commit, branch or tag (``org/name@REV``); an
    encoder object's spec already carries it."""
    if not revision or isinstance(model, ModelSpec):
        return model
    from .fake import HASH_MODEL
    from .registry import ALIASES

    hub = model.count("/") == 1 and not model.startswith((".", "/", "~")) and not Path(model).expanduser().exists()
    if model in ALIASES or HASH_MODEL.fullmatch(model) or not hub:
        raise UserError(f"--model-revision applies to a hub id (org/name); {model} is an alias, fake or folder")
    hf_id, _, pinned = model.partition("@")
    if pinned and pinned != revision:
        raise UserError(f"--model-revision {revision} and {model} name two revisions; give one")
    return f"{hf_id}@{revision}"


def _model_ref(
    model: Any, ws: Workspace, option: str, engine: str, name: str | None = None, revision: str | None = None
) -> Any:
    """A model as `plan_run` names it: a name, hub id or folder as given; a SentenceTransformer object saved once
    into the cache (``models/in-memory/<name>-<weights hash>``) and named by that folder, so its results and
    stored rows carry the identity of its weights like any local model's; any other mteb encoder object as the
    ModelSpec of its `name` and `revision` (leafbench.user_encoder.object_spec)."""
    from .user_encoder import is_encoder_object, object_spec

    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:  # pragma: no cover - a dependency
        SentenceTransformer = ()  # type: ignore[assignment,misc]
    if not is_encoder_object(model) or isinstance(model, SentenceTransformer):
        if name is not None:
            raise UserError(f"name={name!r} names an encoder object; {option} {model} is named by itself")
        return model if not is_encoder_object(model) else _saved_sentence_transformer(model, ws)
    if engine != "local":
        raise UserError(f"--{option}: an encoder object encodes in this process; use engine local, not {engine}")
    return object_spec(model, name, revision, option)


def _saved_sentence_transformer(model: Any, ws: Workspace) -> str:
    import hashlib

    digest = hashlib.blake2b(digest_size=6)
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    base = str(getattr(model.model_card_data, "base_model", None) or "sentence-transformer").split("/")[-1]
    folder = ws.models / "in-memory" / f"{base}-{digest.hexdigest()}"
    if not (folder / "modules.json").is_file():
        model.save(str(folder))
    return str(folder)


def _resolve_models(
    model: str | ModelSpec,
    teacher: str | ModelSpec | None,
    modes: Sequence[Mode],
    mode_arg: str,
    ws: Workspace,
    over: _ModelOverrides,
) -> dict[str, ModelSpec]:
    """The models by role: the student always (it names the run), the teacher when a mode runs it."""
    from .backends import check_backend
    from .registry import resolve_model

    check_backend(over.backend)

    def resolve(m: str | ModelSpec) -> ModelSpec:
        return m if isinstance(m, ModelSpec) else resolve_model(m, ws.cache)

    student = over.apply(resolve(model), "student")
    if "teacher" not in roles_run(modes):
        if teacher is not None:
            raise UserError(
                f"--teacher {getattr(teacher, 'name', teacher)} is not used by --mode {mode_arg}; add --mode "
                "asymmetric, teacher or all, or leave --teacher out"
            )
        if over.teacher_max_seq_length is not None:
            raise UserError(
                f"--teacher-max-seq-length needs a mode that runs the teacher (teacher, asymmetric, all), not {mode_arg}"
            )
        return {"student": student}
    name = teacher or student.teacher
    if not name:
        raise UserError(
            f"mode {mode_arg} needs a teacher: pass --teacher, or give {student.name} a leafbench.json manifest naming one"
        )
    specs = {"student": student, "teacher": over.apply(resolve(name), "teacher")}
    if Mode.ASYMMETRIC in modes:
        _check_one_space(specs)
    return specs


def _check_one_space(specs: dict[str, ModelSpec]) -> None:
    from .encode import embedding_dim

    ds, dt = embedding_dim(specs["student"]), embedding_dim(specs["teacher"])
    if ds and dt and ds != dt:
        raise UserError(
            f"asymmetric mode needs one embedding space: student {specs['student'].name} is {ds}-d, "
            f"teacher {specs['teacher'].name} is {dt}-d"
        )


def _check_cells_fit(
    models: dict[str, ModelSpec], cells: Sequence[Cell], ranges_file: Path | None, teacher_length: bool
) -> None:
    """Every cell's dim within each model's, each reading length within its position table, the ranges file
    covering the largest dim scored: each would otherwise fail only once the encoding is done."""
    from .encode import embedding_dim, max_positions

    for role, spec in models.items():
        full = embedding_dim(spec)
        too_big = [c.dim for c in cells if full and c.dim and c.dim > full]
        if too_big:
            raise UserError(f"--dims {too_big[0]} is larger than {spec.name}'s embedding dim {full}")
        length, limit = spec.max_seq_length, max_positions(spec)
        if length is not None and limit is not None and length > limit:
            option = "--teacher-max-seq-length" if role == "teacher" and teacher_length else "--max-seq-length"
            raise UserError(
                f"{option} {length} is beyond {spec.name}'s limit of {limit} tokens (its position "
                f"embeddings); use at most {limit}"
            )
    if ranges_file is not None and cells[0].calibration == "fixed" and any(c.dtype in INT_DTYPES for c in cells):
        full_dims = [embedding_dim(spec) for spec in models.values()]
        load_ranges(ranges_file, max([c.dim or 0 for c in cells] + [d or 0 for d in full_dims] + [1]))


def _with_benchmarks(tasks: str | Sequence[str] | None, benchmarks: str | Sequence[str] | None) -> str | None:
    """--tasks and --benchmarks as one selection; each --benchmarks item must be a benchmark mteb knows."""
    from .tasks import _benchmark, split_task_arg

    bench = _csv(benchmarks)
    for item in split_task_arg(bench) if bench else []:
        if _benchmark(item) is None:
            raise UserError(f"--benchmarks: mteb knows no benchmark {item!r} (e.g. BEIR, NanoBEIR, 'MTEB(eng, v2)')")
    return ",".join(x for x in (_csv(tasks), bench) if x) or None


def _is_model_name(name: str) -> bool:
    from .registry import ALIASES

    return name in ALIASES


def _select(
    student: ModelSpec,
    tasks: str | Sequence[str] | None,
    task_types: str | Sequence[str] | None,
    exclude: str | Sequence[str] | None,
    data_dir: DataPath | None,
) -> Selection:
    """The tasks to run (default: the student's benchmark); an incomplete local aggregate fails now."""
    from .data import aggregate_local_folders
    from .registry import default_benchmark
    from .tasks import TaskSelectionError, select_tasks, split_task_arg

    try:
        selection = select_tasks(_csv(tasks), default_benchmark(student), _csv(task_types), _csv(exclude), data_dir)
    except TaskSelectionError as e:
        if any(_is_model_name(t) for t in split_task_arg(_csv(tasks) or "")):
            raise TaskSelectionError(f"{e} (-t is --tasks, as in mteb; a teacher is --teacher)") from None
        raise
    for agg, subs in selection.subtasks.items():
        aggregate_local_folders(agg, data_dir, subs)
    return selection
