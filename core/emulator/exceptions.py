"""HTTP errors raised by the emulated services (moto's ``exceptions.py``)."""

from __future__ import annotations

from typing import Any


class EmulatorHTTPError(Exception):
    """An HTTP error answer: status, JSON body (or ``None``) and extra headers."""

    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}


class ConfigurationError(ValueError):
    """The emulator was started with configuration it cannot use (a malformed storage connection
    string, an unknown setting): refused at start, not discovered at the first job or score."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


def arm_error(status: int, code: str, message: str, details: list[dict[str, str]] | None = None,
              headers: dict[str, str] | None = None) -> EmulatorHTTPError:
    """An ARM-style error ``{"error": {"code", "message"[, "details"]}}``: no ``target`` key, as the
    recorded 404 of the real service (TestCreateAndGetRegionalProperties) shows."""
    err: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        err["details"] = details
    return EmulatorHTTPError(status, {"error": err}, headers)


def arm_bad_request(detail_code: str, detail_message: str) -> EmulatorHTTPError:
    """The RP's 400: ``BadRequest`` / "The request is invalid." with one specific detail (§5)."""
    return arm_error(400, "BadRequest", "The request is invalid.", [{"code": detail_code, "message": detail_message}])


#: top-level code for each status in the Studio error catalogue (classic REFERENCE §3.11).
_CLASSIC_TOP = {400: ("BadArgument", "Invalid argument provided."), 401: ("Unauthorized", "Unauthorized"),
                404: ("NotFound", "Resource not found."), 409: ("Conflict", "Conflict."),
                429: ("TooManyRequests", "Too many requests."), 500: ("InternalError", "The server encountered an internal error."),
                503: ("ServiceUnavailable", "Service is temporarily unavailable."), 504: ("GatewayTimeout", "The request timed out.")}


def classic_error(status: int, detail_code: str, detail_message: str, headers: dict[str, str] | None = None) -> EmulatorHTTPError:
    """A classic (management/BES/RRS) error: ``{"error": {"code", "message", "details": [{"code", "message"}]}}``."""
    code, message = _CLASSIC_TOP.get(status, ("Error", "Error."))
    body = {"error": {"code": code, "message": message, "details": [{"code": detail_code, "message": detail_message}]}}
    return EmulatorHTTPError(status, body, headers)
