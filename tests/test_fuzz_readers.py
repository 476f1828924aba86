"""Fuzzing the data readers: whatever bytes a BEIR folder or a local STS/classification file holds, loading either
succeeds (and what it returns can be hashed and encoded downstream) or raises the project's own data error, one
line, naming the file (and the line, for a problem with one line). Never another exception type."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from leafbench.data import DataError, load_beir_folder  # noqa: E402
from leafbench.mteb_local import LocalDataError, LocalSpec, _build_split  # noqa: E402
from leafbench.store import hash_texts  # noqa: E402

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)

# --------------------------------------------------------------------------- line strategies

_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**18, max_value=10**30)
    | st.floats()
    | st.text(max_size=8)
)
json_values = st.recursive(
    _scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3), max_leaves=5
)
surrogates = st.sampled_from(["\ud800", "a\udfffb", "\udc80"])
texts = st.text(max_size=12) | surrogates | st.just("") | st.just("  ")


def _dump(obj: object, ascii_: bool) -> bytes:
    return json.dumps(obj, ensure_ascii=ascii_).encode("utf-8", "surrogatepass")


def json_line(fields: dict[str, st.SearchStrategy]) -> st.SearchStrategy[bytes]:
    """A JSON object line whose fields are sometimes right, sometimes of any type, sometimes missing."""
    obj = st.fixed_dictionaries({}, optional={k: v | json_values for k, v in fields.items()})
    return st.tuples(obj, st.booleans()).map(lambda t: _dump(*t))


garbage = st.one_of(
    st.binary(max_size=40),
    st.text(max_size=30).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from(
        [
            b"\xff\xfe{}",
            b'\xef\xbb\xbf{"_id": "x", "text": "bom"}',
            b'{"_id": "x", "text": NaN}',
            b"[" * 100_000,
            b'{"score": 1e999, "sentence1": "a", "sentence2": "b"}',
            b'{"_id": "\\ud800", "text": "x"}',
            b"null",
            b"{",
            b'{"label": [1], "text": "x"}',
            b'{"label": 99999999999999999999999, "text": "x"}',
            b'{"score": ' + b"9" * 400 + b', "sentence1": "a", "sentence2": "b"}',
            b"\xed\xa0\x80",
        ]
    ),
    json_values.map(lambda v: _dump(v, True)),
)


def lines_with_damage(good: list[bytes], bad: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """A file: the good lines with one line replaced or inserted, a random tail, or random bytes only."""

    def build(args: tuple) -> bytes:
        op, i, line, tail = args
        rows = list(good)
        i %= len(rows) + 1
        if op == "replace" and i < len(rows):
            rows[i] = line
        elif op == "insert":
            rows.insert(i, line)
        elif op == "only":
            return tail
        elif op == "clean":
            pass
        else:
            rows.append(line)
        return b"\n".join(rows) + b"\n" + (tail if op == "tail" else b"")

    return st.tuples(
        st.sampled_from(["replace", "insert", "append", "tail", "only", "clean"]),
        st.integers(0, 10),
        bad,
        st.binary(max_size=30),
    ).map(build)


# --------------------------------------------------------------------------- BEIR folders

CORPUS = [_dump({"_id": f"d{i}", "title": "t", "text": f"doc {i}"}, True) for i in range(3)]
QUERIES = [_dump({"_id": "q1", "text": "query one"}, True), _dump({"_id": "q2", "text": "query two"}, True)]
QRELS = [b"query-id\tcorpus-id\tscore", b"q1\td0\t1", b"q2\td1\t2"]

corpus_lines = garbage | json_line(
    {"_id": st.sampled_from(["d0", "d1", "d9", ""]) | st.integers(-3, 3) | texts, "text": texts, "title": texts}
)
query_lines = garbage | json_line({"_id": st.sampled_from(["q1", "q2", "q9"]) | texts, "text": texts})
qrels_cols = st.sampled_from(["q1", "q2", "q9", "d0", "d1", "d9", "", " ", "1", "-2", "x", "9" * 12, "0"]) | st.text(
    max_size=6
)
qrels_lines = garbage | st.lists(qrels_cols, min_size=1, max_size=4).map(
    lambda c: "\t".join(c).encode("utf-8", "surrogatepass")
)


def _data_error_names_a_file(msg: str, folder: Path) -> None:
    assert "\n" not in msg, msg
    files = [folder / "corpus.jsonl", folder / "queries.jsonl", folder / "qrels" / "test.tsv", folder]
    assert any(msg.startswith(f"{f}:") or msg.startswith(f"{f} ") for f in files), msg
    line = re.match(r"^(.*?\.(?:jsonl|tsv)):(\d+): ", msg)
    if line:  # a line is named: it exists in that file
        n = int(line.group(2))
        assert 1 <= n <= Path(line.group(1)).read_bytes().count(b"\n") + 1, msg


@FUZZ
@given(
    lines_with_damage(CORPUS, corpus_lines),
    lines_with_damage(QUERIES, query_lines),
    lines_with_damage(QRELS, qrels_lines),
    st.booleans(),
)
def test_beir_folder_loads_or_names_file_and_line(corpus: bytes, queries: bytes, qrels: bytes, strict: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "fuzz"
        (folder / "qrels").mkdir(parents=True)
        (folder / "corpus.jsonl").write_bytes(corpus)
        (folder / "queries.jsonl").write_bytes(queries)
        (folder / "qrels" / "test.tsv").write_bytes(qrels)
        try:
            data = load_beir_folder(folder, strict=strict)
        except DataError as e:
            _data_error_names_a_file(str(e), folder)
            return
        # What loads can go all the way: hashed for the store, fingerprinted for provenance, warnings serialised.
        hash_texts(data.corpus_texts + data.query_texts)
        data.fingerprint()
        json.dumps(data.data_warnings())
        assert set(data.qrels) == set(data.query_ids) and data.n_docs >= 1
        assert not (strict and data.data_warnings())


# --------------------------------------------------------------------------- local STS / classification files

STS_GOOD = [
    _dump({"sentence1": "a b", "sentence2": "a c", "score": 3.5}, True),
    _dump({"sentence1": "x", "sentence2": "y", "score": 0}, True),
]
CLS_GOOD = [_dump({"text": "good film", "label": 1}, True), _dump({"text": "bad film", "label": 0}, True)]
NAMED_GOOD = [
    _dump({"text": "my card", "label": "card_arrival"}, True),
    _dump({"text": "pin", "label": "change_pin"}, True),
]

sts_lines = garbage | json_line(
    {"sentence1": texts, "sentence2": texts, "score": st.floats() | st.integers() | st.sampled_from([1e308, -0.0])}
)
cls_lines = garbage | json_line({"text": texts, "label": st.integers() | st.sampled_from([2**63, -(2**63) - 1, True])})
named_lines = garbage | json_line(
    {"text": texts, "label": st.sampled_from(["card_arrival", "nope", "Refund_not_showing_up"])}
)


def _n_rows(content: bytes) -> int:
    return sum(1 for line in content.split(b"\n") if line.strip())


def _load_split(kind: str, content: bytes, label_names: tuple[str, ...] | None = None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rel = f"{kind}/Fuzz/test.jsonl"
        (root / rel).parent.mkdir(parents=True)
        (root / rel).write_bytes(content)
        # The expected size is the file's own row count, so well-formed rows go on into an Arrow Dataset.
        spec = LocalSpec(
            kind=kind,
            files={"default": {"test": rel}},
            sizes={"default": {"test": _n_rows(content)}},
            label_names=label_names,
        )
        try:
            ds = _build_split(spec, "default", "test", root)
        except LocalDataError as e:
            msg = str(e)
            assert "\n" not in msg and msg.startswith(f"{root / rel}:"), msg
            line = re.match(rf"^{re.escape(str(root / rel))}:(\d+): ", msg)
            assert line or "rows, expected" in msg or "file not found" in msg, msg
            if line:
                assert 1 <= int(line.group(1)) <= content.count(b"\n") + 1, msg
            return
        assert len(ds) == _n_rows(content)


@FUZZ
@given(lines_with_damage(STS_GOOD, sts_lines))
def test_local_sts_file_loads_or_names_file_and_line(content: bytes) -> None:
    _load_split("sts", content)


@FUZZ
@given(lines_with_damage(CLS_GOOD, cls_lines))
def test_local_classification_file_loads_or_names_file_and_line(content: bytes) -> None:
    _load_split("classification", content)


@FUZZ
@given(lines_with_damage(NAMED_GOOD, named_lines))
def test_local_named_label_file_loads_or_names_file_and_line(content: bytes) -> None:
    from leafbench.mteb_local import BANKING77_LABELS

    _load_split("classification", content, BANKING77_LABELS)
