"""GRACE's multi-task late-fusion MSA model (GRACE Sec. 3.2, the CH-SIMS v2 framework).

Per-modality encoders give ``f_k`` (text: BERT features, audio / vision: Linear + stacked
BiLSTM; see :mod:`mmal.nn.encoders`); each ``f_k`` feeds a unimodal FC head (Dropout ->
Linear, layer ``"head:<head>"``); the concatenation ``f_m = [f_t, f_a, f_v]`` feeds an MLP
(Dropout -> Linear -> [BatchNorm] -> ReLU -> Dropout -> Linear, the last one ``"head:M"``) for
the fused prediction. Loss (GRACE Eq. 3): ``sum_k w_k L_k`` with ``w = {T: 0.2, A: 0.8,
V: 0.4, M: 1.0}`` by head name (a head not listed weighs 1), ``L_k`` the batch mean of L1
(regression, Eq. 1) or cross-entropy (classification, Eq. 2). A unimodal head whose label is
missing learns the fused label.

CH-SIMS v2 baseline settings (GRACE Sec. 4.1: "hyper-parameters of the task model match those
in [20]"; the values are those of [20]'s published multi-task config, see docs/task-models.md),
all off by default: ``encoder_lr`` / ``encoder_weight_decay`` give a modality's encoder its own
Adam group (the other parameters use ``lr`` / ``weight_decay``), ``head_dropout`` is the dropout
before the unimodal heads and on the concatenation entering the fused MLP (``dropout`` stays
inside the encoders and the MLP), and ``output_range=(lo, hi)`` bounds the fused regression
output as ``lo + (hi - lo) * sigmoid(z)``.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import nn

from ..pool import MAIN_HEAD
from .capabilities import NetOutput, TorchTaskModel

GRACE_LOSS_WEIGHTS = {"T": 0.2, "A": 0.8, "V": 0.4, "M": 1.0}


class LateFusionNet(nn.Module):
    def __init__(self, encoders: dict[str, nn.Module], feature_dims: dict[str, int], unimodal_heads: dict[str, str],
                 out_dim: int, fused_hidden: int, dropout: float, batch_norm: bool, head_dropout: float | None = None,
                 output_range: tuple[float, float] | None = None) -> None:
        super().__init__()
        post = dropout if head_dropout is None else head_dropout
        self.modalities = list(encoders)
        self.heads = [unimodal_heads[m] for m in self.modalities]
        self.encoders = nn.ModuleList(encoders[m] for m in self.modalities)
        self.unimodal = nn.ModuleList(nn.Sequential(nn.Dropout(post), nn.Linear(feature_dims[m], out_dim))
                                      for m in self.modalities)
        total = sum(feature_dims.values())
        self.fusion = nn.Sequential(
            nn.Dropout(post), nn.Linear(total, fused_hidden),
            *([nn.BatchNorm1d(fused_hidden)] if batch_norm else []), nn.ReLU(), nn.Dropout(dropout),
        )
        self.fused_out = nn.Linear(fused_hidden, out_dim)
        self.output_range = output_range

    def forward(self, batch, absent=frozenset()) -> NetOutput:
        feats = {}
        for m, enc in zip(self.modalities, self.encoders):
            f = enc(*batch[m])
            feats[m] = torch.zeros_like(f) if m in absent else f
        z = self.fusion(torch.cat([feats[m] for m in self.modalities], dim=1))
        out = self.fused_out(z)
        if self.output_range is not None:
            lo, hi = self.output_range
            out = lo + (hi - lo) * torch.sigmoid(out)
        heads = {MAIN_HEAD: out}
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
    ``head_dropout``, ``output_range``, ``encoder_lr`` and ``encoder_weight_decay`` are the
    CH-SIMS v2 settings of the module docstring; other arguments are those of
    :class:`mmal.nn.capabilities.TorchTaskModel`.
    """

    def __init__(self, *, loss_weights: Mapping[str, float] | None = None, fused_hidden: int = 32,
                 batch_norm: bool = False, head_dropout: float | None = None,
                 output_range: Sequence[float] | None = None, encoder_lr: Mapping[str, float] | None = None,
                 encoder_weight_decay: Mapping[str, float] | None = None, **kw) -> None:
        super().__init__(**kw)
        self.loss_weights = dict(GRACE_LOSS_WEIGHTS if loss_weights is None else loss_weights)
        self.fused_hidden, self.batch_norm = int(fused_hidden), bool(batch_norm)
        if head_dropout is not None and not 0.0 <= head_dropout < 1.0:
            raise ValueError(f"head_dropout must be in [0, 1) or None (= dropout), got {head_dropout}")
        self.head_dropout = None if head_dropout is None else float(head_dropout)
        if output_range is not None:
            lo, hi = (float(v) for v in output_range)
            if not lo < hi:
                raise ValueError(f"output_range must be (lo, hi) with lo < hi, e.g. (-1, 1), got {tuple(output_range)}")
            output_range = (lo, hi)
        self.output_range = output_range
        self.encoder_lr = {m: float(v) for m, v in (encoder_lr or {}).items()}
        self.encoder_weight_decay = {m: float(v) for m, v in (encoder_weight_decay or {}).items()}

    def _build_net(self, encoders, feature_dims, unimodal_heads, out_dim):
        if self.output_range is not None and self.task_.is_classification:
            raise ValueError("output_range bounds a regression output; drop it for a classification task")
        unknown = sorted((set(self.encoder_lr) | set(self.encoder_weight_decay)) - set(encoders))
        if unknown:
            raise ValueError(f"encoder_lr / encoder_weight_decay name modalities {unknown} that the pool lacks; "
                             f"its modalities are {sorted(encoders)}")
        return LateFusionNet(encoders, feature_dims, unimodal_heads, out_dim, self.fused_hidden, self.dropout,
                             self.batch_norm, self.head_dropout, self.output_range)

    def _param_groups(self, net: LateFusionNet) -> list[dict]:
        """One Adam group per modality named in ``encoder_lr`` / ``encoder_weight_decay`` (its encoder's
        parameters), one for everything else ([20]'s ``learning_rate_audio / _video / _other``)."""
        own = [m for m in net.modalities if m in self.encoder_lr or m in self.encoder_weight_decay]
        groups, taken = [], set()
        for m in own:
            params = [p for p in net.encoders[net.modalities.index(m)].parameters() if p.requires_grad]
            taken.update(id(p) for p in params)
            groups.append({"params": params, "lr": self.encoder_lr.get(m, self.lr),
                           "weight_decay": self.encoder_weight_decay.get(m, self.weight_decay)})
        rest = [p for p in net.parameters() if p.requires_grad and id(p) not in taken]
        return [{"params": rest}, *groups]

    def _training_loss(self, out: NetOutput, targets: dict[str, torch.Tensor]) -> torch.Tensor:
        return sum(self.loss_weights.get(h, 1.0) * self.sample_loss(pred, targets[h]).mean() for h, pred in out.heads.items())
