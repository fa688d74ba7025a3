"""``--realistic-timing``: the recorded real durations for a dress rehearsal, while the default stays
fast for tests (issue 13 items 1 and 6)."""

from __future__ import annotations

import json

import requests

from amlws.emulator import seed as demo
from amlws.emulator.server import DEFAULT_SETTINGS, EmulatorServer

from .conftest import API, Http, arm_ws_path
from .test_emulator_cli import _amlws, _env

PRED = arm_ws_path(demo.DEMO_ARM_PREDICTIVE)
ARM = {"Authorization": f"Bearer {demo.DEMO_ARM_TOKEN}"}


def test_default_timing_is_fast_and_on_the_clock():
    assert DEFAULT_SETTINGS["transitions"]["arm_lro"]["mode"] == "time"
    assert DEFAULT_SETTINGS["transitions"]["arm_lro"]["seconds"] <= 1  # below amlws's 1 s poll interval
    assert DEFAULT_SETTINGS["classic_patch_delay"] == 0


def test_realistic_timing_uses_the_recorded_durations_and_survives_a_reset(cert_dir):
    with EmulatorServer(seed="demo", cert_dir=cert_dir, realistic_timing=True) as server:
        http = Http(server)
        cfg = http.control("GET", "config")
        assert cfg["classic_patch_delay"] == 30  # the docs' "about 30 seconds" before a PATCHed model serves
        lro = cfg["transitions"]["arm_lro"]
        assert (lro["mode"], lro["seconds"], lro["perKind"]) == ("time", 13, {"regional": 1, "delete": 2})
        r = http.patch(PRED, params=API, headers=ARM, json={"properties": {"packageType": "Graph", "title": "slow"}})
        status = http.get(r.headers["Azure-AsyncOperation"], headers=ARM).json()
        assert status["status"] == "Provisioning" and status["percentComplete"] < 0.5
        assert http.get(PRED, params=API, headers=ARM).json()["properties"]["provisioningState"] == "Provisioning"
        http.control("POST", "reset", {"seed": "demo"})
        assert http.control("GET", "config")["transitions"]["arm_lro"]["seconds"] == 13


def test_emulator_start_realistic_timing_flag(tmp_path):
    env = _env(tmp_path)
    started = _amlws(["emulator", "start", "--realistic-timing", "-o", "json"], env)
    assert started.returncode == 0, started.stderr
    info = json.loads(started.stdout)
    try:
        cfg = requests.get(info["url"] + "/_emulator/config", verify=info["env"]["AMLWS_CA_BUNDLE"], timeout=10).json()
        assert cfg["transitions"]["arm_lro"]["seconds"] == 13 and cfg["classic_patch_delay"] == 30
    finally:
        stopped = _amlws(["emulator", "stop", "-o", "json"], env)
    assert stopped.returncode == 0, stopped.stderr
