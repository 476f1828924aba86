"""Head ablation on frozen features (features.py): which projection of minilm-l6's pooled outputs into
mpnet-base's space scores best on the dev split (a seeded half of SciFact's train claims, full corpus), in
student mode and asymmetric mode. The backbone is frozen, so every row costs seconds.

    python experiments/isometric-dev/heads.py --data-dir ../shared/data --feats /tmp/feats
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from leafbench.data import load_beir_folder
from leafbench_distill.evaluation import ndcg10
from leafbench_distill.validation import DevSplit, dev_data


def procrustes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    u, sv, vt = np.linalg.svd(y.T @ x, full_matrices=False)
    return float(sv.sum()) / float((x * x).sum()) * (u @ vt)  # [d_t, d_s]


def crossfit(xc, tc, dev_i, tr_i, n: int, extra_x, extra_y, claim_weight: float = 1.0):
    """The dev claims' query embeddings, each half mapped by a Procrustes fit that never saw it: `n` claims (a
    seeded sample of the train claims and the other half, each row weighted `claim_weight`) plus the extra rows;
    and the last fold's map. Out of sample: how a fit with that many real claims would serve new ones."""
    rng, halves = np.random.default_rng(0), (dev_i[0::2], dev_i[1::2])
    q = np.zeros((len(dev_i), tc.shape[1]), np.float32)
    root = np.sqrt(claim_weight)
    for f in (0, 1):
        pool = tr_i + list(halves[1 - f])
        pick = [pool[i] for i in sorted(rng.choice(len(pool), size=min(n, len(pool)), replace=False))]
        w = procrustes(np.vstack([extra_x, root * xc[pick]]), np.vstack([extra_y, root * tc[pick]]))
        q[f::2] = xc[halves[f]] @ w.T
    return q, w


def ridge(x: np.ndarray, y: np.ndarray, alpha: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    xm, ym = x.mean(0), y.mean(0)
    g = (x - xm).T @ (x - xm)
    w = np.linalg.solve(g + alpha * np.trace(g) / len(g) * np.eye(len(g)), (x - xm).T @ (y - ym))
    return w.T, ym - xm @ w


def train_head(
    w0,
    xq,
    tq,
    xd,
    td,
    bank,
    *,
    steps=300,
    lr=1e-3,
    tau=0.05,
    w_l2=1.0,
    w_kl=1.0,
    w_orth=1.0,
    w_anchor=0.0,
    anchor_x=None,
    seed=0,
):
    """A linear head trained on frozen features: L2 to the teacher (queries and documents), KL between the
    teacher's and the student's softmax over a bank of teacher document embeddings (queries), and a penalty that
    keeps the head close to a scaled isometry (student-mode cosines)."""
    torch.manual_seed(seed)
    w = torch.tensor(w0, dtype=torch.float32, requires_grad=True)
    c0 = float(np.sqrt((w0 * w0).sum() / w0.shape[1]))
    xq_, tq_, xd_, td_ = (torch.tensor(a, dtype=torch.float32) for a in (xq, tq, xd, td))
    bank_ = torch.nn.functional.normalize(torch.tensor(bank, dtype=torch.float32), dim=1)
    eye = torch.eye(w0.shape[1])
    opt = torch.optim.Adam([w], lr=lr)
    p_t = torch.softmax(torch.nn.functional.normalize(tq_, dim=1) @ bank_.T / tau, dim=1)
    for _ in range(steps):
        sq = xq_ @ w.T
        sd = xd_ @ w.T
        loss = w_l2 * (
            ((torch.nn.functional.normalize(sq, dim=1) - torch.nn.functional.normalize(tq_, dim=1)) ** 2).sum(1).mean()
            + ((torch.nn.functional.normalize(sd, dim=1) - torch.nn.functional.normalize(td_, dim=1)) ** 2)
            .sum(1)
            .mean()
        )
        if w_kl:
            log_s = torch.log_softmax(torch.nn.functional.normalize(sq, dim=1) @ bank_.T / tau, dim=1)
            loss = loss + w_kl * torch.nn.functional.kl_div(log_s, p_t, reduction="batchmean")
        if w_orth:
            loss = loss + w_orth * (((w.T @ w) / c0**2 - eye) ** 2).sum() / w0.shape[1]
        opt.zero_grad()
        loss.backward()
        opt.step()
    return w.detach().numpy()


def dev_features(data_dir: Path, feats: Path):
    """The dev set (seeded half of the train claims x the full corpus), features.py's arrays, and the rows of
    the dev and the remaining train claims in them."""
    train = load_beir_folder(data_dir / "beir" / "scifact", "train", task_name="SciFact")
    split = DevSplit.of(train.query_ids, 0.5, 0)
    dev = dev_data(train, split)
    t, s = np.load(feats / "teacher.npz"), np.load(feats / "student_short.npz")
    meta = json.loads((feats / "ids.json").read_text())
    pos = {q: i for i, q in enumerate(meta["claims"])}
    dev_i = [pos[q] for q in dev.query_ids]
    tr_i = [pos[q] for q in meta["claims"] if q in split.train_ids]
    return dev, t, s, meta, dev_i, tr_i


def feature_args() -> argparse.Namespace:
    """--data-dir (the offline data), --feats (features.py's folder), --out (the JSON rows, optional)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--feats", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=None)
    return ap.parse_args()


def main() -> None:
    args = feature_args()
    dev, t, s, meta, dev_i, tr_i = dev_features(args.data_dir, args.feats)
    t_docs = t["docs"]
    xg, tg = s["general"], t["general"]
    roles = np.asarray(meta["roles"])
    xc, tc = s["claims"], t["claims"]
    docs = {
        n: np.load(args.feats / f"student_docs_{n}.npy")
        for n in (256, 384, 512)
        if (args.feats / f"student_docs_{n}.npy").is_file()
    }
    rows = []

    def score(name, w, b=None, lengths=(384,)):
        b = 0.0 if b is None else b
        q = xc[dev_i] @ w.T + b
        row = {"head": name, "asym": ndcg10(dev, q, t_docs)}
        for n in [n for n in lengths if n in docs]:
            row[f"student@{n}"] = ndcg10(dev, q, docs[n] @ w.T + b)
        rows.append(row)
        print(json.dumps(row), flush=True)

    print(json.dumps({"teacher": ndcg10(dev, tc[dev_i], t_docs), "split": dev.subset_spec["dev"]}), flush=True)
    w_gen = procrustes(xg, tg)
    score("procrustes general", w_gen, lengths=(256, 384, 512))
    x_mix, t_mix = np.vstack([xg, xc[tr_i]]), np.vstack([tg, tc[tr_i]])
    w_mix = procrustes(x_mix, t_mix)
    score("procrustes general + train claims", w_mix)
    score("procrustes train claims", procrustes(xc[tr_i], tc[tr_i]))
    q_dev = tc[dev_i]  # the teacher's claims against the student's (rotated) abstracts: the reverse pairing
    rows.append(
        {
            "head": "teacher claims x procrustes general + train claims documents",
            "asym": None,
            "student@384": ndcg10(dev, q_dev, docs[384] @ w_mix.T),
        }
    )
    print(json.dumps(rows[-1]), flush=True)
    rng = np.random.default_rng(0)
    for n in (100, 200):  # how many claims the fit needs
        sub = rng.choice(tr_i, size=n, replace=False)
        score(f"procrustes general + {n} train claims", procrustes(np.vstack([xg, xc[sub]]), np.vstack([tg, tc[sub]])))
    wr, br = ridge(x_mix, t_mix)
    score("ridge general + train claims", wr, br)
    for lam in (0.25, 0.5):
        score(f"blend procrustes/ridge {lam}", (1 - lam) * w_mix + lam * wr, lam * br)
    xq = np.vstack([xc[tr_i], xg[roles == "query"]])
    tq = np.vstack([tc[tr_i], tg[roles == "query"]])
    xd, td = xg[roles == "document"], tg[roles == "document"]
    for bank_name, bank in (("general docs", td), ("train claims + general docs", np.vstack([td, tc[tr_i]]))):
        for w_orth in (0.1, 1.0):
            for w_kl in (0.0, 1.0):
                w = train_head(w_mix, xq, tq, xd, td, bank, w_kl=w_kl, w_orth=w_orth)
                score(f"trained head: bank {bank_name}, kl {w_kl}, orth {w_orth}", w)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
