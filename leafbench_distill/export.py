"""Export: a plain SentenceTransformer student folder with the teacher's prompts and a leafbench manifest,
an asymmetric Router model (query route = student, document route = teacher), and a model card.
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
    folder = Path(folder)
    prompts = {"query": query_prompt, "document": document_prompt}
    model.prompts = prompts
    model.default_prompt_name = None
    model.save(str(folder))
    write_manifest(folder, manifest)
    return folder


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    required = (
        "teacher",
        "teacher_revision",
        "query_prompt",
        "document_prompt",
        "dims",
        "recipe",
        "data_hashes",
        "final_metrics",
    )
    missing = [k for k in required if k not in manifest]
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


def _pct(x: float | None, ref: float | None) -> str:
    return f"{100 * x / ref:.1f}%" if x is not None and ref else "-"


def model_card(summary: dict[str, Any]) -> str:
    """README.md for the exported student: what it is, how to use it, and the numbers measured here."""
    m = summary.get("final_metrics", {})
    rows = []
    for task, r in m.get("retrieval", {}).items():
        t = r.get("teacher")
        rows.append(
            f"| {task} nDCG@10 | {r.get('student', float('nan')):.4f} ({_pct(r.get('student'), t)}) | "
            f"{r.get('asymmetric', float('nan')):.4f} ({_pct(r.get('asymmetric'), t)}) | {t:.4f} |"
        )
    for task, r in m.get("sts", {}).items():
        t = r.get("teacher")
        rows.append(
            f"| {task} Spearman* | {r.get('student', float('nan')):.4f} ({_pct(r.get('student'), t)}) | - | {t:.4f} |"
        )
    table = "\n".join(rows) if rows else "| (no final evaluation recorded) | | | |"
    untrained = m.get("untrained", {})
    extra = ""
    if untrained:
        extra = (
            "\nBefore training (same evaluation): " + ", ".join(f"{k} {v:.4f}" for k, v in untrained.items()) + ".\n"
        )
    return f"""---
library_name: sentence-transformers
pipeline_tag: sentence-similarity
tags: [sentence-transformers, feature-extraction, leaf, distillation]
base_model: {summary.get("student_backbone")}
---

# {summary.get("name", "LEAF student")}

A LEAF student (arXiv 2509.12539) distilled with `leafbench distill --recipe {summary.get("recipe")}`:
{summary.get("student_backbone")} ({summary.get("student_layers") or "all"} layers) → mean pooling →
Dense({summary.get("dims", {}).get("student")}→{summary.get("dims", {}).get("teacher")}, identity) → Normalize, trained only with the
squared L2 distance to the embeddings of the teacher **{summary.get("teacher")}**. Its embeddings live in the
teacher's space, so queries can be encoded by this student while documents keep the teacher's embeddings
(asymmetric retrieval).

## Use

```python
from sentence_transformers import SentenceTransformer
student = SentenceTransformer("path/to/final")
q = student.encode_query(["how do vaccines work?"])      # applies the teacher's query prompt
d = student.encode_document(["Vaccines train the immune system ..."])
```

The `router/` folder next to this one holds one model with both routes: `encode_query` runs the student,
`encode_document` runs the teacher.

## Results (trained on {summary.get("hardware", "CPU")}{"; evaluated where the teacher is, after --finish" if summary.get("bundle") else ""})

| metric | student mode | asymmetric (student queries, teacher docs) | teacher |
|---|---|---|---|
{table}
{extra}
*STS: Spearman of cosine similarity computed directly on the local test files (not mteb's evaluator).
Retrieval: leafbench's exact dense search + mteb's metric code, {summary.get("retrieval_protocol", "full test split")}.

Training: {summary.get("n_train_texts")} texts ({summary.get("text_counts")}), {summary.get("epochs")} epochs,
batch {summary.get("batch_size")}, {summary.get("train_minutes", 0):.1f} min at {summary.get("texts_per_s", 0):.1f} texts/s.
Teacher targets: {summary.get("teacher")} ({summary.get("teacher_precision")}).
"""
