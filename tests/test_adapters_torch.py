"""mmal.adapters.TorchModel: a user's nn.Module as a TaskModel (issue 17 item 2).

Gradients against per-sample autograd (every head / layer / pseudo-label kind, classification
and regression), embeddings and masked predictions against the network's own modules, MC
dropout with BatchNorm frozen, training, the user's-own-loop mode, the <= 15-line docs example,
identical picks to mmal's own model when its network is wrapped, and the errors for bad input.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import mmal
from mmal.adapters import TorchModel

DOCS = Path(__file__).resolve().parents[1] / "docs" / "own-loop.md"
HEADS = {"M": "fc", "a": "head_a", "b": "head_b"}
ENCODERS = {"a": "enc_a", "b": "enc_b"}


class Net(nn.Module):
    """Two encoders (Sequential ending in Linear + ReLU, one with BatchNorm), unimodal heads, concat fusion."""

    def __init__(self, width=3, bn=False):
        super().__init__()
        self.enc_a = nn.Sequential(nn.Linear(5, 8), *( [nn.BatchNorm1d(8)] if bn else []), nn.ReLU(), nn.Linear(8, 6), nn.ReLU())
        self.enc_b = nn.Sequential(nn.Linear(4, 6), nn.Tanh())
        self.head_a, self.head_b = nn.Linear(6, width), nn.Linear(6, width)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(12, width)

    def forward(self, a, b):
        fa, fb = self.enc_a(a), self.enc_b(b)
        return self.fc(self.drop(torch.cat([fa, fb], 1))), self.head_a(self.drop(fa)), self.head_b(fb)


def data(task="classification", n=40, n_labeled=12, seed=0):
    rng = np.random.default_rng(seed)
    if task == "classification":
        y, t = rng.integers(0, 3, n).astype(float), mmal.Task("classification", n_classes=3)
    else:
        y, t = rng.uniform(-1, 1, n), mmal.Task("regression", label_range=(-1.0, 1.0))
    a = rng.normal(size=(n, 5)) + (y[:, None] if task == "classification" else 0)
    b = rng.normal(size=(n, 4))
    return mmal.Pool({"a": a, "b": b}, t, labels={"M": np.where(np.arange(n) < n_labeled, y, np.nan)})


def wrapped(task="classification", bn=False, seed=0, **kw):
    torch.manual_seed(seed)
    net = Net(3 if task == "classification" else 1, bn=bn)
    return net, TorchModel(net, encoders=ENCODERS, heads=HEADS, **kw)


def tensors(pool, i):
    return (torch.tensor(pool.modalities["a"][i : i + 1], dtype=torch.float32),
            torch.tensor(pool.modalities["b"][i : i + 1], dtype=torch.float32))


# ------------------------------------------------------------------ gradients
def per_sample_gradient(net, pool, i, head, weight, target, task):
    """d loss_i / d weight by autograd on sample i alone (eval mode)."""
    net.eval()
    net.zero_grad()
    fused, ha, hb = net(*tensors(pool, i))
    out = {"M": fused, "a": ha, "b": hb}[head]
    if task == "classification":
        loss = nn.functional.cross_entropy(out, torch.tensor([int(target)]))
    else:  # the L1 loss against an explicit target
        loss = (out[0, 0] - float(target)).abs()
    loss.backward()
    return weight.grad.detach().numpy().ravel().copy()


LAYERS = {"head:M": lambda n: n.fc.weight, "head:a": lambda n: n.head_a.weight, "enc:a": lambda n: n.enc_a[-2].weight,
          "enc:b": lambda n: n.enc_b[0].weight}


@pytest.mark.parametrize("pseudo", [None, "own", "explicit"])
def test_classification_gradients_equal_per_sample_autograd(pseudo):
    pool = data()
    net, model = wrapped()
    model.fit(pool, seed=1)
    pos = np.arange(pool.n)
    pairs = [("M", "head:M"), ("a", "head:a"), ("M", "enc:a"), ("a", "enc:a"), ("b", "enc:b"), ("M", "enc:b")]
    probs = model.predict_proba(pool)
    explicit = {h: np.random.default_rng(3).integers(0, 3, pool.n) for h in ("M", "a", "b")}
    arg = explicit if pseudo == "explicit" else pseudo
    got = model.grad_embed_many(pool, pos, pairs=pairs, pseudo=arg)
    for head, layer in pairs:
        target = explicit[head] if pseudo == "explicit" else probs["M" if pseudo is None else head].argmax(1)
        want = np.stack([per_sample_gradient(net, pool, i, head, LAYERS[layer](net), target[i], "classification")
                         for i in pos])
        assert np.allclose(got[(head, layer)].explicit(), want, atol=1e-6), (head, layer, pseudo)
    single = model.grad_embed(pool, pos[:7], head="a", layer="enc:a", pseudo=arg if pseudo != "explicit" else
                              {"a": explicit["a"][:7]})
    assert np.allclose(single.explicit(), got[("a", "enc:a")].explicit()[:7], atol=1e-6)
    # a head whose loss does not reach the layer has a zero gradient there (head b never reads encoder a)
    assert (model.grad_embed(pool, pos, head="b", layer="enc:a", pseudo=arg).delta == 0).all()


def test_regression_gradients_equal_per_sample_autograd():
    pool = data("regression")
    net, model = wrapped("regression")
    model.fit(pool, seed=0)
    pos = np.arange(pool.n)
    pred = model.predict(pool)
    targets = {h: pred[h] + 0.5 for h in ("M", "a", "b")}  # every target above the prediction: L1 grad = -d yhat/dW
    got = model.grad_embed_many(pool, pos, pairs=[("M", "head:M"), ("a", "enc:a")], pseudo=targets)
    for head, layer in [("M", "head:M"), ("a", "enc:a")]:
        want = np.stack([per_sample_gradient(net, pool, i, head, LAYERS[layer](net), targets[head][i], "regression")
                         for i in pos])
        assert np.allclose(got[(head, layer)].explicit(), want, atol=1e-6)
    sens = model.grad_embed(pool, pos, head="M", layer="head:M")  # default: sensitivity = -(L1 grad) here
    assert np.allclose(sens.explicit(), -got[("M", "head:M")].explicit(), atol=1e-6)


# -------------------------------------------------------- the other capabilities
def test_embed_masked_and_predict_read_the_networks_own_modules():
    pool = data()
    net, model = wrapped()
    net.eval()
    with torch.no_grad():
        a, b = (torch.tensor(pool.modalities[m], dtype=torch.float32) for m in ("a", "b"))
        fa, fb = net.enc_a(a), net.enc_b(b)
        fused = torch.cat([fa, fb], 1)
        full = net.fc(fused).softmax(1).numpy()
        no_a = net.fc(torch.cat([torch.zeros_like(fa), fb], 1)).softmax(1).numpy()
    emb = model.embed(pool)
    assert np.allclose(emb["a"], fa.numpy(), atol=1e-6) and np.allclose(emb["b"], fb.numpy(), atol=1e-6)
    assert np.allclose(emb["fused"], fused.numpy(), atol=1e-6)
    assert np.allclose(model.predict_proba(pool)["M"], full, atol=1e-6)
    assert np.array_equal(model.predict(pool)["M"], full.argmax(1))
    assert np.allclose(model.predict_masked(pool, absent={"a"}), no_a, atol=1e-6)
    assert np.allclose(model.predict_masked(pool, np.arange(5), absent=frozenset()), full[:5], atol=1e-6)
    assert sorted(model.predict(pool)) == ["M", "a", "b"] and model.unimodal_heads == {"a": "a", "b": "b"}
    assert sorted(model.grad_layers()) == ["enc:a", "enc:b", "head:M", "head:a", "head:b"]


def test_mc_dropout_keeps_batchnorm_frozen_and_is_seeded():
    pool = data()
    net, model = wrapped(bn=True)
    model.fit(pool, seed=0)
    bn = net.enc_a[1]
    before = (bn.running_mean.clone(), bn.running_var.clone(), int(bn.num_batches_tracked))
    state = torch.random.get_rng_state()
    s1 = model.predict_proba_samples(pool, T=6, seed=4)
    assert torch.equal(torch.random.get_rng_state(), state)  # global RNG untouched
    s2 = model.predict_proba_samples(pool, T=6, seed=4)
    assert s1.shape == (pool.n, 3, 6) and np.array_equal(s1, s2)
    assert np.allclose(s1.sum(1), 1.0, atol=1e-5) and s1.std(axis=2).max() > 1e-3  # dropout on: passes differ
    assert torch.equal(bn.running_mean, before[0]) and torch.equal(bn.running_var, before[1])
    assert int(bn.num_batches_tracked) == before[2] and not net.training
    # another seed, other dropout masks
    assert not np.array_equal(s1, model.predict_proba_samples(pool, T=6, seed=5))


def test_fit_restarts_from_the_wrapped_weights_and_learns():
    pool = data(n=120, n_labeled=90)
    net, model = wrapped(epochs=30, lr=1e-2)
    w0 = net.fc.weight.detach().clone()
    model.fit(pool, seed=0)
    first = model.predict_proba(pool)["M"]
    assert not torch.equal(net.fc.weight, w0)  # it trained the user's own network
    model.fit(pool, seed=0)
    assert np.allclose(model.predict_proba(pool)["M"], first, atol=1e-6)  # from the same start: same result
    truth = np.nan_to_num(pool.labels["M"])
    lab = pool.labeled_positions()
    assert (model.predict(pool)["M"][lab] == truth[lab]).mean() > 0.8
    assert model.history_[-1] < model.history_[0]
    seen = []

    def loss(outputs, targets):
        seen.append((sorted(outputs), sorted(targets)))
        return nn.functional.cross_entropy(outputs["M"], targets["M"])

    _, custom = wrapped(loss=loss, epochs=1)
    custom.fit(pool, seed=0)
    assert seen and seen[0] == (["M", "a", "b"], ["M", "a", "b"])


def test_unimodal_heads_learn_their_modalitys_own_label():
    rng = np.random.default_rng(0)
    n = 30
    task = mmal.Task("classification", heads=("M", "A"), n_classes=3, head_modality={"A": "a"})
    y, ya = rng.integers(0, 3, n).astype(float), rng.integers(0, 3, n).astype(float)
    pool = mmal.Pool({"a": rng.normal(size=(n, 5)), "b": rng.normal(size=(n, 4))}, task, labels={"M": y, "A": ya})
    _, model = wrapped()
    targets = model._targets(pool)
    assert np.array_equal(targets["a"], ya.astype(int)) and np.array_equal(targets["b"], y.astype(int))


def test_own_training_loop_without_fit():
    pool = data()
    net, model = wrapped()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(3):  # the user's loop
        out, _, _ = net(*(torch.tensor(pool.modalities[m][:12], dtype=torch.float32) for m in ("a", "b")))
        opt.zero_grad()
        nn.functional.cross_entropy(out, torch.tensor(pool.labels["M"][:12], dtype=torch.long)).backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        want = net(*(torch.tensor(pool.modalities[m], dtype=torch.float32) for m in ("a", "b")))[0].softmax(1).numpy()
    assert np.allclose(model.predict_proba(pool)["M"], want, atol=1e-6)
    for name in ("badge", "bmmal", "grace", "bald", "coreset"):
        sel = mmal.strategies.get(name).select(model, pool, 4, rng=mmal.derive_rng(0, 1, name))
        assert len(sel.positions) == 4 and not pool.labeled[sel.positions].any()


def test_badge_picks_equal_kmeanspp_on_per_sample_autograd_gradients():
    from mmal.kernels import kmeanspp

    pool = data(n=50)
    net, model = wrapped()
    model.fit(pool, seed=2)
    unl = pool.unlabeled_positions()
    yhat = model.predict_proba(pool)["M"].argmax(1)
    g = np.stack([per_sample_gradient(net, pool, i, "M", net.fc.weight, yhat[i], "classification") for i in unl])
    sel = mmal.strategies.get("badge").select(model, pool, 8, rng=mmal.derive_rng(0, 1, "badge"))
    want = unl[kmeanspp(g.astype(np.float32), 8, mmal.derive_rng(0, 1, "badge"))]
    assert np.array_equal(sel.positions, want)


# ----------------------------------------- identical picks to mmal's own model
def test_wrapping_mmals_own_network_gives_identical_picks():
    ds = mmal.datasets.get("toy", size="tiny", seed=0)
    pool = ds.train
    pool.label(pool.ids[:30], ds.oracle(pool.ids[:30]))
    native = mmal.task_models.get("mm-classifier", epochs=2).fit(pool, seed=0)
    net = native.net_
    modalities = net.modalities
    encoders = {m: f"encoders.{i}.out" for i, m in enumerate(modalities)}
    heads = {"M": "mm"} | {m: f"unimodal.{i}" for i, m in enumerate(modalities)}
    model = TorchModel(net, encoders=encoders, heads=heads, forward=lambda n, batch: n(batch))
    for name in ("badge", "bmmal", "grace", "coreset", "bald"):
        want = mmal.strategies.get(name).select(native, pool, 6, rng=mmal.derive_rng(0, 1, name))
        got = mmal.strategies.get(name).select(model, pool, 6, rng=mmal.derive_rng(0, 1, name))
        assert np.array_equal(got.positions, want.positions), name
        if want.scores is not None:
            assert np.allclose(got.scores, want.scores, rtol=1e-5, atol=1e-6), name


# ------------------------------------------------------------ the docs example
def _docs_torch_block() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.S)
    return next(b for b in blocks if "class TwoModalityNet" in b)


def test_docs_example_is_at_most_15_lines_of_mmal_and_runs_three_strategies(capsys):
    code = _docs_torch_block()
    mine = code.split("# --- mmal", 1)[1]
    lines = [ln for ln in mine.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    assert len(lines) <= 15, f"the docs example needs {len(lines)} lines of user code for mmal; the issue allows 15"
    exec(compile(code, "docs/own-loop.md", "exec"), {"__name__": "__docs__"})
    out = capsys.readouterr().out
    assert [ln.split()[0] for ln in out.splitlines()] == ["badge", "bmmal", "grace"]
    assert all(len(re.findall(r"\d+", ln)) == 10 for ln in out.splitlines())


def test_docs_example_picks_equal_the_arrays_and_its_gradients_per_sample_autograd(capsys):
    """The docs' TwoModalityNet: BADGE, BMMAL and GRACE through mmal.Pool pick what mmal.arrays picks on
    the adapter's arrays (identical inputs, the same rng), and those arrays are per-sample autograd."""
    from mmal import arrays
    from mmal.builtin.bmmal import modality_inputs
    from mmal.shapley import subset_values

    env = {"__name__": "__docs__"}
    exec(compile(_docs_torch_block(), "docs/own-loop.md", "exec"), env)
    capsys.readouterr()
    model, pool, net = env["model"], env["pool"], env["model"].net
    unl, every = pool.unlabeled_positions(), np.arange(pool.n)
    sel = {name: mmal.strategies.get(name).select(model, pool, 10, rng=mmal.derive_rng(0, 1, name))
           for name in ("badge", "bmmal", "grace")}
    g = model.grad_embed(pool, head="M", layer="head:M")
    assert np.array_equal(arrays.badge(g, 10, mmal.derive_rng(0, 1, "badge"), candidates=unl).positions,
                          sel["badge"].positions)
    mods = list(model.unimodal_heads)
    _, delta, z = modality_inputs(model, pool, every, mods)
    got = arrays.bmmal(subset_values(model, pool, None, mods), delta, z, 10, mmal.derive_rng(0, 1, "bmmal"), candidates=unl)
    assert np.array_equal(got.positions, sel["bmmal"].positions)
    grace = mmal.strategies.get("grace")
    inputs = grace.inputs(model, pool, every)
    got = arrays.grace(inputs["gradients"], 10, candidates=unl, representations=inputs["representations"],
                       **grace.options(round=1))
    assert np.array_equal(got.positions, sel["grace"].positions)

    # the gradients these read, against autograd on one sample at a time (eval mode, fused argmax pseudo-label)
    net.eval()
    for i in unl[:4]:
        x = [torch.tensor(pool.modalities[m][i : i + 1], dtype=torch.float32) for m in ("audio", "video")]
        for head, layer, weight in [("M", "head:M", net.classifier.weight), ("audio", "enc:audio", net.audio[-1].weight),
                                    ("M", "enc:video", net.video[-1].weight)]:
            net.zero_grad()
            fused, ha, hv = net(*x)
            target = fused.argmax(1)
            nn.functional.cross_entropy({"M": fused, "audio": ha, "video": hv}[head], target).backward()
            want = weight.grad.numpy().ravel()
            have = model.grad_embed(pool, np.array([i]), head=head, layer=layer).explicit()[0]
            assert np.allclose(have, want, atol=1e-6), (i, head, layer)


# ------------------------------------------------------------------- bad input
def test_clear_errors_for_bad_input():
    net = Net()
    with pytest.raises(ValueError, match=r"encoders\['a'\]='enc_x' is not a layer.*did you mean"):
        TorchModel(net, encoders={"a": "enc_x", "b": "enc_b"}, heads=HEADS)
    with pytest.raises(ValueError, match=r"heads\['M'\]='fcc'.*did you mean \['fc'\]"):
        TorchModel(net, encoders=ENCODERS, heads={"M": "fcc"})
    with pytest.raises(ValueError, match="name the fused head's last linear layer as 'M'"):
        TorchModel(net, encoders=ENCODERS, heads={"a": "head_a"})
    with pytest.raises(ValueError, match=r"heads \['c'\] are neither 'M' nor a modality"):
        TorchModel(net, encoders=ENCODERS, heads={"M": "fc", "c": "head_a"})
    with pytest.raises(ValueError, match=r"heads\['M'\]='enc_a' is a Sequential; name the head's last nn.Linear"):
        TorchModel(net, encoders=ENCODERS, heads={"M": "enc_a"})
    with pytest.raises(TypeError, match="torch.nn.Module"):
        TorchModel(object(), encoders=ENCODERS, heads=HEADS)
    pool = data()
    wrong_width = TorchModel(Net(width=4), encoders=ENCODERS, heads=HEADS)
    with pytest.raises(ValueError, match=r"heads\['M'\]='fc' outputs shape \(\d+, 4\), but the task needs \[batch, 3\]"):
        wrong_width.predict_proba(pool)
    idle = TorchModel(net, encoders={"a": "enc_a", "b": "enc_b"}, heads={"M": "fc", "a": "head_a"},
                      forward=lambda n, batch: n.fc(torch.zeros(len(batch["a"][0]), 12)))
    with pytest.raises(ValueError, match="did not run in the forward pass"):
        idle.embed(pool)
    twice = TorchModel(net, encoders=ENCODERS, heads=HEADS, forward=lambda n, batch: (n(batch["a"][0], batch["b"][0]),
                                                                                      n.fc(torch.zeros(1, 12))))
    with pytest.raises(RuntimeError, match="ran twice"):
        twice.embed(pool)
    one = mmal.Pool({"a": pool.modalities["a"]}, pool.task, labels=pool.labels)
    _, model = wrapped()
    with pytest.raises(mmal.PoolError, match=r"reads modalities \['b'\], which the pool lacks"):
        model.embed(one)
    with pytest.raises(ValueError, match="layer 'enc:c' is not one of the model's layers"):
        model.grad_embed(pool, layer="enc:c")
    with pytest.raises(ValueError, match="head 'T' is not one of the model's heads"):
        model.grad_embed(pool, head="T")
    # an encoder without a linear layer: embeddings work, GRACE's gradient layer is missing and says so
    flat = TorchModel(nn.Sequential(nn.Identity(), nn.Linear(5, 3)), encoders={"a": "0"}, heads={"M": "1"})
    only_a = mmal.Pool({"a": pool.modalities["a"]}, pool.task, labels=pool.labels)
    assert flat.embed(only_a)["a"].shape == (pool.n, 5) and flat.grad_layers() == ["head:M"]
    with pytest.raises(ValueError, match="head 'a' is not one of the model's heads"):
        flat.grad_embed(only_a, head="a", layer="enc:a")
    fitted = wrapped()[1].fit(pool, seed=0)
    with pytest.raises(mmal.PoolError, match="dim"):
        fitted.embed(mmal.Pool({"a": np.zeros((3, 6)), "b": np.zeros((3, 4))}, pool.task))
