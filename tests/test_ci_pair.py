"""The CI regression check runs on a real (student, teacher) pair: its three modes give different numbers."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from typer.testing import CliRunner

from leafbench.cli import app

ROOT = Path(__file__).resolve().parents[1]


def test_ci_baseline_modes_differ_where_the_teacher_encodes() -> None:
    base = json.loads((ROOT / "results" / "baselines" / "ci.json").read_text())
    cells: dict[tuple[str, str, str], dict[str, float]] = defaultdict(dict)
    for e in base["entries"]:
        cells[(e["task"], e["dim"], e["dtype"])][e["mode"]] = e["score"]
    assert len(cells) == 18 and all(len(v) == 3 for v in cells.values())
    for (task, dim, dtype), s in cells.items():
        if task == "SciFact":  # documents by the teacher, queries by the student: three different numbers
            assert len({round(v, 5) for v in s.values()}) == 3, (dim, dtype, s)
        else:  # BIOSSES has no document role: asymmetric is the student (the asymmetric policy), the teacher differs
            assert s["asymmetric"] == s["student"] != s["teacher"], (dim, dtype, s)
    ci = (ROOT / ".ci" / "run").read_text()
    assert "--tolerance 0.001" in ci


def test_teacher_max_seq_length_gives_the_teacher_its_own_length(env, shared_data: Path) -> None:
    args = [
        "run",
        "--model",
        "minilm-l6",
        "--max-seq-length",
        "32",
        "--teacher",
        "minilm-l6",
        "--teacher-max-seq-length",
        "256",
        "--mode",
        "all",
        "--tasks",
        "SciFact",
        "--data-dir",
        str(shared_data / "beir"),
        "--max-queries",
        "40",
        "--max-docs",
        "300",
        "--output",
        str(env["out"]),
    ]
    res = CliRunner().invoke(app, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    run = env["out"] / "minilm-l6+minilm-l6__40q-300d"
    scores = {}
    for mode in ("student", "teacher", "asymmetric"):
        lb = json.loads((run / mode / "SciFact.json").read_text())
        scores[mode] = lb["scores"]["test"][0]["ndcg_at_10"]
        lb = lb["leafbench"]
        if lb.get("student"):
            assert lb["student"]["max_seq_length"] == 32
        if lb.get("teacher"):
            assert lb["teacher"]["max_seq_length"] == 256
    assert len(set(scores.values())) == 3, scores

    bad = CliRunner().invoke(
        app,
        [
            "run",
            "--model",
            "minilm-l6",
            "--teacher-max-seq-length",
            "256",
            "--mode",
            "student",
            "--tasks",
            "SciFact",
            "--data-dir",
            str(shared_data / "beir"),
            "--output",
            str(env["out"]),
        ],
    )
    assert bad.exit_code == 2 and "--teacher-max-seq-length needs a mode that runs the teacher" in bad.output
