"""BabyAI family: text view, compiled high-level actions, expert, determinism.

The generic contract (check_env, bad-input fuzz, splits) is in test_envs.py."""

from __future__ import annotations

import importlib
import re
import sys

import gymnasium as gym
import numpy as np
import pytest
from helpers import solve

import agentgym_envs  # noqa: F401  (registers AgentGym/BabyAI-v0)
from agentgym_envs.envs.babyai import BabyAIEnv, BabyAIExpert, PrivilegedView
from agentgym_envs.envs.babyai.levels import LEVELS, level_of_task, make_level
from agentgym_envs.envs.babyai.view import visible_cells
from agentgym_envs.registration import install_hint

ENV_ID = "AgentGym/BabyAI-v0"
PRINTABLE = re.compile(r"^[\x20-\x7e\n\t]*$")


@pytest.fixture
def env():
    env = BabyAIEnv(split="test")
    yield env
    env.close()


def find(env: BabyAIEnv, predicate, task_ids=range(900)) -> int:
    """The first task whose start state satisfies ``predicate(env)``."""
    for task_id in task_ids:
        env.reset(options={"task_id": task_id})
        if predicate(env):
            return task_id
    raise AssertionError("no task matches")


# ---------------------------------------------------------------------- the package
def test_the_package_is_the_entry_point_and_repeats_no_registered_fact():
    assert gym.spec(ENV_ID).entry_point == "agentgym_envs.envs.babyai:BabyAIEnv"
    env = gym.make(ENV_ID)
    assert type(env.unwrapped) is BabyAIEnv
    env.close()
    # name, item prefix, max rounds and splits are read from the registration line only
    assert not {"env_name", "item_prefix", "max_rounds", "splits"} & set(vars(BabyAIEnv))


def test_a_missing_minigrid_is_one_line_naming_the_extra(monkeypatch):
    for name in [m for m in sys.modules if m.startswith("agentgym_envs.envs.babyai")]:
        monkeypatch.delitem(sys.modules, name)  # restored after the test
    monkeypatch.setitem(sys.modules, "minigrid", None)  # import minigrid now fails
    with pytest.raises(
        ModuleNotFoundError, match=r"^AgentGym/BabyAI-v0 needs .*" + re.escape(install_hint("babyai"))
    ) as error:
        importlib.import_module("agentgym_envs.envs.babyai")
    assert "\n" not in str(error.value)


class PublicOnly:
    """Hands the expert the privileged view's public members and fails on anything else."""

    def __init__(self, view: PrivilegedView):
        self.__dict__["view"] = view

    def __getattr__(self, name: str):
        assert not name.startswith("_"), f"the expert read {name}"
        return getattr(self.view, name)


def test_the_expert_reads_only_the_public_privileged_view():
    env = gym.make(ENV_ID)
    for task_id in range(90, 990, 9):  # every level, a hundred tasks
        env.reset(options={"task_id": task_id})
        expert = BabyAIExpert(PublicOnly(env.unwrapped.privileged))
        while True:
            move = expert.next_action()
            assert move == env.unwrapped.expert()
            _, _, terminated, truncated, _ = env.step(move[1])
            if terminated or truncated:
                break
    env.close()


def test_the_privileged_view_is_read_only_and_live(env):
    env.reset(options={"task_id": 0})
    view = env.privileged
    with pytest.raises(AttributeError):
        view.version = 0
    with pytest.raises(AttributeError):
        view.extra = 1
    version, cell = view.version, view.agent_cell
    env.step("turn left")
    assert view.version > version and view.agent_cell == cell == env.agent_cell
    for name, flat in view.known.position.items():  # the truth agrees with what the agent saw
        assert view.cells_of([view.known.objects[name]]) == [flat]
    assert set(view.known.position.values()) <= set(view.object_cells())


# ---------------------------------------------------------------------- levels and tasks
def test_agentgym_level_list_and_task_mapping():
    assert len(LEVELS) == len(set(LEVELS)) == 40
    assert LEVELS[0] == "BabyAI-GoToRedBallGrey-v0" and LEVELS[-1] == "BabyAI-BossLevelNoUnlock-v0"
    assert all(level in gym.registry for level in LEVELS)
    assert level_of_task(0) == ("BabyAI-GoToRedBallGrey-v0", 0)
    assert level_of_task(41) == ("BabyAI-GoToRedBall-v0", 1)
    assert level_of_task(89) == ("BabyAI-GoToDoor-v0", 2)


def test_expert_solves_the_test_split_within_agentgym_rounds():
    env = gym.make(ENV_ID, split="test")  # TimeLimit = AgentGym's 20 rounds
    task_ids = env.unwrapped.task_ids("test")
    failed = [t for t in task_ids if not solve(env, t)[0]["success"]]
    env.close()
    assert len(failed) <= 0.01 * len(task_ids), f"expert failed {failed}"


def test_expert_solves_a_sample_of_training_tasks():
    env = gym.make(ENV_ID)
    task_ids = env.unwrapped.task_ids("train")[::6]  # 150 tasks, every level several times
    failed = [t for t in task_ids if not solve(env, t)[0]["success"]]
    env.close()
    assert len(failed) <= 0.02 * len(task_ids), f"expert failed {failed}"


def test_score_is_minigrid_reward_on_success(env):
    info, _ = solve(env, 3)
    level = env.level
    assert info["success"]
    assert info["score"] == pytest.approx(1 - 0.9 * level.step_count / level.max_steps)


def test_strict_door_sequences_are_solvable():
    # minigrid fails "open X, then open Y" in OpenDoorsOrderN4Debug on the toggle that opens X;
    # the env repairs that, so the expert can solve these test tasks.
    env = gym.make(ENV_ID, split="test")
    for task_id in (15, 55):
        assert level_of_task(task_id)[0] == "BabyAI-OpenDoorsOrderN4Debug-v0"
        assert solve(env, task_id)[0]["success"]
    env.close()


# ---------------------------------------------------------------------- the text view
def test_first_observation_states_the_mission_and_the_actions(env):
    obs, info = env.reset(options={"task_id": 0})
    assert obs.startswith(f"Your goal: {env.level.mission}\n")
    assert "You are not carrying anything." in obs
    assert "Available actions: [" in obs and '"check available actions"' in obs
    assert info["available_actions"][-1] == "check available actions"
    assert "go to <color> <object> <n>" in info["instruction"] and "Action:" in info["instruction"]


def test_view_names_objects_with_distance_and_side(env):
    obs, _ = env.reset(options={"task_id": 0})
    where = (
        r"right in front of you \d+ steps away"
        r"|\d+ steps in front of you and \d+ steps to your (?:left|right)"
        r"|\d+ steps to your (?:left|right)"
    )
    sightings = re.findall(rf"There is a (\w+ \w+ \d+) (?:{where})\.", obs)
    assert sightings
    for name in sightings:
        assert name in env.known.position


def facing_a_wall(env: BabyAIEnv) -> bool:
    ahead = env.level.grid.grid[env.front_cell]
    return ahead is not None and ahead.type == "wall"


def test_view_reports_the_wall_ahead(env):
    task_id = find(env, facing_a_wall)
    obs, _ = env.reset(options={"task_id": task_id})
    assert "You are facing a wall 1 steps away." in obs


def test_view_mentions_the_carried_object(env):
    task_id = find(env, lambda e: e.level.carrying is not None)  # PutNextS7N4Carrying
    obs, _ = env.reset(options={"task_id": task_id})
    carried = env.known.name_of(env.level.carrying)
    assert f"You are carrying the {carried}." in obs
    obs, *_ = env.step("drop" if env.level.grid.grid[env.front_cell] is None else "turn left")
    if env.level.carrying is None:
        assert "You are not carrying anything." in obs


def test_objects_keep_their_numbers_for_the_whole_episode(env):
    env.reset(options={"task_id": 38})  # BossLevel: many objects of a kind
    names = {}
    for _ in range(12):
        for name, obj in env.known.objects.items():
            assert names.setdefault(name, obj) is obj
        kinds = {}
        for name in env.known.objects:
            kind, number = name.rsplit(" ", 1)
            kinds.setdefault(kind, []).append(int(number))
        assert all(sorted(n) == list(range(1, len(n) + 1)) for n in kinds.values())
        if env.step(env.expert()[1])[2]:
            break


def test_own_view_matches_minigrids_visibility_mask():
    level = make_level("BabyAI-BossLevel-v0")
    rng = np.random.default_rng(0)
    for seed in range(3):
        level.reset(seed=seed)
        for _ in range(40):
            grid, mask = level.gen_obs_grid()
            f = np.array(level.dir_vec)
            r = np.array(level.right_vec)
            top_left = np.array(level.agent_pos) + f * 6 - r * 3
            expected = set()
            for j in range(7):
                for i in range(7):
                    x, y = top_left - f * j + r * i
                    if mask[i, j] and 0 <= x < level.width and 0 <= y < level.height:
                        expected.add(int(y) * level.width + int(x))
            assert {flat for flat, _, _ in visible_cells(level)} == expected
            level.step(int(rng.choice([0, 1, 2, 2, 2, 5])))
    level.close()


def test_observations_are_printable_ascii(env):
    env.reset(options={"task_id": 39})
    for _ in range(20):
        thought, action = env.expert()
        obs, _, terminated, _, _ = env.step(action)
        assert PRINTABLE.match(obs) and PRINTABLE.match(thought)
        assert obs in env.observation_space
        if terminated:
            break


# ---------------------------------------------------------------------- compiled actions
def far_go_to(env: BabyAIEnv) -> str | None:
    """A listed 'go to' whose object is more than two steps away."""
    for action in env.available_actions():
        if action.startswith("go to ") and sum(map(abs, env.relative(env.known.position[action[6:]]))) > 2:
            return action
    return None


def test_go_to_compiles_into_several_primitive_steps(env):
    env.reset(options={"task_id": find(env, far_go_to)})
    action = far_go_to(env)
    name = action[len("go to ") :]
    before = env.level.step_count
    obs, *_ = env.step(action)
    assert env.level.step_count - before >= 2
    assert obs.startswith(f"You went to the {name}.")
    assert env.front_cell == env.known.position[name]


def test_pickup_walks_to_the_object_and_lifts_it(env):
    task_id = find(env, lambda e: any(a.startswith("pickup") for a in e.available_actions()))
    env.reset(options={"task_id": task_id})
    action = next(a for a in env.available_actions() if a.startswith("pickup"))
    name = action[len("pickup ") :]
    target = env.known.objects[name]
    before = env.level.step_count
    obs, *_ = env.step(action)
    assert env.level.carrying is target
    assert env.level.step_count - before >= 1
    assert f"You are carrying the {name}." in obs
    # 'pick up' (the mission's wording) is accepted too, and drop puts it back down
    obs, *_ = env.step("drop")
    assert env.level.carrying is None and "You dropped" in obs
    obs, *_ = env.step(f"pick up {name}")
    assert env.level.carrying is target


def test_go_through_opens_a_closed_door_and_enters_the_next_room(env):
    def closed_door_in_reach(e):
        return any(
            a.startswith("go through") and not e.known.objects[a[len("go through ") :]].is_open
            for a in e.available_actions()
        )

    task_id = find(env, closed_door_in_reach)
    env.reset(options={"task_id": task_id})
    action = next(
        a
        for a in env.available_actions()
        if a.startswith("go through") and not env.known.objects[a[len("go through ") :]].is_open
    )
    door = env.known.objects[action[len("go through ") :]]
    door_cell = env.known.position[action[len("go through ") :]]
    room_before = env.level.room_from_pos(*env.level.agent_pos)
    obs, *_ = env.step(action)
    assert door.is_open and obs.startswith("You ")
    assert env.agent_cell == door_cell or env.level.room_from_pos(*env.level.agent_pos) is not room_before


def test_agentgym_toggle_and_go_through_is_accepted(env):
    def closed_door(e):
        return next(
            (
                a
                for a in e.available_actions()
                if a.startswith("go through") and not e.known.objects[a[len("go through ") :]].is_open
            ),
            None,
        )

    env.reset(options={"task_id": find(env, closed_door)})
    colour, _, number = closed_door(env)[len("go through ") :].split()
    obs, *_ = env.step(f"toggle and go through {colour} closed door {number}")  # AgentGym's wording
    assert obs.startswith(f"You went through the {colour} door {number}") or "You stopped in" in obs


def test_drop_facing_an_object_puts_it_beside_that_object(env):
    def two_pickables(e):
        return sum(a.startswith("pickup") for a in e.available_actions()) >= 2

    env.reset(options={"task_id": find(env, two_pickables)})
    first, second = [a[len("pickup ") :] for a in env.available_actions() if a.startswith("pickup")][:2]
    env.step(f"pickup {first}")
    env.step(f"go to {second}")
    assert env.front_cell == env.known.position[second]
    obs, *_ = env.step("drop")
    assert obs.startswith(f"You dropped the {first} next to the {second}.")
    (x1, y1), (x2, y2) = (divmod(env.known.position[n], env.level.width)[::-1] for n in (first, second))
    assert abs(x1 - x2) + abs(y1 - y2) == 1


def test_every_listed_action_is_valid(env):
    for task_id in (5, 17, 25, 38, 62):
        env.reset(options={"task_id": task_id})
        for action in env.available_actions():
            env.reset(options={"task_id": task_id})
            obs, reward, *_ = env.step(action)
            assert not obs.startswith("Invalid action"), f"babyai_{task_id}: {action!r} -> {obs[:99]}"


def test_invalid_actions_are_explained_and_cost_no_moves(env):
    env.reset(options={"task_id": 0})
    steps = env.level.step_count
    cases = {
        "pickup red ball 9": "have not seen",
        "go to purple key 4": "have not seen",
        "go through green door 7": "have not seen",
        "drop": "not carrying",
        "fly to the moon": "not an action",
        "go to pink ball 1": "not an object",
        "go through grey ball 1": "not a door",
    }
    for action, reason in cases.items():
        obs, reward, terminated, truncated, info = env.step(action)
        assert obs.startswith("Invalid action:") and reason in obs, (action, obs[:200])
        assert reward == 0.0 and not terminated and not truncated
    assert env.level.step_count == steps


def test_moving_into_a_wall_is_refused(env):
    env.reset(options={"task_id": find(env, facing_a_wall)})
    steps = env.level.step_count
    obs, reward, *_ = env.step("move forward")
    assert "cannot move forward" in obs and "a wall" in obs and reward == 0.0
    assert env.level.step_count == steps


def test_check_available_actions_lists_them(env):
    env.reset(options={"task_id": 2})
    obs, reward, *_ = env.step("check available actions")
    assert obs.startswith("You can take the following actions: ") and reward == 0.0
    assert all(action in obs for action in env.available_actions())


# ---------------------------------------------------------------------- determinism, output, closing
def transcript(env: gym.Env, task_id: int) -> list:
    obs, info = env.reset(options={"task_id": task_id})
    record = [obs, info["available_actions"]]
    for _ in range(8):
        thought, action = env.unwrapped.expert()
        obs, reward, terminated, truncated, info = env.step(action)
        record.append((thought, action, obs, reward, terminated, info["score"]))
        if terminated or truncated:
            break
    return record


def test_same_task_gives_the_same_episode_in_two_envs():
    first, second = gym.make(ENV_ID), gym.make(ENV_ID)
    for task_id in (7, 38, 77, 131):
        second.reset(options={"task_id": task_id + 1})  # a different task in between
        assert transcript(first, task_id) == transcript(second, task_id)
    first.close()
    second.close()


def test_level_generation_prints_nothing(capsys):
    env = gym.make(ENV_ID)
    # GoToObjMazeS7 rejects many layouts and minigrid prints each rejection
    for task_id in range(5, 5 + 40 * 6, 40):
        env.reset(options={"task_id": task_id})
    env.close()
    assert "Sampling rejected" not in capsys.readouterr().out


def test_close_releases_the_levels():
    env = BabyAIEnv()
    env.reset(options={"task_id": 38})
    env.close()
    assert env.level is None and not env._levels
    env.close()  # twice is harmless
