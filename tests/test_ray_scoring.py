"""Retrieval scoring on Ray workers equals the local scoring: each task reads its own rows from the store (shards
or Lance), the driver merges the workers' [queries, k] lists, and the blocks are scored in worker processes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from leafbench.cells import Cell
from leafbench.engine import RayEngine
from leafbench.ray_scoring import RayScorer, merge_lists, task_ranges
from leafbench.scoring import column_minmax, score_cell, score_cells
from leafbench.store import EncodingKey, open_store

N, DIM, NQ, K = 12000, 128, 12, 10
PLANTED = 30  # per query: documents sharing its signs but for 0..29 flipped dims (distinct Hamming scores)
KEY = EncodingKey("fixed-128@v1", "document", "", None, "fp32")
CELLS = [Cell(None, "float32"), Cell(64, "int8"), Cell(None, "binary", rescore=3)]


def _data() -> tuple[np.ndarray, np.ndarray]:
    """Random documents plus, per query, planted near-copies whose ranks are unambiguous in every cell (no ties at
    the k-th or rescore·k-th place), so index sets can be compared exactly."""
    rng = np.random.default_rng(7)
    q = rng.standard_normal((NQ, DIM)).astype(np.float32)
    docs = rng.standard_normal((N, DIM)).astype(np.float32)
    slots = rng.permutation(N)[: NQ * PLANTED].reshape(NQ, PLANTED)
    for qi in range(NQ):
        for j in range(PLANTED):
            signs = np.sign(q[qi]).copy()
            signs[rng.permutation(DIM)[:j]] *= -1
            docs[slots[qi, j]] = signs * (np.abs(q[qi]) + rng.uniform(0, 0.5, DIM))
    return q, docs


def _rows(root: Path, store_format: str, docs: np.ndarray):
    """The documents in a store, spread over many commits out of list order (a shuffled first pass)."""
    store = open_store(root, store_format, shard_size=2500)
    texts = [f"d{i}" for i in range(len(docs))]
    encode = lambda chunk: (docs[[int(t[1:]) for t in chunk]], 0)  # noqa: E731
    store.get_or_encode(KEY, [texts[i] for i in np.random.default_rng(1).permutation(len(texts))], encode)
    rows, _ = store.get_or_encode(KEY, texts, encode)
    return rows


@pytest.fixture(scope="module")
def ray_cluster():
    """One local cluster for the module, started in the main thread (see tests/test_engine.py's ray_local)."""
    import ray

    ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.mark.parametrize("store_format", ["shards", "lance"])
def test_workers_score_like_the_driver(tmp_path: Path, ray_cluster, store_format: str) -> None:
    """float32, int8 (min/max calibration on workers) and binary with rescore, all three in one read of the rows
    on the workers: the same top-k index sets and scores as local scoring, computed in other processes."""
    q, docs = _data()
    rows = _rows(tmp_path, store_format, docs)
    scorer = RayScorer(RayEngine(workers=2), task_rows=3000)
    assert scorer.accepts(rows)
    np.testing.assert_array_equal(
        scorer.minmax(rows, lambda b: b[:, :64], 1000), column_minmax(rows, lambda b: b[:, :64], 1000)
    )
    remote = score_cells(q, rows, CELLS, K, block=1000, executor=scorer)
    for cell, (s_r, i_r, info) in zip(CELLS, remote):
        s_l, i_l, info_l = score_cell(q, rows, cell, K, block=1000)
        assert [set(r) for r in i_r.tolist()] == [set(r) for r in i_l.tolist()], cell.name
        np.testing.assert_allclose(s_r, s_l, rtol=1e-5, atol=1e-5)
        assert {k: v for k, v in info.items() if k not in ("scored_on", "worker_pids")} == info_l
        assert info["scored_on"]["engine"] == "ray" and info["scored_on"]["cells"] == len(CELLS)
        assert info["scored_on"]["tasks"] == 4 and info["scored_on"]["device"] in ("cpu", "cuda")
        assert info["worker_pids"] and os.getpid() not in info["worker_pids"]
        assert info["scored_on"]["workers"] == len(info["worker_pids"])
        assert "scored_on" not in info_l


def test_merge_of_partial_lists_is_the_global_topk() -> None:
    """Without Ray: the driver's merge of per-task lists equals the top-k of the whole score matrix."""
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((5, 1000)).astype(np.float32)
    ranges = task_ranges(1000, 64, workers=3, task_rows=256)
    assert ranges == [(0, 256), (256, 512), (512, 768), (768, 1000)]
    assert task_ranges(1000, 64, workers=2) == [(0, 512), (512, 1000)]  # whole blocks, a task per worker
    parts = []
    for start, stop in ranges:
        s, i = torch.topk(torch.from_numpy(scores[:, start:stop]), 7, dim=1)
        parts.append([(s.numpy(), i.numpy() + start)])
    [(ms, mi)] = merge_lists(parts, [7])
    ref_s, ref_i = torch.topk(torch.from_numpy(scores), 7, dim=1)
    np.testing.assert_array_equal(mi, ref_i.numpy())
    np.testing.assert_array_equal(ms, ref_s.numpy())
    assert task_ranges(10, 64, workers=2) == [(0, 10)]


def test_in_memory_documents_are_scored_here() -> None:
    """A matrix no worker can reopen is scored in this process (no Ray started), with no `scored_on`."""
    q, docs = _data()
    scorer = RayScorer(RayEngine(workers=2))
    assert not scorer.accepts(docs)
    s, i, info = score_cell(q[:3], docs[:500], Cell(None, "float32"), K, executor=scorer)
    s_l, i_l, _ = score_cell(q[:3], docs[:500], Cell(None, "float32"), K)
    np.testing.assert_array_equal(i, i_l)
    assert "scored_on" not in info and not scorer.last
