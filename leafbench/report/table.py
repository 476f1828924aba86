"""A report table ready for Markdown and HTML (:class:`ReportTable`), built from a mixed frame by
:func:`make_table`; scores are shown x100 with two decimals, as the MTEB leaderboard and the LEAF model cards
print them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

MISSING = "–"
# Columns that hold counts (queries, documents, texts encoded, tasks, passes): integers whatever dtype pandas gave
# them (a count column with a missing value is float64, one mixed with "" is object).
COUNT_COLUMN = re.compile(r"(n[_ ].*|#.*|queries|documents|docs|texts|tasks|passes|.* encoded|.* count)", re.IGNORECASE)


@dataclass
class ReportTable:
    """A table ready for Markdown and HTML: display text, numeric sort keys, best-cell and row flags."""

    key: str
    title: str
    text: pd.DataFrame  # str cells; columns are the header
    sort: pd.DataFrame  # float sort key per cell (NaN: sort by text)
    best: pd.DataFrame  # bool: highlight
    row_class: list[str] = field(default_factory=list)  # "", "incomplete", "reference", "ours", "pareto", "group"
    notes: list[str] = field(default_factory=list)
    numeric: set[str] = field(default_factory=set)  # right-aligned columns
    section: str = ""  # the report section (## heading) the table belongs to
    collapsed: bool = False  # rendered folded (<details>) after the section's open tables
    filterable: bool = False  # the HTML gives it a filter box whatever its length (a leaderboard)


def _missing(v: Any) -> bool:
    return v is None or v is pd.NA or (isinstance(v, (float, np.floating)) and math.isnan(v))


def fmt(v: Any, digits: int = 2) -> str:
    if _missing(v):
        return MISSING
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return f"{v:.{digits}f}"
    return str(v)


def fmt_count(v: Any) -> str:
    """A count as an integer with thousands separators (``5,183``); text cells ("" for "not applicable") as
    they are."""
    if _missing(v):
        return MISSING
    if isinstance(v, str):
        return v
    return f"{int(round(float(v))):,}"


def count_columns(frame: pd.DataFrame) -> list[str]:
    """Columns to print as integers: integer dtypes, and count-named columns whose numbers are all whole."""
    out = []
    for c in frame.columns:
        col = frame[c]
        if pd.api.types.is_bool_dtype(col):
            continue
        if pd.api.types.is_integer_dtype(col):
            out.append(c)
            continue
        if not COUNT_COLUMN.fullmatch(str(c)):
            continue
        nums = pd.to_numeric(col.where(col != ""), errors="coerce")
        if nums.notna().any() and nums.notna().sum() == (col.notna() & (col != "")).sum():
            if np.allclose(nums.dropna().to_numpy(dtype=float) % 1, 0):
                out.append(c)
    return out


def make_table(
    key: str,
    title: str,
    frame: pd.DataFrame,
    best_max: Iterable[str] = (),
    best_min: Iterable[str] = (),
    eligible: pd.Series | None = None,
    formatters: dict[str, Callable[[Any], str]] | None = None,
    sort_keys: dict[str, pd.Series] | None = None,
    row_class: Sequence[str] | None = None,
    notes: Sequence[str] = (),
) -> ReportTable:
    """Format a mixed frame; highlight each best_max (best_min) column's top (bottom) among `eligible` rows.
    Count columns (see `count_columns`) print as integers unless a formatter says otherwise."""
    frame = frame.reset_index(drop=True)
    counts = count_columns(frame)
    formatters = {**{c: fmt_count for c in counts if not pd.api.types.is_integer_dtype(frame[c])}, **(formatters or {})}
    text = pd.DataFrame({c: [formatters.get(c, fmt)(v) for v in frame[c]] for c in frame.columns}, dtype=object)
    sort = pd.DataFrame(index=frame.index, columns=frame.columns, dtype=float)
    numeric: set[str] = set()
    for c in frame.columns:
        if sort_keys and c in sort_keys:
            sort[c] = pd.to_numeric(pd.Series(sort_keys[c]).reset_index(drop=True), errors="coerce").to_numpy()
            numeric.add(c)
        elif pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c]):
            sort[c] = frame[c].astype(float).to_numpy()
            numeric.add(c)
        elif c in counts:
            sort[c] = pd.to_numeric(frame[c].where(frame[c] != ""), errors="coerce").astype(float).to_numpy()
            numeric.add(c)
    best = pd.DataFrame(False, index=frame.index, columns=frame.columns)
    ok = pd.Series(True, index=frame.index) if eligible is None else pd.Series(eligible).reset_index(drop=True)
    for cols, pick in ((best_max, "max"), (best_min, "min")):
        for c in cols:
            vals = sort[c].where(ok)
            if vals.notna().sum() < 2:
                continue
            target = vals.max() if pick == "max" else vals.min()
            best[c] = np.isclose(vals.to_numpy(dtype=float), target, rtol=0, atol=1e-9) & vals.notna().to_numpy()
    return ReportTable(key, title, text, sort, best, list(row_class or [""] * len(frame)), list(notes), numeric)


def to_markdown(t: ReportTable) -> str:
    """GitHub Markdown; best cells bold, notes as a paragraph below."""
    esc = lambda s: str(s).replace("|", "\\|")  # noqa: E731
    cols = list(t.text.columns)
    lines = [
        f"### {t.title}",
        "",
        "| " + " | ".join(esc(c) for c in cols) + " |",
        "|" + "|".join("---:" if c in t.numeric else "---" for c in cols) + "|",
    ]
    for i in range(len(t.text)):
        cells = [
            f"**{esc(t.text.iat[i, j])}**" if t.best.iat[i, j] else esc(t.text.iat[i, j]) for j in range(len(cols))
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if t.notes:
        lines += [""] + [f"_{n}_" if n else "" for n in t.notes]
    return "\n".join(lines) + "\n"


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name).strip("-").lower()
