"""Which task ids each split of an env holds, and AgentGym's names for the splits.

A family's registration line (:mod:`agentgym_envs.registration`) states its split sizes; the
:class:`TaskSplits` built from them is what the env (:mod:`agentgym_envs.core`), the data
builders and the trainers read. Nothing here imports the rest of the package, so both the
registry and the env contract can depend on it without depending on each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

SPLITS = ("test", "train", "agenttraj", "agenttraj_l", "heldout")
_SPLIT_ALIASES = {
    "eval": "test",
    "agenteval": "test",
    "instructions": "train",
    "bc-base": "agenttraj",
    "bc_base": "agenttraj",
    "agenttraj-l": "agenttraj_l",
    "bc-large": "agenttraj_l",
    "bc_large": "agenttraj_l",
}


def normalise_split(split: str) -> str:
    """Canonical split name, accepting AgentGym's names (``eval``, ``agenttraj-l``, ...)."""
    key = split.strip().lower()
    key = _SPLIT_ALIASES.get(key, key)
    if key not in SPLITS:
        names = ", ".join(SPLITS + tuple(_SPLIT_ALIASES))
        raise ValueError(f"unknown split {split!r}; choose one of: {names}")
    return key


@dataclass(frozen=True)
class TaskSplits:
    """Fixed task ids of one env, sized after AgentGym's table.

    ``test`` is AgentEval. ``train`` is the exploration instruction set; AgentTraj (BC-base) and
    AgentTraj-L (BC-large) are its first ``n`` ids, so BC-base is inside BC-large as in AgentGym.
    Test ids never overlap the training ids. ``total`` is how many task ids the env has.

    ``heldout`` is not AgentGym's: where an env generates its tasks (Maze, BabyAI), the ids after
    the instruction set are more tasks of the same kind in no other split, for studies that need
    more held-out episodes than AgentEval's few (``benchmarks/rl_study.py``). Empty elsewhere.
    """

    test: Sequence[int]
    train: Sequence[int]
    agenttraj: Sequence[int]
    agenttraj_l: Sequence[int]
    total: int
    heldout: Sequence[int] = range(0)

    @classmethod
    def sized(
        cls, *, test: int, agenttraj: int, agenttraj_l: int, train: int, heldout: int = 0
    ) -> TaskSplits:
        """Test ids first, then the instruction set, then ``heldout`` generated ids: for envs
        whose task ids are all alike."""
        _check_nested(agenttraj, agenttraj_l, train)
        first = test
        return cls(
            test=range(0, test),
            train=range(first, first + train),
            agenttraj=range(first, first + agenttraj),
            agenttraj_l=range(first, first + agenttraj_l),
            total=first + train + heldout,
            heldout=range(first + train, first + train + heldout),
        )

    @classmethod
    def spread(cls, *, total: int, test: int, agenttraj: int, agenttraj_l: int, train: int) -> TaskSplits:
        """For envs whose ids run through kinds of task in order (SciWorld: every variation of one
        task, then the next task): test ids evenly spaced over all ``total`` ids, the instruction
        set evenly spaced over the rest, in an order whose every prefix (AgentTraj, AgentTraj-L) is
        spread too, so each split holds every kind of task."""
        _check_nested(agenttraj, agenttraj_l, train)
        if test + train > total:
            raise ValueError(f"{test} test + {train} training ids do not fit in {total} tasks")
        test_ids = tuple(int((i + 0.5) * total / test) for i in range(test))
        taken = set(test_ids)
        rest = [i for i in range(total) if i not in taken]
        picked = [rest[int((i + 0.5) * len(rest) / train)] for i in range(train)]
        order = sorted(range(train), key=lambda i: (_van_der_corput(i), i))
        train_ids = tuple(picked[i] for i in order)
        return cls(
            test=test_ids,
            train=train_ids,
            agenttraj=train_ids[:agenttraj],
            agenttraj_l=train_ids[:agenttraj_l],
            total=total,
        )

    def ids(self, split: str) -> Sequence[int]:
        return getattr(self, normalise_split(split))

    @property
    def num_tasks(self) -> int:
        return self.total


def _check_nested(agenttraj: int, agenttraj_l: int, train: int) -> None:
    if not agenttraj <= agenttraj_l <= train:
        raise ValueError("expected agenttraj <= agenttraj_l <= train")


def _van_der_corput(n: int) -> float:
    """n's binary digits mirrored after the point: 0, .5, .25, .75, ... (each prefix spreads out)."""
    value, weight = 0.0, 0.5
    while n:
        value += weight * (n & 1)
        n >>= 1
        weight /= 2
    return value
