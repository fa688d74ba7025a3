"""One long-running-operation poller for ARM: azure-core's ``LROPoller`` with ``ARMPolling``.

It follows what ARM services answer:

- ``Azure-AsyncOperation`` status resources: ``status`` (or, as some specs name it,
  ``provisioningState``) InProgress/... until Succeeded, Failed or Canceled; a failure carries
  ``error`` (or ``errorInfo``) with the service's code and message;
- ``Location`` polling: 202 while running, then the final answer;
- ``properties.provisioningState`` in the body of a PUT/PATCH answer without status headers;
- a **204** answer is final (even with a status header, which the .NET clients never poll);
- the first poll at once (azure-core's order), then each answer's ``Retry-After`` (capped as
  :mod:`amlws.http` caps it), else ``poll_interval``, between polls;
- every state reported to the invocation's progress reporter (``update svc: Updating (4s)``);
- an overall deadline (``--timeout``): polling stops with :class:`~amlws.errors.OperationTimeout`
  and leaves no thread polling behind.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from .. import http as policy
from ..errors import ConfigError, OperationTimeout
from ..progress import current as current_reporter

DEFAULT_POLL_INTERVAL = 1.0
TIMEOUT_HINT = "raise --timeout, or check the service in the portal"
TERMINAL_OK = frozenset({"succeeded"})
TERMINAL_FAILED = frozenset({"failed", "canceled", "cancelled"})


def poll_interval(settings: Any) -> float:
    """Seconds between polls without ``Retry-After``: ``poll_interval`` (AMLWS_POLL_INTERVAL), default 1
    (not the SDK's 30)."""
    value = settings.get("poll_interval")
    if value is None:
        return DEFAULT_POLL_INTERVAL
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        raise ConfigError(f"invalid poll_interval {value!r}", hint="give a number of seconds") from None


def status_of(body: Any) -> str:
    """The state in an operation-status body, lower-cased: ``status`` (what services send) or
    ``provisioningState`` (the 2017 spec's ``AsyncOperationStatus``)."""
    if not isinstance(body, dict):
        return ""
    return str(body.get("status") or body.get("provisioningState") or "").lower()


def state_of(body: Any) -> str:
    """The state in an operation-status body as the service wrote it (for progress display)."""
    return str(body.get("status") or body.get("provisioningState") or "InProgress") if isinstance(body, dict) else "InProgress"


def progress(what: str, resource_id: str) -> Callable[[str], None]:
    """A callback for each state of an operation: reported, with the seconds since now, to the
    invocation's progress reporter (``update MyService: Updating (4s)`` on stderr)."""
    reporter, started, subject = current_reporter(), time.monotonic(), f"{what} {resource_id.rstrip('/').rsplit('/', 1)[-1]}"
    return lambda state: reporter.update(subject, state or "InProgress", time.monotonic() - started)


def arm_polling(interval: float, on_status: Callable[[str], None] = lambda state: None, *, timeout: float | None = None,
                what: str = "operation", initial_state: str | None = None,
                sleep: Callable[[float], None] | None = None) -> Any:
    """The ``ARMPolling`` method for ``begin_*`` calls and :func:`poll`.

    :param interval: seconds between polls when the service sends no ``Retry-After``.
    :param on_status: gets the state after the initial answer and after every poll (poller thread).
    :param timeout: overall seconds from the initial answer; past it, :class:`OperationTimeout`.
    :param what: what the operation does, for the timeout message (``update the web service``).
    :param initial_state: the state reported for the initial answer instead of the poller's own.
    :param sleep: injectable wait (tests); default: the transport's.
    """
    from azure.core.polling.base_polling import LocationPolling, StatusCheckPolling
    from azure.mgmt.core.polling.arm_polling import ARMPolling, AzureAsyncOperationPolling, BodyContentPolling

    class AsyncOperationPolling(AzureAsyncOperationPolling):
        def set_initial_status(self, pipeline_response: Any) -> str:
            status = super().set_initial_status(pipeline_response)  # records the request and status URL
            return "Succeeded" if pipeline_response.http_response.status_code == 204 else status

        def get_status(self, pipeline_response: Any) -> str:
            try:
                body = json.loads(pipeline_response.http_response.text() or "null")
            except ValueError:
                body = None
            if isinstance(body, dict) and not body.get("status") and body.get("provisioningState"):
                return str(body["provisioningState"])
            return super().get_status(pipeline_response)

    class AmlwsPolling(ARMPolling):
        deadline: float | None = None

        def initialize(self, *args: Any, **kwargs: Any) -> None:
            super().initialize(*args, **kwargs)
            self.deadline = time.monotonic() + timeout if timeout else None
            on_status(initial_state or self.status())

        def update_status(self) -> None:
            super().update_status()
            on_status(self.status())

        def _sleep(self, delay: float) -> None:
            # azure-core's one waiting point between polls: cap Retry-After as amlws caps it, and
            # stop before a wait that would end past the deadline (the thread then ends: no polls left).
            delay = min(delay, policy.MAX_RETRY_AFTER)
            if self.deadline is not None and time.monotonic() + delay > self.deadline:
                raise OperationTimeout(f"the operation to {what} did not finish within {timeout:g} s (status {self.status()})",
                                       hint=TIMEOUT_HINT)
            if sleep is not None:
                sleep(delay)
            else:
                super()._sleep(delay)

    return AmlwsPolling(interval, lro_algorithms=[AsyncOperationPolling(), LocationPolling(), BodyContentPolling(), StatusCheckPolling()])


def wait(poller: Any, timeout: float | None, what: str) -> Any:
    """The poller's result; :class:`OperationTimeout` when it is not done within ``timeout`` (the
    polling method stops itself at the deadline; the grace covers one slow last poll)."""
    result = poller.result(timeout=timeout + 30.0 if timeout else None)
    if not poller.done():
        raise OperationTimeout(f"the operation to {what} did not finish within {timeout:g} s (status {poller.status()})",
                               hint=TIMEOUT_HINT)
    return result


def poll(pipeline_client: Any, initial: Any, polling_method: Any, deserialize: Callable[[Any], Any]) -> Any:
    """An ``LROPoller`` over an initial answer sent by hand (a POST action through ``send_request``),
    polled by ``polling_method`` (:func:`arm_polling`); ``deserialize`` gets the final pipeline response."""
    from azure.core.polling import LROPoller

    return LROPoller(pipeline_client, initial, deserialize, polling_method)


__all__ = ["DEFAULT_POLL_INTERVAL", "arm_polling", "poll", "poll_interval", "progress", "state_of", "status_of", "wait"]
