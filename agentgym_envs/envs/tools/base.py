"""What every tool-calling env shares: tool schemas, reply parsing, argument checks, answer matching.

AgentGym's tool envs (``agentenv-tool``) take replies of the form::

    Action: get_tasks with Action Input: {"project_id": "2200001013"}

and ``eval`` the text after ``Action Input:``. Here it is parsed as JSON, or failing that with
:func:`ast.literal_eval` (AgentGym's own examples write Python dict literals with single quotes),
so model text is never run as code. A reply that names no tool, an unknown tool, arguments that
are not an object, a missing or wrongly typed argument: each comes back as an ``ERROR | ...``
observation saying which, and the episode goes on.

Observations are AgentGym's texts: the first is ``Now new trial starts.\\nYou should perform
actions to accomplish the goal: <goal>\\nGive me one action.`` and every tool result is
``Observation: <result>\\nGive me one action.``, the result printed as Python prints it (as
AgentGym's servers do with ``str(...)``).

A family subclasses :class:`ToolEnv` (or :class:`AnswerToolEnv` when ``finish`` is scored on the
answer alone), lists its :class:`Tool` schemas, gives each episode a ``toolkit`` with one method
per tool, and scores ``finish``. Its expert is a plan of tool calls made when the task starts
(:class:`PlanStep`, written with a :class:`Planner` for generated tasks); ``expert()`` returns the
next step not yet taken.
"""

from __future__ import annotations

import ast
import functools
import json
import math
import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any, ClassVar

from agentgym_envs.core import Outcome, TextEnv
from agentgym_envs.toolcalls import ToolCallError, ToolParam, ToolSpec, reject_unknown_arguments

# "Action: <tool> with Action Input: <arguments>"; the "Action:" marker is optional because the
# ReAct wrapper passes on only what follows it.
_CALL = re.compile(
    r"^(?:.*?\baction\s*:\s*)?(.*?)\s+with\s+action\s+input\s*:\s*(.*)$", re.IGNORECASE | re.DOTALL
)
_TOOL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REGEX_LITERAL = re.compile(r"^re\.compile\((.*)\)$", re.DOTALL)
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")

FORMAT_HELP = (
    "Call one tool per turn, written as: <tool name> with Action Input: <arguments as a JSON "
    "object>, for example: check_valid_actions with Action Input: {}. Give every required "
    "argument; call finish when you are done."
)

# JSON-schema type name -> Python types that satisfy it (bool is not a number here).
_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "array": (list, tuple),
    "boolean": (bool,),
    "object": (dict,),
}


class ToolError(Exception):
    """A tool call that cannot be carried out; the message is shown to the agent."""


@dataclass(frozen=True)
class Param:
    """One argument of a tool. ``type`` is a JSON-schema type name, a tuple of them, or None (any)."""

    name: str
    type: str | tuple[str, ...] | None
    description: str
    required: bool = True


@dataclass(frozen=True)
class Tool:
    """A tool as AgentGym's ``prompts/<env>_raw.json`` lists it: name, parameters, what it returns."""

    name: str
    description: str
    params: tuple[Param, ...] = ()
    returns: str = ""

    def describe(self) -> str:
        """One line of the instruction's tool list."""
        args = ", ".join(
            f"{p.name}: {_type_name(p.type)}{'' if p.required else ' (optional)'} - {p.description}"
            for p in self.params
        )
        returns = f" Returns {self.returns}" if self.returns else ""
        return f"- {self.name}({args}): {self.description}{returns}"

    def spec(self) -> ToolSpec:
        """The tool for tool-calling agents: a call writes AgentGym's action text for it."""
        params = tuple(ToolParam(p.name, p.type, p.description, p.required) for p in self.params)
        description = f"{self.description} Returns {self.returns}" if self.returns else self.description
        action = functools.partial(format_call, self.name)
        return ToolSpec(self.name, description, params, action, self._arguments_of)

    def _arguments_of(self, action: str) -> dict[str, Any] | None:
        try:
            name, args = parse_call(action)
        except ToolError:
            return None
        return args if name == self.name else None


def _type_name(kind: str | tuple[str, ...] | None) -> str:
    if kind is None:
        return "any"
    return kind if isinstance(kind, str) else " | ".join(kind)


CHECK_VALID_ACTIONS = Tool(
    "check_valid_actions", "Lists the names of the tools you can call here.", returns="a list of tool names."
)
FINISH_WITH_ANSWER = Tool(
    "finish",
    "Ends the task with your final answer. For a task that asks you to change something, answer 'done'.",
    (Param("answer", ("string", "number", "array"), "the answer: text, a number or a list"),),
)


@dataclass(frozen=True)
class PlanStep:
    """One move of a scripted expert: why, which tool, with what."""

    thought: str
    tool: str
    args: dict[str, Any] = field(default_factory=dict)

    @cached_property  # plans are replayed many times: write the action text once
    def action(self) -> str:
        return format_call(self.tool, self.args)


def format_call(tool: str, args: dict[str, Any]) -> str:
    """The action text for a call, in AgentGym's format with JSON arguments."""
    return f"{tool} with Action Input: {json.dumps(args, ensure_ascii=True)}"


# ------------------------------------------------------------------------------ parsing
def parse_call(text: str) -> tuple[str, dict[str, Any]]:
    """``"<tool> with Action Input: <args>"`` -> ``(tool, args)``; raises :class:`ToolError`."""
    match = _CALL.match(text.strip())
    if not match:
        raise ToolError(
            "the action is not in the expected format. Write: <tool name> with Action Input: "
            "<arguments as a JSON object>."
        )
    name, raw = match.group(1).strip().strip("`'\""), match.group(2).strip()
    if not _TOOL_NAME.match(name):
        raise ToolError(f"{name[:60]!r} is not a tool name.")
    return name, parse_arguments(raw)


def parse_arguments(raw: str) -> dict[str, Any]:
    """JSON first, then a Python literal (never evaluated as code); must be a dict."""
    raw = raw.strip().strip("`").strip()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            raise ToolError(
                "the Action Input is not valid JSON (nor a Python literal). Give the arguments as "
                'a JSON object, e.g. {"name": "value"}.'
            ) from None
    if not isinstance(value, dict):
        raise ToolError(
            f"the Action Input must be an object of named arguments, not a {type(value).__name__}."
        )
    return value


def check_arguments(tool: Tool, args: dict[str, Any]) -> dict[str, Any]:
    """Check names and types against the tool's schema; returns the arguments with lenient
    coercions AgentGym's own tools make (``"7"`` for an integer, ``"[[1]]"`` for an array)."""
    try:
        reject_unknown_arguments(tool.name, [p.name for p in tool.params], args)
    except ToolCallError as error:
        raise ToolError(str(error)) from None
    checked = {}
    for param in tool.params:
        if param.name not in args:
            if param.required:
                raise ToolError(f"{tool.name} is missing the required argument '{param.name}'.")
            continue
        checked[param.name] = _coerce(tool.name, param, args[param.name])
    return checked


def _coerce(tool: str, param: Param, value: Any) -> Any:
    if param.type is None:
        return value
    kinds = (param.type,) if isinstance(param.type, str) else param.type
    for kind in kinds:
        if kind == "null" and value is None:
            return value
        types = _PY_TYPES.get(kind)
        if types and isinstance(value, types) and not (isinstance(value, bool) and kind != "boolean"):
            return list(value) if kind == "array" else value
    for kind in kinds:  # AgentGym's tools convert these themselves (int(x), eval of a list)
        converted = _convert(kind, value)
        if converted is not None:
            return converted
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    raise ToolError(f"the argument '{param.name}' of {tool} should be {_type_name(param.type)}, not {shown}.")


def _convert(kind: str, value: Any) -> Any:
    if kind == "integer" and isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, str):
        return (
            str(value)
            if kind == "string" and isinstance(value, (int, float)) and not isinstance(value, bool)
            else None
        )
    text = value.strip()
    if kind == "integer" and re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    if kind == "number":
        number = to_number(text)
        return number
    if kind == "array" and text.startswith("["):
        try:
            parsed = ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return None
        return list(parsed) if isinstance(parsed, (list, tuple)) else None
    return None


# ------------------------------------------------------------------------------ answers
def to_number(value: Any) -> float | None:
    """A number from an int, a float or numeric text; None otherwise (bools are not numbers)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        return _number_in_text(value)
    return None


@lru_cache(maxsize=1 << 16)  # sheet scoring asks about the same cell texts over and over
def _number_in_text(value: str) -> float | None:
    text = value.strip().replace(",", "")
    return float(text) if _NUMBER.fullmatch(text) else None


def _text(value: Any) -> str:
    return " ".join(str(value).strip().strip("'\"").rstrip(".").split()).casefold()


def scalars_match(given: Any, expected: Any) -> bool:
    """Numbers within a small tolerance, text ignoring case, surrounding quotes and spacing."""
    a, b = to_number(given), to_number(expected)
    if a is not None and b is not None:
        return math.isclose(a, b, rel_tol=1e-3, abs_tol=1e-2)
    return _text(given) == _text(expected)


def answers_match(given: Any, expected: Any) -> bool:
    """AgentGym's answer check, a little more forgiving of form: a list answer matches as a set
    (AgentGym sorts both), scalars as :func:`scalars_match`."""
    if isinstance(expected, (list, tuple)):
        if isinstance(given, str) and given.strip().startswith("["):
            try:
                given = ast.literal_eval(given.strip())
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                return False
        if not isinstance(given, (list, tuple)):
            given = [given]
        if len(given) != len(expected):
            return False
        remaining = list(expected)
        for item in given:
            found = next((i for i, want in enumerate(remaining) if scalars_match(item, want)), None)
            if found is None:
                return False
            remaining.pop(found)
        return True
    if isinstance(given, (list, tuple)) and len(given) == 1:
        given = given[0]
    return not isinstance(given, (list, tuple, dict)) and scalars_match(given, expected)


def parse_regex(query: str) -> re.Pattern:
    """A search pattern from text; ``"re.compile('...')"`` (as AgentGym's reference paths write
    it) is read as the literal inside, never evaluated."""
    literal = _REGEX_LITERAL.match(query.strip())
    if literal:
        try:
            query = ast.literal_eval(literal.group(1).strip())
        except (ValueError, SyntaxError):
            raise ToolError("the query re.compile(...) must hold one quoted pattern.") from None
        if not isinstance(query, str):
            raise ToolError("the query re.compile(...) must hold one quoted pattern.")
    try:
        return re.compile(query)
    except re.error as err:
        raise ToolError(f"the query is not a valid regular expression: {err}.") from None


# ------------------------------------------------------------------------------ the env
class ToolEnv(TextEnv):
    """Base of the tool-calling envs: a goal, a set of tools, ``finish`` to end.

    Subclasses set ``tools`` (including ``check_valid_actions`` and ``finish``) and
    ``system_message``, and implement ``_new_task`` (start task ``task_id``: set up ``toolkit``,
    return the goal and the expert's plan) and ``_finish``; ``_call`` runs a tool on ``toolkit``.
    """

    tools: ClassVar[tuple[Tool, ...]] = ()
    system_message: ClassVar[str] = "You can use actions to help people solve problems."
    action_help = FORMAT_HELP
    max_observation_length = 16384
    max_action_length = 8192

    def __init__(self, split: str = "train", render_mode: str | None = None):
        super().__init__(split=split, render_mode=render_mode)
        self.goal = ""
        self._plan: list[PlanStep] = []
        self._plan_pos = 0
        self._tools = {tool.name: tool for tool in self.tools}
        self.toolkit: Any = None  # the episode's backend: one method per tool

    # ------------------------------------------------------------- hooks for families
    def _new_task(self, task_id: int) -> tuple[str, list[PlanStep]]:
        raise NotImplementedError

    def _call(self, tool: str, args: dict[str, Any]) -> Any:
        """Run one tool: by default the ``toolkit`` method of the same name."""
        return getattr(self.toolkit, tool)(**args)

    def _finish(self, args: dict[str, Any]) -> Outcome:
        raise NotImplementedError

    def _progress(self) -> float:
        """The score after a successful tool call (Sheet scores progress; others only finish)."""
        return self.score

    # ------------------------------------------------------------- TextEnv
    def task_description(self) -> str:
        return _tool_listing(type(self))

    def _start_task(self, task_id: int) -> str:
        self.goal, self._plan = self._new_task(task_id)
        self._plan_pos = 0
        return (
            "Now new trial starts.\nYou should perform actions to accomplish the goal: "
            f"{self.goal}\nGive me one action."
        )

    def _apply(self, action: str) -> Outcome:
        try:
            name, args = parse_call(action)
            tool = self._tools.get(name)
            if tool is None:
                raise ToolError(f"{name!r} is not a valid action here. Valid actions: {self.tool_names()}.")
            args = check_arguments(tool, args)
            if name == "finish":
                return self._finish(args)
            if name == "check_valid_actions":
                result: Any = f"You can use following valid actions: {self.tool_names()}"
            else:
                result = self._call(name, args)
        except ToolError as err:
            return Outcome(observe(f"ERROR | {err}"), self.score)
        except (ValueError, TypeError, OverflowError, KeyError, IndexError) as err:
            # A value the schema allows but the tool cannot use (AgentGym reports these the same way).
            return Outcome(observe(f"ERROR | {name} could not run with these arguments: {err!r}"), self.score)
        self._advance_plan(name, args)
        return Outcome(observe(result), self._progress())

    @classmethod
    def action_tools(cls) -> tuple[ToolSpec, ...]:
        return tuple(tool.spec() for tool in cls.tools)

    def available_actions(self) -> None:
        return None  # a call needs arguments: there is no finite list (check_valid_actions names the tools)

    def expert(self) -> tuple[str, str]:
        step = self._plan[min(self._plan_pos, len(self._plan) - 1)]
        return step.thought, step.action

    # ------------------------------------------------------------- helpers
    def tool_names(self) -> list[str]:
        return [tool.name for tool in self.tools]

    def _advance_plan(self, name: str, args: dict[str, Any]) -> None:
        if self._plan_pos < len(self._plan):
            step = self._plan[self._plan_pos]
            if step.tool == name and step.args == args:
                self._plan_pos += 1


class AnswerToolEnv(ToolEnv):
    """A tool env whose tasks are questions: ``finish(answer)`` scores 1 when the answer matches.

    Subclasses implement ``_question(task_id) -> (goal, answer, plan)``, setting ``toolkit``."""

    def __init__(self, split: str = "train", render_mode: str | None = None):
        super().__init__(split=split, render_mode=render_mode)
        self._answer: Any = None

    def _question(self, task_id: int) -> tuple[str, Any, list[PlanStep]]:
        raise NotImplementedError

    def _new_task(self, task_id: int) -> tuple[str, list[PlanStep]]:
        goal, self._answer, plan = self._question(task_id)
        return goal, list(plan)

    def _finish(self, args: dict[str, Any]) -> Outcome:
        answer = args["answer"]
        return Outcome(observe(answer), 1.0 if answers_match(answer, self._answer) else 0.0, done=True)


class Planner:
    """Writes an expert's plan for a generated task: each step calls the tool on ``toolkit`` (a
    private copy of the backend) so the task's answer comes from the same replies the agent
    will see."""

    def __init__(self, toolkit: Any):
        self.toolkit = toolkit
        self.steps: list[PlanStep] = []

    def add(self, thought: str, tool: str, **args) -> Any:
        self.steps.append(PlanStep(thought, tool, args))
        return getattr(self.toolkit, tool)(**args)

    def finish(self, answer: Any, why: str) -> None:
        self.steps.append(PlanStep(why, "finish", {"answer": answer}))

    @property
    def answer(self) -> Any:
        return self.steps[-1].args["answer"]


@lru_cache(maxsize=8)
def load_records(path: str) -> dict[int, dict[str, Any]]:
    """AgentGym's task file (``<env>.jsonl``) as ``{id: line}``."""
    with open(path, encoding="utf-8") as handle:
        return {int(r["id"]): r for r in (json.loads(line) for line in handle if line.strip())}


@lru_cache(maxsize=None)
def _tool_listing(cls: type[ToolEnv]) -> str:
    """The system message and the tool list (the same for every task of a family)."""
    listing = "\n".join(tool.describe() for tool in cls.tools)
    return f"{cls.system_message}\n\nThe tools you can use:\n{listing}"


def observe(result: Any) -> str:
    """AgentGym's observation text for a tool result."""
    return f"Observation: {result}\nGive me one action."
