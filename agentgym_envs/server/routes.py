"""The route table: every route of every protocol as one record, which feeds both FastAPI (so the
route is in ``/openapi.json`` and ``/docs``) and the fast path (:mod:`agentgym_envs.server.fastpath`,
which serves it without FastAPI's per-request cost).

A handler takes one :class:`Call` and returns what to answer. The body it sees is the one the
route declares: ``body=SomeModel`` gives it a validated model (a malformed body is a 422 before the
handler runs, on either path), no model gives it the JSON object as a dict (AgentGym's clients send
bodies whose keys vary by family), ``body=bytes`` the raw bytes (JSON-RPC answers malformed JSON with
its own error, not a 422). Both paths run :func:`answer`, so a route cannot behave one way
in the schema's path and another on the fast one.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import Body, FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError

ORJSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


class Call:
    """One request as a handler sees it: ``body`` (the declared model, or the JSON object as a
    dict, {} when empty), ``path`` (the integer path parameters, "{env_id}") and ``query``."""

    __slots__ = ("body", "path", "_request")

    def __init__(self, body: Any, path: dict[str, int], request: Request):
        self.body, self.path, self._request = body, path, request

    @property
    def query(self) -> Mapping[str, str]:
        return self._request.query_params  # parsed only when a handler asks (most never do)


Handler = Callable[[Call], Awaitable[Any]]


@dataclass(frozen=True)
class Route:
    """One route of one protocol."""

    method: str  # "GET", "POST", "DELETE", or "WS" (a WebSocket: the handler takes the WebSocket)
    path: str  # "/maze/step", "/v1/envs/{env_id}/step": "{name}" segments are integer parameters
    handler: Handler
    body: type[BaseModel] | type[bytes] | None = None  # the body's model; None: a JSON object as a dict
    reply: Any = None  # the reply's model or type, for the schema
    query: tuple[str, ...] = ()  # integer query parameters, for the schema
    status: int = 200  # the status of a success (204: no body)
    tag: str = ""  # the group the route is listed under in /docs
    summary: str = ""

    @property
    def parameters(self) -> tuple[str, ...]:
        return tuple(part[1:-1] for part in self.path.split("/") if part.startswith("{"))


# ------------------------------------------------------------------------------ bodies
def json_object(raw: bytes) -> dict[str, Any]:
    """A request body as a JSON object ({} when empty); a 422 when it is not one."""
    if not raw.strip():
        return {}
    try:
        data = orjson.loads(raw)
    except ValueError:  # orjson's JSONDecodeError is one
        raise HTTPException(422, "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise HTTPException(422, "the body must be a JSON object")
    return data


def int_field(data: Mapping[str, Any], key: str) -> int:
    """``data[key]`` as an int (a string of digits counts, as pydantic's lax mode has it)."""
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        raise HTTPException(422, f"the body needs an integer {key!r}, got {value!r}")
    return value


def _parse_body(route: Route, raw: bytes) -> Any:
    if route.body is None:
        return json_object(raw)
    if route.body is bytes:
        return raw
    try:  # straight from the bytes: pydantic parses and validates in one pass
        return route.body.__pydantic_validator__.validate_json(raw if raw.strip() else b"{}")
    except ValidationError as error:
        problems = error.errors(include_url=False, include_context=False)
        raise HTTPException(422, [{**p, "loc": ["body", *p["loc"]]} for p in problems]) from None


# ------------------------------------------------------------------------------ answering
async def answer(route: Route, request: Request, path: dict[str, int]) -> tuple[int, Any, dict | None]:
    """Run the route on a request: (status, payload, extra headers). Every failure is an answer."""
    try:
        body = await request.body() if route.method != "GET" else b""
        call = Call(_parse_body(route, body), path, request)
        payload = await route.handler(call)
        if isinstance(payload, BaseModel):
            payload = payload.model_dump()
        return route.status, payload, None
    except HTTPException as error:
        # EngineLostInStep carries the step's result, so a client can end its episode as in process.
        return error.status_code, {"detail": error.detail, **getattr(error, "result", {})}, error.headers
    except Exception as error:  # noqa: BLE001 - a bug of ours: still an answer, with its name
        return 500, {"detail": f"{type(error).__name__}: {error}"}, None


def encode(status: int, payload: Any) -> bytes:
    """The JSON body of an answer: numpy values as numbers and lists, NaN null, other objects their text."""
    return b"" if status == 204 else orjson.dumps(payload, default=str, option=ORJSON_OPTIONS)


class RouteTable:
    """The routes by method and path. A parametrised path is found by its shape: the request's
    path with every number replaced by "{}" (``/v1/envs/{}/step``), one dict lookup either way."""

    def __init__(self, routes: list[Route]):
        self.routes = list(routes)
        self.by_path: dict[tuple[str, str], Route] = {}
        self.by_shape: dict[tuple[str, tuple[str, ...]], tuple[Route, tuple[tuple[str, int], ...]]] = {}
        seen: set[tuple[str, str]] = set()
        for route in self.routes:
            if (route.method, route.path) in seen:  # two protocols claiming one path: say so at start
                raise ValueError(f"two routes for {route.method} {route.path}")
            seen.add((route.method, route.path))
            if route.method == "WS":  # a connection, not a request: FastAPI's router serves it
                continue
            parts = route.path.split("/")
            if not route.parameters:
                self.by_path[route.method, route.path] = route
                continue
            shape = tuple("{}" if p.startswith("{") else p for p in parts)
            names = tuple((p[1:-1], i) for i, p in enumerate(parts) if p.startswith("{"))
            self.by_shape[route.method, shape] = route, names

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, int]]:
        route = self.by_path.get((method, path))
        if route is not None:
            return route, {}
        parts = path.split("/")
        shape = tuple("{}" if p.isascii() and p.isdigit() else p for p in parts)
        found = self.by_shape.get((method, shape))
        if found is None:
            return None, {}  # FastAPI answers it (a 404, or a 422 naming a parameter that is no number)
        route, names = found
        return route, {name: int(parts[i]) for name, i in names}


# ------------------------------------------------------------------------------ FastAPI
def add_to_fastapi(app: FastAPI, routes: list[Route]) -> None:
    """Each route as a FastAPI route: its parameters, body model and reply model in the schema, and
    an endpoint that answers as the fast path does (requests the fast path leaves, such as a path
    parameter that is not a number, are FastAPI's to refuse)."""
    for route in routes:
        if route.method == "WS":
            app.add_api_websocket_route(route.path, route.handler)
            continue
        app.add_api_route(
            route.path,
            _endpoint(route),
            methods=[route.method],
            response_model=route.reply,
            status_code=route.status,
            tags=[route.tag] if route.tag else None,
            summary=route.summary or None,
        )


def _endpoint(route: Route):
    async def endpoint(request: Request, **_: Any) -> Response:
        path = {name: int(request.path_params[name]) for name in route.parameters}
        status, payload, headers = await answer(route, request, path)
        return Response(encode(status, payload), status, headers, media_type="application/json")

    # The signature FastAPI reads: what to document (and check) beyond the request itself.
    parameters = [inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request)]
    parameters += [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[int, Path()])
        for name in route.parameters
    ]
    parameters += [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[int, Query()])
        for name in route.query
    ]
    if route.body not in (None, bytes):  # required unless every field has a default (an empty body is {})
        required = any(field.is_required() for field in route.body.model_fields.values())
        parameters.append(
            inspect.Parameter(
                "body",
                inspect.Parameter.KEYWORD_ONLY,
                default=inspect.Parameter.empty if required else None,
                annotation=Annotated[route.body if required else route.body | None, Body()],
            )
        )
    endpoint.__signature__ = inspect.Signature(parameters)
    endpoint.__name__ = (
        f"{route.method.lower()}_{route.path.strip('/').replace('/', '_').strip('{}') or 'root'}"
    )
    return endpoint
