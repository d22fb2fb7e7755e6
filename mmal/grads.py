"""Per-sample last-layer gradient embeddings in factored (rank-1) form (DESIGN §5).

For a linear layer ``f = W h`` the gradient of one sample's loss w.r.t. ``W`` is the outer
product ``g = delta ⊗ h`` with ``delta = dL/df``. :class:`RankOne` stores ``delta [N, c]``
and ``h [N, d]`` and never builds ``g [N, c*d]`` except on request (:meth:`RankOne.explicit`,
for tests and naive baselines). An embedding made of several layers (BMMAL's per-modality
blocks of the fused classifier, Eq. 13) is a sequence of RankOne blocks whose explicit form
is their concatenation.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class RankOne:
    """``g_i = delta_i ⊗ h_i`` for every sample ``i`` (flattened row-major: ``g[a*d + b] = delta[a] h[b]``)."""

    delta: np.ndarray  # [N, c]
    h: np.ndarray  # [N, d]

    def __post_init__(self) -> None:
        if self.delta.ndim != 2 or self.h.ndim != 2 or self.delta.shape[0] != self.h.shape[0]:
            raise ValueError(f"RankOne needs delta [N, c] and h [N, d], got {self.delta.shape} and {self.h.shape}")

    def __len__(self) -> int:
        return self.delta.shape[0]

    def take(self, positions: np.ndarray) -> "RankOne":
        return RankOne(self.delta[positions], self.h[positions])

    def scaled(self, weights: np.ndarray) -> "RankOne":
        """Each sample's gradient times a scalar weight (scales ``delta``)."""
        return RankOne(self.delta * np.asarray(weights, dtype=self.delta.dtype)[:, None], self.h)

    def sq_norms(self) -> np.ndarray:
        """``||g_i||^2 = ||delta_i||^2 ||h_i||^2``."""
        return np.einsum("nc,nc->n", self.delta, self.delta) * np.einsum("nd,nd->n", self.h, self.h)

    def explicit(self) -> np.ndarray:
        """The materialized ``[N, c*d]`` embedding. Only for small inputs and naive baselines."""
        return np.einsum("nc,nd->ncd", self.delta, self.h).reshape(len(self), -1)


Blocks = Sequence[RankOne]
"""An embedding that is the concatenation of rank-1 blocks ``[g^1_i, g^2_i, ...]``."""


def explicit(blocks: RankOne | Blocks) -> np.ndarray:
    """Materialize a RankOne or a concatenation of blocks."""
    if isinstance(blocks, RankOne):
        return blocks.explicit()
    return np.concatenate([b.explicit() for b in blocks], axis=1)


# ------------------------------------------------------------------ factored algebra
# Every helper takes a RankOne or a sequence of blocks (the concatenated embedding
# [g^1_i, g^2_i, ...]); inner products of a concatenation add over blocks. Nothing builds g.


def _as_blocks(x: RankOne | Blocks) -> list[RankOne]:
    blocks = [x] if isinstance(x, RankOne) else list(x)
    if not blocks:
        raise ValueError("an embedding needs at least one RankOne block")
    n = len(blocks[0])
    if any(len(b) != n for b in blocks):
        raise ValueError(f"blocks of one embedding must have the same number of samples, got {[len(b) for b in blocks]}")
    return blocks


def _check_pair(a: list[RankOne], b: list[RankOne]) -> None:
    if len(a) != len(b) or any(x.delta.shape[1] != y.delta.shape[1] or x.h.shape[1] != y.h.shape[1] for x, y in zip(a, b)):
        raise ValueError(
            "the two embeddings have different block shapes "
            f"{[(x.delta.shape[1], x.h.shape[1]) for x in a]} vs {[(y.delta.shape[1], y.h.shape[1]) for y in b]}; "
            "compare gradients of the same layers"
        )


def sq_norms(x: RankOne | Blocks) -> np.ndarray:
    """``||g_i||^2 = sum_blocks ||delta_i||^2 ||h_i||^2``, shape ``[N]``."""
    return sum(b.sq_norms() for b in _as_blocks(x))


def norms(x: RankOne | Blocks) -> np.ndarray:
    """``||g_i||``, shape ``[N]``."""
    return np.sqrt(sq_norms(x))


def inner(a: RankOne | Blocks, b: RankOne | Blocks | None = None) -> np.ndarray:
    """Pairwise ``<g_i, g'_j> = sum_blocks <delta_i, delta'_j> <h_i, h'_j>``, shape ``[Na, Nb]``.

    Costs ``O(Na Nb (c + d))`` instead of ``O(Na Nb c d)``; tile ``a`` and ``b`` for big pools.
    """
    A = _as_blocks(a)
    B = A if b is None else _as_blocks(b)
    _check_pair(A, B)
    return sum((x.delta @ y.delta.T) * (x.h @ y.h.T) for x, y in zip(A, B))


def sq_dists(a: RankOne | Blocks, b: RankOne | Blocks | None = None) -> np.ndarray:
    """Pairwise squared Euclidean distances ``||g_i - g'_j||^2`` (clipped at 0), ``[Na, Nb]``."""
    na = sq_norms(a)
    nb = na if b is None else sq_norms(b)
    return np.maximum(na[:, None] + nb[None, :] - 2.0 * inner(a, b), 0.0)


def dists(a: RankOne | Blocks, b: RankOne | Blocks | None = None) -> np.ndarray:
    """Pairwise Euclidean distances ``||g_i - g'_j||``, ``[Na, Nb]``."""
    return np.sqrt(sq_dists(a, b))


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.zeros(np.broadcast_shapes(num.shape, den.shape), dtype=np.result_type(num, den))
    np.divide(num, den, out=out, where=den > 0)
    return out


def cosines(a: RankOne | Blocks, b: RankOne | Blocks | None = None) -> np.ndarray:
    """Pairwise cosine similarities ``<g_i, g'_j> / (||g_i|| ||g'_j||)`` (0 where a norm is 0)."""
    na = norms(a)
    nb = na if b is None else norms(b)
    return _safe_div(inner(a, b), na[:, None] * nb[None, :])


def rowwise_inner(a: RankOne | Blocks, b: RankOne | Blocks) -> np.ndarray:
    """``<g_i, g'_i>`` for aligned samples (two gradients of each sample), shape ``[N]``."""
    A, B = _as_blocks(a), _as_blocks(b)
    _check_pair(A, B)
    if len(A[0]) != len(B[0]):
        raise ValueError(f"rowwise comparison needs the same samples on both sides, got {len(A[0])} and {len(B[0])}")
    return sum(
        np.einsum("nc,nc->n", x.delta, y.delta) * np.einsum("nd,nd->n", x.h, y.h) for x, y in zip(A, B)
    )


def rowwise_cosines(a: RankOne | Blocks, b: RankOne | Blocks) -> np.ndarray:
    """``cos(g_i, g'_i)`` for aligned samples (GRACE Eq. 6's ``Sim(g_k, g_{m_k})``), 0 where a norm is 0.

    For two gradients of one layer and one sample (same ``h``) this equals ``cos(delta_i, delta'_i)``.
    """
    return _safe_div(rowwise_inner(a, b), norms(a) * norms(b))


def add(a: RankOne, b: RankOne) -> RankOne:
    """``g + g'`` for two gradients of the same layer on the same samples (same input ``h``):
    ``delta ⊗ h + delta' ⊗ h = (delta + delta') ⊗ h`` stays rank one (GRACE Eqs. 4-5: ``g_k + g_{m_k}``)."""
    if a.h.shape != b.h.shape or not (a.h is b.h or np.array_equal(a.h, b.h)):
        raise ValueError("add() needs two gradients of the same layer on the same samples (identical h); "
                         "for different layers concatenate them as blocks instead")
    return RankOne(a.delta + b.delta, a.h)


# ----------------------------------------------------- batched delta extraction (torch)
# Imported lazily: the core does not import torch at import time.


class capture_linear:
    """Context manager recording the input ``h`` and output ``f`` of named linear layers during
    one forward pass: ``with capture_linear({"head:M": net.fc}) as rec: net(x)`` then
    ``rec["head:M"] == (h [B, in], f [B, out])``. A layer applied twice in one pass is an
    error (its gradient would not be one outer product per sample)."""

    def __init__(self, layers):
        self.layers = dict(layers)
        self.records: dict = {}
        self._handles: list = []

    def __enter__(self) -> dict:
        for name, module in self.layers.items():
            def hook(mod, inputs, output, name=name):
                if name in self.records:
                    raise RuntimeError(f"layer {name!r} ran twice in one forward pass; factored gradients need it "
                                       "applied once per sample")
                if output.dim() != 2:
                    raise RuntimeError(f"layer {name!r} output has shape {tuple(output.shape)}; factored gradients "
                                       "need a linear layer applied to [batch, features]")
                self.records[name] = (inputs[0], output)

            self._handles.append(module.register_forward_hook(hook))
        return self.records

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()


class grad_only_at(contextlib.ContextDecorator):
    """Context manager: only the parameters of ``layers`` require grad inside ``net`` (restored after).

    With it, a forward records the autograd graph from those layers on only; everything
    upstream of them (LSTM encoders, BERT) runs as cheaply as inference."""

    def __init__(self, net, layers) -> None:
        self.net, self.keep = net, {id(p) for layer in layers for p in layer.parameters()}
        self._saved: list = []

    def __enter__(self):
        self._saved = [(p, p.requires_grad) for p in self.net.parameters()]
        for p, _ in self._saved:
            p.requires_grad_(id(p) in self.keep)
        return self

    def __exit__(self, *exc) -> None:
        for p, flag in self._saved:
            p.requires_grad_(flag)
        self._saved = []


def factored_deltas(losses, outputs, pairs):
    """``delta = dL_i / df_i`` for every sample of a batch and every ``(head, layer)`` pair.

    ``losses[head]`` is the per-sample loss ``[B]`` of ``head`` and ``outputs[layer]`` the
    layer output ``f [B, c]`` captured in the same forward pass. Samples do not interact in
    an eval-mode forward, so ``d(sum_j L_j)/df_i = dL_i/df_i``: one backward of the summed
    loss per head (to all of that head's layers at once) gives every sample's ``delta``.
    A layer the head's loss does not depend on gets ``delta = 0``.
    """
    import torch

    by_head: dict[str, list[str]] = {}
    for head, layer in pairs:
        by_head.setdefault(head, [])
        if layer not in by_head[head]:
            by_head[head].append(layer)
    out = {}
    heads = list(by_head)
    for i, head in enumerate(heads):
        layers = by_head[head]
        tensors = [outputs[layer] for layer in layers]
        total = losses[head].sum()
        if total.requires_grad:
            grads = torch.autograd.grad(total, tensors, retain_graph=i < len(heads) - 1, allow_unused=True)
        else:  # the head's loss depends on none of the layers
            grads = [None] * len(tensors)
        for layer, t, g in zip(layers, tensors, grads):
            out[(head, layer)] = torch.zeros_like(t) if g is None else g
    return out


def rank_one_from_torch(delta, h, *, bias: bool = False) -> RankOne:
    """A float32 numpy :class:`RankOne` from torch ``delta [B, c]`` and ``h [B, d]`` (bias: a column of ones on ``h``)."""
    d = delta.detach().float().cpu().numpy()
    x = h.detach().float().cpu().numpy()
    if bias:
        x = np.concatenate([x, np.ones((x.shape[0], 1), dtype=np.float32)], axis=1)
    return RankOne(np.ascontiguousarray(d), np.ascontiguousarray(x))


def concat(parts: Sequence[RankOne]) -> RankOne:
    """Stack the samples of several RankOne (batches) into one."""
    return RankOne(np.concatenate([p.delta for p in parts]), np.concatenate([p.h for p in parts]))
