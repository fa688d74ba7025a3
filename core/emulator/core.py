"""Request/response types shared by the emulated APIs, and small helpers (ids, times, keys)."""

from __future__ import annotations

import base64
import datetime as _dt
import json
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .exceptions import EmulatorHTTPError


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    base_url: str
    params: dict[str, str] = field(default_factory=dict)
    api: str = ""
    operation: str = ""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def bearer(self) -> str | None:
        auth = self.header("authorization") or ""
        scheme, _, token = auth.partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None

    def json(self, on_error: Callable[[str], EmulatorHTTPError], *, required: bool = True) -> Any:
        if not self.body.strip():
            if required:
                raise on_error("The request body is empty.")
            return None
        try:
            return json.loads(self.body.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise on_error(f"The request content is not valid JSON: {exc}") from None


@dataclass
class Response:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        if self.body is None or self.status in (204, 304):
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str) and self.headers.get("Content-Type", "").startswith("text/"):
            return self.body.encode("utf-8")
        return json.dumps(self.body).encode("utf-8")


#: returned by a handler to drop the connection without answering (fault injection).
DROP = object()


def now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def iso(t: _dt.datetime | None = None) -> str:
    """ARM-style timestamp with 7 fractional digits, e.g. ``2017-04-12T00:39:24.8184359Z``."""
    t = t or now()
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}0Z"


def hex_id() -> str:
    return uuid.uuid4().hex


def new_key() -> str:
    return base64.b64encode(secrets.token_bytes(64)).decode("ascii")


def norm_location(location: str) -> str:
    """``"South Central US"`` -> ``"southcentralus"`` (the operationsStatus URL form)."""
    return "".join((location or "").split()).lower()
