"""Evaluation modes and their routing: which model (student or teacher) encodes each side of a task.

The one definition evaluation, the mteb encoder wrapper, results and reports all use.

- ``student``: the student encodes everything.
- ``teacher``: the teacher encodes everything.
- ``asymmetric``: LEAF's deployment (arXiv 2509.12539 §3): the student encodes queries, the teacher encodes
  documents (retrieval corpora, reranking candidates); texts without a query/document role (STS,
  classification, clustering) are encoded by the student.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["Mode", "ALL_MODES", "MODE_ORDER", "parse_modes", "roles_needed"]

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
        return getattr(self, side)


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


def parse_modes(spec: str) -> list[str]:
    """`--mode` value → mode names: "student", "student,asymmetric" or "all"."""
    if spec.strip() == "all":
        return list(ALL_MODES)
    modes = [m.strip() for m in spec.split(",") if m.strip()]
    bad = [m for m in modes if m not in ALL_MODES]
    if bad or not modes:
        raise ValueError(f"unknown mode {', '.join(bad) or spec!r}: choose from {', '.join(ALL_MODES)}, all")
    return modes


def roles_needed(modes: list[str] | tuple[str, ...]) -> set[str]:
    """Model roles a set of modes needs (a teacher only when some mode uses one)."""
    return {r for m in modes for r in Mode(m).roles}
