"""What our numbers were measured on: per task, split, subsets, query and document counts, data, mteb version."""

from __future__ import annotations

import pandas as pd

from .table import ReportTable, make_table


def data_protocol(df: pd.DataFrame) -> pd.DataFrame:
    """Per task: what our numbers were measured on (split, queries, documents, subset, source, mteb)."""
    cols = [
        "task",
        "task_type",
        "metric",
        "split",
        "hf_subsets",
        "n_queries",
        "n_documents",
        "subset",
        "data_source",
        "mteb_version",
    ]
    d = df[cols].astype("object").where(df[cols].notna(), "")
    return d.drop_duplicates().sort_values(["task_type", "task"]).reset_index(drop=True)


def protocol_table(df: pd.DataFrame) -> ReportTable:
    d = data_protocol(df)
    frame = d.rename(
        columns={
            "task": "Task",
            "task_type": "Type",
            "metric": "Main metric",
            "split": "Split",
            "hf_subsets": "HF subsets",
            "n_queries": "Queries",
            "n_documents": "Documents",
            "subset": "Subset",
            "data_source": "Data",
            "mteb_version": "mteb",
        }
    )
    return make_table("data", "What our numbers were measured on", frame)
