"""The grid: one independent cell per dataset x strategy x seed, each resumable.

A cell is a plain dict (a *spec*, picklable for process and Ray workers). :func:`run_cell`
rebuilds the cell's :class:`mmal.loop.LoopState` from its finished rows (labels come back
from the dataset's oracle) and lets :func:`mmal.loop.run_loop` continue from there, so a
resumed cell selects exactly what an uninterrupted one would. Every finished round is sent
out as a row at once; an exception ends the cell with a ``failed`` row and its traceback.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import platform
import socket
import time
import traceback
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from ..data import Dataset
from ..errors import ConfigError, MMALError
from ..loop import LoopState, RoundRecord, run_loop
from ..plugins import datasets, param_problems, strategies, task_models
from ..pool import Pool, Task
from ..rng import derive_seed
from .config import FULL_DATA, cell_hash, config_hash
from .measure import modality_contributions, model_heads, selection_contributions, split_metrics

Emit = Callable[[tuple], None]
_DISTS = ("multimodal-al", "numpy", "scipy", "scikit-learn", "torch", "transformers", "faiss-cpu", "ray")


def build_cells(cfg: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every cell of the grid, in run order (dataset, seed, then strategy)."""
    h = config_hash(cfg)
    cells = []
    for d in cfg["datasets"]:
        dataset = {k: d[k] for k in ("name", "label", "size", "data_seed", "args", "task_model", "model_args")}
        for seed in d["seeds"]:
            entries = ([{"name": FULL_DATA, "label": FULL_DATA, "args": {}}] if cfg["full_data"] else []) + list(cfg["strategies"])
            for s in entries:
                kind = "full" if s["label"] == FULL_DATA else "al"
                spec = {
                    "kind": kind, "dataset": dataset, "strategy": dict(s), "seed": seed,
                    "init": d["init"], "budget": d["budget"], "rounds": 0 if kind == "full" else d["rounds"],
                    "contributions": cfg["contributions"], "config_hash": h,
                    "key": f"{d['label']}/{s['label']}/{seed}",
                }
                spec["cell_hash"] = cell_hash(spec)
                cells.append(spec)
    return cells


# ------------------------------------------------------------------ pre-flight
def preflight(cfg: Mapping[str, Any]) -> None:
    """Check every cell before any data is built or model trained; one :class:`ConfigError`
    lists every problem. Per dataset: its name, arguments (names, types, ``path`` exists),
    ``size`` and ``init`` (from the factory's ``sizes``: train samples per named size), its task
    model and arguments, and that model's tasks. Per cell: the strategy and its arguments, and
    ``strategy.check`` (task kind, capabilities) against the constructed model. The dataset's
    task comes from its ``task`` argument, its registration's ``task=``, or the factory's
    default; where none says it (a generic folder), the task checks wait for the data."""
    problems: list[str] = []
    built: dict[str, Any] = {}
    for s in cfg["strategies"]:
        try:
            built[s["label"]] = strategies.get(s["name"], **s["args"])
        except MMALError as exc:
            problems.append(f"strategy {s['label']!r}: {exc}")
    for d in cfg["datasets"]:
        where = f"dataset {d['label']!r}"
        try:
            entry = datasets.entry(d["name"])
            factory = entry.load()
        except MMALError as exc:
            problems.append(f"{where}: {exc}")
            continue
        problems += [f"{where}: args: {p}" for p in param_problems(factory, d["args"], reserved=("size", "seed"))]
        path = d["args"].get("path")
        if isinstance(path, str) and not Path(path).exists():
            problems.append(f"{where}: args.path {path!r} does not exist")
        n_train = _train_size(factory, d["size"], where, problems)
        if n_train is not None and d["init"] > n_train:
            problems.append(f"{where}: init={d['init']} is more than its {n_train} train samples (size={d['size']!r}); "
                            "lower init or raise size")
        kind = _dataset_task(entry, factory, d["args"])
        model_name = (d["task_model"] or entry.meta.get(f"default_task_model_{kind}") or entry.meta.get("default_task_model")
                      or Dataset.default_task_model)
        model = None
        try:
            model = task_models.get(model_name, **d["model_args"])
        except MMALError as exc:
            problems.append(f"{where}: task model: {exc}")
        if model is not None:
            model_tasks = getattr(model, "tasks", None) or _meta_set(task_models.entry(model_name).meta, "tasks")
            if kind and model_tasks and kind not in model_tasks:
                problems.append(f"{where}: task model {model_name!r} supports {sorted(model_tasks)} tasks, not this "
                                f"dataset's {kind!r}; set datasets.*.task_model")
                model = None
        if kind is None:
            continue
        stand_in = Pool({"x": np.zeros((1, 1), np.float32)}, Task(kind, n_classes=2 if kind == "classification" else None))
        seeds = ", ".join(map(str, d["seeds"]))
        for s in cfg["strategies"]:
            strategy = built.get(s["label"])
            if strategy is None:
                continue
            try:
                if model is not None:
                    strategy.check(model, stand_in)
                elif kind not in strategy.tasks:  # no model to check against: the task kind at least
                    raise ConfigError(f"strategy {s['name']!r} supports {sorted(strategy.tasks)} tasks, but the "
                                      f"dataset's task is {kind!r}")
            except MMALError as exc:
                problems.append(f"cells {d['label']}/{s['label']}/{{{seeds}}}: {exc}")
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(f"the bench's pre-flight found {len(problems)} problem(s); nothing was built or trained:\n{lines}")


def _meta_set(meta: Mapping[str, Any], key: str) -> set[str]:
    return {t.strip() for t in str(meta.get(key, "")).split(",") if t.strip()}


def _dataset_task(entry: Any, factory: Any, args: Mapping[str, Any]) -> str | None:
    if isinstance(args.get("task"), str):
        return args["task"]
    if entry.meta.get("task"):
        return str(entry.meta["task"])
    try:
        default = inspect.signature(factory).parameters.get("task")
    except (TypeError, ValueError):
        return None
    return default.default if default is not None and isinstance(default.default, str) else None


def _train_size(factory: Any, size: Any, where: str, problems: list[str]) -> int | None:
    """Train samples of ``size`` from the factory's ``sizes`` (an int size is that many, at most)."""
    sizes = getattr(factory, "sizes", None)
    if isinstance(size, int) and not isinstance(size, bool):
        if size < 1:
            problems.append(f"{where}: size must be a positive int or a size name, got {size}")
            return None
        return size
    if isinstance(sizes, Mapping):
        if size not in sizes:
            problems.append(f"{where}: size {size!r} is not one of {sorted(sizes)} (or a positive int)")
            return None
        return sizes[size]
    return None


@functools.lru_cache(maxsize=1)
def _versions() -> tuple[tuple[str, str], ...]:
    out = {"python": platform.python_version()}
    for dist in _DISTS:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return tuple(out.items())


def versions() -> dict[str, str]:
    """Python and the versions of the packages that can change results."""
    return dict(_versions())


def plugin_versions(strategy: str | None, task_model: str | None, dataset: str | None) -> dict[str, dict[str, Any]]:
    """The plugin, distribution and version that provided the cell's strategy, task model and
    dataset (a row's ``plugins``); a name no plugin registers (the full-data reference) is left out."""
    out = {}
    for kind, registry, name in (("strategy", strategies, strategy), ("task_model", task_models, task_model),
                                 ("dataset", datasets, dataset)):
        e = registry.plugins.entries(registry.kind).get(name) if name is not None else None
        if e is not None:
            out[kind] = {"name": name, "plugin": e.plugin, "dist": e.dist, "version": e.version}
    return out


_DATASETS: dict[str, Any] = {}


def load_dataset(d: Mapping[str, Any]) -> Any:
    """The cell's dataset, built once per process (cells of one dataset share it read-only)."""
    key = json.dumps({k: d[k] for k in ("name", "size", "data_seed", "args")}, sort_keys=True)
    if key not in _DATASETS:
        if len(_DATASETS) >= 2:
            _DATASETS.clear()
        _DATASETS[key] = datasets.get(d["name"], size=d["size"], seed=d["data_seed"], **d["args"])
    return _DATASETS[key]


def clear_cache() -> None:
    _DATASETS.clear()


def rebuild_state(dataset: Any, seed: int, strategy: str, rows: list[Mapping[str, Any]]) -> LoopState | None:
    """The LoopState after the given finished rows (rounds 0..k in order), labels from the oracle."""
    if not rows:
        return None
    ids: list[Any] = [i for r in rows for i in r["selected_ids"]]
    answers = dataset.oracle(ids)
    labels = {h: [None if np.isnan(x) else float(x) for x in np.asarray(v, dtype=np.float64)] for h, v in answers.items()}
    history = [
        RoundRecord(
            round=r["round"], n_labeled=r["n_labeled"], labels_spent=r["labels_spent"],
            labels_per_head=r["labels_per_head"], selected_ids=r["selected_ids"],
            query_seconds=r["query_seconds"], train_seconds=r["train_seconds"],
            metrics={**r["metrics"], **{f"{h}/{k}": v for h, m in r["modality_metrics"].items() for k, v in m.items()}},
            info=r.get("info", {}),
        )
        for r in rows
    ]
    return LoopState(seed, strategy, ids, labels, history)


def consecutive(rows: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The finished rows 0, 1, ..., k without a gap (a gap would mean a damaged store)."""
    out = []
    for expected, r in enumerate(rows):
        if r["round"] != expected:
            break
        out.append(r)
    return out


def run_cell(spec: Mapping[str, Any], prior: list[Mapping[str, Any]], emit: Emit) -> int:
    """Run (or finish) one cell; send ``("start", key, n_prior)``, a ``("row", row)`` per
    finished round (or failure), then ``("end", key)``.

    Returns how many messages were sent, so an executor can wait until all have arrived.
    """
    sent = 0

    def send(msg: tuple) -> None:
        nonlocal sent
        emit(msg)
        sent += 1

    prior = consecutive(sorted(prior, key=lambda r: r["round"]))
    send(("start", spec["key"], len(prior)))
    base = {
        "config_hash": spec["config_hash"], "cell_hash": spec["cell_hash"], "cell": spec["key"],
        "dataset": spec["dataset"]["label"], "dataset_name": spec["dataset"]["name"],
        "strategy": spec["strategy"]["label"], "strategy_name": spec["strategy"]["name"], "seed": spec["seed"],
    }
    env = versions()
    last = prior[-1]["round"] if prior else -1
    try:
        dataset = load_dataset(spec["dataset"])
        model_name = spec["dataset"]["task_model"] or dataset.default_task_model
        latest: list[Any] = []

        def factory() -> Any:  # keeps the newest model: the one the round just trained
            model = task_models.get(model_name, **spec["dataset"]["model_args"])
            latest[:] = [model]
            return model

        def row_of(rec: RoundRecord, pool_n: int) -> dict[str, Any]:
            model = latest[0]
            fused, per_head = split_metrics(rec.metrics, model_heads(model, dataset.test))
            contrib, contrib_error = None, None
            if spec["contributions"] in (True, "auto"):
                try:  # a measurement for the report: its failure must not fail the cell
                    contrib = modality_contributions(model, dataset.test)
                except Exception as exc:
                    contrib_error = f"{type(exc).__name__}: {exc}"
            return {
                **base, "status": "ok", "round": rec.round, "n_labeled": rec.n_labeled, "pool_size": pool_n,
                "labels_spent": rec.labels_spent, "labels_per_head": rec.labels_per_head,
                "selected_ids": rec.selected_ids, "metrics": fused, "modality_metrics": per_head,
                "contributions": contrib, **({"contributions_error": contrib_error} if contrib_error else {}),
                "selection_contributions": selection_contributions(rec.info),
                "query_seconds": rec.query_seconds, "train_seconds": rec.train_seconds, "info": rec.info,
                "task_model": model_name, "versions": env,
                "plugins": plugin_versions(spec["strategy"]["name"], model_name, spec["dataset"]["name"]),
                "time": time.time(), "host": socket.gethostname(), "pid": os.getpid(),
            }

        n_train = dataset.train.n
        if spec["kind"] == "full":
            if not prior:
                rec = _full_data_round(dataset, factory, spec["seed"])
                send(("row", row_of(rec, n_train)))
                last = 0
        elif last < spec["rounds"] and not (prior and prior[-1]["n_labeled"] >= n_train):
            name = spec["strategy"]["name"]
            strategy = strategies.get(name, **spec["strategy"]["args"])
            state = rebuild_state(dataset, spec["seed"], name, prior)

            def on_round(rec: RoundRecord, _state: LoopState) -> None:
                nonlocal last
                send(("row", row_of(rec, n_train)))
                last = rec.round

            run_loop(dataset, strategy, factory, init=spec["init"], budget=spec["budget"], rounds=spec["rounds"],
                     seed=spec["seed"], state=state, on_round=on_round)
    except Exception as exc:  # the cell fails; the grid goes on
        send(("row", {**base, "status": "failed", "round": last + 1, "error": f"{type(exc).__name__}: {exc}",
                      "traceback": traceback.format_exc(), "versions": env,
                      "plugins": plugin_versions(spec["strategy"]["name"], spec["dataset"]["task_model"], spec["dataset"]["name"]),
                      "time": time.time()}))
    send(("end", spec["key"]))
    return sent


def _full_data_round(dataset: Any, factory: Callable[[], Any], seed: int) -> RoundRecord:
    """The "Full data" reference: label the whole training set, train once, evaluate."""
    from ..metrics import evaluate

    pool: Pool = dataset.train.take(np.arange(dataset.train.n))
    ids = pool.ids
    pool.label(ids, dataset.oracle(ids))
    t0 = time.perf_counter()
    model = factory()
    model.fit(pool, seed=derive_seed(seed, 0, "train"))
    train_seconds = time.perf_counter() - t0
    metrics = evaluate(dataset.test.task, dataset.test.labels, model.predict(dataset.test))
    cost = pool.label_cost()
    return RoundRecord(0, pool.n_labeled, sum(cost.values()), cost, [], 0.0, train_seconds, metrics, {})
