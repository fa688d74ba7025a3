"""ARM web services: PATCH merge rule and the >3 MB payload offload (``payloadsInBlobStorage``).

PATCH (docs/emulator.md, "PATCH semantics"): the six *payload* properties that describe the graph
(``assets``, ``input``, ``output``, ``package``, ``parameters``, ``exampleRequest``) are replaced
whole when the PATCH names them, so a node or asset left out is gone and ``edges`` always belong to
the ``nodes`` beside them; settings objects (``keys``, ``storageAccount``, ``realtimeConfiguration``,
...) merge one level, as the recorded 213-byte PATCH needs (``keys: {primary}`` keeps ``secondary``).
Absent properties are kept ("Pass only the properties that you want modified").

Offload: the spec says that when those six parts add up to more than 3 MB, ``payloadsInBlobStorage``
is true, they are not inline, and ``payloadsLocation`` (``BlobLocation {uri, credentials}``) points
at a blob holding them. The emulator keeps the resource whole and serves the blob itself at
``/_payloads/{id}/payload.json``; ``credentials`` is a SAS-like query (``?...&sig=``) that the blob
route checks. The blob's format is not documented anywhere found: the emulator writes a JSON object
with the six camelCase properties (UNVERIFIED, docs/emulator.md).
"""

from __future__ import annotations

import copy
import json
import secrets
from typing import Any

from .core import Response, hex_id

#: The properties the spec sums into the payload size and moves to the blob.
PAYLOAD_PARTS = ("assets", "input", "output", "package", "parameters", "exampleRequest")
#: "larger than 3 MB" (spec): read as 3 MiB; the setting ``arm_payload_threshold`` overrides it.
DEFAULT_THRESHOLD = 3 * 1024 * 1024
#: Properties that describe where the service stores the payload: the service sets them, so a
#: value sent in a PUT/PATCH (e.g. a definition exported from a large service) is ignored.
STORAGE_FIELDS = ("payloadsInBlobStorage", "payloadsLocation")
BLOB_PATH = "/_payloads/{id}/payload.json"


def patch_properties(current: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """The stored ``properties`` after a PATCH (module docstring). Nulls mean "not given"."""
    out = copy.deepcopy(current)
    for key, value in patch.items():
        if value is None or key in STORAGE_FIELDS:
            continue
        if key not in PAYLOAD_PARTS and isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **{k: copy.deepcopy(v) for k, v in value.items() if v is not None}}
        else:
            out[key] = copy.deepcopy(value)
    # As recorded (REC-update): after a PATCH the GET no longer shows an empty global-parameter map.
    if out.get("parameters") == {}:
        del out["parameters"]
    return out


def strip_storage_fields(props: dict[str, Any]) -> None:
    for key in STORAGE_FIELDS:
        props.pop(key, None)


def threshold(emu: Any) -> int:
    value = emu.setting("arm_payload_threshold")
    return DEFAULT_THRESHOLD if value is None else int(value)


def payload_size(props: dict[str, Any]) -> int:
    """Bytes of the six parts as compact JSON (how the spec sums the payload size)."""
    return sum(len(json.dumps(props[k], separators=(",", ":")).encode("utf-8")) for k in PAYLOAD_PARTS if k in props)


def after_change(doc: dict[str, Any], emu: Any) -> None:
    """Decide inline vs blob once per applied PUT/PATCH; a new blob (id and token) each time."""
    props = doc["resource"].get("properties") or {}
    if payload_size(props) > threshold(emu):
        doc["payload"] = {"id": hex_id(), "token": secrets.token_urlsafe(24)}
    else:
        doc.pop("payload", None)


def location(doc: dict[str, Any], base_url: str) -> dict[str, str]:
    blob = doc["payload"]
    return {"uri": base_url + BLOB_PATH.format(id=blob["id"]),
            "credentials": f"?sv=2017-04-17&sr=b&sp=r&sig={blob['token']}"}


def offload(doc: dict[str, Any], props: dict[str, Any], base_url: str) -> None:
    """Turn a GET's ``props`` into the offloaded form when the resource's payload is in the blob."""
    if not doc.get("payload"):
        props["payloadsInBlobStorage"] = False
        props.pop("payloadsLocation", None)
        return
    for key in PAYLOAD_PARTS:
        props.pop(key, None)
    props["payloadsInBlobStorage"] = True
    props["payloadsLocation"] = location(doc, base_url)


def serve(docs: list[dict[str, Any]], blob_id: str, sig: str | None) -> Response:
    """``GET /_payloads/{id}/payload.json?...&sig=``: the six parts as JSON, as a blob would be read."""
    for doc in docs:
        blob = doc.get("payload")
        if not blob or blob["id"] != blob_id.lower() or doc.get("deleted"):
            continue
        if not sig or not secrets.compare_digest(sig, blob["token"]):
            return _storage_error(403, "AuthenticationFailed", "Server failed to authenticate the request.")
        props = doc["resource"].get("properties") or {}
        body = json.dumps({k: props[k] for k in PAYLOAD_PARTS if k in props}, separators=(",", ":")).encode("utf-8")
        return Response(200, body, {"Content-Type": "application/json", "x-ms-blob-type": "BlockBlob"})
    return _storage_error(404, "BlobNotFound", "The specified blob does not exist.")


def _storage_error(status: int, code: str, message: str) -> Response:
    # Azure Storage answers errors in XML with an x-ms-error-code header.
    body = f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>'
    return Response(status, body.encode("utf-8"), {"Content-Type": "application/xml", "x-ms-error-code": code})
