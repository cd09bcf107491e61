"""ALFWorld beyond the shared contract: the text is the engine's own, the real games play under
AgentGym's item ids, generated games are deterministic and cached where the user says."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import gymnasium as gym
import pytest

pytest.importorskip("alfworld", reason="ALFWorld needs the alfworld extra")

from agentgym_envs.envs.alfworld.engine import NOTHING_HAPPENS, AlfredEngine  # noqa: E402
from agentgym_envs.envs.alfworld.env import agentgym_observation  # noqa: E402
from agentgym_envs.envs.alfworld.generate import generate_game  # noqa: E402
from agentgym_envs.envs.alfworld.logic import alfred_domain, alfred_grammar  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "alfworld"
MAPPING = FIXTURES / "mappings_test.json"
needs_fixtures = pytest.mark.skipif(
    not MAPPING.exists(),
    reason=f"ALFWorld's real test games are not here ({FIXTURES}): a user's clone has none",
)


def _real_game_files() -> list[Path]:
    return sorted(FIXTURES.glob("json_2.1.1/valid_train/*/*/game.tw-pddl"))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTGYM_CACHE", str(tmp_path))
    return tmp_path


def real_env(**kwargs) -> gym.Env:
    return gym.make("AgentGym/ALFWorld-v0", data_dir=str(FIXTURES), mapping=str(MAPPING), **kwargs)


# ------------------------------------------------------------------------------ the text
@needs_fixtures
def test_generated_games_use_the_domain_and_grammar_of_agentgyms_games():
    real = json.loads(_real_game_files()[0].read_text())
    task = re.search(r'Your task is to: ([^"]*)\."', real["grammar"]).group(1)
    assert alfred_domain() == real["pddl_domain"]
    assert alfred_grammar(task) == real["grammar"]  # "put X in/on Y", "You arrive at loc N." ...


@needs_fixtures
@pytest.mark.parametrize("index", [0, 137])
def test_engine_text_is_textworlds_on_real_games(index, cache):
    """Our engine glue and textworld's PddlEnv with alfworld's wrappers (what AgentGym runs)
    read the same game and answer the same commands with the same text."""
    import textworld
    from alfworld.agents.environment.alfred_tw_env import AlfredDemangler, AlfredInfos
    from textworld.envs.pddl import PddlEnv

    path = _real_game_files()[index]
    reference = AlfredInfos(AlfredDemangler(PddlEnv(textworld.EnvInfos(won=True, admissible_commands=True))))
    reference.load(str(path))
    state = reference.reset()
    engine = AlfredEngine()
    engine.load(json.loads(path.read_text()), cache)
    assert engine.reset() == state.feedback
    rng = random.Random(index)
    for _ in range(15):
        assert engine.admissible_commands() == state["admissible_commands"]
        command = rng.choice(state["admissible_commands"] + ["jump around"])
        state, _, _ = reference.step(command)
        assert engine.step(command) == state.feedback
        assert engine.won == state["won"]
    engine.close()


def test_observations_are_agentgyms(cache):
    env = gym.make("AgentGym/ALFWorld-v0", split="test")
    obs, info = env.reset(options={"task_id": 0})
    assert not obs.startswith("-= Welcome")  # the banner is dropped, as AgentGym's server does
    assert obs.startswith("You are in the middle of a room. Looking quickly around you, you see ")
    room, task, actions = obs.split("\n")
    assert task.startswith("Your task is to: ")
    assert actions == "AVAILABLE ACTIONS: " + ",".join(info["available_actions"])
    obs, reward, *_ = env.step("fly to the moon")
    assert obs.startswith(NOTHING_HAPPENS) and "not one of the available actions" in obs and reward == 0
    go = next(a for a in info["available_actions"] if a.startswith("go to "))
    obs, *_ = env.step(go)
    assert not obs.startswith("You arrive at loc")  # AgentGym's process_ob drops it
    env.close()


def test_arrival_sentence_is_dropped_as_agentgym_does():
    assert agentgym_observation("You arrive at loc 12. On the desk 1, you see a pen 1.") == (
        "On the desk 1, you see a pen 1."
    )
    assert agentgym_observation("You open the fridge 1.") == "You open the fridge 1."


# ------------------------------------------------------------------------------ generated games
def test_generated_games_are_deterministic_and_cached_where_the_user_says(tmp_path):
    assert generate_game(7) == generate_game(7)
    assert generate_game(7)["pddl_problem"] != generate_game(8)["pddl_problem"]
    env = gym.make("AgentGym/ALFWorld-v0", cache_dir=str(tmp_path / "mine"))
    first, _ = env.reset(options={"task_id": 250})
    assert list((tmp_path / "mine").glob("games-v*/250.tw-pddl"))
    assert list((tmp_path / "mine").glob("compiled/*/*.pickle"))
    again = gym.make("AgentGym/ALFWorld-v0", cache_dir=str(tmp_path / "mine"))
    assert again.reset(options={"task_id": 250})[0] == first  # read back from the cache
    env.close()
    again.close()


def test_generated_games_cover_the_six_task_types():
    kinds = {generate_game(task_id)["task_type"] for task_id in range(60)}
    assert len(kinds) == 6


# ------------------------------------------------------------------------------ real games
@needs_fixtures
def test_real_games_play_under_agentgyms_item_ids(cache):
    env = real_env()
    obs, info = env.reset(options={"task_id": 2420})
    assert info["item_id"] == "alfworld_2420"
    entry = json.loads(MAPPING.read_text())[0]
    game = json.loads(
        (
            FIXTURES / "json_2.1.1/valid_train" / entry["task_type"] / entry["task_id"] / "game.tw-pddl"
        ).read_text()
    )
    assert re.search(r'Your task is to: ([^"]*)"', game["grammar"]).group(1) in obs
    assert {env.reset(seed=seed)[1]["task_id"] for seed in range(5)} <= set(range(2420, 2620))
    with pytest.raises(ValueError, match="task ids"):
        env.reset(options={"task_id": 0})
    env.close()


@needs_fixtures
def test_expert_solves_real_games(cache):
    env = real_env()
    for task_id in (2420, 2421, 2422, 2423):  # cool, two, clean, ... (AgentGym's first test items)
        env.reset(options={"task_id": task_id})
        for _ in range(30):
            _, _, terminated, truncated, info = env.step(env.unwrapped.expert()[1])
            if terminated or truncated:
                break
        assert info["success"], task_id
    env.close()


def test_mapping_without_data_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("ALFWORLD_DATA", raising=False)
    with pytest.raises(ValueError, match="data_dir"):
        gym.make("AgentGym/ALFWorld-v0", mapping="mappings_test.json")
    with pytest.raises(ValueError, match="mapping"):
        gym.make("AgentGym/ALFWorld-v0", data_dir="/nowhere")
