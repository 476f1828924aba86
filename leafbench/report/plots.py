"""Report figures (matplotlib, Agg): the inheritance figure, quantization bars, asymmetric vs symmetric.

Each figure is saved as SVG (inlined into the HTML, so the page needs no other file) and PNG (for Markdown
and the README). SVG output is made reproducible: a fixed hash salt per figure (ids stay unique when several
SVGs share one page) and no date metadata, so re-rendering unchanged results gives unchanged files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..cells import DTYPES, KINDS, BitKind, FloatKind, IntKind  # noqa: E402
from ..modes import MODE_ORDER  # noqa: E402
from .frame import MAIN_CELL, pick_main_cell, select_cell, task_order  # noqa: E402
from .grid import tasks_with_all_cells  # noqa: E402

MODE_COLORS = {"teacher": "#1f77b4", "student": "#ff7f0e", "asymmetric": "#2ca02c"}
# (line style, marker) per kind of output dtype: floats solid, integers dashed, bits dotted.
KIND_STYLES: dict[type, tuple[str, str]] = {FloatKind: ("-", "o"), IntKind: ("--", "s"), BitKind: (":", "^")}


def dtype_style(dtype: str) -> tuple[str, str]:
    """The (line style, marker) of a dtype's curves, from its kind (leafbench.cells.KINDS)."""
    kind = KINDS.get(dtype)
    return KIND_STYLES.get(type(kind), ("-", "o"))


@dataclass
class Figure:
    """A saved figure; `after` names the table it belongs next to in the report."""

    key: str
    title: str
    svg: Path
    png: Path
    after: str

    def svg_text(self) -> str:
        """The SVG ready to inline in HTML: no XML prolog, no RDF metadata block (only noise in a page)."""
        text = self.svg.read_text()
        start = text.find("<svg")
        text = text[start:] if start >= 0 else text
        return re.sub(r"\s*<metadata>.*?</metadata>", "", text, count=1, flags=re.S)


def _slug(s: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in s).strip("-")


def _save(fig: plt.Figure, out_dir: Path, key: str) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    svg, png = out_dir / f"{key}.svg", out_dir / f"{key}.png"
    with plt.rc_context({"svg.hashsalt": key, "svg.fonttype": "none"}):
        fig.savefig(svg, format="svg", metadata={"Date": None}, bbox_inches="tight")
    fig.savefig(png, format="png", dpi=110, metadata={"Software": None}, bbox_inches="tight")
    plt.close(fig)
    return svg, png


def _dim_value(g: pd.DataFrame) -> pd.Series:
    return np.where(g["dim_label"] == "full", g["full_dim"], pd.to_numeric(g["dim_label"], errors="coerce"))


def plot_dims(df: pd.DataFrame, run: str, out_dir: Path) -> Figure | None:
    """nDCG vs Matryoshka dim, one line per (mode, dtype): does the student inherit the teacher's curve?"""
    g = df[df["run"] == run]
    if g["dim_label"].nunique() < 2:
        return None
    tasks = tasks_with_all_cells(g)
    g = g[g["task"].isin(tasks)].assign(dimv=lambda x: _dim_value(x))
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for mode in [m for m in MODE_ORDER if m in set(g["mode"])]:
        for dtype, sub in g[g["mode"] == mode].groupby("dtype", sort=False):
            s = sub.groupby("dimv")["score"].mean().sort_index() * 100
            ax.plot(
                s.index,
                s.values,
                dtype_style(dtype)[0],
                marker=dtype_style(dtype)[1],
                color=MODE_COLORS.get(mode),
                label=f"{mode} {dtype}",
                linewidth=1.6,
                markersize=4,
                alpha=0.9,
            )
    dims = sorted(g["dimv"].dropna().unique())
    ax.set_xscale("log", base=2)
    ax.set_xticks(dims, [str(int(d)) for d in dims])
    ax.minorticks_off()
    ax.set_xlabel("embedding dim (Matryoshka truncation)")
    ax.set_ylabel(f"main score x100 ({', '.join(sorted(set(g['metric'])))})")
    ax.set_title(f"{run}: score vs dim ({', '.join(tasks) if len(tasks) <= 3 else f'{len(tasks)} tasks'})", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=3, loc="lower right")
    key = f"dims-{_slug(run)}"
    svg, png = _save(fig, out_dir, key)
    return Figure(key, f"Score vs Matryoshka dim per dtype: {run}", svg, png, after=f"cells-{run}")


def plot_quantization(df: pd.DataFrame, run: str, out_dir: Path) -> Figure | None:
    """Bars per mode x dtype at full dim: the cost of int8 / binary outputs."""
    g = df[(df["run"] == run) & (df["dim_label"] == "full")]
    if g["dtype"].nunique() < 2:
        return None
    tasks = tasks_with_all_cells(g)
    g = g[g["task"].isin(tasks)]
    dtypes = [d for d in DTYPES if d in set(g["dtype"])]
    modes = [m for m in MODE_ORDER if m in set(g["mode"])]
    m = g.groupby(["mode", "dtype"])["score"].mean() * 100
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    width = 0.8 / len(dtypes)
    x = np.arange(len(modes))
    for i, dt in enumerate(dtypes):
        vals = [m.get((mo, dt), np.nan) for mo in modes]
        bars = ax.bar(
            x + (i - (len(dtypes) - 1) / 2) * width,
            vals,
            width,
            label=dt,
            color=plt.cm.viridis(i / max(1, len(dtypes) - 1)),
        )
        ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=1)
    ax.set_xticks(x, modes)
    lo = np.nanmin(m.values)
    ax.set_ylim(max(0, lo - 10), min(100, np.nanmax(m.values) + 5))
    ax.set_ylabel("main score x100")
    ax.set_title(f"{run}: output dtype at full dim", fontsize=10)
    ax.legend(fontsize=8, ncol=len(dtypes))
    ax.grid(axis="y", alpha=0.3)
    key = f"quant-{_slug(run)}"
    svg, png = _save(fig, out_dir, key)
    return Figure(key, f"Quantization at full dim: {run}", svg, png, after=f"cells-{run}")


def plot_asym_vs_sym(df: pd.DataFrame, out_dir: Path, cell: tuple[str, str] = MAIN_CELL) -> Figure | None:
    """Per task and run: teacher, student and asymmetric side by side (main cell)."""
    sel = select_cell(df, cell)
    runs = [r for r, g in sel.groupby("run") if g["mode"].nunique() >= 2]
    if not runs or len(runs) > 3:  # more pairs than this are read from the Table-1 tables, not bars
        return None
    sel = sel[sel["run"].isin(runs)]
    tasks = task_order(sel)
    groups = [(r, t) for r in runs for t in tasks if ((sel["run"] == r) & (sel["task"] == t)).any()]
    modes = [m for m in MODE_ORDER if m in set(sel["mode"])]
    m = sel.groupby(["run", "task", "mode"])["score"].first() * 100
    fig, ax = plt.subplots(figsize=(max(4.5, 1.1 * len(groups) + 2), 3.6))
    width = 0.8 / len(modes)
    x = np.arange(len(groups))
    for i, mo in enumerate(modes):
        vals = [m.get((r, t, mo), np.nan) for r, t in groups]
        bars = ax.bar(x + (i - (len(modes) - 1) / 2) * width, vals, width, label=mo, color=MODE_COLORS.get(mo))
        ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=1)
    ax.set_xticks(x, [t if len(runs) == 1 else f"{t}\n{r}" for r, t in groups], fontsize=8)
    ax.set_ylim(max(0, np.nanmin(m.values) - 10), min(100, np.nanmax(m.values) + 5))
    ax.set_ylabel("main score x100")
    ax.set_title(f"asymmetric vs symmetric per task ({cell[0]} dim, {cell[1]})", fontsize=10)
    ax.legend(fontsize=8, ncol=len(modes))
    ax.grid(axis="y", alpha=0.3)
    key = "asym-vs-sym"
    svg, png = _save(fig, out_dir, key)
    return Figure(key, "Asymmetric vs symmetric per task", svg, png, after="pair-1")


def make_figures(df: pd.DataFrame, out_dir: Path) -> list[Figure]:
    """Every figure the results support, in report order (a run with one dim gets no dim curve)."""
    figs = [plot_asym_vs_sym(df, out_dir, pick_main_cell(df))]
    for run in sorted(df["run"].unique()):
        figs += [plot_dims(df, run, out_dir), plot_quantization(df, run, out_dir)]
    return [f for f in figs if f is not None]
