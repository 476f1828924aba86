"""``run.json``: the :class:`RunManifest` of a run folder (what runs into it asked for and could do)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import UserError
from .names import run_manifest_path
from .paths import relativize
from .result_file import write_result
from .schema import DEFAULT_CELL, SCHEMA_VERSION, SchemaError


@dataclass
class RunManifest:
    """``run.json``: what runs into one folder were asked for and what they could do, so reports can mark
    incomplete rows. Merged across runs (a rerun adds to it)."""

    source: str = ""
    tasks: list[str] = field(default_factory=list)
    types: dict[str, str] = field(default_factory=dict)
    evaluated: list[str] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    modes: list[str] = field(default_factory=list)
    cells: list[str] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The manifest as written: schema_version first, then the other fields in their declared order."""
        names = [f.name for f in fields(self) if f.name != "schema_version"]
        return {"schema_version": self.schema_version, **{n: getattr(self, n) for n in names}}

    @classmethod
    def read(cls, output: Path | str, run: str) -> "RunManifest | None":
        """The run's manifest (None when there is none); a damaged or newer one is a UserError naming file:line."""
        path = run_manifest_path(output, run)
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise UserError(
                f"{path}:{e.lineno}: invalid run manifest JSON ({e.msg}); delete it (it only lists what "
                "earlier runs asked for) or restore it"
            ) from None
        except (OSError, UnicodeDecodeError) as e:
            raise UserError(f"{path}: cannot read the run manifest ({e})") from None
        lists = ("tasks", "evaluated", "modes", "cells")
        maps = ("missing", "types", "skipped")
        if not isinstance(data, dict) or not all(isinstance(data.get(k, []), (list, dict)) for k in (*lists, *maps)):
            raise UserError(
                f"{path}: not a leafbench run manifest; delete it (it only lists what earlier runs asked for)"
            )
        version = data.get("schema_version", 1)
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise SchemaError(
                f"{path}: run manifest schema_version {version!r} is newer than this leafbench reads "
                f"({SCHEMA_VERSION}); upgrade leafbench to read it"
            )
        return cls(
            source=str(data.get("source", "")),
            tasks=list(data.get("tasks", [])),
            types=dict(data.get("types", {})),
            evaluated=list(data.get("evaluated", [])),
            missing=dict(data.get("missing", {})),
            skipped=dict(data.get("skipped", {})),
            modes=list(data.get("modes", [])),
            cells=list(data.get("cells", [])),
        )

    def merged(
        self,
        *,
        source: str,
        tasks: Iterable[str],
        types: Mapping[str, str],
        evaluated: Iterable[str],
        missing: Mapping[str, str],
        skipped: Mapping[str, str],
        modes: Iterable[str],
        cells: Iterable[str],
    ) -> "RunManifest":
        """This manifest plus one more run's selection and outcome (a task evaluated now is no longer missing)."""
        done = set(evaluated)
        return RunManifest(
            source=source,
            tasks=sorted(set(self.tasks) | set(tasks)),
            types={**self.types, **types},
            evaluated=sorted(set(self.evaluated) | done),
            missing={k: v for k, v in {**self.missing, **missing}.items() if k not in done},
            skipped={**self.skipped, **skipped},
            modes=sorted(set(self.modes) | set(modes)),
            cells=sorted(set(self.cells) | set(cells)),
        )

    def write(self, output: Path | str, run: str, roots: Mapping[str, str] | None = None) -> Path:
        """Write atomically, machine paths (in `missing` messages, ...) made portable."""

        path = run_manifest_path(output, run)
        write_result(path, relativize(self.to_dict(), roots))
        return path


def cell_names(cells: Sequence[Any]) -> list[str]:
    """Manifest names of cells (cells.Cell): their label, or full-float32."""
    return [c.label or DEFAULT_CELL for c in cells]
