"""Tool calls: every id's tools, bad calls, and the expert played through tool calls (in process,
as TRL calls them, in the Hermes text form and from an OpenAI-style API) ends as with text actions."""

from __future__ import annotations

import json
import re

import gymnasium as gym
import pytest

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
        ("move", {"direction": "up", "speed": 2}, "no argument 'speed'"),
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
        (format_tool_call("move", {"way": "up"}), "no argument 'way'"),
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
