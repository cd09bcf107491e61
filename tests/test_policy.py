"""LLMPolicy: batched generation equals one-at-a-time, seeded sampling, stopping at the end of
the turn, log-probs, save/load, and the context cut that keeps the instruction."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from conftest import TAUGHT_ANSWER, taught_records  # noqa: E402

from agentgym_rl.policy import LLMPolicy, configure_threads  # noqa: E402
from agentgym_rl.trajectory import to_messages  # noqa: E402


def prompts_of(records, count=6):
    """Prompts of different lengths: each record cut before a different assistant turn."""
    prompts = []
    for index, record in enumerate(records[:count]):
        turns = record["conversations"]
        cut = min(3 + 2 * index, len(turns) - 1)
        prompts.append(to_messages(turns[:cut]))
    return prompts


def test_batched_greedy_equals_one_at_a_time(tiny_policy, maze_records):
    # In float64: the untrained model's top two logits come within 1e-5 of each other, and
    # batching reorders float32 sums by ~1e-7, so in float32 another CPU's rounding could flip
    # a greedy token; the paths compared are the same in any dtype.
    tiny_policy.model.double()
    prompts = prompts_of(maze_records)
    assert len({len(tiny_policy.encode_prompt(p)) for p in prompts}) > 1  # so padding is exercised
    batched = tiny_policy.generate(prompts, max_new_tokens=24)
    one_by_one = [tiny_policy.generate([p], max_new_tokens=24)[0] for p in prompts]
    assert batched == one_by_one
    assert any(batched)


def test_sampling_repeats_with_a_seed_and_leaves_global_rng_alone(tiny_policy, maze_records):
    prompts = prompts_of(maze_records, 3)
    state = torch.get_rng_state()
    first = tiny_policy.generate(prompts, max_new_tokens=16, temperature=1.0, seed=7)
    again = tiny_policy.generate(prompts, max_new_tokens=16, temperature=1.0, seed=7)
    other = tiny_policy.generate(prompts, max_new_tokens=16, temperature=1.0, seed=8)
    assert first == again
    assert first != other
    assert torch.equal(state, torch.get_rng_state())


def test_generation_stops_at_the_end_of_the_assistant_turn(taught_policy_dir):
    policy = LLMPolicy.load(taught_policy_dir)
    prompt = to_messages(taught_records(40)[33]["conversations"][:3])  # a goal never seen in training
    before = policy.generated_tokens
    [text] = policy.generate([prompt], max_new_tokens=64)
    assert text == TAUGHT_ANSWER
    assert policy.generated_tokens - before < 64  # stopped by the end token, not the limit


def test_log_probs_sum_the_completion_tokens_and_batch_consistently(taught_policy_dir):
    policy = LLMPolicy.load(taught_policy_dir)
    prompt = to_messages(taught_records(1)[0]["conversations"][:3])
    completions = [TAUGHT_ANSWER, "Thought:\nNo idea.\n\nAction:\nmove down", ""]
    batched = policy.log_probs([prompt] * 3, completions)
    single = [policy.log_probs([prompt], [c])[0] for c in completions]
    assert batched == pytest.approx(single, abs=1e-4)
    assert batched[0] > batched[1]  # the taught answer is the likely one
    assert batched[0] > -1.0

    # By hand: the completion's tokens (text + end-of-turn token) scored after the prompt.
    prompt_ids, completion_ids = policy.encode_completion(prompt, completions[1])
    assert completion_ids[-1] in policy.stop_token_ids
    with torch.no_grad():
        logits = policy.model(torch.tensor([prompt_ids + completion_ids])).logits[0]
    steps = logits[len(prompt_ids) - 1 : -1].log_softmax(-1)
    expected = steps[torch.arange(len(completion_ids)), torch.tensor(completion_ids)].sum().item()
    assert batched[1] == pytest.approx(expected, abs=1e-4)


def test_log_probs_score_token_ids_per_token_and_at_a_temperature(taught_policy_dir):
    from agentgym_rl.policy import token_log_probs

    policy = LLMPolicy.load(taught_policy_dir)
    prompt = to_messages(taught_records(1)[0]["conversations"][:3])
    _, ids = policy.encode_completion(prompt, TAUGHT_ANSWER)
    [as_text] = policy.log_probs([prompt], [TAUGHT_ANSWER])
    [per_token] = policy.log_probs([prompt], [ids], per_token=True)
    assert len(per_token) == len(ids) and sum(per_token) == pytest.approx(as_text, abs=1e-4)
    # Temperature 0 (greedy) scores the model's own distribution, as 1 does; 2 flattens it.
    assert policy.log_probs([prompt], [ids], temperature=0.0) == policy.log_probs([prompt], [ids])
    [hot] = policy.log_probs([prompt], [ids], temperature=2.0)
    assert hot < as_text  # the taught answer is the likely one, so flattening lowers it
    # The one definition: log softmax(logits / T) at the chosen token.
    logits = torch.tensor([[2.0, 0.0, -1.0]])
    expected = (logits / 0.5).log_softmax(-1)[0, 1]
    assert token_log_probs(logits, torch.tensor([1]), 0.5).item() == pytest.approx(expected.item())
    with pytest.raises(ValueError):
        policy.log_probs([prompt], [[]])


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_generate_returns_replies_with_their_token_ids_and_log_probs(taught_policy_dir, temperature):
    import pickle

    policy = LLMPolicy.load(taught_policy_dir)
    prompts = [to_messages(taught_records(3)[i]["conversations"][:3]) for i in range(3)]
    replies = policy.generate(prompts, max_new_tokens=32, temperature=temperature, seed=1, log_probs=True)
    again = policy.log_probs(prompts, [r.token_ids for r in replies], temperature=temperature, per_token=True)
    for reply, expected in zip(replies, again):
        assert policy.tokenizer.decode(reply.token_ids, skip_special_tokens=True) == reply
        assert reply.logprobs == pytest.approx(expected, abs=1e-4)
    assert replies[0].token_ids[-1] in policy.stop_token_ids  # stopped on its end-of-turn token
    assert pickle.loads(pickle.dumps(replies[0])).token_ids == replies[0].token_ids
    assert policy.generate(prompts[:1], max_new_tokens=32)[0].logprobs is None  # only when asked


def test_save_and_load_round_trip(taught_policy_dir, tmp_path, maze_records):
    policy = LLMPolicy.load(taught_policy_dir)
    policy.max_context = 300
    prompts = prompts_of(maze_records, 3)
    saved = LLMPolicy.load(policy.save(tmp_path / "copy"))
    assert saved.max_context == 300 and saved.name == policy.name
    assert saved.num_parameters == policy.num_parameters
    assert saved.generate(prompts, max_new_tokens=20) == policy.generate(prompts, max_new_tokens=20)
    assert saved.log_probs(prompts, ["move up"] * 3) == policy.log_probs(prompts, ["move up"] * 3)


def test_long_prompts_are_cut_keeping_the_instruction(tiny_policy, maze_records):
    record = max(maze_records, key=lambda r: len(r["conversations"]))
    messages = to_messages(record["conversations"])
    instruction = tiny_policy.token_ids(tiny_policy.render(messages[:2], generation_prompt=False))
    full = tiny_policy.encode_prompt(messages)
    tiny_policy.max_context = len(instruction) + (len(full) - len(instruction)) // 2 + 16
    tiny_policy.context_stats.dropped_turns = 0

    ids = tiny_policy.encode_prompt(messages, reserve=16)
    assert len(ids) <= tiny_policy.max_context - 16
    assert ids[: len(instruction)] == instruction  # instruction and its "Ok." kept
    assert ids[-8:] == full[-8:]  # the latest observation kept
    assert tiny_policy.context_stats.dropped_turns == 1
    assert tiny_policy.generate([messages], max_new_tokens=16)  # generation works on the cut prompt


def test_a_cut_holds_for_several_rounds_so_the_prefix_cache_can_reuse_it(tiny_policy):
    messages = [{"role": "user", "content": "Reach the goal."}, {"role": "assistant", "content": "Ok."}]
    tiny_policy.max_context = 400
    prompts = []
    for turn in range(40):  # an episode that grows one exchange a round, far past the context
        messages += [
            {"role": "user", "content": f"You are at ({turn}, 3). Walls to the north and east."},
            {"role": "assistant", "content": "Action:\nmove south"},
        ]
        prompts.append(tiny_policy.encode_prompt(messages[:-1], reserve=16))
    assert all(len(ids) <= 400 - 16 for ids in prompts)
    cut = [i for i in range(1, len(prompts)) if len(prompts[i]) < len(prompts[i - 1])]
    assert len(cut) >= 3  # the context overflowed again and again
    # A round whose prompt does not start with the last round's is one where the cut moved:
    # once per DROP_BLOCK (4) rounds, not every round as a cut of the fewest exchanges would.
    kept = [i for i in range(cut[0], len(prompts)) if prompts[i][: len(prompts[i - 1])] == prompts[i - 1]]
    assert len(kept) >= (len(prompts) - cut[0]) / 2


def test_an_instruction_longer_than_the_context_is_counted(tiny_policy):
    tiny_policy.max_context = 64
    messages = [{"role": "user", "content": "walls " * 200}]
    ids = tiny_policy.encode_prompt(messages, reserve=8)
    assert len(ids) == 56
    assert tiny_policy.context_stats.lost_instruction == 1


def test_thread_count_comes_from_the_environment(monkeypatch):
    previous = torch.get_num_threads()
    monkeypatch.setenv("AGENTGYM_THREADS", "1")
    try:
        assert configure_threads() == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(previous)
