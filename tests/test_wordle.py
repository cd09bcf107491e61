"""Wordle: feedback rules, guess handling, the episode's end, the expert and the task mapping.

The generic env contract (check_env, bad-input fuzzing, splits) is in test_envs.py."""

from __future__ import annotations

import re

import gymnasium as gym
import numpy as np
import pytest

import agentgym_envs  # noqa: F401  (registers AgentGym/Wordle-v0)
from agentgym_envs.envs import wordle
from agentgym_envs.envs.wordle import (
    FIRST_GUESS,
    MAX_GUESSES,
    WordleEnv,
    answer_for_task,
    bucket_sum_of_squares,
    feedback,
    marks_code,
    pattern_codes,
    word_lists,
)
from agentgym_envs.registration import install_hint


def new_env(task_id: int = 0) -> WordleEnv:
    env = WordleEnv(split="test")
    env.reset(options={"task_id": task_id})
    return env


def play_expert(env: WordleEnv) -> int:
    """Play the expert to the end; return the number of valid guesses it used."""
    while not env.done:
        env.step(env.expert()[1])
    return len(env.history)


# ------------------------------------------------------------------ feedback
@pytest.mark.parametrize(
    "answer, guess, marks",
    [
        ("abbey", "babes", "yyggb"),  # the two b's: one placed, one misplaced
        ("babes", "abbey", "yyggb"),
        ("abide", "speed", "bbyby"),  # one e in the answer: only the first guessed e is marked
        ("there", "eerie", "ybybg"),  # the green e uses one copy, the first e takes the other
        ("hello", "lolly", "byggb"),  # greens come first, so the leading l gets no copy left
        ("crane", "crane", "ggggg"),
        ("fjord", "bumpy", "bbbbb"),
        ("mamma", "mamma", "ggggg"),
        ("madam", "mamma", "ggyby"),  # three m's guessed, two in the answer, one placed
    ],
)
def test_feedback_marks_repeated_letters_like_the_real_game(answer, guess, marks):
    assert feedback(guess, answer) == marks


def test_vectorised_marks_agree_with_feedback():
    lists = word_lists()
    rng = np.random.default_rng(0)
    accepted = sorted(lists.accepted)
    guesses = [accepted[i] for i in rng.integers(len(accepted), size=400)] + ["babes", "eerie", "lolly"]
    answers = [lists.answers[i] for i in rng.integers(len(lists.answers), size=300)]
    answers += ["abbey", "there", "hello"]
    codes = pattern_codes(wordle._encode(guesses), wordle._encode(answers))
    expected = [[marks_code(feedback(g, a)) for a in answers] for g in guesses]
    assert codes.tolist() == expected


def test_both_ways_of_counting_buckets_agree():
    rng = np.random.default_rng(1)
    for n in (3, wordle._FEW_CANDIDATES, wordle._FEW_CANDIDATES + 1, 40):
        codes = rng.integers(0, 6, size=(50, n)).astype(np.uint8)
        expected = [sum(count**2 for count in np.unique(row, return_counts=True)[1]) for row in codes]
        pairwise = (codes[:, :, None] == codes[:, None, :]).sum(axis=(1, 2))
        assert bucket_sum_of_squares(codes).tolist() == expected == pairwise.tolist()


# ------------------------------------------------------------------ guesses
def test_spaced_and_plain_guesses_are_the_same_guess():
    spaced, plain = new_env(3), new_env(3)
    assert spaced.step("r a i s e")[0] == plain.step("raise")[0] == new_env(3).step('"R A I S E"')[0]
    assert spaced.history == plain.history == (("raise", feedback("raise", spaced.answer)),)


@pytest.mark.parametrize(
    "action, why",
    [
        ("xyzzy", "not in the game's word list"),
        ("a p p l e s", "has 6 letters"),
        ("cat", "has 3 letters"),
        ("12345", "is not a word"),
        ("r a i s e please", "is not a word"),
    ],
)
def test_invalid_guess_is_explained_and_uses_no_guess(action, why):
    env = new_env(0)
    obs, reward, terminated, truncated, info = env.step(action)
    assert why in obs and "did not count as a guess" in obs and "6 guesses left" in obs
    assert reward == 0.0 and not terminated and not truncated and env.history == ()
    obs, *_ = env.step(FIRST_GUESS)
    assert obs.startswith("guess 1: r a i s e\nfeedback 1: ") and "5 guesses left" in obs


def test_invalid_guesses_still_use_rounds():
    env = gym.make("AgentGym/Wordle-v0", split="test")
    env.reset(options={"task_id": 0})
    for _ in range(env.spec.max_episode_steps - 1):
        assert env.step("zzzzz")[3] is False
    _, _, terminated, truncated, info = env.step("zzzzz")
    assert truncated and not terminated and not info["success"]


def _wrong_words(answer: str, count: int) -> list[str]:
    return [w for w in ("crane", "pious", "lymph", "dwarf", "kebab", "gusto", "fjord") if w != answer][:count]


def test_six_wrong_guesses_end_the_episode_and_reveal_the_answer():
    env = gym.make("AgentGym/Wordle-v0", split="test")
    _, info = env.reset(options={"task_id": 5})
    answer = env.unwrapped.answer
    env.step("qwert")  # invalid guesses and wrong guesses share AgentGym's 8 rounds
    for number, word in enumerate(_wrong_words(answer, MAX_GUESSES), start=1):
        obs, reward, terminated, truncated, info = env.step(" ".join(word))
        assert f"guess {number}: {' '.join(word)}\nfeedback {number}: " in obs
        assert terminated == (number == MAX_GUESSES) and reward == 0.0
    assert f'The hidden word was "{answer}"' in obs
    assert not info["success"] and info["score"] == 0.0


def test_solving_gives_reward_one_and_success():
    env = new_env(7)
    env.step("crane" if env.answer != "crane" else "pious")
    obs, reward, terminated, _, info = env.step(env.answer)
    assert reward == 1.0 and terminated and info["success"] and info["score"] == 1.0
    assert "g g g g g" in obs and env.answer in obs


def test_no_finite_action_list():
    assert new_env().available_actions() is None


# ------------------------------------------------------------------ expert
def test_expert_solves_the_test_split_within_six_guesses():
    env = WordleEnv(split="test")
    solved = 0
    for task_id in WordleEnv.task_ids("test"):
        env.reset(options={"task_id": task_id})
        play_expert(env)
        solved += env.info["success"]
    assert solved / len(WordleEnv.task_ids("test")) >= 0.98


def test_expert_solves_a_training_sample():
    env = WordleEnv()
    train = WordleEnv.task_ids("train")
    sample = train[:: len(train) // 200]
    guesses = []
    for task_id in sample:
        env.reset(options={"task_id": task_id})
        guesses.append(play_expert(env))
        assert env.info["success"], env.answer
    assert max(guesses) <= MAX_GUESSES and np.mean(guesses) < 3.8


def test_expert_recovers_after_someone_elses_guesses():
    env = new_env(11)
    for word in ("fuzzy", "aahed"):  # a rare word and a word that is never an answer
        env.step(word)
    play_expert(env)
    assert env.info["success"]


def test_expert_opens_with_the_best_answer_word_and_explains_itself():
    solver = wordle.solver()
    everything = np.arange(len(solver.words))
    spread = bucket_sum_of_squares(solver.codes[:, everything])
    assert solver.words[int(np.argmin(spread))] == FIRST_GUESS
    env = new_env(2)
    thought, action = env.expert()
    assert action == "r a i s e" and "open" in thought
    env.step(action)
    thought, _ = env.expert()
    assert thought.startswith("From the feedback") or "rules out no letter" in thought


# ------------------------------------------------------------------ tasks
def test_test_and_training_answers_are_disjoint():
    test = {answer_for_task(i) for i in WordleEnv.task_ids("test")}
    train = [answer_for_task(i) for i in WordleEnv.task_ids("train")]
    assert len(test) == 25 and len(set(train)) == len(train) == 980
    assert not test & set(train)
    assert all(word in word_lists().answers for word in test | set(train))


def test_task_answers_are_fixed():
    # Pinned so that a change to the word lists or the shuffle cannot go unnoticed.
    assert [answer_for_task(i) for i in range(3)] == PINNED_FIRST_ANSWERS


def test_same_task_id_replays_identically():
    def transcript() -> list:
        env = new_env(17)
        steps = []
        for action in ("xyzzy", *[None] * 6):
            thought, expert_action = env.expert()
            obs, reward, terminated, _, info = env.step(action or expert_action)
            steps.append((thought, obs, reward, terminated, info["success"]))
            if terminated:
                break
        return steps

    assert transcript() == transcript()


def test_missing_package_names_the_extra(monkeypatch):
    def missing(name):
        raise ModuleNotFoundError(f"No module named {name!r}")

    word_lists.cache_clear()
    monkeypatch.setattr(wordle.resources, "files", missing)
    try:
        with pytest.raises(ModuleNotFoundError, match=re.escape(install_hint("wordle"))):
            WordleEnv()
    finally:
        monkeypatch.undo()
        word_lists.cache_clear()


PINNED_FIRST_ANSWERS = ["ditto", "mummy", "ruder"]
