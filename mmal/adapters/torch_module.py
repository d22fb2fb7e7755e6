"""Any ``torch.nn.Module`` as an mmal TaskModel (DESIGN §8, layer 3).

``TorchModel(net, encoders={modality: layer name}, heads={"M": layer name, modality: layer name})``
wraps your network without changing it. The names are those of ``net.named_modules()``:

* ``encoders[k]`` - the module whose output is modality ``k``'s feature ``f_k [B, d_k]`` (the
  encoder, or its last layer). The gradient layer ``"enc:k"`` (GRACE's ``W_k``) is that module
  if it is an ``nn.Linear``, else the last ``nn.Linear`` inside it (definition order: exact for
  an ``nn.Sequential``), e.g. the ``Linear`` of ``Sequential(..., Linear, ReLU)``.
* ``heads["M"]`` - the fused head's last ``nn.Linear`` (its output: logits ``[B, C]``, or
  ``[B, 1]`` for regression; its input: the fused feature) = layer ``"head:M"``;
  ``heads[k]`` - modality ``k``'s unimodal head (layer ``"head:k"``; the head is named ``k``).
* ``fuse`` (optional) - the first linear layer of an MLP fused head, reading ``[f_1, ..., f_M]``
  (layer ``"fuse:M"``, for strategies that need the layer reading the concatenation).

Forward hooks on those layers, put in place for one forward pass at a time, record what the
capabilities need; ``net`` is called as ``net(x_1, ..., x_M)`` with one float32 tensor per
modality in ``inputs`` order (default: the order of ``encoders``), or as ``forward(net, batch)``
with ``batch = {modality: (x, lengths or None)}``. What the network returns is not read.

The capabilities come from :class:`mmal.nn.TorchTaskModel` (one implementation for mmal's own
models and yours): ``embed``; ``grad_embed`` / ``grad_embed_many``, factored per-sample
gradients of a head's loss with pseudo-labels from one forward and one batched backward per
batch; ``predict_proba_samples``, MC dropout with dropout on and BatchNorm frozen;
``predict_masked``, the absent modalities' encoder outputs replaced by zeros.

Training: ``fit(pool, seed=)`` restores the weights ``net`` had when wrapped and trains it on
the labeled samples with Adam (``epochs``, ``lr``, ``weight_decay``, ``batch_size``), on
``loss(outputs, targets)`` (``{head: logits}``, ``{head: labels}`` -> a scalar) or by default
the mean over heads of each head's mean cross-entropy (L1 for regression). A unimodal head
learns its modality's own label where the task has one (``Task.head_modality``), else the
fused label. If you train ``net`` in your own loop, do not call ``fit``: until it is called the
model uses ``net`` as it is and takes the task and modalities from the pool it is given.
"""

from __future__ import annotations

import copy
import difflib
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from ..errors import PoolError
from ..nn.capabilities import NetOutput, TorchTaskModel
from ..nn.training import check_specs, fit_network, modality_specs, seeded
from ..pool import MAIN_HEAD, Pool

Forward = Callable[[nn.Module, dict], Any]
Loss = Callable[[dict, dict], torch.Tensor]


def _module(net: nn.Module, name: str, what: str) -> nn.Module:
    modules = dict(net.named_modules())
    if not isinstance(name, str) or name not in modules or name == "":
        close = difflib.get_close_matches(str(name), [n for n in modules if n], n=3)
        hint = f"; did you mean {close}?" if close else f"; its layers are {[n for n in modules if n][:12]}"
        raise ValueError(f"{what}={name!r} is not a layer of {type(net).__name__} (names as in net.named_modules()){hint}")
    return modules[name]


class HookedNet(nn.Module):
    """The user's ``net`` behind the interface :class:`TorchTaskModel` reads: ``forward(batch,
    absent) -> NetOutput`` through forward hooks, and ``grad_layers()``."""

    def __init__(self, net: nn.Module, encoders: dict[str, nn.Module], heads: dict[str, nn.Module],
                 layers: dict[str, nn.Linear], inputs: list[str], forward: Forward | None, names: dict[str, str]) -> None:
        super().__init__()
        self.net = net
        self.encoders, self.heads, self.layers = encoders, heads, layers  # plain dicts: no second registration
        self.inputs, self.call, self.names = inputs, forward, names
        self.width: int | None = None  # the head output width the task asks for (set by TorchModel)

    def forward(self, batch: dict, absent: frozenset[str] = frozenset()) -> NetOutput:
        features: dict[str, torch.Tensor] = {}
        outputs: dict[str, torch.Tensor] = {}
        fused: list[torch.Tensor] = []

        def feature_hook(m):
            def hook(module, args, output):
                self._once(features, m, f"enc:{m}")
                out = torch.zeros_like(output) if m in absent else output
                features[m] = out
                return out
            return hook

        def head_hook(h):
            def hook(module, args, output):
                self._once(outputs, h, f"head:{h}")
                outputs[h] = output
                if h == MAIN_HEAD:
                    fused.append(args[0])
            return hook

        handles = [mod.register_forward_hook(feature_hook(m)) for m, mod in self.encoders.items()]
        handles += [mod.register_forward_hook(head_hook(h)) for h, mod in self.heads.items()]
        try:
            if self.call is None:
                self.net(*[batch[m][0] for m in self.inputs])
            else:
                self.call(self.net, batch)
        finally:
            for handle in handles:
                handle.remove()
        self._check_ran(features, outputs)
        return NetOutput(outputs, features, fused[0])

    def _once(self, seen: dict, key: str, layer: str) -> None:
        if key in seen:
            raise RuntimeError(f"layer {layer!r} ({self.names[layer]!r}) ran twice in one forward pass; name a layer "
                               "that runs once per sample")

    def _check_ran(self, features: dict, outputs: dict) -> None:
        missing = [f"enc:{m}" for m in self.encoders if m not in features] + [f"head:{h}" for h in self.heads if h not in outputs]
        if missing:
            raise ValueError(f"layers {[(k, self.names[k]) for k in missing]} did not run in the forward pass; name "
                             "layers that the network's forward calls")
        for m, f in features.items():
            if f.dim() != 2:
                raise ValueError(f"encoders[{m!r}]={self.names[f'enc:{m}']!r} outputs shape {tuple(f.shape)}; name the "
                                 "layer whose output is the modality's feature [batch, d]")
        for h, out in outputs.items():
            if self.width is not None and (out.dim() != 2 or out.shape[1] != self.width):
                raise ValueError(f"heads[{h!r}]={self.names[f'head:{h}']!r} outputs shape {tuple(out.shape)}, but the "
                                 f"task needs [batch, {self.width}] (classes, or 1 for regression)")

    def grad_layers(self) -> dict[str, nn.Linear]:
        return dict(self.layers)


class TorchModel(TorchTaskModel):
    """A user's ``nn.Module`` as an mmal TaskModel with all four capabilities (module docstring)."""

    def __init__(
        self,
        net: nn.Module,
        *,
        encoders: Mapping[str, str],
        heads: Mapping[str, str],
        fuse: str | None = None,
        inputs: Sequence[str] | None = None,
        forward: Forward | None = None,
        loss: Loss | None = None,
        epochs: int = 5,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        batch_size: int = 32,
        infer_batch_size: int = 256,
    ) -> None:
        if not isinstance(net, nn.Module):
            raise TypeError(f"TorchModel(net): net must be a torch.nn.Module, got {type(net).__name__}")
        if not isinstance(encoders, Mapping) or not encoders:
            raise ValueError("TorchModel: encoders must map each modality to its encoder's last layer, "
                             "e.g. {'audio': 'audio_enc.2'}")
        if not isinstance(heads, Mapping) or MAIN_HEAD not in heads:
            raise ValueError(f"TorchModel: heads must name the fused head's last linear layer as {MAIN_HEAD!r}, "
                             "e.g. {'M': 'fc'}, plus optional unimodal heads by modality")
        stray = sorted(set(heads) - {MAIN_HEAD} - set(encoders))
        if stray:
            raise ValueError(f"TorchModel: heads {stray} are neither {MAIN_HEAD!r} nor a modality of encoders "
                             f"{list(encoders)}; key a unimodal head by the modality it reads")
        super().__init__(epochs=epochs, lr=lr, weight_decay=weight_decay, batch_size=batch_size,
                         infer_batch_size=infer_batch_size)
        names = {f"enc:{m}": n for m, n in encoders.items()} | {f"head:{h}": n for h, n in heads.items()}
        enc = {str(m): _module(net, n, f"encoders[{m!r}]") for m, n in encoders.items()}
        hd = {str(h): _module(net, n, f"heads[{h!r}]") for h, n in heads.items()}
        for h, mod in hd.items():
            if not isinstance(mod, nn.Linear):
                raise ValueError(f"heads[{h!r}]={heads[h]!r} is a {type(mod).__name__}; name the head's last nn.Linear "
                                 "(its output is the head's logits)")
        layers = {f"head:{h}": mod for h, mod in hd.items()}
        for m, mod in enc.items():
            last = mod if isinstance(mod, nn.Linear) else ([x for x in mod.modules() if isinstance(x, nn.Linear)] or [None])[-1]
            if last is not None:
                layers[f"enc:{m}"] = last
        if fuse is not None:
            fz = _module(net, fuse, "fuse")
            if not isinstance(fz, nn.Linear):
                raise ValueError(f"fuse={fuse!r} is a {type(fz).__name__}; name the fused head's first nn.Linear")
            layers[f"fuse:{MAIN_HEAD}"], names[f"fuse:{MAIN_HEAD}"] = fz, fuse
        order = list(enc) if inputs is None else [str(m) for m in inputs]
        if inputs is not None and (not order or len(set(order)) != len(order)):
            raise ValueError(f"TorchModel: inputs={list(inputs)} must list the modalities net(...) takes, each once")
        if forward is not None and not callable(forward):
            raise TypeError("TorchModel: forward must be a callable forward(net, batch)")
        if loss is not None and not callable(loss):
            raise TypeError("TorchModel: loss must be a callable loss(outputs, targets) -> scalar tensor")
        self.net_ = HookedNet(net, enc, hd, layers, order, forward, names)
        self.loss = loss
        self.read = sorted(set(order) | set(enc))  # the modalities a batch carries
        self.unimodal_heads = {m: m for m in hd if m != MAIN_HEAD}
        self.initial_state_ = copy.deepcopy(net.state_dict())
        param = next(net.parameters(), None)
        self.device_ = param.device if param is not None else torch.device("cpu")
        self.fitted_ = False
        self.specs_ = None
        self.task_ = None
        del self.fit_signature_  # not checked by Strategy.select: a net trained in your own loop has no fit pool (see _check)

    @property
    def net(self) -> nn.Module:
        """The wrapped network (the same object you passed)."""
        return self.net_.net

    # ------------------------------------------------------------------ the pool
    def _bind(self, pool: Pool) -> None:
        missing = [m for m in self.read if m not in pool.modalities]
        if missing:
            raise PoolError(f"the network reads modalities {missing}, which the pool lacks; its modalities are "
                            f"{pool.modality_names}")
        specs = modality_specs(pool)
        self.specs_ = {m: specs[m] for m in self.read}
        self.task_ = pool.task
        self.net_.width = pool.task.n_classes if pool.task.is_classification else 1

    def _check(self, pool: Pool) -> None:
        if not self.fitted_:  # your own training loop: take the task and layout from this pool
            self._bind(pool)
        else:
            check_specs(self.specs_, pool)
            self.net_.width = self.task_.n_classes if self.task_.is_classification else 1

    # ---------------------------------------------------------------- training
    def fit(self, pool: Pool, *, seed: int = 0) -> "TorchModel":
        """Train ``net`` from the weights it had when wrapped on ``pool``'s labeled samples (seeded)."""
        pos = pool.labeled_positions()
        if pos.size == 0:
            raise PoolError("TorchModel.fit: the pool has no labeled samples; label some first (pool.label)")
        self._bind(pool)
        self.net.load_state_dict(self.initial_state_)
        targets = self._targets(pool)

        def loss_fn(net, batch, bpos):
            t = {h: torch.as_tensor(v[bpos], device=self.device_) for h, v in targets.items()}
            return self._training_loss(net(batch), t)

        with seeded(seed, self.device_):
            self.history_ = fit_network(self.net_, pool, self.specs_, pos, loss_fn, epochs=self.epochs, lr=self.lr,
                                        weight_decay=self.weight_decay, batch_size=self.batch_size, seed=seed,
                                        device=self.device_)
        self.fitted_ = True
        return self

    def _targets(self, pool: Pool) -> dict[str, np.ndarray]:
        """Per head: the fused label, or the modality's own label where the task has one."""
        dtype = np.int64 if pool.task.is_classification else np.float32
        fused = pool.labels[MAIN_HEAD]
        own = {m: pool.labels[h] for h, m in pool.task.head_modality.items()}
        out = {MAIN_HEAD: np.nan_to_num(fused).astype(dtype)}
        for m, head in self.unimodal_heads.items():
            y = fused if m not in own else np.where(np.isnan(own[m]), fused, own[m])
            out[head] = np.nan_to_num(y).astype(dtype)  # NaN only where unlabeled, never trained on
        return out

    def _training_loss(self, out: NetOutput, targets: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.loss is not None:
            return self.loss(out.heads, targets)
        terms = [self.sample_loss(pred, targets[h]).mean() for h, pred in out.heads.items()]
        return sum(terms) / len(terms)

    def predict_proba(self, pool: Pool, positions=None) -> dict[str, np.ndarray]:
        """``{head: [n, C]}`` class probabilities (classification tasks only)."""
        self._check(pool)
        return super().predict_proba(pool, positions)

    def grad_layers(self) -> list[str]:
        """The layer names ``grad_embed`` accepts (``enc:<m>`` for linear encoder layers, ``head:<h>``, ``fuse:M``)."""
        return list(self.net_.grad_layers())

    def _positions(self, pool: Pool, positions) -> np.ndarray:
        if not isinstance(pool, Pool):
            raise TypeError(f"TorchModel: expected an mmal.Pool, got {type(pool).__name__}")
        return super()._positions(pool, positions)

    def __repr__(self) -> str:
        return f"TorchModel({type(self.net).__name__}, layers={self.net_.names})"

