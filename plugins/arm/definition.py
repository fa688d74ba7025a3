"""ARM web-service definitions: import (case-insensitive, validated), export, patch-ilearner.

Pure functions over JSON documents; nothing here touches the network. The schema is the
official ``webservices.json`` (api-version 2017-01-01) shipped inside the package.

Import parses property names case-insensitively, as ``Import-AzMlWebService`` does
(Newtonsoft), and rewrites **only schema-defined property names** to the spec's camelCase.
Map keys (asset ids, node ids, parameter names, column names) are data and keep their
case; so do the contents of free-form values (``value``, example inputs).
"""

from __future__ import annotations

import json
import logging
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from amlws.errors import NotFoundError, UsageError
from amlws.model import ModelLocation

log = logging.getLogger("amlws.arm")

API_VERSION = "2017-01-01"
RESOURCE_TYPE = "Microsoft.MachineLearning/webServices"
#: Fields the service sets; ``Export-AzMlWebService`` leaves them out.
READ_ONLY_TOP = ("id", "name", "type")
READ_ONLY_PROPERTIES = ("createdOn", "modifiedOn", "provisioningState", "swaggerLocation")
TRAINED_MODEL_SUFFIX = "[trained model]"
_SCHEMA_FILE = "arm-webservices-2017-01-01.json"


@lru_cache(maxsize=1)
def spec() -> dict[str, Any]:
    """The ARM ``webservices.json`` (2017-01-01) bundled with amlws."""
    import amlws

    path = Path(amlws.__file__).parent / "data" / _SCHEMA_FILE
    return json.loads(path.read_text(encoding="utf-8"))


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


@cache
def _merged(name: str) -> dict[str, Any]:
    """A definition with its ``allOf`` chain flattened: properties, required, etc."""
    raw = spec()["definitions"][name]
    out: dict[str, Any] = {"properties": {}, "required": set()}
    for parent in raw.get("allOf", []):
        base = _merged(_ref_name(parent["$ref"]))
        out["properties"].update(base["properties"])
        out["required"] |= base["required"]
    for key, value in raw.items():
        if key in ("allOf", "properties", "required"):
            continue
        out[key] = value
    out["properties"].update(raw.get("properties", {}))
    out["required"] |= set(raw.get("required", []))
    return out


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        name = _ref_name(schema["$ref"])
        if name == "WebServiceProperties":  # discriminator: Graph is the only package type
            name = "WebServicePropertiesForGraph"
        return _merged(name)
    return schema


def _is_any(schema: dict[str, Any]) -> bool:
    """AutoRest reads ``{"type": "object"}`` with no properties as "any value"."""
    return (
        schema.get("type") in (None, "object")
        and not schema.get("properties")
        and "additionalProperties" not in schema
        and "$ref" not in schema
    )


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
    "array": (list,),
    "object": (dict,),
}


class _Walk:
    def __init__(self, source: str, *, convert_old_parameters: bool = True) -> None:
        self.source = source
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.convert = convert_old_parameters

    def value(self, value: Any, schema: dict[str, Any], path: str, *, strip_nulls: bool = False) -> Any:
        schema = _resolve(schema)
        if value is None or _is_any(schema):
            return _json_copy(value)
        kind = schema.get("type") or ("object" if schema.get("properties") or "additionalProperties" in schema else None)
        if kind == "object":
            return self.obj(value, schema, path, strip_nulls=strip_nulls)
        if kind == "array":
            if not isinstance(value, list):
                self.errors.append(f"{path}: expected an array, got {_json_type(value)}")
                return _json_copy(value)
            items = schema.get("items", {})
            return [self.value(v, items, f"{path}[{i}]", strip_nulls=strip_nulls) for i, v in enumerate(value)]
        if kind in _JSON_TYPES:
            ok = isinstance(value, _JSON_TYPES[kind]) and not (kind in ("integer", "number") and isinstance(value, bool))
            if not ok:
                self.errors.append(f"{path}: expected {kind}, got {_json_type(value)}")
                return value
            if "enum" in schema and isinstance(value, str):
                matches = [e for e in schema["enum"] if str(e).lower() == value.lower()]
                if not matches and (schema.get("x-ms-enum") or {}).get("modelAsString"):
                    # An extensible enum: the service accepts other values (e.g. format "").
                    return value
                if not matches:
                    self.errors.append(f"{path}: {value!r} is not one of {', '.join(map(str, schema['enum']))}")
                    return value
                return matches[0]
            if kind in ("integer", "number"):
                if "minimum" in schema and value < schema["minimum"]:
                    self.errors.append(f"{path}: {value} is below the minimum {schema['minimum']}")
                if "maximum" in schema and value > schema["maximum"]:
                    self.errors.append(f"{path}: {value} is above the maximum {schema['maximum']}")
        return value

    def obj(self, value: Any, schema: dict[str, Any], path: str, *, strip_nulls: bool) -> Any:
        if not isinstance(value, dict):
            self.errors.append(f"{path}: expected an object, got {_json_type(value)}")
            return _json_copy(value)
        props: dict[str, Any] = schema.get("properties") or {}
        by_lower = {k.lower(): k for k in props}
        extra = schema.get("additionalProperties")
        out: dict[str, Any] = {}
        for key, item in value.items():
            canon = by_lower.get(key.lower()) if isinstance(key, str) else None
            if canon is not None:
                if canon in out:
                    self.errors.append(f"{path}: {canon!r} is given twice (differing only in case)")
                    continue
                if item is None and strip_nulls:
                    continue
                out[canon] = self.value(item, props[canon], f"{path}.{canon}", strip_nulls=strip_nulls)
            elif isinstance(extra, dict):
                sub = f"{path}[{key!r}]"
                if self.convert and _resolve(extra) is _merged("WebServiceParameter") and not isinstance(item, dict) and item is not None:
                    # Pre-2017 format: "param": "value" (azure-powershell#4022).
                    self.warnings.append(f"{sub}: old string-valued parameter converted to {{\"value\": ...}}")
                    out[key] = {"value": item}
                    continue
                out[key] = self.value(item, extra, sub, strip_nulls=strip_nulls)
            else:
                if not (item is None and strip_nulls):
                    out[key] = _json_copy(item)
                if path != "$" or key.lower() not in ("etag", "sku", "kind", "plan", "identity", "systemdata"):
                    self.warnings.append(f"{path}.{key}: not a property of the 2017-01-01 schema; kept as is")
        for req in sorted(schema.get("required") or ()):
            if req not in out:
                self.errors.append(f"{path}: missing required property {req!r}")
        return out


def _json_copy(value: Any) -> Any:
    """A deep copy of parsed JSON (dicts, lists, scalars): several times faster than ``copy.deepcopy``."""
    if isinstance(value, dict):
        return {k: _json_copy(v) if isinstance(v, (dict, list)) else v for k, v in value.items()}
    if isinstance(value, list):
        return [_json_copy(v) if isinstance(v, (dict, list)) else v for v in value]
    return value


def _json_type(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number"}.get(
        type(value), type(value).__name__
    )


def _ci_get(d: dict[str, Any], key: str) -> Any:
    for k, v in d.items():
        if isinstance(k, str) and k.lower() == key.lower():
            return v
    return None


def looks_like_arm(document: Any) -> bool:
    """Whether a parsed JSON document is an ARM ``WebService`` (even an invalid one)."""
    if not isinstance(document, dict):
        return False
    keys = {k.lower() for k in document if isinstance(k, str)}
    if keys & {"properties", "location", "tags"}:
        return True
    return str(_ci_get(document, "type") or "").lower() == RESOURCE_TYPE.lower()


def normalize(document: Any, source: str = "<string>") -> tuple[dict[str, Any], list[str]]:
    """Validate a ``WebService`` document and rewrite property names to the spec's camelCase.

    Null-valued schema properties are dropped; nulls inside data (example rows) stay.

    :returns: the normalised document and the warnings (old parameter format, unknown properties).
    :raises UsageError: with every problem found, when the document is not a valid definition.
    """
    if not isinstance(document, dict):
        raise UsageError(f"{source}: a web service definition must be a JSON object, got {_json_type(document)}",
            hint='export the definition (amlws export TARGET -f FILE) and patch that file')
    props = _ci_get(document, "properties")
    if props is None:
        raise UsageError(
            f"{source}: the definition has no 'properties'",
            hint="export the definition with amlws export (the WebService resource JSON: location, tags, properties)",
        )
    if not isinstance(props, dict):
        raise UsageError(f"{source}: 'properties' must be an object, got {_json_type(props)}",
            hint='export the definition (amlws export TARGET -f FILE) and patch that file')
    package_type = _ci_get(props, "packageType")
    if package_type is None:
        raise UsageError(
            f"{source}: the definition has no 'properties.packageType'",
            hint='add "packageType": "Graph" to properties (the only package type the service supports)',
        )
    if not isinstance(package_type, str) or package_type.lower() != "graph":
        raise UsageError(
            f"{source}: unsupported packageType {package_type!r}", hint='the service only supports "packageType": "Graph"'
        )
    walk = _Walk(source)
    # Null properties mean "not set" to the service model (Import-AzMlWebService drops them too).
    out = walk.value(document, {"$ref": "#/definitions/WebService"}, "$", strip_nulls=True)
    if walk.errors:
        shown = "; ".join(walk.errors[:5]) + (f"; and {len(walk.errors) - 5} more" if len(walk.errors) > 5 else "")
        raise UsageError(f"{source}: invalid web service definition: {shown}", hint="fix the definition against the 2017-01-01 schema")
    for w in walk.warnings:
        log.warning("%s: %s", source, w)
    return out, walk.warnings


def validation_errors(document: Any) -> list[str]:
    """Schema problems of an already-normalised document (empty list when valid)."""
    walk = _Walk("<document>", convert_old_parameters=False)
    walk.value(document, {"$ref": "#/definitions/WebService"}, "$")
    return walk.errors


def export_document(document: dict[str, Any], *, include_keys: bool = False, for_request: bool = False) -> dict[str, Any]:
    """What ``Export-AzMlWebService`` writes: no read-only fields, no null properties.

    Nulls are dropped only where they are schema properties (as Newtonsoft's
    ``NullValueHandling.Ignore`` does for model properties); nulls inside example data and
    free-form values are data and stay. Keys (``properties.keys``, ``storageAccount.key``)
    are dropped unless ``include_keys``; GET never returns them anyway. An empty ``parameters``
    map is left out of exports (not of ``for_request`` bodies, which send what the file says).
    """
    walk = _Walk("<export>", convert_old_parameters=False)
    out = walk.value(document, {"$ref": "#/definitions/WebService"}, "$", strip_nulls=True)  # a new document
    if not isinstance(out, dict):
        raise UsageError("the definition is not a JSON object",
            hint='export the definition (amlws export TARGET -f FILE) and patch that file')
    for key in READ_ONLY_TOP:
        out.pop(key, None)
    props = out.get("properties")
    if isinstance(props, dict):
        for key in READ_ONLY_PROPERTIES:
            props.pop(key, None)
        if props.get("parameters") == {} and not for_request:
            # No global parameters either way; the service itself drops the empty map after a PATCH
            # (REC-update), so leaving it out keeps export -> update -> export free of spurious diffs.
            del props["parameters"]
        if not include_keys:
            props.pop("keys", None)
            storage = props.get("storageAccount")
            if isinstance(storage, dict):
                storage.pop("key", None)
    return out


def request_body(document: dict[str, Any]) -> bytes:
    """The exact bytes sent in a PUT/PATCH: the export document as UTF-8 JSON, order kept, with the
    whole payload inline (:func:`.payloads.request_fields`)."""
    from .payloads import request_fields

    body = export_document(document, include_keys=True, for_request=True)
    request_fields(body)
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


# --- trained-model assets --------------------------------------------------------------


def trained_model_assets(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Asset id -> asset for every ``Resource`` asset whose name ends in ``[trained model]``."""
    props = document.get("properties") or {}
    assets = props.get("assets") or {}
    out = {}
    for asset_id, asset in assets.items():
        if not isinstance(asset, dict):
            continue
        name = str(asset.get("name") or "")
        if str(asset.get("type") or "").lower() == "resource" and name.lower().rstrip().endswith(TRAINED_MODEL_SUFFIX):
            out[asset_id] = asset
    return out


def asset_uri(document: dict[str, Any], asset_id: str) -> str | None:
    asset = ((document.get("properties") or {}).get("assets") or {}).get(asset_id)
    if not isinstance(asset, dict):
        return None
    return (asset.get("locationInfo") or {}).get("uri")


def summary(document: dict[str, Any]) -> dict[str, Any]:
    """``amlws_summarize``: the resource's scalar fields and its properties' (title, state, ...)."""
    from amlws.summary import scalar_fields

    return scalar_fields(document, document.get("properties"))


def model_references(document: dict[str, Any]) -> list[dict[str, str]]:
    """``amlws_model_reference``: each trained-model asset's ``locationInfo.uri`` (selector: the asset id)."""
    out = []
    for asset_id, asset in trained_model_assets(document).items():
        uri = (asset.get("locationInfo") or {}).get("uri") if isinstance(asset.get("locationInfo"), dict) else None
        if isinstance(uri, str) and uri:
            out.append({"name": str(asset.get("name") or asset_id), "selector": asset_id, "uri": uri})
    return out


def select_trained_model(document: dict[str, Any], selector: str | None) -> str:
    """The id of the trained-model asset to patch; ``selector`` is an asset id or name."""
    assets = ((document.get("properties") or {}).get("assets")) or {}
    if selector:
        if selector in assets:
            return selector
        by_name = [aid for aid, a in assets.items() if isinstance(a, dict) and str(a.get("name", "")).lower() == selector.lower()]
        if len(by_name) == 1:
            return by_name[0]
        raise NotFoundError(
            f"no asset {selector!r} in the definition",
            hint="assets: " + (", ".join(f"{aid} ({a.get('name')})" for aid, a in assets.items() if isinstance(a, dict)) or "none"),
        )
    models = trained_model_assets(document)
    if not models:
        raise NotFoundError(
            "the definition has no trained-model asset (a Resource asset whose name ends in '[trained model]')",
            hint="export the PREDICTIVE experiment's web service, or name the asset with --asset ID",
        )
    if len(models) > 1:
        raise UsageError(
            "the definition has several trained-model assets: " + ", ".join(f"{k} ({v.get('name')})" for k, v in models.items()),
            hint="pick one with --asset ID",
        )
    return next(iter(models))


def patch_ilearner(document: dict[str, Any], location: ModelLocation, selector: str | None = None) -> tuple[dict[str, Any], str]:
    """Set ``properties.assets.<id>.locationInfo.uri`` of the trained model; returns (new document, asset id).

    :raises UsageError: the location is not an https ``.ilearner`` with a valid SAS, or several models match.
    :raises NotFoundError: no trained-model asset (or no asset ``selector``).
    """
    # A --uri is stored verbatim (its SAS, if any, is checked); a BES result becomes
    # BaseLocation + RelativeLocation as the ARM retraining walkthrough says (no SAS to expire).
    location.check(check_sas=location.given_uri is not None)
    asset_id = select_trained_model(document, selector)
    # Copy only the containers on the path to the changed URI (a 50 MB graph is not copied); the
    # rest is shared with ``document``, which is not modified.
    out = dict(document)
    props = out["properties"] = dict(document["properties"])
    assets = props["assets"] = dict(props["assets"])
    asset = assets[asset_id] = dict(assets[asset_id])
    info = asset.get("locationInfo")
    info = asset["locationInfo"] = dict(info) if isinstance(info, dict) else {}
    info["uri"] = location.reference_uri
    return out, asset_id


def strip_sas(uri: str | None) -> str | None:
    return uri.split("?", 1)[0] if uri else uri


# --- is it the same service? ------------------------------------------------------------


def service_difference(document: dict[str, Any], live: dict[str, Any]) -> str:
    """``""`` when ``document`` has the live service's title and graph, else a one-line summary.

    What identifies a web service in a PATCH body is its title and its graph (``package.nodes``
    by id with the asset or port each is bound to, and ``package.edges``): another service's
    definition differs there and would retitle and rewire this one. Only a whole definition (one
    with a ``package``) is compared: a partial document such as ``{"properties": {"title": ...}}``
    is how ``Update-AzMlWebService -Title`` is written, and changes just that. Node parameters are
    configuration, not identity (and may be masked in an export), so they are not compared.
    """
    props, live_props = document.get("properties") or {}, live.get("properties") or {}
    package = props.get("package")
    if not isinstance(package, dict) or not package:
        return ""
    parts: list[str] = []
    title, live_title = props.get("title"), live_props.get("title")
    if title is not None and title != live_title:
        parts.append(f"title {title!r} vs the live {live_title!r}")
    graph = _graph_difference(package, live_props.get("package") or {})
    if graph:
        parts.append("graph: " + graph)
    return "; ".join(parts)


def _graph_difference(package: dict[str, Any], live: dict[str, Any]) -> str:
    def nodes(p: dict[str, Any]) -> dict[str, tuple[Any, Any, Any]]:
        raw = p.get("nodes") or {}
        return {k: (v.get("assetId"), v.get("inputId"), v.get("outputId")) if isinstance(v, dict) else (v, None, None)
                for k, v in raw.items()} if isinstance(raw, dict) else {}

    def edges(p: dict[str, Any]) -> set[tuple[Any, ...]]:
        raw = p.get("edges") or []
        keys = ("sourceNodeId", "sourcePortId", "targetNodeId", "targetPortId")
        return {tuple(e.get(k) for k in keys) for e in raw if isinstance(e, dict)} if isinstance(raw, list) else set()

    sent_nodes, live_nodes = nodes(package), nodes(live)
    added = sorted(set(sent_nodes) - set(live_nodes))
    removed = sorted(set(live_nodes) - set(sent_nodes))
    rebound = [k for k in sent_nodes if k in live_nodes and sent_nodes[k] != live_nodes[k]]
    edge_diff = len(edges(package) ^ edges(live))
    out = []
    if added:
        out.append(f"{len(added)} node(s) not in the live graph ({', '.join(added[:3])}{', ...' if len(added) > 3 else ''})")
    if removed:
        out.append(f"{len(removed)} live node(s) missing ({', '.join(removed[:3])}{', ...' if len(removed) > 3 else ''})")
    if rebound:
        out.append(f"{len(rebound)} node(s) bound to other assets or ports")
    if edge_diff:
        out.append(f"{edge_diff} edge(s) differ")
    return ", ".join(out)
