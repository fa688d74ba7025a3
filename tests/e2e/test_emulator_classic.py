"""Contract tests: the emulator's classic management API (classic REFERENCE §2-3)."""

from __future__ import annotations

from amlws.emulator import seed as demo

WS = f"/workspaces/{demo.DEMO_WORKSPACE}/webservices"
PRED = f"{WS}/{demo.DEMO_PREDICTIVE_SERVICE}"
TRAIN = f"{WS}/{demo.DEMO_TRAINING_SERVICE}"
TOKEN = {"Authorization": f"Bearer {demo.DEMO_WORKSPACE_TOKEN}"}
KEY = {"Authorization": f"Bearer {demo.DEMO_API_KEY}"}


def _catalogue_error(r, status, detail_code):
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"code", "message", "details"}
    assert err["details"][0]["code"] == detail_code
    return err


def test_list_and_get_services_and_endpoints(http):
    services = http.get(WS, headers=TOKEN).json()
    assert [s["Name"] for s in services] == ["Bike Rental Training", "Bike Rental [predictive exp.]"]
    for s in services:
        assert set(s) == {"Id", "Name", "Description", "CreationTime", "WorkspaceId", "DefaultEndpointName", "EndpointCount"}
        assert s["DefaultEndpointName"] == "default"
    assert http.get(PRED, headers=TOKEN).json()["EndpointCount"] == 2
    eps = http.get(PRED + "/endpoints", headers=TOKEN).json()
    assert [e["Name"] for e in eps] == ["default", demo.DEMO_ENDPOINT]
    ep = http.get(f"{PRED}/endpoints/{demo.DEMO_ENDPOINT}", headers=TOKEN).json()
    for field in ("Name", "Description", "CreationTime", "WorkspaceId", "WebServiceId", "HelpLocation", "PrimaryKey",
                  "SecondaryKey", "ApiLocation", "Version", "MaxConcurrentCalls", "DiagnosticsTraceLevel", "ThrottleLevel", "Resources"):
        assert field in ep
    assert ep["ApiLocation"].startswith(http.url + f"/workspaces/{demo.DEMO_WORKSPACE}/services/")
    assert ep["Resources"][0]["Name"] == demo.DEMO_RESOURCE_NAME
    assert set(ep["Resources"][0]["Location"]) == {"BaseLocation", "RelativeLocation", "SasBlobToken"}
    # a training service has no updatable resources
    assert http.get(f"{TRAIN}/endpoints/default", headers=TOKEN).json()["Resources"] == []


def test_auth_workspace_token_or_endpoint_key(http):
    _catalogue_error(http.get(WS), 401, "ManagementRequestUnauthorized")
    _catalogue_error(http.get(WS, headers={"Authorization": "Bearer nope"}), 401, "ManagementRequestUnauthorized")
    # an endpoint key works for that service's endpoint calls, not for workspace-level ones
    assert http.get(f"{PRED}/endpoints/{demo.DEMO_ENDPOINT}", headers=KEY).status_code == 200
    _catalogue_error(http.get(WS, headers=KEY), 401, "ManagementRequestUnauthorized")
    _catalogue_error(http.get(f"/workspaces/{'0' * 32}/webservices", headers=TOKEN), 404, "WorkspaceNotFound")
    _catalogue_error(http.get(f"{WS}/{'f' * 32}", headers=TOKEN), 404, "WebServiceNotFound")
    _catalogue_error(http.get(f"{WS}/not-a-guid", headers=TOKEN), 400, "WebServiceIdInvalid")


def test_add_endpoint_put_and_rules(http):
    r = http.put(f"{PRED}/endpoints/newep01", headers=TOKEN,
                 json={"Description": "New end point", "ThrottleLevel": "High", "MaxConcurrentCalls": "50"})
    assert r.status_code == 200
    ep = r.json()
    assert ep["Name"] == "newep01" and ep["ThrottleLevel"] == "High" and ep["MaxConcurrentCalls"] == 50
    assert ep["Resources"][0]["Name"] == demo.DEMO_RESOURCE_NAME and ep["PrimaryKey"]
    low = http.put(f"{PRED}/endpoints/newep02", headers=TOKEN, json={"Description": "x", "ThrottleLevel": "Low", "MaxConcurrentCalls": 30})
    assert low.json()["MaxConcurrentCalls"] == 4  # Low forces 4
    _catalogue_error(http.put(f"{PRED}/endpoints/Bad_Name", headers=TOKEN, json={}), 400, "EndpointNameInvalid")
    _catalogue_error(http.put(f"{PRED}/endpoints/newep03", headers=TOKEN, json={"ThrottleLevel": "High", "MaxConcurrentCalls": 500}),
                     400, "WebServiceTooManyConcurrentRequestRequirement")
    assert len(http.get(PRED + "/endpoints", headers=TOKEN).json()) == 4


def test_patch_rules(http):
    model = http.get(f"{PRED}/endpoints/default", headers=TOKEN).json()["Resources"][0]
    body = {"Resources": [{"Name": demo.DEMO_RESOURCE_NAME, "Location": model["Location"]}]}
    _catalogue_error(http.patch(f"{PRED}/endpoints/default", headers=TOKEN, json=body), 400, "CannotPatchDefaultEndpoint")
    _catalogue_error(http.patch(f"{TRAIN}/endpoints/default", headers=TOKEN, json=body), 400, "CannotPatchDefaultEndpoint")
    wrong = {"Resources": [{"Name": "Other [trained model]", "Location": model["Location"]}]}
    err = _catalogue_error(http.patch(f"{PRED}/endpoints/{demo.DEMO_ENDPOINT}", headers=KEY, json=wrong), 400, "RequestBodyInvalid")
    assert demo.DEMO_RESOURCE_NAME in err["details"][0]["message"]
    empty = {"Resources": [{"Name": "", "Location": model["Location"]}]}
    err = _catalogue_error(http.patch(f"{PRED}/endpoints/{demo.DEMO_ENDPOINT}", headers=KEY, json=empty), 400, "RequestBodyInvalid")
    assert err["details"][0]["message"] == "Resource name is empty string"
    bad_url = {"Resources": [{"Name": demo.DEMO_RESOURCE_NAME, "Location": {
        "BaseLocation": "aml://trainedmodel/", "RelativeLocation": "missing.ilearner", "SasBlobToken": ""}}]}
    err = _catalogue_error(http.patch(f"{PRED}/endpoints/{demo.DEMO_ENDPOINT}", headers=KEY, json=bad_url), 400, "RequestBodyInvalid")
    assert "URL for the retraining model is invalid" in err["details"][0]["message"]
    # a valid PATCH with the endpoint key (the docs' sample) succeeds
    other = http.control("POST", "models", {"model": {"format": "amlws-emulator-ilearner", "version": 1, "algorithm": "linear_regression",
                                                      "label": "rentals", "features": ["temperature"], "intercept": 1.0,
                                                      "coefficients": {"temperature": 2.0}}})
    ok = {"Resources": [{"Name": demo.DEMO_RESOURCE_NAME, "Location": {**other, "ConnectionString": None}}]}
    r = http.patch(f"{PRED}/endpoints/{demo.DEMO_ENDPOINT}", headers=KEY, json=ok)
    assert r.status_code == 200
    assert r.json()["Resources"][0]["Location"] == other


def test_refresh_304_when_nothing_changed(http):
    ep = f"{PRED}/endpoints/{demo.DEMO_ENDPOINT}"
    r = http.post(ep + "/refresh", headers=TOKEN, json={"OverwriteResources": "False"})
    assert r.status_code == 304 and r.content == b""
    http.control("POST", f"classic/workspaces/{demo.DEMO_WORKSPACE}/webservices/{demo.DEMO_PREDICTIVE_SERVICE}/redeploy", {})
    r = http.post(ep + "/refresh", headers=TOKEN, json={"OverwriteResources": "False"})
    assert r.status_code == 200
    assert http.post(ep + "/refresh", headers=TOKEN, json={"OverwriteResources": "False"}).status_code == 304
    _catalogue_error(http.post(f"{PRED}/endpoints/default/refresh", headers=TOKEN, json={"OverwriteResources": "True"}),
                     400, "CannotRefreshDefaultEndpoint")


def test_refresh_with_overwrite_replaces_a_patched_model(http):
    ep = f"{PRED}/endpoints/{demo.DEMO_ENDPOINT}"
    default_loc = http.get(f"{PRED}/endpoints/default", headers=TOKEN).json()["Resources"][0]["Location"]
    new = http.control("POST", "models", {"model": {"format": "amlws-emulator-ilearner", "version": 1, "algorithm": "linear_regression",
                                                    "label": "rentals", "features": ["temperature"], "intercept": 0.0,
                                                    "coefficients": {"temperature": 1.0}}})
    http.patch(ep, headers=TOKEN, json={"Resources": [{"Name": demo.DEMO_RESOURCE_NAME, "Location": new}]})
    r = http.post(ep + "/refresh", headers=TOKEN, json={"OverwriteResources": True})
    assert r.status_code == 200
    assert http.get(ep, headers=TOKEN).json()["Resources"][0]["Location"] == default_loc


def test_delete_default_only_when_alone(http):
    _catalogue_error(http.delete(f"{PRED}/endpoints/default", headers=TOKEN), 400, "CannotDeleteDefaultEndpoint")
    assert http.delete(f"{PRED}/endpoints/{demo.DEMO_ENDPOINT}", headers=TOKEN).status_code == 204
    _catalogue_error(http.get(f"{PRED}/endpoints/{demo.DEMO_ENDPOINT}", headers=TOKEN), 404, "EndpointNotFound")
    assert http.delete(f"{PRED}/endpoints/default", headers=TOKEN).status_code == 204
    assert http.delete(PRED, headers=TOKEN).status_code == 204
    assert [s["Id"] for s in http.get(WS, headers=TOKEN).json()] == [demo.DEMO_TRAINING_SERVICE]


def test_patch_with_a_malformed_resource_is_a_400_not_a_crash(http):
    """A ``Location`` given as a string (the blob URL) or a resource that is not an object is a 400
    ``RequestBodyInvalid``, not a 500 from an AttributeError in the handler (issue 13 item 6)."""
    mgmt = f"{PRED}/endpoints/{demo.DEMO_ENDPOINT}"
    before = http.get(mgmt, headers=KEY).json()["Resources"]
    as_url = {"Resources": [{"Name": demo.DEMO_RESOURCE_NAME, "Location": "https://acct.blob.core.windows.net/c/m.ilearner"}]}
    err = _catalogue_error(http.patch(mgmt, headers=KEY, json=as_url), 400, "RequestBodyInvalid")
    assert "BaseLocation" in err["details"][0]["message"]
    _catalogue_error(http.patch(mgmt, headers=KEY, json={"Resources": ["just a name"]}), 400, "RequestBodyInvalid")
    assert http.get(mgmt, headers=KEY).json()["Resources"] == before  # nothing half-applied
    assert http.control("GET", "requests", None)["counts"].get("Endpoints_Patch") == 2
