"""``amlws retrain ENDPOINT --from-job`` on the wire (a TLS stand-in for ARM and MLflow): a failing
gate sends no registration and no deployment request, only the job's own PUT.

Ground truth: tests/data/specs/mlv2/REFERENCE.md §2.4, §8, §15; examples/Job/.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pytest_httpserver import HTTPServer

from .test_jobs_wire import WS_OPTS, W, env, example, mlflow_workspace, run, sent, server  # noqa: F401 - fixtures

EP = f"{W}/onlineEndpoints/ep"


def test_a_failing_gate_sends_no_registration_or_deployment_request(server: HTTPServer, env: Any, run: Any) -> None:  # noqa: F811
    earlier = example("CommandJob/get.json")["responses"]["200"]["body"]
    earlier["name"] = "train-1"
    earlier["properties"]["outputs"] = {"model": {"jobOutputType": "uri_folder", "mode": "ReadWriteMount"}}
    server.expect_request(EP, method="GET").respond_with_json(
        {"name": "ep", "properties": {"authMode": "Key", "traffic": {"blue": 100}, "scoringUri": "https://ep.invalid/score"}})
    server.expect_request(f"{EP}/deployments/blue", method="GET").respond_with_json(
        {"name": "blue", "properties": {"endpointComputeType": "Managed", "model": f"{W}/models/m/versions/1"}})
    server.expect_request(f"{W}/jobs/train-1", method="GET").respond_with_json(earlier)
    done = {**earlier, "properties": {**earlier["properties"], "status": "Completed"}}
    server.expect_request(re.compile(f"{W}/jobs/train-1-.+"), method="PUT").respond_with_json(
        {**earlier, "properties": {**earlier["properties"], "status": "NotStarted"}}, status=201)
    server.expect_request(re.compile(f"{W}/jobs/train-1-.+"), method="GET").respond_with_json(done)
    base = mlflow_workspace(server)
    server.expect_request(f"{base}/api/2.0/mlflow/runs/get", method="GET").respond_with_json(
        {"run": {"info": {"status": "FINISHED"}, "data": {"metrics": [{"key": "r2", "value": 0.5, "timestamp": 1, "step": 0}]}}})

    code, out, err = run("retrain", *WS_OPTS, "-e", "ep", "--from-job", "train-1", "--gate", "r2>=0.8", "--yes", "-o", "json")
    assert code == 5, err
    assert "failed the gate: r2 = 0.5, needs >= 0.8" in err
    assert json.loads(out)["status"] == "gate_failed"
    (put,) = sent(server, "PUT")
    assert re.fullmatch(f"{W}/jobs/train-1-.+", put.path)
    runs = [r for r, _ in server.log if "/api/2.0/mlflow/runs/get" in r.path]
    assert len(runs) == 1 and runs[0].args["run_id"] == put.path.rsplit("/", 1)[-1]  # the run id is the job's name
    assert not [r for r, _ in server.log if "/models/" in r.path]
    assert not [r for r, _ in server.log if r.method in ("PUT", "POST", "DELETE", "PATCH") and "/onlineEndpoints/" in r.path]
