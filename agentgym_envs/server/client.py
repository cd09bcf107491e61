"""``RemoteEnv``: a Gymnasium env whose episodes run on an env server (``agentgym serve``).

    env = gym.make("AgentGym/Remote-v0", base_url="http://127.0.0.1:36001", env="AgentGym/Maze-v0")

It keeps the local contract: Text spaces of the remote env's sizes, the same info keys, seeded or
exact task choice, ``task_ids(split)``, ``expert()`` where the server offers it, and ``close()``
frees the server's env. One keep-alive connection per env; a request that fails because the
connection dropped is sent once more, and a server that is gone is a clear :class:`ServerGone`.

The connection is the standard library's ``http.client``: a step is one small request, and
httpx's client costs several times its CPU per request (docs/benchmarks.md), and the client's
CPU is what limits rollouts whose envs live on a server.
"""

from __future__ import annotations

import http.client
import json
import os
from typing import Any
from urllib.parse import urlsplit

import gymnasium as gym

from agentgym_envs.core import normalise_split, text_space
from agentgym_envs.registration import resolve_env_id

# The connection was there and is not any more (the server restarted, an idle keep-alive
# connection was closed): worth sending the request once more on a new one.
DROPPED = (http.client.HTTPException, ConnectionResetError, BrokenPipeError)


class ServerGone(ConnectionError):
    """The env server cannot be reached (stopped, wrong address, network down)."""


class RemoteEnv(gym.Env[str, str]):
    """An AgentGym env played over HTTP (the server's ``/v1`` API).

    Args:
        base_url: the server, e.g. ``http://127.0.0.1:36001``.
        env: the env to play there (``"maze"`` or ``"AgentGym/Maze-v0"``).
        split: the split seeded resets draw from.
        token: bearer token (default: ``$AGENTGYM_SERVER_TOKEN``).
        timeout: seconds per request.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        base_url: str,
        env: str,
        split: str = "train",
        token: str | None = None,
        timeout: float = 60.0,
        render_mode: str | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.env_id = resolve_env_id(env)
        self.render_mode = render_mode
        token = token or os.environ.get("AGENTGYM_SERVER_TOKEN")
        self._http = Connection(self.base_url, token=token, timeout=timeout)
        self._remote_id: int | None = None
        created = self._request("POST", "/v1/envs", json={"env_id": self.env_id, "split": split})
        self._remote_id = created["id"]
        self.split = created["split"]
        self.observation_space = text_space(created["max_observation_length"])
        self.action_space = text_space(created["max_action_length"])
        self._observation = ""
        self._splits: dict[str, list[int]] | None = None

    # ------------------------------------------------------------------ Gymnasium API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        task_id = (options or {}).get("task_id")
        if seed is None and task_id is None:  # draw here, so unseeded resets still vary
            seed = int(self.np_random.integers(2**31))
        body = {"seed": seed, "task_id": task_id}
        reply = self._request("POST", f"/v1/envs/{self._remote_id}/reset", json=body)
        self._observation = reply["observation"]
        return reply["observation"], reply["info"]

    def step(self, action: str):
        path = f"/v1/envs/{self._remote_id}/step"
        status, body = self._http.request("POST", path, {"action": str(action)})
        reply = _loads(body) if status in (200, 500) else None
        if status != 200 and not (isinstance(reply, dict) and reply.get("engine_lost")):
            raise RuntimeError(f"POST {path} -> {status}: {_detail(body)}")
        # A 500 for a lost engine carries the step's result: the episode ends as it does locally.
        self._observation = reply["observation"]
        return reply["observation"], reply["reward"], reply["terminated"], reply["truncated"], reply["info"]

    def render(self) -> str | None:
        return self._observation if self.render_mode == "ansi" else None

    def close(self) -> None:
        if self._remote_id is not None:
            try:
                self._request("DELETE", f"/v1/envs/{self._remote_id}")
            except (ServerGone, RuntimeError):
                pass  # nothing left to free on a server that is gone
            self._remote_id = None
        self._http.close()

    # ------------------------------------------------------------------ the rest of the contract
    def expert(self) -> tuple[str, str]:
        reply = self._request("GET", f"/v1/envs/{self._remote_id}/expert")
        return reply["thought"], reply["action"]

    def task_ids(self, split: str = "train") -> list[int]:
        if self._splits is None:
            listing = self._request("GET", "/v1/envs")
            facts = next(f for f in listing["families"] if f["env_id"] == self.env_id)
            self._splits = facts["splits"]
        return self._splits[normalise_split(split)]

    # ------------------------------------------------------------------ HTTP
    def _request(self, method: str, path: str, json: dict | None = None) -> Any:
        status, body = self._http.request(method, path, json)
        if status >= 400:
            raise RuntimeError(f"{method} {path} -> {status}: {_detail(body)}")
        return None if status == 204 else _loads(body)


class Connection:
    """One keep-alive HTTP/1.1 connection to ``base_url`` sending JSON: a dropped connection is
    reopened and the request sent once more; no server there is :class:`ServerGone`."""

    def __init__(self, base_url: str, token: str | None = None, timeout: float = 60.0):
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"base_url must be http(s)://host:port, got {base_url!r}")
        self.base_url, self.prefix = base_url, url.path.rstrip("/")
        kind = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        self._connection = kind(url.hostname, url.port, timeout=timeout)
        self._headers = {"Content-Type": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"

    def request(self, method: str, path: str, payload: dict | None = None) -> tuple[int, bytes]:
        body = None if payload is None else json.dumps(payload).encode()
        try:
            return self._send(method, path, body)
        except DROPPED:
            self._connection.close()  # e.g. a keep-alive connection the server closed: once more
        try:
            return self._send(method, path, body)
        except DROPPED as error:
            self._connection.close()
            raise ServerGone(f"{self.base_url} dropped the connection twice: {error!r}") from None

    def _send(self, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
        try:
            self._connection.request(method, self.prefix + path, body=body, headers=self._headers)
            response = self._connection.getresponse()
            return response.status, response.read()
        except DROPPED:
            raise
        except TimeoutError:
            self._connection.close()
            seconds = self._connection.timeout
            raise TimeoutError(f"{method} {path}: no answer from {self.base_url} in {seconds} s") from None
        except OSError as error:  # refused, no route, unknown host
            self._connection.close()
            raise ServerGone(f"no env server answers at {self.base_url}: {error}") from None

    def close(self) -> None:
        self._connection.close()


def _loads(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise RuntimeError(f"the env server answered something that is not JSON: {body[:200]!r}") from None


def _detail(body: bytes) -> str:
    try:
        reply = json.loads(body)
    except ValueError:
        return body[:500].decode(errors="replace")
    return str(reply.get("detail", reply)) if isinstance(reply, dict) else str(reply)
