"""The distillation package's bad-input error: a leafbench UserError, so `leafbench distill` and `soup` print it
through the harness's one error handler (one line, exit 2)."""

from __future__ import annotations

from leafbench.errors import UserError

__all__ = ["DistillError"]


class DistillError(UserError, ValueError):
    """A distill option, student folder, layer selection or checkpoint that does not fit the run."""
