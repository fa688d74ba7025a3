"""What ``amlws update`` checks before sending to a classic endpoint and what it claims after
(issue 12.4, 12.5, 12.8). Wire assertions on the management API stand-in and a loopback blob store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from werkzeug import Response

from amlws.errors import ExitCode


def _url(httpserver: Any, cc: Any, name: str) -> str:
    return cc.ep_url(httpserver.url_for("/"), name, cc.SVC)


def _file(cc: Any, tmp_path: Path, name: str, location: dict[str, str]) -> Path:
    doc = cc.endpoint_doc(name, resources=[{"Name": cc.MODEL, "Kind": "TrainedModel", "Location": location}])
    del doc["PrimaryKey"], doc["SecondaryKey"]
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_update_refuses_another_endpoints_definition_unless_force(fake, run, cc, httpserver, tmp_path: Path) -> None:
    """ep01's definition sent to ep02: exit 5 naming both, only the live read; --force sends it."""
    fake.put_endpoint(cc.SVC, "ep02")
    f = _file(cc, tmp_path, "ep01", cc.MS_SAMPLE_LOCATION)
    r = run("update", _url(httpserver, cc, "ep02"), "--service-updates", str(f), "--yes")
    assert r.code == ExitCode.CONFLICT, r.err
    assert "does not describe" in r.err and "endpoint 'ep01' vs the live 'ep02'" in r.err and "--force" in r.err
    assert fake.methods() == [f"GET /workspaces/{cc.WS}/webservices/{cc.SVC}/endpoints/ep02"]

    before = len(fake.requests)
    r = run("update", _url(httpserver, cc, "ep02"), "--service-updates", str(f), "--yes", "--force", "-o", "json")
    assert r.code == 0, r.err
    assert [m.split(" ")[0] for m in fake.methods()[before:]] == ["GET", "PATCH", "GET"]
    assert r.json["verified"] is True
    assert r.json["verification"] == f"the endpoint reports the model location that was sent ('{cc.MODEL}')"


def test_update_refuses_a_file_exported_from_another_endpoint(fake, run, cc, httpserver, tmp_path: Path) -> None:
    """The export record names the source even when the file's content no longer does."""
    fake.put_endpoint(cc.SVC, "ep02")
    f = tmp_path / "ep01.json"
    assert run("export", _url(httpserver, cc, "ep01"), "-f", str(f)).code == 0
    doc = json.loads(f.read_text(encoding="utf-8"))
    doc.pop("Name")  # nothing in the content says ep01 now
    f.write_text(json.dumps(doc), encoding="utf-8")
    before = len(fake.requests)
    r = run("update", _url(httpserver, cc, "ep02"), "--service-updates", str(f), "--yes")
    assert r.code == ExitCode.CONFLICT, r.err
    assert f"was exported from {_url(httpserver, cc, 'ep01')}" in r.err
    assert [r.method for r in fake.requests[before:]] == ["GET"]  # the live read only: nothing changed


def test_patch_ilearner_prints_the_uri_it_wrote_with_the_sas_masked(fake, run, cc, tmp_path: Path) -> None:
    """Classic keeps the SAS in Resources[].Location: printed as written, signature masked."""
    f = _file(cc, tmp_path, "ep01", cc.OLD_LOCATION)
    loc = cc.MS_SAMPLE_LOCATION
    r = run("patch-ilearner", str(f), "--base-location", loc["BaseLocation"], "--relative-location", loc["RelativeLocation"],
            "--sas-blob-token", loc["SasBlobToken"], "-o", "json")
    assert r.code == 0, r.err
    written = json.loads(f.read_text(encoding="utf-8"))["Resources"][0]["Location"]
    assert written == loc
    assert r.json["modelUri"].startswith(loc["BaseLocation"] + loc["RelativeLocation"] + "?")
    assert "sig=***" in r.json["modelUri"] and "37lTTfngRwxCcf94" not in r.out




def test_update_heads_the_model_blob_with_the_resources_sas(fake, run, cc, httpserver, tmp_path: Path, blobs) -> None:
    """404 → exit 3 and no PATCH; once the blob is there, the PATCH goes out."""
    fake.put_endpoint(cc.SVC, "ep02")
    location = {"BaseLocation": f"http://127.0.0.1:{blobs.port}/devstoreaccount1/",
                "RelativeLocation": "models/new.ilearner", "SasBlobToken": cc.MS_SAMPLE_LOCATION["SasBlobToken"]}
    f = _file(cc, tmp_path, "ep02", location)
    blobs.expect_ordered_request("/devstoreaccount1/models/new.ilearner", method="HEAD").respond_with_response(Response(status=404))
    r = run("update", _url(httpserver, cc, "ep02"), "--service-updates", str(f), "--yes", "--check-model")
    assert r.code == ExitCode.NOT_FOUND, r.err
    assert "the model blob does not exist: " + location["BaseLocation"] + "models/new.ilearner" in r.err
    assert "37lTTfngRwxCcf94" not in r.err
    assert [m.split(" ")[0] for m in fake.methods()] == ["GET"]
    (head, _), = blobs.log
    assert head.args["sig"] == "37lTTfngRwxCcf94=" and head.args["sp"] == "rl"

    blobs.clear()
    blobs.expect_request("/devstoreaccount1/models/new.ilearner", method="HEAD").respond_with_data("")
    r = run("update", _url(httpserver, cc, "ep02"), "--service-updates", str(f), "--yes", "--check-model", "-o", "json")
    assert r.code == 0, r.err
    assert r.json["details"]["modelCheck"] == {cc.MODEL: "readable (HEAD 200)"}
    assert [m.split(" ")[0] for m in fake.methods()][-3:] == ["GET", "PATCH", "GET"]
