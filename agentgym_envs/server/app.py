"""The env server: one session service under several protocols, each its own module.

- :mod:`~agentgym_envs.server.service`: sessions, limits, reaping, where env work runs;
- :mod:`~agentgym_envs.server.agentgym_protocol`: AgentGym's routes for every served family;
- :mod:`~agentgym_envs.server.openenv_protocol`: OpenEnv's routes and ``/ws`` sessions instead
  (``--openenv``; both answer ``/reset`` and ``/step``, so a server speaks one of the two);
- :mod:`~agentgym_envs.server.v1`: the project's ``/v1`` API (:class:`RemoteEnv` speaks it);
- :mod:`~agentgym_envs.server.routes`: the route table both FastAPI (the schema, ``/docs``) and
  :mod:`~agentgym_envs.server.fastpath` (the requests, with the :class:`Guard` in front) are built from.

This module puts them together (:func:`create_app`) and runs them (:func:`serve`, ``agentgym
serve``). A new protocol is a module with a ``routes(service) -> list[Route]`` function and one
line in :data:`PROTOCOLS` (or, for one that serves the families at their own paths, in
:data:`FAMILY_PROTOCOLS`).

Where AgentGym's servers answer 200 with an ``error`` field, this one uses real status codes: 404
unknown env id, 409 a step before reset or after the end, 413 a body over the size limit, 422 a
malformed body, 401 a missing or wrong bearer token, 503 at capacity, 500 with a message when an
engine fails. ``/health`` and ``/metrics`` (Prometheus text) sit beside the protocols.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

from agentgym_envs.registration import family, install_hint, require_engine
from agentgym_envs.server import v1
from agentgym_envs.server.fastpath import FastPaths, Guard
from agentgym_envs.server.routes import RouteTable, add_to_fastapi
from agentgym_envs.server.service import CallTimer, Service

__all__ = ["FAMILY_PROTOCOLS", "PROTOCOLS", "CallTimer", "ServeConfig", "create_app", "main", "serve"]

DEFAULT_MAX_BODY = 1 << 20  # 1 MiB: far above any real action, far below what hurts the server

# Each protocol: a function from the service to its routes. Every server speaks these.
PROTOCOLS = (v1.routes,)

# The protocol the families are served in, by name: the module whose routes(service) gives its
# routes, and the extra it needs. Imported only when served (openenv pulls in gradio: seconds).
FAMILY_PROTOCOLS = {
    "agentgym": ("agentgym_envs.server.agentgym_protocol", "server"),
    "openenv": ("agentgym_envs.server.openenv_protocol", "openenv"),
}


def family_protocol(name: str):
    """The routes function of a family protocol; a missing package names the extra to install."""
    if name not in FAMILY_PROTOCOLS:
        raise ValueError(f"unknown protocol {name!r}; choose one of: {', '.join(FAMILY_PROTOCOLS)}")
    module, extra = FAMILY_PROTOCOLS[name]
    try:
        return importlib.import_module(module).routes
    except ModuleNotFoundError as error:
        hint = install_hint(extra)
        raise ModuleNotFoundError(f"the {name} protocol needs {error.name!r}: {hint}") from None


def create_app(
    envs: Sequence[str],
    *,
    token: str | None = None,
    capacity: int = 256,
    idle_timeout: float = 900.0,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    reap_every: float | None = None,
    protocol: str = "agentgym",
) -> Guard:
    """An ASGI app serving ``envs`` (names or ids) in ``protocol`` (AgentGym's or OpenEnv's, see
    :data:`FAMILY_PROTOCOLS`) and ``/v1``. ``token``: require ``Authorization: Bearer <token>`` on
    every route but ``/health``. Its ``api`` is the FastAPI app behind it (every route in the
    OpenAPI schema)."""
    families = [family(require_engine(name)) for name in envs]
    family_routes = family_protocol(protocol)
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
    protocols = (family_routes, *PROTOCOLS)
    table = RouteTable([route for routes in protocols for route in routes(service)])
    add_to_fastapi(app, table.routes)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        # "healthy": OpenEnv's word, which its validator and providers read
        return {"status": "healthy", "envs": [fam.env_id for fam in families], "live": len(service.store)}

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
    protocol: str = "agentgym",
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
        envs,
        token=token,
        capacity=capacity,
        idle_timeout=idle_timeout,
        max_body_bytes=max_body_bytes,
        protocol=protocol,
    )
    # No proxy-header rewriting and no access log: neither is used, and each costs every request.
    # A WebSocket message over the body limit closes its connection (1009), as a body gets a 413.
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        timeout_keep_alive=30,
        proxy_headers=False,
        access_log=False,
        ws_max_size=max_body_bytes,
    )


@dataclasses.dataclass
class ServeConfig:
    """Settings of ``agentgym serve``."""

    env: list[str] | None = dataclasses.field(
        default=None,
        metadata={
            "help": "families to serve in AgentGym's protocol (default: maze), each under /<name>/ "
            "(a family alone sits at /)"
        },
    )
    openenv: list[str] | None = dataclasses.field(
        default=None,
        metadata={
            "help": "families to serve in OpenEnv's protocol instead (the openenv extra), each under "
            "/<name>/ (a family alone sits at /)"
        },
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


class OneLineErrors(argparse.ArgumentParser):
    """A bad flag in one line (plus where to get help), not a usage dump, as ``agentgym``'s other
    commands report it."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m agentgym_envs.server`` (``agentgym serve`` runs the same)."""
    parser = OneLineErrors(
        prog="agentgym serve",
        description="Serve AgentGym envs over HTTP: AgentGym's protocol per family (or OpenEnv's, "
        "with --openenv) and a /v1 API.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    for f in dataclasses.fields(ServeConfig):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        kind = {"int": int, "float": float}.get(str(f.type).split(" ")[0], str)
        nargs = "+" if f.name in ("env", "openenv") else None
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
    env, openenv = kwargs.pop("env"), kwargs.pop("openenv")
    if env and openenv:
        raise ValueError("serve families in AgentGym's protocol (--env) or OpenEnv's (--openenv), not both")
    kwargs["envs"] = openenv or env or ["maze"]
    kwargs["protocol"] = "openenv" if openenv else "agentgym"
    return kwargs
