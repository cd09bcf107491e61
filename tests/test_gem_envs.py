"""GEM's interface (gem.core.Env, package gem-llm): every id registered, played through GEM's
make, make_vec and observation wrapper."""

from __future__ import annotations

import gymnasium as gym
import pytest

gem = pytest.importorskip("gem")

from agentgym_envs import env_ids  # noqa: E402
from agentgym_envs.formats import action_format  # noqa: E402
from agentgym_envs.gem_envs import AgentGymGemEnv  # noqa: E402


def test_every_id_is_in_gems_registry():
    from gem.envs.registration import ENV_REGISTRY

    assert set(env_ids()) <= set(ENV_REGISTRY)


@pytest.mark.parametrize("reply_format", ["react", "tools"])
def test_the_expert_plays_through_gem_and_its_history_wrapper(reply_format):
    from gem.wrappers.observation_wrapper import ObservationWrapper

    env = gem.make("AgentGym/Maze-v0", split="test", task_id=4, action_format=reply_format)
    assert isinstance(env, gem.Env) and env.env_id == "AgentGym/Maze-v0"
    wrapped = ObservationWrapper(env, include_action=True, include_chat_template=False)
    observation, info = wrapped.reset()
    reference, _ = gym.make("AgentGym/Maze-v0").reset(options={"task_id": 4})
    assert info["task_id"] == 4 and reference in observation
    writer, total, turns = action_format(reply_format), 0.0, 0
    while True:
        thought, action = env.env.unwrapped.expert()
        reply = writer.expert_reply(env.env_id, thought, action)
        observation, reward, terminated, truncated, info = wrapped.step(reply)
        total, turns = total + reward, turns + 1
        assert reply in observation  # GEM's wrapper keeps the history of replies and observations
        if terminated or truncated:
            break
    assert info["success"] and total == pytest.approx(1.0) and turns < env.env.spec.max_episode_steps


def test_a_reply_without_an_action_is_explained_and_random_actions_are_listed_ones():
    env = AgentGymGemEnv("maze", seed=3)
    first, info = env.reset()
    assert first == env.reset()[0]  # the constructor's seed stands for a reset without one
    observation, reward, terminated, truncated, _ = env.step("I am not sure.")
    assert "Invalid response format" in observation and reward == 0 and not (terminated or truncated)
    assert (
        action_format("react").to_command(env.env_id, env.sample_random_action()) in info["available_actions"]
    )
    twin = env.spawn(same_state=True)
    assert twin.env.unwrapped.task_id == info["task_id"]


def test_gems_vector_env_runs_several_agentgym_envs():
    envs = gem.make_vec(["AgentGym/Maze-v0", "AgentGym/Maze-v0"], vec_kwargs=[{"task_id": 0}, {"task_id": 1}])
    observations, infos = envs.reset()
    assert [info["task_id"] for info in infos] == [0, 1] and all("maze" in text for text in observations)
    replies = ["Thought: go\nAction: move up", "no action here"]
    observations, rewards, terminations, truncations, infos = envs.step(replies)
    assert "Invalid response format" in observations[1] and list(rewards) == [0.0, 0.0]
