"""The one parser of storage connection strings (``DefaultEndpointsProtocol=https;AccountName=...;
AccountKey=...``): amlws's settings, a job configuration's ``ConnectionString``, and the emulator
(which reads what a client sent, leniently) all split them here. No azure SDK is imported."""

from __future__ import annotations

from collections.abc import Iterator

from ..errors import UsageError
from ..redact import register_secret

CONNECTION_STRING_HINT = (
    "set AMLWS_STORAGE_CONNECTION_STRING, or run: amlws config set storage_connection_string "
    "(DefaultEndpointsProtocol=https;AccountName=...;AccountKey=...)"
)


def _items(cs: str) -> Iterator[tuple[str, bool, str]]:
    """``(key, has '=', value)`` for each ``;``-separated item (values may contain ``=``)."""
    for item in cs.strip().rstrip(";").split(";"):
        if item.strip():
            key, sep, value = item.partition("=")
            yield key.strip(), bool(sep), value.strip()


def split_connection_string(cs: str) -> dict[str, str]:
    """``Key=Value;...`` as a dict with the keys as written; items without ``=`` are skipped and
    nothing is required (what a service does with what it is sent: the emulator)."""
    return {key: value for key, sep, value in _items(cs) if sep}


def parse_connection_string(cs: str) -> dict[str, str]:
    """``Key=Value;...`` as a dict with the keys as written, its secrets registered for redaction.

    :raises UsageError: an item without ``=``, or neither AccountName + AccountKey nor a SharedAccessSignature.
    """
    register_secret(cs)
    parts: dict[str, str] = {}
    for key, sep, value in _items(cs):
        if not sep:
            raise UsageError("the storage connection string is malformed", hint=CONNECTION_STRING_HINT)
        parts[key] = value
    lowered = {k.lower(): v for k, v in parts.items()}
    if "accountkey" in lowered:
        register_secret(lowered["accountkey"])
    if "sharedaccesssignature" in lowered:
        register_secret(lowered["sharedaccesssignature"])
    if not ({"accountname", "accountkey"} <= lowered.keys() or "sharedaccesssignature" in lowered):
        raise UsageError("the storage connection string has no AccountName/AccountKey or SharedAccessSignature", hint=CONNECTION_STRING_HINT)
    return parts


__all__ = ["CONNECTION_STRING_HINT", "parse_connection_string", "split_connection_string"]
