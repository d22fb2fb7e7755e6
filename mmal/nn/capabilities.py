"""The shared body of every torch task model: fit / predict plus the four capabilities of
:mod:`mmal.model` (``embed``, ``grad_embed``, ``predict_proba_samples``, ``predict_masked``).

A model subclasses :class:`TorchTaskModel` and supplies two things:

* ``_build_net(encoders, feature_dims, unimodal_heads, out_dim)`` -> an ``nn.Module`` whose
  ``forward(batch, absent=frozenset())`` returns a :class:`NetOutput` (every head's output,
  every modality's feature ``f_k``, the fused head's penultimate feature) and whose
  ``grad_layers()`` maps layer names (``"enc:<modality>"``, ``"head:<head>"``) to the
  ``nn.Linear`` modules they name; ``absent`` modalities must enter the fused head as zeros;
* ``_training_loss(out, targets)`` -> the scalar training loss of one batch.

Gradient embeddings (DESIGN §5). ``grad_embed`` returns the per-sample gradient of one head's
loss (per sample, not divided by the batch size, loss weights not applied) w.r.t. a linear
layer's weight as ``g = delta ⊗ h``: ``h`` is the layer input, ``delta = dL/df`` its output
gradient. ``delta`` comes from one eval-mode forward and one backward of the summed
per-sample losses to the layer outputs (samples do not interact in eval mode), never a
per-sample loop; see :func:`mmal.grads.factored_deltas`.

Pseudo-labels (``pseudo=``):

* classification - ``"fused"`` (default): every head's loss is the cross-entropy against the
  fused head's argmax (BADGE / BMMAL Eq. 3; GRACE's ``ỹ(x)``), so ``delta = softmax(z) - e_ŷ``
  for ``head:M``; ``"own"``: each head against its own argmax; or explicit class indices
  (an array ``[n]`` for every head, or ``{head: [n]}``).
* regression - with the L1 loss and the prediction as its own target the gradient is
  ``sign(0) = 0`` (undefined), so every sample would get ``g = 0``. ``"sensitivity"``
  (default): ``delta = d ŷ_head / df``, the gradient of the prediction itself. For any target
  ``y`` the L1 gradient is ``sign(ŷ - y) d ŷ/df``, so this is the L1 gradient up to its sign
  (exactly it for every target below the prediction); norms, distances within one head, and
  the magnitude GRACE's informativeness reads are those of the true L1 gradient.
  ``"fused"``: the L1 gradient with the fused prediction ``ŷ_M`` as every head's target,
  ``sign(ŷ_head - ŷ_M) d ŷ_head/df`` (a unimodal head that disagrees with the fused one points
  the other way; the ``M`` head, its own target, falls back to sign +1 = sensitivity).
  Explicit targets (array or ``{head: [n]}``) give the exact L1 gradient.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from .. import grads as G
from ..errors import CapabilityError, ConfigError, PoolError
from ..model import CAPABILITIES, fit_signature
from ..pool import MAIN_HEAD, Pool
from .encoders import ENCODER_KINDS, build_encoder, default_encoder_kind
from .training import (
    OPTIMIZERS, ModalitySpec, auto_epochs, check_specs, chunks, feature_stats, fit_network, load_batch, mc_dropout_mode,
    modality_specs, resolve_device, seeded,
)

#: ``epochs=None``: train at least this many optimizer steps (times n_classes / batch when a batch
#: cannot hold every class) and at least ``DEFAULT_MIN_EPOCHS`` epochs (chosen from measured
#: learning curves: docs/task-models.md, benchmarks/calibration.py).
DEFAULT_MIN_STEPS = 300
DEFAULT_MIN_EPOCHS = 5


def count(name: str, value, fix: str, minimum: int = 1) -> int:
    """``value`` as an int ``>= minimum`` (an integral float such as ``32.0`` is taken), else a ConfigError
    naming ``name``, the value and ``fix``."""
    ok = not isinstance(value, (bool, np.bool_)) and (
        isinstance(value, (int, np.integer)) or (isinstance(value, (float, np.floating)) and float(value).is_integer()))
    if not ok or value < minimum:
        raise ConfigError(f"{name} must be an int >= {minimum}, got {value!r}; {fix}")
    return int(value)


def real(name: str, value, fix: str, *, low: float, high: float = float("inf"), low_open: bool = False,
         high_open: bool = True) -> float:
    """``value`` as a finite float in the interval (``low_open`` / ``high_open`` exclude the ends), else a ConfigError."""
    ok = not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, float, np.integer, np.floating))
    v = float(value) if ok else float("nan")
    inside = np.isfinite(v) and (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
    if not inside:
        span = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ConfigError(f"{name} must be a number in {span}, got {value!r}; {fix}")
    return v


def _row_chunks(arr, size: int = 65536):
    for start in range(0, arr.shape[0], size):
        yield np.asarray(arr[start : start + size])


@dataclass
class NetOutput:
    heads: dict[str, torch.Tensor]  # head -> [B, C] logits or [B, 1] values
    features: dict[str, torch.Tensor]  # modality -> f_k [B, h_k]
    fused: torch.Tensor  # input of the fused head's last linear layer [B, h]


PositionsLike = Sequence[int] | np.ndarray | None


class TorchTaskModel:
    """Base of the torch task models (see the module docstring for the subclass contract)."""

    capabilities: frozenset[str] = CAPABILITIES
    tasks: frozenset[str] = frozenset({"regression", "classification"})
    unimodal_targets: str = "own"  # "own": a unimodal head learns its own label (fused one where missing); "fused": always M's

    def __init__(
        self,
        *,
        feature_dim: int = 32,
        hidden: int = 32,
        dropout: float = 0.1,
        lstm_layers: int = 2,
        encoders: Mapping[str, str] | None = None,
        text_pooling: str = "mean",
        standardize: bool = True,
        epochs: int | None = None,
        min_steps: int = DEFAULT_MIN_STEPS,
        min_epochs: int = DEFAULT_MIN_EPOCHS,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        optimizer: str = "adam",
        batch_size: int = 32,
        infer_batch_size: int = 256,
        device: str = "auto",
    ) -> None:
        self.feature_dim = count("feature_dim", feature_dim, "the width of each modality's feature f_k, e.g. 32")
        self.hidden = count("hidden", hidden, "the encoders' hidden width, e.g. 32")
        self.dropout = real("dropout", dropout, "the probability of zeroing a unit, e.g. 0.1 (0 turns dropout off)",
                            low=0.0, high=1.0)
        self.lstm_layers, self.encoders = count("lstm_layers", lstm_layers, "e.g. 2"), dict(encoders or {})
        self.text_pooling, self.standardize = text_pooling, bool(standardize)
        self.epochs = None if epochs is None else count(
            "epochs", epochs, "epochs=0 would train nothing; give epochs >= 1, or None to train the step budget "
            "(min_steps optimizer steps and min_epochs epochs)")
        self.min_steps = count("min_steps", min_steps, f"the fewest optimizer steps of epochs=None, e.g. {DEFAULT_MIN_STEPS}")
        self.min_epochs = count("min_epochs", min_epochs, f"the fewest epochs of epochs=None, e.g. {DEFAULT_MIN_EPOCHS}")
        self.lr = real("lr", lr, "the learning rate, e.g. 1e-3 (0 would train nothing)", low=0.0, low_open=True)
        self.weight_decay = real("weight_decay", weight_decay, "e.g. 0.0 or 1e-4", low=0.0)
        self.batch_size = count("batch_size", batch_size, "samples per optimizer step, e.g. 32")
        self.infer_batch_size = count("infer_batch_size", infer_batch_size, "samples per inference batch, e.g. 256")
        self.device = device
        if optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
        self.optimizer = optimizer
        bad = {k: v for k, v in self.encoders.items() if v not in ENCODER_KINDS}
        if bad:
            raise ConfigError(f"encoders={bad}: each encoder kind must be one of {ENCODER_KINDS}")
        self.unimodal_heads: dict[str, str] = {}
        self.net_: nn.Module | None = None
        self.fit_signature_: dict | None = None  # Strategy.select checks it (mmal.model.check_fitted)

    # --------------------------------------------------------------- subclass hooks
    def _build_net(self, encoders: dict[str, nn.Module], feature_dims: dict[str, int],
                   unimodal_heads: dict[str, str], out_dim: int) -> nn.Module:
        raise NotImplementedError

    def _training_loss(self, out: NetOutput, targets: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def _param_groups(self, net: nn.Module) -> list[dict]:
        """Torch optimizer groups; a group without ``lr`` / ``weight_decay`` gets the model's.
        Default: one group of every trainable parameter."""
        return [{"params": [p for p in net.parameters() if p.requires_grad]}]

    def _on_epoch_end(self, epoch: int, loss: float) -> bool | None:
        """Called after every training epoch (0-based) with its mean loss; return True to stop."""
        return None

    def epochs_for(self, pool: Pool) -> int:
        """Epochs that ``fit(pool)`` runs: :meth:`train_epochs` of its labeled count and classes."""
        pos = pool.labeled_positions()
        classes = np.unique(pool.labels[MAIN_HEAD][pos]).size if pool.task.is_classification else None
        return self.train_epochs(pos.size, classes)

    def train_epochs(self, n_labeled: int, n_classes: int | None = None) -> int:
        """Epochs that ``fit`` runs on ``n_labeled`` samples (of ``n_classes`` classes; None for
        regression): ``epochs`` when given, else the step budget (:func:`mmal.nn.training.auto_epochs`)."""
        if self.epochs is not None:
            return self.epochs
        return auto_epochs(n_labeled, self.batch_size, min_steps=self.min_steps, min_epochs=self.min_epochs,
                           n_classes=n_classes)

    # ----------------------------------------------------------------------- fitting
    def fit(self, pool: Pool, *, seed: int = 0) -> "TorchTaskModel":
        """Train a freshly initialized network on ``pool``'s labeled samples (seeded; global RNG untouched)."""
        name = type(self).__name__
        if pool.task.kind not in self.tasks:
            raise CapabilityError(f"{name} supports {sorted(self.tasks)} tasks, not {pool.task.kind!r}; "
                                  "use a task model for that kind (see `mmal list`)")
        pos = pool.labeled_positions()
        if pos.size == 0:
            raise PoolError(f"{name}.fit: the pool has no labeled samples; label some first (pool.label)")
        self.task_ = pool.task
        self.specs_ = modality_specs(pool)
        unknown = sorted(set(self.encoders) - set(self.specs_))
        if unknown:
            raise ValueError(f"encoders= names modalities {unknown} that the pool lacks; its modalities are {sorted(self.specs_)}")
        self.unimodal_heads = self._unimodal_heads(pool)
        self.device_ = resolve_device(self.device)
        out_dim = pool.task.n_classes if pool.task.is_classification else 1
        targets = self._targets(pool)
        with seeded(seed, self.device_):
            encoders = {m: self._encoder(pool, spec, pos) for m, spec in self.specs_.items()}
            dims = {m: self.feature_dim for m in self.specs_}
            self.net_ = self._build_net(encoders, dims, dict(self.unimodal_heads), out_dim).to(self.device_)

            def loss_fn(net, batch, bpos):
                t = {h: torch.as_tensor(v[bpos], device=self.device_) for h, v in targets.items()}
                return self._training_loss(net(batch), t)

            self.epochs_ = self.epochs_for(pool)
            self.history_ = fit_network(
                self.net_, pool, self.specs_, pos, loss_fn, epochs=self.epochs_, lr=self.lr,
                weight_decay=self.weight_decay, batch_size=self.batch_size, seed=seed, device=self.device_,
                optimizer=self.optimizer, param_groups=self._param_groups(self.net_), on_epoch_end=self._on_epoch_end,
            )
        self.fit_signature_ = fit_signature(pool)
        return self

    def _encoder(self, pool: Pool, spec: ModalitySpec, pos: np.ndarray) -> nn.Module:
        kind = self.encoders.get(spec.name) or default_encoder_kind(spec.name, spec.kind)
        fits = {"vector": ("mlp",), "tokens": ("tokens",), "sequence": ("lstm", "pooled")}[spec.kind]
        if kind not in fits:
            raise ValueError(f"encoders[{spec.name!r}]={kind!r} does not fit a {spec.kind} modality; use one of {fits} "
                             "('mlp' for [N, D] features, 'lstm' or 'pooled' for [N, L, D] sequences, 'tokens' for int ids)")
        if spec.kind == "tokens":  # vocabulary: the ids present in the pool at fit time
            vocab = int(max((int(np.max(c)) for c in _row_chunks(pool.modalities[spec.name])), default=0)) + 1
            return build_encoder(kind, vocab, hidden=self.hidden, out_dim=self.feature_dim, dropout=self.dropout)
        mean, std = feature_stats(pool, spec.name, pos) if self.standardize else (None, None)
        return build_encoder(kind, spec.dim, hidden=self.hidden, out_dim=self.feature_dim, dropout=self.dropout,
                             mean=mean, std=std, lstm_layers=self.lstm_layers, pooling=self.text_pooling)

    def _unimodal_heads(self, pool: Pool) -> dict[str, str]:
        """The task's head for a modality it labels (``head_modality``), else the modality's name."""
        inverse = {m: h for h, m in pool.task.head_modality.items()}
        heads = {m: inverse.get(m, m) for m in pool.modality_names}
        clash = [m for m, h in heads.items() if h == MAIN_HEAD]
        if clash:
            raise PoolError(f"modality {clash[0]!r} would name a unimodal head {MAIN_HEAD!r}, the fused head; rename it")
        return heads

    def _targets(self, pool: Pool) -> dict[str, np.ndarray]:
        """Training labels per head; a unimodal head without its own label learns the fused one."""
        dtype = np.int64 if pool.task.is_classification else np.float32
        fused = pool.labels[MAIN_HEAD]
        out = {MAIN_HEAD: np.nan_to_num(fused).astype(dtype)}
        for head in self.unimodal_heads.values():
            own = pool.labels.get(head) if self.unimodal_targets == "own" else None
            y = fused if own is None else np.where(np.isnan(own), fused, own)
            out[head] = np.nan_to_num(y).astype(dtype)  # NaN only at unlabeled positions, never trained on
        return out

    def sample_loss(self, pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-sample loss ``[B]``: cross-entropy on logits, L1 on values (GRACE Eqs. 1-2, BMMAL Eq. 1)."""
        if self.task_.is_classification:
            return nn.functional.cross_entropy(pred, y.long(), reduction="none")
        return (pred[:, 0] - y.to(pred.dtype)).abs()

    # --------------------------------------------------------------------- inference
    def _check(self, pool: Pool) -> None:
        if self.net_ is None:
            raise CapabilityError(f"{type(self).__name__} is not fitted; call fit(pool) first")
        check_specs(self.specs_, pool)

    def _positions(self, pool: Pool, positions: PositionsLike) -> np.ndarray:
        self._check(pool)
        pos = np.arange(pool.n) if positions is None else np.asarray(positions, dtype=np.int64)
        if pos.ndim != 1 or (pos.size and (pos.min() < 0 or pos.max() >= pool.n)):
            raise PoolError(f"positions must be a 1-D array of sample positions in 0..{pool.n - 1}")
        return pos

    def _outputs(self, pool: Pool, pos: np.ndarray, absent: frozenset[str] = frozenset()) -> Iterator[NetOutput]:
        self.net_.eval()
        with torch.no_grad():
            for p in chunks(pos, self.infer_batch_size):
                yield self.net_(load_batch(pool, self.specs_, p, self.device_), absent=absent)

    def _collect(self, parts: Iterable[dict[str, torch.Tensor]], shapes: dict[str, tuple]) -> dict[str, np.ndarray]:
        acc: dict[str, list[np.ndarray]] = {k: [] for k in shapes}
        for part in parts:
            for k, v in part.items():
                acc[k].append(v.detach().float().cpu().numpy())
        return {k: (np.concatenate(v) if v else np.zeros((0,) + shapes[k], np.float32)) for k, v in acc.items()}

    def _head_values(self, out: torch.Tensor) -> torch.Tensor:
        return out.softmax(-1) if self.task_.is_classification else out

    def _all_heads(self, pool: Pool, positions: PositionsLike) -> dict[str, np.ndarray]:
        pos = self._positions(pool, positions)
        width = self.task_.n_classes if self.task_.is_classification else 1
        heads = [MAIN_HEAD, *self.unimodal_heads.values()]
        parts = ({h: self._head_values(o.heads[h]) for h in heads} for o in self._outputs(pool, pos))
        return self._collect(parts, {h: (width,) for h in heads})

    def predict(self, pool: Pool, positions: PositionsLike = None) -> dict[str, np.ndarray]:
        """``{head: [n]}``: class indices (classification) or values (regression) for ``"M"`` and every unimodal head."""
        out = self._all_heads(pool, positions)
        if self.task_.is_classification:
            return {h: v.argmax(1) for h, v in out.items()}
        return {h: v[:, 0] for h, v in out.items()}

    def predict_proba(self, pool: Pool, positions: PositionsLike = None) -> dict[str, np.ndarray]:
        """``{head: [n, C]}`` class probabilities (classification tasks only)."""
        if self.net_ is not None and not self.task_.is_classification:
            raise CapabilityError("predict_proba is for classification tasks; use predict for regression")
        return self._all_heads(pool, positions)

    def grad_layers(self) -> list[str]:
        """Names of the layers ``grad_embed`` accepts: ``enc:<modality>`` and ``head:<head>``."""
        if self.net_ is None:
            raise CapabilityError(f"{type(self).__name__} is not fitted; call fit(pool) first")
        return list(self.net_.grad_layers())

    # ------------------------------------------------------------------ capabilities
    def embed(self, pool: Pool, positions: PositionsLike = None) -> dict[str, np.ndarray]:
        """``{modality: f_k [n, h_k], "fused": [n, h]}`` (the fused head's last linear layer's input)."""
        pos = self._positions(pool, positions)
        parts = ({**o.features, "fused": o.fused} for o in self._outputs(pool, pos))
        shapes = {m: (self.feature_dim,) for m in self.specs_}
        shapes["fused"] = (self.net_.grad_layers()[f"head:{MAIN_HEAD}"].in_features,)
        return self._collect(parts, shapes)

    def predict_masked(self, pool: Pool, positions: PositionsLike = None, *, absent: Iterable[str] = frozenset()) -> np.ndarray:
        """Fused-head probabilities ``[n, C]`` (regression: values ``[n, 1]``) with ``f_k = 0`` for the
        ``absent`` modalities (BMMAL Eqs. 10-11's ``V(S)`` with the missing features as zero vectors)."""
        pos = self._positions(pool, positions)
        absent = frozenset([absent] if isinstance(absent, str) else absent)
        unknown = sorted(absent - set(self.specs_))
        if unknown:
            raise PoolError(f"absent={sorted(absent)} names modalities {unknown} the model does not have; it has {sorted(self.specs_)}")
        width = self.task_.n_classes if self.task_.is_classification else 1
        parts = ({"M": self._head_values(o.heads[MAIN_HEAD])} for o in self._outputs(pool, pos, absent))
        return self._collect(parts, {"M": (width,)})["M"]

    def predict_proba_samples(self, pool: Pool, positions: PositionsLike = None, *, T: int = 10, seed: int = 0) -> np.ndarray:
        """MC dropout: ``T`` stochastic passes of the fused head, dropout on and BatchNorm frozen on its
        running statistics, ``[n, C, T]`` probabilities (regression: ``[n, 1, T]`` values). Seeded."""
        if T < 1:
            raise ValueError(f"T must be >= 1, got {T}")
        pos = self._positions(pool, positions)
        width = self.task_.n_classes if self.task_.is_classification else 1
        parts = []
        try:
            with seeded(seed, self.device_), torch.no_grad():
                mc_dropout_mode(self.net_)
                for p in chunks(pos, self.infer_batch_size):
                    batch = load_batch(pool, self.specs_, p, self.device_)
                    parts.append({"M": torch.stack([self._head_values(self.net_(batch).heads[MAIN_HEAD]) for _ in range(T)], -1)})
        finally:
            self.net_.eval()
        return self._collect(parts, {"M": (width, T)})["M"]

    def grad_embed(self, pool: Pool, positions: PositionsLike = None, *, head: str = MAIN_HEAD,
                   layer: str = f"head:{MAIN_HEAD}", pseudo=None, bias: bool = False) -> G.RankOne:
        """Per-sample gradient of ``head``'s loss w.r.t. ``layer``'s weight, ``g = delta ⊗ h`` (module docstring)."""
        return self.grad_embed_many(pool, positions, pairs=[(head, layer)], pseudo=pseudo, bias=bias)[(head, layer)]

    def grad_embed_many(self, pool: Pool, positions: PositionsLike = None, *, pairs: Sequence[tuple[str, str]],
                        pseudo=None, bias: bool = False) -> dict[tuple[str, str], G.RankOne]:
        """:meth:`grad_embed` for several ``(head, layer)`` pairs from one shared forward pass per batch
        (GRACE needs ``g_k`` and ``g_{m_k}`` for every modality: ``[("T", "enc:text"), ("M", "enc:text"), ...]``)."""
        pos = self._positions(pool, positions)
        pairs = [tuple(p) for p in pairs]
        layers = self.net_.grad_layers()
        heads = [MAIN_HEAD, *self.unimodal_heads.values()]
        for head, layer in pairs:
            if head not in heads:
                raise ValueError(f"grad_embed: head {head!r} is not one of the model's heads {heads}")
            if layer not in layers:
                raise ValueError(f"grad_embed: layer {layer!r} is not one of the model's layers {list(layers)}")
        if not pairs:
            raise ValueError("grad_embed_many: pairs is empty; give (head, layer) pairs")
        explicit = self._explicit_pseudo(pseudo, len(pos), {h for h, _ in pairs})
        needed = {layer: layers[layer] for _, layer in pairs}
        parts: dict[tuple[str, str], list[G.RankOne]] = {p: [] for p in pairs}
        self.net_.eval()
        start = 0
        for p in chunks(pos, self.infer_batch_size):
            batch = load_batch(pool, self.specs_, p, self.device_)
            sl = slice(start, start + len(p))
            start += len(p)
            with torch.enable_grad(), G.grad_only_at(self.net_, needed.values()), G.capture_linear(needed) as rec:
                out = self.net_(batch)
                losses = {h: self._pseudo_loss(out, h, pseudo, explicit, sl) for h in {h for h, _ in pairs}}
                deltas = G.factored_deltas(losses, {l: rec[l][1] for l in needed}, pairs)
            for pair in pairs:
                parts[pair].append(G.rank_one_from_torch(deltas[pair], rec[pair[1]][0], bias=bias))
        return {pair: G.concat(v) for pair, v in parts.items()}

    def _explicit_pseudo(self, pseudo, n: int, heads: set[str]) -> dict[str, np.ndarray] | None:
        if pseudo is None or isinstance(pseudo, str):
            allowed = ("fused", "own") if self.task_.is_classification else ("sensitivity", "fused")
            if pseudo is not None and pseudo not in allowed:
                raise ValueError(f"pseudo={pseudo!r} is not valid for a {self.task_.kind} task; use one of {allowed} "
                                 "or explicit labels (an array [n] or {head: [n]})")
            return None
        given = dict(pseudo) if isinstance(pseudo, Mapping) else {h: pseudo for h in heads}
        out = {}
        for h in heads:
            if h not in given:
                raise ValueError(f"pseudo labels given for heads {sorted(given)} but not for head {h!r}")
            y = np.asarray(given[h], dtype=np.float64)
            if y.shape != (n,) or np.isnan(y).any():
                raise ValueError(f"pseudo labels for head {h!r} must be a NaN-free array of shape ({n},), got {y.shape}")
            out[h] = y
        return out

    def _pseudo_loss(self, out: NetOutput, head: str, pseudo, explicit, sl: slice) -> torch.Tensor:
        pred = out.heads[head]
        if explicit is not None:
            return self.sample_loss(pred, torch.as_tensor(explicit[head][sl], device=pred.device))
        if self.task_.is_classification:
            source = out.heads[head] if pseudo == "own" else out.heads[MAIN_HEAD]
            return nn.functional.cross_entropy(pred, source.detach().argmax(1), reduction="none")
        if pseudo == "fused":
            sign = torch.sign(pred[:, 0] - out.heads[MAIN_HEAD][:, 0]).detach()
            return torch.where(sign == 0, torch.ones_like(sign), sign) * pred[:, 0]
        return pred[:, 0]  # "sensitivity": d ŷ / df
