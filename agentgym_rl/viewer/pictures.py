"""Pictures of an episode, where its env has one: one frame per step (the start, then after
each step), or one picture for the whole episode.

- **Maze and BabyAI: replayed.** The task id is reset in the env (``gym.make`` is cheap for both)
  and the episode's replies are stepped through it, read as the rollout read them; after every
  step the env's true state is drawn (the whole maze with the path so far; the minigrid grid
  with the agent). Each replayed observation is compared with the recorded one: at the first
  difference (the env changed since the run, or the record is not this env's) the replay stops
  and the page says so, so a picture never shows a state the agent did not see.
- **TextCraft: the recipe tree**, read from the first observation (the crafting commands and the
  goal); each item is marked with the step that got or crafted it.
- **Screenshots** (a browser env's episodes), when the record carries them: a ``screenshot``
  (or ``image``) on an observation turn, or a record-level ``screenshots`` list; each is a data
  URL, base64 PNG/JPEG, or a file path beside the episodes file.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from typing import Any

from agentgym_rl.viewer.steps import Episode, command_of


@dataclass
class Picture:
    kind: str  # maze | babyai | textcraft | screenshots
    frames: list[str]  # HTML per step: frames[0] before the first step; one frame for a static picture
    note: str  # how the picture was made, and anything it could not show


def picture_of(episode: Episode, image_url: Callable[[Any], str | None]) -> Picture | None:
    """The episode's picture, or None when its env has none."""
    family = (episode.env_id or "").removeprefix("AgentGym/").removesuffix("-v0")
    if family in ("Maze", "BabyAI"):
        return replayed(episode, family)
    if family == "TextCraft":
        return recipe_tree(episode)
    shots = [episode.first_screenshot] + [step.screenshot for step in episode.steps]
    if any(shots):
        return screenshots(shots, image_url)
    if family == "WebArena":
        return Picture(
            "screenshots", [], "this episode carries no screenshots (only the browser backend takes them)"
        )
    return None


# ------------------------------------------------------------------------------ replay
_ENVS: dict[str, Any] = {}
_ENV_LOCK = threading.Lock()  # one replay at a time: the envs are shared by the server's threads


def replayed(episode: Episode, family: str) -> Picture:
    """Frames of the episode replayed in its env (see the module doc)."""
    from agentgym_envs import missing_engine

    problem = missing_engine(episode.env_id)
    if problem is not None:
        return Picture(family.lower(), [], f"no picture: {problem}")
    snapshot, draw = (maze_state, maze_svg) if family == "Maze" else (babyai_state, babyai_svg)
    try:
        with _ENV_LOCK:
            states, note = replay_states(episode, snapshot)
    except Exception as err:  # the env's own code refused (a task id it lacks, ...): the steps still show
        _ENVS.pop(episode.env_id, None)
        return Picture(family.lower(), [], f"no picture: replaying task {episode.task_id} failed: {err}")
    frames = [draw(states, k) for k in range(len(states))]
    return Picture(family.lower(), frames, note)


def replay_states(episode: Episode, snapshot: Callable[[Any], Any]) -> tuple[list[Any], str]:
    """The env's state at the start and after each step, and a note on how far the replay agreed
    with the record."""
    import gymnasium as gym

    env = _ENVS.get(episode.env_id)
    if env is None:
        # unwrapped: the record decides the episode's length (a run may allow more rounds).
        env = _ENVS[episode.env_id] = gym.make(episode.env_id).unwrapped
    observation, _ = env.reset(options={"task_id": episode.task_id})
    states = [snapshot(env)]
    recorded = episode.observations
    if observation.strip() != recorded[0].strip():
        return states, (
            "replay stopped: the env's first observation for this task differs from the recorded one "
            "(the env changed since the run?); the picture shows the env's start"
        )
    for step in episode.steps:
        observation, _, terminated, _, _ = env.step(command_of(episode.env_id, step.reply))
        states.append(snapshot(env))
        if step.observation is not None and observation.strip() != step.observation.strip():
            return states, (
                f"replay stopped at step {step.number}: the env answered differently from the record "
                "(the env changed since the run?); later steps have no picture"
            )
        if terminated and step.number < len(episode.steps):
            return states, f"replay stopped: the env ended the episode at step {step.number}"
    return states, f"replayed in {episode.env_id} from task {episode.task_id} with the episode's actions"


# ------------------------------------------------------------------------------ Maze
def maze_state(env) -> tuple[Any, tuple[int, int]]:
    return env.maze, tuple(env.position)


def maze_svg(states: list[tuple[Any, tuple[int, int]]], k: int) -> str:
    """The maze with walls, start (S), goal (G), the path walked so far and the agent at step k."""
    from agentgym_envs.envs.maze import DIRECTIONS

    maze = states[0][0]
    size, margin = 36, 18
    width, height = maze.cols * size + margin + 4, maze.rows * size + margin + 4

    def centre(cell):
        return margin + cell[1] * size + size / 2, margin + cell[0] * size + size / 2

    parts = [_svg_open(width, height, f"maze at step {k}")]
    gx, gy = margin + maze.goal[1] * size, margin + maze.goal[0] * size
    parts.append(f'<rect x="{gx}" y="{gy}" width="{size}" height="{size}" fill="#c8f0c8"/>')
    for row in range(maze.rows):
        parts.append(_text(margin / 2, centre((row, 0))[1] + 4, str(row), 10, "#888"))
    for col in range(maze.cols):
        parts.append(_text(centre((0, col))[0], 12, str(col), 10, "#888"))
    for label, cell in (("S", maze.start), ("G", maze.goal)):
        x, y = centre(cell)
        parts.append(_text(x, y + 5, label, 14, "#777"))
    path = [centre(position) for _, position in states[: k + 1]]
    points = " ".join(f"{x:.0f},{y:.0f}" for x, y in path)
    parts.append(f'<polyline points="{points}" fill="none" stroke="#3b82f6" stroke-width="4" opacity="0.6"/>')
    x, y = path[-1]
    parts.append(f'<circle cx="{x:.0f}" cy="{y:.0f}" r="{size / 4}" fill="#e11d48"/>')
    for row in range(maze.rows):
        for col in range(maze.cols):
            left, top = margin + col * size, margin + row * size
            sides = {
                "up": (left, top, left + size, top),
                "down": (left, top + size, left + size, top + size),
                "left": (left, top, left, top + size),
                "right": (left + size, top, left + size, top + size),
            }
            for direction in DIRECTIONS:
                if not maze.is_open((row, col), direction):
                    x1, y1, x2, y2 = sides[direction]
                    parts.append(
                        f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="#222" stroke-width="3"/>'
                    )
    parts.append("</svg>")
    return "".join(parts)


# ------------------------------------------------------------------------------ BabyAI
@dataclass(frozen=True)
class GridState:
    width: int
    height: int
    cells: tuple[tuple[int, int, str, str, str], ...]  # x, y, type, colour, state (open/locked/"")
    agent: tuple[int, int, int]  # x, y, direction (0 right, 1 down, 2 left, 3 up: minigrid's)
    carrying: str


def babyai_state(env) -> GridState:
    level = env.level
    cells = []
    for y in range(level.grid.height):
        for x in range(level.grid.width):
            thing = level.grid.get(x, y)
            if thing is None:
                continue
            state = (
                "open"
                if getattr(thing, "is_open", False)
                else "locked"
                if getattr(thing, "is_locked", False)
                else ""
            )
            cells.append((x, y, thing.type, thing.color, state))
    carrying = level.carrying
    x, y = (int(v) for v in level.agent_pos)
    return GridState(
        level.grid.width,
        level.grid.height,
        tuple(cells),
        (x, y, int(level.agent_dir)),
        f"{carrying.color} {carrying.type}" if carrying is not None else "",
    )


COLOURS = {  # minigrid's palette
    "red": "#ff0000",
    "green": "#00c000",
    "blue": "#0000ff",
    "purple": "#7027c3",
    "yellow": "#e0c000",
    "grey": "#646464",
}


def babyai_svg(states: list[GridState], k: int) -> str:
    """The minigrid grid at step k: walls, doors (open: outline, locked: barred), keys, balls,
    boxes and the agent as a triangle pointing where it faces."""
    state = states[k]
    size = max(12, min(28, 400 // max(state.width, state.height)))  # about 400 px, whatever the level
    width, height = state.width * size, state.height * size + 20
    parts = [_svg_open(width, height, f"BabyAI grid at step {k}")]
    parts.append(f'<rect width="{width}" height="{state.height * size}" fill="#111"/>')
    for x, y, kind, colour, door_state in state.cells:
        parts.append(_grid_thing(x * size, y * size, size, kind, COLOURS.get(colour, "#999"), door_state))
    ax, ay, facing = state.agent
    cx, cy = ax * size + size / 2, ay * size + size / 2
    tip = {0: (1, 0), 1: (0, 1), 2: (-1, 0), 3: (0, -1)}.get(facing, (1, 0))
    side = (-tip[1], tip[0])
    reach = size * 0.42
    corners = [
        (cx + tip[0] * reach, cy + tip[1] * reach),
        (cx - tip[0] * reach + side[0] * reach, cy - tip[1] * reach + side[1] * reach),
        (cx - tip[0] * reach - side[0] * reach, cy - tip[1] * reach - side[1] * reach),
    ]
    points = " ".join(f"{px:.1f},{py:.1f}" for px, py in corners)
    parts.append(f'<polygon points="{points}" fill="#ff3030" stroke="#fff" stroke-width="1"/>')
    carrying = f"carrying: {state.carrying}" if state.carrying else "carrying nothing"
    parts.append(_text(4, state.height * size + 14, carrying, 11, "#333", anchor="start"))
    parts.append("</svg>")
    return "".join(parts)


def _grid_thing(left: float, top: float, size: int, kind: str, colour: str, door_state: str) -> str:
    middle = size / 2
    if kind == "wall":
        return f'<rect x="{left}" y="{top}" width="{size}" height="{size}" fill="#646464"/>'
    if kind == "goal":
        return f'<rect x="{left}" y="{top}" width="{size}" height="{size}" fill="#00c000"/>'
    if kind == "lava":
        return f'<rect x="{left}" y="{top}" width="{size}" height="{size}" fill="#ff8000"/>'
    if kind == "door":
        if door_state == "open":
            return (
                f'<rect x="{left + 1}" y="{top + 1}" width="{size - 2}" height="{size - 2}" fill="none" '
                f'stroke="{colour}" stroke-width="2"/>'
            )
        bar = (
            f'<line x1="{left + 3}" y1="{top + middle}" x2="{left + size - 3}" y2="{top + middle}" '
            'stroke="#111" stroke-width="2"/>'
            if door_state == "locked"
            else ""
        )
        return f'<rect x="{left}" y="{top}" width="{size}" height="{size}" fill="{colour}"/>{bar}'
    if kind == "ball":
        return f'<circle cx="{left + middle}" cy="{top + middle}" r="{size * 0.32}" fill="{colour}"/>'
    if kind == "box":
        return (
            f'<rect x="{left + 2}" y="{top + 2}" width="{size - 4}" height="{size - 4}" fill="none" '
            f'stroke="{colour}" stroke-width="2"/>'
        )
    if kind == "key":
        return (
            f'<circle cx="{left + middle}" cy="{top + size * 0.3}" r="{size * 0.18}" fill="none" '
            f'stroke="{colour}" stroke-width="2"/>'
            f'<rect x="{left + middle - 1}" y="{top + size * 0.45}" width="2" height="{size * 0.45}" '
            f'fill="{colour}"/>'
        )
    return f'<rect x="{left + 4}" y="{top + 4}" width="{size - 8}" height="{size - 8}" fill="{colour}"/>'


# ------------------------------------------------------------------------------ TextCraft
_COMMAND = re.compile(r"^craft (\d+) (.+?) using (.+)$")
_INGREDIENT = re.compile(r"^(\d+) (.+)$")
_GOAL = re.compile(r"Goal: craft (.+?)\.?\s*$", re.MULTILINE)
_GOT = re.compile(r"^Got (\d+) (.+?)\s*$")
_CRAFTED = re.compile(r"^Crafted (\d+) minecraft:(\S+)")
MAX_DEPTH = 8


def recipe_tree(episode: Episode) -> Picture:
    """The goal's recipe tree from the first observation's crafting commands (see the module doc)."""
    recipes: dict[str, tuple[int, list[tuple[int, str]]]] = {}
    for line in episode.first_observation.splitlines():
        found = _COMMAND.match(line.strip())
        if found:
            parts = [_INGREDIENT.match(part.strip()) for part in found.group(3).split(",")]
            recipes[found.group(2)] = (
                int(found.group(1)),
                [(int(p.group(1)), p.group(2)) for p in parts if p],
            )
    goal = _GOAL.search(episode.first_observation)
    if goal is None or not recipes:
        return Picture(
            "textcraft", [], "no recipe tree: the first observation lists no goal or crafting commands"
        )
    acquired = acquisitions(episode)
    if episode.success and episode.steps and goal.group(1) not in acquired:
        # AgentTraj records end on the reply that crafts the goal, with no observation after it.
        acquired[goal.group(1)] = episode.steps[-1].number
    used: set[str] = set()
    tree = _tree_node(goal.group(1), 1, recipes, acquired, used, depth=0)
    unused = [name for name in recipes if name not in used]
    others = ""
    if unused:
        listed = "".join(f"<li>{escape(name)}</li>" for name in unused)
        summary = f"{len(unused)} other commands (not on the goal's tree)"
        others = f"<details><summary>{summary}</summary><ul>{listed}</ul></details>"
    legend = '<p class="legend">✓ n: got or crafted at step n · <i>get</i>: a raw material</p>'
    return Picture(
        "textcraft",
        [f'<ul class="tree">{tree}</ul>{legend}{others}'],
        "the goal's recipe tree, read from the crafting commands in the first observation",
    )


def acquisitions(episode: Episode) -> dict[str, int]:
    """Item -> the first step whose observation says it was got or crafted."""
    acquired: dict[str, int] = {}
    for step in episode.steps:
        text = (step.observation or "").strip()
        got, crafted = _GOT.match(text), _CRAFTED.match(text)
        item = got.group(2) if got else crafted.group(2).replace("_", " ") if crafted else None
        if item is not None:
            acquired.setdefault(item, step.number)
    return acquired


def _tree_node(item, count, recipes, acquired, used, depth) -> str:
    """One ``<li>``: the item, how it is made, and its ingredients below it."""
    step = _step_acquired(item, acquired)
    mark = f' <span class="got">✓ {step}</span>' if step is not None else ""
    label = f'<span class="item">{escape(item)}</span> ×{count}{mark}'
    if depth >= MAX_DEPTH:
        return f"<li>{label} …</li>"
    if item in recipes:
        used.add(item)
        makes, ingredients = recipes[item]
        how = ", ".join(f"{n} {escape(name)}" for n, name in ingredients)
        children = "".join(_tree_node(name, n, recipes, acquired, used, depth + 1) for n, name in ingredients)
        return f'<li>{label} <span class="how">craft {makes} using {how}</span><ul>{children}</ul></li>'
    members = [name for name in recipes if name in _tag_members(item)]
    if members:
        used.update(members)
        children = "".join(_tree_node(name, count, recipes, acquired, used, depth + 1) for name in members)
        return f'<li>{label} <span class="how">any one of</span><ul>{children}</ul></li>'
    return f'<li>{label} <i class="how">get</i></li>'


def _step_acquired(item: str, acquired: dict[str, int]) -> int | None:
    """The first step that got the item, or for a tag (``birch logs``) any of its members."""
    steps = [acquired[item]] if item in acquired else []
    steps += [s for member in _tag_members(item) if (s := _step_acquired(member, acquired)) is not None]
    return min(steps, default=None)


def _tag_members(tag: str) -> tuple[str, ...]:
    """The members of a Minecraft tag the recipes name (``planks``: oak planks, ...; may be tags)."""
    try:
        from agentgym_envs.envs.textcraft import TAG_MEMBERS
    except ImportError:  # the tree then shows the tag as something to get
        return ()
    return TAG_MEMBERS.get(tag, ())


# ------------------------------------------------------------------------------ screenshots
_DATA_URL = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]+$")
_BASE64 = re.compile(r"^[A-Za-z0-9+/=\s]+$")


def image_source(value: Any, file_url: Callable[[str], str | None]) -> str | None:
    """An ``<img src>`` for a screenshot value: a data URL, base64 PNG/JPEG, or a file path."""
    if not isinstance(value, str) or not value:
        return None
    if value.startswith("data:"):
        return (
            value if _DATA_URL.match(value[:100]) and _BASE64.match(value.partition(",")[2][:4096]) else None
        )
    head = value[:16]
    if (head.startswith("iVBOR") or head.startswith("/9j/")) and _BASE64.match(value[:4096]):
        return f"data:image/{'png' if head.startswith('iVBOR') else 'jpeg'};base64,{value}"
    return file_url(value)


def screenshots(shots: list[Any], file_url: Callable[[str], str | None]) -> Picture:
    frames, missing = [], 0
    for shot in shots:
        source = image_source(shot, file_url)
        if source is None:
            missing += shot is not None
            frames.append('<p class="note">no screenshot for this step</p>')
        else:
            frames.append(f'<img class="shot" alt="screenshot" src="{escape(source)}">')
    note = "screenshots the record carries" + (f" ({missing} could not be shown)" if missing else "")
    return Picture("screenshots", frames, note)


# ------------------------------------------------------------------------------ SVG helpers
def _svg_open(width: float, height: float, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img"><title>{escape(title)}</title>'
    )


def _text(x: float, y: float, text: str, size: int, colour: str, anchor: str = "middle") -> str:
    return (
        f'<text x="{x:.0f}" y="{y:.0f}" font-size="{size}" fill="{colour}" text-anchor="{anchor}" '
        f'font-family="sans-serif">{escape(text)}</text>'
    )
