"""``mmal report RUN_DIR``: the tables and figures the papers show, from a results store.

Per dataset: a GRACE Table-1-style table (mean +- std over seeds at one labeled count),
learning curves per metric (PNG + SVG), per-modality curves (BMMAL Fig. 4), annotation
savings against the baseline (GRACE Sec. 4.2), area under the budget curve, query time
(GRACE supplement Table 3) and modality contribution over rounds (BMMAL Figs. 2-3); over
all datasets, the pairwise t-test matrix (BMMAL Fig. 5). Failed cells are listed with their
tracebacks. Everything lands in ``RUN_DIR/report/`` with ``report.md`` as the index and
``report.json`` holding the numbers.
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
from .stats import aubc, column_average, lower_is_better, mean_std, pairwise_matrix, savings
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
        names = self.metrics(dataset)
        chosen = self.options.get("metric")
        if chosen:
            return chosen if chosen in names else None
        for m in ("acc", "mae"):
            if m in names:
                return m
        return names[0] if names else None

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
    return Results(rows, opts, failures, order)


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


def table(res: Results, dataset: str, *, per_class: bool = False) -> dict[str, Any]:
    """GRACE Table 1: per strategy and fused metric, mean and std over seeds at ``label_count``
    labeled samples (the last round with at most that many when no round hits it exactly).
    With ``per_class``: the per-class F1 scores instead (GRACE supplement Table 1)."""
    L = table_label_count(res, dataset)
    fused = [m for m in res.metrics(dataset, per_class=True) if res.is_fused(m)]
    metrics = [m for m in fused if ("/" in m) == per_class]
    rows = []
    for s in res.strategies(dataset, full=True):
        picked = []
        for seed, rs in sorted(res.rows_of(dataset, s).items()):
            ok = [r for r in rs if s == FULL_DATA or L is None or r["n_labeled"] <= L]
            if ok:
                picked.append(ok[-1])
        if not picked:
            continue
        entry: dict[str, Any] = {"strategy": s, "labeled": float(np.mean([r["n_labeled"] for r in picked])), "seeds": len(picked), "values": {}}
        for m in metrics:
            vals = [v for v in (metric_value(r, m) for r in picked) if v is not None and np.isfinite(v)]
            entry["values"][m] = mean_std(vals) if vals else (None, None)
        rows.append(entry)
    best = {}
    for m in metrics:
        cand = [(e["values"][m][0], e["strategy"]) for e in rows if e["strategy"] != FULL_DATA and e["values"][m][0] is not None]
        if cand:
            best[m] = (min if res.lower(m) else max)(cand)[1]
    return {"label_count": L, "metrics": metrics, "rows": rows, "best": best}


def savings_table(res: Results, dataset: str) -> dict[str, Any] | None:
    """Annotation savings against the baseline's final metric, per fused metric and strategy."""
    base = res.options.get("baseline")
    if base not in res.strategies(dataset):
        return None
    out: dict[str, Any] = {}
    base_rows = res.rows_of(dataset, base)
    finals = [rows[-1] for rows in base_rows.values()]
    per_sample = float(np.mean([r["labels_spent"] / r["n_labeled"] for r in finals]))
    for m in [m for m in res.metrics(dataset) if res.is_fused(m)]:
        curves = {}
        for s in res.strategies(dataset):
            c = res.curve(dataset, s, m)
            if c is not None:
                curves[s] = (c[0], c[1].mean(0))
        if base in curves:
            out[m] = savings(curves, base, lower=res.lower(m), labels_per_sample=per_sample)
    return {"baseline": base, "labels_per_sample": per_sample, "metrics": out}


def aubc_table(res: Results, dataset: str) -> dict[str, dict[str, tuple[float, float | None]]]:
    """Area under the budget curve per strategy and fused metric: mean and std over seeds."""
    out: dict[str, dict[str, tuple[float, float | None]]] = {}
    for s in res.strategies(dataset):
        for m in [m for m in res.metrics(dataset) if res.is_fused(m)]:
            c = res.curve(dataset, s, m)
            if c is not None:
                out.setdefault(s, {})[m] = mean_std([aubc(c[0], y) for y in c[1]])
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


def pairwise(res: Results, metric: str) -> dict[str, Any] | None:
    """BMMAL Fig. 5 over every dataset (setting) that has ``metric``."""
    names: list[str] = []
    settings = []
    for d in res.datasets:
        setting = {s: res.by_round(d, s, metric) for s in res.strategies(d)}
        setting = {s: v for s, v in setting.items() if v}
        if setting:
            settings.append(setting)
            names += [s for s in setting if s not in names]
    most_seeds = max((len(v) for st in settings for per in st.values() for v in per.values()), default=0)
    if len(names) < 2 or most_seeds < 2:
        return None  # a paired t-test needs two strategies and two seeds
    P = pairwise_matrix(settings, names, confidence=float(res.options["confidence"]), lower=res.lower(metric))
    return {"metric": metric, "strategies": names, "P": P, "column_average": column_average(P), "settings": len(settings),
            "confidence": float(res.options["confidence"])}


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


def _pm(mean: float | None, std: float | None, digits: int = 4) -> str:
    if mean is None:
        return "–"
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if std is not None else f"{mean:.{digits}f} (n=1)"


def _table_files(res: Results, t: Mapping[str, Any]) -> tuple[list[str], list[list[str]], list[str], list[list[Any]]]:
    header = ["strategy", "labeled", "seeds"] + t["metrics"]
    body, cbody = [], []
    for e in t["rows"]:
        cells = []
        for m in t["metrics"]:
            c = _pm(*e["values"][m])
            cells.append(f"**{c}**" if t["best"].get(m) == e["strategy"] else c)
        label = "Full data" if e["strategy"] == FULL_DATA else e["strategy"]
        body.append([label, f"{e['labeled']:.0f}", str(e["seeds"])] + cells)
        cbody.append([e["strategy"], e["labeled"], e["seeds"]] + [x for m in t["metrics"] for x in e["values"][m]])
    cheader = ["strategy", "labeled", "seeds"] + [f"{m}_{k}" for m in t["metrics"] for k in ("mean", "std")]
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
    numbers: dict[str, Any] = {"options": res.options, "datasets": {}, "pairwise": {}, "failures": []}
    md = [f"# Benchmark report: {Path(run_dir).resolve().name}\n"]

    def text(name: str, content: str) -> None:
        path = out / name
        atomic_write_text(path, content)
        files.append(path)

    for d in res.datasets:
        ds = slug(d)
        nums: dict[str, Any] = {}
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
            md.append(f"\n{what} at {t['label_count']} labeled samples, mean ± std over seeds ({arrows}; best in bold).\n\n")
            md.append(_md_table(header, body))
        # learning curves, one figure per metric
        full = res.rows_of(d, FULL_DATA)
        md.append("\n### Learning curves\n\n")
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
        # savings
        sv = savings_table(res, d)
        if sv:
            nums["savings"] = sv
            sheader = ["metric", "strategy", "target", "samples needed", "samples saved", "labels saved", "% saved"]
            sbody = []
            for m, per in sv["metrics"].items():
                for s, v in per.items():
                    sbody.append([m, s, fmt(v["target"]), fmt(v["samples_needed"], 1) if v["samples_needed"] is not None else "not reached",
                                  fmt(v["samples_saved"], 1), fmt(v["labels_saved"], 1), fmt(v["percent_saved"], 1)])
            text(f"savings_{ds}.md", _md_table(sheader, sbody))
            text(f"savings_{ds}.csv", _csv(["metric", "strategy", "target", "samples_needed", "samples_saved", "labels_saved", "percent_saved"],
                                           [[m, s, v["target"], v["samples_needed"], v["samples_saved"], v["labels_saved"], v["percent_saved"]]
                                            for m, per in sv["metrics"].items() for s, v in per.items()]))
            md.append(f"\n### Annotation savings against {sv['baseline']}'s final metric\n\n"
                      f"Labels per sample: {sv['labels_per_sample']:g} (heads labeled). Samples needed are interpolated between rounds.\n\n")
            md.append(_md_table(sheader, sbody))
        # AUBC
        au = aubc_table(res, d)
        if au:
            nums["aubc"] = au
            ms = [m for m in res.metrics(d) if res.is_fused(m)]
            text(f"aubc_{ds}.csv", _csv(["strategy"] + [f"{m}_{k}" for m in ms for k in ("mean", "std")],
                                        [[s] + [x for m in ms for x in per.get(m, (None, None))] for s, per in au.items()]))
            abody = [[s] + [_pm(*per.get(m, (None, None))) for m in ms] for s, per in au.items()]
            text(f"aubc_{ds}.md", _md_table(["strategy"] + ms, abody))
            md.append("\n### Area under the budget curve (normalized by the labeled range)\n\n" + _md_table(["strategy"] + ms, abody))
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
        if pw is None:
            md.append(f"\n## Pairwise comparison: {m}\n\nNot computed: it needs at least two strategies and two seeds.\n")
            continue
        numbers["pairwise"][m] = {**pw, "P": pw["P"].tolist(), "column_average": pw["column_average"].tolist()}
        names = pw["strategies"]
        pbody = [[a] + [fmt(v, 2) for v in pw["P"][i]] for i, a in enumerate(names)] + [["column mean"] + [fmt(v, 2) for v in pw["column_average"]]]
        text(f"pairwise_{slug(m)}.md", _md_table(["i beats j"] + names, pbody))
        text(f"pairwise_{slug(m)}.csv", _csv(["strategy"] + names, [[a] + list(pw["P"][i]) for i, a in enumerate(names)] + [["column_mean"] + list(pw["column_average"])]))
        paths = plots.pairwise_heatmap(pw["P"], pw["column_average"], names, out / f"pairwise_{slug(m)}",
                                       title=f"{m}: times i beats j (paired t-test, {pw['confidence']:g} confidence)", n_settings=pw["settings"],
                                       formats=("png",))
        files += paths
        md.append(f"\n## Pairwise comparison: {m}\n\nP[i, j] counts the settings in which strategy i significantly beats j "
                  f"(two-sided paired t-test over seeds per round, confidence {pw['confidence']:g}, each round 1/L); "
                  f"{pw['settings']} setting(s).\n\n![pairwise]({paths[0].name})\n\n" + _md_table(["i beats j"] + names, pbody))

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
