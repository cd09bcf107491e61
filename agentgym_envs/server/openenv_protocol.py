"""OpenEnv's protocol (meta-pytorch/OpenEnv, the ``openenv`` package 0.10) for every served family,
so OpenEnv's clients, and the trainers built on them (TRL, verifiers, SkyRL, ...), play our envs.
``agentgym serve --openenv maze`` serves it (the ``openenv`` extra).

A family served alone sits at ``/``; with others, under ``/<name>/``: OpenEnv's clients put their
paths after the base URL, so ``GenericEnvClient(base_url="http://127.0.0.1:36001/maze")`` plays
Maze on a server of several families.

- ``/ws``: one WebSocket, one env of the session service (its capacity, idle reaping, lock and
  threads, as for AgentGym's routes), OpenEnv's stateful session. The client sends ``reset``
  (``task_id``, or ``split`` with ``index`` or ``seed``; ``episode_id``), ``step``
  (``{"action": "<one action as text>"}``), ``state`` and ``close``; the server answers OpenEnv's
  ``observation``, ``state`` and ``error`` frames. The action is a command (``move up``) or a
  reply in the instruction's ReAct format (its ``Action:`` line is the command). A step whose body
  is not that action is played as a malformed reply (the env explains what it expects, reward 0,
  the round counts), so a model whose replies do not parse cannot stall an episode.
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
wakes at most every 5 s, a thread per session) beside the service every protocol here shares.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Sequence
from typing import Any

import orjson
from fastapi import HTTPException, WebSocket, WebSocketDisconnect
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
from agentgym_envs.formats import ActionFormatError, MalformedAction, parse_react
from agentgym_envs.registration import Family
from agentgym_envs.server.routes import Call, Route
from agentgym_envs.server.service import EngineLostInStep, Service
from agentgym_envs.server.sessions import Session
from agentgym_envs.splits import SPLITS, normalise_split


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


def reset_payload(text: str, info: dict) -> dict[str, Any]:
    observation = AgentGymResetObservation(text=text, instruction=info["instruction"], **_info_fields(info))
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


def command_of(reply: str) -> str:
    """The env command in an action: a reply in the instruction's ReAct format (a client that sends
    the model's raw reply, as verifiers does) gives its ``Action:`` line; other text is the command."""
    try:
        return parse_react(reply)[1]
    except ActionFormatError:
        return reply


def task_spec(fam: Family, split: str, index: int) -> dict[str, Any]:
    task_id = fam.splits.ids(split)[index]
    return {"index": index, "task_id": task_id, "item_id": f"{fam.item_prefix}_{task_id}", "split": split}


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
    """One ``/ws`` connection: its env (a session of the service) and its episode's name and count."""

    def __init__(self, service: Service, fam: Family, session: Session):
        self.service, self.fam, self.session_id = service, fam, session.id
        self.episode_id: str | None = None
        self.step_count = 0
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
                return await self.reset(data or {})
            if kind == "state":
                return orjson.dumps({"type": "state", "data": self.state().model_dump()})
            if kind == "close":
                return None
        except HTTPException as error:
            self.service.metrics.error(error.status_code)
            self.gone = error.status_code == 404
            return error_frame(error.status_code, str(error.detail))
        except Exception as error:  # noqa: BLE001 - a bug of ours: still an answer, with its name
            self.service.metrics.error(500)
            return error_frame(500, f"{type(error).__name__}: {error}")
        return error_frame(
            422, f"unknown message type {kind!r}: reset, step, state or close", WSErrorCode.UNKNOWN_TYPE
        )

    async def reset(self, data: Any) -> bytes:
        session = self.service.session(self.session_id, self.fam)
        try:
            options = ResetOptions.model_validate(data)
            task_id, split = chosen_task(self.fam, options, session.env.unwrapped.split)
        except (ValidationError, ValueError) as error:
            raise HTTPException(422, f"reset takes {', '.join(ResetOptions.model_fields)}: {error}") from None
        observation, info = await self.service.reset(session, task_id=task_id, seed=options.seed, split=split)
        self.episode_id, self.step_count = options.episode_id or uuid.uuid4().hex, 0
        return orjson.dumps({"type": "observation", "data": reset_payload(observation, info)})

    async def step(self, data: Any) -> bytes:
        session = self.service.session(self.session_id, self.fam)
        try:
            action = command_of(AgentGymAction.model_validate(data).action)
        except ValidationError:
            reason = f'a step\'s body is {{"action": "<one action as text>"}}, got {str(data)[:200]!r}'
            action = MalformedAction(str(data), reason)
        try:
            result = await self.service.step(session, action)
        except EngineLostInStep as lost:  # the episode ends as in process, with the env's message
            keys = ("observation", "reward", "terminated", "truncated", "info")
            result = tuple(lost.result[key] for key in keys)
        self.step_count += 1
        return orjson.dumps({"type": "observation", "data": step_payload(*result)})

    def state(self) -> AgentGymState:
        session = self.service.session(self.session_id, self.fam)
        info = session.info
        return AgentGymState(
            episode_id=self.episode_id,
            step_count=self.step_count,
            env_id=self.fam.env_id,
            split=session.env.unwrapped.split,
            task_id=info.get("task_id"),
            item_id=info.get("item_id"),
            done=session.done,
            score=float(info.get("score", 0.0)),
            success=bool(info.get("success")),
        )


def websocket_route(service: Service, fam: Family):
    async def play(websocket: WebSocket) -> None:
        """One session: an env from the service for the connection's life."""
        await websocket.accept()
        try:
            session = await service.create(fam)
        except HTTPException as error:  # at capacity, or the engine did not start
            service.metrics.error(error.status_code)
            code = WSErrorCode.CAPACITY_REACHED if error.status_code == 503 else WSErrorCode.FACTORY_ERROR
            await websocket.send_text(error_frame(error.status_code, str(error.detail), code).decode())
            await websocket.close()
            return
        connection = Connection(service, fam, session)
        try:
            await converse(websocket, connection)
        except WebSocketDisconnect:  # the client went while it was answered
            pass
        finally:
            with contextlib.suppress(HTTPException):  # already reaped
                await service.close(session.id, fam)
            if websocket.client_state is not WebSocketState.DISCONNECTED:
                with contextlib.suppress(RuntimeError, WebSocketDisconnect):  # it went meanwhile
                    await websocket.close()

    return play


async def converse(websocket: WebSocket, connection: Connection) -> None:
    """Message after message until the client closes. A session the reaper closed answers once
    (the error says so) and the connection ends."""
    metrics = connection.service.metrics
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        started = time.perf_counter()
        try:
            frame = await connection.answer(orjson.loads(message.get("text") or message.get("bytes") or b""))
        except orjson.JSONDecodeError as error:
            frame = error_frame(422, f"invalid JSON: {error}", WSErrorCode.INVALID_JSON)
        if frame is None:
            return
        await websocket.send_text(frame.decode())
        metrics.observe_latency(time.perf_counter() - started)
        if connection.gone:
            return


# ------------------------------------------------------------------------------ routes
def routes(service: Service) -> list[Route]:
    families = list(service.families.values())
    table = [Route("GET", "/list_environments", _list_environments(families), tag="OpenEnv Task API")]
    for fam in families:
        prefix = "" if len(families) == 1 else f"/{fam.name.lower()}"
        table += family_routes(service, fam, prefix)
    return table


def _list_environments(families: list[Family]):
    async def list_environments(call: Call) -> list[str]:
        return [fam.name.lower() for fam in families]

    return list_environments


def family_routes(service: Service, fam: Family, prefix: str) -> list[Route]:
    """OpenEnv's routes for one family, and its Task API (always at ``/<name>/``, as OpenEnv's)."""
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
            return reset_payload(observation, info)
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
        Route("WS", f"{prefix}/ws", websocket_route(service, fam), tag=tag, summary="a session"),
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
