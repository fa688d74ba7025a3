"""An unexpected exception in the emulator answers 500 with what the client can act on: a missing
module by name (issue 12: after a plain ``pip install .`` every ARM change answered only
``ModuleNotFoundError``; the module's name was only in the emulator's log)."""

from __future__ import annotations

import os
import sys

from amlws.emulator import arm_schema
from amlws.emulator import seed as demo

from .conftest import API, arm_ws_path

PRED = arm_ws_path(demo.DEMO_ARM_PREDICTIVE)


def test_a_missing_module_is_named_in_the_500(http, arm_headers, monkeypatch):
    arm_schema._validator.cache_clear()
    monkeypatch.setitem(sys.modules, "jsonschema", None)  # import jsonschema -> ModuleNotFoundError
    try:
        r = http.patch(PRED, params=API, headers=arm_headers, json={"properties": {"packageType": "Graph", "title": "t"}})
    finally:
        monkeypatch.undo()
        arm_schema._validator.cache_clear()
    assert r.status_code == 500
    error = r.json()["error"]
    assert error["code"] == "InternalServerError"
    assert error["message"] == "Emulator error: module 'jsonschema' is not installed; reinstall amlws with its dependencies"
    assert http.get(PRED, params=API, headers=arm_headers).json()["properties"]["title"] != "t"  # nothing changed


def test_the_update_error_names_the_missing_module(emulator, tmp_path, monkeypatch, capsys):
    from .conftest import in_process_cli

    for name in [n for n in list(os.environ) if n.startswith(("AMLWS_", "AZURE_"))]:
        monkeypatch.delenv(name)
    for k, v in {**emulator.env(), "AMLWS_STATE_DIR": str(tmp_path / "state"), "AMLWS_CONFIG_DIR": str(tmp_path / "cfg"),
                 "AMLWS_POLL_INTERVAL": "0.02"}.items():
        monkeypatch.setenv(k, v)
    cli = in_process_cli(capsys)
    rid = (f"/subscriptions/{demo.DEMO_SUBSCRIPTION}/resourceGroups/{demo.DEMO_RESOURCE_GROUP}"
           f"/providers/Microsoft.MachineLearning/webServices/{demo.DEMO_ARM_PREDICTIVE}")
    definition = tmp_path / "svc.json"
    assert cli("export", rid, "--output-file", str(definition))[0] == 0
    arm_schema._validator.cache_clear()
    monkeypatch.setitem(sys.modules, "jsonschema", None)
    try:
        code, out, err = cli("update", rid, "--service-updates", str(definition), "--yes")
    finally:
        monkeypatch.delitem(sys.modules, "jsonschema")
        arm_schema._validator.cache_clear()
    assert code == 1 and out == ""
    assert "module 'jsonschema' is not installed; reinstall amlws with its dependencies" in err, err
