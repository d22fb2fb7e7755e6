"""Shared plumbing of the torch task models: device choice, seeding, batches, the fit loop.

* Device ``"auto"`` is CUDA when available, else CPU; everything runs in float32.
* Seeding never touches global RNG state: work runs inside ``torch.random.fork_rng`` with
  ``torch.manual_seed(seed)``, and batch order comes from ``numpy.random.default_rng(seed)``.
* A modality ``[N, D]`` (or ``[N, ...]``, flattened) is a feature vector; ``[N, L, D]`` is a
  padded sequence with ``pool.lengths[name]`` (all ``L`` steps valid when absent). A batch is
  trimmed to its longest valid length before it reaches the model.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Iterator, Mapping

import numpy as np
import torch

from ..errors import PoolError
from ..kernels.backend import few_threads_for_small
from ..pool import Pool


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> ``cuda`` when available, else ``cpu``; anything else is passed to torch."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Run a block with torch's RNG seeded to ``seed``; the global RNG state is restored after."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        yield


@dataclass(frozen=True)
class ModalitySpec:
    """What the model learned about one modality at fit time."""

    name: str
    kind: str  # "vector", "sequence" or "tokens"
    dim: int  # feature dim (flattened for vectors; the padded length for tokens)


def modality_specs(pool: Pool) -> dict[str, ModalitySpec]:
    """A modality is ``tokens`` (integer ids ``[N, L]``, 0 = padding), a ``sequence`` ``[N, L, D]`` or a ``vector``."""
    specs = {}
    for name, arr in pool.modalities.items():
        if arr.ndim == 2 and np.issubdtype(arr.dtype, np.integer):
            specs[name] = ModalitySpec(name, "tokens", int(arr.shape[1]))
        elif arr.ndim == 3:
            specs[name] = ModalitySpec(name, "sequence", int(arr.shape[2]))
        else:
            specs[name] = ModalitySpec(name, "vector", int(np.prod(arr.shape[1:])))
    return specs


def check_specs(fitted: Mapping[str, ModalitySpec], pool: Pool) -> None:
    """Raise if ``pool`` does not carry the modalities (names, kinds, dims) the model was fit on."""
    now = modality_specs(pool)
    missing = sorted(set(fitted) - set(now))
    if missing:
        raise PoolError(f"the pool lacks modalities {missing} that the model was fit on; its modalities are {sorted(now)}")
    for name, spec in fitted.items():
        if now[name] != spec:
            raise PoolError(f"modality {name!r} is {now[name].kind} of dim {now[name].dim}, but the model was fit on "
                            f"{spec.kind} of dim {spec.dim}; use the same feature layout for fit and inference")


def valid_lengths(pool: Pool, name: str, positions: np.ndarray) -> np.ndarray:
    arr = pool.modalities[name]
    if name in pool.lengths:
        return pool.lengths[name][positions]
    return np.full(len(positions), arr.shape[1], dtype=np.int64)


def feature_stats(pool: Pool, name: str, positions: np.ndarray, eps: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and std of a modality over ``positions`` (valid steps of a sequence).

    Used to standardize inputs (SIMS vision features are on a raw scale). Dimensions with
    no spread get std 1.
    """
    arr = pool.modalities[name]
    x = np.asarray(arr[positions], dtype=np.float64)
    if arr.ndim == 3:
        lens = valid_lengths(pool, name, positions)
        mask = np.arange(x.shape[1])[None, :] < lens[:, None]
        x = x[mask]
    else:
        x = x.reshape(len(positions), -1)
    mean, std = x.mean(0), x.std(0)
    std = np.where(std > eps, std, 1.0)
    return mean.astype(np.float32), std.astype(np.float32)


Batch = dict[str, tuple[torch.Tensor, torch.Tensor | None]]


def load_batch(pool: Pool, specs: Mapping[str, ModalitySpec], positions: np.ndarray, device: torch.device) -> Batch:
    """``{modality: (x, lengths)}`` float32 tensors on ``device``; sequences trimmed to the longest valid length."""
    out: Batch = {}
    for name, spec in specs.items():
        arr = pool.modalities[name]
        if spec.kind == "tokens":
            out[name] = (torch.from_numpy(np.asarray(arr[positions], dtype=np.int64)).to(device), None)
        elif spec.kind == "sequence":
            lens = valid_lengths(pool, name, positions)
            x = np.asarray(arr[positions, : int(lens.max())], dtype=np.float32)  # copies the trimmed steps only
            out[name] = (torch.from_numpy(x).to(device), torch.from_numpy(np.asarray(lens, dtype=np.int64)))
        else:
            x = np.asarray(arr[positions], dtype=np.float32).reshape(len(positions), -1)
            out[name] = (torch.from_numpy(x).to(device), None)
    return out


def chunks(positions: np.ndarray, size: int) -> Iterator[np.ndarray]:
    for start in range(0, len(positions), size):
        yield positions[start : start + size]


def train_batches(n: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """A shuffled split of ``range(n)`` into batches; a trailing batch of one sample joins the one before
    (BatchNorm cannot train on a single sample)."""
    order = rng.permutation(n)
    batches = [order[i : i + batch_size] for i in range(0, n, batch_size)]
    if len(batches) > 1 and len(batches[-1]) == 1:
        last = batches.pop()
        batches[-1] = np.concatenate([batches[-1], last])
    return batches


OPTIMIZERS = ("adam", "adamw")


def auto_epochs(n: int, batch_size: int, *, min_steps: int, min_epochs: int, n_classes: int | None = None) -> int:
    """The convergence-aware budget of ``epochs=None``: the fewest whole epochs that give at least
    ``min_steps * max(1, n_classes / batch)`` optimizer steps and at least ``min_epochs`` epochs
    over ``n`` labeled samples (``batch = min(batch_size, n)``; ``n_classes``: the classes among
    the labeled samples, None for regression).

    A fixed epoch count gives a 20-sample set one step per epoch and a 2,000-sample set 63, so
    small labeled sets stay under-trained; a step floor fixes that at little cost (small batches).
    With more classes than a batch holds, a class is a target in about ``batch / n_classes`` of
    the steps, so the floor grows by that factor (measured: 101 classes need about 3x the steps
    of 10; docs/task-models.md)."""
    n = max(int(n), 1)
    per_epoch = max(1, len(train_batches(n, batch_size, np.random.default_rng(0))))
    steps = int(min_steps)
    if n_classes:
        steps = int(np.ceil(steps * max(1.0, n_classes / min(batch_size, n))))
    return max(int(min_epochs), -(-steps // per_epoch))


def make_optimizer(name: str, groups: list[dict], *, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """``"adam"`` (L2 penalty added to the gradient) or ``"adamw"`` (decoupled weight decay); a group's
    own ``lr`` / ``weight_decay`` override the defaults."""
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")
    cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
    try:  # the fused kernel: one call per step instead of ~10 per parameter (4x faster on CPU for small nets)
        return cls(groups, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):  # a torch or device without it
        return cls(groups, lr=lr, weight_decay=weight_decay)


def fit_network(
    net: torch.nn.Module,
    pool: Pool,
    specs: Mapping[str, ModalitySpec],
    positions: np.ndarray,
    loss_fn: Callable[[torch.nn.Module, Batch, np.ndarray], torch.Tensor],
    *,
    epochs: int,
    lr: float,
    weight_decay: float,
    batch_size: int,
    seed: int,
    device: torch.device,
    optimizer: str = "adam",
    param_groups: list[dict] | None = None,
    on_epoch_end: Callable[[int, float], bool | None] | None = None,
) -> list[float]:
    """Adam (or AdamW) over shuffled mini-batches of ``positions`` for ``epochs`` epochs; returns the
    mean loss per epoch.

    ``loss_fn(net, batch, batch_positions)`` gives the scalar training loss of one batch.
    ``param_groups`` are torch optimizer groups (default: every trainable parameter with ``lr`` and
    ``weight_decay``). ``on_epoch_end(epoch, mean_loss)`` runs after each epoch (0-based), the net
    still in train mode; returning True stops training there.
    Call inside :func:`seeded` so dropout and init are reproducible.
    """
    rng = np.random.default_rng(seed)
    groups = param_groups if param_groups is not None else [{"params": [p for p in net.parameters() if p.requires_grad]}]
    opt = make_optimizer(optimizer, groups, lr=lr, weight_decay=weight_decay)
    history = []
    work = batch_size * sum(p.numel() for g in groups for p in g["params"])
    with few_threads_for_small(work if device.type == "cpu" else 1 << 40):
        net.train()
        for epoch in range(epochs):
            total, count = 0.0, 0
            for idx in train_batches(len(positions), batch_size, rng):
                pos = positions[idx]
                single = len(pos) == 1
                if single:  # a single labeled sample: BatchNorm must use its running statistics
                    set_batchnorm_eval(net)
                loss = loss_fn(net, load_batch(pool, specs, pos, device), pos)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(pos)
                count += len(pos)
                if single:
                    net.train()
            history.append(total / max(count, 1))
            if on_epoch_end is not None:
                if on_epoch_end(epoch, history[-1]):
                    break
                if not net.training:  # the callback evaluated the net
                    net.train()
    opt.zero_grad(set_to_none=True)  # keep no gradient buffers around after training
    net.eval()
    return history


_BATCHNORM = (torch.nn.modules.batchnorm._BatchNorm,)
_DROPOUT = (torch.nn.modules.dropout._DropoutNd, torch.nn.RNNBase)


def set_batchnorm_eval(net: torch.nn.Module) -> None:
    for m in net.modules():
        if isinstance(m, _BATCHNORM):
            m.eval()


def mc_dropout_mode(net: torch.nn.Module) -> None:
    """Eval mode except dropout (``nn.Dropout*`` and the inter-layer dropout of RNNs), which stays on:
    MC dropout with BatchNorm frozen on its running statistics."""
    net.eval()
    for m in net.modules():
        if isinstance(m, _DROPOUT):
            m.train()
