"""The documentation runs: every ```python block of docs/ executes, every `mmal ...` command line
parses (and its --config validates), files shown verbatim match the repository, the strategy
pages state the defaults, requirements and tasks the code has, and `mkdocs build --strict` passes.

Markers on the line just before a fence:

* ``<!-- no-test: REASON -->`` - the block is not run; the test is skipped with REASON (in its id too);
* ``<!-- file: PATH -->`` - the block must equal the repository file PATH (and still runs if python);
* ``<!-- pytest -->`` - the block is a pytest test module: its tests run with mmal's pytest fixtures.

Python blocks run in a fresh namespace with a fresh temporary directory as the working
directory, where ``benchmarks/`` links to the repository's (so paths read as from the repository
root), and with the example plugin's module ``mmal_entropy`` importable (the module file only: no
package metadata, so its entry point does not join the registries of this test process).
"""

from __future__ import annotations

import ast
import inspect
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLE_MODULE = ROOT / "plugins" / "examples" / "mmal-entropy" / "mmal_entropy.py"
MARKER = re.compile(r"^<!--\s*(no-test|file|pytest)\s*:?\s*(.*?)\s*-->$")


@dataclass(frozen=True)
class Block:
    page: str  # path relative to docs/
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    marker: str | None = None  # "no-test", "file" or "pytest"
    arg: str = ""

    @property
    def id(self) -> str:
        where = f"{self.page}:{self.line}"
        return f"{where} [no-test: {self.arg}]" if self.marker == "no-test" else where


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def parse_blocks(path: Path) -> list[Block]:
    lines = path.read_text().splitlines()
    out, i = [], 0
    while i < len(lines):
        m = re.match(r"^```(\w+)\s*$", lines[i])
        if not m:
            i += 1
            continue
        start = i
        j = i + 1
        while j < len(lines) and lines[j].rstrip() != "```":
            j += 1
        if j == len(lines):
            raise AssertionError(f"{path}:{start + 1}: unclosed code fence")
        prev = lines[start - 1].strip() if start else ""
        mk = MARKER.match(prev)
        out.append(Block(str(path.relative_to(DOCS)), start + 1, m.group(1), "\n".join(lines[start + 1 : j]) + "\n",
                         mk.group(1) if mk else None, mk.group(2) if mk else ""))
        i = j + 1
    return out


ALL_BLOCKS = [b for p in pages() for b in parse_blocks(p)]
PYTHON = [b for b in ALL_BLOCKS if b.lang == "python" and b.marker != "pytest"]
PYTEST = [b for b in ALL_BLOCKS if b.marker == "pytest"]
SHOWN_FILES = [b for b in ALL_BLOCKS if b.marker == "file"]


def test_docs_have_pages_and_examples():
    names = {str(p.relative_to(DOCS)) for p in pages()}
    for page in ("index.md", "quickstart.md", "concepts.md", "task-models.md", "datasets.md", "plugins.md", "modal.md",
                 "benchmarks.md", "errors.md"):
        assert page in names, f"docs/{page} is missing"
    assert len(PYTHON) >= 20, "the docs should show runnable examples"
    fences = [b for b in ALL_BLOCKS if b.lang not in ("python", "bash", "toml", "text", "csv", "json")]
    assert not fences, f"unexpected fence languages (use python, bash, toml, text, csv or json): {[b.id for b in fences]}"
    indented = [f"{p.relative_to(DOCS)}:{i}" for p in pages() for i, ln in enumerate(p.read_text().splitlines(), 1)
                if re.match(r"^\s+```", ln)]
    assert not indented, f"indented code fences do not render (fenced_code needs column 0): {indented}"
    skipped = [b for b in PYTHON if b.marker == "no-test"]
    assert all(b.arg for b in skipped), "every <!-- no-test: REASON --> must give its reason"
    assert len(skipped) <= 3, f"no-test is for rare cases; found {[b.id for b in skipped]}"


def example_module_dir(tmp_path: Path) -> Path:
    """A directory holding a copy of the example plugin's module and nothing else."""
    site = tmp_path / "example-site"
    site.mkdir()
    (site / EXAMPLE_MODULE.name).write_text(EXAMPLE_MODULE.read_text())
    return site


@pytest.fixture
def docs_cwd(tmp_path, monkeypatch):
    """A fresh working directory that sees benchmarks/ as the repository root does."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "benchmarks").symlink_to(ROOT / "benchmarks", target_is_directory=True)
    monkeypatch.chdir(work)
    monkeypatch.syspath_prepend(str(example_module_dir(tmp_path)))
    return work


@pytest.mark.parametrize("block", PYTHON, ids=lambda b: b.id)
def test_python_example_runs(block, docs_cwd):
    if block.marker == "no-test":
        pytest.skip(f"{block.id}: not run ({block.arg})")
    from mmal.plugins import KINDS, default

    before = {k: sorted(default().entries(k)) for k in KINDS}
    exec(compile(block.code, f"docs/{block.page}:{block.line}", "exec"), {"__name__": "__docs__"})
    after = {k: sorted(default().entries(k)) for k in KINDS}
    assert after == before, "a docs example changed the process-wide registries; use a private mmal.plugins.Plugins"


@pytest.mark.parametrize("block", PYTEST, ids=lambda b: b.id)
def test_pytest_example_passes(block, docs_cwd, mmal_check_strategy, mmal_toy_dataset):
    """A test module shown in the docs (a plugin's own tests) passes with mmal's pytest fixtures.

    The fixtures come from mmal's ``pytest11`` plugin (nothing in tests/ defines them), so this
    also checks that installing mmal registers them; ``mmal_toy_dataset`` is parametrized here
    as in a plugin's suite (classification, regression). Each ``test_*`` function of the block is
    called with the fixtures it names."""
    fixtures = {"mmal_check_strategy": mmal_check_strategy, "mmal_toy_dataset": mmal_toy_dataset}
    namespace = {"__name__": "__docs_tests__"}
    exec(compile(block.code, f"docs/{block.page}:{block.line}", "exec"), namespace)
    tests = {n: f for n, f in namespace.items() if n.startswith("test_") and callable(f)}
    assert tests, f"docs/{block.id} defines no test function"
    for name, fn in tests.items():
        wanted = list(inspect.signature(fn).parameters)
        unknown = set(wanted) - set(fixtures)
        assert not unknown, f"docs/{block.id}: {name} asks for fixtures {sorted(unknown)} that mmal does not provide"
        fn(**{p: fixtures[p] for p in wanted})


@pytest.mark.parametrize("block", SHOWN_FILES, ids=lambda b: f"{b.id} = {b.arg}")
def test_shown_file_matches_repository(block):
    path = ROOT / block.arg
    assert path.is_file(), f"docs/{block.id} shows {block.arg}, which does not exist"
    assert block.code == path.read_text(), f"docs/{block.id} no longer matches {block.arg}; copy the file into the page"


def _command_lines(block: Block) -> list[str]:
    """The logical lines of a bash block (backslash continuations joined, comments dropped)."""
    text = re.sub(r"\\\n\s*", " ", block.code)
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]


def test_cli_examples_parse_and_their_configs_validate():
    from mmal.bench.config import load_config
    from mmal.cli import build_parser

    seen = 0
    for block in (b for b in ALL_BLOCKS if b.lang == "bash"):
        for line in _command_lines(block):
            for cmd in (c.strip() for c in line.split("&&")):
                words = shlex.split(cmd, comments=True)
                if words and words[0] == "mmal":
                    seen += 1
                    try:
                        args = build_parser().parse_args(words[1:])
                    except SystemExit:
                        pytest.fail(f"docs/{block.id}: `{cmd}` is not a valid mmal command line")
                    if getattr(args, "config", None):
                        load_config(ROOT / args.config, list(args.set))
                    if getattr(args, "protocol", None):
                        load_config(protocol=args.protocol, overrides=list(args.set))
                elif words[:1] == ["python"] and len(words) > 1 and words[1].startswith("benchmarks/"):
                    assert (ROOT / words[1]).is_file(), f"docs/{block.id}: {words[1]} does not exist"
    assert seen >= 8, "the docs should show the command line"


def test_index_install_commands_are_the_readmes():
    readme = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)[:2]
    index = [b.code for b in parse_blocks(DOCS / "index.md") if b.lang == "bash"][:2]
    assert index == readme, "docs/index.md must show the README's two commands verbatim"


# ---------------------------------------------------------------- docs <-> registry
def _builtin(kind: str) -> list[str]:
    from mmal.plugins import default

    return sorted(n for n, e in default().entries(kind).items() if e.dist == "multimodal-al")


def test_every_builtin_name_is_documented():
    strategy_text = "".join(p.read_text() for p in (DOCS / "strategies").glob("*.md")) + (DOCS / "modal.md").read_text()
    where = {"strategy": strategy_text, "task_model": (DOCS / "task-models.md").read_text(),
             "dataset": (DOCS / "datasets.md").read_text()}
    for kind, text in where.items():
        missing = [n for n in _builtin(kind) if f"`{n}`" not in text]
        assert not missing, f"built-in {kind} names not documented: {missing}"


STRATEGY_PAGES = sorted(p.stem for p in (DOCS / "strategies").glob("*.md") if p.stem != "index")


def _parameter_table(text: str) -> dict[str, str]:
    """``| `name` | `default` | meaning |`` rows under the '## Parameters' heading."""
    section = text.split("## Parameters", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        m = re.match(r"^\|\s*`(\w+)`\s*\|\s*`([^`]*)`\s*\|", line)
        if m:
            rows[m.group(1)] = m.group(2)
    return rows


@pytest.mark.parametrize("name", STRATEGY_PAGES)
def test_strategy_page_states_the_codes_defaults_requirements_and_tasks(name):
    import mmal
    from mmal.model import CAPABILITIES

    text = (DOCS / "strategies" / f"{name}.md").read_text()
    strategy = mmal.strategies.get(name)
    for section in ("## Parameters", "## Choices where the paper is ambiguous", "## Example"):
        assert section in text, f"docs/strategies/{name}.md lacks the section {section!r}"
    params = {p.name: p.default for p in inspect.signature(type(strategy).__init__).parameters.values()
              if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    documented = _parameter_table(text)
    assert set(documented) == set(params), f"{name}: documented {sorted(documented)}, the code has {sorted(params)}"
    for p, shown in documented.items():
        assert ast.literal_eval(shown) == params[p], f"{name}: parameter {p} is documented as {shown}, the code has {params[p]!r}"

    requires_line = re.search(r"^- \*\*Requires:\*\*(.*)$", text, flags=re.M).group(1)
    caps = set(re.findall(r"`(\w+)`", requires_line)) & CAPABILITIES
    assert strategy.requires <= caps, f"{name}: the page's Requires line lacks {sorted(strategy.requires - caps)}"
    tasks_line = re.search(r"^- \*\*Tasks:\*\*(.*)$", text, flags=re.M).group(1)
    assert set(re.findall(r"regression|classification", tasks_line)) == set(strategy.tasks), f"{name}: Tasks line is wrong"


def test_mkdocs_build_is_strict_clean(tmp_path):
    try:
        import mkdocs  # noqa: F401
    except ImportError:
        pytest.skip("mkdocs is not installed (it comes with the dev extra: pip install -e '.[dev]'); docs build not checked")
    out = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"),
                          "--site-dir", str(tmp_path / "site")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "WARNING" not in out.stderr, out.stderr[-3000:]
    built = {p.relative_to(tmp_path / "site").as_posix() for p in (tmp_path / "site").rglob("index.html")}
    for page in pages():
        rel = page.relative_to(DOCS).with_suffix("")
        want = "index.html" if rel.as_posix() == "index" else (
            f"{rel.parent.as_posix()}/index.html" if rel.name == "index" else f"{rel.as_posix()}/index.html")
        assert want in built, f"docs/{page.relative_to(DOCS)} was not built"
