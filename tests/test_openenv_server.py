"""``agentgym serve --openenv``: OpenEnv's own clients (``openenv``'s ``GenericEnvClient`` and
``MCPToolClient``) and OpenEnv's own validator against the server, on loopback.

Every family's expert episode over ``/ws`` and through its MCP tools against the same episode in
process, 64 concurrent sessions, bad actions and bad tool calls, tool-call replies over ``/ws``,
MCP's sessions, the Task API, and the limits the server's other protocols have (capacity, idle
reaping, a failing or killed engine, the token), tested as tests/test_server.py tests them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import pytest

pytest.importorskip("openenv", reason="needs the openenv extra: pip install 'agentgym-gymnasium[openenv]'")
httpx = pytest.importorskip("httpx")
uvicorn = pytest.importorskip("uvicorn")

from fastapi import FastAPI, Request  # noqa: E402
from helpers import installed_or_skip  # noqa: E402
from openenv import GenericEnvClient  # noqa: E402
from openenv.core.mcp_client import MCPToolClient  # noqa: E402
from test_agentgym_clients import ServerProcess, free_port, installed_ids  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from agentgym_envs import env_ids, family  # noqa: E402
from agentgym_envs.formats import ToolCallFormat  # noqa: E402
from agentgym_envs.server.app import create_app  # noqa: E402
from agentgym_envs.toolcalls import toolset  # noqa: E402

MAZE = "AgentGym/Maze-v0"


@pytest.fixture(scope="module")
def server():
    """Every installed family in OpenEnv's protocol, each under /<name>/, started as users start it."""
    running = ServerProcess(installed_ids(), "--capacity", "512", flag="--openenv")
    yield running
    running.stop()


@contextlib.contextmanager
def serving(app, **config: Any) -> Iterator[str]:
    """``app`` on a loopback port in a thread of this process (for envs registered by a test)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", **config))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def client(base_url: str, **kwargs: Any):
    return GenericEnvClient(base_url=base_url, **kwargs).sync()


# ------------------------------------------------------------------------------ in process
@dataclass(frozen=True)
class Step:
    action: str
    seen: dict[str, Any]  # what an OpenEnv client should see after the action


def seen_in_process(text: str, reward: float | None, terminated: bool, truncated: bool, info: dict) -> dict:
    return {
        "text": text,
        "reward": reward,
        "done": terminated or truncated,
        "truncated": truncated,
        **{
            key: info[key]
            for key in ("available_actions", "task_id", "item_id", "success", "score", "subtask")
        },
    }


def seen_in_payload(payload: dict) -> dict:
    """What a step's serialised observation (a /ws frame's data, an MCP result's data) says."""
    fields = {k: v for k, v in payload["observation"].items() if k not in ("metadata", "instruction")}
    return {**fields, "reward": payload["reward"], "done": payload["done"]}


def seen_over_openenv(result) -> dict:
    observation = result.observation  # a dict (GenericEnvClient) or a pydantic model (MCPToolClient)
    if not isinstance(observation, dict):
        observation = observation.model_dump(exclude={"reward", "done"})
    return seen_in_payload({"observation": observation, "reward": result.reward, "done": result.done})


def expert_episode(env_id: str, task_id: int, max_steps: int = 100) -> tuple[dict, str, list[Step]]:
    """The expert's episode in process: (what reset shows, the instruction, the steps)."""
    env = gym.make(env_id)
    text, info = env.reset(options={"task_id": task_id})
    first = seen_in_process(text, None, False, False, info)
    steps = []
    for _ in range(max_steps):
        action = env.unwrapped.expert()[1]
        steps.append(Step(action, seen_in_process(*env.step(action))))
        if steps[-1].seen["done"]:
            break
    env.close()
    return first, info["instruction"], steps


# ------------------------------------------------------------------------------ episodes
@pytest.mark.parametrize("env_id", env_ids())
def test_openenv_client_plays_the_expert_episode_as_in_process(server, env_id):
    task_id = family(installed_or_skip(env_id)).splits.test[0]
    first, instruction, steps = expert_episode(env_id, task_id)
    with client(server.base(env_id)) as env:
        result = env.reset(task_id=task_id)
        assert seen_over_openenv(result) == first
        assert result.observation["instruction"] == instruction
        for step in steps:
            assert seen_over_openenv(env.step({"action": step.action})) == step.seen, step.action
        state = env.state()
        assert (state["task_id"], state["step_count"], state["done"]) == (task_id, len(steps), True)
        assert state["score"] == steps[-1].seen["score"] == sum(s.seen["reward"] for s in steps)


def test_64_concurrent_sessions_have_no_cross_talk(server):
    base = server.base(MAZE)
    task_ids = list(family(MAZE).splits.train)[:40]
    episodes = {task_id: expert_episode(MAZE, task_id) for task_id in task_ids}

    async def play(worker: int) -> list[str]:
        async with GenericEnvClient(base_url=base) as env:
            for episode in range(3):
                task_id = task_ids[(worker * 7 + episode) % len(task_ids)]
                first, _, steps = episodes[task_id]
                if seen_over_openenv(await env.reset(task_id=task_id)) != first:
                    return [f"worker {worker}: task {task_id} started elsewhere"]
                for step in steps:
                    if seen_over_openenv(await env.step({"action": step.action})) != step.seen:
                        return [f"worker {worker}: task {task_id} diverged at {step.action!r}"]
        return []

    async def all_workers() -> list[list[str]]:
        return await asyncio.wait_for(asyncio.gather(*(play(w) for w in range(64))), timeout=300)

    assert [f for failures in asyncio.run(all_workers()) for f in failures] == []
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'agentgym_errors_total{status="5' not in metrics


# ------------------------------------------------------------------------------ MCP
def rpc(method: str, **params: Any) -> dict:
    """A JSON-RPC request."""
    return {"jsonrpc": "2.0", "method": method, "params": params, "id": 1}


def post_rpc(base: str, method: str, **params: Any) -> dict:
    answer = httpx.post(f"{base}/mcp", json=rpc(method, **params))
    assert answer.status_code == 200 and answer.json()["jsonrpc"] == "2.0"
    return answer.json()


def exchange(socket, message: dict) -> dict:
    socket.send(json.dumps(message))
    return json.loads(socket.recv(timeout=30))


def mcp_message(socket, method: str, **params: Any) -> dict:
    """A JSON-RPC request as OpenEnv's ``mcp`` message on a /ws session; the JSON-RPC answer."""
    return exchange(socket, {"type": "mcp", "data": rpc(method, **params)})["data"]


def ws_url(base: str, path: str = "/ws") -> str:
    return base.replace("http://", "ws://") + path


def mcp_tools_of(env_id: str) -> list[dict]:
    return [
        {
            "name": t.name,
            "description": t.description,
            "inputSchema": t.json_schema()["function"]["parameters"],
        }
        for t in toolset(env_id)
    ]


@pytest.mark.parametrize("env_id", env_ids())
def test_openenvs_mcp_client_plays_the_expert_episode_through_the_familys_tools(server, env_id):
    from openenv.core.env_server.mcp_types import CallToolAction

    task_id = family(installed_or_skip(env_id)).splits.test[0]
    first, _, steps = expert_episode(env_id, task_id)
    tools = toolset(env_id)
    with MCPToolClient(base_url=server.base(env_id)).sync() as env:
        listed = [{"name": t.name, "description": t.description, "inputSchema": t.input_schema}
                  for t in env.list_tools()]  # fmt: skip
        assert listed == mcp_tools_of(env_id)
        assert seen_over_openenv(env.reset(task_id=task_id)) == first
        for number, step in enumerate(steps):
            name, arguments = tools.call_for(step.action)
            # OpenEnv's two ways to call a tool, turn about: call_tool (POST /mcp, the session's
            # episode) and step(CallToolAction) over /ws, which reports the reward. call_tool takes
            # the tool's name as its own first argument, so a tool argument called "name" needs step.
            if number % 2 or "name" in arguments:
                played = seen_over_openenv(env.step(CallToolAction(tool_name=name, arguments=arguments)))
            else:
                played = seen_in_payload(env.call_tool(name, **arguments))
            assert played == step.seen, step.action
        assert env.state().step_count == len(steps)


def test_a_bad_tool_call_is_an_error_result_the_env_explains_and_the_round_counts(server):
    local = gym.make(MAZE)
    local.reset(options={"task_id": 2})
    with connect(ws_url(server.base(MAZE))) as socket:
        exchange(socket, {"type": "reset", "data": {"task_id": 2}})
        listed = mcp_message(socket, "tools/list")
        assert listed == {"jsonrpc": "2.0", "id": 1, "result": {"tools": mcp_tools_of(MAZE)}}
        result = mcp_message(socket, "tools/call", name="move", arguments={"direction": "up"})["result"]
        assert seen_in_payload(result["data"]) == seen_in_process(*local.step("move up"))
        assert result["content"] == [{"type": "text", "text": result["data"]["observation"]["text"]}]
        assert result["is_error"] is False and result["structured_content"] == result["data"]
        for name, arguments, fault in (
            ("move", {"direction": "sideways"}, "is one of"),
            ("move", {"way": "up"}, "does not take the argument(s) way"),
            ("move", None, "missing the required argument 'direction'"),
            ("fly", {}, "there is no tool 'fly'"),
            (3, {}, "names its tool with a string"),
        ):
            result = mcp_message(socket, "tools/call", name=name, arguments=arguments)["result"]
            assert result["is_error"] is True, result
            text = result["content"][0]["text"]
            assert text.startswith("Invalid response format") and fault in text, text
            assert (result["data"]["reward"], result["data"]["done"]) == (0.0, False)
        state = exchange(socket, {"type": "state"})["data"]
        assert state["step_count"] == 6 and state["task_id"] == 2  # every call is a round
        for message, code in (
            (rpc("tools/call", arguments={}), -32602),  # no tool named
            (rpc("resources/list"), -32601),
            (rpc("openenv/session/close", session_id="nope"), -32602),
            ({"method": "tools/list"}, -32600),  # no "jsonrpc": "2.0"
        ):
            answer = exchange(socket, {"type": "mcp", "data": message})["data"]
            assert answer["error"]["code"] == code, message
        own = mcp_message(socket, "openenv/session/create")["result"]
        refused = mcp_message(socket, "openenv/session/close", **own)
        assert refused["error"]["code"] == -32600  # a /ws cannot close its own session by MCP
        assert exchange(socket, {"type": "mcp", "data": "tools/list"})["data"]["code"] == "VALIDATION_ERROR"
        # Another family's /mcp does not reach this session.
        other = next((i for i in installed_ids() if i != MAZE), None)
        if other is not None:
            lost = post_rpc(server.base(other), "tools/call", name="move", arguments={}, **own)
            assert lost["error"] == {"code": -32602, "message": f"Unknown session_id: {own['session_id']}",
                                     "data": None}  # fmt: skip


def live_envs(url: str) -> int:
    """The server's live envs, once those closing have gone (a /ws's session closes as it ends)."""
    deadline = time.monotonic() + 10
    while True:
        count = int(httpx.get(f"{url}/metrics").text.split("\nagentgym_live_envs ")[1].split()[0])
        if count == 0 or time.monotonic() > deadline:
            return count
        time.sleep(0.02)


def test_mcp_sessions_live_as_openenv_says_over_http_and_their_websockets():
    with serving(create_app(["maze"], protocol="openenv")) as url:
        # No session: tools/list needs none; a call needs an episode, so it says how to get one.
        assert post_rpc(url, "tools/list")["result"]["tools"] == mcp_tools_of(MAZE)
        assert "openenv/session/create" in post_rpc(url, "tools/call", name="move")["error"]["message"]
        assert post_rpc(url, "tools/list", session_id="nope")["error"]["code"] == -32602
        assert httpx.post(f"{url}/mcp", content=b"not json").json()["error"]["code"] == -32700
        assert httpx.post(f"{url}/mcp", json={}).json()["error"]["code"] == -32600  # what the validator sends
        name = post_rpc(url, "openenv/session/create")["result"]["session_id"]
        early = post_rpc(url, "tools/call", name="move", arguments={"direction": "up"}, session_id=name)
        assert early["error"]["data"] == {"status": 409} and "reset" in early["error"]["message"]
        with connect(ws_url(url, f"/ws?session_id={name}")) as socket:
            with connect(ws_url(url, f"/ws?session_id={name}")) as second:
                assert "already has an attached WebSocket" in second.recv(timeout=30)
            first = exchange(socket, {"type": "reset", "data": {"task_id": 5}})["data"]["observation"]
            assert first["task_id"] == 5
            played = post_rpc(url, "tools/call", name="move", arguments={"direction": "up"}, session_id=name)
            assert played["result"]["data"]["observation"]["task_id"] == 5
            assert exchange(socket, {"type": "state"})["data"]["step_count"] == 1  # one episode, two roads
            assert post_rpc(url, "openenv/session/close", session_id=name)["result"] == {
                "session_id": name, "closed": False, "closing": True}  # fmt: skip
            # It plays on till that /ws goes.
            assert exchange(socket, {"type": "state"})["data"]["task_id"] == 5
        assert live_envs(url) == 0  # closed once its /ws went
        assert post_rpc(url, "openenv/session/close", session_id=name)["error"]["code"] == -32602
        with connect(ws_url(url, "/ws?session_id=nope")) as socket:
            assert json.loads(socket.recv(timeout=30))["data"]["code"] == "SESSION_ERROR"
        unattached = post_rpc(url, "openenv/session/create")["result"]["session_id"]
        assert post_rpc(url, "openenv/session/close", session_id=unattached)["result"]["closed"] is True
        # An MCP WebSocket holds a session of its own, which a /ws can attach to for its resets.
        with connect(ws_url(url, "/mcp")) as rpc_socket:
            assert exchange(rpc_socket, rpc("tools/list"))["result"]["tools"] == mcp_tools_of(MAZE)
            own = exchange(rpc_socket, rpc("openenv/session/create"))["result"]["session_id"]
            with connect(ws_url(url, f"/ws?session_id={own}")) as socket:
                exchange(socket, {"type": "reset", "data": {"task_id": 7}})
            call = exchange(rpc_socket, rpc("tools/call", name="move", arguments={"direction": "left"}))
            assert call["result"]["data"]["observation"]["task_id"] == 7
            rpc_socket.send("{")
            assert json.loads(rpc_socket.recv(timeout=30))["error"]["code"] == -32700
        # OpenEnv's client closes the session it made when it is done.
        with MCPToolClient(base_url=url).sync() as env:
            env.reset(task_id=1)
            assert env.call_tool("move", direction="up")["observation"]["task_id"] == 1
        assert live_envs(url) == 0


def test_a_call_after_the_end_is_an_error_openenvs_client_raises():
    with serving(create_app(["maze"], protocol="openenv")) as url, MCPToolClient(base_url=url).sync() as env:
        env.reset(task_id=0)
        for step in expert_episode(MAZE, 0)[2]:
            name, arguments = toolset(MAZE).call_for(step.action)
            result = env.call_tool(name, **arguments)
        assert result["done"] is True and result["observation"]["success"] is True
        with pytest.raises(RuntimeError, match="this episode has ended"):
            env.call_tool("move", direction="up")


# ------------------------------------------------------------------------------ tool-call replies
@pytest.mark.parametrize("env_id", [MAZE, "AgentGym/TextCraft-v0"])
def test_a_session_reset_with_action_format_tools_reads_tool_call_replies(server, env_id):
    installed_or_skip(env_id)
    task_id = family(env_id).splits.test[1]
    first, instruction, steps = expert_episode(env_id, task_id)
    tools_format = ToolCallFormat()
    with client(server.base(env_id)) as env:
        result = env.reset(task_id=task_id, action_format="tools")
        assert seen_over_openenv(result) == first
        assert result.observation["instruction"] == tools_format.instruction(env_id, instruction)
        assert "<tool_call>" in result.observation["instruction"]
        for number, step in enumerate(steps):
            reply = tools_format.expert_reply(env_id, f"Step {number}.", step.action)
            assert seen_over_openenv(env.step({"action": reply})) == step.seen, reply
        assert env.state()["action_format"] == "tools"


def test_a_reply_without_one_good_tool_call_is_explained_and_the_next_reset_reads_commands_again(server):
    local = gym.make(MAZE)
    with client(server.base(MAZE)) as env:
        env.reset(task_id=4, action_format="tools")
        for reply, fault in (
            ("move up", "calls no tool"),  # a command is not a call in this format
            ("Thought:\nUp.\n\nAction:\nmove up", "calls no tool"),
            ('<tool_call>{"name": "move", "arguments": {"direction": "up"}}</tool_call>' * 2, "2 tool calls"),
            ('<tool_call>{"name": "move", "arguments": {"direction": "north"}}</tool_call>', "is one of"),
        ):
            result = env.step({"action": reply})
            text = result.observation["text"]
            assert text.startswith("Invalid response format") and fault in text, text
            assert (result.reward, result.done) == (0.0, False)
        instruction = local.reset(options={"task_id": 4})[1]["instruction"]
        assert env.reset(task_id=4).observation["instruction"] == instruction
        assert seen_over_openenv(env.step({"action": "move up"})) == seen_in_process(*local.step("move up"))
        assert env.state()["action_format"] == "react"
        with pytest.raises(RuntimeError, match="action_format"):
            env.reset(task_id=4, action_format="json")


# ------------------------------------------------------------------------------ bad input
def test_a_bad_action_gets_an_observation_that_explains_it(server):
    local = gym.make(MAZE)
    local.reset(options={"task_id": 2})
    with client(server.base(MAZE)) as env:
        env.reset(task_id=2)
        for action in ("jump", "move", "x" * 5000):  # an unknown command, a half one, one too long
            result = env.step({"action": action})
            assert seen_over_openenv(result) == seen_in_process(*local.step(action))
            assert result.observation["text"].startswith("Invalid action") and result.reward == 0.0
        # A reply in the instruction's ReAct format: its Action line is the command.
        react = env.step({"action": "Thought:\nUp is open.\n\nAction:\nmove up"})
        assert seen_over_openenv(react) == seen_in_process(*local.step("move up"))
        # A body that is not {"action": <text>}: the env explains, the round counts, no error.
        for body in ({"command": "move up"}, {"action": 3}, {"action": ["move up"]}):
            result = env.step(body)
            text = result.observation["text"]
            assert text.startswith("Invalid response format") and '{"action": ' in text, text
            assert (result.reward, result.done) == (0.0, False)
        assert env.state()["step_count"] == 7


def test_protocol_misuse_is_an_error_frame_that_says_what_to_do(server):
    with client(server.base(MAZE)) as env:
        with pytest.raises(RuntimeError, match="reset this env before stepping it"):
            env.step({"action": "move up"})
        with pytest.raises(RuntimeError, match="VALIDATION_ERROR"):
            env.reset(task_id=10**9)
        with pytest.raises(RuntimeError, match="reset takes task_id, split, index, seed, episode_id"):
            env.reset(game=3)
        with pytest.raises(RuntimeError, match="not in AgentGym/Maze-v0's test split"):
            env.reset(task_id=family(MAZE).splits.train[0], split="test")
        with pytest.raises(RuntimeError, match="unknown split"):
            env.reset(split="validation")
        env.reset(task_id=0)
        for step in expert_episode(MAZE, 0)[2]:
            env.step({"action": step.action})
        with pytest.raises(RuntimeError, match="this episode has ended"):
            env.step({"action": "move up"})
        assert env.reset(task_id=1).observation["task_id"] == 1  # the session goes on


def test_a_message_over_the_size_limit_closes_its_connection_and_nothing_else(server):
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    url = server.base(MAZE).replace("http://", "ws://") + "/ws"
    with connect(url, max_size=None) as socket:
        socket.send('{"type": "reset", "data": {"task_id": 1}}')
        assert '"task_id":1' in socket.recv(timeout=30)
        with pytest.raises(ConnectionClosed) as closed:
            socket.send('{"type": "step", "data": {"action": "' + "x" * (2 << 20) + '"}}')
            socket.recv(timeout=30)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009  # message too big
    with connect(url) as socket:
        socket.send("not json")
        assert '"code":"INVALID_JSON"' in socket.recv(timeout=30)
        socket.send('{"type": "dance"}')
        assert '"code":"UNKNOWN_TYPE"' in socket.recv(timeout=30)
    assert httpx.get(f"{server.url}/health").status_code == 200


# ------------------------------------------------------------------------------ routes
def test_task_api_lists_agentgyms_splits_and_reset_plays_the_task_it_names(server):
    fam = family(MAZE)
    base = server.base(MAZE)
    names = httpx.get(f"{server.url}/list_environments").json()
    assert names == [family(i).name.lower() for i in installed_ids()]
    splits = {s["name"]: s for s in httpx.get(f"{base}/splits").json()}
    assert {name: s["num_tasks"] for name, s in splits.items()} == {
        name: len(fam.splits.ids(name)) for name in splits
    }
    assert {"test", "train", "agenttraj", "agenttraj_l"} <= set(splits) and splits["test"]["type"] == "test"
    assert httpx.post(f"{base}/num_tasks", json={"split": "eval"}).json() == {
        "num_tasks": len(fam.splits.test)
    }
    task = httpx.post(f"{base}/task", json={"split": "test", "index": 2}).json()["task"]
    assert task == {"index": 2, "task_id": fam.splits.test[2], "item_id": f"lmrlgym_maze_{task['task_id']}",
                    "split": "test"}  # fmt: skip
    window = httpx.post(f"{base}/task_range", json={"split": "agenttraj", "start": 1, "stop": 4}).json()
    assert [t["task_id"] for t in window["tasks"]] == list(fam.splits.agenttraj[1:4])
    assert len(httpx.post(f"{base}/tasks", json={"split": "test"}).json()["tasks"]) == len(fam.splits.test)
    assert httpx.post(f"{base}/task", json={"split": "test", "index": 999}).status_code == 400
    assert httpx.post(f"{base}/tasks", json={"split": "nope"}).status_code == 422

    local = gym.make(MAZE, split="test")
    with client(base) as env:
        assert env.reset(split="test", index=2).observation["task_id"] == task["task_id"]
        assert env.reset(split="test", seed=5).observation["text"] == local.reset(seed=5)[0]
        assert env.state()["split"] == "test"


def test_http_routes_answer_as_openenv_defines_them(server):
    base = server.base(MAZE)
    first = httpx.post(f"{base}/reset", json={"task_id": 4}).json()
    assert first["observation"]["text"] == gym.make(MAZE).reset(options={"task_id": 4})[0]
    assert first["done"] is False
    refused = httpx.post(f"{base}/step", json={"action": {"action": "move up"}})
    assert refused.status_code == 409 and "/ws" in refused.json()["detail"]
    schema = httpx.get(f"{base}/schema").json()
    assert schema["action"]["required"] == ["action"] and schema["action"]["title"] == "AgentGymAction"
    assert {"text", "available_actions", "truncated", "item_id", "success", "score"} <= set(
        schema["observation"]["properties"]
    )
    assert "instruction" in schema["reset_observation"]["properties"]
    assert httpx.get(f"{base}/metadata").json()["name"] == MAZE
    assert httpx.get(f"{base}/state").json()["step_count"] == 0
    assert httpx.get(f"{base}/health").json() == {"status": "healthy"}
    assert httpx.get(f"{server.url}/metrics").text.count("agentgym_live_envs 0") == 1  # /reset's env freed


def test_openenvs_own_validator_passes_a_family_served_alone():
    from openenv.cli._validation import validate_running_environment

    with serving(create_app(["maze"], protocol="openenv")) as url:
        report = validate_running_environment(url)
        with client(url) as env:  # alone, the family sits at /
            assert env.reset(task_id=1).observation["task_id"] == 1
    assert [c["id"] for c in report["criteria"] if not c["passed"]] == [], report
    assert report["passed"] is True and report["mode"] == "simulation"
    assert {c["id"] for c in report["criteria"]} >= {"health_endpoint", "schema_endpoint", "mcp_endpoint"}


# ------------------------------------------------------------------------------ limits and faults
def test_capacity_is_the_servers_limit_on_sessions():
    with serving(create_app(["maze"], protocol="openenv", capacity=2)) as url:
        first, second = client(url), client(url)
        first.reset(task_id=0)
        second.reset(task_id=1)
        third = client(url)
        with pytest.raises(RuntimeError, match="CAPACITY_REACHED"):
            third.reset(task_id=2)
        assert httpx.post(f"{url}/reset", json={}).status_code == 503
        full = post_rpc(url, "openenv/session/create")["error"]
        assert (
            full["code"] == -32000 and full["data"] == {"status": 503} and "maximum of 2" in full["message"]
        )
        first.close()
        assert client(url).reset(task_id=2).observation["task_id"] == 2  # the freed slot serves again
        second.close()


def test_an_idle_session_is_reaped_and_the_client_is_told():
    with serving(create_app(["maze"], protocol="openenv", idle_timeout=0.2, reap_every=0.05)) as url:
        name = post_rpc(url, "openenv/session/create")["result"]["session_id"]
        with client(url) as env:
            env.reset(task_id=0)
            time.sleep(1.0)
            with pytest.raises(RuntimeError, match="idle too long"):
                env.step({"action": "move up"})
            assert "agentgym_envs_reaped_total 2" in httpx.get(f"{url}/metrics").text
            gone = post_rpc(url, "tools/call", name="move", arguments={"direction": "up"}, session_id=name)
            assert gone["error"]["message"] == f"Unknown session_id: {name}"
            assert env.reset(task_id=0).observation["task_id"] == 0  # the client reconnects: a new env


def test_a_failing_engine_is_an_error_frame_and_reset_recovers():
    from test_server import flaky_maze

    with flaky_maze() as name, serving(create_app([name], protocol="openenv")) as url, client(url) as env:
        env.reset(task_id=0)
        with pytest.raises(RuntimeError, match="the engine process died"):
            env.step({"action": "crash"})
        assert env.reset(task_id=0).observation["task_id"] == 0
        assert env.step({"action": "move up"}).observation["text"]


def test_a_killed_jvm_ends_the_episode_as_in_process_and_reset_recovers():
    fam = family("AgentGym/TWX-Coin-v0")
    if fam.missing_engine() is not None:
        pytest.skip(fam.missing_engine())
    from test_server import _kill_new_jvm

    from agentgym_envs.envs.jvm import java_pids
    from agentgym_envs.envs.twx import twx_constants

    jar = twx_constants.JAR_PATH
    with serving(create_app([fam.env_id], protocol="openenv")) as url, client(url) as env:
        before = set(java_pids(jar))
        env.reset(task_id=0)
        _kill_new_jvm(jar, before)
        lost = env.step({"action": "look around"})
        assert lost.done and lost.reward == 0.0 and "was lost" in lost.observation["text"]
        assert lost.metadata == {"engine_lost": True}
        with pytest.raises(RuntimeError, match="this episode has ended"):
            env.step({"action": "look around"})
        env.reset(task_id=0)
        assert env.step({"action": "look around"}).observation["text"].startswith("You are in")


def test_the_token_guards_the_websocket_too():
    with serving(create_app(["maze"], protocol="openenv", token="s3cret")) as url:
        with pytest.raises(ConnectionError, match="403"):
            client(url).reset(task_id=0)
        with client(url, headers={"Authorization": "Bearer s3cret"}) as env:
            assert env.reset(task_id=0).observation["task_id"] == 0
        assert httpx.post(f"{url}/mcp", json=rpc("tools/list")).status_code == 401
        with MCPToolClient(base_url=url, headers={"Authorization": "Bearer s3cret"}).sync() as env:
            env.reset(task_id=0)
            assert env.call_tool("move", direction="up")["observation"]["task_id"] == 0
        assert httpx.get(f"{url}/health").status_code == 200


def test_serve_flags_fail_in_one_line():
    for flags, message in (
        (["--env", "maze", "--openenv", "wordle"], "not both"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ):
        command = [sys.executable, "-m", "agentgym_envs.server", *flags]
        refused = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert refused.returncode == 2 and message in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr


# ------------------------------------------------------------------------------ verifiers
def scripted_chat_model(replies: list[str]):
    """An OpenAI-compatible chat endpoint whose n-th answer in a conversation is ``replies[n]``
    (a policy that plays a known episode), with the full ChatCompletion body verifiers validates."""
    app, asked = FastAPI(), []

    @app.post("/v1/chat/completions")
    async def complete(request: Request) -> dict:
        body = await request.json()
        asked.append(body["messages"])
        turn = sum(message["role"] == "assistant" for message in body["messages"])
        message = {"role": "assistant", "content": replies[min(turn, len(replies) - 1)]}
        return {
            "id": f"chat-{len(asked)}", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }  # fmt: skip

    return app, asked


def this_python_harness():
    """verifiers' null harness (a plain chat loop that executes nothing) whose program runs on this
    Python, which has the program's packages, instead of in a uv environment verifiers would
    build from PyPI: the one change that lets the taskset run offline."""
    import hashlib
    import types

    from verifiers.v1.harnesses.null.harness import NullHarness

    class ThisPython:
        def __init__(self, runtime):
            self.runtime = runtime

        def __getattr__(self, name: str):
            return getattr(self.runtime, name)

        async def prepare_uv_script(self, script, env=None, *, activate=True) -> list[str]:
            data = script.encode() if isinstance(script, str) else script
            path = f"{self.runtime.scripts_dir}/{hashlib.sha256(data).hexdigest()}.py"
            await self.runtime.write(path, data)
            return [sys.executable, path]

    class ThisPythonNullHarness(NullHarness):
        async def setup(self, runtime) -> None:
            pass

        async def launch(self, ctx, trace, runtime, *args, **kwargs):
            return await super().launch(ctx, trace, ThisPython(runtime), *args, **kwargs)

    module = types.ModuleType("agentgym_this_python_harness")
    module.ThisPythonNullHarness, module.__all__ = ThisPythonNullHarness, ["ThisPythonNullHarness"]
    return module


def test_verifiers_openenv_taskset_plays_a_maze_task_against_the_server(server, monkeypatch):
    pytest.importorskip("verifiers.v1.tasksets.openenv", reason="verifiers is not installed")
    import openai

    if int(openai.__version__.split(".")[0]) >= 3:
        pytest.skip(
            "verifiers 0.3's harness program gives AsyncOpenAI an httpx.Timeout, which openai 3 refuses"
        )
    import verifiers.v1 as vf
    from verifiers.v1.runtimes import SubprocessConfig
    from verifiers.v1.tasksets.openenv import OpenEnvConfig, OpenEnvEnv, OpenEnvEnvConfig

    harness = this_python_harness()
    monkeypatch.setitem(sys.modules, harness.__name__, harness)
    task_id = 9  # a short Maze test task: 4 expert moves
    _, instruction, steps = expert_episode(MAZE, task_id)
    app, asked = scripted_chat_model(
        [f"Thought:\nStep {i}.\n\nAction:\n{s.action}" for i, s in enumerate(steps)]
    )
    resets = [{"task_id": task_id, "split": "test"}]
    config = OpenEnvEnvConfig(
        taskset=OpenEnvConfig(id="openenv", base_url=server.base(MAZE), resets=resets),
        player=vf.AgentConfig(harness={"id": harness.__name__}, runtime=SubprocessConfig()),
    )
    env = OpenEnvEnv(config)
    (task,) = list(env.taskset)

    async def one_episode(api: str):
        context = vf.ModelContext(
            model="scripted", client=vf.EvalClientConfig(base_url=api, api_key_var="NO_KEY")
        )
        async with env.serving():
            return await asyncio.wait_for(env.run_episode(task, context), timeout=300)

    with serving(app) as api:
        episode = asyncio.run(one_episode(f"{api}/v1"))
    assert episode.ok, episode.errors
    (trace,) = episode.traces
    assert trace.rewards["openenv_reward"].score == steps[-1].seen["score"] == 1.0
    assert len(asked) == len(steps)
    first = next(m["content"] for m in asked[0] if m["role"] == "user")  # verifiers shows the reset
    assert json.loads(first)["observation"]["instruction"] == instruction
