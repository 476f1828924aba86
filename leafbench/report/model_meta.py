"""The model columns of a leaderboard, as MTEB's shows them: parameters, embedding dim, max tokens, memory.

Dim and max tokens are what the result records (the length the model was evaluated at; else the model's own
from mteb's registry); parameters and memory come from mteb's model registry for a hub model it knows (offline: its bundled metadata), else they stay empty
rather than guessed. For an asymmetric row they describe the query model: the one that runs at query time.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pandas as pd

COLUMNS = ("Params", "Dim", "Max tokens", "Memory (MB)")


@cache
def _mteb_meta(hf_id: str) -> tuple[int | None, float | None, int | None]:
    """(parameters, memory MB, max tokens) from mteb's registry; Nones for a model it does not know."""
    try:
        import mteb

        meta = mteb.get_model_meta(hf_id, fetch_from_hf=False)
    except Exception:  # noqa: BLE001 - mteb raises several types for a model it does not know
        return None, None, None
    tokens = getattr(meta, "max_tokens", None)
    return getattr(meta, "n_parameters", None), getattr(meta, "memory_usage_mb", None), int(tokens) if tokens else None


def system_columns(c: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """The four columns per system key (compare.system_key) of a cells frame."""
    from .compare import system_key

    out: dict[str, dict[str, Any]] = {}
    for (q, d), g in c.groupby(["query_id", "document_id"], sort=False):
        out[system_key(q, d)] = model_columns(g.iloc[0])
    return out


def model_columns(row: pd.Series) -> dict[str, Any]:
    """The four columns for one system, from one of its cells' rows (query side)."""
    rec = row.get("record")
    enc = rec.query_encoder if rec is not None else {}
    hf = row.get("query_hf_id")
    params, memory, tokens = _mteb_meta(str(hf)) if isinstance(hf, str) and hf else (None, None, None)
    dim = row.get("full_dim")
    return {
        "Params": params,
        "Dim": int(dim) if dim is not None and pd.notna(dim) else None,
        "Max tokens": enc.get("max_seq_length") or tokens,  # the length evaluated at, else the model's own
        "Memory (MB)": round(memory) if memory else None,
    }


def params_text(n: Any) -> str:
    """22713216 -> "22.7M", 109482240 -> "109M" (as MTEB's leaderboard rounds)."""
    if n is None or (isinstance(n, float) and pd.isna(n)):
        return "–"
    n = float(n)
    if n >= 1e9:
        return f"{n / 1e9:.3g}B"
    return f"{n / 1e6:.3g}M" if n >= 1e6 else f"{n:,.0f}"
