"""Built-in plugin: GRACE-rank, GRACE with rank instead of min-max normalization (not in the paper).

GRACE (paper 000, Sec. 3.4) min-max normalizes each criterion over the unlabeled pool ``U``
before Eq. 7 ``s = alpha_t s_e + s_i s_r``. Min-max is set by the two extreme samples: with a
few samples whose gradients are far larger than the rest (outliers: Eq. 4's norm grows with
the input norm ``||h_k||``), every ordinary sample's ``s_i`` and ``s_r`` are squeezed near 0, so
``s_i s_r`` ranks the outliers first and the easiness term cannot outweigh them
(docs/reproducing.md measures it). GRACE-rank replaces ``minmax`` by
:func:`mmal.arrays.rank_normalize`, ``(rank - 1) / (n - 1)`` over ``U`` (ties at their mean
rank): each criterion is spread uniformly over [0, 1] whatever its scale, and a sample's
value depends only on its order, not on how far the extremes lie. Everything else (the
gradients, Eqs. 4-8, the pseudo-labels, the loss weights, every parameter) is
:class:`mmal.builtin.grace.Grace`'s; ``grace`` itself is unchanged.
"""

from __future__ import annotations

import mmal
from mmal.builtin.grace import Grace


class GraceRank(Grace):
    """GRACE with each criterion rank-normalized over ``U`` (Eq. 7 on ranks in [0, 1])."""

    normalize = "rank"

    def options(self, round: int) -> dict:
        return {**super().options(round), "normalize": self.normalize}


@mmal.hookimpl
def register_strategies(register):
    register("grace-rank", GraceRank, summary="GRACE with rank normalization of the criteria instead of min-max "
             "(not in the paper; robust to outliers)", tasks="regression,classification", requires="grad_embed")
