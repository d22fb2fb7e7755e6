"""Arrays built chunk by chunk: in memory, or as a cached memory-mapped ``.npy`` file.

A full-size sequence view does not fit memory (CHERMA-style text ``[80, 768]`` + audio
``[64, 768]`` + vision ``[64, 512]`` over 28,717 samples is about 16 GB float32). Such an
array is written once, a chunk of samples at a time, to ``<cache>/<key>.npy`` and then
opened read-only as ``np.memmap``; a later call with the same key reuses the file. The file
appears under its final name only when complete (written to a temporary name, then
renamed), so an interrupted run never leaves a half-written array that looks reusable.

The cache directory is ``cache_dir=`` when given, else ``$MMAL_CACHE``, else
``~/.cache/mmal``. ``storage="auto"`` keeps arrays up to ``$MMAL_MEMMAP_BYTES`` bytes
(default 1 GiB) in memory and memory-maps larger ones.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from ..errors import ConfigError
from ..io import atomic_write_text

CACHE_ENV = "MMAL_CACHE"
MEMMAP_BYTES_ENV = "MMAL_MEMMAP_BYTES"
STORAGES = ("auto", "memory", "memmap")

Fill = Callable[[int, int], "np.ndarray | tuple[np.ndarray, Mapping[str, int]]"]


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    """Where memory-mapped arrays are cached (created on first use)."""
    if override is not None:
        return Path(override)
    env = os.environ.get(CACHE_ENV, "").strip()
    return Path(env) if env else Path.home() / ".cache" / "mmal"


def cache_key(**params: Any) -> str:
    """A short stable hash of everything that determines an array's content."""
    text = json.dumps(params, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def use_memmap(storage: str, nbytes: int) -> bool:
    """Whether ``storage`` (``auto`` / ``memory`` / ``memmap``) means a memory-mapped file."""
    if storage not in STORAGES:
        raise ConfigError(f"storage must be one of {STORAGES}, got {storage!r}")
    if storage == "auto":
        return nbytes > int(os.environ.get(MEMMAP_BYTES_ENV, str(1 << 30)))
    return storage == "memmap"


def chunked_array(
    shape: tuple[int, ...],
    dtype: Any,
    fill: Fill,
    *,
    path: str | os.PathLike | None = None,
    chunk: int = 256,
) -> tuple[np.ndarray, dict[str, int]]:
    """Build an array of ``shape`` from ``fill(start, stop)`` blocks of rows.

    ``fill`` returns the rows ``start:stop`` (or ``(rows, counts)``, integer counts that are
    summed over chunks, e.g. replaced ``-inf`` cells). With ``path=None`` the array is built
    in memory. With a ``path`` it is written to that ``.npy`` file chunk by chunk and returned
    as a read-only ``np.memmap``; if a complete file with this shape and dtype is already
    there, it is reused (its counts come from the ``.json`` file beside it) and ``fill`` is
    not called. Returns ``(array, counts)``.
    """
    dtype = np.dtype(dtype)
    counts: dict[str, int] = {}
    if path is None:
        out = np.empty(shape, dtype=dtype)
        _fill_rows(out, fill, chunk, counts)
        return out, counts

    path = Path(path)
    side = path.with_suffix(".json")
    if path.exists() and side.exists():
        arr = np.load(path, mmap_mode="r")
        if arr.shape == tuple(shape) and arr.dtype == dtype:
            return arr, {k: int(v) for k, v in json.loads(side.read_text()).get("counts", {}).items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npy")
    try:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=tuple(shape))
        _fill_rows(out, fill, chunk, counts)
        out.flush()
        del out
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    atomic_write_text(side, json.dumps({"shape": list(shape), "dtype": dtype.str, "counts": counts}))
    return np.load(path, mmap_mode="r"), counts


def _fill_rows(out: np.ndarray, fill: Fill, chunk: int, counts: dict[str, int]) -> None:
    n = out.shape[0]
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        got = fill(start, stop)
        block, extra = got if isinstance(got, tuple) else (got, {})
        block = np.asarray(block)
        if block.shape != (stop - start, *out.shape[1:]):
            raise ValueError(f"fill({start}, {stop}) returned shape {block.shape}, expected {(stop - start, *out.shape[1:])}")
        out[start:stop] = block
        for k, v in extra.items():
            counts[k] = counts.get(k, 0) + int(v)


def replace_neg_inf(block: np.ndarray) -> int:
    """Set ``-inf`` cells to 0 in place, as the MMSA community does for audio; returns how many."""
    if not np.issubdtype(block.dtype, np.floating):
        return 0
    mask = np.isneginf(block)
    n = int(mask.sum())
    if n:
        block[mask] = 0
    return n
