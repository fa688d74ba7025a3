"""Azure ML v2 HTTP layer: auth, api-version, status codes, LRO headers and paging (mlv2 REFERENCE
§1-§3), and the scoring data plane (§7).

The ARM headers every answer carries (request, correlation and routing ids, the ratelimit budget)
are added in one place for ARM and v2 alike: ``Emulator.arm_headers`` in server.py.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from .arm_responses import authenticate, missing_api_version
from .core import Request, Response
from .exceptions import EmulatorHTTPError, arm_error
from .mlv2_models import KNOWN_API_VERSIONS, LRO_TIMEOUT, Mlv2Backend


def _scoring_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> EmulatorHTTPError:
    """A data-plane refusal; the real bodies are UNVERIFIED (§7), the statuses are documented."""
    return EmulatorHTTPError(status, {"error": {"code": code, "message": message}}, headers)


class Mlv2Responses:
    def __init__(self, emulator: Any) -> None:
        self.emu = emulator
        self.backend = Mlv2Backend(emulator)

    # --- common ------------------------------------------------------------------------------
    def _check(self, req: Request) -> str:
        """Authenticate the ARM call and return its api-version."""
        authenticate(req, self.emu.arm_tokens())
        version = req.query.get("api-version")
        if not version:
            raise missing_api_version()
        if version not in KNOWN_API_VERSIONS:
            p = req.params
            rtype = ("workspaces/onlineEndpoints/deployments" if "dep" in p else "workspaces/onlineEndpoints" if "ep" in p
                     else "workspaces/models/versions" if "version" in p else "workspaces/models" if "model" in p
                     else "locations/mfeOperationsStatus" if "op" in p else "workspaces")
            raise arm_error(400, "NoRegisteredProviderFound",
                            f"No registered resource provider found for location '{self._region(req)}' and API version "
                            f"'{version}' for type '{rtype}'. The supported api-versions are "
                            f"'{', '.join(KNOWN_API_VERSIONS)}'.")
        return version

    def _region(self, req: Request) -> str:
        p = req.params
        if {"sub", "rg", "ws"} <= set(p):
            doc = self.emu.store.get("mlv2_workspace", f"/subscriptions/{p['sub']}/resourcegroups/{p['rg']}/providers/"
                                     f"microsoft.machinelearningservices/workspaces/{p['ws']}".lower())
            if doc:
                return str(doc["location"])
        return "unknown"

    def _body(self, req: Request, *, required: bool = True) -> Any:
        return req.json(lambda m: arm_error(400, "InvalidRequestContent",
                                            f"The request content was invalid and could not be deserialized: {m}"), required=required)

    def _ws(self, req: Request) -> tuple[str, str, str]:
        p = req.params
        return p["sub"], p["rg"], p["ws"]

    def _lro(self, op: dict[str, Any], version: str, *, location: bool) -> dict[str, str]:
        """``Azure-AsyncOperation`` on every long-running answer, ``Location`` on the 202s of PATCH and
        DELETE (§2, §3); ``Retry-After`` is not sent (§14.7: whether the RP sends it is UNVERIFIED)."""
        headers = {"Azure-AsyncOperation": self.backend.aao(op, version), "x-ms-async-operation-timeout": LRO_TIMEOUT}
        if location:
            headers["Location"] = (self.emu.base_url + op["id"].replace("/mfeOperationsStatus/", "/mfeOperationResults/")
                                   + f"?api-version={version}")
        return headers

    def _page(self, req: Request, items: list[dict[str, Any]], version: str) -> dict[str, Any]:
        size = int(self.emu.setting("arm_page_size"))
        for name in ("$top", "count"):
            if (req.query.get(name) or "").isdigit() and int(req.query[name]) > 0:
                size = int(req.query[name])
        token = req.query.get("$skipToken") or req.query.get("$skiptoken") or "0"
        if not token.isdigit():
            raise arm_error(400, "InvalidSkipToken", f"The skip token '{token}' is not valid.")
        start = int(token)
        out: dict[str, Any] = {"value": items[start:start + size]}
        if start + size < len(items):
            out["nextLink"] = f"{self.emu.base_url}{req.path}?api-version={version}&$skipToken={start + size}"
        return out

    # --- workspace ---------------------------------------------------------------------------
    def get_workspace(self, req: Request) -> Response:
        self._check(req)
        return Response(200, self.backend.workspace_body(*self._ws(req)))

    # --- online endpoints --------------------------------------------------------------------------
    def list_endpoints(self, req: Request) -> Response:
        version = self._check(req)
        return Response(200, self._page(req, self.backend.list_endpoints(*self._ws(req)), version))

    def get_endpoint(self, req: Request) -> Response:
        self._check(req)
        return Response(200, self.backend.get_endpoint(*self._ws(req), req.params["ep"]))

    def put_endpoint(self, req: Request) -> Response:
        """201 + ``Azure-AsyncOperation`` for a create and for an update alike (§14.8: whether an
        update answers 200 or 201 is UNVERIFIED; both start an operation the client must poll)."""
        version = self._check(req)
        _, body, op = self.backend.put_endpoint(*self._ws(req), req.params["ep"], self._body(req))
        return Response(201, body, self._lro(op, version, location=False))

    def patch_endpoint(self, req: Request) -> Response:
        version = self._check(req)
        op = self.backend.patch_endpoint(*self._ws(req), req.params["ep"], self._body(req))
        return Response(202, None, self._lro(op, version, location=True))

    def delete_endpoint(self, req: Request) -> Response:
        version = self._check(req)
        op = self.backend.delete_endpoint(*self._ws(req), req.params["ep"])
        return Response(204) if op is None else Response(202, None, self._lro(op, version, location=True))

    def list_keys(self, req: Request) -> Response:
        self._check(req)
        return Response(200, self.backend.list_keys(*self._ws(req), req.params["ep"]))

    def get_token(self, req: Request) -> Response:
        self._check(req)
        return Response(200, self.backend.get_token(*self._ws(req), req.params["ep"]))

    # --- online deployments -------------------------------------------------------------------------
    def list_deployments(self, req: Request) -> Response:
        version = self._check(req)
        return Response(200, self._page(req, self.backend.list_deployments(*self._ws(req), req.params["ep"]), version))

    def get_deployment(self, req: Request) -> Response:
        self._check(req)
        return Response(200, self.backend.get_deployment(*self._ws(req), req.params["ep"], req.params["dep"]))

    def put_deployment(self, req: Request) -> Response:
        version = self._check(req)
        _, body, op = self.backend.put_deployment(*self._ws(req), req.params["ep"], req.params["dep"], self._body(req))
        return Response(201, body, self._lro(op, version, location=False))

    def patch_deployment(self, req: Request) -> Response:
        version = self._check(req)
        op = self.backend.patch_deployment(*self._ws(req), req.params["ep"], req.params["dep"], self._body(req))
        return Response(202, None, self._lro(op, version, location=True))

    def delete_deployment(self, req: Request) -> Response:
        version = self._check(req)
        op = self.backend.delete_deployment(*self._ws(req), req.params["ep"], req.params["dep"])
        return Response(204) if op is None else Response(202, None, self._lro(op, version, location=True))

    def get_logs(self, req: Request) -> Response:
        self._check(req)
        body = self._body(req, required=False)
        return Response(200, self.backend.get_logs(*self._ws(req), req.params["ep"], req.params["dep"], body))

    # --- models --------------------------------------------------------------------------------------
    def list_models(self, req: Request) -> Response:
        version = self._check(req)
        return Response(200, self._page(req, self.backend.list_models(*self._ws(req)), version))

    def get_model(self, req: Request) -> Response:
        self._check(req)
        return Response(200, self.backend.get_model(*self._ws(req), req.params["model"]))

    def put_model(self, req: Request) -> Response:
        self._check(req)
        status, body = self.backend.put_model(*self._ws(req), req.params["model"], self._body(req))
        return Response(status, body)

    def delete_model(self, req: Request) -> Response:
        self._check(req)
        return Response(200 if self.backend.delete_model(*self._ws(req), req.params["model"]) else 204)

    def list_versions(self, req: Request) -> Response:
        version = self._check(req)
        items = self.backend.list_versions(*self._ws(req), req.params["model"], req.query)
        return Response(200, self._page(req, items, version))

    def get_version(self, req: Request) -> Response:
        self._check(req)
        return Response(200, self.backend.get_version(*self._ws(req), req.params["model"], req.params["version"]))

    def put_version(self, req: Request) -> Response:
        self._check(req)
        status, body = self.backend.put_version(*self._ws(req), req.params["model"], req.params["version"], self._body(req))
        return Response(status, body)

    def delete_version(self, req: Request) -> Response:
        self._check(req)
        return Response(200 if self.backend.delete_version(*self._ws(req), req.params["model"], req.params["version"]) else 204)

    # --- operations ------------------------------------------------------------------------------------
    def operation_status(self, req: Request) -> Response:
        self._check(req)
        return Response(200, self.backend.operation_status(req.params["sub"], req.params["op"]))

    def operation_result(self, req: Request) -> Response:
        """The ``Location`` URL (§3, form UNVERIFIED): 202 while the operation runs, then 200 with the
        resource (PATCH) or 204 (DELETE), or the operation's error."""
        version = self._check(req)
        status = self.backend.operation_status(req.params["sub"], req.params["op"])
        if status["status"] == "InProgress":
            return Response(202, None, {"Location": f"{self.emu.base_url}{req.path}?api-version={version}"})
        if status["status"] == "Failed":
            return Response(400, {"error": status["error"]})
        op = self.emu.store.get("mlv2_operation", req.params["op"].lower())
        if op and op["action"] == "patch":
            doc = self.emu.store.get("mlv2_endpoint" if op["kind"] == "endpoint" else "mlv2_deployment", op["resource"])
            if doc is not None:
                body = self.backend.endpoint_public(doc) if op["kind"] == "endpoint" else doc["resource"]
                return Response(200, body)
        return Response(204)

    def not_found(self, req: Request) -> Response:
        self._check(req)
        raise arm_error(404, "InvalidResourceType", f"The resource type could not be found for path '{req.path}'.")

    # --- scoring (data plane) ------------------------------------------------------------------------------
    def _scoring_target(self, req: Request) -> dict[str, Any]:
        doc = self.backend.endpoint_by_scoring_id(req.params["scoring"])
        if doc is None:
            raise _scoring_error(404, "NotFound", "No online endpoint is served at this address.")
        if not self.backend.authorize(doc, req.bearer()):
            raise _scoring_error(401, "Unauthorized", "The request is not authorized: send 'Authorization: Bearer <key or token>' "
                                 f"valid for the endpoint's authMode ({doc['resource']['properties']['authMode']}).")
        return doc

    def score(self, req: Request) -> Response:
        from . import mlmodel

        ep = self._scoring_target(req)
        header = req.header("azureml-model-deployment")
        mirrored: list[str] = []
        if header:
            dep = self.backend.find_deployment(ep, header)
            if dep is None:
                raise _scoring_error(404, "DeploymentNotFound", f"The endpoint has no deployment named '{header}'.")
        else:
            chosen, mirrored = self.backend.route(ep)
            dep = self.backend.find_deployment(ep, chosen) if chosen else None
            if dep is None:
                raise _scoring_error(404, "NotFound", "The endpoint doesn't have any valid deployment with positive weight.")
        name = dep["resource"]["name"]
        rid = {"x-request-id": str(uuid.uuid4()), "azureml-model-deployment": name}
        client_id = req.header("x-ms-client-request-id")
        if client_id:
            rid["x-ms-client-request-id"] = "".join(c for c in client_id if c.isalnum() or c in "-_")[:40]
        try:
            payload = json.loads(req.body.decode("utf-8-sig")) if req.body.strip() else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            payload = None
        rows = _row_count(payload)
        for mirror in mirrored:  # a copy whose answer is dropped (§6)
            mdep = self.backend.find_deployment(ep, mirror)
            if mdep is not None:
                self.backend.log_request(mdep, 200, rows, mirrored=True)
        fault = self.emu.take_fault("scoring_failure", api="mlv2-scoring", operation="OnlineEndpoints_Score",
                                    target={"endpoint": ep["resource"]["name"], "deployment": name})
        if fault is not None:
            status = int(fault.get("status") or 424)
            self.backend.log_request(dep, status, rows)
            headers = {**rid, "ms-azureml-model-error-statuscode": "500", "ms-azureml-model-error-reason": "model_error"} \
                if status == 424 else rid
            raise _scoring_error(status, "ModelError" if status == 424 else "InjectedFault",
                                 fault.get("message") or "An unexpected error occurred in the scoring script (injected by the emulator).",
                                 headers)
        try:
            predictions = self.backend.predict(dep, payload)
        except mlmodel.ModelError as exc:
            # the container's 400, reported by the platform as 424 with the container's status (§7)
            self.backend.log_request(dep, 400, rows)
            raise _scoring_error(424, "ModelError", f"The model could not score the request: {exc}",
                                 {**rid, "ms-azureml-model-error-statuscode": "400",
                                  "ms-azureml-model-error-reason": "model_error"}) from None
        self.backend.log_request(dep, 200, rows)
        return Response(200, predictions, rid)

    def swagger(self, req: Request) -> Response:
        ep = self._scoring_target(req)
        return Response(200, {"swagger": "2.0", "info": {"title": ep["resource"]["name"], "version": "1.0"},
                              "paths": {"/score": {"post": {"consumes": ["application/json"], "produces": ["application/json"]}}}})


def _row_count(payload: Any) -> int:
    if not isinstance(payload, dict):
        return 0
    data = payload.get("input_data", payload.get("dataframe_split", payload.get("dataframe_records")))
    if isinstance(data, dict):
        data = data.get("data")
    return len(data) if isinstance(data, list) else 0
