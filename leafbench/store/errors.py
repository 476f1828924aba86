"""The store's error: a store that cannot be used as asked; the message is for the user."""

from __future__ import annotations

from ..errors import UserError

__all__ = ["StoreError"]


class StoreError(UserError):
    """A store that cannot be used as asked (newer format, unwritable, missing rows); the message is for the user."""
