"""Old import path of the report's frame and benchmark board (scripts/doc_tables.py and a test import them
here); the report's modules are frame, table, benchmarks, reference, grid, throughput, provenance, subtasks."""

from __future__ import annotations

from .benchmarks import benchmark_board, benchmark_task_types
from .frame import ReportError, load_results

__all__ = ["ReportError", "benchmark_board", "benchmark_task_types", "load_results"]
