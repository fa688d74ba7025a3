"""A short human summary of a definition for table output (JSON output shows it whole)."""

from __future__ import annotations

from typing import Any

from .model import Definition
from .redact import redact


def summarize(definition: Definition) -> dict[str, Any]:
    doc = definition.document
    out: dict[str, Any] = {"backend": definition.backend}
    if definition.target:
        out["target"] = definition.target.id
    for source in (doc, p if isinstance(p := doc.get("properties"), dict) else {}):
        for k, v in source.items():
            if isinstance(v, (str, int, float, bool)) and k.lower() not in ("primarykey", "secondarykey"):
                out.setdefault(k, v)
    models = list(_trained_models(doc))
    if models:
        out["trainedModels"] = "; ".join(f"{n}: {redact(u)}" for n, u in models)
    return out


def _trained_models(doc: dict[str, Any]):
    props = p if isinstance(p := doc.get("properties"), dict) else {}
    for asset in (props.get("assets") or {}).values():
        if isinstance(asset, dict) and str(asset.get("name", "")).lower().endswith("[trained model]"):
            yield asset.get("name"), str((asset.get("locationInfo") or {}).get("uri", ""))
    for res in doc.get("Resources") or []:
        if isinstance(res, dict):
            loc = res.get("Location") or {}
            uri = f"{loc.get('BaseLocation', '')}{loc.get('RelativeLocation', '')}" if isinstance(loc, dict) else ""
            yield res.get("Name"), uri
