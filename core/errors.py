"""One exception hierarchy for amlws, mapped to documented exit codes.

Every expected failure is an :class:`AmlwsError`. The CLI's single error boundary
prints ``error: <message>`` (plus ``fix: <hint>`` when there is one) and exits with
the error's :attr:`exit_code`. The numbers are part of the public interface.
"""

from __future__ import annotations

import enum
from typing import Any


class ExitCode(enum.IntEnum):
    """Process exit codes. Scripts depend on these numbers: never renumber."""

    SUCCESS = 0
    #: The operation failed (remote error, failed long-running operation, BES job failed).
    FAILED = 1
    #: Bad usage or bad input (unknown option, malformed JSON, invalid definition).
    USAGE = 2
    #: The target (service, endpoint, job, asset, file) does not exist.
    NOT_FOUND = 3
    #: Authentication or authorization failed, or credentials are missing.
    AUTH = 4
    #: A metric gate failed, or a conflict (concurrent change, existing resource).
    CONFLICT = 5
    #: Interrupted by the user (Ctrl-C).
    INTERRUPTED = 130


class AmlwsError(Exception):
    """Base of every expected amlws error.

    :param message: one line saying what went wrong.
    :param hint: one line saying how to fix it (optional).
    """

    exit_code: ExitCode = ExitCode.FAILED
    #: Short machine-readable error kind, stable for scripts (``-o json`` errors).
    kind: str = "failed"

    def __init__(self, message: str, *, hint: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"error": self.kind, "message": self.message, "exitCode": int(self.exit_code)}
        if self.hint:
            data["hint"] = self.hint
        return data


class UsageError(AmlwsError):
    """Bad command-line usage or bad input (malformed JSON, invalid definition)."""

    exit_code = ExitCode.USAGE
    kind = "usage"


class ConfigError(UsageError):
    """The configuration file or an ``AMLWS_*`` variable is invalid."""

    kind = "config"


class NotFoundError(AmlwsError):
    exit_code = ExitCode.NOT_FOUND
    kind = "not_found"


class AuthError(AmlwsError):
    """Missing, invalid or insufficient credentials."""

    exit_code = ExitCode.AUTH
    kind = "auth"


class ConflictError(AmlwsError):
    """The remote state conflicts with the request (changed since export, exists)."""

    exit_code = ExitCode.CONFLICT
    kind = "conflict"


class GateFailedError(AmlwsError):
    """A metric gate rejected a newly trained model."""

    exit_code = ExitCode.CONFLICT
    kind = "gate_failed"


class VetoError(ConflictError):
    """An observer plugin vetoed a remote change."""

    kind = "vetoed"


class OperationTimeout(AmlwsError):
    kind = "timeout"


class OperationFailed(AmlwsError):
    """A remote operation ran and reported failure (LRO Failed, BES Failed/Cancelled)."""

    kind = "operation_failed"


class PluginError(AmlwsError):
    """A plugin misbehaved (wrong return type, missing hook, ambiguous claim)."""

    kind = "plugin"


class NoBackendError(UsageError):
    kind = "no_backend"


class AmbiguousTargetError(UsageError):
    kind = "ambiguous_target"


class RemoteError(AmlwsError):
    """An HTTP error from a service, mapped to an exit code by status.

    :param status: HTTP status code (``None`` for connection failures).
    :param code: the service's error code (``error.code``), if any.
    :param detail_codes: ``error.details[].code`` values, most specific last.
    :param request_id: ``x-ms-request-id`` of the (initial) request, if known.
    """

    kind = "remote"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        detail_codes: list[str] | None = None,
        request_id: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.code = code
        self.detail_codes = detail_codes or []
        self.request_id = request_id
        self.exit_code = exit_code_for_status(status)

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data.update(
            {"status": self.status, "code": self.code, "detailCodes": self.detail_codes, "requestId": self.request_id}
        )
        return data


class ConnectionFailed(RemoteError):
    kind = "connection"


class RemoteNotFoundError(RemoteError, NotFoundError):
    """A service answered 404: a :class:`NotFoundError` (exit 3, kind ``not_found``) that also
    carries the HTTP details of a :class:`RemoteError`, so ``except NotFoundError`` and
    ``except RemoteError`` (``exc.status == 404``) both catch it. The one way to say "not found"."""

    kind = "not_found"


class RemoteAuthError(RemoteError, AuthError):
    """A service answered 401 or 403: an :class:`AuthError` (exit 4) with the HTTP details."""

    kind = "auth"


def remote_error(message: str, *, status: int | None, code: str | None = None, detail_codes: list[str] | None = None,
                 request_id: str | None = None, hint: str | None = None) -> RemoteError:
    """The :class:`RemoteError` for an HTTP answer: 404 is a :class:`RemoteNotFoundError`, 401/403 a
    :class:`RemoteAuthError`, anything else a plain :class:`RemoteError` (exit code by status)."""
    cls = RemoteNotFoundError if status == 404 else RemoteAuthError if status in (401, 403) else RemoteError
    return cls(message, status=status, code=code, detail_codes=detail_codes, request_id=request_id, hint=hint)


def exit_code_for_status(status: int | None) -> ExitCode:
    if status in (401, 403):
        return ExitCode.AUTH
    if status == 404:
        return ExitCode.NOT_FOUND
    if status in (409, 412):
        return ExitCode.CONFLICT
    if status == 400:
        return ExitCode.USAGE
    return ExitCode.FAILED
