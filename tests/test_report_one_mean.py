"""One benchmark mean per (model, benchmark, data protocol) in the whole report: models covering different task
subsets get a mean only over the task set a leaderboard column names, – where they lack one of its tasks, and no
other table (Table 1, the per-task tables, another protocol's leaderboard) prints a competing mean.

Result files are written with the real schema (leafbench.record.build_result), no model runs.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

RNG = np.random.default_rng(11)
MTEB, BEIR = "MTEB(eng, v2)", "BEIR"
BENCH = {"STS12": MTEB, "STS13": MTEB, "STS14": MTEB, "SICK-R": MTEB, "SciFact": BEIR, "NFCorpus": BEIR}
# model -> task -> score; tasks in no benchmark the report knows fall in "Your datasets".
COVERAGE = {
    "alpha": ["STS12", "STS13", "STS14", "SICK-R", "SciFact", "NFCorpus", "my-task"],
    "beta": ["STS12", "STS13", "STS14", "SciFact", "NFCorpus", "my-task"],
    "gamma": ["STS12", "STS13", "STS14", "SICK-R", "SciFact"],  # lacks NFCorpus
    "delta": ["STS12"],  # one STS task: under half of alpha's four, never shrinks the task set
}
SCORES = {m: {t: round(float(RNG.uniform(0.3, 0.9)), 6) for t in ts} for m, ts in COVERAGE.items()}
# A (student, teacher) pair: Table 1 rows, and a teacher with two of the STS tasks only.
PAIR = {
    "teacher": {"STS12": 0.8311, "STS13": 0.7467, "SciFact": 0.4793},
    "student": {"STS12": 0.7529, "STS13": 0.6683, "SciFact": 0.4017},
    "asymmetric": {"SciFact": 0.4261},
}
ST, TE = "student-m", "teacher-m"
SUBSET = {"alpha": 0.5531, "beta": 0.5077}  # SciFact at 10 queries: another protocol


def _write(root: Path, run: str, mode: str, task: str, score: float, query: str, doc: str, **extra) -> None:
    from leafbench.record import build_result, write_result

    models = {"student": {"name": query, "identity": f"local:{query}"}}
    if doc != query or mode == "teacher":
        models["teacher"] = {"name": doc, "identity": f"local:{doc}"}
    block = {"mode": mode, "split": "test", "query_model": query, "document_model": doc, **models, **extra}
    metric = "ndcg_at_10" if BENCH.get(task) == BEIR else "cosine_spearman"
    res = build_result(task, "test", {metric: score, "main_score": score}, 1.0, block)
    write_result(root / run / mode / f"{task}.json", res)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    from leafbench.report.build import build_report

    root = tmp_path_factory.mktemp("results")
    for model, scores in SCORES.items():
        for task, v in scores.items():
            _write(root, model, "student", task, v, model, model)
    for model, v in SUBSET.items():
        _write(root, f"{model}__10q", "student", "SciFact", v, model, model, subset={"max_queries": 10})
    for mode, scores in PAIR.items():
        for task, v in scores.items():
            q, d = {"teacher": (TE, TE), "student": (ST, ST)}.get(mode, (ST, TE))
            _write(root, "s+t", mode, task, v, q, d)
    _write(root, "s+t", "asymmetric", "STS12", PAIR["student"]["STS12"], ST, ST)  # no document side
    _write(root, "s+t", "asymmetric", "STS13", PAIR["student"]["STS13"], ST, ST)
    rep = build_report(root)
    return rep.to_markdown(), {t.title: t for t in rep.tables}


def _tables(md: str) -> list[tuple[str, list[str], list[list[str]], list[str]]]:
    """(title, header, rows, notes) of every Markdown table."""
    out = []
    for block in re.split(r"\n### ", md)[1:]:
        lines = block.splitlines()
        body = [ln for ln in lines if ln.startswith("|")]
        if not body:
            continue
        cells = [[c.strip().strip("*") for c in ln.strip("|").split("|")] for ln in body]
        notes = [ln.strip("_") for ln in lines if ln.startswith("_")]
        out.append((lines[0], cells[0], cells[2:], notes))
    return out


MEAN_HEAD = re.compile(r"^(?P<bench>.+) mean \((?P<k>\d+)(?: of \d+)? tasks?\)$")


def _truth(model: str, protocol: str) -> dict[str, float]:
    if protocol != "full":
        return {"SciFact": SUBSET[model]} if model in SUBSET else {}
    pair = {TE: PAIR["teacher"], ST: PAIR["student"], f"{ST} → {TE}": {**PAIR["student"], **PAIR["asymmetric"]}}
    return SCORES.get(model) or pair.get(model, {})


def test_each_benchmark_mean_has_one_value_and_missing_tasks_show_a_dash(report) -> None:
    md, _ = report
    seen: dict[tuple[str, str, str], list[str]] = {}
    sets: dict[tuple[str, str], list[str]] = {}
    for title, head, rows, notes in _tables(md):
        means = {i: MEAN_HEAD.match(h) for i, h in enumerate(head)}
        means = {i: m for i, m in means.items() if m}
        if not title.startswith("Leaderboard: "):
            # Only a leaderboard prints a benchmark mean: no other table has a mean column.
            assert not means and not any("mean" in h.lower() for h in head), (title, head)
            continue
        protocol = "full" if title.startswith("Leaderboard: full data") else title.split("data ")[1].split(" (")[0]
        for i, m in means.items():
            over = next(n for n in notes if n.startswith(f"{head[i]}: over "))
            tasks = over.removeprefix(f"{head[i]}: over ").split(";")[0].rstrip(".").split(", ")
            assert len(tasks) == int(m["k"])  # the header states the size of the set it averages
            sets[(m["bench"], protocol)] = tasks
            for row in rows:
                model, value = row[head.index("Model")], row[i]
                seen.setdefault((model, m["bench"], protocol), []).append(value)
                truth = _truth(model, protocol)
                if all(t in truth for t in tasks):
                    assert value == f"{100 * np.mean([truth[t] for t in tasks]):.2f}", (model, m["bench"])
                else:
                    lacks = [t for t in tasks if t not in truth]
                    assert value == "–", (model, m["bench"], value)
                    what = "all of them" if len(lacks) == len(tasks) > 1 else ", ".join(lacks)
                    said = [n for n in notes if n.startswith(f"{head[i]} –:") and n.endswith(f" {what}.")]
                    assert any(model in n or "rows without a number" in n for n in said), (model, notes)
    assert all(len(v) == 1 for v in seen.values()), {k: v for k, v in seen.items() if len(v) > 1}
    # The sets: more than half of the best-covered row's tasks decide (delta's one STS task does not shrink it).
    assert sets[(MTEB, "full")] == ["STS12", "STS13", "STS14"]
    assert sets[(BEIR, "full")] == ["NFCorpus", "SciFact"] and sets[(BEIR, "10q")] == ["SciFact"]
    assert sets[("Your datasets", "full")] == ["my-task"]


def test_no_partial_mean_is_printed_anywhere(report) -> None:
    """A mean over whatever tasks a row has (alpha's and gamma's four STS tasks, the pair's two) is printed nowhere
    (the coverage tables once printed them as Mean(Task)), nor is a mean over both protocols."""
    md, _ = report
    printed = set(re.findall(r"(?<![\d.])\d+\.\d\d(?![\d%])", md))
    sets = {MTEB: {"STS12", "STS13", "STS14"}, BEIR: {"SciFact", "NFCorpus"}}
    partial = {}
    for model in [*SCORES, TE, ST]:
        truth = _truth(model, "full")
        for bench, tasks in sets.items():
            own = [t for t in truth if BENCH.get(t) == bench]
            if len(own) > 1 and set(own) != tasks:
                partial[(model, bench)] = f"{100 * np.mean([truth[t] for t in own]):.2f}"
    assert set(partial) == {("alpha", MTEB), ("gamma", MTEB), (TE, MTEB), (ST, MTEB)}
    both = {f"{100 * np.mean([SCORES[m]['SciFact'], SUBSET[m]]):.2f}" for m in SUBSET}
    assert not (set(partial.values()) | both) & printed


def test_table1_shows_percent_of_teacher_not_a_mean(report) -> None:
    _, tables = report
    t1 = next(t for title, t in tables.items() if title.startswith(f"MTEB(eng, v2), full data: teacher {TE}"))
    assert list(t1.text.columns) == ["Model", "Mode", "STS12", "STS13", "% of teacher (2 datasets)"]
    s = PAIR["student"]
    te = PAIR["teacher"]
    pct = 100 * np.mean([s["STS12"], s["STS13"]]) / np.mean([te["STS12"], te["STS13"]])
    assert t1.text["% of teacher (2 datasets)"].tolist() == ["100%", f"{pct:.1f}%"]
    board = tables["Leaderboard: full data (full dim, float32)"].text.set_index("Model")
    assert board.loc[TE, "MTEB(eng, v2) mean (3 of 41 tasks)"] == "–"  # two of the three STS tasks
    assert board.loc[f"{ST} → {TE}", "BEIR mean (2 of 15 tasks)"] == "–"


# A run with dims x dtypes cells on two benchmarks: ArguAna counts in both BEIR and MTEB(eng, v2) (as in mteb), so
# MTEB(eng, v2)'s grid mixes retrieval and STS; STS17 also holds a subset MTEB(eng, v2) does not score (ko-ko).
GRID_RUN = "omega"
GRID_BASE = {"STS12": 0.71, "STS17": {"en-en": 0.84, "ko-ko": 0.42}, "ArguAna": 0.47, "SciFact": 0.63}
GRID_CELLS = {("full", "float32"): 0.0, ("full", "int8"): -0.01, ("32", "float32"): -0.03, ("32", "int8"): -0.05}


def _write_cell(root: Path, run: str, task: str, cell: tuple[str, str], base: float | dict, **extra) -> None:
    """One cell's result file with the real schema (multi-subset tasks: one entry per subset, as mteb writes)."""
    from leafbench.record import build_result, write_result

    dim, dtype = cell
    off = GRID_CELLS[cell]
    name = "full-float32" if cell == ("full", "float32") else f"{'full' if dim == 'full' else f'{dim}d'}-{dtype}"
    block = {
        "mode": "student",
        "split": "test",
        "query_model": GRID_RUN,
        "document_model": GRID_RUN,
        "student": {"name": GRID_RUN, "identity": f"local:{GRID_RUN}"},
        "cell": name,
        "dim": 64 if dim == "full" else int(dim),
        "full_dim": 64,
        "dtype": dtype,
        **extra,
    }
    subsets = base if isinstance(base, dict) else {"default": base}
    metric = "ndcg_at_10" if task in ("ArguAna", "SciFact") else "cosine_spearman"
    by_subset = {s: {metric: v + off, "main_score": v + off} for s, v in subsets.items()}
    res = build_result(task, "test", None, 1.0, block, by_subset=by_subset)
    suffix = "" if cell == ("full", "float32") else f"__{name}"
    write_result(root / run / "student" / f"{task}{suffix}.json", res)


@pytest.fixture(scope="module")
def grid_frame(tmp_path_factory: pytest.TempPathFactory):
    from leafbench.report.frame import load_results

    root = tmp_path_factory.mktemp("grid")
    for task, base in GRID_BASE.items():
        for cell in GRID_CELLS:
            _write_cell(root, GRID_RUN, task, cell, base)
    for cell in GRID_CELLS:  # the same model on 10 SciFact queries: another data protocol, another run
        _write_cell(root, f"{GRID_RUN}__10q", "SciFact", cell, 0.2, subset={"max_queries": 10})
    return load_results(root)


def test_dims_x_dtypes_grids_are_one_per_benchmark_with_the_leaderboards_mean(grid_frame) -> None:
    """One grid per (run, benchmark), none per task type; its full-dim float32 cell is the run's leaderboard mean
    for that benchmark (the same tasks, scored on the benchmark's own subsets), and its other cells are means of
    the same kind over the same tasks."""
    from leafbench.report.compare import cells
    from leafbench.report.frame import select_cell
    from leafbench.report.grid import cell_tables
    from leafbench.report.leaderboard import leaderboards

    sub = f"{GRID_RUN} [10q]"
    assert set(grid_frame["run"]) == {GRID_RUN, sub}  # a run is one data protocol
    grids = {t.title: t for t in cell_tables(grid_frame, fold_retrieval={GRID_RUN, sub})}
    beir, mteb = f"Dims x dtypes: {GRID_RUN}, {BEIR} (2 tasks)", f"Dims x dtypes: {GRID_RUN}, {MTEB} (3 tasks)"
    assert set(grids) == {beir, mteb, f"Dims x dtypes: {sub}, {BEIR} (1 task)"}
    assert grids[beir].key == f"cells-{GRID_RUN}-beir" and grids[mteb].key == f"cells-{GRID_RUN}-mteb-eng--v2"
    assert grids[f"Dims x dtypes: {sub}, {BEIR} (1 task)"].key == f"cells-{sub}"  # its run's one benchmark
    # A deployed run's all-retrieval grid folds (the deployment table shows it); the one with STS stays open.
    assert grids[beir].collapsed and not grids[mteb].collapsed
    boards = {b.protocol: b for b in leaderboards(cells(select_cell(grid_frame)))}
    board = boards["full"]
    (key,) = board.labels
    checked = set()
    for title, bench, tasks in ((beir, BEIR, {"ArguAna", "SciFact"}), (mteb, MTEB, {"ArguAna", "STS12", "STS17"})):
        m = next(m for m in board.means if m.name == bench)
        assert set(m.tasks) == tasks and f"over {', '.join(sorted(tasks))}, the tasks" in grids[title].notes[0]
        g = grids[title]
        row = g.text.index[(g.text["Mode"] == "student") & (g.text["Dim"] == "full")][0]
        assert g.sort.at[row, "float32"] == pytest.approx(m.mean[key])
        checked.add(bench)
        low = g.text.index[g.text["Dim"] == "32"][0]
        scores = [GRID_BASE[t]["en-en"] if t == "STS17" else GRID_BASE[t] for t in tasks]  # type: ignore[index]
        assert g.sort.at[low, "int8"] == pytest.approx(100 * (np.mean(scores) + GRID_CELLS[("32", "int8")]))
    assert checked == {BEIR, MTEB}
    # The mean over STS17's two subsets (its main score) is not what the benchmark averages, nor what the grid shows.
    main = np.mean([0.71, np.mean([0.84, 0.42]), 0.47])
    assert f"{100 * main:.2f}" not in grids[mteb].text["float32"].tolist()
    # The subset run's grid holds its own protocol's score only, equal to that protocol's leaderboard mean.
    m10 = boards["10q"].means[0]
    s10 = grids[f"Dims x dtypes: {sub}, {BEIR} (1 task)"]
    assert s10.text.at[0, "float32"] == f"{m10.mean.iloc[0]:.2f}" == "20.00"


def test_a_runs_figures_follow_its_first_grid_when_it_has_several(tmp_path: Path) -> None:
    """An STS run on MTEB(eng, v2) and on a task in no benchmark (STS16) has two grids and no `cells-<run>` table:
    its figures still follow its first grid, in Markdown too (a figure after no table is left out there)."""
    from leafbench.report.build import build_report

    for task in ("STS12", "STS16"):
        for cell in GRID_CELLS:
            _write_cell(tmp_path / "res", "sigma", task, cell, 0.6)
    rep = build_report(tmp_path / "res", figures_dir=tmp_path / "fig")
    grids = [t.key for t in rep.tables if t.key.startswith("cells-")]
    assert grids == ["cells-sigma-mteb-eng--v2", "cells-sigma-other-mteb-tasks"]
    assert {f.key: f.after for f in rep.figures} == {"dims-sigma": grids[0], "quant-sigma": grids[0]}
    md = rep.to_markdown()
    assert md.index("### Dims x dtypes: sigma, MTEB(eng, v2) (1 task)") < md.index("figures/dims-sigma.png")
    assert md.index("figures/quant-sigma.png") < md.index("### Dims x dtypes: sigma, Other mteb tasks (1 task)")
