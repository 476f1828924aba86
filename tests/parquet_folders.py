"""A BEIR folder's JSONL corpus and queries rewritten as Parquet, as dataset repos on the hub keep them."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def _table(path: Path, id_col: str) -> pa.Table:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    cols = {id_col: [str(r["_id"]) for r in rows], "text": [r.get("text") for r in rows]}
    if any("title" in r for r in rows):
        cols["title"] = [r.get("title") for r in rows]
    return pa.table(cols)


def to_parquet(folder: Path, parts: int = 0, id_col: str = "_id") -> Path:
    """Replace `folder`'s corpus.jsonl and queries.jsonl by Parquet: corpus.parquet (`parts` = 0) or a corpus/
    folder of `parts` files, queries.parquet. Returns the folder."""
    corpus = _table(folder / "corpus.jsonl", id_col)
    if parts:
        (folder / "corpus").mkdir()
        step = -(-corpus.num_rows // parts)
        for i in range(parts):
            pq.write_table(corpus.slice(i * step, step), folder / "corpus" / f"part-{i:05d}.parquet", row_group_size=97)
    else:
        pq.write_table(corpus, folder / "corpus.parquet", row_group_size=97)
    pq.write_table(_table(folder / "queries.jsonl", id_col), folder / "queries.parquet")
    (folder / "corpus.jsonl").unlink()
    (folder / "queries.jsonl").unlink()
    return folder
