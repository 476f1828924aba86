"""Does the Router export reproduce the student's asymmetric score? Queries through `router.encode_query`,
documents as the teacher encodes them (the store's rows of mpnet-base; a sample is re-encoded through
`router.encode_document` and compared), scored with the same nDCG@10 as training.

    python experiments/isometric-dev/router_check.py runs/mpnet-iso --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path)
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "leafbench")
    ap.add_argument("--sample", type=int, default=20, help="documents re-encoded through the document route")
    args = ap.parse_args()

    from sentence_transformers import SentenceTransformer

    from leafbench.data import load_beir_folder
    from leafbench.workspace import Workspace
    from leafbench_distill.evaluation import ndcg10
    from leafbench_distill.targets import teacher_encoder

    data = load_beir_folder(args.data_dir / "beir" / "scifact", "test", task_name="SciFact")
    router = SentenceTransformer(str(args.run / "router"), device="cpu")
    teacher = teacher_encoder("mpnet-base", Workspace.cache_only(args.cache_dir).store(), args.cache_dir)
    docs = teacher.encode(list(data.corpus_texts), "document").embeddings
    q = router.encode_query(data.query_texts, convert_to_numpy=True)
    sample = list(data.corpus_texts)[: args.sample]
    routed = router.encode_document(sample, convert_to_numpy=True, batch_size=8)
    summary = json.loads((args.run / "summary.json").read_text())
    out = {
        "router_asymmetric_ndcg_at_10": ndcg10(data, q, docs, 1000),
        "final_evaluation_asymmetric": summary["final_metrics"]["retrieval"]["SciFact"]["asymmetric"],
        "document_route_max_abs_diff_vs_teacher_rows": float(np.abs(routed - docs[: args.sample]).max()),
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
