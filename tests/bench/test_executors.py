"""The same grid gives the same results store (timings aside) in-process, in worker
processes and on Ray."""

import importlib.util
import multiprocessing as mp

import pytest

from mmal.bench import build_cells, run_bench
from mmal.bench.executors import ProcessExecutor, make_executor
from mmal.errors import ConfigError

from benchutil import normalized, tiny_config

CFG = dict(seeds=[0, 1], rounds=1, full_data=True)


def run(tmp_path, name, **kw):
    run_bench(tiny_config(**CFG), tmp_path / name, progress="none", report=False, **kw)
    return normalized(tmp_path / name)


def test_worker_processes_match_the_local_executor(tmp_path):
    local = run(tmp_path, "local")
    assert len(local) == 6
    assert run(tmp_path, "processes", executor="processes", jobs=2) == local


@pytest.mark.slow
def test_ray_matches_the_local_executor(tmp_path):
    if importlib.util.find_spec("ray") is None:
        print("SKIP reason: ray is not installed (pip install 'multimodal-al[ray]'); the Ray executor is untested here")
        pytest.skip("ray is not installed (pip install 'multimodal-al[ray]')")
    local = run(tmp_path, "local")
    assert run(tmp_path, "ray", executor="ray", jobs=2) == local


def test_executor_choices_are_checked():
    with pytest.raises(ConfigError, match="unknown executor 'dask'"):
        make_executor("dask")
    with pytest.raises(ConfigError, match="--jobs must be >= 1"):
        make_executor("local", jobs=0)
    assert type(make_executor("local", jobs=2)).__name__ == "ProcessExecutor"


def test_an_interrupt_stops_every_worker_process_at_once():
    """Ctrl-C while cells run in worker processes: the call raises, and no worker is left computing."""
    cells = build_cells(tiny_config(seeds=[0, 1, 2, 3], rounds=40, strategies=["coreset"], datasets=[{"name": "toy", "size": 400}]))
    seen = []

    def sink(msg):
        seen.append(msg)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ProcessExecutor(2).run([(c, []) for c in cells], sink)
    assert seen and mp.active_children() == []
