"""Progress of a bench: a live per-cell and overall display on a terminal, log lines otherwise.

The display is fed the messages cells send (``start`` and rows). Every line also goes to an
optional log file (``RUN_DIR/bench.log``), so a run in the background leaves a readable log.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Mapping, Sequence, TextIO

MODES = ("auto", "tty", "plain", "none")


def _fmt_seconds(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60:02d}:{s % 60:02d}"


def _bar(done: int, total: int, width: int = 24) -> str:
    fill = int(width * done / total) if total else width
    return "[" + "#" * fill + "." * (width - fill) + "]"


def _headline(row: Mapping[str, Any]) -> str:
    metrics = row.get("metrics") or {}
    name = "acc" if "acc" in metrics else "mae" if "mae" in metrics else next(iter(metrics), None)
    return f"{name}={metrics[name]:.4f}" if name else ""


class Progress:
    """Tracks rounds done per cell; draws in place on a TTY, prints a line per event otherwise."""

    def __init__(self, cells: Sequence[Mapping[str, Any]], *, mode: str = "auto", stream: TextIO | None = None,
                 log_file: TextIO | None = None, done: Mapping[str, int] | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"progress mode must be one of {MODES}, got {mode!r}")
        self.stream = stream or sys.stderr
        self.mode = ("tty" if getattr(self.stream, "isatty", lambda: False)() else "plain") if mode == "auto" else mode
        self.log_file = log_file
        self.total_rounds = {c["key"]: c["rounds"] + 1 for c in cells}
        self.rounds = {c["key"]: (done or {}).get(c["key"], 0) for c in cells}
        self.state: dict[str, str] = {}
        self.last: dict[str, str] = {}
        self.failed = 0
        self.t0 = time.monotonic()
        self._drawn = 0
        self._last_draw = 0.0

    # --------------------------------------------------------------- events
    def __call__(self, msg: tuple) -> None:
        if msg[0] == "start":
            key, n_prior = msg[1], msg[2]
            self.state[key] = "running"
            self.log(f"start {key}" + (f" (resuming after {n_prior} finished rounds)" if n_prior else ""))
        elif msg[0] == "row":
            self.row(msg[1])
        elif msg[0] == "end" and self.state.get(msg[1]) == "running":
            self.state[msg[1]] = "done"
            self.rounds[msg[1]] = self.total_rounds[msg[1]]
            self.log(f"{self.overall()} {msg[1]} done")
        self.draw()

    def row(self, row: Mapping[str, Any]) -> None:
        key, status = row["cell"], row["status"]
        if status == "ok":
            self.rounds[key] = row["round"] + 1
            self.last[key] = f"round {row['round']}/{self.total_rounds[key] - 1}: {row['n_labeled']} labeled, {_headline(row)}"
            self.log(f"{self.overall()} {key} {self.last[key]}, query {row['query_seconds']:.2f}s, train {row['train_seconds']:.2f}s")
        elif status == "failed":
            self.state[key] = "failed"
            self.failed += 1
            self.log(f"{self.overall()} {key} FAILED at round {row['round']}: {row.get('error', '')}")

    def overall(self) -> str:
        done = sum(min(self.rounds[k], self.total_rounds[k]) for k in self.rounds)
        return f"[{done}/{sum(self.total_rounds.values())}]"

    # -------------------------------------------------------------- output
    def log(self, line: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        if self.log_file is not None:
            self.log_file.write(f"{stamp} {line}\n")
            self.log_file.flush()
        if self.mode == "plain":
            print(f"{stamp} {line}", file=self.stream, flush=True)

    def lines(self) -> list[str]:
        total = sum(self.total_rounds.values())
        done = sum(min(self.rounds[k], self.total_rounds[k]) for k in self.rounds)
        cells_done = sum(1 for s in self.state.values() if s == "done")
        elapsed = time.monotonic() - self.t0
        eta = f", eta {_fmt_seconds(elapsed * (total - done) / done)}" if 0 < done < total else ""
        head = (f"overall {_bar(done, total)} {done}/{total} rounds, {cells_done}/{len(self.total_rounds)} cells"
                f"{f', {self.failed} failed' if self.failed else ''}, {_fmt_seconds(elapsed)}{eta}")
        out = [head]
        for key, state in self.state.items():
            if state == "running":
                out.append(f"  {key:<40} {_bar(self.rounds[key], self.total_rounds[key], 10)} {self.last.get(key, 'training round 0')}")
        return out

    def draw(self, force: bool = False) -> None:
        if self.mode != "tty":
            return
        now = time.monotonic()
        if not force and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        lines = self.lines()
        up = f"\x1b[{self._drawn}F" if self._drawn else ""
        body = "".join(f"\x1b[2K{line}\n" for line in lines)
        extra = max(0, self._drawn - len(lines))
        self.stream.write(up + body + "\x1b[2K\n" * extra + (f"\x1b[{extra}F" if extra else ""))
        self.stream.flush()
        self._drawn = len(lines)

    def close(self) -> None:
        self.draw(force=True)
        if self.mode == "plain":
            self.log(f"finished: {self.overall()} rounds, {self.failed} failed cells, {_fmt_seconds(time.monotonic() - self.t0)}")
        elif self.log_file is not None:
            self.log_file.write(f"finished {self.overall()}, {self.failed} failed\n")
