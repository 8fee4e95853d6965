"""The results store of a design-space exploration: one SQLite file, one row per finished
evaluation, keyed by what decides it (the config's fingerprint, the model's content, the kind
and fidelity of the evaluation). Each result is committed as it arrives, so an interrupted
sweep keeps every finished evaluation, and a re-run or an extended space evaluates only what
the store lacks. Query it with any SQLite client (docs/dse.md, "The store"):

    sqlite3 DIR/results.sqlite "select config, json_extract(result, '$.cycles') from results
                                where kind = 'model'"
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

SCHEMA = """
create table if not exists results (
    key text primary key,       -- kind:...: docs/dse.md, "The store"
    kind text not null,         -- model | accuracy | synth | verify
    config text,                -- Config.fingerprint (null for accuracy rows)
    model text,                 -- model name (null for per-config rows)
    result text not null,       -- JSON
    seconds real not null,      -- time the evaluation took
    created text not null default (datetime('now'))
);
create table if not exists configs (
    fingerprint text primary key,
    config text not null        -- Config.to_dict() as JSON (a loadable config file)
);
"""


class Store:
    """Results by key; `put` commits at once."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.connection = sqlite3.connect(path)
        self.connection.executescript(SCHEMA)

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def get(self, key: str) -> dict | None:
        row = self.connection.execute("select result from results where key = ?",
                                      (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def keys(self) -> set[str]:
        return {key for (key,) in self.connection.execute("select key from results")}

    def put(self, key: str, kind: str, result: dict, seconds: float, *,
            config: str | None = None, model: str | None = None) -> None:
        with self.connection:
            self.connection.execute(
                "insert or replace into results (key, kind, config, model, result, seconds) "
                "values (?, ?, ?, ?, ?, ?)",
                (key, kind, config, model, json.dumps(result, sort_keys=True), seconds))

    def put_config(self, fingerprint: str, config: dict) -> None:
        with self.connection:
            self.connection.execute("insert or ignore into configs values (?, ?)",
                                    (fingerprint, json.dumps(config, sort_keys=True)))

    def config(self, fingerprint: str) -> dict | None:
        row = self.connection.execute("select config from configs where fingerprint = ?",
                                      (fingerprint,)).fetchone()
        return None if row is None else json.loads(row[0])
