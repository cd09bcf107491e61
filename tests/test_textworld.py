"""TextWorld beyond the shared contract: the task-id recipe, the cleaned-up text, inputs that
would hang the Z-machine, and the walkthrough / policy expert."""

from __future__ import annotations

import string

import gymnasium as gym
import pytest

pytest.importorskip("textworld", reason="TextWorld needs the textworld extra")

from agentgym_envs.envs.textworld import CHALLENGES, DIFFICULTIES, refusal_of, task_settings  # noqa: E402


def test_task_ids_cycle_challenges_and_difficulties():
    seen = {task_settings(task_id, test=False)[:2] for task_id in range(9)}
    assert seen == {(c, d) for c in CHALLENGES for d in DIFFICULTIES}
    assert task_settings(0, test=True)[2]["split"] == "test"  # held-out foods for test cooking games
    assert task_settings(9, test=False)[2]["split"] == "train"


def test_first_observation_is_objective_and_room_without_banner():
    env = gym.make("AgentGym/TextWorld-v0", split="test")
    obs, info = env.reset(options={"task_id": 0})
    assert obs.startswith("You are hungry!") and "-= Kitchen =-" in obs
    assert "$$" not in obs and "\n>" not in obs  # no ASCII-art banner, prompt or status line
    assert "look" in info["available_actions"]
    obs, *_ = env.step("inventory")
    assert obs == "You are carrying nothing." or obs.startswith("You are carrying")
    env.close()


# dumb-frotz's escape commands: issue 17 found \U segfaults the process, \S \R \N \D \H hang it,
# \u \h hang it printing without end. They are checked here without the engine (a regression would
# kill this process); tests/test_fuzz.py sends them to the env in a child process.
ESCAPES = [f"\\{c}" for c in string.ascii_letters + string.digits + string.punctuation]


@pytest.mark.parametrize("command", ESCAPES + ["look \\U", "\\Uinventory", "take\x00coin", "go\x1b[A", "é"])
def test_backslashes_and_control_characters_never_reach_the_z_machine(command):
    assert "letters and digits" in refusal_of(command)


def test_every_command_of_the_games_passes_the_filter():
    """The allow-list keeps every admissible and walkthrough command of each challenge and
    difficulty (names such as "non-euclidean keycard" and "Henderson's" included)."""
    env = gym.make("AgentGym/TextWorld-v0", split="test").unwrapped
    for task_id in range(9):
        _, info = env.reset(options={"task_id": task_id})
        commands = set(info["available_actions"]) | set(env._walkthrough)
        assert not [c for c in commands if refusal_of(c)], f"task {task_id}"
    env.close()


@pytest.mark.parametrize(
    "command",
    ["quit", "Q", "restart", "save", "restore", "script", "transcript", "take coin then restart"]
    + ["enable print state option", "restrict commands", "tw-trace-actions", "examine tw-print"],
)
def test_commands_for_the_interpreter_or_textworld_itself_are_refused(command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # "script" would write its transcript here
    env = gym.make("AgentGym/TextWorld-v0", split="test")
    env.reset(options={"task_id": 1})
    obs, reward, terminated, *_ = env.step(command)
    assert obs.startswith("Invalid action:") and reward == 0 and not terminated
    assert "STATE START" not in obs and not list(tmp_path.iterdir())
    obs, *_ = env.step("take coin")  # the story and TextWorld's tracking are untouched
    assert env.unwrapped.done and env.unwrapped.score == 1.0
    env.close()


def test_a_name_holding_an_out_of_world_word_is_not_refused():
    assert refusal_of("take type Q keycard") is None
    assert refusal_of("unlock door with Henderson's non-euclidean key") is None


def test_expert_recovers_off_the_walkthrough():
    env = gym.make("AgentGym/TextWorld-v0", split="test")
    env.reset(options={"task_id": 3})  # a medium cooking game: many steps
    env.step("look")  # off the walkthrough: the expert now follows TextWorld's policy
    for _ in range(50):
        _, _, terminated, truncated, info = env.step(env.unwrapped.expert()[1])
        if terminated or truncated:
            break
    assert info["success"]
    env.close()


def test_a_seed_without_a_quest_moves_on_to_the_tasks_next_seed():
    from textworld.generator.chaining import QuestGenerationError

    from agentgym_envs.envs.textworld import RESEED_STRIDE, GameOptions, generate

    for task_id in (5, 17):
        third = GameOptions()
        third.seeds = task_id + 2 * RESEED_STRIDE  # the third seed of the task's own sequence

        def make(settings, options):  # only the third seed has a quest here
            if options.seeds != third.seeds:
                raise QuestGenerationError("no quest of that length")
            return f"the game of {settings['task']}"

        options = GameOptions()
        assert generate(make, {"task": task_id}, options, task_id) == f"the game of {task_id}"
        assert options.seeds == third.seeds
