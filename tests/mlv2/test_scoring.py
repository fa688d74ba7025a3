"""``amlws invoke`` on an online endpoint (its ``scoringUri``, the credential its ``authMode`` takes,
the MLflow ``input_data`` body, the ``azureml-model-deployment`` header) and the input parsing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from amlws.emulator import seed as demo
from amlws.errors import UsageError
from amlws.plugins.mlv2.scoring import body_from_text

from .test_rollout import EP, V2, WS, observers, v2

__all__ = ["observers", "v2"]


def test_invoke_without_deployment_follows_the_split_and_prints_no_key(v2: V2):
    v2.control("DELETE", "requests")
    code, out, err = v2.run("invoke", EP, "--input-file", str(v2.rows), "-o", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["deployment"] == "blue" and len(data["predictions"]) == 3
    assert all(isinstance(p, float) for p in data["predictions"])
    ops = [r["operation"] for r in v2.requests_log()]
    assert ops == ["OnlineEndpoints_Get", "OnlineEndpoints_ListKeys", "OnlineEndpoints_Score"]
    for secret in (demo.DEMO_API_KEY, demo.DEMO_API_KEY_SECONDARY):
        assert secret not in out and secret not in err
    code, out, err = v2.run("invoke", EP, "--input-file", str(v2.rows), "--debug", "-o", "json")
    assert code == 0 and demo.DEMO_API_KEY not in out + err  # not even in the HTTP trace


def test_invoke_with_deployment_routes_by_the_header(v2: V2):
    assert v2.run("rollout", EP, "--model", "bike-rentals:2", "--steps", "100", "--keep-old", "--yes")[0] == 0
    served, new = v2.predictions()
    assert served == "green"
    served, old = v2.predictions("--deployment", "blue")  # an endpoint id and --deployment
    assert served == "blue" and old != new
    code, out, err = v2.run("invoke", "-g", demo.DEMO_RESOURCE_GROUP, "-w", demo.DEMO_MLV2_WORKSPACE, "-e", demo.DEMO_MLV2_ENDPOINT,
                            "-d", "blue", "--subscription", demo.DEMO_SUBSCRIPTION, "--input-file", str(v2.rows), "-o", "json")
    assert code == 0, err
    assert json.loads(out) == {**json.loads(out), "deployment": "blue", "predictions": old}


def test_invoke_of_an_unknown_deployment_is_not_found(v2: V2):
    code, _, err = v2.run("invoke", EP, "--input-file", str(v2.rows), "--deployment", "purple")
    assert code == 3, err


def test_invoke_what_if_sends_nothing(v2: V2):
    v2.control("DELETE", "requests")
    code, out, err = v2.run("invoke", EP, "--input-file", str(v2.rows), "--deployment", "blue", "--what-if", "-o", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["whatIf"] and data["headers"]["azureml-model-deployment"] == "blue"
    assert data["body"]["input_data"]["columns"] == ["temperature", "humidity"]
    assert v2.requests_log() == []


@pytest.mark.parametrize(("mode", "operation"), [("AMLToken", "OnlineEndpoints_GetToken"), ("AADToken", None)])
def test_invoke_takes_the_credential_the_auth_mode_needs(v2: V2, mode: str, operation: str | None):
    """An endpoint in AMLToken mode scores with the token action's token; in AADToken mode with an Entra
    token (the emulator takes its ARM tokens): neither lists keys."""
    ep = f"{WS}/onlineEndpoints/tok-ep"
    r = v2.arm("PUT", ep, json={"location": demo.DEMO_MLV2_LOCATION, "properties": {"authMode": mode}})
    assert r.status_code in (200, 201), r.text
    while v2.arm("GET", ep).json()["properties"]["provisioningState"] != "Succeeded":
        pass
    blue = v2.arm("GET", EP + "/deployments/blue").json()
    body = {"location": blue["location"], "sku": blue.get("sku"), "properties": {
        k: v for k, v in blue["properties"].items() if k not in ("provisioningState",)}}
    assert v2.arm("PUT", ep + "/deployments/one", json=body).status_code in (200, 201)
    while v2.arm("GET", ep + "/deployments/one").json()["properties"]["provisioningState"] != "Succeeded":
        pass
    v2.control("DELETE", "requests")
    code, out, err = v2.run("invoke", ep, "--input-file", str(v2.rows), "--deployment", "one", "-o", "json")
    assert code == 0, err
    assert json.loads(out)["deployment"] == "one"
    ops = [r["operation"] for r in v2.requests_log()]
    assert "OnlineEndpoints_ListKeys" not in ops and ops[-1] == "OnlineEndpoints_Score"
    assert (operation in ops) if operation else ops == ["OnlineEndpoints_Get", "OnlineEndpoints_Score"]


# --- the body ------------------------------------------------------------------------------------


def test_a_csv_becomes_mlflow_input_data_with_numbers():
    assert body_from_text("\ufefftemperature,humidity,day\n20,50.5,mon\n", "rows.csv") == {
        "input_data": {"columns": ["temperature", "humidity", "day"], "index": [0], "data": [[20, 50.5, "mon"]]}}


def test_json_rows_are_wrapped_and_a_body_is_sent_as_it_is():
    assert body_from_text('[{"a": 1, "b": 2}, {"a": 3}]', "x") == {
        "input_data": {"columns": ["a", "b"], "index": [0, 1], "data": [[1, 2], [3, None]]}}
    body: dict[str, Any] = {"input_data": {"columns": ["a"], "data": [[1]]}}
    assert body_from_text(json.dumps(body), "x") == body
    assert body_from_text('{"dataframe_records": [{"a": 1}]}', "x") == {"dataframe_records": [{"a": 1}]}


@pytest.mark.parametrize("text", ["", "a,b\n", '{"rows": 1}', "[1, 2]", "{not json"])
def test_input_that_is_no_body_is_a_usage_error(text: str):
    with pytest.raises(UsageError):
        body_from_text(text, "rows")
