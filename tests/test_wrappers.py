"""DiscreteActions and TokenObservation: the spaces stable-baselines3 takes, SB3's own check_env on
every registered id, and MaskablePPO training through them (examples/sb3_maze.py) within the mask."""

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


class MaskAudit(gym.Wrapper):
    """Counts the steps taken and the ones whose index the mask had ruled out at that moment."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.taken: list[int] = []
        self.masked_taken = 0

    def step(self, action):
        self.masked_taken += not self.env.get_wrapper_attr("action_masks")()[int(action)]
        self.taken.append(int(action))
        return self.env.step(action)


def test_maskable_ppo_trains_through_the_wrappers_within_the_mask(tmp_path):
    """The wiring of examples/sb3_maze.py, not how well PPO learns: that depends on the CPU's
    rounding (the example and benchmarks/sb3_maze.py report it). MaskablePPO collects its
    rollouts through DiscreteActions and TokenObservation, never takes an index the mask rules
    out, updates its weights, and a saved model loads back to the same policy."""
    pytest.importorskip("sb3_contrib")
    torch = pytest.importorskip("torch")
    from sb3_contrib import MaskablePPO

    example = _example()
    commands = [*MAZE_ACTIONS, "jump"]  # Maze never lists "jump": index 4 is masked at every step
    audits = [MaskAudit(example.make_env("test", [9, 30], seed=i, commands=commands)) for i in range(2)]
    venv = example.vec_env(audits, seed=0)
    model = example.new_model(venv, seed=0, n_steps=64, batch_size=64)
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(256)

    taken = [index for audit in audits for index in audit.taken]
    assert len(taken) == model.num_timesteps == 256
    assert [audit.masked_taken for audit in audits] == [0, 0] and 4 not in taken
    assert set(taken) == {0, 1, 2, 3}  # the policy still explores every allowed move
    after = list(model.policy.parameters())
    assert any(not torch.equal(old, new) for old, new in zip(before, after))

    observations = venv.reset()
    masks = np.stack(venv.env_method("action_masks"))
    assert not masks[:, 4].any() and masks[:, :4].all()
    only_left = np.zeros_like(masks)
    only_left[:, 2] = True
    for deterministic in (True, False):
        for _ in range(10):
            actions, _ = model.predict(observations, action_masks=only_left, deterministic=deterministic)
            assert actions.tolist() == [2, 2]

    model.save(tmp_path / "ppo.zip")
    loaded = MaskablePPO.load(tmp_path / "ppo.zip")
    saved_state, loaded_state = model.policy.state_dict(), loaded.policy.state_dict()
    assert saved_state.keys() == loaded_state.keys()
    assert all(torch.equal(saved_state[name], loaded_state[name]) for name in saved_state)
    expected, _ = model.predict(observations, action_masks=masks, deterministic=True)
    replayed, _ = loaded.predict(observations, action_masks=masks, deterministic=True)
    assert replayed.tolist() == expected.tolist()


def test_the_example_runs_end_to_end_and_scores_within_range():
    """examples/sb3_maze.py's pipeline on a tiny budget: the task choice (from the expert's
    routes, no arithmetic) and a score in [0, 1] for each policy on the same tasks."""
    pytest.importorskip("sb3_contrib")
    example = _example()
    assert example.shortest_test_tasks(5) == [9, 10, 12, 15, 21]
    result = example.run(tasks=2, timesteps=256, episodes=2, seed=0)
    assert result["test_tasks"] == [9, 10] and result["timesteps"] == 256
    assert all(0.0 <= result[name] <= 1.0 for name in ("random", "ppo", "ppo_greedy"))
