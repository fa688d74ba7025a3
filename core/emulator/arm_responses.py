"""ARM HTTP layer: auth, api-version, status codes and LRO headers (ARM REFERENCE §2, §4)."""

from __future__ import annotations

from typing import Any

from .arm_models import API_VERSION, KNOWN_API_VERSIONS, ArmBackend
from .core import Request, Response
from .exceptions import EmulatorHTTPError, arm_error


def authenticate(req: Request, tokens: list[str]) -> None:
    """ARM's 401s: no ``Authorization`` header, or a bearer token that is not one of ``tokens``
    (ARM and Azure ML v2 share the management endpoint and its tokens)."""
    token = req.bearer()
    if not req.header("authorization"):
        raise arm_error(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.",
                        headers={"WWW-Authenticate": 'Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token"'})
    if token is None or token not in tokens:
        raise arm_error(401, "InvalidAuthenticationToken", "The access token is invalid.",
                        headers={"WWW-Authenticate": 'Bearer error="invalid_token", error_description="The access token is invalid"'})


def missing_api_version() -> EmulatorHTTPError:
    return arm_error(400, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.")


class ArmResponses:
    def __init__(self, emulator: Any) -> None:
        self.emu = emulator
        self.backend = ArmBackend(emulator)

    # --- common checks ------------------------------------------------------------------
    def _check(self, req: Request) -> None:
        authenticate(req, self.emu.arm_tokens())
        version = req.query.get("api-version")
        if not version:
            raise missing_api_version()
        if version not in KNOWN_API_VERSIONS:
            raise arm_error(400, "NoRegisteredProviderFound",
                            f"No registered resource provider found for API version '{version}' and type 'webServices'. "
                            f"The supported api-versions are '{', '.join(KNOWN_API_VERSIONS)}'.")
        if version != API_VERSION:
            raise arm_error(400, "InvalidApiVersionParameter",
                            f"The emulator implements api-version '{API_VERSION}' only; '{version}' is a real version it does not serve.")

    def _lro_headers(self, op: dict[str, Any]) -> dict[str, str]:
        # request/correlation/routing ids and ratelimit headers are added to every ARM answer (server.py)
        return {"Azure-AsyncOperation": f"{self.emu.base_url}{op['id']}?api-version={API_VERSION}",
                "Azure-AsyncOperationPercentComplete": "0"}

    def _args(self, req: Request) -> tuple[str, str, str]:
        p = req.params
        return p["sub"], p["rg"], p["name"]

    def _body(self, req: Request) -> Any:
        return req.json(lambda m: arm_error(400, "InvalidRequestContent", f"The request content was invalid and could not be deserialized: {m}"))

    # --- operations -------------------------------------------------------------------------
    def create_or_update(self, req: Request) -> Response:
        self._check(req)
        status, body, op = self.backend.create_or_update(*self._args(req), self._body(req))
        return Response(status, body, self._lro_headers(op))

    def get(self, req: Request) -> Response:
        self._check(req)
        return Response(200, self.backend.get(*self._args(req), region=req.query.get("region")))

    def patch(self, req: Request) -> Response:
        self._check(req)
        body, op = self.backend.patch(*self._args(req), self._body(req))
        return Response(200, body, self._lro_headers(op))

    def _results_url(self, op: dict[str, Any]) -> str:
        return f"{self.emu.base_url}{op['id'].replace('/operationsStatus/', '/operationresults/')}?api-version={API_VERSION}"

    def delete(self, req: Request) -> Response:
        self._check(req)
        op = self.backend.delete(*self._args(req))
        if op is None:
            return Response(204)
        # as recorded: Azure-AsyncOperation (operationsStatus) and Location (operationresults)
        return Response(202, None, {**self._lro_headers(op), "Location": self._results_url(op)})

    def create_regional(self, req: Request) -> Response:
        self._check(req)
        sub, rg, name = self._args(req)
        op = self.backend.create_regional(sub, rg, name, req.query.get("region"))
        # as recorded: 202 with the resource, provisioning
        return Response(202, self.backend.regional_summary(sub, rg, name), self._lro_headers(op))

    def list_keys(self, req: Request) -> Response:
        self._check(req)
        return Response(200, self.backend.list_keys(*self._args(req)))

    def list_by_resource_group(self, req: Request) -> Response:
        self._check(req)
        sub, rg = req.params["sub"], req.params["rg"]
        return Response(200, self.backend.list(sub, rg, req.query.get("$skiptoken"), self.emu.base_url + req.path))

    def list_by_subscription(self, req: Request) -> Response:
        self._check(req)
        return Response(200, self.backend.list(req.params["sub"], None, req.query.get("$skiptoken"), self.emu.base_url + req.path))

    def operation_status(self, req: Request) -> Response:
        self._check(req)
        p = req.params
        return Response(200, self.backend.operation_status(p["sub"], p["loc"], p["op"]))

    def operation_result(self, req: Request) -> Response:
        """The ``Location`` URL of an operation (ARM's generic polling): 202 while it runs, then
        204 (or the operation's error, as the status URL reports it)."""
        self._check(req)
        p = req.params
        body = self.backend.operation_status(p["sub"], p["loc"], p["op"])
        if body["status"] == "Provisioning":
            return Response(202, None, {"Location": self.emu.base_url + req.path + f"?api-version={API_VERSION}", "Retry-After": "1"})
        if body["status"] == "Failed":
            return Response(400, {"error": body["error"]})
        return Response(204)

    def operations_list(self, req: Request) -> Response:
        self._check(req)
        ops = [("webServices/read", "Read web service"), ("webServices/write", "Create or update web service"),
               ("webServices/delete", "Delete web service"), ("webServices/listKeys/read", "List web service keys")]
        return Response(200, {"value": [{"name": f"Microsoft.MachineLearning/{n}",
                                         "display": {"provider": "Microsoft Machine Learning", "resource": "Web Service",
                                                     "operation": d, "description": d}} for n, d in ops]})

    def payload_blob(self, req: Request) -> Response:
        """The offloaded payload (``payloadsLocation``): no bearer token, the SAS ``sig`` instead."""
        from . import arm_payloads
        from .arm_models import SERVICE

        self.backend.advance_all()
        return arm_payloads.serve(self.emu.store.list(SERVICE), req.params["blob"], req.query.get("sig"))

    def not_found(self, req: Request) -> Response:
        raise arm_error(404, "InvalidResourceType", f"The resource type could not be found for path '{req.path}'.")
