"""Action formats: how a model's reply becomes an env command.

Envs take plain commands (``move up``). Models answer in AgentGym's ReAct format::

    Thought:
    The goal is below me and the way down is open.

    Action:
    move down

:func:`parse_react` pulls the command out of such a reply; :func:`format_react` writes one.
A reply without a usable ``Action:`` becomes a :class:`MalformedAction`, which an env answers
with an observation that explains the expected format instead of raising.

Beside ReAct there is a tool-calling format: the env's actions are tools
(:mod:`agentgym_envs.toolcalls`) and the reply carries one call, as Hermes/Qwen chat templates
write it (an API model's OpenAI ``tool_calls`` are turned into the same text)::

    I should head down, towards the goal.
    <tool_call>
    {"name": "move", "arguments": {"direction": "down"}}
    </tool_call>

Each format is an :class:`ActionFormat` (:data:`ACTION_FORMATS`, picked by name with
:func:`action_format`): what the instruction tells the model, how a reply becomes the env's
command, and how the expert's action is written as a reply.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from agentgym_envs.toolcalls import ToolCallError, toolset

REACT_FORMAT_HELP = (
    "Your response should use the following format:\n\n"
    "Thought:\n<your thoughts>\n\n"
    "Action:\n<your next action>"
)

# Markdown bold ("**Action:**") is common in model replies, so asterisks around the marker are allowed.
_ACTION = re.compile(r"(?:^|\n)[ \t]*\**action\**[ \t]*:\**[ \t]*", re.IGNORECASE)
_THOUGHT = re.compile(r"^\s*\**thought\**\s*:\**\s*", re.IGNORECASE)


class MalformedAction(str):
    """A model reply that holds no usable action; ``reason`` says why.

    It is a ``str`` so it passes through every Gymnasium wrapper (and counts against the
    step limit, as a wasted round does in AgentGym) before the env explains the problem."""

    reason: str

    def __new__(cls, text: str, reason: str) -> MalformedAction:
        obj = super().__new__(cls, text)
        obj.reason = reason
        return obj

    def __reduce__(self):  # keeps the reason across processes (vector envs, Ray workers)
        return MalformedAction, (str(self), self.reason)


class ActionFormatError(ValueError):
    """The reply is not in the expected format."""


def parse_react(reply: str) -> tuple[str, str]:
    """Split a ReAct reply into ``(thought, action)``.

    The action is the first non-empty line after the last ``Action:`` marker, or, when that line
    opens a fenced block (AgentGym's SQL replies: an sql-fenced query over several lines), the
    whole block with its fences. A thought is optional. Raises :class:`ActionFormatError` with a
    message meant for the model."""
    if not isinstance(reply, str):
        raise ActionFormatError(f"the reply must be text, got {type(reply).__name__}.")
    markers = list(_ACTION.finditer(reply))
    if not markers:
        raise ActionFormatError(f"no 'Action:' line was found. {REACT_FORMAT_HELP}")
    last = markers[-1]
    after = reply[last.end() :].strip()
    action = (
        _fenced_block(after) if after.startswith("```") else (after.splitlines()[0].strip() if after else "")
    )
    if not action:
        raise ActionFormatError(f"'Action:' is followed by nothing. {REACT_FORMAT_HELP}")
    thought = _THOUGHT.sub("", reply[: last.start()]).strip()
    return thought, action


def _fenced_block(text: str) -> str:
    """``text`` up to and including the fence that closes its opening fence (all of it if none
    does)."""
    closing = text.find("```", 3)
    return text if closing == -1 else text[: closing + 3]


def to_command(reply: str) -> str:
    """The env command in a ReAct reply, or a :class:`MalformedAction` that explains the fault."""
    try:
        return parse_react(reply)[1]
    except ActionFormatError as err:
        return MalformedAction(reply if isinstance(reply, str) else "", str(err))


def format_react(thought: str, action: str) -> str:
    """The ReAct text AgentGym's trajectories use for one assistant turn."""
    return f"Thought:\n{thought}\n\nAction:\n{action}"


# ------------------------------------------------------------------------------ tool calls
# A call written in a reply (Hermes/Qwen's convention); a reply cut off before the closing tag
# still counts, so a token budget that ends just after the JSON loses nothing.
_TOOL_CALL = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|\Z)", re.DOTALL)
TOOL_CALL_HELP = (
    "Act by calling one of the tools below, one call per turn, written at the end of your reply as\n"
    '<tool_call>\n{"name": <tool name>, "arguments": <the arguments as a JSON object>}\n</tool_call>\n'
    "You may think before the call. Each call is one action; its result is the next observation."
)
NATIVE_TOOL_HELP = (
    "Act by calling the tools you are given, one tool call per turn. Each call is one action; its "
    "result is the next observation."
)


def format_tool_call(name: str, arguments: dict[str, Any], thought: str = "") -> str:
    """A reply that makes one tool call, in the Hermes/Qwen text form."""
    call = json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
    return f"{thought.strip()}\n<tool_call>\n{call}\n</tool_call>".lstrip()


def parse_tool_calls(reply: str) -> tuple[str, list[tuple[Any, Any]]]:
    """Split a reply into ``(text before the first call, [(name, arguments), ...])``. Raises
    :class:`ActionFormatError` when a call is not a JSON object with a ``name``."""
    if not isinstance(reply, str):
        raise ActionFormatError(f"the reply must be text, got {type(reply).__name__}.")
    calls = []
    for block in _TOOL_CALL.finditer(reply):
        try:
            call = json.loads(block.group(1))
        except ValueError:
            raise ActionFormatError(
                'a tool call is not valid JSON; write {"name": <tool name>, "arguments": {...}}.'
            ) from None
        if not isinstance(call, dict) or "name" not in call:
            raise ActionFormatError('a tool call is a JSON object with "name" and "arguments".')
        calls.append((call["name"], call.get("arguments", call.get("parameters", {}))))
    start = reply.find("<tool_call>")
    return (reply if start == -1 else reply[:start]).strip(), calls


class ActionFormat:
    """How a model's reply carries its action (ReAct text, a tool call), what the instruction
    says about it, and how an expert action is written as a reply.

    ``native_tools``: the tools go to the model in the request (OpenAI's ``tools``) and come back
    as ``tool_calls``, which the API policy writes into the reply as :func:`format_tool_call` does."""

    name = ""
    native_tools = False

    def instruction(self, env_id: str, instruction: str) -> str:
        """The first prompt, from the env's own (ReAct) instruction."""
        return instruction

    def to_command(self, env_id: str, reply: str) -> str:
        """The env command in a reply, or a :class:`MalformedAction` that explains the fault."""
        raise NotImplementedError

    def expert_reply(self, env_id: str, thought: str, action: str) -> str:
        """An assistant turn, in this format, that takes the env action ``action``."""
        raise NotImplementedError

    def request_tools(self, env_id: str) -> list[dict[str, Any]] | None:
        """OpenAI's ``tools`` for a request, where the model calls them natively."""
        return None


class ReActFormat(ActionFormat):
    """AgentGym's ``Thought: ... Action: ...``."""

    name = "react"

    def to_command(self, env_id: str, reply: str) -> str:
        return to_command(reply)

    def expert_reply(self, env_id: str, thought: str, action: str) -> str:
        return format_react(thought, action)


class ToolCallFormat(ActionFormat):
    """One tool call per reply; the env's tools (:func:`agentgym_envs.toolcalls.toolset`) are
    listed in the instruction (text form) or sent with the request (``native_tools``)."""

    name = "tools"

    def __init__(self, native_tools: bool = False):
        self.native_tools = native_tools

    def instruction(self, env_id: str, instruction: str) -> str:
        return _tool_instruction(env_id, instruction, self.native_tools)

    def to_command(self, env_id: str, reply: str) -> str:
        try:
            _, calls = parse_tool_calls(reply)
            if not calls:
                raise ActionFormatError(f"the reply calls no tool. {self._how_to_call}")
            if len(calls) > 1:
                raise ActionFormatError(f"the reply makes {len(calls)} tool calls; make one per turn.")
            return toolset(env_id).action(*calls[0])
        except (ActionFormatError, ToolCallError) as err:
            return MalformedAction(reply if isinstance(reply, str) else "", str(err))

    @property
    def _how_to_call(self) -> str:
        if self.native_tools:
            return "Call one of the tools you are given."
        return 'Write one call as <tool_call>\n{"name": <tool name>, "arguments": {...}}\n</tool_call>'

    def expert_reply(self, env_id: str, thought: str, action: str) -> str:
        call = toolset(env_id).call_for(action)
        if call is None:
            raise ValueError(f"no tool of {env_id} writes the action {action!r}")
        return format_tool_call(*call, thought=thought)

    def request_tools(self, env_id: str) -> list[dict[str, Any]] | None:
        return toolset(env_id).openai() if self.native_tools else None


ACTION_FORMATS = ("react", "tools")


def action_format(name: str, native_tools: bool = False) -> ActionFormat:
    """The format called ``name`` (one of :data:`ACTION_FORMATS`); ``native_tools`` for a policy
    that takes OpenAI ``tools`` (an API model) rather than reading them in the instruction."""
    if name == "react":
        return ReActFormat()
    if name == "tools":
        return ToolCallFormat(native_tools)
    raise ValueError(f"unknown action format {name!r}; known: {', '.join(ACTION_FORMATS)}")


@lru_cache(maxsize=256)
def _tool_instruction(env_id: str, instruction: str, native: bool) -> str:
    """The env's instruction with its ReAct ending (action grammar and answer format) swapped
    for how to call its tools: the tools' descriptions carry the grammar now."""
    from agentgym_envs.registration import env_class

    task = instruction.removesuffix(REACT_FORMAT_HELP).rstrip()
    task = task.removesuffix(env_class(env_id).action_help).rstrip()
    if native:
        return f"{task}\n\n{NATIVE_TOOL_HELP}"
    listing = "\n".join(tool.describe() for tool in toolset(env_id))
    return f"{task}\n\n{TOOL_CALL_HELP}\n\n<tools>\n{listing}\n</tools>"


# ------------------------------------------------------------------------------ OpenAI messages
def reply_from_openai(message: dict[str, Any]) -> str | None:
    """An OpenAI assistant message as one reply text: its content, then each of its
    ``tool_calls`` written as :func:`format_tool_call` does. None when it holds neither text
    (an empty text is a reply) nor calls; a TypeError when it is no message at all."""
    if not isinstance(message, dict):
        raise TypeError(f"a message is an object, got {type(message).__name__}")
    content = message.get("content")
    calls = message.get("tool_calls") or []
    if not calls:
        return content if isinstance(content, str) else None
    parts = [content.strip()] if isinstance(content, str) and content.strip() else []
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            raise TypeError("a tool call has no function object")
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except ValueError:
                pass  # left as text: the format says the arguments are not JSON
        parts.append(format_tool_call(function.get("name"), arguments))
    return "\n".join(parts)


def to_openai_messages(messages: list[dict[str, str]]) -> list[dict[str, Any]]:
    """A rollout's chat (tool calls written in assistant text, observations as user turns) as
    OpenAI messages: an assistant turn that makes tool calls gets ``tool_calls``, and the
    observation after it answers them as ``tool`` messages (the first call gets the observation;
    any other is told it was not run)."""
    out: list[dict[str, Any]] = []
    pending: list[str] = []  # ids of the last assistant turn's calls, answered by the next user turn
    for index, message in enumerate(messages):
        if message["role"] == "user" and pending:
            out.append({"role": "tool", "tool_call_id": pending[0], "content": message["content"]})
            skipped = "Not run: one tool call per turn."
            out += [{"role": "tool", "tool_call_id": other, "content": skipped} for other in pending[1:]]
            pending = []
            continue
        calls = []
        if message["role"] == "assistant":
            try:
                calls = parse_tool_calls(message["content"])[1]
            except ActionFormatError:
                calls = []  # kept as text: the env's reply explains what was wrong
        if not calls:
            out.append(dict(message))
            continue
        pending = [f"call_{index}_{number}" for number in range(len(calls))]
        out.append(
            {
                "role": "assistant",
                "content": parse_tool_calls(message["content"])[0] or None,
                "tool_calls": [
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {"name": str(name), "arguments": _json(args)},
                    }
                    for call_id, (name, args) in zip(pending, calls)
                ],
            }
        )
    return out


def _json(arguments: Any) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
