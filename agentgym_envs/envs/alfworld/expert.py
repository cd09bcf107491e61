"""A scripted solver for ALFWorld's six task types, reading the game's PDDL state.

fast-downward's planner (``policy_commands``, what alfworld's "planner" expert uses) solves
these games but takes up to 10 s on some of them; the task types are simple enough to solve
directly: fetch the object (open what hides it), clean/heat/cool it at the sink, microwave or
fridge, then put it in the target receptacle (twice for "two"), or carry it to the lamp and
turn the lamp on. Like the planner, it knows where every object is. When its move is not
admissible (a state it does not know how to handle, e.g. an object inside a bowl) the env falls
back to the planner.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

APPLIANCES = {"isclean": ("sinkbasin", "clean"), "ishot": ("microwave", "heat"), "iscool": ("fridge", "cool")}


@dataclass(frozen=True)
class GoalSpec:
    """What an ALFWorld goal asks, read from the problem's ``(:goal ...)``."""

    obj: str  # object class, lower case ("tomato")
    recep: str | None = None  # receptacle class ("fridge"); None for look tasks
    toggle: str | None = None  # lamp class ("desklamp") for look tasks
    state: str | None = None  # "isclean", "ishot" or "iscool"
    count: int = 1


def parse_goal(problem: str) -> GoalSpec | None:
    goal = problem[problem.lower().find("(:goal") :].lower()
    objects = re.findall(r"\(objecttype \?(\w+) (\w+)type\)", goal)
    receps = re.findall(r"\(receptacletype \?\w+ (\w+)type\)", goal)
    if not objects:
        return None
    if "istoggled" in goal:
        toggle = next((cls for var, cls in objects if var == "ot"), None)
        obj = next((cls for var, cls in objects if var != "ot"), None)
        return GoalSpec(obj=obj, toggle=toggle) if obj and toggle else None
    state = next((s for s in APPLIANCES if f"({s} ?" in goal), None)
    count = 2 if "?o2" in goal else 1
    return GoalSpec(obj=objects[0][1], recep=receps[0] if receps else None, state=state, count=count)


class World:
    """The facts the solver needs, indexed once per move."""

    def __init__(self, facts):
        self.kind: dict[str, str] = {}
        self.inside: dict[str, str] = {}
        self.location: dict[str, str] = {}
        self.props: dict[str, set] = defaultdict(set)
        self.held: str | None = None
        self.here: str | None = None
        for fact in facts:
            name, args = fact.name, [v.name for v in fact.arguments]
            if name in ("objecttype", "receptacletype"):
                self.kind[args[0]] = args[1].removesuffix("type")
            elif name == "inreceptacle":
                self.inside[args[0]] = args[1]
            elif name == "receptacleatlocation":
                self.location[args[0]] = args[1]
            elif name == "holds":
                self.held = args[1]
            elif name == "atlocation":
                self.here = args[1]
            elif len(args) == 1:
                self.props[name].add(args[0])

    def of_kind(self, kind: str) -> list[str]:
        return sorted(thing for thing, k in self.kind.items() if k == kind)


class Solver:
    """The next command for a goal, from the current facts (``names``: id -> shown name)."""

    def __init__(self, goal: GoalSpec, names: dict[str, str]):
        self.goal = goal
        self.names = names

    def next_command(self, facts) -> str | None:
        world = World(facts)
        if self.goal.toggle:
            return self._look(world)
        return self._place(world)

    # -------------------------------------------------------------- task types
    def _look(self, world: World) -> str | None:
        if world.held is None:
            return self._fetch(world, [o for o in world.of_kind(self.goal.obj) if o in world.inside])
        if world.kind.get(world.held) != self.goal.obj:
            return None
        lamps = [lamp for lamp in world.of_kind(self.goal.toggle) if lamp in world.inside]
        if not lamps:
            return None
        lamp = lamps[0]
        return self._go(world, world.inside[lamp]) or f"use {self.names[lamp]}"

    def _place(self, world: World) -> str | None:
        goal = self.goal
        targets = world.of_kind(goal.recep)
        if not targets:
            return None
        placed = [
            o for o in world.of_kind(goal.obj) if world.inside.get(o) in targets and self._ready(world, o)
        ]
        target = next((world.inside[o] for o in placed), targets[0])  # "two": both in the same one
        if world.held is None:
            candidates = [o for o in world.of_kind(goal.obj) if o in world.inside and o not in placed]
            return self._fetch(world, candidates)
        held = world.held
        if world.kind.get(held) != goal.obj:
            return None
        if not self._ready(world, held):
            kind, verb = APPLIANCES[goal.state]
            appliances = world.of_kind(kind)
            if not appliances:
                return None
            return (
                self._go(world, appliances[0])
                or f"{verb} {self.names[held]} with {self.names[appliances[0]]}"
            )
        return self._reach(world, target) or f"put {self.names[held]} in/on {self.names[target]}"

    # -------------------------------------------------------------- moves
    def _ready(self, world: World, obj: str) -> bool:
        return self.goal.state is None or obj in world.props[self.goal.state]

    def _fetch(self, world: World, candidates: list[str]) -> str | None:
        """Go to an object's receptacle, open it if needed, take the object. Prefer objects in
        the open, then ones already in the right state."""
        if not candidates:
            return None

        def cost(obj):
            receptacle = world.inside[obj]
            closed = receptacle in world.props["openable"] and receptacle not in world.props["opened"]
            return (closed, not self._ready(world, obj), world.location.get(receptacle) != world.here, obj)

        obj = min(candidates, key=cost)
        receptacle = world.inside[obj]
        return self._reach(world, receptacle) or f"take {self.names[obj]} from {self.names[receptacle]}"

    def _reach(self, world: World, receptacle: str) -> str | None:
        """Go to a receptacle and open it if it is closed; None once it can be used."""
        if world.location.get(receptacle) != world.here:
            return f"go to {self.names[receptacle]}"
        if receptacle in world.props["openable"] and receptacle not in world.props["opened"]:
            return f"open {self.names[receptacle]}"
        return None

    def _go(self, world: World, receptacle: str) -> str | None:
        return f"go to {self.names[receptacle]}" if world.location.get(receptacle) != world.here else None
