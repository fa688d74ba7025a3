"""Fixtures for the emulator's end-to-end tests: an in-process :class:`EmulatorServer` (port 0,
in-memory state, demo seed) and an HTTP helper that trusts its CA on every request.

The Azurite fixtures (``azurite``, ``azurite_container``) come from ``tests/conftest.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from amlws.emulator import seed as demo
from amlws.emulator.server import EmulatorServer

REPO = Path(__file__).resolve().parents[2]
ARM_SPEC = REPO / "core" / "data" / "arm-webservices-2017-01-01.json"
API = {"api-version": "2017-01-01"}


class Http:
    """requests with the emulator's CA passed per request (REQUESTS_CA_BUNDLE would override Session.verify)."""

    def __init__(self, server: EmulatorServer) -> None:
        self.server = server
        self.url = server.url
        self.ca = str(server.ca_path)
        self.session = requests.Session()
        self.session.trust_env = False

    def request(self, method: str, path_or_url: str, **kw: Any) -> requests.Response:
        url = path_or_url if path_or_url.startswith("http") else self.url + path_or_url
        kw.setdefault("timeout", 30)
        return self.session.request(method, url, verify=self.ca, **kw)

    def get(self, p: str, **kw: Any) -> requests.Response:
        return self.request("GET", p, **kw)

    def post(self, p: str, **kw: Any) -> requests.Response:
        return self.request("POST", p, **kw)

    def put(self, p: str, **kw: Any) -> requests.Response:
        return self.request("PUT", p, **kw)

    def patch(self, p: str, **kw: Any) -> requests.Response:
        return self.request("PATCH", p, **kw)

    def delete(self, p: str, **kw: Any) -> requests.Response:
        return self.request("DELETE", p, **kw)

    # control plane
    def control(self, method: str, what: str, body: Any = None) -> Any:
        r = self.request(method, f"/_emulator/{what}", json=body)
        assert r.status_code < 300, r.text
        return r.json() if r.content else None

    def counts(self) -> dict[str, int]:
        return self.control("GET", "requests")["counts"]


@pytest.fixture(scope="session")
def cert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("emulator-certs")


@pytest.fixture
def emulator(cert_dir: Path) -> Iterator[EmulatorServer]:
    """A fresh demo-seeded emulator per test (no storage configured)."""
    with EmulatorServer(seed="demo", cert_dir=cert_dir) as server:
        yield server


@pytest.fixture
def http(emulator: EmulatorServer) -> Http:
    return Http(emulator)


@pytest.fixture
def emulator_storage(cert_dir: Path, azurite: Any) -> Iterator[EmulatorServer]:
    """A demo-seeded emulator whose default storage is the session's Azurite."""
    with EmulatorServer(seed="demo", cert_dir=cert_dir, storage_connection_string=azurite.connection_string,
                        settings={"transitions": {"bes": {"mode": "polls", "count": 1}}}) as server:
        yield server


@pytest.fixture
def shttp(emulator_storage: EmulatorServer) -> Http:
    return Http(emulator_storage)


@pytest.fixture
def arm_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {demo.DEMO_ARM_TOKEN}"}


def arm_ws_path(name: str) -> str:
    return (f"/subscriptions/{demo.DEMO_SUBSCRIPTION}/resourceGroups/{demo.DEMO_RESOURCE_GROUP}"
            f"/providers/Microsoft.MachineLearning/webServices/{name}")


@pytest.fixture(scope="session")
def arm_spec() -> dict[str, Any]:
    return json.loads(ARM_SPEC.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def validate_arm(arm_spec: dict[str, Any]) -> Any:
    """Validate a response body against a definition of the ARM spec (jsonschema, Draft 4).

    Independent of the emulator's own validator: the polymorphic ``properties`` are checked as
    ``WebServicePropertiesForGraph``; AutoRest's bare ``{"type": "object"}`` means *any*.
    """
    import copy

    from jsonschema import Draft4Validator

    defs = copy.deepcopy(arm_spec["definitions"])
    defs["WebService"]["properties"]["properties"] = {"$ref": "#/definitions/WebServicePropertiesForGraph"}

    def relax(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and not any(k in node for k in ("properties", "additionalProperties", "allOf", "$ref")):
                del node["type"]
            for v in node.values():
                relax(v)
        elif isinstance(node, list):
            for v in node:
                relax(v)

    relax(defs)

    def check(body: Any, definition: str) -> None:
        validator = Draft4Validator({"$ref": f"#/definitions/{definition}", "definitions": defs})
        errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)]
        assert not errors, errors[:5]

    return check


def client_env(server: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point the CLI at ``server`` and nothing else: no AMLWS_*/CA variables from the machine,
    state and config under ``tmp_path``; returns the variables set."""
    import os

    for name in list(os.environ):
        if name.startswith("AMLWS_") or name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            monkeypatch.delenv(name)
    values = {**server.env(), "AMLWS_STATE_DIR": str(tmp_path / "state"), "AMLWS_CONFIG_DIR": str(tmp_path / "config"),
              "AMLWS_POLL_INTERVAL": "0.02"}
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return values


def model_blob(azurite: Any, container: str, blob: str, coefficients: dict[str, float], intercept: float) -> str:
    """Upload a readable .ilearner to Azurite; its URL with a read SAS (whose sig is a secret)."""
    from amlws.azure.blob import make_read_sas
    from amlws.emulator import mlmodel

    client = azurite.service().get_container_client(container)
    try:
        client.create_container()
    except Exception:  # noqa: BLE001 - exists
        pass
    client.upload_blob(blob, mlmodel.dumps(mlmodel.make_model(label="rentals", coefficients=coefficients, intercept=intercept)),
                       overwrite=True)
    return make_read_sas(azurite.connection_string, container, blob).uri


def operation_end(http: Http, response: requests.Response, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """Follow the ``Azure-AsyncOperation`` of an ARM PUT/PATCH/DELETE until it ends (operations run on
    the emulator's clock); its final status body."""
    import time

    headers = headers or {"Authorization": f"Bearer {demo.DEMO_ARM_TOKEN}"}
    while True:
        status = http.get(response.headers["Azure-AsyncOperation"], headers=headers).json()
        if status["status"] != "Provisioning":
            return status
        time.sleep(0.05)


def in_process_cli(capsys: pytest.CaptureFixture[str], *extra: tuple[Any, str]) -> Any:
    """``run(*args) -> (exit code, stdout, stderr)``: the CLI in-process with exactly the arm and
    classic plugins (STYLE.md principle 10) and the ``extra`` ``(plugin, name)`` pairs, its command
    registration restored after each call."""
    import amlws.plugins.arm
    import amlws.plugins.classic
    from amlws.cli import application as amlws_cli
    from amlws.host import get_plugin_manager, register_plugin

    pm = get_plugin_manager(load_entrypoints=False)
    register_plugin(pm, amlws.plugins.arm, "arm")
    register_plugin(pm, amlws.plugins.classic, "classic")
    for plugin, name in extra:
        register_plugin(pm, plugin, name)
    pm.check_pending()

    def run(*args: str) -> tuple[int, str, str]:
        saved = (list(amlws_cli.app.registered_commands), list(amlws_cli.app.registered_groups), amlws_cli._registered)
        amlws_cli._registered = False
        capsys.readouterr()
        try:
            code = amlws_cli.main(list(args), pm=pm)
        finally:
            amlws_cli.app.registered_commands[:] = saved[0]
            amlws_cli.app.registered_groups[:] = saved[1]
            amlws_cli._registered = saved[2]
        out, err = capsys.readouterr()
        return code, out, err

    return run
