"""Quality vs latency (the LEAF trade-off) in the report: a table and a scatter plot from latency JSONs.

`leafbench latency` writes ``<results>/latency/<model>[+<teacher>].json``; each row here is one (model,
backend) with its batch-1 query latency, bulk throughput and the model's score on the latency run's task
(nDCG@10 for SciFact), taken from the JSON's own ``quality`` block when it has one (benchmarks/backends.py
records per-backend scores there), else from the report's result files for that model and backend
(``<model>`` for torch, ``<model>@<backend>`` for `leafbench run --backend`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from .table import MISSING, ReportTable, make_table


def load_latency(root: Path) -> list[dict]:
    out = []
    for p in sorted(Path(root).rglob("latency/*.json")):
        try:
            d = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(d, dict) and d.get("kind") == "leafbench-latency":
            d["_path"] = str(p)
            out.append(d)
    return out


def _score(df: pd.DataFrame | None, model: str, backend: str, task: str, identity: str | None = None) -> float | None:
    """The model's full-data float32 score on `task`: by run name, else (torch) by its name on both sides, else
    by its identity on both sides (a student folder timed as `runs/x/final` whose results sit in a pair's run)."""
    if df is None or df.empty:
        return None
    run = model if backend == "torch" else f"{model}@{backend}"
    rows = df[
        (df["run"] == run)
        & (df["task"] == task)
        & (df["mode"] == "student")
        & (df["protocol"] == "full")
        & (df["dim_label"] == "full")
        & (df["dtype"] == "float32")
    ]
    if not len(rows) and backend == "torch" and "query_name" in df:
        # The model's own full-data result from any folder (e.g. as the teacher of a pair): same encoder, both sides.
        rows = df[
            (df["query_name"] == model)
            & (df["document_name"] == model)
            & (df["task"] == task)
            & (df["protocol"] == "full")
            & (df["dim_label"] == "full")
            & (df["dtype"] == "float32")
        ]
    if not len(rows) and backend == "torch" and identity and "query_id" in df:
        q_id = df["query_id"].astype(str).str.split("@").str[0]
        d_id = df["document_id"].astype(str).str.split("@").str[0]
        rows = df[
            (q_id == identity)
            & (d_id == identity)
            & (df["task"] == task)
            & (df["protocol"] == "full")
            & (df["dim_label"] == "full")
            & (df["dtype"] == "float32")
        ]
    return float(rows["score"].iloc[0]) if len(rows) else None


def latency_frame(reports: list[dict], df: pd.DataFrame | None = None) -> pd.DataFrame:
    rows = []
    for rep in reports:
        task = (rep.get("data") or {}).get("task", "")
        quality = rep.get("quality") or {}
        for r in rep["results"]:
            q = (quality.get(r["backend"]) or {}).get(r["model"])
            rows.append(
                {
                    "Model": r["model"],
                    "Backend": r["backend"],
                    "Threads": r["threads"],
                    "p50 ms": r["latency_ms"]["p50"],
                    "p95 ms": r["latency_ms"]["p95"],
                    "p99 ms": r["latency_ms"]["p99"],
                    "Bulk texts/s": r["bulk"].get("texts_per_s"),
                    "GFLOP/s": r["bulk"].get("gflops_per_s"),
                    f"{task} score": q
                    if q is not None
                    else _score(df, r["model"], r["backend"], task, r.get("identity")),
                    "_task": task,
                }
            )
    return pd.DataFrame(rows)


def latency_tables(reports: list[dict], df: pd.DataFrame | None = None) -> list[ReportTable]:
    if not reports:
        return []
    frame = latency_frame(reports, df)
    tables = []
    for task, g in frame.groupby("_task", sort=False):
        g = g.drop(columns=["_task"]).dropna(axis=1, how="all")
        ms = lambda v: MISSING if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.2f}"  # noqa: E731
        score_col = f"{task} score"
        fmt = {c: ms for c in ("p50 ms", "p95 ms", "p99 ms")}
        fmt["Bulk texts/s"] = lambda v: MISSING if pd.isna(v) else f"{v:,.1f}"
        fmt["GFLOP/s"] = lambda v: MISSING if pd.isna(v) else f"{v:.0f}"
        if score_col in g:
            fmt[score_col] = lambda v: MISSING if pd.isna(v) else f"{100 * v:.2f}"
        notes = []
        for rep in reports:
            if (rep.get("data") or {}).get("task") != task:
                continue
            m = rep.get("machine") or {}
            for b, ratio in (rep.get("ratios") or {}).items():
                notes.append(
                    f"{rep['teacher']} / {rep['student']} on {b}: p50 latency {ratio['p50_latency']:.1f}x, "
                    f"bulk throughput {ratio['bulk_throughput']:.1f}x"
                )
            notes.append(
                f"Machine: {m.get('cpu', '?')}, {m.get('logical_cpus', '?')} logical CPUs, flags "
                f"{', '.join(m.get('flags', []))}. Batch-1 latency is end to end (tokenise, forward, pool) over "
                f"{(rep.get('data') or {}).get('n_queries', '?')} test queries after warm-up; bulk: "
                f"{(rep.get('data') or {}).get('n_passages', '?')} passages at batch 32. The paper's reference: "
                "leaf-ir 11.4 ms vs its teacher 73.2 ms (6.4x), ONNX Runtime, CPU."
            )
        tables.append(
            make_table(
                f"latency-{task or 'x'}",
                f"Quality vs query latency on CPU ({task}): the LEAF trade-off",
                g,
                best_min=["p50 ms", "p95 ms", "p99 ms"],
                best_max=["Bulk texts/s"] + ([score_col] if score_col in g else []),
                formatters=fmt,
                notes=notes,
            )
        )
    return tables


def plot_latency(reports: list[dict], df: pd.DataFrame | None, out_dir: Path):
    """Scatter: batch-1 p50 latency (log x) vs score, one point per (model, backend)."""
    from .plots import MARKERS, Figure, _save, plt

    frame = latency_frame(reports, df)
    if frame.empty:
        return None
    task = frame["_task"].iloc[0]
    col = f"{task} score"
    pts = frame[frame["_task"] == task].dropna(subset=[col]) if col in frame else frame.iloc[0:0]
    if pts.empty:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for i, (backend, g) in enumerate(pts.groupby("Backend", sort=True)):  # a colour and a marker per backend
        ax.scatter(g["p50 ms"], 100 * g[col], label=backend, marker=MARKERS[i % len(MARKERS)], s=40)
        for _, r in g.iterrows():
            ax.annotate(r["Model"], (r["p50 ms"], 100 * r[col]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    lo, hi = float(pts["p50 ms"].min()), float(pts["p50 ms"].max())
    ax.set_xticks([t for t in (1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 300, 500, 1000) if lo / 1.5 <= t <= hi * 1.5])
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("batch-1 query latency p50, ms (log)")
    ax.set_ylabel(f"{task} nDCG@10 x100" if task == "SciFact" else f"{task} main score x100")
    ax.set_title("Quality vs query latency (CPU)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, title="backend", title_fontsize=7)
    key = "latency-quality"
    svg, png = _save(fig, out_dir, key)
    return Figure(key, "Quality vs batch-1 query latency per model and backend", svg, png, after=f"latency-{task}")
