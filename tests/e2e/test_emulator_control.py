"""The control plane: faults (status + Retry-After, throttling, latency, dropped connections), the
request log, reset/seed/state, and the refusal of demo credentials off loopback."""

from __future__ import annotations

import time

import pytest
import requests

from amlws.emulator import seed as demo
from amlws.emulator.server import EmulatorServer

from .conftest import API, Http, arm_ws_path

PRED = arm_ws_path(demo.DEMO_ARM_PREDICTIVE)
WS = f"/workspaces/{demo.DEMO_WORKSPACE}/webservices"
TOKEN = {"Authorization": f"Bearer {demo.DEMO_WORKSPACE_TOKEN}"}


def test_status_fault_with_retry_after_fires_n_times(http, arm_headers):
    http.control("POST", "faults", {"api": "arm", "operation": "WebServices_Get", "status": 503, "retryAfter": 2, "times": 2})
    statuses = [http.get(PRED, params=API, headers=arm_headers) for _ in range(3)]
    assert [r.status_code for r in statuses] == [503, 503, 200]
    assert statuses[0].headers["Retry-After"] == "2"
    assert statuses[0].json()["error"]["code"] == "ServiceUnavailable"
    # other operations and APIs are not affected
    assert http.get(WS, headers=TOKEN).status_code == 200
    log = http.control("GET", "requests?api=arm")
    assert [e["status"] for e in log["requests"]] == [503, 503, 200]
    assert [e["fault"] for e in log["requests"]] == ["status", "status", None]


def test_classic_fault_uses_the_catalogue_shape_and_after(http):
    http.control("POST", "faults", {"api": "classic", "status": 500, "after": 1, "times": 1})
    assert http.get(WS, headers=TOKEN).status_code == 200
    r = http.get(WS, headers=TOKEN)
    assert r.status_code == 500 and r.json()["error"]["code"] == "InternalError" and "Retry-After" not in r.headers
    assert http.get(WS, headers=TOKEN).status_code == 200


def test_throttling_returns_429_with_retry_after(http):
    http.control("POST", "faults", {"kind": "throttle", "api": "classic", "limit": 2, "window": 5})
    codes = [http.get(WS, headers=TOKEN) for _ in range(3)]
    assert [r.status_code for r in codes] == [200, 200, 429]
    assert 1 <= int(codes[2].headers["Retry-After"]) <= 5


def test_latency_and_dropped_connections(http, arm_headers):
    http.control("POST", "faults", [{"kind": "latency", "api": "classic", "seconds": 0.3, "times": 1},
                                    {"kind": "drop", "api": "arm", "times": 1}])
    t = time.monotonic()
    assert http.get(WS, headers=TOKEN).status_code == 200
    assert time.monotonic() - t >= 0.3
    with pytest.raises(requests.ConnectionError):
        http.get(PRED, params=API, headers=arm_headers)
    assert http.get(PRED, params=API, headers=arm_headers).status_code == 200
    assert len(http.control("GET", "faults")["faults"]) == 2
    http.control("DELETE", "faults")
    assert http.control("GET", "faults")["faults"] == []


def test_request_log_counts_per_operation(http, arm_headers):
    http.get(PRED, params=API, headers=arm_headers)
    http.get(WS, headers=TOKEN)
    http.get(WS, headers=TOKEN)
    http.get("/nowhere")
    data = http.control("GET", "requests")
    assert data["counts"] == {"WebServices_Get": 1, "WebServices_List": 2, "NotFound": 1}
    since = data["requests"][-1]["seq"]
    http.get(WS, headers=TOKEN)
    assert [e["operation"] for e in http.control("GET", f"requests?since={since}")["requests"]] == ["WebServices_List"]
    entry = data["requests"][0]
    assert set(entry) >= {"seq", "time", "method", "path", "query", "api", "operation", "status", "durationMs"}
    http.control("DELETE", "requests")
    assert http.control("GET", "requests")["requests"] == []


def test_reset_seed_and_state(http):
    http.control("POST", "reset")
    assert http.get(WS, headers=TOKEN).status_code == 404  # workspace gone
    custom = {"armTokens": ["tok"], "subscriptions": [{"id": "sub1", "resourceGroups": ["rg1"]}],
              "workspaces": [{"id": "a" * 32, "token": "wstok", "services": [
                  {"id": "b" * 32, "name": "Scorer", "kind": "predictive", "resourceName": "M [trained model]",
                   "model": {"label": "y", "intercept": 1, "coefficients": {"x": 2}}, "endpoints": [{"name": "ep1"}]}]}],
              "armServices": [{"subscription": "sub1", "resourceGroup": "rg1", "name": "svc", "resourceName": "M [trained model]",
                               "model": {"label": "y", "intercept": 0, "coefficients": {"x": 3}}}]}
    summary = http.control("POST", "seed", custom)
    ep = summary["workspaces"][0]["services"][0]["endpoints"][1]
    assert ep["name"] == "ep1" and ep["managementUrl"].endswith(f"/workspaces/{'a' * 32}/webservices/{'b' * 32}/endpoints/ep1")
    r = http.post(ep["apiLocation"] + "/execute", params={"api-version": "2.0"}, headers={"Authorization": f"Bearer {ep['primaryKey']}"},
                  json={"Inputs": {"input1": {"ColumnNames": ["x"], "Values": [["2"]]}}})
    assert r.json()["Results"]["output1"]["value"]["Values"] == [["2", "5.0"]]
    arm = summary["armServices"][0]
    r = http.post(arm["apiLocation"] + "/execute", params={"api-version": "2.0"}, headers={"Authorization": f"Bearer {arm['primaryKey']}"},
                  json={"Inputs": {"input1": {"ColumnNames": ["x"], "Values": [["2"]]}}})
    assert r.json()["Results"]["output1"]["value"]["Values"] == [["2", "6.0"]]
    assert http.get(arm["id"], params=API, headers={"Authorization": "Bearer tok"}).status_code == 200
    state = http.control("GET", "state")
    assert set(state) >= {"classic_workspace", "classic_service", "classic_endpoint", "arm_service", "model"}
    r = http.post("/_emulator/seed", json={"workspaces": [{"id": "x"}], "subscriptions": [{}]})
    assert r.status_code == 400 and "invalid seed" in r.json()["error"]["message"]


def test_demo_credentials_refused_off_loopback():
    with pytest.raises(ValueError, match="non-loopback"):
        EmulatorServer(host="0.0.0.0", seed="demo").start()


def test_persistent_state_survives_restart_on_a_new_port(tmp_path, cert_dir):
    state = tmp_path / "state.sqlite"
    with EmulatorServer(seed="demo", state=state, cert_dir=cert_dir) as first:
        h = Http(first)
        assert h.put(f"{WS}/{demo.DEMO_PREDICTIVE_SERVICE}/endpoints/kept", headers=TOKEN, json={}).status_code == 200
    with EmulatorServer(seed="demo", state=state, cert_dir=cert_dir) as second:
        h = Http(second)
        ep = h.get(f"{WS}/{demo.DEMO_PREDICTIVE_SERVICE}/endpoints/kept", headers=TOKEN).json()
        assert ep["ApiLocation"].startswith(second.url)
        assert len(h.get(f"{WS}/{demo.DEMO_PREDICTIVE_SERVICE}/endpoints", headers=TOKEN).json()) == 3  # not re-seeded
        r = h.post(ep["ApiLocation"] + "/execute", params={"api-version": "2.0"}, headers={"Authorization": f"Bearer {ep['PrimaryKey']}"},
                   json={"Inputs": {"input1": {"ColumnNames": ["temperature", "humidity"], "Values": [["0", "0"]]}}})
        assert r.status_code == 200
