"""BIRD-SQL: sqlgym's text, reply parsing, execution match, guarded execution against hostile
queries, the cache, the split, and a real-layout BIRD folder written here."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
import time

import gymnasium as gym
import pytest

import agentgym_envs  # noqa: F401  (registers AgentGym/BIRD-v0)
from agentgym_envs.envs.bird import catalogue
from agentgym_envs.envs.bird.domains import DOMAINS
from agentgym_envs.envs.bird.env import BirdEnv, extract_query
from agentgym_envs.envs.bird.safe_sql import QueryError, SafeDatabase
from agentgym_envs.formats import format_react
from agentgym_envs.wrappers import ReActActions

TEST_IDS = BirdEnv.task_ids("test")

# (query, words the error must contain). Every one must be refused or stopped, fast, and leave
# the database file byte-for-byte as it was.
HOSTILE = [
    ("DROP TABLE customers", "not allowed"),
    ("DELETE FROM orders", "not allowed"),
    (
        "INSERT INTO customers (customer_id, first_name, last_name, city, country, signup_date) "
        "VALUES (99999, 'a', 'b', 'c', 'd', '2020-01-01')",
        "not allowed",
    ),
    ("UPDATE products SET unit_price = 0", "not allowed"),
    ("WITH doomed AS (SELECT 1) DELETE FROM orders", "not allowed"),
    ("CREATE TABLE evil (x)", "not allowed"),
    ("CREATE TEMP TABLE evil (x)", "not allowed"),
    ("CREATE VIEW evil AS SELECT 1", "not allowed"),
    ("ALTER TABLE customers ADD COLUMN evil TEXT", "not allowed"),
    ("ATTACH DATABASE '{tmp}/evil.db' AS evil", "not allowed"),
    ("VACUUM INTO '{tmp}/copy.db'", "not allowed"),
    ("VACUUM", "not allowed"),
    ("ANALYZE", "not allowed"),
    ("REINDEX", "not allowed"),
    ("/* hidden */ DROP TABLE customers", "not allowed"),
    ("PRAGMA journal_mode = WAL", "not allowed"),
    ("PRAGMA query_only = 0", "not allowed"),
    ("PRAGMA writable_schema = ON", "not allowed"),
    ("SELECT load_extension('{tmp}/evil.so')", "not allowed"),
    ("BEGIN IMMEDIATE", "not allowed"),
    ("SAVEPOINT evil", "not allowed"),
    ("SELECT 1; DROP TABLE customers", "one SQL statement"),
    ("SELECT 1; SELECT 2", "one SQL statement"),
    ("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT COUNT(*) FROM r", "time limit"),
    ("WITH RECURSIVE r(n) AS (SELECT 1 UNION SELECT n + 1 FROM r) SELECT MAX(n) FROM r", "time limit"),
    ("SELECT COUNT(*) FROM order_items AS a, order_items AS b, order_items AS c", "time limit"),
    ("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT n FROM r", "rows"),
    ("SELECT a.order_id, b.order_id FROM orders AS a, orders AS b", "rows"),
    ("SELECT randomblob(1000000000)", "too big"),
    ("SELECT zeroblob(2000000000)", "too big"),
    ("WITH RECURSIVE r(s) AS (SELECT 'x' UNION ALL SELECT s || s FROM r) SELECT length(s) FROM r", "too big"),
    ("SELECT printf('%.*c', 1000000000, 'x')", "not allowed"),
    ("SELECT zeroblob(6000000) FROM orders", "larger than"),
    ("SELECT * FROM no_such_table", "no such table"),
    ("SELEC * FROM customers", "syntax error"),
]


@pytest.fixture(scope="module")
def env():
    env = gym.make("AgentGym/BIRD-v0", split="test", time_limit=0.5).unwrapped
    yield env
    env.close()


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_observation_is_sqlgyms_schema_text_then_the_question(env):
    obs, info = env.reset(options={"task_id": 0})
    schema, question = obs.split("\n\n")
    assert schema.startswith(
        f"{env.task.db_id} contains tables such as customers, products, orders, order_items."
    )
    assert (
        "Table orders has columns such as order_id, customer_id, order_date, status, shipped_date." in schema
    )
    assert "order_id is the primary key." in schema and "order_id, product_id is the primary key." in schema
    assert "The customer_id of orders is the foreign key of customer_id of customers." in schema
    assert question == env.task.question and info["item_id"] == "sqlgym_0"


@pytest.mark.parametrize(
    "reply, query",
    [
        ("SELECT 1", "SELECT 1"),
        ("```sql\nSELECT 1;\n```", "SELECT 1;"),
        ("```sql SELECT 1 ``` ", "SELECT 1"),
        ("first ```sql SELECT 0``` then ```sql SELECT 2```", "SELECT 2"),  # AgentGym's: the last block
        ("``` SELECT 3 ```", "SELECT 3"),
        ("```sql\n```", ""),
    ],
)
def test_query_is_taken_from_the_last_sql_block_or_the_bare_text(reply, query):
    assert extract_query(reply) == query


def test_expert_solves_every_test_task(env):
    for task_id in TEST_IDS:
        env.reset(options={"task_id": task_id})
        thought, action = env.expert()
        assert thought.strip() and "\n" not in action
        _, reward, terminated, _, info = env.step(action)
        assert (reward, terminated, info["success"]) == (1.0, True, True), (task_id, action)


def test_answers_are_scored_by_execution_match(env):
    env.reset(options={"task_id": 0})  # How many customers live in <city>?
    gold = env.expert()[1]
    city = gold.split("= ")[1]
    rewritten = f"SELECT COUNT(customer_id) FROM customers WHERE {city} = city"
    assert env.step(f"```sql {rewritten} ```")[1] == 1.0  # another query, the same rows
    env.reset(options={"task_id": 0})
    obs, reward, terminated, _, info = env.step("SELECT COUNT(*) FROM customers")
    assert (reward, terminated, info["success"]) == (0.0, True, False)
    assert obs.startswith("[(") and obs.endswith(")]")  # AgentGym's text of the rows


def test_result_text_is_cut_at_100_characters_as_agentgym(env):
    env.reset(options={"task_id": 0})
    obs, *_ = env.step("SELECT first_name, last_name FROM customers")
    assert len(obs) == 103 and obs.endswith("...")


def test_a_query_that_cannot_run_is_explained_and_the_episode_goes_on(env):
    env.reset(options={"task_id": 0})
    obs, reward, terminated, _, _ = env.step("SELECT missing FROM nowhere")
    assert obs.startswith("Error:") and "no such table" in obs and reward == 0.0 and not terminated
    obs, reward, terminated, _, _ = env.step("```sql\n```")
    assert "no query" in obs and not terminated
    assert env.step(env.expert()[1])[1] == 1.0


def test_react_reply_with_the_query_in_a_block_on_the_action_line():
    env = ReActActions(gym.make("AgentGym/BIRD-v0", split="test"))
    env.reset(options={"task_id": 3})
    thought, action = env.unwrapped.expert()
    _, reward, *_ = env.step(format_react(thought, f"```sql {action} ```"))
    assert reward == 1.0


def test_hostile_queries_are_refused_or_stopped_and_never_change_the_file(env, tmp_path):
    env.reset(options={"task_id": 0})
    path = env.task.db_path
    before = sha256(path)
    for query, words in HOSTILE:
        query = query.format(tmp=tmp_path)
        env.reset(options={"task_id": 0})
        start = time.perf_counter()
        obs, reward, terminated, _, _ = env.step(query)
        # Unstopped, the cross join runs for minutes and the recursive queries forever; the bound
        # is far above the 0.5 s limit so that a busy machine never trips it.
        assert time.perf_counter() - start < 30.0, query
        assert obs.startswith("Error:") and words in obs, (query, obs)
        assert reward == 0.0 and not terminated
    assert sha256(path) == before
    assert not list(tmp_path.iterdir())  # nothing attached, vacuumed into or loaded
    assert env.step(env.expert()[1])[1] == 1.0  # the connection still works


def test_safe_database_reads_schema_pragmas_but_sets_none(tmp_path):
    path = tmp_path / "t.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x INTEGER PRIMARY KEY)")
    with SafeDatabase(path) as db:
        assert db.execute("PRAGMA table_info(t)")[0][1] == "x"
        with pytest.raises(QueryError, match="not allowed"):
            db.execute("PRAGMA cache_size = 10")


def test_a_query_whose_memory_grows_past_the_cap_is_stopped():
    # SQLite's heap limit is per process and only ever lowered: try 1 MB in a process of its own.
    path = catalogue.database_path("retail_1")
    code = f"""
from agentgym_envs.envs.bird.safe_sql import QueryError, SafeDatabase
query = "SELECT length(group_concat(hex(randomblob(500)))) FROM order_items"  # a ~4 MB string
with SafeDatabase({str(path)!r}) as db:
    assert db.execute(query)[0][0] > 1 << 20  # fine under the default limit
with SafeDatabase({str(path)!r}, memory_limit=1 << 20) as db:
    try:
        db.execute(query)
    except QueryError as error:
        print(error)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "stopped" in done.stdout and "1 MB of memory" in done.stdout


def test_generation_covers_the_sql_features_and_every_domain():
    kinds = {kind for domain in DOMAINS for template in domain.templates for kind in template.kinds}
    assert kinds == {"filter", "join", "group", "order", "aggregate", "nested", "null"}
    first = {catalogue.locate(t, TEST_IDS)[0].rpartition("_")[0] for t in TEST_IDS[:5]}
    assert first == {d.name for d in DOMAINS}


def test_no_test_database_serves_a_training_task():
    test_dbs = {catalogue.locate(t, TEST_IDS)[0] for t in TEST_IDS}
    train_dbs = {catalogue.locate(t, TEST_IDS)[0] for t in BirdEnv.task_ids("train")}
    assert test_dbs and train_dbs and not test_dbs & train_dbs


def test_questions_are_never_repeated_within_a_split():
    def pairs(ids):
        return {catalogue.locate(t, TEST_IDS) for t in ids}

    for split in ("test", "train"):
        ids = BirdEnv.task_ids(split)
        assert len(pairs(ids)) == len(ids)
    # every question number a split asks of a database exists: sample one training db per domain
    need = -(-len(BirdEnv.task_ids("train")) // len(catalogue.train_databases()))
    for domain in DOMAINS:
        questions = catalogue.generated_questions(f"{domain.name}_{catalogue.TRAIN_INSTANCES[-1]}")
        assert len({(q.sql) for q in questions}) == len(questions) >= need


def test_a_damaged_cached_database_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTGYM_CACHE", str(tmp_path))
    catalogue.database_path.cache_clear()
    try:
        path = catalogue.database_path("library_1")
        good = sha256(path)
        path.write_bytes(b"not a database" * 100)
        catalogue.database_path.cache_clear()
        assert sha256(catalogue.database_path("library_1")) == good  # rebuilt, identically
        assert not [p for p in path.parent.iterdir() if p.suffix == ".tmp"]
    finally:
        catalogue.database_path.cache_clear()


# ------------------------------------------------------------------ a BIRD folder, BIRD's layout
def _bird_folder(root, with_tables: bool):
    """train/ with 2 questions on db 'shop', dev/ with 1 on db 'zoo', as BIRD ships them."""

    def database(part, db_id, script):
        folder = root / part / f"{part}_databases" / db_id
        folder.mkdir(parents=True)
        with sqlite3.connect(folder / f"{db_id}.sqlite") as conn:
            conn.executescript(script)

    database(
        "train",
        "shop",
        """
        CREATE TABLE client (ClientID INTEGER PRIMARY KEY, Name TEXT, City TEXT);
        CREATE TABLE purchase (PurchaseID INTEGER PRIMARY KEY, ClientID INTEGER REFERENCES client (ClientID),
                               Amount REAL);
        INSERT INTO client VALUES (1, 'Ann', 'Oslo'), (2, 'Bo', 'Rome'), (3, 'Cy', 'Oslo');
        INSERT INTO purchase VALUES (1, 1, 10.5), (2, 1, 4.0), (3, 2, 7.25);""",
    )
    database(
        "dev",
        "zoo",
        """
        CREATE TABLE animal (id INTEGER PRIMARY KEY, species TEXT, legs INTEGER);
        INSERT INTO animal VALUES (1, 'cat', 4), (2, 'emu', 2), (3, 'ant', 6);""",
    )
    train = [
        {
            "db_id": "shop",
            "question": "How many clients live in Oslo?",
            "evidence": "",
            "SQL": "SELECT COUNT(*) FROM client WHERE City = 'Oslo'",
        },
        {
            "db_id": "shop",
            "question": "What did Ann spend in total?",
            "evidence": "total refers to SUM(Amount)",
            "SQL": "SELECT SUM(T2.Amount) FROM client AS T1\n  INNER JOIN purchase AS T2 "
            "ON T1.ClientID = T2.ClientID "
            "WHERE T1.Name = 'Ann'",
        },
    ]
    dev = [
        {
            "db_id": "zoo",
            "question": "Which species have more than 3 legs?",
            "evidence": "",
            "SQL": "SELECT species FROM animal WHERE legs > 3",
            "difficulty": "simple",
        }
    ]
    (root / "train" / "train.json").write_text(json.dumps(train))
    (root / "dev" / "dev.json").write_text(json.dumps(dev))
    if with_tables:
        tables = [
            {
                "db_id": "zoo",
                "table_names_original": ["animal"],
                "table_names": ["animal"],
                "column_names": [[-1, "*"], [0, "id"], [0, "species name"], [0, "number of legs"]],
                "column_names_original": [[-1, "*"], [0, "id"], [0, "species"], [0, "legs"]],
                "primary_keys": [1],
                "foreign_keys": [],
            }
        ]
        (root / "dev" / "dev_tables.json").write_text(json.dumps(tables))
    return root


def test_bird_folder_plays_birds_questions_with_agentgyms_item_ids(tmp_path):
    root = _bird_folder(tmp_path, with_tables=False)
    files = {p: sha256(p) for p in root.rglob("*.sqlite")}
    env = gym.make("AgentGym/BIRD-v0", bird_dir=str(root))
    obs, info = env.reset(options={"task_id": 1})
    assert info["item_id"] == "sqlgym_1"
    assert obs == (
        "shop contains tables such as client, purchase. "
        "Table client has columns such as clientid, name, city. "
        "clientid is the primary key. Table purchase has columns such as purchaseid, clientid, amount. "
        "purchaseid is the primary key. The clientid of purchase is the foreign key of clientid of client."
        "\n\nWhat did Ann spend in total?"
    )
    thought, action = env.unwrapped.expert()
    assert "SUM(Amount)" in thought and "\n" not in action
    assert env.step(action)[1] == 1.0
    env.reset(options={"task_id": 9428})  # dev starts at AgentGym's 9428
    assert env.step("SELECT species FROM animal WHERE legs >= 4")[1] == 1.0
    env.reset(options={"task_id": 0})
    assert env.step("SELECT COUNT(*) FROM client")[1] == 0.0
    for missing in (2, 9429, 10**6):
        with pytest.raises(ValueError, match="task ids"):
            env.reset(options={"task_id": missing})
    drawn = {
        gym.make("AgentGym/BIRD-v0", bird_dir=root, split="test").reset(seed=s)[1]["task_id"]
        for s in range(3)
    }
    assert drawn == {9428}
    assert {p: sha256(p) for p in root.rglob("*.sqlite")} == files
    env.close()


def test_bird_folder_schema_comes_from_tables_json_when_present(tmp_path):
    env = gym.make("AgentGym/BIRD-v0", bird_dir=_bird_folder(tmp_path, with_tables=True))
    obs, _ = env.reset(options={"task_id": 9428})
    assert obs.startswith(
        "zoo contains tables such as animal. Table animal has columns such as id, species name, "
        "number of legs. id is the primary key."
    )


def test_a_missing_bird_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a BIRD folder"):
        gym.make("AgentGym/BIRD-v0", bird_dir=tmp_path / "nowhere")
