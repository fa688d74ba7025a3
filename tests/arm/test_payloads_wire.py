"""Large definitions on the wire: ``get``/``export`` follow ``payloadsLocation`` to the payload blob
(a second TLS server standing in for Azure Storage), and ``update`` sends the whole definition inline."""

from __future__ import annotations

import copy
import json
import ssl
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

SAS = "?sv=2019-02-02&sr=b&sp=r&sig=PAYLOADSIGNATURE42"
BLOB_PATH = "/payloads/svc1/payload.json"
PARTS = ("assets", "input", "output", "package", "parameters", "exampleRequest")


@pytest.fixture
def blob_server(ca: Any):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.start()
    yield server
    server.clear()
    server.stop()


def offloaded(live_document: dict[str, Any], blob_server: HTTPServer, credentials: str = SAS) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the GET body of a large service, the payload blob's JSON)."""
    doc = copy.deepcopy(live_document)
    props = doc["properties"]
    parts = {k: props.pop(k) for k in PARTS if k in props}
    props["payloadsInBlobStorage"] = True
    props["payloadsLocation"] = {"uri": f"https://127.0.0.1:{blob_server.port}{BLOB_PATH}", "credentials": credentials}
    return doc, parts


def test_get_follows_payloads_location_and_returns_the_whole_definition(run, server, blob_server, h, live_document):
    doc, parts = offloaded(live_document, blob_server)
    server.expect_request(h.WS_PATH, method="GET", query_string=h.API).respond_with_json(doc)
    blob_server.expect_request(BLOB_PATH, method="GET").respond_with_json(parts)
    code, out, err = run("get", h.WS_PATH, "-o", "json")
    assert code == 0, err
    got = json.loads(out)
    for key in PARTS:
        if key in parts:
            assert got["properties"][key] == parts[key], key
    assert got["properties"]["payloadsInBlobStorage"] is False and "payloadsLocation" not in got["properties"]
    (req, _), = blob_server.log
    assert req.args.get("sig") == "PAYLOADSIGNATURE42" and req.args.get("sp") == "r"
    assert "Authorization" not in req.headers  # the ARM token never goes to storage
    assert "PAYLOADSIGNATURE42" not in out + err


def test_export_then_patch_ilearner_finds_the_model_in_the_blob_payload(run, server, blob_server, h, live_document, tmp_path):
    doc, parts = offloaded(live_document, blob_server)
    server.expect_request(h.WS_PATH, method="GET").respond_with_json(doc)
    # PascalCase keys wrapped in "properties": the blob format is unverified, so both are read
    blob_server.expect_request(BLOB_PATH, method="GET").respond_with_json(
        {"Properties": {k[0].upper() + k[1:]: v for k, v in parts.items()}})
    f = tmp_path / "svc.json"
    code, out, err = run("export", h.WS_PATH, "-f", str(f))
    assert code == 0, err
    exported = json.loads(f.read_text(encoding="utf-8"))
    assert exported["properties"]["package"] == parts["package"]
    assert "payloadsLocation" not in exported["properties"] and "PAYLOADSIGNATURE42" not in f.read_text(encoding="utf-8")
    code, out, err = run("patch-ilearner", str(f), "--uri", h.NEW_BLOB + "?" + h.NEW_SAS)
    assert code == 0, err
    assert json.loads(f.read_text(encoding="utf-8"))["properties"]["assets"]["asset3"]["locationInfo"]["uri"].startswith(h.NEW_BLOB)


def test_update_of_a_large_service_sends_the_whole_definition_inline(run, server, blob_server, h, live_document, tmp_path):
    doc, parts = offloaded(live_document, blob_server)
    whole = copy.deepcopy(live_document)
    whole["properties"]["payloadsInBlobStorage"] = True  # as a hand-edited file might still say
    whole["properties"]["payloadsLocation"] = doc["properties"]["payloadsLocation"]
    f = tmp_path / "svc.json"
    f.write_text(json.dumps(whole), encoding="utf-8")
    status_url = f"https://127.0.0.1:{server.port}/subscriptions/{h.SUB}/providers/Microsoft.MachineLearning/locations/southcentralus/operationsStatus/op1"
    server.expect_request(h.WS_PATH, method="GET").respond_with_json(doc)
    server.expect_request(h.WS_PATH, method="PATCH").respond_with_json(
        {"properties": {"provisioningState": "Provisioning"}}, headers={"Azure-AsyncOperation": status_url + "?api-version=2017-01-01"})
    server.expect_request("/subscriptions/" + h.SUB + "/providers/Microsoft.MachineLearning/locations/southcentralus/operationsStatus/op1",
                          method="GET").respond_with_json({"status": "Succeeded"})
    blob_server.expect_request(BLOB_PATH, method="GET").respond_with_json(parts)
    code, out, err = run("update", h.WS_PATH, "--service-updates", str(f), "--yes", "-o", "json")
    assert code == 0, err
    (body,) = [json.loads(r.get_data()) for r, _ in server.log if r.method == "PATCH"]
    props = body["properties"]
    assert props["package"] == parts["package"] and props["assets"] == parts["assets"]
    assert "payloadsLocation" not in props and "payloadsInBlobStorage" not in props
    assert json.loads(out)["verified"] is True  # the final GET was completed from the blob
    assert "PAYLOADSIGNATURE42" not in out + err


def test_blob_errors_are_one_line_without_the_signature(run, server, blob_server, h, live_document):
    doc, _ = offloaded(live_document, blob_server)
    server.expect_request(h.WS_PATH, method="GET").respond_with_json(doc)
    blob_server.expect_request(BLOB_PATH, method="GET").respond_with_data(
        "<Error><Code>AuthenticationFailed</Code></Error>", status=403, content_type="application/xml")
    code, out, err = run("get", h.WS_PATH, "-o", "json")
    assert code == 4, err
    assert err.startswith("error: ") and "payload" in err and "PAYLOADSIGNATURE42" not in err
