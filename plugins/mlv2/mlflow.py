"""A job's metrics from the workspace's MLflow tracking server (REFERENCE.md §15).

- the server: the workspace's ``properties.mlFlowTrackingUri`` (read case-insensitively: its
  casing in the ARM body is UNVERIFIED), ``azureml://`` → ``https://``;
- ``GET {base}/api/2.0/mlflow/runs/get?run_id=JOB`` (a job's run id is its name) → the latest
  value of each metric; ``GET {base}/api/2.0/mlflow/metrics/get-history`` → every value of one;
- the token is the ARM one (resource ``https://management.azure.com``): the requests go through
  the ARM client's azure-core pipeline (its credential, retry policy, CA bundle, proxies, wire log);
- MLflow errors (``{"error_code", "message"}``) mapped: ``RESOURCE_DOES_NOT_EXIST`` → exit 3.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from amlws.errors import AmlwsError, NotFoundError, OperationFailed, RemoteError, UsageError
from amlws.gates import Metrics


def tracking_base(c: Any, workspace: str) -> str:
    """The MLflow REST base of ``workspace`` (``GET W`` → ``mlFlowTrackingUri``, ``azureml://`` → ``https://``).

    :raises OperationFailed: (exit 1) the workspace names no tracking server.
    """
    ws = c.get(workspace, what="get the workspace")
    props = ws.get("properties") or {}
    uri = next((v for k, v in props.items() if k.lower() == "mlflowtrackinguri" and v), None)
    if not uri:
        raise OperationFailed(f"workspace {workspace.rsplit('/', 1)[-1]} has no MLflow tracking URI (properties.mlFlowTrackingUri)",
                              hint="job metrics are read from the workspace's MLflow tracking server; check the workspace in Azure ML studio")
    uri = str(uri)
    if uri.lower().startswith("azureml://"):
        uri = "https://" + uri[len("azureml://"):]
    return uri.rstrip("/")


def call(c: Any, base: str, path: str, params: dict[str, str], *, what: str) -> dict[str, Any]:
    """``GET {base}/api/2.0/mlflow/{path}?params`` through the ARM pipeline; MLflow errors mapped."""
    from azure.core.rest import HttpRequest

    from amlws.azure.arm import response_json

    url = f"{base}/api/2.0/mlflow/{path}?{urlencode(params)}"
    resp = c.client.send_request(HttpRequest("GET", url, headers={"Accept": "application/json"}))
    if resp.status_code >= 400:
        raise _error(resp, what)
    return dict(response_json(resp))


def _error(resp: Any, what: str) -> AmlwsError:
    try:
        body = resp.json()
    except ValueError:
        body = {}
    code = body.get("error_code") if isinstance(body, dict) else None
    message = (body.get("message") if isinstance(body, dict) else None) or resp.reason or ""
    text = f"{what}: HTTP {resp.status_code}" + (f" {code}" if code else "") + (f": {message}" if message else "")
    if code == "RESOURCE_DOES_NOT_EXIST" or (resp.status_code == 404 and code is None):
        return NotFoundError(text, hint="check the job name (a job's MLflow run id is its name): amlws mlv2 jobs status NAME")
    if code == "INVALID_PARAMETER_VALUE":
        return UsageError(text, hint="check the run id and metric name")
    return RemoteError(text, status=resp.status_code, code=code)


def run(c: Any, workspace: str, job: str, *, base: str | None = None) -> dict[str, Any]:
    """``runs/get``: the run (``{"info", "data": {"metrics", "params", "tags"}}``)."""
    base = base or tracking_base(c, workspace)
    return dict(call(c, base, "runs/get", {"run_id": job}, what=f"read the MLflow run of job {job}").get("run") or {})


def metrics(c: Any, workspace: str, job: str, *, base: str | None = None) -> dict[str, float]:
    """The latest value of each metric the job's run logged (``runs/get``)."""
    data = run(c, workspace, job, base=base).get("data") or {}
    return {str(m["key"]): m["value"] for m in data.get("metrics") or [] if isinstance(m, dict) and "key" in m}


def metric_history(c: Any, workspace: str, job: str, key: str, *, base: str | None = None) -> list[dict[str, Any]]:
    """``metrics/get-history``: every logged value of ``key`` (``{"key", "value", "timestamp", "step"}``)."""
    base = base or tracking_base(c, workspace)
    found = call(c, base, "metrics/get-history", {"run_id": job, "metric_key": key}, what=f"read metric {key} of job {job}")
    return list(found.get("metrics") or [])


def run_metrics(settings: Any, workspace: str, job: str) -> Metrics:
    """A job's metrics as a gate source: a gate on a metric it did not log fails (exit 5) naming those it did."""
    from .jobs import client

    with client(settings, workspace) as c:
        return Metrics(metrics(c, workspace, job), source=f"job {job}")
