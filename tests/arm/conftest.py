"""Fixtures for the ARM backend: a TLS test server standing in for ARM, the CLI runner,
and a jsonschema check of every request body against the official webservices.json."""

from __future__ import annotations

import copy
import json
import ssl
from pathlib import Path
from typing import Any

import pytest
import trustme
from pytest_httpserver import HTTPServer

import amlws
import amlws.plugins.arm
from amlws.cli import application as cli
from amlws.host import get_plugin_manager, register_plugin

REPO = Path(__file__).resolve().parents[2]
SHARED_ARM = REPO / "tests" / "data" / "specs" / "arm"
SPEC_FILE = SHARED_ARM / "stable-2017-01-01" / "webservices.json"
TESTDATA = SHARED_ARM / "testdata" / "GraphWebServiceDefinition_Prod.json"
PACKAGED_SPEC = Path(amlws.__file__).parent / "data" / "arm-webservices-2017-01-01.json"

SUB = "00000000-1111-2222-3333-444444444444"
RG = "rg1"
NAME = "svc1"
WS_PATH = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.MachineLearning/webServices/{NAME}"
API = {"api-version": "2017-01-01"}
TOKEN = "test-arm-token-0123456789"
STORAGE = "mystorage"
OLD_URI = "https://mystorage.blob.core.windows.net/models/old.ilearner"
NEW_BLOB = "https://mystorage.blob.core.windows.net/models/new.ilearner"
NEW_SAS = "sv=2019-02-02&se=2099-01-01T00%3A00%3A00Z&sp=r&sr=b&sig=SECRETSIGNATURE123"


# --- TLS server ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_pem(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("arm-ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture(scope="session")
def arm_server_session(ca: trustme.CA):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture
def server(arm_server_session: HTTPServer) -> HTTPServer:
    """The ARM stand-in. After each test, EVERY request it received is checked: bearer token,
    api-version, and (PUT/PATCH) a body that is valid against webservices.json."""
    arm_server_session.clear()
    yield arm_server_session
    try:
        for request, _ in arm_server_session.log:
            assert request.headers.get("Authorization") == f"Bearer {TOKEN}", request.path
            assert request.args.get("api-version") == "2017-01-01" or "operationresults" in request.path, request.url
            if request.method in ("PUT", "PATCH"):
                validate_request_body(request.get_data())
    finally:
        arm_server_session.clear()


@pytest.fixture
def endpoint(server: HTTPServer) -> str:
    return f"https://127.0.0.1:{server.port}"


@pytest.fixture
def arm_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, endpoint: str, ca_pem: Path) -> dict[str, str]:
    """Environment pointing the ARM backend at the test server (and nothing of the user's)."""
    for name in ("AZURE_SUBSCRIPTION_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET",
                 "AMLWS_PROFILE", "AMLWS_CLOUD", "AMLWS_CREDENTIAL", "AMLWS_SUBSCRIPTION", "AMLWS_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    values = {
        "AMLWS_CONFIG_DIR": str(tmp_path / "config"),
        "AMLWS_STATE_DIR": str(tmp_path / "state"),
        "AMLWS_ARM_ENDPOINT": endpoint,
        "AMLWS_ARM_TOKEN": TOKEN,
        "AMLWS_CA_BUNDLE": str(ca_pem),
        "AMLWS_POLL_INTERVAL": "0.01",
        # Must be ignored: amlws passes its own CA bundle to azure-core (psf/requests#3829).
        "REQUESTS_CA_BUNDLE": str(tmp_path / "no-such-bundle.pem"),
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(tmp_path)
    return values


# --- CLI runner ---------------------------------------------------------------------------------


@pytest.fixture
def pm():
    manager = get_plugin_manager(load_entrypoints=False)
    register_plugin(manager, amlws.plugins.arm, "arm")
    manager.check_pending()
    try:
        yield manager
    finally:
        manager.unregister(name="arm")


class Runner:
    def __init__(self, pm: Any, capsys: pytest.CaptureFixture[str]) -> None:
        self.pm = pm
        self.capsys = capsys

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        saved = (list(cli.app.registered_commands), list(cli.app.registered_groups), cli._registered)
        cli._registered = False
        self.capsys.readouterr()
        try:
            code = cli.main(list(argv), pm=self.pm)
        finally:
            cli.app.registered_commands[:] = saved[0]
            cli.app.registered_groups[:] = saved[1]
            cli._registered = saved[2]
        out, err = self.capsys.readouterr()
        return code, out, err


@pytest.fixture
def run(pm: Any, capsys: pytest.CaptureFixture[str], arm_env: dict[str, str]) -> Runner:
    return Runner(pm, capsys)


# --- documents -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def prod_definition() -> dict[str, Any]:
    """The real definition file of the azure-powershell scenario tests (PascalCase mix)."""
    return json.loads(TESTDATA.read_text(encoding="utf-8-sig"))


def definition_file(tmp_path: Path, live_document: dict[str, Any]) -> Path:
    """An export of ``live_document`` without its location, as ``new --definition-file`` takes it."""
    from amlws.plugins.arm.definition import export_document

    doc = export_document(live_document)
    doc.pop("location")
    path = tmp_path / "def.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def trained_model_asset(uri: str = OLD_URI, name: str = "Retrain Sample [trained model]") -> dict[str, Any]:
    return {"name": name, "type": "Resource", "locationInfo": {"uri": uri}, "outputPorts": {"Results dataset": {"type": "Dataset"}}}


@pytest.fixture
def live_document(prod_definition: dict[str, Any]) -> dict[str, Any]:
    """What GET returns for the walkthrough's predictive service (camelCase, read-only fields, no keys)."""
    from amlws.plugins.arm.definition import normalize

    doc, _ = normalize(copy.deepcopy(prod_definition))
    props = doc["properties"]
    props.pop("keys", None)
    props.pop("commitmentPlan", None)
    props["storageAccount"] = {"name": STORAGE}
    props["assets"]["asset3"] = trained_model_asset()
    props["package"]["nodes"]["node5"] = {"assetId": "asset3"}
    props.update(
        {
            "provisioningState": "Succeeded",
            "createdOn": "2017-04-12T00:39:24.8184359Z",
            "modifiedOn": "2017-04-12T00:39:40.1Z",
            "swaggerLocation": "https://ussouthcentral.services.azureml.net/subscriptions/x/services/y/swagger.json",
        }
    )
    return {"id": WS_PATH, "name": NAME, "type": "Microsoft.MachineLearning/webServices", **doc}


# --- spec validation of request bodies ---------------------------------------------------------------


def _spec() -> dict[str, Any]:
    path = SPEC_FILE if SPEC_FILE.exists() else PACKAGED_SPEC
    return json.loads(path.read_text(encoding="utf-8"))


def _request_schema() -> dict[str, Any]:
    """webservices.json as a jsonschema for REQUEST bodies.

    - allOf chains flattened, so that ``additionalProperties: false`` can reject unknown
      (e.g. PascalCase) property names and read-only properties;
    - the ``packageType`` discriminator resolved to WebServicePropertiesForGraph;
    - AutoRest semantics: ``{"type": "object"}`` without properties is "any"; an enum with
      ``x-ms-enum.modelAsString`` is an open string.
    """
    defs = copy.deepcopy(_spec()["definitions"])

    def flat(name: str) -> dict[str, Any]:
        d = defs[name]
        props: dict[str, Any] = {}
        required: list[str] = []
        for parent in d.get("allOf", []):
            p = flat(parent["$ref"].rsplit("/", 1)[-1])
            props.update(p.get("properties", {}))
            required += p.get("required", [])
        props.update(d.get("properties", {}))
        required += d.get("required", [])
        out = {k: v for k, v in d.items() if k not in ("allOf", "discriminator", "x-ms-discriminator-value")}
        out["properties"] = props
        if required:
            out["required"] = sorted(set(required))
        return out

    def relax(node: Any) -> Any:
        if isinstance(node, dict):
            node = {k: relax(v) for k, v in node.items()}
            if node.get("type") == "object" and not node.get("properties") and "additionalProperties" not in node and "$ref" not in node:
                node.pop("type")
            if (node.get("x-ms-enum") or {}).get("modelAsString"):
                node.pop("enum", None)
            return node
        if isinstance(node, list):
            return [relax(v) for v in node]
        return node

    out = {}
    for name in defs:
        d = flat(name)
        if d.get("properties"):
            d["properties"] = {k: v for k, v in d["properties"].items() if not v.get("readOnly")}
            d.setdefault("additionalProperties", False)
        out[name] = relax(d)
    out["WebService"]["properties"]["properties"] = {"$ref": "#/definitions/WebServicePropertiesForGraph"}
    return {"$ref": "#/definitions/WebService", "definitions": out}


def validate_request_body(body: bytes | str | dict[str, Any]) -> dict[str, Any]:
    """Fail the test unless ``body`` is a valid 2017-01-01 WebService request body."""
    import jsonschema

    doc = body if isinstance(body, dict) else json.loads(body)
    jsonschema.Draft4Validator(_request_schema()).validate(doc)
    return doc


def assert_arm_request(request: Any, method: str, path: str, query: dict[str, str] | None = None) -> None:
    """Method, path, query (api-version) and the bearer token of one logged request."""
    assert request.method == method, (request.method, request.path)
    assert request.path == path
    assert dict(request.args) == (API if query is None else query)
    assert request.headers.get("Authorization") == f"Bearer {TOKEN}"
    if method in ("PUT", "PATCH"):
        assert request.headers.get("Content-Type", "") == "application/json; charset=utf-8"
        validate_request_body(request.get_data())


def async_headers(server: HTTPServer, op: str = "op1", retry_after: str | None = None) -> dict[str, str]:
    url = server.url_for(f"/subscriptions/{SUB}/providers/Microsoft.MachineLearning/locations/southcentralus/operationsStatus/{op}")
    headers = {"Azure-AsyncOperation": url + "?api-version=2017-01-01", "x-ms-request-id": f"req-{op}-initial"}
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    return headers


def op_path(op: str = "op1") -> str:
    return f"/subscriptions/{SUB}/providers/Microsoft.MachineLearning/locations/southcentralus/operationsStatus/{op}"


@pytest.fixture(scope="session")
def h():
    """This module: constants and helpers for the tests (``h.WS_PATH``, ``h.validate_request_body``...)."""
    import sys

    return sys.modules[__name__]
