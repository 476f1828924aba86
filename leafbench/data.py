"""Loading of BEIR-style retrieval data, offline first.

The benchmark must run on machines without network access, so a local BEIR folder
(``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``) is always preferred; the
Hugging Face path goes through mteb's own task object so that the data (and the
document-text construction) is exactly what mteb evaluates.

Every problem with the input data raises :class:`DataError` with a one-line message that
names the file and, where it helps, the 1-based line number.

mteb is imported lazily (it takes seconds); this module never imports torch.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import random
import re
from collections.abc import Container, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UserError

__all__ = [
    "TASKS",
    "DataError",
    "NoDataError",
    "IncompleteAggregateError",
    "RetrievalData",
    "doc_text",
    "find_local_folder",
    "aggregate_subtasks",
    "aggregate_local_folders",
    "load_aggregate_parts",
    "load_beir_folder",
    "load_retrieval_parts",
    "load_retrieval_task",
    "read_qrels",
    "read_queries",
    "resolve_task_name",
    "retrieval_data_from_mteb_split",
    "LOCAL_COPY",
    "is_local_copy",
    "mark_local_copies",
    "mteb_sizes",
]

#: mteb task name -> BEIR folder name, for the BEIR benchmark (in BEIR-paper order).
TASKS: dict[str, str] = {
    "TRECCOVID": "trec-covid",
    "NFCorpus": "nfcorpus",
    "NQ": "nq",
    "HotpotQA": "hotpotqa",
    "FiQA2018": "fiqa",
    "ArguAna": "arguana",
    "Touche2020": "webis-touche2020",
    "CQADupstackRetrieval": "cqadupstack",
    "QuoraRetrieval": "quora",
    "DBPedia": "dbpedia-entity",
    "SCIDOCS": "scidocs",
    "FEVER": "fever",
    "ClimateFEVER": "climate-fever",
    "SciFact": "scifact",
    "MSMARCO": "msmarco",
}

DATA_DIR_ENV = "LEAFBENCH_DATA_DIR"
#: The `RetrievalData.subset_spec` key of a local copy whose sizes differ from mteb's copy of the task: what differs.
LOCAL_COPY = "local_copy"
QRELS_HEADER = ("query-id", "corpus-id", "score")
_INT_RE = re.compile(r"[+-]?[0-9]{1,9}")  # a relevance grade; pytrec_eval holds them as C ints
_TRUE_STRINGS = frozenset({"1", "true", "yes", "on"})


class DataError(UserError):
    """A user-facing, one-line problem with benchmark data (file[:line]: what is wrong)."""


class NoDataError(DataError):
    """The task's data is not here: no local copy (offline), or the hub could not be reached. Inside a benchmark
    run such a task is reported as missing; every other DataError (a damaged file) stops the run."""


class IncompleteAggregateError(DataError):
    """An aggregate task's local copy lacks sub-tasks: always an error, also inside a benchmark run."""


# --------------------------------------------------------------------------- data model


@dataclass
class RetrievalData:
    """One split of a retrieval task as plain Python lists, ready to encode and score.

    Invariants: ids are unique, ``qrels`` has exactly the keys of ``query_ids`` and every
    doc id in ``qrels`` is in ``corpus_ids``.
    """

    task_name: str
    split: str
    corpus_ids: list[str] = field(repr=False)
    corpus_texts: list[str] = field(repr=False)
    query_ids: list[str] = field(repr=False)
    query_texts: list[str] = field(repr=False)
    qrels: dict[str, dict[str, int]] = field(repr=False)
    source: str
    ignore_identical_ids: bool = False
    # Set by `subset()`: how this data was cut, so every result computed on it records the subset (a subset
    # score must never pass for a full-data one, whoever calls the evaluator).
    subset_spec: dict[str, Any] | None = None
    # Data warnings of the qrels as read (see WARNING_KINDS), and where empty texts were found (id -> file:line),
    # so data_warnings() can name them; both describe the files, so a subset keeps them.
    qrels_warnings: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    empty_where: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        """Catch mismatched parallel lists early: they would silently mis-score later."""
        if len(self.corpus_ids) != len(self.corpus_texts):
            raise ValueError(
                f"corpus_ids ({len(self.corpus_ids)}) and corpus_texts ({len(self.corpus_texts)}) differ in length"
            )
        if len(self.query_ids) != len(self.query_texts):
            raise ValueError(
                f"query_ids ({len(self.query_ids)}) and query_texts ({len(self.query_texts)}) differ in length"
            )

    def fingerprint(self) -> str:
        """Content hash of exactly what is scored (ids, texts, qrels, split): two results with one fingerprint
        were measured on the same data, whatever folder or name it came from."""
        h = hashlib.blake2b(digest_size=16)
        h.update(json.dumps(self.split, ensure_ascii=False).encode() + b"\0")
        for part in (self.corpus_ids, self.corpus_texts, self.query_ids, self.query_texts):
            # The bytes of json.dumps(part), item by item: a 10M-document corpus is never one giant string.
            h.update(b"[")
            for i, item in enumerate(part):
                h.update((", " if i else "").encode() + json.dumps(item, ensure_ascii=False).encode())
            h.update(b"]\0")
        h.update(json.dumps({q: sorted(d.items()) for q, d in sorted(self.qrels.items())}).encode())
        h.update(str(self.ignore_identical_ids).encode())
        return h.hexdigest()

    def data_warnings(self) -> dict[str, dict[str, Any]]:
        """What is odd about the data evaluated: empty query / document texts (counted over the texts scored, so
        a subset counts its own) and the qrels' warnings. Keys and fields: see :data:`WARNING_KINDS`."""
        warns: dict[str, dict[str, Any]] = {}
        for kind, ids, texts in (
            ("empty_queries", self.query_ids, self.query_texts),
            ("empty_documents", self.corpus_ids, self.corpus_texts),
        ):
            hits = [i for i, t in zip(ids, texts) if not t.strip()]
            if hits:
                where = self.empty_where.get(kind, {}).get(hits[0], self.source)
                warns[kind] = _warning(kind, len(hits), repr(hits[0]), where)
        return {**warns, **self.qrels_warnings}

    @property
    def n_docs(self) -> int:
        """Number of documents in the corpus."""
        return len(self.corpus_ids)

    @property
    def n_queries(self) -> int:
        """Number of queries."""
        return len(self.query_ids)

    @property
    def n_qrels(self) -> int:
        """Number of (query, doc) judgements."""
        return sum(len(d) for d in self.qrels.values())

    def __str__(self) -> str:
        """Short summary for logs (the lists themselves are far too long to print)."""
        return (
            f"{self.task_name}/{self.split}: {self.n_docs} docs, {self.n_queries} queries, "
            f"{self.n_qrels} qrels ({self.source})"
        )

    def subset(self, n_queries: int | None, n_docs: int | None, seed: int = 0) -> RetrievalData:
        """A small but meaningful, deterministic subset for tests and CI.

        Keeps up to ``n_queries`` seeded-random queries, *all* documents judged for them
        (so their qrels stay complete and scores stay meaningful), and fills up with
        seeded-random distractor documents to ``n_docs`` in total. If the judged documents
        alone exceed ``n_docs`` they are all kept anyway. ``None`` means "keep all".
        Queries and documents keep their original relative order.
        """
        for name, value in (("n_queries", n_queries), ("n_docs", n_docs)):
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 or None, got {value}")

        q_indices = list(range(len(self.query_ids)))
        if n_queries is not None and n_queries < len(q_indices):
            q_rng = random.Random(f"leafbench-subset-queries-{seed}")
            q_indices = sorted(q_rng.sample(q_indices, n_queries))
        query_ids = [self.query_ids[i] for i in q_indices]
        query_texts = [self.query_texts[i] for i in q_indices]
        qrels = {qid: dict(self.qrels[qid]) for qid in query_ids}

        doc_pos = {doc_id: i for i, doc_id in enumerate(self.corpus_ids)}
        judged = {doc_pos[d] for rels in qrels.values() for d in rels if d in doc_pos}
        n_total = len(self.corpus_ids)
        if n_docs is None or n_docs >= n_total:
            d_indices = list(range(n_total))
        else:
            n_distractors = max(0, n_docs - len(judged))
            # Sample enough extra positions that, after removing judged ones, at least
            # n_distractors remain; sampling from range() avoids an O(corpus) list.
            d_rng = random.Random(f"leafbench-subset-docs-{seed}")
            draw = d_rng.sample(range(n_total), min(n_total, n_distractors + len(judged)))
            distractors = [i for i in draw if i not in judged][:n_distractors]
            d_indices = sorted(judged.union(distractors))

        kept_docs = {self.corpus_ids[i] for i in d_indices}
        qrels = {qid: {d: s for d, s in rels.items() if d in kept_docs} for qid, rels in qrels.items()}
        return RetrievalData(
            task_name=self.task_name,
            split=self.split,
            corpus_ids=[self.corpus_ids[i] for i in d_indices],
            corpus_texts=[self.corpus_texts[i] for i in d_indices],
            query_ids=query_ids,
            query_texts=query_texts,
            qrels=qrels,
            source=self.source,
            ignore_identical_ids=self.ignore_identical_ids,
            subset_spec=(
                {
                    **{k: v for k, v in (self.subset_spec or {}).items() if k == LOCAL_COPY},  # still not mteb's
                    "max_queries": n_queries,
                    "max_docs": n_docs,
                    **({"seed": seed} if seed else {}),
                }
                if n_queries is not None or n_docs is not None
                else self.subset_spec
            ),
            qrels_warnings=self.qrels_warnings,
            empty_where=self.empty_where,
        )


def doc_text(title: str | None, text: str) -> str:
    """The document string a model reads, built exactly like mteb does.

    Mirrors ``mteb._create_dataloaders._corpus_to_dict``: ``(title + " " + text).strip()``
    when the title is non-empty, else ``text.strip()`` (mteb strips in both branches).
    A missing/``None`` title counts as empty (mteb itself would crash on ``None``).
    """
    if title:
        return (title + " " + text).strip()
    return text.strip()


# --------------------------------------------------------------------------- task names


def _norm(name: str) -> str:
    """Case- and punctuation-insensitive key: 'Trec-Covid', 'trec_covid', 'TRECCOVID' agree."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


_ALIASES: dict[str, str] = {}
for _mteb_name, _folder in TASKS.items():
    _ALIASES[_norm(_mteb_name)] = _mteb_name
    _ALIASES[_norm(_folder)] = _mteb_name


def resolve_task_name(name: str) -> str:
    """The mteb spelling of a BEIR task given its mteb name, BEIR folder name, any case.

    Raises DataError listing the known names, closest matches first.
    """
    key = _norm(name)
    if key in _ALIASES:
        return _ALIASES[key]
    close = difflib.get_close_matches(key, list(_ALIASES), n=len(_ALIASES), cutoff=0.4)
    ordered: list[str] = []
    for alias in close:
        if _ALIASES[alias] not in ordered:
            ordered.append(_ALIASES[alias])
    ordered += [t for t in TASKS if t not in ordered]
    raise DataError(f"unknown task {name!r}; known tasks (closest first): {', '.join(ordered)}")


#: Aggregate tasks whose sub-tasks BEIR ships as sub-folders of one folder: mteb sub-task
#: ``CQADupstack<Forum>Retrieval`` lives in ``cqadupstack/<forum>/``.
AGGREGATE_FOLDERS: dict[str, tuple[str, str, str]] = {
    # aggregate name: (folder, sub-task name prefix, sub-task name suffix)
    "CQADupstackRetrieval": ("cqadupstack", "CQADupstack", "Retrieval"),
}


def subtask_folder(task_name: str) -> str | None:
    """``cqadupstack/android`` for ``CQADupstackAndroidRetrieval``; None for other names."""
    for folder, prefix, suffix in AGGREGATE_FOLDERS.values():
        if task_name.startswith(prefix) and task_name.endswith(suffix) and len(task_name) > len(prefix + suffix):
            return f"{folder}/{task_name[len(prefix) : -len(suffix)].lower()}"
    return None


def _folder_name(task_name: str) -> str:
    """BEIR folder (relative path) for a task; unknown names are used as given (custom folders, and any
    other mteb retrieval task: ``<data_dir>/<TaskName>/``)."""
    try:
        return TASKS[resolve_task_name(task_name)]
    except DataError:
        return subtask_folder(task_name) or task_name


def _folder_candidates(folder: str, data_dir: Path) -> list[Path]:
    """Where a task folder may sit: under ``data_dir``, under ``data_dir/beir``, or ``data_dir`` itself."""
    parts = Path(folder).parts
    found = [data_dir / folder, data_dir / "beir" / folder]
    for k in range(len(parts), 0, -1):  # data_dir is the folder itself, or a parent inside it (cqadupstack/)
        if data_dir.parts[-k:] == parts[:k]:
            found.append(data_dir.joinpath(*parts[k:]))
    return found


def find_local_folder(task_name: str, data_dir: Path, subsets: list[str] | None = None) -> Path | None:
    """The local BEIR folder for a task under ``data_dir``, or None.

    ``data_dir`` may be the beir folder itself (``data_dir/scifact/corpus.jsonl``), its
    parent (``data_dir/beir/scifact``), or the task folder itself. A multi-subset task
    (``subsets`` given) is a folder of one BEIR folder per subset (``<task>/<subset>/corpus.jsonl``);
    it is found when at least one subset folder is there (missing ones are named by the loader).
    """
    data_dir = Path(data_dir).expanduser()
    for candidate in _folder_candidates(_folder_name(task_name), data_dir):
        if subsets and subsets != ["default"]:
            if any((candidate / s / "corpus.jsonl").is_file() for s in subsets):
                return candidate
        elif (candidate / "corpus.jsonl").is_file():
            return candidate
    return None


def aggregate_subtasks(task_name: str) -> list[str] | None:
    """Sub-task names of an mteb aggregate task (CQADupstackRetrieval: its 12 forums), else None."""
    try:
        task = _mteb_task(task_name)
    except Exception:  # noqa: BLE001 - unknown to mteb: not an aggregate
        return None
    if not getattr(task, "is_aggregate", False):
        return None
    return [t.metadata.name for t in task.metadata.tasks]


def aggregate_local_folders(task_name: str, data_dir: Path | None, subtasks: list[str]) -> dict[str, Path | None]:
    """Sub-task → local BEIR folder (None where absent) under ``data_dir``.

    An aggregate is local when its parent folder (``cqadupstack/``) is there; then every sub-task's folder
    must be too: a missing forum raises DataError naming it (an aggregate is never averaged over fewer
    sub-tasks). Without a parent folder every value is None (online loading, or "missing" offline).
    """
    if data_dir is None:
        return dict.fromkeys(subtasks)
    data_dir = Path(data_dir).expanduser()
    found = {s: find_local_folder(s, data_dir) for s in subtasks}
    parent_name = AGGREGATE_FOLDERS.get(task_name, (None,))[0]
    parents = [p for p in _folder_candidates(parent_name, data_dir) if p.is_dir()] if parent_name else []
    if any(found.values()) or parents:
        missing = [s for s, f in found.items() if f is None]
        if missing:
            where = parents[0] if parents else data_dir
            names = [(subtask_folder(s) or s).rsplit("/", 1)[-1] for s in missing]
            raise IncompleteAggregateError(
                f"{where}: {task_name} is incomplete: {len(missing)} of {len(subtasks)} sub-task folders missing "
                f"({', '.join(names)}; each needs corpus.jsonl, queries.jsonl, qrels/); its score is the mean "
                f"of all {len(subtasks)}, so it is not computed from fewer"
            )
    return found


# --------------------------------------------------------------------------- file readers


def _listing(folder: Path) -> str:
    """What a folder holds, for 'missing file' messages."""
    try:
        names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
    except OSError:
        return "folder is missing or unreadable"
    return "folder contains: " + (", ".join(names) if names else "nothing")


def _require_file(folder: Path, relpath: str) -> None:
    """Fail with the folder listing, since the usual cause is a wrong --data-dir."""
    if not (folder / relpath).is_file():
        raise DataError(f"{folder}: missing {relpath} ({_listing(folder)})")


def _short(value: object, limit: int = 60) -> str:
    """repr() of a value, clipped so error messages stay one readable line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _decode_line(raw: bytes, path: Path, lineno: int) -> str:
    """One line as text: UTF-8 only (a BOM is allowed on line 1, as Python's json accepts it there)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}:{lineno}: not valid UTF-8 ({e.reason} at byte {e.start})") from None
    return text[1:] if lineno == 1 and text.startswith("\ufeff") else text


def _iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) per non-blank line; bad bytes or bad JSON raise DataError with file:line."""
    loads = json.loads
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            line = _decode_line(raw, path, lineno)
            try:
                obj = loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{lineno}: invalid JSON ({e.msg} at column {e.colno})") from None
            except RecursionError:
                raise DataError(f"{path}:{lineno}: invalid JSON (nested too deeply)") from None
            if type(obj) is not dict:
                raise DataError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
            yield lineno, obj


_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_unicode(value: str, key: str, path: Path, lineno: int) -> str:
    """JSON may spell an unpaired surrogate (``"\\ud800"``); such a string is not text any tokenizer or hash
    can take, so it is refused here, naming the line, instead of failing later without one."""
    if _SURROGATE.search(value):
        raise DataError(
            f"{path}:{lineno}: field '{key}' holds an unpaired surrogate (\\ud800-\\udfff escape): not valid Unicode"
        )
    return value


def _get_id(obj: Mapping[str, Any], path: Path, lineno: int) -> str:
    """The row's ``_id`` as a string (ints are accepted, like mteb's cast to string)."""
    if "_id" not in obj:
        raise DataError(f"{path}:{lineno}: missing field '_id'")
    value = obj["_id"]
    if type(value) is int:
        value = str(value)
    elif type(value) is not str:
        raise DataError(f"{path}:{lineno}: field '_id' must be a string, got {type(value).__name__}")
    if not value:
        raise DataError(f"{path}:{lineno}: field '_id' is empty")
    return _check_unicode(value, "_id", path, lineno)


def _get_str(obj: Mapping[str, Any], key: str, path: Path, lineno: int, optional: bool) -> str:
    """A string field; optional fields may be missing or null (read as '')."""
    value = obj.get(key)
    if value is None:
        if optional:
            return ""
        what = "missing field" if key not in obj else "null field"
        raise DataError(f"{path}:{lineno}: {what} '{key}'")
    if type(value) is not str:
        raise DataError(f"{path}:{lineno}: field '{key}' must be a string, got {type(value).__name__}")
    return _check_unicode(value, key, path, lineno)


def _read_corpus(path: Path, empty: dict[str, int] | None = None) -> tuple[list[str], list[str]]:
    """Corpus ids and mteb-style document texts, validated; ids of empty documents -> line go to `empty`."""
    ids: list[str] = []
    texts: list[str] = []
    first_line: dict[str, int] = {}
    for lineno, obj in _iter_jsonl(path):
        doc_id = _get_id(obj, path, lineno)
        if doc_id in first_line:
            raise DataError(f"{path}:{lineno}: duplicate _id {doc_id!r} (first seen at line {first_line[doc_id]})")
        first_line[doc_id] = lineno
        text = _get_str(obj, "text", path, lineno, optional=False)
        title = _get_str(obj, "title", path, lineno, optional=True)
        ids.append(doc_id)
        texts.append(doc_text(title, text))
        if empty is not None and not texts[-1]:
            empty[doc_id] = lineno
    if not ids:
        raise DataError(f"{path}: empty corpus (no documents)")
    return ids, texts


def read_queries(path: Path, empty: dict[str, int] | None = None) -> dict[str, str]:
    """All queries of the file (every split), id -> text, in file order; empty ones (id -> line) go to `empty`."""
    queries: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for lineno, obj in _iter_jsonl(path):
        qid = _get_id(obj, path, lineno)
        if qid in first_line:
            raise DataError(f"{path}:{lineno}: duplicate _id {qid!r} (first seen at line {first_line[qid]})")
        first_line[qid] = lineno
        queries[qid] = _get_str(obj, "text", path, lineno, optional=False)
        if empty is not None and not queries[qid].strip():
            empty[qid] = lineno
    return queries


# A qrels row: query id, corpus id, score, and where it came from (line number or None).
_QrelRow = tuple[str, str, int, int | None]


def read_qrels(path: Path) -> list[_QrelRow]:
    """Rows of a BEIR qrels TSV (header required, as BEIR always skips line 1)."""
    rows: list[_QrelRow] = []
    header_seen = False
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, 1):
            line = _decode_line(raw, path, lineno).rstrip("\r\n")
            if not line.strip():
                continue
            cols = line.split("\t")
            if len(cols) != 3:
                hint = (
                    " (TREC format 'qid 0 docid score'? BEIR needs 'query-id<TAB>corpus-id<TAB>score')"
                    if len(cols) == 1 and len(line.split()) == 4
                    else ""
                )
                raise DataError(
                    f"{path}:{lineno}: expected 3 tab-separated columns, got {len(cols)}: {_short(line)}{hint}"
                )
            # ids are used verbatim (as BEIR and mteb do); only the score is trimmed
            qid, doc_id, score = cols[0], cols[1], cols[2].strip()
            if not header_seen:
                header_seen = True
                if _INT_RE.fullmatch(score):
                    raise DataError(
                        f"{path}:{lineno}: missing header line "
                        f"'query-id<TAB>corpus-id<TAB>score' (BEIR skips the first "
                        f"line, which here is data: {_short(line)})"
                    )
                continue
            if not _INT_RE.fullmatch(score):
                raise DataError(f"{path}:{lineno}: score {_short(score)} is not an integer")
            if not qid or not doc_id:
                raise DataError(f"{path}:{lineno}: empty query-id or corpus-id")
            rows.append((qid, doc_id, int(score), lineno))
    return rows


# --------------------------------------------------------------------------- assembly


# The old private names, kept for callers that still use them.
_read_queries = read_queries
_read_qrels = read_qrels


def _at(lineno: int | None) -> str:
    """' at line N' for file-backed rows; nothing for rows from an in-memory dataset."""
    return f" at line {lineno}" if lineno is not None else ""


#: Data warnings a loader records (key -> what it counts, and what was done about it). They are data: counted
#: per task, printed once, written into every result's leafbench block (``data_warnings``); ``strict`` (the
#: CLI's ``--strict``) turns them into a DataError.
WARNING_KINDS: dict[str, tuple[str, str]] = {
    "empty_queries": ("queries with an empty text", "encoded and scored as they are, as mteb does"),
    "empty_documents": ("documents with an empty text", "encoded and scored as they are, as mteb does"),
    "qrels_unknown_documents": (
        "qrels rows naming unknown document ids",
        "kept as misses no model can retrieve, as mteb does",
    ),
    "qrels_unknown_queries": ("qrels rows naming unknown query ids", "dropped"),
    "qrels_conflicting_duplicates": (
        "conflicting duplicate qrels rows",
        "the last row's score kept, as mteb and BEIR do",
    ),
}


def _warning(kind: str, count: int, example: str, where: str) -> dict[str, Any]:
    what, action = WARNING_KINDS[kind]
    return {"count": count, "what": what, "example": example, "where": where, "action": action}


def describe_warnings(warns: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """One line per data warning: ``3 qrels rows naming unknown document ids (e.g. 'd9' at ...:4): kept ...``."""
    return [f"{w['count']} {w['what']} (e.g. {w['example']} at {w['where']}): {w['action']}" for w in warns.values()]


def _where(origin: str, lineno: int | None) -> str:
    """``file:line`` for file-backed rows, the origin alone for rows from an in-memory dataset."""
    return f"{origin}:{lineno}" if lineno is not None else origin


def _build_qrels(
    rows: Iterable[_QrelRow],
    corpus_ids: Container[str],
    query_ids: Container[str],
    origin: str,
) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, Any]]]:
    """(qid -> {docid: score} from rows whose query exists, data warnings).

    Rows pointing at unknown docs are kept, as mteb keeps them (they count as misses no
    model can retrieve), so scores stay comparable with mteb's; rows with unknown query ids
    are dropped (BEIR's GenericDataLoader crashes on them). Both are returned as data warnings
    (see :data:`WARNING_KINDS`), and are always a DataError when nothing usable is left.
    Duplicate (query, doc) rows: last one wins, as in mteb and BEIR; conflicting scores are
    a warning too.
    """
    known_docs, known_queries = corpus_ids, query_ids
    qrels: dict[str, dict[str, int]] = {}
    seen_at: dict[tuple[str, str], tuple[int, int | None]] = {}
    n_rows = 0
    unknown_docs: list[tuple[str, int | None]] = []
    unknown_queries: list[tuple[str, int | None]] = []
    conflicts: list[tuple[str, int | None]] = []
    for qid, doc_id, score, lineno in rows:
        n_rows += 1
        if qid not in known_queries:
            unknown_queries.append((qid, lineno))
            continue
        if doc_id not in known_docs:
            # Kept, as mteb keeps them: a judged-but-missing document is a miss no model can retrieve.
            unknown_docs.append((doc_id, lineno))
        prev = seen_at.get((qid, doc_id))
        if prev is not None and prev[0] != score:
            where = f" (lines {prev[1]} and {lineno})" if lineno is not None else ""
            conflicts.append((f"query {qid!r} / doc {doc_id!r} has scores {prev[0]} and {score}{where}", lineno))
        seen_at[(qid, doc_id)] = (score, lineno)
        qrels.setdefault(qid, {})[doc_id] = score  # last row wins, as in mteb and BEIR

    if n_rows == 0:
        raise DataError(f"{origin}: no qrels rows, so no queries left for this split")
    if not qrels or len(unknown_docs) == n_rows - len(unknown_queries):
        parts = [
            f"{len(ids)} point at unknown {kind} ids (e.g. {ids[0][0]!r}{_at(ids[0][1])})"
            for ids, kind in ((unknown_queries, "query"), (unknown_docs, "corpus"))
            if ids
        ]
        raise DataError(f"{origin}: no queries left: none of the {n_rows} qrels rows is usable ({'; '.join(parts)})")

    warns: dict[str, dict[str, Any]] = {}
    for ids, kind in ((unknown_docs, "qrels_unknown_documents"), (unknown_queries, "qrels_unknown_queries")):
        if ids:
            warns[kind] = _warning(kind, len(ids), repr(ids[0][0]), _where(origin, ids[0][1]))
    if conflicts:
        warns["qrels_conflicting_duplicates"] = _warning(
            "qrels_conflicting_duplicates", len(conflicts), conflicts[0][0], _where(origin, conflicts[0][1])
        )
    return qrels, warns


def _strict_check(warns: Mapping[str, Mapping[str, Any]], strict: bool) -> None:
    """With `strict`, the first data warning is a DataError (the CLI's --strict)."""
    if strict and warns:
        first = next(iter(warns.values()))
        raise DataError(
            f"{first['where']}: {first['count']} {first['what']} (e.g. {first['example']}); "
            "strict mode (--strict) makes data warnings errors"
        )


def _keep_judged_queries(
    queries: Iterable[tuple[str, str]], qrels: Mapping[str, Mapping[str, int]]
) -> tuple[list[str], list[str]]:
    """Queries (in order) that have at least one qrel, as mteb keeps them.

    Mirrors ``mteb.abstasks.retrieval._filter_queries_without_positives``, which - despite
    its name - only drops queries whose qrels dict is *empty*; a query judged only with
    score 0 is kept (and scores 0). This also drops queries of other splits.
    """
    ids: list[str] = []
    texts: list[str] = []
    for qid, text in queries:
        if qrels.get(qid):
            ids.append(qid)
            texts.append(text)
    return ids, texts


# --------------------------------------------------------------------------- loaders


def load_beir_folder(
    folder: Path,
    split: str = "test",
    task_name: str | None = None,
    ignore_identical_ids: bool = False,
    strict: bool = False,
) -> RetrievalData:
    """Load one split of a local BEIR folder, validating every file.

    ``task_name`` defaults to the mteb spelling of the folder name (or the folder name).
    Data warnings (empty texts, qrels naming unknown ids, conflicting duplicate qrels) are
    recorded on the result (:meth:`RetrievalData.data_warnings`); ``strict=True`` makes the
    first of them a DataError naming file:line.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder ({_listing(folder.parent)})")
    corpus_path = folder / "corpus.jsonl"
    queries_path = folder / "queries.jsonl"
    qrels_path = folder / "qrels" / f"{split}.tsv"
    _require_file(folder, "corpus.jsonl")
    _require_file(folder, "queries.jsonl")
    if not qrels_path.is_file():
        if (folder / "qrels").is_dir():
            splits = sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))
            raise DataError(
                f"{qrels_path}: missing qrels for split {split!r} (available splits: {', '.join(splits) or 'none'})"
            )
        _require_file(folder, f"qrels/{split}.tsv")

    if task_name is None:
        try:
            task_name = resolve_task_name(folder.name)
        except DataError:
            task_name = folder.name

    empty_docs: dict[str, int] = {}
    empty_queries: dict[str, int] = {}
    corpus_ids, corpus_texts = _read_corpus(corpus_path, empty_docs)
    all_queries = read_queries(queries_path, empty_queries)
    rows = read_qrels(qrels_path)
    qrels, qrels_warnings = _build_qrels(rows, set(corpus_ids), all_queries, str(qrels_path))
    query_ids, query_texts = _keep_judged_queries(all_queries.items(), qrels)
    if not query_ids:  # unreachable unless qrels were all filtered; kept as a guard
        raise DataError(f"{queries_path}: no queries left for split {split!r}")
    data = RetrievalData(
        task_name=task_name,
        split=split,
        corpus_ids=corpus_ids,
        corpus_texts=corpus_texts,
        query_ids=query_ids,
        query_texts=query_texts,
        qrels={qid: qrels[qid] for qid in query_ids},
        source=os.path.abspath(folder),
        ignore_identical_ids=ignore_identical_ids,
        qrels_warnings=qrels_warnings,
        empty_where={
            "empty_queries": {q: f"{queries_path}:{n}" for q, n in empty_queries.items()},
            "empty_documents": {d: f"{corpus_path}:{n}" for d, n in empty_docs.items()},
        },
    )
    _strict_check(data.data_warnings(), strict)
    return data


def _column(ds: Any, name: str) -> list[Any] | None:
    """A column of a datasets.Dataset (or dict of lists) as a list; None if absent."""
    names = getattr(ds, "column_names", None)
    if names is None:
        names = list(ds.keys()) if isinstance(ds, Mapping) else []
    if name not in names:
        return None
    return list(ds[name])


def retrieval_data_from_mteb_split(
    task_name: str,
    split: str,
    split_data: Mapping[str, Any],
    source: str,
    ignore_identical_ids: bool,
    strict: bool = False,
) -> RetrievalData:
    """Convert mteb's v2 split data (``task.dataset[subset][split]``) to RetrievalData.

    ``split_data`` is mteb's ``RetrievalSplitData``: ``corpus`` (Dataset: id, text,
    optional title), ``queries`` (Dataset: id, text, optional instruction),
    ``relevant_docs`` (qid -> {docid: score}) and ``top_ranked`` (None for retrieval).
    Texts are built the way mteb feeds them to models.
    """
    origin = f"{source} [{split}]"
    for key in ("corpus", "queries", "relevant_docs"):
        if key not in split_data:
            raise DataError(f"{origin}: mteb split data has no {key!r} (keys: {sorted(split_data)})")
    if split_data.get("top_ranked"):
        raise DataError(f"{origin}: reranking tasks (with top_ranked) are not supported")

    corpus, queries = split_data["corpus"], split_data["queries"]
    c_ids = _column(corpus, "id")
    c_texts = _column(corpus, "text")
    if c_ids is None or c_texts is None:
        raise DataError(f"{origin}: corpus needs columns 'id' and 'text' (has {getattr(corpus, 'column_names', '?')})")
    c_titles = _column(corpus, "title") or [None] * len(c_ids)
    q_ids = _column(queries, "id")
    q_texts = _column(queries, "text")
    if q_ids is None or q_texts is None:
        raise DataError(f"{origin}: queries need columns 'id' and 'text' (has {getattr(queries, 'column_names', '?')})")
    q_instr = _column(queries, "instruction")

    corpus_ids: list[str] = []
    corpus_texts: list[str] = []
    empty_docs: dict[str, str] = {}
    empty_queries: dict[str, str] = {}
    seen: set[str] = set()
    for i, (doc_id, title, text) in enumerate(zip(c_ids, c_titles, c_texts)):
        doc_id = str(doc_id)
        if doc_id in seen:
            raise DataError(f"{origin}: duplicate corpus id {doc_id!r} (row {i})")
        if not isinstance(text, str):
            raise DataError(
                f"{origin}: corpus row {i} has non-text 'text' ({type(text).__name__}); only text tasks are supported"
            )
        seen.add(doc_id)
        corpus_ids.append(doc_id)
        corpus_texts.append(doc_text(title, text))
        if not corpus_texts[-1]:
            empty_docs[doc_id] = f"{origin} corpus row {i}"
    if not corpus_ids:
        raise DataError(f"{origin}: empty corpus (no documents)")

    query_pairs: dict[str, str] = {}
    for i, (qid, text) in enumerate(zip(q_ids, q_texts)):
        qid = str(qid)
        if qid in query_pairs:
            raise DataError(f"{origin}: duplicate query id {qid!r} (row {i})")
        if not isinstance(text, str):
            raise DataError(
                f"{origin}: query row {i} is not plain text ({type(text).__name__}); conversations are not supported"
            )
        instruction = q_instr[i] if q_instr is not None else None
        # mteb._create_dataloaders._combine_queries_with_instruction_text
        query_pairs[qid] = text + " " + instruction if instruction is not None else text
        if not query_pairs[qid].strip():
            empty_queries[qid] = f"{origin} queries row {i}"

    rows = (
        (str(qid), str(doc_id), int(score), None)
        for qid, docs in split_data["relevant_docs"].items()
        for doc_id, score in docs.items()
    )
    qrels, qrels_warnings = _build_qrels(rows, seen, query_pairs, origin)
    query_ids, query_texts = _keep_judged_queries(query_pairs.items(), qrels)
    data = RetrievalData(
        task_name=task_name,
        split=split,
        corpus_ids=corpus_ids,
        corpus_texts=corpus_texts,
        query_ids=query_ids,
        query_texts=query_texts,
        qrels={qid: qrels[qid] for qid in query_ids},
        source=source,
        ignore_identical_ids=ignore_identical_ids,
        qrels_warnings=qrels_warnings,
        empty_where={"empty_queries": empty_queries, "empty_documents": empty_docs},
    )
    _strict_check(data.data_warnings(), strict)
    return data


def _env_offline() -> bool:
    """HF_HUB_OFFLINE as huggingface_hub reads it ('1', 'true', 'yes', 'on')."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE_STRINGS


def _mteb_task(task_name: str) -> Any:
    """mteb's task object (lazy import: mteb takes seconds to import)."""
    import mteb

    return mteb.get_task(task_name)


def _data_dir(data_dir: Path | None) -> Path | None:
    """``data_dir``, else ``$LEAFBENCH_DATA_DIR``, else None; a given one that is not a folder is a DataError."""
    if data_dir is None and os.environ.get(DATA_DIR_ENV):
        data_dir = Path(os.environ[DATA_DIR_ENV])
    if data_dir is None:
        return None
    data_dir = Path(data_dir).expanduser()
    if not data_dir.is_dir():
        raise DataError(f"{data_dir}: data dir does not exist")
    return data_dir


def _task_subsets(task: Any) -> list[str]:
    """The hf subsets mteb evaluates for a task (["default"] for single-subset tasks)."""
    return list(getattr(task, "hf_subsets", None) or ["default"])


def mteb_sizes(task: Any, split: str, subset: str = "default") -> dict[str, int]:
    """The sizes of one split (and hf subset) of mteb's copy of a task, from the descriptive statistics mteb ships
    with its task metadata (read offline): documents, queries and judgements with a non-zero score (mteb's
    ``num_relevant_docs``); ``documents + queries`` where a stats file has only that total. Empty when mteb has
    no statistics for it: nothing to compare."""
    try:
        stats = (task.metadata.descriptive_stats or {}).get(split) or {}
    except (AttributeError, OSError, ValueError):  # a task object without mteb's metadata, an unreadable stats file
        return {}
    if subset != "default":
        stats = (stats.get("hf_subset_descriptive_stats") or {}).get(subset) or {}
    counts = {
        "queries": stats.get("num_queries"),
        "documents": stats.get("num_documents"),
        "qrels": (stats.get("relevant_docs_statistics") or {}).get("num_relevant_docs"),
    }
    if counts["queries"] is None or counts["documents"] is None:
        counts["documents + queries"] = stats.get("num_samples")
    return {k: v for k, v in counts.items() if type(v) is int}


def _sizes(data: RetrievalData) -> dict[str, int]:
    """`data`'s sizes as :func:`mteb_sizes` names them."""
    return {
        "queries": data.n_queries,
        "documents": data.n_docs,
        "qrels": sum(1 for docs in data.qrels.values() for score in docs.values() if score != 0),
        "documents + queries": data.n_docs + data.n_queries,
    }


def mark_local_copies(parts: Mapping[str, RetrievalData], task: Any = None) -> dict[str, str]:
    """Mark each local part whose sizes differ from mteb's copy of the task (a cut-down ``scifact/`` with 10 of its
    300 queries): its ``subset_spec`` gets :data:`LOCAL_COPY`, so every result computed on it records a subset
    (never the task's full result) and the data's own fingerprint as dataset revision, never mteb's. `task`: mteb's
    task object (default: looked up by name; a task mteb does not know has no official sizes). Returns
    {subset: what differs} for the parts marked."""
    if task is None:
        try:
            task = _mteb_task(next(iter(parts.values())).task_name)
        except Exception:  # noqa: BLE001 - a task mteb does not know (a user's folder): nothing to compare
            return {}
    marked: dict[str, str] = {}
    for subset, data in parts.items():
        if data.source.startswith("hf:"):  # mteb's own data, loaded by mteb
            continue
        official = mteb_sizes(task, data.split, subset)
        ours = _sizes(data)
        differ = [f"{k}: {ours[k]} (mteb: {v})" for k, v in official.items() if ours[k] != v]
        if differ:
            marked[subset] = ", ".join(differ)
            data.subset_spec = {**(data.subset_spec or {}), LOCAL_COPY: marked[subset]}
    return marked


def is_local_copy(parts: Mapping[str, RetrievalData]) -> bool:
    """Whether any part is a local copy whose sizes are not mteb's (see :func:`mark_local_copies`)."""
    return any(LOCAL_COPY in (d.subset_spec or {}) for d in parts.values())


def load_retrieval_parts(
    name: str,
    data_dir: Path | None = None,
    split: str | None = None,
    offline: bool | None = None,
    strict: bool = False,
) -> dict[str, RetrievalData]:
    """One retrieval task's data per hf subset (``{"default": data}`` for single-subset tasks): a local
    folder if there is one, else (online) through mteb.

    Any mteb retrieval task works; BEIR's are found under their BEIR folder names (``scifact/``,
    ``cqadupstack/android/`` for CQADupstackAndroidRetrieval), others under ``<TaskName>/``. A multi-subset
    task's local copy is one BEIR folder per subset (``LoTTE/writing_search/corpus.jsonl`` ...).
    ``data_dir`` defaults to ``$LEAFBENCH_DATA_DIR``; ``split`` to the task's first mteb eval split
    ("dev" for MSMARCO); ``offline`` to ``$HF_HUB_OFFLINE``. Aggregate tasks (CQADupstackRetrieval) are
    a list of tasks, each loaded by this function: see :func:`aggregate_subtasks`. A local copy whose sizes
    differ from mteb's is marked as such (:func:`mark_local_copies`).
    """
    try:
        task_name = resolve_task_name(name)
    except DataError:
        task_name = name
    data_dir = _data_dir(data_dir)
    if offline is None:
        offline = _env_offline()
    folder_name = _folder_name(task_name)
    # BEIR's own tasks are single-subset: decide offline without importing mteb's task registry.
    if task_name in TASKS and offline and (data_dir is None or find_local_folder(task_name, data_dir) is None):
        raise NoDataError(
            f"no local copy of {task_name} under {data_dir or '(no --data-dir given)'}; "
            f"pass --data-dir pointing at a folder with {folder_name}/corpus.jsonl "
            f"(BEIR layout), or run with network access"
        )
    task = _mteb_task(task_name)
    if getattr(task, "is_aggregate", False):
        subs = [t.metadata.name for t in task.metadata.tasks]
        raise DataError(
            f"{task_name} is an aggregate of {len(subs)} tasks ({', '.join(subs[:3])}, ...): evaluate each and "
            "combine them (leafbench run does this)"
        )
    subsets = _task_subsets(task)
    split = split or task.metadata.eval_splits[0]
    ignore_identical_ids = bool(getattr(task, "ignore_identical_ids", False))
    folder = find_local_folder(task_name, data_dir, subsets) if data_dir is not None else None
    if folder is None and offline:
        layout = f"{folder_name}/corpus.jsonl" if subsets == ["default"] else f"{folder_name}/<subset>/corpus.jsonl"
        raise NoDataError(
            f"no local copy of {task_name} under {data_dir or '(no --data-dir given)'}; "
            f"pass --data-dir pointing at a folder with {layout} (BEIR layout), or run with network access"
        )
    if folder is not None:
        if subsets == ["default"]:
            local = {"default": load_beir_folder(folder, split, task_name, ignore_identical_ids, strict)}
        else:
            missing = [s for s in subsets if not (folder / s).is_dir()]
            if missing:
                raise DataError(
                    f"{folder}: missing subset folders {', '.join(missing)} of {task_name} (its score is the mean "
                    f"over all {len(subsets)} subsets: {', '.join(subsets)})"
                )
            local = {s: load_beir_folder(folder / s, split, task_name, ignore_identical_ids, strict) for s in subsets}
        mark_local_copies(local, task)  # a cut-down copy is never recorded as mteb's data
        return local

    meta = task.metadata.dataset
    source = f"hf:{meta['path']}@{meta['revision']}"
    try:
        task.load_data()
    except Exception as e:  # network, auth, hub errors: one clear line for the user
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise NoDataError(
            f"could not load {task_name} from {source} ({type(e).__name__}: {first}); "
            f"pass --data-dir with a local BEIR copy instead"
        ) from e
    dataset = task.dataset
    missing = [s for s in subsets if s not in dataset]
    if missing:
        raise DataError(f"{source}: no subset {', '.join(missing)} (available: {', '.join(sorted(dataset))})")
    parts = {}
    for s in subsets:
        if split not in dataset[s]:
            raise DataError(f"{source}: no split {split!r} (available: {', '.join(sorted(dataset[s]))})")
        origin = source if s == "default" else f"{source} [{s}]"
        parts[s] = retrieval_data_from_mteb_split(
            task_name, split, dataset[s][split], origin, ignore_identical_ids, strict
        )
    return parts


def load_retrieval_task(
    name: str,
    data_dir: Path | None = None,
    split: str | None = None,
    offline: bool | None = None,
    strict: bool = False,
) -> RetrievalData:
    """Load a single-subset retrieval task (see :func:`load_retrieval_parts`, which also serves multi-subset
    tasks); a multi-subset task raises DataError naming its subsets."""
    parts = load_retrieval_parts(name, data_dir, split, offline, strict)
    if list(parts) != ["default"]:
        raise DataError(
            f"{name}: a multi-subset task ({len(parts)} subsets: {', '.join(list(parts)[:4])}"
            f"{', ...' if len(parts) > 4 else ''}); load it with load_retrieval_parts"
        )
    return parts["default"]


def load_aggregate_parts(
    task_name: str,
    subtasks: list[str],
    data_dir: Path | None = None,
    split: str | None = None,
    offline: bool | None = None,
    strict: bool = False,
) -> dict[str, dict[str, RetrievalData]]:
    """Every sub-task of an aggregate task (sub-task → its parts, see :func:`load_retrieval_parts`).

    Local copies are BEIR's layout (``cqadupstack/<forum>/``); all sub-tasks must load, or DataError names
    what is missing: an aggregate is never scored over fewer sub-tasks.
    """
    data_dir = _data_dir(data_dir)
    folders = aggregate_local_folders(task_name, data_dir, subtasks)
    if offline is None:
        offline = _env_offline()
    if offline and not any(folders.values()):
        parent = AGGREGATE_FOLDERS.get(task_name, (task_name,))[0]
        raise NoDataError(
            f"no local copy of {task_name} under {data_dir or '(no --data-dir given)'}; pass --data-dir pointing "
            f"at a folder with {parent}/<sub-task>/corpus.jsonl (BEIR layout, all {len(subtasks)} sub-tasks), "
            "or run with network access"
        )
    return {s: load_retrieval_parts(s, data_dir, split, offline, strict) for s in subtasks}


def task_data_warnings(parts: Mapping[str, RetrievalData]) -> dict[str, dict[str, Any]]:
    """A task's data warnings: its single part's, or per subset (``<subset>/<kind>``) for multi-subset tasks."""
    if list(parts) == ["default"]:
        return parts["default"].data_warnings()
    return {f"{s}/{k}": w for s, d in parts.items() for k, w in d.data_warnings().items()}
