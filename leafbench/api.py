"""The library entry points: run a benchmark, read its results. ``leafbench run`` is a thin shell over these.

`run_benchmark(model, **options)` = `execute(plan_run(model, **options))`: the plan (leafbench.plan) checks every
option before any encoding; the runner (leafbench.runner) executes it. The library never prints: progress goes
through a ``progress(description, total) -> advance(n)`` factory and messages (skipped tasks, data warnings,
unpinned models) through ``on_event(kind, text)``; the outcome is a :class:`RunReport`. Bad input raises a
:class:`leafbench.errors.UserError`.
"""

from __future__ import annotations

from typing import Any

from .evaluator import EventSink, ProgressFactory
from .plan import RunPlan, plan_run
from .results import load_results, results_frame
from .runner import RunReport, execute, load_mteb_task, local_task_source

__all__ = [
    "EventSink",
    "ProgressFactory",
    "RunPlan",
    "RunReport",
    "execute",
    "load_mteb_task",
    "load_results",
    "local_task_source",
    "plan_run",
    "results_frame",
    "run_benchmark",
]


def run_benchmark(
    model: Any,
    *,
    progress: ProgressFactory | None = None,
    on_event: EventSink | None = None,
    **options: Any,
) -> RunReport:
    """Evaluate a model, or a (student, teacher) pair, on BEIR/MTEB tasks; write mteb-compatible result JSON
    (one file per mode, task and cell) and the run's manifest; return what was done.

    `model` (and ``teacher=``): an alias, hub id or folder, a SentenceTransformer object (saved once into the
    cache and named by its weights), or any mteb encoder object: one implementing mteb's EncoderProtocol,
    ``encode(inputs, *, task_metadata, hf_split, hf_subset, prompt_type=None, **kwargs)``. Such an object cannot
    be saved or hashed by its weights, so it is named by ``name=`` and ``model_revision=`` (else its
    ``mteb_model_meta.name`` and ``.revision``; a teacher object by those only), recorded in every result with its
    class (``user_object``). Its vectors and results are stored under that name and revision and reused only when
    the same name and revision are passed again: change the revision whenever the object's vectors change. It
    encodes in this process (``engine="local"``), is called with ``prompt_type`` query or document for the two
    retrieval sides (None for texts without a role) and a generic ``task_metadata`` (vectors are shared by every
    task: see leafbench.user_encoder).

    `options` are :func:`leafbench.plan.plan_run`'s, mirroring ``leafbench run``'s (lists may replace comma
    strings: ``dims=[256, None]``). Results already on disk that were measured on exactly the same data, models
    and settings are reused (``force=True`` recomputes). Everything is checked before any encoding: a bad option
    fails in seconds, not after hours.
    """
    return execute(plan_run(model, **options), progress=progress, on_event=on_event)
