"""``amlws rollout`` and ``amlws rollback ENDPOINT`` end to end on the emulator's seeded v2 workspace:
endpoint ``bike-rentals-ep`` whose deployment ``blue`` serves ``bike-rentals`` version 1 at 100 %;
version 2 predicts differently. Asserted on the wire (the emulator's request log and state), the
CLI's answer and the local history."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from amlws import hookimpl
from amlws.emulator import seed as demo
from amlws.emulator.server import EmulatorServer

from ..e2e.conftest import client_env, in_process_cli

WS = (f"/subscriptions/{demo.DEMO_SUBSCRIPTION}/resourceGroups/{demo.DEMO_RESOURCE_GROUP}"
      f"/providers/Microsoft.MachineLearningServices/workspaces/{demo.DEMO_MLV2_WORKSPACE}")
EP = f"{WS}/onlineEndpoints/{demo.DEMO_MLV2_ENDPOINT}"
API = {"api-version": "2025-12-01"}
ROWS = "temperature,humidity\n20,50\n5,80\n30,10\n"


class V2:
    """The emulator, the CLI in-process (arm, classic, mlv2 and the given observers: tests/e2e's in_process_cli) and helpers."""

    def __init__(self, server: EmulatorServer, tmp_path: Path, capsys: Any, observers: list[Any]) -> None:
        self.server = server
        self.tmp = tmp_path
        self.capsys = capsys
        self.observers = observers
        self.session = requests.Session()
        self.session.trust_env = False
        self.rows = tmp_path / "rows.csv"
        self.rows.write_text(ROWS, encoding="utf-8")
        import amlws.plugins.mlv2

        self._run = in_process_cli(capsys, (amlws.plugins.mlv2, "mlv2"), *((o, f"observer{i}") for i, o in enumerate(observers)))

    def run(self, *args: str) -> tuple[int, str, str]:
        return self._run(*args)

    def arm(self, method: str, path: str, **kw: Any) -> requests.Response:
        return self.session.request(method, self.server.url + path, params=API, verify=str(self.server.ca_path),
                                    headers={"Authorization": f"Bearer {demo.DEMO_ARM_TOKEN}"}, timeout=30, **kw)

    def endpoint(self) -> dict[str, Any]:
        return self.arm("GET", EP).json()

    def traffic(self) -> dict[str, int]:
        return {k: v for k, v in (self.endpoint()["properties"].get("traffic") or {}).items() if v}

    def deployments(self) -> set[str]:
        return {d["name"] for d in self.arm("GET", EP + "/deployments").json()["value"]}

    def control(self, method: str, what: str, body: Any = None) -> Any:
        r = self.session.request(method, f"{self.server.url}/_emulator/{what}", json=body, verify=str(self.server.ca_path), timeout=30)
        assert r.status_code < 300, r.text
        return r.json() if r.content else None

    def requests_log(self) -> list[dict[str, Any]]:
        return self.control("GET", "requests")["requests"]

    def ops(self) -> Counter[str]:
        return Counter(r["operation"] for r in self.requests_log())

    def predictions(self, *extra: str) -> tuple[str, list[float]]:
        code, out, err = self.run("invoke", EP, "--input-file", str(self.rows), "-o", "json", *extra)
        assert code == 0, err
        data = json.loads(out)
        return data["deployment"], data["predictions"]

    def history(self, target: str) -> list[dict[str, Any]]:
        code, out, err = self.run("history", target, "-o", "json")
        if code == 3:
            return []
        assert code == 0, err
        return json.loads(out)


@pytest.fixture
def observers() -> list[Any]:
    return []


@pytest.fixture
def v2(tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch, observers: list[Any]) -> Iterator[V2]:
    # These tests poll the emulator in tight loops (and some make time.sleep a no-op): ARM's read bucket
    # (250, +25/s) would answer them 429. Throttling has its own tests (tests/e2e/test_emulator_throttling.py).
    settings = {"arm_throttling": {"reads": {"capacity": 1_000_000, "refill": 1_000_000}}}
    with EmulatorServer(seed="demo", cert_dir=tmp_path / "certs", settings=settings) as server:
        client_env(server, tmp_path, monkeypatch)
        yield V2(server, tmp_path, capsys, observers)


def version_of(deployment: dict[str, Any]) -> str:
    return deployment["properties"]["model"].rsplit("/versions/", 1)[1]


# --- a rollout -----------------------------------------------------------------------------------


def test_rollout_shifts_traffic_step_by_step_predictions_change_and_history_has_one_entry(v2: V2):
    served, before = v2.predictions()
    assert served == "blue"
    v2.control("DELETE", "requests")

    code, out, err = v2.run("rollout", EP, "--model", "bike-rentals:2", "--smoke-file", str(v2.rows), "--yes", "-o", "json")
    assert code == 0, err
    data = json.loads(out)
    assert (data["from"], data["to"], data["removed"]) == ("blue", "green", "blue")
    assert [s["traffic"] for s in data["steps"]] == [{"blue": 90, "green": 10}, {"blue": 50, "green": 50}, {"green": 100}]
    assert data["model"] == f"{WS}/models/bike-rentals/versions/2"

    # the wire: one create, three traffic PUTs each after a read, smoke scoring, the old deployment deleted last
    log = [(r["operation"], r["method"]) for r in v2.requests_log() if r["operation"] != "MfeOperationsStatus_Get"]
    writes = [op for op, method in log if method in ("PUT", "DELETE")]
    assert writes == ["OnlineDeployments_CreateOrUpdate"] + ["OnlineEndpoints_CreateOrUpdate"] * 3 + ["OnlineDeployments_Delete"]
    for i, (op, _method) in enumerate(log):
        if op == "OnlineEndpoints_CreateOrUpdate":
            assert log[i - 1] == ("OnlineEndpoints_Get", "GET"), log  # the split is read just before each PUT
    assert v2.ops()["OnlineEndpoints_Score"] == 4  # the new deployment directly, then once per step

    assert v2.traffic() == {"green": 100}
    assert v2.deployments() == {"green"}
    green = v2.arm("GET", EP + "/deployments/green").json()
    assert version_of(green) == "2" and green["properties"]["provisioningState"] == "Succeeded"
    served, after = v2.predictions()
    assert served == "green" and after != before

    entries = v2.history(EP)
    assert [e["action"] for e in entries] == ["rollout"]  # the whole rollout: one entry of the endpoint
    saved = v2.run("history", EP, "--revision", str(entries[0]["revision"]), "-o", "json")
    assert json.loads(saved[1])["definition"]["properties"]["traffic"] == {"blue": 100}
    assert [e["action"] for e in v2.history(EP + "/deployments/blue")] == ["remove"]


def test_keep_old_keeps_the_old_deployment_at_zero(v2: V2):
    code, out, err = v2.run("rollout", EP, "--model", "bike-rentals:2", "--steps", "50,100", "--keep-old", "--yes", "-o", "json")
    assert code == 0, err
    assert json.loads(out)["removed"] is None
    assert v2.deployments() == {"blue", "green"}
    assert v2.traffic() == {"green": 100}
    assert v2.ops()["OnlineDeployments_Delete"] == 0
    assert v2.predictions("--deployment", "blue")[0] == "blue"  # still serving, by the header


def test_what_if_prints_the_plan_and_sends_nothing(v2: V2):
    v2.control("DELETE", "requests")
    code, out, err = v2.run("rollout", EP, "--model", "bike-rentals:2", "--what-if", "-o", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["whatIf"] is True and data["to"] == "green"
    assert [r["method"] for r in data["requests"]] == ["PUT", "GET", "PUT", "GET", "PUT", "GET", "PUT", "DELETE"]
    assert data["requests"][0]["body"]["properties"]["model"].endswith("/models/bike-rentals/versions/2")
    assert [s["percent"] for s in data["steps"]] == [10, 50, 100]
    assert not [r for r in v2.requests_log() if r["method"] in ("PUT", "DELETE", "PATCH")]
    assert v2.history(EP) == []


def test_a_name_that_exists_is_refused_before_anything_is_sent(v2: V2):
    v2.control("DELETE", "requests")
    code, _, err = v2.run("rollout", EP, "--model", "bike-rentals:2", "--to", "blue", "--yes")
    assert code == 5
    assert "deployment blue exists already" in err
    assert not [r for r in v2.requests_log() if r["method"] in ("PUT", "DELETE")]


def test_a_model_version_that_does_not_exist_is_exit_3(v2: V2):
    code, _, err = v2.run("rollout", EP, "--model", "bike-rentals:9", "--yes")
    assert code == 3, err
    assert v2.ops()["OnlineDeployments_CreateOrUpdate"] == 0


def test_bad_steps_are_a_usage_error(v2: V2):
    code, _, err = v2.run("rollout", EP, "--model", "bike-rentals:2", "--steps", "50,20", "--yes")
    assert code == 2 and "--steps" in err


# --- failures --------------------------------------------------------------------------------------


def test_a_failed_smoke_step_restores_the_split_and_exits_5(v2: V2):
    # green's first answer (the direct smoke test) passes; the next one it serves fails
    v2.control("POST", "faults", {"kind": "scoring_failure", "endpoint": demo.DEMO_MLV2_ENDPOINT, "deployment": "green", "after": 1})
    code, _, err = v2.run("rollout", EP, "--model", "bike-rentals:2", "--steps", "50,100", "--smoke-file", str(v2.rows), "--yes")
    assert code == 5, err
    assert "smoke test at" in err and "traffic restored to blue=100" in err
    assert v2.traffic() == {"blue": 100}
    assert v2.deployments() == {"blue", "green"}  # nothing deleted; green stays for inspection
    assert v2.ops()["OnlineEndpoints_CreateOrUpdate"] >= 2  # a shift, then the restore
    entries = v2.history(EP)
    assert [(e["action"], e["status"]) for e in entries] == [("rollout", "failed")]


def test_a_failed_create_leaves_traffic_as_it_was_exit_1(v2: V2):
    v2.control("POST", "faults", {"kind": "lro_failure", "api": "mlv2", "operation": "OnlineDeployments_CreateOrUpdate",
                                  "deployment": "green", "code": "ResourceNotReady", "message": "the image failed to build"})
    code, _, err = v2.run("rollout", EP, "--model", "bike-rentals:2", "--yes")
    assert code == 1, err
    assert "image failed to build" in err
    assert v2.traffic() == {"blue": 100}
    assert v2.ops()["OnlineEndpoints_CreateOrUpdate"] == 0
    assert "blue" in v2.deployments()


def test_a_concurrent_traffic_change_stops_the_rollout_naming_it(v2: V2, monkeypatch: pytest.MonkeyPatch):
    """Someone else sets blue=70 green=30 during the pause after the first step: the rollout reads the
    split before its next PUT, stops with exit 5 naming both splits, and overwrites nothing."""
    import time

    def someone_else(seconds: float) -> None:
        body = v2.endpoint()
        body["properties"]["traffic"] = {"blue": 70, "green": 30}
        for key in ("scoringUri", "swaggerUri", "provisioningState"):
            body["properties"].pop(key, None)
        r = v2.arm("PUT", EP, json={k: v for k, v in body.items() if k not in ("id", "name", "type", "systemData")})
        assert r.status_code in (200, 201), r.text
        while v2.endpoint()["properties"]["provisioningState"] not in ("Succeeded", "Failed"):
            pass

    monkeypatch.setattr(time, "sleep", lambda s: someone_else(s) if s == 7 else None)
    code, _, err = v2.run("rollout", EP, "--model", "bike-rentals:2", "--steps", "10,100", "--pause", "7", "--yes")
    assert code == 5, err
    assert "changed during the rollout" in err and "blue=90 green=10" in err and "blue=70 green=30" in err
    assert v2.traffic() == {"blue": 70, "green": 30}  # not overwritten
    assert v2.deployments() == {"blue", "green"}


class Freeze:
    @hookimpl
    def amlws_before_update(self, target, definition, action):
        return f"change freeze ({action})"


@pytest.mark.parametrize("observers", [[Freeze()]])
def test_a_change_freeze_vetoes_the_rollout_nothing_sent(v2: V2):
    v2.control("DELETE", "requests")
    code, _, err = v2.run("rollout", EP, "--model", "bike-rentals:2", "--yes")
    assert code == 5
    assert "vetoed the rollout of" in err and "change freeze (rollout)" in err
    assert not [r for r in v2.requests_log() if r["method"] in ("PUT", "DELETE")]


# --- rollback ------------------------------------------------------------------------------------


def test_rollback_after_a_rollout_recreates_the_deleted_deployment_and_restores_the_split(v2: V2):
    _, before = v2.predictions()
    assert v2.run("rollout", EP, "--model", "bike-rentals:2", "--yes")[0] == 0
    assert v2.deployments() == {"green"}
    v2.control("DELETE", "requests")

    code, out, err = v2.run("rollback", EP, "--yes", "-o", "json")
    assert code == 0, err
    writes = [r["operation"] for r in v2.requests_log() if r["method"] in ("PUT", "DELETE")]
    assert writes == ["OnlineDeployments_CreateOrUpdate", "OnlineEndpoints_CreateOrUpdate"]  # re-create, then one PUT
    assert v2.deployments() == {"blue", "green"}
    assert version_of(v2.arm("GET", EP + "/deployments/blue").json()) == "1"
    assert v2.traffic() == {"blue": 100}
    served, after = v2.predictions()
    assert served == "blue" and after == before
    assert [e["action"] for e in v2.history(EP)] == ["rollout", "rollback"]


# --- the plan's pure parts ---------------------------------------------------------------------------


def test_steps_move_the_old_share_and_leave_the_others():
    from amlws.plugins.mlv2.rollout import splits_for

    assert splits_for({"blue": 80, "red": 20}, "blue", "green", [25, 100]) == [
        {"blue": 60, "red": 20, "green": 20}, {"red": 20, "green": 80}]


@pytest.mark.parametrize(("source", "version", "name"), [("blue", "2", "green"), ("Green", "7", "blue"), ("main", "7", "main-7")])
def test_default_name_alternates_blue_and_green(source: str, version: str, name: str):
    from amlws.plugins.mlv2.rollout import default_name

    assert default_name(source, version) == name


@pytest.mark.parametrize("text", ["0,100", "50,10,100", "10,50", "abc", "10,10,100", "150"])
def test_steps_must_increase_to_100(text: str):
    from amlws.errors import UsageError
    from amlws.plugins.mlv2.rollout import parse_steps

    with pytest.raises(UsageError):
        parse_steps(text)
    assert parse_steps(None) == [10, 50, 100] and parse_steps("100") == [100]


def test_saved_definition_is_what_a_target_was_before_its_last_change(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """What the endpoint's rollback asks history through the change path (backends never read history)."""
    from amlws.safety.change import saved_definition
    from amlws.safety.history import History

    monkeypatch.setenv("AMLWS_STATE_DIR", str(tmp_path))
    assert saved_definition(EP + "/deployments/blue") is None
    History().record(EP + "/deployments/blue", "mlv2", {"properties": {"model": "v1"}}, action="remove")
    assert saved_definition(EP + "/deployments/blue", action="remove") == {"properties": {"model": "v1"}}
    History().record(EP + "/deployments/blue", "mlv2", {"properties": {"model": "v3"}}, action="update")
    assert saved_definition(EP + "/deployments/blue") == {"properties": {"model": "v3"}}
    assert saved_definition(EP + "/deployments/blue", action="remove") is None  # not removed by its last change
