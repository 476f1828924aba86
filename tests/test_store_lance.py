"""The Lance store format (`leafbench.store.lance_store`): serving, exact rows, concurrent writers, few open files,
compaction, interrupted writers, format-2 import, object storage, and the same scores as the format-2 store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("lance")

from leafbench.store import EmbeddingStore, EncodingKey, StoreError, open_store, text_keys  # noqa: E402
from leafbench.store.lance_store import LanceEmbeddingStore  # noqa: E402

KEY = EncodingKey(model_id="m@1", side="document", prompt="", max_seq_length=None, precision="fp32")
TEXTS = [f"text number {i} " * (i % 5 + 1) for i in range(300)]
DIM = 12


def vectors(texts: list[str]) -> np.ndarray:
    """Random-looking float32 rows that depend on each text alone (full mantissas: bit-exactness matters)."""
    seeds = [int.from_bytes(k.tobytes()[:8], "little") for k in text_keys(texts)]
    return np.stack([np.random.default_rng(s).standard_normal(DIM).astype(np.float32) for s in seeds])


def encoder(calls: list[list[str]], fail_after: int | None = None):
    def encode(chunk: list[str]) -> tuple[np.ndarray, int]:
        if fail_after is not None and len(calls) >= fail_after:
            raise KeyboardInterrupt("killed")
        calls.append(list(chunk))
        return vectors(chunk), sum(len(t) for t in chunk)

    return encode


def n_texts(calls: list[list[str]]) -> int:
    return sum(len(c) for c in calls)


def test_open_store_picks_the_format(tmp_path: Path) -> None:
    assert isinstance(open_store(tmp_path / "a"), LanceEmbeddingStore)  # a new store: the default format
    assert isinstance(open_store(tmp_path / "b", backend="lance", shard_size=8), LanceEmbeddingStore)
    assert isinstance(open_store(tmp_path / "c", backend="shards"), EmbeddingStore)
    EmbeddingStore(tmp_path / "c").get_or_encode(KEY, TEXTS[:3], encoder([]))
    assert isinstance(open_store(tmp_path / "c"), EmbeddingStore)  # an existing shard store keeps its format
    with pytest.raises(StoreError, match="local only"):
        open_store("s3://bucket/x", backend="shards")
    with pytest.raises(StoreError, match="unknown store format"):
        open_store(tmp_path, backend="zarr")


def test_encode_once_then_serve_a_subset_bit_exact_in_order_with_duplicates(tmp_path: Path) -> None:
    store = LanceEmbeddingStore(tmp_path, shard_size=32)
    calls: list[list[str]] = []
    rows, stats = store.get_or_encode(KEY, TEXTS, encoder(calls))
    assert rows.shape == (300, DIM) and stats.n_encoded == 300 and n_texts(calls) == 300
    assert stats.tokens_total == sum(map(len, TEXTS)) and stats.encode_seconds_total > 0
    np.testing.assert_array_equal(np.asarray(rows), vectors(TEXTS))

    fresh = LanceEmbeddingStore(tmp_path, shard_size=32)  # another process, later
    subset = [TEXTS[250], TEXTS[3], TEXTS[3], TEXTS[100], TEXTS[250], TEXTS[0]]
    got, stats = fresh.get_or_encode(KEY, subset, encoder(calls))
    assert stats.cached and n_texts(calls) == 300 and fresh.n_served == 6 and fresh.n_encoded == 0
    want = vectors(subset)
    assert np.asarray(got).tobytes() == want.tobytes()
    assert got.take([5, 1]).tobytes() == want[[5, 1]].tobytes()
    assert [s for _, s in got.chunks(4)][1].tobytes() == want[4:].tobytes()
    assert got[2].tobytes() == want[2].tobytes() and got[1:3, :2].tobytes() == want[1:3, :2].tobytes()


def test_a_missing_text_is_reported_and_only_it_is_encoded(tmp_path: Path) -> None:
    store = LanceEmbeddingStore(tmp_path, shard_size=32)
    store.get_or_encode(KEY, TEXTS[:50], encoder([]))
    asked = [*TEXTS[:10], "never seen", "never seen"]
    assert store.missing(KEY, asked) == ["never seen"]
    with pytest.raises(StoreError, match="1 of 12 texts have no row"):
        store.rows(KEY, [*TEXTS[:10], "never seen", TEXTS[0]])
    calls: list[list[str]] = []
    rows, stats = store.get_or_encode(KEY, asked, encoder(calls))
    assert calls == [["never seen"]] and stats.n_encoded == 1
    np.testing.assert_array_equal(np.asarray(rows), vectors(asked))


def test_an_interrupted_writer_keeps_the_committed_rows(tmp_path: Path) -> None:
    store = LanceEmbeddingStore(tmp_path, shard_size=16)
    calls: list[list[str]] = []
    with pytest.raises(KeyboardInterrupt):
        store.get_or_encode(KEY, TEXTS[:100], encoder(calls, fail_after=3))
    done = n_texts(calls)
    assert 0 < done < 100
    assert len(store.missing(KEY, TEXTS[:100])) == 100 - done  # buffered rows were committed on the way out
    again: list[list[str]] = []
    rows, _ = store.get_or_encode(KEY, TEXTS[:100], encoder(again))
    assert n_texts(again) == 100 - done
    np.testing.assert_array_equal(np.asarray(rows), vectors(TEXTS[:100]))


WRITER = """
import sys, numpy as np
sys.path.insert(0, {tests!r})
from test_store_lance import KEY, vectors
from leafbench.store import text_keys
from leafbench.store.lance_store import LanceEmbeddingStore
texts = [f"writer text {{i}}" for i in range({lo}, {hi})]
writer = LanceEmbeddingStore({root!r}, shard_size=25).writer(KEY)
open({ready!r} + "." + sys.argv[1], "w").close()
import os, time
while not os.path.exists({ready!r}):
    time.sleep(0.01)
for i in range(0, len(texts), 5):
    writer.add(text_keys(texts[i:i + 5]), vectors(texts[i:i + 5]), 0.1, 5)
writer.flush()
print(len(writer.committed))
"""


def test_two_writer_processes_append_at_once_and_lose_nothing(tmp_path: Path) -> None:
    ready = str(tmp_path / "go")
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WRITER.format(tests=str(Path(__file__).parent), lo=lo, hi=hi, root=str(tmp_path / "s"), ready=ready),
                str(n),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n, (lo, hi) in enumerate([(0, 600), (400, 1000)])  # 200 texts written by both
    ]
    while not all(os.path.exists(f"{ready}.{n}") for n in range(2)):
        assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
    Path(ready).touch()  # both start appending at the same moment
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert [int(o.strip()) for o, _ in outs] == [24, 24]  # every commit of both went through
    texts = [f"writer text {i}" for i in range(1000)]
    store = LanceEmbeddingStore(tmp_path / "s")
    assert store.missing(KEY, texts) == []
    np.testing.assert_array_equal(np.asarray(store.rows(KEY, texts)), vectors(texts))
    assert next(store.spaces())["rows"] == 1200  # the shared texts twice: either row serves


FD_READER = """
import os, resource, sys, numpy as np
sys.path.insert(0, {tests!r})
from test_store_lance import KEY
from leafbench.store.lance_store import LanceEmbeddingStore
resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
texts = [f"t{{i}}" for i in range({n})]
store = LanceEmbeddingStore({root!r})
rows = store.rows(KEY, texts)
peak = 0
for _, block in rows.chunks(100):
    peak = max(peak, len(os.listdir("/proc/self/fd")))
arr = np.asarray(rows)
print(arr.shape[0], peak, len(os.listdir("/proc/self/fd")))
"""


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="counts open files through /proc")
def test_many_small_commits_are_read_with_few_open_files(tmp_path: Path) -> None:
    n = 2000
    store = LanceEmbeddingStore(tmp_path, shard_size=1)
    writer = store.writer(KEY)
    texts = [f"t{i}" for i in range(n)]
    keys, vecs = text_keys(texts), np.arange(n * 4, dtype=np.float32).reshape(n, 4)
    for i in range(n):
        writer.add(keys[i : i + 1], vecs[i : i + 1])
    assert len(writer.committed) == n
    out = subprocess.run(
        [sys.executable, "-c", FD_READER.format(tests=str(Path(__file__).parent), n=n, root=str(tmp_path))],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    read, peak, after = map(int, out.stdout.split())
    assert read == n and peak < 64 and after < 64, (peak, after)


def test_compaction_keeps_every_row_and_leaves_few_files(tmp_path: Path) -> None:
    store = LanceEmbeddingStore(tmp_path, shard_size=10)
    first, _ = store.get_or_encode(KEY, TEXTS, encoder([]))
    assert next(store.spaces())["shards"] == 30
    assert store.compact() == {KEY.space(): {"fragments_removed": 30, "fragments_added": 1}}
    assert next(store.spaces())["shards"] == 1
    np.testing.assert_array_equal(np.asarray(first), vectors(TEXTS))  # a reader of the older version still reads
    calls: list[list[str]] = []
    rows, stats = store.get_or_encode(KEY, TEXTS[::-1], encoder(calls))
    assert not calls and stats.cached and stats.tokens_total == sum(map(len, TEXTS))
    np.testing.assert_array_equal(np.asarray(rows), vectors(TEXTS[::-1]))
    assert store.verify() == (1, [])
    store.prune(versions_older_than_hours=0)  # the files only older versions used
    np.testing.assert_array_equal(np.asarray(LanceEmbeddingStore(tmp_path).rows(KEY, TEXTS)), vectors(TEXTS))


def test_verify_removes_only_bad_rows_and_an_os_error_changes_nothing(tmp_path: Path) -> None:
    store = LanceEmbeddingStore(tmp_path, shard_size=10)
    store.get_or_encode(KEY, TEXTS[:20], encoder([]))
    import lance

    from leafbench.store.lance_space import _table, space_schema

    bad = vectors(["bad"]) * np.nan
    lance.write_dataset(
        _table(space_schema(DIM, KEY), text_keys(["bad"]), bad, np.zeros(1, np.float32), np.zeros(1, np.int32)),
        store.space_uri(KEY),
        mode="append",
    )
    with pytest.raises(StoreError, match="non-finite"):
        np.asarray(LanceEmbeddingStore(tmp_path).rows(KEY, ["bad"]))
    n, msgs = store.verify()
    assert n == 1 and len(msgs) == 1 and "1 rows" in msgs[0]
    assert LanceEmbeddingStore(tmp_path).missing(KEY, ["bad", *TEXTS[:20]]) == ["bad"]

    # A file that cannot be read (gone, unreadable, unreachable) says nothing about the rows: nothing is deleted.
    ds = lance.dataset(store.space_uri(KEY))
    used = Path(store.space_uri(KEY)) / "data" / Path(ds.get_fragments()[0].data_files()[0].path).name
    data = [used]  # a file the current version reads (older versions' files may be unused)
    aside = tmp_path / "aside"
    data[0].rename(aside)
    with pytest.raises(StoreError, match="nothing was changed"):
        np.asarray(LanceEmbeddingStore(tmp_path).rows(KEY, TEXTS[:20]))
    with pytest.raises(StoreError, match="nothing was changed"):
        store.verify()
    aside.rename(data[0])
    assert next(store.spaces())["rows"] == 20
    np.testing.assert_array_equal(np.asarray(LanceEmbeddingStore(tmp_path).rows(KEY, TEXTS[:20])), vectors(TEXTS[:20]))


def test_format2_shards_are_imported_on_first_use(tmp_path: Path) -> None:
    EmbeddingStore(tmp_path, shard_size=16).get_or_encode(KEY, TEXTS[:100], encoder([]))
    calls: list[list[str]] = []
    store = LanceEmbeddingStore(tmp_path)
    rows, stats = store.get_or_encode(KEY, TEXTS[:100], encoder(calls))
    assert not calls and stats.cached
    np.testing.assert_array_equal(np.asarray(rows), vectors(TEXTS[:100]))
    assert next(store.spaces())["rows"] == 100
    EmbeddingStore(tmp_path).rows(KEY, TEXTS[:100])  # the shards stay readable by format 2


def _beir(folder: Path) -> Path:
    docs = {f"d{i}": f"document {i} about topic {i % 4}" for i in range(30)}
    queries = {f"q{i}": f"topic {i % 4} question {i}" for i in range(8)}
    folder.mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": k, "text": v}) + "\n" for k, v in docs.items()))
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": k, "text": v}) + "\n" for k, v in queries.items()))
    (folder / "qrels").mkdir()
    rows = "".join(f"q{i}\td{i}\t1\nq{i}\td{i + 8}\t1\n" for i in range(8))
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + rows)
    return folder


def test_retrieval_scores_are_the_same_on_both_formats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from leafbench.data.beir import load_beir_folder
    from leafbench.encode import Encoder
    from leafbench.evaluate import evaluate_retrieval
    from leafbench.registry import resolve_model

    data = load_beir_folder(_beir(tmp_path / "data" / "tiny"))
    spec = resolve_model("hash-64")
    scores = {}
    for backend in ("shards", "lance"):
        for attempt in ("encode", "cached"):
            store = open_store(tmp_path / backend, backend=backend, shard_size=7)
            run = evaluate_retrieval(data, {"student": Encoder(spec, store)}, ["student"], None, "x")
            assert all(s.cached == (attempt == "cached") for s in run.encode_stats.values())
            scores[backend, attempt] = run.results["student"]["scores"]["test"][0]
    strip = lambda s: {k: v for k, v in s.items() if k not in ("evaluation_time",)}  # noqa: E731
    assert strip(scores["lance", "encode"]) == strip(scores["shards", "encode"]) == strip(scores["lance", "cached"])


def test_an_object_store_space_is_written_and_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server_mod = pytest.importorskip("moto.server", reason="moto[server] is not installed")
    boto3 = pytest.importorskip("boto3")
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        for name, value in {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
        }.items():
            monkeypatch.setenv(name, value)
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="leafbench")
        store = open_store("s3://leafbench/cache", backend="lance", shard_size=16)
        calls: list[list[str]] = []
        store.get_or_encode(KEY, TEXTS[:50], encoder(calls))
        fresh = open_store("s3://leafbench/cache", backend="lance")
        rows, stats = fresh.get_or_encode(KEY, TEXTS[40::-3], encoder(calls))
        assert stats.cached and n_texts(calls) == 50
        np.testing.assert_array_equal(np.asarray(rows), vectors(TEXTS[40::-3]))
        assert [s["rows"] for s in fresh.spaces()] == [50]
    finally:
        server.stop()


def test_verify_names_and_removes_a_truncated_file_and_a_flipped_bit(tmp_path: Path) -> None:
    """Both are verified mismatches (the manifest's file size, the row's crc32): removed, named, re-encoded."""
    import lance

    store = LanceEmbeddingStore(tmp_path, shard_size=10)
    store.get_or_encode(KEY, TEXTS[:30], encoder([]))  # three fragments of 10 rows
    ds = lance.dataset(store.space_uri(KEY))
    files = [Path(store.space_uri(KEY)) / "data" / f.metadata.files[0].path for f in ds.get_fragments()]
    # A bit flipped in one stored vector (same file size): only the checksum can tell.
    target = vectors([TEXTS[12]])[0].tobytes()
    blob = bytearray(files[1].read_bytes())
    at = bytes(blob).find(target)
    assert at >= 0
    blob[at + 5] ^= 0x10
    files[1].write_bytes(bytes(blob))
    # Another file truncated.
    files[2].write_bytes(files[2].read_bytes()[:100])
    with pytest.raises(StoreError, match="nothing was changed"):
        np.asarray(LanceEmbeddingStore(tmp_path).rows(KEY, TEXTS[:30]))
    n, msgs = LanceEmbeddingStore(tmp_path).verify()
    text = " ".join(msgs)
    assert n == 1 and files[2].name in text and "100 bytes" in text and "1 rows" in text and "checksum" in text
    calls: list[list[str]] = []
    rows, _ = LanceEmbeddingStore(tmp_path).get_or_encode(KEY, TEXTS[:30], encoder(calls))
    assert sorted(t for c in calls for t in c) == sorted([TEXTS[12], *TEXTS[20:30]])
    np.testing.assert_array_equal(np.asarray(rows), vectors(TEXTS[:30]))


def test_writers_racing_to_create_a_space_lose_no_rows(tmp_path: Path) -> None:
    """Two writers that both found no space create it at once, each then appending: the create that loses the race
    must fail over to appending, never be re-applied over the winner's rows (Lance retries a conflicting
    overwrite on top of what was committed since)."""
    import threading

    from leafbench.store.lance_space import LanceWriter

    for round_ in range(12):
        uri = str(tmp_path / f"race{round_}" / "rows.lance")
        writers = [LanceWriter(uri, KEY, {}, shard_size=1000) for _ in range(2)]
        go = threading.Barrier(2)
        texts = [[f"race {round_} {w} {i}" for i in range(7)] for w in range(2)]
        errors: list[BaseException] = []

        def write(w: int) -> None:
            try:
                writers[w].add(text_keys(texts[w]), vectors(texts[w]))
                go.wait()
                writers[w].flush()
                writers[w].add(text_keys([f"more {round_} {w}"]), vectors([f"more {round_} {w}"]))
                writers[w].flush()
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=write, args=(w,)) for w in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        import lance

        assert lance.dataset(uri).count_rows() == 16, f"round {round_}"
