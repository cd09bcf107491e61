"""ALFRED-style PDDL problems of the six ALFWorld task types, generated per task id.

ALFWorld's games are PDDL problems written from ALFRED's AI2-THOR scenes; they cannot be
downloaded here, so we write problems of the same shape. A room is one of ALFRED's 120 floor
plans (kitchens 1-30, living rooms 201-230, bedrooms 301-330, bathrooms 401-430): the
receptacle and object classes present come from the floor plan lists alfworld ships
(``alfworld/gen/layouts``), instance counts from the floor plan's receptacle list or, for
receptacles it omits, the ranges measured on the real games. Which object fits in which
receptacle, and which objects can be cleaned, heated, cooled or switched on, are ALFRED's own
tables (``alfworld.gen.constants``); task sentences are ALFRED's templates
(``alfworld.gen.goal_library``). Differences from the real games: no ALFRED navigation poses
(each receptacle gets a location of its own, a few share one), object positions are drawn
rather than simulated, and task types are mixed as in AgentGym's test split. docs/benchmarks.md
("Experts") compares the two on the real test games.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from agentgym_envs.envs.alfworld.logic import alfred_domain, alfred_grammar

# AgentGym's 200 test games: how many of each type (the mix we draw task types from).
TASK_TYPE_WEIGHTS = {
    "pick_and_place_simple": 46,
    "pick_two_obj_and_place": 45,
    "pick_clean_then_place_in_recep": 37,
    "pick_cool_then_place_in_recep": 28,
    "pick_heat_then_place_in_recep": 25,
    "look_at_obj_in_light": 19,
}
ROOM_SCENES = {
    "Kitchen": range(1, 31),
    "LivingRoom": range(201, 231),
    "Bedroom": range(301, 331),
    "Bathroom": range(401, 431),
}
# Instances of a receptacle class the floor plan list leaves out: (fewest, most), as measured
# on the real games (StoveBurner: 4-6, Cabinet up to 27 in kitchens, ...).
DEFAULT_COUNTS = {"StoveBurner": (4, 4), "Cabinet": (2, 8), "Drawer": (1, 6), "Shelf": (1, 4)}
MAX_INSTANCES = 3  # ALFRED's MAX_NUM_OF_OBJ_INSTANCES
SHARED_LOCATION = 0.1  # share of receptacles placed at an earlier receptacle's location
APPLIANCE = {
    "pick_clean_then_place_in_recep": ("SinkBasin", "Cleanable"),
    "pick_heat_then_place_in_recep": ("Microwave", "Heatable"),
    "pick_cool_then_place_in_recep": ("Fridge", "Coolable"),
}
LAMPS = ("DeskLamp", "FloorLamp")
LAMP_HOLDERS = ("SideTable", "Desk", "Dresser", "DiningTable", "CoffeeTable", "Shelf", "Cabinet")
SALT = 0xA1F0


@dataclass
class Room:
    scene: int
    receptacles: dict[str, str] = field(default_factory=dict)  # id -> class
    location: dict[str, str] = field(default_factory=dict)  # receptacle id -> location id
    objects: dict[str, str] = field(default_factory=dict)  # id -> class
    inside: dict[str, str] = field(default_factory=dict)  # object id -> receptacle id


@dataclass(frozen=True)
class Goal:
    task_type: str
    obj: str
    recep: str = ""
    toggle: str = ""


# ------------------------------------------------------------------------------ ALFRED's tables
@cache
def _constants():
    from alfworld.gen import constants

    return constants


@cache
def _scene_lists(scene: int) -> tuple[frozenset, dict]:
    """A floor plan's object classes and its listed receptacle instances (id -> pose)."""
    from importlib.resources import files

    layouts = files("alfworld.gen") / "layouts"
    classes = json.loads((layouts / f"FloorPlan{scene}-objects.json").read_text())
    receptacles = json.loads((layouts / f"FloorPlan{scene}-openable.json").read_text())
    return frozenset(classes), receptacles


@cache
def _contents() -> dict[str, frozenset]:
    """Receptacle class -> object classes it can hold (no sliced objects: ALFWorld skips them)."""
    table = _constants().VAL_RECEPTACLE_OBJECTS
    return {r: frozenset(o for o in objs if "Sliced" not in o) for r, objs in table.items()}


@cache
def _pickupable() -> frozenset:
    return frozenset().union(*_contents().values())


def _static_receptacles() -> frozenset:
    return frozenset(_contents()) - frozenset(_constants().MOVABLE_RECEPTACLES)


def _has(cls: str, prop: str) -> bool:
    return cls in _constants().VAL_ACTION_OBJECTS[prop]


# ------------------------------------------------------------------------------ names
def _mangle(text: str) -> str:
    """ALFRED ids as ALFWorld writes them in PDDL: ``Cabinet|+00.68|-02.20`` ->
    ``Cabinet_bar__plus_00_dot_68_bar__minus_02_dot_20``."""
    for old, new in (("|", "_bar_"), ("+", "_plus_"), ("-", "_minus_"), (".", "_dot_")):
        text = text.replace(old, new)
    return text


def _position(rng: np.random.Generator) -> str:
    x, y, z = rng.uniform(-4.0, 4.0), rng.uniform(0.0, 2.5), rng.uniform(-4.0, 4.0)
    return f"{x:+06.2f}|{y:+06.2f}|{z:+06.2f}"


def _new_id(cls: str, rng: np.random.Generator, taken: set, suffix: str = "") -> str:
    while True:
        name = _mangle(f"{cls}|{_position(rng)}{suffix}")
        if name not in taken:
            taken.add(name)
            return name


def _location(rng: np.random.Generator, taken: set) -> str:
    while True:
        x, z = int(rng.integers(-12, 13)), int(rng.integers(-12, 13))
        rotation, horizon = int(rng.integers(4)), int(rng.choice([-30, 0, 15, 30, 45, 60]))
        name = _mangle(f"loc|{x}|{z}|{rotation}|{horizon}")
        if name not in taken:
            taken.add(name)
            return name


# ------------------------------------------------------------------------------ the room
def _receptacle_counts(scene: int, rng: np.random.Generator) -> dict[str, int]:
    classes, listed = _scene_lists(scene)
    listed_counts: dict[str, int] = {}
    for key in listed:
        cls = key.split("|")[0]
        cls = {"Sink": "SinkBasin", "Bathtub": "BathtubBasin"}.get(cls, cls)
        listed_counts[cls] = listed_counts.get(cls, 0) + 1
    present = {{"Sink": "SinkBasin", "Bathtub": "BathtubBasin"}.get(c, c) for c in classes}
    counts = {}
    for cls in sorted(present & _static_receptacles()):
        low, high = DEFAULT_COUNTS.get(cls, (1, 1))
        counts[cls] = listed_counts.get(cls) or int(rng.integers(low, high + 1))
    return counts


def _build_room(scene: int, rng: np.random.Generator) -> Room:
    room, taken, locations = Room(scene), set(), []
    for cls, count in _receptacle_counts(scene, rng).items():
        for _ in range(count):
            suffix = f"|{cls}" if cls.endswith("Basin") else ""
            base = cls.removesuffix("Basin") if suffix else cls
            rid = _new_id(base, rng, taken, suffix)
            room.receptacles[rid] = cls
            if locations and rng.random() < SHARED_LOCATION:
                room.location[rid] = locations[int(rng.integers(len(locations)))]
            else:
                room.location[rid] = _location(rng, taken)
                locations.append(room.location[rid])
    classes, _ = _scene_lists(scene)
    for cls in sorted(classes & _pickupable()):
        for _ in range(int(rng.integers(1, MAX_INSTANCES + 1))):
            _place(room, cls, rng, taken)
    return room


def _holders(room: Room, cls: str) -> list[str]:
    return [rid for rid, rcls in room.receptacles.items() if cls in _contents().get(rcls, ())]


def _place(room: Room, cls: str, rng: np.random.Generator, taken: set, holders=None) -> str | None:
    holders = holders if holders is not None else _holders(room, cls)
    if not holders:
        return None
    oid = _new_id(cls, rng, taken)
    room.objects[oid] = cls
    room.inside[oid] = holders[int(rng.integers(len(holders)))]
    return oid


# ------------------------------------------------------------------------------ the goal
def _choose_goal(task_type: str, room: Room, rng: np.random.Generator) -> Goal | None:
    present_r = set(room.receptacles.values())
    counts: dict[str, int] = {}
    for cls in room.objects.values():
        counts[cls] = counts.get(cls, 0) + 1
    if task_type == "look_at_obj_in_light":
        candidates = sorted(c for c in counts if c not in _constants().MOVABLE_RECEPTACLES or c == "Bowl")
        if not candidates or not any(h in present_r for h in LAMP_HOLDERS):
            return None
        lamp = LAMPS[int(rng.integers(len(LAMPS)))]
        return Goal(task_type, candidates[int(rng.integers(len(candidates)))], toggle=lamp)
    needed, prop = APPLIANCE.get(task_type, (None, None))
    if needed and needed not in present_r:
        return None
    pairs = []
    for obj, n in sorted(counts.items()):
        if (prop and not _has(obj, prop)) or (task_type == "pick_two_obj_and_place" and n < 2):
            continue
        holders = [r for r in sorted(present_r) if obj in _contents()[r] and r != needed]
        # a target needs another class to hold the objects at the start, or the task starts done
        pairs += [(obj, r) for r in holders if len(holders) > 1]
    if not pairs:
        return None
    obj, recep = pairs[int(rng.integers(len(pairs)))]
    return Goal(task_type, obj, recep)


def _settle_goal(room: Room, goal: Goal, rng: np.random.Generator, taken: set) -> None:
    """Make the start state fit the goal: nothing already done, a lamp for look tasks."""
    if goal.toggle:
        holders = [rid for rid, c in room.receptacles.items() if c in LAMP_HOLDERS]
        lamp = _new_id(goal.toggle, rng, taken)
        room.objects[lamp] = goal.toggle
        room.inside[lamp] = holders[int(rng.integers(len(holders)))]
        return
    others = [rid for rid in _holders(room, goal.obj) if room.receptacles[rid] != goal.recep]
    for oid, cls in room.objects.items():  # no target object starts in a target receptacle
        if cls == goal.obj and room.receptacles[room.inside[oid]] == goal.recep:
            room.inside[oid] = others[int(rng.integers(len(others)))] if others else room.inside[oid]


def task_sentence(goal: Goal, rng: np.random.Generator) -> str:
    from alfworld.gen import goal_library

    templates = goal_library.gdict[goal.task_type]["templates"]
    template = templates[int(rng.integers(len(templates)))]
    return template.format(obj=goal.obj.lower(), recep=goal.recep.lower(), toggle=goal.toggle.lower())


# ------------------------------------------------------------------------------ PDDL text
def _goal_pddl(goal: Goal) -> str:
    from alfworld.gen import goal_library

    text = goal_library.gdict[goal.task_type]["pddl"].replace(" # ", " - ")
    return text.format(obj=goal.obj, recep=goal.recep, toggle=goal.toggle)


def _facts(room: Room, start: str) -> list[str]:
    facts = [f"(atLocation agent1 {start})"]
    for rid, cls in room.receptacles.items():
        facts.append(f"(receptacleType {rid} {cls}Type)")
        facts.append(f"(receptacleAtLocation {rid} {room.location[rid]})")
        if cls in _constants().OPENABLE_CLASS_SET:
            facts.append(f"(openable {rid})")
    for rtype in sorted(set(room.receptacles.values())):
        facts += [f"(canContain {rtype}Type {o}Type)" for o in sorted(_contents()[rtype])]
    for oid, cls in room.objects.items():
        rid = room.inside[oid]
        facts += [f"(objectType {oid} {cls}Type)", f"(inReceptacle {oid} {rid})"]
        facts.append(f"(objectAtLocation {oid} {room.location[rid]})")
        if cls in _pickupable():
            facts.append(f"(pickupable {oid})")
        if cls in _constants().MOVABLE_RECEPTACLES:
            facts.append(f"(isReceptacleObject {oid})")
        for prop in ("Cleanable", "Heatable", "Coolable", "Toggleable", "Sliceable"):
            if _has(cls, prop):
                facts.append(f"({prop[0].lower()}{prop[1:]} {oid})")
    return facts


def problem_pddl(name: str, room: Room, goal: Goal, start: str) -> str:
    classes = sorted(set(room.objects.values()) | {goal.obj, goal.toggle} - {""})
    rclasses = sorted(set(room.receptacles.values()) | {goal.recep} - {""})
    objects = ["agent1 - agent"]
    objects += [f"{loc} - location" for loc in sorted(set(room.location.values()) | {start})]
    objects += [f"{rid} - receptacle" for rid in room.receptacles]
    objects += [f"{oid} - object" for oid in room.objects]
    objects += [f"{c}Type - otype" for c in sorted(set(classes) | _pickupable())]
    otypes = set(classes) | _pickupable()  # movable receptacles (Bowl, ...) are object types only
    objects += [f"{c}Type - rtype" for c in sorted((set(rclasses) | set(_contents())) - otypes)]
    body = "\n        ".join(objects)
    init = "\n        ".join(_facts(room, start))
    return (
        f"\n(define (problem {name})\n(:domain alfred)\n(:objects\n        {body}\n        )\n"
        f"(:init\n        {init}\n        )\n\n{_goal_pddl(goal)}"
    )


# ------------------------------------------------------------------------------ one game
def generate_game(task_id: int) -> dict:
    """The game of a task id: a ``game.tw-pddl`` dict as ALFWorld's files hold (``pddl_domain``,
    ``grammar``, ``pddl_problem``, ``solvable``) plus ``task_type``, ``scene`` and ``task``."""
    rng = np.random.default_rng([task_id, SALT])
    types, weights = zip(*TASK_TYPE_WEIGHTS.items())
    task_type = types[int(rng.choice(len(types), p=np.array(weights) / sum(weights)))]
    rooms = sorted(_constants().GOALS_VALID[task_type])
    while True:  # a few draws at most: most rooms fit most task types
        room_type = rooms[int(rng.integers(len(rooms)))]
        scenes = ROOM_SCENES[room_type]
        room = _build_room(int(scenes[int(rng.integers(len(scenes)))]), rng)
        goal = _choose_goal(task_type, room, rng)
        if goal is not None:
            break
    taken = set(room.receptacles) | set(room.objects) | set(room.location.values())
    _settle_goal(room, goal, rng, taken)
    start = _location(rng, taken)
    task = task_sentence(goal, rng)
    return {
        "pddl_domain": alfred_domain(),
        "grammar": alfred_grammar(task),
        "pddl_problem": problem_pddl(f"agentgym_alfworld_{task_id}", room, goal, start),
        "solvable": True,
        "task_type": task_type,
        "scene": room.scene,
        "task": task,
    }
