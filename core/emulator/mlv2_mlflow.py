"""The workspace's MLflow tracking server (REFERENCE §15): the runs of v2 jobs and their metrics.

The workspace's ``properties.mlFlowTrackingUri`` is ``azureml://HOST/mlflow/v1.0/subscriptions/…/workspaces/WS``;
with ``https://`` it is the base of the MLflow REST API (``/api/2.0/mlflow/...``). A job's run id is
its name. Auth: the ARM bearer tokens. Errors: MLflow's ``{"error_code", "message"}``.
"""

from __future__ import annotations

from typing import Any

from .core import Request, Response
from .exceptions import EmulatorHTTPError

#: JobStatus -> MLflow RunStatus
RUN_STATUS = {"NotStarted": "SCHEDULED", "Starting": "SCHEDULED", "Provisioning": "SCHEDULED", "Preparing": "SCHEDULED",
              "Queued": "SCHEDULED", "Running": "RUNNING", "Finalizing": "RUNNING", "CancelRequested": "RUNNING",
              "Completed": "FINISHED", "Failed": "FAILED", "Canceled": "KILLED"}


def mlflow_error(status: int, code: str, message: str) -> EmulatorHTTPError:
    return EmulatorHTTPError(status, {"error_code": code, "message": message})


class MlflowResponses:
    def __init__(self, emulator: Any) -> None:
        self.emu = emulator

    def _run_doc(self, req: Request) -> dict[str, Any]:
        token = req.bearer()
        if not token or token not in self.emu.arm_tokens():
            # the body of the real 401 is UNVERIFIED; MLflow's shape with its UNAUTHENTICATED code
            raise mlflow_error(401, "UNAUTHENTICATED", "Send 'Authorization: Bearer <token>' with an Entra token for "
                               "https://management.azure.com (the emulator's ARM tokens).")
        run_id = req.query.get("run_id") or req.query.get("run_uuid")
        if not run_id:
            raise mlflow_error(400, "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'run_id'.")
        p = req.params
        jobs = self.emu.mlv2_jobs.backend
        if self.emu.store.get("mlv2_workspace", f"/subscriptions/{p['sub']}/resourcegroups/{p['rg']}/providers/"
                              f"microsoft.machinelearningservices/workspaces/{p['ws']}".lower()) is None:
            raise mlflow_error(404, "RESOURCE_DOES_NOT_EXIST", f"Workspace '{p['ws']}' not found.")
        doc = jobs.advance(jobs.job_key(p["sub"], p["rg"], p["ws"], run_id), polled=True)
        if doc is None:
            raise mlflow_error(404, "RESOURCE_DOES_NOT_EXIST", f"Run '{run_id}' not found.")
        return doc

    def get_run(self, req: Request) -> Response:
        doc = self._run_doc(req)
        run = doc["run"]
        jobs = self.emu.mlv2_jobs.backend
        info: dict[str, Any] = {"run_id": doc["name"], "run_uuid": doc["name"], "run_name": doc["resource"]["properties"].get("displayName") or doc["name"],
                                "experiment_id": run["experimentId"], "user_id": "amlws emulator",
                                "status": RUN_STATUS.get(doc["status"], "RUNNING"), "start_time": run["startTime"],
                                "artifact_uri": jobs.log_uri(doc).rsplit("/user_logs/", 1)[0] + "/", "lifecycle_stage": "active"}
        if run.get("endTime"):
            info["end_time"] = run["endTime"]
        return Response(200, {"run": {"info": info, "data": {"metrics": run["metrics"], "params": run["params"], "tags": run["tags"]}}})

    def get_metric_history(self, req: Request) -> Response:
        key = req.query.get("metric_key")
        if not key:
            self._run_doc(req)  # auth and run errors first, as the real server checks the run
            raise mlflow_error(400, "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'metric_key'.")
        doc = self._run_doc(req)
        return Response(200, {"metrics": [m for m in doc["run"]["metrics"] if m["key"] == key]})

    def not_found(self, req: Request) -> Response:
        raise mlflow_error(404, "ENDPOINT_NOT_FOUND", f"The emulator's MLflow server serves no {req.method} {req.path} "
                           "(it serves runs/get and metrics/get-history).")


_BASE = (r"/mlflow/v1\.0/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.MachineLearningServices"
         r"/workspaces/(?P<ws>[^/]+)/api/2\.0/mlflow")

ROUTES = [
    ("GET", _BASE + "/runs/get$", "get_run", "Mlflow_GetRun"),
    ("GET", _BASE + "/metrics/get-history$", "get_metric_history", "Mlflow_GetMetricHistory"),
    ("*", r"/mlflow/.*", "not_found", "Mlflow_NotFound"),
]
