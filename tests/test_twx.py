"""TextWorld-Express's own rules: the eight ids, task ids as the engine's fold seeds, the first
observation, the valid actions, the gold-path expert (which solves, and plays the same moves for a
task in every reset and every process), and one shared JVM that close() stops.

The contract every env shares (check_env, bad input, splits) is in test_envs.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import gymnasium as gym
import pytest

import agentgym_envs  # noqa: F401  (registers the ids)
from agentgym_envs import family
from agentgym_envs.registration import FAMILIES

pytest.importorskip("textworld_express", reason="TWX needs its engine: the twx extra")

from agentgym_envs.envs import twx  # noqa: E402

GAMES = tuple(name.removeprefix("TWX-") for name in FAMILIES if name.startswith("TWX-"))


Episode = tuple[bool, list[str]]  # the expert's success and its moves


def expert_episodes(game: str) -> dict[int, list[Episode]]:
    """task id -> the expert's episodes on the first test and train tasks of ``game``, each task
    played twice in one env, another task between."""
    env = gym.make(f"AgentGym/TWX-{game}-v0")
    task_ids = [*env.unwrapped.task_ids("test")[:2], *env.unwrapped.task_ids("train")[:3]]
    episodes: dict[int, list[Episode]] = {task_id: [] for task_id in task_ids}
    for task_id in [*task_ids, *task_ids]:
        obs, info = env.reset(options={"task_id": task_id})
        task, _, _ = obs.partition("\n")
        assert task == env.unwrapped.task_description()
        moves = []
        while True:
            _, action = env.unwrapped.expert()
            assert action in info["available_actions"] or action in ("task", "look around")
            moves.append(action)
            _, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                break
        episodes[task_id].append((bool(info["success"]), moves))
    env.close()
    return episodes


@pytest.fixture(scope="module")
def other_process_episodes() -> dict[str, dict[int, list[Episode]]]:
    """``expert_episodes`` of every game, played in a fresh Python process (with a JVM of its own)."""
    script = (
        "import json, runpy, sys; play = runpy.run_path(sys.argv[1])['expert_episodes']; "
        "print(json.dumps({game: play(game) for game in sys.argv[2:]}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, __file__, *GAMES], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        game: {
            int(task_id): [(success, moves) for success, moves in plays] for task_id, plays in tasks.items()
        }
        for game, tasks in answer.items()
    }


def test_eight_games_are_registered_each_with_its_own_prefix():
    prefixes = {family(f"TWX-{game}").item_prefix for game in GAMES}
    assert len(prefixes) == 8 and "twx_coin" in prefixes


def test_test_ids_are_the_engines_test_fold_and_the_rest_its_train_fold():
    env = gym.make("AgentGym/TWX-Coin-v0").unwrapped
    n_test = len(env.task_ids("test"))
    assert env._fold_and_seed(0) == ("test", 20000)
    assert env._fold_and_seed(n_test) == ("train", 0)
    assert env._fold_and_seed(n_test + 7) == ("train", 7)
    env.close()


@pytest.mark.parametrize("game", GAMES)
def test_expert_solves_and_plays_a_task_alike_in_every_reset_and_process(game, other_process_episodes):
    """Same task, same expert moves (AgentTraj is built from them): in a second reset and in
    another process. Coin's and TWC's gold agents walk at random, so this needs their seed."""
    episodes = expert_episodes(game)
    for task_id, (first, second) in episodes.items():
        assert first[0], f"the expert failed {game} task {task_id}: {first[1]}"
        assert first == second, f"a second reset of {game} task {task_id} played other moves"
    assert episodes == other_process_episodes[game], "another process played other moves"


def test_all_games_share_one_jvm_which_close_stops():
    envs = [gym.make(f"AgentGym/TWX-{game}-v0") for game in GAMES[:3]]
    for env in envs:
        env.reset(options={"task_id": 0})
    pid = twx.ENGINE.pid
    assert all(env.unwrapped._session.alive for env in envs)  # all on the one running JVM
    for env in envs:
        env.close()
    deadline = time.monotonic() + 15
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not twx.ENGINE.running and not os.path.exists(f"/proc/{pid}")


def test_a_failed_task_ends_the_episode_without_success():
    env = gym.make("AgentGym/TWX-CookingWorld-v0")
    env.reset(options={"task_id": 0})
    for action in ("take cookbook", "read cookbook", "take knife", "take red potato"):
        env.step(action)
    # the recipe wants the potato grilled whole: dicing it spoils the meal
    obs, reward, terminated, _, info = env.step("dice red potato")
    assert terminated and not info["success"] and "failed" in obs and 0.0 <= info["score"] < 1.0
    env.close()


def test_forked_workers_start_their_own_jvm_and_leave_the_parents_alone():
    import numpy as np

    parent = gym.make("AgentGym/TWX-Coin-v0")
    parent.reset(options={"task_id": 0})
    pid = twx.ENGINE.pid
    envs = gym.vector.AsyncVectorEnv(
        [lambda: gym.make("AgentGym/TWX-Coin-v0")] * 2, shared_memory=False, context="fork"
    )
    obs, _ = envs.reset(seed=[0, 1])
    obs, *_ = envs.step(np.array(["look around", "inventory"], dtype=object))
    assert obs[0].startswith("You are in") and obs[1].startswith("Inventory")
    envs.close()
    assert twx.ENGINE.pid == pid and parent.step("look around")[0].startswith("You are in")
    parent.close()
