"""The benchmark suite in one command: micro-benchmarks + whole query cycles, ONE table, one JSON.

    python benchmarks/run.py --quick                       # small pools, every strategy (minutes)
    python benchmarks/run.py                               # SIMSv2 (2,722), CHERMA (17,230), Food101 (45,719),
                                                           # VGGSound (180,000; budgets 1,000 and 5,000)
    python benchmarks/run.py --sizes simsv2,cherma         # some scales only
    python benchmarks/run.py --sizes cherma=5000           # a family at another pool size
    python benchmarks/run.py --no-micro --strategies badge,coreset
    python benchmarks/run.py --peers [--write-results]     # mmal vs scikit-activeml, baal, modAL, ... (peers.py)

Micro-benchmarks: runs benchmarks/bench_kernels.py, bench_grads.py and bench_grace.py (``--quick``
passed on; quick runs write ``results/quick_grads.json`` / ``quick_grace.json``) as child
processes and adds the rows of this run (fast seconds and the ratio against the naive
formula measured in the same run) to the table.

Query cycles: for each scale, the synthetic generator's ``features`` view (one vector per
modality; small models with their default hidden sizes, trained to their converged default budget
or ``--epochs`` epochs; ``mtl``, GRACE's
model, where it serves, and BMMAL's ``mm-classifier`` at VGGSound scale: 180k clips, audio +
visual 512-d, 309 classes, budgets 1,000 and 5,000), an initial
labeled set, one model fit per model kind (timed apart as ``train``), then each strategy's
``query`` for one round's budget (timed as ``query``). Peak memory of a query is the largest
RSS seen during it (sampled every 5 ms) minus the RSS before it. ``ratio`` for a query is the
paper's RTX 3090 time (GRACE supplement G, Table 3) over ours, where the paper gives one: their
GPU and their (larger) models against our CPU and small models, a ratio of two different
set-ups, not a like-for-like speed-up.
Writes benchmarks/results/suite.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
RESULTS = HERE / "results"


def synthetic_family(name: str):
    """The generator ``mmal.data.synthetic.<name>`` as ``(n_train, seed) -> Dataset``."""

    def make(size, seed: int = 0):
        from mmal.data import synthetic

        return getattr(synthetic, name)(size, seed=seed)

    return make


def make_vggsound(size, seed: int = 0):
    """VGGSound-scale data as BMMAL uses it (Sec. 4.1): audio + visual 512-d features, 309 classes;
    the KineticsSound-style generator with VGGSound's sizes (180k train clips)."""
    from dataclasses import replace

    from mmal.data import synthetic

    ks = synthetic.KINETICS_SOUND
    spec = replace(ks, name="vggsound-synthetic", n_classes=309, latent_dim=32, sizes={"full": (180_000, 0, 15_000)},
                   modalities={m: replace(ms, dim=512, seq_len=None, min_len=None) for m, ms in ks.modalities.items()})
    return synthetic.generate(spec, size, seed, "features")


# family: (generator, train pool, initial labeled, budgets per round, preferred task model)
SCALES = {
    "simsv2": (synthetic_family("make_simsv2"), 2722, 100, (100,), "mtl"),
    "cherma": (synthetic_family("make_cherma"), 17230, 1000, (1000,), "mtl"),
    "food101": (synthetic_family("make_food101"), 45719, 1000, (1000,), "mtl"),
    "kineticssound": (synthetic_family("make_kinetics_sound"), 14739, 1000, (1000,), "mm-classifier"),  # BMMAL's KS
    "vggsound": (make_vggsound, 180_000, 1000, (1000, 5000), "mm-classifier"),  # BMMAL's model and sizes
}
QUICK = {"simsv2": 600, "cherma": 2000, "food101": 2000, "kineticssound": 2000, "vggsound": 3000}
STRATEGIES = ("random", "modal-entropy", "bald", "dbal", "coreset", "coregcn", "gcnal", "badge", "bmmal", "grace")
PAPER_3090_S = {  # GRACE supplement G, Table 3: query seconds per AL cycle on an RTX 3090
    ("simsv2", "coreset"): 5.09, ("simsv2", "gcnal"): 16.04, ("simsv2", "dbal"): 5.01, ("simsv2", "grace"): 25.73,
    ("cherma", "bald"): 211.92, ("cherma", "badge"): 256.62, ("cherma", "bmmal"): 301.96, ("cherma", "grace"): 161.24,
}


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measured(fn):
    """``(result, seconds, peak RSS increase in MB during the call)``."""
    before, peak, stop = rss_mb(), [rss_mb()], threading.Event()

    def watch():
        while not stop.is_set():
            peak[0] = max(peak[0], rss_mb())
            time.sleep(0.005)

    th = threading.Thread(target=watch, daemon=True)
    th.start()
    t = time.perf_counter()
    try:
        out = fn()
    finally:
        seconds = time.perf_counter() - t
        stop.set()
        th.join()
    return out, seconds, max(peak[0], rss_mb()) - before


def model_for(strategy, task: str, preferred: str) -> str:
    """``preferred`` when it offers what the strategy needs, else the first registered model that does."""
    import mmal
    from mmal.testing import _meta_set

    for name in [preferred, *mmal.task_models.names()]:
        entry = mmal.task_models.entry(name)
        tasks = _meta_set(entry, "tasks")
        if set(strategy.requires) <= _meta_set(entry, "capabilities") and (not tasks or task in tasks):
            return name
    raise LookupError(f"no task model offers {sorted(strategy.requires)}")


def query_cycles(family: str, n_train: int, strategies: list[str], epochs: int, seed: int, on_row=None) -> list[dict]:
    """One row per model fit and per (strategy, budget) query; ``on_row(rows)`` after each (default: print it)."""
    import mmal

    make, _, n_init, budgets, preferred = SCALES[family]
    ds = make(n_train, seed=seed)
    pool = ds.train
    rng = np.random.default_rng(seed)
    n_init = min(n_init, pool.n // 10)
    init = pool.ids[rng.choice(pool.n, n_init, replace=False)]
    pool.label(init, ds.oracle(init))
    rows, models, warmed = [], {}, set()
    on_row = on_row or (lambda rows: print_row(rows[-1]))
    for name, budget in [(n, min(b, (pool.n - n_init) // 2)) for n in strategies for b in budgets]:
        size = f"pool {pool.n} (unlabeled {pool.n - n_init}), budget {budget}"
        try:
            strat = mmal.strategies.get(name)
            if pool.task.kind not in strat.tasks:
                print(f"[{family}] {name}: not for {pool.task.kind} tasks, skipped", flush=True)
                continue
            mname = model_for(strat, pool.task.kind, preferred) if strat.needs_model else None
            if mname and mname not in models:
                budget_kw = {} if epochs is None else dict(epochs=epochs)  # None: the model's converged default
                model, t_fit, m_fit = measured(lambda: mmal.task_models.get(mname, **budget_kw).fit(pool, seed=seed))
                models[mname] = model
                rows.append(dict(kind="train", name=f"train {mname} ({f'{epochs} epochs' if epochs else 'converged budget'})", family=family, size=size,
                                 seconds=t_fit, peak_mb=m_fit, ratio=None, backend="cpu"))
                on_row(rows)
            model = models.get(mname)
            if name not in warmed:  # warm-up (imports, JIT), once per strategy
                strat.query(model, pool, min(budget, 8), rng=np.random.default_rng(seed), round=1)
                warmed.add(name)
            sel, t_q, m_q = measured(lambda: strat.query(model, pool, budget, rng=np.random.default_rng(seed), round=1))
            paper = PAPER_3090_S.get((family, name)) if n_train == SCALES[family][1] else None  # only at the paper's size
            rows.append(dict(kind="query", name=f"query {name} [{mname or '-'}]", family=family, size=size, seconds=t_q,
                             peak_mb=m_q, ratio=(paper / t_q) if paper else None, paper_3090_s=paper,
                             picked=int(len(sel.positions)), backend=backend_of(strat)))
        except Exception as exc:  # noqa: BLE001 - one failing strategy must not hide the others' numbers
            rows.append(dict(kind="query", name=f"query {name}", family=family, size=size, seconds=None, peak_mb=None,
                             ratio=None, backend="-", error=f"{type(exc).__name__}: {exc}"))
        on_row(rows)
    return rows


def backend_of(strat) -> str:
    from mmal.kernels import resolve

    b = getattr(strat, "backend", None)
    return resolve(b) if isinstance(b, str) else resolve("auto")


def micro(quick: bool) -> list[dict]:
    """Runs the three micro-benchmark scripts and turns their JSON into table rows."""
    rows = []
    tag = "quick_" if quick else ""  # quick runs do not overwrite the full-size grads.json / grace.json
    grads_json, grace_json = RESULTS / f"{tag}grads.json", RESULTS / f"{tag}grace.json"
    runs = [("bench_kernels.py", ["--quick"] if quick else []),
            ("bench_grads.py", (["--repeat", "1"] if quick else []) + ["--out", str(grads_json)]),
            ("bench_grace.py", (["--quick"] if quick else []) + ["--out", str(grace_json)])]
    kpath = RESULTS / "kernels.json"  # bench_kernels.py merges into it: keep only the cases this run wrote
    old = {json.dumps(c, sort_keys=True) for c in json.loads(kpath.read_text()).get("cases", [])} if kpath.exists() else set()
    for script, extra in runs:
        t = time.perf_counter()
        out = subprocess.run([sys.executable, str(HERE / script), *extra], capture_output=True, text=True)
        print(f"[micro] {script} {' '.join(extra)}: rc={out.returncode}, {time.perf_counter() - t:.0f}s", flush=True)
        if out.returncode:
            rows.append(dict(kind="micro", name=script, family="-", size="-", seconds=None, peak_mb=None, ratio=None,
                             backend="-", error=out.stderr.strip().splitlines()[-1:] or ["?"]))
    k = json.loads(kpath.read_text())
    for c in [c for c in k.get("cases", []) if json.dumps(c, sort_keys=True) not in old]:
        rows.append(dict(kind="micro", name=c["case"], family="-", size=c["sizes"], seconds=c["fast_s"],
                         peak_mb=(c.get("detail") or {}).get("peak_rss_mb"), ratio=c.get("ratio"), backend=k["machine"]["backends"][0]))
    g = json.loads(grads_json.read_text())
    for r in g.get("results", []):
        rows.append(dict(kind="micro", name=f"gradients factored vs per-sample loop ({r['case']})", family="-",
                         size=f"batch {r['batch']}", seconds=r["factored_s"], peak_mb=None,
                         ratio=r["ratio_loop_over_factored"], backend="torch"))
    gr = json.loads(grace_json.read_text())
    for r in gr.get("results", []):
        rows.append(dict(kind="micro", name="GRACE scores fast vs naive (grads + Eq. 4-7)", family=r["family"],
                         size=f"unlabeled {r['n_unlabeled']}", seconds=sum(r["fast_seconds"].values()), peak_mb=None,
                         ratio=r["speedup"]["total"], backend="torch"))
    for r in rows:
        print_row(r)
    return rows


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def print_row(r: dict) -> None:
    err = f"  ERROR {r['error']}" if r.get("error") else ""
    print(f"{r['name'][:52]:<52} {r['family']:<8} {str(r['size'])[:46]:<46} {r['backend']:<6} {fmt(r['seconds'], '9.3f'):>9} "
          f"{fmt(r['peak_mb'], '8.0f'):>8} {fmt(r['ratio'], '8.1f'):>8}{err}", flush=True)


def header() -> None:
    print(f"{'strategy / kernel':<52} {'family':<8} {'size':<46} {'backend':<6} {'seconds':>9} {'peak MB':>8} {'ratio':>8}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help=f"small pools {QUICK} and quick micro-benchmarks")
    ap.add_argument("--sizes", default=",".join(SCALES), help="families to run, optionally family=pool_size")
    ap.add_argument("--strategies", default=",".join(STRATEGIES))
    ap.add_argument("--epochs", type=int, default=None,
                    help="training epochs of each model (timed apart); default: the models' converged budget "
                         "(epochs=None: at least min_steps optimizer steps and min_epochs)")
    ap.add_argument("--no-micro", action="store_true", help="skip the micro-benchmarks")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(RESULTS / "suite.json"))
    ap.add_argument("--peers", action="store_true", help="run the peer comparison (benchmarks/peers.py) instead")
    sys.path.insert(0, str(HERE))
    import peers

    peers.add_args(ap)
    args = ap.parse_args()
    if args.peers:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        peers.run_suite(args)
        return
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    import mmal
    from mmal.kernels import available_backends

    meta = dict(platform=platform.platform(), cpus=os.cpu_count(), python=platform.python_version(), torch=torch.__version__,
                mmal=getattr(mmal, "__version__", "?"), backends=available_backends(),
                cuda=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                loadavg_start=os.getloadavg(), quick=args.quick, argv=sys.argv[1:])
    print(f"mmal suite: {meta['platform']}, {meta['cpus']} CPUs, torch {meta['torch']}, backends {meta['backends']}, "
          f"GPU {meta['cuda']}, load {meta['loadavg_start'][0]:.1f}", flush=True)
    out = Path(args.out)

    def save(rows):  # after every row: an interrupted run keeps what it measured
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(dict(meta=dict(meta, loadavg_now=os.getloadavg()), rows=rows), indent=1, default=str))
        os.replace(tmp, out)

    rows = []
    if not args.no_micro:
        rows += micro(args.quick)
        save(rows)
    header()
    for spec in [s for s in args.sizes.split(",") if s]:
        fam, _, n = spec.partition("=")
        if fam not in SCALES:
            raise SystemExit(f"--sizes: unknown family {fam!r}; use one of {sorted(SCALES)} (optionally family=N)")
        n_train = int(n) if n else (QUICK[fam] if args.quick else SCALES[fam][1])
        done = list(rows)
        rows += query_cycles(fam, n_train, [s for s in args.strategies.split(",") if s], args.epochs, args.seed,
                             on_row=lambda fam_rows: (print_row(fam_rows[-1]), save(done + fam_rows)))
    meta["loadavg_end"] = os.getloadavg()
    print("\n=== summary ===")
    header()
    for r in rows:
        print_row(r)
    save(rows)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
