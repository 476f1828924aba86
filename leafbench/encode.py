"""Encoder(model, side): prompts by side, length-sorted batches, token counts, and the store in front.

The model is loaded only when some shard actually has to be encoded, so a cached run stays cheap.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import UserError
from .registry import ModelError, ModelSpec
from .store import EmbeddingStore, EncodeStats, EncodingKey, StoredRows

log = logging.getLogger(__name__)

PRECISIONS = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


def default_device() -> str:
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


class DeviceError(UserError):
    """A --device torch cannot parse, or one this machine does not have: one line, exit code 2."""


def check_device(device: str | None, here: bool = True) -> None:
    """Refuse a --device torch cannot parse (``gpu7``) or, with `here` (encoding in this process), one this machine
    does not have (``cuda`` without CUDA, ``cuda:3`` with two GPUs, ``mps`` off Apple silicon): one line naming the
    option, before any model is loaded or text encoded. Ray workers may run elsewhere: only the spelling is checked."""
    if device is None:
        return
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError, TypeError) as e:
        first = (str(e).strip().splitlines() or [""])[0]
        raise DeviceError(
            f"--device {device!r}: not a device torch knows ({first}); e.g. cpu, cuda, cuda:0, mps"
        ) from None
    if not here or dev.type == "cpu":
        return
    backend = torch.backends.mps if dev.type == "mps" else getattr(torch, dev.type, None)
    available = getattr(backend, "is_available", None)
    if not callable(available) or not available():
        raise DeviceError(f"--device {device}: this machine has no {dev.type} device torch can use; e.g. --device cpu")
    count = getattr(backend, "device_count", None)
    n = count() if callable(count) else None
    if dev.index is not None and n is not None and dev.index >= n:
        raise DeviceError(f"--device {device}: this machine has {n} {dev.type} device(s) (0 to {n - 1})")


@dataclass
class EncodeResult:
    """The stored rows of one text list (memory-mapped, in order) and what producing them cost."""

    rows: StoredRows  # float32 [n, dim], full dimension, as the model outputs them
    stats: EncodeStats
    side: str
    prompt: str
    _array: np.ndarray | None = None

    @property
    def embeddings(self) -> np.ndarray:
        """All rows as one in-memory array (query sides, small tasks, training); big corpora stream `rows`."""
        if self._array is None:
            self._array = np.asarray(self.rows)
        return self._array


class Encoder:
    """One model behind the store. `encode(texts, side)` is the only entry point the harness uses."""

    def __init__(
        self,
        spec: ModelSpec,
        store: EmbeddingStore,
        device: str | None = None,
        batch_size: int = 32,
        engine: Any = None,
        cache_dir: Path | None = None,
    ) -> None:
        """`cache_dir`: where exported backends (ONNX, OpenVINO) are kept (leafbench.workspace's layout); default:
        the default cache."""
        if spec.precision not in PRECISIONS:
            raise ModelError(f"--precision must be one of {sorted(PRECISIONS)}, not {spec.precision!r}")
        from .backends import check_backend

        check_backend(spec.backend)
        if spec.backend != "torch" and spec.precision != "fp32":
            raise ModelError(
                f"precision {spec.precision} applies to the torch backend only; backend {spec.backend} runs its own precision"
            )
        self.spec = spec
        self.store = store
        self.device = device
        self.batch_size = batch_size
        self.engine = engine  # None: encode here; else e.g. leafbench.engine.RayEngine
        self.cache_dir = cache_dir
        self._model = None
        self._identity: str | None = None
        self.backend_info: dict = {}  # what the backend ran on (threads, runtime versions), once loaded
        self.calls: list[tuple[str, int]] = []  # (side, n_texts) actually sent to the network, for routing checks

    @property
    def identity(self) -> str:
        if self._identity is None:
            self._identity = self.spec.identity()
        return self._identity

    @property
    def model(self):
        """The SentenceTransformer, loaded on first use."""
        if self._model is None:
            self._model = load_sentence_transformer(
                self.spec,
                self.device,
                identity=self.identity,
                info=self.backend_info,
                cache_dir=self.cache_dir,
            )
        return self._model

    def key(self, side: str) -> EncodingKey:
        return EncodingKey(
            model_id=self.identity,
            side=side,
            prompt=self.spec.prompt(side),
            max_seq_length=self.spec.max_seq_length,
            precision=self.spec.precision,
            backend=self.spec.backend,
        )

    def encode_batchwise(
        self, texts: list[str], side: str, on_batch: Callable[[int], None] | None = None
    ) -> tuple[np.ndarray, int]:
        """Encode without the store: longest texts first so each batch pads little; returns (emb, n_tokens)."""
        model = self.model
        prompt = self.spec.prompt(side)
        self.calls.append((side, len(texts)))
        order = np.argsort([-len(t) for t in texts], kind="stable")
        # sentence-transformers routes by task: a Router model (e.g. a LEAF student for queries, its teacher for
        # documents) sends each side through its own modules; plain models ignore it.
        route = {"task": side} if side in ("query", "document") else {}
        out: np.ndarray | None = None
        n_tokens = 0
        for start in range(0, len(texts), self.batch_size):
            idx = order[start : start + self.batch_size]
            batch = [texts[i] for i in idx]
            emb = model.encode(
                batch,
                prompt=prompt or None,
                batch_size=len(batch),
                show_progress_bar=False,
                convert_to_numpy=True,
                normalize_embeddings=False,
                **route,
            )
            emb = np.asarray(emb, dtype=np.float32)
            if out is None:
                out = np.empty((len(texts), emb.shape[1]), dtype=np.float32)
            out[idx] = emb
            n_tokens += count_tokens(model, [prompt + t for t in batch] if prompt else batch)
            if on_batch:
                on_batch(len(batch))
        assert out is not None
        return out, n_tokens

    def encode(
        self,
        texts: Sequence[str],
        side: str,
        progress: Callable[[int], None] | None = None,
    ) -> EncodeResult:
        """Rows for `texts` on `side`: served from the store, the missing ones encoded by this process or, when
        an engine is set (`leafbench.engine`), by that engine's workers writing into the same store."""
        if len(texts) == 0:
            raise ValueError("nothing to encode: the text list is empty")
        key = self.key(side)
        engine = file_engine = None
        if self.engine is not None:
            engine = lambda k, todo, prog: self.engine.encode(self, side, k, todo, prog)  # noqa: E731
            if hasattr(self.engine, "encode_file"):  # workers that read a streamed corpus's file themselves
                file_engine = lambda k, src, keys, prog: self.engine.encode_file(  # noqa: E731
                    self, side, src.path, keys, prog
                )
        rows, stats = self.store.get_or_encode(
            key,
            texts,
            lambda chunk: self.encode_batchwise(chunk, side, on_batch=progress),
            progress=progress,
            # load (and export, for non-torch backends) only when something is missing; a failure stores nothing
            prepare=(lambda: self.model) if engine is None else None,
            engine=engine,
            batch_size=self.batch_size,
            file_engine=file_engine,
        )
        return EncodeResult(rows, stats, side, self.spec.prompt(side))


def count_tokens(model, texts: list[str]) -> int:
    """Tokens the model actually reads (after truncation to max_seq_length, special tokens included)."""
    tok = getattr(model, "tokenizer", None)
    if tok is None:
        return sum(len(t.split()) for t in texts)
    enc = tok(texts, truncation=True, max_length=model.max_seq_length, add_special_tokens=True)
    return sum(len(ids) for ids in enc["input_ids"])


def load_sentence_transformer(
    spec: ModelSpec,
    device: str | None = None,
    identity: str | None = None,
    info: dict | None = None,
    cache_dir: Path | None = None,
):
    """A SentenceTransformer on `spec.backend` (torch, or an export in `cache_dir`/exports run by ONNX Runtime or
    OpenVINO on CPU); `info` receives what the backend ran on (threads, runtime versions, export folder)."""
    if spec.extra.get("hash_dim"):  # the deterministic fake encoder (leafbench.fake): nothing to load
        from .fake import HashModel

        return HashModel(int(spec.extra["hash_dim"]), float(spec.extra.get("ms_per_text") or 0))
    if spec.extra.get("encoder_object") is not None:  # a user's mteb encoder object: it runs as it is
        from .user_encoder import ObjectModel

        return ObjectModel(spec.extra["encoder_object"], spec.name)
    import torch
    from sentence_transformers import SentenceTransformer

    from .backends import apply_backend, check_backend

    if check_backend(spec.backend).runtime != "torch":
        device = "cpu"
    device = device or default_device()
    kwargs: dict = {"device": device}
    if not spec.local and spec.revision:
        kwargs["revision"] = spec.revision
    if spec.precision != "fp32":
        kwargs["model_kwargs"] = {"torch_dtype": getattr(torch, PRECISIONS[spec.precision])}
    log.info("loading %s on %s (%s)", spec.source, device, spec.precision)
    try:
        model = SentenceTransformer(spec.source, trust_remote_code=False, **kwargs)
    except OSError as e:
        from .registry import model_load_error

        raise model_load_error(spec, e) from e  # a RuntimeError (as before) and a ModelError: one line for users
    if spec.precision != "fp32":
        model = model.to(getattr(torch, PRECISIONS[spec.precision]))
    if spec.max_seq_length is not None:
        model.max_seq_length = spec.max_seq_length
    from .registry import cache_root

    ran = apply_backend(
        model,
        spec.backend,
        spec.name,
        identity or spec.identity(),
        cache_root(cache_dir),
        spec.threads,
    )
    if info is not None:
        info.update(ran)
    return model


#: Model types whose learned position table starts after the padding index (RoBERTa family: 514 rows, 512 usable).
_OFFSET_POSITIONS = frozenset(
    {"roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "mpnet", "longformer", "data2vec-text", "ibert"}
)


def _config_positions(cfg: dict) -> int | None:
    """The longest input a transformers config's position table takes; None where it has none (relative
    positions, xlnet's -1)."""
    n = cfg.get("max_position_embeddings")
    if type(n) is not int or n <= 0:
        text = cfg.get("text_config")
        return _config_positions(text) if isinstance(text, dict) else None
    if cfg.get("model_type") in _OFFSET_POSITIONS and type(cfg.get("pad_token_id")) is int:
        n -= cfg["pad_token_id"] + 1
    return n


def max_positions(spec: ModelSpec) -> int | None:
    """The longest input (in tokens) the model's position embeddings take, from its config files alone (a local
    folder and its module folders; a hub model's config.json from the Hugging Face cache, or the hub when online),
    so a --max-seq-length beyond it fails before any encoding instead of crashing in the middle of it. None when
    unknown (the fake encoder, a model whose config cannot be read)."""
    import json

    if spec.extra.get("hash_dim") or spec.extra.get("encoder_object") is not None:
        return None
    if spec.local:
        folder = Path(spec.source)
        paths = [folder / "config.json", *sorted(folder.glob("*/config.json"))]  # Router models: one per route
    else:
        try:
            from huggingface_hub import hf_hub_download

            paths = [Path(hf_hub_download(spec.hf_id or spec.source, "config.json", revision=spec.revision))]
        except Exception:  # noqa: BLE001 - not cached offline, no network, no config.json: unknown
            return None
    limits = []
    for path in paths:
        try:
            cfg = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        n = _config_positions(cfg) if isinstance(cfg, dict) else None
        if n is not None:
            limits.append(n)
    return min(limits, default=None)


def embedding_dim(spec: ModelSpec) -> int | None:
    """Output dim from metadata alone (modules' configs / mteb registry), so dim mismatches fail before encoding."""
    import json
    from pathlib import Path

    if spec.extra.get("hash_dim"):
        return int(spec.extra["hash_dim"])
    if spec.extra.get("encoder_object") is not None:
        from .user_encoder import embed_dim

        return embed_dim(spec)
    if spec.local:
        folder = Path(spec.source)
        dim = None
        try:
            modules = json.loads((folder / "modules.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        for m in modules:
            cfg_path = folder / m.get("path", "") / "config.json"
            if m.get("path") and cfg_path.exists():
                cfg = json.loads(cfg_path.read_text())
                dim = cfg.get("out_features", cfg.get("word_embedding_dimension", dim))
        if dim is None and (folder / "config.json").exists():
            dim = json.loads((folder / "config.json").read_text()).get("hidden_size")
        return dim
    from .registry import _mteb_meta

    meta = _mteb_meta(spec.hf_id or spec.source)
    return getattr(meta, "embed_dim", None) if meta is not None else None
