"""TRL environments: the classes GRPOTrainer(environment_factory=...) takes, and a real GRPOTrainer run."""

from __future__ import annotations

import inspect

import gymnasium as gym
import pytest
from conftest import MICRO_MODEL

from agentgym_envs import env_ids, family
from agentgym_envs.toolcalls import toolset
from agentgym_envs.trl_envs import (
    AgentGymTRLEnv,
    class_name,
    trl_dataset,
    trl_env_class,
    trl_environments,
)


@pytest.mark.parametrize("env_id", env_ids())
def test_every_id_has_a_class_whose_public_methods_are_its_tools(env_id):
    if family(env_id).missing_engine():
        pytest.skip(family(env_id).missing_engine())
    cls = trl_env_class(env_id)
    assert cls.__name__ == class_name(env_id) and issubclass(cls, AgentGymTRLEnv)
    # What TRL reads: public functions on the class, besides reset and get_reward, are the tools.
    public = {
        name for name, _ in inspect.getmembers(cls, predicate=inspect.isfunction) if not name.startswith("_")
    }
    assert public - {"reset", "get_reward"} == set(toolset(env_id).names)
    for tool in toolset(env_id):
        signature = inspect.signature(getattr(cls, tool.name))
        assert [p for p in signature.parameters if p != "self"] == [p.name for p in tool.params]
        assert signature.return_annotation is str
        assert ("Args:" in getattr(cls, tool.name).__doc__) == bool(tool.params)


def test_the_classes_are_names_of_the_module():
    import agentgym_envs.trl_envs as trl_envs

    assert trl_envs.AgentGymMaze is trl_env_class("maze") is trl_env_class("AgentGym/Maze-v0")
    assert class_name("AgentGym/TWX-CookingWorld-v0") == "AgentGymTWXCookingWorld"
    with pytest.raises(AttributeError):
        trl_envs.AgentGymNoSuchEnv  # noqa: B018


def test_reset_starts_the_rows_task_and_the_same_row_gives_the_same_state():
    first, second = trl_env_class("maze")(), trl_env_class("maze")()
    row = trl_dataset("maze", split="test", limit=3)[2]
    assert (row["task_id"], row["split"], row["prompt"]) == (2, "test", [{"role": "user", "content": ""}])
    text = first.reset(**row)
    observation, info = gym.make("AgentGym/Maze-v0").reset(options={"task_id": 2})
    assert text == second.reset(**row) and text.endswith(observation)
    assert text.startswith("You are in a maze") and "tools" in text and "Action:" not in text
    assert first.reset(item_id="lmrlgym_maze_2") == text
    assert first.reset(seed=2, split="test") == text  # the seed-th task of the split
    with pytest.raises(ValueError, match="needs a task_id"):
        first.reset(prompt=[])
    with pytest.raises(ValueError, match="is not task"):
        first.reset(item_id="babyai_2")


def test_calls_before_the_start_after_the_end_and_bad_calls_are_answered_not_raised():
    env = trl_env_class("maze")()
    assert "No episode is running" in env.move(direction="up")
    env.reset(task_id=0)
    for _ in range(env._env.spec.max_episode_steps - 1):
        answer = env.move(direction="sideways")  # a bad call: explained, and it uses up a round
        assert "is one of" in answer and "ended" not in answer
    assert "The episode has ended (the step limit was reached)" in env.move(way="up")
    assert "episode is over" in env.move(direction="up") and env.get_reward() == 0.0


def test_a_dataset_of_several_envs_routes_rows_to_their_classes():
    dataset = trl_dataset(["maze", "babyai"], split="test", limit=2)
    assert dataset["environment"] == ["Maze", "Maze", "BabyAI", "BabyAI"]
    environments = trl_environments(["maze", "babyai"])
    assert environments == {"Maze": trl_env_class("maze"), "BabyAI": trl_env_class("babyai")}
    assert trl_dataset("maze", split="train")["task_id"] == list(family("maze").splits.ids("train"))


# ------------------------------------------------------------------------------ GRPOTrainer
TOOL_TOKENS = ["<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>", "<think>", "</think>"]


def tool_calling_tokenizer(call: str):
    """The shipped tiny BPE with Qwen's chat template (TRL knows how to parse its tool calls)
    and its special tokens; ``call``, one tool call's JSON, is one token, so a bias on a short
    token sequence can make an untrained model call it."""
    from transformers import PreTrainedTokenizerFast
    from trl.chat_template_utils import qwen3_chat_template

    from agentgym_rl.models import TINY_TOKENIZER

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(TINY_TOKENIZER),
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
        padding_side="left",
    )
    tokenizer.add_tokens([*TOOL_TOKENS, call])
    tokenizer.chat_template = qwen3_chat_template
    return tokenizer


# TRL 1.16 itself calls transformers' gradient_checkpointing names, deprecated in transformers 5.
@pytest.mark.filterwarnings("ignore:.*gradient_checkpointing.*:FutureWarning")
def test_grpo_trainer_trains_on_the_maze_class_with_rewards_from_get_reward(tmp_path, monkeypatch):
    """TRL's own GRPOTrainer, a randomly initialised Qwen2-style model, Maze's class as the
    environment factory: two optimizer steps on CPU. The untrained model is biased (through the
    generation config TRL takes) to answer with one tool call, so the environment loop runs real
    moves and ends when the completion budget is spent; the logged reward is what get_reward said."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("trl")
    from transformers import Qwen2Config, Qwen2ForCausalLM
    from trl import GRPOConfig, GRPOTrainer
    from trl.chat_template_utils import supports_tool_calling

    monkeypatch.setenv("TRL_EXPERIMENTAL_SILENCE", "1")
    call = '{"name": "move", "arguments": {"direction": "down"}}'
    tokenizer = tool_calling_tokenizer(call)
    assert supports_tool_calling(tokenizer)
    torch.manual_seed(0)
    sizes = {**MICRO_MODEL, "max_position_embeddings": 4096}  # the prompt lists the tools
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        **sizes,
        tie_word_embeddings=False,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    model = Qwen2ForCausalLM(config)
    reply = tokenizer.encode(f"<tool_call>\n{call}\n</tool_call><|im_end|>", add_special_tokens=False)
    # Each token of the reply is favoured after the ones before it (a longer match weighs more).
    bias = [[reply[: k + 1], 30.0 * (k + 1)] for k in range(len(reply))]
    scored: list[tuple[int, float]] = []

    class Maze(trl_env_class("maze")):
        def get_reward(self) -> float:
            reward = super().get_reward()
            scored.append((self._info["task_id"], reward))
            return reward

    args = GRPOConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=2,
        num_generations=2,
        max_completion_length=160,
        max_steps=2,
        learning_rate=1e-3,
        beta=0.0,
        use_vllm=False,
        use_cpu=True,
        bf16=False,
        report_to="none",
        logging_steps=1,
        save_strategy="no",
        seed=0,
        generation_kwargs={"sequence_bias": bias},
    )
    dataset = trl_dataset("maze", split="train", limit=4)
    trainer = GRPOTrainer(
        model=model, processing_class=tokenizer, args=args, train_dataset=dataset, environment_factory=Maze
    )
    trainer.train()

    assert trainer.state.global_step == 2
    steps = [entry for entry in trainer.state.log_history if "rewards/Maze/mean" in entry]
    assert len(steps) == 2 and len(scored) == 4  # two steps of one group of two rollouts each
    for step, logged in zip((scored[:2], scored[2:]), steps):
        assert logged["rewards/Maze/mean"] == pytest.approx(sum(r for _, r in step) / 2)
        assert logged["tools/call_frequency"] > 0 and logged["tools/failure_frequency"] == 0
    assert {task for task, _ in scored} <= set(dataset["task_id"])
    for env in trainer._environment_pool[None]:  # each played its moves in its env
        assert env._env.get_wrapper_attr("_elapsed_steps") > 0
