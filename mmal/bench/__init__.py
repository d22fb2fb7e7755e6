"""The benchmark harness: a grid of datasets x strategies x seeds, resumable, on one machine
or a Ray cluster, with the reports the papers show.

    >>> from mmal.bench import load_config, run_bench
    >>> cfg = load_config(protocol="simsv2-regression", overrides=["datasets.*.size=tiny", "seeds=[0, 1]"])
    >>> result = run_bench(cfg, "runs/simsv2", executor="local", jobs=2)   # doctest: +SKIP

Modules: :mod:`.config` (TOML configs, overrides, hashes), :mod:`.grid` (cells and how one
runs), :mod:`.store` (the append-only results store and run directory), :mod:`.executors`
(local, processes, Ray), :mod:`.progress`, :mod:`.stats`, :mod:`.report`, :mod:`.plots`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, TextIO

from ..errors import StoreError
from ..io import open_append
from .config import DEFAULT_CONFIG, FULL_DATA, config_hash, load_config, validate
from .executors import make_executor
from .grid import build_cells, preflight, versions
from .progress import Progress
from .store import RunDir, ended_cells, finished_by_cell, read_rows, strip_timings

__all__ = [
    "DEFAULT_CONFIG", "FULL_DATA", "BenchConfig", "BenchResult", "build_cells", "config_hash", "load_config",
    "preflight", "read_rows", "run_bench", "strip_timings", "validate", "versions", "write_report",
]


@dataclass
class BenchConfig:
    """A one-dataset grid in Python (a shortcut for the dict that :func:`load_config` returns)."""

    strategies: list[str]
    dataset: str = "toy"
    size: str | int = "tiny"
    seeds: list[int] = field(default_factory=lambda: [0])
    rounds: int = 3
    init: int = 20
    budget: int = 10
    task_model: str | None = None
    dataset_args: dict[str, Any] = field(default_factory=dict)
    strategy_args: dict[str, dict[str, Any]] = field(default_factory=dict)
    model_args: dict[str, Any] = field(default_factory=dict)
    full_data: bool = False

    def to_config(self) -> dict[str, Any]:
        ds = {"name": self.dataset, "size": self.size, "args": self.dataset_args, "model_args": self.model_args}
        if self.task_model:
            ds["task_model"] = self.task_model
        return validate({
            "seeds": self.seeds, "rounds": self.rounds, "init": self.init, "budget": self.budget, "full_data": self.full_data,
            "datasets": [ds], "strategies": [{"name": s, "args": self.strategy_args.get(s, {})} for s in self.strategies],
        })


@dataclass
class BenchResult:
    run_dir: Path
    cells: int
    skipped: int
    failed: list[str]
    report: Any = None
    report_error: str | None = None


def run_bench(
    config: Mapping[str, Any] | BenchConfig,
    out: str | Path,
    *,
    resume: bool = False,
    force: bool = False,
    executor: str = "local",
    jobs: int = 1,
    address: str | None = None,
    progress: str = "auto",
    stream: TextIO | None = None,
    report: bool = True,
) -> BenchResult:
    """Run every unfinished cell of ``config`` into ``out`` and write the report.

    Every cell is checked first (:func:`mmal.bench.grid.preflight`: names, arguments, sizes,
    tasks, capabilities), so a bad grid fails in seconds with every problem listed. With
    ``resume``, cells continue from their finished rounds in ``out/results.jsonl`` (finished
    cells are skipped, failed ones retried); a directory written by another config is refused
    unless ``force``. A full disk or an unwritable directory ends the run with a
    :class:`StoreError` that says what was kept and how to resume.
    """
    cfg = config.to_config() if isinstance(config, BenchConfig) else dict(config)
    preflight(cfg)
    run = RunDir(out)
    try:
        rows = run.open(cfg, resume=resume, force=force)
    except OSError as exc:
        run.close()
        raise _write_error(exc, run, started=False) from exc
    cells = build_cells(cfg)
    finished = finished_by_cell(rows, {c["cell_hash"] for c in cells})
    ended = ended_cells(rows, cells)
    jobs_list = [(c, finished.get(c["cell_hash"], [])) for c in cells if c["cell_hash"] not in ended]
    failed: list[str] = []
    try:
        with open_append(run.log) as log_file:
            show = Progress(cells, mode=progress, stream=stream, log_file=log_file,
                            done={c["key"]: (c["rounds"] + 1 if c["cell_hash"] in ended else len(finished.get(c["cell_hash"], []))) for c in cells})
            _warn_versions(rows, show)
            if resume and len(jobs_list) < len(cells):
                show.log(f"resuming: {len(cells) - len(jobs_list)} of {len(cells)} cells already finished")

            def sink(msg: tuple) -> None:
                if msg[0] == "row":
                    run.append(msg[1])
                    if msg[1]["status"] == "failed":
                        failed.append(msg[1]["cell"])
                show(msg)

            try:
                make_executor(executor, jobs=jobs, address=address).run(jobs_list, sink)
            finally:
                show.close()
    except OSError as exc:
        raise _write_error(exc, run, started=True) from exc
    finally:
        run.close()
    result = BenchResult(run.path, len(cells), len(cells) - len(jobs_list), failed)
    if report:
        try:
            result.report = write_report(run.path)
        except Exception as exc:  # the results are safe in the store; the report can be redone
            result.report_error = f"{type(exc).__name__}: {exc}"
            print(f"mmal: the report failed ({result.report_error}); the results are in {run.results}; "
                  f"rerun `mmal report {run.path}`", file=stream or sys.stderr)
    return result


def _write_error(exc: OSError, run: RunDir, *, started: bool) -> StoreError:
    what = exc.strerror or str(exc)
    target = exc.filename or run.path
    kept = (f"every round finished before this is safe in {run.results} (a line cut short was rolled back)"
            if started else "nothing was written")
    return StoreError(f"cannot write the run directory: {what} ({target}); {kept}. Free space or fix the permissions, "
                      "then rerun the same command with --resume: finished rounds are kept, never redone")


def _warn_versions(rows: list[dict[str, Any]], show: Progress) -> None:
    now = versions()
    seen = {}
    for r in rows:
        for k, v in (r.get("versions") or {}).items():
            if now.get(k) != v:
                seen[k] = (v, now.get(k))
    for k, (old, new) in seen.items():
        show.log(f"warning: rows in this store were written with {k} {old}, this run has {new}; results may differ")


def write_report(run_dir: str | Path, options: Mapping[str, Any] | None = None, **kw: Any) -> Any:
    from .report import write_report as _write

    return _write(run_dir, options, **kw)
