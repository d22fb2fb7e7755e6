"""Built-in plugin: GRACE (Li et al., ACM MM 2024, paper 000 Sec. 3; supplement 001 App. F, H, I).

For every modality ``k`` of the model (``model.unimodal_heads``) two per-sample gradients
w.r.t. ``W_k``, the last layer of modality k's encoder (layer ``"enc:k"``), with pseudo-labels:
``g_k`` from the unimodal head's loss and ``g_{m_k}`` from the fused head ``"M"``'s loss. Both
are rank-1 with the same input ``h_k`` of ``W_k``: ``g_k = delta_k ⊗ h_k``,
``g_{m_k} = delta_{m_k} ⊗ h_k`` (each ``delta`` times its head's Eq. 3 loss weight, see
"Loss weights" below), hence (DESIGN §5)

- Eq. 4 informativeness ``sum_k ||g_k + g_{m_k}|| = sum_k ||delta_k + delta_{m_k}|| ||h_k||``;
- Eq. 5 representativeness ``sum_k sum_{q in U, q != p} ||(g_k + g_{m_k})(p) - (...)(q)||``
  over the unlabeled pool ``U``, by blocked tiles on the rank-1 factors
  ``(delta_k + delta_{m_k}, h_k)`` (:mod:`mmal.kernels.distsum`);
- Eq. 6 easiness ``sum_k cos(g_k, g_{m_k}) = sum_k cos(delta_k, delta_{m_k})``; a cosine
  with a zero vector (a zero gradient) is defined as 0 (neither harmony nor conflict);
- each criterion min-max normalized over ``U`` (a constant criterion normalizes to 0);
- Eq. 7 ``s = alpha_t s_e + s_i s_r`` with Eq. 8 ``alpha_t = alpha - (t - 1) alpha_decay`` for
  query round ``t`` (the ``round`` argument, 1 first). As in Eq. 8 and Algorithm 1 (line 16,
  ``alpha <- alpha - alpha_d``, no floor) alpha keeps decreasing and becomes negative after
  round ``alpha / alpha_decay + 1`` (App. C runs 15 rounds: alpha_15 = -0.4), then favouring
  hard (low-easiness) samples, the paper's "easy to hard"; ``alpha_min`` sets a floor.

The criteria and the score are :func:`mmal.arrays.grace` (Eqs. 4-8 on arrays); this plugin
reads the gradients, the pseudo-labels and the loss weights from the model.

Variants (parameters, and registered names): ``criteria="i"`` GRACE-I (``s = s_i``),
``"ir"`` GRACE-IR (``s = s_i s_r``), ``"ire"`` GRACE-IRE = GRACE; ``representativeness="rp"``
GRACE-rp (App. H: Eq. 5 on the representations ``f_k`` of the four modalities t, a, v and the
fusion ``f_m = [f_t, f_a, f_v]`` (Sec. 3.2's fusion feature), summed) and ``"rp-m"``
GRACE-rp(m) (on ``f_m`` only); ``combine="additive"`` (App. I:
``s = alpha_t s_e + beta s_i + gamma s_r``). ``sample=m`` estimates Eq. 5 from ``m`` random
reference samples instead of all of ``U`` (off by default).

Loss weights (``loss_weights``, Eq. 3). Sec. 3.2 defines ``g = dL/dW_k`` with ``L`` the weighted
multi-task loss of Eq. 3, ``L = sum_k w_k L_k``, and the sum ``g_k + g_{m_k}`` as the gradient
training applies to ``W_k``; only the heads ``k`` and ``m`` depend on ``W_k``, so
``dL/dW_k = w_k dL_k/dW_k + w_m dL_m/dW_k``: ``g_k = w_k delta_k ⊗ h_k``, ``g_{m_k} = w_m delta_{m_k} ⊗ h_k``.
``"model"`` (default) reads the weights from ``model.loss_weights`` (``mtl``: t 0.2, a 0.8, v 0.4,
m 1.0; a head it does not list, or a model without the attribute, weighs 1); ``None`` weighs every
head 1 (the per-head gradients as ``grad_embed`` returns them); a mapping ``{head: w}`` gives them
(unlisted heads 1). Positive weights leave Eq. 6 unchanged (a cosine ignores positive scalars);
they change Eqs. 4-5, the mix of unimodal and fused gradients inside each sum.

Pseudo-labels (``pseudo``): ``"own"`` (default) gives each head its own prediction as
label, passed to ``model.grad_embed`` as explicit labels ``{head: [n]}``: ``g_k`` then points
to what modality k's head predicts and ``g_{m_k}`` to what the fused head predicts, so a
sample whose modality k disagrees with the fusion gets opposed gradients and a low Eq. 6
easiness (the conflicts of Sec. 3.4 and Fig. 7; with the fused prediction as every head's
label both gradients point to the same class and conflicts look easy, measured in
tests/test_grace.py). Regression: an L1 loss against the prediction itself has gradient 0, so
the label is put one unit beyond the prediction on the side of its sign,
``y~ = yhat + sign(yhat)`` (sign 0 -> +1), giving ``g = -sign(yhat) d yhat / dW``: the head's
own sentiment polarity. Any other value (``None`` = the model's default, ``"fused"``, ...) is
passed to the model unchanged.
"""

from __future__ import annotations

import time
from typing import Mapping

import numpy as np

import mmal
from mmal.arrays import ModalityGradients
from mmal.arrays._grace import check_options
from mmal.model import EMBED, GRAD_EMBED

FUSED = "M"
REPRESENTATIVENESS = ("gradients", "rp", "rp-m")


# ------------------------------------------------------------------------------ reading the model
def modality_gradients(model, pool, positions: np.ndarray, pseudo=None) -> dict[str, ModalityGradients]:
    """Per modality, both gradients w.r.t. ``enc:k`` from one shared forward when the model can.

    ``pseudo`` is passed to the model's ``grad_embed`` (None: the model's default)."""
    pairs = [(h, f"enc:{k}") for k, head in model.unimodal_heads.items() for h in (head, FUSED)]
    kw = {} if pseudo is None else {"pseudo": pseudo}
    many = getattr(model, "grad_embed_many", None)
    if callable(many):
        got = many(pool, positions, pairs=pairs, **kw)
    else:
        got = {(h, layer): model.grad_embed(pool, positions, head=h, layer=layer, **kw) for h, layer in pairs}
    out = {}
    for k, head in model.unimodal_heads.items():
        uni, fus = got[(head, f"enc:{k}")], got[(FUSED, f"enc:{k}")]
        h = np.asarray(uni.h, dtype=np.float64)
        if not np.allclose(h, fus.h, rtol=1e-5, atol=1e-6 * (np.abs(h).max(initial=0.0) + 1e-30)):
            raise mmal.ContractError(
                f"{type(model).__name__}.grad_embed returned different layer inputs h for 'enc:{k}' under heads "
                f"{head!r} and {FUSED!r}; GRACE needs both gradients from one deterministic forward (eval mode)"
            )
        out[k] = ModalityGradients(np.asarray(uni.delta, np.float64), np.asarray(fus.delta, np.float64), h)
    return out


def checked_weights(weights, source: str = "loss_weights") -> dict[str, float]:
    """``{head: w}`` as floats, each finite and >= 0 (else a ValueError naming ``source``)."""
    if not isinstance(weights, Mapping):
        raise ValueError(f"{source} must be 'model', None or a mapping {{head: weight}}, got {weights!r}")
    out, bad = {}, {}
    for h, v in weights.items():
        try:
            out[h] = float(v)
        except (TypeError, ValueError):
            out[h] = float("nan")
        if not (np.isfinite(out[h]) and out[h] >= 0):
            bad[h] = v
    if bad:
        raise ValueError(f"{source} must be finite numbers >= 0 (Eq. 3's head weights), got {bad}")
    return out


def head_weights(model, loss_weights="model") -> dict[str, float]:
    """Eq. 3's ``w`` for the fused head and every unimodal head (module docstring); unlisted heads weigh 1."""
    if loss_weights == "model":
        given = checked_weights(getattr(model, "loss_weights", None) or {}, f"{type(model).__name__}.loss_weights")
    else:
        given = checked_weights(loss_weights or {})
    return {h: given.get(h, 1.0) for h in (FUSED, *model.unimodal_heads.values())}


def weighted(grads: dict[str, ModalityGradients], heads: Mapping[str, str], w: Mapping[str, float]) -> dict[str, ModalityGradients]:
    """``g_k = w_k delta_k ⊗ h``, ``g_{m_k} = w_m delta_{m_k} ⊗ h`` (Eq. 3's weighted loss); ``heads``: modality -> head."""
    return {k: ModalityGradients(w[heads[k]] * g.unimodal, w[FUSED] * g.fused, g.h) for k, g in grads.items()}


def own_pseudo_labels(model, pool, positions: np.ndarray) -> dict[str, np.ndarray]:
    """Every head's own prediction as its label; regression: ``yhat + sign(yhat)`` (module docstring)."""
    pred = model.predict(pool, positions)
    heads = [FUSED, *model.unimodal_heads.values()]
    if pool.task.is_classification:
        return {h: np.asarray(pred[h]).astype(np.int64) for h in heads}
    return {h: np.asarray(pred[h], np.float64) + np.where(np.asarray(pred[h]) >= 0, 1.0, -1.0) for h in heads}


def representations(model, pool, positions: np.ndarray, fused_only: bool) -> list[np.ndarray]:
    """App. H: ``[f_t, f_a, f_v, f_m]`` (GRACE-rp) or ``[f_m]`` (GRACE-rp(m)), ``f_m`` their concatenation."""
    feats = model.embed(pool, positions)
    per = [np.asarray(feats[k], dtype=np.float64).reshape(len(positions), -1) for k in model.unimodal_heads]
    fused = np.concatenate(per, axis=1)
    return [fused] if fused_only else [*per, fused]


# ------------------------------------------------------------------------------ the strategy
class Grace(mmal.Strategy):
    """GRACE: gradient informativeness x representativeness plus curriculum-weighted easiness."""

    requires = frozenset({GRAD_EMBED})

    def __init__(
        self,
        alpha: float = 1.0,
        alpha_decay: float = 0.1,
        *,
        alpha_min: float | None = None,
        criteria: str = "ire",
        combine: str = "product",
        beta: float = 1.0,
        gamma: float = 1.0,
        representativeness: str = "gradients",
        pseudo="own",
        loss_weights: str | Mapping[str, float] | None = "model",
        sample: int | None = None,
        tile: int | None = None,
        device: str | None = None,
        dtype: str = "float32",
    ) -> None:
        check_options(criteria, combine, sample)
        if representativeness not in REPRESENTATIVENESS:
            raise ValueError(f"representativeness must be one of {REPRESENTATIVENESS} (App. H), got {representativeness!r}")
        if not (loss_weights is None or loss_weights == "model"):
            loss_weights = checked_weights(loss_weights)
        self.alpha, self.alpha_decay, self.alpha_min = float(alpha), float(alpha_decay), alpha_min
        self.criteria, self.combine, self.beta, self.gamma = criteria, combine, float(beta), float(gamma)
        self.representativeness, self.sample, self.pseudo = representativeness, sample, pseudo
        self.loss_weights = loss_weights
        self.kernel = {"tile": tile, "device": device, "dtype": dtype}
        self.requires = frozenset({GRAD_EMBED} | ({EMBED} if representativeness != "gradients" else set()))

    def options(self, round: int) -> dict:
        """The keyword arguments of :func:`mmal.arrays.grace_scores` for query round ``round``."""
        return dict(round=round, alpha=self.alpha, alpha_decay=self.alpha_decay, alpha_min=self.alpha_min,
                    criteria=self.criteria, combine=self.combine, beta=self.beta, gamma=self.gamma,
                    sample=self.sample, **self.kernel)

    def inputs(self, model, pool, positions: np.ndarray) -> dict:
        """What the array math reads: the weighted gradients, App. H's representations, the weights."""
        pseudo = own_pseudo_labels(model, pool, positions) if self.pseudo == "own" else self.pseudo
        w = head_weights(model, self.loss_weights)
        grads = weighted(modality_gradients(model, pool, positions, pseudo), model.unimodal_heads, w)
        reps = None
        if "r" in self.criteria and self.representativeness != "gradients":
            reps = representations(model, pool, positions, fused_only=self.representativeness == "rp-m")
        return {"gradients": grads, "representations": reps, "loss_weights": w}

    def scores(self, model, pool, positions: np.ndarray, *, rng: np.random.Generator, round: int = 1) -> dict:
        """Raw and normalized criteria and the final score of every sample in ``positions`` (= U)."""
        mmal.arrays.curriculum_alpha(round, self.alpha, self.alpha_decay, self.alpha_min)  # a bad round fails first
        t0 = time.perf_counter()
        got = self.inputs(model, pool, positions)
        t1 = time.perf_counter()
        out = mmal.arrays.grace_scores(got["gradients"], representations=got["representations"], rng=rng,
                                       **self.options(round))
        return {**out, "loss_weights": got["loss_weights"],
                "seconds": {"gradients": t1 - t0, "criteria": time.perf_counter() - t1}}

    def query(self, model, pool, budget, *, rng, round):
        mmal.arrays.curriculum_alpha(round, self.alpha, self.alpha_decay, self.alpha_min)
        unlabeled = pool.unlabeled_positions()
        t0 = time.perf_counter()
        got = self.inputs(model, pool, unlabeled)
        t1 = time.perf_counter()
        picked = mmal.arrays.grace(got["gradients"], budget, representations=got["representations"], rng=rng,
                                   **self.options(round))
        order = picked.positions
        info = {name: v[order] for name, v in picked.info["normalized"].items()}
        info |= {f"{name}_raw": v[order] for name, v in picked.info["raw"].items()}
        info |= {"alpha": picked.info["alpha"], "loss_weights": got["loss_weights"],
                 "seconds": {"gradients": t1 - t0, "criteria": time.perf_counter() - t1}}
        return mmal.Selection(unlabeled[order], picked.picked_scores, info)


VARIANTS = {
    "grace": ({}, "GRACE (= GRACE-IRE): Eq. 7 alpha_t * easiness + informativeness * representativeness"),
    "grace-i": ({"criteria": "i"}, "GRACE-I ablation: informativeness only (Eq. 4)"),
    "grace-ir": ({"criteria": "ir"}, "GRACE-IR ablation: informativeness * representativeness"),
    "grace-rp": ({"representativeness": "rp"}, "GRACE-rp (App. H): representativeness from t, a, v and fused representations"),
    "grace-rp-m": ({"representativeness": "rp-m"}, "GRACE-rp(m) (App. H): representativeness from the fused representation"),
    "grace-additive": ({"combine": "additive"}, "GRACE with the additive score alpha*s_e + beta*s_i + gamma*s_r (App. I)"),
}


def _variant(preset: dict):
    def build(**params):
        return Grace(**{**preset, **params})

    return build


@mmal.hookimpl
def register_strategies(register):
    for name, (preset, summary) in VARIANTS.items():
        needs = "grad_embed,embed" if preset.get("representativeness") else "grad_embed"
        register(name, _variant(preset), summary=summary, tasks="regression,classification", requires=needs)
