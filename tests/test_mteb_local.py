"""Local MTEB data loads into mteb's own task objects and runs through mteb's evaluators offline.

No real model: a fake encoder (byte histograms) stands in, so the whole file runs in well under a minute.
"""

from __future__ import annotations

import copy
import json
import math
import os
import socket
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from leafbench.mteb_local import (  # noqa: E402
    BANKING77_LABELS,
    LOCAL_TASKS,
    LocalDataError,
    load_local_task,
    local_task_names,
)

# Row counts per hf_subset / split, from shared/data/README.md section 3 and mteb's descriptive statistics.
EXPECTED_SIZES: dict[str, dict[str, dict[str, int]]] = {
    "STSBenchmark": {"default": {"train": 5749, "validation": 1500, "dev": 1500, "test": 1379}},
    "SICK-R": {"default": {"test": 9927}},
    "STS12": {"default": {"test": 3108}},
    "STS13": {"default": {"test": 1500}},
    "STS14": {"default": {"test": 3750}},
    "STS15": {"default": {"test": 3000}},
    "STS16": {"default": {"test": 1186}},
    "STS17": {"en-en": {"test": 250}},
    "BIOSSES": {"default": {"test": 100}},
    "Banking77Classification": {"default": {"train": 10003, "test": 3080}},
    "AmazonCounterfactualClassification": {
        "en-ext": {"train": 8000, "validation": 666, "test": 1334},
        "en": {"train": 4018, "validation": 335, "test": 670},
    },
    "ImdbClassification": {"default": {"train": 25000, "test": 25000}},
    "TweetSentimentExtractionClassification": {"default": {"train": 27481, "test": 3534}},
}

# Tasks whose local texts are not byte-identical to the hub's (sizes and gold scores/labels are): mteb's statistics
# of the online data show other text lengths. See leafbench/mteb_local.py and the report.
TEXT_DIFFERS = {"STS12", "STS13", "STS14", "STS15", "STS16", "BIOSSES", "ImdbClassification"}


class FakeEncoder:
    """mteb EncoderProtocol stand-in: byte histograms (deterministic, cheap, weakly meaningful)."""

    dim = 64

    def __init__(self) -> None:
        import mteb

        self.mteb_model_meta = mteb.models.ModelMeta.create_empty(
            overwrites={"name": "fake/x", "revision": "1", "similarity_fn_name": "cosine", "modalities": ["text"]}
        )
        self.calls: list[tuple[str, str, str, int]] = []

    def encode(
        self, inputs: Any, *, task_metadata: Any, hf_split: str, hf_subset: str, prompt_type: Any = None, **kwargs: Any
    ) -> np.ndarray:
        texts = [t for batch in inputs for t in batch["text"]]
        self.calls.append((task_metadata.name, hf_split, hf_subset, len(texts)))
        out = np.ones((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            codes = np.frombuffer(text.lower().encode("utf-8"), dtype=np.uint8)
            out[i] += np.bincount(codes % self.dim, minlength=self.dim)
        return self._unit(out)  # unit vectors keep mteb's LogisticRegression quick to converge

    @staticmethod
    def _unit(x: Any) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)

    def similarity(self, a: Any, b: Any) -> np.ndarray:
        return self._unit(a) @ self._unit(b).T

    def similarity_pairwise(self, a: Any, b: Any) -> np.ndarray:
        return np.sum(self._unit(a) * self._unit(b), axis=1)


@pytest.fixture(scope="module")
def loaded(shared_data: Path) -> dict[str, Any]:
    """Each local task loaded once (from data_dir = shared/data) for the whole module."""
    return {name: load_local_task(name, shared_data) for name in LOCAL_TASKS}


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection or to load a hub dataset fails the test."""
    import datasets
    import mteb.abstasks.abstask as abstask_module

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"network/hub access attempted: {args[:2]}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(datasets, "load_dataset", refuse)
    monkeypatch.setattr(abstask_module, "load_dataset", refuse)


def _sizes(task: Any) -> dict[str, dict[str, int]]:
    if task.metadata.is_multilingual:
        return {sub: {split: len(ds) for split, ds in dd.items()} for sub, dd in task.dataset.items()}
    return {"default": {split: len(ds) for split, ds in task.dataset.items()}}


# ------------------------------------------------------------------------------------------------ discovery


def test_local_task_names_lists_every_local_task(shared_data: Path) -> None:
    assert local_task_names(shared_data) == list(LOCAL_TASKS)
    assert local_task_names(shared_data / "mteb") == list(LOCAL_TASKS)  # both spellings of data_dir
    assert len(LOCAL_TASKS) == 13


def test_local_task_names_lists_exactly_the_complete_ones(tmp_path: Path) -> None:
    assert local_task_names(tmp_path) == []
    (tmp_path / "mteb" / "sts" / "STS13").mkdir(parents=True)
    (tmp_path / "mteb" / "sts" / "STS13" / "test.jsonl").write_text("")
    bank = tmp_path / "mteb" / "classification" / "Banking77"
    bank.mkdir(parents=True)
    (bank / "test.jsonl").write_text("")  # train.jsonl missing: Banking77 is not available
    assert local_task_names(tmp_path) == ["STS13"]
    assert local_task_names(tmp_path / "mteb") == ["STS13"]
    (bank / "train.jsonl").write_text("")
    assert local_task_names(tmp_path) == ["STS13", "Banking77Classification"]


# ------------------------------------------------------------------------------------------------ loading


@pytest.mark.parametrize("name", list(LOCAL_TASKS))
def test_loads_into_mteb_task_with_expected_sizes(loaded: dict[str, Any], name: str) -> None:
    import mteb
    from datasets import DatasetDict

    task = loaded[name]
    assert type(task) is type(mteb.get_task(name))
    assert task.metadata.name == name
    assert task.data_loaded is True
    assert _sizes(task) == EXPECTED_SIZES[name]
    if task.metadata.is_multilingual:
        assert task.hf_subsets == list(EXPECTED_SIZES[name])
        assert all(isinstance(dd, DatasetDict) for dd in task.dataset.values())
    else:
        assert isinstance(task.dataset, DatasetDict)  # as load_dataset returns it; evaluate reads dataset[split]
        assert task.hf_subsets == ["default"]
    first = next(iter(task.dataset.values())) if task.metadata.is_multilingual else task.dataset
    split = first[task.eval_splits[0]]
    if task.metadata.type == "STS":
        assert split.column_names == ["sentence1", "sentence2", "score"]
        assert (task.min_score, task.max_score) == (0, 5)
        assert 0 <= min(split["score"]) and max(split["score"]) <= 5
    else:
        assert split.column_names == ["text", "label"]
        assert all(isinstance(x, int) for x in split["label"][:50])


def test_sick_r_test_split_is_all_of_sick(loaded: dict[str, Any], shared_data: Path) -> None:
    """mteb's SICK-R `test` holds all 9,927 SICK pairs (its statistics: 9,927 rows, mean score 3.5291)."""
    rows = [json.loads(x) for x in (shared_data / "mteb/sts/SICK-R/test.jsonl").read_text().splitlines()]
    assert Counter(r["sick_split"] for r in rows) == {"train": 4500, "trial": 500, "test": 4927}
    scores = loaded["SICK-R"].dataset["test"]["score"]
    assert len(scores) == 9927
    assert sum(scores) / len(scores) == pytest.approx(3.5291492898156607, abs=1e-12)


def test_banking77_labels_use_the_hub_integer_ids(loaded: dict[str, Any], shared_data: Path) -> None:
    cats = json.loads((shared_data / "mteb/classification/Banking77/categories.json").read_text())
    assert list(BANKING77_LABELS) == sorted(cats, key=str.lower)  # HF banking77 ClassLabel order
    assert BANKING77_LABELS.index("card_arrival") == 11
    assert BANKING77_LABELS.index("Refund_not_showing_up") == 51
    ds = loaded["Banking77Classification"].dataset
    assert ds["test"][0] == {"text": "How do I locate my card?", "label": 11}
    assert sorted(set(ds["train"]["label"])) == list(range(77))


def test_tweet_train_restores_the_empty_kaggle_row(loaded: dict[str, Any]) -> None:
    train = loaded["TweetSentimentExtractionClassification"].dataset["train"]
    assert train[314] == {"text": "", "label": 1}
    assert train["text"].count("") == 1
    assert Counter(train["label"]) == {1: 11118, 0: 7781, 2: 8582}  # mteb's train label counts


def test_amazon_counterfactual_undoes_csv_quoting(loaded: dict[str, Any]) -> None:
    """One level of CSV unquoting reproduces mteb's total text length of every en/en-ext split (all six checked in
    the statistics test); e.g. en-ext/test row 2 is wrapped in quotes in the file but not on the hub."""
    ds = loaded["AmazonCounterfactualClassification"].dataset
    assert ds["en-ext"]["test"][1]["text"].startswith("There were so many intriguing parts to this story")
    assert ds["en-ext"]["test"][1]["text"].endswith("going to take you.")
    assert sum(map(len, ds["en"]["test"]["text"])) == 71118


def _nonsym_unique_pairs(ds: Any) -> int:
    return len(set(zip(ds["sentence1"], ds["sentence2"])))


@pytest.mark.parametrize("name", list(LOCAL_TASKS))
def test_matches_mteb_descriptive_statistics_of_the_online_data(loaded: dict[str, Any], name: str) -> None:
    """mteb ships statistics of the hub data; the local data reproduces them (texts excepted where known)."""
    task = loaded[name]
    splits = list(task.eval_splits)
    if task.metadata.type == "Classification":
        splits.append(task.train_split)
    subsets = task.hf_subsets if task.metadata.is_multilingual else [None]
    for split in splits:
        for subset in subsets:
            ref = task.metadata.descriptive_stats[split]
            if subset is not None:
                ref = ref["hf_subset_descriptive_stats"][subset]
            got = json.loads(json.dumps(task._calculate_descriptive_statistics_from_split(split, hf_subset=subset)))
            where = f"{name} {subset or ''} {split}"
            assert got["num_samples"] == ref["num_samples"], where
            if task.metadata.type == "STS":
                for key in ("min_score", "max_score"):
                    assert got["label_statistics"][key] == ref["label_statistics"][key], where
                avg_ok = got["label_statistics"]["avg_score"] == pytest.approx(ref["label_statistics"]["avg_score"])
                assert avg_ok or name == "BIOSSES", where  # BIOSSES: 2.198 here vs 2.196 on the hub
                if name not in TEXT_DIFFERS:
                    assert got["text1_statistics"] == ref["text1_statistics"], where
                    assert got["text2_statistics"] == ref["text2_statistics"], where
                    # the shipped statistics predate mteb's order-insensitive unique_pairs
                    dd = task.dataset[subset] if subset else task.dataset
                    assert _nonsym_unique_pairs(dd[split]) == ref["unique_pairs"], where
            else:
                assert got["label_statistics"] == ref["label_statistics"], where
                if name not in TEXT_DIFFERS:
                    assert got["text_statistics"] == ref["text_statistics"], where
                    assert got["samples_in_train"] == ref["samples_in_train"], where
                else:
                    for key in ("min_text_length", "max_text_length", "unique_texts"):
                        assert got["text_statistics"][key] == ref["text_statistics"][key], where


# ------------------------------------------------------------------------------------------------ evaluation


def _quick(task: Any, n_eval: int = 150, n_train: int = 1500, n_experiments: int = 2) -> Any:
    """A shallow copy of a loaded classification task that does less work: evenly spaced slices of the evaluated
    splits (~150 rows) and of the train split (~1,500 rows, every label kept), and
    2 classifier experiments instead of 10. Same class, metadata, subsets and evaluators. (A full Imdb run costs
    minutes here, mostly in mteb's metric code iterating datasets' lazy ``Column`` row by row.)"""
    from datasets import DatasetDict

    def every(ds: Any, n: int) -> Any:
        return ds.select(range(0, len(ds), max(1, len(ds) // n)))

    def trim(dd: Any) -> Any:
        return DatasetDict(
            {
                split: every(ds, n_eval)
                if split in task.eval_splits
                else every(ds, n_train)
                if split == "train"
                else ds
                for split, ds in dd.items()
            }
        )

    quick = copy.copy(task)
    if task.metadata.is_multilingual:
        quick.dataset = {subset: trim(dd) for subset, dd in task.dataset.items()}
    else:
        quick.dataset = trim(task.dataset)
    quick.n_experiments = n_experiments
    return quick


@pytest.mark.parametrize("name", list(LOCAL_TASKS))
def test_mteb_evaluate_runs_offline(loaded: dict[str, Any], name: str, no_network: None) -> None:
    """STS tasks are evaluated in full; classification tasks on a reduced copy (see `_quick`)."""
    import mteb

    task = loaded[name]
    if task.metadata.type == "Classification":
        task = _quick(task)
    model = FakeEncoder()
    result = mteb.evaluate(model, task, cache=None, show_progress_bar=False, co2_tracker=False)
    (task_result,) = result.task_results
    assert task.data_loaded  # mteb leaves preloaded data alone
    assert set(task_result.scores) == set(task.eval_splits)
    main = task.metadata.main_score
    for split, per_subset in task_result.scores.items():
        assert [s["hf_subset"] for s in per_subset] == list(task.hf_subsets), split
        for scores in per_subset:
            assert main in scores
            assert scores["main_score"] == scores[main]
            assert math.isfinite(scores["main_score"])
    evaluated = {(hf_split, hf_subset) for _, hf_split, hf_subset, _ in model.calls}
    if task.metadata.type == "Classification":
        evaluated = {c for c in evaluated if c[0] != task.train_split}
    assert evaluated == {(split, subset) for split in task.eval_splits for subset in task.hf_subsets}
    if task.metadata.type == "STS":
        assert task_result.scores["test"][0]["cosine_spearman"] > 0.1  # byte histograms carry some signal


def test_sts17_evaluates_only_en_en(loaded: dict[str, Any], no_network: None) -> None:
    import mteb

    task = loaded["STS17"]
    assert task.hf_subsets == ["en-en"]
    assert list(task.dataset) == ["en-en"]
    model = FakeEncoder()
    result = mteb.evaluate(model, task, cache=None, show_progress_bar=False, co2_tracker=False)
    assert [s["hf_subset"] for s in result.task_results[0].scores["test"]] == ["en-en"]
    assert {c[2] for c in model.calls} == {"en-en"}
    assert sum(c[3] for c in model.calls) == 2 * 250


def test_benchmark_task_object_keeps_its_selection(shared_data: Path) -> None:
    """MTEB(eng, v2) builds AmazonCounterfactualClassification with hf_subsets=["en"], eval_splits=["test"]."""
    import mteb

    plain = load_local_task("AmazonCounterfactualClassification", shared_data)
    assert plain.hf_subsets == ["en-ext", "en"]
    assert list(plain.eval_splits) == ["validation", "test"]

    bench = mteb.get_task("AmazonCounterfactualClassification", eval_splits=["test"], hf_subsets=["en"])
    task = load_local_task("AmazonCounterfactualClassification", shared_data, task=bench)
    assert task is bench
    assert task.hf_subsets == ["en"]
    assert list(task.eval_splits) == ["test"]
    assert list(task.dataset) == ["en"]

    with pytest.raises(LocalDataError, match="none of the selected subsets"):
        load_local_task(
            "AmazonCounterfactualClassification",
            shared_data,
            task=mteb.get_task("AmazonCounterfactualClassification", hf_subsets=["de"]),
        )


def test_stsbenchmark_dev_split_is_the_hub_validation_file(shared_data: Path) -> None:
    """dev.jsonl is the hub's `validation` split; `--eval-splits dev` (the file's own name) scores the same rows, and
    a split no file holds is named with the splits that are local."""
    import mteb

    task = load_local_task("STSBenchmark", shared_data, task=mteb.get_task("STSBenchmark").filter_eval_splits(["dev"]))
    assert list(task.eval_splits) == ["dev"]
    dev, validation = task.dataset["dev"], task.dataset["validation"]
    assert len(dev) == 1500 and list(dev["score"]) == list(validation["score"])
    first = json.loads((shared_data / "mteb/sts/STSBenchmark/dev.jsonl").read_text().splitlines()[0])
    assert dev[0]["sentence1"] == first["sentence1"]
    assert len(LOCAL_TASKS["STSBenchmark"].paths(shared_data)) == 3  # two split names, one file: listed once
    with pytest.raises(
        LocalDataError,
        match=r"\['trial'\] of subset 'default' have no local file \(local splits: test, train, validation, dev\)",
    ):
        load_local_task("STSBenchmark", shared_data, task=mteb.get_task("STSBenchmark").filter_eval_splits(["trial"]))


# ------------------------------------------------------------------------------------------------ errors


def _biosses_dir(tmp_path: Path, lines: list[str]) -> Path:
    folder = tmp_path / "mteb" / "sts" / "BIOSSES"
    folder.mkdir(parents=True)
    (folder / "test.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder / "test.jsonl"


def _pair(i: int) -> str:
    return json.dumps({"sentence1": f"a {i}", "sentence2": f"b {i}", "score": i % 5})


def test_bad_jsonl_line_names_file_and_line(tmp_path: Path) -> None:
    path = _biosses_dir(tmp_path, [_pair(0), _pair(1), '{"sentence1": "x", "sentence2": ', _pair(3)])
    with pytest.raises(LocalDataError, match=rf"^{path}:3: invalid JSON") as exc:
        load_local_task("BIOSSES", tmp_path)
    assert "\n" not in str(exc.value)


def test_missing_field_names_file_and_line(tmp_path: Path) -> None:
    path = _biosses_dir(tmp_path, [_pair(0), json.dumps({"sentence1": "x", "score": 1.0})])
    with pytest.raises(LocalDataError, match=rf"^{path}:2: field 'sentence2' missing"):
        load_local_task("BIOSSES", tmp_path)
    path.write_text(json.dumps({"sentence1": "x", "sentence2": "y", "score": "high"}) + "\n")
    with pytest.raises(LocalDataError, match=rf"^{path}:1: field 'score' must be a finite number"):
        load_local_task("BIOSSES", tmp_path)


def test_wrong_row_count_is_refused(tmp_path: Path) -> None:
    path = _biosses_dir(tmp_path, [_pair(i) for i in range(99)])
    with pytest.raises(LocalDataError, match=rf"^{path}: 99 rows, expected 100"):
        load_local_task("BIOSSES", tmp_path / "mteb")


def test_missing_file_and_unknown_task(tmp_path: Path) -> None:
    with pytest.raises(LocalDataError, match="BIOSSES/test.jsonl: file not found"):
        load_local_task("BIOSSES", tmp_path)
    with pytest.raises(LocalDataError, match="no local data spec"):
        load_local_task("SciFact", tmp_path)


def test_unknown_banking77_label_names_file_and_line(tmp_path: Path) -> None:
    folder = tmp_path / "classification" / "Banking77"
    folder.mkdir(parents=True)
    (folder / "train.jsonl").write_text(
        json.dumps({"text": "hi", "label": "card_arrival"}) + "\n" + json.dumps({"text": "x", "label": "nope"}) + "\n"
    )
    (folder / "test.jsonl").write_text("")
    with pytest.raises(LocalDataError, match=rf"^{folder / 'train.jsonl'}:2: label 'nope' is not one of"):
        load_local_task("Banking77Classification", tmp_path)
