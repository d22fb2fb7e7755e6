"""GRACE (paper 000 Eqs. 3-8) and BMMAL (paper 002 Eqs. 10-15) on the shipped task models
(``mtl``, ``mm-classifier``, ``awf``, ``dmmsa``) against brute force on the real network.

A valid selection (unique, unlabeled, right size) says nothing about whether a task model's
``grad_embed`` / ``predict_masked`` / ``embed`` are right; these tests recompute what the
strategies read, from a float64 copy of the fitted network and nothing else:

* GRACE: for every unlabeled sample alone, one forward pass; each head's pseudo-label from that
  pass (its own prediction: the argmax, or ``yhat + sign(yhat)`` for regression, GRACE's default
  ``pseudo="own"``); ``torch.autograd.grad`` of the head's per-sample loss (CE / L1, times the
  head's Eq. 3 weight ``model.loss_weights``, 1 where the model has none) w.r.t. the weight of
  every encoder's last layer ``W_k``; then Eqs. 4-7 on the explicit vectors, compared with
  ``Selection.info``'s per-criterion scores and ``Selection.scores``.
* BMMAL: ``V(S)`` for every modality subset from the network with the absent modalities'
  features zeroed, Shapley values by the permutation formula (Eq. 10), Eq. 12, Eq. 14's
  weights, and the Eq. 15 embedding from autograd of the fused head's CE (pseudo-label: the
  fused argmax, Eq. 3) w.r.t. the layer reading ``[f_1, ..., f_M]``, column block ``m`` scaled
  by ``w_m``; compared with what BMMAL hands to k-means++ (its Gram matrix, so the norms and
  the geometry), its first pick (the largest norm) and its recorded contributions.

The strategies run on a float64 twin of the fitted model (its network cast to float64, its
batches loaded in float64; the capabilities return float32 arrays), so a mismatch is a bug, not
rounding; tolerances are float32's. On the model as fitted (float32) only the well-conditioned
criteria are compared: a head whose prediction is saturated (``1 - p ~ 1e-6``) has a CE
gradient of norm ``~1e-6`` whose direction float32 gets only to a few percent (``p_y - 1`` is
rounded at ``6e-8``), so its Eq. 6 cosine is rounding-limited (measured: 0.170 vs 0.173 on an
``awf`` sample). Pairings a strategy's ``tasks`` exclude are not compared; a test asserts the exclusion.
"""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import mmal
import mmal.arrays._bmmal as bmmal_plugin  # where BMMAL calls k-means++
import mmal.nn.capabilities as capabilities
from mmal.grads import explicit
from mmal.nn.toy import sims_like_pool, vector_pool
from mmal.nn.training import load_batch

from test_grace import explicit_criteria, explicit_minmax

KW = dict(epochs=20, lr=1e-2, feature_dim=6, hidden=8, batch_size=12, lstm_layers=1)  # heads disagree on some samples
N, N_LABELED = 36, 24  # 12 unlabeled samples scored

CASES = {  # id -> (task model, task kind, pool factory)
    "mtl-regression": ("mtl", "regression", lambda: sims_like_pool(N, kind="regression", n_labeled=N_LABELED, seed=1)),
    "mtl-classification": ("mtl", "classification", lambda: sims_like_pool(N, kind="classification", n_labeled=N_LABELED, seed=2)),
    "mm-classifier-concat": ("mm-classifier", "classification",
                             lambda: vector_pool(N, kind="classification", n_labeled=N_LABELED, seed=3, dims=(8, 5))),
    "awf-regression": ("awf", "regression", lambda: sims_like_pool(N, kind="regression", n_labeled=N_LABELED, seed=4)),
    "awf-classification": ("awf", "classification", lambda: sims_like_pool(N, kind="classification", n_labeled=N_LABELED, seed=5)),
    "dmmsa-regression": ("dmmsa", "regression", lambda: sims_like_pool(N, kind="regression", n_labeled=N_LABELED, seed=6)),
    "dmmsa-classification": ("dmmsa", "classification",
                             lambda: sims_like_pool(N, kind="classification", n_labeled=N_LABELED, seed=7)),
}
_FITTED: dict[str, tuple] = {}


def fitted(case: str):
    """The case's pool and its task model fitted on the labeled part (cached across tests)."""
    if case not in _FITTED:
        name, _, make = CASES[case]
        pool = make()
        args = {**KW, "fusion": "concat"} if name == "mm-classifier" else KW
        _FITTED[case] = (mmal.task_models.get(name, **args).fit(pool, seed=0), pool)
    return _FITTED[case]


def float64_twin(model, monkeypatch):
    """A shallow copy of ``model`` whose network runs in float64 (batches loaded in float64)."""
    def load64(*args, **kw):
        return {m: (x.double() if x.is_floating_point() else x, lens) for m, (x, lens) in load_batch(*args, **kw).items()}

    monkeypatch.setattr(capabilities, "load_batch", load64)
    twin = copy.copy(model)
    twin.net_ = copy.deepcopy(model.net_).double()
    return twin


# ----------------------------------------------------------------------------- the network, one sample at a time
def float64_net(model):
    net = copy.deepcopy(model.net_).double().eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def one_sample(model, pool, position: int):
    """The sample's batch of one, floating inputs in float64."""
    batch = load_batch(pool, model.specs_, np.array([position]), torch.device("cpu"))
    return {m: (x.double() if x.is_floating_point() else x, lens) for m, (x, lens) in batch.items()}


def own_label(pred: torch.Tensor, classification: bool) -> torch.Tensor:
    """GRACE's default pseudo-label of a head from its own output (plugin docstring)."""
    if classification:
        return pred.argmax(1)
    return pred[:, 0] + (1.0 if float(pred[0, 0]) >= 0 else -1.0)


def head_loss(pred: torch.Tensor, label: torch.Tensor, classification: bool) -> torch.Tensor:
    """GRACE Eqs. 1-2 / BMMAL Eq. 1 for one sample: cross-entropy on logits, L1 on values."""
    return F.cross_entropy(pred, label.long()) if classification else (pred[:, 0] - label).abs().sum()


def brute_force_grace_gradients(model, pool, positions, loss_weights):
    """{modality: (G_k [n, c*d], G_mk [n, c*d])}: per sample, autograd of ``w_head L_head(own label)`` w.r.t. W_k."""
    net, cls = float64_net(model), pool.task.is_classification
    layers = net.grad_layers()
    W = {m: layers[f"enc:{m}"].weight for m in model.unimodal_heads}
    for w in W.values():
        w.requires_grad_(True)
    G = {m: ([], []) for m in W}
    for i in positions:
        out = net(one_sample(model, pool, int(i)))
        for m, head in model.unimodal_heads.items():
            for h, acc in ((head, G[m][0]), ("M", G[m][1])):
                loss = loss_weights.get(h, 1.0) * head_loss(out.heads[h], own_label(out.heads[h].detach(), cls), cls)
                (g,) = torch.autograd.grad(loss, W[m], retain_graph=True)
                acc.append(g.flatten().numpy())
    return {m: (np.array(a), np.array(b)) for m, (a, b) in G.items()}


def shapley_brute_force(V: dict[frozenset, float], mods: list[str]) -> np.ndarray:
    """Eq. 10 as the mean marginal contribution over all orderings of the modalities."""
    phi = np.zeros(len(mods))
    perms = list(itertools.permutations(mods))
    for perm in perms:
        for k, m in enumerate(perm):
            phi[mods.index(m)] += V[frozenset(perm[: k + 1])] - V[frozenset(perm[:k])]
    return phi / len(perms)


def brute_force_bmmal(model, pool, positions):
    """Per sample: Eq. 12's contributions ``Phi [n, M]`` and Eq. 15's embedding ``[n, c*D]``."""
    net = float64_net(model)
    mods = list(model.unimodal_heads)
    layers = net.grad_layers()
    layer = layers["fuse:M"] if "fuse:M" in layers else layers["head:M"]  # the linear layer reading [f_1, ..., f_M]
    Phi, E = [], []
    for i in positions:
        x = one_sample(model, pool, int(i))
        yhat = int(net(x).heads["M"].argmax(1))
        V = {}
        for r in range(len(mods) + 1):
            for present in itertools.combinations(mods, r):
                logits = net(x, absent=frozenset(mods) - set(present)).heads["M"]
                V[frozenset(present)] = float(torch.softmax(logits, 1)[0, yhat])
        phi = np.abs(shapley_brute_force(V, mods))
        Phi.append(phi / phi.sum() if phi.sum() > 0 else np.full(len(mods), 1 / len(mods)))
        w = 1.0 - (Phi[-1].max() - Phi[-1])  # Eq. 14, generalized (plugin docstring)
        layer.weight.requires_grad_(True)
        out = net(x)
        (g,) = torch.autograd.grad(F.cross_entropy(out.heads["M"], torch.tensor([yhat])), layer.weight)
        layer.weight.requires_grad_(False)
        widths = [out.features[m].shape[1] for m in mods]
        assert sum(widths) == g.shape[1], "the layer must read the concatenated modality features"
        blocks = torch.split(g, widths, dim=1)
        E.append(np.concatenate([w[j] * b.numpy() for j, b in enumerate(blocks)], axis=1).ravel())
    return np.array(Phi), np.array(E)


# ----------------------------------------------------------------------------- GRACE
def grace_cases():
    for case in CASES:
        yield pytest.param(case, "model", id=f"{case}-weights:model")
    yield pytest.param("mtl-regression", None, id="mtl-regression-weights:none")
    yield pytest.param("mtl-classification", None, id="mtl-classification-weights:none")


def grace_reference(case, loss_weights):
    """Brute-force Eqs. 4-6 (cached): the fitted model, its pool, U and ``(s_i, s_r, s_e)``."""
    key = (case, loss_weights)
    if key not in _REFERENCE:
        model, pool = fitted(case)
        U = pool.unlabeled_positions()
        weights = (getattr(model, "loss_weights", None) or {}) if loss_weights == "model" else {}
        _REFERENCE[key] = explicit_criteria(brute_force_grace_gradients(model, pool, U, weights))
    return _REFERENCE[key]


_REFERENCE: dict = {}


@pytest.mark.parametrize("case,loss_weights", list(grace_cases()))
def test_grace_criteria_and_scores_equal_per_sample_autograd(case, loss_weights, monkeypatch):
    model, pool = fitted(case)
    U = pool.unlabeled_positions()
    weights = (getattr(model, "loss_weights", None) or {}) if loss_weights == "model" else {}
    s_i, s_r, s_e = grace_reference(case, loss_weights)
    alpha = 1.0 - 0.1  # round 2, Eq. 8
    score = alpha * explicit_minmax(s_e) + explicit_minmax(s_i) * explicit_minmax(s_r)  # Eq. 7

    twin = float64_twin(model, monkeypatch)
    sel = mmal.strategies.get("grace", loss_weights=loss_weights).select(twin, pool, len(U), rng=np.random.default_rng(0), round=2)
    at = {int(p): j for j, p in enumerate(U)}
    idx = np.array([at[int(p)] for p in sel.positions])  # brute-force row of each pick
    assert sorted(idx.tolist()) == list(range(len(U)))
    heads = ["M", *model.unimodal_heads.values()]
    assert sel.info["loss_weights"] == {h: weights.get(h, 1.0) for h in heads}
    if model.__class__.__name__ == "MultiTaskLateFusion" and loss_weights == "model":
        assert sel.info["loss_weights"] == {"M": 1.0, "T": 0.2, "A": 0.8, "V": 0.4}  # Eq. 3
    for name, ref in (("informativeness", s_i), ("representativeness", s_r), ("easiness", s_e)):
        np.testing.assert_allclose(sel.info[f"{name}_raw"], ref[idx], rtol=1e-5, atol=1e-5 * np.abs(ref).max(),
                                   err_msg=f"{case}: Eq. {dict(informativeness=4, representativeness=5, easiness=6)[name]}")
        np.testing.assert_allclose(sel.info[name], explicit_minmax(ref)[idx], atol=1e-4, err_msg=f"{case}: normalized {name}")
    np.testing.assert_allclose(sel.scores, score[idx], atol=1e-4, err_msg=f"{case}: Eq. 7")
    # not vacuous: every head's pseudo-label differs from the fused head's on some sample (a
    # swapped label changes a gradient), and every criterion varies far beyond the tolerances
    pred = twin.predict(pool, U)
    key = (lambda v: v) if pool.task.is_classification else np.sign
    assert all((key(pred[h]) != key(pred["M"])).any() for h in model.unimodal_heads.values()), pred
    assert min(np.ptp(s_i) / s_i.max(), np.ptp(s_r) / s_r.max()) > 1e-3 and np.ptp(s_e) > 0.02, (s_i, s_r, s_e)


@pytest.mark.parametrize("case", list(CASES))
def test_grace_on_the_float32_model_equals_the_reference_where_well_conditioned(case):
    """The model as fitted (float32): Eqs. 4-5 (norms and distances of the summed gradients)."""
    model, pool = fitted(case)
    U = pool.unlabeled_positions()
    s_i, s_r, _ = grace_reference(case, "model")
    out = mmal.strategies.get("grace").scores(model, pool, U, rng=np.random.default_rng(0), round=2)
    np.testing.assert_allclose(out["raw"]["informativeness"], s_i, rtol=1e-4, atol=1e-5 * s_i.max(), err_msg=f"{case}: Eq. 4")
    np.testing.assert_allclose(out["raw"]["representativeness"], s_r, rtol=1e-4, atol=1e-5 * s_r.max(), err_msg=f"{case}: Eq. 5")


def test_grace_loss_weights_scale_each_heads_gradient():
    """Eq. 3 inside the gradients: on ``mtl`` the weighted criteria are those of the explicit
    ``w_k g_k + w_m g_mk``; Eq. 6 is unchanged by the positive weights, Eqs. 4-5 are not."""
    model, pool = fitted("mtl-regression")
    U = pool.unlabeled_positions()
    rng = np.random.default_rng(0)
    a = mmal.strategies.get("grace").scores(model, pool, U, rng=rng)
    b = mmal.strategies.get("grace", loss_weights=None).scores(model, pool, U, rng=rng)
    c = mmal.strategies.get("grace", loss_weights={}).scores(model, pool, U, rng=rng)
    d = mmal.strategies.get("grace", loss_weights=dict(model.loss_weights)).scores(model, pool, U, rng=rng)
    np.testing.assert_allclose(a["raw"]["easiness"], b["raw"]["easiness"], atol=1e-6)
    assert np.abs(a["raw"]["informativeness"] / b["raw"]["informativeness"] - 1).max() > 0.05
    np.testing.assert_array_equal(b["score"], c["score"])  # {} weighs every head 1, as None
    np.testing.assert_array_equal(a["score"], d["score"])  # "model" reads model.loss_weights


def test_grace_loss_weights_bad_values_are_named():
    with pytest.raises(ValueError, match="loss_weights"):
        mmal.strategies.get("grace", loss_weights="paper")
    with pytest.raises(ValueError, match="loss_weights"):
        mmal.strategies.get("grace", loss_weights={"T": -0.2})
    model, pool = fitted("mtl-regression")
    bad = copy.copy(model)
    bad.loss_weights = {"T": float("nan")}
    with pytest.raises(ValueError, match="MultiTaskLateFusion.loss_weights"):
        mmal.strategies.get("grace").select(bad, pool, 3, rng=np.random.default_rng(0))


# ----------------------------------------------------------------------------- BMMAL
BMMAL_CASES = [case for case, (_, kind, _) in CASES.items() if kind == "classification"]


def test_bmmal_is_classification_only_so_its_regression_cases_are_not_compared():
    """BMMAL's outcome V(S) is a class probability: the regression cases are excluded on purpose."""
    assert mmal.strategies.get("bmmal").tasks == {"classification"}
    assert set(CASES) - set(BMMAL_CASES) == {c for c, (_, kind, _) in CASES.items() if kind == "regression"}


@pytest.mark.parametrize("case", BMMAL_CASES)
def test_bmmal_contributions_and_embedding_equal_brute_force(case, monkeypatch):
    strategy = mmal.strategies.get("bmmal")
    fit, pool = fitted(case)
    U = pool.unlabeled_positions()
    mods = list(fit.unimodal_heads)
    Phi, E = brute_force_bmmal(fit, pool, U)
    model = float64_twin(fit, monkeypatch)

    # Eqs. 10-12 as the core computes them from predict_masked
    from mmal.shapley import contributions, shapley, subset_values

    np.testing.assert_allclose(contributions(shapley(subset_values(model, pool, U, mods))), Phi, atol=2e-5,
                               err_msg=f"{case}: Eq. 12 contributions")

    seen = []
    real = bmmal_plugin.kmeanspp

    def recording(emb, k, rng, **kw):
        seen.append(emb)
        return real(emb, k, rng, **kw)

    monkeypatch.setattr(bmmal_plugin, "kmeanspp", recording)
    sel = strategy.select(model, pool, 4, rng=np.random.default_rng(0))
    (emb,) = seen
    got = explicit(emb) if not isinstance(emb, np.ndarray) else emb
    gram, ref = got @ got.T, E @ E.T
    np.testing.assert_allclose(gram, ref, rtol=1e-4, atol=1e-5 * np.abs(ref).max(), err_msg=f"{case}: Eq. 15 Gram")
    norms = np.linalg.norm(E, axis=1)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), norms, rtol=1e-4, atol=1e-5 * norms.max(),
                               err_msg=f"{case}: Eq. 15 norms")
    top2 = np.sort(norms)[-2:]
    if top2[1] - top2[0] > 1e-3 * top2[1]:  # k-means++ starts at the largest norm
        assert sel.positions[0] == U[norms.argmax()]
    picks = np.searchsorted(U, sel.positions)
    for j, m in enumerate(mods):
        assert sel.info["contribution_pool"][m] == pytest.approx(Phi[:, j].mean(), abs=2e-5)
        assert sel.info["contribution_selected"][m] == pytest.approx(Phi[picks, j].mean(), abs=2e-5)
    # not vacuous: the weights differ from 1 and between samples, so Eq. 15 is not plain BADGE
    w = 1.0 - (Phi.max(1, keepdims=True) - Phi)
    assert w.min() < 0.95 and np.ptp(Phi[:, 0]) > 0.05, Phi
