"""The README is user documentation that works: its Python example runs as written, its links resolve, and it
stays short (details live in docs/, experiment diaries in experiments/)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _block_after(marker: str) -> str:
    m = re.search(rf"<!-- {re.escape(marker)} -->\n```\w*\n(.*?)\n```", README, re.DOTALL)
    assert m, f"README.md has no code block after <!-- {marker} -->"
    return m.group(1)


def test_readme_is_short_user_documentation() -> None:
    assert len(README.splitlines()) <= 210
    assert _block_after("ci:test-command").startswith("bash scripts/setup.sh")


def test_readme_links_resolve() -> None:
    for target in re.findall(r"\]\(([^)#]+)\)", README):
        if target.startswith("http"):
            continue
        assert (ROOT / target).exists(), f"README links to {target}, which does not exist"


def test_docs_links_resolve() -> None:
    for page in [*(ROOT / "docs").glob("*.md"), *(ROOT / "experiments").glob("*/README.md")]:
        for target in re.findall(r"\]\(([^)#]+)\)", page.read_text(encoding="utf-8")):
            if not target.startswith("http"):
                assert (page.parent / target).exists(), (
                    f"{page.relative_to(ROOT)} links to {target}, which does not exist"
                )


@pytest.mark.integration
def test_readme_python_example_runs(tmp_path: Path, shared_data: Path) -> None:
    """The example exactly as written, from a folder with ../shared/data beside it (as in a clone)."""
    work = tmp_path / "clone"
    work.mkdir()
    (tmp_path / "shared").symlink_to(shared_data.parent)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "LEAFBENCH_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run(
        [sys.executable, "-c", _block_after("readme:python-example")],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == "minilm-l6__20q-100d ['SciFact'] 4 cells scored"  # a subset run; full/128 x float32/binary
    scores = [ln.split() for ln in lines[1:]]
    assert len(scores) == 4 and all(s[0] == "SciFact" and s[1] == "student" for s in scores)
    assert all(0.0 < float(s[-1]) <= 1.0 for s in scores)


def test_readme_layout_names_every_harness_module() -> None:
    """The README's layout picture is the package as it is: every module and subpackage of leafbench/ is named
    in it, and it names none that does not exist."""
    block = _block_after("readme:layout")
    named = {
        w for line in block.splitlines()[1:] if line.startswith("  ") for w in line.split() if w.endswith((".py", "/"))
    }
    package = ROOT / "leafbench"
    actual = {p.name for p in package.glob("*.py") if p.name != "__init__.py"}
    actual |= {f"{p.name}/" for p in package.iterdir() if (p / "__init__.py").exists()}
    assert named == actual, f"missing: {sorted(actual - named)}; not in leafbench/: {sorted(named - actual)}"
