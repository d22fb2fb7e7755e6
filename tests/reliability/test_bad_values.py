"""Issue 19, bad values through the Python API: each is a clear mmal error naming the field,
the value and the fix, never a raw numpy / torch / sklearn traceback or a silent wrong answer.
(The map from each issue item to its test is tests/reliability/README.md.)"""

import numpy as np
import pytest

import mmal
from mmal import CapabilityError, ConfigError, PoolError
from mmal.rng import derive_rng
from reliability_fakes import LinearNet, random_pool

CLF = mmal.Task("classification", n_classes=3)
REG = mmal.Task("regression", label_range=(-1.0, 1.0))


def feats(n=4, d=2):
    return np.arange(n * d, dtype=np.float32).reshape(n, d)


# ------------------------------------------------------------------ sequence lengths
@pytest.mark.parametrize("lengths, words", [
    ([3, np.nan, 2, 1], r"lengths\['a'\] must be integers .*positions \[1\] have \[nan\]"),
    ([3, 2.5, 2, 1], r"lengths\['a'\] must be integers .*positions \[1\] have \[2.5\]"),
    ([3, np.inf, 2, 1], r"lengths\['a'\] must be integers"),
    (["3", "2", "2", "1"], r"lengths\['a'\] must be integers .*dtype <U1"),
])
def test_nan_fractional_or_text_lengths_are_refused(lengths, words):
    with pytest.raises(PoolError, match=words):
        mmal.Pool({"a": np.zeros((4, 3, 2))}, CLF, lengths={"a": np.array(lengths)})


def test_integer_valued_float_lengths_are_kept_exactly():
    pool = mmal.Pool({"a": np.zeros((4, 3, 2))}, CLF, lengths={"a": np.array([3.0, 1.0, 2.0, 3.0])})
    assert pool.lengths["a"].dtype == np.int64 and pool.lengths["a"].tolist() == [3, 1, 2, 3]


# ------------------------------------------------------------------ feature arrays
@pytest.mark.parametrize("array, words", [
    (np.array([["a", "b"]] * 4), "holds strings"),
    (np.array([[1, None]] * 4, dtype=object), "holds Python objects"),
    (np.ones((4, 2), dtype=complex), "holds complex numbers"),
    (np.zeros((4, 0)), r"shape \(4, 0\), a zero-width axis"),
    (np.zeros((4, 0, 3)), "zero-width axis"),
    ([[1.0, 2.0], [3.0]], "not a rectangular array"),
])
def test_non_numeric_ragged_or_zero_width_features_are_refused(array, words):
    with pytest.raises(PoolError, match=f"modality 'a' .*{words}"):
        mmal.Pool({"a": array}, CLF)


def test_float64_beyond_float32_range_is_refused_not_turned_into_inf():
    x = feats().astype(np.float64)
    x[2, 1] = 1e39
    with pytest.raises(PoolError, match=r"beyond float32's range .* positions \[2\]"):
        mmal.Pool({"a": x}, CLF)
    x[2, 1] = 3e38  # within float32: fine
    assert np.isfinite(mmal.Pool({"a": x}, CLF).pooled("a")).all()


# ------------------------------------------------------------------ the task
@pytest.mark.parametrize("kwargs, words", [
    ({"kind": "classification", "n_classes": 2.5}, r"n_classes must be an int >= 2 .*got 2.5 \(float\)"),
    ({"kind": "classification", "n_classes": "3"}, r"n_classes must be an int >= 2 .*got '3' \(str\)"),
    ({"kind": "classification", "n_classes": True}, "n_classes must be an int"),
    ({"kind": "classification", "n_classes": 1}, "n_classes must be an int >= 2"),
    ({"kind": "regression", "label_range": (1.0, -1.0)}, "lo < hi"),
    ({"kind": "regression", "label_range": (np.nan, 1.0)}, "two finite numbers"),
    ({"kind": "regression", "label_range": ("a", "b")}, "label_range must be two numbers"),
    ({"kind": "regression", "n_classes": 3}, "n_classes=3 is for classification"),
    ({"kind": "classification", "n_classes": 3, "label_range": (0, 2)}, "label_range is for regression"),
    ({"kind": "classification", "n_classes": 2, "class_names": ("a", "a")}, "repeated names"),
    ({"kind": "regression", "heads": "MT"}, "Task.heads must be a tuple"),
    ({"kind": "regression", "heads": ("M", "T"), "head_modality": {"M": "text"}}, "maps the fused head"),
])
def test_task_fields_are_checked(kwargs, words):
    kind = kwargs.pop("kind")
    with pytest.raises(PoolError, match=words):
        mmal.Task(kind, **kwargs)


def test_numpy_ints_and_list_heads_are_normalized():
    t = mmal.Task("classification", heads=["M", "T"], n_classes=np.int64(4), head_modality={"T": "text"})
    assert t.heads == ("M", "T") and type(t.n_classes) is int and t.n_classes == 4
    assert mmal.Task("regression", label_range=[-1, 1]).label_range == (-1.0, 1.0)


def test_head_modality_naming_no_modality_is_refused():
    task = mmal.Task("regression", heads=("M", "T"), head_modality={"T": "text"})
    with pytest.raises(PoolError, match=r"maps heads to modalities this pool lacks: \{'T': 'text'\}.*\['audio'\]"):
        mmal.Pool({"audio": feats()}, task)


# ------------------------------------------------------------------ ids and labels
@pytest.mark.parametrize("ids, words", [
    (["a", None, "c", "d"], r"position 1 holds None"),
    ([0.0, 1.0, 2.0, 3.0], r"position 0 holds 0.0 \(float\)"),
    (np.array([0.0, 1.0, 2.0, 3.0]), "got dtype float64"),
    (["a", 1, "c", "d"], "mix strings and ints"),
    ("abcd", "the single string"),
    ([True, False, True, False], r"holds True \(bool\)"),
])
def test_bad_ids_are_refused(ids, words):
    with pytest.raises(PoolError, match=words):
        mmal.Pool({"a": feats()}, CLF, ids=ids)


def test_object_ids_of_one_kind_are_kept():
    assert mmal.Pool({"a": feats()}, CLF, ids=np.array(["a", "b", "c", "d"], dtype=object)).ids.dtype.kind == "U"
    assert mmal.Pool({"a": feats()}, CLF, ids=np.array([5, 6, 7, 8], dtype=object)).ids.tolist() == [5, 6, 7, 8]


def test_text_labels_name_the_head_and_the_fix():
    named = mmal.Task("classification", n_classes=2, class_names=("neg", "pos"))
    with pytest.raises(PoolError, match=r"labels\['M'\] must be numbers .*got 'pos'.*0\.\.1 first \(Task.class_names: \['neg', 'pos'\]\)"):
        mmal.Pool({"a": feats()}, named, labels={"M": ["pos", "neg", "pos", "neg"]})
    pool = mmal.Pool({"a": feats()}, REG)
    with pytest.raises(PoolError, match=r"label\(\): labels\['M'\] must be numbers .*got 'high'"):
        pool.label([0], ["high"])
    with pytest.raises(PoolError, match="must be numbers"):
        pool.label([0], np.array([1 + 2j]))
    with pytest.raises(PoolError, match="'M' label is NaN"):
        pool.label([0, 1], np.array([0.5, None], dtype=object))


def test_a_single_id_string_is_not_split_into_characters():
    pool = mmal.Pool({"a": feats()}, CLF, ids=["s1", "s2", "s3", "s4"])
    with pytest.raises(PoolError, match=r"the single str 's1'; wrap it in a list: \['s1'\]"):
        pool.label("s1", [0])
    with pytest.raises(PoolError, match=r"unknown id 1: .*ids are strs, e.g. 's1'"):
        pool.label([1], [0])


@pytest.mark.parametrize("positions, words", [([-1], r"in 0\.\.3, got \[-1\]"), ([4], r"got \[4\]"), ([1.5], "integer positions")])
def test_take_refuses_wrapping_or_truncated_positions(positions, words):
    with pytest.raises(PoolError, match=words):
        mmal.Pool({"a": feats()}, CLF).take(positions)


def test_a_non_bool_labeled_mask_is_refused():
    with pytest.raises(PoolError, match="bool mask"):
        mmal.Pool({"a": feats()}, CLF, labels={"M": [0, 1, 2, 0]}, labeled=np.array([0.5, 1, 1, 1]))


# ------------------------------------------------------------------ models
def test_an_unfitted_model_and_a_model_fitted_on_another_pool_are_named():
    pool = random_pool(0, n=12, n_labeled=4)
    coreset = mmal.strategies.get("coreset")
    with pytest.raises(CapabilityError, match=r"strategy 'coreset' .*LinearNet is not fitted; call model.fit"):
        coreset.select(LinearNet(), pool, 2, rng=derive_rng(0, 1, "coreset"))
    model = LinearNet().fit(pool)
    other = random_pool(0, n=12, n_labeled=4, dims=(5, 4))
    with pytest.raises(PoolError, match=r"fitted on a different pool \(modality 'm1' is \[ndim, dims\] \[2, 3\] then, \[2, 4\] now\)"):
        coreset.select(model, other, 2, rng=derive_rng(0, 1, "coreset"))
    renamed = mmal.Pool({"x": other.modalities["m0"]}, other.task, labels=other.labels)
    with pytest.raises(PoolError, match="modality 'm0' is missing; modality 'm1' is missing; modality 'x' is new"):
        coreset.select(model, renamed, 2, rng=derive_rng(0, 1, "coreset"))
    reg = random_pool(0, n=12, n_labeled=4, task="regression")
    with pytest.raises(PoolError, match="kind 'classification' then, 'regression' now"):
        coreset.select(model, reg, 2, rng=derive_rng(0, 1, "coreset"))


def test_the_linear_model_records_what_it_was_fitted_on():
    pool = random_pool(0, n=12, n_labeled=4)
    coreset = mmal.strategies.get("coreset")
    linear = mmal.task_models.get("linear")
    with pytest.raises(CapabilityError, match=r"strategy 'coreset' .*LinearModel is not fitted; call model.fit"):
        coreset.select(linear, pool, 2, rng=derive_rng(0, 1, "coreset"))
    linear.fit(pool)
    assert len(coreset.select(linear, pool, 2, rng=derive_rng(0, 1, "coreset")).positions) == 2
    other = random_pool(0, n=12, n_labeled=4, dims=(5, 4))
    with pytest.raises(PoolError, match=r"LinearModel was fitted on a different pool \(modality 'm1' is \[ndim, dims\] \[2, 3\] then, \[2, 4\] now\)"):
        coreset.select(linear, other, 2, rng=derive_rng(0, 1, "coreset"))
    with pytest.raises(ConfigError, match="must be > 0, got alpha=-1"):
        mmal.task_models.get("linear", alpha=-1.0)


@pytest.mark.parametrize("registry, name, params, words", [
    (mmal.task_models, "mtl", {"epoch": 3}, "no parameter 'epoch'; did you mean 'epochs'"),
    (mmal.task_models, "linear", {"alpah": 2.0}, "no parameter 'alpah'; did you mean 'alpha'"),
    (mmal.strategies, "grace", {"alpah": 0.5}, "no parameter 'alpah'; did you mean 'alpha'"),
    (mmal.strategies, "grace-i", {"alpha_decy": 0.5}, "did you mean 'alpha_decay'"),
    (mmal.strategies, "bald", {"T": "10"}, "parameter 'T' must be an int, got str '10'"),
    (mmal.strategies, "grace", {"alpha": "big"}, "parameter 'alpha' must be a number, got str 'big'"),
    (mmal.task_models, "mtl", {"epochs": 2.5}, "parameter 'epochs' must be an int or none, got float 2.5"),
    (mmal.datasets, "toy", {"size": 30, "tsak": "regression"}, "no parameter 'tsak'; did you mean 'task'"),
])
def test_misspelt_or_mistyped_arguments_say_what_is_meant(registry, name, params, words):
    with pytest.raises(ConfigError, match=words):
        registry.get(name, **params)


def test_constructor_value_errors_become_config_errors_naming_the_entry():
    with pytest.raises(ConfigError, match=r"task_model 'mm-classifier' .*rejected its arguments \{'fusion': 'max'\}.*fusion must be one of"):
        mmal.task_models.get("mm-classifier", fusion="max")


# ------------------------------------------------------------------ datasets and the loop
@pytest.mark.parametrize("name, size, words", [
    ("toy", "huge", r"toy: size must be one of \['medium', 'small', 'tiny'\]"),
    ("toy", 0, "toy: size must be"),
    ("simsv2-synthetic", "huge", "size must be one of"),
])
def test_unknown_dataset_sizes_are_config_errors(name, size, words):
    with pytest.raises(ConfigError, match=words):
        mmal.datasets.get(name, size=size, seed=0)


@pytest.mark.parametrize("kwargs, words", [
    ({"init": 2.5}, r"init must be an int >= 1 .*got 2.5 \(float\)"),
    ({"init": 0}, "init must be an int >= 1"),
    ({"init": 999}, "init=999 is more than the train pool's 40 samples"),
    ({"rounds": 1.5}, "rounds must be an int >= 0"),
    ({"rounds": "2"}, r"rounds must be an int >= 0, got '2' \(str\)"),
    ({"budget": 0}, "budget must be an int >= 1"),
    ({"seed": -1}, "seed must be an int >= 0"),
])
def test_loop_arguments_are_checked_before_round_0(kwargs, words):
    args = {"init": 6, "budget": 3, "rounds": 1, "seed": 0, **kwargs}
    trained = []
    with pytest.raises(ConfigError, match=words):
        mmal.run_loop(mmal.datasets.get("toy", size=40, seed=0), mmal.strategies.get("random"),
                      lambda: trained.append(1) or mmal.task_models.get("linear"), **args)
    assert trained == []  # nothing was trained


def test_an_empty_test_pool_is_an_error_not_empty_metrics():
    ds = mmal.datasets.get("toy", size=40, seed=0)
    ds.test = ds.test.take(np.arange(0))
    with pytest.raises(ConfigError, match="empty test pool; metrics need test samples"):
        mmal.run_loop(ds, mmal.strategies.get("random"), lambda: mmal.task_models.get("linear"), init=6, budget=3, rounds=1)


# ------------------------------------------------------------------ torch task models' training values
@pytest.mark.parametrize("params, words", [
    ({"epochs": 0}, r"epochs must be an int >= 1, got 0; epochs=0 would train nothing; .*or None to train the step budget"),
    ({"epochs": -2}, "epochs must be an int >= 1, got -2"),
    ({"batch_size": 0}, r"batch_size must be an int >= 1, got 0; samples per optimizer step"),
    ({"feature_dim": 0}, r"feature_dim must be an int >= 1, got 0; the width of each modality's feature"),
    ({"hidden": -1}, "hidden must be an int >= 1, got -1"),
    ({"lr": 0.0}, r"lr must be a number in \(0, inf\), got 0.0; the learning rate, e.g. 1e-3"),
    ({"lr": -1e-3}, r"lr must be a number in \(0, inf\)"),
    ({"lr": float("nan")}, r"lr must be a number in \(0, inf\), got nan"),
    ({"dropout": 1.0}, r"dropout must be a number in \[0, 1\), got 1.0"),
    ({"dropout": -0.1}, r"dropout must be a number in \[0, 1\)"),
    ({"min_steps": 0}, r"min_steps must be an int >= 1, got 0; the fewest optimizer steps of epochs=None, e.g. 300"),
    ({"min_epochs": 0}, r"min_epochs must be an int >= 1, got 0; the fewest epochs of epochs=None, e.g. 5"),
    ({"weight_decay": -1.0}, r"weight_decay must be a number in \[0, inf\)"),
])
@pytest.mark.parametrize("model", ["mm-classifier", "mtl", "awf", "lfmim"])
def test_bad_training_values_of_the_torch_models_are_config_errors(model, params, words):
    with pytest.raises(ConfigError, match=words):
        mmal.task_models.get(model, **params)


def test_good_training_values_are_kept():
    from mmal.nn import MultimodalClassifier

    m = MultimodalClassifier(epochs=3, batch_size=np.int64(8), feature_dim=16.0, dropout=0.0, lr=1, min_steps=1, min_epochs=1)
    assert (m.epochs, m.batch_size, m.feature_dim, m.dropout, m.lr, m.min_steps, m.min_epochs) == (3, 8, 16, 0.0, 1.0, 1, 1)
    assert isinstance(m.feature_dim, int) and MultimodalClassifier(epochs=None).epochs is None
    with pytest.raises(ConfigError, match="hidden must be an int >= 1, got 8.5"):  # the class itself, not only the registry
        MultimodalClassifier(hidden=8.5)
    with pytest.raises(ConfigError, match="epochs must be an int >= 1, got True"):
        MultimodalClassifier(epochs=True)
