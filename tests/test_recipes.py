"""The recipes the package ships are ones a user can run as they are: every file resolves (all stages), no
stage starts from a student that exists only on one machine, nothing reads ../shared by default, and the
experiment diaries' recipes stay out of the package (they live in experiments/, and still resolve there)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leafbench_distill import list_recipes, load_recipe, load_stages
from leafbench_distill.recipe import DATA_DIR_VAR, RECIPE_DIR

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(RECIPE_DIR.rglob("*.yaml"))
EXPERIMENTS = sorted((ROOT / "experiments").glob("*/recipes/**/*.yaml"))


def test_the_package_ships_exactly_the_user_recipes() -> None:
    assert set(list_recipes()) == {"leaf-ir", "leaf-mt", "mini", "mpnet-offline-staged", "mpnet-offline-iso"}
    assert {p.relative_to(RECIPE_DIR).as_posix() for p in SHIPPED} == {
        f"{n}.yaml" for n in list_recipes()
    }  # no subfolders


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_recipe_resolves_with_no_machine_specific_path(path: Path, tmp_path: Path) -> None:
    stages = load_stages(str(path))
    assert stages
    for i, r in enumerate(stages, 1):
        assert r.purpose == "training"
        assert r.student.init_from is None, f"stage {i}: {r.student.init_from}"  # stages chain by themselves
        assert r.data.training_dir is None and r.eval.data_dir is None  # the user names local folders
        assert "shared" not in json.dumps(r.raw), f"stage {i} names a ../shared path"
        for s in r.data.sources:
            for value in (s.path, s.beir, *(s.domain or {}).values(), *(s.local or {}).values()):
                if value and "/" in str(value):  # a folder outside the training folder comes from --data-dir
                    assert str(value).startswith(DATA_DIR_VAR), (s.name, value)
        if any(s.hf is None for s in r.data.sources):  # local files: found once the user names the folders
            from dataclasses import replace

            r.data = replace(r.data, training_dir=str(tmp_path))
            r.eval = replace(r.eval, data_dir=str(tmp_path))
            for s in r.resolved_sources():
                assert DATA_DIR_VAR not in repr(s)
                if s.beir:
                    assert Path(s.beir) == tmp_path.resolve() / "beir" / "scifact"


def test_hub_recipes_need_no_local_folder() -> None:
    for name in ("leaf-ir", "leaf-mt"):
        r = load_recipe(name)
        assert all(s.hf for s in r.resolved_sources())  # resolves with neither --training-dir nor --data-dir


def test_the_staged_recipe_is_the_experiments_chain_to_the_best_student() -> None:
    stages = load_stages("mpnet-offline-staged")
    chain = [
        "mpnet-offline",
        "mpnet-offline-sci",
        "mpnet-offline-stage3",
        "mpnet-offline-stage4",
        "mpnet-offline-stage5",
        "mpnet-offline-stage7",
        "mpnet-offline-stage8",
    ]
    assert len(stages) == len(chain)
    for stage, name in zip(stages, chain):
        e = load_recipe(str(ROOT / "experiments" / "mpnet-offline" / "recipes" / f"{name}.yaml"))
        same = [
            (
                s.name,
                s.path,
                s.field,
                s.role,
                s.limit,
                s.min_words,
                s.max_words,
                s.pack_words,
                s.pack_by,
                s.split,
                (s.beir or "").replace(DATA_DIR_VAR + "/", "../"),
                {k: v.replace(DATA_DIR_VAR + "/", "../") for k, v in (s.domain or {}).items()},
            )
            for s in stage.data.sources
        ]
        theirs = [
            (
                s.name,
                s.path,
                s.field,
                s.role,
                s.limit,
                s.min_words,
                s.max_words,
                s.pack_words,
                s.pack_by,
                s.split,
                s.beir or "",
                dict(s.domain or {}),
            )
            for s in e.data.sources
        ]
        assert same == theirs, name  # the same texts, drawn by the same source names
        expected_train = (
            e.train if name != "mpnet-offline-stage3" else type(e.train)(**{**e.train.__dict__, "epochs_per_cycle": 19})
        )
        assert stage.train == expected_train, name  # stage 3's measured run stopped at 19 of 20 epochs
        assert (stage.student.backbone, stage.student.max_seq_length, stage.student.export_max_seq_length) == (
            e.student.backbone,
            e.student.max_seq_length,
            e.student.export_max_seq_length,
        )
        assert stage.teacher == e.teacher and (stage.data.seed, stage.data.max_words, stage.data.heldout) == (
            e.data.seed,
            e.data.max_words,
            e.data.heldout,
        )


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.relative_to(ROOT / "experiments").as_posix())
def test_experiment_recipes_still_resolve_from_their_folder(path: Path) -> None:
    r = load_recipe(str(path))
    assert r.name == path.stem  # a run's folder and results are named after its recipe file
    assert not (RECIPE_DIR / path.name).exists() or path.stem == "mpnet-offline-staged"


def test_experiment_results_moved_with_their_recipes() -> None:
    assert not any((ROOT / "results" / "distill").glob("*"))
    assert (ROOT / "experiments" / "mpnet-offline" / "results" / "mpnet-offline-stage3" / "summary.json").is_file()
