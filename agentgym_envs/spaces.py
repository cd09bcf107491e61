"""The Text space every AgentGym env uses, made safe for Gymnasium's async vector envs.

Why this exists: ``AsyncVectorEnv(shared_memory=True)`` (the default of
``gym.make_vec(..., vectorization_mode="async")``) calls ``read_from_shared_memory`` once, in its
constructor, and from then on returns that object after every ``reset`` and ``step``. For a
``Box`` the object is a numpy view of the shared buffer, so it follows the workers' writes. For a
``Text`` space Gymnasium 1.x returns a tuple of strings decoded at that moment, from a buffer of
zeros: every observation of the vector env is then the charset's first character repeated
``max_length`` times, forever, with no error (``'\\t' * 8192`` with our charset).

Forcing ``shared_memory=False`` for our ids would need a change to every ``make_vec`` call (or a
custom ``vector_entry_point``, which ``make_vec`` uses only when no mode is given), so the trap
would still be open to anyone calling ``AsyncVectorEnv`` themselves. Instead :class:`AsciiText`
makes shared memory work: Gymnasium's ``create_shared_memory`` / ``read_from_shared_memory`` /
``write_to_shared_memory`` are ``functools.singledispatch`` functions, and the ones registered
here for :class:`AsciiText` (a subclass of ``Text``, so the more specific registration wins)

- store each observation as ASCII bytes padded with NUL (NUL is outside the charset, so the
  padding is unambiguous; a quarter of the int32 buffer Gymnasium would allocate);
- return from ``read_from_shared_memory`` a :class:`SharedTextBatch`: a live, read-only sequence
  over the buffer whose ``deepcopy`` (what ``AsyncVectorEnv`` returns by default, ``copy=True``)
  is a plain tuple of the strings the workers wrote last. With ``copy=False`` the caller gets the
  live view itself, just as it would get the live numpy buffer for a ``Box``.

The registrations run when this module is imported. ``agentgym_envs.core`` imports it, and a
worker process started with ``spawn`` imports it when it unpickles the space, so they are in
place wherever the functions are called.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np
from gymnasium.spaces import Text
from gymnasium.vector.utils import create_shared_memory, read_from_shared_memory, write_to_shared_memory

_PAD = 0  # NUL: never a character of an AgentGym text space (printable ASCII, newline, tab)


class AsciiText(Text):
    """A ``gymnasium.spaces.Text`` over ASCII characters that works with ``AsyncVectorEnv``'s
    shared memory (see the module doc). Behaves as ``Text`` everywhere else."""

    def __init__(self, max_length: int, *, min_length: int = 1, charset: Any = None, seed: Any = None):
        if charset is None:
            raise ValueError("AsciiText needs an explicit ASCII charset")
        super().__init__(max_length, min_length=min_length, charset=charset, seed=seed)
        if any(ord(c) >= 128 or ord(c) == _PAD for c in self.character_set):
            raise ValueError("AsciiText's charset must be ASCII without NUL")


class SharedTextBatch(Sequence):
    """The strings in an :class:`AsciiText` shared buffer, decoded when read (never stale)."""

    def __init__(self, buffer: np.ndarray):
        self._buffer = buffer  # uint8, shape (num_envs, max_length), shared with the workers

    def __len__(self) -> int:
        return self._buffer.shape[0]

    def __getitem__(self, index):
        if isinstance(index, slice):
            return tuple(self[i] for i in range(len(self))[index])
        row = self._buffer[index].tobytes()
        end = row.find(b"\0")
        return (row if end < 0 else row[:end]).decode("ascii")

    def snapshot(self) -> tuple[str, ...]:
        return tuple(self)

    def __deepcopy__(self, memo) -> tuple[str, ...]:
        # AsyncVectorEnv returns deepcopy(self.observations): give the caller plain strings.
        return self.snapshot()

    def __eq__(self, other) -> bool:
        return isinstance(other, Sequence) and tuple(self) == tuple(other)

    def __repr__(self) -> str:
        return f"SharedTextBatch({self.snapshot()!r})"


@create_shared_memory.register(AsciiText)
def _create_ascii_shared_memory(space: AsciiText, n: int = 1, ctx: ModuleType = mp):
    return ctx.Array("B", n * space.max_length)


@read_from_shared_memory.register(AsciiText)
def _read_ascii_from_shared_memory(space: AsciiText, shared_memory, n: int = 1) -> SharedTextBatch:
    buffer = np.frombuffer(shared_memory.get_obj(), dtype=np.uint8).reshape(n, space.max_length)
    return SharedTextBatch(buffer)


@write_to_shared_memory.register(AsciiText)
def _write_ascii_to_shared_memory(space: AsciiText, index: int, value: str, shared_memory) -> None:
    # Observations are already in the space; "replace" keeps a stray character from killing the
    # worker (it arrives as '?', as TextEnv.fit_to_space would have made it).
    data = str(value).encode("ascii", errors="replace")[: space.max_length]
    row = np.frombuffer(shared_memory.get_obj(), dtype=np.uint8)[
        index * space.max_length : (index + 1) * space.max_length
    ]
    row[: len(data)] = np.frombuffer(data, dtype=np.uint8)
    row[len(data) :] = _PAD
