"""Benchmark: GRACE query time, fast path vs the naive formula, at SIMSv2 and CHERMA pool sizes.

    python benchmarks/bench_grace.py                 # simsv2 (2722 train) and cherma (17230 train)
    python benchmarks/bench_grace.py --quick         # small pools, a smoke run

Fast: ``Grace().scores`` on the whole unlabeled pool with the ``mtl`` task model:
gradients = own pseudo-labels + ``grad_embed_many`` (one forward + one batched backward to the
layer outputs, factored ``delta ⊗ h``); criteria = Eqs. 4-7 with Eq. 5 by blocked GEMM tiles
on the rank-1 factors (:mod:`mmal.kernels.distsum`).

Naive (paper Algorithm 1 done directly): gradients = for every sample, a forward pass and one
``autograd.grad`` per (head, W_k) pair giving the explicit gradient vector; criteria = Eqs. 4
and 6 on explicit vectors and Eq. 5 as, for every sample p, ``sum_q ||G[p] - G[q]||`` over
the explicit ``[N, c*d]`` gradient matrix (vectorized per row). The naive path is timed on
``--naive-rows`` random unlabeled samples and extrapolated to the pool: linearly in N for
the gradients (per-sample cost), linearly for Eq. 5 (each row costs ``O(N c d)``, so all rows
cost ``N`` times one row). The same rows check the fast path's values (max relative error).

Also: the sampled Eq. 5 estimator (``Grace(sample=m)``) at each size, its time, its mean
relative error against the exact sums, and the overlap of its top-``budget`` selection
with the exact one. Pools use the synthetic generators' ``features`` view (one vector per
modality, so the encoders are MLPs; the BiLSTM sequence view changes the forward cost of
both paths alike). Both paths run with ``--threads`` torch CPU threads (default 1) and
the same device. Writes ``benchmarks/results/grace.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

import mmal
from mmal.grads import RankOne
from mmal.data import synthetic
from mmal.io import atomic_write_text
from mmal.nn.training import load_batch
from mmal.builtin.grace import Grace, modality_gradients, own_pseudo_labels

FAMILIES = {  # name: (generator, train pool size, initial labeled, budget per round) - GRACE Sec. 4.1
    "simsv2": (synthetic.make_simsv2, 2722, 100, 100),
    "cherma": (synthetic.make_cherma, 17230, 1000, 1000),
}


def naive_gradients(model, pool, rows: np.ndarray) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], float]:
    """Explicit ``(g_k, g_mk)`` per modality for each row by per-sample autograd; and the seconds taken."""
    net, layers = model.net_, model.net_.grad_layers()
    net.eval()
    labels = own_pseudo_labels(model, pool, rows)  # same pseudo-labels as the fast path (not timed)
    out = {k: ([], []) for k in model.unimodal_heads}
    t0 = time.perf_counter()
    for j, p in enumerate(rows):
        batch = load_batch(pool, model.specs_, np.array([p]), model.device_)
        with torch.enable_grad():
            heads = net(batch).heads
            for k, head in model.unimodal_heads.items():
                w = layers[f"enc:{k}"].weight
                for h, acc in zip((head, "M"), out[k]):
                    y = torch.as_tensor(labels[h][j : j + 1], device=model.device_)
                    (g,) = torch.autograd.grad(model.sample_loss(heads[h], y).sum(), w, retain_graph=True)
                    acc.append(g.flatten().cpu().numpy())
    seconds = time.perf_counter() - t0
    return {k: (np.array(a), np.array(b)) for k, (a, b) in out.items()}, seconds


def naive_criteria(G_all: dict[str, np.ndarray], rows_in_U: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Eq. 5 for the given rows from the explicit ``[N, c*d]`` matrices; (sums, seconds for these rows,
    seconds for Eqs. 4 and 6 over all N, on the explicit combined gradients)."""
    t0 = time.perf_counter()
    sums = np.zeros(len(rows_in_U))
    for G in G_all.values():
        for j, p in enumerate(rows_in_U):
            sums[j] += np.linalg.norm(G - G[p], axis=1).sum()
    t1 = time.perf_counter()
    for G in G_all.values():
        np.linalg.norm(G, axis=1)  # Eq. 4 on explicit vectors (Eq. 6 costs the same again)
        np.linalg.norm(G, axis=1)
    return sums, t1 - t0, time.perf_counter() - t1


def run_family(name: str, n_train: int, n_init: int, budget: int, naive_rows: int, sample_m: int, seed: int) -> dict:
    make = FAMILIES[name][0]
    t = time.perf_counter()
    ds = make(n_train, seed=seed)
    pool = ds.train
    rng = np.random.default_rng(seed)
    init = pool.ids[rng.choice(pool.n, n_init, replace=False)]
    pool.label(init, ds.oracle(init))
    model = mmal.task_models.get("mtl", epochs=2).fit(pool, seed=seed)
    U = pool.unlabeled_positions()
    print(f"[{name}] data + model: {time.perf_counter() - t:.1f}s, unlabeled pool {len(U)}", flush=True)

    Grace().scores(model, pool, U[:64], rng=rng)  # warm-up (one-time torch initialisation)
    fast = Grace().scores(model, pool, U, rng=np.random.default_rng(seed))
    exact_r = fast["raw"]["representativeness"]
    fast64 = Grace(dtype="float64").scores(model, pool, U, rng=np.random.default_rng(seed))
    print(f"[{name}] fast: gradients {fast['seconds']['gradients']:.2f}s, criteria {fast['seconds']['criteria']:.2f}s "
          f"(float64 tiles: {fast64['seconds']['criteria']:.2f}s)", flush=True)

    sampled = Grace(sample=sample_m).scores(model, pool, U, rng=np.random.default_rng(seed))
    s_err = float(np.mean(np.abs(sampled["raw"]["representativeness"] / exact_r - 1)))
    k = min(budget, len(U))
    top = lambda s: set(np.argsort(-s, kind="stable")[:k].tolist())
    overlap = len(top(sampled["score"]) & top(fast["score"])) / k

    sub = np.sort(rng.choice(len(U), min(naive_rows, len(U)), replace=False))
    G_naive, t_grad_rows = naive_gradients(model, pool, U[sub])
    fast_sub = modality_gradients(model, pool, U[sub], own_pseudo_labels(model, pool, U[sub]))
    grad_err = max(_rel_err(RankOne(fast_sub[m].unimodal, fast_sub[m].h).explicit(), gk)
                   + _rel_err(RankOne(fast_sub[m].fused, fast_sub[m].h).explicit(), gm) for m, (gk, gm) in G_naive.items())
    grads = modality_gradients(model, pool, U, own_pseudo_labels(model, pool, U))
    G_all = {m: g.combined().explicit().astype(np.float32) for m, g in grads.items()}  # building it is not timed
    sums, t_rep_rows, t_ie = naive_criteria(G_all, sub)
    rep_err = float(np.max(np.abs(exact_r[sub] / sums - 1)))
    del G_all

    scale = len(U) / len(sub)
    naive = {"gradients": t_grad_rows * scale, "criteria": t_rep_rows * scale + t_ie}
    row = {
        "family": name, "n_train": n_train, "n_unlabeled": int(len(U)), "naive_rows_timed": int(len(sub)),
        "gradient_dim_per_modality": {m: int(g.unimodal.shape[1] * g.h.shape[1]) for m, g in grads.items()},
        "fast_seconds": fast["seconds"], "fast_criteria_seconds_float64": fast64["seconds"]["criteria"],
        "naive_seconds_extrapolated": naive,
        "naive_seconds_measured": {"gradients_rows": t_grad_rows, "representativeness_rows": t_rep_rows, "eq4_eq6_all": t_ie},
        "speedup": {"gradients": naive["gradients"] / fast["seconds"]["gradients"],
                    "criteria": naive["criteria"] / fast["seconds"]["criteria"],
                    "total": sum(naive.values()) / sum(fast["seconds"].values())},
        "check": {"max_rel_err_gradients_vs_autograd": grad_err, "max_rel_err_eq5_vs_explicit": rep_err},
        "sampled_eq5": {"m": sample_m, "seconds_criteria": sampled["seconds"]["criteria"],
                        "mean_rel_err": s_err, f"top{k}_overlap_with_exact": overlap},
    }
    print(f"[{name}] naive (timed on {len(sub)} rows, extrapolated x{scale:.1f}): gradients {naive['gradients']:.1f}s, "
          f"criteria {naive['criteria']:.1f}s; checks: grad err {grad_err:.1e}, Eq.5 err {rep_err:.1e}", flush=True)
    return row


def _rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--families", default="simsv2,cherma")
    ap.add_argument("--quick", action="store_true", help="small pools (600 / 2000) for a smoke run")
    ap.add_argument("--naive-rows", type=int, default=200, help="unlabeled samples the naive path is timed on")
    ap.add_argument("--sample-m", type=int, default=1024, help="reference samples of the sampled Eq. 5 estimator")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads (1 default: stable timings on a shared machine; both paths use the same)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "grace.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    for name in args.families.split(","):
        make, n_train, n_init, budget = FAMILIES[name]
        if args.quick:
            n_train, n_init, budget = {"simsv2": (600, 100, 50), "cherma": (2000, 300, 100)}[name]
        rows.append(run_family(name, n_train, n_init, budget, args.naive_rows, args.sample_m, args.seed))
    print()
    print(f"{'pool':>8} {'N':>6} | {'fast grad':>9} {'fast crit':>9} | {'naive grad':>10} {'naive crit':>10} | "
          f"{'x grad':>7} {'x crit':>7} {'x total':>7} | {'sampled m':>9} {'err':>6} {'top-k':>6}")
    for r in rows:
        f, n, s, q = r["fast_seconds"], r["naive_seconds_extrapolated"], r["speedup"], r["sampled_eq5"]
        ov = next(v for k, v in q.items() if k.endswith("_overlap_with_exact"))
        print(f"{r['family']:>8} {r['n_unlabeled']:>6} | {f['gradients']:>8.2f}s {f['criteria']:>8.2f}s | {n['gradients']:>9.1f}s "
              f"{n['criteria']:>9.1f}s | {s['gradients']:>6.0f}x {s['criteria']:>6.0f}x {s['total']:>6.0f}x | "
              f"{q['m']:>9} {q['mean_rel_err']:>6.1%} {ov:>6.0%}")
    meta = {"python": sys.version.split()[0], "torch": torch.__version__, "platform": platform.platform(),
            "cpu_threads": torch.get_num_threads(), "cuda": torch.cuda.is_available(),
            "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu", "quick": args.quick,
            "note": "naive times are measured on naive_rows_timed samples and extrapolated linearly to the pool"}
    atomic_write_text(args.out, json.dumps({"meta": meta, "results": rows}, indent=2))
    print(f"\nwrote {os.path.relpath(args.out)}")


if __name__ == "__main__":
    main()
