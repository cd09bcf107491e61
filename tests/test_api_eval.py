"""Evaluating a model behind an OpenAI-compatible API: faults, resume, usage, the key."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("httpx")
pytest.importorskip("uvicorn")

from fake_openai import FakeOpenAI  # noqa: E402

from agentgym_rl.api_policy import APIPolicy, GenerationError  # noqa: E402
from agentgym_rl.cli import main  # noqa: E402
from agentgym_rl.evaluate import evaluate  # noqa: E402
from agentgym_rl.rollout import RolloutConfig  # noqa: E402

SECRET = "sk-test-never-printed"


@pytest.fixture
def fake():
    server = FakeOpenAI(slow_seconds=2.0)
    server.url = server.start()
    yield server
    server.stop()


def policy_for(fake, **kwargs) -> APIPolicy:
    settings = dict(api_key_env="AGENTGYM_TEST_KEY", concurrency=8, timeout=1.0, backoff=0.01)
    return APIPolicy(fake.url, "fake-model", **(settings | kwargs))


def test_every_episode_ends_with_a_result_despite_faults(fake, monkeypatch):
    monkeypatch.setenv("AGENTGYM_TEST_KEY", SECRET)
    policy = policy_for(fake)
    results, records = evaluate(
        policy, ["maze"], limit=12, config=RolloutConfig(concurrency=12, max_new_tokens=32), progress=False
    )
    policy.close()
    assert len(records) == 12 and all("error" not in r for r in records)
    assert policy.usage.retries > 0  # the faults happened and were retried
    replies = sum(t["from"] == "gpt" and t["loss"] for r in records for t in r["conversations"])
    assert policy.usage.completion_tokens == 9 * replies  # usage of every reply received, once
    assert policy.usage.requests == fake.requests
    assert fake.keys == {f"Bearer {SECRET}"}
    assert results["AgentGym/Maze-v0"].episodes == 12


def test_a_request_that_keeps_failing_is_a_recorded_error():
    steady = FakeOpenAI(faults=False)
    steady.url = steady.start()
    policy = policy_for(steady, max_retries=2)
    prompts = [[{"role": "user", "content": "NEVER-ANSWER"}], [{"role": "user", "content": "(0, 1)"}]]
    replies = policy.generate(prompts)
    policy.close()
    steady.stop()
    assert isinstance(replies[0], GenerationError) and replies[0].error == "HTTP 503"
    assert "Action:" in replies[1] and policy.usage.failures == 1


def test_an_interrupted_evaluation_resumes_where_it_stopped(fake, tmp_path):
    episodes = tmp_path / "results.episodes.jsonl"
    policy = policy_for(fake)
    config = RolloutConfig(concurrency=2, max_new_tokens=32)

    class Interrupted(Exception):
        pass

    calls = {"n": 0}
    original = policy.generate

    def generate_then_stop(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 20:  # Ctrl-C after some episodes have ended
            raise Interrupted
        return original(*args, **kwargs)

    policy.generate = generate_then_stop
    with pytest.raises(Interrupted):
        evaluate(policy, ["maze"], limit=6, config=config, progress=False, episodes_file=episodes)
    partial = episodes.with_suffix(".partial.jsonl").read_text().splitlines()
    assert 0 < len(partial) < 6
    policy.generate = original
    requests_before = fake.requests
    _, records = evaluate(policy, ["maze"], limit=6, config=config, progress=False, episodes_file=episodes)
    policy.close()
    assert [r["item_id"] for r in records] == [f"lmrlgym_maze_{i}" for i in range(6)]
    assert [json.loads(line) for line in partial] == [r for r in records if r in map(json.loads, partial)]
    assert fake.requests > requests_before and not episodes.with_suffix(".partial.jsonl").exists()


def test_agentgym_eval_api_writes_results_and_usage_without_the_key(fake, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AGENTGYM_TEST_KEY", SECRET)
    out = tmp_path / "api" / "results.json"
    argv = ["eval", "--api_base", fake.url, "--model", "fake-model", "--api_key_env", "AGENTGYM_TEST_KEY"]
    argv += ["--envs", "maze", "--limit", "4", "--out", str(out), "--quiet", "--api_timeout", "1"]
    argv += ["--api_backoff", "0.01"]
    assert main(argv) == 0
    printed = capsys.readouterr()
    usage = json.loads(out.with_suffix(".usage.json").read_text())
    assert usage["completion_tokens"] > 0 and usage["requests"] >= 4
    assert "AgentGym/Maze-v0" in json.loads(out.read_text())
    written = "".join(p.read_text() for p in out.parent.iterdir())
    assert SECRET not in printed.out + printed.err + written
