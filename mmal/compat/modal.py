"""modAL interop (DESIGN §1, use 5): the public names, from the modules that hold them.

* :func:`as_query_strategy` / :class:`ModalQuery` (:mod:`mmal.compat.query`) - an mmal
  strategy as a modAL ``query_strategy``, on feature rows with any scikit-learn learner, or on
  pool positions with an :class:`MMALEstimator`;
* :class:`MMALEstimator` (:mod:`mmal.compat.estimator`) - an mmal task model and a Pool as a
  scikit-learn estimator whose rows of ``X`` are pool positions (:func:`pool_X`,
  :mod:`mmal.compat.positions`);
* :func:`from_modal` / :class:`ModalStrategy` (:mod:`mmal.compat.modal_strategy`) - a modAL
  query function as an mmal strategy;
* :func:`patch_modal` / :func:`unpatch_modal` / :func:`modal_compat` (:mod:`mmal.compat.shim`) -
  the scikit-learn >= 1.8 shim. mmal's own learners need none of them: the shim is scoped to
  learners holding an mmal object and is put in place by the adapters above.

A loop on feature rows with a plain scikit-learn learner::

    >>> import numpy as np
    >>> from modAL.models import ActiveLearner
    >>> from sklearn.linear_model import LogisticRegression
    >>> from mmal.compat.modal import as_query_strategy
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(200, 4)), rng.integers(0, 3, 200)
    >>> learner = ActiveLearner(LogisticRegression(), as_query_strategy("coreset", seed=0),
    ...                         X_training=X[:10], y_training=y[:10])
    >>> X_pool, y_pool = X[10:], y[10:]
    >>> for _ in range(3):
    ...     idx, rows = learner.query(X_pool, n_instances=5)
    ...     learner.teach(rows, y_pool[idx])
    ...     X_pool, y_pool = np.delete(X_pool, idx, axis=0), np.delete(y_pool, idx)
    >>> len(learner.X_training), len(X_pool)
    (25, 175)
"""

from .estimator import MMALClassifier, MMALEstimator, MMALRegressor
from .modal_strategy import ModalStrategy, from_modal
from .positions import as_positions, pool_X
from .query import ModalQuery, as_query_strategy
from .shim import modal_compat, patch_modal, unpatch_modal

__all__ = [
    "MMALClassifier", "MMALEstimator", "MMALRegressor", "ModalQuery", "ModalStrategy", "as_positions",
    "as_query_strategy", "from_modal", "modal_compat", "patch_modal", "pool_X", "unpatch_modal",
]
