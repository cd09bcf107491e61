"""AgentGym's HTTP protocol: the routes each of AgentGym's env servers offers, for every served family.

A family served alone sits at ``/``; with others, under ``/<name>/`` (``/maze/create``,
``/wordle/step``), as AgentGym's multi-family servers do. AgentGym's clients
(``agentenv/agentenv/envs/*.py``) work unchanged against these routes: what differs between
AgentGym's servers is read from the family's registration (:class:`~agentgym_envs.registration.Family`),
so a new family is served with no code here:

- ``id_key``: the env id key of every body and query (``id`` or ``env_idx``);
- ``create_reply``: ``/create`` answers a bare int, ``{id_key: n}``, or (TextCraft's) the id with a
  started episode's observation;
- ``reset_field``: the task field of ``/reset`` (``data_idx``, ``game``, ``session_id``, ...);
- ``reset_reply``: how ``/reset`` carries the first observation so that the client's own first
  prompt comes out as the env's first observation (SciWorld's client joins ``task_description``
  and ``observation``; ALFWorld's appends ``AVAILABLE ACTIONS``);
- ``step_reward`` and ``score_scale``: what ``reward`` and ``score`` carry. AgentGym's evaluator
  scores an episode by its last step's ``reward`` (or ``score`` where the client returns that), so
  ``reward`` is the score so far unless the family's server sends the step's gain.

Every reply carries every key any of AgentGym's clients reads (``observation`` and ``state``,
``reward``, ``score``, ``done``, ``available_actions``, ``task_description``). ``terminated`` is
``done``: AgentGym's WebArena client reads only ``terminated``, and AgentGym's servers never
truncate an episode (the round limit ends it here, and its client must see that it ended).

Where AgentGym's servers answer 200 with an ``error`` field, these routes use real status codes
(see :mod:`agentgym_envs.server.service`).
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException

from agentgym_envs.registration import Family
from agentgym_envs.server.routes import Call, Route, int_field
from agentgym_envs.server.service import Service

# The line ALFWorld's client appends to the reset observation (agentenv/envs/alfworld.py, observe).
AVAILABLE_ACTIONS = "\nAVAILABLE ACTIONS: "


def routes(service: Service) -> list[Route]:
    families = list(service.families.values())
    table: list[Route] = []
    for fam in families:
        prefix = "" if len(families) == 1 else f"/{fam.name.lower()}"
        table += family_routes(service, fam, prefix)
    return table


def family_routes(service: Service, fam: Family, prefix: str) -> list[Route]:
    """AgentGym's routes for one family: create, reset, step, observation, available_actions,
    filtered_vocab (where the env has a vocabulary) and close."""

    def session(data, key: str = fam.id_key):
        return service.session(int_field(data, key), fam)

    async def create(call: Call) -> Any:
        # The body is free: the tool clients send {"id": 0}, TextCraft's its recipe folder.
        created = await service.create(fam)
        if fam.create_reply == "int":
            return created.id
        if fam.create_reply == "object":
            return {fam.id_key: created.id}
        # AgentGym's TextCraft server starts a task at once (task = env id); so does this one.
        observation, info = await service.reset(created, seed=created.id)
        return {fam.id_key: created.id, **reset_reply(fam, observation, info)}

    async def reset(call: Call) -> dict[str, Any]:
        task = call.body.get(fam.reset_field)
        task_id = None if task is None else int_field(call.body, fam.reset_field)
        observation, info = await service.reset(session(call.body), task_id=task_id)
        return reset_reply(fam, observation, info)

    async def step(call: Call) -> dict[str, Any]:
        if not isinstance(call.body.get("action"), str):
            raise HTTPException(422, "the body needs a string 'action'")
        observation, reward, terminated, truncated, info = await service.step(
            session(call.body), call.body["action"]
        )
        if fam.step_reward == "score":
            reward = info.get("score", 0.0)
        done = terminated or truncated
        reply = state_reply(fam, observation, reward * fam.score_scale, done, info)
        return {**reply, "terminated": done, "truncated": truncated}

    async def observation(call: Call) -> str:
        return session(call.query).observation

    async def available_actions(call: Call) -> dict[str, Any]:
        actions = session(call.query).info.get("available_actions")
        clickables = [a[6:-1] for a in actions or [] if a.startswith("click[") and a.endswith("]")]
        has_search_bar = any(a.startswith("search[") for a in actions or [])
        return {"available_actions": actions, "has_search_bar": has_search_bar, "clickables": clickables}

    async def filtered_vocab(call: Call) -> list[str]:
        env = session(call.query).env.unwrapped
        if not callable(getattr(env, "vocabulary", None)):
            raise HTTPException(404, f"{fam.env_id} has no vocabulary")
        return list(env.vocabulary())

    async def close(call: Call) -> dict[str, int]:
        session_id = int_field(call.body, fam.id_key)
        await service.close(session_id, fam)
        return {"closed": session_id}

    tag = f"AgentGym protocol: {fam.name}"
    query = (fam.id_key,)
    return [
        Route("POST", f"{prefix}/create", create, tag=tag, summary="make an env"),
        Route(
            "POST",
            f"{prefix}/reset",
            reset,
            tag=tag,
            summary=f"start a task (body: {fam.id_key}, {fam.reset_field})",
        ),
        Route("POST", f"{prefix}/step", step, tag=tag, summary=f"act (body: {fam.id_key}, action)"),
        Route(
            "GET", f"{prefix}/observation", observation, query=query, tag=tag, summary="the last observation"
        ),
        Route("GET", f"{prefix}/available_actions", available_actions, query=query, tag=tag),
        Route("GET", f"{prefix}/filtered_vocab", filtered_vocab, query=query, tag=tag),
        Route("POST", f"{prefix}/close", close, tag=tag, summary="free the env"),
    ]


def state_reply(fam: Family, observation: str, reward: float, done: bool, info: dict) -> dict[str, Any]:
    """Every key any AgentGym client reads after a reset or a step."""
    return {
        "observation": observation,
        "state": observation,  # WebShop's and SQLGym's clients read "state"
        "reward": reward,
        "score": info.get("score", 0.0) * fam.score_scale,
        "done": done,
        "available_actions": info.get("available_actions"),
        "task_description": "",
        "info": info,
    }


def reset_reply(fam: Family, observation: str, info: dict) -> dict[str, Any]:
    """The reply to a reset, with the first observation split as the family's client rebuilds it."""
    reply = state_reply(fam, observation, 0.0, False, info)
    if fam.reset_reply == "task_apart":
        reply["task_description"], _, reply["observation"] = observation.partition("\n")
    elif fam.reset_reply == "actions_apart":
        listed = f"{AVAILABLE_ACTIONS}{','.join(info.get('available_actions') or ())}"
        reply["observation"] = observation.removesuffix(listed)
    return reply
