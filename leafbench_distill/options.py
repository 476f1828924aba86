"""The settings of one `distill()` call, as one typed object.

The command line, `distill()`, every stage of a multi-stage run and the training run itself read the same
settings; holding them in one frozen object, checked once when it is built, keeps them from being restated
(and drifting) at every step. A stage gets its own copy through `for_stage`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from leafbench.workspace import Workspace

from .errors import DistillError

#: Settings that name a folder: given as str or Path, held as Path.
_PATHS = ("output", "cache_dir", "results", "training_dir", "data_dir", "init_from", "bundle")
#: (setting, least value): the same bounds the command line puts on its options.
_LEAST = (("max_texts", 1), ("cycles", 1), ("epochs", 1), ("batch_size", 1), ("max_steps", 1), ("eval_every", 0))
#: Settings that override the recipe's `train:` block, and the TrainCfg field each one sets.
_TRAIN_OVERRIDES = (
    ("cycles", "cycles"),
    ("epochs", "epochs_per_cycle"),
    ("batch_size", "batch_size"),
    ("max_steps", "max_steps"),
    ("eval_every", "eval_every"),
)


def cache_folder(cache_dir: Path | str | None = None) -> Path:
    """The folder with the embedding store and the models: `cache_dir`, else leafbench's default (the harness's
    rule, so a run, a later `--finish` and `leafbench run` look in the same place)."""
    return Workspace.cache_only(cache_dir).cache


@dataclass(frozen=True)
class DistillOptions:
    """What a `distill()` call is told besides its recipe: folders, overrides of the recipe, what to export.

    Folders may be given as str; they are held as Path. `None` leaves a setting to the recipe (overrides) or
    to the default (cache folder, `<output>/results`, device cpu). Overrides apply to every stage.
    """

    output: Path
    max_texts: int | None = None
    cache_dir: Path | None = None
    results: Path | None = None
    training_dir: Path | None = None
    data_dir: Path | None = None
    init_from: Path | None = None
    bundle: Path | None = None
    cycles: int | None = None
    epochs: int | None = None
    batch_size: int | None = None
    max_steps: int | None = None
    eval_every: int | None = None
    device: str | None = None
    router: bool = True
    final_eval: bool = True

    def __post_init__(self) -> None:
        for name in _PATHS:
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))
        for name, least in _LEAST:
            value = getattr(self, name)
            if value is not None and value < least:
                raise DistillError(f"{name} must be >= {least}, not {value}")
        if self.bundle is not None and (
            self.init_from is not None or self.max_texts is not None or self.training_dir is not None
        ):
            raise DistillError(
                "--bundle fixes texts, targets and the starting student: drop --init-from/--max-texts/--training-dir"
            )

    @classmethod
    def build(cls, options: DistillOptions | Path | str, **settings: Any) -> DistillOptions:
        """`options` with `settings` applied, or (given the output folder) the options made of `settings`."""
        if isinstance(options, DistillOptions):
            return replace(options, **settings) if settings else options
        return cls(output=Path(options), **settings)

    @property
    def cache(self) -> Path:
        """The cache folder this run reads and fills."""
        return cache_folder(self.cache_dir)

    @property
    def run_device(self) -> str:
        return self.device or "cpu"

    def train_overrides(self) -> dict[str, int]:
        """The recipe's `train:` fields this call overrides (TrainCfg field -> value)."""
        return {field: getattr(self, name) for name, field in _TRAIN_OVERRIDES if getattr(self, name) is not None}

    def for_stage(self, folder: Path, init_from: Path | None, last: bool) -> DistillOptions:
        """One stage of a multi-stage run: its own folder and starting student; results, final evaluation and
        the Router export belong to the last stage only."""
        return replace(
            self,
            output=folder,
            init_from=init_from,
            results=self.results if last else None,
            router=self.router and last,
            final_eval=self.final_eval and last,
        )
