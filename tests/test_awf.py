"""Adaptive weight fusion (paper 004): A-fusion (Eqs. 11-13), B-fusion update (Eqs. 6-10), Algorithm 1, contract."""

import math
import os

import numpy as np
import pytest
import torch

import mmal
from mmal.nn.awf import AdaptiveWeightFusion, attention_weights, balance_loss
from mmal.nn.toy import as_dataset, sims_like_pool, vector_pool
from mmal.nn.training import load_batch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
KW = dict(epochs=3, feature_dim=8, hidden=8, batch_size=16, lstm_layers=1)


def test_attention_formula_eqs_11_12():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(4, 3, 5, generator=g, dtype=torch.float64)
    w1, w2 = torch.randn(3, 3, generator=g, dtype=torch.float64), torch.randn(3, 3, generator=g, dtype=torch.float64)
    got = attention_weights(z, w1, w2)
    for b in range(4):
        p = [sum(z[b, m].tolist()) / 5 for m in range(3)]  # average pooling of each Z_m
        h = [max(0.0, sum(p[i] * float(w1[j, i]) for i in range(3))) for j in range(3)]  # ReLU(p W1)
        for k in range(3):
            want = 1 / (1 + math.exp(-sum(h[j] * float(w2[k, j]) for j in range(3))))  # Sigmoid(h W2)
            assert float(got[b, k]) == pytest.approx(want, rel=1e-12)


def test_b_fusion_sgd_step_by_hand_when_g_is_linear_in_w():
    a = torch.tensor([0.3, 0.05, 0.1], dtype=torch.float64)
    w = torch.tensor([1.0, 1.2, 0.9], dtype=torch.float64, requires_grad=True)
    g = w * a  # a linear head on Z_GB: dL/dW_i scales with w_i (Eq. 5)
    (grad,) = torch.autograd.grad(balance_loss(g), [w])
    gv = [float(x) for x in (w * a).detach()]
    mean, mx = sum(gv) / 3, max(gv)
    for i in range(3):
        target = mean * mx / gv[i]  # ḡ r_i, Eqs. 8-9
        want = math.copysign(1.0, gv[i] - target) * float(a[i])  # d|w_i a_i - target| / dw_i
        assert float(grad[i]) == pytest.approx(want, rel=1e-12)
        lr = 0.5  # Eq. 10, one SGD step
        assert float(w.detach()[i] - lr * grad[i]) == pytest.approx(float(w.detach()[i]) - lr * want, rel=1e-12)
    # the strongest modality's weight goes down, the weakest's up
    assert grad[0] > 0 and grad[1] < 0


def _model_batch(b_fusion=True, weight_lr=3.0):
    pool = vector_pool(32, n_labeled=32, dims=(6, 4, 5), kind="regression")
    model = AdaptiveWeightFusion(epochs=1, feature_dim=4, hidden=6, dropout=0.0, weight_lr=weight_lr, b_fusion=b_fusion)
    model.fit(pool, seed=0)
    batch = load_batch(pool, model.specs_, np.arange(16), model.device_)
    y = torch.as_tensor(pool.labels["M"][:16], dtype=torch.float32)
    return model, batch, y


def eq5_encoder_grads(model, batch, targets):
    """Eq. 5 computed directly: ``∂L/∂W_i = ∂L/∂Z_GB · ω_i · ∂Z_i/∂W_i`` for every parameter ``W_i``
    of modality i's encoder, with ``L`` the task loss of ``Z = (Z_GB + Z_ATT) / 2`` (``Z = Z_GB``
    without A-fusion) and ``Z_GB`` a leaf: A-fusion (Eqs. 11-13) reads the features as constants
    (dropout 0)."""
    net = model.net_
    zs = [enc(*batch[m]) for m, enc in zip(net.modalities, net.encoders)]
    w = net.bweights.detach().clone()
    z_gb = torch.cat([w[i] * z for i, z in enumerate(zs)], 1).detach().requires_grad_(True)  # Eq. 4
    zc = [z.detach() for z in zs]
    p = torch.stack([z.mean(1) for z in zc], 1)  # average pooling of each Z_m
    alpha = torch.sigmoid(torch.relu(p @ net.w1.weight.T) @ net.w2.weight.T)  # Eqs. 11-12
    z_att = torch.cat([alpha[:, i : i + 1] * z for i, z in enumerate(zc)], 1)  # Eq. 13
    pred = net.out(torch.relu(net.fuse((z_gb + z_att) / 2 if model.a_fusion else z_gb)))
    loss = model.sample_loss(pred, targets["M"]).mean()
    (dz_gb,) = torch.autograd.grad(loss, z_gb)
    d = zs[0].shape[1]
    out = []
    for i, (z, enc) in enumerate(zip(zs, net.encoders)):
        upstream = dz_gb[:, i * d : (i + 1) * d] * w[i]  # ∂L/∂Z_GB · ∂Z_GB/∂Z_i
        out.append(torch.autograd.grad(z, list(enc.parameters()), grad_outputs=upstream, allow_unused=True))
    return out


@pytest.mark.parametrize("kind,a_fusion", [("regression", True), ("classification", True), ("regression", False)])
def test_encoder_gradients_equal_eq5(kind, a_fusion):
    """The training loss's gradient w.r.t. every encoder parameter is Eq. 5's (A-fusion detached), at
    B-fusion weights away from 1; the A-fusion parameters get the task loss's gradient (when used)."""
    pool = sims_like_pool(24, kind=kind, n_labeled=24, seed=3)
    model = AdaptiveWeightFusion(epochs=1, feature_dim=6, hidden=5, dropout=0.0, lstm_layers=1, weight_lr=2.0,
                                 a_fusion=a_fusion)
    model.fit(pool, seed=0)
    net = model.net_
    net.bweights.copy_(torch.tensor([1.4, 0.7, 1.1]))
    pos = np.arange(16)
    batch = load_batch(pool, model.specs_, pos, model.device_)
    targets = {h: torch.as_tensor(v[pos]) for h, v in model._targets(pool).items()}
    net.train()
    want = eq5_encoder_grads(model, batch, targets)
    loss = model._training_loss(net(batch), targets)  # Algorithm 1: task loss + probes; steps w in place
    assert not torch.equal(net.bweights, torch.tensor([1.4, 0.7, 1.1]))  # the B-fusion step ran
    for i, enc in enumerate(net.encoders):
        got = torch.autograd.grad(loss, list(enc.parameters()), retain_graph=True, allow_unused=True)
        for g, e in zip(got, want[i]):
            assert (g is None) == (e is None)
            if g is not None:
                torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-7)
        assert float(want[i][-2].abs().sum()) > 0  # the encoder's last layer learns
    att = torch.autograd.grad(loss, [net.w1.weight, net.w2.weight], retain_graph=True, allow_unused=True)
    assert all((a is not None and float(a.abs().sum()) > 0) == a_fusion for a in att)
    emb = model.embed(pool, pos)  # the fused head's input blocks: (w + α) / 2 · Z_m, or w Z_m alone
    with torch.no_grad():
        net.eval()
        z = torch.stack([enc(*batch[m]) for m, enc in zip(net.modalities, net.encoders)], 1)
        scale = net.bweights[None, :] if not a_fusion else (net.bweights[None, :] + attention_weights(z, net.w1.weight, net.w2.weight)) / 2
    for i, m in enumerate(net.modalities):
        np.testing.assert_allclose(emb[m], (z[:, i] * scale[:, i : i + 1]).numpy(), rtol=1e-5, atol=1e-6)


def test_model_balance_step_matches_finite_differences():
    model, batch, y = _model_batch()
    net = model.net_
    net.bweights.copy_(torch.tensor([1.3, 0.8, 1.1]))
    w0 = net.bweights.clone()
    enc_w = [enc.out.weight for enc in net.encoders]

    def g_at(w):  # Eq. 7 with first-order autograd only, at B-fusion weights w
        net.bweights.copy_(w)
        net.train()
        loss = (net(batch).heads["M"][:, 0] - y).abs().mean()
        return torch.stack([gr.abs().mean() for gr in torch.autograd.grad(loss, enc_w)]).double()

    g0 = g_at(w0)
    target = g0.mean() * g0.max() / g0  # held constant (GradNorm convention)
    eps, grad_fd = 1e-2, []
    for i in range(3):
        up, dn = w0.clone(), w0.clone()
        up[i] += eps
        dn[i] -= eps
        grad_fd.append(float(((g_at(up) - target).abs().sum() - (g_at(dn) - target).abs().sum()) / (2 * eps)))
    net.bweights.copy_(w0)
    net.train()
    out = net(batch)
    g = model.balance_step((out.heads["M"][:, 0] - y).abs().mean())
    assert np.allclose(g.numpy(), g0.numpy(), rtol=1e-5)
    step = ((w0 - net.bweights) / model.weight_lr).tolist()
    assert np.allclose(step, grad_fd, rtol=0.05, atol=1e-7), (step, grad_fd)


def test_task_loss_does_not_move_b_fusion_weights():
    pool = vector_pool(32, n_labeled=32, dims=(6, 4, 5), kind="regression")
    for kw in ({"b_fusion": False}, {"weight_lr": 0.0}):
        model = AdaptiveWeightFusion(epochs=2, feature_dim=4, hidden=6, **kw).fit(pool, seed=0)
        assert model.net_.bweights.tolist() == [1.0, 1.0, 1.0]
        assert all(p is not model.net_.bweights for p in model.net_.parameters())
        assert all(v == 1.0 for h in model.balance_history_ for v in h["weights"].values())
    moved = AdaptiveWeightFusion(epochs=2, feature_dim=4, hidden=6).fit(pool, seed=0)
    assert moved.net_.bweights.tolist() != [1.0, 1.0, 1.0]
    assert len(moved.balance_history_) == 2 and set(moved.balance_history_[0]) == {"weights", "grad_magnitudes"}


@pytest.mark.parametrize("kind", ["regression", "classification"])
def test_fit_predict_and_strategies(kind):
    pool = sims_like_pool(40, kind=kind, n_labeled=20)
    model = mmal.task_models.get("awf", **KW).fit(pool, seed=0)
    pred = model.predict(pool)
    assert set(pred) == {"M", "T", "A", "V"}
    assert np.array_equal(pred["M"], mmal.task_models.get("awf", **KW).fit(pool, seed=0).predict(pool)["M"])
    emb = model.embed(pool, [0, 1])
    out = model.net_(load_batch(pool, model.specs_, np.array([0, 1]), model.device_))
    assert np.allclose(np.concatenate([emb[m] for m in ("text", "audio", "vision")], 1),
                       torch.cat([out.features[m] for m in ("text", "audio", "vision")], 1).detach().numpy(), atol=1e-6)
    assert model.predict_masked(pool, [0, 1], absent=["text"]).shape[0] == 2
    assert model.predict_proba_samples(pool, [0, 1], T=3).shape[-1] == 3
    names = ("grace", "bmmal", "badge") if kind == "classification" else ("grace",)
    for s in names:
        sel = mmal.strategies.get(s).select(model, pool, 5, rng=np.random.default_rng(0))
        assert len(set(sel.positions)) == 5 and set(sel.positions) <= set(pool.unlabeled_positions())


def test_check_strategy_random_on_awf():
    from mmal.testing import check_strategy

    check_strategy("random", dataset=as_dataset(sims_like_pool(40, n_labeled=40, seed=1), 28),
                   model_factory=lambda: mmal.task_models.get("awf", **KW))


def test_b_fusion_balances_gradient_magnitudes_on_simsv2_synthetic():
    """Dominant text modality: the max/min ratio of the per-modality g_i (mean over the last two epochs)
    is smaller with B-fusion than with the weights frozen at 1."""
    ds = mmal.datasets.get("simsv2-synthetic", size=120, seed=0)
    pool = ds.train
    ids = pool.ids[:80]
    pool.label(ids, ds.oracle(ids))
    ratio = {}
    for b in (True, False):
        m = AdaptiveWeightFusion(epochs=4, feature_dim=8, hidden=16, b_fusion=b).fit(pool, seed=0)
        g = np.array([list(h["grad_magnitudes"].values()) for h in m.balance_history_[-2:]])
        ratio[b] = float(np.mean(g.max(1) / g.min(1)))
    print(f"g max/min ratio, last two epochs: B-fusion {ratio[True]:.3f}, frozen weights {ratio[False]:.3f}")
    assert ratio[True] < ratio[False]


def test_awf_sims_protocol_builds_its_models():
    """awf-sims: Table 4's SIMS setting and the (-)GB / (-)A-fusion ablations, each entry a valid model."""
    from mmal.bench import load_config

    cfg = load_config(protocol="awf-sims")
    models = {d["label"]: mmal.task_models.get(d["task_model"], **d["model_args"]) for d in cfg["datasets"]}
    assert {k: (m.b_fusion, m.a_fusion) for k, m in models.items()} == {
        "awf": (True, True), "awf-no-gb": (False, True), "awf-no-a": (True, False)}
    assert all((m.batch_size, m.lr, m.epochs, m.dropout) == (16, 1e-5, 50, 0.0) for m in models.values())
    assert cfg["full_data"] and cfg["datasets"][0]["size"] == 1368 and cfg["report"]["metric"] == "acc2"
