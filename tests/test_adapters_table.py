"""docs/own-loop.md's table "What each strategy asks your model for" is the strategies' real calls.

Every built-in strategy runs on a recording model (a :class:`mmal.adapters.TorchModel` that logs
each capability call: method, head, layer, pseudo-label, the keys read from its results) on a
two-modality classification pool and, where the strategy supports it, a regression pool. The
recorded calls, with the modality names written ``<m>``, must equal the table's cells ("same": as
for classification; "-": the task is not supported), and the
table's Requires and Tasks columns must equal the registry's. A strategy added, removed or
changed without the table fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import mmal
from mmal.plugins import default

PAGE = Path(__file__).resolve().parents[1] / "docs" / "own-loop.md"
MODALITIES = ("a", "b")


class Net(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.enc_a = nn.Sequential(nn.Linear(4, 6), nn.ReLU())
        self.enc_b = nn.Sequential(nn.Linear(3, 6), nn.ReLU())
        self.head_a, self.head_b, self.fc = nn.Linear(6, width), nn.Linear(6, width), nn.Linear(12, width)
        self.drop = nn.Dropout(0.3)

    def forward(self, a, b):
        fa, fb = self.enc_a(a), self.enc_b(b)
        return self.fc(self.drop(torch.cat([fa, fb], 1))), self.head_a(fa), self.head_b(fb)


def generic(name: str) -> str:
    return "<m>" if name in MODALITIES else name


class Reads(dict):
    """A result dict that records which keys the strategy reads."""

    def __init__(self, data, log, method):
        super().__init__(data)
        self.log, self.method = log, method

    def __getitem__(self, key):
        self.log.add(f"{self.method}[{generic(key)}]")
        return super().__getitem__(key)

    def items(self):
        self.log.add(f"{self.method}[*]")
        return super().items()

    def values(self):
        self.log.add(f"{self.method}[*]")
        return super().values()


def pseudo_kind(pseudo) -> str:
    if pseudo is None:
        return "default"
    if isinstance(pseudo, str):
        return pseudo
    return "labels{" + ",".join(sorted({generic(h) for h in pseudo})) + "}" if isinstance(pseudo, dict) else "labels"


class Recording:
    """Delegates to a TorchModel and logs each call the strategy makes."""

    def __init__(self, inner):
        self.inner, self.log = inner, set()
        self.capabilities, self.unimodal_heads = inner.capabilities, inner.unimodal_heads

    def grad_layers(self):
        return self.inner.grad_layers()

    def fit(self, pool, *, seed=0):
        return self.inner.fit(pool, seed=seed)

    def predict(self, pool, positions=None):
        return Reads(self.inner.predict(pool, positions), self.log, "predict")

    def predict_proba(self, pool, positions=None):
        return Reads(self.inner.predict_proba(pool, positions), self.log, "predict_proba")

    def embed(self, pool, positions=None, **kw):
        return Reads(self.inner.embed(pool, positions, **kw), self.log, "embed")

    def predict_masked(self, pool, positions=None, *, absent=frozenset()):
        self.log.add("predict_masked(every subset absent)")
        return self.inner.predict_masked(pool, positions, absent=absent)

    def predict_proba_samples(self, pool, positions=None, *, T=10, seed=0):
        self.log.add(f"predict_proba_samples(T={T})")
        return self.inner.predict_proba_samples(pool, positions, T=T, seed=seed)

    def grad_embed(self, pool, positions=None, *, head="M", layer="head:M", pseudo=None, bias=False):
        self.log.add(f"grad_embed({generic(head)}, {layer.replace(':a', ':<m>').replace(':b', ':<m>')}, {pseudo_kind(pseudo)})")
        return self.inner.grad_embed(pool, positions, head=head, layer=layer, pseudo=pseudo, bias=bias)

    def grad_embed_many(self, pool, positions=None, *, pairs, pseudo=None, bias=False):
        for head, layer in pairs:
            self.log.add(f"grad_embed({generic(head)}, {layer.replace(':a', ':<m>').replace(':b', ':<m>')}, {pseudo_kind(pseudo)})")
        return self.inner.grad_embed_many(pool, positions, pairs=pairs, pseudo=pseudo, bias=bias)


def pool_for(task: str) -> mmal.Pool:
    rng = np.random.default_rng(0)
    n = 60
    if task == "classification":
        y, t = rng.integers(0, 3, n).astype(float), mmal.Task("classification", n_classes=3)
    else:
        y, t = rng.uniform(-1, 1, n), mmal.Task("regression", label_range=(-1.0, 1.0))
    labels = np.where(np.arange(n) < 15, y, np.nan)
    return mmal.Pool({"a": rng.normal(size=(n, 4)), "b": rng.normal(size=(n, 3))}, t, labels={"M": labels})


def recorded_calls(name: str, task: str) -> str:
    pool = pool_for(task)
    torch.manual_seed(0)
    width = 3 if task == "classification" else 1
    inner = mmal.adapters.TorchModel(Net(width), encoders={"a": "enc_a", "b": "enc_b"},
                                     heads={"M": "fc", "a": "head_a", "b": "head_b"}, epochs=2)
    model = Recording(inner.fit(pool, seed=0))
    strategy = mmal.strategies.get(name)
    if task not in strategy.tasks:
        return "-"
    strategy.select(model, pool, 4, rng=mmal.derive_rng(0, 1, name))
    return "; ".join(sorted(model.log)) or "nothing"


def documented() -> dict[str, list[str]]:
    text = PAGE.read_text()
    section = text.split("## What each strategy asks your model for", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        m = re.fullmatch(r"`([\w-]+)`", cells[0]) if len(cells) == 5 else None
        if m:
            rows[m.group(1)] = [re.sub(r"`", "", c) for c in cells[1:]]
    return rows


BUILTIN = sorted(n for n, e in default().entries("strategy").items() if e.dist == "multimodal-al")


def test_every_builtin_strategy_has_a_row():
    rows = documented()
    assert sorted(rows) == BUILTIN, f"docs/own-loop.md table: add {sorted(set(BUILTIN) - set(rows))}, " \
                                    f"remove {sorted(set(rows) - set(BUILTIN))}"


@pytest.mark.parametrize("name", BUILTIN)
def test_row_is_what_the_strategy_asks_for(name):
    row = documented().get(name)
    assert row is not None, f"docs/own-loop.md: no table row for {name!r}"
    tasks, requires, classification, regression = row
    strategy = mmal.strategies.get(name)
    assert set(re.findall(r"regression|classification", tasks)) == set(strategy.tasks), f"{name}: Tasks cell"
    declared = sorted(strategy.requires)
    assert (requires.split(", ") if requires != "-" else []) == declared, f"{name}: Requires cell should be {declared}"
    assert classification == recorded_calls(name, "classification"), f"{name}: classification calls"
    on_regression = recorded_calls(name, "regression")
    if on_regression == classification and on_regression != "-":
        on_regression = "same"
    assert regression == on_regression, f"{name}: regression calls"
