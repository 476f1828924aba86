"""Inference backends for CPU encoding: torch, ONNX Runtime, OpenVINO, and int8 variants.

sentence-transformers' own `backend="onnx" | "openvino"` goes through optimum, which cannot be installed
against leafbench's pins (optimum-onnx needs transformers<4.58, optimum-intel transformers<5.6; leafbench
pins transformers==5.24.0). So leafbench exports the Transformer module of a SentenceTransformer itself with
`torch.onnx.export` (once per model identity, into the model cache), and swaps the module's HF model for a
thin runtime shim: tokenisation, pooling, Dense and Normalize stay sentence-transformers' own, only the
transformer body runs in ONNX Runtime or OpenVINO.

| backend         | runtime                      | numerics                                                  |
|-----------------|------------------------------|-----------------------------------------------------------|
| `torch`         | torch                        | fp32 (or `--precision bf16/fp16`)                          |
| `torch-int8`    | torch dynamic quantization   | int8 weights of every Linear, int8 activations per batch  |
| `onnx`          | ONNX Runtime, CPU provider   | fp32                                                      |
| `onnx-int8`     | ONNX Runtime                 | `quantize_dynamic` int8 weights (VNNI kernels)            |
| `openvino`      | OpenVINO (reads the ONNX)    | fp32 (`INFERENCE_PRECISION_HINT=f32`)                     |
| `openvino-bf16` | OpenVINO                     | bf16 (OpenVINO's own default on CPUs with AMX/avx512_bf16) |

The backend name is part of the embedding store's key (`EncodingKey.backend`), so vectors of different
backends never mix; `torch` keeps the keys the store had before backends existed.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import UserError

log = logging.getLogger(__name__)


class BackendError(UserError):
    """A backend that cannot be used (unknown, package missing, export failed); the message is for the user."""


@dataclass(frozen=True)
class Backend:
    name: str
    runtime: str  # torch | onnxruntime | openvino
    quantization: str | None  # None: the model's own precision
    exact: bool  # fp32 arithmetic: expected to equal torch's scores
    packages: tuple[str, ...] = ()  # importable modules it needs
    extra: str | None = None  # pip extra of leafbench that installs them


BACKENDS: dict[str, Backend] = {
    "torch": Backend("torch", "torch", None, True),
    "torch-int8": Backend("torch-int8", "torch", "int8-dynamic", False),
    "onnx": Backend("onnx", "onnxruntime", None, True, ("onnxruntime", "onnx"), "onnx"),
    "onnx-int8": Backend("onnx-int8", "onnxruntime", "int8-dynamic", False, ("onnxruntime", "onnx"), "onnx"),
    "openvino": Backend("openvino", "openvino", None, True, ("openvino", "onnx"), "openvino"),
    "openvino-bf16": Backend("openvino-bf16", "openvino", "bf16", False, ("openvino", "onnx"), "openvino"),
}
EXPORT_OPSET = 17


def get_backend(name: str) -> Backend:
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)}")
    return BACKENDS[name]


def check_backend(name: str) -> Backend:
    """The backend, or a BackendError naming the extra to install when its packages are missing."""
    b = get_backend(name)
    for mod in b.packages:
        try:
            importlib.import_module(mod)
        except ImportError as e:
            raise BackendError(
                f"backend {name} needs the {mod} package, which is not installed: pip install 'leafbench[{b.extra}]' ({e})"
            ) from e
    return b


def set_threads(threads: int | None) -> int:
    """Set torch's intra-op thread count (None: leave it) and return the count every runtime will use."""
    import torch

    if threads is not None:
        if threads < 1:
            raise BackendError(f"threads must be >= 1, not {threads}")
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def runtime_versions(name: str) -> dict[str, str]:
    import torch

    b = get_backend(name)
    v = {"torch": torch.__version__}
    for mod in b.packages:
        try:
            v[mod] = importlib.import_module(mod).__version__
        except (ImportError, AttributeError):
            pass
    return v


# ------------------------------------------------------------------------------------------------ export


def export_dir(cache_dir: Path, identity: str, max_seq_length: int | None = None) -> Path:
    """Where a model's exports live: keyed by the model's identity (HF id@revision or a weights hash)."""
    h = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return Path(cache_dir) / "exports" / h


def _transformers(model) -> list[Any]:
    from sentence_transformers.base.modules.transformer import Transformer

    return [m for m in model.modules() if isinstance(m, Transformer)]


class _TracedBody:
    """Positional-argument wrapper for torch.onnx.export (HF forwards take keyword arguments)."""

    @staticmethod
    def make(hf_model, names: list[str]):
        import torch

        class Body(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.m = hf_model

            def forward(self, *args):
                return self.m(**dict(zip(names, args)), return_dict=True).last_hidden_state

        return Body().eval()


def _input_names(tm) -> list[str]:
    enc = tm.tokenizer(["a b", "c"], padding=True, return_tensors="pt")
    return [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]


def _atomic_dir(target: Path, build) -> Path:
    """Build into a temp folder beside `target`, rename into place; a failed build leaves nothing."""
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        from .files import apply_umask

        apply_umask(tmp, directory=True)  # mkdtemp's 0700 would make a shared cache's exports private
        build(tmp)
        try:
            os.replace(tmp, target)
        except OSError:  # another process finished first
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def export_onnx(model, spec_name: str, folder: Path, quantize: bool = False) -> list[tuple[Path, list[str]]]:
    """Export every Transformer module of a SentenceTransformer to `folder/transformer_<i>.onnx` (fp32), or
    int8 (`quantize`: ONNX Runtime dynamic quantization of the fp32 export). Returns (file, input names)."""
    import torch

    tms = _transformers(model)
    if not tms:
        raise BackendError(f"cannot export {spec_name}: it has no Transformer module to run outside torch")
    suffix = "-int8" if quantize else ""
    target = folder / f"onnx{suffix}"

    def build(tmp: Path) -> None:
        if quantize:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            src = export_onnx(model, spec_name, folder, quantize=False)
            for i, (path, _) in enumerate(src):
                try:
                    quantize_dynamic(str(path), str(tmp / f"transformer_{i}.onnx"), weight_type=QuantType.QInt8)
                except Exception as e:  # noqa: BLE001 - the quantizer's reason goes to the user
                    raise BackendError(f"cannot quantize {spec_name} to int8 ONNX: {type(e).__name__}: {e}") from e
            return
        was_training = model.training
        model.eval()
        try:
            for i, tm in enumerate(tms):
                names = _input_names(tm)
                enc = tm.tokenizer(["an example sentence for the export", "short"], padding=True, return_tensors="pt")
                args = tuple(enc[k] for k in names)
                dyn = {k: {0: "batch", 1: "sequence"} for k in names + ["last_hidden_state"]}
                try:
                    with torch.no_grad(), warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # tracer warnings; the probe below checks the graph
                        torch.onnx.export(
                            _TracedBody.make(tm.model, names),
                            args,
                            str(tmp / f"transformer_{i}.onnx"),
                            input_names=names,
                            output_names=["last_hidden_state"],
                            dynamic_axes=dyn,
                            opset_version=EXPORT_OPSET,
                            dynamo=False,
                        )
                except Exception as e:  # noqa: BLE001 - the exporter's reason goes to the user
                    raise BackendError(
                        f"cannot export {spec_name} to ONNX: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                    ) from e
                _verify(tm, tmp / f"transformer_{i}.onnx", names, spec_name)
        finally:
            model.train(was_training)

    _atomic_dir(target, build)
    out = []
    for i, tm in enumerate(tms):
        path = target / f"transformer_{i}.onnx"
        if not path.exists():
            raise BackendError(
                f"export of {spec_name} in {target} is incomplete: {path.name} is missing (delete the folder)"
            )
        out.append((path, _input_names(tm)))
    return out


PROBE = [
    "a probe sentence that is longer than the export example, with more tokens in it than before",
    "x",
    "two words",
]


def _verify(tm, path: Path, names: list[str], spec_name: str, atol: float = 1e-3) -> None:
    """The exported graph must reproduce torch on a batch of another shape (a trace can bake shapes in)."""
    try:
        import onnxruntime as ort
    except ImportError:  # openvino-only installs: OpenVINO reads the same file; nothing to check it with here
        return
    import numpy as np
    import torch

    enc = tm.tokenizer(PROBE, padding=True, return_tensors="pt")
    with torch.no_grad():
        ref = tm.model(**{k: enc[k] for k in names}, return_dict=True).last_hidden_state.numpy()
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(["last_hidden_state"], {k: enc[k].numpy() for k in names})[0]
    mask = enc["attention_mask"].numpy().astype(bool)
    diff = float(np.abs(got - ref)[mask].max())
    if not diff <= atol:
        raise BackendError(
            f"cannot export {spec_name} to ONNX: the exported graph differs from torch by {diff:.3g} on a probe batch"
        )


# ------------------------------------------------------------------------------------------------ runtimes


def _runtime_module(run, config, names: list[str]):
    """An nn.Module standing in for the HF model inside sentence-transformers' Transformer module."""
    import torch
    from transformers.modeling_outputs import BaseModelOutput

    class RuntimeModel(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.config = config
            self.input_names = names

        def forward(self, return_dict: bool = True, **kwargs):
            feeds = {k: kwargs[k].cpu().numpy() for k in names if k in kwargs}
            if "token_type_ids" in names and "token_type_ids" not in feeds:
                feeds["token_type_ids"] = kwargs["input_ids"].new_zeros(kwargs["input_ids"].shape).cpu().numpy()
            return BaseModelOutput(last_hidden_state=torch.from_numpy(run(feeds)))

    return RuntimeModel()


def _ort_runner(path: Path, threads: int):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return lambda feeds: sess.run(["last_hidden_state"], feeds)[0]


def _openvino_runner(path: Path, threads: int, precision: str):
    import numpy as np
    import openvino as ov

    core = ov.Core()
    compiled = core.compile_model(
        str(path),
        "CPU",
        {"INFERENCE_PRECISION_HINT": precision, "INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"},
    )
    request = compiled.create_infer_request()

    def run(feeds):
        request.infer(feeds)
        return np.array(request.get_output_tensor(0).data, dtype=np.float32, copy=True)

    return run


def apply_backend(model, name: str, spec_name: str, identity: str, cache_dir: Path, threads: int | None = None) -> dict:
    """Switch a loaded (torch, fp32) SentenceTransformer to backend `name` in place; return what it ran on.

    Exports go to `<cache_dir>/exports/<identity hash>/` once; a failed export leaves nothing there.
    """
    b = check_backend(name)
    n = set_threads(threads)
    info = {
        "backend": name,
        "runtime": b.runtime,
        "quantization": b.quantization,
        "threads": n,
        "versions": runtime_versions(name),
    }
    if name == "torch":
        return info
    if name == "torch-int8":
        import torch

        for tm in _transformers(model) or [model]:
            target = tm.model if hasattr(tm, "model") else tm
            q = torch.ao.quantization.quantize_dynamic(target, {torch.nn.Linear}, dtype=torch.qint8)
            if hasattr(tm, "model"):
                tm.model = q
        return info
    folder = export_dir(cache_dir, identity)
    files = export_onnx(model, spec_name, folder, quantize=b.quantization == "int8-dynamic")
    for tm, (path, names) in zip(_transformers(model), files):
        if b.runtime == "onnxruntime":
            run = _ort_runner(path, n)
        else:
            run = _openvino_runner(path, n, "bf16" if b.quantization == "bf16" else "f32")
        tm.model = _runtime_module(run, tm.model.config, names)
        tm.model_forward_params = set(names) | {"return_dict"}
    info["export"] = str(folder)
    return info
