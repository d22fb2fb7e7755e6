"""The NL-gate fusion classifier (mmal.nn.nlgate, BMMAL Fig. 7's model): the gate against the
non-local block's formula written out token by token, the capabilities (masking, MC dropout,
factored gradients against per-sample autograd), GRACE and BMMAL on it, and the VGGSound
protocol (one reduced cell run end to end)."""

import numpy as np
import pytest
import torch

import mmal
import mmal.bench
from mmal import CapabilityError, Pool, PoolError
from mmal.data import synthetic
from mmal.model import CAPABILITIES, model_capabilities
from mmal.nn.nlgate import NLGateClassifier, NonLocalGate
from mmal.nn.toy import vector_pool
from mmal.nn.training import load_batch
from mmal.testing import check_strategy

from test_grads import _assert_close, _one_thread, _per_sample_loop  # noqa: F401 (_one_thread: autouse fixture)

KW = dict(feature_dim=8, tokens=4, hidden=6, epochs=3, device="cpu")


@pytest.fixture(scope="module")
def fitted():
    pool = vector_pool(40, n_classes=4, n_labeled=20, seed=5, dims=(6, 5, 4))
    return NLGateClassifier(query="m1", infer_batch_size=16, **KW).fit(pool, seed=0), pool


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _lin(layer, x):
    return x @ layer.weight.detach().numpy().T + layer.bias.detach().numpy()


def gate_by_hand(gate: NonLocalGate, q: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Non-local block, token by token: y_i = x_i + h( sum_j softmax_j(θ(x_i) . φ(s_j)) g(s_j) ),
    s_j = [other_j ; mean_k q_k]."""
    out = np.empty_like(q)
    for b in range(q.shape[0]):
        s = np.concatenate([other[b], np.repeat(q[b].mean(0, keepdims=True), len(other[b]), 0)], 1)
        for i in range(q.shape[1]):
            a = _softmax(np.array([_lin(gate.theta, q[b, i]) @ _lin(gate.phi, s_j) for s_j in s]))
            out[b, i] = q[b, i] + _lin(gate.h, sum(a_j * _lin(gate.g, s_j) for a_j, s_j in zip(a, s)))
    return out


def fused_by_hand(model, feats: dict[str, np.ndarray]) -> np.ndarray:
    """z_mm = ReLU(P vec(gate(tokens(f_query), tokens(f_others)))) from the features f_m."""
    net, K = model.net_, model.tokens
    tok = lambda f: f.reshape(len(f), K, -1)  # noqa: E731
    other = np.concatenate([tok(feats[m]) for m in net.modalities if m != net.query], 1)
    y = gate_by_hand(net.gate, tok(feats[net.query]), other)
    return np.maximum(_lin(net.post, y.reshape(len(y), -1)), 0)


# ------------------------------------------------------------------- forward and heads
def test_gate_equals_the_non_local_formula():
    torch.manual_seed(0)
    gate = NonLocalGate(6)
    q = np.random.default_rng(1).normal(size=(3, 4, 6)).astype(np.float32)
    other = np.random.default_rng(2).normal(size=(3, 5, 6)).astype(np.float32)
    with torch.no_grad():
        got = gate(torch.tensor(q), torch.tensor(other)).numpy()
    np.testing.assert_allclose(got, gate_by_hand(gate, q, other), rtol=1e-5, atol=1e-5)
    assert np.abs(got - q).max() > 1e-2  # the gate adds something


def test_heads_layers_and_fused_feature_by_hand(fitted):
    model, pool = fitted
    assert model.unimodal_heads == {"m0": "m0", "m1": "m1", "m2": "m2"} and model.net_.query == "m1"
    assert model_capabilities(model) == CAPABILITIES
    assert model.grad_layers() == ["enc:m0", "enc:m1", "enc:m2", "head:M", "head:m0", "head:m1", "head:m2"]
    emb = model.embed(pool)
    assert {k: v.shape for k, v in emb.items()} == {"m0": (40, 8), "m1": (40, 8), "m2": (40, 8), "fused": (40, 8)}
    np.testing.assert_allclose(emb["fused"], fused_by_hand(model, emb), rtol=1e-4, atol=1e-5)
    proba = model.predict_proba(pool)
    np.testing.assert_allclose(proba["M"], _softmax(_lin(model.net_.mm, emb["fused"])), rtol=1e-4, atol=1e-6)
    for j, m in enumerate(("m0", "m1", "m2")):
        np.testing.assert_allclose(proba[m], _softmax(_lin(model.net_.unimodal[j], emb[m])), rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(model.predict(pool)["M"], proba["M"].argmax(1))


def test_masking_zeroes_the_absent_tokens(fitted):
    """predict_masked / embed(absent=) = the gate on features with the absent ones set to 0, by hand."""
    model, pool = fitted
    emb = model.embed(pool)
    np.testing.assert_allclose(model.embed(pool, absent=())["fused"], emb["fused"], rtol=1e-6)
    for absent in [{"m0"}, {"m1"}, {"m0", "m2"}, {"m0", "m1", "m2"}]:
        zeroed = {m: np.zeros_like(v) if m in absent else v for m, v in emb.items() if m != "fused"}
        want = fused_by_hand(model, zeroed)
        got = model.embed(pool, absent=absent)
        np.testing.assert_allclose(got["fused"], want, rtol=1e-4, atol=1e-5)
        for m in absent:
            assert not got[m].any()
        np.testing.assert_allclose(model.predict_masked(pool, absent=absent), _softmax(_lin(model.net_.mm, want)),
                                   rtol=1e-4, atol=1e-6)
        assert not np.allclose(got["fused"], emb["fused"], atol=1e-4)
    np.testing.assert_allclose(model.predict_masked(pool), model.predict_proba(pool)["M"], rtol=1e-6)
    with pytest.raises(PoolError, match="absent"):
        model.embed(pool, absent={"nope"})


def test_mc_dropout_seeded_and_varies(fitted):
    model, pool = fitted
    a = model.predict_proba_samples(pool, T=4, seed=3)
    assert a.shape == (40, 4, 4) and a.dtype == np.float32
    np.testing.assert_array_equal(a, model.predict_proba_samples(pool, T=4, seed=3))
    assert not np.allclose(a[..., 0], a[..., 1])
    np.testing.assert_allclose(a.sum(1), 1.0, rtol=1e-5)
    assert not model.net_.training


@pytest.mark.parametrize("bias", [False, True])
def test_factored_gradients_equal_per_sample_autograd(fitted, bias):
    """Every layer and head, through the gate (GRACE's g_{m_k} at enc:k, BADGE / BMMAL's head:M)."""
    model, pool = fitted
    pos = np.array([0, 3, 21, 22, 30, 35, 39])
    heads = ["M", *model.unimodal_heads.values()]
    pairs = [(h, l) for l in model.grad_layers() for h in heads]
    slow = _per_sample_loop(model, pool, pos, pairs, None, bias)
    for head, layer in pairs:
        _assert_close(model.grad_embed(pool, pos, head=head, layer=layer, bias=bias).explicit(), slow[(head, layer)])
    for m in model.unimodal_heads:  # the fused loss reaches every encoder through the gate
        assert (np.linalg.norm(slow[("M", f"enc:{m}")], axis=1) > 0).all()


def test_fit_is_seeded_and_learns():
    """The fused path is deeper than concat's (gate + post layer): 100 epochs here, where concat needs 30."""
    pool = vector_pool(120, n_classes=2, n_labeled=120, seed=8, dims=(4, 4))
    before = torch.random.get_rng_state().clone()
    a = NLGateClassifier(feature_dim=8, hidden=16, epochs=100, device="cpu").fit(pool, seed=0)
    assert torch.equal(before, torch.random.get_rng_state())
    b = NLGateClassifier(feature_dim=8, hidden=16, epochs=100, device="cpu").fit(pool, seed=0)
    np.testing.assert_array_equal(a.predict_proba(pool)["M"], b.predict_proba(pool)["M"])
    assert a.history_[-1] < 0.8 * a.history_[0]
    assert (a.predict(pool)["M"] == pool.labels["M"]).mean() > 0.85


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="tokens=3 must be a positive divisor of feature_dim=8"):
        NLGateClassifier(feature_dim=8, tokens=3)
    pool = vector_pool(30, n_classes=3, n_labeled=20, seed=1)
    with pytest.raises(ValueError, match="query='video' is not one of the pool's modalities"):
        NLGateClassifier(query="video", **KW).fit(pool)
    single = Pool({"m0": pool.modalities["m0"]}, pool.task, labels=pool.labels)
    with pytest.raises(ValueError, match="two or more modalities"):
        NLGateClassifier(**KW).fit(single)
    reg = vector_pool(30, kind="regression", n_labeled=20, seed=1)
    with pytest.raises(CapabilityError, match="classification"):
        NLGateClassifier(**KW).fit(reg)
    assert isinstance(mmal.task_models.get("nlgate", tokens=2), NLGateClassifier)
    assert mmal.task_models.entry("nlgate").meta["tasks"] == "classification"


# ------------------------------------------------------------------ strategies on it
@pytest.mark.parametrize("name", ["bmmal", "grace", "badge", "bald"])
def test_strategies_run_on_nlgate(name):
    from mmal.data.toy import make_toy

    ds = make_toy(24, seed=0, task="classification")
    check_strategy(name, dataset=ds, model_factory=lambda: NLGateClassifier(**KW))


# --------------------------------------------------------------------- VGGSound protocol
def test_vggsound_family_and_protocol_follow_the_paper():
    assert synthetic.split_sizes(synthetic.VGGSOUND, "full") == (180911, 0, 14843)  # BMMAL Sec. 4.1
    assert synthetic.split_sizes(synthetic.VGGSOUND, "small") == (18091, 0, 1484)
    ds = mmal.datasets.get("vggsound-synthetic", size="tiny", seed=0)
    assert {m: a.shape[1:] for m, a in ds.train.modalities.items()} == {"audio": (512,), "visual": (512,)}
    assert ds.train.task.n_classes == 309 and ds.info["dominant_modality"] == "audio"
    cfg = mmal.bench.load_config(protocol="vggsound")
    got = {d["label"]: (d["size"], d["task_model"], d["init"], d["budget"], d["rounds"], d["seeds"]) for d in cfg["datasets"]}
    assert got == {"vggsound-concat": ("full", "mm-classifier", 5000, 5000, 4, [0, 1, 2]),  # Table 1: 5k .. 25k
                   "vggsound-nlgate": ("full", "nlgate", 5000, 2000, 5, [0, 1, 2])}  # Fig. 7: 5,000 + 2,000 per round
    assert cfg["datasets"][1]["model_args"]["query"] == "visual"
    assert {s["name"] for s in cfg["strategies"]} == {"random", "badge", "bmmal"}
    for name in ("food101", "kineticssound", "bmmal-pairwise"):  # BMMAL Sec. 4.2: BALD with five MC-dropout passes
        bald = [s for s in mmal.bench.load_config(protocol=name)["strategies"] if s["name"] == "bald"]
        assert [s["args"] for s in bald] == [{"T": 5}], name


def test_one_reduced_vggsound_cell_runs(tmp_path, monkeypatch):
    """The NL-gate setting with BMMAL, at the tiny size, through the benchmark runner."""
    from mmal.bench import run_bench
    from mmal.bench.store import read_rows

    monkeypatch.setenv("MMAL_CACHE", str(tmp_path / "cache"))
    cfg = mmal.bench.load_config(protocol="vggsound", overrides=[
        'datasets.*.size="tiny"', "datasets.*.init=60", "datasets.*.budget=20", "datasets.*.rounds=1",
        "datasets.*.seeds=[0]", "datasets.*.model_args.epochs=2"])
    cfg["datasets"] = [d for d in cfg["datasets"] if d["label"] == "vggsound-nlgate"]
    cfg["strategies"] = [s for s in cfg["strategies"] if s["name"] == "bmmal"]
    result = run_bench(cfg, tmp_path / "run", progress="none", report=False)
    rows = read_rows(tmp_path / "run" / "results.jsonl")
    assert result.failed == [] and [(r["round"], r["n_labeled"]) for r in rows] == [(0, 60), (1, 80)]
    assert all(r["status"] == "ok" and r["task_model"] == "nlgate" for r in rows)
    assert all(0 <= r["metrics"]["acc"] <= 1 and {"audio", "visual"} <= set(r["modality_metrics"]) for r in rows)
    assert set(rows[1]["selection_contributions"]) == {"audio", "visual"}
    assert np.isclose(sum(rows[1]["contributions"].values()), 1.0)
