"""Tests for leafbench.data: real SciFact, subsets, every DataError, task names, mteb path."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from leafbench import data as data_mod
from leafbench.data import (
    TASKS,
    DataError,
    RetrievalData,
    describe_warnings,
    doc_text,
    find_local_folder,
    load_beir_folder,
    load_retrieval_parts,
    load_retrieval_task,
    mteb_tasks,
    resolve_task_name,
    retrieval_data_from_mteb_split,
)

# --------------------------------------------------------------------------- helpers


def write_jsonl(path: Path, rows: Iterable[dict[str, Any] | str]) -> Path:
    """Write rows (dicts as JSON, strings verbatim) one per line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def write_qrels(path: Path, rows: Iterable[str], header: bool = True) -> Path:
    """Write a qrels TSV; rows are raw lines so tests can break them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = (["query-id\tcorpus-id\tscore"] if header else []) + list(rows)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def make_folder(
    root: Path,
    name: str = "toy",
    corpus: list[dict[str, Any] | str] | None = None,
    queries: list[dict[str, Any] | str] | None = None,
    qrels: list[str] | None = None,
    split: str = "test",
) -> Path:
    """A small valid BEIR folder; any part can be overridden with broken content."""
    folder = root / name
    if corpus is None:
        corpus = [
            {"_id": "d1", "title": "Title one", "text": "Body one."},
            {"_id": "d2", "title": "", "text": "Body two."},
            {"_id": "d3", "text": "Body three, no title."},
            {"_id": "d4", "title": None, "text": " Body four. "},
            {"_id": "d5", "title": "T5", "text": "Body five."},
        ]
    if queries is None:
        queries = [
            {"_id": "q1", "text": "first query"},
            {"_id": "q2", "text": "second query"},
            {"_id": "q3", "text": "train-only query"},
            {"_id": "q4", "text": "query with zero-score judgement only"},
        ]
    if qrels is None:
        qrels = ["q1\td1\t1", "q1\td3\t2", "q2\td2\t1", "q4\td5\t0"]
    write_jsonl(folder / "corpus.jsonl", corpus)
    write_jsonl(folder / "queries.jsonl", queries)
    write_qrels(folder / "qrels" / f"{split}.tsv", qrels)
    return folder


def error_of(folder: Path, **kwargs: Any) -> str:
    """The DataError message of loading ``folder`` (fails the test if none is raised)."""
    with pytest.raises(DataError) as exc:
        load_beir_folder(folder, **kwargs)
    message = str(exc.value)
    assert "\n" not in message, "DataError messages must be one line"
    return message


@pytest.fixture(scope="module")
def scifact_dir(shared_data: Path) -> Path:
    """The real BEIR SciFact folder."""
    return shared_data / "beir" / "scifact"


@pytest.fixture(scope="module")
def scifact(scifact_dir: Path) -> RetrievalData:
    """SciFact test split, loaded once for the module (0.1 s, but used a lot)."""
    return load_beir_folder(scifact_dir)


# --------------------------------------------------------------------------- real SciFact


def test_scifact_counts(scifact: RetrievalData, scifact_dir: Path) -> None:
    assert scifact.task_name == "SciFact"
    assert scifact.split == "test"
    assert scifact.source == str(scifact_dir)
    assert scifact.ignore_identical_ids is False
    assert scifact.n_docs == len(scifact.corpus_texts) == 5183
    assert scifact.n_queries == len(scifact.query_texts) == 300
    assert scifact.n_qrels == 339
    assert set(scifact.qrels) == set(scifact.query_ids)
    corpus = set(scifact.corpus_ids)
    assert all(d in corpus for rels in scifact.qrels.values() for d in rels)


def test_scifact_train_split(scifact_dir: Path) -> None:
    train = load_beir_folder(scifact_dir, split="train")
    assert (train.n_queries, train.n_qrels) == (809, 919)


def test_scifact_matches_beir_loader(scifact: RetrievalData, scifact_dir: Path) -> None:
    """BEIR's own GenericDataLoader sees the same ids, query texts and qrels."""
    from beir.datasets.data_loader import GenericDataLoader

    corpus, queries, qrels = GenericDataLoader(str(scifact_dir)).load("test")
    assert list(corpus) == scifact.corpus_ids
    assert queries == dict(zip(scifact.query_ids, scifact.query_texts))
    assert qrels == scifact.qrels


def test_scifact_order_and_doc_text(scifact: RetrievalData, scifact_dir: Path) -> None:
    raw = [json.loads(line) for line in (scifact_dir / "corpus.jsonl").open(encoding="utf-8")]
    assert scifact.corpus_ids == [r["_id"] for r in raw]
    with_title = next(i for i, r in enumerate(raw) if r["title"])
    r = raw[with_title]
    assert scifact.corpus_texts[with_title] == r["title"] + " " + r["text"]
    # queries keep file order
    file_qids = [json.loads(line)["_id"] for line in (scifact_dir / "queries.jsonl").open()]
    positions = [file_qids.index(q) for q in scifact.query_ids]
    assert positions == sorted(positions)


def test_scifact_doc_text_matches_mteb(scifact: RetrievalData, scifact_dir: Path) -> None:
    """mteb's own document-text construction gives byte-identical strings."""
    from datasets import Dataset
    from mteb._create_dataloaders import _corpus_to_dict, _retrieval_texts
    from mteb.types import PromptType

    rows = []
    with (scifact_dir / "corpus.jsonl").open(encoding="utf-8") as f:
        for _, line in zip(range(40), f):
            r = json.loads(line)
            rows.append({"id": r["_id"], "title": r["title"], "text": r["text"]})
    for i, row in enumerate(rows[:5]):
        assert _corpus_to_dict(row)["text"] == scifact.corpus_texts[i]
    assert _retrieval_texts(Dataset.from_list(rows), PromptType.document) == (scifact.corpus_texts[:40])


def test_doc_text_rules() -> None:
    """mteb strips in both branches; None title counts as empty."""
    assert doc_text("T", "body") == "T body"
    assert doc_text("", " body ") == "body"
    assert doc_text(None, "body ") == "body"
    assert doc_text("T ", "") == "T"


# --------------------------------------------------------------------------- subset


def test_subset_basic(scifact: RetrievalData) -> None:
    sub = scifact.subset(n_queries=20, n_docs=200, seed=0)
    assert sub.n_queries == 20 and sub.n_docs == 200
    assert sub.task_name == scifact.task_name and sub.source == scifact.source
    # every relevant doc of every kept query is kept, with its score
    for qid in sub.query_ids:
        assert sub.qrels[qid] == scifact.qrels[qid]
    assert set(sub.qrels) == set(sub.query_ids)
    # original relative order, texts aligned with ids
    q_pos = [scifact.query_ids.index(q) for q in sub.query_ids]
    d_pos = {d: i for i, d in enumerate(scifact.corpus_ids)}
    assert q_pos == sorted(q_pos)
    assert [d_pos[d] for d in sub.corpus_ids] == sorted(d_pos[d] for d in sub.corpus_ids)
    pairs = zip(sub.corpus_ids, sub.corpus_texts)
    assert all(scifact.corpus_texts[d_pos[d]] == t for d, t in pairs)
    assert all(scifact.query_texts[p] == t for p, t in zip(q_pos, sub.query_texts))
    # the cut travels with the data, so any evaluator records it (full data has none)
    assert scifact.subset_spec is None and sub.subset_spec == {"max_queries": 20, "max_docs": 200}
    assert scifact.subset(None, None).subset_spec is None and scifact.subset(5, 9, seed=3).subset_spec["seed"] == 3


def test_subset_deterministic_and_seeded(scifact: RetrievalData) -> None:
    a = scifact.subset(10, 100, seed=1)
    b = scifact.subset(10, 100, seed=1)
    c = scifact.subset(10, 100, seed=2)
    assert (a.query_ids, a.corpus_ids) == (b.query_ids, b.corpus_ids)
    assert (a.query_ids, a.corpus_ids) != (c.query_ids, c.corpus_ids)
    # the query choice does not depend on n_docs
    assert scifact.subset(10, 50, seed=1).query_ids == a.query_ids


def test_subset_keeps_all_relevant_even_over_budget(scifact: RetrievalData) -> None:
    sub = scifact.subset(n_queries=50, n_docs=5)
    relevant = {d for rels in sub.qrels.values() for d in rels}
    assert len(relevant) > 5
    assert set(sub.corpus_ids) == relevant


def test_subset_none_and_bounds(scifact: RetrievalData) -> None:
    full = scifact.subset(None, None)
    assert full.query_ids == scifact.query_ids and full.corpus_ids == scifact.corpus_ids
    only_queries = scifact.subset(5, None)
    assert only_queries.n_queries == 5 and only_queries.n_docs == scifact.n_docs
    big = scifact.subset(10_000, 10**9)
    assert big.n_queries == 300 and big.n_docs == 5183
    with pytest.raises(DataError, match="n_queries must be >= 1 or None, got 0"):
        scifact.subset(0, 10)
    with pytest.raises(DataError, match="n_docs must be >= 1 or None, got -1"):
        scifact.subset(5, -1)


# --------------------------------------------------------------------------- toy folder


def test_toy_folder_loads(tmp_path: Path) -> None:
    d = load_beir_folder(make_folder(tmp_path))
    assert d.task_name == "toy"
    assert d.corpus_ids == ["d1", "d2", "d3", "d4", "d5"]
    assert d.corpus_texts == [
        "Title one Body one.",
        "Body two.",
        "Body three, no title.",
        "Body four.",
        "T5 Body five.",
    ]
    # q3 has no qrels in this split -> dropped; q4 is judged with score 0 only -> kept,
    # exactly like mteb (its filter only drops queries with an *empty* qrels dict)
    assert d.query_ids == ["q1", "q2", "q4"]
    assert d.qrels == {"q1": {"d1": 1, "d3": 2}, "q2": {"d2": 1}, "q4": {"d5": 0}}


def test_query_filter_mirrors_mteb(tmp_path: Path) -> None:
    """Our kept queries equal what mteb's loader + _filter_queries_without_positives keep."""
    from datasets import Dataset
    from mteb.abstasks.retrieval import _filter_queries_without_positives

    d = load_beir_folder(make_folder(tmp_path))
    queries = Dataset.from_dict({"id": ["q1", "q2", "q3", "q4"], "text": ["a", "b", "c", "d"]})
    relevant = {"q1": {"d1": 1, "d3": 2}, "q2": {"d2": 1}, "q4": {"d5": 0}, "q9": {}}
    # mteb's loader first keeps only queries named in the qrels, then filters
    queries = queries.select([i for i, q in enumerate(queries["id"]) if q in relevant])
    _, kept = _filter_queries_without_positives(relevant, queries)
    assert list(kept["id"]) == d.query_ids


def test_int_ids_blank_lines_and_crlf(tmp_path: Path) -> None:
    folder = make_folder(
        tmp_path,
        corpus=[{"_id": 1, "title": "A", "text": "x"}, "", {"_id": "2", "text": "y"}],
        queries=[{"_id": 7, "text": "q"}],
        qrels=["7\t1\t1", "7\t2\t0", ""],
    )
    qrels = folder / "qrels" / "test.tsv"
    qrels.write_bytes(qrels.read_bytes().replace(b"\n", b"\r\n"))
    d = load_beir_folder(folder)
    assert d.corpus_ids == ["1", "2"] and d.query_ids == ["7"]
    assert d.qrels == {"7": {"1": 1, "2": 0}}


def test_task_name_from_folder(tmp_path: Path) -> None:
    d = load_beir_folder(make_folder(tmp_path, name="webis-touche2020"))
    assert d.task_name == "Touche2020"
    d = load_beir_folder(make_folder(tmp_path, name="x"), task_name="Custom")
    assert d.task_name == "Custom"


# --------------------------------------------------------------------------- DataError cases


@pytest.mark.parametrize("missing", ["corpus.jsonl", "queries.jsonl"])
def test_missing_file_lists_folder(tmp_path: Path, missing: str) -> None:
    folder = make_folder(tmp_path)
    (folder / missing).unlink()
    msg = error_of(folder)
    assert f"missing {missing}" in msg and str(folder) in msg
    assert "folder contains:" in msg and "qrels/" in msg


def test_missing_split_lists_available(tmp_path: Path) -> None:
    folder = make_folder(tmp_path)
    write_qrels(folder / "qrels" / "dev.tsv", ["q1\td1\t1"])
    msg = error_of(folder, split="train")
    assert "train.tsv" in msg and "available splits: dev, test" in msg


def test_missing_qrels_folder(tmp_path: Path) -> None:
    folder = make_folder(tmp_path)
    (folder / "qrels" / "test.tsv").unlink()
    (folder / "qrels").rmdir()
    msg = error_of(folder)
    assert "missing qrels/test.tsv" in msg and "corpus.jsonl" in msg


def test_not_a_folder(tmp_path: Path) -> None:
    msg = error_of(tmp_path / "nope")
    assert "nope: not a folder" in msg


@pytest.mark.parametrize(
    ("bad_line", "expected"),
    [
        ('{"_id": "d9", "text": "x",,}', "invalid JSON (Expecting"),
        ('["a list"]', "expected a JSON object, got list"),
        ('{"title": "t", "text": "x"}', "missing field '_id'"),
        ('{"_id": null, "text": "x"}', "field '_id' must be a string, got NoneType"),
        ('{"_id": "", "text": "x"}', "field '_id' is empty"),
        ('{"_id": "d9", "title": "t"}', "missing field 'text'"),
        ('{"_id": "d9", "text": null}', "null field 'text'"),
        ('{"_id": "d9", "text": 5}', "field 'text' must be a string, got int"),
        ('{"_id": "d9", "title": 5, "text": "x"}', "field 'title' must be a string"),
        ('{"_id": "d1", "text": "dup"}', "duplicate _id 'd1' (first seen at line 1)"),
    ],
)
def test_corpus_line_errors(tmp_path: Path, bad_line: str, expected: str) -> None:
    good = [{"_id": "d1", "text": "a"}, {"_id": "d2", "text": "b"}]
    folder = make_folder(tmp_path, corpus=[*good, bad_line], qrels=["q1\td1\t1"])
    msg = error_of(folder)
    assert msg.startswith(f"{folder / 'corpus.jsonl'}:3: ")
    assert expected in msg


def test_invalid_utf8(tmp_path: Path) -> None:
    folder = make_folder(tmp_path)
    with (folder / "corpus.jsonl").open("ab") as f:
        f.write(b'{"_id": "d9", "text": "\xff\xfe"}\n')
    msg = error_of(folder)
    assert "corpus.jsonl:6: not valid UTF-8" in msg


@pytest.mark.parametrize(
    ("bad_line", "expected"),
    [
        ('{"_id": "q1", "text": "again"}', "duplicate _id 'q1' (first seen at line 1)"),
        ('{"_id": "q9"', "invalid JSON"),
        ('{"_id": "q9", "query": "x"}', "missing field 'text'"),
    ],
)
def test_query_line_errors(tmp_path: Path, bad_line: str, expected: str) -> None:
    folder = make_folder(tmp_path, queries=[{"_id": "q1", "text": "a"}, bad_line])
    msg = error_of(folder)
    assert msg.startswith(f"{folder / 'queries.jsonl'}:2: ")
    assert expected in msg


def test_empty_corpus(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, corpus=["", "  "])
    msg = error_of(folder)
    assert "corpus.jsonl: empty corpus" in msg


@pytest.mark.parametrize(
    ("rows", "line", "expected"),
    [
        (["q1\td1\t1", "q1\td2"], 3, "expected 3 tab-separated columns, got 2"),
        (["q1\td1\t1\textra"], 2, "expected 3 tab-separated columns, got 4"),
        (["q1 0 d1 1"], 2, "TREC format"),
        (["q1\td1\t1", "q2\td2\t1.0"], 3, "score '1.0' is not an integer"),
        (["q1\td1\trel"], 2, "score 'rel' is not an integer"),
        (["\td1\t1"], 2, "empty query-id or corpus-id"),
    ],
)
def test_qrels_row_errors(tmp_path: Path, rows: list[str], line: int, expected: str) -> None:
    folder = make_folder(tmp_path, qrels=rows)
    msg = error_of(folder)
    assert msg.startswith(f"{folder / 'qrels' / 'test.tsv'}:{line}: ")
    assert expected in msg


def test_qrels_missing_header(tmp_path: Path) -> None:
    folder = make_folder(tmp_path)
    write_qrels(folder / "qrels" / "test.tsv", ["q1\td1\t1", "q2\td2\t1"], header=False)
    msg = error_of(folder)
    assert "test.tsv:1: missing header line" in msg


def test_qrels_header_only(tmp_path: Path) -> None:
    msg = error_of(make_folder(tmp_path, qrels=[]))
    assert "test.tsv: no qrels rows" in msg and "no queries left" in msg


def test_no_queries_left(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, qrels=["x1\td1\t1", "x2\td2\t1"])
    msg = error_of(folder)
    assert "test.tsv: no queries left" in msg
    assert "2 point at unknown query ids (e.g. 'x1' at line 2)" in msg


def test_all_docs_unknown_is_error_even_non_strict(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, qrels=["q1\tzz\t1", "q2\tyy\t1"])
    msg = error_of(folder)
    assert "2 point at unknown corpus ids (e.g. 'zz' at line 2)" in msg


def _no_python_warning(fn, *args, **kwargs):
    """Call fn: data warnings are recorded on the data, never raised as Python warnings (no `strict=True` hint)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn(*args, **kwargs)


def test_unknown_docs_are_recorded_or_raise(tmp_path: Path) -> None:
    rows = ["q1\td1\t1", "q1\tabc\t1", "q2\td2\t1", "q2\tabd\t1", "q3\tabe\t1"]
    folder = make_folder(tmp_path, qrels=rows)
    d = _no_python_warning(load_beir_folder, folder)
    qrels = folder / "qrels" / "test.tsv"
    assert d.data_warnings() == {
        "qrels_unknown_documents": {
            "count": 3,
            "what": "qrels rows naming unknown document ids",
            "example": "'abc'",
            "where": f"{qrels}:3",
            "action": "kept as misses no model can retrieve, as mteb does",
        }
    }
    assert describe_warnings(d.data_warnings()) == [
        f"3 qrels rows naming unknown document ids (e.g. 'abc' at {qrels}:3): kept as misses no model can retrieve, "
        "as mteb does"
    ]
    # Kept, as mteb keeps them: unretrievable misses that lower recall, so scores stay comparable.
    assert d.qrels == {"q1": {"d1": 1, "abc": 1}, "q2": {"d2": 1, "abd": 1}, "q3": {"abe": 1}}
    assert d.subset(2, None).data_warnings() == d.data_warnings()  # about the files read

    msg = error_of(folder, strict=True)
    assert msg == (
        f"{qrels}:3: 3 qrels rows naming unknown document ids (e.g. 'abc'); "
        "strict mode (--strict) makes data warnings errors"
    )


def test_unknown_queries_are_recorded_or_raise(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, qrels=["q1\td1\t1", "nope\td2\t1"])
    d = _no_python_warning(load_beir_folder, folder)
    w = d.data_warnings()["qrels_unknown_queries"]
    assert (w["count"], w["example"], w["where"], w["action"]) == (1, "'nope'", f"{folder}/qrels/test.tsv:3", "dropped")
    assert d.query_ids == ["q1"]
    assert "test.tsv:3: 1 qrels rows naming unknown query ids" in error_of(folder, strict=True)


def test_conflicting_duplicate_qrels(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, qrels=["q1\td1\t1", "q1\td1\t1", "q1\td1\t2"])
    d = _no_python_warning(load_beir_folder, folder)
    assert "lines 3 and 4" in d.data_warnings()["qrels_conflicting_duplicates"]["example"]
    assert d.qrels == {"q1": {"d1": 2}}  # last row wins, like mteb and BEIR
    assert "conflicting duplicate qrels" in error_of(folder, strict=True)


def test_empty_texts_are_counted_over_what_is_scored(tmp_path: Path) -> None:
    folder = make_folder(tmp_path)
    lines = (folder / "queries.jsonl").read_text().splitlines()
    lines[0] = json.dumps({"_id": json.loads(lines[0])["_id"], "text": "  "})
    (folder / "queries.jsonl").write_text("\n".join(lines) + "\n")
    with (folder / "corpus.jsonl").open("a") as f:
        f.write(json.dumps({"_id": "blank", "title": "", "text": ""}) + "\n")
    d = _no_python_warning(load_beir_folder, folder)
    w = d.data_warnings()
    assert w["empty_documents"]["count"] == 1 and w["empty_documents"]["where"].endswith(
        "corpus.jsonl:" + str(d.n_docs)
    )
    assert w["empty_queries"]["count"] == 1 and w["empty_queries"]["where"] == f"{folder / 'queries.jsonl'}:1"
    assert "empty_documents" not in d.subset(None, 1).data_warnings()  # the subset does not score it
    assert "empty" in error_of(folder, strict=True) and "--strict" in error_of(folder, strict=True)


def test_clean_data_emits_no_warning(tmp_path: Path) -> None:
    d = _no_python_warning(load_beir_folder, make_folder(tmp_path))
    assert d.data_warnings() == {}


# --------------------------------------------------------------------------- task names


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("SciFact", "SciFact"),
        ("scifact", "SciFact"),
        ("SCIFACT", "SciFact"),
        ("Touche2020", "Touche2020"),
        ("webis-touche2020", "Touche2020"),
        ("trec-covid", "TRECCOVID"),
        ("TREC_COVID", "TRECCOVID"),
        ("fiqa", "FiQA2018"),
        ("quora", "QuoraRetrieval"),
        ("dbpedia-entity", "DBPedia"),
        ("cqadupstack", "CQADupstackRetrieval"),
        ("msmarco", "MSMARCO"),
    ],
)
def test_resolve_task_name(given: str, expected: str) -> None:
    assert resolve_task_name(given) == expected


def test_resolve_every_task_and_folder() -> None:
    for mteb_name, folder in TASKS.items():
        assert resolve_task_name(mteb_name) == mteb_name
        assert resolve_task_name(folder) == mteb_name
    assert len(TASKS) == 15


def test_resolve_unknown_lists_closest_first() -> None:
    with pytest.raises(DataError) as exc:
        resolve_task_name("SciFakt")
    msg = str(exc.value)
    assert msg.startswith("unknown task 'SciFakt'; known tasks (closest first): SciFact, ")
    assert all(name in msg for name in TASKS)
    with pytest.raises(DataError, match="closest first\\): Touche2020"):
        resolve_task_name("touche")


@pytest.mark.parametrize(
    ("name", "expected"),
    [("ArguAna", True), ("QuoraRetrieval", True), ("SciFact", False), ("NFCorpus", False)],
)
def test_ignore_identical_ids_from_mteb(tmp_path: Path, name: str, expected: bool) -> None:
    """Loaded through load_retrieval_task from a tiny local folder of the right name."""
    make_folder(tmp_path, name=TASKS[name])
    d = load_retrieval_task(name, data_dir=tmp_path, offline=True)
    assert d.ignore_identical_ids is expected
    assert d.task_name == name and d.split == "test"
    assert d.source == str(tmp_path / TASKS[name])


def test_msmarco_uses_dev_split(tmp_path: Path) -> None:
    make_folder(tmp_path / "beir", name="msmarco", split="dev")
    d = load_retrieval_task("msmarco", data_dir=tmp_path, offline=True)
    assert (d.task_name, d.split, d.ignore_identical_ids) == ("MSMARCO", "dev", True)


# --------------------------------------------------------------------------- local lookup


def test_find_local_folder(tmp_path: Path, shared_data: Path) -> None:
    beir = shared_data / "beir"
    assert find_local_folder("SciFact", beir) == beir / "scifact"
    assert find_local_folder("scifact", shared_data) == beir / "scifact"
    assert find_local_folder("SciFact", beir / "scifact") == beir / "scifact"
    # queries+qrels-only folders have no corpus.jsonl -> not a local copy
    assert find_local_folder("ArguAna", shared_data / "beir_queries_qrels") is None
    assert find_local_folder("NQ", tmp_path) is None
    assert find_local_folder("NQ", tmp_path / "missing") is None


def test_load_retrieval_task_local_scifact(shared_data: Path) -> None:
    d = load_retrieval_task("scifact", data_dir=shared_data)
    assert (d.task_name, d.split, d.n_docs, d.n_queries) == ("SciFact", "test", 5183, 300)


def test_cut_down_copy_of_a_known_task_is_marked_as_a_local_copy(
    tmp_path: Path, shared_data: Path, scifact: RetrievalData
) -> None:
    """A scifact/ folder with 10 of SciFact's 300 test queries is not mteb's SciFact: it loads, marked as a local
    copy naming what differs from mteb's shipped statistics, and a --max-queries cut of it stays marked; the
    complete copy is not marked."""
    import mteb

    assert data_mod.mteb_sizes(mteb.get_task("SciFact"), "test") == {"queries": 300, "documents": 5183, "qrels": 339}
    assert load_retrieval_task("SciFact", data_dir=shared_data).subset_spec is None
    cut = scifact.subset(10, 60)
    folder = tmp_path / "scifact"
    write_jsonl(folder / "corpus.jsonl", [{"_id": i, "text": t} for i, t in zip(cut.corpus_ids, cut.corpus_texts)])
    write_jsonl(folder / "queries.jsonl", [{"_id": i, "text": t} for i, t in zip(cut.query_ids, cut.query_texts)])
    write_qrels(folder / "qrels" / "test.tsv", [f"{q}\t{d}\t{s}" for q, r in cut.qrels.items() for d, s in r.items()])
    d = load_retrieval_task("SciFact", data_dir=tmp_path, offline=True)
    assert d.subset_spec == {
        "local_copy": f"queries: 10 (mteb: 300), documents: 60 (mteb: 5183), qrels: {cut.n_qrels} (mteb: 339)"
    }
    assert data_mod.is_local_copy({"default": d}) and not data_mod.is_local_copy({"default": scifact})
    assert d.subset(5, None).subset_spec == {**d.subset_spec, "max_queries": 5, "max_docs": None}


def test_mteb_sizes_per_subset_and_from_the_total() -> None:
    """Multi-subset tasks have sizes per hf subset; a stats file with only the total compares that."""
    import mteb

    lotte = mteb.get_task("LoTTE")
    assert data_mod.mteb_sizes(lotte, "test", "writing_search") == {"queries": 1071, "documents": 199994, "qrels": 3546}
    assert data_mod.mteb_sizes(mteb.get_task("Touche2020"), "test") == {"qrels": 932, "documents + queries": 382594}
    assert data_mod.mteb_sizes(lotte, "no-such-split") == {}


def test_load_retrieval_task_env_data_dir(shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAFBENCH_DATA_DIR", str(shared_data / "beir"))
    d = load_retrieval_task("SciFact", offline=True)
    assert d.source == str(shared_data / "beir" / "scifact")


def test_load_retrieval_task_bad_data_dir(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="data dir does not exist"):
        load_retrieval_task("SciFact", data_dir=tmp_path / "typo", offline=True)


# --------------------------------------------------------------------------- offline / online


def _forbid_mteb(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(name: str) -> None:
        raise AssertionError("must not reach mteb")

    monkeypatch.setattr(mteb_tasks, "mteb_task", boom)


def test_offline_without_local_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _forbid_mteb(monkeypatch)
    with pytest.raises(DataError) as exc:
        load_retrieval_task("ArguAna", data_dir=tmp_path, offline=True)
    assert str(exc.value) == (
        f"no local copy of ArguAna under {tmp_path}; pass --data-dir pointing at a folder "
        "with arguana/corpus.jsonl (BEIR layout), or run with network access"
    )


def test_offline_from_env_no_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    _forbid_mteb(monkeypatch)
    monkeypatch.delenv("LEAFBENCH_DATA_DIR", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError, match=r"no local copy of NQ under \(no --data-dir given\)"):
        load_retrieval_task("nq")


def _mteb_split() -> dict[str, Any]:
    """A split shaped exactly like mteb's RetrievalSplitData after RetrievalDatasetLoader."""
    from datasets import Dataset

    corpus = Dataset.from_dict(
        {
            "id": ["d1", "d2", "d3", "d4"],
            "title": ["Title", "", "T3", ""],
            "text": ["body one", " body two ", "body three", "body four"],
        }
    )
    queries = Dataset.from_dict({"id": ["q1", "q2", "q3"], "text": ["one?", "two?", "three?"]})
    relevant_docs = {"q1": {"d1": 1, "d3": 0}, "q2": {"d2": 2}, "q3": {}}
    return {
        "corpus": corpus,
        "queries": queries,
        "relevant_docs": relevant_docs,
        "top_ranked": None,
    }


def test_retrieval_data_from_mteb_split_matches_mteb_texts() -> None:
    from mteb._create_dataloaders import _retrieval_texts
    from mteb.abstasks.retrieval import _filter_queries_without_positives
    from mteb.types import PromptType

    split = _mteb_split()
    d = retrieval_data_from_mteb_split("SciFact", "test", split, "hf:mteb/x@abc", True)
    assert list(d.corpus_ids) == ["d1", "d2", "d3", "d4"]
    assert list(d.corpus_texts) == _retrieval_texts(split["corpus"], PromptType.document)
    assert list(d.corpus_texts) == ["Title body one", "body two", "T3 body three", "body four"]
    _, kept = _filter_queries_without_positives(split["relevant_docs"], split["queries"])
    assert d.query_ids == list(kept["id"]) == ["q1", "q2"]
    assert d.query_texts == _retrieval_texts(kept, PromptType.query)
    assert d.qrels == {"q1": {"d1": 1, "d3": 0}, "q2": {"d2": 2}}
    assert (d.source, d.ignore_identical_ids, d.split) == ("hf:mteb/x@abc", True, "test")


def test_mteb_split_instructions_and_none_title() -> None:
    from datasets import Dataset
    from mteb._create_dataloaders import _retrieval_texts
    from mteb.types import PromptType

    split = _mteb_split()
    split["corpus"] = Dataset.from_dict({"id": ["d1", "d2"], "title": [None, "T"], "text": ["a", "b"]})
    split["queries"] = Dataset.from_dict({"id": ["q1", "q2"], "text": ["one?", "two?"], "instruction": ["inst", None]})
    split["relevant_docs"] = {"q1": {"d1": 1}, "q2": {"d2": 1}}
    d = retrieval_data_from_mteb_split("X", "test", split, "hf:x@y", False)
    assert list(d.corpus_texts) == ["a", "T b"]
    assert d.query_texts == _retrieval_texts(split["queries"], PromptType.query)
    assert d.query_texts == ["one? inst", "two?"]


def test_mteb_split_unknown_doc_and_reranking() -> None:
    split = _mteb_split()
    split["relevant_docs"] = {"q1": {"d1": 1, "gone": 1}}
    d = _no_python_warning(retrieval_data_from_mteb_split, "X", "test", split, "hf:x@y", False)
    w = d.data_warnings()["qrels_unknown_documents"]
    assert (w["count"], w["example"], w["where"]) == (1, "'gone'", "hf:x@y [test]")
    assert d.qrels == {"q1": {"d1": 1, "gone": 1}}
    with pytest.raises(DataError, match=r"hf:x@y \[test\]: 1 qrels rows naming unknown document ids"):
        retrieval_data_from_mteb_split("X", "test", split, "hf:x@y", False, strict=True)
    split["top_ranked"] = {"q1": ["d1"]}
    with pytest.raises(DataError, match="reranking"):
        retrieval_data_from_mteb_split("X", "test", split, "hf:x@y", False)


class FakeTask:
    """Stands in for an mteb AbsTaskRetrieval: metadata, hf_subsets, load_data, dataset."""

    def __init__(self, name: str, subsets: tuple[str, ...] = ("default",), fail: bool = False) -> None:
        self.metadata = SimpleNamespace(
            name=name,
            eval_splits=["test"],
            dataset={"path": "mteb/fake", "revision": "rev123"},
        )
        self.hf_subsets = list(subsets)
        self.ignore_identical_ids = True
        self.fail = fail
        self.loaded = False
        self.dataset: dict[str, dict[str, Any]] = {}

    def load_data(self, **kwargs: Any) -> None:
        if self.fail:
            raise ConnectionError("Max retries exceeded with url: https://huggingface.co/x\nmore")
        self.loaded = True
        self.dataset = {s: {"test": _mteb_split()} for s in self.hf_subsets}


def test_online_goes_through_mteb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mteb

    calls: list[str] = []
    fake = FakeTask("ArguAna")

    def get_task(name: str) -> FakeTask:
        calls.append(name)
        return fake

    monkeypatch.setattr(mteb, "get_task", get_task)
    d = load_retrieval_task("arguana", data_dir=tmp_path, offline=False)
    assert calls == ["ArguAna"] and fake.loaded
    assert d.source == "hf:mteb/fake@rev123"
    assert (d.task_name, d.split, d.ignore_identical_ids) == ("ArguAna", "test", True)
    assert d.query_ids == ["q1", "q2"] and d.n_docs == 4


def test_online_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mteb

    monkeypatch.setattr(mteb, "get_task", lambda name: FakeTask(name, subsets=("en", "de")))
    parts = load_retrieval_parts("NQ", data_dir=tmp_path, offline=False)  # each subset through mteb
    assert list(parts) == ["en", "de"] and parts["de"].source == "hf:mteb/fake@rev123 [de]"
    with pytest.raises(DataError, match="a multi-subset task .*load it with load_retrieval_parts"):
        load_retrieval_task("NQ", data_dir=tmp_path, offline=False)

    monkeypatch.setattr(mteb, "get_task", lambda name: FakeTask(name, fail=True))
    with pytest.raises(DataError) as exc:
        load_retrieval_task("NQ", data_dir=tmp_path, offline=False)
    msg = str(exc.value)
    assert "\n" not in msg
    assert msg.startswith("could not load NQ from hf:mteb/fake@rev123 (ConnectionError: Max retries")

    monkeypatch.setattr(mteb, "get_task", lambda name: FakeTask(name))
    with pytest.raises(DataError, match="no split 'dev'"):
        load_retrieval_task("NQ", data_dir=tmp_path, split="dev", offline=False)


def test_real_cqadupstack_is_an_aggregate_not_one_data_set(tmp_path: Path) -> None:
    """The real mteb aggregate task has no data of its own: its sub-tasks do (no network touched)."""
    with pytest.raises(DataError, match=r"CQADupstackRetrieval is an aggregate of 12 tasks"):
        load_retrieval_task("CQADupstack", data_dir=tmp_path, offline=False)
