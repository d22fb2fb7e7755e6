"""Adaptive weight fusion (AWF) MSA model (paper 004, Sec. 2, Algorithm 1).

Per-modality encoders (layer ``"enc:<m>"``) give ``Z_m`` (equal dims). Two fusions:

* B-fusion (Eq. 4): ``Z_GB = [w_1 Z_1, ..., w_M Z_M]``, ``w`` initialized to 1 and trained only
  by ``L_w = sum_i |g_i - ḡ r_i|`` (Eq. 6) with ``g_i`` the mean absolute gradient of the task
  loss w.r.t. modality ``i``'s last linear layer (the encoder's ``out``, Eq. 7), ``ḡ`` their mean
  (Eq. 8), ``r_i = max_k g_k / g_i`` (Eq. 9); SGD step ``w <- w - weight_lr ∇_w L_w`` (Eq. 10).
  ``g_i`` depends on ``w_i`` through back-propagation (``∂L/∂Z_i = w_i ...``), so ``∇_w L_w`` is
  a second-order gradient (``create_graph``); the target ``ḡ r_i`` is held constant (as in
  GradNorm; the paper does not say). ``w`` is a buffer: the task loss never updates it.
* A-fusion (Eqs. 11-13): ``α = sigmoid(W2 relu(W1 p))`` with ``p_m = mean(Z_m)`` (average pooling
  of each modality's feature to a scalar), ``W1, W2`` ``M x M`` without bias; ``Z_ATT = [α_m Z_m]``;
  trained by the task loss only. A-fusion reads ``Z_m`` detached: the paper's introduction has
  its weights decide each modality's contribution without touching its learning rate (A-fusion's
  parameters learn from the task loss alone, independent of the unimodal feature networks and of
  B-fusion), and Eq. 5 updates each encoder through ``Z_GB`` alone,
  ``∂L/∂W_i = ∂L/∂Z_GB · ω_i · ∂Z_i/∂W_i`` (with ``∂L/∂Z_GB = ½ ∂L/∂Z``). So ``ω_i`` alone scales
  modality ``i``'s update, which is what B-fusion balances.

``Z = (Z_GB + Z_ATT) / 2`` feeds the task head: Dropout -> Linear (``"fuse:M"``) -> ReLU ->
Dropout -> Linear (``"head:M"``); task loss L1 (regression) or cross-entropy (classification).
Each training batch runs Algorithm 1: task loss, ``g_i``, ``L_w``, the ``w`` step, then the
base optimizer's step on the other parameters (gradients of ``w(t)``-forward, as in lines 14-17).

The paper has no unimodal heads; the capability contract (GRACE) needs them, so each ``Z_m``
gets a linear probe ``"head:<head>"``, trained on ``Z_m.detach()`` (its loss, weight
``probe_weight``, never reaches the encoders, so AWF's training dynamics are the paper's). In
eval mode the probe reads ``Z_m`` undetached, so ``grad_embed(head=T, layer="enc:text")`` is defined.

``embed()``'s modality feature is the block the fused head reads, ``(w_m + α_m) / 2 · Z_m``
(per sample; ``w_m Z_m`` with ``a_fusion=False``), so BMMAL's ``fuse:M`` check holds; an ``absent`` modality enters as ``Z_m = 0``.
The detach holds in eval mode too, so ``grad_embed(head="M", layer="enc:<m>")`` is the per-sample
Eq. 5 gradient, the encoder update training would make.
After ``fit``, ``balance_history_`` holds per epoch the B-fusion weights (at the epoch's end)
and the epoch-mean ``g_i`` (the paper's Figs. 4-6).
"""

from __future__ import annotations

import torch
from torch import nn

from ..pool import MAIN_HEAD, Pool
from .capabilities import NetOutput, TorchTaskModel
from .dmmsa import EpochMeter


def attention_weights(z: torch.Tensor, w1: torch.Tensor, w2: torch.Tensor) -> torch.Tensor:
    """Eqs. 11-12: ``z [B, M, D]`` -> ``α = sigmoid(relu(p W1ᵀ) W2ᵀ)``, ``p = mean over D``, ``[B, M]``."""
    return torch.sigmoid(torch.relu(z.mean(-1) @ w1.T) @ w2.T)


def balance_loss(g: torch.Tensor) -> torch.Tensor:
    """Eqs. 6, 8-9: ``sum_i |g_i - ḡ r_i|``, ``r_i = max g / g_i``, target held constant."""
    gd = g.detach()
    target = gd.mean() * gd.max() / gd.clamp_min(1e-30)
    return (g - target).abs().sum()


def mean_abs_grads(loss: torch.Tensor, weights: list[torch.Tensor], create_graph: bool) -> torch.Tensor:
    """Eq. 7: ``g_i = mean |∂L/∂W_i|`` for each weight matrix, ``[M]``."""
    grads = torch.autograd.grad(loss, weights, retain_graph=True, create_graph=create_graph, allow_unused=True)
    return torch.stack([gr.abs().mean() if gr is not None else loss.new_zeros(()) for gr in grads])


class AWFNet(nn.Module):
    def __init__(self, encoders, feature_dims, unimodal_heads, out_dim, hidden, dropout, b_fusion: bool, a_fusion: bool = True):
        super().__init__()
        self.modalities = list(encoders)
        self.heads = [unimodal_heads[m] for m in self.modalities]
        self.encoders = nn.ModuleList(encoders[m] for m in self.modalities)
        dims = set(feature_dims[m] for m in self.modalities)
        if len(dims) > 1:
            raise ValueError(f"AWF needs equal feature dims (Eq. 11 pools [Z_T, Z_A, Z_V]), got {feature_dims}")
        fd, M = dims.pop(), len(self.modalities)
        self.b_fusion, self.a_fusion = b_fusion, a_fusion
        self.register_buffer("bweights", torch.ones(M))
        self.w1 = nn.Linear(M, M, bias=False)
        self.w2 = nn.Linear(M, M, bias=False)
        self.probes = nn.ModuleList(nn.Linear(fd, out_dim) for _ in self.modalities)
        self.drop = nn.Dropout(dropout)
        self.fuse = nn.Linear(M * fd, hidden)
        self.out = nn.Linear(hidden, out_dim)
        self.w_leaf: torch.Tensor | None = None

    def forward(self, batch, absent=frozenset()) -> NetOutput:
        zs = []
        for m, enc in zip(self.modalities, self.encoders):
            f = enc(*batch[m])
            zs.append(torch.zeros_like(f) if m in absent else f)
        z = torch.stack(zs, 1)  # [B, M, D]
        w = self.bweights
        if self.training:  # a fresh leaf: ∇_w L_w is taken w.r.t. it, the task loss's gradient is dropped
            w = self.w_leaf = self.bweights.detach().clone().requires_grad_(self.b_fusion)
        z_gb = z * w[None, :, None]  # Eq. 4, block by block
        if self.a_fusion:
            zd = z.detach()  # A-fusion reads Z_m but sends no gradient to the encoders (Eq. 5)
            blocks = (z_gb + zd * attention_weights(zd, self.w1.weight, self.w2.weight)[..., None]) / 2  # (Z_GB + Z_ATT) / 2
        else:  # Table 9's "(-) A-fusion": Z = Z_GB
            blocks = z_gb
        feats = {m: blocks[:, i] for i, m in enumerate(self.modalities)}
        h = torch.relu(self.fuse(self.drop(blocks.flatten(1))))
        hidden = self.drop(h)
        heads = {MAIN_HEAD: self.out(hidden)}
        for i, (hd, probe) in enumerate(zip(self.heads, self.probes)):
            heads[hd] = probe(zs[i].detach() if self.training else zs[i])
        return NetOutput(heads, feats, h)

    def grad_layers(self) -> dict[str, nn.Linear]:
        layers = {f"enc:{m}": enc.out for m, enc in zip(self.modalities, self.encoders)}
        layers[f"fuse:{MAIN_HEAD}"] = self.fuse
        layers[f"head:{MAIN_HEAD}"] = self.out
        layers.update({f"head:{h}": p for h, p in zip(self.heads, self.probes)})
        return layers


class AdaptiveWeightFusion(TorchTaskModel):
    """AWF (paper 004); regression (L1) or classification (CE).

    ``weight_lr`` is Eq. 10's learning rate of the B-fusion weights; ``b_fusion=False`` keeps them at 1
    (Tables 7-8's "(-)GB"); ``a_fusion=False`` drops A-fusion, ``Z = Z_GB`` (Table 9's "(-)A-fusion");
    ``probe_weight`` weighs the unimodal probes' loss; ``fused_hidden`` the head width.
    """

    def __init__(self, *, weight_lr: float = 50.0, b_fusion: bool = True, a_fusion: bool = True, probe_weight: float = 1.0,
                 fused_hidden: int = 32, **kw) -> None:
        super().__init__(**kw)
        if weight_lr < 0:
            raise ValueError(f"weight_lr must be >= 0, got {weight_lr}")
        self.weight_lr, self.b_fusion, self.a_fusion = float(weight_lr), bool(b_fusion), bool(a_fusion)
        self.probe_weight, self.fused_hidden = float(probe_weight), int(fused_hidden)

    def fit(self, pool: Pool, *, seed: int = 0) -> "AdaptiveWeightFusion":
        self._meter = EpochMeter(pool.labeled_positions().size, self.batch_size)
        self.balance_history_: list[dict[str, dict[str, float]]] = []
        return super().fit(pool, seed=seed)

    def _build_net(self, encoders, feature_dims, unimodal_heads, out_dim):
        return AWFNet(encoders, feature_dims, unimodal_heads, out_dim, self.fused_hidden, self.dropout, self.b_fusion,
                      self.a_fusion)

    def fusion_weights(self) -> dict[str, float]:
        """The current B-fusion weights ``{modality: w}``."""
        return dict(zip(self.net_.modalities, self.net_.bweights.tolist()))

    def balance_step(self, task_loss: torch.Tensor) -> torch.Tensor:
        """Algorithm 1 lines 11-16: ``g``, ``L_w``, one SGD step on the B-fusion weights; returns ``g``."""
        net = self.net_
        enc_w = [enc.out.weight for enc in net.encoders]
        g = mean_abs_grads(task_loss, enc_w, create_graph=self.b_fusion)
        if self.b_fusion:
            (grad_w,) = torch.autograd.grad(balance_loss(g), [net.w_leaf], retain_graph=True)
            with torch.no_grad():
                net.bweights -= self.weight_lr * grad_w
        return g.detach()

    def _training_loss(self, out: NetOutput, targets: dict[str, torch.Tensor]) -> torch.Tensor:
        task = self.sample_loss(out.heads[MAIN_HEAD], targets[MAIN_HEAD]).mean()
        g = self.balance_step(task)
        probes = [self.sample_loss(out.heads[h], targets[h]).mean() for h in self.unimodal_heads.values()]
        epoch = self._meter.add({f"g:{m}": float(v) for m, v in zip(self.net_.modalities, g)})
        if epoch is not None:
            self.balance_history_.append({"weights": self.fusion_weights(),
                                          "grad_magnitudes": {m: epoch[f"g:{m}"] for m in self.net_.modalities}})
        return task + self.probe_weight * sum(probes)
