"""Reports: tables, figures, the self-contained page (rendered in headless Chromium) and the bootstrap.

Results come from a real evaluation (minilm-l6 student; the same weights cut to 16 tokens as a distinct
"teacher" (queries and documents truncated), so asymmetric differs from symmetric) on a tiny real SciFact subset, plus synthetic files written
with the real schema where a case needs something a run cannot produce yet (per-query scores, a missing task).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from leafbench.report.bootstrap import (
    Interval,
    align,
    interval_from_per_query,
    paired_bootstrap,
    paired_bootstrap_tasks,
)

RUN = "minilm-l6+minilm-l6-16"
LABEL = f"{RUN} [16q/64d]"  # how reports name the run: its folder and its data protocol (a subset)
CELLS_ID = "t-cells-minilm-l6-minilm-l6-16-16q-64d"  # its dims x dtypes table in the HTML
DEPLOY_ID = "t-deploy-minilm-l6-minilm-l6-16-16q-64d--student"  # its student deployment table
DIMS, DTYPES = (None, 128, 32), ("float32", "int8", "binary")


def evaluate_into(out: Path, data, spec, store) -> Path:
    """Real evaluation of every mode x (dims x dtypes) cell into `out` (shared with tests/test_check.py)."""
    from leafbench.cells import Cell
    from leafbench.encode import Encoder
    from leafbench.evaluate import evaluate_retrieval
    from leafbench.modes import ALL_MODES

    encoders = {"student": Encoder(spec, store), "teacher": Encoder(spec.with_overrides(max_seq_length=16), store)}
    cells = [Cell(d, t) for d in DIMS for t in DTYPES]
    evaluate_retrieval(
        data, encoders, list(ALL_MODES), out, RUN, cells=cells, extra={"subset": {"max_queries": 16, "max_docs": 64}}
    )
    return out


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory, scifact_small, minilm_spec, session_store) -> Path:
    return evaluate_into(tmp_path_factory.mktemp("results"), scifact_small.subset(16, 64), minilm_spec, session_store)


@pytest.fixture(scope="module")
def df(results: Path):
    from leafbench.report.frame import load_results

    return load_results(results)


def _read(results: Path, mode: str, name: str = "SciFact") -> dict:
    return json.loads((results / RUN / mode / f"{name}.json").read_text())


def _write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


# ------------------------------------------------------------------------------------------ tables


def test_load_results_is_one_tidy_row_per_file(df, results: Path) -> None:
    assert len(df) == 3 * len(DIMS) * len(DTYPES) == len(list(results.rglob("*.json")))
    assert set(df["mode"]) == {"student", "teacher", "asymmetric"}
    assert set(df["dim_label"]) == {"full", "128", "32"}
    assert set(df["dtype"]) == set(DTYPES)
    assert (df["task_type"] == "Retrieval").all() and (df["metric"] == "ndcg_at_10").all()
    assert (df["n_queries"] == 16).all() and (df["subset"] != "").all()
    row = df[(df["mode"] == "asymmetric") & (df["dim_label"] == "full") & (df["dtype"] == "float32")].iloc[0]
    assert row["score"] == _read(results, "asymmetric")["scores"]["test"][0]["main_score"]
    pq = row["per_query"]
    if pq is not None:  # written once evaluate stores the proposed `per_query` block; None before that
        assert len(pq) == 16 and np.mean(list(pq.values())) == pytest.approx(row["score"], abs=1.5e-5)


def test_one_run_name_in_two_folders_stays_two_runs(results: Path, tmp_path: Path) -> None:
    """The same pair evaluated on two subsets (two parent folders, one run-folder name) must not collapse."""
    from leafbench.check import CheckInputError, current_entries
    from leafbench.report.frame import load_results

    root = tmp_path / "res"
    for parent, score in (("small", 0.5), ("large", 0.4)):
        d = _read(results, "student")
        d["scores"][next(iter(d["scores"]))][0]["main_score"] = score
        _write(root / parent / RUN / "student" / "SciFact.json", d)
    _write(root / "other" / "solo-run" / "student" / "SciFact.json", _read(results, "student"))
    df = load_results(root)
    # unique names are left alone; a run on a subset is labelled with its protocol
    assert set(df["run"]) == {f"small/{RUN} [16q/64d]", f"large/{RUN} [16q/64d]", "solo-run [16q/64d]"}
    score = df.set_index("run")["score"]
    assert score[f"small/{RUN} [16q/64d]"] == pytest.approx(0.5)
    assert score[f"large/{RUN} [16q/64d]"] == pytest.approx(0.4)
    with pytest.raises(CheckInputError, match="same cell"):  # a regression check keys runs by name: ambiguous, refused
        current_entries(root)


def test_one_model_at_two_protocols_in_two_folders_is_never_one_number(results: Path, tmp_path: Path) -> None:
    """Two results folders holding one run name at two data protocols (16 and 32 queries): two runs, two boards,
    two dims x dtypes tables, and no number anywhere in the report is their mean."""
    from leafbench.report.build import build_report

    scores = {"a": 0.5, "b": 0.3}
    for root, q in (("a", 16), ("b", 32)):
        for name in [p.name for p in (results / RUN / "student").glob("*.json")]:
            d = json.loads((results / RUN / "student" / name).read_text())
            d["leafbench"]["subset"] = {"max_queries": q, "max_docs": 64}
            d["leafbench"]["n_queries"] = q
            d["scores"][next(iter(d["scores"]))][0]["main_score"] = scores[root]
            _write(tmp_path / root / RUN / "student" / name, d)
    report = build_report([tmp_path / "a", tmp_path / "b"])
    assert set(report.df["run"]) == {f"{RUN} [16q/64d]", f"{RUN} [32q/64d]"}
    titles = [t.title for t in report.tables]
    grids = {f"Dims x dtypes: {RUN} [{p}], BEIR (1 task)" for p in ("16q/64d", "32q/64d")}  # one grid per protocol
    assert grids <= set(titles)
    boards = [t for t in report.tables if t.key.startswith("leaderboard")]
    assert [t.title.split(":")[1].split("(")[0].strip() for t in boards] == ["data 16q/64d", "data 32q/64d"]
    md = report.to_markdown()
    assert "40.00" not in md and "50.00" in md and "30.00" in md  # 40 would be the mixed mean
    assert md.startswith("# leafbench report\n")  # the page keeps its title, whatever the boards are called


def test_one_run_at_one_protocol_in_two_folders_with_the_same_cells_stays_two_runs(
    results: Path, tmp_path: Path
) -> None:
    """The same run name and protocol in two results folders, both holding one cell: named by their folders;
    folders that only complement each other (other tasks) stay one run."""
    from leafbench.report.frame import load_folders

    for root in ("x", "y"):
        _write(tmp_path / root / RUN / "student" / "SciFact.json", _read(results, "student"))
    _, df = load_folders([tmp_path / "x", tmp_path / "y"])
    assert set(df["run"]) == {f"x/{LABEL}", f"y/{LABEL}"}
    _write(tmp_path / "z" / RUN / "teacher" / "SciFact.json", _read(results, "teacher"))
    _, df = load_folders([tmp_path / "x", tmp_path / "z"])
    assert set(df["run"]) == {LABEL}


def test_other_benchmarks_get_their_own_means(results: Path, tmp_path: Path) -> None:
    """An STS result in the same layout (written by leafbench.record.build_result) adds an MTEB(eng, v2) mean."""
    from leafbench.record import build_result, write_result
    from leafbench.report.build import report_from_frame
    from leafbench.report.frame import load_results

    sts = {"student": 0.80, "teacher": 0.86, "asymmetric": 0.80}
    for mode, value in sts.items():
        _write(tmp_path / RUN / mode / "SciFact.json", _read(results, mode))
        lb = {
            k: v
            for k, v in _read(results, mode)["leafbench"].items()
            if k not in ("n_documents", "per_query", "subset")
        }
        lb.update(n_queries=None, data_source="/work/shared/data/mteb/sts/STSBenchmark")
        res = build_result("STSBenchmark", "test", {"cosine_spearman": value, "main_score": value}, 1.0, lb)
        write_result(tmp_path / RUN / mode / "STSBenchmark.json", res)
    df = load_results(tmp_path)
    assert set(df["task_type"]) == {"Retrieval", "STS"}
    assert set(df.loc[df["task"] == "STSBenchmark", "metric"]) == {"cosine_spearman"}
    # One leaderboard per protocol, a mean per benchmark: STSBenchmark on full data, the 16q/64d SciFact apart.
    tables = {t.key: t for t in report_from_frame(df).tables}
    assert "MTEB(eng, v2) mean (1 of 41 tasks)" in tables["leaderboard"].text.columns
    assert "BEIR mean (1 of 15 tasks)" in tables["leaderboard-16q-64d"].text.columns
    assert not any("BEIR" in c for c in tables["leaderboard"].text.columns)


def _sts_result(root: Path, run: str, task: str, value: float, template: dict, subset: bool = False) -> None:
    from leafbench.record import build_result, write_result

    lb = {k: v for k, v in template["leafbench"].items() if k not in ("n_documents", "per_query", "subset")}
    lb.update(n_queries=None, data_source=f"/work/shared/data/mteb/sts/{task}", mode="student")
    if subset:
        lb["subset"] = {"max_queries": 10}
    write_result(
        root / run / "student" / f"{task}.json",
        build_result(task, "test", {"cosine_spearman": value, "main_score": value}, 1.0, lb),
    )


def test_benchmark_board_and_the_leaderboards_mteb_mean(results: Path, tmp_path: Path) -> None:
    """benchmark_board (docs/results.md's MTEB table): means over what a row has, Borda over the tasks every row
    has, the rest listed. The report's leaderboard instead prints one MTEB(eng, v2) mean over one task set, –
    for the row lacking one of them, and the per-task scores without a mean."""
    from leafbench.report.benchmarks import benchmark_board, borda
    from leafbench.report.build import report_from_frame
    from leafbench.report.frame import load_results

    tpl = _read(results, "student")
    scores = {
        "run-a": {"STSBenchmark": 0.80, "SICK-R": 0.70, "BIOSSES": 0.90},
        "run-b": {"STSBenchmark": 0.85, "SICK-R": 0.60},
        "run-c": {"STSBenchmark": 0.75, "SICK-R": 0.65},
    }
    for run, tasks in scores.items():
        for task, v in tasks.items():
            _sts_result(tmp_path, run, task, v, tpl)
    _sts_result(tmp_path, "run-sub", "STSBenchmark", 0.99, tpl, subset=True)  # never on a benchmark board
    _sts_result(tmp_path, "run-d", "SICK-R", 0.99, tpl)  # 1 task < half of run-a's 3: shown, not ranked
    _write(tmp_path / RUN / "student" / "SciFact.json", tpl)  # SciFact is not in MTEB(eng, v2)
    df = load_results(tmp_path)
    b = benchmark_board(df, "MTEB(eng, v2)")
    assert set(b.index.get_level_values("run")) == {"run-a", "run-b", "run-c", "run-d"}
    assert np.isnan(b.loc[("run-d", "student"), "Rank"]) and np.isnan(b.loc[("run-d", "student"), "Borda"])
    b = b.drop(index=("run-d", "student"))
    assert set(b.attrs["common"]) == {"SICK-R", "STSBenchmark"}
    # Borda by hand: STSBenchmark b>a>c -> b 2, a 1, c 0; SICK-R a>c>b -> a 2, c 1, b 0.
    assert b.loc[("run-a", "student"), "Borda"] == 3 and b.loc[("run-b", "student"), "Borda"] == 2
    assert b.loc[("run-c", "student"), "Borda"] == 1
    assert list(b["Rank"]) == [1, 2, 3]
    a = b.loc[("run-a", "student")]
    assert a["n_tasks"] == 3 and b.loc[("run-b", "student"), "n_tasks"] == 2 and a["n_benchmark"] == 41
    assert a["Mean(Task)"] == pytest.approx(80.0) and a["Mean(STS)"] == pytest.approx(80.0)
    assert a["Mean(TaskType)"] == pytest.approx(80.0)  # one type present
    assert len(b.attrs["missing"]) == 41 - 3 and "ImdbClassification" in b.attrs["missing"]
    # ties split the points
    import pandas as pd

    tie = borda(pd.DataFrame({"x": [1.0, 1.0, 0.5]}, index=list("pqr")))
    assert tie.tolist() == [1.5, 1.5, 0.0]
    tables = {t.key: t for t in report_from_frame(df).tables}
    # Full-protocol runs on the leaderboard and its per-task view; the subset run in its own leaderboard.
    assert {"leaderboard", "per-task-mteb-eng--v2", "leaderboard-10q"} <= set(tables)
    assert not any(k.startswith("per-task-beir") for k in tables)  # one SciFact subset: its mean is its score
    # One model evaluated four times with other scores: one row per run folder, named by it.
    board = tables["leaderboard"].text.set_index("Model").rename(index=lambda m: m.removeprefix("minilm-l6 "))
    head = "MTEB(eng, v2) mean (2 of 41 tasks)"  # run-a, b, c have more than half of run-a's 3: their 2 shared
    assert board[head].to_dict() == {"(run-a)": "75.00", "(run-b)": "72.50", "(run-c)": "70.00", "(run-d)": "–"}
    assert list(board["Rank"])[-1] == "–"  # run-d: one task, no mean, not ranked
    notes = " ".join(tables["leaderboard"].notes)
    assert f"{head}: over SICK-R, STSBenchmark" in notes
    assert f"{head} –: minilm-l6 (run-d) lacks STSBenchmark." in notes
    per_task = tables["per-task-mteb-eng--v2"]
    assert list(per_task.text.columns) == ["Model", "Mode", "Tasks", "SICK-R", "STSBenchmark", "BIOSSES"]
    assert per_task.text["Tasks"].tolist() == ["3/41", "2/41", "2/41", "1/41"]
    assert not any(c.startswith("Mean") for c in per_task.text.columns)
    assert any("No result in any row (38 of 41)" in n for n in per_task.notes)


def test_reference_block_labels_protocols_and_refuses_subset_comparisons(df) -> None:
    from leafbench.report.reference import reference_block

    ref = reference_block(df)
    pub = ref[~ref["ours"]]
    got = {(r.model, r.mode, r.protocol): r.value for r in pub.itertuples()}
    assert got[("MongoDB/mdbr-leaf-ir", "student", "beir15")] == 53.55
    assert got[("MongoDB/mdbr-leaf-ir", "asymmetric", "beir15")] == 54.03
    assert got[("Snowflake/snowflake-arctic-embed-m-v1.5", "teacher", "beir15")] == 55.16
    assert got[("MongoDB/mdbr-leaf-ir", "asymmetric", "beir14")] == 54.8
    assert got[("MongoDB/mdbr-leaf-mt", "student", "mteb_eng_v2")] == 63.97
    assert (
        pub["protocol_label"].str.contains("15 tasks").any() and pub["protocol_label"].str.contains("no MSMARCO").any()
    )
    ours = ref[ref["ours"]]
    assert len(ours) and ours["value"].isna().all()
    assert ours["note"].str.contains("1/15 tasks, query/doc subset").any()


def test_cell_grid_and_throughput(df) -> None:
    from leafbench.report.grid import cell_grid
    from leafbench.report.throughput import throughput

    g = cell_grid(df, LABEL)
    assert list(g.columns) == list(DTYPES)
    assert list(g.loc["student"].index) == ["full", "128", "32"]
    full = df[(df["mode"] == "teacher") & (df["dim_label"] == "32") & (df["dtype"] == "binary")]["score"].iloc[0]
    assert g.loc[("teacher", "32"), "binary"] == pytest.approx(100 * full)
    t = throughput(df)
    assert t.loc["minilm-l6", "query_texts_per_s"] > 0 and t.loc["minilm-l6", "document_texts_per_s"] > 0
    # Two distinct encodings per side (student and 16-token teacher), each counted once across 27 files.
    assert t.loc["minilm-l6", "query_passes"] == 2 and t.loc["minilm-l6", "query_n_texts"] == 32


# ---------------------------------------------------------------------------------- report files


@pytest.fixture(scope="module")
def report_dir(results: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from leafbench.report import write_report

    out = tmp_path_factory.mktemp("report")
    write_report(results, out)
    return out


def test_markdown_report(report_dir: Path) -> None:
    md = (report_dir / "index.md").read_text()
    # A subset run of one pair: its Table 1 comes first; its rows sit in its protocol's leaderboard, never in a
    # full-data one.
    assert md.index("## How close is each student to its teacher") < md.index("## Leaderboard")
    assert "### Leaderboard: full data" not in md
    for title in (
        "BEIR, data 16q/64d: teacher",
        "### Leaderboard: data 16q/64d (full dim, float32)",
        "Reference: published",
        "Dims x dtypes",
        "Encoding throughput",
        "What our numbers were measured on",
    ):
        assert title in md, title
    assert "| Model | Mode | SciFact |" in md
    assert re.search(r"\| [^|]+ \| student \| [\d.]+ \([\d.]+% \[[\d.]+, [\d.]+\]\) \|", md)
    assert re.search(r"\| \*\*\d+\.\d\d\*\* \|", md)  # a best cell in bold
    for png in re.findall(r"\]\((figures/[^)]+\.png)\)", md):
        assert (report_dir / png).stat().st_size > 1000


def _md_table(md: str, title: str) -> list[dict[str, str]]:
    """The rows of the Markdown table under `### title`, as header -> cell text."""
    lines = md[md.index(f"### {title}") :].split("\n\n")[1].splitlines()
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(head, (c.strip() for c in line.strip("|").split("|")))) for line in lines[2:]]


def test_counts_print_as_integers(results: Path, tmp_path: Path) -> None:
    """Query, document and text counts are integers ("16", "1,536"), never "16.00", in every table that has them,
    also when a task without a query count (STS) turns the count column into floats with gaps."""
    import shutil

    from leafbench.report.build import report_from_frame
    from leafbench.report.frame import load_results

    shutil.copytree(results, tmp_path, dirs_exist_ok=True)
    _sts_result(tmp_path, RUN, "STSBenchmark", 0.8, _read(results, "student"))
    md = report_from_frame(load_results(tmp_path)).to_markdown()
    data = _md_table(md, "What our numbers were measured on")
    speed = _md_table(md, "Encoding throughput per model")
    assert len(data) == 2 and speed
    for rows, cols in ((data, ("Queries", "Documents")), (speed, ("Queries encoded", "Docs encoded"))):
        for row in rows:
            for c in cols:
                assert row[c] == "" or re.fullmatch(r"\d{1,3}(,\d{3})*", row[c]), (c, row)
    sci = next(r for r in data if r["Task"] == "SciFact")
    assert (sci["Queries"], sci["Documents"]) == ("16", "64")
    assert "|---|---|---|---|---|---:|---:|" in md  # counts right-aligned as numbers


def test_table1_shows_asym_minus_student_with_its_interval(df, report_dir: Path) -> None:
    """Asym − student is asymmetric − student of the shown scores (points x100), with a paired bootstrap interval
    over the stored per-query scores that contains it."""
    from leafbench.report import compare as cmp
    from leafbench.report.frame import select_cell

    sel = select_cell(df, ("full", "float32"))
    (t1,) = cmp.table1s(sel)
    teacher, student, asym, delta = t1.rows
    assert [r.mode for r in t1.rows] == ["teacher", "student", "asymmetric", cmp.ASYM_DELTA]
    d = delta.cells["SciFact"]
    assert d.score == pytest.approx(asym.cells["SciFact"].score - student.cells["SciFact"].score)
    assert d.delta_ci is not None and d.delta_ci.low <= d.score / 100 <= d.delta_ci.high
    md = (report_dir / "index.md").read_text()
    rows = {
        r["Mode"]: r["SciFact"] for r in _md_table(md, f"BEIR, data 16q/64d: teacher {teacher.model} and 1 student")
    }
    m = re.fullmatch(r"([+-]\d+\.\d\d) \[([+-]\d+\.\d\d), ([+-]\d+\.\d\d)\]", rows["asym − student"])
    assert m, rows
    shown, lo, hi = (float(x) for x in m.groups())
    score = {mode: float(rows[mode].split(" ")[0]) for mode in ("student", "asymmetric")}
    assert shown == pytest.approx(score["asymmetric"] - score["student"], abs=1e-9)
    assert lo <= shown <= hi


def test_deployment_view_of_a_real_run(df, report_dir: Path) -> None:
    """Every mode of the fixture's run gets a deployment table: its % of teacher is the student's cell over the
    teacher's full float32 on the same task, its bytes and index size follow from dim and the 64-document corpus."""
    from leafbench.report.deploy import deployments

    deps = {d.mode: d for d in deployments(df)}
    assert list(deps) == ["teacher", "student", "asymmetric"] and all(len(d.cells) == 9 for d in deps.values())
    score = df.set_index(["mode", "dim_label", "dtype"])["score"]
    c = deps["asymmetric"].cells.set_index(["dim_label", "dtype"])
    teacher = score[("teacher", "full", "float32")]
    for cell in [("full", "float32"), ("128", "int8"), ("32", "binary")]:
        assert c.loc[cell, "pct_teacher"] == pytest.approx(100 * score[("asymmetric", *cell)] / teacher)
        assert c.loc[cell, "pct_full"] == pytest.approx(
            100 * score[("asymmetric", *cell)] / score[("asymmetric", "full", "float32")]
        )
    assert [c.loc[("full", "float32"), "bytes"], c.loc[("128", "int8"), "bytes"], c.loc[("32", "binary"), "bytes"]] == [
        1536,
        128,
        4,
    ]
    assert c.loc[("128", "int8"), "index_bytes"] == 128 * 64
    # Pareto: no other cell at least as good (as printed) in at most as many bytes, one of them strictly.
    for d in deps.values():
        s, b = d.cells["score"].round(2), d.cells["bytes"]
        for i in range(len(s)):
            dominated = ((s >= s[i]) & (b <= b[i]) & ((s > s[i]) | (b < b[i]))).any()
            assert d.cells["pareto"][i] == (not dominated)
        assert d.cells["pareto"].iloc[-1]  # the smallest cell always is
    md = (report_dir / "index.md").read_text()
    section = md[md.index("## Deployment: dims x dtypes per mode") : md.index("## Speed, references")]
    assert f"### Deploy student: {LABEL}" in section and "| Index (64 docs) |" in section
    assert "% of teacher" in section and "✓" in section
    table = section[section.index(f"### Deploy student: {LABEL}") :].split("\n\n")[1].splitlines()
    head = [c.strip() for c in table[0].strip("|").split("|")]
    for line in table[2:]:  # integers print as integers: "128", "1,536", never "128.00"
        row = dict(zip(head, (c.strip() for c in line.strip("|").split("|"))))
        assert re.fullmatch(r"\d+( \(full\))?", row["Dim"]) and re.fullmatch(r"[\d,]+", row["Bytes / doc"]), row
    png = re.search(r"\]\((figures/deploy-[^)]+\.png)\)", section).group(1)
    assert (report_dir / png).stat().st_size > 10_000


def test_html_is_self_contained(report_dir: Path) -> None:
    page = (report_dir / "index.html").read_text()
    assert page.count("<svg") == 4 and page.count('<table class="sortable"') >= 5
    assert "<link" not in page and "src=" not in page and "@import" not in page
    # The only URLs are XML namespaces inside the inline SVGs, never fetched.
    assert set(re.findall(r"https?://[^\s\"')<]+", page)) <= {
        "http://www.w3.org/2000/svg",
        "http://www.w3.org/1999/xlink",
    }
    assert "@media print" in page and "@media (max-width:640px)" in page


def test_figures_are_deterministic_and_labelled(df, tmp_path: Path) -> None:
    from leafbench.report.plots import make_figures

    a = make_figures(df, tmp_path / "a")
    b = make_figures(df, tmp_path / "b")
    slug = RUN.replace("+", "-") + "--16q-64d"
    assert [f.key for f in a] == ["asym-vs-sym", f"dims-{slug}", f"quant-{slug}"]
    for fa, fb in zip(a, b):
        assert fa.svg.read_bytes() == fb.svg.read_bytes(), fa.key
        assert fa.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    dims_svg = a[1].svg.read_text()
    for label in ("teacher float32", "student int8", "asymmetric binary", "embedding dim"):
        assert label in dims_svg, label


def test_bar_charts_start_at_zero_and_series_differ_in_colour_and_shape(df, tmp_path: Path, monkeypatch) -> None:
    """Every bar chart's y axis starts at 0; every series has its own colour and its own marker (lines) or hatch
    (bars); no two x tick labels overlap. Read from the Axes as they are saved."""
    from matplotlib.colors import to_hex

    from leafbench.report import plots

    seen: dict[str, object] = {}
    save = plots._save

    def spy(fig, out_dir, key):
        ax = fig.axes[0]
        renderer = fig.canvas.get_renderer()
        boxes = [t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_text()]
        bars = [[p for p in c] for c in ax.containers]
        seen[key] = {
            "ylim": ax.get_ylim(),
            "bars": [(to_hex(c[0].get_facecolor()), c[0].get_hatch() or "") for c in bars if c],
            "lines": [(to_hex(ln.get_color()), ln.get_marker(), ln.get_linestyle()) for ln in ax.get_lines()],
            "overlap": any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :]),
        }
        return save(fig, out_dir, key)

    monkeypatch.setattr(plots, "_save", spy)
    figs = plots.make_figures(df, tmp_path)
    slug = RUN.replace("+", "-") + "--16q-64d"
    assert [f.key for f in figs] == ["asym-vs-sym", f"dims-{slug}", f"quant-{slug}"]
    for key in ("asym-vs-sym", f"quant-{slug}"):
        s = seen[key]
        assert s["ylim"][0] == 0, key
        assert len(s["bars"]) >= 2 and len({c for c, _ in s["bars"]}) == len(s["bars"]), s["bars"]
        assert len({h for _, h in s["bars"]}) == len(s["bars"]), s["bars"]
    lines = seen[f"dims-{slug}"]["lines"]
    assert len(lines) == 3 * len(DTYPES)
    assert len({c for c, _, _ in lines}) == len(lines) and len({(m, ls) for _, m, ls in lines}) == len(lines)
    assert not any(s["overlap"] for s in seen.values())
    assert plots.bar_ylim([64.5, 58.6]) == (0.0, pytest.approx(64.5 * plots.BAR_HEADROOM))


def test_cli_functions_through_typer(results: Path, tmp_path: Path) -> None:
    from leafbench.cli import app

    runner = CliRunner()
    r = runner.invoke(app, ["report", str(results), "--output", str(tmp_path / "rep")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "rep" / "index.html").exists() and (tmp_path / "rep" / "index.md").exists()
    r = runner.invoke(app, ["report", str(tmp_path / "nope"), "--output", str(tmp_path / "rep2")])
    assert r.exit_code == 2 and "nope: results folder not found" in r.output


# -------------------------------------------------------------------------------------- Chromium


@pytest.fixture(scope="module")
def chromium() -> str:
    from leafbench.report.html import find_chromium

    path = find_chromium()
    if path is None:
        reason = "chromium not installed (Debian: apt-get install -y chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def _rows(dom: str, table_id: str) -> list[list[str]]:
    body = re.search(rf'<table[^>]*id="{table_id}".*?<tbody>(.*?)</tbody>', dom, re.S).group(1)
    return [re.findall(r"<td[^>]*>(.*?)</td>", tr) for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)]


def test_page_renders_in_chromium_without_console_errors(chromium: str, report_dir: Path) -> None:
    from leafbench.report.html import render_in_chromium

    shot = report_dir / "screenshot.png"
    r = render_in_chromium(report_dir / "index.html", screenshot=shot, binary=chromium)
    assert r.console == [], r.console
    for tid in ("t-table1-1", "t-leaderboard-16q-64d", "t-reference", CELLS_ID, DEPLOY_ID, "t-throughput", "t-data"):
        assert f'id="{tid}"' in r.dom, tid
    # The inline script ran: every sortable table was wired up.
    assert r.dom.count('data-ready="1"') == r.dom.count('class="sortable"') >= 5
    assert "asym − student" in r.dom and r.dom.count("<svg") == 4
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(png[16:20], "big") == 1200


def test_sorting_runs_in_chromium(chromium: str, report_dir: Path) -> None:
    from leafbench.report.html import render_in_chromium

    # Column 3 (0-based) of the cells table is "int8"; #sort= applies the same function a header click calls.
    tid = CELLS_ID
    for direction in ("asc", "desc"):
        r = render_in_chromium(
            report_dir / "index.html", fragment=f"#sort={tid}:3:{direction}", binary=chromium, window=(400, 900)
        )
        assert r.console == [], r.console
        vals = [float(row[3]) for row in _rows(r.dom, tid)]
        assert vals == sorted(vals, reverse=direction == "desc") and len(vals) == 9
        assert f'data-sorted="3:{direction}"' in r.dom
    # The deployment table's "Bytes / doc" (column 5) sorts by number, not by its "1,536" text.
    r = render_in_chromium(report_dir / "index.html", fragment=f"#sort={DEPLOY_ID}:5:asc", binary=chromium)
    vals = [int(row[5].replace(",", "")) for row in _rows(r.dom, DEPLOY_ID)]
    assert vals == sorted(vals) and vals[-1] == 1536
    # A long table has a filter box; #filter= fills it: only the rows holding the text stay shown.
    r = render_in_chromium(report_dir / "index.html", fragment=f"#filter={DEPLOY_ID}:binary", binary=chromium)
    assert r.console == [] and f'class="filter" data-for="{DEPLOY_ID}"' in r.dom
    body = re.search(rf'<table[^>]*id="{DEPLOY_ID}".*?<tbody>(.*?)</tbody>', r.dom, re.S).group(1)
    rows = re.findall(r"<tr([^>]*)>(.*?)</tr>", body, re.S)
    shown = [cells for attrs, cells in rows if "display: none" not in attrs]
    assert shown and len(shown) < len(rows) and all("binary" in cells for cells in shown)


# ------------------------------------------------------------------------------------- bootstrap


def test_bootstrap_identical_and_constant_shift() -> None:
    a = np.random.default_rng(0).uniform(size=50)
    iv = paired_bootstrap(a, a)
    assert (iv.delta, iv.low, iv.high) == (0.0, 0.0, 0.0) and not iv.excludes_zero
    iv = paired_bootstrap(a + 0.1, a)
    assert iv.delta == pytest.approx(0.1) and iv.low == pytest.approx(0.1) and iv.high == pytest.approx(0.1)


def test_bootstrap_interval_matches_normal_theory_and_beats_unpaired() -> None:
    rng = np.random.default_rng(42)
    n = 400
    difficulty = rng.uniform(0, 1, n)  # shared per-query difficulty: what pairing cancels
    b = difficulty + rng.normal(0, 0.05, n)
    a = difficulty + 0.02 + rng.normal(0, 0.05, n)
    iv = paired_bootstrap(a, b, n_resamples=4000, seed=3)
    d = a - b
    half = 1.96 * d.std(ddof=1) / np.sqrt(n)
    assert iv.delta == pytest.approx(d.mean())
    assert iv.low < 0.02 < iv.high
    assert (iv.high - iv.low) / 2 == pytest.approx(half, rel=0.15)
    unpaired_half = 1.96 * np.sqrt(a.var(ddof=1) / n + b.var(ddof=1) / n)
    assert (iv.high - iv.low) / 2 < unpaired_half / 3
    assert paired_bootstrap(a, b, seed=3) == paired_bootstrap(a, b, seed=3)


def test_bootstrap_coverage_is_about_95_percent() -> None:
    rng = np.random.default_rng(7)
    hits = 0
    for _ in range(200):
        b = rng.uniform(0, 1, 60)
        a = b + 0.01 + rng.normal(0, 0.1, 60)
        iv = paired_bootstrap(a, b, n_resamples=500, seed=int(rng.integers(1 << 30)))
        hits += iv.low <= 0.01 <= iv.high
    assert 0.89 <= hits / 200 <= 0.99


def test_bootstrap_over_tasks_is_unweighted_and_alignment_uses_common_queries() -> None:
    big = (np.full(1000, 0.5), np.full(1000, 0.5))  # delta 0 on a big task
    small = (np.full(10, 0.6), np.full(10, 0.5))  # delta 0.1 on a small one
    iv = paired_bootstrap_tasks([big, small])
    assert iv.delta == pytest.approx(0.05) and iv.n == 1010  # task mean, not query mean (0.001)
    x, y, common = align({"q1": 1.0, "q2": 0.5, "q3": 0.0}, {"q2": 0.25, "q3": 0.5, "q4": 1.0})
    assert common == ["q2", "q3"] and x.tolist() == [0.5, 0.0] and y.tolist() == [0.25, 0.5]
    assert interval_from_per_query(None, {"q": 1.0}) is None
    assert interval_from_per_query({"a": 1.0}, {"b": 1.0}) is None
    assert Interval(0.0123, -0.004, 0.0301, 10).format() == "+1.23 [-0.40, +3.01]"
    with pytest.raises(ValueError, match="equal 1-d shapes"):
        paired_bootstrap([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="NaN"):
        paired_bootstrap([np.nan], [1.0])


def test_sweep_without_full_float32_falls_back_to_its_most_common_cell(df) -> None:
    from leafbench.report.build import report_from_frame
    from leafbench.report.frame import MAIN_CELL, pick_main_cell

    assert pick_main_cell(df) == MAIN_CELL
    only128 = df[df["dim_label"] == "128"]
    assert pick_main_cell(only128) == ("128", "float32")
    titles = [t.title for t in report_from_frame(only128).tables]
    assert "Leaderboard: data 16q/64d (128 dim, float32)" in titles  # the fixture is a 16q/64d subset


def test_exported_model_meta_is_the_same_on_every_export() -> None:
    """mteb keeps a model's training datasets as a set; the export sorts them, so re-exporting the same model writes
    the same model_meta.json (an identical file is no conflict) whatever the process's hash seed."""
    import pandas as pd

    from leafbench.report.mteb_export import model_meta_dict

    row = pd.Series({"query_hf_id": "sentence-transformers/all-MiniLM-L6-v2", "query_id": "a", "document_id": "a"})
    datasets = model_meta_dict("all-MiniLM-L6-v2", "abc", row)["training_datasets"]
    assert len(datasets) > 1 and datasets == sorted(datasets, key=str)
