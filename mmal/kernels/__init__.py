"""Selection kernels: distance-heavy math with one API and run-time backends (DESIGN §5).

    kmeanspp(emb, k, rng)                 k-means++ seeding, explicit or rank-1 factored rows
    kcenter_greedy(x, k, labeled=...)     greedy k-center (farthest-first) with a labeled set
    knn(x, k, queries=...)                exact k nearest neighbours -> (dist, idx)
    knn_graph(x, k)                       sparse kNN graph (scipy.sparse.csr_matrix)
    weighted_kmeans(x, k, weights, rng)   Lloyd's k-means with sample weights
    nearest_to_centroids(x, centroids)    the closest point to each centroid, no duplicates
    distance_sums(emb)                    each row's summed Euclidean distance to all rows (GRACE Eq. 5)

Every kernel takes ``backend="auto" | "faiss-gpu" | "faiss" | "torch"`` (see
:mod:`mmal.kernels.backend`); ``"auto"`` picks the first available. Results agree across
backends up to float32 tolerance; memory stays ``O(N (c + d))``, never ``N x N``. The
running-minimum kernels (k-center, k-means++) compute in float32 with a proven error bound
and switch to float64 where it cannot decide (:mod:`mmal.kernels.cover`): k-center's picks
and radii are those of a float64 evaluation, k-means++'s ``D^2`` is float32-accurate
relative to itself and exactly 0 for duplicates of a center.
"""

from .backend import BACKENDS, available_backends, resolve
from .distsum import distance_sums, sampled_distance_sums
from .kcenter import kcenter_greedy
from .kmeans import nearest_to_centroids, weighted_kmeans
from .kmeanspp import kmeanspp
from .knn import knn, knn_graph

__all__ = [
    "BACKENDS", "available_backends", "distance_sums", "kcenter_greedy", "kmeanspp", "knn", "knn_graph",
    "nearest_to_centroids", "resolve", "sampled_distance_sums", "weighted_kmeans",
]
