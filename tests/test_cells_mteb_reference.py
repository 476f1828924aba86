"""Non-retrieval cells (STS, classification, ... through mteb's evaluators) against mteb's CompressionWrapper.

Two paths, as the README states them:
- ``--calibration mteb`` reproduces mteb 2.26.24's CompressionWrapper: truncation without re-normalisation, each
  encode call calibrated on itself, binary as 0/1 vectors. Reference: ``mteb.evaluate(CompressionWrapper(
  SentenceTransformerEncoderWrapper(model, embed_dim=dim), dtype))`` on the same local BIOSSES, every dim x dtype.
- the default path: truncation then re-normalisation, int8/uint8 by sentence-transformers' quantize_embeddings on
  each call's own ranges, binary as ±1 vectors, whose cosine is 1 - 2·Hamming/dim (the distance of the retrieval
  path's packed-bit index); float cells equal mteb's (cosine ignores the re-normalisation).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from leafbench.cells import Cell, cell_vectors, mteb_compress, truncate
from leafbench.encode import Encoder
from leafbench.mteb_eval import evaluate_mteb_task

DIMS = (None, 64)
DTYPES = ("float32", "float16", "bfloat16", "int8", "uint8", "binary")


@pytest.fixture(scope="module")
def biosses(shared_data: Path):
    from leafbench.mteb_local import load_local_task

    return load_local_task("BIOSSES", shared_data)


@pytest.fixture(scope="module")
def mteb_scores(biosses, minilm_spec) -> dict[tuple[int | None, str], float]:
    """mteb's own numbers: one SentenceTransformer wrapper per dim, a CompressionWrapper per quantized dtype."""
    import mteb
    from mteb.models import CompressionWrapper, SentenceTransformerEncoderWrapper
    from mteb.types import OutputDType

    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "quantization parameters on less than 10000 embeddings"
        for dim in DIMS:
            # A model *name*: mteb's wrapper honours embed_dim only when it loads the model itself.
            base = SentenceTransformerEncoderWrapper(minilm_spec.source, device="cpu", embed_dim=dim)
            for dtype in DTYPES:
                model = base if dtype == "float32" else CompressionWrapper(base, OutputDType(dtype))
                res = mteb.evaluate(model, [biosses], cache=None, show_progress_bar=False)
                out[(dim, dtype)] = float(res.task_results[0].get_score())
    return out


def _ours(task, spec, store, calibration: str) -> dict[tuple[int | None, str], float]:
    cells = [Cell(d, t, calibration) for d in DIMS for t in DTYPES]
    run = evaluate_mteb_task(task, {"student": Encoder(spec, store)}, ["student"], None, "x", cells=cells)
    keys = {c: c.file_label for c in cells}
    return {
        (c.dim, c.dtype): float(
            run.results[f"student/{keys[c]}" if keys[c] else "student"]["scores"]["test"][0]["main_score"]
        )
        for c in cells
    }


def test_mteb_calibration_equals_compression_wrapper_for_every_dim_and_dtype(
    biosses, minilm_spec, session_store, mteb_scores
) -> None:
    ours = _ours(biosses, minilm_spec, session_store, "mteb")
    for key, ref in mteb_scores.items():
        # The store keeps one row per text, encoded in whatever batch first needed it: padding changes the last
        # float bits, which int8's floor() can turn into one bucket; floats and bits are not that sensitive.
        assert ours[key] == pytest.approx(ref, abs=1e-3 if key[1] in ("int8", "uint8") else 1e-4), key
    assert len({round(v, 4) for v in ours.values()}) > 6  # the cells really differ: not one number compared 12 times


def test_default_path_floats_equal_mteb_and_bits_are_plus_minus_one(
    biosses, minilm_spec, session_store, mteb_scores
) -> None:
    ours = _ours(biosses, minilm_spec, session_store, "corpus")
    for dim in DIMS:
        for dtype in ("float32", "float16", "bfloat16"):
            assert ours[(dim, dtype)] == pytest.approx(mteb_scores[(dim, dtype)], abs=1e-3), (dim, dtype)

    x = np.random.default_rng(0).normal(size=(40, 384)).astype(np.float32)
    for dim in (384, 64):
        pm = cell_vectors(x, Cell(dim, "binary"))
        zero_one = mteb_compress(np.ascontiguousarray(x[:, :dim]), "binary")
        np.testing.assert_array_equal(pm, 2 * zero_one - 1)  # the same bits; ±1 here, 0/1 in mteb
        bits = pm > 0
        hamming = (bits[:, None, :] != bits[None, :, :]).sum(-1)
        cos = (pm @ pm.T) / dim
        np.testing.assert_allclose(cos, 1 - 2 * hamming / dim, atol=1e-6)  # ranks exactly as Hamming distance
        # int8: quantized on this call's own per-dimension ranges, after re-normalisation.
        t = truncate(x, dim)
        q = cell_vectors(x, Cell(dim, "int8"))
        assert (q.min(axis=0) == -128).all() and (q.max(axis=0) >= 126).all()  # each call's own range, end to end
        order = np.argsort(t, axis=0, kind="stable")
        assert (np.diff(np.take_along_axis(q, order, axis=0), axis=0) >= 0).all()  # monotone in the float values
