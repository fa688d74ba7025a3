"""Fleet retraining: one manifest row per model, run concurrently, journaled, resumable, shardable.

Microsoft's "create many models and endpoints from one experiment" walkthrough
(REFERENCE.md §6.2) retrains one model per location and patches one endpoint per model
with three sequential PowerShell loops. :func:`run_fleet` does it for every row of a
manifest with bounded concurrency::

    from amlws import api
    from amlws.fleet import FleetOptions, load_manifest, run_fleet

    host = api.open_host()
    rows = load_manifest("fleet.csv")
    summary = run_fleet(host, rows, FleetOptions(state="fleet.state.jsonl", jobs=16, bes_jobs=4),
                        api_key=..., storage_connection_string=...)

Every step that matters is journaled to an append-only JSON-lines state file (one
``os.write`` per record, ``fsync`` before the step that depends on it), so that a run
killed at any moment resumes where it stopped: a row whose BES job id is journaled never
gets a second job (the resumed run waits on that job), and a row journaled as deployed
and verified is never deployed again. ``--shard I/N`` keeps the rows whose key hashes
(SHA-256, stable across machines and Python versions) to slice I of N.

Manifests are CSV, JSON or YAML (YAML with the ``amlws[yaml]`` extra, i.e. PyYAML; it is not a
dependency). See ``docs/fleet.md`` for the columns.
"""

from __future__ import annotations

import csv
import functools
import glob
import hashlib
import io
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import AmlwsError, ExitCode, NotFoundError, UsageError
from ..redact import redact

log = logging.getLogger("amlws.fleet")

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

_TRUE = {"1", "true", "yes", "y", "on"}
_FALSE = {"", "0", "false", "no", "n", "off"}


class FleetInterrupted(AmlwsError):
    """The fleet run was stopped (Ctrl-C, or --fail-fast after another row failed)."""

    exit_code = ExitCode.INTERRUPTED
    kind = "interrupted"


class FleetFailed(AmlwsError):
    """Some rows failed; :attr:`exit_code` is theirs when they agree, else 1."""

    kind = "fleet_failed"

    def __init__(self, message: str, *, exit_code: int, hint: str | None = None, **details: Any) -> None:
        super().__init__(message, hint=hint, **details)
        self.exit_code = ExitCode(exit_code)


# --- manifest -------------------------------------------------------------------------------


@dataclass
class FleetRow:
    """One model of the fleet.

    :param key: unique name of the row (journal key and shard hash); defaults to the target.
    :param target: classic endpoint management URL or ARM resource ID.
    :param training_url: the training service's BES URL; ``None`` with ``model`` = patch only.
    :param data: training data: local file, blob URL with SAS, or ``container/blob``.
    :param global_parameters: BES ``GlobalParameters`` (e.g. the walkthrough's ``URI``).
    :param gates: ``"Accuracy>=0.85"``-style gates (need ``evaluation_output``).
    :param create: create the target when it does not exist (classic endpoints).
    :param model: an existing ``.ilearner`` URL to deploy without training.
    """

    key: str
    target: str
    training_url: str | None = None
    data: str | None = None
    global_parameters: dict[str, Any] = field(default_factory=dict)
    gates: list[str] = field(default_factory=list)
    evaluation_output: str | None = None
    model_output: str = "output1"
    input_name: str = "input1"
    create: bool = False
    description: str | None = None
    model: str | None = None
    backend: str | None = None
    selector: str | None = None
    line: int = 0

    def fingerprint(self) -> str:
        """What the row asks for; a journal entry for another fingerprint is stale."""
        data = {k: v for k, v in asdict(self).items() if k not in ("line", "description")}
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode("utf-8")).hexdigest()[:16]


#: Manifest column / field names (case, ``-`` and ``_`` ignored) -> FleetRow field.
_FIELDS = {
    "key": "key", "name": "key", "id": "key",
    "target": "target", "endpoint": "target", "service": "target",
    "trainingurl": "training_url", "trainingservice": "training_url", "training": "training_url",
    "data": "data", "trainingdata": "data",
    "globalparameters": "global_parameters", "params": "global_parameters",
    "gate": "gates", "gates": "gates",
    "evaluationoutput": "evaluation_output", "modeloutput": "model_output", "inputname": "input_name",
    "create": "create", "createifmissing": "create",
    "description": "description",
    "model": "model", "ilearner": "model",
    "backend": "backend", "resource": "selector", "selector": "selector",
}
_PARAM_PREFIXES = ("param:", "param.", "globalparameters.", "globalparameter.", "gp.")


def _norm(name: str) -> str:
    return "".join(ch for ch in str(name).strip().lower() if ch not in "-_ ")


def _bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value if value is not None else "").strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise UsageError(f"{where}: expected true or false, got {value!r}", hint="write true/false (or yes/no, 1/0)")


def _column(name: Any, where: str) -> str:
    """The field a (non-``param:``) column names; unknown: :class:`UsageError`."""
    fname = _FIELDS.get(_norm(name))
    if fname is None:
        raise UsageError(f"{where}: unknown column {name!r}",
                         hint="columns: key, target, training_url, data, gate, evaluation_output, model_output, "
                              "input_name, create, description, model, backend, resource, param:NAME")
    return fname


def _row_from_mapping(raw: dict[str, Any], defaults: dict[str, Any], where: str, line: int) -> FleetRow:
    values: dict[str, Any] = {}
    params: dict[str, Any] = {}
    for source in (defaults, raw):
        for name, value in source.items():
            if value is None or (isinstance(value, str) and value.strip() == ""):
                continue
            lowered = str(name).strip().lower()
            prefix = next((p for p in _PARAM_PREFIXES if lowered.startswith(p)), None)
            if prefix is not None:
                params[str(name).strip()[len(prefix):]] = value
                continue
            fname = _column(name, where)
            if fname == "global_parameters":
                if isinstance(value, str):
                    try:
                        value = json.loads(value)
                    except ValueError:
                        raise UsageError(f"{where}: global_parameters must be a JSON object",
                            hint='write it as a JSON object, e.g. {"Region": "eu"}') from None
                if not isinstance(value, dict):
                    raise UsageError(f"{where}: global_parameters must be an object",
                        hint='write it as an object of name: value, e.g. {"Region": "eu"}')
                params.update(value)
                continue
            if fname == "gates":
                items = value if isinstance(value, list) else [g for g in str(value).split(";")]
                values["gates"] = [str(g).strip() for g in items if str(g).strip()]
                continue
            if fname == "create":
                values["create"] = _bool(value, f"{where} column {name}")
                continue
            values[fname] = value if isinstance(value, (dict, list)) else str(value).strip()
    if not values.get("target"):
        raise UsageError(f"{where}: no target", hint="give each row a target: a classic endpoint URL or an ARM resource ID")
    if not values.get("training_url") and not values.get("model"):
        raise UsageError(f"{where}: neither training_url nor model",
                         hint="give the training service's BES URL (training_url) or an .ilearner URL to deploy (model)")
    values.setdefault("key", values["target"])
    values["global_parameters"] = params
    return FleetRow(line=line, **values)


def parse_manifest(text: str, *, fmt: str, source: str = "<manifest>", defaults: dict[str, Any] | None = None) -> list[FleetRow]:
    """Rows from a manifest's text (``fmt``: ``csv``, ``json`` or ``yaml``).

    JSON/YAML: a list of row objects, or ``{"defaults": {...}, "rows": [...]}``.
    ``defaults`` (e.g. from command-line options) fill the cells a row leaves empty.
    :raises UsageError: unknown columns, missing targets, duplicate keys.
    """
    defaults = dict(defaults or {})
    rows: list[FleetRow] = []
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
        if not reader.fieldnames:
            raise UsageError(f"{source}: empty manifest", hint="the first line names the columns, e.g. key,target,training_url,data")
        for name in reader.fieldnames:
            if str(name).strip() and not any(str(name).strip().lower().startswith(p) for p in _PARAM_PREFIXES):
                _column(name, f"{source} line 1")  # the header names the columns: a typo is line 1's
        for raw in reader:
            i = reader.line_num
            if not any((v or "").strip() for v in raw.values() if isinstance(v, str)):
                continue
            if None in raw:
                raise UsageError(f"{source} line {i}: more cells than columns",
                    hint='quote cells that contain commas, or name the extra column in the header line')
            rows.append(_row_from_mapping(raw, defaults, f"{source} line {i}", i))
    else:
        if fmt == "json":
            try:
                doc = json.loads(text)
            except ValueError as exc:
                raise UsageError(f"{source}: invalid JSON: {exc}", hint='fix the JSON at the place named') from None
        elif fmt == "yaml":
            try:
                import yaml
            except ImportError:
                raise UsageError(f"{source}: YAML manifests need PyYAML, which is not installed",
                                 hint="pip install 'amlws[yaml]' (or PyYAML), or write the manifest as CSV or JSON") from None
            try:
                doc = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                raise UsageError(f"{source}: invalid YAML: {exc}", hint='fix the YAML at the place named') from None
        else:
            raise UsageError(f"unknown manifest format {fmt!r}", hint="use .csv, .json or .yaml")
        if isinstance(doc, dict):
            defaults = {**defaults, **(doc.get("defaults") or {})}
            doc = doc.get("rows")
        if not isinstance(doc, list):
            raise UsageError(f"{source}: expected a list of rows (or an object with \"rows\")",
                hint='write a list of row objects, or {"defaults": {...}, "rows": [...]}')
        for i, raw in enumerate(doc, start=1):
            if not isinstance(raw, dict):
                raise UsageError(f"{source}: row {i} is not an object",
                    hint='write each row as an object of column: value')
            rows.append(_row_from_mapping(raw, defaults, f"{source} row {i}", i))
    seen: dict[str, int] = {}
    for row in rows:
        if row.key in seen:
            raise UsageError(f"{source}: duplicate row key {row.key!r} (rows {seen[row.key]} and {row.line})",
                             hint="give every row a unique key (column key)")
        seen[row.key] = row.line
    return rows


def manifest_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    return {".csv": "csv", ".json": "json", ".yaml": "yaml", ".yml": "yaml"}.get(suffix, "csv")


def load_manifest(path: str | Path, *, defaults: dict[str, Any] | None = None) -> list[FleetRow]:
    from ..fsutil import read_text

    text = read_text(path, what="fleet manifest")
    rows = parse_manifest(text, fmt=manifest_format(path), source=str(path), defaults=defaults)
    base = Path(path).resolve().parent
    for row in rows:  # a data file named relative to the manifest is found wherever amlws runs
        if row.data and "://" not in row.data and not Path(row.data).is_absolute() and (base / row.data).is_file():
            row.data = str(base / row.data)
    return rows


# --- sharding -------------------------------------------------------------------------------------


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"2/4"`` -> ``(2, 4)`` (1-based); ``None`` for no sharding."""
    if not text:
        return None
    try:
        i, n = (int(p) for p in str(text).split("/", 1))
    except ValueError:
        raise UsageError(f"invalid --shard {text!r}", hint="write I/N with 1 <= I <= N, e.g. --shard 2/4") from None
    if n < 1 or not 1 <= i <= n:
        raise UsageError(f"invalid --shard {text!r}", hint="write I/N with 1 <= I <= N, e.g. --shard 2/4")
    return i, n


def shard_index(key: str, count: int) -> int:
    """The 1-based shard of a row key: SHA-256, so every machine and Python agrees."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def select_shard(rows: Iterable[FleetRow], shard: tuple[int, int] | None) -> list[FleetRow]:
    if shard is None:
        return list(rows)
    i, n = shard
    return [r for r in rows if shard_index(r.key, n) == i]


def default_state_path(manifest: str | Path, shard: tuple[int, int] | None = None) -> Path:
    p = Path(manifest)
    suffix = f".shard-{shard[0]}-of-{shard[1]}" if shard else ""
    return p.with_name(f"{p.stem}{suffix}.fleet-state.jsonl")


# --- journal ---------------------------------------------------------------------------------------


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
        elif event == "failed":
            st.status = rec.get("status", FAILED)
            st.exit_code = rec.get("exitCode", 1)
            st.error, st.hint, st.seconds = rec.get("error"), rec.get("hint"), rec.get("seconds")
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


# --- running ---------------------------------------------------------------------------------------


@dataclass
class FleetOptions:
    """How to run a fleet.

    :param jobs: rows in flight at once.
    :param bes_jobs: BES jobs in flight at once (the service throttles workspaces); default ``jobs``.
    :param mgmt_jobs: concurrent management calls (GET/PATCH/PUT of targets); default ``jobs``.
    :param poll_interval: first wait between BES status polls (grows 1.5x up to ``max_poll_interval``).
    """

    state: str | Path
    jobs: int = 4
    bes_jobs: int | None = None
    mgmt_jobs: int | None = None
    fail_fast: bool = False
    shard: tuple[int, int] | None = None
    poll_interval: float = 2.0
    max_poll_interval: float = 30.0
    timeout: float | None = None
    what_if: bool = False
    action: str = "fleet"


class _Slots:
    """A semaphore whose wait gives up when the run is stopping."""

    def __init__(self, n: int, stop: threading.Event) -> None:
        self._sem = threading.BoundedSemaphore(max(1, int(n)))
        self._stop = stop

    def __enter__(self) -> _Slots:
        while not self._sem.acquire(timeout=0.2):
            if self._stop.is_set():
                raise FleetInterrupted("the fleet run is stopping")
        return self

    def __exit__(self, *exc: object) -> None:
        self._sem.release()


class _LimitedHost:
    """The host with management calls limited to ``mgmt_jobs`` at once (signatures kept for retrain)."""

    def __init__(self, host: Any, slots: _Slots) -> None:
        self._host = host
        self.settings = host.settings
        for name in ("get_definition", "send_update", "ensure_target"):
            inner = getattr(host, name, None)
            if inner is not None:
                setattr(self, name, self._limit(inner, slots))

    @staticmethod
    def _limit(inner: Callable[..., Any], slots: _Slots) -> Callable[..., Any]:
        @functools.wraps(inner)
        def call(*args: Any, **kwargs: Any) -> Any:
            with slots:
                return inner(*args, **kwargs)

        return call

    def __getattr__(self, name: str) -> Any:
        return getattr(self._host, name)


class _JournaledBes:
    """The BES client retrain uses, with the fleet's rules: the job id is journaled the moment
    the service returns it, a journaled job is waited on instead of submitting another, and
    at most ``bes_jobs`` jobs are in flight."""

    def __init__(self, client: Any, *, known_job: str | None, journal: Callable[[dict[str, Any]], None], slots: _Slots,
                 run_id: str) -> None:
        self._client = client
        self._known = known_job
        self._journal = journal
        self._slots = slots
        self._run_id = run_id
        self.job_id: str | None = known_job

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def run(self, config: dict[str, Any], *, timeout: float | None = None, keep_job: bool = False, progress: Any = None,
            on_submitted: Callable[[str], None] | None = None, raise_on_failure: bool = True) -> Any:
        from ..studio.bes import NOT_STARTED

        with self._slots:
            if self._known:
                job_id = self._known
                if on_submitted is not None:
                    on_submitted(job_id)
                current = self._client.status(job_id)
                if current.status == NOT_STARTED:  # killed between submit and start
                    self._client.start(job_id)
                status = self._client.wait(job_id, timeout=timeout, keep_job=keep_job, progress=progress,
                                           raise_on_failure=raise_on_failure)
            else:
                def submitted(job_id: str) -> None:
                    self.job_id = job_id
                    self._journal({"event": "submitted", "jobId": job_id, "runId": self._run_id})
                    if on_submitted is not None:
                        on_submitted(job_id)

                status = self._client.run(config, timeout=timeout, keep_job=keep_job, progress=progress,
                                          on_submitted=submitted, raise_on_failure=raise_on_failure)
        self._journal({"event": "job", "jobId": status.job_id, "status": status.status})
        return status


def _error_fields(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, AmlwsError):
        return {"exitCode": int(exc.exit_code), "error": redact(" ".join(str(exc.message).splitlines())),
                "kind": exc.kind, "hint": redact(exc.hint) if exc.hint else None}
    return {"exitCode": int(ExitCode.FAILED), "error": redact(f"unexpected {type(exc).__name__}: {exc}"), "kind": "unexpected"}


def aggregate_exit_code(states: Iterable[RowState], *, pending_fails: bool = False) -> int:
    """0 when every row is deployed (or planned); else the failing rows' common exit code, or 1."""
    codes = set()
    for st in states:
        if st.status in (DEPLOYED, PLANNED):
            continue
        if st.status in (PENDING, "running", SKIPPED):
            if pending_fails:
                codes.add(int(ExitCode.FAILED))
            continue
        if st.status == INTERRUPTED:
            codes.add(int(ExitCode.INTERRUPTED))
            continue
        codes.add(int(st.exit_code or ExitCode.FAILED))
    if not codes:
        return 0
    return codes.pop() if len(codes) == 1 else int(ExitCode.FAILED)


def summarize(states: dict[str, RowState], order: list[str] | None = None, *, state_files: list[str] | None = None,
              elapsed: float | None = None, pending_fails: bool = True) -> dict[str, Any]:
    keys = order or sorted(states)
    rows = [states[k].to_dict() for k in keys if k in states]
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    out: dict[str, Any] = {"rows": rows, "counts": counts, "total": len(rows),
                           "exitCode": aggregate_exit_code((states[k] for k in keys if k in states), pending_fails=pending_fails)}
    if state_files is not None:
        out["state"] = state_files
    if elapsed is not None:
        out["elapsedSeconds"] = round(elapsed, 3)
    return out


class FleetRunner:
    """Runs the rows of one shard against one journal. Use :func:`run_fleet`."""

    def __init__(self, host: Any, rows: list[FleetRow], options: FleetOptions, *, api_key: str | None,
                 storage_connection_string: str | None = None, progress: Any = None,
                 sleep: Callable[[float], None] | None = None) -> None:
        self.host = host
        self.rows = rows
        self.opt = options
        self.api_key = api_key
        self.cs = storage_connection_string
        self.progress = progress
        self.stop = threading.Event()
        self._failed = threading.Event()
        self.bes_slots = _Slots(options.bes_jobs or options.jobs, self.stop)
        self.mgmt_slots = _Slots(options.mgmt_jobs or options.jobs, self.stop)
        self.limited_host = _LimitedHost(host, self.mgmt_slots)
        self.journal: Journal | None = None
        self.states: dict[str, RowState] = {}
        self._lock = threading.Lock()
        self._sleep = sleep
        self._fingerprints: dict[str, str] = {}

    # -- helpers --
    def _stop_aware_sleep(self, seconds: float) -> None:
        if self.stop.wait(max(0.0, seconds)):
            raise FleetInterrupted("the fleet run is stopping", hint="run amlws fleet run again to resume")

    def _note(self, row: FleetRow, state: str, detail: str = "") -> None:
        if self.progress is not None:
            self.progress.update(row.key, state, detail)

    def _record(self, row: FleetRow, rec: dict[str, Any], *, sync: bool = False) -> None:
        fp = self._fingerprints.get(row.key) or self._fingerprints.setdefault(row.key, row.fingerprint())
        if self.journal is not None:  # None under --what-if: the states are kept in memory only
            self.journal.append({**rec, "row": row.key, "fingerprint": fp}, sync=sync)
        with self._lock:
            states, _ = fold_journal([{**rec, "row": row.key, "fingerprint": fp, "time": _now()}])
            st = self.states.setdefault(row.key, RowState(row.key))
            _merge(st, states[row.key], rec)

    # -- the run --
    def _import_what_rows_need(self) -> None:
        """Import the modules every row uses before the workers start: otherwise the first
        ``--jobs`` rows all wait on the import lock while one of them imports requests & co.
        (about 0.15 s, paid once either way: process start-up, not the fleet's throughput)."""
        import requests  # noqa: F401

        from .. import http  # noqa: F401
        from ..safety import history, rollback  # noqa: F401

        if any(r.training_url for r in self.rows):
            from .. import evaluation  # noqa: F401
            from ..studio import bes, jobconfig, retrain  # noqa: F401

    def run(self) -> dict[str, Any]:
        self._import_what_rows_need()
        started = time.monotonic()
        previous, _ = fold_journal(read_journal(self.opt.state))  # --what-if reads it too (and writes nothing)
        order = [r.key for r in self.rows]
        for r in self.rows:
            st = previous.get(r.key)
            if st is not None and st.fingerprint and st.fingerprint != r.fingerprint():
                log.info("row %s changed in the manifest since the journal: starting it afresh", r.key)
                st = None
            self.states[r.key] = st or RowState(r.key, target=r.target)
        todo = [r for r in self.rows if not _final(self.states[r.key])]
        if self.progress is not None:
            self.progress.start(len(self.rows), {k: s.status for k, s in self.states.items() if _final(s)})
        if not self.opt.what_if:
            self.journal = Journal(self.opt.state)
            self.journal.append({"event": "run", "version": JOURNAL_VERSION, "pid": os.getpid(),
                                 "shard": f"{self.opt.shard[0]}/{self.opt.shard[1]}" if self.opt.shard else None,
                                 "rows": order})
        from concurrent.futures import ThreadPoolExecutor, wait

        from ..http import SessionPool

        # one keep-alive session per worker thread: a row's calls (and the next row's) reuse the
        # TLS connection instead of a handshake per call
        settings = self.host.settings
        sessions = SessionPool()
        previous_pool = getattr(settings, "http_session_pool", None)
        try:
            settings.http_session_pool = sessions
        except AttributeError:  # pragma: no cover - a settings object that takes no attributes
            pass
        interrupted = False
        try:
            with ThreadPoolExecutor(max_workers=max(1, self.opt.jobs), thread_name_prefix="amlws-fleet") as pool:
                futures = [pool.submit(self._run_row, r) for r in todo]
                try:
                    pending = set(futures)
                    while pending:
                        _, pending = wait(pending, timeout=0.25)
                except KeyboardInterrupt:
                    interrupted = True
                    self.stop.set()
                    for f in futures:
                        f.cancel()
                    wait(futures, timeout=30)
        finally:
            try:
                settings.http_session_pool = previous_pool
            except AttributeError:  # pragma: no cover
                pass
            sessions.close()
            if self.progress is not None:
                self.progress.finish()
            if self.journal is not None:
                self.journal.close()
        summary = summarize(self.states, order, state_files=[str(self.opt.state)], elapsed=time.monotonic() - started,
                            pending_fails=True)
        if interrupted:
            summary["exitCode"] = int(ExitCode.INTERRUPTED)
        if self.opt.what_if:
            summary["whatIf"] = True
        return summary

    def _run_row(self, row: FleetRow) -> None:
        if self.stop.is_set():
            self.states[row.key].status = SKIPPED if self.states[row.key].status in (PENDING, SKIPPED) else self.states[row.key].status
            self._note(row, SKIPPED, "not started (--fail-fast)" if self._failed.is_set() else "not started")
            return
        st = self.states[row.key]
        known_job = st.job_id if st.job_reusable else None
        from ..studio.retrain import new_run_id

        run_id = (st.run_id if known_job and st.run_id else None) or new_run_id()
        t0 = time.monotonic()
        self._record(row, {"event": "start", "target": row.target, "runId": run_id, "resumeJob": known_job})
        self._note(row, "starting", f"resuming BES job {known_job}" if known_job else "")
        try:
            result = self._deploy_row(row, run_id, known_job)
        except BaseException as exc:  # one failing row never stops the others
            fields = _error_fields(exc)
            stopping = isinstance(exc, (FleetInterrupted, KeyboardInterrupt))
            status = INTERRUPTED if stopping else (GATE_FAILED if fields["exitCode"] == int(ExitCode.CONFLICT)
                                                   and getattr(exc, "details", {}).get("result", {}).get("status") == "gate_failed"
                                                   else FAILED)
            rec = {"event": "done" if status == GATE_FAILED else "failed", "status": status,
                   "seconds": round(time.monotonic() - t0, 3), **{k: v for k, v in fields.items() if v is not None}}
            job_status = _job_status_of(exc)
            if job_status:
                rec["jobStatus"] = job_status
            self._record(row, rec)
            self._note(row, status, fields["error"])
            if status in (FAILED,) and self.opt.fail_fast:
                self._failed.set()
                self.stop.set()
            if not isinstance(exc, Exception):
                raise
            return
        seconds = round(time.monotonic() - t0, 3)
        if self.opt.what_if:
            with self._lock:
                self.states[row.key].status = PLANNED
            self._note(row, PLANNED, result.get("detail") or "")
            self.states[row.key].error = None
            return
        self._record(row, {"event": "done", "status": DEPLOYED, "verified": bool(result.get("verified")), "exitCode": 0,
                           "seconds": seconds, "modelUri": redact(result.get("modelUri") or "") or None})
        self._note(row, DEPLOYED, f"{seconds:.1f}s" + ("" if result.get("verified") else " (not verified yet)"))

    def _deploy_row(self, row: FleetRow, run_id: str, known_job: str | None) -> dict[str, Any]:
        host = self.limited_host
        settings = host.settings
        target = host.resolve(row.target, backend=row.backend)
        if row.create and not self.states[row.key].created:
            if self.opt.what_if:
                from ..errors import RemoteError

                try:
                    host.get_definition(target)
                except RemoteError as exc:
                    if exc.status != 404:
                        raise
                    # the row's one PLANNED note is _run_row's: a second one here counted the row twice
                    return {"status": PLANNED, "wouldCreate": True, "detail": "would create the target, then retrain and deploy"}
            elif hasattr(host, "ensure_target"):
                self._note(row, "creating")
                created = host.ensure_target(target, {"description": row.description or row.key})
                if created.get("created"):
                    self._record(row, {"event": "created", "target": target.id})
            else:  # pragma: no cover - an older host
                raise UsageError("this amlws cannot create targets", hint="create the endpoint first, or drop create from the manifest")
        if row.training_url is None:
            return self._patch_only(row, target)
        from ..studio.bes import BesClient
        from ..studio.retrain import RetrainRequest, retrain

        if not self.api_key:
            raise UsageError("no API key for the training service", hint="set AMLWS_API_KEY (the training endpoint's key)")
        client = BesClient.from_url(row.training_url, self.api_key, settings=settings, poll_interval=self.opt.poll_interval,
                                    max_poll_interval=self.opt.max_poll_interval, sleep=self._sleep or self._stop_aware_sleep)
        bes = _JournaledBes(client, known_job=known_job, journal=lambda rec: self._record(row, rec, sync=rec.get("event") == "submitted"), slots=self.bes_slots,
                            run_id=run_id)
        request = RetrainRequest(
            training_url=row.training_url, target=row.target, backend=row.backend,
            data=None if known_job else row.data, input_name=row.input_name, model_output=row.model_output,
            evaluation_output=row.evaluation_output, gates=list(row.gates), global_parameters=dict(row.global_parameters),
            selector=row.selector, timeout=self.opt.timeout,
        )

        def info(message: str) -> None:
            for prefix, state in (("uploading", "uploading"), ("training", "training"), ("submitted", "training"),
                                  ("evaluation", "evaluating"), ("deploying", "deploying")):
                if message.startswith(prefix):
                    self._note(row, state, message if prefix in ("submitted", "evaluation") else "")
                    return

        def progress(status: Any, elapsed: float) -> None:
            self._note(row, "training", f"job {status.status} {elapsed:.0f}s")

        out = retrain(host, request, api_key=self.api_key, storage_connection_string=self.cs, bes=bes, info=info,
                      confirm=lambda q: None, run_id=run_id, progress=progress)
        if out.get("status") == "what_if":
            return {"status": PLANNED}
        deploy = (out.get("steps") or {}).get("deploy") or {}
        return {"verified": deploy.get("verified"), "modelUri": deploy.get("modelUri") or deploy.get("model_uri"),
                "jobId": bes.job_id}

    def _patch_only(self, row: FleetRow, target: Any) -> dict[str, Any]:
        from ..model import ModelLocation

        host: Any = self.limited_host  # the Host, its management calls limited (duck-typed)
        location = ModelLocation.from_uri(str(row.model))
        if self.opt.what_if:
            return {"status": PLANNED}
        self._note(row, "deploying")
        live = host.get_definition(target)
        patched = host.patch_ilearner(live, location, selector=row.selector)
        from ..safety.change import update

        result = update(host, target, patched, live=live, action=self.opt.action, note=f"fleet row {row.key}")
        return {"verified": result.verified, "modelUri": result.model_uri}


def _final(st: RowState) -> bool:
    """Not run again: deployed and verified, or stopped by its gate. A deployed row the service did
    not confirm yet is deployed again (a classic endpoint that already has the model gets no PATCH)."""
    return st.status == GATE_FAILED or (st.status == DEPLOYED and st.verified)


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
        for name in ("status", "verified", "exit_code", "error", "hint", "seconds", "model_uri"):
            setattr(st, name, getattr(new, name))
        if new.job_status:
            st.job_status = new.job_status


def _job_status_of(exc: BaseException) -> str | None:
    from ..studio.bes import CANCELLED, JobCancelled, JobFailed, JobTimeout

    if isinstance(exc, JobFailed):
        return "Failed"
    if isinstance(exc, JobCancelled):
        return CANCELLED
    if isinstance(exc, JobTimeout) and exc.cancelled:
        return CANCELLED
    return None


def run_fleet(host: Any, rows: list[FleetRow], options: FleetOptions, *, api_key: str | None = None,
              storage_connection_string: str | None = None, progress: Any = None) -> dict[str, Any]:
    """Run every row (of ``options.shard``) and return the summary: ``rows`` (key, status, jobId,
    exitCode, error...), ``counts`` by status, ``exitCode`` (0 when all are deployed), ``state``.

    Re-running with the same state file resumes: deployed rows are skipped, journaled BES jobs
    are waited on, failed and interrupted rows are retried.
    """
    selected = select_shard(rows, options.shard)
    runner = FleetRunner(host, selected, options, api_key=api_key, storage_connection_string=storage_connection_string,
                         progress=progress)
    return runner.run()


def _is_journal(path: Path) -> bool:
    """Whether ``path`` holds fleet journal records (a manifest, even a JSON one, has none)."""
    return any("event" in rec for rec in read_journal(path))


def state_files_of(manifest: str | Path) -> list[Path]:
    """The state files ``amlws fleet run MANIFEST`` writes by default: unsharded and per shard."""
    p = Path(manifest)
    default = default_state_path(p)
    shards = sorted(p.parent.glob(f"{glob.escape(p.stem)}.shard-*-of-*.fleet-state.jsonl"))
    return ([default] if default.is_file() else []) + [s for s in shards if s.is_file()]


def resolve_state_paths(paths: Iterable[str | Path]) -> list[Path]:
    """The journals to read for ``paths``: a state file as given; a manifest given by mistake
    stands for the state files beside it. Neither is an error, so that a CI check on the fleet
    never passes on zero rows.

    :raises NotFoundError: a path does not exist (exit 3).
    :raises UsageError: a path is neither a state file nor a manifest with one.
    """
    out: list[Path] = []
    for given in paths:
        p = Path(given)
        if not p.exists():
            raise NotFoundError(f"no such file {p}", hint="check the path: give the --state file(s) that amlws fleet run wrote, or its manifest")
        if not p.is_file():
            raise UsageError(f"no fleet state file {p}", hint="give the --state file(s) that amlws fleet run wrote")
        if _is_journal(p):
            out.append(p)
            continue
        found = state_files_of(p)
        if not found and p.suffix.lower() in (".csv", ".json", ".yaml", ".yml"):
            raise UsageError(f"{p} is a fleet manifest, not a state file, and its state file "
                             f"{default_state_path(p).name} (or a shard's) is not beside it",
                             hint=f"give the --state file(s) that amlws fleet run wrote, or run amlws fleet run {p} first")
        if not found:
            raise UsageError(f"{p} is not a fleet state file (it holds no journal records)",
                             hint="give the --state file(s) that amlws fleet run wrote")
        log.info("%s is a fleet manifest: reading its state file(s) %s", p, ", ".join(str(f) for f in found))
        out += [f for f in found if f not in out]
    return out


def fleet_status(paths: list[str | Path]) -> dict[str, Any]:
    """The merged state of one or more journals (shards): rows, counts, and the exit code a
    finished run would have (pending rows count as failed: the fleet is not done). A manifest
    path stands for its default state file(s) (see :func:`resolve_state_paths`)."""
    paths = list(resolve_state_paths(paths))
    states, runs = load_states(paths)
    order: list[str] = []
    for run in runs:
        for key in run.get("rows") or []:
            if key not in order:
                order.append(key)
    order += [k for k in sorted(states) if k not in order]
    out = summarize(states, order, state_files=[str(p) for p in paths], pending_fails=True)
    out["runs"] = len(runs)
    return out


# --- progress display ------------------------------------------------------------------------------


class FleetProgress:
    """Per-row state and overall ETA on stderr: a live panel on a terminal, one line per finished row otherwise."""

    SHOWN = 12

    def __init__(self, stream: Any = None, *, live: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        try:
            is_tty = bool(self.stream.isatty())
        except (AttributeError, ValueError):
            is_tty = False
        self.live = is_tty if live is None else live
        self._lock = threading.Lock()
        self.total = 0
        self.done = 0
        self.counts: dict[str, int] = {}
        self.active: dict[str, tuple[str, str, float]] = {}
        self._t0 = time.monotonic()
        self._live: Any = None
        self._finished_at_start = 0
        self._finished: set[str] = set()

    def start(self, total: int, states: dict[str, str]) -> None:
        self.total = total
        for status in states.values():
            if status in FINAL:
                self.counts[status] = self.counts.get(status, 0) + 1
                self.done += 1
        self._finished = {k for k, status in states.items() if status in FINAL}
        self._finished_at_start = self.done
        self._t0 = time.monotonic()
        if self.done:
            self._line(f"fleet: resuming, {self.done} of {total} row(s) already done")
        if self.live:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(get_renderable=self._render, console=Console(file=self.stream), refresh_per_second=4, transient=True)
            self._live.start()

    def eta(self) -> float | None:
        ran = self.done - self._finished_at_start
        if ran <= 0:
            return None
        elapsed = time.monotonic() - self._t0
        return elapsed / ran * (self.total - self.done)

    def header(self) -> str:
        elapsed = time.monotonic() - self._t0
        counts = ", ".join(f"{n} {s}" for s, n in sorted(self.counts.items()))
        eta = self.eta()
        return (f"fleet: {self.done}/{self.total} done" + (f" ({counts})" if counts else "") + f", {len(self.active)} running, "
                f"elapsed {_clock(elapsed)}" + (f", ETA {_clock(eta)}" if eta is not None else ""))

    def _render(self) -> Any:
        from rich.table import Table
        from rich.text import Text

        with self._lock:
            table = Table.grid(padding=(0, 2))
            table.add_row(Text(self.header(), style="bold"))
            now = time.monotonic()
            for key, (state, detail, since) in list(self.active.items())[: self.SHOWN]:
                table.add_row(Text(f"  {key:<28} {state:<11} {_clock(now - since)}  {detail}"[:160]))
            if len(self.active) > self.SHOWN:
                table.add_row(Text(f"  ... and {len(self.active) - self.SHOWN} more"))
            return table

    def update(self, key: str, state: str, detail: str = "") -> None:
        with self._lock:
            if state in (DEPLOYED, FAILED, GATE_FAILED, INTERRUPTED, SKIPPED, PLANNED):
                self.active.pop(key, None)
                if key not in self._finished:  # a row is done once: the count never passes the total
                    if state != SKIPPED:
                        self.done += 1
                        self._finished.add(key)
                    self.counts[state] = self.counts.get(state, 0) + 1
                message = f"fleet [{self.done}/{self.total}] {key}: {state}" + (f" ({detail})" if detail else "")
            else:
                prev = self.active.get(key)
                self.active[key] = (state, detail, prev[2] if prev else time.monotonic())
                message = f"fleet {key}: {detail}" if detail.startswith("submitted") or detail.startswith("resuming") else ""
        if message:
            self._line(message)

    def _line(self, message: str) -> None:
        text = redact(message)
        if self._live is not None:
            self._live.console.print(text, markup=False, highlight=False)
        else:
            self.stream.write(text + "\n")
            self.stream.flush()

    def finish(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        self._line(self.header().replace(", 0 running", ""))


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
