"""Task files on object storage: `leafbench run --data-dir s3://bucket/prefix` against a local S3 server (moto,
started here) scores exactly as the same files read locally, in the JSONL and Parquet layouts, streamed or not,
and with `--engine ray` reading the corpus from the bucket on the workers; a URL that cannot be reached or does not
hold the task is one line, exit 2. A `memory://` folder checks the readers without a server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import test_store_s3
from test_store_s3 import _big_beir, _one_error_line
from typer.testing import CliRunner

from leafbench.cli import app
from leafbench.data import DataError, RemotePath, data_location, load_beir_folder, load_retrieval_task

server, s3 = test_store_s3.server, test_store_s3.s3  # fixtures: the moto server, a fresh bucket and AWS_* settings
runner = CliRunner()
REPO = Path(__file__).resolve().parents[1]


def _scifact_cut(src: Path, dest: Path, n_queries: int = 100, n_docs: int = 400) -> Path:
    """SciFact's first `n_queries` test queries, the documents they judge and the first others up to `n_docs`, as a
    BEIR folder whose lines are SciFact's own."""
    qrels = (src / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines(keepends=True)
    qids = set(list(dict.fromkeys(line.split("\t")[0] for line in qrels[1:]))[:n_queries])
    rows = [line for line in qrels[1:] if line.split("\t")[0] in qids]
    judged = {line.split("\t")[1] for line in rows}
    lines = (src / "corpus.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    others = [json.loads(line)["_id"] for line in lines if json.loads(line)["_id"] not in judged]
    keep = judged | set(others[: n_docs - len(judged)])
    (dest / "qrels").mkdir(parents=True)
    (dest / "corpus.jsonl").write_text("".join(ln for ln in lines if json.loads(ln)["_id"] in keep), encoding="utf-8")
    queries = (src / "queries.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    (dest / "queries.jsonl").write_text("".join(q for q in queries if json.loads(q)["_id"] in qids), encoding="utf-8")
    (dest / "qrels" / "test.tsv").write_text(qrels[0] + "".join(rows), encoding="utf-8")
    return dest


def _upload(s3: dict[str, Any], folder: Path, prefix: str) -> str:
    """Every file under `folder` put at `prefix` in the bucket; the URL of `prefix`."""
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        key = f"{prefix}/{f.relative_to(folder).as_posix()}"
        s3["client"].put_object(Bucket=s3["bucket"], Key=key, Body=f.read_bytes())
    return f"s3://{s3['bucket']}/{prefix}"


def _run(data_dir: str | Path, tasks: str, out: Path, *extra: str) -> Any:
    args = ["run", "-m", "hash-64", "--tasks", tasks, "--data-dir", str(data_dir), "--output", str(out), *extra]
    return runner.invoke(app, args)


def _result(out: Path, task: str) -> dict[str, Any]:
    return json.loads((out / "hash-64" / "student" / f"{task}.json").read_text())


def _same_result(a: dict[str, Any], b: dict[str, Any]) -> None:
    """Same scores, measured on the same data, named alike (relative to --data-dir, wherever it was)."""
    assert a["scores"] == b["scores"]
    for key in ("data_fingerprint", "data_source", "n_documents", "n_queries"):
        assert a["leafbench"][key] == b["leafbench"][key], key


def _encoded(output: str) -> int:
    text = " ".join(output.split())
    return int(text.split("encoded ", 1)[1].split(" texts now", 1)[0].replace(",", ""))


def test_a_scifact_cut_on_s3_scores_as_the_same_files_local(
    s3: dict[str, Any], scifact_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--data-dir s3://bucket/data holding beir/scifact: the task is found and scored as the local copy, from the
    same store rows (the second run encodes nothing); LEAFBENCH_DATA_DIR may name the URL too."""
    tmp = s3["tmp"]
    _scifact_cut(scifact_dir, tmp / "local" / "beir" / "scifact")
    url = _upload(s3, tmp / "local", "data")
    remote = _run(url, "SciFact", tmp / "out-s3")
    assert remote.exit_code == 0, remote.output
    assert _encoded(remote.output) > 0
    local = _run(tmp / "local", "SciFact", tmp / "out-local")
    assert local.exit_code == 0, local.output
    assert _encoded(local.output) == 0  # the same texts: every row was already in the store
    _same_result(_result(tmp / "out-s3", "SciFact"), _result(tmp / "out-local", "SciFact"))
    assert _result(tmp / "out-s3", "SciFact")["leafbench"]["data_source"] == "beir/scifact"

    monkeypatch.setenv("LEAFBENCH_DATA_DIR", url)
    via_env = runner.invoke(app, ["run", "-m", "hash-64", "--tasks", "SciFact", "--output", str(tmp / "out-env")])
    assert via_env.exit_code == 0, via_env.output
    _same_result(_result(tmp / "out-env", "SciFact"), _result(tmp / "out-local", "SciFact"))
    data = load_retrieval_task("SciFact", offline=True)  # the library reads $LEAFBENCH_DATA_DIR as the CLI does
    assert data.source == f"{url}/beir/scifact" and data.n_docs == 400

    listed = runner.invoke(app, ["tasks", "--benchmark", "BEIR", "--data-dir", url, "--json"])
    assert listed.exit_code == 0, listed.output
    assert [r["task"] for r in json.loads(listed.stdout) if r["local"]] == ["SciFact"]


@pytest.mark.parametrize("layout", ["parquet", "parquet parts"])
def test_a_parquet_folder_on_s3_scores_as_its_jsonl_local(s3: dict[str, Any], layout: str) -> None:
    """A Parquet folder (one file, or a corpus/ folder of parts) at DIR/<task> in the bucket, or named by its URL
    in --tasks: the JSONL files' scores and fingerprint, streamed too."""
    from parquet_folders import to_parquet

    tmp = s3["tmp"]
    _big_beir(tmp / "jsonl" / "big", 500)
    _big_beir(tmp / "pq" / "big", 500)
    to_parquet(tmp / "pq" / "big", parts=3 if layout == "parquet parts" else 0)
    url = _upload(s3, tmp / "pq", "pq")
    res = _run(url, "big", tmp / "out-s3")
    assert res.exit_code == 0, res.output
    res = _run(tmp / "jsonl", "big", tmp / "out-local")
    assert res.exit_code == 0, res.output
    _same_result(_result(tmp / "out-s3", "big"), _result(tmp / "out-local", "big"))
    named = runner.invoke(app, ["run", "-m", "hash-64", "--tasks", f"{url}/big", "--output", str(tmp / "out-named")])
    assert named.exit_code == 0, named.output  # the folder given as a task, by its URL
    _same_result(_result(tmp / "out-named", "big"), _result(tmp / "out-local", "big"))
    listed = load_beir_folder(f"{url}/big")
    streamed = load_beir_folder(f"{url}/big", stream=True)
    assert streamed.streamed and streamed.fingerprint() == listed.fingerprint()
    assert list(streamed.corpus_texts) == list(listed.corpus_texts)


def test_a_streamed_corpus_on_s3_has_the_local_fingerprint_and_scores(
    s3: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A corpus streamed from the bucket (read again per pass, never held whole) scores as the local list reader."""
    tmp = s3["tmp"]
    _big_beir(tmp / "local" / "big", 700)
    url = _upload(s3, tmp / "local", "streamed")
    listed = load_beir_folder(tmp / "local" / "big", stream=False)
    remote = load_beir_folder(f"{url}/big", stream=True)
    assert remote.streamed and remote.source == f"{url}/big"
    assert remote.fingerprint() == listed.fingerprint()
    assert remote.corpus_texts.take([699, 3, 3]) == [listed.corpus_texts[i] for i in (699, 3, 3)]

    monkeypatch.setenv("LEAFBENCH_STREAM_MIN_BYTES", "0")
    res = _run(url, "big", tmp / "out-s3", "--max-docs", "300")
    assert res.exit_code == 0, res.output
    monkeypatch.setenv("LEAFBENCH_STREAM_MIN_BYTES", str(1 << 30))
    res = _run(tmp / "local", "big", tmp / "out-local", "--max-docs", "300")
    assert res.exit_code == 0, res.output
    folder = "hash-64__300d"
    a = json.loads((tmp / "out-s3" / folder / "student" / "big.json").read_text())
    b = json.loads((tmp / "out-local" / folder / "student" / "big.json").read_text())
    _same_result(a, b)


def test_ray_workers_read_the_corpus_from_s3(s3: dict[str, Any]) -> None:
    """`--engine ray` with the task files in the bucket, in a fresh process (its Ray workers inherit the AWS_*
    settings): the workers read the streamed corpora (JSONL and Parquet parts) from their URLs themselves, and the
    scores equal the local engine's on the same files read locally."""
    pytest.importorskip("ray")
    from parquet_folders import to_parquet

    tmp = s3["tmp"]
    _big_beir(tmp / "local" / "bigjson", 600)
    _big_beir(tmp / "local" / "bigpq", 600)
    corpus = tmp / "local" / "bigpq" / "corpus.jsonl"
    corpus.write_text(corpus.read_text().replace("document ", "passage "))  # texts the first corpus has not stored
    to_parquet(tmp / "local" / "bigpq", parts=3)
    url = _upload(s3, tmp / "local", "ray")
    env = {**os.environ, **s3["env"], "LEAFBENCH_STREAM_MIN_BYTES": "0"}
    common = ["run", "-m", "hash-64", "--tasks", "bigjson,bigpq"]
    ray_run = subprocess.run(
        [sys.executable, "-m", "leafbench.cli", *common, "--data-dir", url, "--output", str(tmp / "out-ray"),
         "--engine", "ray", "--workers", "1", "--cache-dir", str(tmp / "cache-ray"), "--verbose"],  # fmt: skip
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert ray_run.returncode == 0, ray_run.stdout + ray_run.stderr
    for task, corpus in (("bigjson", "corpus.jsonl"), ("bigpq", "corpus")):
        assert f"ray: {url}/{task}/{corpus} read by 1 workers" in ray_run.stderr  # not the driver's texts
    local = runner.invoke(app, [*common, "--data-dir", str(tmp / "local"), "--output", str(tmp / "out-local")])
    assert local.exit_code == 0, local.output
    for task in ("bigjson", "bigpq"):
        mine, theirs = _result(tmp / "out-ray", task), _result(tmp / "out-local", task)
        _same_result(mine, theirs)
        assert mine["leafbench"]["scored_on"]["engine"] == "ray"


@pytest.mark.parametrize(
    ("data_dir", "tasks", "expected"),
    [
        (
            "s3://no-such-bucket/x",
            "tiny",
            "s3://no-such-bucket/x: data dir does not exist (nothing stored under it in "
            "bucket 'no-such-bucket' at http://127.0.0.1:",
        ),
        ("s3://{bucket}/nothing-here", "tiny", "s3://{bucket}/nothing-here: data dir does not exist"),
        ("s3://{bucket}/other", "SciFact", "no local copy of SciFact under s3://{bucket}/other; pass --data-dir"),
        (
            "s3:{bucket}/x",
            "tiny",
            "--data-dir s3:{bucket}/x: not a URL (s3://bucket/path) and not a local path; for "
            "a local folder of that name write ./s3:{bucket}/x",
        ),
        ("az://container/x", "tiny", "az://container/x: az:// needs adlfs: pip install adlfs"),
        ("s3://{bucket}/bad", "broken", "s3://{bucket}/bad/broken/corpus.jsonl:2: invalid JSON"),
        ("s3://{bucket}/bad", "nulltext", "s3://{bucket}/bad/nulltext/corpus.parquet: row 2: null field 'text'"),
    ],  # fmt: skip
    ids=["missing-bucket", "missing-prefix", "task-not-there", "no-slashes", "no-driver", "bad-line", "bad-row"],
)
def test_a_url_that_cannot_serve_the_task_is_one_line_exit_2(
    s3: dict[str, Any], data_dir: str, tasks: str, expected: str
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if data_dir.startswith("az://"):
        try:
            import adlfs  # noqa: F401

            pytest.skip("adlfs is installed")
        except ImportError:
            pass
    client, bucket, tmp = s3["client"], s3["bucket"], s3["tmp"]
    client.put_object(Bucket=bucket, Key="other/beir/nfcorpus/queries.jsonl", Body=b'{"_id": "q", "text": "x"}\n')
    _big_beir(tmp / "bad" / "broken", 3)
    with (tmp / "bad" / "broken" / "corpus.jsonl").open("a") as f:
        f.write('{"_id": "d9", "text": \n')
    lines = (tmp / "bad" / "broken" / "corpus.jsonl").read_text().splitlines(keepends=True)
    (tmp / "bad" / "broken" / "corpus.jsonl").write_text(lines[0] + lines[-1] + "".join(lines[1:-1]))
    _big_beir(tmp / "bad" / "nulltext", 3)
    (tmp / "bad" / "nulltext" / "corpus.jsonl").unlink()
    pq.write_table(
        pa.table({"_id": ["d0", "d1", "d2"], "text": ["a", None, "c"]}), tmp / "bad" / "nulltext" / "corpus.parquet"
    )
    _upload(s3, tmp / "bad", "bad")
    keys_before = sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", []))

    res = _run(data_dir.format(bucket=bucket), tasks, tmp / "out")
    assert res.exit_code == 2, res.output
    assert expected.format(bucket=bucket) in _one_error_line(res)
    assert not list((tmp / "out").glob("**/*.json"))  # no result written
    assert sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])) == keys_before


def test_an_unreachable_endpoint_is_one_line_in_seconds(s3: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    t0 = time.monotonic()
    res = _run(f"s3://{s3['bucket']}/data", "tiny", s3["tmp"] / "out")
    assert res.exit_code == 2, res.output
    assert f"s3://{s3['bucket']}/data: cannot reach bucket '{s3['bucket']}' at http://127.0.0.1:1 (" in (
        _one_error_line(res)
    )
    assert "check the endpoint and credentials" in _one_error_line(res)
    assert time.monotonic() - t0 < 60
    assert not (s3["tmp"] / "out").exists()


def test_data_dirs_become_local_paths_or_urls(tmp_path: Path) -> None:
    """A URL stays one (also the `s3:/x` a Path makes of `s3://x`); file:// and plain paths are local folders."""
    import fsspec

    assert data_location(str(tmp_path)) == tmp_path
    assert data_location(f"file://{tmp_path}") == tmp_path
    assert data_location(Path("~/x")) == Path("~/x").expanduser()
    assert data_location("./s3:x") == Path("s3:x")
    assert data_location("notes:v2") == Path("notes:v2")  # not a scheme any filesystem has
    folded = data_location(Path("memory://leafbench-test/a/"))
    assert isinstance(folded, RemotePath) and str(folded) == "memory://leafbench-test/a"
    with pytest.raises(DataError, match="s3:bucket: not a URL"):
        data_location("s3:bucket")
    with pytest.raises(DataError, match="no bucket named"):
        data_location("s3:///x")

    memory = fsspec.filesystem("memory")
    _big_beir(tmp_path / "mem", 20)
    for f in (p for p in (tmp_path / "mem").rglob("*") if p.is_file()):
        memory.pipe(f"/leafbench-test/{f.relative_to(tmp_path).as_posix()}", f.read_bytes())
    try:
        remote = load_beir_folder("memory://leafbench-test/mem")
        assert remote.fingerprint() == load_beir_folder(tmp_path / "mem").fingerprint()
        with pytest.raises(
            DataError, match=r"memory://leafbench-test/mem/qrels/dev.tsv: missing qrels for split 'dev'"
        ):
            load_beir_folder("memory://leafbench-test/mem", "dev")
        with pytest.raises(DataError, match=r"memory://leafbench-test: missing corpus.jsonl .*folder contains: mem/"):
            load_beir_folder("memory://leafbench-test")
    finally:
        memory.rm("/leafbench-test", recursive=True)
