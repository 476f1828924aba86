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
- STSBenchmark: ``train``/``validation`` (dev.jsonl)/``test`` as on the hub, and ``dev``: the same dev.jsonl under its
  own name (``--eval-splits dev``); mteb evaluates ``test`` only.
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

from .build import LocalDataError, _build_split, load_local_task
from .specs import (
    BANKING77_LABELS,
    LOCAL_TASKS,
    LocalSpec,
    local_root,
    local_task_names,
)

__all__ = [
    "BANKING77_LABELS",
    "LOCAL_TASKS",
    "LocalDataError",
    "LocalSpec",
    "_build_split",
    "load_local_task",
    "local_root",
    "local_task_names",
]
