"""The ARM spec (``amlws/data/arm-webservices-2017-01-01.json``) as the emulator's request validator.

``normalize`` maps property names case-insensitively onto the spec's camelCase names (the real
service deserialises with Newtonsoft, which ignores case, and answers in camelCase: ARM
REFERENCE §3.4); ``validate`` checks a body against the ``WebService`` schema with jsonschema.
The polymorphic ``properties`` are validated as ``WebServicePropertiesForGraph`` (``Graph`` is
the only ``packageType``).
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

SPEC_PATH = Path(__file__).resolve().parent.parent / "data" / "arm-webservices-2017-01-01.json"


@functools.lru_cache(maxsize=1)
def spec() -> dict[str, Any]:
    return json.loads(SPEC_PATH.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def definitions() -> dict[str, Any]:
    defs = copy.deepcopy(spec()["definitions"])
    defs["WebService"]["properties"]["properties"] = {"$ref": "#/definitions/WebServicePropertiesForGraph"}
    _any_objects(defs)
    return defs


def _any_objects(node: Any) -> None:
    """AutoRest reads a bare ``{"type": "object"}`` as *any* value: make jsonschema do the same."""
    if isinstance(node, dict):
        if node.get("type") == "object" and not any(k in node for k in ("properties", "additionalProperties", "allOf", "$ref")):
            del node["type"]
        if "enum" in node and (node.get("x-ms-enum") or {}).get("modelAsString"):
            del node["enum"]  # an extensible enum: any string is accepted
        for v in node.values():
            _any_objects(v)
    elif isinstance(node, list):
        for v in node:
            _any_objects(v)


def drop_nulls(value: Any) -> Any:
    """Nulls are ignored on input (Newtonsoft ``NullValueHandling``): drop them before validating."""
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = definitions()[name]
    return node


def _properties(node: dict[str, Any]) -> dict[str, Any]:
    node = _resolve(node)
    props: dict[str, Any] = {}
    for part in node.get("allOf", []):
        props.update(_properties(part))
    props.update(node.get("properties", {}))
    return props


def normalize(value: Any, node: dict[str, Any] | None = None) -> Any:
    """Rename keys that match a spec property case-insensitively to the spec's spelling."""
    node = _resolve(node or {"$ref": "#/definitions/WebService"})
    if isinstance(value, dict):
        props = _properties(node)
        addl = node.get("additionalProperties")
        lower = {k.lower(): k for k in props}
        out: dict[str, Any] = {}
        for key, item in value.items():
            canon = lower.get(key.lower(), key) if isinstance(key, str) else key
            if canon in out and canon != key:
                canon = key  # both spellings given: keep both, do not lose data
            if canon in props:
                out[canon] = normalize(item, props[canon])
            elif isinstance(addl, dict):
                out[canon] = normalize(item, addl)
            else:
                out[canon] = item
        return out
    if isinstance(value, list) and isinstance(node.get("items"), dict):
        return [normalize(v, node["items"]) for v in value]
    return value


@functools.lru_cache(maxsize=8)
def _validator(definition: str) -> Any:
    from jsonschema import Draft4Validator

    schema = {"$ref": f"#/definitions/{definition}", "definitions": definitions()}
    return Draft4Validator(schema)


def errors(doc: Any, definition: str = "WebService") -> list[str]:
    """Schema violations as ``path: message`` lines (empty when valid)."""
    out = []
    for err in sorted(_validator(definition).iter_errors(drop_nulls(doc)), key=lambda e: list(e.absolute_path)):
        path = ".".join(str(p) for p in err.absolute_path) or "(root)"
        out.append(f"{path}: {err.message}")
    return out
