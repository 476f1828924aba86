"""Model soups: one student that is the uniform weight average of several (Wortsman et al., ICML 2022).

Students of one lineage - a stage continued from another at a low LR - sit in one loss basin, so their average
is a student of the same size and speed that is often better aligned than each. Choose which students to average
on a validation set (`scripts/alignment.py --recipe experiments/mpnet-offline/recipes/validation/mpnet-offline-holdout.yaml ...`), not on the test split.
Only students with the same modules, shapes and teacher can be averaged; the result is exported like a distilled
student, its manifest naming the ingredients.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from leafbench.errors import UserError

from .export import MANIFEST_NAME, export_student


class SoupError(UserError, ValueError):
    """Students that cannot be averaged; the message names the folder at fault."""


def _manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST_NAME
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise SoupError(
            f"{folder}: no {MANIFEST_NAME} - not a distilled student (leafbench distill writes one)"
        ) from None
    except json.JSONDecodeError as e:
        raise SoupError(f"{path}: line {e.lineno}: not valid JSON ({e.msg})") from None


def average_students(folders: Sequence[Path], output: Path, name: str | None = None) -> Path:
    """Average the weights of `folders` (uniformly) into a new student folder at `output`."""
    folders = [Path(f) for f in folders]
    if len(folders) < 2:
        raise SoupError("a soup needs at least two students")
    manifests = [_manifest(f) for f in folders]
    _check_teachers(folders, manifests)
    models = [_load(f) for f in folders]
    states = [m.state_dict() for m in models]
    _check_alike(folders, models, states)
    soup = models[0]
    soup.load_state_dict(_average(states))
    names = [m.get("name") or f.name for f, m in zip(folders, manifests)]
    manifest = _soup_manifest(folders, manifests, names, name)
    export_student(
        soup, Path(output), manifest, manifests[0].get("query_prompt", ""), manifests[0].get("document_prompt", "")
    )
    ingredients = "\n".join(f"- `{n}` ({f})" for n, f in zip(names, folders))
    (Path(output) / "README.md").write_text(
        f"# {manifest['name']}\n\nA LEAF student that is the uniform weight average (model soup) of:\n\n{ingredients}\n\n"
        f"Teacher: **{manifests[0].get('teacher')}**; same modules, size and speed as each ingredient. Measure it with\n"
        f"`leafbench run --model {output} --mode all`.\n"
    )
    return Path(output)


def _check_teachers(folders: list[Path], manifests: list[dict[str, Any]]) -> None:
    """Only students of one teacher live in one embedding space."""
    teacher = manifests[0].get("teacher")
    for f, m in zip(folders[1:], manifests[1:]):
        if m.get("teacher") != teacher:
            raise SoupError(
                f"{f}: distilled from teacher {m.get('teacher')!r}, {folders[0]} from {teacher!r}; "
                "only students of one teacher share a space"
            )


def _load(folder: Path):
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(str(folder), device="cpu")
    except (OSError, ValueError, KeyError) as e:
        raise SoupError(f"{folder}: cannot be loaded as a SentenceTransformer ({type(e).__name__}: {e})") from None


def _check_alike(folders: list[Path], models: list, states: list[dict]) -> None:
    """Same modules, lengths, weight names and shapes as the first student: else the average is no model."""
    for f, m, sd in zip(folders[1:], models[1:], states[1:]):
        if [type(x).__name__ for x in m] != [type(x).__name__ for x in models[0]]:
            raise SoupError(f"{f}: modules {[type(x).__name__ for x in m]} differ from {folders[0]}'s")
        if m.max_seq_length != models[0].max_seq_length:
            raise SoupError(
                f"{f}: max_seq_length {m.max_seq_length} differs from {folders[0]}'s {models[0].max_seq_length}"
            )
        for k, v in states[0].items():
            if k not in sd or sd[k].shape != v.shape:
                raise SoupError(
                    f"{f}: weight {k} {'is missing' if k not in sd else f'has shape {tuple(sd[k].shape)}'}"
                    f", {folders[0]} has {tuple(v.shape)}"
                )
        if set(sd) - set(states[0]):
            raise SoupError(f"{f}: extra weights {sorted(set(sd) - set(states[0]))[:3]}")


def _average(states: list[dict]) -> dict:
    """The uniform average of float weights; integer buffers (position ids) must agree."""
    import torch

    avg = {}
    for k, v in states[0].items():
        if v.is_floating_point():  # summed in float64: the order of ingredients does not change the result
            avg[k] = (sum(sd[k].double() for sd in states) / len(states)).to(v.dtype)
        else:
            if any(not torch.equal(sd[k], v) for sd in states[1:]):
                raise SoupError(f"weight {k} (integer) differs between the students; they are not one architecture")
            avg[k] = v
    return avg


def _soup_manifest(
    folders: list[Path], manifests: list[dict[str, Any]], names: list[str], name: str | None
) -> dict[str, Any]:
    """The first ingredient's manifest, naming every ingredient (folder, name, weights hash) and their data."""
    from leafbench.registry import weights_hash

    hashes: dict[str, Any] = {}
    for m in manifests:
        hashes.update(m.get("data_hashes") or {})
    return {
        **manifests[0],
        "name": name or "soup-" + "+".join(names),
        "recipe": {"name": "soup", "ingredients": [m.get("recipe") for m in manifests]},
        "soup": [{"folder": str(f), "name": n, "weights": f"local:{weights_hash(f)}"} for f, n in zip(folders, names)],
        "data_hashes": hashes,
        "final_metrics": {},  # not measured: `leafbench run` measures the soup like any model
    }
