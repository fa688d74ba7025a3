"""Running a fleet: every row of one shard with bounded concurrency (rows, BES jobs, management
calls), journaled so that a killed run resumes (:func:`run_fleet`)."""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from ..errors import AmlwsError, ExitCode, UsageError
from ..redact import redact
from .journal import (
    DEPLOYED,
    FAILED,
    GATE_FAILED,
    INTERRUPTED,
    JOURNAL_VERSION,
    PENDING,
    PLANNED,
    SKIPPED,
    Journal,
    RowState,
    _merge,
    _now,
    fold_journal,
    read_journal,
)
from .manifest import FleetRow
from .shards import select_shard
from .status import summarize

log = logging.getLogger("amlws.fleet")


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


@dataclass
class FleetOptions:
    """How to run a fleet.

    :param jobs: rows in flight at once.
    :param bes_jobs: BES jobs in flight at once (the service throttles workspaces); default ``jobs``.
    :param mgmt_jobs: concurrent management calls (GET/PATCH/PUT of targets); default ``jobs``.
    :param poll_interval: first wait between BES status polls (grows 1.5x up to ``max_poll_interval``).
    :param arm_budget: percent of each of the subscription's ARM buckets the run may drain; the rest
        is left to other tools (:mod:`amlws.azure.budget`).
    :param pacing: wait for the ARM budget before sending (``False``: send as fast as ``jobs`` allow).
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
    arm_budget: float = 80.0
    pacing: bool = True


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
        from ..azure.budget import ArmBudget

        self.budget = ArmBudget(share=options.arm_budget, pacing=options.pacing, stop=self.stop)

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
        previous_budget = getattr(settings, "arm_budget", None)
        try:
            settings.http_session_pool = sessions
            # every ARM call of every worker paced by one budget (the subscription's, from its headers)
            settings.arm_budget = self.budget
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
                settings.arm_budget = previous_budget
            except AttributeError:  # pragma: no cover
                pass
            sessions.close()
            if self.progress is not None:
                self.progress.finish()
            if self.journal is not None:
                self.journal.close()
        summary = summarize(self.states, order, state_files=[str(self.opt.state)], elapsed=time.monotonic() - started,
                            pending_fails=True)
        if self.budget.stats.requests:
            summary["throttling"] = self.budget.summary()
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
        self.budget.take_thread_stats()  # this row's waits only
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
                   "seconds": round(time.monotonic() - t0, 3), **{k: v for k, v in fields.items() if v is not None},
                   **self._throttling()}
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
                           "seconds": seconds, "modelUri": redact(result.get("modelUri") or "") or None, **self._throttling()})
        self._note(row, DEPLOYED, f"{seconds:.1f}s" + ("" if result.get("verified") else " (not verified yet)"))

    def _throttling(self) -> dict[str, Any]:
        """This row's waits for the ARM budget and 429s (journal fields; none when there were none)."""
        waited, throttled = self.budget.take_thread_stats()
        out: dict[str, Any] = {}
        if waited:
            out["throttleSeconds"] = round(waited, 3)
        if throttled:
            out["throttled"] = throttled
        return out

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
                from ..safety import change

                created = change.ensure(cast(Any, host), target, {"description": row.description or row.key})
                if created.get("created"):
                    self._record(row, {"event": "created", "target": target.id})
            else:  # pragma: no cover - an older host
                raise UsageError("this amlws cannot create targets", hint="create the endpoint first, or drop create from the manifest")
        if row.runs_a_job:
            return self._retrain_job(row, target)
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

    def _retrain_job(self, row: FleetRow, target: Any) -> dict[str, Any]:
        """A row with a training job: the whole retrain by the target's backend (``amlws_retrain``), as
        ``amlws retrain TARGET --job-file|--from-job`` runs it (confirmed by ``fleet run --yes``)."""
        from ..model import RetrainJob

        host: Any = self.limited_host
        request = RetrainJob(job_file=row.job_file, from_job=row.from_job, inputs=dict(row.inputs),
                             model_output=None if row.model_output == "output1" else row.model_output,  # the backend's default
                             model_name=row.model_name, gates=list(row.gates), strategy=row.strategy, timeout=self.opt.timeout,
                             confirm=lambda q: None, progress=lambda message: self._note(row, "training", message[:80]))
        out = host.retrain(target, request)
        if out is None:
            raise UsageError(f"the {target.backend} backend cannot retrain {target.id} from a training job",
                             hint="give the row a training_url (a BES training service) instead of job_file / from_job")
        if out.get("status") == "what_if":
            return {"status": PLANNED}
        where = out.get("deployment") or {}
        return {"verified": where.get("verified", True), "modelUri": out.get("modelVersion"), "jobId": out.get("job")}

    def _patch_only(self, row: FleetRow, target: Any) -> dict[str, Any]:
        from ..model import ModelLocation

        host: Any = self.limited_host  # the Host, its management calls limited (duck-typed)
        model = str(row.model)
        if not host.implements(target.backend, "amlws_patch_model"):
            ModelLocation.from_uri(model)  # a Studio row's bad URL fails before anything is read
        if self.opt.what_if:
            return {"status": PLANNED}
        self._note(row, "deploying")
        note = f"fleet row {row.key}"
        done = host.deploy_model(target, model, host=host, options={"action": self.opt.action, "note": note})
        if done is not None:  # the backend's own way (e.g. a rollout on an endpoint)
            return {"verified": done.get("verified"), "modelUri": done.get("modelUri")}
        live = host.get_definition(target)
        patched = host.patch_model(live, model, selector=row.selector)
        from ..safety.change import update

        result = update(host, target, patched, live=live, action=self.opt.action, note=note)
        return {"verified": result.verified, "modelUri": result.model_uri}


def _final(st: RowState) -> bool:
    """Not run again: deployed and verified, or stopped by its gate. A deployed row the service did
    not confirm yet is deployed again (a target that already has the model gets no change sent)."""
    return st.status == GATE_FAILED or (st.status == DEPLOYED and st.verified)


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
