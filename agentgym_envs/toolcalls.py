"""Every env's actions as tools: names, typed parameters (JSON schema) and the text action a call stands for.

A tool-calling agent (an API model with OpenAI ``tools``, TRL's ``GRPOTrainer(environment_factory=...)``,
an MCP client) calls ``move(direction="up")``; the env takes the text action ``move up``. A family
declares its tools once, in its env class (:meth:`agentgym_envs.core.TextEnv.action_tools`), each a
:class:`ToolSpec` whose ``action`` template (or function) writes the env's own action from the
call's arguments. Families whose actions are free text commands (ALFWorld, SciWorld, BabyAI,
TextWorld, TWX) keep TextEnv's default: one ``act(command)`` tool whose description is the
family's action grammar::

    from agentgym_envs.toolcalls import toolset

    tools = toolset("AgentGym/Maze-v0")
    tools.openai()                              # [{"type": "function", "function": {...}}]
    tools.action("move", {"direction": "up"})   # "move up"
    tools.action("move", {"way": "up"})         # raises ToolCallError: says what is wrong
    tools.call_for("move up")                   # ("move", {"direction": "up"})

The call becomes an ordinary text action, so the env checks and explains it as it does any other:
a tool call never reaches an engine by another road. A bad call (unknown tool, missing, unknown
or wrongly typed argument, a value outside the allowed ones) raises :class:`ToolCallError`, whose
message is written for the model.

This module imports no env family (only :func:`toolset` loads the family's class), so it can be
used where the tool list is all that is needed: OpenEnv's MCP route, an API request.
"""

from __future__ import annotations

import functools
import json
import operator
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# JSON-schema type name -> the Python annotation TRL (through transformers' get_json_schema)
# turns back into that type.
PYTHON_TYPES: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "array": list,
    "object": dict,
    "null": None,
}
_VALUE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, (list, tuple)),
    "object": lambda v: isinstance(v, dict),
    "null": lambda v: v is None,
}
_TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "an object",
    "null": "null",
}
_TRUE, _FALSE = frozenset({"1", "true", "yes"}), frozenset({"0", "false", "no"})
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_SHOWN = 60  # characters of a rejected value quoted back to the model


class ToolCallError(ValueError):
    """A tool call that names no tool or whose arguments do not fit it; the message says why."""


@dataclass(frozen=True)
class ToolParam:
    """One argument of a tool.

    ``type``: a JSON-schema type name (``"string"``, ``"integer"``, ``"number"``, ``"boolean"``,
    ``"array"``, ``"object"``), a tuple of them, or None for any value. ``enum``: the allowed
    values, if only a few are. ``items``: the type of an array's items. An optional argument
    (``required=False``) left out takes ``default``; with ``default`` None it stays left out."""

    name: str
    type: str | tuple[str, ...] | None
    description: str
    required: bool = True
    enum: tuple[Any, ...] = ()
    items: str | None = None
    default: Any = None

    def __post_init__(self) -> None:
        unknown = [kind for kind in self.kinds if kind not in PYTHON_TYPES]
        if unknown or (self.items is not None and self.items not in PYTHON_TYPES):
            raise ValueError(f"{self.name}: unknown JSON type(s) {unknown or [self.items]}")

    @property
    def kinds(self) -> tuple[str, ...]:
        return () if self.type is None else (self.type,) if isinstance(self.type, str) else self.type

    def schema(self) -> dict[str, Any]:
        """The parameter's JSON schema, as OpenAI's ``tools`` and MCP's ``inputSchema`` want it."""
        schema: dict[str, Any] = {}
        if self.kinds:
            schema["type"] = self.kinds[0] if len(self.kinds) == 1 else list(self.kinds)
        if self.items is not None:
            schema["items"] = {"type": self.items}
        if self.enum:
            schema["enum"] = list(self.enum)
        schema["description"] = self.description
        if not self.required and self.default is not None:
            schema["default"] = self.default
        return schema

    def annotation(self) -> Any:
        """The Python type hint that says the same (``list[str]``, ``int | None``, ``Any``)."""
        if not self.kinds:
            return Any
        hints = [
            list[PYTHON_TYPES[self.items]] if k == "array" and self.items else PYTHON_TYPES[k]
            for k in self.kinds
        ]
        hint = functools.reduce(operator.or_, hints)
        return hint if self.required or self.default is not None else hint | None

    def check(self, tool: str, value: Any) -> Any:
        """``value`` if it fits (integral floats pass as integers, ints as numbers), else a ToolCallError."""
        for kind in self.kinds or (None,):
            if kind is None or _VALUE_CHECKS[kind](value):
                break
            if kind == "integer" and isinstance(value, float) and value.is_integer():
                value = int(value)
                break
        else:
            wanted = " or ".join(_TYPE_WORDS[kind] for kind in self.kinds)
            raise ToolCallError(
                f"the argument '{self.name}' of {tool} should be {wanted}, not {_shown(value)}."
            )
        if isinstance(value, (list, tuple)):
            value = list(value)
            if self.items is not None and not all(_VALUE_CHECKS[self.items](item) for item in value):
                raise ToolCallError(
                    f"the argument '{self.name}' of {tool} should be a list of {self.items} values."
                )
        if self.enum and value not in self.enum:
            allowed = ", ".join(json.dumps(choice) for choice in self.enum)
            raise ToolCallError(
                f"the argument '{self.name}' of {tool} is one of {allowed}; got {_shown(value)}."
            )
        return value

    def from_text(self, text: str) -> Any:
        """The value a piece of a text action stands for, or ValueError (the inverse of :func:`_as_text`)."""
        for kind in self.kinds or ("string",):
            if kind == "integer" and re.fullmatch(r"[+-]?\d+", text.strip()):
                return self.check("", int(text))
            if kind == "number":
                try:
                    return self.check("", float(text))
                except (ValueError, ToolCallError):
                    continue
            if kind == "boolean" and text.strip().lower() in _TRUE | _FALSE:
                return text.strip().lower() in _TRUE
            if kind == "array":
                return self.check("", [part.strip() for part in text.split(",") if part.strip()])
            if kind == "string":
                return self.check("", text)
        raise ValueError(f"{text!r} is no {self.kinds}")


@dataclass(frozen=True)
class ToolSpec:
    """One tool: what it is called, what it does, its parameters and the env action it stands for.

    ``action`` is a template filled with the checked arguments (``"move {direction}"``; a boolean
    is written 1 or 0, a list joined with ", ") or a function of them. ``parse`` turns an env
    action back into the call's arguments (None when the action is not this tool's); by default
    the template is read backwards, so it is needed only with an ``action`` function."""

    name: str
    description: str
    params: tuple[ToolParam, ...] = ()
    action: str | Callable[[dict[str, Any]], str] = ""
    parse: Callable[[str], dict[str, Any] | None] | None = None

    def __post_init__(self) -> None:
        if not _FIELD_NAME.fullmatch(self.name):
            raise ValueError(f"a tool name is an identifier, got {self.name!r}")
        if isinstance(self.action, str):
            fields = {name for _, name, _, _ in string.Formatter().parse(self.action) if name is not None}
            if fields != {p.name for p in self.params}:
                raise ValueError(f"{self.name}: the template {self.action!r} must use each parameter once")

    def json_schema(self) -> dict[str, Any]:
        """OpenAI's ``{"type": "function", "function": {...}}`` for this tool."""
        parameters = {
            "type": "object",
            "properties": {p.name: p.schema() for p in self.params},
            "required": [p.name for p in self.params if p.required],
        }
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": parameters},
        }

    def check(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """The arguments with defaults filled in, or a ToolCallError that says which one is wrong."""
        reject_unknown_arguments(self.name, [p.name for p in self.params], arguments)
        checked = {}
        for param in self.params:
            value = arguments.get(param.name)
            if value is None and not param.required:
                if param.default is not None:
                    checked[param.name] = param.default
                continue
            if param.name not in arguments:
                raise ToolCallError(f"{self.name} is missing the required argument '{param.name}'.")
            checked[param.name] = param.check(self.name, value)
        return checked

    def to_action(self, arguments: Mapping[str, Any]) -> str:
        """The env's text action for a call with these arguments (checked first)."""
        checked = self.check(arguments)
        if callable(self.action):
            return self.action(checked)
        return self.action.format(**{name: _as_text(value) for name, value in checked.items()})

    def arguments_of(self, action: str) -> dict[str, Any] | None:
        """The arguments of the call that writes ``action``, or None if this tool does not."""
        if self.parse is not None:
            return self.parse(action)
        match = _template_pattern(self.action).fullmatch(action.strip())
        if match is None:
            return None
        params = {p.name: p for p in self.params}
        try:
            return {name: params[name].from_text(text) for name, text in match.groupdict().items()}
        except (ValueError, ToolCallError):
            return None

    def describe(self) -> str:
        """The tool as one JSON line, for a prompt that lists tools in text."""
        return json.dumps(self.json_schema()["function"], ensure_ascii=True)


def reject_unknown_arguments(tool: str, known: list[str], arguments: Mapping[str, Any]) -> None:
    """A ToolCallError naming the arguments ``tool`` does not take, if any."""
    unknown = [str(name) for name in arguments if name not in known]
    if unknown:
        takes = ", ".join(sorted(known)) or "none"
        raise ToolCallError(f"{tool} does not take the argument(s) {', '.join(unknown)}; it takes: {takes}.")


class Toolset(tuple):
    """The tools of one env (a tuple of :class:`ToolSpec`), looked up by name."""

    def __new__(cls, tools) -> Toolset:
        tools = tuple(tools)
        names = [tool.name for tool in tools]
        if len(set(names)) != len(names) or not names:
            raise ValueError(f"an env's tools need distinct names, got {names}")
        return super().__new__(cls, tools)

    @property
    def names(self) -> list[str]:
        return [tool.name for tool in self]

    def get(self, name: str) -> ToolSpec:
        for tool in self:
            if tool.name == name:
                return tool
        raise ToolCallError(f"there is no tool {_shown(name)}; the tools are {', '.join(self.names)}.")

    def action(self, name: Any, arguments: Any) -> str:
        """The env's text action for the call ``name(**arguments)``; ``arguments`` may be a JSON
        object or its text (as OpenAI sends it). Raises :class:`ToolCallError` for a bad call."""
        if not isinstance(name, str):
            raise ToolCallError(f"a tool call names its tool with a string, not {_shown(name)}.")
        tool = self.get(name)
        if arguments is None or arguments == "":
            arguments = {}
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except ValueError:
                raise ToolCallError(
                    f"the arguments of {name} are not valid JSON: {_shown(arguments)}."
                ) from None
        if not isinstance(arguments, Mapping):
            raise ToolCallError(
                f"the arguments of {name} are an object of named values, not {_shown(arguments)}."
            )
        return tool.to_action(arguments)

    def call_for(self, action: str) -> tuple[str, dict[str, Any]] | None:
        """The call that writes the text action ``action`` (the first tool that does), or None."""
        for tool in self:
            arguments = tool.arguments_of(action)
            if arguments is not None:
                return tool.name, arguments
        return None

    def openai(self) -> list[dict[str, Any]]:
        """The ``tools`` list of an OpenAI chat request."""
        return [tool.json_schema() for tool in self]


def command_tool(grammar: str) -> ToolSpec:
    """The one tool of an env whose actions are free text commands: ``act(command)``."""
    description = f"Do one action in the environment: a text command. {grammar}".strip()
    command = ToolParam("command", "string", "one command, as the grammar above says")
    return ToolSpec("act", description, (command,), "{command}")


def toolset(env: Any) -> Toolset:
    """The tools of an env, given as an id or name (``"maze"``, ``"AgentGym/Maze-v0"``), its
    class or an instance (wrapped or not). Loading a family's class needs its engine."""
    if isinstance(env, str):
        from agentgym_envs.registration import env_class

        cls = env_class(env)
    elif isinstance(env, type):
        cls = env
    else:
        cls = type(getattr(env, "unwrapped", env))
    return _toolset_of(cls)


@functools.cache
def _toolset_of(cls: type) -> Toolset:
    return Toolset(cls.action_tools())


@functools.cache
def _template_pattern(template: str) -> re.Pattern:
    """``"get {count} {item}"`` -> a pattern whose named groups read the fields back."""
    parts = []
    for literal, name, _, _ in string.Formatter().parse(template):
        parts.append(re.escape(literal))
        if name is not None:
            parts.append(f"(?P<{name}>.*?)")
    return re.compile("".join(parts), re.DOTALL | re.IGNORECASE)


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=True, default=repr) if not isinstance(value, str) else repr(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


__all__ = ["ToolCallError", "ToolParam", "ToolSpec", "Toolset", "command_tool", "toolset"]
