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

Fitted state (optional, checked by ``Strategy.select``): a model that sets
``fit_signature_ = None`` in ``__init__`` and ``fit_signature_ = mmal.model.fit_signature(pool)``
in ``fit`` gets a clear error, before any strategy work, when it is used unfitted or on a pool
whose task or modality layout differs from the one it was fitted on (:func:`check_fitted`).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Protocol, runtime_checkable

import numpy as np

from .errors import CapabilityError, PoolError
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


_MISSING = object()


def fit_signature(pool: Pool) -> dict[str, Any]:
    """What a fitted model depends on: the task and each modality's per-sample shape
    (a sequence's padded length ``L`` left out: another pool may pad differently)."""
    t = pool.task
    mods = {m: [a.ndim, a.shape[-1]] if a.ndim == 3 else [a.ndim, *a.shape[1:]] for m, a in pool.modalities.items()}
    return {"kind": t.kind, "heads": list(t.heads), "n_classes": t.n_classes, "modalities": mods}


def check_fitted(model: Any, pool: Pool, who: str = "") -> None:
    """Raise if a model that records ``fit_signature_`` is unfitted or was fitted on a different layout."""
    sig = getattr(model, "fit_signature_", _MISSING)
    if sig is _MISSING:
        return
    name = type(model).__name__
    at = f"{who}: " if who else ""
    if sig is None:
        raise CapabilityError(f"{at}the task model {name} is not fitted; call model.fit(pool, seed=...) first")
    now = fit_signature(pool)
    diffs = [f"{k} {sig[k]!r} then, {now[k]!r} now" for k in ("kind", "heads", "n_classes") if sig.get(k) != now[k]]
    fitted, here = sig.get("modalities", {}), now["modalities"]
    for m in sorted(set(fitted) | set(here)):
        if m not in here:
            diffs.append(f"modality {m!r} is missing")
        elif m not in fitted:
            diffs.append(f"modality {m!r} is new")
        elif list(fitted[m]) != here[m]:
            diffs.append(f"modality {m!r} is [ndim, dims] {list(fitted[m])} then, {here[m]} now")
    if diffs:
        raise PoolError(f"{at}the task model {name} was fitted on a different pool ({'; '.join(diffs)}); "
                        "refit it on this pool, or give a pool with the same task and modalities")


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
