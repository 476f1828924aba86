"""Is the asymmetric gap a missing map, or too few claims to find it? Two kinds of rows, dev nDCG@10:

- in-sample: a head fitted on the dev claims themselves (their teacher embeddings, no qrels) and scored on them.
  Not a result (an orthogonal 384 -> 768 map has ~220k free parameters for 404 x 768 targets), but it says
  whether an isometry serving both modes exists at all;
- cross-fitted, out of sample: each half of the dev claims is served by a Procrustes map fitted on general texts
  plus n claims sampled from the train claims and the *other* half (seeded), n = 100 ... 600: how the
  asymmetric score grows with the in-domain claims a fit sees.

An isometric head keeps student mode at the backbone's own score (the same number in every Procrustes row).
Needs the features of features.py (--feats); test is not read:

    python experiments/isometric-dev/ceiling.py --data-dir ../shared/data --feats /tmp/feats \
        --out experiments/isometric-dev/results/ceiling.json
"""

from __future__ import annotations

import json

import numpy as np
from heads import crossfit, dev_features, feature_args, procrustes, ridge

from leafbench_distill.evaluation import ndcg10


def main() -> None:
    args = feature_args()

    dev, t, s, _, dev_i, tr_i = dev_features(args.data_dir, args.feats)
    xc, tc, xg, tg, td = s["claims"], t["claims"], s["general"], t["general"], t["docs"]
    d384 = np.load(args.feats / "student_docs_384.npy")
    teacher = ndcg10(dev, tc[dev_i], td)
    rows: list[dict] = []

    def score(name: str, w: np.ndarray, b: np.ndarray | float = 0.0, q: np.ndarray | None = None) -> None:
        q = xc[dev_i] @ w.T + b if q is None else q
        asym, student = ndcg10(dev, q, td), ndcg10(dev, xc[dev_i] @ w.T + b, d384 @ w.T + b)
        rows.append({"head": name, "asym": asym, "asym_pct": asym / teacher, "student@384": student})
        rows[-1]["student_pct"] = student / teacher
        print(json.dumps(rows[-1]), flush=True)

    print(json.dumps({"teacher": teacher, "dev_claims": len(dev_i)}), flush=True)
    xd, yd = xc[dev_i], tc[dev_i]
    score(
        "procrustes train claims + general (out of sample, as shipped)",
        procrustes(np.vstack([xg, xc[tr_i]]), np.vstack([tg, tc[tr_i]])),
    )
    for n in (100, 200, 400, 600):
        q, w = crossfit(xc, tc, dev_i, tr_i, n, xg, tg)
        score(f"procrustes general + {n} claims, cross-fitted (out of sample)", w, q=q)
    score("procrustes dev claims (in-sample)", procrustes(xd, yd))
    score("procrustes dev + train claims (in-sample)", procrustes(np.vstack([xd, xc[tr_i]]), np.vstack([yd, tc[tr_i]])))
    score("procrustes dev claims + abstracts (in-sample)", procrustes(np.vstack([xd, d384]), np.vstack([yd, td])))
    score("ridge dev claims (in-sample, not isometric)", *ridge(xd, yd))
    if args.out:
        args.out.write_text(json.dumps({"teacher": teacher, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
