"""BabyAI's scripted expert, the solver the AgentTraj data is built from.

It reads the episode only through :class:`~agentgym_envs.envs.babyai.env.PrivilegedView`
(``env.privileged``), never the env itself, as minigrid keeps its BabyAI bot apart from the env:
the mission's instruction tree and the true grid tell it which objects matter and where unseen
ones lie, and the agent's own knowledge tells it which high-level actions are valid now.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentgym_envs.envs.babyai.levels import FORWARD, LEFT, NAMED_TYPES, RIGHT, verifier
from agentgym_envs.envs.babyai.search import TrueGridSearch

if TYPE_CHECKING:
    from agentgym_envs.envs.babyai.env import PrivilegedView


def pending_instruction(instr):
    """The next unfinished primitive instruction of a BabyAI mission tree."""
    if isinstance(instr, verifier.BeforeInstr):
        return pending_instruction(instr.instr_b if instr.a_done == "success" else instr.instr_a)
    if isinstance(instr, verifier.AfterInstr):
        return pending_instruction(instr.instr_a if instr.b_done == "success" else instr.instr_b)
    if isinstance(instr, verifier.AndInstr):
        return pending_instruction(instr.instr_b if instr.a_done == "success" else instr.instr_a)
    return instr


def describe_wanted(desc: verifier.ObjDesc) -> str:
    words = [w for w in (desc.color, desc.type or "object") if w]
    return ("the " if len(desc.obj_set) == 1 else "a ") + " ".join(words)


class BabyAIExpert:
    """A privileged planner over the high-level actions.

    It reads the mission's instruction tree and the true grid (to know which objects match and
    where unseen ones are), but it only emits actions that are valid for what the agent has
    seen: it goes to known objects, and explores (goes through the door on the true route,
    turns or steps towards the target) until the object it needs comes into view. On the way
    it fetches keys for locked doors and moves objects that block the route.

    ``world`` (the env's :class:`~agentgym_envs.envs.babyai.env.PrivilegedView`) is all it
    reads. One expert serves one episode: it keeps notes between rounds."""

    def __init__(self, world: PrivilegedView):
        self.world = world
        self.search = TrueGridSearch(world)  # where unseen things are and how to get there
        self._avoid: set[int] = set()  # cells of the route being followed: never drop there
        self._lifted: tuple[Any, set[int]] | None = None  # a blocker picked up, and its route
        self._relocate = None  # a PutNext target with no room beside it, to be moved first

    # -------------------------------------------------------------- entry point
    def next_action(self) -> tuple[str, str]:
        world = self.world
        if world.done:
            return "The task is complete.", "check available actions"
        self._avoid = set()
        instr = pending_instruction(world.level.instrs)
        if self._lifted is not None:  # put a moved blocker down at once, off the route
            lifted, route = self._lifted
            if world.level.carrying is lifted and lifted not in self._wanted(instr):
                self._avoid = set(route)
                name = world.known.name_of(lifted)
                return self._put_down(f"I carry the {name} only to clear the way, so I put it down aside.")
            self._lifted = None
        if isinstance(instr, verifier.GoToInstr):
            return self._go_to(instr)
        if isinstance(instr, verifier.PickupInstr):
            return self._pickup(instr.desc)
        if isinstance(instr, verifier.OpenInstr):
            return self._open(instr)
        if isinstance(instr, verifier.PutNextInstr):
            return self._put_next(instr)
        return self._stuck("the goal")

    @staticmethod
    def _wanted(instr) -> list:
        """Objects the pending instruction wants in hand."""
        if isinstance(instr, verifier.PutNextInstr):
            return instr.desc_move.obj_set
        if isinstance(instr, verifier.PickupInstr):
            return instr.desc.obj_set
        return []

    # -------------------------------------------------------------- subgoals
    def _go_to(self, instr: verifier.GoToInstr) -> tuple[str, str]:
        what = describe_wanted(instr.desc)
        target, usable = self.search.choose(self.search.cells_at(instr.desc.obj_poss))
        if target is None:
            return self._stuck(what)
        if not usable:
            return self._explore(target, what)
        name = self.world.known.name_at[target]
        return f"My goal is to go to {what}. I know where the {name} is, so I go to it.", f"go to {name}"

    def _pickup(self, desc: verifier.ObjDesc) -> tuple[str, str]:
        world = self.world
        what = describe_wanted(desc)
        carrying = world.level.carrying
        if carrying is not None and carrying in desc.obj_set:
            return self._put_down(
                f"I hold {what} already, but the goal is to pick it up, so I put it down first."
            )
        target, usable = self.search.choose(self.world.cells_of(desc.obj_set))
        if target is None:
            return self._stuck(what)
        if not usable:
            return self._explore(target, what)
        if carrying is not None:
            return self._put_down(f"I need my hands free to pick up {what}.", toward=target)
        name = world.known.name_at[target]
        return f"I need to pick up {what}. The {name} is within reach, so I pick it up.", f"pickup {name}"

    def _open(self, instr: verifier.OpenInstr) -> tuple[str, str]:
        world = self.world
        what = describe_wanted(instr.desc)
        target, usable = self.search.choose(self.world.cells_of(instr.desc.obj_set))
        if target is None:
            return self._stuck(what)
        door = world.level.grid.grid[target]
        if door.is_locked and world.key_colour() != door.color:
            # Clear an object off the way to the door first (hands are free before the key is
            # in them), unless it is the box that holds the key.
            blocker = None if usable else self.search.first_blocker(target)
            holder = world.level.grid.grid[blocker] if blocker is not None else None
            if (
                holder is not None
                and world.next_to_reach(blocker)
                and not self._holds_key(holder, door.color)
            ):
                if world.level.carrying is not None:
                    return self._put_down(f"Something blocks my way to {what}; I free my hands to move it.")
                return self._clear_blocker(blocker, what)
            return self._fetch_key(door, f"{what[0].upper()}{what[1:]} is locked")
        if not usable:
            return self._explore(target, what)
        name = world.known.name_at[target]
        if world.front_cell != target:
            return f"I need to open {what}. I go to the {name} first.", f"go to {name}"
        if door.is_open:
            return f"The {name} is already open; I toggle it shut so that I can open it as asked.", "toggle"
        if door.is_locked:
            return f"I face the {name} with its key in hand, so I unlock and open it.", "toggle"
        return f"I am facing the {name}, so I open it.", "toggle"

    def _put_next(self, instr: verifier.PutNextInstr) -> tuple[str, str]:
        world = self.world
        fixed = describe_wanted(instr.desc_fixed)
        carrying = world.level.carrying
        cells = self.search.cells_at(instr.desc_fixed.obj_poss)
        target, usable = self.search.choose(cells)
        if target is None:
            return self._stuck(fixed)
        if carrying is None or carrying not in instr.desc_move.obj_set:
            # Open the way to the fixed object before fetching the one to move: clearing
            # blockers and fetching keys need free hands, and the way back is one action.
            if not usable:
                return self._explore(target, fixed)
            if self._relocate is world.level.grid.grid[target]:
                name = world.known.name_at[target]
                if carrying is not None:
                    return self._put_down(f"I need my hands free to move the {name}.")
                self._relocate = None
                self._lifted = (world.level.grid.grid[target], set())
                return f"I move the {name} to an open spot so that there is room beside it.", f"pickup {name}"
            self._avoid.update((self.search.route_to(target) or [None])[1:])  # keep that way clear
            return self._pickup(instr.desc_move)
        if not usable:
            return self._explore(target, fixed)
        held = world.known.name_of(carrying)
        name = world.known.name_at[target]
        front = world.front_cell
        offsets = world.known.offsets
        grid = world.level.grid.grid

        def drop_spot(cell: int) -> bool:  # a free seen cell next to one of the fixed objects
            return grid[cell] is None and world.known.seen[cell] and any(cell + o in cells for o in offsets)

        if self._relocate is not None and self._relocate is grid[target]:
            return self._put_down(f"There is no room next to the {name}; I put down the {held} to move it.")
        if drop_spot(front):
            return f"The cell in front of me is next to {fixed}, so I drop the {held} here.", "drop"
        if front == target and world.path_to_drop_beside(front) is not None:
            return f"I face the {name}; dropping the {held} puts it right next to it.", "drop"
        # Close to a spot next to it (or facing it with no room beside it): walk there.
        for state, depth, first in self.search.poses(limit=800):
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
        world = self.world
        cells = world.level.grid.grid
        route = self.search.route_to(target)
        if route is None:
            return self._stuck(what)
        self._avoid = set(route[1:])  # the way ahead; where the agent stands is behind it
        key_colour = world.key_colour()
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
        carrying = world.level.carrying
        if blocker is not None and carrying is not None:
            # Moving the blocker needs free hands: put down what I carry while there is room,
            # unless it is the key to a locked door on the way to the blocker.
            before = route[1 : route.index(blocker)]
            if not any(self._is_locked_door(cells[c], key_colour) for c in before):
                return self._put_down(f"Something blocks my way to {what}; I need my hands free to move it.")
        # Follow the route as far as the agent's own knowledge carries it: move the first
        # object in the way, or go through the furthest door that a seen path leads through.
        reach, known = world.reach(), world.known
        furthest_door, frontier = None, target
        for cell_index in route[1:]:
            cell = cells[cell_index]
            if cell is not None and cell.type != "door":
                if known.name_at.get(cell_index) is not None and world.next_to_reach(cell_index):
                    return self._clear_blocker(cell_index, what)
                frontier = cell_index
                break
            if cell is not None:  # a door
                name = known.name_at.get(cell_index)
                if name is None or not world.next_to_reach(cell_index):
                    frontier = cell_index
                    break
                if world.agent_cell != cell_index:
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
        world = self.world
        name = world.known.name_at.get(cell_index)
        if name is None or not world.next_to_reach(cell_index):
            return self._look_toward(cell_index, what)
        self._lifted = (world.known.objects[name], self._avoid | {cell_index})
        return f"The {name} blocks my way to {what}, so I pick it up to move it aside.", f"pickup {name}"

    def _fetch_key(self, door, reason: str, depth: int = 0) -> tuple[str, str]:
        world = self.world
        if depth > 3:
            return self._stuck(f"the {door.color} key")
        cells = world.level.grid.grid
        key_cells = [
            flat
            for flat in world.object_cells()
            if cells[flat].type == "key" and cells[flat].color == door.color
        ]
        what = f"the {door.color} key"
        if not key_cells:  # the key may be inside a box (KeyInBox)
            return self._open_box_with_key(door, reason, depth)
        target, usable = self.search.choose(key_cells)
        if not usable:
            return self._explore(target, what, depth + 1)
        if world.level.carrying is not None:
            return self._put_down(f"{reason}; I free my hands to take {what}.", toward=target)
        name = world.known.name_at[target]
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
        world = self.world
        cells = world.level.grid.grid
        boxes = [flat for flat in world.object_cells() if self._holds_key(cells[flat], door.color)]
        carrying = world.level.carrying
        if carrying is not None and self._holds_key(carrying, door.color):
            return self._put_down(f"{reason}; its key may be in the box I carry, so I put it down.")
        if not boxes:
            return self._stuck(f"the {door.color} key")
        target, usable = self.search.choose(boxes)
        if not usable:
            return self._explore(target, f"the {door.color} key", depth + 1)
        name = world.known.name_at[target]
        if world.front_cell == target:
            return f"{reason}. The key may be inside the {name}, so I open it.", "toggle"
        return f"{reason} and I see no key. It may be inside the {name}; I go to it.", f"go to {name}"

    def _put_down(self, reason: str, toward: int | None = None) -> tuple[str, str]:
        """Drop the carried object where it is in nobody's way: best on a free cell off the
        route and away from doorways, else anywhere off the route."""
        world = self.world
        cells = world.level.grid.grid
        offsets = world.known.offsets
        avoid = set(self._avoid)
        if toward is not None:
            avoid.update((self.search.route_to(toward) or [None])[1:])

        def empty(cell: int) -> bool:
            return world.known.seen[cell] and cells[cell] is None

        def free(cell: int) -> bool:
            return empty(cell) and cell not in avoid

        def by_no_door(cell: int) -> bool:
            return all(cells[cell + o] is None or cells[cell + o].type != "door" for o in offsets)

        def away_from_doors(cell: int) -> bool:
            return free(cell) and by_no_door(cell)

        baseline = self.search.connectivity(None)
        harmless_cache: dict[int, bool] = {}

        def harmless(cell: int) -> bool:  # cuts off no cell or object from the agent
            if cell not in harmless_cache:
                harmless_cache[cell] = (
                    empty(cell)
                    and by_no_door(cell)
                    and self.search.connectivity(cell) == (baseline[0] - 1, baseline[1])
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
            best_score, beside = 1 + extra_rounds(spot), world.known.name_of(cells[world.front_cell])
        for state, depth, first in self.search.poses(limit=800):
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
        world = self.world
        ahead = world.level.grid.grid[world.front_cell]
        if ahead is None or ahead.type not in NAMED_TYPES:
            return None
        path = world.path_to_drop_beside(world.front_cell)
        if path is None:
            return None
        here, facing = world.agent_cell, world.level.agent_dir
        for move in path:
            if move == LEFT:
                facing = (facing - 1) % 4
            elif move == RIGHT:
                facing = (facing + 1) % 4
            elif move == FORWARD:
                here += world.known.offsets[facing]
        return here + world.known.offsets[facing]

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
        level = self.world.level
        tx, ty = cell % level.width, cell // level.width
        move = self.search.first_move_until(
            lambda here, facing: self.search.sees(here, facing, cell, tx, ty), start_counts=False
        )
        if move is None:
            return self._stuck(what)
        if move == FORWARD:
            return f"I have not found {what} yet; I move forward to see further.", "move forward"
        side = "left" if move == LEFT else "right"
        return f"I have not found {what} yet; I turn {side} to look around.", f"turn {side}"

    def _stuck(self, what: str) -> tuple[str, str]:
        return f"I cannot see a way to {what} yet, so I check what I can do.", "check available actions"
