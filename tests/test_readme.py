"""The README's commands are what CI runs, and its Python examples run."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def blocks(lang):
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_ci_runs_the_readme_setup_and_test_command():
    main_job, tests = (b.strip() for b in blocks("bash")[:2])
    setup, _, job = main_job.rpartition(" && ")
    assert job.startswith("mmal bench")
    assert tests == f"{setup} && python -m pytest -q"
    ci = (ROOT / ".ci" / "run").read_text()
    assert setup in ci.splitlines(), "the README's set-up line must appear verbatim in .ci/run"
    assert "python -m pytest -q" in ci


@pytest.mark.parametrize("code", blocks("python"), ids=lambda c: c.splitlines()[2][:40])
def test_python_examples_run(code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
