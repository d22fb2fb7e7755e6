"""BMMAL's claims on trial (issue #15): accuracy, pick rates and modality contributions per
strategy from finished `mmal bench` runs of the BMMAL protocols (KineticsSound, Food101).

    mmal bench --protocol kineticssound --size small --init 200 --budget 200 --rounds 5 \\
        --seeds 0,1,2 --dataset kineticssound-concat --strategies random,badge,bmmal --out runs/ks-concat
    python benchmarks/trial_bmmal.py runs/ks-concat --name ks-concat

Per dataset label in the run (seeds pair the strategies: the same initial labels and test set):

* ``AUBC`` (``mmal.bench.stats.aubc``) and accuracy per round: mean +- 95% t-CI over seeds,
  and the two-sided paired t-test (``mmal.bench.stats.paired_test``) against Random and BADGE.
* Unimodal heads' accuracy per round (the rows' ``modality_metrics``) and the test set's
  modality contributions ``Phi_m`` per round (the rows' ``contributions``: BMMAL Eq. 12 on the
  fused head, the analogue of BMMAL Figs. 2-3).
* Pick rates of the queried batches (rounds >= 1): the fraction of outliers, of conflicts
  and of conflicts by modality (the synthetic Dataset's per-sample ``outlier`` / ``conflict`` /
  ``conflict_modality`` meta, regenerated from the run's dataset spec), against the base
  rate of the training pool.

Writes ``<out>/<name>.json``, ``<out>/<name>.md`` and ``<out>/<name>-<dataset>.png``
(default ``benchmarks/results/trial_bmmal/``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from mmal import datasets
from mmal.bench.stats import aubc, mean_ci, paired_test
from mmal.bench.store import read_rows

HERE = Path(__file__).parent
OUT = HERE / "results" / "trial_bmmal"
BASELINES = ("random", "badge")


def ok_rows(run_dir: Path) -> list[dict]:
    return [r for r in read_rows(run_dir / "results.jsonl") if r.get("status") == "ok" and r["strategy"] != "full-data"]


def by_cell(rows: list[dict]) -> dict[str, dict[str, dict[int, list[dict]]]]:
    """``{dataset label: {strategy: {seed: rows in round order}}}``; a cell with missing rounds
    (still running) is kept only up to its last finished round."""
    out: dict = {}
    for r in rows:
        out.setdefault(r["dataset"], {}).setdefault(r["strategy"], {}).setdefault(r["seed"], []).append(r)
    for d in out.values():
        for s in d.values():
            for seed in s:
                s[seed] = sorted(s[seed], key=lambda r: r["round"])
    return out


def complete(cells: dict[str, dict[int, list[dict]]]) -> tuple[dict[str, dict[int, list[dict]]], int]:
    """Keep the seeds that every strategy finished to the same (largest common) round count."""
    n_rounds = min(len(v) for s in cells.values() for v in s.values())
    return {s: {seed: v[:n_rounds] for seed, v in by_seed.items()} for s, by_seed in cells.items()}, n_rounds


def interval(values) -> dict:
    ci = mean_ci(list(values))
    return {"mean": ci.mean, "half_width": ci.half_width, "n": ci.n}


def paired(a: dict[int, float], b: dict[int, float]) -> dict | None:
    t = paired_test(a, b, lower=False)
    return None if t is None else {"diff": t.diff.mean, "half_width": t.diff.half_width, "p": t.p, "n": len(t.seeds), "note": t.note}


def meta_of(rows: list[dict]):
    """The run's training pool (data seed 0 unless the protocol sets another) and its meta by id."""
    r = rows[0]
    spec = r.get("info", {})
    size = r["pool_size"]
    ds = datasets.get(r["dataset_name"], size=size_name(r["dataset_name"], size), seed=spec.get("data_seed", 0))
    pool = ds.train
    index = {i: k for k, i in enumerate(pool.ids.tolist())}
    return pool, index


def size_name(name: str, n: int):
    from mmal.data.synthetic import FAMILIES

    for k, v in FAMILIES[name].sizes.items():
        if v[0] == n:
            return k
    return n


def pick_rates(cells: dict[str, dict[int, list[dict]]], pool, index: dict[str, int]) -> dict:
    meta = pool.meta
    outlier = np.asarray(meta["outlier"], bool)
    conflict = np.asarray(meta["conflict"], bool)
    cmod = np.asarray(meta["conflict_modality"]).astype(str)
    mods = list(pool.modality_names)
    base = {"outlier": float(outlier.mean()), "conflict": float(conflict.mean()),
            **{f"conflict:{m}": float((cmod == m).mean()) for m in mods}}
    per: dict[str, dict[str, dict[int, float]]] = {}
    for s, by_seed in cells.items():
        for seed, rs in by_seed.items():
            pos = np.array([index[i] for r in rs[1:] for i in r["selected_ids"]], dtype=np.int64)
            if pos.size == 0:
                continue
            vals = {"outlier": outlier[pos].mean(), "conflict": conflict[pos].mean(),
                    **{f"conflict:{m}": (cmod[pos] == m).mean() for m in mods}}
            for k, v in vals.items():
                per.setdefault(s, {}).setdefault(k, {})[seed] = float(v)
    out = {"base": base, "strategies": {}}
    for s, kinds in per.items():
        out["strategies"][s] = {k: {**interval(v.values()), "vs_random": paired(v, per["random"][k]) if "random" in per and s != "random" else None}
                                for k, v in kinds.items()}
    return out


def curves(cells: dict[str, dict[int, list[dict]]]) -> dict:
    """Per strategy: labeled counts, fused and unimodal accuracy per round and test contributions per round."""
    out = {}
    for s, by_seed in cells.items():
        seeds = sorted(by_seed)
        rs0 = by_seed[seeds[0]]
        mods = sorted(rs0[0].get("modality_metrics") or {})
        c = {"seeds": seeds, "labeled": [r["n_labeled"] for r in rs0]}
        c["acc"] = {seed: [r["metrics"]["acc"] for r in by_seed[seed]] for seed in seeds}
        c["aubc"] = {seed: aubc(c["labeled"], c["acc"][seed]) for seed in seeds}
        c["unimodal"] = {m: {seed: [r["modality_metrics"][m]["acc"] for r in by_seed[seed]] for seed in seeds} for m in mods}
        c["contrib"] = {m: {seed: [(r.get("contributions") or {}).get(m, float("nan")) for r in by_seed[seed]] for seed in seeds}
                        for m in mods}
        c["sel_contrib"] = {m: {seed: [((r.get("selection_contributions") or {}).get(m, float("nan"))) for r in by_seed[seed]]
                                for seed in seeds} for m in mods}
        c["pool_contrib"] = {m: {seed: [((r.get("info") or {}).get("contribution_pool") or {}).get(m, float("nan")) for r in by_seed[seed]]
                                 for seed in seeds} for m in mods}
        out[s] = c
    return out


def per_round_stats(c: dict, key_path, ref: dict | None) -> list[dict]:
    """Mean +- CI per round of one per-seed series, with the paired test against ``ref``."""
    series = key_path(c)
    n_rounds = len(next(iter(series.values())))
    rows = []
    for k in range(n_rounds):
        v = {seed: series[seed][k] for seed in series}
        row = interval(v.values())
        if ref is not None:
            rv = key_path(ref)
            row["vs"] = paired(v, {seed: rv[seed][k] for seed in rv})
        rows.append(row)
    return rows


def summarize(cells: dict[str, dict[int, list[dict]]], pool, index) -> dict:
    cv = curves(cells)
    res = {"labeled": next(iter(cv.values()))["labeled"], "strategies": {}}
    for s, c in cv.items():
        entry = {"seeds": c["seeds"], "aubc": interval(c["aubc"].values()), "aubc_by_seed": c["aubc"]}
        for b in BASELINES:
            if b in cv and b != s:
                entry[f"aubc_vs_{b}"] = paired(c["aubc"], cv[b]["aubc"])
        entry["acc"] = per_round_stats(c, lambda x: x["acc"], cv.get("random") if s != "random" else None)
        if "badge" in cv and s != "badge":
            entry["acc_vs_badge"] = [r["vs"] for r in per_round_stats(c, lambda x: x["acc"], cv["badge"])]
        ref = cv["badge"] if "badge" in cv and s != "badge" else None  # BMMAL Fig. 4d-e: unimodal heads against BADGE
        entry["unimodal"] = {m: per_round_stats(c, lambda x, m=m: x["unimodal"][m], ref) for m in c["unimodal"]}
        entry["contrib"] = {m: per_round_stats(c, lambda x, m=m: x["contrib"][m], None) for m in c["contrib"]}
        # the gap Phi_strong - Phi_weak per round (BMMAL Sec. 4.4: BMMAL's gap should be the smallest)
        mods = list(c["contrib"])
        if len(mods) == 2:
            gap = {seed: [abs(a - b) for a, b in zip(c["contrib"][mods[0]][seed], c["contrib"][mods[1]][seed])] for seed in c["seeds"]}
            entry["contrib_gap"] = per_round_stats({"g": gap}, lambda x: x["g"], None)
            entry["_gap_by_seed"] = gap
        if not np.all(np.isnan([v for m in c["sel_contrib"] for sv in c["sel_contrib"][m].values() for v in sv[1:]])):
            entry["selected_contrib"] = {m: per_round_stats({"v": {sd: v[1:] for sd, v in c["sel_contrib"][m].items()}}, lambda x: x["v"], None)
                                         for m in c["sel_contrib"]}
            entry["pool_contrib"] = {m: per_round_stats({"v": {sd: v[1:] for sd, v in c["pool_contrib"][m].items()}}, lambda x: x["v"], None)
                                     for m in c["pool_contrib"]}
        res["strategies"][s] = entry
    if "badge" in res["strategies"] and "bmmal" in res["strategies"] and "_gap_by_seed" in res["strategies"]["bmmal"]:
        g_bm, g_bg = res["strategies"]["bmmal"]["_gap_by_seed"], res["strategies"]["badge"]["_gap_by_seed"]
        res["gap_bmmal_vs_badge"] = [paired({s: g_bm[s][k] for s in g_bm}, {s: g_bg[s][k] for s in g_bg}) for k in range(len(res["labeled"]))]
    for e in res["strategies"].values():
        e.pop("_gap_by_seed", None)
    res["pick_rates"] = pick_rates(cells, pool, index)
    return res


# ---------------------------------------------------------------------------- output
def f(v, d=3) -> str:
    return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.{d}f}"


def ci(e: dict, d=3) -> str:
    return f(e["mean"], d) if e.get("half_width") is None else f"{f(e['mean'], d)} ± {f(e['half_width'], d)}"


def pv(t: dict | None) -> str:
    if t is None or t.get("p") is None:
        return "-"
    if "zero variance" in (t.get("note") or "") or (t.get("half_width") is not None and t["half_width"] < 1e-9):
        return f"{t['diff']:+.3f} (the same on every seed: no test)"
    return f"{t['diff']:+.3f} (p={t['p']:.2g})"


def markdown(name: str, results: dict) -> str:
    lines = [f"# {name}", ""]
    for label, res in results.items():
        S = res["strategies"]
        lines += [f"## {label}", "", f"Labeled per round: {res['labeled']}; seeds: {next(iter(S.values()))['seeds']}.", "",
                  "| strategy | AUBC (mean ± 95% CI) | vs Random: diff (paired p) | vs BADGE | final acc |", "|---|---|---|---|---|"]
        for s, e in S.items():
            lines.append(f"| {s} | {ci(e['aubc'], 4)} | {pv(e.get('aubc_vs_random'))} | {pv(e.get('aubc_vs_badge'))} | {ci(e['acc'][-1])} |")
        lines += ["", "Fused accuracy per round (mean ± CI; paired diff vs Random, p):", "",
                  "| strategy | " + " | ".join(str(n) for n in res["labeled"]) + " |", "|---|" + "---|" * len(res["labeled"])]
        for s, e in S.items():
            lines.append(f"| {s} | " + " | ".join(ci(r) + (f"<br>{pv(r.get('vs'))}" if r.get("vs") else "") for r in e["acc"]) + " |")
        mods = list(next(iter(S.values()))["unimodal"])
        for what, key in (("Unimodal head accuracy (paired diff vs BADGE, p)", "unimodal"),
                          ("Test-set modality contribution Φ (BMMAL Eq. 12, V = probability of the true class; Figs. 2-3)", "contrib")):
            lines += ["", f"{what} per round (mean ± CI):", "",
                      "| strategy | modality | " + " | ".join(str(n) for n in res["labeled"]) + " |", "|---|---|" + "---|" * len(res["labeled"])]
            for s, e in S.items():
                for m in mods:
                    lines.append(f"| {s} | {m} | " + " | ".join(ci(r) + (f"<br>{pv(r.get('vs'))}" if r.get("vs") else "") for r in e[key][m]) + " |")
        for s, e in S.items():
            if "selected_contrib" in e:
                lines += ["", f"{s}: contribution Φ (pseudo-label outcome, BMMAL Sec. 3.4) of the queried batch vs the whole unlabeled pool, rounds 1..:", ""]
                for m in mods:
                    lines.append(f"- {m}: selected " + ", ".join(ci(r) for r in e["selected_contrib"][m])
                                 + "; pool " + ", ".join(ci(r) for r in e["pool_contrib"][m]))
        if "gap_bmmal_vs_badge" in res:
            lines += ["", "Contribution gap |Φ_1 - Φ_2| per round, BMMAL minus BADGE (paired p): "
                      + ", ".join(pv(t) for t in res["gap_bmmal_vs_badge"])]
        pr = res["pick_rates"]
        kinds = list(pr["base"])
        lines += ["", "Pick rates of the queried batches (rounds >= 1; mean ± CI over seeds; paired diff vs Random, p):", "",
                  "| strategy | " + " | ".join(kinds) + " |", "|---|" + "---|" * len(kinds),
                  "| base rate (pool) | " + " | ".join(f(pr["base"][k]) for k in kinds) + " |"]
        for s, e in pr["strategies"].items():
            lines.append(f"| {s} | " + " | ".join(ci(e[k]) + (f"<br>{pv(e[k]['vs_random'])}" if e[k].get("vs_random") else "") for k in kinds) + " |")
        lines.append("")
    return "\n".join(lines)


def plot(name: str, label: str, res: dict, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    S = res["strategies"]
    mods = list(next(iter(S.values()))["unimodal"])
    x = res["labeled"]
    fig, ax = plt.subplots(1, 2 + len(mods), figsize=(4.2 * (2 + len(mods)), 3.4))
    for s, e in S.items():
        for a, series in [(ax[0], e["acc"]), *[(ax[1 + k], e["unimodal"][m]) for k, m in enumerate(mods)]]:
            m_ = np.array([r["mean"] for r in series])
            h = np.array([r["half_width"] or 0.0 for r in series])
            line, = a.plot(x, m_, marker="o", ms=3, label=s)
            a.fill_between(x, m_ - h, m_ + h, alpha=0.15, color=line.get_color())
        if mods:
            strong = mods[0]
            m_ = np.array([r["mean"] for r in e["contrib"][strong]])
            ax[-1].plot(x, m_, marker="o", ms=3, label=s)
    ax[0].set_title(f"{label}: fused top-1")
    for k, m in enumerate(mods):
        ax[1 + k].set_title(f"{m} head top-1")
    ax[-1].set_title(f"test-set Φ_{mods[0]} (Φ_{mods[1]} = 1 - it)" if len(mods) == 2 else "contribution")
    ax[-1].axhline(0.5, color="grey", lw=0.5)
    for a in ax:
        a.set_xlabel("labeled")
        a.grid(alpha=0.3)
    ax[0].legend(fontsize=7)
    fig.tight_layout()
    path = out / f"{name}-{label}.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


# ------------------------------------------------------------ modality competition probe
def unimodal_pool(pool, modality: str):
    """The same samples, labels and mask with one modality only (a single fused head "M")."""
    from mmal import Pool, Task

    t = pool.task
    return Pool({modality: pool.modalities[modality]}, Task("classification", n_classes=t.n_classes),
                ids=pool.ids, labels={"M": pool.labels["M"]}, labeled=pool.labeled,
                lengths={k: v for k, v in pool.lengths.items() if k == modality}, check_finite=False)


def top1(pred: np.ndarray, y: np.ndarray) -> float:
    pred = np.asarray(pred)
    return float(np.mean((pred.argmax(1) if pred.ndim == 2 else pred) == y))


def competition(dataset: str, size: str, n_labeled: list[int], seeds: list[int], model_args: dict) -> dict:
    """BMMAL Sec. 2.2's premise on our data: is the weaker modality under-trained by joint training?
    Per labeled count and seed (random labels, the bench's data seed 0): the test accuracy of each
    unimodal head of the joint Eq. 1 model against a model trained on that modality alone on the
    same labels, with the same settings."""
    from mmal import task_models as models
    from mmal.metrics import evaluate

    ds = datasets.get(dataset, size=size, seed=0)
    mods = list(ds.train.modality_names)
    out: dict = {"dataset": dataset, "size": size, "model_args": model_args, "rows": []}
    for n in n_labeled:
        for seed in seeds:
            rng = np.random.default_rng([seed, n])
            train = ds.train.take(np.arange(ds.train.n))
            pos = rng.choice(train.n, n, replace=False)
            ids = train.ids[pos]
            train.label(ids, ds.oracle(ids))
            row = {"n": n, "seed": seed}
            joint = models.get("mm-classifier", **model_args).fit(train, seed=seed)
            pred = joint.predict(ds.test)
            heads = getattr(joint, "unimodal_heads", {})
            row["fused"] = float(evaluate(ds.test.task, {"M": ds.test.labels["M"]}, {"M": pred["M"]})["acc"])
            for m in mods:
                row[f"joint:{m}"] = top1(pred[heads[m]], ds.test.labels["M"])
                solo = models.get("mm-classifier", **model_args).fit(unimodal_pool(train, m), seed=seed)
                row[f"alone:{m}"] = top1(solo.predict(unimodal_pool(ds.test, m))["M"], ds.test.labels["M"])
            print(row, flush=True)
            out["rows"].append(row)
    return out


def competition_md(res: dict) -> str:
    rows = res["rows"]
    keys = [k for k in rows[0] if k not in ("n", "seed")]
    lines = [f"Modality competition probe: {res['dataset']} ({res['size']}), model args {res['model_args']}; "
             "test top-1, mean ± 95% CI over seeds, random labels.", "",
             "| labeled | " + " | ".join(keys) + " | " + " | ".join(f"joint - alone ({k.split(':')[1]}), p" for k in keys if k.startswith("joint:")) + " |",
             "|---|" + "---|" * (len(keys) + sum(k.startswith("joint:") for k in keys))]
    for n in sorted({r["n"] for r in rows}):
        rs = [r for r in rows if r["n"] == n]
        cells = [ci(interval([r[k] for r in rs])) for k in keys]
        for k in keys:
            if k.startswith("joint:"):
                m = k.split(":")[1]
                cells.append(pv(paired({r["seed"]: r[k] for r in rs}, {r["seed"]: r[f"alone:{m}"] for r in rs})))
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    import sys

    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "competition":
        ap = argparse.ArgumentParser(prog="trial_bmmal.py competition")
        ap.add_argument("--dataset", default="kineticssound-synthetic")
        ap.add_argument("--size", default="small")
        ap.add_argument("--labeled", default="200,600,1200")
        ap.add_argument("--seeds", default="0,1,2")
        ap.add_argument("--model-arg", action="append", default=[], help="KEY=VALUE (JSON value), e.g. epochs=45")
        ap.add_argument("--name", required=True)
        ap.add_argument("--out", type=Path, default=OUT)
        a = ap.parse_args(argv[1:])
        margs = {k: json.loads(v) if v[:1] in "0123456789[{-tfn\"" else v for k, v in (x.split("=", 1) for x in a.model_arg)}
        res = competition(a.dataset, a.size, [int(x) for x in a.labeled.split(",")], [int(x) for x in a.seeds.split(",")], margs)
        a.out.mkdir(parents=True, exist_ok=True)
        (a.out / f"{a.name}.json").write_text(json.dumps(res, indent=1) + "\n")
        md = competition_md(res)
        (a.out / f"{a.name}.md").write_text(md)
        print(md)
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path, help="mmal bench run directories (their rows are pooled)")
    ap.add_argument("--name", required=True, help="output file stem, e.g. ks-concat")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--no-plot", action="store_true")
    a = ap.parse_args(argv)
    rows = [r for d in a.runs for r in ok_rows(d)]
    if not rows:
        raise SystemExit(f"no finished rows in {', '.join(map(str, a.runs))}")
    a.out.mkdir(parents=True, exist_ok=True)
    results = {}
    for label, cells in by_cell(rows).items():
        cells, _ = complete(cells)
        some = next(iter(next(iter(cells.values())).values()))
        pool, index = meta_of(some)
        results[label] = summarize(cells, pool, index)
    (a.out / f"{a.name}.json").write_text(json.dumps(results, indent=1, default=float) + "\n")
    md = markdown(a.name, results)
    (a.out / f"{a.name}.md").write_text(md)
    if not a.no_plot:
        for label, res in results.items():
            plot(a.name, label, res, a.out)
    print(md)


if __name__ == "__main__":
    main()
