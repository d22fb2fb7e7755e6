"""modAL interop: mmal strategies as modAL query strategies, a TaskModel as an sklearn
estimator, and modAL query functions as mmal strategies (DESIGN §1, use 5).

**X is pool positions.** modAL and scikit-learn hand a 2-D ``X`` around and index its rows;
a multimodal sample does not fit in one row, so a row of ``X`` here is the sample's
*position* in the Pool: ``pool_X(pool)`` is the column ``[[0], [1], ..., [N-1]]`` (a 1-D
vector of ints works too). modAL slices, stacks and deletes those rows like any features;
mmal reads the modalities behind them.

``MMALEstimator(task_model, pool, **model_params)``
    An sklearn classifier (classification pools) or regressor whose ``fit(X, y)`` trains the
    mmal task model on the samples at positions ``X`` with fused-head (``"M"``) labels ``y``.
``as_query_strategy(strategy, pool=..., seed=...)``
    A modAL ``query_strategy`` that runs any registered mmal strategy and returns
    ``(indices into X_pool, scores)``, always a 2-tuple of arrays (modAL reads a bare index
    array of length 2 as the pair). It selects among the rows of ``X_pool`` only, and sees the
    learner's training samples as the labeled set.
``from_modal(query_fn, name=...)``
    The reverse: a modAL query function (``modAL.uncertainty.uncertainty_sampling`` ...) as
    an mmal Strategy class, for ``run_loop`` and ``mmal bench``.

**scikit-learn >= 1.8.** modAL-python 0.4.2.1, its latest release, calls
``check_X_y(..., force_all_finite=...)`` in ``ActiveLearner.fit`` and ``teach``
(``modAL/models/learners.py``); scikit-learn renamed that argument ``ensure_all_finite`` in
1.6 and removed the old name in 1.8, so ``teach`` raises ``TypeError`` there. Call
``patch_modal()`` once before using modAL: it replaces the single name ``check_X_y`` in
``modAL.models.learners`` by a wrapper that passes ``force_all_finite`` on as
``ensure_all_finite`` (same meaning) and changes nothing else. It is opt-in (``import mmal``
never calls it), idempotent, reversible (``unpatch_modal()``, or the ``modal_compat()``
context manager), edits neither scikit-learn nor modAL's files, and does nothing on a
scikit-learn without ``ensure_all_finite``. We chose it over an ``ActiveLearner`` subclass
because it fixes every learner modAL builds (committee members included) while users keep
modAL's own classes, and it copies none of modAL's method bodies, which would drift from its
code. Until it is called, the first ``MMALEstimator.fit`` under modAL warns.

A complete loop (the pool's labels come from its oracle)::

    >>> import numpy as np, mmal
    >>> from modAL.models import ActiveLearner
    >>> from mmal.compat.modal import MMALEstimator, as_query_strategy, patch_modal, pool_X
    >>> _ = patch_modal()                      # modAL 0.4.2.1 on scikit-learn >= 1.8
    >>> ds = mmal.datasets.get("toy", size="tiny", seed=0)
    >>> X_pool, init = pool_X(ds.train), np.arange(10)
    >>> learner = ActiveLearner(
    ...     estimator=MMALEstimator("linear", ds.train),
    ...     query_strategy=as_query_strategy("random", pool=ds.train, seed=0),
    ...     X_training=X_pool[init], y_training=ds.oracle(ds.train.ids[init])["M"])
    >>> X_pool = np.delete(X_pool, init, axis=0)
    >>> for _ in range(3):
    ...     idx, rows = learner.query(X_pool, n_instances=5)
    ...     learner.teach(rows, ds.oracle(ds.train.ids[rows[:, 0]])["M"])
    ...     X_pool = np.delete(X_pool, idx, axis=0)
    >>> len(learner.X_training), len(X_pool)
    (25, 215)
"""

from __future__ import annotations

import copy
import functools
import importlib
import inspect
import re
import sys
import warnings
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.utils.validation import check_is_fitted

from ..errors import CapabilityError, ContractError, PoolError
from ..plugins import Registry, strategies, task_models
from ..pool import MAIN_HEAD, Pool
from ..rng import derive_rng
from ..strategy import ALL_TASKS, Selection, Strategy

__all__ = [
    "MMALClassifier", "MMALEstimator", "MMALRegressor", "ModalQuery", "ModalStrategy", "as_positions",
    "as_query_strategy", "from_modal", "modal_compat", "patch_modal", "pool_X", "unpatch_modal",
]


# ----------------------------------------------------------------- X = pool positions
def pool_X(pool: Pool, positions: Iterable[int] | np.ndarray | None = None) -> np.ndarray:
    """The modAL / scikit-learn ``X`` of ``pool``: a column ``[n, 1]`` of sample positions."""
    pos = np.arange(pool.n) if positions is None else as_positions(positions, pool.n, "positions")
    return pos.astype(np.int64).reshape(-1, 1)


def as_positions(X: Any, n: int, what: str = "X") -> np.ndarray:
    """The pool positions in ``X`` (a column ``[k, 1]`` or a vector ``[k]`` of ints in ``0..n-1``)."""
    a = np.asarray(X)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1:
        raise PoolError(
            f"{what} must hold pool positions, one per row: a column [k, 1] or a vector [k] of ints "
            f"(build it with mmal.compat.modal.pool_X(pool)); got shape {a.shape}"
        )
    if not np.issubdtype(a.dtype, np.integer):
        whole = np.issubdtype(a.dtype, np.floating) and bool(np.all(a == np.round(a)))
        if a.size and not whole:
            raise PoolError(f"{what} must hold integer pool positions (see mmal.compat.modal.pool_X); got dtype {a.dtype}")
    a = a.astype(np.int64)
    bad = (a < 0) | (a >= n)
    if bad.any():
        raise PoolError(f"{what} has positions {a[bad][:5].tolist()} outside the pool's 0..{n - 1}; rows of X are pool positions")
    return a


def _with_labels(pool: Pool, labeled: np.ndarray, labels: dict[str, np.ndarray]) -> Pool:
    """``pool``'s samples (modality arrays shared, not copied) with other labels and mask."""
    return Pool(pool.modalities, pool.task, ids=pool.ids, labels=labels, lengths=pool.lengths,
                labeled=labeled, meta=pool.meta, check_finite=False)


# ----------------------------------------------------------------- the sklearn estimator
class MMALEstimator(BaseEstimator):
    """An mmal task model as a scikit-learn estimator over ``pool``; rows of ``X`` are positions.

    ``task_model`` is a registered name (built with ``**model_params``), a factory, or an
    unfitted instance (deep-copied, so ``fit`` never changes it). ``fit(X, y)`` trains a fresh
    model, seeded with ``seed``, on a view of ``pool`` in which exactly the samples in ``X`` are
    labeled, with ``y`` as their fused-head labels (class indices for classification) and the
    pool's own labels of the other heads, if it has any. Repeated rows (modAL's bootstrap)
    count once: mmal task models take no sample weights. ``MMALEstimator(...)`` builds an
    :class:`MMALClassifier` for a classification pool and an :class:`MMALRegressor` otherwise.
    Fitted attributes: ``model_`` (the mmal TaskModel), ``pool_`` (the labeled view), and
    ``classes_`` (``0..C-1``, the columns of ``predict_proba``) for classifiers.
    """

    def __new__(cls, task_model: Any = None, pool: Pool | None = None, **kwargs: Any) -> "MMALEstimator":
        if cls is MMALEstimator:
            if not isinstance(pool, Pool):
                raise TypeError(f"MMALEstimator(task_model, pool): pool must be an mmal.Pool, got {type(pool).__name__}")
            cls = MMALClassifier if pool.task.is_classification else MMALRegressor
        return super().__new__(cls)

    def __init__(self, task_model: Any, pool: Pool, *, seed: int = 0, **model_params: Any) -> None:
        self.task_model = task_model
        self.pool = pool
        self.seed = seed
        clash = [k for k in model_params if k.endswith("_") or k.startswith("_") or hasattr(type(self), k)]
        if clash:
            raise TypeError(f"MMALEstimator: model parameter names {clash} clash with the estimator's own attributes; "
                            "build the task model yourself and pass the instance")
        self._model_params = tuple(model_params)
        for key, value in model_params.items():
            setattr(self, key, value)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        params = super().get_params(deep=deep)
        params.update({k: getattr(self, k) for k in self._model_params})
        return params

    def __sklearn_clone__(self) -> "MMALEstimator":
        """A clone shares ``pool`` (the data, never modified here) and copies the other parameters."""
        params = self.get_params(deep=False)
        return type(self)(**{k: v if k == "pool" else clone(v, safe=False) for k, v in params.items()})

    @staticmethod
    def wrap_fitted(model: Any, pool: Pool) -> "MMALEstimator":
        """An estimator around a task model already fitted on ``pool`` (no training)."""
        est = MMALEstimator(model, pool)
        est._set_fitted(model, pool)
        return est

    def _set_fitted(self, model: Any, view: Pool) -> None:
        self.model_, self.pool_ = model, view
        if view.task.is_classification:
            self.classes_ = np.arange(view.task.n_classes)

    def _new_model(self) -> Any:
        params = {k: getattr(self, k) for k in self._model_params}
        if isinstance(self.task_model, str):
            return task_models.get(self.task_model, **params)
        if isinstance(self.task_model, type) or not hasattr(self.task_model, "fit"):
            return self.task_model(**params)
        if params:
            raise TypeError(f"MMALEstimator: model parameters {sorted(params)} need task_model to be a registered "
                            "name or a factory; configure an instance yourself")
        return copy.deepcopy(self.task_model)

    def fit(self, X: Any, y: Any) -> "MMALEstimator":
        pool = self.pool
        if not isinstance(pool, Pool):
            raise TypeError(f"MMALEstimator.pool must be an mmal.Pool, got {type(pool).__name__}")
        pos, y = _unique_labels(as_positions(X, pool.n, "X"), y)
        labels = {h: np.full(pool.n, np.nan) for h in pool.task.heads}
        for head in pool.task.heads:
            labels[head][pos] = y if head == MAIN_HEAD else pool.labels[head][pos]
        labeled = np.zeros(pool.n, dtype=bool)
        labeled[pos] = True
        view = _with_labels(pool, labeled, labels)
        _warn_if_modal_unpatched()
        model = self._new_model()
        model.fit(view, seed=self.seed)
        self._set_fitted(model, view)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Fused-head predictions (class indices, or values) for the samples at positions ``X``."""
        check_is_fitted(self, "model_")
        return np.asarray(self.model_.predict(self.pool_, as_positions(X, self.pool_.n, "X"))[MAIN_HEAD])


class MMALClassifier(ClassifierMixin, MMALEstimator):
    """:class:`MMALEstimator` on a classification pool (``predict_proba``, accuracy ``score``)."""

    def predict_proba(self, X: Any) -> np.ndarray:
        """Fused-head class probabilities ``[k, C]``, columns ``classes_``."""
        check_is_fitted(self, "model_")
        return np.asarray(self.model_.predict_proba(self.pool_, as_positions(X, self.pool_.n, "X"))[MAIN_HEAD])


class MMALRegressor(RegressorMixin, MMALEstimator):
    """:class:`MMALEstimator` on a regression pool (R^2 ``score``)."""


def _unique_labels(pos: np.ndarray, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """One label per position: repeats (modAL's bootstrap) must agree and count once."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.shape != pos.shape:
        raise PoolError(f"y must hold one {MAIN_HEAD!r} label per row of X ({pos.size}), got shape {y.shape}")
    try:
        y = y.astype(np.float64)
    except (TypeError, ValueError):
        raise PoolError("y must be numbers: class indices 0..C-1 (map names with pool.task.class_names) "
                        f"or regression values; got dtype {y.dtype}") from None
    if np.isnan(y).any():
        raise PoolError(f"y has NaN at rows {np.flatnonzero(np.isnan(y))[:5].tolist()}; give every row of X its label")
    uniq, first, inverse = np.unique(pos, return_index=True, return_inverse=True)
    clash = y != y[first][inverse]
    if clash.any():
        raise PoolError(f"X repeats positions {np.unique(pos[clash])[:5].tolist()} with different labels in y; a sample has one label")
    return uniq, y[first]


# ----------------------------------------------------------------- mmal -> modAL
def _mmal_estimator(learner: Any) -> MMALEstimator | None:
    if isinstance(learner, MMALEstimator):
        return learner
    est = getattr(learner, "estimator", None)
    return est if isinstance(est, MMALEstimator) else None


class ModalQuery:
    """A modAL query strategy running an mmal :class:`~mmal.Strategy` (see :func:`as_query_strategy`).

    ``round`` is the number of queries answered so far; call ``query(..., round=r)`` to
    replay or resume round ``r``. ``last_selection`` keeps the last mmal Selection (scores,
    info) in the view's positions.
    """

    def __init__(self, strategy: Strategy, pool: Pool, seed: int) -> None:
        if not isinstance(pool, Pool):
            raise TypeError(f"as_query_strategy: pool must be an mmal.Pool, got {type(pool).__name__}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"as_query_strategy: seed must be an int >= 0, got {seed!r}")
        self.strategy, self.pool, self.seed = strategy, pool, int(seed)
        self.name = strategy.name or type(strategy).__name__
        self.round = 0
        self.last_selection: Selection | None = None

    def __call__(self, learner: Any, X_pool: Any, n_instances: int = 1, *, round: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        r = self.round + 1 if round is None else int(round)
        cand = as_positions(X_pool, self.pool.n, "X_pool")
        if np.unique(cand).size != cand.size:
            raise PoolError("X_pool repeats pool positions; give each candidate sample once")
        est = _mmal_estimator(learner)
        model = getattr(est, "model_", None)
        if self.strategy.requires and model is None:
            raise CapabilityError(
                f"{self.strategy.label} needs a fitted mmal task model with {sorted(self.strategy.requires)}; give "
                "modAL's learner an mmal.compat.modal.MMALEstimator and fit it (X_training / y_training)")
        view, keep = self._view(learner, est, cand)
        sel = self.strategy.select(model, view, n_instances, rng=derive_rng(self.seed, r, self.name), round=r)
        self.round, self.last_selection = r, sel
        row_of = np.full(self.pool.n, -1, dtype=np.int64)
        row_of[cand] = np.arange(cand.size)
        rows = row_of[keep[sel.positions]]
        scores = np.full(rows.size, np.nan) if sel.scores is None else np.asarray(sel.scores, dtype=np.float64)
        return rows, scores

    def _view(self, learner: Any, est: MMALEstimator | None, cand: np.ndarray) -> tuple[Pool, np.ndarray]:
        """The pool as the strategy sees it: the learner's training samples labeled, the rows of
        ``X_pool`` unlabeled, everything else left out. Returns it and its pool positions."""
        pool = self.pool
        labels = {h: v.copy() for h, v in pool.labels.items()}
        labeled = pool.labeled.copy()
        if est is not None and hasattr(est, "pool_"):
            if est.pool_.n != pool.n or not np.array_equal(est.pool_.ids, pool.ids):
                raise PoolError("the learner's MMALEstimator was built on another pool than as_query_strategy(pool=...); pass the same Pool")
            known = est.pool_.labeled
            for head in labels:
                labels[head][known] = est.pool_.labels[head][known]
            labeled |= known
        elif getattr(learner, "X_training", None) is not None and getattr(learner, "y_training", None) is not None:
            try:  # a learner with another estimator: its training rows are the labeled set
                pos, y = _unique_labels(as_positions(learner.X_training, pool.n, "X"), learner.y_training)
                labels[MAIN_HEAD][pos] = y
                pool.task.check_labels(MAIN_HEAD, y)
            except PoolError as exc:
                raise PoolError(f"learner.X_training / y_training do not fit the pool: {exc}") from None
            labeled[pos] = True
        labeled[cand] = False
        keep = np.flatnonzero(labeled | np.isin(np.arange(pool.n), cand))
        view = _with_labels(pool, labeled, labels)
        return (view, keep) if keep.size == pool.n else (view.take(keep), keep)


def as_query_strategy(
    strategy_or_name: Strategy | str,
    *,
    pool: Pool,
    seed: int = 0,
    registry: Registry = strategies,
    **strategy_params: Any,
) -> ModalQuery:
    """A modAL ``query_strategy`` ``(learner, X_pool, n_instances=1, *, round=None) -> (indices, scores)``.

    ``X_pool`` rows are positions in ``pool`` (see :func:`pool_X`). The strategy sees a view
    of ``pool`` where the learner's training samples are labeled (those of its
    :class:`MMALEstimator`, else ``learner.X_training`` / ``y_training``, plus ``pool``'s own
    labeled samples), the rows of ``X_pool`` are the unlabeled candidates, and samples in
    neither are left out, so it can only pick ``X_pool`` rows and covers nothing modAL did not
    name. The model is the learner's fitted mmal task model (``estimator.model_``), needed by
    strategies that require capabilities. Round ``r`` (1 for the first call, counted per
    adapter) draws from ``derive_rng(seed, r, name)``, as :func:`mmal.run_loop` does.
    Returns ``indices`` (int64, into ``X_pool``'s rows, best first) and ``scores`` (float64,
    the strategy's scores; NaN where it gives none, e.g. random or k-center picks).
    """
    if isinstance(strategy_or_name, str):
        strategy = registry.get(strategy_or_name, **strategy_params)
    elif isinstance(strategy_or_name, Strategy):
        if strategy_params:
            raise TypeError(f"as_query_strategy: parameters {sorted(strategy_params)} go with a strategy name, not an instance")
        strategy = strategy_or_name
    else:
        raise TypeError(f"as_query_strategy: expected a strategy name or mmal.Strategy, got {type(strategy_or_name).__name__}")
    return ModalQuery(strategy, pool, seed)


# ----------------------------------------------------------------- modAL -> mmal
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
            fn = getattr(importlib.import_module(module), attr)
        return fn

    def check(self, model: Any, pool: Pool) -> None:
        super().check(model, pool)
        if model is None:
            raise CapabilityError(f"{self.label} scores samples with a fitted task model's predictions; got model=None")

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


# ----------------------------------------------------------------- scikit-learn shim
_SHIM_OF = "__mmal_shim_of__"
_warned_unpatched = False


def _learners() -> Any:
    try:
        return importlib.import_module("modAL.models.learners")
    except ImportError as exc:
        raise ImportError(f"modAL is not installed ({exc}); pip install modAL-python") from exc


def _accepts(check: Callable[..., Any], arg: str) -> bool:
    return arg in inspect.signature(check).parameters


def _renaming(check: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(check)
    def check_X_y(*args: Any, **kwargs: Any) -> Any:
        if "force_all_finite" in kwargs:
            kwargs.setdefault("ensure_all_finite", kwargs.pop("force_all_finite"))
        return check(*args, **kwargs)

    setattr(check_X_y, _SHIM_OF, check)
    return check_X_y


def patch_modal() -> bool:
    """Let modAL's learners call this scikit-learn: pass ``force_all_finite`` on as ``ensure_all_finite``.

    Replaces ``modAL.models.learners.check_X_y`` (that one name) by a renaming wrapper.
    Idempotent; undo with :func:`unpatch_modal`. Returns True when the shim is in place, False
    when this scikit-learn has no ``ensure_all_finite`` and modAL works as it is.
    """
    learners = _learners()
    check = learners.check_X_y
    if getattr(check, _SHIM_OF, None) is not None:
        return True
    if not _accepts(check, "ensure_all_finite"):
        return False
    learners.check_X_y = _renaming(check)
    return True


def unpatch_modal() -> None:
    """Undo :func:`patch_modal` (a no-op when modAL is not patched or not imported)."""
    learners = sys.modules.get("modAL.models.learners")
    original = getattr(getattr(learners, "check_X_y", None), _SHIM_OF, None)
    if original is not None:
        learners.check_X_y = original


@contextmanager
def modal_compat() -> Iterator[bool]:
    """:func:`patch_modal` inside the block only; yields what it returned."""
    learners = _learners()
    before = learners.check_X_y
    try:
        yield patch_modal()
    finally:
        learners.check_X_y = before


def _warn_if_modal_unpatched() -> None:
    """Warn once when modAL is in use, unpatched, on a scikit-learn its ``teach`` fails with."""
    global _warned_unpatched
    learners = sys.modules.get("modAL.models.learners")
    check = getattr(learners, "check_X_y", None)
    if _warned_unpatched or check is None or getattr(check, _SHIM_OF, None) is not None or _accepts(check, "force_all_finite"):
        return
    _warned_unpatched = True
    warnings.warn(
        "modAL's ActiveLearner.fit / teach pass force_all_finite to scikit-learn's check_X_y, which this "
        "scikit-learn removed (TypeError); call mmal.compat.modal.patch_modal() once before using modAL",
        stacklevel=3,
    )
