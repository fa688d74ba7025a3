"""History, diff, rollback, the changed-since-export check and confirmation, through the CLI
against the emulator (ARM and classic), asserting the emulator's state and request log."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from amlws.emulator import seed as demo
from amlws.emulator.server import EmulatorServer

from .conftest import Http, arm_ws_path, client_env, in_process_cli

RID = arm_ws_path(demo.DEMO_ARM_PREDICTIVE)
NEW_URI = "https://devstoreaccount1.blob.core.windows.net/models/new.ilearner?sv=2020-02-10&sp=r&se=2099-01-01T00%3A00%3A00Z&sig=NEWSIGNATURE0001"
OTHER_URI = "https://devstoreaccount1.blob.core.windows.net/models/other.ilearner"


def model_uri(doc: dict[str, Any]) -> str:
    for asset in doc["properties"]["assets"].values():
        if asset.get("type") == "Resource" and "trained model" in asset.get("name", ""):
            return asset["locationInfo"]["uri"]
    raise AssertionError("no trained model asset")


@pytest.fixture
def env(emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    Http(emulator).control("POST", "config", {"check_models": False})  # NEW_URI and OTHER_URI are made up
    return client_env(emulator, tmp_path, monkeypatch)


@pytest.fixture
def cli(env: dict[str, str], capsys: pytest.CaptureFixture[str]):
    """Run the CLI in-process with exactly the arm and classic plugins (STYLE.md principle 10)."""
    return in_process_cli(capsys)


def live(http: Http) -> dict[str, Any]:
    r = http.get(RID, params={"api-version": "2017-01-01"}, headers={"Authorization": f"Bearer {demo.DEMO_ARM_TOKEN}"})
    assert r.status_code == 200, r.text
    return r.json()


def test_update_records_history_then_diff_and_rollback_restore(cli, http, tmp_path):
    before = model_uri(live(http))
    f = tmp_path / "svc.json"
    assert cli("export", RID, "-f", str(f))[0] == 0
    assert cli("patch-ilearner", str(f), "--uri", NEW_URI)[0] == 0
    http.control("DELETE", "requests")
    code, out, err = cli("update", RID, "--service-updates", str(f), "--yes", "-o", "json")
    assert code == 0, err
    ops = [r["operation"] for r in http.control("GET", "requests")["requests"]]
    # one read before the change (history + concurrency check), PATCH, poll(s), the final read: no second GET
    assert ops[0] == "WebServices_Get" and ops[1] == "WebServices_Patch" and ops.count("WebServices_Get") == 2, ops
    assert model_uri(live(http)).split("?")[0] == NEW_URI.split("?")[0]

    code, out, _ = cli("history", RID, "-o", "json")
    rows = json.loads(out)
    assert [(r["revision"], r["action"], r["status"]) for r in rows] == [(1, "update", "applied")]
    (model,) = rows[0]["models"]  # the model revision 1's definition pointed at (the ARM asset), without SAS
    assert model["uri"] == before.split("?")[0] and model["name"].endswith("[trained model]")
    code, out, _ = cli("history", "-o", "json")  # every target with history
    assert [(r["target"], r["backend"], r["revisions"], r["lastAction"]) for r in json.loads(out)] == [(RID, "arm", 1, "update")]
    code, out, _ = cli("history", RID, "--revision", "1", "-o", "json")
    entry = json.loads(out)
    assert model_uri(entry["definition"]) == before
    assert entry["request"][1]["method"] == "PATCH"
    assert "NEWSIGNATURE0001" not in out and "sig=***" in out  # the planned request, redacted

    code, out, _ = cli("diff", RID, "--revision", "1", "-o", "json")
    d = json.loads(out)
    assert d["changed"] and f"-          \"uri\": \"{NEW_URI.split('?')[0]}" in d["diff"] and "modifiedOn" not in d["diff"] and "NEWSIGNATURE0001" not in d["diff"]
    code, out, _ = cli("diff", RID, "--file", str(f), "-o", "json")
    assert json.loads(out)["changed"] is False, out

    http.control("DELETE", "requests")
    code, out, _ = cli("rollback", RID, "--what-if", "-o", "json")
    assert code == 0 and json.loads(out)["whatIf"] is True
    assert [r["operation"] for r in http.control("GET", "requests")["requests"]] == ["WebServices_Get"]
    assert model_uri(live(http)).split("?")[0] == NEW_URI.split("?")[0]

    code, out, err = cli("rollback", RID, "--yes", "-o", "json")
    assert code == 0, err
    assert json.loads(out)["rolledBack"] is True
    assert model_uri(live(http)) == before
    rows = json.loads(cli("history", RID, "-o", "json")[1])
    assert [(r["revision"], r["action"], r["status"]) for r in rows] == [(1, "update", "applied"), (2, "rollback", "applied")]
    # nothing to do: revision 1 is what the service has now
    http.control("DELETE", "requests")
    code, out, err = cli("rollback", RID, "--yes", "--to", "1", "-o", "json")
    assert code == 0 and json.loads(out)["rolledBack"] is False
    assert [r["operation"] for r in http.control("GET", "requests")["requests"]] == ["WebServices_Get"]
    # rolling back again undoes the rollback (revision 2 holds the patched definition, its SAS masked)
    code, out, err = cli("rollback", RID, "--yes")
    assert code == 2 and "SAS signature" in err and "--sas-token" in err
    code, out, err = cli("rollback", RID, "--yes", "--sas-token", "sv=2020-02-10&sp=r&sig=AGAINSIG")
    assert code == 0, err
    assert model_uri(live(http)) == NEW_URI.split("?")[0] + "?sv=2020-02-10&sp=r&sig=AGAINSIG"


def test_history_files_hold_no_secrets(cli, http, tmp_path, env):
    f = tmp_path / "svc.json"
    cli("export", RID, "-f", str(f))
    cli("patch-ilearner", str(f), "--uri", NEW_URI)
    assert cli("update", RID, "--service-updates", str(f), "--yes")[0] == 0
    texts = [p.read_text() for p in Path(env["AMLWS_STATE_DIR"]).rglob("*.json")]
    assert texts
    for secret in ("NEWSIGNATURE0001", demo.DEMO_ARM_TOKEN, demo.DEMO_API_KEY):
        assert not any(secret in t for t in texts)


def test_update_refuses_when_the_service_changed_since_export(cli, http, tmp_path):
    f = tmp_path / "svc.json"
    assert cli("export", RID, "-f", str(f))[0] == 0
    assert cli("patch-ilearner", str(f), "--uri", NEW_URI)[0] == 0
    # someone else changes the service meanwhile
    other = tmp_path / "other.json"
    cli("export", RID, "-f", str(other))
    cli("patch-ilearner", str(other), "--uri", OTHER_URI)
    assert cli("update", RID, "--service-updates", str(other), "--yes")[0] == 0
    # ... but our export record is now the other one's: simulate the first admin on another machine
    from amlws.safety.history import record_export

    record_export(RID, json.loads(json.dumps({"x": 1})) and "0" * 64)
    http.control("DELETE", "requests")
    code, out, err = cli("update", RID, "--service-updates", str(f), "--what-if", "-o", "json")
    assert code == 0 and "changed since it was exported" in json.loads(out)["conflict"]
    http.control("DELETE", "requests")
    code, out, err = cli("update", RID, "--service-updates", str(f), "--yes")
    assert code == 5 and "changed since it was exported" in err and "--force" in err
    assert [r["operation"] for r in http.control("GET", "requests")["requests"]] == ["WebServices_Get"]
    assert model_uri(live(http)) == OTHER_URI
    code, out, err = cli("update", RID, "--service-updates", str(f), "--yes", "--force")
    assert code == 0, err
    assert model_uri(live(http)).split("?")[0] == NEW_URI.split("?")[0]


def test_own_update_refreshes_the_export_record(cli, http, tmp_path):
    f = tmp_path / "svc.json"
    cli("export", RID, "-f", str(f))
    cli("patch-ilearner", str(f), "--uri", NEW_URI)
    assert cli("update", RID, "--service-updates", str(f), "--yes")[0] == 0
    cli("patch-ilearner", str(f), "--uri", OTHER_URI)
    code, _, err = cli("update", RID, "--service-updates", str(f), "--yes")
    assert code == 0, err


def test_mutating_commands_refuse_without_yes_when_stdin_is_not_a_tty(cli, http, tmp_path):
    f = tmp_path / "svc.json"
    cli("export", RID, "-f", str(f))
    http.control("DELETE", "requests")
    ep = f"{http.url}/workspaces/{demo.DEMO_WORKSPACE}/webservices/{demo.DEMO_PREDICTIVE_SERVICE}/endpoints"
    for args in (
        ["update", RID, "--service-updates", str(f)],
        ["remove", RID],
        ["new", RID.replace(demo.DEMO_ARM_PREDICTIVE, "fresh"), "--definition-file", str(f)],
        ["add-region", RID, "--region", "West Europe"],
        ["rollback", RID],
        ["classic", "endpoints", "add", ep + "/added1"],
        ["classic", "endpoints", "remove", f"{ep}/{demo.DEMO_ENDPOINT}"],
        ["classic", "endpoints", "refresh", f"{ep}/{demo.DEMO_ENDPOINT}"],
        ["classic", "services", "remove", f"{http.url}/workspaces/{demo.DEMO_WORKSPACE}/webservices/{demo.DEMO_PREDICTIVE_SERVICE}"],
    ):
        code, out, err = cli(*args)
        assert code in (2, 3), (args, code, err)  # rollback without history: 3
        assert "confirmation needed but stdin is not a terminal" in err or "no history" in err, (args, err)
        assert out == ""
    writes = [r for r in http.control("GET", "requests")["requests"] if r["method"] not in ("GET",)]
    assert writes == []


def _amlws(args: list[str], env: dict[str, str], **kw: Any) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "from amlws.cli.application import main; main()", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_kill_9_mid_lro_then_rollback_restores_the_previous_state(cert_dir, tmp_path):
    with EmulatorServer(seed="demo", cert_dir=cert_dir,
                        settings={"transitions": {"arm_lro": {"mode": "time", "seconds": 1.5}}, "check_models": False}) as server:
        http = Http(server)
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("AMLWS_")}, **server.env(),
               "AMLWS_STATE_DIR": str(tmp_path / "state"), "AMLWS_CONFIG_DIR": str(tmp_path / "config"),
               "AMLWS_POLL_INTERVAL": "0.05"}
        before = model_uri(live(http))
        f = tmp_path / "svc.json"
        for args in (["export", RID, "-f", str(f)], ["patch-ilearner", str(f), "--uri", NEW_URI]):
            done = subprocess.run([sys.executable, "-c", "from amlws.cli.application import main; main()", *args], env=env,
                                  capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr
        http.control("DELETE", "requests")
        proc = _amlws(["update", RID, "--service-updates", str(f), "--yes"], env)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # wait until the PATCH is accepted and the CLI is polling
                ops = [r["operation"] for r in http.control("GET", "requests")["requests"]]
                if "WebServices_Patch" in ops:
                    break
                time.sleep(0.02)
            else:
                raise AssertionError("the CLI never sent its PATCH")
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == -signal.SIGKILL
        # the emulator finishes the operation by itself: the service now has the new model
        deadline = time.monotonic() + 10
        while live(http)["properties"]["provisioningState"] != "Succeeded" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert model_uri(live(http)).split("?")[0] == NEW_URI.split("?")[0]
        rows = json.loads(subprocess.run([sys.executable, "-c", "from amlws.cli.application import main; main()", "history", RID, "-o", "json"],
                                         env=env, capture_output=True, text=True, timeout=60).stdout)
        assert [(r["revision"], r["status"]) for r in rows] == [(1, "unknown (no outcome recorded)")]
        done = subprocess.run([sys.executable, "-c", "from amlws.cli.application import main; main()", "rollback", RID, "--yes", "-o", "json"],
                              env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert model_uri(live(http)) == before
        assert live(http)["properties"]["provisioningState"] == "Succeeded"


def test_what_if_on_every_mutating_command_changes_nothing(cli, http, emulator, tmp_path, env):
    f = tmp_path / "svc.json"
    assert cli("export", RID, "-f", str(f))[0] == 0
    assert cli("patch-ilearner", str(f), "--uri", NEW_URI, "-f", str(tmp_path / "patched.json"))[0] == 0
    assert cli("update", RID, "--service-updates", str(tmp_path / "patched.json"), "--yes")[0] == 0  # history for rollback
    (tmp_path / "config.json").write_text(json.dumps({"WorkspaceId": demo.DEMO_WORKSPACE, "AuthorizationToken": "tok-123456",
                                                      "Location": "South Central US"}))
    state = json.dumps(emulator.emulator.store.dump(), sort_keys=True)
    files = sorted((p, p.read_bytes()) for p in tmp_path.rglob("*") if p.is_file())
    ep = f"{http.url}/workspaces/{demo.DEMO_WORKSPACE}/webservices/{demo.DEMO_PREDICTIVE_SERVICE}"
    http.control("DELETE", "requests")
    for args in (
        ["update", RID, "--service-updates", str(f)],
        ["rollback", RID],
        ["new", RID.replace(demo.DEMO_ARM_PREDICTIVE, "fresh"), "--definition-file", str(f)],
        ["remove", RID],
        ["add-region", RID, "--region", "West Europe"],
        ["patch-ilearner", str(f), "--uri", OTHER_URI],
        ["export", RID, "-f", str(tmp_path / "other.json")],
        ["classic", "endpoints", "add", f"{ep}/endpoints/whatif01"],
        ["classic", "endpoints", "remove", f"{ep}/endpoints/{demo.DEMO_ENDPOINT}"],
        ["classic", "endpoints", "refresh", f"{ep}/endpoints/{demo.DEMO_ENDPOINT}"],
        ["classic", "services", "remove", ep],
        ["classic", "config", "import", str(tmp_path / "config.json")],
        ["config", "set", "location", "West Europe"],
        ["config", "unset", "location"],
    ):
        code, out, err = cli(*args, "--what-if", "-o", "json")
        assert code == 0, (args, err)
        assert json.loads(out)["whatIf"] is True, (args, out)
    assert [r["method"] for r in http.control("GET", "requests")["requests"] if r["method"] != "GET"] == []
    assert json.dumps(emulator.emulator.store.dump(), sort_keys=True) == state
    assert sorted((p, p.read_bytes()) for p in tmp_path.rglob("*") if p.is_file()) == files


def test_classic_endpoint_removed_then_re_added_is_rolled_back_to_its_model(cli, http, emulator):
    ep = f"{http.url}/workspaces/{demo.DEMO_WORKSPACE}/webservices/{demo.DEMO_PREDICTIVE_SERVICE}/endpoints/{demo.DEMO_ENDPOINT}"
    assert cli("classic", "endpoints", "remove", ep, "--yes")[0] == 0
    code, out, err = cli("rollback", ep, "--yes")
    # the hint names no backend in core: it points at the target's backend's own commands
    assert code == 3 and "does not exist any more" in err and "amlws classic --help" in err and "--to 1" in err
    assert cli("classic", "endpoints", "add", ep, "--yes")[0] == 0
    code, out, err = cli("history", ep, "-o", "json")
    assert [(r["revision"], r["action"]) for r in json.loads(out)] == [(1, "endpoint-remove"), (2, "endpoint-add")]
    code, out, err = cli("rollback", ep, "--to", "2", "--yes")
    assert code == 2 and "recorded before it existed" in err
