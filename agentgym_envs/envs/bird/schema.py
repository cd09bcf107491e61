"""A database's schema in words, as sqlgym (AgentGym's BIRD server) writes it.

sqlgym reads BIRD's ``<split>_tables.json`` (Spider's layout: ``table_names``, ``column_names``
as ``[table index, name]`` with ``[-1, "*"]`` first, ``primary_keys``, ``foreign_keys``) and
writes::

    <db> contains tables such as a, b. Table a has columns such as x, y. x is the primary key.
    Table b has columns such as ... The y of b is the foreign key of x of a.

Two places where we knowingly differ: sqlgym names a foreign key's columns one column off (it
indexes a list that skips column 0 with the column number), and drops the columns of a
composite primary key (it looks for a column id among lists) writing " is the primary key."
with nothing before it. We name the right columns, list every column of a composite key, and
leave the sentence out for a table without a primary key.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Schema:
    """Spider/BIRD ``tables.json`` fields of one database."""

    db_id: str
    table_names: tuple[str, ...]
    column_names: tuple[tuple[int, str], ...]  # (table index, name); entry 0 is (-1, "*")
    primary_keys: tuple  # column ids, or tuples of them for a composite key
    foreign_keys: tuple[tuple[int, int], ...]  # (column id, referenced column id)

    @classmethod
    def from_tables_json(cls, entry: dict) -> Schema:
        return cls(
            db_id=entry["db_id"],
            table_names=tuple(entry["table_names"]),
            column_names=tuple((int(t), str(c)) for t, c in entry["column_names"]),
            primary_keys=tuple(tuple(k) if isinstance(k, list) else k for k in entry["primary_keys"]),
            foreign_keys=tuple((int(a), int(b)) for a, b in entry["foreign_keys"]),
        )


def load_tables_json(path: Path) -> dict[str, Schema]:
    """``train_tables.json`` / ``dev_tables.json``: db_id -> schema."""
    with open(path, encoding="utf-8") as file:
        return {entry["db_id"]: Schema.from_tables_json(entry) for entry in json.load(file)}


def introspect(conn: sqlite3.Connection, db_id: str) -> Schema:
    """The schema of an open SQLite database, in tables.json's shape (tables in creation order).

    Used where no tables.json is given: our generated databases, or a BIRD folder without one."""
    tables = [
        name
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
        )
    ]
    columns: list[tuple[int, str]] = [(-1, "*")]
    ids: dict[tuple[str, str], int] = {}
    primary: list = []
    for index, table in enumerate(tables):
        keyed = []
        for cid, name, _type, _notnull, _default, pk in conn.execute(f'PRAGMA table_info("{table}")'):
            ids[(table.lower(), name.lower())] = len(columns)
            if pk:
                keyed.append((pk, len(columns)))
            columns.append((index, name))
        keyed.sort()
        if len(keyed) == 1:
            primary.append(keyed[0][1])
        elif keyed:
            primary.append(tuple(column for _, column in keyed))
    foreign = []
    for table in tables:
        for row in conn.execute(f'PRAGMA foreign_key_list("{table}")'):
            _id, _seq, target, source_col, target_col = row[:5]
            if target_col is None:  # REFERENCES t with no column: t's primary key
                target_col = next(
                    (r[1] for r in conn.execute(f'PRAGMA table_info("{target}")') if r[5]), None
                )
            key = (
                ids.get((table.lower(), source_col.lower())),
                ids.get((target.lower(), str(target_col).lower())),
            )
            if None not in key:
                foreign.append(key)
    return Schema(db_id, tuple(tables), tuple(columns), tuple(primary), tuple(foreign))


def describe(schema: Schema) -> str:
    """sqlgym's sentence-per-fact description (names lower-cased, as sqlgym's default)."""
    tables = [name.lower() for name in schema.table_names]
    names = [name.lower() for _, name in schema.column_names]
    parts = [f"{schema.db_id} contains tables such as {', '.join(tables)}."]
    keys = {column for key in schema.primary_keys for column in (key if isinstance(key, tuple) else (key,))}
    for index, table in enumerate(tables):
        columns = [cid for cid, (owner, _) in enumerate(schema.column_names) if owner == index]
        parts.append(f"Table {table} has columns such as {', '.join(names[c] for c in columns)}.")
        keyed = [names[c] for c in columns if c in keys]
        if keyed:
            parts.append(f"{', '.join(keyed)} is the primary key.")
    for source, target in schema.foreign_keys:
        source_table = tables[schema.column_names[source][0]]
        target_table = tables[schema.column_names[target][0]]
        parts.append(
            f"The {names[source]} of {source_table} is the foreign key of {names[target]} of {target_table}."
        )
    return " ".join(parts)
