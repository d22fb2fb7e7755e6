"""LFMIM: layer-wise fusion with modality independence modeling (Sun et al., ACL 2023), the second
task model GRACE is evaluated with (GRACE supplement App. E, Table 2).

Architecture (the paper's description; layer wiring and training settings read from the authors'
code, github.com/sunjunaimer/LFMIM, ``LFMIMv2.py``):

* Tokens. Each modality ``k`` (a sequence ``[B, L, D]`` with lengths, or a vector ``[B, D]`` as one
  step) is standardized, shortened to at most ``max_len`` steps (:func:`chunk_mean`), projected
  to ``d_model`` and preceded by a learned modality token; then LayerNorm -> + sinusoidal
  positions -> Dropout -> LayerNorm. The multimodal stream starts from ``fusion_tokens`` learned
  tokens, prepared the same way.
* Layer-wise fusion. ``layers`` steps; at step ``i`` the multimodal transformer's layer ``i``
  reads its own fusion tokens followed by one segment per modality: at ``i = 0`` the modality's
  tokens ``x_k``, after that ``a_k s_k + b_k x_k``, with ``s_k`` the stream's own output at that
  segment and ``x_k`` the output of unimodal layer ``i - 1`` (learned scalars ``a_k, b_k``). Each
  unimodal transformer (``blocks_per_layer[k]`` blocks per step, default 1; the authors give
  vision 2) runs on its own tokens only: modality independence.
* Blocks (the authors' form): ``x + LN(MHA(LN(x)))`` then ``x + LN(FFN(LN(x)))``, FFN
  ``Linear(d, 4d) -> ReLU -> Dropout -> Linear(4d, d)``, attention over valid tokens only.
* Readout. Final LayerNorm, the mean over each stream's valid tokens, then a linear layer to
  ``feature_dim``: ``f_k`` (layer ``"enc:<m>"``, GRACE's ``W_k``) and ``f_mm``. Unimodal heads
  ``Linear -> ReLU -> Dropout -> Linear`` (``"head:<head>"``) read ``f_k``; the fused head reads all
  of them, ``relu(W [f_1, ..., f_M] + W' f_mm) -> Dropout -> Linear`` (``"fuse:M"`` is ``W``, the part
  reading the modality features, so BMMAL's Eq. 13 blocks are exact; ``"head:M"`` the last).
* Loss: ``sum_h w_h L_h`` over the four heads, each against its own label (the authors' sum of
  cross-entropies, ``beta = 0``); L1 for regression (SIMSv2, as GRACE's task models).

Where we differ from the authors' code, and why:

* Padding: the authors pad audio to 50 frames and attend to the padding; we mask padded keys and
  pool over valid tokens only, so a sample's output does not depend on its batch (the per-sample
  gradients of :mod:`mmal.grads` need that) or on its padding.
* Pooling: the authors weight positions by a learned vector over fixed lengths; with variable
  lengths we take the mean over valid tokens, and add the ``feature_dim`` projection so GRACE's
  ``W_k`` is a linear layer that both the unimodal and the fused head read.
* Length: the authors keep the first 50 audio frames; SIMSv2 audio has 925, so a sequence longer
  than ``max_len`` is averaged over ``max_len`` contiguous chunks of its valid steps instead.
* Heads: the authors' are 3-4 layer MLPs; ours have one hidden layer (``hidden``, ``fused_hidden``).
  The mixing scalars ``a_k, b_k`` start at 1 (the authors draw them from N(0, 1)).
* Training uses the shared fit loop (Adam, ``lr``, ``epochs``); the authors train 20 epochs of SGD
  (lr 0.005, decayed as 1 / (epoch + 1)), batch 24 per GPU, ``d_model`` 1024, 4 layers, 16 heads.
* ``predict_masked``: an absent modality's ``f_k`` is zero in the fused head and its tokens are
  masked out of the multimodal stream (it is not seen at all). MC dropout samples the Dropout
  layers; attention-weight dropout is training-only.
"""

from __future__ import annotations

import math
from itertools import accumulate
from typing import Mapping

import numpy as np
import torch
from torch import nn

from ..pool import MAIN_HEAD, Pool
from .capabilities import NetOutput, TorchTaskModel
from .encoders import Standardize
from .training import ModalitySpec, feature_stats


def chunk_mean(x: torch.Tensor, lengths: torch.Tensor, max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``[B, L, D]`` -> ``[B, min(L, max_len), D]``: a sample with ``n > max_len`` valid steps keeps the
    means of ``max_len`` contiguous chunks (step ``j`` -> chunk ``floor(j max_len / n)``, each nonempty);
    shorter ones are unchanged. Returns the new lengths ``min(n, max_len)``. Padding is never read."""
    B, L, D = x.shape
    n = lengths.to(x.device).clamp(min=1)
    if L <= max_len:
        return x, n
    j = torch.arange(L, device=x.device)[None, :]
    idx = torch.where(n[:, None] > max_len, torch.div(j * max_len, n[:, None], rounding_mode="floor"), j)
    valid = j < n[:, None]
    idx = torch.where(valid, idx, torch.full_like(idx, max_len))  # padding goes to a discarded chunk
    sums = x.new_zeros(B, max_len + 1, D).scatter_add_(1, idx[..., None].expand(-1, -1, D), x)
    counts = x.new_zeros(B, max_len + 1).scatter_add_(1, idx, valid.to(x.dtype))
    return sums[:, :max_len] / counts[:, :max_len, None].clamp(min=1), torch.clamp(n, max=max_len)


def sinusoid(length: int, dim: int, device) -> torch.Tensor:
    """The fixed sinusoidal position table ``[length, dim]`` (sin on even, cos on odd channels)."""
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim, device=device)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)[:, : dim // 2]
    return table


class TokenPrep(nn.Module):
    """LayerNorm -> + positions -> Dropout -> LayerNorm, on ``[B, T, d]``."""

    def __init__(self, d_model: int, dropout: float) -> None:
        super().__init__()
        self.ln_in, self.drop, self.ln_out = nn.LayerNorm(d_model), nn.Dropout(dropout), nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.ln_in(x) + sinusoid(x.shape[1], x.shape[2], x.device)
        return self.ln_out(self.drop(x))


class ModalityTokens(nn.Module):
    """One modality -> ``(tokens [B, 1 + L', d_model], valid [B, 1 + L'])``: standardize -> :func:`chunk_mean`
    -> Linear -> a learned modality token first -> :class:`TokenPrep`."""

    def __init__(self, in_dim: int, d_model: int, max_len: int, dropout: float, mean=None, std=None) -> None:
        super().__init__()
        self.max_len = int(max_len)
        self.norm = Standardize(mean if mean is not None else np.zeros(in_dim), std if std is not None else np.ones(in_dim))
        self.proj = nn.Linear(in_dim, d_model)
        self.token = nn.Parameter(torch.randn(d_model) * d_model ** -0.5)
        self.prep = TokenPrep(d_model, dropout)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if x.dim() == 2:  # a feature vector: one step
            x = x[:, None, :]
        if lengths is None:
            lengths = torch.full((x.shape[0],), x.shape[1], dtype=torch.int64)
        x, n = chunk_mean(self.norm(x), lengths, self.max_len)
        tokens = torch.cat([self.token.expand(x.shape[0], 1, -1), self.proj(x)], 1)
        valid = torch.arange(tokens.shape[1], device=x.device)[None, :] <= n[:, None]  # token + n steps
        return self.prep(tokens), valid


class Block(nn.Module):
    """``x + LN(MHA(LN(x)))``, then ``x + LN(FFN(LN(x)))``; padded keys (``valid`` False) are ignored."""

    def __init__(self, d_model: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.ln1, self.ln1b, self.ln2, self.ln2b = (nn.LayerNorm(d_model) for _ in range(4))
        self.attn = nn.MultiheadAttention(d_model, heads, dropout=dropout, batch_first=True)
        self.ffn = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.ReLU(), nn.Dropout(dropout), nn.Linear(4 * d_model, d_model))

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        h = self.ln1(x)
        x = x + self.ln1b(self.attn(h, h, h, key_padding_mask=~valid, need_weights=False)[0])
        return x + self.ln2b(self.ffn(self.ln2(x)))


def masked_mean(x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    w = valid.to(x.dtype)[..., None]
    return (x * w).sum(1) / w.sum(1).clamp(min=1.0)


def _head(in_dim: int, hidden: int, out_dim: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, out_dim))


class LFMIMNet(nn.Module):
    def __init__(self, inputs: dict[str, ModalityTokens], unimodal_heads: dict[str, str], out_dim: int, *,
                 d_model: int, layers: int, heads: int, fusion_tokens: int, blocks_per_layer: dict[str, int],
                 feature_dim: int, hidden: int, fused_hidden: int, dropout: float) -> None:
        super().__init__()
        self.modalities = list(inputs)
        self.heads = [unimodal_heads[m] for m in self.modalities]
        self.layers, self.n_fusion = int(layers), int(fusion_tokens)
        M = len(self.modalities)
        self.inputs = nn.ModuleList(inputs[m] for m in self.modalities)
        self.depth = [int(blocks_per_layer.get(m, 1)) for m in self.modalities]
        self.unimodal = nn.ModuleList(
            nn.ModuleList(Block(d_model, heads, dropout) for _ in range(layers * k)) for k in self.depth)
        self.fusion_init = nn.Parameter(torch.randn(fusion_tokens, d_model) * d_model ** -0.5)
        self.fusion_prep = TokenPrep(d_model, dropout)
        self.multimodal = nn.ModuleList(Block(d_model, heads, dropout) for _ in range(layers))
        self.mix = nn.Parameter(torch.ones(M, 2))  # (a_k, b_k): a_k * stream segment + b_k * unimodal output
        self.ln_post = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(M + 1))
        self.outs = nn.ModuleList(nn.Linear(d_model, feature_dim) for _ in range(M))  # "enc:<m>": f_k
        self.mm_out = nn.Linear(d_model, feature_dim)  # f_mm
        self.unimodal_heads = nn.ModuleList(_head(feature_dim, hidden, out_dim, dropout) for _ in range(M))
        self.fuse = nn.Linear(M * feature_dim, fused_hidden)  # "fuse:M": reads [f_1, ..., f_M]
        self.fuse_mm = nn.Linear(feature_dim, fused_hidden, bias=False)  # the same layer's f_mm columns
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(fused_hidden, out_dim)

    def forward(self, batch, absent=frozenset()) -> NetOutput:
        xs, valids = zip(*(inp(*batch[m]) for m, inp in zip(self.modalities, self.inputs)))
        xs, valids = list(xs), list(valids)
        B = xs[0].shape[0]
        seen = [torch.zeros_like(v) if m in absent else v for m, v in zip(self.modalities, valids)]  # absent: unseen
        stream_valid = torch.cat([valids[0].new_ones(B, self.n_fusion), *seen], 1)
        stream = self.fusion_prep(self.fusion_init.expand(B, -1, -1))
        bounds = list(accumulate((x.shape[1] for x in xs), initial=0))  # each modality's segment in the stream
        for i in range(self.layers):
            if i == 0:
                segs = xs
            else:
                own = stream[:, self.n_fusion :]
                segs = [self.mix[k, 0] * own[:, bounds[k] : bounds[k + 1]] + self.mix[k, 1] * x for k, x in enumerate(xs)]
            stream = torch.cat([stream[:, : self.n_fusion], *segs], 1)
            for k, depth in enumerate(self.depth):
                for block in self.unimodal[k][i * depth : (i + 1) * depth]:
                    xs[k] = block(xs[k], valids[k])
            stream = self.multimodal[i](stream, stream_valid)
        feats = {}
        for k, m in enumerate(self.modalities):
            f = self.outs[k](masked_mean(self.ln_post[k](xs[k]), valids[k]))
            feats[m] = torch.zeros_like(f) if m in absent else f
        f_mm = self.mm_out(masked_mean(self.ln_post[-1](stream), stream_valid))
        h = torch.relu(self.fuse(torch.cat([feats[m] for m in self.modalities], 1)) + self.fuse_mm(f_mm))
        out = {MAIN_HEAD: self.out(self.drop(h))}
        for k, (m, hd) in enumerate(zip(self.modalities, self.heads)):
            out[hd] = self.unimodal_heads[k](feats[m])
        return NetOutput(out, feats, h)

    def grad_layers(self) -> dict[str, nn.Linear]:
        layers = {f"enc:{m}": lin for m, lin in zip(self.modalities, self.outs)}
        layers[f"fuse:{MAIN_HEAD}"] = self.fuse
        layers[f"head:{MAIN_HEAD}"] = self.out
        layers.update({f"head:{h}": head[-1] for h, head in zip(self.heads, self.unimodal_heads)})
        return layers


class LFMIM(TorchTaskModel):
    """LFMIM (Sun et al., ACL 2023; GRACE supplement App. E); regression (L1) or classification (CE).

    ``d_model``, ``layers``, ``heads``: the transformers' width, fusion steps and attention heads
    (the authors: 1024, 4, 16; defaults small for CPU); ``blocks_per_layer``: unimodal blocks per
    step by modality (the authors: ``{"vision": 2}``); ``fusion_tokens``: the multimodal stream's
    learned tokens (4); ``max_len``: steps kept per sequence (chunk means beyond it; the authors
    keep 50 audio frames); ``loss_weights``: by head name, default 1 each; ``hidden`` /
    ``fused_hidden``: the heads' widths; ``feature_dim``: ``f_k``. The rest as
    :class:`~mmal.nn.capabilities.TorchTaskModel` (``encoders``, ``lstm_layers`` and ``text_pooling``
    do not apply: every modality gets a transformer).
    """

    def __init__(self, *, d_model: int = 32, layers: int = 2, heads: int = 4, fusion_tokens: int = 4,
                 blocks_per_layer: Mapping[str, int] | None = None, max_len: int = 50,
                 loss_weights: Mapping[str, float] | None = None, fused_hidden: int = 32, **kw) -> None:
        super().__init__(**kw)
        if self.encoders:
            raise ValueError(f"encoders={self.encoders}: LFMIM builds a transformer for every modality; drop encoders=")
        for name, v in (("d_model", d_model), ("layers", layers), ("heads", heads), ("fusion_tokens", fusion_tokens),
                        ("max_len", max_len)):
            if int(v) < 1:
                raise ValueError(f"{name} must be >= 1, got {v}")
        if d_model % heads:
            raise ValueError(f"d_model={d_model} must be divisible by heads={heads} (each head gets d_model / heads)")
        self.blocks_per_layer = dict(blocks_per_layer or {})
        bad = {m: k for m, k in self.blocks_per_layer.items() if int(k) < 1}
        if bad:
            raise ValueError(f"blocks_per_layer={bad}: every count must be >= 1")
        self.d_model, self.layers, self.heads, self.fusion_tokens = int(d_model), int(layers), int(heads), int(fusion_tokens)
        self.max_len, self.fused_hidden = int(max_len), int(fused_hidden)
        self.loss_weights = dict(loss_weights or {})

    def fit(self, pool: Pool, *, seed: int = 0) -> "LFMIM":
        unknown = sorted(set(self.blocks_per_layer) - set(pool.modality_names))
        if unknown:
            raise ValueError(f"blocks_per_layer names modalities {unknown} that the pool lacks; its modalities are "
                             f"{list(pool.modality_names)}")
        return super().fit(pool, seed=seed)

    def _encoder(self, pool: Pool, spec: ModalitySpec, pos) -> ModalityTokens:
        if spec.kind == "tokens":
            raise ValueError(f"LFMIM reads feature vectors [N, D] or sequences [N, L, D]; modality {spec.name!r} holds "
                             "token ids: give it as features (e.g. text_format='features' for food101-synthetic)")
        mean, std = feature_stats(pool, spec.name, pos) if self.standardize else (None, None)
        return ModalityTokens(spec.dim, self.d_model, self.max_len, self.dropout, mean, std)

    def _build_net(self, encoders, feature_dims, unimodal_heads, out_dim):
        return LFMIMNet(encoders, unimodal_heads, out_dim, d_model=self.d_model, layers=self.layers, heads=self.heads,
                        fusion_tokens=self.fusion_tokens, blocks_per_layer=self.blocks_per_layer,
                        feature_dim=self.feature_dim, hidden=self.hidden, fused_hidden=self.fused_hidden,
                        dropout=self.dropout)

    def _training_loss(self, out: NetOutput, targets: dict[str, torch.Tensor]) -> torch.Tensor:
        return sum(self.loss_weights.get(h, 1.0) * self.sample_loss(pred, targets[h]).mean() for h, pred in out.heads.items())
