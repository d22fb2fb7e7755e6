"""GRACE's claims on trial (issue #15): why our SIMSv2 / CHERMA results differ from the paper's.

Three analyses, each writing ``benchmarks/results/trial_grace/<name>.json`` and ``<name>.md``:

    # label-efficiency curves of one or more finished runs (rows merged, paired by seed)
    python benchmarks/trial_grace.py curves simsv2 runs/simsv2-5seeds runs/simsv2-grace-rank
    # outlier / conflict / duplicate pick rates per strategy against the pool's base rates
    python benchmarks/trial_grace.py picks simsv2_picks runs/simsv2-5seeds runs/simsv2-grace-rank
    # GRACE's criteria after round 0 of a run: normalization, pseudo-label and phenomena ablations
    python benchmarks/trial_grace.py criteria simsv2_criteria runs/simsv2-5seeds --seeds 0,1,2,3,4

``curves``: per strategy, the metric at every labeled count (mean +- 95% t-CI over seeds), the
paired t-test against Random per round and on AUBC, and the labels saved per seed
(:mod:`mmal.bench.stats`, GRACE Sec. 4.2's rule). ``picks``: the fraction of outliers,
conflicts and near-duplicates among each strategy's queried samples (rounds >= 1) from the
store's ``selected_ids`` and the synthetic pool's ``meta`` flags. ``criteria``: for each seed
the run's round-0 labeled set, the run's task model fitted on it (protocol ``model_args``), and
on the unlabeled pool: GRACE's raw criteria (Eqs. 4-6) under each regression pseudo-label
convention, min-max (Sec. 3.4) against rank normalization of the same raw criteria, the
composition of the top-``k`` batch, and how the generator's phenomena behave (easiness of
conflicts and outliers; test error on them after training on the whole pool).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import mmal
from mmal.arrays import grace_scores
from mmal.bench.grid import load_dataset
from mmal.bench.stats import against_baseline, lower_is_better, mean_ci
from mmal.bench.store import read_rows
from mmal.rng import derive_seed

OUT = Path(__file__).parent / "results" / "trial_grace"
FLAGS = ("outlier", "conflict", "duplicate")


def fmt(iv: dict | None, digits: int = 3) -> str:
    if iv is None:
        return "n/a"
    hw = iv.get("half_width")
    return f"{iv['mean']:.{digits}f}" + ("" if hw is None else f" ± {hw:.{digits}f}")


def runs(dirs: list[str]) -> tuple[list[dict], dict]:
    """Every ok row of the given run directories (a (strategy, seed, round) found in two of them
    counted once, from the first), and the first one's config."""
    rows, seen = [], set()
    for d in dirs:
        for r in read_rows(Path(d) / "results.jsonl"):
            key = (r.get("strategy"), r.get("seed"), r.get("round"))
            if r.get("status") == "ok" and key not in seen:
                seen.add(key)
                rows.append(r)
    cfg = json.loads((Path(dirs[0]) / "config.json").read_text())["config"]
    return rows, cfg


def write(name: str, data: dict, md: list[str]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(data, indent=1, default=float) + "\n")
    (OUT / f"{name}.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


# ------------------------------------------------------------------------------------- curves
def curves(name: str, dirs: list[str], metric: str | None, baseline: str) -> None:
    rows, cfg = runs(dirs)
    metric = metric or cfg.get("report", {}).get("metric", "mae")
    lower = lower_is_better(metric)
    per: dict[str, dict[int, list]] = {}
    full = [r["metrics"][metric] for r in rows if r["strategy"] == "full-data"]
    for r in rows:
        if r["strategy"] != "full-data":
            per.setdefault(r["strategy"], {}).setdefault(r["seed"], []).append((r["round"], r["n_labeled"], r["metrics"][metric],
                                                                                 r["labels_spent"]))
    cur = {s: {seed: (np.array([p[1] for p in sorted(v)], float), np.array([p[2] for p in sorted(v)], float))
               for seed, v in by.items()} for s, by in per.items()}
    lps = next(p[3] / p[1] for by in per.values() for v in by.values() for p in v)
    comp = against_baseline(cur, baseline, lower=lower, labels_per_sample=lps)
    counts = sorted({int(x) for by in cur.values() for c in by.values() for x in c[0]})
    table = {}
    for s, by in sorted(cur.items()):
        table[s] = {}
        for n in counts:
            vals = [float(c[1][list(c[0]).index(n)]) for c in by.values() if n in c[0]]
            if vals:
                table[s][n] = mean_ci(vals).as_dict()
    data = {"metric": metric, "baseline": baseline, "runs": dirs, "labels_per_sample": lps,
            "seeds": {s: sorted(by) for s, by in cur.items()}, "curves": table,
            "full_data": mean_ci(full).as_dict() if full else None,
            "against_baseline": {s: {"aubc": None if v["aubc"] is None else v["aubc"].as_dict(),
                                     "rounds": [{"round": r["round"], "labeled": r["labeled"], **r["test"].as_dict()} for r in v["rounds"]],
                                     "saved": v["saved"]} for s, v in comp.items()}}
    md = [f"# {name}: {metric} (mean ± 95% t-CI over seeds; runs: {', '.join(dirs)})", "",
          "| strategy | seeds | " + " | ".join(str(n) for n in counts) + " |", "|---|---|" + "---|" * len(counts)]
    for s, t in table.items():
        md.append(f"| {s} | {len(cur[s])} | " + " | ".join(fmt(t.get(n)) for n in counts) + " |")
    if full:
        md += ["", f"Full data: {fmt(data['full_data'])} ({len(full)} seeds)."]
    md += ["", f"Against {baseline} (paired by seed): difference of {metric} at the last round, AUBC, "
               "rounds significantly better / worse (p < 0.05), labels saved per seed.", "",
           f"| strategy | Δ{metric} last round (p) | ΔAUBC (p) | rounds better / worse | samples saved per seed |", "|---|---|---|---|---|"]
    for s, v in data["against_baseline"].items():
        last = v["rounds"][-1] if v["rounds"] else None
        better = sum(r["verdict"] == "beat" for r in v["rounds"])
        worse = sum(r["verdict"] == "lost" for r in v["rounds"])
        saved = ", ".join("n/r" if not p["reached"] else f"{p['samples_saved']:.0f}" for p in (v["saved"] or {}).get("per_seed", []))
        au = v["aubc"]
        md.append(f"| {s} | {fmt(last['diff']) if last else 'n/a'} ({_p(last)}) | "
                  f"{fmt(au['diff'], 4) if au else 'n/a'} ({_p(au)}) | {better} / {worse} of {len(v['rounds'])} | {saved} |")
    write(name, data, md)


def _p(t: dict | None) -> str:
    return "n/a" if t is None or t.get("p") is None else f"p={t['p']:.3f}"


# -------------------------------------------------------------------------------------- picks
def flags(pool) -> dict[str, np.ndarray]:
    return {"outlier": np.asarray(pool.meta["outlier"], bool), "conflict": np.asarray(pool.meta["conflict"], bool),
            "duplicate": np.asarray(pool.meta["duplicate_of"]) >= 0}


def picks(name: str, dirs: list[str]) -> None:
    rows, cfg = runs(dirs)
    ds = load_dataset(cfg["datasets"][0])
    pool = ds.train
    fl = flags(pool)
    base = {f: float(v.mean()) for f, v in fl.items()}
    rates: dict[str, dict[str, dict]] = {}
    first: dict[str, dict[str, list]] = {}
    for r in rows:
        if r["strategy"] == "full-data" or r["round"] < 1:
            continue
        pos = pool.positions(r["selected_ids"])
        d = rates.setdefault(r["strategy"], {}).setdefault(r["seed"], {f: [] for f in FLAGS})
        for f in FLAGS:
            d[f].extend(fl[f][pos].tolist())
        if r["round"] == 1:
            for f in FLAGS:
                first.setdefault(r["strategy"], {}).setdefault(f, []).append(float(fl[f][pos].mean()))
    data = {"runs": dirs, "pool": pool.n, "base_rate": base, "strategies": {}}
    md = [f"# {name}: share of queried samples (rounds >= 1) that are outliers / conflicts / near-duplicates",
          "", f"Pool {pool.n} ({cfg['datasets'][0]['name']}, size {cfg['datasets'][0]['size']}); base rates: "
          + ", ".join(f"{f} {100 * b:.2f}%" for f, b in base.items()) + ". Mean ± 95% t-CI over seeds, "
          "(x base rate); round 1 alone in the last columns.", "",
          "| strategy | seeds | outliers | conflicts | duplicates | outliers round 1 | conflicts round 1 |", "|---|---|---|---|---|---|---|"]
    for s in sorted(rates):
        per_seed = {f: [float(np.mean(v[f])) for v in rates[s].values()] for f in FLAGS}
        iv = {f: mean_ci(per_seed[f]).as_dict() for f in FLAGS}
        one = {f: mean_ci(first[s][f]).as_dict() for f in ("outlier", "conflict")}
        data["strategies"][s] = {"seeds": sorted(rates[s]), "rate": iv, "per_seed": per_seed, "round1": one,
                                 "ratio_to_base": {f: iv[f]["mean"] / base[f] if base[f] else None for f in FLAGS}}
        cell = [f"{fmt(_pct(iv[f]), 2)}% ({iv[f]['mean'] / base[f]:.1f}x)" if base[f] else "n/a" for f in FLAGS]
        md.append(f"| {s} | {len(rates[s])} | " + " | ".join(cell) + " | "
                  + " | ".join(f"{fmt(_pct(one[f]), 1)}%" for f in ("outlier", "conflict")) + " |")
    write(name, data, md)


def _pct(iv: dict) -> dict:
    return {**iv, "mean": 100 * iv["mean"], "half_width": None if iv["half_width"] is None else 100 * iv["half_width"]}


# ----------------------------------------------------------------------------------- criteria
def auc(low: np.ndarray, high: np.ndarray) -> float:
    """P(a value of ``low`` < a value of ``high``) + 0.5 P(tie): 1 = ``low`` always ranks below."""
    from scipy.stats import mannwhitneyu

    if len(low) == 0 or len(high) == 0:
        return float("nan")
    return float(mannwhitneyu(high, low).statistic / (len(low) * len(high)))


def topk(score: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-score, kind="stable")[:k]


def composition(idx: np.ndarray, fl: dict[str, np.ndarray]) -> dict[str, int]:
    return {f: int(fl[f][idx].sum()) for f in ("outlier", "conflict")}


def test_errors(model, test, metric_rows: dict[str, np.ndarray]) -> dict[str, float]:
    pred = np.asarray(model.predict(test)["M"], float)
    truth = np.asarray(test.labels["M"], float)
    err = (pred != truth).astype(float) if test.task.is_classification else np.abs(pred - truth)  # error rate / |error|
    return {k: float(err[m].mean()) if m.any() else float("nan") for k, m in metric_rows.items()}


def criteria(name: str, run: str, seeds: list[int], k: int, round_: int) -> None:
    rows, cfg = runs([run])
    d = cfg["datasets"][0]
    ds = load_dataset(d)
    kind = ds.train.task.kind
    pseudos = ("own", "sensitivity", "fused") if kind == "regression" else ("own", "fused")
    factory = lambda: mmal.task_models.get(d["task_model"], **d["model_args"])  # noqa: E731
    test_fl = flags(ds.test)
    test_groups = {"ordinary": ~test_fl["outlier"] & ~test_fl["conflict"], "conflict": test_fl["conflict"], "outlier": test_fl["outlier"]}
    per_seed = []
    for seed in seeds:
        init = next(r["selected_ids"] for r in rows if r["round"] == 0 and r["seed"] == seed and r["strategy"] != "full-data")
        pool = ds.train.take(np.arange(ds.train.n))
        pool.label(init, ds.oracle(init))
        model = factory().fit(pool, seed=derive_seed(seed, 0, "train"))
        unl = pool.unlabeled_positions()
        fl = {f: v[unl] for f, v in flags(pool).items()}
        ordinary = ~fl["outlier"]
        rec = {"seed": seed, "n_unlabeled": int(len(unl)), "k": k, "round": round_, "pseudo": {}}
        for p in pseudos:
            g = mmal.strategies.get("grace", pseudo=p, dtype="float64")
            grads = g.inputs(model, pool, unl)["gradients"]
            mm = grace_scores(grads, **g.options(round_))
            rk = grace_scores(grads, **{**g.options(round_), "normalize": "rank"})
            clean = grace_scores({m: v.take(np.flatnonzero(ordinary)) for m, v in grads.items()}, **g.options(round_))
            raw, n_mm, n_rk = mm["raw"], mm["normalized"], rk["normalized"]
            h_norm = sum(np.linalg.norm(v.h, axis=1) for v in grads.values())
            x_norm = sum(np.linalg.norm(pool.pooled(m, unl).astype(np.float64), axis=1) for m in pool.modalities)
            top_mm, top_rk = topk(mm["score"], k), topk(rk["score"], k)
            top_clean = np.flatnonzero(ordinary)[topk(clean["score"], k)]
            ir_mm = n_mm["informativeness"] * n_mm["representativeness"]
            rec["pseudo"][p] = {
                "r_informativeness_h_norm": float(np.corrcoef(raw["informativeness"], h_norm)[0, 1]),
                "r_informativeness_input_norm": float(np.corrcoef(raw["informativeness"], x_norm)[0, 1]),
                "r_informativeness_h_norm_ordinary": float(np.corrcoef(raw["informativeness"][ordinary], h_norm[ordinary])[0, 1]),
                "minmax": {
                    "ordinary_median": {c: float(np.median(v[ordinary])) for c, v in n_mm.items()},
                    "ordinary_share_i_below_0.1": float(np.mean(n_mm["informativeness"][ordinary] < 0.1)),
                    "ordinary_share_r_below_0.1": float(np.mean(n_mm["representativeness"][ordinary] < 0.1)),
                    "ordinary_share_ir_below_0.05": float(np.mean(ir_mm[ordinary] < 0.05)),
                    "outlier_median_ir": float(np.median(ir_mm[~ordinary])) if (~ordinary).any() else None,
                    "top": composition(top_mm, fl),
                },
                "rank": {"ordinary_median": {c: float(np.median(v[ordinary])) for c, v in n_rk.items()},
                         "ordinary_share_ir_below_0.05": float(np.mean((n_rk["informativeness"] * n_rk["representativeness"])[ordinary] < 0.05)),
                         "top": composition(top_rk, fl)},
                "minmax_without_outliers": {"top": composition(top_clean, fl)},
                "top_overlap_minmax_rank": int(len(np.intersect1d(top_mm, top_rk))),
                "top_ir_minmax": composition(topk(ir_mm, k), fl),
                "top_easiness": composition(topk(raw["easiness"], k), fl),
                "easiness_auc_outlier_below": auc(raw["easiness"][~ordinary], raw["easiness"][ordinary]),
                "easiness_auc_conflict_below": auc(raw["easiness"][fl["conflict"]], raw["easiness"][ordinary & ~fl["conflict"]]),
                "informativeness_auc_outlier_above": auc(raw["informativeness"][ordinary], raw["informativeness"][~ordinary]),
                "_top": top_mm.tolist(),
            }
        tops = {p: set(v.pop("_top")) for p, v in rec["pseudo"].items()}
        rec["top_overlap_pseudo"] = {f"{a}/{b}": len(tops[a] & tops[b]) for i, a in enumerate(pseudos) for b in pseudos[i + 1:]}
        # the generator's phenomena: error on ordinary / conflict / outlier test samples
        full = ds.train.take(np.arange(ds.train.n))
        full.label(full.ids, ds.oracle(full.ids))
        full_model = factory().fit(full, seed=derive_seed(seed, 0, "train"))
        rec["test_abs_error"] = {"initial_model": test_errors(model, ds.test, test_groups),
                                 "full_data_model": test_errors(full_model, ds.test, test_groups)}
        rec["test_counts"] = {g: int(m.sum()) for g, m in test_groups.items()}
        per_seed.append(rec)
        print(f"seed {seed} done", flush=True)
    write(name, {"run": run, "dataset": d, "seeds": seeds, "per_seed": per_seed}, criteria_md(name, run, per_seed, k, round_))


def criteria_md(name: str, run: str, per_seed: list[dict], k: int, round_: int) -> list[str]:
    def avg(fn):
        vals = [fn(r) for r in per_seed]
        return mean_ci(vals).as_dict()

    pseudos = list(per_seed[0]["pseudo"])
    md = [f"# {name}: GRACE's criteria after round 0 (run {run}; query round {round_}; top-{k}; "
          f"{len(per_seed)} seeds, mean ± 95% t-CI)", "",
          f"Unlabeled pool {per_seed[0]['n_unlabeled']}; 'ordinary' = not an outlier. Pseudo-label conventions: "
          + ", ".join(f"`{p}`" for p in pseudos) + " (`own` is GRACE's default).", "",
          "| measure | " + " | ".join(pseudos) + " |", "|---|" + "---|" * len(pseudos)]
    lines = [
        ("Pearson r(raw informativeness, Σ_k ||h_k||)", lambda q: q["r_informativeness_h_norm"], 3),
        ("Pearson r(raw informativeness, Σ_k ||x_k|| input)", lambda q: q["r_informativeness_input_norm"], 3),
        ("same r, ordinary samples only", lambda q: q["r_informativeness_h_norm_ordinary"], 3),
        ("AUC informativeness outliers above ordinary", lambda q: q["informativeness_auc_outlier_above"], 3),
        ("AUC easiness outliers below ordinary", lambda q: q["easiness_auc_outlier_below"], 3),
        ("AUC easiness conflicts below non-conflicts", lambda q: q["easiness_auc_conflict_below"], 3),
        ("min-max: median s_i of ordinary", lambda q: q["minmax"]["ordinary_median"]["informativeness"], 3),
        ("min-max: median s_r of ordinary", lambda q: q["minmax"]["ordinary_median"]["representativeness"], 3),
        ("min-max: median s_e of ordinary", lambda q: q["minmax"]["ordinary_median"]["easiness"], 3),
        ("min-max: share of ordinary with s_i < 0.1", lambda q: q["minmax"]["ordinary_share_i_below_0.1"], 3),
        ("min-max: share of ordinary with s_i s_r < 0.05", lambda q: q["minmax"]["ordinary_share_ir_below_0.05"], 3),
        ("min-max: median s_i s_r of outliers", lambda q: q["minmax"]["outlier_median_ir"] or float("nan"), 3),
        ("rank: share of ordinary with s_i s_r < 0.05", lambda q: q["rank"]["ordinary_share_ir_below_0.05"], 3),
        (f"outliers in top-{k}: grace (min-max)", lambda q: q["minmax"]["top"]["outlier"], 1),
        (f"outliers in top-{k}: grace-rank", lambda q: q["rank"]["top"]["outlier"], 1),
        (f"outliers in top-{k}: min-max over U without outliers", lambda q: q["minmax_without_outliers"]["top"]["outlier"], 1),
        (f"outliers in top-{k}: s_i s_r alone (min-max)", lambda q: q["top_ir_minmax"]["outlier"], 1),
        (f"outliers in top-{k}: easiness alone", lambda q: q["top_easiness"]["outlier"], 1),
        (f"conflicts in top-{k}: grace (min-max)", lambda q: q["minmax"]["top"]["conflict"], 1),
        (f"conflicts in top-{k}: grace-rank", lambda q: q["rank"]["top"]["conflict"], 1),
        (f"conflicts in top-{k}: easiness alone", lambda q: q["top_easiness"]["conflict"], 1),
        (f"top-{k} shared by min-max and rank", lambda q: q["top_overlap_minmax_rank"], 1),
    ]
    for label, fn, dg in lines:
        md.append(f"| {label} | " + " | ".join(fmt(avg(lambda r, p=p: fn(r["pseudo"][p])), dg) for p in pseudos) + " |")
    md += ["", f"Top-{k} of grace shared between pseudo-label conventions: "
           + ", ".join(f"{pair} {fmt(avg(lambda r, pair=pair: r['top_overlap_pseudo'][pair]), 1)}" for pair in per_seed[0]["top_overlap_pseudo"]), ""]
    groups = list(per_seed[0]["test_abs_error"]["initial_model"])
    md += ["Test absolute error of the fused head by sample group (the generator's phenomena; counts "
           + ", ".join(f"{g} {per_seed[0]['test_counts'][g]}" for g in groups) + "):", "",
           "| model | " + " | ".join(groups) + " |", "|---|" + "---|" * len(groups)]
    for m in ("initial_model", "full_data_model"):
        md.append(f"| {m.replace('_', ' ')} | " + " | ".join(fmt(avg(lambda r, g=g, m=m: r["test_abs_error"][m][g])) for g in groups) + " |")
    return md


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("curves")
    c.add_argument("name")
    c.add_argument("runs", nargs="+")
    c.add_argument("--metric")
    c.add_argument("--baseline", default="random")
    p = sub.add_parser("picks")
    p.add_argument("name")
    p.add_argument("runs", nargs="+")
    q = sub.add_parser("criteria")
    q.add_argument("name")
    q.add_argument("run")
    q.add_argument("--seeds", default="0,1,2,3,4")
    q.add_argument("--k", type=int, default=100)
    q.add_argument("--round", type=int, default=1)
    a = ap.parse_args(argv)
    if a.cmd == "curves":
        curves(a.name, a.runs, a.metric, a.baseline)
    elif a.cmd == "picks":
        picks(a.name, a.runs)
    else:
        criteria(a.name, a.run, [int(s) for s in a.seeds.split(",")], a.k, a.round)


if __name__ == "__main__":
    main()
