"""Cells: derive (dim, dtype) variants of full-dimension float32 embeddings without re-encoding.

A cell = Matryoshka truncation to `dim` (then re-normalisation, for cosine models) followed by output
quantization. int8/uint8 use sentence-transformers' `quantize_embeddings`, so bucket edges are the library's;
binary/ubinary keep the sign bit of each dimension, as the library does. Calibration (where int8 ranges come
from) is a recorded choice:

- ``corpus`` (default): per-dimension min/max of the *document* embeddings of the cell, shared by queries and
  documents — one calibration per cell, the way an index is built once and queried later.
- ``fixed``: ranges supplied from a file (``.npy`` [2, dim] or JSON {"min": [...], "max": [...]}).
- ``mteb``: reproduce mteb 2.26.24's CompressionWrapper: each side calibrated on itself, vectors truncated
  without re-normalisation, scored by cosine on the quantized values (binary as 0/1 vectors) — for parity
  checks against mteb's numbers.

Scoring (leafbench's own calibrations): floats by cosine; int8/uint8 by integer inner product (uint8 shifted
by -128 so both rank identically, as usearch's "ip" metric on int8); binary/ubinary by Hamming distance,
with optional rescoring of the top ``rescore * k`` by float query · document bits, as sentence-transformers'
semantic_search_* does.

Modules: `kinds` (what each dtype does, and the dtype registry), `cell` (the Cell, the grid and its
arguments), `ranges` (fixed ranges files), `vectors` (vectors for mteb's evaluators).
"""

from .cell import CALIBRATIONS, DEFAULT_CELL, Cell, grid, parse_dims, parse_dtypes
from .kinds import (
    BIT_DTYPES,
    DTYPES,
    FLOAT_DTYPES,
    INT_DTYPES,
    KINDS,
    BitKind,
    CellError,
    FloatKind,
    IntKind,
    Kind,
    cast_float,
    corpus_ranges,
    kind_of,
    truncate,
)
from .ranges import load_ranges
from .vectors import cell_vectors, mteb_compress

__all__ = [
    "BIT_DTYPES",
    "CALIBRATIONS",
    "DEFAULT_CELL",
    "DTYPES",
    "FLOAT_DTYPES",
    "INT_DTYPES",
    "KINDS",
    "BitKind",
    "Cell",
    "CellError",
    "FloatKind",
    "IntKind",
    "Kind",
    "cast_float",
    "cell_vectors",
    "corpus_ranges",
    "grid",
    "kind_of",
    "load_ranges",
    "mteb_compress",
    "parse_dims",
    "parse_dtypes",
    "truncate",
]
