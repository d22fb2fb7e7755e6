"""The torch task models (mmal.nn): heads, losses, capabilities, seeding, and the AL loop."""

import numpy as np
import pytest
import torch

import mmal
from mmal import CapabilityError, Pool, PoolError, Task
from mmal.model import CAPABILITIES, model_capabilities
from mmal.nn import MultimodalClassifier, MultiTaskLateFusion, NetOutput
from mmal.nn.toy import as_dataset, sims_like_pool, vector_pool
from mmal.nn.training import train_batches

KW = dict(feature_dim=6, hidden=5, epochs=2, device="cpu")





@pytest.fixture(scope="module")
def reg():
    pool = sims_like_pool(36, kind="regression", n_labeled=18, seed=1)
    return MultiTaskLateFusion(**KW).fit(pool, seed=0), pool


@pytest.fixture(scope="module")
def cls():
    pool = vector_pool(36, kind="classification", n_classes=3, n_labeled=18, seed=2)
    return MultimodalClassifier(**KW).fit(pool, seed=0), pool


def _global_state():
    return np.random.get_state()[1].copy(), torch.random.get_rng_state().clone()


def _same(a, b):
    return np.array_equal(a[0], b[0]) and torch.equal(a[1], b[1])


# ------------------------------------------------------------------ heads and shapes
def test_heads_follow_task_and_modalities(reg, cls):
    model, pool = reg
    assert model.unimodal_heads == {"text": "T", "audio": "A", "vision": "V"}
    out = model.predict(pool)
    assert set(out) == {"M", "T", "A", "V"} and all(v.shape == (pool.n,) for v in out.values())
    assert model_capabilities(model) == CAPABILITIES
    assert model.grad_layers() == ["enc:text", "enc:audio", "enc:vision", "head:M", "fuse:M", "head:T", "head:A", "head:V"]
    cmodel, cpool = cls
    assert cmodel.unimodal_heads == {"m0": "m0", "m1": "m1"}
    proba = cmodel.predict_proba(cpool, [1, 4, 2])
    assert set(proba) == {"M", "m0", "m1"} and proba["M"].shape == (3, 3)
    np.testing.assert_allclose(proba["M"].sum(1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(cmodel.predict(cpool, [1, 4, 2])["M"], proba["M"].argmax(1))
    emb = cmodel.embed(cpool)
    np.testing.assert_allclose(emb["fused"], np.concatenate([emb["m0"], emb["m1"]], 1))
    with pytest.raises(CapabilityError, match="classification"):
        model.predict_proba(pool)


def test_targets_fall_back_to_fused_label(reg, cls):
    model, pool = reg
    t = model._targets(pool)
    lab = pool.labeled_positions()
    own = pool.labels["T"][lab]
    expect = np.where(np.isnan(own), pool.labels["M"][lab], own)
    assert np.isnan(own).any()
    np.testing.assert_allclose(t["T"][lab], expect, rtol=1e-6)
    cmodel, cpool = cls
    ct = cmodel._targets(cpool)
    np.testing.assert_array_equal(ct["m0"], ct["M"])


def test_mtl_loss_is_grace_weighted_sum():
    model = MultiTaskLateFusion()
    model.task_ = Task("regression", heads=("M", "T", "A", "V"))
    rng = np.random.default_rng(0)
    heads = {h: torch.tensor(rng.normal(size=(4, 1)), dtype=torch.float32) for h in ("M", "T", "A", "V", "extra")}
    y = {h: torch.tensor(rng.normal(size=4), dtype=torch.float32) for h in heads}
    got = float(model._training_loss(NetOutput(heads, {}, torch.zeros(4, 1)), y))
    w = {"T": 0.2, "A": 0.8, "V": 0.4, "M": 1.0, "extra": 1.0}
    want = sum(w[h] * np.mean(np.abs(heads[h].numpy()[:, 0] - y[h].numpy())) for h in heads)
    assert got == pytest.approx(want, rel=1e-6)
    model.task_ = Task("classification", n_classes=3)
    logits = {h: torch.tensor(rng.normal(size=(4, 3)), dtype=torch.float32) for h in ("M", "T")}
    yc = {h: torch.tensor([0, 2, 1, 2]) for h in logits}
    got = float(model._training_loss(NetOutput(logits, {}, torch.zeros(4, 1)), yc))
    ce = lambda z, t: np.mean([-(z[i, t[i]] - np.log(np.exp(z[i]).sum())) for i in range(4)])
    assert got == pytest.approx(ce(logits["M"].numpy(), [0, 2, 1, 2]) + 0.2 * ce(logits["T"].numpy(), [0, 2, 1, 2]), rel=1e-5)


def test_classifier_loss_is_mean_of_ce_terms():
    model = MultimodalClassifier()
    model.task_ = Task("classification", n_classes=3)
    rng = np.random.default_rng(1)
    logits = {h: torch.tensor(rng.normal(size=(5, 3)), dtype=torch.float32) for h in ("M", "a", "b")}
    y = torch.tensor([0, 1, 2, 2, 0])
    got = float(model._training_loss(NetOutput(logits, {}, torch.zeros(5, 1)), {h: y for h in logits}))
    terms = [np.mean([np.log(np.exp(z[i]).sum()) - z[i, y[i]] for i in range(5)]) for z in (v.numpy() for v in logits.values())]
    assert got == pytest.approx(np.mean(terms), rel=1e-5)


# -------------------------------------------------------------------- predict_masked
def test_predict_masked_none_absent_equals_fused_output(reg, cls):
    model, pool = reg
    np.testing.assert_allclose(model.predict_masked(pool)[:, 0], model.predict(pool)["M"], rtol=1e-6)
    cmodel, cpool = cls
    np.testing.assert_allclose(cmodel.predict_masked(cpool), cmodel.predict_proba(cpool)["M"], rtol=1e-6)


def test_predict_masked_zeroes_features_direct(cls, reg):
    """BMMAL Eq. 11's V(S): the linear C_mm on the concat features with absent ones zeroed, by hand."""
    cmodel, cpool = cls
    emb = cmodel.embed(cpool)
    W = cmodel.net_.mm.weight.detach().numpy()
    b = cmodel.net_.mm.bias.detach().numpy()
    for absent in [set(), {"m0"}, {"m1"}, {"m0", "m1"}]:
        z = np.concatenate([np.zeros_like(emb[m]) if m in absent else emb[m] for m in ("m0", "m1")], 1)
        logits = z @ W.T + b
        want = np.exp(logits - logits.max(1, keepdims=True))
        want /= want.sum(1, keepdims=True)
        np.testing.assert_allclose(cmodel.predict_masked(cpool, absent=absent), want, rtol=1e-5, atol=1e-6)
    model, pool = reg
    emb = model.embed(pool)
    z = torch.tensor(np.concatenate([emb["text"], np.zeros_like(emb["audio"]), emb["vision"]], 1))
    with torch.no_grad():
        want = model.net_.fused_out(model.net_.fusion.eval()(z)).numpy()
    np.testing.assert_allclose(model.predict_masked(pool, absent={"audio"}), want, rtol=1e-5, atol=1e-6)
    assert not np.allclose(want, model.predict_masked(pool))
    with pytest.raises(PoolError, match="absent"):
        model.predict_masked(pool, absent={"nope"})


# ---------------------------------------------------------------------- MC dropout
def test_mc_dropout_seeded_and_varies(reg, cls):
    for model, pool in (reg, cls):
        before = _global_state()
        a = model.predict_proba_samples(pool, T=4, seed=3)
        assert _same(before, _global_state())
        width = pool.task.n_classes or 1
        assert a.shape == (pool.n, width, 4) and a.dtype == np.float32
        np.testing.assert_array_equal(a, model.predict_proba_samples(pool, T=4, seed=3))
        assert not np.allclose(a, model.predict_proba_samples(pool, T=4, seed=4))
        assert not np.allclose(a[..., 0], a[..., 1])  # dropout is on
        assert not model.net_.training  # back in eval mode
    np.testing.assert_allclose(cls[0].predict_proba_samples(cls[1], T=2).sum(1), 1.0, rtol=1e-5)


def test_mc_dropout_freezes_batchnorm():
    pool = sims_like_pool(30, kind="regression", n_labeled=20, seed=6)
    model = MultiTaskLateFusion(batch_norm=True, dropout=0.0, **KW).fit(pool, seed=0)
    bn = [m for m in model.net_.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert bn and bn[0].num_batches_tracked > 0
    stats = [t.clone() for t in (bn[0].running_mean, bn[0].running_var)]
    samples = model.predict_proba_samples(pool, T=3, seed=0)
    # no dropout + frozen BN: every pass equals the deterministic prediction (batch statistics would not)
    for t in range(3):
        np.testing.assert_allclose(samples[:, 0, t], model.predict(pool)["M"], rtol=1e-5, atol=1e-6)
    assert torch.equal(stats[0], bn[0].running_mean) and torch.equal(stats[1], bn[0].running_var)
    model.dropout = 0.3
    model.fit(pool, seed=0)
    bn = [m for m in model.net_.modules() if isinstance(m, torch.nn.BatchNorm1d)][0]
    stats = bn.running_mean.clone()
    model.predict_proba_samples(pool, T=3, seed=0)
    assert torch.equal(stats, bn.running_mean)


# -------------------------------------------------------------------------- seeding
def test_fit_deterministic_per_seed_and_global_rng_untouched():
    pool = sims_like_pool(30, kind="classification", n_labeled=20, seed=7)
    before = _global_state()
    a = MultiTaskLateFusion(**KW).fit(pool, seed=5)
    assert _same(before, _global_state())
    b = MultiTaskLateFusion(**KW).fit(pool, seed=5)
    c = MultiTaskLateFusion(**KW).fit(pool, seed=6)
    pa, pb, pc = (m.predict_proba(pool)["M"] for m in (a, b, c))
    np.testing.assert_array_equal(pa, pb)
    assert not np.allclose(pa, pc)
    # refitting one instance starts from a fresh init
    np.testing.assert_array_equal(c.fit(pool, seed=5).predict_proba(pool)["M"], pa)


def test_training_learns():
    pool = vector_pool(120, kind="classification", n_classes=2, n_labeled=120, seed=8, dims=(4, 4))
    model = MultimodalClassifier(feature_dim=8, hidden=16, epochs=30, device="cpu").fit(pool, seed=0)
    assert model.history_[-1] < 0.8 * model.history_[0]
    assert (model.predict(pool)["M"] == pool.labels["M"]).mean() > 0.85


def test_train_batches_never_leave_a_single_sample():
    rng = np.random.default_rng(0)
    for n in (1, 2, 5, 33, 64, 65):
        b = train_batches(n, 32, rng)
        assert sorted(np.concatenate(b).tolist()) == list(range(n))
        assert n == 1 or min(len(x) for x in b) > 1


# ---------------------------------------------------------------------------- errors
def test_errors_name_the_problem(reg):
    model, pool = reg
    with pytest.raises(CapabilityError, match="classification"):
        MultimodalClassifier(**KW).fit(pool)
    empty = sims_like_pool(10, n_labeled=0)
    with pytest.raises(PoolError, match="no labeled samples"):
        MultiTaskLateFusion(**KW).fit(empty)
    other = Pool({"text": pool.modalities["text"]}, Task("regression", label_range=(-1.0, 1.0)))  # no T/A/V heads without their modalities
    with pytest.raises(PoolError, match="lacks modalities"):
        model.predict(other)
    with pytest.raises(CapabilityError, match="not fitted"):
        MultiTaskLateFusion().embed(pool)
    with pytest.raises(ValueError, match="does not fit a sequence"):
        MultiTaskLateFusion(encoders={"audio": "mlp"}, **KW).fit(pool)
    with pytest.raises(ValueError, match="fusion"):
        MultimodalClassifier(fusion="gate")


def test_encoder_choice_and_text_pooling():
    pool = sims_like_pool(24, kind="regression", n_labeled=12, seed=9)
    m = MultiTaskLateFusion(encoders={"text": "lstm"}, text_pooling="cls", **KW).fit(pool, seed=0)
    kinds = {name: type(enc).__name__ for name, enc in zip(m.net_.modalities, m.net_.encoders)}
    assert kinds == {"text": "LSTMEncoder", "audio": "LSTMEncoder", "vision": "LSTMEncoder"}
    d = MultiTaskLateFusion(**KW).fit(pool, seed=0)
    assert type(d.net_.encoders[0]).__name__ == "PooledSequenceEncoder"
    # padding beyond the valid length does not change anything
    padded = pool.take(np.arange(pool.n))
    for name, arr in padded.modalities.items():
        arr[np.arange(arr.shape[1])[None, :] >= padded.lengths[name][:, None]] = 123.0
    np.testing.assert_allclose(d.predict(padded)["M"], d.predict(pool)["M"], rtol=1e-5)


# ----------------------------------------------------------------- registry and loop
def test_registered_plugins():
    assert {"mtl", "mm-classifier"} <= set(mmal.task_models.names())
    for name in ("mtl", "mm-classifier"):
        entry = mmal.task_models.entry(name)
        assert set(entry.meta["capabilities"].split(",")) == set(CAPABILITIES)
    assert mmal.task_models.entry("mm-classifier").meta["tasks"] == "classification"
    assert isinstance(mmal.task_models.get("mm-classifier", fusion="sum"), MultimodalClassifier)


@pytest.mark.parametrize("name,kind", [("mtl", "regression"), ("mtl", "classification"), ("mm-classifier", "classification")])
def test_three_round_loop_with_random(name, kind):
    pool = sims_like_pool(40, kind=kind, n_labeled=40, seed=10)
    ds = as_dataset(pool, 30)
    factory = lambda: mmal.task_models.get(name, **KW)
    records = mmal.run_loop(ds, mmal.strategies.get("random"), factory, init=6, budget=4, rounds=3, seed=0)
    assert [r.round for r in records] == [0, 1, 2, 3]
    assert [r.n_labeled for r in records] == [6, 10, 14, 18]
    key = "mae" if kind == "regression" else "acc"
    assert all(np.isfinite(r.metrics[key]) for r in records)
    assert ("T/" + key) in records[-1].metrics


@pytest.mark.parametrize("name", ["mtl", "mm-classifier"])
def test_conformance_kit_with_models(name):
    from mmal.data.toy import make_toy
    from mmal.testing import check_strategy

    ds = make_toy(24, seed=0, task="classification")
    check_strategy("random", dataset=ds, model_factory=lambda: mmal.task_models.get(name, **KW))


def test_bilstm_equals_packed_torch_lstm():
    """The encoder's BiLSTM gives exactly the final states of a packed bidirectional nn.LSTM."""
    from torch.nn.utils.rnn import pack_padded_sequence

    from mmal.nn.encoders import BiLSTM

    with torch.random.fork_rng():
        torch.manual_seed(0)
        ours = BiLSTM(4, 5, layers=2, dropout=0.0).eval()
        ref = torch.nn.LSTM(4, 5, num_layers=2, batch_first=True, bidirectional=True).eval()
        x = torch.randn(6, 9, 4)
    lengths = torch.tensor([9, 1, 4, 7, 2, 9])
    with torch.no_grad():
        for i in range(2):
            for mine, suffix in ((ours.fwd[i], ""), (ours.bwd[i], "_reverse")):
                for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    getattr(mine, f"{kind}_l0").copy_(getattr(ref, f"{kind}_l{i}{suffix}"))
        _, (h_n, _) = ref(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
        want = torch.cat([h_n[-2], h_n[-1]], 1)
        got = ours(x, lengths)
        x[torch.arange(9)[None, :] >= lengths[:, None]] = 50.0  # padding is never read
        again = ours(x, lengths)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(again, want, rtol=1e-5, atol=1e-6)


def _reverse_each(x, lengths):
    out = x.clone()
    for i, n in enumerate(lengths.tolist()):
        out[i, :n] = x[i, :n].flip(0)
    return out


def test_lstm_encoder_length_groups_change_no_sample():
    """A large batch runs in groups of similar length (by_length): each sample's feature and the
    training gradients are those of the whole batch at once and of the sample alone."""
    from mmal.nn.encoders import LSTMEncoder, reverse_valid

    with torch.random.fork_rng():
        torch.manual_seed(0)
        enc = LSTMEncoder(3, 4, 5, dropout=0.0, layers=2, length_group=4)
        x = torch.randn(19, 8, 3)
        lengths = torch.randint(1, 9, (19,))
    torch.testing.assert_close(reverse_valid(x, lengths), _reverse_each(x, lengths), rtol=0, atol=0)

    def run(group):
        enc.length_group = group
        enc.zero_grad()
        out = enc(x, lengths)
        out.square().sum().backward()
        return out.detach(), [p.grad.clone() for p in enc.parameters()]

    grouped, g_grads = run(4)  # 4 groups
    whole, w_grads = run(100)
    alone = torch.cat([enc(x[i : i + 1, :n], lengths[i : i + 1]) for i, n in enumerate(lengths.tolist())]).detach()
    torch.testing.assert_close(grouped, whole, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grouped, alone, rtol=1e-5, atol=1e-6)
    for a, b in zip(g_grads, w_grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_bilstm_runs_as_inference_when_nothing_needs_a_gradient():
    """In grad mode the BiLSTM records a graph only when its input or a parameter needs one (a frozen
    encoder under grad_only_at runs oneDNN's inference kernel); gradients still reach x."""
    from mmal.nn.encoders import BiLSTM

    rnn = BiLSTM(3, 4, layers=2, dropout=0.0).eval()
    seen = []
    rnn.fwd[0].register_forward_pre_hook(lambda *_: seen.append(torch.is_grad_enabled()))
    x, lengths = torch.randn(5, 6, 3), torch.tensor([6, 1, 3, 6, 2])
    assert rnn(x, lengths).requires_grad and seen == [True]  # training: parameters need gradients
    for p in rnn.parameters():
        p.requires_grad_(False)
    assert not rnn(x, lengths).requires_grad and seen[-1] is False
    xg = x.clone().requires_grad_(True)
    out = rnn(xg, lengths)
    assert seen[-1] is True
    (grad,) = torch.autograd.grad(out.sum(), xg)
    assert grad.abs().sum() > 0


def test_pooled_text_is_the_mean_over_valid_tokens():
    from mmal.nn.encoders import PooledSequenceEncoder

    enc = PooledSequenceEncoder(4, 5, 3, dropout=0.0).eval()
    x, lengths = torch.randn(6, 7, 4), torch.tensor([7, 1, 3, 5, 2, 7])
    want = enc.mlp(torch.stack([x[i, :n].mean(0) for i, n in enumerate(lengths.tolist())]))
    torch.testing.assert_close(enc(x, lengths), want, rtol=1e-5, atol=1e-6)


def test_token_id_modality():
    """Integer ids [N, L] (0 = padding) get an embedding encoder; unseen ids share the unknown row."""
    base = vector_pool(30, kind="classification", n_classes=2, n_labeled=30, seed=11, dims=(4,))
    rng = np.random.default_rng(11)
    ids = rng.integers(1, 20, (30, 6))
    ids[:, 4:] = 0
    ids[:, 1] = np.where(base.labels["M"] == 1, 3, 5)  # a keyword per class
    pool = Pool({"m0": base.modalities["m0"], "text": ids}, base.task, labels=base.labels)
    model = MultimodalClassifier(feature_dim=8, hidden=8, epochs=40, lr=1e-2, device="cpu").fit(pool, seed=0)
    enc = model.net_.encoders[1]
    assert type(enc).__name__ == "TokenEncoder" and enc.vocab == 20
    assert (model.predict(pool)["text"] == pool.labels["M"]).mean() > 0.9
    unseen = pool.take(np.arange(pool.n))
    unseen.modalities["text"][:, 2] = 10_000
    out = model.embed(unseen)["text"]
    assert np.isfinite(out).all() and not np.allclose(out, model.embed(pool)["text"])


def test_strategies_refuse_an_unfitted_model_or_one_fitted_on_another_layout():
    """TorchTaskModel records fit_signature_; Strategy.select checks it before any strategy work."""
    pool = sims_like_pool(30, n_labeled=12)
    coreset = mmal.strategies.get("coreset")
    model = MultiTaskLateFusion(**KW)
    with pytest.raises(CapabilityError, match="MultiTaskLateFusion is not fitted; call model.fit"):
        coreset.select(model, pool, 3, rng=np.random.default_rng(0))
    model.fit(pool, seed=0)
    assert len(coreset.select(model, pool, 3, rng=np.random.default_rng(0)).positions) == 3
    wider = sims_like_pool(30, n_labeled=12, audio_shape=(9, 8))  # audio features 5 -> 8 wide
    with pytest.raises(PoolError, match=r"fitted on a different pool \(modality 'audio' is \[ndim, dims\] \[3, 5\] then, \[3, 8\] now"):
        coreset.select(model, wider, 3, rng=np.random.default_rng(0))
    # a task change (3 classes fitted, 4 now) used to give picks silently
    three = sims_like_pool(30, n_labeled=12, kind="classification", n_classes=3)
    clf = MultiTaskLateFusion(**KW).fit(three)
    four = sims_like_pool(30, n_labeled=12, kind="classification", n_classes=4)
    with pytest.raises(PoolError, match=r"n_classes 3 then, 4 now"):
        mmal.strategies.get("badge").select(clf, four, 3, rng=np.random.default_rng(0))
