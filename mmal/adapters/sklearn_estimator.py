"""A scikit-learn estimator as an mmal TaskModel (DESIGN §8, layer 3).

``SklearnModel(estimator)`` reads the features the estimator sees from a Pool: the modalities
named in ``modalities`` (default: all, in the pool's order), each as one row per sample
(``Pool.pooled``: sequences averaged over their valid steps), side by side. It offers:

* the base protocol: ``fit(pool, seed=)`` trains a clone on the labeled samples;
  ``predict`` / ``predict_proba`` give the fused head ``"M"`` (the estimator is the only head);
* ``embed``: ``{modality: its block of X, "fused": the final step's input}``: ``X`` itself, or
  for a :class:`~sklearn.pipeline.Pipeline` ``X`` after every step but the last;
* ``grad_embed`` for linear log-loss classifiers (``LogisticRegression``, binary
  ``SGDClassifier(loss="log_loss")``): the gradient of the log-loss with pseudo-label ``ŷ``
  w.r.t. the weights ``coef_`` in closed form, ``g = delta ⊗ h`` with ``h`` the final step's
  input and ``delta = p - e_ŷ`` (multinomial, ``coef_`` ``[C, d]``) or
  ``delta = p_1 - [ŷ = classes_[1]]`` (binary, ``coef_`` ``[1, d]``: one weight row, so
  ``delta`` has one column). The estimator's ``predict_proba`` is checked to be the softmax
  (sigmoid) of its ``decision_function``; a one-vs-rest model is refused, not misread.

An estimator that is already fitted is used as it is until ``fit`` is called (your own
training loop); ``fit`` never changes the estimator you passed.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np

from ..errors import CapabilityError, PoolError
from ..grads import RankOne
from ..model import EMBED, GRAD_EMBED
from ..pool import MAIN_HEAD, Pool

HEAD_LAYER = f"head:{MAIN_HEAD}"


def _final_step(est: Any) -> Any:
    from sklearn.pipeline import Pipeline

    return est[-1] if isinstance(est, Pipeline) else est


def _is_fitted(est: Any) -> bool:
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(est)
    except NotFittedError:
        return False
    except TypeError:  # not an estimator scikit-learn can check: trust what it has
        return hasattr(est, "classes_") or hasattr(est, "coef_")
    return True


def is_linear_log_loss(est: Any) -> bool:
    """A linear classifier with ``predict_proba``: fitted, it has ``coef_``; unfitted, it is one of
    scikit-learn's linear classifiers. Whether its probabilities are the softmax of ``X coef_^T +
    intercept_`` is checked numerically when a gradient is asked for."""
    final = _final_step(est)
    if not (hasattr(final, "predict_proba") and hasattr(final, "decision_function")):
        return False
    if _is_fitted(est):
        return hasattr(final, "coef_")
    try:
        from sklearn.linear_model._base import LinearClassifierMixin
    except ImportError:  # scikit-learn moved it: decide once fitted
        return False
    return isinstance(final, LinearClassifierMixin)


class SklearnModel:
    """A scikit-learn estimator (fitted or not) as an mmal TaskModel; see the module docstring."""

    def __init__(self, estimator: Any, *, modalities: Sequence[str] | None = None) -> None:
        if not (callable(getattr(estimator, "fit", None)) and callable(getattr(estimator, "predict", None))):
            raise TypeError(f"SklearnModel(estimator): need a scikit-learn estimator with fit and predict, "
                            f"got {type(estimator).__name__}")
        self.estimator = estimator
        self.modalities = None if modalities is None else [str(m) for m in modalities]
        self.estimator_ = estimator if _is_fitted(estimator) else None
        self.unimodal_heads = {}

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset({EMBED} | ({GRAD_EMBED} if self._linear() else set()))

    def grad_layers(self) -> list[str]:
        """The layers ``grad_embed`` accepts: ``["head:M"]`` for a linear log-loss classifier."""
        return [HEAD_LAYER] if self._linear() else []

    def _linear(self) -> bool:
        return is_linear_log_loss(self.estimator if self.estimator_ is None else self.estimator_)

    # ----------------------------------------------------------------------- data
    def _names(self, pool: Pool) -> list[str]:
        names = pool.modality_names if self.modalities is None else self.modalities
        missing = [m for m in names if m not in pool.modalities]
        if missing:
            raise PoolError(f"SklearnModel(modalities={self.modalities}) names {missing}, which the pool lacks; "
                            f"its modalities are {pool.modality_names}")
        return list(names)

    def _blocks(self, pool: Pool, positions: Iterable[int] | np.ndarray | None) -> dict[str, np.ndarray]:
        pos = np.arange(pool.n) if positions is None else np.asarray(positions, dtype=np.int64)
        if pos.ndim != 1 or (pos.size and (pos.min() < 0 or pos.max() >= pool.n)):
            raise PoolError(f"positions must be a 1-D array of sample positions in 0..{pool.n - 1}")
        out = {}
        for m in self._names(pool):
            arr = pool.modalities[m]
            out[m] = pool.pooled(m, pos) if arr.ndim == 3 else np.asarray(arr[pos]).reshape(len(pos), -1)
        return out

    def _X(self, pool: Pool, positions: Any) -> np.ndarray:
        return np.concatenate(list(self._blocks(pool, positions).values()), axis=1)

    def _fitted(self) -> Any:
        if self.estimator_ is None:
            raise CapabilityError(f"SklearnModel: {type(self.estimator).__name__} is not fitted; call fit(pool) "
                                  "(or pass an estimator you have fitted)")
        return self.estimator_

    def _columns(self, est: Any, pool: Pool) -> np.ndarray:
        """Which of the task's classes ``0..C-1`` each of ``est.classes_`` is."""
        classes, C = np.asarray(est.classes_), pool.task.n_classes
        if np.issubdtype(classes.dtype, np.number) and np.all(classes == np.round(classes)) \
                and classes.min() >= 0 and classes.max() < C:
            return classes.astype(np.int64)
        if len(classes) == C:  # the estimator's own labels (strings ...): its order is the task's
            return np.arange(C)
        raise PoolError(f"the estimator's classes_ {classes.tolist()[:6]} are neither class indices 0..{C - 1} nor "
                        f"{C} labels (the task's n_classes); fit it on class indices or set Task(n_classes=...)")

    # -------------------------------------------------------------- base protocol
    def fit(self, pool: Pool, *, seed: int = 0) -> "SklearnModel":
        """Fit a clone of the estimator on ``pool``'s labeled samples (``random_state=seed`` if it takes one and has none)."""
        from sklearn.base import clone

        pos = pool.labeled_positions()
        if pos.size == 0:
            raise PoolError("SklearnModel.fit: the pool has no labeled samples; label some first (pool.label)")
        est = clone(self.estimator)
        if "random_state" in est.get_params() and est.get_params()["random_state"] is None:
            est.set_params(random_state=int(seed))
        y = pool.labels[MAIN_HEAD][pos]
        est.fit(self._X(pool, pos), y.astype(np.int64) if pool.task.is_classification else y)
        self.estimator_ = est
        return self

    def predict(self, pool: Pool, positions: Any = None) -> dict[str, np.ndarray]:
        """``{"M": [n]}``: class indices 0..C-1 (classification) or values."""
        est = self._fitted()
        X = self._X(pool, positions)
        if not pool.task.is_classification:
            return {MAIN_HEAD: np.asarray(est.predict(X), dtype=np.float64)}
        if hasattr(est, "predict_proba"):
            return {MAIN_HEAD: self.predict_proba(pool, positions)[MAIN_HEAD].argmax(1)}
        cols = self._columns(est, pool)
        index = {c: i for i, c in enumerate(np.asarray(est.classes_).tolist())}
        return {MAIN_HEAD: cols[[index[c] for c in np.asarray(est.predict(X)).tolist()]]}

    def predict_proba(self, pool: Pool, positions: Any = None) -> dict[str, np.ndarray]:
        """``{"M": [n, C]}`` class probabilities; a class the estimator never saw gets 0."""
        est = self._fitted()
        if not pool.task.is_classification:
            raise CapabilityError("predict_proba is for classification tasks; use predict for regression")
        if not hasattr(est, "predict_proba"):
            raise CapabilityError(f"{type(est).__name__} has no predict_proba, which this strategy reads; use a "
                                  "probabilistic classifier (LogisticRegression, RandomForestClassifier, "
                                  "SVC(probability=True), CalibratedClassifierCV(...))")
        p = np.asarray(est.predict_proba(self._X(pool, positions)), dtype=np.float64)
        out = np.zeros((p.shape[0], pool.task.n_classes))
        out[:, self._columns(est, pool)] = p
        return {MAIN_HEAD: out}

    # --------------------------------------------------------------- capabilities
    def _final_input(self, X: np.ndarray) -> np.ndarray:
        """``X`` as the final step sees it (a Pipeline's transforms applied)."""
        from sklearn.pipeline import Pipeline

        return np.asarray(self._fitted()[:-1].transform(X)) if isinstance(self.estimator, Pipeline) else X

    def embed(self, pool: Pool, positions: Any = None) -> dict[str, np.ndarray]:
        """``{modality: block of X, "fused": the final step's input}`` (module docstring)."""
        blocks = self._blocks(pool, positions)
        return {**blocks, "fused": self._final_input(np.concatenate(list(blocks.values()), axis=1))}

    def grad_embed(self, pool: Pool, positions: Any = None, *, head: str = MAIN_HEAD, layer: str = HEAD_LAYER,
                   pseudo: Any = None, bias: bool = False) -> RankOne:
        """Closed-form log-loss gradient w.r.t. ``coef_`` with pseudo-labels, ``g = delta ⊗ h`` (module docstring).

        ``pseudo``: ``None`` / ``"fused"`` / ``"own"`` - the predicted class; or class indices ``[n]``.
        ``bias=True`` appends the intercept's gradient (a column of ones on ``h``)."""
        if head != MAIN_HEAD or layer != HEAD_LAYER:
            raise ValueError(f"grad_embed: a scikit-learn model has one head {MAIN_HEAD!r} and one layer {HEAD_LAYER!r}; "
                             f"got head={head!r}, layer={layer!r}")
        est = self._fitted()
        final = _final_step(est)
        if not self._linear():
            raise CapabilityError(f"grad_embed needs a linear log-loss classifier (LogisticRegression); "
                                  f"{type(final).__name__} has no closed-form gradient here")
        if not pool.task.is_classification:
            raise CapabilityError("grad_embed of a scikit-learn model is for classification (the log-loss)")
        h = np.asarray(self._final_input(self._X(pool, positions)), dtype=np.float64)
        z = np.asarray(final.decision_function(h), dtype=np.float64)
        p = np.asarray(final.predict_proba(h), dtype=np.float64)
        binary = z.ndim == 1
        linear = h @ np.asarray(final.coef_, dtype=np.float64).T + np.asarray(final.intercept_, dtype=np.float64)
        if not np.allclose(z, linear[:, 0] if binary else linear, rtol=1e-6, atol=1e-9):
            raise CapabilityError(f"{type(final).__name__}.decision_function is not X coef_^T + intercept_; "
                                  "the closed-form gradient needs a linear model")
        model_p = 1.0 / (1.0 + np.exp(-z)) if binary else _softmax(z)
        if not np.allclose(p[:, 1] if binary else p, model_p, rtol=1e-6, atol=1e-9):
            raise CapabilityError(
                f"{type(final).__name__}.predict_proba is not the {'sigmoid' if binary else 'softmax'} of its "
                "decision_function (a one-vs-rest or calibrated model), so (p - e_y) ⊗ x is not its gradient; "
                "use LogisticRegression() (multinomial) for gradient embeddings")
        yhat = self._pseudo(pseudo, p, est, pool, len(h))
        if binary:
            delta = (p[:, 1] - (yhat == 1))[:, None]
        else:
            delta = p.copy()
            delta[np.arange(len(h)), yhat] -= 1.0
        if bias:
            h = np.concatenate([h, np.ones((len(h), 1))], axis=1)
        return RankOne(np.ascontiguousarray(delta), np.ascontiguousarray(h))

    def _pseudo(self, pseudo: Any, p: np.ndarray, est: Any, pool: Pool, n: int) -> np.ndarray:
        """Pseudo-labels as columns of the estimator's ``predict_proba``."""
        if pseudo is None or (isinstance(pseudo, str) and pseudo in ("fused", "own")):
            return p.argmax(1)
        if isinstance(pseudo, dict):
            if set(pseudo) != {MAIN_HEAD}:
                raise ValueError(f"pseudo labels for heads {sorted(pseudo)}; a scikit-learn model has the one head {MAIN_HEAD!r}")
            pseudo = pseudo[MAIN_HEAD]
        if isinstance(pseudo, str):
            raise ValueError(f"pseudo={pseudo!r} is not valid; use None / 'fused' (the predicted class) or class indices [n]")
        y = np.asarray(pseudo, dtype=np.float64)
        if y.shape != (n,) or np.isnan(y).any() or np.any(y != np.round(y)):
            raise ValueError(f"pseudo labels must be NaN-free class indices of shape ({n},), got {y.shape}")
        column = {int(c): j for j, c in enumerate(self._columns(est, pool))}
        unknown = sorted(set(y.astype(int).tolist()) - set(column))
        if unknown:
            raise ValueError(f"pseudo labels {unknown[:5]} are classes the estimator was not fitted on")
        return np.array([column[int(v)] for v in y], dtype=np.int64)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)
