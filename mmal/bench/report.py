"""``mmal report RUN_DIR``: the tables and figures the papers show, from a results store.

First the protocol (from the run's recorded config) and a summary in words: per dataset,
which strategy beat, tied or lost to the baseline on the area under the budget curve of the
primary metric (paired over seeds, :mod:`.stats`), and the labels it saved per seed. Then
per dataset: a GRACE Table-1-style table (mean +- 95% CI over seeds at one labeled count,
best in bold, significance against the baseline marked), learning curves per metric with
95% CI bands (PNG + SVG), per-modality curves (BMMAL Fig. 4), the paired tests against the
baseline round by round, annotation savings per seed (GRACE Sec. 4.2), area under the budget
curve, query time (GRACE supplement Table 3) and modality contribution over rounds (BMMAL
Figs. 2-3); over all datasets, the pairwise t-test matrix (BMMAL Fig. 5). Failed cells are
listed with their tracebacks. Everything lands in ``RUN_DIR/report/`` with ``report.md`` as
the index, ``summary.md`` the summary alone, and ``report.json`` holding every number (per
seed too).
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import MMALError
from ..io import atomic_write_text
from . import plots
from .config import FULL_DATA
from .stats import (
    ALPHA, CI_LEVEL, MIN_SEEDS, RELIABLE_SEEDS, against_baseline, aubc, column_average, lower_is_better,
    mean_ci, mean_std, pairwise_matrix, paired_seed_counts, paired_test, seed_note, seeds_word,
)
from .store import RunDir, read_rows

REPORT_DEFAULTS = {"label_count": None, "confidence": 0.9, "baseline": "random", "metric": None, "metrics": [], "lower_is_better": []}


def metric_value(row: Mapping[str, Any], metric: str) -> float | None:
    """``"acc"`` or ``"f1/happy"`` from the fused metrics; ``"audio/acc"`` from head ``audio``'s."""
    head, sep, name = metric.partition("/")
    per_head = row.get("modality_metrics") or {}
    v = per_head[head].get(name) if sep and head in per_head else (row.get("metrics") or {}).get(metric)
    return None if v is None else float(v)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


@dataclass
class Results:
    """The finished rounds of a run, by dataset, strategy and seed, plus failed cells."""

    rows: list[dict[str, Any]]
    options: dict[str, Any] = field(default_factory=lambda: dict(REPORT_DEFAULTS))
    failures: list[dict[str, Any]] = field(default_factory=list)
    order: dict[str, list[str]] = field(default_factory=dict)  # dataset -> strategy labels in config order
    record: dict[str, Any] | None = None  # the run's config.json: config_hash, config, history (None: rows only)

    def __post_init__(self) -> None:
        self.cells: dict[str, dict[str, dict[int, list[dict[str, Any]]]]] = {}
        seen: set[tuple[str, int]] = set()
        for r in self.rows:
            key = (r["cell_hash"], r["round"])
            if r.get("status") != "ok" or key in seen:
                continue
            seen.add(key)
            self.cells.setdefault(r["dataset"], {}).setdefault(r["strategy"], {}).setdefault(r["seed"], []).append(r)
        self.heads = {h for r in self.rows if r.get("status") == "ok" for h in (r.get("modality_metrics") or {})}
        for per_s in self.cells.values():
            for per_seed in per_s.values():
                for rows in per_seed.values():
                    rows.sort(key=lambda r: r["round"])

    # ------------------------------------------------------------- queries
    @property
    def datasets(self) -> list[str]:
        known = [d for d in self.order if d in self.cells]
        return known + sorted(d for d in self.cells if d not in known)

    def strategies(self, dataset: str, *, full: bool = False) -> list[str]:
        have = self.cells.get(dataset, {})
        order = [s for s in self.order.get(dataset, []) if s in have]
        order += sorted(s for s in have if s not in order)
        return [s for s in order if full or s != FULL_DATA]

    def metrics(self, dataset: str, *, per_class: bool = False) -> list[str]:
        """Fused metric names, then ``head/metric`` names, as the rows have them; per-class
        scores (``f1/<class>``) only with ``per_class``. ``report.metrics`` filters them."""
        fused: list[str] = []
        heads: list[str] = []
        for per_seed in self.cells.get(dataset, {}).values():
            for rows in per_seed.values():
                for r in rows:
                    fused += [m for m in r.get("metrics") or {} if m not in fused]
                    heads += [f"{h}/{m}" for h, ms in (r.get("modality_metrics") or {}).items() for m in ms if f"{h}/{m}" not in heads]
        names = fused + heads
        wanted = self.options.get("metrics") or []
        if wanted:
            names = [m for m in names if m in wanted]
        return [m for m in names if per_class or "/" not in self.base(m)]

    def base(self, metric: str) -> str:
        """The metric without its head: ``"audio/acc"`` -> ``"acc"``; ``"f1/happy"`` stays."""
        head, sep, name = metric.partition("/")
        return name if sep and head in self.heads else metric

    def is_fused(self, metric: str) -> bool:
        return self.base(metric) == metric

    def primary(self, dataset: str) -> str | None:
        """The configured ``report.metric`` where the dataset records it, else ``acc``, else
        ``mae``, else the first metric (see :meth:`primary_note`)."""
        names = self.metrics(dataset)
        chosen = self.options.get("metric")
        if chosen in names:
            return chosen
        for m in ("acc", "mae"):
            if m in names:
                return m
        return names[0] if names else None

    def primary_note(self, dataset: str) -> str | None:
        """Says so when the configured metric is not recorded on ``dataset`` and another is used."""
        chosen = self.options.get("metric")
        if chosen and chosen not in self.metrics(dataset):
            return (f"the configured metric `{chosen}` is not recorded on {dataset}, whose metrics are "
                    f"{', '.join(self.metrics(dataset)) or 'none'}, so `{self.primary(dataset)}` is used; `mmal report --metric` chooses")
        return None

    def lower(self, metric: str) -> bool:
        return lower_is_better(metric, self.options.get("lower_is_better") or ())

    def curve(self, dataset: str, strategy: str, metric: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(x: mean labeled count per round, Y: [n_seeds, n_rounds]) over the rounds every seed finished."""
        per_seed = self.cells.get(dataset, {}).get(strategy, {})
        tables = {}
        for seed, rows in per_seed.items():
            vals = {r["round"]: (r["n_labeled"], metric_value(r, metric)) for r in rows}
            tables[seed] = {k: v for k, v in vals.items() if v[1] is not None and np.isfinite(v[1])}
        if not tables:
            return None
        rounds = sorted(set.intersection(*(set(t) for t in tables.values())))
        if not rounds:
            return None
        seeds = sorted(tables)
        x = np.array([np.mean([tables[s][r][0] for s in seeds]) for r in rounds])
        Y = np.array([[tables[s][r][1] for r in rounds] for s in seeds])
        return x, Y

    def seed_curves(self, dataset: str, strategy: str, metric: str) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """{seed: (x labeled counts, y metric)} over the consecutive rounds 0, 1, ... of each seed
        that have a finite value (a seed's curve stops at its first gap)."""
        out = {}
        for seed, rows in self.rows_of(dataset, strategy).items():
            xs, ys = [], []
            for expected, r in enumerate(rows):
                v = metric_value(r, metric)
                if r["round"] != expected or v is None or not np.isfinite(v):
                    break
                xs.append(float(r["n_labeled"]))
                ys.append(v)
            if xs:
                out[seed] = (np.array(xs), np.array(ys))
        return out

    def by_round(self, dataset: str, strategy: str, metric: str, *, first: int = 1) -> dict[int, dict[int, float]]:
        """{round: {seed: value}} for rounds >= ``first`` (round 0 is the shared random start)."""
        out: dict[int, dict[int, float]] = {}
        for seed, rows in self.cells.get(dataset, {}).get(strategy, {}).items():
            for r in rows:
                v = metric_value(r, metric)
                if r["round"] >= first and v is not None and np.isfinite(v):
                    out.setdefault(r["round"], {})[seed] = v
        return out

    def rows_of(self, dataset: str, strategy: str) -> dict[int, list[dict[str, Any]]]:
        return self.cells.get(dataset, {}).get(strategy, {})


def load(run_dir: str | Path, options: Mapping[str, Any] | None = None) -> Results:
    """Read ``RUN_DIR``: rows of the cells of its recorded config (all rows without one)."""
    run = RunDir(run_dir)
    if not run.results.exists():
        raise MMALError(f"{run.results} does not exist; run `mmal bench --out {run_dir}` first")
    rows = read_rows(run.results)
    opts = dict(REPORT_DEFAULTS)
    order: dict[str, list[str]] = {}
    record = None
    if run.config_file.exists():
        record = run.read_config()
        cfg = record["config"]
        opts.update(cfg.get("report") or {})
        from .grid import build_cells

        cells = build_cells(cfg)
        rounds = {c["cell_hash"]: c["rounds"] for c in cells}
        rows = [r for r in rows if r.get("cell_hash") in rounds and r.get("round", 0) <= rounds[r["cell_hash"]]]
        for c in cells:
            lst = order.setdefault(c["dataset"]["label"], [])
            if c["strategy"]["label"] not in lst:
                lst.append(c["strategy"]["label"])
    opts.update({k: v for k, v in (options or {}).items() if v is not None})
    last: dict[str, dict[str, Any]] = {}
    for r in rows:  # a cell failed if its latest row is a failure (a retry that went on supersedes it)
        last[r.get("cell_hash", "")] = r
    failures = [r for r in last.values() if r.get("status") == "failed"]
    return Results(rows, opts, failures, order, record)


# ------------------------------------------------------------- the numbers
def fmt(v: float | None, digits: int = 4) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{v:.{digits}f}"


def fmt_duration(seconds: float) -> str:
    """``5.09s`` or ``15m 46s`` (GRACE supplement Table 3)."""
    if seconds < 60:
        return f"{seconds:.2f}s"
    m, s = divmod(int(round(seconds)), 60)
    return f"{m // 60}h {m % 60}m {s}s" if m >= 60 else f"{m}m {s}s"


def table_label_count(res: Results, dataset: str) -> int | None:
    """The labeled count of the table: the configured one, else the last count every strategy reached."""
    if res.options.get("label_count"):
        return int(res.options["label_count"])
    finals = []
    for s in res.strategies(dataset):
        per_seed = res.rows_of(dataset, s)
        if per_seed:
            finals.append(min(rows[-1]["n_labeled"] for rows in per_seed.values()))
    return min(finals) if finals else None


def labels_per_sample(res: Results, dataset: str) -> float:
    """Labels paid per labeled sample (heads labeled: 4 for M/T/A/V, GRACE Sec. 4.2), from the
    baseline's final rounds (any strategy's without a baseline)."""
    base = res.options.get("baseline")
    names = [base] if base in res.strategies(dataset) else res.strategies(dataset)
    finals = [rows[-1] for s in names for rows in res.rows_of(dataset, s).values() if rows[-1]["n_labeled"]]
    return float(np.mean([r["labels_spent"] / r["n_labeled"] for r in finals])) if finals else 1.0


def _fused(res: Results, dataset: str) -> list[str]:
    return [m for m in res.metrics(dataset) if res.is_fused(m)]


def _interval(values: Mapping[int, float]) -> dict[str, Any]:
    """A mean +- CI dict with the per-seed values it came from."""
    return {**mean_ci(list(values.values())).as_dict(), "per_seed": dict(values)}


def table(res: Results, dataset: str, *, per_class: bool = False) -> dict[str, Any]:
    """GRACE Table 1: per strategy and fused metric, mean and 95% CI over seeds at
    ``label_count`` labeled samples (each seed's last round with at most that many), the
    best mean per column, and per strategy the paired test against the baseline on the seeds
    where both rounds have the same labeled count. With ``per_class``: the per-class F1 scores instead (GRACE supplement Table 1)."""
    L = table_label_count(res, dataset)
    fused = [m for m in res.metrics(dataset, per_class=True) if res.is_fused(m)]
    metrics = [m for m in fused if ("/" in m) == per_class]
    base = res.options.get("baseline")
    per_seed: dict[str, dict[str, dict[int, float]]] = {}  # strategy -> metric -> seed -> value
    counts: dict[str, dict[int, int]] = {}  # strategy -> seed -> labeled count of the picked round
    rows = []
    for s in res.strategies(dataset, full=True):
        picked = {}
        for seed, rs in sorted(res.rows_of(dataset, s).items()):
            ok = [r for r in rs if s == FULL_DATA or L is None or r["n_labeled"] <= L]
            if ok:
                picked[seed] = ok[-1]
        if not picked:
            continue
        counts[s] = {seed: r["n_labeled"] for seed, r in picked.items()}
        entry: dict[str, Any] = {"strategy": s, "labeled": float(np.mean([r["n_labeled"] for r in picked.values()])),
                                 "seeds": len(picked), "values": {}, "vs_baseline": {}}
        for m in metrics:
            vals = {seed: v for seed, r in picked.items() if (v := metric_value(r, m)) is not None and np.isfinite(v)}
            per_seed.setdefault(s, {})[m] = vals
            entry["values"][m] = _interval(vals) if vals else None
        rows.append(entry)
    for e in rows:
        if e["strategy"] in (base, FULL_DATA) or base not in per_seed:
            continue
        same = {seed for seed, n in counts[e["strategy"]].items() if counts[base].get(seed) == n}  # pair equal budgets only
        for m in metrics:
            mine = {seed: v for seed, v in per_seed[e["strategy"]][m].items() if seed in same}
            test = paired_test(mine, per_seed[base][m], lower=res.lower(m))
            e["vs_baseline"][m] = None if test is None else test.as_dict()
    best = {}
    for m in metrics:
        cand = [e["values"][m]["mean"] for e in rows if e["strategy"] != FULL_DATA and e["values"][m] is not None]
        if cand:
            top = min(cand) if res.lower(m) else max(cand)
            best[m] = [e["strategy"] for e in rows if e["strategy"] != FULL_DATA and e["values"][m] is not None
                       and e["values"][m]["mean"] == top]
    return {"label_count": L, "metrics": metrics, "rows": rows, "best": best, "baseline": base}


def comparisons(res: Results, dataset: str) -> dict[str, dict[str, dict[str, Any]]]:
    """Per fused metric (and the primary one, if it is a head's) and strategy, the baseline
    left out: the paired tests against the baseline on AUBC and at every round, and the
    per-seed labels saved (:func:`.stats.against_baseline`)."""
    base = res.options.get("baseline")
    if base not in res.strategies(dataset):
        return {}
    lps = labels_per_sample(res, dataset)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    prim = res.primary(dataset)
    for m in _fused(res, dataset) + ([prim] if prim and not res.is_fused(prim) else []):
        curves = {s: c for s in res.strategies(dataset) if (c := res.seed_curves(dataset, s, m))}
        per = against_baseline(curves, base, lower=res.lower(m), labels_per_sample=lps)
        out[m] = {s: {"aubc": None if v["aubc"] is None else v["aubc"].as_dict(),
                      "rounds": [{"round": r["round"], "labeled": r["labeled"], **r["test"].as_dict()} for r in v["rounds"]],
                      "saved": v["saved"]} for s, v in per.items()}
    return out


def aubc_table(res: Results, dataset: str) -> dict[str, dict[str, dict[str, Any]]]:
    """Area under the budget curve per strategy and fused metric: each seed's area over its
    rounds, then the mean and 95% CI over seeds."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for s in res.strategies(dataset):
        for m in _fused(res, dataset):
            curves = res.seed_curves(dataset, s, m)
            if curves:
                out.setdefault(s, {})[m] = _interval({seed: aubc(x, y) for seed, (x, y) in curves.items()})
    return out


def query_times(res: Results, dataset: str) -> list[dict[str, Any]]:
    """GRACE supplement Table 3: query and training seconds per cycle, and the whole cell's time."""
    out = []
    for s in res.strategies(dataset):
        q_cycle, t_cycle, overall = [], [], []
        for rows in res.rows_of(dataset, s).values():
            q = [r["query_seconds"] for r in rows if r["round"] >= 1]
            t = [r["train_seconds"] for r in rows]
            if q:
                q_cycle.append(float(np.mean(q)))
            t_cycle.append(float(np.mean(t)))
            overall.append(float(np.sum(q) + np.sum(t)))
        out.append({"strategy": s, "query_per_cycle": mean_std(q_cycle) if q_cycle else (None, None),
                    "train_per_cycle": mean_std(t_cycle), "overall": mean_std(overall), "cycles": max((len(r) - 1 for r in res.rows_of(dataset, s).values()), default=0)})
    return out


def pairwise(res: Results, metric: str) -> dict[str, Any]:
    """BMMAL Fig. 5 over every dataset (setting) that has ``metric``; ``P`` is None (with a
    ``note``) when no paired test would rest on at least 3 seeds."""
    names: list[str] = []
    settings = []
    for d in res.datasets:
        setting = {s: res.by_round(d, s, metric) for s in res.strategies(d)}
        setting = {s: v for s, v in setting.items() if v}
        if setting:
            settings.append(setting)
            names += [s for s in setting if s not in names]
    counts = paired_seed_counts(settings, names)
    out: dict[str, Any] = {"metric": metric, "strategies": names, "settings": len(settings), "confidence": float(res.options["confidence"]),
                           "seeds_min": min(counts, default=0), "seeds_max": max(counts, default=0),
                           "skipped_tests": sum(c < MIN_SEEDS for c in counts), "tests": len(counts), "P": None, "column_average": None}
    if len(names) < 2:
        out["note"] = "it needs at least two strategies"
    elif out["seeds_max"] < MIN_SEEDS:
        out["note"] = f"{seed_note(out['seeds_max'])}: the paired t-tests need at least {MIN_SEEDS} seeds"
    else:
        P = pairwise_matrix(settings, names, confidence=out["confidence"], lower=res.lower(metric))
        out.update(P=P, column_average=column_average(P), note=seed_note(out["seeds_min"]) if out["seeds_min"] >= MIN_SEEDS else None)
    return out


# ----------------------------------------------------------- protocol
def protocol(res: Results) -> dict[str, Any]:
    """What was run, from ``config.json`` (or, without one, from the rows): datasets with their
    size, data seed, train pool and task model, the AL schedule, seeds, strategies with their
    args, the metrics, baseline and the statistics used."""
    record = res.record or {}
    cfg = record.get("config")
    rows_by_d = {d: [r for per in res.cells.get(d, {}).values() for rs in per.values() for r in rs] for d in res.datasets}
    datasets = []
    labels = [d["label"] for d in cfg["datasets"]] if cfg else res.datasets
    for label in labels:
        rows = rows_by_d.get(label, [])
        entry: dict[str, Any] = {"label": label}
        if cfg:
            d = next(x for x in cfg["datasets"] if x["label"] == label)
            entry.update({k: d[k] for k in ("name", "size", "data_seed", "args", "task_model", "model_args", "init", "budget", "rounds", "seeds")})
        elif rows:
            r0 = [r for r in rows if r["round"] == 0 and r["strategy"] != FULL_DATA]
            r1 = [r for r in rows if r["round"] == 1]
            entry.update({"name": rows[0].get("dataset_name", label), "init": min((r["n_labeled"] for r in r0), default=None),
                          "budget": (min(r["n_labeled"] for r in r1) - min(r["n_labeled"] for r in r0)) if r0 and r1 else None,
                          "rounds": max(r["round"] for r in rows), "seeds": sorted({r["seed"] for r in rows})})
        entry["pool_size"] = rows[0].get("pool_size") if rows else None
        entry["task_model_run"] = sorted({r["task_model"] for r in rows if r.get("task_model")})
        entry["task_model_settings"] = next((r["task_model_settings"] for r in rows if r.get("task_model_settings")), None)
        entry["final_labeled"] = max((r["n_labeled"] for r in rows if r["strategy"] != FULL_DATA), default=None)
        entry["primary_metric"] = res.primary(label) if label in res.cells else None
        entry["primary_note"] = res.primary_note(label) if label in res.cells else None
        entry["lower_is_better"] = res.lower(entry["primary_metric"]) if entry["primary_metric"] else None
        entry["labels_per_sample"] = labels_per_sample(res, label) if label in res.cells else None
        datasets.append(entry)
    if cfg:
        strategies = [{"label": s["label"], "name": s["name"], "args": s["args"]} for s in cfg["strategies"]]
    else:
        strategies = [{"label": s, "name": next((r.get("strategy_name", s) for r in res.rows if r.get("strategy") == s), s), "args": None}
                      for s in dict.fromkeys(s for d in res.datasets for s in res.strategies(d))]
    return {"source": "config.json" if cfg else "rows", "config_hash": record.get("config_hash"),
            "name": cfg.get("name") if cfg else None, "description": cfg.get("description") if cfg else None,
            "full_data": cfg.get("full_data") if cfg else any(FULL_DATA in res.cells.get(d, {}) for d in res.datasets),
            "datasets": datasets, "strategies": strategies, "baseline": res.options.get("baseline"),
            "confidence": float(res.options["confidence"]), "ci_level": CI_LEVEL, "alpha": ALPHA,
            "min_seeds": MIN_SEEDS, "reliable_seeds": RELIABLE_SEEDS,
            "versions": next((r["versions"] for r in res.rows if r.get("versions")), None)}


def _args(a: Mapping[str, Any] | None) -> str:
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in a.items()) if a else ""


def protocol_md(p: Mapping[str, Any]) -> str:
    md = ["\n## Protocol\n\n"]
    if p["source"] == "config.json":
        md.append(f"From the run's `config.json` (config `{p['name']}`, hash `{p['config_hash']}`)" + (f": {p['description']}" if p["description"] else "") + ".\n\n")
    else:
        md.append("No `config.json` in the run directory: the protocol below is read from the rows.\n\n")
    header = ["dataset", "source (size, data seed, args)", "train pool", "task model (model args)", "init", "budget × rounds",
              "labeled at end", "seeds"]
    body = []
    for d in p["datasets"]:
        src = d.get("name", "?") + (f" (size {d['size']}, data seed {d['data_seed']}" + (f", {_args(d['args'])}" if d.get("args") else "") + ")"
                                    if "size" in d else "")
        model = ", ".join(d["task_model_run"]) or d.get("task_model") or "the dataset's default"
        model += f" ({_args(d['model_args'])})" if d.get("model_args") else ""
        seeds = d.get("seeds") or []
        body.append([d["label"], src, str(d["pool_size"] if d["pool_size"] is not None else "–"), model, str(d.get("init", "–")),
                     f"{d.get('budget', '–')} × {d.get('rounds', '–')}", str(d["final_labeled"] if d["final_labeled"] is not None else "–"),
                     f"{', '.join(map(str, seeds))} ({len(seeds)})"])
    md.append(_md_table(header, body))
    strategies = ", ".join(f"`{s['label']}`" + (f" = {s['name']}" if s["name"] != s["label"] else "") + (f" ({_args(s['args'])})" if s["args"] else "")
                           for s in p["strategies"])
    md.append("\n- Round 0 labels a random initial pool that is the same for every strategy of a seed (and trains with the same "
              "seed); each round then queries `budget` samples, labels them from the oracle and trains a fresh task model.\n")
    md.append(f"- Strategies: {strategies}. Full-data reference: {'yes' if p['full_data'] else 'no'}.\n")
    for d in p["datasets"]:
        settings = d.get("task_model_settings")
        md.append(f"- {d['label']}: training settings as run: " + (f"`{_args(settings)}`" if settings else
                  "not recorded in the rows (the task model's defaults with the model args above)") + "; primary metric "
                  + (f"`{d['primary_metric']}` ({'lower' if d['lower_is_better'] else 'higher'} is better"
                     + (f"; {d['primary_note']}" if d["primary_note"] else "") + ")" if d["primary_metric"] else "–")
                  + (f"; labels per sample {d['labels_per_sample']:g}" if d["labels_per_sample"] else "") + ".\n")
    md.append(f"- Baseline: `{p['baseline']}`. Intervals: {p['ci_level']:.0%} t-intervals of the mean over seeds "
              f"(mean ± t(0.975, n−1) · sd / √n). Tests against the baseline: two-sided paired t-test over seeds "
              f"(scipy.stats.ttest_rel), significant at p < {p['alpha']:g}; no test below {p['min_seeds']} seeds, a warning "
              f"below {p['reliable_seeds']}. Pairwise matrix (BMMAL Fig. 5): confidence {p['confidence']:g}.\n")
    if p["versions"]:
        md.append("- Software: " + ", ".join(f"{k} {v}" for k, v in p["versions"].items()) + ".\n")
    return "".join(md)


# ------------------------------------------------------------ summary
def _seeds_range(ns: Sequence[int]) -> str:
    ns = sorted(set(ns))
    if not ns:
        return "0 seeds"
    return seeds_word(ns[0]) if len(ns) == 1 else f"{ns[0]}–{ns[-1]} seeds"


def _p(p: float | None) -> str:
    if p is None:
        return "p n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _signed(v: float, digits: int = 4) -> str:
    """``+0.0123`` / ``-0.0123``; a difference that rounds to zero reads ``+0.0000``, never ``-0.0000``."""
    return f"{0.0 if abs(v) < 0.5 * 10 ** -digits else v:+.{digits}f}"


def _diff(d: Mapping[str, Any], digits: int = 4) -> str:
    if d["half_width"] is None:
        return f"{_signed(d['mean'], digits)} (1 seed: no interval)"
    return f"{_signed(d['mean'], digits)} (95% CI {_signed(d['low'], digits)} to {_signed(d['high'], digits)})"


def _ci(d: Mapping[str, Any] | None, digits: int = 4) -> str:
    """``mean ± half-width`` of an interval dict; ``mean (n=1)`` for one seed."""
    if d is None:
        return "–"
    if d["half_width"] is None:
        return f"{d['mean']:.{digits}f} (n=1)"
    return f"{d['mean']:.{digits}f} ± {d['half_width']:.{digits}f}"


def verdict_sentence(name: str, base: str, metric: str, lower: bool, test: Mapping[str, Any] | None) -> str:
    """One strategy against the baseline on AUBC of ``metric``, in words, with its numbers."""
    if test is None:
        return f"**{name}** shares no seed with {base}: not compared."
    v = test["verdict"]
    numbers = (f"AUBC of {metric} ({'lower' if lower else 'higher'} is better) {test['strategy_mean']:.4f} vs {test['baseline_mean']:.4f}, "
               f"difference {_diff(test['diff'])}")
    if v == "untested":
        return (f"**{name}** vs {base}: no significance claim ({test['note']}; at least {MIN_SEEDS} are needed); {numbers}.")
    head = {"beat": f"**{name}** beat {base}", "lost": f"**{name}** lost to {base}",
            "tied": f"**{name}** tied with {base} (no significant difference at p < {ALPHA:g})"}[v]
    warn = f" ({test['note']})" if test["note"] else ""
    return f"{head}: {numbers}, {_p(test['p'])}, paired t-test over {seeds_word(test['n'])}{warn}."


def saved_sentence(base: str, metric: str, saved: Mapping[str, Any] | None) -> str:
    """Per-seed labels saved against the baseline, in words."""
    if saved is None:
        return ""
    n, k = saved["n"], saved["reached"]
    missed = [r for r in saved["per_seed"] if not r["reached"]]
    if k == 0:
        return f"It never reached {base}'s final {metric} on any of the {seeds_word(n)} (no labels saved)."
    s, lab, pct = saved["samples_saved"], saved["labels_saved"], saved["percent_saved"]
    if s["half_width"] is None:
        amount = f"{s['mean']:.1f} samples ({lab['mean']:.0f} labels, {pct['mean']:.1f}%)"
    else:
        amount = (f"{s['mean']:.1f} ± {s['half_width']:.1f} samples ({lab['mean']:.0f} ± {lab['half_width']:.0f} labels, "
                  f"{pct['mean']:.1f} ± {pct['half_width']:.1f}%), mean ± 95% CI")
    text = f"Labels saved to reach {base}'s final {metric} on the same seed: {amount} over the {k} of {seeds_word(n)} that reached it"
    if missed:
        which = f"{seeds_word(len(missed))} ({', '.join(str(r['seed']) for r in missed)})"
        bound = max(r["saved_at_most"] for r in missed)
        text += (f"; on {which} it did not reach it within its budget (it would need more labels than the baseline; left out of the mean)"
                 if bound <= 0 else
                 f"; on {which} it did not reach it before its curve ended (saved fewer than {bound:g} samples there; left out of the mean)")
    return text + "."


def summary(res: Results, comps: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """Per dataset, on the primary metric: each strategy's verdict against the baseline on
    AUBC, its labels saved, the sentences, and a closing line."""
    base = res.options.get("baseline")
    out: dict[str, Any] = {}
    for d in res.datasets:
        m = res.primary(d)
        entry: dict[str, Any] = {"metric": m, "baseline": base, "strategies": [], "lines": []}
        out[d] = entry
        if m is None:
            entry["conclusion"] = "No metric to compare."
            continue
        if base not in res.strategies(d):
            entry["conclusion"] = (f"The baseline `{base}` has no results on this dataset: no comparison "
                                   "(choose another with `mmal report --baseline`).")
            continue
        per = comps.get(d, {}).get(m, {})
        if not per:
            entry["conclusion"] = f"Only {base} ran: nothing to compare."
            continue
        for s, c in per.items():
            test = c["aubc"]
            line = verdict_sentence(s, base, m, res.lower(m), test)
            said = saved_sentence(base, m, c["saved"])
            entry["strategies"].append({"strategy": s, "verdict": test["verdict"] if test else None, "aubc": test, "saved": c["saved"]})
            entry["lines"].append(f"{line} {said}".rstrip())
        tested = [e for e in entry["strategies"] if e["verdict"] not in (None, "untested")]
        ns = _seeds_range([e["aubc"]["n"] for e in entry["strategies"] if e["aubc"]])
        beat = [e["strategy"] for e in tested if e["verdict"] == "beat"]
        lost = [e["strategy"] for e in tested if e["verdict"] == "lost"]
        if not tested:
            entry["conclusion"] = f"No significance claim against {base}: {ns} (at least {MIN_SEEDS} are needed)."
        elif beat:
            entry["conclusion"] = f"Beat {base} at p < {ALPHA:g} on AUBC of {m}: {', '.join(beat)} (over {ns})."
        else:
            entry["conclusion"] = f"No strategy beat {base} at p < {ALPHA:g} over {ns} (AUBC of {m})."
        if lost:
            entry["conclusion"] += f" Lost to {base}: {', '.join(lost)}."
    return out


def summary_md(summ: Mapping[str, Any]) -> str:
    md = ["\n## Summary\n"]
    for d, e in summ.items():
        md.append(f"\n### {d}\n\n" + "".join(f"- {line}\n" for line in e["lines"]) + ("\n" if e["lines"] else "") + f"**{e['conclusion']}**\n")
    return "".join(md)


# ------------------------------------------------------------------ output
def _md_table(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def _csv(header: Sequence[str], body: Sequence[Sequence[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(["" if v is None else v for v in row] for row in body)
    return buf.getvalue()


MARK_BETTER, MARK_WORSE = "*", "†"


def mark(test: Mapping[str, Any] | None) -> str:
    """`` *`` significantly better than the baseline, `` †`` significantly worse, else nothing
    (after a space, so that Markdown never reads the star as emphasis)."""
    m = {"beat": MARK_BETTER, "lost": MARK_WORSE}.get(test["verdict"], "") if test else ""
    return f" {m}" if m else ""


def marks_legend(tests: Sequence[Mapping[str, Any]], base: str) -> str:
    """The line saying what the marks mean and how many seeds they rest on."""
    if not tests:
        return ""
    ns = [t["n"] for t in tests]
    if max(ns) < MIN_SEEDS:
        return f" No significance marks: n/a: {_seeds_range(ns)} (a test against {base} needs at least {MIN_SEEDS})."
    warn = f"; few seeds: p-values are unreliable below {RELIABLE_SEEDS}" if min(ns) < RELIABLE_SEEDS else ""
    return (f" {MARK_BETTER} better / {MARK_WORSE} worse than {base} at p < {ALPHA:g}: two-sided paired t-test over "
            f"{_seeds_range(ns)} (scipy.stats.ttest_rel){warn}.")


def _table_files(res: Results, t: Mapping[str, Any]) -> tuple[list[str], list[list[str]], list[str], list[list[Any]]]:
    header = ["strategy", "labeled", "seeds"] + t["metrics"]
    body, cbody = [], []
    for e in t["rows"]:
        cells, crow = [], []
        for m in t["metrics"]:
            v = e["values"][m]
            c = _ci(v)
            c = f"**{c}**" if e["strategy"] in t["best"].get(m, []) else c
            test = e["vs_baseline"].get(m)
            cells.append(c + mark(test))
            crow += [None, None, None, None] if v is None else [v["mean"], v["sd"], v["half_width"], v["n"]]
            crow += [None if not test else test["p"]]
        label = "Full data" if e["strategy"] == FULL_DATA else e["strategy"]
        body.append([label, f"{e['labeled']:.0f}", str(e["seeds"])] + cells)
        cbody.append([e["strategy"], e["labeled"], e["seeds"]] + crow)
    cheader = ["strategy", "labeled", "seeds"] + [f"{m}_{k}" for m in t["metrics"] for k in ("mean", "std", "ci95_half_width", "n", "p_vs_baseline")]
    return header, body, cheader, cbody


@dataclass
class Report:
    dir: Path
    files: list[Path]
    numbers: dict[str, Any]
    markdown: str


def write_report(run_dir: str | Path, options: Mapping[str, Any] | None = None, *, formats: Sequence[str] = ("png", "svg")) -> Report:
    """Write every table and figure of ``run_dir`` into ``run_dir/report/``."""
    res = load(run_dir, options)
    out = Path(run_dir) / "report"
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    base = res.options.get("baseline")
    comps = {d: comparisons(res, d) for d in res.datasets}
    prot, summ = protocol(res), summary(res, comps)
    numbers: dict[str, Any] = {"options": res.options, "protocol": prot, "summary": summ, "datasets": {}, "pairwise": {}, "failures": []}
    md = [f"# Benchmark report: {Path(run_dir).resolve().name}\n", protocol_md(prot), summary_md(summ)]

    def text(name: str, content: str) -> None:
        path = out / name
        atomic_write_text(path, content)
        files.append(path)

    text("summary.md", summary_md(summ).lstrip("\n"))
    for d in res.datasets:
        ds = slug(d)
        nums: dict[str, Any] = {"vs_baseline": comps[d]}
        md.append(f"\n## {d}\n")
        # Table 1 (and the per-class F1 table of GRACE supplement Table 1, when there is one)
        for per_class, suffix in ((False, ""), (True, "_per_class")):
            t = table(res, d, per_class=per_class)
            if not t["metrics"]:
                continue
            nums["table" + suffix] = t
            header, body, cheader, cbody = _table_files(res, t)
            text(f"table_{ds}{suffix}.md", _md_table(header, body))
            text(f"table_{ds}{suffix}.csv", _csv(cheader, cbody))
            arrows = ", ".join(f"{m} {'↓' if res.lower(m) else '↑'}" for m in t["metrics"])
            what = "Per-class F1" if per_class else "Metrics"
            tests = [x for e in t["rows"] for x in e["vs_baseline"].values() if x]
            md.append(f"\n{what} at {t['label_count']} labeled samples ({arrows}): mean ± half-width of the 95% t-interval over "
                      f"seeds (n=1: one seed, no interval). Bold: best mean per column (full data excluded).{marks_legend(tests, base)}\n\n")
            md.append(_md_table(header, body))
        # learning curves, one figure per metric
        full = res.rows_of(d, FULL_DATA)
        md.append("\n### Learning curves\n\nMean over seeds; the band is the 95% t-interval of the mean (none for one seed).\n\n")
        prim = res.primary(d)
        for m in [m for m in res.metrics(d) if res.is_fused(m) or res.base(m) == prim]:
            curves = {s: c for s in res.strategies(d) if (c := res.curve(d, s, m)) is not None}
            if not curves:
                continue
            ref_vals = [v for rows in full.values() for v in [metric_value(rows[0], m)] if v is not None]
            ref = float(np.mean(ref_vals)) if ref_vals else None
            paths = plots.learning_curves(curves, out / f"curve_{ds}_{slug(m)}", metric=m, title=f"{d}: {m}",
                                          lower=res.lower(m), reference=ref, formats=formats)
            files += paths
            md.append(f"![{m}]({paths[0].name})\n")
        # per-modality panels (BMMAL Fig. 4)
        if prim and res.is_fused(prim):
            heads = [m for m in res.metrics(d) if not res.is_fused(m) and res.base(m) == prim]
            if heads:
                panels = {m: {s: c for s in res.strategies(d) if (c := res.curve(d, s, m)) is not None} for m in [prim] + heads}
                paths = plots.panel_curves(panels, out / f"modality_{ds}_{slug(prim)}", title=f"{d}: fused and per-modality {prim}",
                                           lower=res.lower(prim), formats=formats)
                files += paths
                md.append(f"\n### Per-modality {prim}\n\n![per-modality]({paths[0].name})\n")
        # modality contribution (BMMAL Figs. 2-3)
        for field_name, what in (("contributions", "test set"), ("selection_contributions", "selected samples")):
            per = _contribution_curves(res, d, field_name)
            if per:
                paths = plots.contribution_curves(per, out / f"{field_name}_{ds}", title=f"{d}: modality contribution ({what})", formats=formats)
                files += paths
                nums[field_name] = {s: {m: c[1].mean(0).tolist() for m, c in mods.items()} for s, mods in per.items()}
                md.append(f"\n### Modality contribution ({what})\n\n![contribution]({paths[0].name})\n")
        # round by round against the baseline (primary metric)
        if prim in comps[d] and comps[d][prim]:
            md.append(_rounds_md(res, d, prim, comps[d][prim], text))
        # savings
        if comps[d]:
            nums["savings"] = {"baseline": base, "labels_per_sample": labels_per_sample(res, d),
                               "metrics": {m: {s: c["saved"] for s, c in per.items()} for m, per in comps[d].items()}}
            md.append(_savings_md(res, d, nums["savings"], text))
        # AUBC
        au = aubc_table(res, d)
        if au:
            nums["aubc"] = au
            md.append(_aubc_md(res, d, au, comps[d], text))
        # query time
        qt = query_times(res, d)
        nums["query_time"] = qt
        qheader = ["strategy", "cycles", "query / cycle", "train / cycle", "overall"]
        qbody = [[e["strategy"], str(e["cycles"]), fmt_duration(e["query_per_cycle"][0]) if e["query_per_cycle"][0] is not None else "–",
                  fmt_duration(e["train_per_cycle"][0]), fmt_duration(e["overall"][0])] for e in qt]
        text(f"query_time_{ds}.md", _md_table(qheader, qbody))
        text(f"query_time_{ds}.csv", _csv(["strategy", "cycles", "query_seconds_per_cycle", "train_seconds_per_cycle", "overall_seconds"],
                                          [[e["strategy"], e["cycles"], e["query_per_cycle"][0], e["train_per_cycle"][0], e["overall"][0]] for e in qt]))
        md.append("\n### Time (mean over seeds)\n\n" + _md_table(qheader, qbody))
        numbers["datasets"][d] = nums

    # pairwise matrices over all settings
    prims = {p for d in res.datasets if (p := res.primary(d))}
    pw_metrics = [m for m in dict.fromkeys(m for d in res.datasets for m in res.metrics(d))
                  if m in prims or (not res.is_fused(m) and res.base(m) in prims)]
    for m in pw_metrics:
        pw = pairwise(res, m)
        numbers["pairwise"][m] = {**pw, "P": None if pw["P"] is None else pw["P"].tolist(),
                                  "column_average": None if pw["P"] is None else pw["column_average"].tolist()}
        if pw["P"] is None:
            md.append(f"\n## Pairwise comparison: {m}\n\nNot computed: {pw['note']}.\n")
            continue
        names = pw["strategies"]
        pbody = [[a] + [fmt(v, 2) for v in pw["P"][i]] for i, a in enumerate(names)] + [["column mean"] + [fmt(v, 2) for v in pw["column_average"]]]
        text(f"pairwise_{slug(m)}.md", _md_table(["i beats j"] + names, pbody))
        text(f"pairwise_{slug(m)}.csv", _csv(["strategy"] + names, [[a] + list(pw["P"][i]) for i, a in enumerate(names)] + [["column_mean"] + list(pw["column_average"])]))
        seeds = _seeds_range([pw["seeds_min"], pw["seeds_max"]])
        paths = plots.pairwise_heatmap(pw["P"], pw["column_average"], names, out / f"pairwise_{slug(m)}",
                                       title=f"{m}: times i beats j (paired t-test over {seeds}, {pw['confidence']:g} confidence)",
                                       n_settings=pw["settings"], formats=("png",))
        files += paths
        skipped = (f" {pw['skipped_tests']} of {pw['tests']} paired comparisons had fewer than {MIN_SEEDS} common seeds and were not tested."
                   if pw["skipped_tests"] else "")
        warn = f" {pw['note'][0].upper()}{pw['note'][1:]}." if pw["note"] else ""
        md.append(f"\n## Pairwise comparison: {m}\n\nP[i, j] counts the settings in which strategy i significantly beats j "
                  f"(two-sided paired t-test over seeds per round, confidence {pw['confidence']:g}, each round 1/L); "
                  f"{pw['settings']} setting(s); each test rests on {seeds}.{warn}{skipped}\n\n![pairwise]({paths[0].name})\n\n"
                  + _md_table(["i beats j"] + names, pbody))

    if res.failures:
        numbers["failures"] = [{k: f.get(k) for k in ("cell", "round", "error", "traceback")} for f in res.failures]
        fmd = ["# Failed cells\n"]
        for f in res.failures:
            fmd.append(f"\n## {f['cell']} (round {f['round']})\n\n{f.get('error', '')}\n\n```\n{f.get('traceback', '').rstrip()}\n```\n")
        text("failures.md", "".join(fmd))
        md.append(f"\n## Failed cells ({len(res.failures)})\n\n" + "".join(f"- `{f['cell']}` at round {f['round']}: {f.get('error', '')}\n" for f in res.failures)
                  + "\nTracebacks: [failures.md](failures.md)\n")
    text("report.json", json.dumps(numbers, indent=1, default=_json_default))
    markdown = "".join(md)
    text("report.md", markdown)
    return Report(out, files, numbers, markdown)


def _rounds_md(res: Results, d: str, m: str, per: Mapping[str, Mapping[str, Any]], text: Any) -> str:
    """The paired test against the baseline at every round >= 1, one row per strategy."""
    base = res.options.get("baseline")
    counts = sorted({r["round"]: r["labeled"] for c in per.values() for r in c["rounds"]}.items())
    header = ["strategy"] + [f"{lab:g} labeled" for _, lab in counts]
    body, cbody, tests = [], [], []
    for s, c in per.items():
        by = {r["round"]: r for r in c["rounds"]}
        cells = []
        for rnd, _ in counts:
            r = by.get(rnd)
            if r is None:
                cells.append("–")
                continue
            tests.append(r)
            cells.append(f"{_signed(r['diff']['mean'])} ({_p(r['p']) if r['p'] is not None else 'n/a'}){mark(r)}")
            cbody.append([s, rnd, r["labeled"], r["n"], r["diff"]["mean"], r["diff"]["low"], r["diff"]["high"], r["p"], r["verdict"]])
        body.append([s] + cells)
    ds = slug(d)
    text(f"rounds_{ds}.md", _md_table(header, body))
    text(f"rounds_{ds}.csv", _csv(["strategy", "round", "labeled", "seeds", "diff_mean", "diff_ci95_low", "diff_ci95_high", "p", "verdict"], cbody))
    return (f"\n### Against {base}, round by round ({m})\n\nMean paired difference strategy − {base} of {m} over seeds "
            f"({'lower' if res.lower(m) else 'higher'} is better), and its p-value; round 0 is the shared random start."
            f"{marks_legend(tests, base)}\n\n" + _md_table(header, body))


def _savings_md(res: Results, d: str, sv: Mapping[str, Any], text: Any) -> str:
    base = sv["baseline"]
    header = ["metric", "strategy", "reached", "samples saved", "labels saved", "% saved", "samples needed per seed"]
    body, cbody = [], []
    for m, per in sv["metrics"].items():
        for s, v in per.items():
            if v is None:
                continue
            seeds = ", ".join(f"{r['seed']}: " + (f"{r['samples_needed']:.1f}" if r["reached"] else "not reached") for r in v["per_seed"])
            body.append([m, s, f"{v['reached']} of {v['n']}", _ci(v["samples_saved"], 1), _ci(v["labels_saved"], 1), _ci(v["percent_saved"], 1), seeds])
            cbody += [[m, s, r["seed"], r["target"], r["baseline_samples"], r["samples_needed"], r["samples_saved"], r["labels_saved"],
                       r["percent_saved"], r["reached"], r["saved_at_most"]] for r in v["per_seed"]]
    ds = slug(d)
    text(f"savings_{ds}.md", _md_table(header, body))
    text(f"savings_{ds}.csv", _csv(["metric", "strategy", "seed", "target", "baseline_samples", "samples_needed", "samples_saved",
                                    "labels_saved", "percent_saved", "reached", "saved_at_most"], cbody))
    return (f"\n### Annotation savings against {base}, per seed\n\nFor each seed, the target is {base}'s final value on that seed; "
            f"samples needed is where the strategy's curve of the same seed first reaches it, linearly interpolated between rounds; "
            f"saved = {base}'s final labeled count − needed. Labels = samples × {sv['labels_per_sample']:g} (heads labeled per sample). "
            f"Mean ± half-width of the 95% t-interval over the seeds that reached the target; a seed that never reached it is "
            f"counted as not reached (it would need more labels than {base}) and left out of the mean. {base} itself is not compared.\n\n"
            + _md_table(header, body))


def _aubc_md(res: Results, d: str, au: Mapping[str, Any], comps: Mapping[str, Any], text: Any) -> str:
    base = res.options.get("baseline")
    ms = _fused(res, d)
    body, tests = [], []
    for s, per in au.items():
        cells = []
        for m in ms:
            test = (comps.get(m, {}).get(s) or {}).get("aubc")
            tests += [test] if test else []
            cells.append(_ci(per.get(m)) + mark(test))
        body.append([s] + cells)
    ds = slug(d)
    text(f"aubc_{ds}.csv", _csv(["strategy"] + [f"{m}_{k}" for m in ms for k in ("mean", "std", "ci95_half_width", "n", "p_vs_baseline")],
                                [[s] + [x for m in ms for x in ([per[m]["mean"], per[m]["sd"], per[m]["half_width"], per[m]["n"]] if m in per else [None] * 4)
                                        + [((comps.get(m, {}).get(s) or {}).get("aubc") or {}).get("p")]] for s, per in au.items()]))
    text(f"aubc_{ds}.md", _md_table(["strategy"] + ms, body))
    return ("\n### Area under the budget curve (normalized by the labeled range)\n\nEach seed's trapezoid area of the metric over "
            "its labeled counts divided by the labeled range; mean ± half-width of the 95% t-interval over seeds."
            f"{marks_legend(tests, base)}\n\n" + _md_table(["strategy"] + ms, body))


def _contribution_curves(res: Results, dataset: str, field_name: str) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    out: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for s in res.strategies(dataset):
        per_seed = res.rows_of(dataset, s)
        mods = sorted({m for rows in per_seed.values() for r in rows for m in (r.get(field_name) or {})})
        for mod in mods:
            tables = {seed: {r["round"]: (r["n_labeled"], r[field_name][mod]) for r in rows if (r.get(field_name) or {}).get(mod) is not None}
                      for seed, rows in per_seed.items()}
            tables = {k: v for k, v in tables.items() if v}
            if not tables:
                continue
            rounds = sorted(set.intersection(*(set(t) for t in tables.values())))
            if not rounds:
                continue
            seeds = sorted(tables)
            x = np.array([np.mean([tables[sd][r][0] for sd in seeds]) for r in rounds])
            Y = np.array([[tables[sd][r][1] for r in rounds] for sd in seeds], dtype=np.float64)
            out.setdefault(s, {})[mod] = (x, Y)
    return out


def _json_default(o: Any) -> Any:
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    raise TypeError(type(o).__name__)
