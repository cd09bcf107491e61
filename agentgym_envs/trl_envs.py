"""Every AgentGym id as an environment for TRL's ``GRPOTrainer(environment_factory=...)``.

TRL (1.16) makes one instance per rollout with a no-argument constructor, calls
``reset(**row)`` with the dataset row (the text it returns is the prompt's user turn), exposes
every other public method as a tool (read from its signature and its Google-style docstring)
and scores the rollout with ``get_reward()``::

    from trl import GRPOConfig, GRPOTrainer
    from agentgym_envs.trl_envs import AgentGymMaze, trl_dataset

    trainer = GRPOTrainer(
        model="Qwen/Qwen3-0.6B",
        args=GRPOConfig(max_completion_length=1024, num_generations=8),
        train_dataset=trl_dataset("maze", split="train"),   # prompt, task_id, split
        environment_factory=AgentGymMaze,
    )

The classes are made from each family's tools (:mod:`agentgym_envs.toolcalls`), one source for
TRL, API models and MCP: ``AgentGymMaze.move(direction)``, ``AgentGymWebShop.search(query)`` /
``click(target)``, ``AgentGymBabyAI.act(command)``, ... (:func:`trl_env_class` makes the class of
any id; ``agentgym_envs.trl_envs.AgentGym<Name>`` names them). ``reset(task_id=..., split=...)``
starts exactly that task, so a GRPO group (one dataset row repeated) starts from one state.

A call is the env's own text action, so it counts as one of the env's rounds (AgentGym's max
rounds end the episode) and the env answers it as it answers any action: a bad call (a missing or
wrongly typed argument) gets a message saying what was wrong and uses up its round, as a malformed
ReAct reply does; nothing a model sends raises out of the trainer. After the episode ends, a call
is answered with a message saying so, and the env is not touched.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import re
from typing import Any, ClassVar

import gymnasium as gym

from agentgym_envs.formats import MalformedAction, ToolCallFormat
from agentgym_envs.registration import FAMILIES, family, parse_item_id, resolve_env_id, short_name
from agentgym_envs.splits import normalise_split
from agentgym_envs.toolcalls import ToolCallError, ToolSpec, toolset

CLASS_PREFIX = "AgentGym"
# What TRL reads itself, so no tool may have these names.
RESERVED = frozenset({"reset", "get_reward"})
RETURNS = "The environment's answer: the next observation, or why the call was not carried out."
_FORMAT = ToolCallFormat(native_tools=True)  # TRL puts the tools in the chat template itself


class AgentGymTRLEnv:
    """One AgentGym env as TRL's ``environment_factory`` wants it (see the module docstring).

    Subclasses (made by :func:`trl_env_class`) set ``env_id`` and get one method per tool. The
    Gymnasium env (with AgentGym's round limit) is made at the first ``reset``, so the instance
    TRL builds only to read the tools starts no engine."""

    env_id: ClassVar[str] = ""
    make_kwargs: ClassVar[dict[str, Any]] = {}

    def __init__(self) -> None:
        self._env: gym.Env | None = None
        self._info: dict[str, Any] = {}
        self._over = False

    def reset(
        self,
        task_id: int | None = None,
        split: str | None = None,
        item_id: str | None = None,
        seed: int | None = None,
        **row: Any,
    ) -> str:
        """Start a task: ``task_id`` (or AgentGym's ``item_id``), else the ``seed``-th task of
        ``split``. Returns the instruction and the first observation. Other row fields (``prompt``)
        are TRL's and are ignored."""
        task_id = self._task_of(task_id, split, item_id, seed)
        if self._env is None:
            self._env = gym.make(self.env_id, **self.make_kwargs)
        observation, self._info = self._env.reset(options={"task_id": task_id})
        self._over = False
        return f"{_FORMAT.instruction(self.env_id, self._info['instruction'])}\n\n{observation}"

    def get_reward(self) -> float:
        """The episode's score so far (its final score once it has ended), in [0, 1]."""
        return float(self._info.get("score", 0.0))

    # ------------------------------------------------------------------ what the tools do
    def _act(self, tool: str, arguments: dict[str, Any]) -> str:
        if self._env is None:
            return "No episode is running: the environment has not been reset."
        if self._over:
            return f"The episode is over ({self._ending()}); this call was not carried out."
        try:
            command = toolset(self.env_id).action(tool, arguments)
        except ToolCallError as error:
            command = MalformedAction("", str(error))  # the env explains it and counts the round
        observation, _, terminated, truncated, self._info = self._env.step(command)
        if terminated or truncated:
            self._over = True
            limit = " (the step limit was reached)" if truncated and not terminated else ""
            observation = f"{observation}\n\nThe episode has ended{limit}: {self._ending()}."
        return observation

    def _ending(self) -> str:
        verdict = "the task is done" if self._info.get("success") else "the task was not done"
        return f"{verdict}, score {self.get_reward():g}"

    def _task_of(self, task_id: Any, split: str | None, item_id: str | None, seed: int | None) -> int:
        if item_id is not None:
            named_env, named_task = parse_item_id(item_id)
            if named_env != self.env_id or task_id not in (None, named_task):
                raise ValueError(f"item id {item_id!r} is not task {task_id} of {self.env_id}")
            task_id = named_task
        if task_id is None:
            if seed is None:
                raise ValueError(
                    f"{type(self).__name__}.reset needs a task_id (or item_id, or a seed and a split): "
                    "build the dataset with agentgym_envs.trl_envs.trl_dataset"
                )
            ids = family(self.env_id).splits.ids(normalise_split(split or "train"))
            return ids[int(seed) % len(ids)]
        return int(task_id)

    def __del__(self) -> None:
        # TRL keeps its instances for the whole run and has no close hook: engines (JVMs,
        # subprocesses) are released when an instance goes.
        env = getattr(self, "_env", None)
        if env is not None:
            with contextlib.suppress(Exception):  # at interpreter exit an engine may be gone already
                env.close()


def trl_env_class(env: str, **make_kwargs: Any) -> type[AgentGymTRLEnv]:
    """The TRL environment class of an env (``"maze"``, ``"AgentGym/Maze-v0"``): one method per
    tool of :func:`agentgym_envs.toolcalls.toolset`. ``make_kwargs`` go to ``gym.make`` (e.g.
    WebShop's ``products=``)."""
    cls = _env_class(resolve_env_id(env))
    if not make_kwargs:
        return cls
    return type(cls.__name__, (cls,), {"make_kwargs": dict(make_kwargs), "__module__": __name__})


@functools.cache
def _env_class(env_id: str) -> type[AgentGymTRLEnv]:
    name = class_name(env_id)
    namespace: dict[str, Any] = {
        "env_id": env_id,
        "__module__": __name__,
        "__qualname__": name,
        "__doc__": f"{env_id} for TRL's GRPOTrainer(environment_factory=...): its tools are methods.",
    }
    for tool in toolset(env_id):
        if tool.name in RESERVED or tool.name.startswith("_") or hasattr(AgentGymTRLEnv, tool.name):
            raise ValueError(f"{env_id}: a tool cannot be called {tool.name!r} (TRL reads that name itself)")
        namespace[tool.name] = _tool_method(tool, name)
    return type(name, (AgentGymTRLEnv,), namespace)


def _tool_method(tool: ToolSpec, owner: str):
    """A method with the tool's real signature, type hints and Google-style docstring, which
    is what TRL (through transformers' ``get_json_schema``) reads the tool's schema from."""

    def call(self: AgentGymTRLEnv, **arguments: Any) -> str:
        return self._act(tool.name, arguments)

    parameters = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    for param in tool.params:
        default = inspect.Parameter.empty if param.required else param.default
        parameters.append(
            inspect.Parameter(
                param.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=param.annotation()
            )
        )
    call.__signature__ = inspect.Signature(parameters, return_annotation=str)
    call.__annotations__ = {param.name: param.annotation() for param in tool.params} | {"return": str}
    call.__name__ = tool.name
    call.__qualname__ = f"{owner}.{tool.name}"
    call.__doc__ = _docstring(tool)
    return call


def _docstring(tool: ToolSpec) -> str:
    lines = [_one_line(tool.description), ""]
    if tool.params:
        lines.append("Args:")
        for param in tool.params:
            choices = f" (choices: {list(param.enum)!r})".replace("'", '"') if param.enum else ""
            lines.append(f"    {param.name}: {_one_line(param.description)}{choices}")
        lines.append("")
    lines += ["Returns:", f"    {RETURNS}"]
    return "\n".join(lines)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def class_name(env: str) -> str:
    """``"AgentGym/TWX-CookingWorld-v0"`` -> ``"AgentGymTWXCookingWorld"``."""
    return CLASS_PREFIX + re.sub(r"\W", "", short_name(resolve_env_id(env)))


def __getattr__(name: str) -> type[AgentGymTRLEnv]:
    """``agentgym_envs.trl_envs.AgentGymMaze`` and the like, made on first use."""
    for fam in FAMILIES.values():
        if class_name(fam.env_id) == name:
            return _env_class(fam.env_id)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ------------------------------------------------------------------------------ datasets
def trl_dataset(envs: str | list[str], split: str = "train", limit: int | None = None):
    """A ``datasets.Dataset`` of one row per task of ``split``: ``prompt`` (an empty user turn,
    which ``reset`` fills with the task), ``task_id`` and ``split``. With several envs each row
    also names its ``environment`` (the env's short name), for ``environment_factory=``
    :func:`trl_environments` (TRL's multi-environment mode). ``limit``: the first ``limit`` tasks
    of each env."""
    from datasets import Dataset

    names = [envs] if isinstance(envs, str) else list(envs)
    split = normalise_split(split)
    rows: dict[str, list] = {"prompt": [], "task_id": [], "split": []}
    if len(names) > 1:
        rows["environment"] = []
    for name in names:
        ids = list(family(name).splits.ids(split))[:limit]
        rows["prompt"] += [[{"role": "user", "content": ""}] for _ in ids]
        rows["task_id"] += ids
        rows["split"] += [split] * len(ids)
        if len(names) > 1:
            rows["environment"] += [short_name(resolve_env_id(name))] * len(ids)
    return Dataset.from_dict(rows)


def trl_environments(envs: list[str]) -> dict[str, type[AgentGymTRLEnv]]:
    """``{short name: class}`` for TRL's multi-environment ``environment_factory``, matching the
    ``environment`` column of :func:`trl_dataset` for the same envs."""
    return {short_name(resolve_env_id(name)): trl_env_class(name) for name in envs}


__all__ = ["AgentGymTRLEnv", "class_name", "trl_dataset", "trl_env_class", "trl_environments"]
