"""`leafbench latency`: percentiles, FLOP accounting, the result JSON, and the command end to end."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from leafbench.cli import app
from leafbench.errors import UserError
from leafbench.latency import LatencyReport, LatencyResult, percentiles, transformer_flops


def _result(model: str, backend: str, p50: float, tps: float) -> LatencyResult:
    return LatencyResult(
        model=model,
        identity=f"{model}@x",
        backend=backend,
        threads=2,
        precision="fp32",
        max_seq_length=256,
        prompt="",
        latency_ms={"p50": p50, "p95": p50 * 1.2, "p99": p50 * 1.5, "mean": p50, "min": p50 * 0.9},
        n_queries=10,
        warmup=2,
        bulk={"batch_size": 32, "n_texts": 64, "texts_per_s": tps, "gflops_per_s": 100.0},
        load_seconds=1.0,
    )


def test_percentiles() -> None:
    p = percentiles([float(x) for x in range(1, 101)])
    assert p["p50"] == pytest.approx(50.5) and p["p99"] == pytest.approx(99.01) and p["min"] == 1.0
    with pytest.raises(ValueError):
        percentiles([])


def test_transformer_flops_counts_gemms_and_attention() -> None:
    cfg = SimpleNamespace(hidden_size=384, intermediate_size=1536, num_hidden_layers=6)
    d, f, s = 384, 1536, 100
    per_seq = 6 * (2 * s * (4 * d * d + 2 * d * f) + 4 * s * s * d)
    assert transformer_flops(cfg, 3, s) == 3 * per_seq
    # ~2 x (non-embedding parameters) per token when attention is short: minilm-l6 has ~10.6M of them
    assert transformer_flops(cfg, 1, 1) / 2 == pytest.approx(10.6e6, rel=0.01)


def test_report_round_trips_and_gives_teacher_over_student_ratios(tmp_path: Path) -> None:
    rep = LatencyReport(
        [_result("s", "torch", 10.0, 40.0), _result("t", "torch", 64.0, 4.0), _result("s", "onnx", 5.0, 50.0)],
        student="s",
        teacher="t",
        machine={"cpu": "x"},
        data={"task": "SciFact"},
    )
    assert rep.ratios() == {"torch": {"p50_latency": 6.4, "bulk_throughput": 10.0}}  # onnx has no teacher row
    back = LatencyReport.read(rep.write(tmp_path / "r.json"))
    assert back.to_dict() == rep.to_dict()
    with pytest.raises(UserError, match="not a leafbench latency result"):
        LatencyReport.from_dict({"results": []})


def test_latency_reads_data_dir_as_run_does(tmp_path: Path, shared_data: Path) -> None:
    """One --data-dir resolution for every command: the data root `run` takes finds the task's folder (here it
    stops at the model, which is not a model); a root without the task is one line, exit 2."""
    res = CliRunner().invoke(
        app, ["latency", "--model", "no-such-model", "--data-dir", str(shared_data), "--output", str(tmp_path)]
    )
    assert res.exit_code == 2 and "unknown model 'no-such-model'" in res.output, res.output
    res = CliRunner().invoke(
        app, ["latency", "--model", "minilm-l6", "--data-dir", str(tmp_path), "--task", "NFCorpus"]
    )
    assert res.exit_code == 2 and "no BEIR folder of NFCorpus there" in " ".join(res.output.split()), res.output


@pytest.mark.slow
def test_latency_command_measures_student_and_teacher_per_backend(
    tmp_path: Path, scifact_dir: Path, monkeypatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    res = CliRunner().invoke(
        app,
        [
            "latency",
            "--model",
            "minilm-l6",
            "--teacher",
            "minilm-l6",
            "--backend",
            "torch,onnx",
            "--threads",
            "1",
            "--data-dir",
            str(scifact_dir),
            "--queries",
            "5",
            "--passages",
            "8",
            "--warmup",
            "1",
            "--output",
            str(tmp_path / "out"),
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
        catch_exceptions=False,
    )
    assert res.exit_code == 0, res.output
    rep = LatencyReport.read(tmp_path / "out" / "latency" / "minilm-l6+minilm-l6.json")
    assert [(r.backend, r.threads) for r in rep.results] == [("torch", 1)] * 2 + [("onnx", 1)] * 2
    for r in rep.results:
        assert r.n_queries == 5 and 0 < r.latency_ms["p50"] <= r.latency_ms["p95"] <= r.latency_ms["p99"]
        assert r.bulk["n_texts"] == 8 and r.bulk["texts_per_s"] > 0 and r.bulk["gflops_per_s"] > 0
    assert set(rep.ratios()) == {"torch", "onnx"}
    assert (
        rep.results[2].backend_info["runtime"] == "onnxruntime"
        and "onnxruntime" in rep.results[2].backend_info["versions"]
    )
    assert list((tmp_path / "cache" / "exports").rglob("transformer_0.onnx")), "the export lives in the model cache"
    assert not (tmp_path / "cache" / "embeddings").exists(), "latency runs write no embeddings"


def test_report_shows_latency_next_to_quality_with_a_scatter(tmp_path: Path) -> None:
    import shutil

    from leafbench.report import write_report

    results = tmp_path / "results"
    shutil.copytree(Path(__file__).resolve().parents[1] / "results" / "minilm-l6", results / "minilm-l6")
    rep = LatencyReport(
        [
            _result("minilm-l6", "torch", 10.0, 40.0),
            _result("mpnet-base", "torch", 64.0, 4.0),
            _result("minilm-l6", "onnx", 5.0, 50.0),
        ],
        student="minilm-l6",
        teacher="mpnet-base",
        machine={"cpu": "x"},
        data={"task": "SciFact"},
    )
    d = rep.to_dict()
    d["quality"] = {"onnx": {"minilm-l6": 0.6451}}  # a backend's score recorded by the benchmark
    (results / "latency").mkdir()
    (results / "latency" / "minilm-l6+mpnet-base.json").write_text(json.dumps(d))
    written = write_report(results, tmp_path / "report")
    md = written["markdown"].read_text()
    assert "Quality vs query latency on CPU (SciFact)" in md and "6.4x" in md
    torch_row = next(line for line in md.splitlines() if line.startswith("| minilm-l6 | torch | 2 | 10.00"))
    assert "64.51" in torch_row  # the torch row's score comes from results/minilm-l6/student/SciFact.json
    assert md.index("Quality vs query latency") < md.index("Encoding throughput")
    assert (tmp_path / "report" / "figures" / "latency-quality.png").exists()


def test_a_timed_student_folder_finds_its_score_by_identity() -> None:
    """`leafbench latency -m runs/x/final` names the model by its folder; its results sit in a pair's run
    (`leaf-x+teacher`), so the latency table finds the student-mode score by the encoder's identity."""
    import pandas as pd

    from leafbench.report.latency import _score

    base = {"task": "SciFact", "protocol": "full", "dim_label": "full", "dtype": "float32"}
    df = pd.DataFrame(
        [
            {
                **base,
                "run": "leaf-x+t",
                "mode": "student",
                "query_id": "local:ab@len=384",
                "document_id": "local:ab@len=384",
                "query_name": "x",
                "document_name": "x",
                "score": 0.6484,
            },
            {
                **base,
                "run": "leaf-x+t",
                "mode": "asymmetric",
                "query_id": "local:ab@len=384",
                "document_id": "local:t",
                "query_name": "x",
                "document_name": "t",
                "score": 0.5304,
            },
            {
                **base,
                "run": "leaf-x+t",
                "mode": "student",
                "query_id": "local:ab@len=384",
                "document_id": "local:ab@len=384",
                "query_name": "x",
                "document_name": "x",
                "score": 0.6,
                "protocol": "dev",
            },
        ]
    )
    assert _score(df, "x/final", "torch", "SciFact", "local:ab") == 0.6484
    assert _score(df, "x/final", "torch", "SciFact", "local:zz") is None  # another model: no score
    assert _score(df, "x/final", "torch", "SciFact") is None  # no identity recorded: nothing guessed
