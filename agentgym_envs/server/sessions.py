"""Live envs of one server: ids, locks, capacity, idle reaping and the numbers behind /metrics.

Each session owns one env made with ``gym.make`` (so AgentGym's round limit applies) and one
``asyncio.Lock``: requests on one env run one at a time, requests on different envs do not wait
for each other. Env work (making, resetting, stepping, closing) can block for a long time (a JVM
start, a planner), so the app runs it in worker threads, except kinds of calls that have proved
cheap (``app.CallTimer``); the lock is held across that await.

Unlike AgentGym's servers, ids count up for the server's whole life and are never handed out
twice, a full server says so (the app answers 503) instead of recycling someone else's env, and
envs that nobody touched for ``idle_timeout`` seconds are closed.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

from agentgym_envs.registration import Family


class AtCapacity(Exception):
    """The server already holds its maximum number of envs."""


class UnknownSession(KeyError):
    """No live env has this id (never made, closed, or reaped after going idle)."""


@dataclass
class Session:
    id: int
    family: Family
    env: gym.Env
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_used: float = field(default_factory=time.monotonic)
    observation: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    reset_done: bool = False
    done: bool = False

    def touch(self) -> None:
        self.last_used = time.monotonic()


class SessionStore:
    """The server's envs by id."""

    def __init__(self, capacity: int = 256, idle_timeout: float = 900.0):
        self.capacity = capacity
        self.idle_timeout = idle_timeout
        self._sessions: dict[int, Session] = {}
        self._ids = itertools.count()
        self._reserved = 0  # slots promised to envs still being made in a worker thread

    def __len__(self) -> int:
        return len(self._sessions)

    def reserve(self) -> int:
        """Claim a slot and an id before the (slow) env is made, so concurrent creates cannot
        overshoot the capacity."""
        if len(self._sessions) + self._reserved >= self.capacity:
            raise AtCapacity(
                f"the server holds its maximum of {self.capacity} envs; close one or retry later"
            )
        self._reserved += 1
        return next(self._ids)

    def add(self, session_id: int, family: Family, env: gym.Env) -> Session:
        self._reserved -= 1
        session = Session(session_id, family, env)
        self._sessions[session_id] = session
        return session

    def release(self) -> None:
        """Give back a reserved slot whose env could not be made."""
        self._reserved -= 1

    def get(self, session_id: int, family: Family | None = None) -> Session:
        session = self._sessions.get(session_id)
        if session is None or (family is not None and session.family is not family):
            raise UnknownSession(session_id)
        return session

    def pop(self, session_id: int) -> Session:
        session = self._sessions.pop(session_id, None)
        if session is None:
            raise UnknownSession(session_id)
        return session

    def idle(self, now: float | None = None) -> list[Session]:
        """Sessions untouched for longer than the idle timeout and not busy right now."""
        now = time.monotonic() if now is None else now
        return [
            s
            for s in self._sessions.values()
            if now - s.last_used > self.idle_timeout and not s.lock.locked()
        ]

    def all(self) -> list[Session]:
        return list(self._sessions.values())


# Latency buckets in seconds, Prometheus style (cumulative counts per upper bound).
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class Metrics:
    """Counters for /metrics, in Prometheus's text format."""

    steps: int = 0
    resets: int = 0
    created: int = 0
    closed: int = 0
    reaped: int = 0
    errors: dict[int, int] = field(default_factory=dict)  # HTTP status -> count
    bucket_counts: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))
    latency_sum: float = 0.0
    latency_count: int = 0

    def observe_latency(self, seconds: float) -> None:
        self.latency_sum += seconds
        self.latency_count += 1
        index = bisect.bisect_left(BUCKETS, seconds)  # the smallest bound >= seconds
        if index < len(BUCKETS):
            self.bucket_counts[index] += 1  # one bucket per request; render() sums them up

    def error(self, status: int) -> None:
        self.errors[status] = self.errors.get(status, 0) + 1

    def render(self, live: int) -> str:
        lines = [
            "# HELP agentgym_live_envs Envs held by the server now.",
            "# TYPE agentgym_live_envs gauge",
            f"agentgym_live_envs {live}",
        ]
        for name, value, text in (
            ("agentgym_steps_total", self.steps, "Env steps served."),
            ("agentgym_resets_total", self.resets, "Env resets served."),
            ("agentgym_envs_created_total", self.created, "Envs made."),
            ("agentgym_envs_closed_total", self.closed, "Envs closed by a client."),
            ("agentgym_envs_reaped_total", self.reaped, "Envs closed after going idle."),
        ):
            lines += [f"# HELP {name} {text}", f"# TYPE {name} counter", f"{name} {value}"]
        lines += [
            "# HELP agentgym_errors_total Error responses by HTTP status.",
            "# TYPE agentgym_errors_total counter",
        ]
        lines += [f'agentgym_errors_total{{status="{code}"}} {n}' for code, n in sorted(self.errors.items())]
        lines += [
            "# HELP agentgym_request_seconds Time to serve a request.",
            "# TYPE agentgym_request_seconds histogram",
        ]
        cumulative = itertools.accumulate(self.bucket_counts)
        lines += [f'agentgym_request_seconds_bucket{{le="{b}"}} {n}' for b, n in zip(BUCKETS, cumulative)]
        lines += [
            f'agentgym_request_seconds_bucket{{le="+Inf"}} {self.latency_count}',
            f"agentgym_request_seconds_sum {self.latency_sum:.6f}",
            f"agentgym_request_seconds_count {self.latency_count}",
        ]
        return "\n".join(lines) + "\n"
