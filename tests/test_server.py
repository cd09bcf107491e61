"""The env server: AgentGym's protocol for every family, the /v1 API and RemoteEnv, load and faults.

Servers run on loopback only; every loop here is bounded in count and time.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import gymnasium as gym
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402
from test_agentgym_clients import MazeClient, ServerProcess, expert_episode, free_port, installed_ids  # noqa: E402

from agentgym_envs import family  # noqa: E402
from agentgym_envs.core import Outcome  # noqa: E402
from agentgym_envs.envs.maze import MazeEnv  # noqa: E402
from agentgym_envs.registration import register_family, unregister_family  # noqa: E402
from agentgym_envs.server import RemoteEnv, ServerGone  # noqa: E402
from agentgym_envs.server.app import create_app  # noqa: E402


@pytest.fixture(scope="module")
def server():
    running = ServerProcess(installed_ids(), "--capacity", "512")
    yield running
    running.stop()


def test_remote_env_keeps_the_contract(server):
    env = gym.make("AgentGym/Remote-v0", base_url=server.url, env="maze", split="test")
    local = gym.make("AgentGym/Maze-v0", split="test")
    obs, info = env.reset(options={"task_id": 3})
    assert (obs, info) == local.reset(options={"task_id": 3})
    assert env.unwrapped.expert() == local.unwrapped.expert()
    assert list(env.unwrapped.task_ids("test")) == list(local.unwrapped.task_ids("test"))
    assert obs in env.observation_space
    for action in ("move up", "jump", env.unwrapped.expert()[1]):
        assert env.step(action) == local.step(action)
    assert env.reset(seed=5)[1]["task_id"] in local.unwrapped.task_ids("test")
    env.close()
    assert httpx.get(f"{server.url}/health").json()["live"] >= 0


def test_remote_env_says_clearly_when_the_server_is_gone():
    with pytest.raises(ServerGone, match="no env server answers"):
        RemoteEnv(f"http://127.0.0.1:{free_port()}", env="maze", timeout=2)


# ------------------------------------------------------------------------------ load
def _one_shot_server(replies: list[bytes | None]) -> int:
    """A loopback server taking one connection per reply: it reads a request, then sends the
    reply or (None) closes the connection without a word, as a server that dropped it."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with listener:
            for reply in replies:
                connection, _ = listener.accept()
                with connection:
                    connection.recv(65536)
                    if reply is not None:
                        connection.sendall(reply)

    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1]


def test_a_dropped_connection_is_retried_once_then_the_server_is_gone():
    from agentgym_envs.server.client import Connection

    ok = b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{"id": 7}  '
    port = _one_shot_server([None, ok])
    connection = Connection(f"http://127.0.0.1:{port}", timeout=10)
    assert connection.request("POST", "/v1/envs", {"env_id": "maze"}) == (200, b'{"id": 7}  ')
    port = _one_shot_server([None, None])
    with pytest.raises(ServerGone, match="dropped the connection twice"):
        Connection(f"http://127.0.0.1:{port}", timeout=10).request("GET", "/v1/envs")
    with pytest.raises(ValueError, match="base_url"):
        Connection("127.0.0.1:36001")


def test_64_concurrent_sessions_have_no_errors_and_no_cross_talk(server):
    sessions, steps_each = 64, 200
    failures: list[str] = []

    def play(worker: int) -> None:
        task_ids = list(family("maze").splits.train)
        done_steps, episode = 0, 0
        with httpx.Client(timeout=60) as http:
            client = MazeClient(f"{server.url}/maze", http)
            while done_steps < steps_each:
                task_id = task_ids[(worker * 7 + episode) % len(task_ids)]
                expected = expert_episode("AgentGym/Maze-v0", task_id)
                client.reset(task_id)
                if client.observe() != client.prompt_from(expected.first, None):
                    failures.append(f"worker {worker}: first observation of task {task_id} differs")
                    return
                for step in expected.steps[: steps_each - done_steps]:
                    output = client.step(step.action)
                    if (output.state, output.done) != (step.observation, step.done):
                        failures.append(f"worker {worker}: task {task_id} diverged at {step.action!r}")
                        return
                    done_steps += 1
                episode += 1
            client.close()

    threads = [threading.Thread(target=play, args=(w,)) for w in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not any(t.is_alive() for t in threads), "a session hung"
    assert failures == []
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'agentgym_errors_total{status="5' not in metrics


# ------------------------------------------------------------------------------ faults
def test_create_close_cycles_free_their_memory(server):
    with httpx.Client(timeout=30, base_url=f"{server.url}/maze") as http:

        def cycles(n: int) -> None:
            for _ in range(n):
                env_id = http.post("/create").json()["id"]
                assert http.post("/close", json={"id": env_id}).status_code == 200

        cycles(500)  # warm up: allocator pools, first imports
        start = server.rss_kib()
        cycles(10_000)
        grown = server.rss_kib() - start
    assert grown < 20 * 1024, f"the server grew by {grown} KiB over 10,000 create/close cycles"


def test_ids_are_never_reused_and_closed_ids_are_404():
    with TestClient(create_app(["maze"])) as http:
        first = http.post("/create").json()["id"]
        assert http.post("/close", json={"id": first}).status_code == 200
        second = http.post("/create").json()["id"]
        assert second != first
        assert http.post("/step", json={"id": first, "action": "move up"}).status_code == 404
        assert http.post("/close", json={"id": first}).status_code == 404


def test_forgotten_envs_are_reaped_after_the_idle_timeout():
    with TestClient(create_app(["maze"], idle_timeout=0.2, reap_every=0.05)) as http:
        env_id = http.post("/create").json()["id"]
        assert http.post("/reset", json={"id": env_id, "game": 1}).status_code == 200
        time.sleep(1.0)
        assert http.post("/step", json={"id": env_id, "action": "move up"}).status_code == 404
        assert "agentgym_envs_reaped_total 1" in http.get("/metrics").text


def test_status_codes_say_what_went_wrong():
    with TestClient(create_app(["maze"], capacity=2, max_body_bytes=4096)) as http:
        a = http.post("/create").json()["id"]
        assert http.post("/step", json={"id": a, "action": "move up"}).status_code == 409  # before reset
        assert http.post("/reset", json={"id": a, "game": 10**9}).status_code == 422
        assert http.post("/reset", json={"id": a}).status_code == 200  # no task field: a seeded draw
        assert http.post("/step", json={"id": a}).status_code == 422  # no action
        assert http.post("/step", content=b"{not json").status_code == 422
        assert http.post("/step", json=[1, 2]).status_code == 422
        assert http.post("/step", json={"id": "x", "action": "move up"}).status_code == 422
        assert http.post("/step", json={"id": a, "action": "x" * 10_000}).status_code == 413
        chunked = http.post("/step", content=iter([b'{"id": 0, "action": "', b"y" * 8000, b'"}']))
        assert chunked.status_code == 413
        assert http.post("/create").status_code == 200
        full = http.post("/create")
        assert full.status_code == 503 and "maximum of 2" in full.json()["detail"]
        assert http.get("/v1/envs/999/expert").status_code == 404
        assert http.post("/v1/envs", json={"env_id": "wordle"}).status_code == 404  # not served here
        assert http.post("/v1/envs/999/step", json={"action": "move up"}).status_code == 404
        assert http.post(f"/v1/envs/{a}/step", json={"action": 3}).status_code == 422
        assert http.post(f"/v1/envs/{a}/reset", json={"task_id": "first"}).status_code == 422
        assert http.post(f"/v1/envs/{a}/reset", json={"task_id": 10**9}).status_code == 422
        assert http.post(f"/v1/envs/{a}/step", content=b"{not json").status_code == 422
        assert http.post(f"/v1/envs/{a}/reset", json={"task_id": "3"}).status_code == 200  # as pydantic
        assert http.post("/v1/envs/x/step", json={"action": "move up"}).status_code == 422  # FastAPI's


class FlakyMazeEnv(MazeEnv):
    """A maze whose engine dies on 'crash' (as a JVM can), and works again after a reset."""

    def _apply(self, action: str) -> Outcome:
        if action == "crash":
            raise RuntimeError("the engine process died")
        return super()._apply(action)


@contextlib.contextmanager
def flaky_maze() -> Iterator[str]:
    """FlakyMaze registered while the block runs; yields its name."""
    register_family(
        "FlakyMaze", f"{__name__}:FlakyMazeEnv", item_prefix="flaky", max_rounds=15, sizes=(2, 2, 2, 4)
    )  # fmt: skip
    try:
        yield "flakymaze"
    finally:
        unregister_family("FlakyMaze")


def test_an_engine_failure_is_a_500_with_a_message_and_reset_recovers():
    with flaky_maze() as name, TestClient(create_app([name])) as http:
        env_id = http.post("/create").json()["id"]
        http.post("/reset", json={"id": env_id, "data_idx": 0})
        crashed = http.post("/step", json={"id": env_id, "action": "crash"})
        assert crashed.status_code == 500 and "the engine process died" in crashed.json()["detail"]
        assert http.post("/reset", json={"id": env_id, "data_idx": 0}).status_code == 200
        assert http.post("/step", json={"id": env_id, "action": "move up"}).status_code == 200


def _kill_new_jvm(jar: str, before: set[int]) -> None:
    import signal

    from agentgym_envs.envs.jvm import java_pids

    (pid,) = set(java_pids(jar)) - before
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)


def test_a_killed_jvm_is_a_500_with_its_message_and_the_session_recovers_on_reset():
    fam = family("AgentGym/TWX-Coin-v0")
    if fam.missing_engine() is not None:
        pytest.skip(fam.missing_engine())
    from agentgym_envs.envs.jvm import java_pids
    from agentgym_envs.envs.twx import twx_constants

    jar = twx_constants.JAR_PATH
    running = ServerProcess(["AgentGym/TWX-Coin-v0"])
    try:
        with httpx.Client(base_url=running.url, timeout=60) as http:  # AgentGym's protocol
            before = set(java_pids(jar))
            env_id = http.post("/create").json()[fam.id_key]
            assert http.post("/reset", json={fam.id_key: env_id, fam.reset_field: 0}).status_code == 200
            _kill_new_jvm(jar, before)
            lost = http.post("/step", json={fam.id_key: env_id, "action": "look around"})
            assert lost.status_code == 500 and "lost its engine" in lost.json()["detail"]
            assert http.post("/step", json={fam.id_key: env_id, "action": "look around"}).status_code == 409
            assert http.post("/reset", json={fam.id_key: env_id, fam.reset_field: 0}).status_code == 200
            assert http.post("/step", json={fam.id_key: env_id, "action": "look around"}).status_code == 200
            http.post("/close", json={fam.id_key: env_id})
        env = gym.make("AgentGym/Remote-v0", base_url=running.url, env=fam.env_id)  # the /v1 API
        before = set(java_pids(jar))
        env.reset(options={"task_id": 0})
        _kill_new_jvm(jar, before)
        observation, reward, terminated, _, info = env.step("look around")  # as the local env ends it
        assert "was lost" in observation and terminated and reward == 0.0 and info["engine_lost"]
        assert env.reset(options={"task_id": 0})[0] and env.step("look around")[0].startswith("You are in")
        env.close()
    finally:
        running.stop()


def test_cheap_calls_run_inline_once_proved_and_a_slow_one_sends_them_to_threads_for_good():
    from agentgym_envs.server.service import CallTimer

    timer = CallTimer()
    for _ in range(CallTimer.PROVE - 1):
        timer.record(CallTimer.CHEAP_S / 10)
    assert not timer.inline  # not proved yet
    timer.record(CallTimer.CHEAP_S / 10)
    assert timer.inline
    for _ in range(CallTimer.PROVE):
        timer.record(CallTimer.CHEAP_S * 3)  # it got dearer on average: back to the threads
    assert not timer.inline
    for _ in range(4 * CallTimer.PROVE):
        timer.record(CallTimer.CHEAP_S / 10)
    assert timer.inline  # cheap again
    timer.record(CallTimer.SLOW_S * 2)
    for _ in range(4 * CallTimer.PROVE):
        timer.record(CallTimer.CHEAP_S / 10)
    assert not timer.inline  # once slow, never inline again


def test_a_blocking_step_does_not_stall_the_other_envs():
    """A step that blocks until released: if it ran on the event loop, no other request could be
    served until it gave up waiting, so the maze steps below prove it runs in a thread."""
    import asyncio

    release, released = threading.Event(), []

    class BlockingMazeEnv(MazeEnv):
        def _apply(self, action: str) -> Outcome:
            if action == "block":
                released.append(release.wait(timeout=10))
            return super()._apply(action)

    sys.modules[__name__].BlockingMazeEnv = BlockingMazeEnv
    entry_point = f"{__name__}:BlockingMazeEnv"
    register_family("BlockingMaze", entry_point, item_prefix="blocking", max_rounds=15, sizes=(2, 2, 2, 4))

    async def scenario() -> list[int]:
        transport = httpx.ASGITransport(create_app(["maze", "blockingmaze"]))
        async with httpx.AsyncClient(transport=transport, base_url="http://server") as http:
            maze = (await http.post("/maze/create")).json()["id"]
            blocking = (await http.post("/blockingmaze/create")).json()["id"]
            await http.post("/maze/reset", json={"id": maze, "game": 0})
            await http.post("/blockingmaze/reset", json={"id": blocking, "game": 0})
            blocked = asyncio.create_task(
                http.post("/blockingmaze/step", json={"id": blocking, "action": "block"})
            )
            statuses = [
                (await http.post("/maze/step", json={"id": maze, "action": "move up"})).status_code
                for _ in range(3)
            ]
            assert not blocked.done()
            release.set()
            statuses.append((await blocked).status_code)
            return statuses

    try:
        assert asyncio.run(asyncio.wait_for(scenario(), 30)) == [200] * 4
        assert released == [True]  # released by the test, not by its own timeout
    finally:
        unregister_family("BlockingMaze")


def test_a_server_beyond_loopback_needs_the_token():
    token = "s3cret-token"
    running = ServerProcess(["maze"], "--token", token, host="0.0.0.0")
    try:
        assert httpx.post(f"{running.url}/create").status_code == 401
        assert (
            httpx.post(f"{running.url}/create", headers={"Authorization": "Bearer wrong"}).status_code == 401
        )
        ok = httpx.post(f"{running.url}/create", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200
        assert httpx.get(f"{running.url}/health").status_code == 200
    finally:
        running.stop()
    no_token = {k: v for k, v in os.environ.items() if k != "AGENTGYM_SERVER_TOKEN"}
    command = [sys.executable, "-m", "agentgym_envs.server", "--host", "0.0.0.0", "--port", str(free_port())]
    refused = subprocess.run(command, capture_output=True, text=True, timeout=60, env=no_token)
    assert refused.returncode == 2 and "give a token" in refused.stderr


def test_health_metrics_and_openapi():
    with TestClient(create_app(["maze", "wordle"])) as http:
        assert http.get("/health").json()["envs"] == ["AgentGym/Maze-v0", "AgentGym/Wordle-v0"]
        env_id = http.post("/wordle/create").json()["id"]
        assert "aahed" in http.get("/wordle/filtered_vocab", params={"id": env_id}).json()
        http.post("/wordle/step", json={"id": 12345, "action": "x"})
        metrics = http.get("/metrics").text
        assert "agentgym_live_envs 1" in metrics and 'agentgym_errors_total{status="404"} 1' in metrics
        paths = http.get("/openapi.json").json()["paths"]
        assert {"/v1/envs", "/v1/envs/{env_id}/step", "/maze/step", "/wordle/reset"} <= set(paths)


def test_rollouts_over_the_server_equal_rollouts_in_process(server):
    from test_rollout import Scripted

    from agentgym_rl.rollout import RolloutConfig, make_jobs, rollout

    jobs = make_jobs(["maze"], range(6))
    in_process = rollout(Scripted(), jobs, RolloutConfig(concurrency=3), progress=False)
    over_http = rollout(Scripted(), jobs, RolloutConfig(concurrency=3, env_server=server.url), progress=False)
    assert over_http == in_process


def test_a_protocol_is_one_function_of_routes_and_its_typed_bodies_hold_on_the_fast_path(monkeypatch):
    """A route declaring a body model gets that model, validated, whichever path serves it; the
    same record puts it in the schema. Two protocols claiming one path fail at start."""
    from pydantic import BaseModel

    from agentgym_envs.server import app as server_app
    from agentgym_envs.server.routes import Route

    class Doubling(BaseModel):
        n: int

    async def double(call) -> dict:
        assert isinstance(call.body, Doubling)
        return {"twice": 2 * call.body.n, "env": call.path.get("env_id")}

    def echo_protocol(service) -> list[Route]:
        return [
            Route("POST", "/echo", double, body=Doubling),
            Route("POST", "/echo/{env_id}", double, body=Doubling),
        ]

    monkeypatch.setattr(server_app, "PROTOCOLS", (*server_app.PROTOCOLS, echo_protocol))
    app = create_app(["maze"])
    assert app.app.table.match("POST", "/echo/7")[1] == {"env_id": 7}  # served by the fast path
    with TestClient(app) as http:
        assert http.post("/echo", json={"n": 3}).json() == {"twice": 6, "env": None}
        assert http.post("/echo/7", json={"n": "4"}).json() == {"twice": 8, "env": 7}
        refused = http.post("/echo", json={"n": "three"})
        assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", "n"]
        assert http.post("/echo", content=b"[1]").status_code == 422
        schema = http.get("/openapi.json").json()["paths"]["/echo"]["post"]["requestBody"]
        assert "Doubling" in str(schema)
    monkeypatch.setattr(server_app, "PROTOCOLS", (*server_app.PROTOCOLS, echo_protocol))
    with pytest.raises(ValueError, match="two routes for POST /echo"):
        create_app(["maze"])
