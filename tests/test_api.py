"""The library API (run_benchmark → RunReport, load_results → ResultRecord) and the one result schema, on the
deterministic `hash-64` encoder and a tiny BEIR folder written here: no shared data, no model, seconds."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import leafbench
from leafbench import ResultRecord, RunManifest, RunReport, SchemaError, UserError, load_results, run_benchmark
from leafbench.record import SCHEMA_VERSION, is_absolute_path, read_record, result_path, run_folder_name

DOCS = {f"d{i}": f"document {i} about topic {i % 4}" for i in range(12)}
QUERIES = {f"q{i}": f"topic {i % 4} question {i}" for i in range(6)}


def _beir(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": k, "title": "", "text": v}) + "\n" for k, v in DOCS.items())
    )
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": k, "text": v}) + "\n" for k, v in QUERIES.items()))
    (folder / "qrels").mkdir()
    rows = "".join(f"q{i}\td{i}\t1\nq{i}\td{i + 6}\t1\n" for i in range(6))
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + rows)
    return folder


@pytest.fixture()
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data = tmp_path / "data"
    _beir(data / "tiny")
    return {"data": data, "out": tmp_path / "results", "cache": tmp_path / "cache"}


def _run(tiny: dict[str, Path], **kw) -> RunReport:
    return run_benchmark(
        "hash-64", tasks="tiny", data_dir=tiny["data"], output=tiny["out"], cache_dir=tiny["cache"], **kw
    )


def test_run_benchmark_reports_what_it_did_and_never_prints(tiny, capsys: pytest.CaptureFixture[str]) -> None:
    events: list[tuple[str, str]] = []
    bars: dict[str, int] = {}

    def progress(desc: str, total: int):
        bars[desc] = 0

        def advance(n: int) -> None:
            bars[desc] += n

        return advance

    report = _run(
        tiny, dims=[32, None], dtypes="float32,int8", progress=progress, on_event=lambda k, t: events.append((k, t))
    )
    assert capsys.readouterr().out == ""
    assert (report.run, report.tasks, report.modes, report.missing) == ("hash-64", ["tiny"], ["student"], {})
    assert report.n_scored == 4 and report.n_reused == 0 and len(report.paths) == 4
    assert all(p.is_file() and p.parent.parent == report.run_dir for p in report.paths)
    assert report.n_encoded == len(DOCS) + len(QUERIES) and report.store_root == tiny["cache"] / "embeddings"
    assert ("tasks", "tasks (--tasks tiny): tiny; modes: student") in events
    assert bars and all(n > 0 for n in bars.values())
    assert report.manifest_path == tiny["out"] / "hash-64" / "run.json"
    # The summary is read back from the files: one row per (mode, cell).
    title, columns, rows = report.summary_rows()
    assert columns[:4] == ["mode", "dim", "dtype", "tiny"] and len(rows) == 4
    assert report.summary_table().row_count == 4
    text = str(report.summary_table())  # print() in a script or notebook shows the table, not an object repr
    assert "Table object" not in text and "student" in text and text.count("\n") >= 6
    assert len(report.to_frame()) == 4
    # Same request again: every cell is reused, nothing encoded.
    again = _run(tiny, dims=[32, None], dtypes="float32,int8")
    assert (again.n_scored, again.n_reused, again.n_encoded) == (0, 4, 0)


def test_bad_options_are_user_errors_before_any_work(tiny) -> None:
    with pytest.raises(UserError, match="--calibration: unknown"):
        _run(tiny, calibration="nope")
    with pytest.raises(UserError, match="needs a teacher"):
        _run(tiny, mode="asymmetric")
    assert not (tiny["out"] / "hash-64").exists()


def test_results_round_trip_as_records_and_stay_mteb_task_results(tiny) -> None:
    from mteb import TaskResult

    report = _run(tiny, max_queries=4)
    path = report.paths[0]
    assert TaskResult.from_disk(path).task_name == "tiny"
    raw = json.loads(path.read_text())
    lb = raw["leafbench"]
    assert lb["schema_version"] == SCHEMA_VERSION and lb["subset"] == {"max_queries": 4, "max_docs": None}
    rec = ResultRecord.from_dict(lb)
    assert rec.to_dict() == lb  # the block is exactly what the record writes
    (got,) = load_results(tiny["out"])
    assert (got.task_name, got.run, got.mode, got.dim_label, got.dtype_label) == (
        "tiny",
        "hash-64__4q",
        "student",
        "full",
        "float32",
    )
    assert got.main_score == raw["scores"]["test"][0]["main_score"] and got.path == path
    assert got.data_source == "tiny" and got.n_queries == 4 and got.query_model_name == "hash-64"
    assert leafbench.results_frame(tiny["out"])["score"].tolist() == [got.main_score]


def test_results_hold_no_absolute_paths(tiny) -> None:
    _run(tiny)
    for p in tiny["out"].rglob("*.json"):
        text = p.read_text()
        assert str(tiny["data"]) not in text and str(tiny["cache"]) not in text, p
        stack = [json.loads(text)]
        while stack:
            v = stack.pop()
            if isinstance(v, dict):
                stack += list(v.values())
            elif isinstance(v, list):
                stack += v
            elif isinstance(v, str):
                assert not is_absolute_path(v), (p, v)


def test_unknown_keys_survive_and_first_format_files_read() -> None:
    block = {
        "mode": "student",
        "task_type": "STS",
        "cell": "full-float32",
        "dtype": "float32",
        "dim": 384,
        "full_dim": 384,
        "some_plugin_key": {"x": 1},
    }
    rec = ResultRecord.from_dict(block)  # no schema_version: the first format
    assert rec.extra == {"some_plugin_key": {"x": 1}} and rec.to_dict()["some_plugin_key"] == {"x": 1}
    assert rec.to_dict()["schema_version"] == SCHEMA_VERSION and rec.dim_label == "full"
    committed = Path(__file__).resolve().parents[1] / "results" / "minilm-l6" / "student" / "SciFact.json"
    if committed.exists():
        old = read_record(committed)
        assert old.task_name == "SciFact" and old.main_score and old.student["name"] == "minilm-l6"


def test_newer_schema_is_refused_naming_the_file(tmp_path: Path) -> None:
    from leafbench.record import build_result, write_result

    path = result_path(tmp_path, "m", "student", "STS12")
    write_result(
        path,
        build_result(
            "STS12", "test", {"main_score": 0.5}, 1.0, {"mode": "student", "schema_version": SCHEMA_VERSION + 1}
        ),
    )
    with pytest.raises(SchemaError, match=r"STS12\.json: result schema_version 2 is newer"):
        load_results(tmp_path)


def test_a_run_never_overwrites_a_newer_schema_result(tiny) -> None:
    (path,) = _run(tiny).paths
    data = json.loads(path.read_text())
    data["leafbench"]["schema_version"] = SCHEMA_VERSION + 1
    path.write_text(json.dumps(data))
    with pytest.raises(SchemaError, match=f"{path.name}: result schema_version"):
        _run(tiny)
    assert json.loads(path.read_text())["leafbench"]["schema_version"] == SCHEMA_VERSION + 1


def test_run_manifest_merges_and_refuses_newer_or_damaged(tmp_path: Path) -> None:
    assert RunManifest.read(tmp_path, "r") is None
    first = RunManifest().merged(
        source="--tasks A",
        tasks=["A", "B"],
        types={"A": "STS", "B": "STS"},
        evaluated=["A"],
        missing={"B": "no local copy of B under /data/x"},
        skipped={},
        modes=["student"],
        cells=["full-float32"],
    )
    path = first.write(tmp_path, "r", {"/data": "--data-dir"})
    assert json.loads(path.read_text())["missing"] == {"B": "no local copy of B under x"}
    second = RunManifest.read(tmp_path, "r").merged(
        source="--tasks B",
        tasks=["B"],
        types={"B": "STS"},
        evaluated=["B"],
        missing={},
        skipped={},
        modes=["teacher"],
        cells=["full-float32"],
    )
    assert (second.evaluated, second.missing, second.modes) == (["A", "B"], {}, ["student", "teacher"])
    path.write_text(json.dumps({**first.to_dict(), "schema_version": SCHEMA_VERSION + 1}))
    with pytest.raises(SchemaError, match="run.json: run manifest schema_version"):
        RunManifest.read(tmp_path, "r")
    path.write_text("{")
    with pytest.raises(UserError, match=r"run.json:1: invalid run manifest JSON"):
        RunManifest.read(tmp_path, "r")


def test_one_naming_rule() -> None:
    assert run_folder_name("s") == "s"
    assert run_folder_name("s", "t") == "s+t"
    assert run_folder_name("s", "t", "onnx") == "s+t@onnx"
    assert result_path("out", "s+t", "asymmetric", "SciFact", "256d-int8") == Path(
        "out/s+t/asymmetric/SciFact__256d-int8.json"
    )
    assert result_path("out", "s", "student", "SciFact") == Path("out/s/student/SciFact.json")


def test_names_too_long_for_the_filesystem_are_shortened_readably_and_uniquely() -> None:
    """A 250-character task (a BEIR folder's name) or model slug gives a file or folder name of at most 200 bytes
    (255 less the temp file's affixes): its start, ``~`` and a hash of the whole name, the same on every call and
    different for names that share their first 200 characters; multi-byte characters are never split."""
    long_a, long_b = "a" * 250, "a" * 249 + "b"
    path = result_path("out", "s", "student", long_a, "256d-int8")
    assert len(path.name.encode()) <= 200 and path.name.startswith("a" * 150) and path.name.endswith("__256d-int8.json")
    assert "~" in path.name and path == result_path("out", "s", "student", long_a, "256d-int8")
    assert path != result_path("out", "s", "student", long_b, "256d-int8")
    accented = result_path("out", "s", "student", "é" * 200).name
    assert len(accented.encode()) <= 200 and accented.startswith("é" * 80) and accented.endswith(".json")
    run = run_folder_name("m" * 150, "t" * 150, "onnx")
    assert len(run.encode()) <= 200 and run.startswith("m" * 150 + "+ttt") and run.endswith("@onnx")
    assert run_folder_name("m" * 150, "t" * 150) != run_folder_name("m" * 150, "t" * 151)


def test_public_api_is_exported() -> None:
    for name in (
        "run_benchmark",
        "RunReport",
        "load_results",
        "ResultRecord",
        "RunManifest",
        "Mode",
        "UserError",
        "__version__",
        "SCHEMA_VERSION",
    ):
        assert name in leafbench.__all__ and hasattr(leafbench, name)


def test_the_package_docstring_example_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    import doctest

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = doctest.testmod(leafbench, verbose=False)
    assert result.attempted > 5 and result.failed == 0


def test_a_subset_run_never_replaces_the_full_result(tiny) -> None:
    """A --max-queries run is another protocol: it writes its own run folder and leaves the full result."""
    (path,) = _run(tiny).paths
    before = path.read_bytes()
    report = _run(tiny, max_queries=3)
    (sub,) = report.paths
    assert path.read_bytes() == before and sub != path and report.run_dir.name == "hash-64__3q"
    assert json.loads(sub.read_text())["leafbench"]["subset"] == {"max_queries": 3, "max_docs": None}
    assert json.loads(path.read_text())["leafbench"].get("subset") is None


def test_a_run_at_another_length_never_replaces_the_result(tiny) -> None:
    (path,) = _run(tiny).paths
    before = path.read_bytes()
    with pytest.raises(UserError, match=r"student max_seq_length none \(the model.s own\) there, 16 now"):
        _run(tiny, max_seq_length=16)
    assert path.read_bytes() == before


def test_same_protocol_on_changed_data_is_recomputed_not_refused(tiny) -> None:
    """Edited data under the same protocol makes the old score stale: recomputed, as before, no conflict."""
    (path,) = _run(tiny).paths
    old = json.loads(path.read_text())["leafbench"]["data_fingerprint"]
    corpus = tiny["data"] / "tiny" / "corpus.jsonl"
    corpus.write_text(corpus.read_text().replace("document 0 about", "document zero about"))
    report = _run(tiny)
    assert json.loads(report.paths[0].read_text())["leafbench"]["data_fingerprint"] != old


def test_overwrite_strategies_as_mteb_names_them(tiny) -> None:
    """never: a stale result file is an error naming it, never replaced; always: every cell recomputed;
    only-missing (default): only what is missing or stale; only-cache and unknown names: one UserError."""
    from leafbench.errors import UserError

    (path,) = _run(tiny).paths
    assert _run(tiny, overwrite_strategy="never").n_scored == 0  # nothing stale: reused
    assert _run(tiny, overwrite_strategy="always").n_scored == 1
    corpus = tiny["data"] / "tiny" / "corpus.jsonl"
    corpus.write_text(corpus.read_text().replace("document 0 about", "document zero about"))
    before = path.read_bytes()
    with pytest.raises(UserError, match="--overwrite-strategy never keeps it"):
        _run(tiny, overwrite_strategy="never")
    assert path.read_bytes() == before
    assert _run(tiny, overwrite_strategy="only-missing").n_scored == 1
    for bad, msg in (("only-cache", "leafbench run always evaluates"), ("sometimes", "unknown 'sometimes'")):
        with pytest.raises(UserError, match=msg):
            _run(tiny, overwrite_strategy=bad)
    with pytest.raises(UserError, match="disagree"):
        _run(tiny, overwrite_strategy="never", force=True)


def test_a_bad_ranges_file_fails_before_any_encoding(tiny) -> None:
    ranges = tiny["data"] / "ranges.json"
    ranges.write_text(json.dumps({"min": [0.0] * 64, "max": [float("nan")] + [1.0] * 63}))
    with pytest.raises(UserError, match=r"ranges\.json: ranges of dimension 0 are not finite"):
        _run(tiny, dtypes="int8", calibration="fixed", ranges_file=ranges)
    assert not (tiny["cache"] / "embeddings" / "spaces").exists()  # nothing encoded


def test_run_benchmark_takes_a_sentence_transformer_object(tiny, minilm_spec) -> None:
    """A SentenceTransformer object is saved once into the cache, named by its weights, and scores as the same
    model named by its alias; anything else is one UserError naming what is accepted."""
    from sentence_transformers import SentenceTransformer

    from leafbench.errors import UserError

    st = SentenceTransformer(str(minilm_spec.source), device="cpu")
    common = {"tasks": "tiny", "data_dir": tiny["data"], "cache_dir": tiny["cache"]}
    by_object = run_benchmark(st, output=tiny["out"] / "a", **common)
    by_name = run_benchmark(str(minilm_spec.source), output=tiny["out"] / "b", **common)
    score = lambda r: json.loads(r.paths[0].read_text())["scores"]["test"][0]["main_score"]  # noqa: E731
    # One set of weights encoding the same 12 texts in the same batches, each into a fresh space: the scores
    # came out equal to the last bit here; 1e-6 is far below a single flipped rank on this corpus (>= 0.01).
    assert score(by_object) == pytest.approx(score(by_name), abs=1e-6)
    saved = list((tiny["cache"] / "models" / "in-memory").iterdir())
    assert len(saved) == 1 and by_object.run_dir.name == saved[0].name
    again = run_benchmark(st, output=tiny["out"] / "a", **common)  # same weights: same folder, results reused
    assert again.n_scored == 0 and len(list((tiny["cache"] / "models" / "in-memory").iterdir())) == 1
    with pytest.raises(
        UserError, match="expected a model name, hub id, folder, SentenceTransformer or mteb encoder, not"
    ):
        run_benchmark({"not": "a model"}, output=tiny["out"] / "c", **common)


class HashEncoder:
    """A deterministic object implementing mteb's EncoderProtocol: the vectors of leafbench's `hash-64` fake
    encoder (its query prompt "query: ", none for documents), chosen by `prompt_type`. Records its calls."""

    def __init__(self, meta: dict | None = None) -> None:
        self.calls: list[tuple[object, int, str, str, str]] = []
        if meta is not None:
            from mteb.models import ModelMeta

            self.mteb_model_meta = ModelMeta.create_empty(overwrites=meta)

    def encode(self, inputs, *, task_metadata, hf_split: str, hf_subset: str, prompt_type=None, **kwargs):
        from mteb.types import PromptType

        from leafbench.fake import hash_vectors

        texts = [t for batch in inputs for t in batch["text"]]
        self.calls.append((prompt_type, len(texts), task_metadata.name, hf_split, hf_subset))
        return hash_vectors([("query: " if prompt_type == PromptType.query else "") + t for t in texts], 64)

    def similarity(self, a, b):  # the rest of mteb's protocol (leafbench scores with its own similarity)
        import torch

        return torch.from_numpy(a @ b.T)

    def similarity_pairwise(self, a, b):
        import torch

        return torch.from_numpy((a * b).sum(axis=1))


def test_run_benchmark_takes_any_mteb_encoder_object(tiny) -> None:
    """An mteb encoder object runs through the store and cells like a named model: called with mteb's DataLoader
    and prompt_type query/document, it scores every cell exactly as `hash-64` does (the same vectors through the
    trusted fake path); named by name= and model_revision=, recorded as a user object, reused only under the same
    name and revision."""
    from mteb.types import PromptType

    from leafbench.record import read_record

    common = {"tasks": "tiny", "data_dir": tiny["data"], "cache_dir": tiny["cache"], "dtypes": "float32,int8,binary"}
    enc = HashEncoder()
    by_object = run_benchmark(enc, name="my-encoder", model_revision="v1", output=tiny["out"] / "a", **common)
    by_fake = run_benchmark("hash-64", output=tiny["out"] / "b", **common)
    assert by_object.run == "my-encoder" and by_object.n_encoded == len(DOCS) + len(QUERIES)
    mine = {p.name: json.loads(p.read_text())["scores"]["test"][0] for p in by_object.paths}
    fake = {p.name: json.loads(p.read_text())["scores"]["test"][0] for p in by_fake.paths}
    assert len(mine) == 3 and mine == fake  # every metric of every cell, to the bit
    assert {c[0] for c in enc.calls} == {PromptType.query, PromptType.document}
    assert {c[2:] for c in enc.calls} == {("leafbench", "", "")}
    assert sum(c[1] for c in enc.calls if c[0] == PromptType.query) == len(QUERIES)
    block = read_record(by_object.paths[0]).student
    assert (block["name"], block["revision"], block["identity"]) == ("my-encoder", "v1", "object:my-encoder@v1")
    assert block["user_object"] == f"{__name__}.HashEncoder"
    # The same name and revision: results and vectors reused; another revision: measured again.
    again = run_benchmark(enc, name="my-encoder", model_revision="v1", output=tiny["out"] / "a", **common)
    assert (again.n_scored, again.n_encoded) == (0, 0)
    other = run_benchmark(enc, name="my-encoder", model_revision="v2", output=tiny["out"] / "a", **common)
    assert other.n_scored == 3 and other.n_encoded == len(DOCS) + len(QUERIES)
    # mteb_model_meta names an object that brings one.
    named = run_benchmark(HashEncoder({"name": "org/meta-enc", "revision": "r1"}), output=tiny["out"] / "c", **common)
    assert named.run == "org__meta-enc" and read_record(named.paths[0]).student["identity"] == "object:org/meta-enc@r1"


def test_a_bad_encoder_object_is_one_line_naming_what_it_lacks(tiny) -> None:
    common = {"tasks": "tiny", "data_dir": tiny["data"], "cache_dir": tiny["cache"], "output": tiny["out"]}

    class NoKeywords:
        def encode(self, sentences, batch_size=32):
            return sentences

    cases = [
        (object(), {}, "not object: it has no encode(inputs, *, task_metadata, hf_split, hf_subset, prompt_type)"),
        (NoKeywords(), {"name": "x", "model_revision": "1"}, "NoKeywords.encode does not take mteb's keyword"),
        (HashEncoder(), {"model_revision": "1"}, "a HashEncoder object needs a name: pass name="),
        (HashEncoder(), {"name": "x"}, "a HashEncoder object needs a revision: pass model_revision="),
        (HashEncoder(), {"name": "x", "model_revision": "1", "max_seq_length": 32}, "max_seq_length, precision"),
    ]
    for obj, kw, message in cases:
        with pytest.raises(UserError, match=re.escape(message)) as e:
            run_benchmark(obj, **kw, **common)
        assert "\n" not in str(e.value)
    with pytest.raises(UserError, match="name='x' names an encoder object"):
        run_benchmark("hash-64", name="x", **common)
    assert not (tiny["cache"] / "embeddings" / "spaces").exists()  # nothing encoded


def test_model_revision_pins_a_hub_id_and_refuses_what_has_none(tiny) -> None:
    """--model-revision (mteb's option) is org/name@REV; an alias, a fake or a folder has no hub revision."""
    from leafbench.errors import UserError
    from leafbench.plan import _with_revision

    assert _with_revision("org/name", "abc123") == "org/name@abc123"
    assert _with_revision("org/name@abc123", "abc123") == "org/name@abc123"
    with pytest.raises(UserError, match="name two revisions"):
        _with_revision("org/name@v1", "v2")
    for not_hub in ("minilm-l6", "hash-64", str(tiny["data"])):
        with pytest.raises(UserError, match="applies to a hub id"):
            _run(tiny, model_revision="abc") if not_hub == "hash-64" else _with_revision(not_hub, "abc")


def test_eval_splits_as_mteb_names_them(tiny, shared_data: Path) -> None:
    """--eval-splits: retrieval scores the one split given (its own run folder); two splits for retrieval, or a
    --split that disagrees, are one UserError; an mteb task's split its local data lacks is named, one it has is
    scored."""
    from leafbench.errors import UserError

    report = _run(tiny, eval_splits="test")
    assert report.run_dir.name == "hash-64__split-test"
    assert json.loads(report.paths[0].read_text())["leafbench"]["split"] == "test"
    with pytest.raises(UserError, match="retrieval tasks are scored on one split"):
        _run(tiny, eval_splits=["test", "dev"])
    with pytest.raises(UserError, match="--split train and --eval-splits test disagree"):
        _run(tiny, eval_splits="test", split="train")
    with pytest.raises(UserError, match=r"STSBenchmark: split\(s\) \['trial'\] of subset 'default' have no local file"):
        run_benchmark("hash-64", tasks="STSBenchmark", eval_splits="trial", data_dir=shared_data, output=tiny["out"])
    # dev.jsonl (the hub's validation split) under its own name: scored on its 1,500 pairs, in its own run folder.
    dev = run_benchmark(
        "hash-64",
        tasks="STSBenchmark",
        eval_splits="dev",
        data_dir=shared_data,
        output=tiny["out"],
        cache_dir=tiny["cache"],
    )
    assert dev.run_dir.name == "hash-64__split-dev"
    result = json.loads(dev.paths[0].read_text())
    assert list(result["scores"]) == ["dev"] and result["leafbench"]["split"] == "dev"
