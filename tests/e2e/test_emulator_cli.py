"""``amlws emulator serve|start|stop|status`` and ``python -m amlws.emulator`` as real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import requests

from amlws.emulator import seed as demo

REPO = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["AMLWS_STATE_DIR"] = str(tmp_path / "state")
    env["AMLWS_CONFIG_DIR"] = str(tmp_path / "config")
    return env


def _amlws(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from amlws.cli.application import main; main()", *args], env=env, capture_output=True, text=True, timeout=60)


def test_start_status_stop(tmp_path):
    env = _env(tmp_path)
    started = _amlws(["emulator", "start", "-o", "json"], env)
    assert started.returncode == 0, started.stderr
    info = json.loads(started.stdout)
    try:
        assert info["url"].startswith("https://127.0.0.1:")
        assert info["env"]["AMLWS_ARM_ENDPOINT"] == info["url"] == info["env"]["AMLWS_CLASSIC_ENDPOINT"]
        for k in ("AMLWS_CA_BUNDLE", "AMLWS_ARM_TOKEN", "AMLWS_WORKSPACE_TOKEN", "AMLWS_API_KEY", "AMLWS_SUBSCRIPTION"):
            assert info["env"][k]
        assert info["env"]["AMLWS_SUBSCRIPTION"] == demo.DEMO_SUBSCRIPTION
        r = requests.get(info["url"] + "/_emulator/health", verify=info["env"]["AMLWS_CA_BUNDLE"], timeout=10)
        assert r.json()["status"] == "ok"
        status = _amlws(["emulator", "status", "-o", "json"], env)
        assert status.returncode == 0 and json.loads(status.stdout)["running"] is True
        again = _amlws(["emulator", "start"], env)
        assert again.returncode == 5 and "already running" in again.stderr
        text = _amlws(["emulator", "status"], env)
        assert f"export AMLWS_ARM_ENDPOINT='{info['url']}'" in text.stdout
    finally:
        stopped = _amlws(["emulator", "stop", "-o", "json"], env)
    assert stopped.returncode == 0, stopped.stderr
    assert json.loads(stopped.stdout)["pid"] == info["pid"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(info["pid"], 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("emulator process still alive")
    gone = _amlws(["emulator", "status", "-o", "json"], env)
    assert gone.returncode == 3 and json.loads(gone.stdout) == {"running": False}


def test_python_m_serve_prints_env_and_shuts_down_via_control_plane(tmp_path):
    ready = tmp_path / "ready.json"
    proc = subprocess.Popen([sys.executable, "-m", "amlws.emulator", "serve", "--port", "0", "--ready-file", str(ready),
                             "--cert-dir", str(tmp_path / "certs")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(tmp_path))
    try:
        line = proc.stdout.readline()
        assert line.startswith("amlws emulator listening on https://127.0.0.1:")
        assert "export AMLWS_CA_BUNDLE=" in proc.stdout.readline() + proc.stdout.readline() + proc.stdout.readline()
        info = json.loads(ready.read_text())
        requests.post(info["url"] + "/_emulator/shutdown", verify=info["caPath"], timeout=10)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_refuses_demo_credentials_off_loopback(tmp_path):
    r = _amlws(["emulator", "serve", "--host", "0.0.0.0"], _env(tmp_path))
    assert r.returncode == 2 and "non-loopback" in r.stderr
