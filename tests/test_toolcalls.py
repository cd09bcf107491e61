"""Tool calls: every id's tools, bad calls, and the expert played through tool calls (in process,
as TRL calls them, in the Hermes text form and from an OpenAI-style API) ends as with text actions."""

from __future__ import annotations

import json
import re

import gymnasium as gym
import pytest

import agentgym_envs
from agentgym_envs import env_class, env_ids, family
from agentgym_envs.formats import (
    MalformedAction,
    ToolCallFormat,
    action_format,
    format_tool_call,
    parse_tool_calls,
    reply_from_openai,
    to_openai_messages,
)
from agentgym_envs.toolcalls import ToolCallError, ToolParam, ToolSpec, toolset
from agentgym_envs.trl_envs import trl_env_class

ALL_IDS = env_ids()
TEXT_COMMAND_FAMILIES = {"BabyAI", "SciWorld", "ALFWorld", "TextWorld"}  # and the TWX games
FAMILY_TOOLS = {
    "Maze": ["move"],
    "Wordle": ["guess"],
    "WebShop": ["search", "click"],
    "TextCraft": ["get", "craft", "inventory"],
    "BIRD": ["query"],
    "SearchQA": ["search", "answer"],
    "WebArena": [
        "click", "type", "hover", "press", "scroll", "new_tab", "tab_focus", "close_tab", "goto", "go_back",
        "go_forward", "stop",
    ],
}  # fmt: skip
TOOL_ENVS = {"Weather", "Movie", "Academia", "Sheet", "TODOList"}


def types_of(prop: dict) -> set[str]:
    """A property's JSON types; transformers writes a null as ``nullable``."""
    kinds = prop.get("type", [])
    return ({kinds} if isinstance(kinds, str) else set(kinds)) | ({"null"} if prop.get("nullable") else set())


def same_text(a: str, b: str) -> bool:
    """Equal up to the whitespace an env normalises away."""
    return " ".join(a.split()) == " ".join(b.split())


@pytest.fixture(params=ALL_IDS)
def env_id(request) -> str:
    problem = family(request.param).missing_engine()
    if problem:
        pytest.skip(problem)
    return request.param


# ------------------------------------------------------------------------------ the tool lists
def test_every_registered_agentgym_id_is_a_family_with_tools():
    registered = {name for name in gym.registry if name.startswith("AgentGym/")}
    # Remote-v0 plays an env on an env server: its tools are those of the family it plays.
    assert registered - {"AgentGym/Remote-v0"} == set(ALL_IDS)


def test_each_family_declares_its_own_tools(env_id):
    name = family(env_id).name
    tools = toolset(env_id)
    if name in FAMILY_TOOLS:
        assert tools.names == FAMILY_TOOLS[name]
    elif name in TOOL_ENVS:
        agentgym_tools = env_class(env_id).tools
        assert tools.names == [tool.name for tool in agentgym_tools]
        for spec, tool in zip(tools, agentgym_tools):  # AgentGym's real parameters, required or not
            assert [(p.name, p.type, p.required) for p in spec.params] == [
                (p.name, p.type, p.required) for p in tool.params
            ]
    else:
        assert name in TEXT_COMMAND_FAMILIES or name.startswith("TWX-"), f"{name} needs an entry here"
        (act,) = tools
        assert act.name == "act" and [p.name for p in act.params] == ["command"]
        assert env_class(env_id).action_help in act.description  # the command grammar


def test_tool_schemas_are_json_schema_and_match_what_trl_reads(env_id):
    jsonschema = pytest.importorskip("jsonschema")
    from transformers.utils import get_json_schema

    instance = trl_env_class(env_id)()
    for tool in toolset(env_id):
        schema = tool.json_schema()
        assert schema["type"] == "function" and schema["function"]["name"] == tool.name
        jsonschema.Draft7Validator.check_schema(schema["function"]["parameters"])
        json.dumps(schema)  # plain data, as an API request carries it
        trl = get_json_schema(getattr(instance, tool.name))["function"]
        ours = schema["function"]["parameters"]
        assert trl["name"] == tool.name and trl["description"] == " ".join(tool.description.split())
        assert set(trl["parameters"].get("required", [])) == set(ours["required"])
        for name, wanted in ours["properties"].items():
            got = trl["parameters"]["properties"][name]
            optional = set() if name in ours["required"] else {"null"}  # None stands for "left out"
            assert types_of(got) - optional == types_of(wanted) - optional
            assert got.get("enum") == wanted.get("enum") and got.get("items") == wanted.get("items")


# ------------------------------------------------------------------------------ bad calls
@pytest.mark.parametrize(
    "name, arguments, says",
    [
        ("jump", {}, "there is no tool 'jump'; the tools are move"),
        ("move", {}, "missing the required argument 'direction'"),
        ("move", {"direction": "up", "speed": 2}, "does not take the argument(s) speed; it takes: direction"),
        ("move", {"direction": 3}, "should be a string, not 3"),
        ("move", {"direction": "north"}, 'one of "up", "down", "left", "right"'),
        ("move", "{not json", "not valid JSON"),
        ("move", [1, 2], "an object of named values"),
        (None, {}, "names its tool with a string"),
    ],
)
def test_a_bad_call_is_an_error_that_says_what_is_wrong(name, arguments, says):
    with pytest.raises(ToolCallError, match=re.escape(says)):
        toolset("maze").action(name, arguments)


def test_arguments_are_checked_against_their_types():
    craft = toolset("textcraft").get("craft")
    with pytest.raises(ToolCallError, match="should be a list"):
        craft.to_action({"target": "stick", "count": 1, "ingredients": "2 planks"})
    with pytest.raises(ToolCallError, match="list of string"):
        craft.to_action({"target": "stick", "count": 1, "ingredients": [2]})
    with pytest.raises(ToolCallError, match="should be an integer"):
        craft.to_action({"target": "stick", "count": True, "ingredients": ["2 planks"]})
    assert craft.to_action({"target": "stick", "count": 4.0, "ingredients": ["2 planks"]}) == (
        "craft 4 stick using 2 planks"
    )
    assert toolset("maze").action("move", '{"direction": "left"}') == "move left"  # OpenAI's text form


def test_optional_arguments_take_their_defaults_or_stay_out():
    webarena = toolset("webarena")
    assert webarena.action("type", {"element_id": 7, "text": "hi"}) == "type [7] [hi] [1]"
    assert (
        webarena.action("type", {"element_id": 7, "text": "hi", "press_enter": False}) == "type [7] [hi] [0]"
    )
    assert webarena.action("stop", {}) == "stop []"
    sheet = toolset("sheet")
    assert sheet.action("filter_cells", {"query": "x", "in_row": None}) == (
        'filter_cells with Action Input: {"query": "x"}'
    )


def test_a_tool_declaration_is_checked_when_written():
    with pytest.raises(ValueError, match="each parameter once"):
        ToolSpec("move", "", (ToolParam("direction", "string", ""),), "move {way}")
    with pytest.raises(ValueError, match="unknown JSON type"):
        ToolParam("x", "text", "")
    with pytest.raises(ValueError, match="identifier"):
        ToolSpec("two words", "")


# ------------------------------------------------------------------------------ the text form
def test_the_hermes_text_form_round_trips():
    reply = format_tool_call("move", {"direction": "up"}, thought="Up is open.")
    assert parse_tool_calls(reply) == ("Up is open.", [("move", {"direction": "up"})])
    cut_off = 'I go.\n<tool_call>\n{"name": "move", "arguments": {"direction": "up"}}'
    assert parse_tool_calls(cut_off)[1] == [("move", {"direction": "up"})]


@pytest.mark.parametrize(
    "reply, says",
    [
        ("move up", "calls no tool"),
        ("<tool_call>move up</tool_call>", "not valid JSON"),
        ('<tool_call>{"arguments": {}}</tool_call>', '"name"'),
        (format_tool_call("move", {"direction": "up"}) * 2, "2 tool calls"),
        (format_tool_call("move", {"way": "up"}), "does not take the argument(s) way"),
    ],
)
def test_a_reply_without_one_good_call_is_malformed_and_explained(reply, says):
    command = ToolCallFormat().to_command("AgentGym/Maze-v0", reply)
    assert isinstance(command, MalformedAction) and says in command.reason
    env = gym.make("AgentGym/Maze-v0")
    env.reset(options={"task_id": 0})
    observation, reward, terminated, truncated, _ = env.step(command)
    assert says in observation and reward == 0 and not (terminated or truncated)


def test_the_tool_instruction_swaps_the_react_ending_for_the_tools():
    _, info = gym.make("AgentGym/Maze-v0").reset(options={"task_id": 0})
    text = ToolCallFormat().instruction("AgentGym/Maze-v0", info["instruction"])
    native = ToolCallFormat(native_tools=True).instruction("AgentGym/Maze-v0", info["instruction"])
    for instruction in (text, native):
        assert "Action:" not in instruction and "'move up'" not in instruction
        assert instruction.startswith("You are in a maze")
    assert '"name": "move"' in text and "<tool_call>" in text and "<tool_call>" not in native
    assert action_format("react").instruction("AgentGym/Maze-v0", info["instruction"]) == info["instruction"]
    with pytest.raises(ValueError, match="unknown action format"):
        action_format("json")


def test_openai_messages_pair_each_call_with_its_result():
    chat = [
        {"role": "user", "content": "instruction"},
        {"role": "assistant", "content": "Ok."},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": format_tool_call("move", {"direction": "up"}, "Up.")},
        {"role": "user", "content": "moved up"},
        {"role": "assistant", "content": "no call"},
        {"role": "user", "content": "Invalid response format: ..."},
    ]
    out = to_openai_messages(chat)
    assert out[:3] == chat[:3] and out[5:] == chat[5:]
    call = out[3]["tool_calls"][0]
    assert out[3]["content"] == "Up." and call["function"] == {
        "name": "move",
        "arguments": '{"direction": "up"}',
    }
    assert out[4] == {"role": "tool", "tool_call_id": call["id"], "content": "moved up"}
    message = {"role": "assistant", "content": None, "tool_calls": [call]}
    assert reply_from_openai(message) == format_tool_call("move", {"direction": "up"})
    assert reply_from_openai({"role": "assistant", "content": ""}) == ""  # an empty reply is a reply
    assert reply_from_openai({"role": "assistant", "content": None}) is None


# ------------------------------------------------------------------------------ expert episodes
def test_the_expert_through_tool_calls_ends_as_through_text_actions(env_id):
    """One expert episode per family: the expert's text actions on one env; the same actions as
    tool calls on TRL's class (and written in the Hermes form) on another: same observations,
    rewards and ending."""
    tools = toolset(env_id)
    text_env = gym.make(env_id)
    tool_env = trl_env_class(env_id)()
    task_id = family(env_id).splits.ids("test")[0]
    observation, info = text_env.reset(options={"task_id": task_id})
    assert tool_env.reset(task_id=task_id, split="test").endswith(observation)
    jsonschema = pytest.importorskip("jsonschema")
    while True:
        thought, action = text_env.unwrapped.expert()
        call = tools.call_for(action)
        assert call is not None, f"no tool of {env_id} writes the expert's action {action!r}"
        name, arguments = call
        jsonschema.validate(arguments, tools.get(name).json_schema()["function"]["parameters"])
        assert same_text(tools.action(name, arguments), action)
        written = ToolCallFormat().expert_reply(env_id, thought, action)
        assert same_text(ToolCallFormat().to_command(env_id, written), action)
        observation, _, terminated, truncated, info = text_env.step(action)
        answer = getattr(tool_env, name)(**arguments)
        assert answer.startswith(observation)
        if terminated or truncated:
            break
    assert tool_env.get_reward() == info["score"]
    assert "The episode has ended" in answer and "episode is over" in getattr(tool_env, name)(**arguments)
    text_env.close()


# ------------------------------------------------------------------------------ whole evaluations
SCRIPTED_ENVS = ("maze", "textcraft", "movie", "webshop", "bird", "webarena")
SCRIPTED_TASKS = 2  # the first AgentEval tasks of each


@pytest.fixture(scope="module")
def expert_scripts():
    """The expert's episodes on the scripted envs' first AgentEval tasks, as tool calls: the first
    observation (which names the task) -> [(thought, tool, arguments), ...], and each item id's
    (score, success)."""
    scripts, outcomes = {}, {}
    for name in SCRIPTED_ENVS:
        if family(name).missing_engine():
            continue
        env, tools = gym.make(family(name).env_id), toolset(name)
        for task_id in family(name).splits.ids("test")[:SCRIPTED_TASKS]:
            observation, info = env.reset(options={"task_id": task_id})
            assert observation not in scripts, (
                "two scripted tasks open alike: the script cannot tell them apart"
            )
            calls = scripts[observation] = []
            while True:
                thought, action = env.unwrapped.expert()
                calls.append((thought, *tools.call_for(action)))
                _, _, terminated, truncated, info = env.step(action)
                if terminated or truncated:
                    break
            outcomes[info["item_id"]] = (info["score"], info["success"])
        env.close()
    return scripts, outcomes


def scripted_envs() -> list[str]:
    return [name for name in SCRIPTED_ENVS if not family(name).missing_engine()]


class ScriptedToolPolicy:
    """A local policy that writes the expert's next call in the Hermes text form, finding the
    task by the first observation (third message) and the step by the replies so far."""

    def __init__(self, scripts):
        self.scripts = scripts

    def generate(self, prompts, **settings):
        assert "tools" not in settings  # a local model reads its tools in the instruction
        replies = []
        for messages in prompts:
            assert "<tool_call>" in messages[0]["content"] and "Action:" not in messages[0]["content"]
            step = sum(message["role"] == "assistant" for message in messages[3:])
            thought, name, arguments = self.scripts[messages[2]["content"]][step]
            replies.append(format_tool_call(name, arguments, thought))
        return replies


def test_a_local_policy_plays_the_expert_in_the_tool_format(expert_scripts):
    from agentgym_rl.evaluate import evaluate
    from agentgym_rl.rollout import RolloutConfig

    scripts, outcomes = expert_scripts
    config = RolloutConfig(concurrency=4, action_format="tools")
    _, records = evaluate(
        ScriptedToolPolicy(scripts), scripted_envs(), limit=SCRIPTED_TASKS, config=config, progress=False
    )
    assert {r["item_id"]: (r["reward"], r["success"]) for r in records} == outcomes
    assert any(success for _, success in outcomes.values())
    replies = [t["value"] for r in records for t in r["conversations"] if t["from"] == "gpt" and t["loss"]]
    assert replies and all(parse_tool_calls(reply)[1] for reply in replies)


class ToolCallingModel:
    """The fake OpenAI server's answer: the expert's next call as OpenAI ``tool_calls``. It checks
    what a tool-calling API is sent: the env's tools, and every earlier call answered by a
    ``tool`` message with its id; anything else is noted in ``problems``."""

    def __init__(self, scripts):
        self.scripts = scripts
        self.problems: list[str] = []

    def __call__(self, body: dict) -> dict:
        messages = body["messages"]
        calls = self.scripts[messages[2]["content"]]
        if body.get("parallel_tool_calls") is not False or not body.get("tools"):
            self.problems.append("no tools, or parallel calls allowed")
        made = 0
        for index, message in enumerate(messages):
            if message["role"] == "assistant" and message.get("tool_calls"):
                (call,) = message["tool_calls"]
                answer = messages[index + 1] if index + 1 < len(messages) else {}
                if answer.get("role") != "tool" or answer.get("tool_call_id") != call["id"]:
                    self.problems.append(f"call {call['id']} is not answered by a tool message")
                _, name, arguments = calls[made]
                if call["function"] != {"name": name, "arguments": json.dumps(arguments, ensure_ascii=False)}:
                    self.problems.append(f"call {made} came back changed: {call['function']}")
                made += 1
        tool_names = [tool["function"]["name"] for tool in body["tools"]]
        thought, name, arguments = calls[made]
        if name not in tool_names:
            self.problems.append(f"{name} is not among the tools sent: {tool_names}")
        call = {
            "id": f"call-{made}",
            "type": "function",
            "function": {"name": name, "arguments": json.dumps(arguments)},
        }
        return {"role": "assistant", "content": thought, "tool_calls": [call]}


def test_agentgym_eval_api_plays_expert_tool_calls(expert_scripts, tmp_path, monkeypatch):
    """``agentgym eval --api_base ... --action_format tools`` against the fake OpenAI server
    answering with the expert's tool calls (its faults and retries are test_api_eval's)."""
    pytest.importorskip("httpx")
    pytest.importorskip("uvicorn")
    from fake_openai import FakeOpenAI

    from agentgym_rl.cli import main

    scripts, outcomes = expert_scripts
    model = ToolCallingModel(scripts)
    server = FakeOpenAI(faults=False, script=model)
    url = server.start()
    monkeypatch.setenv("AGENTGYM_TEST_KEY", "sk-test")
    out = tmp_path / "results.json"
    argv = ["eval", "--api_base", url, "--model", "fake-model", "--api_key_env", "AGENTGYM_TEST_KEY"]
    argv += ["--envs", *scripted_envs(), "--limit", str(SCRIPTED_TASKS), "--action_format", "tools"]
    argv += ["--out", str(out), "--quiet"]
    try:
        assert main(argv) == 0
    finally:
        server.stop()
    assert model.problems == []
    records = [json.loads(line) for line in out.with_suffix(".episodes.jsonl").read_text().splitlines()]
    assert {r["item_id"]: (r["reward"], r["success"]) for r in records} == outcomes
    assert all("error" not in r for r in records) and server.served == sum(map(len, scripts.values()))
    results = json.loads(out.read_text())
    for env_id in map(agentgym_envs.resolve_env_id, scripted_envs()):
        expected = [
            success
            for item, (_, success) in outcomes.items()
            if item.startswith(family(env_id).item_prefix + "_")
        ]
        assert results[env_id]["success_rate"] == pytest.approx(sum(expected) / len(expected))


def test_agentgym_eval_runs_a_local_model_in_the_tool_format(tiny_policy_dir, tmp_path):
    """An untrained model makes no good call: every reply is explained, nothing raises."""
    from agentgym_rl.cli import main

    out = tmp_path / "tiny.json"
    argv = [
        "eval",
        "--model",
        str(tiny_policy_dir),
        "--envs",
        "maze",
        "--limit",
        "1",
        "--max_new_tokens",
        "8",
    ]
    assert main([*argv, "--action_format", "tools", "--max_rounds", "2", "--quiet", "--out", str(out)]) == 0
    (record,) = [json.loads(line) for line in out.with_suffix(".episodes.jsonl").read_text().splitlines()]
    assert "<tool_call>" in record["conversations"][0]["value"]
    assert "Invalid response format" in record["conversations"][4]["value"]
