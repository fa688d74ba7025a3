"""Emulator state in SQLite: one table of JSON documents keyed by (kind, key).

``Store(":memory:")`` keeps everything in memory (tests); ``Store(path)`` persists to a
file so ``amlws emulator start --state FILE`` survives restarts. One connection guarded by
a re-entrant lock: the HTTP server is threaded and BES jobs run in background threads.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    seq INTEGER NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (kind, key)
);
"""


class Store:
    """A tiny document store; every public method is atomic."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self.lock = threading.RLock()
        with self.lock:
            self._conn.executescript(SCHEMA)
            self._seq = self._conn.execute("SELECT COALESCE(MAX(seq), 0) FROM docs").fetchone()[0]

    # -- basic operations --------------------------------------------------------------
    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        with self.lock:
            row = self._conn.execute("SELECT doc FROM docs WHERE kind=? AND key=?", (kind, key)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, kind: str, key: str, doc: dict[str, Any]) -> None:
        """Insert or replace; insertion order (``seq``) is kept on replace."""
        data = json.dumps(doc, separators=(",", ":"))
        with self.lock:
            row = self._conn.execute("SELECT seq FROM docs WHERE kind=? AND key=?", (kind, key)).fetchone()
            if row:
                self._conn.execute("UPDATE docs SET doc=? WHERE kind=? AND key=?", (data, kind, key))
            else:
                self._seq += 1
                self._conn.execute("INSERT INTO docs(kind, key, seq, doc) VALUES (?,?,?,?)", (kind, key, self._seq, data))

    def delete(self, kind: str, key: str) -> bool:
        with self.lock:
            cur = self._conn.execute("DELETE FROM docs WHERE kind=? AND key=?", (kind, key))
        return cur.rowcount > 0

    def list(self, kind: str, prefix: str = "") -> list[dict[str, Any]]:
        """Documents of one kind (optionally whose key starts with ``prefix``), oldest first."""
        with self.lock:
            rows = self._conn.execute(
                "SELECT doc FROM docs WHERE kind=? AND substr(key, 1, ?)=? ORDER BY seq", (kind, len(prefix), prefix)
            ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def keys(self, kind: str) -> Iterator[str]:
        with self.lock:
            rows = self._conn.execute("SELECT key FROM docs WHERE kind=? ORDER BY seq", (kind,)).fetchall()
        return iter([r[0] for r in rows])

    def update(self, kind: str, key: str, fn: Any) -> dict[str, Any] | None:
        """Read-modify-write one document atomically: ``fn(doc) -> doc``."""
        with self.lock:
            doc = self.get(kind, key)
            if doc is None:
                return None
            new = fn(doc)
            self.put(kind, key, new)
            return new

    def clear(self) -> None:
        with self.lock:
            self._conn.execute("DELETE FROM docs")

    def dump(self) -> dict[str, dict[str, Any]]:
        """Everything, grouped by kind (the control plane's ``GET /_emulator/state``)."""
        out: dict[str, dict[str, Any]] = {}
        with self.lock:
            rows = self._conn.execute("SELECT kind, key, doc FROM docs ORDER BY seq").fetchall()
        for kind, key, doc in rows:
            out.setdefault(kind, {})[key] = json.loads(doc)
        return out

    def close(self) -> None:
        with self.lock:
            self._conn.close()
