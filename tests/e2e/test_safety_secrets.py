"""Secret hygiene: a full set of classic and ARM commands with --debug against the emulator and
Azurite, then a scan of stdout, stderr, the history files and the exported files for every
secret value used (tokens, API keys, SAS signatures, the storage account key): none may appear.
Config files holding secrets are 0600, and amlws warns when they are more open."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys

import pytest

from amlws.emulator import seed as demo

from .conftest import Http, arm_ws_path, model_blob

ARM_ID = arm_ws_path(demo.DEMO_ARM_PREDICTIVE)
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
#: a SAS signature in clear: sig= followed by anything but the mask
CLEAR_SIG = re.compile(r"(?i)sig(=|%3D)(?!\*\*\*)[A-Za-z0-9%+/]{6,}")
CLEAR_ACCOUNT_KEY = re.compile(r"(?i)AccountKey=(?!\*\*\*)[^;\"'\s]{6,}")


def test_debug_run_of_every_command_leaks_no_secret(emulator_storage, azurite, tmp_path):
    http = Http(emulator_storage)
    sas_url = model_blob(azurite, "secrets", "model.ilearner", {"temperature": 3.0, "humidity": -0.25}, 7.0)
    sig = re.search(r"sig=([^&]+)", sas_url).group(1)
    config_dir, state_dir, work = tmp_path / "config", tmp_path / "state", tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMLWS_") and k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
    env.update(emulator_storage.env())
    env.update({"AMLWS_STATE_DIR": str(state_dir), "AMLWS_CONFIG_DIR": str(config_dir), "AMLWS_POLL_INTERVAL": "0.05",
                "AMLWS_STORAGE_CONNECTION_STRING": azurite.connection_string})
    secrets = {demo.DEMO_ARM_TOKEN, demo.DEMO_WORKSPACE_TOKEN, demo.DEMO_WORKSPACE_TOKEN + "-secondary", demo.DEMO_API_KEY,
               demo.DEMO_API_KEY_SECONDARY, AZURITE_KEY, sig}
    transcript: list[str] = []

    def run(*args: str, code: int = 0) -> str:
        r = subprocess.run([sys.executable, "-c", "from amlws.cli.application import main; main()", "--debug", *args], env=env,
                           capture_output=True, text=True, timeout=120, cwd=work)
        transcript.append(f"{r.stdout}\n{r.stderr}")  # what amlws printed (the command line itself holds secrets)
        assert r.returncode == code, f"amlws {' '.join(args)} -> {r.returncode}\n{r.stderr[-3000:]}"
        return r.stdout

    ep = f"{emulator_storage.url}/workspaces/{demo.DEMO_WORKSPACE}/webservices/{demo.DEMO_PREDICTIVE_SERVICE}/endpoints"
    train = http.get(f"/workspaces/{demo.DEMO_WORKSPACE}/webservices/{demo.DEMO_TRAINING_SERVICE}/endpoints/default",
                     headers={"Authorization": f"Bearer {demo.DEMO_WORKSPACE_TOKEN}"}).json()["ApiLocation"]
    # ARM: the five steps, history, diff, rollback
    run("get", ARM_ID, "-o", "json")
    run("list", "-o", "json")
    run("export", ARM_ID, "-f", "arm.json")
    # patch-ilearner writes the SAS it is given (update must send it): its output is the user's own secret file
    run("patch-ilearner", "arm.json", "--uri", sas_url, "-f", "arm.patched.json")
    run("import", "-i", "arm.patched.json", "-o", "json")
    run("update", ARM_ID, "--service-updates", "arm.patched.json", "--what-if", "-o", "json")
    run("update", ARM_ID, "--service-updates", "arm.patched.json", "--yes", "-o", "json")
    run("history", ARM_ID, "-o", "json")
    run("history", ARM_ID, "--revision", "1", "-o", "json")
    run("diff", ARM_ID, "--revision", "1")
    run("diff", ARM_ID, "--file", "arm.patched.json", "-o", "json")
    run("rollback", ARM_ID, "--what-if")
    run("rollback", ARM_ID, "--yes", "-o", "json")
    run("rollback", ARM_ID, "--yes", "--sas-token", sas_url.split("?", 1)[1], "-o", "json")  # back to the SAS model
    # classic: services, endpoints, the five steps on an endpoint, retrain through BES
    run("classic", "services", "list", "-o", "json")
    run("classic", "endpoints", "list", "--service", demo.DEMO_PREDICTIVE_SERVICE, "-o", "json")
    run("classic", "endpoints", "get", f"{ep}/{demo.DEMO_ENDPOINT}", "-o", "json")
    run("classic", "endpoints", "add", f"{ep}/secrets01", "--yes", "-o", "json")
    run("export", f"{ep}/secrets01", "-f", "classic.json")
    run("patch-ilearner", "classic.json", "--uri", sas_url, "-f", "classic.patched.json")
    run("update", f"{ep}/secrets01", "--service-updates", "classic.patched.json", "--yes", "-o", "json")
    run("export", ARM_ID, "-f", "arm-after.json")  # the live model has a SAS now: masked in the export
    run("history", f"{ep}/secrets01", "--revision", "2", "-o", "json")
    data = work / "train.csv"
    data.write_text("temperature,humidity,rentals\n" + "".join(f"{t},{h},{50 + 10 * t - h}\n" for t in range(0, 30, 3) for h in (30, 60)))
    run("retrain", "--data", str(data), "--training-service", train + "/jobs", "--target", f"{ep}/secrets01",
        "--poll-interval", "0.1", "--yes", "-o", "json")
    run("classic", "endpoints", "refresh", f"{ep}/secrets01", "--yes")
    run("classic", "endpoints", "remove", f"{ep}/secrets01", "--yes")
    actions = [(r["action"], r["status"]) for r in json.loads(run("history", f"{ep}/secrets01", "-o", "json"))]
    # the refresh found no change (304): it records no revision
    assert actions == [("endpoint-add", "applied"), ("update", "applied"), ("retrain", "applied"), ("endpoint-remove", "applied")]
    # settings holding secrets
    (work / "config.json").write_text(json.dumps({"WorkspaceId": demo.DEMO_WORKSPACE, "AuthorizationToken": demo.DEMO_WORKSPACE_TOKEN,
                                                   "Location": "South Central US"}))
    run("classic", "config", "import", "config.json")
    run("config", "set", "api_key", demo.DEMO_API_KEY)
    run("config", "show", "-o", "json")
    # errors carry no secrets either
    run("classic", "endpoints", "get", f"{ep}/nosuch01", code=3)

    text = "\n".join(transcript)
    assert "DEBUG" in text or "> GET" in text, "the run must have traced HTTP (--debug)"
    files = {p: p.read_text(encoding="utf-8", errors="replace") for d in (state_dir, work) for p in d.rglob("*") if p.is_file()
             if p.name != "config.json" and p.suffix != ".csv" and ".patched." not in p.name}
    assert any("history" in str(p) for p in files) and {work / "arm.json", work / "classic.json", work / "arm-after.json"} <= set(files)
    assert "sig=***" in files[work / "arm-after.json"]
    def context(body: str, s: str) -> str:
        i = body.index(s)
        return body[max(0, i - 150):i] + "<SECRET>"

    leaks = [(where, context(body, s)) for where, body in [("output", text), *((str(p), b) for p, b in files.items())]
             for s in secrets if s in body]
    leaks += [(where, m.group(0)[:12]) for where, body in [("output", text), *((str(p), b) for p, b in files.items())]
              for m in (*CLEAR_SIG.finditer(body), *CLEAR_ACCOUNT_KEY.finditer(body))]
    assert leaks == [], leaks[:10]
    # the config file holding the token and key is private
    cfg = config_dir / "config.toml"
    if os.name == "posix":
        assert stat.S_IMODE(cfg.stat().st_mode) == 0o600


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_config_with_secrets_is_0600_and_a_more_open_one_warns(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMLWS_")}
    env.update({"AMLWS_CONFIG_DIR": str(tmp_path / "config"), "AMLWS_STATE_DIR": str(tmp_path / "state")})

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", "from amlws.cli.application import main; main()", *args], env=env,
                              capture_output=True, text=True, timeout=60)

    assert run("config", "set", "workspace_token", "tok-secret-123456").returncode == 0
    cfg = tmp_path / "config" / "config.toml"
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
    quiet = run("config", "show", "-o", "json")
    assert quiet.returncode == 0 and "readable by others" not in quiet.stderr and "tok-secret-123456" not in quiet.stdout
    os.chmod(cfg, 0o644)
    loud = run("config", "show", "-o", "json")
    assert loud.returncode == 0
    assert f"config file {cfg} holds secrets but is readable by others: run chmod 600 {cfg}" in loud.stderr
    assert "tok-secret-123456" not in loud.stdout + loud.stderr
