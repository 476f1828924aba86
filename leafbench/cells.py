"""Cells: derive (dim, dtype) variants of full-dimension float32 embeddings without re-encoding.

A cell = Matryoshka truncation to `dim` (then re-normalisation, for cosine models) followed by output
quantization. int8/uint8/binary/ubinary use sentence-transformers' `quantize_embeddings`, so bit layouts and
bucket edges are the library's; calibration (where int8 ranges come from) is a recorded choice:

- ``corpus`` (default): per-dimension min/max of the *document* embeddings of the cell, shared by queries and
  documents — one calibration per cell, the way an index is built once and queried later.
- ``fixed``: ranges supplied from a file (``.npy`` [2, dim] or JSON {"min": [...], "max": [...]}).
- ``mteb``: reproduce mteb 2.26.24's CompressionWrapper: each side calibrated on itself, vectors truncated
  without re-normalisation, scored by cosine on the quantized values (binary as 0/1 vectors) — for parity
  checks against mteb's numbers.

Scoring (leafbench's own calibrations): floats by cosine; int8/uint8 by integer inner product (uint8 shifted
by -128 so both rank identically, as usearch's "ip" metric on int8); binary/ubinary by Hamming distance on
packed bits, with optional rescoring of the top ``rescore * k`` by float query · unpacked document bits, as
sentence-transformers' semantic_search_* does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .errors import UserError

FLOAT_DTYPES = ("float32", "float16", "bfloat16")
INT_DTYPES = ("int8", "uint8")
BIT_DTYPES = ("binary", "ubinary")
DTYPES = FLOAT_DTYPES + INT_DTYPES + BIT_DTYPES
CALIBRATIONS = ("corpus", "fixed", "mteb")


class CellError(UserError, ValueError):
    pass


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
        if self.calibration == "mteb":
            return "mteb"
        if self.calibration == "fixed" and self.dtype in INT_DTYPES:
            return "fixed"
        if self.rescore and self.dtype in BIT_DTYPES:
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


DEFAULT_CELL = "full-float32"


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


def truncate(emb: np.ndarray, dim: int, renormalize: bool = True) -> np.ndarray:
    """First `dim` components (Matryoshka), re-normalised so a dot product stays a cosine."""
    x = np.asarray(emb[:, :dim], dtype=np.float32)
    if renormalize:
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return np.ascontiguousarray(x)


def cast_float(x: np.ndarray, dtype: str) -> np.ndarray:
    """Round-trip through a lower float precision (what storing the index in that dtype costs)."""
    if dtype == "float32":
        return x
    import torch

    t = torch.from_numpy(np.ascontiguousarray(x))
    return t.to(getattr(torch, dtype)).float().numpy()


def load_ranges(path: Path, dim: int) -> np.ndarray:
    """Fixed int8 ranges from a file: .npy [2, >=dim] or JSON {"min": [...], "max": [...]}; truncated to dim."""
    path = Path(path)
    try:
        if path.suffix == ".npy":
            r = np.load(path)
        else:
            d = json.loads(path.read_text())
            r = np.array([d["min"], d["max"]], dtype=np.float32)
    except FileNotFoundError:
        raise CellError(f"{path}: calibration ranges file not found") from None
    except (KeyError, json.JSONDecodeError, ValueError) as e:
        raise CellError(f"{path}: expected .npy [2, dim] or JSON with 'min' and 'max' lists ({e})") from None
    if r.ndim != 2 or r.shape[0] != 2 or r.shape[1] < dim:
        raise CellError(f"{path}: ranges shape {tuple(r.shape)} does not cover dim {dim} (need [2, >={dim}])")
    # NaN, infinite or empty ranges quantize to garbage without an error: refuse them, naming the dimension.
    if not np.issubdtype(r.dtype, np.number) or np.issubdtype(r.dtype, np.complexfloating):
        raise CellError(f"{path}: ranges must be real numbers, not {r.dtype}")
    bad = np.flatnonzero(~np.isfinite(r).all(axis=0))
    if bad.size:
        raise CellError(f"{path}: ranges of dimension {bad[0]} are not finite numbers ({r[0, bad[0]]}, {r[1, bad[0]]})")
    bad = np.flatnonzero(r[1] <= r[0])
    if bad.size:
        raise CellError(f"{path}: dimension {bad[0]} has min {r[0, bad[0]]} >= max {r[1, bad[0]]}")
    return np.ascontiguousarray(r[:, :dim], dtype=np.float32)


def corpus_ranges(docs: np.ndarray) -> np.ndarray:
    return np.stack([docs.min(axis=0), docs.max(axis=0)]).astype(np.float32)


def quantize(x: np.ndarray, dtype: str, ranges: np.ndarray | None = None) -> np.ndarray:
    """sentence-transformers' quantize_embeddings (int8/uint8/binary/ubinary); floats are cast."""
    if dtype in FLOAT_DTYPES:
        return cast_float(x, dtype)
    from sentence_transformers.util.quantization import quantize_embeddings

    if dtype in INT_DTYPES and ranges is None:
        raise CellError(f"{dtype} needs calibration ranges")
    return quantize_embeddings(x, precision=dtype, ranges=ranges)  # type: ignore[arg-type]


def as_unsigned_bits(packed: np.ndarray, dtype: str) -> np.ndarray:
    """ST's `binary` is packbits - 128 stored as int8; undo the offset to get the raw packed bytes."""
    if dtype == "binary":
        return (packed.astype(np.int16) + 128).astype(np.uint8)
    return packed.astype(np.uint8, copy=False)


def mteb_compress(x: np.ndarray, dtype: str) -> np.ndarray:
    """mteb 2.26.24 CompressionWrapper._quantize_embeddings, re-stated in NumPy (parity-tested against it)."""
    if dtype == "float16":
        return x.astype(np.float16).astype(np.float32)
    if dtype in ("bfloat16", "float32"):
        return cast_float(x, dtype)
    if dtype in INT_DTYPES:
        mins, maxs = x.min(axis=0), x.max(axis=0)
        steps = (maxs - mins) / 255.0
        q = np.floor((x - mins) / steps)
        return (q - (0 if dtype == "uint8" else 128)).astype(np.float32)
    if dtype in BIT_DTYPES:
        return (x > 0).astype(np.float32)
    raise CellError(f"unknown dtype {dtype!r}")


@dataclass
class PreparedCell:
    """Query/doc matrices of one cell, ready for the scorer named by `scoring`."""

    queries: np.ndarray
    docs: np.ndarray
    scoring: str  # "cosine" | "inner-product" | "hamming"
    dim: int
    calibration: str | None
    ranges: np.ndarray | None = None
    query_float: np.ndarray | None = None  # for binary rescoring


def prepare_cell(
    queries: np.ndarray,
    docs: np.ndarray,
    cell: Cell,
    calibration: str = "corpus",
    ranges_file: Path | None = None,
) -> PreparedCell:
    """Truncate + quantize both sides of one cell, with one calibration for the cell."""
    if calibration not in CALIBRATIONS:
        raise CellError(f"unknown calibration {calibration!r}; choose from {', '.join(CALIBRATIONS)}")
    full = docs.shape[1]
    if queries.shape[1] != full:
        raise CellError(f"query dim {queries.shape[1]} != document dim {full}")
    dim = cell.resolved_dim(full)
    if calibration == "mteb":
        q = mteb_compress(np.ascontiguousarray(queries[:, :dim], dtype=np.float32), cell.dtype)
        d = mteb_compress(np.ascontiguousarray(docs[:, :dim], dtype=np.float32), cell.dtype)
        return PreparedCell(q, d, "cosine", dim, calibration)
    q = truncate(queries, dim)
    d = truncate(docs, dim)
    if cell.dtype in FLOAT_DTYPES:
        return PreparedCell(cast_float(q, cell.dtype), cast_float(d, cell.dtype), "cosine", dim, None)
    if cell.dtype in INT_DTYPES:
        ranges = load_ranges(ranges_file, dim) if calibration == "fixed" and ranges_file else corpus_ranges(d)
        if calibration == "fixed" and ranges_file is None:
            raise CellError("calibration 'fixed' needs --ranges-file")
        qq, dq = quantize(q, cell.dtype, ranges), quantize(d, cell.dtype, ranges)
        shift = 128 if cell.dtype == "uint8" else 0
        return PreparedCell(
            qq.astype(np.float32) - shift, dq.astype(np.float32) - shift, "inner-product", dim, calibration, ranges
        )
    # binary / ubinary: packed bits, Hamming; queries' float vectors kept for optional rescoring.
    qb = as_unsigned_bits(quantize(q, cell.dtype), cell.dtype)
    db = as_unsigned_bits(quantize(d, cell.dtype), cell.dtype)
    return PreparedCell(qb, db, "hamming", dim, None, query_float=q)


def cell_vectors(emb: np.ndarray, cell: Cell, calibration: str = "corpus") -> np.ndarray:
    """One side's vectors for mteb's evaluators (STS, classification, ...), as float32.

    These tasks have no corpus to calibrate on, so int8/uint8 ranges come from the (truncated, re-normalised)
    vectors of this call ("per-call"; mteb's CompressionWrapper also calibrates per call); binary cells become
    ±1 vectors, whose cosine is 1 - 2·hamming/dim, so similarity ranks exactly as the Hamming distance the
    retrieval path's packed-bit index uses. ``mteb`` calibration reproduces mteb's CompressionWrapper instead
    (no re-normalisation, 0/1 bits, whose cosine is not a function of Hamming distance); both paths are
    checked against ``mteb.evaluate(CompressionWrapper(...))`` in tests/test_cells_mteb_reference.py.
    """
    dim = cell.resolved_dim(emb.shape[1])
    if calibration == "mteb":
        return mteb_compress(np.ascontiguousarray(emb[:, :dim], dtype=np.float32), cell.dtype)
    x = truncate(emb, dim)
    if cell.dtype in FLOAT_DTYPES:
        return cast_float(x, cell.dtype)
    if cell.dtype in INT_DTYPES:
        shift = 128 if cell.dtype == "uint8" else 0
        return quantize(x, cell.dtype, corpus_ranges(x)).astype(np.float32) - shift
    return np.where(x > 0, 1.0, -1.0).astype(np.float32)
