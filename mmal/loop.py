"""The AL cycle: initial labeled set -> train -> query -> label -> repeat (GRACE Sec. 3.1).

Round 0 labels ``init`` samples drawn uniformly with the stream ``(seed, 0, "init")``, the
same for every strategy so they start from one pool. Round ``r >= 1`` queries with the
strategy's stream ``(seed, r, strategy.name)``, labels through the oracle, trains a fresh
model seeded with ``(seed, r, "train")``, and evaluates on the test pool. Every step is a
function of (seed, round), so a loop resumed from a saved :class:`LoopState` selects exactly
what an uninterrupted one would.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .data import Dataset, Oracle
from .errors import ConfigError
from .io import atomic_write_text
from .metrics import evaluate
from .pool import MAIN_HEAD, Pool
from .rng import derive_rng, derive_seed
from .strategy import Strategy


@dataclass
class RoundRecord:
    """What one round did and measured."""

    round: int
    n_labeled: int
    labels_spent: int
    labels_per_head: dict[str, int]
    selected_ids: list[Any]
    query_seconds: float
    train_seconds: float
    metrics: dict[str, float]
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class LoopState:
    """Everything needed to resume a loop: which ids carry which labels, and the history."""

    seed: int
    strategy: str
    labeled_ids: list[Any]
    labels: dict[str, list[float | None]]
    history: list[RoundRecord]

    @property
    def round(self) -> int:
        """The last finished round (-1 before round 0)."""
        return self.history[-1].round if self.history else -1

    def save(self, path: str | Path) -> None:
        """Write the state as JSON, atomically (a crash leaves the old file or the new one)."""
        atomic_write_text(path, json.dumps(asdict(self), default=_json_default))

    @classmethod
    def load(cls, path: str | Path) -> "LoopState":
        raw = json.loads(Path(path).read_text())
        raw["history"] = [RoundRecord(**r) for r in raw["history"]]
        return cls(**raw)


def capture_state(pool: Pool, seed: int, strategy: str, history: list[RoundRecord]) -> LoopState:
    pos = pool.labeled_positions()
    labels = {h: [None if np.isnan(x) else float(x) for x in v[pos]] for h, v in pool.labels.items()}
    return LoopState(seed, strategy, pool.ids[pos].tolist(), labels, list(history))


def run_loop(
    dataset: Dataset,
    strategy: Strategy,
    model_factory: Callable[[], Any],
    *,
    init: int,
    budget: int,
    rounds: int,
    seed: int = 0,
    state: LoopState | None = None,
    on_round: Callable[[RoundRecord, LoopState], None] | None = None,
) -> list[RoundRecord]:
    """Run ``rounds`` query rounds after an initial random labeled set of ``init`` samples.

    ``on_round(record, state)`` is called after every round (round 0 included) with the
    state to save for resuming. Returns the records of rounds 0..rounds (fewer if the pool
    runs out of unlabeled samples).
    """
    check_loop_args(dataset, strategy, init=init, budget=budget, rounds=rounds, seed=seed)
    name = strategy.name or type(strategy).__name__
    tr = dataset.train  # a working copy of the labels and mask; feature arrays (maybe memmaps) shared
    pool = Pool(tr.modalities, tr.task, ids=tr.ids, labels=tr.labels, lengths=tr.lengths, labeled=tr.labeled,
                meta=tr.meta, check_finite=False)
    history: list[RoundRecord] = []
    if state is not None:
        if state.seed != seed or state.strategy != name:
            raise ValueError(f"the saved state is for seed {state.seed} / strategy {state.strategy!r}, not {seed} / {name!r}")
        if state.labeled_ids:
            pool.label(state.labeled_ids, {h: np.array([np.nan if x is None else x for x in v]) for h, v in state.labels.items()})
        history = list(state.history)

    model = None
    if history:
        model = _train(model_factory, pool, seed, history[-1].round)
    else:
        ids = pool.ids[derive_rng(seed, 0, "init").choice(pool.n, size=init, replace=False)]
        record, model = _finish_round(0, ids, dataset.oracle, pool, dataset.test, model_factory, seed, 0.0, {})
        history.append(record)
        _notify(on_round, history, pool, seed, name)

    for r in range(history[-1].round + 1, rounds + 1):
        if pool.n_unlabeled == 0:
            break
        t0 = time.perf_counter()
        selection = strategy.select(model, pool, budget, rng=derive_rng(seed, r, name), round=r)
        query_seconds = time.perf_counter() - t0
        ids = selection.ids(pool)
        info = _jsonable(selection.info, limit=len(ids))
        record, model = _finish_round(r, ids, dataset.oracle, pool, dataset.test, model_factory, seed, query_seconds, info)
        history.append(record)
        _notify(on_round, history, pool, seed, name)
    return history


def _int_arg(name: str, value: Any, minimum: int, fix: str = "") -> None:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"run_loop: {name} must be an int >= {minimum}{fix}, got {value!r} ({type(value).__name__})")


def check_loop_args(dataset: Any, strategy: Any, *, init: Any, budget: Any, rounds: Any, seed: Any) -> None:
    """Raise :class:`ConfigError` (naming the argument) before round 0 unless the loop can run:
    integer ``init`` / ``budget`` / ``rounds`` / ``seed`` in range, a Strategy, and a test
    pool with samples and ``M`` labels to evaluate on (else every metric would be empty)."""
    if not isinstance(dataset, Dataset):
        raise ConfigError(f"run_loop: dataset must be a mmal.Dataset (mmal.datasets.get(...)), got {type(dataset).__name__}")
    if not isinstance(strategy, Strategy):
        raise ConfigError(f"run_loop: strategy must be a mmal.Strategy (mmal.strategies.get(...)), got {type(strategy).__name__}")
    _int_arg("init", init, 1, f" (at most the train pool's {dataset.train.n} samples)")
    if init > dataset.train.n:
        raise ConfigError(f"run_loop: init={init} is more than the train pool's {dataset.train.n} samples; lower init")
    _int_arg("budget", budget, 1)
    _int_arg("rounds", rounds, 0)
    _int_arg("seed", seed, 0)
    test = dataset.test
    if test.n == 0:
        raise ConfigError(f"run_loop: dataset {dataset.name!r} has an empty test pool; metrics need test samples")
    if np.isnan(test.labels[MAIN_HEAD]).all():
        raise ConfigError(f"run_loop: dataset {dataset.name!r}'s test pool has no {MAIN_HEAD!r} labels to evaluate against")


def _train(model_factory: Callable[[], Any], pool: Pool, seed: int, r: int) -> Any:
    model = model_factory()
    model.fit(pool, seed=derive_seed(seed, r, "train"))
    return model


def _finish_round(
    r: int, ids: np.ndarray, oracle: Oracle, pool: Pool, test: Pool, model_factory: Callable[[], Any],
    seed: int, query_seconds: float, info: dict[str, Any],
) -> tuple[RoundRecord, Any]:
    pool.label(ids, oracle(ids))
    t0 = time.perf_counter()
    model = _train(model_factory, pool, seed, r)
    train_seconds = time.perf_counter() - t0
    metrics = evaluate(test.task, test.labels, model.predict(test))
    cost = pool.label_cost()
    record = RoundRecord(r, pool.n_labeled, sum(cost.values()), cost, ids.tolist(), query_seconds, train_seconds, metrics, info)
    return record, model


def _notify(on_round, history, pool, seed, name) -> None:
    if on_round is not None:
        on_round(history[-1], capture_state(pool, seed, name, history))


def _jsonable(info: dict[str, Any], limit: int) -> dict[str, Any]:
    """Keep the JSON-able parts of a Selection's info; arrays longer than ``limit`` are dropped."""
    out: dict[str, Any] = {}
    for k, v in info.items():
        if isinstance(v, np.ndarray):
            if v.size <= limit:
                out[k] = v.tolist()
        elif isinstance(v, (np.floating, np.integer)):
            out[k] = v.item()
        elif isinstance(v, (int, float, str, bool)) or v is None:
            out[k] = v
        elif isinstance(v, dict):
            out[k] = _jsonable(v, limit)
        elif isinstance(v, (list, tuple)) and len(v) <= limit:
            out[k] = [x.item() if isinstance(x, (np.floating, np.integer)) else x for x in v]
    return out


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")
