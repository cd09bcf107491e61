"""Vector envs: ``gym.make_vec`` (sync and async) gives each sub-env the observations, rewards and
info the single env gives, on every registered id. Gymnasium's async default (shared memory)
used to return ``'\\t' * 8192`` for every Text observation (see agentgym_envs/spaces.py)."""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import pytest
from helpers import installed_or_skip

from agentgym_envs import env_ids, text_space
from agentgym_envs.spaces import AsciiText, SharedTextBatch

NUM_ENVS = 2
SEED = 7
STEPS = 3


@pytest.fixture(params=env_ids())
def env_id(request) -> str:
    return installed_or_skip(request.param)


def lockstep(vector: gym.vector.VectorEnv, singles: list[gym.Env]) -> int:
    """Reset and step ``vector`` and ``singles`` together with the experts' actions (read from
    the single envs), asserting equal results; returns the number of steps compared."""
    observations, infos = vector.reset(seed=SEED)
    expected = [env.reset(seed=SEED + i) for i, env in enumerate(singles)]
    assert tuple(observations) == tuple(obs for obs, _ in expected)
    assert list(infos["task_id"]) == [info["task_id"] for _, info in expected]
    for step in range(STEPS):
        actions = tuple(env.unwrapped.expert()[1] for env in singles)
        observations, rewards, terminated, truncated, infos = vector.step(actions)
        results = [env.step(action) for env, action in zip(singles, actions)]
        assert isinstance(observations, tuple) and all(isinstance(o, str) for o in observations)
        assert tuple(observations) == tuple(r[0] for r in results), f"step {step}"
        assert np.allclose(rewards, [r[1] for r in results])
        assert list(terminated) == [r[2] for r in results]
        assert list(infos["available_actions"]) == [r[4]["available_actions"] for r in results]
        if any(terminated) or any(truncated):  # past here the vector env autoresets
            return step + 1
    return STEPS


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_make_vec_matches_the_single_env(env_id, mode):
    vector = gym.make_vec(env_id, num_envs=NUM_ENVS, vectorization_mode=mode)
    singles = [gym.make(env_id) for _ in range(NUM_ENVS)]
    try:
        assert lockstep(vector, singles) >= 1
        assert not any(set(o) == {"\t"} for o in vector.reset(seed=SEED)[0])
    finally:
        vector.close()
        for env in singles:
            env.close()


def test_async_shared_memory_without_copy_is_a_live_view():
    """``copy=False`` hands out the shared buffer itself (as for a Box); it must follow the
    workers' writes, never keep the constructor's zeros."""
    vector = gym.make_vec(
        "AgentGym/Maze-v0", num_envs=2, vectorization_mode="async", vector_kwargs={"copy": False}
    )
    single = gym.make("AgentGym/Maze-v0")
    try:
        observations, _ = vector.reset(seed=SEED)
        assert isinstance(observations, SharedTextBatch)
        assert observations[0] == single.reset(seed=SEED)[0]
        snapshot = copy.deepcopy(observations)
        vector.step(("move up", "move up"))
        assert observations[0] == single.step("move up")[0]  # the same object, re-read
        assert isinstance(snapshot, tuple) and snapshot != tuple(observations)
    finally:
        vector.close()
        single.close()


def _make_maze() -> gym.Env:
    return gym.make("agentgym_envs:AgentGym/Maze-v0")


def test_spawned_workers_register_the_shared_memory_functions():
    """A ``spawn`` worker starts from a fresh interpreter: unpickling the space must be enough
    to register AsciiText's shared-memory writer there."""
    vector = gym.vector.AsyncVectorEnv([_make_maze] * 2, context="spawn")
    single = _make_maze()
    try:
        observations, _ = vector.reset(seed=SEED)
        assert observations[1] == single.reset(seed=SEED + 1)[0]
    finally:
        vector.close()
        single.close()


def test_text_space_is_a_text_space_with_safe_shared_memory():
    space = text_space(16)
    assert isinstance(space, gym.spaces.Text) and isinstance(space, AsciiText)
    assert space.contains("move up") and space.contains("")
    memory = gym.vector.utils.create_shared_memory(space, n=2)
    gym.vector.utils.write_to_shared_memory(space, 1, "move up\n", memory)
    gym.vector.utils.write_to_shared_memory(space, 0, "a" * 16, memory)
    batch = gym.vector.utils.read_from_shared_memory(space, memory, n=2)
    assert tuple(batch) == ("a" * 16, "move up\n")
    gym.vector.utils.write_to_shared_memory(space, 0, "b", memory)  # shorter: the rest is cleared
    assert batch[0] == "b" and batch[-1] == "move up\n"
