"""``RemoteEnv``: a Gymnasium env whose episodes run on an env server (``agentgym serve``).

    env = gym.make("AgentGym/Remote-v0", base_url="http://127.0.0.1:36001", env="AgentGym/Maze-v0")

It keeps the local contract: Text spaces of the remote env's sizes, the same info keys, seeded or
exact task choice, ``task_ids(split)``, ``expert()`` where the server offers it, and ``close()``
frees the server's env. One keep-alive connection per env; a request that fails because the
connection dropped is sent once more, and a server that is gone is a clear :class:`ServerGone`.
"""

from __future__ import annotations

import os
from typing import Any

import gymnasium as gym

from agentgym_envs.core import normalise_split, text_space
from agentgym_envs.registration import install_hint, resolve_env_id

try:
    import httpx
except ModuleNotFoundError:  # pragma: no cover - the server extra is missing
    httpx = None


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
        if httpx is None:
            raise ModuleNotFoundError(f"RemoteEnv needs httpx: {install_hint('server')}")
        self.base_url = base_url.rstrip("/")
        self.env_id = resolve_env_id(env)
        self.render_mode = render_mode
        token = token or os.environ.get("AGENTGYM_SERVER_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)
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
        reply = self._request("POST", f"/v1/envs/{self._remote_id}/step", json={"action": str(action)})
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
        for attempt in (1, 2):
            try:
                response = self._http.request(method, path, json=json)
                break
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as error:
                if attempt == 2:  # the connection dropped twice: give up with the reason
                    raise ServerGone(f"{self.base_url} dropped the connection: {error}") from None
            except (httpx.ConnectError, httpx.ConnectTimeout) as error:
                raise ServerGone(f"no env server answers at {self.base_url}: {error}") from None
        if response.status_code >= 400:
            detail = _detail(response)
            raise RuntimeError(f"{method} {path} -> {response.status_code}: {detail}")
        return None if response.status_code == 204 else response.json()


def _detail(response) -> str:
    try:
        return str(response.json().get("detail", response.text))
    except ValueError:
        return response.text[:500]
