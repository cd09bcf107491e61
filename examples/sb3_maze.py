"""Train sb3-contrib's MaskablePPO on AgentGym's Maze and compare it with a random policy.

The text env becomes what stable-baselines3 expects with two wrappers from agentgym_envs:
``DiscreteActions`` (an index into the admissible actions, plus the mask MaskablePPO reads) and
``TokenObservation`` (a Box of byte ids: the episode's first observation, which states the goal,
then the current one)::

    pip install "torch==2.13.0" -e ".[sb3]"
    python examples/sb3_maze.py                 # 5 test mazes, 15k steps: about 20 s on 2 cores
    python examples/sb3_maze.py --tasks 0 --timesteps 30000   # train split -> all 25 test mazes
    python benchmarks/sb3_maze.py --seeds 5     # several seeds, with the machine they ran on

With ``--tasks K`` (default 5) PPO trains and is scored on the K test mazes with the shortest
expert routes: it learns their routes. ``--tasks 0`` trains on the training mazes and scores on
every test maze, which a memoryless MLP over byte ids barely learns in a CPU minute (README).
Both policies are scored on the same tasks and episodes: PPO sampling from its masked
distribution ("ppo", the policy PPO trains) and greedily ("ppo_greedy"), random uniformly over
the mask. Prints a table, or one JSON line with ``--json``.

Greedy is the weaker and the noisier figure here. Maze answers a move into a wall with the same
observation as before, and the MLP sees only the first and the current observation, so a greedy
policy that prefers a blocked move (or two moves that undo each other) repeats it until the round
limit; sampling steps out of such a loop. Greedy is also scored on one episode per task (it plays
every episode of a task alike), so it moves in steps of 100/K points.

A seed fixes a run on one machine only: another CPU rounds the network's arithmetic differently
and 15k steps of training amplify that, so the percentages differ from machine to machine (and
with torch's thread count). Read them over several seeds (benchmarks/sb3_maze.py).
"""

from __future__ import annotations

import argparse
import json
import time

import gymnasium as gym
import numpy as np

import agentgym_envs  # noqa: F401  (registers AgentGym/*)
from agentgym_envs.wrappers import DiscreteActions, TokenObservation

ENV_ID = "AgentGym/Maze-v0"
FIRST_TOKENS = 104  # Maze's first observation: size, goal and start fill its first ~100 bytes
MAX_TOKENS = 104  # the current observation: position and walls


class TaskSubset(gym.Wrapper):
    """Resets draw from ``task_ids`` only (seeded), instead of the whole split."""

    def __init__(self, env: gym.Env, task_ids: list[int], seed: int):
        super().__init__(env)
        self.task_ids, self.rng = list(task_ids), np.random.default_rng(seed)

    def reset(self, *, seed=None, options=None):
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        task_id = self.task_ids[int(self.rng.integers(len(self.task_ids)))]
        return self.env.reset(options={"task_id": task_id})


def make_env(
    split: str, task_ids: list[int] | None = None, seed: int = 0, commands: list[str] | None = None
) -> gym.Env:
    """Maze as stable-baselines3 takes it; ``commands`` fixes the action set (default: Maze's list)."""
    env = gym.make(ENV_ID, split=split)
    if task_ids:
        env = TaskSubset(env, task_ids, seed)
    actions = DiscreteActions(env, commands=commands)
    return TokenObservation(actions, max_tokens=MAX_TOKENS, first_tokens=FIRST_TOKENS)


def shortest_test_tasks(count: int) -> list[int]:
    """The ``count`` test tasks whose expert route is shortest (ties: lower id first)."""
    env = gym.make(ENV_ID, split="test")
    lengths = []
    for task_id in env.unwrapped.task_ids("test"):
        env.reset(options={"task_id": task_id})
        steps, done = 0, False
        while not done:
            *_, terminated, truncated, _ = env.step(env.unwrapped.expert()[1])
            steps, done = steps + 1, terminated or truncated
        lengths.append((steps, task_id))
    return [task_id for _, task_id in sorted(lengths)[:count]]


def success_rate(choose, task_ids: list[int], episodes: int) -> float:
    """Share of ``episodes`` runs per task that ``choose(observation, mask) -> index`` solves."""
    env = make_env("test")
    wins = 0
    for task_id in task_ids:
        for _ in range(episodes):
            observation, info = env.reset(options={"task_id": task_id})
            done = False
            while not done:
                action = choose(observation, info["action_mask"])
                observation, _, terminated, truncated, info = env.step(action)
                done = terminated or truncated
            wins += info["success"]
    return wins / (len(task_ids) * episodes)


PPO_SETTINGS = dict(
    n_steps=128, batch_size=256, n_epochs=4, learning_rate=1e-3, gamma=0.95, ent_coef=0.01,
    policy_kwargs={"net_arch": [64, 64]},
)  # fmt: skip


def vec_env(envs: list[gym.Env], seed: int):
    """The envs side by side, byte ids normalised by VecNormalize (rewards left as they are)."""
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    venv = DummyVecEnv([lambda env=env: env for env in envs])
    venv.seed(seed)
    return VecNormalize(venv, norm_reward=False)


def new_model(venv, seed: int, **overrides):
    """MaskablePPO with this example's settings (``overrides`` replace some of them)."""
    from sb3_contrib import MaskablePPO

    return MaskablePPO("MlpPolicy", venv, seed=seed, **{**PPO_SETTINGS, **overrides})


def train(task_ids: list[int] | None, timesteps: int, seed: int):
    """MaskablePPO on 8 envs; returns (model, vec env)."""
    split = "test" if task_ids else "train"
    venv = vec_env([make_env(split, task_ids, seed + i) for i in range(8)], seed)
    model = new_model(venv, seed)
    model.learn(timesteps)
    venv.training = False
    return model, venv


def run(tasks: int, timesteps: int, episodes: int, seed: int) -> dict:
    import torch

    torch.set_num_threads(1)  # a small MLP: one thread is fastest on a shared CPU
    train_ids = shortest_test_tasks(tasks) if tasks else None
    test_ids = train_ids or list(gym.make(ENV_ID).unwrapped.task_ids("test"))
    start = time.perf_counter()
    model, venv = train(train_ids, timesteps, seed)
    seconds = time.perf_counter() - start

    def ppo(deterministic: bool):
        def choose(observation, mask):
            action, _ = model.predict(
                venv.normalize_obs(observation[None]), action_masks=mask[None], deterministic=deterministic
            )
            return int(action[0])

        return choose

    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)  # PPO's sampled actions
    return {
        "test_tasks": test_ids,
        "episodes_per_task": episodes,
        "timesteps": timesteps,
        "train_seconds": round(seconds, 1),
        "random": success_rate(lambda o, mask: int(rng.choice(np.flatnonzero(mask))), test_ids, episodes),
        "ppo": success_rate(ppo(False), test_ids, episodes),
        "ppo_greedy": success_rate(ppo(True), test_ids, 1),  # greedy: one run per task says it all
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=5, help="K shortest test mazes (0: train split -> test)")
    parser.add_argument("--timesteps", type=int, default=15_000)
    parser.add_argument("--episodes", type=int, default=8, help="scored episodes per task and policy")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args()
    result = run(args.tasks, args.timesteps, args.episodes, args.seed)
    if args.json:
        print(json.dumps(result))
        return
    steps, seconds = args.timesteps, result["train_seconds"]
    print(f"Maze test tasks {result['test_tasks']}, {steps} PPO steps in {seconds} s")
    for name, what in (("random", "uniform over the mask"), ("ppo", "sampled"), ("ppo_greedy", "argmax")):
        print(f"{name:>10}: {100 * result[name]:5.1f}% success ({what})")
    print("Another CPU or thread count gives another run: benchmarks/sb3_maze.py runs several seeds.")


if __name__ == "__main__":
    main()
