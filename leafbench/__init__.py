"""leafbench: evaluate LEAF students, teachers and asymmetric pairs on BEIR and MTEB.

The library is what ``leafbench run`` calls; it never prints. A complete run on a tiny BEIR-layout folder with
the deterministic test encoder ``hash-64`` (no download, a few seconds)::

    >>> import json, tempfile
    >>> from pathlib import Path
    >>> import leafbench
    >>> tmp = Path(tempfile.mkdtemp())
    >>> corpus = tmp / "data" / "tiny"
    >>> corpus.mkdir(parents=True)
    >>> docs = {"d1": "cats purr", "d2": "dogs bark", "d3": "fish swim"}
    >>> _ = (corpus / "corpus.jsonl").write_text("".join(json.dumps({"_id": k, "text": v}) + "\\n" for k, v in docs.items()))
    >>> _ = (corpus / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "cats purr"}) + "\\n")
    >>> (corpus / "qrels").mkdir()
    >>> _ = (corpus / "qrels" / "test.tsv").write_text("query-id\\tcorpus-id\\tscore\\nq1\\td1\\t1\\n")
    >>> report = leafbench.run_benchmark("hash-64", tasks=str(corpus), output=tmp / "results",
    ...                                  cache_dir=tmp / "cache", dims=[32, None])
    >>> report.run, report.tasks, report.n_scored
    ('hash-64', ['tiny'], 2)
    >>> records = leafbench.load_results(tmp / "results")
    >>> sorted((r.task_name, r.dim_label, r.dtype_label) for r in records)
    [('tiny', '32', 'float32'), ('tiny', 'full', 'float32')]
    >>> all(0.0 <= r.main_score <= 1.0 and r.data_fingerprint for r in records)
    True
    >>> import shutil; shutil.rmtree(tmp)

``run_benchmark(model, **options)`` is ``execute(plan_run(model, **options))``: the typed plan (modes, cells, models
by role, tasks, workspace) is built and checked before any encoding, and can be inspected or changed first.
``report.summary_table()`` is the table the CLI prints; ``leafbench.results_frame(folder)`` gives a pandas
frame; ``leafbench.record`` holds the result schema (``ResultRecord``, ``RunManifest``, ``SCHEMA_VERSION``).
"""

from .api import RunPlan, RunReport, execute, load_results, plan_run, results_frame, run_benchmark  # noqa: E402
from .cells import Cell  # noqa: E402
from .errors import UserError  # noqa: E402
from .modes import Mode  # noqa: E402
from .record import SCHEMA_VERSION, ResultRecord, RunManifest, SchemaError  # noqa: E402
from .version import __version__  # noqa: E402
from .workspace import Workspace  # noqa: E402

__all__ = [
    "Cell",
    "Mode",
    "ResultRecord",
    "RunManifest",
    "RunPlan",
    "RunReport",
    "SCHEMA_VERSION",
    "SchemaError",
    "UserError",
    "Workspace",
    "__version__",
    "execute",
    "load_results",
    "plan_run",
    "results_frame",
    "run_benchmark",
]
