"""Closing the loop of a distillation run: its model cards (hub ids, epochs, a model-index of the recorded results,
a Router card of its own), the Router's default route (the student), and `leafbench push` to the Hugging Face
Hub - tested without a network through a recorded fake of huggingface_hub's HfApi."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from huggingface_hub import ModelCard
from typer.testing import CliRunner

from leafbench.cli import app
from leafbench_distill.cards import hub_id, model_card, router_card

MINILM = "sentence-transformers/all-MiniLM-L6-v2"

# The summary.json of a `distill --recipe mini --max-steps 100` run (trimmed), as finish_run writes it.
SUMMARY = {
    "name": "leaf-mini",
    "recipe": "mini",
    "teacher": "minilm-l6",
    "teacher_precision": "fp32",
    "student_backbone": "minilm-l6",
    "student_layers": [0, 3, 5],
    "init_from": None,
    "dims": {"student": 384, "teacher": 384},
    "n_train_texts": 1800,
    "text_counts": {"web-queries": 800, "wordnet-glosses": 400, "sentences": 400, "msrp": 200, "imdb": 200},
    "epochs": 100 / 70,
    "steps": 100,
    "batch_size": 32,
    "train_minutes": 3.2,
    "texts_per_s": 16.6,
    "hardware": "x86_64, 2 CPUs, torch CPU",
    "bundle": None,
    "retrieval_protocol": "SciFact test: 40 queries x 300 docs",
    "retrieval_eval": {
        "task": "SciFact",
        "split": "test",
        "queries": 40,
        "documents": 300,
        "subset": {"max_queries": 40, "max_docs": 300},
    },
    "final_metrics": {
        "in_training": {"heldout_cosine": 0.81},
        "untrained": {"asym_random_projection": 0.0379},
        "retrieval": {"SciFact": {"student": 0.76625, "teacher": 0.8258, "asymmetric": 0.80546}},
        "sts": {},
    },
}


def _card(text: str) -> ModelCard:
    return ModelCard(text)


# ------------------------------------------------------------------------------------------------ model cards


def test_cards_name_hub_ids_round_epochs_and_index_the_recorded_results() -> None:
    assert hub_id("minilm-l6") == MINILM and hub_id("org/model@abc123") == "org/model"
    assert hub_id("/no/such/folder") is None

    text = model_card(SUMMARY, "acme/leaf-mini", router="acme/leaf-mini-router")
    card = _card(text)
    assert card.data.base_model == MINILM  # the backbone's hub id, never the alias
    assert "base_model: minilm-l6" not in text
    assert "1.43 epochs" in text and "1.428" not in text
    assert "*STS" not in text and "Spearman*" not in text  # no STS rows: no STS footnote
    (result,) = card.data.eval_results
    assert (result.dataset_type, result.dataset_split, result.metric_type) == ("mteb/scifact", "test", "ndcg_at_10")
    assert result.metric_value == pytest.approx(0.76625)  # the student's own (student mode) score
    assert "subset" in result.dataset_name and result.dataset_args == {"queries": 40, "documents": 300}
    assert 'SentenceTransformer("acme/leaf-mini")' in text and "https://huggingface.co/acme/leaf-mini-router" in text

    rtext = router_card(
        SUMMARY, {"query": "query: ", "document": ""}, "acme/leaf-mini-router", student="acme/leaf-mini"
    )
    rcard = _card(rtext)
    assert rtext != text
    assert rcard.data.base_model == ["acme/leaf-mini", MINILM]  # both routes' models
    assert "queries → the student" in rtext and "documents → the teacher" in rtext
    assert "encode_query" in rtext and "encode_document" in rtext and 'task="document"' in rtext
    assert "'query: '" in rtext  # the query prompt encode_query applies
    (rresult,) = rcard.data.eval_results
    assert rresult.metric_value == pytest.approx(0.80546)  # the Router's score is the asymmetric one


def test_card_footnotes_and_index_follow_what_the_run_recorded() -> None:
    s = copy.deepcopy(SUMMARY)
    s["final_metrics"]["sts"] = {"STSBenchmark": {"student": 0.81, "teacher": 0.82}}
    text = model_card(s)
    assert "Spearman*" in text and "*STS: Spearman" in text  # a row with the mark, and its note
    assert {r.metric_type for r in _card(text).data.eval_results} == {"ndcg_at_10", "cosine_spearman"}
    assert "router" not in text.lower()  # no Router exported, none mentioned

    s["final_metrics"] = {"in_training": {}, "untrained": {}}  # --no-final-eval
    text = model_card(s)
    assert "model-index" not in text and "No final evaluation was recorded" in text and "Retrieval:" not in text

    old = copy.deepcopy(SUMMARY)  # a run recorded before retrieval_eval: its protocol line, sizes against mteb's
    del old["retrieval_eval"]
    (result,) = _card(model_card(old)).data.eval_results
    assert "a subset: 40 queries x 300 documents" in result.dataset_name and result.dataset_split == "test"


# ------------------------------------------------------------------------------------------ the Router's route


def test_a_plain_encode_on_the_router_runs_the_student(tmp_path: Path, minilm_spec) -> None:
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Dense, Normalize

    from leafbench_distill.export import build_router, export_router, export_student

    torch.manual_seed(0)
    teacher = SentenceTransformer(minilm_spec.source, device="cpu")
    modules = [m for m in teacher.children() if type(m).__name__ != "Normalize"]
    student = SentenceTransformer(modules=[*modules, Dense(384, 384), Normalize()], device="cpu")
    folder = export_student(student, tmp_path / "final", _manifest(), "", "")
    texts = ["how do vaccines work?", "a cat sat on the mat", "Vaccines train the immune system."]
    own = SentenceTransformer(str(folder), device="cpu").encode(texts)
    docs = teacher.encode(texts)
    assert not np.allclose(own, docs, atol=1e-3)  # the two routes differ, so the default route is visible

    router = build_router(folder, minilm_spec.source, "", "")
    np.testing.assert_allclose(router.encode(texts), own, atol=1e-5)
    export_router(folder, minilm_spec.source, tmp_path / "router", "", "", _manifest())
    saved = SentenceTransformer(str(tmp_path / "router"), device="cpu")
    np.testing.assert_allclose(saved.encode(texts), own, atol=1e-5)  # plain encode: the student
    np.testing.assert_allclose(saved.encode_query(texts), own, atol=1e-5)
    np.testing.assert_allclose(saved.encode(texts, task="document"), docs, atol=1e-5)  # the teacher, when asked
    np.testing.assert_allclose(saved.encode_document(texts), docs, atol=1e-5)


def _manifest() -> dict:
    return {
        "teacher": "minilm-l6",
        "teacher_revision": "test",
        "query_prompt": "",
        "document_prompt": "",
        "dims": {"student_hidden": 384, "output": 384},
        "recipe": {"name": "mini"},
        "data_hashes": {},
        "final_metrics": {},
    }


# ----------------------------------------------------------------------------------------------- leafbench push


class FakeHub:
    """A recorded stand-in for huggingface_hub.HfApi: the calls made, each uploaded folder's files and card.
    `fail`: {(method, repo id): exception} raised by that call."""

    def __init__(self, fail: dict | None = None) -> None:
        self.calls: list[tuple] = []
        self.cards: dict[str, str] = {}
        self.files: dict[str, list[str]] = {}
        self.fail = fail or {}

    def api_class(self) -> type:
        hub = self

        class FakeHfApi:
            def __init__(self, token=None, **kwargs) -> None:
                hub.calls.append(("HfApi", token))

            def create_repo(self, repo_id, *, repo_type=None, private=None, exist_ok=False, **kwargs):
                hub.calls.append(("create_repo", repo_id, repo_type, private, exist_ok))
                if ("create_repo", repo_id) in hub.fail:
                    raise hub.fail[("create_repo", repo_id)]
                return f"https://huggingface.co/{repo_id}"

            def upload_folder(self, *, repo_id, folder_path, repo_type=None, **kwargs):
                hub.calls.append(("upload_folder", repo_id, Path(folder_path).name, repo_type))
                if ("upload_folder", repo_id) in hub.fail:
                    raise hub.fail[("upload_folder", repo_id)]
                root = Path(folder_path)
                hub.files[repo_id] = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
                hub.cards[repo_id] = (root / "README.md").read_text()
                return f"https://huggingface.co/{repo_id}/commit/0"

        return FakeHfApi

    def methods(self) -> list[tuple]:
        return [c for c in self.calls if c[0] != "HfApi"]


def _run_dir(root: Path, router: bool = True, default_route: str = "query") -> Path:
    """A finished run's files as `leafbench distill` leaves them (weights stubbed: nothing loads them here)."""
    run = root / "run"
    (run / "final").mkdir(parents=True)
    (run / "summary.json").write_text(json.dumps(SUMMARY))
    (run / "final" / "modules.json").write_text("[]")
    (run / "final" / "model.safetensors").write_bytes(b"weights")
    (run / "final" / "leafbench.json").write_text(json.dumps({**_manifest(), "query_prompt": "query: "}))
    (run / "final" / "README.md").write_text("---\nbase_model: minilm-l6\n---\nold card\n")
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "last.pt").write_bytes(b"not uploaded")
    if router:
        (run / "router").mkdir()
        (run / "router" / "modules.json").write_text("[]")
        (run / "router" / "README.md").write_text("---\nbase_model: minilm-l6\n---\nold card\n")
        config = {
            "types": {},
            "structure": {"query": ["query_0_Transformer"], "document": ["document_0_Transformer"]},
            "parameters": {"default_route": default_route, "allow_empty_key": True, "route_mappings": {}},
        }
        (run / "router" / "router_config.json").write_text(json.dumps(config, indent=4))
    return run


@pytest.fixture()
def online(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hub reachable as far as leafbench can tell (the fake answers); no token of this machine's used."""
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "LEAFBENCH_DEBUG"):
        monkeypatch.delenv(var, raising=False)


def _fake(monkeypatch: pytest.MonkeyPatch, hub: FakeHub) -> FakeHub:
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", hub.api_class())
    return hub


def _push(*args: str, env: dict | None = None):
    return CliRunner().invoke(app, ["push", *args], env=env)


def _error_line(res) -> str:
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in res.output, res.output
    assert not any(ln.startswith("pushed") for ln in lines), res.output  # nothing reported as done
    return errors[0]


def test_push_uploads_student_and_router_to_their_own_repos_with_their_own_cards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, online
) -> None:
    hub = _fake(monkeypatch, FakeHub())
    run = _run_dir(tmp_path, default_route="document")  # a Router exported before the query route was default
    res = _push(str(run), "--repo-id", "acme/leaf-mini", "--private", "--token", "hf_test")
    assert res.exit_code == 0, res.output
    assert ("HfApi", "hf_test") in hub.calls
    assert hub.methods() == [
        ("create_repo", "acme/leaf-mini", "model", True, True),
        ("create_repo", "acme/leaf-mini-router", "model", True, True),
        ("upload_folder", "acme/leaf-mini", "final", "model"),
        ("upload_folder", "acme/leaf-mini-router", "router", "model"),
    ]
    assert "model.safetensors" in hub.files["acme/leaf-mini"] and "README.md" in hub.files["acme/leaf-mini"]
    assert not any("checkpoints" in f or f.endswith(".pt") for f in hub.files["acme/leaf-mini"])
    student, router = _card(hub.cards["acme/leaf-mini"]), _card(hub.cards["acme/leaf-mini-router"])
    assert student.data.base_model == MINILM and student.data.eval_results
    assert router.data.base_model == ["acme/leaf-mini", MINILM] and router.data.eval_results
    assert hub.cards["acme/leaf-mini"] != hub.cards["acme/leaf-mini-router"]
    assert "queries → the student" in hub.cards["acme/leaf-mini-router"]
    assert (run / "final" / "README.md").read_text() == hub.cards["acme/leaf-mini"]  # the local card is the hub's
    config = json.loads((run / "router" / "router_config.json").read_text())
    assert config["parameters"]["default_route"] == "query"  # a plain encode of the pushed Router: the student
    assert "pushed final/ -> https://huggingface.co/acme/leaf-mini" in res.output
    assert "pushed router/ -> https://huggingface.co/acme/leaf-mini-router" in res.output


def test_push_router_repo_options_and_a_run_without_a_router(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, online
) -> None:
    hub = _fake(monkeypatch, FakeHub())
    run = _run_dir(tmp_path)
    res = _push(str(run), "--repo-id", "acme/leaf-mini", "--router-repo-id", "acme/pair")
    assert res.exit_code == 0, res.output
    assert [c[1] for c in hub.methods() if c[0] == "upload_folder"] == ["acme/leaf-mini", "acme/pair"]
    assert hub.methods()[0][3] is None  # not --private: the hub's default visibility

    hub.calls.clear()
    assert _push(str(run), "--repo-id", "acme/leaf-mini", "--no-router").exit_code == 0
    assert [c[1] for c in hub.methods()] == ["acme/leaf-mini", "acme/leaf-mini"]  # create + upload, student only
    assert "router" not in _card(hub.cards["acme/leaf-mini"]).text.lower()

    bare = _run_dir(tmp_path / "bare", router=False)  # --no-router run: the default Router repo is just skipped
    hub.calls.clear()
    assert _push(str(bare), "--repo-id", "acme/bare").exit_code == 0
    assert [c[1] for c in hub.methods()] == ["acme/bare", "acme/bare"]
    res = _push(str(bare), "--repo-id", "acme/bare", "--router-repo-id", "acme/bare-pair")  # asked for by name
    assert res.exit_code == 2 and "no router/" in _error_line(res)


def test_push_of_a_multi_stage_run_uploads_its_last_stage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, online
) -> None:
    hub = _fake(monkeypatch, FakeHub())
    top = tmp_path / "staged"
    top.mkdir()
    _run_dir(tmp_path / "s1").rename(top / "stage-1")
    _run_dir(tmp_path / "s2").rename(top / "stage-2")
    (top / "stages.json").write_text(json.dumps({"recipe": "x", "stages": [{"stage": 1}, {"stage": 2}]}))
    assert _push(str(top), "--repo-id", "acme/staged").exit_code == 0
    assert (top / "stage-2" / "final" / "README.md").read_text() == hub.cards["acme/staged"]
    assert "old card" in (top / "stage-1" / "final" / "README.md").read_text()


@pytest.mark.parametrize(
    "case,expected",
    [
        ("missing", "no such run folder"),
        ("no-final", "no final/ student"),
        ("bad-id", "is not a Hugging Face repo id"),
        ("same-id", "the Router needs its own"),
    ],
)
def test_push_bad_input_is_one_line_and_exit_2(
    case: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, online
) -> None:
    hub = _fake(monkeypatch, FakeHub())
    run = _run_dir(tmp_path)
    args = {
        "missing": [str(tmp_path / "nope"), "--repo-id", "acme/x"],
        "no-final": [str(tmp_path), "--repo-id", "acme/x"],
        "bad-id": [str(run), "--repo-id", "acme/x/y"],
        "same-id": [str(run), "--repo-id", "acme/x", "--router-repo-id", "acme/x"],
    }[case]
    res = _push(*args)
    assert res.exit_code == 2, res.output
    assert expected in _error_line(res)
    assert hub.methods() == []


def test_push_offline_is_one_line_exit_2_and_uploads_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hub = _fake(monkeypatch, FakeHub())
    run = _run_dir(tmp_path)
    res = _push(str(run), "--repo-id", "acme/leaf-mini", env={"HF_HUB_OFFLINE": "1"})
    assert res.exit_code == 2, res.output
    line = _error_line(res)
    assert "cannot reach the Hugging Face Hub" in line and "HF_HUB_OFFLINE" in line and "nothing was uploaded" in line
    assert hub.methods() == []
    assert "old card" in (run / "final" / "README.md").read_text()  # nothing changed either


def _transport_error(message: str) -> Exception:
    """The connection error huggingface_hub's HTTP client raises when the hub's name does not resolve."""
    try:
        import httpx2 as httpx
    except ImportError:
        import httpx
    return httpx.ConnectError(message)


def _http_error(status: int, message: str) -> Exception:
    from huggingface_hub.errors import HfHubHTTPError

    try:
        import httpx2 as httpx
    except ImportError:
        import httpx
    request = httpx.Request("POST", "https://huggingface.co/api/repos/create")
    return HfHubHTTPError(message, response=httpx.Response(status, request=request))


def test_an_unreachable_hub_is_one_line_naming_what_was_and_was_not_uploaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, online
) -> None:
    run = _run_dir(tmp_path)
    down = _transport_error("[Errno -2] Name or service not known")
    _fake(monkeypatch, FakeHub({("create_repo", "acme/leaf-mini"): down}))
    res = _push(str(run), "--repo-id", "acme/leaf-mini")
    assert res.exit_code == 2
    line = _error_line(res)
    assert "cannot reach the Hugging Face Hub (ConnectError: [Errno -2]" in line and "nothing was uploaded" in line
    assert "old card" in (run / "final" / "README.md").read_text()  # the run is left as it was

    _fake(monkeypatch, FakeHub({("create_repo", "acme/leaf-mini"): ConnectionError("connection reset")}))
    assert "nothing was uploaded" in _error_line(_push(str(run), "--repo-id", "acme/leaf-mini"))

    hub = _fake(monkeypatch, FakeHub({("upload_folder", "acme/leaf-mini-router"): down}))  # half-way
    res = _push(str(run), "--repo-id", "acme/leaf-mini")
    assert res.exit_code == 2
    line = _error_line(res)
    assert "final/ is on acme/leaf-mini" in line and "router/ was not uploaded to acme/leaf-mini-router" in line
    assert list(hub.cards) == ["acme/leaf-mini"]


def test_a_hub_refusal_is_one_line_with_the_token_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, online) -> None:
    run = _run_dir(tmp_path)
    _fake(monkeypatch, FakeHub({("create_repo", "acme/leaf-mini"): _http_error(403, "403 Forbidden: not yours")}))
    res = _push(str(run), "--repo-id", "acme/leaf-mini")
    assert res.exit_code == 2
    line = _error_line(res)
    assert "would not create acme/leaf-mini" in line and "403 Forbidden" in line and "--token" in line
    assert "nothing was uploaded" in line


def test_distill_push_to_hub_offline_fails_before_any_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hub = _fake(monkeypatch, FakeHub())
    out = tmp_path / "run"
    args = ["distill", "--recipe", "mini", "--output", str(out)]
    res = CliRunner().invoke(app, [*args, "--push-to-hub", "acme/leaf-mini"], env={"HF_HUB_OFFLINE": "1"})
    assert res.exit_code == 2 and "HF_HUB_OFFLINE" in _error_line(res)
    res = CliRunner().invoke(app, [*args, "--push-to-hub", "not a repo"], env={"HF_HUB_OFFLINE": "0"})
    assert res.exit_code == 2 and "--push-to-hub 'not a repo' is not a Hugging Face repo id" in _error_line(res)
    assert not out.exists() and hub.methods() == []


def test_distill_push_to_hub_after_the_run_and_a_failed_upload_says_how_to_retry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, online
) -> None:
    """What `distill --push-to-hub` does once the run has finished (the training itself: tests/test_distill.py)."""
    from leafbench_distill.cli import _push_after
    from leafbench_distill.hub import PushError

    run = _run_dir(tmp_path)
    hub = _fake(monkeypatch, FakeHub())
    _push_after(run, "acme/leaf-mini")
    assert [c[1] for c in hub.methods() if c[0] == "upload_folder"] == ["acme/leaf-mini", "acme/leaf-mini-router"]

    _fake(monkeypatch, FakeHub({("create_repo", "acme/leaf-mini"): _transport_error("timed out")}))
    with pytest.raises(PushError) as e:
        _push_after(run, "acme/leaf-mini")
    assert f"the run in {run} is finished, but --push-to-hub failed: cannot reach the Hugging Face Hub" in str(e.value)
    assert "nothing was uploaded" in str(e.value) and f"leafbench push {run} --repo-id acme/leaf-mini" in str(e.value)
    assert "\n" not in str(e.value)
