"""Factored gradient embeddings (mmal.grads, TorchTaskModel.grad_embed) against explicit ones.

The reference is a direct per-sample loop: each sample is forwarded ALONE, its loss built by
hand, and ``torch.autograd.grad`` taken w.r.t. the layer's weight (and bias).
"""

import copy

import numpy as np
import pytest
import torch

from mmal import Pool
from mmal import grads as G
from mmal.nn import MultimodalClassifier, MultiTaskLateFusion
from mmal.nn.toy import sims_like_pool, vector_pool
from mmal.nn.training import load_batch


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: threads only add contention
    yield
    torch.set_num_threads(n)


# ------------------------------------------------------------------ factored algebra
def _rank_one(rng, n, c, d):
    return G.RankOne(rng.normal(size=(n, c)), rng.normal(size=(n, d)))


def _explicit_pairs(A, B):
    ip = A @ B.T
    sq = ((A[:, None, :] - B[None, :, :]) ** 2).sum(-1)
    na, nb = np.linalg.norm(A, axis=1), np.linalg.norm(B, axis=1)
    return ip, sq, ip / (na[:, None] * nb[None, :])


@pytest.mark.parametrize("as_blocks", [False, True])
def test_factored_algebra_matches_explicit(as_blocks):
    rng = np.random.default_rng(0)
    if as_blocks:
        a = [_rank_one(rng, 7, 3, 4), _rank_one(rng, 7, 2, 5)]
        b = [_rank_one(rng, 5, 3, 4), _rank_one(rng, 5, 2, 5)]
    else:
        a, b = _rank_one(rng, 7, 3, 4), _rank_one(rng, 5, 3, 4)
    A, B = G.explicit(a), G.explicit(b)
    ip, sq, cos = _explicit_pairs(A, B)
    np.testing.assert_allclose(G.inner(a, b), ip, rtol=1e-10)
    np.testing.assert_allclose(G.sq_dists(a, b), sq, rtol=1e-10)
    np.testing.assert_allclose(G.dists(a, b), np.sqrt(sq), rtol=1e-10)
    np.testing.assert_allclose(G.cosines(a, b), cos, rtol=1e-10)
    np.testing.assert_allclose(G.norms(a), np.linalg.norm(A, axis=1), rtol=1e-10)
    np.testing.assert_allclose(G.sq_dists(a), ((A[:, None] - A[None]) ** 2).sum(-1), atol=1e-9)
    # rowwise: two gradients of the same samples
    a2 = [_rank_one(rng, 7, 3, 4), _rank_one(rng, 7, 2, 5)] if as_blocks else _rank_one(rng, 7, 3, 4)
    A2 = G.explicit(a2)
    np.testing.assert_allclose(G.rowwise_inner(a, a2), (A * A2).sum(1), rtol=1e-10)
    np.testing.assert_allclose(
        G.rowwise_cosines(a, a2), (A * A2).sum(1) / (np.linalg.norm(A, axis=1) * np.linalg.norm(A2, axis=1)), rtol=1e-10
    )


def test_add_same_layer_and_zero_norm_cosine():
    rng = np.random.default_rng(1)
    h = rng.normal(size=(6, 4))
    a, b = G.RankOne(rng.normal(size=(6, 3)), h), G.RankOne(rng.normal(size=(6, 3)), h)
    np.testing.assert_allclose(G.explicit(G.add(a, b)), G.explicit(a) + G.explicit(b), rtol=1e-12)
    # same sample, same layer: cos(g, g') = cos(delta, delta')
    da, db = a.delta, b.delta
    np.testing.assert_allclose(
        G.rowwise_cosines(a, b), (da * db).sum(1) / np.linalg.norm(da, axis=1) / np.linalg.norm(db, axis=1), rtol=1e-10
    )
    with pytest.raises(ValueError, match="same layer"):
        G.add(a, G.RankOne(b.delta, h + 1))
    z = G.RankOne(np.zeros((6, 3)), h)
    assert np.all(G.rowwise_cosines(a, z) == 0) and np.all(G.cosines(z, a) == 0)
    with pytest.raises(ValueError, match="block shapes"):
        G.inner(a, G.RankOne(rng.normal(size=(6, 2)), h))


# ---------------------------------------------- model gradients vs per-sample autograd
def _reference_loss(model, out, head, pseudo, y=None):
    """The per-sample loss written out by hand (one sample)."""
    pred = out.heads[head]
    if model.task_.is_classification:
        if y is not None:
            target = torch.tensor([int(y)])
        else:
            src = out.heads["M"] if pseudo in (None, "fused") else pred
            target = src.detach().argmax(1)
        return -torch.log_softmax(pred, dim=1)[0, target[0]]
    if y is not None:
        return (pred[0, 0] - float(y)).abs()
    if pseudo == "fused":
        s = float(torch.sign(pred[0, 0] - out.heads["M"][0, 0]).detach())
        return (s if s != 0 else 1.0) * pred[0, 0]
    return pred[0, 0]  # sensitivity


def _per_sample_loop(model, pool, positions, pairs, pseudo, bias, explicit=None):
    """{(head, layer): [n, out*(in+bias)]}: each sample forwarded alone, one autograd.grad per pair."""
    layers = model.net_.grad_layers()
    rows = {p: [] for p in pairs}
    model.net_.eval()
    for j, i in enumerate(positions):
        out = model.net_(load_batch(pool, model.specs_, np.array([i]), model.device_))
        for head, layer in pairs:
            lin = layers[layer]
            params = [lin.weight] + ([lin.bias] if bias else [])
            loss = _reference_loss(model, out, head, pseudo, None if explicit is None else explicit[j])
            gs = torch.autograd.grad(loss, params, allow_unused=True, retain_graph=True)
            gs = [torch.zeros_like(p) if g is None else g for p, g in zip(params, gs)]
            full = torch.cat([gs[0], gs[1][:, None]], 1) if bias else gs[0]
            rows[(head, layer)].append(full.flatten().detach().numpy())
    return {p: np.stack(v) for p, v in rows.items()}


def _assert_close(fast, slow):
    scale = np.abs(slow).max()
    np.testing.assert_allclose(fast, slow, rtol=1e-5, atol=1e-6 * scale)
    nz = np.linalg.norm(slow, axis=1) > 0
    rel = np.linalg.norm(fast - slow, axis=1)[nz] / np.linalg.norm(slow, axis=1)[nz]
    assert rel.max(initial=0) < 1e-5


@pytest.fixture(scope="module")
def fitted():
    reg = sims_like_pool(40, kind="regression", n_labeled=20, seed=3)
    cls = sims_like_pool(40, kind="classification", n_classes=3, n_labeled=20, seed=4)
    vec = vector_pool(40, kind="classification", n_classes=4, n_labeled=20, seed=5, dims=(6, 5, 4))
    tok = vector_pool(40, kind="classification", n_classes=3, n_labeled=20, seed=6, dims=(5,))
    ids = np.random.default_rng(6).integers(1, 30, (40, 7))
    ids[np.arange(7)[None, :] >= np.random.default_rng(7).integers(1, 8, 40)[:, None]] = 0  # 0-padded
    tok = Pool({"m0": tok.modalities["m0"], "tokens": ids}, tok.task, labels=tok.labels)
    kw = dict(feature_dim=6, hidden=5, epochs=2, infer_batch_size=16, device="cpu")
    return {
        "mtl-reg": (MultiTaskLateFusion(fused_hidden=7, **kw).fit(reg, seed=0), reg),
        "mtl-cls": (MultiTaskLateFusion(fused_hidden=7, **kw).fit(cls, seed=0), cls),
        "clf-concat": (MultimodalClassifier(**kw).fit(vec, seed=0), vec),
        "clf-sum-seq": (MultimodalClassifier(fusion="sum", **kw).fit(cls, seed=0), cls),
        "clf-tokens": (MultimodalClassifier(**kw).fit(tok, seed=0), tok),
    }


POS = np.array([0, 3, 21, 22, 30, 35, 39])


@pytest.mark.parametrize("name", ["mtl-reg", "mtl-cls", "clf-concat", "clf-sum-seq", "clf-tokens"])
@pytest.mark.parametrize("bias", [False, True])
def test_factored_equals_per_sample_autograd(fitted, name, bias):
    model, pool = fitted[name]
    layers = [l for l in model.grad_layers() if l.startswith("enc:")] + ["head:M"]
    heads = ["M", *model.unimodal_heads.values()]
    slow_all = _per_sample_loop(model, pool, POS, [(h, l) for l in layers for h in heads], None, bias)
    for layer in layers:
        for head in heads:
            fast = model.grad_embed(pool, POS, head=head, layer=layer, bias=bias)
            slow = slow_all[(head, layer)]
            assert fast.delta.dtype == np.float32 and fast.h.shape[1] == model.net_.grad_layers()[layer].in_features + bias
            _assert_close(fast.explicit(), slow)
            depends = head == "M" or layer == "head:M" or model.unimodal_heads.get(layer[4:]) == head
            if head == "M" or depends and layer.startswith("enc:"):
                assert (np.linalg.norm(slow, axis=1) > 0).mean() >= 0.5, (layer, head)  # the check is not vacuous


@pytest.mark.parametrize("name,pseudo", [("mtl-reg", "fused"), ("mtl-cls", "own"), ("mtl-reg", "labels"), ("mtl-cls", "labels")])
def test_pseudo_label_options(fitted, name, pseudo):
    model, pool = fitted[name]
    rng = np.random.default_rng(0)
    explicit = None
    if pseudo == "labels":
        explicit = rng.integers(0, 3, len(POS)) if model.task_.is_classification else rng.uniform(-1, 1, len(POS))
    arg = explicit if pseudo == "labels" else pseudo
    pairs = [("T", "enc:text"), ("M", "enc:audio"), ("A", "head:A")]
    slow_all = _per_sample_loop(model, pool, POS, pairs, pseudo, False, explicit)
    for head, layer in pairs:
        fast = model.grad_embed(pool, POS, head=head, layer=layer, pseudo=arg)
        slow = slow_all[(head, layer)]
        _assert_close(fast.explicit(), slow)
        assert np.linalg.norm(slow, axis=1).min() > 0


def test_sensitivity_is_l1_gradient_up_to_sign(fitted):
    """Default regression pseudo-label: the L1 gradient for a target below / above the prediction."""
    model, pool = fitted["mtl-reg"]
    pred = model.predict(pool, POS)["M"]
    sens = model.grad_embed(pool, POS, layer="enc:text")
    below = model.grad_embed(pool, POS, layer="enc:text", pseudo=pred - 0.5)
    above = model.grad_embed(pool, POS, layer="enc:text", pseudo=pred + 0.5)
    np.testing.assert_allclose(below.explicit(), sens.explicit(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(above.explicit(), -sens.explicit(), rtol=1e-5, atol=1e-7)


def test_grad_embed_many_equals_single_and_batching(fitted):
    model, pool = fitted["mtl-cls"]
    pairs = [("T", "enc:text"), ("M", "enc:text"), ("A", "enc:audio"), ("M", "enc:audio"), ("M", "head:M"), ("V", "head:V")]
    many = model.grad_embed_many(pool, pairs=pairs, bias=True)
    for head, layer in pairs:
        one = model.grad_embed(pool, head=head, layer=layer, bias=True)
        np.testing.assert_array_equal(many[(head, layer)].delta, one.delta)
        np.testing.assert_array_equal(many[(head, layer)].h, one.h)
    bs = model.infer_batch_size
    try:
        model.infer_batch_size = 5
        small = model.grad_embed_many(pool, pairs=pairs, bias=True)
    finally:
        model.infer_batch_size = bs
    for p in pairs:
        np.testing.assert_allclose(small[p].delta, many[p].delta, rtol=1e-5, atol=1e-7)


def test_factored_with_length_groups_equals_per_sample_autograd(fitted):
    """Large inference batches run the LSTM encoders in groups of similar length: still exact."""
    model, pool = fitted["mtl-cls"]
    model = copy.deepcopy(model)
    grouped = [enc for enc in model.net_.encoders if hasattr(enc, "length_group")]
    assert len(grouped) == 2  # audio, vision
    for enc in grouped:
        enc.length_group = 3  # 40 samples -> 13 groups
    model.infer_batch_size = pool.n
    pos = np.arange(pool.n)
    pairs = [("A", "enc:audio"), ("M", "enc:audio"), ("V", "enc:vision"), ("M", "enc:vision"), ("M", "head:M")]
    slow = _per_sample_loop(model, pool, pos, pairs, None, False)
    fast = model.grad_embed_many(pool, pos, pairs=pairs)
    for p in pairs:
        _assert_close(fast[p].explicit(), slow[p])


def test_grad_embed_errors(fitted):
    model, pool = fitted["mtl-reg"]
    with pytest.raises(ValueError, match="layer 'enc:nope'"):
        model.grad_embed(pool, layer="enc:nope")
    with pytest.raises(ValueError, match="head 'Z'"):
        model.grad_embed(pool, head="Z")
    with pytest.raises(ValueError, match="pseudo='own'"):
        model.grad_embed(pool, pseudo="own")
    with pytest.raises(ValueError, match="shape"):
        model.grad_embed(pool, POS, pseudo=np.zeros(3))


def test_grad_embed_leaves_the_network_as_it_was(fitted):
    model, pool = fitted["mtl-reg"]
    before = {k: v.clone() for k, v in model.net_.state_dict().items()}
    model.grad_embed_many(pool, POS, pairs=[("M", "enc:audio"), ("T", "head:M")])
    assert all(p.requires_grad and p.grad is None for p in model.net_.parameters())
    assert not model.net_.training
    after = model.net_.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
