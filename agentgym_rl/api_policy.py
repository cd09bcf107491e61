"""A policy behind an OpenAI-compatible chat API (``/v1/chat/completions``).

    policy = APIPolicy("http://127.0.0.1:8000/v1", model="my-model")
    replies = policy.generate([[{"role": "user", "content": "..."}]], max_new_tokens=128)

It plugs into the same batched rollouts as a local model: each round's prompts go out as
concurrent requests (up to ``concurrency`` at once), so ``agentgym eval --api_base`` plays many
episodes at a time where AgentGym runs a pool of 20 processes with one episode each.

- The key is read from an environment variable (``api_key_env``, default ``OPENAI_API_KEY``),
  never from a flag, and never printed or logged.
- 429, 5xx, timeouts, dropped connections and malformed bodies are retried with exponential
  backoff and jitter (``Retry-After`` respected). A request that still fails becomes a
  :class:`GenerationError` reply: the rollout ends that episode and records the error, so an
  evaluation never loses an episode silently and never hangs.
- Token usage (prompt and completion) is summed from the API's ``usage`` fields.
- Tool calling (``agentgym eval --action_format tools``): ``generate(..., tools=[...])`` sends each
  prompt's OpenAI ``tools``, the history's tool calls as ``tool_calls`` and their results as
  ``tool`` messages; a reply's ``tool_calls`` come back written into its text
  (:func:`agentgym_envs.formats.reply_from_openai`), where the rollout's format reads them.
"""

from __future__ import annotations

import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from agentgym_envs.formats import reply_from_openai, to_openai_messages

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class GenerationError(str):
    """A reply that could not be had; ``error`` says why. A ``str`` so it flows where replies do."""

    error: str

    def __new__(cls, error: str) -> GenerationError:
        obj = super().__new__(cls, "")
        obj.error = error
        return obj

    def __reduce__(self):
        return GenerationError, (self.error,)


@dataclass
class APIUsage:
    requests: int = 0
    retries: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}


class APIPolicy:
    """Replies from a chat-completions endpoint, with retries; see the module docstring."""

    native_tool_calls = True  # takes OpenAI tools: the rollout's tool format sends them

    def __init__(
        self,
        api_base: str,
        model: str,
        *,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 16,
        max_retries: int = 6,
        timeout: float = 120.0,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        seed: int = 0,
    ):
        import httpx

        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self.api_base = api_base.rstrip("/")
        self.model = model
        self.max_retries, self.backoff, self.max_backoff = max_retries, backoff, max_backoff
        key = os.environ.get(api_key_env)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self._http = httpx.Client(base_url=self.api_base, headers=headers, timeout=timeout, limits=limits)
        self._httpx = httpx
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="api-policy")
        self._jitter = random.Random(seed)
        self.usage = APIUsage()

    @property
    def generated_tokens(self) -> int:  # what the rollout engine counts
        return self.usage.completion_tokens

    def generate(
        self,
        prompts: list[list[dict[str, str]]],
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        tools: list[list[dict[str, Any]] | None] | None = None,
    ) -> list[str]:
        """One reply per prompt. ``tools``: per prompt, the OpenAI tools the model may call (one
        call per turn), or None for plain chat."""
        body = {"model": self.model, "max_tokens": max_new_tokens, "temperature": temperature, "top_p": top_p}
        if seed is not None:
            body["seed"] = seed
        bodies = []
        for index, messages in enumerate(prompts):
            offered = tools[index] if tools is not None else None
            if offered:
                bodies.append(
                    {
                        **body,
                        "messages": to_openai_messages(messages),
                        "tools": offered,
                        "parallel_tool_calls": False,
                    }
                )
            else:
                bodies.append({**body, "messages": messages})
        futures = [self._pool.submit(self._complete, request) for request in bodies]
        return [future.result() for future in futures]

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._http.close()

    # ------------------------------------------------------------------ one request, with retries
    def _complete(self, body: dict[str, Any]) -> str:
        problem = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                self.usage.add(retries=1)
            self.usage.add(requests=1)
            wait, problem, reply = self._attempt(body)
            if reply is not None:
                return reply
            if wait is None:  # not worth retrying (a 4xx that will not change)
                break
            if attempt < self.max_retries:
                time.sleep(wait if wait > 0 else self._backoff(attempt))
        self.usage.add(failures=1)
        return GenerationError(problem)

    def _attempt(self, body: dict[str, Any]) -> tuple[float | None, str, str | None]:
        """(seconds to wait before a retry or None for no retry, what went wrong, the reply)."""
        httpx = self._httpx
        try:
            response = self._http.post("/chat/completions", json=body)
        except httpx.TimeoutException:
            return 0.0, "the request timed out", None
        except httpx.TransportError as error:
            return 0.0, f"connection failed: {type(error).__name__}", None
        if response.status_code in RETRY_STATUS:
            return _retry_after(response), f"HTTP {response.status_code}", None
        if response.status_code >= 400:
            return None, f"HTTP {response.status_code}: {response.text[:300]}", None
        try:
            payload = response.json()
            reply = reply_from_openai(payload["choices"][0]["message"])
            if reply is None:
                raise TypeError("the message has neither text nor tool calls")
        except (ValueError, KeyError, IndexError, TypeError) as error:
            return 0.0, f"malformed reply body ({type(error).__name__})", None
        usage = payload.get("usage") or {}
        self.usage.add(
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
        )
        return None, "", reply

    def _backoff(self, attempt: int) -> float:
        base = min(self.max_backoff, self.backoff * 2**attempt)
        return base * (0.5 + self._jitter.random() / 2)  # jitter: retries of many episodes spread out


def _retry_after(response) -> float:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return 0.0
