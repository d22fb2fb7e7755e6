"""modAL out of the box (issue 17 item 4): an mmal strategy as the query strategy of a modAL
ActiveLearner (or Committee) with a plain scikit-learn estimator on feature rows, for several
rounds of query and teach, on the installed scikit-learn, without any global patch.

Each round's picks must equal the same strategy run through mmal.Pool on the same rows (the
training rows labeled, X_pool unlabeled) with the learner's estimator as an SklearnModel.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from modAL.models import ActiveLearner, Committee
from sklearn.linear_model import LogisticRegression, Ridge

import mmal
from mmal.adapters import SklearnModel
from mmal.compat.modal import as_query_strategy

STRATEGIES = ["modal-margin", "coreset", "dbal", "badge"]


def blobs(n=240, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    return rng.normal(size=(n, 5)) + y[:, None] * np.array([1.2, 0.6, 0, 0, 0]), y


def through_pool(name, estimator, X_train, y_train, X_pool, k, seed, r, classes):
    index = {c: j for j, c in enumerate(classes.tolist())}
    pool = mmal.Pool({"x": np.vstack([X_train, X_pool])}, mmal.Task("classification", n_classes=len(classes)),
                     labels={"M": np.r_[[index[c] for c in y_train], np.full(len(X_pool), np.nan)]})
    sel = mmal.strategies.get(name).select(SklearnModel(estimator), pool, k, rng=mmal.derive_rng(seed, r, name))
    return sel.positions - len(X_train)


@pytest.mark.parametrize("name", STRATEGIES)
def test_active_learner_on_feature_rows_several_rounds(name):
    X, y = blobs()
    query = as_query_strategy(name, seed=4)
    learner = ActiveLearner(LogisticRegression(), query, X_training=X[:15], y_training=y[:15])
    X_pool, y_pool = X[15:], y[15:]
    for r in (1, 2, 3):
        want = through_pool(name, learner.estimator, learner.X_training, learner.y_training, X_pool, 8, 4, r,
                            learner.estimator.classes_)
        idx, rows = learner.query(X_pool, n_instances=8)
        assert query.round == r and np.array_equal(idx, want), f"{name} round {r}"
        assert np.array_equal(rows, X_pool[idx]) and len(set(idx.tolist())) == 8
        scores = query(learner, X_pool, n_instances=8, round=r)[1]  # a replayed round gives the same answer
        assert scores.dtype == np.float64 and scores.shape == (8,)
        learner.teach(rows, y_pool[idx])
        X_pool, y_pool = np.delete(X_pool, idx, axis=0), np.delete(y_pool, idx)
    assert len(learner.X_training) == 15 + 24 and len(X_pool) == len(X) - 39
    assert query.last_view.n == len(X)  # the last query's view: the training rows then, and X_pool then


def test_string_labels_and_a_binary_learner():
    X, y = blobs(classes=2)
    names = np.array(["no", "yes"])[y]
    learner = ActiveLearner(LogisticRegression(), as_query_strategy("badge", seed=0), X_training=X[:12],
                            y_training=names[:12])
    want = through_pool("badge", learner.estimator, X[:12], names[:12], X[12:], 6, 0, 1, learner.estimator.classes_)
    idx, rows = learner.query(X[12:], n_instances=6)
    assert np.array_equal(idx, want)
    learner.teach(rows, names[12:][idx])
    assert learner.query_strategy.last_selection.info["grad_sq_norm"].shape == (6,)


def test_committee_uses_the_consensus_probabilities():
    X, y = blobs(classes=3, seed=2)
    members = [ActiveLearner(LogisticRegression(C=c), X_training=X[:15], y_training=y[:15]) for c in (0.1, 1.0, 10.0)]
    committee = Committee(members, query_strategy=as_query_strategy("modal-entropy", seed=0))
    X_pool, y_pool = X[15:], y[15:]
    for _ in range(3):
        p = np.mean([m.predict_proba(X_pool) for m in members], axis=0)
        entropy = -(p * np.log(p)).sum(1)
        idx, rows = committee.query(X_pool, n_instances=5)
        assert set(idx.tolist()) == set(np.argsort(-entropy)[:5].tolist())
        committee.teach(rows, y_pool[idx])
        X_pool, y_pool = np.delete(X_pool, idx, axis=0), np.delete(y_pool, idx)
    assert [len(m.X_training) for m in members] == [30, 30, 30]


def test_regressor_learner_with_coreset():
    X, _ = blobs()
    target = X @ np.array([0.3, -0.1, 0.2, 0.0, 0.1])
    learner = ActiveLearner(Ridge(), as_query_strategy("coreset", seed=0), X_training=X[:10], y_training=target[:10])
    pool = mmal.Pool({"x": X}, mmal.Task("regression"), labels={"M": np.r_[target[:10], np.full(len(X) - 10, np.nan)]})
    want = mmal.strategies.get("coreset").select(SklearnModel(learner.estimator), pool, 6, rng=mmal.derive_rng(0, 1, "coreset"))
    idx, rows = learner.query(X[10:], n_instances=6)
    assert np.array_equal(idx, want.positions - 10)
    learner.teach(rows, target[10:][idx])
    assert len(learner.X_training) == 16


def test_unfitted_learner_random_only_and_bad_rows():
    X, y = blobs()
    empty = ActiveLearner(LogisticRegression(), as_query_strategy("random", seed=1))
    idx, _ = empty.query(X, n_instances=4)
    assert np.array_equal(idx, mmal.derive_rng(1, 1, "random").choice(len(X), 4, replace=False))
    needs = ActiveLearner(LogisticRegression(), as_query_strategy("coreset"))
    with pytest.raises(mmal.CapabilityError, match="fit the learner first"):
        needs.query(X, n_instances=2)
    learner = ActiveLearner(LogisticRegression(), as_query_strategy("modal-margin"), X_training=X[:10], y_training=y[:10])
    bad = X[10:].copy()
    bad[3, 1] = np.nan
    with pytest.raises(mmal.PoolError, match=r"X_pool has NaN or inf in rows \[3\]"):
        learner.query(bad, n_instances=2)
    with pytest.raises(mmal.PoolError, match="X_pool must be a 2-D feature matrix"):
        learner.query(X[10:, 0], n_instances=2)
    with pytest.raises(mmal.PoolError, match="X_pool has 3 features but the learner's X_training has 5"):
        learner.query(X[10:, :3], n_instances=2)
    from scipy import sparse

    with pytest.raises(mmal.PoolError, match="sparse matrix.*toarray"):
        learner.query(sparse.csr_matrix(X[10:]), n_instances=2)


FRESH = r"""
import numpy as np, warnings
from modAL.models import ActiveLearner
from sklearn.linear_model import LogisticRegression
import sklearn
from mmal.compat.modal import as_query_strategy

warnings.simplefilter("error")  # no deprecation or compatibility warning either
rng = np.random.default_rng(0)
y = rng.integers(0, 3, 200)
X = rng.normal(size=(200, 4)) + y[:, None]
for name in ("modal-margin", "coreset", "dbal", "badge"):
    learner = ActiveLearner(LogisticRegression(), as_query_strategy(name, seed=0), X_training=X[:10], y_training=y[:10])
    X_pool, y_pool = X[10:], y[10:]
    for _ in range(3):
        idx, rows = learner.query(X_pool, n_instances=5)
        learner.teach(rows, y_pool[idx])
        X_pool, y_pool = np.delete(X_pool, idx, axis=0), np.delete(y_pool, idx)
    assert len(learner.X_training) == 25, name
plain = ActiveLearner(LogisticRegression(), X_training=X[:10], y_training=y[:10])
try:
    plain.teach(X[10:11], y[10:11])
    print("plain-ok", sklearn.__version__)
except TypeError as exc:
    print("plain-TypeError", sklearn.__version__)
"""


def test_out_of_the_box_in_a_fresh_process():
    proc = subprocess.run([sys.executable, "-c", FRESH], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    status, version = proc.stdout.split()
    print(f"scikit-learn {version}: a learner without mmal -> {status}")
    major, minor = (int(v) for v in version.split(".")[:2])
    # mmal changed nothing for learners that do not use it: they fail on >= 1.8 exactly as without mmal
    assert status == ("plain-TypeError" if (major, minor) >= (1, 8) else "plain-ok")
