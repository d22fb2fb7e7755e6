"""pytest plugin (auto-registered through the ``pytest11`` entry point): the conformance kit as fixtures.

In a plugin package's tests::

    def test_my_strategy_conforms(mmal_check_strategy):
        mmal_check_strategy(MyStrategy)

    def test_on_toy_data(mmal_toy_dataset):
        assert mmal_toy_dataset.train.n_unlabeled > 0
"""

from __future__ import annotations

import pytest


@pytest.fixture
def mmal_check_strategy():
    """:func:`mmal.testing.check_strategy`: raises naming the plugin when the contract is broken."""
    from .testing import check_strategy

    return check_strategy


@pytest.fixture(params=["classification", "regression"])
def mmal_toy_dataset(request):
    """A small toy Dataset, once per task kind."""
    from .data.toy import make_toy

    return make_toy(36, seed=0, task=request.param)
