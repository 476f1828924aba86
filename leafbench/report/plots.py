"""Report figures (matplotlib, Agg): the inheritance figure, quantization bars, asymmetric vs symmetric.

Honest by construction: bar charts start their y axis at 0 (the numbers on the bars give the differences), every
series has its own colour and its own marker (lines) or hatch (bars), so a greyscale print still tells them apart,
and x tick labels are wrapped, then rotated, until none overlaps another.

Each figure is saved as SVG (inlined into the HTML, so the page needs no other file) and PNG (for Markdown
and the README). SVG output is made reproducible: a fixed hash salt per figure (ids stay unique when several
SVGs share one page) and no date metadata, so re-rendering unchanged results gives unchanged files.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..cells import DTYPES  # noqa: E402
from ..modes import MODE_ORDER  # noqa: E402
from .frame import MAIN_CELL, pick_main_cell, select_cell, task_order  # noqa: E402
from .grid import tasks_with_all_cells  # noqa: E402

MODE_COLORS = {"teacher": "#1f77b4", "student": "#ff7f0e", "asymmetric": "#2ca02c"}
# Per mode a colour family (one shade per dtype in the dims figure) and a line style; per dtype a marker; per bar
# series a hatch: series differ in colour and in shape.
MODE_CMAPS = {"teacher": "Blues", "student": "Oranges", "asymmetric": "Greens"}
MODE_LINES = {"teacher": "-", "student": "--", "asymmetric": ":"}
MODE_HATCHES = {"teacher": "", "student": "///", "asymmetric": ".."}
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
HATCHES = ("", "///", "\\\\\\", "xx", "..", "++", "oo", "--")
# Bar charts: headroom above the tallest bar for its value label.
BAR_HEADROOM = 1.1


def series_color(mode: str, i: int, n: int, n_modes: int = 2) -> Any:
    """The colour of a mode's i-th of n series: with one mode, one of tab10's distinct colours; with several, the
    i-th shade (dark to light) of the mode's colour family, so modes stay apart and so do their dtypes."""
    if n_modes == 1:
        return matplotlib.colormaps["tab10"](i % 10)
    cmap = matplotlib.colormaps[MODE_CMAPS.get(mode, "Greys")]
    return cmap(0.95 - 0.6 * (i / (n - 1) if n > 1 else 0))


def bar_ylim(values: Any) -> tuple[float, float]:
    """y limits of a bar chart: from 0 (a bar's length is its value) to a little above the tallest bar."""
    v = np.asarray(values, dtype=float)
    top = float(np.nanmax(v)) if np.isfinite(v).any() else 1.0
    return 0.0, max(top, 0.0) * BAR_HEADROOM or 1.0


def _overlap(boxes: list[Any]) -> bool:
    return any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])


def fit_xticklabels(ax: Any, width: int = 16) -> None:
    """Wrap long x tick labels at `width` characters, then rotate them (30°, then 90°) while any two overlap."""
    labels = [t.get_text() for t in ax.get_xticklabels()]
    wrapped = ["\n".join(textwrap.wrap(t, width, break_on_hyphens=True) or [t]) if "\n" not in t else t for t in labels]
    ax.set_xticks(ax.get_xticks(), wrapped)
    renderer = ax.figure.canvas.get_renderer()
    for angle in (0, 30, 90):
        for t in ax.get_xticklabels():
            t.set_rotation(angle)
            t.set_horizontalalignment("center" if angle in (0, 90) else "right")
            t.set_rotation_mode("anchor" if angle == 30 else "default")
        if not _overlap([t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_text()]):
            return


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
    dtypes = [d for d in DTYPES if d in set(g["dtype"])] + sorted(set(g["dtype"]) - set(DTYPES))
    modes = [m for m in MODE_ORDER if m in set(g["mode"])]
    for mode in modes:
        for i, dtype in enumerate(dtypes):
            sub = g[(g["mode"] == mode) & (g["dtype"] == dtype)]
            if sub.empty:
                continue
            s = sub.groupby("dimv")["score"].mean().sort_index() * 100
            ax.plot(
                s.index,
                s.values,
                MODE_LINES.get(mode, "-"),
                marker=MARKERS[i % len(MARKERS)],
                color=series_color(mode, i, len(dtypes), len(modes)),
                label=f"{mode} {dtype}",
                linewidth=1.6,
                markersize=7 - 3 * i / max(1, len(dtypes) - 1),  # identical curves: the later inside the earlier
                markerfacecolor="white" if i % 2 else None,
                markeredgewidth=1.3,
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
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fit_xticklabels(ax)
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
            color=plt.cm.viridis(0.85 * i / max(1, len(dtypes) - 1)),
            hatch=HATCHES[i % len(HATCHES)],
            edgecolor="white",
            linewidth=0.5,
        )
        ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=1)
    ax.set_xticks(x, modes)
    ax.set_ylim(*bar_ylim(m.values))
    ax.set_ylabel("main score x100")
    ax.set_title(f"{run}: output dtype at full dim", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    fit_xticklabels(ax)
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
        bars = ax.bar(
            x + (i - (len(modes) - 1) / 2) * width,
            vals,
            width,
            label=mo,
            color=MODE_COLORS.get(mo),
            hatch=MODE_HATCHES.get(mo, HATCHES[i % len(HATCHES)]),
            edgecolor="white",
            linewidth=0.5,
        )
        ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=1)
    ax.set_xticks(x, [t if len(runs) == 1 else f"{t} ({r})" for r, t in groups], fontsize=8)
    ax.set_ylim(*bar_ylim(m.values))
    ax.set_ylabel("main score x100")
    ax.set_title(f"asymmetric vs symmetric per task ({cell[0]} dim, {cell[1]})", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    fit_xticklabels(ax)
    key = "asym-vs-sym"
    svg, png = _save(fig, out_dir, key)
    return Figure(key, "Asymmetric vs symmetric per task", svg, png, after="pair-1")


def make_figures(df: pd.DataFrame, out_dir: Path) -> list[Figure]:
    """Every figure the results support, in report order (a run with one dim gets no dim curve)."""
    figs = [plot_asym_vs_sym(df, out_dir, pick_main_cell(df))]
    for run in sorted(df["run"].unique()):
        figs += [plot_dims(df, run, out_dir), plot_quantization(df, run, out_dir)]
    return [f for f in figs if f is not None]
