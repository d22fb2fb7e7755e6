"""modAL 0.4.2.1 on scikit-learn >= 1.8, without a global patch.

modAL-python 0.4.2.1, its latest release, calls ``check_X_y(..., force_all_finite=...)`` in
``ActiveLearner.fit``, ``teach`` and ``_add_training_data`` (``modAL/models/learners.py``);
scikit-learn renamed that argument ``ensure_all_finite`` in 1.6 and removed the old name in
1.8, so ``teach`` raises ``TypeError`` there.

The shim puts one pass-through wrapper in the name ``modAL.models.learners.check_X_y`` (never
in modAL's or scikit-learn's files). The wrapper renames ``force_all_finite`` to
``ensure_all_finite`` (the same meaning) only for calls made on behalf of a learner or
committee that holds an mmal object (an mmal query strategy or estimator): it looks for that
learner among its callers' ``self``. Every other call reaches scikit-learn unchanged, so code
that does not use mmal behaves exactly as without mmal. mmal's modAL adapters install it when
they are built or called; ``import mmal`` does not.

:func:`patch_modal` widens it to every learner (opt-in, global, for modAL code of your own that
mmal is not part of); :func:`unpatch_modal` narrows it back; :func:`modal_compat` widens it
for one block.
"""

from __future__ import annotations

import functools
import inspect
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from ..extras import require

_SHIM_OF = "__mmal_shim_of__"
MMAL_ADAPTER = "_mmal_modal_adapter"  # a class attribute marking mmal's objects inside a modAL learner
_CALLER_DEPTH = 8  # frames searched for the learner (Committee.teach -> member.teach -> _add_training_data -> check)
_everywhere = False


def _learners() -> Any:
    return require("modAL.models.learners", "mmal's modAL adapters")


def _accepts(check: Callable[..., Any], arg: str) -> bool:
    return arg in inspect.signature(check).parameters


def holds_mmal(obj: Any) -> bool:
    """Whether a modAL learner or committee uses an mmal query strategy or estimator."""
    if obj is None:
        return False
    try:
        parts = (getattr(obj, "query_strategy", None), getattr(obj, "estimator", None))
    except Exception:  # a caller's object whose attribute lookup fails is not a learner
        return False
    return any(getattr(type(p), MMAL_ADAPTER, False) for p in parts)


def _called_for_mmal(frame: Any) -> bool:
    try:
        for _ in range(_CALLER_DEPTH):
            if frame is None:
                return False
            if holds_mmal(frame.f_locals.get("self")):
                return True
            frame = frame.f_back
        return False
    finally:
        del frame


def _renaming(check: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(check)
    def check_X_y(*args: Any, **kwargs: Any) -> Any:
        if "force_all_finite" in kwargs and (_everywhere or _called_for_mmal(sys._getframe(1))):
            kwargs.setdefault("ensure_all_finite", kwargs.pop("force_all_finite"))
        return check(*args, **kwargs)

    setattr(check_X_y, _SHIM_OF, check)
    return check_X_y


def install() -> bool:
    """Put the scoped wrapper in place (idempotent). False when this scikit-learn has no
    ``ensure_all_finite`` (it still takes modAL's ``force_all_finite``: nothing to fix)."""
    learners = _learners()
    check = learners.check_X_y
    if getattr(check, _SHIM_OF, None) is not None:
        return True
    if not _accepts(check, "ensure_all_finite"):
        return False
    learners.check_X_y = _renaming(check)
    return True


def install_if_modal() -> None:
    """:func:`install` when modAL is already imported (an mmal object used without modAL imports nothing)."""
    if "modAL.models.learners" in sys.modules:
        install()


def installed() -> bool:
    """Whether the wrapper is in ``modAL.models.learners`` (without importing modAL)."""
    learners = sys.modules.get("modAL.models.learners")
    return getattr(getattr(learners, "check_X_y", None), _SHIM_OF, None) is not None


def patch_modal() -> bool:
    """Let every modAL learner, with or without mmal, call this scikit-learn (opt-in, global).

    mmal's own learners need no call: the scoped shim serves them. Idempotent; narrow it back
    with :func:`unpatch_modal`. Returns True when the shim is in place, False when this
    scikit-learn still accepts ``force_all_finite`` and modAL works as it is.
    """
    global _everywhere
    active = install()
    _everywhere = active
    return active


def unpatch_modal() -> None:
    """Undo :func:`patch_modal`: only learners holding mmal objects keep the renaming."""
    global _everywhere
    _everywhere = False


@contextmanager
def modal_compat() -> Iterator[bool]:
    """:func:`patch_modal` inside the block only; yields what it returned."""
    global _everywhere
    before = _everywhere
    try:
        yield patch_modal()
    finally:
        _everywhere = before
