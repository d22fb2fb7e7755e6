"""Backend choice for the selection kernels: ``"faiss-gpu"``, ``"faiss"`` (CPU) or ``"torch"``.

``"auto"`` picks the first available in that order. FAISS serves the kNN / k-means /
nearest-centroid searches; the running-minimum loops (k-means++, k-center) are GEMV chains on
the backend's device (torch tensors; on the CPU the GEMVs run on numpy's BLAS): CUDA for
``"faiss-gpu"``, CPU for ``"faiss"``, and CUDA when available (else CPU) for ``"torch"``.
Every backend computes in float32 and gives the same result up to float tolerance.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from functools import lru_cache

import numpy as np

BACKENDS = ("faiss-gpu", "faiss", "torch")


@lru_cache(maxsize=None)
def _faiss():
    try:
        import faiss
    except ImportError:
        return None
    return faiss


@lru_cache(maxsize=None)
def _has_faiss_gpu() -> bool:
    faiss = _faiss()
    return bool(faiss is not None and hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0)


def available_backends() -> list[str]:
    """The backends usable in this process, best first."""
    out = []
    if _has_faiss_gpu():
        out.append("faiss-gpu")
    if _faiss() is not None:
        out.append("faiss")
    out.append("torch")
    return out


def resolve(backend: str = "auto") -> str:
    """The concrete backend for ``backend`` (``"auto"`` = the first available; without FAISS
    that is ``"torch"``, said once per process)."""
    avail = available_backends()
    if backend == "auto":
        if avail[0] == "torch":
            _note_no_faiss()
        return avail[0]
    if backend not in BACKENDS:
        raise ValueError(f"backend must be 'auto' or one of {BACKENDS}, got {backend!r}")
    if backend not in avail:
        hint = {"faiss": "pip install 'multimodal-al[faiss]'",
                "faiss-gpu": "pip install 'multimodal-al[gpu]' on a machine with a CUDA GPU"}.get(backend, "use backend='auto'")
        raise ValueError(f"backend {backend!r} is not available here (available: {avail}); {hint}")
    return backend


@lru_cache(maxsize=None)
def _note_no_faiss() -> None:
    warnings.warn("FAISS is not installed: the selection kernels use the torch backend (the same results up to "
                  "float tolerance); for FAISS's kNN / k-means: pip install 'multimodal-al[faiss]'", stacklevel=3)


def device(backend: str):
    """The torch device the running-minimum loops of ``backend`` use."""
    import torch

    backend = resolve(backend)
    if backend == "faiss-gpu" or (backend == "torch" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


def as_f32(x) -> np.ndarray:
    """A C-contiguous float32 view/copy of ``x`` (what FAISS wants)."""
    return np.ascontiguousarray(np.asarray(x, dtype=np.float32))


@lru_cache(maxsize=None)
def gpu_resources():
    """One shared ``faiss.StandardGpuResources`` per process."""
    return _faiss().StandardGpuResources()


@lru_cache(maxsize=None)
def _blas():
    """numpy's BLAS (what :func:`mmal.kernels.embedding.matvec` runs on) as a threadpoolctl handle."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().select(user_api="blas")


@contextmanager
def few_threads_for_small(work: int, threshold: int = 1 << 20):
    """Run torch CPU ops, numpy's BLAS and FAISS single-threaded while ``work`` (elements touched
    per op) is below ``threshold``: for tiny ops intra-op threads only add synchronization, which
    costs 10x and more on a loaded machine. Thread counts are restored on exit."""
    import torch

    faiss = _faiss()
    before = torch.get_num_threads()
    before_omp = faiss.omp_get_max_threads() if faiss is not None else 1
    if work >= threshold:
        yield
        return
    torch.set_num_threads(1)
    if faiss is not None:
        faiss.omp_set_num_threads(1)
    try:
        with blas_threads(1):
            yield
    finally:
        torch.set_num_threads(before)
        if faiss is not None:
            faiss.omp_set_num_threads(before_omp)


@contextmanager
def torch_threads(n: int):
    """Run torch CPU ops with ``n`` intra-op threads (the running-minimum loops run their vector
    ops on one thread and their GEMMs on this many); restored on exit."""
    import torch

    before = torch.get_num_threads()
    if before == n:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def blas_threads(n: int):
    """Run numpy's BLAS (the CPU GEMVs of :func:`mmal.kernels.embedding.matvec`) on ``n`` threads;
    restored on exit. Separate from torch's threads: the loops' vector ops stay on one torch thread
    while a GEMV runs on ``n`` (two thread pools spinning at once on 2 cores made a 45,719-float
    ``mul_`` take 5 ms instead of 20 us)."""
    with _blas().limit(limits=n):
        yield
