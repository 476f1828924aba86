"""A hub task's corpus handed over by mteb as a `datasets.Dataset` stays Arrow-backed (ids and texts read from its
table per pass, not Python lists): the same ids, texts, warnings, fingerprint and scores as the list path, and
the same refusals of a corpus it cannot score."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from leafbench.data import ArrowFiles, ArrowIds, ArrowTexts, DataError, load_retrieval_task, read_qrels, take_items
from leafbench.data.mteb_split import retrieval_data_from_mteb_split

datasets = pytest.importorskip("datasets")
SOURCE = "hf:mteb/scifact@rev"


@pytest.fixture(scope="module")
def scifact_rows(scifact_dir: Path) -> dict[str, Any]:
    """SciFact's corpus, queries and test qrels as mteb holds them: column dicts and qid -> {docid: score}."""
    docs = [json.loads(line) for line in (scifact_dir / "corpus.jsonl").read_text().splitlines() if line]
    queries = [json.loads(line) for line in (scifact_dir / "queries.jsonl").read_text().splitlines() if line]
    rels: dict[str, dict[str, int]] = {}
    for qid, doc_id, score, _ in read_qrels(scifact_dir / "qrels" / "test.tsv"):
        rels.setdefault(qid, {})[doc_id] = score
    return {
        "corpus": {k: [d.get(f) or "" for d in docs] for k, f in (("id", "_id"), ("title", "title"), ("text", "text"))},
        "queries": {"id": [q["_id"] for q in queries], "text": [q["text"] for q in queries]},
        "relevant_docs": rels,
    }


def _split(rows: dict[str, Any], corpus: Any) -> dict[str, Any]:
    queries = datasets.Dataset.from_dict(rows["queries"])
    return {"corpus": corpus, "queries": queries, "relevant_docs": rows["relevant_docs"], "top_ranked": None}


@pytest.fixture(scope="module")
def mapped_corpus(scifact_rows: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Any:
    """SciFact's corpus as a Dataset memory-mapped from two Arrow files on disk, as the hub cache serves it."""
    folder = tmp_path_factory.mktemp("hub") / "corpus"
    datasets.Dataset.from_dict(scifact_rows["corpus"]).save_to_disk(str(folder), num_shards=2)
    return datasets.load_from_disk(str(folder))


def _pair(rows: dict[str, Any], corpus: Any, **kw: Any) -> tuple[Any, Any]:
    """(list path, Arrow path) of one split: the corpus as plain column lists, and as the Dataset given."""
    plain = retrieval_data_from_mteb_split("SciFact", "test", _split(rows, dict(rows["corpus"])), SOURCE, False, **kw)
    arrow = retrieval_data_from_mteb_split("SciFact", "test", _split(rows, corpus), SOURCE, False, **kw)
    return plain, arrow


def test_dataset_corpus_stays_arrow_and_equals_the_list_path(scifact_rows: dict, mapped_corpus: Any) -> None:
    plain, arrow = _pair(scifact_rows, mapped_corpus)
    assert isinstance(plain.corpus_ids, list) and isinstance(plain.corpus_texts, list)
    assert isinstance(arrow.corpus_ids, ArrowIds) and isinstance(arrow.corpus_texts, ArrowTexts)
    assert arrow.streamed and not plain.streamed
    assert list(arrow.corpus_ids) == plain.corpus_ids and list(arrow.corpus_texts) == plain.corpus_texts
    assert (arrow.query_ids, arrow.query_texts, arrow.qrels) == (plain.query_ids, plain.query_texts, plain.qrels)
    assert arrow.data_warnings() == plain.data_warnings()
    assert arrow.fingerprint() == plain.fingerprint()
    assert [t for c in arrow.corpus_texts.chunks(1000) for t in c] == plain.corpus_texts
    assert [len(c) for c in arrow.corpus_texts.chunks(2000)] == [2000, 2000, len(plain.corpus_texts) - 4000]
    sub_a, sub_p = arrow.subset(30, 200, seed=3), plain.subset(30, 200, seed=3)
    assert (sub_a.corpus_ids, sub_a.corpus_texts, sub_a.qrels) == (sub_p.corpus_ids, sub_p.corpus_texts, sub_p.qrels)
    assert sub_a.fingerprint() == sub_p.fingerprint()


def test_texts_built_as_the_list_path_builds_them(scifact_rows: dict) -> None:
    """Titles empty or null, whitespace Python strips but ASCII trimming would not, empty documents."""
    corpus = {
        "id": ["a", "b", "c", "d", "e", "f", "g"],
        "title": ["T", "", None, " \u3000", "\x1c", "x\u00a0", None],
        "text": [" body ", "\tb\n", "\u2003c\u0085", "", " ", "y", "\u2028"],
    }
    rows = {**scifact_rows, "corpus": corpus, "relevant_docs": {"1": {"a": 1, "zzz": 1}}}
    plain, arrow = _pair(rows, datasets.Dataset.from_dict(corpus))
    assert isinstance(arrow.corpus_texts, ArrowTexts)
    assert list(arrow.corpus_texts) == plain.corpus_texts
    assert arrow.data_warnings() == plain.data_warnings() and "empty_documents" in plain.data_warnings()
    assert arrow.empty_where == plain.empty_where and arrow.fingerprint() == plain.fingerprint()


def test_take_and_positions_of(scifact_rows: dict, mapped_corpus: Any) -> None:
    plain, arrow = _pair(scifact_rows, mapped_corpus)
    pos = [5, 0, len(plain.corpus_ids) - 1, 5, 17]
    assert arrow.corpus_ids.take(pos) == [plain.corpus_ids[i] for i in pos]
    assert arrow.corpus_texts.take(pos) == [plain.corpus_texts[i] for i in pos]
    assert take_items(arrow.corpus_texts, np.asarray(pos)) == take_items(plain.corpus_texts, pos)
    assert arrow.corpus_texts[-1] == plain.corpus_texts[-1] and arrow.corpus_ids[3:6] == plain.corpus_ids[3:6]
    assert arrow.corpus_texts.take([]) == []
    with pytest.raises(IndexError):
        arrow.corpus_ids[len(plain.corpus_ids)]
    wanted = [plain.corpus_ids[9], "no-such-id", plain.corpus_ids[4000], "", plain.corpus_ids[9]]
    assert arrow.corpus_ids.positions_of(wanted) == {plain.corpus_ids[9]: 9, plain.corpus_ids[4000]: 4000}
    assert arrow.corpus_ids.positions_of([]) == {}


def test_refused_as_the_list_path_refuses(scifact_rows: dict) -> None:
    def outcome(corpus: dict[str, list]) -> list[str]:
        found = []
        for c in (corpus, datasets.Dataset.from_dict(corpus)):
            try:
                d = retrieval_data_from_mteb_split("X", "test", _split(scifact_rows, c), "hf:x@y", False)
                found.append(f"ok {list(d.corpus_ids)} {type(d.corpus_ids).__name__}")
            except DataError as e:
                found.append(str(e))
        return found

    dup = outcome({"id": ["4983", "b", "4983"], "title": ["", "", ""], "text": ["x", "y", "z"]})
    assert dup[0] == dup[1] == "hf:x@y [test]: duplicate corpus id '4983' (row 2)"
    none = outcome({"id": [], "title": [], "text": []})
    assert none[0] == none[1] == "hf:x@y [test]: empty corpus (no documents)"
    empty_id = outcome({"id": ["4983", ""], "text": ["x", "y"]})
    assert empty_id[0].replace(" list", "") == empty_id[1].replace(" ArrowIds", "")
    twice_empty = outcome({"id": ["", "4983", ""], "text": ["x", "y", "z"]})
    assert twice_empty[0] == twice_empty[1] == "hf:x@y [test]: duplicate corpus id '' (row 2)"
    not_text = outcome({"id": ["4983", "b"], "text": ["x", None]})
    assert not_text[0] == not_text[1] and "non-text 'text' (NoneType)" in not_text[0]


def test_datasets_arrow_cannot_mirror_are_read_as_lists(scifact_rows: dict) -> None:
    """Integer ids (the list path's str()) and a row mapping left by select() take the list path."""
    scifact_rows = {**scifact_rows, "relevant_docs": {"1": {"4983": 1}}}
    ints = datasets.Dataset.from_dict({"id": [4983, 5836], "title": ["", "T"], "text": ["x", "y"]})
    d = retrieval_data_from_mteb_split("X", "test", _split(scifact_rows, ints), "hf:x@y", False)
    assert d.corpus_ids == ["4983", "5836"] and d.corpus_texts == ["x", "T y"]
    picked = datasets.Dataset.from_dict({"id": ["a", "4983", "b"], "text": ["x", "y", "z"]}).select([2, 1])
    d = retrieval_data_from_mteb_split("X", "test", _split(scifact_rows, picked), "hf:x@y", False)
    assert d.corpus_ids == ["b", "4983"] and d.corpus_texts == ["z", "y"]


def _hub_task(rows: dict[str, Any], corpus: Any) -> Any:
    """mteb's SciFact task with its data set in place, as if loaded from the hub (no network)."""
    import mteb

    task = mteb.get_task("SciFact")
    task.dataset = {"default": {"test": _split(rows, corpus)}}
    task.data_loaded = True
    return task


def test_hub_load_and_run_score_as_the_list_path(
    scifact_rows: dict, mapped_corpus: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """load_retrieval_task through mteb keeps the Arrow corpus; a fake-encoder run scores exactly as on lists, and
    the Arrow run reuses the list run's result (one fingerprint)."""
    import mteb

    from leafbench.encode import Encoder
    from leafbench.evaluate import evaluate_retrieval
    from leafbench.registry import resolve_model
    from leafbench.store import open_store

    monkeypatch.delenv("LEAFBENCH_DATA_DIR", raising=False)
    loaded = []
    for corpus in (dict(scifact_rows["corpus"]), mapped_corpus):
        task = _hub_task(scifact_rows, corpus)
        monkeypatch.setattr(mteb, "get_task", lambda name, task=task: task)
        loaded.append(load_retrieval_task("SciFact", offline=False))
    plain, arrow = loaded
    assert isinstance(plain.corpus_texts, list) and isinstance(arrow.corpus_texts, ArrowTexts)
    assert arrow.source == plain.source and plain.source.startswith("hf:")
    assert arrow.fingerprint() == plain.fingerprint()

    enc = {"student": Encoder(resolve_model("hash-64"), open_store(tmp_path / "store", "lance"))}
    ra = evaluate_retrieval(plain, enc, ["student"], tmp_path / "out", "hash-64", force=False)
    assert evaluate_retrieval(arrow, enc, ["student"], tmp_path / "out", "hash-64", force=False).skipped == 1
    rb = evaluate_retrieval(arrow, enc, ["student"])  # in memory: computed again, from the store's rows
    assert rb.results["student"]["scores"] == ra.results["student"]["scores"]


@pytest.fixture()
def ray_local():
    """A fresh local Ray cluster started in the main thread (as tests/test_corpus_stream.py starts it)."""
    import os

    ray = pytest.importorskip("ray")
    ray.shutdown()
    ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def test_ray_workers_read_the_arrow_cache_files(
    scifact_rows: dict, mapped_corpus: Any, tmp_path: Path, ray_local: Any
) -> None:
    """Workers map the Dataset's cache files themselves (the driver's list engine is never asked) and store the
    rows the local engine stores; an in-memory Dataset names no files (its texts go through the driver)."""
    from leafbench.encode import Encoder
    from leafbench.engine import make_engine
    from leafbench.registry import resolve_model
    from leafbench.store import open_store

    _, arrow = _pair(scifact_rows, mapped_corpus)
    files = arrow.corpus_texts.path
    assert isinstance(files, ArrowFiles) and len(files.files) == 2 and sum(files.rows) == arrow.n_docs
    _, in_memory = _pair(scifact_rows, datasets.Dataset.from_dict(scifact_rows["corpus"]))
    assert in_memory.corpus_texts.path is None
    spec = resolve_model("hash-32")
    local = Encoder(spec, open_store(tmp_path / "local", "lance")).encode(arrow.corpus_texts, "document")
    engine = make_engine("ray", workers=2, batch_size=512)
    asked: list[int] = []
    engine.encode = lambda *a, **k: asked.append(1)  # texts shipped by the driver: must not happen
    store = open_store(tmp_path / "ray", "lance")
    seen: list[int] = []
    got = Encoder(spec, store, engine=engine).encode(arrow.corpus_texts, "document", progress=seen.append)
    np.testing.assert_array_equal(np.asarray(got.rows), np.asarray(local.rows))
    assert sum(seen) == arrow.n_docs and not asked and got.stats.n_encoded >= len(set(arrow.corpus_texts))
    assert Encoder(spec, store, engine=engine).encode(arrow.corpus_texts, "document").stats.n_encoded == 0
