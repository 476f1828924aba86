"""The shape the product code keeps (ruff enforces McCabe complexity <= 15; this, what ruff cannot): no function in
leafbench/ or leafbench_distill/ longer than 100 lines, and no in-memory test oracle in them (those live in
tests/oracles.py)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("leafbench", "leafbench_distill")
MAX_LINES = 100


def _functions() -> list[tuple[str, str, int]]:
    out = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    where = f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"
                    out.append((where, node.name, node.end_lineno - node.lineno + 1))  # type: ignore[operator]
    return out


def test_no_product_function_is_longer_than_100_lines() -> None:
    long = [f"{where} ({n} lines)" for where, _, n in _functions() if n > MAX_LINES]
    assert not long, "split these along their steps:\n" + "\n".join(long)


def test_the_in_memory_oracles_live_in_tests() -> None:
    oracles = {"prepare_cell", "hamming_topk", "rescore_binary", "retrieval_scores"}
    found = [where for where, name, _ in _functions() if name in oracles]
    assert not found, "test oracles belong in tests/oracles.py:\n" + "\n".join(found)
