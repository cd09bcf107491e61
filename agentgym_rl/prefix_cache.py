"""Batched generation that keeps each episode's KV cache from one round to the next.

An agent's prompt at round t+1 is its prompt at round t, plus its own reply, plus the new
observation. Re-encoding the whole conversation every round (what ``LLMPolicy.generate`` and
AgentGym's client do) makes the prompt work grow with the square of the episode length, and on a
CPU that dominates rollout time: a 15-round Maze episode re-reads about 9k tokens to write 700.
:class:`PrefixCachedGenerator` keeps, per session (episode), the token ids it has already run
through the model and their keys/values, and each round runs only what is new.

The model sees exactly the tokens ``LLMPolicy.generate`` would give it: each prompt is encoded
by the policy's own ``encode_prompt`` (chat template, context cuts and all); the cached part is
the longest common prefix of those ids with the ids already run, so a reply the tokenizer would
split differently, or a prompt cut to fit the context, just reuses less. Greedy outputs therefore
match ``policy.generate`` up to floating-point rounding (tested on whole rollouts).

Batch layout for one round, row i (``c_i`` cached tokens, ``n_i`` new ones)::

    [ pad .. pad | cached_i (c_i) | pad .. pad | new_i (n_i) | generated ... ]
      <-------- max c ---------->   <----- max n ---------->

Pads are masked out, and every real token gets its true position (``c_i + k``) so rotary
embeddings match an unpadded run. The cache is a ``transformers.cache_utils.Cache`` of
:class:`GrowingLayer` s handed to the model as ``cache=`` (the name since transformers 5.24;
``past_key_values=`` is deprecated and goes in 5.40). Sampling (temperature, top-p) follows ``transformers``'
warpers and draws from a ``torch.Generator`` seeded by the caller. Replies are the policy's
``Reply`` s: the token ids each row produced and, when asked, their log-probs, scored by
``agentgym_rl.policy.token_log_probs`` on each step's logits (as ``LLMPolicy.generate`` scores).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import torch
from transformers.cache_utils import Cache, DynamicLayer

from agentgym_rl.policy import Reply, token_log_probs

Message = dict[str, str]
SPARE_COLUMNS = 64  # decode steps a layer can take before its buffer grows (it then doubles)


@dataclass
class Session:
    """What one episode has run through the model: its token ids and, per layer, their keys
    and values (``[kv_heads, len(ids), head_dim]``)."""

    ids: list[int]
    keys: list[torch.Tensor]
    values: list[torch.Tensor]


class GrowingLayer(DynamicLayer):
    """A KV-cache layer with spare capacity, so a decode step writes one column in place instead
    of copying the whole cache (``DynamicLayer`` concatenates: O(length) work per token). It is a
    ``DynamicLayer`` (transformers' extension point for cache layers), so the model's mask code
    treats it as an ordinary dynamic layer; ``keys`` / ``values`` are views of the filled part."""

    def __init__(self, spare: int = SPARE_COLUMNS):
        super().__init__()
        self.spare = spare
        self.length = 0

    @classmethod
    def holding(cls, buffer_keys: torch.Tensor, buffer_values: torch.Tensor, length: int) -> GrowingLayer:
        """A layer whose buffers (``[batch, heads, capacity, dim]``) already hold ``length`` positions."""
        layer = cls()
        layer.lazy_initialization(buffer_keys, buffer_values)
        layer.buffer_keys, layer.buffer_values, layer.length = buffer_keys, buffer_values, length
        layer._expose()
        return layer

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:  # a session with nothing cached: the prefill allocates
            self.lazy_initialization(key_states, value_states)
            self.buffer_keys = _with_capacity(key_states[..., :0, :], 0)
            self.buffer_values = _with_capacity(value_states[..., :0, :], 0)
        end = self.length + key_states.shape[-2]
        if end > self.buffer_keys.shape[-2]:
            capacity = max(end + self.spare, 2 * self.buffer_keys.shape[-2])
            self.buffer_keys = _with_capacity(self.buffer_keys[..., : self.length, :], capacity)
            self.buffer_values = _with_capacity(self.buffer_values[..., : self.length, :], capacity)
        self.buffer_keys[..., self.length : end, :] = key_states
        self.buffer_values[..., self.length : end, :] = value_states
        self.length = end
        self._expose()
        return self.keys, self.values

    def _expose(self) -> None:
        self.keys = self.buffer_keys[..., : self.length, :]
        self.values = self.buffer_values[..., : self.length, :]

    def get_seq_length(self) -> int:
        return self.length


def _with_capacity(tensor: torch.Tensor, capacity: int) -> torch.Tensor:
    """``tensor`` ([..., length, dim]) copied into a zeroed buffer of ``capacity`` positions."""
    buffer = tensor.new_zeros(*tensor.shape[:-2], capacity, tensor.shape[-1])
    buffer[..., : tensor.shape[-2], :] = tensor
    return buffer


# Decoder-only models whose attention takes explicit position ids and whose cache is one plain
# key/value layer per block: the layout above is exact for them. Others use ordinary generate.
PREFIX_CACHE_MODELS = {"llama", "mistral", "qwen2", "qwen3"}


def supports_prefix_cache(model) -> bool:
    config = model.config  # a peft wrapper hands back its base model's config
    if config.model_type not in PREFIX_CACHE_MODELS:
        return False
    if hasattr(config, "use_sliding_window"):
        return not config.use_sliding_window
    return getattr(config, "sliding_window", None) is None  # a window would drop old keys


class PrefixCachedGenerator:
    """``generate`` like ``LLMPolicy.generate``, for named sessions whose caches persist.

    Call :meth:`forget` when a session (episode) ends, to free its cache."""

    def __init__(self, policy):
        self.policy = policy
        self.sessions: dict[Hashable, Session] = {}
        self.reused_tokens = 0  # prompt tokens served from the cache
        self.prompt_tokens = 0  # prompt tokens run through the model

    def forget(self, key: Hashable) -> None:
        self.sessions.pop(key, None)

    @torch.inference_mode()
    def generate(
        self,
        keys: Sequence[Hashable],
        prompts: list[list[Message]],
        *,
        max_new_tokens: int = 128,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        log_probs: bool = False,
    ) -> list[Reply]:
        if len(keys) != len(prompts):
            raise ValueError(f"{len(keys)} session keys for {len(prompts)} prompts")
        if len(set(keys)) != len(keys):
            raise ValueError("each session may appear once per batch")
        if not prompts:
            return []
        policy = self.policy
        max_new_tokens = max(1, min(max_new_tokens, policy.max_context - 1))
        prompt_ids = [policy.encode_prompt(messages, reserve=max_new_tokens) for messages in prompts]
        reused = [self._reusable(key, ids) for key, ids in zip(keys, prompt_ids)]
        self.reused_tokens += sum(reused)
        self.prompt_tokens += sum(len(ids) - r for ids, r in zip(prompt_ids, reused))

        generator = None
        if temperature > 0:
            generator = torch.Generator(device=policy.device)
            generator.manual_seed(0 if seed is None else seed)
        replies: list[Reply | None] = [None] * len(prompts)
        for rows in similar_new_lengths([len(ids) - r for ids, r in zip(prompt_ids, reused)]):
            produced = self._generate_rows(
                [keys[i] for i in rows],
                [prompt_ids[i] for i in rows],
                [reused[i] for i in rows],
                max_new_tokens,
                temperature,
                top_p,
                generator,
                log_probs,
            )
            for row, reply in zip(rows, produced):
                replies[row] = reply
        return replies

    def _generate_rows(
        self, keys, prompt_ids, reused, max_new_tokens, temperature, top_p, generator, log_probs
    ) -> list[Reply]:
        """One padded batch: prefill what is new, then decode every row until it stops."""
        policy = self.policy
        batch = RoundBatch.build(policy, [self.sessions.get(k) for k in keys], prompt_ids, reused)
        logits = batch.prefill(policy.model)
        stop = set(policy.stop_token_ids)
        new_ids: list[list[int]] = [[] for _ in prompt_ids]
        scores: list[list[float]] | None = [[] for _ in prompt_ids] if log_probs else None
        finished = [False] * len(prompt_ids)
        while True:
            picked = pick_tokens(logits, temperature, top_p, generator)
            tokens = picked.tolist()
            step_scores = token_log_probs(logits, picked, temperature).tolist() if log_probs else None
            feed: list[int | None] = [None] * len(tokens)
            for row, token in enumerate(tokens):
                if finished[row]:
                    continue
                new_ids[row].append(token)
                if scores is not None:
                    scores[row].append(step_scores[row])
                finished[row] = token in stop or len(new_ids[row]) == max_new_tokens
                # A finished row feeds a masked pad from now on, so its cache stays clean.
                feed[row] = None if finished[row] else token
            if all(finished):
                break
            logits = batch.decode(policy.model, feed, policy.pad_token_id)

        for row, key in enumerate(keys):
            self.sessions[key] = batch.session(row)
        return [policy.reply(ids, None if scores is None else scores[row]) for row, ids in enumerate(new_ids)]

    def _reusable(self, key: Hashable, ids: list[int]) -> int:
        """Cached tokens this prompt can reuse; at least one token is always run, because the
        next-token logits come from the last prompt token."""
        session = self.sessions.get(key)
        if session is None:
            return 0
        limit = min(len(session.ids), len(ids) - 1)
        common = 0
        while common < limit and session.ids[common] == ids[common]:
            common += 1
        return common


class RoundBatch:
    """The padded tensors of one round, its cache, and the bookkeeping to hand each row's
    cache back."""

    def __init__(self, cache: Cache, mask, input_ids, positions, row_ids):
        self.cache = cache
        self.mask = mask  # [batch, columns so far]: 1 where a real token sits
        self.input_ids = input_ids
        self.positions = positions
        self.row_ids = row_ids  # per row: the token ids in the cache, in order
        self.next_position = positions[:, -1] + 1

    @classmethod
    def build(cls, policy, sessions: list[Session | None], prompt_ids: list[list[int]], reused: list[int]):
        rows = len(prompt_ids)
        cached_width = max(reused)
        new_width = max(len(ids) - r for ids, r in zip(prompt_ids, reused))
        mask = torch.zeros(rows, cached_width + new_width, dtype=torch.long)
        input_ids = torch.full((rows, new_width), policy.pad_token_id, dtype=torch.long)
        positions = torch.zeros(rows, new_width, dtype=torch.long)
        for row, (ids, r) in enumerate(zip(prompt_ids, reused)):
            new = ids[r:]
            mask[row, cached_width - r : cached_width] = 1
            mask[row, cached_width + new_width - len(new) :] = 1
            input_ids[row, new_width - len(new) :] = torch.tensor(new)
            positions[row, new_width - len(new) :] = torch.arange(r, len(ids))
        if cached_width:
            held = [session if r else None for session, r in zip(sessions, reused)]
            capacity = cached_width + new_width + SPARE_COLUMNS  # this round fits without a copy
            layers = [
                GrowingLayer.holding(
                    _left_padded([s and s.keys[i] for s in held], reused, capacity),
                    _left_padded([s and s.values[i] for s in held], reused, capacity),
                    cached_width,
                )
                for i in range(len(next(s for s in held if s).keys))
            ]
            cache = Cache(layers=layers)
        else:
            cache = Cache(layer_class_to_replicate=GrowingLayer)  # layers appear in the prefill
        row_ids = [list(ids) for ids in prompt_ids]
        device = policy.device
        return cls(cache, mask.to(device), input_ids.to(device), positions.to(device), row_ids)

    def prefill(self, model) -> torch.Tensor:
        output = model(
            input_ids=self.input_ids,
            attention_mask=self.mask,
            position_ids=self.positions,
            cache=self.cache,
            use_cache=True,
            logits_to_keep=1,
        )
        return output.logits[:, -1, :].float()

    def decode(self, model, feed: list[int | None], pad_id: int) -> torch.Tensor:
        rows = len(feed)
        tokens = torch.tensor([[pad_id if t is None else t] for t in feed], device=self.mask.device)
        column = torch.tensor([[0 if t is None else 1] for t in feed], device=self.mask.device)
        self.mask = torch.cat([self.mask, column], dim=1)
        positions = self.next_position.view(rows, 1).clone()
        for row, token in enumerate(feed):
            if token is not None:
                self.row_ids[row].append(token)
        self.next_position = self.next_position + column.view(-1)
        output = model(
            input_ids=tokens,
            attention_mask=self.mask,
            position_ids=positions,
            cache=self.cache,
            use_cache=True,
        )
        return output.logits[:, -1, :].float()

    def session(self, row: int) -> Session:
        """Row ``row``'s cache, pads removed: what the next round can reuse."""
        real = self.mask[row].nonzero().view(-1)
        keys = [layer.keys[row].index_select(-2, real) for layer in self.cache.layers]
        values = [layer.values[row].index_select(-2, real) for layer in self.cache.layers]
        ids = self.row_ids[row]
        if len(ids) != real.numel():
            raise RuntimeError(f"cache of row {row} holds {real.numel()} tokens, expected {len(ids)}")
        return Session(ids, keys, values)


def _left_padded(tensors: list[torch.Tensor | None], reused: list[int], capacity: int) -> torch.Tensor:
    """Per-session ``[heads, length, dim]`` tensors, cut to their reused length, right-aligned
    at ``max(reused)`` in a zeroed ``[rows, heads, capacity, dim]`` buffer."""
    like = next(t for t in tensors if t is not None)
    heads, _, dim = like.shape
    width = max(reused)
    out = like.new_zeros(len(tensors), heads, capacity, dim)
    for row, (tensor, r) in enumerate(zip(tensors, reused)):
        if r:
            out[row, :, width - r : width, :] = tensor[:, :r, :]
    return out


def similar_new_lengths(new_lengths: list[int], spread: int = 4, slack: int = 128) -> list[list[int]]:
    """Rows (indices) grouped so that each group's new-token counts are alike.

    A round's prefill pads every row to the longest new part and attends over the longest cached
    part plus that: one row whose cache missed (a prompt cut to fit the context re-runs whole)
    would make every row of the batch pay for its length, squared. Rows sorted by new length
    start a new group when one holds more than ``spread`` x the group's shortest plus ``slack``
    tokens; each group is its own prefill and decode."""
    order = sorted(range(len(new_lengths)), key=lambda row: new_lengths[row])
    groups: list[list[int]] = []
    for row in order:
        if groups and new_lengths[row] <= spread * new_lengths[groups[-1][0]] + slack:
            groups[-1].append(row)
        else:
            groups.append([row])
    return groups


def pick_tokens(logits: torch.Tensor, temperature: float, top_p: float, generator) -> torch.Tensor:
    """Greedy (``temperature == 0``) or sampled next tokens, as transformers' temperature and
    top-p warpers do it."""
    if temperature <= 0:
        return logits.argmax(dim=-1)
    logits = logits / temperature
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=False)
        cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        remove_sorted = cumulative <= (1 - top_p)
        remove_sorted[..., -1:] = False  # always keep the most likely token
        remove = remove_sorted.scatter(1, order, remove_sorted)
        logits = logits.masked_fill(remove, float("-inf"))
    probabilities = logits.softmax(dim=-1)
    return torch.multinomial(probabilities, num_samples=1, generator=generator).view(-1)


__all__ = ["PrefixCachedGenerator", "Session", "pick_tokens", "similar_new_lengths"]
