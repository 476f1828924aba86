"""Training texts: sources with roles, dedupe, seeded shuffle, length cap, and an evaluation-overlap guard.

Every text has a role: "query" texts are encoded by the teacher *with* its query prompt (and the student
sees the same prompt), "document" texts without. The LEAF paper's ablation shows training on queries and
documents together beats queries alone, so recipes mix both.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import random
import re
import warnings
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from leafbench.errors import UserError

log = logging.getLogger(__name__)

ROLES = ("query", "document")
PACK_BY = ("rank", "topic")
CUTS = ("sentences", "titles")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[])")
_WS = re.compile(r"\s+")


class TextSourceError(UserError):
    """A training-text source that cannot be read; the message is for the user."""


class EvalOverlapWarning(UserWarning):
    """A training text also occurs in an evaluation set (the score would be inflated)."""


def norm_text(text: str) -> str:
    """Dedupe key: case- and whitespace-insensitive (the same rule the offline training files were built with)."""
    return _WS.sub(" ", text).strip().lower()


def truncate_words(text: str, max_words: int | None) -> str:
    """Cap a text at `max_words` whitespace words, so teacher and student read the same (short) content."""
    text = _WS.sub(" ", text).strip()
    if not max_words:
        return text
    words = text.split(" ")
    return text if len(words) <= max_words else " ".join(words[:max_words])


@dataclass(frozen=True)
class SourceSpec:
    """One source of training texts (a recipe's `data.sources` entry)."""

    name: str
    role: str
    path: str | None = None  # jsonl / tsv / txt, relative to the recipe's training_dir
    field: str = "text"  # jsonl key or tsv column
    beir: str | None = None  # a BEIR folder: its corpus (role document) or queries (role query)
    split: str | None = None  # BEIR queries only: just the queries judged in qrels/<split>.tsv (e.g. train)
    hf: str | None = None  # a Hugging Face dataset id (needs network)
    hf_config: str | None = None
    hf_split: str = "train"
    limit: int | None = None
    min_words: int = 1
    max_words: int | None = None  # this source's cap, instead of data.max_words (e.g. long documents)
    # Domain-targeted selection: keep the `limit` texts that look most like a reference set (Moore-Lewis
    # cross-entropy difference), instead of a random sample. {beir: folder, split: train} or {path: file.jsonl}.
    domain: dict[str, str] | None = None
    # Long-input training without long documents: join consecutive texts of this source's sample into
    # documents of at least `pack_words` words (`limit` then counts packed documents). Role document only.
    pack_words: int | None = None
    # How packed documents are grouped: "rank" joins consecutive texts of the ranked sample (a document mixes
    # unrelated topics); "topic" seeds each document with the best-ranked unused text and fills it with that
    # text's nearest TF-IDF neighbours, so a document stays on one subject as a real abstract does.
    pack_by: str = "rank"
    # A hub source's local copy: {path: file under the training folder, field: its key (default: `field`)}.
    # Read instead of the hub when the run names a training folder (`--training-dir`), e.g. offline.
    local: dict[str, str] | None = None
    # Pseudo-queries cut from a BEIR corpus (role query): its abstracts' "sentences" or its "titles". Reading the
    # evaluation task's own corpus makes a run transductive (recipe `data.transductive: true`, labelled in results).
    cut: str | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SourceSpec:
        if not isinstance(d, dict):
            raise TextSourceError(f"a source is a mapping ({{name: ..., role: ..., path: ...}}), not {d!r:.60}")
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise TextSourceError(f"source {d.get('name', '?')}: unknown keys {sorted(unknown)}")
        missing = [k for k in ("name", "role") if k not in d]
        if missing:
            raise TextSourceError(f"source {d.get('name', '?')}: missing {', '.join(missing)}")
        spec = cls(**d)
        problem = (
            spec._reading_problem()
            or spec._size_problem()
            or spec._packing_problem()
            or spec._domain_problem()
            or spec._cut_problem()
        )
        if problem:
            raise TextSourceError(f"source {spec.name}: {problem}")
        return spec

    def _reading_problem(self) -> str | None:
        """Role, and where the texts come from."""
        if self.role not in ROLES:
            return f"role must be query or document, not {self.role!r}"
        if sum(x is not None for x in (self.path, self.beir, self.hf)) != 1:
            return "give exactly one of path, beir, hf"
        if self.local is not None and self.hf is None:
            return "local names a hub source's local copy; it needs hf"
        if self.local is not None and (
            not isinstance(self.local, dict) or "path" not in self.local or set(self.local) - {"path", "field"}
        ):
            return "local must be {path: FILE, field: KEY} (field optional)"
        return None

    def _size_problem(self) -> str | None:
        """How many texts, how long, and which BEIR queries."""
        if self.limit is not None and self.limit < 1:
            return "limit must be >= 1"
        if self.max_words is not None and self.max_words < max(1, self.min_words):  # 0 would mean "no cap"
            return "max_words must be >= 1 and >= min_words"
        if self.split is not None and (self.beir is None or self.role != "query"):
            return "split selects BEIR queries; it needs beir and role query"
        return None

    def _packing_problem(self) -> str | None:
        if self.pack_words is not None and (self.role != "document" or self.pack_words < 2):
            return "pack_words needs role document and a value >= 2"
        if self.pack_by not in PACK_BY:
            return f"pack_by must be one of {sorted(PACK_BY)}, not {self.pack_by!r}"
        if self.pack_by != "rank" and self.pack_words is None:
            return "pack_by needs pack_words"
        return None

    def _cut_problem(self) -> str | None:
        if self.cut is None:
            return None
        if self.cut not in CUTS:
            return f"cut must be one of {list(CUTS)}, not {self.cut!r}"
        if self.beir is None or self.role != "query" or self.split is not None:
            return "cut reads a BEIR corpus as pseudo-queries; it needs beir, role query and no split"
        return None

    def _domain_problem(self) -> str | None:
        if self.domain is None:
            return None
        if not isinstance(self.domain, dict) or sum(k in self.domain for k in ("beir", "path")) != 1:
            return "domain needs exactly one of beir (with split) or path"
        extra = set(self.domain) - {"beir", "split", "path", "field"}
        if extra:
            return f"domain: unknown keys {sorted(extra)}"
        if "beir" in self.domain and "split" not in self.domain:
            return "domain: a BEIR reference needs a split (e.g. train)"
        if self.limit is None:
            return "domain selection needs a limit (how many texts to keep)"
        return None


@dataclass
class TrainingTexts:
    """Deduplicated, shuffled texts with their roles and where they came from."""

    texts: list[str]
    roles: list[str]
    sources: list[str]
    counts: dict[str, int] = field(default_factory=dict)
    overlap: dict[str, int] = field(default_factory=dict)
    # Position of each text in its source's seeded sample: a bigger `limit` keeps the earlier positions, so
    # teacher targets cached per (source, position chunk) are reused when a recipe grows.
    ranks: list[int] = field(default_factory=list)
    selection: dict[str, dict[str, Any]] = field(default_factory=dict)  # domain-selected sources: what and how

    def __len__(self) -> int:
        return len(self.texts)

    def digest(self) -> str:
        h = hashlib.sha256()
        for t, r in zip(self.texts, self.roles):
            h.update(r.encode())
            h.update(len(t.encode()).to_bytes(8, "little"))
            h.update(t.encode())
        return h.hexdigest()[:16]

    def select(self, idx: Sequence[int]) -> TrainingTexts:
        return TrainingTexts(
            [self.texts[i] for i in idx],
            [self.roles[i] for i in idx],
            [self.sources[i] for i in idx],
            ranks=[self.ranks[i] for i in idx] if self.ranks else [],
        )

    def split(self, n_heldout: int, seed: int = 0) -> tuple[list[int], list[int]]:
        """(train, held-out) indices; held-out is drawn per role so both roles are measured."""
        rng = random.Random(f"heldout-{seed}")
        idx = list(range(len(self)))
        held: list[int] = []
        for role in ROLES:
            r_idx = [i for i in idx if self.roles[i] == role]
            share = round(n_heldout * len(r_idx) / max(1, len(self)))
            held += rng.sample(r_idx, min(len(r_idx), share))
        held_set = set(held)
        return [i for i in idx if i not in held_set], sorted(held)


def _iter_file(path: Path, fld: str) -> Iterator[str]:
    if not path.exists():
        raise TextSourceError(f"{path}: training text file not found")
    if path.suffix == ".jsonl":
        with path.open(encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    raise TextSourceError(f"{path}:{lineno}: invalid JSON ({e.msg})") from e
                val = obj.get(fld)
                if not isinstance(val, str):
                    raise TextSourceError(f"{path}:{lineno}: no string field {fld!r}")
                yield val
    elif path.suffix == ".tsv":
        with path.open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f, delimiter="\t")
            if reader.fieldnames is None or fld not in reader.fieldnames:
                raise TextSourceError(f"{path}: no column {fld!r} (columns: {reader.fieldnames})")
            for row in reader:
                yield row[fld] or ""
    elif path.suffix == ".txt":
        with path.open(encoding="utf-8") as f:
            yield from (line.rstrip("\n") for line in f)
    else:
        raise TextSourceError(f"{path}: unsupported format (jsonl, tsv or txt)")


def _iter_beir_corpus(folder: Path) -> Iterator[str]:
    from leafbench.data import doc_text

    for title, text in corpus_rows(folder):
        yield doc_text(title or None, text)


def cut_corpus(docs: Iterator[tuple[str, str]], cut: str) -> Iterator[str]:
    """Pseudo-queries from (title, abstract) pairs: each title, or each abstract sentence (split after . ! ?
    before a capital, digit or bracket), so an unlabelled corpus yields query-length in-domain texts."""
    for title, text in docs:
        if cut == "titles":
            if title.strip():
                yield title.strip()
            continue
        for sentence in _SENTENCE_END.split(_WS.sub(" ", text).strip()):
            if sentence:
                yield sentence


def corpus_rows(folder: Path) -> Iterator[tuple[str, str]]:
    """(title, text) of every document of a BEIR folder's corpus.jsonl ("" for a missing title)."""
    path = folder / "corpus.jsonl"
    if not path.exists():
        raise TextSourceError(f"{path}: BEIR corpus not found")
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                obj = json.loads(line)
                yield obj.get("title") or "", obj.get("text", "")


def _iter_hf(spec: SourceSpec) -> Iterator[str]:
    try:
        import datasets
    except ImportError as e:  # pragma: no cover - datasets is a dependency
        raise TextSourceError("HF sources need the `datasets` package") from e
    try:
        ds = datasets.load_dataset(spec.hf, spec.hf_config, split=spec.hf_split, streaming=True)
    except Exception as e:
        raise TextSourceError(
            f"source {spec.name}: could not load HF dataset {spec.hf!r} ({type(e).__name__}: {e}); "
            "offline, use a recipe with local sources (e.g. mini or mpnet-offline-staged with --training-dir)"
        ) from e
    for i, row in enumerate(ds):
        val = row.get(spec.field)
        if i == 0 and spec.field not in row:  # a wrong field would otherwise stream the whole dataset for nothing
            raise TextSourceError(
                f"source {spec.name}: HF dataset {spec.hf!r} has no field {spec.field!r} "
                f"(fields: {', '.join(map(str, row))})"
            )
        if isinstance(val, str):
            yield val


def iter_source(spec: SourceSpec, base: Path) -> Iterator[str]:
    if spec.path is not None:
        return _iter_file((base / spec.path) if not Path(spec.path).is_absolute() else Path(spec.path), spec.field)
    if spec.beir is not None:
        folder = (base / spec.beir) if not Path(spec.beir).is_absolute() else Path(spec.beir)
        if spec.cut is not None:
            return cut_corpus(corpus_rows(folder), spec.cut)
        if spec.role == "document":
            return _iter_beir_corpus(folder)
        if spec.split is not None:
            return iter(split_queries(folder, spec.split))
        return _iter_file(folder / "queries.jsonl", "text")
    return _iter_hf(spec)


_TOKEN = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def domain_scores(pool: Sequence[str], reference: Sequence[str], min_tokens: int = 1) -> list[float]:
    """Moore & Lewis (2010) in-domain score per pool text: mean over its tokens of log p_ref(w) − log p_pool(w).

    Unigram models; the reference model is Dirichlet-smoothed towards the pool's (mu = reference size), so a
    word never seen in the reference scores log(mu / (n_ref + mu)) < 0 rather than a large positive ratio —
    rare off-domain words cannot win. Texts with fewer than `min_tokens` tokens score -inf.
    """
    c_ref: Counter[str] = Counter()
    for t in reference:
        c_ref.update(_tokens(t))
    pool_tokens = [_tokens(t) for t in pool]
    c_pool: Counter[str] = Counter()
    for toks in pool_tokens:
        c_pool.update(toks)
    n_ref, n_pool = sum(c_ref.values()), sum(c_pool.values())
    if n_ref == 0:
        raise TextSourceError("domain selection: the reference set has no words")
    vocab = len(set(c_ref) | set(c_pool))
    mu = float(n_ref)
    cache: dict[str, float] = {}

    def word(w: str) -> float:
        if w not in cache:
            p_pool = (c_pool[w] + 0.5) / (n_pool + 0.5 * vocab)
            p_ref = (c_ref[w] + mu * p_pool) / (n_ref + mu)
            cache[w] = math.log(p_ref / p_pool)
        return cache[w]

    return [
        sum(word(w) for w in toks) / len(toks) if len(toks) >= max(1, min_tokens) else -math.inf for toks in pool_tokens
    ]


def reference_texts(domain: dict[str, str], base: Path) -> list[str]:
    """The texts a `domain` selection imitates: a BEIR folder's queries of one split, or a text file."""
    if "path" in domain:
        p = Path(domain["path"])
        return list(_iter_file(p if p.is_absolute() else base / p, domain.get("field", "text")))
    folder = Path(domain["beir"])
    return split_queries(folder if folder.is_absolute() else base / folder, domain["split"])


def split_queries(folder: Path, split: str) -> list[str]:
    """Texts of a BEIR folder's queries judged in one split (queries.jsonl holds every split's queries)."""
    from leafbench.data import read_qrels, read_queries  # the harness's validated BEIR readers

    qrels = folder / "qrels" / f"{split}.tsv"
    if not qrels.exists():
        raise TextSourceError(f"{qrels}: split {split!r} not found")
    ids = {row[0] for row in read_qrels(qrels)}
    out = [text for qid, text in read_queries(folder / "queries.jsonl").items() if qid in ids]
    if not out:
        raise TextSourceError(f"{folder}: no queries of split {split!r}")
    return out


def pack_texts(texts: Sequence[str], pack_words: int) -> list[tuple[str, list[str]]]:
    """(document, its pieces): consecutive texts joined until a document has >= `pack_words` words.

    A last group shorter than `pack_words` is dropped, so every packed document really is long.
    """
    out: list[tuple[str, list[str]]] = []
    group: list[str] = []
    words = 0
    for t in texts:
        group.append(t)
        words += len(t.split(" "))
        if words >= pack_words:
            out.append((" ".join(group), group))
            group, words = [], 0
    return out


def pack_by_topic(
    texts: Sequence[str], pack_words: int, limit: int | None = None, pool_factor: float = 1.5
) -> list[tuple[str, list[str]]]:
    """(document, its pieces) of topically coherent documents of at least `pack_words` words.

    `texts` is best-first. The candidates are the first texts holding `pool_factor` x the words the documents
    need (so the pieces stay among the best-ranked); each document starts from the best unused candidate and
    takes its most similar unused candidates (TF-IDF cosine, English stop words removed) until it is long
    enough. A seed whose neighbours run out before `pack_words` yields no document.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    n_words = [len(t.split(" ")) for t in texts]
    if limit is None:
        n_pool = len(texts)
    else:
        need, n_pool = pool_factor * limit * pack_words, 0
        total = 0
        while n_pool < len(texts) and total < need:
            total += n_words[n_pool]
            n_pool += 1
    if n_pool == 0:
        return []
    try:
        x = TfidfVectorizer(stop_words="english", sublinear_tf=True).fit_transform(texts[:n_pool]).tocsr()
    except ValueError:  # only stop words: nothing to group by, fall back to rank order
        return pack_texts(texts[:n_pool], pack_words)[:limit]
    used = np.zeros(n_pool, dtype=bool)
    out: list[tuple[str, list[str]]] = []
    for seed in range(n_pool):
        if used[seed]:
            continue
        if limit is not None and len(out) >= limit:
            break
        sims = np.asarray((x @ x[seed].T).todense()).ravel()
        sims[used] = -np.inf
        sims[seed] = np.inf
        order = np.argsort(-sims, kind="stable")  # ties (e.g. no shared word) keep rank order
        group, words = [], 0
        for i in order:
            if used[i]:
                break  # the rest are used too (-inf sorts last)
            group.append(int(i))
            words += n_words[i]
            if words >= pack_words:
                break
        if words < pack_words:
            break  # not enough unused words left for one more document
        used[group] = True
        out.append((" ".join(texts[i] for i in group), [texts[i] for i in group]))
    return out


def load_texts(
    sources: Sequence[SourceSpec],
    base: Path,
    seed: int = 0,
    max_words: int | None = None,
    max_texts: int | None = None,
    exclude: set[str] | None = None,
    held_out: set[str] | None = None,
) -> TrainingTexts:
    """Read every source, dedupe across sources, take each source's seeded sample, shuffle everything.

    `max_texts` scales every source's share down proportionally (so a quick run keeps the recipe's mix).
    Texts whose normalised form is in `exclude` (evaluation texts) are dropped and counted. Normalised texts in
    `held_out` (a dev set's queries) never enter a domain selection's reference, so no text is chosen for looking
    like the dev set.
    """
    seen: set[str] = set()  # texts kept by earlier sources (a text read but not sampled stays available)
    per_source: list[tuple[SourceSpec, list[str]]] = []
    selection: dict[str, dict[str, Any]] = {}
    dropped_eval = 0
    for spec in sources:
        kept, dropped = _read_pool(spec, base, max_words, seen, exclude)
        dropped_eval += dropped
        random.Random(f"{seed}-{spec.name}").shuffle(kept)
        kept, pieces, chosen = _sample(spec, base, kept, held_out)
        if chosen is not None:
            selection[spec.name] = chosen
        seen.update(norm_text(t) for t in kept + pieces)  # a packed text is not reused alone by a later source
        per_source.append((spec, kept))
    total = sum(len(k) for _, k in per_source)
    if max_texts is not None and total > max_texts:
        scale = max_texts / total
        per_source = [(s, k[: max(1, int(len(k) * scale))]) for s, k in per_source]
    rows = [(t, s.role, s.name, rank) for s, k in per_source for rank, t in enumerate(k)]
    random.Random(f"{seed}-all").shuffle(rows)
    if max_texts is not None:
        rows = rows[:max_texts]
    counts = {s.name: len(k) for s, k in per_source}
    out = TrainingTexts(
        [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], counts=counts, ranks=[r[3] for r in rows]
    )
    if dropped_eval:
        out.overlap["dropped"] = dropped_eval
    out.selection = selection
    return out


def _read_pool(
    spec: SourceSpec, base: Path, max_words: int | None, seen: set[str], exclude: set[str] | None
) -> tuple[list[str], int]:
    """A source's texts, capped and deduped (against earlier sources too), and how many were evaluation texts."""
    kept: list[str] = []
    mine: set[str] = set()
    dropped = 0
    for raw in iter_source(spec, base):
        t = truncate_words(raw, spec.max_words or max_words)
        if len(t.split(" ")) < spec.min_words or not t:
            continue
        key = norm_text(t)
        if key in seen or key in mine:
            continue
        if exclude is not None and key in exclude:
            dropped += 1
            continue
        mine.add(key)
        kept.append(t)
        if spec.hf is not None and spec.limit is not None and len(kept) >= spec.limit * 4 * (spec.pack_words or 1):
            break  # streaming: a pool 4x the limit is enough for a seeded sample (packing: in words, roughly)
    return kept, dropped


def _sample(
    spec: SourceSpec, base: Path, kept: list[str], held_out: set[str] | None = None
) -> tuple[list[str], list[str], dict[str, Any] | None]:
    """A source's sample from its shuffled pool: (texts, the texts packed into them, the domain selection's
    record or None). Domain selection ranks the pool first, so the best-ranked texts make the first documents."""
    n_held = 0
    if spec.domain is not None:  # best-first; the seeded shuffle breaks ties
        ref = reference_texts(spec.domain, base)
        if held_out:
            n_held = len(ref)
            ref = [t for t in ref if norm_text(t) not in held_out]
            n_held -= len(ref)
        scores = domain_scores(kept, ref, min_tokens=spec.min_words)
        order = sorted(range(len(kept)), key=lambda i: -scores[i])
        kept = ranked = [kept[i] for i in order]
    pieces: list[str] = []
    if spec.pack_words is not None:
        if spec.pack_by == "topic":
            packed = pack_by_topic(kept, spec.pack_words, spec.limit)
        else:
            packed = pack_texts(kept, spec.pack_words)[: spec.limit]
        kept = [doc for doc, _ in packed]
        pieces = [t for _, group in packed for t in group]
    chosen = None
    if spec.domain is not None:
        if spec.pack_words is not None:
            score_of = {t: scores[i] for t, i in zip(ranked, order)}  # texts are unique within a source
            top = [score_of[t] for t in pieces]
        else:
            top = [scores[i] for i in order[: spec.limit]]
        chosen = {
            "reference": dict(spec.domain),
            "n_reference": len(ref),
            **({"reference_held_out": n_held} if n_held else {}),
            "pool": len(order),
            "kept": len(top),
            "pool_in_domain": sum(x > 0 for x in scores),
            "min_kept_score": min(top) if top else None,
        }
    if spec.limit is not None:
        kept = kept[: spec.limit]
    return kept, pieces, chosen


def eval_texts(
    paths: Sequence[Path], splits: Mapping[Path, str] | None = None, without_corpus: Sequence[Path] = ()
) -> dict[str, set[str]]:
    """Normalised texts of evaluation sets: BEIR folders (queries + corpus) and STS jsonl files.

    A BEIR folder named in `splits` contributes only that split's queries (plus its corpus): queries.jsonl
    holds every split, and a train split's queries are legitimate training text for a test-split evaluation.
    A folder in `without_corpus` contributes its queries only (a transductive recipe trains on its corpus).
    """
    from leafbench.data import doc_text

    sets: dict[str, set[str]] = {}
    for p in paths:
        s: set[str] = set()
        if p.is_dir():
            split = (splits or {}).get(p)
            if split is not None and (p / "qrels" / f"{split}.tsv").exists():
                s.update(norm_text(t) for t in split_queries(p, split))
            elif (p / "queries.jsonl").exists():
                s.update(norm_text(t) for t in _iter_file(p / "queries.jsonl", "text"))
            if (p / "corpus.jsonl").exists() and p not in without_corpus:
                for title, text in corpus_rows(p):
                    s.add(norm_text(text))
                    s.add(norm_text(doc_text(title or None, text)))
        elif p.suffix == ".jsonl" and p.exists():
            with p.open(encoding="utf-8") as f:
                for line in f:
                    if line.strip():
                        obj = json.loads(line)
                        for k in ("sentence1", "sentence2", "text"):
                            if isinstance(obj.get(k), str):
                                s.add(norm_text(obj[k]))
        else:
            log.warning("overlap guard: %s not found, not checked", p)
            continue
        s.discard("")
        sets[str(p)] = s
    return sets


def check_overlap(
    texts: TrainingTexts, eval_sets: dict[str, set[str]], drop: bool = False, quiet: Sequence[str] = ()
) -> dict[str, int]:
    """Warn (EvalOverlapWarning) for every evaluation set that shares texts with the training texts, except the
    sets named in `quiet` (a dev set held out of a training source on purpose: counted, not warned about).

    With `drop=True` the overlapping texts are removed in place (their scores would otherwise be inflated), and
    the per-source counts say what is left.
    """
    keys = [norm_text(t) for t in texts.texts]
    found: dict[str, int] = {}
    bad: set[int] = set()
    for name, s in eval_sets.items():
        hits = [i for i, k in enumerate(keys) if k in s]
        if hits:
            found[name] = len(hits)
            bad.update(hits)
            if name in quiet:
                continue
            example = texts.texts[hits[0]][:80]
            warnings.warn(
                f"{len(hits)} training texts also occur in evaluation set {name} (e.g. {example!r})"
                + ("; dropped them" if drop else ""),
                EvalOverlapWarning,
                stacklevel=2,
            )
    if drop and bad:
        keep = [i for i in range(len(texts)) if i not in bad]
        sub = texts.select(keep)
        texts.texts, texts.roles, texts.sources, texts.ranks = sub.texts, sub.roles, sub.sources, sub.ranks
        texts.counts = {name: texts.sources.count(name) for name in texts.counts}
    texts.overlap.update(found)
    return found
