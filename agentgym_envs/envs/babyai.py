"""BabyAI (AgentGym's BabyAI, item ids ``babyai_<n>``), on minigrid's BabyAI levels.

AgentGym took this env from AgentBoard: 40 minigrid BabyAI levels (``LEVELS``, easiest first),
task ``i`` is level ``LEVELS[i % 40]`` generated with seed ``i // 40``. The agent reads a text
view of its egocentric 7x7 view (the goal, each visible object with its distance and side, the
wall ahead, what it carries, the available actions) and answers with high-level actions that a
path planner compiles into minigrid's primitive moves::

    turn left | turn right | move forward | drop | toggle | check available actions
    go to <color> <type> <n> | pickup <color> <type> <n> | go through <color> door <n>

Objects are named by colour, type and a number given in the order the agent first sees them,
so ``red ball 2`` names the same ball for the whole episode. The agent knows what it has been
shown: the cells in view at the end of each action. It may act on any object it has seen, and
paths (A* over position and heading) run only over seen cells, opening closed doors on the way
(a locked one with the matching key in hand). The reward is minigrid's
``1 - 0.9 * steps / max_steps`` on success, counted in primitive steps, as in AgentGym.

Differences from AgentGym, all deliberate: object numbers are stable for the whole episode
(AgentGym renumbers them every view); the agent remembers objects it saw earlier; ``go through``
also opens closed and locked doors (AgentGym's ``toggle and go through``, accepted as an alias);
``drop`` facing an object puts the carried one on a free cell next to it; the mission text is
minigrid's own (AgentGym rewrites "then" and "after you" to "and", which loses the order).
``BabyAI-GoToObjS6-v0`` is ``-v1`` in minigrid 3.x (the same level, fixed).

Two minigrid faults matter here. Its sequence verifier fails every two-door mission of
OpenDoorsOrderN4Debug on the toggle that opens the first door; ``repair_strict_sequences``
fixes that. GoToImpUnlock compares room indices with ``is``, so now and then the key lands
inside the room it locks; such tasks (babyai_246 and babyai_566 among ours) cannot be solved.
"""

from __future__ import annotations

import contextlib
import heapq
import io
import re
from collections import deque
from typing import Any

import gymnasium as gym
from gymnasium.envs.registration import load_env_creator

try:
    import minigrid  # noqa: F401  (registers the BabyAI-* ids)
except ModuleNotFoundError as error:  # gym.make lands here first: say which extra installs it
    from agentgym_envs import missing_engine

    raise ModuleNotFoundError(missing_engine("BabyAI") or str(error)) from None
from minigrid.core.constants import COLOR_NAMES
from minigrid.envs.babyai.core.verifier import (
    AfterInstr,
    AndInstr,
    BeforeInstr,
    GoToInstr,
    ObjDesc,
    OpenInstr,
    PickupInstr,
    PutNextInstr,
)

from agentgym_envs.core import Outcome, TaskSplits, TextEnv

# AgentBoard's / AgentGym's 40 levels, easiest first (agentenv-babyai ``all_levels``).
LEVELS = (
    "BabyAI-GoToRedBallGrey-v0",
    "BabyAI-GoToRedBall-v0",
    "BabyAI-GoToRedBallNoDists-v0",
    "BabyAI-GoToObjS6-v1",
    "BabyAI-GoToLocalS8N7-v0",
    "BabyAI-GoToObjMazeS7-v0",
    "BabyAI-GoToImpUnlock-v0",
    "BabyAI-GoToSeqS5R2-v0",
    "BabyAI-GoToRedBlueBall-v0",
    "BabyAI-GoToDoor-v0",
    "BabyAI-GoToObjDoor-v0",
    "BabyAI-Open-v0",
    "BabyAI-OpenRedDoor-v0",
    "BabyAI-OpenDoorLoc-v0",
    "BabyAI-OpenRedBlueDoorsDebug-v0",
    "BabyAI-OpenDoorsOrderN4Debug-v0",
    "BabyAI-Pickup-v0",
    "BabyAI-UnblockPickup-v0",
    "BabyAI-PickupLoc-v0",
    "BabyAI-PickupDistDebug-v0",
    "BabyAI-PickupAbove-v0",
    "BabyAI-PutNextLocalS6N4-v0",
    "BabyAI-PutNextS7N4Carrying-v0",
    "BabyAI-Unlock-v0",
    "BabyAI-UnlockLocalDist-v0",
    "BabyAI-KeyInBox-v0",
    "BabyAI-UnlockPickupDist-v0",
    "BabyAI-BlockedUnlockPickup-v0",
    "BabyAI-UnlockToUnlock-v0",
    "BabyAI-ActionObjDoor-v0",
    "BabyAI-FindObjS7-v0",
    "BabyAI-KeyCorridorS6R3-v0",
    "BabyAI-OneRoomS20-v0",
    "BabyAI-MoveTwoAcrossS8N9-v0",
    "BabyAI-SynthS5R2-v0",
    "BabyAI-SynthLoc-v0",
    "BabyAI-SynthSeq-v0",
    "BabyAI-MiniBossLevel-v0",
    "BabyAI-BossLevel-v0",
    "BabyAI-BossLevelNoUnlock-v0",
)

# minigrid's primitive actions
LEFT, RIGHT, FORWARD, PICKUP, DROP, TOGGLE = range(6)
# minigrid's directions: 0 east (+x), 1 south (+y), 2 west, 3 north
DIR_VECTORS = ((1, 0), (0, 1), (-1, 0), (0, -1))
VIEW = 7  # minigrid's default agent_view_size, which every BabyAI level uses
NAMED_TYPES = frozenset(("key", "ball", "box", "door"))
PICKABLE_TYPES = frozenset(("key", "ball", "box"))

# What a seen cell is to the path planner. Unseen cells are BLOCKED: the agent plans only over
# what it has seen.
BLOCKED, FREE, CLOSED_DOOR, LOCKED_DOOR = 0, 1, 2, 3

_TARGET = re.compile(
    r"^(go to|goto|pickup|pick up|go through|toggle and go through) (?:the |a )?"
    r"([a-z]+) (?:(?:open|closed|locked) )?([a-z]+)(?: (\d+))?$"
)
_STATE_WORDS = re.compile(r"\b(?:open|closed|locked) door\b")


def level_of_task(task_id: int) -> tuple[str, int]:
    """AgentGym's mapping: task ``i`` is level ``i % 40`` with seed ``i // 40``."""
    return LEVELS[task_id % len(LEVELS)], task_id // len(LEVELS)


def make_level(level_id: str):
    """A bare minigrid level (no Gymnasium wrappers) whose steps skip the image observation.

    The text view is built from the grid directly, so minigrid's per-step image encoding
    (most of a primitive step's cost) is switched off for this instance."""
    spec = gym.spec(level_id)
    level = load_env_creator(spec.entry_point)(**spec.kwargs)
    level.gen_obs = _no_image
    return level


def _no_image() -> None:
    return None


def repair_strict_sequences(instr, level) -> None:
    """Let the second of two sequenced instructions ignore the step that completed the first.

    minigrid's ``BeforeInstr``/``AfterInstr`` verify the step that completes the first part a
    second time, against the second part. A strict ``open`` instruction counts that toggle of
    the first door as opening a wrong door and fails the mission, so "open the red door, then
    open the blue door" can never succeed in OpenDoorsOrderN4Debug (two of its three mission
    kinds). Non-strict instructions are unaffected: they only fail on their own actions."""
    if isinstance(instr, (BeforeInstr, AfterInstr)):
        if isinstance(instr, BeforeInstr):
            first, second = instr.instr_a, instr.instr_b
        else:
            first, second = instr.instr_b, instr.instr_a
        if getattr(second, "strict", False):
            _ignore_completing_step(first, second, level)
    if isinstance(instr, (BeforeInstr, AfterInstr, AndInstr)):
        repair_strict_sequences(instr.instr_a, level)
        repair_strict_sequences(instr.instr_b, level)


def _ignore_completing_step(first, second, level) -> None:
    verify_first, verify_second = first.verify, second.verify_action
    completed_at = [-1]

    def first_verify(action):
        status = verify_first(action)
        if status == "success":
            completed_at[0] = level.step_count
        return status

    def second_verify_action(action):
        if completed_at[0] == level.step_count:
            return "continue"
        return verify_second(action)

    first.verify = first_verify
    second.verify_action = second_verify_action


def _view_geometry() -> tuple[tuple[tuple[int, int, int, int], ...], ...]:
    """Per direction, the 49 cells of minigrid's view in its own order (row ``j`` from the far
    edge, column ``i`` from the left): ``(dx, dy, ahead, right)`` relative to the agent."""
    geometry = []
    for fx, fy in DIR_VECTORS:
        rx, ry = -fy, fx
        cells = []
        for j in range(VIEW):
            for i in range(VIEW):
                ahead, right = VIEW - 1 - j, i - VIEW // 2
                cells.append((fx * ahead + rx * right, fy * ahead + ry * right, ahead, right))
        geometry.append(tuple(cells))
    return tuple(geometry)


VIEW_GEOMETRY = _view_geometry()
_AGENT_CELL = (VIEW - 1) * VIEW + VIEW // 2


def visible_cells(level, pose: tuple[int, int, int] | None = None) -> list[tuple[int, int, int]]:
    """The cells the agent sees (from ``pose`` = ``(x, y, direction)`` if given), as
    ``(flat index, steps ahead, steps right)``.

    The same cells as minigrid's ``gen_obs_grid`` mask (its ``process_vis`` occlusion rule,
    walls and closed doors hide what is behind them), computed without building and
    rotating sub-grids."""
    width, height = level.width, level.height
    cells = level.grid.grid
    if pose is None:
        ax, ay = level.agent_pos
        direction = level.agent_dir
    else:
        ax, ay, direction = pose
    geometry = VIEW_GEOMETRY[direction]
    index = [-1] * (VIEW * VIEW)
    opaque = [True] * (VIEW * VIEW)
    for k, (dx, dy, _, _) in enumerate(geometry):
        x, y = ax + dx, ay + dy
        if 0 <= x < width and 0 <= y < height:
            flat = y * width + x
            index[k] = flat
            cell = cells[flat]
            opaque[k] = cell is not None and (
                cell.type == "wall" or (cell.type == "door" and not cell.is_open)
            )
    mask = [False] * (VIEW * VIEW)
    mask[_AGENT_CELL] = True
    for j in range(VIEW - 1, -1, -1):
        row = j * VIEW
        for k in range(row, row + VIEW - 1):
            if mask[k] and not opaque[k]:
                mask[k + 1] = True
                if j > 0:
                    mask[k - VIEW + 1] = mask[k - VIEW] = True
        for k in range(row + VIEW - 1, row, -1):
            if mask[k] and not opaque[k]:
                mask[k - 1] = True
                if j > 0:
                    mask[k - VIEW - 1] = mask[k - VIEW] = True
    return [
        (index[k], geometry[k][2], geometry[k][3]) for k in range(VIEW * VIEW) if mask[k] and index[k] >= 0
    ]


def passage_of(cell) -> int:
    if cell is None:
        return FREE
    kind = cell.type
    if kind == "door":
        if cell.is_open:
            return FREE
        return LOCKED_DOOR if cell.is_locked else CLOSED_DOOR
    return FREE if cell.can_overlap() else BLOCKED


def _steps(n: int) -> str:
    return f"{n} steps"  # AgentGym's wording, "1 steps" included


def relative_phrase(ahead: int, right: int) -> str:
    """AgentGym's way of placing an object: '2 steps in front of you and 1 steps to your left'."""
    if right == 0:
        if ahead == 0:
            return "right where you stand"
        if ahead > 0:
            return f"right in front of you {_steps(ahead)} away"
        return f"right behind you {_steps(-ahead)} away"
    side = f"{_steps(abs(right))} to your {'right' if right > 0 else 'left'}"
    if ahead > 0:
        return f"{_steps(ahead)} in front of you and {side}"
    if ahead < 0:
        return f"{_steps(-ahead)} behind you and {side}"
    return side


class KnownGrid:
    """What the agent knows: the cells it has seen, the objects on them and their names.

    Only the agent changes a BabyAI world, so a seen cell stays true as long as the agent's own
    pickups, drops and toggles are written back (``refresh``). Names are given per colour and
    type in the order objects are first seen, nearest first."""

    def __init__(self, level):
        self.level = level
        self.width = level.width
        size = level.width * level.height
        self.offsets = (1, self.width, -1, -self.width)  # flat step per direction
        self.seen = bytearray(size)
        self.passage = bytearray(size)  # BLOCKED for unseen cells
        self.names: dict[int, str] = {}  # id(object) -> "red ball 1"
        self.objects: dict[str, Any] = {}  # name -> object
        self.position: dict[str, int] = {}  # name -> flat index, for objects lying on the grid
        self.name_at: dict[int, str] = {}
        self._counts: dict[str, int] = {}
        if level.carrying is not None:  # some levels start with an object in hand
            self.name_of(level.carrying)

    def name_of(self, obj) -> str:
        name = self.names.get(id(obj))
        if name is None:
            kind = f"{obj.color} {obj.type}"
            number = self._counts.get(kind, 0) + 1
            self._counts[kind] = number
            name = f"{kind} {number}"
            self.names[id(obj)] = name
            self.objects[name] = obj
        return name

    def see(self, visible: list[tuple[int, int, int]]) -> None:
        cells = self.level.grid.grid
        new = []
        for flat, ahead, right in visible:
            self.seen[flat] = 1
            cell = cells[flat]
            if cell is not None and cell.type in NAMED_TYPES and id(cell) not in self.names:
                new.append((abs(ahead) + abs(right), ahead, right, flat))
        for *_, flat in sorted(new):
            self.name_of(cells[flat])
        for flat, _, _ in visible:
            self.refresh(flat)

    def refresh(self, flat: int) -> None:
        """Write the current content of a seen cell into memory."""
        cell = self.level.grid.grid[flat]
        old = self.name_at.get(flat)
        if old is not None and self.objects[old] is not cell:
            del self.name_at[flat]
            if self.position.get(old) == flat:
                del self.position[old]
        self.passage[flat] = passage_of(cell)
        if cell is not None and cell.type in NAMED_TYPES:
            name = self.name_of(cell)
            self.name_at[flat] = name
            self.position[name] = flat

    def can_enter(self, flat: int, key_colour: str | None) -> bool:
        kind = self.passage[flat]
        return (
            kind == FREE
            or kind == CLOSED_DOOR
            or (kind == LOCKED_DOOR and self.level.grid.grid[flat].color == key_colour)
        )

    def reachable(self, start: int, key_colour: str | None) -> dict[int, int]:
        """Cells the agent can walk to over seen cells, with their distance in cells."""
        distance = {start: 0}
        queue = deque([start])
        offsets = self.offsets
        while queue:
            here = queue.popleft()
            step = distance[here] + 1
            for offset in offsets:
                there = here + offset
                if there not in distance:
                    if self.can_enter(there, key_colour):
                        distance[there] = step
                        queue.append(there)
        return distance

    def plan(
        self, start: int, direction: int, goals: set[int], anchor: int, reach: int, key_colour: str | None
    ) -> list[int] | None:
        """Fewest primitive actions from ``(start, direction)`` to one of the ``goals`` states
        (``cell * 4 + direction``), over seen cells; closed doors on the way are opened.

        A* with the Manhattan distance to ``anchor`` less ``reach`` as the (admissible) estimate.
        Returns the list of primitive actions, or None when no seen route exists."""
        width, offsets, passage = self.width, self.offsets, self.passage
        ax, ay = anchor % width, anchor // width

        def estimate(cell: int) -> int:
            return max(0, abs(cell % width - ax) + abs(cell // width - ay) - reach)

        origin = start * 4 + direction
        cost = {origin: 0}
        came: dict[int, tuple[int, tuple[int, ...]]] = {}
        frontier = [(estimate(start), 0, origin)]
        while frontier:
            _, spent, state = heapq.heappop(frontier)
            if spent > cost[state]:
                continue
            if state in goals:
                actions: list[int] = []
                while state != origin:
                    state, moves = came[state]
                    actions[:0] = moves
                return actions
            cell, facing = divmod(state, 4)
            options = [
                (cell * 4 + (facing - 1) % 4, 1, (LEFT,)),
                (cell * 4 + (facing + 1) % 4, 1, (RIGHT,)),
            ]
            ahead = cell + offsets[facing]
            kind = passage[ahead]
            if kind == FREE:
                options.append((ahead * 4 + facing, 1, (FORWARD,)))
            elif kind == CLOSED_DOOR or (kind == LOCKED_DOOR and self.can_enter(ahead, key_colour)):
                options.append((ahead * 4 + facing, 2, (TOGGLE, FORWARD)))
            for nxt, price, moves in options:
                total = spent + price
                if total < cost.get(nxt, 1 << 30):
                    cost[nxt] = total
                    came[nxt] = (state, moves)
                    heapq.heappush(frontier, (total + estimate(nxt // 4), total, nxt))
        return None

    def facing_states(self, target: int, allowed) -> set[int]:
        """States that face ``target`` from a neighbouring cell accepted by ``allowed``."""
        states = set()
        for direction, offset in enumerate(self.offsets):
            stand = target - offset
            if allowed(stand):
                states.add(stand * 4 + direction)
        return states


class BabyAIEnv(TextEnv):
    """Follow a BabyAI mission in a minigrid world, described in text, with high-level actions."""

    env_name = "BabyAI"
    item_prefix = "babyai"
    max_rounds = 20
    splits = TaskSplits.sized(test=90, agenttraj=400, agenttraj_l=810, train=900)
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

    def available_actions(self) -> list[str]:
        cached = self._cache.get("actions")
        if cached is not None and cached[0] == self._version:
            return list(cached[1])
        actions = self._compute_actions()
        self._cache["actions"] = (self._version, actions)
        return list(actions)

    def expert(self) -> tuple[str, str]:
        if self._expert is None:
            self._expert = BabyAIExpert(self)
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
        x, y = self.level.agent_pos
        return int(y) * self.level.width + int(x)

    @property
    def front_cell(self) -> int:
        return self.agent_cell + self.known.offsets[self.level.agent_dir]

    def key_colour(self) -> str | None:
        carrying = self.level.carrying
        return carrying.color if carrying is not None and carrying.type == "key" else None

    def relative(self, cell: int) -> tuple[int, int]:
        """``(steps ahead, steps right)`` of a cell from the agent."""
        width = self.level.width
        ax, ay = self.level.agent_pos
        dx, dy = cell % width - int(ax), cell // width - int(ay)
        fx, fy = DIR_VECTORS[self.level.agent_dir]
        return dx * fx + dy * fy, dx * -fy + dy * fx

    def reach(self) -> dict[int, int]:
        """Seen cells the agent can walk to now (cached until anything changes)."""
        cached = self._cache.get("reach")
        if cached is not None and cached[0] == self._version:
            return cached[1]
        reach = self.known.reachable(self.agent_cell, self.key_colour())
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
            return self.invalid(f"there is no path you know of to the {name}. Explore to find a way.")
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
            return self.invalid(f"there is no path you know of to the {name}. Explore to find a way.")
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
            return self.invalid(f"there is no path you know of to the {name}. Explore to find a way.")
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

    # ------------------------------------------------------------------ planning
    def _path_to_face(self, target: int):
        """Primitives that bring the agent next to ``target``, facing it, over seen cells."""
        known = self.known
        reach = self.reach()
        goals = known.facing_states(target, lambda cell: cell in reach)
        if not goals:
            return None
        level = self.level
        return known.plan(self.agent_cell, level.agent_dir, goals, target, 1, self.key_colour())

    def _path_to_drop_beside(self, target: int):
        """Primitives that bring the agent to face a free seen cell next to ``target``; a cell
        that does not stand in front of a doorway is preferred, so drops do not block doors."""
        known, level = self.known, self.level
        reach = self.reach()
        cells = level.grid.grid
        clear: set[int] = set()
        by_door: set[int] = set()
        for offset in known.offsets:
            spot = target + offset  # the agent's own cell counts: the grid holds no agent
            if known.seen[spot] and cells[spot] is None:
                states = known.facing_states(spot, lambda cell: cell in reach and cell != target)
                near_door = any(
                    cells[spot + o] is not None and cells[spot + o].type == "door" for o in known.offsets
                )
                (by_door if near_door else clear).update(states)
        for goals in (clear, by_door):
            if goals:
                path = known.plan(self.agent_cell, level.agent_dir, goals, target, 2, self.key_colour())
                if path is not None:
                    return path
        return None

    # ------------------------------------------------------------------ text
    def _thing(self, cell) -> str:
        if cell is None:
            return "nothing"
        if cell.type in NAMED_TYPES:
            return f"the {self.known.name_of(cell)}"
        return f"a {cell.type}"

    def _object_phrase(self, name: str) -> str:
        obj = self.known.objects[name]
        if obj.type == "door":
            state = "open" if obj.is_open else "locked" if obj.is_locked else "closed"
            return f"{name} ({state})"
        return name

    def _describe(self, actions: bool = True) -> str:
        known = self.known
        in_view = []
        seen_names = set()
        for flat, ahead, right in self._visible:
            name = known.name_at.get(flat)
            if name is not None:
                in_view.append((abs(ahead) + abs(right), ahead, right, name))
                seen_names.add(name)
        in_view.sort()
        if in_view:
            sights = " ".join(
                f"There is a {self._object_phrase(name)} {relative_phrase(ahead, right)}."
                for _, ahead, right, name in in_view
            )
            parts = [f"In front of you in this room, you can see several objects: {sights}"]
        else:
            parts = ["You cannot see any objects within sight."]
        remembered = [
            (self._object_phrase(name), *self.relative(flat))
            for name, flat in known.position.items()
            if name not in seen_names
        ]
        if remembered:
            listed = "; ".join(f"the {phrase} {relative_phrase(a, r)}" for phrase, a, r in remembered)
            parts.append(f"Out of sight, you remember: {listed}.")
        parts.append(self._ahead_text())
        carrying = self.level.carrying
        if carrying is not None:
            parts.append(f"You are carrying the {known.name_of(carrying)}.")
        else:
            parts.append("You are not carrying anything.")
        text = " ".join(parts)
        if actions:
            text += "\n" + self._actions_text()
        return text

    def _ahead_text(self) -> str:
        """What blocks the straight line ahead (AgentGym's 'You are facing a wall 2 steps away')."""
        cells = self.level.grid.grid
        step = self.known.offsets[self.level.agent_dir]
        flat = self.agent_cell
        seen = self.known.seen
        for distance in range(1, VIEW):
            flat += step
            if not seen[flat]:
                break
            cell = cells[flat]
            if cell is None or (cell.type == "door" and cell.is_open):
                continue
            if cell.type == "wall":
                return f"The room has walls around you. You are facing a wall {_steps(distance)} away."
            thing = self._object_phrase(self.known.name_of(cell))
            return f"The room has walls around you. You are facing the {thing} {_steps(distance)} away."
        return "The room has walls around you. The way ahead is open as far as you can see."

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


# ---------------------------------------------------------------------- the expert
def pending_instruction(instr):
    """The next unfinished primitive instruction of a BabyAI mission tree."""
    if isinstance(instr, BeforeInstr):
        return pending_instruction(instr.instr_b if instr.a_done == "success" else instr.instr_a)
    if isinstance(instr, AfterInstr):
        return pending_instruction(instr.instr_a if instr.b_done == "success" else instr.instr_b)
    if isinstance(instr, AndInstr):
        return pending_instruction(instr.instr_b if instr.a_done == "success" else instr.instr_a)
    return instr


def describe_wanted(desc: ObjDesc) -> str:
    words = [w for w in (desc.color, desc.type or "object") if w]
    return ("the " if len(desc.obj_set) == 1 else "a ") + " ".join(words)


class BabyAIExpert:
    """A privileged planner over the high-level actions.

    It reads the mission's instruction tree and the true grid (to know which objects match and
    where unseen ones are), but it only emits actions that are valid for what the agent has
    seen: it goes to known objects, and explores (goes through the door on the true route,
    turns or steps towards the target) until the object it needs comes into view. On the way
    it fetches keys for locked doors and moves objects that block the route."""

    def __init__(self, env: BabyAIEnv):
        self.env = env
        self._avoid: set[int] = set()  # cells of the route being followed: never drop there
        self._lifted: tuple[Any, set[int]] | None = None  # a blocker picked up, and its route
        self._relocate = None  # a PutNext target with no room beside it, to be moved first

    # -------------------------------------------------------------- entry point
    def next_action(self) -> tuple[str, str]:
        env = self.env
        if env.done:
            return "The task is complete.", "check available actions"
        self._avoid = set()
        instr = pending_instruction(env.level.instrs)
        if self._lifted is not None:  # put a moved blocker down at once, off the route
            lifted, route = self._lifted
            if env.level.carrying is lifted and lifted not in self._wanted(instr):
                self._avoid = set(route)
                name = env.known.name_of(lifted)
                return self._put_down(f"I carry the {name} only to clear the way, so I put it down aside.")
            self._lifted = None
        if isinstance(instr, GoToInstr):
            return self._go_to(instr)
        if isinstance(instr, PickupInstr):
            return self._pickup(instr.desc)
        if isinstance(instr, OpenInstr):
            return self._open(instr)
        if isinstance(instr, PutNextInstr):
            return self._put_next(instr)
        return self._stuck("the goal")

    @staticmethod
    def _wanted(instr) -> list:
        """Objects the pending instruction wants in hand."""
        if isinstance(instr, PutNextInstr):
            return instr.desc_move.obj_set
        if isinstance(instr, PickupInstr):
            return instr.desc.obj_set
        return []

    # -------------------------------------------------------------- subgoals
    def _go_to(self, instr: GoToInstr) -> tuple[str, str]:
        what = describe_wanted(instr.desc)
        target, usable = self._choose(self._cells_at(instr.desc.obj_poss))
        if target is None:
            return self._stuck(what)
        if not usable:
            return self._explore(target, what)
        name = self.env.known.name_at[target]
        return f"My goal is to go to {what}. I know where the {name} is, so I go to it.", f"go to {name}"

    def _pickup(self, desc: ObjDesc) -> tuple[str, str]:
        env = self.env
        what = describe_wanted(desc)
        carrying = env.level.carrying
        if carrying is not None and carrying in desc.obj_set:
            return self._put_down(
                f"I hold {what} already, but the goal is to pick it up, so I put it down first."
            )
        target, usable = self._choose(self._cells_of(desc.obj_set))
        if target is None:
            return self._stuck(what)
        if not usable:
            return self._explore(target, what)
        if carrying is not None:
            return self._put_down(f"I need my hands free to pick up {what}.", toward=target)
        name = env.known.name_at[target]
        return f"I need to pick up {what}. The {name} is within reach, so I pick it up.", f"pickup {name}"

    def _open(self, instr: OpenInstr) -> tuple[str, str]:
        env = self.env
        what = describe_wanted(instr.desc)
        target, usable = self._choose(self._cells_of(instr.desc.obj_set))
        if target is None:
            return self._stuck(what)
        door = env.level.grid.grid[target]
        if door.is_locked and env.key_colour() != door.color:
            # Clear an object off the way to the door first (hands are free before the key is
            # in them), unless it is the box that holds the key.
            blocker = None if usable else self._first_blocker(target)
            holder = env.level.grid.grid[blocker] if blocker is not None else None
            if holder is not None and env.next_to_reach(blocker) and not self._holds_key(holder, door.color):
                if env.level.carrying is not None:
                    return self._put_down(f"Something blocks my way to {what}; I free my hands to move it.")
                return self._clear_blocker(blocker, what)
            return self._fetch_key(door, f"{what[0].upper()}{what[1:]} is locked")
        if not usable:
            return self._explore(target, what)
        name = env.known.name_at[target]
        if env.front_cell != target:
            return f"I need to open {what}. I go to the {name} first.", f"go to {name}"
        if door.is_open:
            return f"The {name} is already open; I toggle it shut so that I can open it as asked.", "toggle"
        if door.is_locked:
            return f"I face the {name} with its key in hand, so I unlock and open it.", "toggle"
        return f"I am facing the {name}, so I open it.", "toggle"

    def _put_next(self, instr: PutNextInstr) -> tuple[str, str]:
        env = self.env
        fixed = describe_wanted(instr.desc_fixed)
        carrying = env.level.carrying
        cells = self._cells_at(instr.desc_fixed.obj_poss)
        target, usable = self._choose(cells)
        if target is None:
            return self._stuck(fixed)
        if carrying is None or carrying not in instr.desc_move.obj_set:
            # Open the way to the fixed object before fetching the one to move: clearing
            # blockers and fetching keys need free hands, and the way back is one action.
            if not usable:
                return self._explore(target, fixed)
            if self._relocate is env.level.grid.grid[target]:
                name = env.known.name_at[target]
                if carrying is not None:
                    return self._put_down(f"I need my hands free to move the {name}.")
                self._relocate = None
                self._lifted = (env.level.grid.grid[target], set())
                return f"I move the {name} to an open spot so that there is room beside it.", f"pickup {name}"
            self._avoid.update((self._true_route(target) or [None])[1:])  # keep that way clear
            return self._pickup(instr.desc_move)
        if not usable:
            return self._explore(target, fixed)
        held = env.known.name_of(carrying)
        name = env.known.name_at[target]
        front = env.front_cell
        offsets = env.known.offsets
        grid = env.level.grid.grid

        def drop_spot(cell: int) -> bool:  # a free seen cell next to one of the fixed objects
            return grid[cell] is None and env.known.seen[cell] and any(cell + o in cells for o in offsets)

        if self._relocate is not None and self._relocate is grid[target]:
            return self._put_down(f"There is no room next to the {name}; I put down the {held} to move it.")
        if drop_spot(front):
            return f"The cell in front of me is next to {fixed}, so I drop the {held} here.", "drop"
        if front == target and env._path_to_drop_beside(front) is not None:
            return f"I face the {name}; dropping the {held} puts it right next to it.", "drop"
        # Close to a spot next to it (or facing it with no room beside it): walk there.
        for state, depth, first in self._poses(limit=800):
            if depth > 3 and front != target:
                break
            if depth > 0 and drop_spot(state // 4 + offsets[state % 4]):
                reason = f"I carry the {held} to put next to {fixed}."
                return self._move_text(first, reason, "to face a spot beside it")
        if front == target:  # boxed in: move the fixed object somewhere open first
            self._relocate = grid[target]
            return self._put_down(f"There is no room next to the {name}; I put down the {held} to move it.")
        thought = f"I carry the {held} and must put it next to {fixed}. I go to the {name} first."
        return thought, f"go to {name}"

    # -------------------------------------------------------------- exploring
    def _explore(self, target: int, what: str, depth: int = 0) -> tuple[str, str]:
        """Head for an unseen (or unreachable) target along its true route: fetch keys for
        locked doors, move objects in the way, go through doors the agent knows, and otherwise
        turn or step so that the next part of the route comes into view."""
        env = self.env
        cells = env.level.grid.grid
        route = self._true_route(target)
        if route is None:
            return self._stuck(what)
        self._avoid = set(route[1:])  # the way ahead; where the agent stands is behind it
        key_colour = env.key_colour()
        locked = blocker = None
        for cell_index in route[1:]:
            cell = cells[cell_index]
            if cell is None:
                continue
            if cell.type == "door":
                if locked is None and cell.is_locked and cell.color != key_colour:
                    locked = cell
            elif blocker is None:
                blocker = cell_index
                break  # only what lies before the first blocker matters now
        if locked is not None:  # its key comes first: the route is shut without it
            return self._fetch_key(locked, f"To reach {what} I must pass a locked {locked.color} door", depth)
        carrying = env.level.carrying
        if blocker is not None and carrying is not None:
            # Moving the blocker needs free hands: put down what I carry while there is room,
            # unless it is the key to a locked door on the way to the blocker.
            before = route[1 : route.index(blocker)]
            if not any(self._is_locked_door(cells[c], key_colour) for c in before):
                return self._put_down(f"Something blocks my way to {what}; I need my hands free to move it.")
        # Follow the route as far as the agent's own knowledge carries it: move the first
        # object in the way, or go through the furthest door that a seen path leads through.
        reach, known = env.reach(), env.known
        furthest_door, frontier = None, target
        for cell_index in route[1:]:
            cell = cells[cell_index]
            if cell is not None and cell.type != "door":
                if known.name_at.get(cell_index) is not None and env.next_to_reach(cell_index):
                    return self._clear_blocker(cell_index, what)
                frontier = cell_index
                break
            if cell is not None:  # a door
                name = known.name_at.get(cell_index)
                if name is None or not env.next_to_reach(cell_index):
                    frontier = cell_index
                    break
                if env.agent_cell != cell_index:
                    furthest_door = name
                continue
            if cell_index not in reach:  # floor the agent has not seen: look for what comes next
                position = route.index(cell_index)
                frontier = next((c for c in route[position:] if cells[c] is not None), target)
                break
        if furthest_door is not None:
            return (
                f"I have not reached {what} yet. I go through the {furthest_door} to search further.",
                f"go through {furthest_door}",
            )
        return self._look_toward(frontier, what)

    def _clear_blocker(self, cell_index: int, what: str) -> tuple[str, str]:
        env = self.env
        name = env.known.name_at.get(cell_index)
        if name is None or not env.next_to_reach(cell_index):
            return self._look_toward(cell_index, what)
        self._lifted = (env.known.objects[name], self._avoid | {cell_index})
        return f"The {name} blocks my way to {what}, so I pick it up to move it aside.", f"pickup {name}"

    def _fetch_key(self, door, reason: str, depth: int = 0) -> tuple[str, str]:
        env = self.env
        if depth > 3:
            return self._stuck(f"the {door.color} key")
        cells = env.level.grid.grid
        key_cells = [
            flat
            for flat in env._object_cell.values()
            if cells[flat].type == "key" and cells[flat].color == door.color
        ]
        what = f"the {door.color} key"
        if not key_cells:  # the key may be inside a box (KeyInBox)
            return self._open_box_with_key(door, reason, depth)
        target, usable = self._choose(key_cells)
        if not usable:
            return self._explore(target, what, depth + 1)
        if env.level.carrying is not None:
            return self._put_down(f"{reason}; I free my hands to take {what}.", toward=target)
        name = env.known.name_at[target]
        return f"{reason}, so I pick up the {name} to unlock it.", f"pickup {name}"

    @staticmethod
    def _is_locked_door(cell, key_colour: str | None) -> bool:
        """A locked door that the key in hand opens."""
        return cell is not None and cell.type == "door" and cell.is_locked and cell.color == key_colour

    @staticmethod
    def _holds_key(obj, colour: str) -> bool:
        inside = getattr(obj, "contains", None) if obj.type == "box" else None
        return inside is not None and inside.type == "key" and inside.color == colour

    def _open_box_with_key(self, door, reason: str, depth: int) -> tuple[str, str]:
        env = self.env
        cells = env.level.grid.grid
        boxes = [flat for flat in env._object_cell.values() if self._holds_key(cells[flat], door.color)]
        carrying = env.level.carrying
        if carrying is not None and self._holds_key(carrying, door.color):
            return self._put_down(f"{reason}; its key may be in the box I carry, so I put it down.")
        if not boxes:
            return self._stuck(f"the {door.color} key")
        target, usable = self._choose(boxes)
        if not usable:
            return self._explore(target, f"the {door.color} key", depth + 1)
        name = env.known.name_at[target]
        if env.front_cell == target:
            return f"{reason}. The key may be inside the {name}, so I open it.", "toggle"
        return f"{reason} and I see no key. It may be inside the {name}; I go to it.", f"go to {name}"

    def _put_down(self, reason: str, toward: int | None = None) -> tuple[str, str]:
        """Drop the carried object where it is in nobody's way: best on a free cell off the
        route and away from doorways, else anywhere off the route."""
        env = self.env
        cells = env.level.grid.grid
        offsets = env.known.offsets
        avoid = set(self._avoid)
        if toward is not None:
            avoid.update((self._true_route(toward) or [None])[1:])

        def empty(cell: int) -> bool:
            return env.known.seen[cell] and cells[cell] is None

        def free(cell: int) -> bool:
            return empty(cell) and cell not in avoid

        def by_no_door(cell: int) -> bool:
            return all(cells[cell + o] is None or cells[cell + o].type != "door" for o in offsets)

        def away_from_doors(cell: int) -> bool:
            return free(cell) and by_no_door(cell)

        baseline = self._connectivity(None)
        harmless_cache: dict[int, bool] = {}

        def harmless(cell: int) -> bool:  # cuts off no cell or object from the agent
            if cell not in harmless_cache:
                harmless_cache[cell] = (
                    empty(cell)
                    and by_no_door(cell)
                    and self._connectivity(cell) == (baseline[0] - 1, baseline[1])
                )
            return harmless_cache[cell]

        def extra_rounds(cell: int) -> int | None:
            """What a spot is worth: the extra rounds it is worth walking to reach it."""
            if harmless(cell):
                return 0
            if away_from_doors(cell):
                return 2
            return 3 if free(cell) else None

        # Dropping costs one round plus the moves to get there; a worse spot counts extra.
        best_score, best_move, beside = 1 << 30, None, None
        spot = self._drop_beside_spot()  # facing an object, 'drop' puts it down beside it
        if spot is not None and extra_rounds(spot) is not None:
            best_score, beside = 1 + extra_rounds(spot), env.known.name_of(cells[env.front_cell])
        for state, depth, first in self._poses(limit=800):
            if depth + 1 >= best_score:
                break
            worth = extra_rounds(state // 4 + offsets[state % 4])
            if worth is not None and depth + 1 + worth < best_score:
                best_score, best_move, beside = depth + 1 + worth, first, None
        if beside is not None:
            return f"{reason} I drop it beside the {beside} in front of me.", "drop"
        if best_score < 1 << 30:
            return self._move_text(best_move, reason, "to find a free spot to drop it")
        return f"{reason} I turn to look for a free spot.", "turn left"

    def _drop_beside_spot(self) -> int | None:
        """Where 'drop' would put the carried object while the agent faces an object."""
        env = self.env
        ahead = env.level.grid.grid[env.front_cell]
        if ahead is None or ahead.type not in NAMED_TYPES:
            return None
        path = env._path_to_drop_beside(env.front_cell)
        if path is None:
            return None
        here, facing = env.agent_cell, env.level.agent_dir
        for move in path:
            if move == LEFT:
                facing = (facing - 1) % 4
            elif move == RIGHT:
                facing = (facing + 1) % 4
            elif move == FORWARD:
                here += env.known.offsets[facing]
        return here + env.known.offsets[facing]

    def _connectivity(self, blocked: int | None) -> tuple[int, int]:
        """How many floor and door cells the agent can walk to, and how many objects it can
        stand next to, on the true grid with ``blocked`` taken away."""
        env = self.env
        cells = env.level.grid.grid
        offsets = env.known.offsets
        start = env.agent_cell
        seen = {start, blocked}
        stack = [start]
        objects = set()
        count = 0
        while stack:
            here = stack.pop()
            count += 1
            for offset in offsets:
                there = here + offset
                if there in seen:
                    continue
                cell = cells[there]
                if cell is None or cell.type == "door":
                    seen.add(there)
                    stack.append(there)
                elif cell.type in PICKABLE_TYPES:
                    objects.add(there)
        return count, len(objects)

    @staticmethod
    def _move_text(move: int | None, reason: str, purpose: str) -> tuple[str, str]:
        if move is None:
            return reason, "drop"
        if move == FORWARD:
            return f"{reason} I move forward {purpose}.", "move forward"
        side = "left" if move == LEFT else "right"
        return f"{reason} I turn {side} {purpose}.", f"turn {side}"

    def _look_toward(self, cell: int, what: str) -> tuple[str, str]:
        """The first turn or step of the shortest primitive walk (over the true grid) to a
        place from which the agent sees ``cell``."""
        level = self.env.level
        tx, ty = cell % level.width, cell // level.width
        move = self._first_move_until(
            lambda here, facing: self._sees(here, facing, cell, tx, ty), start_counts=False
        )
        if move is None:
            return self._stuck(what)
        if move == FORWARD:
            return f"I have not found {what} yet; I move forward to see further.", "move forward"
        side = "left" if move == LEFT else "right"
        return f"I have not found {what} yet; I turn {side} to look around.", f"turn {side}"

    def _first_move_until(self, done, start_counts: bool = True, limit: int = 4000) -> int | None:
        """The first primitive of the shortest walk to a pose where ``done(cell, direction)``
        holds. Returns None if the start pose already qualifies (when ``start_counts``) or
        nothing does."""
        for state, depth, first in self._poses(limit):
            if (depth > 0 or start_counts) and done(*divmod(state, 4)):
                return first
        return None

    def _poses(self, limit: int):
        """Breadth-first over poses (free cells of the true grid times four directions) from
        the agent's: yields ``(cell * 4 + direction, moves, first move)``."""
        env = self.env
        cells = env.level.grid.grid
        offsets = env.known.offsets
        start = env.agent_cell * 4 + env.level.agent_dir
        first: dict[int, int | None] = {start: None}
        depth = {start: 0}
        queue = deque([start])
        while queue and len(first) < limit:
            state = queue.popleft()
            yield state, depth[state], first[state]
            here, facing = divmod(state, 4)
            ahead = here + offsets[facing]
            moves = [(LEFT, here * 4 + (facing - 1) % 4), (RIGHT, here * 4 + (facing + 1) % 4)]
            if passage_of(cells[ahead]) == FREE:
                moves.append((FORWARD, ahead * 4 + facing))
            for move, nxt in moves:
                if nxt not in first:
                    first[nxt] = move if state == start else first[state]
                    depth[nxt] = depth[state] + 1
                    queue.append(nxt)

    def _sees(self, here: int, facing: int, cell: int, tx: int, ty: int) -> bool:
        level = self.env.level
        x, y = here % level.width, here // level.width
        fx, fy = DIR_VECTORS[facing]
        dx, dy = tx - x, ty - y
        ahead, right = dx * fx + dy * fy, dx * -fy + dy * fx
        if not (0 <= ahead < VIEW and abs(right) <= VIEW // 2):
            return False
        return any(flat == cell for flat, _, _ in visible_cells(level, (x, y, facing)))

    # -------------------------------------------------------------- privileged search
    def _cells_of(self, objects) -> list[int]:
        where = self.env._object_cell
        return [where[id(obj)] for obj in objects if id(obj) in where]

    def _cells_at(self, positions) -> list[int]:
        width = self.env.level.width
        return [int(y) * width + int(x) for x, y in positions]

    def _choose(self, cells: list[int]) -> tuple[int | None, bool]:
        """The target cell to work on and whether the agent can act on it now (it knows the
        object there and a seen path leads next to it): known reachable targets first, nearest
        first; otherwise the nearest by the true route."""
        env = self.env
        reach, known = env.reach(), env.known
        best, best_distance = None, 1 << 30
        for cell in cells:
            if cell not in known.name_at:
                continue
            if env.front_cell == cell:
                return cell, True
            for offset in known.offsets:
                distance = reach.get(cell + offset)
                if distance is not None and distance < best_distance:
                    best, best_distance = cell, distance
        if best is not None:
            return best, True
        if not cells:
            return None, False
        distance = self._true_search()[0]
        return min(cells, key=lambda c: min(distance.get(c + o, 1 << 30) for o in known.offsets)), False

    def _true_route(self, target: int) -> list[int] | None:
        """The cheapest route on the true grid from the agent to a cell next to ``target``."""
        distance, came = self._true_search()
        offsets = self.env.known.offsets
        ends = [target + o for o in offsets if target + o in distance and target + o != target]
        if not ends:
            return None
        cell = min(ends, key=distance.__getitem__)
        route = [cell]
        while cell in came:
            cell = came[cell]
            route.append(cell)
        return route[::-1]

    def _true_search(self) -> tuple[dict[int, int], dict[int, int]]:
        """Dijkstra over the true grid from the agent, cached until the world changes. Doors
        cost a little more than floor; locked doors without their key and objects in the way
        cost much more, so a route uses them only when it must."""
        env = self.env
        key_colour = env.key_colour()
        cached = getattr(self, "_search_cache", None)
        if cached is not None and cached[0] == (env._version, key_colour):
            return cached[1]
        cells = env.level.grid.grid
        offsets = env.known.offsets
        start = env.agent_cell
        distance = {start: 0}
        came: dict[int, int] = {}
        frontier = [(0, start)]
        while frontier:
            spent, here = heapq.heappop(frontier)
            if spent > distance[here]:
                continue
            for offset in offsets:
                there = here + offset
                cell = cells[there]
                if cell is None:
                    price = 1
                elif cell.type == "door":
                    if cell.is_locked and cell.color != key_colour:
                        price = 40
                    else:
                        price = 1 if cell.is_open else 2
                elif cell.type in PICKABLE_TYPES:
                    price = 25
                else:
                    continue
                total = spent + price
                if total < distance.get(there, 1 << 30):
                    distance[there] = total
                    came[there] = here
                    heapq.heappush(frontier, (total, there))
        self._search_cache = ((env._version, key_colour), (distance, came))
        return distance, came

    def _first_blocker(self, target: int) -> int | None:
        """The first object on the true route to ``target`` that has to be moved away."""
        route = self._true_route(target) or []
        cells = self.env.level.grid.grid
        for cell_index in route[1:]:
            cell = cells[cell_index]
            if cell is not None and cell.type in PICKABLE_TYPES:
                return cell_index
        return None

    def _stuck(self, what: str) -> tuple[str, str]:
        return f"I cannot see a way to {what} yet, so I check what I can do.", "check available actions"
