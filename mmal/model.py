"""The TaskModel protocol and the named capabilities a strategy may require (DESIGN §3).

Every model method takes the pool and optional ``positions`` (default: every sample), so
a model can stream a memory-mapped pool in batches without copying it.

Base protocol (every task model)::

    fit(pool, *, seed) -> self                 trains on pool's labeled samples
    predict(pool, positions=None) -> {head: [n]}          values or class indices
    predict_proba(pool, positions=None) -> {head: [n, C]} classification only

Heads: ``predict`` returns the fused head ``"M"`` and one entry per unimodal head. A model
states ``unimodal_heads: {modality: head}``; a unimodal head is named like the task's head
for that modality when the task labels it (``{"text": "T"}``, GRACE's multi-task model) and
like the modality otherwise (``{"audio": "audio"}``, BMMAL's classifiers trained on the fused
label, Eq. 1).

Optional capabilities, by name (``model.capabilities`` lists those it offers):

``embed``
    ``embed(pool, positions=None) -> {modality: [n, h_k], "fused": [n, h]}``; per-modality
    encoder features ``f_k`` and the fused head's penultimate feature.
``grad_embed``
    ``grad_embed(pool, positions=None, *, head="M", layer=..., pseudo=None, bias=False)
    -> mmal.grads.RankOne``: per-sample gradient of ``head``'s loss with pseudo-labels
    w.r.t. the linear ``layer`` in factored form ``g = delta ⊗ h`` (DESIGN §5). Layer names:
    ``"enc:<modality>"`` (the last layer of the modality's encoder, GRACE's ``W_k``) and
    ``"head:<head>"`` (the last linear layer of a head; ``"head:M"`` is the fused
    classifier, BADGE / BMMAL). A model whose fused head is an MLP also lists ``"fuse:M"``, the
    first fused layer reading the concatenation ``[f_1, ..., f_M]`` (BMMAL's per-modality blocks,
    Eq. 13). ``model.grad_layers()`` lists them. ``pseudo`` selects the pseudo-labels: ``None``
    (the model's default: fused argmax for classification, output sensitivity for regression),
    ``"fused"``, ``"own"`` (each head its own prediction), or explicit labels ``{head: [n]}``.
``predict_proba_samples``
    ``predict_proba_samples(pool, positions=None, *, T=10, seed=0) -> [n, C, T]`` fused-head
    probabilities under MC dropout (dropout on, BatchNorm frozen); for regression the
    sampled predictions ``[n, 1, T]``.
``predict_masked``
    ``predict_masked(pool, positions=None, *, absent=frozenset()) -> [n, C]`` fused-head
    probabilities (regression: ``[n, 1]`` values) with the encoder features of the
    ``absent`` modalities set to zero (Shapley values, BMMAL Eq. 10).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Protocol, runtime_checkable

import numpy as np

from .errors import CapabilityError
from .pool import Pool

EMBED = "embed"
GRAD_EMBED = "grad_embed"
PREDICT_PROBA_SAMPLES = "predict_proba_samples"
PREDICT_MASKED = "predict_masked"
CAPABILITIES = frozenset({EMBED, GRAD_EMBED, PREDICT_PROBA_SAMPLES, PREDICT_MASKED})


@runtime_checkable
class TaskModel(Protocol):
    """sklearn-style multimodal model; see the module docstring for the capabilities."""

    capabilities: frozenset[str]
    unimodal_heads: Mapping[str, str]

    def fit(self, pool: Pool, *, seed: int = 0) -> "TaskModel": ...

    def predict(self, pool: Pool, positions: np.ndarray | None = None) -> Mapping[str, np.ndarray]: ...

    def predict_proba(self, pool: Pool, positions: np.ndarray | None = None) -> Mapping[str, np.ndarray]: ...


def model_capabilities(model: Any) -> frozenset[str]:
    """The capabilities a model declares and actually implements."""
    declared = frozenset(getattr(model, "capabilities", frozenset()))
    return frozenset(c for c in declared if callable(getattr(model, c, None)))


def check_requirements(
    strategy_name: str,
    requires: Iterable[str],
    tasks: Iterable[str],
    model: Any,
    pool: Pool,
) -> None:
    """Fail with a clear message when ``model`` or ``pool``'s task does not fit the strategy."""
    tasks = frozenset(tasks)
    if pool.task.kind not in tasks:
        raise CapabilityError(
            f"strategy {strategy_name!r} supports {sorted(tasks)} tasks, but the pool's task is "
            f"{pool.task.kind!r}; choose a strategy that supports it (see `mmal list`)"
        )
    requires = frozenset(requires)
    if not requires:
        return
    if model is None:
        raise CapabilityError(f"strategy {strategy_name!r} requires a task model with {sorted(requires)}, got None")
    missing = requires - model_capabilities(model)
    if missing:
        raise CapabilityError(
            f"strategy {strategy_name!r} requires the model capabilities {sorted(missing)}, which "
            f"{type(model).__name__} does not provide (it offers {sorted(model_capabilities(model))}); "
            "use a task model that does (see `mmal list`)"
        )
