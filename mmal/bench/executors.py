"""Where cells run: in this process, in local worker processes, or on a Ray cluster.

Every executor calls :func:`mmal.bench.grid.run_cell` per cell and hands each message the
cell sends to ``sink`` in this process, which alone writes the results store. Workers
stream their rows while the cell runs (a multiprocessing queue, or a Ray queue actor), so a
round is stored as soon as it finishes wherever it ran.
"""

from __future__ import annotations

import multiprocessing as mp
import queue as queue_mod
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Callable, Sequence

from ..errors import ConfigError
from .grid import clear_cache, run_cell

Job = tuple[dict[str, Any], list[dict[str, Any]]]  # (cell spec, its finished rows)
Sink = Callable[[tuple], None]
EXECUTORS = ("local", "processes", "ray")


def make_executor(name: str = "local", *, jobs: int = 1, address: str | None = None) -> "Executor":
    """``local`` (sequential; ``jobs > 1`` means processes), ``processes`` or ``ray``."""
    if jobs < 1:
        raise ConfigError(f"--jobs must be >= 1, got {jobs}")
    if name == "local":
        return ProcessExecutor(jobs) if jobs > 1 else SequentialExecutor()
    if name == "processes":
        return ProcessExecutor(jobs)
    if name == "ray":
        return RayExecutor(address=address, jobs=jobs)
    raise ConfigError(f"unknown executor {name!r}; choose one of {EXECUTORS}")


class Executor:
    def run(self, jobs: Sequence[Job], sink: Sink) -> None:
        raise NotImplementedError


def _failed_message(spec: dict[str, Any], last_round: int, error: BaseException) -> tuple:
    """A ``failed`` row for a cell whose worker died before it could report."""
    row = {
        "config_hash": spec["config_hash"], "cell_hash": spec["cell_hash"], "cell": spec["key"],
        "dataset": spec["dataset"]["label"], "dataset_name": spec["dataset"]["name"],
        "strategy": spec["strategy"]["label"], "strategy_name": spec["strategy"]["name"], "seed": spec["seed"],
        "status": "failed", "round": last_round + 1, "error": f"worker died: {type(error).__name__}: {error}",
        "traceback": "".join(traceback.format_exception(error)),
    }
    return ("row", row)


class SequentialExecutor(Executor):
    """One cell after the other in this process (plugins registered in-process work here)."""

    def run(self, jobs: Sequence[Job], sink: Sink) -> None:
        clear_cache()
        for spec, prior in jobs:
            run_cell(spec, prior, sink)
        clear_cache()


# -------------------------------------------------------------- processes
_QUEUE: Any = None


def _init_worker(q: Any) -> None:
    global _QUEUE
    _QUEUE = q


def _process_cell(index: int, spec: dict[str, Any], prior: list[dict[str, Any]]) -> int:
    return run_cell(spec, prior, lambda msg: _QUEUE.put((index, msg)))


class _Tracker:
    """Counts messages per job so a finished job's last rows are waited for, never lost."""

    def __init__(self, jobs: Sequence[Job], sink: Sink) -> None:
        self.jobs, self.sink = jobs, sink
        self.got = [0] * len(jobs)
        self.rounds = [(p[-1]["round"] if p else -1) for _, p in jobs]
        self.expected: dict[int, int] = {}

    def take(self, index: int, msg: tuple) -> None:
        self.got[index] += 1
        if msg[0] == "row" and msg[1].get("status") == "ok":
            self.rounds[index] = msg[1]["round"]
        self.sink(msg)

    def finish(self, index: int, sent: int | None, error: BaseException | None) -> None:
        if error is not None:
            self.sink(_failed_message(self.jobs[index][0], self.rounds[index], error))
        else:
            self.expected[index] = int(sent or 0)

    def waiting(self) -> bool:
        return any(self.got[i] < n for i, n in self.expected.items())


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel the queued cells and terminate the running ones: their finished rounds are in the
    store, and a resumed run redoes only what is missing (no worker computes on unobserved)."""
    workers = list((getattr(pool, "_processes", None) or {}).values())  # concurrent.futures keeps them there
    pool.shutdown(wait=False, cancel_futures=True)
    for w in workers:
        w.terminate()
    for w in workers:
        w.join(timeout=10)


class ProcessExecutor(Executor):
    """``jobs`` local worker processes (spawned: no inherited threads or torch state)."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs

    def run(self, jobs: Sequence[Job], sink: Sink) -> None:
        if not jobs:
            return
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        track = _Tracker(jobs, sink)
        pool = ProcessPoolExecutor(max_workers=min(self.jobs, len(jobs)), mp_context=ctx, initializer=_init_worker, initargs=(q,))
        try:
            futures = {pool.submit(_process_cell, i, spec, prior): i for i, (spec, prior) in enumerate(jobs)}
            pending = set(futures)
            idle = 0
            while pending or track.waiting():
                before = sum(track.got)
                self._drain(q, track, block=not pending)
                idle = 0 if pending or sum(track.got) > before else idle + 1
                if idle > 300:  # ~60 s without the messages a finished worker announced
                    raise RuntimeError("worker processes finished but their last rows never arrived")
                if pending:
                    done, pending = wait(pending, timeout=0.05, return_when=FIRST_COMPLETED)
                    for f in done:
                        exc = f.exception()
                        track.finish(futures[f], None if exc else f.result(), exc)
            self._drain(q, track, block=False)
        except BaseException:  # Ctrl-C or an error here: store the rows already sent, stop every worker
            try:
                self._drain(q, track, block=False)
            finally:
                _stop(pool)
            raise
        pool.shutdown(wait=True)

    @staticmethod
    def _drain(q: Any, track: _Tracker, *, block: bool) -> None:
        while True:
            try:
                index, msg = q.get(timeout=0.2) if block else q.get_nowait()
            except queue_mod.Empty:
                return
            track.take(index, msg)
            block = False


# -------------------------------------------------------------------- ray
def _ray_cell(q: Any, index: int, spec: dict[str, Any], prior: list[dict[str, Any]]) -> int:
    return run_cell(spec, prior, lambda msg: q.put((index, msg)))


class RayExecutor(Executor):
    """Cells as Ray tasks (one CPU each) on the cluster at ``address``, or a local Ray.

    Workers need mmal and the plugins installed; rows come back through a Ray queue actor.
    """

    def __init__(self, address: str | None = None, jobs: int = 1, num_cpus_per_cell: float = 1) -> None:
        self.address, self.jobs, self.cpus = address, jobs, num_cpus_per_cell

    def run(self, jobs: Sequence[Job], sink: Sink) -> None:
        if not jobs:
            return
        try:
            import ray
            from ray.util.queue import Empty, Queue
        except ImportError:
            raise ConfigError("--executor ray needs Ray: pip install 'multimodal-al[ray]' (or pip install 'ray>=2.9')") from None
        started = not ray.is_initialized()
        if started:
            if self.address:
                ray.init(address=self.address, log_to_driver=False)
            else:
                ray.init(num_cpus=self.jobs if self.jobs > 1 else None, include_dashboard=False, log_to_driver=False)
        try:
            q = Queue()
            remote = ray.remote(num_cpus=self.cpus)(_ray_cell)
            refs = {remote.remote(q, i, spec, prior): i for i, (spec, prior) in enumerate(jobs)}
            track = _Tracker(jobs, sink)
            pending = list(refs)
            while pending or track.waiting():
                for index, msg in self._drain(q, Empty, block=not pending):
                    track.take(index, msg)
                if pending:
                    done, pending = ray.wait(pending, num_returns=1, timeout=0.05)
                    for ref in done:
                        try:
                            track.finish(refs[ref], ray.get(ref), None)
                        except Exception as exc:  # the worker died (a cell's own errors come back as rows)
                            track.finish(refs[ref], None, exc)
            for index, msg in self._drain(q, Empty, block=False):
                track.take(index, msg)
            ray.kill(q.actor)
        finally:
            if started:
                ray.shutdown()

    @staticmethod
    def _drain(q: Any, empty: type, *, block: bool) -> list:
        out = []
        try:
            if block:
                out.append(q.get(timeout=0.2))
            out.extend(q.get_nowait_batch(q.qsize()))
        except empty:
            pass
        return out
