"""Optional dependencies and the extra of the ``multimodal-al`` distribution that brings each.

The core install carries what every strategy needs (numpy, scipy, scikit-learn, torch,
pluggy, matplotlib for the reports); a feature that needs more imports it through
:func:`require`, which names the extra to install when the package is missing:

    >>> require("math", "a test").pi > 3
    True
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingExtraError

DIST = "multimodal-al"
# top-level module -> (extra, the PyPI package it installs)
EXTRAS = {
    "transformers": ("text", "transformers"),
    "modAL": ("modal", "modAL-python"),
    "ray": ("ray", "ray"),
    "faiss": ("faiss", "faiss-cpu"),
    "skactiveml": ("bench", "scikit-activeml"),
    "baal": ("bench", "baal"),
}


def install_hint(module: str) -> str:
    """``pip install 'multimodal-al[EXTRA]'`` for a module an extra provides."""
    extra, package = EXTRAS[module.partition(".")[0]]
    return f"pip install '{DIST}[{extra}]' (or pip install {package})"


def require(module: str, what: str) -> ModuleType:
    """Import ``module`` for ``what``; a missing optional package raises :class:`MissingExtraError`
    naming its extra. Other import errors (a broken install) propagate unchanged."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        top = (exc.name or "").partition(".")[0]
        if top not in EXTRAS:
            raise
        raise MissingExtraError(f"{what} needs {EXTRAS[top][1]}, which is not installed: {install_hint(top)}") from exc
