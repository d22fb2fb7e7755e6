"""Per-sample last-layer gradient embeddings in factored (rank-1) form (DESIGN §5).

For a linear layer ``f = W h`` the gradient of one sample's loss w.r.t. ``W`` is the outer
product ``g = delta ⊗ h`` with ``delta = dL/df``. :class:`RankOne` stores ``delta [N, c]``
and ``h [N, d]`` and never builds ``g [N, c*d]`` except on request (:meth:`RankOne.explicit`,
for tests and naive baselines). An embedding made of several layers (BMMAL's per-modality
blocks of the fused classifier, Eq. 13) is a sequence of RankOne blocks whose explicit form
is their concatenation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class RankOne:
    """``g_i = delta_i ⊗ h_i`` for every sample ``i`` (flattened row-major: ``g[a*d + b] = delta[a] h[b]``)."""

    delta: np.ndarray  # [N, c]
    h: np.ndarray  # [N, d]

    def __post_init__(self) -> None:
        if self.delta.ndim != 2 or self.h.ndim != 2 or self.delta.shape[0] != self.h.shape[0]:
            raise ValueError(f"RankOne needs delta [N, c] and h [N, d], got {self.delta.shape} and {self.h.shape}")

    def __len__(self) -> int:
        return self.delta.shape[0]

    def take(self, positions: np.ndarray) -> "RankOne":
        return RankOne(self.delta[positions], self.h[positions])

    def scaled(self, weights: np.ndarray) -> "RankOne":
        """Each sample's gradient times a scalar weight (scales ``delta``)."""
        return RankOne(self.delta * np.asarray(weights, dtype=self.delta.dtype)[:, None], self.h)

    def sq_norms(self) -> np.ndarray:
        """``||g_i||^2 = ||delta_i||^2 ||h_i||^2``."""
        return np.einsum("nc,nc->n", self.delta, self.delta) * np.einsum("nd,nd->n", self.h, self.h)

    def explicit(self) -> np.ndarray:
        """The materialized ``[N, c*d]`` embedding. Only for small inputs and naive baselines."""
        return np.einsum("nc,nd->ncd", self.delta, self.h).reshape(len(self), -1)


Blocks = Sequence[RankOne]
"""An embedding that is the concatenation of rank-1 blocks ``[g^1_i, g^2_i, ...]``."""


def explicit(blocks: RankOne | Blocks) -> np.ndarray:
    """Materialize a RankOne or a concatenation of blocks."""
    if isinstance(blocks, RankOne):
        return blocks.explicit()
    return np.concatenate([b.explicit() for b in blocks], axis=1)
