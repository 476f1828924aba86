"""Every BEIR task and the user's own corpora: mteb aggregate tasks (CQADupstackRetrieval), multi-subset
retrieval tasks, and any BEIR-layout folder as a task — scored as mteb scores them."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leafbench.cli import app
from leafbench.data import DataError, aggregate_local_folders, load_retrieval_parts, subtask_folder
from leafbench.record import build_result, combine_aggregate, main_score

from parity_tasks import tolerance

runner = CliRunner()

FORUMS = (
    "android",
    "english",
    "gaming",
    "gis",
    "mathematica",
    "physics",
    "programmers",
    "stats",
    "tex",
    "unix",
    "webmasters",
    "wordpress",
)
CQA_SUBTASKS = [f"CQADupstack{f.capitalize()}Retrieval" for f in FORUMS]


def _run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def write_beir_folder(
    folder: Path, docs: dict[str, dict], queries: dict[str, str], qrels: dict[str, dict[str, int]], split: str = "test"
) -> None:
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    with (folder / "corpus.jsonl").open("w") as f:
        for i, d in docs.items():
            f.write(json.dumps({"_id": i, "title": d.get("title", ""), "text": d["text"]}) + "\n")
    with (folder / "queries.jsonl").open("w") as f:
        for i, t in queries.items():
            f.write(json.dumps({"_id": i, "text": t}) + "\n")
    with (folder / "qrels" / f"{split}.tsv").open("w") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for q, rel in qrels.items():
            for d, s in rel.items():
                f.write(f"{q}\t{d}\t{s}\n")


def cut_scifact(scifact_dir: Path, root: Path, names: list[str], n_queries: int, n_docs: int) -> None:
    """One small BEIR folder per name under `root`, each from its own slice of SciFact's test queries, with
    their judged documents plus seeded distractors (real text, real judgements)."""
    docs = {r["_id"]: r for r in map(json.loads, (scifact_dir / "corpus.jsonl").open())}
    queries = {r["_id"]: r["text"] for r in map(json.loads, (scifact_dir / "queries.jsonl").open())}
    qrels: dict[str, dict[str, int]] = {}
    for line in (scifact_dir / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        q, d, s = line.split("\t")
        qrels.setdefault(q, {})[d] = int(s)
    qids = sorted(qrels, key=int)
    rng = random.Random(0)
    all_ids = sorted(docs)
    for i, name in enumerate(names):
        mine = qids[i * n_queries : (i + 1) * n_queries]
        keep = {d for q in mine for d in qrels[q]}
        while len(keep) < n_docs:
            keep.add(rng.choice(all_ids))
        write_beir_folder(
            root / name, {d: docs[d] for d in sorted(keep)}, {q: queries[q] for q in mine}, {q: qrels[q] for q in mine}
        )


@pytest.fixture(scope="module")
def cqadupstack(tmp_path_factory: pytest.TempPathFactory, scifact_dir: Path) -> Path:
    """A data dir with a small CQADupstack in BEIR's layout: cqadupstack/<forum>/ for the 12 forums."""
    root = tmp_path_factory.mktemp("cqa-data")
    cut_scifact(scifact_dir, root / "cqadupstack", list(FORUMS), n_queries=4, n_docs=20)
    return root


def _mteb_split(folder: Path) -> dict:
    """mteb's RetrievalSplitData for one local BEIR folder (raw title/text: mteb joins them itself)."""
    from datasets import Dataset

    corpus = [json.loads(x) for x in (folder / "corpus.jsonl").open()]
    queries = [json.loads(x) for x in (folder / "queries.jsonl").open()]
    rel: dict[str, dict[str, int]] = {}
    for line in (folder / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        q, d, s = line.split("\t")
        rel.setdefault(q, {})[d] = int(s)
    return {
        "corpus": Dataset.from_list([{"id": c["_id"], "title": c["title"], "text": c["text"]} for c in corpus]),
        "queries": Dataset.from_list([{"id": q["_id"], "text": q["text"]} for q in queries]),
        "relevant_docs": rel,
        "top_ranked": None,
    }


def _mteb_evaluate(task, model_path: str):
    import warnings

    import mteb
    from mteb.models import SentenceTransformerEncoderWrapper
    from sentence_transformers import SentenceTransformer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mteb.evaluate(
            SentenceTransformerEncoderWrapper(SentenceTransformer(model_path, device="cpu")),
            [task],
            cache=None,
            show_progress_bar=False,
        )


# ------------------------------------------------------------------------------------------ fast layer


def testsubtask_folders_follow_beir_layout() -> None:
    assert [subtask_folder(s) for s in CQA_SUBTASKS] == [f"cqadupstack/{f}" for f in FORUMS]
    assert subtask_folder("SciFact") is None and subtask_folder("CQADupstackRetrieval") is None


def test_main_score_is_the_mean_over_subsets() -> None:
    data = {"scores": {"test": [{"main_score": 0.2}, {"main_score": 0.4}]}}
    assert main_score(data) == pytest.approx(0.3)


@pytest.mark.integration
def test_custom_task_result_is_an_mteb_task_result(tmp_path: Path) -> None:
    from mteb.results import TaskResult

    res = build_result(
        "my-corpus", "test", {"ndcg_at_10": 0.5, "main_score": 0.5}, 1.0, {"mode": "student"}, revision="abc123"
    )
    path = tmp_path / "my-corpus.json"
    path.write_text(json.dumps(res))
    tr = TaskResult.from_disk(path)
    assert (tr.task_name, tr.dataset_revision) == ("my-corpus", "abc123")
    assert tr.scores["test"][0]["main_score"] == 0.5


def test_combine_aggregate_is_mtebs_mean_of_subtasks() -> None:
    """Sub-task results built by mteb's TaskResult, combined by mteb's combine_task_results."""
    values = [0.1 * (i + 1) for i in range(12)]
    subs = [
        build_result(name, "test", {"ndcg_at_10": v, "main_score": v}, 1.0, {"mode": "student"})
        for name, v in zip(CQA_SUBTASKS, values)
    ]
    agg = combine_aggregate("CQADupstackRetrieval", subs, {"mode": "student"})
    assert agg["task_name"] == "CQADupstackRetrieval"
    assert main_score(agg) == pytest.approx(sum(values) / 12, abs=1e-12)
    with pytest.raises(Exception):  # noqa: B017 - mteb leaves a missing sub-task's score None; never a number
        assert main_score(combine_aggregate("CQADupstackRetrieval", subs[:11], {})) is None


def test_a_sub_task_on_a_local_copy_marks_the_aggregate() -> None:
    """One forum measured on a cut-down copy (data.mark_local_copies) makes the mean one over that data too: the
    aggregate records it as a subset, whichever sub-task it is; without one, no subset."""
    from leafbench.aggregate import aggregate_block

    def subs(local: str | None) -> dict[str, dict]:
        return {
            name: build_result(
                name,
                "test",
                {"ndcg_at_10": 0.5, "main_score": 0.5},
                1.0,
                {"mode": "student", "subset": {"local_copy": "queries: 4 (mteb: 885)"} if name == local else None},
            )
            for name in CQA_SUBTASKS
        }

    assert aggregate_block("CQADupstackRetrieval", subs(CQA_SUBTASKS[3])).subset == {"local_copy": "1 of 12 sub-tasks"}
    assert aggregate_block("CQADupstackRetrieval", subs(None)).subset is None


def test_incomplete_aggregate_is_named(tmp_path: Path) -> None:
    for f in FORUMS[:10]:
        write_beir_folder(tmp_path / "cqadupstack" / f, {"d1": {"text": "x"}}, {"q1": "y"}, {"q1": {"d1": 1}})
    with pytest.raises(DataError) as exc:
        aggregate_local_folders("CQADupstackRetrieval", tmp_path, CQA_SUBTASKS)
    msg = str(exc.value)
    assert "incomplete: 2 of 12 sub-task folders missing (webmasters, wordpress" in msg and "\n" not in msg
    for f in FORUMS[10:]:
        write_beir_folder(tmp_path / "cqadupstack" / f, {"d1": {"text": "x"}}, {"q1": "y"}, {"q1": {"d1": 1}})
    found = aggregate_local_folders("CQADupstackRetrieval", tmp_path, CQA_SUBTASKS)
    assert found == {s: tmp_path / "cqadupstack" / f for s, f in zip(CQA_SUBTASKS, FORUMS)}
    assert aggregate_local_folders("CQADupstackRetrieval", tmp_path / "cqadupstack", CQA_SUBTASKS) == found
    (tmp_path / "other").mkdir()
    assert set(aggregate_local_folders("CQADupstackRetrieval", tmp_path / "other", CQA_SUBTASKS).values()) == {None}


@pytest.mark.integration
def test_folder_task_resolution(tmp_path: Path) -> None:
    from leafbench.tasks import TaskSelectionError, select_tasks

    write_beir_folder(tmp_path / "my-corpus", {"d1": {"text": "x"}}, {"q1": "y"}, {"q1": {"d1": 1}})
    sel = select_tasks(str(tmp_path / "my-corpus"), None)
    assert sel.tasks == ["my-corpus"] and sel.types == {"my-corpus": "Retrieval"}
    assert sel.folders["my-corpus"] == tmp_path / "my-corpus"
    sel = select_tasks("my-corpus,SciFact", None, data_dir=tmp_path)  # a name under --data-dir
    assert sel.tasks == ["my-corpus", "SciFact"] and "SciFact" not in sel.folders
    (tmp_path / "empty").mkdir()
    with pytest.raises(
        TaskSelectionError, match=r"empty: not a BEIR folder: missing corpus.jsonl, queries.jsonl, qrels/"
    ):
        select_tasks(str(tmp_path / "empty"), None)
    with pytest.raises(TaskSelectionError, match="no such folder"):
        select_tasks("./does-not-exist", None)
    with pytest.raises(TaskSelectionError, match="unknown task 'nothing-here'"):
        select_tasks("nothing-here", None, data_dir=tmp_path)


def test_benchmark_selection_keeps_the_aggregate_as_one_task() -> None:
    from leafbench.tasks import select_tasks

    sel = select_tasks("BEIR", None)
    assert len(sel.tasks) == 15 and "CQADupstackRetrieval" in sel.tasks
    assert sel.subtasks == {"CQADupstackRetrieval": CQA_SUBTASKS}


def test_multi_subset_local_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A multi-subset task's local copy is one BEIR folder per subset; a missing subset is named."""
    import mteb

    class Meta:
        name, eval_splits, dataset = "Fake", ["test"], {"path": "x", "revision": "1"}

    class Task:
        metadata, hf_subsets, is_aggregate = Meta, ["a", "b"], False

    monkeypatch.setattr(mteb, "get_task", lambda name: Task())
    for s in ("a", "b"):
        write_beir_folder(tmp_path / "Fake" / s, {"d1": {"text": s}}, {"q1": "y"}, {"q1": {"d1": 1}})
    parts = load_retrieval_parts("Fake", tmp_path, offline=True)
    assert list(parts) == ["a", "b"] and parts["b"].corpus_texts == ["b"]
    shutil.rmtree(tmp_path / "Fake" / "b")
    with pytest.raises(DataError, match="missing subset folders b of Fake"):
        load_retrieval_parts("Fake", tmp_path, offline=True)


# ------------------------------------------------------------------------------ real model, real data


@pytest.mark.slow
def test_cqadupstack_equals_mteb_evaluate(env, cqadupstack: Path, minilm_spec, tmp_path: Path) -> None:
    """Aggregate main score equals mteb.evaluate's on the same 12 local forums (1e-6) and the mean of the
    12 sub-task scores; every sub-task result is kept; mteb's TaskResult reads the aggregate file; report,
    baseline and check treat the aggregate as one task (sub-tasks on demand); `tasks` shows availability."""
    import mteb
    from mteb.results import TaskResult

    res = _run(
        "run",
        "--model",
        "minilm-l6",
        "--tasks",
        "CQADupstackRetrieval",
        "--data-dir",
        str(cqadupstack),
        "--output",
        str(env["out"]),
    )
    assert res.exit_code == 0, res.output
    folder = env["out"] / "minilm-l6" / "student"
    agg_path = folder / "CQADupstackRetrieval.json"
    agg = json.loads(agg_path.read_text())
    subs = {s: json.loads((folder / f"{s}.json").read_text()) for s in CQA_SUBTASKS}
    assert all(r["leafbench"]["aggregate"] == "CQADupstackRetrieval" for r in subs.values())
    sub_mean = sum(main_score(r) for r in subs.values()) / 12
    assert main_score(agg) == pytest.approx(sub_mean, abs=1e-12)
    assert agg["leafbench"]["n_queries"] == 48 and set(agg["leafbench"]["sub_tasks"]) == set(CQA_SUBTASKS)
    # Forums cut down from SciFact are not mteb's: recorded as local copies, never under mteb's dataset revision.
    assert agg["leafbench"]["subset"] == {"local_copy": "12 of 12 sub-tasks"}
    assert agg["dataset_revision"] == agg["leafbench"]["data_fingerprint"]
    assert all(r["dataset_revision"] == r["leafbench"]["data_fingerprint"] for r in subs.values())
    assert TaskResult.from_disk(agg_path).get_score() == pytest.approx(main_score(agg), abs=1e-12)

    task = mteb.get_task("CQADupstackRetrieval")
    for sub in task.metadata.tasks:
        sub.dataset = {
            "default": {
                "test": _mteb_split(cqadupstack / "cqadupstack" / subtask_folder(sub.metadata.name).split("/")[1])
            }
        }
        sub.data_loaded = True
    ref = _mteb_evaluate(task, str(minilm_spec.source))
    ref_agg = next(tr for tr in ref.task_results if tr.task_name == "CQADupstackRetrieval")
    # Sub-task rows may come from other batch compositions: tolerance from measured noise (tests/parity_tasks.py).
    assert main_score(agg) == pytest.approx(ref_agg.get_score(), abs=tolerance("Retrieval"))
    # A second run reuses every sub-task cell and writes the same aggregate.
    res = _run(
        "run",
        "--model",
        "minilm-l6",
        "--tasks",
        "CQADupstack",
        "--data-dir",
        str(cqadupstack),
        "--output",
        str(env["out"]),
    )
    assert res.exit_code == 0 and "12 already in" in res.output.replace("\n", " ")
    assert main_score(json.loads(agg_path.read_text())) == main_score(agg)

    rep = _run("report", str(env["out"]), "--output", str(tmp_path / "rep"), "--no-figures", "--subtasks")
    assert rep.exit_code == 0, rep.output
    md = (tmp_path / "rep" / "index.md").read_text()
    main_part, sub_part = md.split("### Sub-tasks of aggregate tasks")
    assert "CQADupstackRetrieval" in main_part and "CQADupstackAndroidRetrieval" not in main_part
    assert f"{100 * main_score(agg):.2f}" in main_part and "CQADupstackWordpressRetrieval" in sub_part
    assert _run("report", str(env["out"]), "--output", str(tmp_path / "rep2"), "--no-figures").exit_code == 0
    assert "Sub-tasks" not in (tmp_path / "rep2" / "index.md").read_text()
    assert _run("baseline", str(env["out"]), "--output", str(tmp_path / "b.json")).exit_code == 0
    base = json.loads((tmp_path / "b.json").read_text())
    assert [e["task"] for e in base["entries"]] == ["CQADupstackRetrieval"]
    chk = runner.invoke(app, ["check", str(env["out"]), "--baseline", str(tmp_path / "b.json")])
    assert chk.exit_code == 0 and "1 cells compared" in " ".join(chk.output.split()), chk.output
    listing = json.loads(_run("tasks", "--benchmark", "BEIR", "--data-dir", str(cqadupstack), "--json").output)
    cqa = next(r for r in listing if r["task"] == "CQADupstackRetrieval")
    assert cqa["local"] and [s["task"] for s in cqa["subtasks"] if s["local"]] == CQA_SUBTASKS


@pytest.mark.slow
def test_cqadupstack_missing_forum_fails_before_encoding(env, cqadupstack: Path, tmp_path: Path) -> None:
    data = tmp_path / "partial"
    shutil.copytree(cqadupstack, data)
    shutil.rmtree(data / "cqadupstack" / "gis")
    for tasks in ("CQADupstackRetrieval", "BEIR"):
        res = runner.invoke(
            app, ["run", "--model", "minilm-l6", "--tasks", tasks, "--data-dir", str(data), "--output", str(env["out"])]
        )
        assert res.exit_code == 2, res.output
        assert "CQADupstackRetrieval is incomplete: 1 of 12 sub-task folders missing (gis" in " ".join(
            res.output.split()
        )
        assert not env["out"].exists()


@pytest.mark.slow
def test_lotte_subsets_equal_mteb(env, tmp_path: Path, scifact_dir: Path, minilm_spec) -> None:
    """A multi-subset retrieval task (LoTTE, 10 subsets): each subset scored, main score = mteb's mean."""
    import mteb
    from mteb.results import TaskResult

    task = mteb.get_task("LoTTE", eval_splits=["test"])
    subsets = list(task.hf_subsets)
    cut_scifact(scifact_dir, tmp_path / "data" / "LoTTE", subsets, n_queries=3, n_docs=12)
    res = _run(
        "run",
        "--model",
        "minilm-l6",
        "--tasks",
        "LoTTE",
        "--data-dir",
        str(tmp_path / "data"),
        "--split",
        "test",
        "--output",
        str(env["out"]),
    )
    assert res.exit_code == 0, res.output
    path = env["out"] / "minilm-l6__split-test" / "student" / "LoTTE.json"
    data = json.loads(path.read_text())
    assert [e["hf_subset"] for e in data["scores"]["test"]] == subsets
    assert data["leafbench"]["hf_subsets"] == subsets and data["leafbench"]["n_queries"] == 30
    task.dataset = {s: {"test": _mteb_split(tmp_path / "data" / "LoTTE" / s)} for s in subsets}
    task.data_loaded = True
    ref = _mteb_evaluate(task, str(minilm_spec.source)).task_results[0]
    assert main_score(data) == pytest.approx(ref.get_score(), abs=1e-6)
    assert TaskResult.from_disk(path).get_score() == pytest.approx(main_score(data), abs=1e-12)


@pytest.mark.slow
def test_scifact_copy_as_folder_task_scores_like_scifact(env, tmp_path: Path, scifact_dir: Path) -> None:
    """`--tasks ./that-folder` on a copy of SciFact: named by its folder, the same nDCG@10 as SciFact, in
    every mode and cell; the report shows it; a missing split lists the available ones."""
    copy = tmp_path / "my-corpus"
    copy.mkdir()
    for f in ("corpus.jsonl", "queries.jsonl", "qrels"):
        (copy / f).symlink_to(scifact_dir / f)
    common = [
        "--model",
        "minilm-l6",
        "--teacher",
        "minilm-l6",
        "--mode",
        "all",
        "--max-queries",
        "20",
        "--max-docs",
        "120",
        "--dims",
        "full,128",
        "--dtypes",
        "float32,binary",
        "--output",
        str(env["out"]),
    ]
    assert _run("run", "--tasks", "SciFact", "--data-dir", str(scifact_dir.parent), *common).exit_code == 0
    res = _run("run", "--tasks", str(copy), *common)
    assert res.exit_code == 0, res.output
    run = env["out"] / "minilm-l6+minilm-l6__20q-120d"
    for mode in ("student", "teacher", "asymmetric"):
        for cell in ("", "__128d-binary"):
            mine = json.loads((run / mode / f"my-corpus{cell}.json").read_text())
            ref = json.loads((run / mode / f"SciFact{cell}.json").read_text())
            assert mine["task_name"] == "my-corpus"
            assert main_score(mine) == main_score(ref)
            assert mine["leafbench"]["data_fingerprint"] == ref["leafbench"]["data_fingerprint"]
            assert mine["dataset_revision"] == mine["leafbench"]["data_fingerprint"]
    rep = _run("report", str(env["out"]), "--output", str(tmp_path / "rep"), "--no-figures")
    assert rep.exit_code == 0, rep.output
    assert "my-corpus" in (tmp_path / "rep" / "index.md").read_text()
    bad = runner.invoke(app, ["run", "--tasks", str(copy), "--split", "dev", *common])
    assert bad.exit_code == 2
    assert "missing qrels for split 'dev' (available splits: test, train)" in " ".join(bad.output.split())


@pytest.mark.slow
def test_beir_offline_runs_scifact_and_lists_the_rest_missing(env, shared_data: Path) -> None:
    res = _run(
        "run",
        "--model",
        "minilm-l6",
        "--tasks",
        "BEIR",
        "--data-dir",
        str(shared_data),
        "--max-queries",
        "10",
        "--max-docs",
        "60",
        "--output",
        str(env["out"]),
    )
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "missing (14 of 15 tasks, no data here)" in text and "CQADupstackRetrieval" in text
    assert "not supported" not in text
    manifest = json.loads((env["out"] / "minilm-l6__10q-60d" / "run.json").read_text())
    assert manifest["evaluated"] == ["SciFact"] and len(manifest["missing"]) == 14
    assert "cqadupstack/<sub-task>/corpus.jsonl" in manifest["missing"]["CQADupstackRetrieval"]


def test_aggregate_online_loads_each_subtask_through_mteb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a local cqadupstack/ and with network: every sub-task comes from its own mteb task object;
    offline without a local copy: one line naming the layout to provide."""
    from datasets import Dataset

    from leafbench.data import load_aggregate_parts, mteb_tasks

    class Sub:
        def __init__(self, name: str) -> None:
            self.metadata = type(
                "M", (), {"name": name, "eval_splits": ["test"], "dataset": {"path": f"mteb/{name}", "revision": "r1"}}
            )()
            self.hf_subsets, self.is_aggregate, self.dataset = ["default"], False, {}

        def load_data(self, **kwargs) -> None:
            self.dataset = {
                "default": {
                    "test": {
                        "corpus": Dataset.from_dict(
                            {"id": ["d1", "d2"], "title": ["", ""], "text": [self.metadata.name, "x"]}
                        ),
                        "queries": Dataset.from_dict({"id": ["q1"], "text": ["y"]}),
                        "relevant_docs": {"q1": {"d1": 1}},
                        "top_ranked": None,
                    }
                }
            }

    loaded: list[str] = []

    def fake_task(name: str) -> Sub:
        loaded.append(name)
        return Sub(name)

    monkeypatch.setattr(mteb_tasks, "mteb_task", fake_task)
    parts = load_aggregate_parts("CQADupstackRetrieval", CQA_SUBTASKS, tmp_path, offline=False)
    assert list(parts) == CQA_SUBTASKS and loaded == CQA_SUBTASKS
    assert parts["CQADupstackTexRetrieval"]["default"].source == "hf:mteb/CQADupstackTexRetrieval@r1"
    with pytest.raises(
        DataError, match=r"no local copy of CQADupstackRetrieval under .*cqadupstack/<sub-task>/corpus.jsonl"
    ):
        load_aggregate_parts("CQADupstackRetrieval", CQA_SUBTASKS, tmp_path, offline=True)
