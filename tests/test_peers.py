"""benchmarks/peers.py at tiny sizes: mmal and each peer return the same picks / scores on the same inputs.

No timings are asserted. The peer packages come with the ``bench`` extra; a missing one skips its
test with the reason printed."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import peers  # noqa: E402

P, H = peers.badge_inputs(300, 5, 16, seed=0)
X, LAB = peers.kcenter_inputs(400, 16, 20, seed=0)
S = peers.mc_samples(300, 5, 4, seed=0)


def need(module: str):
    pytest.importorskip(module, reason=f"{module} is not installed (pip install 'multimodal-al[bench]')")


def test_jordanash_style_badge_equals_mmal_for_one_seed():
    assert np.array_equal(peers.ash_badge(P, H, 30, np.random.default_rng(1)),
                          peers.mmal_badge(P, H, 30, np.random.default_rng(1)))


def test_skactiveml_badge_is_kmeanspp_with_the_origin_as_a_center():
    """scikit-activeml keeps ``||g||^2`` (the first step's D^2) in its running minimum, i.e. the
    origin acts as a center: its picks equal that variant drawn from the same uniforms, and its
    first pick (largest norm) equals mmal's."""
    need("skactiveml")
    from sklearn.metrics import pairwise_distances

    got = np.asarray(peers.skactiveml_badge(P, H, 30, 3))
    emb = (peers.badge_delta(P).astype(np.float64)[:, :, None] * H[:, None, :]).reshape(len(P), -1)
    rng, d2 = peers.skactiveml_stream(3, len(P)), (emb**2).sum(1)
    want = [int(np.argmax(d2))]
    while len(want) < 30:
        d2 = np.minimum(d2, pairwise_distances(emb, emb[want[-1:]]).ravel() ** 2)
        cum = np.cumsum(d2)
        want.append(int(np.searchsorted(cum, rng.random() * cum[-1], side="right")))
    assert got.tolist() == want
    assert got[0] == peers.mmal_badge(P, H, 1, np.random.default_rng(0))[0]


def test_kcenter_peers_equal_mmal():
    mine = peers.mmal_kcenter(X, LAB, 30)
    assert np.array_equal(peers.google_kcenter(X, LAB, 30), mine)
    need("skactiveml")
    assert np.array_equal(peers.skactiveml_coreset(X, LAB, 30, 0), mine)


def test_baal_bald_equals_mmal_and_float32_picks_are_exact():
    need("baal")
    assert np.array_equal(peers.baal_bald(S, 40), peers.mmal_bald(S, 40))
    assert np.array_equal(peers.baal_bald(S.astype(np.float64), 40), peers.mmal_bald(S, 40))


def test_bald_float32_rescoring_decides_near_ties_as_float64():
    """Rows whose MI differs by less than float32 resolution: the float32 path must order them as float64."""
    import mmal
    from scipy.special import xlogy

    s = peers.mc_samples(2000, 6, 5, seed=4)
    s[1000:1100] = s[0]  # exact ties with row 0 ...
    s[1100:1200] = s[0] * (1 - 1e-7) + (1e-7 / 6)  # ... and near-ties below float32 resolution
    q = s.astype(np.float64)
    ref = -xlogy(q.mean(2), q.mean(2)).sum(1) + xlogy(q, q).sum(1).mean(1)
    for k in (1, 50, 150, 400):
        assert mmal.arrays.bald(s, k).positions.tolist() == np.argsort(-ref, kind="stable")[:k].tolist()
    got = mmal.arrays.mutual_information(s)
    assert np.abs(got - ref).max() <= mmal.arrays._uncertainty.mi_error_bound(s)


@pytest.mark.parametrize("kind", ["entropy", "margin", "least_confidence"])
def test_modal_uncertainty_equals_mmal(kind):
    need("modAL")
    p = peers.softmax32(np.random.default_rng(0).normal(0, 2, (300, 5)).astype(np.float32))
    assert set(peers.modal_uncertainty(kind)(p, 25).tolist()) == set(peers.mmal_uncertainty(kind)(p, 25).tolist())


def test_distance_sums_equal_sklearn():
    g = peers.grad_blocks(200, [(3, 8), (2, 4)], seed=0)
    np.testing.assert_allclose(peers.mmal_distsum(g), peers.sklearn_distsum(g), rtol=1e-5)


def test_tiny_suite_runs_and_writes_a_markdown_table(tmp_path):
    """Every tiny case runs with its peers (or says why not), with floors and load beside each row."""
    need("skactiveml")
    need("baal")
    need("modAL")
    args = type("A", (), dict(size="tiny", cases="", reps=1, peer_cap=30.0, mem_gb=3.0, write_results=False,
                              peers_out=str(tmp_path / "p.json")))
    rows = peers.run_suite(args)
    assert len(rows) == 9 and all(r["floor_s"] > 0 and r["mmal_s"] > 0 and r["load_1min"] >= 0 for r in rows)
    assert all(r["peer_s"] > 0 for r in rows)
    doc = tmp_path / "R.md"
    doc.write_text("# x\n")
    peers.write_results(peers.markdown(rows, dict(when="now", cpus=2, torch="t", threads=1, reps=1, load_start=1.0,
                                                  load_end=1.0, wall_s=1.0)), doc)
    peers.write_results("again", doc)  # replaces the block, does not append a second one
    text = doc.read_text()
    assert text.count(peers.BEGIN) == 1 and "again" in text and "scikit-activeml" not in text


def test_a_peer_over_the_memory_limit_is_reported_and_rerun_smaller():
    case = peers.badge_case("t", 2000, 50, 64, 20, 0, mem_gb=0.05)
    assert case.fallback is not None and case.fallback.size.startswith("N=")
    n_fb = int(case.fallback.size.split()[0][2:].replace(",", ""))
    assert 0 < n_fb < 2000 and 3 * n_fb * 50 * 64 * 8 <= 0.05 * 2**30
