"""Classic management API HTTP layer (classic REFERENCE §3): Bearer auth, status codes, bodies."""

from __future__ import annotations

from typing import Any

from .classic_models import ClassicBackend, model_location
from .core import Request, Response
from .exceptions import EmulatorHTTPError, classic_error


def _bad_json(message: str) -> Any:
    return classic_error(400, "RequestBodyInvalid", message)


class ClassicResponses:
    def __init__(self, emulator: Any) -> None:
        self.emu = emulator
        self.backend = ClassicBackend(emulator)

    def _auth(self, req: Request, *, endpoint_level: bool = False) -> None:
        p = req.params
        self.backend.authorize(p["ws"], req.bearer(), p.get("svc") if endpoint_level else None)

    def list_services(self, req: Request) -> Response:
        self._auth(req)
        return Response(200, self.backend.list_services(req.params["ws"]))

    def get_service(self, req: Request) -> Response:
        self._auth(req)
        return Response(200, self.backend.get_service(req.params["ws"], req.params["svc"]))

    def put_service(self, req: Request) -> Response:
        self._auth(req)
        status, body = self.backend.put_service(req.params["ws"], req.params["svc"], req.json(_bad_json))
        return Response(status, body)

    def delete_service(self, req: Request) -> Response:
        self._auth(req)
        self.backend.delete_service(req.params["ws"], req.params["svc"])
        return Response(204)

    def list_endpoints(self, req: Request) -> Response:
        self._auth(req, endpoint_level=True)
        return Response(200, self.backend.list_endpoints(req.params["ws"], req.params["svc"]))

    def get_endpoint(self, req: Request) -> Response:
        self._auth(req, endpoint_level=True)
        p = req.params
        return Response(200, self.backend.get_endpoint(p["ws"], p["svc"], p["ep"]))

    def put_endpoint(self, req: Request) -> Response:
        self._auth(req)
        p = req.params
        return Response(200, self.backend.put_endpoint(p["ws"], p["svc"], p["ep"], req.json(_bad_json, required=False)))

    def prepare_patch_endpoint(self, req: Request) -> None:
        """Read the new models' blobs before the management lock (the server calls this first):
        a PATCH holding the lock while it reads storage would stall every other management call.
        Only successes are remembered; a failing location is read again, under the lock, and
        reported there in the service's order of checks."""
        try:
            self._auth(req, endpoint_level=True)
            body = req.json(_bad_json)
            storage = self.backend.workspace(req.params["ws"]).get("storageConnectionString")
        except EmulatorHTTPError:
            return
        for res in (body.get("Resources") or []) if isinstance(body, dict) else []:
            loc = (res or {}).get("Location") if isinstance(res, dict) else None
            if isinstance(loc, dict) and loc.get("BaseLocation") and loc.get("RelativeLocation"):
                try:
                    self.emu.check_model_location(model_location(loc), storage)
                except EmulatorHTTPError:
                    pass

    def patch_endpoint(self, req: Request) -> Response:
        self._auth(req, endpoint_level=True)
        p = req.params
        return Response(200, self.backend.patch_endpoint(p["ws"], p["svc"], p["ep"], req.json(_bad_json)))

    def delete_endpoint(self, req: Request) -> Response:
        self._auth(req)
        p = req.params
        self.backend.delete_endpoint(p["ws"], p["svc"], p["ep"])
        return Response(204)

    def refresh_endpoint(self, req: Request) -> Response:
        self._auth(req, endpoint_level=True)
        p = req.params
        result = self.backend.refresh_endpoint(p["ws"], p["svc"], p["ep"], req.json(_bad_json, required=False))
        if result is None:
            return Response(304)
        return Response(200, result)

    def not_found(self, req: Request) -> Response:
        raise classic_error(404, "NotFound", f"No such management resource: {req.method} {req.path}")
