"""BMMAL's M-modality classifier (BMMAL Eq. 1).

One encoder per modality gives ``z_k``; unimodal linear classifiers ``C_k`` (layer
``"head:<head>"``) read ``z_k``; the multimodal linear classifier ``C_mm`` (layer ``"head:M"``)
reads the fused feature: the concatenation ``z_mm = z_1 ⊕ ... ⊕ z_M`` (``fusion="concat"``, the
paper's main setting) or the sum ``z_1 + ... + z_M`` (``fusion="sum"``). Dropout sits before
every classifier. Loss: the mean of the cross-entropy terms of the unimodal and multimodal
logits, all against the fused label ``y`` (Eq. 1).
"""

from __future__ import annotations

import torch
from torch import nn

from ..pool import MAIN_HEAD
from .capabilities import NetOutput, TorchTaskModel

FUSIONS = ("concat", "sum")


class ClassifierNet(nn.Module):
    def __init__(self, encoders: dict[str, nn.Module], feature_dims: dict[str, int], unimodal_heads: dict[str, str],
                 out_dim: int, dropout: float, fusion: str) -> None:
        super().__init__()
        self.modalities = list(encoders)
        self.heads = [unimodal_heads[m] for m in self.modalities]
        self.fusion = fusion
        self.encoders = nn.ModuleList(encoders[m] for m in self.modalities)
        self.drop = nn.Dropout(dropout)
        self.unimodal = nn.ModuleList(nn.Linear(feature_dims[m], out_dim) for m in self.modalities)
        self._build_fusion(feature_dims, out_dim)

    def _build_fusion(self, feature_dims: dict[str, int], out_dim: int) -> None:
        """The fusion's layers and ``C_mm`` (built last, so a subclass keeps the init order)."""
        if self.fusion == "sum" and len(set(feature_dims.values())) > 1:
            raise ValueError(f"summation fusion needs equal feature dims, got {feature_dims}")
        fused_dim = sum(feature_dims.values()) if self.fusion == "concat" else next(iter(feature_dims.values()))
        self.mm = nn.Linear(fused_dim, out_dim)

    def fuse(self, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        """``z_mm`` from the per-modality features."""
        parts = [feats[m] for m in self.modalities]
        return torch.cat(parts, dim=1) if self.fusion == "concat" else torch.stack(parts).sum(0)

    def forward(self, batch, absent=frozenset()) -> NetOutput:
        feats = {}
        for m, enc in zip(self.modalities, self.encoders):
            f = enc(*batch[m])
            feats[m] = torch.zeros_like(f) if m in absent else f
        z = self.fuse(feats)
        heads = {MAIN_HEAD: self.mm(self.drop(z))}
        for m, h, fc in zip(self.modalities, self.heads, self.unimodal):
            heads[h] = fc(self.drop(feats[m]))
        return NetOutput(heads, feats, z)

    def grad_layers(self) -> dict[str, nn.Linear]:
        layers = {f"enc:{m}": enc.out for m, enc in zip(self.modalities, self.encoders)}
        layers[f"head:{MAIN_HEAD}"] = self.mm
        layers.update({f"head:{h}": fc for h, fc in zip(self.heads, self.unimodal)})
        return layers


class MultimodalClassifier(TorchTaskModel):
    """BMMAL Eq. 1 classifier with ``fusion="concat"`` (default) or ``"sum"``; classification only."""

    tasks = frozenset({"classification"})
    unimodal_targets = "fused"

    def __init__(self, *, fusion: str = "concat", **kw) -> None:
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
        super().__init__(**kw)
        self.fusion = fusion

    def _build_net(self, encoders, feature_dims, unimodal_heads, out_dim):
        return ClassifierNet(encoders, feature_dims, unimodal_heads, out_dim, self.dropout, self.fusion)

    def _training_loss(self, out: NetOutput, targets: dict[str, torch.Tensor]) -> torch.Tensor:
        terms = [self.sample_loss(pred, targets[h]).mean() for h, pred in out.heads.items()]
        return sum(terms) / len(terms)
