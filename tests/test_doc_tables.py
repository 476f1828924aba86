"""The documentation's result tables are what `scripts/doc_tables.py` renders from the committed results/."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("doc_tables", ROOT / "scripts" / "doc_tables.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_doc_tables_are_regenerated_from_results() -> None:
    mod = _script()
    new = mod.tables(ROOT / "results")
    assert set(new) == {"scifact-grid", "mteb-eng-v2", "sts-classification-cells", "scale"}
    for page, (text, updated) in mod.pages(new).items():
        assert updated == text, f"{page}: tables differ from results/: python scripts/doc_tables.py --write"
    # The benchmark row reads the benchmark's split and subset (test / en), not the first the file holds.
    assert "| AmazonCounterfactualClassification | Classification | 63.64 | 65.03 |" in new["mteb-eng-v2"]
