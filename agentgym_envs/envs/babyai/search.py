"""Searches over the true grid, for the expert.

The agent's planner (``planner.py``) sees only the cells the agent has seen. The expert may read
the whole level through the :class:`~agentgym_envs.envs.babyai.env.PrivilegedView`, and needs to
know where an unseen target lies and which way leads there: these searches answer that. They
only read; what the agent does with the answer still goes through its own high-level actions.
"""

from __future__ import annotations

import heapq
from collections import deque
from typing import TYPE_CHECKING

from agentgym_envs.envs.babyai.levels import DIR_VECTORS, FORWARD, LEFT, PICKABLE_TYPES, RIGHT, VIEW
from agentgym_envs.envs.babyai.planner import FREE, passage_of
from agentgym_envs.envs.babyai.view import visible_cells

if TYPE_CHECKING:
    from agentgym_envs.envs.babyai.env import PrivilegedView


class TrueGridSearch:
    """Routes, distances and sight lines on the true grid, from where the agent stands now.

    Cells are flat grid indices; poses are ``cell * 4 + direction``. The Dijkstra search is
    cached until the world, the agent's knowledge or the key in hand changes."""

    def __init__(self, world: PrivilegedView):
        self.world = world
        self._cache = None  # ((version, key colour), (distance, came)) of the last search

    def cells_at(self, positions) -> list[int]:
        """Flat cells of ``(x, y)`` positions (a mission's ``obj_poss``)."""
        width = self.world.level.width
        return [int(y) * width + int(x) for x, y in positions]

    def choose(self, cells: list[int]) -> tuple[int | None, bool]:
        """The target cell to work on and whether the agent can act on it now (it knows the
        object there and a seen path leads next to it): known reachable targets first, nearest
        first; otherwise the nearest by the true route."""
        world = self.world
        reach, known = world.reach(), world.known
        best, best_distance = None, 1 << 30
        for cell in cells:
            if cell not in known.name_at:
                continue
            if world.front_cell == cell:
                return cell, True
            for offset in known.offsets:
                distance = reach.get(cell + offset)
                if distance is not None and distance < best_distance:
                    best, best_distance = cell, distance
        if best is not None:
            return best, True
        if not cells:
            return None, False
        distance = self.distances()[0]
        return min(cells, key=lambda c: min(distance.get(c + o, 1 << 30) for o in known.offsets)), False

    def distances(self) -> tuple[dict[int, int], dict[int, int]]:
        """Dijkstra over the true grid from the agent, cached until the world changes. Doors
        cost a little more than floor; locked doors without their key and objects in the way
        cost much more, so a route uses them only when it must."""
        world = self.world
        key_colour = world.key_colour()
        cached = self._cache
        if cached is not None and cached[0] == (world.version, key_colour):
            return cached[1]
        cells = world.level.grid.grid
        offsets = world.known.offsets
        start = world.agent_cell
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
        self._cache = ((world.version, key_colour), (distance, came))
        return distance, came

    def route_to(self, target: int) -> list[int] | None:
        """The cheapest route on the true grid from the agent to a cell next to ``target``."""
        distance, came = self.distances()
        offsets = self.world.known.offsets
        ends = [target + o for o in offsets if target + o in distance and target + o != target]
        if not ends:
            return None
        cell = min(ends, key=distance.__getitem__)
        route = [cell]
        while cell in came:
            cell = came[cell]
            route.append(cell)
        return route[::-1]

    def first_blocker(self, target: int) -> int | None:
        """The first object on the true route to ``target`` that has to be moved away."""
        route = self.route_to(target) or []
        cells = self.world.level.grid.grid
        for cell_index in route[1:]:
            cell = cells[cell_index]
            if cell is not None and cell.type in PICKABLE_TYPES:
                return cell_index
        return None

    def connectivity(self, blocked: int | None) -> tuple[int, int]:
        """How many floor and door cells the agent can walk to, and how many objects it can
        stand next to, on the true grid with ``blocked`` taken away."""
        world = self.world
        cells = world.level.grid.grid
        offsets = world.known.offsets
        start = world.agent_cell
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

    def poses(self, limit: int):
        """Breadth-first over poses (free cells of the true grid times four directions) from
        the agent's: yields ``(cell * 4 + direction, moves, first move)``."""
        world = self.world
        cells = world.level.grid.grid
        offsets = world.known.offsets
        start = world.agent_cell * 4 + world.level.agent_dir
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

    def first_move_until(self, done, start_counts: bool = True, limit: int = 4000) -> int | None:
        """The first primitive of the shortest walk to a pose where ``done(cell, direction)``
        holds. Returns None if the start pose already qualifies (when ``start_counts``) or
        nothing does."""
        for state, depth, first in self.poses(limit):
            if (depth > 0 or start_counts) and done(*divmod(state, 4)):
                return first
        return None

    def sees(self, here: int, facing: int, cell: int, tx: int, ty: int) -> bool:
        """Whether the agent standing on ``here`` facing ``facing`` would see ``cell`` (at ``tx, ty``)."""
        level = self.world.level
        x, y = here % level.width, here // level.width
        fx, fy = DIR_VECTORS[facing]
        dx, dy = tx - x, ty - y
        ahead, right = dx * fx + dy * fy, dx * -fy + dy * fx
        if not (0 <= ahead < VIEW and abs(right) <= VIEW // 2):
            return False
        return any(flat == cell for flat, _, _ in visible_cells(level, (x, y, facing)))
