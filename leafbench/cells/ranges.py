"""Fixed int8 calibration ranges, read from a file and checked before any encoding."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .kinds import CellError


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
