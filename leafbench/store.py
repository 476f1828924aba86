"""Per-text content-addressed embedding store.

Encoding is the expensive step, so every vector is kept on disk and keyed by what determines it: the
*encoding space* (model identity, side, prompt, max_seq_length, precision, backend — `EncodingKey`) and a
hash of the text itself. Any text list is served from the rows already there and only the missing texts are
encoded: a subset protocol, a full corpus, two tasks sharing documents and distillation targets all share
rows, and a corpus that differs by one document costs one document.

Layout (``<root>/``)::

    FORMAT                          store format (2); a newer format is refused, never misread
    spaces/<space>/space.json       the EncodingKey fields of the space
    spaces/<space>/shards/<id>.npy  float32 [rows, dim]
    spaces/<space>/shards/<id>.keys rows x 16 bytes: blake2b-128 of each row's text (UTF-8)
    spaces/<space>/shards/<id>.json manifest: rows, dim, crc32 of .npy and .keys, encoding seconds/tokens
    spaces/<space>/quarantine/      shards that failed verification (named in a warning, never read)
    <aa>/<digest>/                  format-1 entries (one per whole text list): imported on first use

A shard is committed by writing its data and keys (temp file + rename) and then its manifest: a reader
sees a shard only once its manifest exists, so a killed writer leaves no half shard. Shard ids are unique
per writer (time, pid, random), so several processes — or Ray actors — may fill one space at once: at worst
a text is encoded twice and either row serves it. Writers commit every `shard_size` rows or every
`flush_seconds`, whichever comes first, so an interruption loses at most that much encoding. Every shard
is checked on first use in a process (shape, row count, crc32 of data and keys); a bad shard (a manifest that
is not a JSON object, a file missing next to its manifest, a mismatch) is moved to ``quarantine/``, named, and
its texts are encoded again. A read that fails for the machine's reasons (too many open files, permissions, I/O)
is a `StoreError` and moves nothing: a healthy shard is never quarantined.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import secrets
import shutil
import tempfile
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .errors import TOO_MANY_FILES, UserError, resource_error_message
from .files import atomic_write

log = logging.getLogger(__name__)

STORE_FORMAT = 2
DEFAULT_SHARD_SIZE = 4096
DEFAULT_FLUSH_SECONDS = 30.0
KEY_BYTES = 16


class StoreError(UserError):
    """A store that cannot be used as asked (newer format, unwritable, missing rows); the message is for the user."""


def hash_texts(texts: Sequence[str]) -> str:
    """Order-sensitive digest of a text list; length-prefixed so ("ab", "c") != ("a", "bc")."""
    h = hashlib.sha256()
    for t in texts:
        b = t.encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def text_keys(texts: Iterable[str]) -> np.ndarray:
    """blake2b-128 of each text as a [n, 16] uint8 array: the row key of the text in every space."""
    return np.frombuffer(
        b"".join(hashlib.blake2b(t.encode("utf-8"), digest_size=KEY_BYTES).digest() for t in texts), dtype=np.uint8
    ).reshape(-1, KEY_BYTES)


def _split_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[n, 16] uint8 → (high, low) uint64 halves, for sorting and binary search."""
    k = np.ascontiguousarray(keys, dtype=np.uint8).view(np.uint64).reshape(-1, 2)
    return k[:, 0], k[:, 1]


@dataclass(frozen=True)
class EncodingKey:
    """Everything that determines a text's embedding except the text: one encoding space of the store."""

    model_id: str
    side: str
    prompt: str
    max_seq_length: int | None
    precision: str
    backend: str = "torch"  # inference backend incl. quantization (leafbench.backends)

    def _fields(self) -> dict:
        fields = asdict(self)
        if fields["backend"] == "torch":  # keys written before backends existed stay valid
            del fields["backend"]
        return fields

    def digest(self, texts_hash: str) -> str:
        """Format-1 entry digest (one entry per whole text list); used only to import old entries."""
        payload = json.dumps({**self._fields(), "texts": texts_hash, "format": 1}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()

    def space(self) -> str:
        """Name of this key's encoding space."""
        return hashlib.sha256(json.dumps(self._fields(), sort_keys=True).encode()).hexdigest()[:32]


@dataclass
class EncodeStats:
    """What one `get_or_encode` call did; surfaces cache hits and throughput in results."""

    n_texts: int
    n_encoded: int
    seconds: float
    n_tokens: int
    cached: bool
    digest: str  # the encoding space
    encode_seconds_total: float = 0.0  # seconds that produced these rows (pro rata of their shards)
    tokens_total: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def texts_per_s(self) -> float | None:
        """Throughput of the passes that produced the rows (survives cache hits)."""
        return self.n_texts / self.encode_seconds_total if self.encode_seconds_total > 0 else None

    @property
    def tokens_per_s(self) -> float | None:
        return self.tokens_total / self.encode_seconds_total if self.encode_seconds_total > 0 else None


# A batch encoder returns (embeddings [n, dim] float32, number of tokens it processed).
EncodeFn = Callable[[list[str]], tuple[np.ndarray, int]]


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    """Temp file + fsync + rename, with the umask's mode: readers see the old file or the whole new one."""
    atomic_write(path, data, fsync=True)


def _npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


def _crc(data: bytes | memoryview) -> str:
    return f"{zlib.crc32(data) & 0xFFFFFFFF:08x}"


def _read_error(e: OSError, path: Path) -> str:
    """One line for a shard file that could not be read for a reason outside the shard (so it is not moved)."""
    named = OSError(e.errno, e.strerror, str(e.filename or path))  # mmap's errors name no file
    if e.errno in TOO_MANY_FILES:
        return f"{resource_error_message(named)}; the store keeps one file open per shard it reads"
    return resource_error_message(named) or f"{named.filename}: cannot read ({e.strerror or e}); nothing was moved"


def _json_object(path: Path) -> dict | None:
    """`path` parsed as a JSON object; None if it cannot be read, is not JSON, or is JSON but not an object."""
    try:
        obj = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


@dataclass
class Shard:
    """One committed shard: its manifest plus the open (memory-mapped) data once verified."""

    path: Path  # .../shards/<id> without suffix
    manifest: dict
    data: np.ndarray | None = None

    @property
    def rows(self) -> int:
        return int(self.manifest["rows"])

    def array(self) -> np.ndarray:
        if self.data is None:
            self.data = np.load(self.path.with_suffix(".npy"), mmap_mode="r")
        return self.data


class ShardWriter:
    """Buffers encoded rows of one space and commits them as shards (every `shard_size` rows or `flush_seconds`).

    Used by the single-process engine and by every Ray actor: writers never share a file name.
    """

    def __init__(
        self, space_dir: Path, shard_size: int = DEFAULT_SHARD_SIZE, flush_seconds: float = DEFAULT_FLUSH_SECONDS
    ) -> None:
        self.shards_dir = space_dir / "shards"
        self.shard_size = shard_size
        self.flush_seconds = flush_seconds
        self._keys: list[np.ndarray] = []
        self._vecs: list[np.ndarray] = []
        self._seconds = 0.0
        self._tokens = 0
        self._last_flush = time.monotonic()
        self.committed: list[str] = []  # shard ids written by this writer

    @property
    def buffered(self) -> int:
        return sum(len(k) for k in self._keys)

    def add(self, keys: np.ndarray, vectors: np.ndarray, seconds: float = 0.0, tokens: int = 0) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(keys):
            raise StoreError(f"encoder returned {vectors.shape[0] if vectors.ndim else 0} rows for {len(keys)} texts")
        if not np.isfinite(vectors).all():
            raise StoreError("encoder returned non-finite values (NaN/inf); nothing was stored")
        self._keys.append(np.asarray(keys, dtype=np.uint8))
        self._vecs.append(vectors)
        self._seconds += seconds
        self._tokens += int(tokens)
        if time.monotonic() - self._last_flush >= self.flush_seconds:
            self.flush()
        elif self.buffered >= self.shard_size:
            self.flush(full_only=True)

    def flush(self, full_only: bool = False) -> None:
        """Commit the buffered rows in shards of `shard_size` rows (the remainder too, unless `full_only`)."""
        if not self._keys:
            return
        keys = np.concatenate(self._keys)
        vecs = np.concatenate(self._vecs)
        seconds, tokens, n = self._seconds, self._tokens, len(keys)
        cut = n - n % self.shard_size if full_only else n
        share = lambda i: int(round(tokens * i / n))  # noqa: E731 - cumulative, so the parts add up exactly
        for s in range(0, cut, self.shard_size):
            e = min(cut, s + self.shard_size)
            self._commit(keys[s:e], vecs[s:e], seconds * (e - s) / n, share(e) - share(s))
        left = n - cut
        self._keys, self._vecs = ([keys[cut:]], [vecs[cut:]]) if left else ([], [])
        self._seconds, self._tokens = seconds * left / n, tokens - share(cut)
        if not left:
            self._last_flush = time.monotonic()

    def _commit(self, keys: np.ndarray, vecs: np.ndarray, seconds: float, tokens: int) -> None:
        """One shard: data and keys first, then the manifest that makes it visible to readers."""
        self.shards_dir.mkdir(parents=True, exist_ok=True)
        sid = f"{time.time_ns():x}-{os.getpid():x}-{secrets.token_hex(4)}"
        base = self.shards_dir / sid
        vecs = np.ascontiguousarray(vecs)
        _atomic_write_bytes(base.with_suffix(".npy"), _npy_bytes(vecs))
        _atomic_write_bytes(base.with_suffix(".keys"), np.ascontiguousarray(keys).tobytes())
        manifest = {
            "format": STORE_FORMAT,
            "rows": int(len(keys)),
            "dim": int(vecs.shape[1]),
            "crc32_data": _crc(memoryview(vecs).cast("B")),
            "crc32_keys": _crc(np.ascontiguousarray(keys).tobytes()),
            "encode_seconds": seconds,
            "tokens": tokens,
            "created": time.time(),
        }
        _atomic_write_bytes(base.with_suffix(".json"), json.dumps(manifest).encode())
        self.committed.append(sid)


class SpaceIndex:
    """Text key → (shard, row) over the committed, verified shards of one space; refreshed incrementally."""

    def __init__(self, space_dir: Path, warn: Callable[[str], None]) -> None:
        self.dir = space_dir
        self.warn = warn
        self.shards: list[Shard] = []
        self._seen: set[str] = set()
        self._hi = np.empty(0, np.uint64)
        self._lo = np.empty(0, np.uint64)
        self._shard_no = np.empty(0, np.int32)
        self._row = np.empty(0, np.int32)
        self.dim: int | None = None

    def refresh(self) -> None:
        """Add shards committed since the last refresh (by this process or any other writer)."""
        sdir = self.dir / "shards"
        new = sorted(p for p in sdir.glob("*.json") if p.stem not in self._seen) if sdir.exists() else []
        his, los, nos, rows = [self._hi], [self._lo], [self._shard_no], [self._row]
        try:
            for mpath in new:
                opened = self._open(mpath)  # a StoreError leaves this shard unseen: the next refresh retries it
                self._seen.add(mpath.stem)
                if opened is None:
                    continue
                shard, keys = opened
                hi, lo = _split_keys(np.frombuffer(keys, dtype=np.uint8).reshape(-1, KEY_BYTES))
                no = len(self.shards)
                self.shards.append(shard)
                his.append(hi)
                los.append(lo)
                nos.append(np.full(len(hi), no, np.int32))
                rows.append(np.arange(len(hi), dtype=np.int32))
        finally:  # the shards opened before an error stay indexed
            if len(his) > 1:
                hi, lo = np.concatenate(his), np.concatenate(los)
                order = np.lexsort((lo, hi))
                self._hi, self._lo = hi[order], lo[order]
                self._shard_no, self._row = np.concatenate(nos)[order], np.concatenate(rows)[order]

    def _open(self, mpath: Path) -> tuple[Shard, bytes] | None:
        """Verify one shard (manifest, shape, crc32 of keys and data); quarantine and name it only when its files
        are shown to be wrong or missing. An OS error while reading (too many open files, permission, I/O) says
        nothing about the shard: it is a StoreError and nothing is moved."""
        base = mpath.with_suffix("")
        reading = mpath
        try:
            manifest = json.loads(mpath.read_text())
            if not isinstance(manifest, dict):
                raise ValueError(f"{mpath.name} is a JSON {type(manifest).__name__}, not an object")
            if manifest.get("format") != STORE_FORMAT:
                raise ValueError(f"shard format {manifest.get('format')!r}")
            rows, dim = int(manifest["rows"]), int(manifest["dim"])
            float(manifest.get("encode_seconds", 0.0)), float(manifest.get("tokens", 0))  # used in stats
            reading = base.with_suffix(".keys")
            keys = reading.read_bytes()
            if len(keys) != rows * KEY_BYTES or _crc(keys) != manifest["crc32_keys"]:
                raise ValueError("keys do not match the manifest")
            reading = base.with_suffix(".npy")
            data = np.lib.format.open_memmap(reading, mode="r")  # .npy only (np.load would also open a zip)
            if data.shape != (rows, dim) or data.dtype != np.float32:
                raise ValueError(f"data is {data.dtype}{list(data.shape)}, manifest says float32[{rows}, {dim}]")
            if _crc(memoryview(np.ascontiguousarray(data)).cast("B")) != manifest["crc32_data"]:
                raise ValueError("data checksum mismatch")
            if self.dim is not None and dim != self.dim:
                raise ValueError(f"dim {dim} differs from the space's {self.dim}")
        except FileNotFoundError:
            if not mpath.exists():
                return None  # pruned or quarantined by another process meanwhile (the manifest goes first)
            self._quarantine(base, f"{reading.name} is missing")  # a writer commits the manifest last
            return None
        except (ValueError, KeyError, TypeError, EOFError) as e:
            self._quarantine(base, str(e))
            return None
        except OSError as e:
            raise StoreError(_read_error(e, reading)) from None
        self.dim = dim
        return Shard(base, manifest, data), keys

    def _quarantine(self, base: Path, why: str) -> None:
        qdir = self.dir / "quarantine"
        try:
            qdir.mkdir(exist_ok=True)
            for suffix in (".json", ".npy", ".keys"):  # the manifest first: readers stop seeing the shard at once
                try:
                    os.replace(base.with_suffix(suffix), qdir / (base.name + suffix))
                except FileNotFoundError:
                    pass
        except OSError as e:  # a read-only store: the shard stays where it is, unused
            self.warn(
                f"{base.with_suffix('.npy')}: corrupt shard ({why}); not used, and left in place (cannot move it to "
                f"{qdir}: {e.strerror or e}); its texts will be encoded again"
            )
            return
        self.warn(
            f"{base.with_suffix('.npy')}: corrupt shard ({why}); moved to {qdir}, its texts will be encoded again"
        )

    @property
    def n_rows(self) -> int:
        return len(self._hi)

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(shard number, row) per key; shard number -1 where the text has no row yet."""
        hi, lo = _split_keys(keys)
        pos = np.searchsorted(self._hi, hi)
        shard_no = np.full(len(hi), -1, np.int32)
        row = np.zeros(len(hi), np.int32)
        if len(self._hi):
            p = np.minimum(pos, len(self._hi) - 1)
            hit = (self._hi[p] == hi) & (self._lo[p] == lo)
            shard_no[hit], row[hit] = self._shard_no[p[hit]], self._row[p[hit]]
            # 64-bit prefix shared by several keys (never seen in practice): walk the run of equal prefixes.
            for i in np.nonzero(~hit & (self._hi[p] == hi))[0]:
                j = pos[i]
                while j < len(self._hi) and self._hi[j] == hi[i]:
                    if self._lo[j] == lo[i]:
                        shard_no[i], row[i] = self._shard_no[j], self._row[j]
                        break
                    j += 1
        return shard_no, row


class StoredRows:
    """The embeddings of a text list, in its order, backed by memory-mapped shards: nothing is concatenated.

    Behaves enough like an array for the harness: `shape`, `len`, `chunks()` for streaming, `take()` for
    random rows, `[...]` and `np.asarray()` to materialise (for query sides and small tasks).
    """

    dtype = np.dtype(np.float32)

    def __init__(self, shards: Sequence[Shard], shard_no: np.ndarray, row: np.ndarray, dim: int) -> None:
        self._shards = list(shards)
        self._shard_no = shard_no
        self._row = row
        self.shape = (len(shard_no), dim)

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def ndim(self) -> int:
        return 2

    def take(self, positions: np.ndarray | Sequence[int]) -> np.ndarray:
        """Rows at `positions` (of the text list) as a float32 array, read shard by shard."""
        positions = np.asarray(positions, dtype=np.int64)
        out = np.empty((len(positions), self.shape[1]), np.float32)
        sn, rw = self._shard_no[positions], self._row[positions]
        for s in np.unique(sn):
            m = sn == s
            r = rw[m]
            dest = np.nonzero(m)[0]
            if len(r) > 1 and r[-1] - r[0] == len(r) - 1 and (np.diff(r) == 1).all():
                out[dest] = self._shards[s].array()[r[0] : r[-1] + 1]  # rows stored in list order: one slice
                continue
            order = np.argsort(r, kind="stable")  # read each shard front to back
            out[dest[order]] = self._shards[s].array()[r[order]]
        return out

    def chunks(self, size: int) -> Iterator[tuple[int, np.ndarray]]:
        """(start, rows[start:start+size]) over the whole list; only one chunk is in memory at a time."""
        for start in range(0, self.shape[0], size):
            yield start, self.take(np.arange(start, min(start + size, self.shape[0])))

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        arr = self.take(np.arange(self.shape[0]))
        return arr if dtype is None else arr.astype(dtype)

    def __getitem__(self, item):
        if isinstance(item, tuple):
            rows, rest = item[0], item[1:]
            return self[rows][(slice(None), *rest)]
        if isinstance(item, slice):
            return self.take(np.arange(*item.indices(self.shape[0])))
        if isinstance(item, (int, np.integer)):
            return self.take([int(item)])[0]
        return self.take(np.asarray(item))


class EmbeddingStore:
    """Per-text float32 embeddings on disk, one space per EncodingKey (see the module docstring)."""

    def __init__(
        self, root: Path | str, shard_size: int = DEFAULT_SHARD_SIZE, flush_seconds: float = DEFAULT_FLUSH_SECONDS
    ) -> None:
        self.root = Path(root)
        self.shard_size = shard_size
        self.flush_seconds = flush_seconds
        # Texts encoded / served from disk by this process: the "encoded vs reused" line of a run.
        self.n_encoded = 0
        self.n_served = 0
        self.warnings: list[str] = []  # corrupt shards found (each also logged)
        self._indexes: dict[str, SpaceIndex] = {}
        self._check_format()

    # ------------------------------------------------------------------------------------------ layout

    def _check_format(self) -> None:
        fpath = self.root / "FORMAT"
        try:
            fmt = int(fpath.read_text().strip() or 0)
        except (FileNotFoundError, NotADirectoryError):
            return  # a new store (or one that cannot be created: named when something must be written)
        except ValueError:
            raise StoreError(f"{fpath}: not a leafbench store format marker") from None
        except OSError as e:
            raise StoreError(f"{fpath}: cannot read the store format marker ({e.strerror or e})") from None
        if fmt > STORE_FORMAT:
            raise StoreError(
                f"{self.root}: embedding store written by a newer leafbench (format {fmt}; this version reads "
                f"<= {STORE_FORMAT}); upgrade leafbench or use another --cache-dir"
            )

    def _ensure_writable(self, space_dir: Path, key: EncodingKey) -> None:
        try:
            space_dir.mkdir(parents=True, exist_ok=True)
            if not (self.root / "FORMAT").exists():
                _atomic_write_bytes(self.root / "FORMAT", f"{STORE_FORMAT}\n".encode())
            if not (space_dir / "space.json").exists():
                _atomic_write_bytes(
                    space_dir / "space.json",
                    json.dumps({"format": STORE_FORMAT, "key": asdict(key)}, indent=1).encode(),
                )
            probe = tempfile.NamedTemporaryFile(dir=space_dir, prefix=".probe-", delete=True)
            probe.close()
        except OSError as e:
            if resource_error_message(e):
                raise  # disk full, quota: the CLI names the file and the cause
            raise StoreError(
                f"{self.root}: embedding store is not writable ({e.strerror}); pass a writable --cache-dir"
            ) from None

    def space_dir(self, key: EncodingKey) -> Path:
        return self.root / "spaces" / key.space()

    def index(self, key: EncodingKey) -> SpaceIndex:
        space = key.space()
        idx = self._indexes.get(space)
        if idx is None:
            idx = self._indexes[space] = SpaceIndex(self.space_dir(key), self._warn)
        idx.refresh()
        return idx

    def _warn(self, msg: str) -> None:
        log.info(msg)  # callers surface `warnings` themselves (the CLI prints each once)
        self.warnings.append(msg)

    def writer(self, key: EncodingKey) -> ShardWriter:
        d = self.space_dir(key)
        self._ensure_writable(d, key)
        return ShardWriter(d, self.shard_size, self.flush_seconds)

    # ------------------------------------------------------------------------------------------ reads

    def missing(self, key: EncodingKey, texts: Sequence[str], keys: np.ndarray | None = None) -> list[str]:
        """The distinct texts of `texts` that have no row in the key's space yet (in first-seen order); `keys`:
        their `text_keys`, when the caller has them already."""
        keys = text_keys(texts) if keys is None else keys
        shard_no, _ = self.index(key).lookup(keys)
        out, seen = [], set()
        for i in np.nonzero(shard_no < 0)[0]:
            k = keys[i].tobytes()
            if k not in seen:
                seen.add(k)
                out.append(texts[i])
        return out

    def rows(self, key: EncodingKey, texts: Sequence[str], keys: np.ndarray | None = None) -> StoredRows:
        """The stored rows of `texts`, in order; StoreError naming the count if any text has none."""
        keys = text_keys(texts) if keys is None else keys
        idx = self.index(key)
        shard_no, row = idx.lookup(keys)
        if (shard_no < 0).any():
            raise StoreError(f"{int((shard_no < 0).sum())} of {len(texts)} texts have no row in {self.space_dir(key)}")
        return StoredRows(idx.shards, shard_no, row, idx.dim or 0)

    def _stats(self, key: EncodingKey, rows: StoredRows, n_encoded: int, n_tokens: int, seconds: float) -> EncodeStats:
        """Per-call stats; the pass throughput is each touched shard's seconds/tokens pro rata of the rows used."""
        used = np.bincount(rows._shard_no, minlength=len(rows._shards))
        enc_s = tokens = 0.0
        for s in np.nonzero(used)[0]:
            m = rows._shards[s].manifest
            frac = used[s] / max(1, m["rows"])
            enc_s += frac * float(m.get("encode_seconds", 0.0))
            tokens += frac * float(m.get("tokens", 0))
        return EncodeStats(
            n_texts=len(rows),
            n_encoded=n_encoded,
            seconds=seconds,
            n_tokens=n_tokens,
            cached=n_encoded == 0,
            digest=key.space(),
            encode_seconds_total=enc_s,
            tokens_total=int(round(tokens)),
        )

    # ------------------------------------------------------------------------------------------ encode

    def get_or_encode(
        self,
        key: EncodingKey,
        texts: Sequence[str],
        encode: EncodeFn,
        progress: Callable[[int], None] | None = None,
        piece_seconds: float = 5.0,
        prepare: Callable[[], object] | None = None,
        engine: Callable[[EncodingKey, list[str], Callable[[int], None] | None], int] | None = None,
        batch_size: int = 1,
    ) -> tuple[StoredRows, EncodeStats]:
        """Rows for `texts`, encoding only the texts the space lacks (committed as it goes).

        `progress(n)` is called with the number of texts newly available (stored ones first), so a caller's
        progress bar shows the whole job. Missing texts are fed to `encode` in pieces sized to take about
        `piece_seconds`, so rows reach disk at least every `flush_seconds`. `prepare()` runs only when something
        must be encoded (loading the model); `engine(key, todo, progress)` replaces this process's encoding loop
        (it must write the rows into this store, e.g. through `writer()`) and returns the tokens processed.
        """
        t0 = time.perf_counter()
        texts = list(texts)
        keys = text_keys(texts)
        self._import_v1(key, texts, keys)
        todo = self.missing(key, texts, keys)  # the list is hashed once per call
        if progress:
            progress(len(texts) - len(todo) if todo else len(texts))
        n_tokens = 0
        if todo and engine is not None:
            n_tokens = engine(key, todo, progress)
        elif todo:
            if prepare is not None:
                prepare()
            n_tokens = self.encode_missing(key, todo, encode, piece_seconds=piece_seconds, batch_size=batch_size)
        rows = self.rows(key, texts, keys)
        n_enc = len(todo)
        self.n_encoded += n_enc
        self.n_served += len(texts) - n_enc
        return rows, self._stats(key, rows, n_enc, n_tokens, time.perf_counter() - t0)

    def encode_missing(
        self,
        key: EncodingKey,
        todo: Sequence[str],
        encode: EncodeFn,
        piece_seconds: float = 5.0,
        batch_size: int = 1,
    ) -> int:
        """Encode `todo` (texts known to be missing) into the space; returns the tokens processed.

        Texts go in windows of `shard_size` of the list, each window longest first (as sentence-transformers
        sorts a list), in pieces that are whole multiples of the encoder's `batch_size` while the model is fast
        enough: a list of up to `shard_size` texts is batched exactly as `SentenceTransformer.encode` batches it
        (so its floats match bit for bit), and a window's rows stay in a shard or two (reads stay local). A
        slow model (a CPU teacher: <1 text/s) gets smaller pieces, so a kill loses seconds, not a batch.
        Rows buffered when an exception (e.g. Ctrl-C) interrupts are committed before it propagates.
        """
        writer = self.writer(key)
        n_tokens, piece = 0, max(1, batch_size)
        try:
            for w in range(0, len(todo), self.shard_size):
                window = list(todo[w : w + self.shard_size])
                order = sorted(range(len(window)), key=lambda i: -len(window[i]))
                start = 0
                while start < len(order):
                    chunk = [window[i] for i in order[start : start + piece]]
                    ts = time.perf_counter()
                    emb, toks = encode(chunk)
                    dt = time.perf_counter() - ts
                    writer.add(text_keys(chunk), emb, dt, toks)
                    n_tokens += int(toks)
                    start += len(chunk)
                    # Next piece sized to take about piece_seconds at the rate just measured.
                    want = len(chunk) / max(dt, 1e-6) * piece_seconds
                    piece = int(
                        min(want // batch_size * batch_size if want >= batch_size else max(1, want), self.shard_size)
                    )
        finally:
            writer.flush()
        return n_tokens

    # ------------------------------------------------------------------------------------------ format 1

    def _import_v1(self, key: EncodingKey, texts: list[str], keys: np.ndarray) -> None:
        """Copy the shards of a format-1 entry for exactly this (key, text list) into the space, once."""
        d = key.digest(hash_texts(texts))
        entry = self.root / d[:2] / d
        if not (entry / "meta.json").exists():
            return
        meta = _json_object(entry / "meta.json") or {}
        try:
            ss = int(meta["shard_size"])
            float(meta.get("encode_seconds", 0.0)), float(meta.get("n_tokens", 0))
        except (ValueError, KeyError, TypeError):
            ss = 0
        if ss <= 0:
            self._warn(f"{entry}: unreadable format-1 entry; ignored (its texts are encoded again)")
            return
        writer = self.writer(key)
        writer.flush_seconds = float("inf")
        n_shards = -(-len(texts) // ss)
        per_row = float(meta.get("encode_seconds", 0.0)) / max(1, len(texts))
        tok_row = float(meta.get("n_tokens", 0)) / max(1, len(texts))
        imported = 0
        for i in range(n_shards):
            p = entry / f"shard_{i:05d}.npy"
            if not p.exists():
                continue
            try:
                arr = np.load(p)
            except (ValueError, EOFError):
                self._warn(f"{p}: unreadable format-1 shard; its texts will be encoded again")
                continue
            except OSError as e:  # not the shard's fault: fail before the entry is removed below
                raise StoreError(_read_error(e, p)) from None
            k = keys[i * ss : (i + 1) * ss]
            if arr.ndim != 2 or arr.shape[0] != len(k):
                self._warn(
                    f"{p}: format-1 shard holds {arr.shape[0] if arr.ndim else 0} rows, expected {len(k)}; encoded again"
                )
                continue
            writer.add(k, arr, per_row * len(k), int(tok_row * len(k)))
            imported += len(k)
        writer.flush()
        shutil.rmtree(entry, ignore_errors=True)
        log.info("imported %d rows of format-1 entry %s into space %s", imported, d, key.space())

    # ------------------------------------------------------------------------------------------ maintenance

    def spaces(self) -> Iterator[dict]:
        """One summary per space (for `leafbench cache ls`), without verifying data."""
        sroot = self.root / "spaces"
        for sdir in sorted(sroot.iterdir()) if sroot.exists() else []:
            key = (_json_object(sdir / "space.json") or {}).get("key")
            key = key if isinstance(key, dict) else {}
            manifests = []
            for m in sorted((sdir / "shards").glob("*.json")):
                manifest = _json_object(m)  # listed, not verified: `verify` quarantines a bad one
                ok = manifest is not None and isinstance(manifest.get("rows"), int) and manifest["rows"] >= 0
                manifests.append(manifest if ok else {"rows": 0, "unreadable": str(m)})
            size = sum(p.stat().st_size for p in (sdir / "shards").glob("*") if p.is_file())
            yield {
                "space": sdir.name,
                "key": key,
                "shards": len(manifests),
                "rows": sum(int(m.get("rows", 0)) for m in manifests),
                "dim": next((m["dim"] for m in manifests if "dim" in m), None),
                "bytes": size,
                "quarantined": len(list((sdir / "quarantine").glob("*.npy"))) if (sdir / "quarantine").exists() else 0,
                "path": str(sdir),
            }

    def old_entries(self) -> list[Path]:
        """Format-1 entries still on disk (imported into a space the first time their text list is asked for)."""
        return sorted(p.parent for p in self.root.glob("[0-9a-f][0-9a-f]/*/meta.json"))

    def verify(self) -> tuple[int, list[str]]:
        """Check every shard of every space (shape, crc32); returns (shards OK, messages about bad ones).
        A store folder that does not exist is a StoreError (a mistyped --cache-dir is not an intact store)."""
        if not self.root.is_dir():
            raise StoreError(f"{self.root}: no embedding store here (not a folder); check --cache-dir")
        before = len(self.warnings)
        ok = 0
        sroot = self.root / "spaces"
        for sdir in sorted(sroot.iterdir()) if sroot.exists() else []:
            idx = SpaceIndex(sdir, self._warn)
            idx.refresh()
            ok += len(idx.shards)
        return ok, self.warnings[before:]

    def prune(
        self,
        older_than_days: float | None = None,
        spaces: Sequence[str] = (),
        orphans: bool = True,
        old_format: bool = False,
        quarantine: bool = True,
    ) -> dict[str, int]:
        """Delete what is safe to delete: temp files and uncommitted shard parts older than an hour, quarantined
        shards, whole spaces (named, or unused for `older_than_days`), format-1 entries when asked."""
        removed = {"files": 0, "spaces": 0, "old_entries": 0, "bytes": 0}
        now = time.time()

        def rm(p: Path) -> None:
            removed["bytes"] += p.stat().st_size
            p.unlink()
            removed["files"] += 1

        sroot = self.root / "spaces"
        for sdir in sorted(sroot.iterdir()) if sroot.exists() else []:
            shards = sdir / "shards"
            newest = max(
                (p.stat().st_mtime for p in shards.glob("*.json")),
                default=(sdir / "space.json").stat().st_mtime if (sdir / "space.json").exists() else now,
            )
            if sdir.name in spaces or (older_than_days is not None and now - newest > older_than_days * 86400):
                removed["bytes"] += sum(p.stat().st_size for p in sdir.rglob("*") if p.is_file())
                shutil.rmtree(sdir)
                removed["spaces"] += 1
                continue
            if orphans and shards.exists():
                committed = {p.stem for p in shards.glob("*.json")}
                for p in shards.iterdir():
                    stem = p.name.split(".")[0] if not p.name.startswith(".") else None
                    partial = p.name.startswith(".") or stem not in committed
                    if partial and now - p.stat().st_mtime > 3600:  # a writer may still be working on it
                        rm(p)
            if quarantine and (sdir / "quarantine").exists():
                for p in (sdir / "quarantine").iterdir():
                    rm(p)
        if old_format:
            for entry in self.old_entries():
                removed["bytes"] += sum(p.stat().st_size for p in entry.rglob("*") if p.is_file())
                shutil.rmtree(entry)
                removed["old_entries"] += 1
        return removed
