"""The one-command retrain workflow end to end.

Real pieces: a BES training service on pytest-httpserver that "trains" by writing the
requested outputs into Azurite through the connection string the client sent; Azurite for
the upload and the evaluation download; a fake backend plugin registered in its own plugin
manager (no installed plugins) proving that deploy calls patch_ilearner + update with the
location the BES job returned.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from amlws import hookimpl
from amlws.config import Settings
from amlws.errors import ExitCode, GateFailedError, UsageError
from amlws.host import Host
from amlws.http import HttpClient
from amlws.model import BackendInfo, Definition, ModelLocation, Target, UpdateResult
from amlws.studio.bes import BesClient, JobFailed
from amlws.studio.retrain import RetrainRequest, retrain

pytestmark = [pytest.mark.azurite, pytest.mark.usefixtures("amlws_env")]

KEY = "training-api-key-0123456789abcdef"
SCORING_KEY = "scoring-api-key-0123456789abcdef"
TRAIN = "/workspaces/ws/services/train"
SCORE = "/workspaces/ws/services/score"
TRAINING_CSV = "age,income,label\n39,77516,0\n50,83311,1\n38,215646,0\n"
EVAL_GOOD = "True Positive,False Negative,False Positive,True Negative,Accuracy,Precision,Recall,F-Score,AUC\n10,2,1,20,0.909,0.909,0.833,0.870,0.95\n"
EVAL_BAD = "True Positive,False Negative,False Positive,True Negative,Accuracy,Precision,Recall,F-Score,AUC\n5,7,6,15,0.606,0.455,0.417,0.435,0.61\n"


class FakeTraining:
    """A BES training service: submit -> start ("trains": writes the outputs to storage) -> Running -> Finished."""

    def __init__(self, httpserver: HTTPServer, azurite: Any, *, evaluation: str = EVAL_GOOD, final: str = "Finished",
                 expire_first_sas: bool = False) -> None:
        self.azurite = azurite
        self.evaluation = evaluation
        self.final = final
        self.expire_first_sas = expire_first_sas
        self.jobs: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, str, str | None, bytes]] = []
        httpserver.expect_request(re.compile("^" + TRAIN + "/jobs.*")).respond_with_handler(self.handle)

    def handle(self, request: Request) -> Response:
        self.requests.append((request.method, request.path, request.query_string.decode(), request.headers.get("Authorization"), request.get_data()))
        if request.args.get("api-version") != "2.0" or request.headers.get("Authorization") != f"Bearer {KEY}":
            return Response('{"error":{"code":"Unauthorized"}}', status=401)
        parts = request.path[len(TRAIN + "/jobs"):].strip("/").split("/")
        if request.method == "POST" and parts == [""]:
            job_id = f"job{len(self.jobs) + 1}"
            self.jobs[job_id] = {"config": json.loads(request.get_data()), "state": "NotStarted", "polls": 0}
            return Response(json.dumps(job_id), content_type="application/json")
        job = self.jobs.get(parts[0])
        if job is None:
            return Response("", status=404)
        if request.method == "POST" and parts[1:] == ["start"]:
            job["state"] = "Running"
            self._train(job)
            return Response("")
        if request.method == "DELETE":
            job["state"] = "Cancelled"
            return Response("")
        job["polls"] += 1
        if job["state"] == "Running" and job["polls"] >= 2:
            job["state"] = self.final
        body: dict[str, Any] = {"StatusCode": job["state"], "Results": None, "Details": None}
        if job["state"] == "Finished":
            job["finished_reads"] = job.get("finished_reads", 0) + 1
            expired = self.expire_first_sas and job["finished_reads"] == 1
            body["Results"] = {name: self._result(ref, expired) for name, ref in job["config"]["Outputs"].items()}
        if job["state"] == "Failed":
            body["Details"] = "Module: Train Model; Error 0003: Inputs have missing values. {\"ErrorId\":\"NullOrEmpty\"}"
        return Response(json.dumps(body), content_type="application/json")

    def _train(self, job: dict[str, Any]) -> None:
        from azure.storage.blob import BlobServiceClient

        for ref in job["config"]["Outputs"].values():
            container, _, blob = ref["RelativeLocation"].partition("/")
            with BlobServiceClient.from_connection_string(ref["ConnectionString"]) as svc:
                data = self.evaluation.encode() if blob.endswith(".csv") else b"ILEARNER-BYTES"
                svc.get_blob_client(container, blob).upload_blob(data, overwrite=True)

    def _result(self, ref: dict[str, Any], expired: bool) -> dict[str, Any]:
        from amlws.azure.blob import make_read_sas

        container, _, blob = ref["RelativeLocation"].partition("/")
        now = datetime.now(timezone.utc) - (timedelta(days=3) if expired else timedelta(0))
        loc = make_read_sas(self.azurite.connection_string, container, blob, hours=24, now=now)
        return {"ConnectionString": None, "RelativeLocation": ref["RelativeLocation"], "BaseLocation": loc.base_location, "SasBlobToken": loc.sas_blob_token}

    def submitted(self) -> dict[str, Any]:
        return json.loads(next(body for m, p, _, _, body in self.requests if m == "POST" and p.endswith("/jobs")))

    def count(self, method: str, suffix: str = "") -> int:
        return sum(1 for m, p, _, _, _ in self.requests if m == method and p.endswith(suffix))


class FakeBackend:
    """A backend that keeps one definition in memory and records the calls."""

    def __init__(self) -> None:
        self.document: dict[str, Any] = {"Name": "ep1", "model": "https://old/model.ilearner"}
        self.calls: list[tuple[str, Any]] = []

    @hookimpl
    def amlws_backend_info(self) -> BackendInfo:
        return BackendInfo(name="fake", target_help="fake:NAME")

    @hookimpl
    def amlws_claim_target(self, target: str) -> Target | None:
        return Target("fake", target) if target.startswith("fake:") else None

    @hookimpl
    def amlws_get_definition(self, target: Target) -> Definition:
        self.calls.append(("get_definition", target.id))
        return Definition("fake", copy.deepcopy(self.document), target)

    @hookimpl
    def amlws_export(self, definition: Definition) -> dict[str, Any]:
        return copy.deepcopy(definition.document)

    @hookimpl
    def amlws_patch_ilearner(self, definition: Definition, location: ModelLocation, selector: str | None) -> Definition:
        self.calls.append(("patch_ilearner", location))
        doc = copy.deepcopy(definition.document)
        doc["model"] = location.uri
        return Definition("fake", doc, definition.target)

    @hookimpl
    def amlws_update(self, target: Target, definition: Definition) -> UpdateResult:
        self.calls.append(("update", copy.deepcopy(definition.document)))
        self.document = copy.deepcopy(definition.document)
        return UpdateResult(target, definition, verified=True, model_uri=definition.document["model"].split("?")[0], requests=1)

    @hookimpl
    def amlws_plan_update(self, target: Target, definition: Definition) -> list[dict[str, Any]]:
        return [{"method": "PUT", "url": f"https://fake/{target.id}", "body": definition.document}]

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]


class Observer:
    def __init__(self) -> None:
        self.jobs: list[dict[str, Any]] = []

    @hookimpl
    def amlws_after_retrain_job(self, job: dict[str, Any]) -> None:
        self.jobs.append(job)


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def observer() -> Observer:
    return Observer()


@pytest.fixture
def host(make_pm, backend: FakeBackend, observer: Observer):
    def make(**settings: Any) -> Host:
        pm = make_pm((backend, "fake"), (observer, "observer"))
        return Host(pm, Settings(env={}, yes=settings.pop("yes", True), **settings))

    return make


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    f = tmp_path / "new.csv"
    f.write_text(TRAINING_CSV, encoding="utf-8")
    return f


def run(host: Host, httpserver: HTTPServer, azurite: Any, container: str, data_file: Path | None, **kwargs: Any) -> dict[str, Any]:
    request = RetrainRequest(
        training_url=httpserver.url_for(TRAIN + "/jobs?api-version=2.0"),
        target="fake:ep1",
        data=str(data_file) if data_file else None,
        evaluation_output=kwargs.pop("evaluation_output", "output2"),
        container=container,
        **{k: kwargs.pop(k) for k in list(kwargs) if k in RetrainRequest.__dataclass_fields__},
    )
    bes = BesClient(httpserver.url_for(TRAIN), KEY, http=HttpClient(sleep=lambda s: None), poll_interval=0, sleep=lambda s: None)
    return retrain(host, request, api_key=KEY, storage_connection_string=azurite.connection_string, bes=bes, info=lambda m: None, **kwargs)


def test_retrain_uploads_trains_evaluates_gates_and_deploys(httpserver, azurite, azurite_container, host, backend, observer, data_file) -> None:
    training = FakeTraining(httpserver, azurite)
    result = run(host(), httpserver, azurite, azurite_container, data_file, gates=["Accuracy>=0.85"], run_id="r1")

    # 1. the upload is real
    with azurite.service() as svc:
        assert svc.get_blob_client(azurite_container, "retrain/r1/new.csv").download_blob().readall() == TRAINING_CSV.encode()
    # 2. the BES requests, in order, each with api-version=2.0 and the key
    assert [(m, p, q, a) for m, p, q, a, _ in training.requests] == [
        ("POST", TRAIN + "/jobs", "api-version=2.0", f"Bearer {KEY}"),
        ("POST", TRAIN + "/jobs/job1/start", "api-version=2.0", f"Bearer {KEY}"),
        ("GET", TRAIN + "/jobs/job1", "api-version=2.0", f"Bearer {KEY}"),
        ("GET", TRAIN + "/jobs/job1", "api-version=2.0", f"Bearer {KEY}"),
    ]
    cs = azurite.connection_string
    assert training.submitted() == {
        "Inputs": {"input1": {"ConnectionString": cs, "RelativeLocation": f"{azurite_container}/retrain/r1/new.csv", "BaseLocation": None, "SasBlobToken": None}},
        "GlobalParameters": {},
        "Outputs": {
            "output1": {"ConnectionString": cs, "RelativeLocation": f"{azurite_container}/retrain/r1/model.ilearner", "BaseLocation": None, "SasBlobToken": None},
            "output2": {"ConnectionString": cs, "RelativeLocation": f"{azurite_container}/retrain/r1/evaluation.csv", "BaseLocation": None, "SasBlobToken": None},
        },
    }
    # 3-4. deploy through the facade with exactly the location the job returned
    assert backend.names() == ["get_definition", "get_definition", "patch_ilearner", "update"]
    location = backend.calls[2][1]
    assert location.base_location == f"{azurite.blob_endpoint}/"
    assert location.relative_location == f"{azurite_container}/retrain/r1/model.ilearner"
    assert "sp=r" in location.sas_blob_token and "sig=" in location.sas_blob_token
    assert backend.calls[3][1]["model"] == location.uri
    assert backend.document["model"] == location.uri  # the service now points at the new model
    # the observer saw the job, with the SAS signature redacted
    assert [j["status"] for j in observer.jobs] == ["Finished"]
    assert "sig=***" in observer.jobs[0]["results"]["output1"]["SasBlobToken"]
    assert location.sas_fields()["sig"] not in json.dumps(observer.jobs)
    # each step's result
    assert result["status"] == "deployed" and result["runId"] == "r1" and result["target"] == "fake:ep1"
    steps = result["steps"]
    assert steps["upload"]["blob"] == "retrain/r1/new.csv" and steps["upload"]["bytes"] == len(TRAINING_CSV)
    assert steps["job"]["jobId"] == "job1" and steps["job"]["status"] == "Finished"
    assert steps["evaluation"]["metrics"]["Accuracy"] == 0.909 and steps["evaluation"]["kind"] == "binary"
    assert steps["gate"] == {"passed": True, "gates": [{"gate": "Accuracy>=0.85", "metric": "Accuracy", "op": ">=", "threshold": 0.85, "value": 0.909, "passed": True}]}
    assert steps["deploy"]["verified"] is True and steps["deploy"]["modelUri"] == location.blob_url
    assert location.sas_fields()["sig"] not in json.dumps(result)


def test_gate_failure_deploys_nothing(httpserver, azurite, azurite_container, host, backend, observer, data_file) -> None:
    FakeTraining(httpserver, azurite, evaluation=EVAL_BAD)
    with pytest.raises(GateFailedError) as info:
        run(host(), httpserver, azurite, azurite_container, data_file, gates=["Accuracy>=0.85"])
    assert info.value.exit_code == ExitCode.CONFLICT
    assert "Accuracy = 0.606, needs >= 0.85" in info.value.message
    assert backend.names() == ["get_definition"]  # the preflight read only: no patch, no update
    result = info.value.details["result"]
    assert result["status"] == "gate_failed" and result["steps"]["gate"]["passed"] is False
    assert result["steps"]["evaluation"]["metrics"]["Accuracy"] == 0.606
    assert [j["status"] for j in observer.jobs] == ["Finished"]


def test_each_run_writes_a_new_model_blob(httpserver, azurite, azurite_container, host, backend, data_file) -> None:
    training = FakeTraining(httpserver, azurite)
    h = host()
    first = run(h, httpserver, azurite, azurite_container, data_file)
    second = run(h, httpserver, azurite, azurite_container, data_file)
    bodies = [json.loads(b) for m, p, _, _, b in training.requests if m == "POST" and p.endswith("/jobs")]
    names = [b["Outputs"]["output1"]["RelativeLocation"] for b in bodies]
    assert len(set(names)) == 2 and all(n.endswith("/model.ilearner") for n in names)
    assert first["runId"] != second["runId"] and first["runId"] in names[0] and second["runId"] in names[1]


def test_expired_sas_is_refreshed_by_reading_the_job_again(httpserver, azurite, azurite_container, host, backend, data_file) -> None:
    training = FakeTraining(httpserver, azurite, expire_first_sas=True)
    result = run(host(), httpserver, azurite, azurite_container, data_file, gates=["AUC>0.9"])
    assert training.count("GET") == 3  # Running, Finished (expired SAS), Finished again (fresh SAS)
    location = backend.calls[2][1]
    expiry = datetime.fromisoformat(location.sas_fields()["se"].replace("Z", "+00:00"))
    assert expiry > datetime.now(timezone.utc) + timedelta(hours=20)
    assert result["status"] == "deployed"


def test_failed_job_notifies_and_deploys_nothing(httpserver, azurite, azurite_container, host, backend, observer, data_file) -> None:
    FakeTraining(httpserver, azurite, final="Failed")
    with pytest.raises(JobFailed) as info:
        run(host(), httpserver, azurite, azurite_container, data_file)
    assert "Inputs have missing values" in info.value.message and info.value.exit_code == ExitCode.FAILED
    assert [j["status"] for j in observer.jobs] == ["Failed"] and "Error 0003" in observer.jobs[0]["details"]
    assert backend.names() == ["get_definition"]


def test_what_if_sends_nothing(httpserver, azurite, azurite_container, host, backend, data_file) -> None:
    training = FakeTraining(httpserver, azurite)
    result = run(host(what_if=True), httpserver, azurite, azurite_container, data_file, gates=["Accuracy>=0.85"], run_id="w1")
    assert training.requests == []
    assert backend.names() == ["get_definition"]
    with azurite.service() as svc:
        assert not svc.get_container_client(azurite_container).exists()
    assert result["status"] == "what_if" and result["steps"]["upload"]["blob"] == "retrain/w1/new.csv"
    config = result["steps"]["job"]["config"]
    assert config["Outputs"]["output1"]["RelativeLocation"] == f"{azurite_container}/retrain/w1/model.ilearner"
    assert "Eby8vdM02x" not in json.dumps(result)  # the account key never printed


def test_deploy_what_if_trains_then_plans(httpserver, azurite, azurite_container, host, backend, data_file) -> None:
    FakeTraining(httpserver, azurite)
    result = run(host(yes=False), httpserver, azurite, azurite_container, data_file, deploy_what_if=True)
    assert backend.names() == ["get_definition", "get_definition", "patch_ilearner"]  # no update
    deploy = result["steps"]["deploy"]
    assert result["status"] == "planned" and deploy["whatIf"] is True and deploy["requests"][0]["method"] == "PUT"
    assert '-  "model": "https://old/model.ilearner"' in deploy["diff"] and "sig=***" in deploy["diff"]


def test_refuses_early_without_confirmation(httpserver, azurite, azurite_container, host, backend, data_file) -> None:
    training = FakeTraining(httpserver, azurite)
    with pytest.raises(UsageError, match="needs confirmation") as info:
        run(host(yes=False), httpserver, azurite, azurite_container, data_file)
    assert "--yes" in (info.value.hint or "") and training.requests == [] and backend.calls == []


def test_gate_needs_an_evaluation_output(httpserver, azurite, azurite_container, host, data_file) -> None:
    with pytest.raises(UsageError, match="--gate needs the evaluation output"):
        run(host(), httpserver, azurite, azurite_container, data_file, evaluation_output=None, gates=["Accuracy>0.5"])


def test_smoke_test_before_and_after(httpserver, azurite, azurite_container, host, backend, data_file) -> None:
    FakeTraining(httpserver, azurite)
    scored: list[dict[str, Any]] = []

    def score(request: Request) -> Response:
        scored.append({"query": request.args.to_dict(), "auth": request.headers.get("Authorization"), "body": json.loads(request.get_data())})
        label = "1" if "/retrain/" in backend.document["model"] else "0"
        return Response(json.dumps({"Results": {"output1": {"type": "DataTable", "value": {
            "ColumnNames": ["Scored Labels"], "ColumnTypes": ["Numeric"], "Values": [[label]]}}}}), content_type="application/json")

    httpserver.expect_request(SCORE + "/execute", method="POST").respond_with_handler(score)
    smoke = data_file.parent / "smoke.csv"
    smoke.write_text("age,income\n39,77516\n", encoding="utf-8")
    result = run(host(), httpserver, azurite, azurite_container, data_file, smoke_input=str(smoke),
                 smoke_url=httpserver.url_for(SCORE), scoring_api_key=SCORING_KEY, rrs_http=HttpClient(retries=0))
    assert scored == [{
        "query": {"api-version": "2.0", "details": "true"},
        "auth": f"Bearer {SCORING_KEY}",
        "body": {"Inputs": {"input1": {"ColumnNames": ["age", "income"], "Values": [["39", "77516"]]}}, "GlobalParameters": {}},
    }] * 2
    steps = result["steps"]
    assert steps["smokeBefore"]["outputs"]["output1"]["rows"] == [["0"]]
    assert steps["smokeAfter"]["outputs"]["output1"]["rows"] == [["1"]] and steps["smokeAfter"]["changed"] is True


# --- the command line ---------------------------------------------------------------------


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, azurite: Any) -> None:
    monkeypatch.setenv("AMLWS_API_KEY", KEY)
    monkeypatch.setenv("AMLWS_STORAGE_CONNECTION_STRING", azurite.connection_string)


def retrain_argv(httpserver: HTTPServer, container: str, data_file: Path, *extra: str) -> list[str]:
    return [
        "retrain", "--training-service", httpserver.url_for(TRAIN + "/jobs?api-version=2.0"), "--target", "fake:ep1",
        "--data", str(data_file), "--evaluation-output", "output2", "--container", container, "--poll-interval", "0", *extra,
    ]


def test_cli_retrain_json(httpserver, azurite, azurite_container, make_pm, backend, observer, data_file, run_cli, cli_env) -> None:
    training = FakeTraining(httpserver, azurite)
    pm = make_pm((backend, "fake"), (observer, "observer"))
    code, out, err = run_cli(retrain_argv(httpserver, azurite_container, data_file, "--gate", "Accuracy>=0.85", "--yes", "-o", "json"), pm)
    assert code == 0, err
    result = json.loads(out)
    assert result["status"] == "deployed" and result["steps"]["gate"]["passed"] is True
    assert backend.names()[-2:] == ["patch_ilearner", "update"]
    assert backend.calls[-2][1].relative_location == f"{azurite_container}/retrain/{result['runId']}/model.ilearner"
    assert training.count("POST", "/jobs") == 1
    # progress and steps on stderr; no secret anywhere
    assert f"uploading {data_file}" in err and "training job job1: Finished" in err and "Accuracy=0.909" in err
    for secret in (KEY, "Eby8vdM02x", backend.calls[-2][1].sas_fields()["sig"]):
        assert secret not in out and secret not in err


def test_cli_retrain_gate_failure_exits_5(httpserver, azurite, azurite_container, make_pm, backend, observer, data_file, run_cli, cli_env) -> None:
    FakeTraining(httpserver, azurite, evaluation=EVAL_BAD)
    pm = make_pm((backend, "fake"), (observer, "observer"))
    code, out, err = run_cli(retrain_argv(httpserver, azurite_container, data_file, "--gate", "Accuracy>=0.85", "--yes", "-o", "json"), pm)
    assert code == 5
    assert json.loads(out)["steps"]["gate"]["passed"] is False
    assert "error: the new model failed the gate: Accuracy = 0.606, needs >= 0.85" in err
    assert "update" not in backend.names() and "patch_ilearner" not in backend.names()


def test_cli_retrain_needs_api_key(httpserver, azurite_container, make_pm, backend, data_file, run_cli, monkeypatch) -> None:
    pm = make_pm((backend, "fake"))
    code, out, err = run_cli(retrain_argv(httpserver, azurite_container, data_file, "--yes"), pm)
    assert code == ExitCode.AUTH and "no api key configured" in err and "AMLWS_API_KEY" in err


def test_cli_step_by_step(httpserver, azurite, azurite_container, make_pm, backend, data_file, run_cli, cli_env, tmp_path) -> None:
    """The same workflow one command per step, as docs/retraining.md shows it."""
    training = FakeTraining(httpserver, azurite, evaluation=EVAL_BAD)
    pm = make_pm((backend, "fake"))
    c = azurite_container
    code, out, err = run_cli(["blob", "upload", str(data_file), "--container", c, "--blob-name", "run7/new.csv", "-o", "json"], pm)
    assert code == 0, err
    assert json.loads(out) == {"container": c, "blob": "run7/new.csv", "relativeLocation": f"{c}/run7/new.csv",
                               "url": f"{azurite.blob_endpoint}/{c}/run7/new.csv"}
    bes = tmp_path / "bes.json"
    code, out, err = run_cli([
        "jobs", "run", "--url", httpserver.url_for(TRAIN + "/jobs"), "--input-blob", f"input1={c}/run7/new.csv",
        "--output-blob", f"output1={c}/run7/model.ilearner", "--output-blob", f"output2={c}/run7/evaluation.csv",
        "--poll-interval", "0", "--results-file", str(bes), "-o", "json",
    ], pm)
    assert code == 0, err
    assert training.submitted()["Inputs"]["input1"]["RelativeLocation"] == f"{c}/run7/new.csv"
    code, out, err = run_cli(["evaluate", "--bes-result", str(bes), "--output-name", "output2", "-o", "json"], pm)
    assert code == 0, err
    assert json.loads(out)["metrics"]["Accuracy"] == 0.606
    code, out, err = run_cli(["evaluate", "--bes-result", str(bes), "--output-name", "output2", "--gate", "Accuracy>=0.85", "-o", "json"], pm)
    assert code == 5 and json.loads(out)["gates"][0]["passed"] is False and "failed the gate" in err
    eval_file = tmp_path / "eval.csv"
    code, out, err = run_cli(["blob", "download", f"{c}/run7/evaluation.csv", "-f", str(eval_file)], pm)
    assert code == 0 and eval_file.read_text(encoding="utf-8") == EVAL_BAD
    code, out, err = run_cli(["evaluate", str(eval_file), "--gate", "accuracy<0.7"], pm)
    assert code == 0 and "Accuracy" in out


# --- with the real classic backend (its management API on the same local server) ---------------

WS = "d2f62586bed343d621441d55b3872d53"
SVC = "af3e3f32ad393852f9b30ac9a35b0001"
WS_TOKEN = "ws-token-0123456789abcdef"
RESOURCE = "Census Model [trained model]"


def test_retrain_with_the_classic_backend(httpserver, azurite, azurite_container, make_pm, data_file, tmp_path) -> None:
    import amlws.plugins.classic as classic_plugin

    FakeTraining(httpserver, azurite)
    path = f"/workspaces/{WS}/webservices/{SVC}/endpoints/retrain01"
    endpoint = {
        "Name": "retrain01", "WorkspaceId": WS, "WebServiceId": SVC, "ApiLocation": httpserver.url_for(SCORE),
        "PrimaryKey": "endpoint-primary-key-secret==", "ThrottleLevel": "Low", "MaxConcurrentCalls": 4,
        "Resources": [{"Name": RESOURCE, "Kind": "TrainedModel", "Location": {
            "BaseLocation": "https://old.blob.core.windows.net/", "RelativeLocation": "m/old.ilearner", "SasBlobToken": "?sp=r&sig=old"}}],
    }
    patches: list[dict[str, Any]] = []

    def management(request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {WS_TOKEN}":
            return Response("", status=401)
        if request.method == "PATCH":
            body = json.loads(request.get_data())
            patches.append(body)
            for res in body["Resources"]:
                for r in endpoint["Resources"]:
                    if r["Name"] == res["Name"]:
                        r["Location"] = res["Location"]
            return Response("", status=200)
        return Response(json.dumps(endpoint), content_type="application/json")

    httpserver.expect_request(path).respond_with_handler(management)
    pm = make_pm((classic_plugin, "classic"))
    env = {"AMLWS_CLASSIC_ENDPOINT": httpserver.url_for("/"), "AMLWS_WORKSPACE_TOKEN": WS_TOKEN}
    host = Host(pm, Settings(env=env, yes=True))
    target = f"https://management.azureml.net{path}"
    bes = BesClient(httpserver.url_for(TRAIN), KEY, http=HttpClient(sleep=lambda s: None), poll_interval=0, sleep=lambda s: None)
    request = RetrainRequest(training_url=httpserver.url_for(TRAIN + "/jobs"), target=target, data=str(data_file),
                             evaluation_output="output2", gates=["AUC>=0.9"], container=azurite_container)
    result = retrain(host, request, api_key=KEY, storage_connection_string=azurite.connection_string, bes=bes, info=lambda m: None)

    run_id = result["runId"]
    assert len(patches) == 1
    sent = patches[0]["Resources"][0]
    assert sent["Name"] == RESOURCE
    assert sent["Location"]["BaseLocation"] == f"{azurite.blob_endpoint}/"
    assert sent["Location"]["RelativeLocation"] == f"{azurite_container}/retrain/{run_id}/model.ilearner"
    assert "sp=r" in sent["Location"]["SasBlobToken"]
    assert result["status"] == "deployed" and result["steps"]["deploy"]["verified"] is True
    # the new model is really readable with the SAS the endpoint was given
    from amlws.azure.blob import download

    loc = ModelLocation(sent["Location"]["BaseLocation"], sent["Location"]["RelativeLocation"], sent["Location"]["SasBlobToken"])
    assert download(loc) == b"ILEARNER-BYTES"


def test_smoke_key_missing_fails_before_training(httpserver, azurite, azurite_container, host, backend, data_file) -> None:
    training = FakeTraining(httpserver, azurite)
    smoke = data_file.parent / "smoke.csv"
    smoke.write_text("age\n1\n", encoding="utf-8")
    with pytest.raises(Exception) as info:
        run(host(), httpserver, azurite, azurite_container, data_file, smoke_input=str(smoke), smoke_url=httpserver.url_for(SCORE))
    assert info.value.exit_code == ExitCode.AUTH and "AMLWS_SCORING_API_KEY" in (info.value.hint or "")
    assert training.requests == []


def test_cli_retrain_what_if_needs_no_key_and_sends_nothing(httpserver, azurite, azurite_container, make_pm, backend, data_file, run_cli, monkeypatch) -> None:
    monkeypatch.setenv("AMLWS_STORAGE_CONNECTION_STRING", azurite.connection_string)
    training = FakeTraining(httpserver, azurite)
    pm = make_pm((backend, "fake"))
    code, out, err = run_cli(retrain_argv(httpserver, azurite_container, data_file, "--what-if", "-o", "json"), pm)
    assert code == 0, err
    plan = json.loads(out)
    assert plan["status"] == "what_if" and plan["steps"]["job"]["config"]["Inputs"]["input1"]["ConnectionString"] == "***"
    assert training.requests == [] and backend.names() == ["get_definition"]


class FakeWithEndpoints(FakeBackend):
    """The fake backend that also says where its services' BES/RRS live (``amlws_service_endpoints``)."""

    def __init__(self, httpserver: HTTPServer) -> None:
        super().__init__()
        self.server = httpserver
        self.endpoint_calls: list[tuple[str, bool, bool]] = []

    @hookimpl
    def amlws_service_endpoints(self, target: Target, include_key: bool, definition: Any) -> Any:
        from amlws.model import ServiceEndpoints

        self.endpoint_calls.append((target.id, include_key, definition is not None))
        api = self.server.url_for(TRAIN if target.id == "fake:train" else SCORE)
        key = (KEY if target.id == "fake:train" else SCORING_KEY) if include_key else None
        return ServiceEndpoints(target, bes_url=api + "/jobs", rrs_url=api + "/execute?api-version=2.0&details=true", api_key=key)


def test_cli_retrain_by_web_service_finds_the_training_bes_and_the_smoke_rrs(
        httpserver, azurite, azurite_container, make_pm, data_file, run_cli, cli_env, monkeypatch) -> None:
    """--training-service names a web service and there is no --smoke-url: core asks the backend for
    both URLs and keys (no ApiLocation/PrimaryKey read in core), the target's from the live read."""
    monkeypatch.delenv("AMLWS_API_KEY", raising=False)
    backend = FakeWithEndpoints(httpserver)
    training = FakeTraining(httpserver, azurite)
    scored: list[str | None] = []

    def score(request: Request) -> Response:
        scored.append(request.headers.get("Authorization"))
        return Response(json.dumps({"Results": {"output1": {"type": "DataTable", "value": {"ColumnNames": ["Scored Labels"], "Values": [["1"]]}}}}),
                        content_type="application/json")

    httpserver.expect_request(SCORE + "/execute", method="POST").respond_with_handler(score)
    smoke = data_file.parent / "smoke.csv"
    smoke.write_text("age,income\n39,77516\n", encoding="utf-8")
    argv = retrain_argv(httpserver, azurite_container, data_file, "--smoke-input", str(smoke), "--yes", "-o", "json")
    argv[argv.index("--training-service") + 1] = "fake:train"
    code, out, err = run_cli(argv, make_pm((backend, "fake")))
    assert code == 0, err
    assert [(m, p, a) for m, p, _, a, _ in training.requests][:2] == [
        ("POST", TRAIN + "/jobs", f"Bearer {KEY}"), ("POST", TRAIN + "/jobs/job1/start", f"Bearer {KEY}")]
    assert scored == [f"Bearer {SCORING_KEY}"] * 2
    assert backend.endpoint_calls == [("fake:train", True, False), ("fake:ep1", True, True)]
    assert json.loads(out)["status"] == "deployed"
    assert KEY not in out + err and SCORING_KEY not in out + err
