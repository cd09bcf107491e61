"""The registry is the one source of every family fact, and a new family needs nothing else."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import pytest

from agentgym_envs import (
    env_id,
    env_ids,
    family,
    install_hint,
    missing_engine,
    parse_item_id,
    resolve_env_id,
    short_name,
)
from agentgym_envs.envs.maze import MazeEnv
from agentgym_envs.registration import env_table_markdown, register_family, unregister_family

TESTS = Path(__file__).parent
README = TESTS.parent / "README.md"


def _run_contract_tests_on_the_dummy_families() -> str:
    """The shared contract tests, run in a fresh interpreter with the dummy families plugged in."""
    env = {**os.environ, "PYTHONPATH": f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    command = [sys.executable, "-m", "pytest", str(TESTS / "test_envs.py"), "-p", "dummy_family"]
    command += ["-rfs", "-p", "no:cacheprovider", "-k", "Dummy", "-W", "ignore"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=TESTS.parent, timeout=300)
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def dummy_run() -> str:
    return _run_contract_tests_on_the_dummy_families()


def test_a_new_family_is_one_module_and_one_registration_line(dummy_run):
    summary = [line for line in dummy_run.splitlines() if re.search(r"\d+ (passed|failed)", line)][-1]
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|skipped)", summary)}
    parametrised = len(re.findall(r"^def test_\w+\(env_id\)", (TESTS / "test_envs.py").read_text(), re.M))
    # DummyCoin passes every shared test; DummyBrokenCoin (raises on bad input) fails some;
    # DummyPhantom (its engine is missing) skips all.
    assert counts.get("passed", 0) + counts.get("failed", 0) == 2 * parametrised, dummy_run[-3000:]
    assert counts.get("skipped", 0) == parametrised, dummy_run[-3000:]
    failed = set(re.findall(r"FAILED \S+::(test_\w+)\[AgentGym/(\w+)-v0\]", dummy_run))
    assert failed and {name for _, name in failed} == {"DummyBrokenCoin"}, dummy_run[-3000:]
    assert ("test_bad_input_never_raises_and_is_explained", "DummyBrokenCoin") in failed


def test_a_family_without_its_engine_is_skipped_naming_the_extra(dummy_run):
    reasons = re.findall(r"SKIPPED \[\d+\] .*?: (.*)", dummy_run)
    assert reasons and all(install_hint("phantom") in reason for reason in reasons), dummy_run[-3000:]


class ScratchEnv(MazeEnv):
    """A temporary family's class (its own entry point, so Maze's stays Maze's)."""


def test_registration_sets_gymnasium_spec_and_family_facts():
    fam = register_family(
        "Scratch", f"{__name__}:ScratchEnv", item_prefix="scratch", max_rounds=7,
        sizes=(2, 3, 4, 5), keep_threshold=0.5, reset_field="game",
    )  # fmt: skip
    try:
        spec = gym.spec("AgentGym/Scratch-v0")
        assert (spec.max_episode_steps, spec.reward_threshold) == (7, 0.5)
        assert family("scratch") is fam and fam.env_id in env_ids()
        assert [len(fam.splits.ids(s)) for s in ("test", "agenttraj", "agenttraj_l", "train")] == [2, 3, 4, 5]
        env = gym.make("AgentGym/Scratch-v0")
        assert env.unwrapped.item_prefix == "scratch" and env.unwrapped.max_rounds == 7
        assert MazeEnv.item_prefix == "lmrlgym_maze"  # the base class keeps its own family
    finally:
        unregister_family("Scratch")
    assert "AgentGym/Scratch-v0" not in gym.registry


def test_spread_splits_cover_every_kind_of_task():
    fam = register_family(
        "Spread", f"{__name__}:ScratchEnv", item_prefix="spread", max_rounds=7,
        sizes=(10, 20, 30, 40), total=100,
    )  # fmt: skip
    try:
        splits = fam.splits
        assert (
            splits.total == 100 and len(set(splits.test)) == 10 and not set(splits.test) & set(splits.train)
        )
        assert set(splits.agenttraj) <= set(splits.agenttraj_l) <= set(splits.train)
        for ids in (splits.test, splits.agenttraj, splits.train):  # every tenth of the ids is present
            assert {i // 10 for i in ids} == set(range(10))
        env = gym.make("AgentGym/Spread-v0")
        assert env.reset(options={"task_id": 99})[1]["task_id"] == 99  # every id is playable
    finally:
        unregister_family("Spread")


def test_heldout_ids_follow_the_instruction_set_and_are_unseen_mazes():
    fam = register_family(
        "Held", f"{__name__}:ScratchEnv", item_prefix="held", max_rounds=7, sizes=(2, 3, 4, 5), heldout=6,
    )  # fmt: skip
    try:
        splits = fam.splits
        assert list(splits.heldout) == list(range(7, 13)) and splits.total == 13
        assert not set(splits.heldout) & (set(splits.test) | set(splits.train))
        assert gym.make("AgentGym/Held-v0").reset(options={"task_id": 12})[1]["task_id"] == 12
    finally:
        unregister_family("Held")
    with pytest.raises(ValueError, match="heldout"):
        register_family("Bad", f"{__name__}:ScratchEnv", item_prefix="bad", max_rounds=7,
                        sizes=(2, 3, 4, 5), total=20, heldout=3)  # fmt: skip
    assert family("maze").splits.ids("heldout") == MazeEnv.splits.heldout and len(MazeEnv.splits.heldout)

    from agentgym_envs.envs.maze import maze_for_task

    seen = {maze_for_task(i).layout() for i in (*MazeEnv.splits.test, *MazeEnv.splits.train)}
    heldout = [maze_for_task(i).layout() for i in MazeEnv.splits.heldout[:300]]
    assert not seen & set(heldout) and len(set(heldout)) == len(heldout)


def test_engine_and_extra_come_together():
    with pytest.raises(ValueError, match="both"):
        register_family("Half", "x:Y", item_prefix="half", max_rounds=1, sizes=(1, 1, 1, 1), engine="x")


@pytest.mark.parametrize(
    "name", ["maze", "Maze", "MAZE", "AgentGym/Maze-v0", "agentgym_envs:AgentGym/Maze-v0"]
)
def test_names_resolve_to_one_id(name):
    assert resolve_env_id(name) == "AgentGym/Maze-v0"
    assert short_name(resolve_env_id(name)) == "Maze" and env_id("Maze") == "AgentGym/Maze-v0"


def test_unknown_names_and_item_ids_are_clear_errors():
    with pytest.raises(ValueError, match="unknown env 'mazes'.*Maze"):
        resolve_env_id("mazes")
    with pytest.raises(ValueError, match="names no known env"):
        parse_item_id("nothing_12")
    assert parse_item_id("lmrlgym_maze_12") == ("AgentGym/Maze-v0", 12)


def test_one_way_to_name_an_extra():
    assert install_hint("babyai") == "pip install 'agentgym-gymnasium[babyai]'"
    assert missing_engine("maze") is None  # Maze needs nothing beyond the core install


def test_readme_env_table_is_the_registry_table():
    table = env_table_markdown()
    assert table in README.read_text(), "README's env table is stale: paste `agentgym list --markdown`"
    for registered in env_ids():
        assert f"`{registered}`" in table


def package_imports(package: Path) -> dict[str, set[str]]:
    """Module -> the modules it imports, as written in the source: at the top and inside functions
    (a deferred import still closes a loop), leaving out ``if TYPE_CHECKING:`` blocks."""
    root = package.parent
    modules = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path

    def owner(name: str) -> str | None:  # the module a dotted name lives in
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for name, path in modules.items():
        package_name = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        pending = list(ast.parse(path.read_text(encoding="utf-8")).body)
        while pending:
            node = pending.pop()
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package_name.split(".")[: len(package_name.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                # ``from package import module`` imports that module; ``from module import name``, the module
                targets |= {f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names}
            else:
                pending.extend(ast.iter_child_nodes(node))
        graph[name] = targets
    return {name: {owner(t) or t for t in targets} - {name} for name, targets in graph.items()}


def test_the_env_package_has_no_import_cycle_and_never_imports_the_trainers():
    graph = package_imports(TESTS.parent / "agentgym_envs")
    assert not {t for targets in graph.values() for t in targets if t.split(".")[0] == "agentgym_rl"}
    inside = {name: {t for t in targets if t in graph} for name, targets in graph.items()}
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            pytest.fail("import cycle: " + " -> ".join(path[path.index(name) :] + [name]))
        if name not in done:
            for target in sorted(inside[name]):
                visit(target, path + [name])
            done.add(name)

    for name in sorted(inside):
        visit(name, [])
    assert "agentgym_envs.splits" in inside["agentgym_envs.registration"]  # TaskSplits' own module
