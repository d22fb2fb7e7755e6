"""mmal strategies as modAL query strategies (``as_query_strategy``).

Two kinds of ``X``:

* **feature rows** (no ``pool=``): ``X_pool`` and the learner's ``X_training`` are plain
  feature matrices, the learner's estimator any scikit-learn model (or a modAL ``Committee``).
  Each query builds a Pool of one modality ``"x"`` from the training rows (labeled, with
  ``y_training``) and the rows of ``X_pool`` (unlabeled), wraps the fitted estimator as an
  :class:`~mmal.adapters.SklearnModel` and runs the strategy there, so it picks exactly what
  ``strategy.select(SklearnModel(estimator), that pool, ...)`` picks.
* **pool positions** (``pool=``): rows of ``X`` are positions in a multimodal Pool
  (:mod:`mmal.compat.positions`); strategies that need capabilities use the learner's
  :class:`~mmal.compat.estimator.MMALEstimator` task model.

Either way the query strategy puts the scoped scikit-learn shim in place (:mod:`mmal.compat.shim`),
so the learner's ``teach`` works on scikit-learn >= 1.8 without a global patch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import is_classifier

from . import shim
from ..errors import CapabilityError, PoolError
from ..plugins import Registry, strategies
from ..pool import MAIN_HEAD, Pool, Task
from ..rng import derive_rng
from ..strategy import Selection, Strategy
from .estimator import MMALEstimator
from .positions import as_positions, unique_labels, with_labels

FEATURES = "x"  # the one modality of a feature-row view


def _mmal_estimator(learner: Any) -> MMALEstimator | None:
    if isinstance(learner, MMALEstimator):
        return learner
    est = getattr(learner, "estimator", None)
    return est if isinstance(est, MMALEstimator) else None


def feature_rows(X: Any, what: str) -> np.ndarray:
    """``X`` as a dense float matrix ``[n, d]`` with finite values, or a clear error."""
    if hasattr(X, "toarray") and not isinstance(X, np.ndarray):
        raise PoolError(f"{what} is a sparse matrix; mmal's strategies work on dense features: pass {what}.toarray()")
    a = np.asarray(X)
    if a.ndim != 2:
        raise PoolError(f"{what} must be a 2-D feature matrix [n_samples, n_features], got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.number):
        raise PoolError(f"{what} must hold numbers, got dtype {a.dtype}")
    bad = ~np.isfinite(a).all(axis=1)
    if bad.any():
        raise PoolError(f"{what} has NaN or inf in rows {np.flatnonzero(bad)[:5].tolist()}; impute or drop them first")
    return a


class ModalQuery:
    """A modAL query strategy running an mmal :class:`~mmal.Strategy` (see :func:`as_query_strategy`).

    ``round`` is the number of queries answered so far; call ``query(..., round=r)`` to
    replay or resume round ``r``. ``last_selection`` keeps the last mmal Selection (scores,
    info) in the view's positions, and ``last_view`` the Pool it was made on.
    """

    _mmal_modal_adapter = True  # see mmal.compat.shim

    def __init__(self, strategy: Strategy, pool: Pool | None, seed: int) -> None:
        if pool is not None and not isinstance(pool, Pool):
            raise TypeError(f"as_query_strategy: pool must be an mmal.Pool (rows of X are its positions) or None "
                            f"(rows of X are features), got {type(pool).__name__}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"as_query_strategy: seed must be an int >= 0, got {seed!r}")
        self.strategy, self.pool, self.seed = strategy, pool, int(seed)
        self.name = strategy.name or type(strategy).__name__
        self.round = 0
        self.last_selection: Selection | None = None
        self.last_view: Pool | None = None
        try:
            shim.install()
        except ImportError:  # modAL is not installed: nothing to shim
            pass

    def __call__(self, learner: Any, X_pool: Any, n_instances: int = 1, *, round: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        r = self.round + 1 if round is None else int(round)
        shim.install_if_modal()
        if self.pool is None:
            model, view, n_train = self._feature_view(learner, X_pool)
        else:
            model, view, keep, cand = self._pool_view(learner, X_pool)
        sel = self.strategy.select(model, view, n_instances, rng=derive_rng(self.seed, r, self.name), round=r)
        self.round, self.last_selection, self.last_view = r, sel, view
        if self.pool is None:
            rows = sel.positions - n_train
        else:
            row_of = np.full(self.pool.n, -1, dtype=np.int64)
            row_of[cand] = np.arange(cand.size)
            rows = row_of[keep[sel.positions]]
        scores = np.full(rows.size, np.nan) if sel.scores is None else np.asarray(sel.scores, dtype=np.float64)
        return rows.astype(np.int64), scores

    # ------------------------------------------------------------------ feature rows
    def _feature_view(self, learner: Any, X_pool: Any) -> tuple[Any, Pool, int]:
        """The learner's fitted estimator as a TaskModel and the Pool ``[X_training; X_pool]``."""
        from ..adapters.sklearn_estimator import SklearnModel

        X = feature_rows(X_pool, "X_pool")
        members = getattr(learner, "learner_list", None)
        source = members[0] if members else learner  # a Committee teaches every member the same rows
        est = learner if members else getattr(learner, "estimator", None)
        X_tr, y_tr = getattr(source, "X_training", None), getattr(source, "y_training", None)
        X_tr = np.zeros((0, X.shape[1])) if X_tr is None else feature_rows(X_tr, "learner.X_training")
        if X_tr.shape[1] != X.shape[1]:
            raise PoolError(f"X_pool has {X.shape[1]} features but the learner's X_training has {X_tr.shape[1]}")
        model = SklearnModel(est) if est is not None else None
        if model is not None and model.estimator_ is None:
            model = None
        if model is None and self.strategy.needs_model:
            raise CapabilityError(f"{self.strategy.label} reads the learner's fitted estimator; fit the learner first "
                                  "(ActiveLearner(..., X_training=..., y_training=...) or learner.teach)")
        task, y = _task_and_labels(model.estimator_ if model else est, y_tr, len(X_tr))
        labels = np.concatenate([y, np.full(len(X), np.nan)])
        view = Pool({FEATURES: np.concatenate([X_tr, X]).astype(np.result_type(X_tr, X, np.float32))}, task,
                    labels={MAIN_HEAD: labels}, labeled=np.arange(len(labels)) < len(X_tr), check_finite=False)
        return model, view, len(X_tr)

    # ---------------------------------------------------------------- pool positions
    def _pool_view(self, learner: Any, X_pool: Any) -> tuple[Any, Pool, np.ndarray, np.ndarray]:
        """The pool as the strategy sees it: the learner's training samples labeled, the rows of
        ``X_pool`` unlabeled, everything else left out."""
        pool = self.pool
        cand = as_positions(X_pool, pool.n, "X_pool")
        if np.unique(cand).size != cand.size:
            raise PoolError("X_pool repeats pool positions; give each candidate sample once")
        est = _mmal_estimator(learner)
        model = getattr(est, "model_", None)
        if self.strategy.requires and model is None:
            raise CapabilityError(
                f"{self.strategy.label} needs a fitted mmal task model with {sorted(self.strategy.requires)}; give "
                "modAL's learner an mmal.compat.modal.MMALEstimator and fit it (X_training / y_training), or "
                "use feature rows (as_query_strategy without pool=)")
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
                pos, y = unique_labels(as_positions(learner.X_training, pool.n, "X"), learner.y_training, MAIN_HEAD)
                labels[MAIN_HEAD][pos] = y
                pool.task.check_labels(MAIN_HEAD, y)
            except PoolError as exc:
                raise PoolError(f"learner.X_training / y_training do not fit the pool: {exc}") from None
            labeled[pos] = True
        labeled[cand] = False
        keep = np.flatnonzero(labeled | np.isin(np.arange(pool.n), cand))
        view = with_labels(pool, labeled, labels)
        return model, (view if keep.size == pool.n else view.take(keep)), keep, cand


def _task_and_labels(est: Any, y: Any, n: int) -> tuple[Task, np.ndarray]:
    """The task of a feature-row view and the training labels as the task's values.

    A classifier's classes are ``est.classes_`` (class ``j`` of the view is ``classes_[j]``);
    an unfitted one (only for strategies that read no model) takes the classes in ``y``."""
    y = np.zeros(0) if y is None else np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.shape != (n,):
        raise PoolError(f"learner.y_training must hold one label per row of X_training ({n}), got shape {y.shape}; "
                        "multi-output labels are not supported")
    classes = getattr(est, "classes_", None)
    if classes is None and est is not None and is_classifier(est):  # unfitted (a strategy that reads no model)
        classes = np.unique(y) if y.size else np.arange(2)
    if classes is None:
        return Task("regression"), y.astype(np.float64)
    index = {c: j for j, c in enumerate(np.asarray(classes).tolist())}
    unknown = sorted({c for c in y.tolist() if c not in index}, key=str)
    if unknown:
        raise PoolError(f"learner.y_training has labels {unknown[:5]} that are not among the estimator's classes_ "
                        f"{list(index)[:10]}")
    return (Task("classification", n_classes=max(2, len(index))),
            np.array([index[c] for c in y.tolist()], dtype=np.float64))


def as_query_strategy(
    strategy_or_name: Strategy | str,
    *,
    pool: Pool | None = None,
    seed: int = 0,
    registry: Registry = strategies,
    **strategy_params: Any,
) -> ModalQuery:
    """A modAL ``query_strategy`` ``(learner, X_pool, n_instances=1, *, round=None) -> (indices, scores)``.

    Without ``pool``, rows of ``X`` are features and the model is the learner's own fitted
    estimator (module docstring). With ``pool``, rows of ``X`` are positions in ``pool`` (see
    :func:`~mmal.compat.positions.pool_X`): the strategy sees a view of ``pool`` where the
    learner's training samples are labeled (those of its :class:`MMALEstimator`, else
    ``learner.X_training`` / ``y_training``, plus ``pool``'s own labeled samples), the rows of
    ``X_pool`` are the unlabeled candidates, and samples in neither are left out; the model is
    the learner's fitted mmal task model (``estimator.model_``).

    Round ``r`` (1 for the first call, counted per adapter) draws from
    ``derive_rng(seed, r, name)``, as :func:`mmal.run_loop` does. Returns ``indices`` (int64,
    into ``X_pool``'s rows, best first) and ``scores`` (float64, the strategy's scores; NaN
    where it gives none, e.g. random or k-center picks): always a 2-tuple of arrays, as modAL
    reads a bare index array of length 2 as the pair.
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
