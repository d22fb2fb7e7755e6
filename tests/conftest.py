"""Test-wide settings: never reach a model hub, never open a display."""

import os

# One BLAS/OpenMP thread: the suite's arrays are tiny, and on a shared 2-core machine extra
# threads make small ops 10-50x slower. Set before numpy/torch are imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
