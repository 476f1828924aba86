"""Export a recipe's student as it is at step 0 — backbone plus the fitted projection, no training — for contrast.

What a run starts from decides much of where it ends: the ridge map starts minilm-l6 → mpnet-base at 0.630
asymmetric nDCG@10 on the 100 × 300 SciFact subset, the Procrustes isometry at 0.750. Exported like any
student (manifest, prompts, `export_max_seq_length`), so `leafbench run --mode all` scores it on any protocol:

    HF_HUB_OFFLINE=1 .venv/bin/python scripts/untrained_student.py --recipe experiments/mpnet-offline/recipes/mpnet-offline-ortho.yaml \
        --output runs/untrained-ortho --cache-dir .cache/leafbench
    leafbench run --model runs/untrained-ortho --mode all --tasks SciFact --data-dir ../shared/data

Teacher targets come from the store (the fit reads `ridge_texts` of them); a recipe whose targets are not
there yet is labelled first, as `leafbench distill` would.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from leafbench_distill.export import export_student
from leafbench_distill.pipeline import make_student, prepare
from leafbench_distill.recipe import load_recipe


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--recipe", required=True, help="a recipe (built-in name or YAML) that builds its student from a backbone"
    )
    ap.add_argument("--output", type=Path, required=True, help="the student folder to write")
    ap.add_argument("--cache-dir", type=Path, default=Path(".cache/leafbench"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--training-dir", type=Path, help="the recipe's local training files (as `leafbench distill --training-dir`)"
    )
    ap.add_argument("--data-dir", type=Path, help="local evaluation data (as `leafbench distill --data-dir`)")
    a = ap.parse_args()
    r = load_recipe(a.recipe)
    if a.training_dir is not None:
        r.data = replace(r.data, training_dir=str(a.training_dir))
    if a.data_dir is not None:
        r.eval = replace(r.eval, data_dir=str(a.data_dir))
    if r.student.init_from:
        ap.error(f"{a.recipe} continues {r.student.init_from}: its step 0 is that student, score it directly")
    import torch

    torch.manual_seed(r.train.seed)  # as `leafbench distill`: the projection before the fit is reproducible
    prep = prepare(r, a.cache_dir, device=a.device, echo=print)
    model, fit = make_student(prep, a.cache_dir, a.device, init=True)
    if r.student.export_max_seq_length:
        model.max_seq_length = r.student.export_max_seq_length
    qp, dp = prep.teacher.spec.query_prompt, prep.teacher.spec.document_prompt
    manifest = {
        "name": f"leaf-{r.name}-untrained",
        "teacher": r.teacher.model,
        "teacher_revision": r.teacher.revision or prep.teacher.spec.revision or prep.teacher.identity,
        "query_prompt": qp,
        "document_prompt": dp,
        "dims": {"student_hidden": model[0].get_embedding_dimension(), "output": r.teacher.dim},
        "recipe": r.raw | {"name": r.name},
        "data_hashes": {"training_texts": prep.info["data_hash"]},
        "final_metrics": {"untrained": {"projection_init": r.student.projection_init, **fit}},
        "max_seq_length": {"train": r.student.max_seq_length, "inference": model.max_seq_length},
        "created_by": "scripts/untrained_student.py",
    }
    export_student(model, a.output, manifest, qp, dp)
    print(json.dumps({"output": str(a.output), "projection": fit}))


if __name__ == "__main__":
    main()
