"""A user's encoder object behind the harness: any object implementing mteb's EncoderProtocol, i.e.
``encode(inputs: DataLoader[BatchedInput], *, task_metadata, hf_split, hf_subset, prompt_type=None, **kwargs)``
(what ``mteb.get_model`` returns, or a class of one's own).

Unlike a SentenceTransformer it cannot be saved or hashed by its weights, so the user names it: :func:`object_spec`
makes a :class:`~leafbench.registry.ModelSpec` whose identity is ``object:<name>@<revision>`` (name and revision as
given, else the object's ``mteb_model_meta``), recorded with ``user_object`` (its class) in every result. Its
vectors are stored and its results reused under that identity like any model's: only the same name and revision
find them again, so the revision must change whenever the encoder's vectors do.

:class:`ObjectModel` is the slice of SentenceTransformer's interface :class:`leafbench.encode.Encoder` uses (as
:class:`leafbench.fake.HashModel` is): each batch of texts goes to the object's ``encode`` as an mteb DataLoader of
``{"text": [...]}`` batches, with ``prompt_type`` query or document for the two retrieval sides and None for texts
without a role (STS, classification, ...). The store keeps vectors per model, side and text, shared by every task,
so ``task_metadata`` is a generic one (name ``leafbench``, no task type) and ``hf_split``/``hf_subset`` are empty:
an encoder whose vectors depend on the task (per-task instructions) does not fit this cache.
"""

from __future__ import annotations

import inspect
from functools import cache
from typing import Any

import numpy as np

from .errors import UserError
from .registry import ModelSpec

ENCODE_KEYWORDS = ("task_metadata", "hf_split", "hf_subset", "prompt_type")
SOURCE_PREFIX = "object:"


def is_encoder_object(model: Any) -> bool:
    """Anything that is not a name, folder or SentenceTransformer is treated as an encoder object (and checked)."""
    return model is not None and not isinstance(model, (str, bytes)) and not hasattr(model, "__fspath__")


def check_encoder(obj: Any, option: str) -> None:
    """One line naming what `obj` lacks to be an mteb encoder: an ``encode`` method taking mteb's keywords."""
    what = type(obj).__name__
    encode = getattr(obj, "encode", None)
    if not callable(encode):
        raise UserError(
            f"--{option}: expected a model name, hub id, folder, SentenceTransformer or mteb encoder, not {what}: "
            "it has no encode(inputs, *, task_metadata, hf_split, hf_subset, prompt_type) method"
        )
    try:
        params = inspect.signature(encode).parameters
    except (TypeError, ValueError):  # a builtin or C method: nothing to read, it is called and checked then
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    missing = [k for k in ENCODE_KEYWORDS if k not in params]
    if missing:
        raise UserError(
            f"--{option}: {what}.encode does not take mteb's keyword(s) {', '.join(missing)}: an mteb encoder's "
            "encode is encode(inputs, *, task_metadata, hf_split, hf_subset, prompt_type=None, **kwargs)"
        )


def object_spec(obj: Any, name: str | None, revision: str | None, option: str) -> ModelSpec:
    """The ModelSpec of an encoder object: named by `name` (else ``mteb_model_meta.name``) at `revision` (else
    ``mteb_model_meta.revision``); both are required, since nothing else can tell two encoders apart."""
    check_encoder(obj, option)
    meta = getattr(obj, "mteb_model_meta", None)
    name = name or getattr(meta, "name", None)
    revision = revision or getattr(meta, "revision", None)
    what = type(obj).__name__
    flag = "name=" if option == "model" else "mteb_model_meta.name"
    if not name:
        raise UserError(f"--{option}: a {what} object needs a name: pass {flag} (its results and cache carry it)")
    flag = "model_revision=" if option == "model" else "mteb_model_meta.revision"
    if not revision:
        raise UserError(
            f"--{option}: a {what} object needs a revision: pass {flag} (change it whenever its vectors change: "
            "results and vectors stored under the same name and revision are reused)"
        )
    return ModelSpec(
        name=str(name),
        source=f"{SOURCE_PREFIX}{name}",
        revision=str(revision),
        extra={"encoder_object": obj, "user_object": f"{type(obj).__module__}.{type(obj).__qualname__}"},
    )


def embed_dim(spec: ModelSpec) -> int | None:
    """The object's output dim where its ``mteb_model_meta`` says (None: known once it has encoded)."""
    dim = getattr(getattr(spec.extra.get("encoder_object"), "mteb_model_meta", None), "embed_dim", None)
    return dim if isinstance(dim, int) else None


@cache
def neutral_task_metadata() -> Any:
    """The task metadata every call carries: vectors are stored per model, side and text, whatever the task."""
    from mteb.abstasks.task_metadata import TaskMetadata

    return TaskMetadata.model_construct(
        name="leafbench",
        description="texts leafbench encodes for any task (vectors are shared by every task)",
        dataset={"path": "leafbench", "revision": "local"},
        type=None,
        modalities=["text"],
        eval_langs=[],
        main_score="",
    )


class ObjectModel:
    """An encoder object as :class:`leafbench.encode.Encoder` calls a model: ``encode(texts, prompt=, batch_size=,
    task=side)`` -> float32 [n, dim]; no tokenizer (token counts are word counts), no length setting."""

    tokenizer = None
    max_seq_length = None

    def __init__(self, obj: Any, name: str) -> None:
        self.obj = obj
        self.name = name

    def encode(self, sentences: list[str], batch_size: int = 32, task: str | None = None, **_: Any) -> np.ndarray:
        from mteb.types import PromptType
        from torch.utils.data import DataLoader

        loader = DataLoader([{"text": s} for s in sentences], batch_size=batch_size)
        prompt_type = {"query": PromptType.query, "document": PromptType.document}.get(task or "")
        out = self.obj.encode(
            loader, task_metadata=neutral_task_metadata(), hf_split="", hf_subset="", prompt_type=prompt_type
        )
        if hasattr(out, "detach"):  # a torch tensor
            out = out.detach().float().cpu().numpy()
        arr = np.asarray(out, dtype=np.float32)
        if arr.ndim != 2 or arr.shape[0] != len(sentences):
            raise UserError(
                f"{self.name}: encode returned an array of shape {arr.shape} for {len(sentences)} texts; expected "
                f"({len(sentences)}, dim)"
            )
        return arr
