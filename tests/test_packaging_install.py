"""The built distribution as a new user gets it (issue 18's "done when").

Builds the sdist and, from it, the wheel; checks their files and metadata; installs torch
2.13.0 and then the wheel (core dependencies only, no extras) into a fresh virtual
environment and, from a directory outside the repository, runs ``mmal list``, ``mmal bench``,
a named protocol in a reduced form, the listing of the protocols, the missing-extra messages,
and ``pip install`` of the example plugin, whose ``multimodal-al`` dependency must resolve to
the installed wheel. pip may reach the package index; its cache is reused.
"""

from __future__ import annotations

import email
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
NAME, VERSION = PYPROJECT["project"]["name"], PYPROJECT["project"]["version"]
STEM = f"{NAME.replace('-', '_')}-{VERSION}"
# what the tests read besides the package: the sdist must carry it
TEST_INPUTS = ("tests", "docs", "benchmarks", "plugins", "mmal", ".ci", "README.md", "LICENSE", "mkdocs.yml", "pyproject.toml")
JUNK = ("__pycache__", ".pyc", ".egg-info", "/build/", "/dist/", ".pytest_cache", ".hypothesis")
TIMEOUT = 1200  # seconds per command: generous, the machine may be shared


def run(cmd, cwd, env=None, check=True):
    out = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    if check and out.returncode != 0:
        pytest.fail(f"{' '.join(map(str, cmd))} exited {out.returncode}\nstdout:\n{out.stdout[-3000:]}\nstderr:\n{out.stderr[-3000:]}")
    return out


def source_files() -> set[str]:
    """The repository's files under TEST_INPUTS (git's view where this is a checkout)."""
    if (ROOT / ".git").exists() and shutil.which("git"):
        listed = run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], ROOT).stdout.split("\n")
        files = {f for f in listed if f and (ROOT / f).is_file()}
    else:  # an unpacked sdist
        files = {str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.is_file()}
    keep = {f for f in files if f.split("/")[0] in TEST_INPUTS}
    return {f for f in keep if not any(j in f"/{f}" for j in JUNK) and not f.startswith("runs/")}


@pytest.fixture(scope="module")
def dists(tmp_path_factory):
    """(wheel, sdist): the sdist built from a clean copy of the sources, the wheel from the sdist."""
    try:
        import build  # noqa: F401
    except ImportError:
        print("SKIP reason: the 'build' package is missing (it comes with pip install -e '.[dev]')")
        pytest.skip("python -m build is not installed (pip install -e '.[dev]')")
    tmp = tmp_path_factory.mktemp("dist")
    src = tmp / "src"
    for f in source_files() | {"MANIFEST.in"}:
        (src / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, src / f)
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", tmp / "out", src], tmp)
    wheel, = (tmp / "out").glob("*.whl")
    sdist, = (tmp / "out").glob("*.tar.gz")
    return wheel, sdist


def test_wheel_files_and_metadata(dists):
    wheel, _ = dists
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        meta = email.message_from_string(z.read(f"{STEM}.dist-info/METADATA").decode())
        entry_points = z.read(f"{STEM}.dist-info/entry_points.txt").decode()
        license_text = z.read(f"{STEM}.dist-info/licenses/LICENSE").decode()
    assert {n.split("/")[0] for n in names} == {"mmal", f"{STEM}.dist-info"}, "a stray top-level package"
    assert license_text == (ROOT / "LICENSE").read_text() and "MIT License" in license_text
    # every file of the package, built-in plugins and data (protocols, vendored data) included
    shipped = {f"mmal/{p.relative_to(ROOT / 'mmal')}" for p in (ROOT / "mmal").rglob("*") if p.is_file()}
    shipped |= {f"mmal/builtin/{p.relative_to(ROOT / 'plugins' / 'builtin')}" for p in (ROOT / "plugins" / "builtin").rglob("*")
                if p.is_file()}
    shipped = {f for f in shipped if "__pycache__" not in f and not f.endswith(".pyc")}
    assert shipped - names == set(), f"files missing from the wheel: {sorted(shipped - names)}"
    assert len([n for n in names if n.startswith("mmal/protocols/") and n.endswith(".toml")]) >= 11
    # entry points: the command, the pytest plugin, every built-in plugin of pyproject.toml
    assert "mmal = mmal.cli:main" in entry_points and "mmal = mmal.pytest_plugin" in entry_points
    for name, target in PYPROJECT["project"]["entry-points"]["mmal"].items():
        assert f"{name} = {target}" in entry_points
    assert meta["Name"] == NAME and meta["Version"] == VERSION and meta["License-Expression"] == "MIT"
    assert meta["Requires-Python"] == ">=3.11" and meta["Author"] and meta["Keywords"]
    assert len(meta.get_all("Classifier")) >= 5 and len(meta.get_all("Project-URL")) >= 3
    core = [r for r in meta.get_all("Requires-Dist") if "extra ==" not in r]
    assert not [r for r in core if r.split(">")[0].split("<")[0].lower() in ("transformers", "modal-python", "ray", "faiss-cpu")]
    extras = set(meta.get_all("Provides-Extra"))
    assert {"text", "modal", "ray", "faiss", "gpu", "bench", "docs", "dev"} <= extras


def test_sdist_carries_what_the_tests_need(dists, tmp_path):
    _, sdist = dists
    with tarfile.open(sdist) as t:
        members = {m.name.split("/", 1)[1] for m in t.getmembers() if m.isfile() and "/" in m.name}
        t.extractall(tmp_path, filter="data")
    missing = source_files() - members
    assert not missing, f"files missing from the sdist (add them to MANIFEST.in): {sorted(missing)}"
    # a few tests that read the repository's files, run from the unpacked sdist
    unpacked = tmp_path / STEM
    out = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_packaging.py",
               "tests/test_readme.py::test_ci_runs_the_readme_setup_and_test_command", "tests/bench/test_config.py"],
              unpacked, check=False)
    assert out.returncode == 0, out.stdout[-3000:]


@pytest.fixture(scope="module")
def venv(dists, tmp_path_factory):
    """A fresh virtual environment: torch 2.13.0 first, then the wheel (no extras)."""
    wheel, _ = dists
    tmp = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", tmp / "v"], tmp)
    py = tmp / "v" / "bin" / "python"
    run([py, "-m", "pip", "install", "-q", "torch==2.13.0"], tmp)
    run([py, "-m", "pip", "install", "-q", wheel], tmp)
    return py


@pytest.fixture()
def outside(tmp_path, venv):
    """(run in the fresh venv, from a directory outside the repository)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(PATH=f"{venv.parent}{os.pathsep}{env.get('PATH', '')}", HF_HUB_OFFLINE="1", MPLBACKEND="Agg",
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    assert ROOT not in tmp_path.parents

    def go(*args, check=True):
        return run(args, tmp_path, env, check)

    return go, tmp_path


def test_installed_wheel_lists_benches_and_runs_a_protocol(venv, outside):
    go, here = outside
    bin_ = venv.parent
    installed = go(venv, "-c", "import mmal, sys; print(mmal.__file__)").stdout.strip()
    assert installed.startswith(str(venv.parent.parent)), f"mmal imported from {installed}, not the fresh venv"
    pkgs = {p["name"].lower() for p in json.loads(go(venv, "-m", "pip", "list", "--format", "json").stdout)}
    assert NAME in pkgs and not pkgs & {"transformers", "modal-python", "ray", "faiss-cpu"}, "the core pulled an extra"

    listing = json.loads(go(bin_ / "mmal", "list", "--json").stdout)
    assert {"grace", "bmmal", "badge", "coreset", "random"} <= {e["name"] for e in listing["strategy"]}
    assert {e["dist"] for e in listing["strategy"]} == {NAME}

    go(bin_ / "mmal", "bench", "--seeds", "0", "--rounds", "1", "--out", here / "default")
    rows = [json.loads(x) for x in (here / "default" / "results.jsonl").read_text().splitlines()]
    assert rows and all(r["status"] == "ok" for r in rows)
    assert {r["plugins"]["strategy"]["dist"] for r in rows} == {NAME}
    assert {r["plugins"]["strategy"]["version"] for r in rows} == {VERSION}
    assert (here / "default" / "report" / "report.md").is_file()

    names = go(venv, "-c", "import mmal.protocols as p; print(' '.join(p.names()))").stdout.split()
    assert "simsv2-regression" in names and len(names) >= 11
    # every named protocol loads and names only registered plugins, from the installed files
    # every protocol pre-flights on the core install, except those with modal-* strategies: they name the extra
    out = go(venv, "-c", "import mmal.protocols as p; from mmal.bench import load_config; from mmal.bench.grid import "
             "preflight\nfor n in p.names():\n    try: preflight(load_config(protocol=n))\n"
             "    except Exception as e: print(n, '|', str(e).replace(chr(10), ' '))")
    refused = dict(line.split(" | ", 1) for line in out.stdout.splitlines())
    assert sorted(refused) == ["uci-mfeat"], out.stdout
    assert "pip install 'multimodal-al[modal]'" in refused["uci-mfeat"]
    path = Path(go(bin_ / "mmal", "protocols", "--path", "simsv2-regression").stdout.strip())
    assert path.is_file() and venv.parent.parent in path.parents
    shown = go(bin_ / "mmal", "protocols").stdout
    assert all(f"{n}:" in shown for n in names) and shown.count("reproduces:") == len(names)

    go(bin_ / "mmal", "bench", "--protocol", "simsv2-regression", "--size", "tiny", "--seeds", "0", "--rounds", "1",
       "--init", "20", "--budget", "10", "--strategies", "grace,random", "--out", here / "protocol")
    rows = [json.loads(x) for x in (here / "protocol" / "results.jsonl").read_text().splitlines()]
    assert {r["strategy"] for r in rows} == {"grace", "random", "full-data"} and all(r["status"] == "ok" for r in rows)
    assert {r["dataset_name"] for r in rows} == {"simsv2-synthetic"}


def test_core_install_names_the_missing_extras(venv, outside):
    go, here = outside
    bin_ = venv.parent
    out = go(bin_ / "mmal", "bench", "--strategies", "modal-entropy", "--dataset", "toy", "--seeds", "0", "--rounds", "1",
             "--no-report", "--out", here / "m", check=False)
    # the pre-flight meets the missing extra before anything is built or trained
    assert out.returncode == 2 and "pip install 'multimodal-al[modal]'" in out.stderr, out.stderr
    assert not (here / "m" / "results.jsonl").exists()
    (here / "bert").mkdir()
    (here / "bert" / "config.json").write_text("{}")
    out = go(venv, "-c", "from mmal.nn.text import BertFeatureExtractor; BertFeatureExtractor('bert')", check=False)
    assert "pip install 'multimodal-al[text]'" in out.stderr
    out = go(venv, "-W", "always", "-c", "from mmal.kernels import backend as b; print(b.resolve('auto'), b.resolve()); "
             "b.resolve('faiss')", check=False)
    assert out.stdout.split() == ["torch", "torch"] and out.stderr.count("pip install 'multimodal-al[faiss]'") == 2
    out = go(bin_ / "mmal", "bench", "--executor", "ray", "--dataset", "toy", "--strategies", "random", "--seeds", "0",
             "--rounds", "1", "--out", here / "r", check=False)
    assert out.returncode == 2 and "pip install 'multimodal-al[ray]'" in out.stderr


def test_example_plugin_installs_against_the_wheel(venv, outside, tmp_path):
    go, here = outside
    src = tmp_path / "mmal-entropy"
    shutil.copytree(ROOT / "plugins" / "examples" / "mmal-entropy", src)
    out = go(venv, "-m", "pip", "install", src)
    assert f"Requirement already satisfied: {NAME}" in out.stdout, out.stdout[-2000:]
    go(venv, "-m", "pip", "check")
    requires = go(venv, "-c", "from importlib import metadata; print(metadata.requires('mmal-entropy'))").stdout
    assert NAME in requires
    listing = json.loads(go(venv.parent / "mmal", "list", "--json").stdout)
    entry = {e["name"]: e for e in listing["strategy"]}["entropy"]
    assert entry["dist"] == "mmal-entropy" and entry["version"] == "0.1.0"
