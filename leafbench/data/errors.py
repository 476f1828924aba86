"""The data errors: every problem with a task's input data is one of these, with a one-line message."""

from __future__ import annotations

from ..errors import UserError

__all__ = ["DataError", "IncompleteAggregateError", "NoDataError"]


class DataError(UserError):
    """A user-facing, one-line problem with benchmark data (file[:line]: what is wrong)."""


class NoDataError(DataError):
    """The task's data is not here: no local copy (offline), or the hub could not be reached. Inside a benchmark
    run such a task is reported as missing; every other DataError (a damaged file) stops the run."""


class IncompleteAggregateError(DataError):
    """An aggregate task's local copy lacks sub-tasks: always an error, also inside a benchmark run."""
