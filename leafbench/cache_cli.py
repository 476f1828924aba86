"""`leafbench cache ls | verify | prune | compact`: what the embedding store holds, whether it is intact, and
cleanup, on either store format (detected from the store's marker, or --store-format)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .errors import UserError

cache_app = typer.Typer(
    help="Inspect, verify, prune and compact the embedding store (<cache-dir>/embeddings).", no_args_is_help=True
)
console = Console(stderr=True, emoji=False)
out = Console(emoji=False, width=None if Console().is_terminal else 160)

CacheDir = Annotated[
    Optional[str],
    typer.Option(
        "--cache-dir",
        envvar="LEAFBENCH_CACHE_DIR",
        help="Cache dir (or s3:// / gs:// / az:// URI) holding embeddings/. Default: user cache dir.",
    ),
]

StoreFormat = Annotated[
    Optional[str],
    typer.Option(
        "--store-format",
        help="lance | shards. Default: detected from the store (a shard store: shards; a FORMAT-lance marker, a URI "
        "or a new store: lance).",
    ),
]


def _store(cache_dir: str | None, store_format: str | None = None):
    """The store of `cache_dir` in `store_format` (None: the one its marker names), and how the format was chosen
    (a damaged store is a StoreError, printed by leafbench's one error handler)."""
    from .store import STORE_BACKENDS
    from .workspace import Workspace

    if store_format is not None and store_format not in STORE_BACKENDS:
        raise UserError(f"--store-format: unknown {store_format!r}; choose from {', '.join(STORE_BACKENDS)}")
    store = Workspace.cache_only(cache_dir).store(store_format=store_format)
    how = "--store-format" if store_format else "detected"
    return store, f"{store.store_format}, {how}"


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
    store_format: StoreFormat = None,
) -> None:
    """One row per encoding space (model, side, prompt, max length, precision, backend): rows, shards, size."""
    import json

    store, fmt = _store(cache_dir, store_format)
    spaces = list(store.spaces())
    if json_out:
        for s in spaces:
            out.print(json.dumps({**s, "format": store.store_format}), highlight=False, soft_wrap=True)
        return
    t = Table(title=f"embedding store {store.root} ({fmt})")
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
    if old and store.store_format == "lance":
        out.print(
            f"{len(old)} spaces still hold the format-2 shards they were imported from (kept for older leafbench; "
            "`leafbench cache prune --old-format` deletes them)",
            highlight=False,
        )
    elif old:
        out.print(
            f"{len(old)} entries in the previous store format: imported the first time their text list is "
            "evaluated again (`leafbench cache prune --old-format` deletes them)",
            highlight=False,
        )


@cache_app.command("verify")
def verify(cache_dir: CacheDir = None, store_format: StoreFormat = None) -> None:
    """Check every shard (row count, dim, crc32 of data and keys, no file missing); bad shards are moved aside and
    named. A Lance store: every row of every space (schema, key, finite vector); bad rows are deleted and named.
    Exit 1 if any; exit 2 if there is no store at --cache-dir."""
    store, fmt = _store(cache_dir, store_format)
    console.print(f"embedding store {escape(str(store.root))} ({fmt})", highlight=False, soft_wrap=True)
    ok, bad = store.verify()
    for msg in bad:
        console.print(f"[red]bad[/]: {escape(msg)}", highlight=False, soft_wrap=True)
    what = "spaces checked" if store.store_format == "lance" else "shards OK"
    out.print(f"{ok} {what}, {len(bad)} bad (their texts are encoded again on next use)", highlight=False)
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
        bool,
        typer.Option(
            "--old-format",
            help="Delete entries of the previous store format (a Lance store: the format-2 shards it imported).",
        ),
    ] = False,
    store_format: StoreFormat = None,
) -> None:
    """Delete quarantined shards, leftovers of killed writers (older than an hour) and, when asked, whole spaces.
    A Lance store: the files only versions older than an hour use, and, when asked, whole spaces."""
    store, fmt = _store(cache_dir, store_format)
    console.print(f"embedding store {escape(str(store.root))} ({fmt})", highlight=False, soft_wrap=True)
    chosen = _chosen_spaces(store, space)
    removed = store.prune(older_than_days=older_than, spaces=chosen, old_format=old_format)
    if store.store_format == "lance":
        out.print(
            f"removed {removed['spaces']} spaces, {removed['versions']} old versions, {removed['old_entries']} "
            f"imported format-2 shard folders ({_size(removed['bytes'])})",
            highlight=False,
        )
        return
    out.print(
        f"removed {removed['spaces']} spaces, {removed['files']} files, {removed['old_entries']} old-format entries "
        f"({_size(removed['bytes'])})",
        highlight=False,
    )


def _chosen_spaces(store, prefixes: list[str] | None) -> list[str]:
    """The full ids of the spaces named by `--space` prefixes; each must match exactly one."""
    ids = [s["space"] for s in store.spaces()]
    chosen = []
    for prefix in prefixes or []:
        hits = [i for i in ids if i.startswith(prefix)]
        if len(hits) != 1:
            raise UserError(f"--space {prefix}: matches {len(hits)} spaces (see `leafbench cache ls`)")
        chosen += hits
    return chosen


@cache_app.command("compact")
def compact(
    cache_dir: CacheDir = None,
    space: Annotated[
        Optional[list[str]],
        typer.Option(
            "--space", help="Compact this space (full id or the prefix `ls` shows); repeatable. Default: all."
        ),
    ] = None,
    store_format: StoreFormat = None,
) -> None:
    """Rewrite each Lance space's many small appends into few large files (readers keep working; `prune` later
    deletes the files only older versions use). A format-2 store has nothing to compact."""
    store, fmt = _store(cache_dir, store_format)
    if store.store_format != "lance":
        out.print(f"embedding store {store.root} ({fmt}): format-2 shards, nothing to compact", highlight=False)
        return
    chosen = _chosen_spaces(store, space)
    done = store.compact(chosen)
    for name, m in done.items():
        out.print(
            f"{name[:12]}: {m['fragments_removed']} fragments rewritten into {m['fragments_added']}", highlight=False
        )
    out.print(f"compacted {len(done)} spaces of {store.root} ({fmt})", highlight=False)
