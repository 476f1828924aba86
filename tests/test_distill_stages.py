"""Multi-stage recipes: one command runs every stage, each from the previous stage's student, and a rerun
skips what is finished. Tiny settings: a hash teacher (instant), a one-layer minilm-l6 student, a few steps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from leafbench_distill import DistillOptions, DistillResult, RecipeError, distill, load_stages

STAGE_1 = """
  - teacher: {model: hash-384, dim: 384}
    student: {backbone: minilm-l6, layers: [0], max_seq_length: 32, ridge_texts: 200}
    data:
      heldout: 16
      sources:
        - {name: q, path: q.jsonl, role: query}
        - {name: d, path: d.jsonl, role: document}
    train: {batch_size: 16, cycles: 1, epochs_per_cycle: 1, max_steps: 3, checkpoint_every: 100}
    eval: {retrieval: null}
"""


def _write(tmp_path: Path, stages: str) -> Path:
    (tmp_path / "q.jsonl").write_text(
        "\n".join(json.dumps({"text": f"question number {i} about topic {i % 7}"}) for i in range(120))
    )
    (tmp_path / "d.jsonl").write_text(
        "\n".join(json.dumps({"text": f"a document {i} on subject {i % 5} with words"}) for i in range(120))
    )
    (tmp_path / "e.jsonl").write_text(
        "\n".join(json.dumps({"text": f"extra passage {i} for the later stage"}) for i in range(60))
    )
    (tmp_path / "third.yaml").write_text(
        "name: tiny-third\nteacher: {model: hash-384, dim: 384}\nstudent: {backbone: minilm-l6, max_seq_length: 32}\n"
        "data: {heldout: 16, sources: [{name: d, path: d.jsonl, role: document}]}\n"
        "train: {batch_size: 16, cycles: 1, epochs_per_cycle: 1, max_steps: 2}\neval: {retrieval: null}\n"
    )
    recipe = tmp_path / "staged.yaml"
    recipe.write_text("name: tiny\nstages:\n" + stages)
    return recipe


THREE = (
    STAGE_1
    + """
  - data: {add_sources: [{name: e, path: e.jsonl, role: document}]}
    train: {max_steps: 2}
  - third
"""
)


def test_stages_continue_each_other_and_inherit_what_they_do_not_restate(tmp_path: Path) -> None:
    s1, s2, s3 = load_stages(str(_write(tmp_path, THREE)))
    assert [s.name for s in (s1, s2)] == ["tiny-stage1", "tiny-stage2"] and s3.name == "tiny-third"
    assert [s.name for s in s2.data.sources] == ["q", "d", "e"]  # appended to stage 1's
    assert s2.train.max_steps == 2 and s2.train.batch_size == 16 and s2.student.layers == [0]  # the rest is stage 1's
    assert all(s.student.init_from is None for s in (s1, s2, s3))  # set when the stages run


@pytest.mark.parametrize(
    "bad, match",
    [
        (STAGE_1 + "  - student: {init_from: runs/x/final}\n", "drop init_from"),
        ("  []\n", "non-empty list"),
        (STAGE_1 + "  - no-such-stage-file\n", "unknown recipe"),
        (STAGE_1 + "  - 3\n", "a recipe body"),
    ],
)
def test_bad_stage_lists_fail_with_the_stage_named(tmp_path: Path, bad: str, match: str) -> None:
    with pytest.raises(RecipeError, match=match):
        load_stages(str(_write(tmp_path, bad)))


def test_a_multi_stage_recipe_is_not_a_single_recipe(tmp_path: Path) -> None:
    from leafbench_distill import load_recipe

    with pytest.raises(RecipeError, match="load_stages"):
        load_recipe(str(_write(tmp_path, THREE)))


def _app() -> typer.Typer:
    """leafbench's CLI, where the plugin registers `distill` (and its one error handler prints)."""
    from leafbench.cli import app

    return app


def test_one_command_runs_every_stage_from_the_previous_student_and_a_rerun_skips_finished_stages(
    tmp_path: Path,
) -> None:
    recipe, run, cache = _write(tmp_path, THREE), tmp_path / "run", tmp_path / "cache"
    args = [
        "distill",
        "--recipe",
        str(recipe),
        "--output",
        str(run),
        "--training-dir",
        str(tmp_path),
        "--cache-dir",
        str(cache),
        "--no-router",
    ]
    res = CliRunner().invoke(_app(), args, env={"HF_HUB_OFFLINE": "1"})
    assert res.exit_code == 0, res.output
    for n in (1, 2, 3):
        assert (run / f"stage-{n}" / "final" / "modules.json").is_file()
    summaries = [json.loads((run / f"stage-{n}" / "summary.json").read_text()) for n in (1, 2, 3)]
    assert summaries[0]["init_from"] is None
    assert summaries[1]["init_from"] == str(run / "stage-1" / "final")  # no hand-written path
    assert summaries[2]["init_from"] == str(run / "stage-2" / "final")
    assert summaries[1]["text_counts"] == {"q": 120, "d": 120, "e": 60} and summaries[1]["steps"] == 2
    assert [s["name"] for s in json.loads((run / "stages.json").read_text())["stages"]] == [
        "tiny-stage1",
        "tiny-stage2",
        "tiny-third",
    ]

    # rerun: nothing is trained again
    weights = run / "stage-3" / "final" / "model.safetensors"
    before = weights.stat().st_mtime_ns
    again = CliRunner().invoke(_app(), args, env={"HF_HUB_OFFLINE": "1"})
    assert again.exit_code == 0, again.output
    assert again.output.count("skipped") == 3 and weights.stat().st_mtime_ns == before

    # an unfinished last stage (no summary.json yet) is the only one run again - through the library
    (run / "stage-3" / "summary.json").unlink()
    lines: list[str] = []
    out = distill(str(recipe), run, training_dir=tmp_path, cache_dir=cache, router=False, progress=lines.append)
    assert isinstance(out, DistillResult) and [s.skipped for s in out.stages] == [True, True, False]
    assert out.student == run / "stage-3" / "final" and out.summary["init_from"] == str(run / "stage-2" / "final")
    assert any("stage 3/3" in line for line in lines)


def test_the_library_says_nothing_without_a_progress_callback(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    recipe = _write(tmp_path, STAGE_1)
    res = distill(str(recipe), tmp_path / "one", training_dir=tmp_path, cache_dir=tmp_path / "cache", router=False)
    assert res.stages == [] and (res.student / "modules.json").is_file() and res.summary["steps"] == 3
    captured = capsys.readouterr()  # (model loading in transformers draws its own bars on stderr)
    assert captured.out == ""
    assert not any(w in captured.err for w in ("recipe tiny", "training:", "trained ", "student:", "distill:"))


def test_a_later_stage_that_cannot_run_fails_before_the_first_stage_starts(tmp_path: Path) -> None:
    later = STAGE_1 + "  - data: {add_sources: [{name: s, beir: $data_dir/beir/scifact, split: train, role: query}]}\n"
    recipe = _write(tmp_path, later)
    with pytest.raises(RecipeError, match="give --data-dir"):  # stage 2 needs it; nothing was trained
        distill(str(recipe), tmp_path / "run", training_dir=tmp_path, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "run").exists()


def test_options_are_built_and_checked_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`distill(recipe, options)` and `distill(recipe, output, **settings)` build the same DistillOptions; bad
    settings fail when it is built, before any recipe is read."""
    from leafbench_distill.options import cache_folder

    opts = DistillOptions("runs/x", cache_dir="c", epochs=2, max_steps=5, router=False)
    assert opts.output == Path("runs/x") and opts.cache_dir == Path("c") and opts.cache == Path("c")
    assert opts.train_overrides() == {"epochs_per_cycle": 2, "max_steps": 5} and opts.run_device == "cpu"
    assert DistillOptions.build("runs/x", cache_dir="c", epochs=2, max_steps=5, router=False) == opts
    assert DistillOptions.build(opts, max_steps=7).max_steps == 7 and DistillOptions.build(opts) is opts
    stage = opts.for_stage(Path("runs/x/stage-1"), None, last=False)
    assert (stage.output, stage.router, stage.final_eval, stage.results) == (Path("runs/x/stage-1"), False, False, None)
    with pytest.raises(ValueError, match="cycles must be >= 1, not 0"):
        DistillOptions("runs/x", cycles=0)
    with pytest.raises(ValueError, match="--bundle fixes texts"):
        distill(None, tmp_path / "run", bundle=tmp_path, max_texts=100)
    monkeypatch.setenv("LEAFBENCH_CACHE_DIR", str(tmp_path / "cache"))
    assert cache_folder(None) == tmp_path / "cache"


def test_the_library_takes_an_options_object(tmp_path: Path) -> None:
    recipe = _write(tmp_path, STAGE_1)
    opts = DistillOptions(tmp_path / "one", training_dir=tmp_path, cache_dir=tmp_path / "cache", router=False)
    res = distill(str(recipe), opts)
    assert res.output == tmp_path / "one" and res.summary["steps"] == 3 and (res.student / "modules.json").is_file()
