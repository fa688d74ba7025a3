"""Classic web services: workspaces, web services, endpoints (classic REFERENCE §2-3).

Field names are the PascalCase DTO names. Emulator bookkeeping lives under an ``emulator``
key that is never sent: the service kind (training / predictive), the training recipe, the
trained-model resource name and a graph version that ``refresh`` compares (304 when equal).
"""

from __future__ import annotations

import copy
import re
import time
from typing import Any

from .core import hex_id, iso, new_key
from .exceptions import classic_error

WORKSPACE = "classic_workspace"
SERVICE = "classic_service"
ENDPOINT = "classic_endpoint"

ENDPOINT_NAME = re.compile(r"^[a-z0-9]{1,24}$")
DEFAULT_ENDPOINT = "default"


def _svc_key(ws: str, svc: str) -> str:
    return f"{ws}/{svc}".lower()


def _ep_key(ws: str, svc: str, name: str) -> str:
    return f"{ws}/{svc}/{name}".lower()


def public(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in doc.items() if k != "emulator"}


def model_location(loc: dict[str, Any]) -> dict[str, Any]:
    """The ``Location`` a PATCH stores (and whose blob must be readable): the three BES fields."""
    return {"BaseLocation": loc["BaseLocation"], "RelativeLocation": loc["RelativeLocation"], "SasBlobToken": loc.get("SasBlobToken") or ""}


class ClassicBackend:
    def __init__(self, emulator: Any) -> None:
        self.emu = emulator
        self.store = emulator.store

    # --- workspaces -------------------------------------------------------------------------
    def add_workspace(self, ws_id: str, *, name: str = "", region: str = "South Central US", tier: str = "Standard",
                      token: str | None = None, secondary_token: str | None = None,
                      storage_connection_string: str | None = None) -> dict[str, Any]:
        doc = {"id": ws_id, "name": name or ws_id, "region": region, "tier": tier,
               "tokens": [token or hex_id(), secondary_token or hex_id()],
               "storageConnectionString": storage_connection_string}
        self.store.put(WORKSPACE, ws_id.lower(), doc)
        return doc

    def workspace(self, ws: str) -> dict[str, Any]:
        doc = self.store.get(WORKSPACE, ws.lower())
        if doc is None:
            raise classic_error(404, "WorkspaceNotFound", f"Workspace {ws} was not found.")
        return doc

    # --- auth ---------------------------------------------------------------------------------
    def authorize(self, ws: str, token: str | None, svc: str | None = None) -> dict[str, Any]:
        """Workspace token for everything; an endpoint key of ``svc`` for that service's endpoint calls."""
        doc = self.workspace(ws)
        if token and token in doc["tokens"]:
            return doc
        if token and svc:
            for ep in self.store.list(ENDPOINT, _svc_key(ws, svc) + "/"):
                if token in (ep.get("PrimaryKey"), ep.get("SecondaryKey")):
                    return doc
        raise classic_error(401, "ManagementRequestUnauthorized", "Unauthorized")

    # --- web services ----------------------------------------------------------------------------
    def add_service(self, ws: str, svc_id: str, *, name: str, description: str = "", kind: str = "predictive",
                    training: dict[str, Any] | None = None, resource_name: str | None = None,
                    default_model: dict[str, Any] | None = None, default_endpoint: str = DEFAULT_ENDPOINT,
                    default_endpoint_keys: tuple[str, str] | None = None) -> dict[str, Any]:
        self.workspace(ws)
        doc = {"Id": svc_id, "Name": name, "Description": description, "CreationTime": iso(), "WorkspaceId": ws,
               "DefaultEndpointName": default_endpoint,
               "emulator": {"kind": kind, "training": training, "resourceName": resource_name, "graphVersion": 1,
                            "defaultModel": default_model}}
        self.store.put(SERVICE, _svc_key(ws, svc_id), doc)
        self._new_endpoint(ws, doc, default_endpoint, {"Description": "Default endpoint"}, keys=default_endpoint_keys)
        return doc

    def _service(self, ws: str, svc: str) -> dict[str, Any]:
        doc = self.store.get(SERVICE, _svc_key(ws, svc))
        if doc is None:
            if not re.fullmatch(r"[0-9a-fA-F]{32}|[0-9a-fA-F-]{36}", svc):
                raise classic_error(400, "WebServiceIdInvalid", "Web service id should be a valid guid.")
            raise classic_error(404, "WebServiceNotFound", f"Web service {svc} was not found in workspace {ws}.")
        return doc

    def _service_public(self, doc: dict[str, Any]) -> dict[str, Any]:
        out = public(doc)
        out["EndpointCount"] = len(self.store.list(ENDPOINT, _svc_key(doc["WorkspaceId"], doc["Id"]) + "/"))
        return out

    def list_services(self, ws: str) -> list[dict[str, Any]]:
        return [self._service_public(d) for d in self.store.list(SERVICE, ws.lower() + "/")]

    def get_service(self, ws: str, svc: str) -> dict[str, Any]:
        return self._service_public(self._service(ws, svc))

    def put_service(self, ws: str, svc: str, body: Any) -> tuple[int, dict[str, Any]]:
        if not isinstance(body, dict) or not body.get("Name"):
            raise classic_error(400, "RequestBodyInvalid", "The request body must be a JSON object with a Name.")
        existing = self.store.get(SERVICE, _svc_key(ws, svc))
        if existing:
            existing["Name"] = body["Name"]
            existing["Description"] = body.get("Description", existing.get("Description", ""))
            existing["emulator"]["graphVersion"] += 1
            self.store.put(SERVICE, _svc_key(ws, svc), existing)
            return 200, self._service_public(existing)
        doc = self.add_service(ws, svc, name=body["Name"], description=body.get("Description") or "")
        return 201, self._service_public(doc)

    def delete_service(self, ws: str, svc: str) -> None:
        self._service(ws, svc)
        for ep in self.store.list(ENDPOINT, _svc_key(ws, svc) + "/"):
            self.store.delete(ENDPOINT, _ep_key(ws, svc, ep["Name"]))
        self.store.delete(SERVICE, _svc_key(ws, svc))

    def redeploy(self, ws: str, svc: str, model: dict[str, Any] | None = None) -> dict[str, Any]:
        """Simulate redeploying the predictive experiment: new graph version; the default endpoint follows it."""
        doc = self._service(ws, svc)
        doc["emulator"]["graphVersion"] += 1
        if model is not None:
            doc["emulator"]["defaultModel"] = model
        self.store.put(SERVICE, _svc_key(ws, svc), doc)
        default = self.store.get(ENDPOINT, _ep_key(ws, svc, doc["DefaultEndpointName"]))
        if default is not None:
            default["emulator"]["graphVersion"] = doc["emulator"]["graphVersion"]
            default["Resources"] = self._resources(doc)
            self.store.put(ENDPOINT, _ep_key(ws, svc, default["Name"]), default)
        return self._service_public(doc)

    # --- endpoints -------------------------------------------------------------------------------
    def _resources(self, svc_doc: dict[str, Any]) -> list[dict[str, Any]]:
        meta = svc_doc["emulator"]
        if meta["kind"] != "predictive" or not meta.get("resourceName"):
            return []
        loc = meta.get("defaultModel") or {}
        return [{"Name": meta["resourceName"], "Kind": "TrainedModel",
                 "Location": {"BaseLocation": loc.get("BaseLocation", ""), "RelativeLocation": loc.get("RelativeLocation", ""),
                              "SasBlobToken": loc.get("SasBlobToken", "")}}]

    def _new_endpoint(self, ws: str, svc_doc: dict[str, Any], name: str, body: dict[str, Any],
                      keys: tuple[str, str] | None = None) -> dict[str, Any]:
        ep_id = hex_id()
        base = self.emu.base_url
        svc = svc_doc["Id"]
        doc = {
            "Name": name, "Description": body.get("Description") or "", "CreationTime": iso(), "WorkspaceId": ws,
            "WebServiceId": svc, "HelpLocation": f"{base}/studio/apihelp/workspaces/{ws}/webservices/{svc}/endpoints/{ep_id}",
            "PrimaryKey": (keys or (None, None))[0] or new_key(), "SecondaryKey": (keys or (None, None))[1] or new_key(),
            "ApiLocation": f"{base}/workspaces/{ws}/services/{ep_id}", "Version": "2014-09-01",
            "MaxConcurrentCalls": body.get("MaxConcurrentCalls", 4), "DiagnosticsTraceLevel": body.get("DiagnosticsTraceLevel") or "None",
            "ThrottleLevel": body.get("ThrottleLevel") or "Low", "PreventUpdate": bool(body.get("PreventUpdate", False)),
            "SampleDataEnabled": False, "Resources": self._resources(svc_doc),
            "emulator": {"id": ep_id, "graphVersion": svc_doc["emulator"]["graphVersion"], "activateAt": 0},
        }
        self.store.put(ENDPOINT, _ep_key(ws, svc, name), doc)
        return doc

    def _endpoint(self, ws: str, svc: str, name: str) -> dict[str, Any]:
        self._service(ws, svc)
        doc = self.store.get(ENDPOINT, _ep_key(ws, svc, name))
        if doc is None:
            raise classic_error(404, "EndpointNotFound", f"Endpoint {name} was not found in web service {svc}.")
        return doc

    def list_endpoints(self, ws: str, svc: str) -> list[dict[str, Any]]:
        self._service(ws, svc)
        return [public(d) for d in self.store.list(ENDPOINT, _svc_key(ws, svc) + "/")]

    def get_endpoint(self, ws: str, svc: str, name: str) -> dict[str, Any]:
        return public(self._endpoint(ws, svc, name))

    def _throttle(self, ws: str, body: dict[str, Any], current: dict[str, Any] | None) -> tuple[str, int]:
        tier = self.workspace(ws).get("tier", "Standard")
        level = body.get("ThrottleLevel") or (current or {}).get("ThrottleLevel") or "Low"
        if level not in ("Low", "High"):
            raise classic_error(400, "RequestBodyInvalid", f"ThrottleLevel must be Low or High, not {level!r}.")
        if level == "High" and tier == "Free":
            raise classic_error(400, "RequestBodyInvalid", "ThrottleLevel High is available only in a standard workspace.")
        raw = body.get("MaxConcurrentCalls")
        if level == "Low" or raw is None:
            return level, 4 if level == "Low" else int((current or {}).get("MaxConcurrentCalls") or 20)
        try:
            calls = int(str(raw))
        except ValueError:
            raise classic_error(400, "WebServiceConcurrentRequestRequirementInvalid",
                                f"MaxConcurrentCalls must be a number, not {raw!r}.") from None
        if calls > 200:
            raise classic_error(400, "WebServiceTooManyConcurrentRequestRequirement", "Cannot set concurrent request requirement to more than 200.")
        if calls < 1:
            raise classic_error(400, "WebServiceConcurrentRequestRequirementInvalid", "The concurrent request requirement must be at least 1.")
        return level, calls

    def put_endpoint(self, ws: str, svc: str, name: str, body: Any) -> dict[str, Any]:
        svc_doc = self._service(ws, svc)
        body = body if isinstance(body, dict) else {}
        if not ENDPOINT_NAME.match(name):
            raise classic_error(400, "EndpointNameInvalid",
                                "Endpoint names must be 24 character or less in length, and must be made up of lower-case alphabets or numbers.")
        existing = self.store.get(ENDPOINT, _ep_key(ws, svc, name))
        level, calls = self._throttle(ws, body, existing)
        if existing:
            existing.update({"ThrottleLevel": level, "MaxConcurrentCalls": calls})
            if body.get("Description") is not None:
                existing["Description"] = body["Description"]
            self.store.put(ENDPOINT, _ep_key(ws, svc, name), existing)
            return public(existing)
        count = len(self.store.list(ENDPOINT, _svc_key(ws, svc) + "/"))
        if self.workspace(ws).get("tier") == "Free" and count >= 3:
            raise classic_error(400, "RequestBodyInvalid", "A free workspace is limited to 3 endpoints per web service, including the default.")
        doc = self._new_endpoint(ws, svc_doc, name, {**body, "ThrottleLevel": level, "MaxConcurrentCalls": calls})
        return public(doc)

    def patch_endpoint(self, ws: str, svc: str, name: str, body: Any) -> dict[str, Any]:
        svc_doc = self._service(ws, svc)
        ep = self._endpoint(ws, svc, name)
        if not isinstance(body, dict):
            raise classic_error(400, "RequestBodyInvalid", "The request body must be a JSON object.")
        resources = body.get("Resources")
        if resources is not None:
            if name.lower() == svc_doc["DefaultEndpointName"].lower():
                raise classic_error(400, "CannotPatchDefaultEndpoint",
                                    "Default endpoints are kept in sync with the original training and scoring experiments, and "
                                    "therefore the trained model for the default endpoint cannot be replaced. To retrain the web "
                                    "service, you must add a new endpoint.")
            if not isinstance(resources, list) or not resources:
                raise classic_error(400, "RequestBodyInvalid", "Resources must be a non-empty array.")
            names = {r["Name"] for r in ep["Resources"]}
            new_resources = copy.deepcopy(ep["Resources"])
            for res in resources:
                if not isinstance(res, dict):
                    raise classic_error(400, "RequestBodyInvalid", "Each resource must be an object {Name, Location}.")
                rname = res.get("Name") or ""
                if not rname:
                    raise classic_error(400, "RequestBodyInvalid", "Resource name is empty string")
                if rname not in names:
                    listed = ", ".join(sorted(names)) or "none (this web service has no updatable resources)"
                    raise classic_error(400, "RequestBodyInvalid",
                                        f"Resource '{rname}' is not an updatable resource of this endpoint. Updatable resources: {listed}.")
                loc = res.get("Location") or {}
                if not isinstance(loc, dict) or not loc.get("BaseLocation") or not loc.get("RelativeLocation"):
                    raise classic_error(400, "RequestBodyInvalid", "Location needs BaseLocation, RelativeLocation and SasBlobToken.")
                clean = model_location(loc)
                self.emu.check_model_location(clean, self.workspace(ws).get("storageConnectionString"))
                for r in new_resources:
                    if r["Name"] == rname:
                        r["Location"] = clean
            delay = float(self.emu.setting("classic_patch_delay") or 0)
            if delay > 0:
                ep["emulator"]["previousResources"] = ep["Resources"]
                ep["emulator"]["activateAt"] = time.time() + delay
            ep["Resources"] = new_resources
        for field in ("Description", "DiagnosticsTraceLevel"):
            if body.get(field) is not None:
                ep[field] = body[field]
        if body.get("ThrottleLevel") is not None or body.get("MaxConcurrentCalls") is not None:
            ep["ThrottleLevel"], ep["MaxConcurrentCalls"] = self._throttle(ws, body, ep)
        self.store.put(ENDPOINT, _ep_key(ws, svc, name), ep)
        return public(ep)

    def delete_endpoint(self, ws: str, svc: str, name: str) -> None:
        svc_doc = self._service(ws, svc)
        self._endpoint(ws, svc, name)
        if name.lower() == svc_doc["DefaultEndpointName"].lower() and len(self.store.list(ENDPOINT, _svc_key(ws, svc) + "/")) > 1:
            raise classic_error(400, "CannotDeleteDefaultEndpoint",
                                "If you have added additional endpoints to the web service, you cannot delete the default endpoint.")
        self.store.delete(ENDPOINT, _ep_key(ws, svc, name))

    def refresh_endpoint(self, ws: str, svc: str, name: str, body: Any) -> dict[str, Any] | None:
        """Returns the refreshed endpoint, or ``None`` when nothing changed (304)."""
        svc_doc = self._service(ws, svc)
        ep = self._endpoint(ws, svc, name)
        if name.lower() == svc_doc["DefaultEndpointName"].lower():
            raise classic_error(400, "CannotRefreshDefaultEndpoint", "The default endpoint cannot be refreshed.")
        raw = (body or {}).get("OverwriteResources", False) if isinstance(body, dict) else False
        if isinstance(raw, str):
            if raw.lower() not in ("true", "false"):
                raise classic_error(400, "RequestBodyInvalid", f"OverwriteResources must be True or False, not {raw!r}.")
            overwrite = raw.lower() == "true"
        else:
            overwrite = bool(raw)
        latest = self._resources(svc_doc)
        changed = ep["emulator"]["graphVersion"] != svc_doc["emulator"]["graphVersion"]
        if overwrite and ep["Resources"] != latest:
            changed = True
        if not changed:
            return None
        ep["emulator"]["graphVersion"] = svc_doc["emulator"]["graphVersion"]
        if overwrite:
            ep["Resources"] = latest
            ep["emulator"]["activateAt"] = 0
        self.store.put(ENDPOINT, _ep_key(ws, svc, name), ep)
        return public(ep)

    # --- lookups for BES / RRS ---------------------------------------------------------------------
    def find_by_endpoint_id(self, ws: str, ep_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        # every BES/RRS call looks its endpoint up: remember where an id was found (ids never change),
        # so a workspace with hundreds of endpoints is not scanned on each call (bench/bench_fleet.py)
        index: dict[tuple[str, str], str] = self.__dict__.setdefault("_ep_by_id", {})
        known = index.get((ws.lower(), ep_id.lower()))
        candidates = [self.store.get(ENDPOINT, known)] if known else []
        for ep in candidates or self.store.list(ENDPOINT, ws.lower() + "/"):
            if ep is not None and ep["emulator"]["id"] == ep_id.lower():
                svc = self.store.get(SERVICE, _svc_key(ws, ep["WebServiceId"]))
                if svc is not None:
                    index[(ws.lower(), ep_id.lower())] = _ep_key(ws, ep["WebServiceId"], ep["Name"])
                    return svc, ep
        if known:  # moved or deleted: forget it and scan
            index.pop((ws.lower(), ep_id.lower()), None)
            return self.find_by_endpoint_id(ws, ep_id)
        return None

    @staticmethod
    def active_resources(ep: dict[str, Any]) -> list[dict[str, Any]]:
        meta = ep["emulator"]
        if meta.get("activateAt", 0) > time.time() and "previousResources" in meta:
            return meta["previousResources"]
        return ep["Resources"]
