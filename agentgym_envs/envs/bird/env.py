"""The BIRD-SQL env: one question about one SQLite database, answered with one query."""

from __future__ import annotations

import sqlite3
from functools import cache
from pathlib import Path
from typing import Any

from agentgym_envs.core import Outcome, TextEnv
from agentgym_envs.envs.bird.catalogue import BirdFolder, Task, generated_task
from agentgym_envs.envs.bird.safe_sql import QueryError, SafeDatabase
from agentgym_envs.envs.bird.schema import describe, introspect
from agentgym_envs.toolcalls import ToolParam, ToolSpec

RESULT_CHARS = 100  # AgentGym's server shows the first 100 characters of the result


def extract_query(action: str) -> str:
    """The SQL in a reply: the last fenced ```sql block, as AgentGym's client takes it, or the
    whole text when there is no fence."""
    if "```" not in action:
        return action.strip()
    lower = action.lower()
    start = lower.rfind("```sql")
    body = action[start + 6 :] if start >= 0 else action[action.find("```") + 3 :]
    return body.split("```")[0].strip()


def result_text(rows: list[tuple]) -> str:
    text = str(rows)
    return text[:RESULT_CHARS] + "..." if len(text) > RESULT_CHARS else text


@cache
def _described(db_id: str, path: Path) -> str:
    """sqlgym's schema sentences for a database read from the file itself (cached per file)."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return describe(introspect(conn, db_id))
    finally:
        conn.close()


class BirdEnv(TextEnv):
    """Answer a question about an SQLite database with one SQL query (execution match).

    Args:
        bird_dir: a BIRD folder (``train/`` and ``dev/`` as BIRD ships them). Task n is then
            AgentGym's ``sqlgym_<n>``; a seeded reset on the test split draws from dev, other
            splits from train. Without it, the generated databases are used.
        time_limit: seconds one query may run. max_rows: rows one query may return.
    """

    action_help = (
        "The action is one SQLite query that answers the question, on one line, either bare or in a "
        "```sql ... ``` block. Only reading queries run; the result rows are compared with the "
        "correct query's as sets."
    )
    max_action_length = 4096  # BIRD's longest gold queries are about 1,000 characters

    def __init__(
        self,
        split: str = "train",
        render_mode: str | None = None,
        bird_dir: str | Path | None = None,
        time_limit: float = 2.0,
        max_rows: int = 10_000,
    ):
        super().__init__(split=split, render_mode=render_mode)
        self.folder = BirdFolder(bird_dir) if bird_dir is not None else None
        self.time_limit, self.max_rows = time_limit, max_rows
        self.task: Task | None = None
        self._databases: dict[Path, SafeDatabase] = {}
        self._gold: dict[int, frozenset] = {}

    @classmethod
    def action_tools(cls) -> tuple[ToolSpec, ...]:
        sql = ToolParam("sql", "string", "one reading SQLite query (SELECT or WITH)")
        description = "Run your one SQL query as the answer; its rows are compared with the correct query's."
        return (ToolSpec("query", description, (sql,), "{sql}"),)

    # ----------------------------------------------------------------- tasks
    def task_description(self) -> str:
        return (
            "You are given a description of an SQLite database and a question about its data. "
            "Explain your reasoning, then answer with one SQL query that returns exactly what the "
            "question asks: the right rows and columns, nothing more. You have one attempt."
        )

    def _choose_task(self, options: dict[str, Any] | None) -> int:
        if self.folder is None:
            return super()._choose_task(options)
        if options and options.get("task_id") is not None:
            task_id = int(options["task_id"])
            self.folder.task(task_id)  # raises a ValueError naming the folder's task ids
            return task_id
        ids = self.folder.task_ids("dev" if self.split == "test" else "train")
        if len(ids) == 0:
            raise ValueError(f"{self.folder.root} has no BIRD questions for split {self.split!r}")
        return ids[int(self.np_random.integers(len(ids)))]

    def _start_task(self, task_id: int) -> str:
        if self.folder is not None:
            self.task = self.folder.task(task_id)
        else:
            self.task = generated_task(task_id, self.splits.test)
        return f"{self._schema_text(self.task)}\n\n{self.task.question}"

    def _schema_text(self, task: Task) -> str:
        if task.schema is not None:
            return describe(task.schema)
        if not task.db_path.is_file():
            raise FileNotFoundError(f"the database of {task.db_id} is missing: {task.db_path}")
        return _described(task.db_id, task.db_path)

    def _database(self, path: Path) -> SafeDatabase:
        db = self._databases.get(path)
        if db is None:
            db = self._databases[path] = SafeDatabase(
                path, time_limit=self.time_limit, max_rows=self.max_rows
            )
        return db

    def _gold_rows(self) -> frozenset:
        if self.task.gold is not None:
            return self.task.gold
        if self.task_id not in self._gold:  # a BIRD question: run its gold query once, guarded too
            self._gold[self.task_id] = frozenset(self._database(self.task.db_path).execute(self.task.sql))
        return self._gold[self.task_id]

    # ----------------------------------------------------------------- acting
    def _apply(self, action: str) -> Outcome:
        query = extract_query(action)
        if not query:
            return self.invalid("the ```sql block holds no query; put the whole query on the Action line.")
        try:
            rows = self._database(self.task.db_path).execute(query)
        except QueryError as error:
            return Outcome(f"Error: {error}", self.score)
        try:
            gold = self._gold_rows()
        except QueryError as error:  # a broken gold query in a user's BIRD folder: nobody can score
            return Outcome(
                f"Error: the task's own gold query fails ({error}); it cannot be scored.", 0.0, done=True
            )
        correct = set(rows) == gold
        return Outcome(result_text(rows), 1.0 if correct else 0.0, done=True)

    def expert(self) -> tuple[str, str]:
        return self.task.thought, " ".join(self.task.sql.split())

    def close(self) -> None:
        for db in self._databases.values():
            db.close()
        self._databases.clear()
        super().close()
