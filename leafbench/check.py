"""Regression check: compare a results folder to a committed baseline, per (run, mode, task, dim, dtype).

Why a separate baseline file rather than old result JSONs: a baseline is a deliberate, reviewed decision
(`leafbench baseline` writes it, a commit records it), small enough to diff, and it records the protocol
(split, query/document counts, subset) so a check never compares numbers measured on different data.

Exit codes: 0 = every baseline cell is within tolerance; 1 = a regression (a score dropped by more than the
tolerance, or a baseline cell has no current result); 2 = bad input (missing/invalid baseline or results, a
tolerance that is not a finite number >= 0, duplicate cells, or a cell measured on different data than its
baseline: another split, subset or query/document count, or another data fingerprint).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import UserError
from .record import SCORE_RANGE, portable_path, write_result
from .report.bootstrap import Interval, interval_from_per_query
from .report.frame import ReportError, load_results

BASELINE_FORMAT = "leafbench-baseline/1"
EXIT_OK, EXIT_REGRESSION, EXIT_BAD_INPUT = 0, 1, 2
KEY_FIELDS = ("run", "mode", "task", "dim", "dtype")
# Fields that define what a score was measured on; a difference makes the comparison meaningless. The data
# fingerprint (a content hash of what was scored) catches another corpus with the same counts.
PROTOCOL_FIELDS = ("split", "n_queries", "n_documents", "subset", "data_fingerprint")
FINGERPRINT = "data_fingerprint"

Key = tuple[str, str, str, str, str]


class CheckInputError(UserError, ValueError):
    """Bad input (exit 2); the message names the offending file."""


@dataclass
class CheckResult:
    """The delta table (one row per cell), the exit code and the lines to print above/below it."""

    table: pd.DataFrame
    exit_code: int
    summary: str
    messages: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return {0: "ok", 1: "regression"}.get(self.exit_code, "bad input")

    def to_dict(self) -> dict[str, Any]:
        """What a CI step parses (`leafbench check --format json`): status, exit code, summary, messages and every
        cell with its baseline, current score, delta, allowed drop and status; NaN as null."""
        cells = [{k: _clean(v) for k, v in r.items()} for r in self.table.to_dict("records")]
        return {
            "status": self.status,
            "exit_code": self.exit_code,
            "summary": self.summary,
            "messages": list(self.messages),
            "cells": cells,
        }

    def to_markdown(self, show_all: bool = False) -> str:
        """A job summary (`--format markdown`, e.g. into $GITHUB_STEP_SUMMARY): the verdict, the messages and the
        cells that changed status (every cell with `show_all`)."""
        icon = {"ok": "✅", "regression": "❌"}.get(self.status, "⚠️")
        lines = [f"### leafbench check: {icon} {self.status}", "", self.summary, ""]
        lines += [f"- {m}" for m in self.messages] + ([""] if self.messages else [])
        t = self.table
        shown = t if show_all or t.empty else t[t["status"] != "ok"]
        if len(shown):
            cols = [c for c in ("run", "mode", "task", "dim", "dtype") if c in shown]
            head = cols + ["baseline", "current", "delta", "allowed drop", "status"]
            lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(cols) + "---:|---:|---:|---:|---|"]
            for r in shown.to_dict("records"):
                nums = [format_score(r[c], sign=c == "delta") for c in ("baseline", "current", "delta", "allowed_drop")]
                lines.append("| " + " | ".join([*(str(r[c]) for c in cols), *nums, str(r["status"])]) + " |")
        if len(shown) < len(t):
            lines += ["", f"{len(t) - len(shown)} cells within tolerance not shown."]
        return "\n".join(lines) + "\n"


def format_score(v: Any, sign: bool = False, missing: str = "–") -> str:
    """A check table's number as printed (5 decimals; `missing` for none or NaN): the text and Markdown renderings."""
    v = _clean(v)
    if v is None:
        return missing
    return f"{v:+.5f}" if sign else f"{v:.5f}"


def _key(e: dict[str, Any]) -> Key:
    return tuple(str(e[f]) for f in KEY_FIELDS)  # type: ignore[return-value]


def _clean(v: Any) -> Any:
    """JSON-safe scalar (numpy/pandas values and NaN → plain Python / None)."""
    if v is None:
        return None
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def current_entries(results: Path, subtasks: bool = False) -> dict[Key, dict[str, Any]]:
    """Result files → entries keyed like a baseline; duplicate cells are bad input (two files, one key).

    Sub-task results of aggregate tasks (CQADupstack forums) count only with `subtasks`: by default an
    aggregate is one cell, as on mteb's leaderboard."""
    try:
        df = load_results(results, disambiguate=False)  # baselines key runs by folder name: a repeat is ambiguous
    except ReportError as e:
        raise CheckInputError(str(e)) from e
    if not subtasks:
        df = df[df["aggregate"].isna()]
    out: dict[Key, dict[str, Any]] = {}
    for r in df.to_dict("records"):
        e = {
            "run": r["run"],
            "mode": r["mode"],
            "task": r["task"],
            "dim": r["dim_label"],
            "dtype": r["dtype"],
            "score": _clean(r["score"]),
            "metric": r["metric"],
            **{f: _clean(r[f]) for f in PROTOCOL_FIELDS},
            "mteb_version": r["mteb_version"],
            "path": r["path"],
        }
        if isinstance(r["per_query"], dict) and r["per_query"]:
            e["per_query"] = {str(q): float(v) for q, v in r["per_query"].items()}
        k = _key(e)
        if k in out:
            raise CheckInputError(
                f"{e['path']}: same cell {'/'.join(k)} as {out[k]['path']}; one results folder per comparison"
            )
        out[k] = e
    return out


def write_baseline(results: Path, out: Path, per_query: bool = True, subtasks: bool = False) -> dict[str, Any]:
    """Write the baseline JSON for every result under `results` (atomically); returns what was written.

    Per-query scores are kept when the results have them (so `check` can put a paired-bootstrap interval on
    candidate − baseline); pass per_query=False to keep a large baseline small.
    """
    entries = current_entries(results, subtasks)
    rows = []
    for k in sorted(entries):
        e = {f: v for f, v in entries[k].items() if f != "path" and (per_query or f != "per_query")}
        rows.append(e)
    data = {
        "format": BASELINE_FORMAT,
        "metric": "main_score",
        "source": portable_path(str(results)),  # the folder as given, never an absolute machine path
        "note": "Written by `leafbench baseline`; refresh deliberately and commit with the reason.",
        "entries": rows,
    }
    write_result(Path(out), data)
    return data


def read_baseline(path: Path) -> dict[Key, dict[str, Any]]:
    """Parse and validate a baseline; every problem is a CheckInputError that names the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckInputError(f"{path}: baseline file not found (write one with `leafbench baseline`)")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise CheckInputError(f"{path}:{e.lineno}: invalid baseline JSON ({e.msg})") from e
    except (OSError, UnicodeDecodeError) as e:
        raise CheckInputError(f"{path}: cannot read baseline ({e})") from e
    if not isinstance(data, dict) or data.get("format") != BASELINE_FORMAT:
        got = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise CheckInputError(f"{path}: not a leafbench baseline (format {got!r}, expected {BASELINE_FORMAT!r})")
    entries = data.get("entries")
    if not isinstance(entries, list) or not entries:
        raise CheckInputError(f"{path}: baseline has no entries")
    out: dict[Key, dict[str, Any]] = {}
    for i, e in enumerate(entries):
        if not isinstance(e, dict):
            raise CheckInputError(f"{path}: entry {i} is not an object")
        miss = [f for f in (*KEY_FIELDS, "score") if f not in e]
        if miss:
            raise CheckInputError(f"{path}: entry {i} lacks {', '.join(miss)}")
        if not isinstance(e["score"], (int, float)) or isinstance(e["score"], bool) or not math.isfinite(e["score"]):
            raise CheckInputError(f"{path}: entry {i} ({'/'.join(_key(e))}) has a non-numeric score {e['score']!r}")
        lo, hi = SCORE_RANGE
        if not lo <= e["score"] <= hi:  # a baseline of -5 would pass every cell as "improved"
            raise CheckInputError(
                f"{path}: entry {i} ({'/'.join(_key(e))}) score {e['score']!r} is outside [{lo:g}, {hi:g}]"
            )
        k = _key(e)
        if k in out:
            raise CheckInputError(f"{path}: entry {i} repeats cell {'/'.join(k)}")
        out[k] = e
    return out


def check_tolerances(tolerance: float, rel_tolerance: float) -> None:
    """Both tolerances finite and >= 0: NaN would pass every regression (no comparison with NaN is true), inf
    any drop, and a negative one fail an unchanged score."""
    for name, v in (("--tolerance", tolerance), ("--rel-tolerance", rel_tolerance)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < math.inf:
            raise CheckInputError(f"{name} {v!r}: must be a finite number >= 0")


def _protocol_diff(b: dict[str, Any], c: dict[str, Any]) -> list[str]:
    """Protocol fields the baseline records and the current result does not match. A baseline without a data
    fingerprint (written before they were recorded, or from results without one) is compared on the rest."""
    return [
        f
        for f in PROTOCOL_FIELDS
        if f in b and not (f == FINGERPRINT and b[f] is None) and _clean(b.get(f)) != _clean(c.get(f))
    ]


def compare(
    current: dict[Key, dict[str, Any]],
    baseline: dict[Key, dict[str, Any]],
    tolerance: float = 0.005,
    rel_tolerance: float = 0.0,
    allow_missing: bool = False,
) -> CheckResult:
    """Delta table and exit code. A cell regresses when current < baseline − (tolerance + rel_tolerance·|baseline|).

    Only drops fail: a rise beyond the same margin is reported as "improved" (refresh the baseline to lock
    it in). Cells only in the current results are "new" and pass.
    """
    check_tolerances(tolerance, rel_tolerance)
    rows, messages = [], []
    unchecked = sorted({k[2] for k, b in baseline.items() if b.get(FINGERPRINT) is None and k in current})
    for k in sorted(set(baseline) | set(current)):
        b, c = baseline.get(k), current.get(k)
        row: dict[str, Any] = dict(zip(KEY_FIELDS, k))
        base = float(b["score"]) if b else math.nan
        cur = float(c["score"]) if c and c["score"] is not None else math.nan
        allowed = tolerance + rel_tolerance * abs(base) if b else math.nan
        iv: Interval | None = None
        if b is None:
            status = "new"
        elif c is None:
            status = "missing (allowed)" if allow_missing else "MISSING"
        else:
            diff = _protocol_diff(b, c)
            if diff:
                status = "DATA MISMATCH"
                messages.append(
                    f"{'/'.join(k)}: measured on different data than the baseline ("
                    + ", ".join(f"{f} {b.get(f)!r} → {c.get(f)!r}" for f in diff)
                    + ")"
                )
            elif math.isnan(cur) or cur < base - allowed:
                status = "REGRESSION"
            elif cur > base + allowed:
                status = "improved"
            else:
                status = "ok"
            iv = interval_from_per_query(c.get("per_query"), b.get("per_query"))
        row.update(
            baseline=base,
            current=cur,
            delta=cur - base,
            allowed_drop=allowed,
            status=status,
            ci95=iv.format(scale=1.0, digits=4) if iv else "n/a",
        )
        rows.append(row)
    table = pd.DataFrame(rows, columns=[*KEY_FIELDS, "baseline", "current", "delta", "allowed_drop", "ci95", "status"])
    counts = table["status"].value_counts().to_dict()
    n_reg, n_miss = counts.get("REGRESSION", 0), counts.get("MISSING", 0)
    n_bad = counts.get("DATA MISMATCH", 0)
    code = EXIT_BAD_INPUT if n_bad else EXIT_REGRESSION if (n_reg or n_miss) else EXIT_OK
    compared = int(table["status"].isin(["ok", "improved", "REGRESSION"]).sum())
    if compared == 0 and code == EXIT_OK:  # nothing of the baseline was measured: never a pass
        code = EXIT_BAD_INPUT
        messages.append("no baseline cell has a current result (other tasks, runs or cells than the baseline's?)")
    if unchecked:
        messages.append(
            "note: the baseline records no data fingerprint for "
            + ", ".join(unchecked)
            + ": scores compared without checking the data is the same (refresh it with `leafbench baseline`)"
        )
    verdict = {EXIT_OK: "OK", EXIT_REGRESSION: "REGRESSION", EXIT_BAD_INPUT: "BAD INPUT"}[code]
    summary = (
        f"check {verdict}: {compared} cells compared, {n_reg} regressions, {n_miss} missing, "
        f"{counts.get('improved', 0)} improved, {counts.get('new', 0)} new, {n_bad} data mismatches "
        f"(allowed drop: {tolerance:g} absolute + {rel_tolerance:g} x baseline)"
    )
    return CheckResult(table, code, summary, messages)


def check(
    results: Path,
    baseline: Path,
    tolerance: float = 0.005,
    rel_tolerance: float = 0.0,
    allow_missing: bool = False,
    subtasks: bool = False,
) -> CheckResult:
    """Read both sides and compare; bad input comes back as exit code 2 with the message, never as a raise."""
    try:
        check_tolerances(tolerance, rel_tolerance)  # before reading anything
        base = read_baseline(baseline)
        cur = current_entries(results, subtasks)
        return compare(cur, base, tolerance, rel_tolerance, allow_missing)
    except CheckInputError as e:
        return CheckResult(
            pd.DataFrame(columns=[*KEY_FIELDS, "status"]), EXIT_BAD_INPUT, f"check BAD INPUT: {e}", [str(e)]
        )
