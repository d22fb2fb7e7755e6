"""LFMIM (Sun et al. 2023; GRACE supplement App. E): chunk means, the layer-wise wiring against a
per-sample reference, padding and masking, the capability contract, and the Table 2 protocol."""

import os

import numpy as np
import pytest
import torch

import mmal
from mmal.nn.lfmim import LFMIM, chunk_mean
from mmal.nn.toy import as_dataset, sims_like_pool, vector_pool
from mmal.nn.training import load_batch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
KW = dict(epochs=2, feature_dim=8, hidden=8, d_model=16, heads=2, batch_size=16, device="cpu")
MODS = ("text", "audio", "vision")


def slow_chunk_mean(x, n, K):
    """Chunk means by explicit loops: ``n > K`` valid steps split into ``K`` contiguous chunks."""
    if n <= K:
        return x[:n]
    return torch.stack([torch.stack([x[j] for j in range(n) if (j * K) // n == c]).mean(0) for c in range(K)])


def test_chunk_mean_matches_loops_and_ignores_padding():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 11, 3, generator=g, dtype=torch.float64)
    lengths = torch.tensor([11, 4, 7, 1, 10])
    x[torch.arange(11)[None, :] >= lengths[:, None]] = 1e6  # padding is never read
    got, n = chunk_mean(x, lengths, 4)
    assert n.tolist() == [4, 4, 4, 1, 4] and got.shape == (5, 4, 3)
    for b in range(5):
        want = slow_chunk_mean(x[b], int(lengths[b]), 4)
        torch.testing.assert_close(got[b, : len(want)], want, rtol=1e-12, atol=1e-12)
    same, n2 = chunk_mean(x, lengths, 11)  # no sequence longer than max_len: unchanged
    assert same is x and n2.tolist() == lengths.tolist()


def reference_forward(net, batch, b, absent=()):
    """LFMIM for sample ``b`` alone, from the paper's description: only its valid steps, no masks; an
    absent modality is left out of the multimodal stream and its feature is zero."""
    toks = []
    for m, inp in zip(net.modalities, net.inputs):
        x, lengths = batch[m]
        n = int(lengths[b]) if lengths is not None else 1
        steps = x[b : b + 1] if x.dim() == 2 else x[b, :n]
        steps = slow_chunk_mean(inp.norm(steps), len(steps), inp.max_len)
        toks.append(inp.prep(torch.cat([inp.token[None], inp.proj(steps)])[None]))
    keep = [k for k, m in enumerate(net.modalities) if m not in absent]
    all_valid = lambda t: torch.ones(t.shape[:2], dtype=torch.bool)
    stream = net.fusion_prep(net.fusion_init[None])
    for i in range(net.layers):  # multimodal layer i reads [fusion tokens, segment_k ...]
        parts, start = [stream[:, : net.n_fusion]], net.n_fusion
        for k in keep:
            if i == 0:
                parts.append(toks[k])
            else:  # a_k * its own segment + b_k * unimodal layer i-1's output
                seg = stream[:, start : start + toks[k].shape[1]]
                parts.append(net.mix[k, 0] * seg + net.mix[k, 1] * toks[k])
            start += toks[k].shape[1]
        stream = torch.cat(parts, 1)
        for k in range(len(toks)):
            d = net.depth[k]
            for block in net.unimodal[k][i * d : (i + 1) * d]:
                toks[k] = block(toks[k], all_valid(toks[k]))
        stream = net.multimodal[i](stream, all_valid(stream))
    feats = [net.outs[k](net.ln_post[k](t).mean(1)) for k, t in enumerate(toks)]
    feats = [torch.zeros_like(f) if m in absent else f for m, f in zip(net.modalities, feats)]
    f_mm = net.mm_out(net.ln_post[-1](stream).mean(1))
    h = torch.relu(net.fuse(torch.cat(feats, 1)) + net.fuse_mm(f_mm))
    heads = {"M": net.out(h), **{hd: net.unimodal_heads[k](feats[k]) for k, hd in enumerate(net.heads)}}
    return heads, feats


@pytest.mark.parametrize("absent", [(), ("audio",)])
def test_batched_forward_equals_per_sample_reference(absent):
    pool = sims_like_pool(12, n_labeled=12, seed=4, audio_shape=(13, 5))
    model = LFMIM(**{**KW, "layers": 3, "max_len": 5, "blocks_per_layer": {"vision": 2}}).fit(pool, seed=0)
    net = model.net_.eval()
    with torch.no_grad():
        net.mix.copy_(torch.tensor([[0.5, 1.5], [-0.7, 0.9], [1.2, 0.3]]))  # wiring visible in the output
        batch = load_batch(pool, model.specs_, np.arange(pool.n), model.device_)
        out = net(batch, absent=frozenset(absent))
        for b in range(pool.n):
            heads, feats = reference_forward(net, batch, b, absent)
            for h, v in heads.items():
                torch.testing.assert_close(out.heads[h][b], v[0], rtol=1e-4, atol=1e-5)
            for k, m in enumerate(MODS):
                torch.testing.assert_close(out.features[m][b], feats[k][0], rtol=1e-4, atol=1e-5)
    assert pool.lengths["audio"].max() > 5  # chunk means ran


def test_modality_independence_and_padding():
    """A unimodal head reads its own modality only; padding values change nothing."""
    pool = sims_like_pool(20, n_labeled=20, seed=5)
    model = LFMIM(**KW).fit(pool, seed=0)
    before = model.predict(pool)
    other = pool.take(np.arange(pool.n))
    other.modalities["audio"][:] = np.random.default_rng(0).normal(size=other.modalities["audio"].shape)
    after = model.predict(other)
    np.testing.assert_allclose(after["T"], before["T"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(after["V"], before["V"], rtol=1e-5, atol=1e-6)
    assert not np.allclose(after["A"], before["A"]) and not np.allclose(after["M"], before["M"])
    padded = pool.take(np.arange(pool.n))
    for name, arr in padded.modalities.items():
        arr[np.arange(arr.shape[1])[None, :] >= padded.lengths[name][:, None]] = 123.0
    for h, v in model.predict(padded).items():
        np.testing.assert_allclose(v, before[h], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["regression", "classification"])
def test_fit_predict_and_capabilities(kind):
    pool = sims_like_pool(40, kind=kind, n_labeled=20)
    state = np.random.get_state()[1].copy(), torch.random.get_rng_state().clone()
    model = mmal.task_models.get("lfmim", **KW).fit(pool, seed=0)
    assert np.array_equal(state[0], np.random.get_state()[1]) and torch.equal(state[1], torch.random.get_rng_state())
    assert model.history_[-1] < model.history_[0]
    pred = model.predict(pool)
    assert set(pred) == {"M", "T", "A", "V"} and pred["M"].shape == (40,)
    assert np.array_equal(pred["M"], mmal.task_models.get("lfmim", **KW).fit(pool, seed=0).predict(pool)["M"])
    assert not np.array_equal(pred["M"], mmal.task_models.get("lfmim", **KW).fit(pool, seed=1).predict(pool)["M"])
    assert model.grad_layers() == ["enc:text", "enc:audio", "enc:vision", "fuse:M", "head:M", "head:T", "head:A", "head:V"]
    full = model.predict_masked(pool)
    ref = model.predict_proba(pool)["M"] if kind == "classification" else pred["M"][:, None]
    np.testing.assert_allclose(full, ref, rtol=1e-5, atol=1e-6)
    assert not np.allclose(model.predict_masked(pool, absent=["text"]), full)
    emb = model.embed(pool, [0, 1, 2])
    assert {k: v.shape for k, v in emb.items()} == {"text": (3, 8), "audio": (3, 8), "vision": (3, 8), "fused": (3, 32)}
    assert model.embed(pool, [])["audio"].shape == (0, 8)
    a = model.predict_proba_samples(pool, [0, 1], T=4, seed=3)
    assert a.shape[-1] == 4 and not np.allclose(a[..., 0], a[..., 1])
    np.testing.assert_array_equal(a, model.predict_proba_samples(pool, [0, 1], T=4, seed=3))


def test_grad_embed_equals_per_sample_autograd():
    """The factored (delta, h) of enc:<m>, fuse:M and head:<h> against one backward per sample."""
    pool = sims_like_pool(10, kind="regression", n_labeled=10, seed=6)
    model = LFMIM(**KW).fit(pool, seed=0)
    y = np.linspace(-1, 1, pool.n)
    pairs = [("T", "enc:text"), ("M", "enc:text"), ("A", "enc:audio"), ("M", "fuse:M"), ("V", "head:V")]
    got = model.grad_embed_many(pool, pairs=pairs, pseudo={h: y for h in ("M", "T", "A", "V")})
    net, layers = model.net_.eval(), model.net_.grad_layers()
    for b in range(pool.n):
        batch = load_batch(pool, model.specs_, np.array([b]), model.device_)
        out = net(batch)
        for head, layer in pairs:
            loss = (out.heads[head][0, 0] - float(y[b])).abs()
            (want,) = torch.autograd.grad(loss, layers[layer].weight, retain_graph=True)
            g = got[(head, layer)]
            np.testing.assert_allclose(np.outer(g.delta[b], g.h[b]), want.numpy(), rtol=1e-4, atol=1e-6)


def test_strategies_run_on_lfmim():
    """GRACE on regression; GRACE, BMMAL (fuse:M reads exactly embed()'s features) and BADGE on classification."""
    for kind, names in (("regression", ("grace",)), ("classification", ("grace", "bmmal", "badge"))):
        pool = sims_like_pool(40, kind=kind, n_labeled=20, seed=7)
        model = mmal.task_models.get("lfmim", **KW).fit(pool, seed=0)
        for s in names:
            sel = mmal.strategies.get(s).select(model, pool, 5, rng=np.random.default_rng(0))
            assert len(set(sel.positions)) == 5 and set(sel.positions) <= set(pool.unlabeled_positions())


def test_check_strategy_random_and_vector_modalities():
    from mmal.testing import check_strategy

    ds = as_dataset(sims_like_pool(40, n_labeled=40, seed=1), 28)
    check_strategy("random", dataset=ds, model_factory=lambda: mmal.task_models.get("lfmim", **KW))
    vec = vector_pool(30, kind="classification", n_classes=3, n_labeled=30, seed=2, dims=(4, 6))
    model = LFMIM(**KW).fit(vec, seed=0)
    assert model.predict_proba(vec)["M"].shape == (30, 3) and set(model.unimodal_heads) == {"m0", "m1"}


def test_listed_and_errors_name_the_problem():
    entry = mmal.task_models.entry("lfmim")
    assert set(str(entry.meta["capabilities"]).split(",")) == set(mmal.model.CAPABILITIES)
    assert entry.meta["tasks"] == "regression,classification"
    with pytest.raises(ValueError, match="divisible by heads"):
        LFMIM(d_model=30, heads=4)
    with pytest.raises(ValueError, match="encoders="):
        LFMIM(encoders={"audio": "lstm"})
    with pytest.raises(ValueError, match="layers must be >= 1"):
        LFMIM(layers=0)
    pool = sims_like_pool(12, n_labeled=12)
    with pytest.raises(ValueError, match="blocks_per_layer names modalities"):
        LFMIM(**KW, blocks_per_layer={"video": 2}).fit(pool)
    base = vector_pool(12, n_labeled=12, dims=(4,))
    ids = np.random.default_rng(0).integers(1, 9, (12, 5))
    tok = mmal.Pool({"m0": base.modalities["m0"], "text": ids}, base.task, labels=base.labels)
    with pytest.raises(ValueError, match="token ids"):
        LFMIM(**KW).fit(tok)


def test_table2_protocol_schedule_and_one_tiny_cell(tmp_path):
    """GRACE supplement Table 2: SIMSv2, simsv2_regression's AL schedule and strategies, model lfmim;
    one cell of it (tiny data and model) runs through the bench."""
    from mmal.bench import load_config, run_bench
    from mmal.bench.store import read_rows

    cfg = load_config(protocol="lfmim-simsv2")
    sims = load_config(protocol="simsv2-regression")
    for key in ("seeds", "init", "budget", "rounds", "full_data"):
        assert cfg[key] == sims[key], key
    assert [s["name"] for s in cfg["strategies"]] == [s["name"] for s in sims["strategies"]]
    d = cfg["datasets"][0]
    assert (d["name"], d["task_model"], d["args"]["view"]) == ("simsv2-synthetic", "lfmim", "sequence")
    assert cfg["report"]["label_count"] == 800 and cfg["report"]["metrics"] == ["mae", "acc2", "acc3", "acc5", "f1", "corr"]
    small = load_config(protocol="lfmim-simsv2", overrides=[
        "datasets.0.size=60", "seeds=[0]", "init=12", "budget=6", "rounds=1", "full_data=false",
        'strategies=[{name = "grace", args = {alpha = 1.0, alpha_decay = 0.1}}]',
        "datasets.0.model_args={d_model = 16, heads = 2, layers = 2, feature_dim = 8, hidden = 8, epochs = 1, max_len = 8}"])
    result = run_bench(small, tmp_path, progress="none", report=False)
    rows = read_rows(tmp_path / "results.jsonl")
    assert result.failed == [] and [r["n_labeled"] for r in rows] == [12, 18]
    assert all(r["task_model"] == "lfmim" and np.isfinite(r["metrics"]["mae"]) for r in rows)
    print("lfmim tiny cell:", {r["round"]: round(r["metrics"]["mae"], 3) for r in rows})
