"""Whether the Hugging Face hub is off limits: the one reading of the offline environment variables.

huggingface_hub (and transformers through it) goes offline when ``HF_HUB_OFFLINE`` is true, or, when that is
unset or empty, when ``TRANSFORMERS_OFFLINE`` is; leafbench decides "offline" the same way, so its messages and
its choice between a local copy and the hub agree with what the hub client will do.

Imports nothing of leafbench: any layer may use it.
"""

from __future__ import annotations

import os

__all__ = ["OFFLINE_VARIABLES", "hub_offline"]

#: The variables read, first one set (non-empty) wins, as huggingface_hub reads them.
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
_TRUE_STRINGS = frozenset({"1", "true", "yes", "on"})


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` (or, when that is unset or empty, ``TRANSFORMERS_OFFLINE``) is '1', 'true',
    'yes' or 'on' (any case, surrounding blanks ignored)."""
    value = next((v for v in map(os.environ.get, OFFLINE_VARIABLES) if v), "")
    return value.strip().lower() in _TRUE_STRINGS
