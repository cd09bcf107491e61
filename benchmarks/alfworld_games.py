"""Generated ALFWorld games beside the real ones: task types, rooms, receptacles, objects, and
the expert's path length and success, on AgentGym's 200 real test games and our 200 test games.

Usage: python benchmarks/alfworld_games.py [--data ../shared/fixtures/alfworld] [--games 200]
"""

from __future__ import annotations

import argparse
import re
import statistics
from collections import Counter
from pathlib import Path

import gymnasium as gym
from common import print_header

import agentgym_envs  # noqa: F401  (registers the ids)

ROOT = Path(__file__).resolve().parents[1]
ROOMS = ((100, "kitchen"), (300, "living room"), (400, "bedroom"), (500, "bathroom"))
SHORT = {
    "pick_and_place_simple": "place",
    "pick_two_obj_and_place": "two",
    "pick_clean_then_place_in_recep": "clean",
    "pick_heat_then_place_in_recep": "heat",
    "pick_cool_then_place_in_recep": "cool",
    "look_at_obj_in_light": "look",
}


def room_of(problem: str, scene: int | None) -> str:
    if scene is None:  # real games: the scene number is in the task folder's name
        return "?"
    return next(name for bound, name in ROOMS if scene < bound)


def counts(problem: str) -> tuple[int, int]:
    receptacles = len(re.findall(r"\(receptacleAtLocation ", problem))
    objects = len(re.findall(r"\(pickupable ", problem))
    return receptacles, objects


def play(env, task_ids, game_of) -> dict:
    stats = {
        "types": Counter(),
        "rooms": Counter(),
        "receptacles": [],
        "objects": [],
        "path": [],
        "solved": 0,
    }
    for task_id in task_ids:
        env.reset(options={"task_id": task_id})
        game, task_type, scene = game_of(task_id)
        stats["types"][task_type] += 1
        stats["rooms"][room_of(game["pddl_problem"], scene)] += 1
        receptacles, objects = counts(game["pddl_problem"])
        stats["receptacles"].append(receptacles)
        stats["objects"].append(objects)
        for steps in range(1, 31):
            _, _, terminated, truncated, info = env.step(env.unwrapped.expert()[1])
            if terminated or truncated:
                break
        stats["solved"] += info["success"]
        stats["path"].append(steps)
    return stats


def spread(values: list[int]) -> str:
    return f"{min(values)}-{max(values)} (mean {statistics.mean(values):.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "fixtures" / "alfworld")
    parser.add_argument("--games", type=int, default=200)
    args = parser.parse_args()
    print_header()
    real_env = gym.make(
        "AgentGym/ALFWorld-v0", data_dir=str(args.data), mapping=str(args.data / "mappings_test.json")
    )
    real = real_env.unwrapped.real_games

    def real_game(task_id):
        path = real.paths[task_id]
        return real(task_id), real.task_type(task_id), int(path.parent.parent.name.split("-")[-1])

    gen_env = gym.make("AgentGym/ALFWorld-v0", split="test")

    def generated_game(task_id):
        game = gen_env.unwrapped._games(task_id)
        return game, game["task_type"], game["scene"]

    rows = {
        "real (AgentGym's test games)": play(real_env, real.task_ids[: args.games], real_game),
        "generated (test ids)": play(
            gen_env, list(gen_env.unwrapped.task_ids("test"))[: args.games], generated_game
        ),
    }
    print("| games | task types | rooms | receptacles | pickable objects | expert steps | expert solved |")
    print("|---|---|---|---|---|---|---|")
    for name, s in rows.items():
        types = ", ".join(f"{SHORT[k]} {s['types'][k]}" for k in SHORT if s["types"][k])
        rooms = ", ".join(f"{k} {v}" for k, v in sorted(s["rooms"].items()))
        n = len(s["path"])
        print(
            f"| {name} | {types} | {rooms} | {spread(s['receptacles'])} | {spread(s['objects'])} | "
            f"{spread(s['path'])} | {s['solved']}/{n} |"
        )


if __name__ == "__main__":
    main()
