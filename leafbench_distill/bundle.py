"""Training bundles: label on one machine, train on another.

Teacher labelling needs the teacher's weights and the training files; training needs neither. A bundle is the
plain-file hand-over between the two (`leafbench distill --export-bundle DIR`, then `leafbench distill --bundle
DIR` on the other machine, e.g. a GPU box with no network and no copy of the data):

    meta.json          format, recipe (raw), teacher identity and prompts, text provenance, target stats, split
    texts.jsonl        one line per training text: text, role, source (prompts are re-applied on load)
    targets.npy        teacher embeddings: float32, float16, or int8 with per-row scales (targets_scale.npy)
    eval.json          the in-training retrieval subset (ids, texts, qrels) - optional
    teacher_docs.npy   the teacher's embeddings of that subset's documents (float32)
    dev.json           a recipe's dev set (`eval.dev`: its queries, corpus, split, STS dev pairs) - format 2 only;
    dev_teacher_docs.npy   the teacher's embeddings of its documents. Training then selects on dev there, as
                       here, and the test split is scored once, by `--finish`.
    student/           the init_from student, if the recipe continues one (optionally stored in float16)

int8 targets keep every row's direction (cosine >= 0.9999 to the float32 target, tested) at a quarter of the
bytes: with a float16 MiniLM student, the 14k-text mpnet-offline-stage3 bundle is 61 MB. The folder is written
under `<name>.partial` and renamed when complete, so an interrupted export never leaves a half bundle.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from leafbench.errors import UserError

BUNDLE_FORMAT = 1
# A bundle with a dev set: a reader that knew only format 1 would train it without the dev set (selecting on
# nothing, evaluating test in training), so it is refused there.
DEV_BUNDLE_FORMAT = 2
TARGET_DTYPES = ("float32", "float16", "int8")
STUDENT_DTYPES = ("float32", "float16")


class BundleError(UserError, ValueError):
    """A bundle folder that is missing files or does not match this version."""


def quantize_targets(targets: np.ndarray, dtype: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(stored array, per-row scale or None). int8: symmetric per-row absmax, so every row keeps its own range."""
    if dtype == "float32":
        return np.ascontiguousarray(targets, dtype=np.float32), None
    if dtype == "float16":
        return targets.astype(np.float16), None
    if dtype == "int8":
        scale = np.abs(targets).max(axis=1).astype(np.float32) / 127.0
        scale[scale == 0] = 1.0
        q = np.clip(np.rint(targets / scale[:, None]), -127, 127).astype(np.int8)
        return q, scale
    raise BundleError(f"targets dtype must be one of {TARGET_DTYPES}, not {dtype!r}")


def dequantize_targets(stored: np.ndarray, scale: np.ndarray | None) -> np.ndarray:
    if stored.dtype == np.int8:
        if scale is None:
            raise BundleError("int8 targets without targets_scale.npy")
        return stored.astype(np.float32) * scale[:, None]
    return stored.astype(np.float32)


def _save_student(src: Path, dst: Path, dtype: str) -> None:
    """Copy a SentenceTransformer folder; with float16, cast every safetensors file (training restores float32)."""
    shutil.copytree(src, dst)
    if dtype == "float32":
        return
    import torch
    from safetensors.torch import load_file, save_file

    for f in dst.rglob("*.safetensors"):
        tensors = load_file(str(f))
        save_file(
            {k: (v.to(torch.float16) if v.is_floating_point() else v) for k, v in tensors.items()},
            str(f),
            metadata={"format": "pt"},
        )


def write_bundle(prep, out: Path, targets_dtype: str = "float32", student_dtype: str = "float32") -> dict[str, Any]:
    """Write everything `Trainer` and the in-training evaluation need; returns meta (also in meta.json)."""
    out = Path(out)
    if targets_dtype not in TARGET_DTYPES or student_dtype not in STUDENT_DTYPES:
        raise BundleError(
            f"bundle precision: targets one of {TARGET_DTYPES}, student one of {STUDENT_DTYPES} "
            f"(got {targets_dtype!r}, {student_dtype!r})"
        )
    if out.exists() and any(out.iterdir()):
        raise BundleError(f"{out} exists and is not empty; choose a new folder")
    final, out = out, out.with_name(out.name + ".partial")
    if out.exists():
        shutil.rmtree(out)  # a previous export that was interrupted
    out.mkdir(parents=True)
    r = prep.recipe
    t = prep.texts
    with (out / "texts.jsonl").open("w", encoding="utf-8") as f:
        for text, role, src in zip(t.texts, t.roles, t.sources):
            f.write(json.dumps({"text": text, "role": role, "source": src}, ensure_ascii=False) + "\n")
    stored, scale = quantize_targets(prep.targets, targets_dtype)
    np.save(out / "targets.npy", stored)
    if scale is not None:
        np.save(out / "targets_scale.npy", scale)
    spec = prep.teacher.spec
    meta: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "recipe": r.raw | {"name": r.name},
        "teacher": {
            "model": r.teacher.model,
            "source": spec.source,
            "revision": spec.revision,
            "identity": prep.teacher.identity,
            "slug": spec.slug,
            "query_prompt": spec.query_prompt,
            "document_prompt": spec.document_prompt,
        },
        "info": prep.info,
        "target_stats": prep.target_stats,
        "targets_dtype": targets_dtype,
        "counts": t.counts,
        "selection": t.selection,
        "train_idx": list(map(int, prep.train_idx)),
        "heldout_idx": list(map(int, prep.heldout_idx)),
        "student": None,
    }
    if prep.eval_data is not None and prep.teacher_docs is not None:
        d = prep.eval_data
        (out / "eval.json").write_text(json.dumps(asdict(d), ensure_ascii=False))
        np.save(out / "teacher_docs.npy", np.asarray(prep.teacher_docs, dtype=np.float32))
    if prep.dev is not None:
        _write_dev(prep.dev, out)
        meta["format"], meta["dev"] = DEV_BUNDLE_FORMAT, prep.dev.describe()
    if r.student.init_from:
        _save_student(r.resolve_path(r.student.init_from), out / "student", student_dtype)
        meta["student"] = {"from": r.student.init_from, "dtype": student_dtype}
    (out / "meta.json").write_text(json.dumps(meta, indent=1, default=str) + "\n")
    if final.exists():
        final.rmdir()  # empty (checked above)
    out.rename(final)
    return meta


def _write_dev(dev, out: Path) -> None:
    """The dev set, whole: what the in-training evaluations read and what the split held out."""
    payload = {
        "data": asdict(dev.data),
        "dev_ids": sorted(dev.split.dev_ids),
        "train_ids": sorted(dev.split.train_ids),
        "fraction": dev.split.fraction,
        "seed": dev.split.seed,
        "sts": {name: [s1, s2, np.asarray(gold).tolist()] for name, (s1, s2, gold) in dev.sts.items()},
    }
    (out / "dev.json").write_text(json.dumps(payload, ensure_ascii=False))
    np.save(out / "dev_teacher_docs.npy", np.asarray(dev.teacher_docs, dtype=np.float32))


def _read_dev(folder: Path, recipe):
    """The bundle's DevSet, or None; a dev recipe without one is refused (it would select on nothing)."""
    from leafbench.data import RetrievalData

    from .recipe import dev_read_length
    from .validation import DevSet, DevSplit

    path = folder / "dev.json"
    if not path.is_file():
        if recipe.eval.dev is not None:
            raise BundleError(f"{folder}: the recipe selects on a dev set (eval.dev) but the bundle has no dev.json")
        return None
    d = json.loads(path.read_text())
    split = DevSplit(frozenset(d["dev_ids"]), frozenset(d["train_ids"]), d["fraction"], d["seed"])
    sts = {name: (s1, s2, np.asarray(gold)) for name, (s1, s2, gold) in d["sts"].items()}
    docs = np.load(folder / "dev_teacher_docs.npy")
    return DevSet(RetrievalData(**d["data"]), split, sts, teacher_docs=docs, read_length=dev_read_length(recipe))


def bundled_init_from(info: dict[str, Any]) -> str | None:
    """The student a bundle run started from, as the exporting recipe named it (None: not a bundle run, or no
    init_from); the copy inside the bundle is only the vehicle."""
    return ((info.get("bundle") or {}).get("student") or {}).get("from")


class BundledTeacher:
    """Stands in for the teacher Encoder where only its identity and prompts are needed (no weights here)."""

    def __init__(self, meta: dict[str, Any]) -> None:
        from types import SimpleNamespace

        t = meta["teacher"]
        self.identity = t["identity"]
        self.spec = SimpleNamespace(
            source=t["source"],
            revision=t["revision"],
            slug=t["slug"],
            query_prompt=t["query_prompt"],
            document_prompt=t["document_prompt"],
        )
        self.store = None

    def encode(self, *_: Any, **__: Any):
        raise BundleError(
            "this run was loaded from a bundle: the teacher is not available here "
            "(finish the run where the teacher is: leafbench distill --bundle B --output RUN --finish)"
        )


def read_bundle(folder: Path):
    """The `Prepared` a bundle describes (recipe re-parsed; init_from points into the bundle's student/)."""
    from dataclasses import replace

    from leafbench.data import RetrievalData

    from .pipeline import Prepared
    from .recipe import parse_recipe
    from .texts import TrainingTexts

    folder = Path(folder)
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        raise BundleError(f"{folder}: not a training bundle (no meta.json); make one with --export-bundle")
    meta = json.loads(meta_path.read_text())
    if meta.get("format") not in (BUNDLE_FORMAT, DEV_BUNDLE_FORMAT):
        raise BundleError(
            f"{meta_path}: bundle format {meta.get('format')!r}, this leafbench reads {BUNDLE_FORMAT} and {DEV_BUNDLE_FORMAT}"
        )
    rows = []
    with (folder / "texts.jsonl").open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise BundleError(f"{folder / 'texts.jsonl'}:{lineno}: invalid JSON ({e.msg})") from e
    scale_path = folder / "targets_scale.npy"
    targets = dequantize_targets(np.load(folder / "targets.npy"), np.load(scale_path) if scale_path.exists() else None)
    if len(targets) != len(rows):
        raise BundleError(f"{folder}: {len(rows)} texts but {len(targets)} targets")
    texts = TrainingTexts(
        [r["text"] for r in rows],
        [r["role"] for r in rows],
        [r["source"] for r in rows],
        counts=meta.get("counts", {}),
        selection=meta.get("selection", {}),
    )
    recipe = parse_recipe(meta["recipe"], str(meta_path))
    if meta.get("student"):
        recipe.student = replace(recipe.student, init_from=str((folder / "student").resolve()))
    teacher = BundledTeacher(meta)
    qp, dp = teacher.spec.query_prompt, teacher.spec.document_prompt
    inputs = [(qp if r["role"] == "query" else dp) + r["text"] for r in rows]
    eval_data, teacher_docs = None, None
    if (folder / "eval.json").exists():
        eval_data = RetrievalData(**json.loads((folder / "eval.json").read_text()))
        teacher_docs = np.load(folder / "teacher_docs.npy")
    info = dict(meta.get("info", {}))
    info["bundle"] = {"path": str(folder), "targets_dtype": meta.get("targets_dtype"), "student": meta.get("student")}
    return Prepared(
        recipe,
        texts,
        meta["train_idx"],
        meta["heldout_idx"],
        inputs,
        targets,
        teacher,
        meta.get("target_stats", {}),
        eval_data,
        teacher_docs,
        info=info,
        dev=_read_dev(folder, recipe),
    )
