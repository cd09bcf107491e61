"""The env server: one session service under several protocols, each its own module.

- :mod:`~agentgym_envs.server.service`: sessions, limits, reaping, where env work runs;
- :mod:`~agentgym_envs.server.agentgym_protocol`: AgentGym's routes for every served family;
- :mod:`~agentgym_envs.server.v1`: the project's ``/v1`` API (:class:`RemoteEnv` speaks it);
- :mod:`~agentgym_envs.server.routes`: the route table both FastAPI (the schema, ``/docs``) and
  :mod:`~agentgym_envs.server.fastpath` (the requests, with the :class:`Guard` in front) are built from.

This module puts them together (:func:`create_app`) and runs them (:func:`serve`, ``agentgym
serve``). A new protocol is a module with a ``routes(service) -> list[Route]`` function and one
line in :data:`PROTOCOLS`.

Where AgentGym's servers answer 200 with an ``error`` field, this one uses real status codes: 404
unknown env id, 409 a step before reset or after the end, 413 a body over the size limit, 422 a
malformed body, 401 a missing or wrong bearer token, 503 at capacity, 500 with a message when an
engine fails. ``/health`` and ``/metrics`` (Prometheus text) sit beside the protocols.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

from agentgym_envs.registration import family, require_engine
from agentgym_envs.server import agentgym_protocol, v1
from agentgym_envs.server.fastpath import FastPaths, Guard
from agentgym_envs.server.routes import RouteTable, add_to_fastapi
from agentgym_envs.server.service import CallTimer, Service

__all__ = ["PROTOCOLS", "CallTimer", "ServeConfig", "create_app", "main", "serve"]

DEFAULT_MAX_BODY = 1 << 20  # 1 MiB: far above any real action, far below what hurts the server

# Each protocol: a function from the service to its routes.
PROTOCOLS = (agentgym_protocol.routes, v1.routes)


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
    <token>`` on every route but ``/health``. Its ``api`` is the FastAPI app behind it (every
    route in the OpenAPI schema)."""
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
    table = RouteTable([route for protocol in PROTOCOLS for route in protocol(service)])
    add_to_fastapi(app, table.routes)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "envs": [fam.env_id for fam in families], "live": len(service.store)}

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics() -> str:
        return service.metrics.render(live=len(service.store))

    # Plain ASGI layers outside FastAPI, so the table's routes skip its whole middleware stack.
    server = Guard(FastPaths(app, table), service=service, token=token, limit=max_body_bytes)
    server.api = app
    return server


async def _reap_forever(service: Service, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        await service.reap_idle()


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
