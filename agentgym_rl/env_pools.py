"""Where a rollout's envs live: in this process, or in Ray actors on other cores and machines.

The rollout engine asks a pool for batches: ``reset_many`` starts episodes, ``step_many`` acts in
all live episodes at once, ``release`` hands an env back for the next episode. The policy always
generates here, in one place; only text (task ids, actions, observations, info dicts) crosses to
the envs.

- :class:`LocalEnvPool`: envs made with ``gym.make`` in this process, reused across episodes;
  with ``env_server`` they are ``AgentGym/Remote-v0`` envs held by an env server
  (``agentgym serve``), as AgentGym's own trainers reach their envs over HTTP.
- :class:`RayEnvPool`: ``workers`` Ray actors, each holding many envs and stepping its share of a
  batch in one call. On a laptop it starts a local Ray; given an address (``auto`` or
  ``ray://host:port``) it joins that cluster.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import gymnasium as gym

import agentgym_envs  # noqa: F401 - registers AgentGym/* here and in every Ray worker that loads this

StepResult = tuple[str, float, bool, bool, dict[str, Any]]


def make_env(env_id: str, max_rounds: int | None, env_server: str | None = None) -> gym.Env:
    if env_server is not None:  # the server's env keeps the family's round limit; so does this one
        rounds = max_rounds or agentgym_envs.family(env_id).max_rounds
        return gym.make("AgentGym/Remote-v0", base_url=env_server, env=env_id, max_episode_steps=rounds)
    kwargs = {} if max_rounds is None else {"max_episode_steps": max_rounds}
    return gym.make(env_id, **kwargs)


class EnvSlots:
    """Envs by slot number, reused across episodes of the same env id (making an env, e.g.
    BabyAI's minigrid world or a JVM, costs far more than resetting one). Used in process and
    inside each Ray actor.

    With ``env_server``, a batch's requests go out from ``HTTP_THREADS`` threads at once: each
    request mostly waits for the server, and the server works on one while this process sends or
    reads another (the figures are in docs/benchmarks.md, "Measurements behind the defaults")."""

    HTTP_THREADS = 8

    def __init__(self, max_rounds: int | None = None, env_server: str | None = None):
        self.max_rounds = max_rounds
        self.env_server = env_server
        self.busy: dict[int, tuple[str, gym.Env]] = {}
        self.idle: dict[str, list[gym.Env]] = {}
        self.made: list[gym.Env] = []
        self._threads = ThreadPoolExecutor(self.HTTP_THREADS) if env_server else None

    def reset(self, slot: int, env_id: str, task_id: int) -> tuple[str, dict[str, Any]]:
        return self._claim(slot, env_id).reset(options={"task_id": task_id})

    def _claim(self, slot: int, env_id: str) -> gym.Env:
        idle = self.idle.get(env_id)
        env = idle.pop() if idle else self._make(env_id)
        self.busy[slot] = (env_id, env)
        return env

    def step(self, slot: int, action: str) -> StepResult:
        observation, reward, terminated, truncated, info = self.busy[slot][1].step(action)
        return observation, float(reward), bool(terminated), bool(truncated), info

    def release(self, slot: int) -> None:
        env_id, env = self.busy.pop(slot)
        self.idle.setdefault(env_id, []).append(env)

    def reset_batch(self, items: Sequence[tuple[int, str, int]]) -> list[tuple[str, dict[str, Any]]]:
        envs = [self._claim(slot, env_id) for slot, env_id, _ in items]  # in order: slots are shared
        return self._map(
            lambda env, task_id: env.reset(options={"task_id": task_id}), envs, [i[2] for i in items]
        )

    def step_batch(self, items: Sequence[tuple[int, str]]) -> list[StepResult]:
        return self._map(self.step, [slot for slot, _ in items], [action for _, action in items])

    def _map(self, function, *columns) -> list:
        if self._threads is None or len(columns[0]) < 2:
            return list(map(function, *columns))
        return list(self._threads.map(function, *columns))

    def release_batch(self, slots: Sequence[int]) -> None:
        for slot in slots:
            self.release(slot)

    def close(self) -> None:
        for env in self.made:
            env.close()
        self.made.clear()
        self.idle.clear()
        self.busy.clear()
        if self._threads is not None:
            self._threads.shutdown()

    def _make(self, env_id: str) -> gym.Env:
        env = make_env(env_id, self.max_rounds, self.env_server)
        self.made.append(env)
        return env


class LocalEnvPool:
    """Every env in this process (or on an env server, through this process)."""

    def __init__(self, max_rounds: int | None = None, env_server: str | None = None):
        self.slots = EnvSlots(max_rounds, env_server)
        self._numbers = itertools.count()

    def reset_many(self, jobs: Sequence[tuple[str, int]]) -> list[tuple[int, str, dict[str, Any]]]:
        """Start one episode per (env id, task id); returns (slot, observation, info) each."""
        items = [(next(self._numbers), env_id, task_id) for env_id, task_id in jobs]
        results = self.slots.reset_batch(items)
        return [(slot, observation, info) for (slot, _, _), (observation, info) in zip(items, results)]

    def step_many(self, actions: Sequence[tuple[int, str]]) -> list[StepResult]:
        return self.slots.step_batch(actions)

    def release(self, slots: Sequence[int]) -> None:
        self.slots.release_batch(slots)

    def close(self) -> None:
        self.slots.close()


class RayEnvPool:
    """Envs in ``workers`` Ray actors. A batch is split by actor and sent as one remote call per
    actor, so a round costs one round trip per actor, not one per episode."""

    def __init__(self, workers: int, max_rounds: int | None = None, address: str | None = None):
        ray = _import_ray()
        self._started_ray = not ray.is_initialized()
        if self._started_ray:
            # Only our packages' code needs to reach the workers; they import it from the same
            # installation (a cluster needs the package installed on every node).
            ray.init(address=address, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
        actor = ray.remote(num_cpus=0)(EnvSlots)  # env work is light; do not reserve whole cores
        self._ray = ray
        self.actors = [actor.remote(max_rounds) for _ in range(workers)]
        self._numbers = itertools.count()
        self._home: dict[int, int] = {}  # slot -> actor index
        self._load = [0] * workers

    def reset_many(self, jobs: Sequence[tuple[str, int]]) -> list[tuple[int, str, dict[str, Any]]]:
        batches: dict[int, list[tuple[int, str, int]]] = {}
        order = []
        for env_id, task_id in jobs:
            slot = next(self._numbers)
            order.append(slot)
            home = min(range(len(self.actors)), key=self._load.__getitem__)  # the least busy actor
            self._home[slot] = home
            self._load[home] += 1
            batches.setdefault(home, []).append((slot, env_id, task_id))
        by_slot = dict(self._call("reset_batch", batches))
        return [(slot, *by_slot[slot]) for slot in order]

    def step_many(self, actions: Sequence[tuple[int, str]]) -> list[StepResult]:
        batches: dict[int, list[tuple[int, str]]] = {}
        for slot, action in actions:
            batches.setdefault(self._home[slot], []).append((slot, action))
        by_slot = dict(self._call("step_batch", batches))
        return [by_slot[slot] for slot, _ in actions]

    def release(self, slots: Sequence[int]) -> None:
        batches: dict[int, list[int]] = {}
        for slot in slots:
            home = self._home.pop(slot)
            self._load[home] -= 1
            batches.setdefault(home, []).append(slot)
        self._ray.get([self.actors[home].release_batch.remote(items) for home, items in batches.items()])

    def close(self) -> None:
        if self.actors:
            self._ray.get([actor.close.remote() for actor in self.actors])
            for actor in self.actors:
                self._ray.kill(actor)
            self.actors = []
        if self._started_ray:  # a local Ray we started: stop it (a cluster we joined stays up)
            self._ray.shutdown()
            self._started_ray = False

    def _call(self, method: str, batches: dict[int, list[tuple]]) -> list[tuple[int, Any]]:
        """Send each actor its batch in one call; (slot, reply) pairs in the batches' order."""
        pending = {home: getattr(self.actors[home], method).remote(items) for home, items in batches.items()}
        replies = []
        for home, result in zip(pending, self._ray.get(list(pending.values()))):
            replies += [(item[0], reply) for item, reply in zip(batches[home], result)]
        return replies


def make_env_pool(
    workers: int = 0, max_rounds: int | None = None, address: str | None = None, env_server: str | None = None
):
    """In process for ``workers == 0`` (over HTTP with ``env_server``), else ``workers`` Ray
    actors (joining ``address``)."""
    if workers < 0:
        raise ValueError(f"rollout_workers must be >= 0, got {workers}")
    if workers and env_server:
        raise ValueError("choose Ray workers or an env server for the envs, not both")
    return LocalEnvPool(max_rounds, env_server) if workers == 0 else RayEnvPool(workers, max_rounds, address)


def _import_ray():
    try:
        import ray
    except ModuleNotFoundError:
        from agentgym_envs import install_hint

        raise ModuleNotFoundError(f"rollout_workers > 0 needs Ray: {install_hint('ray')}") from None
    return ray
