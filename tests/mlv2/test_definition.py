"""The v2 backend's pure parts: ids and model references, export, import checks, the model patch,
create-only fields and traffic rules — against the spec's examples (vendored in tests/data/specs/mlv2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from amlws.errors import ExitCode, UsageError
from amlws.plugins.mlv2 import definition, ids, schema

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "specs" / "mlv2" / "examples"
WS = "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.MachineLearningServices/workspaces/ws1"
DEP = WS + "/onlineEndpoints/ep1/deployments/blue"


def example(path: str) -> dict:
    return json.loads((EXAMPLES / path).read_text(encoding="utf-8"))


def example_resource(path: str, rtype: str) -> dict:
    """A GET example's body with a real ``type`` (the 2025-12-01 examples say ``"string"``, REFERENCE.md §13)."""
    return {**example(path)["responses"]["200"]["body"], "type": rtype}


def managed_deployment(**props: object) -> dict:
    return {"id": DEP, "name": "blue", "type": definition.DEPLOYMENT_TYPE, "location": "westus2",
            "systemData": {"createdBy": "x"}, "sku": {"name": "Default", "capacity": 1},
            "identity": {"type": "SystemAssigned", "principalId": "p", "tenantId": "t"},
            "properties": {"endpointComputeType": "Managed", "instanceType": "Standard_DS3_v2",
                           "model": WS + "/models/m/versions/1", "provisioningState": "Succeeded", **props}}


# --- ids ----------------------------------------------------------------------------------

def test_deployment_and_endpoint_ids_parse_and_canonicalise() -> None:
    parts = ids.parse_target(DEP.lower().replace("/deployments/blue", "/deployments/blue"))
    assert parts is not None and parts["deployment"] == "blue" and parts["endpoint"] == "ep1"
    assert parts["id"].startswith("/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.MachineLearningServices/")
    ep = ids.parse_target(WS + "/onlineEndpoints/ep1")
    assert ep is not None and ep["deployment"] is None and ep["id"] == WS + "/onlineEndpoints/ep1"
    assert ids.parse_target("/subscriptions/s/resourceGroups/r/providers/Microsoft.MachineLearning/webServices/x") is None
    with pytest.raises(UsageError, match="not an online endpoint or deployment"):
        ids.parse_target(WS + "/models/m/versions/1")
    assert ids.endpoint_id(DEP) == WS + "/onlineEndpoints/ep1"


def test_build_id_refuses_bad_names() -> None:
    assert ids.build_id("sub1", "rg1", "ws1", "ep1", "blue") == DEP
    with pytest.raises(UsageError) as err:
        ids.build_id("sub1", "rg1", "ws1", "ep 1")
    assert err.value.exit_code == ExitCode.USAGE


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("azureml:m:3", WS + "/models/m/versions/3"),
        ("m:3", WS + "/models/m/versions/3"),
        (WS.replace("ws1", "other") + "/models/m/versions/7", WS.replace("ws1", "other") + "/models/m/versions/7"),
        ("azureml://registries/azureml/models/m/versions/2", "azureml://registries/azureml/models/m/versions/2"),
    ],
)
def test_model_references_resolve_to_the_id_a_deployment_holds(text: str, expected: str) -> None:
    assert ids.parse_model_ref(text).asset_id(WS) == expected


def test_latest_needs_resolving_and_bad_references_are_usage_errors() -> None:
    ref = ids.parse_model_ref("azureml:m@latest")
    assert ref.name == "m" and ref.version is None and ref.short == "m:latest"
    with pytest.raises(UsageError, match="not resolved"):
        ref.asset_id(WS)
    for bad in ("m", "m:", "m@stable", "https://acct.blob.core.windows.net/models/x.ilearner?sig=1", "a:b:c"):
        with pytest.raises(UsageError) as err:
            ids.parse_model_ref(bad)
        assert err.value.exit_code == ExitCode.USAGE
    with pytest.raises(UsageError, match="Studio model location"):
        ids.parse_model_ref("https://acct.blob.core.windows.net/models/x.ilearner")


# --- export, import, patch ----------------------------------------------------------------------

def test_export_drops_exactly_the_read_only_fields() -> None:
    out = definition.export_document(managed_deployment())
    assert set(out) == {"location", "sku", "identity", "properties"}
    assert out["identity"] == {"type": "SystemAssigned"}
    assert "provisioningState" not in out["properties"] and out["properties"]["instanceType"] == "Standard_DS3_v2"
    assert schema.validate(out, definition.DEPLOYMENT_SCHEMA) == []


def test_the_spec_example_deployment_and_endpoint_pass_the_import_check() -> None:
    dep = example_resource("OnlineDeployment/ManagedOnlineDeployment/get.json", definition.DEPLOYMENT_TYPE)
    dep["properties"]["model"] = WS + "/models/m/versions/1"  # the example's "string" placeholder is no version id
    assert definition.check_document(dep, "dep.json") == "deployment"
    ep = example_resource("Workspace/OnlineEndpoint/get.json", definition.ENDPOINT_TYPE)
    ep["properties"]["traffic"] = {"blue": 100}
    assert definition.check_document(ep, "ep.json") == "endpoint"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"endpointComputeType": None}, "not an Azure ML online deployment"),
        ({"model": "https://acct.blob.core.windows.net/m/x.ilearner"}, "Studio model location"),
        ({"model": "m:1"}, "not a model version id"),
        ({"scaleSettings": {"scaleType": "TargetUtilization", "minInstances": "1"}}, "minInstances: expected an integer"),
        ({"scaleSettings": {"scaleType": "Sometimes"}}, "scaleType: 'Sometimes' is not one of"),
    ],
)
def test_import_check_names_the_problem(change: dict, message: str) -> None:
    doc = managed_deployment(**change)
    if change.get("endpointComputeType", "x") is None:
        del doc["properties"]["endpointComputeType"]
        del doc["type"]
    with pytest.raises(UsageError, match=message) as err:
        definition.check_document(doc, "dep.json")
    assert err.value.exit_code == ExitCode.USAGE


def test_patch_model_sets_the_version_id_and_nothing_else() -> None:
    doc = definition.export_document(managed_deployment())
    patched = definition.patch_model(doc, ids.parse_model_ref("m:2"), WS)
    assert patched["properties"]["model"] == WS + "/models/m/versions/2"
    assert {**patched["properties"], "model": doc["properties"]["model"]} == doc["properties"]
    assert doc["properties"]["model"].endswith("/versions/1")  # the input is not changed


def test_create_only_changes_come_from_the_spec() -> None:
    live = managed_deployment()
    body = definition.export_document(live)
    assert definition.create_only_changes(live, body) == []
    body["properties"]["instanceType"] = "Standard_F2s_v2"
    body["properties"]["model"] = WS + "/models/m/versions/2"
    assert definition.create_only_changes(live, body) == ["properties.instanceType"]


# --- traffic ----------------------------------------------------------------------------

def test_parse_shares_accepts_the_az_ml_forms() -> None:
    assert definition.parse_shares(["blue=90", "green=10"]) == {"blue": 90, "green": 10}
    assert definition.parse_shares(["blue=90 green=10"]) == {"blue": 90, "green": 10}
    for bad in (["blue"], ["blue=x"], ["blue=101"], ["blue=50", "blue=50"]):
        with pytest.raises(UsageError):
            definition.parse_shares(bad)


@pytest.mark.parametrize(
    ("traffic", "mirror", "message"),
    [
        ({"blue": 90, "green": 20}, {}, "sum to 110"),
        ({"blue": 90, "red": 10}, {}, "no deployment named red"),
        ({"blue": 100}, {"green": 60}, "over the 50 % limit"),
        ({"blue": 90, "green": 10}, {"green": 10}, "cannot take live and mirrored"),
        ({"blue": 100}, {"green": 10, "gold": 10}, "one deployment only"),
    ],
)
def test_traffic_rules(traffic: dict, mirror: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message) as err:
        definition.check_traffic({"traffic": traffic, "mirrorTraffic": mirror}, {"blue", "green", "gold"}, "ep1")
    assert err.value.exit_code == ExitCode.USAGE


def test_valid_splits_pass_and_zero_shares_are_dropped_from_the_body() -> None:
    for traffic in ({"blue": 100}, {"blue": 0, "green": 0}, {"blue": 90, "green": 10}):
        definition.check_traffic({"traffic": traffic}, {"blue", "green"}, "ep1")
    definition.check_traffic({"traffic": {"blue": 100}, "mirrorTraffic": {"green": 50}}, {"blue", "green"}, "ep1")
    ep = example_resource("Workspace/OnlineEndpoint/get.json", definition.ENDPOINT_TYPE)
    body = definition.with_traffic(ep, {"blue": 0, "green": 100}, None)
    assert body["properties"]["traffic"] == {"green": 100}
    assert "id" not in body and "scoringUri" not in body["properties"]
    assert schema.validate(body, definition.ENDPOINT_SCHEMA) == []


def test_schema_walker_reports_wrong_types_read_only_fields_and_discriminators() -> None:
    problems = schema.validate({"location": "x", "properties": {"endpointComputeType": "Managed", "instanceType": 3,
                                                               "provisioningState": "Succeeded"}},
                               definition.DEPLOYMENT_SCHEMA)
    assert problems == ["$.properties.instanceType: expected a string, got int",
                        "$.properties.provisioningState: read-only (the service sets it; leave it out)"]
    assert schema.validate({"location": "x", "properties": {"endpointComputeType": "Cloud"}}, definition.DEPLOYMENT_SCHEMA) == [
        "$.properties.endpointComputeType: 'Cloud' is not one of Kubernetes, Managed"]


@pytest.mark.parametrize("path,name", [
    ("OnlineDeployment/ManagedOnlineDeployment/createOrUpdate.json", "OnlineDeploymentTrackedResource"),
    ("Workspace/OnlineEndpoint/createOrUpdate.json", "OnlineEndpointTrackedResource"),
    ("Workspace/ModelVersion/createOrUpdate.json", "ModelVersionResource"),
    ("Workspace/ModelContainer/createOrUpdate.json", "ModelContainerResource"),
])
def test_every_spec_example_request_body_conforms(path: str, name: str) -> None:
    assert schema.validate(example(path)["parameters"]["body"], name) == []


def test_the_add_only_properties_map_keeps_the_live_values() -> None:
    """A rollback sends a revision saved before the last operation: its AzureAsyncOperationUri is old,
    and the map may not be altered; entries the file adds are kept."""
    live = managed_deployment(properties={"AzureAsyncOperationUri": "https://x/op2", "team": "a"})
    body = definition.export_document(managed_deployment(properties={"AzureAsyncOperationUri": "https://x/op1", "new": "b"}))
    out = definition.keep_live_properties(body, live)
    assert out["properties"]["properties"] == {"AzureAsyncOperationUri": "https://x/op2", "team": "a", "new": "b"}
    assert body["properties"]["properties"]["AzureAsyncOperationUri"] == "https://x/op1"  # the input is not changed
    assert definition.keep_live_properties(body, None) is body
