"""The distribution's package list covers every package in the source tree."""

import tomllib
from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_directory_is_listed_in_pyproject():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    on_disk = {"mmal"} | {f"mmal.{p}" for p in find_packages(ROOT / "mmal")}
    on_disk |= {"mmal.builtin"} | {f"mmal.builtin.{p}" for p in find_packages(ROOT / "plugins" / "builtin")}
    assert on_disk == listed, f"add to / remove from [tool.setuptools] packages: {sorted(on_disk ^ listed)}"
    assert cfg["package-dir"] == {"mmal.builtin": "plugins/builtin"}
