"""Deployment view: which (dim, dtype) cell to deploy, in which mode, from one encoding pass's cells.

Per (run, mode) with two or more cells on retrieval tasks, one row per cell: its mean score, the share of that
mode's full-dim float32 and of the teacher's, what a document vector costs to store and what the task's corpus
costs as an index, and the query encoder's batch-1 latency where `leafbench latency` measured it. A cell is
Pareto-optimal when no other cell scores at least as well in at most as many bytes (one of them strictly):
the frontier is the short list worth deploying; everything else pays more bytes for no more quality.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..cells import KINDS
from ..modes import MODE_ORDER
from .grid import tasks_with_all_cells
from .table import MISSING, ReportTable, make_table

RETRIEVAL = "Retrieval"
MODE_MARKERS = {"teacher": "s", "student": "o", "asymmetric": "^"}
PARETO_MARK = "✓"


def vector_bytes(dtype: str, dim: int) -> int | None:
    """Bytes one document vector of `dim` dimensions takes in `dtype`; a variant ("binary (rescore4)") stores
    what its dtype stores (rescoring reads the same bits). None for a dtype leafbench does not know."""
    kind = KINDS.get(str(dtype).split(" (")[0])
    return None if kind is None or not dim else kind.vector_bytes(int(dim))


def human_bytes(n: float | None) -> str:
    """Decimal units, as disk and RAM prices are quoted: 20736 -> "20.7 kB", 7960576 -> "7.96 MB"."""
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return MISSING
    units = ("B", "kB", "MB", "GB", "TB", "PB")
    i = 0
    while n >= 1000 and i < len(units) - 1:
        n, i = n / 1000, i + 1
    if i == 0:
        return f"{int(n)} B"
    return f"{n:.3g} {units[i]}"


def pareto_flags(scores: Sequence[float], sizes: Sequence[float]) -> list[bool]:
    """True for each point no other point dominates (score >= and size <=, one strictly); NaNs are never optimal."""
    s, b = np.asarray(scores, dtype=float), np.asarray(sizes, dtype=float)
    ok = ~(np.isnan(s) | np.isnan(b))
    out = []
    for i in range(len(s)):
        if not ok[i]:
            out.append(False)
            continue
        better = ok & (s >= s[i]) & (b <= b[i]) & ((s > s[i]) | (b < b[i]))
        out.append(not better.any())
    return out


@dataclass
class Deployment:
    """One (run, mode)'s cells on its retrieval tasks, with what deploying each one costs."""

    run: str
    mode: str
    tasks: list[str]
    cells: pd.DataFrame  # dim_label, dim, dtype, score (x100), bytes, index_bytes, pct_full, pct_teacher, pareto
    n_documents: dict[str, int | None]
    encoders: str = ""  # who encodes queries and documents, as a reader names them
    teacher_note: str = ""
    metric: str = ""
    latency: dict[str, float] = field(default_factory=dict)  # column -> batch-1 query p50 ms
    latency_notes: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"deploy-{self.run}-{self.mode}"


def _cell_dim(row: pd.Series) -> int | None:
    for v in (row.get("dim"), row.get("full_dim") if row.get("dim_label") == "full" else None, row.get("dim_label")):
        try:
            if v is not None and not (isinstance(v, float) and math.isnan(v)):
                return int(v)
        except (TypeError, ValueError):
            continue
    return None


def _full_float32(g: pd.DataFrame, tasks: Sequence[str]) -> float | None:
    """Mean x100 of the full-dim float32 cell over `tasks`, None unless every one of them has it."""
    f = g[(g["dim_label"] == "full") & (g["dtype"] == "float32") & g["task"].isin(tasks)]
    if set(f["task"]) != set(tasks):
        return None
    return float(f.groupby("task")["score"].mean().mean() * 100)


def _corpus_sizes(g: pd.DataFrame, tasks: Sequence[str]) -> dict[str, int | None]:
    """Documents per task as this run measured them (a subset run's own corpus)."""
    out: dict[str, int | None] = {}
    for t in tasks:
        n = pd.to_numeric(g.loc[g["task"] == t, "n_documents"], errors="coerce").dropna()
        out[t] = int(n.max()) if len(n) else None
    return out


def deployment(g: pd.DataFrame, run: str, mode: str, teacher: pd.DataFrame | None) -> Deployment | None:
    """The deployment rows of one (run, mode) from its retrieval results `g`; None under two cells."""
    if g[["dim_label", "dtype"]].drop_duplicates().shape[0] < 2:
        return None
    tasks = sorted(tasks_with_all_cells(g))
    g = g[g["task"].isin(tasks)]
    m = g.groupby(["dim_label", "dtype"], sort=False)
    cells = m["score"].mean().mul(100).rename("score").reset_index()
    first = m[[c for c in ("dim", "full_dim") if c in g]].first().reset_index()
    cells["dim"] = [_cell_dim(r) for _, r in first.iterrows()]
    cells["bytes"] = [vector_bytes(t, d) for t, d in zip(cells["dtype"], cells["dim"])]
    docs = _corpus_sizes(g, tasks)
    n_docs = None if any(v is None for v in docs.values()) else sum(v for v in docs.values() if v is not None)
    cells["index_bytes"] = [np.nan if b is None or n_docs is None else float(b * n_docs) for b in cells["bytes"]]
    full = _full_float32(g, tasks)
    cells["pct_full"] = cells["score"] / full * 100 if full else np.nan
    ref, note = None, ""
    if mode != "teacher" and teacher is not None and len(teacher):
        ref = _full_float32(teacher, tasks)
        if ref is None:
            note = "% of teacher: not shown, the teacher has no full float32 result on " + ", ".join(tasks) + "."
    cells["pct_teacher"] = cells["score"] / ref * 100 if ref else np.nan
    # Compared at the precision the table prints: 64.51 vs 64.51 in half the bytes is no reason to keep float32.
    cells["pareto"] = pareto_flags(cells["score"].round(2), cells["bytes"].astype(float))
    order = sorted(range(len(cells)), key=lambda i: (-(cells["bytes"].iat[i] or 0), -cells["score"].iat[i]))
    cells = cells.iloc[order].reset_index(drop=True)
    metrics = sorted(set(g["metric"].dropna())) if "metric" in g else []
    return Deployment(run, mode, tasks, cells, docs, _encoders(g), note, ", ".join(metrics))


def _encoders(g: pd.DataFrame) -> str:
    names = []
    for side in ("query", "document"):
        col = f"{side}_name" if f"{side}_name" in g else f"{side}_model"
        v = g[col].dropna() if col in g else pd.Series(dtype=object)
        names.append(str(v.iloc[0]) if len(v) else "?")
    return f"Queries encoded by {names[0]}, documents by {names[1]}"


def deployments(df: pd.DataFrame, latency: Sequence[dict] = ()) -> list[Deployment]:
    """Every (run, mode) with two or more (dim, dtype) cells on retrieval tasks, in run then mode order."""
    out = []
    r = df[df["task_type"] == RETRIEVAL]
    for run in sorted(r["run"].unique()):
        g_run = r[r["run"] == run]
        teacher = g_run[g_run["mode"] == "teacher"]
        modes = sorted(g_run["mode"].unique(), key=lambda m: MODE_ORDER.index(m) if m in MODE_ORDER else 9)
        for mode in modes:
            d = deployment(g_run[g_run["mode"] == mode], run, mode, teacher)
            if d is not None:
                d.latency, d.latency_notes = query_latency(latency, g_run[g_run["mode"] == mode])
                out.append(d)
    return out


def _encoder_settings(g: pd.DataFrame) -> tuple[set[str], str | None, int | None]:
    """(names, identity, max_seq_length) of the query encoder of a mode's results, as latency JSONs name it."""
    names = {str(v) for c in ("query_model", "query_name") if c in g for v in g[c].dropna().unique()}
    rec = g["record"].dropna().iloc[0] if "record" in g and g["record"].notna().any() else None
    enc: dict[str, Any] = getattr(rec, "query_encoder", None) or {}
    return names, enc.get("identity"), enc.get("max_seq_length")


def query_latency(reports: Sequence[dict], g: pd.DataFrame) -> tuple[dict[str, float], list[str]]:
    """{column: p50 ms} of the mode's query encoder per backend, from `leafbench latency` JSONs that measured the
    same model (same identity and max length where both are recorded); ({}, []) when none did."""
    names, ident, msl = _encoder_settings(g)
    found: dict[tuple[str, Any], tuple[float, dict]] = {}
    for rep in reports:
        for r in rep.get("results") or []:
            if r.get("model") not in names:
                continue
            if ident and r.get("identity") and r["identity"] != ident:
                continue
            if msl and r.get("max_seq_length") and r["max_seq_length"] != msl:
                continue
            p50 = (r.get("latency_ms") or {}).get("p50")
            if p50 is not None:
                found.setdefault((r["backend"], r.get("threads")), (float(p50), rep))
    threads = {t for _, t in found}
    cols = {
        f"Query p50 ms ({b})" if len(threads) < 2 else f"Query p50 ms ({b}, {t} thr)": v
        for (b, t), (v, _) in found.items()
    }
    notes = []
    for rep in {id(rep): rep for _, rep in found.values()}.values():
        m, data = rep.get("machine") or {}, rep.get("data") or {}
        notes.append(
            f"Query p50: leafbench latency over {data.get('n_queries', '?')} {data.get('task', '')} queries, batch 1, "
            f"{m.get('cpu', '?')} ({m.get('logical_cpus', '?')} logical CPUs)."
        )
    return cols, notes


def _dim_text(row: pd.Series) -> str:
    d = row["dim"]
    if d is None or (isinstance(d, float) and math.isnan(d)):
        return str(row["dim_label"])
    return f"{int(d)} (full)" if row["dim_label"] == "full" else str(int(d))


def _pct_text(v: float) -> str:
    return MISSING if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.1f}"


def _frontier_note(d: Deployment) -> str:
    """The decision in words: the smallest cell within 1% and within 5% of full float32, where those exist."""
    c = d.cells[d.cells["bytes"].notna()]
    picks: dict[str, list[str]] = {}
    for loss in (1, 5):
        ok = c[c["pct_full"] >= 100 - loss]
        if len(ok):
            r = ok.sort_values(["bytes", "score"], ascending=[True, False]).iloc[0]
            cell = f"{_cell_name(r)} ({r['pct_full']:.1f}%, {int(r['bytes']):,} B per document)"
            picks.setdefault(cell, []).append(f"{loss}%")
    if not picks:
        return ""
    return (
        "Smallest cell within "
        + "; within ".join(f"{' and '.join(losses)} of full float32: {cell}" for cell, losses in picks.items())
        + "."
    )


def _cell_name(r: pd.Series) -> str:
    return f"{_dim_text(r).replace(' (full)', '')}d {r['dtype']}"


def deployment_table(d: Deployment) -> ReportTable:
    """One (run, mode)'s cells as a report table, largest vectors first; Pareto rows marked and tinted."""
    c = d.cells
    docs = [n for n in d.n_documents.values() if n is not None]
    index_col = f"Index ({sum(docs):,} docs)" if len(docs) == len(d.n_documents) else "Index"
    frame = pd.DataFrame(
        {
            "Dim": [_dim_text(r) for _, r in c.iterrows()],
            "Dtype": c["dtype"],
            "Score": c["score"],
            "% of full float32": c["pct_full"],
        }
    )
    if c["pct_teacher"].notna().any():
        frame["% of teacher"] = c["pct_teacher"]
    frame["Bytes / doc"] = [MISSING if b is None else f"{int(b):,}" for b in c["bytes"]]
    frame[index_col] = [human_bytes(v) for v in c["index_bytes"]]
    frame["Pareto"] = [PARETO_MARK if p else "" for p in c["pareto"]]  # before latency: it varies by cell, latency not
    for col, ms in d.latency.items():
        frame[col] = ms
    pct = {k: _pct_text for k in ("% of full float32", "% of teacher")}
    ms_fmt = {col: (lambda v: f"{v:.2f}") for col in d.latency}
    t = make_table(
        d.key,
        f"Deploy {d.mode}: {d.run}",
        frame,
        formatters={**pct, **ms_fmt},
        sort_keys={
            "Dim": c["dim"].astype(float),
            "Bytes / doc": c["bytes"].astype(float),
            index_col: c["index_bytes"],
            "Pareto": c["pareto"].astype(float),
        },
        row_class=["pareto" if p else "" for p in c["pareto"]],
        notes=_notes(d),
    )
    return t


def _notes(d: Deployment) -> list[str]:
    """What this table measured; what its columns mean is said once, in the section's introduction."""
    docs = ", ".join(f"{t} {n:,}" if n is not None else f"{t} ?" for t, n in d.n_documents.items())
    notes = [
        f"{d.encoders}. Score: {d.metric or 'main score'} x100, mean over {', '.join(d.tasks)} (the retrieval tasks "
        f"with every cell of this mode); documents indexed: {docs}."
    ]
    return notes + [n for n in (_frontier_note(d), d.teacher_note) if n] + d.latency_notes


def deployment_tables(deps: Sequence[Deployment]) -> list[ReportTable]:
    return [deployment_table(d) for d in deps]


# ------------------------------------------------------------------------------------------- figure


def _cell_labels(c: pd.DataFrame) -> list[tuple[float, float, str]]:
    """(bytes, score, label) per point; cells on one spot (int8 and uint8 at one dim) share one label."""
    pts: dict[tuple[float, float], list[str]] = {}
    for _, r in c.dropna(subset=["bytes"]).iterrows():
        pts.setdefault((float(r["bytes"]), round(float(r["score"]), 2)), []).append(_cell_name(r))
    out = []
    for (b, s), names in pts.items():
        dims = {n.split(" ", 1)[0] for n in names}
        if len(dims) == 1:
            text = f"{names[0].split(' ', 1)[0]} " + "/".join(n.split(" ", 1)[1] for n in names)
        else:
            text = " / ".join(names)
        out.append((b, s, text))
    return out


def _overlap(a: Any, b: Any) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w * h if w > 0 and h > 0 else 0.0


# Label offsets in points, nearest first; the far ones get a leader line back to their point.
NEAR = [(5, 2, "left", "bottom"), (5, -2, "left", "top"), (-5, 2, "right", "bottom"), (-5, -2, "right", "top")]
NEAR += [(0, 6, "center", "bottom"), (0, -6, "center", "top")]
FAR = [
    (d * sx, d * sy, "left" if sx > 0 else "right", "bottom" if sy > 0 else "top")
    for d in (12, 20, 30)
    for sx, sy in ((1, 1), (1, -1), (-1, 1), (-1, -1))
]
FAR += [(0, d * sy, "center", "bottom" if sy > 0 else "top") for d in (14, 22, 32) for sy in (1, -1)]


def _obstacles(
    ax: Any, points: Sequence[tuple[float, float]], lines: Sequence[Sequence[tuple[float, float]]]
) -> list[Any]:
    """Display-space boxes labels must avoid: every marker, and the frontier lines sampled every few pixels."""
    from matplotlib.transforms import Bbox

    boxes = []
    for x, y in points:
        px, py = ax.transData.transform((x, y))
        boxes.append(Bbox.from_bounds(px - 5, py - 5, 10, 10))
    for line in lines:
        xy = ax.transData.transform(np.asarray(line, dtype=float)) if len(line) else np.empty((0, 2))
        for a, b in zip(xy[:-1], xy[1:]):
            n = max(1, int(np.hypot(*(b - a)) // 6))
            for t in np.linspace(0, 1, n + 1):
                px, py = a + t * (b - a)
                boxes.append(Bbox.from_bounds(px - 1.5, py - 1.5, 3, 3))
    return boxes


def _place_labels(ax: Any, labels: Sequence[tuple[float, float, str, str]], taken: list[Any]) -> None:
    """Annotate each point at the first offset whose text overlaps no earlier label, marker, line, the legend or
    the axes' edge (else the least-overlapping offset): a greedy placer, so a few dozen labels stay readable
    without a layout library. Labels placed far from their point get a thin leader line."""
    from matplotlib.text import Text
    from matplotlib.transforms import Bbox

    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    legend = ax.get_legend()
    if legend is not None:
        taken.append(legend.get_window_extent(renderer))
    for x, y, text, color in labels:
        px, py = ax.transData.transform((x, y))
        around = [o for o in taken if not o.contains(px, py)]  # its own marker (and line ends) do not count
        best: tuple[float, Any, Any] | None = None
        for dx, dy, ha, va in NEAR + FAR:
            far = (dx, dy, ha, va) in FAR
            arrow = {"arrowstyle": "-", "lw": 0.5, "color": color, "alpha": 0.7, "shrinkA": 0, "shrinkB": 4}
            t = ax.annotate(
                text,
                (x, y),
                xytext=(dx, dy),
                textcoords="offset points",
                ha=ha,
                va=va,
                fontsize=7,
                color=color,
                arrowprops=arrow if far else None,
            )
            t.update_positions(renderer)
            b = Text.get_window_extent(t, renderer)  # the text alone, not its leader line
            bb = Bbox.from_extents(b.x0 - 2, b.y0 - 1, b.x1 + 2, b.y1 + 1)
            outside = bb.width * bb.height - _overlap(bb, frame)
            cost = sum(_overlap(bb, o) for o in around) + 10 * outside + (0.5 if far else 0)
            if best is None or cost < best[0]:
                if best is not None:
                    best[1].remove()
                best = (cost, t, bb)
            else:
                t.remove()
            if cost <= 0.5:
                break
        if best is not None:
            taken.append(best[2])


def _axes(plt: Any, n_modes: int, low: float, top: float) -> tuple[Any, Any, Any]:
    """(figure, data axes, axes carrying the x axis). The y axis starts at 0; when every score sits high (the
    lowest above 40% of the best) a 0-based axis would squeeze them into a thin band, so the axis is broken
    instead: the data axes start just under the lowest score, a stub below keeps the 0, and break marks say so."""
    size = (8.5, 5.6 + 1.2 * (n_modes - 1))  # more modes, more labels: more height
    if low <= 0.4 * top:
        fig, ax = plt.subplots(figsize=size)
        ax.set_ylim(0, top * 1.08 + 3)
        return fig, ax, ax
    fig, (ax, stub) = plt.subplots(
        2, 1, sharex=True, figsize=size, gridspec_kw={"height_ratios": [16, 1], "hspace": 0.08}
    )
    start = max(0.0, math.floor((low - 0.08 * (top - low) - 2) / 5) * 5)
    ymax = top + 0.08 * (top - start) + 2
    ax.set_ylim(start, ymax)
    stub.set_ylim(0, (ymax - start) / 16)
    stub.set_yticks([0])
    ax.spines["bottom"].set_visible(False)
    stub.spines["top"].set_visible(False)
    ax.tick_params(axis="x", which="both", bottom=False, labelbottom=False)
    marks = {"marker": [(-1, -0.5), (1, 0.5)], "markersize": 10, "linestyle": "none", "color": "k", "clip_on": False}
    ax.plot([0, 1], [0, 0], transform=ax.transAxes, **marks)
    stub.plot([0, 1], [1, 1], transform=stub.transAxes, **marks)
    stub.grid(alpha=0.3)
    return fig, ax, stub


def _draw_mode(ax: Any, d: Deployment, color: str, marker: str) -> pd.DataFrame:
    """One mode's cells: the frontier as a line through filled markers, the other cells as hollow ones."""
    c = d.cells.dropna(subset=["bytes"]).astype({"bytes": float})
    front = c[c["pareto"]].sort_values("bytes")
    rest = c[~c["pareto"]]
    ax.plot(
        front["bytes"],
        front["score"],
        "-",
        color=color,
        marker=marker,
        markersize=7,
        linewidth=1.6,
        label=f"{d.mode}: Pareto frontier",
    )
    ax.scatter(
        rest["bytes"],
        rest["score"],
        marker=marker,
        s=36,
        facecolors="white",
        edgecolors=color,
        linewidths=1.3,
        label=f"{d.mode}: other cells",
        zorder=3,
    )
    return c


def plot_deployment(deps: Sequence[Deployment], out_dir: Path) -> Any:
    """Score vs bytes per document (log x) for one run, one colour and marker per mode, each mode's Pareto
    frontier as a line, every cell labelled; y starts at 0 (or is visibly broken) so a drop reads at its size."""
    from .plots import MODE_COLORS, Figure, _save, _slug, plt

    cells = [d.cells.dropna(subset=["bytes"]) for d in deps]
    if not deps or all(c.empty for c in cells):
        return None
    run = deps[0].run
    scores = pd.concat([c["score"] for c in cells])
    fig, ax, xax = _axes(plt, len(deps), float(scores.min()), float(scores.max()))
    labels: list[tuple[float, float, str, str]] = []  # frontier cells first: they get the best spots
    later: list[tuple[float, float, str, str]] = []
    points: list[tuple[float, float]] = []
    lines: list[list[tuple[float, float]]] = []
    for d in deps:
        color, marker = MODE_COLORS.get(d.mode, "#7f7f7f"), MODE_MARKERS.get(d.mode, "D")
        c = _draw_mode(ax, d, color, marker)
        if xax is not ax:
            _draw_mode(xax, d, color, marker)  # the stub shows any score under the break
        front = c[c["pareto"]].sort_values("bytes")
        labels += [(b, s, text, color) for b, s, text in _cell_labels(front)]
        later += [(b, s, text, color) for b, s, text in _cell_labels(c[~c["pareto"]])]
        points += list(zip(c["bytes"], c["score"]))
        lines.append(list(zip(front["bytes"], front["score"])))
    sizes = [b for b, _ in points]
    lo, hi = int(math.floor(math.log2(min(sizes)))), int(math.ceil(math.log2(max(sizes))))
    ticks = [2.0**k for k in range(lo, hi + 1, 1 if hi - lo <= 9 else 2)]
    xax.set_xscale("log", base=2)
    xax.set_xticks(ticks, [f"{int(t):,}" for t in ticks])
    xax.minorticks_off()
    xax.set_xlim(2.0**lo / 2, 2.0**hi * 2)  # room for the labels of the smallest and largest cells
    xax.set_xlabel("bytes per document vector (log scale)")
    ax.set_yticks([t for t in ax.get_yticks() if ax.get_ylim()[0] <= t <= 100])
    metric = ", ".join(sorted({d.metric for d in deps if d.metric})).replace("ndcg_at_", "nDCG@") or "main score"
    tasks = deps[0].tasks
    ax.set_ylabel(f"{metric} x100 (mean over {', '.join(tasks) if len(tasks) <= 3 else f'{len(tasks)} tasks'})")
    ax.set_title(f"{run}: score vs bytes per document, per mode", fontsize=10)
    ax.grid(alpha=0.3)
    fig.canvas.draw()  # the limits are final: obstacles in display space are where they will be drawn
    handles, names = ax.get_legend_handles_labels()
    below = xax.xaxis.label.get_window_extent().y0 / fig.bbox.height  # the legend hangs under the x label
    fig.legend(
        handles,
        names,
        loc="upper center",
        bbox_to_anchor=(0.5, below - 0.01),
        ncol=max(2, len(deps)),
        fontsize=8,
        frameon=False,
    )
    _place_labels(ax, labels + later, _obstacles(ax, points, lines))
    key = f"deploy-{_slug(run)}"
    svg, png = _save(fig, out_dir, key)
    title = f"Score vs bytes per document vector per mode, Pareto frontier as a line: {run}"
    return Figure(key, title, svg, png, after=deps[-1].key)


def deployment_figures(deps: Sequence[Deployment], out_dir: Path) -> list[Any]:
    """One figure per run with a deployment table."""
    runs = list(dict.fromkeys(d.run for d in deps))
    figs = [plot_deployment([d for d in deps if d.run == r], out_dir) for r in runs]
    return [f for f in figs if f is not None]
