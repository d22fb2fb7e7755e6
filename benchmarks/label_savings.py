"""Label savings against Random from a finished `mmal bench` run: mean +- 95% CI over seeds,
paired t-tests, and the labels each strategy saves in every seed.

    mmal bench --protocol uci-mfeat --jobs 2 --out runs/uci-mfeat
    python benchmarks/label_savings.py runs/uci-mfeat            # prints the table, writes the files below

Per strategy and seed (seeds pair the strategies: the same initial labels, the same test set):

* ``AUBC``: area under the accuracy-vs-labels curve over all rounds, divided by the labeled
  range (``mmal.bench.stats.aubc``); ``dAUBC`` its difference to Random in the same seed.
* ``acc@N``: test accuracy at the last round's labeled count ``N``.
* labels saved: ``N`` minus the labels the strategy needs to first reach Random's accuracy at
  ``N`` in the same seed, linearly interpolated between rounds (``mmal.bench.stats.labels_needed``;
  GRACE Sec. 4.2); "n/r" when it never does within the run (then it saved nothing in that seed).

Mean +- 95% CI is ``mean +- t(0.975, n-1) s / sqrt(n)`` over the ``n`` seeds; ``p`` is the
two-sided paired t-test (``scipy.stats.ttest_rel``) against Random over the seeds. Writes
``benchmarks/LABEL_SAVINGS.md`` and ``benchmarks/results/label_savings.json``
(``--out-md`` / ``--out-json`` to write elsewhere).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from mmal.bench.stats import aubc, labels_needed, lower_is_better, mean_ci, paired_test, seeds_word
from mmal.bench.store import read_rows

HERE = Path(__file__).parent


def curves(rows: list[dict], metric: str) -> dict[str, dict[int, tuple[np.ndarray, np.ndarray]]]:
    """``{strategy: {seed: (labeled counts, metric)}}`` from the ok AL rows, rounds in order."""
    out: dict[str, dict[int, list]] = {}
    for r in rows:
        if r.get("status") != "ok" or r["strategy"] == "full-data":
            continue
        out.setdefault(r["strategy"], {}).setdefault(r["seed"], []).append((r["round"], r["n_labeled"], r["metrics"][metric]))
    return {s: {seed: (np.array([p[1] for p in sorted(v)], float), np.array([p[2] for p in sorted(v)], float))
                for seed, v in by_seed.items()} for s, by_seed in out.items()}


def ci95(values) -> tuple[float, float]:
    """``(mean, half-width)`` of the 95% t-interval over seeds (``mmal.bench.stats.mean_ci``); nan for one seed."""
    ci = mean_ci(values)
    return ci.mean, float("nan") if ci.half_width is None else ci.half_width


def analyse(rows: list[dict], metric: str = "acc", baseline: str = "random") -> dict:
    """Per strategy, over the seeds whose curve has the baseline's labeled counts: AUBC, final metric,
    their paired differences and tests against the baseline (``mmal.bench.stats.paired_test``: p is
    None below 3 seeds), and the labels saved per seed (None: Random's final value not reached)."""
    lower = lower_is_better(metric)
    cur = curves(rows, metric)
    if baseline not in cur:
        raise SystemExit(f"no rows of the baseline {baseline!r}; strategies: {sorted(cur)}")
    base = cur[baseline]
    out = {"metric": metric, "lower_is_better": lower, "baseline": baseline, "strategies": {}}
    for name, by_seed in cur.items():
        seeds = sorted(set(by_seed) & set(base))
        complete = [s for s in seeds if np.array_equal(by_seed[s][0], base[s][0])]
        res = {"seeds": complete, "aubc": [], "daubc": [], "final": [], "dfinal": [], "needed": [], "saved": []}
        for s in complete:
            (x, y), (bx, by) = by_seed[s], base[s]
            res["aubc"].append(aubc(x, y))
            res["daubc"].append(aubc(x, y) - aubc(bx, by))
            res["final"].append(float(y[-1]))
            res["dfinal"].append(float(y[-1] - by[-1]))
            need = labels_needed(x, y, float(by[-1]), lower=lower)
            res["needed"].append(need)
            res["saved"].append(None if need is None else float(bx[-1] - need))
        if complete:
            x_last = float(base[complete[0]][0][-1])
            res["n_final"] = x_last
            res["aubc_ci"], res["daubc_ci"] = ci95(res["aubc"]), ci95(res["daubc"])
            res["final_ci"], res["dfinal_ci"] = ci95(res["final"]), ci95(res["dfinal"])
            t_aubc = paired_test(dict(zip(complete, res["aubc"])), {s: aubc(*base[s]) for s in complete}, lower=lower)
            t_final = paired_test(dict(zip(complete, res["final"])), {s: float(base[s][1][-1]) for s in complete}, lower=lower)
            res["p_aubc"], res["p_final"] = t_aubc.p, t_final.p
            res["verdict"], res["note"] = t_aubc.verdict(), t_aubc.note
            # a seed that never reaches the target saved at most 0 (its curve ends at the same count): counted as 0,
            # so the mean is an upper bound there (the report instead averages the seeds that reached it)
            saved = [0.0 if v is None else v for v in res["saved"]]
            res["saved_ci"] = ci95(saved)
            res["saved_percent"] = 100.0 * float(np.mean(saved)) / x_last
        out["strategies"][name] = res
    return out


def incomplete(rows: list[dict], res: dict) -> list[str]:
    """Cells (strategy / seed) with rounds in the store but not the whole curve, left out of the table."""
    have: dict[tuple[str, int], int] = {}
    for r in rows:
        if r.get("status") == "ok" and r["strategy"] != "full-data":
            have[(r["strategy"], r["seed"])] = have.get((r["strategy"], r["seed"]), 0) + 1
    return [f"{s}/{seed} ({n} rounds)" for (s, seed), n in sorted(have.items())
            if seed not in res["strategies"].get(s, {}).get("seeds", [])]


def fmt_ci(mc, digits=3, sign=False) -> str:
    m, h = mc
    s = f"{m:+.{digits}f}" if sign else f"{m:.{digits}f}"
    return s + ("" if np.isnan(h) else f" ± {h:.{digits}f}")


def fmt_p(p) -> str:
    return "n/a" if p is None else (f"{p:.3f}" if p >= 0.001 else f"{p:.1e}")


def markdown(res: dict) -> str:
    strategies = res["strategies"]
    base = res["baseline"]
    order = sorted(strategies, key=lambda s: (s != base, (1 if res["lower_is_better"] else -1) * np.mean(strategies[s]["daubc"]) if strategies[s]["daubc"] else 0))
    n_final = int(strategies[base]["n_final"])
    head = ["strategy", "seeds", "AUBC", "ΔAUBC vs Random", "p (AUBC)", f"acc@{n_final}", f"Δacc@{n_final}", "p (acc)",
            f"labels saved to reach Random's acc@{n_final} (per seed)", "mean saved"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in order:
        r = strategies[s]
        if not r["seeds"]:
            continue
        per_seed = ", ".join("n/r" if v is None else f"{v:.0f}" for v in r["saved"])
        lines.append("| " + " | ".join([
            s, str(len(r["seeds"])), fmt_ci(r["aubc_ci"]), "—" if s == base else fmt_ci(r["daubc_ci"], sign=True),
            "—" if s == base else fmt_p(r["p_aubc"]), fmt_ci(r["final_ci"]), "—" if s == base else fmt_ci(r["dfinal_ci"], sign=True),
            "—" if s == base else fmt_p(r["p_final"]), "—" if s == base else per_seed,
            "—" if s == base else f"{r['saved_ci'][0]:.1f} ({r['saved_percent']:.0f}%)",
        ]) + " |")
    return "\n".join(lines)


def verdict(res: dict) -> list[str]:
    """Plain sentences: who beat Random (paired t-test on AUBC at p < 0.05), who tied, who lost."""
    words = {"beat": "beat", "lost": "lost to", "tied": "tied with", "untested": "is untested against"}
    out = []
    for s, r in sorted(res["strategies"].items(), key=lambda kv: (1 if res["lower_is_better"] else -1) * np.mean(kv[1]["daubc"]) if kv[1]["daubc"] else 0):
        if s == res["baseline"] or not r["seeds"]:
            continue
        d, p = r["daubc_ci"], r["p_aubc"]
        note = f"; {r['note']}" if r["note"] else ""
        out.append(f"- **{s}** {words[r['verdict']]} Random: ΔAUBC {fmt_ci(d, sign=True)} (p {fmt_p(p)}, {seeds_word(len(r['seeds']))}{note}); "
                   f"{r['saved_ci'][0]:.1f} of {int(r['n_final'])} labels saved on average ({r['saved_percent']:.0f}%).")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir")
    ap.add_argument("--metric", default="acc")
    ap.add_argument("--baseline", default="random")
    ap.add_argument("--out-md", default=str(HERE / "LABEL_SAVINGS.md"))
    ap.add_argument("--out-json", default=str(HERE / "results" / "label_savings.json"))
    ap.add_argument("--notes", default="", help="a paragraph for the file's header (machine, load, run time)")
    args = ap.parse_args()
    run = Path(args.run_dir)
    rows = read_rows(run / "results.jsonl")
    res = analyse(rows, args.metric, args.baseline)
    cfg = json.loads((run / "config.json").read_text())["config"] if (run / "config.json").exists() else {}
    full = [r["metrics"][args.metric] for r in rows if r.get("status") == "ok" and r["strategy"] == "full-data"]
    res["full_data"] = ci95(full) if full else None
    ok = {(r["strategy"], r["seed"]) for r in rows if r.get("status") == "ok" and r["strategy"] == "full-data"}
    ok |= {(s, seed) for s, r in res["strategies"].items() for seed in r["seeds"]}
    failed = [r for r in rows if r.get("status") == "failed"]
    # a failed row of a cell that a later --resume finished (an interrupted run) is not a failure of the result
    res["failed_cells"] = sorted({r["cell"] for r in failed if (r["strategy"], r["seed"]) not in ok})
    res["resumed_cells"] = sorted({r["cell"] for r in failed if (r["strategy"], r["seed"]) in ok})
    res["incomplete"] = incomplete(rows, res)
    table = markdown(res)
    lines = verdict(res)
    print(table)
    print("\n".join(lines))
    data = ", ".join(f"`{d['name']}` ({d.get('size')}, task model `{d.get('task_model')}`)" for d in cfg.get("datasets", []))
    md = [
        "# Label savings on real data",
        "",
        f"`mmal bench --protocol {cfg.get('name', '?')} --out {run}` then `python benchmarks/label_savings.py {run}` "
        "(this file is that script's output; `--notes` adds the last paragraph).",
        "",
        f"Protocol `{cfg.get('name', '?')}`: {data}; {cfg.get('init')} random initial labels (the same for every "
        f"strategy of a seed), +{cfg.get('budget')} per round for {cfg.get('rounds')} rounds, seeds {cfg.get('seeds')} "
        "(the table's `seeds` column: the seeds each strategy finished). Mean ± 95% t-interval over seeds; p: "
        "two-sided paired t-test against Random over the seeds (none below 3 seeds; unreliable below 5); labels "
        "saved: per seed, the labels a strategy needs to first reach Random's final "
        f"{args.metric} in that seed (linear interpolation between rounds), subtracted from the final count (n/r: "
        "not reached, counted as 0 in the mean, its upper bound).",
        "",
        table,
        "",
        *lines,
    ]
    if res["full_data"]:
        md += ["", f"Full data (all {int(rows[0]['pool_size'])} training samples): {args.metric} "
                   f"{fmt_ci(res['full_data'])}."]
    if res["incomplete"]:
        md += ["", f"Not finished in the run (left out of the table): {', '.join(res['incomplete'])}."]
    if res["resumed_cells"]:
        md += ["", f"Interrupted and finished on `--resume` (a failed row in the store, then every round): "
                   f"{len(res['resumed_cells'])} cells."]
    if res["failed_cells"]:
        md += ["", f"Failed cells: {', '.join(res['failed_cells'])}."]
    if args.notes:
        md += ["", args.notes]
    Path(args.out_md).write_text("\n".join(md) + "\n")
    Path(args.out_json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out_json).write_text(json.dumps({**res, "config": cfg}, indent=1, default=float))
    print("wrote", args.out_md, "and", args.out_json)


if __name__ == "__main__":
    main()
