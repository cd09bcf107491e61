"""The Java engines' envs beside the engines' own Python APIs, on the same episodes.

SciWorld against ``scienceworld.ScienceWorldEnv`` and the TWX games against
``textworld_express.TextWorldExpressEnv``. For each env it first lets the expert play the tasks
(making and caching SciWorld's plans, whose time is reported apart: ScienceWorld generates a
gold path by replaying the task inside the engine), then times, side by side and on the same
action sequences:

  * ours: ``reset`` + ``expert()`` + ``step`` through ``gym.make`` (every wrapper on);
  * the package: its own ``load``/``reset`` + ``step`` of the same actions.

Steps/s count steps only (reset time apart); resets are reported in ms. Each side runs its own
JVM; the package's is closed before the next env. Both are timed warm: ours after the expert's
first play, the package's after one untimed replay of the same episodes (a JVM runs its code
interpreted until the JIT has compiled it).

Usage: python benchmarks/engine_speed.py [--envs SciWorld TWX-Coin ...] [--tasks 12] [--rounds 2]
"""

from __future__ import annotations

import argparse
import sys
import time

import gymnasium as gym
from common import print_header

import agentgym_envs  # noqa: F401  (registers the ids)
from agentgym_envs import family

TWX_GAMES = ("CookingWorld", "Coin", "TWC", "MapReader", "Arithmetic", "Sorting", "SimonSays", "PeckingOrder")
TARGETS = {"SciWorld": (300, 10.0)}  # expert steps/s, times the package's own step
TWX_TARGET = (1_000, None)


def sciworld_task_ids(count: int) -> list[int]:
    """Test ids and a spread of training ids (so several task types are in the mix)."""
    ids = family("SciWorld").splits
    reachable = list(ids.test) + list(ids.train)
    stride = max(1, len(reachable) // count)
    return reachable[::stride][:count]


def twx_task_ids(name: str, count: int) -> list[int]:
    splits = family(name).splits
    return list(splits.test[: count // 2]) + list(splits.train[: count - count // 2])


def expert_episodes(env: gym.Env, task_ids: list[int]) -> tuple[list[tuple[int, list[str]]], float]:
    """The expert's action sequences, and the seconds it took (plans made here)."""
    start = time.perf_counter()
    episodes = []
    for task_id in task_ids:
        env.reset(options={"task_id": task_id})
        actions = []
        while True:
            action = env.unwrapped.expert()[1]
            actions.append(action)
            if any(env.step(action)[2:4]):
                break
        episodes.append((task_id, actions))
    return episodes, time.perf_counter() - start


def time_ours(env: gym.Env, episodes, rounds: int) -> tuple[float, float, int]:
    """Seconds in steps (expert() included), seconds in resets, and steps."""
    step_s = reset_s = 0.0
    steps = 0
    for _ in range(rounds):
        for task_id, actions in episodes:
            start = time.perf_counter()
            env.reset(options={"task_id": task_id})
            reset_s += time.perf_counter() - start
            start = time.perf_counter()
            for _ in actions:
                env.step(env.unwrapped.expert()[1])
            step_s += time.perf_counter() - start
            steps += len(actions)
    return step_s, reset_s, steps


def time_sciworld_package(episodes, rounds: int) -> tuple[float, float, int]:
    from scienceworld import ScienceWorldEnv

    from agentgym_envs.envs.sciworld import task_table

    package = ScienceWorldEnv(envStepLimit=10_000)
    try:
        return _time_package(
            episodes,
            rounds,
            reset=lambda task_id: (package.load(*task_table()[task_id]), package.reset()),
            step=package.step,
        )
    finally:
        package.close()


def time_twx_package(name: str, episodes, rounds: int) -> tuple[float, float, int]:
    from textworld_express import TextWorldExpressEnv

    from agentgym_envs.envs import twx

    cls = gym.envs.registration.load_env_creator(family(name).entry_point)
    ours = cls()
    package = TextWorldExpressEnv(envStepLimit=10_000)
    package.load(cls.game, cls.game_params)

    def reset(task_id: int) -> None:
        fold, seed = ours._fold_and_seed(task_id)
        package.reset(seed=seed, gameFold=fold, generateGoldPath=True)

    try:
        return _time_package(episodes, rounds, reset=reset, step=package.step)
    finally:
        package.close()
        ours.close()
        twx.ENGINE.stop()


def _time_package(episodes, rounds: int, reset, step) -> tuple[float, float, int]:
    for task_id, actions in episodes:  # warm-up, as our side's first play
        reset(task_id)
        for action in actions:
            step(action)
    step_s = reset_s = 0.0
    steps = 0
    for _ in range(rounds):
        for task_id, actions in episodes:
            start = time.perf_counter()
            reset(task_id)
            reset_s += time.perf_counter() - start
            start = time.perf_counter()
            for action in actions:
                step(action)
            step_s += time.perf_counter() - start
            steps += len(actions)
    return step_s, reset_s, steps


def measure(name: str, tasks: int, rounds: int) -> dict:
    env = gym.make(family(name).env_id)
    task_ids = sciworld_task_ids(tasks) if name == "SciWorld" else twx_task_ids(name, tasks)
    episodes, plan_s = expert_episodes(env, task_ids)
    ours_step, ours_reset, steps = time_ours(env, episodes, rounds)
    env.close()
    if name == "SciWorld":
        pkg_step, pkg_reset, _ = time_sciworld_package(episodes, rounds)
    else:
        pkg_step, pkg_reset, _ = time_twx_package(name, episodes, rounds)
    resets = rounds * len(episodes)
    return {
        "env": name,
        "episodes": len(episodes),
        "steps": steps,
        "first play s": plan_s,
        "ours steps/s": steps / ours_step,
        "package steps/s": steps / pkg_step,
        "ours reset ms": 1000 * ours_reset / resets,
        "package reset ms": 1000 * pkg_reset / resets,
    }


def verdict(row: dict) -> str:
    per_s, ratio = TARGETS.get(row["env"], TWX_TARGET)
    speedup = row["ours steps/s"] / row["package steps/s"]
    notes = [f"{'ok' if row['ours steps/s'] >= per_s else 'MISSED'} >= {per_s:,} steps/s"]
    if ratio:
        notes.append(f"{'ok' if speedup >= ratio else 'MISSED'} >= {ratio:.0f}x the package")
    return ", ".join(notes)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--envs", nargs="*", default=["SciWorld", *(f"TWX-{g}" for g in TWX_GAMES)])
    parser.add_argument("--tasks", type=int, default=12, help="episodes per env")
    parser.add_argument("--rounds", type=int, default=2, help="timed replays of those episodes per side")
    args = parser.parse_args()
    rows = []
    for name in args.envs:
        print(f"measuring {name} ...", file=sys.stderr)
        rows.append(measure(family(name).name, args.tasks, args.rounds))
    print_header()
    print(
        "| env | episodes / steps | expert steps/s: ours | package's step | ours / package "
        "| reset ms: ours | package | first play (plans made) s | targets |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for row in rows:
        print(
            f"| {row['env']} | {row['episodes']} / {row['steps']} | {row['ours steps/s']:,.0f} "
            f"| {row['package steps/s']:,.0f} | {row['ours steps/s'] / row['package steps/s']:.1f}x "
            f"| {row['ours reset ms']:.1f} | {row['package reset ms']:.1f} | {row['first play s']:.1f} "
            f"| {verdict(row)} |"
        )


if __name__ == "__main__":
    main()
