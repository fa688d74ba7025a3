"""Large definitions: the payload a web service keeps in blob storage (``payloadsInBlobStorage``).

The 2017-01-01 spec: when ``assets``, ``input``, ``output``, ``package``, ``parameters`` and
``exampleRequest`` add up to more than 3 MB, ``payloadsInBlobStorage`` is true, those parts are
not inline, and ``payloadsLocation`` (``BlobLocation {uri, credentials}``) names the blob holding
them. Neither the .NET SDK nor the cmdlets read that blob (Export-AzMlWebService would write a
large service without its graph); amlws does, so that ``get``/``export`` give the whole definition
and ``update`` sends the whole definition inline (docs/emulator.md, "Large definitions").

UNVERIFIED (no public source shows it): the blob's format. amlws reads a JSON object holding the
offloaded properties (any key case, optionally wrapped in ``properties``), and ``credentials`` as
either a SAS query (``?sv=...&sig=...``) or a storage connection string.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlsplit

from amlws.azure.credentials import is_loopback_http
from amlws.errors import RemoteError, UsageError
from amlws.redact import redact, register_secret

log = logging.getLogger("amlws.arm")

#: The properties the spec moves to the payload blob.
PAYLOAD_PARTS = ("assets", "input", "output", "package", "parameters", "exampleRequest")
#: Where the service keeps the payload; it sets them itself (they are never sent back: see request_fields).
STORAGE_FIELDS = ("payloadsInBlobStorage", "payloadsLocation")


def in_blob(document: dict[str, Any]) -> bool:
    props = document.get("properties") if isinstance(document, dict) else None
    return isinstance(props, dict) and props.get("payloadsInBlobStorage") is True


def inline_payloads(document: dict[str, Any], settings: Any) -> dict[str, Any]:
    """The GET ``document`` with the blob's parts merged back into ``properties`` (in place).

    Afterwards the document is an inline definition: ``payloadsInBlobStorage`` false and no
    ``payloadsLocation`` (whose credentials must not reach an exported file). A part present
    inline is kept as sent by the service.
    """
    if not in_blob(document):
        return document
    props = document["properties"]
    location = props.get("payloadsLocation")
    uri = location.get("uri") if isinstance(location, dict) else None
    if not uri:
        raise RemoteError(
            "the service says its payload is in blob storage (payloadsInBlobStorage) but gives no payloadsLocation.uri",
            hint="retry; if it persists, export the definition with Export-AzMlWebService and report it",
        )
    payload = _parts(fetch(str(uri), str(location.get("credentials") or ""), settings))
    for key, value in payload.items():
        props.setdefault(key, value)
    props["payloadsInBlobStorage"] = False
    props.pop("payloadsLocation", None)
    log.info("read the web service's payload (%s) from blob storage", ", ".join(payload) or "nothing")
    return document


def fetch(uri: str, credentials: str, settings: Any) -> str:
    """The payload blob's text: a SAS (in ``uri`` or ``credentials``) through the HTTP policy, or a
    connection string in ``credentials`` through azure-storage-blob. Credentials are registered as
    secrets first, so no log line or error shows them. The bytes are decoded and dropped before the
    JSON is parsed: a 50 MB graph then costs its text and its objects, not its bytes as well."""
    credentials = credentials.strip()
    if credentials:
        register_secret(credentials)
    parts = urlsplit(uri)
    if parts.scheme.lower() != "https" and not is_loopback_http(uri):
        raise UsageError(f"the payload location is not https: {redact(uri)}",
                         hint="the service's payloadsLocation must be an https blob URL")
    if credentials and "=" in credentials and not credentials.startswith("?") and "sig=" not in credentials:
        from amlws.azure.blob import download

        return _text(download(uri, connection_string=credentials, max_bytes=None))
    url = uri
    if credentials:
        url += ("&" if "?" in uri else "?") + credentials.lstrip("?&")
    from amlws.http import HttpClient

    with HttpClient(settings) as http:
        resp = http.request("GET", url, headers={"x-ms-version": "2019-02-02"},
                            error_context="read the web service's payload from blob storage")
        raw, resp = resp.content, None
    return _text(raw)


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RemoteError("the payload blob is not UTF-8 text", hint="report the service's payload format to amlws") from None


def _parts(text: str) -> dict[str, Any]:
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise RemoteError(f"the payload blob is not JSON ({type(exc).__name__})",
                          hint="the blob format is unverified; report the service's payload format to amlws") from None
    if isinstance(doc, dict):
        wrapped = next((v for k, v in doc.items() if str(k).lower() == "properties" and isinstance(v, dict)), None)
        doc = wrapped if wrapped is not None else doc
    if not isinstance(doc, dict):
        raise RemoteError("the payload blob is not a JSON object", hint="report the service's payload format to amlws")
    canon = {k.lower(): k for k in PAYLOAD_PARTS}
    return {canon[k.lower()]: v for k, v in doc.items() if isinstance(k, str) and k.lower() in canon and v is not None}


def request_fields(document: dict[str, Any]) -> None:
    """Make a PUT/PATCH body's ``properties`` (in place) inline-only, as the cmdlets' bodies are.

    ``payloadsInBlobStorage``/``payloadsLocation`` are not read-only in the spec, but they describe
    where the service stored the *previous* payload: the body carries the whole definition inline
    and the service decides where to keep it. A definition that still points at a blob and lacks
    its graph (e.g. written by Export-AzMlWebService from a large service) is refused: sending it
    would update the service with a partial definition.
    """
    props = document.get("properties")
    if not isinstance(props, dict):
        return
    if props.get("payloadsInBlobStorage") is True and not any(k in props for k in ("assets", "package")):
        raise UsageError(
            "the definition has no graph: its payload (assets, package, ...) is in blob storage (payloadsInBlobStorage)",
            hint="export it with amlws export, which reads the payload blob, and update from that file",
        )
    props.pop("payloadsLocation", None)
    if props.get("payloadsInBlobStorage") is True:
        del props["payloadsInBlobStorage"]
