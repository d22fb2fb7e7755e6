"""The torch models' training budget (epochs=None: a step floor), the optimizer option, the
per-epoch and parameter-group hooks, and mtl's CH-SIMS v2 settings."""

import copy

import numpy as np
import pytest
import torch

import mmal
from mmal.bench import load_config
from mmal.nn import training
from mmal.nn.capabilities import DEFAULT_MIN_EPOCHS, DEFAULT_MIN_STEPS
from mmal.nn.classifier import MultimodalClassifier
from mmal.nn.late_fusion import MultiTaskLateFusion
from mmal.nn.toy import sims_like_pool

SMALL = dict(feature_dim=6, hidden=5, device="cpu")


def vector_pool(n, n_labeled, kind="classification", seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    mods = {"a": rng.normal(size=(n, 5)) + y[:, None], "b": rng.normal(size=(n, 4)) - y[:, None]}
    task = mmal.Task("classification", n_classes=3) if kind == "classification" else mmal.Task("regression", label_range=(-1, 1))
    pool = mmal.Pool(mods, task, ids=np.arange(n))
    labels = y.astype(float) if kind == "classification" else (y - 1) / 2.0
    pool.label(pool.ids[:n_labeled], labels[:n_labeled])
    return pool


class Counting(MultimodalClassifier):
    """Counts optimizer steps (one training loss per step) and epoch callbacks."""

    def fit(self, pool, *, seed=0):
        self.steps_seen, self.epochs_seen = 0, []
        return super().fit(pool, seed=seed)

    def _training_loss(self, out, targets):
        self.steps_seen += 1
        return super()._training_loss(out, targets)

    def _on_epoch_end(self, epoch, loss):
        self.epochs_seen.append((epoch, loss))


@pytest.mark.parametrize("n, batch, min_steps, min_epochs, expected", [
    (20, 32, 300, 5, 300),     # one batch per epoch: the step floor rules
    (64, 32, 300, 5, 150),     # two batches per epoch
    (65, 32, 300, 5, 150),     # a trailing single sample joins the last batch: still two batches
    (2000, 32, 300, 5, 5),     # 63 batches per epoch: the epoch floor rules (315 steps)
    (2000, 32, 1000, 5, 16),   # ceil(1000 / 63)
    (1, 32, 7, 0, 7),
])
def test_auto_epochs(n, batch, min_steps, min_epochs, expected):
    assert training.auto_epochs(n, batch, min_steps=min_steps, min_epochs=min_epochs) == expected


@pytest.mark.parametrize("n, classes, expected", [
    (20, 20, 300),       # a batch holds every labeled class: no extra steps
    (500, 10, 19),       # 16 batches per epoch, 300 steps
    (100, 64, 150),      # 64 classes in batches of 32: 600 steps, 4 batches per epoch
    (500, 101, 60),      # ceil(300 * 101 / 32) = 947 steps, 16 batches per epoch
    (2000, 101, 16),     # 947 steps, 63 batches per epoch
])
def test_auto_epochs_scale_with_classes_beyond_a_batch(n, classes, expected):
    assert training.auto_epochs(n, 32, min_steps=300, min_epochs=5, n_classes=classes) == expected


def test_fit_counts_the_labeled_classes():
    rng = np.random.default_rng(0)
    pool = mmal.Pool({"a": rng.normal(size=(60, 3))}, mmal.Task("classification", n_classes=12), ids=np.arange(60))
    pool.label(np.arange(24), np.arange(24) % 12)  # 12 classes among 24 samples, batches of 4
    model = Counting(**SMALL, min_steps=10, min_epochs=1, batch_size=4).fit(pool, seed=0)
    assert model.epochs_ == model.epochs_for(pool) == 5 and model.steps_seen == 30  # 10 * 12 / 4 steps, 6 per epoch


def test_default_budget_reaches_the_step_floor_at_small_n():
    pool = vector_pool(80, 20)
    model = Counting(**SMALL, min_steps=60, min_epochs=2).fit(pool, seed=0)
    assert model.epochs is None and model.epochs_ == 60 and model.steps_seen == 60  # 20 samples: one step per epoch
    assert len(model.history_) == 60 and [e for e, _ in model.epochs_seen] == list(range(60))
    assert [loss for _, loss in model.epochs_seen] == model.history_
    big = Counting(**SMALL, min_steps=6, min_epochs=2, batch_size=8).fit(vector_pool(80, 80), seed=0)
    assert big.epochs_ == 2 and big.steps_seen == 20  # 10 batches per epoch: the epoch floor


def test_defaults_are_the_documented_budget():
    model = mmal.task_models.get("mm-classifier")
    assert model.epochs is None and (model.min_steps, model.min_epochs) == (DEFAULT_MIN_STEPS, DEFAULT_MIN_EPOCHS)
    assert model.train_epochs(20) == DEFAULT_MIN_STEPS  # one batch of 20
    assert model.train_epochs(10**5) == DEFAULT_MIN_EPOCHS


def test_explicit_epochs_are_kept():
    pool = vector_pool(80, 40)
    model = Counting(**SMALL, epochs=3, min_steps=10**6).fit(pool, seed=0)  # min_steps only applies to epochs=None
    assert model.epochs_ == 3 and len(model.history_) == 3 and model.steps_seen == 3 * 2
    with pytest.raises(mmal.ConfigError, match="epochs=0 would train nothing"):
        Counting(**SMALL, epochs=0)


def test_explicit_epochs_equal_the_budget_they_match():
    """epochs=None is only a way to pick the epoch count: the same count given explicitly trains the same net."""
    pool = vector_pool(80, 20)
    auto = MultimodalClassifier(**SMALL, min_steps=25, min_epochs=1).fit(pool, seed=3)
    fixed = MultimodalClassifier(**SMALL, epochs=25).fit(pool, seed=3)
    assert np.array_equal(auto.predict_proba(pool)["M"], fixed.predict_proba(pool)["M"])


def test_epoch_callback_can_stop_training():
    class StopAt(MultimodalClassifier):
        def _on_epoch_end(self, epoch, loss):
            return epoch == 3

    model = StopAt(**SMALL, epochs=50).fit(vector_pool(40, 20), seed=0)
    assert len(model.history_) == 4


@pytest.mark.parametrize("bad", [dict(epochs=-1), dict(min_steps=-1), dict(batch_size=0), dict(optimizer="sgd")])
def test_bad_budget_arguments(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        MultimodalClassifier(**bad)


def test_optimizer_option():
    pool = vector_pool(60, 30)
    kw = dict(**SMALL, epochs=4)

    def params(model):
        return torch.cat([p.detach().flatten() for p in model.net_.parameters()])

    adam0 = params(MultimodalClassifier(**kw, optimizer="adam").fit(pool, seed=1))
    adamw0 = params(MultimodalClassifier(**kw, optimizer="adamw").fit(pool, seed=1))
    assert torch.allclose(adam0, adamw0, atol=1e-6)  # without weight decay AdamW is Adam
    adam = params(MultimodalClassifier(**kw, optimizer="adam", weight_decay=0.5).fit(pool, seed=1))
    adamw = params(MultimodalClassifier(**kw, optimizer="adamw", weight_decay=0.5).fit(pool, seed=1))
    assert not torch.allclose(adam, adamw, atol=1e-4)  # L2 in the gradient vs decoupled decay
    net = torch.nn.Linear(2, 2)
    opt = training.make_optimizer("adamw", [{"params": list(net.parameters())}], lr=0.01, weight_decay=0.1)
    assert isinstance(opt, torch.optim.AdamW) and opt.param_groups[0]["weight_decay"] == 0.1


def test_adamw_decays_weights_decoupled():
    """AdamW: p <- p - lr * (adam step + wd * p); with a zero gradient only the decay acts."""
    p = torch.nn.Parameter(torch.full((3,), 2.0))
    opt = training.make_optimizer("adamw", [{"params": [p]}], lr=0.1, weight_decay=0.5)
    p.grad = torch.zeros(3)
    opt.step()
    assert torch.allclose(p.detach(), torch.full((3,), 2.0 * (1 - 0.1 * 0.5)))


def test_mtl_param_groups(monkeypatch):
    seen = []
    real = training.make_optimizer

    def spy(name, groups, *, lr, weight_decay):
        opt = real(name, groups, lr=lr, weight_decay=weight_decay)
        seen.append(opt)
        return opt

    monkeypatch.setattr(training, "make_optimizer", spy)
    pool = sims_like_pool(30, kind="regression", n_labeled=16)
    model = MultiTaskLateFusion(**SMALL, epochs=1, lstm_layers=1, lr=5e-4, weight_decay=5e-4,
                                encoder_lr={"audio": 5e-4, "vision": 1e-3},
                                encoder_weight_decay={"audio": 0.0, "vision": 0.0}).fit(pool, seed=0)
    (opt,) = seen
    net = model.net_
    enc = {m: {id(p) for p in net.encoders[net.modalities.index(m)].parameters()} for m in net.modalities}
    groups = [({id(p) for p in g["params"]}, g["lr"], g["weight_decay"]) for g in opt.param_groups]
    assert groups[1] == (enc["audio"], 5e-4, 0.0) and groups[2] == (enc["vision"], 1e-3, 0.0)
    everything = {id(p) for p in net.parameters()}
    assert groups[0][0] == everything - enc["audio"] - enc["vision"] and groups[0][0] >= enc["text"]
    assert groups[0][1:] == (5e-4, 5e-4)  # the "other" group: the model's lr and weight_decay
    assert sum(len(g) for g, _, _ in groups) == len(everything)  # every parameter exactly once


def test_mtl_group_lr_zero_freezes_that_encoder():
    pool = sims_like_pool(30, kind="regression", n_labeled=16)
    kw = dict(**SMALL, epochs=3, lstm_layers=1)
    class KeepInit(MultiTaskLateFusion):  # keeps a copy of the freshly built network
        def _build_net(self, *args):
            net = super()._build_net(*args)
            self.init_ = copy.deepcopy(net)
            return net

    frozen = KeepInit(**kw, encoder_lr={"audio": 0.0}).fit(pool, seed=0)
    init = frozen.init_
    i = frozen.net_.modalities.index("audio")
    for p0, p1 in zip(init.encoders[i].parameters(), frozen.net_.encoders[i].parameters()):
        assert torch.equal(p0, p1)
    j = frozen.net_.modalities.index("text")
    assert not all(torch.equal(a, b) for a, b in zip(init.encoders[j].parameters(), frozen.net_.encoders[j].parameters()))


def test_mtl_unknown_group_modality():
    pool = sims_like_pool(20, kind="regression", n_labeled=10)
    with pytest.raises(ValueError, match="'video'"):
        MultiTaskLateFusion(**SMALL, epochs=1, encoder_lr={"video": 1e-3}).fit(pool, seed=0)


def test_mtl_output_range_and_head_dropout():
    pool = vector_pool(60, 40, kind="regression")
    pool.labels["M"][pool.labeled_positions()] *= 3.0  # targets beyond the range: the output still stays inside
    model = MultiTaskLateFusion(**SMALL, epochs=30, lr=0.05, output_range=(-0.5, 0.25), head_dropout=0.3).fit(pool, seed=0)
    pred = model.predict(pool)["M"]
    assert pred.min() >= -0.5 and pred.max() <= 0.25 and np.ptp(pred) > 0.1  # float32 sigmoid may saturate
    z = model.embed(pool)["fused"]
    head = model.net_.fused_out
    expected = -0.5 + 0.75 / (1 + np.exp(-(z @ head.weight.detach().numpy().T + head.bias.detach().numpy())))
    assert np.allclose(pred, expected[:, 0], atol=1e-5)
    drops = [m.p for m in model.net_.modules() if isinstance(m, torch.nn.Dropout)]
    net = model.net_
    assert [fc[0].p for fc in net.unimodal] == [0.3, 0.3] and net.fusion[0].p == 0.3 and net.fusion[-1].p == SMALL.get("dropout", 0.1)
    assert 0.1 in drops  # the encoders keep `dropout`
    with pytest.raises(ValueError, match="output_range"):
        MultiTaskLateFusion(**SMALL, epochs=1, output_range=(-1, 1)).fit(vector_pool(30, 10), seed=0)
    with pytest.raises(ValueError, match="lo < hi"):
        MultiTaskLateFusion(output_range=(1, -1))


def test_grace_protocols_carry_the_chsims_v2_settings():
    for name in ("simsv2-regression", "cherma-classification", "grace-ablation-alpha", "grace-ablation-criteria",
                 "grace-ablation-table4", "simsv2-initial-pool-50", "simsv2-initial-pool-200"):
        args = load_config(protocol=name)["datasets"][0]["model_args"]
        assert args["epochs"] == 5 and args["batch_size"] == 32 and args["head_dropout"] == 0.3
        assert (args["lr"], args["weight_decay"]) == (5e-4, 5e-4)
        assert args["encoder_lr"] == {"audio": 5e-4, "vision": 1e-3}
        assert args["encoder_weight_decay"] == {"audio": 0.0, "vision": 0.0}
        assert ("output_range" in args) == name.startswith(("simsv2", "grace"))
        MultiTaskLateFusion(**args)  # every key is an mtl option
    food = load_config(protocol="food101")["datasets"]
    assert all(d["model_args"]["optimizer"] == "adamw" for d in food)


def test_linear_regularization_defaults():
    """Ridge picks its penalty by leave-one-out over ALPHAS (exactly sklearn's RidgeCV); logistic C = 0.01."""
    from sklearn.linear_model import LogisticRegression, RidgeCV

    from mmal.builtin.linear import ALPHAS, LinearModel

    pool = vector_pool(80, 40, kind="regression")
    model = LinearModel().fit(pool, seed=0)
    X = np.concatenate(list(model._features(pool, pool.labeled_positions()).values()), axis=1)
    ref = RidgeCV(alphas=ALPHAS).fit(X, pool.labels["M"][pool.labeled_positions()])
    assert model.heads_["M"].alpha_ == ref.alpha_ and np.allclose(model.heads_["M"].coef_, ref.coef_)
    assert LinearModel(alpha=3.0).fit(pool).heads_["M"].alpha == 3.0
    cls = LinearModel().fit(vector_pool(80, 40), seed=0)
    assert isinstance(cls.heads_["M"], LogisticRegression) and cls.heads_["M"].C == 0.01 == LinearModel().C
    with pytest.raises(ValueError, match="alpha"):
        LinearModel(alpha=0.0)
