"""The env contract (DESIGN.md), checked on every registered AgentGym id."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from helpers import solve

import agentgym_envs
from agentgym_envs import INFO_KEYS, env_ids, family
from agentgym_envs.data import expert_episode
from agentgym_envs.formats import format_react
from agentgym_envs.wrappers import ReActActions

EXPLAINS = re.compile(r"invalid|not |cannot|can't|unknown|no |error|over", re.IGNORECASE)
SPLIT_NAMES = ("test", "agenttraj", "agenttraj_l", "train")

# Every registered id, read at collection time: a new family's registration line is all it
# takes for these tests to run on it (tests/test_registration.py proves that with a dummy family).
ALL_IDS = env_ids()


def make(env_id: str, **kwargs) -> gym.Env:
    return gym.make(env_id, **kwargs)


@pytest.fixture(params=ALL_IDS)
def env_id(request) -> str:
    problem = family(request.param).missing_engine()
    if problem:  # as minigrid's tests do: an optional engine that is absent skips, naming its extra
        pytest.skip(problem)
    return request.param


def test_check_env_passes(env_id):
    env = make(env_id, render_mode="ansi")
    check_env(env.unwrapped)
    env.close()


def test_registration_is_the_one_source_of_the_family_facts(env_id):
    env = make(env_id)
    fam = family(env_id)
    cls = type(env.unwrapped)
    assert env.spec.max_episode_steps == fam.max_rounds == cls.max_rounds
    assert env.spec.reward_threshold == fam.keep_threshold
    assert (cls.env_name, cls.item_prefix, cls.splits) == (fam.name, fam.item_prefix, fam.splits)
    assert env.spec.entry_point == fam.entry_point
    env.close()


def test_splits_are_sized_by_the_registration_and_disjoint(env_id):
    fam = family(env_id)
    cls = type(make(env_id).unwrapped)
    test, agenttraj, agenttraj_l, train = (set(cls.task_ids(s)) for s in SPLIT_NAMES)
    assert [len(cls.task_ids(s)) for s in SPLIT_NAMES] == [len(fam.splits.ids(s)) for s in SPLIT_NAMES]
    assert test and agenttraj <= agenttraj_l <= train
    assert not test & train
    assert cls.task_ids("eval") == cls.task_ids("test")


def test_reset_returns_contract_info(env_id):
    env = make(env_id, split="test")
    obs, info = env.reset(seed=3)
    assert obs in env.observation_space and obs.strip()
    assert set(INFO_KEYS) <= set(info)
    assert info["task_id"] in env.unwrapped.task_ids("test")
    assert info["item_id"] == f"{family(env_id).item_prefix}_{info['task_id']}"
    assert isinstance(info["instruction"], str) and "Action:" in info["instruction"]
    assert info["available_actions"] is None or all(isinstance(a, str) for a in info["available_actions"])
    assert info["success"] is False and info["score"] == 0.0
    assert info["subtask"] is None or (isinstance(info["subtask"], str) and info["subtask"].strip())
    env.close()


# The families with subtasks: what a few task ids' subtask must be (a value, or a test of it).
ALFWORLD_TYPES = {
    "pick_and_place_simple",
    "look_at_obj_in_light",
    "pick_clean_then_place_in_recep",
    "pick_heat_then_place_in_recep",
    "pick_cool_then_place_in_recep",
    "pick_two_obj_and_place",
}
SUBTASKS = {
    "AgentGym/BabyAI-v0": {0: "GoToRedBallGrey", 1: "GoToRedBall", 41: "GoToRedBall", 23: "Unlock"},
    "AgentGym/TextCraft-v0": {i: lambda s, env: s == f"depth {env.unwrapped.goal.depth}" for i in (0, 1, 50)},
    "AgentGym/SciWorld-v0": {0: "boil", 1: "boil"},
    "AgentGym/ALFWorld-v0": {i: lambda s, env: s in ALFWORLD_TYPES for i in (0, 1, 2)},
    "AgentGym/WebArena-v0": {i: lambda s, env: s in {"shopping", "reddit", "gitlab"} for i in (0, 1, 2)},
    "AgentGym/TextWorld-v0": {0: "cooking", 1: "coin_collector", 2: "treasure_hunter"},
    # AgentGym's data source of the item id
    "AgentGym/SearchQA-v0": {0: "nq", 29190: "hotpotqa", 51588: "bamboogle", 51713: "nq", 130881: "hotpotqa"},
}


def test_subtask_names_the_kind_of_task_where_the_env_has_kinds(env_id):
    env = make(env_id)
    expected = SUBTASKS.get(env_id)
    for task_id, want in (expected or {0: None, 1: None}).items():
        _, info = env.reset(options={"task_id": task_id})
        assert want(info["subtask"], env) if callable(want) else info["subtask"] == want, (task_id, info)
        _, _, _, _, info = env.step("look")  # every step's info says it too
        assert info["subtask"] == env.unwrapped.subtask()
    env.close()


def test_seeded_reset_draws_from_the_split(env_id):
    env = make(env_id, split="train")  # every family has an instruction set (AgentTraj may be empty)
    drawn = {env.reset(seed=seed)[1]["task_id"] for seed in range(20)}
    assert drawn <= set(env.unwrapped.task_ids("train"))
    assert len(drawn) > 1
    env.close()


def test_task_id_out_of_range_is_a_clear_error(env_id):
    env = make(env_id)
    with pytest.raises(ValueError, match="task ids"):
        env.reset(options={"task_id": 10**9})
    env.close()


def _play(env: gym.Env, task_id: int, actions: list[str]) -> list[tuple]:
    obs, info = env.reset(options={"task_id": task_id})
    transcript = [(obs, info["score"])]
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        transcript.append((obs, reward, terminated, truncated, info["score"], info["success"]))
    return transcript


def test_same_task_id_gives_the_same_episode(env_id):
    first, second = make(env_id), make(env_id)
    task_id = first.unwrapped.task_ids("test")[1]
    first.reset(options={"task_id": task_id})
    actions = []
    for _ in range(4):  # a few expert moves, then junk: both must replay identically
        _, action = first.unwrapped.expert()
        actions.append(action)
        if first.step(action)[2]:
            break
    actions += ["look around", "zzz"]
    assert _play(make(env_id), task_id, actions) == _play(second, task_id, actions)
    first.close()
    second.close()


# AgentTraj is the expert's episodes, so the expert must play a task alike every time (TWX's Coin
# and TWC experts once walked at random from the clock). Two test tasks each, by position in the
# test split: the first two, or where the expert is slow two short ones. SciWorld's two (sciworld_1449
# and sciworld_2400) search the house, and each one's gold path once changed when the other's was
# made first in the JVM (ScienceWorld's route cache, see sciworld._forget_search_routes).
EXPERT_TASK_POSITIONS = {"SciWorld": (62, 103)}
# Plays each env's expert tasks once, in the order given, and writes {env id: [AgentTraj record, ...]}
# to a file (the engines print to stdout).
EXPERT_IN_A_CHILD = """
import json, sys
import gymnasium as gym
from agentgym_envs.data import expert_episode
episodes = {}
for env_id, task_ids in json.loads(sys.argv[1]).items():
    env = gym.make(env_id)
    episodes[env_id] = [expert_episode(env, task_id) for task_id in task_ids]
    env.close()
with open(sys.argv[2], "w") as answer:
    json.dump(episodes, answer)
"""


def expert_task_ids(env_id: str) -> list[int]:
    test_ids = family(env_id).splits.ids("test")
    return [test_ids[position] for position in EXPERT_TASK_POSITIONS.get(family(env_id).name, (0, 1))]


@pytest.fixture(scope="module")
def expert_episodes_in_a_child(request, tmp_path_factory) -> dict[str, list[dict]]:
    """The expert's records on each selected env's tasks, played once in a fresh Python process:
    engines with randomness or caches of their own start afresh there (SciWorld's JVM, TextWorld's
    and ALFWorld's games, tantivy's indexes), and another string-hash seed reorders every set."""
    selected = {
        item.callspec.params["env_id"]
        for item in request.session.items
        if item.originalname == "test_expert_plays_a_task_alike_in_every_reset_env_and_process"
    }
    # The second task first: a plan that depends on the plans made before it in the process shows.
    # TWX's games are left to tests/test_twx.py, which plays each of them in another process already.
    installed = [env_id for env_id in ALL_IDS if env_id in selected and not family(env_id).missing_engine()]
    tasks = {env_id: expert_task_ids(env_id)[::-1] for env_id in installed if "/TWX-" not in env_id}
    hash_seed = "2" if os.environ.get("PYTHONHASHSEED") == "1" else "1"
    answer = tmp_path_factory.mktemp("expert") / "episodes.json"
    done = subprocess.run(
        [sys.executable, "-c", EXPERT_IN_A_CHILD, json.dumps(tasks), str(answer)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONHASHSEED": hash_seed},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(answer.read_text())


def test_expert_plays_a_task_alike_in_every_reset_env_and_process(env_id, expert_episodes_in_a_child):
    """The expert's AgentTraj record (its moves, what it saw, the reward) for a task is the same
    after another task in the same env, in a fresh env, and in another process."""
    first_task, second_task = expert_task_ids(env_id)
    env, fresh = make(env_id), make(env_id)
    first, second = expert_episode(env, first_task), expert_episode(env, second_task)
    assert expert_episode(env, first_task) == first, "a second reset, another task between, played otherwise"
    assert expert_episode(fresh, first_task) == first, "a fresh env played otherwise"
    env.close()
    fresh.close()
    if env_id in expert_episodes_in_a_child:  # all but TWX's (see the fixture)
        assert expert_episodes_in_a_child[env_id] == [second, first], "another process played otherwise"


BAD_ACTIONS = [
    "",
    "   ",
    "x" * 10_000,
    "é 漢字 🙂 \u0000 \x1b[31m",
    "do a barrel roll",
    "go to go to go to",
    "craft using using",
    "move",
    "12345",
    "!!!",
]


def _random_strings(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    alphabet = "abcdefghijklmnopqrstuvwxyz 0123456789[](),.:;'\"-_\n\t"
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 60))) for _ in range(count)]


def test_bad_input_never_raises_and_is_explained(env_id):
    env = make(env_id)
    env.reset(options={"task_id": env.unwrapped.task_ids("test")[0]})
    for action in BAD_ACTIONS + _random_strings(30, seed=1):
        if env.unwrapped.done:
            env.reset(options={"task_id": env.unwrapped.task_ids("test")[0]})
        obs, reward, terminated, truncated, info = env.step(action)
        assert obs in env.observation_space
        assert isinstance(reward, float) and 0.0 <= info["score"] <= 1.0
        if action in BAD_ACTIONS:
            assert reward == 0.0
            assert EXPLAINS.search(obs), f"{action[:30]!r} -> {obs[:200]!r}"
    env.close()


def test_non_string_actions_are_explained(env_id):
    env = make(env_id).unwrapped
    env.reset(options={"task_id": env.task_ids("test")[0]})
    for action in (None, 3, ["move up"], b"\xff\xfe"):
        obs, reward, terminated, _, _ = env.step(action)
        assert obs in env.observation_space and reward == 0.0 and not terminated


def test_actions_after_the_episode_ended_are_explained(env_id):
    env = make(env_id).unwrapped  # no TimeLimit: play the expert to the end
    env.reset(options={"task_id": env.task_ids("test")[0]})
    for _ in range(200):
        _, _, terminated, _, info = env.step(env.expert()[1])
        if terminated:
            break
    assert terminated and info["success"]
    score = info["score"]
    obs, reward, terminated, truncated, info = env.step("look")
    assert reward == 0.0 and terminated and "over" in obs and info["score"] == score


def test_rewards_sum_to_the_final_score(env_id):
    env = make(env_id)
    env.reset(options={"task_id": env.unwrapped.task_ids("test")[2]})
    total, done = 0.0, False
    while not done:
        _, reward, terminated, truncated, info = env.step(env.unwrapped.expert()[1])
        total += reward
        done = terminated or truncated
    assert total == pytest.approx(info["score"])
    assert 0.0 <= info["score"] <= 1.0
    assert info["success"] == (info["score"] >= 1.0) or family(env_id).name == "BabyAI"


def test_expert_solves_the_first_test_tasks(env_id):
    """At least the share of tasks the registration says the expert solves (1.0 for most; an
    expert that follows a gold path longer than AgentGym's round limit cannot do better)."""
    env = make(env_id, split="test")
    outcomes = {}
    for task_id in env.unwrapped.task_ids("test")[:5]:
        info, _ = solve(env, task_id)
        outcomes[info["item_id"]] = info["success"]
    env.close()
    floor = family(env_id).expert_solves
    assert sum(outcomes.values()) >= floor * len(outcomes), f"expert failed: {outcomes}"


def test_render_ansi_returns_the_current_text(env_id):
    env = make(env_id, render_mode="ansi")
    obs, _ = env.reset(seed=0)
    assert env.render() == obs
    obs, *_ = env.step("nonsense action")
    assert env.render() == obs
    env.close()
    env.close()  # closing twice is harmless


def test_react_wrapper_parses_replies_and_explains_malformed_ones(env_id):
    env = ReActActions(make(env_id))
    env.reset(options={"task_id": env.unwrapped.task_ids("test")[0]})
    obs, reward, terminated, _, _ = env.step("I think I will move somewhere")
    assert "Invalid response format" in obs and "Action:" in obs and reward == 0.0 and not terminated
    thought, action = env.unwrapped.expert()
    plain = make(env_id)
    plain.reset(options={"task_id": env.unwrapped.task_ids("test")[0]})
    assert env.step(format_react(thought, action))[0] == plain.step(action)[0]


def test_malformed_replies_use_up_rounds(env_id):
    env = ReActActions(make(env_id))
    env.reset(seed=0)
    limit = env.spec.max_episode_steps
    for _ in range(limit - 1):
        assert not env.step("no action here")[3]
    assert env.step("no action here")[3]  # truncated at AgentGym's max rounds


def test_make_with_module_prefix_needs_no_import():
    code = (
        "import gymnasium as gym; e = gym.make('agentgym_envs:AgentGym/Maze-v0'); "
        "print(e.reset(seed=0)[1]['item_id'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("lmrlgym_maze_")


def test_vector_env_runs_text_observations():
    envs = gym.vector.SyncVectorEnv([lambda: make("AgentGym/Maze-v0", split="test")] * 2)
    obs, info = envs.reset(seed=[0, 1])
    assert all(isinstance(o, str) and "goal" in o for o in obs)
    obs, reward, *_ = envs.step(np.array(["move up", "move left"], dtype=object))
    assert len(obs) == 2 and reward.shape == (2,)
    envs.close()


def test_package_exposes_version():
    assert agentgym_envs.__version__
