"""Encoding throughput per model, pooled over the distinct encoding passes the results record."""

from __future__ import annotations

import pandas as pd

from .table import MISSING, ReportTable, make_table


def throughput(df: pd.DataFrame) -> pd.DataFrame:
    """Per model: queries/s and docs/s over the distinct encoding passes recorded (store entries).

    Each store entry is counted once (many cells share one pass); a rate is total texts / total seconds of
    that model's passes on that side, so a big corpus weighs more than a small query set.
    """
    parts = []
    for side, label in (("q", "query"), ("d", "document")):
        cols = {
            f"{side}_model": "model",
            f"{side}_texts_per_s": "texts_per_s",
            f"{side}_tokens_per_s": "tokens_per_s",
            f"{side}_n_texts": "n_texts",
            f"{side}_entry": "entry",
        }
        p = df[list(cols)].rename(columns=cols).dropna(subset=["model", "texts_per_s", "n_texts"])
        p = p.drop_duplicates(subset=["model", "entry"])
        p = p.assign(side=label, seconds=p["n_texts"] / p["texts_per_s"])
        parts.append(p)
    allp = pd.concat(parts, ignore_index=True)
    if allp.empty:
        return pd.DataFrame()
    allp["tokens"] = allp["tokens_per_s"].fillna(0) * allp["seconds"]
    agg = allp.groupby(["model", "side"]).agg(
        n_texts=("n_texts", "sum"), seconds=("seconds", "sum"), tokens=("tokens", "sum"), passes=("entry", "nunique")
    )
    agg["texts_per_s"] = agg["n_texts"] / agg["seconds"]
    agg["tokens_per_s"] = agg["tokens"] / agg["seconds"]
    out = agg[["texts_per_s", "tokens_per_s", "n_texts", "passes"]].unstack("side")
    out.columns = [f"{s}_{c}" for c, s in out.columns]
    return out


def throughput_table(df: pd.DataFrame) -> ReportTable | None:
    t = throughput(df)
    if t.empty:
        return None
    frame = pd.DataFrame(
        {
            "Model": t.index,
            "Queries/s": t.get("query_texts_per_s"),
            "Docs/s": t.get("document_texts_per_s"),
            "Query tokens/s": t.get("query_tokens_per_s"),
            "Doc tokens/s": t.get("document_tokens_per_s"),
            "Queries encoded": t.get("query_n_texts"),
            "Docs encoded": t.get("document_n_texts"),
        }
    ).reset_index(drop=True)
    one = lambda v: MISSING if pd.isna(v) else f"{v:,.1f}"  # noqa: E731
    cnt = lambda v: MISSING if pd.isna(v) else f"{int(v):,}"  # noqa: E731
    return make_table(
        "throughput",
        "Encoding throughput per model",
        frame,
        best_max=["Queries/s", "Docs/s"],
        formatters={
            "Queries/s": one,
            "Docs/s": one,
            "Query tokens/s": one,
            "Doc tokens/s": one,
            "Queries encoded": cnt,
            "Docs encoded": cnt,
        },
        notes=[
            "Texts per second of the encoding passes that produced the stored embeddings (cache hits keep the "
            "original pass's rate), pooled over distinct passes. Machine-dependent: compare within one report."
        ],
    )
