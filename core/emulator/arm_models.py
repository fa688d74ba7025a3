"""ARM ``Microsoft.MachineLearning/webServices`` (api-version 2017-01-01): state and behaviour.

Resources are stored whole (with ``keys``, ``storageAccount.key`` and ``commitmentPlan``);
what GET returns is derived from them. Every PUT/PATCH/DELETE/CreateRegionalBlob creates an
async operation; the change is applied when the operation reaches ``Succeeded``. Operations run
on their own clock, whoever asks (on Azure a PATCH completes by itself and the spec tells callers
to GET the resource): ``time`` (the default) finishes N seconds after the start; ``polls`` (a test
option) after N observations (status URL, operation result, or a read of the resource);
``immediate`` at once.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from . import arm_payloads, arm_schema
from .core import hex_id, iso, new_key, norm_location
from .exceptions import arm_bad_request, arm_error
from .regions import display_name

API_VERSION = "2017-01-01"
KNOWN_API_VERSIONS = ("2016-05-01-preview", "2017-01-01")
RESOURCE_TYPE = "Microsoft.MachineLearning/webServices"
READ_ONLY_PROPERTIES = ("createdOn", "modifiedOn", "provisioningState", "swaggerLocation")
#: omitted from list results ("sparsely populated"; [EX-list-rg])
SPARSE_DROP = ("assets", "package", "input", "output", "parameters", "exampleRequest", "machineLearningWorkspace")

SERVICE = "arm_service"
OPERATION = "arm_operation"
SUBSCRIPTION = "arm_subscription"
PENDING = "arm_pending_operation"
LRO_OPERATIONS = {"put": "WebServices_CreateOrUpdate", "patch": "WebServices_Patch", "delete": "WebServices_Remove",
                  "regional": "WebServices_CreateRegionalProperties"}


def resource_id(sub: str, rg: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{RESOURCE_TYPE}/{name}"


def _key(sub: str, rg: str, name: str) -> str:
    return resource_id(sub, rg, name).lower()


def trained_models(props: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The ``[trained model]`` assets (``type: Resource``) of a service's properties, by asset id."""
    return {k: a for k, a in (props.get("assets") or {}).items()
            if isinstance(a, dict) and str(a.get("name", "")).lower().endswith("[trained model]") and a.get("type") == "Resource"}


def storage_accounts(doc: dict[str, Any]) -> dict[str, str]:
    """Account name -> key the service reads model URIs without a SAS with: its ``storageAccount``."""
    from . import blobs

    accounts = blobs.accounts_from((doc.get("emulator") or {}).get("storageConnectionString"))
    sa = doc["resource"]["properties"].get("storageAccount") or {}
    if sa.get("name") and blobs.valid_account_key(sa.get("key")):  # state files of earlier versions hold a placeholder
        accounts[sa["name"]] = sa["key"]
    return accounts


class ArmBackend:
    def __init__(self, emulator: Any) -> None:
        self.emu = emulator
        self.store = emulator.store

    # --- subscriptions / resource groups ------------------------------------------------
    def add_subscription(self, sub: str, resource_groups: list[str]) -> None:
        doc = self.store.get(SUBSCRIPTION, sub.lower()) or {"subscriptionId": sub, "resourceGroups": []}
        for rg in resource_groups:
            if rg.lower() not in {r.lower() for r in doc["resourceGroups"]}:
                doc["resourceGroups"].append(rg)
        self.store.put(SUBSCRIPTION, sub.lower(), doc)

    def check_scope(self, sub: str, rg: str | None = None) -> str | None:
        """404 for an unknown subscription / resource group; returns the RG's stored spelling."""
        doc = self.store.get(SUBSCRIPTION, sub.lower())
        if doc is None:
            raise arm_error(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")
        if rg is None:
            return None
        for r in doc["resourceGroups"]:
            if r.lower() == rg.lower():
                return r
        raise arm_error(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.")

    # --- reads ---------------------------------------------------------------------------
    def _load(self, sub: str, rg: str, name: str, *, observe: bool = False) -> dict[str, Any]:
        """The stored document; ``observe``: a read that counts as a poll of its running operation."""
        self.advance_all()
        if observe:
            self.observe(_key(sub, rg, name))
        doc = self.store.get(SERVICE, _key(sub, rg, name))
        if doc is None or doc.get("deleted"):
            raise arm_error(404, "ResourceNotFound",
                            f"The Resource '{RESOURCE_TYPE}/{name}' under resource group '{rg}' was not found.")
        return doc

    def public(self, doc: dict[str, Any], *, sparse: bool = False) -> dict[str, Any]:
        r = copy.deepcopy(doc["resource"])
        props = r.get("properties", {})
        props.pop("keys", None)
        props.pop("commitmentPlan", None)
        if isinstance(props.get("storageAccount"), dict):
            props["storageAccount"].pop("key", None)
        if sparse:
            for k in SPARSE_DROP:
                props.pop(k, None)
        arm_payloads.offload(doc, props, self.emu.base_url)
        ordered = {"payloadsInBlobStorage": props.pop("payloadsInBlobStorage", False)}
        ordered.update(props)
        r["properties"] = ordered
        return r

    def get(self, sub: str, rg: str, name: str, region: str | None = None) -> dict[str, Any]:
        self.check_scope(sub, rg)
        doc = self._load(sub, rg, name, observe=True)
        if region and norm_location(region) not in self._regions(doc):
            # as recorded (TestCreateAndGetRegionalProperties): 404, not 400
            raise arm_error(404, "NotFound", "The specified resource was not found.", [{
                "code": "PerRegionPayloadNotFound",
                "message": f"Web Service Definition for region {region} was not found. Please use the same URL "
                           f"making a POST call and wait for it succeeded, then try GET again."}])
        return self.public(doc)

    def _regions(self, doc: dict[str, Any]) -> set[str]:
        return {norm_location(doc["resource"].get("location", ""))} | set(doc.get("regions", []))

    def list(self, sub: str, rg: str | None, skiptoken: str | None, link_base: str) -> dict[str, Any]:
        self.check_scope(sub, rg)
        self.advance_all()
        prefix = f"/subscriptions/{sub}/".lower() if rg is None else resource_id(sub, rg, "").lower()
        docs = [d for d in self.store.list(SERVICE, prefix) if not d.get("deleted")]
        size = int(self.emu.setting("arm_page_size"))
        try:
            start = int(skiptoken or 0)
        except ValueError:
            raise arm_error(400, "InvalidSkipToken", f"The skip token '{skiptoken}' is not valid.") from None
        page = docs[start:start + size]
        out: dict[str, Any] = {"value": [self.public(d, sparse=True) for d in page]}
        if start + size < len(docs):
            out["nextLink"] = f"{link_base}?api-version={API_VERSION}&$skiptoken={start + size}"
        return out

    def list_keys(self, sub: str, rg: str, name: str) -> dict[str, Any]:
        self.check_scope(sub, rg)
        doc = self._load(sub, rg, name, observe=True)
        keys = doc["resource"]["properties"].get("keys") or {}
        return {"primary": keys.get("primary"), "secondary": keys.get("secondary")}

    def find_by_service_id(self, service_id: str) -> dict[str, Any] | None:
        self.advance_all()
        for d in self.store.list(SERVICE):
            if d.get("serviceId") == service_id.lower() and not d.get("deleted"):
                return d
        return None

    # --- validation --------------------------------------------------------------------------
    def validate_body(self, body: Any, *, put: bool) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise arm_error(400, "InvalidRequestContent", "The request content must be a JSON object (a WebService).")
        body = arm_schema.normalize(body)
        problems = arm_schema.errors(body)
        if put and not body.get("location"):
            raise arm_error(400, "LocationRequired", "The location property is required for this definition.")
        if not isinstance(body.get("properties"), dict):
            problems.insert(0, "properties: 'properties' is a required property")
        if problems:
            raise arm_error(400, "BadRequest", "The request is invalid.",
                            [{"code": "InvalidRequestContent", "message": p} for p in problems[:20]])
        body["properties"] = {k: v for k, v in body["properties"].items() if k not in READ_ONLY_PROPERTIES}
        arm_payloads.strip_storage_fields(body["properties"])
        for k in ("id", "name", "type"):
            body.pop(k, None)
        if body.get("location"):
            body["location"] = display_name(body["location"])  # "southcentralus" is answered "South Central US"
        return body

    def _check_immutables(self, old: dict[str, Any], new_props: dict[str, Any]) -> None:
        props = old["properties"]
        if props.get("readOnly"):
            raise arm_bad_request("WebServiceIsReadOnly",
                                  "The web service is read-only: it can no longer be updated or patched, only removed.")
        old_sa = (props.get("storageAccount") or {}).get("name")
        new_sa = (new_props.get("storageAccount") or {}).get("name")
        if new_sa and old_sa and new_sa.lower() != old_sa.lower():
            raise arm_bad_request("CannotChangeStorageAccount",
                                  f"The StorageAccount cannot be changed. Currently configured storage account name = '{old_sa}' .")
        old_cp = (props.get("commitmentPlan") or {}).get("id")
        new_cp = (new_props.get("commitmentPlan") or {}).get("id")
        if new_cp and old_cp and new_cp.lower() != old_cp.lower():
            raise arm_bad_request("CannotChangeCommitmentPlan", "The commitment plan is set at creation time and cannot be changed.")

    # --- writes -------------------------------------------------------------------------------
    def create_or_update(self, sub: str, rg: str, name: str, body: Any) -> tuple[int, dict[str, Any], dict[str, Any]]:
        rg = self.check_scope(sub, rg) or rg
        body = self.validate_body(body, put=True)
        self.advance_all()
        key = _key(sub, rg, name)
        existing = self.store.get(SERVICE, key)
        if existing and existing.get("deleted"):
            existing = None
        self._check_busy(existing, name)
        props = body["properties"]
        now = iso()
        if existing:
            self._check_immutables(existing["resource"], props)
            old = existing["resource"]["properties"]
            props.setdefault("keys", old.get("keys"))
            if (props.get("storageAccount") or {}).get("key") is None and (old.get("storageAccount") or {}).get("key"):
                props.setdefault("storageAccount", {})["key"] = old["storageAccount"]["key"]
            props.setdefault("commitmentPlan", old.get("commitmentPlan"))
            created = old.get("createdOn", now)
        else:
            created = now
        keys = props.get("keys") or {}
        props["keys"] = {"primary": keys.get("primary") or new_key(), "secondary": keys.get("secondary") or new_key()}
        doc = existing or {"serviceId": hex_id(), "regions": [], "emulator": {}, "deleted": False}
        if not existing:
            # a new resource is visible at once, in state Provisioning
            doc["resource"] = self._resource(sub, rg, name, body, doc["serviceId"], created, now, "Provisioning")
        else:
            doc["resource"]["properties"]["provisioningState"] = "Provisioning"
        pending = self._resource(sub, rg, name, body, doc["serviceId"], created, now, "Succeeded")
        error = self._model_error(doc, existing["resource"]["properties"] if existing else {}, pending["properties"])
        op = self.new_operation(sub, body.get("location") or doc["resource"].get("location", ""), key, "put", pending, error)
        doc["operation"] = op["name"]
        self.store.put(SERVICE, key, doc)
        self.settle_immediate(op)
        return (200 if existing else 201), self._initial_body(doc, "put"), op

    def _resource(self, sub: str, rg: str, name: str, body: dict[str, Any], service_id: str, created: str, modified: str,
                  state: str) -> dict[str, Any]:
        props = copy.deepcopy(body["properties"])
        props.setdefault("payloadsInBlobStorage", False)
        props.setdefault("exposeSampleData", True)
        props.update({"createdOn": created, "modifiedOn": modified, "provisioningState": state,
                      "swaggerLocation": f"{self.emu.base_url}/subscriptions/{sub.replace('-', '')}/services/{service_id}/swagger.json"})
        return {"id": resource_id(sub, rg, name), "name": name, "type": RESOURCE_TYPE,
                "location": body.get("location"), "tags": body.get("tags") or {}, "properties": props}

    def _initial_body(self, doc: dict[str, Any], kind: str) -> dict[str, Any]:
        """The answer to the PUT/PATCH itself, as recorded: the envelope and only the provisioning
        state (PUT also ``payloadsInBlobStorage``); the definition comes from the GET afterwards."""
        r = doc["resource"]
        props: dict[str, Any] = {"payloadsInBlobStorage": False} if kind == "put" else {}
        props["provisioningState"] = "Provisioning"
        return {"id": r["id"], "name": r["name"], "type": RESOURCE_TYPE, "location": r.get("location"),
                "tags": r.get("tags") or {}, "properties": props}

    def _check_busy(self, doc: dict[str, Any] | None, name: str) -> None:
        if doc and doc.get("operation"):
            op = self.store.get(OPERATION, doc["operation"])
            if op and op["status"] == "Provisioning":
                raise arm_error(409, "Conflict",
                                f"Another operation is in progress on web service '{name}'. Wait for it to finish and retry.")

    def patch(self, sub: str, rg: str, name: str, body: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        rg = self.check_scope(sub, rg) or rg
        body = self.validate_body(body, put=False)
        doc = self._load(sub, rg, name)
        self._check_busy(doc, name)
        current = doc["resource"]
        self._check_immutables(current, body["properties"])
        merged = copy.deepcopy(current)
        if body.get("tags") is not None:
            merged["tags"] = body["tags"]
        if body.get("location") and norm_location(body["location"]) != norm_location(current.get("location", "")):
            raise arm_bad_request("CannotChangeLocation", "The location of a web service cannot be changed.")
        merged["properties"] = arm_payloads.patch_properties(current["properties"], body["properties"])
        merged["properties"]["modifiedOn"] = iso()
        merged["properties"]["provisioningState"] = "Succeeded"
        key = _key(sub, rg, name)
        error = self._model_error(doc, current["properties"], merged["properties"])
        op = self.new_operation(sub, current.get("location", ""), key, "patch", merged, error)
        doc["operation"] = op["name"]
        doc["resource"]["properties"]["provisioningState"] = "Provisioning"
        self.store.put(SERVICE, key, doc)
        self.settle_immediate(op)
        return self._initial_body(doc, "patch"), op

    def _model_error(self, doc: dict[str, Any], old: dict[str, Any], new: dict[str, Any]) -> dict[str, str] | None:
        """The operation's error when a trained model the change points at cannot be loaded (the
        service loads it to deploy it); the error code is the emulator's own (docs/emulator.md)."""
        accounts = storage_accounts({**doc, "resource": {"properties": new}})
        before = trained_models(old)
        for asset_id, asset in trained_models(new).items():
            location = asset.get("locationInfo") or {}
            if location == (before.get(asset_id) or {}).get("locationInfo"):
                continue
            reason = self.emu.model_load_error(location, accounts)
            if reason is not None:
                return {"code": "TrainedModelLoadFailed",
                        "message": f"The trained model of asset '{asset.get('name')}' could not be loaded: {reason}. "
                                   "The web service keeps its previous model."}
        return None

    def delete(self, sub: str, rg: str, name: str) -> dict[str, Any] | None:
        rg = self.check_scope(sub, rg) or rg
        self.advance_all()
        key = _key(sub, rg, name)
        doc = self.store.get(SERVICE, key)
        if doc is None or doc.get("deleted"):
            return None
        self._check_busy(doc, name)
        op = self.new_operation(sub, doc["resource"].get("location", ""), key, "delete", None)
        doc["operation"] = op["name"]
        doc["resource"]["properties"]["provisioningState"] = "Provisioning"
        self.store.put(SERVICE, key, doc)
        self.settle_immediate(op)
        return op

    def create_regional(self, sub: str, rg: str, name: str, region: str | None) -> dict[str, Any]:
        rg = self.check_scope(sub, rg) or rg
        if not region:
            raise arm_error(400, "MissingRequiredParameter", "The query parameter 'region' is required.")
        doc = self._load(sub, rg, name)
        key = _key(sub, rg, name)
        op = self.new_operation(sub, doc["resource"].get("location", ""), key, "regional", {"region": norm_location(region)})
        self.settle_immediate(op)
        return op

    def regional_summary(self, sub: str, rg: str, name: str) -> dict[str, Any]:
        """What CreateRegionalBlob answers with, as recorded: the bare name as ``id``, no ``tags``."""
        rg = self.check_scope(sub, rg) or rg
        doc = self._load(sub, rg, name)
        r = doc["resource"]
        return {"id": r["name"], "name": r["name"], "type": RESOURCE_TYPE, "location": r.get("location"),
                "properties": {"payloadsInBlobStorage": bool(doc.get("payload")),
                               "provisioningState": "Provisioning"}}

    # --- async operations -----------------------------------------------------------------------
    def operation_status(self, sub: str, location: str, op_id: str) -> dict[str, Any]:
        self.check_scope(sub)
        op = self.store.get(OPERATION, op_id.lower())
        if op is None or op["subscription"].lower() != sub.lower():
            raise arm_error(404, "OperationNotFound", f"The operation '{op_id}' could not be found.")
        op = self.advance_operation(op["name"], polled=True)
        return self.status_body(op)

    @staticmethod
    def status_body(op: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"id": op["id"], "name": op["name"], "status": op["status"], "startTime": op["startTime"]}
        if op["status"] == "Provisioning":
            body["percentComplete"] = op.get("percentComplete", 0.0)
        else:
            body["endTime"] = op["endTime"]
            body["percentComplete"] = 1.0
        if op["status"] == "Failed":
            err = {"code": op["error"]["code"], "message": op["error"]["message"]}
            body["error"] = err
            body["errorInfo"] = dict(err)
        return body

    def complete(self, op: dict[str, Any]) -> None:
        """Apply (or fail) the change an operation carries; called with the store lock held."""
        doc = self.store.get(SERVICE, op["resource"])
        if doc is None:
            return
        if op["status"] == "Failed":
            if op["kind"] in ("put", "patch"):
                doc["resource"]["properties"]["provisioningState"] = "Failed"
            else:
                doc["resource"]["properties"]["provisioningState"] = "Succeeded"
        elif op["kind"] in ("put", "patch"):
            doc["resource"] = op["pending"]
            arm_payloads.after_change(doc, self.emu)
        elif op["kind"] == "delete":
            self.store.delete(SERVICE, op["resource"])
            return
        elif op["kind"] == "regional":
            doc.setdefault("regions", [])
            if op["pending"]["region"] not in doc["regions"]:
                doc["regions"].append(op["pending"]["region"])
        self.store.put(SERVICE, op["resource"], doc)

    def new_operation(self, sub: str, location: str, key: str, kind: str, pending: Any,
                      error: dict[str, str] | None = None) -> dict[str, Any]:
        name = str(__import__("uuid").uuid4())
        t = self.emu.transition("arm_lro")
        fail = self.emu.take_fault("lro_failure", api="arm", operation=LRO_OPERATIONS[kind])
        op = {
            "id": f"/subscriptions/{sub}/providers/Microsoft.MachineLearning/locations/{norm_location(location)}/operationsStatus/{name}",
            "name": name, "subscription": sub, "location": norm_location(location), "resource": key, "kind": kind,
            "pending": pending, "status": "Provisioning", "startTime": iso(), "endTime": None, "percentComplete": 0.0,
            "created": time.time(), "polls": 0, "transition": t,
            "error": ({"code": fail.get("code") or "InternalServerError",
                       "message": fail.get("message") or "The operation failed (injected by the emulator)."} if fail else error),
        }
        self.store.put(OPERATION, name, op)
        self.store.put(PENDING, name, {"name": name})
        return op

    def settle_immediate(self, op: dict[str, Any]) -> None:
        if op["transition"].get("mode") == "immediate":
            self.advance_operation(op["name"], polled=False)

    def advance_operation(self, name: str, *, polled: bool) -> dict[str, Any]:
        with self.store.lock:
            op = self.store.get(OPERATION, name)
            if op is None or op["status"] != "Provisioning":
                return op
            if polled:
                op["polls"] += 1
            done, op["percentComplete"] = transition_progress(op, time.time())
            if done:
                op["status"] = "Failed" if op.get("error") else "Succeeded"
                op["endTime"] = iso()
                op["percentComplete"] = 1.0
                self.store.put(OPERATION, name, op)
                self.store.delete(PENDING, name)
                self.complete(op)
            else:
                self.store.put(OPERATION, name, op)
            return op

    def advance_all(self) -> None:
        for key in list(self.store.keys(PENDING)):
            self.advance_operation(key, polled=False)

    def observe(self, resource_key: str) -> None:
        """A read of a resource counts as a poll of its running operations (``polls`` mode): a client
        that only GETs sees the change land, as on Azure."""
        for name in list(self.store.keys(PENDING)):
            op = self.store.get(OPERATION, name)
            if op is not None and op["resource"] == resource_key:
                self.advance_operation(name, polled=True)


def transition_seconds(transition: dict[str, Any], kind: str) -> float:
    """The duration of an operation of ``kind`` (``perKind`` overrides ``seconds``)."""
    per_kind = transition.get("perKind") or {}
    return float(per_kind.get(kind, transition.get("seconds", 0)))


def transition_progress(op: dict[str, Any], now: float) -> tuple[bool, float]:
    """``(done, percentComplete)`` of a running operation under its transition."""
    t = op["transition"]
    mode = t.get("mode", "time")
    if mode == "immediate":
        return True, 1.0
    if mode == "time":
        seconds = transition_seconds(t, op["kind"])
        elapsed = now - op["created"]
        return elapsed >= seconds, round(min(0.99, elapsed / max(seconds, 0.001)), 2)
    count = int(t.get("count", 1))
    return op["polls"] > count, round(min(0.99, op["polls"] / (count + 1)), 2)
