"""AgentGym's own clients against ``agentgym serve``, one family at a time.

Each client below re-implements, request for request, the client AgentGym publishes for that
family (``agentenv/agentenv/envs/<family>.py`` at AgentGym's latest commit; CI cannot fetch it, and
the ``agentenv`` package on PyPI is an empty placeholder): the routes and bodies it sends, the
reply fields it reads, how it turns the model's reply into what it sends (or sends the reply
itself), and how it builds the first prompt. The test plays the expert's episode through it, with
the model's whole reply as the action, and checks the episode and AgentGym's score against the
same episode in process. AgentGym's evaluator (``agentenv/controller/task.py`` and
``utils.py``'s ``Evaluator``) scores an episode by the ``reward`` of its LAST ``StepOutput``.

Servers run on loopback only; every loop is bounded.
"""

from __future__ import annotations

import functools
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")

from agentgym_envs import env_ids, family  # noqa: E402
from agentgym_envs.formats import format_react  # noqa: E402

READY_SECONDS = 60


# ------------------------------------------------------------------------------ the server
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServerProcess:
    """``python -m agentgym_envs.server`` in a child process, stopped on exit (``flag``: the
    protocol the families are served in, ``--env`` for AgentGym's or ``--openenv``)."""

    def __init__(
        self,
        envs: list[str],
        *extra: str,
        host: str = "127.0.0.1",
        env: dict | None = None,
        flag: str = "--env",
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.envs = envs
        command = [sys.executable, "-m", "agentgym_envs.server", flag, *envs, "--host", host]
        command += ["--port", str(self.port), *extra]
        self.process = subprocess.Popen(command, env={**os.environ, **(env or {})}, stderr=subprocess.PIPE)
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.process.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise TimeoutError("the server did not start")

    def base(self, env_id: str) -> str:
        """Where a family's AgentGym routes are: under /<name>/ when it shares the server."""
        return self.url if len(self.envs) == 1 else f"{self.url}/{family(env_id).name.lower()}"

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def installed_ids() -> list[str]:
    return [i for i in env_ids() if family(i).missing_engine() is None]


@pytest.fixture(scope="module")
def server():
    running = ServerProcess(installed_ids())
    yield running
    running.stop()


# ------------------------------------------------------------------------------ AgentGym's clients
@dataclass
class StepOutput:  # agentenv/controller/types.py
    state: str
    reward: float
    done: bool


def parse_react(text: str) -> str:
    """The action of ``BaseAdapter.parse_react`` (agentenv/controller/utils.py): everything after
    the last "Action:", stripped; with no "Action:", the whole text if it holds search[ or click[."""
    head, marker, action = text.rpartition("Action:")
    if not marker:
        return text.strip() if "search[" in text or "click[" in text else ""
    return action.strip()


class AgentGymClient:
    """What every client of agentenv/envs/*.py shares: ``_post`` adds the id key to the body and
    asserts 200, ``_get`` sends the id key as the query. ``reply`` writes the expert's turn as the
    model's raw reply; ``prompt_from`` is how the client's first prompt wraps the env's first
    observation (as it is for most clients); ``score_scale`` turns the evaluator's number into a
    score in [0, 1]."""

    id_key = "id"
    score_scale = 1.0

    def __init__(self, base: str, http: httpx.Client):
        self.base, self.http = base, http
        self.env_id = self.create()

    def create(self) -> int:
        reply = self.http.post(f"{self.base}/create")
        assert reply.status_code == 200, reply.text
        return reply.json()[self.id_key]

    def _post(self, path: str, data: dict[str, Any]) -> Any:
        data[self.id_key] = self.env_id
        reply = self.http.post(f"{self.base}/{path}", json=data)
        assert reply.status_code == 200, reply.text
        return reply.json()

    def _get(self, path: str) -> Any:
        reply = self.http.get(f"{self.base}/{path}?{self.id_key}={self.env_id}")
        assert reply.status_code == 200, reply.text
        return reply.json()

    def close(self) -> None:
        self._post("close", {})

    @staticmethod
    def reply(thought: str, action: str) -> str:
        return format_react(thought, action)

    def prompt_from(self, first_observation: str, env: gym.Env) -> str:
        return first_observation


class ObservationClient(AgentGymClient):
    """The shape of the ReAct clients: the reset reply's observation is the first prompt, the
    action is ``parse_react``'s, and a step reads observation, reward and done. Used for the
    families AgentGym has no client for (the TextWorld-Express games, TextWorld)."""

    reset_field = "data_idx"

    def reset(self, idx: int) -> None:
        self.observation = self._post("reset", {self.reset_field: idx})["observation"]

    def observe(self) -> str:
        return self.observation

    def step(self, reply: str) -> StepOutput:
        response = self._post("step", {"action": parse_react(reply)})
        self.observation = response["observation"]
        return StepOutput(response["observation"], response["reward"], response["done"])


def only_action_line(reply: str) -> str | None:
    """BabyAI's and TextCraft's clients: the text after the only "Action:" up to the line's end,
    without any character but letters, digits, commas and spaces (None: more than one action)."""
    found = re.findall(r"Action:\s*(.*?)(?=\n|$)", reply, re.DOTALL)
    if len(found) > 1:
        return None
    action = re.sub(r"[^A-Za-z0-9, ]+", "", found[-1] if found else "")
    return " ".join(action.split()).strip()


class BabyAIClient(ObservationClient):
    """agentenv/envs/babyai.py: the step's ``score`` is the StepOutput's reward."""

    def step(self, reply: str) -> StepOutput:
        action = only_action_line(reply)
        assert action is not None
        response = self._post("step", {"action": action})
        return StepOutput(response["observation"], response["score"], response["done"])


class TextCraftClient(ObservationClient):
    """agentenv/envs/textcraft.py: /create is sent its recipe folder and read for an observation."""

    def create(self) -> int:
        body = {"minecraft_dir": "agentenv_textcraft/", "commands": None, "goal": None}
        reply = self.http.post(f"{self.base}/create", json=body)
        assert reply.status_code == 200, reply.text
        self.observation = reply.json()["observation"]
        return reply.json()["id"]

    def step(self, reply: str) -> StepOutput:
        action = only_action_line(reply)
        assert action is not None
        response = self._post("step", {"action": action})
        self.observation = response["observation"]
        return StepOutput(response["observation"], response["reward"], response["done"])


class ALFWorldClient(ObservationClient):
    """agentenv/envs/alfworld.py: /reset takes the game and a world type; the prompt appends the
    available actions to the observation."""

    def reset(self, idx: int) -> None:
        response = self._post("reset", {"game": idx, "world_type": "Text"})
        self.info = {
            "observation": response["observation"],
            "available_actions": response["available_actions"],
        }

    def observe(self) -> str:
        return f"{self.info['observation']}\nAVAILABLE ACTIONS: {','.join(self.info['available_actions'])}"

    def step(self, reply: str) -> StepOutput:
        response = self._post("step", {"action": parse_react(reply.removesuffix("</s>"))})
        self.info = {
            "observation": response["observation"],
            "available_actions": response["available_actions"],
        }
        return StepOutput(response["observation"], response["reward"], response["done"])


class SciWorldClient(ObservationClient):
    """agentenv/envs/sciworld.py: the prompt is ``task_description`` and ``observation`` joined by
    a newline; a step's ``score`` (0-100) is the StepOutput's reward."""

    score_scale = 100.0

    def reset(self, idx: int) -> None:
        response = self._post("reset", {"data_idx": idx})
        self.observation = response["task_description"] + "\n" + response["observation"]

    def step(self, reply: str) -> StepOutput:
        response = self._post("step", {"action": parse_react(reply.removesuffix("</s>"))})
        return StepOutput(response["observation"], response["score"], response["done"])


class MazeClient(ObservationClient):
    """agentenv/envs/lmrlgym.py, MazeEnvClient: the prompt is the client's own preamble, a newline
    and the reset observation; the action is what follows the first "Action:"."""

    PREAMBLE = "(the client's fixed maze preamble)"

    def reset(self, idx: int) -> None:
        self.observation = self.PREAMBLE + "\n" + self._post("reset", {"game": idx})["observation"]

    def prompt_from(self, first_observation: str, env: gym.Env) -> str:
        return self.PREAMBLE + "\n" + first_observation

    def step(self, reply: str) -> StepOutput:
        parts = reply.removesuffix("</s>").split("Action:")
        response = self._post("step", {"action": (parts[1] if len(parts) > 1 else parts[0]).strip()})
        return StepOutput(response["observation"], response["reward"], response["done"])


class WordleClient(MazeClient):
    """agentenv/envs/lmrlgym.py, WordleEnvClient: after /create it reads /filtered_vocab, and its
    prompt is its own preamble listing that vocabulary (the reset reply is not shown)."""

    PREAMBLE = "(the client's fixed wordle preamble, then the vocabulary:)\n{vocab}"

    def create(self) -> int:
        env_id = super().create()
        reply = self.http.get(f"{self.base}/filtered_vocab?id={env_id}")
        assert reply.status_code == 200, reply.text
        self.vocab = reply.json()
        return env_id

    def reset(self, idx: int) -> None:
        self._post("reset", {"seed": idx})
        self.observation = self.PREAMBLE.replace("{vocab}", "\n".join(self.vocab))

    def prompt_from(self, first_observation: str, env: gym.Env) -> str:
        return self.PREAMBLE.replace("{vocab}", "\n".join(env.unwrapped.vocabulary()))


class EnvIdxClient(AgentGymClient):
    """The env_idx clients: /create answers a bare int and the prompt is GET /observation."""

    id_key = "env_idx"
    reset_field = "id"

    def create(self) -> int:
        reply = self.http.post(f"{self.base}/create")
        assert reply.status_code == 200, reply.text
        return reply.json()

    def reset(self, idx: int) -> None:
        self._post("reset", {self.reset_field: idx})

    def observe(self) -> str:
        return self._get("observation")


class ToolClient(EnvIdxClient):
    """agentenv/envs/{todo,sheet,weather,movie,academia}.py: /create is sent {"id": 0}, /reset
    {"id": idx}, and the model's reply goes to /step as it is."""

    def create(self) -> int:
        reply = self.http.post(f"{self.base}/create", json={"id": 0})
        assert reply.status_code == 200, reply.text
        return reply.json()

    def step(self, reply: str) -> StepOutput:
        response = self._post("step", {"action": reply})
        return StepOutput(response["observation"], response["reward"], response["done"])


class WebShopClient(EnvIdxClient):
    """agentenv/envs/webshop.py: /reset takes a session id (its reply's item 0 is overwritten with
    the observation), the action is ``parse_react``'s, and a step is read as ``state``."""

    def reset(self, idx: int) -> None:
        response = self._post("reset", {"session_id": idx})
        response[0] = self.observe()

    def step(self, reply: str) -> StepOutput:
        response = self._post("step", {"action": parse_react(reply.removesuffix("</s>"))})
        return StepOutput(response["state"], response["reward"], response["done"])


class SQLGymClient(EnvIdxClient):
    """agentenv/envs/sqlgym.py: /reset takes the item id; the query is the reply's ```sql block."""

    reset_field = "item_id"

    @staticmethod
    def reply(thought: str, action: str) -> str:
        return format_react(thought, f"```sql\n{action}\n```")

    def step(self, reply: str) -> StepOutput:
        response = self._post("step", {"action": reply.split("```sql")[-1].split("```")[0].strip()})
        return StepOutput(response["state"], response["reward"], response["done"])


class WebArenaClient(EnvIdxClient):
    """agentenv/envs/webarena.py: /create answers {"env_idx"}, /reset takes a seed and the task
    index, the reply goes to /step as it is (the client only checks that it holds a ``` block),
    and the episode ends when ``terminated`` says so, with the reward counted only then."""

    def create(self) -> int:
        reply = self.http.post(f"{self.base}/create")
        assert reply.status_code == 200, reply.text
        return reply.json()["env_idx"]

    def reset(self, idx: int) -> None:
        assert self._post("reset", {"seed": 0, "idx": idx})["observation"] != "TimeoutError"

    @staticmethod
    def reply(thought: str, action: str) -> str:  # WebArena's prompt asks for this shape
        summary = f"In summary, the next action I will perform is ```{action}```"
        return f"Let's think step-by-step. {thought} {summary}"

    def step(self, reply: str) -> StepOutput:
        assert re.findall(r"```(.*?)```", reply, re.DOTALL)
        response = self._post("step", {"action": reply})
        reward = response["reward"] if response["terminated"] else 0
        return StepOutput(response["observation"], reward, response["terminated"])


class SearchQAClient(ToolClient):
    """agentenv/envs/searchqa.py: /create is sent {"id": 0}, /reset {"id": idx} (its reply is not
    read: the prompt is GET /observation), and the model's raw reply goes to /step; the server finds
    the <search> or <answer> pair in it. The reply is written as Search-R1's models write one."""

    @staticmethod
    def reply(thought: str, action: str) -> str:
        return f"<think>{thought}</think>\n{action}"


class TextWorldClient(ObservationClient):
    reset_field = "game"


CLIENTS: dict[str, type] = {
    "BabyAI": BabyAIClient,
    "Maze": MazeClient,
    "Wordle": WordleClient,
    "TextCraft": TextCraftClient,
    "TODOList": ToolClient,
    "WebShop": WebShopClient,
    "BIRD": SQLGymClient,
    "Sheet": ToolClient,
    "Weather": ToolClient,
    "Movie": ToolClient,
    "Academia": ToolClient,
    "SciWorld": SciWorldClient,
    "ALFWorld": ALFWorldClient,
    "WebArena": WebArenaClient,
    "SearchQA": SearchQAClient,
}
# Families beyond AgentGym, which has no client for them: played the way its ReAct clients play.
NO_AGENTGYM_CLIENT: dict[str, type] = {"TextWorld": TextWorldClient}


def client_class(env_id: str) -> type:
    name = family(env_id).name
    if name.startswith("TWX-"):
        return ObservationClient
    return CLIENTS.get(name) or NO_AGENTGYM_CLIENT[name]


# ------------------------------------------------------------------------------ the episodes
@dataclass(frozen=True)
class ExpertStep:
    thought: str
    action: str
    observation: str
    done: bool


@dataclass(frozen=True)
class Episode:
    first: str
    steps: tuple[ExpertStep, ...]
    score: float


@functools.cache
def expert_episode(env_id: str, task_id: int, max_steps: int = 200) -> Episode:
    """The expert's episode in process, its actions sent as plain commands."""
    env = gym.make(env_id)
    first, info = env.reset(options={"task_id": task_id})
    steps = []
    for _ in range(max_steps):
        thought, action = env.unwrapped.expert()
        observation, _, terminated, truncated, info = env.step(action)
        steps.append(ExpertStep(thought, action, observation, terminated or truncated))
        if terminated or truncated:
            break
    env.close()
    return Episode(first, tuple(steps), info["score"])


def test_every_family_has_a_client():
    for env_id in env_ids():
        assert client_class(env_id) is not None


@pytest.mark.parametrize("env_id", env_ids())
def test_agentgym_client_plays_the_expert_episode_and_scores_it_as_in_process(server, env_id):
    fam = family(env_id)
    if fam.missing_engine():
        pytest.skip(fam.missing_engine())
    task_id = fam.splits.test[1]
    episode = expert_episode(env_id, task_id)
    local = gym.make(env_id)  # what the client's prompt is built from, in process
    local.reset(options={"task_id": task_id})
    with httpx.Client(timeout=120) as http:
        client = client_class(env_id)(server.base(env_id), http)
        client.reset(task_id)
        assert client.observe() == client.prompt_from(episode.first, local)
        output = None
        for expected in episode.steps:  # AgentGym's loop: step until done (the expert's episode ends)
            output = client.step(client.reply(expected.thought, expected.action))
            assert (output.state, output.done) == (expected.observation, expected.done)
        assert output.done
        assert output.reward / client.score_scale == pytest.approx(episode.score)  # the LAST step's reward
        client.close()
    local.close()


def test_webarena_client_sees_the_round_limit_end_the_episode(server):
    """AgentGym's WebArena client reads only ``terminated``: at the round limit it must be told
    the episode ended, or it steps again into a 409."""
    env_id = "AgentGym/WebArena-v0"
    if family(env_id).missing_engine():
        pytest.skip(family(env_id).missing_engine())
    with httpx.Client(timeout=60) as http:
        client = WebArenaClient(server.base(env_id), http)
        client.reset(family(env_id).splits.test[0])
        outputs = [client.step(client.reply("I look further down.", "scroll [down]")) for _ in range(25)]
        assert [o.done for o in outputs] == [False] * 24 + [True]
        assert outputs[-1].reward == 0
        client.close()
