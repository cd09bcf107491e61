"""Maze (LMRL-Gym's maze in AgentGym, item ids ``lmrlgym_maze_<n>``).

The agent walks a grid maze with ``move up|down|left|right``, seeing only its position, the
goal's position and the walls around it. Unlike AgentGym, which reuses one maze with 26 start
cells, every task id here is its own generated maze, and no test maze appears in training.
"""

from __future__ import annotations

from collections import deque
from functools import cache

import numpy as np

from agentgym_envs.core import Outcome, TextEnv
from agentgym_envs.toolcalls import ToolParam, ToolSpec

# direction -> (row step, col step, wall bit, words used in observations)
DIRECTIONS = {
    "up": (-1, 0, 1, "above you"),
    "down": (1, 0, 2, "below you"),
    "left": (0, -1, 4, "to your left"),
    "right": (0, 1, 8, "to your right"),
}
OPPOSITE = {"up": "down", "down": "up", "left": "right", "right": "left"}
ACTIONS = [f"move {d}" for d in DIRECTIONS]
SIZES = ((4, 4), (4, 5), (5, 5), (5, 6), (6, 6))
MIN_PATH, MAX_PATH = 4, 12  # shortest routes fit in AgentGym's 15 rounds with room to err


class Maze:
    """A grid of cells; ``open[r][c]`` is a bit mask of the directions without a wall."""

    def __init__(self, rows: int, cols: int, open_mask: list[list[int]], start, goal):
        self.rows, self.cols = rows, cols
        self.open = open_mask
        self.start: tuple[int, int] = start
        self.goal: tuple[int, int] = goal
        self.distance = self._distances_to(goal)

    def is_open(self, cell: tuple[int, int], direction: str) -> bool:
        return bool(self.open[cell[0]][cell[1]] & DIRECTIONS[direction][2])

    def neighbour(self, cell: tuple[int, int], direction: str) -> tuple[int, int]:
        dr, dc, _, _ = DIRECTIONS[direction]
        return cell[0] + dr, cell[1] + dc

    def layout(self) -> tuple:
        """Everything that makes two mazes the same task."""
        return self.rows, self.cols, tuple(map(tuple, self.open)), self.start, self.goal

    def _distances_to(self, target: tuple[int, int]) -> dict[tuple[int, int], int]:
        distance = {target: 0}
        queue = deque([target])
        while queue:
            cell = queue.popleft()
            for direction in DIRECTIONS:
                if self.is_open(cell, direction):
                    nxt = self.neighbour(cell, direction)
                    if nxt not in distance:
                        distance[nxt] = distance[cell] + 1
                        queue.append(nxt)
        return distance


def generate_maze(rng: np.random.Generator) -> Maze:
    """A random maze: depth-first carving, a few extra openings so there is more than one
    route, and a start and goal whose shortest route is MIN_PATH..MAX_PATH moves."""
    rows, cols = SIZES[int(rng.integers(len(SIZES)))]
    open_mask = [[0] * cols for _ in range(rows)]
    names = list(DIRECTIONS)
    seen = {(0, 0)}
    stack = [(0, 0)]
    while stack:
        r, c = stack[-1]
        choices = []
        for name in names:
            dr, dc, _, _ = DIRECTIONS[name]
            nr, nc = r + dr, c + dc
            if 0 <= nr < rows and 0 <= nc < cols and (nr, nc) not in seen:
                choices.append((name, nr, nc))
        if not choices:
            stack.pop()
            continue
        name, nr, nc = choices[int(rng.integers(len(choices)))]
        open_mask[r][c] |= DIRECTIONS[name][2]
        open_mask[nr][nc] |= DIRECTIONS[OPPOSITE[name]][2]
        seen.add((nr, nc))
        stack.append((nr, nc))
    for _ in range(rows * cols // 8):  # braid: knock down a few interior walls
        r, c = int(rng.integers(rows)), int(rng.integers(cols))
        name = names[int(rng.integers(4))]
        dr, dc, _, _ = DIRECTIONS[name]
        if 0 <= r + dr < rows and 0 <= c + dc < cols:
            open_mask[r][c] |= DIRECTIONS[name][2]
            open_mask[r + dr][c + dc] |= DIRECTIONS[OPPOSITE[name]][2]
    cells = [(r, c) for r in range(rows) for c in range(cols)]
    while True:
        goal = cells[int(rng.integers(len(cells)))]
        maze = Maze(rows, cols, open_mask, goal, goal)
        starts = [cell for cell, d in maze.distance.items() if MIN_PATH <= d <= MAX_PATH]
        if starts:
            maze.start = starts[int(rng.integers(len(starts)))]
            return maze


@cache
def _layouts(*splits: str) -> frozenset:
    return frozenset(maze_for_task(i).layout() for split in splits for i in MazeEnv.splits.ids(split))


def _taken_layouts(task_id: int) -> frozenset:
    """Mazes a task id must not repeat: a training id no test maze, a held-out id no test or
    training maze (so each split is unseen by the ones trained before it)."""
    if task_id in MazeEnv.splits.test:
        return frozenset()
    if task_id in MazeEnv.splits.heldout:
        return _layouts("test", "train")
    return _layouts("test")


def _maze_for_seed(task_id: int, attempt: int = 0) -> Maze:
    return generate_maze(np.random.default_rng([task_id, attempt, 0x6D617A65]))


def maze_for_task(task_id: int) -> Maze:
    """The maze of a task id, redrawn while it repeats a maze of a split it must not see."""
    taken = _taken_layouts(task_id)
    maze = _maze_for_seed(task_id)
    attempt = 0
    while maze.layout() in taken:
        attempt += 1
        maze = _maze_for_seed(task_id, attempt)
    return maze


def _position(cell: tuple[int, int]) -> str:
    return f"({cell[0]}, {cell[1]})"


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


class MazeEnv(TextEnv):
    """Find the goal in a maze you cannot see, one move at a time."""

    action_help = (
        "Actions: 'move up', 'move down', 'move left', 'move right'. "
        "Rows count down from 0 at the top; columns count right from 0 at the left."
    )

    def __init__(self, split: str = "train", render_mode: str | None = None):
        super().__init__(split=split, render_mode=render_mode)
        self.maze: Maze | None = None
        self.position: tuple[int, int] = (0, 0)
        self._wall_text: dict[tuple[int, int], str] = {}

    @classmethod
    def action_tools(cls) -> tuple[ToolSpec, ...]:
        direction = ToolParam("direction", "string", "the way to go", enum=tuple(DIRECTIONS))
        return (ToolSpec("move", "Move one cell up, down, left or right.", (direction,), "move {direction}"),)

    def task_description(self) -> str:
        return (
            "You are in a maze and must reach the goal. You only see your own position, the "
            "goal's position and which of the four directions around you are blocked by walls. "
            "Walk to the goal in as few moves as you can."
        )

    def _start_task(self, task_id: int) -> str:
        self.maze = maze_for_task(task_id)
        self.position = self.maze.start
        self._wall_text = {}
        return (
            f"The maze has {self.maze.rows} rows and {self.maze.cols} columns. "
            f"The goal is at position {_position(self.maze.goal)}. "
            f"{self._where()}"
        )

    def _apply(self, action: str) -> Outcome:
        words = action.lower().split()
        if words and words[0] == "move":
            words = words[1:]
        if len(words) != 1 or words[0] not in DIRECTIONS:
            return self.invalid(f"'{action}' is not a move.")
        direction = words[0]
        if not self.maze.is_open(self.position, direction):
            where = DIRECTIONS[direction][3]
            return Outcome(
                f"You cannot move {direction}: there is a wall {where}. {self._where()}", self.score
            )
        self.position = self.maze.neighbour(self.position, direction)
        if self.position == self.maze.goal:
            return Outcome(
                f"You moved {direction} and reached the goal at {_position(self.position)}.", 1.0, done=True
            )
        return Outcome(f"You moved {direction}. {self._where()}", self.score)

    def available_actions(self) -> list[str]:
        return list(ACTIONS)

    def expert(self) -> tuple[str, str]:
        here, goal = self.position, self.maze.goal
        distance = self.maze.distance
        best = min(
            (d for d in DIRECTIONS if self.maze.is_open(here, d)),
            key=lambda d: distance[self.maze.neighbour(here, d)],
        )
        steps = distance[here]
        thought = (
            f"I am at {_position(here)} and the goal is at {_position(goal)}. "
            f"The open way {best} leads closer to it; about {steps} move{'s' if steps != 1 else ''} remain."
        )
        return thought, f"move {best}"

    def _where(self) -> str:
        """Current position and surrounding walls (cached per cell: the maze never changes)."""
        text = self._wall_text.get(self.position)
        if text is None:
            walls = [
                words for d, (_, _, _, words) in DIRECTIONS.items() if not self.maze.is_open(self.position, d)
            ]
            wall_part = f"There are walls {_join(walls)}." if walls else "There are no walls around you."
            text = f"Your current position is {_position(self.position)}. {wall_part}"
            self._wall_text[self.position] = text
        return text
