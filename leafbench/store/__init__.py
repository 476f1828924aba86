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

One concept a module: ``keys`` (text keys, encoding spaces), ``shards`` (the shard format and its writer),
``verify`` (verification and quarantine), ``index`` (a space's key → row index), ``rows`` (what a read hands
back), ``legacy`` (format-1 import), ``maintenance`` (ls, verify, prune), ``embedding_store`` (the facade).
Import the names from this package.

The default format for a new store is the other one: ``lance_space`` and ``lance_store`` keep a space as one
Lance dataset (``spaces/<space>/rows.lance``, also on ``s3://`` / ``gs://`` / ``az://``: ``uris``), served by the
same facade logic (`TextStore`). A Lance root is marked by ``FORMAT-lance`` (``markers``: the shard store never
reads it), so ``detect_format(root)`` tells the two apart and ``formats.open_store(root)`` opens a root in the
format it has (a new one: Lance; ``backend="shards"`` or ``leafbench run --store-format shards`` for format 2).
"""

from __future__ import annotations

from .embedding_store import EmbeddingStore, EncodeFn, TextStore
from .errors import StoreError
from .formats import STORE_BACKENDS, detect_format, open_store
from .index import SpaceIndex
from .keys import KEY_BYTES, EncodingKey, hash_texts, text_keys
from .markers import LANCE_MARKER
from .rows import EncodeStats, RowsReader, StoredRows
from .shards import DEFAULT_FLUSH_SECONDS, DEFAULT_SHARD_SIZE, STORE_FORMAT, Shard, ShardWriter

__all__ = [
    "DEFAULT_FLUSH_SECONDS",
    "DEFAULT_SHARD_SIZE",
    "KEY_BYTES",
    "LANCE_MARKER",
    "STORE_BACKENDS",
    "STORE_FORMAT",
    "EmbeddingStore",
    "EncodeFn",
    "EncodeStats",
    "EncodingKey",
    "RowsReader",
    "Shard",
    "ShardWriter",
    "SpaceIndex",
    "StoreError",
    "StoredRows",
    "TextStore",
    "detect_format",
    "hash_texts",
    "open_store",
    "text_keys",
]
