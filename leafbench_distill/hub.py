"""`leafbench push`: a finished run's student (`final/`) and asymmetric Router (`router/`) to the Hugging Face Hub,
each to its own model repo, with model cards rendered for those repos (leafbench_distill.cards).

Both repos are created first; then the cards are written into the run's folders (so the local copy and the hub say
the same; a Router exported before the query route became its default gets that default), then both are uploaded. A hub that cannot be reached, or refuses, is one line that says what was and was not
uploaded - never a success.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import DistillError

__all__ = ["PushError", "PushResult", "check_repo_id", "push_run", "query_route_default", "run_folder", "write_cards"]

HUB = "https://huggingface.co"


class PushError(DistillError):
    """A run that cannot be pushed (no such folder, no final/), a bad repo id, or a hub that cannot be reached."""


@dataclass
class PushResult:
    """What a push uploaded: {repo id: the folder uploaded there}, student first."""

    uploaded: dict[str, Path] = field(default_factory=dict)


def check_repo_id(repo_id: str, option: str = "--repo-id") -> str:
    """A hub model repo id (ORG/NAME, or NAME in your own namespace), checked before anything is uploaded."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as e:
        first = (str(e).strip().splitlines() or [""])[0]
        raise PushError(f"{option} {repo_id!r} is not a Hugging Face repo id (ORG/NAME): {first}") from None
    return repo_id


def run_folder(run_dir: Path) -> Path:
    """The folder of `run_dir` that holds the student to push: the run itself, or for a multi-stage run (its
    stages.json) the last stage's folder."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise PushError(f"{run_dir}: no such run folder")
    stages = run_dir / "stages.json"
    if not (run_dir / "final").exists() and stages.is_file():
        try:
            n = len(json.loads(stages.read_text())["stages"])
        except (ValueError, KeyError, TypeError):
            raise PushError(f"{stages}: not a stages.json written by `leafbench distill`") from None
        run_dir = run_dir / f"stage-{n}"
    if not (run_dir / "final" / "modules.json").is_file():
        raise PushError(f"{run_dir}: no final/ student (final/modules.json) - not a finished `leafbench distill` run")
    if not (run_dir / "summary.json").is_file():
        raise PushError(f"{run_dir}: no summary.json (written when a run finishes) - not a finished run")
    return run_dir


def _network_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean "the hub cannot be reached": offline mode (a ConnectionError), timeouts, and the
    HTTP clients' transport errors (huggingface_hub 1.x uses httpx, 2.x httpx2; requests for older code)."""
    errors: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for module, names in (("httpx2", ("TransportError",)), ("httpx", ("TransportError",))):
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        errors += [getattr(mod, n) for n in names if isinstance(getattr(mod, n, None), type)]
    try:
        import requests

        errors += [requests.exceptions.ConnectionError, requests.exceptions.Timeout]
    except ImportError:
        pass
    return tuple(errors)


def _first_line(e: BaseException) -> str:
    return f"{type(e).__name__}: {(str(e).strip().splitlines() or [''])[0][:200]}"


def _what_was_uploaded(uploaded: dict[str, Path], targets: dict[str, Path]) -> str:
    if not uploaded:
        return "nothing was uploaded"
    done = ", ".join(f"{p.name}/ is on {r}" for r, p in uploaded.items())
    left = ", ".join(f"{p.name}/ was not uploaded to {r}" for r, p in targets.items() if r not in uploaded)
    return f"{done}; {left} (rerun the command to finish)"


def write_cards(folder: Path, repo_id: str, router_repo_id: str | None) -> None:
    """final/README.md and router/README.md rendered for their hub repos, from the run's summary.json."""
    from .cards import model_card, router_card

    summary = json.loads((folder / "summary.json").read_text())
    manifest_path = folder / "final" / "leafbench.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    (folder / "final" / "README.md").write_text(model_card(summary, repo_id, router=router_repo_id or False))
    if router_repo_id:
        prompts = {k: manifest.get(f"{k}_prompt", "") for k in ("query", "document")}
        (folder / "router" / "README.md").write_text(router_card(summary, prompts, router_repo_id, student=repo_id))


def query_route_default(router: Path) -> bool:
    """Make the query route (the student) the Router's default, as `build_router` now exports it: a Router made
    before that ran the teacher for a plain `encode`. True if router_config.json was changed."""
    path = router / "router_config.json"
    try:
        config = json.loads(path.read_text())
        params = config["parameters"]
        routes = config["structure"]
    except (OSError, ValueError, KeyError, TypeError):
        return False  # not the layout this sentence-transformers writes: left as it is
    if params.get("default_route") == "query" or "query" not in routes:
        return False
    params["default_route"] = "query"
    path.write_text(json.dumps(config, indent=4) + "\n")
    return True


def _targets(folder: Path, repo_id: str, router_repo_id: str | None, router: bool) -> dict[str, Path]:
    """{repo id: folder} to upload: the student, and the Router where the run has one (a Router repo asked for by
    name that the run lacks is an error; the default one is just skipped)."""
    check_repo_id(repo_id)
    targets = {repo_id: folder / "final"}
    if not router:
        return targets
    has_router = (folder / "router" / "modules.json").is_file()
    if router_repo_id is not None and not has_router:
        raise PushError(f"{folder}: no router/ model to push to {router_repo_id} (the run was made with --no-router)")
    if has_router:
        name = check_repo_id(router_repo_id or f"{repo_id}-router", "--router-repo-id")
        if name == repo_id:
            raise PushError(f"--router-repo-id {name} is the student's repo: the Router needs its own")
        targets[name] = folder / "router"
    return targets


def push_run(
    run_dir: Path,
    repo_id: str,
    router_repo_id: str | None = None,
    *,
    router: bool = True,
    private: bool = False,
    token: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> PushResult:
    """Upload `run_dir`'s final/ to `repo_id` and its router/ to `router_repo_id` (default `<repo_id>-router`),
    creating the repos (`private` ones if asked). Raises PushError naming what was uploaded when the hub cannot
    be reached or refuses."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError

    from leafbench.offline import hub_offline

    say = progress or (lambda msg: None)
    folder = run_folder(run_dir)
    targets = _targets(folder, repo_id, router_repo_id, router)
    if hub_offline():
        raise PushError("cannot reach the Hugging Face Hub (HF_HUB_OFFLINE is set): nothing was uploaded")
    api: Any = HfApi(token=token)
    result = PushResult()
    step = ""
    try:
        for repo in targets:
            step = f"create {repo}"
            api.create_repo(repo, repo_type="model", private=private or None, exist_ok=True)
        _prepare(folder, repo_id, targets, say)  # once the hub has answered: a failed push leaves the run as it was
        for repo, path in targets.items():
            step = f"take {path.name}/ into {repo}"
            say(f"uploading {path} -> {HUB}/{repo}")
            api.upload_folder(repo_id=repo, folder_path=str(path), repo_type="model", commit_message=_message(path))
            result.uploaded[repo] = path
    except _network_errors() as e:
        raise PushError(
            f"cannot reach the Hugging Face Hub ({_first_line(e)}): {_what_was_uploaded(result.uploaded, targets)}"
        ) from None
    except (HfHubHTTPError, LocalTokenNotFoundError) as e:
        raise PushError(
            f"the Hugging Face Hub would not {step} ({_first_line(e)}{_token_hint(e)}): "
            f"{_what_was_uploaded(result.uploaded, targets)}"
        ) from None
    return result


def _prepare(folder: Path, repo_id: str, targets: dict[str, Path], say: Callable[[str], None]) -> None:
    """The run's folders as they are uploaded: cards for these repos, the query route the Router's default."""
    routers = [r for r, p in targets.items() if p.name == "router"]
    if routers and query_route_default(folder / "router"):
        say(f"{folder / 'router'}: default route set to the query route (the student), as leafbench exports it now")
    write_cards(folder, repo_id, routers[0] if routers else None)


def _token_hint(e: BaseException) -> str:
    """For a refusal that is about the token (none, or one without write access): where a token goes."""
    status = getattr(getattr(e, "response", None), "status_code", None)
    if status in (401, 403) or not hasattr(e, "response"):
        return "; it needs a token with write access: --token, HF_TOKEN or `hf auth login`"
    return ""


def _message(path: Path) -> str:
    what = "asymmetric Router (student queries, teacher documents)" if path.name == "router" else "LEAF student"
    return f"Upload {what} from leafbench distill"
