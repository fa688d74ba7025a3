"""Batch Execution Service (BES) client: submit, start, poll, cancel a training or batch job.

Every Studio training web service (the original and the "New" ones) speaks the same BES protocol
(the Studio REFERENCE.md §4), so this client lives once in core::

    from amlws.studio.bes import BesClient
    bes = BesClient.from_url("https://ussouthcentral.services.azureml.net/workspaces/W/services/S/jobs", api_key)
    status = bes.run(job_config)            # submit -> start -> wait
    model = status.location("output1")      # a ModelLocation for patch-ilearner

Unlike ``Invoke-AmlWebServiceBESEndpoint`` it stops on ``Cancelled`` (the cmdlet
waits forever for ``Canceled``), sleeps between polls with backoff and honours
``Retry-After``, raises on ``Failed`` with the job's ``Details``, reports HTTP status
codes, never re-sends the submission POST (a retry could start a second training
job), and builds every URL from ``ApiLocation`` instead of string replacement.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit, urlunsplit

from ..config import API_KEY_HINT
from ..errors import AmlwsError, OperationFailed, OperationTimeout, RemoteError, UsageError
from ..model import ModelLocation
from ..progress import current as current_reporter
from ..redact import redact, redact_obj, register_secret

log = logging.getLogger("amlws.studio.bes")

API_VERSION = "2.0"
PARAMS = {"api-version": API_VERSION}

NOT_STARTED = "NotStarted"
RUNNING = "Running"
FAILED = "Failed"
CANCELLED = "Cancelled"
FINISHED = "Finished"
TERMINAL = frozenset({FAILED, CANCELLED, FINISHED})

#: The legacy integer status codes (2015 docs): 0 NotStarted ... 4 Finished.
STATUS_BY_NUMBER = {0: NOT_STARTED, 1: RUNNING, 2: FAILED, 3: CANCELLED, 4: FINISHED}
_STATUS_BY_NAME = {
    "notstarted": NOT_STARTED,
    "running": RUNNING,
    "failed": FAILED,
    "cancelled": CANCELLED,
    "canceled": CANCELLED,  # the azuremlps spelling; accepted, never required
    "finished": FINISHED,
}

DEFAULT_POLL_INTERVAL = 2.0
DEFAULT_MAX_POLL_INTERVAL = 30.0
POLL_BACKOFF = 1.5
MAX_RETRY_AFTER = 120.0


class JobFailed(OperationFailed):
    """The BES job ended ``Failed``; ``job_status`` holds the last status (``Details``)."""

    kind = "job_failed"

    def __init__(self, message: str, *, job_status: JobStatus, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.job_status = job_status

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["job"] = self.job_status.to_dict()
        return data


class JobCancelled(OperationFailed):
    """The BES job ended ``Cancelled`` (by someone, or by amlws after a timeout or Ctrl-C)."""

    kind = "job_cancelled"

    def __init__(self, message: str, *, job_status: JobStatus | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.job_status = job_status


class JobTimeout(OperationTimeout):
    """The client-side ``--timeout`` ran out while the job was still running."""

    def __init__(self, message: str, *, job_id: str, cancelled: bool, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.job_id = job_id
        self.cancelled = cancelled


# --- URLs --------------------------------------------------------------------------------


def api_location_from_url(url: str) -> str:
    """The service's ``ApiLocation`` from what the user gave.

    Accepts AzureMLPS's ``-SubmitJobRequestUrl`` (``{ApiLocation}/jobs?api-version=2.0``),
    the same without the query, the RRS URL (``{ApiLocation}/execute?...``) or the
    ``ApiLocation`` itself.
    """
    text = (url or "").strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(
            f"not a BES/RRS URL: {redact(text)!r}",
            hint="give the endpoint's ApiLocation + /jobs, e.g. https://ussouthcentral.services.azureml.net/workspaces/W/services/S/jobs",
        )
    query = parse_qs(parts.query, keep_blank_values=True)
    versions = query.get("api-version")
    if versions and versions[-1] != API_VERSION:
        raise UsageError(
            f"unsupported api-version {versions[-1]!r} in the URL",
            hint="amlws speaks BES/RRS api-version 2.0; drop the query or use api-version=2.0",
        )
    path = parts.path.rstrip("/")
    lowered = path.lower()
    for suffix in ("/jobs", "/execute"):
        if lowered.endswith(suffix):
            path = path[: -len(suffix)]
            break
    if not path:
        raise UsageError(f"the URL has no service path: {redact(text)!r}", hint="use the endpoint's ApiLocation (…/workspaces/W/services/S)")
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


# --- status -------------------------------------------------------------------------------


def parse_status_code(value: Any) -> str:
    """A ``StatusCode`` (name, any casing, or the legacy integer 0-4) as its canonical name."""
    if isinstance(value, bool):
        value = None
    if isinstance(value, int):
        if value in STATUS_BY_NUMBER:
            return STATUS_BY_NUMBER[value]
    elif isinstance(value, str):
        text = value.strip()
        if text.isdigit() and int(text) in STATUS_BY_NUMBER:
            return STATUS_BY_NUMBER[int(text)]
        key = text.replace(" ", "").replace("_", "").lower()
        if key in _STATUS_BY_NAME:
            return _STATUS_BY_NAME[key]
    raise AmlwsError(
        f"the BES service returned an unknown job status {value!r}",
        hint="expected NotStarted, Running, Failed, Cancelled, Finished (or 0-4)",
    )


@dataclass
class JobStatus:
    """One BES job status document, parsed.

    :param status: ``NotStarted``, ``Running``, ``Failed``, ``Cancelled`` or ``Finished``.
    :param results: output name -> blob reference (``BaseLocation``...), or ``None``.
    :param details: the service's ``Details`` text (failure reason), if any.
    :param raw: the document as received (holds SAS tokens: never print it).
    :param retry_after: seconds from a ``Retry-After`` header on the status response.
    """

    job_id: str
    status: str
    results: dict[str, Any] | None = None
    details: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    retry_after: float | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def output(self, name: str) -> dict[str, Any]:
        """One ``Results.<name>`` reference (output names are case-sensitive, as on the service)."""
        if not self.results:
            raise AmlwsError(
                f"BES job {self.job_id} ({self.status}) returned no Results",
                hint="results exist only for Finished jobs; check the job's Outputs (amlws jobs status)",
            )
        if name not in self.results:
            near = [n for n in self.results if n.lower() == name.lower()]
            extra = f" (output names are case-sensitive: did you mean {near[0]!r}?)" if near else ""
            raise UsageError(
                f"BES job {self.job_id} has no output {name!r}{extra}",
                hint="outputs: " + ", ".join(sorted(self.results)),
            )
        ref = self.results[name]
        if not isinstance(ref, dict):
            raise AmlwsError(f"BES output {name!r} is not a blob reference", hint="check the training service's outputs")
        return ref

    def location(self, name: str) -> ModelLocation:
        """``Results.<name>`` as a :class:`ModelLocation` (base + relative + SAS)."""
        return ModelLocation.from_bes_result(self.output(name))

    def to_dict(self) -> dict[str, Any]:
        """For output: SAS signatures and keys redacted."""
        return {
            "jobId": self.job_id,
            "status": self.status,
            "results": redact_obj(self.results) if self.results is not None else None,
            "details": redact(self.details) if self.details else self.details,
        }

    def to_raw_dict(self) -> dict[str, Any]:
        """With SAS tokens, for ``--results-file`` (written 0600) and ``patch-ilearner --bes-result``."""
        return {"JobId": self.job_id, "StatusCode": self.status, "Results": self.results, "Details": self.details}


def parse_status(job_id: str, body: Any, *, retry_after: float | None = None) -> JobStatus:
    """Parse a BES status document; tolerant of the legacy shapes (integers, ``Result``, ``Status Code``)."""
    if not isinstance(body, dict):
        raise AmlwsError(f"the BES service returned a malformed status for job {job_id}", hint="rerun with --debug to see the response")
    lowered: dict[str, Any] = {}
    for k, v in body.items():
        lowered.setdefault(str(k).replace(" ", "").lower(), v)
    if "statuscode" not in lowered:
        raise AmlwsError(f"the BES status of job {job_id} has no StatusCode", hint="rerun with --debug to see the response")
    status = parse_status_code(lowered["statuscode"])
    results = lowered.get("results")
    if results is None and isinstance(lowered.get("result"), dict):
        results = {"Result": lowered["result"]}  # the 2015 single-output shape
    if results is not None and not isinstance(results, dict):
        results = None
    from .jobconfig import register_sas

    for ref in (results or {}).values():
        if isinstance(ref, dict):
            for k, v in ref.items():
                if k.lower() == "sasblobtoken" and isinstance(v, str):
                    register_sas(v)
                elif k.lower() == "connectionstring" and isinstance(v, str):
                    register_secret(v)
    details = lowered.get("details")
    if details is not None and not isinstance(details, str):
        details = json.dumps(details, ensure_ascii=False)
    return JobStatus(job_id, status, results, details or None, dict(body), retry_after)


def loads_tolerant(text: str) -> Any:
    """``json.loads``, also accepting a UTF-8 BOM and trailing commas before ``}``/``]``.

    The 2016 consume docs print the BES status with trailing commas (REFERENCE.md §4.3,
    ``docs-consume-2016-bes-status-response.VERBATIM-INVALID.txt``); a client copied from
    them must still read it. Commas inside strings are left alone; anything else that
    is not JSON still raises ``ValueError``.
    """
    text = text.lstrip("\ufeff")
    try:
        return json.loads(text)
    except ValueError:
        pass
    out: list[str] = []
    in_string = escaped = False
    pending_comma: int | None = None
    for ch in text:
        if in_string:
            out.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch in "}]" and pending_comma is not None:
            out[pending_comma] = ""  # a comma directly before a closing bracket
        if ch == ",":
            pending_comma = len(out)
        elif not ch.isspace():
            pending_comma = None
        if ch == '"':
            in_string = True
        out.append(ch)
    return json.loads("".join(out))


def _one_line(text: str, limit: int = 400) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def raise_for_terminal(status: JobStatus) -> JobStatus:
    """Turn a ``Failed``/``Cancelled`` status into its error; return ``Finished`` ones."""
    if status.status == FAILED:
        why = _one_line(redact(status.details)) if status.details else "no Details given"
        raise JobFailed(
            f"BES job {status.job_id} failed: {why}",
            job_status=status,
            hint="fix the cause in Details (inputs, outputs, global parameters), then submit a new job",
        )
    if status.status == CANCELLED:
        raise JobCancelled(f"BES job {status.job_id} was cancelled", job_status=status, hint="submit a new job to retrain")
    return status


# --- the client ----------------------------------------------------------------------------

ProgressCallback = Callable[[JobStatus, float], None]


def job_progress(label: str = "BES job") -> ProgressCallback:
    """A ``progress`` callback that reports each status to :func:`amlws.progress.current`
    (``BES job ID: Running (12s)`` on stderr in the CLI)."""
    reporter = current_reporter()
    return lambda status, elapsed: reporter.update(f"{label} {status.job_id}", status.status, elapsed)


class BesClient:
    """BES jobs on one service (``ApiLocation``), with ``Authorization: Bearer <api key>``.

    :param api_location: the endpoint's ``ApiLocation`` (see :func:`api_location_from_url`).
    :param api_key: the endpoint's primary or secondary key.
    :param http: an :class:`amlws.http.HttpClient` (default: a new one with ``settings``).
    :param poll_interval: first wait between status polls; grows by 1.5x up to ``max_poll_interval``.
    :param sleep, clock: injectable for tests.
    :param interactive: ask on Ctrl-C whether to cancel the job (a terminal is attached).
    """

    def __init__(
        self,
        api_location: str,
        api_key: str | None,
        *,
        http: Any = None,
        settings: Any = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        interactive: bool = False,
        ask: Callable[[str], bool] | None = None,
    ) -> None:
        if not api_key:
            raise UsageError("no API key for the BES service", hint=API_KEY_HINT)
        register_secret(api_key)
        if http is None:
            from ..http import HttpClient

            http = HttpClient(settings, sleep=sleep)
        self.api_location = api_location.rstrip("/")
        self.api_key = api_key
        self.http = http
        self.poll_interval = max(0.0, float(poll_interval))
        self.max_poll_interval = max(self.poll_interval, float(max_poll_interval))
        self.sleep = sleep
        self.clock = clock
        self.interactive = interactive
        self.ask = ask or _ask_on_tty

    @classmethod
    def from_url(cls, url: str, api_key: str | None, **kwargs: Any) -> BesClient:
        return cls(api_location_from_url(url), api_key, **kwargs)

    # URLs are built from ApiLocation, never by string replacement (azuremlps bug #9).
    @property
    def jobs_url(self) -> str:
        return f"{self.api_location}/jobs"

    def job_url(self, job_id: str) -> str:
        return f"{self.jobs_url}/{quote(job_id, safe='')}"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}", "Accept": "application/json"}

    # --- operations --------------------------------------------------------------------------

    def submit(self, config: dict[str, Any]) -> str:
        """``POST {ApiLocation}/jobs?api-version=2.0``: create a job (not started); returns its id.

        Never retried after the request reached the server (only on 429 throttling or a
        refused connection), so one call creates at most one job.
        """
        try:
            resp = self.http.request(
                "POST", self.jobs_url, params=PARAMS, json_body=config, headers=self._headers(),
                idempotent=False, error_context="submitting the BES job",
            )
        except RemoteError as exc:
            if exc.status is None or exc.status >= 500:
                exc.hint = (
                    "the submission was not retried, so that no second training job starts; the service may or may "
                    "not have created a job: check before submitting again"
                )
            raise
        job_id = _parse_job_id(resp)
        log.info("submitted BES job %s", job_id)
        return job_id

    def start(self, job_id: str) -> None:
        """``POST {ApiLocation}/jobs/{id}/start?api-version=2.0`` (no body).

        If the start request fails ambiguously (5xx, dropped connection, or 400 because
        the job is no longer NotStarted), the job's status decides: a job that left
        ``NotStarted`` was started.
        """
        try:
            self.http.request(
                "POST", f"{self.job_url(job_id)}/start", params=PARAMS, headers=self._headers(),
                idempotent=False, error_context=f"starting BES job {job_id}",
            )
        except RemoteError as exc:
            if exc.status is not None and exc.status not in (400, 409) and exc.status < 500:
                raise
            try:
                current = self.status(job_id)
            except AmlwsError:
                raise exc from None
            if current.status == NOT_STARTED:
                raise exc from None
            log.info("start of job %s reported %s, but the job is %s: treating it as started", job_id, exc.status, current.status)
        log.info("started BES job %s", job_id)

    def status(self, job_id: str, *, deadline: float | None = None) -> JobStatus:
        """``GET {ApiLocation}/jobs/{id}?api-version=2.0`` (retried on 5xx, 429, connection errors)."""
        from ..http import parse_retry_after

        resp = self.http.request(
            "GET", self.job_url(job_id), params=PARAMS, headers=self._headers(),
            error_context=f"reading the status of BES job {job_id}", deadline=deadline,
        )
        try:
            body = loads_tolerant(resp.content.decode("utf-8", "replace"))
        except ValueError:
            raise AmlwsError(
                f"the BES service returned a non-JSON status for job {job_id}", hint="rerun with --debug to see the response"
            ) from None
        return parse_status(job_id, body, retry_after=parse_retry_after(resp.headers.get("Retry-After")))

    def cancel(self, job_id: str) -> None:
        """``DELETE {ApiLocation}/jobs/{id}?api-version=2.0``: cancel a running job, or delete a finished one."""
        self.http.request(
            "DELETE", self.job_url(job_id), params=PARAMS, headers=self._headers(),
            error_context=f"cancelling BES job {job_id}",
        )
        log.info("cancelled BES job %s", job_id)

    delete = cancel

    def wait(
        self,
        job_id: str,
        *,
        timeout: float | None = None,
        keep_job: bool = False,
        progress: ProgressCallback | None = None,
        raise_on_failure: bool = True,
    ) -> JobStatus:
        """Poll until ``Finished``, ``Failed`` or ``Cancelled``.

        :param timeout: client-side limit in seconds; when it runs out the job is cancelled
            (``DELETE``) unless ``keep_job``, and :class:`JobTimeout` is raised.
        :param progress: called with each status and the elapsed seconds.
        :param raise_on_failure: raise :class:`JobFailed` / :class:`JobCancelled` (default) or return the status.
        :raises KeyboardInterrupt: after asking (on a terminal) whether to cancel the job; without a
            terminal the job is cancelled unless ``keep_job``.
        """
        started = self.clock()
        deadline = started + timeout if timeout is not None else None
        interval = self.poll_interval
        last_state: str | None = None
        try:
            while True:
                status = self.status(job_id, deadline=_monotonic_deadline(deadline, self.clock))
                elapsed = self.clock() - started
                if progress is not None:
                    progress(status, elapsed)
                if status.status != last_state:
                    log.info("BES job %s: %s after %.0fs", job_id, status.status, elapsed)
                    last_state = status.status
                if status.terminal:
                    return raise_for_terminal(status) if raise_on_failure else status
                wait = interval
                if status.retry_after is not None:
                    wait = max(wait, min(status.retry_after, MAX_RETRY_AFTER))
                if deadline is not None:
                    remaining = deadline - self.clock()
                    if remaining <= 0:
                        self._on_timeout(job_id, timeout or 0.0, keep_job)
                    wait = min(wait, remaining)
                self.sleep(wait)
                interval = min(self.max_poll_interval, max(interval, 0.001) * POLL_BACKOFF)
        except KeyboardInterrupt:
            self._on_interrupt(job_id, keep_job)
            raise

    def run(
        self,
        config: dict[str, Any],
        *,
        timeout: float | None = None,
        keep_job: bool = False,
        progress: ProgressCallback | None = None,
        on_submitted: Callable[[str], None] | None = None,
        raise_on_failure: bool = True,
    ) -> JobStatus:
        """Submit, start and wait: the whole ``Invoke-AmlWebServiceBESEndpoint``."""
        job_id = self.submit(config)
        if on_submitted is not None:
            on_submitted(job_id)
        try:
            self.start(job_id)
        except KeyboardInterrupt:
            self._on_interrupt(job_id, keep_job)
            raise
        return self.wait(job_id, timeout=timeout, keep_job=keep_job, progress=progress, raise_on_failure=raise_on_failure)

    # --- timeouts and interrupts ------------------------------------------------------------------

    def _on_timeout(self, job_id: str, timeout: float, keep_job: bool) -> None:
        if keep_job:
            raise JobTimeout(
                f"BES job {job_id} still running after {timeout:g}s (left running: --keep-job)",
                job_id=job_id,
                cancelled=False,
                hint=f"wait again with: amlws jobs wait --url {self.jobs_url} {job_id}",
            )
        cancelled = self._try_cancel(job_id)
        raise JobTimeout(
            f"BES job {job_id} still running after {timeout:g}s; "
            + ("it was cancelled" if cancelled else "cancelling it failed"),
            job_id=job_id,
            cancelled=cancelled,
            hint="raise --timeout, or pass --keep-job to leave the job running when the timeout expires",
        )

    def _on_interrupt(self, job_id: str, keep_job: bool) -> None:
        if keep_job:
            cancel = False
        elif self.interactive:
            try:
                cancel = self.ask(f"Cancel the remote BES job {job_id}?")
            except (KeyboardInterrupt, EOFError):
                cancel = False
        else:
            cancel = True
        if cancel:
            if self._try_cancel(job_id):
                sys.stderr.write(f"BES job {job_id} cancelled\n")
        else:
            sys.stderr.write(
                f"BES job {job_id} left running; resume with: amlws jobs wait --url {self.jobs_url} {job_id}\n"
            )

    def _try_cancel(self, job_id: str) -> bool:
        try:
            self.cancel(job_id)
            return True
        except AmlwsError as exc:
            log.warning("could not cancel BES job %s: %s", job_id, exc.message)
            return False


def _monotonic_deadline(deadline: float | None, clock: Callable[[], float]) -> float | None:
    """The HTTP layer compares deadlines with ``time.monotonic()``; translate an injected clock."""
    if deadline is None:
        return None
    return time.monotonic() + max(0.0, deadline - clock())


def _parse_job_id(resp: Any) -> str:
    text = (resp.text or "").strip()
    job_id: Any = None
    try:
        job_id = json.loads(text)
    except ValueError:
        job_id = text.replace('"', "")
    if isinstance(job_id, dict):  # tolerate {"JobId": "..."} from non-standard servers
        job_id = next((v for k, v in job_id.items() if k.lower() in ("jobid", "id")), None)
    if not isinstance(job_id, str) or not job_id.strip() or any(c in job_id for c in "/?#\n"):
        raise AmlwsError(
            f"the BES service answered the submission with no job id ({redact(text[:100])!r})",
            hint="check that the URL is the training service's jobs URL ({ApiLocation}/jobs)",
        )
    return job_id.strip()


def _ask_on_tty(question: str) -> bool:
    sys.stderr.write(f"\n{question} [Y/n]: ")
    sys.stderr.flush()
    answer = sys.stdin.readline()
    if not answer:
        return False
    return answer.strip().lower() in ("", "y", "yes")
