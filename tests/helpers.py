"""Small helpers shared by the tests (pytest puts this folder on sys.path)."""

from __future__ import annotations

import gymnasium as gym


def finish_with_expert(env: gym.Env) -> tuple[dict, int]:
    """Let the expert play the current episode to its end (AgentGym's round limit applies
    when ``env`` comes from ``gym.make``). Returns the last info and the rounds used."""
    rounds = 0
    while True:
        thought, action = env.unwrapped.expert()
        assert thought.strip() and action.strip()
        _, _, terminated, truncated, info = env.step(action)
        rounds += 1
        if terminated or truncated:
            return info, rounds


def solve(env: gym.Env, task_id: int) -> tuple[dict, int]:
    """Reset to ``task_id`` and let the expert finish it."""
    env.reset(options={"task_id": task_id})
    return finish_with_expert(env)


def installed_or_skip(env_id: str) -> str:
    """``env_id``, or a skip naming the extra that installs its engine (as minigrid's tests skip)."""
    import pytest

    from agentgym_envs import family

    problem = family(env_id).missing_engine()
    if problem:
        pytest.skip(problem)
    return env_id


def kill_training_at(monkeypatch, step: int) -> None:
    """Make the next training run raise KeyboardInterrupt when it reaches optimizer step
    ``step`` (as a kill would), through the learning-rate schedule every step asks for;
    ``monkeypatch.undo()`` or the test's end restores it."""
    import agentgym_rl.bc as bc_module

    real_lr_factor = bc_module.lr_factor

    def killed(at_step, *args):
        if at_step == step:
            raise KeyboardInterrupt
        return real_lr_factor(at_step, *args)

    monkeypatch.setattr(bc_module, "lr_factor", killed)
