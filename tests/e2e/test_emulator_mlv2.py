"""The emulator's Azure ML v2 (``Microsoft.MachineLearningServices``) over real HTTPS with ``requests``:
online endpoints and deployments as long-running operations, the traffic rules and their ARM error
bodies, model containers and versions, listKeys, getLogs, the scoring data plane and fault injection.

Ground truth: tests/data/specs/mlv2/REFERENCE.md.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from amlws.emulator import seed as demo
from amlws.emulator.runner import info_for
from amlws.emulator.seed import describe
from amlws.emulator.server import EmulatorServer

from .conftest import Http
from .test_emulator_mlv2_examples import schema_errors

W = (f"/subscriptions/{demo.DEMO_SUBSCRIPTION}/resourceGroups/{demo.DEMO_RESOURCE_GROUP}"
     f"/providers/Microsoft.MachineLearningServices/workspaces/{demo.DEMO_MLV2_WORKSPACE}")
EP = f"{W}/onlineEndpoints/{demo.DEMO_MLV2_ENDPOINT}"
V1 = f"{W}/models/{demo.DEMO_MLV2_MODEL}/versions/1"
V2 = f"{W}/models/{demo.DEMO_MLV2_MODEL}/versions/2"
API = {"api-version": "2025-12-01"}
ARM = {"Authorization": f"Bearer {demo.DEMO_ARM_TOKEN}"}
KEY = {"Authorization": f"Bearer {demo.DEMO_API_KEY}"}
ROWS = {"input_data": {"columns": ["temperature", "humidity"], "index": [0, 1], "data": [[20, 50], [30, 40]]}}


@pytest.fixture
def v2(cert_dir: Path) -> Iterator[Http]:
    """The demo emulator with v2 operations that end on the third poll or read (deterministic states)."""
    with EmulatorServer(seed="demo", cert_dir=cert_dir,
                        settings={"transitions": {"mlv2_lro": {"mode": "polls", "count": 2}}}) as server:
        yield Http(server)


def arm(h: Http, method: str, path: str, body: Any = None, **params: str) -> requests.Response:
    return h.request(method, path, params={**API, **params}, headers=ARM, json=body)


def finish(h: Http, r: requests.Response) -> dict[str, Any]:
    """Poll the Azure-AsyncOperation of ``r`` to its end; the final status body."""
    assert r.status_code in (201, 202), r.text
    for _ in range(100):
        body = h.get(r.headers["Azure-AsyncOperation"], headers=ARM).json()
        if body["status"] != "InProgress":
            return body
        time.sleep(0.02)
    raise AssertionError("operation did not end")


def deployment_body(model: str, **props: Any) -> dict[str, Any]:
    return {"location": demo.DEMO_MLV2_LOCATION, "sku": {"name": "Default", "capacity": 1},
            "properties": {"endpointComputeType": "Managed", "model": model, "instanceType": "Standard_DS3_v2", **props}}


def endpoint(h: Http) -> dict[str, Any]:
    return arm(h, "GET", EP).json()


def set_traffic(h: Http, traffic: dict[str, int], mirror: dict[str, int] | None = None) -> requests.Response:
    body = endpoint(h)
    body["properties"]["traffic"] = traffic
    if mirror is not None:
        body["properties"]["mirrorTraffic"] = mirror
    return arm(h, "PUT", EP, body)


def score(h: Http, url: str, deployment: str | None = None, body: Any = ROWS, auth: dict[str, str] = KEY) -> requests.Response:
    headers = dict(auth)
    if deployment:
        headers["azureml-model-deployment"] = deployment
    return h.post(url, json=body, headers=headers)


def add_green(h: Http, model: str = V2) -> None:
    assert finish(h, arm(h, "PUT", f"{EP}/deployments/green", deployment_body(model)))["status"] == "Succeeded"


def error(r: requests.Response) -> dict[str, Any]:
    return r.json()["error"]


# --- workspace, api-version ----------------------------------------------------------------------------


def test_workspace_get_names_its_mlflow_tracking_uri(v2: Http) -> None:
    r = arm(v2, "GET", W)
    assert r.status_code == 200
    body = r.json()
    assert body["type"] == "Microsoft.MachineLearningServices/workspaces" and body["location"] == "southcentralus"
    assert body["properties"]["mlFlowTrackingUri"] == f"azureml://{v2.url.split('://')[1]}/mlflow/v1.0{W}"
    # the common ARM headers come from the one place every ARM answer gets them
    assert r.headers["x-ms-correlation-request-id"] and r.headers["x-ms-ratelimit-remaining-subscription-reads"]
    # the emulator's description (`amlws emulator status -o json`) names the seeded endpoint's scoring URI
    assert info_for(v2.server)["urls"]["mlv2"] == v2.url + W  # what `amlws emulator start` prints
    seeded = describe(v2.server.emulator)["mlv2Workspaces"]
    assert seeded == [{"id": W, "endpoints": [{"id": EP, "scoringUri": endpoint(v2)["properties"]["scoringUri"], "deployments": ["blue"]}]}]


def test_reset_forgets_inference_logs_and_reseeds(v2: Http) -> None:
    url = endpoint(v2)["properties"]["scoringUri"]
    assert score(v2, url).status_code == 200
    v2.control("POST", "reset", {"seed": "demo"})
    logs = v2.post(f"{EP}/deployments/blue/getLogs", params=API, headers=ARM, json={}).json()["content"]
    assert "POST /score" not in logs and "Inference server started" in logs


def test_api_version_missing_unknown_and_listed(v2: Http) -> None:
    r = v2.get(EP, headers=ARM)
    assert r.status_code == 400 and error(r)["code"] == "MissingApiVersionParameter"
    r = v2.get(EP, headers=ARM, params={"api-version": "2099-01-01"})
    assert r.status_code == 400 and error(r)["code"] == "NoRegisteredProviderFound"
    assert "'2099-01-01'" in error(r)["message"] and "2025-12-01" in error(r)["message"]
    for version in ("2023-04-01-preview", "2022-02-01-preview", "2025-06-01"):
        assert v2.get(EP, headers=ARM, params={"api-version": version}).status_code == 200


def test_arm_token_required(v2: Http) -> None:
    assert v2.get(EP, params=API).status_code == 401
    r = v2.get(EP, params=API, headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and error(r)["code"] == "InvalidAuthenticationToken"


# --- online endpoints: CRUD and LRO states ---------------------------------------------------------------------


def test_endpoint_create_is_a_long_running_operation(v2: Http) -> None:
    path = f"{W}/onlineEndpoints/fresh-ep"
    r = arm(v2, "PUT", path, {"location": "southcentralus", "properties": {"authMode": "key", "description": "d"}})
    assert r.status_code == 201
    assert r.json()["properties"]["provisioningState"] == "Creating"
    assert r.json()["properties"]["authMode"] == "Key"
    aao = r.headers["Azure-AsyncOperation"]
    assert "/providers/Microsoft.MachineLearningServices/locations/southcentralus/mfeOperationsStatus/oeidp:" in aao
    assert aao.endswith("?api-version=2025-12-01") and r.headers["x-ms-async-operation-timeout"] == "PT1H"
    assert r.json()["properties"]["properties"]["AzureAsyncOperationUri"] == aao
    assert arm(v2, "GET", path).json()["properties"]["provisioningState"] == "Creating"
    first = v2.get(aao, headers=ARM).json()
    assert first["status"] == "InProgress" and "endTime" not in first
    assert finish(v2, r)["status"] == "Succeeded"
    body = arm(v2, "GET", path).json()
    assert body["properties"]["provisioningState"] == "Succeeded" and body["properties"]["traffic"] == {}
    assert body["properties"]["scoringUri"].startswith(v2.url + "/inference/")
    listed = arm(v2, "GET", f"{W}/onlineEndpoints").json()
    assert [e["name"] for e in listed["value"]] == [demo.DEMO_MLV2_ENDPOINT, "fresh-ep"]


def test_endpoint_put_refuses_a_body_without_auth_mode_or_location(v2: Http) -> None:
    r = arm(v2, "PUT", f"{W}/onlineEndpoints/x1", {"location": "southcentralus", "properties": {}})
    assert r.status_code == 400 and "authMode" in error(r)["message"]
    r = arm(v2, "PUT", f"{W}/onlineEndpoints/x1", {"properties": {"authMode": "Key"}})
    assert r.status_code == 400 and error(r)["code"] == "LocationRequired"
    r = arm(v2, "PUT", f"/subscriptions/{demo.DEMO_SUBSCRIPTION}/resourceGroups/{demo.DEMO_RESOURCE_GROUP}/providers/"
                       "Microsoft.MachineLearningServices/workspaces/nows/onlineEndpoints/x1",
            {"location": "southcentralus", "properties": {"authMode": "Key"}})
    assert r.status_code == 404 and error(r)["code"] == "ParentResourceNotFound"


def test_endpoint_patch_and_delete_answer_202_with_location(v2: Http) -> None:
    r = arm(v2, "PATCH", EP, {"tags": {"team": "ml"}})
    assert r.status_code == 202 and "/mfeOperationResults/oeidp:" in r.headers["Location"]
    assert arm(v2, "GET", EP).json()["properties"]["provisioningState"] == "Updating"
    loc = v2.get(r.headers["Location"], headers=ARM)
    assert loc.status_code == 202
    assert finish(v2, r)["status"] == "Succeeded"
    final = v2.get(r.headers["Location"], headers=ARM)
    assert final.status_code == 200 and final.json()["tags"] == {"team": "ml"}
    r = arm(v2, "PATCH", EP, {"properties": {"traffic": {}}})
    assert r.status_code == 400 and error(r)["details"][0]["code"] == "PatchPropertyNotAllowed"
    # deleting the endpoint deletes its deployments, even one with traffic
    r = arm(v2, "DELETE", EP)
    assert r.status_code == 202 and r.headers["Location"]
    assert arm(v2, "GET", EP).json()["properties"]["provisioningState"] == "Deleting"
    assert finish(v2, r)["status"] == "Succeeded"
    assert v2.get(r.headers["Location"], headers=ARM).status_code == 204
    assert arm(v2, "GET", EP).status_code == 404
    assert arm(v2, "GET", f"{EP}/deployments/blue").status_code == 404
    assert arm(v2, "DELETE", EP).status_code == 204


def test_a_second_write_while_an_operation_runs_is_a_conflict(v2: Http) -> None:
    r = arm(v2, "PATCH", EP, {"tags": {"a": "1"}})
    again = arm(v2, "PATCH", EP, {"tags": {"a": "2"}})
    assert again.status_code == 409 and error(again)["code"] == "Conflict"
    finish(v2, r)
    assert arm(v2, "PATCH", EP, {"tags": {"a": "2"}}).status_code == 202


# --- online deployments -----------------------------------------------------------------------------------------


def test_deployment_create_update_patch_delete(v2: Http) -> None:
    path = f"{EP}/deployments/green"
    r = arm(v2, "PUT", path, deployment_body(V2))
    assert r.status_code == 201 and "/mfeOperationsStatus/odidp:" in r.headers["Azure-AsyncOperation"]
    body = r.json()
    assert body["properties"]["provisioningState"] == "Creating" and body["properties"]["model"] == V2
    assert body["properties"]["scaleSettings"] == {"scaleType": "Default"} and body["sku"]["capacity"] == 1
    assert finish(v2, r)["status"] == "Succeeded"
    got = arm(v2, "GET", path).json()
    assert got["properties"]["provisioningState"] == "Succeeded"
    # a whole PUT (the only way to change the model or the description): Updating, then Succeeded
    got["properties"]["description"] = "second"
    r = arm(v2, "PUT", path, got)
    assert r.status_code == 201 and r.json()["properties"]["provisioningState"] == "Updating"
    assert arm(v2, "GET", path).json()["properties"]["provisioningState"] == "Updating"
    finish(v2, r)
    assert arm(v2, "GET", path).json()["properties"]["description"] == "second"
    # PATCH: tags and sku only; a capacity change is Scaling
    r = arm(v2, "PATCH", path, {"sku": {"capacity": 3}})
    assert r.status_code == 202 and r.headers["Location"] and r.headers["Azure-AsyncOperation"]
    assert arm(v2, "GET", path).json()["properties"]["provisioningState"] == "Scaling"
    finish(v2, r)
    assert arm(v2, "GET", path).json()["sku"]["capacity"] == 3
    r = arm(v2, "PATCH", path, {"properties": {"model": V1}})
    assert r.status_code == 400 and error(r)["code"] == "UserError"
    assert error(r)["details"][0]["code"] == "PatchPropertyNotAllowed"
    listed = arm(v2, "GET", f"{EP}/deployments").json()
    assert sorted(d["name"] for d in listed["value"]) == ["blue", "green"]
    r = arm(v2, "DELETE", path)
    assert r.status_code == 202 and "/mfeOperationResults/odidp:" in r.headers["Location"]
    finish(v2, r)
    assert arm(v2, "GET", path).status_code == 404


def test_create_only_instance_type_change_is_refused(v2: Http) -> None:
    blue = arm(v2, "GET", f"{EP}/deployments/blue").json()
    changed = copy.deepcopy(blue)
    changed["properties"]["instanceType"] = "Standard_DS4_v2"
    r = arm(v2, "PUT", f"{EP}/deployments/blue", changed)
    assert r.status_code == 400
    err = error(r)
    assert err["code"] == "UserError" and err["target"] == "properties.instanceType"
    assert err["details"] == [{"code": "CreateOnlyPropertyChanged", "message": err["message"]}]
    assert "Standard_F4s_v2" in err["message"] and "Standard_DS4_v2" in err["message"]
    assert arm(v2, "GET", f"{EP}/deployments/blue").json()["properties"]["provisioningState"] == "Succeeded"
    # left out, it keeps its value
    add_green(v2)
    green = arm(v2, "GET", f"{EP}/deployments/green").json()
    del green["properties"]["instanceType"]
    assert finish(v2, arm(v2, "PUT", f"{EP}/deployments/green", green))["status"] == "Succeeded"
    assert arm(v2, "GET", f"{EP}/deployments/green").json()["properties"]["instanceType"] == "Standard_DS3_v2"


def test_deleting_a_deployment_with_traffic_is_refused(v2: Http) -> None:
    r = arm(v2, "DELETE", f"{EP}/deployments/blue")
    assert r.status_code == 400
    assert error(r)["message"] == "Can't delete deployment [blue] with non-zero traffic weight"
    assert error(r)["details"][0]["code"] == "DeploymentHasTraffic"
    assert arm(v2, "GET", f"{EP}/deployments/blue").status_code == 200
    add_green(v2)
    finish(v2, set_traffic(v2, {"blue": 100}, {"green": 10}))
    r = arm(v2, "DELETE", f"{EP}/deployments/green")
    assert r.status_code == 400 and "mirror" in error(r)["message"]
    finish(v2, set_traffic(v2, {"green": 100}, {}))
    assert finish(v2, arm(v2, "DELETE", f"{EP}/deployments/blue"))["status"] == "Succeeded"


def test_unknown_model_fails_the_operation_with_model_registry_error(v2: Http) -> None:
    r = arm(v2, "PUT", f"{EP}/deployments/red", deployment_body(f"{W}/models/{demo.DEMO_MLV2_MODEL}/versions/9"))
    end = finish(v2, r)
    assert end["status"] == "Failed" and end["error"]["code"] == "ModelRegistryError"
    assert end["error"]["message"] == f"Could not find asset with ID: {W}/models/{demo.DEMO_MLV2_MODEL}/versions/9"
    assert end["endTime"] and end["startTime"]
    assert arm(v2, "GET", f"{EP}/deployments/red").json()["properties"]["provisioningState"] == "Failed"


# --- traffic rules --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("traffic, mirror, detail, text", [
    ({"blue": 90}, None, "TrafficSumInvalid", "sum to 90"),
    ({"blue": 60, "green": 50}, None, "TrafficSumInvalid", "sum to 110"),
    ({"blue": 50, "purple": 50}, None, "TrafficDeploymentNotFound", "'purple'"),
    ({"blue": 100}, {"purple": 10}, "TrafficDeploymentNotFound", "'purple'"),
    ({"blue": 100}, {"green": 60}, "InvalidTrafficValue", "from 0 to 50"),
    ({"blue": 90, "green": 10}, {"green": 10}, "MirrorTrafficInvalid", "live or mirrored"),
    ({"blue": 100}, {"green": 10, "blue": 0, "other": 5}, "TrafficDeploymentNotFound", "'other'"),
    ({"blue": 100.0}, None, "InvalidTrafficValue", "integer"),
])
def test_traffic_rule_violations_are_refused(v2: Http, traffic: dict[str, int], mirror: dict[str, int] | None,
                                             detail: str, text: str) -> None:
    add_green(v2)
    r = set_traffic(v2, traffic, mirror)
    assert r.status_code == 400, r.text
    err = error(r)
    assert err["code"] == "UserError" and err["details"][0]["code"] == detail and text in err["message"]
    assert schema_errors(r.json(), "ErrorResponse") == []
    assert endpoint(v2)["properties"]["traffic"] == {"blue": 100}


def test_two_mirror_targets_and_over_50_are_refused_and_valid_splits_accepted(v2: Http) -> None:
    add_green(v2)
    assert finish(v2, arm(v2, "PUT", f"{EP}/deployments/red", deployment_body(V1)))["status"] == "Succeeded"
    r = set_traffic(v2, {"blue": 100}, {"green": 10, "red": 10})
    assert r.status_code == 400 and "only one deployment" in error(r)["message"]
    r = set_traffic(v2, {"blue": 100}, {"green": 40, "red": 0})
    assert r.status_code == 201
    finish(v2, r)
    r = set_traffic(v2, {"blue": 0, "green": 0}, {})
    assert finish(v2, r)["status"] == "Succeeded"
    assert endpoint(v2)["properties"]["traffic"] == {"blue": 0, "green": 0}
    finish(v2, set_traffic(v2, {"blue": 90, "green": 10}))
    assert endpoint(v2)["properties"]["traffic"] == {"blue": 90, "green": 10}


# --- models -------------------------------------------------------------------------------------------------------------


def test_model_versions_next_version_and_immutable_path(v2: Http) -> None:
    model = f"{W}/models/{demo.DEMO_MLV2_MODEL}"
    container = arm(v2, "GET", model).json()
    assert container["properties"]["latestVersion"] == "2" and container["properties"]["nextVersion"] == "3"
    assert container["type"] == "Microsoft.MachineLearningServices/workspaces/models"
    v1 = arm(v2, "GET", f"{model}/versions/1").json()
    r = arm(v2, "PUT", f"{model}/versions/3", {"properties": {"modelUri": v1["properties"]["modelUri"]}})
    assert r.status_code == 201 and "Azure-AsyncOperation" not in r.headers
    assert r.json()["name"] == "3" and r.json()["type"] == "Microsoft.MachineLearningServices/workspaces/models/versions"
    assert r.json()["properties"]["provisioningState"] == "Succeeded"
    assert arm(v2, "GET", model).json()["properties"]["nextVersion"] == "4"
    r = arm(v2, "PUT", f"{model}/versions/3", {"properties": {"modelUri": v1["properties"]["modelUri"], "description": "again"}})
    assert r.status_code == 200 and r.json()["properties"]["description"] == "again"
    r = arm(v2, "PUT", f"{model}/versions/3", {"properties": {"modelUri": "azureml://datastores/x/paths/other"}})
    assert r.status_code == 400 and error(r)["code"] == "UserError" and error(r)["message"] == "Asset paths cannot be updated."
    page = arm(v2, "GET", f"{model}/versions", **{"$top": "2"}).json()
    assert [v["name"] for v in page["value"]] == ["1", "2"] and "$skipToken=2" in page["nextLink"]
    rest = v2.get(page["nextLink"], headers=ARM).json()
    assert [v["name"] for v in rest["value"]] == ["3"] and "nextLink" not in rest
    # a version PUT creates its container (azure-ai-ml PUTs the version directly); names are case-sensitive
    r = arm(v2, "PUT", f"{W}/models/Other/versions/1", {"properties": {"modelUri": "https://example.invalid/m.ilearner"}})
    assert r.status_code == 201
    assert arm(v2, "GET", f"{W}/models/Other").json()["properties"]["nextVersion"] == "2"
    assert arm(v2, "GET", f"{W}/models/other").status_code == 404
    names = [m["name"] for m in arm(v2, "GET", f"{W}/models").json()["value"]]
    assert names == [demo.DEMO_MLV2_MODEL, "Other"]
    assert arm(v2, "DELETE", f"{W}/models/Other/versions/1").status_code == 200
    assert arm(v2, "GET", f"{W}/models/Other/versions/1").status_code == 404


# --- keys, logs ---------------------------------------------------------------------------------------------------------


def test_list_keys_and_get_logs(v2: Http) -> None:
    r = v2.post(f"{EP}/listKeys", params=API, headers={**ARM, "Content-Length": "0"})
    assert r.status_code == 200
    assert r.json() == {"primaryKey": demo.DEMO_API_KEY, "secondaryKey": demo.DEMO_API_KEY_SECONDARY}
    assert "keys" not in endpoint(v2)["properties"]
    url = endpoint(v2)["properties"]["scoringUri"]
    assert score(v2, url).status_code == 200
    assert score(v2, url, auth={"Authorization": f"Bearer {demo.DEMO_API_KEY_SECONDARY}"}).status_code == 200
    logs = v2.post(f"{EP}/deployments/blue/getLogs", params=API, headers=ARM, json={"containerType": "InferenceServer"})
    assert logs.status_code == 200 and list(logs.json()) == ["content"]
    assert logs.json()["content"].count("POST /score 200 rows=2") == 2
    tail = v2.post(f"{EP}/deployments/blue/getLogs", params=API, headers=ARM, json={"tail": 1}).json()["content"]
    assert tail.count("\n") == 1
    init = v2.post(f"{EP}/deployments/blue/getLogs", params=API, headers=ARM, json={"containerType": "StorageInitializer"})
    assert V1 in init.json()["content"]


# --- scoring ------------------------------------------------------------------------------------------------------------------


def test_scoring_with_and_without_the_deployment_header(v2: Http) -> None:
    url = endpoint(v2)["properties"]["scoringUri"]
    r = score(v2, url)
    assert r.status_code == 200 and r.headers["azureml-model-deployment"] == "blue" and r.headers["x-request-id"]
    v1 = r.json()
    assert len(v1) == 2 and all(isinstance(p, float) for p in v1)
    add_green(v2, V2)
    # the header bypasses the split: green serves at 0 %
    r = score(v2, url, deployment="green")
    assert r.status_code == 200 and r.headers["azureml-model-deployment"] == "green"
    v2_predictions = r.json()
    assert all(abs(a - b) > 1 for a, b in zip(v1, v2_predictions)), (v1, v2_predictions)
    assert score(v2, url).json() == v1  # unlabelled traffic still all to blue
    # records orientation is accepted too
    records = {"input_data": [{"temperature": 20, "humidity": 50}, {"temperature": 30, "humidity": 40}]}
    assert score(v2, url, body=records).json() == v1
    r = score(v2, url, deployment="nope")
    assert r.status_code == 404
    r = score(v2, url, body={"rows": []})
    assert r.status_code == 424 and r.headers["ms-azureml-model-error-statuscode"] == "400"
    assert score(v2, url, auth={"Authorization": "Bearer wrong"}).status_code == 401
    assert score(v2, url, auth={}).status_code == 401
    log = v2.request("GET", "/_emulator/requests", params={"api": "mlv2-scoring"}).json()
    assert log["counts"] == {"OnlineEndpoints_Score": 8}
    assert v2.request("GET", "/_emulator/requests", params={"api": "mlv2"}).json()["counts"]["OnlineEndpoints_Get"] == 1


def test_traffic_split_routes_deterministically_and_mirrors(v2: Http) -> None:
    add_green(v2)
    url = endpoint(v2)["properties"]["scoringUri"]
    finish(v2, set_traffic(v2, {"blue": 90, "green": 10}))
    served = [score(v2, url).headers["azureml-model-deployment"] for _ in range(20)]
    assert served.count("green") == 2 and served.count("blue") == 18
    assert served.index("green") < 10  # interleaved, not 18 blues first
    finish(v2, set_traffic(v2, {"blue": 100}, {"green": 50}))
    for _ in range(4):
        assert score(v2, url).headers["azureml-model-deployment"] == "blue"
    logs = v2.post(f"{EP}/deployments/green/getLogs", params=API, headers=ARM, json={}).json()["content"]
    assert logs.count("(mirrored)") == 2
    finish(v2, set_traffic(v2, {"blue": 0, "green": 0}, {}))
    r = score(v2, url)
    assert r.status_code == 404 and "positive weight" in r.json()["error"]["message"]
    assert score(v2, url, deployment="blue").status_code == 200


def test_a_model_update_serves_only_once_the_operation_succeeds(v2: Http) -> None:
    url = endpoint(v2)["properties"]["scoringUri"]
    before = score(v2, url).json()
    blue = arm(v2, "GET", f"{EP}/deployments/blue").json()
    blue["properties"]["model"] = V2
    r = arm(v2, "PUT", f"{EP}/deployments/blue", blue)
    assert r.status_code == 201
    assert score(v2, url).json() == before  # still the old model while Updating
    finish(v2, r)
    after = score(v2, url).json()
    assert after != before
    add_green(v2, V2)
    assert score(v2, url, deployment="green").json() == after


def test_aml_token_and_aad_token_auth_modes(v2: Http) -> None:
    for name, mode in (("tok-ep", "AMLToken"), ("aad-ep", "AADToken")):
        path = f"{W}/onlineEndpoints/{name}"
        finish(v2, arm(v2, "PUT", path, {"location": "southcentralus", "properties": {"authMode": mode}}))
        finish(v2, arm(v2, "PUT", f"{path}/deployments/d1", deployment_body(V1)))
        body = arm(v2, "GET", path).json()
        body["properties"]["traffic"] = {"d1": 100}
        finish(v2, arm(v2, "PUT", path, body))
        url = arm(v2, "GET", path).json()["properties"]["scoringUri"]
        keys = v2.post(f"{path}/listKeys", params=API, headers=ARM).json()
        assert score(v2, url, auth={"Authorization": f"Bearer {keys['primaryKey']}"}).status_code == 401
        if mode == "AMLToken":
            token = v2.post(f"{path}/token", params=API, headers=ARM).json()
            assert token["tokenType"] == "Bearer" and token["expiryTimeUtc"] > time.time()
            assert score(v2, url, auth={"Authorization": f"Bearer {token['accessToken']}"}).status_code == 200
        else:
            assert score(v2, url, auth=ARM).status_code == 200


# --- fault injection ------------------------------------------------------------------------------------------------------------


def test_injected_operation_failure_and_scoring_failure(v2: Http) -> None:
    v2.control("POST", "faults", {"kind": "lro_failure", "api": "mlv2", "operation": "OnlineDeployments_CreateOrUpdate",
                                  "deployment": "green", "code": "ResourceNotReady", "message": "container crashed", "times": 1})
    # another deployment is not affected by a fault aimed at green
    assert finish(v2, arm(v2, "PUT", f"{EP}/deployments/red", deployment_body(V1)))["status"] == "Succeeded"
    end = finish(v2, arm(v2, "PUT", f"{EP}/deployments/green", deployment_body(V2)))
    assert end["status"] == "Failed" and end["error"] == {"code": "ResourceNotReady", "message": "container crashed"}
    assert arm(v2, "GET", f"{EP}/deployments/green").json()["properties"]["provisioningState"] == "Failed"
    assert finish(v2, arm(v2, "PUT", f"{EP}/deployments/green", deployment_body(V2)))["status"] == "Succeeded"
    url = endpoint(v2)["properties"]["scoringUri"]
    v2.control("POST", "faults", {"kind": "scoring_failure", "deployment": "green"})
    r = score(v2, url, deployment="green")
    assert r.status_code == 424 and r.headers["ms-azureml-model-error-statuscode"] == "500"
    assert r.headers["azureml-model-deployment"] == "green"
    assert score(v2, url, deployment="blue").status_code == 200
    finish(v2, set_traffic(v2, {"blue": 50, "green": 50}))
    statuses = sorted(score(v2, url).status_code for _ in range(4))
    assert statuses == [200, 200, 424, 424]
    v2.control("DELETE", "faults")
    assert score(v2, url, deployment="green").status_code == 200


def test_unknown_fault_kind_still_refused(v2: Http) -> None:
    r = v2.post("/_emulator/faults", json={"kind": "nonsense"})
    assert r.status_code == 400


def test_seeded_models_are_blobs_in_azurite_and_serve(shttp: Http) -> None:
    url = shttp.get(EP, params=API, headers=ARM).json()["properties"]["scoringUri"]
    uri = shttp.get(V1, params=API, headers=ARM).json()["properties"]["modelUri"]
    assert uri.startswith("http://127.0.0.1:") and uri.endswith(".ilearner")
    r = shttp.post(url, json=ROWS, headers=KEY)
    assert r.status_code == 200 and len(r.json()) == 2
