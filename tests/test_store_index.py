"""The store's key index (`SortedKeys`): keys merged in as rows are committed, found again by binary search, on
the heap while small and in a mapped temporary file when big; equal answers either way."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leafbench.store import keys as store_keys


@settings(max_examples=40, deadline=None, database=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=6), st.integers(0, 2**32 - 1), st.booleans())
def test_merged_index_finds_every_key(sizes: list[int], seed: int, mapped: bool) -> None:
    rng = np.random.default_rng(seed)
    old = store_keys.MAPPED_FROM
    store_keys.MAPPED_FROM = 1 if mapped else 1 << 30
    try:
        index, seen = store_keys.SortedKeys(), []
        for m in sizes:
            k = rng.integers(0, 256, size=(m, 16), dtype=np.uint8)
            if seen:  # share the 64-bit high half with a key already there: the rare tie the low half breaks
                k[0, :8] = seen[0][0, :8]
            base = sum(len(s) for s in seen)
            index.extend([(k, np.arange(base, base + m))])
            seen.append(k)
        allk = np.concatenate(seen)
        np.testing.assert_array_equal(index.find(allk), np.arange(len(allk)))
        assert (index.find(rng.integers(0, 256, size=(20, 16), dtype=np.uint8)) == -1).all()
        pairs = list(zip(index._hi.tolist(), index._lo.tolist()))
        assert pairs == sorted(pairs)
        assert isinstance(index._hi, np.memmap) == mapped
    finally:
        store_keys.MAPPED_FROM = old


def test_a_big_lookup_goes_in_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_keys, "FIND_BLOCK", 7)
    k = np.random.default_rng(1).integers(0, 256, size=(50, 16), dtype=np.uint8)
    index = store_keys.SortedKeys()
    index.extend([(k[:30], np.arange(30))])
    np.testing.assert_array_equal(index.find(k), np.r_[np.arange(30), np.full(20, -1)])


def test_a_saved_lance_index_is_mapped_by_the_next_process_and_ignored_when_stale(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Saved beside the space once enough rows are new; a fresh index maps it and scans only later fragments; a
    compaction (other fragments) or a damaged copy makes it fall back to the key column, answers unchanged."""
    pytest.importorskip("lance")
    import lance

    from leafbench.store import EncodingKey, lance_space
    from leafbench.store.lance_store import LanceEmbeddingStore

    monkeypatch.setattr(lance_space, "SAVE_INDEX_ROWS", 10)
    key = EncodingKey(model_id="m@1", side="document", prompt="", max_seq_length=None, precision="fp32")
    rng = np.random.default_rng(3)
    keys = rng.integers(0, 256, size=(60, 16), dtype=np.uint8)
    store = LanceEmbeddingStore(tmp_path, shard_size=20)
    writer = store.writer(key)
    writer.add(keys[:40], rng.standard_normal((40, 4)).astype(np.float32))
    writer.flush()
    assert not store.absent(key, keys[:40]).any()  # refreshed: 40 new rows, so the index is saved
    saved = list((tmp_path / "spaces" / key.space() / lance_space.INDEX_DIR).glob("v*"))
    assert len(saved) == 1

    writer.add(keys[40:], rng.standard_normal((20, 4)).astype(np.float32))
    writer.flush()
    scanned: list[int] = []
    real = lance.LanceDataset.scanner
    monkeypatch.setattr(
        lance.LanceDataset, "scanner", lambda self, *a, **k: scanned.append(len(k["fragments"])) or real(self, *a, **k)
    )
    fresh = LanceEmbeddingStore(tmp_path)
    np.testing.assert_array_equal(fresh.absent(key, keys), np.zeros(60, bool))
    assert scanned == [1]  # only the fragment appended after the save
    want = fresh.index(key).lookup(keys)

    fresh.compact([key.space()])  # other fragments: the saved copy no longer applies
    scanned.clear()
    np.testing.assert_array_equal(np.sort(LanceEmbeddingStore(tmp_path).index(key).lookup(keys)), np.sort(want))
    assert scanned and sum(scanned) >= 1
    for d in (tmp_path / "spaces" / key.space() / lance_space.INDEX_DIR).glob("v*"):
        (d / "fragments.json").write_text("not json")
    np.testing.assert_array_equal(LanceEmbeddingStore(tmp_path).absent(key, keys), np.zeros(60, bool))


def test_a_rescanned_space_is_merged_a_batch_at_a_time(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The key column is read and merged SCAN_KEYS keys at a time (bounded temporaries for a 10M-row rescan
    after a compaction): the index answers exactly as one merge of every key would."""
    pytest.importorskip("lance")
    from leafbench.store import EncodingKey, lance_space
    from leafbench.store.lance_store import LanceEmbeddingStore

    monkeypatch.setattr(lance_space, "SCAN_KEYS", 7)
    merges: list[int] = []
    real = store_keys.SortedKeys.extend
    monkeypatch.setattr(
        store_keys.SortedKeys, "extend", lambda self, parts: merges.append(len(parts[0][0])) or real(self, parts)
    )
    key = EncodingKey(model_id="m@1", side="document", prompt="", max_seq_length=None, precision="fp32")
    keys = np.random.default_rng(5).integers(0, 256, size=(50, 16), dtype=np.uint8)
    store = LanceEmbeddingStore(tmp_path, shard_size=10)
    writer = store.writer(key)
    writer.add(keys, np.zeros((50, 4), np.float32))
    writer.flush()
    store.compact([key.space()])
    merges.clear()
    idx = LanceEmbeddingStore(tmp_path).index(key)  # one 50-row fragment, rescanned
    assert sum(merges) == 50 and max(merges) < 50 and len(merges) >= 2
    np.testing.assert_array_equal(idx.lookup(keys), np.arange(50))
    assert (idx.lookup(keys[:3] ^ 1) == -1).all()
