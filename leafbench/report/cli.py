"""`leafbench report | check | baseline`: plain functions with typer annotations, registered by leafbench.cli.

Kept apart from leafbench/cli.py so the report stack (pandas, matplotlib) loads only for these commands.
Exit codes follow leafbench's: 0 ok, 1 regression (check), 2 bad input. Bad input is raised as a UserError
(ReportError, CheckInputError, OutputPathError, ...) and printed by leafbench.cli.handle_error, the one handler.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

console = Console(stderr=True, emoji=False)
stdout = Console(emoji=False)
if not stdout.is_terminal:  # CI logs: rich would wrap at 80 columns and truncate the delta table
    stdout = Console(width=160, emoji=False)

SHOW_ALL_UP_TO = 60  # rows; larger checks print only the cells that are not "ok"

# The spelling before --output (as `leafbench run` and mteb spell it): accepted, with a warning, for one release.
OldOut = Annotated[Optional[Path], typer.Option("--out", hidden=True, help="Old spelling of --output.")]


def _output(output: Path, old: Path | None) -> Path:
    if old is None:
        return output
    console.print("[yellow]warning:[/] --out is now --output (-o); --out still works in this release", highlight=False)
    return old


def report(
    results: Annotated[
        Optional[list[Path]],
        typer.Argument(
            help="Results folders (<run>/<mode>/<Task>[__<dim>d-<dtype>].json), one report over all. Default: results."
        ),
    ] = None,
    out: Annotated[Path, typer.Option("--output", "-o", help="Report folder: index.md, index.html, figures/.")] = Path(
        "reports"
    ),
    old_out: OldOut = None,
    title: Annotated[str, typer.Option(help="Page and Markdown title.")] = "leafbench report",
    figures: Annotated[bool, typer.Option("--figures/--no-figures", help="Render the matplotlib figures.")] = True,
    screenshot: Annotated[
        bool,
        typer.Option("--screenshot", help="Also save <out>/screenshot.png with headless Chromium (for the README)."),
    ] = False,
    subtasks: Annotated[
        bool, typer.Option("--subtasks", help="Add a table of aggregate tasks' sub-task scores (CQADupstack forums).")
    ] = False,
) -> None:
    """Leaderboard-style Markdown + self-contained HTML report (tables, figures) from result JSONs."""
    from ..files import check_writable_dir
    from . import write_report

    out = _output(out, old_out)
    check_writable_dir(out, "--output")  # before reading every result
    written = write_report(results or [Path("results")], out, title=title, figures=figures, subtasks=subtasks)
    stdout.print(
        f"wrote {written['markdown']} and {written['html']} ({written['n_results']} results, "
        f"{len(written['tables'])} tables, {len(written['figures']) // 2} figures)",
        highlight=False,
    )
    if screenshot:
        from .frame import ReportError
        from .html import render_in_chromium

        try:
            r = render_in_chromium(written["html"], screenshot=out / "screenshot.png")
        except (FileNotFoundError, RuntimeError) as e:  # no Chromium, or it failed: the user's machine
            raise ReportError(f"screenshot: {e}") from e
        if r.console:
            console.print("[yellow]page console:[/] " + " | ".join(r.console), highlight=False)
        stdout.print(f"wrote {r.screenshot}", highlight=False)


def check(
    results: Annotated[Path, typer.Argument(help="Results folder to check.")] = Path("results"),
    baseline: Annotated[
        Path, typer.Option("--baseline", "-b", help="Baseline JSON (from `leafbench baseline`).")
    ] = Path("results/baselines/ci.json"),
    tolerance: Annotated[
        float, typer.Option(help="Allowed absolute drop of a main score (0..1 scale: 0.005 = 0.5 nDCG@10 points).")
    ] = 0.005,
    rel_tolerance: Annotated[
        float, typer.Option(help="Allowed drop relative to the baseline score, added to --tolerance.")
    ] = 0.0,
    allow_missing: Annotated[
        bool, typer.Option("--allow-missing", help="Baseline cells without a current result do not fail the check.")
    ] = False,
    show_all: Annotated[
        bool, typer.Option("--all", help="Print every cell, not only the ones that changed status.")
    ] = False,
    subtasks: Annotated[
        bool, typer.Option("--subtasks", help="Also compare aggregate tasks' sub-tasks (default: the aggregate only).")
    ] = False,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="text (a table for people), json (for a CI step to parse) or markdown (a CI job summary, e.g. "
            "appended to $GITHUB_STEP_SUMMARY). The exit code is the same in every format.",
        ),
    ] = "text",
) -> None:
    """Compare results to a baseline: table of deltas; exit 0 ok, 1 regression, 2 bad input."""
    import json

    from ..check import CheckInputError, format_score
    from ..check import check as run_check

    if fmt not in ("text", "json", "markdown"):
        raise CheckInputError(f"--format: unknown {fmt!r}; choose from text, json, markdown")
    res = run_check(results, baseline, tolerance, rel_tolerance, allow_missing, subtasks=subtasks)
    if res.exit_code == 2 and res.table.empty and fmt == "text":  # bad input, before any comparison
        raise CheckInputError(res.messages[0] if res.messages else res.summary)
    if fmt != "text":
        out = json.dumps(res.to_dict(), indent=1) if fmt == "json" else res.to_markdown(show_all)
        typer.echo(out)
        raise typer.Exit(res.exit_code)
    t = res.table
    shown = t if show_all or len(t) <= SHOW_ALL_UP_TO else t[t["status"] != "ok"]
    const = [c for c in ("run", "task") if t[c].nunique() == 1]
    keys = [c for c in ("run", "mode", "task", "dim", "dtype") if c not in const]
    with_ci = bool((t["ci95"] != "n/a").any()) if "ci95" in t else False
    where = ", ".join(f"{c} {t[c].iloc[0]}" for c in const)
    table = Table(title=f"leafbench check: {results} vs {baseline}" + (f" ({where})" if where else ""))
    for c in keys:
        table.add_column(c)
    for c in ("baseline", "current", "delta", "allowed drop") + (("95% CI (paired)",) if with_ci else ()):
        table.add_column(c, justify="right")
    table.add_column("status")
    style = {
        "REGRESSION": "bold red",
        "MISSING": "bold red",
        "DATA MISMATCH": "bold red",
        "improved": "green",
        "new": "cyan",
    }
    for r in shown.to_dict("records"):
        st = r["status"]
        table.add_row(
            *[str(r[c]) for c in keys],
            *(
                format_score(r[c], sign=c == "delta", missing="-")
                for c in ("baseline", "current", "delta", "allowed_drop")
            ),
            *([r["ci95"]] if with_ci else []),
            f"[{style[st]}]{st}[/]" if st in style else st,
        )
    if len(shown):
        stdout.print(table)
    if len(shown) < len(t):
        stdout.print(f"({len(t) - len(shown)} cells within tolerance not shown; --all prints them)", highlight=False)
    for m in res.messages:
        console.print(f"[red]{m}[/]", highlight=False, soft_wrap=True)
    stdout.print(res.summary, highlight=False, soft_wrap=True)
    raise typer.Exit(res.exit_code)


def baseline(
    results: Annotated[Path, typer.Argument(help="Results folder to freeze.")] = Path("results"),
    out: Annotated[Path, typer.Option("--output", "-o", help="Baseline JSON to write (overwritten).")] = Path(
        "results/baselines/ci.json"
    ),
    old_out: OldOut = None,
    per_query: Annotated[
        bool, typer.Option("--per-query/--no-per-query", help="Keep per-query scores (bootstrap intervals in `check`).")
    ] = True,
    subtasks: Annotated[
        bool,
        typer.Option("--subtasks", help="Also freeze aggregate tasks' sub-task cells (default: the aggregate only)."),
    ] = False,
) -> None:
    """Write (or deliberately refresh) the baseline that `leafbench check` compares against."""
    from ..check import write_baseline
    from ..files import check_writable_file

    out = _output(out, old_out)
    check_writable_file(out, "--output")
    data = write_baseline(results, out, per_query=per_query, subtasks=subtasks)
    runs = sorted({e["run"] for e in data["entries"]})
    stdout.print(f"wrote {out}: {len(data['entries'])} cells from {results} (runs: {', '.join(runs)})", highlight=False)


def _renames(pairs: list[str]) -> dict[str, str]:
    """--name EXPORTED=PUBLISHED values as a mapping; a malformed one is a one-line error."""
    from .frame import ReportError

    out: dict[str, str] = {}
    for p in pairs:
        old, sep, new = p.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise ReportError(
                f"--name {p!r}: expected EXPORTED=PUBLISHED, e.g. leaf-ir_asym_mpnet-base=org/leaf-ir-router"
            )
        out[old.strip()] = new.strip()
    return out


def export_mteb(
    results: Annotated[
        Optional[list[Path]], typer.Argument(help="Results folders to export (one export over all). Default: results.")
    ] = None,
    out: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="The folder mteb.ResultCache reads (any folder, or an existing mteb cache): results go to "
            "<output>/results/<model>/<revision>/<Task>.json.",
        ),
    ] = Path("mteb-cache"),
    old_out: OldOut = None,
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="Replace result files already in --output (default: refuse, write nothing)."),
    ] = False,
    name: Annotated[
        Optional[list[str]],
        typer.Option(
            "--name",
            help="EXPORTED=PUBLISHED (repeatable): publish a system under another name, e.g. an asymmetric pair "
            "'leaf-ir_asym_mpnet-base=org/leaf-ir-router', the hub id its Router was pushed to.",
        ),
    ] = None,
) -> None:
    """Write full-protocol results in mteb's results-folder layout (read them with mteb.ResultCache)."""
    from ..files import check_writable_dir
    from .mteb_export import export_mteb as run_export

    out = _output(out, old_out)
    check_writable_dir(out, "--output")
    if out.name == "results" and not (out / "results").exists():
        console.print(
            f"[yellow]note:[/] results go to {out / 'results'}: --output is the folder mteb.ResultCache reads",
            highlight=False,
        )
    s = run_export(results or [Path("results")], out, overwrite=overwrite, names=_renames(name or []))
    skipped = ", ".join(f"{n} {why}" for why, n in s.skipped.items())
    stdout.print(
        f"wrote {len(s.written)} results for {len(s.models)} models under {out / 'results'}"
        + (f" (not exported: {skipped})" if skipped else ""),
        highlight=False,
    )
    stdout.print(f"read with: mteb.ResultCache({str(out)!r}).load_results(include_remote=False)", highlight=False)
