"""The benchmark harness: a grid of strategies x seeds on one dataset, results as JSONL.

Each finished round is appended to ``results.jsonl`` at once, so an interrupted run keeps
every finished round.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..io import append_line
from ..loop import run_loop
from ..plugins import datasets, strategies, task_models


@dataclass
class BenchConfig:
    strategies: list[str]
    dataset: str = "toy"
    size: str = "tiny"
    seeds: list[int] = field(default_factory=lambda: [0])
    rounds: int = 3
    init: int = 20
    budget: int = 10
    task_model: str | None = None
    dataset_args: dict[str, Any] = field(default_factory=dict)
    strategy_args: dict[str, dict[str, Any]] = field(default_factory=dict)
    model_args: dict[str, Any] = field(default_factory=dict)


def versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in ("mmal", "numpy", "torch", "scikit-learn"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def run_bench(config: BenchConfig, out_dir: str | Path, *, log: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Run every (strategy, seed) cell; append each round to ``out_dir/results.jsonl``."""
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    for name in config.strategies:  # fail fast on unknown names, before any work
        strategies.entry(name)
    out = Path(out_dir)
    store = out / "results.jsonl"
    rows: list[dict[str, Any]] = []
    env = versions()
    for seed in config.seeds:
        ds = datasets.get(config.dataset, size=config.size, seed=seed, **config.dataset_args)
        model_name = config.task_model or ds.default_task_model
        task_models.entry(model_name)
        for name in config.strategies:
            strategy = strategies.get(name, **config.strategy_args.get(name, {}))
            t0 = time.perf_counter()

            def on_round(rec, state, name=name, seed=seed):
                row = {"dataset": config.dataset, "size": config.size, "task_model": model_name,
                       "strategy": name, "seed": seed, **asdict(rec), "versions": env}
                append_line(store, json.dumps(row))
                rows.append(row)
                main = next(iter(rec.metrics.items()), ("-", float("nan")))
                log(f"[{name} seed={seed}] round {rec.round}: {rec.n_labeled} labeled, "
                    f"{main[0]}={main[1]:.4f}, query {rec.query_seconds:.2f}s")

            run_loop(ds, strategy, lambda: task_models.get(model_name, **config.model_args), init=config.init,
                     budget=config.budget, rounds=config.rounds, seed=seed, on_round=on_round)
            log(f"[{name} seed={seed}] done in {time.perf_counter() - t0:.1f}s")
    return rows


def summary_table(rows: list[dict[str, Any]]) -> str:
    """Final-round metrics per strategy, mean over seeds, as a Markdown table."""
    final: dict[str, dict[int, dict[str, Any]]] = {}
    for r in rows:
        cur = final.setdefault(r["strategy"], {})
        if r["seed"] not in cur or r["round"] > cur[r["seed"]]["round"]:
            cur[r["seed"]] = r
    metrics = sorted({m for per in final.values() for r in per.values() for m in r["metrics"]})
    lines = ["| strategy | labeled | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 2) + "|"]
    for name, per in final.items():
        vals = [sum(r["metrics"].get(m, float("nan")) for r in per.values()) / len(per) for m in metrics]
        labeled = sum(r["n_labeled"] for r in per.values()) / len(per)
        lines.append(f"| {name} | {labeled:.0f} | " + " | ".join(f"{v:.4f}" for v in vals) + " |")
    return "\n".join(lines)
