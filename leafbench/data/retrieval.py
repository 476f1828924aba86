"""The retrieval data model: one split of a retrieval task as plain lists, and its seeded subsets."""

from __future__ import annotations

import random
from collections.abc import Container, Sequence
from dataclasses import dataclass, field
from typing import Any

from .corpus_file import StreamedIds, StreamedTexts, take_items
from .data_warnings import warning
from .errors import DataError
from .fingerprint import retrieval_fingerprint

__all__ = ["LOCAL_COPY", "RetrievalData", "doc_text"]

#: The `RetrievalData.subset_spec` key of a local copy whose sizes differ from mteb's copy of the task: what differs.
LOCAL_COPY = "local_copy"


@dataclass
class RetrievalData:
    """One split of a retrieval task as plain Python lists, ready to encode and score.

    Invariants: ids are unique, ``qrels`` has exactly the keys of ``query_ids`` and every
    doc id in ``qrels`` is in ``corpus_ids``.
    """

    task_name: str
    split: str
    # Lists, or for a big corpus file a `StreamedIds` / `StreamedTexts` pair (see corpus_file): same items.
    corpus_ids: Sequence[str] = field(repr=False)
    corpus_texts: Sequence[str] = field(repr=False)
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
        cached = self.__dict__.get("_fingerprint")  # once: a streamed corpus is read again to hash it (not a
        if cached is None:  # dataclass field, so asdict() and copies of the data never carry it)
            texts = (self.corpus_ids, self.corpus_texts, self.query_ids, self.query_texts)
            cached = self.__dict__["_fingerprint"] = retrieval_fingerprint(
                self.split, texts, self.qrels, self.ignore_identical_ids
            )
        return cached

    @property
    def streamed(self) -> bool:
        """Whether the corpus is read from its file per pass (a big corpus) rather than held as lists."""
        return isinstance(self.corpus_texts, StreamedTexts)

    def data_warnings(self) -> dict[str, dict[str, Any]]:
        """What is odd about the data evaluated: empty query / document texts (counted over the texts scored, so
        a subset counts its own) and the qrels' warnings. Keys and fields: see :data:`WARNING_KINDS`."""
        warns: dict[str, dict[str, Any]] = {}
        for kind, ids, texts in (
            ("empty_queries", self.query_ids, self.query_texts),
            ("empty_documents", self.corpus_ids, self.corpus_texts),
        ):
            if isinstance(texts, StreamedTexts):  # found by the validating pass (texts are stripped there)
                hits = list(self.empty_where.get(kind, {}))
            else:
                hits = [i for i, t in zip(ids, texts) if not t.strip()]
            if hits:
                where = self.empty_where.get(kind, {}).get(hits[0], self.source)
                warns[kind] = warning(kind, len(hits), repr(hits[0]), where)
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
        Queries and documents keep their original relative order. A size below 1 is a DataError.
        """
        for name, value in (("n_queries", n_queries), ("n_docs", n_docs)):
            if value is not None and value < 1:
                raise DataError(f"{name} must be >= 1 or None, got {value}")

        q_indices = list(range(len(self.query_ids)))
        if n_queries is not None and n_queries < len(q_indices):
            q_rng = random.Random(f"leafbench-subset-queries-{seed}")
            q_indices = sorted(q_rng.sample(q_indices, n_queries))
        query_ids = [self.query_ids[i] for i in q_indices]
        qrels = {qid: dict(self.qrels[qid]) for qid in query_ids}
        d_indices = self._subset_docs(qrels, n_docs, seed)
        if d_indices is None:  # every document kept: the corpus as it is (a streamed one stays streamed)
            corpus_ids, corpus_texts = self.corpus_ids, self.corpus_texts
        else:
            corpus_ids, corpus_texts = take_items(self.corpus_ids, d_indices), take_items(self.corpus_texts, d_indices)
        if d_indices is not None or not isinstance(corpus_ids, StreamedIds):
            kept_docs: Container[str] = set(corpus_ids)
        else:  # the judged documents the corpus holds, without a set of every id
            kept_docs = set(corpus_ids.positions_of(d for rels in qrels.values() for d in rels))
        return RetrievalData(
            task_name=self.task_name,
            split=self.split,
            corpus_ids=corpus_ids,
            corpus_texts=corpus_texts,
            query_ids=query_ids,
            query_texts=[self.query_texts[i] for i in q_indices],
            qrels={qid: {d: s for d, s in rels.items() if d in kept_docs} for qid, rels in qrels.items()},
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

    def _subset_docs(self, qrels: dict[str, dict[str, int]], n_docs: int | None, seed: int) -> list[int] | None:
        """Positions of the documents a subset keeps: every one judged in `qrels`, then seeded-random
        distractors up to `n_docs` in total, in corpus order; None: all of them."""
        n_total = len(self.corpus_ids)
        if n_docs is None or n_docs >= n_total:
            return None
        wanted = {d for rels in qrels.values() for d in rels}
        if isinstance(self.corpus_ids, StreamedIds):
            doc_pos = self.corpus_ids.positions_of(wanted)
        else:
            doc_pos = {doc_id: i for i, doc_id in enumerate(self.corpus_ids)}
        judged = {doc_pos[d] for d in wanted if d in doc_pos}
        n_distractors = max(0, n_docs - len(judged))
        # Sample enough extra positions that, after removing judged ones, at least
        # n_distractors remain; sampling from range() avoids an O(corpus) list.
        d_rng = random.Random(f"leafbench-subset-docs-{seed}")
        draw = d_rng.sample(range(n_total), min(n_total, n_distractors + len(judged)))
        distractors = [i for i in draw if i not in judged][:n_distractors]
        return sorted(judged.union(distractors))


def doc_text(title: str | None, text: str) -> str:
    """The document string a model reads, built exactly like mteb does.

    Mirrors ``mteb._create_dataloaders._corpus_to_dict``: ``(title + " " + text).strip()``
    when the title is non-empty, else ``text.strip()`` (mteb strips in both branches).
    A missing/``None`` title counts as empty (mteb itself would crash on ``None``).
    """
    if title:
        return (title + " " + text).strip()
    return text.strip()
