"""LLMPolicy: a causal language model, its tokenizer and its chat template, used as an agent.

Prompts are chat messages (``{"role": "user"|"assistant"|"system", "content": str}``), so an
AgentGym conversation goes in as it is (see :func:`agentgym_rl.trajectory.to_messages`) and the
policy returns the next assistant turn as text.

Context limit. A prompt whose tokens plus ``max_new_tokens`` do not fit in ``max_context`` is
cut from the left, but the instruction survives, because without it the model cannot know the
task or the action grammar:

1. the head (system messages, the first user turn and the assistant's reply to it) is kept and
   the oldest (user, assistant) exchanges after it are dropped, whole, ``DROP_BLOCK`` at a time,
   until the prompt fits. In blocks, so that the cut stays put while an episode grows by a few
   rounds: each round's prompt then starts with the last one and the rollout's prefix cache
   reuses it, where a cut that moved every round would re-run the whole prompt every round;
2. if the head plus the last message still do not fit, the tokens right after the head are cut;
3. if the head alone does not fit, only the last tokens are kept (the instruction is lost).

Every cut is counted in :attr:`LLMPolicy.context_stats`, so a run can report how often it
happened; nothing is shortened silently.

Replies. ``generate`` returns each reply as a :class:`Reply`: its text (a ``str``, so it goes
wherever text goes) carrying the token ids the model produced (up to and including the end-of-turn
token, when it stopped on one) and, when asked, their log-probabilities under the sampling policy.

The policy's distribution. PPO's ratio divides by pi(token | context) of the policy that sampled
it. Here that policy is softmax(logits / temperature): the temperature is part of the policy
(as TRL's GRPOTrainer and verl score it), so a freshly sampled episode has ratio 1. Greedy
decoding (temperature 0) is scored as temperature 1, the model's own distribution. Top-p is a
truncation of the sampler, not part of pi (a sampled token always lies inside the nucleus, and
renormalising over a nucleus that moves with the weights would make the ratio discontinuous).
:func:`token_log_probs` is that definition, the one place it is written: generation (both paths)
records with it and :meth:`LLMPolicy.log_probs` recomputes with it.

CPU threads: torch uses ``AGENTGYM_THREADS`` threads (default: every core).
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig
from transformers.utils import logging as hf_logging

from agentgym_rl.trajectory import pack_by_length

Message = dict[str, str]

# End-of-turn markers of common chat templates; whichever the tokenizer knows stops generation.
END_OF_TURN_TOKENS = ("<|end|>", "<|im_end|>", "<|eot_id|>", "<|eom_id|>", "<end_of_turn>", "<|endoftext|>")
POLICY_FILE = "agentgym_policy.json"
LOGIT_BUDGET = 2**25  # floats of logits held at once in log_probs (128 MB)


class Reply(str):
    """A generated reply: its text, plus ``token_ids`` (what the model produced, end-of-turn token
    included when it stopped on one) and ``logprobs`` (one per token id, or None when not asked)."""

    token_ids: list[int]
    logprobs: list[float] | None

    def __new__(cls, text: str, token_ids: list[int], logprobs: list[float] | None = None) -> Reply:
        obj = super().__new__(cls, text)
        obj.token_ids, obj.logprobs = token_ids, logprobs
        return obj

    def __reduce__(self):
        return Reply, (str(self), self.token_ids, self.logprobs)


def token_log_probs(logits: torch.Tensor, tokens: torch.Tensor, temperature: float) -> torch.Tensor:
    """log pi(token) for each position: ``logits`` ``[..., vocab]``, ``tokens`` ``[...]``, where
    pi = softmax(logits / temperature), and softmax(logits) for greedy (temperature 0); see the
    module doc for why."""
    logits = logits.float()
    if temperature > 0 and temperature != 1.0:
        logits = logits / temperature
    chosen = logits.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
    return chosen - logits.logsumexp(-1)


def configure_threads() -> int:
    """Set torch's intra-op threads from ``AGENTGYM_THREADS`` (default: all cores)."""
    threads = int(os.environ.get("AGENTGYM_THREADS") or os.cpu_count() or 1)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


# Exchanges dropped at a time when a prompt overflows the context (module doc, step 1): a cut
# holds for about this many rounds, at the price of up to this many minus one exchanges of context.
DROP_BLOCK = 4


@dataclass
class ContextStats:
    """How many prompts were encoded and how many had to be cut to fit the context."""

    prompts: int = 0
    dropped_turns: int = 0  # prompts shortened by dropping whole exchanges after the instruction
    cut_tokens: int = 0  # prompts cut token-wise after the instruction (step 2)
    lost_instruction: int = 0  # prompts whose instruction alone was too long (step 3)

    @property
    def cut(self) -> int:
        return self.dropped_turns + self.cut_tokens + self.lost_instruction


class LLMPolicy:
    """A causal LM + tokenizer with a chat template: batched generation and log-probs."""

    def __init__(self, model, tokenizer, *, max_context: int | None = None, name: str = ""):
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError(f"tokenizer of {name or 'the model'} has no chat template")
        configure_threads()
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        self.max_context = int(max_context or getattr(model.config, "max_position_embeddings", 2048))
        self.stop_token_ids = end_of_turn_ids(tokenizer)
        if tokenizer.pad_token_id is None:
            # Padding is always masked out; any id works, and eos is always in the vocabulary.
            tokenizer.pad_token = tokenizer.eos_token
        self.pad_token_id = tokenizer.pad_token_id
        self.context_stats = ContextStats()
        self.generated_tokens = 0

    # -------------------------------------------------------------------------- properties
    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    @property
    def num_trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters() if p.requires_grad)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    # -------------------------------------------------------------------------- encoding
    def render(self, messages: Sequence[Message], generation_prompt: bool) -> str:
        return self.tokenizer.apply_chat_template(
            list(messages), tokenize=False, add_generation_prompt=generation_prompt
        )

    def token_ids(self, text: str) -> list[int]:
        # The chat template writes every special token itself; add none.
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def encode_prompt(self, messages: Sequence[Message], reserve: int = 0) -> list[int]:
        """Token ids of ``messages`` plus the assistant prompt, cut (see the module doc) so
        that ``reserve`` more tokens still fit in the context."""
        budget = self.max_context - reserve
        self.context_stats.prompts += 1
        ids = self.token_ids(self.render(messages, generation_prompt=True))
        if len(ids) <= budget:
            return ids
        head = head_length(messages)
        tail = list(messages[head:])
        shortened = self._drop_exchanges(list(messages[:head]), tail, budget)
        if shortened is not None:
            self.context_stats.dropped_turns += 1
            return shortened
        head_ids = self.token_ids(self.render(messages[:head], generation_prompt=False))
        if len(head_ids) < budget and ids[: len(head_ids)] == head_ids:
            self.context_stats.cut_tokens += 1
            return head_ids + ids[len(ids) - (budget - len(head_ids)) :]
        self.context_stats.lost_instruction += 1
        return ids[len(ids) - budget :]

    def _drop_exchanges(self, head: list[Message], tail: list[Message], budget: int) -> list[int] | None:
        """Fewest oldest (user, assistant) pairs, in whole blocks of ``DROP_BLOCK``, to drop from
        ``tail`` to fit ``budget``, found by bisection (the length only shrinks as more is
        dropped); None if dropping all but the last message is not enough."""
        most = (len(tail) - 1) // 2
        choices = list(range(DROP_BLOCK, most, DROP_BLOCK)) + [most] if most else []
        best = None
        low, high = 0, len(choices) - 1
        while low <= high:
            middle = (low + high) // 2
            ids = self.token_ids(self.render(head + tail[2 * choices[middle] :], generation_prompt=True))
            if len(ids) <= budget:
                best, high = ids, middle - 1
            else:
                low = middle + 1
        return best

    def encode_completion(self, messages: Sequence[Message], completion: str) -> tuple[list[int], list[int]]:
        """(prompt ids, completion ids): the completion as the next assistant turn, up to and
        including its end-of-turn token, tokenised exactly as the chat template does."""
        prompt_text = self.render(messages, generation_prompt=True)
        full_text = self.render(list(messages) + [{"role": "assistant", "content": completion}], False)
        if not full_text.startswith(prompt_text):
            raise ValueError(
                "the chat template does not render a conversation as its prefix plus the new turn"
            )
        prompt_ids = self.token_ids(prompt_text)
        completion_ids = self.token_ids(full_text[len(prompt_text) :])
        completion_ids = cut_after_stop(completion_ids, self.stop_token_ids)
        if len(completion_ids) >= self.max_context:
            raise ValueError(
                f"a completion of {len(completion_ids)} tokens does not fit in {self.max_context}"
            )
        if len(prompt_ids) + len(completion_ids) > self.max_context:
            prompt_ids = self.encode_prompt(messages, reserve=len(completion_ids))
        else:
            self.context_stats.prompts += 1
        return prompt_ids, completion_ids

    # -------------------------------------------------------------------------- generation
    @torch.inference_mode()
    def generate(
        self,
        prompts: list[list[Message]],
        *,
        max_new_tokens: int = 128,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        log_probs: bool = False,
    ) -> list[Reply]:
        """The next assistant turn for each prompt, in one batched ``model.generate``.

        Left padding keeps every prompt's last token at the same position, so one KV cache
        serves the whole batch; greedy when ``temperature == 0``, else sampling (``seed`` makes
        it repeatable without touching the global RNG). Stops at the end of the turn and
        returns only the new turn, as :class:`Reply` s (with ``log_probs``: scored by
        :func:`token_log_probs` from the raw logits of each step, which ``generate`` then holds
        for the whole batch: steps x batch x vocabulary floats)."""
        if not prompts:
            return []
        max_new_tokens = max(1, min(max_new_tokens, self.max_context - 1))
        encoded = [self.encode_prompt(messages, reserve=max_new_tokens) for messages in prompts]
        input_ids, attention_mask = pad_left(encoded, self.pad_token_id, self.device)
        config = self._generation_config(max_new_tokens, temperature, top_p, log_probs)
        # Seeded sampling must not disturb the caller's random streams (CPU, and the GPU's if used).
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices, enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            output = self.model.generate(
                input_ids=input_ids, attention_mask=attention_mask, generation_config=config
            )
        sequences = output.sequences if log_probs else output
        new_ids = sequences[:, input_ids.shape[1] :]
        scores = None
        if log_probs:  # output.logits: one [batch, vocab] per step, before temperature and top-p
            scores = token_log_probs(torch.stack(output.logits, dim=1), new_ids, temperature).tolist()
        replies = []
        for row, ids in enumerate(new_ids.tolist()):
            produced = cut_after_stop(ids, self.stop_token_ids)
            replies.append(self.reply(produced, None if scores is None else scores[row][: len(produced)]))
        return replies

    def reply(self, produced: list[int], logprobs: list[float] | None = None) -> Reply:
        """The :class:`Reply` of ``produced`` token ids (its text stops before the end-of-turn
        token); counts the generated text tokens in :attr:`generated_tokens`."""
        text_ids = cut_at_stop(produced, self.stop_token_ids)
        self.generated_tokens += len(text_ids)
        return Reply(self.tokenizer.decode(text_ids, skip_special_tokens=True), produced, logprobs)

    def _generation_config(self, max_new_tokens: int, temperature: float, top_p: float, scores: bool):
        sampling = temperature > 0
        return GenerationConfig(
            max_new_tokens=max_new_tokens,
            do_sample=sampling,
            temperature=temperature if sampling else None,
            top_p=top_p if sampling else None,
            top_k=None,  # only what the caller asked for: no hidden top-k from a model's defaults
            eos_token_id=self.stop_token_ids,
            pad_token_id=self.pad_token_id,
            use_cache=True,
            return_dict_in_generate=scores,
            output_logits=scores,
        )

    # -------------------------------------------------------------------------- scoring
    @torch.inference_mode()
    def log_probs(
        self,
        prompts: list[list[Message]],
        completions: Sequence[str | Sequence[int]],
        *,
        temperature: float = 1.0,
        per_token: bool = False,
    ) -> list[float] | list[list[float]]:
        """Log-probabilities of each completion given its prompt under the policy at
        ``temperature`` (:func:`token_log_probs`; 0 and 1 both score the model's own
        distribution): the sum over the completion's tokens, or with ``per_token`` one value per
        token. The one place log-probs of given tokens are computed.

        A completion is text (tokenised as the chat template writes the next assistant turn, its
        end-of-turn token included: what BC maximises for that turn) or token ids as generated
        (a rollout record's ``token_ids``; its prompt is encoded as ``generate`` encodes it, so
        the two agree unless the prompt had to be cut to fit the context)."""
        if len(prompts) != len(completions):
            raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
        pairs = [self._scored_pair(p, c) for p, c in zip(prompts, completions)]
        vocab = self.model.config.vocab_size
        results: list = [None] * len(pairs)
        lengths = [len(p) + len(c) for p, c in pairs]
        by_length = sorted(range(len(pairs)), key=lengths.__getitem__)
        for batch in pack_by_length(by_length, lengths, LOGIT_BUDGET // vocab):
            sequences = [pairs[i][0] + pairs[i][1] for i in batch]
            input_ids, attention_mask = pad_right(sequences, self.pad_token_id, self.device)
            logits = self.model(input_ids=input_ids, attention_mask=attention_mask).logits
            for row, index in enumerate(batch):
                prompt_ids, completion_ids = pairs[index]
                start, end = len(prompt_ids), len(prompt_ids) + len(completion_ids)
                # The logit at position t predicts token t + 1.
                targets = torch.tensor(completion_ids, device=logits.device)
                scores = token_log_probs(logits[row, start - 1 : end - 1], targets, temperature)
                results[index] = scores.tolist() if per_token else scores.sum().item()
        return results

    def _scored_pair(self, messages: Sequence[Message], completion: str | Sequence[int]):
        """(prompt ids, completion ids) of one completion given as text or as token ids."""
        if isinstance(completion, str):
            return self.encode_completion(messages, completion)
        completion_ids = [int(token) for token in completion]
        if not completion_ids or len(completion_ids) >= self.max_context:
            raise ValueError(f"token ids must number 1..{self.max_context - 1}, got {len(completion_ids)}")
        return self.encode_prompt(messages, reserve=len(completion_ids)), completion_ids

    # -------------------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Write model, tokenizer and policy settings; :meth:`load` reads them back."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        model = self.model
        if hasattr(model, "merge_and_unload"):
            # A LoRA model is saved merged, so the checkpoint loads without peft or its base.
            model = copy.deepcopy(model).merge_and_unload()
        with quiet_transformers():
            model.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
        settings = {"max_context": self.max_context, "name": self.name}
        (path / POLICY_FILE).write_text(json.dumps(settings, indent=1) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, *, dtype: torch.dtype = torch.float32) -> LLMPolicy:
        path = Path(path)
        if not path.is_dir():
            raise FileNotFoundError(f"no saved policy at {path}")
        settings = {}
        if (path / POLICY_FILE).is_file():
            settings = json.loads((path / POLICY_FILE).read_text(encoding="utf-8"))
        with quiet_transformers():
            model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=dtype)
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        return cls(
            model, tokenizer, max_context=settings.get("max_context"), name=settings.get("name", str(path))
        )

    def __repr__(self) -> str:
        return (
            f"LLMPolicy({self.name!r}, {self.num_parameters / 1e6:.2f}M params, context {self.max_context})"
        )


# ------------------------------------------------------------------------------ helpers
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(name: str = "auto") -> torch.device:
    """``auto``: the GPU when torch sees one, else the CPU; or any torch device name."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but torch sees no CUDA GPU (use auto or cpu)")
    return device


def resolve_dtype(name: str | torch.dtype, device: torch.device) -> torch.dtype:
    """``auto``: float32 on a CPU (bf16 matmuls are slow on most), bfloat16 on a GPU."""
    if isinstance(name, torch.dtype):
        return name
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if name not in DTYPES:
        raise ValueError(f"unknown dtype {name!r}; use auto, {', '.join(DTYPES)}")
    return DTYPES[name]


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """No progress bars from transformers' loading and saving (they would flood a run's log
    every time a checkpoint is written); the caller's setting is restored after."""
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def end_of_turn_ids(tokenizer) -> list[int]:
    """Token ids that end an assistant turn: eos plus any known end-of-turn marker."""
    ids = [] if tokenizer.eos_token_id is None else [tokenizer.eos_token_id]
    vocab = tokenizer.get_vocab()
    for token in END_OF_TURN_TOKENS:
        if token in vocab and vocab[token] not in ids:
            ids.append(vocab[token])
    if not ids:
        raise ValueError("tokenizer has neither an eos token nor a known end-of-turn token")
    return ids


def head_length(messages: Sequence[Message]) -> int:
    """Messages kept when a prompt is cut: system messages, the first user turn (the
    instruction) and the assistant's reply to it, if more follows."""
    index = 0
    while index < len(messages) and messages[index]["role"] == "system":
        index += 1
    index += 1  # the instruction
    if index < len(messages) - 1 and messages[index]["role"] == "assistant":
        index += 1
    return min(index, len(messages))


def cut_at_stop(ids: list[int], stop_ids: Sequence[int]) -> list[int]:
    """Tokens before the first stop token (the stop token itself is not text)."""
    for position, token in enumerate(ids):
        if token in stop_ids:
            return ids[:position]
    return ids


def cut_after_stop(ids: list[int], stop_ids: Sequence[int]) -> list[int]:
    """Tokens up to and including the first stop token (drops e.g. a template's newline)."""
    for position, token in enumerate(ids):
        if token in stop_ids:
            return ids[: position + 1]
    return ids


def pad_left(sequences: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(map(len, sequences))
    ids = [[pad_id] * (width - len(s)) + s for s in sequences]
    mask = [[0] * (width - len(s)) + [1] * len(s) for s in sequences]
    return torch.tensor(ids, device=device), torch.tensor(mask, device=device)


def pad_right(sequences: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(map(len, sequences))
    ids = [s + [pad_id] * (width - len(s)) for s in sequences]
    mask = [[1] * len(s) + [0] * (width - len(s)) for s in sequences]
    return torch.tensor(ids, device=device), torch.tensor(mask, device=device)


__all__ = [
    "ContextStats",
    "LLMPolicy",
    "Message",
    "Reply",
    "configure_threads",
    "end_of_turn_ids",
    "token_log_probs",
]
