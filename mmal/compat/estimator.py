"""An mmal task model and a Pool as a scikit-learn estimator whose rows of ``X`` are pool positions.

``MMALEstimator(task_model, pool, **model_params)`` is an :class:`MMALClassifier` on a
classification pool and an :class:`MMALRegressor` otherwise; ``fit(X, y)`` trains the mmal
task model on the samples at positions ``X`` (see :mod:`mmal.compat.positions`) with
fused-head (``"M"``) labels ``y``. modAL's ``ActiveLearner`` takes it as its estimator.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.utils.validation import check_is_fitted

from . import shim
from ..plugins import task_models
from ..pool import MAIN_HEAD, Pool
from .positions import as_positions, unique_labels, with_labels


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

    _mmal_modal_adapter = True  # see mmal.compat.shim

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
        pos, y = unique_labels(as_positions(X, pool.n, "X"), y, MAIN_HEAD)
        labels = {h: np.full(pool.n, np.nan) for h in pool.task.heads}
        for head in pool.task.heads:
            labels[head][pos] = y if head == MAIN_HEAD else pool.labels[head][pos]
        labeled = np.zeros(pool.n, dtype=bool)
        labeled[pos] = True
        view = with_labels(pool, labeled, labels)
        shim.install_if_modal()
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
