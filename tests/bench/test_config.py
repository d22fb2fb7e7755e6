"""Config files: validation names the bad key, overrides, hashes, and every shipped config."""

from pathlib import Path

import pytest

from mmal.bench.config import DEFAULT_CONFIG, FULL_DATA, apply_overrides, cell_hash, config_hash, load_config, validate
from mmal.bench.grid import build_cells
from mmal.errors import ConfigError
from mmal.plugins import datasets, strategies, task_models

from benchutil import tiny_raw

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "mmal" / "protocols").glob("*.toml"))


def test_defaults_are_filled_in():
    cfg = validate(tiny_raw())
    assert cfg["datasets"][0] == {"name": "toy", "label": "toy", "size": 60, "data_seed": 0, "args": {}, "task_model": None,
                                  "model_args": {}, "init": 10, "budget": 5, "rounds": 2, "seeds": [0, 1]}
    assert cfg["strategies"] == [{"name": "random", "label": "random", "args": {}}]
    assert cfg["report"]["confidence"] == 0.9 and cfg["report"]["baseline"] == "random"
    assert validate(DEFAULT_CONFIG)["name"] == "default"


@pytest.mark.parametrize("raw, words", [
    (tiny_raw(sedes=[0]), ["'sedes'", "did you mean 'seeds'"]),
    (tiny_raw(datasets=[{"name": "toy", "sise": "tiny"}]), ["'datasets.0.sise'", "did you mean 'size'"]),
    (tiny_raw(strategies=[{"name": "random", "arg": {}}]), ["'strategies.0.arg'", "did you mean 'args'"]),
    (tiny_raw(report={"confidance": 0.9}), ["'report.confidance'"]),
])
def test_unknown_keys_are_named(raw, words):
    with pytest.raises(ConfigError) as err:
        validate(raw, source="my.toml")
    msg = str(err.value)
    assert msg.startswith("my.toml: ") and all(w in msg for w in words), msg


@pytest.mark.parametrize("raw, key, words", [
    (tiny_raw(rounds="3"), "'rounds'", "must be an int"),
    (tiny_raw(init=True), "'init'", "must be an int"),
    (tiny_raw(budget=0), "'budget'", ">= 1"),
    (tiny_raw(seeds=[0, "1"]), "'seeds'", "list of ints"),
    (tiny_raw(seeds=[1, 1]), "'seeds'", "repeats"),
    (tiny_raw(seeds=[]), "'seeds'", "at least one"),
    (tiny_raw(full_data="yes"), "'full_data'", "true or false"),
    (tiny_raw(contributions="some"), "'contributions'", "auto"),
    (tiny_raw(datasets=[{"name": "toy", "args": 3}]), "'datasets.0.args'", "a table"),
    (tiny_raw(datasets=[{"size": "tiny"}]), "'datasets.0'", "needs a 'name'"),
    (tiny_raw(datasets=[]), "'datasets'", "missing or empty"),
    (tiny_raw(strategies=[3]), "'strategies.0'", "a strategy name or a table"),
    (tiny_raw(strategies=["random", "random"]), "'strategies.1.label'", "used twice"),
    (tiny_raw(strategies=[{"name": "random", "label": FULL_DATA}]), "'strategies.0.label'", "reserved"),
    (tiny_raw(report={"confidence": 1.5}), "'report.confidence'", "(0, 1)"),
    (tiny_raw(report={"metrics": ["acc", 3]}), "'report.metrics'", "strings"),
])
def test_wrong_values_name_the_key(raw, key, words):
    with pytest.raises(ConfigError) as err:
        validate(raw)
    assert key in str(err.value) and words in str(err.value), str(err.value)


def test_overrides_set_dotted_keys_list_items_and_every_item():
    raw = tiny_raw(strategies=["random", {"name": "random", "label": "r2", "args": {"x": 1}}],
                   datasets=[{"name": "toy"}, {"name": "toy", "label": "t2"}])
    apply_overrides(raw, ["rounds=5", "seeds=[3, 4]", "datasets.*.size=\"small\"", "datasets.1.args.task=regression",
                          "strategies.0.args.alpha=0.5", "report.confidence=0.95", "full_data=true"])
    cfg = validate(raw)
    assert cfg["rounds"] == 5 and cfg["seeds"] == [3, 4] and cfg["full_data"] is True
    assert [d["size"] for d in cfg["datasets"]] == ["small", "small"]
    assert cfg["datasets"][1]["args"] == {"task": "regression"} and cfg["datasets"][0]["args"] == {}
    assert cfg["strategies"][0]["args"] == {"alpha": 0.5} and cfg["strategies"][1]["args"] == {"x": 1}
    assert cfg["report"]["confidence"] == 0.95
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides(raw, ["rounds"])
    with pytest.raises(ConfigError, match="use an index 0..1"):
        apply_overrides(raw, ["datasets.7.size=tiny"])


def test_bad_override_values_are_validated_like_file_values():
    with pytest.raises(ConfigError, match="'rounds' must be an int"):
        load_config(None, ["rounds=three"])


def test_config_hash_tracks_what_changes_results():
    base = validate(tiny_raw())
    assert config_hash(base) == config_hash(validate(dict(reversed(list(tiny_raw().items())))))
    same = validate(tiny_raw(name="other", description="x", report={"confidence": 0.95, "label_count": 20}))
    assert config_hash(same) == config_hash(base)
    for change in ({"rounds": 3}, {"seeds": [0, 2]}, {"strategies": [{"name": "random", "args": {"a": 1}}]},
                   {"datasets": [{"name": "toy", "size": 61}]}, {"full_data": True}):
        assert config_hash(validate(tiny_raw(**change))) != config_hash(base), change


def test_cell_hash_ignores_rounds_and_labels_cells_uniquely():
    a, b = build_cells(validate(tiny_raw())), build_cells(validate(tiny_raw(rounds=4)))
    assert [c["cell_hash"] for c in a] == [c["cell_hash"] for c in b]
    assert len({c["cell_hash"] for c in a}) == len(a) == 2
    assert cell_hash({**a[0], "init": 11}) != a[0]["cell_hash"]


def test_yaml_and_toml_read_the_same(tmp_path):
    (tmp_path / "c.toml").write_text('seeds = [0, 1]\nrounds = 2\n[[datasets]]\nname = "toy"\nsize = 60\n[[strategies]]\nname = "random"\n')
    (tmp_path / "c.yaml").write_text("seeds: [0, 1]\nrounds: 2\ndatasets:\n  - {name: toy, size: 60}\nstrategies:\n  - name: random\n")
    assert load_config(tmp_path / "c.toml") == load_config(tmp_path / "c.yaml")
    (tmp_path / "bad.toml").write_text("seeds = [0,\n")
    with pytest.raises(ConfigError, match="bad.toml: not valid TOML"):
        load_config(tmp_path / "bad.toml")
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.toml")


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_configs_validate(path):
    cfg = load_config(path)
    cells = build_cells(cfg)
    assert len({c["key"] for c in cells}) == len(cells) > 0
    pending = []
    for kind, registry, names in (
        ("dataset", datasets, [d["name"] for d in cfg["datasets"]]),
        ("task model", task_models, [d["task_model"] for d in cfg["datasets"] if d["task_model"]]),
        ("strategy", strategies, [s["name"] for s in cfg["strategies"]]),
    ):
        for name in names:
            assert isinstance(name, str) and name
            if name not in registry:
                pending.append(f"{kind} {name!r}")
    if pending:  # plugins still being written: their names can only be checked as strings
        print(f"{path.name}: not registered yet: {', '.join(sorted(set(pending)))}")


def test_shipped_configs_cover_the_paper_protocols():
    cfgs = {p.stem: load_config(p) for p in SHIPPED}
    sims = cfgs["simsv2_regression"]
    assert (sims["init"], sims["budget"], sims["rounds"], sims["seeds"]) == (100, 100, 7, [0, 1, 2])
    assert sims["init"] + sims["budget"] * sims["rounds"] == 800 == sims["report"]["label_count"] and sims["full_data"]
    assert {s["name"] for s in sims["strategies"]} == {"coreset", "gcnal", "dbal", "random", "grace"}
    for stem, n in (("simsv2_initial_pool_50", 50), ("simsv2_initial_pool_200", 200)):
        c = cfgs[stem]
        assert c["init"] == c["budget"] == n and c["init"] + c["budget"] * c["rounds"] == 800
    ch = cfgs["cherma_classification"]
    assert ch["init"] + ch["budget"] * ch["rounds"] == 5000 and ch["rounds"] == 4
    assert {s["name"] for s in ch["strategies"]} == {"bald", "badge", "bmmal", "random", "grace"}
    assert len(cfgs["food101"]["seeds"]) == 5 and len(cfgs["kineticssound"]["seeds"]) == 3
    assert {s["label"] for s in cfgs["grace_ablation_criteria"]["strategies"]} >= {"GRACE-I", "GRACE-IR", "GRACE-IRE"}


def test_the_default_is_the_shipped_default_protocol():
    """`mmal bench` with no arguments: real multi-view data, the multimodal strategies and their baselines,
    >= 3 seeds, the dataset's gradient model with its default training budget."""
    cfg, shipped = validate(DEFAULT_CONFIG), load_config(protocol="default")
    assert cfg == shipped and load_config() == shipped
    (d,) = cfg["datasets"]
    assert d["name"] == "uci-mfeat" and d["task_model"] == "mm-classifier" and d["model_args"] == {}
    names = [s["name"] for s in cfg["strategies"]]
    assert {"bmmal", "grace", "random"} <= set(names) and len(names) >= 4
    assert len(cfg["seeds"]) >= 3 and cfg["report"]["baseline"] == "random"
    assert datasets.entry("uci-mfeat") is not None
