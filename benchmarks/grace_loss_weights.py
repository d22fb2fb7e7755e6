"""GRACE with and without Eq. 3's loss weights inside its gradients: how many of the top-k change.

    python benchmarks/grace_loss_weights.py                      # simsv2-synthetic "small", seeds 0-2
    python benchmarks/grace_loss_weights.py --size tiny --seeds 0 --top 20

For each seed: the dataset (``features`` view, as the protocols use), ``init`` samples labeled
as the AL loop's round 0 draws them (stream ``(seed, 0, "init")``), the ``mtl`` model fitted
(5 epochs, the protocol's setting), then GRACE's round-1 scores on the unlabeled pool with
``loss_weights="model"`` (t 0.2, a 0.8, v 0.4, m 1.0) and ``loss_weights=None`` (all 1). Records
per seed the top-``k`` picks that differ, the same for each criterion alone, and the Spearman
correlation of the two final scores. Writes ``benchmarks/results/grace_loss_weights.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

import mmal
from mmal.builtin.grace import Grace


def top(x: np.ndarray, k: int) -> set[int]:
    return set(np.argsort(-x, kind="stable")[:k].tolist())


def one_seed(size, seed: int, init: int, k: int, rounds: tuple[int, ...]) -> dict:
    ds = mmal.datasets.get("simsv2-synthetic", size=size, seed=seed)
    pool = ds.train
    ids = pool.ids[mmal.derive_rng(seed, 0, "init").choice(pool.n, size=init, replace=False)]
    pool.label(ids, ds.oracle(ids))
    model = mmal.task_models.get("mtl", epochs=5).fit(pool, seed=seed)
    U = pool.unlabeled_positions()
    out = {"n_unlabeled": int(len(U)), "model_loss_weights": model.loss_weights}
    for t in rounds:
        got = {w: Grace(loss_weights=w).scores(model, pool, U, rng=mmal.derive_rng(seed, t, "grace"), round=t)
               for w in ("model", None)}
        a, b = got["model"], got[None]
        row = {"alpha": a["alpha"], "top_changed": len(top(a["score"], k) - top(b["score"], k)),
               "spearman_score": float(spearmanr(a["score"], b["score"]).statistic)}
        for name in a["raw"]:
            row[f"top_changed_{name}"] = len(top(a["raw"][name], k) - top(b["raw"][name], k))
        row["easiness_max_abs_diff"] = float(np.abs(a["raw"]["easiness"] - b["raw"]["easiness"]).max())
        out[f"round_{t}"] = row
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="small")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--init", type=int, default=100)
    ap.add_argument("--top", type=int, default=100)
    ap.add_argument("--rounds", default="1,11", help="rounds whose alpha_t is used (1: alpha 1.0, 11: alpha 0.0)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "grace_loss_weights.json"))
    args = ap.parse_args()
    size = int(args.size) if args.size.isdigit() else args.size
    rounds = tuple(int(r) for r in args.rounds.split(","))
    seeds = [int(s) for s in args.seeds.split(",")]
    res = {"dataset": "simsv2-synthetic", "size": size, "init": args.init, "top": args.top, "task_model": "mtl (epochs=5)",
           "seeds": {}}
    for seed in seeds:
        res["seeds"][seed] = one_seed(size, seed, args.init, args.top, rounds)
        print(seed, json.dumps({r: res["seeds"][seed][f"round_{r}"] for r in rounds}), flush=True)
    for t in rounds:
        changed = [res["seeds"][s][f"round_{t}"]["top_changed"] for s in seeds]
        res[f"round_{t}_top_changed_mean"] = float(np.mean(changed))
    Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
