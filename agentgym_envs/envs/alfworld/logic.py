"""ALFWorld's PDDL domain and text grammar, as the ALFWorld games AgentGym plays were made.

The games of ALFWorld's ``json_2.1.1`` release (AgentGym's train and test games) carry their own
domain and grammar. alfworld 0.4 ships newer ones: ``move X to Y`` instead of ``put X in/on Y``,
"You arrive at cabinet 1." instead of "You arrive at loc 12.", a ``help`` action, and one sink
rule commented out. An agent trained on AgentGym's data fails on that text (AgentGym pinned
alfworld 0.3.3 for it, its issue #41), so the games we generate use the 2.1.1 text: we take the
installed alfworld's files and undo those changes, and a test checks the result against the real
game files. Each edit must apply exactly as written, so a future alfworld that changes these
files fails loudly here instead of drifting.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

# (what alfworld >= 0.4 has, what the 2.1.1 games have, how many times)
_GRAMMAR_EDITS = (
    ('"You arrive at {r.name}. #examine', '"You arrive at {lend.name}. #examine', 1),
    ('"You move the {o.name} to the {r.name}."', '"You put the {o.name} in/on the {r.name}."', 1),
    ('template :: "move {o} to {r}";', 'template :: "put {o} in/on {r}";', 2),
)  # fmt: skip
_DOMAIN_EDITS = ((";(receptacleType ?r SinkType)", "(receptacleType ?r SinkType)", 1),)
_GRAMMAR_HELP = re.compile(r"\n\naction help \{.*?\n\}\n", re.DOTALL)
_DOMAIN_HELP = re.compile(r"\(:action help\n.*?\n\)\n\n", re.DOTALL)
TASK_PLACEHOLDER = "UNKNOWN GOAL"


def _data_dir() -> Path:
    import alfworld

    return Path(alfworld.__file__).parent / "data"


def _edit(text: str, edits, name: str) -> str:
    for old, new, count in edits:
        found = text.count(old)
        if found == count:
            text = text.replace(old, new)
        elif text.count(new) != count:
            raise RuntimeError(f"alfworld's {name} changed: expected {old!r} {count}x, found {found}x")
    return text


def _drop(text: str, pattern: re.Pattern, name: str) -> str:
    text, removed = pattern.subn("\n" if name == "grammar" else "", text)
    if removed > 1:
        raise RuntimeError(f"alfworld's {name}: more than one help action")
    return text


@cache
def alfred_domain() -> str:
    """The PDDL domain of the 2.1.1 games."""
    text = (_data_dir() / "alfred.pddl").read_text()
    return _drop(_edit(text, _DOMAIN_EDITS, "domain"), _DOMAIN_HELP, "domain")


@cache
def grammar_template() -> str:
    """The text grammar of the 2.1.1 games, with ``UNKNOWN GOAL`` where the task goes."""
    text = (_data_dir() / "alfred.twl2").read_text()
    text = _drop(_edit(text, _GRAMMAR_EDITS, "grammar"), _GRAMMAR_HELP, "grammar")
    if text.count(TASK_PLACEHOLDER) != 1:
        raise RuntimeError("alfworld's grammar has no single task placeholder")
    return text


def alfred_grammar(task: str) -> str:
    """The grammar of one game: its intro ends with "Your task is to: <task>."."""
    return grammar_template().replace(TASK_PLACEHOLDER, task)
