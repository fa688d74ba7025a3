"""What ``amlws update`` checks before sending to an ARM web service and what it claims after
(issue 12.4, 12.5, 12.6, 12.8): another service's definition, the model blob's HEAD, plain http,
the printed ``modelUri`` of ``patch-ilearner``. Wire assertions: what was and was not sent."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

OTHER = "svc2"


def _other_path(h) -> str:
    return h.WS_PATH.rsplit("/", 1)[0] + "/" + OTHER


def _other_service(live: dict) -> dict:
    """Another web service in the same resource group: its own title and graph."""
    doc = copy.deepcopy(live)
    doc["properties"]["title"] = "Another experiment [predictive exp.]"
    nodes = doc["properties"]["package"]["nodes"]
    nodes["node99"] = nodes.pop("node5")
    doc["properties"]["package"]["edges"] = doc["properties"]["package"]["edges"][:1]
    return doc


def _expect_update(server, h, live, final):
    patched = {"id": h.WS_PATH, "name": h.NAME, "type": "Microsoft.MachineLearning/webServices",
               "location": live["location"], "tags": {}, "properties": {"provisioningState": "Provisioning"}}
    server.expect_ordered_request(h.WS_PATH, method="PATCH", query_string=h.API).respond_with_json(
        patched, headers=h.async_headers(server))
    server.expect_ordered_request(h.op_path(), method="GET", query_string=h.API).respond_with_json(
        {"id": h.op_path(), "name": "op1", "status": "Succeeded", "percentComplete": 1.0})
    server.expect_ordered_request(h.WS_PATH, method="GET", query_string=h.API).respond_with_json(final)


def _with_model(doc: dict, uri: str) -> dict:
    out = copy.deepcopy(doc)
    out["properties"]["assets"]["asset3"]["locationInfo"]["uri"] = uri
    return out


def _methods(server) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r, _ in server.log]


# --- 12.4: another service's definition -----------------------------------------------------------


def test_update_refuses_another_services_definition_by_title_and_graph(run, server, h, live_document, tmp_path: Path):
    """A definition whose title and graph are another service's: exit 5 with the difference, no PATCH;
    --force sends it."""
    wsd = tmp_path / "other.json"
    wsd.write_text(json.dumps(_other_service(live_document)), encoding="utf-8")
    server.expect_request(h.WS_PATH, method="GET", query_string=h.API).respond_with_json(live_document)
    code, out, err = run("update", h.WS_PATH, "--service-updates", str(wsd), "--yes", "-o", "json")
    assert code == 5, err
    assert out == ""
    assert "does not describe" in err and "title 'Another experiment [predictive exp.]'" in err
    assert "graph: 1 node(s) not in the live graph (node99), 1 live node(s) missing (node5)" in err and "edge(s) differ" in err
    assert "--force" in err
    assert _methods(server) == [("GET", h.WS_PATH)]  # the live read only: nothing sent

    server.clear()
    server.expect_ordered_request(h.WS_PATH, method="GET", query_string=h.API).respond_with_json(live_document)
    _expect_update(server, h, live_document, _other_service(live_document))
    code, out, err = run("update", h.WS_PATH, "--service-updates", str(wsd), "--yes", "--force", "-o", "json")
    assert code == 0, err
    assert [m for m, _ in _methods(server)] == ["GET", "PATCH", "GET", "GET"]


def test_update_refuses_a_file_exported_from_another_target_even_after_patching(run, server, h, live_document, tmp_path: Path):
    """Two services with the same title and graph (one experiment published twice): the content cannot tell
    them apart, the export record can. It follows the file through patch-ilearner -f. Nothing is sent to svc1."""
    other = copy.deepcopy(live_document)
    other["id"], other["name"] = _other_path(h), OTHER
    server.expect_request(_other_path(h), method="GET", query_string=h.API).respond_with_json(other)
    exported, patched = tmp_path / "svc2.json", tmp_path / "svc2-patched.json"
    code, _, err = run("export", _other_path(h), "-f", str(exported))
    assert code == 0, err
    code, _, err = run("patch-ilearner", str(exported), "--uri", f"{h.NEW_BLOB}?{h.NEW_SAS}", "-f", str(patched), "--yes")
    assert code == 0, err
    server.clear()
    server.expect_request(h.WS_PATH, method="GET", query_string=h.API).respond_with_json(live_document)
    for f in (exported, patched):
        code, out, err = run("update", h.WS_PATH, "--service-updates", str(f), "--yes")
        assert code == 5, err
        assert f"{f} was exported from {_other_path(h)}, not from {h.WS_PATH}" in err
    assert _methods(server) == [("GET", h.WS_PATH)] * 2  # refused after the live read: nothing changed
    server.clear()

    # --what-if reports it as the conflict the real update would stop at
    server.expect_request(h.WS_PATH, method="GET", query_string=h.API).respond_with_json(live_document)
    code, out, err = run("update", h.WS_PATH, "--service-updates", str(patched), "--what-if", "-o", "json")
    assert code == 0, err
    assert "was exported from" in json.loads(out)["conflict"]
    assert [m for m, _ in _methods(server)] == ["GET"]


def test_update_of_a_missing_target_is_not_found_before_the_export_record(run, server, h, live_document, tmp_path: Path):
    """A typo in the target (issue: exit 5 pointing at --force): the file was exported from svc1, the
    target does not exist. The live read comes first, so it is exit 3 with the not-found hint; nothing else is sent."""
    typo = h.WS_PATH[:-1]
    exported = tmp_path / "svc.json"
    server.expect_request(h.WS_PATH, method="GET", query_string=h.API).respond_with_json(live_document)
    assert run("export", h.WS_PATH, "-f", str(exported))[0] == 0
    server.clear()
    server.expect_request(typo, method="GET", query_string=h.API).respond_with_json(
        {"error": {"code": "ResourceNotFound", "message": "The Resource was not found."}}, status=404)
    code, out, err = run("update", typo, "--service-updates", str(exported), "--yes")
    assert code == 3, err
    assert "check the subscription, resource group and web service name (amlws list)" in err
    assert "exported from" not in err and "--force" not in err
    assert _methods(server) == [("GET", typo)]


def test_update_of_its_own_export_passes_and_says_what_it_verified(run, server, h, live_document, tmp_path: Path):
    wsd = tmp_path / "svc1.json"
    server.expect_ordered_request(h.WS_PATH, method="GET", query_string=h.API).respond_with_json(live_document)
    assert run("export", h.WS_PATH, "-f", str(wsd))[0] == 0
    assert run("patch-ilearner", str(wsd), "--uri", f"{h.NEW_BLOB}?{h.NEW_SAS}")[0] == 0
    server.expect_ordered_request(h.WS_PATH, method="GET", query_string=h.API).respond_with_json(live_document)
    _expect_update(server, h, live_document, _with_model(live_document, h.NEW_BLOB))
    code, out, err = run("update", h.WS_PATH, "--service-updates", str(wsd), "--yes", "-o", "json")
    assert code == 0, err
    result = json.loads(out)
    assert result["verified"] is True and result["modelUri"] == h.NEW_BLOB
    assert result["verification"] == "the service reports the trained-model location that was sent (asset3)"
    assert [m for m, _ in _methods(server)] == ["GET", "GET", "PATCH", "GET", "GET"]


def test_update_what_if_lists_the_model_blob_head_that_update_sends(run, server, h, live_document, tmp_path: Path, monkeypatch):
    """The plan names every request ``update`` sends: the storage HEAD of the new model blob (URL without
    SAS) between the live read and the PATCH; not with --no-check-model, nor when the model did not change."""
    monkeypatch.setenv("AMLWS_CHECK_MODEL", "1")  # the suite turns the check off (invented storage hosts)
    wsd = tmp_path / "svc1.json"
    server.expect_request(h.WS_PATH, method="GET", query_string=h.API).respond_with_json(live_document)
    assert run("export", h.WS_PATH, "-f", str(wsd))[0] == 0
    code, out, err = run("update", h.WS_PATH, "--service-updates", str(wsd), "--what-if", "-o", "json")
    assert code == 0, err
    assert "HEAD" not in [r["method"] for r in json.loads(out)["requests"]]  # the model is unchanged: no check
    assert run("patch-ilearner", str(wsd), "--uri", f"{h.NEW_BLOB}?{h.NEW_SAS}")[0] == 0
    code, out, err = run("update", h.WS_PATH, "--service-updates", str(wsd), "--what-if", "-o", "json")
    assert code == 0, err
    requests = json.loads(out)["requests"]
    assert [r["method"] for r in requests] == ["GET", "HEAD", "PATCH", "GET", "GET"]
    assert requests[1]["url"] == h.NEW_BLOB  # without the SAS
    code, out, err = run("update", h.WS_PATH, "--service-updates", str(wsd), "--what-if", "--no-check-model", "-o", "json")
    assert [r["method"] for r in json.loads(out)["requests"]] == ["GET", "PATCH", "GET", "GET"]
    assert {m for m, _ in _methods(server)} == {"GET"}  # --what-if sent nothing else


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_definition_files_with_a_sas_are_written_0600(run, server, h, live_document, tmp_path: Path):
    """patch-ilearner writes the full SAS into the file: owner-only, like the config and history files
    (export creates it 0600; patched in place it keeps that mode; -f OUT is created 0600)."""
    import stat

    wsd, out = tmp_path / "svc1.json", tmp_path / "patched.json"
    server.expect_request(h.WS_PATH, method="GET", query_string=h.API).respond_with_json(live_document)
    assert run("export", h.WS_PATH, "-f", str(wsd))[0] == 0
    assert stat.S_IMODE(wsd.stat().st_mode) == 0o600
    assert run("patch-ilearner", str(wsd), "--uri", f"{h.NEW_BLOB}?{h.NEW_SAS}")[0] == 0
    assert run("patch-ilearner", str(wsd), "--uri", f"{h.NEW_BLOB}?{h.NEW_SAS}", "-f", str(out))[0] == 0
    for f in (wsd, out):
        assert h.NEW_SAS in f.read_text(encoding="utf-8")
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f


def test_patch_ilearner_without_a_model_says_what_to_give(run, live_document, tmp_path: Path):
    from amlws.plugins.arm.definition import export_document

    wsd = tmp_path / "wsd.json"
    wsd.write_text(json.dumps(export_document(live_document)), encoding="utf-8")
    before = wsd.read_bytes()
    code, out, err = run("patch-ilearner", str(wsd))
    assert code == 2 and out == ""
    assert err.startswith("error: give the new model as exactly one of --uri, --bes-result, or --base-location")
    assert "(fix: e.g. --uri 'https://ACCOUNT.blob.core.windows.net/CONTAINER/model.ilearner?SAS'" in err
    assert wsd.read_bytes() == before


# --- 12.8: patch-ilearner prints what it wrote -------------------------------------------------------


def test_patch_ilearner_bes_result_prints_the_uri_it_wrote(run, live_document, h, tmp_path: Path):
    """ARM stores BaseLocation + RelativeLocation (no SAS) from a BES result: the printed modelUri is that."""
    from amlws.plugins.arm.definition import export_document

    wsd = tmp_path / "wsd.json"
    wsd.write_text(json.dumps(export_document(live_document)), encoding="utf-8")
    bes = {"StatusCode": "Finished", "Results": {"output2": {
        "ConnectionString": None, "RelativeLocation": "models/new.ilearner",
        "BaseLocation": "https://mystorage.blob.core.windows.net/", "SasBlobToken": "?" + h.NEW_SAS}}}
    code, out, err = run("patch-ilearner", str(wsd), "--bes-result", json.dumps(bes), "-o", "json")
    assert code == 0, err
    written = json.loads(wsd.read_text(encoding="utf-8"))["properties"]["assets"]["asset3"]["locationInfo"]["uri"]
    assert written == h.NEW_BLOB
    assert json.loads(out)["modelUri"] == written
    assert "sig" not in out and "SECRETSIGNATURE123" not in out + err


# --- 12.5: the model blob is HEADed before sending ----------------------------------------------------




def _blob_uri(blobs: HTTPServer, h) -> str:
    return f"http://127.0.0.1:{blobs.port}/devstoreaccount1/models/new.ilearner?{h.NEW_SAS}"


@pytest.mark.parametrize("status, code, message", [
    (404, 3, "the model blob does not exist"),
    (403, 4, "the model blob cannot be read with the SAS given"),
])
def test_update_refuses_a_model_blob_that_answers_404_or_403(run, server, h, live_document, tmp_path, blobs, status, code, message):
    uri = _blob_uri(blobs, h)
    wsd = tmp_path / "wsd.json"
    wsd.write_text(json.dumps(_with_model(live_document, uri)), encoding="utf-8")
    blobs.expect_request("/devstoreaccount1/models/new.ilearner", method="HEAD").respond_with_response(
        Response(status=status, headers={"x-ms-error-code": "BlobNotFound" if status == 404 else "AuthenticationFailed"}))
    server.expect_request(h.WS_PATH, method="GET", query_string=h.API).respond_with_json(live_document)
    rc, out, err = run("update", h.WS_PATH, "--service-updates", str(wsd), "--yes", "--check-model")
    assert rc == code, err
    assert message in err and "nothing was sent" in err
    assert "SECRETSIGNATURE123" not in err and "sig=" not in err
    (head, _), = blobs.log
    assert head.method == "HEAD" and head.args["sig"] == "SECRETSIGNATURE123" and head.args["sp"] == "r"  # with the SAS given
    assert _methods(server) == [("GET", h.WS_PATH)]  # no PATCH


def test_update_sends_after_a_readable_head_and_not_at_all_with_no_check_model(run, server, h, live_document, tmp_path, blobs):
    uri = _blob_uri(blobs, h)
    wsd = tmp_path / "wsd.json"
    wsd.write_text(json.dumps(_with_model(live_document, uri)), encoding="utf-8")
    blobs.expect_request("/devstoreaccount1/models/new.ilearner", method="HEAD").respond_with_data("")
    server.expect_ordered_request(h.WS_PATH, method="GET", query_string=h.API).respond_with_json(live_document)
    _expect_update(server, h, live_document, _with_model(live_document, uri))
    rc, out, err = run("update", h.WS_PATH, "--service-updates", str(wsd), "--yes", "--check-model", "-o", "json")
    assert rc == 0, err
    assert json.loads(out)["details"]["modelCheck"] == {"asset3": "readable (HEAD 200)"}
    assert [r.method for r, _ in blobs.log] == ["HEAD"]
    assert [m for m, _ in _methods(server)] == ["GET", "PATCH", "GET", "GET"]

    blobs.clear()
    server.clear()
    server.expect_ordered_request(h.WS_PATH, method="GET", query_string=h.API).respond_with_json(live_document)
    _expect_update(server, h, live_document, _with_model(live_document, uri))
    rc, out, err = run("update", h.WS_PATH, "--service-updates", str(wsd), "--yes", "--no-check-model", "-o", "json")
    assert rc == 0, err
    assert blobs.log == [] and "modelCheck" not in json.loads(out)["details"]


@pytest.mark.parametrize("where", ["refused", "no-dns"])
def test_update_goes_on_with_one_warning_when_the_storage_account_is_unreachable(run, server, h, live_document, tmp_path, where):
    """A private endpoint the service reaches and this machine does not: warn once, send."""
    import socket

    if where == "refused":
        with socket.socket() as s:  # a port nothing listens on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        uri = f"http://127.0.0.1:{port}/devstoreaccount1/models/new.ilearner?{h.NEW_SAS}"
    else:
        uri = f"https://acct.blob.core.invalid/models/new.ilearner?{h.NEW_SAS}"  # .invalid never resolves (RFC 2606)
    wsd = tmp_path / "wsd.json"
    wsd.write_text(json.dumps(_with_model(live_document, uri)), encoding="utf-8")
    server.expect_ordered_request(h.WS_PATH, method="GET", query_string=h.API).respond_with_json(live_document)
    _expect_update(server, h, live_document, _with_model(live_document, uri))
    rc, out, err = run("update", h.WS_PATH, "--service-updates", str(wsd), "--yes", "--check-model", "-o", "json")
    assert rc == 0, err
    assert err.count("WARNING") == 1 and "cannot check the model blob" in err and "the update goes on" in err
    assert "SECRETSIGNATURE123" not in err
    assert json.loads(out)["details"]["modelCheck"] == {"asset3": "not checked: the storage account cannot be reached from this machine"}
    assert [m for m, _ in _methods(server)] == ["GET", "PATCH", "GET", "GET"]


# --- 12.6: plain http ---------------------------------------------------------------------------------


def test_update_refuses_a_plain_http_model_uri_unless_allow_http(run, server, h, live_document, tmp_path: Path):
    uri = "http://mystorage.blob.core.windows.net/models/new.ilearner?" + h.NEW_SAS
    wsd = tmp_path / "wsd.json"
    wsd.write_text(json.dumps(_with_model(live_document, uri)), encoding="utf-8")
    server.expect_request(h.WS_PATH, method="GET", query_string=h.API).respond_with_json(live_document)
    code, out, err = run("update", h.WS_PATH, "--service-updates", str(wsd), "--yes")
    assert code == 2
    assert "plain http" in err and "https://mystorage.blob.core.windows.net/models/new.ilearner" in err and "--allow-http" in err
    assert "SECRETSIGNATURE123" not in err
    assert _methods(server) == [("GET", h.WS_PATH)]

    server.clear()
    server.expect_ordered_request(h.WS_PATH, method="GET", query_string=h.API).respond_with_json(live_document)
    _expect_update(server, h, live_document, _with_model(live_document, uri))
    code, out, err = run("update", h.WS_PATH, "--service-updates", str(wsd), "--yes", "--allow-http", "-o", "json")
    assert code == 0, err
    assert "plain http" in err
    patch = next(r for r, _ in server.log if r.method == "PATCH")
    assert json.loads(patch.get_data())["properties"]["assets"]["asset3"]["locationInfo"]["uri"] == uri


def test_service_difference_compares_whole_definitions_only(live_document):
    """``Update-AzMlWebService -Title`` is a partial file: it retitles on purpose. A whole definition
    (with a package) with another title, or another graph, is another service's."""
    from amlws.plugins.arm.definition import export_document, service_difference

    assert service_difference({"properties": {"packageType": "Graph", "title": "New title"}}, live_document) == ""
    assert service_difference(export_document(live_document), live_document) == ""
    retitled = export_document(live_document)
    retitled["properties"]["title"] = "New title"
    assert service_difference(retitled, live_document) == f"title 'New title' vs the live {live_document['properties']['title']!r}"
    rewired = export_document(live_document)
    rewired["properties"]["package"]["nodes"]["node5"] = {"assetId": "asset1"}
    assert service_difference(rewired, live_document) == "graph: 1 node(s) bound to other assets or ports"
