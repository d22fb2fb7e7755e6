"""NL-gate fusion classifier: BMMAL's VGGSound model with non-local gate fusion (BMMAL Sec. 4.5,
Fig. 7), on per-modality feature vectors.

The NL-gate is the embedded-Gaussian non-local block (Wang, Girshick, Gupta & He 2018, BMMAL
ref. [41]) used as mid-level audio-visual fusion: the tokens of one modality (the *query*)
attend over the tokens of the others and add what they read to themselves.

* **Encoders and unimodal heads** as in :mod:`mmal.nn.classifier`: one encoder per modality
  gives ``f_m`` (layer ``"enc:<m>"``); Dropout -> linear classifier ``"head:<head>"`` reads
  ``f_m``.
* **Tokens.** ``f_m ∈ R^d`` is read as ``K`` tokens of ``c = d / K`` channels,
  ``X_m ∈ R^{K x c}`` (``tokens=K``). The BMMAL authors gate ResNet feature maps (video
  ``T x H x W`` positions, audio ``T x F``); pre-extracted features have no positions, so the
  encoder's output layer learns ``K`` token slots.
* **Gate.** With ``X_q`` the query's tokens and, for every token ``x_j`` of the other modalities,
  the key / value input ``s_j = [x_j ; mean(X_q)]`` (the authors concatenate the audio map with
  the pooled, tiled video map)::

      A = softmax_j( θ(X_q) φ(S)^T )        [K, K_other]   θ: c -> c/2, φ, g: 2c -> c/2 (no scaling)
      Y = X_q + h( A g(S) )                 [K, c]         h: c/2 -> c (the block's residual)

* **Fused head.** ``z_mm = ReLU(P vec(Y))`` (``P``: d -> d, the authors' post-gate ResNet
  ``layer4``) -> Dropout -> the multimodal linear classifier ``"head:M"``.
* **Loss** (BMMAL Eq. 1): the mean of the cross-entropy terms of all heads, each against the
  fused label (the authors weigh the three terms 1/3 each).
* **Absent modalities** (``predict_masked``, ``embed(absent=...)``): ``f_m = 0``, so their
  tokens are zero (the authors zero the gate's input maps). ``embed(absent=others)["fused"]``
  is the fused classifier's input from modality ``m`` alone: BMMAL's per-modality feature for
  NL-gate fusion (the authors' ``return_latent`` features, see ``docs/strategies/bmmal.md``).

``grad_layers()``: ``enc:<m>``, ``head:M`` and ``head:<head>``; there is no ``fuse:M``, as no
layer of this head reads the concatenation ``[f_1, ..., f_M]``.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import torch
from torch import nn

from ..errors import PoolError
from ..pool import Pool
from .capabilities import PositionsLike, TorchTaskModel
from .classifier import ClassifierNet, MultimodalClassifier


class NonLocalGate(nn.Module):
    """``Y = X_q + h(softmax(θ(X_q) φ(S)^T) g(S))`` with ``S = [X_other ; mean(X_q)]`` per token."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        inter = max(1, channels // 2)
        self.theta = nn.Linear(channels, inter)
        self.phi = nn.Linear(2 * channels, inter)
        self.g = nn.Linear(2 * channels, inter)
        self.h = nn.Linear(inter, channels)

    def forward(self, query: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        """``query [B, K, c]``, ``other [B, K_other, c]`` -> ``[B, K, c]``."""
        pooled = query.mean(1, keepdim=True).expand(-1, other.shape[1], -1)
        s = torch.cat([other, pooled], dim=2)
        attn = torch.softmax(self.theta(query) @ self.phi(s).transpose(1, 2), dim=-1)
        return query + self.h(attn @ self.g(s))


class NLGateNet(ClassifierNet):
    """:class:`ClassifierNet` whose fusion is the NL-gate: the query modality's tokens attend over
    the others', then a ReLU layer; encoders, unimodal heads and layers are the classifier's."""

    def __init__(self, encoders: dict[str, nn.Module], feature_dims: dict[str, int], unimodal_heads: dict[str, str],
                 out_dim: int, dropout: float, query: str, tokens: int) -> None:
        if len(encoders) < 2 or len(set(feature_dims.values())) > 1:
            raise ValueError(f"NL-gate fusion needs two or more modalities of one feature size, got {feature_dims}")
        self.query, self.tokens = query, tokens
        super().__init__(encoders, feature_dims, unimodal_heads, out_dim, dropout, fusion="nlgate")

    def _build_fusion(self, feature_dims: dict[str, int], out_dim: int) -> None:
        dim = feature_dims[self.query]
        self.gate = NonLocalGate(dim // self.tokens)
        self.post = nn.Linear(dim, dim)
        self.mm = nn.Linear(dim, out_dim)

    def fuse(self, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        as_tokens = lambda f: f.reshape(f.shape[0], self.tokens, -1)  # noqa: E731
        other = torch.cat([as_tokens(feats[m]) for m in self.modalities if m != self.query], dim=1)
        return torch.relu(self.post(self.gate(as_tokens(feats[self.query]), other).flatten(1)))


class NLGateClassifier(TorchTaskModel):
    """BMMAL's classifier with NL-gate fusion (module docstring); classification only.

    ``query``: the modality whose tokens attend over the others' (default: the pool's first
    modality; the BMMAL authors let video query audio). ``tokens``: tokens per modality feature
    (``feature_dim`` must be a multiple). Every other parameter is :class:`TorchTaskModel`'s.
    """

    tasks = frozenset({"classification"})
    unimodal_targets = "fused"

    def __init__(self, *, query: str | None = None, tokens: int = 4, **kw) -> None:
        super().__init__(**kw)
        if isinstance(tokens, bool) or not isinstance(tokens, (int, np.integer)) or tokens < 1 or self.feature_dim % tokens:
            raise ValueError(f"tokens={tokens!r} must be a positive divisor of feature_dim={self.feature_dim}")
        self.query, self.tokens = query, int(tokens)

    def _build_net(self, encoders, feature_dims, unimodal_heads, out_dim):
        if self.query is not None and self.query not in encoders:
            raise ValueError(f"query={self.query!r} is not one of the pool's modalities {list(encoders)}")
        query = self.query if self.query is not None else next(iter(encoders))
        return NLGateNet(encoders, feature_dims, unimodal_heads, out_dim, self.dropout, query, self.tokens)

    _training_loss = MultimodalClassifier._training_loss  # BMMAL Eq. 1: the mean of the CE terms

    def embed(self, pool: Pool, positions: PositionsLike = None, *, absent: Iterable[str] = frozenset()) -> dict[str, np.ndarray]:
        """``{modality: f_m, "fused": z_mm}`` (``z_mm``: the input of ``"head:M"``), with the features
        of the ``absent`` modalities set to zero before the gate (as :meth:`predict_masked`)."""
        pos = self._positions(pool, positions)
        absent = frozenset([absent] if isinstance(absent, str) else absent)
        unknown = sorted(absent - set(self.specs_))
        if unknown:
            raise PoolError(f"absent={sorted(absent)} names modalities {unknown} the model does not have; it has {sorted(self.specs_)}")
        parts = ({**o.features, "fused": o.fused} for o in self._outputs(pool, pos, absent))
        shapes = {m: (self.feature_dim,) for m in self.specs_}
        shapes["fused"] = (self.feature_dim,)
        return self._collect(parts, shapes)
