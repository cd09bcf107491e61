"""The session service every protocol serves: make, reset, step, close and the expert, each under
the env's own lock; limits (capacity, idle reaping, body size is the Guard's) and where env work
runs (worker threads, or the event loop once a kind of call has proved cheap: :class:`CallTimer`).

Protocols (AgentGym's routes, ``/v1``) call it and only translate requests and replies; a failure
is an ``HTTPException`` with the status code that says what went wrong.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
from fastapi import HTTPException
from starlette.concurrency import run_in_threadpool

from agentgym_envs.registration import Family
from agentgym_envs.server.sessions import AtCapacity, Metrics, Session, SessionStore, UnknownSession
from agentgym_envs.splits import normalise_split


class Service:
    """What both APIs do to envs: make, reset, step, close, each under the env's own lock; slow
    work in worker threads, work that has proved cheap on the event loop (:class:`CallTimer`)."""

    def __init__(self, families: Sequence[Family], capacity: int, idle_timeout: float):
        self.families = {fam.name: fam for fam in families}
        self.store = SessionStore(capacity=capacity, idle_timeout=idle_timeout)
        self.metrics = Metrics()
        self.timers: dict[tuple[str, str], CallTimer] = {}

    async def _run(self, fam: Family, operation: str, function, *args, **kwargs):
        """``function(*args, **kwargs)`` inline if this family's ``operation`` has proved cheap,
        else in a worker thread. Only the call is timed, not the wait for a thread or the loop."""
        timer = self.timers.setdefault((fam.name, operation), CallTimer())
        if timer.inline:
            return timer.timed(function, *args, **kwargs)
        return await run_in_threadpool(timer.timed, function, *args, **kwargs)

    async def create(self, fam: Family, split: str = "train") -> Session:
        try:
            session_id = self.store.reserve()
        except AtCapacity as error:
            raise HTTPException(503, str(error), headers={"Retry-After": "1"}) from None
        try:
            # No passive env checker: after a first reset that raised (a task id out of range),
            # gymnasium's checker fails the next step with a TypeError; the envs are tested anyway.
            env = await run_in_threadpool(gym.make, fam.env_id, split=split, disable_env_checker=True)
        except ValueError as error:  # a bad split name
            self.store.release()
            raise HTTPException(422, str(error)) from None
        except Exception as error:  # noqa: BLE001 - the engine failed to start: say why
            self.store.release()
            raise engine_failure(fam, "make", error) from None
        self.metrics.created += 1
        return self.store.add(session_id, fam, env)

    def session(self, session_id: int, fam: Family | None = None) -> Session:
        try:
            session = self.store.get(session_id, fam)
        except UnknownSession:
            raise HTTPException(
                404, f"no live env with id {session_id} (never made, closed, or idle too long)"
            )
        session.touch()
        return session

    async def reset(
        self, session: Session, task_id: int | None = None, seed: int | None = None, split: str | None = None
    ):
        """Start a task: exactly ``task_id``, or one drawn by ``seed`` from the env's split
        (``split``, when given, becomes the env's split from now on)."""
        options = None if task_id is None else {"task_id": task_id}
        async with session.lock:
            try:
                if split is not None:
                    session.env.unwrapped.split = normalise_split(split)
                observation, info = await self._run(
                    session.family, "reset", session.env.reset, seed=seed, options=options
                )
            except (ValueError, TypeError) as error:  # a task id out of range or not an int
                raise HTTPException(422, str(error)) from None
            except Exception as error:  # noqa: BLE001
                raise engine_failure(session.family, "reset", error) from None
            session.observation, session.info = observation, info
            session.reset_done, session.done = True, False
            session.touch()
        self.metrics.resets += 1
        return observation, info

    async def step(self, session: Session, action: Any):
        async with session.lock:
            if not session.reset_done:
                raise HTTPException(409, "reset this env before stepping it")
            if session.done:
                raise HTTPException(409, "this episode has ended: reset the env to start another")
            try:
                result = await self._run(session.family, "step", session.env.step, action)
            except Exception as error:  # noqa: BLE001 - the contract says envs never raise; engines can
                raise engine_failure(session.family, "step", error) from None
            observation, reward, terminated, truncated, info = result
            session.observation, session.info = observation, info
            session.done = bool(terminated or truncated)
            session.touch()
        self.metrics.steps += 1
        result = observation, float(reward), bool(terminated), bool(truncated), info
        if info.get("engine_lost"):
            raise EngineLostInStep(session.family, *result)
        return result

    async def expert(self, session: Session) -> tuple[str, str]:
        async with session.lock:
            if not session.reset_done or session.done:
                raise HTTPException(409, "the expert acts only inside a running episode")
            try:
                return await self._run(session.family, "expert", session.env.unwrapped.expert)
            except NotImplementedError as error:
                raise HTTPException(404, str(error)) from None

    async def close(self, session_id: int, fam: Family | None = None) -> None:
        session = self.session(session_id, fam)
        self.store.pop(session_id)
        async with session.lock:
            await self._run(session.family, "close", session.env.close)
        self.metrics.closed += 1

    async def reap_idle(self) -> int:
        reaped = 0
        for session in self.store.idle():
            with contextlib.suppress(UnknownSession):
                self.store.pop(session.id)
                await run_in_threadpool(session.env.close)
                reaped += 1
        self.metrics.reaped += reaped
        return reaped

    async def close_all(self) -> None:
        for session in self.store.all():
            self.store.pop(session.id)
            with contextlib.suppress(Exception):
                await run_in_threadpool(session.env.close)


class CallTimer:
    """Whether one kind of env call (a family's step, say) runs on the event loop.

    Handing a call to a worker thread and back (two thread wake-ups and a wait for the loop) costs
    more CPU than a whole step of a cheap env such as Maze (docs/benchmarks.md has the figures).
    But a call that blocks (a JVM step, a planner, a long SQL query) must not run on the loop,
    where it would stall every other env.
    So every kind of call starts in worker threads; once its calls have averaged under
    ``CHEAP_S`` over at least ``PROVE`` calls it runs inline, and goes back to the threads if
    that average drifts over. A single call over ``SLOW_S`` sends that kind of call to
    the threads for the server's life: an env that is sometimes slow stalls the others at most
    once per kind of call."""

    CHEAP_S = 0.002
    SLOW_S = 0.02
    PROVE = 32

    def __init__(self) -> None:
        self.calls = 0
        self.mean = 0.0  # the mean call time, then (past PROVE calls) a moving average of it
        self.ever_slow = False

    @property
    def inline(self) -> bool:
        return not self.ever_slow and self.calls >= self.PROVE and self.mean < self.CHEAP_S

    def timed(self, function, *args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            self.record(time.perf_counter() - started)

    def record(self, seconds: float) -> None:
        self.ever_slow = self.ever_slow or seconds > self.SLOW_S
        self.calls += 1
        self.mean += max(1.0 / self.calls, 1.0 / self.PROVE) * (seconds - self.mean)


class EngineLostInStep(HTTPException):
    """A step whose engine process died (the env ended the episode and said so): a 500 with the
    env's message, carrying the step's own result so a Gymnasium client (``RemoteEnv``) can end
    its episode exactly as the local env does. A reset starts a fresh engine."""

    def __init__(self, fam: Family, observation: str, reward: float, terminated: bool, truncated: bool, info):
        super().__init__(500, f"{fam.env_id} lost its engine in step: {observation}")
        self.result = {
            "engine_lost": True,
            "observation": observation,
            "reward": reward,
            "terminated": terminated,
            "truncated": truncated,
            "info": info,
        }


def engine_failure(fam: Family, what: str, error: Exception) -> HTTPException:
    return HTTPException(500, f"{fam.env_id} failed in {what}: {type(error).__name__}: {error}")
