"""DiscreteActions and TokenObservation: the spaces stable-baselines3 takes, SB3's own check_env on
every registered id, and MaskablePPO learning Maze through them (examples/sb3_maze.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from helpers import installed_or_skip

from agentgym_envs import env_ids
from agentgym_envs.wrappers import DiscreteActions, TokenObservation, survey_actions

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sb3_maze.py"
MAZE_ACTIONS = ["move up", "move down", "move left", "move right"]


@pytest.fixture(params=env_ids())
def env_id(request) -> str:
    return installed_or_skip(request.param)


def sb3_env(env_id: str) -> gym.Env:
    return TokenObservation(DiscreteActions(gym.make(env_id)), max_tokens=256, first_tokens=64)


def test_sb3_check_env_passes(env_id):
    pytest.importorskip("stable_baselines3")
    from stable_baselines3.common.env_checker import check_env

    env = sb3_env(env_id)
    check_env(env, warn=True)
    env.close()


def test_masks_name_playable_commands(env_id):
    """Every index the mask allows is a command the env accepts now (an admissible action, or a
    command of the fixed set), for the first few steps of a seeded episode."""
    env = DiscreteActions(gym.make(env_id))
    _, info = env.reset(seed=1)
    for _ in range(3):
        mask = env.action_masks()
        assert mask.dtype == bool and mask.shape == (env.action_space.n,) and mask.any()
        assert np.array_equal(mask, info["action_mask"])
        listed = info["available_actions"]
        allowed = [env.command(i) for i in np.flatnonzero(mask)]
        assert listed is None or set(allowed) <= set(listed)
        _, _, terminated, truncated, info = env.step(int(np.flatnonzero(mask)[0]))
        if terminated or truncated:
            break
    env.close()


def test_admissible_mode_on_maze():
    env = DiscreteActions(gym.make("AgentGym/Maze-v0"))
    assert env.action_space == gym.spaces.Discrete(4) and not env.fixed
    _, info = env.reset(options={"task_id": 30})
    assert [env.command(i) for i in range(4)] == MAZE_ACTIONS
    assert info["action_mask"].all()
    observation, *_ = env.step(3)  # task 30 starts with walls above, below and left
    assert observation.startswith("You moved right")


def test_masked_index_is_explained_not_raised():
    env = DiscreteActions(gym.make("AgentGym/Maze-v0"), commands=["move up", "jump"])
    assert env.fixed and env.action_space.n == 2
    _, info = env.reset(options={"task_id": 30})
    assert info["action_mask"].tolist() == [True, False]  # "jump" is not an available action
    for index in (1, 7):
        observation, reward, terminated, _, info = env.step(index)
        assert "index" in observation and reward == 0.0 and not terminated
    assert info["action_mask"].tolist() == [True, False]


def test_fixed_commands_come_from_the_expert_when_the_env_lists_none():
    pytest.importorskip("wordle")
    env = gym.make("AgentGym/Wordle-v0")
    survey = survey_actions(env, tasks=4)
    assert survey.unlisted and survey.commands
    wrapped = DiscreteActions(env, probe_tasks=4)
    assert wrapped.fixed and wrapped.commands == survey.commands
    _, info = wrapped.reset(seed=0)
    assert info["action_mask"].all()  # no list: every command is allowed
    observation, *_ = wrapped.step(0)
    assert "Invalid" not in observation


def test_byte_tokens_keep_the_first_observation():
    env = TokenObservation(gym.make("AgentGym/Maze-v0"), max_tokens=200, first_tokens=120)
    assert env.observation_space.shape == (320,) and env.observation_space.high.max() == 255
    first, info = env.reset(options={"task_id": 30})
    assert bytes(first[120:][first[120:] > 0].tolist()).decode() == info["text"]
    later, *_, info = env.step("move right")
    assert np.array_equal(later[:120], first[:120])  # the goal stays in view
    assert bytes(later[120:][later[120:] > 0].tolist()).decode() == info["text"]


def test_any_hugging_face_tokenizer(tiny_policy_dir):
    transformers = pytest.importorskip("transformers")
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_policy_dir)
    env = TokenObservation(gym.make("AgentGym/Maze-v0"), tokenizer=tokenizer, max_tokens=128)
    assert env.observation_space.high.max() == len(tokenizer) - 1
    ids, info = env.reset(options={"task_id": 30})
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    assert tokenizer.decode([i for i in ids.tolist() if i != pad]) == info["text"]
    assert ids in env.observation_space


def _example():
    spec = importlib.util.spec_from_file_location("sb3_maze", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_maskable_ppo_beats_random_on_maze():
    """15k MaskablePPO steps (about 10 s of CPU) on the 5 test mazes with the shortest expert
    routes; PPO and a uniform random policy over the mask scored on the same tasks and episodes.
    Seeded and single-threaded, so the figures are the same on every run (80% against 27.5%)."""
    pytest.importorskip("sb3_contrib")
    result = _example().run(tasks=5, timesteps=15_000, episodes=8, seed=0)
    assert len(result["test_tasks"]) == 5
    assert result["ppo"] > result["random"] + 0.2
    assert result["ppo_greedy"] > result["random"]
