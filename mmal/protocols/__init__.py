"""The paper protocols that ship with mmal, as TOML configs loadable by name.

    >>> from mmal import protocols
    >>> "simsv2-regression" in protocols.names()
    True
    >>> protocols.path("simsv2-regression").name
    'simsv2_regression.toml'

A protocol's name is its file name without ``.toml``, with ``-`` for ``_``;
``mmal bench --protocol NAME`` runs it and ``mmal bench --config FILE`` runs an edited copy.
Its leading comment block may hold ``# paper: ...``, ``# reproduces: ...`` and ``# cost: ...``
lines (what ``mmal protocols`` lists; the cost on 2 cores, from
``benchmarks/protocol_cost.py``):

    >>> about("simsv2-regression")["reproduces"]
    'Fig. 4 and Table 1 (SIMSv2 sentiment regression)'
"""

from __future__ import annotations

import difflib
from importlib import resources
from pathlib import Path

from ..errors import UnknownNameError

FIELDS = ("paper", "reproduces", "cost")


def _dir() -> Path:
    return Path(str(resources.files(__name__)))


def names() -> list[str]:
    """Every shipped protocol's name, sorted."""
    return sorted(p.stem.replace("_", "-") for p in _dir().glob("*.toml"))


def path(name: str) -> Path:
    """The file of protocol ``name`` (``simsv2-regression`` or ``simsv2_regression``)."""
    key = name.strip().lower().replace("_", "-").removesuffix(".toml")
    known = names()
    if key not in known:
        close = difflib.get_close_matches(key, known, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownNameError(f"no protocol named {name!r}{hint} Shipped protocols: {', '.join(known)}")
    return _dir() / f"{key.replace('-', '_')}.toml"


def about(name: str) -> dict[str, str]:
    """The ``paper`` / ``reproduces`` / ``cost`` fields of protocol ``name``'s leading comments
    (a field the file does not state is absent)."""
    out: dict[str, str] = {}
    for line in path(name).read_text().splitlines():
        if not line.startswith("#"):
            break
        key, sep, value = line.lstrip("#").strip().partition(":")
        if sep and key.strip() in FIELDS and value.strip():
            out[key.strip()] = value.strip()
    return out
