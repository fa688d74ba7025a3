"""``amlws retrain ENDPOINT|DEPLOYMENT --from-job|--job-file`` end to end on the emulator's seeded v2
workspace (jobs really train: docs/emulator.md "Jobs and the built-in trainer"), its datastores on
the session's Azurite. Seeded: endpoint ``bike-rentals-ep``, deployment ``blue`` on ``bike-rentals``
version 1 at 100 %, versions 1 and 2, the completed job ``train-bike-rentals-1``; ``new.csv`` trains
a model with ``r2`` ≈ 0.999, ``bad.csv`` one with ``r2`` ≈ -0.02.

Asserted on the wire (the emulator's request log and state), the CLI's answer and the local history.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from amlws import hookimpl
from amlws.emulator import seed as demo
from amlws.emulator.server import EmulatorServer

from ..e2e.conftest import client_env
from . import test_rollout as rollout

WS = (f"/subscriptions/{demo.DEMO_SUBSCRIPTION}/resourceGroups/{demo.DEMO_RESOURCE_GROUP}"
      f"/providers/Microsoft.MachineLearningServices/workspaces/{demo.DEMO_MLV2_WORKSPACE}")
EP = f"{WS}/onlineEndpoints/{demo.DEMO_MLV2_ENDPOINT}"
DEP = f"{EP}/deployments/{demo.DEMO_MLV2_DEPLOYMENT}"
SEEDED = demo.DEMO_MLV2_JOB
WRITES = ("PUT", "DELETE", "POST", "PATCH")


class V2(rollout.V2):
    """tests/mlv2/test_rollout.py's emulator helpers, on Azurite, with the seeded CSVs as local files."""

    def __init__(self, server: EmulatorServer, tmp_path: Path, capsys: Any, observers: list[Any]) -> None:
        super().__init__(server, tmp_path, capsys, observers)
        for name in ("new.csv", "bad.csv"):
            (tmp_path / name).write_text(str(demo.DEMO_MLV2_DATA[f"data/bike-rentals/{name}"]), encoding="utf-8")

    def writes(self) -> list[tuple[str, str]]:
        """The mutating requests since the log was cleared (scoring and listKeys are POSTs that change nothing)."""
        return [(r["method"], r["path"]) for r in self.requests_log()
                if r["method"] in WRITES and r.get("operation") not in ("OnlineEndpoints_Score", "OnlineEndpoints_ListKeys")]

    def versions(self) -> set[str]:
        return {v["name"] for v in self.arm("GET", f"{WS}/models/bike-rentals/versions").json()["value"]}

    def model_of(self, deployment: str) -> str:
        return str(self.arm("GET", f"{EP}/deployments/{deployment}").json()["properties"]["model"]).rsplit("/models/", 1)[1]

    def scores(self, *extra: str) -> list[Any]:
        return list(self.predictions(*extra)[1])


@pytest.fixture
def observers() -> list[Any]:
    return []


@pytest.fixture
def v2(azurite: Any, tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch, observers: list[Any]) -> Iterator[V2]:
    # ARM's read bucket lifted, as for the rollout tests: a retrain polls the emulator in tight loops
    settings = {"transitions": {"mlv2_job": {"mode": "polls", "count": 2}, "mlv2_lro": {"mode": "immediate"}},
                "arm_throttling": {"reads": {"capacity": 1_000_000, "refill": 1_000_000}}}
    with EmulatorServer(seed="demo", cert_dir=tmp_path / "certs", storage_connection_string=azurite.connection_string,
                        settings=settings) as server:
        client_env(server, tmp_path, monkeypatch)
        monkeypatch.setenv("AMLWS_STORAGE_CONNECTION_STRING", azurite.connection_string)
        yield V2(server, tmp_path, capsys, observers)


def retrain(v2: V2, target: str, data: str, *extra: str) -> tuple[int, dict[str, Any], str]:
    code, out, err = v2.run("retrain", target, "--from-job", SEEDED, "--input", f"train={v2.tmp / data}",
                            "--gate", "r2>=0.8", "--yes", "-o", "json", *extra)
    return code, json.loads(out) if out.strip() else {}, err


# --- the loop ----------------------------------------------------------------------------------------


def test_retrain_a_deployment_in_place_trains_gates_registers_and_the_predictions_change(v2: V2) -> None:
    before = v2.scores("--deployment", "blue")
    v2.control("DELETE", "requests")

    code, data, err = retrain(v2, DEP, "new.csv", "--smoke-file", str(v2.rows))
    assert code == 0, err
    job = data["job"]
    assert job.startswith(SEEDED + "-") and data["status"] == "deployed"
    assert data["modelVersion"] == "bike-rentals:3"
    assert data["deployment"] == {"strategy": "in-place", "name": "blue", "id": DEP, "verified": True}
    assert data["metrics"]["r2"] > 0.99 and {"mae", "rmse", "r2"} <= set(data["metrics"])
    assert data["steps"]["gate"]["passed"] is True
    assert data["steps"]["upload"]["inputs"]["train"] == f"azureml://datastores/workspaceblobstore/paths/amlws/inputs/{job}/new.csv"
    assert data["steps"]["smokeAfter"]["changed"] is True

    # the wire: the job PUT, the registration PUT (the job's output), the deployment PUT on version 3
    writes = v2.writes()
    puts = [p for m, p in writes if m == "PUT"]
    assert puts == [f"{WS}/jobs/{job}", f"{WS}/models/bike-rentals/versions/3", DEP], writes
    registered = v2.arm("GET", f"{WS}/models/bike-rentals/versions/3").json()
    assert registered["properties"]["modelUri"] == f"azureml://jobs/{job}/outputs/model/paths/"
    assert v2.model_of("blue") == "bike-rentals/versions/3"
    after = v2.scores("--deployment", "blue")
    assert after != before and after == data["steps"]["smokeAfter"]["predictions"]

    # history: the deployment's entry is a retrain naming the job and the version, with the metrics
    code, out, err = v2.run("history", DEP, "-o", "json")
    assert code == 0, err
    entry = json.loads(out)[-1]
    assert entry["action"] == "retrain" and job in entry["note"] and "bike-rentals:3" in entry["note"]


def test_retrain_an_endpoint_rolls_the_new_version_out(v2: V2) -> None:
    before = v2.scores()
    code, data, err = retrain(v2, EP, "new.csv", "--steps", "50,100")
    assert code == 0, err
    assert data["deployment"]["strategy"] == "rollout" and data["deployment"]["from"] == "blue"
    assert data["deployment"]["name"] == "green" and data["deployment"]["traffic"] == {"green": 100}
    assert [s["traffic"] for s in data["steps"]["deploy"]["steps"]] == [{"blue": 50, "green": 50}, {"green": 100}]
    assert v2.traffic() == {"green": 100}
    assert v2.model_of("green") == "bike-rentals/versions/3"
    assert v2.scores() != before
    code, out, err = v2.run("history", EP, "-o", "json")
    assert code == 0, err
    entry = json.loads(out)[-1]
    assert entry["action"] == "retrain" and data["job"] in entry["note"]


def test_a_failing_gate_is_exit_5_with_nothing_registered_or_deployed(v2: V2) -> None:
    before = v2.scores()
    v2.control("DELETE", "requests")
    code, data, err = retrain(v2, EP, "bad.csv")
    assert code == 5, err
    assert "failed the gate" in err and "r2" in err
    assert data["status"] == "gate_failed" and data["steps"]["gate"]["passed"] is False
    assert data["metrics"]["r2"] < 0.8 and data["modelVersion"] is None
    # the only write is the job itself: no registration, no deployment or endpoint request
    assert [m for m, _ in v2.writes()] == ["PUT"] and v2.writes()[0][1].startswith(f"{WS}/jobs/")
    assert v2.versions() == {"1", "2"}
    assert v2.traffic() == {"blue": 100} and v2.model_of("blue") == "bike-rentals/versions/1"
    assert v2.scores() == before


def test_a_gate_on_a_metric_the_job_did_not_log_is_exit_5_naming_the_logged_ones(v2: V2) -> None:
    code, _, err = retrain(v2, EP, "new.csv", "--gate", "auc>=0.8")
    assert code == 5 and "logged no metric 'auc'" in err and "r2" in err and "accuracy" in err
    assert v2.versions() == {"1", "2"}


def test_the_issues_own_command_trains_gates_on_accuracy_rolls_out_and_bad_data_stops_at_the_gate(v2: V2) -> None:
    """Issue 16's "done when", as written: the emulator's trainer logs ``accuracy`` for its regression too
    (the share of held-out rows predicted within 10 %), so ``--gate "accuracy>=0.8"`` is a real gate."""
    before = v2.scores()
    code, out, err = v2.run("retrain", EP, "--from-job", SEEDED, "--input", f"train={v2.tmp / 'bad.csv'}",
                            "--gate", "accuracy>=0.8", "--yes", "-o", "json")
    assert code == 5, err
    assert json.loads(out)["metrics"]["accuracy"] < 0.8
    assert v2.traffic() == {"blue": 100} and v2.versions() == {"1", "2"} and v2.scores() == before
    code, out, err = v2.run("retrain", EP, "--from-job", SEEDED, "--input", f"train={v2.tmp / 'new.csv'}",
                            "--gate", "accuracy>=0.8", "--yes", "-o", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["metrics"]["accuracy"] >= 0.8 and data["modelVersion"] == "bike-rentals:3"
    assert v2.traffic() == {"green": 100} and v2.model_of("green") == "bike-rentals/versions/3"
    assert v2.scores() != before
    code, out, err = v2.run("history", EP, "--metrics", "-o", "json")
    assert code == 0, err
    assert "accuracy" in out


def test_a_job_still_running_at_the_timeout_is_cancelled_and_nothing_deployed(v2: V2) -> None:
    v2.control("POST", "transitions", {"mlv2_job": {"mode": "polls", "count": 1000}})
    v2.control("DELETE", "requests")
    code, _, err = v2.run("--timeout", "0.2", "retrain", EP, "--from-job", SEEDED, "--yes")
    assert code == 1 and "was still" in err and "cancelled" in err
    cancels = [p for m, p in v2.writes() if m == "POST" and p.endswith("/cancel")]
    assert len(cancels) == 1
    assert v2.versions() == {"1", "2"} and v2.traffic() == {"blue": 100}


def test_what_if_prints_the_job_registration_and_deployment_plan_and_sends_nothing(v2: V2) -> None:
    v2.control("DELETE", "requests")
    code, out, err = v2.run("retrain", DEP, "--from-job", SEEDED, "--input", f"train={v2.tmp / 'new.csv'}",
                            "--gate", "r2>=0.8", "--what-if", "-o", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["whatIf"] is True and data["status"] == "what_if" and data["modelVersion"] == "bike-rentals:3"
    job = data["steps"]["job"]["requests"][0]
    assert job["method"] == "PUT" and job["url"].endswith(f"{WS}/jobs/{data['job']}")
    assert job["body"]["properties"]["inputs"]["train"]["uri"].endswith(f"/amlws/inputs/{data['job']}/new.csv")
    register = [r for r in data["steps"]["model"]["requests"] if r["method"] == "PUT"]
    assert len(register) == 1 and register[0]["body"]["properties"]["modelUri"] == f"azureml://jobs/{data['job']}/outputs/model/paths/"
    deploy = data["steps"]["deploy"]
    assert deploy["strategy"] == "in-place" and deploy["requests"][0]["body"]["properties"]["model"].endswith("/bike-rentals/versions/3")
    assert v2.writes() == []
    assert v2.versions() == {"1", "2"}


def test_history_endpoint_metrics_after_three_retrains_shows_the_trend(v2: V2) -> None:
    served = []
    for _ in range(3):  # three rollouts: blue -> green -> blue -> green
        code, data, err = retrain(v2, EP, "new.csv", "--steps", "100")
        assert code == 0, err
        served.append(data["deployment"]["name"])
    assert served == ["green", "blue", "green"] and v2.versions() == {"1", "2", "3", "4", "5"}
    code, out, err = v2.run("history", EP, "--metrics", "-o", "json")
    assert code == 0, err
    trend = json.loads(out)
    assert [r["action"] for r in trend["retrains"]] == ["retrain"] * 3
    assert {"mae", "rmse", "r2"} <= set(trend["metrics"]) and len(trend["trend"]["r2"]) == 3
    assert all(v > 0.99 for v in trend["trend"]["r2"])
    code, out, err = v2.run("history", EP, "--metrics", "-o", "table")
    assert code == 0 and "r2" in out


class FreezeDeploys:
    """Vetoes the deployment of a retrain (and nothing else)."""

    @hookimpl
    def amlws_before_update(self, target, definition, action):
        return "change freeze" if action == "retrain" else None


@pytest.mark.parametrize("observers", [[FreezeDeploys()]])
def test_a_change_freeze_vetoes_the_deployment_nothing_registered(v2: V2) -> None:
    code, _, err = retrain(v2, EP, "new.csv")
    assert code == 5 and "change freeze" in err
    assert v2.versions() == {"1", "2"} and v2.traffic() == {"blue": 100}
    assert not [p for m, p in v2.writes() if "/models/" in p or "/onlineEndpoints/" in p]


# --- bad input -----------------------------------------------------------------------------------------


def test_bad_input(v2: V2) -> None:
    f = v2.tmp / "job.json"
    f.write_text(json.dumps({"properties": {"endpointComputeType": "Managed"}}))
    code, _, err = v2.run("retrain", EP, "--job-file", str(f), "--yes")
    assert code == 2 and "is not an Azure ML job" in err
    code, _, err = v2.run("retrain", EP, "--from-job", SEEDED, "--input", "train=/no/such.csv", "--yes")
    assert code == 3 and "input not found" in err
    code, _, err = v2.run("retrain", EP, "--from-job", SEEDED, "--model-output", "nope", "--yes")
    assert code == 2 and "no output 'nope'" in err
    code, _, err = v2.run("retrain", DEP, "--from-job", SEEDED, "--strategy", "rollout", "--yes")
    assert code == 2 and "a rollout deploys to an endpoint" in err
    code, _, err = v2.run("retrain", EP, "--from-job", SEEDED, "--data", "x.csv", "--yes")
    assert code == 2 and "--data is for a retrain by a training service" in err
    code, _, err = v2.run("retrain", EP, "--from-job", SEEDED)  # no --yes, stdin not a terminal
    assert code == 2 and "needs confirmation" in err
    code, _, err = v2.run("retrain", EP)
    assert code == 2 and "needs a training service or a training job" in err
    assert [m for m, _ in v2.writes() if m == "PUT"] == []


# --- fleet rows with a training job ----------------------------------------------------------------------


def test_fleet_rows_with_a_job_run_a_whole_retrain_each(v2: V2) -> None:
    good = v2.tmp / "good.csv"
    good.write_text("key,target,from_job,input_train,gate\n"
                    f"blue,{DEP},{SEEDED},{v2.tmp / 'new.csv'},r2>=0.8\n", encoding="utf-8")
    before = v2.scores()
    code, out, err = v2.run("fleet", "run", str(good), "--yes", "-o", "json")
    assert code == 0, err + out
    summary = json.loads(out)
    assert summary["counts"] == {"deployed": 1}, summary
    assert summary["rows"][0]["modelUri"] == "bike-rentals:3"
    assert v2.model_of("blue") == "bike-rentals/versions/3" and v2.scores() != before
    code, out, err = v2.run("history", DEP, "--metrics", "-o", "json")
    assert code == 0 and json.loads(out)["trend"]["r2"][0] > 0.99

    bad = v2.tmp / "bad.csv.fleet.csv"
    bad.write_text("key,target,from_job,input:train,gate\n"
                   f"blue,{DEP},{SEEDED},{v2.tmp / 'bad.csv'},r2>=0.8\n", encoding="utf-8")
    code, out, err = v2.run("fleet", "run", str(bad), "--yes", "-o", "json")
    summary = json.loads(out)
    assert code == 5 and summary["rows"][0]["status"] == "gate_failed", summary
    assert v2.versions() == {"1", "2", "3"} and v2.model_of("blue") == "bike-rentals/versions/3"


def test_a_fleet_row_with_both_a_training_service_and_a_job_is_refused() -> None:
    from amlws.errors import UsageError
    from amlws.fleet.manifest import parse_manifest

    rows = parse_manifest("key,target,from_job,input_train,input_name,gate\nk,T,j,new.csv,input1,r2>=0.8\n", fmt="csv")
    assert rows[0].from_job == "j" and rows[0].inputs == {"train": "new.csv"} and rows[0].input_name == "input1"
    assert rows[0].runs_a_job
    plain = parse_manifest("key,target,model\nk,T,m:1\n", fmt="csv")[0]
    assert not plain.runs_a_job and plain.fingerprint() == parse_manifest("key,target,model\nk,T,m:1\n", fmt="csv")[0].fingerprint()
    with pytest.raises(UsageError, match="both training_url and a training job"):
        parse_manifest("key,target,training_url,from_job\nk,T,https://x/jobs,j\n", fmt="csv")
