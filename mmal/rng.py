"""Explicit randomness: one Generator per (seed, round, name), never global state (DESIGN §3)."""

from __future__ import annotations

import hashlib

import numpy as np


def stable_hash(name: str) -> int:
    """A 64-bit integer from ``name`` that is the same on every run and platform."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")


def derive_rng(seed: int, round: int, name: str) -> np.random.Generator:
    """The Generator a strategy or loop step gets for ``seed``, ``round`` and ``name``.

    Distinct names and rounds give independent streams, so adding a strategy to a bench
    does not change what the others select, and a resumed run draws what an uninterrupted
    one would.
    """
    if seed < 0 or round < 0:
        raise ValueError(f"seed and round must be >= 0, got seed={seed}, round={round}")
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(round), stable_hash(name)]))


def derive_seed(seed: int, round: int, name: str) -> int:
    """An int seed (for torch / model training) derived like :func:`derive_rng`."""
    return int(derive_rng(seed, round, name).integers(0, 2**31 - 1))
