"""The fleet's state file: an append-only JSON-lines journal, and what its records say about each row.

A record is written with one ``os.write`` (``O_APPEND``) and group-committed with ``fsync``, so a
run killed at any moment leaves a journal that :func:`fold_journal` reads back into one
:class:`RowState` per row; ``amlws fleet run`` resumes from it and ``amlws fleet status`` merges
the journals of several shards (:func:`load_states`).
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import NotFoundError

JOURNAL_VERSION = 1

#: Row states. Final ones are not run again on resume (``failed``/``interrupted`` are retried).
DEPLOYED = "deployed"
GATE_FAILED = "gate_failed"
FAILED = "failed"
INTERRUPTED = "interrupted"
PENDING = "pending"
SKIPPED = "skipped"
PLANNED = "planned"
FINAL = frozenset({DEPLOYED, GATE_FAILED})


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class Journal:
    """An append-only JSON-lines file: one ``os.write`` per record (``O_APPEND``), so a record is
    in the kernel, safe from ``kill -9``, as soon as :meth:`append` returns. A background thread
    group-commits ``fsync`` (for power loss) without holding up the workers; ``append(sync=True)``
    also waits for it. A record torn by a crash is the last line and is ignored on reading."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_fd = _lock_state(self.path)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0)
        self._fd = os.open(self.path, flags, 0o600)
        self._cond = threading.Condition()
        self._written = 0
        self._synced = 0
        self._closing = False
        # A previous run killed mid-write may have left a torn last line: end it first.
        size = self.path.stat().st_size
        if size:
            with open(self.path, "rb") as fh:
                fh.seek(size - 1)
                if fh.read(1) != b"\n":
                    os.write(self._fd, b"\n")
        self._flusher = threading.Thread(target=self._flush_loop, name="amlws-fleet-journal", daemon=True)
        self._flusher.start()

    def _flush_loop(self) -> None:
        while True:
            with self._cond:
                while self._synced >= self._written and not self._closing:
                    self._cond.wait()
                if self._synced >= self._written:
                    return
                upto = self._written
            os.fsync(self._fd)  # one fsync covers every record written before it
            with self._cond:
                self._synced = max(self._synced, upto)
                self._cond.notify_all()

    def append(self, record: dict[str, Any], *, sync: bool = False) -> None:
        data = (json.dumps({"time": _now(), **record}, separators=(",", ":"), default=str) + "\n").encode("utf-8")
        with self._cond:
            os.write(self._fd, data)
            self._written += 1
            mine = self._written
            self._cond.notify_all()
            while sync and self._synced < mine and self._flusher.is_alive():
                self._cond.wait(timeout=5)

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._flusher.join(timeout=30)
        try:
            os.fsync(self._fd)
        except OSError:  # pragma: no cover
            pass
        os.close(self._fd)
        os.close(self._lock_fd)  # releases the lock

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _lock_state(path: Path) -> int:
    """Hold ``STATE.lock`` for the run: two runs on one journal would both submit its rows' jobs.
    The operating system drops the lock when the process ends, even on ``kill -9``."""
    from ..errors import ConflictError

    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o600)
    try:
        if sys.platform == "win32":  # pragma: no cover - Windows
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise ConflictError(f"another amlws fleet run is using the state file {path}",
                            hint="wait for it to finish or stop it; concurrent runs (shards) each need their own --state") from None
    return fd


def read_journal(path: str | Path) -> list[dict[str, Any]]:
    """The records of a state file; torn or garbled lines (a crash mid-write) are skipped."""
    p = Path(path)
    if not p.exists():
        return []
    out = []
    with open(p, "rb") as fh:
        for raw in fh:
            try:
                rec = json.loads(raw.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                continue
            if isinstance(rec, dict):
                out.append(rec)
    return out


@dataclass
class RowState:
    """What the journal says about one row."""

    key: str
    status: str = PENDING
    target: str | None = None
    fingerprint: str | None = None
    job_id: str | None = None
    job_status: str | None = None
    run_id: str | None = None
    created: bool = False
    verified: bool = False
    exit_code: int | None = None
    error: str | None = None
    hint: str | None = None
    seconds: float | None = None
    model_uri: str | None = None
    attempts: int = 0
    updated: str | None = None
    shard: str | None = None
    throttle_seconds: float | None = None  # waits for the ARM budget (amlws.azure.budget)
    throttled: int | None = None  # 429 answers

    def to_dict(self) -> dict[str, Any]:
        out = {"key": self.key, "status": self.status, "target": self.target, "jobId": self.job_id, "jobStatus": self.job_status,
               "runId": self.run_id, "verified": self.verified, "exitCode": self.exit_code, "error": self.error,
               "seconds": self.seconds, "attempts": self.attempts, "updated": self.updated}
        if self.hint:
            out["hint"] = self.hint
        if self.model_uri:
            out["modelUri"] = self.model_uri
        if self.created:
            out["created"] = True
        if self.shard:
            out["shard"] = self.shard
        if self.throttle_seconds:
            out["throttleSeconds"] = self.throttle_seconds
        if self.throttled:
            out["throttled"] = self.throttled
        return out

    @property
    def job_reusable(self) -> bool:
        """A journaled job that did not fail or get cancelled: wait on it instead of submitting."""
        return bool(self.job_id) and self.job_status not in ("Failed", "Cancelled")


def fold_journal(records: Iterable[dict[str, Any]]) -> tuple[dict[str, RowState], list[dict[str, Any]]]:
    """Row key -> :class:`RowState`, and the run headers, from journal records in order."""
    states: dict[str, RowState] = {}
    runs: list[dict[str, Any]] = []
    for rec in records:
        event = rec.get("event")
        if event == "run":
            runs.append(rec)
            for key in rec.get("rows") or []:
                states.setdefault(key, RowState(key, shard=rec.get("shard")))
            continue
        key = rec.get("row")
        if not isinstance(key, str):
            continue
        st = states.setdefault(key, RowState(key))
        fp = rec.get("fingerprint")
        if fp and st.fingerprint and fp != st.fingerprint:
            # the manifest row changed since: what the journal knew about it no longer applies
            states[key] = st = RowState(key, shard=st.shard)
        if fp:
            st.fingerprint = fp
        st.updated = rec.get("time", st.updated)
        if rec.get("target"):
            st.target = rec["target"]
        if event == "start":
            st.attempts += 1
            st.run_id = rec.get("runId") or st.run_id
            if st.status not in FINAL:
                st.status = "running"
        elif event == "created":
            st.created = True
        elif event == "submitted":
            st.job_id, st.job_status = rec.get("jobId"), "Submitted"
            st.run_id = rec.get("runId") or st.run_id
        elif event == "job":
            st.job_id = rec.get("jobId") or st.job_id
            st.job_status = rec.get("status")
        elif event == "done":
            st.status = rec.get("status", DEPLOYED)
            st.verified = bool(rec.get("verified"))
            st.exit_code = rec.get("exitCode", 0)
            st.error = rec.get("error")
            st.hint = rec.get("hint")
            st.seconds = rec.get("seconds")
            st.model_uri = rec.get("modelUri")
            st.throttle_seconds, st.throttled = rec.get("throttleSeconds"), rec.get("throttled")
        elif event == "failed":
            st.status = rec.get("status", FAILED)
            st.exit_code = rec.get("exitCode", 1)
            st.error, st.hint, st.seconds = rec.get("error"), rec.get("hint"), rec.get("seconds")
            st.throttle_seconds, st.throttled = rec.get("throttleSeconds"), rec.get("throttled")
            if rec.get("jobStatus"):
                st.job_status = rec["jobStatus"]
    return states, runs


def load_states(paths: Iterable[str | Path]) -> tuple[dict[str, RowState], list[dict[str, Any]]]:
    """Merge the journals of several shards (``amlws fleet status``): the latest record of a row wins."""
    records: list[dict[str, Any]] = []
    for p in paths:
        if not Path(p).exists():
            raise NotFoundError(f"no fleet state file {p}", hint="check the path: give the --state file(s) that amlws fleet run wrote")
        records.extend(read_journal(p))
    records.sort(key=lambda r: str(r.get("time", "")))  # stable: same-time records keep their file order
    return fold_journal(records)


def _merge(st: RowState, new: RowState, rec: dict[str, Any]) -> None:
    """Apply one just-written record (folded alone into ``new``) onto the in-memory state."""
    event = rec.get("event")
    st.updated = new.updated
    if new.target:
        st.target = new.target
    if new.fingerprint:
        st.fingerprint = new.fingerprint
    if event == "start":
        st.attempts += 1
        st.run_id = new.run_id or st.run_id
        st.status = "running"
        st.error = st.hint = None
        st.exit_code = None
    elif event == "created":
        st.created = True
    elif event in ("submitted", "job"):
        st.job_id = new.job_id or st.job_id
        st.job_status = new.job_status
        if new.run_id:
            st.run_id = new.run_id
    elif event in ("done", "failed"):
        for name in ("status", "verified", "exit_code", "error", "hint", "seconds", "model_uri", "throttle_seconds", "throttled"):
            setattr(st, name, getattr(new, name))
        if new.job_status:
            st.job_status = new.job_status
