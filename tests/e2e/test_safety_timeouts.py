"""The overall --timeout bounds every wait: classic requests and their retries, ARM long-running
operations, BES jobs (which are then cancelled), against the emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from amlws.emulator import seed as demo

from .conftest import arm_ws_path

RID = arm_ws_path(demo.DEMO_ARM_PREDICTIVE)


@pytest.fixture
def cli(emulator: Any, tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMLWS_") and k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
    env.update(emulator.env())
    env.update({"AMLWS_STATE_DIR": str(tmp_path / "state"), "AMLWS_CONFIG_DIR": str(tmp_path / "config"), "AMLWS_POLL_INTERVAL": "0.05"})

    def run(*args: str) -> tuple[int, str, str, float]:
        start = time.monotonic()
        r = subprocess.run([sys.executable, "-c", "from amlws.cli.application import main; main()", *args], env=env, capture_output=True,
                           text=True, timeout=120)
        return r.returncode, r.stdout, r.stderr, time.monotonic() - start

    return run


def test_classic_retries_stop_at_the_overall_timeout(cli, http, emulator):
    ep = f"{emulator.url}/workspaces/{demo.DEMO_WORKSPACE}/webservices/{demo.DEMO_PREDICTIVE_SERVICE}/endpoints/{demo.DEMO_ENDPOINT}"
    http.control("POST", "faults", {"kind": "status", "status": 503, "retryAfter": 3, "api": "classic"})
    http.control("DELETE", "requests")
    code, out, err, took = cli("--timeout", "1", "classic", "endpoints", "get", ep)
    assert code == 1 and "HTTP 503" in err
    # Retry-After 3 s does not fit in the 1 s left: no retry (without --timeout it would retry 4 times, 12 s)
    assert len(http.control("GET", "requests?api=classic")["requests"]) == 1
    assert took < 8


def test_arm_long_running_operation_stops_at_the_overall_timeout(cli, http, tmp_path):
    http.control("POST", "transitions", {"arm_lro": {"mode": "time", "seconds": 60}})
    f = tmp_path / "svc.json"
    assert cli("export", RID, "-f", str(f))[0] == 0
    code, out, err, took = cli("--timeout", "1.5", "update", RID, "--service-updates", str(f), "--yes")
    assert code == 1 and "did not finish within 1.5 s" in err and "raise --timeout" in err
    assert took < 15
    code, out, err, _ = cli("history", RID, "-o", "json")
    assert [r["status"] for r in json.loads(out)] == ["failed"]


def test_bes_wait_stops_at_the_overall_timeout_and_cancels_the_job(cli, http, emulator, azurite):
    http.control("POST", "transitions", {"bes": {"mode": "polls", "count": 100000}})
    train = http.get(f"/workspaces/{demo.DEMO_WORKSPACE}/webservices/{demo.DEMO_TRAINING_SERVICE}/endpoints/default",
                     headers={"Authorization": f"Bearer {demo.DEMO_WORKSPACE_TOKEN}"}).json()["ApiLocation"]
    url = train + "/jobs"
    # the emulator runs the job at once (the input is missing: it fails fast) but reports Running for 100000 polls
    config = json.dumps({"Inputs": {"input1": {"ConnectionString": azurite.connection_string, "RelativeLocation": "nosuch/in.csv"}}})
    code, out, err, _ = cli("jobs", "submit", "--url", url, "--job-config-string", config, "-o", "json")
    assert code == 0, err
    job = json.loads(out)
    job_id = job.get("jobId") or job.get("JobId") or job.get("id")
    assert cli("jobs", "start", "--url", url, job_id)[0] == 0
    code, out, err, took = cli("--timeout", "1", "jobs", "wait", "--url", url, job_id, "--poll-interval", "0.1")
    assert code == 1 and "still running after" in err, err
    assert took < 15
    code, out, err, _ = cli("jobs", "status", "--url", url, job_id, "-o", "json")
    assert json.loads(out)["status"] == "Cancelled", out
