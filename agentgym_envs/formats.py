"""Action formats: how a model's reply becomes an env command.

Envs take plain commands (``move up``). Models answer in AgentGym's ReAct format::

    Thought:
    The goal is below me and the way down is open.

    Action:
    move down

:func:`parse_react` pulls the command out of such a reply; :func:`format_react` writes one.
A reply without a usable ``Action:`` becomes a :class:`MalformedAction`, which an env answers
with an observation that explains the expected format instead of raising.
"""

from __future__ import annotations

import re

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
