"""``amlws invoke`` / ``retrain`` / ``jobs`` given only a web service, against the emulator: the
ARM backend follows the service's ``swaggerLocation`` to the emulator's BES/RRS and reads the key
with ``listKeys``; the classic backend uses the endpoint's ``ApiLocation``. No ``AMLWS_API_KEY``
is set, so every key comes from the service itself."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from amlws.emulator import seed as demo

from .conftest import Http, arm_ws_path, in_process_cli

TRAINING_ID = arm_ws_path(demo.DEMO_ARM_TRAINING)
PREDICTIVE_ID = arm_ws_path(demo.DEMO_ARM_PREDICTIVE)


@pytest.fixture
def cli(emulator_storage: Any, azurite: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    for name in list(os.environ):
        if name.startswith("AMLWS_") or name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            monkeypatch.delenv(name)
    env = {**emulator_storage.env(), "AMLWS_STATE_DIR": str(tmp_path / "state"), "AMLWS_CONFIG_DIR": str(tmp_path / "config"),
           "AMLWS_STORAGE_CONNECTION_STRING": azurite.connection_string, "AMLWS_POLL_INTERVAL": "0.02"}
    env.pop("AMLWS_API_KEY")  # the keys must come from the services
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    run = in_process_cli(capsys)

    def call(*args: str, code: int = 0) -> Any:
        got, out, err = run(*args, "-o", "json")
        assert got == code, f"amlws {' '.join(args)} -> {got}\n{err[-2000:]}"
        return json.loads(out) if out.strip() else None

    return call


def rows(tmp_path: Path) -> Path:
    f = tmp_path / "rows.json"
    f.write_text(json.dumps({"Inputs": {"input1": {"ColumnNames": ["temperature", "humidity"], "Values": [["10", "50"], ["25", "30"]]}}}))
    return f


def labels(result: dict[str, Any]) -> list[str]:
    table = result["outputs"]["output1"]
    col = table["columns"].index("Scored Labels")
    return [str(r[col]) for r in table["rows"]]


def test_arm_invoke_and_retrain_by_web_service_id(cli, emulator_storage, tmp_path) -> None:
    http = Http(emulator_storage)
    http.control("DELETE", "requests")
    before = labels(cli("invoke", PREDICTIVE_ID, "--input-file", str(rows(tmp_path))))
    log = http.control("GET", "requests")["requests"]
    assert [e["operation"] for e in log] == ["WebServices_Get", "WebServices_ListKeys", "Execute"]
    execute = log[-1]
    assert execute["status"] == 200 and execute["query"].get("format") == "swagger"
    assert execute["path"].startswith(f"/subscriptions/{demo.DEMO_SUBSCRIPTION.replace('-', '')}/services/")

    data = tmp_path / "new.csv"
    data.write_text("temperature,humidity,rentals\n" + "".join(f"{t},{h},{50 + 10 * t - h}\n" for t in range(0, 30, 3) for h in (30, 60, 90)))
    result = cli("retrain", "--training-service", TRAINING_ID, "-g", demo.DEMO_RESOURCE_GROUP, "-n", demo.DEMO_ARM_PREDICTIVE,
                 "--data", str(data), "--evaluation-output", "output2", "--gate", "Coefficient of Determination>=0.5",
                 "--poll-interval", "0.1", "--yes")
    assert result["status"] == "deployed" and result["steps"]["deploy"]["verified"] is True
    counts = http.counts()
    assert counts["Jobs_Submit"] == 1 and counts["Jobs_Start"] == 1 and counts["WebServices_Patch"] == 1
    training_jobs = http.control("GET", "requests?operation=Jobs_Submit")["requests"]
    assert training_jobs[0]["status"] == 200  # the training service's own key, from listKeys
    after = labels(cli("invoke", "-g", demo.DEMO_RESOURCE_GROUP, "-n", demo.DEMO_ARM_PREDICTIVE, "--input-file", str(rows(tmp_path))))
    assert after != before  # the service now scores with the retrained model

    job_id = result["steps"]["job"]["jobId"]
    status = cli("jobs", "status", job_id, "--target", TRAINING_ID)
    assert status["jobId"] == job_id and status["status"] == "Finished"


def test_classic_invoke_and_jobs_by_management_url(cli, emulator_storage, tmp_path) -> None:
    http = Http(emulator_storage)
    base = emulator_storage.url.rstrip("/")
    endpoint = f"{base}/workspaces/{demo.DEMO_WORKSPACE}/webservices/{demo.DEMO_PREDICTIVE_SERVICE}/endpoints/{demo.DEMO_ENDPOINT}"
    http.control("DELETE", "requests")
    scored = cli("invoke", endpoint, "--input-file", str(rows(tmp_path)))
    assert len(labels(scored)) == 2
    assert [e["operation"] for e in http.control("GET", "requests")["requests"]] == ["Endpoints_Get", "Execute"]
    training = f"{base}/workspaces/{demo.DEMO_WORKSPACE}/webservices/{demo.DEMO_TRAINING_SERVICE}"  # its default endpoint
    plan = cli("jobs", "submit", "--target", training, "--job-config-string", '{"GlobalParameters": {}}', "--what-if")
    assert plan["method"] == "POST" and plan["url"].endswith("/jobs?api-version=2.0")
    assert f"/workspaces/{demo.DEMO_WORKSPACE}/services/" in plan["url"]
