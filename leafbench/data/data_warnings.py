"""Data warnings: what is odd but usable in a task's data (empty texts, qrels naming unknown ids, conflicting
duplicate qrels), recorded per task, printed once, and made errors by ``strict`` (the CLI's ``--strict``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import DataError

__all__ = ["WARNING_KINDS", "describe_warnings", "strict_check", "warning", "where"]

#: Data warnings a loader records (key -> what it counts, and what was done about it). They are data: counted
#: per task, printed once, written into every result's leafbench block (``data_warnings``); ``strict`` (the
#: CLI's ``--strict``) turns them into a DataError.
WARNING_KINDS: dict[str, tuple[str, str]] = {
    "empty_queries": ("queries with an empty text", "encoded and scored as they are, as mteb does"),
    "empty_documents": ("documents with an empty text", "encoded and scored as they are, as mteb does"),
    "qrels_unknown_documents": (
        "qrels rows naming unknown document ids",
        "kept as misses no model can retrieve, as mteb does",
    ),
    "qrels_unknown_queries": ("qrels rows naming unknown query ids", "dropped"),
    "qrels_conflicting_duplicates": (
        "conflicting duplicate qrels rows",
        "the last row's score kept, as mteb and BEIR do",
    ),
}


def warning(kind: str, count: int, example: str, where: str) -> dict[str, Any]:
    """One data warning of `kind` (a key of :data:`WARNING_KINDS`)."""
    what, action = WARNING_KINDS[kind]
    return {"count": count, "what": what, "example": example, "where": where, "action": action}


def describe_warnings(warns: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """One line per data warning: ``3 qrels rows naming unknown document ids (e.g. 'd9' at ...:4): kept ...``."""
    return [f"{w['count']} {w['what']} (e.g. {w['example']} at {w['where']}): {w['action']}" for w in warns.values()]


def where(origin: str, lineno: int | None) -> str:
    """``file:line`` for file-backed rows, the origin alone for rows from an in-memory dataset."""
    return f"{origin}:{lineno}" if lineno is not None else origin


def strict_check(warns: Mapping[str, Mapping[str, Any]], strict: bool) -> None:
    """With `strict`, the first data warning is a DataError (the CLI's --strict)."""
    if strict and warns:
        first = next(iter(warns.values()))
        raise DataError(
            f"{first['where']}: {first['count']} {first['what']} (e.g. {first['example']}); "
            "strict mode (--strict) makes data warnings errors"
        )
