"""The core enforces the Selection contract and names the plugin that breaks it."""

import numpy as np
import pytest

import mmal
from mmal import CapabilityError, ContractError, PoolError, Selection, Strategy
from mmal.plugins import Plugins, Registry
from mmal.testing import check_strategy


class Broken(Strategy):
    needs_model = False
    mode = ""

    def query(self, model, pool, budget, *, rng, round):
        unl = pool.unlabeled_positions()
        if self.mode == "duplicates":
            return Selection(np.repeat(unl[:1], budget))
        if self.mode == "out-of-range":
            return Selection(np.r_[unl[: budget - 1], pool.n + 3])
        if self.mode == "wrong-count":
            return Selection(unl[: budget + 1])
        if self.mode == "labeled":
            return Selection(np.r_[pool.labeled_positions()[:1], unl[: budget - 1]])
        if self.mode == "global-rng":
            return Selection(np.random.choice(unl, size=budget, replace=False))
        if self.mode == "unsorted-scores":
            return Selection(unl[:budget], np.arange(budget, dtype=float))
        raise AssertionError(self.mode)


def registry_with(mode):
    plugins = Plugins(autoload=False)

    class P:
        @staticmethod
        @mmal.hookimpl
        def register_strategies(register):
            register(f"broken-{mode}", type(f"B_{mode}", (Broken,), {"mode": mode}))

    plugins.register(P, name="brokenplugin")
    return Registry("strategy", plugins)


@pytest.mark.parametrize("mode", ["duplicates", "out-of-range", "wrong-count", "labeled", "global-rng", "unsorted-scores"])
def test_kit_fails_broken_strategies_naming_the_plugin(mode):
    reg = registry_with(mode)
    with pytest.raises(ContractError, match=f"strategy 'broken-{mode}' \\(plugin 'brokenplugin'\\)"):
        check_strategy(f"broken-{mode}", registry=reg)


def test_kit_passes_random():
    check_strategy("random")


def toy_pool(n_labeled=5):
    ds = mmal.datasets.get("toy", size=30, seed=0)
    ids = ds.train.ids[:n_labeled]
    ds.train.label(ids, ds.oracle(ids))
    return ds.train


def test_budget_rules():
    pool = toy_pool()
    r = mmal.strategies.get("random")
    rng = mmal.derive_rng(0, 1, "random")
    for bad in (0, -3, 2.5, True):
        with pytest.raises(PoolError, match="budget must be a positive int"):
            r.select(None, pool, bad, rng=rng)
    with pytest.warns(UserWarning, match="larger than the 25 unlabeled"):
        assert len(r.select(None, pool, 100, rng=rng).positions) == 25
    full = pool.take(np.arange(pool.n))
    rest = full.unlabeled_positions()
    full.label(full.ids[rest], np.zeros(rest.size))
    with pytest.raises(PoolError, match="no unlabeled samples"):
        r.select(None, full, 1, rng=rng)
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        r.select(None, pool, 1, rng=0)


def test_missing_capability_and_task_are_named():
    class NeedsGrad(Strategy):
        requires = frozenset({"grad_embed"})
        tasks = frozenset({"classification"})

        def query(self, model, pool, budget, *, rng, round):
            raise AssertionError("must not run")

    pool = toy_pool()
    model = mmal.task_models.get("linear").fit(pool)
    with pytest.raises(CapabilityError, match="requires the model capabilities \\['grad_embed'\\].*LinearModel"):
        NeedsGrad().select(model, pool, 2, rng=np.random.default_rng(0))
    reg_pool = mmal.datasets.get("toy", size=30, seed=0, task="regression").train
    reg_pool.label(reg_pool.ids[:3], np.zeros(3))
    with pytest.raises(CapabilityError, match="supports \\['classification'\\].*'regression'"):
        NeedsGrad().select(model, reg_pool, 2, rng=np.random.default_rng(0))
    with pytest.raises(CapabilityError, match="needs a trained task model"):
        NeedsGrad().select(None, pool, 2, rng=np.random.default_rng(0))


def test_rng_streams_are_stable_and_distinct():
    a = mmal.derive_rng(3, 2, "grace").integers(0, 1 << 30, 4)
    assert a.tolist() == mmal.derive_rng(3, 2, "grace").integers(0, 1 << 30, 4).tolist()
    assert a.tolist() != mmal.derive_rng(3, 2, "badge").integers(0, 1 << 30, 4).tolist()
    assert a.tolist() != mmal.derive_rng(3, 3, "grace").integers(0, 1 << 30, 4).tolist()


def test_pytest_fixtures_expose_the_kit(mmal_check_strategy, mmal_toy_dataset):
    mmal_check_strategy("random", dataset=mmal_toy_dataset)
    with pytest.raises(ContractError, match="broken-duplicates"):
        mmal_check_strategy("broken-duplicates", registry=registry_with("duplicates"))
