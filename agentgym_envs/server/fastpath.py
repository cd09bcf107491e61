"""The ASGI layers in front of FastAPI: :class:`Guard` (token, body size, metrics) on every request,
then :class:`FastPaths`, which serves the route table's routes itself.

FastAPI's middleware stack, route matching, validation and dependency solving cost several times
a Maze step per request. A route of the table needs none of it: :func:`routes.answer` parses and
validates the body the route declares and writes the reply with orjson, so the fast path runs the
same code as FastAPI's copy of the route, minus the machinery around it. Other paths (/health,
/metrics, /docs, /openapi.json, lifespan, a path parameter that is not a number) go on to FastAPI.
"""

from __future__ import annotations

import hmac
import time

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from agentgym_envs.server.routes import RouteTable, answer, encode
from agentgym_envs.server.service import Service


class FastPaths:
    """The route table's routes without FastAPI."""

    def __init__(self, app, table: RouteTable):
        self.app, self.table = app, table

    async def __call__(self, scope, receive, send):
        route, path = (
            self.table.match(scope.get("method"), scope.get("path", ""))
            if scope["type"] == "http"
            else (None, {})
        )
        if route is None:
            return await self.app(scope, receive, send)
        status, payload, headers = await answer(route, Request(scope, receive), path)
        await send_json(send, status, encode(status, payload), headers)


async def send_json(send, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
    """One JSON response as two ASGI messages (what a Starlette response does, minus its objects)."""
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
        if scope["type"] == "websocket":
            return await self._websocket(scope, receive, send)
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

    async def _websocket(self, scope, receive, send):
        """A WebSocket needs the token too (its size limit is per message: uvicorn's ws_max_size).
        Closed before it is accepted, the client sees an HTTP 403."""
        if self.expected is not None:
            if not hmac.compare_digest(dict(scope["headers"]).get(b"authorization", b""), self.expected):
                await receive()  # the connect request
                self.service.metrics.error(403)
                return await send({"type": "websocket.close", "code": 1008})
        return await self.app(scope, receive, send)

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
