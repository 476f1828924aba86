"""One side's cell vectors for mteb's evaluators, and mteb's CompressionWrapper re-stated."""

from __future__ import annotations

import numpy as np

from .cell import Cell
from .kinds import kind_of, truncate


def mteb_compress(x: np.ndarray, dtype: str) -> np.ndarray:
    """mteb 2.26.24 CompressionWrapper._quantize_embeddings, re-stated in NumPy (parity-tested against it)."""
    return kind_of(dtype).compress(x)


def cell_vectors(emb: np.ndarray, cell: Cell) -> np.ndarray:
    """One side's vectors for mteb's evaluators (STS, classification, ...), as float32.

    These tasks have no corpus to calibrate on, so int8/uint8 ranges come from the (truncated, re-normalised)
    vectors of this call ("per-call"; mteb's CompressionWrapper also calibrates per call); binary cells become
    ±1 vectors, whose cosine is 1 - 2·hamming/dim, so similarity ranks exactly as the Hamming distance the
    retrieval path's packed-bit index uses. ``mteb`` calibration reproduces mteb's CompressionWrapper instead
    (no re-normalisation, 0/1 bits, whose cosine is not a function of Hamming distance); both paths are
    checked against ``mteb.evaluate(CompressionWrapper(...))`` in tests/test_cells_mteb_reference.py.
    """
    dim = cell.resolved_dim(emb.shape[1])
    if cell.calibration == "mteb":
        return cell.kind.compress(np.ascontiguousarray(emb[:, :dim], dtype=np.float32))
    return cell.kind.vectors(truncate(emb, dim))
