"""BES and RRS HTTP layer under an ``ApiLocation`` (classic endpoints and ARM services)."""

from __future__ import annotations

from typing import Any

from . import blobs
from .arm_models import storage_accounts, trained_models
from .bes_models import BesBackend, Target
from .classic_models import ClassicBackend
from .core import Request, Response
from .exceptions import classic_error

API_VERSION = "2.0"


def _bad_json(message: str) -> Any:
    return classic_error(400, "RequestBodyInvalid", message)


class BesResponses:
    def __init__(self, emulator: Any) -> None:
        self.emu = emulator
        self.backend = BesBackend(emulator)

    def target(self, req: Request) -> Target:
        p = req.params
        if "ws" in p:
            classic: ClassicBackend = self.emu.classic.backend
            found = classic.find_by_endpoint_id(p["ws"], p["svcid"])
            if found is None:
                raise classic_error(404, "EndpointNotFound", f"No web service endpoint at {req.path.split('/jobs')[0].split('/execute')[0]}.")
            svc, ep = found
            meta = svc["emulator"]
            resources = classic.active_resources(ep)
            ws = classic.workspace(p["ws"])
            return Target(kind="classic", scope=f"classic/{p['ws'].lower()}/{p['svcid'].lower()}",
                          keys=[ep["PrimaryKey"], ep["SecondaryKey"]],
                          training=meta.get("training") if meta["kind"] == "training" else None,
                          model_ref=resources[0]["Location"] if resources else None,
                          storage=ws.get("storageConnectionString"), name=f"{svc['Name']}/{ep['Name']}",
                          accounts=blobs.accounts_from(ws.get("storageConnectionString")))
        doc = self.emu.arm.backend.find_by_service_id(p["svcid"])
        if doc is None or doc["resource"]["id"].split("/")[2].replace("-", "").lower() != p["sub"].replace("-", "").lower():
            raise classic_error(404, "WebServiceNotFound", "No web service at this location.")
        props = doc["resource"]["properties"]
        keys: Any = props.get("keys") or {}  # strings when set; a missing key stays None (no key accepted)
        models = list(trained_models(props).values())
        model_ref = dict(models[0].get("locationInfo") or {}) if models else None
        meta = doc.get("emulator") or {}
        accounts = storage_accounts(doc)
        return Target(kind="arm", scope=f"arm/{doc['serviceId']}", keys=[keys.get("primary"), keys.get("secondary")],
                      training=meta.get("training"), model_ref=model_ref, storage=meta.get("storageConnectionString"),
                      name=doc["resource"]["name"], accounts=accounts)

    def _check(self, req: Request) -> Target:
        target = self.target(req)
        token = req.bearer()
        if not token or token not in [k for k in target.keys if k]:
            raise classic_error(401, "ScoreRequestUnauthorized", "Invalid credentials provided.")
        version = req.query.get("api-version")
        if version != API_VERSION:
            raise classic_error(400, "InvalidApiVersion", f"api-version must be {API_VERSION} (got {version!r}).")
        return target

    def submit(self, req: Request) -> Response:
        target = self._check(req)
        return Response(200, self.backend.submit(target, req.json(_bad_json)))

    def list_jobs(self, req: Request) -> Response:
        return Response(200, self.backend.list_jobs(self._check(req)))

    def start(self, req: Request) -> Response:
        target = self._check(req)
        self.backend.start(target, req.params["job"])
        return Response(200)

    def status(self, req: Request) -> Response:
        target = self._check(req)
        return Response(200, self.backend.status(target, req.params["job"]))

    def cancel(self, req: Request) -> Response:
        target = self._check(req)
        self.backend.cancel(target, req.params["job"])
        return Response(200)

    def execute(self, req: Request) -> Response:
        target = self._check(req)
        swagger = (req.query.get("format") or "").lower() == "swagger"
        return Response(200, self.backend.execute(target, req.json(_bad_json), swagger=swagger))

    def swagger(self, req: Request) -> Response:
        target = self.target(req)
        return Response(200, {"swagger": "2.0", "info": {"title": target.name, "version": "2.0"},
                              "paths": {"/execute": {"post": {"operationId": "execute"}}, "/jobs": {"post": {"operationId": "submitJob"}}}})
