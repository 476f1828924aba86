"""A big corpus is streamed from its file (ids memory-mapped, texts read per pass) instead of held as lists: the
same ids, texts, qrels, warnings, fingerprint, subsets, store rows and scores as the list reader, so results and
rows are shared between both paths."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest

from leafbench.data import DataError, StreamedIds, StreamedTexts, corpus_file, load_beir_folder, take_items
from leafbench.store import open_store

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def _folder(root: Path, docs: list[dict], queries: list[dict], qrels: list[tuple[str, str, int]]) -> Path:
    (root / "qrels").mkdir(parents=True, exist_ok=True)
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (root / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{s}\n" for q, d, s in qrels)
    )
    return root


def _same_data(a, b) -> None:
    assert isinstance(b.corpus_ids, StreamedIds) and isinstance(b.corpus_texts, StreamedTexts)
    assert list(b.corpus_ids) == list(a.corpus_ids) and list(b.corpus_texts) == list(a.corpus_texts)
    assert (b.query_ids, b.query_texts, b.qrels) == (a.query_ids, a.query_texts, a.qrels)
    assert b.data_warnings() == a.data_warnings()
    assert b.fingerprint() == a.fingerprint()


def test_scifact_streamed_equals_lists(scifact_dir: Path) -> None:
    a = load_beir_folder(scifact_dir, stream=False)
    b = load_beir_folder(scifact_dir, stream=True)
    _same_data(a, b)
    assert b.corpus_ids[5] == a.corpus_ids[5] and b.corpus_texts[-1] == a.corpus_texts[-1]
    assert take_items(b.corpus_texts, [9, 2, 9]) == [a.corpus_texts[i] for i in (9, 2, 9)]
    # A cut keeps the same documents; one keeping every document stays streamed.
    sa, sb = a.subset(20, 500, seed=3), b.subset(20, 500, seed=3)
    assert (sb.corpus_ids, sb.corpus_texts, sb.qrels) == (sa.corpus_ids, sa.corpus_texts, sa.qrels)
    assert sb.fingerprint() == sa.fingerprint()
    qa, qb = a.subset(20, None), b.subset(20, None)
    assert qb.streamed and qb.fingerprint() == qa.fingerprint() and qb.qrels == qa.qrels


def test_empty_documents_and_unknown_qrels_are_named_as_by_the_list_reader(tmp_path: Path) -> None:
    docs = [{"_id": "d1", "text": "alpha"}, {"_id": "d2", "title": "", "text": "  "}, {"_id": 3, "text": "gamma"}]
    folder = _folder(tmp_path / "f", docs, [{"_id": "q1", "text": "alpha"}], [("q1", "d1", 1), ("q1", "nope", 1)])
    a, b = load_beir_folder(folder, stream=False), load_beir_folder(folder, stream=True)
    _same_data(a, b)
    assert set(b.data_warnings()) == {"empty_documents", "qrels_unknown_documents"}


def test_a_repeated_id_is_the_list_readers_error(tmp_path: Path) -> None:
    docs = [{"_id": "d1", "text": "a"}, {"_id": "d2", "text": "b"}, {"_id": "d1", "text": "c"}]
    folder = _folder(tmp_path / "f", docs, [{"_id": "q1", "text": "a"}], [("q1", "d1", 1)])
    with pytest.raises(DataError) as listed:
        load_beir_folder(folder, stream=False)
    with pytest.raises(DataError) as streamed:
        load_beir_folder(folder, stream=True)
    assert str(streamed.value) == str(listed.value) and ":3: duplicate _id 'd1' (first seen at line 1)" in str(
        listed.value
    )


def test_the_size_threshold_decides_and_a_bad_value_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _folder(tmp_path / "f", [{"_id": "d1", "text": "a"}], [{"_id": "q1", "text": "a"}], [("q1", "d1", 1)])
    assert not load_beir_folder(folder).streamed  # a few bytes: lists
    monkeypatch.setenv(corpus_file.STREAM_ENV, "0")
    assert load_beir_folder(folder).streamed
    monkeypatch.setenv(corpus_file.STREAM_ENV, "lots")
    with pytest.raises(DataError, match="LEAFBENCH_STREAM_MIN_BYTES='lots'"):
        load_beir_folder(folder)


def test_the_store_encodes_a_streamed_corpus_chunk_by_chunk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows equal to the list path's; a text repeated in two chunks is encoded once; the keys are file-backed."""
    from leafbench.encode import Encoder
    from leafbench.registry import resolve_model
    from leafbench.store import embedding_store

    monkeypatch.setattr(embedding_store, "STREAM_CHUNK", 7)
    monkeypatch.setattr(corpus_file, "CHUNK", 5)
    docs = [{"_id": f"d{i}", "text": f"text {i % 23}"} for i in range(60)]  # 23 distinct texts, repeated
    folder = _folder(tmp_path / "f", docs, [{"_id": "q1", "text": "text 1"}], [("q1", "d1", 1)])
    streamed = load_beir_folder(folder, stream=True)
    for fmt in ("lance", "shards"):
        store = open_store(tmp_path / f"store-{fmt}", fmt)
        enc = Encoder(resolve_model("hash-32"), store)
        got = enc.encode(streamed.corpus_texts, "document")
        assert store.n_encoded == 23 and got.stats.n_encoded == 23
        want = Encoder(resolve_model("hash-32"), open_store(tmp_path / f"ref-{fmt}", fmt))
        ref = want.encode(list(streamed.corpus_texts), "document")
        np.testing.assert_array_equal(np.asarray(got.rows), np.asarray(ref.rows))
        assert enc.encode(streamed.corpus_texts, "document").stats.n_encoded == 0
    keys = embedding_store._file_backed_keys(streamed.corpus_texts)
    assert isinstance(keys, np.memmap) and keys.shape == (60, 16)


def test_streamed_and_list_runs_score_alike_and_share_results(tmp_path: Path) -> None:
    """Queries equal to some documents: the fake encoder retrieves them (non-trivial scores); the streamed run
    reuses every result of the list run (one fingerprint), and recomputed it gives the same scores."""
    from leafbench.encode import Encoder
    from leafbench.evaluate import evaluate_retrieval
    from leafbench.registry import resolve_model

    # hash-64 reads queries as "query: " + text: documents spelled so give the same vector.
    docs = [{"_id": f"d{i}", "title": "query:", "text": f"t{i} document number {i}"} for i in range(300)]
    queries = [{"_id": f"q{i}", "text": f"t{i} document number {i}"} for i in range(0, 300, 7)]
    qrels = [(f"q{i}", f"d{i}", 1) for i in range(0, 300, 7)] + [(f"q{i}", f"d{i + 1}", 1) for i in range(0, 290, 14)]
    folder = _folder(tmp_path / "f", docs, queries, qrels)
    a, b = load_beir_folder(folder, stream=False), load_beir_folder(folder, stream=True)
    enc = {"student": Encoder(resolve_model("hash-64"), open_store(tmp_path / "store", "lance"))}
    ra = evaluate_retrieval(a, enc, ["student"], tmp_path / "out", "hash-64", force=False)
    score = ra.results["student"]["scores"]["test"][0]
    assert 0.5 < score["ndcg_at_10"] < 1.0
    assert evaluate_retrieval(b, enc, ["student"], tmp_path / "out", "hash-64", force=False).skipped == 1
    rb = evaluate_retrieval(b, enc, ["student"])  # in memory: computed again
    assert rb.results["student"]["scores"] == ra.results["student"]["scores"]


# --------------------------------------------------------------------------- fuzz: same outcome as the list reader

_texts = st.text(max_size=6) | st.just("") | st.just(" ")
_ids = st.sampled_from(["a", "b", "c", "1", "d e"]) | st.integers(0, 3) | st.none()
_doc = st.fixed_dictionaries({}, optional={"_id": _ids, "title": _texts | st.none(), "text": _texts | st.integers()})
_line = _doc.map(lambda d: json.dumps(d).encode()) | st.sampled_from([b"", b"{", b"[1]", b"\xff\n"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(st.lists(_line, max_size=8))
def test_streamed_reader_has_the_list_readers_outcome(lines: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = _folder(Path(tmp) / "f", [], [{"_id": "q", "text": "x"}], [("q", "a", 1)])
        (folder / "corpus.jsonl").write_bytes(b"\n".join(lines) + b"\n")
        outcomes = []
        for stream in (False, True):
            try:
                outcomes.append(load_beir_folder(folder, stream=stream))
            except DataError as e:
                outcomes.append(str(e))
        a, b = outcomes
        if isinstance(a, str) or isinstance(b, str):
            # Both fail; the streamed pass checks repeated ids after the whole file, so a later bad line wins there.
            assert isinstance(a, str) and isinstance(b, str)
            assert a == b or "duplicate _id" in a, (a, b)
        else:
            _same_data(a, b)


# --------------------------------------------------------------------------- Ray workers read the file themselves


@pytest.fixture()
def ray_local():
    """A fresh local Ray cluster started in the main thread (see tests/test_engine.py for why)."""
    import os

    ray = pytest.importorskip("ray")
    ray.shutdown()
    ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.mark.parametrize("layout", ["jsonl", "parquet parts"])
def test_ray_workers_encode_a_streamed_corpus_from_its_file(tmp_path: Path, ray_local, layout: str) -> None:
    """Rows equal to the local engine's; the driver hands over the file, never a text list (the list engine is
    never asked); titles missing or null, repeated texts; a second run encodes nothing. The workers read JSONL
    or a folder of Parquet parts alike."""
    from leafbench.encode import Encoder
    from leafbench.engine import RayEngine, make_engine
    from leafbench.registry import resolve_model

    docs = [
        {
            "_id": f"d{i}",
            **({"title": f"t{i % 5}"} if i % 3 else {"title": None} if i % 2 else {}),
            "text": f"x {i % 97}",
        }
        for i in range(700)
    ]
    folder = _folder(tmp_path / "f", docs, [{"_id": "q1", "text": "x 1"}], [("q1", "d1", 1)])
    if layout != "jsonl":
        from parquet_folders import to_parquet

        to_parquet(folder, parts=3)
    data = load_beir_folder(folder, stream=True)
    assert data.corpus_texts.path.name == ("corpus.jsonl" if layout == "jsonl" else "corpus")
    spec = resolve_model("hash-32")
    local = Encoder(spec, open_store(tmp_path / "local", "lance")).encode(data.corpus_texts, "document")
    engine = make_engine("ray", workers=2, batch_size=128)
    asked: list[int] = []
    engine.encode = lambda *a, **k: asked.append(1)  # the list path: must not be used for a streamed corpus
    assert isinstance(engine, RayEngine)
    store = open_store(tmp_path / "ray", "lance")
    seen: list[int] = []
    got = Encoder(spec, store, engine=engine).encode(data.corpus_texts, "document", progress=seen.append)
    np.testing.assert_array_equal(np.asarray(got.rows), np.asarray(local.rows))
    n_distinct = len(set(data.corpus_texts))
    # each actor skips what the store or its own buffer holds; two actors may both encode a text neither committed
    assert n_distinct <= got.stats.n_encoded < 700 and sum(seen) == 700 and not asked
    again = Encoder(spec, store, engine=engine).encode(data.corpus_texts, "document")
    assert again.stats.n_encoded == 0
    import lance

    # actors buffered across Ray batches and the space was compacted: one fragment, not one per batch
    assert len(lance.dataset(store.space_uri(Encoder(spec, store).key("document"))).get_fragments()) == 1


def test_passes_over_the_texts_do_not_check_ids_again(tmp_path: Path) -> None:
    """The validating pass checked the ids once; a pass over the texts must not hold every id in a dict again."""
    docs = [{"_id": f"d{i}", "text": f"text {i}"} for i in range(50)]
    folder = _folder(tmp_path / "f", docs, [{"_id": "q1", "text": "x"}], [("q1", "d1", 1)])
    data = load_beir_folder(folder, stream=True)
    texts = data.corpus_texts
    asked: list[bool] = []
    reader = texts._reader
    texts._reader = lambda path, check: asked.append(check) or reader(path, check)
    assert [t for c in texts.chunks(16) for t in c] == [d["text"] for d in docs]
    assert texts.take([49, 3]) == ["text 49", "text 3"]
    assert asked == [False, False]
