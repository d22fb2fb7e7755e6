"""The distribution: its package list, the core and its extras (a missing extra is named), the
protocols' paper / figure / cost fields, and the plugin provenance of results rows.
(tests/test_packaging_install.py builds and installs it.)"""

import json
import re
import sys
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pytest
from setuptools import find_packages

import mmal
from mmal import protocols
from mmal.errors import MissingExtraError
from mmal.extras import EXTRAS, require

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_directory_is_listed_in_pyproject():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    on_disk = {"mmal"} | {f"mmal.{p}" for p in find_packages(ROOT / "mmal")}
    on_disk |= {"mmal.builtin"} | {f"mmal.builtin.{p}" for p in find_packages(ROOT / "plugins" / "builtin")}
    assert on_disk == listed, f"add to / remove from [tool.setuptools] packages: {sorted(on_disk ^ listed)}"
    assert cfg["package-dir"] == {"mmal.builtin": "plugins/builtin"}


# ------------------------------------------------------------ extras: a missing one is named
def test_core_dependencies_leave_the_optional_packages_to_extras():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {d.split(">")[0].split("<")[0].split("=")[0].strip().lower() for d in project["dependencies"]}
    assert core == {"numpy", "scipy", "scikit-learn", "threadpoolctl", "pluggy", "torch", "matplotlib"}
    extras = project["optional-dependencies"]
    for module, (extra, package) in EXTRAS.items():
        assert any(d.lower().startswith(package.lower()) for d in extras[extra]), f"extra {extra!r} lacks {package}"
    assert "multimodal-al[text,modal,ray,faiss,docs]" in extras["dev"]  # the tests need every extra they import


def test_require_names_the_extra_of_a_missing_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # import of transformers fails as if not installed
    with pytest.raises(MissingExtraError, match=r"the text encoder needs transformers.*pip install 'multimodal-al\[text\]'"):
        require("transformers", "the text encoder")
    with pytest.raises(ModuleNotFoundError) as info:  # not an optional package: the plain error
        require("mmal_no_such_module", "x")
    assert not isinstance(info.value, MissingExtraError)


def test_text_encoder_without_transformers_says_install_the_text_extra(monkeypatch, tmp_path):
    from mmal.nn.text import BertFeatureExtractor

    (tmp_path / "config.json").write_text("{}")
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(MissingExtraError, match=r"BertFeatureExtractor.*multimodal-al\[text\]"):
        BertFeatureExtractor(tmp_path)


def test_modal_strategy_without_modal_says_install_the_modal_extra(monkeypatch):
    strategy = mmal.strategies.get("modal-entropy")
    monkeypatch.setitem(sys.modules, "modAL.uncertainty", None)
    with pytest.raises(MissingExtraError, match=r"modAL-python.*pip install 'multimodal-al\[modal\]'"):
        strategy.function()
    monkeypatch.setitem(sys.modules, "modAL.models.learners", None)
    from mmal.compat import shim

    with pytest.raises(MissingExtraError, match=r"multimodal-al\[modal\]"):
        shim.install()


def test_kernels_without_faiss_fall_back_to_torch_and_say_so_once(monkeypatch):
    from mmal.kernels import backend, knn

    monkeypatch.setattr(backend, "_faiss", lambda: None)
    monkeypatch.setattr(backend, "_has_faiss_gpu", lambda: False)
    backend._note_no_faiss.cache_clear()
    try:
        with pytest.warns(UserWarning, match=r"torch backend.*pip install 'multimodal-al\[faiss\]'"):
            assert backend.resolve("auto") == "torch"
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            x = np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)
            dist, idx = knn(x, 2, queries=x[:5])  # auto -> torch: the query points are their own nearest neighbours
            assert backend.resolve("auto") == "torch"
        assert not [w for w in seen if "FAISS" in str(w.message)], "the note repeats"
        assert idx[:, 0].tolist() == [0, 1, 2, 3, 4] and np.allclose(dist[:, 0], 0, atol=1e-4)
        with pytest.raises(ValueError, match=r"'faiss' is not available.*pip install 'multimodal-al\[faiss\]'"):
            backend.resolve("faiss")
        with pytest.raises(ValueError, match=r"multimodal-al\[gpu\]"):
            backend.resolve("faiss-gpu")
    finally:
        backend._note_no_faiss.cache_clear()


# ------------------------------------------------------------ protocols: paper, figure, cost
def test_every_shipped_protocol_states_its_paper_and_what_it_reproduces():
    for name in protocols.names():
        about = protocols.about(name)
        assert about.get("paper") and about.get("reproduces"), f"{protocols.path(name).name}: add '# paper:' / '# reproduces:'"
        assert set(about) <= set(protocols.FIELDS)
        cost = r"~[\d.]+ (s|min|h) on 2 cores \(--jobs 2; [\d.]+ CPU-h; .*benchmarks/protocol_cost\.py\)"
        assert re.fullmatch(cost, about.get("cost", "")), f"{protocols.path(name).name}: measure its '# cost:' line (benchmarks/protocol_cost.py --write)"
    assert protocols.about("simsv2-regression")["reproduces"].startswith("Fig. 4 and Table 1")
    assert "BMMAL" in protocols.about("food101")["paper"]


def test_listing_shows_each_field_and_tolerates_a_missing_cost(monkeypatch, tmp_path, capsys):
    from mmal.cli import main

    (tmp_path / "with_cost.toml").write_text("# A protocol.\n# paper: P (2024)\n# reproduces: Fig. 1\n# cost: ~2 h on 2 cores\n"
                                             "# cost-note: not a field\ndescription = \"one\"\n# paper: after the header\n")
    (tmp_path / "bare.toml").write_text("description = \"two\"\n")
    monkeypatch.setattr(protocols, "_dir", lambda: tmp_path)
    assert protocols.about("with-cost") == {"paper": "P (2024)", "reproduces": "Fig. 1", "cost": "~2 h on 2 cores"}
    assert protocols.about("bare") == {}
    assert main(["protocols"]) == 0
    out = capsys.readouterr().out
    assert "with-cost: one\n    paper:      P (2024)\n    reproduces: Fig. 1\n    cost:       ~2 h on 2 cores\n" in out
    assert "bare: two\n    paper:      not stated\n    reproduces: not stated\n    cost:       not measured yet\n" in out


# ------------------------------------------------------------ rows: which plugin made them
def test_rows_record_the_plugin_dist_and_version_of_strategy_model_and_dataset(tmp_path):
    from mmal.bench import run_bench
    from mmal.bench.config import validate
    from mmal.bench.store import read_rows
    from mmal.builtin.random import Random
    from mmal.plugins import Plugins, default, reset

    class ThirdParty:  # a plugin registered in-process: no distribution, a version
        @staticmethod
        @mmal.hookimpl
        def register_strategies(register):
            register("third-party-random", Random)

    before = default()
    plugins = reset(Plugins())
    plugins.register(ThirdParty, name="third-party", version="9.9")
    try:
        cfg = validate({"seeds": [0], "init": 10, "budget": 5, "rounds": 1, "full_data": True,
                        "datasets": [{"name": "toy", "size": 60}], "strategies": ["third-party-random", "random"]})
        run_bench(cfg, tmp_path / "run", progress="none", report=False)
    finally:
        reset(before)
    rows = read_rows(tmp_path / "run" / "results.jsonl")
    assert len(rows) == 5 and all(r["status"] == "ok" for r in rows)
    ours = {"dist": "multimodal-al", "version": mmal.__version__}
    for r in rows:
        assert r["plugins"]["dataset"] == {"name": "toy", "plugin": "datasets", **ours}
        assert r["plugins"]["task_model"] == {"name": "linear", "plugin": "linear", **ours}
    by = {r["strategy"]: r["plugins"].get("strategy") for r in rows}
    assert by["third-party-random"] == {"name": "third-party-random", "plugin": "third-party", "dist": None, "version": "9.9"}
    assert by["random"] == {"name": "random", "plugin": "random", **ours}
    assert by["full-data"] is None  # the full-data reference is no plugin's strategy


def test_protocol_cost_extrapolates_training_linearly_and_queries_per_round(tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import protocol_cost
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    # round 0: 2 CPU-s in 4 wall-s (scale 0.5), 2 wall-s of it training -> train 1, other 1; round 1's query: 1 wall-s -> 0.5
    rows = [{"n_labeled": 10, "pool_size": 100, "train_seconds": 2.0, "query_seconds": 0.0},
            {"n_labeled": 20, "pool_size": 100, "train_seconds": 4.0, "query_seconds": 1.0}]
    # labeled 10, 20, 30, 40: training 1 + 2 + 3 + 4, other 4 x 1, queries 3 x 0.5
    assert protocol_cost.extrapolate(rows, [2.0, 3.0], [4.0, 6.0], 10, 10, 3) == pytest.approx(15.5)
    rows = [{**r, "pool_size": 25} for r in rows]  # the labeled count stops at the pool size
    assert protocol_cost.extrapolate(rows, [2.0, 3.0], [4.0, 6.0], 10, 10, 3) == pytest.approx(1 + 2 + 2.5 + 2.5 + 4 + 1.5)
    assert protocol_cost.extrapolate(rows[:1], [2.0], [4.0], 10, 10, 0) == 2.0  # a one-round cell is what it measured
    m = {"cpu_s": 7200.0}
    assert protocol_cost.cost_line(m, False).startswith("# cost: ~60 min on 2 cores (--jobs 2; 2.00 CPU-h; extrapolated")
    (tmp_path / "p.toml").write_text("# About.\n# reproduces: Fig. 1\n# cost: old\n# more\nname = \"p\"\n")
    monkeypatch.setattr(protocols, "_dir", lambda: tmp_path)
    protocol_cost.write("p", "# cost: new")
    assert (tmp_path / "p.toml").read_text() == "# About.\n# reproduces: Fig. 1\n# cost: new\n# more\nname = \"p\"\n"
    assert protocols.about("p")["cost"] == "new"
    # a protocol measured in --datasets parts: the parts' CPU seconds add up; a part counted twice is refused
    for label, cpu_s in (("a", 1800.0), ("b", 5400.0)):
        (tmp_path / f"{label}.json").write_text(json.dumps({"protocol": "p", "method": "extrapolated from rounds 0-1 of seed 0",
                                                            "cpu_s": cpu_s, "datasets": [label]}) + "\n")
    parts = [str(tmp_path / "a.json"), str(tmp_path / "b.json")]
    assert protocol_cost.summed("p", parts)["cpu_s"] == 7200.0
    with pytest.raises(SystemExit, match="its own --datasets"):
        protocol_cost.summed("p", parts + parts[:1])
