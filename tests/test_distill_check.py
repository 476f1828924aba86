"""`leafbench distill --check`: every source opened and its first rows read in seconds, hub loader mocked; and
every recipe field that would fail only after teacher labelling fails first - at load, or against the models'
configs at `--check` and at the start of `distill` - with one line naming the file and the field, exit 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from leafbench_distill import check_recipe

RECIPE = """name: checked
teacher: {{model: hash-8, dim: 8}}
student: {{backbone: minilm-l6}}
data:
  sources:
    - {{name: local-q, path: q.jsonl, role: query, field: {field}}}
    - {{name: hub-docs, hf: some/dataset, hf_config: cfg, hf_split: train, field: {hub_field}, role: document}}
"""


def _recipe(tmp_path: Path, field: str = "text", hub_field: str = "body") -> Path:
    (tmp_path / "q.jsonl").write_text("\n".join(json.dumps({"text": f"query {i}", "id": i}) for i in range(10)))
    p = tmp_path / "r.yaml"
    p.write_text(RECIPE.format(field=field, hub_field=hub_field))
    return p


@pytest.fixture()
def hub(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """datasets.load_dataset replaced: some/dataset streams rows {title, body}; any other id does not exist."""
    import datasets

    calls: list[dict] = []

    def load_dataset(path, name=None, split=None, streaming=False, **kw):
        calls.append({"path": path, "name": name, "split": split, "streaming": streaming})
        if path != "some/dataset":
            raise FileNotFoundError(f"Dataset '{path}' doesn't exist on the Hub")
        return iter([{"title": f"t{i}", "body": f"a long body text number {i}"} for i in range(1000)])

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return calls


def test_check_reads_first_rows_of_local_and_hub_sources(tmp_path: Path, hub: list[dict]) -> None:
    checks = check_recipe(str(_recipe(tmp_path)), training_dir=tmp_path)
    assert [(c.source, c.ok) for c in checks] == [("local-q", True), ("hub-docs", True)]
    local, remote = checks
    assert local.preview == "query 0" and local.fields == ["text", "id"]
    assert remote.preview == "a long body text number 0" and remote.fields == ["title", "body"]
    assert remote.where == "hub some/dataset [cfg] split train"
    assert hub == [
        {"path": "some/dataset", "name": "cfg", "split": "train", "streaming": True}
    ]  # streamed, never downloaded


def test_check_names_a_wrong_field_in_a_local_or_a_hub_source(tmp_path: Path, hub: list[dict]) -> None:
    local, remote = check_recipe(str(_recipe(tmp_path, field="question", hub_field="text")), training_dir=tmp_path)
    assert not local.ok and "no string field 'question'" in local.error
    assert not remote.ok and "no field 'text'" in remote.error and "title, body" in remote.error


def test_check_fails_fast_on_an_unknown_hub_dataset(tmp_path: Path, hub: list[dict]) -> None:
    p = _recipe(tmp_path)
    p.write_text(p.read_text().replace("some/dataset", "no/such-dataset"))
    _, remote = check_recipe(str(p), training_dir=tmp_path)
    assert not remote.ok and "could not open" in remote.error and "doesn't exist" in remote.error


def _app() -> typer.Typer:
    """leafbench's CLI, where the plugin registers `distill` (and its one error handler prints)."""
    from leafbench.cli import app

    return app


def test_check_command_prints_one_line_per_source_and_exits_2_naming_the_bad_ones(
    tmp_path: Path, hub: list[dict]
) -> None:
    good = CliRunner().invoke(
        _app(), ["distill", "--recipe", str(_recipe(tmp_path)), "--check", "--training-dir", str(tmp_path)]
    )
    assert good.exit_code == 0, good.output
    assert (
        "ok   stage 1 local-q" in good.output
        and "ok   stage 1 hub-docs" in good.output
        and "2 sources ok" in good.output
    )
    bad = CliRunner().invoke(
        _app(),
        ["distill", "--recipe", str(_recipe(tmp_path, hub_field="text")), "--check", "--training-dir", str(tmp_path)],
    )
    assert bad.exit_code == 2 and "FAIL stage 1 hub-docs" in bad.output and "cannot be read: hub-docs" in bad.output
    # a recipe with local sources and no folder for them: one line, exit 2, before any source is opened
    opened = len(hub)
    nodir = CliRunner().invoke(_app(), ["distill", "--recipe", str(_recipe(tmp_path)), "--check"])
    assert nodir.exit_code == 2 and "give --training-dir" in nodir.output and len(hub) == opened


def test_a_wrong_hub_field_fails_at_the_first_row_in_training_too(hub: list[dict]) -> None:
    from leafbench_distill.texts import SourceSpec, TextSourceError, iter_source

    spec = SourceSpec.from_dict({"name": "h", "hf": "some/dataset", "field": "text", "role": "document"})
    with pytest.raises(TextSourceError, match="no field 'text'"):  # not after streaming the whole dataset for nothing
        next(iter_source(spec, Path(".")))


def test_shipped_offline_recipe_checks_against_the_real_files(shared_data: Path) -> None:
    checks = check_recipe("mpnet-offline-staged", training_dir=shared_data / "training", data_dir=shared_data)
    assert checks and all(c.ok for c in checks), [c for c in checks if not c.ok]
    assert {c.stage for c in checks} == {1, 2, 3, 7}  # stages 4-6 open no file or reference that earlier stages did not


# ---------------------------------------------------------------------------------------------- fields, before labelling

TINY = """name: tiny
teacher: {model: hash-8, dim: 8}
student: {backbone: minilm-l6, max_seq_length: 32, ridge_texts: 50}
data:
  heldout: 16
  sources:
    - {name: q, path: q.jsonl, role: query, limit: 100}
    - {name: d, path: d.jsonl, role: document, limit: 100}
train: {batch_size: 16, cycles: 1, epochs_per_cycle: 1, max_steps: 2}
eval: {retrieval: null}
"""


def _tiny(tmp_path: Path, text: str = TINY, **over: Any) -> Path:
    """The tiny recipe (its texts next to it) with `section={key: value}` merged over it, or `key=value` set."""
    for name in ("q", "d"):
        (tmp_path / f"{name}.jsonl").write_text(
            "\n".join(json.dumps({"text": f"{name} text number {i} about topic {i % 7}"}) for i in range(120))
        )
    raw = yaml.safe_load(text)
    for key, value in over.items():
        raw[key] = {**raw[key], **value} if isinstance(value, dict) and isinstance(raw.get(key), dict) else value
    p = tmp_path / "tiny.yaml"
    p.write_text(yaml.safe_dump(raw, sort_keys=False) if over else text)
    return p


@pytest.fixture()
def labelled(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every teacher (or student) encode call, by its number of texts: a run refused in time makes none."""
    from leafbench.encode import Encoder

    calls: list[int] = []
    real = Encoder.encode

    def spy(self, texts, *args, **kwargs):  # noqa: ANN001, ANN202 - the harness's signature
        calls.append(len(texts))
        return real(self, texts, *args, **kwargs)

    monkeypatch.setattr(Encoder, "encode", spy)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return calls


def _refused(recipe: Path, tmp_path: Path, labelled: list[int], field: str, *args: str) -> str:
    """`--check` and `distill` both exit 2 with one line naming the recipe file and the field, before the
    teacher encodes a text or the target store is created; returns the line."""
    lines = []
    for mode in (["--check"], ["--output", str(tmp_path / "run"), "--cache-dir", str(tmp_path / "cache")]):
        res = CliRunner().invoke(
            _app(), ["distill", "--recipe", str(recipe), "--training-dir", str(recipe.parent), *args, *mode]
        )
        assert res.exit_code == 2, res.output
        out = res.output.strip().splitlines()
        assert len(out) == 1 and out[0].startswith("error: ") and str(recipe) in out[0] and field in out[0], out
        lines.append(out[0])
    assert labelled == [] and not (tmp_path / "cache" / "embeddings").exists()  # no targets, not one text labelled
    return lines[0]


def test_the_tiny_recipe_passes_every_check(tmp_path: Path, labelled: list[int]) -> None:
    """The checks below refuse only what fails: the same recipe, valid, checks clean (mini's models too)."""
    from leafbench_distill import load_recipe
    from leafbench_distill.check import check_setup

    res = CliRunner().invoke(
        _app(), ["distill", "--recipe", str(_tiny(tmp_path)), "--check", "--training-dir", str(tmp_path)]
    )
    assert res.exit_code == 0 and "2 sources ok" in res.output, res.output
    check_setup(load_recipe("mini"), "mini")
    assert labelled == []


@pytest.mark.parametrize(
    "over, field",
    [
        ({"teacher": {"dim": "768"}}, "teacher.dim must be an integer, not '768'"),
        ({"train": {"batch_size": True}}, "train.batch_size must be an integer"),
        ({"train": {"lr_max": float("inf")}}, "train.lr_max must be a number, not inf"),
        ({"student": {"layers": 3}}, "student.layers must be a list (an integer each) or a string or null"),
        ({"eval": {"sts": "STSBenchmark"}}, "eval.sts must be a list (a string each)"),
        ({"data": {"sources": {"name": "q", "path": "q.jsonl", "role": "query"}}}, "data.sources must be a list"),
        ({"data": {"sources": [{"name": "q", "path": "q.jsonl", "role": "query", "limit": "100"}]}}, "source q: limit"),
        ({"data": ["q.jsonl"]}, "data: expected a mapping"),
        ({"name": 5}, "name must be a non-empty string"),
    ],
    ids=lambda v: next(iter(v)) if isinstance(v, dict) else None,
)
def test_a_value_of_the_wrong_type_fails_before_labelling(
    tmp_path: Path, labelled: list[int], over: dict, field: str
) -> None:
    _refused(_tiny(tmp_path, **over), tmp_path, labelled, field)


def test_a_number_yaml_reads_as_text_fails_before_labelling_and_says_how_to_write_it(
    tmp_path: Path, labelled: list[int]
) -> None:
    recipe = _tiny(tmp_path, TINY.replace("max_steps: 2}", "max_steps: 2, lr_max: 1e-4}"))
    assert "write 1.0e-4" in _refused(recipe, tmp_path, labelled, "train.lr_max must be a number, not '1e-4'")


@pytest.mark.parametrize(
    "section, key, value, field",
    [
        ("teacher", "max_seq_length", 0, "teacher.max_seq_length must be >= 1"),
        ("student", "max_seq_length", 0, "student.max_seq_length must be >= 1"),
        ("student", "export_max_seq_length", -1, "student.export_max_seq_length must be >= 1"),
        ("student", "ridge_texts", 1, "student.ridge_texts must be >= 2"),
        ("student", "ridge_alpha", 0.0, "student.ridge_alpha must be > 0"),
        ("data", "max_words", 0, "data.max_words must be >= 1"),
        ("data", "heldout", -1, "data.heldout must be >= 0"),
        ("train", "weight_decay", -0.01, "train.weight_decay must be >= 0"),
        ("train", "grad_clip", -1.0, "train.grad_clip must be >= 0"),
        ("train", "warmup_steps", -5, "train.warmup_steps must be >= 0"),
        ("train", "seed", -1, "train.seed must be >= 0"),
        ("train", "checkpoint_every", -1, "train.checkpoint_every must be >= 0"),
        ("train", "eval_every", -1, "train.eval_every must be >= 0"),
        ("train", "max_steps", 0, "train.max_steps must be >= 1"),
        ("eval", "n_queries", 0, "eval.n_queries must be >= 1"),
        ("eval", "n_docs", -5, "eval.n_docs must be >= 1"),
    ],
    ids=lambda v: v if isinstance(v, str) and "must" not in v else None,
)
def test_a_value_out_of_range_fails_before_labelling(
    tmp_path: Path, labelled: list[int], section: str, key: str, value: object, field: str
) -> None:
    _refused(_tiny(tmp_path, **{section: {key: value}}), tmp_path, labelled, field)


@pytest.mark.parametrize(
    "source, field",
    [
        ("q.jsonl", "a source is a mapping"),
        ({"name": "q", "path": "q.jsonl"}, "source q: missing role"),
        ({"name": "q", "path": "q.jsonl", "role": "query", "max_words": 0, "min_words": 0}, "max_words must be >= 1"),
    ],
    ids=["not-a-mapping", "no-role", "max_words-0"],
)
def test_a_malformed_source_fails_before_labelling(
    tmp_path: Path, labelled: list[int], source: object, field: str
) -> None:
    _refused(_tiny(tmp_path, data={"sources": [source]}), tmp_path, labelled, field)


@pytest.mark.parametrize(
    "layers", [[], [0, 0], [3, 1], [-1, 2], "all"], ids=["empty", "duplicate", "unordered", "negative", "a-word"]
)
def test_student_layers_that_are_empty_repeated_unordered_or_negative_fail_before_labelling(
    tmp_path: Path, labelled: list[int], layers: object
) -> None:
    _refused(_tiny(tmp_path, student={"layers": layers}), tmp_path, labelled, "student.layers must be")


def test_student_layers_beyond_the_backbones_layer_count_fail_before_labelling(
    tmp_path: Path, labelled: list[int]
) -> None:
    line = _refused(_tiny(tmp_path, student={"layers": [0, 6]}), tmp_path, labelled, "student.layers [0, 6]")
    assert "minilm-l6 has 6 layers (indices 0-5)" in line  # read from its config, no weights loaded


def test_heldout_that_leaves_no_training_batch_fails_before_labelling(tmp_path: Path, labelled: list[int]) -> None:
    # the sources' limits (100 + 100) bound the texts: known at load, not after reading and labelling them
    line = _refused(_tiny(tmp_path, data={"heldout": 190}), tmp_path, labelled, "data.heldout=190")
    assert "at most 10 of the 200 texts" in line and "train.batch_size=16" in line


@pytest.mark.parametrize(
    "teacher, field",
    [
        ({"model": "hash-8", "dim": 16}, "teacher.dim is 16, but hash-8 embeds in 8 dimensions"),
        ({"model": "minilm-l6", "dim": 768}, "teacher.dim is 768, but minilm-l6 embeds in 384 dimensions"),
    ],
    ids=["fake-teacher", "sentence-transformers-folder"],
)
def test_teacher_dim_that_is_not_the_teachers_fails_before_labelling(
    tmp_path: Path, labelled: list[int], teacher: dict, field: str
) -> None:
    _refused(_tiny(tmp_path, teacher=teacher), tmp_path, labelled, field)


@pytest.mark.parametrize(
    "over, field",
    [
        ({"student": {"max_seq_length": 1000}}, "student.max_seq_length 1000 is more than the 512 tokens"),
        ({"student": {"export_max_seq_length": 600}}, "student.export_max_seq_length 600 is more than the 512"),
        ({"teacher": {"model": "minilm-l6", "dim": 384, "max_seq_length": 513}}, "teacher.max_seq_length 513"),
    ],
    ids=["student", "export", "teacher"],
)
def test_a_length_beyond_the_models_position_table_fails_before_labelling(
    tmp_path: Path, labelled: list[int], over: dict, field: str
) -> None:
    _refused(_tiny(tmp_path, **over), tmp_path, labelled, field)


def test_a_teacher_or_backbone_that_cannot_be_found_fails_before_labelling(tmp_path: Path, labelled: list[int]) -> None:
    _refused(_tiny(tmp_path, teacher={"model": "no-such-model"}), tmp_path, labelled, "teacher.model: unknown model")
    _refused(
        _tiny(tmp_path, student={"backbone": "no-such-org/no-such-backbone"}),
        tmp_path,
        labelled,
        "student.backbone: cannot read the model config",
    )


def _fake_student(folder: Path, out_dim: int) -> Path:
    """A student folder's configs (minilm-l6's transformer config, mean pooling, a Dense to `out_dim`), no weights."""
    from leafbench.registry import minilm_path

    (folder / "1_Pooling").mkdir(parents=True)
    (folder / "2_Dense").mkdir()
    (folder / "config.json").write_text((minilm_path() / "config.json").read_text())
    kinds = ["Transformer", "Pooling", "Dense"]
    (folder / "modules.json").write_text(
        json.dumps(
            [
                {"idx": i, "name": str(i), "path": p, "type": f"sentence_transformers.models.{k}"}
                for i, (k, p) in enumerate(zip(kinds, ["", "1_Pooling", "2_Dense"]))
            ]
        )
    )
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"embedding_dimension": 384, "pooling_mode": "mean"}))
    (folder / "2_Dense" / "config.json").write_text(json.dumps({"in_features": 384, "out_features": out_dim}))
    return folder


def test_init_from_that_is_not_a_student_or_embeds_in_another_dim_fails_before_labelling(
    tmp_path: Path, labelled: list[int]
) -> None:
    missing = tmp_path / "no-run" / "final"
    _refused(_tiny(tmp_path, student={"init_from": str(missing)}), tmp_path, labelled, "student.init_from")
    other = _fake_student(tmp_path / "other" / "final", 768)
    line = _refused(_tiny(tmp_path, student={"init_from": str(other)}), tmp_path, labelled, "student.init_from")
    assert "embeds in 768 dimensions, teacher.dim is 8" in line
    # --init-from names it on the command line instead: the same check, at the start of distill
    res = CliRunner().invoke(
        _app(),
        ["distill", "--recipe", str(_tiny(tmp_path)), "--training-dir", str(tmp_path), "--init-from", str(other)]
        + ["--output", str(tmp_path / "run"), "--cache-dir", str(tmp_path / "cache")],
    )
    assert res.exit_code == 2 and "embeds in 768 dimensions" in res.output and labelled == []
    assert not (tmp_path / "cache" / "embeddings").exists()


def test_an_eval_split_the_local_folder_lacks_fails_before_labelling(tmp_path: Path, labelled: list[int]) -> None:
    folder = tmp_path / "data" / "beir" / "scifact"
    (folder / "qrels").mkdir(parents=True)
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    (folder / "corpus.jsonl").write_text(json.dumps({"_id": "d1", "title": "", "text": "a document"}) + "\n")
    (folder / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "a query"}) + "\n")
    recipe = _tiny(tmp_path, eval={"retrieval": "beir/scifact", "split": "dev"})
    line = _refused(recipe, tmp_path, labelled, "eval.split 'dev'", "--data-dir", str(tmp_path / "data"))
    assert "no qrels/dev.tsv (splits: test)" in line


def test_an_eval_retrieval_folder_mteb_does_not_know_fails_before_labelling(
    tmp_path: Path, labelled: list[int]
) -> None:
    line = _refused(_tiny(tmp_path, eval={"retrieval": "beir/scifcat"}), tmp_path, labelled, "eval.retrieval")
    assert "unknown task 'scifcat'; known tasks (closest first): SciFact" in line


def test_a_stage_that_changes_the_teacher_dim_fails_before_labelling(tmp_path: Path, labelled: list[int]) -> None:
    """A later stage continues the previous stage's student, which embeds in the previous teacher's dim."""
    body = yaml.safe_load(TINY)
    del body["name"]
    staged = {"name": "tiny-staged", "stages": [body, {"teacher": {"model": "hash-16", "dim": 16}}]}
    recipe = _tiny(tmp_path)
    recipe.write_text(yaml.safe_dump(staged, sort_keys=False))
    line = _refused(recipe, tmp_path, labelled, "stages[2]")
    assert "teacher.dim 16 - this stage continues stage 1's student, which embeds in 8 dimensions" in line
