"""CoreSet (Sener & Savarese 2018, Alg. 1): greedy k-center on features.

Each pick is the candidate farthest from its nearest labeled-or-picked row,
``argmax_i min_j ||x_i - x_j||`` (:func:`mmal.kernels.kcenter_greedy`). With ``candidates``
the cover runs on the labeled rows and the candidates alone. The paper's robust (outlier
budget MIP) refinement is not used, as in the GRACE and BMMAL baselines.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..kernels import kcenter_greedy
from ._checks import Picks, array, candidate_positions, check_budget, labeled_mask, numpy
from ._dbal import feature_rows


def features_and_mask(features: Any, labeled: Any, candidates: Any, dtype=np.float32):
    """``(n, labeled mask [n], sorted candidate positions, rows)``: ``rows(positions)`` gives the
    ``dtype`` feature rows of ``features`` (an array ``[N, D]``, checked once, or a function of positions)."""
    if callable(features):
        m = numpy(labeled, "labeled")
        n = m.shape[0] if m.ndim else 0
        lab = labeled_mask(m, n)

        def rows(pos):
            return feature_rows(features, pos, n, dtype=dtype)
    else:
        x = array(features, "features", ndim=2, shape="[N, D]", dtype=dtype)
        n = len(x)
        lab = labeled_mask(labeled, n)

        def rows(pos):
            return x if len(pos) == n and np.array_equal(pos, np.arange(n)) else x[pos]
    return n, lab, candidate_positions(candidates, n, lab), rows


def coreset(features: Any | Callable[[np.ndarray], Any], labeled: Any, budget: int, *, candidates: Any = None,
            backend: str = "auto") -> Picks:
    """Greedy k-center of ``budget`` candidates over ``features [N, D]`` (or a function of positions),
    covered from the rows where the bool mask ``labeled [N]`` is True; picks in pick order.

    ``scores``: ``None`` (each pick depends on the picks before); ``info["radius"]``: each pick's
    distance to the covered set when picked (non-increasing; ``inf`` first when nothing is labeled)."""
    n, lab, cand, rows_of = features_and_mask(features, labeled, candidates)
    k = check_budget(budget, len(cand))
    rows = np.arange(n) if candidates is None else np.union1d(np.flatnonzero(lab), cand)
    picks, radius = kcenter_greedy(rows_of(rows), k, labeled=lab[rows], backend=backend, return_distances=True)
    return Picks(rows[picks], info={"radius": radius})
