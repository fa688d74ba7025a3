"""The one HTTP policy for everything amlws sends with ``requests`` (management APIs, BES, RRS).

- timeouts on every request (connect, read);
- bounded retries with exponential backoff and jitter, honouring ``Retry-After``, on
  408/429/500/502/503/504 and connection errors -- for idempotent requests only, so a
  BES job submission (POST) is never sent twice;
- a ``User-Agent`` naming amlws and its version;
- TLS verification always on, with a CA bundle from ``AMLWS_CA_BUNDLE`` (or
  ``REQUESTS_CA_BUNDLE``) passed on each request, because requests lets the environment
  override a session-level ``verify`` (psf/requests#3829);
- ``--debug`` tracing of requests and responses with every secret redacted.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from . import __version__
from .errors import AmlwsError, ConnectionFailed, OperationTimeout, RemoteError
from .redact import redact, register_secret

log = logging.getLogger("amlws.http")

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
DEFAULT_TIMEOUT = (10.0, 60.0)
MAX_RETRY_AFTER = 120.0
#: The retry budget and backoff shared by every client (HttpClient here; the azure-core pipelines'
#: retry policy is built from the same numbers): retries after the first attempt, first backoff
#: (doubling, with jitter) and its cap, in seconds.
DEFAULT_RETRIES = 4
DEFAULT_BACKOFF = 0.5
MAX_BACKOFF = 20.0


def user_agent() -> str:
    import platform

    import requests

    return f"amlws/{__version__} python/{platform.python_version()} requests/{requests.__version__}"


def ca_bundle(settings: Any = None) -> str | bool:
    """The ``verify`` value for requests: a CA bundle path, or ``True`` for the system store."""
    value = None
    if settings is not None:
        value = settings.get("ca_bundle")
    value = value or os.environ.get("AMLWS_CA_BUNDLE") or os.environ.get("REQUESTS_CA_BUNDLE")
    if not value:
        return True
    path = os.path.expanduser(str(value))
    if not os.path.exists(path):
        from .errors import ConfigError

        raise ConfigError(
            f"CA bundle not found: {path}",
            hint="point AMLWS_CA_BUNDLE (or the ca_bundle setting, or REQUESTS_CA_BUNDLE) at a PEM file",
        )
    return path


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class SessionPool:
    """Keep-alive ``requests`` sessions, one per thread, shared by every :class:`HttpClient` made
    with settings that carry the pool (``settings.http_session_pool``). ``amlws fleet`` sets one
    so that a worker reuses its TLS connections across calls and rows instead of opening one
    per call. Without a pool each client has its own session, closed with the client."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._sessions: list[Any] = []

    def session(self) -> Any:
        s = getattr(self._local, "session", None)
        if s is None:
            import urllib.request

            import requests

            s = self._local.session = requests.Session()
            if not urllib.request.getproxies():
                # No proxy variables: skip requests' scan of the environment on every request
                # (amlws passes verify= itself and sends its own Authorization headers).
                s.trust_env = False
            with self._lock:
                self._sessions.append(s)
        return s

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for s in sessions:
            s.close()


def session_pool_session(settings: Any) -> Any:
    """This thread's pooled session when ``settings`` carries a :class:`SessionPool`, else ``None``."""
    pool = getattr(settings, "http_session_pool", None) if settings is not None else None
    return pool.session() if isinstance(pool, SessionPool) else None


class HttpClient:
    """A ``requests`` session wrapped in amlws's HTTP policy.

    :param settings: the invocation's :class:`~amlws.config.Settings` (CA bundle).
    :param retries: how many times a retryable failure is retried (total attempts = retries + 1).
    :param backoff: first backoff in seconds; doubles each retry, with jitter, capped at ``max_backoff``.
    :param sleep: injectable for tests.
    """

    def __init__(
        self,
        settings: Any = None,
        *,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        max_backoff: float = MAX_BACKOFF,
        verify: str | bool | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        import requests

        pooled = session_pool_session(settings)
        self._owns_session = pooled is None
        self.session = pooled if pooled is not None else requests.Session()
        self.session.headers["User-Agent"] = user_agent()
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.verify = ca_bundle(settings) if verify is None else verify
        self.sleep = sleep
        #: requests actually sent on the wire, retries included (benchmarks count these).
        self.request_count = 0
        #: the invocation's overall ``--timeout`` as a ``time.monotonic()`` deadline: no retry is
        #: attempted past it (a request made after it, e.g. cancelling a BES job, is still sent once).
        overall = getattr(settings, "timeout", None)
        overall = overall() if callable(overall) else None
        self.deadline = time.monotonic() + float(overall) if overall else None

    def close(self) -> None:
        if self._owns_session:
            self.session.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        data: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        idempotent: bool | None = None,
        ok: Iterable[int] | None = None,
        timeout: tuple[float, float] | None = None,
        error_context: str | None = None,
        deadline: float | None = None,
    ) -> Any:
        """Send one logical request under the policy and return the ``requests.Response``.

        :param idempotent: whether retrying is safe; defaults by method (POST/PATCH: no).
        :param ok: status codes that count as success (default: any 2xx or 304).
        :param error_context: what the request was doing, for the error message.
        :param deadline: ``time.monotonic()`` value after which no retry is attempted.
        :raises RemoteError: on a non-success status, after retries.
        :raises ConnectionFailed: when the host cannot be reached, after retries.
        """
        import requests

        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        if self.deadline is not None:
            deadline = self.deadline if deadline is None else min(deadline, self.deadline)
        hdrs = dict(headers or {})
        auth = hdrs.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            register_secret(auth[7:].strip())
        if json_body is not None:
            data = json.dumps(json_body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            hdrs.setdefault("Content-Type", "application/json; charset=utf-8")
        elif isinstance(data, str):
            data = data.encode("utf-8")
        attempt = 0
        while True:
            attempt += 1
            self._trace_request(method, url, params, hdrs, data)
            try:
                self.request_count += 1
                resp = self.session.request(
                    method, url, params=params, data=data, headers=hdrs, timeout=timeout or self.timeout, verify=self.verify
                )
            except requests.exceptions.SSLError as exc:
                raise ConnectionFailed(
                    f"TLS verification failed for {_host(url)}: {redact(str(exc))[:200]}",
                    hint="set AMLWS_CA_BUNDLE to the CA certificate (PEM) of that host",
                ) from None
            except (requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema, requests.exceptions.InvalidURL) as exc:
                from .errors import UsageError

                raise UsageError(f"invalid URL {redact(url)!r}: {redact(str(exc))[:200]}", hint="check the endpoint setting") from None
            except (
                requests.exceptions.ConnectionError,
                requests.exceptions.Timeout,
                requests.exceptions.ChunkedEncodingError,
            ) as exc:
                retryable = idempotent or isinstance(exc, requests.exceptions.ConnectTimeout) or _refused(exc)
                if retryable and attempt <= self.retries and not _past(deadline):
                    wait = self._backoff(attempt)
                    log.info("%s %s: %s; retry %d/%d in %.1fs", method, redact(url), type(exc).__name__, attempt, self.retries, wait)
                    self.sleep(wait)
                    continue
                what = "timed out" if isinstance(exc, requests.exceptions.Timeout) else "cannot connect"
                raise ConnectionFailed(
                    f"{what}: {method} {_host(url)}" + (f" ({error_context})" if error_context else ""),
                    hint="check the URL, your network and proxy settings, then retry",
                ) from None
            self._trace_response(resp)
            status = resp.status_code
            success = status in ok if ok is not None else (200 <= status < 300 or status == 304)
            if success:
                return resp
            if status in RETRY_STATUSES and (idempotent or status == 429) and attempt <= self.retries:
                # 429 means the request was throttled before processing, so even a POST may be resent.
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
                wait = min(retry_after, MAX_RETRY_AFTER) if retry_after is not None else self._backoff(attempt)
                if not _past(deadline, wait):
                    log.info("%s %s: HTTP %d; retry %d/%d in %.1fs", method, redact(url), status, attempt, self.retries, wait)
                    self.sleep(wait)
                    continue
            raise error_from_response(resp, error_context)

    def _backoff(self, attempt: int) -> float:
        base = min(self.max_backoff, self.backoff * (2 ** (attempt - 1)))
        return base / 2 + random.uniform(0, base / 2)

    def _trace_request(self, method: str, url: str, params: Any, headers: dict[str, str], body: bytes | None) -> None:
        if not log.isEnabledFor(logging.DEBUG):
            return
        from urllib.parse import urlencode

        full = url + (("&" if "?" in url else "?") + urlencode(params) if params else "")
        log.debug("> %s %s", method, redact(full))
        for k, v in headers.items():
            log.debug("> %s: %s", k, "***" if k.lower() in ("authorization", "x-ms-metaanalytics-authorizationtoken") else redact(v))
        if body:
            log.debug("> %s", redact(body[:4000].decode("utf-8", "replace")))

    def _trace_response(self, resp: Any) -> None:
        if not log.isEnabledFor(logging.DEBUG):
            return
        log.debug("< %s %s (%d bytes)", resp.status_code, resp.reason, len(resp.content or b""))
        for k in ("Content-Type", "Retry-After", "x-ms-request-id", "Azure-AsyncOperation", "Location"):
            if k in resp.headers:
                log.debug("< %s: %s", k, redact(resp.headers[k]))
        if resp.content:
            log.debug("< %s", redact(resp.content[:4000].decode("utf-8", "replace")))


def _past(deadline: float | None, extra: float = 0.0) -> bool:
    return deadline is not None and time.monotonic() + extra > deadline


def _refused(exc: Exception) -> bool:
    # A refused connection never reached the server, so it is safe to retry any method.
    text = str(exc)
    return "Connection refused" in text or "NewConnectionError" in text


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def parse_error_body(text: str) -> tuple[str | None, str | None, list[dict[str, Any]]]:
    """Parse ``{"error": {"code", "message", "details": [...]}}``; tolerate anything else."""
    try:
        body = json.loads(text)
    except (ValueError, TypeError):
        return None, None, []
    if isinstance(body, dict):
        err = body.get("error") or body.get("Error") or body
        if isinstance(err, dict):
            return error_parts(err)
    return None, None, []


def error_parts(err: dict[str, Any]) -> tuple[str | None, str | None, list[dict[str, Any]]]:
    """``(code, message, details)`` of an error object, its keys in any case (every Azure API's shape)."""
    lowered = {str(k).lower(): v for k, v in err.items()}
    details = lowered.get("details") or []
    if not isinstance(details, list):
        details = []
    code = lowered.get("code")
    message = lowered.get("message")
    return (str(code) if code is not None else None, str(message) if message is not None else None,
            [d for d in details if isinstance(d, dict)])


def error_from_response(resp: Any, context: str | None = None) -> RemoteError:
    """One readable :class:`RemoteError` from an HTTP error response."""
    status = resp.status_code
    code, message, details = parse_error_body(resp.text or "")
    detail_codes = [str(d.get("code") or d.get("Code")) for d in details if d.get("code") or d.get("Code")]
    request_id = resp.headers.get("x-ms-request-id")
    parts = [f"HTTP {status} {resp.reason or ''}".strip()]
    if context:
        parts.append(context)
    if code:
        parts.append(code)
    text = message or (resp.text or "").strip().splitlines()[0:1]
    if isinstance(text, list):
        text = text[0][:300] if text else ""
    if text:
        parts.append(str(text))
    for d in details:
        dcode = d.get("code") or d.get("Code")
        dmsg = d.get("message") or d.get("Message")
        if dcode or dmsg:
            parts.append(f"[{dcode}] {dmsg}" if dcode else str(dmsg))
    if request_id:
        parts.append(f"request id {request_id}")
    return RemoteError(
        redact(": ".join(parts)),
        status=status,
        code=code,
        detail_codes=detail_codes,
        request_id=request_id,
        hint=_hint_for_status(status),
    )


def _hint_for_status(status: int) -> str | None:
    return {
        401: "check the credentials (token or API key) for this service",
        403: "the credentials lack permission for this operation",
        404: "check the target: workspace, service, endpoint or resource ID",
        409: "the resource changed or exists; re-read it and retry",
        429: "the service is throttling: retry later or lower concurrency",
    }.get(status)


__all__ = ["AmlwsError", "HttpClient", "OperationTimeout", "ca_bundle", "error_from_response", "parse_retry_after"]
