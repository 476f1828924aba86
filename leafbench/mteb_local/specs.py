"""Which mteb tasks have local copies, where their files are and how their rows map onto the hub dataset
(:data:`LOCAL_TASKS`); see the package docstring for the per-task decisions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["BANKING77_LABELS", "LOCAL_TASKS", "LocalSpec", "Row", "local_root", "local_task_names"]

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
        """Every local file of the task, once (two split names may read one file)."""
        return [root / rel for rel in dict.fromkeys(rel for splits in self.files.values() for rel in splits.values())]


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
    # dev.jsonl is the hub's `validation` split; `dev` (the file's and STS-B's own name) reads the same file.
    "STSBenchmark": _sts(
        "STSBenchmark", 1379, train=("train.jsonl", 5749), validation=("dev.jsonl", 1500), dev=("dev.jsonl", 1500)
    ),
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
