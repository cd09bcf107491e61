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

Then whole rollouts (``agentgym_rl.rollout``, a scripted Maze policy so the envs' side is what is
measured): episodes/min with the envs in process, on the env server over HTTP, and in 2 Ray
actors on a local Ray.

Usage: python benchmarks/server_speed.py [--env maze] [--steps 4000] [--clients 1 8 64] [--episodes 240]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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


def start_server(env: str) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "agentgym_envs.server", "--env", env, "--port", str(port)]
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


async def client(connection, fam, episodes, steps: int, latencies: list[float]) -> int:
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


async def over_http(
    url: str, fam, episodes, clients: int, steps: int, raw: bool
) -> tuple[float, list[float]]:
    kind = RawConnection if raw else HttpxConnection
    connections = [await kind.open(url) for _ in range(clients)]
    latencies: list[float] = []
    per_client = max(1, steps // clients)
    started = time.perf_counter()
    rotated = [episodes[i % len(episodes) :] + episodes[: i % len(episodes)] for i in range(clients)]
    jobs = [client(c, fam, rotated[i], per_client, latencies) for i, c in enumerate(connections)]
    total = sum(await asyncio.wait_for(asyncio.gather(*jobs), TIME_LIMIT_S))
    return total / (time.perf_counter() - started), latencies


def load_from_another_process(url: str, env: str, episodes, clients: int, steps: int):
    """Run in a child process: the raw clients, on uvloop where it is installed (as uvicorn)."""
    runner = asyncio.run
    with contextlib.suppress(ModuleNotFoundError):
        import uvloop

        runner = uvloop.run
    return runner(over_http(url, family(env), episodes, clients, steps, raw=True))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def http_row(process, url: str, fam, episodes, clients: int, steps: int, raw: bool) -> tuple:
    before = cpu_seconds(process.pid)
    if raw:
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            rate, latencies = pool.submit(
                load_from_another_process, url, fam.name, episodes, clients, steps
            ).result()
    else:
        rate, latencies = asyncio.run(over_http(url, fam, episodes, clients, steps, raw=False))
    server_us = (cpu_seconds(process.pid) - before) / len(latencies) * 1e6
    ms = [x * 1000 for x in latencies]
    label = f"{clients}" if raw else f"{clients}, httpx in this process"
    return label, rate, percentile(ms, 50), percentile(ms, 99), server_us


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
    args = parser.parse_args()
    print_header()
    fam = family(args.env)
    episodes = expert_episodes(fam.env_id, fam.splits.train, 40)
    reference = in_process_steps_per_s(fam.env_id, episodes, args.steps)
    process, url = start_server(args.env)
    try:
        rows = [http_row(process, url, fam, episodes, n, args.steps, raw=True) for n in args.clients]
        rows.append(http_row(process, url, fam, episodes, 8, args.steps, raw=False))
        rollouts = rollout_rows(url, args.episodes) if args.episodes and fam.name == "Maze" else []
    finally:
        process.terminate()
        process.wait(timeout=10)
    print(f"{fam.env_id}, expert actions replayed; in process: {reference:,.0f} steps/s (one env)\n")
    print("| clients | steps/s over HTTP | p50 ms | p99 ms | server CPU us/step | HTTP / in process |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, rate, p50, p99, server_us in rows:
        ratio = rate / reference
        print(f"| {label} | {rate:,.0f} | {p50:.2f} | {p99:.2f} | {server_us:.0f} | {ratio:.3f}x |")
    by_clients = {r[0]: r for r in rows}
    print()
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
