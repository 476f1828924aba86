"""Embedding store: per-text content addressing, atomic checksummed shards, resume, concurrent writers."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from leafbench.store import STORE_FORMAT, EmbeddingStore, EncodingKey, StoreError, hash_texts, text_keys


def vec(t: str) -> list[float]:
    """Deterministic 4-d 'embedding' of one text (independent of batching)."""
    return [float(len(t)), float(sum(map(ord, t)) % 97), 1.0, -1.0]


def fake_encoder(calls: list[list[str]], fail_after: int | None = None):
    """Encodes with `vec`; records every chunk; raises KeyboardInterrupt once `fail_after` chunks were done."""

    def encode(chunk: list[str]) -> tuple[np.ndarray, int]:
        if fail_after is not None and len(calls) >= fail_after:
            raise KeyboardInterrupt("killed")
        calls.append(list(chunk))
        return np.array([vec(t) for t in chunk], dtype=np.float32), sum(len(t) for t in chunk)

    return encode


def expected(texts: list[str]) -> np.ndarray:
    return np.array([vec(t) for t in texts], dtype=np.float32)


def n_encoded(calls: list[list[str]]) -> int:
    return sum(len(c) for c in calls)


KEY = EncodingKey(model_id="m@1", side="document", prompt="", max_seq_length=None, precision="fp32")
TEXTS = [f"text number {i} " * (i % 5 + 1) for i in range(100)]


def test_hash_texts_is_boundary_and_order_sensitive() -> None:
    assert hash_texts(["ab", "c"]) != hash_texts(["a", "bc"])
    assert hash_texts(["a", "b"]) != hash_texts(["b", "a"])
    assert hash_texts(["a", "b"]) == hash_texts(("a", "b"))
    assert text_keys(["a", "b"]).shape == (2, 16)
    assert (text_keys(["a"]) == text_keys(["b", "a"])[1]).all()


def test_key_fields_all_change_the_space(tmp_path: Path) -> None:
    store = EmbeddingStore(tmp_path)
    base = store.space_dir(KEY)
    others = [
        EncodingKey("m@2", "document", "", None, "fp32"),
        EncodingKey("m@1", "query", "", None, "fp32"),
        EncodingKey("m@1", "document", "p: ", None, "fp32"),
        EncodingKey("m@1", "document", "", 128, "fp32"),
        EncodingKey("m@1", "document", "", None, "bf16"),
        EncodingKey("m@1", "document", "", None, "fp32", backend="onnx"),
    ]
    assert len({store.space_dir(o) for o in others} | {base}) == len(others) + 1


def test_second_call_is_a_cache_hit_with_identical_rows(tmp_path: Path) -> None:
    store = EmbeddingStore(tmp_path, shard_size=16)
    calls: list[list[str]] = []
    a, s1 = store.get_or_encode(KEY, TEXTS, fake_encoder(calls))
    assert a.shape == (100, 4) and np.asarray(a).dtype == np.float32
    assert s1.n_encoded == 100 and not s1.cached and n_encoded(calls) == 100
    b, s2 = store.get_or_encode(KEY, TEXTS, fake_encoder(calls))
    assert s2.cached and s2.n_encoded == 0 and n_encoded(calls) == 100
    np.testing.assert_array_equal(np.asarray(a), expected(TEXTS))  # rows in text order across shards
    np.testing.assert_array_equal(np.asarray(b), expected(TEXTS))
    # Throughput of the original pass survives the cache hit.
    assert s2.tokens_total == sum(len(t) for t in TEXTS) and s2.encode_seconds_total > 0


def test_any_text_list_is_served_from_rows_already_there(tmp_path: Path) -> None:
    store = EmbeddingStore(tmp_path, shard_size=16)
    calls: list[list[str]] = []
    store.get_or_encode(KEY, TEXTS[:60], fake_encoder(calls))
    sub = TEXTS[50:10:-3]  # a reordered subset: nothing new
    rows, st = store.get_or_encode(KEY, sub, fake_encoder(calls))
    assert st.n_encoded == 0 and n_encoded(calls) == 60
    np.testing.assert_array_equal(np.asarray(rows), expected(sub))
    rows, st = store.get_or_encode(KEY, TEXTS, fake_encoder(calls))  # the superset: only the 40 new texts
    assert st.n_encoded == 40 and n_encoded(calls) == 100
    np.testing.assert_array_equal(np.asarray(rows), expected(TEXTS))


def test_duplicate_texts_are_encoded_once(tmp_path: Path) -> None:
    store = EmbeddingStore(tmp_path)
    calls: list[list[str]] = []
    texts = ["a", "b", "a", "c", "b"]
    rows, st = store.get_or_encode(KEY, texts, fake_encoder(calls))
    assert sorted(sum(calls, [])) == ["a", "b", "c"] and st.n_encoded == 3
    np.testing.assert_array_equal(np.asarray(rows), expected(texts))


def test_stored_rows_behave_like_an_array(tmp_path: Path) -> None:
    store = EmbeddingStore(tmp_path, shard_size=7)
    store.get_or_encode(KEY, TEXTS[::2], fake_encoder([]))
    rows, _ = store.get_or_encode(KEY, TEXTS, fake_encoder([]))  # rows spread over shards, out of order
    ref = expected(TEXTS)
    np.testing.assert_array_equal(rows.take([5, 0, 99, 5]), ref[[5, 0, 99, 5]])
    np.testing.assert_array_equal(rows[10:20], ref[10:20])
    np.testing.assert_array_equal(rows[:, :2], ref[:, :2])
    np.testing.assert_array_equal(np.concatenate([c for _, c in rows.chunks(13)]), ref)
    assert [s for s, _ in rows.chunks(40)] == [0, 40, 80]


def test_interrupted_encoding_keeps_every_finished_row(tmp_path: Path) -> None:
    """Ctrl-C in the middle: rows encoded so far are committed; the rerun encodes only the rest."""
    store = EmbeddingStore(tmp_path, shard_size=1000)  # nothing would be committed by size alone
    calls: list[list[str]] = []
    with pytest.raises(KeyboardInterrupt):
        store.get_or_encode(KEY, TEXTS, fake_encoder(calls, fail_after=1))
    done = n_encoded(calls)
    assert 0 < done < 100
    assert not list(store.space_dir(KEY).rglob("*.tmp")), "no half-written files"
    resumed: list[list[str]] = []
    rows, st = store.get_or_encode(KEY, TEXTS, fake_encoder(resumed))
    assert st.n_encoded == n_encoded(resumed) == 100 - done
    np.testing.assert_array_equal(np.asarray(rows), expected(TEXTS))


def test_rows_are_flushed_by_time(tmp_path: Path) -> None:
    """flush_seconds bounds what a kill can lose: with 0 every piece is its own committed shard."""
    store = EmbeddingStore(tmp_path, shard_size=10_000, flush_seconds=0.0)
    calls: list[list[str]] = []
    store.get_or_encode(KEY, TEXTS, fake_encoder(calls))
    assert len(list((store.space_dir(KEY) / "shards").glob("*.json"))) == len(calls) > 1


@pytest.mark.parametrize("damage", ["flip-data", "truncate-data", "short-keys", "manifest-garbage", "rows-lie"])
def test_a_corrupt_shard_is_named_quarantined_and_reencoded(tmp_path: Path, damage: str) -> None:
    store = EmbeddingStore(tmp_path, shard_size=30)
    store.get_or_encode(KEY, TEXTS, fake_encoder([]))
    shard = sorted((store.space_dir(KEY) / "shards").glob("*.npy"))[0]
    base = shard.with_suffix("")
    if damage == "flip-data":
        b = bytearray(shard.read_bytes())
        b[-5] ^= 0xFF
        shard.write_bytes(bytes(b))
    elif damage == "truncate-data":
        shard.write_bytes(shard.read_bytes()[:-64])
    elif damage == "short-keys":
        k = base.with_suffix(".keys")
        k.write_bytes(k.read_bytes()[:-16])
    elif damage == "manifest-garbage":
        base.with_suffix(".json").write_text("{not json")
    else:
        m = json.loads(base.with_suffix(".json").read_text())
        m["rows"] -= 1
        base.with_suffix(".json").write_text(json.dumps(m))
    fresh = EmbeddingStore(tmp_path, shard_size=30)  # a new process: every shard is verified on first use
    calls: list[list[str]] = []
    rows, st = fresh.get_or_encode(KEY, TEXTS, fake_encoder(calls))
    assert len(fresh.warnings) == 1 and str(shard) in fresh.warnings[0] and "corrupt shard" in fresh.warnings[0]
    assert 0 < st.n_encoded <= 30
    np.testing.assert_array_equal(np.asarray(rows), expected(TEXTS))
    assert (store.space_dir(KEY) / "quarantine" / shard.name).exists() or damage == "manifest-garbage"


def _writer_proc(root: str, texts: list[str], q) -> None:
    store = EmbeddingStore(root, shard_size=8, flush_seconds=0.0)
    rows, _ = store.get_or_encode(KEY, texts, fake_encoder([]))
    q.put(np.asarray(rows).tolist())


def test_two_processes_writing_one_space_neither_corrupt_nor_lose_rows(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    a, b = TEXTS[:70], TEXTS[30:]  # 40 texts in common
    procs = [ctx.Process(target=_writer_proc, args=(str(tmp_path), t, q)) for t in (a, b)]
    for p in procs:
        p.start()
    outs = [q.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert sorted(map(len, outs)) == [70, 70]
    store = EmbeddingStore(tmp_path)
    calls: list[list[str]] = []
    rows, st = store.get_or_encode(KEY, TEXTS, fake_encoder(calls))
    assert st.n_encoded == 0 and not store.warnings
    np.testing.assert_array_equal(np.asarray(rows), expected(TEXTS))
    assert store.verify() == (len(list((store.space_dir(KEY) / "shards").glob("*.json"))), [])


KILL_SCRIPT = """
import sys, time, numpy as np
from leafbench.store import EmbeddingStore, EncodingKey
key = EncodingKey("m@1", "document", "", None, "fp32")
texts = [f"doc {i}" for i in range(400)]
def enc(chunk):
    time.sleep(0.1 * len(chunk) / 32)
    print("piece", len(chunk), flush=True)
    return np.array([[len(t), 1.0, 2.0] for t in chunk], np.float32), len(chunk)
EmbeddingStore(sys.argv[1], shard_size=10_000, flush_seconds=0.3).get_or_encode(key, texts, enc, piece_seconds=0.1)
print("done", flush=True)
"""


def test_kill_9_mid_encoding_loses_at_most_one_flush_interval(tmp_path: Path) -> None:
    script = tmp_path / "enc.py"
    script.write_text(KILL_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "store")], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    pieces = 0
    t0 = time.monotonic()
    while pieces < 6 and time.monotonic() - t0 < 60:
        if proc.stdout.readline().startswith("piece"):
            pieces += 1
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    store = EmbeddingStore(tmp_path / "store")
    key = EncodingKey("m@1", "document", "", None, "fp32")
    texts = [f"doc {i}" for i in range(400)]
    kept = 400 - len(store.missing(key, texts))
    assert kept > 0, "committed shards survive kill -9"
    assert not store.warnings
    rows, st = store.get_or_encode(
        key, texts, lambda c: (np.array([[len(t), 1.0, 2.0] for t in c], np.float32), len(c))
    )
    assert st.n_encoded == 400 - kept
    np.testing.assert_array_equal(np.asarray(rows)[:, 0], [len(t) for t in texts])


def test_a_store_written_by_a_newer_format_is_refused(tmp_path: Path) -> None:
    (tmp_path / "FORMAT").write_text(f"{STORE_FORMAT + 1}\n")
    with pytest.raises(StoreError, match="newer leafbench"):
        EmbeddingStore(tmp_path)


def test_an_unwritable_store_is_one_clear_error_and_nothing_is_encoded(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    store = EmbeddingStore(tmp_path / "file" / "embeddings")
    calls: list[list[str]] = []
    with pytest.raises(StoreError, match="not writable"):
        store.get_or_encode(KEY, TEXTS, fake_encoder(calls), prepare=lambda: calls.append(["loaded"]))
    assert calls == [["loaded"]] or calls == []


def test_files_follow_the_process_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        store = EmbeddingStore(tmp_path)
        store.get_or_encode(KEY, TEXTS[:5], fake_encoder([]))
    finally:
        os.umask(old)
    modes = {oct(p.stat().st_mode & 0o777) for p in tmp_path.rglob("*") if p.is_file()}
    assert modes == {"0o644"}


def test_a_format_1_entry_is_imported_on_first_use(tmp_path: Path) -> None:
    """Stores written before per-text addressing: the entry of exactly this text list becomes rows, once."""
    texts = TEXTS[:23]
    d = KEY.digest(hash_texts(texts))
    entry = tmp_path / d[:2] / d
    entry.mkdir(parents=True)
    (entry / "meta.json").write_text(
        json.dumps({"format": 1, "shard_size": 10, "n_texts": 23, "encode_seconds": 2.3, "n_tokens": 99})
    )
    ref = expected(texts)
    for i in range(3):
        np.save(entry / f"shard_{i:05d}.npy", ref[i * 10 : (i + 1) * 10])
    (entry / "complete").write_text("")
    store = EmbeddingStore(tmp_path)
    assert store.old_entries() == [entry]
    calls: list[list[str]] = []
    rows, st = store.get_or_encode(KEY, texts, fake_encoder(calls))
    assert st.n_encoded == 0 and calls == [] and abs(st.encode_seconds_total - 2.3) < 1e-6
    np.testing.assert_array_equal(np.asarray(rows), ref)
    assert not entry.exists() and store.old_entries() == []


def test_progress_counts_stored_and_encoded_texts(tmp_path: Path) -> None:
    store = EmbeddingStore(tmp_path, shard_size=5)
    store.get_or_encode(KEY, TEXTS[:50], fake_encoder([]))
    seen: list[int] = []
    store.get_or_encode(KEY, TEXTS, fake_encoder([]), progress=seen.append)
    assert seen[0] == 50  # the stored rows are announced at once; the encoder reports the rest itself


def test_spaces_verify_and_prune(tmp_path: Path) -> None:
    store = EmbeddingStore(tmp_path, shard_size=30)
    store.get_or_encode(KEY, TEXTS, fake_encoder([]))
    other = EncodingKey("m@2", "query", "", None, "fp32")
    store.get_or_encode(other, TEXTS[:10], fake_encoder([]))
    spaces = {s["key"]["model_id"]: s for s in store.spaces()}
    assert spaces["m@1"]["rows"] == 100 and spaces["m@1"]["shards"] == 4 and spaces["m@2"]["rows"] == 10
    assert store.verify() == (5, [])
    shard = sorted((store.space_dir(KEY) / "shards").glob("*.npy"))[0]
    shard.write_bytes(shard.read_bytes()[:-8])
    ok, bad = EmbeddingStore(tmp_path).verify()
    assert ok == 4 and len(bad) == 1 and shard.name in bad[0]
    removed = store.prune(spaces=[other.space()])
    assert removed["spaces"] == 1 and removed["files"] >= 1  # the space and the quarantined shard's files
    assert [s["key"]["model_id"] for s in store.spaces()] == ["m@1"]


# --------------------------------------------------------------------------- hostile stores and machine limits


@pytest.mark.parametrize("manifest", ["[]", "3", '"x"', "null"])
def test_a_manifest_that_is_json_but_not_an_object_is_a_corrupt_shard(tmp_path: Path, manifest: str) -> None:
    """Treated like unparseable JSON: listed as unreadable, named and quarantined on use, its texts encoded again."""
    store = EmbeddingStore(tmp_path, shard_size=30)
    store.get_or_encode(KEY, TEXTS, fake_encoder([]))
    mpath = sorted((store.space_dir(KEY) / "shards").glob("*.json"))[0]
    mpath.write_text(manifest)
    (store.space_dir(KEY) / "space.json").write_text(manifest)
    (spaces,) = list(EmbeddingStore(tmp_path).spaces())
    assert spaces["key"] == {} and spaces["shards"] == 4 and spaces["rows"] == 70
    fresh = EmbeddingStore(tmp_path, shard_size=30)
    rows, st = fresh.get_or_encode(KEY, TEXTS, fake_encoder([]))
    assert len(fresh.warnings) == 1 and f"{mpath.name} is a JSON" in fresh.warnings[0]
    assert st.n_encoded == 30
    np.testing.assert_array_equal(np.asarray(rows), expected(TEXTS))
    assert (store.space_dir(KEY) / "quarantine" / mpath.name).exists()
    assert EmbeddingStore(tmp_path).verify() == (4, [])


@pytest.mark.parametrize("part", [".keys", ".npy"])
def test_a_shard_missing_its_keys_or_data_is_named_and_its_rows_encoded_again(tmp_path: Path, part: str) -> None:
    store = EmbeddingStore(tmp_path, shard_size=30)
    store.get_or_encode(KEY, TEXTS, fake_encoder([]))
    mpath = sorted((store.space_dir(KEY) / "shards").glob("*.json"))[0]
    mpath.with_suffix(part).unlink()
    ok, bad = EmbeddingStore(tmp_path).verify()
    assert ok == 3 and len(bad) == 1 and f"{mpath.stem}{part} is missing" in bad[0]
    assert not mpath.exists() and (store.space_dir(KEY) / "quarantine" / mpath.name).exists()  # nothing deleted
    calls: list[list[str]] = []
    rows, st = EmbeddingStore(tmp_path, shard_size=30).get_or_encode(KEY, TEXTS, fake_encoder(calls))
    assert st.n_encoded == n_encoded(calls) == 30
    np.testing.assert_array_equal(np.asarray(rows), expected(TEXTS))


def test_a_run_quarantines_a_shard_missing_its_keys(tmp_path: Path) -> None:
    store = EmbeddingStore(tmp_path, shard_size=30)
    store.get_or_encode(KEY, TEXTS, fake_encoder([]))
    keys = sorted((store.space_dir(KEY) / "shards").glob("*.keys"))[0]
    keys.unlink()
    fresh = EmbeddingStore(tmp_path, shard_size=30)
    rows, st = fresh.get_or_encode(KEY, TEXTS, fake_encoder([]))
    assert st.n_encoded == 30 and len(fresh.warnings) == 1 and f"{keys.name} is missing" in fresh.warnings[0]
    np.testing.assert_array_equal(np.asarray(rows), expected(TEXTS))


def test_verify_of_a_folder_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=f"{tmp_path / 'nope'}: no embedding store here"):
        EmbeddingStore(tmp_path / "nope").verify()


def _shard_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_disk_full_write_names_the_file_and_leaves_no_visible_half_shard(tmp_path: Path, monkeypatch) -> None:
    """ENOSPC on the keys of a shard (its data already written): the error names the shard file, no manifest makes
    the half shard visible, no temp file is left, and a later run encodes exactly the texts that were not stored."""
    import errno

    import leafbench.files

    store = EmbeddingStore(tmp_path, shard_size=30)
    store.get_or_encode(KEY, TEXTS[:30], fake_encoder([]))
    manifests = set((store.space_dir(KEY) / "shards").glob("*.json"))
    fsyncs: list[int] = []
    real = os.fsync

    def fsync(fd: int) -> None:  # the data file of the next shard fits, then the disk is full
        fsyncs.append(fd)
        if len(fsyncs) >= 2:
            raise OSError(errno.ENOSPC, "No space left on device")  # as the OS raises it: no file name
        real(fd)

    monkeypatch.setattr(leafbench.files.os, "fsync", fsync)
    with pytest.raises(OSError) as err:
        store.get_or_encode(KEY, TEXTS, fake_encoder([]))
    monkeypatch.undo()
    assert err.value.errno == errno.ENOSPC and Path(err.value.filename).parent == store.space_dir(KEY) / "shards"
    assert Path(err.value.filename).suffix in (".npy", ".keys")  # the last try (buffered rows flushed) or the first
    assert set((store.space_dir(KEY) / "shards").glob("*.json")) == manifests
    assert not [p for p in tmp_path.rglob(".*") if p.is_file()], "a temp file was left behind"
    assert EmbeddingStore(tmp_path).verify() == (len(manifests), [])
    rows, st = EmbeddingStore(tmp_path, shard_size=30).get_or_encode(KEY, TEXTS, fake_encoder([]))
    assert st.n_encoded == 70
    np.testing.assert_array_equal(np.asarray(rows), expected(TEXTS))


def test_too_many_open_files_is_a_user_error_and_moves_nothing(tmp_path: Path, monkeypatch) -> None:
    import errno

    from leafbench.errors import UserError

    store = EmbeddingStore(tmp_path, shard_size=30)
    store.get_or_encode(KEY, TEXTS, fake_encoder([]))
    before = _shard_files(tmp_path)
    calls = 0

    def open_memmap(*a, **k):  # noqa: ANN002, ANN003 - the third shard finds no file descriptor left
        nonlocal calls
        calls += 1
        if calls == 3:
            raise OSError(errno.EMFILE, "Too many open files")
        return real(*a, **k)

    real = np.lib.format.open_memmap
    monkeypatch.setattr(np.lib.format, "open_memmap", open_memmap)
    fresh = EmbeddingStore(tmp_path, shard_size=30)
    with pytest.raises(UserError, match=r"too many open files: \S+\.npy \(the limit is \d+ open files per process"):
        fresh.get_or_encode(KEY, TEXTS, fake_encoder([]))
    with pytest.raises(StoreError, match="too many open files"):
        calls = 2
        EmbeddingStore(tmp_path).verify()
    assert _shard_files(tmp_path) == before and fresh.warnings == []
    calls = -100  # the limit raised: the same store object serves every row, nothing encoded again
    rows, st = fresh.get_or_encode(KEY, TEXTS, fake_encoder([]))
    assert st.n_encoded == 0
    np.testing.assert_array_equal(np.asarray(rows), expected(TEXTS))


def test_a_real_open_file_limit_moves_no_shard(tmp_path: Path) -> None:
    """RLIMIT_NOFILE lowered in a child below the number of shards (each read shard holds one file open)."""
    pytest.importorskip("resource")
    store = EmbeddingStore(tmp_path, shard_size=1)
    store.get_or_encode(KEY, TEXTS, fake_encoder([]))
    before = _shard_files(tmp_path)
    code = f"""
import resource, sys
from leafbench.store import EmbeddingStore
from leafbench.errors import UserError
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_store import KEY, TEXTS, fake_encoder
resource.setrlimit(resource.RLIMIT_NOFILE, (60, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
try:
    EmbeddingStore({str(tmp_path)!r}).get_or_encode(KEY, TEXTS, fake_encoder([]))
except UserError as e:
    print(e)
    sys.exit(2)
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "too many open files" in res.stdout and "the limit is 60 open files per process" in res.stdout
    assert _shard_files(tmp_path) == before
    assert not (store.space_dir(KEY) / "quarantine").exists()
