"""The azure-core pipeline options every ARM client of amlws uses.

- retries decided by :mod:`amlws.http`'s functions (:func:`~amlws.http.retryable_status`,
  :func:`~amlws.http.retryable_failure`, :func:`~amlws.http.retry_delay`): the same statuses,
  methods, ``Retry-After`` cap, budget and jittered backoff as the ``requests`` clients -- one
  policy, not two engines; a POST the service may have acted on is never re-sent;
- ``User-Agent: amlws/<version>``; TLS verification always on, the CA bundle as ``connection_verify``;
- bearer tokens over plain http only to this machine (a per-call policy, so LRO polls inherit it);
- every response on the wire recorded (:class:`WireLog`: method, redacted URL, status, request id);
- every attempt paced by the subscription's ARM budget and every answer's remaining-budget header
  read (:func:`budget_policy`, :mod:`.budget`).

azure-core is imported only inside the functions (the CLI must start fast).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from .. import http as policy
from ..redact import redact
from .credentials import is_loopback_http


class WireLog:
    """Every response a pipeline saw (retries and polls included), in order, thread-safe:
    ``{"method", "url" (redacted), "status", "requestId"}``. Pass :meth:`record` as the
    pipeline's ``raw_response_hook``."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def record(self, pipeline_response: Any) -> None:
        req = pipeline_response.http_request
        resp = pipeline_response.http_response
        with self._lock:
            self.rows.append({"method": req.method, "url": redact(str(req.url)), "status": resp.status_code,
                              "requestId": resp.headers.get("x-ms-request-id")})

    def since(self, start: int) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.rows[start:])

    def request_id(self, since: int, method: str) -> str | None:
        """``x-ms-request-id`` of the last ``method`` response after index ``since``: the accepted
        initial call of a long-running operation, which is what support asks for."""
        rows = [r for r in self.since(since) if r["method"] == method]
        return rows[-1]["requestId"] if rows else None

    def __len__(self) -> int:
        with self._lock:
            return len(self.rows)


def is_tls_failure(error: BaseException | None) -> bool:
    """Whether an exception (or one it wraps) is a failed TLS certificate check: never retried."""
    import ssl

    seen = 0
    while error is not None and seen < 6:
        if isinstance(error, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(error):
            return True
        error = getattr(error, "inner_exception", None) or error.__cause__ or error.__context__
        seen += 1
    return False


def retry_policy(timeout: float | None = None, *, sleep: Callable[[float], None] | None = None, **kwargs: Any) -> Any:
    """azure-core's ``RetryPolicy`` deciding through :mod:`amlws.http` (see the module docstring).

    :param timeout: the invocation's ``--timeout``: no retry past it.
    :param sleep: injectable wait (tests); default: the transport's sleep.
    :param kwargs: ``retry_*`` overrides (``retry_total`` ...).
    """
    from azure.core.exceptions import ServiceRequestError
    from azure.core.pipeline.policies import RetryPolicy

    class ArmRetryPolicy(RetryPolicy):
        """Counting, history and the absolute timeout are azure-core's; every decision is amlws's."""

        def is_retry(self, settings: Any, response: Any) -> bool:
            if not settings["total"]:
                return False
            return policy.retryable_status(response.http_response.status_code, response.http_request.method)

        def _is_method_retryable(self, settings: Any, request: Any, response: Any = None) -> bool:
            # azure-core asks this before a retry after a failure without an answer; the decision
            # (which needs the error: was the request sent?) is made in increment().
            return True

        def increment(self, settings: Any, response: Any = None, error: Any = None) -> bool:
            if error is not None:
                if is_tls_failure(error):
                    return False
                method = response.http_request.method if response is not None else "GET"
                if not policy.retryable_failure(method, sent=not isinstance(error, ServiceRequestError)):
                    return False
            return bool(super().increment(settings, response=response, error=error))

        def sleep(self, settings: Any, transport: Any, response: Any = None) -> None:
            retry_after = response.http_response.headers.get("Retry-After") if response is not None else None
            wait = policy.retry_delay(len(settings["history"]), retry_after,
                                      backoff=settings["backoff"], max_backoff=settings["max_backoff"])
            (sleep if sleep is not None else transport.sleep)(wait)

        def get_backoff_time(self, settings: Any) -> float:
            return policy.backoff_delay(len(settings["history"]), backoff=settings["backoff"],
                                        max_backoff=settings["max_backoff"])

        def get_retry_after(self, response: Any) -> Any:
            value = response.http_response.headers.get("Retry-After")
            seconds = policy.parse_retry_after(value)
            return None if seconds is None else min(seconds, policy.MAX_RETRY_AFTER)

    options: dict[str, Any] = {
        "retry_total": policy.DEFAULT_RETRIES,
        "retry_status": policy.DEFAULT_RETRIES,
        "retry_connect": policy.DEFAULT_RETRIES,
        "retry_read": policy.DEFAULT_RETRIES,
        "retry_backoff_factor": policy.DEFAULT_BACKOFF,
        "retry_backoff_max": policy.MAX_BACKOFF,
    }
    if timeout:
        options["timeout"] = timeout
    options.update(kwargs)
    retry = ArmRetryPolicy(**options)
    retry._retry_on_status_codes = set(policy.RETRY_STATUSES)  # for readers of the policy; is_retry decides
    return retry


def allow_loopback_http_policy() -> Any:
    """azure-core refuses bearer tokens over http; this per-call policy lifts that for loopback only.

    It runs before the authentication policy on every request of the pipeline, LRO polls included
    (a per-operation ``enforce_https=False`` is not inherited by polls).
    """
    from azure.core.pipeline.policies import SansIOHTTPPolicy

    class AllowLoopbackHttp(SansIOHTTPPolicy):
        def on_request(self, request: Any) -> None:
            if is_loopback_http(request.http_request.url):
                request.context["enforce_https"] = False

    return AllowLoopbackHttp()


def budget_policy(settings: Any) -> Any:
    """A per-retry policy (each attempt draws a token): before sending, wait for the subscription's
    ARM budget (:meth:`.budget.ArmBudget.acquire`); on the answer, read the remaining-budget header
    of the request's kind and a 429's ``Retry-After`` (:meth:`.budget.ArmBudget.observe`). The budget
    is ``settings.arm_budget`` (``fleet run``), else the process's counting-only one."""
    from azure.core.pipeline.policies import SansIOHTTPPolicy

    from .budget import HEADER, bucket_key, budget_for, kind_of

    budget = budget_for(settings)

    class ArmBudgetPolicy(SansIOHTTPPolicy):
        def on_request(self, request: Any) -> None:
            http_request = request.http_request
            key = bucket_key(str(http_request.url))
            if key is None:
                request.context.pop("amlws_budget", None)
                return
            kind = kind_of(http_request.method)
            request.context["amlws_budget"] = (key, kind, budget.acquire(key, kind))

        def on_response(self, request: Any, response: Any) -> None:
            drawn = request.context.get("amlws_budget")
            if not drawn:
                return
            key, kind, seq = drawn
            resp = response.http_response
            retry_after = None
            if resp.status_code == 429:
                seconds = policy.parse_retry_after(resp.headers.get("Retry-After"))
                retry_after = None if seconds is None else min(seconds, policy.MAX_RETRY_AFTER)
            budget.observe(key, kind, seq, resp.headers.get(HEADER.format(kind=kind)), resp.status_code, retry_after)

    return ArmBudgetPolicy()


def client_options(settings: Any, endpoint: str, *, wire: WireLog | None = None, poll_interval: float | None = None,
                   sleep: Callable[[float], None] | None = None) -> dict[str, Any]:
    """Keyword arguments for an azure-core/azure-mgmt client (``ResourceManagementClient(cred, sub,
    **client_options(...))``): base URL, ARM token scope of the cloud, CA bundle, retry policy with
    the ``--timeout`` deadline, user agent, wire recording, loopback-http allowance."""
    from .. import __version__ as amlws_version
    from ..http import ca_bundle
    from .credentials import arm_scope

    kwargs: dict[str, Any] = {
        "base_url": endpoint,
        "credential_scopes": [arm_scope(settings)],
        "connection_verify": ca_bundle(settings),
        "retry_policy": retry_policy(timeout=settings.timeout(), sleep=sleep),
        "user_agent": f"amlws/{amlws_version}",
        "per_retry_policies": [budget_policy(settings)],
    }
    if poll_interval is not None:
        kwargs["polling_interval"] = poll_interval
    if wire is not None:
        kwargs["raw_response_hook"] = wire.record
    if is_loopback_http(endpoint):
        kwargs["per_call_policies"] = [allow_loopback_http_policy()]
    return kwargs


def monotonic_deadline(timeout: float | None) -> float | None:
    """``time.monotonic()`` value ``timeout`` seconds from now (``None``: no deadline)."""
    return time.monotonic() + timeout if timeout else None


__all__ = ["WireLog", "allow_loopback_http_policy", "budget_policy", "client_options", "is_tls_failure", "retry_policy"]
