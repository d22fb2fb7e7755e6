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


IMPOSTOR = """
    import mmal

    class Impostor(mmal.Strategy):
        needs_model = False

        def query(self, model, pool, budget, *, rng, round):
            return mmal.Selection(pool.unlabeled_positions()[:budget])

    @mmal.hookimpl
    def register_strategies(register):
        register("random", Impostor, summary="impostor")
        register("lookalike", Impostor, summary="a third-party name")
"""


def test_a_third_party_name_colliding_with_a_built_in_is_shadowed_with_a_warning(tmp_path):
    """Policy: the built-in wins with a warning; the other stays reachable as plugin:name."""
    fake_dist(tmp_path, "mmal_dup", {"dup": "mmal_dup_mod"}, {"mmal_dup_mod": IMPOSTOR})
    out = run_cli(["list"], extra_path=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "SHADOWED: strategy 'random' is the built-in one; also registered by ['dup'], reachable as 'dup:random'" in out.stdout
    assert "mmal: warning: strategy name 'random' is registered by the built-in plugin 'random' and by 'dup:random'" in out.stderr
    assert "CONFLICT" not in out.stdout and "Traceback" not in out.stderr
    code = ("import warnings, mmal\nwarnings.simplefilter('ignore')\n"
            "print(type(mmal.strategies.get('random')).__module__, type(mmal.strategies.get('dup:random')).__name__,"
            " type(mmal.strategies.get('lookalike')).__name__, mmal.strategies.get('dup:random').label)")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert got.stdout.split(" ", 3) == ["mmal.builtin.random", "Impostor", "Impostor", "strategy 'dup:random' (plugin 'dup')\n"], got.stderr
    bench = run_cli(["bench", "--strategies", "random,dup:random", "--dataset", "toy", "--size", "30", "--seeds", "0",
                     "--rounds", "1", "--init", "6", "--budget", "3", "--out", str(tmp_path / "run"), "--no-report"], extra_path=tmp_path)
    assert bench.returncode == 0, bench.stderr
    rows = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    assert sorted({r["strategy"] for r in rows}) == ["dup:random", "random"]


def test_two_third_party_plugins_claiming_one_name_is_an_error_with_both_reachable(tmp_path):
    src = IMPOSTOR.replace('register("random", Impostor, summary="impostor")\n', "")
    fake_dist(tmp_path, "mmal_one", {"one": "mmal_one_mod"}, {"mmal_one_mod": src})
    fake_dist(tmp_path, "mmal_two", {"two": "mmal_two_mod"}, {"mmal_two_mod": src})
    out = run_cli(["list"], extra_path=tmp_path)
    assert out.returncode == 1 and "CONFLICT: strategy 'lookalike' registered by ['one', 'two']; use 'one:lookalike', 'two:lookalike'" in out.stdout
    code = ("import mmal\nprint(mmal.strategies.get('two:lookalike').plugin)\n"
            "try:\n    mmal.strategies.get('lookalike')\nexcept mmal.PluginError as e:\n    print('ERR', e)")
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(tmp_path))).stdout
    assert got.startswith("two\nERR strategy name 'lookalike' is registered by several plugins: ['one', 'two']")
    assert "'one:lookalike' or 'two:lookalike'" in got and "MMAL_BLOCK_PLUGINS" in got
    blocked = run_cli(["list"], extra_path=tmp_path, MMAL_BLOCK_PLUGINS="two")
    assert blocked.returncode == 0 and "CONFLICT" not in blocked.stdout


def test_an_entry_point_named_like_a_built_in_does_not_disable_it(tmp_path):
    fake_dist(tmp_path, "mmal_same", {"random": "mmal_same_mod"}, {"mmal_same_mod": IMPOSTOR})
    out = run_cli(["list", "--json"], extra_path=tmp_path)
    listing = json.loads(out.stdout)
    owners = {e["name"]: (e["plugin"], e["dist"]) for e in listing["strategy"]}
    assert owners["random"] == ("random", "multimodal-al") and owners["mmal_same.random:random"] == ("mmal_same.random", "mmal_same")
    assert "is loaded as plugin 'mmal_same.random'" in out.stderr


@pytest.mark.parametrize("body, words", [
    ("import sys\nsys.exit(3)\n", "SystemExit: 3 (the plugin called sys.exit)"),
    ("raise KeyboardInterrupt\n", "KeyboardInterrupt (raised KeyboardInterrupt)"),
    ("raise SystemExit('bye')\n", "SystemExit: bye"),
])
def test_a_plugin_that_exits_on_import_is_broken_not_fatal(tmp_path, body, words):
    fake_dist(tmp_path, "mmal_exit", {"exiter": "mmal_exit_mod"}, {"mmal_exit_mod": body})
    out = run_cli(["list"], extra_path=tmp_path)
    assert out.returncode == 0, out.stderr
    assert f"BROKEN plugin 'exiter': {words}" in out.stdout and "random" in out.stdout
    bench = run_cli(["bench", "--strategies", "random", "--dataset", "toy", "--size", "30", "--seeds", "0", "--rounds", "1",
                     "--init", "6", "--budget", "3", "--out", str(tmp_path / "run"), "--no-report"], extra_path=tmp_path)
    assert bench.returncode == 0, bench.stderr


def test_hooks_that_exit_and_lazy_targets_that_exit_are_contained():
    plugins = Plugins(autoload=False)

    class Exits:
        @staticmethod
        @mmal.hookimpl
        def register_strategies(register):
            raise SystemExit(0)

    class Interrupts:
        @staticmethod
        @mmal.hookimpl
        def register_task_models(register):
            raise KeyboardInterrupt

    class Lazy:
        @staticmethod
        @mmal.hookimpl
        def register_strategies(register):
            register("exiting", "mmal_test_exit_on_import:Thing")
            register("bad:name", object)

    plugins.register(Exits, name="exits")
    plugins.register(Interrupts, name="interrupts")
    plugins.register(Lazy, name="lazy")
    broken = plugins.broken()
    assert broken["exits"].startswith("SystemExit: 0 (the plugin called sys.exit)")
    assert broken["interrupts"].startswith("KeyboardInterrupt")
    assert "registered a strategy named 'bad:name'; a name is a non-empty string without ':'" in broken["lazy"]


def test_a_lazy_target_calling_sys_exit_is_a_plugin_error(tmp_path, monkeypatch):
    (tmp_path / "mmal_exit_target.py").write_text("import sys\nsys.exit('no thanks')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins = Plugins(autoload=False)

    class Lazy:
        @staticmethod
        @mmal.hookimpl
        def register_strategies(register):
            register("exiting", "mmal_exit_target:Thing")

    plugins.register(Lazy, name="lazy")
    with pytest.raises(PluginError, match="strategy 'exiting' from plugin 'lazy' failed to load .*SystemExit: no thanks"):
        Registry("strategy", plugins).get("exiting")


def test_qualified_names_of_unknown_plugins_are_clear():
    with pytest.raises(UnknownNameError, match=r"plugin 'nope' registers no strategy 'random'; 'random' is registered as \['random:random'\]"):
        mmal.strategies.get("nope:random")
    assert mmal.strategies.get("random:random").plugin == "random"


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
