"""The GPU proof in one short run (issue #20): every GPU path against the CPU result, then two timings.

    python benchmarks/gpu_check.py                 # on a CUDA machine, ~5 minutes; writes results/gpu_check.json
    python benchmarks/gpu_check.py --dry           # CPU only, tiny sizes: the CPU half and the comparisons
                                                   # (what tests/test_gpu_check.py runs; no GPU needed)

Checks (each on the same inputs on the CPU and on the GPU; the CPU results are computed in a
child process with ``CUDA_VISIBLE_DEVICES=""`` so that ``backend="auto"`` cannot reach the GPU):

- ``knn``: FAISS GPU index (``backend="faiss-gpu"``; the torch CUDA search when faiss-gpu is
  absent, said in the JSON) vs the CPU search: neighbour sets agree on >= 99.9% of the rows;
- ``kmeanspp`` (``defer=False`` and ``defer=True``), ``kcenter``: torch CUDA running-minimum
  loops vs the CPU: k-center picks identical (both exact to float64), k-means++ picks identical
  for the per-pick form (one uniform per pick against the same ``D^2``) and, for the deferred
  form, the same first pick and a seeding potential within 5%;
- ``distsum`` (GRACE Eq. 5 tiles): relative difference <= 1e-5;
- ``gradients``: an ``mm-classifier`` fitted on the CPU, moved to CUDA: ``grad_embed``
  factors equal to 1e-4 relative.

Timings (GPU, the suite's ``query_cycles``): the VGGSound-scale BADGE and BMMAL queries
(180,000 clips, 309 classes, budgets 1,000 and 5,000) and the CHERMA-scale GRACE cycle
(train + query, pool 17,230), each with ``--epochs`` training epochs (timed apart).
With ``--dry`` the "GPU" half runs on the CPU at tiny sizes, so the JSON has the same shape.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
SIZES = {"full": dict(knn=(100_000, 128, 10), kpp=(50_000, 309, 1024, 300), kcenter=(45_719, 512, 1000, 500),
                      distsum=(8_000, [(7, 64), (7, 64), (7, 64)]), grad_pool=3000),
         "dry": dict(knn=(2_000, 16, 5), kpp=(1_000, 7, 32, 30), kcenter=(1_500, 16, 50, 30),
                     distsum=(300, [(3, 8), (2, 4)]), grad_pool=300)}


def inputs(size: str, seed: int = 0) -> dict:
    sys.path.insert(0, str(HERE))
    import peers

    z = SIZES[size]
    rng = np.random.default_rng(seed)
    n, d, _ = z["knn"]
    P, H = peers.badge_inputs(*z["kpp"][:3], seed)
    X, lab = peers.kcenter_inputs(*z["kcenter"][:3], seed)
    return dict(knn_x=rng.normal(size=(n, d)).astype(np.float32), delta=peers.badge_delta(P), h=H, kc_x=X, kc_lab=lab,
                blocks=peers.grad_blocks(z["distsum"][0], z["distsum"][1], seed))


def compute(size: str, backend: str) -> dict:
    """Every checked kernel's result on ``backend`` (``"auto"``: the GPU where there is one)."""
    import torch

    from mmal.grads import RankOne
    from mmal.kernels import kcenter_greedy, kmeanspp, knn
    from mmal.kernels.distsum import distance_sums

    z, x, out = SIZES[size], inputs(size), {}
    t = {}
    knn_backend = backend
    if backend == "gpu":
        knn_backend = "faiss-gpu" if "faiss-gpu" in available_backends() else "torch"
    cpu = backend == "cpu"
    from mmal.kernels import available_backends

    kb = "torch" if not cpu else ("faiss" if "faiss" in available_backends() else "torch")  # torch: CUDA when visible

    def timed(name, fn):
        s = time.perf_counter()
        r = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t[name] = time.perf_counter() - s
        return r

    out["knn_idx"] = timed("knn", lambda: knn(x["knn_x"], z["knn"][2], backend=knn_backend if not cpu else kb)[1])
    emb = RankOne(x["delta"], x["h"])
    k = z["kpp"][3]
    out["kpp_exact"] = timed("kmeanspp_per_pick", lambda: kmeanspp(emb, k, np.random.default_rng(1), backend=kb, defer=False))
    out["kpp_defer"] = timed("kmeanspp_deferred", lambda: kmeanspp(emb, k, np.random.default_rng(1), backend=kb, defer=True))
    out["kcenter"] = timed("kcenter", lambda: kcenter_greedy(x["kc_x"], z["kcenter"][3], labeled=x["kc_lab"], backend=kb))
    out["distsum"] = timed("distsum", lambda: distance_sums(x["blocks"], device="cpu" if cpu else None))
    out["grads"] = timed("gradients", lambda: gradients(size, "cpu" if cpu else "cuda"))
    out["_times"] = t
    out["_knn_backend"] = knn_backend if not cpu else kb
    return out


def gradients(size: str, device: str) -> np.ndarray:
    """``grad_embed`` of an ``mm-classifier`` fitted on the CPU (seed 0), evaluated on ``device``."""
    import torch

    import mmal
    from mmal.data import synthetic

    ds = synthetic.make_kinetics_sound(SIZES[size]["grad_pool"], seed=0)
    pool = ds.train
    lab = pool.ids[: len(pool.ids) // 5]
    pool.label(lab, ds.oracle(lab))
    m = mmal.task_models.get("mm-classifier", epochs=1, device="cpu").fit(pool, seed=0)
    if device != "cpu":
        m.net_.to(device)
        m.device_ = torch.device(device)
    g = m.grad_embed(pool)
    return np.concatenate([np.asarray(g.delta, dtype=np.float64).ravel(), np.asarray(g.h, dtype=np.float64).ravel()])


def potential(x: dict, picks: np.ndarray) -> float:
    from mmal.grads import RankOne, sq_dists

    e = RankOne(x["delta"].astype(np.float64), x["h"].astype(np.float64))
    d = np.full(len(x["delta"]), np.inf)
    for s in range(0, len(picks), 64):
        d = np.minimum(d, sq_dists(e, e.take(picks[s : s + 64])).min(1))
    return float(d.sum())


def compare(size: str, ref: dict, got: dict) -> dict:
    x = inputs(size)
    a, b = ref["knn_idx"], got["knn_idx"]
    same_sets = float(np.mean([set(r) == set(s) for r, s in zip(a.tolist(), b.tolist())]))
    pr, pg = potential(x, ref["kpp_defer"]), potential(x, got["kpp_defer"])
    rel = np.abs(got["distsum"] - ref["distsum"]).max() / np.abs(ref["distsum"]).max()
    gr = np.abs(got["grads"] - ref["grads"]).max() / max(np.abs(ref["grads"]).max(), 1e-30)
    checks = {
        "knn": dict(ok=same_sets >= 0.999, rows_with_same_neighbours=same_sets, backend=got["_knn_backend"]),
        "kmeanspp_per_pick": dict(ok=bool(np.array_equal(ref["kpp_exact"], got["kpp_exact"])),
                                  same_prefix=int(np.argmax(np.r_[ref["kpp_exact"] != got["kpp_exact"], True]))),
        "kmeanspp_deferred": dict(ok=bool(ref["kpp_defer"][0] == got["kpp_defer"][0] and abs(pg / pr - 1) <= 0.05),
                                  potential_ratio=pg / pr),
        "kcenter": dict(ok=bool(np.array_equal(ref["kcenter"], got["kcenter"])),
                        same_prefix=int(np.argmax(np.r_[ref["kcenter"] != got["kcenter"], True]))),
        "distsum": dict(ok=bool(rel <= 1e-5), max_rel_diff=float(rel)),
        "gradients": dict(ok=bool(gr <= 1e-4), max_rel_diff=float(gr)),
    }
    return checks


def timings(epochs: int, dry: bool) -> list[dict]:
    sys.path.insert(0, str(HERE))
    import run

    quiet = lambda rows: None  # noqa: E731
    vgg = 600 if dry else run.SCALES["vggsound"][1]
    cherma = 600 if dry else run.SCALES["cherma"][1]
    rows = run.query_cycles("vggsound", vgg, ["badge", "bmmal"], epochs, 0, on_row=quiet)
    rows += run.query_cycles("cherma", cherma, ["grace"], epochs, 0, on_row=quiet)
    return rows


def child(size: str, path: str) -> None:
    """The CPU half, in this (CUDA-hidden) process: results to ``path`` (npz)."""
    res = compute(size, "cpu")
    np.savez(path, **{k: v for k, v in res.items() if not k.startswith("_")},
             _meta=json.dumps(dict(times=res["_times"], knn_backend=res["_knn_backend"])))


def load(path: str) -> dict:
    z = np.load(path, allow_pickle=False)
    out = {k: z[k] for k in z.files if k != "_meta"}
    meta = json.loads(str(z["_meta"]))
    out["_times"], out["_knn_backend"] = meta["times"], meta["knn_backend"]
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dry", action="store_true", help="CPU only, tiny sizes (no GPU needed)")
    ap.add_argument("--epochs", type=int, default=2, help="training epochs of the timed cycles (timed apart)")
    ap.add_argument("--no-timings", action="store_true")
    ap.add_argument("--out", default=str(HERE / "results" / "gpu_check.json"))
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    size = "dry" if args.dry else "full"
    if args.child:
        child(size, args.child)
        return {}
    import torch

    if not args.dry and not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA device here; run with --dry for the CPU half")
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        ref_path = str(Path(tmp) / "cpu.npz")
        env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
        subprocess.run([sys.executable, __file__, "--child", ref_path, *(["--dry"] if args.dry else [])], env=env, check=True)
        ref = load(ref_path)
    got = compute(size, "cpu" if args.dry else "gpu")
    checks = compare(size, ref, got)
    report = dict(device=torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu (dry run)",
                  torch=torch.__version__, dry=args.dry, sizes={k: str(v) for k, v in SIZES[size].items()},
                  checks=checks, all_ok=all(c["ok"] for c in checks.values()),
                  kernel_seconds=dict(cpu=ref["_times"], gpu=got["_times"]))
    if not args.no_timings:
        report["query_cycles"] = timings(args.epochs, args.dry)
    report["wall_s"] = time.time() - t0
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, default=str))
    for name, c in checks.items():
        print(f"{name:<20} {'ok' if c['ok'] else 'FAILED'}  {c}")
    for r in report.get("query_cycles", []):
        print(f"{r['name']:<40} {r['family']:<9} {r['size']:<45} {r['seconds'] if r['seconds'] is None else round(r['seconds'], 3)} s")
    print(f"wrote {out} ({report['wall_s']:.0f} s); all checks {'ok' if report['all_ok'] else 'NOT ok'}")
    return report


if __name__ == "__main__":
    main()
