"""OpenEnv's protocol (meta-pytorch/OpenEnv, the ``openenv`` package 0.10) for every served family,
so OpenEnv's clients, and the trainers built on them (TRL, verifiers, SkyRL, ...), play our envs.
``agentgym serve --openenv maze`` serves it (the ``openenv`` extra).

A family served alone sits at ``/``; with others, under ``/<name>/``: OpenEnv's clients put their
paths after the base URL, so ``GenericEnvClient(base_url="http://127.0.0.1:36001/maze")`` plays
Maze on a server of several families.

- ``/ws``: one WebSocket, one env of the session service (its capacity, idle reaping, lock and
  threads, as for AgentGym's routes), OpenEnv's stateful session. The client sends ``reset``
  (``task_id``, or ``split`` with ``index`` or ``seed``; ``episode_id``; ``action_format``),
  ``step`` (``{"action": "<one action as text>"}``), ``state``, ``mcp`` (a JSON-RPC request, played
  in this session) and ``close``; the server answers OpenEnv's ``observation``, ``state``, ``mcp``
  and ``error`` frames. The action is a command (``move up``) or a reply in the instruction's ReAct
  format (its ``Action:`` line is the command); after a reset with ``action_format="tools"`` it is a
  reply with one ``<tool_call>{json}</tool_call>`` (the instruction lists the tools instead). A step
  whose body is not that action is played as a malformed reply (the env explains what it expects,
  reward 0, the round counts), so a model whose replies do not parse cannot stall an episode.
- ``/mcp``: OpenEnv's MCP route (JSON-RPC 2.0 over ``POST``, or over a WebSocket holding its own
  session): ``tools/list`` (the family's tools, :func:`agentgym_envs.toolcalls.toolset`, each
  schema MCP's ``inputSchema``), ``tools/call`` (the call's env action, played in the session
  ``params.session_id`` names) and OpenEnv's ``openenv/session/create`` / ``close``. OpenEnv's
  ``MCPToolClient`` creates a session, attaches ``/ws?session_id=`` to it for ``reset`` and calls
  tools over ``POST /mcp`` (or steps OpenEnv's ``CallToolAction`` over ``/ws``, which reports the
  reward). A bad call (unknown tool, wrong arguments) is played as a malformed action: the result
  has ``is_error`` and the env's explanation, and the round counts, as in TRL.
- ``/reset`` answers a task's first observation. ``/step`` answers 409: OpenEnv's HTTP step makes
  a fresh env for each call, and an env here needs its episode (play over ``/ws``).
- ``/state``, ``/schema``, ``/metadata`` (and ``/health``, the server's own at ``/``).
- OpenEnv's Task API: ``/list_environments``, ``/<name>/splits``, ``/tasks``, ``/num_tasks``,
  ``/task``, ``/task_range``. The splits are AgentEval (``test``), the instruction set
  (``train``), AgentTraj and AgentTraj-L; a task is ``{index, task_id, item_id, split}``.

A killed engine ends the episode as it does in process (the env's observation says so;
``metadata.engine_lost``); an engine that fails is an ``error`` frame and a reset recovers.

The models are OpenEnv's ``Action``, ``Observation`` and ``State`` with our fields (OpenEnv's
``metadata`` is not where a consumer looks, so everything a policy needs is a field). The sessions
are not OpenEnv's ``HTTPEnvServer``: it keeps its own store (a second capacity, a reaper that
wakes at most every 5 s, a thread per session) beside the service every protocol here shares;
:class:`OpenEnvSessions` names the service's envs as OpenEnv names its sessions instead.
"""

from __future__ import annotations

import contextlib
import functools
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from fastapi import HTTPException, WebSocket, WebSocketDisconnect
from openenv.core.env_server.mcp_types import JsonRpcErrorCode, JsonRpcRequest, JsonRpcResponse
from openenv.core.env_server.serialization import serialize_observation
from openenv.core.env_server.types import (
    Action,
    EnvironmentMetadata,
    GetTaskRangeRequest,
    GetTaskRequest,
    ListTasksRequest,
    NumTasksRequest,
    Observation,
    SchemaResponse,
    State,
    WSErrorCode,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.websockets import WebSocketState

from agentgym_envs import __version__
from agentgym_envs.formats import ActionFormatError, MalformedAction, ToolCallFormat, parse_react
from agentgym_envs.registration import Family
from agentgym_envs.server.routes import Call, Route
from agentgym_envs.server.service import EngineLostInStep, Service
from agentgym_envs.server.sessions import Session, UnknownSession
from agentgym_envs.splits import SPLITS, normalise_split
from agentgym_envs.toolcalls import ToolCallError, toolset


# ------------------------------------------------------------------------------ models
class AgentGymAction(Action):
    """One action as text. Its one required string field lets a client (verifiers) send a model's
    raw reply as the action."""

    action: str = Field(description="one action in the env's grammar (see the instruction), e.g. 'move up'")


class AgentGymObservation(Observation):
    """What the env says after a step, with the env contract's info as fields."""

    text: str = Field(description="the observation")
    available_actions: list[str] | None = Field(None, description="the allowed actions, where finite")
    truncated: bool = Field(False, description="ended by the round limit (done is also true)")
    task_id: int | None = Field(None, description="the task (AgentGym item id <prefix>_<task_id>)")
    item_id: str | None = Field(None, description="AgentGym's item id of the task")
    success: bool = Field(False, description="the task is solved, by AgentGym's rule for the env")
    score: float = Field(0.0, description="the episode's score so far, in [0, 1]; rewards sum to it")
    subtask: str | None = Field(None, description="the kind of task, where the env has several")


class AgentGymResetObservation(AgentGymObservation):
    """The first observation, with the task's instruction (how to act and the action grammar)."""

    instruction: str = Field("", description="the task's system prompt: how to act, the action grammar")


class AgentGymState(State):
    """The session's episode: OpenEnv's episode_id and step_count, and where the task stands."""

    env_id: str = ""
    split: str = "train"
    task_id: int | None = None
    item_id: str | None = None
    done: bool = False
    score: float = 0.0
    success: bool = False
    action_format: str = "react"


class ResetOptions(BaseModel):
    """What a reset takes. ``task_id`` is exact; ``split`` with ``index`` is the Task API's choice;
    ``split`` with ``seed`` (or neither) draws from the split, as ``gym.make(..., split=).reset(seed=)``."""

    model_config = ConfigDict(extra="forbid")

    task_id: int | None = Field(
        None, ge=0, description="exactly this task (AgentGym item id <prefix>_<task_id>)"
    )
    split: str | None = Field(None, description="test (AgentEval), train, agenttraj or agenttraj_l")
    index: int | None = Field(None, ge=0, description="the index-th task of the split (the Task API's index)")
    seed: int | None = Field(None, ge=0, description="draws a task from the split")
    episode_id: str | None = Field(None, max_length=255, description="a name for the episode (else a uuid)")
    action_format: Literal["react", "tools"] = Field(
        "react",
        description="how this episode's step actions are read: react (a command, or a ReAct reply's "
        "Action line) or tools (a reply with one <tool_call>{json}</tool_call>; the instruction lists "
        "the tools)",
    )


SCHEMA = SchemaResponse(
    action=AgentGymAction.model_json_schema(),
    observation=AgentGymObservation.model_json_schema(),
    reset_observation=AgentGymResetObservation.model_json_schema(),
    state=AgentGymState.model_json_schema(),
)

# The Task API's splits: (name, OpenEnv's kind, what it is).
SPLIT_FACTS = {
    "test": ("test", "AgentEval: the tasks a model is evaluated on"),
    "train": ("train", "the instruction set, which AgentEvol and GRPO explore"),
    "agenttraj": ("train", "AgentTraj (BC-base): the first tasks of the instruction set, with expert data"),
    "agenttraj_l": ("train", "AgentTraj-L (BC-large): a longer prefix of the instruction set"),
    "heldout": (
        "validation",
        "generated tasks in no other split, for studies (where the env generates tasks)",
    ),
}
assert set(SPLIT_FACTS) == set(SPLITS), "describe every split for the Task API"


# ------------------------------------------------------------------------------ payloads
def step_payload(text: str, reward: float, terminated: bool, truncated: bool, info: dict) -> dict[str, Any]:
    """A step's observation as OpenEnv serialises it (``reward`` and ``done`` beside it)."""
    observation = AgentGymObservation(
        text=text, reward=reward, done=terminated or truncated, truncated=truncated, **_info_fields(info)
    )
    if info.get("engine_lost"):
        observation.metadata = {"engine_lost": True}
    return serialize_observation(observation)


def reset_payload(text: str, info: dict, env_id: str, action_format: str = "react") -> dict[str, Any]:
    instruction = info["instruction"]
    if action_format == "tools":  # the ReAct grammar swapped for the tools and how to call them
        instruction = TOOL_CALLS.instruction(env_id, instruction)
    observation = AgentGymResetObservation(text=text, instruction=instruction, **_info_fields(info))
    return serialize_observation(observation)


def _info_fields(info: dict) -> dict[str, Any]:
    return {
        "available_actions": info.get("available_actions"),
        "task_id": info.get("task_id"),
        "item_id": info.get("item_id"),
        "success": bool(info.get("success")),
        "score": float(info.get("score", 0.0)),
        "subtask": info.get("subtask"),
    }


def chosen_task(fam: Family, options: ResetOptions, current_split: str) -> tuple[int | None, str | None]:
    """(task id or None for a seeded draw, the split to draw from or None to keep the env's)."""
    split = None if options.split is None else normalise_split(options.split)
    if options.index is not None:
        if options.task_id is not None:
            raise ValueError("give task_id or index (with split), not both")
        ids = fam.splits.ids(split or current_split)
        if options.index >= len(ids):
            raise ValueError(
                f"the {split or current_split} split has {len(ids)} tasks; no index {options.index}"
            )
        return ids[options.index], split
    if options.task_id is not None and split is not None and options.task_id not in fam.splits.ids(split):
        raise ValueError(f"task {options.task_id} is not in {fam.env_id}'s {split} split")
    return options.task_id, split


TOOL_CALLS = ToolCallFormat()  # the <tool_call>{json}</tool_call> replies of action_format="tools"


def command_of(reply: str, env_id: str, action_format: str = "react") -> str:
    """The env command in an action. ``react``: a reply in the instruction's ReAct format (a client
    that sends the model's raw reply, as verifiers does) gives its ``Action:`` line; other text is
    the command. ``tools``: the reply's one tool call, as ``--action_format tools`` reads it (a reply
    without exactly one good call is a :class:`MalformedAction` the env explains)."""
    if action_format == "tools":
        return TOOL_CALLS.to_command(env_id, reply)
    try:
        return parse_react(reply)[1]
    except ActionFormatError:
        return reply


def task_spec(fam: Family, split: str, index: int) -> dict[str, Any]:
    task_id = fam.splits.ids(split)[index]
    return {"index": index, "task_id": task_id, "item_id": f"{fam.item_prefix}_{task_id}", "split": split}


# ------------------------------------------------------------------------------ sessions
@dataclass(eq=False)
class OpenEnvSession:
    """One env of the service as OpenEnv sees a session: named by a uuid (OpenEnv's session_id), with
    the episode's name, step count and action format, which its ``/ws`` and MCP calls share."""

    name: str
    fam: Family
    service_id: int  # the env's id in the service
    episode_id: str | None = None
    step_count: int = 0
    action_format: str = "react"
    attached: bool = False  # a /ws connection plays in it (one at a time)
    closing: bool = False  # openenv/session/close came while a /ws was attached: closed when it goes


class SessionUnavailable(LookupError):
    """A session_id that names no live session (never made, closed, reaped, or another family's),
    or, for a /ws, one that another /ws already plays in."""


class OpenEnvSessions:
    """The service's envs under OpenEnv's session ids, so an env made by ``openenv/session/create``
    (or by a ``/ws`` or ``/mcp`` WebSocket) is reachable from ``/ws?session_id=`` and from MCP
    requests, as in OpenEnv's server. Env work, limits and reaping stay the service's."""

    def __init__(self, service: Service):
        self.service = service
        self.by_name: dict[str, OpenEnvSession] = {}

    async def create(self, fam: Family) -> OpenEnvSession:
        self._forget_gone()
        session = await self.service.create(fam)
        record = OpenEnvSession(str(uuid.uuid4()), fam, session.id)
        self.by_name[record.name] = record
        return record

    def get(self, name: Any, fam: Family) -> OpenEnvSession:
        record = self.by_name.get(name) if isinstance(name, str) else None
        if record is None or record.fam is not fam or not self._alive(record):
            raise SessionUnavailable(f"Unknown session_id: {name}")
        return record

    def env(self, record: OpenEnvSession) -> Session:
        """The record's env (a 404 once the reaper has closed it)."""
        return self.service.session(record.service_id, record.fam)

    async def close(self, record: OpenEnvSession) -> None:
        self.by_name.pop(record.name, None)
        with contextlib.suppress(HTTPException):  # already reaped
            await self.service.close(record.service_id, record.fam)

    async def reset(self, record: OpenEnvSession, data: Any) -> dict[str, Any]:
        """Start the episode ``data`` (a reset's options) asks for; its first observation's payload."""
        session = self.env(record)
        try:
            options = ResetOptions.model_validate(data)
            task_id, split = chosen_task(record.fam, options, session.env.unwrapped.split)
        except (ValidationError, ValueError) as error:
            raise HTTPException(422, f"reset takes {', '.join(ResetOptions.model_fields)}: {error}") from None
        observation, info = await self.service.reset(session, task_id=task_id, seed=options.seed, split=split)
        record.episode_id, record.step_count = options.episode_id or uuid.uuid4().hex, 0
        record.action_format = options.action_format
        return reset_payload(observation, info, record.fam.env_id, options.action_format)

    async def step(self, record: OpenEnvSession, action: str) -> tuple[str, float, bool, bool, dict]:
        """One action in the record's episode: (observation, reward, terminated, truncated, info)."""
        try:
            result = await self.service.step(self.env(record), action)
        except EngineLostInStep as lost:  # the episode ends as in process, with the env's message
            result = tuple(
                lost.result[key] for key in ("observation", "reward", "terminated", "truncated", "info")
            )
        record.step_count += 1
        return result

    def state(self, record: OpenEnvSession) -> AgentGymState:
        session = self.env(record)
        info = session.info
        return AgentGymState(
            episode_id=record.episode_id,
            step_count=record.step_count,
            env_id=record.fam.env_id,
            split=session.env.unwrapped.split,
            task_id=info.get("task_id"),
            item_id=info.get("item_id"),
            done=session.done,
            score=float(info.get("score", 0.0)),
            success=bool(info.get("success")),
            action_format=record.action_format,
        )

    def _alive(self, record: OpenEnvSession) -> bool:
        try:
            self.service.store.get(record.service_id, record.fam)
        except UnknownSession:  # reaped after going idle
            self.by_name.pop(record.name, None)
            return False
        return True

    def _forget_gone(self) -> None:
        """Drop the names of envs the reaper closed, so the names cannot outgrow the live envs."""
        for record in list(self.by_name.values()):
            self._alive(record)


# ------------------------------------------------------------------------------ /ws
# The frame code for each status the HTTP protocols would answer.
ERROR_CODES = {
    404: WSErrorCode.SESSION_ERROR,  # the env was reaped after going idle
    409: WSErrorCode.EXECUTION_ERROR,  # a step before reset or after the end
    422: WSErrorCode.VALIDATION_ERROR,
    500: WSErrorCode.EXECUTION_ERROR,
    503: WSErrorCode.CAPACITY_REACHED,
}


def error_frame(status: int, message: str, code: WSErrorCode | None = None) -> bytes:
    code = code or ERROR_CODES.get(status, WSErrorCode.EXECUTION_ERROR)
    return orjson.dumps({"type": "error", "data": {"message": message, "code": code.value, "status": status}})


class Connection:
    """One ``/ws`` connection: the frames of OpenEnv's session protocol, played in its session."""

    def __init__(self, sessions: OpenEnvSessions, record: OpenEnvSession):
        self.sessions, self.record = sessions, record
        self.gone = False  # the reaper closed the env: the connection ends after saying so

    async def answer(self, message: Any) -> bytes | None:
        """The frame answering one message (None: the client closed the session). A failure the
        HTTP protocols answer with a status is an ``error`` frame carrying that status."""
        if not isinstance(message, dict):
            return error_frame(422, "a message is a JSON object with a 'type'", WSErrorCode.INVALID_JSON)
        kind, data = message.get("type"), message.get("data")
        try:
            if kind == "step":
                return await self.step(data)
            if kind == "reset":
                payload = await self.sessions.reset(self.record, data or {})
                return orjson.dumps({"type": "observation", "data": payload})
            if kind == "state":
                return orjson.dumps({"type": "state", "data": self.sessions.state(self.record).model_dump()})
            if kind == "mcp":
                return await self.mcp(data)
            if kind == "close":
                return None
        except HTTPException as error:
            self.sessions.service.metrics.error(error.status_code)
            self.gone = error.status_code == 404
            return error_frame(error.status_code, str(error.detail))
        except Exception as error:  # noqa: BLE001 - a bug of ours: still an answer, with its name
            self.sessions.service.metrics.error(500)
            return error_frame(500, f"{type(error).__name__}: {error}")
        return error_frame(
            422, f"unknown message type {kind!r}: reset, step, state, mcp or close", WSErrorCode.UNKNOWN_TYPE
        )

    async def step(self, data: Any) -> bytes:
        if isinstance(data, dict) and data.get("type") in ("call_tool", "list_tools"):
            return await self.mcp_step(data)
        try:
            reply = AgentGymAction.model_validate(data).action
            action = command_of(reply, self.record.fam.env_id, self.record.action_format)
        except ValidationError:
            reason = f'a step\'s body is {{"action": "<one action as text>"}}, got {str(data)[:200]!r}'
            action = MalformedAction(str(data), reason)
        result = await self.sessions.step(self.record, action)
        return orjson.dumps({"type": "observation", "data": step_payload(*result)})

    async def mcp_step(self, data: dict) -> bytes:
        """OpenEnv's MCP actions as a step (``MCPToolClient.step(CallToolAction(...))``, which reports
        the reward and the end): a call plays its env action, a bad one played as over ``/mcp``;
        ``list_tools`` answers OpenEnv's tool list and plays nothing."""
        env_id = self.record.fam.env_id
        if data["type"] == "list_tools":  # OpenEnv's Tool model, as its ListToolsObservation has it
            tools = [
                {"name": t["name"], "description": t["description"], "input_schema": t["inputSchema"]}
                for t in mcp_tools(env_id)
            ]
            done = self.sessions.env(self.record).done
            listing = {"observation": {"tools": tools}, "reward": None, "done": done}
            return orjson.dumps({"type": "observation", "data": listing})
        action, _ = tool_action(env_id, data.get("tool_name"), data.get("arguments"))
        result = await self.sessions.step(self.record, action)
        return orjson.dumps({"type": "observation", "data": step_payload(*result)})

    async def mcp(self, data: Any) -> bytes:
        """A JSON-RPC request in this session (OpenEnv's ``mcp`` message)."""
        if not isinstance(data, dict):
            return error_frame(422, "an mcp message's data is a JSON-RPC request object")
        reply = await answer_rpc(self.sessions, self.record.fam, data, bound=self.record)
        return orjson.dumps({"type": "mcp", "data": reply})

    def invalid_json(self, error: Exception) -> bytes:
        return error_frame(422, f"invalid JSON: {error}", WSErrorCode.INVALID_JSON)


def websocket_route(sessions: OpenEnvSessions, fam: Family):
    async def play(websocket: WebSocket) -> None:
        """One session: a new env for the connection's life, or (``?session_id=``, as OpenEnv's
        MCPToolClient connects) the named session, which outlives the connection."""
        await websocket.accept()
        name = websocket.query_params.get("session_id")
        try:
            record = attach(sessions, name, fam) if name else await sessions.create(fam)
        except HTTPException as error:  # at capacity, or the engine did not start
            sessions.service.metrics.error(error.status_code)
            code = WSErrorCode.CAPACITY_REACHED if error.status_code == 503 else WSErrorCode.FACTORY_ERROR
            await refuse(websocket, error_frame(error.status_code, str(error.detail), code))
            return
        except SessionUnavailable as error:
            await refuse(websocket, error_frame(404, str(error), WSErrorCode.SESSION_ERROR))
            return
        record.attached = True
        try:
            await converse(websocket, Connection(sessions, record))
        finally:
            record.attached = False
            if not name or record.closing:
                await sessions.close(record)
            await close_quietly(websocket)

    return play


def attach(sessions: OpenEnvSessions, name: str, fam: Family) -> OpenEnvSession:
    record = sessions.get(name, fam)
    if record.attached:
        raise SessionUnavailable(f"Session {name} already has an attached WebSocket")
    return record


async def refuse(websocket: WebSocket, frame: bytes) -> None:
    await websocket.send_text(frame.decode())
    await websocket.close()


async def close_quietly(websocket: WebSocket) -> None:
    if websocket.client_state is not WebSocketState.DISCONNECTED:
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):  # it went meanwhile
            await websocket.close()


async def converse(websocket: WebSocket, connection: Connection | RpcConnection) -> None:
    """Message after message until the client closes. A session the reaper closed answers once
    (the error says so) and the connection ends."""
    metrics = connection.sessions.service.metrics
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            started = time.perf_counter()
            try:
                text = message.get("text") or message.get("bytes") or b""
                frame = await connection.answer(orjson.loads(text))
            except orjson.JSONDecodeError as error:
                frame = connection.invalid_json(error)
            if frame is None:
                return
            await websocket.send_text(frame.decode())
            metrics.observe_latency(time.perf_counter() - started)
            if connection.gone:
                return
    except WebSocketDisconnect:  # the client went while it was answered
        pass


# ------------------------------------------------------------------------------ MCP
class RpcError(Exception):
    """A JSON-RPC error answer: its code, message and data."""

    def __init__(self, code: JsonRpcErrorCode, message: str, data: Any = None):
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


def rpc_error(code: JsonRpcErrorCode, message: str, request_id: Any = None, data: Any = None) -> dict:
    return JsonRpcResponse.error_response(code, message, data, request_id).model_dump()


@functools.cache
def mcp_tools(env_id: str) -> list[dict[str, Any]]:
    """The family's tools as MCP lists them."""
    return [
        {
            "name": tool.name,
            "description": tool.description,
            "inputSchema": tool.json_schema()["function"]["parameters"],
        }
        for tool in toolset(env_id)
    ]


async def answer_rpc(
    sessions: OpenEnvSessions, fam: Family, message: Any, bound: OpenEnvSession | None = None
) -> dict[str, Any]:
    """The JSON-RPC response to one request, as OpenEnv's server answers ``/mcp``. ``bound``: the
    session of the WebSocket it came on; else the session ``params.session_id`` names, if any. A
    failure is an error answer (the HTTP protocols' status in its ``data``), never an exception."""
    try:
        request = JsonRpcRequest.model_validate(message)
    except ValidationError as error:
        return rpc_error(JsonRpcErrorCode.INVALID_REQUEST, f"Invalid request: {error}")
    method, params = request.method, request.params
    try:
        if method == "openenv/session/create":
            result = {"session_id": (bound or await sessions.create(fam)).name}
        elif method == "openenv/session/close":
            result = await close_session(sessions, fam, params.get("session_id"), bound)
        else:
            named = params.get("session_id")
            record = bound or (sessions.get(named, fam) if named else None)
            if method == "tools/list":
                result = {"tools": mcp_tools(fam.env_id)}
            elif method == "tools/call":
                result = await call_tool(sessions, record, params)
            else:
                raise RpcError(JsonRpcErrorCode.METHOD_NOT_FOUND, f"Method not found: {method}")
    except RpcError as error:
        return rpc_error(error.code, error.message, request.id, error.data)
    except SessionUnavailable as error:
        return rpc_error(JsonRpcErrorCode.INVALID_PARAMS, str(error), request.id)
    except HTTPException as error:
        sessions.service.metrics.error(error.status_code)
        code = JsonRpcErrorCode.INTERNAL_ERROR if error.status_code == 500 else JsonRpcErrorCode.SERVER_ERROR
        return rpc_error(code, str(error.detail), request.id, {"status": error.status_code})
    except Exception as error:  # noqa: BLE001 - a bug of ours: still an answer, with its name
        sessions.service.metrics.error(500)
        return rpc_error(JsonRpcErrorCode.INTERNAL_ERROR, f"{type(error).__name__}: {error}", request.id)
    return JsonRpcResponse.success(result, request.id).model_dump()


async def close_session(
    sessions: OpenEnvSessions, fam: Family, name: Any, bound: OpenEnvSession | None
) -> dict[str, Any]:
    """``openenv/session/close``: at once, or (a ``/ws`` plays in it) when that connection ends."""
    if not name:
        raise RpcError(JsonRpcErrorCode.INVALID_PARAMS, "Invalid params - 'session_id' is required")
    if bound is not None and name == bound.name:
        raise RpcError(
            JsonRpcErrorCode.INVALID_REQUEST, "Cannot close active WebSocket-managed session via MCP method"
        )
    record = sessions.get(name, fam)
    if record.attached:
        record.closing = True
        return {"session_id": name, "closed": False, "closing": True}
    await sessions.close(record)
    return {"session_id": name, "closed": True}


async def call_tool(sessions: OpenEnvSessions, record: OpenEnvSession | None, params: dict) -> dict[str, Any]:
    """``tools/call``: the call's env action, played in the session's episode. A call that names no
    tool of the env, or whose arguments do not fit, is played as a malformed action (the env says
    what was wrong, the round counts, as for a TRL env's bad call): a result with ``is_error``."""
    name = params.get("name")
    if not name:
        raise RpcError(JsonRpcErrorCode.INVALID_PARAMS, "Missing 'name' in params")
    if record is None:  # OpenEnv would call the tool on a fresh env, which here has no episode yet
        raise RpcError(
            JsonRpcErrorCode.INVALID_PARAMS,
            "tools/call plays in a session's episode: create one (openenv/session/create, as OpenEnv's "
            "MCPToolClient does), reset it over /ws?session_id=<it>, and give params.session_id "
            "(or send mcp messages on a /ws session)",
        )
    action, failed = tool_action(record.fam.env_id, name, params.get("arguments"))
    text, reward, terminated, truncated, info = await sessions.step(record, action)
    payload = step_payload(text, reward, terminated, truncated, info)
    # The shape OpenEnv's server gives a FastMCP tool's result; ``data`` is what MCPToolClient returns.
    return {
        "content": [{"type": "text", "text": text}],
        "structured_content": payload,
        "meta": None,
        "data": payload,
        "is_error": failed or bool(info.get("engine_lost")),
    }


def tool_action(env_id: str, name: Any, arguments: Any) -> tuple[str, bool]:
    """(the env action a tool call stands for, whether the call was bad): a bad call is a
    :class:`MalformedAction` whose reason the env explains."""
    try:
        return toolset(env_id).action(name, arguments), False
    except ToolCallError as error:
        return MalformedAction("", str(error)), True


class RpcConnection:
    """One ``/mcp`` WebSocket: JSON-RPC requests in a session of its own (OpenEnv's), closed with it."""

    def __init__(self, sessions: OpenEnvSessions, record: OpenEnvSession):
        self.sessions, self.record = sessions, record
        self.gone = False

    async def answer(self, message: Any) -> bytes:
        return orjson.dumps(await answer_rpc(self.sessions, self.record.fam, message, bound=self.record))

    def invalid_json(self, error: Exception) -> bytes:
        return orjson.dumps(rpc_error(JsonRpcErrorCode.PARSE_ERROR, f"Parse error: {error}"))


def mcp_websocket_route(sessions: OpenEnvSessions, fam: Family):
    async def serve_rpc(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            record = await sessions.create(fam)
        except HTTPException as error:
            sessions.service.metrics.error(error.status_code)
            refusal = rpc_error(
                JsonRpcErrorCode.SERVER_ERROR, str(error.detail), data={"status": error.status_code}
            )
            await refuse(websocket, orjson.dumps(refusal))
            return
        try:
            await converse(websocket, RpcConnection(sessions, record))
        finally:
            await sessions.close(record)
            await close_quietly(websocket)

    return serve_rpc


def http_mcp_route(sessions: OpenEnvSessions, fam: Family):
    async def mcp(call: Call) -> dict[str, Any]:
        try:
            message = orjson.loads(call.body)
        except orjson.JSONDecodeError:
            return rpc_error(JsonRpcErrorCode.PARSE_ERROR, "Parse error")
        return await answer_rpc(sessions, fam, message)

    return mcp


# ------------------------------------------------------------------------------ routes
def routes(service: Service) -> list[Route]:
    families = list(service.families.values())
    sessions = OpenEnvSessions(service)
    table = [Route("GET", "/list_environments", _list_environments(families), tag="OpenEnv Task API")]
    for fam in families:
        prefix = "" if len(families) == 1 else f"/{fam.name.lower()}"
        table += family_routes(sessions, fam, prefix)
    return table


def _list_environments(families: list[Family]):
    async def list_environments(call: Call) -> list[str]:
        return [fam.name.lower() for fam in families]

    return list_environments


def family_routes(sessions: OpenEnvSessions, fam: Family, prefix: str) -> list[Route]:
    """OpenEnv's routes for one family, and its Task API (always at ``/<name>/``, as OpenEnv's)."""
    service = sessions.service
    metadata = EnvironmentMetadata(
        name=fam.env_id, description=fam.summary or f"AgentGym's {fam.name} tasks", version=__version__
    )

    async def reset(call: Call) -> dict[str, Any]:
        session = await service.create(fam)
        try:
            try:
                task_id, split = chosen_task(fam, call.body, session.env.unwrapped.split)
            except ValueError as error:
                raise HTTPException(422, str(error)) from None
            observation, info = await service.reset(
                session, task_id=task_id, seed=call.body.seed, split=split
            )
            return reset_payload(observation, info, fam.env_id, call.body.action_format)
        finally:
            await service.close(session.id, fam)

    async def step(call: Call) -> None:
        raise HTTPException(
            409,
            "OpenEnv's HTTP /step gets a fresh env for each call, and an env here needs its episode: "
            f"play over the WebSocket {prefix}/ws (OpenEnv's GenericEnvClient does)",
        )

    async def state(call: Call) -> AgentGymState:
        return AgentGymState(env_id=fam.env_id)  # a fresh env's: episodes live on /ws

    async def schema(call: Call) -> SchemaResponse:
        return SCHEMA

    async def describe(call: Call) -> EnvironmentMetadata:
        return metadata

    async def health(call: Call) -> dict[str, str]:
        return {"status": "healthy"}

    tag = f"OpenEnv: {fam.name}"
    table = [
        Route("WS", f"{prefix}/ws", websocket_route(sessions, fam), tag=tag, summary="a session"),
        Route(
            "POST",
            f"{prefix}/mcp",
            http_mcp_route(sessions, fam),
            body=bytes,
            reply=dict[str, Any],
            tag=tag,
            summary="MCP JSON-RPC 2.0: tools/list, tools/call, openenv/session/create and close",
        ),
        Route("WS", f"{prefix}/mcp", mcp_websocket_route(sessions, fam), tag=tag, summary="MCP JSON-RPC"),
        Route(
            "POST", f"{prefix}/reset", reset, body=ResetOptions, tag=tag, summary="a task's first observation"
        ),
        Route("POST", f"{prefix}/step", step, tag=tag, summary="409: episodes run over /ws"),
        Route("GET", f"{prefix}/state", state, reply=AgentGymState, tag=tag),
        Route("GET", f"{prefix}/schema", schema, reply=SchemaResponse, tag=tag),
        Route("GET", f"{prefix}/metadata", describe, reply=EnvironmentMetadata, tag=tag),
    ]
    if prefix:  # at / the server's own /health answers
        table.append(Route("GET", f"{prefix}/health", health, tag=tag))
    return table + task_routes(fam)


def task_routes(fam: Family) -> list[Route]:
    """OpenEnv's Task API for one family."""
    name = fam.name.lower()

    def split_ids(split: str) -> tuple[str, Sequence[int]]:
        try:
            split = normalise_split(split)
        except ValueError as error:
            raise HTTPException(422, str(error)) from None
        return split, fam.splits.ids(split)

    async def splits(call: Call) -> list[dict[str, Any]]:
        sizes = {split: len(fam.splits.ids(split)) for split in SPLITS}
        return [
            {"name": split, "type": kind, "description": text, "num_tasks": sizes[split]}
            for split, (kind, text) in SPLIT_FACTS.items()
            if sizes[split]
        ]

    async def tasks(call: Call) -> dict[str, Any]:
        split, ids = split_ids(call.body.split)
        return {"tasks": [task_spec(fam, split, i) for i in range(len(ids))], "env_name": name}

    async def num_tasks(call: Call) -> dict[str, int]:
        return {"num_tasks": len(split_ids(call.body.split)[1])}

    async def task(call: Call) -> dict[str, Any]:
        split, ids = split_ids(call.body.split)
        if not 0 <= call.body.index < len(ids):
            raise HTTPException(400, "Invalid task index")  # OpenEnv's answer
        return {"task": task_spec(fam, split, call.body.index)}

    async def task_range(call: Call) -> dict[str, Any]:
        split, ids = split_ids(call.body.split)
        return {
            "tasks": [task_spec(fam, split, i) for i in range(len(ids))[call.body.start : call.body.stop]]
        }

    tag = "OpenEnv Task API"
    return [
        Route("GET", f"/{name}/splits", splits, tag=tag, summary=f"{fam.env_id}'s splits"),
        Route("POST", f"/{name}/tasks", tasks, body=ListTasksRequest, tag=tag),
        Route("POST", f"/{name}/num_tasks", num_tasks, body=NumTasksRequest, tag=tag),
        Route("POST", f"/{name}/task", task, body=GetTaskRequest, tag=tag),
        Route("POST", f"/{name}/task_range", task_range, body=GetTaskRangeRequest, tag=tag),
    ]
