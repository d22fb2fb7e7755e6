"""GRACE's multi-task late-fusion MSA model (GRACE Sec. 3.2, the CH-SIMS v2 framework).

Per-modality encoders give ``f_k`` (text: BERT features, audio / vision: Linear + stacked
BiLSTM; see :mod:`mmal.nn.encoders`); each ``f_k`` feeds a unimodal FC head (Dropout ->
Linear, layer ``"head:<head>"``); the concatenation ``f_m = [f_t, f_a, f_v]`` feeds an MLP
(Dropout -> Linear -> [BatchNorm] -> ReLU -> Dropout -> Linear, the last one ``"head:M"``) for
the fused prediction. Loss (GRACE Eq. 3): ``sum_k w_k L_k`` with ``w = {T: 0.2, A: 0.8,
V: 0.4, M: 1.0}`` by head name (a head not listed weighs 1), ``L_k`` the batch mean of L1
(regression, Eq. 1) or cross-entropy (classification, Eq. 2). A unimodal head whose label is
missing learns the fused label.
"""

from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from ..pool import MAIN_HEAD
from .capabilities import NetOutput, TorchTaskModel

GRACE_LOSS_WEIGHTS = {"T": 0.2, "A": 0.8, "V": 0.4, "M": 1.0}


class LateFusionNet(nn.Module):
    def __init__(self, encoders: dict[str, nn.Module], feature_dims: dict[str, int], unimodal_heads: dict[str, str],
                 out_dim: int, fused_hidden: int, dropout: float, batch_norm: bool) -> None:
        super().__init__()
        self.modalities = list(encoders)
        self.heads = [unimodal_heads[m] for m in self.modalities]
        self.encoders = nn.ModuleList(encoders[m] for m in self.modalities)
        self.unimodal = nn.ModuleList(nn.Sequential(nn.Dropout(dropout), nn.Linear(feature_dims[m], out_dim))
                                      for m in self.modalities)
        total = sum(feature_dims.values())
        self.fusion = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(total, fused_hidden),
            *([nn.BatchNorm1d(fused_hidden)] if batch_norm else []), nn.ReLU(), nn.Dropout(dropout),
        )
        self.fused_out = nn.Linear(fused_hidden, out_dim)

    def forward(self, batch, absent=frozenset()) -> NetOutput:
        feats = {}
        for m, enc in zip(self.modalities, self.encoders):
            f = enc(*batch[m])
            feats[m] = torch.zeros_like(f) if m in absent else f
        z = self.fusion(torch.cat([feats[m] for m in self.modalities], dim=1))
        heads = {MAIN_HEAD: self.fused_out(z)}
        for m, h, fc in zip(self.modalities, self.heads, self.unimodal):
            heads[h] = fc(feats[m])
        return NetOutput(heads, feats, z)

    def grad_layers(self) -> dict[str, nn.Linear]:
        layers = {f"enc:{m}": enc.out for m, enc in zip(self.modalities, self.encoders)}
        layers[f"head:{MAIN_HEAD}"] = self.fused_out
        layers[f"fuse:{MAIN_HEAD}"] = self.fusion[1]  # the first fused layer, reading [f_1, ..., f_M]
        layers.update({f"head:{h}": fc[-1] for h, fc in zip(self.heads, self.unimodal)})
        return layers


class MultiTaskLateFusion(TorchTaskModel):
    """Multi-task late-fusion model (GRACE Sec. 3.2); regression (L1) or classification (CE).

    ``loss_weights`` maps head names to weights (default GRACE's t 0.2 / a 0.8 / v 0.4 / m 1.0);
    other arguments are those of :class:`mmal.nn.capabilities.TorchTaskModel`.
    """

    def __init__(self, *, loss_weights: Mapping[str, float] | None = None, fused_hidden: int = 32,
                 batch_norm: bool = False, **kw) -> None:
        super().__init__(**kw)
        self.loss_weights = dict(GRACE_LOSS_WEIGHTS if loss_weights is None else loss_weights)
        self.fused_hidden, self.batch_norm = int(fused_hidden), bool(batch_norm)

    def _build_net(self, encoders, feature_dims, unimodal_heads, out_dim):
        return LateFusionNet(encoders, feature_dims, unimodal_heads, out_dim, self.fused_hidden, self.dropout, self.batch_norm)

    def _training_loss(self, out: NetOutput, targets: dict[str, torch.Tensor]) -> torch.Tensor:
        return sum(self.loss_weights.get(h, 1.0) * self.sample_loss(pred, targets[h]).mean() for h, pred in out.heads.items())
