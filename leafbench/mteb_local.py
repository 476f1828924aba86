"""MTEB tasks loaded offline from plain files under ``<--data-dir>/mteb``.

mteb 2.26.24 loads a task with ``datasets.load_dataset`` from the Hugging Face hub and then calls the task's
``dataset_transform``. :func:`load_local_task` replaces only the first step: it builds the same ``task.dataset``
layout from local JSONL files, calls the task's own ``dataset_transform`` (as ``AbsTask.load_data`` does) and sets
``task.data_loaded = True``, so ``mteb.evaluate`` / ``task.evaluate`` run mteb's own evaluators without touching the
network (mteb never reloads a task whose data is loaded, and never unloads data it did not load itself).

Layout, as ``AbsTask.load_data`` produces it and ``AbsTask.evaluate`` / ``AbsTaskClassification.evaluate`` index it:

- monolingual task: ``task.dataset = DatasetDict({split: Dataset})`` (evaluate uses ``dataset[split]`` for the
  ``"default"`` subset);
- multilingual task: ``task.dataset = {hf_subset: DatasetDict({split: Dataset})}`` for the local subsets only, and
  ``task.hf_subsets`` narrowed to those subsets (``mteb.evaluate`` runs ``task.eval_splits`` x ``task.hf_subsets``).

Per-task decisions (all checked against mteb's own descriptive statistics of the online data, see
``tests/test_mteb_local.py``):

- STS: columns ``sentence1``/``sentence2``/``score`` on the files' original scale. Every task here has mteb's
  ``min_score=0, max_score=5``; ``_normalize`` is affine, so Pearson/Spearman do not depend on it anyway (BIOSSES is
  0-4 online too).
- SICK-R: mteb's ``test`` split is *all* of SICK (9,927 pairs: train + trial + test; mean score 3.5291), not the
  official 4,927-pair SICK test part, so every row of the file is used, whatever its ``sick_split``.
- STS17: only the ``en-en`` subset is local; ``hf_subsets`` becomes ``["en-en"]`` (as MTEB(eng, v2) selects it).
- STSBenchmark: ``train``/``validation`` (dev.jsonl)/``test`` as on the hub; mteb evaluates ``test`` only.
- Banking77Classification: intent strings mapped to the integer ids of the hub dataset, i.e. the Hugging Face
  ``banking77`` ClassLabel order (the 77 intents sorted case-insensitively, ``Refund_not_showing_up`` = 51); the
  per-id train counts reproduce mteb's statistics for all 77 ids.
- AmazonCounterfactualClassification: subsets ``en`` and ``en-ext`` (the English ones), splits
  ``train``/``validation``/``test``. A task from ``mteb.get_task`` then evaluates both; pass the benchmark's task
  object (``hf_subsets=["en"]``, ``eval_splits=["test"]`` in MTEB(eng, v2)) to evaluate what the benchmark does.
  Rows still wrapped in one level of CSV quoting (``"a ""b"" c"``) are unquoted, which makes text lengths, unique
  texts and train/test overlap equal mteb's statistics for all six splits.
- TweetSentimentExtractionClassification: the local train file lacks the Kaggle row with an empty text
  (``textID fdb77c3752``, neutral, Kaggle row 314) that the hub's train split keeps (27,481 rows, min text length 0);
  it is put back in place so the few-shot undersampling (which draws by row index) sees the same split size.
- No task here subsamples after loading in mteb 2.26.24 (none overrides ``dataset_transform``; ImdbClassification
  evaluates all 25,000 test reviews); the task's ``dataset_transform`` is called anyway, as mteb does.

Known differences from the hub data (sizes and gold scores/labels match; texts do not everywhere):
STS12-STS16 texts are ~1-1.5 characters shorter on average than mteb's (unverified guess: the hub's are tokenised
around punctuation); BIOSSES texts differ slightly (92/97 unique texts on the hub, 93/98 here) and the mean score is
2.198 vs 2.196; Imdb texts differ by 0.01% of characters, and its train order (by file id) is probably not the
hub's, so the few-shot training draw differs.

mteb and datasets are imported lazily (they take seconds).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UserError

__all__ = [
    "LOCAL_TASKS",
    "LocalDataError",
    "LocalSpec",
    "load_local_task",
    "local_root",
    "local_task_names",
]


class LocalDataError(UserError):
    """A local MTEB data file is missing or malformed; the message is one line and names the file (and line)."""


Row = dict[str, Any]
_LINE = "\x00line"  # key under which each parsed row remembers its 1-based line number in the file


@dataclass(frozen=True)
class LocalSpec:
    """Where one mteb task's local files are and how their rows map onto the hub dataset.

    ``files`` maps hf_subset -> split -> file (relative to the ``mteb`` data folder); ``"default"`` is the only
    subset of a monolingual task. ``sizes`` holds the row counts of mteb's online splits (after ``fixups``), checked
    on load so that a truncated copy never passes for the real data.
    """

    kind: str  # "sts" | "classification"
    files: Mapping[str, Mapping[str, str]]
    sizes: Mapping[str, Mapping[str, int]]
    #: label string -> int, for files whose ``label`` is the class name (classification only).
    label_names: tuple[str, ...] | None = None
    #: (hf_subset, split) -> function applied to the parsed rows before the size check.
    fixups: Mapping[tuple[str, str], Callable[[list[Row]], list[Row]]] = field(default_factory=dict)
    note: str = ""

    @property
    def hf_subsets(self) -> list[str]:
        return list(self.files)

    def paths(self, root: Path) -> list[Path]:
        return [root / rel for splits in self.files.values() for rel in splits.values()]


# Hugging Face `banking77` ClassLabel names (ids 0..76): the intents sorted case-insensitively. mteb/banking77 keeps
# these ids; the per-id train counts of mteb's descriptive statistics match this order for all 77 ids.
BANKING77_LABELS: tuple[str, ...] = (
    "activate_my_card",
    "age_limit",
    "apple_pay_or_google_pay",
    "atm_support",
    "automatic_top_up",
    "balance_not_updated_after_bank_transfer",
    "balance_not_updated_after_cheque_or_cash_deposit",
    "beneficiary_not_allowed",
    "cancel_transfer",
    "card_about_to_expire",
    "card_acceptance",
    "card_arrival",
    "card_delivery_estimate",
    "card_linking",
    "card_not_working",
    "card_payment_fee_charged",
    "card_payment_not_recognised",
    "card_payment_wrong_exchange_rate",
    "card_swallowed",
    "cash_withdrawal_charge",
    "cash_withdrawal_not_recognised",
    "change_pin",
    "compromised_card",
    "contactless_not_working",
    "country_support",
    "declined_card_payment",
    "declined_cash_withdrawal",
    "declined_transfer",
    "direct_debit_payment_not_recognised",
    "disposable_card_limits",
    "edit_personal_details",
    "exchange_charge",
    "exchange_rate",
    "exchange_via_app",
    "extra_charge_on_statement",
    "failed_transfer",
    "fiat_currency_support",
    "get_disposable_virtual_card",
    "get_physical_card",
    "getting_spare_card",
    "getting_virtual_card",
    "lost_or_stolen_card",
    "lost_or_stolen_phone",
    "order_physical_card",
    "passcode_forgotten",
    "pending_card_payment",
    "pending_cash_withdrawal",
    "pending_top_up",
    "pending_transfer",
    "pin_blocked",
    "receiving_money",
    "Refund_not_showing_up",
    "request_refund",
    "reverted_card_payment?",
    "supported_cards_and_currencies",
    "terminate_account",
    "top_up_by_bank_transfer_charge",
    "top_up_by_card_charge",
    "top_up_by_cash_or_cheque",
    "top_up_failed",
    "top_up_limits",
    "top_up_reverted",
    "topping_up_by_card",
    "transaction_charged_twice",
    "transfer_fee_charged",
    "transfer_into_account",
    "transfer_not_received_by_recipient",
    "transfer_timing",
    "unable_to_verify_identity",
    "verify_my_identity",
    "verify_source_of_funds",
    "verify_top_up",
    "virtual_card_not_working",
    "visa_or_mastercard",
    "why_verify_identity",
    "wrong_amount_of_cash_received",
    "wrong_exchange_rate_for_cash_withdrawal",
)

_TWEET_EMPTY_ID = "fdb77c3752"
_TWEET_EMPTY_AT = 314  # 0-based row of the empty-text tweet in Kaggle's train.csv (and the hub's train split)


def _restore_empty_tweet(rows: list[Row]) -> list[Row]:
    """Put back the one Kaggle train row whose text is empty (the hub keeps it as ``""``, label neutral)."""
    if len(rows) != 27_480 or any(r.get("textID") == _TWEET_EMPTY_ID for r in rows):
        return rows
    return [*rows[:_TWEET_EMPTY_AT], {"text": "", "label": 1, "textID": _TWEET_EMPTY_ID}, *rows[_TWEET_EMPTY_AT:]]


def _csv_unquote(rows: list[Row]) -> list[Row]:
    """Undo one level of CSV quoting left in the Amazon counterfactual files.

    Some source rows are wrapped in double quotes with inner quotes doubled (``"a ""b"" c"``); the hub's texts are
    the unquoted form (``a "b" c``). This reproduces the hub's total text length of all six en/en-ext splits exactly.
    """
    out = []
    for row in rows:
        text = row.get("text")
        if isinstance(text, str) and len(text) >= 2 and text[0] == '"' and text[-1] == '"':
            row = {**row, "text": text[1:-1].replace('""', '"')}
        out.append(row)
    return out


def _sts(
    folder: str, n_test: int, *, subset: str = "default", note: str = "", **extra_splits: tuple[str, int]
) -> LocalSpec:
    """An STS task's spec: ``sts/<folder>/test.jsonl`` with `n_test` rows (plus `extra_splits`: split -> (file,
    rows)), as hf subset `subset`."""
    files = {"test": f"sts/{folder}/test.jsonl"}
    sizes = {"test": n_test}
    for split, (fname, n) in extra_splits.items():
        files[split] = f"sts/{folder}/{fname}"
        sizes[split] = n
    return LocalSpec(kind="sts", files={subset: files}, sizes={subset: sizes}, note=note)


LOCAL_TASKS: dict[str, LocalSpec] = {
    "STSBenchmark": _sts("STSBenchmark", 1379, train=("train.jsonl", 5749), validation=("dev.jsonl", 1500)),
    "SICK-R": _sts(
        "SICK-R", 9927, note="mteb's SICK-R test split is all of SICK (9,927 pairs), so every sick_split is kept"
    ),
    "STS12": _sts("STS12", 3108),
    "STS13": _sts("STS13", 1500),
    "STS14": _sts("STS14", 3750),
    "STS15": _sts("STS15", 3000),
    "STS16": _sts("STS16", 1186),
    "STS17": _sts("STS17-en-en", 250, subset="en-en", note="only the en-en subset is local; hf_subsets narrowed to it"),
    "BIOSSES": _sts("BIOSSES", 100),
    "Banking77Classification": LocalSpec(
        kind="classification",
        files={
            "default": {"train": "classification/Banking77/train.jsonl", "test": "classification/Banking77/test.jsonl"}
        },
        sizes={"default": {"train": 10003, "test": 3080}},
        label_names=BANKING77_LABELS,
        note="intent strings mapped to the hub's integer ids (HF banking77 ClassLabel order)",
    ),
    "AmazonCounterfactualClassification": LocalSpec(
        kind="classification",
        files={
            "en-ext": {
                split: f"classification/AmazonCounterfactual/en-ext_{split}.jsonl"
                for split in ("train", "validation", "test")
            },
            "en": {
                split: f"classification/AmazonCounterfactual/en_{split}.jsonl"
                for split in ("train", "validation", "test")
            },
        },
        sizes={
            "en-ext": {"train": 8000, "validation": 666, "test": 1334},
            "en": {"train": 4018, "validation": 335, "test": 670},
        },
        fixups={
            (subset, split): _csv_unquote for subset in ("en-ext", "en") for split in ("train", "validation", "test")
        },
        note="English subsets en and en-ext only (de, ja are not local); one level of CSV quoting undone",
    ),
    "ImdbClassification": LocalSpec(
        kind="classification",
        files={"default": {"train": "classification/Imdb/train.jsonl", "test": "classification/Imdb/test.jsonl"}},
        sizes={"default": {"train": 25000, "test": 25000}},
    ),
    "TweetSentimentExtractionClassification": LocalSpec(
        kind="classification",
        files={
            "default": {
                "train": "classification/TweetSentimentExtraction/train.jsonl",
                "test": "classification/TweetSentimentExtraction/test.jsonl",
            }
        },
        sizes={"default": {"train": 27481, "test": 3534}},
        fixups={("default", "train"): _restore_empty_tweet},
        note="the Kaggle train row with an empty text is restored (hub train split: 27,481 rows)",
    ),
}


def local_root(data_dir: Path | str) -> Path:
    """The folder holding ``sts/`` and ``classification/``: ``data_dir/"mteb"`` if it exists, else ``data_dir``."""
    data_dir = Path(data_dir).expanduser()
    return data_dir / "mteb" if (data_dir / "mteb").is_dir() else data_dir


def local_task_names(data_dir: Path | str) -> list[str]:
    """mteb task names (in :data:`LOCAL_TASKS` order) all of whose local files exist under ``data_dir``."""
    root = local_root(data_dir)
    return [name for name, spec in LOCAL_TASKS.items() if all(p.is_file() for p in spec.paths(root))]


def _read_jsonl(path: Path) -> list[Row]:
    """Rows of a JSONL file; bad bytes, bad JSON or a non-object line raise LocalDataError naming file:line."""
    if not path.is_file():
        raise LocalDataError(f"{path}: file not found")
    rows: list[Row] = []
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise LocalDataError(f"{path}:{lineno}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
            if lineno == 1 and line.startswith("\ufeff"):
                line = line[1:]
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise LocalDataError(f"{path}:{lineno}: invalid JSON ({exc.msg} at column {exc.colno})") from None
            except RecursionError:
                raise LocalDataError(f"{path}:{lineno}: invalid JSON (nested too deeply)") from None
            if not isinstance(row, dict):
                raise LocalDataError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
            row[_LINE] = lineno
            rows.append(row)
    return rows


_SURROGATE = re.compile("[\ud800-\udfff]")
_INT64 = 2**63


def _get_text(row: Row, key: str, where: str) -> str:
    value = row.get(key)
    if not isinstance(value, str):
        problem = "missing" if key not in row else f"not a string ({type(value).__name__})"
        raise LocalDataError(f"{where}: field {key!r} {problem}")
    if _SURROGATE.search(value):  # JSON can spell one ("\ud800"); no tokenizer or Arrow column takes it
        raise LocalDataError(
            f"{where}: field {key!r} holds an unpaired surrogate (\\ud800-\\udfff escape): not valid Unicode"
        )
    return value


def _short(value: Any, limit: int = 60) -> str:
    """repr() clipped, so a message stays one readable line whatever the file holds."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _finite(value: Any) -> bool:
    """A JSON number that is a finite float (big ints that overflow a float are not)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _sts_columns(rows: list[Row], path: Path) -> dict[str, list[Any]]:
    s1, s2, score = [], [], []
    for row in rows:
        where = f"{path}:{row.get(_LINE, '?')}"
        s1.append(_get_text(row, "sentence1", where))
        s2.append(_get_text(row, "sentence2", where))
        value = row.get("score")
        if not _finite(value):
            raise LocalDataError(f"{where}: field 'score' must be a finite number, got {_short(value)}")
        score.append(float(value))
    return {"sentence1": s1, "sentence2": s2, "score": score}


def _classification_columns(rows: list[Row], path: Path, spec: LocalSpec) -> dict[str, list[Any]]:
    ids = {name: i for i, name in enumerate(spec.label_names)} if spec.label_names else None
    text, label = [], []
    for row in rows:
        where = f"{path}:{row.get(_LINE, '?')}"
        text.append(_get_text(row, "text", where))
        value = row.get("label")
        if ids is not None:
            if not isinstance(value, str) or value not in ids:
                raise LocalDataError(f"{where}: label {_short(value)} is not one of the task's {len(ids)} class names")
            value = ids[value]
        elif isinstance(value, bool) or not isinstance(value, int) or not -_INT64 <= value < _INT64:
            raise LocalDataError(f"{where}: field 'label' must be an integer class id, got {_short(value)}")
        label.append(value)
    return {"text": text, "label": label}


def _build_split(spec: LocalSpec, subset: str, split: str, root: Path):
    from datasets import Dataset, Features, Value

    path = root / spec.files[subset][split]
    rows = _read_jsonl(path)
    fixup = spec.fixups.get((subset, split))
    if fixup is not None:
        rows = fixup(rows)
    if spec.kind == "sts":
        columns = _sts_columns(rows, path)
        features = Features({"sentence1": Value("string"), "sentence2": Value("string"), "score": Value("float64")})
    else:
        columns = _classification_columns(rows, path, spec)
        features = Features({"text": Value("string"), "label": Value("int64")})
    expected = spec.sizes[subset][split]
    if len(rows) != expected:
        raise LocalDataError(f"{path}: {len(rows)} rows, expected {expected} (mteb's {subset}/{split} size)")
    return Dataset.from_dict(columns, features=features)


def load_local_task(task_name: str, data_dir: Path | str, *, task: Any = None) -> Any:
    """mteb's task object for ``task_name`` with ``.dataset`` filled from local files and ``.data_loaded = True``.

    ``task``: an already configured task object to fill instead of ``mteb.get_task(task_name)`` (e.g. one from
    ``mteb.get_benchmark("MTEB(eng, v2)")``, whose subset and split selection is kept). Its ``hf_subsets`` are
    narrowed to the subsets that are local; every evaluated split must be local.
    """
    spec = LOCAL_TASKS.get(task_name)
    if spec is None:
        raise LocalDataError(f"{task_name}: no local data spec (local tasks: {', '.join(LOCAL_TASKS)})")
    root = local_root(data_dir)

    if task is None:
        import mteb

        task = mteb.get_task(task_name)
    elif task.metadata.name != task_name:
        raise LocalDataError(f"{task_name}: given task object is {task.metadata.name!r}")

    from datasets import DatasetDict

    is_multilingual = task.metadata.is_multilingual
    if not is_multilingual and spec.hf_subsets != ["default"]:
        raise LocalDataError(f"{task_name}: spec has subsets {spec.hf_subsets} but the mteb task is monolingual")
    wanted = list(task.hf_subsets) if task.hf_subsets else list(task.metadata.hf_subsets)
    subsets = [s for s in wanted if s in spec.files] if is_multilingual else ["default"]
    if not subsets:
        raise LocalDataError(f"{task_name}: none of the selected subsets {wanted} is local (local: {spec.hf_subsets})")
    for subset in subsets:
        for rel in spec.files[subset].values():
            if not (root / rel).is_file():
                raise LocalDataError(f"{root / rel}: file not found (needed for {task_name})")
        splits = set(spec.files[subset])
        needed = list(task.eval_splits)
        if spec.kind == "classification":
            needed.append(task.train_split)
        absent = [s for s in needed if s not in splits]
        if absent:
            raise LocalDataError(f"{task_name}: split(s) {absent} of subset {subset!r} have no local file")

    built = {
        subset: DatasetDict({split: _build_split(spec, subset, split, root) for split in spec.files[subset]})
        for subset in subsets
    }
    if is_multilingual:
        task.hf_subsets = subsets
        task.dataset = built
    else:
        task.dataset = built["default"]
    task.dataset_transform()
    task.data_loaded = True
    return task
