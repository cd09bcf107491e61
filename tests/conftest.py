"""Shared fixtures: a very small tiny-preset policy (built once per session into a temporary
cache, never the user's), expert Maze records, and a policy that BC taught one answer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Micro models gain nothing from a second thread, and on a busy 2-core machine two torch
# threads that wait on each other run 10x slower than one.
os.environ.setdefault("AGENTGYM_THREADS", "1")

# A micro Llama (~170k parameters, most in the shipped tokenizer's 2,362-token embeddings):
# every test that needs a model runs in well under a second.
MICRO_MODEL = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    num_key_value_heads=1,
    intermediate_size=64,
    max_position_embeddings=512,
)
TAUGHT_ANSWER = "Thought:\nThe goal is near.\n\nAction:\nmove up"

# The trainer's tests, where our code calls transformers, torch, tokenizers and peft. Their
# deprecation notices point at the caller's caller (often torch's Module.__call__), which
# setup.cfg's per-module rules cannot match, so here any of them fails the test.
TRAINER_TESTS = {
    "test_agentevol.py",
    "test_bc.py",
    "test_evaluate.py",
    "test_grpo.py",
    "test_models.py",
    "test_policy.py",
    "test_rollout.py",
    "test_train_loop.py",
    "test_trajectory.py",
}


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if item.path.name in TRAINER_TESTS:
            item.add_marker(pytest.mark.filterwarnings("error::FutureWarning"))
            item.add_marker(pytest.mark.filterwarnings("error::DeprecationWarning"))


@pytest.fixture(scope="session")
def tiny_policy_dir(tmp_path_factory) -> Path:
    """A saved micro tiny-preset policy; load it with ``LLMPolicy.load`` for a fresh copy."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from agentgym_rl.models import load_model

    cache = tmp_path_factory.mktemp("agentgym-cache")
    previous = os.environ.get("AGENTGYM_CACHE")
    os.environ["AGENTGYM_CACHE"] = str(cache)
    try:
        policy = load_model("tiny", seed=0, **MICRO_MODEL)
    finally:
        if previous is None:
            os.environ.pop("AGENTGYM_CACHE", None)
        else:
            os.environ["AGENTGYM_CACHE"] = previous
    return policy.save(tmp_path_factory.mktemp("tiny-policy") / "policy")


@pytest.fixture
def tiny_policy(tiny_policy_dir):
    """A fresh, untrained micro policy (tests may train or change it)."""
    from agentgym_rl.policy import LLMPolicy

    return LLMPolicy.load(tiny_policy_dir)


@pytest.fixture(scope="session")
def maze_records() -> list[dict]:
    from agentgym_envs.data import expert_trajectories

    records, _ = expert_trajectories("maze", "agenttraj", limit=24, progress=False)
    return records


def taught_records(count: int = 16) -> list[dict]:
    """Short episodes whose every action is TAUGHT_ANSWER."""
    records = []
    for index in range(count):
        records.append(
            {
                "item_id": f"lmrlgym_maze_{index}",
                "conversations": [
                    {"from": "human", "loss": None, "value": "You are in a maze. Reach the goal."},
                    {"from": "gpt", "loss": False, "value": "Ok."},
                    {"from": "human", "loss": None, "value": f"The goal is at ({index % 5}, {index % 3})."},
                    {"from": "gpt", "loss": True, "value": TAUGHT_ANSWER},
                ],
            }
        )
    return records


@pytest.fixture(scope="session")
def taught_policy_dir(tiny_policy_dir, tmp_path_factory) -> Path:
    """The micro policy after BC on :func:`taught_records`: it answers TAUGHT_ANSWER, then stops."""
    from agentgym_rl.bc import BCConfig, train_bc
    from agentgym_rl.policy import LLMPolicy

    policy = LLMPolicy.load(tiny_policy_dir)
    config = BCConfig(
        learning_rate=1e-2, epochs=60, batch_tokens=512, warmup_ratio=0.0, lr_schedule="constant"
    )
    train_bc(policy, taught_records(), config, progress=False)
    return policy.save(tmp_path_factory.mktemp("taught-policy") / "policy")
