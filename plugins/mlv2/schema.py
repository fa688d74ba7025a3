"""Check request bodies against the official 2025-12-01 swagger definitions (the excerpt shipped in
``data/mlv2-schema-excerpt.json``), before anything is sent.

A small swagger-2.0 walker rather than a JSON-Schema translation: swagger's ``discriminator`` /
``x-ms-discriminator-value`` (``endpointComputeType: Managed`` → ``ManagedOnlineDeployment``),
``allOf`` inheritance, ``readOnly`` and ``x-ms-mutability`` have no direct JSON-Schema equivalent,
and the errors must name the JSON path a user can fix. Pure; nothing here touches the network.
"""

from __future__ import annotations

import json
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

_COMMON_PREFIX = "../../../../../common-types/resource-management/v3/"
_SCHEMA_FILE = "mlv2-schema-excerpt.json"


@lru_cache(maxsize=1)
def excerpt() -> dict[str, Any]:
    """The bundled excerpt of ``mfe.json`` 2025-12-01 (with the common types it refers to)."""
    return json.loads((Path(__file__).parent / "data" / _SCHEMA_FILE).read_text(encoding="utf-8"))


def _lookup(ref: str, file: str) -> tuple[dict[str, Any], str]:
    """The definition a ``$ref`` names, and the file later refs inside it are relative to."""
    data = excerpt()
    if ref.startswith(_COMMON_PREFIX):
        file, _, name = ref[len(_COMMON_PREFIX):].partition("#/definitions/")
    else:
        name = ref.rsplit("/", 1)[-1]
    if file == "mfe.json":
        return data["definitions"][name], file
    return data["x-common-types"][file]["definitions"][name], file


@cache
def _merged(ref: str, file: str = "mfe.json") -> tuple[dict[str, Any], str]:
    """A definition with its ``allOf`` chain flattened (properties and required merged)."""
    raw, file = _lookup(ref, file)
    out: dict[str, Any] = {"properties": {}, "required": set()}
    for parent in raw.get("allOf", []):
        base, _ = _merged(parent["$ref"], file)
        out["properties"].update({k: (v, f) for k, (v, f) in base["properties"].items()})
        out["required"] |= base["required"]
        for key in ("discriminator",):
            if key in base:
                out[key] = base[key]
    for key, value in raw.items():
        if key not in ("allOf", "properties", "required"):
            out[key] = value
    out["properties"].update({k: (v, file) for k, v in raw.get("properties", {}).items()})
    out["required"] |= set(raw.get("required", []))
    out["name"] = ref.rsplit("/", 1)[-1]
    return out, file


def _subtypes(base: str) -> dict[str, str]:
    """``x-ms-discriminator-value`` -> definition name, for the definitions deriving from ``base``."""
    out = {}
    for name, raw in excerpt()["definitions"].items():
        value = raw.get("x-ms-discriminator-value")
        if value and any(p.get("$ref", "").endswith("/" + base) for p in raw.get("allOf", [])):
            out[value] = name
    return out


def validate(document: Any, definition: str, *, request: bool = True, closed: bool = True) -> list[str]:
    """Problems of ``document`` as a ``definition`` (e.g. ``OnlineDeploymentTrackedResource``),
    each ``"<json path>: <what>"``; ``[]`` when it conforms.

    :param request: a request body: read-only fields (``readOnly``) are reported too.
    :param closed: report keys the definition does not have (swagger lets a service ignore them,
        so for a user's file they are most often typos: ``instancetype``, ``modelId``).
    """
    problems: list[str] = []
    _check(document, {"$ref": "#/definitions/" + definition}, "mfe.json", "$", problems, request)
    return [p for p in problems if closed or not p.endswith(_UNKNOWN_MARK)]


_UNKNOWN_MARK = " (unknown field)"


_TYPES = {"string": str, "boolean": bool, "object": dict, "array": list}


def _check(value: Any, schema: dict[str, Any], file: str, path: str, out: list[str], request: bool) -> None:
    if value is None:
        if not schema.get("x-nullable", False) and "$ref" not in schema:
            out.append(f"{path}: null is not allowed")
        return
    if request and schema.get("readOnly"):
        out.append(f"{path}: read-only (the service sets it; leave it out)")
        return
    if "$ref" in schema:
        merged, file = _merged(schema["$ref"], file)
        if "discriminator" in merged and isinstance(value, dict):
            key = merged["discriminator"]
            subtypes = _subtypes(merged["name"])
            chosen = value.get(key)
            if chosen is None:
                out.append(f"{path}.{key}: required (one of {', '.join(sorted(subtypes))})")
                return
            if chosen in subtypes:
                merged, file = _merged("#/definitions/" + subtypes[chosen], "mfe.json")
            elif subtypes:
                out.append(f"{path}.{key}: {chosen!r} is not one of {', '.join(sorted(subtypes))}")
                return
        _check_object_or_enum(value, merged, file, path, out, request)
        return
    _check_object_or_enum(value, {**schema, "properties": {k: (v, file) for k, v in schema.get("properties", {}).items()},
                                  "required": set(schema.get("required", []))}, file, path, out, request)


def _check_object_or_enum(value: Any, schema: dict[str, Any], file: str, path: str, out: list[str], request: bool) -> None:
    if "enum" in schema:
        allowed = schema["enum"]
        modelled = schema.get("x-ms-enum", {}).get("modelAsString", False)
        if value not in allowed and not modelled:
            out.append(f"{path}: {value!r} is not one of {', '.join(map(str, allowed))}")
        return
    kind = schema.get("type")
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            out.append(f"{path}: expected an integer, got {type(value).__name__}")
        return
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            out.append(f"{path}: expected a number, got {type(value).__name__}")
        return
    if kind in _TYPES and not isinstance(value, _TYPES[kind]):
        out.append(f"{path}: expected {'an' if kind in ('object', 'array') else 'a'} {kind}, got {type(value).__name__}")
        return
    if kind == "array":
        items = schema.get("items", {})
        for i, item in enumerate(value):
            _check(item, items, file, f"{path}[{i}]", out, request)
        return
    if not isinstance(value, dict):
        return
    props: dict[str, tuple[dict[str, Any], str]] = schema.get("properties", {})
    for name in sorted(schema.get("required", ())):
        if name not in value:
            out.append(f"{path}.{name}: required")
    extra = schema.get("additionalProperties")
    for key, item in value.items():
        if key in props:
            sub, sub_file = props[key]
            _check(item, sub, sub_file, f"{path}.{key}", out, request)
        elif isinstance(extra, dict):
            _check(item, extra, file, f"{path}.{key}", out, request)
        elif extra is False or props:
            # swagger objects are closed unless they say otherwise: an unknown key is a typo
            out.append(f"{path}.{key}: not a field of {schema.get('name', 'this object')}{_UNKNOWN_MARK}")


def create_only_changes(old: Any, new: Any, definition: str) -> list[str]:
    """The JSON paths of create-only fields (``x-ms-mutability`` without ``update``, e.g. a
    deployment's ``properties.instanceType`` or ``location``) whose value differs between the live
    resource ``old`` and the body ``new``: a PUT cannot change them (the service refuses, or
    worse, a client would have to delete and re-create the resource)."""
    out: list[str] = []
    _diff(old, new, {"$ref": "#/definitions/" + definition}, "mfe.json", "$", out)
    return out


def _diff(old: Any, new: Any, schema: dict[str, Any], file: str, path: str, out: list[str]) -> None:
    if not isinstance(old, dict) or not isinstance(new, dict) or "$ref" not in schema:
        return
    merged, file = _merged(schema["$ref"], file)
    if "discriminator" in merged:
        key = merged["discriminator"]
        if key in new and old.get(key) is not None and old.get(key) != new.get(key):
            out.append(f"{path}.{key}")
            return
        subtypes = _subtypes(merged["name"])
        if new.get(key) in subtypes:
            merged, file = _merged("#/definitions/" + subtypes[new[key]], "mfe.json")
    for key, (sub, sub_file) in merged["properties"].items():
        if key not in new or key not in old:
            continue
        mutability = sub.get("x-ms-mutability")
        if mutability and "create" in mutability and "update" not in mutability and old[key] != new[key]:
            out.append(f"{path}.{key}")
        elif "$ref" in sub:
            _diff(old[key], new[key], sub, sub_file, f"{path}.{key}", out)
