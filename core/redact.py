"""Secret redaction for logs, errors, traces and history files.

Two layers: patterns that recognise secrets by shape (SAS ``sig=``, bearer tokens,
``AccountKey=``, JSON fields named like keys) and a registry of concrete secret
values seen at run time (API keys, tokens), scrubbed wherever they appear.
"""

from __future__ import annotations

import bisect
import re
import threading
from typing import Any

MASK = "***"

_SECRET_VALUES: set[str] = set()
_lock = threading.Lock()

# JSON/dict keys whose values are secrets (compared case-insensitively).
SECRET_KEYS = frozenset(
    k.lower()
    for k in (
        "PrimaryKey",
        "SecondaryKey",
        "primary",
        "secondary",
        "key",
        "apiKey",
        "api_key",
        "AuthorizationToken",
        "authorization_token",
        "workspace_token",
        "token",
        "access_token",
        "refresh_token",
        "client_secret",
        "password",
        "AccountKey",
        "SasBlobToken",
        "ConnectionString",
        "connection_string",
        "storage_connection_string",
        "sas",
        "sas_token",
        "arm_token",
    )
)

# A secret value in a connection string or query ends at ';', '&' (SAS), whitespace, a quote or ')':
# base64 and percent-encoding never contain ')', so the ')' closing a hint ("(fix: ...AccountKey=...)")
# or a parenthesised remark stays.
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # SAS signature in URLs and query strings.
    (re.compile(r"(?i)(\bsig=)[^&\s\"';)]+"), r"\1" + MASK),
    # Authorization headers and bearer tokens.
    (re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9\-._~+/=]+"), r"\1" + MASK),
    # Storage connection strings.
    (re.compile(r"(?i)(AccountKey=)[^;\s\"')]+"), r"\1" + MASK),
    (re.compile(r"(?i)(SharedAccessSignature=)[^;\s\"')]+"), r"\1" + MASK),
    # JSON "SecretName": "value" pairs.
    (
        re.compile(
            r'(?i)("(?:PrimaryKey|SecondaryKey|primary|secondary|AuthorizationToken|apiKey|access_token|'
            r'refresh_token|client_secret|password|key|SasBlobToken|AccountKey)"\s*:\s*")[^"]*(")'
        ),
        r"\1" + MASK + r"\2",
    ),
    # The same keys in Python reprs ('PrimaryKey': 'value'), as in exception messages.
    (
        re.compile(
            r"(?i)('(?:PrimaryKey|SecondaryKey|primary|secondary|AuthorizationToken|apiKey|api_key|access_token|"
            r"refresh_token|client_secret|password|key|SasBlobToken|AccountKey|workspace_token|arm_token)'\s*:\s*')[^']*(')"
        ),
        r"\1" + MASK + r"\2",
    ),
    # x-ms-metaanalytics-authorizationtoken: <token>
    (re.compile(r"(?i)(authorizationtoken['\"]?\s*[:=]\s*['\"]?)[A-Za-z0-9\-._~+/=]{6,}"), r"\1" + MASK),
]


# Every pattern above needs one of these words (case-insensitively) in the text: checking for
# them first skips the seven substitutions for the vast majority of strings, e.g. the values
# of a 50 MB definition being exported (bench/bench_large.py).
_TRIGGERS = ("sig=", "bearer", "key", "token", "primary", "secondary", "secret", "password", "sharedaccesssignature")
_MIN_SECRET = 6
_SORTED_VALUES: list[str] = []  # longest first (copied on write: readers take no lock)
# Secrets by their first _MIN_SECRET characters, longest first: a fleet registers thousands (every
# endpoint's keys, every SAS a BES job returns), and a substring search per secret per string
# would make each redaction cost grow with the number of rows already done.
_BY_PREFIX: dict[str, list[str]] = {}


def register_secret(value: str | None) -> None:
    """Remember a concrete secret so that :func:`redact` scrubs it everywhere."""
    global _SORTED_VALUES
    if value and len(value) >= _MIN_SECRET:
        with _lock:
            if value not in _SECRET_VALUES:
                _SECRET_VALUES.add(value)
                values = list(_SORTED_VALUES)
                bisect.insort(values, value, key=lambda v: -len(v))
                _SORTED_VALUES = values
                same = list(_BY_PREFIX.get(value[:_MIN_SECRET], ()))
                bisect.insort(same, value, key=lambda v: -len(v))
                _BY_PREFIX[value[:_MIN_SECRET]] = same


def _mask_known(text: str) -> str:
    values = _SORTED_VALUES
    n = len(text)
    # A substring search per secret costs about 50 ns + 0.25 ns per character; a scan of the
    # text's positions against the prefix index about 120 ns per character: take the cheaper.
    if len(values) * (50 + n // 4) <= 120 * n:
        for value in values:
            if value in text:
                text = text.replace(value, MASK)
        return text
    index = _BY_PREFIX
    parts: list[str] = []
    last = i = 0
    end = n - _MIN_SECRET
    while i <= end:
        candidates = index.get(text[i:i + _MIN_SECRET])
        if candidates:
            for value in candidates:
                if text.startswith(value, i):
                    parts += (text[last:i], MASK)
                    i = last = i + len(value)
                    break
            else:
                i += 1
        else:
            i += 1
    if not parts:
        return text
    parts.append(text[last:])
    return "".join(parts)


def redact(text: str) -> str:
    """Return ``text`` with every known secret and secret-shaped value masked."""
    if not text:
        return text
    if _SORTED_VALUES and len(text) >= _MIN_SECRET:
        text = _mask_known(text)
    lowered = text.lower()
    if not any(t in lowered for t in _TRIGGERS):
        return text
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def redact_obj(obj: Any, *, in_place: bool = False) -> Any:
    """Deep-copy a JSON-like value with secret fields masked (for what-if, history).

    :param in_place: mask inside ``obj`` itself and return it (for a document just built, such
        as an export, that nobody else holds: a large one is not copied a second time).
    """
    if isinstance(obj, dict):
        out = obj if in_place else {}
        for k, v in obj.items():
            if isinstance(k, str) and k.lower() in SECRET_KEYS and isinstance(v, str) and v:
                out[k] = MASK if k.lower() != "sasblobtoken" else redact_sas(v)
            elif in_place and not isinstance(v, (dict, list, str)):
                continue
            else:
                out[k] = redact_obj(v, in_place=in_place)
        return out
    if isinstance(obj, list):
        if in_place:
            for i, v in enumerate(obj):
                if isinstance(v, (dict, list, str)):
                    obj[i] = redact_obj(v, in_place=True)
            return obj
        return [redact_obj(v) for v in obj]
    if isinstance(obj, str):
        return redact(obj)
    return obj


def redact_sas(token: str) -> str:
    """Mask only the signature of a SAS token, keeping its expiry and permissions readable."""
    return re.sub(r"(?i)(\bsig=)[^&]+", r"\1" + MASK, token)


def redact_request(req: dict[str, Any]) -> dict[str, Any]:
    """A planned request (``{"method", "url", "body"}``) as ``--what-if`` prints it and history saves it."""
    out = dict(req)
    out["url"] = redact(str(req.get("url", "")))
    if "body" in req:
        out["body"] = redact_obj(req["body"])
    return out
