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
3. Scaled gradient embedding (Eqs. 13, 15). BADGE's embedding of the fused linear classifier
   ``head:M`` splits into per-modality blocks ``delta ⊗ z_m``, ``z_m`` what that layer reads from
   modality ``m`` alone, and BMMAL scales block ``m`` by ``w_m``: RankOne blocks
   ``(w_m delta, z_m)``, never materialized (DESIGN §5). ``delta`` is
   ``model.grad_embed(head="M", layer=...)`` (pseudo-label: the fused argmax, Eq. 3). ``z_m`` by
   fusion, found by comparing the layer's input ``h`` with ``model.embed``'s features:

   * concat, ``h = [f_1, ..., f_M]`` (Eq. 13): ``z_m = f_m``, its block of ``h``. A model whose
     fused head is an MLP (GRACE's late-fusion model) lists its first fused layer, the one
     reading the concatenation, as ``"fuse:M"`` in ``grad_layers()``; that layer is used.
   * sum, ``h = f_1 + ... + f_M``: ``z_m = f_m``. The layer's gradient ``delta ⊗ sum_m f_m`` is
     the sum of the gradients w.r.t. untied per-modality copies of its weight,
     ``delta ⊗ f_m``; these are BMMAL's blocks (the authors' summation model averages the logits
     of one classifier per modality, whose fused-loss gradients are these blocks times 1/2).
   * other fusions (NL-gate): a model whose ``embed`` takes ``absent=`` gives
     ``z_m = embed(absent=<every other modality>)["fused"]``, the fused classifier's input with
     only ``m`` present, next to the full sample's ``delta`` (the BMMAL authors' NL-gate code).
     For concat and sum this rule gives the same blocks (up to zero padding).

   Any other model is a ``CapabilityError``.
4. k-means++ seeding over the scaled embedding, as BADGE (:func:`mmal.kernels.kmeanspp`).

Steps 1, 2 and 4 and the scaling of step 3 are :func:`mmal.arrays.bmmal`; this plugin reads
``V(S)``, ``delta`` and ``z_m`` from the model.

Classification only (the outcome is a class probability).
"""

from __future__ import annotations

import inspect

import numpy as np

import mmal
from mmal.arrays import scale_blocks
from mmal.grads import RankOne
from mmal.model import EMBED, GRAD_EMBED, PREDICT_MASKED
from mmal.shapley import subset_values

FUSED = "M"


def concat_layer(model) -> str:
    """The linear layer that reads ``[f_1, ..., f_M]``: ``"fuse:M"`` when the model lists one (the
    first layer of an MLP fused head, e.g. GRACE's late-fusion model), else ``"head:M"``."""
    layers = getattr(model, "grad_layers", None)
    names = layers() if callable(layers) else ()
    return f"fuse:{FUSED}" if f"fuse:{FUSED}" in names else f"head:{FUSED}"


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    scale = max(np.abs(a).max(initial=0.0), np.abs(b).max(initial=0.0)) + 1e-30
    return a.shape == b.shape and np.allclose(a, b, rtol=1e-4, atol=1e-5 * scale)


def modality_inputs(model, pool, positions: np.ndarray, modalities: list[str]) -> tuple[str, np.ndarray, list[np.ndarray]]:
    """``(fusion, delta, [z_1, ..., z_M])``: the fused classifier's output gradient and what it reads
    from each modality alone (module docstring, item 3); ``fusion`` is "concat", "sum" or "masked"."""
    layer = concat_layer(model)
    grad = model.grad_embed(pool, positions, head=FUSED, layer=layer)
    feats = model.embed(pool, positions)
    f = [np.asarray(feats[m], dtype=np.float32).reshape(len(positions), -1) for m in modalities]
    h = np.asarray(grad.h, dtype=np.float32)
    if _same(h, np.concatenate(f, axis=1)):
        return "concat", grad.delta, f
    if len({x.shape for x in f}) == 1 and _same(h, np.sum(f, axis=0)):
        return "sum", grad.delta, f
    if "absent" in inspect.signature(model.embed).parameters:
        if layer != f"head:{FUSED}":
            grad = model.grad_embed(pool, positions, head=FUSED, layer=f"head:{FUSED}")
        if _same(np.asarray(grad.h, dtype=np.float32), np.asarray(feats["fused"], dtype=np.float32)):
            alone = [model.embed(pool, positions, absent=[o for o in modalities if o != m])["fused"] for m in modalities]
            return "masked", grad.delta, alone
    raise mmal.CapabilityError(
        f"BMMAL needs the per-modality blocks of the fused classifier's gradient (BMMAL Eq. 13), but "
        f"{type(model).__name__}'s layer {layer!r} reads {h.shape}, neither embed()'s features {modalities} "
        f"concatenated nor summed, and its embed() cannot zero modalities (absent=); use a concat-, sum- or "
        f"NL-gate-fusion model ('mm-classifier', 'nlgate'), list the fused head's first linear layer as "
        f"'fuse:{FUSED}' in grad_layers(), or give embed() an absent= argument"
    )


def scaled_gradient_blocks(model, pool, positions: np.ndarray, modalities: list[str], weights: np.ndarray) -> list[RankOne]:
    """Eq. 15: the blocks ``(w_m delta, z_m)`` of the fused classifier's gradient embedding."""
    _, delta, z = modality_inputs(model, pool, positions, modalities)
    return scale_blocks(delta, z, weights)


class Bmmal(mmal.Strategy):
    """Balanced multimodal AL: Shapley-weighted BADGE gradient embeddings + k-means++."""

    requires = frozenset({GRAD_EMBED, PREDICT_MASKED, EMBED})
    tasks = frozenset({"classification"})

    def __init__(self, backend: str = "auto"):
        self.backend = backend

    def query(self, model, pool, budget, *, rng, round):
        unlabeled = pool.unlabeled_positions()
        modalities = list(model.unimodal_heads)
        values = subset_values(model, pool, unlabeled, modalities)
        fusion, delta, z = modality_inputs(model, pool, unlabeled, modalities)
        picked = mmal.arrays.bmmal(values, delta, z, budget, rng, backend=self.backend)
        picks, Phi = picked.positions, picked.info["contributions"]
        info = {
            "fusion": fusion,
            "contribution_selected": {m: float(Phi[picks, j].mean()) for j, m in enumerate(modalities)},
            "contribution_pool": {m: float(Phi[:, j].mean()) for j, m in enumerate(modalities)},
        }
        return mmal.Selection(unlabeled[picks], info=info)


@mmal.hookimpl
def register_strategies(register):
    register("bmmal", Bmmal, summary="balanced multimodal AL: Shapley-weighted BADGE embeddings (Shen et al. 2023)",
             tasks="classification", requires="grad_embed,predict_masked,embed")
