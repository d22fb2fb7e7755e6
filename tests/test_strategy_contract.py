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


# ------------------------------------------------------------------ every check of validate_selection
def contract_pool():
    """10 samples, positions 0, 1, 2 labeled."""
    return mmal.Pool({"a": np.arange(20, dtype=np.float32).reshape(10, 2)}, mmal.Task("classification", n_classes=2),
                     labels={"M": [0, 1, 0] + [np.nan] * 7})


@pytest.mark.parametrize("selection, k, message", [
    ([3, 4], 2, "returned list, not a mmal.Selection"),
    (Selection(np.array([[3, 4]])), 2, r"returned positions of shape \(1, 2\) and dtype int64; need a 1-D integer array"),
    (Selection(np.array([3.0, 4.0])), 2, r"returned positions of shape \(2,\) and dtype float64; need a 1-D integer array"),
    (Selection(np.array([True, False])), 2, r"returned positions of shape \(2,\) and dtype bool; need a 1-D integer array"),
    (Selection(np.array([3, 4, 5])), 2, r"returned 3 positions; the contract asks for exactly 2"),
    (Selection(np.array([3, 10])), 2, r"returned positions out of range 0\.\.9: \[10\]"),
    (Selection(np.array([-1, 3])), 2, r"returned positions out of range 0\.\.9: \[-1\]"),
    (Selection(np.array([4, 4])), 2, r"returned duplicate positions: \[4\]"),
    (Selection(np.array([1, 4])), 2, r"returned already labeled positions: \[1\]"),
    (Selection(np.array([3, 4]), np.array([1.0])), 2, r"returned scores of shape \(1,\) for 2 positions"),
    (Selection(np.array([3, 4]), np.array([1.0, np.nan])), 2, "returned NaN or inf scores"),
    (Selection(np.array([3, 4]), np.array([np.inf, 1.0])), 2, "returned NaN or inf scores"),
    (Selection(np.array([3, 4]), np.array([1.0, 2.0])), 2, r"returned scores that are not best first \(non-increasing\)"),
])
def test_each_contract_check_has_its_own_error(selection, k, message):
    """Each case breaks exactly one rule, and the match is that rule's own message: removing any
    one check of validate_selection makes its case pass silently, so this test fails."""
    from mmal.strategy import validate_selection

    with pytest.raises(ContractError, match=f"^strategy 'x' {message}"):
        validate_selection(selection, contract_pool(), k, "strategy 'x'")


def test_a_valid_selection_passes_and_is_normalized():
    from mmal.strategy import validate_selection

    sel = Selection([5, 3], np.array([2.0, 2.0]))
    validate_selection(sel, contract_pool(), 2, "strategy 'x'")
    assert sel.positions.dtype == np.int64 and sel.positions.tolist() == [5, 3]
    empty = Selection(np.array([], dtype=float))
    validate_selection(empty, contract_pool(), 0, "strategy 'x'")
    assert empty.positions.dtype == np.int64
