"""SciWorld's own rules: AgentGym's task indexing and first observation, the score, the expert's
plan, determinism, and the JVM's life (started lazily, shared, gone after close or exit, a dead
one loses the episode and the next reset starts afresh).

The contract every env shares (check_env, bad input, splits) is in test_envs.py. One env (one
JVM) serves most tests here: starting ScienceWorld's JVM takes seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import gymnasium as gym
import pytest

import agentgym_envs  # noqa: F401  (registers the ids)

pytest.importorskip("scienceworld", reason="SciWorld needs its engine: the sciworld extra")

from agentgym_envs.envs import sciworld  # noqa: E402
from agentgym_envs.envs.jvm import java_pids  # noqa: E402
from agentgym_envs.envs.sciworld import (  # noqa: E402
    ENGINE,
    EXCLUDED_TASKS,
    _outcome,
    prune_plan,
    shorten_gold_path,
    task_table,
)

ENV_ID = "AgentGym/SciWorld-v0"


@pytest.fixture(scope="module")
def env():
    env = gym.make(ENV_ID)
    yield env
    env.close()


def task_id_of(name: str, variation: int) -> int:
    return task_table().index((name, variation))


def pid_gone(pid: int, wait_s: float = 15.0) -> bool:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if not os.path.exists(f"/proc/{pid}") or _is_zombie(pid):
            return True
        time.sleep(0.1)
    return False


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1].startswith("Z")
    except OSError:
        return True


# ------------------------------------------------------------------------------ pure parts
def test_watching_loops_become_waits_with_the_last_reading():
    gold = ["go to kitchen", "look around", "activate stove"]
    gold += ["examine water", "use thermometer in inventory on water"] * 10
    gold += ["examine steam", "use thermometer in inventory on steam", "wait1"]
    plan = shorten_gold_path(gold)
    # 23 ticks of watching -> 3 waits (30 ticks), then the run's last reading
    assert plan == [
        "go to kitchen",
        "activate stove",
        "wait",
        "wait",
        "wait",
        "use thermometer in inventory on steam",
    ]
    exact = shorten_gold_path(gold, keep_time=True)
    assert exact[2:] == ["wait", "wait", "wait1", "wait1", "use thermometer in inventory on steam"]


def test_short_watching_runs_are_kept_without_looking_around():
    assert shorten_gold_path(["focus on cup", "look around", "wait1"]) == ["focus on cup", "wait1"]


def test_prune_drops_failed_tries_only_when_a_replay_still_scores():
    plan = ["move pot to sink", "activate sink", "deactivate sink", "pick up pot", "focus on water"]
    seen = ["You move the pot.", "The sink appears broken.", "The sink is already deactivated.", "ok", "ok"]
    assert prune_plan(plan, seen, 1.0, lambda p: (["ok"] * len(p), 1.0)) == ["focus on water"]
    assert prune_plan(plan, seen, 1.0, lambda p: (["ok"] * len(p), 0.5)) == plan


def test_score_is_a_fraction_and_a_failed_task_ends_at_zero():
    assert _outcome("ok", 0.7333, False).score == 0.73
    done = _outcome("ok", 1.0, True)
    assert done.done and done.success and done.score == 1.0
    failed = _outcome("You focus on the chair.", -1.0, True)
    assert failed.done and failed.success is False and failed.score == 0.0 and "failed" in failed.observation


# ------------------------------------------------------------------------------ on the engine
def test_task_table_is_agentgyms_order_without_the_excluded_tasks():
    table = task_table()
    assert len(table) == 4639
    assert table[:2] == (("boil", 0), ("boil", 1)) and table[30] == ("melt", 0)
    names = {name for name, _ in table}
    excluded = {sciworld.sw_constants.ID2TASK[key] for key in EXCLUDED_TASKS}
    assert not names & excluded and len(names) == 30 - len(EXCLUDED_TASKS)


def test_first_observation_is_the_task_then_look_around(env):
    obs, info = env.reset(options={"task_id": task_id_of("melt", 2)})
    task, _, room = obs.partition("\n")
    assert task.startswith("Your task is to melt") and room.startswith("This room is called")
    assert info["available_actions"] is None  # kept out of info: the search costs more than a step
    actions = env.unwrapped.available_actions()
    assert "look around" in actions and len(actions) > 20


def test_the_same_task_reads_the_same_after_other_tasks(env):
    # power-component 1 lists its workshop in a different order at each load without the
    # constant identity hash
    task_id = task_id_of("power-component", 1)
    first = env.reset(options={"task_id": task_id})[0]
    first += env.step("look around")[0]
    env.reset(options={"task_id": task_id_of("boil", 7)})
    again = env.reset(options={"task_id": task_id})[0]
    assert again + env.step("look around")[0] == first


def test_expert_finishes_a_long_gold_path_within_the_round_limit(env):
    env.reset(options={"task_id": 0})  # boil: the gold sequence is 39 steps, AgentGym allows 30
    rounds, info = 0, {}
    while True:
        _, action = env.unwrapped.expert()
        _, _, terminated, truncated, info = env.step(action)
        rounds += 1
        if terminated or truncated:
            break
    assert info["success"] and rounds <= 20


def test_focusing_on_the_wrong_object_fails_the_task(env):
    env.reset(options={"task_id": 0})
    _, reward, terminated, _, info = env.step("focus on picture")  # boil asks to focus on water
    assert terminated and info["score"] == 0.0 and not info["success"] and reward == 0.0


def test_two_envs_share_one_jvm_and_keep_their_games_apart(env):
    env.reset(options={"task_id": 5})
    other = gym.make(ENV_ID)
    other.reset(options={"task_id": 40})
    assert env.unwrapped._game.alive and other.unwrapped._game.alive  # both on the one running JVM
    mine, theirs = env.step("task")[0], other.step("task")[0]  # "task" repeats the task
    assert "boil" in mine and "melt" in theirs
    other.close()
    assert ENGINE.running  # env still uses it


def test_a_dead_jvm_loses_the_episode_and_the_next_reset_starts_a_new_one(env):
    env.reset(options={"task_id": 1})
    pid = ENGINE.pid
    os.kill(pid, signal.SIGKILL)
    assert pid_gone(pid)
    obs, reward, terminated, truncated, info = env.step("task")
    assert "lost" in obs and terminated and reward == 0.0 and not info["success"] and info["engine_lost"]
    obs, _ = env.reset(options={"task_id": 1})
    assert obs.startswith("Your task is to boil") and ENGINE.pid != pid
    assert "boil" in env.step("task")[0]


def test_close_stops_the_jvm(env):
    env.close()  # the module's env lets go of the JVM (its next reset takes it again)
    env = gym.make(ENV_ID)
    env.reset(options={"task_id": 2})
    pid = ENGINE.pid
    assert pid in java_pids(sciworld.sw_constants.JAR_PATH)
    env.close()
    assert pid_gone(pid) and not ENGINE.running


def test_no_jvm_before_the_first_reset(env):
    env.close()
    env = gym.make(ENV_ID)
    assert not ENGINE.running
    env.close()


@pytest.mark.parametrize("ending", ["exit", "kill"])
def test_the_jvm_ends_with_the_python_process(ending):
    code = textwrap.dedent(
        f"""
        import os, signal, sys, gymnasium as gym, agentgym_envs
        from agentgym_envs.envs.sciworld import ENGINE
        env = gym.make("{ENV_ID}")
        env.reset(options={{"task_id": 0}})
        print(ENGINE.pid, flush=True)
        if "{ending}" == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    pid = int(child.stdout.split()[0])
    assert pid_gone(pid), f"the JVM {pid} outlived its Python process ({ending})"
