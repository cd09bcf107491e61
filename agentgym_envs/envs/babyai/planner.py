"""The path planner that compiles high-level actions ('go to red ball 1') into minigrid moves.

It plans only over what the agent has seen (a :class:`~agentgym_envs.envs.babyai.view.KnownGrid`):
unseen cells are walls to it. A route may open closed doors on the way, and a locked one when
the agent carries the key of its colour. States are ``cell * 4 + direction`` (cells are flat
grid indices, directions minigrid's: 0 east, 1 south, 2 west, 3 north).
"""

from __future__ import annotations

import heapq
from collections import deque
from typing import TYPE_CHECKING

from agentgym_envs.envs.babyai.levels import FORWARD, LEFT, RIGHT, TOGGLE

if TYPE_CHECKING:
    from collections.abc import Callable

    from agentgym_envs.envs.babyai.view import KnownGrid

# What a seen cell is to the path planner. Unseen cells are BLOCKED: the agent plans only over
# what it has seen.
BLOCKED, FREE, CLOSED_DOOR, LOCKED_DOOR = 0, 1, 2, 3


def passage_of(cell) -> int:
    """How the planner may pass a grid cell (None is empty floor)."""
    if cell is None:
        return FREE
    kind = cell.type
    if kind == "door":
        if cell.is_open:
            return FREE
        return LOCKED_DOOR if cell.is_locked else CLOSED_DOOR
    return FREE if cell.can_overlap() else BLOCKED


def can_enter(known: KnownGrid, flat: int, key_colour: str | None) -> bool:
    """Whether a route may enter a cell: seen and free, a closed door, or a locked door that
    the key in hand opens."""
    kind = known.passage[flat]
    return (
        kind == FREE
        or kind == CLOSED_DOOR
        or (kind == LOCKED_DOOR and known.level.grid.grid[flat].color == key_colour)
    )


def reachable(known: KnownGrid, start: int, key_colour: str | None) -> dict[int, int]:
    """Cells the agent can walk to over seen cells, with their distance in cells."""
    distance = {start: 0}
    queue = deque([start])
    offsets = known.offsets
    while queue:
        here = queue.popleft()
        step = distance[here] + 1
        for offset in offsets:
            there = here + offset
            if there not in distance:
                if can_enter(known, there, key_colour):
                    distance[there] = step
                    queue.append(there)
    return distance


def plan(
    known: KnownGrid,
    start: int,
    direction: int,
    goals: set[int],
    anchor: int,
    reach: int,
    key_colour: str | None,
) -> list[int] | None:
    """Fewest primitive actions from ``(start, direction)`` to one of the ``goals`` states
    (``cell * 4 + direction``), over seen cells; closed doors on the way are opened.

    A* with the Manhattan distance to ``anchor`` less ``reach`` as the (admissible) estimate.
    Returns the list of primitive actions, or None when no seen route exists."""
    width, offsets, passage = known.width, known.offsets, known.passage
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
        elif kind == CLOSED_DOOR or (kind == LOCKED_DOOR and can_enter(known, ahead, key_colour)):
            options.append((ahead * 4 + facing, 2, (TOGGLE, FORWARD)))
        for nxt, price, moves in options:
            total = spent + price
            if total < cost.get(nxt, 1 << 30):
                cost[nxt] = total
                came[nxt] = (state, moves)
                heapq.heappush(frontier, (total + estimate(nxt // 4), total, nxt))
    return None


def facing_states(known: KnownGrid, target: int, allowed: Callable[[int], bool]) -> set[int]:
    """States that face ``target`` from a neighbouring cell accepted by ``allowed``."""
    states = set()
    for direction, offset in enumerate(known.offsets):
        stand = target - offset
        if allowed(stand):
            states.add(stand * 4 + direction)
    return states


def path_to_face(
    known: KnownGrid, pose: tuple[int, int], target: int, reach: dict[int, int], key_colour: str | None
) -> list[int] | None:
    """Primitives that bring the agent from ``pose`` (cell, direction) next to ``target``,
    facing it, over seen cells. ``reach`` is :func:`reachable` from the agent's cell."""
    goals = facing_states(known, target, lambda cell: cell in reach)
    if not goals:
        return None
    return plan(known, *pose, goals, target, 1, key_colour)


def path_to_drop_beside(
    known: KnownGrid, pose: tuple[int, int], target: int, reach: dict[int, int], key_colour: str | None
) -> list[int] | None:
    """Primitives that bring the agent to face a free seen cell next to ``target``; a cell
    that does not stand in front of a doorway is preferred, so drops do not block doors."""
    cells = known.level.grid.grid
    clear: set[int] = set()
    by_door: set[int] = set()
    for offset in known.offsets:
        spot = target + offset  # the agent's own cell counts: the grid holds no agent
        if known.seen[spot] and cells[spot] is None:
            states = facing_states(known, spot, lambda cell: cell in reach and cell != target)
            near_door = any(
                cells[spot + o] is not None and cells[spot + o].type == "door" for o in known.offsets
            )
            (by_door if near_door else clear).update(states)
    for goals in (clear, by_door):
        if goals:
            path = plan(known, *pose, goals, target, 2, key_colour)
            if path is not None:
                return path
    return None
