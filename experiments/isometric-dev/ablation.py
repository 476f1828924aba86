"""The ablation table: one row per run folder, every number read from the dev split (metrics.jsonl and the
selection the run made); the test split is not read here.

    python experiments/isometric-dev/ablation.py runs/iso-l2 runs/iso-rank ... --teacher-dev 0.6520
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def describe(run: Path) -> dict:
    """Start, loss terms and schedule of a run, from the recipe its exported manifest (or summary) recorded."""
    manifest = run / "final" / "leafbench.json"
    if manifest.is_file():
        recipe = json.loads(manifest.read_text())["recipe"]
    else:  # a run stopped before its export: the recipe of the same name next to this script
        from leafbench_distill.recipe import load_recipe

        recipe = load_recipe(str(Path(__file__).parent / "recipes" / f"{run.name}.yaml")).raw
    student, train = recipe.get("student", {}), recipe.get("train", {})
    loss = train.get("loss") or {"l2": 1.0}
    terms = []
    for k, v in loss.items():
        if isinstance(v, dict):
            extra = f" (pairwise {v['pairwise']})" if v.get("pairwise") else f" (tau {v['tau']})" if "tau" in v else ""
            terms.append(f"{k} {v.get('weight')}{extra}")
        else:
            terms.append(f"{k} {v}")
    fit = student.get("fit_sources")
    start = student.get("projection_init", "ridge") + (f" on {' + '.join(fit)}" if fit else "")
    return {
        "start": start + (", orthogonal" if student.get("orthogonal") else ""),
        "loss": ", ".join(terms),
        "epochs": train.get("epochs_per_cycle"),
        "lr": train.get("lr_max"),
    }


def rows(run: Path) -> list[dict]:
    evals = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if '"kind": "eval"' in x]
    return [e for e in evals if "dev_asym_ndcg_at_10" in e]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--teacher-dev", type=float, required=True, help="the teacher's dev nDCG@10 (both modes)")
    args = ap.parse_args()
    t = args.teacher_dev
    print("| run | start | loss | epochs, lr | state | dev asymmetric | dev student (128 tok) | min | STSB dev |")
    print("|---|---|---|---|---|---|---|---|---|")
    for run in args.runs:
        d = describe(run)
        sel_path = run / "checkpoints" / "selection.json"
        selected = json.loads(sel_path.read_text())["tag"] if sel_path.is_file() else None
        for e in rows(run):
            a, s = e["dev_asym_ndcg_at_10"], e["dev_student_ndcg_at_10"]
            mark = " **(selected)**" if e["tag"] == selected else ""
            print(
                f"| {run.name} | {d['start']} | {d['loss']} | {d['epochs']}, {d['lr']} | {e['tag']}{mark} "
                f"| {a:.4f} ({a / t:.1%}) | {s:.4f} ({s / t:.1%}) | {min(a, s) / t:.1%} "
                f"| {e.get('dev_sts_STSBenchmark', float('nan')):.4f} |"
            )


if __name__ == "__main__":
    main()
