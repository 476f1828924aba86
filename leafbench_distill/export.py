"""Export: a plain SentenceTransformer student folder with the teacher's prompts and a leafbench manifest, and
an asymmetric Router model (query route = student, the default; document route = teacher). Their model cards are
leafbench_distill.cards'.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MANIFEST_NAME = "leafbench.json"  # read by leafbench.registry (teacher, query_prompt, document_prompt)


def export_student(model, folder: Path, manifest: dict[str, Any], query_prompt: str, document_prompt: str) -> Path:
    """Save the student with the teacher's prompts (so encode_query applies them) and the manifest."""
    from .student import plain_projection

    folder = Path(folder)
    plain_projection(model)
    prompts = {"query": query_prompt, "document": document_prompt}
    model.prompts = prompts
    model.default_prompt_name = None
    model.save(str(folder))
    write_manifest(folder, manifest)
    return folder


#: What every student manifest holds (`leafbench.registry` and the model cards read them).
MANIFEST_KEYS = (
    "teacher",
    "teacher_revision",
    "query_prompt",
    "document_prompt",
    "dims",
    "recipe",
    "data_hashes",
    "final_metrics",
)


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    missing = [k for k in MANIFEST_KEYS if k not in manifest]
    if missing:
        raise ValueError(f"manifest lacks {missing}")
    (Path(folder) / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1, sort_keys=False, default=str) + "\n")


def build_router(
    student_folder: Path, teacher_source: str, query_prompt: str, document_prompt: str, device: str = "cpu"
):
    """One model for both sides: `encode_query` runs the student, `encode_document` the teacher, and a plain
    `encode` (no task) the student too - the cheap query route is the default, never the large teacher.

    Both routes end in the teacher's space, so their outputs are directly comparable by cosine.
    """
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Router

    student = SentenceTransformer(str(student_folder), device=device)
    teacher = SentenceTransformer(teacher_source, device=device)
    router = Router.for_query_document(
        query_modules=list(student.children()),
        document_modules=list(teacher.children()),
        default_route="query",
    )
    model = SentenceTransformer(
        modules=[router],
        device=device,
        prompts={"query": query_prompt, "document": document_prompt},
        similarity_fn_name="cosine",
    )
    return model


def export_router(
    student_folder: Path,
    teacher_source: str,
    folder: Path,
    query_prompt: str,
    document_prompt: str,
    manifest: dict[str, Any],
) -> Path:
    model = build_router(student_folder, teacher_source, query_prompt, document_prompt)
    model.save(str(folder))
    (Path(folder) / MANIFEST_NAME).write_text(
        json.dumps(
            {**manifest, "kind": "router", "routes": {"query": "student", "document": "teacher"}}, indent=1, default=str
        )
        + "\n"
    )
    return Path(folder)
