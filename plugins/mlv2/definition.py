"""Online deployment and endpoint documents: export, import checks, the model patch, traffic rules.

Pure functions over the ARM JSON (REFERENCE.md §5, §6); nothing here touches the network.
The export is the resource as ``GET`` returns it without what the service sets, so that the
same file can be sent back with ``PUT`` (what ``az ml online-deployment update`` does with
the body it reads).
"""

from __future__ import annotations

import copy
from typing import Any

from amlws.errors import UsageError

from . import schema
from .ids import ModelRef, endpoint_id, parse_model_ref

API_VERSION = "2025-12-01"
DEPLOYMENT_TYPE = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments"
ENDPOINT_TYPE = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints"
DEPLOYMENT_SCHEMA = "OnlineDeploymentTrackedResource"
ENDPOINT_SCHEMA = "OnlineEndpointTrackedResource"

#: top-level fields the service sets (Resource/TrackedResource readOnly) and the export leaves out
READ_ONLY_TOP = ("id", "name", "type", "systemData")
#: terminal provisioning states of endpoints and deployments (REFERENCE.md §4)
TERMINAL_STATES = frozenset({"Succeeded", "Failed", "Canceled"})


def kind_of(document: Any) -> str | None:
    """``"deployment"``, ``"endpoint"`` or ``None``: what a v2 document describes, by its shape
    (``type`` when present; else ``properties.endpointComputeType`` / ``properties.authMode``)."""
    if not isinstance(document, dict) or not isinstance(document.get("properties"), dict):
        return None
    rtype = str(document.get("type") or "").lower()
    if rtype == DEPLOYMENT_TYPE.lower():
        return "deployment"
    if rtype == ENDPOINT_TYPE.lower():
        return "endpoint"
    if rtype:
        return None
    props = document["properties"]
    if "endpointComputeType" in props:
        return "deployment"
    if "authMode" in props:
        return "endpoint"
    return None


def export_document(resource: dict[str, Any]) -> dict[str, Any]:
    """``resource`` without read-only fields: ``id``, ``name``, ``type``, ``systemData``,
    ``properties.provisioningState``, ``identity.principalId``/``tenantId`` (and, for an
    endpoint, ``scoringUri``/``swaggerUri`` and the always-null ``keys``)."""
    out = {k: copy.deepcopy(v) for k, v in resource.items() if k not in READ_ONLY_TOP}
    props = out.get("properties")
    if isinstance(props, dict):
        props.pop("provisioningState", None)
        if kind_of(resource) == "endpoint":
            for key in ("scoringUri", "swaggerUri", "keys"):
                props.pop(key, None)
    identity = out.get("identity")
    if isinstance(identity, dict):
        identity.pop("principalId", None)
        identity.pop("tenantId", None)
        for assigned in (identity.get("userAssignedIdentities") or {}).values():
            if isinstance(assigned, dict):
                assigned.pop("principalId", None)
                assigned.pop("clientId", None)
    return out


def check_document(document: Any, source: str) -> str:
    """Validate an exported (or hand-written) deployment or endpoint; returns its kind.

    :raises UsageError: (exit 2) naming the first problems: a missing ``endpointComputeType``,
        a model that is not a version id, bad scale settings, any other schema violation.
    """
    kind = kind_of(document)
    if kind is None:
        raise UsageError(f"{source}: not an Azure ML online deployment or endpoint",
                         hint="export it first: amlws export DEPLOYMENT_ID --output-file FILE")
    body = {k: v for k, v in document.items() if k not in READ_ONLY_TOP}
    problems = schema.validate(_without_read_only(body), DEPLOYMENT_SCHEMA if kind == "deployment" else ENDPOINT_SCHEMA,
                               closed=False)
    if kind == "deployment":
        model = document["properties"].get("model")
        if model is not None:
            try:
                parsed = parse_model_ref(str(model))
            except UsageError as exc:
                problems.insert(0, f"$.properties.model: {exc.message}")
            else:
                if parsed.version is None or (parsed.workspace is None and parsed.registry is None):
                    problems.insert(0, f"$.properties.model: {model!r} is not a model version id "
                                       "(use amlws patch-model FILE --model NAME:VERSION)")
    else:
        problems[:0] = traffic_problems(document["properties"], None)
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise UsageError(f"{source}: " + "; ".join(problems[:3]) + more,
                         hint="fix the file, or export it again (amlws export TARGET --output-file FILE)")
    return kind


def _without_read_only(body: dict[str, Any]) -> dict[str, Any]:
    """What the export would have kept: a file saved from ``amlws get -o json`` still imports."""
    return export_document({**body, "type": DEPLOYMENT_TYPE if kind_of(body) == "deployment" else ENDPOINT_TYPE})


def keep_live_properties(body: dict[str, Any], live: dict[str, Any] | None) -> dict[str, Any]:
    """``body`` with the live resource's ``properties.properties`` entries as the service has them now.

    That map is add-only ("Properties can be added, but not removed or altered", the spec), and
    the service writes entries of its own into it (``AzureAsyncOperationUri`` of the last
    operation, REFERENCE.md §3). A file exported before the last change (or a history revision,
    for ``amlws rollback``) holds older values: sending them back would alter the map. Entries
    the body adds are kept; the live ones win.
    """
    live_map = ((live or {}).get("properties") or {}).get("properties")
    props = body.get("properties")
    if not isinstance(live_map, dict) or not live_map or not isinstance(props, dict):
        return body
    out = copy.deepcopy(body)
    mine = out["properties"].get("properties")
    out["properties"]["properties"] = {**(mine if isinstance(mine, dict) else {}), **live_map}
    return out


def patch_model(document: dict[str, Any], ref: ModelRef, workspace: str) -> dict[str, Any]:
    """A copy of a deployment ``document`` whose ``properties.model`` is ``ref``'s id."""
    if kind_of(document) != "deployment":
        raise UsageError("only a deployment has a model", hint="export the deployment (…/onlineEndpoints/EP/deployments/DEP)")
    out = copy.deepcopy(document)
    out["properties"]["model"] = ref.asset_id(workspace)
    return out


def model_of(document: Any) -> str | None:
    props = document.get("properties") if isinstance(document, dict) else None
    value = props.get("model") if isinstance(props, dict) else None
    return str(value) if value else None


def create_only_changes(live: dict[str, Any], body: dict[str, Any]) -> list[str]:
    """Create-only fields (per the spec's ``x-ms-mutability``) that ``body`` would change."""
    definition = DEPLOYMENT_SCHEMA if kind_of(live) == "deployment" else ENDPOINT_SCHEMA
    return [p.removeprefix("$.") for p in schema.create_only_changes(live, body, definition)]


# --- traffic -------------------------------------------------------------------------------


def parse_shares(items: list[str], what: str = "traffic") -> dict[str, int]:
    """``["blue=90", "green=10"]`` (also one string ``"blue=90 green=10"``, as ``az ml`` takes it)
    -> ``{"blue": 90, "green": 10}``.

    :raises UsageError: (exit 2) a malformed pair, a share outside 0..100, a name given twice.
    """
    out: dict[str, int] = {}
    for item in (part for text in items for part in text.replace(",", " ").split()):
        name, sep, value = item.partition("=")
        if not sep or not name or not value.strip().isdigit():
            raise UsageError(f"bad {what} share {item!r}", hint="write DEPLOYMENT=PERCENT, e.g. blue=90 green=10")
        share = int(value)
        if not 0 <= share <= 100:
            raise UsageError(f"{what} share {item!r} is not between 0 and 100", hint="write DEPLOYMENT=PERCENT")
        if name in out:
            raise UsageError(f"deployment {name!r} is given twice in the {what}", hint="name each deployment once")
        out[name] = share
    return out


def traffic_problems(properties: dict[str, Any], deployments: set[str] | None) -> list[str]:
    """What the service would refuse in an endpoint's ``traffic``/``mirrorTraffic`` (REFERENCE.md §6):
    live shares summing to neither 0 nor 100, a name that is not a deployment (when
    ``deployments`` is known), mirror traffic over 50 %, to more than one deployment, or to one
    that takes live traffic."""
    problems = []
    traffic = properties.get("traffic") or {}
    mirror = properties.get("mirrorTraffic") or {}
    for field, shares in (("traffic", traffic), ("mirrorTraffic", mirror)):
        if not isinstance(shares, dict) or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 100
                                                   for v in shares.values()):
            problems.append(f"$.properties.{field}: shares are whole percentages 0..100 per deployment")
            return problems
    total = sum(traffic.values())
    if total not in (0, 100):
        problems.append(f"$.properties.traffic: the shares sum to {total} %; they must sum to 100 (or 0 to stop all traffic)")
    if deployments is not None:
        unknown = sorted(n for n in list(traffic) + list(mirror) if n not in deployments)
        if unknown:
            problems.append(f"no deployment named {', '.join(unknown)} on the endpoint (it has: {', '.join(sorted(deployments)) or 'none'})")
    mirrored = {n: v for n, v in mirror.items() if v}
    if len(mirrored) > 1:
        problems.append("$.properties.mirrorTraffic: mirror traffic goes to one deployment only")
    if sum(mirrored.values()) > 50:
        problems.append(f"$.properties.mirrorTraffic: {sum(mirrored.values())} % is over the 50 % limit")
    both = sorted(n for n in mirrored if traffic.get(n))
    if both:
        problems.append(f"deployment {', '.join(both)} cannot take live and mirrored traffic at once")
    return problems


def check_traffic(properties: dict[str, Any], deployments: set[str] | None, endpoint: str) -> None:
    """:raises UsageError: (exit 2) naming every rule ``properties`` breaks; nothing is sent."""
    problems = traffic_problems(properties, deployments)
    if problems:
        raise UsageError(f"traffic for {endpoint} refused: " + "; ".join(problems),
                         hint="shares sum to 100 (or 0); mirror at most 50 % to one deployment without live traffic")


def with_traffic(endpoint: dict[str, Any], traffic: dict[str, int] | None, mirror: dict[str, int] | None) -> dict[str, Any]:
    """The endpoint body for a traffic change: the exported endpoint with new ``traffic`` (and
    ``mirrorTraffic``). Shares of 0 are dropped, as ``azure-ai-ml`` drops them before its PUT
    (REFERENCE.md §6): a deployment without an entry takes no traffic."""
    body = export_document(endpoint)
    props = body.setdefault("properties", {})
    if traffic is not None:
        props["traffic"] = {k: v for k, v in traffic.items() if v}
    if mirror is not None:
        props["mirrorTraffic"] = {k: v for k, v in mirror.items() if v}
    return body


def shares_of(endpoint: dict[str, Any], field: str = "traffic") -> dict[str, int]:
    """An endpoint's live shares with 0-entries dropped (GET may or may not echo them: UNVERIFIED)."""
    props = endpoint.get("properties") or {}
    return {k: int(v) for k, v in (props.get(field) or {}).items() if v}


def same_endpoint(deployment_id: str, other_id: str) -> bool:
    return endpoint_id(deployment_id).lower() == endpoint_id(other_id).lower()
