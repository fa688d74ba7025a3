"""The ``mlv2`` backend end to end on the emulator, through the CLI: the walkthrough (get, export,
patch-model, update in place: the endpoint's predictions change), traffic, deployments remove,
models register, every bad input of issue 15 that is the backend's (one line, its exit code,
nothing sent), the change-freeze veto of each change, and the target options shared with the
Studio backends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

import amlws.plugins.mlv2
from amlws.emulator import seed as demo
from amlws.emulator.server import EmulatorServer

from ..e2e.conftest import client_env, in_process_cli
from ..e2e.test_change_freeze import REASON, Audit, Freeze

RG, WS, EP = demo.DEMO_RESOURCE_GROUP, demo.DEMO_MLV2_WORKSPACE, demo.DEMO_MLV2_ENDPOINT
W = f"/subscriptions/{demo.DEMO_SUBSCRIPTION}/resourceGroups/{RG}/providers/Microsoft.MachineLearningServices/workspaces/{WS}"
EP_ID = f"{W}/onlineEndpoints/{EP}"
BLUE = f"{EP_ID}/deployments/blue"
V1 = f"{W}/models/{demo.DEMO_MLV2_MODEL}/versions/1"
V2 = f"{W}/models/{demo.DEMO_MLV2_MODEL}/versions/2"
T = ["-g", RG, "-w", WS, "-e", EP]
D = [*T, "-d", "blue"]
API = {"api-version": "2025-12-01"}
ARM = {"Authorization": f"Bearer {demo.DEMO_ARM_TOKEN}"}
ROWS = {"input_data": {"columns": ["temperature", "humidity"], "index": [0, 1], "data": [[20, 50], [30, 40]]}}


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    """The demo emulator; v2 operations end on their second poll (deterministic request counts)."""
    with EmulatorServer(seed="demo", cert_dir=tmp_path_factory.mktemp("certs"),
                        settings={"transitions": {"mlv2_lro": {"mode": "polls", "count": 1}}}) as s:
        yield s


@pytest.fixture
def freeze() -> Freeze:
    return Freeze()


@pytest.fixture
def audit() -> Audit:
    return Audit()


@pytest.fixture
def cli(server: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        freeze: Freeze, audit: Audit) -> Any:
    monkeypatch.chdir(tmp_path)
    client_env(server, tmp_path, monkeypatch)
    return in_process_cli(capsys, (amlws.plugins.mlv2, "mlv2"), (freeze, "freeze"), (audit, "audit"))


def arm(server: EmulatorServer, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(method, server.url + path, params=API, headers=ARM, json=body, verify=str(server.ca_path), timeout=30)


def scores(server: EmulatorServer, deployment: str | None = None) -> list[float]:
    uri = arm(server, "GET", EP_ID).json()["properties"]["scoringUri"]
    headers = {"Authorization": f"Bearer {demo.DEMO_API_KEY}"}
    if deployment:
        headers["azureml-model-deployment"] = deployment
    r = requests.post(uri, json=ROWS, headers=headers, verify=str(server.ca_path), timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def add_green(server: EmulatorServer, model: str = V2) -> None:
    import time

    body = {"location": demo.DEMO_MLV2_LOCATION, "sku": {"name": "Default", "capacity": 1},
            "properties": {"endpointComputeType": "Managed", "model": model, "instanceType": "Standard_DS3_v2"}}
    r = arm(server, "PUT", f"{EP_ID}/deployments/green", body)
    assert r.status_code == 201, r.text
    for _ in range(50):
        status = requests.get(r.headers["Azure-AsyncOperation"], headers=ARM, verify=str(server.ca_path), timeout=30).json()
        if status["status"] != "InProgress":
            assert status["status"] == "Succeeded"
            return
        time.sleep(0.02)
    raise AssertionError("green was not created")


def mark(server: EmulatorServer) -> int:
    assert server.emulator is not None
    log = server.emulator.requests()
    return log[-1]["seq"] if log else 0


def v2_requests(server: EmulatorServer, since: int) -> list[tuple[str, str]]:
    assert server.emulator is not None
    return [(e["method"], e["operation"]) for e in server.emulator.requests(since, api="mlv2")]


def changes(server: EmulatorServer, since: int) -> list[tuple[str, str]]:
    return [(m, op) for m, op in v2_requests(server, since) if m not in ("GET", "HEAD")
            and op not in ("OnlineDeployments_GetLogs", "OnlineEndpoints_ListKeys")]


def one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


# --- the walkthrough ------------------------------------------------------------------------------


def test_get_export_patch_model_update_changes_the_predictions(cli: Any, server: EmulatorServer, tmp_path: Path,
                                                                audit: Audit) -> None:
    before = scores(server)
    code, out, _ = cli("get", *D, "-o", "json")
    assert code == 0 and json.loads(out)["properties"]["model"] == V1
    code, out, _ = cli("export", *D, "--output-file", "blue.json")
    assert code == 0
    exported = json.loads((tmp_path / "blue.json").read_text())
    assert not {"id", "name", "type", "systemData"} & set(exported)
    assert "provisioningState" not in exported["properties"] and "principalId" not in exported.get("identity", {})
    code, out, err = cli("import", "--input-file", "blue.json", "-o", "json")
    assert code == 0, err
    code, out, err = cli("patch-model", "blue.json", "--model", "bike-rentals:2", "-o", "json")
    assert code == 0, err
    assert json.loads((tmp_path / "blue.json").read_text())["properties"]["model"] == V2
    assert json.loads(out)["modelUri"] == V2
    start = mark(server)
    code, out, err = cli("update", *D, "--service-updates", "blue.json", "--yes", "-o", "json")
    assert code == 0, err
    result = json.loads(out)
    assert result["verified"] is True and result["details"]["model"]["live"] == V2
    # GET (live), GET the model version, PUT, polls, GET -- nothing more
    seen = v2_requests(server, start)
    assert seen[:3] == [("GET", "OnlineDeployments_Get"), ("GET", "ModelVersions_Get"), ("PUT", "OnlineDeployments_CreateOrUpdate")]
    assert seen[-1] == ("GET", "OnlineDeployments_Get")
    assert seen[3:-1] and set(seen[3:-1]) == {("GET", "MfeOperationsStatus_Get")}
    assert result["requests"] == len(seen)
    after = scores(server)
    assert after != before and after == scores(server, "blue")
    assert ("update", BLUE) in [t[:2] for t in audit.told]
    code, out, _ = cli("history", BLUE, "-o", "json")
    assert code == 0 and "update" in out
    # rollback PUTs the saved definition through the same amlws_update: version 1 serves again
    code, out, err = cli("rollback", *D, "--yes", "-o", "json")
    assert code == 0, err
    assert arm(server, "GET", BLUE).json()["properties"]["model"] == V1
    assert scores(server) == before


def test_patch_model_latest_resolves_in_the_definitions_workspace(cli: Any, tmp_path: Path) -> None:
    assert cli("export", *D, "--output-file", "blue.json")[0] == 0
    code, out, err = cli("patch-model", "blue.json", "--model", "azureml:bike-rentals@latest", "-o", "json")
    assert code == 0, err
    assert json.loads((tmp_path / "blue.json").read_text())["properties"]["model"] == V2


def test_update_what_if_lists_the_requests_and_the_diff_and_sends_nothing(cli: Any, server: EmulatorServer) -> None:
    assert cli("export", *D, "--output-file", "blue.json")[0] == 0
    assert cli("patch-model", "blue.json", "--model", "bike-rentals:2")[0] == 0
    start = mark(server)
    code, out, err = cli("update", *D, "--service-updates", "blue.json", "--what-if", "-o", "json")
    assert code == 0, err
    plan = json.loads(out)
    assert [r["method"] for r in plan["requests"]] == ["GET", "GET", "PUT", "GET", "GET"]
    assert "versions/2" in plan["diff"] and "versions/1" in plan["diff"]
    assert changes(server, start) == []


# --- bad inputs of an update ------------------------------------------------------------------------


def _exported(cli: Any, tmp_path: Path, **props: Any) -> Path:
    assert cli("export", *D, "--output-file", "blue.json")[0] == 0
    path = tmp_path / "blue.json"
    doc = json.loads(path.read_text())
    doc["properties"].update(props)
    path.write_text(json.dumps(doc))
    return path


def test_a_model_version_that_does_not_exist_is_exit_3_and_nothing_is_sent(cli: Any, server: EmulatorServer, tmp_path: Path) -> None:
    _exported(cli, tmp_path, model=f"{W}/models/bike-rentals/versions/9")
    start = mark(server)
    code, _, err = cli("update", *D, "--service-updates", "blue.json", "--yes")
    assert code == 3 and "bike-rentals:9 does not exist" in one_line_error(err)
    assert changes(server, start) == []


def test_an_instance_type_change_is_exit_2_and_nothing_is_sent(cli: Any, server: EmulatorServer, tmp_path: Path) -> None:
    _exported(cli, tmp_path, instanceType="Standard_DS4_v2")
    start = mark(server)
    code, _, err = cli("update", *D, "--service-updates", "blue.json", "--yes")
    assert code == 2 and "properties.instanceType" in one_line_error(err) and "create-only" in err
    assert changes(server, start) == []


def test_a_definition_of_another_endpoints_deployment_is_exit_2(cli: Any, server: EmulatorServer, tmp_path: Path) -> None:
    code, out, _ = cli("get", *D, "-o", "json")
    doc = json.loads(out)
    doc["id"] = f"{W}/onlineEndpoints/other-ep/deployments/blue"
    (tmp_path / "other.json").write_text(json.dumps(doc))
    start = mark(server)
    code, _, err = cli("update", *D, "--service-updates", "other.json", "--yes")
    assert code == 2 and "another endpoint's deployment" in one_line_error(err)
    assert changes(server, start) == []
    # an endpoint's definition sent to a deployment
    code, out, _ = cli("export", *T, "--output-file", "ep.json")
    code, _, err = cli("update", *D, "--service-updates", "ep.json", "--yes")
    assert code == 2 and "is an online endpoint" in one_line_error(err)
    assert changes(server, start) == []


def test_studio_uri_to_v2_and_v2_ref_to_studio_are_exit_2(cli: Any, tmp_path: Path) -> None:
    assert cli("export", *D, "--output-file", "blue.json")[0] == 0
    code, _, err = cli("patch-model", "blue.json", "--model", "https://acct.blob.core.windows.net/models/m.ilearner?sv=1&sig=x")
    assert code == 2 and "Studio model location" in one_line_error(err)
    code, _, err = cli("patch-ilearner", "blue.json", "--uri", "https://acct.blob.core.windows.net/models/m.ilearner")
    assert code == 2 and "not an Azure ML model version" in one_line_error(err)
    arm_id = (f"/subscriptions/{demo.DEMO_SUBSCRIPTION}/resourceGroups/{RG}/providers/Microsoft.MachineLearning/"
              f"webServices/{demo.DEMO_ARM_PREDICTIVE}")
    assert cli("export", arm_id, "--output-file", "svc.json")[0] == 0
    code, _, err = cli("patch-model", "svc.json", "--model", "azureml:bike-rentals:2")
    assert code == 2 and one_line_error(err)


def test_an_api_version_the_service_refuses_names_the_setting(cli: Any) -> None:
    code, _, err = cli("get", *D, "--api-version", "1999-01-01")
    line = one_line_error(err)
    assert code != 0 and "1999-01-01" in line and "mlv2_api_version" in line
    assert cli("config", "set", "mlv2_api_version", "1999-01-01")[0] == 0
    code, _, err = cli("mlv2", "deployments", "list", *T)
    assert code != 0 and "mlv2_api_version" in one_line_error(err)


# --- traffic ---------------------------------------------------------------------------------------


def test_traffic_sets_and_verifies_the_split(cli: Any, server: EmulatorServer, audit: Audit) -> None:
    add_green(server)
    start = mark(server)
    code, out, err = cli("traffic", EP_ID, "blue=90", "green=10", "--what-if", "-o", "json")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["traffic"] == {"from": {"blue": 100}, "to": {"blue": 90, "green": 10}}
    assert [r["method"] for r in plan["requests"]] == ["GET", "GET", "PUT", "GET", "GET"]
    assert changes(server, start) == []
    code, out, err = cli("mlv2", "traffic", *T, "blue=90", "green=10", "--yes", "-o", "json")
    assert code == 0, err
    assert json.loads(out)["verified"] is True
    assert arm(server, "GET", EP_ID).json()["properties"]["traffic"] == {"blue": 90, "green": 10}
    assert changes(server, start) == [("PUT", "OnlineEndpoints_CreateOrUpdate")]
    assert ("traffic", EP_ID) in [t[:2] for t in audit.told]
    code, out, err = cli("traffic", EP_ID, "blue=100", "--mirror", "green=10", "--yes", "-o", "json")
    assert code == 0, err
    props = arm(server, "GET", EP_ID).json()["properties"]
    assert props["traffic"] == {"blue": 100} and props["mirrorTraffic"] == {"green": 10}


@pytest.mark.parametrize(("args", "words"), [
    (["blue=90", "green=20"], "sum to 110"),
    (["blue=90", "nope=10"], "no deployment named nope"),
    (["blue=100", "--mirror", "green=60"], "over the 50 % limit"),
    (["blue=90", "green=10", "--mirror", "green=10"], "cannot take live and mirrored"),
    (["blue=ninety"], "bad traffic share"),
])
def test_traffic_that_breaks_the_rules_is_exit_2_and_nothing_is_sent(cli: Any, server: EmulatorServer, args: list[str],
                                                                       words: str) -> None:
    add_green(server)
    start = mark(server)
    code, _, err = cli("traffic", EP_ID, *args, "--yes")
    assert code == 2 and words in one_line_error(err)
    assert changes(server, start) == []


# --- deployments, endpoints, models -----------------------------------------------------------------


def test_remove_refuses_a_deployment_with_traffic_then_removes_one_without(cli: Any, server: EmulatorServer,
                                                                            audit: Audit) -> None:
    add_green(server)
    start = mark(server)
    code, _, err = cli("mlv2", "deployments", "remove", *D, "--yes")
    assert code == 5 and "takes 100 % live traffic" in one_line_error(err)
    assert changes(server, start) == []
    code, out, err = cli("mlv2", "deployments", "remove", *T, "-d", "green", "--yes", "-o", "json")
    assert code == 0, err
    assert changes(server, start) == [("DELETE", "OnlineDeployments_Delete")]
    assert arm(server, "GET", f"{EP_ID}/deployments/green").status_code == 404
    assert ("remove", f"{EP_ID}/deployments/green") in [t[:2] for t in audit.told]


def test_models_register_takes_the_next_version_and_refuses_an_existing_one(cli: Any, server: EmulatorServer) -> None:
    uri = "azureml://datastores/workspaceblobstore/paths/models/bike-rentals/v3/"
    code, out, err = cli("mlv2", "models", "register", "-g", RG, "-w", WS, "--name", "bike-rentals", "--uri", uri, "--yes",
                         "-o", "json")
    assert code == 0, err
    assert json.loads(out)["target"] == f"{W}/models/bike-rentals/versions/3"
    assert arm(server, "GET", f"{W}/models/bike-rentals/versions/3").json()["properties"]["modelUri"] == uri
    start = mark(server)
    code, _, err = cli("mlv2", "models", "register", "-g", RG, "-w", WS, "--name", "bike-rentals", "--uri", uri,
                       "--version", "2", "--yes")
    assert code == 5 and "exists already" in one_line_error(err)
    code, _, err = cli("mlv2", "models", "register", "-g", RG, "-w", WS, "--name", "m", "--uri",
                       "https://acct.blob.core.windows.net/models/m.ilearner", "--yes")
    assert code == 2 and ".ilearner" in one_line_error(err)
    assert changes(server, start) == []


def test_lists_gets_keys_and_logs(cli: Any) -> None:
    code, out, _ = cli("mlv2", "endpoints", "list", "-g", RG, "-w", WS, "-o", "json")
    assert code == 0 and [e["name"] for e in json.loads(out)] == [EP]
    code, out, _ = cli("mlv2", "endpoints", "get", *T, "-o", "json")
    assert code == 0 and json.loads(out)["properties"]["traffic"] == {"blue": 100}
    code, out, _ = cli("mlv2", "endpoints", "keys", *T, "-o", "json")
    assert code == 0 and json.loads(out)["primaryKey"] == demo.DEMO_API_KEY
    code, out, _ = cli("mlv2", "deployments", "list", *T)
    assert code == 0 and "blue" in out and "100" in out
    code, out, _ = cli("mlv2", "deployments", "get", *D, "-o", "json")
    assert code == 0 and json.loads(out)["properties"]["model"] == V1
    code, out, _ = cli("mlv2", "deployments", "logs", *D, "--tail", "5")
    assert code == 0 and out.strip()
    code, out, _ = cli("mlv2", "models", "list", "-g", RG, "-w", WS, "-o", "json")
    assert code == 0 and json.loads(out)[0]["properties"]["latestVersion"] == "2"
    code, out, _ = cli("mlv2", "models", "get", "bike-rentals", "-g", RG, "-w", WS, "-o", "json")
    assert code == 0 and [v["name"] for v in json.loads(out)] == ["1", "2"]
    code, out, _ = cli("mlv2", "models", "get", "bike-rentals@latest", "-g", RG, "-w", WS, "-o", "json")
    assert code == 0 and json.loads(out)["id"] == V2


def test_an_endpoint_target_gets_exports_and_updates(cli: Any, server: EmulatorServer, tmp_path: Path) -> None:
    add_green(server)
    assert cli("export", *T, "--output-file", "ep.json")[0] == 0
    doc = json.loads((tmp_path / "ep.json").read_text())
    assert "scoringUri" not in doc["properties"] and "provisioningState" not in doc["properties"]
    doc["properties"]["traffic"] = {"blue": 50, "green": 50}
    (tmp_path / "ep.json").write_text(json.dumps(doc))
    code, out, err = cli("update", EP_ID, "--service-updates", "ep.json", "--yes", "-o", "json")
    assert code == 0, err
    assert json.loads(out)["verified"] is True
    assert arm(server, "GET", EP_ID).json()["properties"]["traffic"] == {"blue": 50, "green": 50}


# --- the change freeze: every change is vetoed before anything is sent -------------------------------


def test_a_change_freeze_vetoes_update_traffic_remove_and_register(cli: Any, server: EmulatorServer, tmp_path: Path,
                                                                    freeze: Freeze, audit: Audit) -> None:
    add_green(server)
    assert cli("export", *D, "--output-file", "blue.json")[0] == 0
    assert cli("patch-model", "blue.json", "--model", "bike-rentals:2")[0] == 0
    freeze.on = True
    start = mark(server)
    runs = {
        "update": ("update", *D, "--service-updates", "blue.json", "--yes"),
        "traffic": ("traffic", EP_ID, "blue=50", "green=50", "--yes"),
        "remove": ("mlv2", "deployments", "remove", *T, "-d", "green", "--yes"),
        "register": ("mlv2", "models", "register", "-g", RG, "-w", WS, "--name", "bike-rentals", "--uri",
                     "azureml://datastores/workspaceblobstore/paths/m/", "--yes"),
    }
    for action, args in runs.items():
        code, _, err = cli(*args)
        line = one_line_error(err)
        assert code == 5 and "'freeze' vetoed" in line and REASON in line, (action, err)
        assert freeze.asked[-1][0] == action
    assert changes(server, start) == []
    assert audit.told == []


# --- target options shared with the Studio backends ----------------------------------------------------


def test_v2_options_and_classic_options_both_resolve(cli: Any) -> None:
    code, out, err = cli("get", *D, "-o", "json")
    assert code == 0, err
    assert json.loads(out)["id"] == BLUE
    code, out, err = cli("get", "--workspace", demo.DEMO_WORKSPACE, "--service", demo.DEMO_PREDICTIVE_SERVICE,
                         "--endpoint", demo.DEMO_ENDPOINT, "-o", "json")
    assert code == 0, err
    assert "/webservices/" in out.lower() or demo.DEMO_ENDPOINT in out
    code, _, err = cli("get", "-d", "blue")
    assert code == 2 and "-d/--deployment needs" in one_line_error(err)


def test_plugins_lists_three_backends() -> None:
    from amlws.config import Settings
    from amlws.host import Host, get_plugin_manager

    rows = Host(get_plugin_manager(), Settings()).plugins()
    assert {r["backend"] for r in rows if r.get("backend")} == {"arm", "classic", "mlv2"}


def test_a_v2_file_without_an_export_record_is_read_by_the_v2_backend(cli: Any, tmp_path: Path) -> None:
    """The ARM backend finds fault with any document that has ``properties``: its complaint must not
    hide the backend whose format it is (a hand-written or copied file has no export record)."""
    assert cli("export", *D, "--output-file", "blue.json")[0] == 0
    (tmp_path / "copy.json").write_text((tmp_path / "blue.json").read_text())
    code, out, err = cli("import", "--input-file", "copy.json", "-o", "json")
    assert code == 0, err
    assert json.loads(out)["properties"]["endpointComputeType"] == "Managed"
    doc = json.loads((tmp_path / "blue.json").read_text())
    doc["properties"]["scaleSettings"] = {"scaleType": "Sometimes"}
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    code, _, err = cli("import", "--input-file", "bad.json", "--backend", "mlv2")
    assert code == 2 and "scaleType" in one_line_error(err)
