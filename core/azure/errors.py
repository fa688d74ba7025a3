"""One ARM error mapping: azure-core exceptions and ARM error bodies -> :mod:`amlws.errors`.

- an HTTP error answer -> :func:`amlws.errors.remote_error`: 404 a ``RemoteNotFoundError`` (a
  :class:`~amlws.errors.NotFoundError`, exit 3), 401/403 a ``RemoteAuthError`` (exit 4), else a
  :class:`~amlws.errors.RemoteError` (exit code by status), with the ARM ``code``, ``message``,
  ``details`` verbatim and the *initial* ``x-ms-request-id``;
- a long-running operation that ended Failed/Canceled -> :class:`~amlws.errors.OperationFailed`
  (exit 1) with the operation's ``error`` (or ``errorInfo``) code and message;
- no token -> :class:`~amlws.errors.AuthError`; no connection or a TLS failure ->
  :class:`~amlws.errors.ConnectionFailed`.

Hints come from ONE table (:data:`STATUS_HINTS`, worded with the backend's noun) plus the
specific error codes a backend knows (:class:`Hints`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import AmlwsError, AuthError, ConnectionFailed, OperationFailed, RemoteError, remote_error
from ..http import error_parts
from ..redact import redact

#: status -> hint, ``{noun}`` = what the backend manages ("web service", "online deployment").
STATUS_HINTS: dict[int, str] = {
    400: "the service rejected the definition; check it with amlws import",
    401: "check the ARM credentials (az login, AMLWS_ARM_TOKEN, service principal)",
    403: "the credentials lack permission on this {noun} (needs Contributor or similar)",
    404: "check the subscription, resource group and {noun} name",
    409: "the {noun} changed or is busy; re-read it and retry",
    429: "ARM is throttling: retry later",
}
OPERATION_FAILED_HINT = "see the error above; the service kept its previous definition"
ARM_TOKEN_HINT = "sign in (az login), set AMLWS_ARM_TOKEN, or configure a service principal (amlws config set credential ...)"


@dataclass(frozen=True)
class Hints:
    """How a backend words the hints of :data:`STATUS_HINTS` and which error codes it knows.

    :param noun: what the backend manages, for ``{noun}`` in the table.
    :param codes: lower-cased ARM error code (or detail code) -> hint; wins over the status hint.
    :param statuses: status -> hint, for the few a backend says better (``404``: name its list command).
    """

    noun: str = "resource"
    codes: Mapping[str, str] = field(default_factory=dict)
    statuses: Mapping[int, str] = field(default_factory=dict)

    def hint_for(self, code: str | None, detail_codes: list[str], status: int | None) -> str | None:
        codes = {c.lower() for c in detail_codes if c} | ({code.lower()} if code else set())
        for known, hint in self.codes.items():
            if known.lower() in codes:
                return hint
        text = self.statuses.get(status or 0) or STATUS_HINTS.get(status or 0)
        return text.format(noun=self.noun) if text else None


DEFAULT_HINTS = Hints()


def safe_json(resp: Any) -> Any:
    """The JSON body of an azure-core response, ``None`` when it has none or it is not JSON."""
    try:
        return json.loads(resp.text() or "null")
    except (ValueError, TypeError):
        return None


def describe(head: str, code: str | None, message: str | None, details: list[dict[str, Any]], request_id: str | None) -> str:
    """``head: CODE: message [DetailCode] detail message (request id X)`` with the service's text verbatim."""
    text = ": ".join(p for p in (head, code, message) if p)
    for d in details:
        dl = {str(k).lower(): v for k, v in d.items()}
        if dl.get("code") or dl.get("message"):
            text += f" [{dl.get('code')}] {dl.get('message') or ''}".rstrip() if dl.get("code") else f" {dl.get('message')}"
    if request_id:
        text += f" (request id {request_id})"
    return redact(text)


def error_from_response(resp: Any, what: str, resource: str, initial_request_id: str | None = None,
                        hints: Hints = DEFAULT_HINTS) -> RemoteError:
    """The amlws error for an ARM error answer (``resp``: an azure-core ``HttpResponse``)."""
    status = resp.status_code
    body = safe_json(resp)
    err = e if isinstance(body, dict) and isinstance(e := body.get("error"), dict) else (body if isinstance(body, dict) else {})
    code, message, details = error_parts(err)
    if not message and not code:
        text = (resp.text() or "").strip()
        message = text.splitlines()[0][:300] if text else None
    detail_codes = [str(d.get("code") or d.get("Code")) for d in details if d.get("code") or d.get("Code")]
    request_id = initial_request_id or resp.headers.get("x-ms-request-id")
    reason = getattr(resp, "reason", None) or ""
    text = describe(f"HTTP {status} {reason}".strip() + f" ({what})", code, message, details, request_id)
    if status == 404:
        text = f"{resource}: {text}"
    return remote_error(text, status=status, code=code, detail_codes=detail_codes, request_id=request_id,
                        hint=hints.hint_for(code, detail_codes, status))


def operation_failed(body: Any, what: str, resource: str, initial_request_id: str | None = None,
                     hints: Hints = DEFAULT_HINTS) -> OperationFailed:
    """The error for a long-running operation that ended Failed/Canceled; ``body`` is its status
    resource (``{"status": "Failed", "error": {"code", "message"}}``) or the resource itself."""
    body = body if isinstance(body, dict) else {}
    lowered = {str(k).lower(): v for k, v in body.items()}
    err = lowered.get("error") or lowered.get("errorinfo") or {}
    if not err and isinstance(lowered.get("properties"), dict):  # provisioningState polling: the resource itself
        props = {str(k).lower(): v for k, v in lowered["properties"].items()}
        err = props.get("error") or props.get("errorinfo") or {}
        lowered.setdefault("provisioningstate", props.get("provisioningstate"))
    code, message, details = error_parts(err if isinstance(err, dict) else {})
    status = lowered.get("status") or lowered.get("provisioningstate") or "Failed"
    text = describe(f"the operation to {what} ended {status}", code, message, details, initial_request_id)
    detail_codes = [str(d.get("code")) for d in details if d.get("code")]
    exc = OperationFailed(
        text,
        hint=(hints.hint_for(code, detail_codes, None) if code or detail_codes else None) or OPERATION_FAILED_HINT,
        code=code,
        detail_codes=detail_codes,
        request_id=initial_request_id,
    )
    exc.code = code  # type: ignore[attr-defined]
    exc.request_id = initial_request_id  # type: ignore[attr-defined]
    return exc


class mapped:
    """A context manager turning azure-core exceptions into amlws errors (amlws errors pass through).

    :param what: what the call does (``get the web service``), for the message.
    :param resource: the resource id, named in a not-found message.
    :param endpoint: the ARM endpoint, named in a connection failure.
    :param initial_request_id: for a long-running operation, a callable giving the initial call's
        ``x-ms-request-id`` (:meth:`amlws.azure.pipeline.WireLog.request_id`); an error answer with
        a status below 400 is then the operation's failure.
    """

    def __init__(self, what: str, resource: str, endpoint: str, *, hints: Hints = DEFAULT_HINTS,
                 initial_request_id: Callable[[], str | None] | None = None) -> None:
        self.what = what
        self.resource = resource
        self.endpoint = endpoint
        self.hints = hints
        self.initial_request_id = initial_request_id

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Literal[False]:
        if exc is None or isinstance(exc, AmlwsError):
            return False
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ServiceRequestError,
            ServiceResponseError,
        )

        lro = self.initial_request_id is not None
        initial = self.initial_request_id() if self.initial_request_id is not None else None
        if isinstance(exc, HttpResponseError) and exc.response is not None:
            resp = exc.response
            if lro and resp.status_code is not None and resp.status_code < 400:
                raise operation_failed(safe_json(resp), self.what, self.resource, initial, self.hints) from None
            raise error_from_response(resp, self.what, self.resource, initial, self.hints) from None
        if isinstance(exc, ClientAuthenticationError):
            raise AuthError(
                f"cannot get an ARM token: {redact(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)}",
                hint=ARM_TOKEN_HINT,
            ) from None
        if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
            text = str(exc)
            if "CERTIFICATE_VERIFY_FAILED" in text or "SSL" in text:
                raise ConnectionFailed(
                    f"TLS verification failed for {self.endpoint}", hint="set AMLWS_CA_BUNDLE to the CA certificate (PEM) of that host"
                ) from None
            raise ConnectionFailed(
                f"cannot reach {self.endpoint} to {self.what}: {redact(text)[:200]}",
                hint="check AMLWS_ARM_ENDPOINT / --cloud, your network and proxy settings",
            ) from None
        return False


__all__ = ["DEFAULT_HINTS", "STATUS_HINTS", "Hints", "describe", "error_from_response", "mapped", "operation_failed", "safe_json"]
