"""The emulator's Azure ML v2 command jobs, datastores and MLflow tracking server over real HTTPS
with ``requests``, the datastores backed by the session's Azurite: the built-in trainer reads its CSV
from the default datastore, writes its model output, logs metrics, and a model version registered
from the job's output serves that model's predictions once deployed.

Ground truth: tests/data/specs/mlv2/REFERENCE.md §2.4, §2.6, §5.5, §5.7, §8, §9, §15.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from amlws.emulator import mlmodel
from amlws.emulator import seed as demo
from amlws.emulator.mlv2_jobs import TRAINER_COMMAND
from amlws.emulator.server import EmulatorServer

from .conftest import Http
from .test_emulator_mlv2_examples import EXAMPLES, schema_errors, shape_problems

W = (f"/subscriptions/{demo.DEMO_SUBSCRIPTION}/resourceGroups/{demo.DEMO_RESOURCE_GROUP}"
     f"/providers/Microsoft.MachineLearningServices/workspaces/{demo.DEMO_MLV2_WORKSPACE}")
EP = f"{W}/onlineEndpoints/{demo.DEMO_MLV2_ENDPOINT}"
API = {"api-version": "2025-12-01"}
ARM = {"Authorization": f"Bearer {demo.DEMO_ARM_TOKEN}"}
KEY = {"Authorization": f"Bearer {demo.DEMO_API_KEY}"}
COLUMNS = ["temperature", "humidity"]
ROWS = [[20, 50], [30, 40], [5, 80]]
TERMINAL = ("Completed", "Failed", "Canceled")


@pytest.fixture
def jobs(cert_dir: Path, azurite: Any) -> Iterator[Http]:
    """The demo emulator on Azurite; a job is Queued at its 1st observation, Running at its 2nd and
    ends at its 3rd (deterministic states); v2 deployments finish at once."""
    settings = {"transitions": {"mlv2_job": {"mode": "polls", "count": 2}, "mlv2_lro": {"mode": "immediate"}}}
    with EmulatorServer(seed="demo", cert_dir=cert_dir, storage_connection_string=azurite.connection_string,
                        settings=settings) as server:
        yield Http(server)


def arm(h: Http, method: str, path: str, body: Any = None, **params: str) -> requests.Response:
    return h.request(method, path, params={**API, **params}, headers=ARM, json=body)


def mlflow_base(h: Http) -> str:
    return arm(h, "GET", W).json()["properties"]["mlFlowTrackingUri"].replace("azureml://", "https://", 1)


def mlflow(h: Http, call: str, headers: dict[str, str] | None = None, **params: str) -> requests.Response:
    return h.get(f"{mlflow_base(h)}/api/2.0/mlflow/{call}", params=params, headers=ARM if headers is None else headers)


def default_container(h: Http) -> str:
    return str(arm(h, "GET", f"{W}/datastores/workspaceblobstore").json()["properties"]["containerName"])


def upload(azurite: Any, container: str, path: str, data: str | bytes) -> None:
    with azurite.service() as svc:
        try:
            svc.create_container(container)
        except Exception:  # noqa: BLE001 - exists already
            pass
        svc.get_blob_client(container, path).upload_blob(data, overwrite=True)


def download(azurite: Any, container: str, path: str) -> bytes:
    with azurite.service() as svc:
        return bytes(svc.get_blob_client(container, path).download_blob().readall())


def job_body(uri: str = "azureml://datastores/workspaceblobstore/paths/data/bike-rentals/new.csv", *,
             command: str = TRAINER_COMMAND, kind: str = "uri_file") -> dict[str, Any]:
    props = demo.demo_job_properties()
    props["command"] = command
    props["inputs"]["train"] = {"jobInputType": kind, "uri": uri}
    return {"properties": props}


def submit(h: Http, name: str, body: dict[str, Any]) -> list[str]:
    """PUT the job and read it until it ends: the statuses seen (the PUT's first)."""
    r = arm(h, "PUT", f"{W}/jobs/{name}", body)
    assert r.status_code == 201, r.text
    seen = [r.json()["properties"]["status"]]
    while seen[-1] not in TERMINAL and len(seen) < 10:
        seen.append(arm(h, "GET", f"{W}/jobs/{name}").json()["properties"]["status"])
    return seen


def score(h: Http) -> list[float]:
    url = arm(h, "GET", EP).json()["properties"]["scoringUri"]
    r = h.post(url, json={"input_data": {"columns": COLUMNS, "data": ROWS}}, headers=KEY)
    assert r.status_code == 200, r.text
    return [float(v) for v in r.json()]


def expected(csv: str) -> list[float]:
    """What the trainer's model of ``csv`` predicts for ROWS, computed here with the same trainer."""
    model, _ = mlmodel.train(csv, label="rentals")
    cols, _, out = mlmodel.score_rows(model, COLUMNS, ROWS)
    return [float(r[cols.index("Scored Labels")]) for r in out]


def deploy(h: Http, version_id: str) -> dict[str, Any]:
    """PUT the blue deployment with another model (an in-place update); the operation's end."""
    body = arm(h, "GET", f"{EP}/deployments/blue").json()
    body["properties"]["model"] = version_id
    r = arm(h, "PUT", f"{EP}/deployments/blue", body)
    assert r.status_code in (200, 201), r.text
    return dict(h.get(r.headers["Azure-AsyncOperation"], headers=ARM).json())


# --- datastores ------------------------------------------------------------------------------------------


def test_default_datastore_is_the_emulators_storage(jobs: Http, azurite: Any) -> None:
    r = arm(jobs, "GET", f"{W}/datastores", isDefault="true")
    assert r.status_code == 200
    store = r.json()["value"][0]
    assert len(r.json()["value"]) == 1 and store["name"] == "workspaceblobstore"
    props = store["properties"]
    assert props["isDefault"] is True and props["datastoreType"] == "AzureBlob" and props["accountName"] == "devstoreaccount1"
    assert props["containerName"].startswith("azureml-blobstore-") and (props["endpoint"], props["protocol"]) == ("core.windows.net", "https")
    # secrets are never returned
    assert props["credentials"] == {"credentialsType": "AccountKey", "secrets": {"secretsType": "AccountKey"}}
    assert "AccountKey=" not in r.text and azurite.connection_string.split("AccountKey=")[1].split(";")[0] not in r.text
    assert arm(jobs, "GET", f"{W}/datastores/workspaceblobstore").json() == store
    assert not schema_errors(store, "DatastoreResource") and not schema_errors(props, "AzureBlobDatastore")
    # the seeded CSVs are blobs of that container, in Azurite
    assert download(azurite, props["containerName"], "data/bike-rentals/new.csv").decode() == demo.DEMO_MLV2_DATA["data/bike-rentals/new.csv"]
    everything = [d["name"] for d in arm(jobs, "GET", f"{W}/datastores").json()["value"]]
    assert everything == ["workspaceblobstore", "workspaceartifactstore"]
    assert [d["name"] for d in arm(jobs, "GET", f"{W}/datastores", isDefault="false").json()["value"]] == ["workspaceartifactstore"]
    assert [d["name"] for d in arm(jobs, "GET", f"{W}/datastores", names="workspaceartifactstore").json()["value"]] == ["workspaceartifactstore"]
    secrets = jobs.post(f"{W}/datastores/workspaceblobstore/listSecrets", params=API, headers=ARM)
    assert secrets.json() == {"secretsType": "AccountKey", "key": azurite.connection_string.split("AccountKey=")[1].split(";")[0]}
    missing = arm(jobs, "GET", f"{W}/datastores/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "ResourceNotFound"


# --- jobs -------------------------------------------------------------------------------------------------


def test_seeded_job_is_completed_with_its_model_and_metrics(jobs: Http) -> None:
    r = arm(jobs, "GET", f"{W}/jobs/{demo.DEMO_MLV2_JOB}")
    assert r.status_code == 200
    job = r.json()
    assert job["properties"]["status"] == "Completed" and job["properties"]["command"] == TRAINER_COMMAND
    assert job["properties"]["outputs"]["model"]["uri"] == f"azureml://datastores/workspaceblobstore/paths/azureml/{demo.DEMO_MLV2_JOB}/model/"
    assert not schema_errors(job, "JobBaseResource") and not schema_errors(job["properties"], "CommandJob")
    listed = arm(jobs, "GET", f"{W}/jobs").json()["value"]
    assert [j["name"] for j in listed] == [demo.DEMO_MLV2_JOB]
    run = mlflow(jobs, "runs/get", run_id=demo.DEMO_MLV2_JOB).json()["run"]
    assert run["info"]["status"] == "FINISHED" and run["info"]["run_id"] == demo.DEMO_MLV2_JOB
    metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
    assert set(metrics) == {"mae", "rmse", "relative_absolute_error", "relative_squared_error", "r2", "accuracy"} and metrics["r2"] > 0.99


def test_job_runs_queued_running_completed_and_writes_its_model(jobs: Http, azurite: Any) -> None:
    container = default_container(jobs)
    upload(azurite, container, "uploads/fresh.csv", demo.DEMO_MLV2_DATA["data/bike-rentals/new.csv"])
    body = job_body("azureml://datastores/workspaceblobstore/paths/uploads/fresh.csv")
    r = arm(jobs, "PUT", f"{W}/jobs/fresh-1", body)
    assert r.status_code == 201 and r.json()["properties"]["status"] == "NotStarted"
    assert "Azure-AsyncOperation" not in r.headers  # synchronous (§3)
    statuses = [arm(jobs, "GET", f"{W}/jobs/fresh-1").json()["properties"]["status"] for _ in range(3)]
    assert statuses == ["Queued", "Running", "Completed"]
    job = arm(jobs, "GET", f"{W}/jobs/fresh-1").json()
    assert job["properties"]["outputs"]["model"]["uri"] == "azureml://datastores/workspaceblobstore/paths/azureml/fresh-1/model/"
    model = mlmodel.loads(download(azurite, container, "azureml/fresh-1/model/model.ilearner"))
    assert model == mlmodel.train(demo.DEMO_MLV2_DATA["data/bike-rentals/new.csv"], label="rentals")[0]
    artifact = arm(jobs, "GET", f"{W}/datastores/workspaceartifactstore").json()["properties"]["containerName"]
    log = download(azurite, artifact, "ExperimentRun/dcid.fresh-1/user_logs/std_log.txt").decode()
    assert "Job Completed." in log and "metric r2 = " in log
    # a re-PUT replaces only the tags (§2.4) and answers 200
    again = copy.deepcopy(body)
    again["properties"]["tags"] = {"owner": "me"}
    again["properties"]["command"] = "python other.py"
    r = arm(jobs, "PUT", f"{W}/jobs/fresh-1", again)
    assert r.status_code == 200 and r.json()["properties"]["tags"] == {"owner": "me"}
    assert r.json()["properties"]["command"] == TRAINER_COMMAND and r.json()["properties"]["status"] == "Completed"


def test_a_folder_input_trains_on_every_csv_in_it(jobs: Http, azurite: Any) -> None:
    container = default_container(jobs)
    lines = demo.DEMO_MLV2_DATA["data/bike-rentals/new.csv"].splitlines(keepends=True)
    upload(azurite, container, "folder/a.csv", "".join(lines[:25]))
    upload(azurite, container, "folder/b.csv", lines[0] + "".join(lines[25:]))
    upload(azurite, container, "folder/readme.txt", "not data")
    assert submit(jobs, "folder-1", job_body("azureml://datastores/workspaceblobstore/paths/folder/", kind="uri_folder"))[-1] == "Completed"
    model = mlmodel.loads(download(azurite, container, "azureml/folder-1/model/model.ilearner"))
    assert model == mlmodel.train(demo.DEMO_MLV2_DATA["data/bike-rentals/new.csv"], label="rentals")[0]


def test_mlflow_run_and_metric_history(jobs: Http) -> None:
    r = arm(jobs, "PUT", f"{W}/jobs/m-1", job_body("azureml://datastores/workspaceblobstore/paths/data/bike-rentals/bad.csv"))
    assert r.status_code == 201
    running = mlflow(jobs, "runs/get", run_id="m-1").json()["run"]  # an observation: Queued
    assert running["info"]["status"] == "SCHEDULED" and running["data"]["metrics"] == [] and "end_time" not in running["info"]
    assert mlflow(jobs, "runs/get", run_id="m-1").json()["run"]["info"]["status"] == "RUNNING"
    done = mlflow(jobs, "runs/get", run_id="m-1").json()["run"]
    assert done["info"]["status"] == "FINISHED" and done["info"]["end_time"] >= done["info"]["start_time"]
    metrics = {m["key"]: m for m in done["data"]["metrics"]}
    _, evaluation = mlmodel.train(demo.DEMO_MLV2_DATA["data/bike-rentals/bad.csv"], label="rentals")
    assert metrics["r2"]["value"] == pytest.approx(evaluation["Coefficient of Determination"]) and metrics["r2"]["value"] < 0.5
    assert metrics["rmse"]["value"] == pytest.approx(evaluation["Root Mean Squared Error"]) and metrics["r2"]["step"] == 0
    assert {"key": "label", "value": "rentals"} in done["data"]["params"]
    history = mlflow(jobs, "metrics/get-history", run_id="m-1", metric_key="r2")
    assert history.status_code == 200 and history.json() == {"metrics": [metrics["r2"]]}
    assert mlflow(jobs, "metrics/get-history", run_id="m-1", metric_key="auc").json() == {"metrics": []}


def test_mlflow_errors(jobs: Http) -> None:
    r = mlflow(jobs, "runs/get", run_id="no-such-job")
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST" and "no-such-job" in r.json()["message"]
    r = mlflow(jobs, "runs/get")
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    r = mlflow(jobs, "metrics/get-history", run_id=demo.DEMO_MLV2_JOB)
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE" and "metric_key" in r.json()["message"]
    r = mlflow(jobs, "runs/get", headers={}, run_id=demo.DEMO_MLV2_JOB)
    assert r.status_code == 401 and r.json()["error_code"] == "UNAUTHENTICATED"
    r = mlflow(jobs, "runs/search")
    assert r.status_code == 404 and r.json()["error_code"] == "ENDPOINT_NOT_FOUND"
    log = jobs.control("GET", "requests?api=mlflow")["counts"]
    assert log["Mlflow_GetRun"] == 3 and log["Mlflow_GetMetricHistory"] == 1
    # an injected status fault on the tracking server answers in MLflow's error shape
    jobs.control("POST", "faults", {"api": "mlflow", "status": 503, "times": 1})
    r = mlflow(jobs, "runs/get", run_id=demo.DEMO_MLV2_JOB)
    assert r.status_code == 503 and r.json() == {"error_code": "INTERNAL_ERROR", "message": "Injected fault: HTTP 503."}
    assert mlflow(jobs, "runs/get", run_id=demo.DEMO_MLV2_JOB).status_code == 200


def test_injected_failure(jobs: Http) -> None:
    jobs.control("POST", "faults", {"kind": "job_failure", "job": "doomed", "message": "Out of memory on the node."})
    assert submit(jobs, "survivor", job_body())[-1] == "Completed"  # the fault names another job
    assert submit(jobs, "doomed", job_body()) == ["NotStarted", "Queued", "Running", "Failed"]
    job = arm(jobs, "GET", f"{W}/jobs/doomed").json()
    assert job["properties"]["properties"]["amlws.emulator.error"] == "UserError: Out of memory on the node."
    run = mlflow(jobs, "runs/get", run_id="doomed").json()["run"]
    assert run["info"]["status"] == "FAILED" and run["data"]["metrics"] == []


def failure(h: Http, name: str) -> str:
    job = arm(h, "GET", f"{W}/jobs/{name}").json()
    assert job["properties"]["status"] == "Failed"
    return str(job["properties"]["properties"]["amlws.emulator.error"])


def test_a_job_fails_when_its_input_cannot_be_read_or_trained_on(jobs: Http, azurite: Any) -> None:
    assert submit(jobs, "missing-1", job_body("azureml://datastores/workspaceblobstore/paths/data/nothing.csv"))[-1] == "Failed"
    assert "cannot read blob" in failure(jobs, "missing-1") and "BlobNotFound" in failure(jobs, "missing-1")
    upload(azurite, default_container(jobs), "data/words.csv", "temperature,humidity,rentals\nwarm,dry,many\n")
    assert submit(jobs, "words-1", job_body("azureml://datastores/workspaceblobstore/paths/data/words.csv"))[-1] == "Failed"
    assert "training failed" in failure(jobs, "words-1")
    assert submit(jobs, "elsewhere-1", job_body("https://otheraccount.blob.core.windows.net/c/train.csv"))[-1] == "Failed"
    assert "not on the emulator's storage account" in failure(jobs, "elsewhere-1")
    assert submit(jobs, "script-1", job_body(command="python train.py --data ${{inputs.train}}"))[-1] == "Failed"
    assert "built-in trainer" in failure(jobs, "script-1") and TRAINER_COMMAND in failure(jobs, "script-1")
    bad_ref = TRAINER_COMMAND.replace("${{inputs.train}}", "${{inputs.nope}}")
    assert submit(jobs, "ref-1", job_body(command=bad_ref))[-1] == "Failed"
    assert "inputs.nope" in failure(jobs, "ref-1")
    # no model output was written for them
    assert "model.ilearner" not in json.dumps([b.name for b in azurite.service().get_container_client(default_container(jobs)).list_blobs(
        name_starts_with="azureml/missing-1/")])


def test_https_blob_urls_of_the_storage_account_are_inputs(jobs: Http, azurite: Any) -> None:
    container = default_container(jobs)
    url = f"https://devstoreaccount1.blob.core.windows.net/{container}/data/bike-rentals/new.csv"
    assert submit(jobs, "https-1", job_body(url))[-1] == "Completed"
    assert submit(jobs, "azurite-1", job_body(f"{azurite.blob_endpoint}/{container}/data/bike-rentals/new.csv"))[-1] == "Completed"


def test_cancel_while_running(jobs: Http) -> None:
    r = arm(jobs, "PUT", f"{W}/jobs/stop-1", job_body())
    assert arm(jobs, "GET", f"{W}/jobs/stop-1").json()["properties"]["status"] == "Queued"
    r = jobs.post(f"{W}/jobs/stop-1/cancel", params=API, headers=ARM)
    assert r.status_code == 202 and not r.content
    assert r.headers["Location"] == f"{jobs.url}{W}/jobs/stop-1?api-version=2025-12-01"
    statuses = [jobs.get(r.headers["Location"], headers=ARM).json()["properties"]["status"] for _ in range(3)]
    assert statuses == ["CancelRequested", "CancelRequested", "Canceled"]
    assert mlflow(jobs, "runs/get", run_id="stop-1").json()["run"]["info"]["status"] == "KILLED"
    # an ended job: nothing to cancel
    again = jobs.post(f"{W}/jobs/stop-1/cancel", params=API, headers=ARM)
    assert again.status_code == 200 and arm(jobs, "GET", f"{W}/jobs/stop-1").json()["properties"]["status"] == "Canceled"
    assert jobs.post(f"{W}/jobs/nope/cancel", params=API, headers=ARM).status_code == 404


# --- registering a job's output, deploying it -----------------------------------------------------------------


def test_registered_job_output_serves_that_models_predictions(jobs: Http) -> None:
    before = score(jobs)
    assert before == pytest.approx(expected(demo.DEMO_MLV2_TRAINING["1"]["csv"]))
    # retrain on new data, register the job's output (the job-output URI form) and deploy it
    assert submit(jobs, "retrain-1", job_body())[-1] == "Completed"
    r = arm(jobs, "PUT", f"{W}/models/{demo.DEMO_MLV2_MODEL}/versions/3",
            {"properties": {"modelUri": "azureml://jobs/retrain-1/outputs/model/paths/", "jobName": "retrain-1"}})
    assert r.status_code == 201
    assert deploy(jobs, r.json()["id"])["status"] == "Succeeded"
    new = score(jobs)
    assert new == pytest.approx(expected(demo.DEMO_MLV2_DATA["data/bike-rentals/new.csv"])) and new != pytest.approx(before)
    # retrain on bad data, register by the datastore URI of its output folder: the predictions change again
    assert submit(jobs, "retrain-2", job_body("azureml://datastores/workspaceblobstore/paths/data/bike-rentals/bad.csv"))[-1] == "Completed"
    r = arm(jobs, "PUT", f"{W}/models/{demo.DEMO_MLV2_MODEL}/versions/4",
            {"properties": {"modelUri": "azureml://datastores/workspaceblobstore/paths/azureml/retrain-2/model/model.ilearner"}})
    assert deploy(jobs, r.json()["id"])["status"] == "Succeeded"
    assert score(jobs) == pytest.approx(expected(demo.DEMO_MLV2_DATA["data/bike-rentals/bad.csv"]))
    # the long datastore form (what azure-ai-ml sends, §8) names the same blob
    long = (f"azureml://subscriptions/{demo.DEMO_SUBSCRIPTION}/resourcegroups/{demo.DEMO_RESOURCE_GROUP}/workspaces/"
            f"{demo.DEMO_MLV2_WORKSPACE}/datastores/workspaceblobstore/paths/azureml/retrain-1/model/")
    r = arm(jobs, "PUT", f"{W}/models/{demo.DEMO_MLV2_MODEL}/versions/5", {"properties": {"modelUri": long}})
    assert deploy(jobs, r.json()["id"])["status"] == "Succeeded"
    assert score(jobs) == pytest.approx(new)


def test_a_job_output_that_does_not_exist_fails_the_deployment(jobs: Http) -> None:
    assert submit(jobs, "broken-1", job_body("azureml://datastores/workspaceblobstore/paths/data/nothing.csv"))[-1] == "Failed"
    before = score(jobs)
    for version, uri, why in (("6", "azureml://jobs/broken-1/outputs/model/paths/", "is Failed, not Completed"),
                              ("7", f"azureml://jobs/{demo.DEMO_MLV2_JOB}/outputs/weights/paths/", "has no output 'weights'"),
                              ("8", "azureml://jobs/never-ran/outputs/model/paths/", "not found")):
        r = arm(jobs, "PUT", f"{W}/models/{demo.DEMO_MLV2_MODEL}/versions/{version}", {"properties": {"modelUri": uri}})
        assert r.status_code == 201
        status = deploy(jobs, r.json()["id"])
        assert status["status"] == "Failed" and status["error"]["code"] == "ResourceNotReady" and why in status["error"]["message"]
    assert score(jobs) == before


def test_without_storage_the_datastores_keep_their_files_in_the_emulator(http: Http) -> None:
    """No storage configured (the ``emulator`` fixture): the seeded CSVs and job outputs live in the
    emulator's state, so jobs still train and their outputs still deploy; only the key is missing."""
    http.control("POST", "transitions", {"mlv2_job": {"mode": "polls", "count": 0}, "mlv2_lro": {"mode": "immediate"}})
    assert arm(http, "GET", f"{W}/jobs/{demo.DEMO_MLV2_JOB}").json()["properties"]["status"] == "Completed"
    assert submit(http, "bad-1", job_body("azureml://datastores/workspaceblobstore/paths/data/bike-rentals/bad.csv")) == ["NotStarted", "Completed"]
    r = arm(http, "PUT", f"{W}/models/{demo.DEMO_MLV2_MODEL}/versions/3", {"properties": {"modelUri": "azureml://jobs/bad-1/outputs/model/paths/"}})
    assert deploy(http, r.json()["id"])["status"] == "Succeeded"
    assert score(http) == pytest.approx(expected(demo.DEMO_MLV2_DATA["data/bike-rentals/bad.csv"]))
    r = http.post(f"{W}/datastores/workspaceblobstore/listSecrets", params=API, headers=ARM)
    assert r.status_code == 400 and r.json()["error"]["details"][0]["code"] == "NoStorageKey"


# --- refusals ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("change, status, code, detail", [
    ({"jobType": None}, 400, "InvalidRequestContent", "jobType"),
    ({"jobType": "Pipeline"}, 400, "UserError", "JobTypeNotEmulated"),
    ({"command": None}, 400, "InvalidRequestContent", "command"),
    ({"environmentId": ""}, 400, "InvalidRequestContent", "environmentId"),
    ({"inputs": {"train": {"jobInputType": "dataset", "uri": "azureml://datastores/x/paths/y"}}}, 400, "UserError", "InvalidJobInput"),
    ({"inputs": {"train": {"jobInputType": "uri_file", "uri": "C:/data/train.csv"}}}, 400, "UserError", "InvalidJobInput"),
    ({"outputs": {"model": {"jobOutputType": "folder"}}}, 400, "UserError", "InvalidJobOutput"),
])
def test_job_put_refusals(jobs: Http, change: dict[str, Any], status: int, code: str, detail: str) -> None:
    body = job_body()
    for k, v in change.items():
        if v is None:
            del body["properties"][k]
        else:
            body["properties"][k] = v
    r = arm(jobs, "PUT", f"{W}/jobs/refused", body)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and detail in json.dumps(err)
    assert arm(jobs, "GET", f"{W}/jobs/refused").status_code == 404  # nothing created


def test_delete_job(jobs: Http) -> None:
    assert submit(jobs, "gone-1", job_body())[-1] == "Completed"
    assert arm(jobs, "DELETE", f"{W}/jobs/gone-1").status_code == 200
    assert arm(jobs, "GET", f"{W}/jobs/gone-1").status_code == 404
    assert arm(jobs, "DELETE", f"{W}/jobs/gone-1").status_code == 204
    assert mlflow(jobs, "runs/get", run_id="gone-1").status_code == 404


def test_job_errors_have_the_arm_shape(jobs: Http) -> None:
    r = arm(jobs, "GET", f"{W}/jobs/nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == "ResourceNotFound"
    r = arm(jobs, "PUT", f"{W}/jobs/-bad-name", job_body())
    assert r.status_code == 400 and r.json()["error"]["details"][0]["code"] == "InvalidJobName"
    r = jobs.put(f"{W}/jobs/x", params=API, headers=ARM, data=b"{not json")
    assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidRequestContent"
    assert jobs.get(f"{W}/jobs/{demo.DEMO_MLV2_JOB}", params=API).status_code == 401
    r = arm(jobs, "GET", W.replace(demo.DEMO_MLV2_WORKSPACE, "other-ws") + "/jobs/x")
    assert r.status_code == 404 and r.json()["error"]["code"] == "ResourceNotFound"
    r = arm(jobs, "PUT", W.replace(demo.DEMO_MLV2_WORKSPACE, "other-ws") + "/jobs/x", job_body())
    assert r.status_code == 404 and r.json()["error"]["code"] == "ParentResourceNotFound"


# --- the spec's Job and Datastore examples ------------------------------------------------------------------------

EX_SUB, EX_RG, EX_WS = "00000000-1111-2222-3333-444444444444", "test-rg", "my-aml-workspace"
EX_W = f"/subscriptions/{EX_SUB}/resourceGroups/{EX_RG}/providers/Microsoft.MachineLearningServices/workspaces/{EX_WS}"
#: replayed in this order against a workspace of the examples' names: file, method, path
JOB_EXAMPLES = [
    ("Job/CommandJob/createOrUpdate.json", "PUT", EX_W + "/jobs/{id}"),
    ("Job/CommandJob/get.json", "GET", EX_W + "/jobs/{id}"),
    ("Job/cancel.json", "POST", EX_W + "/jobs/{id}/cancel"),
    ("Datastore/get.json", "GET", EX_W + "/datastores/{name}"),
]
#: the examples' placeholders the emulator refuses, replaced: the datastore name (the emulator's are
#: derived from the workspace); the job output's URI "string" (not an azureml:// URI) is left out below,
#: so the emulator picks the default location
EX_SUBSTITUTE = {"Datastore/get.json": {"name": "workspaceblobstore"}}
#: example drift (REFERENCE §13): ``parentJobName``, which the 2025-12-01 swagger does not define (the
#: emulator drops it), and ``resources.properties`` maps holding a random guid key each (echoed, not compared)
EX_SHAPE_DRIFT = frozenset({"properties.parentJobName", "properties.resources.properties"})


def test_job_and_datastore_examples_replay(cert_dir: Path, azurite: Any) -> None:
    seed = {"armTokens": [demo.DEMO_ARM_TOKEN], "mlv2Workspaces": [{"subscription": EX_SUB, "resourceGroup": EX_RG, "name": EX_WS}]}
    with EmulatorServer(seed=seed, cert_dir=cert_dir, storage_connection_string=azurite.connection_string,
                        settings={"transitions": {"mlv2_job": {"mode": "polls", "count": 5}}}) as server:
        h = Http(server)
        for name, method, template in JOB_EXAMPLES:
            example = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
            params = {**example["parameters"], **EX_SUBSTITUTE.get(name, {})}
            body = copy.deepcopy(params.get("body"))
            if body is not None:
                body["properties"]["outputs"]["string"].pop("uri")
            r = h.request(method, template.format(**params), params={"api-version": params["api-version"]}, headers=ARM, json=body)
            responses = example["responses"]
            assert str(r.status_code) in responses, (name, r.status_code, r.text)
            wanted = responses[str(r.status_code)]
            for header in wanted.get("headers") or {}:
                assert header in r.headers, f"{name}: header {header} missing"
            if "body" not in wanted:
                assert not r.content
                continue
            answer = r.json()
            problems = shape_problems(wanted["body"], answer, skip=EX_SHAPE_DRIFT)
            assert not problems, f"{name}: {problems}"
            if name.startswith("Job/"):
                assert not schema_errors(answer, "JobBaseResource")
                assert not schema_errors(answer["properties"], "CommandJob"), schema_errors(answer["properties"], "CommandJob")[:5]
            else:
                assert not schema_errors(answer, "DatastoreResource") and not schema_errors(answer["properties"], "AzureBlobDatastore")
