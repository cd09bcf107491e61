"""The batched rollout engine and its prefix cache."""

from __future__ import annotations

import re

import pytest

from agentgym_envs.formats import format_react
from agentgym_rl.rollout import Job, RolloutConfig, RolloutStats, make_jobs, rollout
from agentgym_rl.trajectory import to_messages


class Scripted:
    """A fake policy: walks the maze by the rule "try up, then right, then down, then left,
    whichever the last observation does not call a wall", deterministic in the prompt only.
    Records the size of every batch it is asked for."""

    def __init__(self, malformed_first: bool = False):
        self.batches: list[int] = []
        self.malformed_first = malformed_first

    def generate(self, prompts, **kwargs):
        self.batches.append(len(prompts))
        return [self.reply(messages) for messages in prompts]

    def reply(self, messages) -> str:
        if self.malformed_first and len(messages) == 3:
            return "I think I should go up."  # no 'Action:' line
        last = messages[-1]["content"]
        walls = re.search(r"There are walls ([^.]*)\.", last)
        blocked = walls.group(1) if walls else ""
        words = {"up": "above", "right": "right", "down": "below", "left": "left"}
        for direction, word in words.items():
            if word not in blocked:
                return format_react(f"Nothing blocks {direction}.", f"move {direction}")
        return format_react("Walled in.", "move up")


def conversation_roles(record):
    return [turn["from"] for turn in record["conversations"]]


def test_records_follow_the_agenttraj_layout():
    records = rollout(Scripted(), make_jobs(["maze"], [0, 1, 2]), progress=False)
    assert [r["item_id"] for r in records] == ["lmrlgym_maze_0", "lmrlgym_maze_1", "lmrlgym_maze_2"]
    for record in records:
        turns = record["conversations"]
        assert turns[1] == {"from": "gpt", "loss": False, "value": "Ok."}
        assert turns[0]["from"] == turns[2]["from"] == "human" and "maze" in turns[0]["value"]
        roles = conversation_roles(record)
        assert roles[3:] == ["gpt", "human"] * ((len(roles) - 4) // 2) + ["gpt"]  # ends on a reply
        assert all(t["loss"] is True for t in turns[3:] if t["from"] == "gpt")
        assert isinstance(record["reward"], float) and isinstance(record["success"], bool)
        assert record["success"] == (record["reward"] >= 1.0)


def test_the_batch_stays_full_while_jobs_wait():
    policy = Scripted()
    rollout(policy, make_jobs(["maze"], range(10)), RolloutConfig(concurrency=4), progress=False)
    # Finished episodes are replaced at once, so only the tail of the run has smaller batches.
    assert max(policy.batches) == 4
    full_until = next((i for i, size in enumerate(policy.batches) if size < 4), len(policy.batches))
    assert full_until >= len(policy.batches) // 2
    assert sorted(policy.batches[full_until:], reverse=True) == policy.batches[full_until:]


def test_a_malformed_reply_becomes_an_explained_observation_and_uses_a_round():
    stats = RolloutStats()
    config = RolloutConfig(max_rounds=3)
    [record] = rollout(
        Scripted(malformed_first=True), [Job("AgentGym/Maze-v0", 0)], config, stats=stats, progress=False
    )
    turns = record["conversations"]
    # Kept verbatim; the wasted step earned nothing.
    assert turns[3] == {"from": "gpt", "loss": True, "value": "I think I should go up.", "reward": 0.0}
    assert turns[4]["from"] == "human" and turns[4]["value"].startswith("Invalid response format")
    assert "Action:" in turns[4]["value"]  # it says what is expected
    assert sum(t["from"] == "gpt" and t["loss"] for t in turns) <= 3  # the round limit counts it
    assert stats.malformed == 1


def test_the_round_limit_is_the_envs_own():
    class Stubborn:
        def generate(self, prompts, **kwargs):
            return [format_react("", "move nowhere")] * len(prompts)

    [record] = rollout(Stubborn(), [Job("AgentGym/Maze-v0", 0)], progress=False)
    assert sum(t["from"] == "gpt" and t["loss"] for t in record["conversations"]) == 15  # AgentGym's Maze
    assert record["reward"] == 0.0 and not record["success"]


def test_jobs_can_mix_envs_and_samples():
    pytest.importorskip("wordle", reason="Wordle needs the wordle extra")
    jobs = make_jobs(["maze", "wordle"], {"maze": [0, 1], "wordle": [0]}, samples=2)
    assert [(j.env_id.split("/")[1], j.task_id, j.sample) for j in jobs] == [
        ("Maze-v0", 0, 0),
        ("Maze-v0", 0, 1),
        ("Maze-v0", 1, 0),
        ("Maze-v0", 1, 1),
        ("Wordle-v0", 0, 0),
        ("Wordle-v0", 0, 1),
    ]
    records = rollout(Scripted(), jobs, RolloutConfig(concurrency=3, max_rounds=2), progress=False)
    assert [(r["item_id"], r["sample"]) for r in records] == [
        ("lmrlgym_maze_0", 0),
        ("lmrlgym_maze_0", 1),
        ("lmrlgym_maze_1", 0),
        ("lmrlgym_maze_1", 1),
        ("lmrlgym_wordle_0", 0),
        ("lmrlgym_wordle_0", 1),
    ]
    assert (
        "Wordle" in records[-1]["conversations"][0]["value"]
        or "word" in records[-1]["conversations"][0]["value"]
    )


def test_on_episode_sees_every_record_as_it_ends():
    seen = []
    records = rollout(
        Scripted(),
        make_jobs(["maze"], range(5)),
        RolloutConfig(concurrency=2),
        on_episode=lambda index, record: seen.append((index, record["item_id"])),
        progress=False,
    )
    assert sorted(seen) == [(i, r["item_id"]) for i, r in enumerate(records)]


# ------------------------------------------------------------------------------ real model
GREEDY = dict(max_new_tokens=16, temperature=0.0)


def test_batched_greedy_rollouts_equal_one_episode_at_a_time(tiny_policy):
    """The untrained micro model writes arbitrary text, so every token of every reply must
    match for the trajectories to match: batching, padding and the KV cache change nothing."""
    tiny_policy.model.double()  # see test_policy.py: no near tie that rounding could flip
    jobs = make_jobs(["maze"], range(6))
    one_at_a_time = rollout(
        tiny_policy, jobs, RolloutConfig(concurrency=1, prefix_cache=False, **GREEDY), progress=False
    )
    batched_plain = rollout(
        tiny_policy, jobs, RolloutConfig(concurrency=4, prefix_cache=False, **GREEDY), progress=False
    )
    batched_cached = rollout(
        tiny_policy, jobs, RolloutConfig(concurrency=4, prefix_cache=True, **GREEDY), progress=False
    )
    assert batched_plain == one_at_a_time
    assert batched_cached == one_at_a_time


def test_taught_policy_batched_equals_sequential(taught_policy_dir):
    from agentgym_rl.policy import LLMPolicy

    policy = LLMPolicy.load(taught_policy_dir)
    jobs = make_jobs(["maze"], range(5))
    sequential = rollout(
        policy, jobs, RolloutConfig(concurrency=1, prefix_cache=False, **GREEDY), progress=False
    )
    batched = rollout(policy, jobs, RolloutConfig(concurrency=5, **GREEDY), progress=False)
    assert batched == sequential
    assert sequential[0]["conversations"][3]["value"].endswith("move up")


def test_sampling_repeats_given_the_seed(tiny_policy):
    jobs = make_jobs(["maze"], range(4))

    def sample(seed):
        config = RolloutConfig(concurrency=4, temperature=1.0, max_new_tokens=8, seed=seed, max_rounds=3)
        return rollout(tiny_policy, jobs, config, progress=False)

    first, again, other = sample(1), sample(1), sample(2)
    assert first == again
    assert first != other


def test_prefix_cache_reuses_the_conversation_so_far(tiny_policy):
    from agentgym_rl.prefix_cache import PrefixCachedGenerator

    tiny_policy.model.double()  # see test_policy.py: no near tie that rounding could flip
    cached = PrefixCachedGenerator(tiny_policy)
    conversations = [
        [
            {"role": "user", "content": "You are in a maze."},
            {"role": "assistant", "content": "Ok."},
            {"role": "user", "content": f"The goal is at ({row}, 2)."},
        ]
        for row in range(3)
    ]
    for _ in range(3):  # three rounds: each appends the reply and a new observation
        expected = tiny_policy.generate(conversations, max_new_tokens=10)
        replies = cached.generate(list(range(3)), conversations, max_new_tokens=10)
        assert replies == expected
        for row, reply in enumerate(replies):
            conversations[row] += [
                {"role": "assistant", "content": reply},
                {"role": "user", "content": f"You moved; now at ({row}, 1)."},
            ]
    assert cached.reused_tokens > cached.prompt_tokens  # most of each prompt came from the cache
    cached.forget(0)
    assert set(cached.sessions) == {1, 2}


def test_a_cache_miss_is_prefilled_apart_from_the_hits_with_the_same_replies(tiny_policy):
    from agentgym_rl.prefix_cache import PrefixCachedGenerator, similar_new_lengths

    assert similar_new_lengths([30, 900, 40, 0, 1000]) == [[3, 0, 2], [1, 4]]
    tiny_policy.model.double()  # see test_policy.py: no near tie that rounding could flip
    cached = PrefixCachedGenerator(tiny_policy)
    short = [[{"role": "user", "content": f"The goal is at ({row}, 2)."}] for row in range(2)]
    first = cached.generate([0, 1], short, max_new_tokens=6)
    for row, reply in enumerate(first):
        short[row] += [{"role": "assistant", "content": reply}, {"role": "user", "content": "You moved."}]
    # Session 2 is new and long: its whole prompt is prefilled, the others' only their new turn.
    long_ = [{"role": "user", "content": " ".join(["You see a wall to the north."] * 40)}]
    conversations = short + [long_]
    batches = []
    run_rows = cached._generate_rows
    cached._generate_rows = lambda keys, *args: batches.append(keys) or run_rows(keys, *args)
    replies = cached.generate([0, 1, 2], conversations, max_new_tokens=6)
    assert batches == [[0, 1], [2]]
    assert replies == tiny_policy.generate(conversations, max_new_tokens=6)
    assert [len(cached.sessions[key].ids) for key in (0, 1, 2)] == [
        len(tiny_policy.encode_prompt(c, reserve=6)) + len(r.token_ids) - 1
        for c, r in zip(conversations, replies)
    ]


def test_prefix_cache_only_for_models_whose_layout_it_knows(tiny_policy):
    from transformers import GPT2Config, GPT2LMHeadModel, MistralConfig

    from agentgym_rl.prefix_cache import supports_prefix_cache

    assert supports_prefix_cache(tiny_policy.model)  # the tiny preset is a Llama
    gpt2 = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=8, n_head=2, vocab_size=50, n_positions=32))
    assert not supports_prefix_cache(gpt2)  # learned absolute positions: ordinary generate
    windowed = MistralConfig(sliding_window=64)
    assert not supports_prefix_cache(type("Model", (), {"config": windowed})())


def test_rollout_stats_account_for_the_time():
    stats = RolloutStats()
    rollout(
        Scripted(), make_jobs(["maze"], range(4)), RolloutConfig(concurrency=2), stats=stats, progress=False
    )
    assert stats.episodes == 4 and stats.turns >= 4 and stats.rounds >= 2
    assert 0 < stats.env_seconds <= stats.wall_seconds
    summary = stats.as_dict()
    assert {"tokens_per_second", "episodes_per_minute", "env_fraction"} <= set(summary)


def test_envs_in_ray_workers_give_the_same_trajectories_as_in_process(tiny_policy):
    pytest.importorskip("ray")
    jobs = make_jobs(["maze", "wordle"], [0, 1, 2, 3], samples=2)
    config = dict(concurrency=6, temperature=1.0, seed=3, max_new_tokens=24)
    in_process = rollout(tiny_policy, jobs, RolloutConfig(**config), progress=False)
    on_ray = rollout(tiny_policy, jobs, RolloutConfig(**config, rollout_workers=2), progress=False)
    assert on_ray == in_process


class Failing(Scripted):
    """Every other episode's replies cannot be had (an API that keeps failing for them)."""

    def generate(self, prompts, **kwargs):
        from agentgym_rl.api_policy import GenerationError

        replies = super().generate(prompts, **kwargs)
        return [
            GenerationError("HTTP 503") if "(0," in messages[2]["content"] else reply
            for messages, reply in zip(prompts, replies)
        ]


def test_an_episode_without_a_reply_ends_with_its_error_recorded():
    stats = RolloutStats()
    records = rollout(Failing(), make_jobs(["maze"], range(8)), stats=stats, progress=False)
    failed = [r for r in records if "error" in r]
    assert failed and all(r["error"] == "HTTP 503" and not r["success"] for r in failed)
    assert all(r["conversations"][-1]["from"] == "human" for r in failed)  # nothing invented
    assert stats.errors == len(failed) and len(records) == 8 and None not in records


@pytest.mark.parametrize(
    "bad",
    [
        {"concurrency": 0},
        {"max_new_tokens": 0},
        {"temperature": -0.1},
        {"top_p": 0.0},
        {"max_rounds": 0},
        {"rollout_workers": 2, "env_server": "http://127.0.0.1:9"},
    ],
)
def test_rollout_config_refuses_settings_that_cannot_play(bad):
    with pytest.raises(ValueError):
        RolloutConfig(**bad)


def test_each_rollout_gets_a_copy_with_its_own_decoding_and_budget():
    held = RolloutConfig(temperature=0.9, top_p=0.8, seed=1, max_rounds=4, env_server="http://127.0.0.1:9")
    greedy = held.for_rollout(greedy=True, max_new_tokens=7)
    assert (greedy.temperature, greedy.top_p, greedy.max_new_tokens) == (0.0, 1.0, 7)
    sampled = held.for_rollout(seed=5)
    assert (sampled.temperature, sampled.top_p, sampled.seed) == (0.9, 0.8, 5)
    for settings in (greedy, sampled):  # everything else as held
        assert (settings.max_rounds, settings.env_server) == (4, "http://127.0.0.1:9")
    assert (held.temperature, held.seed, held.max_new_tokens) == (0.9, 1, 96)  # the held one is untouched


def test_an_unresolved_reply_budget_is_refused_before_any_episode():
    from agentgym_rl.agentevol import EvolveRolloutConfig

    with pytest.raises(ValueError, match="max_new_tokens"):  # AgentEvol's 0: a budget not yet resolved
        rollout(Scripted(), make_jobs(["maze"], [0]), EvolveRolloutConfig(), progress=False)


# ------------------------------------------------------------------------------ what RL needs
def gpt_turns(record):
    """The trained gpt turns (one per env step), with the conversation before each."""
    turns = record["conversations"]
    return [(turns[:i], t) for i, t in enumerate(turns) if t["from"] == "gpt" and t["loss"]]


class ReplaysExpert:
    """A text-only policy that answers as the env's expert did on the same task (found by the
    opening turns), for its first ``rounds`` replies, then wastes its turns."""

    def __init__(self, env_id: str, task_ids, rounds: int = 99):
        import gymnasium as gym

        from agentgym_envs.data import expert_episode

        env = gym.make(env_id)
        self.replies = {}
        for task_id in task_ids:
            turns = expert_episode(env, task_id)["conversations"]
            self.replies[turns[0]["value"] + turns[2]["value"]] = [t["value"] for t in turns[3::2]]
        env.close()
        assert len(self.replies) == len(task_ids)
        self.rounds = rounds

    def generate(self, prompts, **kwargs):
        replies = []
        for messages in prompts:
            played = (len(messages) - 3) // 2
            script = self.replies[messages[0]["content"] + messages[2]["content"]]
            replies.append(script[played] if played < self.rounds else format_react("", "wait"))
        return replies


# BabyAI's 21-24 are levels of several steps (put next, unlock) whose score falls with the steps.
@pytest.mark.parametrize(
    "env_id, tasks", [("AgentGym/Maze-v0", [0, 1, 2, 3]), ("AgentGym/BabyAI-v0", [21, 22, 23, 24])]
)
def test_step_rewards_ride_on_the_gpt_turns_and_sum_to_the_episode_reward(env_id, tasks):
    from helpers import installed_or_skip

    installed_or_skip(env_id)
    solved = rollout(ReplaysExpert(env_id, tasks), make_jobs([env_id], tasks), progress=False)
    cut_short = rollout(ReplaysExpert(env_id, tasks, rounds=1), make_jobs([env_id], tasks), progress=False)
    assert all(r["success"] for r in solved) and not all(r["success"] for r in cut_short)
    for record in solved + cut_short:
        rewards = [t["reward"] for _, t in gpt_turns(record)]
        assert all(isinstance(reward, float) for reward in rewards)
        assert sum(rewards) == pytest.approx(record["reward"])
        assert "reward" not in record["conversations"][1]  # the "Ok." took no env step
        # A text-only policy (a script, an API) has no token ids to record.
        assert all("token_ids" not in t and "logprobs" not in t for t in record["conversations"])
    assert all(r["reward"] > 0 for r in solved)


def test_records_with_rl_keys_stay_agenttraj(tmp_path, tiny_policy):
    from agentgym_envs.data import load_trajectories, save_trajectories
    from agentgym_envs.export import export_records
    from agentgym_rl.trajectory import tokenize_record

    config = RolloutConfig(max_new_tokens=8, max_rounds=2, log_probs=True)
    [record] = rollout(tiny_policy, make_jobs(["maze"], [0]), config, progress=False)
    assert {"token_ids", "logprobs", "reward"} <= set(record["conversations"][3])
    [loaded] = load_trajectories(save_trajectories([record], tmp_path / "episodes.json"))
    assert loaded == record
    plain = {
        **record,
        "conversations": [{k: t[k] for k in ("from", "loss", "value")} for t in record["conversations"]],
    }
    assert export_records([record], "agenttraj") == [plain]  # AgentGym's own schema, extras left out
    assert tokenize_record(record, tiny_policy.tokenizer) == tokenize_record(plain, tiny_policy.tokenizer)


@pytest.mark.parametrize("prefix_cache", [True, False])
def test_token_ids_are_what_the_model_produced_and_decode_to_the_reply(tiny_policy, prefix_cache):
    config = RolloutConfig(concurrency=3, max_new_tokens=12, max_rounds=3, prefix_cache=prefix_cache)
    records = rollout(tiny_policy, make_jobs(["maze"], range(4)), config, progress=False)
    stops = set(tiny_policy.stop_token_ids)
    for record in records:
        for _, item in gpt_turns(record):
            ids = item["token_ids"]
            assert 1 <= len(ids) <= 12 and all(isinstance(token, int) for token in ids)
            assert not stops & set(ids[:-1])  # a stop token can only end the turn
            assert tiny_policy.tokenizer.decode(ids, skip_special_tokens=True) == item["value"]
            assert "logprobs" not in item  # only when asked


def test_greedy_token_ids_are_the_same_with_and_without_the_prefix_cache(tiny_policy):
    tiny_policy.model.double()  # see test_policy.py: no near tie that rounding could flip
    jobs = make_jobs(["maze"], range(5))
    runs = [
        rollout(
            tiny_policy, jobs, RolloutConfig(concurrency=3, prefix_cache=cached, **GREEDY), progress=False
        )
        for cached in (True, False)
    ]
    ids = [[item["token_ids"] for record in run for _, item in gpt_turns(record)] for run in runs]
    assert ids[0] == ids[1] and len(ids[0]) > 5


@pytest.mark.parametrize("prefix_cache", [True, False])
@pytest.mark.parametrize("temperature", [0.0, 0.7])
def test_recorded_log_probs_equal_the_policys_recomputation(tiny_policy, prefix_cache, temperature):
    config = RolloutConfig(
        concurrency=3,
        max_new_tokens=10,
        max_rounds=3,
        temperature=temperature,
        top_p=0.9,  # truncates the sampler, not the scored distribution
        seed=4,
        prefix_cache=prefix_cache,
        log_probs=True,
    )
    records = rollout(tiny_policy, make_jobs(["maze"], range(4)), config, progress=False)
    prompts, ids, recorded = [], [], []
    for record in records:
        for before, item in gpt_turns(record):
            prompts.append(to_messages(before))
            ids.append(item["token_ids"])
            recorded.append(item["logprobs"])
    assert all(len(scores) == len(turn_ids) for scores, turn_ids in zip(recorded, ids))
    again = tiny_policy.log_probs(prompts, ids, temperature=temperature, per_token=True)
    for scores, expected in zip(recorded, again):
        assert scores == pytest.approx(expected, abs=1e-4)
    assert all(score <= 0 for scores in recorded for score in scores)


def test_an_api_policy_records_no_log_probs_even_when_asked():
    config = RolloutConfig(log_probs=True, max_rounds=2)
    [record] = rollout(Scripted(), make_jobs(["maze"], [0]), config, progress=False)
    assert all("logprobs" not in t and "token_ids" not in t for t in record["conversations"])
