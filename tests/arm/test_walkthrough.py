"""The documented retraining walkthrough (Get -> Export -> edit -> Import -> Update) as amlws
commands against a TLS stand-in for ARM: exact requests, nothing more."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from werkzeug import Response


def _final_document(live: dict, uri: str) -> dict:
    doc = copy.deepcopy(live)
    doc["properties"]["assets"]["asset3"]["locationInfo"]["uri"] = uri
    doc["properties"]["modifiedOn"] = "2017-04-12T01:00:00Z"
    return doc


def _expect_update(server, h, live, final, *, polls=("Provisioning", "Succeeded")):
    server.expect_ordered_request(h.WS_PATH, method="GET", query_string=h.API).respond_with_json(live)
    patched = {"id": h.WS_PATH, "name": h.NAME, "type": "Microsoft.MachineLearning/webServices",
               "location": live["location"], "tags": {}, "properties": {"provisioningState": "Provisioning"}}
    server.expect_ordered_request(h.WS_PATH, method="PATCH", query_string=h.API).respond_with_json(
        patched, headers=h.async_headers(server)
    )
    for i, status in enumerate(polls):
        body = {"id": h.op_path(), "name": "op1", "status": status, "percentComplete": 1.0 if status == "Succeeded" else 0.5}
        server.expect_ordered_request(h.op_path(), method="GET", query_string=h.API).respond_with_json(
            body, headers={"x-ms-request-id": f"poll-{i}"}
        )
    server.expect_ordered_request(h.WS_PATH, method="GET", query_string=h.API).respond_with_json(final)


def test_walkthrough_export_patch_import_update(run, server, h, live_document, tmp_path: Path):
    wsd = tmp_path / "mlservice_export.json"
    new_uri = f"{h.NEW_BLOB}?{h.NEW_SAS}"

    # Get + Export-AzMlWebService -OutputFile
    server.expect_ordered_request(h.WS_PATH, method="GET", query_string=h.API).respond_with_json(live_document)
    code, out, err = run("export", h.WS_PATH, "--output-file", str(wsd), "-o", "json")
    assert code == 0, err
    assert json.loads(out)["outputFile"] == str(wsd)
    exported = json.loads(wsd.read_text(encoding="utf-8"))
    for key in ("id", "name", "type"):
        assert key not in exported
    for key in ("createdOn", "modifiedOn", "provisioningState", "swaggerLocation"):
        assert key not in exported["properties"]
    assert exported["properties"]["assets"]["asset3"]["locationInfo"]["uri"] == h.OLD_URI
    h.validate_request_body(exported)

    # The hand edit: point [trained model] at the new .ilearner.
    code, out, err = run("patch-ilearner", str(wsd), "--uri", new_uri, "-o", "json")
    assert code == 0, err
    assert "SECRETSIGNATURE123" not in out
    patched = json.loads(wsd.read_text(encoding="utf-8"))
    assert patched["properties"]["assets"]["asset3"]["locationInfo"]["uri"] == new_uri
    assert patched["properties"]["assets"]["asset1"] == exported["properties"]["assets"]["asset1"]

    # Import-AzMlWebService: validates and prints the normalised definition; sends nothing.
    code, out, err = run("import", "--input-file", str(wsd))
    assert code == 0, err
    from amlws.redact import redact_obj

    assert json.loads(out) == redact_obj(patched)  # printed with the SAS signature masked
    assert "SECRETSIGNATURE123" not in out and "sig=***" in out

    # Update-AzMlWebService -ServiceUpdates
    final = _final_document(live_document, new_uri)
    _expect_update(server, h, live_document, final)
    code, out, err = run("update", h.WS_PATH, "--service-updates", str(wsd), "--yes", "-o", "json")
    assert code == 0, err
    result = json.loads(out)
    assert result["verified"] is True
    assert result["modelUri"] == h.NEW_BLOB
    assert result["backend"] == "arm"
    assert result["requests"] == 5  # GET, PATCH, 2 polls, final GET (the update's own requests)
    server.check_assertions()

    # Exactly: export GET | GET, PATCH, poll, poll, final GET.
    log = [req for req, _ in server.log]
    assert [(r.method, r.path) for r in log] == [
        ("GET", h.WS_PATH), ("GET", h.WS_PATH), ("PATCH", h.WS_PATH), ("GET", h.op_path()), ("GET", h.op_path()), ("GET", h.WS_PATH),
    ]
    for r in log:
        h.assert_arm_request(r, r.method, r.path)
    sent = json.loads(log[2].get_data())
    assert sent == patched  # the whole definition, as exported and patched, byte-for-byte in content
    assert list(sent) == list(patched)  # and in order
    assert log[2].get_data() == json.dumps(patched, ensure_ascii=False).encode("utf-8")


def test_update_reports_unverified_when_service_keeps_old_model(run, server, h, live_document, tmp_path: Path):
    wsd = tmp_path / "wsd.json"
    doc = copy.deepcopy(live_document)
    doc["properties"]["assets"]["asset3"]["locationInfo"]["uri"] = f"{h.NEW_BLOB}?{h.NEW_SAS}"
    wsd.write_text(json.dumps(doc), encoding="utf-8")
    _expect_update(server, h, live_document, live_document, polls=("Succeeded",))
    code, out, err = run("update", h.WS_PATH, "--service-updates", str(wsd), "--yes", "-o", "json")
    assert code == 0, err
    result = json.loads(out)
    assert result["verified"] is False
    assert result["details"]["assets"]["asset3"] == {"sent": h.NEW_BLOB, "live": h.OLD_URI, "match": False}
    # Read-only fields of the input file are not sent.
    patch = next(r for r, _ in server.log if r.method == "PATCH")
    body = h.validate_request_body(patch.get_data())
    assert "id" not in body and "provisioningState" not in body["properties"]


def test_update_refuses_other_storage_account_before_patch(run, server, h, live_document, tmp_path: Path):
    wsd = tmp_path / "wsd.json"
    doc = copy.deepcopy(live_document)
    doc["properties"]["storageAccount"] = {"name": "differentaccountname"}
    wsd.write_text(json.dumps(doc), encoding="utf-8")
    server.expect_request(h.WS_PATH, method="GET", query_string=h.API).respond_with_json(live_document)
    code, out, err = run("update", h.WS_PATH, "--service-updates", str(wsd), "--yes")
    assert code == 2
    assert "CannotChangeStorageAccount" in err and "differentaccountname" in err and h.STORAGE in err
    assert [r.method for r, _ in server.log] == ["GET"]  # no PATCH was sent


def test_update_failed_lro_is_an_error_with_initial_request_id(run, server, h, live_document, tmp_path: Path):
    wsd = tmp_path / "wsd.json"
    wsd.write_text(json.dumps(live_document), encoding="utf-8")
    server.expect_ordered_request(h.WS_PATH, method="GET", query_string=h.API).respond_with_json(live_document)
    server.expect_ordered_request(h.WS_PATH, method="PATCH", query_string=h.API).respond_with_json(
        {"properties": {"provisioningState": "Provisioning"}}, headers=h.async_headers(server)
    )
    server.expect_ordered_request(h.op_path(), method="GET", query_string=h.API).respond_with_json(
        {"status": "Provisioning"}, headers={"x-ms-request-id": "poll-1"}
    )
    server.expect_ordered_request(h.op_path(), method="GET", query_string=h.API).respond_with_json(
        {"status": "Failed", "error": {"code": "BadRequest", "message": "The request is invalid.",
                                       "details": [{"code": "InvalidAsset", "message": "asset3 cannot be read"}]}},
        headers={"x-ms-request-id": "poll-2"},
    )
    code, out, err = run("update", h.WS_PATH, "--service-updates", str(wsd), "--yes")
    assert code == 1
    assert "BadRequest" in err and "The request is invalid." in err and "InvalidAsset" in err and "asset3 cannot be read" in err
    assert "req-op1-initial" in err and "poll-2" not in err
    assert [r.method for r, _ in server.log] == ["GET", "PATCH", "GET", "GET"]  # no final GET after a failure


def test_update_failed_lro_with_spec_errorinfo_shape(run, server, h, live_document, tmp_path: Path):
    wsd = tmp_path / "wsd.json"
    wsd.write_text(json.dumps(live_document), encoding="utf-8")
    server.expect_ordered_request(h.WS_PATH, method="GET").respond_with_json(live_document)
    server.expect_ordered_request(h.WS_PATH, method="PATCH").respond_with_json({}, headers=h.async_headers(server))
    server.expect_ordered_request(h.op_path(), method="GET").respond_with_json(
        {"status": "Failed", "errorInfo": {"code": "ModelNotFound", "message": "the ilearner blob does not exist"}}
    )
    code, out, err = run("update", h.WS_PATH, "--service-updates", str(wsd), "--yes", "-o", "json")
    assert code == 1
    assert "ModelNotFound" in err and "the ilearner blob does not exist" in err and "req-op1-initial" in err


def test_update_arm_error_body_on_patch(run, server, h, live_document, tmp_path: Path):
    wsd = tmp_path / "wsd.json"
    wsd.write_text(json.dumps(live_document), encoding="utf-8")
    server.expect_ordered_request(h.WS_PATH, method="GET").respond_with_json(live_document)
    server.expect_ordered_request(h.WS_PATH, method="PATCH").respond_with_json(
        {"error": {"code": "BadRequest", "message": "The request is invalid.", "target": None,
                   "details": [{"code": "CannotChangeStorageAccount",
                                "message": "The StorageAccount cannot be changed. Currently configured storage account name = 'x' ."}]}},
        status=400, headers={"x-ms-request-id": "aa521ca0-6119-4bf0-83d0-dd83f0000006"},
    )
    code, out, err = run("update", h.WS_PATH, "--service-updates", str(wsd), "--yes")
    assert code == 2  # HTTP 400 -> usage/bad input
    assert "CannotChangeStorageAccount" in err and "aa521ca0-6119-4bf0-83d0-dd83f0000006" in err
    assert "storageAccount.name" in err  # the hint names the fix
    assert [r.method for r, _ in server.log] == ["GET", "PATCH"]


def test_update_polls_at_retry_after(run, server, h, live_document, tmp_path: Path):
    import time

    wsd = tmp_path / "wsd.json"
    wsd.write_text(json.dumps(live_document), encoding="utf-8")
    server.expect_ordered_request(h.WS_PATH, method="GET").respond_with_json(live_document)
    server.expect_ordered_request(h.WS_PATH, method="PATCH").respond_with_json({}, headers=h.async_headers(server))
    stamps: list[float] = []

    def poll(status, retry_after=None):
        def handler(_request):
            stamps.append(time.monotonic())
            headers = {"Retry-After": retry_after} if retry_after else {}
            return Response(json.dumps({"status": status}), content_type="application/json", headers=headers)

        return handler

    server.expect_ordered_request(h.op_path(), method="GET").respond_with_handler(poll("Provisioning", "0.4"))
    server.expect_ordered_request(h.op_path(), method="GET").respond_with_handler(poll("Succeeded"))
    server.expect_ordered_request(h.WS_PATH, method="GET").respond_with_json(live_document)
    start = time.monotonic()
    code, out, err = run("update", h.WS_PATH, "--service-updates", str(wsd), "--yes", "-o", "json")
    assert code == 0, err
    assert len(stamps) == 2 and stamps[1] - stamps[0] >= 0.4  # waited for Retry-After, not the 0.01 s poll interval
    assert time.monotonic() - start < 5  # and not the SDK's 30 s default


def test_update_needs_confirmation_without_yes(run, server, h, live_document, tmp_path: Path):
    wsd = tmp_path / "wsd.json"
    wsd.write_text(json.dumps(live_document), encoding="utf-8")
    code, out, err = run("update", h.WS_PATH, "--service-updates", str(wsd))
    assert code == 2
    assert "--yes" in err
    assert server.log == []


def test_update_what_if_sends_no_change(run, server, h, live_document, tmp_path: Path):
    wsd = tmp_path / "wsd.json"
    doc = copy.deepcopy(live_document)
    doc["properties"]["assets"]["asset3"]["locationInfo"]["uri"] = f"{h.NEW_BLOB}?{h.NEW_SAS}"
    wsd.write_text(json.dumps(doc), encoding="utf-8")
    server.expect_request(h.WS_PATH, method="GET").respond_with_json(live_document)
    code, out, err = run("update", h.WS_PATH, "--service-updates", str(wsd), "--what-if", "-o", "json")
    assert code == 0, err
    plan = json.loads(out)
    assert [r["method"] for r in plan["requests"]][:2] == ["GET", "PATCH"]
    assert plan["requests"][1]["url"].endswith(h.WS_PATH + "?api-version=2017-01-01")
    assert "new.ilearner" in plan["diff"] and "SECRETSIGNATURE123" not in out
    assert all(r.method == "GET" for r, _ in server.log)  # read-only look-up only; nothing changed


def test_update_final_state_failed_is_an_error(run, server, h, live_document, tmp_path: Path):
    wsd = tmp_path / "wsd.json"
    wsd.write_text(json.dumps(live_document), encoding="utf-8")
    failed = copy.deepcopy(live_document)
    failed["properties"]["provisioningState"] = "Failed"
    _expect_update(server, h, live_document, failed, polls=("Succeeded",))
    code, out, err = run("update", h.WS_PATH, "--service-updates", str(wsd), "--yes")
    assert code == 1 and "provisioningState Failed" in err


def test_update_shows_the_operation_state_and_elapsed_time_on_stderr(run, server, h, live_document, tmp_path: Path):
    """Issue 12: update was silent for the whole wait; now each state of the long-running
    operation is a line on stderr (no terminal here), stdout keeps only the JSON result."""
    import re

    wsd = tmp_path / "wsd.json"
    wsd.write_text(json.dumps(live_document), encoding="utf-8")
    _expect_update(server, h, live_document, live_document, polls=("Provisioning", "Provisioning", "Succeeded"))
    code, out, err = run("update", h.WS_PATH, "--service-updates", str(wsd), "--yes", "-o", "json")
    assert code == 0, err
    assert json.loads(out)["backend"] == "arm"
    lines = [ln for ln in err.splitlines() if ln.startswith(f"update {h.NAME}: ")]
    assert [re.sub(r"\(\d+s\)$", "(Ns)", ln) for ln in lines] == [
        f"update {h.NAME}: InProgress (Ns)", f"update {h.NAME}: Provisioning (Ns)", f"update {h.NAME}: Succeeded (Ns)",
    ], err
    server.check_assertions()
