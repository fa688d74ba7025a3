"""ARM PATCH semantics (whole payload parts replaced, settings merged, empty parameters dropped) and
large definitions (payloadsInBlobStorage): the emulator offloads, amlws reads the blob back."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest

from amlws.emulator import seed as demo
from amlws.emulator.server import EmulatorServer

from .conftest import API, Http, arm_ws_path, in_process_cli

PRED = arm_ws_path(demo.DEMO_ARM_PREDICTIVE)
PARTS = ("assets", "input", "output", "package", "parameters", "exampleRequest")
NEW_URI = "https://devstoreaccount1.blob.core.windows.net/models/big.ilearner"


def get(http: Http, headers: dict[str, str], path: str = PRED) -> dict[str, Any]:
    r = http.get(path, params=API, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def patch(http: Http, headers: dict[str, str], body: dict[str, Any], path: str = PRED) -> None:
    http.control("POST", "transitions", {"arm_lro": {"mode": "immediate"}})
    r = http.patch(path, params=API, headers=headers, json=body)
    assert r.status_code == 200, r.text
    assert http.get(r.headers["Azure-AsyncOperation"], headers=headers).json()["status"] == "Succeeded"


def export_of(doc: dict[str, Any]) -> dict[str, Any]:
    out = {"location": doc["location"], "tags": doc["tags"], "properties": copy.deepcopy(doc["properties"])}
    for ro in ("createdOn", "modifiedOn", "provisioningState", "swaggerLocation"):
        out["properties"].pop(ro)
    return out


def model_asset(props: dict[str, Any]) -> str:
    return next(k for k, a in props["assets"].items() if a["name"].endswith("[trained model]"))


# --- PATCH semantics ----------------------------------------------------------------------


def test_whole_definition_patch_leaving_out_a_node_and_asset_gives_a_consistent_graph(http, arm_headers, validate_arm):
    body = export_of(get(http, arm_headers))
    props = body["properties"]
    # drop the trained-model node and asset, and the edge from it: the graph the PATCH describes
    gone_asset = model_asset(props)
    gone_node = next(n for n, v in props["package"]["nodes"].items() if v.get("assetId") == gone_asset)
    del props["assets"][gone_asset]
    del props["package"]["nodes"][gone_node]
    props["package"]["edges"] = [e for e in props["package"]["edges"] if gone_node not in (e["sourceNodeId"], e["targetNodeId"])]
    patch(http, arm_headers, body)
    after = get(http, arm_headers)
    validate_arm(after, "WebService")
    got = after["properties"]
    assert got["assets"] == props["assets"] and gone_asset not in got["assets"]
    assert got["package"] == props["package"] and gone_node not in got["package"]["nodes"]
    ends = {n for e in got["package"]["edges"] for n in (e["sourceNodeId"], e["targetNodeId"])}
    assert ends <= set(got["package"]["nodes"])  # every edge joins nodes the service holds


def test_settings_objects_merge_and_absent_properties_are_kept(http, arm_headers):
    before = get(http, arm_headers)["properties"]
    keys_before = http.get(PRED + "/listKeys", params=API, headers=arm_headers).json()
    patch(http, arm_headers, {"properties": {"packageType": "Graph", "keys": {"primary": "new-primary-key"},
                                             "realtimeConfiguration": {"maxConcurrentCalls": 30}}})
    after = get(http, arm_headers)["properties"]
    keys = http.get(PRED + "/listKeys", params=API, headers=arm_headers).json()
    assert keys == {"primary": "new-primary-key", "secondary": keys_before["secondary"]}
    assert after["realtimeConfiguration"] == {"maxConcurrentCalls": 30}
    for kept in ("assets", "package", "input", "output", "title", "storageAccount"):
        assert after[kept] == before[kept]


def test_empty_parameters_are_dropped_from_get_after_a_patch(http, arm_headers):
    assert get(http, arm_headers)["properties"]["parameters"] == {}
    patch(http, arm_headers, {"properties": {"packageType": "Graph", "title": "Retitled"}})
    after = get(http, arm_headers)["properties"]
    assert after["title"] == "Retitled" and "parameters" not in after
    # a PATCH that sets global parameters keeps them
    patch(http, arm_headers, {"properties": {"packageType": "Graph", "parameters": {"seed": {"value": "7"}}}})
    assert get(http, arm_headers)["properties"]["parameters"] == {"seed": {"value": "7"}}


# --- offload ------------------------------------------------------------------------------------


def test_large_put_is_offloaded_to_a_payload_blob_the_emulator_serves(http, arm_headers, validate_arm):
    http.control("POST", "config", {"arm_payload_threshold": 1000})
    body = export_of(get(http, arm_headers))
    path = arm_ws_path("big-service")
    http.control("POST", "transitions", {"arm_lro": {"mode": "immediate"}})
    r = http.put(path, params=API, headers=arm_headers, json=body)
    assert r.status_code == 201, r.text
    doc = get(http, arm_headers, path)
    validate_arm(doc, "WebService")
    props = doc["properties"]
    assert props["payloadsInBlobStorage"] is True
    assert not set(PARTS) & set(props)
    loc = props["payloadsLocation"]
    assert loc["uri"].startswith(http.url + "/_payloads/") and loc["credentials"].startswith("?") and "sig=" in loc["credentials"]
    blob = http.get(loc["uri"] + loc["credentials"])
    assert blob.status_code == 200
    assert blob.json() == {k: body["properties"][k] for k in PARTS}
    denied = http.get(loc["uri"])
    assert denied.status_code == 403 and denied.headers["x-ms-error-code"] == "AuthenticationFailed"
    # the signature never reaches the request log
    assert all("sig" not in r["query"] for r in http.control("GET", "requests")["requests"])
    # a small service stays inline
    assert get(http, arm_headers)["properties"]["payloadsInBlobStorage"] is False


@pytest.fixture
def cli(emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    for name in list(os.environ):
        if name.startswith("AMLWS_") or name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            monkeypatch.delenv(name)
    for k, v in {**emulator.env(), "AMLWS_STATE_DIR": str(tmp_path / "state"), "AMLWS_CONFIG_DIR": str(tmp_path / "config"),
                 "AMLWS_POLL_INTERVAL": "0.02"}.items():
        monkeypatch.setenv(k, v)
    return in_process_cli(capsys)


def test_export_patch_ilearner_update_of_a_large_service_round_trips(cli, http, arm_headers, tmp_path):
    # check_models off: NEW_URI is a made-up blob (this test is about the payload, not the model)
    http.control("POST", "config", {"arm_payload_threshold": 1000, "check_models": False})
    patch(http, arm_headers, {"properties": {"packageType": "Graph", "title": "Big"}})  # re-evaluated on change
    live = get(http, arm_headers)["properties"]
    assert live["payloadsInBlobStorage"] is True and "assets" not in live
    token = live["payloadsLocation"]["credentials"].rsplit("sig=", 1)[1]
    http.control("DELETE", "requests")

    f = tmp_path / "svc.json"
    code, out, err = cli("export", PRED, "-f", str(f))
    assert code == 0, err
    ops = [r["operation"] for r in http.control("GET", "requests")["requests"]]
    assert ops == ["WebServices_Get", "Payloads_Get"], ops
    exported = json.loads(f.read_text(encoding="utf-8"))["properties"]
    assert set(PARTS) - {"parameters"} <= set(exported)  # the whole definition (parameters was emptied by the PATCH)
    assert exported["payloadsInBlobStorage"] is False and "payloadsLocation" not in exported
    assert token not in out + err + f.read_text(encoding="utf-8")

    code, out, err = cli("patch-ilearner", str(f), "--uri", NEW_URI)
    assert code == 0, err
    code, out, err = cli("update", PRED, "--service-updates", str(f), "--yes", "-o", "json")
    assert code == 0, err
    assert json.loads(out)["verified"] is True, out  # the final GET was read back through the blob
    assert token not in out + err

    after = get(http, arm_headers)["properties"]
    assert after["payloadsInBlobStorage"] is True
    assert after["payloadsLocation"]["credentials"] != live["payloadsLocation"]["credentials"]  # a new blob per change
    loc = after["payloadsLocation"]
    parts = http.get(loc["uri"] + loc["credentials"]).json()
    assert parts["assets"][model_asset(parts)]["locationInfo"]["uri"] == NEW_URI
    assert parts["package"] == exported["package"]


def test_update_refuses_a_definition_whose_graph_is_still_in_blob_storage(cli, http, arm_headers, tmp_path):
    http.control("POST", "config", {"arm_payload_threshold": 1000})
    patch(http, arm_headers, {"properties": {"packageType": "Graph", "title": "Big"}})
    partial = export_of(get(http, arm_headers))  # what Export-AzMlWebService writes for a large service
    f = tmp_path / "partial.json"
    f.write_text(json.dumps(partial), encoding="utf-8")
    http.control("DELETE", "requests")
    code, out, err = cli("update", PRED, "--service-updates", str(f), "--yes")
    assert code == 2, err
    assert "payload" in err and "amlws export" in err
    assert "WebServices_Patch" not in [r["operation"] for r in http.control("GET", "requests")["requests"]]


def test_list_masks_a_large_services_payload_sas(cli, http, arm_headers):
    """``amlws list -o json`` shows services as the service lists them, with SAS signatures masked
    as ``get`` masks them: a large service's payloadsLocation.credentials reads its whole definition."""
    http.control("POST", "config", {"arm_payload_threshold": 1000})
    patch(http, arm_headers, {"properties": {"packageType": "Graph", "title": "Big"}})
    token = get(http, arm_headers)["properties"]["payloadsLocation"]["credentials"].rsplit("sig=", 1)[1]
    sub, rg = PRED.split("/")[2], PRED.split("/")[4]
    code, out, err = cli("list", "-g", rg, "--subscription", sub, "-o", "json")
    assert code == 0, err
    listed = {i["id"].lower(): i for i in json.loads(out)}
    big = listed[PRED.lower()]["properties"]
    assert big["payloadsInBlobStorage"] is True and "sig=" in big["payloadsLocation"]["credentials"]
    assert token not in out + err
