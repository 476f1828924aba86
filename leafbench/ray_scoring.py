"""Exact retrieval scoring on Ray workers (`leafbench run --engine ray`): the passes over a document side run where
the rows are read, not in the driver.

The driver cuts the side into tasks of whole blocks (`RayScorer.task_rows` rows at most, at least one task per
worker). Each Ray task reopens its own rows from the store (`RowsBase.reader`: shard paths and row numbers, or a
Lance URI, version and positions; never the vectors), reads them block by block and returns either per-dimension
min/max (the calibration pass of int cells) or, for every cell of the pass, [queries, k] scores with global indices,
searched with torch (on the worker's GPU when it has one) or faiss. The driver reduces the answers in task order:
min/max by min/max, top-k lists by `search.merge_topk`, the merge that joins block lists in one process, so the
lists equal the local ones (documents tied at the k-th score may be another of the tied). Rescoring of binary
candidates stays in the driver: it reads only the candidates' rows.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .engine import RayEngine
from .scoring import Rows, SearchJob, TopLists, column_minmax, search_blocks
from .search import merge_topk
from .store import RowsReader

__all__ = ["TASK_ROWS", "RayScorer", "merge_lists", "task_ranges"]

log = logging.getLogger(__name__)

# Rows per Ray task: what one task reads (block by block) before it answers; its answer is [queries, k] per cell.
TASK_ROWS = 131072


def task_ranges(n: int, block: int, workers: int, task_rows: int = TASK_ROWS) -> list[tuple[int, int]]:
    """[start, stop) row ranges of the tasks: whole blocks, at most `task_rows` rows, one task per worker at least."""
    per = min(task_rows, -(-n // max(1, workers)))
    per = max(block, -(-per // block) * block)
    return [(s, min(n, s + per)) for s in range(0, n, per)]


def _tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.require(a, requirements="W"))  # Ray hands back read-only arrays


def merge_lists(parts: Iterable[TopLists], ks: Sequence[int]) -> TopLists:
    """Each job's k best over the partial (scores, global indices) lists of all tasks, folded in task order."""
    best: list[tuple[torch.Tensor, torch.Tensor]] | None = None
    for found in parts:
        if best is None:
            best = [
                (torch.full((s.shape[0], 0), float("-inf")), torch.empty((s.shape[0], 0), dtype=torch.long))
                for s, _ in found
            ]
        best = [merge_topk(bs, bi, _tensor(s), _tensor(i), k) for (bs, bi), (s, i), k in zip(best, found, ks)]
    assert best is not None, "no tasks"
    return [(s.numpy().astype(np.float32, copy=False), i.numpy().astype(np.int64, copy=False)) for s, i in best]


def _minmax_task(
    reader: RowsReader, start: int, f: Callable[[np.ndarray], np.ndarray], block: int
) -> tuple[np.ndarray, int]:
    """On a worker: the [2, dim] min/max of f(rows) over this task's rows, read by the worker itself."""
    return column_minmax(reader.open(), f, block), os.getpid()


def _topk_task(
    reader: RowsReader, start: int, jobs: Sequence[SearchJob], block: int, search: str
) -> tuple[TopLists, int, str, str]:
    """On a worker: every job's top-k over this task's rows (each block read once), indices global; with the
    worker's pid, device and Ray node (where the search ran, for the record)."""
    import ray

    device = "cuda" if search == "torch" and torch.cuda.is_available() else "cpu"
    found = search_blocks(reader.open(), jobs, block, search, start, device)
    node = ray.get_runtime_context().get_node_id() if ray.is_initialized() else "local"
    return found, os.getpid(), "faiss" if search == "faiss" else device, node


@dataclass
class RayScorer:
    """A `scoring.Executor` on the Ray engine's cluster: each task reads its rows itself, as a Ray task with the
    engine's per-worker CPUs/GPUs (0.5 CPU without GPUs); as many tasks in flight as the engine has workers, so
    each worker process is reused (its imports paid once) and answers never pile up here."""

    engine: RayEngine
    task_rows: int = TASK_ROWS
    last: dict[str, Any] = field(default_factory=dict)  # where the latest pass ran

    def accepts(self, rows: Rows) -> bool:
        """Rows a worker can reopen from the store (stored shards, Lance); an in-memory matrix is scored here."""
        reader = getattr(rows, "reader", None)
        return reader is not None and rows.shape[0] > 0 and reader(0, 0) is not None

    def _map(self, fn: Callable[..., Any], rows: Rows, block: int, *args: Any) -> Iterator[tuple[int, Any]]:
        """Run `fn(reader, start, *args)` per task; answers in task order with the task count."""
        ray = self.engine._init()
        workers, cpus, gpus = self.engine.plan(ray)
        # SPREAD: a pass over a big corpus uses every node of the cluster, not the first with room
        remote = ray.remote(fn).options(num_cpus=cpus, num_gpus=gpus or 0, max_retries=3, scheduling_strategy="SPREAD")
        tasks = task_ranges(rows.shape[0], block, workers, self.task_rows)
        log.info("ray scoring: %d rows in %d tasks over %d workers", rows.shape[0], len(tasks), workers)
        pending: deque[Any] = deque()
        for start, stop in tasks:
            pending.append(remote.remote(rows.reader(start, stop), start, *args))  # type: ignore[attr-defined]
            if len(pending) >= workers:
                yield len(tasks), ray.get(pending.popleft())
        while pending:
            yield len(tasks), ray.get(pending.popleft())

    def minmax(self, rows: Rows, f: Callable[[np.ndarray], np.ndarray], block: int) -> np.ndarray:
        """The [2, dim] per-dimension min/max of f(rows), one worker task per row range, reduced here."""
        lo = hi = None
        for _, (mm, _pid) in self._map(_minmax_task, rows, block, f, block):
            lo = mm[0] if lo is None else np.minimum(lo, mm[0])
            hi = mm[1] if hi is None else np.maximum(hi, mm[1])
        assert lo is not None and hi is not None, "no documents"
        return np.stack([lo, hi]).astype(np.float32)

    def topk(self, rows: Rows, jobs: Sequence[SearchJob], block: int, search: str) -> tuple[TopLists, dict[str, Any]]:
        """Every job's exact top-k over all rows: each task reads its rows once for all jobs; lists merged here."""
        ray = self.engine._init()
        jobs_ref = ray.put(list(jobs))  # queries once in the object store, shared by every task
        pids: set[int] = set()
        devices: set[str] = set()
        nodes: set[str] = set()
        n_tasks = 0

        def answers() -> Iterator[TopLists]:
            nonlocal n_tasks
            for n_tasks, (found, pid, device, node) in self._map(_topk_task, rows, block, jobs_ref, block, search):
                pids.add(pid)
                devices.add(device)
                nodes.add(node)
                yield found

        merged = merge_lists(answers(), [j.k for j in jobs])
        where = {
            "engine": "ray",
            "workers": len(pids),
            "nodes": len(nodes),
            "tasks": n_tasks,
            "device": ",".join(sorted(devices)),
            "pids": sorted(pids),
        }
        self.last = where
        return merged, where
