"""Azure ML v2 ``Microsoft.MachineLearningServices``: workspaces, online endpoints and deployments,
model containers and versions, their long-running operations, and the scoring data plane.

Ground truth: ``tests/data/specs/mlv2/REFERENCE.md`` (cited as §N). Resources are stored whole;
what GET returns is derived from them (scoring and swagger URIs are computed from the emulator's
base URL, so a restart on another port needs no rewrite).

Endpoint and deployment PUT/PATCH/DELETE are long-running operations on the emulator's clock
(transition ``mlv2_lro``, like ``arm_lro``): the resource shows ``Creating``/``Updating``/``Scaling``/
``Deleting`` and keeps serving its previous definition until the operation ends; ``Succeeded``
applies the change, ``Failed`` keeps the previous definition. Model containers and versions are
synchronous (§3).
"""

from __future__ import annotations

import copy
import datetime as _dt
import re
import secrets
import threading
import time
import uuid
from collections import deque
from typing import Any

from .arm_models import transition_progress
from .core import hex_id
from .exceptions import EmulatorHTTPError, arm_error

API_VERSION = "2025-12-01"
#: every ARM api-version REFERENCE.md names (§1: the spec's and the ones azure-ai-ml 1.35.2 sends;
#: §12: the REST samples'; §13: the examples' nextLink; the 2025-06-01 listKeys example). The
#: emulator answers all of them with the 2025-12-01 shapes.
KNOWN_API_VERSIONS = ("2025-12-01", "2025-07-01-preview", "2025-06-01", "2024-10-01-preview", "2024-01-01-preview",
                      "2023-10-01", "2023-08-01-preview", "2023-04-01-preview", "2022-05-01", "2022-02-01-preview",
                      "2021-10-01")
PROVIDER = "Microsoft.MachineLearningServices"
WS_TYPE = f"{PROVIDER}/workspaces"
EP_TYPE = f"{PROVIDER}/workspaces/onlineEndpoints"
DEP_TYPE = f"{PROVIDER}/workspaces/onlineEndpoints/deployments"
MODEL_TYPE = f"{PROVIDER}/workspaces/models"
VERSION_TYPE = f"{PROVIDER}/workspaces/models/versions"

WORKSPACE = "mlv2_workspace"
ENDPOINT = "mlv2_endpoint"
DEPLOYMENT = "mlv2_deployment"
MODEL = "mlv2_model"
VERSION = "mlv2_model_version"
OPERATION = "mlv2_operation"
PENDING = "mlv2_pending_operation"

AUTH_MODES = ("AMLToken", "Key", "AADToken")
COMPUTE_TYPES = ("Managed", "Kubernetes", "AzureMLCompute")
#: x-ms-mutability create/read in the spec (schema-excerpt.json): refused when a PUT changes them
DEPLOYMENT_CREATE_ONLY = (("instanceType",), ("codeConfiguration", "codeId"), ("codeConfiguration", "scoringScript"),
                          ("endpointComputeType",))
DEFAULT_INSTANCE_TYPE = "Standard_F4s_v2"
LRO_TIMEOUT = "PT1H"
#: operation-id prefixes seen in real Azure-AsyncOperation URLs (§3)
OP_PREFIX = {"endpoint": "oeidp", "deployment": "odidp"}
OPERATION_IDS = {("endpoint", "put"): "OnlineEndpoints_CreateOrUpdate", ("endpoint", "patch"): "OnlineEndpoints_Update",
                 ("endpoint", "delete"): "OnlineEndpoints_Delete",
                 ("deployment", "put"): "OnlineDeployments_CreateOrUpdate",
                 ("deployment", "patch"): "OnlineDeployments_Update",
                 ("deployment", "delete"): "OnlineDeployments_Delete"}
_MODEL_ID = re.compile(r"^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.MachineLearningServices"
                       r"/workspaces/([^/]+)/models/([^/]+)/versions/([^/]+)$", re.IGNORECASE)
LOG_LINES = 500


def iso_ms(t: _dt.datetime | None = None) -> str:
    """The examples' timestamp form: ``2020-01-01T12:34:56.999Z``."""
    t = t or _dt.datetime.now(_dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def workspace_id(sub: str, rg: str, ws: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{PROVIDER}/workspaces/{ws}"


def user_error(detail_code: str, message: str, *, status: int = 400, target: str | None = None) -> EmulatorHTTPError:
    """An Azure ML RP refusal: ``UserError`` (the code azure-ai-ml compares, §11) with the message on
    top and one specific detail code of the emulator's own, so clients can tell the rules apart."""
    err = arm_error(status, "UserError", message, [{"code": detail_code, "message": message}])
    if target:
        err.body["error"]["target"] = target
    return err


def not_found(resource_type: str, name: str, rg: str) -> EmulatorHTTPError:
    return arm_error(404, "ResourceNotFound", f"The Resource '{resource_type}/{name}' under resource group '{rg}' was not found.")


def _int_share(name: str, value: Any, field: str, limit: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
        raise user_error("InvalidTrafficValue", f"{field} value of deployment '{name}' must be an integer from 0 to {limit}, not {value!r}.",
                         target=f"properties.{field}")
    return value


def check_traffic(traffic: Any, mirror: Any, deployments: list[str]) -> None:
    """The traffic rules (§6): shares of existing deployments summing to 0 or 100; mirror traffic on
    at most one deployment, at most 50 %, and not on one that takes live traffic."""
    known = {d.lower() for d in deployments}
    for field, shares, limit in (("traffic", traffic, 100), ("mirrorTraffic", mirror, 50)):
        if shares is None:
            continue
        if not isinstance(shares, dict):
            raise user_error("InvalidTrafficValue", f"{field} must be a map of deployment name to percent.", target=f"properties.{field}")
        for name, value in shares.items():
            _int_share(name, value, field, limit)
            if name.lower() not in known:
                raise user_error("TrafficDeploymentNotFound",
                                 f"{field} names deployment '{name}', which does not exist in this endpoint "
                                 f"(deployments: {', '.join(sorted(deployments)) or 'none'}).", target=f"properties.{field}")
    total = sum((traffic or {}).values())
    if total not in (0, 100):
        raise user_error("TrafficSumInvalid", f"Traffic values need to sum to 100 (or to 0 to disable traffic); they sum to {total}.",
                         target="properties.traffic")
    positive = {k: v for k, v in (mirror or {}).items() if v}
    if len(positive) > 1:
        raise user_error("MirrorTrafficInvalid", "Mirror traffic can target only one deployment.", target="properties.mirrorTraffic")
    if sum(positive.values()) > 50:
        raise user_error("MirrorTrafficInvalid", "Traffic values need to sum to utmost 50.", target="properties.mirrorTraffic")
    live = {k.lower() for k, v in (traffic or {}).items() if v}
    for name in positive:
        if name.lower() in live:
            raise user_error("MirrorTrafficInvalid",
                             f"Deployment '{name}' takes live traffic; a deployment can take live or mirrored traffic, not both.",
                             target="properties.mirrorTraffic")


def share_of(shares: dict[str, int] | None, name: str) -> int:
    return sum(v for k, v in (shares or {}).items() if k.lower() == name.lower())


def parse_model_id(model: str) -> tuple[str, str, str, str, str] | None:
    m = _MODEL_ID.match(model or "")
    return m.groups() if m else None  # type: ignore[return-value]


class Mlv2Backend:
    def __init__(self, emulator: Any) -> None:
        self.emu = emulator
        self.store = emulator.store
        self._lock = threading.Lock()
        #: endpoint key -> (traffic signature, smooth weighted round-robin state, mirror counter)
        self._routing: dict[str, tuple[str, dict[str, int], int]] = {}
        #: deployment key -> the inference server's log lines (in memory)
        self._logs: dict[str, deque[str]] = {}

    def forget(self) -> None:
        """Drop what is kept in memory (routing state, inference logs): the state was reset."""
        with self._lock:
            self._routing.clear()
            self._logs.clear()

    # --- scope -----------------------------------------------------------------------------------
    def workspace(self, sub: str, rg: str, ws: str) -> dict[str, Any]:
        self.emu.arm.backend.check_scope(sub, rg)
        doc = self.store.get(WORKSPACE, workspace_id(sub, rg, ws).lower())
        if doc is None:
            raise not_found(WS_TYPE, ws, rg)
        return doc

    def _parent(self, sub: str, rg: str, ws: str, kind: str = "workspaces") -> dict[str, Any]:
        try:
            return self.workspace(sub, rg, ws)
        except EmulatorHTTPError as exc:
            if exc.status == 404 and exc.body["error"]["code"] == "ResourceNotFound":
                raise arm_error(404, "ParentResourceNotFound",
                                f"Can not perform requested operation on nested resource. Parent resource '{ws}' not found.") from None
            raise

    def add_workspace(self, sub: str, rg: str, ws: str, location: str, *, friendly_name: str = "") -> dict[str, Any]:
        self.emu.arm.backend.add_subscription(sub, [rg])
        now = iso_ms()
        doc = {"id": workspace_id(sub, rg, ws), "name": ws, "location": location, "workspaceId": str(uuid.uuid4()),
               "friendlyName": friendly_name or ws, "created": now}
        self.store.put(WORKSPACE, doc["id"].lower(), doc)
        return doc

    def workspace_body(self, sub: str, rg: str, ws: str) -> dict[str, Any]:
        doc = self.workspace(sub, rg, ws)
        wid = doc["id"]
        host = self.emu.base_url.split("://", 1)[-1]
        scope = f"/subscriptions/{sub}/resourceGroups/{rg}"
        # UNVERIFIED shape (§15): the emulator's tracking server is itself (issue 16 serves it)
        return {
            "id": wid, "name": doc["name"], "type": WS_TYPE, "location": doc["location"], "tags": {},
            "identity": {"type": "SystemAssigned", "principalId": str(uuid.uuid5(uuid.NAMESPACE_URL, wid + "/principal")),
                         "tenantId": "00000000-0000-4000-8000-0000000000aa"},
            "sku": {"name": "Basic", "tier": "Basic"}, "kind": "Default",
            "properties": {
                "friendlyName": doc["friendlyName"], "workspaceId": doc["workspaceId"], "provisioningState": "Succeeded",
                "storageAccount": f"{scope}/providers/Microsoft.Storage/storageAccounts/devstoreaccount1",
                "keyVault": f"{scope}/providers/Microsoft.KeyVault/vaults/{doc['name'][:16]}kv",
                "applicationInsights": f"{scope}/providers/Microsoft.Insights/components/{doc['name'][:16]}ai",
                "discoveryUrl": f"{self.emu.base_url}/discovery",
                "mlFlowTrackingUri": f"azureml://{host}/mlflow/v1.0{wid}",
                "publicNetworkAccess": "Enabled", "hbiWorkspace": False, "creationTime": doc["created"],
            },
            "systemData": _system_data(doc["created"], doc["created"]),
        }

    # --- operations (the ops clock) ------------------------------------------------------------------
    def new_operation(self, sub: str, location: str, kind: str, action: str, key: str,
                      error: dict[str, str] | None, target: dict[str, str], serving: Any = None) -> dict[str, Any]:
        """A running operation (not stored yet: the caller adds its ``pending`` resource and calls
        :meth:`start_operation` once the resource is stored)."""
        name = f"{OP_PREFIX[kind]}:{uuid.uuid4()}:{uuid.uuid4()}"
        loc = "".join(location.split()).lower() or "local"
        fail = self.emu.take_fault("lro_failure", api="mlv2", operation=OPERATION_IDS[(kind, action)], target=target)
        return {"id": f"/subscriptions/{sub}/providers/{PROVIDER}/locations/{loc}/mfeOperationsStatus/{name}",
                "name": name, "subscription": sub, "location": loc, "kind": kind, "action": action, "resource": key,
                "pending": None, "serving": serving, "status": "InProgress", "startTime": iso_ms(), "endTime": None,
                "created": time.time(), "polls": 0, "transition": self.emu.transition("mlv2_lro"),
                "error": ({"code": fail.get("code") or "InternalServerError",
                           "message": fail.get("message") or "The operation failed (injected by the emulator)."} if fail else error)}

    def aao(self, op: dict[str, Any], api_version: str = API_VERSION) -> str:
        return f"{self.emu.base_url}{op['id']}?api-version={api_version}"

    def start_operation(self, op: dict[str, Any]) -> dict[str, Any]:
        self.store.put(OPERATION, op["name"].lower(), op)
        self.store.put(PENDING, op["name"].lower(), {"name": op["name"]})
        if op["transition"].get("mode") == "immediate":
            return self.advance_operation(op["name"], polled=False) or op
        return op

    def advance_operation(self, name: str, *, polled: bool) -> dict[str, Any] | None:
        with self.store.lock:
            op = self.store.get(OPERATION, name.lower())
            if op is None or op["status"] != "InProgress":
                return op
            if polled:
                op["polls"] += 1
            done, _ = transition_progress(op, time.time())
            if done:
                op["status"] = "Failed" if op.get("error") else "Succeeded"
                op["endTime"] = iso_ms()
                self.store.put(OPERATION, name.lower(), op)
                self.store.delete(PENDING, name.lower())
                self._complete(op)
            else:
                self.store.put(OPERATION, name.lower(), op)
            return op

    def advance_all(self) -> None:
        for key in list(self.store.keys(PENDING)):
            self.advance_operation(key, polled=False)

    def settle_all(self) -> None:
        """Finish every running operation now, whatever its clock (the seed's resources exist already)."""
        for key in list(self.store.keys(PENDING)):
            with self.store.lock:
                op = self.store.get(OPERATION, key)
                if op is not None and op["status"] == "InProgress":
                    op["transition"] = {"mode": "immediate"}
                    self.store.put(OPERATION, key, op)
            self.advance_operation(key, polled=False)

    def observe(self, resource_key: str) -> None:
        """A read of a resource counts as a poll of its running operation (``polls`` mode)."""
        for name in list(self.store.keys(PENDING)):
            op = self.store.get(OPERATION, name)
            if op is not None and op["resource"] == resource_key:
                self.advance_operation(name, polled=True)

    def _complete(self, op: dict[str, Any]) -> None:
        kind = ENDPOINT if op["kind"] == "endpoint" else DEPLOYMENT
        doc = self.store.get(kind, op["resource"])
        if doc is None:
            return
        if op["status"] == "Failed":
            doc["resource"]["properties"]["provisioningState"] = "Failed"
        elif op["action"] == "delete":
            self.store.delete(kind, op["resource"])
            if kind == ENDPOINT:
                for dep in self.store.list(DEPLOYMENT, op["resource"] + "/deployments/"):
                    self.store.delete(DEPLOYMENT, dep["resource"]["id"].lower())
            return
        else:
            doc["resource"] = op["pending"]
            doc["resource"]["properties"]["provisioningState"] = "Succeeded"
            if kind == DEPLOYMENT and op["action"] == "put":
                doc["model"] = op["serving"]
                doc["storageInitializer"] = [f"{iso_ms()} Downloading model {doc['resource']['properties'].get('model')}",
                                             f"{iso_ms()} Model downloaded; starting the inference server."]
                self._log(op["resource"], "Inference server started; model loaded.")
        doc["operation"] = None
        self.store.put(kind, op["resource"], doc)

    def operation_status(self, sub: str, op_name: str) -> dict[str, Any]:
        self.emu.arm.backend.check_scope(sub)
        op = self.store.get(OPERATION, op_name.lower())
        if op is None or op["subscription"].lower() != sub.lower():
            raise arm_error(404, "OperationNotFound", f"The operation '{op_name}' could not be found.")
        op = self.advance_operation(op["name"], polled=True) or op
        body: dict[str, Any] = {"id": op["id"], "name": op["name"], "status": op["status"], "startTime": op["startTime"]}
        if op["endTime"]:
            body["endTime"] = op["endTime"]
        if op["status"] == "Failed":
            body["error"] = dict(op["error"])
        return body

    def _check_busy(self, doc: dict[str, Any] | None, what: str) -> None:
        if doc and doc.get("operation"):
            op = self.store.get(OPERATION, doc["operation"].lower())
            if op and op["status"] == "InProgress":
                raise arm_error(409, "Conflict", f"Another operation is in progress on {what}. Wait for it to finish and retry.")

    # --- envelopes ---------------------------------------------------------------------------------
    @staticmethod
    def _identity(identity: Any, resource_id: str) -> dict[str, Any] | None:
        if not isinstance(identity, dict):
            return None
        out: dict[str, Any] = {"type": identity.get("type", "None")}
        if "SystemAssigned" in str(out["type"]):
            out["principalId"] = str(uuid.uuid5(uuid.NAMESPACE_URL, resource_id.lower() + "/principal"))
            out["tenantId"] = "00000000-0000-4000-8000-0000000000aa"
        if isinstance(identity.get("userAssignedIdentities"), dict):
            out["userAssignedIdentities"] = {
                k: {"principalId": str(uuid.uuid5(uuid.NAMESPACE_URL, k.lower() + "/p")),
                    "clientId": str(uuid.uuid5(uuid.NAMESPACE_URL, k.lower() + "/c"))}
                for k in identity["userAssignedIdentities"]}
        return out

    def _tracked(self, rid: str, name: str, rtype: str, body: dict[str, Any], props: dict[str, Any],
                 created: str, old: dict[str, Any] | None) -> dict[str, Any]:
        r: dict[str, Any] = {"id": rid, "name": name, "type": rtype, "properties": props,
                             "systemData": _system_data(created, iso_ms()), "tags": body.get("tags") or {},
                             "location": body.get("location")}
        if body.get("kind") is not None:
            r["kind"] = body["kind"]
        identity = self._identity(body.get("identity"), rid)
        if identity is None and old is not None:
            identity = old.get("identity")
        if identity is not None:
            r["identity"] = identity
        if isinstance(body.get("sku"), dict):
            r["sku"] = body["sku"]
        elif old is not None and old.get("sku"):
            r["sku"] = old["sku"]
        return r

    @staticmethod
    def _check_tracked_body(body: Any, what: str) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise arm_error(400, "InvalidRequestContent", f"The request content must be a JSON object (an {what}).")
        if not body.get("location"):
            raise arm_error(400, "LocationRequired", "The location property is required for this definition.")
        if not isinstance(body.get("properties"), dict):
            raise arm_error(400, "InvalidRequestContent", f"[Required] 'properties' of the {what} is missing.")
        return body

    # --- online endpoints ----------------------------------------------------------------------------
    def endpoint_key(self, sub: str, rg: str, ws: str, ep: str) -> str:
        return f"{workspace_id(sub, rg, ws)}/onlineEndpoints/{ep}".lower()

    def _endpoint(self, sub: str, rg: str, ws: str, ep: str, *, observe: bool = False) -> dict[str, Any]:
        self.workspace(sub, rg, ws)
        self.advance_all()
        return self._read(ENDPOINT, self.endpoint_key(sub, rg, ws, ep), observe, EP_TYPE, f"{ws}/onlineEndpoints/{ep}", rg)

    def _read(self, kind: str, key: str, observe: bool, rtype: str, name: str, rg: str) -> dict[str, Any]:
        """A stored endpoint or deployment (404 when absent); ``observe``: the read counts as a poll."""
        if observe:
            self.observe(key)
        doc = self.store.get(kind, key)
        if doc is None:
            raise not_found(rtype, name, rg)
        return doc

    def deployment_names(self, ep_key: str) -> list[str]:
        return [d["resource"]["name"] for d in self.store.list(DEPLOYMENT, ep_key + "/deployments/")
                if d["resource"]["properties"].get("provisioningState") != "Deleting"]

    def endpoint_public(self, doc: dict[str, Any]) -> dict[str, Any]:
        r = copy.deepcopy(doc["resource"])
        p = r["properties"]
        p["scoringUri"] = f"{self.emu.base_url}/inference/{doc['scoringId']}/score"
        p["swaggerUri"] = f"{self.emu.base_url}/inference/{doc['scoringId']}/swagger.json"
        order = ("description", "properties", "scoringUri", "swaggerUri", "authMode", "provisioningState", "compute",
                 "traffic", "mirrorTraffic", "publicNetworkAccess")
        r["properties"] = {k: p[k] for k in order if k in p} | {k: v for k, v in p.items() if k not in order}
        return r

    def get_endpoint(self, sub: str, rg: str, ws: str, ep: str) -> dict[str, Any]:
        return self.endpoint_public(self._endpoint(sub, rg, ws, ep, observe=True))

    def list_endpoints(self, sub: str, rg: str, ws: str) -> list[dict[str, Any]]:
        self.workspace(sub, rg, ws)
        self.advance_all()
        return [self.endpoint_public(d) for d in self.store.list(ENDPOINT, workspace_id(sub, rg, ws).lower() + "/onlineendpoints/")]

    def put_endpoint(self, sub: str, rg: str, ws: str, ep: str, body: Any) -> tuple[int, dict[str, Any], dict[str, Any]]:
        self._parent(sub, rg, ws)
        body = self._check_tracked_body(body, "OnlineEndpoint")
        self.advance_all()
        key = self.endpoint_key(sub, rg, ws, ep)
        existing = self.store.get(ENDPOINT, key)
        self._check_busy(existing, f"online endpoint '{ep}'")
        props_in = body["properties"]
        auth = str(props_in.get("authMode") or "")
        canonical = {m.lower(): m for m in AUTH_MODES}.get(auth.lower())
        if canonical is None:
            raise arm_error(400, "InvalidRequestContent", f"[Required] properties.authMode must be one of {', '.join(AUTH_MODES)}, not {auth!r}.")
        traffic = props_in.get("traffic") or {}
        mirror = props_in.get("mirrorTraffic") or {}
        check_traffic(traffic, mirror, self.deployment_names(key) if existing else [])
        old = existing["resource"] if existing else None
        if old is not None and "".join(str(body["location"]).split()).lower() != "".join(str(old["location"]).split()).lower():
            raise user_error("CreateOnlyPropertyChanged", f"The location of online endpoint '{ep}' cannot be changed "
                             f"(current '{old['location']}', requested '{body['location']}').", target="location")
        created = old["systemData"]["createdAt"] if old else iso_ms()
        service_props = dict((old or {}).get("properties", {}).get("properties") or {})
        service_props.update({k: str(v) for k, v in (props_in.get("properties") or {}).items()})  # add-only (§5.2)
        rid = f"{workspace_id(sub, rg, ws)}/onlineEndpoints/{ep}"
        state = "Updating" if existing else "Creating"
        props: dict[str, Any] = {"description": props_in.get("description"), "properties": service_props, "authMode": canonical,
                                 "provisioningState": "Succeeded", "traffic": dict(traffic), "mirrorTraffic": dict(mirror),
                                 "publicNetworkAccess": props_in.get("publicNetworkAccess") or "Enabled"}
        if props["description"] is None:
            del props["description"]
        if props_in.get("compute"):
            props["compute"] = props_in["compute"]
        pending = self._tracked(rid, ep, EP_TYPE, body, props, created, old)
        doc = existing or {"scoringId": hex_id(), "operation": None, "amlTokens": {}}
        if not existing:
            keys = props_in.get("keys") if isinstance(props_in.get("keys"), dict) else {}
            doc["keys"] = {"primaryKey": keys.get("primaryKey") or _new_key(), "secondaryKey": keys.get("secondaryKey") or _new_key()}
        op = self.new_operation(sub, str(body["location"]), "endpoint", "put", key, None, {"endpoint": ep})
        pending["properties"]["properties"].update({"AzureAsyncOperationUri": self.aao(op), "azureml.onlineendpointid": rid.lower(),
                                                    "createdAt": created, "lastModifiedAt": iso_ms()})
        shown, op = self._begin_put(ENDPOINT, key, doc, bool(existing), op, pending, state)
        return (200 if existing else 201), self.endpoint_public({**doc, "resource": shown}), op

    def _begin_put(self, kind: str, key: str, doc: dict[str, Any], existing: bool, op: dict[str, Any],
                   pending: dict[str, Any], state: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """Store the resource as it shows while its PUT runs (a new one as requested, an existing one
        unchanged) and start the operation; returns the PUT's answer and the operation."""
        op["pending"] = pending
        shown = copy.deepcopy(pending)
        shown["properties"]["provisioningState"] = state
        if existing:
            doc["resource"]["properties"]["provisioningState"] = state
        else:
            doc["resource"] = copy.deepcopy(shown)
        doc["operation"] = op["name"]
        self.store.put(kind, key, doc)
        return shown, self.start_operation(op)

    def patch_endpoint(self, sub: str, rg: str, ws: str, ep: str, body: Any) -> dict[str, Any]:
        """PATCH carries only ``tags`` and ``identity`` (PartialMinimalTrackedResourceWithIdentity, §2.1)."""
        _check_patch(body, ("tags", "identity"), "An online endpoint", "send the whole endpoint with PUT (traffic changes are PUTs)")
        doc = self._endpoint(sub, rg, ws, ep)
        self._check_busy(doc, f"online endpoint '{ep}'")
        pending = copy.deepcopy(doc["resource"])
        if body.get("tags") is not None:
            pending["tags"] = body["tags"]
        if body.get("identity") is not None:
            pending["identity"] = self._identity(body["identity"], pending["id"])
        pending["systemData"]["lastModifiedAt"] = iso_ms()
        return self._start(sub, doc, ENDPOINT, "endpoint", "patch", pending, {"endpoint": ep}, "Updating")

    def delete_endpoint(self, sub: str, rg: str, ws: str, ep: str) -> dict[str, Any] | None:
        self.workspace(sub, rg, ws)
        self.advance_all()
        doc = self.store.get(ENDPOINT, self.endpoint_key(sub, rg, ws, ep))
        if doc is None:
            return None
        self._check_busy(doc, f"online endpoint '{ep}'")
        return self._start(sub, doc, ENDPOINT, "endpoint", "delete", None, {"endpoint": ep}, "Deleting")

    def _start(self, sub: str, doc: dict[str, Any], kind: str, rkind: str, action: str, pending: Any,
               target: dict[str, str], state: str) -> dict[str, Any]:
        key = doc["resource"]["id"].lower()
        op = self.new_operation(sub, doc["resource"].get("location") or "", rkind, action, key, None, target,
                                serving=doc.get("model"))
        op["pending"] = pending
        doc["resource"]["properties"]["provisioningState"] = state
        doc["operation"] = op["name"]
        self.store.put(kind, key, doc)
        return self.start_operation(op)

    def list_keys(self, sub: str, rg: str, ws: str, ep: str) -> dict[str, str]:
        doc = self._endpoint(sub, rg, ws, ep)
        return {"primaryKey": doc["keys"]["primaryKey"], "secondaryKey": doc["keys"]["secondaryKey"]}

    def get_token(self, sub: str, rg: str, ws: str, ep: str) -> dict[str, Any]:
        doc = self._endpoint(sub, rg, ws, ep)
        token = "amlws-emulator-amltoken-" + secrets.token_urlsafe(24)
        now = int(time.time())
        tokens = {t: exp for t, exp in (doc.get("amlTokens") or {}).items() if exp > now}
        tokens[token] = now + 3600
        doc["amlTokens"] = tokens
        self.store.put(ENDPOINT, doc["resource"]["id"].lower(), doc)
        return {"accessToken": token, "tokenType": "Bearer", "expiryTimeUtc": now + 3600, "refreshAfterTimeUtc": now + 1800}

    # --- online deployments ------------------------------------------------------------------------------
    def _deployment(self, sub: str, rg: str, ws: str, ep: str, dep: str, *, observe: bool = False) -> dict[str, Any]:
        self._endpoint(sub, rg, ws, ep)
        return self._read(DEPLOYMENT, f"{self.endpoint_key(sub, rg, ws, ep)}/deployments/{dep}".lower(), observe, DEP_TYPE,
                          f"{ws}/onlineEndpoints/{ep}/deployments/{dep}", rg)

    def get_deployment(self, sub: str, rg: str, ws: str, ep: str, dep: str) -> dict[str, Any]:
        return copy.deepcopy(self._deployment(sub, rg, ws, ep, dep, observe=True)["resource"])

    def list_deployments(self, sub: str, rg: str, ws: str, ep: str) -> list[dict[str, Any]]:
        self._endpoint(sub, rg, ws, ep)
        return [d["resource"] for d in self.store.list(DEPLOYMENT, self.endpoint_key(sub, rg, ws, ep) + "/deployments/")]

    def resolve_model(self, model: Any) -> tuple[dict[str, Any] | None, dict[str, str] | None]:
        """``(loaded model, None)`` or ``(None, operation error)``: the deployment loads its model as
        the real one downloads it when it starts; an unknown asset fails the operation (§3's example)."""
        from . import blobs, mlmodel

        if not model:
            return None, None
        parts = parse_model_id(str(model))
        version = None
        if parts:
            sub, rg, ws, name, ver = parts
            version = self.store.get(VERSION, f"{workspace_id(sub, rg, ws).lower()}/models/{name}/versions/{ver}")
        if version is None:
            return None, {"code": "ModelRegistryError", "message": f"Could not find asset with ID: {model}"}
        uri = version["resource"]["properties"].get("modelUri") or ""
        from .mlv2_jobs import JobError

        try:
            if uri.lower().startswith("azureml://"):  # a datastore path or a job's output (§8), resolved in the workspace
                loaded = self.emu.mlv2_jobs.backend.load_model(uri, sub, rg, ws)
            else:
                loaded = self.emu.bes.backend.load_model({"uri": uri}, blobs.accounts_from(self.emu.setting("storage_connection_string")))
        except (blobs.BlobError, mlmodel.ModelError, JobError) as exc:
            return None, {"code": "ResourceNotReady",
                          "message": f"The inference server could not start: the model {uri} could not be loaded: {exc}"}
        return loaded, None

    def put_deployment(self, sub: str, rg: str, ws: str, ep: str, dep: str, body: Any) -> tuple[int, dict[str, Any], dict[str, Any]]:
        self._parent(sub, rg, ws)
        body = self._check_tracked_body(body, "OnlineDeployment")
        self.advance_all()
        ep_key = self.endpoint_key(sub, rg, ws, ep)
        if self.store.get(ENDPOINT, ep_key) is None:
            raise arm_error(404, "ParentResourceNotFound",
                            f"Can not perform requested operation on nested resource. Parent resource '{ws}/{ep}' not found.")
        key = f"{ep_key}/deployments/{dep}".lower()
        existing = self.store.get(DEPLOYMENT, key)
        self._check_busy(existing, f"deployment '{dep}'")
        props_in = copy.deepcopy(body["properties"])
        ctype = props_in.get("endpointComputeType")
        if ctype not in COMPUTE_TYPES:
            raise arm_error(400, "InvalidRequestContent",
                            f"[Required] properties.endpointComputeType must be one of {', '.join(COMPUTE_TYPES)}, not {ctype!r}.")
        old = existing["resource"] if existing else None
        # a create-only property left out of an update keeps its value (a guess: the RP's rule is not documented)
        props_in.setdefault("instanceType", old["properties"].get("instanceType") if old else DEFAULT_INSTANCE_TYPE)
        if old is not None:
            for path in DEPLOYMENT_CREATE_ONLY:
                before, after = _dig(old["properties"], path), _dig(props_in, path)
                if after is not None and before != after:
                    name = ".".join(path)
                    raise user_error("CreateOnlyPropertyChanged",
                                     f"Property '{name}' of deployment '{dep}' can only be set at creation "
                                     f"(current {before!r}, requested {after!r}); create a new deployment instead.",
                                     target=f"properties.{name}")
            if "".join(str(body["location"]).split()).lower() != "".join(str(old["location"]).split()).lower():
                raise user_error("CreateOnlyPropertyChanged", f"The location of deployment '{dep}' cannot be changed.", target="location")
        props = _deployment_defaults(props_in)
        props["provisioningState"] = "Succeeded"
        service_props = dict((old or {}).get("properties", {}).get("properties") or {})
        service_props.update({k: str(v) for k, v in (props_in.get("properties") or {}).items()})
        props["properties"] = service_props
        created = old["systemData"]["createdAt"] if old else iso_ms()
        rid = f"{workspace_id(sub, rg, ws)}/onlineEndpoints/{ep}/deployments/{dep}"
        body = {**body, "sku": body.get("sku") if isinstance(body.get("sku"), dict) else
                ((old or {}).get("sku") or {"name": "Default", "capacity": 1})}
        pending = self._tracked(rid, dep, DEP_TYPE, body, props, created, old)
        loaded, error = self.resolve_model(props.get("model"))
        op = self.new_operation(sub, str(body["location"]), "deployment", "put", key, error,
                                {"endpoint": ep, "deployment": dep}, serving=loaded)
        pending["properties"]["properties"]["AzureAsyncOperationUri"] = self.aao(op)
        doc = existing or {"operation": None, "model": None}
        shown, op = self._begin_put(DEPLOYMENT, key, doc, bool(existing), op, pending, "Updating" if existing else "Creating")
        return (200 if existing else 201), shown, op

    def patch_deployment(self, sub: str, rg: str, ws: str, ep: str, dep: str, body: Any) -> dict[str, Any]:
        """PATCH carries only ``tags`` and ``sku`` (PartialMinimalTrackedResourceWithSku, §5.3): the
        model, code, environment and probes change only through a whole PUT."""
        _check_patch(body, ("tags", "sku"), "A deployment", "send the whole deployment with PUT to change its model")
        doc = self._deployment(sub, rg, ws, ep, dep)
        self._check_busy(doc, f"deployment '{dep}'")
        pending = copy.deepcopy(doc["resource"])
        if body.get("tags") is not None:
            pending["tags"] = body["tags"]
        scaling = False
        if isinstance(body.get("sku"), dict):
            scaling = body["sku"].get("capacity") not in (None, (pending.get("sku") or {}).get("capacity"))
            pending["sku"] = {**(pending.get("sku") or {}), **{k: v for k, v in body["sku"].items() if v is not None}}
        pending["systemData"]["lastModifiedAt"] = iso_ms()
        return self._start(sub, doc, DEPLOYMENT, "deployment", "patch", pending, {"endpoint": ep, "deployment": dep},
                           "Scaling" if scaling else "Updating")

    def delete_deployment(self, sub: str, rg: str, ws: str, ep: str, dep: str) -> dict[str, Any] | None:
        ep_doc = self._endpoint(sub, rg, ws, ep)
        doc = self.store.get(DEPLOYMENT, f"{self.endpoint_key(sub, rg, ws, ep)}/deployments/{dep}".lower())
        if doc is None:
            return None
        props = ep_doc["resource"]["properties"]
        name = doc["resource"]["name"]
        if share_of(props.get("traffic"), name) > 0:
            # message as reported by users (§6); status and code UNVERIFIED
            raise user_error("DeploymentHasTraffic", f"Can't delete deployment [{name}] with non-zero traffic weight")
        if share_of(props.get("mirrorTraffic"), name) > 0:
            raise user_error("DeploymentHasTraffic", f"Can't delete deployment [{name}] with non-zero mirror traffic weight")
        self._check_busy(doc, f"deployment '{dep}'")
        return self._start(sub, doc, DEPLOYMENT, "deployment", "delete", None, {"endpoint": ep, "deployment": dep}, "Deleting")

    def get_logs(self, sub: str, rg: str, ws: str, ep: str, dep: str, body: Any) -> dict[str, str]:
        doc = self._deployment(sub, rg, ws, ep, dep)
        body = body if isinstance(body, dict) else {}
        container = body.get("containerType") or "InferenceServer"
        if container not in ("StorageInitializer", "InferenceServer"):
            raise arm_error(400, "InvalidRequestContent", f"containerType must be StorageInitializer or InferenceServer, not {container!r}.")
        tail = body.get("tail")
        if container == "StorageInitializer":
            lines = list(doc.get("storageInitializer") or [])
        else:
            with self._lock:
                lines = list(self._logs.get(doc["resource"]["id"].lower(), ()))
        if isinstance(tail, int) and not isinstance(tail, bool) and tail > 0:
            lines = lines[-tail:]
        return {"content": "".join(line + "\n" for line in lines)}

    def _log(self, dep_key: str, message: str) -> None:
        with self._lock:
            self._logs.setdefault(dep_key, deque(maxlen=LOG_LINES)).append(f"{iso_ms()} {message}")

    # --- model containers and versions (synchronous) -------------------------------------------------
    def _model_key(self, sub: str, rg: str, ws: str, name: str) -> str:
        return f"{workspace_id(sub, rg, ws).lower()}/models/{name}"  # name and version are case-sensitive (§2.3)

    def container_public(self, doc: dict[str, Any]) -> dict[str, Any]:
        r = copy.deepcopy(doc["resource"])
        versions = [v["resource"]["name"] for v in self.store.list(VERSION, doc["key"] + "/versions/")]
        numbers = [int(v) for v in versions if v.isdigit()]
        if numbers:
            r["properties"]["latestVersion"] = str(max(numbers))
        r["properties"]["nextVersion"] = str(max(numbers, default=0) + 1)
        r["properties"]["provisioningState"] = "Succeeded"
        return r

    def _container(self, sub: str, rg: str, ws: str, name: str) -> dict[str, Any]:
        self.workspace(sub, rg, ws)
        doc = self.store.get(MODEL, self._model_key(sub, rg, ws, name))
        if doc is None:
            raise not_found(MODEL_TYPE, f"{ws}/models/{name}", rg)
        return doc

    def get_model(self, sub: str, rg: str, ws: str, name: str) -> dict[str, Any]:
        return self.container_public(self._container(sub, rg, ws, name))

    def list_models(self, sub: str, rg: str, ws: str) -> list[dict[str, Any]]:
        self.workspace(sub, rg, ws)
        return [self.container_public(d) for d in self.store.list(MODEL, workspace_id(sub, rg, ws).lower() + "/models/")]

    def put_model(self, sub: str, rg: str, ws: str, name: str, body: Any) -> tuple[int, dict[str, Any]]:
        self._parent(sub, rg, ws)
        props_in = _asset_props(body, "ModelContainer")
        key = self._model_key(sub, rg, ws, name)
        existing = self.store.get(MODEL, key)
        created = existing["resource"]["systemData"]["createdAt"] if existing else iso_ms()
        props = {k: props_in[k] for k in ("description", "tags", "properties", "isArchived") if k in props_in}
        doc = {"key": key, "resource": {"id": f"{workspace_id(sub, rg, ws)}/models/{name}", "name": name, "type": MODEL_TYPE,
                                        "properties": props, "systemData": _system_data(created, iso_ms())}}
        self.store.put(MODEL, key, doc)
        return (200 if existing else 201), self.container_public(doc)

    def delete_model(self, sub: str, rg: str, ws: str, name: str) -> bool:
        self.workspace(sub, rg, ws)
        key = self._model_key(sub, rg, ws, name)
        for v in self.store.list(VERSION, key + "/versions/"):
            self.store.delete(VERSION, v["key"])
        return self.store.delete(MODEL, key)

    def get_version(self, sub: str, rg: str, ws: str, name: str, version: str) -> dict[str, Any]:
        self.workspace(sub, rg, ws)
        doc = self.store.get(VERSION, f"{self._model_key(sub, rg, ws, name)}/versions/{version}")
        if doc is None:
            raise not_found(VERSION_TYPE, f"{ws}/models/{name}/versions/{version}", rg)
        return copy.deepcopy(doc["resource"])

    def list_versions(self, sub: str, rg: str, ws: str, name: str, query: dict[str, str]) -> list[dict[str, Any]]:
        self._container(sub, rg, ws, name)
        docs = [d["resource"] for d in self.store.list(VERSION, self._model_key(sub, rg, ws, name) + "/versions/")]
        view = (query.get("listViewType") or "ActiveOnly").lower()
        if view == "activeonly":
            docs = [d for d in docs if not d["properties"].get("isArchived")]
        elif view == "archivedonly":
            docs = [d for d in docs if d["properties"].get("isArchived")]
        if query.get("version"):
            docs = [d for d in docs if d["name"] == query["version"]]
        if "desc" in (query.get("$orderBy") or "").lower():
            docs.reverse()
        return docs

    def put_version(self, sub: str, rg: str, ws: str, name: str, version: str, body: Any) -> tuple[int, dict[str, Any]]:
        """Synchronous; creates the container when absent (azure-ai-ml PUTs the version directly, §8).
        Only description, tags, isArchived and stage change on a re-PUT; a new path is refused."""
        self._parent(sub, rg, ws)
        props_in = _asset_props(body, "ModelVersion")
        mkey = self._model_key(sub, rg, ws, name)
        if self.store.get(MODEL, mkey) is None:
            now = iso_ms()
            self.store.put(MODEL, mkey, {"key": mkey, "resource": {
                "id": f"{workspace_id(sub, rg, ws)}/models/{name}", "name": name, "type": MODEL_TYPE,
                "properties": {"tags": {}, "properties": {}, "isArchived": False},
                "systemData": _system_data(now, now)}})
        key = f"{mkey}/versions/{version}"
        existing = self.store.get(VERSION, key)
        if existing:
            old = existing["resource"]["properties"]
            if "modelUri" in props_in and props_in["modelUri"] != old.get("modelUri"):
                raise user_error("AssetPathImmutable", "Asset paths cannot be updated.")  # status UNVERIFIED (§8)
            props = dict(old)
            props.update({k: props_in[k] for k in ("description", "tags", "isArchived", "stage") if k in props_in})
            created = existing["resource"]["systemData"]["createdAt"]
        else:
            props = {"description": props_in.get("description"), "tags": props_in.get("tags") or {},
                     "properties": props_in.get("properties") or {}, "isArchived": bool(props_in.get("isArchived", False)),
                     "isAnonymous": bool(props_in.get("isAnonymous", False)), "flavors": props_in.get("flavors"),
                     "modelType": props_in.get("modelType") or "custom_model", "modelUri": props_in.get("modelUri"),
                     "jobName": props_in.get("jobName"), "stage": props_in.get("stage")}
            props = {k: v for k, v in props.items() if v is not None}
            created = iso_ms()
        props["provisioningState"] = "Succeeded"
        doc: dict[str, Any] = {"key": key, "resource": {"id": f"{workspace_id(sub, rg, ws)}/models/{name}/versions/{version}", "name": version,
                                        "type": VERSION_TYPE, "properties": props, "systemData": _system_data(created, iso_ms())}}
        self.store.put(VERSION, key, doc)
        return (200 if existing else 201), copy.deepcopy(doc["resource"])

    def delete_version(self, sub: str, rg: str, ws: str, name: str, version: str) -> bool:
        self.workspace(sub, rg, ws)
        return self.store.delete(VERSION, f"{self._model_key(sub, rg, ws, name)}/versions/{version}")

    # --- scoring (data plane, §7) ---------------------------------------------------------------------
    def endpoint_by_scoring_id(self, scoring_id: str) -> dict[str, Any] | None:
        self.advance_all()
        for d in self.store.list(ENDPOINT):
            if d.get("scoringId") == scoring_id:
                return d
        return None

    def authorize(self, doc: dict[str, Any], token: str | None) -> bool:
        mode = doc["resource"]["properties"]["authMode"]
        if not token:
            return False
        if mode == "Key":
            return secrets.compare_digest(token, doc["keys"]["primaryKey"]) or secrets.compare_digest(token, doc["keys"]["secondaryKey"])
        if mode == "AMLToken":
            return (doc.get("amlTokens") or {}).get(token, 0) > time.time()
        return token in self.emu.arm_tokens()  # AADToken: the emulator's Entra tokens (no audience check)

    def route(self, doc: dict[str, Any]) -> tuple[str | None, list[str]]:
        """The deployment an unlabelled request goes to, and the deployments it is mirrored to.

        Deterministic smooth weighted round-robin (nginx's): over any 100 requests each deployment
        gets exactly its share, interleaved (90/10 sends every 10th request to the 10 %); mirror
        traffic copies every request whose running count crosses a multiple of 100/share."""
        props = doc["resource"]["properties"]
        traffic = {k: v for k, v in sorted((props.get("traffic") or {}).items()) if v}
        mirror = {k: v for k, v in sorted((props.get("mirrorTraffic") or {}).items()) if v}
        key = doc["resource"]["id"].lower()
        signature = repr((traffic, mirror))
        with self._lock:
            sig, current, count = self._routing.get(key, ("", {}, 0))
            if sig != signature:
                current, count = {k: 0 for k in traffic}, 0
            chosen = None
            if traffic:
                total = sum(traffic.values())
                for k, w in traffic.items():
                    current[k] += w
                chosen = max(traffic, key=lambda k: current[k])
                current[chosen] -= total
            mirrored = [k for k, share in mirror.items() if (count + 1) * share // 100 > count * share // 100]
            self._routing[key] = (signature, current, count + 1)
        return chosen, mirrored

    def find_deployment(self, ep_doc: dict[str, Any], name: str) -> dict[str, Any] | None:
        for d in self.store.list(DEPLOYMENT, ep_doc["resource"]["id"].lower() + "/deployments/"):
            if d["resource"]["name"].lower() == name.lower():
                return d
        return None

    def predict(self, dep_doc: dict[str, Any], payload: Any) -> list[Any]:
        """MLflow ``input_data`` (split orientation ``{columns, index?, data}`` or a list of records),
        also MLflow 2's ``dataframe_split``/``dataframe_records``: one prediction per row."""
        from . import mlmodel

        model = dep_doc.get("model")
        if model is None:
            raise mlmodel.ModelError("the deployment has no model to serve")
        if not isinstance(payload, dict):
            raise mlmodel.ModelError("the request body must be a JSON object with input_data")
        data = payload.get("input_data", payload.get("dataframe_split", payload.get("dataframe_records")))
        if isinstance(data, list) and all(isinstance(r, dict) for r in data):
            columns = list(dict.fromkeys(k for r in data for k in r))
            rows = [[r.get(c) for c in columns] for r in data]
        elif isinstance(data, dict) and isinstance(data.get("columns"), list) and isinstance(data.get("data"), list):
            columns, rows = data["columns"], data["data"]
        else:
            raise mlmodel.ModelError('expected {"input_data": {"columns": [...], "data": [[...], ...]}} '
                                     'or {"input_data": [{column: value, ...}, ...]}')
        if not all(isinstance(r, list) for r in rows):
            raise mlmodel.ModelError("input_data.data must be a list of rows (lists)")
        out_cols, _types, scored = mlmodel.score_rows(model, [str(c) for c in columns], rows)
        i = out_cols.index("Scored Labels")
        if model.get("algorithm") == "logistic_regression":
            return [r[i] for r in scored]
        return [float(r[i]) for r in scored]

    def log_request(self, dep_doc: dict[str, Any], status: int, rows: int, mirrored: bool = False) -> None:
        self._log(dep_doc["resource"]["id"].lower(),
                  f"POST /score {status} rows={rows}{' (mirrored)' if mirrored else ''}")


def _check_patch(body: Any, allowed: tuple[str, str], what: str, hint: str) -> None:
    if not isinstance(body, dict):
        raise arm_error(400, "InvalidRequestContent", "The request content must be a JSON object.")
    extra = sorted(set(body) - set(allowed))
    if extra:
        raise user_error("PatchPropertyNotAllowed", f"{what} PATCH can change only {' and '.join(allowed)}, not {', '.join(extra)}; {hint}.")


def _new_key() -> str:
    return secrets.token_urlsafe(24)


def _system_data(created: str, modified: str) -> dict[str, str]:
    return {"createdAt": created, "createdBy": "amlws emulator", "createdByType": "User",
            "lastModifiedAt": modified, "lastModifiedBy": "amlws emulator", "lastModifiedByType": "User"}


def _dig(d: dict[str, Any], path: tuple[str, ...]) -> Any:
    for p in path:
        if not isinstance(d, dict):
            return None
        d = d.get(p)  # type: ignore[assignment]
    return d


def _deployment_defaults(props: dict[str, Any]) -> dict[str, Any]:
    """The spec's defaults for what a PUT leaves out (§5.3); what GET echoes is UNVERIFIED."""
    out = copy.deepcopy(props)
    out.setdefault("scaleSettings", {"scaleType": "Default"})
    req = {"maxConcurrentRequestsPerInstance": 1, "requestTimeout": "PT5S"}
    req.update(out.get("requestSettings") or {})
    out["requestSettings"] = req
    for probe in ("livenessProbe", "readinessProbe"):
        p = {"failureThreshold": 30, "successThreshold": 1, "timeout": "PT2S", "period": "PT10S"}
        p.update(out.get(probe) or {})
        out[probe] = p
    out.setdefault("appInsightsEnabled", False)
    out.setdefault("egressPublicNetworkAccess", "Enabled")
    out.pop("provisioningState", None)
    return out


def _asset_props(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("properties"), dict):
        raise arm_error(400, "InvalidRequestContent", f"[Required] the request body must be a {what} with 'properties'.")
    return body["properties"]
