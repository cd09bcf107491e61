"""A small OpenAI-compatible chat server for tests, on loopback, that misbehaves on purpose.

It answers Maze prompts with a move towards the goal (or, given ``script``, with the assistant
message ``script(request_body)`` returns, e.g. a tool call), and injects faults by request number:
429 (with Retry-After), 500, a malformed body, and a reply slower than the client's timeout.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import socket
import threading
import time

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

_POSITION = re.compile(r"\((\d+), (\d+)\)")


def maze_move(text: str) -> str:
    """Towards the goal: the first position in the last observation is the goal's on the first
    turn; later turns only say where we are, so remember the goal from the first user turn."""
    positions = _POSITION.findall(text)
    return "move down" if len(positions) % 2 else "move right"


class FakeOpenAI:
    def __init__(self, faults: bool = True, slow_seconds: float = 3.0, script=None):
        self.faults = faults
        self.script = script
        self.slow_seconds = slow_seconds
        self.counter = itertools.count(1)
        self.served = 0  # successful completions
        self.requests = 0
        self.keys: set[str] = set()
        self.app = self._build()

    def _build(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def complete(request: Request):
            number = next(self.counter)
            self.requests += 1
            self.keys.add(request.headers.get("authorization", ""))
            body = await request.json()
            if self.faults:
                if number % 7 == 1:
                    return JSONResponse({"error": "slow down"}, status_code=429, headers={"Retry-After": "0"})
                if number % 7 == 3:
                    return JSONResponse({"error": "boom"}, status_code=500)
                if number % 7 == 5:
                    return PlainTextResponse("{not json")
                if number % 13 == 6:
                    await asyncio.sleep(self.slow_seconds)
            last = body["messages"][-1]["content"]
            if "NEVER-ANSWER" in last:
                return JSONResponse({"error": "overloaded"}, status_code=503)
            reply = f"Thought:\nI head for the goal.\n\nAction:\n{maze_move(last)}"
            message = self.script(body) if self.script else {"role": "assistant", "content": reply}
            self.served += 1
            return {
                "choices": [{"message": message}],
                "usage": {"prompt_tokens": len(last.split()), "completion_tokens": 9},
            }

        return app

    def start(self) -> str:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        config = uvicorn.Config(self.app, host="127.0.0.1", port=port, log_level="error")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        return f"http://127.0.0.1:{port}/v1"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
