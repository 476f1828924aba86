"""Embedding store: content addressing, atomic shards, resume after interruption."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from leafbench.store import EmbeddingStore, EncodingKey, hash_texts


def fake_encoder(calls: list[list[str]], fail_after: int | None = None):
    """Deterministic 4-d 'embeddings' from text length; records every chunk it is asked to encode."""

    def encode(chunk: list[str]) -> tuple[np.ndarray, int]:
        if fail_after is not None and len(calls) >= fail_after:
            raise KeyboardInterrupt("killed")
        calls.append(chunk)
        emb = np.array([[len(t), i, 1.0, -1.0] for i, t in enumerate(chunk)], dtype=np.float32)
        return emb, sum(len(t) for t in chunk)

    return encode


KEY = EncodingKey(model_id="m@1", side="document", prompt="", max_seq_length=None, precision="fp32")
TEXTS = [f"text number {i} " * (i % 5 + 1) for i in range(23)]


def test_hash_texts_is_boundary_and_order_sensitive() -> None:
    assert hash_texts(["ab", "c"]) != hash_texts(["a", "bc"])
    assert hash_texts(["a", "b"]) != hash_texts(["b", "a"])
    assert hash_texts(["a", "b"]) == hash_texts(("a", "b"))


def test_key_fields_all_change_the_entry(tmp_path: Path) -> None:
    store = EmbeddingStore(tmp_path)
    th = hash_texts(TEXTS)
    base = store.entry_dir(KEY, th)
    for other in (
        EncodingKey("m@2", "document", "", None, "fp32"),
        EncodingKey("m@1", "query", "", None, "fp32"),
        EncodingKey("m@1", "document", "p: ", None, "fp32"),
        EncodingKey("m@1", "document", "", 128, "fp32"),
        EncodingKey("m@1", "document", "", None, "bf16"),
    ):
        assert store.entry_dir(other, th) != base
    assert store.entry_dir(KEY, hash_texts(TEXTS[:-1])) != base


def test_second_call_is_a_cache_hit_with_identical_arrays(tmp_path: Path) -> None:
    store = EmbeddingStore(tmp_path, shard_size=5)
    calls: list[list[str]] = []
    a, s1 = store.get_or_encode(KEY, TEXTS, fake_encoder(calls))
    assert a.shape == (23, 4) and a.dtype == np.float32
    assert s1.n_encoded == 23 and not s1.cached and len(calls) == 5
    b, s2 = store.get_or_encode(KEY, TEXTS, fake_encoder(calls))
    assert s2.cached and s2.n_encoded == 0 and len(calls) == 5
    np.testing.assert_array_equal(a, b)
    # Rows stay in text order across shards.
    np.testing.assert_array_equal(a[:, 0], [len(t) for t in TEXTS])
    # Throughput of the original pass survives the cache hit.
    assert s2.tokens_total == sum(len(t) for t in TEXTS)


def test_interrupted_run_resumes_without_reencoding_finished_shards(tmp_path: Path) -> None:
    store = EmbeddingStore(tmp_path, shard_size=5)
    calls: list[list[str]] = []
    with pytest.raises(KeyboardInterrupt):
        store.get_or_encode(KEY, TEXTS, fake_encoder(calls, fail_after=2))
    entry = store.entry_dir(KEY, hash_texts(TEXTS))
    assert sorted(p.name for p in entry.glob("shard_*.npy")) == ["shard_00000.npy", "shard_00001.npy"]
    assert not (entry / "complete").exists()
    assert not list(entry.glob("*.tmp")), "no half-written files"
    resumed: list[list[str]] = []
    arr, stats = store.get_or_encode(KEY, TEXTS, fake_encoder(resumed))
    assert resumed == [TEXTS[10:15], TEXTS[15:20], TEXTS[20:23]]
    assert stats.n_encoded == 13
    np.testing.assert_array_equal(arr[:, 0], [len(t) for t in TEXTS])
    assert (entry / "complete").exists()


def test_progress_counts_cached_shards(tmp_path: Path) -> None:
    store = EmbeddingStore(tmp_path, shard_size=5)
    store.get_or_encode(KEY, TEXTS, fake_encoder([]))
    seen: list[int] = []
    store.get_or_encode(KEY, TEXTS, fake_encoder([]), progress=seen.append)
    assert sum(seen) == len(TEXTS)


def test_iter_entries_lists_metadata(tmp_path: Path) -> None:
    store = EmbeddingStore(tmp_path, shard_size=5)
    store.get_or_encode(KEY, TEXTS, fake_encoder([]))
    (entry,) = list(store.iter_entries())
    assert entry["complete"] and entry["n_texts"] == 23 and entry["dim"] == 4 and entry["key"]["model_id"] == "m@1"
