"""The env server: AgentGym's HTTP protocol for every registered family, and a clean ``/v1`` API.

``create_app(["maze", "wordle"])`` serves each family under its own prefix (``/maze/create``,
``/wordle/step``, ... as AgentGym's multi-family servers do); a family served alone sits at ``/``.
What differs between AgentGym's families (the env id key, the task field of ``/reset``, the shape
``/create`` answers with, the scale of ``score``) is read from the family's registration, so a new
family is served with no server code of its own. Every response carries the keys any of
AgentGym's clients reads (``observation`` and ``state``, ``reward``, ``score``, ``done``,
``available_actions``), so each client finds what it expects.

Where AgentGym's servers answer 200 with an ``error`` field, this one uses real status codes: 404
unknown env id, 409 a step before reset or after the end, 413 a body over the size limit, 422 a
malformed body, 401 a missing or wrong bearer token, 503 at capacity, 500 with a message when an
engine fails. ``/health`` and ``/metrics`` (Prometheus text) sit beside both APIs.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import math
import time
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import orjson
from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from agentgym_envs.registration import Family, family, require_engine
from agentgym_envs.server.sessions import AtCapacity, Metrics, Session, SessionStore, UnknownSession

ORJSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
DEFAULT_MAX_BODY = 1 << 20  # 1 MiB: far above any real action, far below what hurts the server


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
            env = await run_in_threadpool(gym.make, fam.env_id, split=split)
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

    async def reset(self, session: Session, task_id: int | None = None, seed: int | None = None):
        options = None if task_id is None else {"task_id": task_id}
        async with session.lock:
            try:
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

    Handing a call to a worker thread and back costs more than a whole step of a cheap env: a
    Maze step takes ~40 us, the hop with its two thread wake-ups ~80 us of CPU (1.4x the server's
    CPU per Maze request in all) and a wait for the loop. But a call that blocks (a JVM step, a
    planner, a long SQL query) must not run on the loop, where it would stall every other env.
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


def jsonable(value: Any) -> Any:
    """Info dicts as JSON: numpy scalars and arrays become numbers and lists, NaN becomes null,
    anything else unknown its text."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


# ------------------------------------------------------------------------------ AgentGym's protocol
def _int_field(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        raise HTTPException(422, f"the body needs an integer {key!r}, got {value!r}")
    return value


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = orjson.loads(raw)
    except ValueError:  # orjson's JSONDecodeError is one
        raise HTTPException(422, "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise HTTPException(422, "the body must be a JSON object")
    return data


def _query_id(request: Request, fam: Family) -> int:
    return _int_field(dict(request.query_params), fam.id_key)


def _agentgym_state(fam: Family, observation: str, reward: float, done: bool, info: dict) -> dict[str, Any]:
    """Every key any AgentGym client reads after a reset or a step."""
    return {
        "observation": observation,
        "state": observation,
        "reward": reward,
        "score": info.get("score", 0.0) * fam.score_scale,
        "done": done,
        "available_actions": info.get("available_actions"),
        "task_description": "",
        "info": info,  # send_json makes it JSON as jsonable() would
    }


def agentgym_router(service: Service, fam: Family, prefix: str) -> APIRouter:
    """AgentGym's routes for one family (create, reset, step, observation, available_actions,
    close, and filtered_vocab where the env has a vocabulary)."""
    router = APIRouter(prefix=prefix, tags=[f"AgentGym protocol: {fam.name}"])

    @router.post("/create")
    async def create(request: Request):
        await _json_body(request)  # the tool clients send {"id": 0}; TextCraft may send commands
        session = await service.create(fam)
        return session.id if fam.create_reply == "int" else {fam.id_key: session.id}

    @router.post("/reset")
    async def reset(request: Request):
        data = await _json_body(request)
        session = service.session(_int_field(data, fam.id_key), fam)
        task = data.get(fam.reset_field)
        task_id = None if task is None else _int_field(data, fam.reset_field)
        observation, info = await service.reset(session, task_id=task_id)
        return _agentgym_state(fam, observation, 0.0, False, info)

    @router.post("/step")
    async def step(request: Request):
        data = await _json_body(request)
        session = service.session(_int_field(data, fam.id_key), fam)
        if not isinstance(data.get("action"), str):
            raise HTTPException(422, "the body needs a string 'action'")
        observation, reward, terminated, truncated, info = await service.step(session, data["action"])
        # terminated and truncated too: WebArena's client reads Gymnasium's five values.
        reply = _agentgym_state(fam, observation, reward, terminated or truncated, info)
        return {**reply, "terminated": terminated, "truncated": truncated}

    @router.get("/observation")
    async def observation(request: Request):
        return service.session(_query_id(request, fam), fam).observation

    @router.get("/available_actions")
    async def available_actions(request: Request):
        actions = service.session(_query_id(request, fam), fam).info.get("available_actions")
        clickables = [a[6:-1] for a in actions or [] if a.startswith("click[") and a.endswith("]")]
        has_search_bar = any(a.startswith("search[") for a in actions or [])
        return {"available_actions": actions, "has_search_bar": has_search_bar, "clickables": clickables}

    @router.get("/filtered_vocab")
    async def filtered_vocab(request: Request):
        env = service.session(_query_id(request, fam), fam).env.unwrapped
        if not callable(getattr(env, "vocabulary", None)):
            raise HTTPException(404, f"{fam.env_id} has no vocabulary")
        return list(env.vocabulary())

    @router.post("/close")
    async def close(request: Request):
        data = await _json_body(request)
        session_id = _int_field(data, fam.id_key)
        await service.close(session_id, fam)
        return {"closed": session_id}

    return router


# ------------------------------------------------------------------------------ /v1
class CreateRequest(BaseModel):
    env_id: str = Field(description="a served env, e.g. AgentGym/Maze-v0 (or maze)")
    split: str = Field("train", description="train, test, agenttraj or agenttraj_l")


class EnvCreated(BaseModel):
    id: int
    env_id: str
    split: str
    max_rounds: int
    max_observation_length: int
    max_action_length: int


class ResetRequest(BaseModel):
    seed: int | None = None
    task_id: int | None = Field(None, description="exactly this task (AgentGym item id <prefix>_<task_id>)")


class ResetResponse(BaseModel):
    observation: str
    info: dict[str, Any]


class StepRequest(BaseModel):
    action: str


class StepResponse(BaseModel):
    observation: str
    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, Any]


class ExpertResponse(BaseModel):
    thought: str
    action: str


def _family_facts(fam: Family) -> dict[str, Any]:
    splits = {name: list(fam.splits.ids(name)) for name in ("test", "agenttraj", "agenttraj_l", "train")}
    return {
        "env_id": fam.env_id,
        "item_prefix": fam.item_prefix,
        "max_rounds": fam.max_rounds,
        "splits": splits,
        "summary": fam.summary,
    }


def v1_router(service: Service) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["v1"])

    def served(name: str) -> Family:
        try:
            fam = family(name)
        except ValueError as error:
            raise HTTPException(404, str(error)) from None
        if fam.name not in service.families:
            raise HTTPException(
                404, f"{fam.env_id} is not served here; served: {', '.join(service.families)}"
            )
        return fam

    @router.get("/envs")
    async def list_envs() -> dict[str, Any]:
        return {
            "families": [_family_facts(fam) for fam in service.families.values()],
            "live": len(service.store),
        }

    @router.post("/envs", status_code=201)
    async def create(body: CreateRequest) -> EnvCreated:
        fam = served(body.env_id)
        session = await service.create(fam, split=body.split)
        cls = type(session.env.unwrapped)
        return EnvCreated(
            id=session.id,
            env_id=fam.env_id,
            split=session.env.unwrapped.split,
            max_rounds=fam.max_rounds,
            max_observation_length=cls.max_observation_length,
            max_action_length=cls.max_action_length,
        )

    @router.post("/envs/{env_id}/reset")
    async def reset(env_id: int, body: ResetRequest) -> ResetResponse:
        observation, info = await service.reset(service.session(env_id), task_id=body.task_id, seed=body.seed)
        return ResetResponse(observation=observation, info=jsonable(info))

    @router.post("/envs/{env_id}/step")
    async def step(env_id: int, body: StepRequest) -> StepResponse:
        observation, reward, terminated, truncated, info = await service.step(
            service.session(env_id), body.action
        )
        return StepResponse(
            observation=observation,
            reward=reward,
            terminated=terminated,
            truncated=truncated,
            info=jsonable(info),
        )

    @router.get("/envs/{env_id}/expert")
    async def expert(env_id: int) -> ExpertResponse:
        thought, action = await service.expert(service.session(env_id))
        return ExpertResponse(thought=thought, action=action)

    @router.delete("/envs/{env_id}", status_code=204)
    async def close(env_id: int) -> Response:
        await service.close(env_id)
        return Response(status_code=204)

    return router


def _optional_int(data: dict[str, Any], key: str) -> int | None:
    return None if data.get(key) is None else _int_field(data, key)


def v1_hot_routes(service: Service) -> dict[tuple[str, str], Any]:
    """``POST /v1/envs/{id}/reset`` and ``/step`` for :class:`FastPaths`: the answers of the
    routes above (whose schema /openapi.json shows) without FastAPI's cost on every step."""

    async def reset(request: Request, env_id: int) -> dict[str, Any]:
        data = await _json_body(request)
        task_id, seed = _optional_int(data, "task_id"), _optional_int(data, "seed")
        observation, info = await service.reset(service.session(env_id), task_id=task_id, seed=seed)
        return {"observation": observation, "info": info}

    async def step(request: Request, env_id: int) -> dict[str, Any]:
        data = await _json_body(request)
        if not isinstance(data.get("action"), str):
            raise HTTPException(422, "the body needs a string 'action'")
        observation, reward, terminated, truncated, info = await service.step(
            service.session(env_id), data["action"]
        )
        return {
            "observation": observation,
            "reward": reward,
            "terminated": terminated,
            "truncated": truncated,
            "info": info,
        }

    return {("POST", "reset"): reset, ("POST", "step"): step}


# ------------------------------------------------------------------------------ the app
def create_app(
    envs: Sequence[str],
    *,
    token: str | None = None,
    capacity: int = 256,
    idle_timeout: float = 900.0,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    reap_every: float | None = None,
) -> Guard:
    """An ASGI app serving ``envs`` (names or ids). ``token``: require ``Authorization: Bearer
    <token>`` on every route but ``/health``. Its ``api`` is the FastAPI app behind it (the /v1
    routes and the OpenAPI schema of both APIs)."""
    families = [family(require_engine(name)) for name in envs]
    if not families:
        raise ValueError("serve at least one env")
    service = Service(families, capacity=capacity, idle_timeout=idle_timeout)
    reap_every = reap_every if reap_every is not None else max(0.05, min(30.0, idle_timeout / 4))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        reaper = asyncio.create_task(_reap_forever(service, reap_every))
        try:
            yield
        finally:
            reaper.cancel()
            await service.close_all()

    app = FastAPI(title="AgentGym env server", version="1", lifespan=lifespan)
    app.state.service = service
    hot_paths = {}
    for fam in families:
        prefix = "" if len(families) == 1 else f"/{fam.name.lower()}"
        router = agentgym_router(service, fam, prefix)
        app.include_router(router)  # for the OpenAPI schema; requests take the fast path below
        hot_paths |= {(m, route.path): route.endpoint for route in router.routes for m in route.methods}
    app.include_router(v1_router(service))

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "envs": [fam.env_id for fam in families], "live": len(service.store)}

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics() -> str:
        return service.metrics.render(live=len(service.store))

    # Plain ASGI layers outside FastAPI, so AgentGym's routes skip its whole middleware stack.
    hot = FastPaths(app, hot_paths, v1_hot_routes(service))
    server = Guard(hot, service=service, token=token, limit=max_body_bytes)
    server.api = app
    return server


async def _reap_forever(service: Service, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        await service.reap_idle()


class FastPaths:
    """The hot routes without FastAPI: AgentGym's (a dict lookup on method and path) and the
    /v1 reset and step (``/v1/envs/<id>/<operation>``), answers written with orjson. FastAPI's
    middleware stack, route matching, validation and dependency solving cost several times a Maze
    step per request; these handlers take only the request, so they need none of it. Other paths
    (/v1's others, /health, /docs, lifespan) go on to FastAPI."""

    def __init__(self, app, routes: dict, env_routes: dict):
        self.app, self.routes, self.env_routes = app, routes, env_routes

    def _route(self, scope) -> tuple[Any, tuple]:
        method, path = scope.get("method"), scope.get("path", "")
        handler = self.routes.get((method, path))
        if handler is not None:
            return handler, ()
        parts = path.split("/")  # "", "v1", "envs", id, operation
        if len(parts) == 5 and parts[1:3] == ["v1", "envs"] and parts[3].isascii() and parts[3].isdigit():
            handler = self.env_routes.get((method, parts[4]))
            if handler is not None:
                return handler, (int(parts[3]),)
        return None, ()

    async def __call__(self, scope, receive, send):
        handler, arguments = self._route(scope) if scope["type"] == "http" else (None, ())
        if handler is None:
            return await self.app(scope, receive, send)
        try:
            status, payload, headers = 200, await handler(Request(scope, receive), *arguments), None
        except HTTPException as error:
            payload = {"detail": error.detail, **getattr(error, "result", {})}
            status, headers = error.status_code, error.headers
        except Exception as error:  # noqa: BLE001 - a bug of ours: still an answer, with its name
            status, payload, headers = 500, {"detail": f"{type(error).__name__}: {error}"}, None
        await send_json(send, status, payload, headers)


async def send_json(send, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
    """One JSON response as two ASGI messages (what a Starlette response does, minus its objects).
    Numpy values become numbers and lists, NaN null, other objects their text, as :func:`jsonable`."""
    body = orjson.dumps(payload, default=str, option=ORJSON_OPTIONS)
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """One plain ASGI layer in front of every route (Starlette's ``@app.middleware`` costs a task
    and a body copy per request): the bearer token, the body size limit without reading past it,
    and latency and error counts for /metrics."""

    api: FastAPI | None = None  # the FastAPI app inside, set by create_app

    def __init__(self, app, service: Service, token: str | None, limit: int):
        self.app, self.service, self.limit = app, service, limit
        self.expected = f"Bearer {token}".encode() if token else None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500

        async def send_and_count(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            refusal = self._refusal(scope)
            if refusal is not None:
                await refusal(scope, receive, send_and_count)
            else:
                await self.app(scope, self._capped(receive), send_and_count)
        finally:
            self.service.metrics.observe_latency(time.perf_counter() - started)
            if status >= 400:
                self.service.metrics.error(status)

    def _refusal(self, scope) -> JSONResponse | None:
        headers = dict(scope["headers"])
        if self.expected is not None and scope["path"] != "/health":
            if not hmac.compare_digest(headers.get(b"authorization", b""), self.expected):
                return JSONResponse({"detail": "a valid bearer token is required"}, status_code=401)
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            return JSONResponse({"detail": f"the body is over {self.limit} bytes"}, status_code=413)
        return None

    def _capped(self, receive):
        received = 0

        async def capped_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:  # a chunked body: raised inside the route, FastAPI answers 413
                    raise HTTPException(413, f"the body is over {self.limit} bytes")
            return message

        return capped_receive


# ------------------------------------------------------------------------------ running it
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def is_loopback(host: str) -> bool:
    return host in LOOPBACK or host.startswith("127.")


def serve(
    envs: Sequence[str],
    *,
    host: str = "127.0.0.1",
    port: int = 36001,
    token: str | None = None,
    capacity: int = 256,
    idle_timeout: float = 900.0,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    log_level: str = "warning",
) -> None:
    """Run the server until interrupted. Binding beyond loopback needs a token, so nobody else on
    the network can drive (or exhaust) the envs."""
    import uvicorn

    if not is_loopback(host) and not token:
        raise ValueError(
            f"binding to {host} exposes the server beyond this machine: give a token "
            "(--token or AGENTGYM_SERVER_TOKEN)"
        )
    app = create_app(
        envs, token=token, capacity=capacity, idle_timeout=idle_timeout, max_body_bytes=max_body_bytes
    )
    # No proxy-header rewriting and no access log: neither is used, and each costs every request.
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        timeout_keep_alive=30,
        proxy_headers=False,
        access_log=False,
    )


@dataclasses.dataclass
class ServeConfig:
    """Settings of ``agentgym serve``."""

    env: list[str] = dataclasses.field(
        default_factory=lambda: ["maze"],
        metadata={"help": "families to serve, each under /<name>/ (a family alone sits at /)"},
    )
    host: str = dataclasses.field(
        default="127.0.0.1", metadata={"help": "address to bind; anything but loopback needs a token"}
    )
    port: int = dataclasses.field(default=36001, metadata={"help": "port to listen on"})
    token: str | None = dataclasses.field(
        default=None,
        metadata={"help": "bearer token clients must send; unset, $AGENTGYM_SERVER_TOKEN is used"},
    )
    capacity: int = dataclasses.field(default=256, metadata={"help": "most envs held at once (then 503)"})
    idle_timeout: float = dataclasses.field(
        default=900.0, metadata={"help": "seconds after which an untouched env is closed"}
    )
    max_body_bytes: int = dataclasses.field(
        default=DEFAULT_MAX_BODY, metadata={"help": "largest request body"}
    )
    log_level: str = dataclasses.field(default="warning", metadata={"help": "uvicorn's log level"})


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m agentgym_envs.server`` (``agentgym serve`` runs the same)."""
    import argparse
    import os
    import sys

    parser = argparse.ArgumentParser(
        prog="agentgym serve",
        description="Serve AgentGym envs over HTTP: AgentGym's protocol per family and a /v1 API.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    for f in dataclasses.fields(ServeConfig):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        kind = {"int": int, "float": float}.get(str(f.type).split(" ")[0], str)
        nargs = "+" if f.name == "env" else None
        parser.add_argument(f"--{f.name}", type=kind, default=default, nargs=nargs, help=f.metadata["help"])
    config = ServeConfig(**vars(parser.parse_args(argv)))
    config.token = config.token or os.environ.get("AGENTGYM_SERVER_TOKEN")
    try:
        serve(**_serve_kwargs(config))
    except (ValueError, ModuleNotFoundError) as error:
        print(f"agentgym serve: error: {error}", file=sys.stderr)
        return 2
    return 0


def _serve_kwargs(config: ServeConfig) -> dict[str, Any]:
    kwargs = dataclasses.asdict(config)
    kwargs["envs"] = kwargs.pop("env")
    return kwargs
