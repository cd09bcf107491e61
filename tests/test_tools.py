"""The tool-calling envs (Weather, Movie, Academia, Sheet, TODOList): the shared parsing and
checks, each backend, and AgentGym's own Sheet and TODO tasks replayed from ../shared/fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import pytest
from helpers import solve

import agentgym_envs  # noqa: F401  (registers the ids)
from agentgym_envs.envs.tools.base import (
    CHECK_VALID_ACTIONS,
    Param,
    Tool,
    ToolError,
    answers_match,
    check_arguments,
    parse_call,
    parse_regex,
)

FIXTURES = Path(__file__).parents[1].parent / "shared" / "fixtures" / "agentgym_tool"


def fixture(name: str) -> Path:
    path = FIXTURES / name
    if not path.exists():
        pytest.skip(f"AgentGym's tool data is not here ({path}): the real-task tests need ../shared/fixtures")
    return path


# ------------------------------------------------------------------------------ parsing
@pytest.mark.parametrize(
    "text",
    [
        'get_tasks with Action Input: {"project_id": "12"}',
        "get_tasks with Action Input: {'project_id': '12'}",
        'Thought: I look.\nAction: get_tasks with Action Input: {"project_id": "12"}',
        'Action: get_tasks with Action Input: ```{"project_id": "12"}```',
    ],
)
def test_calls_parse_from_json_or_python_literals(text):
    assert parse_call(text) == ("get_tasks", {"project_id": "12"})


@pytest.mark.parametrize(
    "text, words",
    [
        ("get_tasks", "format"),
        ("get_tasks with Action Input: {project_id: 12}", "not valid JSON"),
        ("get_tasks with Action Input: __import__('os').system('echo hacked')", "not valid JSON"),
        ("get_tasks with Action Input: [1, 2]", "object"),
        ("rm -rf / with Action Input: {}", "not a tool name"),
    ],
)
def test_bad_calls_are_explained_and_never_evaluated(text, words, capfd):
    with pytest.raises(ToolError, match=words):
        parse_call(text)
    assert "hacked" not in capfd.readouterr().out


def test_arguments_are_checked_against_the_schema():
    tool = Tool("t", "", (Param("n", "integer", ""), Param("xs", "array", ""), Param("s", "string", "", required=False)))
    assert check_arguments(tool, {"n": "7", "xs": "[[1], [2]]"}) == {"n": 7, "xs": [[1], [2]]}
    with pytest.raises(ToolError, match="missing the required argument 'xs'"):
        check_arguments(tool, {"n": 1})
    with pytest.raises(ToolError, match="'n' of t should be integer"):
        check_arguments(tool, {"n": "seven", "xs": []})
    with pytest.raises(ToolError, match="does not take the argument"):
        check_arguments(tool, {"n": 1, "xs": [], "extra": 1})
    assert check_arguments(CHECK_VALID_ACTIONS, {}) == {}


def test_answers_match_numbers_text_and_lists():
    assert answers_match("18.5", 18.5) and answers_match(18.504, 18.5) and not answers_match(18.7, 18.5)
    assert answers_match(" yes. ", "Yes") and answers_match("'The Dark Knight'", "The Dark Knight")
    assert answers_match(["b", "a"], ["a", "b"]) and answers_match("['b', 'a']", ["a", "b"])
    assert not answers_match(["a"], ["a", "b"]) and not answers_match(["a", "a"], ["a", "b"])
    assert answers_match(["x"], "x") and not answers_match({"a": 1}, "a")


def test_regex_queries_are_read_not_evaluated():
    assert parse_regex("re.compile('^(Meat|Fish)$')").search("Fish")
    with pytest.raises(ToolError, match="one quoted pattern"):
        parse_regex("re.compile(__import__('os'))")
    with pytest.raises(ToolError, match="not a valid regular expression"):
        parse_regex("(")


# ------------------------------------------------------------------------------ shared env behaviour
TOOL_ENVS = ["AgentGym/TODOList-v0"]


@pytest.mark.parametrize("env_id", TOOL_ENVS)
def test_observations_use_agentgym_texts(env_id):
    env = gym.make(env_id)
    obs, info = env.reset(options={"task_id": 0})
    assert obs.startswith("Now new trial starts.\nYou should perform actions to accomplish the goal: ")
    assert obs.endswith("\nGive me one action.")
    obs, *_ = env.step("check_valid_actions with Action Input: {}")
    assert obs.startswith("Observation: You can use following valid actions: [") and "finish" in obs
    obs, reward, terminated, *_ = env.step("fly_away with Action Input: {}")
    assert "ERROR | 'fly_away' is not a valid action" in obs and reward == 0 and not terminated
    assert "check_valid_actions" in info["instruction"] and "Action Input" in info["instruction"]


@pytest.mark.parametrize("env_id", TOOL_ENVS)
def test_expert_solves_every_generated_test_and_training_task(env_id):
    env = gym.make(env_id)
    ids = list(env.unwrapped.task_ids("test")) + list(env.unwrapped.task_ids("train"))
    failed = [task_id for task_id in ids if not solve(env, task_id)[0]["success"]]
    assert not failed


@pytest.mark.parametrize("env_id", TOOL_ENVS)
def test_a_wrong_answer_scores_zero(env_id):
    env = gym.make(env_id)
    env.reset(options={"task_id": 1})
    obs, reward, terminated, _, info = env.step('finish with Action Input: {"answer": "no idea at all"}')
    assert terminated and not info["success"] and info["score"] == 0.0


# ------------------------------------------------------------------------------ TODOList
def todo_env(**kwargs) -> gym.Env:
    return gym.make("AgentGym/TODOList-v0", **kwargs)


def test_todo_tools_change_the_store_like_todoist():
    env = todo_env()
    env.reset(options={"task_id": 4})
    store = env.unwrapped.store
    project = store.projects[0]
    task = store.active_tasks(project)[0]
    listing = eval_observation(env.step(f'get_tasks with Action Input: {{"project_id": "{project.id}"}}')[0])
    assert listing[0] == {
        "id": task.id, "order": 1, "content": task.content, "is_completed": False,
        "priority": task.priority, "due_date": task.due_date,
    }  # fmt: skip
    obs = env.step(f'complete_task with Action Input: {{"task_id": "{task.id}"}}')[0]
    assert "Complete task successfully." in obs
    assert task.content not in env.step(f'get_tasks with Action Input: {{"project_id": "{project.id}"}}')[0]
    obs = env.step(f'complete_task with Action Input: {{"task_id": "{task.id}"}}')[0]
    assert f"ERROR | Task {task.id} does not exist." in obs
    obs = env.step(f'update_task with Action Input: {{"task_id": "{store.active_tasks()[0].id}", "due_date": "tomorrow"}}')[0]
    assert "ERROR | due_date must be a date" in obs


def test_todo_success_needs_the_final_state_too():
    env = todo_env()
    for task_id in range(40):  # find a generated change task, answer 'done' without the change
        env.reset(options={"task_id": task_id})
        if env.unwrapped._spec.answer == "done":
            break
    _, _, terminated, _, info = env.step('finish with Action Input: {"answer": "done"}')
    assert terminated and not info["success"]


def test_todo_needs_both_agentgym_files():
    with pytest.raises(ValueError, match="start_state"):
        todo_env(tasks="todo.jsonl")


def test_agentgym_todo_tasks_replay_unchanged_and_the_expert_solves_all_155():
    env = todo_env(tasks=str(fixture("todo.jsonl")), start_state=str(fixture("todo_projects.json")))
    records = [json.loads(line) for line in fixture("todo.jsonl").read_text().splitlines()]
    assert len(records) == 155
    first, _ = env.reset(options={"task_id": 0})
    assert records[0]["goal"].strip() in first
    assert env.unwrapped.store.get_user_current_date() == records[0]["additional_info"]["init_config"]["current_date"]
    assert env.unwrapped.store.state() == records[0]["additional_info"]["answer"]  # a question: state unchanged
    failed = [r["id"] for r in records if not solve(env, r["id"])[0]["success"]]
    assert not failed
    with pytest.raises(ValueError, match="no task with id 160"):
        env.reset(options={"task_id": 160})


def test_agentgym_todo_change_without_the_change_fails():
    env = todo_env(tasks=str(fixture("todo.jsonl")), start_state=str(fixture("todo_projects.json")))
    env.reset(options={"task_id": 1})  # "... please mark it as completed."
    _, _, _, _, info = env.step('finish with Action Input: {"answer": "done"}')
    assert not info["success"]


def eval_observation(obs: str):
    import ast

    return ast.literal_eval(obs.removeprefix("Observation: ").removesuffix("\nGive me one action."))
