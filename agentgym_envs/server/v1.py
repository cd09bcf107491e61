"""``/v1``: the project's own API, Gymnasium's calls over HTTP (what :class:`RemoteEnv` speaks).

``POST /v1/envs`` makes an env, ``/v1/envs/{id}/reset`` and ``/step`` answer Gymnasium's values by
name with the info dict, ``GET /v1/envs/{id}/expert`` asks the scripted expert, ``DELETE
/v1/envs/{id}`` frees the env, ``GET /v1/envs`` lists the served families with their splits.
Bodies and replies are the models below, so ``/openapi.json`` describes them.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from pydantic import BaseModel, Field

from agentgym_envs.registration import Family, family
from agentgym_envs.server.routes import Call, Route
from agentgym_envs.server.service import Service


class CreateRequest(BaseModel):
    env_id: str = Field(description="a served env, e.g. AgentGym/Maze-v0 (or maze)")
    split: str = Field("train", description="train, test, agenttraj or agenttraj_l")


class EnvCreated(BaseModel):
    id: int
    env_id: str
    split: str
    max_rounds: int
    max_observation_length: int
    max_action_length: int


class ResetRequest(BaseModel):
    seed: int | None = None
    task_id: int | None = Field(None, description="exactly this task (AgentGym item id <prefix>_<task_id>)")


class ResetResponse(BaseModel):
    observation: str
    info: dict[str, Any]


class StepRequest(BaseModel):
    action: str


class StepResponse(BaseModel):
    observation: str
    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, Any]


class ExpertResponse(BaseModel):
    thought: str
    action: str


class EnvList(BaseModel):
    families: list[dict[str, Any]]
    live: int


def routes(service: Service) -> list[Route]:
    def served(name: str) -> Family:
        try:
            fam = family(name)
        except ValueError as error:
            raise HTTPException(404, str(error)) from None
        if fam.name not in service.families:
            raise HTTPException(
                404, f"{fam.env_id} is not served here; served: {', '.join(service.families)}"
            )
        return fam

    async def list_envs(call: Call) -> EnvList:
        facts = [_family_facts(fam) for fam in service.families.values()]
        return EnvList(families=facts, live=len(service.store))

    async def create(call: Call) -> EnvCreated:
        fam = served(call.body.env_id)
        session = await service.create(fam, split=call.body.split)
        env = session.env.unwrapped
        return EnvCreated(
            id=session.id,
            env_id=fam.env_id,
            split=env.split,
            max_rounds=fam.max_rounds,
            max_observation_length=env.max_observation_length,
            max_action_length=env.max_action_length,
        )

    async def reset(call: Call) -> dict[str, Any]:
        session = service.session(call.path["env_id"])
        observation, info = await service.reset(session, task_id=call.body.task_id, seed=call.body.seed)
        return {"observation": observation, "info": info}  # ResetResponse, without copying info

    async def step(call: Call) -> dict[str, Any]:
        observation, reward, terminated, truncated, info = await service.step(
            service.session(call.path["env_id"]), call.body.action
        )
        return {  # StepResponse
            "observation": observation,
            "reward": reward,
            "terminated": terminated,
            "truncated": truncated,
            "info": info,
        }

    async def expert(call: Call) -> ExpertResponse:
        thought, action = await service.expert(service.session(call.path["env_id"]))
        return ExpertResponse(thought=thought, action=action)

    async def close(call: Call) -> None:
        await service.close(call.path["env_id"])

    tag = "v1"
    return [
        Route("GET", "/v1/envs", list_envs, reply=EnvList, tag=tag, summary="the served families"),
        Route("POST", "/v1/envs", create, body=CreateRequest, reply=EnvCreated, status=201, tag=tag),
        Route("POST", "/v1/envs/{env_id}/reset", reset, body=ResetRequest, reply=ResetResponse, tag=tag),
        Route("POST", "/v1/envs/{env_id}/step", step, body=StepRequest, reply=StepResponse, tag=tag),
        Route("GET", "/v1/envs/{env_id}/expert", expert, reply=ExpertResponse, tag=tag),
        Route("DELETE", "/v1/envs/{env_id}", close, status=204, tag=tag, summary="free the env"),
    ]


def _family_facts(fam: Family) -> dict[str, Any]:
    splits = {name: list(fam.splits.ids(name)) for name in ("test", "agenttraj", "agenttraj_l", "train")}
    return {
        "env_id": fam.env_id,
        "item_prefix": fam.item_prefix,
        "max_rounds": fam.max_rounds,
        "splits": splits,
        "summary": fam.summary,
    }
