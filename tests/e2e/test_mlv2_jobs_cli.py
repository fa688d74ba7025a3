"""``amlws mlv2 jobs …`` and the v2 retrain building blocks (plugins/mlv2/jobs.py, mlflow.py) on
the emulator, which runs jobs for real (docs/emulator.md "Jobs and the built-in trainer"), with
its datastores on the session's Azurite.

Ground truth: tests/data/specs/mlv2/REFERENCE.md §2.4, §5.7, §8, §9, §15.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import amlws.plugins.mlv2
from amlws.emulator import seed as demo
from amlws.emulator.server import EmulatorServer

from .conftest import Http, client_env, in_process_cli

W = (f"/subscriptions/{demo.DEMO_SUBSCRIPTION}/resourceGroups/{demo.DEMO_RESOURCE_GROUP}"
     f"/providers/Microsoft.MachineLearningServices/workspaces/{demo.DEMO_MLV2_WORKSPACE}")
WS = ("-g", demo.DEMO_RESOURCE_GROUP, "-w", demo.DEMO_MLV2_WORKSPACE)
SEEDED = "train-bike-rentals-1"


@pytest.fixture
def v2(cert_dir: Path, azurite: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Http]:
    """The demo emulator on Azurite, the CLI pointed at it; a job ends at its 3rd observation."""
    settings = {"transitions": {"mlv2_job": {"mode": "polls", "count": 2}, "mlv2_lro": {"mode": "immediate"}}}
    with EmulatorServer(seed="demo", cert_dir=cert_dir, storage_connection_string=azurite.connection_string,
                        settings=settings) as server:
        client_env(server, tmp_path, monkeypatch)
        monkeypatch.setenv("AMLWS_STORAGE_CONNECTION_STRING", azurite.connection_string)
        yield Http(server)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Any:
    return in_process_cli(capsys, (amlws.plugins.mlv2, "mlv2"))


def csv_of(h: Http, name: str) -> str:
    """A seeded CSV of the default datastore (what the emulator wrote there)."""
    from amlws.emulator.seed import DEMO_MLV2_DATA

    return str(DEMO_MLV2_DATA[f"data/bike-rentals/{name}"])


def requests_log(h: Http, **params: str) -> list[dict[str, Any]]:
    return list(h.request("GET", "/_emulator/requests", params=params).json()["requests"])


def test_submit_from_job_with_a_local_input_uploads_it_and_completes(v2: Http, cli: Any, tmp_path: Path) -> None:
    data = tmp_path / "new.csv"
    data.write_text(csv_of(v2, "new.csv"))
    code, out, err = cli("mlv2", "jobs", "submit", *WS, "--from-job", SEEDED, "--input", f"train={data}", "--wait", "-o", "json")
    assert code == 0, err
    job = json.loads(out)
    name = job["name"]
    assert name.startswith(SEEDED + "-") and name != SEEDED
    assert job["properties"]["status"] == "Completed"
    uri = job["properties"]["inputs"]["train"]["uri"]
    assert uri == f"azureml://datastores/workspaceblobstore/paths/amlws/inputs/{name}/new.csv"
    # the output is the new job's own, not the copied job's location
    assert SEEDED + "/" not in job["properties"]["outputs"]["model"]["uri"]
    assert "status: Queued" in err and "status: Completed" in err
    # the PUT went to the new name, once; no PUT of the earlier job
    puts = [r for r in requests_log(v2, api="mlv2") if r["method"] == "PUT"]
    assert [r["path"] for r in puts] == [f"{W}/jobs/{name}"]


def test_a_job_file_that_is_not_a_job_is_exit_2(v2: Http, cli: Any, tmp_path: Path) -> None:
    f = tmp_path / "job.json"
    f.write_text(json.dumps({"properties": {"endpointComputeType": "Managed", "model": "x"}}))
    code, _, err = cli("mlv2", "jobs", "submit", *WS, "--job-file", str(f))
    assert code == 2 and "is not an Azure ML job" in err
    assert not [r for r in requests_log(v2, api="mlv2") if r["method"] == "PUT"]


def test_an_input_path_that_does_not_exist_is_exit_3(v2: Http, cli: Any, tmp_path: Path) -> None:
    code, _, err = cli("mlv2", "jobs", "submit", *WS, "--from-job", SEEDED, "--input", f"train={tmp_path / 'nope.csv'}")
    assert code == 3 and "input not found" in err
    assert not [r for r in requests_log(v2, api="mlv2") if r["method"] == "PUT"]


def test_an_input_the_job_does_not_have_is_exit_2(v2: Http, cli: Any) -> None:
    code, _, err = cli("mlv2", "jobs", "submit", *WS, "--from-job", SEEDED, "--input", "training=azureml://datastores/x/paths/y")
    assert code == 2 and "has no input 'training'" in err and "train" in err


def test_a_failed_job_is_exit_1_with_its_error_and_a_logs_hint_and_logs_prints_its_log(v2: Http, cli: Any) -> None:
    code, out, err = cli("mlv2", "jobs", "submit", *WS, "--from-job", SEEDED, "--name", "missing-data",
                         "--input", "train=azureml://datastores/workspaceblobstore/paths/data/nothing.csv", "--wait")
    assert code == 1
    assert "job missing-data ended Failed" in err and "BlobNotFound" in err and "amlws mlv2 jobs logs missing-data" in err
    code, out, err = cli("mlv2", "jobs", "logs", "missing-data", *WS)
    assert code == 0, err
    assert "BlobNotFound" in out


def test_timeout_cancels_the_job_unless_keep_job(v2: Http, cli: Any) -> None:
    v2.control("POST", "transitions", {"mlv2_job": {"mode": "polls", "count": 1000}})
    code, _, err = cli("--timeout", "0.1", "mlv2", "jobs", "submit", *WS, "--from-job", SEEDED, "--name", "slow", "--wait")
    assert code == 1 and "job slow was still" in err and "cancelled" in err
    cancels = [r for r in requests_log(v2, api="mlv2") if r["method"] == "POST" and r["path"].endswith("/jobs/slow/cancel")]
    assert len(cancels) == 1 and cancels[0]["status"] == 202
    code, _, err = cli("--timeout", "0.1", "mlv2", "jobs", "submit", *WS, "--from-job", SEEDED, "--name", "kept", "--wait",
                       "--keep-job")
    assert code == 1 and "left running" in err
    assert not [r for r in requests_log(v2, api="mlv2") if r["path"].endswith("/jobs/kept/cancel")]
    code, out, _ = cli("mlv2", "jobs", "cancel", "kept", *WS, "-o", "json")
    assert code == 0 and json.loads(out)["properties"]["status"] in ("CancelRequested", "Canceled")


def test_status_of_an_unknown_job_is_exit_3(v2: Http, cli: Any) -> None:
    code, _, err = cli("mlv2", "jobs", "status", "no-such-job", *WS)
    assert code == 3, err


# --- the library: train, metrics, gate, register ----------------------------------------------------


@pytest.fixture
def host(v2: Http) -> Any:
    from amlws.config import Settings
    from amlws.host import Host, get_plugin_manager, register_plugin

    pm = get_plugin_manager(load_entrypoints=False)
    register_plugin(pm, amlws.plugins.mlv2, "mlv2")
    pm.check_pending()
    return Host(pm, Settings.load())


def retrain_steps(host: Any, data: str, gate: str) -> tuple[str, Any]:
    """submit (a copy of the seeded job on a datastore CSV), wait, read the metrics, check the gate."""
    from amlws.gates import check_gates, parse_gate
    from amlws.plugins.mlv2 import jobs, mlflow

    ws = W
    name, body = jobs.prepare(host.settings, ws, from_job=SEEDED,
                              inputs={"train": f"azureml://datastores/workspaceblobstore/paths/data/bike-rentals/{data}"})
    jobs.submit(host.settings, ws, name, body)
    jobs.wait(host.settings, ws, name)
    metrics = mlflow.run_metrics(host.settings, ws, name)
    return name, check_gates(metrics, [parse_gate(gate)])


def model_versions(h: Http) -> list[str]:
    got = h.request("GET", f"{W}/models/bike-rentals/versions", params={"api-version": "2025-12-01"},
                    headers={"Authorization": f"Bearer {demo.DEMO_ARM_TOKEN}"}).json()
    return sorted(v["name"] for v in got["value"])


def test_train_gate_register_on_new_data_registers_the_jobs_output_as_the_next_version(v2: Http, host: Any) -> None:
    from amlws.plugins.mlv2 import jobs
    from amlws.safety.history import History

    name, gates = retrain_steps(host, "new.csv", "r2>=0.8")
    assert gates[0]["passed"] and gates[0]["value"] > 0.99
    result = jobs.register(host, W, name, "model", "bike-rentals")
    assert model_versions(v2) == ["1", "2", "3"]
    version = result.definition.document
    assert version["properties"]["modelUri"] == f"azureml://jobs/{name}/outputs/model/paths/"
    assert version["properties"]["modelType"] == "custom_model"
    entries = History().list(f"{W}/models/bike-rentals/versions/3")
    assert [e["action"] for e in entries] == ["register"] and entries[0]["status"] == "applied"


def test_bad_data_fails_the_gate_with_exit_5_and_nothing_is_registered(v2: Http, host: Any) -> None:
    from amlws.errors import GateFailedError

    with pytest.raises(GateFailedError) as info:
        retrain_steps(host, "bad.csv", "r2>=0.8")
    assert info.value.exit_code == 5 and "r2 = " in info.value.message
    assert model_versions(v2) == ["1", "2"]
    assert not [r for r in requests_log(v2, api="mlv2") if r["method"] == "PUT" and "/models/" in r["path"]]


def test_a_gate_on_a_metric_the_run_did_not_log_is_exit_5_naming_the_logged_ones(v2: Http, host: Any) -> None:
    from amlws.errors import GateFailedError

    with pytest.raises(GateFailedError) as info:
        retrain_steps(host, "new.csv", "auc>=0.8")
    assert info.value.exit_code == 5
    assert "logged no metric 'auc'" in info.value.message and "r2" in info.value.message and "rmse" in info.value.message


def test_a_model_output_the_job_does_not_have_is_exit_2(v2: Http, host: Any) -> None:
    from amlws.errors import UsageError
    from amlws.plugins.mlv2 import jobs

    with pytest.raises(UsageError) as info:
        jobs.register(host, W, SEEDED, "weights", "bike-rentals")
    assert info.value.exit_code == 2 and "has no output 'weights'" in info.value.message and "model" in (info.value.hint or "")
    assert model_versions(v2) == ["1", "2"]


def test_mlflow_metrics_history_and_an_unknown_run(v2: Http, host: Any) -> None:
    from amlws.errors import NotFoundError
    from amlws.plugins.mlv2 import jobs, mlflow

    with jobs.client(host.settings, W) as c:
        base = mlflow.tracking_base(c, W)
        assert base.startswith("https://127.0.0.1:") and base.endswith(f"/mlflow/v1.0{W}")
        got = mlflow.metrics(c, W, SEEDED, base=base)
        assert set(got) >= {"mae", "rmse", "r2"}
        assert [m["value"] for m in mlflow.metric_history(c, W, SEEDED, "r2", base=base)] == [got["r2"]]
        with pytest.raises(NotFoundError) as info:
            mlflow.metrics(c, W, "no-such-job", base=base)
    assert info.value.exit_code == 3 and "RESOURCE_DOES_NOT_EXIST" in info.value.message


def test_ctrl_c_during_wait_cancels_the_job_unless_keep_job(v2: Http, host: Any) -> None:
    from amlws.plugins.mlv2 import jobs

    v2.control("POST", "transitions", {"mlv2_job": {"mode": "polls", "count": 1000}})

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    for name, keep in (("ctrl-c", False), ("ctrl-c-kept", True)):
        _, body = jobs.prepare(host.settings, W, from_job=SEEDED, name=name)
        jobs.submit(host.settings, W, name, body)
        with pytest.raises(KeyboardInterrupt):
            jobs.wait(host.settings, W, name, keep_job=keep, sleep=interrupt)
    cancelled = {r["path"].rsplit("/", 2)[-2] for r in requests_log(v2, api="mlv2") if r["path"].endswith("/cancel")}
    assert cancelled == {"ctrl-c"}


def test_submit_what_if_prints_the_put_and_sends_none(v2: Http, cli: Any) -> None:
    code, out, err = cli("--what-if", "mlv2", "jobs", "submit", *WS, "--from-job", SEEDED, "--name", "planned", "-o", "json")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["whatIf"] is True and plan["requests"][0]["method"] == "PUT"
    assert plan["requests"][0]["url"].endswith("/jobs/planned")
    assert plan["requests"][0]["body"]["properties"]["jobType"] == "Command"
    assert not [r for r in requests_log(v2, api="mlv2") if r["method"] == "PUT"]
