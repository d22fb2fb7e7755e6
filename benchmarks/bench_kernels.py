"""Selection-kernel benchmark: fast paths vs naive formulas, FAISS vs torch, one run, stated sizes.

    python benchmarks/bench_kernels.py              # ratios at moderate sizes (~1-3 min on 2 cores)
    python benchmarks/bench_kernels.py --vggsound   # + BADGE at VGGSound scale (N=180k, C=309, d=2x512, k=1000, 5000)
    python benchmarks/bench_kernels.py --quick      # tiny sizes, seconds (smoke test)
    python benchmarks/bench_kernels.py --exactness  # only: the float64-exact k-center / k-means++ vs the previous float32 ones
    python benchmarks/bench_kernels.py --gcn        # only: GCNAL's dense graph vs the 32-NN graph (n=11,000)

Prints a table and writes benchmarks/results/kernels.json (atomically, after every case).
Speed claims are the ratios in one run on one machine; the absolute seconds depend on load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from mmal.grads import RankOne
from mmal.kernels import available_backends, kcenter_greedy, kmeanspp, knn, nearest_to_centroids, weighted_kmeans

RESULTS = Path(__file__).parent / "results" / "kernels.json"
SIZES = {
    "quick": dict(kpp=(800, 16, 64, 20), kpp_defer=(2000, 50, 64, 50), kc=(800, 32, 80, 20), knn=(2000, 32, 10),
                  km=(2000, 16, 20), exact_kc=(2000, 64, 50, 50, 3), exact_kpp=(2000, 7, 64, 20, 3), gcn=(1000, 32, 20)),
    "default": dict(kpp=(4000, 32, 256, 100), kpp_defer=(20000, 309, 1024, 300), kc=(5000, 128, 500, 100),
                    knn=(20000, 128, 10), km=(20000, 64, 100),
                    # (N, D, labeled, k, repetitions): CoreSet at Food101 scale; (N, C, d, k, reps): BADGE-sized k-means++
                    exact_kc=(45_719, 512, 1000, 1000, 3), exact_kpp=(17_230, 7, 256, 50, 7),
                    # GCNAL's graph at the default subset: 10,000 unlabeled + 1,000 labeled nodes, 200 steps
                    gcn=(11_000, 128, 200)),
}


REPEAT = 1


def timed(fn, *a, **kw):
    """``(result, best wall seconds of REPEAT runs)``."""
    best = np.inf
    for _ in range(REPEAT):
        t = time.perf_counter()
        out = fn(*a, **kw)
        best = min(best, time.perf_counter() - t)
    return out, best


def warm_up():
    """First calls pay for torch / FAISS / OpenMP start-up: do them before any timing."""
    x = np.random.default_rng(0).standard_normal((300, 8), dtype=np.float32)
    for b in available_backends():
        kmeanspp(x, 5, np.random.default_rng(0), backend=b)
        kcenter_greedy(x, 5, backend=b)
        c, _ = weighted_kmeans(x, 5, np.ones(300), np.random.default_rng(0), backend=b)
        nearest_to_centroids(x, c, backend=b)
        knn(x, 3, backend=b)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def badge_embedding(n, c, d, rng):
    """BADGE's rank-1 gradient: delta = p - onehot(argmax p), h = a ReLU feature."""
    p = rng.standard_normal((n, c), dtype=np.float32)  # logits / 2, softmax-ed in place
    p *= 2
    p -= p.max(1, keepdims=True)
    np.exp(p, out=p)
    p /= p.sum(1, keepdims=True)
    p[np.arange(n), p.argmax(1)] -= 1.0
    h = rng.standard_normal((n, d), dtype=np.float32)
    np.maximum(h, 0, out=h)
    return RankOne(p, h)


# ------------------------------------------------------------------------ naive baselines
def kmeanspp_explicit_loop(x, k, rng):
    """The textbook loop on the materialized embedding: full distance recompute to all centers."""
    n = len(x)
    sq = np.einsum("nd,nd->n", x, x)
    centers = [int(np.argmax(sq))]
    u = rng.random(k - 1)
    mind = np.maximum(sq + sq[centers[0]] - 2 * x @ x[centers[0]], 0)
    for t in range(k - 1):
        cum = np.cumsum(mind.astype(np.float64))
        j = int(np.searchsorted(cum, u[t] * cum[-1], side="right"))
        centers.append(j)
        mind = np.minimum(mind, np.maximum(sq + sq[j] - 2 * x @ x[j], 0))
        mind[j] = 0
    return np.array(centers)


def kcenter_pairwise(x, k, labeled):
    """CoreSet as commonly written: the full N x N distance matrix, then greedy on its columns."""
    d = np.sqrt(np.maximum((x * x).sum(1)[:, None] + (x * x).sum(1)[None, :] - 2 * x @ x.T, 0))
    mind = d[:, labeled].min(1) if len(labeled) else np.full(len(x), np.inf)
    mind[labeled] = -np.inf
    out = []
    for _ in range(k):
        j = int(np.argmax(mind))
        out.append(j)
        mind = np.minimum(mind, d[:, j])
        mind[j] = -np.inf
    return np.array(out)


# ------------------------------------------- the previous float32 kernels (commit b3df658)
# Kept here to measure what the float64 exactness (mmal/kernels/cover.py) costs: the same GEMV
# chains with float32 norms (``norm(x)**2``), no centring, no re-check. Their GEMVs are today's
# (``Embedding.sq_dists``: numpy's BLAS on torch's thread count), so the ratio is the exactness work alone.
def previous_kcenter(x, k, labeled):
    """``kcenter_greedy(x, k, labeled=...)`` as it was: a float32 running minimum and its arg-max."""
    import torch

    from mmal.kernels.backend import blas_threads, few_threads_for_small
    from mmal.kernels.embedding import Embedding

    e = Embedding(x, torch.device("cpu"), what="x", centre=False)
    with few_threads_for_small(e.n * e.width), blas_threads(torch.get_num_threads()):
        sq = torch.linalg.vector_norm(e.x, dim=1) ** 2
        out = np.empty(k, dtype=np.int64)
        mind = e.min_sq_dist_to(labeled, sq)
        mind[torch.as_tensor(labeled)] = float("-inf")
        for t in range(k):
            j = int(mind.argmax())
            out[t] = j
            mind = torch.minimum(mind, e.sq_dists(j, sq))
            mind[j] = float("-inf")
    return out


def previous_kmeanspp(emb, k, rng):
    """``kmeanspp(emb, k, rng, defer=False)`` as it was: float32 D^2 refreshed after every pick."""
    import torch

    from mmal.kernels.backend import blas_threads, few_threads_for_small
    from mmal.kernels.embedding import Embedding

    e = Embedding(emb, torch.device("cpu"))
    with few_threads_for_small(e.n * e.width), blas_threads(torch.get_num_threads()):
        sq = sum(torch.linalg.vector_norm(d, dim=1) ** 2 * torch.linalg.vector_norm(h, dim=1) ** 2 for d, h in e.factors)
        out = [int(sq.argmax())]
        mind = torch.full((e.n,), float("inf"))
        while len(out) < k:
            mind = torch.minimum(mind, e.sq_dists(out[-1], sq))
            mind[out[-1]] = 0.0
            cum = torch.cumsum(mind.double(), 0)
            u = torch.as_tensor(rng.random(1), dtype=torch.float64) * cum[-1]
            j = torch.searchsorted(cum, u, right=True)
            j[j >= e.n] = torch.count_nonzero(cum < cum[-1])
            out.append(int(j[0]))
    return np.asarray(out)


def case_exactness_cost(kind, sizes):
    """The float64-exact kernel vs the previous float32 one on the same input, interleaved
    (alternating which runs first), ``reps`` times: the median of the per-repetition ratios."""
    if kind == "kcenter":
        n, d, n_lab, k, reps = sizes
        rng = np.random.default_rng(8)
        x = rng.standard_normal((n, d), dtype=np.float32)
        lab = rng.choice(n, n_lab, replace=False)
        new = lambda: kcenter_greedy(x, k, labeled=lab, backend="torch", return_distances=True)[0]  # noqa: E731
        old = lambda: previous_kcenter(x, k, lab)  # noqa: E731
        label, size = "k-center exact vs previous float32", f"N={n} D={d} labeled={n_lab} k={k}"
        x64 = x.astype(np.float64)
    else:
        n, c, d, k, reps = sizes
        emb = badge_embedding(n, c, d, np.random.default_rng(9))
        new = lambda: kmeanspp(emb, k, np.random.default_rng(10), backend="torch", defer=False)  # noqa: E731
        old = lambda: previous_kmeanspp(emb, k, np.random.default_rng(10))  # noqa: E731
        label, size = "kmeans++ exact vs previous float32", f"N={n} C={c} d={d} k={k}"
    load = [os.getloadavg()[0]]
    t_new, t_old, ratios = [], [], []
    for r in range(reps):
        pair = {}
        for name, fn in ((("old", old), ("new", new)) if r % 2 == 0 else (("new", new), ("old", old))):
            t = time.perf_counter()
            pair[name] = (fn(), time.perf_counter() - t)
        t_new.append(pair["new"][1]), t_old.append(pair["old"][1]), ratios.append(pair["new"][1] / pair["old"][1])
        load.append(os.getloadavg()[0])
    a, b = pair["new"][0], pair["old"][0]
    detail = dict(reps=reps, cost_median=float(np.median(ratios)), cost_min=float(np.min(ratios)),
                  cost_max=float(np.max(ratios)), same_picks=bool(np.array_equal(a, b)), load_1min=[round(v, 2) for v in load])
    if kind == "kcenter" and not detail["same_picks"]:  # who is right at the first difference (float64, same prefix)
        t0 = int(np.flatnonzero(a != b)[0])
        covered = x64[np.concatenate([lab, a[:t0]])]
        m64 = [float(((covered - x64[p]) ** 2).sum(1).min()) for p in (a[t0], b[t0])]
        detail.update(first_difference=t0, exact_d2_new_pick=m64[0], exact_d2_previous_pick=m64[1],
                      n_different=int((a != b).sum()))
    threads = __import__("torch").get_num_threads()
    return dict(case=label, sizes=f"{size} threads={threads}", fast_s=float(np.median(t_new)), naive_s=float(np.median(t_old)),
                ratio=float(np.median(t_old) / np.median(t_new)), detail=detail)


def case_gcn_graph(n, d, steps):
    """GCNAL's graph (plugins/builtin/gcnal.py): the paper's dense graph, materialized (mixed-sign
    features) or factored (features >= 0), vs the 32-NN graph the plugin used above 4,096 nodes:
    edges kept, the change of the first propagation ``A V``, and the time of graph + 200 steps."""
    import torch

    from mmal.builtin.gcnal import _knn_graph, gcn_graph, train_gcn

    rng = np.random.default_rng(11)
    lab = np.arange(n) >= n - n // 11
    w = np.abs(rng.standard_normal((50, 4))).astype(np.float32)
    train_gcn(w, gcn_graph(w), lab[-50:], seed=0, steps=1)  # the first Adam imports torch._dynamo (seconds)
    rows = []
    for kind in ("mixed", "nonneg"):
        v = rng.standard_normal((n, d))
        v = np.abs(v) if kind == "nonneg" else v + 0.3
        v = (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)
        dense, t_dense_graph = timed(gcn_graph, v)
        knn32, t_knn_graph = timed(_knn_graph, v, 32, "auto")  # what gcn_graph builds above dense_mib
        x = torch.from_numpy(v)
        av, av_knn = dense.mm(x), knn32.mm(x)
        change = float(torch.linalg.norm(av_knn - av) / torch.linalg.norm(av))
        _, t_dense = timed(train_gcn, v, dense, lab, seed=0, steps=steps)
        _, t_knn = timed(train_gcn, v, knn32, lab, seed=0, steps=steps)
        form = "factored" if kind == "nonneg" else "materialized float32"
        rows.append(dict(case=f"GCNAL dense ({form}) vs 32-NN graph", sizes=f"n={n} d={d} steps={steps} features={kind}",
                         fast_s=t_knn + t_knn_graph, naive_s=t_dense + t_dense_graph,
                         ratio=(t_dense + t_dense_graph) / (t_knn + t_knn_graph),
                         detail=dict(dense_graph_s=t_dense_graph, dense_train_s=t_dense, knn_graph_s=t_knn_graph,
                                     knn_train_s=t_knn, knn_edges=int(knn32.work), dense_edges=n * (n - 1),
                                     first_propagation_change=change, load_1min=round(os.getloadavg()[0], 2))))
    return rows


# --------------------------------------------------------------------------------- cases
def case_kmeanspp(n, c, d, k):
    emb = badge_embedding(n, c, d, np.random.default_rng(0))
    fac, t_fac = timed(kmeanspp, emb, k, np.random.default_rng(1), backend="torch", defer=False)
    x, t_build = timed(emb.explicit)
    exp, t_exp = timed(kmeanspp, x, k, np.random.default_rng(1), backend="torch", defer=False)
    loop, t_loop = timed(kmeanspp_explicit_loop, x, k, np.random.default_rng(1))
    return dict(
        case="kmeans++ factored vs explicit", sizes=f"N={n} c={c} d={d} (explicit D={c * d}) k={k}",
        fast_s=t_fac, naive_s=t_exp + t_build, ratio=(t_exp + t_build) / t_fac,
        detail=dict(explicit_kernel_s=t_exp, materialize_s=t_build, numpy_loop_s=t_loop,
                    explicit_mb=x.nbytes / 2**20, factored_mb=(emb.delta.nbytes + emb.h.nbytes) / 2**20,
                    same_picks=bool(np.array_equal(fac, exp)), same_as_numpy_loop=bool(np.array_equal(fac, loop))),
    )


def case_kcenter(n, d, n_lab, k):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((n, d), dtype=np.float32)
    lab = rng.choice(n, n_lab, replace=False)
    fast, t_fast = timed(kcenter_greedy, x, k, labeled=lab, backend="torch")
    naive, t_naive = timed(kcenter_pairwise, x, k, lab)
    return dict(case="k-center greedy vs pairwise matrix", sizes=f"N={n} D={d} labeled={n_lab} k={k}",
                fast_s=t_fast, naive_s=t_naive, ratio=t_naive / t_fast,
                detail=dict(same_picks=bool(np.array_equal(fast, naive)), pairwise_mb=n * n * 4 / 2**20))


def case_backends(kind, sizes):
    rng = np.random.default_rng(3)
    rows = []
    if "faiss" not in available_backends():
        return [dict(case=f"{kind}: faiss vs torch", sizes="-", note="faiss not installed")]
    if kind == "knn":
        n, d, k = sizes
        x = rng.standard_normal((n, d), dtype=np.float32)
        (df, i_f), tf = timed(knn, x, k, backend="faiss")
        (dt, i_t), tt = timed(knn, x, k, backend="torch")
        agree = float((i_f == i_t).mean())
        rows.append(dict(case="kNN graph faiss vs torch", sizes=f"N={n} D={d} k={k}", fast_s=tf, naive_s=tt,
                         ratio=tt / tf, detail=dict(idx_agreement=agree, max_dist_diff=float(np.abs(df - dt).max()))))
    else:
        n, d, k = sizes
        x = rng.standard_normal((n, d), dtype=np.float32)
        w = rng.random(n) + 0.1
        (cf, af), tf = timed(weighted_kmeans, x, k, w, np.random.default_rng(4), backend="faiss")
        (ct, at), tt = timed(weighted_kmeans, x, k, w, np.random.default_rng(4), backend="torch")
        rows.append(dict(case="weighted k-means faiss vs torch", sizes=f"N={n} D={d} k={k}", fast_s=tf, naive_s=tt,
                         ratio=tt / tf, detail=dict(assign_agreement=float((af == at).mean()))))
        pf, tpf = timed(nearest_to_centroids, x, cf, backend="faiss")
        pt, tpt = timed(nearest_to_centroids, x, cf, backend="torch")
        rows.append(dict(case="nearest-to-centroid faiss vs torch", sizes=f"N={n} D={d} k={k}", fast_s=tpf, naive_s=tpt,
                         ratio=tpt / tpf, detail=dict(same_picks=bool(np.array_equal(pf, pt)))))
    return rows


def seeding_cost(emb, picks) -> float:
    """k-means++'s potential ``sum_x D(x)^2`` of the picked centers (lower = better spread)."""
    import torch

    from mmal.kernels.embedding import Embedding

    e = Embedding(emb, torch.device("cpu"))
    return float(e.min_sq_dist_to(picks, e.sq_norms()).double().sum())


def case_kmeanspp_deferred(n, c, d, k, seeds=3):
    """Deferred refreshes + rejection sampling vs a refresh after every pick: time, and the same
    seeding quality (mean potential over seeds; the two draw from the same distribution)."""
    emb = badge_embedding(n, c, d, np.random.default_rng(7))
    t_def, t_dir, cost_def, cost_dir = [], [], [], []
    for seed in range(seeds):
        p, t = timed(kmeanspp, emb, k, np.random.default_rng(seed), defer=True)
        t_def.append(t), cost_def.append(seeding_cost(emb, p))
        p, t = timed(kmeanspp, emb, k, np.random.default_rng(seed), defer=False)
        t_dir.append(t), cost_dir.append(seeding_cost(emb, p))
    return dict(case="kmeans++ deferred vs per-pick refresh", sizes=f"N={n} C={c} d={d} k={k}",
                fast_s=float(np.mean(t_def)), naive_s=float(np.mean(t_dir)), ratio=float(np.mean(t_dir) / np.mean(t_def)),
                detail=dict(seeds=seeds, potential_deferred=float(np.mean(cost_def)), potential_per_pick=float(np.mean(cost_dir)),
                            potential_rel_diff=float(np.mean(cost_def) / np.mean(cost_dir) - 1.0)))


def case_vggsound(k, n=180_000, c=309, d=512, prefix=30):
    """BADGE at VGGSound scale: the fused classifier over two 512-d modalities -> delta [N, 309] x h [N, 1024].
    The per-pick-refresh baseline is timed on its first ``prefix`` picks (each costs one full pass) and
    scaled to ``k``."""
    rng = np.random.default_rng(5)
    emb, t_gen = timed(badge_embedding, n, c, 2 * d, rng)
    rss_inputs = peak_rss_mb()
    picks, t = timed(kmeanspp, emb, k, np.random.default_rng(6), defer=True)
    _, t_prefix = timed(kmeanspp, emb, prefix, np.random.default_rng(6), defer=False)
    t_direct = t_prefix * (k - 1) / (prefix - 1)
    return dict(case="BADGE k-means++ at VGGSound scale", sizes=f"N={n} C={c} d=2x{d} k={k}", fast_s=t,
                naive_s=t_direct, ratio=t_direct / t,
                detail=dict(peak_rss_mb=peak_rss_mb(), rss_after_inputs_mb=rss_inputs, generate_inputs_s=t_gen,
                            per_pick_refresh_timed_picks=prefix, factored_mb=(emb.delta.nbytes + emb.h.nbytes) / 2**20,
                            explicit_would_need_gb=n * c * 2 * d * 4 / 2**30, unique=len(set(picks.tolist())) == k,
                            backend=available_backends()[0]))


# ------------------------------------------------------------------------------- driver
def save(rows):
    old = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    cases = {(r["case"], r["sizes"]): r for r in old.get("cases", [])}
    cases.update({(r["case"], r["sizes"]): r for r in rows})
    out = dict(machine=dict(platform=platform.platform(), cpus=os.cpu_count(), python=platform.python_version(),
                            backends=available_backends(), loadavg=os.getloadavg()), cases=list(cases.values()))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(out, indent=1))
    os.replace(tmp, RESULTS)


def show(r):
    ratio = f"{r['ratio']:.1f}x" if r.get("ratio") else "-"
    naive = f"{r['naive_s']:.3f}" if r.get("naive_s") is not None else "-"
    extra = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.get("detail", {}).items())
    print(f"{r['case']:<38} {r['sizes']:<42} {r['fast_s']:>9.3f} {naive:>9} {ratio:>8}  {extra}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny sizes")
    ap.add_argument("--vggsound", action="store_true", help="also run BADGE at VGGSound scale, k=1000 and 5000 (~1.5 GB)")
    ap.add_argument("--only-vggsound", type=int, metavar="K", help=argparse.SUPPRESS)
    ap.add_argument("--repeat", type=int, default=3, help="best of R runs per timing (VGGSound: 1)")
    ap.add_argument("--exactness", action="store_true", help="only the exact-vs-previous k-center / k-means++ cost")
    ap.add_argument("--gcn", action="store_true", help="only GCNAL's dense vs kNN graph")
    ap.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--reps", type=int, help="repetitions of the --exactness cases (default: 3 k-center, 7 k-means++)")
    args = ap.parse_args()
    if args.threads:
        __import__("torch").set_num_threads(args.threads)
    warm_up()
    if args.only_vggsound:  # child process: its own peak RSS
        print(json.dumps(case_vggsound(args.only_vggsound)))
        return
    global REPEAT
    REPEAT = max(1, args.repeat)
    s = SIZES["quick" if args.quick else "default"]
    print(f"{'case':<38} {'sizes':<42} {'fast s':>9} {'naive s':>9} {'ratio':>8}  detail")
    jobs = [lambda: [case_kmeanspp(*s["kpp"])], lambda: [case_kmeanspp_deferred(*s["kpp_defer"])],
            lambda: [case_kcenter(*s["kc"])],
            lambda: case_backends("knn", s["knn"]), lambda: case_backends("kmeans", s["km"])]
    if args.reps:
        s = {**s, "exact_kc": (*s["exact_kc"][:4], args.reps), "exact_kpp": (*s["exact_kpp"][:4], args.reps)}
    exact = [lambda: [case_exactness_cost("kcenter", s["exact_kc"])], lambda: [case_exactness_cost("kmeans++", s["exact_kpp"])]]
    jobs = exact if args.exactness else (lambda: case_gcn_graph(*s["gcn"]),) if args.gcn else jobs + exact + [lambda: case_gcn_graph(*s["gcn"])]
    for job in jobs:
        rows = job()
        for r in rows:
            show(r)
        save(rows)
    for k in (1000, 5000) if args.vggsound else ():
        out = subprocess.run([sys.executable, __file__, "--only-vggsound", str(k)], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        show(r)
        save([r])
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
