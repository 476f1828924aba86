"""The documentation's result tables, regenerated from the committed result JSONs (never typed by hand).

Each table sits in its page (``PAGES``) between ``<!-- table:NAME -->`` and ``<!-- /table:NAME -->``:

- ``scifact-grid``: minilm-l6 on full SciFact, nDCG@10 x100 over dims x dtypes, plus the ``--rescore 4`` binary
  column (``results/minilm-l6/student/SciFact*.json``);
- ``mteb-eng-v2``: the MTEB(eng, v2) rows of minilm-l6 and mpnet-base, each task scored on the benchmark's own
  splits and subsets, with per-type means, coverage and the Borda rank (leafbench's report code:
  ``benchmark_board``);
- ``sts-classification-cells``: minilm-l6's dims x dtypes means over its STS and classification tasks;
- ``scale``: the scale evidence of ``benchmarks/results/scale.json`` (``benchmarks/scale.py``: reuse, scaling
  curve, Ray, kill -9).

    python scripts/doc_tables.py            # print the tables
    python scripts/doc_tables.py --write    # rewrite them in their pages
    python scripts/doc_tables.py --check    # exit 1 if a page differs from the results (a test runs this)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from leafbench.report.benchmarks import benchmark_board, benchmark_task_types  # noqa: E402 (after sys.path)
from leafbench.report.frame import load_results  # noqa: E402

BENCHMARK = "MTEB(eng, v2)"
# Which page holds each table.
PAGES = {
    "scifact-grid": ROOT / "docs" / "results.md",
    "mteb-eng-v2": ROOT / "docs" / "results.md",
    "sts-classification-cells": ROOT / "docs" / "results.md",
    "scale": ROOT / "docs" / "scale.md",
}
RUNS = ("minilm-l6", "mpnet-base")


def _runs(results: Path) -> pd.DataFrame:
    return pd.concat([load_results(results / run) for run in RUNS if (results / run).is_dir()], ignore_index=True)


def _dim(row: pd.Series) -> int:
    return int(row["full_dim"] if row["dim_label"] == "full" else row["dim_label"])


def _f(v: float) -> str:
    return "–" if pd.isna(v) else f"{v:.2f}"


def scifact_grid(df: pd.DataFrame) -> str:
    g = df[
        (df["run"] == "minilm-l6") & (df["mode"] == "student") & (df["task"] == "SciFact") & (df["subset"] == "")
    ].copy()
    g["dim"] = g.apply(_dim, axis=1)
    wide = (
        g.pivot_table(index="dim", columns="dtype", values="score", aggfunc="first").sort_index(ascending=False) * 100
    )
    cols = [
        ("float32", "float32"),
        ("float16", "float16"),
        ("int8", "int8"),
        ("uint8", "uint8"),
        ("binary", "binary"),
        ("binary (rescore4)", "binary, rescore x4"),
    ]
    lines = ["| dim | " + " | ".join(h for _, h in cols) + " |", "|---:|" + "---:|" * len(cols)]
    for dim, r in wide.iterrows():
        lines.append(f"| {dim} | " + " | ".join(_f(r.get(c)) for c, _ in cols) + " |")
    return "\n".join(lines)


def mteb_table(df: pd.DataFrame, results: Path) -> str:
    board = benchmark_board(df, BENCHMARK)
    spec = dict(benchmark_task_types(BENCHMARK))
    rows = {run: board.loc[(run, "student")] for run in RUNS if (run, "student") in board.index}
    tasks = sorted((c for c in board.columns if c in spec), key=lambda t: (spec[t], t))
    skipped = {run: json.loads((results / run / "run.json").read_text()).get("skipped", {}) for run in rows}
    n_type = {t: sum(1 for v in spec.values() if v == t) for t in set(spec.values())}
    lines = ["| task | type | " + " | ".join(rows) + " |", "|---|---|" + "---:|" * len(rows)]
    for t in tasks:
        cells = [
            _f(r[t]) if not pd.isna(r[t]) else ("– (excluded)" if t in skipped[run] else "–") for run, r in rows.items()
        ]
        lines.append(f"| {t}{' (en-en)' if t == 'STS17' else ''} | {spec[t]} | " + " | ".join(cells) + " |")
    types = sorted({spec[t] for t in tasks})
    for ty in types:
        have = {run: sum(1 for t in tasks if spec[t] == ty and not pd.isna(r[t])) for run, r in rows.items()}
        lines.append(
            f"| **Mean({ty})** | | "
            + " | ".join(f"{_f(r[f'Mean({ty})'])} ({have[run]}/{n_type[ty]})" for run, r in rows.items())
            + " |"
        )
    lines.append(
        "| **Mean(Task)** | | "
        + " | ".join(f"{_f(r['Mean(Task)'])} ({int(r['n_tasks'])}/{int(r['n_benchmark'])})" for r in rows.values())
        + " |"
    )
    lines.append(
        "| **Mean(TaskType)** | | "
        + " | ".join(
            f"{_f(r['Mean(TaskType)'])} ({sum(1 for ty in types if not pd.isna(r[f'Mean({ty})']))}/{len(n_type)} types)"
            for r in rows.values()
        )
        + " |"
    )
    lines.append(
        "| **Borda (rank)** | | " + " | ".join(f"{r['Borda']:.1f} ({int(r['Rank'])})" for r in rows.values()) + " |"
    )
    return "\n".join(lines)


def cells_table(df: pd.DataFrame) -> str:
    g = df[
        (df["run"] == "minilm-l6")
        & (df["mode"] == "student")
        & df["task_type"].isin(["STS", "Classification"])
        & df["dtype"].isin(["float32", "int8", "binary"])
        & (df["subset"] == "")
    ].copy()
    g["dim"] = g.apply(_dim, axis=1)
    g = g[g["dim"].isin([384, 256, 128, 64])]
    cols = [(ty, dt) for ty in ("STS", "Classification") for dt in ("float32", "int8", "binary")]
    means = {}
    for ty in ("STS", "Classification"):
        gt = g[g["task_type"] == ty]
        n = gt.groupby("task").size()
        full = n[n == len(gt[["dim", "dtype"]].drop_duplicates())].index  # tasks measured in every cell
        means[ty] = gt[gt["task"].isin(full)].groupby(["dim", "dtype"])["score"].mean() * 100
    lines = ["| dim | " + " | ".join(f"{ty} {dt}" for ty, dt in cols) + " |", "|---:|" + "---:|" * len(cols)]
    for dim in (384, 256, 128, 64):
        lines.append(f"| {dim} | " + " | ".join(_f(means[ty].get((dim, dt))) for ty, dt in cols) + " |")
    return "\n".join(lines)


def scale_table(path: Path) -> str:
    """Figures of one `benchmarks/scale.py` run (each part records the command that produced it)."""
    d = json.loads(path.read_text())
    rows = ["| figure | measured |", "|---|---|"]
    if "reuse" in d:
        r = d["reuse"]
        rows.append(
            f"| full SciFact, minilm-l6, store already holding it | nDCG@10 {r['full']['ndcg_at_10']:.5f}, "
            f"{r['full']['encoded']} texts encoded |"
        )
        for name, label in (("100q-300d", "--max-queries 100 --max-docs 300"), ("1000d", "--max-docs 1000")):
            x = r[name]
            rows.append(
                f"| then `{label}` | {x['encoded_from_warm_store']} texts encoded; nDCG@10 {x['ndcg_warm']:.5f} "
                f"= cold store's {x['ndcg_cold']:.5f} (\\|diff\\| {x['abs_diff']:.0e}) |"
            )
    if "curve" in d:
        for x in d["curve"]["sizes"]:
            rows.append(
                f"| evaluation alone (texts held as lists, shard store), hash-768, {x['n_docs']:,} docs "
                f"({x['vectors_GB']:.2f} GB of vectors), {x['n_queries']:,} queries, k = 1000 | eval {x['eval_seconds']:.0f} s = **{x['eval_seconds_per_M_docs']:.0f} s per M docs**; "
                f"peak RssAnon **{x['peak_rss_anon_eval_GB']:.2f} GB** (texts alone {x['rss_anon_after_loading_texts_GB']:.2f} GB) |"
            )
        rows.append(
            f"| seconds per M docs across sizes | within ±{d['curve']['s_per_M_docs_max_dev_from_mean']:.0%} of their mean |"
        )
    if "ray" in d:
        x = d["ray"]
        rows.append(
            f"| `--engine ray` (local cluster, 2 workers × 0.5 CPU) vs local, SciFact 100 q × {x['texts'] - 100:,} docs, minilm-l6, end to end | "
            f"nDCG@10 {x['ndcg_ray']:.5f} vs {x['ndcg_local']:.5f}; min row-wise cosine {x['min_rowwise_cosine']:.7f}; "
            f"throughput ratio ray/local **{x['throughput_ratio_ray_over_local']:.2f}** (cluster start {x['ray_init_seconds']:.0f} s excluded) |"
        )
        rows.append(
            f"| one Ray worker killed (-9) mid-encoding | run completed, nDCG@10 {x['ndcg_after_worker_kill']:.5f} |"
        )
    rows += _scale_run_rows(d)
    if "kill" in d:
        x = d["kill"]
        rows.append(
            f"| mpnet-base (teacher) encoding SciFact documents, killed (-9) after {x['kill_after_seconds']:.0f} s | "
            f"{x['encoded_before_kill']} encoded, {x['committed']} committed: **{x['reencoded_on_resume']} re-encoded on "
            f"resume = {x['lost_seconds_of_encoding']:.0f} s of encoding** ({x['rate_texts_per_s']:.2f} texts/s) |"
        )
    return "\n".join(rows)


def _scale_run_rows(d: dict) -> list[str]:
    """Rows of the end-to-end parts of `benchmarks/scale.py`: run (sizes), fds, s3, cluster."""
    rows = []
    earlier = (
        ("run", ""),
        ("run_dynamic_mmap", " (an earlier commit: glibc's dynamic mmap threshold, ids checked on every pass)"),
        ("run_default_arenas", " (an earlier commit: glibc's default malloc arenas)"),
        ("run_before", " (an earlier commit: per-document arrays on the heap)"),
    )
    for part, when in earlier:
        if part not in d:
            continue
        for x in d[part]["sizes"]:
            c, w = x["cold"], x["warm"]
            warm = (
                f"; warm {x['warm_seconds_per_M_docs']:.0f} s per M docs, {w['peak_rss_anon_tree_GB']:.2f} GB, "
                f"{w['docs_encoded']:,} encoded"
                if x.get("warm_seconds_per_M_docs")
                else ""
            )
            rows.append(
                f"| `leafbench run`{when}, hash-768, {x['n_docs']:,} docs streamed from a {x['corpus_file_GB']:.2f} GB "
                f"corpus.jsonl, {x['n_queries']:,} queries, k = 1000, Lance store | cold **{x['cold_seconds_per_M_docs']:.0f} "
                f"s per M docs** (encode {c['encode_seconds']:.0f} s, score {c['score_seconds']:.0f} s), peak RssAnon of "
                f"the process tree **{c['peak_rss_anon_tree_GB']:.2f} GB**{warm} |"
            )
        r = d[part]
        rows.append(
            f"| `leafbench run`{when}, smallest → largest size | peak RssAnon {r['peak_rss_growth_first_to_last']:+.0%}; "
            f"seconds per M docs × {r['cold_s_per_M_docs_last_over_first']:.2f} (cold) |"
        )
    if "fds" in d:
        x = d["fds"]
        rows.append(
            f"| Lance space of {x['files_in_store']:,} files ({x['commits']:,} commits), `leafbench run` under "
            f"`ulimit -n {x['ulimit_n']}` | exit {x['run_exit']}, {x['run_encoded']} encoded, nDCG@10 "
            f"{x['ndcg_at_10_many_files']:.5f} = {x['ndcg_at_10_one_write']:.5f} (store written at once), "
            f"{x['files_removed_by_run']} files removed |"
        )
        rows.append(
            f"| one data file truncated | run: exit {x['broken_run_exit']}, file named; `cache verify`: exit "
            f"{x['verify_exit']}, its rows removed; rerun: exit {x['rerun_exit']}, **{x['rerun_encoded']} re-encoded**, "
            f"nDCG@10 {x['ndcg_at_10_rerun']:.5f} |"
        )
    if "index" in d:
        x = d["index"]
        rows.append(
            f"| a fresh process looks up {x['keys_looked_up']:,} texts in a {x['rows_in_space']:,}-row Lance space | "
            f"key column scanned {x['scan_seconds']:.2f} s; saved index mapped **{x['saved_index_seconds']:.3f} s** |"
        )
    if "s3" in d:
        x = d["s3"]
        rows.append(
            f"| `--cache-dir s3://…` (local moto server), {x['task']} | nDCG@10 {x['ndcg_at_10_s3']:.5f} = local "
            f"{x['ndcg_at_10_local']:.5f} (max \\|diff\\| {x['max_abs_diff_scores']:.0e} over every score); killed (-9) "
            f"after {x['killed_after_seconds']:.0f} s with {x['rows_stored_when_killed']:,} rows stored: rerun encoded "
            f"**{x['rerun_encoded']:,}** of {x['texts']:,}; then {x['second_run_encoded']} |"
        )
    if "cluster" in d:
        x = d["cluster"]
        on = x["scored_on"] or {}
        rows.append(
            f"| two-node Ray cluster (1 CPU each), `--engine ray` vs local, hash-768, {x['n_docs']:,} docs, "
            f"{x['n_queries']:,} queries | max \\|diff\\| {x['max_abs_diff_scores']:.0e} over {x['scores_compared']} "
            f"scores, {x['max_abs_diff_per_query']:.0e} per query; scored by {on.get('tasks')} Ray tasks on "
            f"{on.get('workers')} workers on **{on.get('nodes')} nodes** |"
        )
    return rows


def tables(results: Path) -> dict[str, str]:
    df = _runs(results)
    scale = ROOT / "benchmarks" / "results" / "scale.json"
    return {
        "scifact-grid": scifact_grid(df),
        "mteb-eng-v2": mteb_table(df, results),
        **({"scale": scale_table(scale)} if scale.exists() else {}),
        "sts-classification-cells": cells_table(df),
    }


def replace_tables(text: str, new: dict[str, str]) -> str:
    for name, table in new.items():
        pat = re.compile(rf"(<!-- table:{re.escape(name)} -->\n)(.*?)(<!-- /table:{re.escape(name)} -->)", re.DOTALL)
        if not pat.search(text):
            raise SystemExit(f"page has no <!-- table:{name} --> ... <!-- /table:{name} --> block")
        text = pat.sub(lambda m, t=table: m.group(1) + t + "\n" + m.group(3), text)
    return text


def pages(new: dict[str, str]) -> dict[Path, tuple[str, str]]:
    """{page: (current text, text with its tables regenerated)}."""
    out = {}
    for page in sorted({PAGES[n] for n in new}):
        text = page.read_text()
        out[page] = (text, replace_tables(text, {n: t for n, t in new.items() if PAGES[n] == page}))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=ROOT / "results")
    what = ap.add_mutually_exclusive_group()
    what.add_argument("--write", action="store_true", help="rewrite the tables in their pages")
    what.add_argument("--check", action="store_true", help="exit 1 when a page's tables differ from the results")
    args = ap.parse_args()
    new = tables(args.results)
    if not (args.write or args.check):
        for name, table in new.items():
            print(f"<!-- table:{name} -->\n{table}\n")
        return 0
    stale = 0
    for page, (text, updated) in pages(new).items():
        if args.check:
            if updated != text:
                stale += 1
                print(
                    f"{page}: tables differ from {args.results}; run: python scripts/doc_tables.py --write",
                    file=sys.stderr,
                )
            continue
        page.write_text(updated)
        print(f"rewrote the tables of {page}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
