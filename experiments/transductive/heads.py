"""Frozen-feature rows for the transductive question: does fitting the linear head on pseudo-queries cut from
SciFact's corpus (no labels) move the asymmetric start? Extends experiments/isometric-dev/heads.py's table.

Needs the features of experiments/isometric-dev/features.py (--feats); encodes the pseudo-queries here (teacher
through the store, minilm-l6's pooled outputs) and prints one JSON row per head, dev nDCG@10 (seeded half of the
train claims x the full corpus; test is not read):

    python experiments/transductive/heads.py --data-dir ../shared/data --feats /tmp/feats \
        --out experiments/transductive/results/heads.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "isometric-dev"))
from heads import crossfit, procrustes, ridge  # noqa: E402  (the isometric-dev fits, reused as they are)

from leafbench.data import load_beir_folder  # noqa: E402
from leafbench_distill.evaluation import ndcg10  # noqa: E402
from leafbench_distill.texts import corpus_rows, cut_corpus  # noqa: E402
from leafbench_distill.validation import DevSplit, dev_data  # noqa: E402


def pseudo_queries(folder: Path, n: int, seed: int = 0) -> list[str]:
    """`n` abstract sentences of 6-40 words and n/3 titles, a seeded sample (as a `cut` source reads them)."""
    rng = np.random.default_rng(seed)
    sents = [s for s in cut_corpus(corpus_rows(folder), "sentences") if 6 <= len(s.split()) <= 40]
    titles = list(cut_corpus(corpus_rows(folder), "titles"))
    pick = sorted(rng.choice(len(sents), size=min(n, len(sents)), replace=False))
    tpick = sorted(rng.choice(len(titles), size=min(n // 3, len(titles)), replace=False))
    return [sents[i] for i in pick] + [titles[i] for i in tpick]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--feats", type=Path, required=True)
    ap.add_argument("--pseudo", type=int, default=6000, help="abstract sentences (plus a third as many titles)")
    ap.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "leafbench")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    from leafbench.workspace import Workspace
    from leafbench_distill.student import build_student, pooled_outputs
    from leafbench_distill.targets import teacher_encoder

    folder = args.data_dir / "beir" / "scifact"
    train = load_beir_folder(folder, "train", task_name="SciFact")
    split = DevSplit.of(train.query_ids, 0.5, 0)
    dev = dev_data(train, split)
    t, s = np.load(args.feats / "teacher.npz"), np.load(args.feats / "student_short.npz")
    meta = json.loads((args.feats / "ids.json").read_text())
    pos = {q: i for i, q in enumerate(meta["claims"])}
    dev_i = [pos[q] for q in dev.query_ids]
    tr_i = [pos[q] for q in meta["claims"] if q in split.train_ids]
    xg, tg, xc, tc, td = s["general"], t["general"], s["claims"], t["claims"], t["docs"]
    d384 = np.load(args.feats / "student_docs_384.npy")

    texts = pseudo_queries(folder, args.pseudo)
    teacher = teacher_encoder("mpnet-base", Workspace.cache_only(args.cache_dir).store(), args.cache_dir)
    tp = teacher.encode(texts, "query").embeddings
    xp = pooled_outputs(build_student("minilm-l6", 768, max_seq_length=128, cache_dir=args.cache_dir), texts)

    rows = []

    def score(name: str, w: np.ndarray, b: np.ndarray | float = 0.0, q: np.ndarray | None = None) -> None:
        q = xc[dev_i] @ w.T + b if q is None else q
        student = ndcg10(dev, xc[dev_i] @ w.T + b, d384 @ w.T + b)  # one map for both sides
        rows.append({"head": name, "asym": ndcg10(dev, q, td), "student@384": student})
        print(json.dumps(rows[-1]), flush=True)

    print(json.dumps({"teacher": ndcg10(dev, tc[dev_i], td), "pseudo_queries": len(texts)}), flush=True)
    base_x, base_t = np.vstack([xg, xc[tr_i]]), np.vstack([tg, tc[tr_i]])
    score("procrustes general + train claims", procrustes(base_x, base_t))
    score(
        "procrustes general + train claims + pseudo-queries",
        procrustes(np.vstack([base_x, xp]), np.vstack([base_t, tp])),
    )
    score("procrustes pseudo-queries", procrustes(xp, tp))
    score("ridge train claims + pseudo-queries", *ridge(np.vstack([xc[tr_i], xp]), np.vstack([tc[tr_i], tp])))
    score(
        "procrustes general + train claims + abstracts", procrustes(np.vstack([base_x, d384]), np.vstack([base_t, td]))
    )
    # Claims and pseudo-queries together, cross-fitted on dev (each half served by a fit that never saw it).
    for n, weight in ((0, 1), (600, 1), (600, 3), (600, 10), (600, 30), (400, 10), (400, 30)):
        q, w = crossfit(xc, tc, dev_i, tr_i, n, xp, tp, claim_weight=weight)
        score(f"procrustes pseudo-queries + {n} claims x{weight}, cross-fitted", w, q=q)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
