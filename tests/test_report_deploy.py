"""The report's deployment view: bytes per vector, % of float32 and of the teacher, Pareto flags, latency
columns and the score-vs-bytes figure, on a small synthetic frame whose every number is worked out by hand."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from leafbench.report.deploy import (
    deployment_figures,
    deployment_tables,
    deployments,
    human_bytes,
    pareto_flags,
    vector_bytes,
)

# Student scores on task A per (dim label, dtype); task B is A + 0.1 everywhere, so a cell's mean is A + 0.05.
STUDENT_A = {
    ("full", "float32"): 0.50,  # 256 B
    ("full", "int8"): 0.49,  # 64 B
    ("full", "binary"): 0.40,  # 8 B
    ("32", "float32"): 0.45,  # 128 B: full int8 scores more in fewer bytes -> not Pareto
    ("32", "int8"): 0.46,  # 32 B
    ("32", "binary"): 0.30,  # 4 B
}
TEACHER_A = {k: v + 0.1 for k, v in STUDENT_A.items()}  # teacher full float32: A 0.60, B 0.70 -> mean 65
DOCS = {"TaskA": 1000, "TaskB": 500}
MODELS = {"student": "stu", "teacher": "tea", "asymmetric": "stu"}


def _row(run: str, mode: str, task: str, cell: tuple[str, str], score: float, ttype: str = "Retrieval") -> dict:
    dim_label, dtype = cell
    return {
        "run": run,
        "mode": mode,
        "task": task,
        "task_type": ttype,
        "metric": "ndcg_at_10",
        "dim_label": dim_label,
        "dim": 64 if dim_label == "full" else int(dim_label),
        "full_dim": 64,
        "dtype": dtype,
        "score": score,
        "n_documents": DOCS.get(task),
        "query_model": MODELS[mode],
        "query_name": MODELS[mode],
        "record": None,
    }


@pytest.fixture
def frame() -> pd.DataFrame:
    rows = []
    for mode, base in (("student", STUDENT_A), ("teacher", TEACHER_A), ("asymmetric", STUDENT_A)):
        for cell, a in base.items():
            rows.append(_row("pair", mode, "TaskA", cell, a))
            rows.append(_row("pair", mode, "TaskB", cell, a + 0.1))
    rows.append(_row("pair", "student", "TaskC", ("full", "float32"), 0.99))  # not in every cell: not averaged
    rows += [_row("pair", "student", "STS12", c, 0.8, "STS") for c in STUDENT_A]  # not retrieval: no table
    rows.append(_row("single", "student", "TaskA", ("full", "float32"), 0.5))  # one cell: no table
    return pd.DataFrame(rows)


LATENCY = [
    {
        "kind": "leafbench-latency",
        "machine": {"cpu": "Test CPU", "logical_cpus": 2},
        "data": {"task": "TaskA", "n_queries": 10},
        "results": [
            {"model": "stu", "backend": "torch", "threads": 1, "latency_ms": {"p50": 5.0}},
            {"model": "stu", "backend": "onnx", "threads": 1, "latency_ms": {"p50": 3.0}},
            {"model": "tea", "backend": "torch", "threads": 1, "latency_ms": {"p50": 50.0}},
        ],
    }
]


def test_bytes_per_vector_and_human_units() -> None:
    assert vector_bytes("float32", 384) == 1536
    assert vector_bytes("float16", 384) == 768
    assert vector_bytes("int8", 384) == vector_bytes("uint8", 384) == 384
    assert vector_bytes("binary", 384) == 48
    assert vector_bytes("binary", 33) == 5  # dim/8 rounded up
    assert vector_bytes("binary (rescore4)", 128) == 16  # rescoring reads the same stored bits
    assert vector_bytes("int8 (mteb)", 64) == 64
    assert vector_bytes("nonsense", 64) is None
    assert [human_bytes(n) for n in (300, 6000, 20736, 7962624, 1.2e9)] == [
        "300 B",
        "6 kB",
        "20.7 kB",
        "7.96 MB",
        "1.2 GB",
    ]


def test_pareto_flags() -> None:
    # (score, bytes): b dominates c (better and smaller); d ties a exactly (neither is strictly better).
    scores = [50, 49, 45, 50, 10, float("nan")]
    sizes = [256, 64, 128, 256, 4, 1]
    assert pareto_flags(scores, sizes) == [True, True, False, True, True, False]


def test_deployment_rows_percentages_and_pareto(frame: pd.DataFrame) -> None:
    deps = deployments(frame, LATENCY)
    assert [(d.run, d.mode) for d in deps] == [("pair", "teacher"), ("pair", "student"), ("pair", "asymmetric")]
    st, te = deps[1], deps[0]
    assert st.tasks == ["TaskA", "TaskB"] and st.n_documents == DOCS
    c = st.cells.set_index(["dim_label", "dtype"])
    assert list(st.cells["bytes"]) == [256, 128, 64, 32, 8, 4]  # largest vectors first
    assert c.loc[("full", "float32"), "score"] == pytest.approx(55.0)  # mean of A and B, TaskC left out
    assert c.loc[("32", "int8"), "pct_full"] == pytest.approx(51 / 55 * 100)
    assert c.loc[("full", "float32"), "pct_teacher"] == pytest.approx(55 / 65 * 100)
    assert c.loc[("32", "binary"), "pct_teacher"] == pytest.approx(35 / 65 * 100)
    assert c.loc[("full", "float32"), "index_bytes"] == 256 * 1500
    pareto = dict(zip(zip(st.cells["dim_label"], st.cells["dtype"]), st.cells["pareto"]))
    assert pareto == {
        ("full", "float32"): True,
        ("32", "float32"): False,
        ("full", "int8"): True,
        ("32", "int8"): True,
        ("full", "binary"): True,
        ("32", "binary"): True,
    }
    assert st.latency == {"Query p50 ms (torch)": 5.0, "Query p50 ms (onnx)": 3.0}
    assert te.latency == {"Query p50 ms (torch)": 50.0}  # the teacher's own query encoder
    assert te.cells["pct_teacher"].isna().all()  # the teacher is its own reference: no second column


def test_deployment_table_text(frame: pd.DataFrame) -> None:
    tables = {t.key: t for t in deployment_tables(deployments(frame, LATENCY))}
    st = tables["deploy-pair-student"].text
    assert list(st.columns) == [
        "Dim",
        "Dtype",
        "Score",
        "% of full float32",
        "% of teacher",
        "Bytes / doc",
        "Index (1,500 docs)",
        "Pareto",
        "Query p50 ms (torch)",
        "Query p50 ms (onnx)",
    ]
    first = st.iloc[0].to_dict()
    assert first == {
        "Dim": "64 (full)",
        "Dtype": "float32",
        "Score": "55.00",
        "% of full float32": "100.0",
        "% of teacher": "84.6",
        "Bytes / doc": "256",
        "Index (1,500 docs)": "384 kB",
        "Query p50 ms (torch)": "5.00",
        "Query p50 ms (onnx)": "3.00",
        "Pareto": "✓",
    }
    assert st.iloc[1]["Dim"] == "32" and st.iloc[1]["Pareto"] == ""
    assert "% of teacher" not in tables["deploy-pair-teacher"].text.columns
    assert tables["deploy-pair-student"].row_class == ["pareto", "", "pareto", "pareto", "pareto", "pareto"]
    # Without latency JSONs for the model there is no latency column at all, never an invented number.
    bare = deployment_tables(deployments(frame))[1].text
    assert not [c for c in bare.columns if "p50" in c]


def test_deployment_figure_is_written(frame: pd.DataFrame, tmp_path: Path) -> None:
    deps = deployments(frame)
    figs = deployment_figures(deps, tmp_path)
    assert [f.key for f in figs] == ["deploy-pair"] and figs[0].after == "deploy-pair-asymmetric"
    assert figs[0].png.stat().st_size > 10_000 and figs[0].png.read_bytes()[:4] == b"\x89PNG"
    svg = figs[0].svg.read_text()
    for text in ("64d float32", "32d int8", "student: Pareto frontier", "teacher: other cells", "bytes per document"):
        assert text in svg, text
    again = deployment_figures(deps, tmp_path / "b")
    assert again[0].svg.read_bytes() == figs[0].svg.read_bytes()  # reproducible, as every report figure
