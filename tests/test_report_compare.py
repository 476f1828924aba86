"""Fast tests (no models) of the report's comparisons: Table 1 per teacher, benchmark and data protocol,
the deduplicated leaderboard (one mean per benchmark and protocol), rank ranges from bootstrap intervals, and the
mteb results-folder export."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leafbench.report import compare as cmp
from leafbench.report.bootstrap import format_rank, paired_bootstrap_ratio_tasks, paired_bootstrap_tasks, rank_ranges
from leafbench.report.frame import display_name
from leafbench.report.leaderboard import leaderboard

REPO = Path(__file__).resolve().parents[1]


def _row(run, mode, task, score, q, d, ttype="Retrieval", protocol="full", pq=None, distilled=False):
    return {
        "run": run,
        "mode": mode,
        "task": task,
        "score": score,
        "query_id": q,
        "document_id": d,
        "query_name": q,
        "document_name": d,
        "task_type": ttype,
        "protocol": protocol,
        "per_query": pq,
        "path": f"{run}/{mode}/{task}.json",
        "n_queries": None,
        "distilled": distilled,
    }


def _pq(values, prefix="q"):
    return {f"{prefix}{i}": float(v) for i, v in enumerate(values)}


def test_display_name_uses_checkpoint_folder_not_path() -> None:
    assert display_name("runs/leaf-mpnet-stage9/final") == "leaf-mpnet-stage9"
    assert display_name("runs/untrained-ortho") == "untrained-ortho"
    assert display_name("minilm-l6") == "minilm-l6"
    assert display_name("org/model", {"hf_id": "org/model"}) == "org/model"


def test_table1_numbers_percent_and_interval() -> None:
    rng = np.random.default_rng(0)
    t = rng.uniform(0.4, 0.8, 200)
    s, a = t * 0.9, t * 0.95
    rows = []
    for run in ("pair-a", "pair-b"):  # the same pair in two folders: one table per benchmark, teacher once
        rows += [
            _row(run, "teacher", "SciFact", t.mean(), "T", "T", pq=_pq(t)),
            _row(run, "student", "SciFact", s.mean(), "S", "S", pq=_pq(s)),
            _row(run, "asymmetric", "SciFact", a.mean(), "S", "T", pq=_pq(a)),
            _row(run, "teacher", "STS12", 0.80, "T", "T", ttype="STS"),
            _row(run, "student", "STS12", 0.72, "S", "S", ttype="STS"),
            _row(run, "asymmetric", "STS12", 0.72, "S", "S", ttype="STS"),
        ]
    beir, mteb = cmp.table1s(pd.DataFrame(rows))
    assert (beir.benchmark, mteb.benchmark) == ("BEIR", "MTEB(eng, v2)")
    teacher, student, asym, delta = beir.rows
    assert teacher.runs == student.runs == ("pair-a", "pair-b")
    sci = student.cells["SciFact"]
    assert sci.pct == pytest.approx(90.0) and asym.cells["SciFact"].pct == pytest.approx(95.0)
    ci = sci.pct_ci
    assert ci.low <= 0.9 <= ci.high and ci.high - ci.low < 1e-9  # an exact 0.9 ratio per query: no spread
    # Asym − student: points x100 with its paired interval.
    assert delta.cells["SciFact"].score == pytest.approx(100 * (a.mean() - s.mean()))
    iv = delta.cells["SciFact"].delta_ci
    assert iv.low <= delta.cells["SciFact"].score / 100 <= iv.high
    # STS12 has no document side: asymmetric is the student, so its table has the student's row only.
    assert mteb.no_doc_side and [r.mode for r in mteb.rows] == ["teacher", "student"]
    sts = mteb.rows[1].cells["STS12"]
    assert sts.pct == pytest.approx(90.0) and sts.pct_ci is None  # no per-query scores for STS here
    from leafbench.report.build import table1_report_table

    text = table1_report_table(beir, "table1-1").text.set_index("Mode")["SciFact"]
    assert text["asym − student"].startswith(f"+{round(100 * a.mean(), 2) - round(100 * s.mean(), 2):.2f} [")


# Three students of one teacher: per-query ratios to the teacher's scores (student, asymmetric) per task.
STUDENTS = {
    "S1": {"SciFact": (0.90, 0.95), "NFCorpus": (0.88, 0.93)},
    "S2": {"SciFact": (0.80, 0.86), "NFCorpus": (0.78, 0.70)},
    "S3": {"SciFact": (0.85, 0.84), "NFCorpus": (0.83, 0.90)},
}
SUBSET = "10q/100d"


def _three_students() -> tuple[pd.DataFrame, dict]:
    """A teacher and three students on SciFact and NFCorpus at the full protocol and at a 10q/100d subset (where S3
    has no NFCorpus run), plus STS12 at full; per-query scores everywhere but STS. Returns the frame and, per
    (protocol, task), the per-query arrays: {"T": teacher, (name, mode): ...}."""
    rng = np.random.default_rng(7)
    rows, arrays = [], {}
    for proto, n, lift in (("full", 300, 0.0), (SUBSET, 10, 0.12)):
        for task in ("SciFact", "NFCorpus"):
            t = np.clip(rng.uniform(0.3, 0.8, n) + lift, 0, 1)
            arrays[(proto, task)] = {"T": t}
            for name, ratios in STUDENTS.items():
                if proto == SUBSET and name == "S3" and task == "NFCorpus":
                    continue
                run = f"{name}+T" + ("" if proto == "full" else f" [{proto}]")
                rows.append(_row(run, "teacher", task, t.mean(), "T", "T", protocol=proto, pq=_pq(t)))
                for mode, ratio in zip(("student", "asymmetric"), ratios[task]):
                    x = np.clip(t * ratio + rng.normal(0, 0.03, n), 0, 1)
                    arrays[(proto, task)][(name, mode)] = x
                    d = name if mode == "student" else "T"
                    rows.append(_row(run, mode, task, x.mean(), name, d, protocol=proto, pq=_pq(x)))
    for name, sts in (("S1", 0.70), ("S2", 0.74), ("S3", 0.66)):
        rows += [
            _row(f"{name}+T", "teacher", "STS12", 0.80, "T", "T", ttype="STS"),
            _row(f"{name}+T", "student", "STS12", sts, name, name, ttype="STS"),
            _row(f"{name}+T", "asymmetric", "STS12", sts, name, name, ttype="STS"),
        ]
    return pd.DataFrame(rows), arrays


def _by_id(*xs: np.ndarray) -> list[np.ndarray]:
    """Per-query arrays in the report's pairing order: query ids sorted as strings (q0, q1, q10, ...)."""
    order = sorted(range(len(xs[0])), key=lambda i: f"q{i}")
    return [x[order] for x in xs]


def _score_and_pct(cell: str) -> tuple[str, str]:
    """``59.00 (90.0% [85.7, 94.3])`` -> ("59.00", "90.0% [85.7, 94.3]")."""
    m = re.fullmatch(r"(\d+\.\d\d) \((.*)\)", cell)
    assert m, cell
    return m.group(1), m.group(2)


def test_table1_one_table_per_benchmark_and_protocol_teacher_once() -> None:
    from leafbench.report.build import table1_report_table
    from leafbench.report.html import table_html
    from leafbench.report.table import to_markdown

    df, arrays = _three_students()
    tables = cmp.table1s(df)
    assert [(t.benchmark, t.protocol) for t in tables] == [
        ("BEIR", "full"),
        ("MTEB(eng, v2)", "full"),
        ("BEIR", SUBSET),
    ]
    texts = {(t.benchmark, t.protocol): table1_report_table(t, f"table1-{i}").text for i, t in enumerate(tables)}
    for proto in ("full", SUBSET):
        text, tasks = texts[("BEIR", proto)], ("SciFact", "NFCorpus")
        t_scores = {task: f"{100 * arrays[(proto, task)]['T'].mean():.2f}" for task in tasks}
        for task in tasks:  # the teacher's score appears once in its column: in the teacher row
            assert list(text[task].str.split(" ").str[0]).count(t_scores[task]) == 1
            assert text.loc[text["Mode"] == "teacher", task].item() == t_scores[task]
        assert list(text["Mode"]).count("teacher") == 1
        for name in STUDENTS:
            mine = text[text["Model"] == name].set_index("Mode")
            assert list(mine.index) == ["student", "asymmetric", "asym − student"]
            for task in tasks:
                if (name, "student") not in arrays[(proto, task)]:
                    assert set(mine[task]) == {"–"}  # S3 has no NFCorpus run at the subset protocol
                    continue
                t, s, a = (arrays[(proto, task)][k] for k in ("T", (name, "student"), (name, "asymmetric")))
                for mode, x in (("student", s), ("asymmetric", a)):
                    score, pct = _score_and_pct(mine.loc[mode, task])
                    assert score == f"{100 * x.mean():.2f}"
                    iv = paired_bootstrap_ratio_tasks([tuple(_by_id(x, t))])
                    assert pct == f"{100 * x.mean() / t.mean():.1f}% [{100 * iv.low:.1f}, {100 * iv.high:.1f}]"
                shown = round(100 * a.mean(), 2) - round(100 * s.mean(), 2)
                iv = paired_bootstrap_tasks([tuple(_by_id(a, s))])
                assert mine.loc["asym − student", task] == f"{shown:+.2f} [{100 * iv.low:+.2f}, {100 * iv.high:+.2f}]"
    # Full protocol: every student has both datasets, so there is a % of teacher column over both, students
    # ordered by it; the means themselves are the leaderboard's to print, not Table 1's.
    full = texts[("BEIR", "full")]
    assert list(full["Model"]) == ["T", "S1", "S1", "S1", "S3", "S3", "S3", "S2", "S2", "S2"]
    ts = [arrays[("full", task)]["T"].mean() for task in ("SciFact", "NFCorpus")]
    assert full.loc[0, "% of teacher (2 datasets)"] == "100%"
    s1 = [arrays[("full", task)][("S1", "student")].mean() for task in ("SciFact", "NFCorpus")]
    assert full.loc[1, "% of teacher (2 datasets)"].startswith(f"{100 * np.mean(s1) / np.mean(ts):.1f}% [")
    assert f"{100 * np.mean(ts):.2f}" not in set(full.to_numpy().ravel())
    # The subset: S3 lacks NFCorpus, so no dataset pair is in every row: no Mean column, and the note says why.
    sub = next(t for t in tables if t.protocol == SUBSET)
    assert not sub.mean_tasks and sub.missing == {"S3": ["NFCorpus"]}
    assert list(texts[("BEIR", SUBSET)].columns) == ["Model", "Mode", "NFCorpus", "SciFact"]
    # No number crosses protocols: the subset table holds none of the full table's scores, and the reverse.
    for a_key, b_key in ((("BEIR", "full"), ("BEIR", SUBSET)), (("BEIR", SUBSET), ("BEIR", "full"))):
        a_nums = {c.split(" ")[0] for col in ("SciFact", "NFCorpus") for c in texts[a_key][col]} - {"–"}
        b_scores = {
            f"{100 * x.mean():.2f}" for (proto, _), d in arrays.items() if proto == b_key[1] for x in d.values()
        }
        assert not a_nums & b_scores
    # STS12 alone in its benchmark, no document side: one student row per student, the teacher once.
    sts = texts[("MTEB(eng, v2)", "full")]
    assert list(sts["Mode"]) == ["teacher", "student", "student", "student"] and list(sts["STS12"])[0] == "80.00"
    assert list(sts["Model"]) == ["T", "S2", "S1", "S3"]
    # Rendered: Markdown under its title with the rows' notes; HTML with the filter box (10 rows) and row groups.
    rt = table1_report_table(tables[2], "table1-3")
    md = to_markdown(rt)
    assert md.startswith("### BEIR, data 10q/100d: teacher T and 3 students") and "No result: S3 on NFCorpus" in md
    page = table_html(rt)
    assert 'class="filter"' in page and page.count('<tr class="group">') == 3 and page.count('class="reference"') == 1


def test_ratio_interval_covers_a_noisy_ratio() -> None:
    rng = np.random.default_rng(1)
    t = rng.uniform(0.3, 0.9, 300)
    s = np.clip(t * 0.8 + rng.normal(0, 0.05, 300), 0, 1)
    iv = paired_bootstrap_ratio_tasks([(s, t)])
    assert iv.low < s.mean() / t.mean() < iv.high and iv.high - iv.low < 0.1


def test_identical_teacher_results_are_one_row_and_conflicts_raise() -> None:
    rows = [_row(f"pair-{i}", "teacher", "SICK-R", 0.8059, "T", "T", ttype="STS") for i in range(12)]
    c = cmp.cells(pd.DataFrame(rows))
    assert len(c) == 1 and len(c["runs"].iloc[0]) == 12
    assert leaderboard(c).order == [cmp.system_key("T", "T")]
    rows.append(_row("pair-x", "teacher", "SICK-R", 0.70, "T", "T", ttype="STS"))
    with pytest.raises(cmp.ConflictingResults, match="0.70000 vs 0.80590"):
        cmp.cells(pd.DataFrame(rows))


def test_asymmetric_rows_only_where_the_mode_changes_something() -> None:
    rows = [
        _row("r", "student", "STS12", 0.7, "S", "S", ttype="STS"),
        _row("r", "asymmetric", "STS12", 0.7, "S", "S", ttype="STS"),
        _row("r", "teacher", "STS12", 0.8, "T", "T", ttype="STS"),
    ]
    b = leaderboard(cmp.cells(pd.DataFrame(rows)))
    assert sorted(b.labels[k][0] for k in b.order) == ["S", "T"]  # no "S → T" row: it would repeat S
    rows += [
        _row("r", "student", "SciFact", 0.5, "S", "S"),
        _row("r", "asymmetric", "SciFact", 0.55, "S", "T"),
        _row("r", "teacher", "SciFact", 0.6, "T", "T"),
    ]
    b = leaderboard(cmp.cells(pd.DataFrame(rows)))
    k = cmp.system_key("S", "T")
    assert b.labels[k] == ("S → T", "asymmetric")
    means = {m.name: m for m in b.means}
    assert bool(means["MTEB(eng, v2)"].inherited.at[k, "STS12"])
    assert means["MTEB(eng, v2)"].scores.at[k, "STS12"] == pytest.approx(70.0)
    assert means["MTEB(eng, v2)"].mean[k] == pytest.approx(70.0)  # the student's STS12 counts for S → T
    assert not means["BEIR"].inherited.at[k, "SciFact"] and means["BEIR"].mean[k] == pytest.approx(55.0)


def test_ranks_only_over_shared_tasks_and_incomplete_rows_listed() -> None:
    tasks = ["A", "B", "C", "D"]
    rows = [_row("m1", "student", t, 0.5, "M1", "M1", ttype="STS") for t in tasks]
    rows += [_row("m2", "student", t, 0.6, "M2", "M2", ttype="STS") for t in tasks[:3]]  # misses D
    rows += [_row("m3", "student", "A", 0.9, "M3", "M3", ttype="STS")]  # one task: would "win" on it
    b = leaderboard(cmp.cells(pd.DataFrame(rows)))
    (m,) = b.means  # tasks mteb does not know: one "Your datasets" column
    assert m.name == "Your datasets" and m.tasks == ["A", "B", "C"] and m.header == "Your datasets mean (3 tasks)"
    assert [b.labels[k][0] for k in b.order if k in b.ranks] == ["M2", "M1"]  # M2 better on every shared task
    assert [b.labels[k][0] for k in b.order if k not in b.ranks] == ["M3"]
    m3 = cmp.system_key("M3", "M3")
    assert m.lacking == {m3: ["B", "C"]} and np.isnan(m.mean[m3])  # no mean over its one task
    assert m.mean[cmp.system_key("M1", "M1")] == pytest.approx(50.0)


def test_rank_groups_from_paired_bootstrap() -> None:
    rng = np.random.default_rng(2)
    base = rng.uniform(0.2, 0.8, 300)
    good, bad = np.clip(base + 0.2, 0, 1), base
    twin = bad.copy()
    rows = [
        _row("g", "student", "SciFact", good.mean(), "G", "G", pq=_pq(good)),
        _row("b", "student", "SciFact", bad.mean(), "B", "B", pq=_pq(bad)),
        _row("t", "student", "SciFact", twin.mean(), "W", "W", pq=_pq(twin)),
    ]
    b = leaderboard(cmp.cells(pd.DataFrame(rows)))
    assert b.method == "queries"
    ranks = {b.labels[k][0]: b.ranks[k] for k in b.ranks}
    assert ranks["G"] == (1, 1)
    assert ranks["B"] == ranks["W"] == (2, 3)  # identical rows: one rank group
    assert format_rank(b.ranks[cmp.system_key("B", "B")]) == "2–3"


def test_rank_ranges_from_a_significance_matrix() -> None:
    better = np.array([[False, True, True], [False, False, False], [False, False, False]])
    assert rank_ranges(better) == [(1, 1), (2, 3), (2, 3)]


def test_mteb_export_is_read_by_mteb_result_cache(tmp_path: Path) -> None:
    mteb = pytest.importorskip("mteb")
    from leafbench.report.mteb_export import export_mteb

    src = tmp_path / "results" / "minilm-l6" / "student"
    src.mkdir(parents=True)
    for task in ("SciFact", "STS12"):
        shutil.copy(REPO / "results" / "minilm-l6" / "student" / f"{task}.json", src / f"{task}.json")
    shutil.copy(REPO / "results" / "minilm-l6" / "student" / "STS12__64d-int8.json", src / "STS12__64d-int8.json")
    s = export_mteb(tmp_path / "results", tmp_path / "any-folder")  # any folder: mteb.ResultCache reads it
    model = tmp_path / "any-folder" / "results" / "sentence-transformers__all-MiniLM-L6-v2" / "no_revision_available"
    assert sorted(p.name for p in model.iterdir()) == ["STS12.json", "SciFact.json", "model_meta.json"]
    assert s.skipped == {"other dims/dtypes": 1}
    meta = json.loads((model / "model_meta.json").read_text())
    assert meta["name"] == "sentence-transformers/all-MiniLM-L6-v2"
    res = mteb.ResultCache(tmp_path / "any-folder").load_results(include_remote=False)
    [m] = res.model_results
    got = {t.task_name: t.get_score() for t in m.task_results}
    want = json.loads((src / "STS12.json").read_text())["scores"]["test"][0]["main_score"]
    assert m.model_name == "sentence-transformers/all-MiniLM-L6-v2" and got["STS12"] == pytest.approx(want)


def test_mteb_export_of_several_folders_keeps_each_system(tmp_path: Path) -> None:
    """The repo's results and the offline experiment's in one export: hub models by hub id, each distilled
    student and each asymmetric pair as its own mteb model, every one readable by mteb."""
    mteb = pytest.importorskip("mteb")
    from leafbench.report.mteb_export import export_mteb

    s = export_mteb([REPO / "results", REPO / "experiments" / "mpnet-offline" / "results"], tmp_path / "export")
    res = mteb.ResultCache(tmp_path / "export").load_results(include_remote=False)
    names = {m.model_name for m in res.model_results}
    assert {
        "sentence-transformers/all-mpnet-base-v2",
        "leaf-mpnet-stage8",
        "leaf-mpnet-stage8_asym_mpnet-base",
    } <= names
    assert len(s.written) == sum(len(m.task_results) for m in res.model_results)


def test_rank_ranges_test_per_query_columns_when_few_tasks_lack_them() -> None:
    rng = np.random.default_rng(3)
    base = rng.uniform(0.2, 0.8, 300)
    rows = []
    for name, shift in (("G", 0.2), ("B", 0.0)):
        v = np.clip(base + shift, 0, 1)
        rows += [
            _row(name, "student", "my-retrieval", v.mean(), name, name, pq=_pq(v)),
            _row(name, "student", "my-sts", 0.7, name, name, ttype="STS"),
        ]  # no per-query scores
    b = leaderboard(cmp.cells(pd.DataFrame(rows)))
    assert b.means[0].tasks == ["my-retrieval", "my-sts"]  # one "Your datasets" mean over both
    assert b.method == "partial" and b.tested == ["my-retrieval"]
    assert [b.ranks[k] for k in b.order] == [(1, 1), (2, 2)]


def test_export_command_through_typer(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from leafbench.cli import app

    src = tmp_path / "results" / "minilm-l6" / "student"
    src.mkdir(parents=True)
    shutil.copy(REPO / "results" / "minilm-l6" / "student" / "STS12.json", src / "STS12.json")
    r = CliRunner().invoke(app, ["export-mteb", str(tmp_path / "results"), "--output", str(tmp_path / "c")])
    assert r.exit_code == 0, r.output
    assert "wrote 1 results for 1 models" in r.output and f"ResultCache({str(tmp_path / 'c')!r})" in r.output
    r = CliRunner().invoke(app, ["export-mteb", str(tmp_path / "nope"), "--output", str(tmp_path / "c2")])
    old = CliRunner().invoke(app, ["export-mteb", str(tmp_path / "results"), "--out", str(tmp_path / "c3" / "results")])
    assert old.exit_code == 0 and "--out is now --output" in old.output  # the old spelling, for one release
    assert r.exit_code == 2 and "results folder not found" in r.output


def test_an_asymmetric_pair_is_exported_under_its_routers_name(tmp_path: Path) -> None:
    """--name EXPORTED=PUBLISHED: the pair's results under the hub id its Router model was pushed to, as mteb reads
    them; an unknown or malformed name is one line, exit 2, nothing written."""
    mteb = pytest.importorskip("mteb")
    from typer.testing import CliRunner

    from leafbench.cli import app

    src = REPO / "experiments" / "mpnet-offline" / "results"
    pair = "leaf-mpnet-stage8_asym_mpnet-base"
    args = ["export-mteb", str(src), "--output", str(tmp_path / "c"), "--name", f"{pair}=org/leaf-mpnet-router"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    res = mteb.ResultCache(tmp_path / "c").load_results(include_remote=False)
    names = {m.model_name for m in res.model_results}
    assert "org/leaf-mpnet-router" in names and pair not in names and "leaf-mpnet-stage8" in names
    meta = json.loads(
        next((tmp_path / "c" / "results" / "org__leaf-mpnet-router").glob("*/model_meta.json")).read_text()
    )
    assert meta["name"] == "org/leaf-mpnet-router"
    for bad, says in ((["--name", "nope=org/x"], "no exported system is named 'nope'"), (["--name", "x"], "EXPORTED=")):
        r = CliRunner().invoke(app, ["export-mteb", str(src), "--output", str(tmp_path / "d"), *bad])
        assert r.exit_code == 2 and says in r.output, r.output
        assert not (tmp_path / "d" / "results").exists()


def test_is_distilled_needs_a_teacher_or_a_distill_tree(tmp_path: Path) -> None:
    from leafbench.record import ResultRecord
    from leafbench.report.frame import is_distilled

    def rec(path: Path, mode: str, model: dict) -> ResultRecord:
        return ResultRecord(mode=mode, task_type="Retrieval", student=model, path=path)

    ckpt = {"name": "runs/my-model/final", "hf_id": None}
    alone = tmp_path / "my-model" / "student" / "SciFact.json"
    alone.parent.mkdir(parents=True)
    assert not is_distilled(rec(alone, "student", ckpt), tmp_path)  # a user's own model: leaderboard
    (tmp_path / "my-model" / "teacher").mkdir()
    assert is_distilled(rec(alone, "student", ckpt), tmp_path)
    assert not is_distilled(rec(alone, "teacher", {"name": "mpnet-base", "hf_id": "x/y"}), tmp_path)
    hub = tmp_path / "distill" / "r" / "student" / "SciFact.json"
    assert is_distilled(rec(hub, "student", {"name": "minilm-l6", "hf_id": "x/y"}), tmp_path)


def test_committed_results_answer_the_questions() -> None:
    """The committed results (the repo's and the offline experiment's, one report over both folders, as
    reports/ is rendered): SciFact's full-data Table 1 first, the teacher once, one mpnet-base row in the
    leaderboard."""
    from leafbench.report.build import build_report

    rep = build_report([REPO / "results", REPO / "experiments" / "mpnet-offline" / "results"])
    first = rep.tables[0]
    assert first.key == "table1-1" and first.title.startswith("BEIR, full data: teacher mpnet-base and ")
    assert list(first.text["Mode"]).count("teacher") == 1
    assert all(v not in ("–", "") for v in first.text["SciFact"])
    board = next(t for t in rep.tables if t.key == "leaderboard")
    models = list(board.text["Model"])
    assert models[:2] == ["mpnet-base", "minilm-l6"] and models.count("mpnet-base") == 1  # 13 folders: one row
    assert list(board.text["Rank"])[:2] == ["1", "2"] and set(list(board.text["Rank"])[2:]) == {"–"}
    assert not any("/" in m for t in rep.tables if "Model" in t.text for m in t.text["Model"] if "runs/" in m)
    md = rep.to_markdown()
    assert md.index("BEIR, full data: teacher") < md.index("## Leaderboard") < md.index("## Deployment")
    assert "## Distillation" not in md  # distilled students are leaderboard rows of their protocol


def test_a_missing_results_folder_is_named(tmp_path: Path) -> None:
    from leafbench.report.build import build_report
    from leafbench.report.frame import ReportError

    with pytest.raises(ReportError, match="nowhere"):
        build_report([REPO / "results", tmp_path / "nowhere"])


def test_disagreeing_copies_become_one_row_per_run() -> None:
    rows = [
        _row("a", "student", "STS12", 0.70, "M", "M", ttype="STS"),
        _row("b", "student", "STS12", 0.75, "M", "M", ttype="STS"),
        _row("a", "student", "STS13", 0.60, "M", "M", ttype="STS"),
        _row("b", "student", "STS13", 0.60, "M", "M", ttype="STS"),
    ]
    df = cmp.split_conflicts(pd.DataFrame(rows))
    b = leaderboard(cmp.cells(df))
    assert sorted(lbl for lbl, _ in b.labels.values()) == ["M (a)", "M (b)"]
    assert b.means[0].scores.loc[cmp.system_key("M#b", "M#b"), "STS12"] == pytest.approx(75.0)


# --------------------------------------------------------------------------- hostile input: scores, splits, export


def _synthetic(root: Path, run: str, task: str, score: float, split: str = "test") -> Path:
    """A result file as `leafbench run` writes it, for a model named `run`, without a model."""
    from leafbench.record import build_result, write_result

    block = {"mode": "student", "split": split, "student": {"name": run, "identity": f"local:{run}"}}
    path = root / run / "student" / f"{task}.json"
    write_result(path, build_result(task, split, {"ndcg_at_10": score, "main_score": score}, 1.0, block))
    return path


def _cli(*commands: str):
    """The leafbench command (its one error handler prints bad input as `error: ...`, exit 2)."""
    from leafbench.cli import app

    return app


@pytest.mark.parametrize("raw", ["NaN", "Infinity", '"0.9"', "true", "5.0"])
def test_report_refuses_a_main_score_that_is_not_a_real_number(tmp_path: Path, raw: str) -> None:
    """A NaN, infinite, string, boolean or out-of-range main score is refused naming the file and the key (exit
    2), by the report and the export alike, instead of being ranked."""
    from typer.testing import CliRunner

    _synthetic(tmp_path / "results", "good", "SciFact", 0.5)
    bad = _synthetic(tmp_path / "results", "bad", "SciFact", 0.5)
    d = json.loads(bad.read_text())
    d["scores"]["test"][0]["main_score"] = "__RAW__"
    bad.write_text(json.dumps(d).replace('"__RAW__"', raw))
    app = _cli("report", "export-mteb")
    for args in (
        ["report", "--output", str(tmp_path / "rep"), "--no-figures"],
        ["export-mteb", "--output", str(tmp_path / "c")],
    ):
        r = CliRunner().invoke(app, [args[0], str(tmp_path / "results"), *args[1:]])
        out = " ".join(r.output.split())
        assert r.exit_code == 2, r.output
        assert out.startswith(f"error: {bad}: scores.test[0].main_score is "), out
    assert not (tmp_path / "rep" / "index.md").exists() and not (tmp_path / "c").exists()


def test_report_keeps_a_non_default_split_out_of_the_leaderboard(tmp_path: Path) -> None:
    """A --split train result is its own protocol ("split=train", like a subset): shown apart, never ranked in
    the full-protocol leaderboard, never exported as the model's mteb number."""
    from leafbench.report.build import build_report
    from leafbench.report.mteb_export import export_mteb

    root = tmp_path / "results"
    for run, score in (("a", 0.6), ("c", 0.5)):
        _synthetic(root, run, "SciFact", score)
        _synthetic(root, run, "NFCorpus", score)
    _synthetic(root, "b", "SciFact", 0.9, split="train")  # would top the SciFact column
    _synthetic(root, "b", "NFCorpus", 0.9)
    rep = build_report(root)
    proto = dict(zip(rep.df["path"].map(lambda p: Path(p).parts[-3] + "/" + Path(p).stem), rep.df["protocol"]))
    assert proto["b/SciFact"] == "split=train" and proto["a/SciFact"] == proto["b/NFCorpus"] == "full"
    board = next(t for t in rep.tables if t.key == "leaderboard").text.set_index("Model")
    beir = "BEIR mean (2 of 15 tasks)"  # NFCorpus and SciFact, on the test split
    assert board.loc["b", beir] == "–" and board.loc["a", beir] == "60.00" and board.loc["c", beir] == "50.00"
    train = next(t for t in rep.tables if t.key == "leaderboard-split-train").text
    assert train.set_index("Model").loc["b", "BEIR mean (1 of 15 tasks)"] == "90.00"
    s = export_mteb(root, tmp_path / "cache")
    assert s.skipped == {"query/document subsets or other splits": 1}
    assert (tmp_path / "cache" / "results" / "a" / "local-a" / "SciFact.json").exists()
    assert not (tmp_path / "cache" / "results" / "b" / "local-b" / "SciFact.json").exists()


def test_export_refuses_to_overwrite_existing_files(tmp_path: Path) -> None:
    """An existing file in --out is refused naming it (exit 2) and nothing is written; --overwrite replaces it.
    The same model_meta.json from an earlier export of other tasks is not a conflict."""
    from typer.testing import CliRunner

    app = _cli("export-mteb")
    out = tmp_path / "cache"
    model = out / "results" / "m" / "local-m"
    _synthetic(tmp_path / "first", "m", "SciFact", 0.5)
    assert CliRunner().invoke(app, ["export-mteb", str(tmp_path / "first"), "--output", str(out)]).exit_code == 0
    _synthetic(tmp_path / "second", "m", "NFCorpus", 0.4)  # another task of the same model: adds to the folder
    r = CliRunner().invoke(app, ["export-mteb", str(tmp_path / "second"), "--output", str(out)])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in model.iterdir()) == ["NFCorpus.json", "SciFact.json", "model_meta.json"]
    (model / "SciFact.json").write_text("mine")
    _synthetic(tmp_path / "first", "m", "SciFact", 0.7)
    r = CliRunner().invoke(app, ["export-mteb", str(tmp_path / "first"), "--output", str(out)])
    assert r.exit_code == 2 and f"error: {model / 'SciFact.json'}: already exists" in " ".join(r.output.split())
    assert (model / "SciFact.json").read_text() == "mine"
    assert not [p for p in out.rglob("*") if p.name.startswith(".leafbench-export")]  # no staging left behind
    r = CliRunner().invoke(app, ["export-mteb", str(tmp_path / "first"), "--output", str(out), "--overwrite"])
    assert r.exit_code == 0, r.output
    assert json.loads((model / "SciFact.json").read_text())["scores"]["test"][0]["main_score"] == 0.7


def test_export_is_all_or_nothing(tmp_path: Path) -> None:
    """A conflict on any file is found before the first file is written: the export writes nothing at all."""
    from leafbench.report.frame import ReportError
    from leafbench.report.mteb_export import export_mteb

    for task in ("ArguAna", "NFCorpus", "SciFact"):
        _synthetic(tmp_path / "results", "m", task, 0.5)
    model = tmp_path / "out" / "results" / "m" / "local-m"
    model.mkdir(parents=True)
    (model / "SciFact.json").write_text("mine")  # the last task: the others would be written first
    with pytest.raises(ReportError, match="SciFact.json: already exists"):
        export_mteb(tmp_path / "results", tmp_path / "out")
    assert [p.name for p in (tmp_path / "out").rglob("*") if p.is_file()] == ["SciFact.json"]
    (model / "SciFact.json").unlink()
    (model / "NFCorpus.json").mkdir()  # a folder where a result goes: refused too, before writing
    with pytest.raises(ReportError, match="NFCorpus.json: is in the way"):
        export_mteb(tmp_path / "results", tmp_path / "out")
    assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file()]


def test_leaderboard_has_mtebs_model_columns() -> None:
    """Params, dim, max tokens and memory as MTEB's leaderboard shows them: from mteb's registry for a hub model
    it knows (the length a result was evaluated at wins), empty rather than guessed for a local checkpoint."""
    from leafbench.report.build import build_report
    from leafbench.report.model_meta import params_text

    board = next(t for t in build_report(REPO / "results").tables if t.key == "leaderboard").text.set_index("Model")
    cols = list(board.columns)
    assert cols[cols.index("Mode") + 1 : cols.index("Mode") + 5] == ["Params", "Dim", "Max tokens", "Memory (MB)"]
    assert board.loc["minilm-l6", ["Params", "Dim", "Max tokens", "Memory (MB)"]].tolist() == [
        "22.7M",
        "384",
        "256",
        "87",
    ]
    assert board.loc["mpnet-base", "Params"] == "109M"
    assert (params_text(None), params_text(1.2e9), params_text(5000)) == ("–", "1.2B", "5,000")
