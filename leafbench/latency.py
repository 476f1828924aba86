"""What LEAF sells: batch-1 query latency and bulk throughput on CPU, per model and backend.

`measure_latency(spec, queries, passages)` loads one model on one backend and measures

- **batch-1 query latency**: each query encoded alone, end to end (tokenise, forward, pool, normalise), as a
  server would, after `warmup` untimed queries; p50 / p95 / p99 / mean in milliseconds;
- **bulk throughput**: the passages encoded by leafbench's own batching (`Encoder.encode_batchwise`: longest
  first, `batch_size` per forward), in texts/s and tokens/s, with the FLOPs the transformer spent on the padded
  batches (2·params-per-token GEMMs + attention), so GFLOP/s can be set against the machine's GEMM peaks
  (`gemm_peaks`).

`LatencyReport` holds several such results (student and teacher, each backend) and the teacher/student p50
ratio per backend — the paper's 6.4x (leaf-ir vs arctic-embed-m-v1.5, ONNX Runtime, CPU) is that number.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import UserError
from .registry import ModelSpec

if TYPE_CHECKING:
    from .data import DataPath

LATENCY_FORMAT = 1
PAPER_REFERENCE = {
    "source": "LEAF (arXiv 2509.12539): batch-1 query latency, CPU, ONNX Runtime",
    "leaf-ir_ms": 11.4,
    "arctic-embed-m-v1.5_ms": 73.2,
    "ratio_ir": 6.4,
    "leaf-mt_ms": 11.5,
    "mxbai-embed-large-v1_ms": 236.0,
    "ratio_mt": 20.5,
}


@dataclass
class LatencyResult:
    model: str
    identity: str
    backend: str
    threads: int
    precision: str
    max_seq_length: int | None
    prompt: str
    latency_ms: dict[str, float]  # p50, p95, p99, mean, min over batch-1 queries
    n_queries: int
    warmup: int
    bulk: dict[str, Any]  # batch_size, n_texts, seconds, texts_per_s, tokens, padded_tokens, gflop, gflops_per_s
    load_seconds: float  # load (and export on a first run of a non-torch backend)
    backend_info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "LatencyResult":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


@dataclass
class LatencyReport:
    results: list[LatencyResult]
    student: str
    teacher: str | None = None
    machine: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)  # where the queries and passages came from
    format: int = LATENCY_FORMAT

    def ratios(self) -> dict[str, dict[str, float]]:
        """Per backend: teacher / student batch-1 p50 latency and student / teacher bulk throughput."""
        out: dict[str, dict[str, float]] = {}
        if not self.teacher:
            return out
        by = {(r.model, r.backend): r for r in self.results}
        for (model, backend), s in by.items():
            t = by.get((self.teacher, backend))
            if model != self.student or t is None:
                continue
            out[backend] = {
                "p50_latency": t.latency_ms["p50"] / s.latency_ms["p50"],
                "bulk_throughput": s.bulk["texts_per_s"] / t.bulk["texts_per_s"],
            }
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "kind": "leafbench-latency",
            "student": self.student,
            "teacher": self.teacher,
            "machine": self.machine,
            "data": self.data,
            "ratios": self.ratios(),
            "paper_reference": PAPER_REFERENCE,
            "results": [r.to_dict() for r in self.results],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "LatencyReport":
        if d.get("kind") != "leafbench-latency":
            raise UserError("not a leafbench latency result (kind != leafbench-latency)")
        return cls(
            results=[LatencyResult.from_dict(r) for r in d["results"]],
            student=d["student"],
            teacher=d.get("teacher"),
            machine=d.get("machine", {}),
            data=d.get("data", {}),
            format=d.get("format", LATENCY_FORMAT),
        )

    def write(self, path: Path) -> Path:
        from .record import relativize, write_result

        write_result(Path(path), relativize(self.to_dict()))  # no machine paths (data folder, export folder)
        return Path(path)

    @classmethod
    def read(cls, path: Path) -> "LatencyReport":
        return cls.from_dict(json.loads(Path(path).read_text()))


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    a = np.asarray(samples_ms, dtype=np.float64)
    if a.size == 0:
        raise ValueError("no latency samples")
    return {
        "p50": float(np.percentile(a, 50)),
        "p95": float(np.percentile(a, 95)),
        "p99": float(np.percentile(a, 99)),
        "mean": float(a.mean()),
        "min": float(a.min()),
    }


def transformer_flops(config: Any, batch: int, seq: int) -> float:
    """FLOPs of one forward of a BERT-like encoder on a [batch, seq] padded batch: per layer the four d x d
    projections and the two d x ff MLP GEMMs (2 FLOPs per multiply-add) plus QK^T and attention x V."""
    d = config.hidden_size
    ff = getattr(config, "intermediate_size", 4 * d)
    layers = config.num_hidden_layers
    per_layer = 2 * seq * (4 * d * d + 2 * d * ff) + 4 * seq * seq * d
    return float(batch * layers * per_layer)


def _transformer_config(model) -> Any | None:
    from .backends import _transformers

    tms = _transformers(model)
    return tms[0].model.config if tms else None


def machine_info() -> dict[str, Any]:
    flags: set[str] = set()
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and cpu in ("", platform.machine(), platform.processor()):
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "avx_vnni")
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "flags": [f for f in wanted if f in flags],
        "loadavg_1m": os.getloadavg()[0],
        "python": platform.python_version(),
    }


def measure_latency(
    spec: ModelSpec,
    queries: list[str],
    passages: list[str],
    warmup: int = 10,
    batch_size: int = 32,
    cache_dir: Path | None = None,
) -> LatencyResult:
    """Load `spec` on its backend (spec.backend, spec.threads) and measure batch-1 query latency and bulk
    throughput. Queries get the model's query prompt; passages its document prompt."""
    from .encode import Encoder
    from .workspace import Workspace

    if not queries:
        raise UserError("measure_latency needs at least one query")
    ws = Workspace.cache_only(cache_dir)
    enc = Encoder(spec, ws.store(), device="cpu", batch_size=batch_size, cache_dir=ws.cache)
    t0 = time.perf_counter()
    model = enc.model  # nothing is written to the store: only encode_batchwise below
    load_seconds = time.perf_counter() - t0
    prompt = spec.prompt("query")
    route = {"task": "query"}

    def one(q: str) -> None:
        model.encode([q], prompt=prompt or None, batch_size=1, show_progress_bar=False, convert_to_numpy=True, **route)

    for i in range(warmup):
        one(queries[i % len(queries)])
    samples = []
    for q in queries:
        t = time.perf_counter_ns()
        one(q)
        samples.append((time.perf_counter_ns() - t) / 1e6)

    bulk: dict[str, Any] = {"batch_size": batch_size, "n_texts": len(passages)}
    if passages:
        enc.encode_batchwise(passages[: min(batch_size, len(passages))], "document")  # warm-up at bulk shapes
        t = time.perf_counter()
        _, n_tokens = enc.encode_batchwise(passages, "document")
        seconds = time.perf_counter() - t
        padded, flops = _padded_work(model, spec.prompt("document"), passages, batch_size)
        bulk.update(
            seconds=seconds,
            texts_per_s=len(passages) / seconds,
            tokens=n_tokens,
            tokens_per_s=n_tokens / seconds,
            padded_tokens=padded,
            gflop=flops / 1e9,
            gflops_per_s=flops / 1e9 / seconds,
        )
    return LatencyResult(
        model=spec.name,
        identity=enc.identity,
        backend=spec.backend,
        threads=int(enc.backend_info.get("threads", 0)),
        precision=spec.precision,
        max_seq_length=model.max_seq_length,
        prompt=prompt,
        latency_ms=percentiles(samples),
        n_queries=len(queries),
        warmup=warmup,
        bulk=bulk,
        load_seconds=load_seconds,
        backend_info=enc.backend_info,
    )


def _padded_work(model, prompt: str, texts: list[str], batch_size: int) -> tuple[int, float]:
    """(padded tokens, transformer FLOPs) of encoding `texts` the way Encoder.encode_batchwise batches them."""
    config = _transformer_config(model)
    order = np.argsort([-len(t) for t in texts], kind="stable")
    padded, flops = 0, 0.0
    for start in range(0, len(texts), batch_size):
        batch = [(prompt + texts[i]) if prompt else texts[i] for i in order[start : start + batch_size]]
        ids = model.tokenizer(batch, truncation=True, max_length=model.max_seq_length, add_special_tokens=True)[
            "input_ids"
        ]
        seq = max(len(x) for x in ids)
        padded += seq * len(batch)
        if config is not None:
            flops += transformer_flops(config, len(batch), seq)
    return padded, flops


def gemm_peaks(
    threads: int | None = None, m: int = 2048, k: int = 1024, n: int = 1024, repeats: int = 5
) -> dict[str, float]:
    """Measured GEMM GFLOP/s of this machine: torch fp32 and bf16 matmul, and int8 (u8 x s8 -> s32
    MatMulInteger in ONNX Runtime, the kernel its int8 models use; absent without onnxruntime)."""
    import torch

    from .backends import set_threads

    threads = set_threads(threads)
    flop = 2.0 * m * k * n
    out: dict[str, float] = {"threads": threads, "m": m, "k": k, "n": n}

    def best(fn) -> float:
        fn()
        ts = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
        return flop / min(ts) / 1e9

    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a, b = torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)
        with torch.inference_mode():
            out[name] = best(lambda: torch.mm(a, b))
    try:
        import onnxruntime as ort
        from onnx import TensorProto, helper

        g = helper.make_graph(
            [helper.make_node("MatMulInteger", ["A", "B"], ["Y"])],
            "mmi",
            [
                helper.make_tensor_value_info("A", TensorProto.UINT8, [m, k]),
                helper.make_tensor_value_info("B", TensorProto.INT8, [k, n]),
            ],
            [helper.make_tensor_value_info("Y", TensorProto.INT32, [m, n])],
        )
        proto = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
        proto.ir_version = 8
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        sess = ort.InferenceSession(proto.SerializeToString(), so, providers=["CPUExecutionProvider"])
        rng = np.random.default_rng(0)
        feeds = {"A": rng.integers(0, 255, (m, k), dtype=np.uint8), "B": rng.integers(-127, 127, (k, n), dtype=np.int8)}
        out["int8"] = best(lambda: sess.run(None, feeds))
    except ImportError:
        pass
    return out


def benchmark_texts(
    folder: DataPath | str, n_queries: int | None = None, n_passages: int = 500, seed: int = 0
) -> tuple[list[str], list[str], dict[str, Any]]:
    """Real queries and passages from a BEIR folder (e.g. SciFact): the test queries in file order (first
    `n_queries`), and a seeded sample of `n_passages` corpus texts (title + text, as retrieval encodes them)."""
    from .data import data_location, load_beir_folder, take_items

    data = load_beir_folder(folder, "test")
    queries = list(data.query_texts[:n_queries] if n_queries else data.query_texts)
    rng = np.random.default_rng(seed)
    n = min(n_passages, len(data.corpus_texts))
    idx = sorted(rng.choice(len(data.corpus_texts), n, replace=False).tolist()) if n else []
    passages = take_items(data.corpus_texts, idx)  # one pass over a streamed corpus
    info = {
        "folder": str(data_location(folder).resolve()),
        "task": data.task_name,
        "split": "test",
        "n_queries": len(queries),
        "n_passages": len(passages),
        "passage_seed": seed,
    }
    return queries, passages, info


def run_latency(
    student: ModelSpec,
    teacher: ModelSpec | None,
    backends: list[str],
    queries: list[str],
    passages: list[str],
    data_info: dict[str, Any] | None = None,
    warmup: int = 10,
    batch_size: int = 32,
    cache_dir: Path | None = None,
    progress=None,
) -> LatencyReport:
    """Student (and teacher) on every backend, one after the other, into one LatencyReport."""
    from dataclasses import replace

    results = []
    for backend in backends:
        for spec in [student] + ([teacher] if teacher else []):
            if progress:
                progress(f"{spec.name} on {backend}")
            results.append(
                measure_latency(replace(spec, backend=backend), queries, passages, warmup, batch_size, cache_dir)
            )
    return LatencyReport(results, student.name, teacher.name if teacher else None, machine_info(), data_info or {})
