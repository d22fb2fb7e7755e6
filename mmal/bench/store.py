"""The run directory: an append-only JSONL results store, its config record and a lock.

``RUN_DIR/results.jsonl`` gets one line per event, written with a single ``write`` and
fsynced before the next (:func:`mmal.io.append_line`): ``status = "ok"`` for a finished
round, ``"failed"`` (with the traceback) when a cell raised. A cell has ended when its last
round (or the round that labeled the whole pool) is in the store.
A SIGKILL can tear at most the last line; :meth:`RunDir.open` drops such a line (moving its
bytes to ``results.jsonl.torn``) and every finished round before it stays.

``RUN_DIR/config.json`` records the normalized config and its hash. Resuming into a
directory written by another config is refused unless forced. ``RUN_DIR/.lock`` (flock)
keeps two benches from writing one store at once.

Nothing is written outside ``RUN_DIR``: a symbolic link (or a hard-linked file) in place of
any file the store writes (``results.jsonl``, ``results.jsonl.torn``, ``config.json``,
``.lock``, ``bench.log``) or of ``report/`` is refused before anything is written.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any, Iterable

from ..errors import StoreError
from ..io import NOFOLLOW, append_line, atomic_write_text, open_append, refuse_link
from .config import config_hash

RESULTS = "results.jsonl"
CONFIG = "config.json"
TIMING_KEYS = ("query_seconds", "train_seconds", "time", "host", "pid")


LOG = "bench.log"
LOCK = ".lock"
def read_rows(path: str | Path, *, repair: bool = False) -> list[dict[str, Any]]:
    """Every row of a results file. A torn (unterminated or unparsable) last line is dropped,
    and with ``repair`` cut from the file; a bad line elsewhere is an error naming it."""
    path = Path(path)
    if not path.exists():
        return []
    data = path.read_bytes()
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline
    rows: list[dict[str, Any]] = []
    torn_at: int | None = len(data) - len(tail) if tail else None
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            if i == len(lines) - 1 and not tail:  # the last line is garbage: treat it as torn
                torn_at = len(data) - len(line) - 1
                break
            raise StoreError(
                f"{path}: line {i + 1} is not valid JSON ({exc}); the store is damaged before its last line. "
                "Move that line out of the file by hand, then rerun with --resume"
            ) from None
    if torn_at is not None and repair:
        refuse_link(path)
        with open(path, "r+b", opener=lambda p, flags: os.open(p, flags | NOFOLLOW)) as f:
            with open_append(str(path) + ".torn", "ab") as keep:
                keep.write(data[torn_at:] + b"\n")
            f.truncate(torn_at)
            f.flush()
            os.fsync(f.fileno())
    return rows


def is_timing(key: str) -> bool:
    return key in TIMING_KEYS or key.endswith("seconds") or key.endswith("_time")


def strip_timings(row: Any) -> Any:
    """A row without wall-clock fields, at any depth (a strategy's ``info`` may time itself):
    what must be identical between runs with the same seeds."""
    if isinstance(row, dict):
        return {k: strip_timings(v) for k, v in row.items() if not is_timing(str(k))}
    if isinstance(row, list):
        return [strip_timings(v) for v in row]
    return row


class RunDir:
    """One benchmark's directory: config record, results store, report folder."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.results = self.path / RESULTS
        self.config_file = self.path / CONFIG
        self.report_dir = self.path / "report"
        self.log = self.path / LOG
        self._lock_fd: int | None = None

    def refuse_links(self) -> None:
        """Raise :class:`StoreError` if any file the store writes, or ``report/``, is a link."""
        if self.path.exists() and not self.path.is_dir():
            raise StoreError(f"--out {self.path} is a file, not a directory; choose a directory for the run")
        for p in (self.results, Path(str(self.results) + ".torn"), self.config_file, self.path / LOCK, self.log):
            refuse_link(p)
        if self.report_dir.is_symlink():
            raise StoreError(f"{self.report_dir} is a symbolic link (to {os.readlink(self.report_dir)}); mmal does not "
                             "write reports through links. Remove it or choose another --out")

    # ------------------------------------------------------------ lifecycle
    def open(self, cfg: dict[str, Any], *, resume: bool, force: bool) -> list[dict[str, Any]]:
        """Lock the directory, check it fits ``cfg``, record the config; return existing rows."""
        self.refuse_links()
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock()
        h = config_hash(cfg)
        has_rows = self.results.exists() and self.results.stat().st_size > 0
        record = self.read_config() if self.config_file.exists() else None
        if has_rows and not resume:
            self.close()
            raise StoreError(f"{self.results} already holds results; pass --resume to continue that run, or choose another --out")
        if record is not None and record["config_hash"] != h and (has_rows or resume) and not force:
            self.close()
            raise StoreError(
                f"{self.path} was written by config {record['config_hash']} ({record['config'].get('name')!r}), "
                f"not this one ({h}); rerun with the same config, choose another --out, or pass --force "
                "to resume anyway (cells whose settings did not change keep their finished rounds)"
            )
        rows = read_rows(self.results, repair=True)
        history = list(record.get("history", [])) if record else []
        history.append({"config_hash": h, "time": _now(), "resumed": bool(has_rows), "forced": bool(force and record and record["config_hash"] != h)})
        atomic_write_text(self.config_file, json.dumps({"config_hash": h, "config": cfg, "history": history}, indent=2))
        return rows

    def read_config(self) -> dict[str, Any]:
        try:
            return json.loads(self.config_file.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise StoreError(f"{self.config_file} is unreadable ({exc}); restore it or start a new --out") from None

    def append(self, row: dict[str, Any]) -> None:
        append_line(self.results, json.dumps(row, separators=(",", ":"), allow_nan=True, default=_default))

    def rows(self) -> list[dict[str, Any]]:
        return read_rows(self.results)

    def _lock(self) -> None:
        refuse_link(self.path / LOCK)
        fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT | NOFOLLOW, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreError(f"another mmal bench is writing {self.path}; wait for it to end or choose another --out") from None
        self._lock_fd = fd

    def close(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None


def finished_by_cell(rows: Iterable[dict[str, Any]], cell_hashes: set[str]) -> dict[str, list[dict[str, Any]]]:
    """The finished rounds of each cell (first row per round, in round order)."""
    out: dict[str, dict[int, dict[str, Any]]] = {}
    for r in rows:
        if r.get("status") == "ok" and r.get("cell_hash") in cell_hashes:
            out.setdefault(r["cell_hash"], {}).setdefault(int(r["round"]), r)
    return {h: [per[k] for k in sorted(per)] for h, per in out.items()}


def ended_cells(rows: Iterable[dict[str, Any]], cells: Iterable[dict[str, Any]]) -> set[str]:
    """Hashes of the cells whose final round is stored: round ``rounds``, or a round that
    labeled the whole training pool (the loop stops there)."""
    last = {c["cell_hash"]: c["rounds"] for c in cells}
    out = set()
    for r in rows:
        h = r.get("cell_hash")
        if r.get("status") == "ok" and h in last and (r["round"] >= last[h] or r["n_labeled"] >= r.get("pool_size", float("inf"))):
            out.add(h)
    return out


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, (np.floating, np.integer, np.bool_)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")
