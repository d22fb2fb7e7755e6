"""Benchmark configs: TOML (or YAML) files, validated key by key, with command-line overrides.

A config names the grid ``datasets x strategies x seeds`` and the AL protocol::

    name = "simsv2-regression"
    seeds = [0, 1, 2]
    init = 100          # initial labeled pool (random, the same for every strategy)
    budget = 100        # samples queried per round
    rounds = 7          # query rounds after the initial pool
    full_data = true    # also train once on the whole training set ("Full data" row)

    [[datasets]]
    name = "simsv2-synthetic"
    size = "full"
    task_model = "mtl"
    model_args = { epochs = 5 }

    [[strategies]]
    name = "grace"
    args = { alpha = 1.0, alpha_decay = 0.1 }

    [report]
    label_count = 800   # Table-1 column: metrics when this many samples are labeled
    confidence = 0.9    # pairwise t-test (BMMAL Fig. 5)

``strategies`` and ``datasets`` also accept bare names. Entries get a ``label`` (default:
the name) that must be unique; ablations list one strategy several times with different
``args`` and labels. A dataset entry may override ``init``, ``budget``, ``rounds`` and
``seeds``. Unknown keys and wrong types are errors that name the key.

:func:`config_hash` hashes everything that changes results (not ``name``, ``description``
or ``[report]``), so a run directory can refuse to resume under a different config.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..errors import ConfigError

FULL_DATA = "full-data"  # reserved strategy label of the full-training-set reference cell

#: The default of ``mmal bench`` with no arguments: the shipped protocol ``default``
#: (``mmal/protocols/default.toml``, the one place to change it).
DEFAULT_PROTOCOL = "default"


_INT = (int,)
_NUM = (int, float)

# key -> (accepted python types, description for the error message)
_TOP: dict[str, tuple[tuple[type, ...], str]] = {
    "name": ((str,), "a string"),
    "description": ((str,), "a string"),
    "seeds": ((list,), "a list of ints >= 0, e.g. [0, 1, 2]"),
    "init": (_INT, "an int >= 1"),
    "budget": (_INT, "an int >= 1"),
    "rounds": (_INT, "an int >= 0"),
    "full_data": ((bool,), "true or false"),
    "contributions": ((bool, str), "true, false or \"auto\""),
    "datasets": ((list,), "a list of dataset tables or names"),
    "strategies": ((list,), "a list of strategy tables or names"),
    "report": ((dict,), "a table"),
}
_DATASET: dict[str, tuple[tuple[type, ...], str]] = {
    "name": ((str,), "a registered dataset name (see `mmal list`)"),
    "label": ((str,), "a string"),
    "size": ((str, int), "a size name (\"tiny\", \"full\", ...) or a sample count"),
    "data_seed": (_INT, "an int >= 0"),
    "args": ((dict,), "a table of keyword arguments for the dataset"),
    "task_model": ((str,), "a registered task-model name"),
    "model_args": ((dict,), "a table of keyword arguments for the task model"),
    "init": _TOP["init"],
    "budget": _TOP["budget"],
    "rounds": _TOP["rounds"],
    "seeds": _TOP["seeds"],
}
_STRATEGY: dict[str, tuple[tuple[type, ...], str]] = {
    "name": ((str,), "a registered strategy name (see `mmal list`)"),
    "label": ((str,), "a string"),
    "args": ((dict,), "a table of keyword arguments for the strategy"),
}
_REPORT: dict[str, tuple[tuple[type, ...], str]] = {
    "label_count": (_INT, "an int: the labeled-sample count of the table"),
    "confidence": (_NUM, "a number in (0, 1), e.g. 0.9"),
    "baseline": ((str,), "a strategy label, e.g. \"random\""),
    "metric": ((str,), "the primary metric name, e.g. \"mae\" or \"acc\""),
    "metrics": ((list,), "a list of metric names"),
    "lower_is_better": ((list,), "a list of metric names where lower is better"),
}


# ---------------------------------------------------------------- loading
def load_config(path: str | Path | None = None, overrides: Sequence[str] = (), *, protocol: str | None = None) -> dict[str, Any]:
    """Read ``path`` (TOML, or YAML by extension), or the shipped ``protocol`` by name (see
    :mod:`mmal.protocols`), or the default protocol (``DEFAULT_CONFIG``) if neither; apply ``key=value`` overrides,
    and return the validated, normalized config."""
    if path is not None and protocol is not None:
        raise ConfigError("give a config path or a protocol name, not both")
    if protocol is not None:
        from .. import protocols

        path = protocols.path(protocol)
    raw = copy.deepcopy(DEFAULT_CONFIG) if path is None else read_file(path)
    apply_overrides(raw, overrides)
    return validate(raw, source=str(path) if path else "the default config")


def read_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ConfigError(f"{path}: YAML configs need PyYAML (pip install pyyaml); or write it as TOML") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the config must be a table of keys, got {type(data).__name__}")
    return data


def _default_config() -> dict[str, Any]:
    from .. import protocols

    return read_file(protocols.path(DEFAULT_PROTOCOL))


DEFAULT_CONFIG: dict[str, Any] = _default_config()


def parse_value(text: str) -> Any:
    """A command-line value as TOML (``3``, ``0.9``, ``true``, ``[0, 1]``, ``"x"``), else the bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str]) -> None:
    """Apply ``dotted.key=value`` overrides in place. A list index or ``*`` (every entry)
    selects list items: ``datasets.*.size=tiny``, ``strategies.0.args.alpha=0.5``."""
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} must look like key=value, e.g. rounds=3 or datasets.*.size=tiny")
        set_path(raw, key.strip().split("."), parse_value(text.strip()))


def set_path(node: Any, parts: list[str], value: Any, _done: str = "") -> None:
    head, rest = parts[0], parts[1:]
    where = f"{_done}.{head}" if _done else head
    if isinstance(node, list):
        if head == "*":
            targets = range(len(node))
        elif head.isdigit() and int(head) < len(node):
            targets = [int(head)]
        else:
            raise ConfigError(f"override {where!r}: {_done!r} is a list of {len(node)}; use an index 0..{len(node) - 1} or *")
        for i in targets:
            if isinstance(node[i], str):  # a bare name becomes a table so it can take keys
                node[i] = {"name": node[i]}
            if rest:
                set_path(node[i], rest, value, f"{_done}.{i}")
            else:
                node[i] = copy.deepcopy(value)
        return
    if not isinstance(node, dict):
        raise ConfigError(f"override {where!r}: {_done!r} is not a table")
    if not rest:
        node[head] = copy.deepcopy(value)
        return
    child = node.setdefault(head, {})
    set_path(child, rest, value, where)


# -------------------------------------------------------------- validation
def _check_keys(table: Mapping[str, Any], schema: Mapping[str, tuple], where: str) -> None:
    for key, value in table.items():
        path = f"{where}.{key}" if where else key
        if key not in schema:
            close = difflib.get_close_matches(str(key), list(schema), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"unknown config key {path!r}{hint} Allowed here: {sorted(schema)}")
        types, desc = schema[key]
        bad_bool = isinstance(value, bool) and bool not in types
        if bad_bool or not isinstance(value, types):
            raise ConfigError(f"config key {path!r} must be {desc}, got {type(value).__name__} {value!r}")


def _positive(value: int, path: str, minimum: int) -> None:
    if value < minimum:
        raise ConfigError(f"config key {path!r} must be >= {minimum}, got {value}")


def _seeds(value: list, path: str) -> list[int]:
    if not value:
        raise ConfigError(f"config key {path!r} must list at least one seed, e.g. [0, 1, 2]")
    for s in value:
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            raise ConfigError(f"config key {path!r} must be a list of ints >= 0, got {s!r} in {value!r}")
    if len(set(value)) != len(value):
        raise ConfigError(f"config key {path!r} repeats a seed: {value!r}")
    return list(value)


def _unique_labels(entries: list[dict[str, Any]], path: str) -> None:
    seen: set[str] = set()
    for i, e in enumerate(entries):
        if e["label"] in seen:
            raise ConfigError(f"config key '{path}.{i}.label': label {e['label']!r} is used twice; give each entry its own label")
        seen.add(e["label"])


def _named_table(item: Any, allowed: Mapping[str, Any], path: str, kind: str) -> dict[str, Any]:
    """A dataset / strategy entry: a bare name or a table with a ``name`` and only known keys."""
    item = {"name": item} if isinstance(item, str) else item
    if not isinstance(item, dict):
        raise ConfigError(f"config key {path!r} must be a {kind} name or a table, got {type(item).__name__}")
    _check_keys(item, allowed, path)
    if "name" not in item:
        raise ConfigError(f"config key {path!r} needs a 'name' (a registered {kind}, see `mmal list`)")
    return item


def validate(raw: Mapping[str, Any], source: str = "config") -> dict[str, Any]:
    """Check every key and type; return the normalized config (defaults filled in)."""
    try:
        return _validate(raw)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _validate(raw: Mapping[str, Any]) -> dict[str, Any]:
    _check_keys(raw, _TOP, "")
    cfg: dict[str, Any] = {
        "name": raw.get("name", "bench"),
        "description": raw.get("description", ""),
        "seeds": _seeds(raw.get("seeds", [0]), "seeds"),
        "init": raw.get("init", 20),
        "budget": raw.get("budget", 10),
        "rounds": raw.get("rounds", 3),
        "full_data": raw.get("full_data", False),
        "contributions": raw.get("contributions", "auto"),
    }
    _positive(cfg["init"], "init", 1)
    _positive(cfg["budget"], "budget", 1)
    _positive(cfg["rounds"], "rounds", 0)
    if isinstance(cfg["contributions"], str) and cfg["contributions"] != "auto":
        raise ConfigError(f"config key 'contributions' must be true, false or \"auto\", got {cfg['contributions']!r}")

    if "datasets" not in raw or not raw["datasets"]:
        raise ConfigError("config key 'datasets' is missing or empty; add e.g. datasets = [\"toy\"]")
    if "strategies" not in raw or not raw["strategies"]:
        raise ConfigError("config key 'strategies' is missing or empty; add e.g. strategies = [\"random\"]")

    cfg["datasets"] = []
    for i, d in enumerate(raw["datasets"]):
        path = f"datasets.{i}"
        d = _named_table(d, _DATASET, path, "dataset")
        entry = {
            "name": d["name"], "label": d.get("label", d["name"]), "size": d.get("size", "tiny"),
            "data_seed": d.get("data_seed", 0), "args": dict(d.get("args", {})),
            "task_model": d.get("task_model"), "model_args": dict(d.get("model_args", {})),
        }
        _positive(entry["data_seed"], f"{path}.data_seed", 0)
        for key in ("init", "budget", "rounds"):
            if key in d:
                _positive(d[key], f"{path}.{key}", 0 if key == "rounds" else 1)
            entry[key] = d.get(key, cfg[key])
        entry["seeds"] = _seeds(d["seeds"], f"{path}.seeds") if "seeds" in d else list(cfg["seeds"])
        cfg["datasets"].append(entry)
    _unique_labels(cfg["datasets"], "datasets")

    cfg["strategies"] = []
    for i, s in enumerate(raw["strategies"]):
        path = f"strategies.{i}"
        s = _named_table(s, _STRATEGY, path, "strategy")
        entry = {"name": s["name"], "label": s.get("label", s["name"]), "args": dict(s.get("args", {}))}
        if entry["label"] == FULL_DATA:
            raise ConfigError(f"config key '{path}.label': {FULL_DATA!r} is reserved for the full-data reference; set full_data = true instead")
        cfg["strategies"].append(entry)
    _unique_labels(cfg["strategies"], "strategies")

    report = raw.get("report", {})
    _check_keys(report, _REPORT, "report")
    conf = report.get("confidence", 0.9)
    if not 0 < conf < 1:
        raise ConfigError(f"config key 'report.confidence' must be in (0, 1), e.g. 0.9, got {conf}")
    for key in ("metrics", "lower_is_better"):
        if not all(isinstance(m, str) for m in report.get(key, [])):
            raise ConfigError(f"config key 'report.{key}' must be a list of metric names (strings)")
    cfg["report"] = {
        "label_count": report.get("label_count"), "confidence": float(conf),
        "baseline": report.get("baseline", "random"), "metric": report.get("metric"),
        "metrics": list(report.get("metrics", [])), "lower_is_better": list(report.get("lower_is_better", [])),
    }
    return cfg


# ------------------------------------------------------------------ hashes
def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def config_hash(cfg: Mapping[str, Any]) -> str:
    """Hash of what changes results: the grid and the protocol, not names or report options."""
    return _digest({k: v for k, v in cfg.items() if k not in ("name", "description", "report")})


def cell_hash(spec: Mapping[str, Any]) -> str:
    """Hash of one cell's settings: rows resume into the cell with the same hash. The number
    of rounds is left out (round r never depends on how many follow), so a forced resume
    with more rounds continues every cell from its finished rounds."""
    return _digest({k: spec[k] for k in ("kind", "dataset", "strategy", "seed", "init", "budget", "contributions")})
