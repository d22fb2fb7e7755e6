"""Metrics against hand-computed cases at the bin edges and a direct copy of the community's loops."""

import numpy as np
import pytest

from mmal.metrics import (
    ACC2_EDGES, ACC3_EDGES, ACC5_EDGES, bin_labels, classification_metrics, evaluate, sims_regression_metrics,
)
from mmal.pool import Task

SIMS = Task("regression", ("M", "T", "A", "V"), label_range=(-1.0, 1.0), head_modality={"T": "text", "A": "audio", "V": "vision"})


def community_sims(y_pred, y_true):
    """The MMSA ``__eval_sims_regression`` steps, written out as loops (the reference)."""
    p = [min(1.0, max(-1.0, float(v))) for v in y_pred]
    t = [min(1.0, max(-1.0, float(v))) for v in y_true]

    def cls(v, edges):
        for i in range(len(edges) - 1):
            if edges[i] < v <= edges[i + 1]:
                return i
        raise AssertionError(v)

    out = {"mae": sum(abs(a - b) for a, b in zip(p, t)) / len(p)}
    mp, mt = sum(p) / len(p), sum(t) / len(t)
    cov = sum((a - mp) * (b - mt) for a, b in zip(p, t))
    out["corr"] = cov / (sum((a - mp) ** 2 for a in p) * sum((b - mt) ** 2 for b in t)) ** 0.5
    for name, edges in (("acc2", [-1.01, 0.0, 1.01]), ("acc3", [-1.01, -0.1, 0.1, 1.01]), ("acc5", [-1.01, -0.7, -0.1, 0.1, 0.7, 1.01])):
        out[name] = sum(cls(a, edges) == cls(b, edges) for a, b in zip(p, t)) / len(p)
    pc, tc = [cls(a, [-1.01, 0.0, 1.01]) for a in p], [cls(b, [-1.01, 0.0, 1.01]) for b in t]
    f1w = 0.0
    for c in (0, 1):
        tp = sum(1 for a, b in zip(pc, tc) if a == c and b == c)
        fp = sum(1 for a, b in zip(pc, tc) if a == c and b != c)
        fn = sum(1 for a, b in zip(pc, tc) if a != c and b == c)
        f1 = 0.0 if 2 * tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)
        f1w += f1 * tc.count(c) / len(tc)
    out["f1"] = f1w
    return out


def test_bins_are_lo_exclusive_hi_inclusive_at_every_edge():
    v = np.array([-1.0, -0.7, -0.69, -0.1, -0.09, 0.0, 1e-9, 0.1, 0.11, 0.7, 0.71, 1.0])
    assert bin_labels(v, ACC2_EDGES).tolist() == [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]  # 0 is negative
    assert bin_labels(v, ACC3_EDGES).tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]
    assert bin_labels(v, ACC5_EDGES).tolist() == [0, 0, 1, 1, 2, 2, 2, 2, 3, 3, 4, 4]


def test_sims_metrics_hand_computed():
    truth = np.array([0.0, 0.2, -0.2, 0.8, -1.0])
    pred = np.array([0.0, 0.1, -0.1, 0.7, 1.5])  # 1.5 is clipped to 1
    m = sims_regression_metrics(truth, pred)
    # acc2 classes: truth [0,1,0,1,0], pred [0,1,0,1,1]
    assert m["acc2"] == pytest.approx(4 / 5)
    # acc3: truth [1,2,0,2,0], pred [1,1,0,2,2]
    assert m["acc3"] == pytest.approx(3 / 5)
    # acc5: truth [2,3,1,4,0], pred [2,2,1,3,4]
    assert m["acc5"] == pytest.approx(2 / 5)
    assert m["mae"] == pytest.approx((0 + 0.1 + 0.1 + 0.1 + 2.0) / 5)
    # weighted F1 on acc2: class 0 tp2 fp0 fn1 -> 0.8 (support 3); class 1 tp2 fp1 fn0 -> 0.8 (support 2)
    assert m["f1"] == pytest.approx(0.8)


def test_sims_metrics_unbalanced_f1_hand_computed():
    truth = np.array([-0.4, -0.2, 0.0, 0.6])  # acc2: [0, 0, 0, 1]
    pred = np.array([0.3, -0.5, 0.0, 0.2])  # acc2: [1, 0, 0, 1]
    m = sims_regression_metrics(truth, pred)
    f1_0, f1_1 = 2 * 2 / (2 * 2 + 0 + 1), 2 * 1 / (2 * 1 + 1 + 0)
    assert m["f1"] == pytest.approx(0.75 * f1_0 + 0.25 * f1_1)
    assert m["acc2"] == pytest.approx(0.75)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sims_metrics_match_the_community_loops(seed):
    rng = np.random.default_rng(seed)
    edges = np.array([-1.0, -0.7, -0.1, 0.0, 0.1, 0.7, 1.0])
    truth = np.concatenate([np.round(rng.uniform(-1, 1, 40) / 0.2) * 0.2, edges])
    pred = np.concatenate([rng.uniform(-1.4, 1.4, 40), rng.permutation(edges)])
    ours, ref = sims_regression_metrics(truth, pred), community_sims(pred, truth)
    for k in ref:
        assert ours[k] == pytest.approx(ref[k], abs=1e-12), k


def test_float32_predictions_are_compared_in_float64():
    # float32(0.1) is 0.10000000149: above the 0.1 edge, so positive in Acc-3
    m = sims_regression_metrics(np.array([0.2]), np.array([0.1], dtype=np.float32))
    assert m["acc3"] == 1.0


def test_classification_metrics_hand_computed_with_class_names():
    names = ("anger", "disgust", "fear", "happy", "neutral", "sad", "surprise")
    truth = np.array([0, 0, 1, 3, 4, 4, 4, 6])
    pred = np.array([0, 1, 1, 3, 4, 4, 5, 4])
    m = classification_metrics(truth, pred, 7, names)
    assert m["acc"] == m["acc7"] == pytest.approx(5 / 8)
    assert m["f1/anger"] == pytest.approx(2 * 1 / (2 + 0 + 1))
    assert m["f1/disgust"] == pytest.approx(2 * 1 / (2 + 1 + 0))
    assert m["f1/fear"] == 0.0 and m["f1/sad"] == 0.0  # never true (fear: never predicted either)
    assert m["f1/neutral"] == pytest.approx(2 * 2 / (4 + 1 + 1))
    assert m["f1/surprise"] == 0.0
    support = {"anger": 2, "disgust": 1, "happy": 1, "neutral": 3, "surprise": 1}
    expect = sum(m[f"f1/{k}"] * s for k, s in support.items()) / 8
    assert m["f1_weighted"] == pytest.approx(expect)


def test_weighted_f1_matches_sklearn():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(3)
    t, p = rng.integers(0, 5, 200), rng.integers(0, 5, 200)
    m = classification_metrics(t, p, 5)
    assert m["f1_weighted"] == pytest.approx(f1_score(t, p, average="weighted"))
    per = f1_score(t, p, average=None, labels=range(5))
    assert [m[f"f1/{c}"] for c in range(5)] == pytest.approx(per.tolist())
    assert "acc7" not in m


def test_evaluate_names_heads_and_scores_modality_heads_against_m():
    truth = {"M": np.array([0.2, -0.4, 0.6, np.nan]), "T": np.array([0.2, -0.2, 0.4, 0.0])}
    pred = {"M": np.array([0.1, -0.4, 0.4, 9.0]), "T": np.array([0.0, -0.2, 0.4, 0.0]), "audio": np.array([0.2, -0.4, 0.6, 0.0])}
    out = evaluate(SIMS, truth, pred)
    assert out["mae"] == pytest.approx((0.1 + 0 + 0.2) / 3)  # the NaN truth row is skipped
    assert out["T/mae"] == pytest.approx(0.2 / 4)
    assert out["audio/mae"] == pytest.approx(0.0)  # scored against truth["M"]
    assert {"acc2", "acc3", "acc5", "f1", "corr", "T/acc5", "audio/f1"} <= set(out)


def test_evaluate_classification_and_other_ranges():
    cls = Task("classification", n_classes=3, class_names=("a", "b", "c"))
    out = evaluate(cls, {"M": np.array([0.0, 1.0, 2.0])}, {"M": np.array([0, 1, 1]), "image": np.array([0, 0, 0])})
    assert out["acc"] == pytest.approx(2 / 3) and out["image/acc"] == pytest.approx(1 / 3)
    assert "f1/c" in out and "acc7" not in out
    mosi = Task("regression", label_range=(-3.0, 3.0))
    out = evaluate(mosi, {"M": np.array([-3.0, 2.0])}, {"M": np.array([[-2.0], [2.5]])})
    assert set(out) == {"mae", "corr"} and out["mae"] == pytest.approx(0.75)


def test_evaluate_rejects_a_wrong_shape_naming_the_head():
    with pytest.raises(ValueError, match="'T'"):
        evaluate(SIMS, {"M": np.zeros(3), "T": np.zeros(3)}, {"T": np.zeros(2)})
