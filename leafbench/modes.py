"""Evaluation modes and their routing: which model (student or teacher) encodes each side of a task.

The one definition evaluation, the mteb encoder wrapper, results and reports all use.

- ``student``: the student encodes everything.
- ``teacher``: the teacher encodes everything.
- ``asymmetric``: LEAF's deployment (arXiv 2509.12539 §3): the student encodes queries, the teacher encodes
  documents (retrieval corpora, reranking candidates); texts without a query/document role (STS,
  classification, clustering) are encoded by the student.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from .errors import UserError

__all__ = ["Mode", "ModeError", "ALL_MODES", "MODE_ORDER", "parse_modes", "encodings_needed"]

SIDES = ("query", "document", "text")


@dataclass(frozen=True)
class Route:
    """The model role ("student" | "teacher") for queries, documents and role-less texts."""

    query: str
    document: str
    text: str

    def role(self, side: str) -> str:
        if side not in SIDES:
            raise ValueError(f"unknown side {side!r}: choose from {', '.join(SIDES)}")
        return str(getattr(self, side))

    def for_prompt_type(self, prompt_type: object) -> tuple[str, str]:
        """(role, side) of one mteb encode call: its prompt_type says query, document or neither (a text)."""
        value = getattr(prompt_type, "value", prompt_type)
        side = value if value in ("query", "document") else "text"
        return self.role(side), side


class ModeError(UserError, ValueError):
    """An unknown --mode value."""


class Mode(str, Enum):
    STUDENT = "student"
    TEACHER = "teacher"
    ASYMMETRIC = "asymmetric"

    @property
    def route(self) -> Route:
        return _ROUTES[self]

    @property
    def roles(self) -> frozenset[str]:
        """Models this mode runs (for retrieval: query and document sides)."""
        r = self.route
        return frozenset((r.query, r.document))

    def __str__(self) -> str:
        return self.value


_ROUTES = {
    Mode.STUDENT: Route("student", "student", "student"),
    Mode.TEACHER: Route("teacher", "teacher", "teacher"),
    Mode.ASYMMETRIC: Route("student", "teacher", "student"),
}
ALL_MODES: tuple[str, ...] = tuple(m.value for m in Mode)
# How reports order modes: the reference first, then the cheap student, then the LEAF deployment.
MODE_ORDER: tuple[str, ...] = ("teacher", "student", "asymmetric")


def parse_modes(spec: str) -> list[Mode]:
    """`--mode` value → modes: "student", "student,asymmetric" or "all"."""
    if spec.strip() == "all":
        return list(Mode)
    names = [m.strip() for m in spec.split(",") if m.strip()]
    bad = [m for m in names if m not in ALL_MODES]
    if bad or not names:
        raise ModeError(f"unknown mode {', '.join(bad) or spec!r}: choose from {', '.join(ALL_MODES)}, all")
    return [Mode(m) for m in dict.fromkeys(names)]


def encodings_needed(modes: Iterable[str]) -> list[tuple[str, str]]:
    """The minimal (role, side) encodings a retrieval task needs for these modes, in a stable order: `all`
    encodes student and teacher queries and documents once each."""
    need: list[tuple[str, str]] = []
    for m in modes:
        for side in ("document", "query"):
            pair = (Mode(m).route.role(side), side)
            if pair not in need:
                need.append(pair)
    return need
