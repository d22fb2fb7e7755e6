"""BMMAL (paper 002 Sec. 3.3-3.5) against the brute-force Shapley formula, Eq. 14 written out,
the explicit (autograd) scaled gradient embedding on concat, sum and NL-gate fusion, and BADGE
when contributions are balanced."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import mmal
from mmal.grads import explicit
from mmal.kernels import kmeanspp
from mmal.testing import check_strategy

from mmal.arrays import modality_weights
from mmal.builtin.bmmal import Bmmal, modality_inputs, scaled_gradient_blocks
from mmal.shapley import contributions, shapley, subset_values
from mmal.nn import MultimodalClassifier
from mmal.nn.nlgate import NLGateClassifier
from mmal.nn.toy import vector_pool
from mmal.nn.training import load_batch
from test_grace import TinyMultimodal, planted_pool


def concat_model(n_mod=2, seed=0, n=36):
    pool = planted_pool(n=n, n_mod=n_mod, seed=seed)
    return TinyMultimodal(fused_mlp=False).fit(pool, seed=seed), pool


def brute_force_shapley(model, pool, pos, mods):
    """phi_m = (1/M!) sum over orderings of m's marginal contribution when it joins (permutation form)."""
    full = model.predict_masked(pool, pos, absent=frozenset())
    yhat, rows = full.argmax(1), np.arange(len(pos))

    def V(present):
        return model.predict_masked(pool, pos, absent=frozenset(mods) - set(present))[rows, yhat]

    phi = np.zeros((len(pos), len(mods)))
    perms = list(itertools.permutations(mods))
    for perm in perms:
        for k, m in enumerate(perm):
            phi[:, mods.index(m)] += V(perm[: k + 1]) - V(perm[:k])
    return phi / len(perms)


# ----------------------------------------------------------------------------- Shapley, Eqs. 10-12
@pytest.mark.parametrize("n_mod", [2, 3])
def test_shapley_equals_brute_force_permutation_formula(n_mod):
    model, pool = concat_model(n_mod)
    U = pool.unlabeled_positions()
    mods = list(model.unimodal_heads)
    phi = shapley(subset_values(model, pool, U, mods))
    np.testing.assert_allclose(phi, brute_force_shapley(model, pool, U, mods), atol=1e-12)
    full = model.predict_masked(pool, U)
    v_full = full[np.arange(len(U)), full.argmax(1)]
    v_none = model.predict_masked(pool, U, absent=frozenset(mods))[np.arange(len(U)), full.argmax(1)]
    np.testing.assert_allclose(phi.sum(1), v_full - v_none, atol=1e-12)  # efficiency
    assert np.abs(phi).max() > 1e-3
    if n_mod == 2:  # Eq. 11 written out
        a, b = mods
        V = lambda present: model.predict_masked(pool, U, absent=frozenset(mods) - set(present))[np.arange(len(U)), full.argmax(1)]
        np.testing.assert_allclose(phi[:, 0], 0.5 * (V([a, b]) - V([b]) + V([a]) - V([])), atol=1e-12)
        np.testing.assert_allclose(phi[:, 1], 0.5 * (V([a, b]) - V([a]) + V([b]) - V([])), atol=1e-12)


def test_shapley_on_arbitrary_games_with_four_players():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(16, 5))  # V[S, sample] for 4 modalities
    phi = shapley(values)
    ref = np.zeros((5, 4))
    for perm in itertools.permutations(range(4)):
        mask = 0
        for j in perm:
            ref[:, j] += values[mask | 1 << j] - values[mask]
            mask |= 1 << j
    np.testing.assert_allclose(phi, ref / 24, atol=1e-12)


def test_contributions_eq12_and_the_all_zero_case():
    phi = np.array([[0.3, -0.1], [0.0, 0.0], [-0.2, 0.0], [0.1, 0.1]])
    np.testing.assert_allclose(contributions(phi), [[0.75, 0.25], [0.5, 0.5], [1.0, 0.0], [0.5, 0.5]])
    np.testing.assert_allclose(contributions(np.zeros((2, 3))), np.full((2, 3), 1 / 3))


# ----------------------------------------------------------------------------- weights, Eq. 14
def test_weights_equal_eq14_for_two_modalities_and_generalize():
    rng = np.random.default_rng(1)
    Phi = contributions(rng.normal(size=(50, 2)))
    w = modality_weights(Phi)
    for (p1, p2), (w1, w2) in zip(Phi, w):
        rho = abs(p1 - p2)
        assert (w1, w2) == pytest.approx((1.0, 1 - rho) if p1 >= p2 else (1 - rho, 1.0))
    np.testing.assert_allclose(modality_weights(np.array([[0.5, 0.3, 0.2], [0.4, 0.4, 0.2]])),
                               [[1.0, 0.8, 0.7], [1.0, 1.0, 0.8]])


# ----------------------------------------------------------------------------- embedding, Eq. 15
@pytest.mark.parametrize("n_mod,fused_mlp", [(2, False), (3, False), (3, True)])
def test_embedding_equals_explicit_scaled_gradient(n_mod, fused_mlp):
    """Eq. 15 against autograd: the gradient of the fused CE w.r.t. the linear layer reading
    [f_1, ..., f_M] (head:M, or fuse:M, the first layer of an MLP fused head), block m scaled by w_m."""
    pool = planted_pool(n=36, n_mod=n_mod, seed=2)
    model = TinyMultimodal(fused_mlp=fused_mlp).fit(pool, seed=2)
    U = pool.unlabeled_positions()
    mods = list(model.unimodal_heads)
    w = modality_weights(contributions(shapley(subset_values(model, pool, U, mods))))
    blocks = scaled_gradient_blocks(model, pool, U, mods, w)
    X = model._inputs(pool, U)
    widths = np.cumsum([0] + [model.width] * n_mod)
    rows = []
    for i in range(len(U)):
        P = {k: v.clone().requires_grad_(True) for k, v in model.params_.items()}
        logits = model.forward({k: v[i : i + 1] for k, v in X.items()}, P)[3]["M"]
        loss = torch.nn.functional.cross_entropy(logits, logits.detach().argmax(1))  # pseudo-label: fused argmax (Eq. 3)
        (g,) = torch.autograd.grad(loss, P["mlp.w" if fused_mlp else "head:M.w"])  # [out, sum of widths]
        g = g.numpy()
        rows.append(np.concatenate([w[i, j] * g[:, widths[j] : widths[j + 1]].ravel() for j in range(n_mod)]))
    np.testing.assert_allclose(explicit(blocks), np.array(rows), rtol=1e-5, atol=1e-6)
    assert (w < 1 - 1e-3).any()  # some block is really scaled


def per_sample_eq15(model, pool, positions, weights, fusion):
    """Eq. 15 row by row with autograd, each sample forwarded alone through the real network.

    concat: the gradient of the fused CE (pseudo-label: the fused argmax, Eq. 3) w.r.t. head:M's
    weight, split into its columns per modality. sum: head:M reads sum_m f_m; the logits are
    rebuilt with one untied copy of its weight per modality (checked equal to the network's) and
    block m is the gradient w.r.t. copy m. nlgate (the authors' rule): delta = dCE/dlogits of the
    full sample, z_m = head:M's input with only modality m present, block m = d(delta . W z_m)/dW."""
    net, mods = model.net_, list(model.unimodal_heads)
    W = net.grad_layers()["head:M"]
    net.eval()
    rows = []
    for j, i in enumerate(positions):
        batch = load_batch(pool, model.specs_, np.array([i]), model.device_)
        out = net(batch)
        logits = out.heads["M"]
        yhat = logits.detach().argmax(1)
        if fusion == "concat":
            (g,) = torch.autograd.grad(torch.nn.functional.cross_entropy(logits, yhat), W.weight)
            edges = np.cumsum([0] + [out.features[m].shape[1] for m in mods])
            blocks = [g[:, a:b] for a, b in zip(edges[:-1], edges[1:])]
        elif fusion == "sum":
            copies = [W.weight.detach().clone().requires_grad_(True) for _ in mods]
            untied = sum(out.features[m].detach() @ c.T for m, c in zip(mods, copies)) + W.bias.detach()
            torch.testing.assert_close(untied, logits.detach(), rtol=1e-5, atol=1e-6)
            blocks = torch.autograd.grad(torch.nn.functional.cross_entropy(untied, yhat), copies)
        else:
            (delta,) = torch.autograd.grad(torch.nn.functional.cross_entropy(logits, yhat), logits)
            blocks = []
            for m in mods:
                z_m = net(batch, absent=frozenset(mods) - {m}).fused.detach()
                (g,) = torch.autograd.grad((delta.detach() * W(z_m)).sum(), W.weight)
                blocks.append(g)
        rows.append(np.concatenate([weights[j, k] * b.detach().numpy().ravel() for k, b in enumerate(blocks)]))
    return np.stack(rows)


FUSION_MODELS = {
    "concat": lambda: MultimodalClassifier(feature_dim=6, hidden=8, epochs=30, device="cpu"),
    "sum": lambda: MultimodalClassifier(fusion="sum", feature_dim=6, hidden=8, epochs=30, device="cpu"),
    "nlgate": lambda: NLGateClassifier(feature_dim=6, tokens=3, hidden=8, epochs=30, device="cpu"),
}


@pytest.mark.parametrize("fusion", list(FUSION_MODELS))
@pytest.mark.parametrize("n_mod", [2, 3])
def test_embedding_on_torch_models_equals_per_sample_eq15(fusion, n_mod):
    pool = vector_pool(40, n_classes=4, n_labeled=24, seed=7, dims=(6, 5, 4)[:n_mod])
    model = FUSION_MODELS[fusion]().fit(pool, seed=1)
    U = pool.unlabeled_positions()
    mods = list(model.unimodal_heads)
    w = modality_weights(contributions(shapley(subset_values(model, pool, U, mods))))
    assert (w < 1 - 1e-2).any()  # some block is really scaled
    found, _, _ = modality_inputs(model, pool, U, mods)
    assert found == {"concat": "concat", "sum": "sum", "nlgate": "masked"}[fusion]
    fast = explicit(scaled_gradient_blocks(model, pool, U, mods, w))
    slow = per_sample_eq15(model, pool, U, w, fusion)
    np.testing.assert_allclose(fast, slow, rtol=1e-4, atol=1e-6 * np.abs(slow).max())
    assert (np.linalg.norm(slow, axis=1) > 0).all()
    sel = Bmmal().select(model, pool, 5, rng=np.random.default_rng(0))  # sum fusion raised CapabilityError before
    assert sel.info["fusion"] == found and len(set(sel.positions.tolist())) == 5


class MaskableClassifier(MultimodalClassifier):
    """mm-classifier whose embed takes absent= (as nlgate's), to check the masked rule on concat / sum."""

    def embed(self, pool, positions=None, *, absent=frozenset()):
        pos = self._positions(pool, positions)
        parts = ({**o.features, "fused": o.fused} for o in self._outputs(pool, pos, frozenset(absent)))
        width = self.net_.mm.in_features
        return self._collect(parts, {**{m: (self.feature_dim,) for m in self.specs_}, "fused": (width,)})


@pytest.mark.parametrize("fusion", ["concat", "sum"])
def test_masked_rule_gives_the_concat_and_sum_blocks(fusion):
    """z_m = head:M's input with only m present is f_m zero-padded (concat) or f_m (sum): the one
    rule the NL-gate path uses gives the concat and sum blocks, so the same k-means++ picks."""
    pool = vector_pool(40, n_classes=4, n_labeled=24, seed=8, dims=(6, 5))
    model = MaskableClassifier(fusion=fusion, feature_dim=6, hidden=8, epochs=30, device="cpu").fit(pool, seed=0)
    U = pool.unlabeled_positions()
    mods = list(model.unimodal_heads)
    found, delta, z = modality_inputs(model, pool, U, mods)
    assert found == fusion
    alone = [model.embed(pool, U, absent=[o for o in mods if o != m])["fused"] for m in mods]
    if fusion == "concat":
        np.testing.assert_allclose(alone[0], np.concatenate([z[0], np.zeros_like(z[1])], 1), atol=1e-6)
        np.testing.assert_allclose(alone[1], np.concatenate([np.zeros_like(z[0]), z[1]], 1), atol=1e-6)
    else:
        for a, b in zip(alone, z):
            np.testing.assert_allclose(a, b, atol=1e-6)
    w = modality_weights(contributions(shapley(subset_values(model, pool, U, mods))))
    scale = lambda zs: [mmal.grads.RankOne(delta * w[:, j : j + 1].astype(np.float32), zm) for j, zm in enumerate(zs)]  # noqa: E731
    for seed in range(3):
        assert kmeanspp(scale(z), 8, np.random.default_rng(seed)).tolist() == \
            kmeanspp(scale(alone), 8, np.random.default_rng(seed)).tolist()


def test_model_without_concat_classifier_is_rejected():
    pool = planted_pool(n=30, seed=3)
    model = TinyMultimodal(fused_mlp=True, expose_fuse=False).fit(pool)  # head:M reads the MLP's output
    with pytest.raises(mmal.CapabilityError, match="neither .* concatenated nor summed"):
        Bmmal().select(model, pool, 3, rng=np.random.default_rng(0))


def test_regression_is_a_clear_error():
    pool = planted_pool(n=30, task="regression", seed=3)
    model = TinyMultimodal(fused_mlp=False).fit(pool)
    with pytest.raises(mmal.CapabilityError, match="classification"):
        mmal.strategies.get("bmmal").select(model, pool, 3, rng=np.random.default_rng(0))


# ----------------------------------------------------------------------------- selection
def test_selection_equals_badge_when_contributions_are_balanced():
    """Two identical modalities through identical encoders: phi_1 = phi_2, every weight is 1."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(60, 5)).astype(np.float32)
    y = (x[:, 0] > 0).astype(float) + (x[:, 1] > 0.5)
    labeled = np.arange(60) < 20
    pool = mmal.Pool({"a": x, "b": x.copy()}, mmal.Task("classification", n_classes=3),
                     labels={"M": np.where(labeled, y, np.nan)}, labeled=labeled)
    model = TinyMultimodal(fused_mlp=False).fit(pool, seed=0)
    P, w = model.params_, model.width
    for part in ("pre", "enc", "uni"):
        for s in ("w", "b"):
            P[f"{part}:b.{s}"] = P[f"{part}:a.{s}"].clone()
    P["head:M.w"][:, w:] = P["head:M.w"][:, :w]
    U = pool.unlabeled_positions()
    Phi = contributions(shapley(subset_values(model, pool, U, ["a", "b"])))
    np.testing.assert_allclose(modality_weights(Phi), 1.0, atol=1e-12)
    for seed in range(3):
        sel = mmal.strategies.get("bmmal").select(model, pool, 12, rng=np.random.default_rng(seed))
        badge = U[kmeanspp(model.grad_embed(pool, U, head="M", layer="head:M"), 12, np.random.default_rng(seed))]
        assert sel.positions.tolist() == badge.tolist()
        if "badge" in mmal.strategies:
            other = mmal.strategies.get("badge").select(model, pool, 12, rng=np.random.default_rng(seed))
            assert sel.positions.tolist() == other.positions.tolist()
    assert sel.info["contribution_selected"] == pytest.approx({"a": 0.5, "b": 0.5})


def test_info_reports_contributions():
    model, pool = concat_model(3, seed=5)
    sel = Bmmal().select(model, pool, 6, rng=np.random.default_rng(0))
    U = pool.unlabeled_positions()
    mods = list(model.unimodal_heads)
    Phi = contributions(brute_force_shapley(model, pool, U, mods))
    at = np.searchsorted(U, sel.positions)
    for j, m in enumerate(mods):
        assert sel.info["contribution_pool"][m] == pytest.approx(Phi[:, j].mean())
        assert sel.info["contribution_selected"][m] == pytest.approx(Phi[at, j].mean())
    assert sum(sel.info["contribution_pool"].values()) == pytest.approx(1.0)


def test_conformance_kit():
    check_strategy("bmmal", model_factory=lambda: TinyMultimodal(fused_mlp=False, epochs=20))


def test_selections_are_less_dominated_than_badges():
    """KineticsSound-style data (audio dominant): the mean dominance degree rho of BMMAL's picks
    (Eq. 5, for two modalities |Phi_1 - Phi_2|) is below BADGE's, over ten k-means++ draws.
    The audio share of the picks is printed, not asserted: it is not lower for BMMAL in general."""
    from mmal.data.synthetic import make_kinetics_sound

    ds = make_kinetics_sound(600, seed=0)
    pool = ds.train
    pool.label(pool.ids[:200], ds.oracle(pool.ids[:200]))
    model = TinyMultimodal(width=16, hidden=32, fused_mlp=False, epochs=150).fit(pool, seed=0)
    U = pool.unlabeled_positions()
    mods = list(model.unimodal_heads)
    Phi = contributions(shapley(subset_values(model, pool, U, mods)))
    rho, dom = Phi.max(1) - Phi.min(1), mods.index("audio")
    grad = model.grad_embed(pool, U, head="M", layer="head:M")
    picked = {"bmmal": [], "badge": []}
    for r in range(10):
        picked["bmmal"].append(np.searchsorted(U, Bmmal().select(model, pool, 50, rng=np.random.default_rng(r)).positions))
        picked["badge"].append(kmeanspp(grad, 50, np.random.default_rng(r)))
    mean_rho = {k: float(np.mean([rho[p].mean() for p in v])) for k, v in picked.items()}
    share = {k: float(np.mean([Phi[p, dom].mean() for p in v])) for k, v in picked.items()}
    print(f"kineticssound-synthetic (600 train, 200 labeled, budget 50 x 10 draws): mean rho of picks "
          f"BMMAL {mean_rho['bmmal']:.3f} vs BADGE {mean_rho['badge']:.3f} (pool {rho.mean():.3f}); "
          f"mean audio contribution BMMAL {share['bmmal']:.3f} vs BADGE {share['badge']:.3f} (pool {Phi[:, dom].mean():.3f})")
    assert mean_rho["bmmal"] < mean_rho["badge"] - 0.015
