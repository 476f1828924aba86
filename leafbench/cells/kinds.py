"""Cell kinds: what each output dtype does, in one place.

A kind turns truncated, re-normalised float32 rows into the vectors whose dot product ranks its cells (both
sides alike, with the cell's one calibration), says what that score is, gives mteb's evaluators their vectors
(`vectors`) and re-states mteb's CompressionWrapper (`compress`). Everything else — `DTYPES`, the dtype
families, `score_cell`, `cell_vectors`, the `--dtypes` check — reads `KINDS`, so a new dtype is one entry here
(plus a class when it needs a new behaviour).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..errors import UserError


class CellError(UserError, ValueError):
    pass


def _unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (zero rows stay zero), so a dot product is a cosine."""
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def truncate(emb: np.ndarray, dim: int, renormalize: bool = True) -> np.ndarray:
    """First `dim` components (Matryoshka), re-normalised so a dot product stays a cosine."""
    x = np.asarray(emb[:, :dim], dtype=np.float32)
    if renormalize:
        x = _unit(x)
    return np.ascontiguousarray(x)


def cast_float(x: np.ndarray, dtype: str) -> np.ndarray:
    """Round-trip through a lower float precision (what storing the index in that dtype costs)."""
    if dtype == "float32":
        return x
    import torch

    t = torch.from_numpy(np.ascontiguousarray(x))
    return t.to(getattr(torch, dtype)).float().numpy()


def corpus_ranges(docs: np.ndarray) -> np.ndarray:
    """[2, dim] per-dimension min and max: the calibration sentence-transformers' int8 quantizer takes."""
    return np.stack([docs.min(axis=0), docs.max(axis=0)]).astype(np.float32)


@dataclass(frozen=True)
class Kind:
    """One output dtype. Subclasses say how it is searched (`prepare`, `scores`), what mteb's evaluators get
    (`vectors`) and mteb's CompressionWrapper form (`compress`)."""

    dtype: str
    bits: int = 32  # stored bits per dimension: what one vector of this dtype costs in an index
    scoring: ClassVar[str] = "cosine"  # what the search ranks by, as results record it
    calibrated: ClassVar[bool] = False  # needs per-dimension ranges (a ranges file or the corpus's min/max)
    rescorable: ClassVar[bool] = False  # its top candidates can be re-ranked by the float query

    def vector_bytes(self, dim: int) -> int:
        """Bytes one `dim`-dimensional vector takes when stored (bits packed, rounded up to whole bytes)."""
        return -(-dim * self.bits // 8)

    def prepare(self, x: np.ndarray, ranges: np.ndarray | None = None) -> np.ndarray:
        """Truncated, re-normalised rows (queries or a document block) -> float32 search vectors."""
        raise NotImplementedError

    def scores(self, dots: np.ndarray, dim: int) -> np.ndarray:
        """The search's dot products -> the score results report."""
        return dots

    def vectors(self, x: np.ndarray) -> np.ndarray:
        """Truncated, re-normalised rows of one encode call -> float32 vectors for mteb's evaluators."""
        raise NotImplementedError

    def compress(self, x: np.ndarray, ranges: np.ndarray | None = None) -> np.ndarray:
        """mteb 2.26.24's CompressionWrapper._quantize_embeddings on truncated (not re-normalised) rows, as
        float32; `ranges` replaces the rows' own min/max for a side calibrated block by block."""
        raise NotImplementedError


@dataclass(frozen=True)
class FloatKind(Kind):
    """float32/float16/bfloat16: the precision round-trip, scored by cosine."""

    def prepare(self, x: np.ndarray, ranges: np.ndarray | None = None) -> np.ndarray:
        return _unit(cast_float(x, self.dtype))  # re-normalised after the cast: still a cosine

    def vectors(self, x: np.ndarray) -> np.ndarray:
        return cast_float(x, self.dtype)

    def compress(self, x: np.ndarray, ranges: np.ndarray | None = None) -> np.ndarray:
        return cast_float(x, self.dtype)


@dataclass(frozen=True)
class IntKind(Kind):
    """int8/uint8 by sentence-transformers' quantize_embeddings, scored by integer inner product.

    `shift` moves the stored values to signed ones (uint8 = int8 + 128), so both rank identically, as usearch's
    "ip" metric on int8.
    """

    bits: int = 8
    shift: int = 0
    scoring: ClassVar[str] = "inner-product"
    calibrated: ClassVar[bool] = True

    def prepare(self, x: np.ndarray, ranges: np.ndarray | None = None) -> np.ndarray:
        from sentence_transformers.util.quantization import quantize_embeddings

        if ranges is None:
            raise CellError(f"{self.dtype} needs calibration ranges")
        q = quantize_embeddings(x, precision=self.dtype, ranges=ranges)  # type: ignore[arg-type]
        return q.astype(np.float32) - self.shift

    def vectors(self, x: np.ndarray) -> np.ndarray:
        # No corpus to calibrate on: each call's own ranges ("per-call", as mteb's CompressionWrapper does).
        return self.prepare(x, corpus_ranges(x))

    def compress(self, x: np.ndarray, ranges: np.ndarray | None = None) -> np.ndarray:
        mins, maxs = (x.min(axis=0), x.max(axis=0)) if ranges is None else ranges
        q = np.floor((x - mins) / ((maxs - mins) / 255.0))
        return (q - (128 - self.shift)).astype(np.float32)  # mteb: int8 = bucket - 128, uint8 = bucket


@dataclass(frozen=True)
class BitKind(Kind):
    """binary/ubinary: one sign bit per dimension, scored by Hamming distance.

    Searched as ±1 vectors, whose dot product is dim - 2·hamming (the ranking of the packed bits, with BLAS);
    binary and ubinary differ only in how sentence-transformers packs the bits, which no score sees.
    """

    bits: int = 1
    scoring: ClassVar[str] = "hamming (packed bits)"
    rescorable: ClassVar[bool] = True

    def prepare(self, x: np.ndarray, ranges: np.ndarray | None = None) -> np.ndarray:
        return np.where(x > 0, 1.0, -1.0).astype(np.float32)

    def scores(self, dots: np.ndarray, dim: int) -> np.ndarray:
        return (dots - dim) / 2  # -hamming distance, exact in float32

    def vectors(self, x: np.ndarray) -> np.ndarray:
        # ±1: cosine = 1 - 2·hamming/dim, so mteb's evaluators rank as the retrieval path's Hamming distance.
        return self.prepare(x)

    def compress(self, x: np.ndarray, ranges: np.ndarray | None = None) -> np.ndarray:
        return (x > 0).astype(np.float32)  # mteb's 0/1 bits


KINDS: dict[str, Kind] = {
    k.dtype: k
    for k in (
        FloatKind("float32"),
        FloatKind("float16", bits=16),
        FloatKind("bfloat16", bits=16),
        IntKind("int8"),
        IntKind("uint8", shift=128),
        BitKind("binary"),
        BitKind("ubinary"),
    )
}
DTYPES = tuple(KINDS)
FLOAT_DTYPES = tuple(d for d, k in KINDS.items() if isinstance(k, FloatKind))
INT_DTYPES = tuple(d for d, k in KINDS.items() if k.calibrated)
BIT_DTYPES = tuple(d for d, k in KINDS.items() if isinstance(k, BitKind))


def kind_of(dtype: str) -> Kind:
    try:
        return KINDS[dtype]
    except KeyError:
        raise CellError(f"unknown dtype {dtype!r}; choose from {', '.join(DTYPES)}") from None
