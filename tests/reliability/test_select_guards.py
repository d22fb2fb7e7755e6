"""Issue 19: ``Strategy.select`` itself (not only the conformance kit) catches a query that edits
the pool or draws from global random state, and names the plugin."""

import random
import warnings

import numpy as np
import pytest

import mmal
from mmal import ContractError, Selection, Strategy
from mmal.errors import GlobalRandomStateWarning
from mmal.strategy import set_global_rng_policy
from reliability_fakes import LinearNet, random_pool


class Cheater(Strategy):
    """Returns valid picks but edits the pool on the way (``mode``)."""

    needs_model = False
    name, plugin = "cheater", "cheatplugin"
    mode = ""

    def query(self, model, pool, budget, *, rng, round):
        unl = pool.unlabeled_positions()
        if self.mode == "label":  # marks a sample labeled with a made-up label
            pool.labels["M"][unl[-1]] = 0
            pool.labeled[unl[-1]] = True
        elif self.mode == "relabel":
            pool.labels["M"][pool.labeled_positions()[0]] += 1
        elif self.mode == "features":
            pool.modalities["m0"] = pool.modalities["m0"] * 2
        elif self.mode == "ids":
            pool.ids[0] = "forged"
        elif self.mode == "numpy":
            return Selection(np.random.permutation(unl)[:budget])
        elif self.mode == "python":
            return Selection(np.array(random.sample(sorted(unl.tolist()), budget)))
        elif self.mode == "torch":
            import torch

            return Selection(unl[torch.randperm(unl.size)[:budget].numpy()])
        return Selection(unl[:budget])


def cheat(mode):
    return type(f"Cheater_{mode}", (Cheater,), {"mode": mode})()


@pytest.mark.parametrize("mode, what", [
    ("label", r"the labeled mask \(positions \[\d+\]\), labels\['M'\]"),
    ("relabel", r"labels\['M'\]"),
    ("features", "the modality arrays"),
    ("ids", "ids"),
])
def test_a_query_that_edits_the_pool_is_refused_and_the_pool_restored(mode, what):
    pool = random_pool(0, n=12, n_labeled=4)
    mask, labels, ids, m0 = pool.labeled.copy(), pool.labels["M"].copy(), pool.ids.copy(), pool.modalities["m0"]
    with pytest.raises(ContractError, match=f"strategy 'cheater' \\(plugin 'cheatplugin'\\) changed the pool inside query \\({what}"):
        cheat(mode).select(None, pool, 2, rng=np.random.default_rng(0))
    assert np.array_equal(pool.labeled, mask) and np.array_equal(pool.labels["M"], labels, equal_nan=True)
    assert np.array_equal(pool.ids, ids) and pool.modalities["m0"] is m0


def test_an_honest_query_passes_the_guards():
    pool = random_pool(0, n=12, n_labeled=4)
    assert cheat("").select(None, pool, 3, rng=np.random.default_rng(0)).positions.tolist() == pool.unlabeled_positions()[:3].tolist()


@pytest.mark.parametrize("mode, generator", [("numpy", "numpy.random"), ("python", "'random'"), ("torch", "torch")])
def test_global_random_state_is_an_error_by_default(mode, generator, monkeypatch):
    monkeypatch.delenv("MMAL_GLOBAL_RNG", raising=False)
    pool = random_pool(0, n=12, n_labeled=4)
    with pytest.raises(ContractError, match=f"strategy 'cheater' \\(plugin 'cheatplugin'\\) drew from the global random state of \\[.*{generator}"):
        cheat(mode).select(None, pool, 2, rng=np.random.default_rng(0))


def test_the_global_rng_policy_warn_and_ignore(monkeypatch):
    pool = random_pool(0, n=12, n_labeled=4)
    monkeypatch.setenv("MMAL_GLOBAL_RNG", "warn")
    with pytest.warns(GlobalRandomStateWarning, match="drew from the global random state"):
        picked = cheat("numpy").select(None, pool, 2, rng=np.random.default_rng(0))
    assert len(picked.positions) == 2
    monkeypatch.setenv("MMAL_GLOBAL_RNG", "error")
    old = set_global_rng_policy("ignore")  # the Python setting wins over the environment
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            cheat("numpy").select(None, pool, 2, rng=np.random.default_rng(0))
    finally:
        set_global_rng_policy(old)
    monkeypatch.setenv("MMAL_GLOBAL_RNG", "sometimes")
    with pytest.raises(mmal.PoolError, match="MMAL_GLOBAL_RNG='sometimes'; use one of"):
        cheat("").select(None, pool, 2, rng=np.random.default_rng(0))


def test_a_model_that_uses_global_state_is_named_too():
    class NoisyNet(LinearNet):
        def embed(self, pool, positions=None):
            np.random.rand()
            return super().embed(pool, positions)

    pool = random_pool(0, n=12, n_labeled=4)
    with pytest.raises(ContractError, match=r"strategy 'coreset' .*\(or the task model NoisyNet it called\) drew"):
        mmal.strategies.get("coreset").select(NoisyNet().fit(pool), pool, 2, rng=np.random.default_rng(0))


def test_a_bench_cell_whose_strategy_edits_the_pool_fails_naming_it(tmp_path):
    from mmal.bench import BenchConfig, read_rows, run_bench
    from mmal.plugins import Plugins, reset

    class P:
        @staticmethod
        @mmal.hookimpl
        def register_strategies(register):
            register("cheater", type("C", (Cheater,), {"mode": "label"}), tasks="regression,classification")

    plugins = Plugins()
    plugins.register(P, name="cheatplugin")
    old = mmal.plugins.default()
    reset(plugins)
    try:
        cfg = BenchConfig(strategies=["random", "cheater"], dataset="toy", size=40, rounds=1, init=6, budget=3)
        result = run_bench(cfg, tmp_path / "run", progress="none", report=False)
    finally:
        reset(old)
    assert result.failed == ["toy/cheater/0"]
    failed = [r for r in read_rows(tmp_path / "run" / "results.jsonl") if r["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["round"] == 1 and "changed the pool inside query" in failed[0]["error"]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_round_must_be_a_positive_int(bad):
    pool = random_pool(0, n=12, n_labeled=4)
    with pytest.raises(mmal.PoolError, match="round must be an int >= 1"):
        cheat("").select(None, pool, 2, rng=np.random.default_rng(0), round=bad)


def test_a_first_modal_query_in_a_fresh_process_passes_the_global_rng_guard():
    """modAL's import chain (scikit-learn -> rich) draws from Python's `random` once; the modal
    strategies import modAL in check(), before select fingerprints the global state, so the
    first query of a process (a bench worker's first modal cell) is not refused for it."""
    import subprocess
    import sys

    code = ("import sys, mmal\n"
            "from reliability.reliability_fakes import LinearNet, random_pool\n"
            "pool = random_pool(3, n=30, n_labeled=8)\n"
            "model = LinearNet().fit(pool)\n"
            "assert 'modAL' not in sys.modules\n"
            "for name in ('modal-margin', 'modal-entropy'):\n"
            "    print(name, mmal.strategies.get(name).select(model, pool, 3, rng=mmal.derive_rng(0, 1, name)).positions)\n")
    tests = str(__import__("pathlib").Path(__file__).resolve().parents[1])
    out = subprocess.run([sys.executable, "-c", code], cwd=tests, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.count("modal-") == 2
