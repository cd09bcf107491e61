"""Env server speed: steps/s and latency at 1, 8 and 64 concurrent clients, against the env in
process.

The server (``python -m agentgym_envs.server``) runs in a child process on loopback. The load
comes from another process, as wrk would send it, so that the client's own cost does not count
against the server: N asyncio clients, one keep-alive connection each, speak AgentGym's protocol
(``/create``, ``/reset``, ``/step``) in raw HTTP/1.1 and replay expert episodes. The server's CPU
time per step (from /proc) is printed beside, which the load of other jobs on the machine moves
far less than steps/s. One more row drives 8 clients with ``httpx.AsyncClient`` from this
process, what a Python client written with the usual library gets. The in-process reference
replays the same actions on ``gym.make`` envs in this process. Every loop is bounded by a step
count and a time limit.

OpenEnv's protocol (``agentgym serve --openenv``) is measured the same way beside it: N sessions,
one ``/ws`` WebSocket each, sending OpenEnv's ``reset`` and ``step`` frames from another process
(the ``websockets`` library, as OpenEnv's client uses it), and one row of 8 of OpenEnv's own
``GenericEnvClient`` in this process.

Then whole rollouts (``agentgym_rl.rollout``, a scripted Maze policy so the envs' side is what is
measured): episodes/min with the envs in process, on the env server over HTTP, and in 2 Ray
actors on a local Ray.

Usage: python benchmarks/server_speed.py [--env maze] [--steps 4000] [--clients 1 8 64] [--episodes 240]
                                        [--protocols agentgym openenv]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import gymnasium as gym
import httpx
from common import print_header

import agentgym_envs  # noqa: F401 - registers the ids
from agentgym_envs import family

TARGETS = {"steps/s at 8 clients": 2_000, "p99 ms at 64 clients": 50.0}
TIME_LIMIT_S = 120


def expert_episodes(env_id: str, task_ids, count: int) -> list[tuple[int, list[str]]]:
    env = gym.make(env_id)
    episodes = []
    for task_id in list(task_ids)[:count]:
        env.reset(options={"task_id": task_id})
        actions, done = [], False
        while not done:
            action = env.unwrapped.expert()[1]
            actions.append(action)
            _, _, terminated, truncated, _ = env.step(action)
            done = terminated or truncated
        episodes.append((task_id, actions))
    env.close()
    return episodes


def in_process_steps_per_s(env_id: str, episodes, steps: int) -> float:
    env = gym.make(env_id)
    done_steps, started = 0, time.perf_counter()
    while done_steps < steps:
        for task_id, actions in episodes:
            env.reset(options={"task_id": task_id})
            for action in actions:
                env.step(action)
            done_steps += len(actions)
    return done_steps / (time.perf_counter() - started)


def start_server(env: str, protocol: str = "agentgym") -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    flag = "--openenv" if protocol == "openenv" else "--env"
    command = [sys.executable, "-m", "agentgym_envs.server", flag, env, "--port", str(port)]
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise TimeoutError("the server did not start")


class RawConnection:
    """One keep-alive HTTP/1.1 connection that sends JSON POSTs and reads Content-Length bodies:
    the least a client can do per request, so the numbers are the server's."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, url: str) -> RawConnection:
        host, port = url.removeprefix("http://").split(":")
        return cls(*await asyncio.open_connection(host, int(port)))

    async def post(self, path: str, payload: dict) -> tuple[int, bytes]:
        body = json.dumps(payload).encode()
        head = f"POST {path} HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\n"
        self.writer.write(f"{head}content-length: {len(body)}\r\n\r\n".encode() + body)
        header = await self.reader.readuntil(b"\r\n\r\n")
        length = int(header.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
        return int(header[9:12]), await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


class HttpxConnection:
    """The same requests through ``httpx.AsyncClient``."""

    def __init__(self, client: httpx.AsyncClient):
        self.client = client

    @classmethod
    async def open(cls, url: str) -> HttpxConnection:
        return cls(httpx.AsyncClient(base_url=url, timeout=60))

    async def post(self, path: str, payload: dict) -> tuple[int, bytes]:
        reply = await self.client.post(path, json=payload)
        return reply.status_code, reply.content

    def close(self) -> None:
        asyncio.get_running_loop().create_task(self.client.aclose())


async def client(connection, episodes, steps: int, latencies: list[float], fam) -> int:
    """One AgentGym-style client: create an env, then replay episodes until ``steps`` steps."""
    created = json.loads((await connection.post("/create", {}))[1])
    env_id = created if fam.create_reply == "int" else created[fam.id_key]
    done_steps = 0
    while done_steps < steps:
        for task_id, actions in episodes:
            await connection.post("/reset", {fam.id_key: env_id, fam.reset_field: task_id})
            for action in actions[: steps - done_steps]:
                started = time.perf_counter()
                status, body = await connection.post("/step", {fam.id_key: env_id, "action": action})
                latencies.append(time.perf_counter() - started)
                if status != 200:
                    raise RuntimeError(f"step failed: {status} {body[:200]!r}")
                done_steps += 1
            if done_steps >= steps:
                break
    await connection.post("/close", {fam.id_key: env_id})
    connection.close()
    return done_steps


async def drive(sessions, play, episodes, steps: int) -> tuple[float, list[float]]:
    """Each session replays its own rotation of the episodes for its share of ``steps`` with
    ``play(session, episodes, steps, latencies)``: (steps/s over all, every step's latency)."""
    latencies: list[float] = []
    started = time.perf_counter()
    rotated = [episodes[i % len(episodes) :] + episodes[: i % len(episodes)] for i in range(len(sessions))]
    jobs = [play(s, rotated[i], max(1, steps // len(sessions)), latencies) for i, s in enumerate(sessions)]
    total = sum(await asyncio.wait_for(asyncio.gather(*jobs), TIME_LIMIT_S))
    return total / (time.perf_counter() - started), latencies


async def over_http(url: str, fam, episodes, clients: int, steps: int, raw: bool):
    kind = RawConnection if raw else HttpxConnection
    connections = [await kind.open(url) for _ in range(clients)]
    return await drive(connections, functools.partial(client, fam=fam), episodes, steps)


def load(protocol: str, url: str, env: str, episodes, clients: int, steps: int, raw: bool):
    """(steps/s, latencies) of ``clients`` clients of ``protocol``'s server."""
    if protocol == "openenv":
        return over_ws(url, episodes, clients, steps, raw)
    return over_http(url, family(env), episodes, clients, steps, raw)


def load_from_another_process(protocol: str, url: str, env: str, episodes, clients: int, steps: int):
    """Run in a child process: the raw clients, on uvloop where it is installed (as uvicorn)."""
    runner = asyncio.run
    with contextlib.suppress(ModuleNotFoundError):
        import uvloop

        runner = uvloop.run
    return runner(load(protocol, url, env, episodes, clients, steps, raw=True))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# The client library of each protocol's in-process row.
LIBRARIES = {"agentgym": "httpx", "openenv": "OpenEnv's GenericEnvClient"}


def measured_row(protocol: str, process, url: str, fam, episodes, clients: int, steps: int, raw: bool):
    before = cpu_seconds(process.pid)
    if raw:
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            rate, latencies = pool.submit(
                load_from_another_process, protocol, url, fam.name, episodes, clients, steps
            ).result()
    else:
        rate, latencies = asyncio.run(load(protocol, url, fam.name, episodes, clients, steps, raw=False))
    server_us = (cpu_seconds(process.pid) - before) / len(latencies) * 1e6
    ms = [x * 1000 for x in latencies]
    label = f"{clients}" if raw else f"{clients}, {LIBRARIES[protocol]} in this process"
    return label, rate, percentile(ms, 50), percentile(ms, 99), server_us


# ------------------------------------------------------------------------------ OpenEnv's /ws
class RawSession:
    """One OpenEnv session: a ``/ws`` WebSocket sending OpenEnv's frames, nothing more."""

    def __init__(self, socket):
        self.socket = socket

    @classmethod
    async def open(cls, url: str) -> RawSession:
        from websockets.asyncio.client import connect

        return cls(
            await connect(url.replace("http://", "ws://", 1) + "/ws", max_size=None, ping_interval=None)
        )

    async def call(self, kind: str, data: dict) -> dict:
        await self.socket.send(json.dumps({"type": kind, "data": data}))
        reply = json.loads(await self.socket.recv())
        if reply["type"] == "error":
            raise RuntimeError(f"{kind} failed: {reply['data']}")
        return reply["data"]

    async def close(self) -> None:
        await self.socket.send('{"type": "close"}')
        await self.socket.close()


class OpenEnvClientSession:
    """The same session through OpenEnv's own ``GenericEnvClient``."""

    def __init__(self, client):
        self.client = client

    @classmethod
    async def open(cls, url: str) -> OpenEnvClientSession:
        from openenv import GenericEnvClient

        client = GenericEnvClient(base_url=url)
        await client.connect()
        return cls(client)

    async def call(self, kind: str, data: dict):
        return await (self.client.reset(**data) if kind == "reset" else self.client.step(data))

    async def close(self) -> None:
        await self.client.close()


async def ws_client(session, episodes, steps: int, latencies: list[float]) -> int:
    """One OpenEnv client: replay episodes over its session until ``steps`` steps."""
    done_steps = 0
    while done_steps < steps:
        for task_id, actions in episodes:
            await session.call("reset", {"task_id": task_id})
            for action in actions[: steps - done_steps]:
                started = time.perf_counter()
                await session.call("step", {"action": action})
                latencies.append(time.perf_counter() - started)
                done_steps += 1
            if done_steps >= steps:
                break
    await session.close()
    return done_steps


async def over_ws(url: str, episodes, clients: int, steps: int, raw: bool):
    kind = RawSession if raw else OpenEnvClientSession
    sessions = [await kind.open(url) for _ in range(clients)]
    return await drive(sessions, ws_client, episodes, steps)


def measure(protocol: str, fam, episodes, args) -> tuple[list[tuple], list[tuple[str, float]]]:
    """The rows of one protocol's server (and, for AgentGym's, the rollouts through it)."""
    process, url = start_server(args.env, protocol)
    row = functools.partial(measured_row, protocol, process, url, fam, episodes)
    try:
        rows = [row(n, args.steps, raw=True) for n in args.clients]
        rows.append(row(8, args.steps, raw=False))
        wants_rollouts = protocol == "agentgym" and args.episodes and fam.name == "Maze"
        return rows, rollout_rows(url, args.episodes) if wants_rollouts else []
    finally:
        process.terminate()
        process.wait(timeout=10)


def print_rows(title: str, rows: list[tuple], reference: float) -> None:
    print(f"{title}\n")
    print("| clients | steps/s | p50 ms | p99 ms | server CPU us/step | vs in process |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, rate, p50, p99, server_us in rows:
        print(
            f"| {label} | {rate:,.0f} | {p50:.2f} | {p99:.2f} | {server_us:.0f} | {rate / reference:.3f}x |"
        )
    print()


# ------------------------------------------------------------------------------ rollouts
class WallFollower:
    """A scripted Maze policy: the first direction the last observation does not call a wall."""

    generated_tokens = 0

    def generate(self, prompts, **settings):
        return [self.reply(messages[-1]["content"]) for messages in prompts]

    @staticmethod
    def reply(text: str) -> str:
        words = {"up": "above", "right": "right", "down": "below", "left": "left"}
        blocked = text.split("There are walls", 1)[1].split(".")[0] if "There are walls" in text else ""
        move = next((d for d, w in words.items() if w not in blocked), "up")
        return f"Thought:\nNothing blocks {move}.\n\nAction:\nmove {move}"


def rollout_rows(url: str, episodes: int) -> list[tuple[str, float]]:
    from agentgym_rl.rollout import RolloutConfig, RolloutStats, make_jobs, rollout

    jobs = make_jobs(["maze"], list(range(25, 265)) * (1 + episodes // 240))[:episodes]
    rows = []
    for label, extra in (
        ("in process", {}),
        ("env server over HTTP", {"env_server": url}),
        ("2 Ray actors (local Ray)", {"rollout_workers": 2}),
    ):
        stats = RolloutStats()
        try:
            rollout(WallFollower(), jobs, RolloutConfig(concurrency=32, **extra), progress=False, stats=stats)
        except ModuleNotFoundError as error:  # no ray
            print(f"{label}: skipped ({error})")
            continue
        rows.append((label, stats.episodes_per_minute))
    return rows


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="maze", help="family to serve (a cheap env measures the server)")
    parser.add_argument("--steps", type=int, default=4000, help="steps per row")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 64], help="concurrent clients")
    parser.add_argument("--episodes", type=int, default=240, help="Maze episodes per rollout row (0: none)")
    parser.add_argument(
        "--protocols", nargs="+", default=["agentgym", "openenv"], choices=["agentgym", "openenv"],
        help="the servers to measure: AgentGym's HTTP protocol, OpenEnv's /ws (the openenv extra)",
    )  # fmt: skip
    args = parser.parse_args()
    print_header()
    fam = family(args.env)
    episodes = expert_episodes(fam.env_id, fam.splits.train, 40)
    reference = in_process_steps_per_s(fam.env_id, episodes, args.steps)
    measured = {protocol: measure(protocol, fam, episodes, args) for protocol in args.protocols}
    print(f"{fam.env_id}, expert actions replayed; in process: {reference:,.0f} steps/s (one env)\n")
    titles = {"agentgym": "AgentGym's protocol over HTTP", "openenv": "OpenEnv's protocol over /ws sessions"}
    for protocol, (rows, _) in measured.items():
        print_rows(titles[protocol], rows, reference)
    rows, rollouts = measured.get("agentgym", ([], []))
    by_clients = {r[0]: r for r in rows}
    if "8" in by_clients:
        ok = by_clients["8"][1] >= TARGETS["steps/s at 8 clients"]
        print(f"target >= 2,000 steps/s at 8 clients: {'ok' if ok else 'MISSED'} ({by_clients['8'][1]:,.0f})")
    if "64" in by_clients:
        ok = by_clients["64"][3] <= TARGETS["p99 ms at 64 clients"]
        print(f"target p99 <= 50 ms at 64 clients: {'ok' if ok else 'MISSED'} ({by_clients['64'][3]:.1f} ms)")
    if rollouts:
        print(f"\nrollouts: {args.episodes} Maze episodes, 32 at once, a scripted policy\n")
        print("| envs | episodes/min | vs in process |")
        print("|---|---:|---:|")
        for label, rate in rollouts:
            print(f"| {label} | {rate:,.0f} | {rate / rollouts[0][1]:.2f}x |")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
