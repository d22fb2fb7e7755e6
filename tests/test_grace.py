"""GRACE (paper 000 Sec. 3, supplement 001 App. F, H, I) against Eqs. 4-8 written out with
explicit per-sample autograd gradients, explicit N x N distances and explicit loops.

``TinyMultimodal`` below is a small torch model with the capabilities GRACE and BMMAL use
(test_bmmal.py imports it): per modality ``x_k -> tanh(pre) -> h_k -> enc:k (W_k) -> f_k``,
a linear unimodal head on ``f_k``, and a fused head on ``[f_1, ..., f_M]`` (an MLP ending in
the linear ``head:M``, or ``head:M`` alone as in BMMAL Eq. 1).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mmal
from mmal.grads import RankOne
from mmal.testing import check_strategy

from mmal.arrays import cosine_rows, curriculum_alpha, minmax
from mmal.builtin.grace import Grace

MODS = ("text", "audio", "vision")
HEAD_OF = {"text": "T", "audio": "A", "vision": "V"}


# ----------------------------------------------------------------------------- test model
class TinyMultimodal:
    """Float64 torch model implementing embed / grad_embed(_many) / predict_masked (see module doc).

    Pseudo-labels as in mmal.nn: classification ``"fused"`` (default, every head against the
    fused argmax) or ``"own"`` (each head against its own argmax); regression
    ``"sensitivity"`` (default, ``delta = d yhat / df``) or ``"fused"``
    (``sign(yhat_head - yhat_M) d yhat_head / df``, sign 0 -> +1).
    """

    capabilities = frozenset({"embed", "grad_embed", "predict_masked"})

    def __init__(self, *, width=4, hidden=6, fused_hidden=5, fused_mlp=True, expose_fuse=True, epochs=120, lr=0.03):
        self.width, self.hidden, self.fused_hidden = width, hidden, fused_hidden
        self.fused_mlp, self.expose_fuse, self.epochs, self.lr = fused_mlp, expose_fuse, epochs, lr
        self.unimodal_heads: dict[str, str] = {}

    # ---- fit / predict
    def fit(self, pool, *, seed=0):
        task = self.task_ = pool.task
        self.mods_ = pool.modality_names
        by_mod = {m: h for h, m in task.head_modality.items()}
        self.unimodal_heads = {m: by_mod.get(m, m) for m in self.mods_}
        out = task.n_classes if task.is_classification else 1
        pos = pool.labeled_positions()
        self.mean_ = {m: pool.pooled(m, pos).mean(0) for m in self.mods_}
        self.std_ = {m: pool.pooled(m, pos).std(0) + 1e-6 for m in self.mods_}
        g = torch.Generator().manual_seed(int(seed))
        P = {}

        def lin(name, o, i):
            P[f"{name}.w"] = torch.randn(o, i, generator=g, dtype=torch.float64) / np.sqrt(i)
            P[f"{name}.b"] = torch.zeros(o, dtype=torch.float64)

        for m in self.mods_:
            lin(f"pre:{m}", self.hidden, pool.pooled(m, pos[:1]).shape[1])
            lin(f"enc:{m}", self.width, self.hidden)
            lin(f"uni:{m}", out, self.width)
        fused_in = self.width * len(self.mods_)
        if self.fused_mlp:
            lin("mlp", self.fused_hidden, fused_in)
            lin("head:M", out, self.fused_hidden)
        else:
            lin("head:M", out, fused_in)
        self.params_ = P
        X = self._inputs(pool, pos)
        targets = {}
        for m, head in [*self.unimodal_heads.items(), ("fused", "M")]:
            y = pool.labels[head][pos] if head in pool.labels else np.full(len(pos), np.nan)
            y = np.where(np.isnan(y), pool.labels["M"][pos], y)
            targets[head] = torch.as_tensor(y)
        for v in P.values():
            v.requires_grad_(True)
        opt = torch.optim.Adam(P.values(), lr=self.lr)
        for _ in range(self.epochs):
            opt.zero_grad()
            out_ = self.forward(X, P)[3]
            loss = sum(self.sample_loss(out_[h], targets[h]).mean() for h in targets)
            loss.backward()
            opt.step()
        for v in P.values():
            v.requires_grad_(False)
        return self

    def sample_loss(self, pred, y):
        if self.task_.is_classification:
            return torch.nn.functional.cross_entropy(pred, y.long(), reduction="none")
        return (pred[:, 0] - y).abs()

    def _inputs(self, pool, positions):
        pos = np.arange(pool.n) if positions is None else np.asarray(positions)
        return {m: torch.as_tensor((pool.pooled(m, pos) - self.mean_[m]) / self.std_[m], dtype=torch.float64) for m in self.mods_}

    def encode(self, X, P):
        h = {m: torch.tanh(X[m] @ P[f"pre:{m}.w"].T + P[f"pre:{m}.b"]) for m in self.mods_}
        f = {m: h[m] @ P[f"enc:{m}.w"].T + P[f"enc:{m}.b"] for m in self.mods_}
        return h, f

    def heads(self, f, P, absent=frozenset(), fuse_leaf=None):
        """``(z, head outputs, concat input)``; ``fuse_leaf`` replaces the MLP's pre-activation."""
        out = {self.unimodal_heads[m]: f[m] @ P[f"uni:{m}.w"].T + P[f"uni:{m}.b"] for m in self.mods_}
        fused_in = torch.cat([torch.zeros_like(f[m]) if m in absent else f[m] for m in self.mods_], 1)
        if self.fused_mlp:
            z = torch.tanh(fuse_leaf if fuse_leaf is not None else fused_in @ P["mlp.w"].T + P["mlp.b"])
        else:
            z = fused_in
        out["M"] = z @ P["head:M.w"].T + P["head:M.b"]
        return z, out, fused_in

    def forward(self, X, P, absent=frozenset()):
        h, f = self.encode(X, P)
        z, out, _ = self.heads(f, P, absent)
        return h, f, z, out

    def grad_layers(self):
        names = [f"enc:{m}" for m in self.mods_] + ["head:M"]
        return names + (["fuse:M"] if self.fused_mlp and self.expose_fuse else [])

    def _out(self, logits):
        return torch.softmax(logits, 1).numpy() if self.task_.is_classification else logits.numpy()

    def predict(self, pool, positions=None):
        out = self.forward(self._inputs(pool, positions), self.params_)[3]
        return {h: (v.argmax(1) if self.task_.is_classification else v[:, 0]).numpy() for h, v in out.items()}

    def predict_proba(self, pool, positions=None):
        out = self.forward(self._inputs(pool, positions), self.params_)[3]
        return {h: torch.softmax(v, 1).numpy() for h, v in out.items()}

    # ---- capabilities
    def embed(self, pool, positions=None):
        _, f, z, _ = self.forward(self._inputs(pool, positions), self.params_)
        return {**{m: v.numpy() for m, v in f.items()}, "fused": z.numpy()}

    def predict_masked(self, pool, positions=None, *, absent=frozenset()):
        return self._out(self.forward(self._inputs(pool, positions), self.params_, frozenset(absent))[3]["M"])

    def pseudo_loss(self, out, head, pseudo):
        """Per-sample loss of ``head`` with pseudo-labels (see the class docstring)."""
        pred = out[head]
        if isinstance(pseudo, dict):  # explicit labels per head
            return self.sample_loss(pred, torch.as_tensor(pseudo[head]))
        if self.task_.is_classification:
            source = pred if pseudo == "own" else out["M"]
            return torch.nn.functional.cross_entropy(pred, source.detach().argmax(1), reduction="none")
        if pseudo == "fused":
            sign = torch.sign(pred[:, 0] - out["M"][:, 0]).detach()
            return torch.where(sign == 0, torch.ones_like(sign), sign) * pred[:, 0]
        return pred[:, 0]

    def grad_embed(self, pool, positions=None, *, head="M", layer="head:M", pseudo=None, bias=False):
        return self.grad_embed_many(pool, positions, pairs=[(head, layer)], pseudo=pseudo, bias=bias)[(head, layer)]

    def grad_embed_many(self, pool, positions=None, *, pairs, pseudo=None, bias=False):
        P = self.params_
        h, f = self.encode(self._inputs(pool, positions), P)
        leaves = {m: v.detach().requires_grad_(True) for m, v in f.items()}
        out = {}
        with torch.enable_grad():
            z, heads, fused_in = self.heads(leaves, P)
            logits = heads["M"].detach().requires_grad_(True)
            for head, layer in pairs:
                if layer not in self.grad_layers():
                    raise ValueError(f"unknown layer {layer!r}")
                if layer == "head:M":
                    loss, wrt, inp = self.pseudo_loss({**heads, "M": logits}, head, pseudo).sum(), logits, z
                elif layer == "fuse:M":
                    pre = (fused_in @ P["mlp.w"].T + P["mlp.b"]).detach().requires_grad_(True)
                    _, heads_f, _ = self.heads(leaves, P, fuse_leaf=pre)
                    loss, wrt, inp = self.pseudo_loss(heads_f, head, pseudo).sum(), pre, fused_in
                else:
                    m = layer.split(":", 1)[1]
                    loss, wrt, inp = self.pseudo_loss(heads, head, pseudo).sum(), leaves[m], h[m]
                (delta,) = torch.autograd.grad(loss, wrt, retain_graph=True, allow_unused=True)
                delta = torch.zeros_like(wrt) if delta is None else delta
                inp = torch.cat([inp, torch.ones(len(inp), 1, dtype=inp.dtype)], 1) if bias else inp
                out[(head, layer)] = RankOne(delta.detach().numpy().copy(), inp.detach().numpy().copy())
        return out


class NoManyModel(TinyMultimodal):
    """The same model without grad_embed_many (GRACE must fall back to grad_embed per pair)."""

    grad_embed_many_impl = TinyMultimodal.grad_embed_many
    grad_embed_many = None

    def grad_embed(self, pool, positions=None, *, head="M", layer="head:M", pseudo=None, bias=False):
        return self.grad_embed_many_impl(pool, positions, pairs=[(head, layer)], pseudo=pseudo, bias=bias)[(head, layer)]


def planted_pool(n=36, task="classification", n_mod=3, seed=0, n_labeled=18, conflict_rate=0.3, n_classes=3):
    """Per-modality labels with planted conflicts (one modality shows another class / sign)."""
    rng = np.random.default_rng(seed)
    mods = MODS[:n_mod]
    if task == "classification":
        y = rng.integers(0, n_classes, n).astype(float)
        t = mmal.Task("classification", heads=("M", *[HEAD_OF[m] for m in mods]), n_classes=n_classes,
                      head_modality={HEAD_OF[m]: m for m in mods})
    else:
        y = np.round(rng.uniform(-1, 1, n) / 0.2) * 0.2
        t = mmal.Task("regression", heads=("M", *[HEAD_OF[m] for m in mods]), label_range=(-1.0, 1.0),
                      head_modality={HEAD_OF[m]: m for m in mods})
    conflict = rng.random(n) < conflict_rate
    which = rng.integers(0, n_mod, n)
    feats, labels = {}, {"M": y}
    for j, m in enumerate(mods):
        yk = y.copy()
        flip = conflict & (which == j)
        yk[flip] = (y[flip] + 1 + rng.integers(0, n_classes - 1, flip.sum())) % n_classes if task == "classification" else -y[flip]
        code = np.eye(n_classes)[yk.astype(int)] if task == "classification" else np.stack([yk, yk**2], 1)
        feats[m] = (code @ rng.normal(size=(code.shape[1], 5 + j)) * 2 + rng.normal(size=(n, 5 + j))).astype(np.float32)
        labels[HEAD_OF[m]] = yk
    labeled = np.arange(n) < n_labeled
    labels = {h: np.where(labeled, v, np.nan) for h, v in labels.items()}
    return mmal.Pool(feats, t, labels=labels, labeled=labeled, meta={"conflict": conflict})


def fitted(task="classification", seed=0, n=36, **kw):
    pool = planted_pool(n=n, task=task, seed=seed)
    return TinyMultimodal(**kw).fit(pool, seed=seed), pool


# ----------------------------------------------------------------------------- explicit formulas
def explicit_gradients(model, pool, pos, pseudo):
    """{modality: (G_k [n, c*d], G_mk [n, c*d])} by one autograd backward per sample and head.

    ``pseudo="own"``: each head's own prediction as label (regression: ``yhat + sign(yhat)``),
    computed here from the sample's own forward pass."""
    X = model._inputs(pool, pos)
    out = {}
    for m, head in model.unimodal_heads.items():
        gk, gm = [], []
        for i in range(len(pos)):
            for h, acc in ((head, gk), ("M", gm)):
                P = {k: v.clone().requires_grad_(True) for k, v in model.params_.items()}
                logits = model.forward({k: v[i : i + 1] for k, v in X.items()}, P)[3]
                if pseudo == "own":
                    yhat = logits[h].detach()
                    label = yhat.argmax(1) if pool.task.is_classification else yhat[:, 0] + (1.0 if yhat[0, 0] >= 0 else -1.0)
                    loss = model.sample_loss(logits[h], label).sum()
                else:
                    loss = model.pseudo_loss(logits, h, pseudo).sum()
                (g,) = torch.autograd.grad(loss, P[f"enc:{m}.w"])
                acc.append(g.flatten().numpy())
        out[m] = (np.array(gk), np.array(gm))
    return out


def explicit_criteria(G):
    """Eqs. 4-6 with explicit loops over modalities and over pairs of samples."""
    n = len(next(iter(G.values()))[0])
    s_i, s_r, s_e = np.zeros(n), np.zeros(n), np.zeros(n)
    for gk, gm in G.values():
        for p in range(n):
            s_i[p] += np.linalg.norm(gk[p] + gm[p])
            for q in range(n):
                if q != p:
                    s_r[p] += np.linalg.norm((gk[p] + gm[p]) - (gk[q] + gm[q]))
            den = np.linalg.norm(gk[p]) * np.linalg.norm(gm[p])
            s_e[p] += 0.0 if den == 0 else gk[p] @ gm[p] / den
    return s_i, s_r, s_e


def explicit_minmax(v):
    return np.zeros_like(v) if v.max() == v.min() else (v - v.min()) / (v.max() - v.min())


# ----------------------------------------------------------------------------- criteria
@pytest.mark.parametrize("task,pseudo", [("classification", "own"), ("classification", "fused"),
                                         ("regression", "own"), ("regression", "sensitivity")])
def test_criteria_equal_explicit_autograd_formulas(task, pseudo):
    model, pool = fitted(task)
    U = pool.unlabeled_positions()
    s_i, s_r, s_e = explicit_criteria(explicit_gradients(model, pool, U, pseudo))
    out = Grace(pseudo=pseudo, dtype="float64").scores(model, pool, U, rng=np.random.default_rng(0), round=1)
    np.testing.assert_allclose(out["raw"]["informativeness"], s_i, rtol=1e-9)
    np.testing.assert_allclose(out["raw"]["representativeness"], s_r, rtol=1e-9)
    np.testing.assert_allclose(out["raw"]["easiness"], s_e, rtol=1e-9, atol=1e-12)
    n_i, n_r, n_e = (explicit_minmax(v) for v in (s_i, s_r, s_e))
    np.testing.assert_allclose(out["normalized"]["easiness"], n_e, atol=1e-9)
    np.testing.assert_allclose(out["score"], 1.0 * n_e + n_i * n_r, atol=1e-9)  # Eq. 7, alpha_1 = 1
    assert np.ptp(s_e) > 0.1 and np.ptp(s_i) > 0  # the test is not vacuous


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_eq3_loss_weights_scale_each_heads_gradient(task):
    """``loss_weights="model"``: ``g_k = w_k dL_k/dW_k``, ``g_mk = w_m dL_m/dW_k`` (the gradient of
    Eq. 3's weighted loss); ``None`` (or a model without ``loss_weights``) weighs every head 1."""
    model, pool = fitted(task, seed=8)
    U = pool.unlabeled_positions()
    G = explicit_gradients(model, pool, U, "own")
    rng = np.random.default_rng(0)
    plain = Grace(dtype="float64").scores(model, pool, U, rng=rng)
    assert plain["loss_weights"] == {"M": 1.0, "T": 1.0, "A": 1.0, "V": 1.0}  # TinyMultimodal has no loss_weights
    model.loss_weights = {"T": 0.2, "A": 0.8, "V": 0.4, "M": 1.5}
    w = model.loss_weights
    Gw = {m: (w[HEAD_OF[m]] * gk, w["M"] * gm) for m, (gk, gm) in G.items()}
    for weights, ref in (("model", Gw), ({"T": 0.2, "A": 0.8, "V": 0.4, "M": 1.5}, Gw), (None, G), ({}, G)):
        s_i, s_r, s_e = explicit_criteria(ref)
        out = Grace(dtype="float64", loss_weights=weights).scores(model, pool, U, rng=rng)
        np.testing.assert_allclose(out["raw"]["informativeness"], s_i, rtol=1e-9)
        np.testing.assert_allclose(out["raw"]["representativeness"], s_r, rtol=1e-9)
        np.testing.assert_allclose(out["raw"]["easiness"], s_e, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(explicit_criteria(Gw)[2], explicit_criteria(G)[2], atol=1e-12)  # Eq. 6: unchanged
    assert np.abs(explicit_criteria(Gw)[0] / explicit_criteria(G)[0] - 1).max() > 0.05  # Eq. 4: changed
    model.loss_weights = {"T": -1.0}
    with pytest.raises(ValueError, match=r"TinyMultimodal.loss_weights .*'T': -1.0"):
        Grace().scores(model, pool, U, rng=rng)
    with pytest.raises(ValueError, match="loss_weights"):
        Grace(loss_weights={"A": float("inf")})
    with pytest.raises(ValueError, match="loss_weights"):
        Grace(loss_weights=[0.2, 0.8])


def test_selection_is_top_k_with_per_criterion_info():
    model, pool = fitted("classification", seed=1)
    U = pool.unlabeled_positions()
    s_i, s_r, s_e = explicit_criteria(explicit_gradients(model, pool, U, "own"))
    alpha = 1.0 - 2 * 0.1  # round 3
    s = alpha * explicit_minmax(s_e) + explicit_minmax(s_i) * explicit_minmax(s_r)
    sel = mmal.strategies.get("grace", dtype="float64").select(model, pool, 7, rng=np.random.default_rng(0), round=3)
    order = np.argsort(-s, kind="stable")[:7]
    assert sel.positions.tolist() == U[order].tolist()
    np.testing.assert_allclose(sel.scores, s[order], atol=1e-9)
    assert sel.info["alpha"] == pytest.approx(0.8)
    for name, raw in (("informativeness", s_i), ("representativeness", s_r), ("easiness", s_e)):
        np.testing.assert_allclose(sel.info[f"{name}_raw"], raw[order], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(sel.info[name], explicit_minmax(raw)[order], atol=1e-9)
        assert len(sel.info[name]) == 7
    assert set(sel.info["seconds"]) == {"gradients", "criteria"}


def test_grad_embed_fallback_without_grad_embed_many_gives_the_same_scores():
    model, pool = fitted("classification", seed=2)
    other = NoManyModel()
    other.__dict__.update(model.__dict__)
    U = pool.unlabeled_positions()
    a = Grace().scores(model, pool, U, rng=np.random.default_rng(0))
    b = Grace().scores(other, pool, U, rng=np.random.default_rng(0))
    np.testing.assert_allclose(a["score"], b["score"], rtol=1e-12)


# ----------------------------------------------------------------------------- curriculum
def test_curriculum_schedule_over_rounds_eq8():
    for t in range(1, 16):
        assert curriculum_alpha(t) == pytest.approx(1.0 - (t - 1) * 0.1)
        assert curriculum_alpha(t, 2.0, 0.3) == pytest.approx(2.0 - (t - 1) * 0.3)
    assert curriculum_alpha(15) == pytest.approx(-0.4)  # App. C: 15 rounds; no floor by default
    assert curriculum_alpha(15, alpha_min=0.0) == 0.0
    with pytest.raises(ValueError, match="round"):
        curriculum_alpha(0)


def test_round_changes_only_the_easiness_weight():
    model, pool = fitted("regression", seed=3)
    U = pool.unlabeled_positions()
    g = Grace(alpha=1.0, alpha_decay=0.25, dtype="float64")
    by_round = {t: g.scores(model, pool, U, rng=np.random.default_rng(0), round=t) for t in (1, 2, 5, 9)}
    s_e = by_round[1]["normalized"]["easiness"]
    active = by_round[1]["normalized"]["informativeness"] * by_round[1]["normalized"]["representativeness"]
    for t, out in by_round.items():
        assert out["alpha"] == pytest.approx(1.0 - (t - 1) * 0.25)
        np.testing.assert_allclose(out["score"], out["alpha"] * s_e + active, atol=1e-12)
    # from easy to hard: the easiness of the picks falls as alpha decays (and goes negative)
    picks = {t: np.argsort(-out["score"], kind="stable")[:5] for t, out in by_round.items()}
    assert s_e[picks[1]].mean() > s_e[picks[9]].mean()
    # a resumed run (same round, fresh strategy) selects what an uninterrupted one would
    a = mmal.strategies.get("grace").select(model, pool, 4, rng=np.random.default_rng(1), round=5)
    b = mmal.strategies.get("grace").select(model, pool, 4, rng=np.random.default_rng(9), round=5)
    assert a.positions.tolist() == b.positions.tolist()


# ----------------------------------------------------------------------------- variants
def test_variants_scores():
    model, pool = fitted("classification", seed=4)
    U = pool.unlabeled_positions()
    rng = np.random.default_rng(0)
    base = Grace(dtype="float64").scores(model, pool, U, rng=rng, round=2)
    n_i, n_r, n_e = (base["normalized"][k] for k in ("informativeness", "representativeness", "easiness"))
    get = lambda name, **kw: mmal.strategies.get(name, dtype="float64", **kw).scores(model, pool, U, rng=rng, round=2)
    np.testing.assert_allclose(get("grace-i")["score"], n_i, atol=1e-12)
    np.testing.assert_allclose(get("grace-ir")["score"], n_i * n_r, atol=1e-12)
    np.testing.assert_allclose(get("grace-additive", beta=2.0, gamma=3.0)["score"], 0.9 * n_e + 2 * n_i + 3 * n_r, atol=1e-12)
    np.testing.assert_allclose(get("grace", combine="additive")["score"], 0.9 * n_e + n_i + n_r, atol=1e-12)
    assert "representativeness" not in get("grace-i")["raw"] and "easiness" not in get("grace-ir")["raw"]

    # App. H: representativeness from representations f_t, f_a, f_v and f_m = [f_t, f_a, f_v]
    f = model.embed(pool, U)
    reps = [f[m] for m in MODS] + [np.concatenate([f[m] for m in MODS], 1)]
    def dist_sum(x):
        return np.array([sum(np.linalg.norm(x[p] - x[q]) for q in range(len(x)) if q != p) for p in range(len(x))])
    rp, rp_m = get("grace-rp"), get("grace-rp-m")
    np.testing.assert_allclose(rp["raw"]["representativeness"], sum(dist_sum(x) for x in reps), rtol=1e-9)
    np.testing.assert_allclose(rp_m["raw"]["representativeness"], dist_sum(reps[-1]), rtol=1e-9)
    np.testing.assert_allclose(rp["raw"]["informativeness"], base["raw"]["informativeness"], rtol=1e-12)
    r = explicit_minmax(sum(dist_sum(x) for x in reps))
    np.testing.assert_allclose(rp["score"], 0.9 * n_e + n_i * r, atol=1e-9)
    assert mmal.strategies.get("grace-rp").requires == {"grad_embed", "embed"}
    assert mmal.strategies.get("grace").requires == {"grad_embed"}


def test_sampled_representativeness_is_close_and_deterministic_per_rng():
    model, pool = fitted("classification", seed=5, n=120)
    U = pool.unlabeled_positions()
    exact = Grace().scores(model, pool, U, rng=np.random.default_rng(0))["raw"]["representativeness"]
    a = Grace(sample=40).scores(model, pool, U, rng=np.random.default_rng(7))["raw"]["representativeness"]
    b = Grace(sample=40).scores(model, pool, U, rng=np.random.default_rng(7))["raw"]["representativeness"]
    assert np.array_equal(a, b)
    rel = np.mean(np.abs(a / exact - 1))
    print(f"GRACE sampled Eq. 5 (m=40 of {len(U)}): mean relative error {rel:.2%}")
    assert rel < 0.2


def test_degenerate_criteria_normalize_to_zero_not_nan():
    assert minmax(np.full(4, 3.7)).tolist() == [0.0] * 4
    np.testing.assert_allclose(minmax(np.array([1.0, 3.0, 2.0])), [0.0, 1.0, 0.5])
    a = np.array([[1.0, 0.0], [0.0, 0.0], [2.0, 2.0]])
    b = np.array([[-1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    assert cosine_rows(a, b).tolist() == [-1.0, 0.0, 0.0]
    model, pool = fitted("classification", seed=6)
    for m in MODS:  # unimodal heads output constants: every g_k = 0, so every cosine is 0
        model.params_[f"uni:{m}.w"].zero_()
    out = Grace().scores(model, pool, pool.unlabeled_positions(), rng=np.random.default_rng(0))
    assert np.array_equal(out["raw"]["easiness"], np.zeros(pool.n_unlabeled))
    assert np.array_equal(out["normalized"]["easiness"], np.zeros(pool.n_unlabeled))
    assert np.isfinite(out["score"]).all()


def test_bad_parameters_and_mismatched_layer_inputs():
    with pytest.raises(ValueError, match="criteria"):
        Grace(criteria="ie")
    with pytest.raises(ValueError, match="combine"):
        Grace(combine="sum")
    with pytest.raises(ValueError, match="representativeness"):
        Grace(representativeness="features")
    model, pool = fitted("classification", seed=7)
    real = model.grad_embed_many

    def shifted(*a, **kw):
        out = real(*a, **kw)
        return {k: RankOne(v.delta, v.h + (k[0] == "M")) for k, v in out.items()}

    model.grad_embed_many = shifted
    with pytest.raises(mmal.ContractError, match="enc:text"):
        Grace().select(model, pool, 3, rng=np.random.default_rng(0))


# ----------------------------------------------------------------------------- contract and behaviour
@pytest.mark.parametrize("name", ["grace", "grace-rp-m", "grace-additive"])
def test_conformance_kit(name):
    check_strategy(name, model_factory=lambda: TinyMultimodal(epochs=20))


@pytest.mark.parametrize("family,min_auc", [("cherma", 0.6), ("simsv2", 0.53)])
def test_easiness_is_lower_on_conflict_samples(family, min_auc):
    """Synthetic data with planted conflicts (pool.meta["conflict"]): Eq. 6 ranks conflicts lower,
    with each head's own prediction as its pseudo-label; the fused prediction as every head's
    label does not (the reason for GRACE's default ``pseudo="own"``).

    Every modality has signal 1 (dominance 1) so each unimodal head can see its own modality's
    conflicting label; 1000 train samples, 400 labeled, 600 scored."""
    from mmal.data import synthetic

    ds = getattr(synthetic, f"make_{family}")(1000, seed=0, conflict_rate=0.2, dominance=1.0, signal=1.0)
    pool = ds.train
    pool.label(pool.ids[:400], ds.oracle(pool.ids[:400]))
    model = TinyMultimodal(width=8, hidden=16, epochs=150).fit(pool, seed=0)
    U = pool.unlabeled_positions()
    conflict = pool.meta["conflict"][U].astype(bool)
    auc = {}
    for pseudo in ("own", "fused"):
        e = Grace(pseudo=pseudo).scores(model, pool, U, rng=np.random.default_rng(0))["raw"]["easiness"]
        auc[pseudo] = np.mean(e[~conflict][:, None] > e[conflict][None, :])
        print(f"GRACE easiness on {family}-synthetic, pseudo={pseudo}: consistent {e[~conflict].mean():.3f}, conflict "
              f"{e[conflict].mean():.3f} (n={conflict.sum()}), P(consistent > conflict) = {auc[pseudo]:.2f}")
        if pseudo == "own":
            assert e[~conflict].mean() > e[conflict].mean()
    assert conflict.sum() >= 100 and auc["own"] > min_auc and auc["own"] > auc["fused"] + 0.05
