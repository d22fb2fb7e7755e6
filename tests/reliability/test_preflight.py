"""Issue 19: `mmal bench` checks every cell (strategy, task, task model, their arguments,
sizes) before any data is built or model trained, and names every problem at once."""

import subprocess
import sys

import pytest

import mmal.bench.grid
from mmal.bench import BenchConfig, load_config, preflight, run_bench
from mmal.errors import ConfigError


@pytest.fixture
def no_data(monkeypatch):
    """Building a dataset (or training: no dataset, no model) fails the test."""
    def forbidden(d):
        raise AssertionError(f"dataset {d['name']!r} was built before the pre-flight finished")

    monkeypatch.setattr(mmal.bench.grid, "load_dataset", forbidden)


def test_every_bad_cell_is_named_before_anything_is_built(tmp_path, no_data):
    cfg = load_config(overrides=[
        'datasets=[{name = "toy", size = 40, args = {task = "regression"}}, {name = "toy", label = "toy-c", size = "huge"}, '
        '{name = "simsv2-synthetic", size = "tiny", init = 9999, model_args = {epoch = 2}}]',
        'strategies=["random", "bald", {name = "grace", args = {alpah = 1.0}}, "badge"]', "seeds=[0, 1]"])
    with pytest.raises(ConfigError) as err:
        run_bench(cfg, tmp_path / "run", progress="none")
    msg = str(err.value)
    assert msg.startswith("the bench's pre-flight found 10 problem(s); nothing was built or trained")
    for part in (
        "strategy 'grace': strategy 'grace' (plugin 'grace'): no parameter 'alpah'; did you mean 'alpha'?",
        "cells toy/bald/{0, 1}: strategy 'bald' supports ['classification'] tasks, but the pool's task is 'regression'",
        "cells toy/badge/{0, 1}: strategy 'badge' supports ['classification'] tasks",
        "dataset 'toy-c': size 'huge' is not one of ['medium', 'small', 'tiny']",
        "cells toy-c/bald/{0, 1}: strategy 'bald' requires the model capabilities ['predict_proba_samples'], which LinearModel",
        "cells toy-c/badge/{0, 1}: strategy 'badge' requires the model capabilities ['grad_embed']",
        "cells simsv2-synthetic/bald/{0, 1}: strategy 'bald' supports ['classification'] tasks, but the dataset's task is 'regression'",
        "cells simsv2-synthetic/badge/{0, 1}: strategy 'badge' supports",
        "dataset 'simsv2-synthetic': init=9999 is more than its 300 train samples (size='tiny')",
        "dataset 'simsv2-synthetic': task model: task_model 'mtl' (plugin 'models'): no parameter 'epoch'; did you mean 'epochs'?",
    ):
        assert part in msg, part
    assert not (tmp_path / "run").exists()


def test_dataset_arguments_and_paths_are_checked(no_data, tmp_path):
    cfg = BenchConfig(strategies=["random"], dataset="mmsa", dataset_args={"path": str(tmp_path / "nope.pkl"), "veiw": "x"})
    with pytest.raises(ConfigError) as err:
        preflight(cfg.to_config())
    assert "args: no parameter 'veiw'; did you mean 'view'?" in str(err.value)
    assert f"args.path '{tmp_path / 'nope.pkl'}' does not exist" in str(err.value)
    synthetic = BenchConfig(strategies=["random"], dataset="simsv2-synthetic", dataset_args={"dominanse": 2.0})
    with pytest.raises(ConfigError, match="args: no parameter 'dominanse'; did you mean 'dominance'"):
        preflight(synthetic.to_config())  # a family's **kw arguments are checked too


def test_a_good_grid_passes_the_preflight_and_runs(tmp_path):
    cfg = BenchConfig(strategies=["random", "coreset"], dataset="toy", size=40, rounds=1, init=6, budget=3,
                      dataset_args={"task": "regression"}, model_args={"alpha": 2.0})
    preflight(cfg.to_config())
    assert run_bench(cfg, tmp_path / "run", progress="none", report=False).failed == []


def test_the_cli_fails_fast_with_every_problem(tmp_path):
    out = subprocess.run([sys.executable, "-m", "mmal", "bench", "--strategies", "bald,random,dbal", "--dataset", "toy",
                          "--dataset-arg", "task=regression", "--model-arg", "alpah=2", "--seeds", "0,1", "--out", str(tmp_path / "run")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "pre-flight found 2 problem(s)" in out.stderr  # dbal supports regression; its model is checked once it builds
    assert "no parameter 'alpah'; did you mean 'alpha'?" in out.stderr
    assert "cells toy/bald/{0, 1}: strategy 'bald' supports ['classification'] tasks" in out.stderr
    assert not (tmp_path / "run").exists()


def test_every_registered_default_task_model_is_a_task_model_name():
    """`mmal bench`'s pre-flight builds a dataset's registered default task model by name."""
    import mmal

    names = set(mmal.task_models.names())
    defaults = {d: mmal.datasets.entry(d).meta.get("default_task_model") for d in mmal.datasets.names()}
    assert {d: m for d, m in defaults.items() if m is not None and m not in names} == {}


def test_the_folder_dataset_registers_the_loaders_default_and_pre_flights(tmp_path, no_data):
    import numpy as np

    import mmal
    from mmal.data.loaders import load_folder
    from test_loaders import write_folder

    write_folder(tmp_path / "c", np.random.default_rng(4), n=40)
    assert mmal.datasets.entry("folder").meta["default_task_model"] == load_folder(tmp_path / "c").default_task_model \
        == "mm-classifier"
    cfg = load_config(overrides=[f'datasets=[{{name = "folder", args = {{path = "{tmp_path / "c"}"}}}}]',
                                 'strategies=["badge", "bmmal", "grace"]', "seeds=[0]", "init=6", "budget=3", "rounds=1"])
    preflight(cfg)  # no "unknown task_model"
    root = tmp_path / "r"  # a regression folder: the loader's default is mtl, and the pre-flight reads it per task
    root.mkdir()
    rng = np.random.default_rng(5)
    np.save(root / "text.npy", rng.normal(size=(30, 4)).astype(np.float32))
    (root / "labels.csv").write_text("id,M,split\n" + "".join(
        f"k{i},{v:.2f},{'train' if i < 20 else 'test'}\n" for i, v in enumerate(rng.uniform(-1, 1, 30))))
    assert load_folder(root).default_task_model == "mtl"
    assert mmal.datasets.entry("folder").meta["default_task_model_regression"] == "mtl"
    cfg = load_config(overrides=[f'datasets=[{{name = "folder", args = {{path = "{root}", task = "regression"}}}}]',
                                 'strategies=["grace"]', "seeds=[0]", "init=6", "budget=3", "rounds=1"])
    preflight(cfg)  # mm-classifier (classification only) would be refused here
