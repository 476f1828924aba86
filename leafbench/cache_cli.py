"""`leafbench cache ls | verify | prune`: what the embedding store holds, whether it is intact, and cleanup."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .errors import UserError

cache_app = typer.Typer(
    help="Inspect, verify and prune the embedding store (<cache-dir>/embeddings).", no_args_is_help=True
)
console = Console(stderr=True, emoji=False)
out = Console(emoji=False, width=None if Console().is_terminal else 160)

CacheDir = Annotated[
    Optional[Path],
    typer.Option(
        "--cache-dir", envvar="LEAFBENCH_CACHE_DIR", help="Cache dir holding embeddings/. Default: user cache dir."
    ),
]


def _store(cache_dir: Path | None):
    """The store of `cache_dir` (a damaged one is a StoreError, printed by leafbench's one error handler)."""
    from .workspace import Workspace

    return Workspace.cache_only(cache_dir).store()


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


@cache_app.command("ls")
def ls(
    cache_dir: CacheDir = None,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object per space.")] = False,
) -> None:
    """One row per encoding space (model, side, prompt, max length, precision, backend): rows, shards, size."""
    import json

    store = _store(cache_dir)
    spaces = list(store.spaces())
    if json_out:
        for s in spaces:
            out.print(json.dumps(s), highlight=False, soft_wrap=True)
        return
    t = Table(title=f"embedding store {store.root}")
    for col in (
        "space",
        "model",
        "side",
        "prompt",
        "max len",
        "precision",
        "backend",
        "dim",
        "rows",
        "shards",
        "size",
        "quarantined",
    ):
        t.add_column(col, justify="right" if col in ("dim", "rows", "shards", "size", "quarantined") else "left")
    for s in spaces:
        k = s["key"]
        t.add_row(
            s["space"][:12],
            escape(str(k.get("model_id", "?"))),  # space.json is listed as written: any JSON value prints
            escape(str(k.get("side", "?"))),
            escape(repr(k.get("prompt", ""))),
            escape(str(k.get("max_seq_length") or "-")),
            escape(str(k.get("precision", "?"))),
            escape(str(k.get("backend", "torch"))),
            escape(str(s["dim"] or "-")),
            f"{s['rows']:,}",
            str(s["shards"]),
            _size(s["bytes"]),
            str(s["quarantined"] or ""),
        )
    out.print(t)
    old = store.old_entries()
    total = sum(s["bytes"] for s in spaces)
    out.print(f"{len(spaces)} spaces, {sum(s['rows'] for s in spaces):,} rows, {_size(total)}", highlight=False)
    if old:
        out.print(
            f"{len(old)} entries in the previous store format: imported the first time their text list is "
            "evaluated again (`leafbench cache prune --old-format` deletes them)",
            highlight=False,
        )


@cache_app.command("verify")
def verify(cache_dir: CacheDir = None) -> None:
    """Check every shard (row count, dim, crc32 of data and keys, no file missing); bad shards are moved aside and
    named. Exit 1 if any; exit 2 if there is no store at --cache-dir."""
    store = _store(cache_dir)
    ok, bad = store.verify()
    for msg in bad:
        console.print(f"[red]bad[/]: {escape(msg)}", highlight=False, soft_wrap=True)
    out.print(f"{ok} shards OK, {len(bad)} bad (their texts are encoded again on next use)", highlight=False)
    if bad:
        raise typer.Exit(1)


@cache_app.command("prune")
def prune(
    cache_dir: CacheDir = None,
    space: Annotated[
        Optional[list[str]],
        typer.Option("--space", help="Delete this space (full id or the prefix `ls` shows); repeatable."),
    ] = None,
    older_than: Annotated[
        Optional[float], typer.Option("--older-than", min=0, help="Delete spaces not written for this many days.")
    ] = None,
    old_format: Annotated[
        bool, typer.Option("--old-format", help="Delete entries of the previous store format.")
    ] = False,
) -> None:
    """Delete quarantined shards, leftovers of killed writers (older than an hour) and, when asked, whole spaces."""
    store = _store(cache_dir)
    ids = [s["space"] for s in store.spaces()]
    chosen = []
    for prefix in space or []:
        hits = [i for i in ids if i.startswith(prefix)]
        if len(hits) != 1:
            raise UserError(f"--space {prefix}: matches {len(hits)} spaces (see `leafbench cache ls`)")
        chosen += hits
    removed = store.prune(older_than_days=older_than, spaces=chosen, old_format=old_format)
    out.print(
        f"removed {removed['spaces']} spaces, {removed['files']} files, {removed['old_entries']} old-format entries "
        f"({_size(removed['bytes'])})",
        highlight=False,
    )
