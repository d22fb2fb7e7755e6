"""Scaling curves: time and peak memory vs pool size N for the selection kernels.

    python benchmarks/scaling.py                      # N = 1k, 3k, 10k, 30k, 100k, 180k
    python benchmarks/scaling.py --quick              # N = 1k, 2k, 4k, 8k (seconds)
    python benchmarks/scaling.py --sizes 1000,20000   # any sizes

Kernels (each case runs in its own child process, so its peak RSS is its own):

- ``kmeans++ (BADGE)``: rank-1 gradients ``delta [N, 309] x h [N, 1024]`` (VGGSound's
  classifier over two 512-d modalities), ``--k`` picks;
- ``k-center (CoreSet)``: explicit features ``[N, 2048]`` (Food101's D), min(10%, 1000) labeled, ``--k`` picks;
- ``GRACE distance sums (Eq. 5)``: exact blocked sums on rank-1 gradients ``[N, 6] x [N, 64]``
  (``O(N^2)`` time: run up to ``--max-n-distsum``), and the sampled estimator (``m=1024``) at every N.

Growth order = the slope of a least-squares line through ``log t`` vs ``log N`` (and the same
for the peak RSS above the empty-process baseline). Writes benchmarks/results/scaling.json and,
when matplotlib is installed, benchmarks/results/scaling.png.
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

RESULTS = Path(__file__).parent / "results"
KERNELS = ("kmeans++ (BADGE)", "k-center (CoreSet)", "GRACE distance sums (exact)", "GRACE distance sums (sampled m=1024)")


def _rank_one(n: int, c: int, d: int, rng):
    from mmal.grads import RankOne

    p = rng.standard_normal((n, c), dtype=np.float32) * 2
    p -= p.max(1, keepdims=True)
    np.exp(p, out=p)
    p /= p.sum(1, keepdims=True)
    p[np.arange(n), p.argmax(1)] -= 1.0
    h = np.maximum(rng.standard_normal((n, d), dtype=np.float32), 0)
    return RankOne(p, h)


def run_case(kernel: str, n: int, k: int) -> dict:
    """One case in this process: ``{seconds, peak_rss_mb, rss_before_mb}`` (inputs built before timing)."""
    from mmal.kernels import distance_sums, kcenter_greedy, kmeanspp, sampled_distance_sums

    rng = np.random.default_rng(0)
    if kernel.startswith("kmeans++"):
        emb = _rank_one(n, 309, 1024, rng)
        kmeanspp(_rank_one(300, 309, 1024, rng), 5, np.random.default_rng(0))  # warm-up
        fn = lambda: kmeanspp(emb, min(k, n), np.random.default_rng(1))
    elif kernel.startswith("k-center"):
        x = rng.standard_normal((n, 2048), dtype=np.float32)
        lab = rng.choice(n, min(n // 10, 1000), replace=False)
        kcenter_greedy(x[:300], 5)
        fn = lambda: kcenter_greedy(x, min(k, n - len(lab)), labeled=lab)
    elif kernel == KERNELS[2]:
        emb = _rank_one(n, 6, 64, rng)
        distance_sums(_rank_one(300, 6, 64, rng))
        fn = lambda: distance_sums(emb)
    else:
        emb = _rank_one(n, 6, 64, rng)
        sampled_distance_sums(_rank_one(3000, 6, 64, rng), 1024, np.random.default_rng(0))
        fn = lambda: sampled_distance_sums(emb, min(1024, n), np.random.default_rng(1))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    fn()
    seconds = time.perf_counter() - t
    return dict(seconds=seconds, peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, rss_before_mb=before)


def loglog_slope(ns, ys) -> float | None:
    ns, ys = np.asarray(ns, float), np.asarray(ys, float)
    ok = ys > 0
    if ok.sum() < 2:
        return None
    return float(np.polyfit(np.log(ns[ok]), np.log(ys[ok]), 1)[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="N = 1k..8k")
    ap.add_argument("--sizes", default=None, help="comma-separated pool sizes")
    ap.add_argument("--k", type=int, default=100, help="picks for kmeans++ / k-center (time per pick is what scales)")
    ap.add_argument("--max-n-distsum", type=int, default=30_000, help="largest N for the exact O(N^2) distance sums")
    ap.add_argument("--kernels", default=",".join(KERNELS))
    ap.add_argument("--case", nargs=3, help=argparse.SUPPRESS)  # child: kernel n k
    args = ap.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case[0], int(args.case[1]), int(args.case[2]))))
        return

    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else ([1000, 2000, 4000, 8000] if args.quick else
                                                                        [1000, 3000, 10_000, 30_000, 100_000, 180_000])
    kernels = [k for k in args.kernels.split(",") if k]
    base = float(json.loads(subprocess.run([sys.executable, "-c", "import json,resource,torch,mmal.kernels;"
                                            "print(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024))"],
                                           capture_output=True, text=True, check=True).stdout))
    rows = []
    print(f"{'kernel':<38} {'N':>8} {'seconds':>9} {'peak MB':>9}   (load {os.getloadavg()[0]:.1f}, empty-process RSS {base:.0f} MB)")
    for kern in kernels:
        for n in sizes:
            if kern == KERNELS[2] and n > args.max_n_distsum:
                continue
            out = subprocess.run([sys.executable, __file__, "--case", kern, str(n), str(args.k)], capture_output=True, text=True)
            if out.returncode:
                print(f"{kern:<38} {n:>8} FAILED: {out.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1]) | dict(kernel=kern, n=n, k=args.k, loadavg=os.getloadavg()[0])
            rows.append(r)
            print(f"{kern:<38} {n:>8} {r['seconds']:>9.3f} {r['peak_rss_mb']:>9.0f}", flush=True)
    fits = {}
    for kern in kernels:
        rs = [r for r in rows if r["kernel"] == kern]
        fits[kern] = dict(time_order=loglog_slope([r["n"] for r in rs], [r["seconds"] for r in rs]),
                          memory_order=loglog_slope([r["n"] for r in rs], [r["peak_rss_mb"] - base for r in rs]))
        print(f"growth {kern:<38} time ~ N^{fits[kern]['time_order'] or float('nan'):.2f}   "
              f"memory above baseline ~ N^{fits[kern]['memory_order'] or float('nan'):.2f}")
    import torch

    meta = dict(platform=platform.platform(), cpus=os.cpu_count(), python=platform.python_version(), torch=torch.__version__,
                loadavg_end=os.getloadavg(), baseline_rss_mb=base, sizes=sizes, k=args.k)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scaling.json").write_text(json.dumps(dict(meta=meta, rows=rows, fits=fits), indent=1))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no scaling.png (pip install matplotlib); the JSON holds the curves")
        return
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for kern in kernels:
        rs = [r for r in rows if r["kernel"] == kern]
        if rs:
            a1.loglog([r["n"] for r in rs], [r["seconds"] for r in rs], "o-", label=f"{kern} (N^{fits[kern]['time_order'] or 0:.2f})")
            a2.loglog([r["n"] for r in rs], [max(r["peak_rss_mb"] - base, 1e-3) for r in rs], "o-", label=kern)
    a1.set(xlabel="N (pool size)", ylabel="seconds", title=f"time (k={args.k} picks)")
    a2.set(xlabel="N (pool size)", ylabel="peak RSS above empty process, MB", title="memory")
    a1.legend(fontsize=7)
    a2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(RESULTS / "scaling.png", dpi=110)
    print(f"wrote {RESULTS / 'scaling.png'} and scaling.json")


if __name__ == "__main__":
    main()
