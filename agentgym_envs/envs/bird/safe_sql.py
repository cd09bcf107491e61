"""Run one SQL query from a model against an SQLite file without letting it do harm.

The query is arbitrary text, so every layer assumes the worst:

* the file is opened read-only through a URI (``mode=ro``) and ``PRAGMA query_only`` is set;
* statements that start with a writing keyword (INSERT, DROP, REINDEX, ...) are refused, and
  an authorizer allows only reading: SELECT, column reads, functions (not ``load_extension``),
  recursive CTEs and a few schema-reading PRAGMAs. ATTACH is refused, which also stops
  ``VACUUM INTO`` (it attaches its target file, and would otherwise write a new file even on a
  read-only connection), as are transactions, writes and every PRAGMA that sets something;
* a progress handler stops a query that runs past ``time_limit`` seconds (an endless recursive
  CTE, a huge cross join);
* SQLite's own heap limit (``PRAGMA hard_heap_limit``) makes any SQLite allocation past
  ``memory_limit`` fail, so a query that builds a huge value or sort is stopped wherever it
  allocates. The limit is SQLite's, for the whole process (every connection's pages count), and
  SQLite only ever lowers it: the process keeps the smallest ``memory_limit`` asked for (every
  BIRD env asks for the default, 256 MB). A per-query reading of the process's resident memory,
  tried first, missed queries whose memory the allocator found already resident;
* SQLite's own limits cap string and blob sizes, expression depth and compound selects;
* at most ``max_rows`` rows and ``max_result_bytes`` bytes of result are read back;
* Python's sqlite3 runs one statement per ``execute`` and refuses a second one;
* ``printf``/``format`` with a huge width or precision (``printf('%.*c', 1e9, 'x')`` spins
  inside one VM instruction for seconds, out of the progress handler's reach) is refused.

Every refusal is a :class:`QueryError` whose message is meant for the model.
"""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

# Authorizer action codes that only read.
_READ_ONLY_ACTIONS = frozenset({sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_RECURSIVE})
# PRAGMAs that describe the schema and never change anything (also as pragma_* table functions).
_SCHEMA_PRAGMAS = frozenset(
    {"table_info", "table_xinfo", "index_list", "index_info", "index_xinfo", "foreign_key_list"}
)
_FORBIDDEN_FUNCTIONS = frozenset({"load_extension", "fts3_tokenizer", "readfile", "writefile", "edit"})
_ACTION_NAMES = {  # authorizer action code -> words for the refusal message
    code: name
    for name, code in (
        ("create index", 1),
        ("create table", 2),
        ("create temp index", 3),
        ("create temp table", 4),
        ("create temp trigger", 5),
        ("create temp view", 6),
        ("create trigger", 7),
        ("create view", 8),
        ("delete", 9),
        ("drop index", 10),
        ("drop table", 11),
        ("drop temp index", 12),
        ("drop temp table", 13),
        ("drop temp trigger", 14),
        ("drop temp view", 15),
        ("drop trigger", 16),
        ("drop view", 17),
        ("insert", 18),
        ("pragma", 19),
        ("transaction", 22),
        ("update", 23),
        ("attach", 24),
        ("detach", 25),
        ("alter table", 26),
        ("reindex", 27),
        ("analyze", 28),
        ("create virtual table", 29),
        ("drop virtual table", 30),
        ("function", 31),
        ("savepoint", 32),
    )
}
_PROGRESS_OPCODES = 1000  # the handler runs every this many SQLite VM instructions


# SQLite statements that are not reads, refused by their first word. The authorizer is the real
# guard; this also stops statements that ask it nothing (REINDEX) and gives a plainer message.
# Any other first word goes to SQLite, so a typo gets SQLite's syntax error.
_WRITING_STATEMENTS = frozenset(
    "insert update delete replace upsert create drop alter attach detach vacuum reindex analyze "
    "begin commit end rollback savepoint release".split()
)
_FIRST_WORD = re.compile(r"\A(?:\s+|\(|--[^\n]*(?:\n|\Z)|/\*.*?\*/)*([A-Za-z]+)", re.DOTALL)
_HUGE_FIELD = 100_000  # printf widths/precisions above this are refused
_FORMAT_NUMBER = re.compile(r"\d+")


class QueryError(Exception):
    """A query that could not run, or was refused; the message says why, for the model."""


class SafeDatabase:
    """A read-only, guarded connection to one SQLite file."""

    def __init__(
        self,
        path: str | Path,
        *,
        time_limit: float = 2.0,
        max_rows: int = 10_000,
        max_result_bytes: int = 16 << 20,
        memory_limit: int = 256 << 20,
        max_value_bytes: int = 8 << 20,
    ):
        self.path = Path(path).resolve()
        self.time_limit = time_limit
        self.max_rows = max_rows
        self.max_result_bytes = max_result_bytes
        self.memory_limit = memory_limit
        if not self.path.is_file():
            raise FileNotFoundError(f"no SQLite database at {self.path}")
        # isolation_level=None: never start an implicit transaction on our behalf.
        self._conn = sqlite3.connect(
            f"{self.path.as_uri()}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
        )
        self._conn.execute("PRAGMA query_only = ON")
        self._conn.execute("PRAGMA trusted_schema = OFF")  # a hostile schema's views call no functions
        limits = {
            sqlite3.SQLITE_LIMIT_ATTACHED: 0,
            sqlite3.SQLITE_LIMIT_LENGTH: max_value_bytes,
            sqlite3.SQLITE_LIMIT_SQL_LENGTH: 100_000,
            sqlite3.SQLITE_LIMIT_EXPR_DEPTH: 200,
            sqlite3.SQLITE_LIMIT_COMPOUND_SELECT: 50,
            sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH: 1_000,
            sqlite3.SQLITE_LIMIT_VDBE_OP: 250_000,
        }
        for limit, value in limits.items():
            self._conn.setlimit(limit, value)
        self._refusal: str | None = None
        self._deadline = 0.0
        self._stopped: str | None = None
        # printf is rebuilt on a private in-memory connection after its arguments are checked.
        self._printf_conn = sqlite3.connect(":memory:", check_same_thread=False)
        self._printf_conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, max_value_bytes)
        for name in ("printf", "format"):
            self._conn.create_function(name, -1, self._guarded_printf, deterministic=True)
        self._conn.set_authorizer(self._authorize)
        self._conn.set_progress_handler(self._progress, _PROGRESS_OPCODES)

    # ---------------------------------------------------------------- guards
    def _authorize(self, action: int, arg1, arg2, _db, _trigger) -> int:
        if action in _READ_ONLY_ACTIONS:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() not in _FORBIDDEN_FUNCTIONS:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() in _SCHEMA_PRAGMAS:
            return sqlite3.SQLITE_OK
        what = _ACTION_NAMES.get(action, f"action {action}")
        detail = arg2 if action == sqlite3.SQLITE_FUNCTION else arg1
        if self._refusal is None:  # the first refusal is the one that explains
            self._refusal = f"{what}{f' ({detail})' if detail else ''}"
        return sqlite3.SQLITE_DENY

    def _guarded_printf(self, *args):
        if not args or not isinstance(args[0], str):
            return None if not args else self._printf(args)
        fmt = args[0]
        huge_literal = any(int(n) > _HUGE_FIELD for n in _FORMAT_NUMBER.findall(fmt) if len(n) > 5)
        huge_arg = "*" in fmt and any(isinstance(a, int) and abs(a) > _HUGE_FIELD for a in args[1:])
        if huge_literal or huge_arg:
            raise ValueError(f"printf widths and precisions above {_HUGE_FIELD:,} are not allowed")
        return self._printf(args)

    def _printf(self, args: tuple):
        marks = ", ".join("?" * len(args))
        return self._printf_conn.execute(f"SELECT printf({marks})", args).fetchone()[0]

    def _progress(self) -> int:
        """Return non-zero to interrupt the running statement."""
        if time.monotonic() > self._deadline:
            self._stopped = f"it ran longer than the {self.time_limit:g} s time limit"
            return 1
        return 0

    # ---------------------------------------------------------------- running
    def execute(self, sql: str) -> list[tuple]:
        """Run one query and return its rows, or raise :class:`QueryError` saying why not."""
        first = _FIRST_WORD.match(sql)
        if first and first.group(1).lower() in _WRITING_STATEMENTS:
            raise QueryError(
                f"not allowed: {first.group(1).upper()} is not a reading statement; only reading "
                "queries (SELECT, WITH ... SELECT) may run"
            )
        self._refusal = self._stopped = None
        # The private connection has no authorizer (which refuses PRAGMAs on the guarded one).
        self._printf_conn.execute(f"PRAGMA hard_heap_limit = {int(self.memory_limit)}")
        self._deadline = time.monotonic() + self.time_limit
        cursor = self._conn.cursor()
        try:
            cursor.execute(sql)
            return self._fetch(cursor)
        except sqlite3.Warning as error:  # Python's "one statement at a time" (3.10/3.11)
            raise QueryError(f"only one SQL statement can run at a time ({error})") from None
        except sqlite3.ProgrammingError as error:
            if "one statement" in str(error):
                raise QueryError("only one SQL statement can run at a time") from None
            raise QueryError(str(error)) from None
        except sqlite3.DatabaseError as error:
            if "user-defined function raised exception" in str(error):
                raise QueryError(
                    "printf/format with a width or precision this large is not allowed"
                ) from None
            if self._refusal:
                raise QueryError(
                    f"not allowed: the query needs {self._refusal}, which is not a read; only reading "
                    "queries (SELECT, WITH ... SELECT) may run"
                ) from None
            if self._stopped:
                raise QueryError(f"the query was stopped: {self._stopped}") from None
            raise QueryError(str(error)) from None
        except MemoryError:
            raise QueryError(
                f"the query was stopped: it needed more than SQLite's {self.memory_limit >> 20} MB of memory"
            ) from None
        except (OverflowError, ValueError) as error:
            raise QueryError(f"the query cannot run: {error}") from None
        finally:
            cursor.close()
            # Nothing may stay open between queries (a refused BEGIN never started, but be sure).
            if self._conn.in_transaction:
                self._conn.rollback()

    def _fetch(self, cursor: sqlite3.Cursor) -> list[tuple]:
        # Row by row, so a result of huge values is stopped after the first few, not a batch.
        rows: list[tuple] = []
        size = 0
        for row in cursor:
            rows.append(row)
            size += sum(len(v) if isinstance(v, (str, bytes)) else 8 for v in row) + 16
            if len(rows) > self.max_rows:
                raise QueryError(
                    f"the result has more than {self.max_rows:,} rows; ask for fewer (WHERE, LIMIT)"
                )
            if size > self.max_result_bytes:
                raise QueryError(f"the result is larger than {self.max_result_bytes >> 20} MB; ask for less")
        return rows

    def close(self) -> None:
        self._conn.close()
        self._printf_conn.close()

    def __enter__(self) -> SafeDatabase:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
