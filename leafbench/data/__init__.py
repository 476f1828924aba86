"""Loading of BEIR-style retrieval data, offline first.

The benchmark must run on machines without network access, so a local BEIR folder
(``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``) is always preferred; the
Hugging Face path goes through mteb's own task object so that the data (and the
document-text construction) is exactly what mteb evaluates.

Every problem with the input data raises :class:`DataError` with a one-line message that
names the file and, where it helps, the 1-based line number.

One concept a module: ``errors`` (the DataError family), ``retrieval`` (RetrievalData and its subsets),
``fingerprint`` (content hashes of what is scored), ``data_warnings`` (odd but usable data), ``names`` (task
names and local folders), ``beir`` (BEIR folder files), ``assembly`` (rows to RetrievalData), ``mteb_split``
(mteb's split data), ``mteb_tasks`` (mteb's registry), ``local_copy`` (local copies that are not mteb's),
``loading`` (a task's data, local or from the hub), ``corpus_file`` (a big corpus streamed from its file),
``arrow_corpus`` (a hub task's corpus kept as its Arrow table),
``location`` (a data dir or folder on this disk or at a URL: ``s3://…``, any fsspec scheme). Import the names from
this package.

mteb is imported lazily (it takes seconds); this package never imports torch.
"""

from __future__ import annotations

from .arrow_corpus import ArrowFiles, ArrowIds, ArrowTexts, read_arrow_slice
from .beir import load_beir_folder, read_qrels, read_queries
from .corpus_file import StreamedIds, StreamedTexts, take_items
from .data_warnings import WARNING_KINDS, describe_warnings
from .errors import DataError, IncompleteAggregateError, NoDataError
from .loading import (
    DATA_DIR_ENV,
    load_aggregate_parts,
    load_retrieval_parts,
    load_retrieval_task,
    task_data_warnings,
)
from .local_copy import is_local_copy, mark_local_copies
from .location import DataPath, RemotePath, check_data_dir, data_location, open_data_dir
from .mteb_split import retrieval_data_from_mteb_split
from .mteb_tasks import aggregate_subtasks, mteb_sizes
from .names import (
    AGGREGATE_FOLDERS,
    TASKS,
    aggregate_local_folders,
    find_local_folder,
    resolve_task_name,
    subtask_folder,
)
from .retrieval import LOCAL_COPY, RetrievalData, doc_text

__all__ = [
    "ArrowFiles",
    "ArrowIds",
    "ArrowTexts",
    "AGGREGATE_FOLDERS",
    "DATA_DIR_ENV",
    "LOCAL_COPY",
    "TASKS",
    "WARNING_KINDS",
    "DataError",
    "DataPath",
    "IncompleteAggregateError",
    "NoDataError",
    "RemotePath",
    "RetrievalData",
    "StreamedIds",
    "StreamedTexts",
    "aggregate_local_folders",
    "aggregate_subtasks",
    "check_data_dir",
    "data_location",
    "describe_warnings",
    "doc_text",
    "find_local_folder",
    "is_local_copy",
    "load_aggregate_parts",
    "load_beir_folder",
    "load_retrieval_parts",
    "load_retrieval_task",
    "mark_local_copies",
    "mteb_sizes",
    "open_data_dir",
    "read_arrow_slice",
    "read_qrels",
    "read_queries",
    "resolve_task_name",
    "retrieval_data_from_mteb_split",
    "subtask_folder",
    "take_items",
    "task_data_warnings",
]
