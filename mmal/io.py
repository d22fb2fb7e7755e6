"""Safe file writes: atomic replacement, fsynced appends, and no writing through links.

A crash leaves either the old file or the new one, never a torn one; an append that fails
(a full disk) is cut back to the file's previous length, so no partial line stays. Both
refuse a path that is a symbolic link, and appends refuse a file with other hard links, so
a planted link cannot make mmal write outside the directory it was given.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path
from typing import IO

from .errors import StoreError

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def refuse_link(path: str | Path, *, hard: bool = True) -> None:
    """Raise :class:`StoreError` if ``path`` is a symbolic link (or, with ``hard``, a file with
    several hard links: appending to it would change the other paths too)."""
    path = Path(path)
    if path.is_symlink():
        raise StoreError(f"{path} is a symbolic link (to {os.readlink(path)}); mmal does not write through links. "
                         "Remove the link or choose another output directory")
    try:
        st = path.lstat()
    except FileNotFoundError:
        return
    if hard and stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
        raise StoreError(f"{path} has {st.st_nlink} hard links; mmal does not append to a file shared with another "
                         "path. Copy it (cp --remove-destination) or choose another output directory")


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, fsync it, and rename it over ``path``
    (the rename replaces a hard-linked file's name only, so only symbolic links are refused)."""
    path = Path(path)
    refuse_link(path, hard=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _open_append_fd(path: Path) -> int:
    refuse_link(path)
    try:
        return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | NOFOLLOW, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            refuse_link(path)
        raise


def open_append(path: str | Path, mode: str = "a") -> IO:
    """``open(path, "a")`` that refuses links (a log, a side file of the store)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.fdopen(_open_append_fd(path), mode)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def append_line(path: str | Path, line: str) -> None:
    """Append one line with a single write and fsync it (an append-only JSONL store). If the
    write fails (``ENOSPC``, ``EDQUOT``, ``EIO``), the file is cut back to its previous length."""
    if "\n" in line:
        raise ValueError("a store line must not contain a newline")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (line + "\n").encode()
    fd = _open_append_fd(path)
    try:
        size = os.fstat(fd).st_size
        try:
            _write_all(fd, data)
            os.fsync(fd)
        except OSError as exc:
            try:
                os.ftruncate(fd, size)
            except OSError:
                pass
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc  # fd errors name no file
    finally:
        os.close(fd)
