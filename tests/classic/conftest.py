"""Fixtures for the classic backend tests.

``fake`` is a small stateful stand-in for the classic management API served by
pytest-httpserver over plain http (the classic path has no https enforcement), with
``AMLWS_CLASSIC_ENDPOINT`` pointing at it. Every request the client sends is in
``httpserver.log``; tests assert method, path, query, headers and exact body, and that
nothing mutating was sent when a client-side rule refuses.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from werkzeug import Request, Response

import amlws.plugins.classic as classic_plugin
from amlws.host import Host, check_plugins, get_plugin_manager, register_plugin

REPO = Path(__file__).resolve().parents[2]
SPECS = REPO / "tests" / "data" / "specs" / "classic"
AZUREMLPS_CONFIG = SPECS / "examples" / "azuremlps-README-config.json"

WS = "d2f62586bed343d621441d55b3872d53"
SVC = "af3e3f32ad393852f9b30ac9a35b0001"
TRAIN_SVC = "0f3e3f32ad393852f9b30ac9a35b0002"
TOKEN = "ws-token-0123456789abcdef"
MODEL = "Census Model [trained model]"
OLD_LOCATION = {
    "BaseLocation": "https://esintussouthsus.blob.core.windows.net/",
    "RelativeLocation": "experimentoutput/original/original.ilearner",
    "SasBlobToken": "?sv=2013-08-15&sr=c&sig=OLDSIG%3D&st=2015-01-30T22%3A53%3A06Z&se=2099-01-31T22%3A58%3A06Z&sp=rl",
}
#: The Microsoft docs sample (REFERENCE §3.7) with its 2015 expiry moved to 2099 so the SAS check passes.
MS_SAMPLE_LOCATION = {
    "BaseLocation": "https://esintussouthsus.blob.core.windows.net/",
    "RelativeLocation": "experimentoutput/8946abfd-79d6-4438-89a9-3e5d109183/8946abfd-79d6-4438-89a9-3e5d109183.ilearner",
    "SasBlobToken": "?sv=2013-08-15&sr=c&sig=37lTTfngRwxCcf94%3D&st=2015-01-30T22%3A53%3A06Z&se=2099-01-31T22%3A58%3A06Z&sp=rl",
}


def endpoint_doc(name: str, service: str = SVC, resources: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    doc = {
        "Name": name,
        "Description": f"{name} endpoint",
        "CreationTime": "2016-02-05T04:00:00Z",
        "WorkspaceId": WS,
        "WebServiceId": service,
        "HelpLocation": f"https://studio.azureml.net/apihelp/workspaces/{WS}/webservices/{service}/endpoints/{name}id",
        "PrimaryKey": f"primary-key-{name}-secret==",
        "SecondaryKey": f"secondary-key-{name}-secret==",
        "ApiLocation": f"https://ussouthcentral.services.azureml.net/workspaces/{WS}/services/{name}id",
        "Version": "2016-02-05",
        "MaxConcurrentCalls": 4,
        "DiagnosticsTraceLevel": "None",
        "ThrottleLevel": "Low",
        "PreventUpdate": False,
        "SampleDataEnabled": False,
        "ExperimentLocation": "https://studio.azureml.net/x",
        "Resources": copy.deepcopy(resources) if resources is not None else [
            {"Name": MODEL, "Kind": "TrainedModel", "Location": dict(OLD_LOCATION)}
        ],
        "SomeFieldFromTheFuture": {"kept": True},
    }
    doc.update(extra)
    return doc


class FakeClassic:
    """Workspaces -> web services -> endpoints, answering like REFERENCE §3 (PascalCase)."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.services: dict[str, dict[str, Any]] = {}
        self.endpoints: dict[str, dict[str, dict[str, Any]]] = {}
        #: set to make PATCH accepted but not applied (verification must notice).
        self.ignore_patch = False
        self.refresh_status = 200
        server.expect_request(re.compile(r"^/workspaces/.*")).respond_with_handler(self.handle)

    def add_service(self, svc: str, name: str, *, default: str = "default", resources: list[dict[str, Any]] | None = None) -> None:
        self.services[svc] = {"Id": svc, "Name": name, "Description": name, "CreationTime": "2016-02-05T04:00:00Z",
                              "WorkspaceId": WS, "DefaultEndpointName": default, "EndpointCount": 0, "Extra": 1}
        self.endpoints[svc] = {}
        self.put_endpoint(svc, default, resources)

    def put_endpoint(self, svc: str, name: str, resources: list[dict[str, Any]] | None = None) -> None:
        self.endpoints[svc][name] = endpoint_doc(name, svc, resources)
        self.services[svc]["EndpointCount"] = len(self.endpoints[svc])

    @property
    def requests(self) -> list[Request]:
        return [req for req, _ in self.server.log]

    def methods(self) -> list[str]:
        return [f"{r.method} {r.path}" for r in self.requests]

    def handle(self, request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return _json({"error": {"code": "Unauthorized", "message": "Unauthorized",
                                    "details": [{"code": "ManagementRequestUnauthorized", "message": "Unauthorized"}]}}, 401)
        m = re.match(r"^/workspaces/([^/]+)/webservices(?:/([^/]+)(?:/endpoints(?:/([^/]+)(/refresh)?)?)?)?$", request.path)
        if not m or m.group(1) != WS:
            return _json({"error": {"code": "NotFound", "message": "Not found", "details": [{"code": "WorkspaceNotFound", "message": "no such workspace"}]}}, 404)
        svc, name, refresh = m.group(2), m.group(3), m.group(4)
        if svc is None:
            return _json(list(self.services.values()))
        if svc not in self.services:
            return _json({"error": {"code": "NotFound", "message": "Not found", "details": [
                {"code": "WebServiceIdNotFoundInWorkspace", "message": "There is a mismatch between the webServiceId and the workspaceId"}]}}, 404)
        eps = self.endpoints[svc]
        if name is None and "/endpoints" not in request.path:
            if request.method == "DELETE":
                del self.services[svc]
                return Response(status=204)
            return _json(self.services[svc])
        if name is None:
            return _json(list(eps.values()))
        if request.method == "PUT":
            body = json.loads(request.get_data())
            self.put_endpoint(svc, name, copy.deepcopy(self.endpoints[svc][self.services[svc]["DefaultEndpointName"]]["Resources"]))
            eps[name].update({k: v for k, v in body.items() if v is not None})
            return _json(eps[name])
        if name not in eps:
            return _json({"error": {"code": "NotFound", "message": "Endpoint not found", "details": [{"code": "EndpointNotFound", "message": "no"}]}}, 404)
        if refresh:
            return Response(status=self.refresh_status)
        if request.method == "GET":
            return _json(eps[name])
        if request.method == "PATCH":
            body = json.loads(request.get_data())
            if not self.ignore_patch:
                for res in body["Resources"]:
                    for r in eps[name]["Resources"]:
                        if r["Name"] == res["Name"]:
                            r["Location"] = dict(res["Location"])
            return Response(status=200)
        if request.method == "DELETE":
            del eps[name]
            self.services[svc]["EndpointCount"] = len(eps)
            return Response(status=204)
        return Response(status=405)


def _json(obj: Any, status: int = 200) -> Response:
    return Response(json.dumps(obj), status=status, content_type="application/json; charset=utf-8")


@pytest.fixture
def classic_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, httpserver: Any) -> Path:
    """No AMLWS_* variables from the machine; config in tmp; the management API at httpserver."""
    for name in list(os.environ):
        if name.startswith("AMLWS_") or name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AMLWS_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("AMLWS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("AMLWS_CLASSIC_ENDPOINT", httpserver.url_for("/"))
    monkeypatch.setenv("AMLWS_WORKSPACE_TOKEN", TOKEN)
    monkeypatch.setenv("AMLWS_CHECK_MODEL", "0")  # invented storage hosts: see tests/conftest.py
    return tmp_path


@pytest.fixture
def fake(httpserver: Any, classic_env: Path) -> FakeClassic:
    f = FakeClassic(httpserver)
    f.add_service(SVC, "Census [predictive exp.]")
    f.put_endpoint(SVC, "ep01")
    f.add_service(TRAIN_SVC, "Census [training exp.]", resources=[{"Name": "{}", "Kind": "", "Location": None}])
    return f


@pytest.fixture
def pm() -> Iterator[Any]:
    pm = get_plugin_manager(load_entrypoints=False)
    register_plugin(pm, classic_plugin, "classic")
    check_plugins(pm)
    try:
        yield pm
    finally:
        if pm.is_registered(classic_plugin):
            pm.unregister(classic_plugin)


@pytest.fixture
def host(pm: Any, classic_env: Path) -> Host:
    from amlws.config import Settings

    return Host(pm, Settings.load())


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def run(pm: Any, capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """``run("classic", "endpoints", "list", ...)`` through amlws.cli.application.main and its error boundary."""
    from amlws.cli import application as cli

    def _run(*argv: str) -> Result:
        if cli._registered:
            # Another test module registered the commands with its own plugin manager:
            # add ours (the hook is idempotent).
            classic_plugin.amlws_register_commands(app=cli.app)
        capsys.readouterr()
        code = cli.main(list(argv), pm=pm)
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return _run


def ep_url(base: str, name: str = "ep01", svc: str = SVC, ws: str = WS) -> str:
    return f"{base.rstrip('/')}/workspaces/{ws}/webservices/{svc}/endpoints/{name}"


@pytest.fixture
def cc() -> Any:
    """This module: its constants and helpers (tests cannot import conftest under importlib mode)."""
    import sys

    return sys.modules[__name__]
