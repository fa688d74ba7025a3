"""The v2 backend on the wire: every official example (tests/data/specs/mlv2/examples) replayed
against a TLS stand-in for ARM -- method, path, api-version and exact body of each request, each PUT
body valid against the swagger excerpt (:func:`amlws.plugins.mlv2.schema.validate`) -- and the
request count of an update: GET, GET the model version, PUT, polls, GET, nothing more."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from amlws.config import Settings
from amlws.plugins.mlv2 import schema
from amlws.plugins.mlv2.client import V2Client

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "specs" / "mlv2" / "examples"
TOKEN = "mlv2-wire-test-token-0123456789"
API = "2025-12-01"
PROVIDER = "providers/Microsoft.MachineLearningServices"


def example(path: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / path).read_text(encoding="utf-8"))


def workspace(p: dict[str, Any]) -> str:
    return f"/subscriptions/{p['subscriptionId']}/resourceGroups/{p['resourceGroupName']}/{PROVIDER}/workspaces/{p['workspaceName']}"


def endpoint(p: dict[str, Any]) -> str:
    return workspace(p) + f"/onlineEndpoints/{p['endpointName']}"


def deployment(p: dict[str, Any]) -> str:
    return endpoint(p) + f"/deployments/{p['deploymentName']}"


@pytest.fixture
def arm(tls_httpserver: HTTPServer) -> Iterator[HTTPServer]:
    """The ARM stand-in; after each test, every request carried the token and the api-version."""
    tls_httpserver.clear()
    yield tls_httpserver
    try:
        for request, _ in tls_httpserver.log:
            assert request.headers.get("Authorization") == f"Bearer {TOKEN}", request.url
            assert request.args.get("api-version") == API, request.url
    finally:
        tls_httpserver.clear()


@pytest.fixture
def settings(arm: HTTPServer, ca: trustme.CA, tmp_path: Path) -> Settings:
    pem = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    return Settings(env={"AMLWS_ARM_ENDPOINT": f"https://127.0.0.1:{arm.port}", "AMLWS_ARM_TOKEN": TOKEN,
                         "AMLWS_CA_BUNDLE": str(pem), "AMLWS_POLL_INTERVAL": "0.01"})


@pytest.fixture
def client(settings: Settings) -> Iterator[V2Client]:
    with V2Client(settings, sleep=lambda _s: None) as c:
        yield c


def seen(server: HTTPServer) -> list[tuple[str, str, str | None]]:
    return [(r.method, r.path, r.args.get("api-version")) for r, _ in server.log]


def body_of(request: Request) -> Any:
    return json.loads(request.get_data()) if request.get_data() else None


# --- reads --------------------------------------------------------------------------------------

READS = [
    ("OnlineDeployment/ManagedOnlineDeployment/get.json", deployment, lambda c, rid: c.get_deployment(rid)),
    ("Workspace/OnlineEndpoint/get.json", endpoint, lambda c, rid: c.get_endpoint(rid)),
    ("Workspace/ModelContainer/get.json", lambda p: workspace(p) + f"/models/{p['name']}",
     lambda c, rid: c.get_model_container(rid.split("/models/")[0], rid.rsplit("/", 1)[1])),
    ("Workspace/ModelVersion/get.json", lambda p: workspace(p) + f"/models/{p['name']}/versions/{p['version']}",
     lambda c, rid: c.get_model_version(rid)),
]


@pytest.mark.parametrize(("name", "path_of", "call"), READS, ids=[r[0] for r in READS])
def test_get_examples(arm: HTTPServer, client: V2Client, name: str, path_of: Any, call: Any) -> None:
    ex = example(name)
    path = path_of(ex["parameters"])
    arm.expect_request(path, method="GET").respond_with_json(ex["responses"]["200"]["body"])
    assert call(client, path) == ex["responses"]["200"]["body"]
    assert seen(arm) == [("GET", path, API)]


LISTS = [
    ("OnlineDeployment/list.json", lambda p: endpoint(p) + "/deployments", lambda c, p: c.list_deployments(endpoint(p))),
    ("Workspace/ModelContainer/list.json", lambda p: workspace(p) + "/models", lambda c, p: c.list_models(workspace(p))),
    ("Workspace/ModelVersion/list.json", lambda p: workspace(p) + f"/models/{p['name']}/versions",
     lambda c, p: c.list_model_versions(workspace(p), p["name"])),
]


@pytest.mark.parametrize(("name", "path_of", "call"), LISTS, ids=[r[0] for r in LISTS])
def test_list_examples(arm: HTTPServer, client: V2Client, name: str, path_of: Any, call: Any) -> None:
    """The example page (its nextLink names management.azure.com: served as the last page)."""
    ex = example(name)
    page = {k: v for k, v in ex["responses"]["200"]["body"].items() if k != "nextLink"}
    path = path_of(ex["parameters"])
    arm.expect_request(path, method="GET").respond_with_json(page)
    assert call(client, ex["parameters"]) == page["value"]
    assert seen(arm) == [("GET", path, API)]


def test_get_logs_example(arm: HTTPServer, client: V2Client) -> None:
    ex = example("OnlineDeployment/getLogs.json")
    p = ex["parameters"]
    arm.expect_request(deployment(p) + "/getLogs", method="POST").respond_with_json(ex["responses"]["200"]["body"])
    assert client.get_logs(deployment(p), container=p["body"]["containerType"], tail=p["body"]["tail"]) == "string"
    (request, _), = arm.log
    assert (request.method, request.path, request.args["api-version"]) == ("POST", deployment(p) + "/getLogs", API)
    assert body_of(request) == p["body"]


# --- changes --------------------------------------------------------------------------------------


def serve_lro(arm: HTTPServer, path: str, final: dict[str, Any], *, polls: int = 2) -> None:
    """PUT -> 201 with ``Azure-AsyncOperation``; the status answers InProgress ``polls - 1`` times, then
    Succeeded; the SDK's final GET of the resource answers ``final``."""
    status = f"/subscriptions/s/{PROVIDER}/locations/eastus/mfeOperationsStatus/op1"
    answers = iter(["InProgress"] * (polls - 1) + ["Succeeded"])

    def put(request: Request) -> Response:
        return Response(json.dumps({**body_of(request), "properties": {**body_of(request)["properties"],
                                                                        "provisioningState": "Updating"}}),
                        status=201, content_type="application/json",
                        headers={"Azure-AsyncOperation": f"https://127.0.0.1:{arm.port}{status}?api-version={API}"})

    arm.expect_request(path, method="PUT").respond_with_handler(put)
    arm.expect_request(status, method="GET").respond_with_handler(
        lambda _r: Response(json.dumps({"status": next(answers)}), content_type="application/json"))
    arm.expect_request(path, method="GET").respond_with_json(final)


def succeeded(document: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(document)
    out["properties"]["provisioningState"] = "Succeeded"
    return out


PUTS = [
    ("OnlineDeployment/ManagedOnlineDeployment/createOrUpdate.json", deployment, "OnlineDeploymentTrackedResource",
     lambda c, rid, body: c.put_deployment(rid, body, verb="create")),
    ("Workspace/OnlineEndpoint/createOrUpdate.json", endpoint, "OnlineEndpointTrackedResource",
     lambda c, rid, body: c.put_endpoint(rid, body)),
]


@pytest.mark.parametrize(("name", "path_of", "definition", "call"), PUTS, ids=[r[0] for r in PUTS])
def test_long_running_put_examples(arm: HTTPServer, client: V2Client, name: str, path_of: Any, definition: str,
                                   call: Any) -> None:
    ex = example(name)
    body = ex["parameters"]["body"]
    assert schema.validate(body, definition) == []
    path = path_of(ex["parameters"])
    final = succeeded(ex["responses"]["200"]["body"])
    serve_lro(arm, path, final)
    assert call(client, path, body) == final
    methods = [(m, p) for m, p, _ in seen(arm)]
    assert methods[0] == ("PUT", path) and methods[-1] == ("GET", path)
    assert all("mfeOperationsStatus" in p for _, p in methods[1:-1]) and len(methods) == 4
    put_request = arm.log[0][0]
    assert body_of(put_request) == body
    assert schema.validate(body_of(put_request), definition) == []


def test_model_version_put_example(arm: HTTPServer, client: V2Client) -> None:
    ex = example("Workspace/ModelVersion/createOrUpdate.json")
    p, body = ex["parameters"], ex["parameters"]["body"]
    path = workspace(p) + f"/models/{p['name']}/versions/{p['version']}"
    arm.expect_request(path, method="PUT").respond_with_json(ex["responses"]["201"]["body"], status=201)
    assert client.put_model_version(workspace(p), p["name"], p["version"], body) == ex["responses"]["201"]["body"]
    assert seen(arm) == [("PUT", path, API)]
    assert body_of(arm.log[0][0]) == body
    assert schema.validate(body_of(arm.log[0][0]), "ModelVersionResource") == []


@pytest.mark.parametrize("name", ["Workspace/OnlineDeployment/delete.json"])
def test_delete_example(arm: HTTPServer, client: V2Client, name: str) -> None:
    """DELETE -> 202 with ``Location`` (the example's header, on the stand-in), polled to 204... no: to 200."""
    p = example(name)["parameters"]
    path = deployment(p)
    arm.expect_request(path, method="DELETE").respond_with_response(
        Response(status=202, headers={"Location": f"https://127.0.0.1:{arm.port}/example_location?api-version={API}"}))
    arm.expect_request("/example_location", method="GET").respond_with_response(Response(status=200))
    client.delete_deployment(path)
    assert [(m, pth) for m, pth, _ in seen(arm)] == [("DELETE", path), ("GET", "/example_location")]


# --- the update of a deployment: its requests, nothing more ---------------------------------------------

SUB = "00000000-1111-2222-3333-444444444444"
WS = f"/subscriptions/{SUB}/resourceGroups/rg1/{PROVIDER}/workspaces/ws1"
DEP = WS + "/onlineEndpoints/ep1/deployments/blue"
MODEL_1 = WS + "/models/m/versions/1"
MODEL_2 = WS + "/models/m/versions/2"


def live_deployment(model: str = MODEL_1) -> dict[str, Any]:
    return {"id": DEP, "name": "blue", "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments",
            "location": "westus2", "sku": {"name": "Default", "capacity": 1},
            "properties": {"endpointComputeType": "Managed", "instanceType": "Standard_DS3_v2", "model": model,
                           "provisioningState": "Succeeded", "scaleSettings": {"scaleType": "Default"}}}


def test_update_sends_get_get_model_put_polls_get_and_nothing_more(arm: HTTPServer, settings: Settings) -> None:
    from amlws.model import Definition
    from amlws.plugins.mlv2.backend import make_target, update
    from amlws.plugins.mlv2.definition import export_document

    target = make_target(DEP)
    assert target is not None
    sent = export_document(live_deployment(MODEL_2))
    arm.expect_ordered_request(DEP, method="GET").respond_with_json(live_deployment())
    arm.expect_ordered_request(MODEL_2, method="GET").respond_with_json({"id": MODEL_2, "name": "2", "properties": {}})
    serve_lro(arm, DEP, live_deployment(MODEL_2), polls=3)
    result = update(target, Definition("mlv2", sent), settings)
    assert result.verified and result.details["model"]["live"] == MODEL_2
    methods = [(m, p) for m, p, _ in seen(arm)]
    assert methods[:3] == [("GET", DEP), ("GET", MODEL_2), ("PUT", DEP)]
    assert methods[3:6] == [("GET", methods[3][1])] * 3 and "mfeOperationsStatus" in methods[3][1]
    assert methods[6:] == [("GET", DEP)]
    assert result.requests == 7
    put_body = body_of(next(r for r, _ in arm.log if r.method == "PUT"))
    assert put_body == sent and "provisioningState" not in put_body["properties"]
    assert schema.validate(put_body, "OnlineDeploymentTrackedResource") == []


def test_update_of_a_missing_model_version_sends_no_put(arm: HTTPServer, settings: Settings) -> None:
    from amlws.errors import ExitCode, NotFoundError
    from amlws.model import Definition
    from amlws.plugins.mlv2.backend import make_target, update
    from amlws.plugins.mlv2.definition import export_document

    target = make_target(DEP)
    assert target is not None
    arm.expect_request(DEP, method="GET").respond_with_json(live_deployment())
    arm.expect_request(MODEL_2, method="GET").respond_with_json(
        {"error": {"code": "UserError", "message": "Not found"}}, status=404)
    with pytest.raises(NotFoundError) as info:
        update(target, Definition("mlv2", export_document(live_deployment(MODEL_2))), settings)
    assert info.value.exit_code == ExitCode.NOT_FOUND and "m:2 does not exist" in info.value.message
    assert [m for m, _, _ in seen(arm)] == ["GET", "GET"]


@pytest.mark.parametrize("model", [MODEL_2, "azureml://registries/shared/models/m/versions/4"])
def test_a_model_version_is_not_checked_as_a_blob(model: str) -> None:
    """The trained-model check before an update (HEAD of a blob) leaves a model version to the service:
    a registry id is not an ``.ilearner`` URL to refuse."""
    import amlws.plugins.mlv2
    from amlws.host import Host, get_plugin_manager, register_plugin
    from amlws.model import Definition
    from amlws.safety.modelcheck import check_references, references

    pm = get_plugin_manager(load_entrypoints=False)
    register_plugin(pm, amlws.plugins.mlv2, "mlv2")
    host = Host(pm, Settings(env={}))
    definition = Definition("mlv2", live_deployment(model))
    assert host.model_references(definition)[0]["uri"] == model
    assert references(host, definition) == {}
    assert check_references(host, definition, Definition("mlv2", live_deployment()), head=True) == {}


def test_operations_wait_long_unless_told_otherwise(settings: Settings) -> None:
    """Real deployments take 5-20 minutes: the v2 default is 30; ``mlv2_timeout`` and ``--timeout`` override it."""
    from amlws.plugins.mlv2.backend import DEFAULT_TIMEOUT, client

    with client(settings) as c:
        assert c.timeout == DEFAULT_TIMEOUT == 1800
    with client(Settings(env={**settings.env, "AMLWS_MLV2_TIMEOUT": "600"})) as c:
        assert c.timeout == 600
    with client(Settings(env=settings.env, flags={"timeout": 42})) as c:
        assert c.timeout == 42
