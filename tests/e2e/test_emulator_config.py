"""Configuration versus state (issue 12, "The first hour"): what the emulator is started with
(flags, environment) wins over what a state file saved, a reset returns to it, and a storage
connection string it cannot use is refused at start rather than failing the first score."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from amlws.emulator import seed as demo
from amlws.emulator.exceptions import ConfigurationError
from amlws.emulator.seed import describe
from amlws.emulator.server import EmulatorServer

from .conftest import API, Http, arm_ws_path, model_blob, operation_end

PRED = arm_ws_path(demo.DEMO_ARM_PREDICTIVE)
ARM_AUTH = {"Authorization": f"Bearer {demo.DEMO_ARM_TOKEN}"}
ROW = {"Inputs": {"input1": {"ColumnNames": ["temperature", "humidity"], "Values": [["10", "50"]]}}}


def _point_arm_service_at(h: Http, uri: str) -> dict[str, Any]:
    """PATCH the [trained model] asset's uri and follow the operation to its end; returns the status body."""
    live = h.get(PRED, params=API, headers=ARM_AUTH).json()
    asset_id, asset = next((k, a) for k, a in live["properties"]["assets"].items() if a["name"] == demo.DEMO_RESOURCE_NAME)
    asset = {**asset, "locationInfo": {"uri": uri}}
    body = {"properties": {"packageType": "Graph", "assets": {asset_id: asset}}}
    r = h.patch(PRED, params=API, headers=ARM_AUTH, json=body)
    assert r.status_code == 200, r.text
    return operation_end(h, r)


def _score_arm(h: Http) -> Any:
    api = next(s for s in describe(h.server.emulator)["armServices"] if s["id"].endswith(demo.DEMO_ARM_PREDICTIVE))
    return h.post(api["apiLocation"] + "/execute", params={"api-version": "2.0"},
                  headers={"Authorization": f"Bearer {api['primaryKey']}"}, json=ROW)


def test_storage_given_at_restart_wins_over_the_saved_state_and_survives_a_reset(tmp_path, cert_dir, azurite, azurite_container):
    state = tmp_path / "state.sqlite"
    with EmulatorServer(seed="demo", state=state, cert_dir=cert_dir):
        pass  # the first start: no storage; the demo is seeded and saved
    with EmulatorServer(seed="demo", state=state, cert_dir=cert_dir, storage_connection_string=azurite.connection_string) as server:
        h = Http(server)
        assert h.control("GET", "config")["storage_connection_string"] == azurite.connection_string
        assert server.env()["AMLWS_STORAGE_CONNECTION_STRING"] == azurite.connection_string
        # the ARM retrain walkthrough's form: the model's URI without a SAS
        uri = model_blob(azurite, azurite_container, "retrained.ilearner", {"temperature": 1.0, "humidity": 0.0}, 7.0).split("?")[0]
        assert _point_arm_service_at(h, uri)["status"] == "Succeeded"
        # the service reads its URI without a SAS with the storage given now, not with a key saved before
        r = _score_arm(h)
        assert r.status_code == 200, r.text
        assert r.json()["Results"]["output1"]["value"]["Values"] == [["10", "50", "17.0"]]

        # a reset empties the state and returns to the start configuration, storage included
        h.control("POST", "config", {"arm_page_size": 1, "transitions": {"arm_lro": {"mode": "immediate"}}})
        h.control("POST", "reset", {"seed": "demo"})
        config = h.control("GET", "config")
        assert config["storage_connection_string"] == azurite.connection_string
        assert config["arm_page_size"] == 100 and config["transitions"]["arm_lro"]["mode"] == "time"
        ep = h.get(f"/workspaces/{demo.DEMO_WORKSPACE}/webservices/{demo.DEMO_PREDICTIVE_SERVICE}/endpoints/{demo.DEMO_ENDPOINT}",
                   headers={"Authorization": f"Bearer {demo.DEMO_WORKSPACE_TOKEN}"}).json()
        # the re-seeded model is a blob in that storage, as a deployed experiment's model is
        assert ep["Resources"][0]["Location"]["BaseLocation"].startswith(azurite.blob_endpoint)
        r = _score_arm(h)
        assert r.status_code == 200 and r.json()["Results"]["output1"]["value"]["Values"] == [["10", "50", "115.0"]]


def test_configuration_is_not_read_back_from_the_state_file(tmp_path, cert_dir, azurite):
    state = tmp_path / "state.sqlite"
    with EmulatorServer(seed="demo", state=state, cert_dir=cert_dir, storage_connection_string=azurite.connection_string,
                        settings={"classic_patch_delay": 5}) as first:
        Http(first).control("POST", "config", {"arm_page_size": 1})
    with EmulatorServer(seed="demo", state=state, cert_dir=cert_dir) as second:
        config = Http(second).control("GET", "config")
        assert config["storage_connection_string"] is None
        assert config["classic_patch_delay"] == 0 and config["arm_page_size"] == 100
        assert "AMLWS_STORAGE_CONNECTION_STRING" not in second.env()
        # the state itself is kept: the resources, not re-seeded
        assert len(Http(second).get(arm_ws_path("")[:-1], params=API, headers=ARM_AUTH).json()["value"]) == 2
        assert "settings" not in Http(second).control("GET", "state").get("emulator_config", {})


BAD_KEY = ("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=not-a-base64-key!;"
           "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;")


@pytest.mark.parametrize("cs, reason", [
    (BAD_KEY, "its AccountKey is not base64"),
    ("UseDevelopmentStorage", "it has no NAME=VALUE parts"),
    ("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;",
     "it has neither AccountKey nor SharedAccessSignature"),
])
def test_an_unusable_storage_connection_string_is_refused_at_start(cert_dir, cs, reason):
    with pytest.raises(ConfigurationError, match=reason):
        EmulatorServer(seed="demo", cert_dir=cert_dir, storage_connection_string=cs).start()


def test_the_cli_refuses_it_in_one_line_without_the_key(tmp_path):
    env = {"AMLWS_STATE_DIR": str(tmp_path / "state"), "AMLWS_CONFIG_DIR": str(tmp_path / "config"),
           "AMLWS_STORAGE_CONNECTION_STRING": BAD_KEY, "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-c", "from amlws.cli.application import main; main()", "emulator", "serve", "--port", "0"],
                       env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [
        "error: invalid storage connection string: its AccountKey is not base64 (fix: give the full connection string: "
        "Azurite's is in docs/emulator.md (Quick start), a storage account's is on its Access keys page)"]
    assert "not-a-base64-key" not in r.stdout + r.stderr
