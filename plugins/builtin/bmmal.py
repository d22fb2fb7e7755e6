"""Built-in plugin: BMMAL (Shen et al., ACM MM 2023, paper 002 Sec. 3.3-3.5), for M modalities.

1. Modality contributions (Sec. 3.4). The outcome ``V(S)`` of a subset ``S`` of modality
   features is the fused head's probability of the pseudo class ``yhat`` (argmax of the full
   fused prediction) with the features of the modalities outside ``S`` set to zero
   (``model.predict_masked``; ``2^M`` masked predictions). Exact Shapley values, Eq. 10:
   ``phi_m = sum_{S ⊆ M \\ {m}} |S|! (M - |S| - 1)! / M! [V(S ∪ {m}) - V(S)]``, and Eq. 12
   ``Phi_m = |phi_m| / sum_j |phi_j|``. When every ``phi`` of a sample is 0 (no modality moves
   the outcome) the contributions are uniform, ``Phi_m = 1 / M``: no modality dominates.
2. Weights (Eq. 14, generalized): the strongest modality keeps weight 1, every other gets
   ``w_m = 1 - (Phi_max - Phi_m)``. For two modalities this is Eq. 14 exactly (``1 - rho``
   with ``rho = |Phi_1 - Phi_2|``, Eq. 5); ties give 1 to all tied modalities. A sample
   dominated by one modality keeps its dominant block and shrinks the others, so its norm
   (k-means++'s uncertainty) falls with its imbalance (Guideline 1) while the stronger
   modality keeps the larger weight within a sample (Guideline 3).
3. Scaled gradient embedding (Eqs. 13, 15). The fused linear classifier ``head:M`` acts on
   ``[f_1, ..., f_M]``, so its per-sample gradient ``delta ⊗ [f_1, ..., f_M]`` is the
   concatenation of the blocks ``delta ⊗ f_m``; BMMAL scales block ``m`` by ``w_m``:
   RankOne blocks ``(w_m delta, f_m)``, never materialized (DESIGN §5). ``delta`` is
   ``model.grad_embed(head="M", layer="head:M")`` (pseudo-label: the fused argmax, Eq. 3), the
   blocks' ``f_m`` come from ``model.embed`` and are checked to be that layer's input. A model
   whose fused head is an MLP (GRACE's late-fusion model, where BMMAL is a baseline) has no
   linear classifier on the concatenation; if it lists its first fused layer as ``"fuse:M"``
   in ``grad_layers()``, that layer (the one reading ``[f_1, ..., f_M]``) is used instead.
4. k-means++ seeding over the scaled embedding, as BADGE (:func:`mmal.kernels.kmeanspp`).

Classification only (the outcome is a class probability).
"""

from __future__ import annotations

import numpy as np

import mmal
from mmal.grads import RankOne
from mmal.kernels import kmeanspp
from mmal.model import EMBED, GRAD_EMBED, PREDICT_MASKED
from mmal.shapley import contributions, shapley, subset_values

FUSED = "M"


def modality_weights(Phi: np.ndarray) -> np.ndarray:
    """Eq. 14 generalized: ``w_m = 1 - (max_j Phi_j - Phi_m)`` (1 for the strongest modality)."""
    return 1.0 - (Phi.max(1, keepdims=True) - Phi)


def concat_layer(model) -> str:
    """The linear layer that reads ``[f_1, ..., f_M]``: ``"fuse:M"`` when the model lists one (the
    first layer of an MLP fused head, e.g. GRACE's late-fusion model), else ``"head:M"``."""
    layers = getattr(model, "grad_layers", None)
    names = layers() if callable(layers) else ()
    return f"fuse:{FUSED}" if f"fuse:{FUSED}" in names else f"head:{FUSED}"


def scaled_gradient_blocks(model, pool, positions: np.ndarray, modalities: list[str], weights: np.ndarray) -> list[RankOne]:
    """Eq. 15: the blocks ``(w_m delta, f_m)`` of the fused classifier's gradient embedding."""
    layer = concat_layer(model)
    grad = model.grad_embed(pool, positions, head=FUSED, layer=layer)
    feats = model.embed(pool, positions)
    blocks = [np.asarray(feats[m], dtype=np.float32).reshape(len(positions), -1) for m in modalities]
    concat = np.concatenate(blocks, axis=1)
    h = np.asarray(grad.h, dtype=np.float32)
    if h.shape != concat.shape or not np.allclose(h, concat, rtol=1e-4, atol=1e-5 * (np.abs(h).max(initial=0.0) + 1e-30)):
        raise mmal.CapabilityError(
            f"BMMAL needs the fused head's linear layer on the concatenation of the modality features {modalities} "
            f"(BMMAL Eq. 13), but {type(model).__name__}'s layer {layer!r} reads {h.shape}, not embed()'s features "
            f"concatenated {concat.shape}; use a concat-fusion model such as 'mm-classifier', or list the fused "
            f"head's first linear layer as 'fuse:{FUSED}' in the model's grad_layers()"
        )
    delta = np.asarray(grad.delta, dtype=np.float32)
    return [RankOne(delta * weights[:, j : j + 1].astype(np.float32), f) for j, f in enumerate(blocks)]


class Bmmal(mmal.Strategy):
    """Balanced multimodal AL: Shapley-weighted BADGE gradient embeddings + k-means++."""

    requires = frozenset({GRAD_EMBED, PREDICT_MASKED, EMBED})
    tasks = frozenset({"classification"})

    def __init__(self, backend: str = "auto"):
        self.backend = backend

    def query(self, model, pool, budget, *, rng, round):
        unlabeled = pool.unlabeled_positions()
        modalities = list(model.unimodal_heads)
        Phi = contributions(shapley(subset_values(model, pool, unlabeled, modalities)))
        blocks = scaled_gradient_blocks(model, pool, unlabeled, modalities, modality_weights(Phi))
        picks = kmeanspp(blocks, budget, rng, backend=self.backend)
        info = {
            "contribution_selected": {m: float(Phi[picks, j].mean()) for j, m in enumerate(modalities)},
            "contribution_pool": {m: float(Phi[:, j].mean()) for j, m in enumerate(modalities)},
        }
        return mmal.Selection(unlabeled[picks], info=info)


@mmal.hookimpl
def register_strategies(register):
    register("bmmal", Bmmal, summary="balanced multimodal AL: Shapley-weighted BADGE embeddings (Shen et al. 2023)",
             tasks="classification", requires="grad_embed,predict_masked,embed")
