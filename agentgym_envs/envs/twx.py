"""TextWorld-Express's eight games (beyond AgentGym; ids ``AgentGym/TWX-<Game>-v0``), on the
``textworld-express`` engine.

Each game is its own id and family, item ids ``twx_<game>_<n>``. A task id is a seed of the
engine's own folds: test ids (AgentEval) are TextWorld-Express's test-fold seeds (20000, 20001,
...), every other id is a train-fold seed (id - number of test ids), so our test games are the
engine's held-out games. The games use the engine's default settings except CookingWorld, which
uses the small kitchen of the TextWorld-Express paper's examples (3 rooms, 2 ingredients, 5
distractors, no doors), whose recipes fit in a few dozen moves; the defaults' 11 rooms take up
to 128.

The first observation is the task description, a newline, then the room (as SciWorld's). The
score is the engine's 0-1 score; an episode ends when the engine says the task succeeded or
failed. ``info["available_actions"]`` is the engine's valid-action list, which it computes on
every step anyway. The expert plays the engine's gold path, the same for a task in every reset and
every process: Coin's and TWC's gold agents walk the house at random, from a ``Random()`` the
engine seeds with the clock, so for those two we run the engine's own gold agent with a
``Random`` seeded by the task's seed (as the engine itself seeds CookingWorld's gold agent).

Not like the engine's ``TextWorldExpressEnv``: one JVM per process, shared by every TWX env
(see :mod:`agentgym_envs.envs.jvm`), no step limit of its own (Gymnasium's ``TimeLimit`` has
the registered max rounds), and one engine call per step: we parse the step's JSON answer
and skip the wrapper's extra call for the task description and its history bookkeeping.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any, ClassVar

from agentgym_envs.core import Outcome, TextEnv
from agentgym_envs.registration import engine_imports

with engine_imports("TWX-Coin"):
    import textworld_express.constants as twx_constants
    from py4j.protocol import Py4JJavaError

    from agentgym_envs.envs.jvm import EngineHandle, EngineLost, JavaEngine, refusal_of

ENGINE = JavaEngine("TextWorld-Express", twx_constants.JAR_PATH, cwd=twx_constants.BASEPATH)
# TextWorld-Express keeps state that the games of one JVM share: two games stepped in turn corrupt
# each other's valid-action lists (their observations stay right). So each live env has a JVM of
# its own; a JVM whose env has closed serves the next env. ENGINE is the first of them.
_POOL = [ENGINE]


def free_engine(user: object) -> JavaEngine:
    """A JVM no live TWX env uses (started lazily), claimed for ``user`` at once."""
    engine = next((e for e in _POOL if not e.in_use), None)
    if engine is None:
        engine = JavaEngine("TextWorld-Express", twx_constants.JAR_PATH, cwd=twx_constants.BASEPATH)
        _POOL.append(engine)
    engine.acquire(user)
    return engine


# The engine's tries at a gold path (a random walk may end before it finds the coin).
GOLD_PATH_TRIES = 50

_LOST = (
    "The TextWorld-Express engine stopped (its Java process is gone), so this episode was lost. "
    "Call reset() to start a new episode on a fresh engine."
)


@cache
def fold_seeds() -> dict[str, tuple[int, ...]]:
    """The engine's seeds of its test and train folds (the same for every game)."""
    game = ENGINE.call(lambda: ENGINE.jvm().textworldexpress.runtime.PythonInterface())
    return {
        "test": tuple(ENGINE.call(game.getSeedsTest)),
        "train": tuple(ENGINE.call(game.getSeedsTrain)),
    }


class TWXEnv(TextEnv):
    """One TextWorld-Express game; subclasses below name it."""

    game: ClassVar[str]  # the engine's game name
    game_params: ClassVar[str] = ""  # the engine's "key=value,..." generation settings
    # The engine's gold agent class (textworldexpress.goldagent) for a game whose gold path is a
    # random walk, which we seed; empty where the engine's own gold path is already deterministic.
    random_walk_gold_agent: ClassVar[str] = ""
    action_help: ClassVar[str] = (
        "Actions are short commands such as 'look around', 'inventory', 'take OBJ', "
        "'put OBJ in OBJ', 'open OBJ', 'move north', 'read OBJ'; "
        "the list of valid actions is given with each observation's info."
    )

    def __init__(self, split: str = "train", render_mode: str | None = None):
        super().__init__(split=split, render_mode=render_mode)
        self._engine = free_engine(self)
        self._session = EngineHandle(self._engine, self, self._new_session)  # this env's game
        self._task_text = ""
        self._valid_actions: list[str] = []
        self._gold: list[str] = []
        self._gold_step = 0

    @classmethod
    def _new_session(cls, jvm: Any) -> Any:
        """A PythonInterface in the JVM, loaded with this class's game."""
        session = jvm.textworldexpress.runtime.PythonInterface()
        problem = session.load(cls.game, cls.game_params)
        if problem:
            raise ValueError(f"TextWorld-Express refused {cls.game!r} {cls.game_params!r}: {problem}")
        return session

    # ----------------------------------------------------------------- TextEnv hooks
    def task_description(self) -> str:
        return self._task_text or "Complete the TextWorld-Express task described in the first observation."

    def _start_task(self, task_id: int) -> str:
        session = self._session.get()
        fold, seed = self._fold_and_seed(task_id)
        # The gold path costs the engine little (a few ms); making it at every reset keeps the
        # expert ready without a second load.
        engine_gold = not self.random_walk_gold_agent
        state = json.loads(self._engine.call(lambda: session.generateNewGameJSON(seed, fold, engine_gold)))
        if engine_gold:
            self._gold = list(self._engine.call(session.getGoldActionSequence))
        else:
            self._gold = self._engine.call(lambda: self._seeded_gold_path(session, seed, fold))
        self._gold_step = 0
        self._task_text = self._engine.call(session.getTaskDescription)
        self._valid_actions = sorted(state["validActions"])  # the engine lists them in no fixed order
        return f"{self._task_text}\n{state['observation']}"

    def _apply(self, action: str) -> Outcome:
        refusal = refusal_of(action)
        if refusal:
            return self.invalid(refusal)
        try:
            state = json.loads(self._session.call(lambda session: session.stepJSON(action)))
        except EngineLost:
            return Outcome(_LOST, self.score, done=True, success=False, engine_lost=True)
        except Py4JJavaError:
            return self.invalid(f"the engine could not carry out '{action[:80]}' (error in the engine).")
        self._valid_actions = sorted(state["validActions"])  # the engine lists them in no fixed order
        if self._gold_step < len(self._gold) and action == self._gold[self._gold_step]:
            self._gold_step += 1
        score = min(1.0, max(0.0, float(state["score"])))
        if state["taskfailure"]:
            text = f"{state['observation']}\nThe task has failed."
            return Outcome(text, score, done=True, success=False)
        return Outcome(state["observation"], score, done=bool(state["tasksuccess"]) or score >= 1.0)

    def available_actions(self) -> list[str] | None:
        return list(self._valid_actions) if self.task_id is not None else None

    def expert(self) -> tuple[str, str]:
        """The next step of the engine's gold path, played open-loop: its place moves on when
        the agent takes that step."""
        if self._gold_step >= len(self._gold):
            return "The gold path is done; I look around to check.", "look around"
        action = self._gold[self._gold_step]
        return f"Following the plan for this game, the next step is to {action}.", action

    def _seeded_gold_path(self, session: Any, seed: int, fold: str) -> list[str]:
        """What the engine's ``mkGameWithGoldPath`` does for this game, with the walk's
        ``Random`` seeded: its gold agent walks a fresh copy of the game until a walk solves it,
        the one ``Random`` going on from try to try."""
        jvm = self._engine.jvm()
        walk = jvm.scala.util.Random(seed)
        make_agent = getattr(jvm.textworldexpress.goldagent, self.random_walk_gold_agent)
        for _ in range(GOLD_PATH_TRIES):
            game = session.gameGenerator().mkGame(seed, fold)  # not the session's game: the agent plays it
            found = make_agent(game).mkGoldPath(walk)  # a scala Tuple2 (success, path); py4j reads its fields
            if found._1:
                return list(found._2)
        return []

    def close(self) -> None:
        self._session.drop()
        super().close()

    # ----------------------------------------------------------------- seeds
    def _fold_and_seed(self, task_id: int) -> tuple[str, int]:
        """Test ids are the engine's test-fold seeds, the others its train-fold seeds."""
        n_test = len(self.splits.test)
        seeds = fold_seeds()
        if task_id < n_test:
            return "test", seeds["test"][task_id]
        return "train", seeds["train"][task_id - n_test]


class CookingWorldEnv(TWXEnv):
    """Read the cookbook, gather and prepare the ingredients, then eat the meal."""

    game = "cookingworld"
    game_params = "numLocations=3,numIngredients=2,numDistractorItems=5,includeDoors=0,limitInventorySize=0"


class CoinEnv(TWXEnv):
    """Find the coin somewhere in the house and take it."""

    game = "coin"
    random_walk_gold_agent = "CoinGoldAgent"


class TWCEnv(TWXEnv):
    """TextWorld Commonsense: put each item away where it belongs."""

    game = "twc"
    random_walk_gold_agent = "TWCGoldAgent"


class MapReaderEnv(TWXEnv):
    """Read a map, fetch the coin from a named room and bring it back to the box."""

    game = "mapreader"


class ArithmeticEnv(TWXEnv):
    """Solve the math problem, then put the item with that quantity in the box."""

    game = "arithmetic"


class SortingEnv(TWXEnv):
    """Put the objects in the box from the smallest quantity to the largest."""

    game = "sorting"


class SimonSaysEnv(TWXEnv):
    """Do exactly what Simon says."""

    game = "simonsays"


class PeckingOrderEnv(TWXEnv):
    """Follow the instructions book, one instruction at a time."""

    game = "peckingorder"
