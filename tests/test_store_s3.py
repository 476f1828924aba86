"""`leafbench run --cache-dir s3://bucket/prefix` against a local S3 server (moto, started here): the same scores as
a local cache, a second run that encodes nothing, a run killed mid-encoding whose rerun encodes only what is
missing, and bad buckets, endpoints, schemes and formats as one line, exit 2, before anything is written."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

pytest.importorskip("lance")
moto_server = pytest.importorskip("moto.server", reason="moto[server] is not installed")
boto3 = pytest.importorskip("boto3")

from test_plan import _beir  # noqa: E402  (the tiny BEIR folder of the plan tests)

from leafbench.cli import app  # noqa: E402
from leafbench.store.lance_store import LanceEmbeddingStore  # noqa: E402

runner = CliRunner()
REPO = Path(__file__).resolve().parents[1]
BUCKET = "leafbench"


@pytest.fixture(scope="module")
def server() -> Any:
    srv = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture()
def s3(server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """AWS_* variables pointing at the moto server, a fresh bucket, a local default cache and a tiny BEIR folder."""
    host, port = server.get_host_and_port()
    env = {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "LEAFBENCH_CACHE_DIR": str(tmp_path / "local-cache"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("LEAFBENCH_DEBUG", raising=False)
    client = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"])
    bucket = f"{BUCKET}-{time.monotonic_ns()}"
    client.create_bucket(Bucket=bucket)
    _beir(tmp_path / "data" / "tiny")
    return {"tmp": tmp_path, "client": client, "bucket": bucket, "env": env}


def _args(s3: dict[str, Any], cache: str, out: str = "out", model: str = "hash-64") -> list[str]:
    tmp = s3["tmp"]
    return [
        "run", "-m", model, "--tasks", "tiny", "--data-dir", str(tmp / "data"), "--output", str(tmp / out),
        "--cache-dir", cache,
    ]  # fmt: skip


def _scores(tmp: Path, out: str) -> dict:
    return json.loads((tmp / out / "hash-64" / "student" / "tiny.json").read_text())["scores"]


def _encoded(output: str) -> int:
    found = re.search(r"encoded ([\d,]+) texts now", " ".join(output.split()))
    assert found, output
    return int(found.group(1).replace(",", ""))


def _one_error_line(res: Any) -> str:
    lines = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in res.output and "unexpected" not in res.output, res.output
    return " ".join(res.output.split())


def test_a_run_on_s3_scores_as_a_local_cache_and_encodes_once(s3: dict[str, Any]) -> None:
    uri = f"s3://{s3['bucket']}/team/cache"
    first = runner.invoke(app, _args(s3, uri))
    assert first.exit_code == 0, first.output
    assert _encoded(first.output) == 12
    local = runner.invoke(app, _args(s3, str(s3["tmp"] / "cache"), "out-local"))
    assert local.exit_code == 0, local.output
    assert _scores(s3["tmp"], "out") == _scores(s3["tmp"], "out-local")

    again = runner.invoke(app, [*_args(s3, uri), "--force"])
    assert again.exit_code == 0 and _encoded(again.output) == 0, again.output
    marker = s3["client"].get_object(Bucket=s3["bucket"], Key="team/cache/embeddings/FORMAT-lance")
    assert marker["Body"].read().decode().strip() == "3"
    assert not (s3["tmp"] / "local-cache" / "embeddings").exists()  # the store is in the bucket only
    ls = runner.invoke(app, ["cache", "ls", "--json", "--cache-dir", uri])
    assert ls.exit_code == 0, ls.output
    spaces = [json.loads(line) for line in ls.stdout.splitlines()]
    assert len(spaces) == 2 and sum(s["rows"] for s in spaces) == 12 and {s["format"] for s in spaces} == {"lance"}


def _big_beir(folder: Path, n_docs: int) -> None:
    folder.mkdir(parents=True)
    docs = "".join(json.dumps({"_id": f"d{i}", "text": f"document {i} on topic {i % 7}"}) + "\n" for i in range(n_docs))
    (folder / "corpus.jsonl").write_text(docs)
    (folder / "queries.jsonl").write_text(json.dumps({"_id": "q0", "text": "topic 0"}) + "\n")
    (folder / "qrels").mkdir()
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq0\td0\t1\n")


def _appends(s3: dict[str, Any], prefix: str) -> int:
    """Manifest versions past each space's first (its empty creation): the commits holding rows."""
    listed = s3["client"].list_objects_v2(Bucket=s3["bucket"], Prefix=prefix)
    manifests = [o["Key"] for o in listed.get("Contents", []) if o["Key"].endswith(".manifest")]
    spaces = {k.split("/rows.lance/")[0] for k in manifests}
    return len(manifests) - len(spaces)


def test_a_run_killed_mid_encoding_on_s3_is_resumed(s3: dict[str, Any]) -> None:
    tmp, n_docs = s3["tmp"], 400
    _big_beir(tmp / "data" / "big", n_docs)
    uri = f"s3://{s3['bucket']}/killed"
    args = [
        "run", "-m", "hash-64-10ms", "--tasks", "big", "--data-dir", str(tmp / "data"), "--output", str(tmp / "out"),
        "--cache-dir", uri, "--batch-size", "8", "--shard-size", "8",
    ]  # fmt: skip
    env = {**os.environ, **s3["env"]}
    proc = subprocess.Popen(
        [sys.executable, "-m", "leafbench.cli", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline and _appends(s3, "killed/") < 1:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    output = proc.communicate()[0].decode()
    assert proc.returncode == -signal.SIGKILL, output  # killed mid-encoding, not finished
    stored = sum(s["rows"] for s in LanceEmbeddingStore(f"{uri}/embeddings").spaces())
    assert 0 < stored < n_docs + 1

    rerun = runner.invoke(app, args)
    assert rerun.exit_code == 0, rerun.output
    assert _encoded(rerun.output) == n_docs + 1 - stored  # only what the killed run had not committed
    assert sum(s["rows"] for s in LanceEmbeddingStore(f"{uri}/embeddings").spaces()) == n_docs + 1


@pytest.mark.parametrize(
    ("cache", "extra", "expected"),
    [
        ("s3://no-such-bucket/x", [], "bucket 'no-such-bucket' at http://127.0.0.1:"),
        ("hdfs://namenode/x", [], "no object store for hdfs:// (supported: s3://, gs://, az://"),
        ("az://container/x", [], "pip install adlfs"),
        ("s3://{bucket}/x", ["--store-format", "shards"], "--store-format shards: the shard store is local only"),
    ],
    ids=["missing-bucket", "unsupported-scheme", "no-driver", "shards-on-s3"],
)
def test_bad_object_storage_input_is_one_line_exit_2(
    s3: dict[str, Any], cache: str, extra: list[str], expected: str
) -> None:
    if expected == "pip install adlfs":
        try:
            import adlfs  # noqa: F401

            pytest.skip("adlfs is installed")
        except ImportError:
            pass
    res = runner.invoke(app, [*_args(s3, cache.format(bucket=s3["bucket"])), *extra])
    assert res.exit_code == 2, res.output
    assert expected in _one_error_line(res)
    assert not (s3["tmp"] / "out").exists()
    listed = s3["client"].list_objects_v2(Bucket=s3["bucket"])
    assert not listed.get("Contents")  # nothing written


def test_an_unreachable_endpoint_and_a_newer_store_are_refused(s3: dict[str, Any], monkeypatch) -> None:
    uri = f"s3://{s3['bucket']}/newer"
    s3["client"].put_object(Bucket=s3["bucket"], Key="newer/embeddings/FORMAT-lance", Body=b"99\n")
    res = runner.invoke(app, _args(s3, uri))
    assert res.exit_code == 2 and "written by a newer leafbench (FORMAT-lance 99" in _one_error_line(res)
    listed = s3["client"].list_objects_v2(Bucket=s3["bucket"])
    assert [o["Key"] for o in listed["Contents"]] == ["newer/embeddings/FORMAT-lance"]  # nothing else written

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    t0 = time.monotonic()
    res = runner.invoke(app, _args(s3, uri))
    assert res.exit_code == 2 and f"cannot reach bucket '{s3['bucket']}' at http://127.0.0.1:1" in _one_error_line(res)
    assert time.monotonic() - t0 < 60
    assert not (s3["tmp"] / "out").exists()


def test_ray_workers_read_the_corpus_and_the_store_on_s3(s3: dict[str, Any]) -> None:
    """`--engine ray` with the store in the bucket, in a fresh process (its Ray workers inherit the AWS_* settings):
    workers read a streamed Parquet corpus themselves, write and read the rows on S3 and score them; the scores
    equal the local engine's with a local store, and the results say they were scored on the Ray workers."""
    from parquet_folders import to_parquet

    tmp = s3["tmp"]
    _big_beir(tmp / "data" / "big", 3000)
    to_parquet(tmp / "data" / "big", parts=3)
    env = {**os.environ, **s3["env"], "LEAFBENCH_STREAM_MIN_BYTES": "0"}
    common = ["run", "-m", "hash-64", "--tasks", "big", "--data-dir", str(tmp / "data"), "--dims", "full,32"]
    ray_run = subprocess.run(
        [sys.executable, "-m", "leafbench.cli", *common, "--output", str(tmp / "out-ray"), "--engine", "ray",
         "--cache-dir", f"s3://{s3['bucket']}/ray"],  # fmt: skip
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert ray_run.returncode == 0, ray_run.stdout + ray_run.stderr
    local = runner.invoke(app, [*common, "--output", str(tmp / "out-local"), "--cache-dir", str(tmp / "cache")])
    assert local.exit_code == 0, local.output
    for out in ("out-ray", "out-local"):
        assert len(list((tmp / out / "hash-64" / "student").glob("big*.json"))) == 2
    for f in (tmp / "out-local" / "hash-64" / "student").glob("big*.json"):
        mine = json.loads((tmp / "out-ray" / "hash-64" / "student" / f.name).read_text())
        theirs = json.loads(f.read_text())
        assert mine["scores"] == theirs["scores"], f.name
        assert mine["leafbench"]["scored_on"]["engine"] == "ray" and mine["leafbench"]["scored_on"]["workers"] >= 1
        assert "scored_on" not in theirs["leafbench"]
    stored = sum(s["rows"] for s in LanceEmbeddingStore(f"s3://{s3['bucket']}/ray/embeddings").spaces())
    assert stored == 3000 + 1
