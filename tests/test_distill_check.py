"""`leafbench distill --check`: every source opened and its first rows read in seconds, hub loader mocked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from leafbench_distill import check_recipe
from leafbench_distill.cli import distill as distill_command

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
    app = typer.Typer()
    app.command("distill")(distill_command)
    app.command("noop")(lambda: None)
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
