"""The options of `leafbench run`, declared once as typed aliases (typer reads them from the annotations), so the
command's signature stays a list of names and each option's help lives next to its type."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

DEBUG_ENV = "LEAFBENCH_DEBUG"

MODE_HELP = (
    "student | teacher | asymmetric | all (comma lists allowed). asymmetric: the TEACHER encodes documents, the "
    "STUDENT encodes queries; their output dims must match. Tasks without a query/document split (STS, "
    "classification, clustering, pair classification, summarization): the teacher encodes only document-role "
    "texts (retrieval corpora, reranking candidates), the student everything else. all: the three modes, "
    "sharing every encoding."
)

Model = Annotated[str, typer.Option("--model", "-m", help="Alias (see `leafbench models`), HF id, or model folder.")]

Teacher = Annotated[
    Optional[str],
    typer.Option(
        "--teacher",
        help="Teacher alias/id/folder, for the modes that run it (teacher, asymmetric, all). Default: the model's "
        "own (alias or manifest). Long form only: -t is --tasks, as in mteb.",
    ),
]

ModelRevision = Annotated[
    Optional[str],
    typer.Option(
        "--model-revision",
        help="Commit, branch or tag of a hub model (as in mteb; the same as --model org/name@REV). Recorded in "
        "every result; without one a hub model's commit is resolved when possible and marked unpinned otherwise.",
    ),
]

Mode = Annotated[str, typer.Option("--mode", help=MODE_HELP)]

Tasks = Annotated[
    Optional[str],
    typer.Option(
        "--tasks",
        "-t",
        help='Task names as mteb spells them (SciFact,NFCorpus), a benchmark ("BEIR", "NanoBEIR", '
        '"MTEB(eng, v2)"), or your own BEIR-layout folder (./my-corpus, or a folder name under --data-dir; '
        "named by its folder). Aggregates (CQADupstackRetrieval) run every sub-task and report their mean. "
        "Default: the model's benchmark (leaf-ir: BEIR, leaf-mt: MTEB(eng, v2)), else NanoBEIR.",
    ),
]

Benchmarks = Annotated[
    Optional[str],
    typer.Option(
        "--benchmarks",
        "-b",
        help='Benchmarks as mteb names them ("BEIR", "NanoBEIR", "MTEB(eng, v2)"; comma lists allowed), run with '
        "any --tasks.",
    ),
]

TaskTypes = Annotated[
    Optional[str], typer.Option("--task-types", help="Keep only these mteb task types, e.g. STS,Classification.")
]

ExcludeTasks = Annotated[
    Optional[str],
    typer.Option(
        "--exclude-tasks",
        help="Leave these tasks out of the selection (e.g. a benchmark's most expensive one); recorded as skipped in run.json.",
    ),
]

DataDir = Annotated[
    Optional[str],
    typer.Option(
        "--data-dir",
        envvar="LEAFBENCH_DATA_DIR",
        help="Local data: BEIR folders (DIR/beir/scifact/corpus.jsonl ...) and/or mteb task files (DIR/mteb/sts/<Task>/...); "
        "BEIR folders may also be at a URL (s3://bucket/prefix, gs://..., any fsspec scheme); see docs/evaluation.md.",
    ),
]

Split = Annotated[
    Optional[str],
    typer.Option(help="Retrieval split to evaluate. Default: the task's mteb eval split; 'test' for your own folders."),
]

EvalSplits = Annotated[
    Optional[str],
    typer.Option(
        "--eval-splits",
        help="Splits to score every task on, as in mteb (comma list; default: each task's own eval splits). "
        "Retrieval scores one split (the same as --split). A run on other splits writes its own run folder.",
    ),
]

Output = Annotated[Path, typer.Option("--output", "-o", help="Results folder (one JSON per model/pair, mode, task).")]

CacheDir = Annotated[
    Optional[str],
    typer.Option(
        "--cache-dir",
        envvar="LEAFBENCH_CACHE_DIR",
        help="Embedding store and assembled models. Default: user cache dir. An s3:// / gs:// / az:// URI holds the "
        "embedding store only (a Lance store at <uri>/embeddings; credentials and endpoint from AWS_* / GOOGLE_* / "
        "AZURE_* env vars); models stay in the local default cache.",
    ),
]

BatchSize = Annotated[int, typer.Option(min=1, help="Texts per forward pass.")]

MaxSeqLength = Annotated[
    Optional[int], typer.Option(min=1, help="Override the models' max_seq_length (part of the cache key).")
]

TeacherMaxSeqLength = Annotated[
    Optional[int],
    typer.Option(
        min=1,
        help="The teacher's max_seq_length when it should differ from the student's (default: --max-seq-length, else the teacher's own).",
    ),
]

Precision = Annotated[str, typer.Option(help="fp32 | bf16 | fp16 inference (bf16: fast on CPUs with avx512_bf16).")]

Backend = Annotated[
    str,
    typer.Option(
        help="torch | torch-int8 | onnx | onnx-int8 | openvino | openvino-bf16 (CPU; part of the cache key). See README 'CPU backends'."
    ),
]

Threads = Annotated[
    Optional[int],
    typer.Option(min=1, help="Intra-op threads for torch / ONNX Runtime / OpenVINO (recorded). Default: torch's."),
]

Device = Annotated[Optional[str], typer.Option(help="cpu | cuda | mps. Default: best available.")]

MaxQueries = Annotated[Optional[int], typer.Option(min=1, help="Evaluate on a seeded subset of this many queries.")]

MaxDocs = Annotated[
    Optional[int],
    typer.Option(min=1, help="With a subset: keep the relevant docs plus random distractors up to this many."),
]

Dims = Annotated[
    Optional[str], typer.Option(help="Matryoshka dims, e.g. full,512,256,128 (truncate, then re-normalise).")
]

Dtypes = Annotated[
    Optional[str],
    typer.Option(
        help="Output dtypes: float32,float16,bfloat16,int8,uint8,binary,ubinary. Every dims x dtypes cell comes from one encoding pass."
    ),
]

Calibration = Annotated[
    str,
    typer.Option(
        help="int8/uint8 ranges: corpus (document min/max, shared by queries) | fixed (--ranges-file) | mteb (mteb CompressionWrapper parity)."
    ),
]

RangesFile = Annotated[Optional[Path], typer.Option(help="Fixed int8 ranges: .npy [2, dim] or JSON {min, max}.")]

Rescore = Annotated[
    Optional[int], typer.Option(help="Binary cells: re-rank the top rescore*k by float query x binary document.")
]

Force = Annotated[bool, typer.Option("--force", help="Recompute cells whose result file already exists.")]

OverwriteStrategy = Annotated[
    Optional[str],
    typer.Option(
        "--overwrite-strategy",
        help="As in mteb: only-missing (default: compute cells without a result, or whose result was measured on "
        "other data, models or code) | always (recompute every cell, as --force) | never (never replace a result "
        "file: one measured on anything else is an error naming it).",
    ),
]

ShardSize = Annotated[
    int,
    typer.Option(
        min=1,
        help="Most rows per embedding-store shard (rows are also committed every 30 s, so an interruption loses at most that much encoding).",
    ),
]

Search = Annotated[
    str,
    typer.Option(
        help="Exact top-k over the streamed corpus by torch | faiss (faiss.knn; GPU when faiss has one). Same scores."
    ),
]

Engine = Annotated[
    str,
    typer.Option(
        help="Where missing texts are encoded: local (this process) | ray (Ray Data actor pool, one model per worker; needs the ray extra: pip install leafbench\\[ray])."
    ),
]

RayAddress = Annotated[
    Optional[str],
    typer.Option(
        help="--engine ray: address of an existing Ray cluster (e.g. ray://head:10001 or auto). Default: start a local one."
    ),
]

Workers = Annotated[
    Optional[int], typer.Option(min=1, help="--engine ray: encoding actors. Default: one per GPU, else 2.")
]

StoreFormat = Annotated[
    str,
    typer.Option(
        "--store-format",
        help="Embedding store format: auto (the format the --cache-dir store has; a new store: lance) | lance (one "
        "Lance dataset per space, few large files; local or object storage) | shards (format 2: .npy shard files "
        "per space; local only). A Lance store imports the format-2 shards of its --cache-dir on first use.",
    ),
]

Strict = Annotated[
    bool,
    typer.Option(
        "--strict",
        help="Data warnings (empty texts, qrels naming unknown ids, conflicting qrels) are errors, exit 2.",
    ),
]

Verbose = Annotated[bool, typer.Option("--verbose", "-v")]

Debug = Annotated[
    bool, typer.Option("--debug", help=f"Show the full traceback of unexpected errors (also {DEBUG_ENV}=1).")
]
