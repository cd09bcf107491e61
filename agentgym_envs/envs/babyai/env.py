"""The BabyAI env: a minigrid mission, told in text, played with high-level actions.

Each action is parsed, checked against what the agent knows, compiled by the planner into
minigrid's primitive moves and run on the level; the result is described by the text view.
The reward is minigrid's ``1 - 0.9 * steps / max_steps`` on success, counted in primitive
steps, as in AgentGym.

:class:`PrivilegedView` is the one door through which a scripted solver reads the episode.
"""

from __future__ import annotations

import contextlib
import io
import re
from typing import TYPE_CHECKING, Any

from agentgym_envs.core import Outcome, TextEnv
from agentgym_envs.envs.babyai import planner
from agentgym_envs.envs.babyai.expert import BabyAIExpert
from agentgym_envs.envs.babyai.levels import (
    COLOR_NAMES,
    DROP,
    FORWARD,
    LEFT,
    NAMED_TYPES,
    PICKABLE_TYPES,
    PICKUP,
    RIGHT,
    TOGGLE,
    level_of_task,
    make_level,
    repair_strict_sequences,
)
from agentgym_envs.envs.babyai.planner import FREE, passage_of
from agentgym_envs.envs.babyai.view import (
    KnownGrid,
    agent_cell_of,
    describe_view,
    relative_position,
    thing_phrase,
    visible_cells,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

_TARGET = re.compile(
    r"^(go to|goto|pickup|pick up|go through|toggle and go through) (?:the |a )?"
    r"([a-z]+) (?:(?:open|closed|locked) )?([a-z]+)(?: (\d+))?$"
)
_STATE_WORDS = re.compile(r"\b(?:open|closed|locked) door\b")


class BabyAIEnv(TextEnv):
    """Follow a BabyAI mission in a minigrid world, described in text, with high-level actions.

    The family's name, item prefix, max rounds and splits come from its registration line in
    ``agentgym_envs/__init__.py``."""

    action_help = (
        "Actions: 'turn left', 'turn right', 'move forward', 'go to <color> <object> <n>', "
        "'pickup <color> <object> <n>', 'drop', 'toggle', 'go through <color> door <n>', "
        "'check available actions'. Name objects as the observation does, e.g. 'red ball 1'. "
        "'go to' walks next to an object and faces it; 'pickup' also picks it up (hands must be "
        "empty); 'go through' walks through a door, opening it (a locked door needs the key of its "
        "color in hand). Paths use only places you have seen and open closed doors on the way. "
        "'drop' puts what you carry in front of you, or on a free cell next to the object you face "
        "(not in front of a doorway if it can); "
        "'toggle' opens or closes the door in front of you, or opens the box in front of you."
    )

    def __init__(self, split: str = "train", render_mode: str | None = None):
        super().__init__(split=split, render_mode=render_mode)
        self._levels: dict[str, Any] = {}  # one minigrid level per id, reused across resets
        self.level = None
        self.level_id: str | None = None
        self.known: KnownGrid | None = None
        self._visible: list[tuple[int, int, int]] = []
        self._version = 0  # bumped whenever the world or the agent's knowledge changes
        self._cache: dict[str, tuple[int, Any]] = {}
        self._object_cell: dict[int, int] = {}  # privileged (expert only): id(object) -> cell
        self._expert: BabyAIExpert | None = None

    # ------------------------------------------------------------------ the task
    def task_description(self) -> str:
        return (
            "You are an explorer in a BabyAI grid world: rooms joined by doors, holding keys, "
            "balls and boxes. Every round you get an observation of what you see and must answer "
            "with your thought and one action to accomplish the goal. You see only a few steps "
            "ahead and to the sides; turn and move to see more. Finish the goal in as few "
            "primitive moves as you can: the reward shrinks with every move."
        )

    def _start_task(self, task_id: int) -> str:
        self.level_id, seed = level_of_task(task_id)
        level = self._levels.get(self.level_id)
        if level is None:
            level = self._levels[self.level_id] = make_level(self.level_id)
        # Level generation prints "Sampling rejected: ..." on every rejected layout.
        with contextlib.redirect_stdout(io.StringIO()):
            level.reset(seed=seed)
        repair_strict_sequences(level.instrs, level)
        self.level = level
        self._expert = None  # the expert keeps per-episode notes
        self.known = KnownGrid(level)
        self._index_objects()
        self._look()
        return f"Your goal: {level.mission}\n{self._describe()}"

    def _apply(self, action: str) -> Outcome:
        command = _STATE_WORDS.sub("door", action.lower().strip(" .!\"'`"))
        simple = _SIMPLE_ACTIONS.get(command)
        if simple is not None:
            return simple(self)
        if command.startswith("check"):
            return self._check()
        match = _TARGET.match(command)
        if match is None:
            return self.invalid(f"'{action}' is not an action here. {self._actions_text()}")
        verb, colour, kind, number = match.groups()
        if colour not in COLOR_NAMES or kind not in NAMED_TYPES:
            return self.invalid(
                f"'{colour} {kind}' is not an object: name it as '<color> <key|ball|box|door> <n>' "
                f"with a color from {', '.join(COLOR_NAMES)}."
            )
        name, problem = self._resolve(colour, kind, number)
        if problem:
            return self.invalid(problem)
        if verb in ("go to", "goto"):
            return self._go_to(name)
        if verb in ("pickup", "pick up"):
            return self._pickup(name)
        return self._go_through(name)

    def subtask(self) -> str:
        """The BabyAI level, e.g. ``GoToRedBall`` (AgentGym's 40 levels; task i is level i % 40)."""
        return self.level_id.removeprefix("BabyAI-").rsplit("-v", 1)[0]

    def available_actions(self) -> list[str]:
        cached = self._cache.get("actions")
        if cached is not None and cached[0] == self._version:
            return list(cached[1])
        actions = self._compute_actions()
        self._cache["actions"] = (self._version, actions)
        return list(actions)

    @property
    def privileged(self) -> PrivilegedView:
        """What a scripted solver may read about the episode (see :class:`PrivilegedView`)."""
        return PrivilegedView(self)

    def expert(self) -> tuple[str, str]:
        if self._expert is None:
            self._expert = BabyAIExpert(self.privileged)
        return self._expert.next_action()

    def close(self) -> None:
        for level in self._levels.values():
            level.close()
        self._levels.clear()
        self.level = self.known = self._expert = None
        self._cache.clear()
        self._object_cell.clear()
        super().close()

    # ------------------------------------------------------------------ geometry
    @property
    def agent_cell(self) -> int:
        return agent_cell_of(self.level)

    @property
    def front_cell(self) -> int:
        return self.agent_cell + self.known.offsets[self.level.agent_dir]

    def key_colour(self) -> str | None:
        carrying = self.level.carrying
        return carrying.color if carrying is not None and carrying.type == "key" else None

    def relative(self, cell: int) -> tuple[int, int]:
        """``(steps ahead, steps right)`` of a cell from the agent."""
        return relative_position(self.level, cell)

    def reach(self) -> dict[int, int]:
        """Seen cells the agent can walk to now (cached until anything changes)."""
        cached = self._cache.get("reach")
        if cached is not None and cached[0] == self._version:
            return cached[1]
        reach = planner.reachable(self.known, self.agent_cell, self.key_colour())
        self._cache["reach"] = (self._version, reach)
        return reach

    def next_to_reach(self, cell: int) -> bool:
        reach = self.reach()
        return any(cell + offset in reach for offset in self.known.offsets)

    # ------------------------------------------------------------------ acting
    def _run(self, primitives) -> str | None:
        """Carry out primitive actions, stopping early when the episode or a move ends.

        Returns None when all ran, else "success", "failure", "timeout" or "blocked"."""
        level = self.level
        for primitive in primitives:
            before = level.agent_pos
            _, reward, terminated, truncated, _ = level.step(primitive)
            if primitive >= PICKUP:
                self._track_front()
            if terminated:
                self._final_reward = float(reward)
                return "success" if reward > 0 else "failure"
            if truncated:
                return "timeout"
            if primitive == FORWARD and level.agent_pos == before:
                return "blocked"
        return None

    def _track_front(self) -> None:
        """A pickup, drop or toggle changed the cell in front: update memory and the
        privileged object index."""
        front = self.front_cell
        self.known.refresh(front)
        cell = self.level.grid.grid[front]
        carrying = self.level.carrying
        if carrying is not None:
            self._object_cell.pop(id(carrying), None)
        for key, flat in list(self._object_cell.items()):
            if flat == front and (cell is None or id(cell) != key):
                del self._object_cell[key]
        if cell is not None and cell.type in NAMED_TYPES:
            self._object_cell[id(cell)] = front

    def _index_objects(self) -> None:
        self._object_cell = {}
        for flat, cell in enumerate(self.level.grid.grid):
            if cell is not None and cell.type in NAMED_TYPES:
                self._object_cell[id(cell)] = flat

    def _look(self) -> None:
        self._visible = visible_cells(self.level)
        self.known.see(self._visible)
        self._version += 1

    def _act(self, primitives, text: str) -> Outcome:
        """Run a compiled action and describe the result."""
        self._final_reward = 0.0
        return self._conclude(self._run(primitives), text)

    def _conclude(self, status: str | None, text: str) -> Outcome:
        """Look around after primitives ran with ``status`` (see ``_run``) and say what happened."""
        self._look()
        if status == "success":
            return Outcome(
                f"{text} {self._describe(actions=False)}\nThe task is completed.",
                self._final_reward,
                done=True,
                success=True,
            )
        if status in ("failure", "timeout"):
            why = (
                f"That broke the mission's rules, so the task failed. {self._describe(actions=False)}"
                if status == "failure"
                else f"You have used all {self.level.max_steps} moves of this level; the task failed."
            )
            return Outcome(f"{text} {why}", self.score, done=True, success=False)
        if status == "blocked":
            text = f"{text} You were stopped by something in the way."
        return Outcome(f"{text} {self._describe()}", self.score)

    def _resolve(self, colour: str, kind: str, number: str | None) -> tuple[str, str]:
        """The known object named by the action, or ("", why not)."""
        known = self.known
        if number is None:
            matches = [n for n in known.objects if n.startswith(f"{colour} {kind} ") and self._present(n)]
            if len(matches) == 1:
                return matches[0], ""
            if not matches:
                return "", f"you have not seen a {colour} {kind}. {self._known_text()}"
            return "", f"add the number: you know {', '.join(matches)}."
        name = f"{colour} {kind} {int(number)}"
        if name not in known.objects or not self._present(name):
            return "", f"you have not seen a {name}. {self._known_text()}"
        return name, ""

    def _present(self, name: str) -> bool:
        return name in self.known.position or self.known.objects[name] is self.level.carrying

    def _move_forward(self) -> Outcome:
        ahead = self.level.grid.grid[self.front_cell]
        if passage_of(ahead) != FREE:
            return self.invalid(f"you cannot move forward: {self._thing(ahead)} is in front of you.")
        return self._act([FORWARD], "You moved forward.")

    def _go_to(self, name: str) -> Outcome:
        known = self.known
        if self.level.carrying is known.objects[name]:
            return self.invalid(f"you are carrying the {name}; drop it first.")
        target = known.position[name]
        if self.front_cell == target:
            return Outcome(f"You are already facing the {name}. {self._describe()}", self.score)
        path = self._path_to_face(target)
        if path is None:
            return self._no_known_path(name)
        return self._act(path, f"You went to the {name}.")

    def _pickup(self, name: str) -> Outcome:
        known, carrying = self.known, self.level.carrying
        obj = known.objects[name]
        if carrying is obj:
            return self.invalid(f"you are already carrying the {name}.")
        if obj.type == "door":
            return self.invalid(f"the {name} cannot be picked up.")
        if carrying is not None:
            return self.invalid(f"you are carrying the {known.name_of(carrying)}; drop it first.")
        target = known.position[name]
        path = [] if self.front_cell == target else self._path_to_face(target)
        if path is None:
            return self._no_known_path(name)
        return self._act(path + [PICKUP], f"You picked up the {name}.")

    def _go_through(self, name: str) -> Outcome:
        known, level = self.known, self.level
        door = known.objects[name]
        if door.type != "door":
            return self.invalid(f"the {name} is not a door; 'go through' takes a door.")
        target = known.position[name]
        if door.is_locked and self.key_colour() != door.color:
            return self.invalid(f"the {name} is locked; you need to carry the {door.color} key to open it.")
        if self.agent_cell == target:  # standing in the doorway: step out the way you face
            ahead = level.grid.grid[self.front_cell]
            if passage_of(ahead) != FREE:
                return self.invalid(
                    f"you stand in the {name} facing {self._thing(ahead)}; face a room first."
                )
            return self._act([FORWARD], f"You went through the {name}.")
        path = [] if self.front_cell == target else self._path_to_face(target)
        if path is None:
            return self._no_known_path(name)
        self._final_reward = 0.0
        opening = [TOGGLE] if not door.is_open else []
        status = self._run(path + opening + [FORWARD])
        text = f"You went through the {name}."
        if status is None:  # in the doorway: step into the room unless something is there
            beyond = level.grid.grid[self.front_cell]
            if passage_of(beyond) == FREE:
                status = self._run([FORWARD])
            else:
                text = f"You stopped in the {name}: {self._thing(beyond)} is on the other side."
        return self._conclude(status, text)

    def _drop(self) -> Outcome:
        known, level = self.known, self.level
        carrying = level.carrying
        if carrying is None:
            return self.invalid("you are not carrying anything.")
        name = known.name_of(carrying)
        front = self.front_cell
        ahead = level.grid.grid[front]
        if ahead is None:
            return self._act([DROP], f"You dropped the {name}.")
        if ahead.type not in NAMED_TYPES:
            return self.invalid(f"you cannot drop the {name}: {self._thing(ahead)} is in front of you.")
        path = self._path_to_drop_beside(front)
        if path is None:
            return self.invalid(
                f"there is no free cell you know of next to {self._thing(ahead)} to drop the {name} on."
            )
        return self._act(path + [DROP], f"You dropped the {name} next to the {known.name_of(ahead)}.")

    def _toggle(self) -> Outcome:
        known, level = self.known, self.level
        ahead = level.grid.grid[self.front_cell]
        if ahead is None or ahead.type not in ("door", "box"):
            return self.invalid(f"there is nothing to toggle: {self._thing(ahead)} is in front of you.")
        name = known.name_of(ahead)
        if ahead.type == "box":
            inside = ahead.contains
            found = f"it held a {inside.color} {inside.type}" if inside is not None else "it was empty"
            return self._act([TOGGLE], f"You opened the {name}: {found}.")
        if ahead.is_locked:
            if self.key_colour() != ahead.color:
                return self.invalid(
                    f"the {name} is locked; you need to carry the {ahead.color} key to open it."
                )
            return self._act([TOGGLE], f"You unlocked and opened the {name}.")
        return self._act([TOGGLE], f"You {'closed' if ahead.is_open else 'opened'} the {name}.")

    def _check(self) -> Outcome:
        listed = ", ".join(self.available_actions())
        return Outcome(f"You can take the following actions: {listed}.", self.score)

    def _no_known_path(self, name: str) -> Outcome:
        return self.invalid(f"there is no path you know of to the {name}. Explore to find a way.")

    # ------------------------------------------------------------------ planning
    def _pose(self) -> tuple[int, int]:
        return self.agent_cell, self.level.agent_dir

    def _path_to_face(self, target: int) -> list[int] | None:
        """Primitives that bring the agent next to ``target``, facing it, over seen cells."""
        return planner.path_to_face(self.known, self._pose(), target, self.reach(), self.key_colour())

    def _path_to_drop_beside(self, target: int) -> list[int] | None:
        """Primitives that bring the agent to face a free seen cell next to ``target``."""
        return planner.path_to_drop_beside(self.known, self._pose(), target, self.reach(), self.key_colour())

    # ------------------------------------------------------------------ text
    def _thing(self, cell) -> str:
        return thing_phrase(self.known, cell)

    def _describe(self, actions: bool = True) -> str:
        text = describe_view(self.known, self._visible)
        if actions:
            text += "\n" + self._actions_text()
        return text

    def _actions_text(self) -> str:
        quoted = ", ".join(f'"{a}"' for a in self.available_actions())
        return f"Available actions: [{quoted}]"

    def _known_text(self) -> str:
        names = [n for n in self.known.objects if self._present(n)]
        return f"Objects you know: {', '.join(names)}." if names else "You have not seen any objects yet."

    def _compute_actions(self) -> list[str]:
        known, level = self.known, self.level
        cells = level.grid.grid
        front = self.front_cell
        ahead = cells[front]
        carrying = level.carrying
        key_colour = self.key_colour()
        actions = ["turn left", "turn right"]
        if passage_of(ahead) == FREE:
            actions.append("move forward")
        reachable = {
            name: flat for name, flat in known.position.items() if flat == front or self.next_to_reach(flat)
        }
        if carrying is None:
            actions += [f"pickup {n}" for n in reachable if known.objects[n].type in PICKABLE_TYPES]
        elif ahead is None or (ahead.type in NAMED_TYPES and self._path_to_drop_beside(front) is not None):
            actions.append("drop")
        here = self.agent_cell
        for name, flat in reachable.items():
            obj = known.objects[name]
            if obj.type == "door" and (not obj.is_locked or key_colour == obj.color):
                if flat != here or passage_of(ahead) == FREE:  # in a doorway: only facing a room
                    actions.append(f"go through {name}")
        if ahead is not None and (
            ahead.type == "box"
            or (ahead.type == "door" and (not ahead.is_locked or key_colour == ahead.color))
        ):
            actions.append("toggle")
        actions += [f"go to {name}" for name in reachable]
        actions.append("check available actions")
        return actions


_SIMPLE_ACTIONS = {
    "turn left": lambda env: env._act([LEFT], "You turned left."),
    "left": lambda env: env._act([LEFT], "You turned left."),
    "turn right": lambda env: env._act([RIGHT], "You turned right."),
    "right": lambda env: env._act([RIGHT], "You turned right."),
    "move forward": BabyAIEnv._move_forward,
    "forward": BabyAIEnv._move_forward,
    "drop": BabyAIEnv._drop,
    "toggle": BabyAIEnv._toggle,
}


def _read(attribute: str, doc: str) -> property:
    """A read-only property of :class:`PrivilegedView` that reads the env's ``attribute``."""
    return property(lambda view: getattr(view._env, attribute), doc=doc)


class PrivilegedView:
    """What a scripted solver may read about a BabyAI episode: ``env.privileged``.

    The agent is told only what its observations say. A solver also needs the truth behind
    them, as minigrid's own BabyAI bot reads the level rather than the observation: the mission's
    instruction tree, the true grid, where every object lies, seen or not. This view names
    exactly what :class:`~agentgym_envs.envs.babyai.expert.BabyAIExpert` reads, so the env's
    bookkeeping can change without breaking the expert. It is read-only (nothing here steps the
    level or changes what the agent knows) and live: every read is the episode as it is now.
    """

    __slots__ = ("_env",)

    def __init__(self, env: BabyAIEnv):
        self._env = env

    # The truth the agent is not told.
    level = _read(
        "level",
        "The minigrid level, to read and never to step: ``instrs`` (the mission's instruction "
        "tree), ``grid.grid`` (the true cells, flat: ``y * width + x``), ``carrying``, "
        "``agent_dir``, ``width``.",
    )

    def object_cells(self) -> list[int]:
        """The cells of every key, ball, box and door on the grid (not the carried object)."""
        return list(self._env._object_cell.values())

    def cells_of(self, objects: Iterable) -> list[int]:
        """The cells of those of ``objects`` that lie on the grid, in the same order."""
        where = self._env._object_cell
        return [where[id(obj)] for obj in objects if id(obj) in where]

    # The agent's side, as the env itself computes it.
    known = _read("known", "The agent's memory: seen cells, object names and positions (a KnownGrid).")
    done = _read("done", "Whether the episode has ended.")
    agent_cell = _read("agent_cell", "The cell the agent stands on.")
    front_cell = _read("front_cell", "The cell the agent faces.")
    version = _read(
        "_version", "Changes whenever the world or the agent's knowledge may have changed: a cache key."
    )

    def key_colour(self) -> str | None:
        """The colour of the key in hand, if the agent carries one."""
        return self._env.key_colour()

    def reach(self) -> dict[int, int]:
        """Seen cells the agent can walk to now, with their distance (do not change it)."""
        return self._env.reach()

    def next_to_reach(self, cell: int) -> bool:
        """Whether the agent can walk next to ``cell`` over seen cells."""
        return self._env.next_to_reach(cell)

    def path_to_drop_beside(self, cell: int) -> list[int] | None:
        """The moves a ``drop`` facing the object on ``cell`` makes before it lets go, or None
        when there is no free seen cell beside it."""
        return self._env._path_to_drop_beside(cell)
