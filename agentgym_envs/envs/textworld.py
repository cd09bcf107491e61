"""``AgentGym/TextWorld-v0``: games generated with Microsoft's TextWorld (beyond AgentGym).

Task id ``n`` is one game of one of TextWorld's three built-in challenges (``n % 3``: cooking,
coin collector, treasure hunter) at one of three difficulties (``n // 3 % 3``: easy, medium,
hard), generated from seed ``n`` (or, where that seed has no quest, the task's next seed: see
:func:`generate`). Generating and compiling a game through Inform 7 takes a
second or two, so each game is compiled once into ``$AGENTGYM_CACHE/textworld`` (default
``~/.cache/agentgym/textworld``) and read from there afterwards. Cooking games of the test ids
use the cooking challenge's held-out foods (its ``test`` split), the others its ``train`` foods.

The first observation is the game's objective and the room, without TextWorld's ASCII-art
banner. Score is the game's points over its maximum; success is winning (a cooking game can be
lost, e.g. by eating the wrong thing, which ends the episode). The expert plays the game's
walkthrough while the agent follows it and TextWorld's own policy (its quest tracker) from any
other state.

Model text never reaches the Z-machine unfiltered (:func:`refusal_of`). A command passes only if
it is made of what TextWorld's commands are made of: letters, digits, spaces, and ``-`` and ``'``
inside names ("non-euclidean keycard", "Henderson's"), at most 197 characters. Anything else is
refused because jericho's interpreter (dumb-frotz) reads a backslash anywhere in a line as one of
its own escape commands: ``\\U`` kills the whole Python process with a segmentation fault, ``\\S``,
``\\R``, ``\\N``, ``\\D`` and ``\\H`` never return, ``\\u`` and ``\\h`` never return and print without end;
control characters such as NUL hang it too. Commands that work the interpreter or TextWorld's
bookkeeping instead of the story are refused as well: quit, restart, save, restore, script and
transcript (a yes/no question that swallows the next command, a restart behind TextWorld's state
tracker, a transcript file written to the working directory) and TextWorld's own controls
(``tw-...``, ``enable print state option``, which prints the whole world state, ``restrict
commands``). A refused command is an observation saying why, reward 0, and the episode goes on.
An engine error on any other input ends the episode with an explanation instead of raising.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

from agentgym_envs.core import Outcome, TextEnv
from agentgym_envs.registration import engine_imports

with engine_imports("TextWorld"):
    import textworld
    from textworld.challenges import coin_collector, treasure_hunter
    from textworld.challenges.tw_cooking import cooking
    from textworld.generator.chaining import QuestGenerationError
    from textworld.generator.game import GameOptions

GENERATOR_VERSION = 1  # bump when a task id's game changes
CHALLENGES = ("cooking", "coin_collector", "treasure_hunter")
DIFFICULTIES = ("easy", "medium", "hard")
COOKING = {
    "easy": {"recipe": 1, "take": 1, "go": 1},
    "medium": {"recipe": 2, "take": 2, "go": 6, "open": True, "cook": True},
    "hard": {"recipe": 3, "take": 3, "go": 9, "open": True, "cook": True, "cut": True},
}
# coin collector: level = quest length (+100: twice the rooms, with distractor rooms; +200: thrice)
COIN_LEVELS = {"easy": (1, 5), "medium": (103, 108), "hard": (205, 210)}
TREASURE_LEVELS = {"easy": (1, 10), "medium": (11, 20), "hard": (21, 30)}  # the challenge's own bands
NOT_ADMISSIBLE = " (That is not one of the available actions.)"
# What may reach the Z-machine, and the verbs that may not lead a command (see the module
# docstring for why: dumb-frotz's backslash escapes, the interpreter's and TextWorld's own commands).
_COMMAND_TEXT = re.compile(r"[A-Za-z0-9' -]+")
_OUT_OF_WORLD = frozenset(
    "quit q restart save restore script transcript unscript noscript enable disable restrict".split()
)
_PROMPT = re.compile(r"\n>")
_INFOS = dict(admissible_commands=True, policy_commands=True, won=True, lost=True, score=True, max_score=True)


def cache_dir() -> Path:
    root = os.environ.get("AGENTGYM_CACHE") or Path.home() / ".cache" / "agentgym"
    return Path(root) / "textworld"


def task_settings(task_id: int, test: bool) -> tuple[str, str, dict]:
    """(challenge, difficulty, the challenge's settings) of a task id."""
    challenge, difficulty = CHALLENGES[task_id % 3], DIFFICULTIES[task_id // 3 % 3]
    if challenge == "cooking":
        settings = {"cut": False, "drop": False, "open": False, "cook": False, **COOKING[difficulty]}
        settings.update(recipe_seed=0, split="test" if test else "train")
    else:
        low, high = (COIN_LEVELS if challenge == "coin_collector" else TREASURE_LEVELS)[difficulty]
        settings = {"level": low + task_id // 9 % (high - low + 1)}
    return challenge, difficulty, settings


def compiled_game(task_id: int, test: bool, folder: Path) -> Path:
    """The task's ``.z8`` file, generated and compiled on first use."""
    path = folder / f"games-v{GENERATOR_VERSION}" / f"{task_id}.z8"
    if path.exists() and path.with_suffix(".json").exists():
        return path
    challenge, _, settings = task_settings(task_id, test)
    options = GameOptions()  # seeded by generate()
    options.path = str(path.with_suffix(f".{os.getpid()}.z8"))  # compile aside, then move in place
    options.file_ext = ".z8"
    options.force_recompile = True
    make = {"cooking": cooking.make, "coin_collector": coin_collector.make}.get(
        challenge, treasure_hunter.make
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    # jericho says "not fully supported" whenever textworld replays a walkthrough on a draft game
    # (the coin collector's maker does, compiling does): its own score tracking, which we never use.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        game = generate(make, settings, options, task_id)
        built = Path(textworld.generator.compile_game(game, options))
    built.with_suffix(".json").replace(path.with_suffix(".json"))
    built.replace(path)  # the .z8 last: its presence with the .json means the game is whole
    return path


RESEEDS = 20  # seeds tried for one task id before giving up
RESEED_STRIDE = 100_003  # a prime: task n's k-th retry seed n + k * stride is no other task's seed


def generate(make, settings: dict, options: GameOptions, task_id: int) -> textworld.Game:
    """``make(settings, options)`` seeded with the task id; where textworld's quest sampler finds
    no quest of the asked length for that seed (some treasure hunts), the next seeds of the
    task's own sequence, so every task id has a game and always the same one."""
    for attempt in range(RESEEDS):
        options.seeds = task_id + attempt * RESEED_STRIDE
        try:
            return make(settings, options)
        except QuestGenerationError:
            continue
    raise RuntimeError(f"textworld found no quest for task {task_id} in {RESEEDS} seeds")


def _without_prompt(feedback: str) -> str:
    """The Z-machine's answer without its ">" prompt and status line ("-= Kitchen =-2/5")."""
    return _PROMPT.split(feedback, maxsplit=1)[0].strip()


def _intro(objective: str, feedback: str) -> str:
    """The first feedback from the objective on: TextWorld's ASCII-art banner comes before it."""
    start = feedback.find(objective.strip())
    return feedback[start:].strip() if start >= 0 else f"{objective.strip()}\n\n{feedback.strip()}"


_MAX_COMMAND = 197  # jericho truncates an action past 198 bytes (with its newline)


def refusal_of(command: str) -> str | None:
    """Why ``command`` must not reach the Z-machine, or None. An allow-list, not a list of known
    bad inputs: only what TextWorld's commands are made of is passed on."""
    if not _COMMAND_TEXT.fullmatch(command):
        return (
            "TextWorld's commands are words of letters and digits (with - and ' inside names); "
            "other characters never reach the game, and this is not a command it knows."
        )
    if len(command) > _MAX_COMMAND:  # jericho would cut it (and warn): say so instead
        return f"TextWorld's parser reads at most {_MAX_COMMAND} characters a command."
    # Inform runs "A then B" as two commands, so every command's first word is checked.
    for clause in re.split(r"\bthen\b", command.lower()):
        words = clause.split()
        if words and words[0] in _OUT_OF_WORLD:
            return f"'{words[0]}' works the game program, not the game; it is not a TextWorld command."
    if any(word.startswith("tw-") for word in command.lower().split()):
        return "commands starting with 'tw-' are TextWorld's own controls, not commands of the game."
    return None


class TextWorldEnv(TextEnv):
    """Play a generated TextWorld game: cook a recipe, find a coin, or fetch a treasure.

    Beyond ``split`` and ``render_mode`` (:class:`~agentgym_envs.core.TextEnv`'s):

    Args:
        cache_dir: where compiled games are kept (default ``$AGENTGYM_CACHE/textworld``).
    """

    action_help = (
        "Actions are short English commands TextWorld's parser knows: 'go north', 'open fridge', "
        "'take apple from table', 'cook carrot with oven', 'slice carrot with knife', 'eat meal', "
        "'examine cookbook', 'look', 'inventory'. The available actions are listed in the info."
    )

    def __init__(self, split: str = "train", render_mode: str | None = None, cache_dir: str | None = None):
        super().__init__(split=split, render_mode=render_mode)
        self.cache = Path(cache_dir) if cache_dir else globals()["cache_dir"]()
        self.game = None
        self.state = None
        self._walkthrough: list[str] = []
        self._on_track = True
        self._done_actions = 0

    def task_description(self) -> str:
        return (
            "You play a text adventure generated by TextWorld. The first observation gives your "
            "objective: cook and eat a meal following the cookbook, find the coin, or find and take "
            "a treasure. Explore the rooms, open containers and doors, take what you need and do "
            "what the objective says, one command per turn."
        )

    def _start_task(self, task_id: int) -> str:
        self.close()
        path = compiled_game(task_id, task_id in self.task_ids("test"), self.cache)
        # No description=True: TextWorld would run "look" in the Z-machine on every step for it.
        infos = textworld.EnvInfos(objective=True, extras=["walkthrough"], **_INFOS)
        with warnings.catch_warnings():  # jericho: "not fully supported" (its own score tracking; unused)
            warnings.simplefilter("ignore")
            self.game = textworld.start(str(path), infos)
            self.state = self.game.reset()
        self._walkthrough = list(self.state.get("extra.walkthrough") or [])
        self._on_track, self._done_actions = True, 0
        return _intro(self.state["objective"], _without_prompt(self.state.feedback))

    def _apply(self, action: str) -> Outcome:
        refusal = refusal_of(action)
        if refusal:
            return self.invalid(refusal)
        admissible = action in self.state["admissible_commands"]
        try:
            with warnings.catch_warnings():  # jericho's "not fully supported" again, when it reloads
                warnings.simplefilter("ignore")
                self.state, _, done = self.game.step(action)
        except Exception as error:  # the Z-machine's fault, not the agent's: end the episode cleanly
            self.close()
            text = f"The game engine failed on this command ({type(error).__name__}); the episode is over."
            return Outcome(text, self.score, done=True, success=False)
        self._track(action)
        feedback = _without_prompt(self.state.feedback) + ("" if admissible else NOT_ADMISSIBLE)
        score = min(1.0, max(0.0, self.state["score"] / max(1, self.state["max_score"])))
        won = bool(self.state["won"])
        return Outcome(feedback, 1.0 if won else score, done=done or won, success=won)

    def subtask(self) -> str:
        """The TextWorld challenge: ``cooking``, ``coin_collector`` or ``treasure_hunter``."""
        return CHALLENGES[self.task_id % 3]

    def available_actions(self) -> list[str] | None:
        return list(self.state["admissible_commands"]) if self.state is not None else None

    def expert(self) -> tuple[str, str]:
        if self._on_track and self._done_actions < len(self._walkthrough):
            action = self._walkthrough[self._done_actions]
            return "I follow the plan that finishes this game.", action
        policy = self.state["policy_commands"] or ["look"]
        return "I do the next thing the objective still needs.", policy[0]

    def close(self) -> None:
        if self.game is not None:
            self.game.close()
            self.game = None
        super().close()

    def _track(self, action: str) -> None:
        """Whether the agent is still on the walkthrough (the expert's first choice)."""
        on_path = (
            self._done_actions < len(self._walkthrough) and self._walkthrough[self._done_actions] == action
        )
        self._on_track = self._on_track and on_path
        self._done_actions += 1
