"""Reports from result JSONs: a frame of the results (frame), the report's comparisons (compare, bootstrap), its
tables (table, benchmarks, reference, grid, throughput, provenance, subtasks, latency), figures (plots) and a
self-contained page (html); the mteb results-folder export (mteb_export) and the report/check/baseline/export-mteb
commands (cli).

`write_report` is what `leafbench report` runs (build.build_report -> Report -> to_markdown/to_html/save); the
submodules import pandas/matplotlib, so importing this package stays cheap until a report is actually built.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def write_report(
    results: Path | Sequence[Path],
    out: Path,
    title: str = "leafbench report",
    figures: bool = True,
    subtasks: bool = False,
) -> dict[str, Any]:
    """Render ``out/index.md``, ``out/index.html`` and ``out/figures/*.{svg,png}``; returns what was written.

    Aggregate tasks (CQADupstackRetrieval) are one column everywhere, as on mteb's leaderboard; `subtasks`
    adds a table of their sub-tasks' scores."""
    from .build import build_report

    out = Path(out)
    report = build_report(results, title=title, figures_dir=out / "figures" if figures else None, subtasks=subtasks)
    return report.save(out)
