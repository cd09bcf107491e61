"""ALFWorld and TextWorld speed beside the engines' own Python APIs, on the same games.

ALFWorld, on AgentGym's real test games (``--data``, default ``../shared/fixtures/alfworld``):
  * alfworld: what AgentGym's server does per reset (``AlfredTWEnv.init_env(batch_size=1)`` for
    one game file, then ``reset``) and per step (``env.step([action])``), with the same config;
  * ours: ``gym.make("AgentGym/ALFWorld-v0", data_dir=..., mapping=...)``, first with an empty
    cache (every game translated once: what a first run pays), then again (compiled games read
    from the disk cache by a fresh env: every later run).
Both replay the same actions: our expert's, with a few invalid commands mixed in. Expert
steps/s (``expert()`` + ``step()``) is ours only.

TextWorld, on our generated games (compiled once): ``textworld.start`` + ``step`` on the same
``.z8`` files against ``gym.make("AgentGym/TextWorld-v0")``, replaying the walkthroughs.

Usage: python benchmarks/alfworld_speed.py [--games 20] [--data DIR] [--tw_games 18]
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import gymnasium as gym
from common import print_header

import agentgym_envs  # noqa: F401  (registers the ids)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "fixtures" / "alfworld"
ALFWORLD_CONFIG = {  # what AgentGym's base_config.yaml sets for the text-only env at evaluation
    "env": {"domain_randomization": False, "expert_type": "planner", "goal_desc_human_anns_prob": 0.0},
    "general": {"training_method": "dagger"},
    "dagger": {"training": {"max_nb_steps_per_episode": 50}},
}


def ours_episodes(env, task_ids) -> tuple[list, float, float]:
    """Our expert on each game; its actions (plus one invalid command) for both replays.
    Returns the episodes, the seconds in resets and the seconds in expert() + step()."""
    episodes, reset_s, step_s = [], 0.0, 0.0
    for task_id in task_ids:
        start = time.perf_counter()
        env.reset(options={"task_id": task_id})
        reset_s += time.perf_counter() - start
        start = time.perf_counter()
        actions = ["look around the room"]  # not admissible: "Nothing happens."
        env.step(actions[0])
        while True:
            action = env.unwrapped.expert()[1]
            actions.append(action)
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                break
        step_s += time.perf_counter() - start
        episodes.append((task_id, actions))
    return episodes, reset_s, step_s


def replay_ours(env, episodes) -> tuple[float, float]:
    """(seconds in resets, seconds in steps)."""
    reset_s = step_s = 0.0
    for task_id, actions in episodes:
        start = time.perf_counter()
        env.reset(options={"task_id": task_id})
        reset_s += time.perf_counter() - start
        start = time.perf_counter()
        for action in actions:
            env.step(action)
        step_s += time.perf_counter() - start
    return reset_s, step_s


def replay_alfworld(paths, episodes) -> tuple[float, float]:
    """AgentGym's server path: a SingleAlfredTWEnv-like AlfredTWEnv per reset, then steps."""
    from alfworld.agents.environment.alfred_tw_env import AlfredTWEnv

    reset_s = step_s = 0.0
    for (task_id, actions), path in zip(episodes, paths):
        start = time.perf_counter()
        alf = AlfredTWEnv.__new__(AlfredTWEnv)  # AgentGym's SingleAlfredTWEnv skips the data scan too
        alf.config, alf.train_eval = ALFWORLD_CONFIG, "eval_out_of_distribution"
        alf.game_files, alf.num_games = [str(path)], 1
        env = alf.init_env(batch_size=1)
        env.reset()
        reset_s += time.perf_counter() - start
        start = time.perf_counter()
        for action in actions:
            env.step([action])
        step_s += time.perf_counter() - start
        env.close()
    return reset_s, step_s


def alfworld_rows(args) -> list[tuple]:
    kwargs = dict(data_dir=str(args.data), mapping=str(args.data / "mappings_test.json"))
    with tempfile.TemporaryDirectory() as cache:
        env = gym.make("AgentGym/ALFWorld-v0", cache_dir=cache, **kwargs)
        task_ids = env.unwrapped.real_games.task_ids[: args.games]
        paths = [env.unwrapped.real_games.paths[t] for t in task_ids]
        episodes, cold_reset, expert_s = ours_episodes(env, task_ids)
        env.close()
        warm = gym.make("AgentGym/ALFWorld-v0", cache_dir=cache, **kwargs)  # a fresh env: disk cache only
        warm_reset, warm_step = replay_ours(warm, episodes)
        warm.close()
    steps = sum(len(actions) for _, actions in episodes)
    # alfworld in a process of its own: loading its copy of fast-downward's library in a process
    # that already ran ours crashed once (a segfault in dlopen), and a fresh process is fairer.
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        alf_reset, alf_step = pool.submit(replay_alfworld, paths, episodes).result()
    games = len(episodes)
    return [
        (
            "ALFWorld",
            "alfworld AlfredTWEnv (AgentGym's server)",
            games,
            steps / alf_step,
            1000 * alf_reset / games,
        ),
        (
            "ALFWorld",
            "ours, first run (games translated), expert() + step()",
            games,
            steps / expert_s,
            1000 * cold_reset / games,
        ),
        (
            "ALFWorld",
            "ours, compiled games read from the disk cache",
            games,
            steps / warm_step,
            1000 * warm_reset / games,
        ),
    ]


def textworld_rows(args) -> list[tuple]:
    import textworld

    from agentgym_envs.envs.textworld import _INFOS, compiled_game

    env = gym.make("AgentGym/TextWorld-v0", split="test")
    task_ids = list(env.unwrapped.task_ids("test"))[: args.tw_games]
    episodes = []
    for task_id in task_ids:  # compile (if needed) and record the walkthrough outside the timing
        env.reset(options={"task_id": task_id})
        episodes.append((task_id, list(env.unwrapped._walkthrough)))
    our_reset, our_step = replay_ours(env, episodes)
    env.close()
    reset_s = step_s = 0.0
    for task_id, actions in episodes:
        path = compiled_game(task_id, True, env.unwrapped.cache)
        start = time.perf_counter()
        game = textworld.start(str(path), textworld.EnvInfos(**_INFOS))
        game.reset()
        reset_s += time.perf_counter() - start
        start = time.perf_counter()
        for action in actions:
            game.step(action)
        step_s += time.perf_counter() - start
        game.close()
    steps, games = sum(len(a) for _, a in episodes), len(episodes)
    return [
        (
            "TextWorld",
            "textworld.start + step (same .z8, same infos)",
            games,
            steps / step_s,
            1000 * reset_s / games,
        ),
        ("TextWorld", "ours (gym.make)", games, steps / our_step, 1000 * our_reset / games),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=int, default=20, help="real ALFWorld games to play")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with json_2.1.1 + mapping")
    parser.add_argument("--tw_games", type=int, default=18, help="TextWorld test games to play")
    args = parser.parse_args()
    print_header()
    rows = []
    if (args.data / "mappings_test.json").exists():
        rows += alfworld_rows(args)
    else:
        print(f"(no ALFWorld games at {args.data}: ALFWorld rows skipped)")
    rows += textworld_rows(args)
    print("| env | engine | games | steps/s | reset ms |")
    print("|---|---|---:|---:|---:|")
    for env, engine, games, rate, reset_ms in rows:
        print(f"| {env} | {engine} | {games} | {rate:,.0f} | {reset_ms:,.1f} |")


if __name__ == "__main__":
    main()
