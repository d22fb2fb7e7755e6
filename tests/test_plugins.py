"""Plugins come from entry points; broken ones are reported, conflicts are errors, loading is lazy."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

import mmal
from mmal.errors import PluginError, UnknownNameError
from mmal.plugins import Plugins, Registry


def fake_dist(root, dist, entry_points, modules):
    """Write an installed-looking distribution (dist-info + modules) under ``root``."""
    info = root / f"{dist}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[mmal]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items()))
    for name, src in modules.items():
        (root / f"{name}.py").write_text(textwrap.dedent(src))


def run_cli(args, extra_path=None, **env):
    e = dict(os.environ, **env)
    if extra_path:
        e["PYTHONPATH"] = os.pathsep.join([str(extra_path), e.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "mmal", *args], capture_output=True, text=True, env=e, timeout=300)


def test_builtins_listed_without_importing_torch():
    code = "import sys, mmal; mmal.strategies.names(); mmal.task_models.names(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    listing = json.loads(run_cli(["list", "--json"]).stdout)
    names = {e["name"]: e for e in listing["strategy"]}
    assert names["random"]["plugin"] == "random" and names["random"]["dist"] == "multimodal-al"
    assert "linear" in {e["name"] for e in listing["task_model"]}
    assert "toy" in {e["name"] for e in listing["dataset"]}


def test_broken_plugin_is_reported_and_others_work(tmp_path):
    fake_dist(tmp_path, "mmal_bad", {"bad": "mmal_bad_mod"}, {"mmal_bad_mod": "raise ImportError('no such backend')\n"})
    out = run_cli(["list"], extra_path=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "BROKEN plugin 'bad': ImportError: no such backend" in out.stdout
    assert "random" in out.stdout
    bench = run_cli(["bench", "--strategies", "random", "--seeds", "0", "--rounds", "1", "--out", str(tmp_path / "run")],
                    extra_path=tmp_path)
    assert bench.returncode == 0, bench.stderr


def test_hook_that_raises_marks_plugin_broken():
    plugins = Plugins(autoload=False)

    class Bad:
        @staticmethod
        @mmal.hookimpl
        def register_strategies(register):
            register("half", object)
            raise RuntimeError("boom")

    class Good:
        @staticmethod
        @mmal.hookimpl
        def register_strategies(register):
            register("good", object)

    plugins.register(Bad, name="bad")
    plugins.register(Good, name="good")
    reg = Registry("strategy", plugins)
    assert reg.names() == ["good"]
    assert plugins.broken()["bad"].startswith("RuntimeError: boom")


def test_name_conflict_is_an_error(tmp_path):
    src = """
        import mmal
        @mmal.hookimpl
        def register_strategies(register):
            register("random", "builtins:object", summary="impostor")
    """
    fake_dist(tmp_path, "mmal_dup", {"dup": "mmal_dup_mod"}, {"mmal_dup_mod": src})
    out = run_cli(["list"], extra_path=tmp_path)
    assert out.returncode == 1 and "CONFLICT: strategy 'random' registered by ['dup', 'random']" in out.stdout
    code = "import mmal\ntry:\n    mmal.strategies.get('random')\nexcept mmal.PluginError as e:\n    print('ERR', e)"
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env).stdout
    assert "ERR strategy name 'random' is registered by several plugins" in got and "MMAL_BLOCK_PLUGINS" in got
    blocked = run_cli(["list"], extra_path=tmp_path, MMAL_BLOCK_PLUGINS="dup")
    assert blocked.returncode == 0 and "CONFLICT" not in blocked.stdout


def test_autoload_can_be_disabled(monkeypatch):
    monkeypatch.setenv("MMAL_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert Registry("strategy", Plugins()).names() == []


def test_unknown_name_suggests():
    with pytest.raises(UnknownNameError, match="unknown strategy 'randon'; did you mean 'random'"):
        mmal.strategies.get("randon")


def test_strategy_learns_its_name_and_plugin():
    s = mmal.strategies.get("random")
    assert (s.name, s.plugin) == ("random", "random")


def test_lazy_target_failure_names_plugin():
    plugins = Plugins(autoload=False)

    class Lazy:
        @staticmethod
        @mmal.hookimpl
        def register_strategies(register):
            register("ghost", "mmal_no_such_module:Ghost")

    plugins.register(Lazy, name="lazy")
    with pytest.raises(PluginError, match="strategy 'ghost' from plugin 'lazy' failed to load"):
        Registry("strategy", plugins).get("ghost")
