"""Where BIRD tasks come from: our generated databases, or a real BIRD folder.

Generated: every database is built once into ``$AGENTGYM_CACHE/bird/v<FORMAT>/<db>.sqlite``
(default ``~/.cache/agentgym``), written to a temporary file and renamed, and rebuilt when it is
missing, damaged or from another FORMAT. Its questions (template instantiations whose gold SQL
ran and gave a non-empty, unambiguous answer) sit beside it in ``<db>.questions.json``.
Test tasks use their own database instances (``<domain>_1``, ``<domain>_2``); training tasks use
the others, so no test question (database + gold) appears in training.

A BIRD folder: ``train/train.json`` + ``train/train_databases/<db>/<db>.sqlite`` and the same
under ``dev/``, as BIRD ships them; ``<split>_tables.json`` is read when present, as sqlgym does,
and the schema is read from the database otherwise. Task n is AgentGym's ``sqlgym_<n>``: BIRD
train question n for n < 9428, dev question n - 9428 above.
"""

from __future__ import annotations

import json
import os
import random
import re
import sqlite3
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from agentgym_envs.envs.bird.domains import DOMAINS, Domain, Template
from agentgym_envs.envs.bird.schema import Schema, load_tables_json

FORMAT = 1  # bump whenever generation changes: cached files of another format are rebuilt
TEST_INSTANCES = (1, 2)  # <domain>_1, <domain>_2 hold the test questions
TRAIN_INSTANCES = tuple(range(3, 10))
PER_TEMPLATE = 16  # instantiations kept per template and database
MAX_GOLD_ROWS = 30  # a question whose answer is longer is not one a person would ask
DEV_OFFSET = 9428  # AgentGym's sqlgym: items 0-9427 are BIRD train, 9428-10961 dev


@dataclass(frozen=True)
class Task:
    db_id: str
    db_path: Path
    question: str
    sql: str
    thought: str  # the expert's explanation of the gold SQL
    gold: frozenset | None = None  # the gold rows when known in advance (generated tasks)
    evidence: str = ""  # BIRD's external-knowledge hint (sqlgym does not show it)
    schema: Schema | None = None  # from tables.json; None: read it from the database


def cache_root() -> Path:
    root = os.environ.get("AGENTGYM_CACHE") or Path.home() / ".cache" / "agentgym"
    return Path(root) / "bird" / f"v{FORMAT}"


def _atomic_write(path: Path, write) -> None:
    """Write through a temporary file in the same folder and rename it over ``path``, so a
    reader never sees half a file and two processes building the same file do no harm."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        write(Path(temporary))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# ------------------------------------------------------------------------- generated databases
def _domain(db_id: str) -> Domain:
    name = db_id.rpartition("_")[0]
    return next(d for d in DOMAINS if d.name == name)


def test_databases() -> list[str]:
    """Domain-interleaved, so consecutive test tasks visit different domains."""
    return [f"{d.name}_{i}" for i in TEST_INSTANCES for d in DOMAINS]


def train_databases() -> list[str]:
    return [f"{d.name}_{i}" for i in TRAIN_INSTANCES for d in DOMAINS]


def _write_database(domain: Domain, db_id: str, path: Path) -> None:
    rows = domain.populate(random.Random(f"bird/{db_id}/data"))
    conn = sqlite3.connect(path)
    try:
        conn.executescript(domain.schema_sql)
        for table, values in rows.items():
            if values:
                marks = ", ".join("?" * len(values[0]))
                conn.executemany(f"INSERT INTO {table} VALUES ({marks})", values)
        conn.execute(f"PRAGMA user_version = {FORMAT}")
        conn.commit()
    finally:
        conn.close()


def _is_sound(path: Path) -> bool:
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            return version == FORMAT and conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return False


@cache
def database_path(db_id: str) -> Path:
    """The generated database ``db_id``, built (or rebuilt, if damaged) on first use."""
    path = cache_root() / f"{db_id}.sqlite"
    if not (path.is_file() and _is_sound(path)):
        _atomic_write(path, lambda tmp: _write_database(_domain(db_id), db_id, tmp))
    return path


def literal(value) -> str:
    """A value as an SQL literal."""
    if value is None:
        return "NULL"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _candidates(conn: sqlite3.Connection, template: Template, rng: random.Random) -> list[dict]:
    if template.params is None:
        return [{}]
    if isinstance(template.params, tuple):
        rows = list(template.params)
    else:
        cursor = conn.execute(template.params)
        names = [d[0] for d in cursor.description]
        # Sorted first: SQLite's row order without ORDER BY may differ between versions.
        rows = [dict(zip(names, r)) for r in sorted(cursor.fetchall(), key=repr)]
    rng.shuffle(rows)
    return rows


def _instantiate(conn: sqlite3.Connection, template: Template, params: dict) -> tuple | None:
    """(question, sql, thought, gold rows) or None when the answer is empty, too long or ambiguous."""
    literals = {k: literal(v) for k, v in params.items()}
    sql = template.sql.format(**literals)
    if template.check and not conn.execute(template.check.format(**literals)).fetchone()[0]:
        return None
    rows = conn.execute(sql).fetchall()
    if not rows or len(rows) > MAX_GOLD_ROWS or all(v is None for row in rows for v in row):
        return None
    return template.question.format(**params), sql, template.explain.format(**params), rows


def _generate_questions(db_id: str) -> list[list]:
    """Every kept question of a database, interleaved across templates."""
    domain = _domain(db_id)
    conn = sqlite3.connect(f"{database_path(db_id).resolve().as_uri()}?mode=ro", uri=True)
    per_template = []
    try:
        for index, template in enumerate(domain.templates):
            kept, seen = [], set()
            for params in _candidates(conn, template, random.Random(f"bird/{db_id}/{index}")):
                found = _instantiate(conn, template, params)
                if found and found[1] not in seen:
                    seen.add(found[1])
                    kept.append([found[0], found[1], found[2], [list(r) for r in found[3]]])
                if len(kept) == PER_TEMPLATE:
                    break
            per_template.append(kept)
    finally:
        conn.close()
    longest = max(map(len, per_template))
    return [group[i] for i in range(longest) for group in per_template if i < len(group)]


@cache
def generated_questions(db_id: str) -> tuple[Task, ...]:
    path = cache_root() / f"{db_id}.questions.json"
    entries = None
    if path.is_file():
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            # Gold rows hold floats whose last bits depend on SQLite's summation (3.43 changed
            # SUM/AVG), so another SQLite library means recomputing them.
            same = stored.get("format") == FORMAT and stored.get("sqlite") == sqlite3.sqlite_version
            entries = stored["questions"] if same else None
        except (ValueError, KeyError, TypeError):
            entries = None  # damaged: rebuild below
    if entries is None:
        entries = _generate_questions(db_id)
        text = json.dumps(
            {"format": FORMAT, "sqlite": sqlite3.sqlite_version, "db_id": db_id, "questions": entries}
        )
        _atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    db_path = database_path(db_id)
    return tuple(
        Task(db_id, db_path, question, sql, thought, frozenset(tuple(r) for r in gold))
        for question, sql, thought, gold in entries
    )


def locate(task_id: int, test_ids: range) -> tuple[str, int]:
    """(database, question number) of a generated task: test task t uses test database
    t mod (their count), question t div (their count); training tasks likewise over the
    training databases, so a test question's database never serves a training task."""
    if task_id in test_ids:
        databases, index = test_databases(), task_id - test_ids.start
    else:
        databases, index = train_databases(), task_id - test_ids.stop
    return databases[index % len(databases)], index // len(databases)


def generated_task(task_id: int, test_ids: range) -> Task:
    db_id, number = locate(task_id, test_ids)
    questions = generated_questions(db_id)
    return questions[number % len(questions)]  # every database has enough (tests check a sample)


# ------------------------------------------------------------------------------ a BIRD folder
class BirdFolder:
    """BIRD's questions and databases, read from the folder layout BIRD ships."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser()
        self.parts: dict[str, list[dict]] = {}
        self.schemas: dict[str, dict[str, Schema]] = {}
        for part in ("train", "dev"):
            questions = self.root / part / f"{part}.json"
            if questions.is_file():
                with open(questions, encoding="utf-8") as file:
                    self.parts[part] = json.load(file)
                tables = self.root / part / f"{part}_tables.json"
                self.schemas[part] = load_tables_json(tables) if tables.is_file() else {}
        if not self.parts:
            raise FileNotFoundError(
                f"{self.root} is not a BIRD folder: expected train/train.json or dev/dev.json "
                "(with train/train_databases/<db>/<db>.sqlite beside it)"
            )

    def task_ids(self, part: str) -> range:
        start = 0 if part == "train" else DEV_OFFSET
        return range(start, start + len(self.parts.get(part, ())))

    def task(self, task_id: int) -> Task:
        part = "dev" if task_id >= DEV_OFFSET else "train"
        index = task_id - (DEV_OFFSET if part == "dev" else 0)
        entries = self.parts.get(part, [])
        if not 0 <= index < len(entries):
            raise ValueError(
                f"BIRD task ids in {self.root} are {describe_ranges(self)}; got {task_id} "
                "(sqlgym_<n>: 0-9427 train, 9428-10961 dev)"
            )
        entry = entries[index]
        db_id = entry["db_id"]
        path = self.root / part / f"{part}_databases" / db_id / f"{db_id}.sqlite"
        sql = entry.get("SQL") or entry.get("query") or ""
        evidence = entry.get("evidence", "") or ""
        return Task(
            db_id,
            path,
            entry["question"],
            sql,
            explain_sql(entry["question"], sql, evidence),
            None,
            evidence,
            self.schemas[part].get(db_id),
        )


def describe_ranges(folder: BirdFolder) -> str:
    spans = [f"{r.start}-{r.stop - 1}" for r in (folder.task_ids("train"), folder.task_ids("dev")) if len(r)]
    return " and ".join(spans)


_TABLES = re.compile(r"\b(?:FROM|JOIN)\s+[`\"\[]?(\w+)", re.IGNORECASE)


def explain_sql(question: str, sql: str, evidence: str = "") -> str:
    """A thought for a BIRD question: what the gold query reads and how it gets the answer."""
    tables = list(dict.fromkeys(t for t in _TABLES.findall(sql) if t.upper() != "SELECT"))
    upper = " ".join(sql.upper().split())
    steps = []
    if len(tables) > 1:
        steps.append(f"join {', '.join(tables[:-1])} and {tables[-1]} on their keys")
    elif tables:
        steps.append(f"read the {tables[0]} table")
    if " WHERE " in upper:
        steps.append("keep the rows that match the question's conditions")
    if "IS NULL" in upper or "IS NOT NULL" in upper:
        steps.append("treat missing values (NULL) explicitly")
    if " GROUP BY " in upper:
        steps.append("group the rows")
    if " ORDER BY " in upper:
        steps.append("sort them" + (" and keep the top rows" if " LIMIT " in upper else ""))
    if upper.count("SELECT") > 1:
        steps.append("use a nested query for an intermediate value")
    if re.search(r"\b(COUNT|SUM|AVG|MIN|MAX)\s*\(", upper):
        steps.append("aggregate to the requested number")
    hint = f" The hint says: {evidence.strip()}" if evidence.strip() else ""
    plan = "; ".join(steps) if steps else "select the requested columns"
    return f"The question asks: {question.strip()}{hint} To answer it I {plan}."
