"""A BEIR folder whose corpus and queries are Parquet (one file, or a folder of parts as dataset repos keep them)
reads as its JSONL twin: the same ids, texts, qrels and fingerprint, listed or streamed, so results and store rows
are shared; bad Parquet is named by file and row."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from parquet_folders import to_parquet

from leafbench.data import DataError, StreamedTexts, load_beir_folder
from leafbench.data.names import find_local_folder
from leafbench.tasks import folder_task


def _same(a, b) -> None:
    assert list(b.corpus_ids) == list(a.corpus_ids) and list(b.corpus_texts) == list(a.corpus_texts)
    assert (b.query_ids, b.query_texts, b.qrels) == (a.query_ids, a.query_texts, a.qrels)
    assert b.fingerprint() == a.fingerprint()


@pytest.mark.parametrize(("parts", "id_col"), [(0, "_id"), (4, "_id"), (3, "id")])
def test_scifact_as_parquet_reads_as_its_jsonl(scifact_dir: Path, tmp_path: Path, parts: int, id_col: str) -> None:
    folder = tmp_path / "scifact"
    shutil.copytree(scifact_dir, folder)
    jsonl = load_beir_folder(folder, stream=False)
    to_parquet(folder, parts=parts, id_col=id_col)
    listed, streamed = load_beir_folder(folder, stream=False), load_beir_folder(folder, stream=True)
    _same(jsonl, listed)
    _same(jsonl, streamed)
    assert isinstance(streamed.corpus_texts, StreamedTexts) and streamed.task_name == "SciFact"
    assert find_local_folder("SciFact", tmp_path) == folder
    assert folder_task(str(folder)) == ("SciFact", folder)


def _folder(root: Path, docs: list[dict], parts: int = 2) -> Path:
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (root / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "alpha"}) + "\n")
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    return to_parquet(root, parts=parts)


def _docs(n: int = 6) -> list[dict]:
    return [{"_id": f"d{i}", "title": None if i % 2 else f"t{i}", "text": f"doc {i}"} for i in range(1, n + 1)]


@pytest.mark.parametrize("stream", [False, True])
def test_bad_parquet_is_named_by_file_and_row(tmp_path: Path, stream: bool) -> None:
    docs = _docs()
    docs[4]["text"] = None  # the second part's second row (parts of 3)
    folder = _folder(tmp_path / "null", docs)
    with pytest.raises(DataError, match=r"corpus/part-00001\.parquet: row 2: null field 'text'"):
        load_beir_folder(folder, stream=stream)

    docs = _docs()
    docs[5]["_id"] = "d2"
    folder = _folder(tmp_path / "dup", docs)
    with pytest.raises(
        DataError, match=r"part-00001\.parquet: row 3: duplicate id 'd2' \(first: .*part-00000\.parquet row 2\)"
    ):
        load_beir_folder(folder, stream=stream)

    folder = _folder(tmp_path / "cols", _docs())
    pq.write_table(pa.table({"doc": ["x"], "text": ["y"]}), folder / "corpus" / "part-00000.parquet")
    with pytest.raises(DataError, match=r"part-00000\.parquet: no id column \('_id' or 'id'; columns: doc, text\)"):
        load_beir_folder(folder, stream=stream)

    pq.write_table(pa.table({"_id": ["x"], "text": [3]}), folder / "corpus" / "part-00000.parquet")
    with pytest.raises(DataError, match=r"column 'text' must be string, got int64"):
        load_beir_folder(folder, stream=stream)

    (folder / "corpus" / "part-00000.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match=r"part-00000\.parquet: not a readable Parquet file"):
        load_beir_folder(folder, stream=stream)


def test_an_empty_parquet_document_is_a_warning_naming_its_row(tmp_path: Path) -> None:
    docs = _docs()
    docs[4]["text"] = ""  # d5: no title either
    data = load_beir_folder(_folder(tmp_path / "f", docs), stream=True)
    assert data.data_warnings()["empty_documents"]["where"] == f"{tmp_path / 'f' / 'corpus'} row 5"


def test_a_missing_corpus_names_both_layouts(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "f", _docs())
    shutil.rmtree(folder / "corpus")
    with pytest.raises(DataError, match=r"missing corpus\.jsonl \(or corpus\.parquet, corpus/\*\.parquet\)"):
        load_beir_folder(folder)


def test_a_parquet_run_scores_as_its_jsonl_twin_from_the_same_rows(tmp_path: Path) -> None:
    from leafbench.encode import Encoder
    from leafbench.evaluate import evaluate_retrieval
    from leafbench.registry import resolve_model
    from leafbench.store import open_store

    # hash-64 reads queries as "query: " + text: documents spelled so give the same vector.
    docs = [{"_id": f"d{i}", "title": "query:", "text": f"t{i} document number {i}"} for i in range(200)]
    folder = tmp_path / "jsonl"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    queries = [{"_id": f"q{i}", "text": f"t{i} document number {i}"} for i in range(0, 200, 9)]
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    qrels = "".join(f"q{i}\td{i + i % 2}\t1\n" for i in range(0, 200, 9))
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + qrels)
    twin = to_parquet(Path(shutil.copytree(folder, tmp_path / "parquet")), parts=2)
    enc = {"student": Encoder(resolve_model("hash-64"), open_store(tmp_path / "store", "lance"))}
    a = evaluate_retrieval(load_beir_folder(folder), enc, ["student"])
    encoded = enc["student"].store.n_encoded
    b = evaluate_retrieval(load_beir_folder(twin, stream=True), enc, ["student"])
    assert enc["student"].store.n_encoded == encoded  # every row served from the JSONL run's
    assert b.results["student"]["scores"] == a.results["student"]["scores"]
    assert 0.3 < a.results["student"]["scores"]["test"][0]["ndcg_at_10"] < 1.0
