"""Published numbers (LEAF paper, MTEB leaderboard, model cards), each with the protocol it was measured under,
and ours next to them only where they measure the same thing (:func:`reference_block`, :func:`reference_table`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from .frame import row_label, select_cell
from .table import ReportTable, fmt, make_table


@dataclass(frozen=True)
class Protocol:
    key: str
    label: str
    benchmark: str | None  # mteb benchmark name whose task list defines it
    exclude: tuple[str, ...] = ()


PROTOCOLS = {
    "beir15": Protocol("beir15", 'mteb "BEIR" benchmark, 15 tasks incl. MSMARCO; mean nDCG@10', "BEIR"),
    "beir14": Protocol("beir14", "LEAF paper BEIR table, 14 datasets (no MSMARCO); mean nDCG@10", "BEIR", ("MSMARCO",)),
    "mteb_eng_v2": Protocol("mteb_eng_v2", "MTEB(eng, v2), Mean(Task) over its 41 tasks", "MTEB(eng, v2)"),
}

# Public numbers (LEAF paper, MTEB leaderboard, model cards), each with the protocol it was measured under.
REFERENCE: tuple[dict[str, Any], ...] = (
    {
        "model": "MongoDB/mdbr-leaf-ir",
        "mode": "student",
        "params": "22.9M",
        "dim": 768,
        "teacher": "Snowflake/snowflake-arctic-embed-m-v1.5",
        "protocol": "beir15",
        "value": 53.55,
        "source": "MTEB leaderboard / model card",
    },
    {
        "model": "MongoDB/mdbr-leaf-ir",
        "mode": "asymmetric",
        "params": "22.9M",
        "dim": 768,
        "teacher": "Snowflake/snowflake-arctic-embed-m-v1.5",
        "protocol": "beir15",
        "value": 54.03,
        "source": "model card",
    },
    {
        "model": "Snowflake/snowflake-arctic-embed-m-v1.5",
        "mode": "teacher",
        "params": "109M",
        "dim": 768,
        "teacher": "",
        "protocol": "beir15",
        "value": 55.16,
        "source": "MTEB leaderboard",
    },
    {
        "model": "MongoDB/mdbr-leaf-ir",
        "mode": "student",
        "params": "22.9M",
        "dim": 768,
        "teacher": "Snowflake/snowflake-arctic-embed-m-v1.5",
        "protocol": "beir14",
        "value": 53.9,
        "source": "arXiv 2509.12539",
    },
    {
        "model": "MongoDB/mdbr-leaf-ir",
        "mode": "asymmetric",
        "params": "22.9M",
        "dim": 768,
        "teacher": "Snowflake/snowflake-arctic-embed-m-v1.5",
        "protocol": "beir14",
        "value": 54.8,
        "source": "arXiv 2509.12539",
    },
    {
        "model": "Snowflake/snowflake-arctic-embed-m-v1.5",
        "mode": "teacher",
        "params": "109M",
        "dim": 768,
        "teacher": "",
        "protocol": "beir14",
        "value": 56.1,
        "source": "arXiv 2509.12539",
    },
    {
        "model": "MongoDB/mdbr-leaf-mt",
        "mode": "student",
        "params": "23.0M",
        "dim": 1024,
        "teacher": "mixedbread-ai/mxbai-embed-large-v1",
        "protocol": "mteb_eng_v2",
        "value": 63.97,
        "source": "MTEB leaderboard / model card",
    },
)


@cache
def protocol_tasks(key: str) -> tuple[str, ...]:
    """Task names of a protocol, read from mteb's benchmark registry (empty if mteb cannot list it)."""
    p = PROTOCOLS[key]
    try:
        import mteb

        names = [t.metadata.name for t in mteb.get_benchmark(p.benchmark).tasks]
    except Exception:  # noqa: BLE001
        return ()
    return tuple(n for n in names if n not in p.exclude)


def reference_block(df: pd.DataFrame) -> pd.DataFrame:
    """Published rows plus ours on the same protocol: a mean only where ours covers every task on full data.

    A subset run or a partial task list is shown as coverage text, never as a number next to a published
    one, because the two would not measure the same thing.
    """
    rows = [{**r, "protocol_label": PROTOCOLS[r["protocol"]].label, "ours": False, "note": ""} for r in REFERENCE]
    sel = select_cell(df)
    for key, proto in PROTOCOLS.items():
        tasks = protocol_tasks(key)
        if not tasks:
            continue
        for (run, mode), g in sel.groupby(["run", "mode"], sort=True):
            have = g[g["task"].isin(tasks)]
            if have.empty:
                continue
            full_data = (have["protocol"] == "full").all()
            complete = set(have["task"]) >= set(tasks)
            value = have["score"].mean() * 100 if complete and full_data else np.nan
            note = (
                ""
                if complete and full_data
                else (
                    f"{have['task'].nunique()}/{len(tasks)} tasks"
                    + ("" if full_data else ", query/doc subset" if (have["subset"] != "").any() else ", other split")
                    + "; not comparable"
                )
            )
            rows.append(
                {
                    "model": row_label(run, mode, g),
                    "mode": mode,
                    "params": "",
                    "dim": g["full_dim"].iloc[0],
                    "teacher": "" if mode == "teacher" else (g["teacher"].iloc[0] or ""),
                    "protocol": key,
                    "protocol_label": proto.label,
                    "value": value,
                    "source": f"ours: {run}",
                    "ours": True,
                    "note": note,
                }
            )
    return pd.DataFrame(rows)


def reference_table(df: pd.DataFrame) -> ReportTable:
    ref = reference_block(df)
    # Our rows only where they carry a comparable number; partial coverage is one line per protocol below.
    partial = ref[ref["ours"] & ref["value"].isna()]
    ref = ref[~ref["ours"] | ref["value"].notna()].drop_duplicates(subset=["model", "mode", "protocol", "value"])
    cover = []
    for key, g in partial.groupby("protocol", sort=False):
        n = g["note"].str.extract(r"^(\d+)/(\d+)").astype(float)
        best = f"{int(n[0].max())}/{int(n[1].max())} tasks" if n[0].notna().any() else "partial"
        cover.append(
            f"{PROTOCOLS[key].label}: {g['source'].nunique()} of our runs cover at most {best}"
            + (" (some on query/document subsets)" if g["note"].str.contains("subset").any() else "")
        )
    frame = pd.DataFrame(
        {
            "Model": ref["model"],
            "Mode": ref["mode"],
            "Score": ref["value"],
            "Protocol": ref["protocol_label"],
            "Note": ref["note"],
            "Source": ref["source"],
            "Teacher": ref["teacher"],
            "Params": ref["params"],
            "Dim": ref["dim"],
        }
    )
    classes = ["ours" if o else "reference" for o in ref["ours"]]
    return make_table(
        "reference",
        "Reference: published numbers and ours, by protocol",
        frame,
        row_class=classes,
        formatters={
            "Dim": lambda v: (
                fmt(int(v)) if isinstance(v, (int, float, np.integer, np.floating)) and not pd.isna(v) else fmt(v)
            )
        },
        notes=[
            "Published numbers (the Source column; full test sets, prompts as on the model cards). Ours get a "
            "score only where they cover every task of the protocol on full data."
        ]
        + (["Not comparable yet: " + "; ".join(cover) + "."] if cover else []),
    )
