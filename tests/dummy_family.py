"""A pytest plugin that registers three small throwaway families, for tests/test_registration.py.

``python -m pytest -p dummy_family tests/test_envs.py`` runs the shared contract tests on them
with no edit to any test file:

- ``DummyCoin``: a correct family (call three hidden coin tosses); every contract test must pass.
- ``DummyBrokenCoin``: the same game, but it raises on an action it does not understand; the shared
  tests must catch it (so they are tests that can fail).
- ``DummyPhantom``: needs an engine module that does not exist; its tests must be skipped with a
  reason that names the extra to install.
"""

from __future__ import annotations

import numpy as np

from agentgym_envs.core import Outcome, TextEnv
from agentgym_envs.registration import register_family

SIDES = ("heads", "tails")
TOSSES = 3


class CoinEnv(TextEnv):
    action_help = "Actions: 'heads' or 'tails'."

    def task_description(self) -> str:
        return f"Call {TOSSES} hidden coin tosses in order. A wrong call costs a round."

    def _start_task(self, task_id: int) -> str:
        rng = np.random.default_rng([task_id, 0xC011])
        self.tosses = [SIDES[i] for i in rng.integers(2, size=TOSSES)]
        self.called = 0
        return f"Toss 1 of {TOSSES}: heads or tails?"

    def _apply(self, action: str) -> Outcome:
        call = action.lower()
        if call not in SIDES:
            return self.invalid(f"'{action}' is not a call.")
        if call != self.tosses[self.called]:
            return Outcome(f"No, toss {self.called + 1} was not {call}. Try again.", self.score)
        self.called += 1
        score = self.called / TOSSES
        if self.called == TOSSES:
            return Outcome("Right. You called every toss.", score, done=True)
        return Outcome(f"Right. Toss {self.called + 1} of {TOSSES}: heads or tails?", score)

    def available_actions(self) -> list[str]:
        return list(SIDES)

    def expert(self) -> tuple[str, str]:
        return "I remember how the coin fell.", self.tosses[self.called]


class BrokenCoinEnv(CoinEnv):
    def _apply(self, action: str) -> Outcome:
        if action.lower() not in SIDES:
            raise ValueError(f"cannot parse {action!r}")
        return super()._apply(action)


class PhantomEnv(CoinEnv):
    """Never made: its engine is missing, so its tests skip."""


register_family(
    "DummyCoin", "dummy_family:CoinEnv", item_prefix="dummycoin", max_rounds=6, sizes=(5, 6, 8, 10)
)  # fmt: skip
register_family(
    "DummyBrokenCoin", "dummy_family:BrokenCoinEnv", item_prefix="dummybrokencoin", max_rounds=6,
    sizes=(5, 6, 8, 10),
)  # fmt: skip
register_family(
    "DummyPhantom", "dummy_family:PhantomEnv", item_prefix="dummyphantom", max_rounds=6, sizes=(5, 6, 8, 10),
    engine="agentgym_no_such_engine", extra="phantom",
)  # fmt: skip
