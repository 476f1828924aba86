"""Model cards (README.md) for an exported run: the student's (`final/`) and the asymmetric Router's (`router/`),
each with Hugging Face metadata - `base_model` as hub ids, never leafbench aliases - and a `model-index` of the
evaluation results the run recorded (mteb's task, dataset and main-score names).

Cards are rendered from the run's summary.json alone, so `leafbench push` can render them again, naming the repos
they go to.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["eval_record", "hub_id", "model_card", "router_card"]

TAGS = ["sentence-transformers", "feature-extraction", "sentence-similarity", "leaf", "distillation"]
# mteb's task types as Hugging Face task ids (mteb's own `get_hf_eval_results` uses the same mapping).
HF_TASK_TYPE = {"Retrieval": "text-retrieval", "STS": "sentence-similarity"}
MAIN_SCORE = {"Retrieval": "ndcg_at_10", "STS": "cosine_spearman"}
_PROTOCOL = re.compile(r"^(?P<task>\S+) (?P<split>\S+): (?P<queries>\d+) queries x (?P<documents>\d+) docs$")


def hub_id(name: str | None) -> str | None:
    """The Hugging Face hub id of a recipe's model name: a leafbench alias's hub id (`minilm-l6` ->
    `sentence-transformers/all-MiniLM-L6-v2`), a hub id as it is (without `@revision`), the `hf_id` a model
    folder's leafbench.json names; None for a folder without one (a card then names no base model)."""
    from leafbench.registry import ALIASES

    if not name:
        return None
    if name in ALIASES:
        return ALIASES[name].hf_id
    path = Path(name).expanduser()
    if path.exists():
        import json

        try:
            return json.loads((path / "leafbench.json").read_text()).get("hf_id")
        except (OSError, ValueError):
            return None
    if name.count("/") == 1 and not name.startswith((".", "/", "~")):
        return name.partition("@")[0]
    return None


def _num(x: float | None, digits: int = 2) -> str:
    """A number as people write it: 1.4285714 -> "1.43", 3.0 -> "3"."""
    if x is None:
        return "?"
    return f"{float(x):.{digits}f}".rstrip("0").rstrip(".")


def _score(x: float | None) -> str:
    return "-" if x is None else f"{x:.4f}"


def _pct(x: float | None, ref: float | None) -> str:
    return f" ({100 * x / ref:.1f}%)" if x is not None and ref else ""


def eval_record(data: Any) -> dict[str, Any]:
    """What a card needs to know about the retrieval data of the final evaluation (summary.json's
    `retrieval_eval`): task, split, sizes, and how it was cut (RetrievalData.subset_spec)."""
    return {
        "task": data.task_name,
        "split": data.split,
        "queries": data.n_queries,
        "documents": data.n_docs,
        "subset": data.subset_spec,
    }


def _retrieval_eval(summary: dict[str, Any], task: str) -> dict[str, Any]:
    """The recorded retrieval evaluation of `task`; for a run recorded before `retrieval_eval` existed, what its
    protocol line says."""
    rec = summary.get("retrieval_eval") or {}
    if rec.get("task") == task:
        return rec
    m = _PROTOCOL.match(str(summary.get("retrieval_protocol", "")))
    if m and m["task"] == task:
        return {"task": task, "split": m["split"], "queries": int(m["queries"]), "documents": int(m["documents"])}
    return {"task": task, "split": "test"}


@lru_cache(maxsize=None)
def _mteb_dataset(task: str, split: str) -> dict[str, Any]:
    """mteb's copy of a task, read from its registry offline: dataset path, revision and the split's sizes; empty
    when mteb is missing or does not know the task."""
    try:
        from leafbench.data.mteb_tasks import mteb_sizes, mteb_task

        t = mteb_task(task)
        ds = t.metadata.dataset
        return {"path": str(ds["path"]), "revision": str(ds.get("revision") or ""), **mteb_sizes(t, split)}
    except Exception:  # noqa: BLE001 - no mteb, or a user's own task: the card names the task only
        return {}


def _cut(rec: dict[str, Any], ds: dict[str, Any]) -> str:
    """How the evaluated data differs from mteb's copy of the task: "" (it does not), "a subset", "a local copy"."""
    if "subset" in rec:  # recorded by the run (RetrievalData.subset_spec)
        spec = rec["subset"] or {}
        if "max_queries" in spec or "max_docs" in spec:
            return "a subset"
        return "a local copy" if "local_copy" in spec else ""
    q, d = rec.get("queries"), rec.get("documents")  # a run recorded before: its sizes against mteb's
    if q is not None and d is not None and ds.get("queries") and ds.get("documents"):
        return "a subset" if q < ds["queries"] or d < ds["documents"] else ""
    return ""


def _eval_result(task: str, kind: str, value: float, rec: dict[str, Any]):
    """One model-index entry, shaped as mteb's `get_hf_eval_results` shapes them; data that is not mteb's copy of
    the task (a subset, a local copy) says so in its name, and claims no mteb revision for a local copy."""
    from huggingface_hub import EvalResult

    split = rec.get("split", "test")
    ds = _mteb_dataset(task, split)
    cut = _cut(rec, ds)
    sizes = {k: rec[k] for k in ("queries", "documents") if rec.get(k) is not None}
    name = f"MTEB {task}"
    if len(sizes) == 2:
        name += f" ({cut + ': ' if cut else ''}{sizes['queries']} queries x {sizes['documents']} documents)"
    return EvalResult(
        task_type=HF_TASK_TYPE[kind],
        task_name=kind,
        dataset_type=ds.get("path") or task,
        dataset_name=name,
        dataset_config="default",
        dataset_split=split,
        dataset_revision=(ds.get("revision") or None) if cut != "a local copy" else None,
        dataset_args=sizes or None,
        metric_type=MAIN_SCORE[kind],
        metric_name=MAIN_SCORE[kind],
        metric_value=round(float(value), 5),
    )


def _eval_results(summary: dict[str, Any], retrieval_mode: str, sts_mode: str | None) -> list:
    """The run's final evaluation as model-index entries: retrieval nDCG@10 in `retrieval_mode` (student,
    asymmetric), STS Spearman in `sts_mode` (None: none)."""
    m = summary.get("final_metrics") or {}
    out = []
    for task, r in (m.get("retrieval") or {}).items():
        if r.get(retrieval_mode) is not None:
            out.append(_eval_result(task, "Retrieval", r[retrieval_mode], _retrieval_eval(summary, task)))
    for task, r in (m.get("sts") or {}).items() if sts_mode else ():
        if r.get(sts_mode) is not None:
            out.append(_eval_result(task, "STS", r[sts_mode], {"split": "test"}))
    return out


def _front_matter(base_model: list[str] | str | None, name: str, results: list, tags: list[str]) -> str:
    from huggingface_hub import ModelCardData

    data = ModelCardData(
        base_model=base_model or None,
        library_name="sentence-transformers",
        pipeline_tag="sentence-similarity",
        tags=tags,
        model_name=name if results else None,
        eval_results=results or None,
    )
    return f"---\n{data.to_yaml()}\n---\n"


def _results_table(summary: dict[str, Any]) -> tuple[str, str]:
    """The markdown table of the final evaluation, and the notes its rows need (none for rows it lacks)."""
    m = summary.get("final_metrics") or {}
    rows, notes = [], []
    for task, r in (m.get("retrieval") or {}).items():
        t = r.get("teacher")
        rows.append(
            f"| {task} nDCG@10 | {_score(r.get('student'))}{_pct(r.get('student'), t)} | "
            f"{_score(r.get('asymmetric'))}{_pct(r.get('asymmetric'), t)} | {_score(t)} |"
        )
    if rows:
        notes.append(
            "Retrieval: leafbench's exact dense search + mteb's metric code, "
            f"{summary.get('retrieval_protocol', 'full test split')}."
        )
    for task, r in (m.get("sts") or {}).items():
        t = r.get("teacher")
        rows.append(f"| {task} Spearman* | {_score(r.get('student'))}{_pct(r.get('student'), t)} | - | {_score(t)} |")
    if m.get("sts"):
        notes.append(
            "*STS: Spearman of cosine similarity computed directly on the local test files (not mteb's evaluator)."
        )
    adapted = summary.get("adaptation")
    if isinstance(adapted, dict):
        notes.insert(
            0,
            f"**Transductive**: trained on texts cut from the evaluation corpus ({adapted.get('corpus')}, sources "
            f"{', '.join(adapted.get('sources') or [])}), without its labels. These are not zero-shot scores.",
        )
    untrained = m.get("untrained") or {}
    if untrained:
        notes.append(
            "Before training (same evaluation): " + ", ".join(f"{k} {v:.4f}" for k, v in untrained.items()) + "."
        )
    if not rows:
        return "No final evaluation was recorded for this run.", "\n\n".join(notes)
    head = "| metric | student mode | asymmetric (student queries, teacher docs) | teacher |\n|---|---|---|---|\n"
    return head + "\n".join(rows), "\n\n".join(notes)


def _training_line(summary: dict[str, Any]) -> str:
    where = summary.get("hardware") or "CPU"
    finished = "; evaluated where the teacher is, after --finish" if summary.get("bundle") else ""
    counts = summary.get("text_counts") or {}
    mix = f" ({', '.join(f'{k} {v}' for k, v in counts.items())})" if isinstance(counts, dict) and counts else ""
    return (
        f"Training: {summary.get('n_train_texts')} texts{mix}, {_num(summary.get('epochs'))} epochs "
        f"({summary.get('steps')} steps), batch {summary.get('batch_size')}, {summary.get('train_minutes') or 0:.1f} "
        f"min at {summary.get('texts_per_s') or 0:.1f} texts/s on {where}{finished}. Teacher targets: "
        f"{_model_name(summary.get('teacher'))} ({summary.get('teacher_precision')})."
    )


def _model_name(name: str | None) -> str:
    """A recipe's model as a hub reader knows it: its hub id (not a leafbench alias), else the name given."""
    return f"`{hub_id(name) or name}`"


def _architecture(summary: dict[str, Any]) -> str:
    dims = summary.get("dims") or {}
    layers = summary.get("student_layers")
    return (
        f"{_model_name(summary.get('student_backbone'))} ({f'layers {layers}' if layers else 'all layers'}) → mean "
        f"pooling → Dense({dims.get('student')}→{dims.get('teacher')}, identity) → Normalize"
    )


def model_card(summary: dict[str, Any], repo_id: str | None = None, router: str | bool = False) -> str:
    """README.md of the exported student (`final/`): what it is, how to use it, the numbers measured here.
    `repo_id`: the hub repo it goes to (else a local path in the example); `router`: where its Router model is -
    a hub repo id, True for the run's local `router/` folder, False when none was exported."""
    name = repo_id.split("/")[-1] if repo_id else summary.get("name", "leaf-student")
    # A transductive student's scores stay off the hub's model-index, where they would read as zero-shot.
    results = [] if summary.get("adaptation") else _eval_results(summary, "student", "student")
    table, notes = _results_table(summary)
    where = repo_id or "path/to/final"
    router_line = ""
    if router:
        place = (
            f"[{router}](https://huggingface.co/{router})"
            if isinstance(router, str)
            else "The `router/` folder next to this one"
        )
        router_line = (
            f"\n{place} holds one model with both routes: `encode_query` runs this student, `encode_document` "
            "the teacher.\n"
        )
    return f"""{_front_matter(hub_id(summary.get("student_backbone")), name, results, TAGS)}
# {name}

A LEAF student (arXiv 2509.12539) distilled with `leafbench distill --recipe {summary.get("recipe")}`:
{_architecture(summary)}, trained only with the squared L2 distance to the embeddings of the teacher
{_model_name(summary.get("teacher"))}. Its embeddings live in the teacher's space, so queries can be encoded by this
student while documents keep the teacher's embeddings (asymmetric retrieval).

## Use

```python
from sentence_transformers import SentenceTransformer
student = SentenceTransformer("{where}")
q = student.encode_query(["how do vaccines work?"])      # applies the teacher's query prompt
d = student.encode_document(["Vaccines train the immune system ..."])
```
{router_line}
## Results

{table}

{notes}

{_training_line(summary)}
"""


def _prompts(prompts: dict[str, str]) -> str:
    if not any(prompts.values()):
        return "this teacher uses no prompts"
    return f"query prompt {prompts.get('query', '')!r}, document prompt {prompts.get('document', '')!r}"


def router_card(
    summary: dict[str, Any],
    prompts: dict[str, str] | None = None,
    repo_id: str | None = None,
    student: str | None = None,
) -> str:
    """README.md of the Router model (`router/`): queries go to the student, documents to the teacher.
    `prompts`: the query/document prompts it applies; `repo_id`: the hub repo it goes to; `student`: the student's
    own hub repo, if it has one (its base model then; else the student's backbone)."""
    name = repo_id.split("/")[-1] if repo_id else f"{summary.get('name', 'leaf-student')}-router"
    teacher = hub_id(summary.get("teacher"))
    bases = list(dict.fromkeys(b for b in (student or hub_id(summary.get("student_backbone")), teacher) if b))
    results = [] if summary.get("adaptation") else _eval_results(summary, "asymmetric", None)
    table, notes = _results_table(summary)
    student_ref = f"[{student}](https://huggingface.co/{student})" if student else "the LEAF student"
    dim = (summary.get("dims") or {}).get("teacher")
    return f"""{_front_matter(bases[0] if len(bases) == 1 else bases, name, results, [*TAGS, "router", "asymmetric"])}
# {name}

One sentence-transformers model with two routes (a `Router` module), for asymmetric retrieval:

- **queries → the student**: {student_ref}, {_architecture(summary)}, distilled with
  `leafbench distill --recipe {summary.get("recipe")}`;
- **documents → the teacher**: {_model_name(summary.get("teacher"))}.

Both routes end in the teacher's {dim}-d space, so a query from the student and a document from the teacher
compare by cosine: documents are embedded once by the teacher, queries by the cheaper student.

## Use

```python
from sentence_transformers import SentenceTransformer
model = SentenceTransformer("{repo_id or "path/to/router"}")
q = model.encode_query(["how do vaccines work?"])                 # student route, query prompt
d = model.encode_document(["Vaccines train the immune system ..."])  # teacher route, document prompt
scores = model.similarity(q, d)
```

`encode_query` / `encode_document` choose the route and the prompt ({_prompts(prompts or {})}). `model.encode(texts)`
without a task runs the query route (the student), with no prompt; `model.encode(texts, task="document")` runs
the teacher.

## Results

The asymmetric column is this model (student queries, teacher documents).

{table}

{notes}

{_training_line(summary)}
"""
