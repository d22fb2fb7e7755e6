"""DMMSA (paper 003): Multi NT-Xent (Eq. 3), GDWG (Eqs. 13-14), the losses, and the capability contract."""

import math
import os

import numpy as np
import pytest
import torch
from torch.nn import functional as F

import mmal
from mmal.nn.dmmsa import DMMSA, GDWG, multi_nt_xent, polarity
from mmal.nn.toy import as_dataset, sims_like_pool

os.environ.setdefault("HF_HUB_OFFLINE", "1")
KW = dict(epochs=3, feature_dim=8, hidden=8, batch_size=16, lstm_layers=1)


def cos(a, b):
    return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def slow_multi_nt_xent(anchor, positives, negatives, tau):
    """Eq. 3 with explicit loops over samples and pairs, batch mean."""
    total = 0.0
    for i in range(len(anchor)):
        a = anchor[i].tolist()
        pos = sum(math.exp(cos(a, p[i].tolist()) / tau) for p in positives)
        den = pos + sum(math.exp(cos(a, n[i].tolist()) / tau) for n in negatives)
        total += -math.log(pos / den)
    return total / len(anchor)


def slow_nt_xent(anchor, positive, negatives, tau):
    """Eq. 1 (single positive), batch mean."""
    return slow_multi_nt_xent(anchor, [positive], negatives, tau)


def test_multi_nt_xent_matches_eq3_and_nt_xent_with_one_positive():
    g = torch.Generator().manual_seed(0)
    a, p1, p2, n1, n2, n3 = (torch.randn(4, 5, generator=g, dtype=torch.float64) for _ in range(6))
    for tau in (0.5, 2.0):
        got = float(multi_nt_xent(a, [p1, p2], [n1, n2, n3], tau))
        assert got == pytest.approx(slow_multi_nt_xent(a, [p1, p2], [n1, n2, n3], tau), rel=1e-9)
        one = float(multi_nt_xent(a, [p1], [n1, n2, n3], tau))
        assert one == pytest.approx(slow_nt_xent(a, p1, [n1, n2, n3], tau), rel=1e-9)
    # converged case (Eq. 4): positives identical to the anchor, negatives opposite, tau -> small: loss -> -log(n/n) = 0
    assert float(multi_nt_xent(a, [a, 2 * a], [-a, -a, -a], 0.01)) == pytest.approx(0.0, abs=1e-12)
    # ... while summed single-positive NT-Xent (Eq. 1) converges to -sum log(1/n) = 2 log 2 (Eq. 2)
    P, N = [a, 2 * a], [-a, -a, -a]
    eq1 = sum(float(multi_nt_xent(a, [p], [q for q in P if q is not p] + N, 0.01)) for p in P)
    assert eq1 == pytest.approx(2 * math.log(2), rel=1e-6)


def test_gdwg_weights_from_loss_histories():
    hist = [{"uni": 2.0, "cl": 1.0}, {"uni": 1.0, "cl": 0.9}, {"uni": 0.5, "cl": 0.8}]
    for tau in (1.0, 0.3):
        gd = GDWG(["uni", "cl"], tau)
        assert gd.weights() == {"uni": 0.5, "cl": 0.5}  # equal before the first epoch ends
        for t, losses in enumerate(hist):
            gd.end_epoch(losses)
            w = {k: losses[k] / hist[0][k] for k in losses}  # Eq. 13: L_k(t) / L_k(1)
            den = sum(math.exp(v / tau) for v in w.values())
            want = {k: math.exp(v / tau) / den for k, v in w.items()}  # Eq. 14
            got = gd.weights()
            for k in want:
                assert got[k] == pytest.approx(want[k], rel=1e-12)
        assert gd.weights()["cl"] > gd.weights()["uni"]  # the slower-decaying task gets more weight


def test_polarity_mapping():
    y = torch.tensor([-0.8, -0.1, 0.0, 0.05, 0.6])
    assert polarity(y).tolist() == [0, 0, 1, 2, 2]
    assert polarity(y, 0.1).tolist() == [0, 1, 1, 1, 2]


def test_task_losses_follow_eqs_5_to_12():
    pool = sims_like_pool(24, n_labeled=24)
    model = DMMSA(**KW, cl_temperature=0.7, smooth_beta=0.5).fit(pool, seed=0)
    assert len(model.gdwg_history_) == KW["epochs"] and model.gdwg_history_[0] == {"uni": 0.5, "cl": 0.5}
    pos = np.arange(8)
    from mmal.nn.training import load_batch
    model.net_.eval()
    with torch.no_grad():
        out = model.net_(load_batch(pool, model.specs_, pos, model.device_))
        tg = {h: torch.as_tensor(v[pos]) for h, v in model._targets(pool).items()}
        got = model.task_losses(out, tg)
    y = torch.as_tensor(pool.labels["M"][pos], dtype=torch.float32)
    yt = torch.as_tensor(np.where(np.isnan(pool.labels["T"][pos]), pool.labels["M"][pos], pool.labels["T"][pos]), dtype=torch.float32)
    ya, yv = (torch.as_tensor(pool.labels[h][pos], dtype=torch.float32) for h in ("A", "V"))

    def sl1(p, t, beta=0.5):  # Smooth L1, explicit
        d = (p - t).abs()
        return torch.where(d < beta, 0.5 * d ** 2 / beta, d - 0.5 * beta).mean()

    assert float(got["msr"]) == pytest.approx(float(sl1(out.heads["M"][:, 0], y)), rel=1e-5)
    assert float(got["msc"]) == pytest.approx(float(F.cross_entropy(out.polarity_logits, polarity(y))), rel=1e-5)
    u = [(out.shared[(m, "s")], y) for m in ("text", "audio", "vision")]
    u += [(out.shared[("text", "d")], yt), (out.shared[("audio", "d")], ya), (out.shared[("vision", "d")], yv)]
    assert float(got["uni"]) == pytest.approx(sum(float(sl1(p[:, 0], t)) for p, t in u) / 6, rel=1e-5)
    s, d = out.sim, out.dis
    want_cl = slow_multi_nt_xent(s["text"].double(), [s["audio"].double(), s["vision"].double()],
                                 [d["text"].double(), d["audio"].double(), d["vision"].double()], 0.7)
    assert float(got["cl"]) == pytest.approx(want_cl, rel=1e-5)
    # the fused head reads the six features [T_s; T_d; A_s; A_d; V_s; V_d]; embed gives the per-modality blocks
    emb = model.embed(pool, pos)
    assert np.allclose(emb["text"], torch.cat([s["text"], d["text"]], 1).numpy(), atol=1e-6)


@pytest.mark.parametrize("kind", ["regression", "classification"])
def test_fit_predict_and_capabilities(kind):
    pool = sims_like_pool(40, kind=kind, n_labeled=20)
    model = mmal.task_models.get("dmmsa", **KW).fit(pool, seed=0)
    pred = model.predict(pool)
    assert set(pred) == {"M", "T", "A", "V"} and pred["M"].shape == (40,)
    again = mmal.task_models.get("dmmsa", **KW).fit(pool, seed=0).predict(pool)
    assert np.array_equal(pred["M"], again["M"])  # seeded
    masked = model.predict_masked(pool, [0, 1, 2], absent=["audio"])
    emb_full = model.embed(pool, [0, 1, 2])
    assert masked.shape[0] == 3 and emb_full["audio"].shape == (3, 16)
    assert model.embed(pool, [])["audio"].shape == (0, 16)
    assert model.predict_proba_samples(pool, [0, 1], T=4).shape[-1] == 4
    rng = np.random.default_rng(0)
    sel = mmal.strategies.get("grace").select(model, pool, 5, rng=rng)
    assert len(set(sel.positions)) == 5 and set(sel.positions) <= set(pool.unlabeled_positions())
    if kind == "classification":
        for s in ("bmmal", "badge"):
            sel = mmal.strategies.get(s).select(model, pool, 5, rng=np.random.default_rng(0))
            assert len(set(sel.positions)) == 5 and set(sel.positions) <= set(pool.unlabeled_positions())


def test_check_strategy_random_on_dmmsa():
    from mmal.testing import check_strategy

    ds = as_dataset(sims_like_pool(40, n_labeled=40, seed=1), 28)
    check_strategy("random", dataset=ds, model_factory=lambda: mmal.task_models.get("dmmsa", **KW))


def test_listed_with_capabilities():
    entry = mmal.task_models.entry("dmmsa")
    assert "predict_masked" in str(entry.meta.get("capabilities", "")) and "regression" in str(entry.meta.get("tasks", ""))


def test_table5_ablations():
    """``without``: no polarity head / loss (msc), no contrastive loss (cl; GDWG weighs L_Uni alone),
    fixed equal task weights (gdwg); the total loss is Eq. 5 with those terms left out."""
    from mmal.nn.training import load_batch

    pool = sims_like_pool(24, n_labeled=24, seed=2)
    pos = np.arange(8)
    for without in ((), ("msc",), ("cl",), ("gdwg",)):
        model = DMMSA(**KW, without=without).fit(pool, seed=0)
        assert ("msc" in model.task_losses_[0]) == ("msc" not in without)
        assert ("cl" in model.task_losses_[0]) == ("cl" not in without)
        assert (model.net_.classifier is None) == ("msc" in without)
        model.net_.eval()
        with torch.no_grad():
            out = model.net_(load_batch(pool, model.specs_, pos, model.device_))
            tg = {h: torch.as_tensor(v[pos]) for h, v in model._targets(pool).items()}
            parts = model.task_losses(out, tg)
            total = float(model._training_loss(out, tg))
        lam = model.gdwg_.weights()
        if "gdwg" in without:
            lam = {"uni": 0.5, "cl": 0.5}
        elif "cl" in without:
            assert lam == {"uni": 1.0} and all(h == {"uni": 1.0} for h in model.gdwg_history_)
        else:
            assert lam != {"uni": 0.5, "cl": 0.5}  # GDWG moved them
        want = float(parts["msr"]) + float(parts.get("msc", 0.0)) + sum(lam[k] * float(parts[k]) for k in lam)
        assert total == pytest.approx(want, rel=1e-6)
    with pytest.raises(ValueError, match="not ablatable"):
        DMMSA(without=["uni"])


def test_dmmsa_sims_protocol_builds_its_models():
    """dmmsa-sims: Tables 2 / 5 (full data, five seeds, the three ablations) and Table 4's fractions."""
    from mmal.bench import load_config

    cfg = load_config(protocol="dmmsa-sims")
    models = {d["label"]: mmal.task_models.get(d["task_model"], **d["model_args"]) for d in cfg["datasets"]}
    assert {k: m.without for k, m in models.items()} == {
        "dmmsa": (), "dmmsa-wo-msc": ("msc",), "dmmsa-wo-cl": ("cl",), "dmmsa-wo-gdwg": ("gdwg",)}
    main = cfg["datasets"][0]
    assert cfg["full_data"] and len(cfg["seeds"]) == 5 and main["size"] == 1368
    assert [main["init"] + r * main["budget"] for r in range(main["rounds"] + 1)] == [137 * k for k in range(1, 9)]
