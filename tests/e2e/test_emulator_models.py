"""A change that points a web service at a trained model the service cannot load fails, as Azure's
does, and the service keeps scoring with its previous model (issue 12, item 5, the emulator's side):
the ARM long-running operation ends ``Failed``; the classic PATCH answers 400."""

from __future__ import annotations

import copy
import socket
from typing import Any

import pytest

from amlws.azure.blob import make_read_sas
from amlws.emulator import seed as demo
from amlws.emulator.seed import describe

from .conftest import API, Http, arm_ws_path, model_blob, operation_end

PRED = arm_ws_path(demo.DEMO_ARM_PREDICTIVE)
ARM_AUTH = {"Authorization": f"Bearer {demo.DEMO_ARM_TOKEN}"}
CLASSIC_EP = f"/workspaces/{demo.DEMO_WORKSPACE}/webservices/{demo.DEMO_PREDICTIVE_SERVICE}/endpoints/{demo.DEMO_ENDPOINT}"
WS_AUTH = {"Authorization": f"Bearer {demo.DEMO_WORKSPACE_TOKEN}"}
ROW = {"Inputs": {"input1": {"ColumnNames": ["temperature", "humidity"], "Values": [["10", "50"]]}}}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def unreadable(azurite: Any, azurite_container: str) -> dict[str, tuple[str, str]]:
    """Model URLs the service cannot load: a missing blob, a refused SAS, a storage that does not answer."""
    present = model_blob(azurite, azurite_container, "present.ilearner", {"temperature": 3.0}, 0.0)
    missing = make_read_sas(azurite.connection_string, azurite_container, "missing.ilearner").uri
    return {
        "missing blob": (missing, "BlobNotFound (HTTP 404)"),
        "bad SAS": (present.replace("sig=", "sig=AAAA"), "HTTP 403"),
        "unreachable": (f"http://127.0.0.1:{_closed_port()}/devstoreaccount1/{azurite_container}/present.ilearner", "Connection refused"),
    }


def _score(h: Http, api: dict[str, Any]) -> Any:
    r = h.post(api["apiLocation"] + "/execute", params={"api-version": "2.0"},
               headers={"Authorization": f"Bearer {api['primaryKey']}"}, json=ROW)
    assert r.status_code == 200, r.text
    return r.json()["Results"]["output1"]["value"]["Values"]


def _arm_api(h: Http) -> dict[str, Any]:
    return next(s for s in describe(h.server.emulator)["armServices"] if s["id"].endswith(demo.DEMO_ARM_PREDICTIVE))


def _with_model(doc: dict[str, Any], uri: str) -> dict[str, Any]:
    props = {k: copy.deepcopy(v) for k, v in doc["properties"].items() if k not in ("createdOn", "modifiedOn", "provisioningState", "swaggerLocation")}
    for asset in props["assets"].values():
        if asset["name"] == demo.DEMO_RESOURCE_NAME:
            asset["locationInfo"] = {"uri": uri}
    return {"location": doc["location"], "tags": doc["tags"], "properties": props}


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
@pytest.mark.parametrize("case", ["missing blob", "bad SAS", "unreachable"])
def test_arm_operation_fails_and_the_service_keeps_its_model(shttp, unreadable, method, case):
    uri, reason = unreadable[case]
    before = shttp.get(PRED, params=API, headers=ARM_AUTH).json()
    scores = _score(shttp, _arm_api(shttp))
    r = shttp.request(method, PRED, params=API, headers=ARM_AUTH, json=_with_model(before, uri))
    assert r.status_code == 200, r.text  # accepted: the model is loaded while the operation runs
    status = operation_end(shttp, r)
    assert status["status"] == "Failed"
    assert status["error"]["code"] == "TrainedModelLoadFailed" == status["errorInfo"]["code"]
    message = status["error"]["message"]
    assert f"'{demo.DEMO_RESOURCE_NAME}'" in message and reason in message and "keeps its previous model" in message
    assert "sig=" not in message
    after = shttp.get(PRED, params=API, headers=ARM_AUTH).json()
    assert after["properties"]["provisioningState"] == "Failed"
    assert after["properties"]["assets"] == before["properties"]["assets"]
    assert _score(shttp, _arm_api(shttp)) == scores


def test_arm_update_with_a_loadable_model_succeeds_and_scores_with_it(shttp, unreadable, azurite, azurite_container):
    uri = make_read_sas(azurite.connection_string, azurite_container, "present.ilearner").uri
    before = shttp.get(PRED, params=API, headers=ARM_AUTH).json()
    r = shttp.patch(PRED, params=API, headers=ARM_AUTH, json=_with_model(before, uri))
    status = operation_end(shttp, r)
    assert status["status"] == "Succeeded", status
    assert _score(shttp, _arm_api(shttp)) == [["10", "50", "30.0"]]


def test_check_models_false_accepts_any_location(shttp):
    shttp.control("POST", "config", {"check_models": False})
    before = shttp.get(PRED, params=API, headers=ARM_AUTH).json()
    r = shttp.patch(PRED, params=API, headers=ARM_AUTH, json=_with_model(before, "https://acct.blob.core.windows.net/m/made-up.ilearner"))
    status = operation_end(shttp, r)
    assert status["status"] == "Succeeded"


@pytest.mark.parametrize("case", ["missing blob", "bad SAS", "unreachable"])
def test_classic_patch_answers_400_and_the_endpoint_keeps_its_model(shttp, unreadable, case):
    uri, reason = unreadable[case]
    ep = shttp.get(CLASSIC_EP, headers=WS_AUTH).json()
    api = {"apiLocation": ep["ApiLocation"], "primaryKey": ep["PrimaryKey"]}
    scores = _score(shttp, api)
    base, _, sas = uri.partition("?")
    scheme, _, rest = base.partition("://")
    host, _, path = rest.partition("/")
    account, _, relative = path.partition("/")
    location = {"BaseLocation": f"{scheme}://{host}/{account}/", "RelativeLocation": relative, "SasBlobToken": "?" + sas if sas else ""}
    r = shttp.patch(CLASSIC_EP, headers=WS_AUTH, json={"Resources": [{"Name": demo.DEMO_RESOURCE_NAME, "Location": location}]})
    assert r.status_code == 400, r.text
    detail = r.json()["error"]["details"][0]
    assert detail["code"] == "RequestBodyInvalid" and detail["message"].startswith("URL for the retraining model is invalid")
    assert reason in detail["message"] and "sig=" not in detail["message"]
    assert shttp.get(CLASSIC_EP, headers=WS_AUTH).json()["Resources"] == ep["Resources"]
    assert _score(shttp, api) == scores
