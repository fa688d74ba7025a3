"""The documented walkthroughs through the real amlws CLI (subprocesses) against the in-process emulator
and Azurite, asserting what the emulator received (its request log) and what it now holds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from amlws.emulator import seed as demo

from .conftest import Http, arm_ws_path, model_blob

ARM_ID = arm_ws_path(demo.DEMO_ARM_PREDICTIVE)


@pytest.fixture
def cli(emulator_storage: Any, azurite: Any, tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMLWS_") and k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
    env.update(emulator_storage.env())
    env.update({"AMLWS_STATE_DIR": str(tmp_path / "state"), "AMLWS_CONFIG_DIR": str(tmp_path / "config"),
                "AMLWS_STORAGE_CONNECTION_STRING": azurite.connection_string})

    def run(*args: str, code: int = 0) -> Any:
        r = subprocess.run([sys.executable, "-c", "from amlws.cli.application import main; main()", *args, "-o", "json"],
                           env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert r.returncode == code, f"amlws {' '.join(args)} -> {r.returncode}\n{r.stderr[-2000:]}"
        return json.loads(r.stdout) if r.stdout.strip() else None

    return run


def test_arm_walkthrough_get_export_patch_import_update(cli, emulator_storage, azurite, azurite_container, tmp_path):
    http = Http(emulator_storage)
    http.control("DELETE", "requests")
    cli("get", ARM_ID)
    definition = tmp_path / "mlservice_export.json"
    cli("export", ARM_ID, "--output-file", str(definition))
    # the retrained model: a blob the service can load (it fails the update otherwise, as Azure does)
    new_uri = model_blob(azurite, azurite_container, "retrained.ilearner", {"temperature": 2.0}, 0.0)
    cli("patch-ilearner", str(definition), "--uri", new_uri)
    cli("import", "--input-file", str(definition))
    result = cli("update", ARM_ID, "--service-updates", str(definition), "--yes")
    assert result["verified"] is True
    counts = http.counts()
    assert counts["WebServices_Patch"] == 1 and counts["OperationsStatus_Get"] >= 2
    live = http.get(ARM_ID, params={"api-version": "2017-01-01"}, headers={"Authorization": f"Bearer {demo.DEMO_ARM_TOKEN}"}).json()
    uris = [a["locationInfo"]["uri"] for a in live["properties"]["assets"].values() if a["name"] == demo.DEMO_RESOURCE_NAME]
    assert uris == [new_uri] and live["properties"]["provisioningState"] == "Succeeded"


def test_classic_add_endpoint_retrain_patch_refresh(cli, emulator_storage, tmp_path):
    http = Http(emulator_storage)
    svc = demo.DEMO_PREDICTIVE_SERVICE
    added = cli("classic", "endpoints", "add", "--service", svc, "--endpoint", "rentalloc001", "--description", "rentalloc001", "--yes")
    target = added["target"]
    assert target.endswith(f"/webservices/{svc}/endpoints/rentalloc001")
    train = http.get(f"/workspaces/{demo.DEMO_WORKSPACE}/webservices/{demo.DEMO_TRAINING_SERVICE}/endpoints/default",
                     headers={"Authorization": f"Bearer {demo.DEMO_WORKSPACE_TOKEN}"}).json()["ApiLocation"]
    data = tmp_path / "new.csv"
    data.write_text("temperature,humidity,rentals\n" + "".join(f"{t},{h},{50 + 10 * t - h}\n" for t in range(0, 30, 3) for h in (30, 60, 90)))
    result = cli("retrain", "--data", str(data), "--training-service", train + "/jobs", "--target", target,
                 "--gate", "Coefficient of Determination>=0.5", "--evaluation-output", "output2", "--poll-interval", "0.1", "--yes")
    assert result["status"] == "deployed" and result["steps"]["gate"]["passed"] is True
    counts = http.counts()
    assert counts["Jobs_Submit"] == 1 and counts["Jobs_Start"] == 1 and counts["Endpoints_Patch"] == 1
    # the gate can also fail: nothing is deployed then
    cli("retrain", "--data", str(data), "--training-service", train + "/jobs", "--target", target,
        "--gate", "Mean Absolute Error<=0", "--evaluation-output", "output2", "--poll-interval", "0.1", "--yes", code=5)
    assert http.counts()["Endpoints_Patch"] == 1
    refreshed = cli("classic", "endpoints", "refresh", "--service", svc, "--endpoint", "rentalloc001", "--yes")
    assert refreshed["refreshed"] is False  # 304: nothing changed
    assert [e["status"] for e in http.control("GET", "requests?operation=Endpoints_Refresh")["requests"]] == [304]


def test_arm_update_heads_an_azurite_model_blob_signed_with_the_account_key(cli, emulator_storage, azurite, azurite_container, tmp_path):
    """The BES-style ARM reference has no SAS (BaseLocation + RelativeLocation): update signs a short read
    SAS with the configured Azurite key and HEADs the blob. Present: the PATCH goes out; missing: exit 3
    and no WebServices_Patch reaches the emulator."""
    http = Http(emulator_storage)
    model_blob(azurite, azurite_container, "run1/model.ilearner", {"temperature": 2.0}, 0.0)  # a model the service loads
    definition = tmp_path / "svc.json"
    cli("export", ARM_ID, "--output-file", str(definition))
    bes = {"StatusCode": "Finished", "Results": {"output1": {
        "BaseLocation": azurite.blob_endpoint + "/", "RelativeLocation": f"{azurite_container}/run1/model.ilearner",
        "SasBlobToken": "?sv=2019-02-02&sr=b&sp=r&se=2099-01-01T00%3A00%3A00Z&sig=QkVTLXNpZw%3D%3D"}}}
    printed = cli("patch-ilearner", str(definition), "--bes-result", json.dumps(bes))
    assert printed["modelUri"] == f"{azurite.blob_endpoint}/{azurite_container}/run1/model.ilearner"  # as written: no SAS
    http.control("DELETE", "requests")
    result = cli("update", ARM_ID, "--service-updates", str(definition), "--yes", "--check-model")
    assert result["verified"] is True and list(result["details"]["modelCheck"].values()) == ["readable (HEAD 200)"]
    assert http.counts()["WebServices_Patch"] == 1

    with azurite.service() as svc:
        svc.get_blob_client(azurite_container, "run1/model.ilearner").delete_blob()
    cli("export", ARM_ID, "--output-file", str(definition), "--force")
    bes["Results"]["output1"]["RelativeLocation"] = f"{azurite_container}/run2/model.ilearner"
    cli("patch-ilearner", str(definition), "--bes-result", json.dumps(bes))
    http.control("DELETE", "requests")
    cli("update", ARM_ID, "--service-updates", str(definition), "--yes", "--check-model", code=3)
    assert http.counts().get("WebServices_Patch", 0) == 0
