"""Recipes: YAML files that fix teacher, student, data mix, schedule and evaluation of a distillation run.

Recipes are validated up front (unknown keys, values of the wrong type or out of range, bad roles, bad schedules,
fields that contradict each other fail with the file name and the field), so a typo is caught before an hour of
teacher labelling, not after. What needs the models (layer count, teacher dim, position table) is checked
against their configs by `check.check_setup`, also before any labelling.
"""

from __future__ import annotations

import itertools
import math
import types
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

import yaml

from leafbench.errors import UserError

from .texts import ROLES, SourceSpec, TextSourceError

RECIPE_DIR = Path(__file__).parent / "recipes"
# In a source's path/beir (and its domain reference): the evaluation data folder (`eval.data_dir`/`--data-dir`).
DATA_DIR_VAR = "$data_dir"
REPO_ROOT = Path(__file__).resolve().parents[1]


class RecipeError(UserError):
    """A recipe that cannot be used; the message names the file and the field."""


@dataclass
class TeacherCfg:
    model: str  # leafbench alias, HF id or folder
    dim: int
    precision: str = "fp32"  # teacher inference precision for targets (bf16: fast on avx512_bf16 CPUs)
    backend: str = "torch"  # leafbench.backends for labelling: torch | onnx | openvino | ...-int8 | openvino-bf16
    normalized: bool = True
    revision: str | None = None
    max_seq_length: int | None = None


@dataclass
class StudentCfg:
    backbone: str
    layers: list[int] | str | None = None
    max_seq_length: int = 128  # training length (cost grows with it; most training texts are short)
    # What the exported student reads at inference. Training short does not stop the student from reading long
    # passages (its position embeddings are trained); give it what the teacher reads. None: the training length.
    export_max_seq_length: int | None = None
    # Reading lengths to choose from on the dev set (student mode, the selected weights), e.g. [256, 384, 512]:
    # the best becomes the exported max_seq_length. Needs eval.dev; replaces export_max_seq_length.
    export_lengths: list[int] | None = None
    bias: bool = True
    normalize: bool = True
    projection_init: str = "ridge"  # ridge | procrustes (an isometry: keeps the backbone's own cosines) | random
    ridge_alpha: float = 0.01  # λ = alpha × mean eigenvalue of the pooled Gram matrix
    ridge_texts: int = 4000  # texts the ridge or procrustes fit reads
    # The sources the fit reads (None: all, in the training mix's proportions). The map is fitted where it must
    # hold: fitted on the mix, whose in-domain queries are a few percent, it serves them worse.
    fit_sources: list[str] | None = None
    # Per-source weights in the procrustes fit (default 1): a few hundred in-domain queries beside thousands of
    # pseudo-queries, e.g. {scifact-train-claims: 10}, so the map holds where the real queries are.
    fit_weights: dict[str, float] | None = None
    # Keep the projection an isometry while training (torch's orthogonal parametrization, bias frozen at 0): the
    # student's own cosines then change only with the backbone. Needs projection_init procrustes and normalize.
    orthogonal: bool = False
    # Continue from an earlier student folder (e.g. runs/leaf-mpnet/final) instead of backbone + fresh
    # projection: more data or another schedule without paying again for what was learned.
    init_from: str | None = None


@dataclass
class DataCfg:
    sources: list[SourceSpec]
    # Folder that relative `path`/`beir` sources are read from. None: the recipe reads no local files (hub
    # sources only), or the user names the folder (`--training-dir`).
    training_dir: str | None = None
    seed: int = 0
    max_words: int | None = 96
    heldout: int = 500
    drop_eval_overlap: bool = True
    # Adapt on the evaluation task's unlabelled corpus (a `cut` source reading it). Its results are labelled
    # transductive in every result file and report: they are not zero-shot scores.
    transductive: bool = False


@dataclass
class L2Loss:
    """LEAF's own term: squared L2 distance to the teacher's embedding of the same text."""

    weight: float = 1.0


@dataclass
class RankKLLoss:
    """Query-side ranking distillation (EmbedDistill / KALE): KL(teacher || student) of the softmax over a fixed
    bank of teacher document embeddings, taken from the training set's document-role targets."""

    weight: float = 0.0
    # Cosine / tau is the logit. Cosines of a query to unrelated documents differ by tenths at most: at tau 1 the
    # softmax over thousands of documents is nearly uniform and says nothing about the ranking; 0.05 (the range
    # of contrastive training temperatures) spreads the logits over ~40 and puts the mass on the near neighbours.
    tau: float = 0.05
    bank: int | None = 20000  # documents in the bank (a seeded sample); null: every document-role training text


@dataclass
class AnchorLoss:
    """Matryoshka-Adaptor's unsupervised terms against the starting student s0 (its embeddings computed once):
    `weight` x ||s(x) - s0(x)||², `pairwise` x mean over pairs of (cos(s_i, s_j) - cos(s0_i, s0_j))²."""

    weight: float = 0.0
    pairwise: float = 0.0
    # Documents only by default: in asymmetric retrieval the student encodes the queries, which must land on the
    # teacher's; documents it encodes only in student mode, where keeping the backbone's own geometry is the point.
    roles: list[str] = field(default_factory=lambda: ["document"])


@dataclass
class SimmatLoss:
    """In-batch similarity-matrix matching (Jasper / Stella): mean over pairs of (cos_student - cos_teacher)²."""

    weight: float = 0.0


@dataclass
class LossCfg:
    """The training objective: a weighted sum of terms. The default is the paper's: plain L2, nothing else."""

    l2: L2Loss = field(default_factory=L2Loss)
    rank_kl: RankKLLoss = field(default_factory=RankKLLoss)
    anchor: AnchorLoss = field(default_factory=AnchorLoss)
    simmat: SimmatLoss = field(default_factory=SimmatLoss)

    def weights(self) -> dict[str, float]:
        """Every term's weight by the name its component is logged under (`loss_<name>` in metrics.jsonl)."""
        return {
            "l2": self.l2.weight,
            "rank_kl": self.rank_kl.weight,
            "anchor": self.anchor.weight,
            "pairwise": self.anchor.pairwise,
            "simmat": self.simmat.weight,
        }

    def needs_start(self) -> bool:
        """Whether the starting student's embeddings are needed (the anchor terms)."""
        return self.anchor.weight > 0 or self.anchor.pairwise > 0


@dataclass
class TrainCfg:
    batch_size: int = 32
    cycles: int = 3
    epochs_per_cycle: int = 10
    lr_max: float = 1e-4
    lr_min: float = 1e-5
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    warmup_steps: int = 0
    seed: int = 0
    length_grouping: bool = True  # batches of similar length (less padding); batch order still shuffled
    checkpoint_every: int = 200  # steps
    eval_every: int = 0  # steps; 0: at the end of every epoch
    max_steps: int | None = None
    # Dropout while training (every nn.Dropout of the student). None: the backbone's own (0.1 for BERT-likes).
    # A student far from its teacher underfits, and dropout then only slows the alignment down.
    dropout: float | None = None
    loss: LossCfg = field(default_factory=LossCfg)  # `loss:` in YAML; see _build_loss


@dataclass
class DevCfg:
    """`eval.dev`: the dev set that selects the model, so the test split is scored once, after selection.

    Its queries are a seeded part of the retrieval task's `split` queries (by default half of the train claims),
    scored against the full corpus; the overlap guard drops them from every training source."""

    split: str = "train"
    fraction: float = 0.5
    seed: int = 0
    student_mode: bool = True  # score student mode on dev too (re-encodes the corpus at each evaluation)
    n_queries: int | None = None  # cut the dev set (quick runs, tests); None: every dev query, the full corpus
    n_docs: int | None = None
    sts: list[str] = field(default_factory=list)  # mteb/sts/<task>/dev.jsonl under data_dir: a Spearman guardrail
    # The length the student reads when scored on dev; None: what it is exported at (see `dev_read_length`), so
    # selection compares students as they will ship, not at the (shorter) training length.
    read_length: int | None = None


#: `eval.select`: what picks the exported student among the evaluated states (start, each epoch, final).
SELECT_RULES = ("last", "asymmetric", "student", "min", "mean")


@dataclass
class EvalCfg:
    # Local evaluation data (BEIR folders, mteb/sts/...). None: the retrieval task is loaded through mteb (the
    # hub), and STS is left to `leafbench run`; `--data-dir` names a local copy.
    data_dir: str | None = None
    retrieval: str | None = "beir/scifact"  # BEIR folder under data_dir (or its mteb task), for the asymmetric check
    split: str = "test"
    n_queries: int | None = None  # None: all (teacher documents are cached once, queries are cheap)
    n_docs: int | None = None
    subset_seed: int = 0
    student_mode: bool = False  # also score student documents (re-encodes the corpus each eval)
    sts: list[str] = field(default_factory=list)  # mteb/sts task folders under data_dir, for the final report
    overlap_check: list[str] = field(default_factory=list)  # more eval sets for the overlap guard
    dev: DevCfg | None = None  # set: in-training evaluations score the dev set, never `split`
    # last: the final weights. asymmetric / student: the best dev nDCG@10 in that mode; min / mean: of the two.
    select: str = "last"


@dataclass
class Recipe:
    name: str
    description: str
    teacher: TeacherCfg
    student: StudentCfg
    data: DataCfg
    train: TrainCfg = field(default_factory=TrainCfg)
    eval: EvalCfg = field(default_factory=EvalCfg)
    notes: str = ""
    # "validation": a text selection for choosing between students (scripts/alignment.py --recipe), which
    # `leafbench distill` refuses to train on - training on it would spend the only texts no stage has seen.
    purpose: str = "training"
    path: str | None = None
    raw: dict = field(default_factory=dict, repr=False)

    def resolve_path(self, p: str | Path) -> Path:
        """Relative paths are relative to the working directory if they exist there, else to the repo root."""
        path = Path(p).expanduser()
        if path.is_absolute() or path.exists():
            return path
        return REPO_ROOT / path

    def eval_dir(self) -> Path | None:
        """The local evaluation data folder, or None (evaluation data through mteb)."""
        return self.resolve_path(self.eval.data_dir) if self.eval.data_dir else None

    def training_base(self) -> Path | None:
        return self.resolve_path(self.data.training_dir) if self.data.training_dir else None

    def resolved_sources(self) -> list[SourceSpec]:
        """Sources as a run reads them: a hub source with a `local` copy reads that copy when a training folder
        is named; `$data_dir/...` expanded to the evaluation data folder (a recipe that selects training
        texts by an evaluation set's train split names that set once, wherever the data lives); fails, naming
        the source and the option, when a source needs a folder the recipe and the command leave unset."""
        from dataclasses import replace as _replace

        def expand(value: str | None, src: SourceSpec) -> str | None:
            if value is None or not value.startswith(DATA_DIR_VAR):
                return value
            if self.eval.data_dir is None:
                raise RecipeError(
                    f"{self.path or self.name}: source {src.name} reads {value}: give --data-dir "
                    "(the folder with the evaluation data)"
                )
            return str(self.eval_dir().resolve()) + value[len(DATA_DIR_VAR) :]

        out = []
        for src in self.data.sources:
            if src.local is not None and self.data.training_dir is not None:
                src = _replace(
                    src,
                    hf=None,
                    hf_config=None,
                    path=src.local["path"],
                    field=src.local.get("field", "text"),
                    local=None,
                )
            domain = dict(src.domain) if src.domain else None
            if domain:
                for k in ("beir", "path"):
                    if k in domain:
                        domain[k] = expand(domain[k], src)
            src = _replace(src, path=expand(src.path, src), beir=expand(src.beir, src), domain=domain)
            local = [v for v in (src.path, src.beir, *((domain or {}).get(k) for k in ("beir", "path"))) if v]
            if self.data.training_dir is None and any(not Path(v).is_absolute() for v in local):
                raise RecipeError(
                    f"{self.path or self.name}: source {src.name} reads local files "
                    f"({', '.join(v for v in local if not Path(v).is_absolute())}): give --training-dir"
                )
            out.append(src)
        return out

    @property
    def total_epochs(self) -> int:
        return self.train.cycles * self.train.epochs_per_cycle

    def to_dict(self) -> dict:
        return self.raw


_KINDS = {int: "an integer", float: "a number", str: "a string", bool: "true or false", type(None): "null"}


def _fits(value: Any, hint: Any) -> bool:
    """Whether a YAML value has a field's declared type. An integer field takes no bool or float, a number field
    no text (YAML 1.1 reads `1e-4` as a string) and no .nan/.inf: such values otherwise fail only when training
    compares or uses them, after the teacher has labelled every text."""
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        return any(_fits(value, h) for h in get_args(hint))
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is type(None):
        return value is None
    if origin is list:
        return isinstance(value, list) and all(_fits(v, get_args(hint)[0]) for v in value)
    if origin is dict:
        k, v = get_args(hint)
        return isinstance(value, dict) and all(_fits(a, k) and _fits(b, v) for a, b in value.items())
    return isinstance(value, origin or hint)


def _describe(hint: Any) -> str:
    if get_origin(hint) in (Union, types.UnionType):
        return " or ".join(_describe(h) for h in get_args(hint))
    if get_origin(hint) is list:
        return f"a list ({_describe(get_args(hint)[0])} each)"
    if get_origin(hint) is dict:
        return "a mapping of strings"
    return _KINDS.get(hint, getattr(hint, "__name__", str(hint)))


def _check_types(cls: type, d: dict, prefix: str) -> None:
    """Every known key of `d` has the type `cls` declares for it; the message is `prefix` + the field."""
    hints = get_type_hints(cls)
    for k, v in d.items():
        if k in hints and not _fits(v, hints[k]):
            number = isinstance(v, str) and float in get_args(hints[k]) + (hints[k],)
            hint = " (YAML reads 1e-4 as text: write 1.0e-4)" if number and _is_number(v) else ""
            raise RecipeError(f"{prefix}{k} must be {_describe(hints[k])}, not {v!r}{hint}")


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _build(cls, d: Any, where: str):
    if not isinstance(d, dict):
        raise RecipeError(f"{where}: expected a mapping, got {type(d).__name__}")
    names = {f.name for f in fields(cls)}
    unknown = set(d) - names
    if unknown:
        raise RecipeError(f"{where}: unknown keys {sorted(unknown)} (allowed: {sorted(names)})")
    _check_types(cls, d, f"{where}.")
    try:
        return cls(**d)
    except TypeError as e:
        raise RecipeError(f"{where}: {e}") from e


def _build_train(d: Any, where: str) -> TrainCfg:
    """`train:`; its `loss:` mapping is built term by term."""
    if not isinstance(d, dict):
        raise RecipeError(f"{where}: expected a mapping, got {type(d).__name__}")
    cfg = _build(TrainCfg, {k: v for k, v in d.items() if k != "loss"}, where)
    if "loss" in d:
        cfg.loss = _build_loss(d["loss"], f"{where}.loss")
    return cfg


def _build_eval(d: Any, where: str) -> EvalCfg:
    """`eval:`; its `dev:` mapping is built as a DevCfg."""
    if not isinstance(d, dict):
        raise RecipeError(f"{where}: expected a mapping, got {type(d).__name__}")
    cfg = _build(EvalCfg, {k: v for k, v in d.items() if k != "dev"}, where)
    if d.get("dev") is not None:
        cfg.dev = _build(DevCfg, d["dev"], f"{where}.dev")
    return cfg


_LOSS_TERMS = {"l2": L2Loss, "rank_kl": RankKLLoss, "anchor": AnchorLoss, "simmat": SimmatLoss}


def _build_loss(d: Any, where: str) -> LossCfg:
    """`loss: {l2: 1.0, rank_kl: {weight: 1.0, tau: 0.05}, ...}`: a term is its weight (a number) or a mapping of
    its fields; terms left out are off (l2 left out: weight 1)."""
    if not isinstance(d, dict):
        raise RecipeError(f"{where}: expected a mapping of loss terms, got {type(d).__name__}")
    unknown = set(d) - set(_LOSS_TERMS)
    if unknown:
        raise RecipeError(f"{where}: unknown keys {sorted(unknown)} (allowed: {sorted(_LOSS_TERMS)})")
    terms = {}
    for name, value in d.items():
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if is_number:
            value = {"weight": value}
        elif not isinstance(value, dict):
            raise RecipeError(f"{where}.{name} must be a weight (a number) or a mapping, not {value!r}")
        terms[name] = _build(_LOSS_TERMS[name], value, f"{where}.{name}")
    return LossCfg(**terms)


def parse_recipe(raw: dict, where: str = "<recipe>") -> Recipe:
    if not isinstance(raw, dict):
        raise RecipeError(f"{where}: a recipe is a mapping")
    for key in ("name", "teacher", "student", "data"):
        if key not in raw:
            raise RecipeError(f"{where}: missing {key!r}")
    unknown = set(raw) - {"name", "description", "teacher", "student", "data", "train", "eval", "notes", "purpose"}
    if unknown:
        raise RecipeError(f"{where}: unknown keys {sorted(unknown)}")
    for key in ("name", "description", "notes", "purpose"):
        if not isinstance(raw.get(key, ""), str) or (key == "name" and not raw[key]):
            raise RecipeError(f"{where}: {key} must be a{' non-empty' * (key == 'name')} string, not {raw[key]!r}")
    if not isinstance(raw["data"], dict):
        raise RecipeError(f"{where}: data: expected a mapping, got {type(raw['data']).__name__}")
    data = dict(raw["data"])
    sources = data.get("sources", [])
    if not isinstance(sources, list):
        raise RecipeError(f"{where}: data.sources must be a list of sources, not {type(sources).__name__}")
    try:
        for s in sources:
            if isinstance(s, dict):
                _check_types(SourceSpec, s, f"{where}: data.sources: source {s.get('name', '?')}: ")
        data["sources"] = [SourceSpec.from_dict(s) for s in sources]
    except TextSourceError as e:
        raise RecipeError(f"{where}: data.sources: {e}") from e
    r = Recipe(
        name=raw["name"],
        description=raw.get("description", ""),
        teacher=_build(TeacherCfg, raw["teacher"], f"{where}: teacher"),
        student=_build(StudentCfg, raw["student"], f"{where}: student"),
        data=_build(DataCfg, data, f"{where}: data"),
        train=_build_train(raw.get("train", {}), f"{where}: train"),
        eval=_build_eval(raw.get("eval", {}), f"{where}: eval"),
        notes=raw.get("notes", ""),
        purpose=raw.get("purpose", "training"),
        raw=raw,
    )
    validate(r, where)
    return r


def validate(r: Recipe, where: str) -> None:
    """Every problem of a parsed recipe at once (a user fixes them in one go), raised as one RecipeError."""
    problems = [
        *_general_problems(r),
        *_least_problems(r),
        *_student_problems(r.student),
        *_loss_problems(r),
        *_retrieval_problems(r),
        *_start_problems(r),
        *_dev_problems(r),
        *_heldout_problems(r),
        *_leak_problems(r),
    ]
    if problems:
        raise RecipeError(f"{where}: " + "; ".join(problems))


def _general_problems(r: Recipe) -> list[str]:
    """Sources, purpose, schedule and teacher settings: (problem, message) in the order they are reported."""
    from leafbench.backends import BACKENDS

    t, names = r.train, [s.name for s in r.data.sources]
    checks = [
        (not r.data.sources, "data.sources is empty"),
        (
            r.purpose not in ("training", "validation"),
            f"purpose must be training or validation, not {r.purpose!r}",
        ),
        (len(set(names)) != len(names), "data.sources: names must be unique"),
        (
            t.batch_size < 1 or t.cycles < 1 or t.epochs_per_cycle < 0,
            "train: batch_size and cycles must be >= 1, epochs_per_cycle >= 0 (0: no training, the fitted start)",
        ),
        (t.dropout is not None and not 0 <= t.dropout < 1, "train.dropout must be in [0, 1)"),
        (not 0 < t.lr_min <= t.lr_max, "train: need 0 < lr_min <= lr_max"),
        (r.teacher.dim < 1, "teacher.dim must be >= 1"),
        (r.teacher.precision not in ("fp32", "bf16", "fp16"), "teacher.precision must be fp32, bf16 or fp16"),
        (
            r.teacher.backend not in BACKENDS,
            f"teacher.backend must be one of {', '.join(BACKENDS)}, not {r.teacher.backend!r}",
        ),
        (
            r.teacher.backend in BACKENDS and r.teacher.backend != "torch" and r.teacher.precision != "fp32",
            f"teacher.precision {r.teacher.precision} applies to the torch backend only (teacher.backend {r.teacher.backend})",
        ),
        (
            r.student.projection_init not in ("ridge", "procrustes", "random"),
            "student.projection_init must be ridge, procrustes or random",
        ),
    ]
    return [msg for bad, msg in checks if bad]


def _least_problems(r: Recipe) -> list[str]:
    """Values below their least: each fails only late otherwise - a negative held-out size or train.seed in the
    split or the batch order after labelling, a negative weight_decay in AdamW, a too small n_queries or
    ridge_texts in the evaluation subset or the projection fit; max_words 0 or below silently truncates wrongly."""
    st, d, t = r.student, r.data, r.train
    least = [
        ("teacher.max_seq_length", r.teacher.max_seq_length, 1),
        ("student.max_seq_length", st.max_seq_length, 1),
        ("student.export_max_seq_length", st.export_max_seq_length, 1),
        ("eval.dev.read_length", r.eval.dev.read_length if r.eval.dev else None, 1),
        ("student.ridge_texts", st.ridge_texts, 2),
        ("data.max_words", d.max_words, 1),
        ("data.heldout", d.heldout, 0),
        ("train.weight_decay", t.weight_decay, 0),
        ("train.grad_clip", t.grad_clip, 0),
        ("train.warmup_steps", t.warmup_steps, 0),
        ("train.seed", t.seed, 0),
        ("train.checkpoint_every", t.checkpoint_every, 0),
        ("train.eval_every", t.eval_every, 0),
        ("train.max_steps", t.max_steps, 1),
        ("eval.n_queries", r.eval.n_queries, 1),
        ("eval.n_docs", r.eval.n_docs, 1),
    ]
    return [f"{name} must be >= {low}, not {v}" for name, v, low in least if v is not None and v < low]


def _student_problems(st: StudentCfg) -> list[str]:
    """The projection's ridge strength and the layer selection."""
    problems = []
    if st.ridge_alpha <= 0:
        problems.append(
            f"student.ridge_alpha must be > 0 (0 is least squares, singular on few texts), not {st.ridge_alpha}"
        )
    if isinstance(st.layers, str) and st.layers != "every_other":
        problems.append(f"student.layers must be a list of layer indices or every_other, not {st.layers!r}")
    elif isinstance(st.layers, list) and (
        not st.layers or st.layers[0] < 0 or any(a >= b for a, b in itertools.pairwise(st.layers))
    ):
        problems.append(
            f"student.layers must be distinct, increasing layer indices >= 0 (e.g. [0, 3, 5]), not {st.layers}"
        )
    return problems


#: Where each loss component's weight is set in `train.loss`.
_WEIGHT_FIELDS = {
    "l2": "l2.weight",
    "rank_kl": "rank_kl.weight",
    "anchor": "anchor.weight",
    "pairwise": "anchor.pairwise",
    "simmat": "simmat.weight",
}


def _loss_problems(r: Recipe) -> list[str]:
    """Weights, temperature, bank size and roles of `train.loss`, and the texts each term needs."""
    loss, roles = r.train.loss, {s.role for s in r.data.sources}
    weights = loss.weights()
    problems = [f"train.loss.{_WEIGHT_FIELDS[k]} must be >= 0, not {w}" for k, w in weights.items() if w < 0]
    bad_roles = [x for x in loss.anchor.roles if x not in ROLES]
    checks = [
        (all(w <= 0 for w in weights.values()), "train.loss: every weight is 0 - nothing to train"),
        (loss.rank_kl.tau <= 0, f"train.loss.rank_kl.tau must be > 0, not {loss.rank_kl.tau}"),
        (
            loss.rank_kl.bank is not None and loss.rank_kl.bank < 2,
            f"train.loss.rank_kl.bank must be >= 2 documents (or null: all), not {loss.rank_kl.bank}",
        ),
        (
            loss.rank_kl.weight > 0 and not {"query", "document"} <= roles,
            "train.loss.rank_kl needs query-role texts (it applies to them) and document-role texts (its bank)",
        ),
        (
            not loss.anchor.roles or bad_roles or len(set(loss.anchor.roles)) != len(loss.anchor.roles),
            f"train.loss.anchor.roles must be distinct roles out of {', '.join(ROLES)}, not {loss.anchor.roles}",
        ),
        (
            loss.needs_start() and not bad_roles and not set(loss.anchor.roles) & roles,
            f"train.loss.anchor.roles {loss.anchor.roles}: no source has such a role",
        ),
    ]
    return problems + [msg for bad, msg in checks if bad]


def _start_problems(r: Recipe) -> list[str]:
    """The projection fit's sources and the orthogonal option."""
    problems = []
    unknown_fit = sorted(set(r.student.fit_sources or ()) - {s.name for s in r.data.sources})
    if unknown_fit or r.student.fit_sources == []:
        problems.append(f"student.fit_sources must name data.sources (unknown: {unknown_fit or 'an empty list'})")
    if r.student.orthogonal and (r.student.projection_init != "procrustes" or not r.student.normalize):
        problems.append("student.orthogonal keeps a procrustes start: needs projection_init procrustes and normalize")
    weights = r.student.fit_weights or {}
    if weights and r.student.projection_init != "procrustes":
        problems.append("student.fit_weights weight the procrustes fit: needs projection_init procrustes")
    unknown = sorted(set(weights) - set(r.student.fit_sources or {s.name for s in r.data.sources}))
    if unknown or any(not isinstance(w, int | float) or w <= 0 for w in weights.values()):
        problems.append(f"student.fit_weights: positive weights of fitted sources (not fitted: {unknown or 'none'})")
    fresh = not r.student.init_from and r.student.projection_init not in ("ridge", "procrustes")
    if r.train.epochs_per_cycle == 0 and fresh:
        problems.append(
            "train.epochs_per_cycle 0 exports the start untrained: needs projection_init ridge or procrustes"
        )
    return problems


def _dev_problems(r: Recipe) -> list[str]:
    """The dev set, the selection rule and the reading lengths chosen on dev."""
    e, problems = r.eval, []
    if e.select not in SELECT_RULES:
        problems.append(f"eval.select must be one of {', '.join(SELECT_RULES)}, not {e.select!r}")
    elif e.select != "last" and e.dev is None:
        problems.append(f"eval.select {e.select!r} selects on the dev set: set eval.dev (or select: last)")
    elif e.select in ("student", "min", "mean") and e.dev is not None and not e.dev.student_mode:
        problems.append(f"eval.select {e.select!r} needs student mode on dev: eval.dev.student_mode must be true")
    lengths = r.student.export_lengths
    if lengths is not None:
        if e.dev is None or not e.dev.student_mode:
            problems.append(
                "student.export_lengths are chosen on dev in student mode: set eval.dev (student_mode: true)"
            )
        if not lengths or any(n < 1 for n in lengths) or r.student.export_max_seq_length is not None:
            problems.append(
                "student.export_lengths must be a non-empty list of lengths >= 1, without export_max_seq_length"
            )
    if e.dev is None:
        return problems
    if not 0 < e.dev.fraction < 1:
        problems.append(f"eval.dev.fraction must be in (0, 1), not {e.dev.fraction}")
    if e.dev.split == e.split:
        problems.append(f"eval.dev.split must differ from eval.split ({e.split!r}): the dev set is never the test set")
    if not e.retrieval:
        problems.append("eval.dev needs eval.retrieval (the task whose queries it holds out)")
    if not r.data.drop_eval_overlap:
        problems.append("eval.dev needs data.drop_eval_overlap: true (the dev queries must leave the training texts)")
    return problems


def _retrieval_problems(r: Recipe) -> list[str]:
    """A retrieval folder name mteb does not know fails after labelling, when the evaluation loads."""
    if not r.eval.retrieval:
        return []
    from leafbench.data import DataError, resolve_task_name

    try:
        resolve_task_name(Path(r.eval.retrieval).name)
    except DataError as e:
        return [f"eval.retrieval {r.eval.retrieval!r}: {e}"]
    return []


def _heldout_problems(r: Recipe) -> list[str]:
    """The held-out split must leave a training batch of the texts the sources' limits allow (an upper bound)."""
    d, t = r.data, r.train
    limits = [src.limit for src in d.sources]
    if limits and None not in limits and sum(limits) - d.heldout < t.batch_size:
        return [
            f"data.heldout={d.heldout} leaves at most {max(sum(limits) - d.heldout, 0)} of the {sum(limits)} texts the "
            f"sources' limits allow for training, fewer than one batch (train.batch_size={t.batch_size})"
        ]
    return []


def _is_eval_task(r: Recipe, folder: str | None) -> bool:
    """Whether a BEIR folder is the recipe's evaluation task (by folder name, wherever it lives)."""
    return bool(folder and r.eval.retrieval and Path(folder).name == Path(r.eval.retrieval).name)


def _leak_problems(r: Recipe) -> list[str]:
    """Selecting or taking training texts by the evaluation split's own queries would leak it."""
    problems = []
    for s in r.data.sources:
        ref = (s.domain or {}).get("beir")
        leaks = [
            (
                _is_eval_task(r, ref) and s.domain.get("split") == r.eval.split,
                f"domain reference {ref} split {r.eval.split!r} is the evaluation split",
            ),
            (
                _is_eval_task(r, s.beir) and s.role == "query" and s.cut is None and s.split in (None, r.eval.split),
                f"trains on {s.beir}'s {r.eval.split!r} queries, the evaluation split"
                + ("" if s.split else " (name a split, e.g. split: train)"),
            ),
        ]
        problems += [f"data.sources {s.name}: {msg}" for bad, msg in leaks if bad]
    return problems + _transductive_problems(r)


def reads_eval_corpus(r: Recipe) -> list[str]:
    """Names of the sources that read the evaluation task's corpus (which makes a run transductive)."""
    return [s.name for s in r.data.sources if _is_eval_task(r, s.beir) and (s.cut is not None or s.role == "document")]


def adaptation(r: Recipe) -> dict[str, Any] | None:
    """What a transductive recipe adapted on, for every result it writes; None for a zero-shot recipe."""
    if not r.data.transductive:
        return None
    return {
        "kind": "transductive",
        "corpus": r.eval.retrieval,
        "sources": reads_eval_corpus(r),
        "note": "trained on texts cut from the evaluation corpus (no labels): not a zero-shot score",
    }


def _transductive_problems(r: Recipe) -> list[str]:
    """Adapting on the evaluation corpus is allowed only when declared, so no result passes it off as zero-shot."""
    readers = reads_eval_corpus(r)
    if readers and not r.data.transductive:
        return [
            f"data.sources {', '.join(readers)}: reads the evaluation corpus ({r.eval.retrieval}); set "
            "data.transductive: true to adapt on it (its results are then labelled transductive, not zero-shot)"
        ]
    if r.data.transductive and not readers:
        return [
            "data.transductive: true, but no source reads the evaluation corpus (a source with beir: "
            f"<{r.eval.retrieval}> and cut: sentences)"
        ]
    return []


def check_sizes(r: Recipe, n_texts: int | None, what: str) -> None:
    """The held-out split must leave at least one training batch: checked from --max-texts before any text is
    read, and from the texts actually found before any is labelled by the teacher."""
    if n_texts is None:
        return
    n_train = n_texts - r.data.heldout
    if n_train < r.train.batch_size:
        raise RecipeError(
            f"{what}: recipe {r.name} holds out data.heldout={r.data.heldout} texts for validation, leaving "
            f"{max(n_train, 0)} for training, fewer than one batch of {r.train.batch_size}; use at least "
            f"{r.data.heldout + r.train.batch_size} texts, or a recipe with a smaller data.heldout"
        )


def list_recipes() -> list[str]:
    return sorted(p.stem for p in RECIPE_DIR.glob("*.yaml"))


def _recipe_file(name_or_path: str, near: Path | None = None) -> Path:
    """A path (next to the recipe that names it first, then as given; `.yaml` may be left off) or a built-in
    recipe's name."""
    tries = [
        *((near / name_or_path, near / f"{name_or_path}.yaml") if near else ()),
        Path(name_or_path),
        RECIPE_DIR / f"{name_or_path}.yaml",
    ]
    for path in tries:
        if path.is_file():
            return path
    raise RecipeError(
        f"unknown recipe {name_or_path!r}: not a file, and built-in recipes are {', '.join(list_recipes())}"
    )


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise RecipeError(f"{path}: invalid YAML ({e})") from e


def _merge(base: dict, over: dict) -> dict:
    """Mappings merge key by key; anything else (numbers, strings, lists) in `over` replaces the base's value."""
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _extend(base: dict, raw: dict, path: Path) -> dict:
    """`raw`'s keys merged over `base`, and `raw`'s `data.add_sources` appended to base's sources."""
    data = raw.get("data")
    adds = data.get("add_sources") if isinstance(data, dict) else None
    over = {k: v for k, v in raw.items() if k != "extends"}
    if isinstance(data, dict):
        over["data"] = {k: v for k, v in data.items() if k != "add_sources"}
    merged = _merge(base, over)
    if adds is not None:
        if not isinstance(adds, list):
            raise RecipeError(f"{path}: data.add_sources must be a list of sources")
        merged["data"] = {**merged.get("data", {}), "sources": [*merged.get("data", {}).get("sources", []), *adds]}
    return merged


def _resolve_extends(raw: Any, path: Path, chain: tuple[Path, ...] = ()) -> Any:
    """`extends: <recipe>` = that recipe with this file's keys merged over it, and `data.add_sources` appended
    to its sources. Appending (not restating) keeps a continuation stage to its differences, and keeps the
    base's sources first, so their teacher targets in the store are reused as they are."""
    if not isinstance(raw, dict):
        return raw
    data = raw.get("data")
    adds = data.get("add_sources") if isinstance(data, dict) else None
    if "extends" not in raw:
        if adds is not None:
            raise RecipeError(f"{path}: data.add_sources appends to a base recipe's sources; it needs `extends:`")
        return raw
    if "name" not in raw:
        raise RecipeError(f"{path}: a recipe that extends another needs a name of its own")
    base_path = _recipe_file(str(raw["extends"]), path.parent)
    if base_path.resolve() in chain:
        raise RecipeError(f"{path}: `extends` loops back to {base_path}")
    base = _resolve_extends(_read_yaml(base_path), base_path, (*chain, base_path.resolve()))
    if not isinstance(base, dict):
        raise RecipeError(f"{base_path}: a recipe is a mapping")
    if "stages" in base:
        raise RecipeError(f"{path}: extends {base_path}, a multi-stage recipe; extend one of its stage files instead")
    return _extend(base, raw, path)


STAGED_KEYS = {"name", "description", "notes", "stages"}


def is_staged(name_or_path: str) -> bool:
    """Whether a recipe is multi-stage (`stages:`): one command runs its stages in order."""
    raw = _read_yaml(_recipe_file(name_or_path))
    return isinstance(raw, dict) and "stages" in raw


def load_recipe(name_or_path: str) -> Recipe:
    """A built-in recipe name (leaf-ir, leaf-mt, mini, ...) or a path to a YAML file: one training run.

    A multi-stage recipe is several runs; load it with :func:`load_stages`."""
    path = _recipe_file(name_or_path)
    raw = _read_yaml(path)
    if isinstance(raw, dict) and "stages" in raw:
        raise RecipeError(f"{path}: a multi-stage recipe ({len(raw['stages'] or [])} stages); load it with load_stages")
    raw = _resolve_extends(raw, path, (path.resolve(),))
    r = parse_recipe(raw, str(path))
    r.path = str(path)
    return r


def load_stages(name_or_path: str) -> list[Recipe]:
    """Every run a recipe asks for, in order: one for a plain recipe, one per entry of a multi-stage recipe.

    A stage is a recipe body or the name of a stage file (next to the recipe, `.yaml` optional). A body
    without teacher/student/data continues the previous stage's recipe: its keys are merged over it and its
    `data.add_sources` appended, as `extends:` does. Stage N > 1 always starts from stage N-1's exported
    student (set when the stages run), so no stage may name `student.init_from` of its own.
    """
    path = _recipe_file(name_or_path)
    raw = _read_yaml(path)
    if not (isinstance(raw, dict) and "stages" in raw):
        return [load_recipe(str(path))]
    unknown = set(raw) - STAGED_KEYS
    if unknown:
        raise RecipeError(f"{path}: unknown keys {sorted(unknown)} next to `stages` (allowed: {sorted(STAGED_KEYS)})")
    if "name" not in raw:
        raise RecipeError(f"{path}: missing 'name'")
    entries = raw["stages"]
    if not isinstance(entries, list) or not entries:
        raise RecipeError(f"{path}: stages must be a non-empty list (recipe bodies or stage file names)")
    out: list[Recipe] = []
    prev: dict | None = None
    for i, entry in enumerate(entries, 1):
        where = f"{path}: stages[{i}]"
        if isinstance(entry, str):
            stage_path = _recipe_file(entry, path.parent)
            body = _read_yaml(stage_path)
            if isinstance(body, dict) and "stages" in body:
                raise RecipeError(f"{where}: {stage_path} is itself multi-stage")
            stage_raw = _resolve_extends(body, stage_path, (stage_path.resolve(),))
            where = f"{where} ({stage_path})"
        elif isinstance(entry, dict):
            if "extends" in entry:
                stage_raw = _resolve_extends({"name": f"{raw['name']}-stage{i}", **entry}, path, (path.resolve(),))
            elif prev is not None and not {"teacher", "student", "data"} <= set(entry):
                stage_raw = _extend(prev, {"name": f"{raw['name']}-stage{i}", **entry}, path)
            else:
                stage_raw = _resolve_extends({"name": f"{raw['name']}-stage{i}", **entry}, path, (path.resolve(),))
        else:
            raise RecipeError(f"{where}: a stage is a recipe body (mapping) or a stage file name")
        if not isinstance(stage_raw, dict):
            raise RecipeError(f"{where}: a recipe is a mapping")
        if i > 1 and (stage_raw.get("student") or {}).get("init_from"):
            raise RecipeError(
                f"{where}: student.init_from - a stage starts from the previous stage's student "
                "(<output>/stage-N/final) by itself; drop init_from"
            )
        r = parse_recipe(stage_raw, where)
        if r.purpose != "training":
            raise RecipeError(f"{where}: purpose: {r.purpose} - every stage trains")
        if out and r.teacher.dim != out[-1].teacher.dim:  # else the stage fails after labelling, loading the student
            raise RecipeError(
                f"{where}: teacher.dim {r.teacher.dim} - this stage continues stage {i - 1}'s student, which embeds "
                f"in {out[-1].teacher.dim} dimensions"
            )
        r.path = str(path)
        out.append(r)
        # The next inline stage continues this one's recipe, without its init_from (set when it runs).
        prev = {**stage_raw, "student": {k: v for k, v in (stage_raw.get("student") or {}).items() if k != "init_from"}}
    return out


def dev_read_length(r: Recipe) -> int | None:
    """The length the student reads in dev evaluations: `eval.dev.read_length`, else the export length
    (`student.export_max_seq_length`, or the longest of `student.export_lengths`); None: the training length."""
    d, st = r.eval.dev, r.student
    if d is None:
        return None
    return d.read_length or st.export_max_seq_length or (max(st.export_lengths) if st.export_lengths else None)
