"""amlws-file-backend: an amlws backend whose targets are local definition files.

A target is written ``file:path/to/service.json`` (``file:///abs/path`` also works). The
file holds an ARM-style ``WebService`` resource (what ``GET .../webServices/NAME``
returns), so ``get -> export -> patch-ilearner -> import -> update`` runs offline:
useful for editing definitions, for dry pipelines, and as the worked example of the
amlws plugin contract (see ``docs/plugins.md``).

Every hook is a plain module-level function marked with ``@amlws.hookimpl``; the
module is the plugin, registered through the ``amlws`` entry-point group::

    [project.entry-points.amlws]
    file = "amlws_file_backend"

The module imports only amlws's light modules, so ``amlws --help`` stays fast.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from amlws import hookimpl
from amlws.errors import NotFoundError, UsageError
from amlws.fsutil import atomic_write_text, read_text
from amlws.model import BackendInfo, Definition, ModelLocation, Target, UpdateResult

__version__ = "0.1.0"

NAME = "file"
PREFIX = "file:"

#: Fields the service sets; ``Export-AzMlWebService`` leaves them out and ``update`` keeps the file's own.
READ_ONLY_TOP = ("id", "name", "type")
READ_ONLY_PROPERTIES = ("createdOn", "modifiedOn", "provisioningState", "swaggerLocation")


# --- identity and dispatch ---------------------------------------------------------


@hookimpl
def amlws_backend_info() -> BackendInfo:
    return BackendInfo(
        name=NAME,
        description="local web-service definition files (ARM WebService JSON): offline editing and dry runs",
        target_help="file:path/to/service.json",
    )


@hookimpl
def amlws_claim_target(target: str) -> Target | None:
    """Claim ``file:...`` targets; anything else is another backend's."""
    if not target.lower().startswith(PREFIX):
        return None
    raw = target[len(PREFIX):]
    if raw.startswith("//"):  # file:///abs/path (and file://./rel is not a thing: keep it simple)
        raw = raw[2:]
    if not raw:
        raise UsageError(f"no path in the target {target!r}", hint="write file:path/to/service.json")
    path = Path(raw).expanduser().absolute()
    return Target(backend=NAME, id=PREFIX + str(path), parts={"path": str(path)})


# --- the five steps ----------------------------------------------------------------


@hookimpl
def amlws_get_definition(target: Target) -> Definition:
    path = Path(target.parts["path"])
    if not path.is_file():
        raise NotFoundError(f"definition file not found: {path}", hint="check the path after file:")
    document = _parse(read_text(path, what="definition file"), str(path))
    _validate(document, str(path))
    return Definition(NAME, document, target)


@hookimpl
def amlws_export(definition: Definition, include_keys: bool) -> dict[str, Any]:
    """What ``Export-AzMlWebService`` writes: no read-only fields, no nulls, no keys unless asked."""
    document = _drop_nulls(copy.deepcopy(definition.document))
    for key in READ_ONLY_TOP:
        document.pop(key, None)
    props = document.get("properties", {})
    for key in READ_ONLY_PROPERTIES:
        props.pop(key, None)
    if not include_keys:
        props.pop("keys", None)
        if isinstance(props.get("storageAccount"), dict):
            props["storageAccount"].pop("key", None)
    return document


@hookimpl
def amlws_import(document: Any, source: str) -> Definition | None:
    """Accept ARM-style WebService JSON (an object with a ``properties`` object)."""
    if not isinstance(document, dict) or "properties" not in document:
        return None  # not this backend's format: let another backend try
    _validate(document, source)
    return Definition(NAME, copy.deepcopy(document))


@hookimpl
def amlws_patch_ilearner(definition: Definition, location: ModelLocation, selector: str | None) -> Definition:
    """Set the ``[trained model]`` asset's ``locationInfo.uri`` to the new blob (without its SAS)."""
    location.check()
    patched = definition.copy()
    assets = patched.document.get("properties", {}).get("assets") or {}
    asset_id = _trained_model_asset(assets, selector)
    info = assets[asset_id].setdefault("locationInfo", {})
    # The retraining walkthrough: "combining the BaseLocation and the RelativeLocation".
    info["uri"] = location.blob_url
    return patched


@hookimpl
def amlws_update(target: Target, definition: Definition) -> UpdateResult:
    """Write the definition to the target file atomically, then read it back to verify."""
    path = Path(target.parts["path"])
    current: dict[str, Any] = {}
    if path.is_file():
        current = _parse(read_text(path, what="definition file"), str(path))
    document = _merge_for_update(current, definition.document)
    atomic_write_text(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    after = amlws_get_definition(target)
    sent_uri = _model_uri(definition.document)
    live_uri = _model_uri(after.document)
    same = _strip_volatile(after.document) == _strip_volatile(document)
    # "verified" only when a trained-model location was sent and read back: never a yes about nothing.
    verified = same and sent_uri is not None and sent_uri == live_uri
    verification = ("the file holds the definition and the trained-model location that were sent" if verified
                    else "the file holds the definition that was sent; it has no trained-model location" if same and sent_uri is None
                    else "the file does not hold what was sent")
    return UpdateResult(
        target=target,
        definition=after,
        verified=verified,
        model_uri=live_uri,
        requests=0,
        details={"file": str(path)},
        verification=verification,
    )


@hookimpl
def amlws_plan_update(target: Target, definition: Definition) -> list[dict[str, Any]]:
    return [{"method": "WRITE", "url": target.id, "body": definition.document}]


# --- helpers -------------------------------------------------------------------------


def _parse(text: str, source: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{source}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", hint="fix the JSON"
        ) from None


def _validate(document: Any, source: str) -> None:
    if not isinstance(document, dict):
        raise UsageError(f"{source}: a definition is a JSON object", hint="export one with amlws export")
    props = document.get("properties")
    if not isinstance(props, dict):
        raise UsageError(f"{source}: 'properties' must be an object", hint="export one with amlws export")
    if "assets" in props and not isinstance(props["assets"], dict):
        raise UsageError(f"{source}: 'properties.assets' must be an object (asset id -> asset)")
    if props.get("packageType", "Graph") != "Graph":
        raise UsageError(f"{source}: packageType {props['packageType']!r} is not supported (only Graph)")


def _trained_model_asset(assets: dict[str, Any], selector: str | None) -> str:
    models = {
        k: v
        for k, v in assets.items()
        if isinstance(v, dict) and str(v.get("name", "")).lower().endswith("[trained model]")
    }
    if selector is not None:
        for key, asset in assets.items():
            if selector in (key, asset.get("name") if isinstance(asset, dict) else None):
                return key
        raise UsageError(
            f"no asset {selector!r} in the definition",
            hint="assets: " + ", ".join(f"{k} ({v.get('name')})" for k, v in assets.items() if isinstance(v, dict)),
        )
    if len(models) == 1:
        return next(iter(models))
    if not models:
        raise UsageError(
            "the definition has no [trained model] asset",
            hint="is this the predictive service? pass --asset ID to patch another asset",
        )
    raise UsageError(
        "the definition has several [trained model] assets: " + ", ".join(sorted(models)),
        hint="pass --asset ID to choose one",
    )


def _model_uri(document: dict[str, Any]) -> str | None:
    assets = (document.get("properties") or {}).get("assets") or {}
    for asset in assets.values():
        if isinstance(asset, dict) and str(asset.get("name", "")).lower().endswith("[trained model]"):
            return (asset.get("locationInfo") or {}).get("uri")
    return None


def _merge_for_update(current: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The new definition, with the file's read-only fields kept (as the service keeps its own)."""
    document = copy.deepcopy(new)
    for key in READ_ONLY_TOP:
        if key in current:
            document[key] = current[key]
    props = document.setdefault("properties", {})
    old_props = current.get("properties") or {}
    for key in ("createdOn", "swaggerLocation"):
        if key in old_props:
            props[key] = old_props[key]
    props["modifiedOn"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    props["provisioningState"] = "Succeeded"
    return document


def _strip_volatile(document: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(document)
    (out.get("properties") or {}).pop("modifiedOn", None)
    return out


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value
