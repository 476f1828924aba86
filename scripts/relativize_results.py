"""Remove absolute machine paths from committed JSON (results, manifests, baselines, benchmark records).

Rewrites each path the way leafbench now writes it (leafbench.record.relativize): relative to --data-dir when
under it, else its last folders; a local mteb task whose data source was recorded as the data folder itself
gets its own folder (mteb/sts/STSBenchmark). Only strings change: the script checks that every number (every
score) and every key is identical before writing a file, and leaves files without paths untouched, so it can
be rerun at any time.

    python scripts/relativize_results.py results benchmarks/results --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from leafbench.record import data_roots, is_absolute_path, relativize


def _numbers(obj: Any, where: str = "") -> list[tuple[str, Any]]:
    """Every non-string leaf and every key path, to prove a rewrite changed only strings."""
    if isinstance(obj, dict):
        return [x for k, v in obj.items() for x in _numbers(v, f"{where}.{k}")]
    if isinstance(obj, list):
        return [x for i, v in enumerate(obj) for x in _numbers(v, f"{where}[{i}]")]
    return [] if isinstance(obj, str) else [(where, obj)]


def _fix_local_task_source(data: Any, data_dir: str) -> None:
    """Results of local mteb tasks recorded the data folder itself as their source: name the task's folder."""
    from leafbench.api import local_task_source
    from leafbench.mteb_local import LOCAL_TASKS

    lb = data.get("leafbench") if isinstance(data, dict) else None
    if not isinstance(lb, dict) or not isinstance(lb.get("data_source"), str):
        return
    src = lb["data_source"]
    if (
        os.path.isabs(src)
        and os.path.realpath(src) == os.path.realpath(data_dir)
        and data.get("task_name") in LOCAL_TASKS
    ):
        lb["data_source"] = local_task_source(data["task_name"], data_dir)


def migrate(path: Path, data_dir: str | None) -> bool:
    """Rewrite one file in place if it holds a machine path; True when it changed."""
    text = path.read_text(encoding="utf-8")
    data = json.loads(text)
    if not any(is_absolute_path(s) for s in _strings(data)):
        return False
    before = _numbers(data)
    if data_dir:
        _fix_local_task_source(data, data_dir)
    new = relativize(data, data_roots(data_dir))
    if _numbers(new) != before:
        raise SystemExit(f"{path}: a rewrite would change a number or key; nothing written")
    lines = text.split("\n")
    indent = len(lines[1]) - len(lines[1].lstrip(" ")) if len(lines) > 1 else 0
    ascii_only = text.isascii()
    out = json.dumps(new, indent=indent or None, ensure_ascii=ascii_only) + ("\n" if text.endswith("\n") else "")
    path.write_text(out, encoding="utf-8")
    return True


def _strings(obj: Any) -> list[str]:
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _strings(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v)]
    return [obj] if isinstance(obj, str) else []


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("roots", nargs="+", type=Path, help="Folders (or files) of JSON to rewrite in place.")
    ap.add_argument(
        "--data-dir", help="The --data-dir the results were measured with (paths under it become relative)."
    )
    args = ap.parse_args(argv)
    changed = 0
    for root in args.roots:
        files = [root] if root.is_file() else sorted(root.rglob("*.json"))
        for p in files:
            if migrate(p, args.data_dir):
                changed += 1
                print(f"relativized {p}")
    print(f"{changed} file(s) rewritten", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
