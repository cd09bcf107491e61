"""Env pools: the same episodes in process and in Ray actors."""

from __future__ import annotations

import gymnasium as gym
import pytest

from agentgym_rl.env_pools import LocalEnvPool, make_env_pool

JOBS = [("AgentGym/Maze-v0", t) for t in range(6)] + [("AgentGym/Wordle-v0", t) for t in range(3)]


def _expert_actions(env_id: str, task_id: int) -> list[str]:
    env = gym.make(env_id)
    env.reset(options={"task_id": task_id})
    actions, done = [], False
    while not done:
        action = env.unwrapped.expert()[1]
        actions.append(action)
        done = any(env.step(action)[2:4])
    return actions


def _play(pool) -> list[list]:
    """Every job at once, one batched step per round, as the rollout engine drives a pool."""
    plans = [_expert_actions(*job) for job in JOBS]
    started = pool.reset_many(JOBS)
    transcripts = [[obs, info["item_id"]] for _, obs, info in started]
    live = {slot: i for i, (slot, _, _) in enumerate(started)}
    round_ = 0
    while live:
        batch = [(slot, plans[i][round_]) for slot, i in live.items()]
        ended = []
        for (slot, _), result in zip(batch, pool.step_many(batch)):
            transcripts[live[slot]].append(result)
            if result[2] or result[3]:
                ended.append(slot)
        pool.release(ended)
        live = {slot: i for slot, i in live.items() if slot not in ended}
        round_ += 1
    pool.close()
    return transcripts


def test_local_pool_reuses_envs_across_episodes():
    pool = LocalEnvPool()
    ((slot, _, _),) = pool.reset_many([("AgentGym/Maze-v0", 0)])
    pool.release([slot])
    pool.reset_many([("AgentGym/Maze-v0", 1)])
    assert len(pool.slots.made) == 1
    pool.close()


def test_ray_workers_play_the_same_episodes_as_in_process():
    pytest.importorskip("ray")
    in_process = _play(make_env_pool(0))
    on_ray = _play(make_env_pool(2))
    assert on_ray == in_process


def test_negative_workers_are_refused():
    with pytest.raises(ValueError, match="rollout_workers"):
        make_env_pool(-1)
