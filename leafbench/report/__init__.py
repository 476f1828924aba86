"""Reports from result JSONs: leaderboard tables (tables), figures (plots), a self-contained page (html).

`write_report` is what `leafbench report` runs; the submodules import pandas/matplotlib, so importing this
package stays cheap until a report is actually built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def write_report(
    results: Path, out: Path, title: str = "leafbench report", figures: bool = True, subtasks: bool = False
) -> dict[str, Any]:
    """Render ``out/index.md``, ``out/index.html`` and ``out/figures/*.{svg,png}``; returns what was written.

    Aggregate tasks (CQADupstackRetrieval) are one column everywhere, as on mteb's leaderboard; `subtasks`
    adds a table of their sub-tasks' scores."""
    from .html import render_html
    from .plots import make_figures
    from .tables import build_tables, load_results, to_markdown

    from .latency import latency_tables, load_latency, plot_latency

    df = load_results(results)
    latency = load_latency(results)  # <results>/latency/*.json from `leafbench latency`
    tables = build_tables(df, subtasks=subtasks)
    df = df[df["aggregate"].isna()]  # sub-task rows feed only the optional sub-task table
    tables[1:1] = latency_tables(latency, df)  # right after the leaderboard
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fig_dir = out / "figures"
    # Figures of runs no longer in the results must not linger next to the new ones.
    for old in [*fig_dir.glob("asym-vs-sym.*"), *fig_dir.glob("dims-*.*"), *fig_dir.glob("quant-*.*")]:
        if old.suffix in (".svg", ".png"):
            old.unlink()
    figs = make_figures(df, fig_dir) if figures else []
    for old in fig_dir.glob("latency-quality.*"):
        old.unlink()
    if figures and latency:
        figs += [f for f in [plot_latency(latency, df, fig_dir)] if f is not None]
    md = [f"# {title}", "", f"Results: `{results}` — {len(df)} result files, {df['run'].nunique()} runs, "
          f"{df['task'].nunique()} tasks. Interactive version: [index.html](index.html).", ""]
    for t in tables:
        md.append(to_markdown(t))
        md += [f"![{f.title}](figures/{f.png.name})\n" for f in figs if f.after == t.key]
    (out / "index.md").write_text("\n".join(md))
    (out / "index.html").write_text(render_html(title, tables, figs, source=str(results), n_files=len(df)))
    return {"markdown": out / "index.md", "html": out / "index.html", "figures": [f.svg for f in figs] + [f.png for f in figs],
            "tables": [t.key for t in tables], "n_results": len(df)}
