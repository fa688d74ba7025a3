"""amlws against the emulator's recorded regional answers (issue 13 item 2): ``get --region`` before
``add-region`` is the real service's 404 ``PerRegionPayloadNotFound``, which amlws reports as not
found (exit 3) with a hint to create the regional properties, not as bad input (exit 2)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from amlws.emulator import seed as demo

from .conftest import arm_ws_path, in_process_cli

PRED = arm_ws_path(demo.DEMO_ARM_PREDICTIVE)


@pytest.fixture
def cli(emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    for name in list(os.environ):
        if name.startswith(("AMLWS_", "AZURE_")) or name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            monkeypatch.delenv(name)
    for k, v in {**emulator.env(), "AMLWS_STATE_DIR": str(tmp_path / "state"), "AMLWS_CONFIG_DIR": str(tmp_path / "config"),
                 "AMLWS_POLL_INTERVAL": "0.05"}.items():
        monkeypatch.setenv(k, v)
    return in_process_cli(capsys)


def test_get_in_a_region_without_regional_properties_is_not_found_with_an_add_region_hint(cli, emulator):
    code, out, err = cli("get", PRED, "--region", "westcentralus")
    assert code == 3, err
    assert err.startswith("error: ") and "PerRegionPayloadNotFound" in err and "HTTP 404" in err
    assert "(fix: create the regional properties first: amlws add-region" in err
    log = emulator.emulator.requests(api="arm")
    assert [(e["operation"], e["status"], e["query"].get("region")) for e in log] == [("WebServices_Get", 404, "westcentralus")]


def test_add_region_then_get_in_that_region(cli, emulator):
    code, out, err = cli("add-region", PRED, "--region", "West Central US", "--yes", "-o", "json")
    assert code == 0, err
    assert json.loads(out)["location"] == "South Central US"
    code, out, err = cli("get", PRED, "--region", "westcentralus", "-o", "json")
    assert code == 0, err
