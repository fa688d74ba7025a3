"""Classic rollback to a model whose SAS history masked: amlws makes a fresh read SAS when the
storage connection string is for that model's account (else it asks for --sas-token, naming
``amlws blob sas``); a no-op ``classic endpoints refresh`` records no revision; ``history`` shows
each revision's model. Through the CLI against the emulator backed by Azurite."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from amlws.emulator import seed as demo

from .conftest import Http, client_env, in_process_cli, model_blob

WS_AUTH = {"Authorization": f"Bearer {demo.DEMO_WORKSPACE_TOKEN}"}
OTHER_ACCOUNT = ("DefaultEndpointsProtocol=https;AccountName=otheraccount;"
                 "AccountKey=b3RoZXJhY2NvdW50a2V5b3RoZXJhY2NvdW50a2V5MDE=;EndpointSuffix=core.windows.net")


@pytest.fixture
def env(emulator_storage: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = client_env(emulator_storage, tmp_path, monkeypatch)
    assert values["AMLWS_STORAGE_CONNECTION_STRING"]
    return values


@pytest.fixture
def cli(env: dict[str, str], capsys: pytest.CaptureFixture[str]):
    return in_process_cli(capsys)


def _location(http: Http, ep_path: str) -> dict[str, str]:
    r = http.get(ep_path, headers=WS_AUTH)
    assert r.status_code == 200, r.text
    (res,) = [x for x in r.json()["Resources"] if x["Name"] == demo.DEMO_RESOURCE_NAME]
    return res["Location"]


def test_classic_rollback_makes_a_fresh_sas_and_a_noop_refresh_records_nothing(cli, emulator_storage, azurite, tmp_path, monkeypatch):
    http = Http(emulator_storage)
    ep_path = f"/workspaces/{demo.DEMO_WORKSPACE}/webservices/{demo.DEMO_PREDICTIVE_SERVICE}/endpoints/{demo.DEMO_ENDPOINT}"
    ep = http.url + ep_path
    seed = _location(http, ep_path)
    seed_url = seed["BaseLocation"].rstrip("/") + "/" + seed["RelativeLocation"]
    new_uri = model_blob(azurite, "rollback", "new.ilearner", {"temperature": 5.0, "humidity": -0.1}, 3.0)
    f = tmp_path / "ep.json"
    assert cli("export", ep, "-f", str(f))[0] == 0
    assert cli("patch-ilearner", str(f), "--uri", new_uri)[0] == 0
    code, out, err = cli("update", ep, "--service-updates", str(f), "--yes", "-o", "json")
    assert code == 0, err
    assert _location(http, ep_path)["RelativeLocation"] == "rollback/new.ilearner"

    # a refresh that finds nothing to do (the emulator answers 304) records no revision
    code, out, err = cli("classic", "endpoints", "refresh", ep, "--yes", "-o", "json")
    assert code == 0 and json.loads(out)["refreshed"] is False, err
    code, out, err = cli("history", ep, "-o", "json")
    rows = json.loads(out)
    assert [(r["revision"], r["action"]) for r in rows] == [(1, "update")]
    # each revision shows the model its saved definition pointed at, without SAS
    assert rows[0]["models"] == [{"name": demo.DEMO_RESOURCE_NAME, "uri": seed_url}]
    monkeypatch.setenv("COLUMNS", "400")  # one table row per line
    code, out, _ = cli("history", ep)
    assert code == 0 and " model " in out.splitlines()[1] and seed_url in out and "sig=" not in out
    code, out, _ = cli("history", ep, "--revision", "1", "-o", "json")
    assert json.loads(out)["models"] == [{"name": demo.DEMO_RESOURCE_NAME, "uri": seed_url}]

    # the storage connection string is for another account: the old --sas-token requirement, naming amlws blob sas
    monkeypatch.setenv("AMLWS_STORAGE_CONNECTION_STRING", OTHER_ACCOUNT)
    http.control("DELETE", "requests")
    code, out, err = cli("rollback", ep, "--yes")
    assert code == 2 and "SAS signature history does not keep" in err and "--sas-token" in err and "amlws blob sas" in err, err
    monkeypatch.delenv("AMLWS_STORAGE_CONNECTION_STRING")
    code, out, err = cli("rollback", ep, "--yes")
    assert code == 2 and "amlws blob sas" in err, err
    assert [r["method"] for r in http.control("GET", "requests")["requests"]] == ["GET", "GET"]  # nothing sent but reads

    # with the model's account: plain rollback (revision 1, before the update) with a fresh read SAS
    monkeypatch.setenv("AMLWS_STORAGE_CONNECTION_STRING", azurite.connection_string)
    code, out, err = cli("rollback", ep, "--yes", "-o", "json")
    assert code == 0, err
    assert json.loads(out)["rolledBack"] is True
    patches = [r for r in http.control("GET", "requests")["requests"] if r["method"] == "PATCH"]
    assert len(patches) == 1
    live = _location(http, ep_path)
    assert (live["BaseLocation"].rstrip("/") + "/" + live["RelativeLocation"]) == seed_url
    token = {k: v[0] for k, v in parse_qs(live["SasBlobToken"].lstrip("?")).items()}
    assert token["sp"] == "r" and token["sr"] == "b" and live["SasBlobToken"] != seed["SasBlobToken"]
    # the fresh SAS really reads the blob (Azurite checks the signature), and was never printed
    from amlws.azure.blob import download
    from amlws.emulator import mlmodel

    assert mlmodel.loads(download(seed_url + live["SasBlobToken"]))["label"] == "rentals"
    assert token["sig"] not in out + err
    rows = json.loads(cli("history", ep, "-o", "json")[1])
    assert [(r["action"], r["models"][0]["uri"].rsplit("/", 1)[-1]) for r in rows] == [("update", seed_url.rsplit("/", 1)[-1]),
                                                                                        ("rollback", "new.ilearner")]
