"""The harness's base for bad-input errors.

Anything raised as a `UserError` (or a subclass, e.g. a plugin's recipe error) is printed by the CLI as one plain
line with exit code 2; every other exception is "unexpected" (exit 1, traceback with --debug).
"""

from __future__ import annotations

__all__ = ["UserError"]


class UserError(Exception):
    """Bad input (data, model, task, option, recipe): one line, exit code 2."""
