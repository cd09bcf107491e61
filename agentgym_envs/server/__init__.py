"""An HTTP env server that speaks AgentGym's protocol (and a clean ``/v1`` API), and
:class:`RemoteEnv`, a Gymnasium env that plays an env held by such a server.

Needs the ``server`` extra (FastAPI, uvicorn, httpx). ``agentgym serve --env maze`` runs it.
"""

from agentgym_envs.server.client import RemoteEnv, ServerGone

__all__ = ["RemoteEnv", "ServerGone", "create_app", "serve"]


def __getattr__(name: str):
    # The app pulls in FastAPI; the client needs only httpx. Import each only when used.
    if name in ("create_app", "serve"):
        from agentgym_envs.server import app

        return getattr(app, name)
    raise AttributeError(name)
