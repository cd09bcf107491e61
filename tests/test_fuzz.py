"""No input may crash or hang an env: every registered id is fuzzed in a child process.

Each id runs in a child of its own (this file run as a script), so that a segfault, a hang or an
endless flood of output in an engine fails the id's test, naming the input, instead of killing or
freezing the test run. The child plays a fixed, seeded stream of inputs: arbitrary unicode,
control characters, every backslash sequence (dumb-frotz's escape commands), strings at and past
the length limit, empty and whitespace-only text, JSON/SQL/URL-ish junk, and mutations of the
expert's own actions, interleaved with the expert's real moves so later states are fuzzed too.
It checks every step's 5-tuple against the env contract, runs part of the stream through the
ReAct wrapper, and at the end checks the env still works: the expert solves a fresh episode.

The parent reads the child's output through a pipe, keeping only its head and tail, and stops a
child that prints more than ``OUTPUT_CAP`` bytes, makes no progress for ``STALL_SECONDS`` or runs
past ``RUN_SECONDS``. The child's working directory is empty and must stay empty: model text
must not make an engine write files.
"""

from __future__ import annotations

import json
import math
import os
import random
import signal
import string
import subprocess
import sys
import threading
import time
import traceback
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from agentgym_envs import INFO_KEYS, env_ids

ALL_IDS = env_ids()
# Other engines behind one id, fuzzed as cases of their own: "<id>:<keyword>=<value>".
VARIANTS = ["AgentGym/WebArena-v0:backend=browser"]
STALL_SECONDS = 60  # one input (or starting the env, a JVM) taking longer than this is a hang
RUN_SECONDS = 300  # one id's whole run, on a busy machine (about 1-8 s when all is well)
OUTPUT_CAP = 1_000_000  # bytes of stdout + stderr a child may write (warnings, JVM logs)
MUTATIONS = 120  # mutated expert actions per id, on top of the fixed corpus
REACT_INPUTS = 40  # inputs sent through the ReAct wrapper
RESET_TASKS = 2  # test tasks the fuzz cycles through (a new task costs SciWorld's expert ~5 s)
EXPERT_ROUNDS = 200  # the expert's steps to solve the final episode (as tests/test_envs.py)


@pytest.mark.parametrize("env_id", ALL_IDS + VARIANTS)
def test_no_input_crashes_hangs_or_breaks_the_env(env_id, tmp_path):
    from helpers import installed_or_skip

    installed_or_skip(env_id.partition(":")[0])
    if env_id.endswith("backend=browser"):
        from agentgym_envs.envs.webarena.chromium import ChromiumNotFound, find_chromium

        try:
            find_chromium()
        except ChromiumNotFound as missing:
            pytest.skip(str(missing))
    run = run_child(env_id, tmp_path)
    where = f"{env_id}: last input {run.last_input}"
    assert run.ended == "exit", f"{where}: the child {run.ended}\n--- child output ---\n{run.output}"
    how = f"was killed by {signal.Signals(-run.returncode).name}" if run.returncode < 0 else "failed"
    assert run.returncode == 0, f"{where}: the child {how} ({run.returncode})\n{run.output}"
    report = json.loads((tmp_path / "report.json").read_text())
    if report["problems"]:
        pytest.fail(f"{env_id}: {len(report['problems'])} bad steps\n" + "\n".join(report["problems"][:12]))
    assert report["steps"] >= 300 + REACT_INPUTS
    assert report["expert_solved"], f"{env_id}: the expert cannot solve a fresh episode after the fuzz"
    written = sorted(p.name for p in (tmp_path / "cwd").iterdir())
    assert not written, f"{env_id}: the env wrote {written} into its working directory"


# ------------------------------------------------------------------------------ the parent side
@dataclass
class ChildRun:
    """How a child ended: ``exit``, or why it was stopped (hung, flooded its output, ran too
    long); its exit code, the head and tail of its output, and the last input it was given."""

    ended: str
    returncode: int | None
    output: str
    last_input: str


class BoundedReader(threading.Thread):
    """Drains a pipe, keeping its first and last few kilobytes and counting the rest."""

    KEEP = 3000

    def __init__(self, pipe):
        super().__init__(daemon=True)
        self.pipe, self.head, self.tail, self.size = pipe, b"", b"", 0

    def run(self) -> None:
        while chunk := self.pipe.read1(65536):
            self.size += len(chunk)
            if len(self.head) < self.KEEP:
                self.head += chunk[: self.KEEP - len(self.head)]
            self.tail = (self.tail + chunk)[-self.KEEP :]

    def text(self) -> str:
        body = self.head if self.size <= self.KEEP else self.head + b"\n[...]\n" + self.tail
        return f"({self.size} bytes)\n" + body.decode("utf-8", errors="replace")


def run_child(env_id: str, folder: Path) -> ChildRun:
    (folder / "cwd").mkdir()
    progress = folder / "progress.jsonl"
    command = [sys.executable, str(Path(__file__).resolve()), env_id, str(folder)]
    environ = {**os.environ, "PYTHONFAULTHANDLER": "1", "PYTHONPATH": _import_path()}
    child = subprocess.Popen(
        command, cwd=folder / "cwd", env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    reader = BoundedReader(child.stdout)
    reader.start()
    ended = _watch(child, reader, progress)
    reader.join(timeout=10)
    return ChildRun(ended, child.returncode, reader.text(), _last_input(progress))


def _watch(child: subprocess.Popen, reader: BoundedReader, progress: Path) -> str:
    """Wait for the child; stop it when it floods, stalls or runs too long."""
    start = last_move = time.monotonic()
    seen = 0
    while child.poll() is None:
        time.sleep(0.1)
        now = time.monotonic()
        size = progress.stat().st_size if progress.exists() else 0
        if size != seen:
            seen, last_move = size, now
        problem = (
            f"flooded its output ({reader.size} bytes)" if reader.size > OUTPUT_CAP else
            f"hung (no progress for {STALL_SECONDS} s)" if now - last_move > STALL_SECONDS else
            f"ran too long ({RUN_SECONDS} s)" if now - start > RUN_SECONDS else None
        )  # fmt: skip
        if problem:
            child.send_signal(signal.SIGKILL)
            child.wait()
            return problem
    return "exit"


def _import_path() -> str:
    """The child imports this checkout's packages and tests/helpers, as pytest does."""
    tests = Path(__file__).resolve().parent
    return os.pathsep.join([str(tests.parent), str(tests), os.environ.get("PYTHONPATH", "")])


def _last_input(progress: Path) -> str:
    lines = progress.read_text(errors="replace").splitlines() if progress.exists() else []
    return lines[-1] if lines else "(none: the env did not start)"


# ------------------------------------------------------------------------------ the inputs
BACKSLASHED = [f"\\{c}" for c in string.ascii_letters + string.digits + string.punctuation]
CONTROL = [
    "\x00", "take\x00coin", "\x1b[31mred\x1b[0m", "\x1b]0;title\x07", "\x1b[2J\x1b[H", "\x1bc",
    "look\r", "\rlook", "look\r\nlook", "\x7f", "go\x7fnorth", "\x08\x08\x08", "\x0b\x0c", "\x1c\x1d\x1e\x1f",
    "\x85", "\u2028", "\u2029", "\ufeff", "\u200b", "\u202e", "\ud800", "look\udfff", "\U0010ffff",
]  # fmt: skip
UNICODE_SAMPLES = [
    "é 漢字 🙂", "Ünïcödé ácţîøñ", "ｌｏｏｋ", "ℌ𝔢𝔩𝔩𝔬", "ﬁnd ﬂask", "İstanbul", "²³¹", "١٢٣", "Ⅻ",
    "e\u0301\u0301\u0301", "مرحبا", "שלום", "🙂" * 50,
    "\u3000", "ß" * 30, "К" * 10, "\\U0001F600", "\\x00", "\\n\\r\\t",
]  # fmt: skip
JUNK = [
    "", " ", "   \t  ", "\n\n", "\t", "a", "?", "[", "]", "[]", "[[[[", "]]]]", "()" * 20, "{}", "\\", "\\\\",
    '{"action": "look"}', '{"a": [1, {"b": null}]}', "[1, 2, 3]", "null", "true", "NaN", "-1", "1e308",
    "'; DROP TABLE users; --", "SELECT * FROM sqlite_master", 'SELECT "', "SELECT 1; SELECT 2",
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
    "ATTACH DATABASE 'x.db' AS x", "PRAGMA writable_schema = 1", "SELECT load_extension('x')",
    "http://localhost:7770/", "goto [http://localh[ost:9999/f/music/186]", "goto [http://[::1]:80/]",
    "goto [http://localhost:99999999/]", "goto [file:///etc/passwd]", "goto [javascript:alert(1)]",
    "goto [http://localhost:9999/f/music/²]", "goto [http://localhost:9999/f/music/١٢]", "tab_focus [²]",
    "goto [http://localhost:7770/sales/order/view/order_id/99999999999999999999/]", "goto []",
    "goto [http://user:pass@localhost:9999/]", "goto [http://localhost:9999\uff03/]", "goto [%zz%]",
    "click [99999999999999999999999]", "type [1] [\\U] [1]", "stop [\\u]", "press [\\h]", "scroll [\x00]",
    "../../../../etc/passwd", "file:///etc/passwd", "%s%s%s%n", "{{7*7}}", "${jndi:ldap://x}", "$(reboot)",
    "`reboot`", "; rm -rf /", "|| true", "Action: look", "Thought: hmm\nAction: look", "Action:", "Thought:",
    "search[]", "search[" + "x" * 500 + "]", "click[", "click[]]", "buy now", "craft 999999999 stone using",
    "get -1 stone", "get 1e9 stone", "move up up up up", "with Action Input: {", "x with Action Input: {}",
    'get_weather with Action Input: {"a": ' * 20, "with Action Input: null", "with Action Input: []",
    "quit", "q", "restart", "save", "restore", "script", "unscript", "verify", "undo", "exit", "help",
    "tw-trace-actions", "restrict commands", "enable print state option", "take coin then restart",
]  # fmt: skip


def long_inputs(limit: int) -> list[str]:
    """At and around the env's action length limit and jericho's (197), past them, long words."""
    lengths = (196, 197, 198, 199, 255, 256, 1023, 1024, limit - 1, limit, limit + 1, 10_000)
    inputs = ["x" * n for n in lengths]
    return inputs + [
        "look " * 400,
        "\\u" * 900,
        "[" * 2000,
        "a" + " " * 2000 + "b",
        "🙂" * 2000,
        "\x00" * 3000,
    ]


def fixed_corpus(expert_action: str, limit: int) -> list[str]:
    """Every input kind above, plus each backslash sequence inside a command (the expert's)."""
    inside = [f"{expert_action} {seq}" for seq in BACKSLASHED[::2]]
    inside += [f"{seq}{expert_action}" for seq in BACKSLASHED[1::2]]
    return BACKSLASHED + inside + CONTROL + UNICODE_SAMPLES + JUNK + long_inputs(limit)


INSERTABLE = (
    string.ascii_letters + string.digits + string.punctuation + " \\[]\x00\x1b\r\t\n\x7f" + "é漢🙂\u200b"
)


def mutate(action: str, rng: random.Random) -> str:
    """One seeded mutation of an action: insert, delete or replace a character, duplicate,
    truncate, or add backslashes or brackets."""
    where = rng.randrange(len(action) + 1)
    kind = rng.randrange(9)
    if kind == 0:
        return action[:where] + rng.choice(INSERTABLE) + action[where:]
    if kind == 1:
        return action[:where] + action[where + 1 :]
    if kind == 2:
        return action[:where] + rng.choice(INSERTABLE) + action[where + 1 :]
    if kind == 3:
        return action + rng.choice([" ", "", "\n", " and "]) + action
    if kind == 4:
        return action[:where]
    if kind == 5:
        return action[:where] + "\\" + rng.choice(string.ascii_letters) + action[where:]
    if kind == 6:
        return rng.choice(["[", "]", "[[", "]]", "(", "{", "```"]) + action + rng.choice(["", "]", "[", ")"])
    if kind == 7:
        return action.replace(" ", rng.choice(["  ", "\t", "[", "] [", "\\ ", "_"]))
    return action.upper() if rng.random() < 0.5 else action[::-1]


def react_replies(rng: random.Random, corpus: list[str], expert_action: str) -> list[str]:
    """Whole model replies for the ReAct wrapper: junk behind the Action marker, and no marker."""
    picks = rng.sample(corpus, REACT_INPUTS // 2)
    replies = [f"Thought:\n{rng.choice(picks)}\n\nAction:\n{pick}" for pick in picks]
    replies += [rng.choice(["", "Action: ", "Thought: ", "```"]) + pick for pick in picks[:-2]]
    return replies + ["Action:\n" + mutate(expert_action, rng), f"Thought: fine\nAction: {expert_action}"]


# ------------------------------------------------------------------------------ the child side
class Fuzzer:
    """Plays the inputs on one env, writing each one to the progress file before it is played
    (the parent names it if the child dies or hangs) and collecting contract violations."""

    def __init__(self, env_id: str, folder: Path):
        import gymnasium as gym

        self.progress = (folder / "progress.jsonl").open("w", encoding="utf-8")
        self.rng = random.Random(zlib.crc32(env_id.encode()))  # a fixed seed per id
        self.problems: list[str] = []
        self.steps = 0
        self.note("making the env")
        name, _, variant = env_id.partition(":")
        self.env = gym.make(name, **dict([variant.split("=", 1)] if variant else []))
        self.tasks = list(self.env.unwrapped.task_ids("test"))[:RESET_TASKS]
        self.next_task = 0
        self.reset(self.env)

    def note(self, what: str) -> None:
        self.progress.write(json.dumps(what)[:400] + "\n")
        self.progress.flush()

    def reset(self, env) -> None:
        task_id = self.tasks[self.next_task % len(self.tasks)]
        self.next_task += 1
        self.note(f"reset to task {task_id}")
        obs, info = env.reset(options={"task_id": task_id})
        self.check_observation(obs, info, "reset")

    def expert_action(self) -> str:
        self.note("expert()")
        return self.env.unwrapped.expert()[1]

    def step(self, env, action: str) -> None:
        self.note(action)
        self.steps += 1
        try:
            result = env.step(action)
        except Exception:
            self.problems.append(f"step({action[:120]!r}) raised {traceback.format_exc(limit=-3)}")
            self.reset(env)
            return
        self.check_step(result, action)
        if len(result) == 5 and (result[2] or result[3]):
            self.reset(env)

    def check_step(self, result, action: str) -> None:
        if not (isinstance(result, tuple) and len(result) == 5):
            self.problems.append(f"step({action[:120]!r}) returned {type(result).__name__}, not a 5-tuple")
            return
        obs, reward, terminated, truncated, info = result
        if not isinstance(reward, (float, int)) or isinstance(reward, bool) or not math.isfinite(reward):
            self.problems.append(f"step({action[:120]!r}): reward {reward!r} is not a finite number")
        if not isinstance(terminated, bool) or not isinstance(truncated, bool):
            self.problems.append(
                f"step({action[:120]!r}): terminated/truncated {terminated!r}, {truncated!r}"
            )
        self.check_observation(obs, info, f"step({action[:120]!r})")

    def check_observation(self, obs, info, where: str) -> None:
        if not isinstance(obs, str) or not self.env.observation_space.contains(obs):
            self.problems.append(f"{where}: observation {str(obs)[:120]!r} is outside the observation space")
        missing = set(INFO_KEYS) - set(info) if isinstance(info, dict) else INFO_KEYS
        if missing:
            self.problems.append(f"{where}: info lacks {sorted(missing)}")
        elif not 0.0 <= info["score"] <= 1.0:
            self.problems.append(f"{where}: info['score'] {info['score']!r} is outside [0, 1]")

    def play(self) -> None:
        """The fixed corpus and the mutations, in a seeded order, with the expert's real moves
        between them (one in four) so the inputs meet states deep in an episode."""
        corpus = fixed_corpus(self.expert_action(), self.env.unwrapped.max_action_length)
        inputs = corpus + [None] * MUTATIONS  # None: mutate the expert's action of that moment
        self.rng.shuffle(inputs)
        for planned in inputs:
            if self.rng.random() < 0.25:
                self.step(self.env, self.expert_action())
            self.step(self.env, mutate(self.expert_action(), self.rng) if planned is None else planned)
        self.play_react(corpus)

    def play_react(self, corpus: list[str]) -> None:
        from agentgym_envs.wrappers import ReActActions

        react = ReActActions(self.env)
        self.reset(react)
        for reply in react_replies(self.rng, corpus, self.expert_action()):
            self.step(react, reply)

    def expert_solves(self) -> bool:
        """The env still works: the expert solves the first test task from a fresh reset."""
        env = self.env.unwrapped
        self.next_task = 0
        self.reset(env)
        for _ in range(EXPERT_ROUNDS):
            _, _, terminated, _, info = env.step(self.expert_action())
            if terminated:
                return bool(info["success"])
        return False


def child_main(env_id: str, folder: Path) -> None:
    fuzzer = Fuzzer(env_id, folder)
    fuzzer.play()
    solved = fuzzer.expert_solves()
    fuzzer.note("closing")
    fuzzer.env.close()
    report = {"steps": fuzzer.steps, "problems": fuzzer.problems, "expert_solved": solved}
    (folder / "report.json").write_text(json.dumps(report))


if __name__ == "__main__":
    child_main(sys.argv[1], Path(sys.argv[2]))
