"""One encoding space as one Lance dataset (``<root>/spaces/<space>/rows.lance``): a row per (text key, vector),
appended by any number of writers (each append is one Lance commit: a data file and a new manifest version), read
by position with `take`, so no file stays open between reads and the files per space stay few once compacted.

Schema: ``key`` fixed_size_binary(16) (the text key), ``vector`` fixed_size_list<float32>[dim], ``seconds``
float32 and ``tokens`` int32 (each row's share of the encoding pass that produced it, for throughput stats). The
space's `EncodingKey` is in the schema metadata (``leafbench.space``): written in the first commit, atomically
with the rows, on any filesystem Lance supports (local, ``s3://``, ``gs://``, ``az://``).

Lance checks its own structure (manifests, file footers, schema); leafbench checks what it relies on: the schema
and dim, that every read returns the rows asked for, and that they are finite (lazily, on what is read).
`verify_space` scans a whole space (`leafbench cache verify`) and deletes only rows shown to be bad (in a new
version: earlier versions keep them until cleaned up). An OS error is a `StoreError` and changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import lance
import numpy as np
import pyarrow as pa

from .errors import StoreError
from .keys import KEY_BYTES, EncodingKey, SortedKeys
from .rows import RowsBase
from .shards import DEFAULT_FLUSH_SECONDS, DEFAULT_SHARD_SIZE, RowBuffer
from .uris import storage_options_from_env

__all__ = [
    "LANCE_FORMAT",
    "LanceIndex",
    "LanceRows",
    "LanceSlice",
    "LanceWriter",
    "compact_space",
    "open_dataset",
    "space_schema",
    "storage_options_from_env",
    "verify_space",
]

LANCE_FORMAT = 3  # the store format of this layout (the shard store is format 2)
SPACE_META = b"leafbench.space"
# What Lance raises when a file cannot be read or written (I/O, permissions, network, a file gone): never a
# reason to delete anything. Lance's scans report their I/O errors as Arrow errors.
READ_ERRORS = (OSError, pa.ArrowException)
#: Times a writer commits the same written rows again when other writers' commits keep winning.
COMMIT_ATTEMPTS = 10


def space_schema(dim: int, key: EncodingKey | None) -> pa.Schema:
    meta = {SPACE_META: json.dumps({"format": LANCE_FORMAT, "key": asdict(key) if key else None}).encode()}
    return pa.schema(
        [
            pa.field("key", pa.binary(KEY_BYTES), nullable=False),
            pa.field("vector", pa.list_(pa.float32(), dim), nullable=False),
            pa.field("seconds", pa.float32()),
            pa.field("tokens", pa.int32()),
            # crc32 of the key and vector bytes: a bit flipped on disk is a verified mismatch, found and re-encoded.
            pa.field("crc", pa.uint32()),
        ],
        metadata=meta,
    )


def row_crcs(keys: np.ndarray, vecs: np.ndarray) -> np.ndarray:
    """crc32 of each row's key bytes followed by its float32 vector bytes."""
    import zlib

    k = np.ascontiguousarray(keys, np.uint8).reshape(len(keys), -1)
    v = np.ascontiguousarray(vecs, np.float32).view(np.uint8).reshape(len(vecs), -1)
    return np.fromiter((zlib.crc32(v[i], zlib.crc32(k[i])) for i in range(len(k))), np.uint32, len(k))


def check_schema(schema: pa.Schema, where: str) -> int:
    """The dim of a space's dataset; StoreError if it is not a leafbench space (never written over or moved)."""
    try:
        key, vec = schema.field("key").type, schema.field("vector").type
    except KeyError:
        key = vec = None
    if key != pa.binary(KEY_BYTES) or not pa.types.is_fixed_size_list(vec) or vec.value_type != pa.float32():
        raise StoreError(f"{where}: not a leafbench embedding space (schema {schema.types}); use another --cache-dir")
    return int(vec.list_size)


def read_failed(e: Exception, where: str) -> StoreError:
    """A read or write that failed (I/O, permissions, network, a damaged file): nothing is moved; the message
    stays one line and says how to find out whether the space itself is damaged."""
    lines = str(e).strip().splitlines() or [type(e).__name__]
    why = lines[0].split(", /rustc/")[0][:240]  # Lance appends the Rust source location
    return StoreError(
        f"{where}: cannot access the embedding store ({why}); nothing was changed "
        "(`leafbench cache verify` checks and repairs its files)"
    )


def open_dataset(uri: str, storage_options: dict[str, str]) -> lance.LanceDataset | None:
    """The latest version of a space's dataset; None where there is none yet."""
    try:
        return lance.dataset(uri, storage_options=storage_options or None)
    except ValueError as e:
        if "not found" in str(e).lower():
            return None
        raise read_failed(e, uri) from None
    except READ_ERRORS as e:
        raise read_failed(e, uri) from None


def _table(schema: pa.Schema, keys: np.ndarray, vecs: np.ndarray, seconds: np.ndarray, tokens: np.ndarray):
    n, dim = vecs.shape
    key_arr = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(KEY_BYTES), n, [None, pa.py_buffer(np.ascontiguousarray(keys, np.uint8).tobytes())]
    )
    vec_arr = pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(vecs).reshape(-1)), dim)
    columns = [key_arr, vec_arr, pa.array(seconds), pa.array(tokens)]
    if "crc" in schema.names:  # spaces written before the column have none
        columns.append(pa.array(row_crcs(keys, vecs), pa.uint32()))
    return pa.Table.from_arrays(columns, schema=schema)


class LanceWriter(RowBuffer):
    """Commits buffered rows as Lance appends (one commit every `shard_size` rows or `flush_seconds`): appends
    from several processes never conflict, Lance retries the manifest commit."""

    def __init__(
        self,
        uri: str,
        key: EncodingKey | None,
        storage_options: dict[str, str],
        shard_size: int = DEFAULT_SHARD_SIZE,
        flush_seconds: float = DEFAULT_FLUSH_SECONDS,
    ) -> None:
        super().__init__(shard_size, flush_seconds)
        self.uri = uri
        self.key = key
        self.storage_options = storage_options
        self._dim: int | None = None
        self._exists = False
        self._crc = True

    def _commit(self, keys: np.ndarray, vecs: np.ndarray, seconds: float, tokens: int) -> None:
        n, dim = vecs.shape
        if self._dim is None:
            ds = open_dataset(self.uri, self.storage_options)
            self._dim = dim if ds is None else check_schema(ds.schema, self.uri)
            self._exists = ds is not None
            self._crc = ds is None or "crc" in ds.schema.names
        if dim != self._dim:
            raise StoreError(f"{self.uri}: rows of dim {dim} for a space of dim {self._dim}; nothing was stored")
        share = np.round(tokens * np.arange(n + 1) / n).astype(np.int64)  # cumulative: the rows add up exactly
        schema = space_schema(dim, self.key)
        if not self._crc:
            schema = schema.remove(schema.get_field_index("crc"))
        table = _table(
            schema,
            keys,
            vecs,
            np.full(n, seconds / n, np.float32),
            np.diff(share).astype(np.int32),
        )
        ds = self._append(table)
        self._exists = True
        self.committed.append(str(ds.version))

    def _append(self, table: pa.Table) -> lance.LanceDataset:
        """One append: the rows are written once as data files, then committed; a commit that loses the race to
        other writers is committed again (the same files, never rewritten), so concurrent appends lose no row.
        The first writer of a space creates it empty first, as a commit that is never retried: a create that
        loses the race to another writer's fails (and this writer appends to that dataset) instead of being
        re-committed on top of it, where Lance would apply it as an overwrite and drop the rows appended since."""
        opts = self.storage_options or None
        try:
            if not self._exists:
                try:
                    create = lance.LanceOperation.Overwrite(table.schema, [])
                    lance.LanceDataset.commit(self.uri, create, max_retries=0, storage_options=opts)
                except (OSError, ValueError):
                    if open_dataset(self.uri, self.storage_options) is None:
                        raise
            fragments = lance.fragment.write_fragments(table, self.uri, storage_options=opts)
            return self._commit_fragments(fragments, opts)
        except READ_ERRORS as e:
            raise read_failed(e, self.uri) from None

    def _commit_fragments(self, fragments: list, opts: dict[str, str] | None) -> lance.LanceDataset:
        """Commit written fragments as an append, re-committing on a conflict up to COMMIT_ATTEMPTS times (Lance
        itself retries each commit 20 times; under many concurrent writers that can run out)."""
        for attempt in range(COMMIT_ATTEMPTS):
            ds = lance.dataset(self.uri, storage_options=opts)
            try:
                return lance.LanceDataset.commit(
                    self.uri, lance.LanceOperation.Append(fragments), read_version=ds.version, storage_options=opts
                )
            except OSError as e:
                contended = any(w in str(e).lower() for w in ("conflict", "too many concurrent writers"))
                if not contended or attempt == COMMIT_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")


@dataclass
class _Fragment:
    id: int
    rows: int


#: Rows a local space's index must have gained since its last saved copy before it is saved again.
SAVE_INDEX_ROWS = 100_000
INDEX_DIR = "keyindex"  # beside the space's rows.lance: sorted keys saved per fragment list


SCAN_KEYS = 1 << 20  # keys read and merged into a space's index at a time


def _key_batches(batches: Any, size: int) -> Any:
    """The key column of scanned record batches regrouped into arrays of about `size` keys (Lance may hand out
    many small batches: one merge per batch would copy the index that often)."""
    held: list[pa.Array] = []
    n = 0
    for b in batches:
        col = b.column(0)
        if len(col):
            held.append(col)
            n += len(col)
        if n >= size:
            yield pa.concat_arrays(held)
            held, n = [], 0
    if held:
        yield pa.concat_arrays(held)


class LanceIndex:
    """Text key → row position in the space's dataset, built from the key column; refreshed when the dataset's
    version changes, reading only the fragments appended since (a compaction rebuilds it).

    A local space's index is saved beside the dataset (`keyindex/`: the sorted keys as .npy files and the
    fragments they cover) and memory-mapped by the next process, which then reads only the fragments appended
    since: opening a 10M-row space to look up a 10k-text task costs the pages its lookups touch, not a scan of
    10M keys. A saved index that does not match the dataset's fragments (compacted, rows deleted) is ignored."""

    def __init__(self, uri: str, storage_options: dict[str, str]) -> None:
        self.uri = uri
        self.storage_options = storage_options
        self.dataset: lance.LanceDataset | None = None
        self.dim: int | None = None
        self._fragments: list[_Fragment] = []
        self._keys = SortedKeys()
        self._saved_rows = 0
        self._local = "://" not in uri

    @property
    def n_rows(self) -> int:
        return len(self._keys)

    def refresh(self) -> None:
        ds = open_dataset(self.uri, self.storage_options)
        if ds is None or (self.dataset is not None and ds.version == self.dataset.version):
            return
        self.dim = check_schema(ds.schema, self.uri)
        frags = ds.get_fragments()
        now = [
            _Fragment(f.fragment_id, f.metadata.physical_rows if f.metadata.deletion_file is None else -1)
            for f in frags
        ]
        if not self._fragments and self._local:
            self._load_saved(now)
        old = self._fragments
        if any(f.rows < 0 for f in now) or now[: len(old)] != old:  # compacted or rows deleted: start again
            self._keys, old = SortedKeys(), []
        new = frags[len(old) :]
        base = sum(f.rows for f in old)
        if new:
            # A million keys at a time: a space rescanned whole (after a compaction) costs one batch of
            # temporaries, not the whole key column and its sort at once.
            try:
                scan = ds.scanner(columns=["key"], fragments=new, scan_in_order=True, batch_size=SCAN_KEYS)
                for batch in _key_batches(scan.to_batches(), SCAN_KEYS):
                    at = batch.offset * KEY_BYTES
                    flat = np.frombuffer(batch.buffers()[1], np.uint8)[at : at + len(batch) * KEY_BYTES]
                    self._keys.extend([(flat.reshape(-1, KEY_BYTES), np.arange(base, base + len(batch)))])
                    base += len(batch)
            except READ_ERRORS as e:
                raise read_failed(e, self.uri) from None
        self._fragments = now if all(f.rows >= 0 for f in now) else []
        self.dataset = ds
        if self._local and self._fragments and len(self._keys) - self._saved_rows >= SAVE_INDEX_ROWS:
            self._save()

    def _index_dir(self) -> Path:
        return Path(self.uri).parent / INDEX_DIR

    def _load_saved(self, now: list[_Fragment]) -> None:
        """Memory-map the saved index covering the most rows whose fragments begin the dataset's own."""
        best: tuple[int, Path, list[_Fragment]] | None = None
        for d in self._index_dir().glob("v*"):
            try:
                frags = [_Fragment(int(i), int(r)) for i, r in json.loads((d / "fragments.json").read_text())]
            except (OSError, ValueError, TypeError):
                continue  # a copy being written or damaged: the key column is the truth
            rows = sum(f.rows for f in frags)
            if frags and now[: len(frags)] == frags and (best is None or rows > best[0]):
                best = (rows, d, frags)
        if best is None:
            return
        try:
            arrays = [np.load(best[1] / f"{name}.npy", mmap_mode="r") for name in ("hi", "lo", "ids")]
        except (OSError, ValueError):
            return
        if not all(len(a) == best[0] for a in arrays):
            return
        self._keys = SortedKeys.from_arrays(*arrays)
        self._fragments, self._saved_rows = best[2], best[0]

    def _save(self) -> None:
        """Save the index for the fragments it covers (written aside, then renamed: readers never see half);
        older copies are removed. Best effort: a read-only or full disk only costs the next process a scan."""
        import shutil
        import uuid

        root = self._index_dir()
        final = root / f"v{self.dataset.version if self.dataset else 0}-{len(self._keys)}"
        tmp = root / f".tmp-{uuid.uuid4().hex}"
        try:
            tmp.mkdir(parents=True)
            for name, arr in zip(("hi", "lo", "ids"), self._keys.arrays()):
                np.save(tmp / f"{name}.npy", np.asarray(arr))
            (tmp / "fragments.json").write_text(json.dumps([[f.id, f.rows] for f in self._fragments]))
            tmp.rename(final)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            return
        self._saved_rows = len(self._keys)
        for other in root.glob("v*"):
            if other != final:
                shutil.rmtree(other, ignore_errors=True)

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Row position of each key in `self.dataset`; -1 where the text has no row yet."""
        return self._keys.find(keys)


def _vectors(table: pa.Table, dim: int) -> np.ndarray:
    col = table.column("vector").combine_chunks()
    return col.flatten().to_numpy(zero_copy_only=False).reshape(-1, dim)


class LanceRows(RowsBase):
    """The embeddings of a text list, in its order, read from one version of a space's dataset by position (a
    writer or a compaction meanwhile changes nothing here). Rows read are checked: as many as asked, finite."""

    def __init__(self, dataset: lance.LanceDataset, positions: np.ndarray, dim: int) -> None:
        self._ds = dataset
        self._pos = np.asarray(positions, np.int64)
        self.shape = (len(self._pos), dim)

    def _take(self, positions: np.ndarray, columns: list[str]) -> pa.Table:
        try:
            table = self._ds.take(pa.array(positions, pa.uint64()), columns=columns)
        except READ_ERRORS as e:
            raise read_failed(e, self._ds.uri) from None
        if table.num_rows != len(positions):
            raise StoreError(
                f"{self._ds.uri}: {table.num_rows} rows read for {len(positions)} asked (version {self._ds.version}); "
                "run `leafbench cache verify`"
            )
        return table

    def take(self, positions: np.ndarray | Sequence[int]) -> np.ndarray:
        pos = self._pos[np.asarray(positions, dtype=np.int64)]
        if not len(pos):
            return np.empty((0, self.shape[1]), np.float32)
        out = _vectors(self._take(pos, ["vector"]), self.shape[1])
        if not np.isfinite(out).all():
            raise StoreError(
                f"{self._ds.uri}: stored rows hold non-finite values; `leafbench cache verify` removes them "
                "so their texts are encoded again"
            )
        return out

    def reader(self, start: int, stop: int) -> "LanceSlice":
        return LanceSlice(self._ds.uri, self._ds.version, self._pos[start:stop].copy(), self.shape[1])

    def encode_totals(self) -> tuple[float, float]:
        """Encoding seconds and tokens summed over the rows, read a million rows at a time (bounded memory)."""
        seconds = tokens = 0.0
        for s in range(0, len(self._pos), 1 << 20):
            t = self._take(self._pos[s : s + (1 << 20)], ["seconds", "tokens"])
            seconds += float(t.column("seconds").fill_null(0).to_numpy().astype(np.float64).sum())
            tokens += float(t.column("tokens").fill_null(0).to_numpy().sum())
        return seconds, tokens


@dataclass(frozen=True)
class LanceSlice:
    """Rows of a text list as another process reopens them: the dataset's URI and version (the one the driver
    read: later appends or a compaction change nothing) and the rows' positions, never the vectors. Object-store
    settings come from the reading process's own environment."""

    uri: str
    version: Any
    positions: np.ndarray
    dim: int

    def open(self) -> LanceRows:
        try:
            ds = lance.dataset(
                self.uri, version=self.version, storage_options=storage_options_from_env(self.uri) or None
            )
        except READ_ERRORS as e:
            raise read_failed(e, self.uri) from None
        return LanceRows(ds, self.positions, self.dim)


def compact_space(uri: str, storage_options: dict[str, str], rows_per_file: int = 1 << 20) -> dict[str, int]:
    """Rewrite a space's many small appends into few large files (Lance `compact_files`); readers of older
    versions keep working until `cleanup_old_versions` removes them."""
    ds = open_dataset(uri, storage_options)
    if ds is None:
        return {"fragments_removed": 0, "fragments_added": 0}
    try:
        m = ds.optimize.compact_files(target_rows_per_fragment=rows_per_file)
    except READ_ERRORS as e:
        raise read_failed(e, uri) from None
    return {"fragments_removed": m.fragments_removed, "fragments_added": m.fragments_added}


def verify_space(uri: str, storage_options: dict[str, str], warn: Callable[[str], None]) -> int:
    """Check a whole space: Lance's own structure (`validate`), the schema, every data file's size against its
    manifest, every row's key, finite vector and checksum. What is shown to be bad is removed (a new version) and
    named: fragments whose files were truncated or grew, rows whose bytes changed. A read that fails for another
    reason removes nothing (StoreError). Returns the rows that are fine."""
    ds = open_dataset(uri, storage_options)
    if ds is None:
        return 0
    try:
        dim = check_schema(ds.schema, uri)
        damaged = _damaged_fragments(ds, uri)
        if damaged:
            op = lance.LanceOperation.Delete([], list(damaged), "leafbench cache verify: damaged data files")
            ds = lance.LanceDataset.commit(uri, op, read_version=ds.version, storage_options=storage_options or None)
            for why in damaged.values():
                warn(f"{uri}: {why}; its rows were removed and their texts will be encoded again")
        try:
            ds.validate()
        except (ValueError, RuntimeError) as e:  # Lance's own structure: named, nothing deleted
            warn(f"{uri}: Lance reports an inconsistent dataset ({e}); nothing was changed")
            return 0
        n, bad = _check_rows(ds, dim)
        if bad:
            ds.delete(f"_rowid IN ({', '.join(map(str, bad))})")
            warn(
                f"{uri}: {len(bad)} rows with non-finite values, no key or a wrong checksum removed; their texts "
                "will be encoded again"
            )
    except READ_ERRORS as e:
        raise read_failed(e, uri) from None
    return n


def _check_rows(ds: lance.LanceDataset, dim: int) -> tuple[int, list[int]]:
    """(rows that are fine, row ids of the bad ones): finite vector, a key, and the checksum where written."""
    crc = "crc" in ds.schema.names
    bad: list[int] = []
    n = 0
    for batch in ds.to_batches(columns=["key", "vector", *(["crc"] if crc else [])], with_row_id=True):
        vecs = _vectors(pa.Table.from_batches([batch]), dim)
        ok = np.isfinite(vecs).all(axis=1) & batch.column("key").is_valid().to_numpy(zero_copy_only=False)
        if crc:
            keys = np.frombuffer(batch.column("key").buffers()[1], np.uint8)[: len(vecs) * KEY_BYTES]
            ok &= row_crcs(keys.reshape(-1, KEY_BYTES), vecs) == batch.column("crc").to_numpy(zero_copy_only=False)
        n += int(ok.sum())
        bad.extend(batch.column("_rowid").to_numpy()[~ok].tolist())
    return n, bad


def _damaged_fragments(ds: lance.LanceDataset, uri: str) -> dict[int, str]:
    """{fragment id: why} for fragments whose data files are not of the size the manifest recorded: a verified
    mismatch (the manifest is the record of what was written), not a failed read. A missing file is a StoreError:
    it may be back when its mount or bucket is."""
    from pyarrow import fs

    from .uris import filesystem, is_uri

    fsys, base = filesystem(uri) if is_uri(uri) else (fs.LocalFileSystem(), uri)
    found: dict[int, str] = {}
    for frag in ds.get_fragments():
        for f in frag.metadata.files:
            info = fsys.get_file_info(f"{base}/data/{f.path}")
            if info.type == fs.FileType.NotFound:  # gone or not reachable now (a mount, a bucket): says nothing
                raise StoreError(f"{uri}: data file {f.path} is missing; nothing was changed")
            if f.file_size_bytes and info.size != f.file_size_bytes:
                found[frag.fragment_id] = (
                    f"data file {f.path} holds {info.size} bytes, {f.file_size_bytes} were written"
                )
    return found
