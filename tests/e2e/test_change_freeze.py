"""A change-freeze observer vetoes EVERY mutating command of both backends (issue 14): each command
goes through the one change path (:mod:`amlws.safety.change`), so ``amlws_before_update`` is asked
first; a veto exits 5 with one line naming the plugin, and no mutating request reaches the emulator.
And every change that is made is told to ``amlws_after_update`` observers and recorded in history."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from amlws import hookimpl
from amlws.emulator import seed as demo
from amlws.emulator.server import EmulatorServer

from .conftest import Http, arm_ws_path, client_env, in_process_cli, model_blob

RID = arm_ws_path(demo.DEMO_ARM_PREDICTIVE)
NEW_URI = "https://devstoreaccount1.blob.core.windows.net/models/new.ilearner?sv=2020-02-10&sp=r&se=2099-01-01T00%3A00%3A00Z&sig=NEWSIGNATURE0001"
REASON = "change freeze until Monday"


class Freeze:
    """A change-freeze plugin: vetoes every change while ``on``."""

    def __init__(self) -> None:
        self.on = False
        self.asked: list[tuple[str, str, str]] = []

    @hookimpl
    def amlws_before_update(self, target, definition, action):
        self.asked.append((action, target.id, definition.backend))
        return REASON if self.on else None


class Audit:
    """An observer written before ``action`` existed would omit it; this one takes it."""

    def __init__(self) -> None:
        self.told: list[tuple[str, str, bool]] = []

    @hookimpl
    def amlws_after_update(self, target, result, action):
        self.told.append((action, target.id, result.changed))


@pytest.fixture
def freeze() -> Freeze:
    return Freeze()


@pytest.fixture
def audit() -> Audit:
    return Audit()


@pytest.fixture
def env(emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    Http(emulator).control("POST", "config", {"check_models": False})  # NEW_URI is made up
    monkeypatch.chdir(tmp_path)
    return client_env(emulator, tmp_path, monkeypatch)


@pytest.fixture
def cli(env: dict[str, str], capsys: pytest.CaptureFixture[str], freeze: Freeze, audit: Audit) -> Any:
    return in_process_cli(capsys, (freeze, "freeze"), (audit, "audit"))


def endpoints(http: Http) -> str:
    return f"{http.url}/workspaces/{demo.DEMO_WORKSPACE}/webservices/{demo.DEMO_PREDICTIVE_SERVICE}/endpoints"


def mutating(http: Http) -> list[tuple[str, str]]:
    """Requests that change a web service (BES jobs of a retrain are not one)."""
    return [(r["method"], r["path"]) for r in http.control("GET", "requests")["requests"]
            if r["method"] not in ("GET", "HEAD") and r["api"] != "bes"]


def assert_vetoed(cli: Any, http: Http, freeze: Freeze, *args: str, what: str, target: str, action: str) -> None:
    http.control("DELETE", "requests")
    freeze.on = True
    code, out, err = cli(*args, "--yes")
    assert code == 5, err
    assert err.splitlines()[-1] == (f"error: plugin 'freeze' vetoed {what} of {target}: {REASON} "
                                    "(fix: resolve what the plugin reports, or set AMLWS_DISABLE_PLUGINS=freeze)"), err
    assert out == ""
    assert freeze.asked[-1][:2] == (action, target)
    assert mutating(http) == []


def exported_and_patched(cli: Any, target: str, tmp_path: Path) -> Path:
    f = tmp_path / "svc.json"
    assert cli("export", target, "-f", str(f))[0] == 0
    assert cli("patch-ilearner", str(f), "--uri", NEW_URI)[0] == 0
    return f


def updated(cli: Any, target: str, tmp_path: Path) -> None:
    f = exported_and_patched(cli, target, tmp_path)
    code, _, err = cli("update", target, "--service-updates", str(f), "--yes")
    assert code == 0, err


# --- ARM ---------------------------------------------------------------------------------------------


def test_freeze_vetoes_arm_update(cli, http, freeze, tmp_path):
    f = exported_and_patched(cli, RID, tmp_path)
    assert_vetoed(cli, http, freeze, "update", RID, "--service-updates", str(f), what="the update", target=RID, action="update")
    assert freeze.asked[-1][2] == "arm"


def test_freeze_vetoes_arm_rollback(cli, http, freeze, tmp_path):
    updated(cli, RID, tmp_path)
    assert_vetoed(cli, http, freeze, "rollback", RID, what="the update", target=RID, action="rollback")


def test_freeze_vetoes_arm_new_force(cli, http, freeze, tmp_path):
    f = tmp_path / "svc.json"
    assert cli("export", RID, "-f", str(f))[0] == 0
    assert_vetoed(cli, http, freeze, "new", RID, "--definition-file", str(f), "--force", what="the creation", target=RID, action="new")


def test_freeze_vetoes_arm_remove(cli, http, freeze):
    assert_vetoed(cli, http, freeze, "remove", RID, what="the removal", target=RID, action="remove")
    # observers are shown what is about to go: the live web service
    assert freeze.asked[-1][2] == "arm"


def test_freeze_vetoes_arm_add_region(cli, http, freeze):
    assert_vetoed(cli, http, freeze, "add-region", RID, "--region", "West Europe", what="the new regional properties",
                  target=RID, action="add-region")


def test_freeze_vetoes_a_fleet_run_row(cli, http, freeze, tmp_path):
    manifest = tmp_path / "fleet.csv"
    manifest.write_text(f"key,target,model\nr1,{RID},{NEW_URI}\n", encoding="utf-8")
    http.control("DELETE", "requests")
    freeze.on = True
    code, out, err = cli("fleet", "run", str(manifest), "--yes", "-o", "json")
    assert code == 5, err
    assert f"plugin 'freeze' vetoed the update of {RID}: {REASON}" in out + err
    assert freeze.asked[-1][:2] == ("fleet", RID)
    assert mutating(http) == []


# --- classic -------------------------------------------------------------------------------------------


def test_freeze_vetoes_classic_update(cli, http, freeze, tmp_path):
    ep = f"{endpoints(http)}/{demo.DEMO_ENDPOINT}"
    f = exported_and_patched(cli, ep, tmp_path)
    assert_vetoed(cli, http, freeze, "update", ep, "--service-updates", str(f), what="the update", target=ep, action="update")
    assert freeze.asked[-1][2] == "classic"


def test_freeze_vetoes_classic_rollback(cli, http, freeze, tmp_path):
    ep = f"{endpoints(http)}/{demo.DEMO_ENDPOINT}"
    updated(cli, ep, tmp_path)
    assert_vetoed(cli, http, freeze, "rollback", ep, what="the update", target=ep, action="rollback")


def test_freeze_vetoes_classic_services_remove(cli, http, freeze):
    svc = endpoints(http).rsplit("/endpoints", 1)[0]
    assert_vetoed(cli, http, freeze, "classic", "services", "remove", svc, what="the removal", target=svc, action="remove")


def test_freeze_vetoes_classic_endpoints_add(cli, http, freeze):
    ep = f"{endpoints(http)}/added01"
    assert_vetoed(cli, http, freeze, "classic", "endpoints", "add", ep, what="the creation", target=ep, action="endpoint-add")


def test_freeze_vetoes_classic_endpoints_remove(cli, http, freeze):
    ep = f"{endpoints(http)}/{demo.DEMO_ENDPOINT}"
    assert_vetoed(cli, http, freeze, "classic", "endpoints", "remove", ep, what="the removal", target=ep, action="endpoint-remove")


def test_freeze_vetoes_classic_endpoints_refresh(cli, http, freeze):
    ep = f"{endpoints(http)}/{demo.DEMO_ENDPOINT}"
    assert_vetoed(cli, http, freeze, "classic", "endpoints", "refresh", ep, what="the refresh", target=ep, action="endpoint-refresh")


# --- retrain: the deploy step ------------------------------------------------------------------------------


def test_freeze_vetoes_the_deploy_step_of_retrain(emulator_storage, azurite, tmp_path, monkeypatch, capsys):
    http = Http(emulator_storage)
    client_env(emulator_storage, tmp_path, monkeypatch)
    monkeypatch.setenv("AMLWS_STORAGE_CONNECTION_STRING", azurite.connection_string)
    monkeypatch.chdir(tmp_path)
    freeze = Freeze()
    cli = in_process_cli(capsys, (freeze, "freeze"))
    model_blob(azurite, "freeze", "seed.ilearner", {"temperature": 1.0}, 0.0)  # the container exists
    train = http.get(f"/workspaces/{demo.DEMO_WORKSPACE}/webservices/{demo.DEMO_TRAINING_SERVICE}/endpoints/default",
                     headers={"Authorization": f"Bearer {demo.DEMO_WORKSPACE_TOKEN}"}).json()["ApiLocation"]
    data = tmp_path / "train.csv"
    data.write_text("temperature,humidity,rentals\n" + "".join(f"{t},{h},{50 + 10 * t - h}\n" for t in range(0, 30, 3) for h in (30, 60)))
    ep = f"{endpoints(http)}/{demo.DEMO_ENDPOINT}"
    assert_vetoed(cli, http, freeze, "retrain", "--data", str(data), "--training-service", train + "/jobs", "--target", ep,
                  "--poll-interval", "0.1", what="the update", target=ep, action="retrain")
    assert http.counts().get("Jobs_Start") == 1  # it trained; only the deploy was vetoed


# --- observers are told; history records every change ------------------------------------------------------


def test_every_change_is_told_to_observers_and_recorded(cli, http, audit, tmp_path):
    ep = endpoints(http)
    added = f"{ep}/added01"
    svc = ep.rsplit("/endpoints", 1)[0]
    f = tmp_path / "svc.json"
    for args in (
        ("classic", "endpoints", "add", added),
        ("classic", "endpoints", "refresh", added),
        ("classic", "endpoints", "remove", added),
        ("add-region", RID, "--region", "West Europe"),
        ("export", RID, "-f", str(f)),
        ("new", RID, "--definition-file", str(f), "--force"),
        ("remove", RID),
        ("classic", "services", "remove", svc),
    ):
        code, _, err = cli(*args, "--yes")
        assert code == 0, (args, err)
    assert audit.told == [
        ("endpoint-add", added, True),
        ("endpoint-refresh", added, False),  # 304: nothing changed, and no revision either
        ("endpoint-remove", added, True),
        ("add-region", RID, True),
        ("new", RID, True),
        ("remove", RID, True),
        ("remove", svc, True),
    ]
    code, out, _ = cli("history", RID, "-o", "json")
    assert [(r["action"], r["status"]) for r in json.loads(out)] == [("add-region", "applied"), ("new", "applied"),
                                                                      ("remove", "applied")]
    code, out, _ = cli("history", added, "-o", "json")
    assert [(r["action"], r["status"]) for r in json.loads(out)] == [("endpoint-add", "applied"), ("endpoint-remove", "applied")]


def test_freeze_vetoes_the_creation_of_a_fleet_rows_missing_endpoint(cli, http, freeze, tmp_path):
    """A ``create`` row's missing endpoint is created through the change path (action ``new``)."""
    ep = f"{endpoints(http)}/fleet01"
    manifest = tmp_path / "fleet.csv"
    manifest.write_text(f"key,target,model,create\nr1,{ep},{NEW_URI},true\n", encoding="utf-8")
    http.control("DELETE", "requests")
    freeze.on = True
    code, out, err = cli("fleet", "run", str(manifest), "--yes", "-o", "json")
    assert code == 5, err
    assert f"plugin 'freeze' vetoed the creation of {ep}: {REASON}" in out + err
    assert freeze.asked[-1][:2] == ("new", ep)
    assert mutating(http) == []


def test_a_fleet_rows_created_endpoint_is_recorded_and_told(cli, http, audit, tmp_path):
    ep = f"{endpoints(http)}/fleet02"
    manifest = tmp_path / "fleet.csv"
    manifest.write_text(f"key,target,model,create\nr1,{ep},{NEW_URI},true\n", encoding="utf-8")
    code, out, err = cli("fleet", "run", str(manifest), "--yes", "-o", "json")
    assert code == 0, err
    assert ("new", ep, True) in audit.told
    code, out, _ = cli("history", ep, "-o", "json")
    assert code == 0
    assert sorted(e["action"] for e in json.loads(out)) == ["fleet", "new"]
