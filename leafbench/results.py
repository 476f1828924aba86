"""Reading a results folder: the one reader every consumer uses (the library, report, check, mteb export).

:func:`load_results` walks a folder for result files and reads each into a :class:`~leafbench.record.ResultRecord`
(``leafbench.record.read_record``: schema version, main scores, context); :func:`results_frame` is the same as a
pandas frame, one :meth:`~leafbench.record.ResultRecord.to_row` per file. Run manifests, baselines and other JSON
are skipped; a damaged result, one with a newer schema_version or a main score that is not a real number raises
:class:`~leafbench.record.SchemaError` naming the file (file:line for invalid JSON), never read as missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .errors import UserError
from .record import ResultRecord, read_record, result_files

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["load_results", "results_frame"]


def load_results(folder: Path | str) -> list[ResultRecord]:
    """Every result under `folder` (a results folder, a run folder or a mode folder), in path order, as records
    with their task, run folder, path and main score. A folder that does not exist is a UserError."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: results folder not found")
    return [read_record(p, data) for p, data in result_files(folder)]


def results_frame(folder: Path | str) -> pd.DataFrame:
    """`load_results` as a pandas frame, one row per result file (ResultRecord.to_row)."""
    import pandas as pd

    return pd.DataFrame([r.to_row() for r in load_results(folder)])
