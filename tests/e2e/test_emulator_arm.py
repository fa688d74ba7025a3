"""Contract tests: the emulator's ARM webServices API against the spec and the recorded LRO behaviour."""

from __future__ import annotations

import copy
import re
import time

from amlws.emulator import mlmodel
from amlws.emulator import seed as demo

from .conftest import API, arm_ws_path

PRED = arm_ws_path(demo.DEMO_ARM_PREDICTIVE)
OP_URL = re.compile(r"^https://127\.0\.0\.1:\d+/subscriptions/" + demo.DEMO_SUBSCRIPTION +
                    r"/providers/Microsoft\.MachineLearning/locations/southcentralus/operationsStatus/[0-9a-f-]{36}\?api-version=2017-01-01$")


def test_get_returns_spec_valid_resource_without_secrets(http, arm_headers, validate_arm):
    r = http.get(PRED, params=API, headers=arm_headers)
    assert r.status_code == 200
    body = r.json()
    validate_arm(body, "WebService")
    assert body["id"] == PRED and body["name"] == demo.DEMO_ARM_PREDICTIVE
    assert body["type"] == "Microsoft.MachineLearning/webServices"
    props = body["properties"]
    assert props["provisioningState"] == "Succeeded"
    for ro in ("createdOn", "modifiedOn", "swaggerLocation"):
        assert props[ro]
    assert "keys" not in props and "commitmentPlan" not in props
    assert props["storageAccount"] == {"name": "devstoreaccount1"}
    assets = [a for a in props["assets"].values() if a["name"] == demo.DEMO_RESOURCE_NAME]
    assert assets and assets[0]["type"] == "Resource" and assets[0]["locationInfo"]["uri"]


def test_patch_lro_sequence_matches_the_recording(http, arm_headers, validate_arm):
    http.control("POST", "transitions", {"arm_lro": {"mode": "polls", "count": 1}})
    before = http.get(PRED, params=API, headers=arm_headers).json()
    r = http.patch(PRED, params=API, headers=arm_headers,
                   json={"properties": {"packageType": "Graph", "title": "Retrained", "realtimeConfiguration": {"maxConcurrentCalls": 30}}})
    assert r.status_code == 200
    # as recorded: the envelope and only the provisioning state
    assert r.json()["properties"] == {"provisioningState": "Provisioning"}
    assert r.json()["id"] == PRED and r.json()["location"] == "South Central US" and r.json()["tags"] == {}
    assert OP_URL.match(r.headers["Azure-AsyncOperation"]), r.headers["Azure-AsyncOperation"]
    assert r.headers["Azure-AsyncOperationPercentComplete"] == "0"
    assert "Location" not in r.headers and "Retry-After" not in r.headers
    op = r.headers["Azure-AsyncOperation"]
    first = http.get(op, headers=arm_headers)
    assert first.status_code == 200
    validate_arm(first.json(), "AsyncOperationStatus")
    assert first.json()["status"] == "Provisioning" and "endTime" not in first.json()
    assert first.json()["name"] in op and first.json()["startTime"].endswith("Z")
    second = http.get(op, headers=arm_headers).json()
    assert second["status"] == "Succeeded" and second["percentComplete"] == 1.0 and second["endTime"]
    after = http.get(PRED, params=API, headers=arm_headers).json()
    validate_arm(after, "WebService")
    assert after["properties"]["title"] == "Retrained"
    assert after["properties"]["realtimeConfiguration"] == {"maxConcurrentCalls": 30}
    assert after["properties"]["assets"] == before["properties"]["assets"]  # merged, not replaced
    assert after["properties"]["provisioningState"] == "Succeeded"
    assert http.counts() == {"WebServices_Get": 2, "WebServices_Patch": 1, "OperationsStatus_Get": 2}


def test_a_patch_lands_for_a_client_that_only_gets(http, arm_headers):
    """On Azure a PATCH completes by itself (~13 s recorded) and the spec tells callers to GET; the
    emulator's operations run on their own clock by default: no status poll needed, and no 409 after."""
    body = {"properties": {"packageType": "Graph", "title": "landed"}}
    assert http.patch(PRED, params=API, headers=arm_headers, json=body).status_code == 200
    deadline = time.monotonic() + 10
    while (got := http.get(PRED, params=API, headers=arm_headers).json())["properties"]["provisioningState"] != "Succeeded":
        assert time.monotonic() < deadline, got["properties"]["provisioningState"]
        time.sleep(0.1)
    assert got["properties"]["title"] == "landed"
    assert http.counts().get("OperationsStatus_Get") is None
    assert http.patch(PRED, params=API, headers=arm_headers, json=body).status_code == 200


def test_polls_mode_counts_reads_of_the_resource(http, arm_headers):
    """The test option ``polls`` counts any observation of the operation, a GET of the resource too."""
    http.control("POST", "transitions", {"arm_lro": {"mode": "polls", "count": 1}})
    http.patch(PRED, params=API, headers=arm_headers, json={"properties": {"packageType": "Graph", "title": "counted"}})
    first = http.get(PRED, params=API, headers=arm_headers).json()["properties"]
    second = http.get(PRED, params=API, headers=arm_headers).json()["properties"]
    assert (first["provisioningState"], first["title"]) == ("Provisioning", "Bike Rental Predictive")
    assert (second["provisioningState"], second["title"]) == ("Succeeded", "counted")


def test_whole_definition_patch_changes_the_trained_model_uri(http, arm_headers):
    doc = http.get(PRED, params=API, headers=arm_headers).json()
    export = {"location": doc["location"], "tags": doc["tags"], "properties": copy.deepcopy(doc["properties"])}
    for ro in ("createdOn", "modifiedOn", "provisioningState", "swaggerLocation"):
        export["properties"].pop(ro)
    asset = next(k for k, a in export["properties"]["assets"].items() if a["name"].endswith("[trained model]"))
    model = http.control("POST", "models", {"model": mlmodel.make_model(label="rentals", coefficients={"temperature": 1.0}, intercept=0.0)})
    new_uri = model["BaseLocation"] + model["RelativeLocation"]  # a model the emulator can load
    export["properties"]["assets"][asset]["locationInfo"]["uri"] = new_uri
    http.control("POST", "transitions", {"arm_lro": {"mode": "immediate"}})
    r = http.patch(PRED, params=API, headers=arm_headers, json=export)
    assert r.status_code == 200
    assert http.get(r.headers["Azure-AsyncOperation"], headers=arm_headers).json()["status"] == "Succeeded"
    got = http.get(PRED, params=API, headers=arm_headers).json()
    assert got["properties"]["assets"][asset]["locationInfo"]["uri"] == new_uri


def test_put_creates_201_then_updates_200_and_keys_only_via_listkeys(http, arm_headers, validate_arm):
    http.control("POST", "transitions", {"arm_lro": {"mode": "polls", "count": 1}})
    path = arm_ws_path("created-by-put")
    body = {"location": "southcentralus", "tags": {"env": "test"},
            "properties": {"title": "t", "packageType": "Graph", "storageAccount": {"name": "acct", "key": "secret-key"},
                           "commitmentPlan": {"id": "/subscriptions/x/resourceGroups/y/providers/Microsoft.MachineLearning/commitmentPlans/p"},
                           "machineLearningWorkspace": {"id": "8b841df9d60a4d54bcebd4948b10a5db"}}}
    r = http.put(path, params=API, headers=arm_headers, json=body)
    assert r.status_code == 201
    # as recorded: "southcentralus" is answered "South Central US"; the first answer has only these two properties
    assert r.json()["location"] == "South Central US"
    assert r.json()["properties"] == {"payloadsInBlobStorage": False, "provisioningState": "Provisioning"}
    op = r.headers["Azure-AsyncOperation"]
    assert [http.get(op, headers=arm_headers).json()["status"] for _ in range(2)] == ["Provisioning", "Succeeded"]
    got = http.get(path, params=API, headers=arm_headers).json()
    validate_arm(got, "WebService")
    assert got["location"] == "South Central US"
    assert got["tags"] == {"env": "test"} and got["properties"]["storageAccount"] == {"name": "acct"}
    assert "keys" not in got["properties"] and "commitmentPlan" not in got["properties"]
    keys = http.get(path + "/listKeys", params=API, headers=arm_headers)
    assert keys.status_code == 200
    validate_arm(keys.json(), "WebServiceKeys")
    assert keys.json()["primary"] and keys.json()["secondary"]
    r2 = http.put(path, params=API, headers=arm_headers, json={**body, "properties": {**body["properties"], "title": "t2"}})
    assert r2.status_code == 200
    assert http.get(path + "/listKeys", params=API, headers=arm_headers).json() == keys.json()  # kept


def test_invalid_bodies_get_arm_400_errors(http, arm_headers):
    r = http.put(arm_ws_path("bad"), params=API, headers=arm_headers, json={"properties": {"packageType": "Graph"}})
    assert r.status_code == 400 and r.json()["error"]["code"] == "LocationRequired"
    r = http.patch(PRED, params=API, headers=arm_headers,
                   json={"properties": {"packageType": "Graph", "realtimeConfiguration": {"maxConcurrentCalls": 1000}}})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "BadRequest" and err["message"] == "The request is invalid."
    assert any("maxConcurrentCalls" in d["message"] for d in err["details"])
    r = http.patch(PRED, params=API, headers=arm_headers, json={"properties": {"title": "no packageType"}})
    assert r.status_code == 400 and "packageType" in r.json()["error"]["details"][0]["message"]
    r = http.request("PATCH", PRED, params=API, headers={**arm_headers, "Content-Type": "application/json"}, data=b"{not json")
    assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidRequestContent"


def test_pascal_case_input_is_accepted_and_answered_in_camel_case(http, arm_headers):
    http.control("POST", "transitions", {"arm_lro": {"mode": "immediate"}})
    r = http.patch(PRED, params=API, headers=arm_headers, json={"Properties": {"PackageType": "Graph", "Title": "Pascal"}})
    assert r.status_code == 200, r.text
    assert http.get(PRED, params=API, headers=arm_headers).json()["properties"]["title"] == "Pascal"


def test_changing_the_storage_account_is_refused(http, arm_headers):
    r = http.patch(PRED, params=API, headers=arm_headers,
                   json={"properties": {"packageType": "Graph", "storageAccount": {"name": "differentaccountname"}}})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "BadRequest"
    assert err["details"][0]["code"] == "CannotChangeStorageAccount"
    assert "devstoreaccount1" in err["details"][0]["message"]


def test_bearer_token_required(http):
    r = http.get(PRED, params=API)
    assert r.status_code == 401 and r.json()["error"]["code"] == "AuthenticationFailed"
    r = http.get(PRED, params=API, headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert "WWW-Authenticate" in r.headers


def test_api_version_and_scope_errors(http, arm_headers):
    assert http.get(PRED, headers=arm_headers).json()["error"]["code"] == "MissingApiVersionParameter"
    assert http.get(PRED, params={"api-version": "1999-01-01"}, headers=arm_headers).status_code == 400
    r = http.get(arm_ws_path("nope"), params=API, headers=arm_headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "ResourceNotFound"
    r = http.get(PRED.replace(demo.DEMO_SUBSCRIPTION, "11111111-1111-1111-1111-111111111111"), params=API, headers=arm_headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "SubscriptionNotFound"
    # provider and type segments are case-insensitive
    assert http.get(PRED.replace("webServices", "webservices"), params=API, headers=arm_headers).status_code == 200


def test_list_paging_with_nextlink(http, arm_headers, validate_arm):
    http.control("POST", "config", {"arm_page_size": 1})
    url = f"/subscriptions/{demo.DEMO_SUBSCRIPTION}/resourceGroups/{demo.DEMO_RESOURCE_GROUP}/providers/Microsoft.MachineLearning/webServices"
    names, pages = [], 0
    r = http.get(url, params=API, headers=arm_headers)
    while True:
        assert r.status_code == 200
        page = r.json()
        validate_arm(page, "PaginatedWebServicesList")
        pages += 1
        for item in page["value"]:
            names.append(item["name"])
            assert "assets" not in item["properties"] and "package" not in item["properties"]  # sparse
        if not page.get("nextLink"):
            break
        assert "$skiptoken=" in page["nextLink"] and "api-version=2017-01-01" in page["nextLink"]
        r = http.get(page["nextLink"], headers=arm_headers)
    assert names == [demo.DEMO_ARM_TRAINING, demo.DEMO_ARM_PREDICTIVE] and pages == 2
    sub = http.get(f"/subscriptions/{demo.DEMO_SUBSCRIPTION}/providers/Microsoft.MachineLearning/webServices",
                   params=API, headers=arm_headers).json()
    assert len(sub["value"]) == 1 and sub["nextLink"]


def test_delete_202_then_gone_and_204_when_missing(http, arm_headers):
    http.control("POST", "transitions", {"arm_lro": {"mode": "polls", "count": 1}})
    r = http.delete(PRED, params=API, headers=arm_headers)
    assert r.status_code == 202 and OP_URL.match(r.headers["Azure-AsyncOperation"])
    op = r.headers["Azure-AsyncOperation"]
    # as recorded, a Location (operationresults) beside it: 202 while running, 204 when done
    results = r.headers["Location"]
    assert results == op.replace("/operationsStatus/", "/operationresults/")
    polled = http.get(results, headers=arm_headers)
    assert polled.status_code == 202 and polled.headers["Location"] == results and polled.headers["Retry-After"] == "1"
    assert http.get(op, headers=arm_headers).json()["status"] == "Succeeded"
    assert http.get(results, headers=arm_headers).status_code == 204
    assert http.get(PRED, params=API, headers=arm_headers).status_code == 404
    assert http.delete(PRED, params=API, headers=arm_headers).status_code == 204


def test_create_regional_blob_then_get_with_region(http, arm_headers, validate_arm):
    r = http.get(PRED, params={**API, "region": "southeastasia"}, headers=arm_headers)
    # as recorded (TestCreateAndGetRegionalProperties): 404 NotFound / PerRegionPayloadNotFound, no "target"
    assert r.status_code == 404
    assert r.json() == {"error": {"code": "NotFound", "message": "The specified resource was not found.", "details": [
        {"code": "PerRegionPayloadNotFound",
         "message": "Web Service Definition for region southeastasia was not found. Please use the same URL making a "
                    "POST call and wait for it succeeded, then try GET again."}]}}
    assert http.post(PRED + "/CreateRegionalBlob", params=API, headers=arm_headers).status_code == 400  # region required
    r = http.post(PRED + "/CreateRegionalBlob", params={**API, "region": "Southeast Asia"}, headers=arm_headers)
    assert r.status_code == 202
    summary = r.json()  # as recorded: the bare name as id, no tags, provisioning
    assert summary["id"] == summary["name"] == demo.DEMO_ARM_PREDICTIVE and "tags" not in summary
    assert summary["type"] == "Microsoft.MachineLearning/webServices"
    assert summary["properties"] == {"payloadsInBlobStorage": False, "provisioningState": "Provisioning"}
    op = r.headers["Azure-AsyncOperation"]
    while http.get(op, headers=arm_headers).json()["status"] == "Provisioning":
        time.sleep(0.05)  # a poll loop without a wait is throttled by ARM's read bucket, as on Azure
    r = http.get(PRED, params={**API, "region": "Southeast Asia"}, headers=arm_headers)
    assert r.status_code == 200
    validate_arm(r.json(), "WebService")


def test_failed_lro_is_reported_and_not_applied(http, arm_headers, validate_arm):
    http.control("POST", "transitions", {"arm_lro": {"mode": "polls", "count": 1}})
    http.control("POST", "faults", {"kind": "lro_failure", "times": 1, "code": "InternalServerError", "message": "boom"})
    r = http.patch(PRED, params=API, headers=arm_headers, json={"properties": {"packageType": "Graph", "title": "never"}})
    op = r.headers["Azure-AsyncOperation"]
    assert http.get(op, headers=arm_headers).json()["status"] == "Provisioning"
    failed = http.get(op, headers=arm_headers).json()
    validate_arm(failed, "AsyncOperationStatus")
    assert failed["status"] == "Failed"
    assert failed["error"] == {"code": "InternalServerError", "message": "boom"}
    assert failed["errorInfo"]["code"] == "InternalServerError"
    got = http.get(PRED, params=API, headers=arm_headers).json()["properties"]
    assert got["provisioningState"] == "Failed" and got["title"] != "never"
    # the next operation is not affected (times=1)
    r = http.patch(PRED, params=API, headers=arm_headers, json={"properties": {"packageType": "Graph", "title": "ok"}})
    op = r.headers["Azure-AsyncOperation"]
    assert [http.get(op, headers=arm_headers).json()["status"] for _ in range(2)] == ["Provisioning", "Succeeded"]


def test_time_transition(http, arm_headers):
    import time

    http.control("POST", "transitions", {"arm_lro": {"mode": "time", "seconds": 0.3}})
    r = http.patch(PRED, params=API, headers=arm_headers, json={"properties": {"packageType": "Graph", "title": "timed"}})
    op = r.headers["Azure-AsyncOperation"]
    assert http.get(op, headers=arm_headers).json()["status"] == "Provisioning"
    time.sleep(0.35)
    assert http.get(op, headers=arm_headers).json()["status"] == "Succeeded"


def test_concurrent_operation_conflicts(http, arm_headers):
    """Invented (docs/emulator.md): a write while an operation still runs is refused, as ARM RPs commonly do."""
    http.control("POST", "transitions", {"arm_lro": {"mode": "time", "seconds": 30}})
    body = {"properties": {"packageType": "Graph", "title": "a"}}
    assert http.patch(PRED, params=API, headers=arm_headers, json=body).status_code == 200
    r = http.patch(PRED, params=API, headers=arm_headers, json=body)
    assert r.status_code == 409 and r.json()["error"]["code"] == "Conflict"


def test_azure_sdk_generic_resources_client_round_trip(emulator, arm_headers):
    """The real azure-mgmt-resource client (ARMPolling over HTTPS) drives a PATCH LRO to completion."""
    import time as _time

    from azure.core.credentials import AccessToken
    from azure.mgmt.resource.resources import ResourceManagementClient

    class Token:
        def get_token(self, *scopes, **kw):
            return AccessToken(demo.DEMO_ARM_TOKEN, int(_time.time()) + 3600)

    client = ResourceManagementClient(Token(), demo.DEMO_SUBSCRIPTION, base_url=emulator.url,
                                      connection_verify=str(emulator.ca_path),
                                      credential_scopes=[emulator.url + "/.default"])
    res = client.resources.get_by_id(PRED, api_version="2017-01-01")
    assert res.properties["provisioningState"] == "Succeeded"
    poller = client.resources.begin_update_by_id(PRED, {"properties": {"packageType": "Graph", "title": "via sdk"}},
                                                 api_version="2017-01-01", polling_interval=0)
    result = poller.result(timeout=30)
    assert result.properties["title"] == "via sdk" and result.properties["provisioningState"] == "Succeeded"


UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def test_every_arm_answer_carries_the_recorded_headers_and_errors_no_target(http, arm_headers):
    """As recorded on every ARM response, errors included: request, correlation and routing ids and the
    remaining reads (GET), writes (PUT/PATCH/POST) or deletes (DELETE: its own bucket since 2024) of the
    subscription; error bodies have no ``target``."""
    http.control("POST", "transitions", {"arm_lro": {"mode": "polls", "count": 0}})
    patch = http.patch(PRED, params=API, headers={**arm_headers, "x-ms-correlation-request-id": "my-correlation"},
                       json={"properties": {"packageType": "Graph", "title": "h"}})
    answers = {
        "get": http.get(PRED, params=API, headers=arm_headers),
        "patch": patch,
        "status": http.get(patch.headers["Azure-AsyncOperation"], headers=arm_headers),
        "keys": http.get(PRED + "/listKeys", params=API, headers=arm_headers),
        "list": http.get(arm_ws_path("").rstrip("/"), params=API, headers=arm_headers),
        "401": http.get(PRED, params=API),
        "404": http.get(arm_ws_path("nope"), params=API, headers=arm_headers),
        "400": http.patch(PRED, params=API, headers=arm_headers, json={"properties": {}}),
        "delete-404-sub": http.delete(PRED.replace(demo.DEMO_SUBSCRIPTION, "11111111-1111-1111-1111-111111111111"),
                                      params=API, headers=arm_headers),
    }
    for what, r in answers.items():
        kind = {"GET": "reads", "DELETE": "deletes"}.get(r.request.method, "writes")
        assert UUID.match(r.headers["x-ms-request-id"]), what
        correlation = r.headers["x-ms-correlation-request-id"]
        assert re.match(rf"^LOCALHOST:\d{{8}}T\d{{6}}Z:{re.escape(correlation)}$", r.headers["x-ms-routing-request-id"]), what
        assert int(r.headers[f"x-ms-ratelimit-remaining-subscription-{kind}"]) > 0, what
        for other in {"reads", "writes", "deletes"} - {kind}:
            assert f"x-ms-ratelimit-remaining-subscription-{other}" not in r.headers, what
        if r.status_code >= 400:
            assert "target" not in r.json()["error"], what
    assert patch.headers["x-ms-correlation-request-id"] == "my-correlation"  # the client's, echoed
    assert UUID.match(answers["get"].headers["x-ms-correlation-request-id"])
    reads = [int(answers[w].headers["x-ms-ratelimit-remaining-subscription-reads"]) for w in ("get", "status", "keys")]
    assert reads == sorted(reads, reverse=True) and reads[0] > reads[-1]  # counts down
