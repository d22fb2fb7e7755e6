"""DMMSA: dynamic-tuning multi-task MSA model (paper 003, Sec. 3).

Architecture. Per-modality encoders (:mod:`mmal.nn.encoders`, layer ``"enc:<m>"``) give
``f_m``; each is followed by a similarity and a dissimilarity projector (Linear -> Tanh, one
pair per modality) giving ``m_s, m_d``. The six features, ordered by modality
``[T_s; T_d; A_s; A_d; V_s; V_d]`` (pool order), feed

* the fine-grained head (Eq. 6): Dropout -> Linear (``"fuse:M"``) -> ReLU -> Dropout -> Linear
  (``"head:M"``), Smooth L1 against ``y`` (Eq. 7);
* the coarse polarity classifier (Eq. 8), cross-entropy (Eq. 9) against the polarity of ``y``:
  ``0`` negative (``y < -neutral_band``), ``1`` neutral (``|y| <= neutral_band``), ``2`` positive
  (the CH-SIMS Acc-3 mapping with ``neutral_band=0``);
* the unimodal MLP shared across the six features (Eq. 10), Smooth L1 against
  ``[y, y, y, y_T, y_V, y_A]``: similarity features predict ``y``, dissimilarity features their
  modality's label (``y`` where it is missing). The unimodal heads ``T/A/V`` of the capability
  contract are this MLP applied to ``m_d``.

Contrastive loss (Eqs. 11-12, 3): anchor ``T_s`` (the modality ``anchor``, default ``"text"`` or
the first one); positives ``(T_s, k_s)`` for every other modality ``k``, negatives ``(T_s, T_d)``
and ``(T_s, k_d)``; Multi NT-Xent with cosine similarity and temperature ``cl_temperature``,
pairs taken within a sample (as Eqs. 11-12 list them), averaged over the batch.

Total loss (Eq. 5): ``L_MSR + L_MSC + λ_Uni L_Uni + λ_CL L_CL`` with ``λ`` from GDWG (Eqs. 13-14,
:class:`GDWG`): ``λ_k(t) = softmax_k((L_k(t-1) / L_k(1)) / τ)`` from the epoch-mean losses,
equal weights ``1/J`` for the first two epochs (``w_k(1) = 1``).

Ablations (Table 5): ``without`` names the parts left out, ``"msc"`` (no polarity classifier
or its loss), ``"cl"`` (no contrastive loss; GDWG then weighs ``L_Uni`` alone, ``λ_Uni = 1``) and
``"gdwg"`` (fixed equal weights ``1/J``, GDWG's starting point); the paper does not say which
fixed weights "w/o GDWG" used.

Choices where the paper is silent: Smooth L1 is torch's (quadratic ``0.5 x² / φ`` below
``φ = smooth_beta``; Eq. 7's ``(x/φ)²`` is read as the usual Huber form); classification tasks
(CHERMA-style) replace MSR by cross-entropy on the fused head, drop MSC (no intensity to map)
and use cross-entropy in the unimodal task.

Capability contract: ``embed()``'s modality feature is the block the fused head reads,
``[m_s; m_d]`` (``2 * feature_dim``), so BMMAL's ``fuse:M`` check holds; an ``absent``
modality enters the fused head as that block zeroed. The shared unimodal head runs six times
per forward, so ``head:T/A/V`` are not offered as gradient layers (``enc:<m>``, ``fuse:M``,
``head:M`` are).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..pool import MAIN_HEAD, Pool
from .capabilities import NetOutput, TorchTaskModel
from .training import train_batches


ABLATIONS = ("msc", "cl", "gdwg")


def multi_nt_xent(anchor: torch.Tensor, positives: list[torch.Tensor], negatives: list[torch.Tensor],
                  temperature: float = 0.5) -> torch.Tensor:
    """Eq. 3 per sample, batch mean: ``-log(sum_P e^{s/τ} / sum_{N∪P} e^{s/τ})``, ``s`` cosine similarity."""
    sims = [F.cosine_similarity(anchor, x, dim=-1) / temperature for x in positives + negatives]
    s = torch.stack(sims, -1)  # [B, |P| + |N|]
    return (torch.logsumexp(s, -1) - torch.logsumexp(s[:, : len(positives)], -1)).mean()


class GDWG:
    """Global dynamic weight generation (Eqs. 13-14) from epoch-mean task losses."""

    def __init__(self, tasks: list[str], temperature: float = 1.0) -> None:
        if temperature <= 0:
            raise ValueError(f"GDWG temperature must be > 0, got {temperature}")
        self.tasks, self.temperature = list(tasks), float(temperature)
        self.first: dict[str, float] | None = None
        self.last: dict[str, float] | None = None
        self.history: list[dict[str, float]] = []

    def weights(self) -> dict[str, float]:
        """``λ_k = softmax_k(w_k / τ)``, ``w_k = L_k(t-1) / L_k(1)``; equal before any epoch ended."""
        if self.first is None:
            return {k: 1.0 / len(self.tasks) for k in self.tasks}
        w = np.array([self.last[k] / max(self.first[k], 1e-12) for k in self.tasks]) / self.temperature
        e = np.exp(w - w.max())
        return dict(zip(self.tasks, (e / e.sum()).tolist()))

    def end_epoch(self, losses: dict[str, float]) -> None:
        if self.first is None:
            self.first = dict(losses)
        self.last = dict(losses)
        self.history.append(self.weights())


class EpochMeter:
    """Averages per-batch scalars over an epoch of ``batches_per_epoch`` batches (the base fit loop
    has no epoch callback); ``add`` returns the epoch means when an epoch closes, else None."""

    def __init__(self, n_train: int, batch_size: int) -> None:
        self.per_epoch = max(1, len(train_batches(n_train, batch_size, np.random.default_rng(0))))
        self.sums: dict[str, float] = {}
        self.count = 0

    def add(self, values: dict[str, float]) -> dict[str, float] | None:
        for k, v in values.items():
            self.sums[k] = self.sums.get(k, 0.0) + float(v)
        self.count += 1
        if self.count < self.per_epoch:
            return None
        out = {k: v / self.count for k, v in self.sums.items()}
        self.sums, self.count = {}, 0
        return out


def polarity(y: torch.Tensor, neutral_band: float = 0.0) -> torch.Tensor:
    """Intensity -> polarity class: 0 negative, 1 neutral, 2 positive."""
    return torch.where(y > neutral_band, 2, torch.where(y < -neutral_band, 0, 1)).long()


class DMMSAOutput(NetOutput):
    def __init__(self, heads, features, fused, *, polarity_logits, sim, dis, shared):
        super().__init__(heads, features, fused)
        self.polarity_logits, self.sim, self.dis, self.shared = polarity_logits, sim, dis, shared


def _mlp(in_dim: int, hidden: int, out_dim: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(hidden, out_dim))


class DMMSANet(nn.Module):
    def __init__(self, encoders, feature_dims, unimodal_heads, out_dim, hidden, dropout, n_polarity):
        super().__init__()
        self.modalities = list(encoders)
        self.heads = [unimodal_heads[m] for m in self.modalities]
        self.encoders = nn.ModuleList(encoders[m] for m in self.modalities)
        d = {m: feature_dims[m] for m in self.modalities}
        if len(set(d.values())) > 1:
            raise ValueError(f"DMMSA needs equal feature dims (cosine pairs, shared unimodal head), got {d}")
        fd = next(iter(d.values()))
        self.sim = nn.ModuleList(nn.Sequential(nn.Linear(fd, fd), nn.Tanh()) for _ in self.modalities)
        self.dis = nn.ModuleList(nn.Sequential(nn.Linear(fd, fd), nn.Tanh()) for _ in self.modalities)
        total = 2 * fd * len(self.modalities)
        self.regressor = _mlp(total, hidden, out_dim, dropout)
        self.classifier = _mlp(total, hidden, n_polarity, dropout) if n_polarity else None
        self.shared = _mlp(fd, hidden, out_dim, dropout)

    def forward(self, batch, absent=frozenset()) -> DMMSAOutput:
        sim, dis, feats = {}, {}, {}
        for i, (m, enc) in enumerate(zip(self.modalities, self.encoders)):
            f = enc(*batch[m])
            s, d = self.sim[i](f), self.dis[i](f)
            if m in absent:
                s, d = torch.zeros_like(s), torch.zeros_like(d)
            sim[m], dis[m], feats[m] = s, d, torch.cat([s, d], 1)
        x = torch.cat([feats[m] for m in self.modalities], 1)
        z = self.regressor[:-1](x)
        heads = {MAIN_HEAD: self.regressor[-1](z)}
        shared = {(m, kind): self.shared(v[m]) for m in self.modalities for kind, v in (("s", sim), ("d", dis))}
        heads.update({h: shared[(m, "d")] for m, h in zip(self.modalities, self.heads)})
        logits = self.classifier(x) if self.classifier is not None else None
        return DMMSAOutput(heads, feats, z, polarity_logits=logits, sim=sim, dis=dis, shared=shared)

    def grad_layers(self) -> dict[str, nn.Linear]:
        layers = {f"enc:{m}": enc.out for m, enc in zip(self.modalities, self.encoders)}
        layers[f"fuse:{MAIN_HEAD}"] = self.regressor[1]
        layers[f"head:{MAIN_HEAD}"] = self.regressor[-1]
        return layers


class DMMSA(TorchTaskModel):
    """DMMSA (paper 003); regression (CH-SIMS style) or classification (CHERMA style).

    ``cl_temperature`` (τ_m, Eq. 3), ``gdwg_temperature`` (τ, Eq. 14), ``smooth_beta`` (φ, Eqs. 7,
    10), ``neutral_band`` (polarity mapping), ``anchor`` (contrastive anchor modality), ``fused_hidden``
    (MLP width), ``without`` (Table 5 ablations: any of ``"msc"``, ``"cl"``, ``"gdwg"``); the rest as
    :class:`~mmal.nn.capabilities.TorchTaskModel`. After ``fit``,
    ``gdwg_history_`` lists the per-epoch ``{"uni": λ, "cl": λ}`` and ``task_losses_`` the epoch-mean losses.
    """

    def __init__(self, *, cl_temperature: float = 0.5, gdwg_temperature: float = 1.0, smooth_beta: float = 1.0,
                 neutral_band: float = 0.0, anchor: str | None = None, fused_hidden: int = 32,
                 without: tuple[str, ...] | list[str] = (), **kw) -> None:
        super().__init__(**kw)
        self.without = (without,) if isinstance(without, str) else tuple(without)
        bad = sorted(set(self.without) - set(ABLATIONS))
        if bad:
            raise ValueError(f"without={list(self.without)}: {bad} not ablatable; use any of {list(ABLATIONS)}")
        if cl_temperature <= 0 or smooth_beta <= 0:
            raise ValueError(f"cl_temperature and smooth_beta must be > 0, got {cl_temperature}, {smooth_beta}")
        self.cl_temperature, self.gdwg_temperature = float(cl_temperature), float(gdwg_temperature)
        self.smooth_beta, self.neutral_band = float(smooth_beta), float(neutral_band)
        self.anchor, self.fused_hidden = anchor, int(fused_hidden)

    def fit(self, pool: Pool, *, seed: int = 0) -> "DMMSA":
        names = list(pool.modality_names)
        anchor = self.anchor or ("text" if "text" in names else names[0])
        if anchor not in names:
            raise ValueError(f"anchor={anchor!r} is not a modality of the pool; its modalities are {names}")
        self.anchor_ = anchor
        self.gdwg_ = GDWG(["uni"] if "cl" in self.without else ["uni", "cl"], self.gdwg_temperature)
        self._meter = EpochMeter(pool.labeled_positions().size, self.batch_size)
        self.task_losses_: list[dict[str, float]] = []
        super().fit(pool, seed=seed)
        self.gdwg_history_ = self.gdwg_.history
        return self

    def embed(self, pool: Pool, positions=None) -> dict[str, np.ndarray]:
        """As the base, with each modality's feature the fused head's block ``[m_s; m_d]`` (also when empty)."""
        out = super().embed(pool, positions)
        for m in self.specs_:
            if out[m].shape[0] == 0:
                out[m] = np.zeros((0, 2 * self.feature_dim), np.float32)
        return out

    def _build_net(self, encoders, feature_dims, unimodal_heads, out_dim):
        n_pol = 0 if self.task_.is_classification or "msc" in self.without else 3
        return DMMSANet(encoders, feature_dims, unimodal_heads, out_dim, self.fused_hidden, self.dropout, n_pol)

    def _point_loss(self, pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.task_.is_classification:
            return F.cross_entropy(pred, y.long())
        return F.smooth_l1_loss(pred[:, 0], y.to(pred.dtype), beta=self.smooth_beta)

    def task_losses(self, out: DMMSAOutput, targets: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``{"msr", "msc", "uni", "cl"}`` batch losses (Eqs. 7, 9, 10, 3); ``msc`` absent for classification."""
        y = targets[MAIN_HEAD]
        mods = list(out.sim)
        losses = {"msr": self._point_loss(out.heads[MAIN_HEAD], y)}
        if out.polarity_logits is not None:
            losses["msc"] = F.cross_entropy(out.polarity_logits, polarity(y, self.neutral_band))
        head_of = dict(self.unimodal_heads)
        uni = [self._point_loss(out.shared[(m, "s")], y) for m in mods]
        uni += [self._point_loss(out.shared[(m, "d")], targets[head_of[m]]) for m in mods]
        losses["uni"] = sum(uni) / len(uni)
        if "cl" in self.without:
            return losses
        a = self.anchor_
        others = [m for m in mods if m != a]
        losses["cl"] = multi_nt_xent(out.sim[a], [out.sim[m] for m in others], [out.dis[a]] + [out.dis[m] for m in others],
                                     self.cl_temperature)
        return losses

    def _training_loss(self, out: DMMSAOutput, targets: dict[str, torch.Tensor]) -> torch.Tensor:
        losses = self.task_losses(out, targets)
        tasks = self.gdwg_.tasks
        lam = {k: 1.0 / len(tasks) for k in tasks} if "gdwg" in self.without else self.gdwg_.weights()
        total = sum(v for k, v in losses.items() if k in ("msr", "msc")) + sum(lam[k] * losses[k] for k in lam)
        epoch = self._meter.add({k: float(v.detach()) for k, v in losses.items()})
        if epoch is not None:
            self.task_losses_.append(epoch)
            self.gdwg_.end_epoch({k: epoch[k] for k in self.gdwg_.tasks})
        return total
