"""The agent's text view: what it sees, what it remembers, and how both are put in words.

Each round the agent is shown the cells of minigrid's egocentric 7x7 view (walls and closed
doors hide what is behind them): the objects in sight with their distance and side, the objects
it remembers out of sight, what blocks the way ahead and what it carries. Objects are named by
colour, type and a number given in the order the agent first sees them, so ``red ball 2``
names the same ball for the whole episode. The wording follows AgentGym's ('2 steps in front
of you and 1 steps to your left').

Cells are flat grid indices (``y * width + x``).
"""

from __future__ import annotations

from typing import Any

from agentgym_envs.envs.babyai.levels import DIR_VECTORS, NAMED_TYPES, VIEW
from agentgym_envs.envs.babyai.planner import passage_of


# ---------------------------------------------------------------------- what is in view
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


def agent_cell_of(level) -> int:
    """The flat index of the cell the agent stands on."""
    x, y = level.agent_pos
    return int(y) * level.width + int(x)


def relative_position(level, cell: int) -> tuple[int, int]:
    """``(steps ahead, steps right)`` of a cell from the agent."""
    width = level.width
    ax, ay = level.agent_pos
    dx, dy = cell % width - int(ax), cell // width - int(ay)
    fx, fy = DIR_VECTORS[level.agent_dir]
    return dx * fx + dy * fy, dx * -fy + dy * fx


# ---------------------------------------------------------------------- what is remembered
class KnownGrid:
    """What the agent knows: the cells it has seen, the objects on them and their names.

    Only the agent changes a BabyAI world, so a seen cell stays true as long as the agent's own
    pickups, drops and toggles are written back (``refresh``). Names are given per colour and
    type in the order objects are first seen, nearest first. ``passage`` is what the planner
    reads: how each seen cell may be crossed (unseen cells are BLOCKED)."""

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


# ---------------------------------------------------------------------- words
def steps(n: int) -> str:
    return f"{n} steps"  # AgentGym's wording, "1 steps" included


def relative_phrase(ahead: int, right: int) -> str:
    """AgentGym's way of placing an object: '2 steps in front of you and 1 steps to your left'."""
    if right == 0:
        if ahead == 0:
            return "right where you stand"
        if ahead > 0:
            return f"right in front of you {steps(ahead)} away"
        return f"right behind you {steps(-ahead)} away"
    side = f"{steps(abs(right))} to your {'right' if right > 0 else 'left'}"
    if ahead > 0:
        return f"{steps(ahead)} in front of you and {side}"
    if ahead < 0:
        return f"{steps(-ahead)} behind you and {side}"
    return side


def thing_phrase(known: KnownGrid, cell) -> str:
    """'nothing', 'a wall' or 'the red ball 1': what occupies a grid cell."""
    if cell is None:
        return "nothing"
    if cell.type in NAMED_TYPES:
        return f"the {known.name_of(cell)}"
    return f"a {cell.type}"


def object_phrase(known: KnownGrid, name: str) -> str:
    """An object's name, with a door's state: 'red door 1 (locked)'."""
    obj = known.objects[name]
    if obj.type == "door":
        state = "open" if obj.is_open else "locked" if obj.is_locked else "closed"
        return f"{name} ({state})"
    return name


def describe_view(known: KnownGrid, visible: list[tuple[int, int, int]]) -> str:
    """The observation's account of the world: objects in sight, objects remembered, the way
    ahead and what the agent carries (the available actions are the env's to add)."""
    level = known.level
    in_view = []
    seen_names = set()
    for flat, ahead, right in visible:
        name = known.name_at.get(flat)
        if name is not None:
            in_view.append((abs(ahead) + abs(right), ahead, right, name))
            seen_names.add(name)
    in_view.sort()
    if in_view:
        sights = " ".join(
            f"There is a {object_phrase(known, name)} {relative_phrase(ahead, right)}."
            for _, ahead, right, name in in_view
        )
        parts = [f"In front of you in this room, you can see several objects: {sights}"]
    else:
        parts = ["You cannot see any objects within sight."]
    remembered = [
        (object_phrase(known, name), *relative_position(level, flat))
        for name, flat in known.position.items()
        if name not in seen_names
    ]
    if remembered:
        listed = "; ".join(f"the {phrase} {relative_phrase(a, r)}" for phrase, a, r in remembered)
        parts.append(f"Out of sight, you remember: {listed}.")
    parts.append(ahead_text(known))
    carrying = level.carrying
    if carrying is not None:
        parts.append(f"You are carrying the {known.name_of(carrying)}.")
    else:
        parts.append("You are not carrying anything.")
    return " ".join(parts)


def ahead_text(known: KnownGrid) -> str:
    """What blocks the straight line ahead (AgentGym's 'You are facing a wall 2 steps away')."""
    level = known.level
    cells = level.grid.grid
    step = known.offsets[level.agent_dir]
    flat = agent_cell_of(level)
    seen = known.seen
    for distance in range(1, VIEW):
        flat += step
        if not seen[flat]:
            break
        cell = cells[flat]
        if cell is None or (cell.type == "door" and cell.is_open):
            continue
        if cell.type == "wall":
            return f"The room has walls around you. You are facing a wall {steps(distance)} away."
        thing = object_phrase(known, known.name_of(cell))
        return f"The room has walls around you. You are facing the {thing} {steps(distance)} away."
    return "The room has walls around you. The way ahead is open as far as you can see."
