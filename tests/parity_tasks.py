"""The tasks the mteb parity tests evaluate both ways, and the reference side (mteb.evaluate with the plain model).

Shared by the parity tests and `benchmarks/noise.py`, which measures how far each of these scores moves when the
same texts are encoded in other batch compositions and thread counts: the tolerances of the parity tests come
from that measurement (benchmarks/results/noise.json).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Test splits cut to keep CI in minutes.
N_TEST = {"STSBenchmark": 400, "SICK-R": 400, "Banking77Classification": 600}

# Tolerances of the parity tests: leafbench (store-backed encoder) vs mteb.evaluate (plain model) on the same texts.
# A store shared by many tests serves rows encoded in other batches, thread counts or processes, and a score over
# near-ties could move with their last bits. `benchmarks/noise.py` measured it (benchmarks/results/noise.json): over
# ten encodings of every task below (batch 8/32/128, random batch compositions, 1 and 2 threads, and four draws of
# a 4-ulp relative error on every embedding value), no score moved at all (max |ours - mteb| = 0 for all 8 tasks).
# The one deviation ever seen is CI's 1.5e-6 on STSBenchmark (0.9237801297 vs 0.9237816349: a few near-tie
# swaps of the Spearman, on another machine and test order). Each tolerance is >= 10x that, and at least a
# metric's own step where one is coarse (one of 600 predictions, over mteb's 2 few-shot draws, moves accuracy by
# 8.3e-4), yet well below what a small real change of the encoding moves the score (the same file's "signal":
# the model reading 16 tokens instead of 256 moves retrieval 0.16, reranking 0.13, classification 0.031,
# clustering 0.025, SICK-R 0.019, pair classification 1.8e-3, STSBenchmark 1.3e-3; summarization's short texts
# do not change).
TOLERANCE = {
    "Retrieval": 1e-4,
    "STS": 2e-5,
    "Classification": 2e-3,
    "PairClassification": 1e-4,
    "Clustering": 1e-3,
    "Reranking": 1e-4,
    "Summarization": 1e-4,
}


def tolerance(task_type: str) -> float:
    """The parity tolerance of one mteb task type (see TOLERANCE for where each number comes from)."""
    return TOLERANCE[task_type]


def cut_task(task: Any, n: int) -> Any:
    """The task with each evaluation split cut to its first `n` rows and fewer few-shot draws (same on both sides)."""
    from datasets import Dataset

    if hasattr(task, "n_experiments"):
        task.n_experiments = 2
    # Monolingual tasks hold {split: Dataset}; multilingual ones {subset: {split: Dataset}}.
    groups = (
        [task.dataset] if all(isinstance(v, Dataset) for v in task.dataset.values()) else list(task.dataset.values())
    )
    for splits in groups:
        for split in list(splits):
            if split in task.metadata.eval_splits and len(splits[split]) > n:
                splits[split] = splits[split].select(range(n))
    return task


def local_task(name: str, shared_data: Path) -> Callable[[], Any]:
    """Factory: a local STS/classification task (leafbench.mteb_local) cut to N_TEST[name] rows."""

    def make():
        from leafbench.mteb_local import load_local_task

        return cut_task(load_local_task(name, shared_data), N_TEST[name])

    return make


def _jsonl(path: Path, n: int) -> list[dict[str, Any]]:
    with path.open() as f:
        return [json.loads(line) for _, line in zip(range(n), f)]


def _retrieval_task(
    name: str, scifact_dir: Path, doc_ids: list[str], qids: list[str], qtexts: list[str], qrels: dict, top: Any
) -> Callable[[], Any]:
    """Factory: mteb's task `name` holding these SciFact queries, judgements and documents (raw title/text columns
    from corpus.jsonl, so mteb builds document texts itself); `top`: reranking candidates, or None."""
    from datasets import Dataset

    raw = {r["_id"]: r for r in map(json.loads, (scifact_dir / "corpus.jsonl").open())}
    corpus = [{"id": d, "title": raw[d].get("title") or "", "text": raw[d]["text"]} for d in doc_ids]

    def make():
        import mteb

        task = mteb.get_task(name)
        task.dataset = {
            "default": {
                "test": {
                    "corpus": Dataset.from_list(corpus),
                    "queries": Dataset.from_dict({"id": qids, "text": qtexts}),
                    "relevant_docs": {q: dict(qrels[q]) for q in qids},
                    "top_ranked": top,
                }
            }
        }
        task.data_loaded = True
        return task

    return make


def scifact_task(data: Any, scifact_dir: Path) -> Callable[[], Any]:
    """Factory: mteb's SciFact task object holding exactly the subset `data`."""
    return _retrieval_task("SciFact", scifact_dir, data.corpus_ids, data.query_ids, data.query_texts, data.qrels, None)


def pair_classification_task(shared_data: Path) -> Callable[[], Any]:
    """TwitterSemEval2015 filled with STSBenchmark pairs (label: score >= 3)."""
    from datasets import Dataset

    rows = _jsonl(shared_data / "mteb" / "sts" / "STSBenchmark" / "test.jsonl", 300)

    def make():
        import mteb

        task = mteb.get_task("TwitterSemEval2015")
        task.dataset = {
            "test": Dataset.from_dict(
                {
                    "sentence1": [r["sentence1"] for r in rows],
                    "sentence2": [r["sentence2"] for r in rows],
                    "labels": [int(r["score"] >= 3.0) for r in rows],  # paraphrase-like pairs
                }
            )
        }
        task.data_loaded = True
        return task

    return make


def clustering_task(shared_data: Path) -> Callable[[], Any]:
    """TwentyNewsgroupsClustering.v2 filled with 400 Banking77 texts of 8 intents."""
    from datasets import Dataset

    rows = _jsonl(shared_data / "mteb" / "classification" / "Banking77" / "train.jsonl", 10_000)
    labels = sorted({r["label"] for r in rows})[:8]
    rows = [r for r in rows if r["label"] in labels][:400]

    def make():
        import mteb

        task = mteb.get_task("TwentyNewsgroupsClustering.v2")
        task.dataset = {
            "test": Dataset.from_dict(
                {"sentences": [r["text"] for r in rows], "labels": [labels.index(r["label"]) for r in rows]}
            )
        }
        task.max_fraction_of_documents_to_embed = None
        task.max_document_to_embed = len(rows)
        task.n_clusters = 3
        task.data_loaded = True
        return task

    return make


def reranking_task(data: Any, scifact_dir: Path) -> Callable[[], Any]:
    """AskUbuntuDupQuestions filled with 25 SciFact queries, each with its relevant docs and 12 random candidates."""
    rng = random.Random(0)
    qids = data.query_ids[:25]
    top = {q: sorted(set(data.qrels[q]) | set(rng.sample(data.corpus_ids, 12))) for q in qids}
    docs = sorted({d for ds in top.values() for d in ds})
    qtext = dict(zip(data.query_ids, data.query_texts))
    return _retrieval_task("AskUbuntuDupQuestions", scifact_dir, docs, qids, [qtext[q] for q in qids], data.qrels, top)


def summarization_task(shared_data: Path) -> Callable[[], Any]:
    """SummEvalSummarization.v2 filled with STSBenchmark pairs: 60 "texts" of 4 candidate "summaries" each."""
    from datasets import Dataset

    rows = _jsonl(shared_data / "mteb" / "sts" / "STSBenchmark" / "test.jsonl", 240)
    groups = [rows[i : i + 4] for i in range(0, len(rows), 4)]

    def make():
        import mteb

        task = mteb.get_task("SummEvalSummarization.v2")
        task.dataset = {
            "test": Dataset.from_dict(
                {
                    "id": [str(i) for i in range(len(groups))],
                    "text": [" ".join(r["sentence1"] for r in g) for g in groups],
                    "human_summaries": [[g[0]["sentence1"], g[1]["sentence1"]] for g in groups],
                    "machine_summaries": [[r["sentence2"] for r in g] for g in groups],
                    "relevance": [[float(r["score"]) for r in g] for g in groups],
                }
            )
        }
        task.data_loaded = True
        return task

    return make


def other_type_tasks(shared_data: Path, scifact_small: Any, scifact_dir: Path) -> dict[str, Callable[[], Any]]:
    """Task types without a local copy, filled with real local texts in that type's format."""
    return {
        "PairClassification": pair_classification_task(shared_data),
        "Clustering": clustering_task(shared_data),
        "Reranking": reranking_task(scifact_small, scifact_dir),
        "Summarization": summarization_task(shared_data),
    }


def mteb_result(task: Any, model_path: str) -> Any:
    """mteb.evaluate's TaskResult for a task object with the plain SentenceTransformer (the reference side)."""
    import warnings

    import mteb
    from mteb.models import SentenceTransformerEncoderWrapper
    from sentence_transformers import SentenceTransformer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = mteb.evaluate(
            SentenceTransformerEncoderWrapper(SentenceTransformer(model_path, device="cpu")),
            [task],
            cache=None,
            show_progress_bar=False,
        )
    return res.task_results[0]


def mteb_main_score(task: Any, model_path: str) -> float:
    """The reference main score (mteb's mean over the task's evaluated splits and subsets)."""
    return mteb_result(task, model_path).get_score()
