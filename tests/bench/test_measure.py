"""Modality contribution (BMMAL Eqs. 10-12) and the split of metrics by head."""

import numpy as np
import pytest

from mmal.bench.measure import modality_contributions, selection_contributions, split_metrics
from mmal.pool import Pool, Task


class AdditiveModel:
    """Fused outcome = sum of the present modalities' weights (so phi_k = w_k exactly)."""

    capabilities = frozenset({"predict_masked"})

    def __init__(self, weights, n_classes=None):
        self.w, self.c = weights, n_classes

    def predict_masked(self, pool, positions=None, *, absent=frozenset()):
        v = sum(w for m, w in self.w.items() if m not in absent)
        out = np.full((pool.n, self.c or 1), 0.0)
        if self.c:  # the true class's column carries the outcome
            out[np.arange(pool.n), pool.labels["M"].astype(int)] = v
        else:
            out[:, 0] = v
        return out


@pytest.mark.parametrize("task", [Task("classification", n_classes=3), Task("regression")])
def test_test_set_contribution_of_an_additive_model(task):
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 6).astype(float)
    pool = Pool({"t": rng.normal(size=(6, 2)), "a": rng.normal(size=(6, 2)), "v": rng.normal(size=(6, 2))}, task, labels={"M": y})
    model = AdditiveModel({"t": 3.0, "a": -1.0, "v": 0.0}, task.n_classes)
    assert modality_contributions(model, pool) == pytest.approx({"t": 0.75, "a": 0.25, "v": 0.0})
    assert modality_contributions(object(), pool) is None


def test_metrics_split_by_head_only_for_known_heads():
    fused, per_head = split_metrics({"acc": 0.5, "f1/happy": 0.4, "audio/acc": 0.3, "audio/f1/happy": 0.2, "T/mae": 0.1},
                                    heads={"M", "audio", "T"})
    assert fused == {"acc": 0.5, "f1/happy": 0.4}
    assert per_head == {"audio": {"acc": 0.3, "f1/happy": 0.2}, "T": {"mae": 0.1}}


def test_selection_contributions_average_what_the_strategy_reported():
    assert selection_contributions({"contributions": {"a": [0.2, 0.4], "b": np.array([0.8, 0.6])}}) == pytest.approx({"a": 0.3, "b": 0.7})
    assert selection_contributions({"contributions": {"a": 0.25}}) == {"a": 0.25}
    assert selection_contributions({"contribution_selected": {"audio": 0.7, "video": 0.3}}) == {"audio": 0.7, "video": 0.3}
    assert selection_contributions({}) is None and selection_contributions({"contributions": [1, 2]}) is None
