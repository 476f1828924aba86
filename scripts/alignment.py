"""How well a distilled student sits in its teacher's space on one evaluation set's queries or documents.

Asymmetric retrieval compares student query embeddings with teacher document embeddings, so what matters is
the cosine between student(q) and teacher(q) on the queries being searched — held-out training texts can look
fine while a new domain does not (mpnet-offline run 3: 0.71 on web queries, 0.59 on SciFact claims). Both
sides go through leafbench's Encoder and embedding store, so a second run encodes nothing.

    HF_HUB_OFFLINE=1 .venv/bin/python scripts/alignment.py runs/leaf-mpnet-sci/final \
        --beir ../shared/data/beir/scifact --split test --max-queries 100 --max-docs 300

Student *mode* also depends on the documents: `--side document` gives their cosine, bucketed by token count, so
a gap that grows with length (truncation, position) shows apart from one that does not (subject matter):
mpnet-offline stage 4 on all 5,183 SciFact abstracts: 0.768 overall, 0.774 at 128-256 tokens, 0.763 over 384.

Model selection without the test set: `--recipe R --source NAME` scores the texts one source of a recipe selects
(e.g. `experiments/mpnet-offline/recipes/validation/mpnet-offline-holdout.yaml`: in-domain documents no stage was trained on) instead of a BEIR split.
`--append experiments/mpnet-offline/results/validation/<recipe>.jsonl` adds the printed line to the committed table of such scores.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from leafbench.data import load_beir_folder, resolve_task_name
from leafbench.encode import Encoder
from leafbench.registry import resolve_model
from leafbench.search import normalize_rows
from leafbench.store import EmbeddingStore

LENGTH_BUCKETS = (0, 128, 256, 384)  # token-count edges (the student's tokenizer, untruncated)


def _length_buckets(cos: np.ndarray, n_tokens: np.ndarray) -> list[dict]:
    """Mean cosine per length bucket: tells a long-input problem (a trend) from a subject-matter one (none)."""
    edges = [*LENGTH_BUCKETS, None]
    out = []
    for lo, hi in itertools.pairwise(edges):
        m = (n_tokens >= lo) & (n_tokens < hi) if hi is not None else n_tokens >= lo
        if m.any():
            out.append(
                {
                    "tokens": f"{lo}-{hi}" if hi is not None else f">={lo}",
                    "n": int(m.sum()),
                    "mean_cosine": round(float(cos[m].mean()), 4),
                }
            )
    return out


def alignment(
    student: str,
    teacher: str | None,
    beir: Path,
    split: str,
    max_queries: int | None,
    max_docs: int | None,
    cache_dir: Path,
    side: str = "query",
) -> dict:
    """Cosine of student(x) and teacher(x) on one side's texts; documents also get per-length buckets."""
    if side not in ("query", "document"):
        raise SystemExit(f"--side must be query or document, not {side!r}")
    data = load_beir_folder(beir, split, task_name=resolve_task_name(beir.name))
    if max_queries or max_docs:  # the same deterministic subset `leafbench run --max-queries/--max-docs` uses
        data = data.subset(max_queries, max_docs, seed=0)
    texts = data.query_texts if side == "query" else data.corpus_texts
    return {**text_alignment(student, teacher, texts, side, cache_dir), "data": str(beir), "split": split}


def source_texts(
    recipe_name: str, source: str, training_dir: Path | None = None, data_dir: Path | None = None
) -> tuple[list[str], str]:
    """The texts (and their role) that one source of a recipe selects, after the recipe's dedupe across sources."""
    from dataclasses import replace

    from leafbench_distill.recipe import load_recipe
    from leafbench_distill.texts import load_texts

    recipe = load_recipe(recipe_name)
    if training_dir is not None:
        recipe.data = replace(recipe.data, training_dir=str(training_dir))
    if data_dir is not None:
        recipe.eval = replace(recipe.eval, data_dir=str(data_dir))
    names = [s.name for s in recipe.data.sources]
    if source not in names:
        raise SystemExit(f"recipe {recipe.name} has no source {source!r}; its sources: {names}")
    tt = load_texts(
        recipe.resolved_sources(), recipe.training_base() or Path("."), recipe.data.seed, recipe.data.max_words
    )
    texts = [t for t, s in zip(tt.texts, tt.sources) if s == source]
    return texts, recipe.data.sources[names.index(source)].role


def text_alignment(student: str, teacher: str | None, texts: Sequence[str], side: str, cache_dir: Path) -> dict:
    """Cosine of student(x) and teacher(x) over `texts`, with per-length buckets for documents."""
    s_spec = resolve_model(student, cache_dir)
    t_name = teacher or s_spec.teacher
    if not t_name:
        raise SystemExit(f"{student}: no teacher in its manifest; pass --teacher")
    store = EmbeddingStore(cache_dir / "embeddings")
    s_enc = Encoder(s_spec, store)
    s = s_enc.encode(texts, side).embeddings
    t = Encoder(resolve_model(t_name, cache_dir), store).encode(texts, side).embeddings
    cos = np.sum(normalize_rows(s) * normalize_rows(t), axis=1)
    out = {
        "student": student,
        "teacher": t_name,
        "side": side,
        "n_queries" if side == "query" else "n_documents": len(cos),
        "mean_cosine": round(float(cos.mean()), 4),
        "p10_cosine": round(float(np.percentile(cos, 10)), 4),
    }
    if side == "document":
        ids = s_enc.model.tokenizer(list(texts), add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
        out["by_length"] = _length_buckets(cos, np.array([len(x) for x in ids]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("student", help="a distilled student folder (its leafbench.json names the teacher) or alias")
    ap.add_argument("--teacher", help="override the manifest's teacher")
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--beir", type=Path, help="a BEIR folder (queries.jsonl, qrels/)")
    where.add_argument("--recipe", help="a recipe (built-in name or YAML) whose --source texts to score")
    ap.add_argument("--source", help="with --recipe: the source whose texts are scored (its role is the side)")
    ap.add_argument(
        "--training-dir", type=Path, help="with --recipe: its local training files (as `leafbench distill`)"
    )
    ap.add_argument("--data-dir", type=Path, help="with --recipe: local evaluation data (as `leafbench distill`)")
    ap.add_argument("--split", default="test")
    ap.add_argument("--max-queries", type=int)
    ap.add_argument("--max-docs", type=int)
    ap.add_argument(
        "--side",
        choices=["query", "document"],
        default="query",
        help="document: the corpus (from the store when `leafbench run` encoded it), with per-length buckets",
    )
    ap.add_argument("--cache-dir", type=Path, default=Path(".cache/leafbench"))
    ap.add_argument(
        "--append",
        type=Path,
        metavar="FILE",
        help="also append the JSON line to FILE (e.g. experiments/mpnet-offline/results/validation/<recipe>.jsonl), "
        "so each committed row comes from one command",
    )
    a = ap.parse_args()
    if a.recipe is not None:
        if not a.source:
            ap.error("--recipe needs --source")
        texts, role = source_texts(a.recipe, a.source, a.training_dir, a.data_dir)
        out = {**text_alignment(a.student, a.teacher, texts, role, a.cache_dir), "recipe": a.recipe, "source": a.source}
    else:
        out = alignment(a.student, a.teacher, a.beir, a.split, a.max_queries, a.max_docs, a.cache_dir, a.side)
    line = json.dumps(out)
    print(line)
    if a.append is not None:
        a.append.parent.mkdir(parents=True, exist_ok=True)
        with open(a.append, "a") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
