"""Training-budget calibration: test metric vs labeled-set size for each task model and data family,
the default budget against a long-trained reference (and the old default, ``epochs=5``).

    python benchmarks/calibration.py            # every model x family, sizes 20..2000, 3 seeds
    python benchmarks/calibration.py --quick    # two small cases, one seed, min_steps=40 (CI smoke test)
    python benchmarks/calibration.py --cases mm-classifier:uci-mfeat --sizes 20,200 --seeds 0
    python benchmarks/calibration.py --render   # redraw the figure, print the markdown table
    python benchmarks/calibration.py --resume   # run only the rows --out lacks (an interrupted run resumes)

Torch models (``mtl``, ``mm-classifier``, ``dmmsa``, ``awf``): one training run per (case, size,
seed) of ``--ref-factor`` times the default budget, evaluated on the test split after every
checkpoint epoch. A run of ``E`` epochs is exactly the first ``E`` epochs of a longer run with
the same seed (the same initialization, batch order, dropout masks and optimizer state;
evaluation draws no random numbers), so one run gives the default model (``epochs=None``: the
step budget of ``mmal.nn.training.auto_epochs``), the old default (5 epochs) and the
reference. ``--verify`` refits the default separately and checks that it equals the checkpoint.

``linear``: the default (logistic regression ``C=0.01``; ridge with its leave-one-out choice of
``alpha``) against the old values (``C=1`` / ``alpha=1``) and, as its reference, the best value
of a grid at that size on the test set (an oracle choice: an upper bound no real run can pick).

The labeled set of (size, seed) is a uniform random sample of the train split
(``numpy.random.default_rng([seed, size])``), as the initial pool of an AL run. Writes
``benchmarks/results/calibration.json`` (every curve: metric after each checkpoint's steps) and the
figure ``docs/img/calibration.png`` (``--figure``; docs/task-models.md shows it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"
FIGURE = Path(__file__).resolve().parents[1] / "docs" / "img" / "calibration.png"
SIZES = (20, 50, 100, 200, 500, 1000, 2000)
# model:family; each family at a train size that holds the largest labeled set
CASES = (
    "mm-classifier:uci-mfeat", "mm-classifier:food101-synthetic", "mm-classifier:kineticssound-synthetic",
    "mtl:simsv2-synthetic", "mtl:cherma-synthetic", "mtl:uci-mfeat",
    "dmmsa:simsv2-synthetic", "dmmsa:cherma-synthetic", "awf:simsv2-synthetic", "awf:cherma-synthetic",
    "linear:uci-mfeat", "linear:simsv2-synthetic", "linear:cherma-synthetic", "linear:food101-synthetic",
    "linear:kineticssound-synthetic",
)
QUICK_CASES = ("mm-classifier:uci-mfeat", "linear:cherma-synthetic")
QUICK_ARGS = {"min_steps": 40}  # --quick smoke-tests the machinery, not the defaults
OLD_EPOCHS = 5
LINEAR_GRID = {"C": (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0), "alpha": (1.0, 10.0, 100.0, 1000.0, 10000.0)}


def load(family: str, n_max: int, quick: bool):
    import mmal

    if family == "uci-mfeat":
        return mmal.datasets.get(family)
    return mmal.datasets.get(family, size=120 if quick else max(n_max, 300), seed=0)


def labeled_pool(ds, n: int, seed: int):
    pool = ds.train.take(np.arange(ds.train.n))
    ids = pool.ids[np.random.default_rng([seed, n]).choice(pool.n, size=min(n, pool.n), replace=False)]
    pool.label(ids, ds.oracle(ids))
    return pool


def score(ds, model) -> tuple[str, float]:
    from mmal.metrics import evaluate

    metric = "acc" if ds.test.task.is_classification else "mae"
    return metric, float(evaluate(ds.test.task, ds.test.labels, model.predict(ds.test))[metric])


def torch_run(model_name: str, ds, pool, seed: int, ref_factor: int, verify: bool, args: dict) -> dict:
    """One reference-length run, evaluated at checkpoint epochs (module docstring)."""
    import mmal
    from mmal.nn.training import train_batches

    base = mmal.task_models.get(model_name, **args)
    n = pool.n_labeled
    per_epoch = len(train_batches(n, base.batch_size, np.random.default_rng(0)))
    default_epochs = base.epochs_for(pool)
    ref_epochs = ref_factor * default_epochs
    marks = {OLD_EPOCHS, default_epochs, ref_epochs}
    marks |= {int(e) for e in np.unique(np.round(np.geomspace(1, ref_epochs, 12)))}
    curve: list[dict] = []

    class Probe(type(base)):
        def _on_epoch_end(self, epoch: int, loss: float):
            stop = super()._on_epoch_end(epoch, loss)
            if epoch + 1 in marks:
                metric, value = score(ds, self)
                curve.append({"epochs": epoch + 1, "steps": (epoch + 1) * per_epoch, "train_loss": loss, metric: value})
            return stop

    t0 = time.process_time()
    Probe(**{**args, "epochs": ref_epochs}).fit(pool, seed=seed)
    cpu = time.process_time() - t0
    metric = "acc" if ds.test.task.is_classification else "mae"
    at = {c["epochs"]: c[metric] for c in curve}
    out = {"metric": metric, "default": at[default_epochs], "old": at[min(OLD_EPOCHS, ref_epochs)], "reference": at[ref_epochs],
           "default_epochs": default_epochs, "default_steps": default_epochs * per_epoch,
           "reference_steps": ref_epochs * per_epoch, "curve": curve, "cpu_seconds": cpu}
    if verify:
        _, again = score(ds, mmal.task_models.get(model_name, **args).fit(pool, seed=seed))
        out["verified"] = again == out["default"]
        if not out["verified"]:
            raise AssertionError(f"{model_name}: a default fit gives {again}, its checkpoint {out['default']}")
    return out


def linear_run(ds, pool, seed: int) -> dict:
    import mmal
    from mmal.builtin.linear import LinearModel

    key = "C" if ds.test.task.is_classification else "alpha"
    default = getattr(LinearModel(), key)  # alpha None: leave-one-out choice
    grid = sorted(set(LINEAR_GRID[key]) | {1.0} | ({default} if default is not None else set()))
    t0 = time.process_time()
    values = {}
    for v in grid:
        metric, values[v] = score(ds, mmal.task_models.get("linear", **{key: v}).fit(pool, seed=seed))
    pick = min if metric == "mae" else max
    best = pick(values, key=values.get)
    _, at_default = score(ds, mmal.task_models.get("linear").fit(pool, seed=seed))
    return {"metric": metric, "default": at_default, "old": values[1.0], "reference": values[best],
            "param": key, "default_value": default, "best_value": best, "grid": {str(k): v for k, v in values.items()},
            "cpu_seconds": time.process_time() - t0}


def run(cases, sizes, seeds, ref_factor: int, quick: bool, verify: bool, out: Path, on_row=print, resume: bool = False) -> dict:
    rows = []
    if resume and out.exists():  # keep the finished rows of this setting (results are deterministic per seed)
        old = json.loads(out.read_text())
        if old["meta"]["ref_factor"] == ref_factor and old["meta"]["quick"] == quick:
            rows = old["rows"]
    done = {(r["model"], r["family"], r["n"], r["seed"]) for r in rows}
    args = QUICK_ARGS if quick else {}
    meta = {"sizes": list(sizes), "seeds": list(seeds), "ref_factor": ref_factor, "quick": quick, "model_args": args,
            "python": platform.python_version(), "cpus": os.cpu_count(), "load_avg_at_start": os.getloadavg()}
    for case in cases:
        model_name, family = case.split(":")
        ds = load(family, max(sizes), quick)
        for n in sizes:
            if n > ds.train.n:
                continue
            for seed in seeds:
                if (model_name, family, n, seed) in done:
                    continue
                pool = labeled_pool(ds, n, seed)
                r = linear_run(ds, pool, seed) if model_name == "linear" else torch_run(model_name, ds, pool, seed, ref_factor, verify, args)
                row = {"model": model_name, "family": family, "n": n, "seed": seed, **r}
                rows.append(row)
                on_row(f"{case:40s} n={n:5d} seed={seed} {r['metric']} default {r['default']:.4f} old {r['old']:.4f} "
                       f"reference {r['reference']:.4f} ({r['cpu_seconds']:.1f} cpu s)")
                save(out, meta, rows)
    meta["load_avg_at_end"] = os.getloadavg()
    return save(out, meta, rows)


def summarize(rows: list[dict]) -> list[dict]:
    """Per (model, family, n): mean over seeds of default / old / reference and the default's gap."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["model"], r["family"], r["n"]), []).append(r)
    out = []
    for (model, family, n), rs in groups.items():
        sign = -1.0 if rs[0]["metric"] == "mae" else 1.0  # gap > 0: the default is worse than the reference
        out.append({"model": model, "family": family, "n": n, "metric": rs[0]["metric"], "seeds": len(rs),
                    **{k: float(np.mean([r[k] for r in rs])) for k in ("default", "old", "reference")},
                    "gap": float(np.mean([sign * (r["reference"] - r["default"]) for r in rs])),
                    "gap_max": float(np.max([sign * (r["reference"] - r["default"]) for r in rs])),
                    "old_gap": float(np.mean([sign * (r["reference"] - r["old"]) for r in rs]))})
    return out


def save(out: Path, meta: dict, rows: list[dict]) -> dict:
    data = {"meta": meta, "summary": summarize(rows), "rows": rows}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, out)
    return data


def plot(data: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    summary = data["summary"]
    cases = list(dict.fromkeys((s["model"], s["family"]) for s in summary))
    cols = min(5, len(cases))
    rows = -(-len(cases) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.9 * rows), squeeze=False)
    for ax, (model, family) in zip(axes.flat, cases):
        s = sorted((x for x in summary if x["model"] == model and x["family"] == family), key=lambda x: x["n"])
        n = [x["n"] for x in s]
        ref = "best C / alpha" if model == "linear" else f"{data['meta']['ref_factor']}x steps"
        old = "C / alpha = 1" if model == "linear" else f"epochs={OLD_EPOCHS}"
        ax.plot(n, [x["reference"] for x in s], "k--", label=f"reference ({ref})")
        ax.plot(n, [x["default"] for x in s], "o-", color="C0", label="default")
        ax.plot(n, [x["old"] for x in s], "x:", color="C3", label=f"old ({old})")
        ax.set_xscale("log")
        ax.set_xticks(n, [str(v) for v in n])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_title(f"{model} / {family.replace('-synthetic', '')}", fontsize=9)
        ax.set_xlabel("labeled samples", fontsize=8)
        ax.set_ylabel(s[0]["metric"], fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(cases):]:
        ax.axis("off")
    n_seeds = len({r["seed"] for r in data["rows"]})
    fig.suptitle(f"defaults vs long-trained reference ({n_seeds} seed{'s' if n_seeds > 1 else ''}; mean over seeds)", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(data: dict) -> str:
    """The summary as a markdown table: one row per model, family and size."""
    lines = ["| model | family | labeled | metric | default | long-trained reference | gap | old default |",
             "|---|---|---|---|---|---|---|---|"]
    for s in sorted(data["summary"], key=lambda x: (CASES.index(f"{x['model']}:{x['family']}") if f"{x['model']}:{x['family']}" in CASES else 99, x["n"])):
        lines.append(f"| `{s['model']}` | {s['family']} | {s['n']} | {s['metric']} | {s['default']:.3f} | {s['reference']:.3f} | "
                     f"{s['gap']:+.3f} | {s['old']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help=f"cases {QUICK_CASES}, sizes 20,60, seed 0, 2x reference")
    ap.add_argument("--cases", default=None, help="comma-separated model:family (default: all)")
    ap.add_argument("--sizes", default=None, help=f"labeled sizes (default {','.join(map(str, SIZES))})")
    ap.add_argument("--seeds", default=None, help="default 0,1,2")
    ap.add_argument("--ref-factor", type=int, default=None, help="reference = this many times the default budget (default 4)")
    ap.add_argument("--verify", action="store_true", help="refit each default separately and check it equals its checkpoint")
    ap.add_argument("--out", default=str(RESULTS / "calibration.json"))
    ap.add_argument("--figure", default=str(FIGURE), help="where the figure goes (default docs/img/calibration.png)")
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--resume", action="store_true", help="keep the rows already in --out, run the missing ones")
    ap.add_argument("--render", action="store_true", help="only redraw the figure and print the table of an existing --out")
    args = ap.parse_args()
    if args.render:
        data = json.loads(Path(args.out).read_text())
        data["summary"] = summarize(data["rows"])
        plot(data, Path(args.figure))
        print(markdown(data))
        return
    cases = args.cases.split(",") if args.cases else (QUICK_CASES if args.quick else CASES)
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else ([20, 60] if args.quick else list(SIZES))
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else ([0] if args.quick else [0, 1, 2])
    ref = args.ref_factor or (2 if args.quick else 4)
    out = Path(args.out)
    data = run(cases, sizes, seeds, ref, args.quick, args.verify or args.quick, out, resume=args.resume)
    for s in data["summary"]:
        print(f"{s['model']:14s} {s['family']:24s} n={s['n']:5d} {s['metric']} default {s['default']:.4f} "
              f"old {s['old']:.4f} reference {s['reference']:.4f} gap {s['gap']:+.4f} (max {s['gap_max']:+.4f})")
    print(markdown(data))
    if not args.no_plot:
        plot(data, Path(args.figure))
        print("wrote", out, "and", args.figure)


if __name__ == "__main__":
    main()
