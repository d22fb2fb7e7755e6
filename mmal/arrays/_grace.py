"""GRACE (Li et al., ACM MM 2024, Sec. 3; supplement App. H, I) on per-modality factored gradients.

For every modality ``k``: ``g_k = delta_k ⊗ h_k`` (modality k's unimodal head's loss) and
``g_{m_k} = delta_{m_k} ⊗ h_k`` (the fused head's loss), both w.r.t. ``W_k``, the last layer of
modality k's encoder, whose input is ``h_k``; each ``delta`` already carries its head's Eq. 3
loss weight. Over the candidate set ``U``:

- Eq. 4 informativeness ``s_i = sum_k ||g_k + g_{m_k}|| = sum_k ||delta_k + delta_{m_k}|| ||h_k||``;
- Eq. 5 representativeness ``s_r = sum_k sum_{q in U} ||(g_k + g_{m_k})(p) - (g_k + g_{m_k})(q)||``
  (blocked tiles on the rank-1 factors, :mod:`mmal.kernels.distsum`); App. H replaces the
  gradients by representations ``f`` (``representations=[f_1, ..., f_R]``, summed the same way);
- Eq. 6 easiness ``s_e = sum_k cos(g_k, g_{m_k}) = sum_k cos(delta_k, delta_{m_k})`` (0 with a zero vector);
- each criterion min-max normalized over ``U`` (a constant criterion gives 0); beyond the paper,
  ``normalize="rank"`` maps it to its rank instead (``rank_normalize``, the ``grace-rank`` variant);
- Eq. 7 ``s = alpha_t s_e + s_i s_r`` (``combine="product"``) or App. I
  ``s = alpha_t s_e + beta s_i + gamma s_r`` (``"additive"``), with Eq. 8
  ``alpha_t = alpha - (t - 1) alpha_decay`` for query round ``t`` (no floor unless ``alpha_min``);
- ``criteria``: ``"i"`` (GRACE-I, ``s = s_i``), ``"ir"`` (GRACE-IR), ``"ire"`` (GRACE).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import ArrayError
from ..grads import RankOne
from ..kernels.distsum import distance_sums, sampled_distance_sums
from ._checks import Picks, array, candidate_positions, check_budget, generator, scatter, top_k

CRITERIA = ("i", "ir", "ire")
COMBINE = ("product", "additive")
NORMALIZE = ("minmax", "rank")


def curriculum_alpha(round: int, alpha: float = 1.0, alpha_decay: float = 0.1, alpha_min: float | None = None) -> float:
    """Eq. 8: ``alpha_t = alpha - (t - 1) alpha_decay``, floored at ``alpha_min`` if given."""
    if round < 1:
        raise ValueError(f"round must be >= 1 (the first query round is 1), got {round}")
    a = alpha - (round - 1) * alpha_decay
    return a if alpha_min is None else max(a, alpha_min)


def minmax(x: np.ndarray) -> np.ndarray:
    """Sec. 3.4 min-max normalization to [0, 1]; a constant criterion gives 0 everywhere."""
    x = np.asarray(x, dtype=np.float64)
    lo, hi = x.min(), x.max()
    span = hi - lo
    if not span > 1e-12 * max(abs(hi), abs(lo), 1e-300):
        return np.zeros_like(x)
    return (x - lo) / span


def rank_normalize(x: np.ndarray) -> np.ndarray:
    """Not in the paper (``grace-rank``): ``(rank - 1) / (n - 1)`` in [0, 1], ties at their mean rank
    (``scipy.stats.rankdata(method="average")``); a constant criterion gives 0, as :func:`minmax`."""
    from scipy.stats import rankdata

    x = np.asarray(x, dtype=np.float64)
    if x.size < 2 or not np.ptp(x) > 1e-12 * max(abs(x.max()), abs(x.min()), 1e-300):
        return np.zeros_like(x)
    return (rankdata(x, method="average") - 1.0) / (x.size - 1)


NORMALIZERS = {"minmax": minmax, "rank": rank_normalize}


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity; 0 where either row is a zero vector."""
    num = np.einsum("nc,nc->n", a, b)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


@dataclass(frozen=True)
class ModalityGradients:
    """``g_k = unimodal ⊗ h``, ``g_{m_k} = fused ⊗ h`` for one modality (rows: samples)."""

    unimodal: np.ndarray  # delta_k [n, c]
    fused: np.ndarray  # delta_{m_k} [n, c]
    h: np.ndarray  # input of W_k [n, d]

    def combined(self) -> RankOne:
        """``g_k + g_{m_k} = (delta_k + delta_{m_k}) ⊗ h``."""
        return RankOne(self.unimodal + self.fused, self.h)

    def take(self, rows) -> "ModalityGradients":
        return ModalityGradients(self.unimodal[rows], self.fused[rows], self.h[rows])


def informativeness(grads: Mapping[str, ModalityGradients]) -> np.ndarray:
    """Eq. 4: ``sum_k ||g_k + g_{m_k}||_2``."""
    return sum(np.linalg.norm(g.unimodal + g.fused, axis=1) * np.linalg.norm(g.h, axis=1) for g in grads.values())


def easiness(grads: Mapping[str, ModalityGradients]) -> np.ndarray:
    """Eq. 6: ``sum_k cos(g_k, g_{m_k})``; the shared ``h`` cancels (0 if ``h = 0``)."""
    return sum(cosine_rows(g.unimodal, g.fused) * (np.linalg.norm(g.h, axis=1) > 0) for g in grads.values())


def summed_distances(embeddings, *, sample: int | None = None, rng=None, **kernel) -> np.ndarray:
    """Eq. 5: sum over the given embeddings (RankOne or arrays) of the distance sums within them."""
    if sample is None:
        return sum(distance_sums(e, **kernel) for e in embeddings)
    return sum(sampled_distance_sums(e, sample, rng, **kernel) for e in embeddings)


def combine_scores(s_i, s_r, s_e, alpha: float, combine: str, beta: float = 1.0, gamma: float = 1.0) -> np.ndarray:
    """Eq. 7 (``"product"``: ``alpha s_e + s_i s_r``) or App. I (``"additive"``); absent criteria are None."""
    terms = [] if s_e is None else [alpha * s_e]
    if combine == "product":
        terms.append(s_i if s_r is None else s_i * s_r)
    else:
        terms += [beta * s_i] + ([] if s_r is None else [gamma * s_r])
    return sum(terms)


def check_options(criteria: str, combine: str, sample: int | None, normalize: str = "minmax") -> None:
    """Raise a ValueError for a criteria set, a combination, a normalization or an Eq. 5 sample size GRACE does not define."""
    if criteria not in CRITERIA:
        raise ArrayError(f"criteria must be one of {CRITERIA} (GRACE-I, GRACE-IR, GRACE-IRE), got {criteria!r}")
    if combine not in COMBINE:
        raise ArrayError(f"combine must be 'product' (Eq. 7) or 'additive' (App. I), got {combine!r}")
    if normalize not in NORMALIZE:
        raise ArrayError(f"normalize must be 'minmax' (Sec. 3.4) or 'rank' (grace-rank), got {normalize!r}")
    if sample is not None and int(sample) < 2:
        raise ArrayError(f"sample (reference samples for Eq. 5) must be None or >= 2, got {sample}")


def modality_gradients(gradients: Mapping[str, Any]) -> dict[str, ModalityGradients]:
    """Checked per-modality gradients: ``{k: ModalityGradients}`` or ``{k: (delta_k, delta_mk, h_k)}``."""
    if not isinstance(gradients, Mapping) or not gradients:
        raise ArrayError("gradients must be a non-empty mapping {modality: (delta_k [N, c], delta_mk [N, c], h_k [N, d])}")
    out, n = {}, None
    for k, g in gradients.items():
        parts = (g.unimodal, g.fused, g.h) if isinstance(g, ModalityGradients) else g
        if not isinstance(parts, (tuple, list)) or len(parts) != 3:
            raise ArrayError(f"gradients[{k!r}] must be (delta_k, delta_mk, h_k) or a ModalityGradients")
        uni = array(parts[0], f"gradients[{k!r}] delta_k", ndim=2, shape="[N, c]", n=n)
        n = len(uni)
        fus = array(parts[1], f"gradients[{k!r}] delta_mk", ndim=2, shape="[N, c]", n=n)
        h = array(parts[2], f"gradients[{k!r}] h_k", ndim=2, shape="[N, d]", n=n)
        if fus.shape != uni.shape:
            raise ArrayError(f"gradients[{k!r}]: delta_k {uni.shape} and delta_mk {fus.shape} must have one shape "
                             f"(two gradients of the same layer W_k)")
        out[k] = ModalityGradients(uni, fus, h)
    return out


def grace_scores(gradients: Mapping[str, Any], *, round: int = 1, alpha: float = 1.0, alpha_decay: float = 0.1,
                 alpha_min: float | None = None, criteria: str = "ire", combine: str = "product", beta: float = 1.0,
                 gamma: float = 1.0, representations: Sequence[Any] | None = None, sample: int | None = None,
                 rng: np.random.Generator | int | None = None, tile: int | None = None, device: str | None = None,
                 dtype: str = "float32", normalize: str = "minmax") -> dict:
    """Raw and normalized criteria and the score of every row, ``U`` = all rows given:
    ``{"score", "raw", "normalized", "alpha"}``. ``normalize``: ``"minmax"`` (Sec. 3.4, the
    paper) or ``"rank"`` (:func:`rank_normalize`, not in the paper)."""
    check_options(criteria, combine, sample, normalize)
    alpha_t = curriculum_alpha(round, alpha, alpha_decay, alpha_min)
    grads = modality_gradients(gradients)
    raw = {"informativeness": informativeness(grads)}
    if "e" in criteria:
        raw["easiness"] = easiness(grads)
    if "r" in criteria:
        n = len(raw["informativeness"])
        embs = ([g.combined() for g in grads.values()] if representations is None else
                [array(f, f"representations[{j}]", ndim=2, shape="[N, d]", n=n) for j, f in enumerate(representations)])
        raw["representativeness"] = summed_distances(embs, sample=sample, rng=None if sample is None else generator(rng),
                                                     tile=tile, device=device, dtype=dtype)
    norm = {name: NORMALIZERS[normalize](v) for name, v in raw.items()}
    score = combine_scores(norm["informativeness"], norm.get("representativeness"), norm.get("easiness"),
                           alpha_t, combine, beta, gamma)
    return {"score": score, "raw": raw, "normalized": norm, "alpha": alpha_t}


def grace(gradients: Mapping[str, Any], budget: int, *, candidates: Any = None, representations: Sequence[Any] | None = None,
          **options: Any) -> Picks:
    """The ``budget`` best GRACE scores over the candidates (``U``), best first.

    ``options``: those of :func:`grace_scores` (``round``, ``alpha``, ``criteria``, ...).
    ``info``: ``"alpha"`` and, per criterion, ``"raw"`` / ``"normalized"`` ``[N]`` arrays."""
    grads = modality_gradients(gradients)
    n = len(next(iter(grads.values())).h)
    cand = candidate_positions(candidates, n)
    k = check_budget(budget, len(cand))
    if len(cand) < n:
        grads = {m: g.take(cand) for m, g in grads.items()}
        if representations is not None:
            representations = [numpy_rows(f, cand, f"representations[{j}]", n) for j, f in enumerate(representations)]
    out = grace_scores(grads, representations=representations, **options)
    info = {"alpha": out["alpha"]}
    for key in ("raw", "normalized"):
        info[key] = {name: scatter(v, cand, n) for name, v in out[key].items()}
    return Picks(top_k(out["score"], cand, k), scatter(out["score"], cand, n), info)


def numpy_rows(f: Any, rows: np.ndarray, name: str, n: int) -> np.ndarray:
    a = array(f, name, ndim=2, shape="[N, d]", n=n)
    return a[rows]
