"""SciWorld (ScienceWorld in AgentGym, item ids ``sciworld_<n>``), on the ``scienceworld`` engine.

Task ``n`` is the ``n``-th (task, variation) pair of AgentGym's list: every ScienceWorld task in
the package's task order except 5-1, 5-2, 9-1, 9-2, 9-3, 10-1 and 10-2, each with all its
variations (4,639 pairs), so ``sciworld_<n>`` names the same game as in AgentGym. The first
observation is AgentGym's: the task description, a newline, then what ``look around`` shows.

Where this differs from AgentGym's server, and why:

* The step. ``ScienceWorldEnv.step`` also rebuilds the whole valid-action list (every action
  template tried on every visible object), the room text, the inventory and the task text on
  every call, which makes a step several times slower. We call the world's own step
  (``AgentInterface.step``, which returns the text, the score and the ending; see
  :func:`engine_step`), nothing else;
  ``available_actions()`` runs the valid-action search only when asked, and ``info`` carries
  None for it (AgentGym's agents are never shown the list either). What is left is
  ScienceWorld's own parser, goal checks and simulation tick (docs/benchmarks.md has the speeds
  and the profile).
* Determinism. ScienceWorld keeps a room's contents in hash sets keyed by Java's identity hash,
  so the same game lists its objects in a different order from one load to the next. The JVM
  runs with a constant identity hash (``-XX:hashCode=2``), so a task id always gives the same
  text (a set's order follows the order its objects were added). The price: every insertion
  into such a set compares the object with each member, and steps take about 1.4x longer.
  The gold agents' JVM-wide route cache is emptied before each plan (:func:`_forget_search_routes`),
  so a task's expert plays alike whichever tasks were planned before it in the process.
* Score. ScienceWorld scores 0-100; ``score`` is that / 100 (AgentGym's integer percent), the
  reward is its gain, success is 100. A task ScienceWorld ends as failed (score below 0, e.g.
  focusing on the wrong object) ends the episode with score 0 and success False; AgentGym
  passes the -100 on as the episode's reward.
* The expert plays ScienceWorld's gold action sequence, shortened to fit AgentGym's 30 rounds:
  ``look around`` steps are dropped and the gold agent's watching loops (examine / read the
  thermometer / wait, repeated while something heats or cools) become ``wait`` steps that let
  at least as much time pass, ending with the loop's last thermometer reading.
* Engine failures. An input that makes the engine throw comes back as an explained
  observation; if the JVM dies, the step says the episode was lost and ends it, and the next
  ``reset`` starts a fresh JVM.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from functools import cache
from typing import Any

from agentgym_envs.core import Outcome, TextEnv
from agentgym_envs.registration import engine_imports

with engine_imports("SciWorld"):
    import scienceworld.constants as sw_constants
    from py4j.java_gateway import get_method
    from py4j.protocol import Py4JJavaError

    from agentgym_envs.envs.jvm import EngineHandle, EngineLost, JavaEngine, refusal_of

# Tasks AgentGym leaves out (ScienceWorld's "topic-task" ids).
EXCLUDED_TASKS = frozenset({"5-1", "5-2", "9-1", "9-2", "9-3", "10-1", "10-2"})
# Every object of a room sits in a hash set keyed by identity hash: with a constant hash the
# order of a set follows the order its objects were added, so the same game always reads the
# same. A step allocates megabytes and a reset builds a whole new world (and ScienceWorld's table
# of every task), which each young collection copies while it lives: with the default young
# generation that is every few steps; 512 MB makes collections rarer for some memory (the figures
# are in docs/benchmarks.md, "Measurements behind the defaults").
JAVA_OPTIONS = ("-XX:+UnlockExperimentalVMOptions", "-XX:hashCode=2", "-XX:+UseSerialGC", "-Xmn512m")
_WAIT_TICKS = {"wait": 10, "wait1": 1}  # ScienceWorld's waits, in world ticks
_LOST = (
    "The ScienceWorld engine stopped (its Java process is gone), so this episode was lost. "
    "Call reset() to start a new episode on a fresh engine."
)

ENGINE = JavaEngine(
    "ScienceWorld", sw_constants.JAR_PATH, cwd=sw_constants.BASEPATH, java_options=JAVA_OPTIONS
)


def _new_game(jvm: Any) -> Any:
    return jvm.scienceworld.runtime.pythonapi.PythonInterface()


# ------------------------------------------------------------------------------ the task list
@cache
def task_table() -> tuple[tuple[str, int], ...]:
    """AgentGym's (task name, variation) list: task ``n`` is entry ``n``. The variation counts
    come from the engine (one call per task, once per process)."""
    counter = ENGINE.call(lambda: _new_game(ENGINE.jvm()))
    table = []
    for task_key, task_name in sw_constants.ID2TASK.items():  # tasks.json order, as AgentGym's
        if task_key not in EXCLUDED_TASKS:
            count = ENGINE.call(lambda name=task_name: counter.getTaskMaxVariations(name))
            table += [(task_name, variation) for variation in range(count)]
    return tuple(table)


# ------------------------------------------------------------------------------ the expert's plan
def _is_watching(action: str) -> bool:
    """Actions of the gold agent's watching loops: they only look or let time pass."""
    return (
        action in _WAIT_TICKS or action == "look around" or action.startswith(("examine ", "use thermometer"))
    )


def shorten_gold_path(gold: list[str], keep_time: bool = False) -> list[str]:
    """The gold sequence with its slack taken out (see the module docstring).

    A watching run of more than two ticks becomes enough ``wait`` steps to let at least the same
    time pass, followed by its last thermometer reading (tasks that measure a temperature need
    one). Each ScienceWorld action takes one tick, ``wait`` ten. With ``keep_time`` the run
    becomes waits of exactly its ticks instead (for tasks where a stage lasts a few ticks, such
    as an animal's life stages, and waiting past it misses it)."""
    plan: list[str] = []
    index = 0
    while index < len(gold):
        if not _is_watching(gold[index]):
            plan.append(gold[index])
            index += 1
            continue
        end = index
        while end < len(gold) and _is_watching(gold[end]):
            end += 1
        run = gold[index:end]
        ticks = sum(_WAIT_TICKS.get(action, 1) for action in run)
        readings = [action for action in run if action.startswith("use thermometer")]
        if ticks <= 2:  # too short to gain anything; keep what it does, minus looking around
            plan += [action for action in run if action != "look around"]
        elif keep_time:
            ticks -= len(readings[-1:])
            plan += ["wait"] * (ticks // 10) + ["wait1"] * (ticks % 10) + readings[-1:]
        else:
            plan += ["wait"] * math.ceil(ticks / 10) + readings[-1:]
        index = end
    return plan


def _thought_for(action: str) -> str:
    """A short reason for a plan step, from its verb."""
    verb, _, rest = action.partition(" ")
    if action.startswith("open door to "):
        return f"The way to the {action.removeprefix('open door to ')} is closed, so I open the door."
    if action.startswith("go to "):
        return f"What I need next is in the {action.removeprefix('go to ')}, so I go there."
    if action.startswith("focus on "):
        return f"The task is about the {action.removeprefix('focus on ')}, so I focus on it."
    if action.startswith("pick up "):
        return f"I will need the {action.removeprefix('pick up ')}, so I pick it up."
    if action.startswith("use thermometer"):
        return "I read the thermometer to know the temperature now."
    if verb in _WAIT_TICKS:
        return "Now the change needs time, so I wait."
    if verb in ("activate", "deactivate", "connect", "mix", "pour", "move", "open", "read"):
        return f"Next I {verb} {rest}, which the task needs."
    return f"Next I {action}."


# ------------------------------------------------------------------------------ one step
_CONSOLE_COMMANDS = frozenset({"help", "objects", "task"})  # answered by PythonInterface itself
_EMPTY_REPLY = (
    "Unknown action.  Type 'help' for a list of actions, and 'objects' for a list of possible "
    "object referents."
)


def engine_step(game: Any, agent: Any, action: str) -> tuple[str, float, bool]:
    """One ScienceWorld step: (observation, score 0-1 or below 0 on failure, completed).

    ``PythonInterface.step`` renders the room and the inventory for its run history, lists
    every possible referent for a debug line and prints three lines to stdout (which py4j's
    reader thread then copies to /dev/null) around the world's step. We call the world's step
    (``AgentInterface.step``) directly: the same text, score and ending, less work, in three
    py4j round trips (the call, :func:`_read_step_result`, and py4j freeing the result)."""
    if action.strip().lower() in _CONSOLE_COMMANDS:
        return game.step(action), game.getScore(), game.getCompleted()
    return _read_step_result(agent.step(action))


def _read_step_result(result: Any) -> tuple[str, float, bool]:
    """``AgentInterface.step``'s Scala tuple, read in one py4j round trip instead of six.

    Reading ``_1()``, ``_2()`` and ``_3()`` costs two trips each: py4j first asks whether the
    name is a field (the gateway reads fields too), then calls it. ``get_method`` skips the
    question, and the tuple's ``toString`` is ``(text,score,completed)``, split from the right
    (the text may hold commas, the score and the flag cannot). py4j itself sends a Java double
    as its ``Double.toString``, so the score is the same float ``_2()`` would give."""
    observation, score, completed = get_method(result, "toString")()[1:-1].rsplit(",", 2)
    if observation == "null":  # a null text and the text "null" read alike: ask for it
        observation = get_method(result, "_1")()
    return observation or _EMPTY_REPLY, float(score), completed == "true"


# ------------------------------------------------------------------------------ the env
class SciWorldEnv(TextEnv):
    """ScienceWorld's elementary-science tasks, as AgentGym numbers them."""

    action_help = (
        "Actions (OBJ and LOC are names from the observation): open OBJ, close OBJ, activate OBJ, "
        "deactivate OBJ, connect OBJ to OBJ, disconnect OBJ, use OBJ [on OBJ], look around, "
        "look at OBJ, look in OBJ, read OBJ, move OBJ to OBJ, pick up OBJ, put down OBJ, "
        "pour OBJ into OBJ, dunk OBJ into OBJ, mix OBJ, go to LOC, eat OBJ, flush OBJ, "
        "focus on OBJ (say which object the task is about; focusing on a wrong one fails the task), "
        "wait (10 steps of time), wait1 (one step), task (repeat the task), inventory. "
        "When the game asks which of several objects you meant, answer with its number."
    )

    def __init__(self, split: str = "train", render_mode: str | None = None):
        super().__init__(split=split, render_mode=render_mode)
        self._game = EngineHandle(ENGINE, self, _new_game)  # this env's PythonInterface
        self._agent: Any = None  # the game's AgentInterface (the world), replaced at each load
        self._task_text = ""
        self._plan: list[str] | None = None
        self._plan_step = 0
        self._listing_info = False

    # ----------------------------------------------------------------- TextEnv hooks
    def task_description(self) -> str:
        return self._task_text or "Complete the ScienceWorld task described in the first observation."

    def _start_task(self, task_id: int) -> str:
        game = self._game.get()  # first: it makes this env a user of the JVM
        name, variation = task_table()[task_id]
        # AgentGym's reset: load (no gold path: generating it costs up to seconds), read the
        # task, then what "look around" shows. The look is ScienceWorld's free one, which takes
        # no time: a real "look around" would tick the world and earn the task's first points
        # before the agent did anything, so its next action, whatever it was, would get them.
        ENGINE.call(lambda: game.load(name, variation, "", False))
        self._task_text = ENGINE.call(game.getTaskDescription)
        first_look = ENGINE.call(game.freeActionLook)
        self._agent = ENGINE.call(lambda: game.agentInterface().get())  # a new one every load
        self._plan, self._plan_step = None, 0
        return f"{self._task_text}\n{first_look}"

    def _apply(self, action: str) -> Outcome:
        refusal = refusal_of(action)
        if refusal:
            return self.invalid(refusal)
        try:
            step = self._game.call(lambda game: engine_step(game, self._agent, action))
        except EngineLost:
            return Outcome(_LOST, self.score, done=True, success=False, engine_lost=True)
        except Py4JJavaError as error:
            return self.invalid(f"the engine could not carry out '{action[:80]}' ({_java_reason(error)}).")
        self._follow_plan(action)
        return _outcome(*step)

    def subtask(self) -> str:
        """ScienceWorld's task type, e.g. ``boil`` (each has many variations)."""
        return task_table()[self.task_id][0]

    def available_actions(self) -> list[str] | None:
        """ScienceWorld's valid actions now (slow: every template on every visible object).
        ``info`` carries None instead, so steps stay fast."""
        if self._listing_info or self.task_id is None or self._done:
            return None
        try:
            return sorted(self._game.call(lambda game: game.getValidActionObjectCombinations()))
        except (EngineLost, Py4JJavaError):
            return None

    @property
    def info(self) -> dict[str, Any]:
        self._listing_info = True  # TextEnv.info lists available_actions(): skip the search
        try:
            return super().info
        finally:
            self._listing_info = False

    def expert(self) -> tuple[str, str]:
        """The next step of the task's plan (:func:`gold_plan`). The plan is played open-loop:
        its place moves on when the agent takes the planned step, so after other actions it may
        no longer fit the state (as ScienceWorld's gold sequence itself)."""
        try:
            plan = self._expert_plan()
        except EngineLost:  # the step will say the episode was lost; the expert has no plan
            return "The engine stopped, so there is no plan; I look around.", "look around"
        if self._plan_step >= len(plan):
            return "The plan is carried out; I let time pass for the result.", "wait1"
        action = plan[self._plan_step]
        return _thought_for(action), action

    def close(self) -> None:
        self._game.drop()
        super().close()

    # ----------------------------------------------------------------- the expert's plan
    def _expert_plan(self) -> list[str]:
        if self._plan is None:
            self._plan = list(gold_plan(self.task_id))
        return self._plan

    def _follow_plan(self, action: str) -> None:
        """Advance the expert's place in its plan when the agent took the planned action."""
        if self._plan is not None and self._plan_step < len(self._plan):
            if action == self._plan[self._plan_step]:
                self._plan_step += 1


@cache
def gold_plan(task_id: int) -> tuple[str, ...]:
    """The expert's plan for a task, made once per process on a game object of its own:
    ScienceWorld's gold sequence, shortened (:func:`shorten_gold_path`), then pruned of the
    steps a replay shows did nothing (:func:`prune_plan`)."""
    name, variation = task_table()[task_id]
    planner = _planner()
    ENGINE.call(_forget_search_routes)
    ENGINE.call(lambda: planner.load(name, variation, "", True))
    gold = list(ENGINE.call(planner.getGoldActionSequence))

    def replay(plan: list[str]) -> tuple[list[str], float]:
        ENGINE.call(lambda: planner.load(name, variation, "", False))
        ENGINE.call(lambda: planner.step("look around"))
        agent = ENGINE.call(lambda: planner.agentInterface().get())
        observations, score = [], 0.0
        for action in plan:
            observation, score, completed = ENGINE.call(
                lambda action=action: engine_step(planner, agent, action)
            )
            observations.append(observation)
            if completed:
                break
        return observations, score

    # The shortest candidate that still completes the task in a replay; else the gold itself.
    for plan in (shorten_gold_path(gold), shorten_gold_path(gold, keep_time=True)):
        observations, score = replay(plan)
        if score >= 1.0:
            return tuple(prune_plan(plan, observations, score, replay))
    return tuple(gold)


# What the engine says when an action changed nothing (a broken device, an open door, ...).
_NO_EFFECT = re.compile(
    r"appears broken|is already|can't move something into itself|No known action|"
    r"nothing to|doesn't have|not something you can",
    re.IGNORECASE,
)


def prune_plan(
    plan: list[str],
    observations: list[str],
    score: float,
    replay: Callable[[list[str]], tuple[list[str], float]],
) -> list[str]:
    """``plan`` without the steps that changed nothing, if a replay shows it scores as well.

    The gold agent tries devices that may be broken and then another one; its failed tries, the
    moves they needed (``move X to Y`` straight followed by ``pick up X``) and the steps after
    the task completed are dropped. ``observations`` and ``score`` are what playing ``plan``
    gave; ``replay(plan)`` plays a plan from the task's start and returns the observations of
    the steps it took (it stops at completion) and the score."""
    kept = [action for action, seen in zip(plan, observations) if not _NO_EFFECT.search(seen)]
    kept = _drop_undone_moves(kept)
    if len(kept) < len(observations) and replay(kept)[1] >= score:
        return kept
    return plan[: len(observations)]


def _drop_undone_moves(plan: list[str]) -> list[str]:
    """Remove ``move X to Y`` when the next step is ``pick up X`` (it takes X straight back)."""
    kept: list[str] = []
    for action in plan:
        if kept and action.startswith("pick up ") and kept[-1].startswith(f"move {action[8:]} to "):
            kept.pop()
            continue
        kept.append(action)
    return kept


def _forget_search_routes() -> None:
    """Empty the gold agents' route cache, so a task's gold path is the one a fresh JVM makes.

    ScienceWorld's PathFinder keeps, JVM-wide and per start room, the first route through the
    house that any gold agent drew when searching for something (a shuffle by the engine's
    Random, which each load seeds from its variation). Later tasks starting a search in that
    room reuse it instead of drawing their own, so without this a task's plan depended on which
    tasks were planned before it in the process (the boil, melt, freeze, chemistry-mix and
    conductivity gold agents search)."""
    ENGINE.jvm().scienceworld.goldagent.PathFinder.precomputedExhaustivePaths().clear()


_PLANNER: dict[int, Any] = {}  # JVM generation -> its planner game object


def _planner() -> Any:
    generation = ENGINE.generation
    if generation not in _PLANNER or not ENGINE.running:
        _PLANNER.clear()
        _PLANNER[ENGINE.generation] = ENGINE.call(lambda: _new_game(ENGINE.jvm()))
    return _PLANNER[ENGINE.generation]


def _outcome(observation: str, raw_score: float, completed: bool) -> Outcome:
    """ScienceWorld's 0-1 score (below 0 when the task failed) as the contract's score."""
    if raw_score < 0:
        text = f"{observation}\nThe task has failed: ScienceWorld ended it with a negative score."
        return Outcome(text, 0.0, done=True, success=False)
    score = round(100 * raw_score) / 100  # AgentGym's integer percent
    return Outcome(observation, score, done=bool(completed), success=score >= 1.0)


def _java_reason(error: Py4JJavaError) -> str:
    java = error.java_exception
    try:
        return f"error: {java.getClass().getSimpleName()}"
    except Exception:  # noqa: BLE001  (the exception object may be gone with its JVM)
        return "error in the engine"
