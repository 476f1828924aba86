"""The cell: one (dim, dtype) point of the grid, the recipe that scores it, and the names it goes by."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..record import DEFAULT_CELL  # the name results give the plain full float32 cell
from .kinds import DTYPES, KINDS, CellError, Kind, kind_of

CALIBRATIONS = ("corpus", "fixed", "mteb")


@dataclass(frozen=True)
class Cell:
    """One point of the grid and the recipe that scores it; `dim=None` means the model's full dimension.

    A cell names itself: `label` is its (dim, dtype) part, `variant` what makes its number differ from the default
    recipe for that (dim, dtype) (a fixed or mteb calibration, binary rescoring), `file_label` the result-file
    suffix and `name` the name results, manifests and reports use. `rescore` only applies to retrieval search;
    tasks scored by mteb's evaluators use `without_search()`.
    """

    dim: int | None = None
    dtype: str = "float32"
    calibration: str = "corpus"
    rescore: int | None = None

    @property
    def kind(self) -> Kind:
        """What the dtype does (`kinds.KINDS`); an unknown dtype is a CellError."""
        return kind_of(self.dtype)

    def resolved_dim(self, full_dim: int) -> int:
        if self.dim is None:
            return full_dim
        if self.dim > full_dim:
            raise CellError(f"dim {self.dim} is larger than the model's embedding dim {full_dim}")
        return self.dim

    @property
    def label(self) -> str | None:
        """The (dim, dtype) suffix, known before encoding; None for the full float32 cell."""
        if self.dim is None and self.dtype == "float32":
            return None
        return f"{'full' if self.dim is None else f'{self.dim}d'}-{self.dtype}"

    @property
    def variant(self) -> str | None:
        """What makes this cell's number differ from the default recipe for its (dim, dtype), or None: part of
        the file name and of the dtype shown in reports, so a rescored binary cell or an mteb-calibrated int8
        cell never collides with the default one."""
        kind = KINDS.get(self.dtype)
        if self.calibration == "mteb":
            return "mteb"
        if self.calibration == "fixed" and kind is not None and kind.calibrated:
            return "fixed"
        if self.rescore and kind is not None and kind.rescorable:
            return f"rescore{self.rescore}"
        return None

    @property
    def file_label(self) -> str | None:
        """Result-file suffix: the label plus the variant (None for the plain full float32 cell, `<Task>.json`)."""
        if self.variant is None:
            return self.label
        return f"{self.label or DEFAULT_CELL}-{self.variant}"

    @property
    def name(self) -> str:
        """The cell's name in results, manifests and reports (`full-float32` for the plain full float32 cell)."""
        return self.file_label or DEFAULT_CELL

    def without_search(self) -> "Cell":
        """This cell for a task without a retrieval search (mteb's evaluators): rescoring does not apply."""
        return replace(self, rescore=None)


def parse_dims(arg: str | None) -> list[int | None]:
    if not arg:
        return [None]
    dims: list[int | None] = []
    for item in arg.split(","):
        item = item.strip().lower()
        if not item:
            continue
        if item == "full":
            d: int | None = None
        else:
            try:
                d = int(item)
            except ValueError:
                raise CellError(f"--dims: {item!r} is not an integer or 'full'") from None
            if d < 1:
                raise CellError(f"--dims: {d} must be positive")
        if d not in dims:
            dims.append(d)
    return dims or [None]


def parse_dtypes(arg: str | None) -> list[str]:
    if not arg:
        return ["float32"]
    out: list[str] = []
    for item in arg.split(","):
        item = item.strip().lower()
        if not item:
            continue
        if item not in DTYPES:
            raise CellError(f"--dtypes: unknown dtype {item!r}; choose from {', '.join(DTYPES)}")
        if item not in out:
            out.append(item)
    return out or ["float32"]


def grid(
    dims: list[int | None], dtypes: list[str], calibration: str = "corpus", rescore: int | None = None
) -> list[Cell]:
    """Every dims x dtypes cell, scored with one calibration and rescoring."""
    return [Cell(d, t, calibration, rescore) for d in dims for t in dtypes]
