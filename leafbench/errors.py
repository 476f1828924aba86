"""The harness's base for bad-input errors.

Anything raised as a `UserError` (or a subclass, e.g. a plugin's recipe error) is printed by the CLI as one plain
line with exit code 2; every other exception is "unexpected" (exit 1, traceback with --debug).

An `OSError` that says the machine ran out of something (disk space, quota, file descriptors) is not a leafbench
bug either: `resource_error_message` turns it into the one line the CLI prints, naming the file and the way out.
"""

from __future__ import annotations

import errno

__all__ = ["UserError", "resource_error_message"]


class UserError(Exception):
    """Bad input (data, model, task, option, recipe): one line, exit code 2."""


_NO_SPACE = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded"}
TOO_MANY_FILES = (errno.EMFILE, errno.ENFILE)


def _open_files_hint() -> str:
    """The per-process open-file limit and a value to raise it to (`ulimit -n`), or why that will not do."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):  # not Unix
        return "raise the open-file limit and rerun"
    want = max(4 * soft, 4096)
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    if want <= soft:
        return f"the limit is {soft} open files per process, which is also the hard limit: ask an admin to raise it"
    return f"the limit is {soft} open files per process: raise it (e.g. `ulimit -n {want}`) and rerun"


def resource_error_message(e: BaseException) -> str | None:
    """One line for an OSError meaning the machine ran out of disk, quota or file descriptors (naming the file);
    None for any other error."""
    if not isinstance(e, OSError) or e.errno is None:
        return None
    where = f": {e.filename}" if e.filename is not None else ""
    if e.errno in _NO_SPACE:
        return f"{_NO_SPACE[e.errno]}{where}"
    if e.errno == errno.EMFILE:
        return f"too many open files{where} ({_open_files_hint()})"
    if e.errno == errno.ENFILE:
        return f"too many open files in the system{where} (the system-wide limit, fs.file-max, is reached)"
    return None
