"""``amlws patch-model``: a backend with ``amlws_patch_model`` reads the model reference itself; a
backend with only ``amlws_patch_ilearner`` (Studio) gets it as a ``.ilearner`` location."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from amlws import hookimpl
from amlws.config import Settings
from amlws.errors import UsageError
from amlws.host import Host
from amlws.model import BackendInfo, Definition, ModelLocation

pytestmark = pytest.mark.usefixtures("amlws_env")

DEPLOYMENT = {"kind": "deployment", "properties": {"model": "/models/bike/versions/1", "instanceCount": 1}}


class Versions:
    """A toy backend whose definitions point at model versions, not blobs: it reads ``--model`` itself."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    @hookimpl
    def amlws_backend_info(self) -> BackendInfo:
        return BackendInfo(name="versions", target_help="versions:NAME")

    @hookimpl
    def amlws_import(self, document: Any) -> Definition | None:
        return Definition("versions", document) if isinstance(document, dict) and document.get("kind") == "deployment" else None

    @hookimpl
    def amlws_patch_model(self, definition: Definition, model: str, settings: Settings, selector: str | None) -> Definition:
        self.calls.append(("patch_model", (model, selector, isinstance(settings, Settings))))
        if not model.startswith("azureml:"):
            raise UsageError(f"not a model version: {model!r}", hint="give azureml:NAME:VERSION")
        name, version = model.removeprefix("azureml:").split(":")
        patched = definition.copy()
        patched.document["properties"]["model"] = f"/models/{name}/versions/{version}"
        return patched

    @hookimpl
    def amlws_patch_ilearner(self, definition: Definition, location: ModelLocation) -> Definition:
        self.calls.append(("patch_ilearner", location))
        return definition.copy()

    @hookimpl
    def amlws_model_reference(self, definition: Definition) -> list[dict[str, str]]:
        return [{"name": "model", "selector": "model", "uri": definition.document["properties"]["model"]}]


def _file(tmp_path: Path, doc: dict[str, Any], name: str = "deployment.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return path


def test_a_backend_with_amlws_patch_model_gets_the_reference_as_given(make_pm, run_cli, tmp_path: Path):
    backend = Versions()
    pm = make_pm((backend, "versions"))
    path = _file(tmp_path, DEPLOYMENT)
    code, out, err = run_cli(["patch-model", str(path), "--model", "azureml:bike:2", "--asset", "blue", "-o", "json"], pm)
    assert code == 0, err
    assert backend.calls == [("patch_model", ("azureml:bike:2", "blue", True))]  # raw string; patch_ilearner not asked
    # the reference as the backend wrote it (amlws_model_reference), not as given
    assert json.loads(out) == {"file": str(path), "backend": "versions", "modelUri": "/models/bike/versions/2"}
    assert json.loads(path.read_text())["properties"] == {"model": "/models/bike/versions/2", "instanceCount": 1}


def test_the_backend_refuses_a_reference_it_cannot_take(make_pm, run_cli, tmp_path: Path):
    pm = make_pm((Versions(), "versions"))
    path = _file(tmp_path, DEPLOYMENT)
    before = path.read_bytes()
    code, out, err = run_cli(["patch-model", str(path), "--model", "https://a.blob.core.windows.net/c/m.ilearner"], pm)
    assert (code, out) == (2, "")
    assert err == "error: not a model version: 'https://a.blob.core.windows.net/c/m.ilearner' (fix: give azureml:NAME:VERSION)\n"
    assert path.read_bytes() == before


def test_a_studio_backend_gets_a_model_location_and_refuses_a_model_version(make_pm, file_backend):
    host = Host(make_pm((file_backend, "file")), Settings(env={}))
    doc = {"properties": {"assets": {"a1": {"name": "M [trained model]", "type": "Resource",
                                             "locationInfo": {"uri": "https://acct.blob.core.windows.net/m/old.ilearner"}}}}}
    definition = Definition("file", copy.deepcopy(doc))
    patched = host.patch_model(definition, "https://acct.blob.core.windows.net/m/new.ilearner")
    assert patched.document["properties"]["assets"]["a1"]["locationInfo"]["uri"] == "https://acct.blob.core.windows.net/m/new.ilearner"
    assert definition.document == doc  # the input is not modified
    with pytest.raises(UsageError, match=r"^a Studio definition takes a \.ilearner location; 'azureml:m:1' is an Azure ML model version$"):
        host.patch_model(definition, "azureml:m:1")
    with pytest.raises(UsageError, match="plain http"):  # the host's http policy applies as for patch-ilearner
        host.patch_model(definition, "http://acct.blob.core.windows.net/m/new.ilearner")
    assert host.patch_model(definition, "http://acct.blob.core.windows.net/m/new.ilearner", allow_http=True).document != doc


def test_the_example_backend_gets_patch_model_for_free(make_pm, file_backend, run_cli, tmp_path: Path):
    pm = make_pm((file_backend, "file"))
    doc = {"location": "West US", "properties": {"title": "t", "packageType": "Graph", "assets": {"a1": {
        "name": "M [trained model]", "type": "Resource", "locationInfo": {"uri": "https://acct.blob.core.windows.net/m/old.ilearner"}}}}}
    uri = "https://acct.blob.core.windows.net/m/new.ilearner?sv=2020-08-04&sp=r&se=2099-01-01&sig=SIGNATURE42"
    results = []
    for command, option in (("patch-ilearner", "--uri"), ("patch-model", "--model")):
        (tmp_path / command).mkdir()
        path = _file(tmp_path / command, doc)
        code, out, err = run_cli([command, str(path), "--backend", "file", option, uri, "-o", "json"], pm)
        assert code == 0, err
        results.append((json.loads(out.replace(str(tmp_path / command), "DIR")), path.read_bytes()))
    assert results[0] == results[1]
    assert "SIGNATURE42" not in json.dumps(results[1][0])


def test_a_backend_without_either_patch_hook_says_so(make_pm, run_cli, tmp_path: Path):
    class Bare:
        @hookimpl
        def amlws_backend_info(self) -> BackendInfo:
            return BackendInfo(name="bare")

        @hookimpl
        def amlws_import(self, document: Any) -> Definition:
            return Definition("bare", document)

    path = _file(tmp_path, DEPLOYMENT)
    code, out, err = run_cli(["patch-model", str(path), "--model", "https://a.blob.core.windows.net/c/m.ilearner"], make_pm((Bare(), "bare")))
    assert (code, out) == (1, "") and err.startswith("error: backend 'bare' does not implement amlws_patch_ilearner (fix: ")
