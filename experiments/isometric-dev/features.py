"""Frozen features for the head ablation: teacher and backbone embeddings of SciFact and of general texts.

Computes, once, and saves under OUT (npz files):
- teacher (mpnet-base) embeddings of the full SciFact corpus (document side, from the store) and of every
  train claim (query side);
- minilm-l6's mean-pooled backbone outputs (the projection's input) of the corpus at 256 / 384 / 512 tokens,
  of the train claims, and of general training texts (web queries, sentences, glosses) with their teacher
  embeddings.
Nothing here reads SciFact's test split.

    python experiments/isometric-dev/features.py --data-dir ../shared/data --out /tmp/feats
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def general_texts(training_dir: Path, per_source: int, seed: int = 0) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    texts, roles = [], []
    for name, role in (
        ("queries_web_qa.jsonl", "query"),
        ("sentences_nltk.jsonl", "document"),
        ("wordnet_glosses.jsonl", "document"),
    ):
        rows = [json.loads(x)["text"] for x in (training_dir / name).open(encoding="utf-8") if x.strip()]
        rows = [t for t in rows if len(t.split()) >= 4] if role == "document" else rows
        pick = rng.choice(len(rows), size=min(per_source, len(rows)), replace=False)
        texts += [rows[i] for i in sorted(pick)]
        roles += [role] * len(pick)
    return texts, roles


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "leafbench")
    ap.add_argument("--general", type=int, default=500, help="texts per general source")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    from leafbench.data import load_beir_folder
    from leafbench.workspace import Workspace
    from leafbench_distill.student import build_student, pooled_outputs
    from leafbench_distill.targets import teacher_encoder

    folder = args.data_dir / "beir" / "scifact"
    train = load_beir_folder(folder, "train", task_name="SciFact")
    texts, roles = general_texts(args.data_dir / "training", args.general)
    store = Workspace.cache_only(args.cache_dir).store()
    teacher = teacher_encoder("mpnet-base", store, args.cache_dir)
    t0 = time.perf_counter()
    t_docs = teacher.encode(list(train.corpus_texts), "document").embeddings
    print(f"teacher docs {t_docs.shape} [{time.perf_counter() - t0:.0f}s]", flush=True)
    t_claims = teacher.encode(train.query_texts, "query").embeddings
    print(f"teacher claims {t_claims.shape} [{time.perf_counter() - t0:.0f}s]", flush=True)
    q_idx = [i for i, r in enumerate(roles) if r == "query"]
    d_idx = [i for i, r in enumerate(roles) if r == "document"]
    t_gen = np.zeros((len(texts), t_docs.shape[1]), np.float32)
    t_gen[q_idx] = teacher.encode([texts[i] for i in q_idx], "query").embeddings
    t_gen[d_idx] = teacher.encode([texts[i] for i in d_idx], "document").embeddings
    print(f"teacher general {t_gen.shape} [{time.perf_counter() - t0:.0f}s]", flush=True)
    np.savez(args.out / "teacher.npz", docs=t_docs, claims=t_claims, general=t_gen)
    (args.out / "ids.json").write_text(
        json.dumps({"claims": train.query_ids, "docs": list(train.corpus_ids), "general": texts, "roles": roles})
    )
    student = build_student("minilm-l6", 768, max_seq_length=128, cache_dir=args.cache_dir)
    short = {"claims": pooled_outputs(student, train.query_texts), "general": pooled_outputs(student, texts)}
    np.savez(args.out / "student_short.npz", **short)
    print(f"student short [{time.perf_counter() - t0:.0f}s]", flush=True)
    for length in (256, 384, 512):
        student.max_seq_length = length
        x = pooled_outputs(student, list(train.corpus_texts), batch_size=32)
        np.save(args.out / f"student_docs_{length}.npy", x)
        print(f"student docs at {length} tokens [{time.perf_counter() - t0:.0f}s]", flush=True)


if __name__ == "__main__":
    main()
