"""``AgentGym/ALFWorld-v0``: household tasks in ALFWorld's text world (item ids ``alfworld_<n>``).

What the agent reads is what AgentGym's ALFWorld server sends: the game's intro without its
"-= Welcome to TextWorld, ALFRED! =-" banner, then on the first turn ``AVAILABLE ACTIONS:`` and
the admissible commands joined by commas; after a "go to", the engine's "You arrive at loc 12."
is dropped as AgentGym drops it. Reward 1 when the game is won.

Where it differs from AgentGym:

- By default the games are generated (``generate.py``), because ALFWorld's files cannot be
  downloaded here; task ids 0-199 are the test split, as for every env of this project. Given
  ALFWorld's files (``data_dir``, default ``$ALFWORLD_DATA``) and AgentGym's mapping file
  (``mapping``), the env plays those exact games under AgentGym's item ids (2420-2619 for
  ``mappings_test.json``), and a seeded reset draws from the mapping's ids whatever the split.
- A command that is not admissible gets the engine's "Nothing happens." followed by one
  sentence saying why, so that a bad action is always explained (AgentGym sends the engine's
  words alone; its prompt calls them "Nothing happened").
- The expert is a scripted solver over the game's PDDL state (``expert.py``), falling back
  to fast-downward's plan where the solver has no move.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from agentgym_envs.core import Outcome, TextEnv
from agentgym_envs.envs.alfworld.engine import NOTHING_HAPPENS, AlfredEngine
from agentgym_envs.envs.alfworld.engine import cache_dir as default_cache_dir
from agentgym_envs.envs.alfworld.expert import Solver, parse_goal
from agentgym_envs.envs.alfworld.games import GeneratedGames, RealGames

NOT_ADMISSIBLE = " That is not one of the available actions: see the list after AVAILABLE ACTIONS."
_ARRIVAL = re.compile(r"^You arrive at loc \d+\. ")
_VERB_THOUGHT = {
    "go": "I go to {rest} to look for what I need.",
    "open": "I open {rest} to see what is inside.",
    "take": "I take {rest}.",
    "put": "I put {rest}: that is where the task wants it.",
    "clean": "I clean {rest}, as the task asks.",
    "heat": "I heat {rest}, as the task asks.",
    "cool": "I cool {rest}, as the task asks.",
    "use": "I turn on {rest} to look at what I hold under its light.",
    "close": "I close {rest}.",
    "examine": "I examine {rest}.",
}


def agentgym_first_observation(intro: str, admissible: list[str]) -> str:
    """AgentGym's server drops the banner (the intro's first paragraph) and joins the rest with
    single newlines; its client then appends the admissible commands."""
    body = "\n".join(intro.split("\n\n")[1:])
    return f"{body}\nAVAILABLE ACTIONS: {','.join(admissible)}"


def agentgym_observation(feedback: str) -> str:
    """AgentGym's ``process_ob``: "You arrive at loc 12. On the desk 1, ..." -> "On the desk 1, ..."."""
    return _ARRIVAL.sub("", feedback, count=1)


class ALFWorldEnv(TextEnv):
    """Carry out a household task (find, clean, heat, cool, place, look under a lamp) in text.

    Beyond ``split`` and ``render_mode`` (:class:`~agentgym_envs.core.TextEnv`'s):

    Args:
        data_dir: the folder holding ALFWorld's ``json_2.1.1`` (default ``$ALFWORLD_DATA``);
            used with ``mapping``.
        mapping: AgentGym's ``mappings_test.json`` or ``mappings_train.json``: play those real
            games, with its item ids as task ids. Without it the games are generated.
        cache_dir: where generated games and compiled games are kept (default
            ``$AGENTGYM_CACHE/alfworld``, ``~/.cache/agentgym/alfworld``).
    """

    action_help = (
        "Actions: 'go to X', 'open X', 'close X', 'take X from Y', 'put X in/on Y', 'clean X with Y', "
        "'heat X with Y', 'cool X with Y', 'use X', 'examine X', 'look', 'inventory', where X and Y "
        "are the objects and receptacles the game names (e.g. 'take apple 1 from countertop 2'). "
        "Choose from the available actions."
    )

    def __init__(
        self,
        split: str = "train",
        render_mode: str | None = None,
        data_dir: str | os.PathLike | None = None,
        mapping: str | os.PathLike | None = None,
        cache_dir: str | os.PathLike | None = None,
    ):
        super().__init__(split=split, render_mode=render_mode)
        self.cache = Path(cache_dir) if cache_dir else default_cache_dir()
        self.real_games: RealGames | None = None
        if mapping is not None:
            data_dir = data_dir or os.environ.get("ALFWORLD_DATA")
            if not data_dir:
                raise ValueError(
                    "mapping= needs data_dir= (or $ALFWORLD_DATA): the folder holding json_2.1.1"
                )
            self.real_games = RealGames(data_dir, mapping)
        elif data_dir is not None:
            raise ValueError(
                "data_dir= needs mapping= (AgentGym's mappings_test.json or mappings_train.json)"
            )
        self._games = self.real_games or GeneratedGames(self.cache)
        self.engine: AlfredEngine | None = None
        self._admissible: list[str] = []
        self._task_type: str | None = None
        self._plan: list[str] | None = None
        self._solver: Solver | None = None
        self.task = ""

    # ----------------------------------------------------------------- family hooks
    def task_description(self) -> str:
        return (
            "You are an agent in a household. Each task describes the room around you and gives "
            "you a goal, such as putting a clean mug in the coffee machine or looking at a book "
            "under the desk lamp. Each turn, choose one action from the available actions listed "
            'at the start. If the game answers "Nothing happens.", your action was not valid: '
            "try another one."
        )

    def _start_task(self, task_id: int) -> str:
        if self.engine is None:
            self.engine = AlfredEngine()
        game = self._games(task_id)
        self._task_type = game.get("task_type")  # generated games carry it; real ones: see subtask()
        self.engine.load(game, self.cache)
        intro = self.engine.reset()
        goal = parse_goal(game["pddl_problem"])
        self._solver = Solver(goal, self.engine.names) if goal else None
        self.task = intro.rpartition("Your task is to: ")[2].strip()
        self._admissible = self.engine.admissible_commands()
        self._plan = None
        return agentgym_first_observation(intro, self._admissible)

    def _apply(self, action: str) -> Outcome:
        if action not in self._admissible:  # "Nothing happens." without touching the engine
            return Outcome(NOTHING_HAPPENS + NOT_ADMISSIBLE, self.score)
        try:
            feedback = self.engine.step(action)
        except Exception as error:  # the engine's own fault: the episode cannot go on faithfully
            return Outcome(
                f"The game engine failed on this action ({type(error).__name__}: {error}).", 0.0, done=True
            )
        self._admissible = self.engine.admissible_commands()
        self._follow_plan(action)
        won = self.engine.won
        return Outcome(agentgym_observation(feedback), 1.0 if won else 0.0, done=won)

    def subtask(self) -> str | None:
        """ALFWorld's task type, e.g. ``pick_and_place_simple`` (one of six)."""
        if self.real_games is not None:
            return self.real_games.task_type(self.task_id)
        return self._task_type

    def available_actions(self) -> list[str]:
        return list(self._admissible)

    def expert(self) -> tuple[str, str]:
        action = self._solver.next_command(self.engine.state.facts) if self._solver else None
        if action not in self._admissible:  # a state the solver does not handle: ask the planner
            if not self._plan:
                self._plan = self.engine.plan()
            if not self._plan:
                return "I see no way to finish the task from here; I look around.", "look"
            action = self._plan[0]
        verb, _, rest = action.partition(" ")
        rest = rest.removeprefix("to ") if verb == "go" else rest
        thought = f"My task is to {self.task.rstrip('.')}. " + _VERB_THOUGHT.get(verb, "I {rest}.").format(
            rest=rest
        )
        return thought, action

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
            self.engine = None
        super().close()

    # ----------------------------------------------------------------- real games
    def _choose_task(self, options: dict[str, Any] | None) -> int:
        """With AgentGym's mapping, task ids are the mapping's item ids (2420-2619 for the test
        mapping) and a seeded reset draws from them; the registered splits name generated games."""
        if self.real_games is None:
            return super()._choose_task(options)
        ids = self.real_games.task_ids
        if options and options.get("task_id") is not None:
            task_id = int(options["task_id"])
            if task_id not in self.real_games.paths:
                raise ValueError(f"the mapping has task ids {ids[0]}..{ids[-1]}, got {task_id}")
            return task_id
        return ids[int(self.np_random.integers(len(ids)))]

    def _follow_plan(self, action: str) -> None:
        """Keep the expert's plan while the agent follows it; drop it when the agent strays."""
        if self._plan and self._plan[0] == action:
            self._plan.pop(0)
        else:
            self._plan = None
