"""Model resolution: aliases, teachers, prompts from mteb's registry, local folders, manifests, offline models."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from leafbench.encode import embedding_dim, max_positions
from leafbench.registry import ALIASES, MANIFEST_NAME, ModelError, describe_aliases, resolve_model


def test_leaf_aliases_take_revision_and_prompts_from_mteb() -> None:
    import mteb

    for alias, teacher in (("leaf-ir", "arctic-embed-m-v1.5"), ("leaf-mt", "mxbai-embed-large-v1")):
        spec = resolve_model(alias)
        meta = mteb.get_model_meta(spec.hf_id)
        assert spec.revision == meta.revision and spec.revision
        assert spec.query_prompt == meta.loader_kwargs["model_prompts"]["query"]
        assert spec.query_prompt.startswith("Represent this sentence for searching relevant passages")
        assert spec.document_prompt == ""
        assert spec.teacher == teacher
        assert spec.identity() == f"{meta.name}@{meta.revision}"
        # Output dims are known without downloading: the pair shares one space.
        assert embedding_dim(spec) == embedding_dim(resolve_model(teacher)) == meta.embed_dim


def test_offline_minilm_resolves_to_packaged_folder_with_content_identity(minilm_spec) -> None:
    assert minilm_spec.local and (Path(minilm_spec.source) / "modules.json").exists()
    assert minilm_spec.identity().startswith("local:")
    assert minilm_spec.hf_id == "sentence-transformers/all-MiniLM-L6-v2"
    assert embedding_dim(minilm_spec) == 384


def test_local_folder_manifest_names_teacher_and_identity_follows_weights(tmp_path: Path, minilm_spec) -> None:
    folder = tmp_path / "student"
    shutil.copytree(minilm_spec.source, folder)
    (folder / MANIFEST_NAME).write_text(json.dumps({"teacher": "mpnet-base", "query_prompt": "q: "}))
    spec = resolve_model(str(folder))
    assert spec.teacher == "mpnet-base" and spec.query_prompt == "q: " and spec.local
    assert spec.slug == "student"  # no name in the manifest: the folder's
    (folder / MANIFEST_NAME).write_text(json.dumps({"teacher": "mpnet-base", "query_prompt": "q: ", "name": "leaf-x"}))
    assert resolve_model(str(folder)).slug == "leaf-x"  # results of runs/leaf-x/final go under leaf-x, not "final"
    assert resolve_model(str(folder)).identity() == minilm_spec.identity()  # the manifest is not part of identity
    # Identity is content-based: same weights elsewhere -> same identity; changed weights -> new identity.
    assert spec.identity() == minilm_spec.identity()
    with (folder / "model.safetensors").open("ab") as f:
        f.write(b"\0")
    assert resolve_model(str(folder)).identity() != minilm_spec.identity()


def test_hub_id_with_revision_and_unknown_names() -> None:
    spec = resolve_model("someorg/some-model@abc123")
    assert spec.hf_id == "someorg/some-model" and spec.revision == "abc123" and not spec.local
    with pytest.raises(ModelError) as e:
        resolve_model("leaf-irr")
    assert all(a in str(e.value) for a in ALIASES)


def test_bad_manifest_names_file_and_line(tmp_path: Path, minilm_spec) -> None:
    folder = tmp_path / "bad"
    shutil.copytree(minilm_spec.source, folder)
    (folder / MANIFEST_NAME).write_text('{\n  "teacher": "x",\n  oops\n}')
    with pytest.raises(ModelError, match=r"leafbench.json:3: invalid JSON"):
        resolve_model(str(folder))


def test_describe_aliases_lists_every_alias_without_loading() -> None:
    rows = describe_aliases()
    assert [r["alias"] for r in rows] == list(ALIASES)
    leaf_ir = next(r for r in rows if r["alias"] == "leaf-ir")
    assert leaf_ir["teacher"] == "arctic-embed-m-v1.5" and "MongoDB/mdbr-leaf-ir" in leaf_ir["model"]


@pytest.mark.integration
def test_mpnet_assembles_from_the_five_wheel_parts(tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers")
    from leafbench.registry import _mpnet_part_files, install_mpnet

    try:
        _mpnet_part_files()
    except ModelError as e:
        pytest.skip(str(e)) if __import__("os").environ.get("CI") != "true" else pytest.fail(str(e))
    path = install_mpnet(tmp_path)
    assert (path / "modules.json").exists() and (path / "model.safetensors").stat().st_size > 400_000_000
    assert not list(path.rglob("desktop.ini"))
    spec = resolve_model("mpnet-base", cache_dir=tmp_path)
    assert spec.source == str(path) and embedding_dim(spec) == 768


# --------------------------------------------------------------------------- hub revisions (no network: mocked)

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture()
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """A fake hub: `calls` records model_info lookups; `sha` is what the hub says a ref is now (None: unreachable).
    HF_HUB_CACHE points at an empty tmp cache; mteb's registry knows none of these models."""
    import huggingface_hub

    from leafbench import registry
    from leafbench.offline import OFFLINE_VARIABLES

    state = {"sha": SHA, "calls": []}

    def model_info(self, repo_id, *, revision=None, timeout=None, **kw):  # noqa: ANN001, ANN003
        state["calls"].append((repo_id, revision))
        if state["sha"] is None:
            raise OSError("no network")
        return type("Info", (), {"sha": state["sha"]})()

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", model_info)
    monkeypatch.setattr(registry, "_mteb_meta", lambda hf_id: None)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    for variable in OFFLINE_VARIABLES:  # CI sets both HF_HUB_OFFLINE and TRANSFORMERS_OFFLINE
        monkeypatch.delenv(variable, raising=False)
    return state


def _cache_ref(tmp_path: Path, repo: str, ref: str, sha: str) -> None:
    folder = tmp_path / "hf" / ("models--" + repo.replace("/", "--")) / "refs"
    folder.mkdir(parents=True)
    (folder / ref).write_text(sha)


def test_online_hub_model_is_resolved_to_a_commit(hub) -> None:
    spec = resolve_model("someorg/some-model")
    assert (spec.revision, spec.pinned, spec.extra["revision_from"]) == (SHA, True, "hub:main")
    assert spec.identity() == f"someorg/some-model@{SHA}" and hub["calls"] == [("someorg/some-model", "main")]
    tagged = resolve_model("someorg/some-model@v1.0")
    assert tagged.revision == SHA and tagged.extra["requested_revision"] == "v1.0" and hub["calls"][-1][1] == "v1.0"


def test_a_commit_is_used_as_given(hub) -> None:
    spec = resolve_model(f"someorg/some-model@{SHA}")
    assert spec.revision == SHA and spec.pinned and hub["calls"] == []


def test_unreachable_hub_falls_back_to_the_cached_commit(hub, tmp_path: Path) -> None:
    hub["sha"] = None
    _cache_ref(tmp_path, "someorg/some-model", "main", "f" * 40)
    spec = resolve_model("someorg/some-model")
    assert (spec.revision, spec.pinned, spec.extra["revision_from"]) == ("f" * 40, True, "local cache:main")


def test_offline_unpinned_hub_model_is_recorded_as_unpinned(
    hub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from leafbench.record import model_block as _model_block

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = resolve_model("someorg/some-model")
    assert hub["calls"] == []  # offline: the hub is not asked
    assert (spec.revision, spec.pinned) == (None, False)
    assert spec.identity() == "someorg/some-model@unpinned:main"  # never cached as if @main were one version
    block = _model_block(type("Enc", (), {"spec": spec, "identity": spec.identity()})())
    assert block["revision"] is None and block["pinned"] is False and block["revision_from"] == "unpinned"
    tag = resolve_model("someorg/some-model@v2")
    assert (tag.revision, tag.pinned, tag.identity()) == ("v2", False, "someorg/some-model@unpinned:v2")
    # Offline with the model in the cache: pinned to the commit an offline load reads.
    _cache_ref(tmp_path, "someorg/some-model", "main", "e" * 40)
    assert resolve_model("someorg/some-model").revision == "e" * 40


def test_position_limit_is_the_config_table_less_the_roberta_padding_offset(tmp_path: Path) -> None:
    """max_positions reads a model's config alone: BERT's 512 rows are 512 tokens; the RoBERTa family (XLM-R,
    MPNet) starts positions after the padding index (514 rows, 512 tokens); no table or the fake encoder: unknown."""
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "modules.json").write_text("[]")
    spec = resolve_model(str(folder))
    for cfg, limit in (
        ({"model_type": "bert", "max_position_embeddings": 512, "pad_token_id": 0}, 512),
        ({"model_type": "xlm-roberta", "max_position_embeddings": 514, "pad_token_id": 1}, 512),
        ({"model_type": "mpnet", "max_position_embeddings": 514, "pad_token_id": 1}, 512),
        ({"model_type": "xlnet", "max_position_embeddings": -1}, None),
        ({"model_type": "t5"}, None),
    ):
        (folder / "config.json").write_text(json.dumps(cfg))
        assert max_positions(spec) == limit, cfg
    assert max_positions(resolve_model("hash-64")) is None


@pytest.mark.parametrize(
    ("hf", "transformers", "offline"),
    [
        (None, None, False),
        ("1", None, True),
        (" TRUE ", None, True),
        ("0", None, False),
        (None, "1", True),
        ("", "yes", True),
        ("0", "1", False),  # HF_HUB_OFFLINE, once set, decides (as huggingface_hub reads them)
        ("on", "0", True),
    ],
)
def test_hub_offline_reads_both_variables(
    monkeypatch: pytest.MonkeyPatch, hf: str | None, transformers: str | None, offline: bool
) -> None:
    from leafbench.offline import hub_offline

    for name, value in (("HF_HUB_OFFLINE", hf), ("TRANSFORMERS_OFFLINE", transformers)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert hub_offline() is offline
