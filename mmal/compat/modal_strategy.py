"""modAL query functions as mmal strategies (``from_modal``), for ``run_loop`` and ``mmal bench``.

The modAL function is called as ``query_fn(classifier, X, n_instances=budget, **kwargs)`` with
``X = pool_X(pool, unlabeled positions)`` and ``classifier`` the fitted task model as an
:class:`~mmal.compat.estimator.MMALEstimator` (``predict`` / ``predict_proba`` of the fused head).
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from ..errors import CapabilityError, ContractError
from ..extras import require
from ..pool import Pool
from ..strategy import ALL_TASKS, Selection, Strategy
from .estimator import MMALEstimator
from .positions import pool_X


class ModalStrategy(Strategy):
    """An mmal Strategy that runs a modAL query function on the fused head (see :func:`from_modal`).

    The modAL function is called as ``query_fn(classifier, X, n_instances=budget, **kwargs)``
    with ``X = pool_X(pool, unlabeled positions)`` and ``classifier`` the fitted task model as
    an :class:`MMALEstimator` (``predict`` / ``predict_proba`` of the fused head). modAL's
    global ``np.random`` draws (``random_tie_break``) run under a seed drawn from ``rng`` and
    the global state is restored afterwards (not thread-safe). Scores are modAL's metric,
    negated when ``higher_is_better`` is False, sorted best first; the raw metric is in
    ``info["modal_metric"]``.
    """

    query_fn: Any = None
    higher_is_better: bool = True
    fixed_kwargs: dict[str, Any] = {}
    tasks = frozenset({"classification"})

    def __init__(self, **fn_kwargs: Any) -> None:
        self.fn_kwargs = {**self.fixed_kwargs, **fn_kwargs}

    @classmethod
    def function(cls) -> Callable[..., Any]:
        """The modAL query function (a ``"module:function"`` target is imported now)."""
        fn = cls.query_fn
        if isinstance(fn, str):
            module, _, attr = fn.partition(":")
            fn = getattr(require(module, f"the modAL query function {fn!r}"), attr)
        return fn

    def check(self, model: Any, pool: Pool) -> None:
        super().check(model, pool)
        if model is None:
            raise CapabilityError(f"{self.label} scores samples with a fitted task model's predictions; got model=None")
        # import modAL now, before select fingerprints the global random state: its import chain
        # (scikit-learn -> rich) draws from Python's `random` once, which is not the strategy's draw
        self.function()

    def query(self, model: Any, pool: Pool, budget: int, *, rng: np.random.Generator, round: int) -> Selection:
        fn = self.function()
        cand = pool.unlabeled_positions()
        with _seeded_global_numpy(rng):
            out = fn(MMALEstimator.wrap_fitted(model, pool), pool_X(pool, cand), n_instances=budget, **self.fn_kwargs)
        idx, metric = out if isinstance(out, tuple) and len(out) == 2 else (out, None)
        idx = np.atleast_1d(np.asarray(idx))
        if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer) or (idx.size and (idx.min() < 0 or idx.max() >= cand.size)):
            raise ContractError(f"{self.label}: the modAL function returned {idx[:5].tolist()} (dtype {idx.dtype}), "
                                f"not 1-D integer indices into the {cand.size} rows of X it was given")
        pos = cand[idx]
        metric = None if metric is None else np.asarray(metric)
        if metric is None or metric.shape != idx.shape or not np.issubdtype(metric.dtype, np.number):
            return Selection(pos, None, {"modal_function": getattr(fn, "__name__", str(fn))})
        score = metric.astype(np.float64) if self.higher_is_better else -metric.astype(np.float64)
        order = np.lexsort((pos, -score))
        return Selection(pos[order], score[order], {"modal_metric": metric[order]})


def from_modal(
    query_fn: Callable[..., Any] | str,
    *,
    name: str | None = None,
    higher_is_better: bool = True,
    tasks: str | Iterable[str] = "classification",
    **fn_kwargs: Any,
) -> type[ModalStrategy]:
    """An mmal Strategy class running the modAL query function ``query_fn``.

    ``query_fn`` is a function or a lazy ``"module:function"`` target. ``higher_is_better``
    says whether modAL's returned metric ranks the best sample highest (uncertainty and entropy
    sampling) or lowest (margin sampling). ``fn_kwargs`` are fixed keyword arguments of the
    function; the class's own keyword arguments add to them. Only functions that score through
    the classifier (``predict_proba`` / ``predict``) are meaningful: ``X`` holds positions, not
    features. Functions returning a bare index array are accepted (no scores).

        >>> from modAL.uncertainty import margin_sampling
        >>> Margin = from_modal(margin_sampling, name="modal-margin", higher_is_better=False)
        >>> Margin().name
        'modal-margin'
    """
    if not (callable(query_fn) or (isinstance(query_fn, str) and ":" in query_fn)):
        raise TypeError(f"from_modal: query_fn must be a function or a 'module:function' string, got {query_fn!r}")
    task_set = frozenset(t.strip() for t in (tasks.split(",") if isinstance(tasks, str) else tasks) if t.strip())
    if not task_set or not task_set <= ALL_TASKS:
        raise ValueError(f"from_modal: tasks must be among {sorted(ALL_TASKS)}, got {sorted(task_set)}")
    label = name or (query_fn.rpartition(":")[2] if isinstance(query_fn, str) else getattr(query_fn, "__name__", "modal"))
    attrs = {
        "query_fn": staticmethod(query_fn), "higher_is_better": bool(higher_is_better), "tasks": task_set,
        "fixed_kwargs": dict(fn_kwargs), "name": label, "__module__": __name__,
        "__doc__": f"The modAL query function {query_fn!r} as an mmal strategy.",
    }
    return type("Modal_" + re.sub(r"\W", "_", label), (ModalStrategy,), attrs)


@contextmanager
def _seeded_global_numpy(rng: np.random.Generator) -> Iterator[None]:
    """Run code that draws from global ``np.random`` deterministically from ``rng``, then restore."""
    state = np.random.get_state()
    np.random.seed(int(rng.integers(2**32)))
    try:
        yield
    finally:
        np.random.set_state(state)
