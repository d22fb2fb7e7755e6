"""mmal.adapters.SklearnModel: a scikit-learn estimator as a TaskModel (issue 17 item 3).

The closed-form log-loss gradient against torch autograd (multinomial, binary, with bias, in a
Pipeline), the one-vs-rest refusal, strategies that need only predict_proba or features on a
plain fitted estimator against their formulas, fitting, and the errors for bad input.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge, RidgeClassifier, SGDClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import mmal
from mmal.adapters import SklearnModel


def data(n=80, n_labeled=20, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    X = rng.normal(size=(n, 5)) + y[:, None] * np.array([1.0, 0.5, 0, 0, 0])
    labels = np.where(np.arange(n) < n_labeled, y, np.nan)
    return X, y, mmal.Pool({"x": X}, mmal.Task("classification", n_classes=classes), labels={"M": labels})


def autograd_coef_gradients(est, H, yhat, bias=False):
    """Per-sample d log-loss / d (coef_ [, intercept_]) by torch autograd, the model rebuilt from its parameters."""
    W = torch.tensor(est.coef_, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(est.intercept_, dtype=torch.float64, requires_grad=True)
    rows = []
    for h, y in zip(torch.tensor(H, dtype=torch.float64), yhat):
        z = W @ h + b
        if W.shape[0] == 1:  # binary: the sigmoid log-loss on the one logit
            loss = torch.nn.functional.binary_cross_entropy_with_logits(z, torch.tensor([float(y)], dtype=torch.float64))
        else:
            loss = torch.nn.functional.cross_entropy(z[None], torch.tensor([int(y)]))
        gW, gb = torch.autograd.grad(loss, [W, b])
        rows.append(torch.cat([gW, gb[:, None]], 1).ravel() if bias else gW.ravel())
    return torch.stack(rows).numpy()


@pytest.mark.parametrize("classes", [3, 2])
@pytest.mark.parametrize("bias", [False, True])
def test_log_loss_gradient_equals_autograd(classes, bias):
    X, y, pool = data(classes=classes)
    est = LogisticRegression().fit(X[:20], y[:20])
    model = SklearnModel(est)
    assert model.capabilities == {"embed", "grad_embed"} and model.grad_layers() == ["head:M"]
    unl = pool.unlabeled_positions()
    g = model.grad_embed(pool, unl, bias=bias)
    yhat = est.predict_proba(X[unl]).argmax(1)
    assert g.delta.shape == (len(unl), classes if classes > 2 else 1)
    assert np.allclose(g.explicit(), autograd_coef_gradients(est, X[unl], yhat, bias), atol=1e-10)
    labels = np.random.default_rng(1).integers(0, classes, len(unl))
    explicit = model.grad_embed(pool, unl, pseudo=labels)
    assert np.allclose(explicit.explicit(), autograd_coef_gradients(est, X[unl], labels), atol=1e-10)


def test_pipeline_gradient_and_embedding_are_on_the_transformed_inputs():
    X, y, pool = data()
    clf = make_pipeline(StandardScaler(), LogisticRegression()).fit(X[:20], y[:20])
    model = SklearnModel(clf)
    H = clf[:-1].transform(X)
    emb = model.embed(pool)
    assert np.allclose(emb["fused"], H) and np.array_equal(emb["x"], X)
    yhat = clf.predict(X)
    assert np.allclose(model.grad_embed(pool).explicit(), autograd_coef_gradients(clf[-1], H, yhat), atol=1e-10)


def test_non_softmax_or_non_linear_models_get_no_wrong_gradient():
    X, y, pool = data()
    ovr = SGDClassifier(loss="log_loss", random_state=0).fit(X[:20], y[:20])  # multiclass: one-vs-rest
    with pytest.raises(mmal.CapabilityError, match="not the softmax of its decision_function.*LogisticRegression"):
        SklearnModel(ovr).grad_embed(pool)
    forest = SklearnModel(RandomForestClassifier(n_estimators=5, random_state=0).fit(X[:20], y[:20]))
    assert forest.capabilities == {"embed"}
    with pytest.raises(mmal.CapabilityError, match="requires the model capabilities \\['grad_embed'\\]"):
        mmal.strategies.get("badge").select(forest, pool, 3, rng=mmal.derive_rng(0, 1, "badge"))
    assert SklearnModel(LogisticRegression()).capabilities == {"embed", "grad_embed"}  # unfitted: by its class
    assert SklearnModel(RidgeClassifier()).capabilities == {"embed"}  # no predict_proba


def _margin(p):
    top = np.sort(p, axis=1)
    return top[:, -1] - top[:, -2]


def test_strategies_on_a_plain_fitted_estimator_match_their_formulas():
    X, y, pool = data(n=60)
    est = LogisticRegression().fit(X[:20], y[:20])
    model = SklearnModel(est)
    unl = pool.unlabeled_positions()
    p = est.predict_proba(X[unl])
    # margin (modAL's function through mmal): the k smallest top-two gaps
    sel = mmal.strategies.get("modal-margin").select(model, pool, 6, rng=mmal.derive_rng(0, 1, "m"))
    assert np.allclose(np.sort(_margin(p))[:6], -sel.scores) and set(sel.positions) == set(unl[np.argsort(_margin(p))[:6]])
    # entropy
    ent = -(p * np.log(p)).sum(1)
    sel = mmal.strategies.get("modal-entropy").select(model, pool, 6, rng=mmal.derive_rng(0, 1, "e"))
    assert set(sel.positions) == set(unl[np.argsort(-ent)[:6]])
    # CoreSet on the inputs: farthest-first traversal from the labeled rows, by a direct loop
    lab = list(pool.labeled_positions())
    want = []
    for _ in range(5):
        cand = [i for i in unl if i not in want]
        d = [min(np.linalg.norm(X[i] - X[j]) for j in lab + want) for i in cand]
        want.append(cand[int(np.argmax(d))])
    sel = mmal.strategies.get("coreset").select(model, pool, 5, rng=mmal.derive_rng(0, 1, "c"))
    assert sel.positions.tolist() == want
    # DBAL and BADGE run and pick unlabeled samples
    for name in ("dbal", "badge"):
        sel = mmal.strategies.get(name).select(model, pool, 5, rng=mmal.derive_rng(0, 1, name))
        assert len(set(sel.positions)) == 5 and not pool.labeled[sel.positions].any()


def test_fit_uses_a_seeded_clone_and_the_adapter_runs_in_run_loop():
    X, y, pool = data()
    est = LogisticRegression()
    model = SklearnModel(est).fit(pool, seed=3)
    assert not hasattr(est, "coef_") and model.estimator_ is not est  # yours is never changed
    assert model.estimator_.get_params()["random_state"] == 3
    ref = LogisticRegression(random_state=3).fit(X[:20], y[:20])
    assert np.allclose(model.predict_proba(pool)["M"], ref.predict_proba(X))
    forest = SklearnModel(RandomForestClassifier(n_estimators=3, random_state=7)).fit(pool, seed=3)
    assert forest.estimator_.get_params()["random_state"] == 7  # a random_state you set is kept
    ds = mmal.datasets.get("toy", size="tiny", seed=0)
    records = mmal.run_loop(ds, mmal.strategies.get("badge"), lambda: SklearnModel(LogisticRegression()),
                            init=12, budget=5, rounds=2, seed=0)
    assert [r.n_labeled for r in records] == [12, 17, 22]


@pytest.mark.parametrize("name", ["badge", "modal-margin"])
def test_conformance_kit_through_the_adapter(name):
    mmal.check_strategy(name, model_factory=lambda: SklearnModel(LogisticRegression()))


def test_classes_the_estimator_never_saw_get_probability_zero_and_labels_map():
    X, y, pool = data(classes=3)
    seen = y[:20] != 2
    est = LogisticRegression().fit(X[:20][seen], y[:20][seen])  # classes_ = [0, 1]
    p = SklearnModel(est).predict_proba(pool)["M"]
    assert p.shape == (pool.n, 3) and np.all(p[:, 2] == 0) and np.allclose(p[:, :2], est.predict_proba(X))
    names = np.array(["cat", "dog", "eel"])[y]
    by_name = LogisticRegression().fit(X[:20], names[:20])  # string labels, in the task's class order
    assert np.allclose(SklearnModel(by_name).predict_proba(pool)["M"], by_name.predict_proba(X))


def test_regressor_serves_the_feature_strategies():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    target = X @ [0.5, -0.2, 0.1]
    pool = mmal.Pool({"x": X}, mmal.Task("regression"), labels={"M": np.where(np.arange(50) < 10, target, np.nan)})
    model = SklearnModel(Ridge().fit(X[:10], target[:10]))
    assert np.allclose(model.predict(pool)["M"], Ridge().fit(X[:10], target[:10]).predict(X))
    for name in ("coreset", "random"):
        assert len(mmal.strategies.get(name).select(model, pool, 4, rng=mmal.derive_rng(0, 1, name)).positions) == 4
    with pytest.raises(mmal.CapabilityError, match="predict_proba_samples"):
        mmal.strategies.get("dbal").select(model, pool, 4, rng=mmal.derive_rng(0, 1, "dbal"))


def test_clear_errors_for_bad_input():
    X, y, pool = data()
    with pytest.raises(TypeError, match="estimator with fit and predict"):
        SklearnModel(object())
    with pytest.raises(mmal.CapabilityError, match="not fitted; call fit"):
        SklearnModel(LogisticRegression()).predict_proba(pool)
    with pytest.raises(mmal.PoolError, match=r"modalities=\['audio'\]\) names \['audio'\], which the pool lacks"):
        SklearnModel(LogisticRegression().fit(X, y), modalities=["audio"]).predict(pool)
    no_proba = SklearnModel(RidgeClassifier().fit(X[:20], y[:20]))
    assert np.array_equal(no_proba.predict(pool)["M"], RidgeClassifier().fit(X[:20], y[:20]).predict(X))
    with pytest.raises(mmal.CapabilityError, match="RidgeClassifier has no predict_proba.*LogisticRegression"):
        mmal.strategies.get("modal-margin").select(no_proba, pool, 3, rng=mmal.derive_rng(0, 1, "m"))
    model = SklearnModel(LogisticRegression().fit(X[:20], y[:20]))
    with pytest.raises(ValueError, match="one head 'M' and one layer 'head:M'"):
        model.grad_embed(pool, layer="enc:x")
    with pytest.raises(ValueError, match=r"class indices of shape \(80,\)"):
        model.grad_embed(pool, pseudo=np.zeros(3))
    with pytest.raises(mmal.PoolError, match="neither class indices"):
        SklearnModel(LogisticRegression().fit(X, y + 5 * (y == 2))).predict_proba(
            mmal.Pool({"x": X}, mmal.Task("classification", n_classes=2)))
