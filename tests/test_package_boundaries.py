"""Package boundaries the import contracts cannot state: the distillation package uses only the harness's public
names, and reaches the CLI only through the `leafbench.commands` entry point."""

from __future__ import annotations

import ast
from importlib.metadata import entry_points
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _harness_imports(path: Path) -> list[tuple[int, str, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "leafbench":
            out += [(node.lineno, node.module, a.name) for a in node.names]
    return out


def test_distill_imports_only_public_harness_names() -> None:
    private = [
        f"{p.relative_to(ROOT)}:{line}: {mod}.{name}"
        for p in sorted((ROOT / "leafbench_distill").rglob("*.py"))
        for line, mod, name in _harness_imports(p)
        if name.startswith("_") or any(part.startswith("_") for part in mod.split("."))
    ]
    assert not private, "leafbench_distill imports private harness names:\n" + "\n".join(private)


def test_harness_never_imports_distill() -> None:
    hits = [
        f"{p.relative_to(ROOT)}:{node.lineno}"
        for p in sorted((ROOT / "leafbench").rglob("*.py"))
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
        if isinstance(node, (ast.Import, ast.ImportFrom))
        and any(
            (n.name if isinstance(node, ast.Import) else (node.module or "")).startswith("leafbench_distill")
            for n in node.names
        )
    ]
    assert not hits, hits


def test_distill_is_a_registered_plugin_command() -> None:
    from typer.main import get_command

    from leafbench.cli import PLUGIN_GROUP, app

    eps = {ep.name: ep.value for ep in entry_points(group=PLUGIN_GROUP)}
    assert eps.get("distill") == "leafbench_distill.cli:register"
    assert {"distill", "soup", "push"} <= set(get_command(app).commands)
