"""CPU backends: keys that never mix vectors, clear errors, and fp32 backends scoring like torch."""

from __future__ import annotations

import builtins
import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leafbench.backends import BACKENDS, BackendError, check_backend, get_backend
from leafbench.cli import app
from leafbench.registry import ModelError
from leafbench.store import EmbeddingStore, EncodingKey

runner = CliRunner()


def _hide(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    """Make `import <module>` fail as if the package were not installed."""
    real = builtins.__import__

    def fake(name, *args, **kwargs):
        if name.split(".")[0] in modules:
            raise ImportError(f"No module named {name!r}")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake)
    monkeypatch.setattr("importlib.import_module", lambda name, package=None: fake(name))


def test_torch_keys_are_unchanged_and_other_backends_get_their_own() -> None:
    key = EncodingKey("m@1", "document", "", 256, "fp32")
    # The format-1 digest a store written before backends existed used (no backend field): old entries of
    # torch encodings are still found and imported.
    old = hashlib.sha256(
        json.dumps(
            {
                "model_id": "m@1",
                "side": "document",
                "prompt": "",
                "max_seq_length": 256,
                "precision": "fp32",
                "texts": "t",
                "format": 1,
            },
            sort_keys=True,
        ).encode()
    ).hexdigest()
    assert key.digest("t") == old
    spaces = {EncodingKey("m@1", "document", "", 256, "fp32", backend=b).space() for b in BACKENDS}
    assert len(spaces) == len(BACKENDS)


def test_unknown_backend_and_missing_package_name_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(BackendError, match="unknown backend 'tensorrt'.*onnx-int8"):
        get_backend("tensorrt")
    _hide(monkeypatch, "onnxruntime", "openvino")
    with pytest.raises(BackendError, match=r"pip install 'leafbench\[onnx\]'"):
        check_backend("onnx-int8")
    with pytest.raises(BackendError, match=r"pip install 'leafbench\[openvino\]'"):
        check_backend("openvino")
    assert check_backend("torch").runtime == "torch"


def test_encoder_refuses_a_bad_backend_before_touching_the_store(tmp_path: Path, minilm_spec) -> None:
    from leafbench.encode import Encoder

    store = EmbeddingStore(tmp_path / "embeddings")
    with pytest.raises(BackendError):
        Encoder(minilm_spec.with_overrides(backend="nope"), store)
    with pytest.raises(ModelError, match="torch backend only"):
        Encoder(minilm_spec.with_overrides(backend="onnx", precision="bf16"), store)
    assert not (tmp_path / "embeddings").exists()


@pytest.mark.parametrize(
    "command,args,expected",
    [
        ("run", ["--backend", "tensorrt"], "unknown backend 'tensorrt'"),
        ("latency", ["--backend", "torch,tensorrt"], "unknown backend 'tensorrt'"),
        ("latency", ["--threads", "0"], "--threads must be >= 1"),
    ],
)
def test_bad_backend_input_is_one_line_exit_2(tmp_path: Path, monkeypatch, command, args, expected) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    base = [
        "--model",
        "minilm-l6",
        "--data-dir",
        str(tmp_path),
        "--output",
        str(tmp_path / "out"),
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    res = runner.invoke(app, [command, *base, *args], catch_exceptions=False)
    assert res.exit_code == 2, res.output
    assert expected in res.output and "Traceback" not in res.output
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache" / "embeddings").exists()


def test_missing_backend_package_exits_2_naming_the_extra(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _hide(monkeypatch, "onnxruntime")
    res = runner.invoke(
        app,
        [
            "latency",
            "--model",
            "minilm-l6",
            "--backend",
            "onnx",
            "--data-dir",
            str(tmp_path),
            "--output",
            str(tmp_path / "out"),
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
        catch_exceptions=False,
    )
    assert res.exit_code == 2 and "leafbench[onnx]" in res.output, res.output


# ------------------------------------------------------------------------------ real model (minilm-l6), slow


@pytest.mark.slow
def test_failed_export_names_model_and_reason_and_caches_nothing(
    tmp_path: Path, minilm_spec, scifact_small, monkeypatch
) -> None:
    import torch

    from leafbench.encode import Encoder

    def boom(*a, **k):
        raise RuntimeError("Unsupported operator aten::fancy_op\nmore detail")

    monkeypatch.setattr(torch.onnx, "export", boom)
    store = EmbeddingStore(tmp_path / "embeddings")
    enc = Encoder(minilm_spec.with_overrides(backend="onnx"), store, cache_dir=tmp_path)
    with pytest.raises(
        BackendError, match=r"cannot export minilm-l6 to ONNX: RuntimeError: Unsupported operator aten::fancy_op$"
    ):
        enc.encode(scifact_small.query_texts, "query")
    assert not list((tmp_path / "exports").rglob("*.onnx")), "no half export"
    assert not list(store.spaces()) and not list((tmp_path / "embeddings").rglob("*.npy")), "nothing cached"


def _ndcg(data, spec, store) -> float:
    from leafbench.encode import Encoder
    from leafbench.evaluate import evaluate_retrieval
    from leafbench.record import main_score

    run = evaluate_retrieval(
        data, {"student": Encoder(spec, store, cache_dir=store.root.parent)}, ["student"], None, "x"
    )
    return main_score(run.results["student"])


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_fp32_backends_score_like_torch_and_keep_their_own_cache_entries(
    backend, scifact_small, minilm_spec, session_store
) -> None:
    torch_ndcg = _ndcg(scifact_small, minilm_spec, session_store)
    spec = minilm_spec.with_overrides(backend=backend, threads=1)
    assert abs(_ndcg(scifact_small, spec, session_store) - torch_ndcg) <= 1e-4
    backends = {e["key"].get("backend", "torch") for e in session_store.spaces()}
    assert {"torch", backend} <= backends


@pytest.mark.slow
def test_int8_backend_runs_and_stays_close(scifact_small, minilm_spec, session_store) -> None:
    torch_ndcg = _ndcg(scifact_small, minilm_spec, session_store)
    # Quantized: not equal, reported as measured by benchmarks/backends.py; here only "not broken".
    assert (
        abs(
            _ndcg(scifact_small, minilm_spec.with_overrides(backend="onnx-int8", threads=1), session_store) - torch_ndcg
        )
        < 0.05
    )


def test_recipe_teacher_backend_labels_through_that_backend(tmp_path: Path) -> None:
    from leafbench_distill.pipeline import recipe_teacher
    from leafbench_distill.recipe import RecipeError, load_recipe, parse_recipe

    raw = load_recipe("mini").raw
    r = parse_recipe({**raw, "teacher": {**raw["teacher"], "backend": "onnx"}}, "x.yaml")
    assert r.teacher.backend == "onnx" and load_recipe("mini").teacher.backend == "torch"
    enc = recipe_teacher(r, tmp_path)  # lazy: nothing is loaded or exported yet
    assert enc.spec.backend == "onnx" and enc.key("document").backend == "onnx"
    with pytest.raises(RecipeError, match="teacher.backend must be one of"):
        parse_recipe({**raw, "teacher": {**raw["teacher"], "backend": "tensorrt"}}, "x.yaml")
    with pytest.raises(RecipeError, match="torch backend only"):
        parse_recipe({**raw, "teacher": {**raw["teacher"], "backend": "onnx", "precision": "bf16"}}, "x.yaml")
