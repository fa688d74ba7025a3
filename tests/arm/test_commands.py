"""Targets and the other Az.MachineLearning web-service cmdlets over the wire:
get/list/new/remove/keys/add-region, errors, retries, credentials."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from werkzeug import Response

from amlws.config import Settings
from amlws.errors import UsageError
from amlws.host import Host

# --- targets --------------------------------------------------------------------------------------


def test_claims_web_service_ids_case_insensitively(pm, h):
    host = Host(pm, Settings(env={}))
    t = host.resolve(h.WS_PATH.lower().replace("/subscriptions", "subscriptions") + "/")
    assert t.backend == "arm"
    assert t.id == f"/subscriptions/{h.SUB}/resourceGroups/{h.RG}/providers/Microsoft.MachineLearning/webServices/{h.NAME}"
    assert t.parts == {"subscription": h.SUB, "resource_group": h.RG, "name": h.NAME}


@pytest.mark.parametrize(
    "target",
    [
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearning/commitmentPlans/plan1",
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct",
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearning/webServices/svc/listKeys",
    ],
)
def test_rejects_arm_ids_of_other_types(pm, target):
    host = Host(pm, Settings(env={}))
    with pytest.raises(UsageError, match=r"not a Microsoft.MachineLearning/webServices resource ID"):
        host.resolve(target)


def test_ignores_targets_that_are_not_arm_ids(pm):
    from amlws.plugins.arm import amlws_claim_target

    assert amlws_claim_target("https://management.azureml.net/workspaces/abc", Settings(env={})) is None
    assert amlws_claim_target("file:x.json", Settings(env={})) is None


def test_resource_group_and_name_with_subscription_from_env(pm, h):
    host = Host(pm, Settings(env={"AZURE_SUBSCRIPTION_ID": h.SUB}))
    t = host.resolve(None, options={"resource_group": h.RG, "name": h.NAME, "subscription": None})
    assert t.id == h.WS_PATH
    assert host.resolve(None, options={"resource_group": h.RG, "name": h.NAME, "subscription": "other"}).parts["subscription"] == "other"
    assert Host(pm, Settings(env={}, flags={"subscription": "flagsub"})).resolve(
        None, options={"resource_group": h.RG, "name": h.NAME}).parts["subscription"] == "flagsub"


def test_name_alone_is_not_an_arm_target(pm):
    from amlws.plugins.arm import amlws_target_from_options

    assert amlws_target_from_options({"name": "svc", "resource_group": None, "subscription": "s"}, Settings(env={})) is None
    assert amlws_target_from_options({"workspace": "w", "service": "s"}, Settings(env={})) is None


def test_missing_subscription_is_a_usage_error_and_nothing_is_sent(run, server, h):
    code, out, err = run("get", "-g", h.RG, "-n", h.NAME)
    assert code == 2
    assert "no ARM subscription" in err and "AZURE_SUBSCRIPTION_ID" in err
    assert server.log == []


# --- get ----------------------------------------------------------------------------------------------


def test_get_by_resource_group_and_name(run, server, h, live_document, monkeypatch):
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", h.SUB)
    server.expect_request(h.WS_PATH, method="GET", query_string=h.API).respond_with_json(live_document)
    code, out, err = run("get", "-g", h.RG, "-n", h.NAME, "-o", "json")
    assert code == 0, err
    assert json.loads(out) == live_document
    (req, _), = server.log
    h.assert_arm_request(req, "GET", h.WS_PATH)
    assert req.headers["User-Agent"].startswith("amlws/")


def test_get_region(run, server, h, live_document):
    server.expect_request(h.WS_PATH, method="GET").respond_with_json(live_document)
    code, out, err = run("get", h.WS_PATH, "--region", "Southeast Asia", "-o", "json")
    assert code == 0, err
    (req, _), = server.log
    h.assert_arm_request(req, "GET", h.WS_PATH, {"api-version": "2017-01-01", "region": "Southeast Asia"})


def test_get_not_found_exit_3_with_arm_error(run, server, h):
    server.expect_request(h.WS_PATH, method="GET").respond_with_json(
        {"error": {"code": "ResourceNotFound", "message": "The Resource 'Microsoft.MachineLearning/webServices/svc1' was not found."}},
        status=404, headers={"x-ms-request-id": "rid-404"},
    )
    code, out, err = run("get", h.WS_PATH)
    assert code == 3
    assert "ResourceNotFound" in err and "was not found" in err and "rid-404" in err
    assert out == ""


def test_get_unauthorized_exit_4(run, server, h):
    server.expect_request(h.WS_PATH, method="GET").respond_with_json(
        {"error": {"code": "InvalidAuthenticationToken", "message": "The access token is invalid."}}, status=401
    )
    code, out, err = run("get", h.WS_PATH)
    assert code == 4
    assert "InvalidAuthenticationToken" in err
    assert h.TOKEN not in err


def test_get_retries_503_and_429_honouring_retry_after(run, server, h, live_document):
    stamps: list[float] = []

    def respond(status, retry_after=None, body=None):
        def handler(_req):
            stamps.append(time.monotonic())
            headers = {"Retry-After": retry_after} if retry_after else {}
            return Response(json.dumps(body or {"error": {"code": "Busy", "message": "try later"}}), status=status,
                            content_type="application/json", headers=headers)
        return handler

    server.expect_ordered_request(h.WS_PATH, method="GET").respond_with_handler(respond(503, "0.3"))
    server.expect_ordered_request(h.WS_PATH, method="GET").respond_with_handler(respond(429, "0.3"))
    server.expect_ordered_request(h.WS_PATH, method="GET").respond_with_handler(respond(200, body=live_document))
    code, out, err = run("get", h.WS_PATH, "-o", "json")
    assert code == 0, err
    assert json.loads(out)["name"] == h.NAME
    assert len(server.log) == 3
    assert stamps[1] - stamps[0] >= 0.3 and stamps[2] - stamps[1] >= 0.3


def test_missing_service_principal_credentials_exit_4_nothing_sent(run, server, h, monkeypatch):
    monkeypatch.delenv("AMLWS_ARM_TOKEN")
    monkeypatch.setenv("AMLWS_CREDENTIAL", "service-principal")
    code, out, err = run("get", h.WS_PATH)
    assert code == 4
    assert "service-principal login needs tenant, client_id, client_secret or client_certificate" in err
    assert server.log == []


def test_unknown_cloud_is_a_usage_error(run, server, h):
    code, out, err = run("keys", h.WS_PATH, "--cloud", "Mars")
    assert code == 2 and "unknown cloud 'Mars'" in err
    assert server.log == []


def test_poll_interval_defaults_to_one_second_not_thirty():
    from amlws.plugins.arm.client import poll_interval

    assert poll_interval(Settings(env={})) == 1.0
    assert poll_interval(Settings(env={"AMLWS_POLL_INTERVAL": "0.25"})) == 0.25


def test_sovereign_cloud_endpoints():
    from amlws.plugins.arm.client import arm_endpoint, cloud_of

    assert cloud_of(Settings(env={}, flags={"cloud": "AzureChinaCloud"}))[1:] == ("login.chinacloudapi.cn", "https://management.chinacloudapi.cn")
    assert arm_endpoint(Settings(env={}, flags={"cloud": "azureusgovernment"})) == "https://management.usgovcloudapi.net"
    assert arm_endpoint(Settings(env={})) == "https://management.azure.com"
    assert arm_endpoint(Settings(env={"AMLWS_ARM_ENDPOINT": "https://127.0.0.1:9/"})) == "https://127.0.0.1:9"
    with pytest.raises(UsageError, match="must be https"):
        arm_endpoint(Settings(env={"AMLWS_ARM_ENDPOINT": "http://arm.example.com:9"}))
    # Plain http only to this machine (local test servers): the token never leaves it.
    assert arm_endpoint(Settings(env={"AMLWS_ARM_ENDPOINT": "http://127.0.0.1:9/"})) == "http://127.0.0.1:9"


def test_tls_is_verified(run, server, h, monkeypatch, tmp_path: Path):
    import trustme

    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    monkeypatch.setenv("AMLWS_CA_BUNDLE", str(other))
    code, out, err = run("get", h.WS_PATH, "--timeout", "5")
    assert code == 1
    assert "TLS verification failed" in err and "AMLWS_CA_BUNDLE" in err
    assert server.log == []


# --- list -------------------------------------------------------------------------------------------------


def test_list_resource_group_follows_next_link(run, server, h, monkeypatch):
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", h.SUB)
    coll = f"/subscriptions/{h.SUB}/resourceGroups/{h.RG}/providers/Microsoft.MachineLearning/webServices"
    def item(n: str) -> dict:
        return {"id": f"{coll}/{n}", "name": n, "type": "Microsoft.MachineLearning/webServices", "location": "West US",
                "properties": {"provisioningState": "Succeeded", "title": n.upper(), "packageType": "Graph"}}
    server.expect_ordered_request(coll, method="GET", query_string=h.API).respond_with_json(
        {"value": [item("a"), item("b")], "nextLink": server.url_for(coll) + "?api-version=2017-01-01&$skiptoken=page2"}
    )
    server.expect_ordered_request(coll, method="GET", query_string={"api-version": "2017-01-01", "$skiptoken": "page2"}).respond_with_json(
        {"value": [item("c")], "nextLink": server.url_for(coll) + "?$skiptoken=page3"}
    )
    server.expect_ordered_request(coll, method="GET", query_string={"$skiptoken": "page3", "api-version": "2017-01-01"}).respond_with_json(
        {"value": [item("d")]}
    )
    code, out, err = run("list", "--resource-group", h.RG, "-o", "json")
    assert code == 0, err
    assert [i["name"] for i in json.loads(out)] == ["a", "b", "c", "d"]
    server.check_assertions()
    for req, _ in server.log:
        assert req.headers["Authorization"] == f"Bearer {h.TOKEN}"


def test_list_table(run, server, h):
    coll = f"/subscriptions/{h.SUB}/providers/Microsoft.MachineLearning/webServices"
    server.expect_request(coll, method="GET").respond_with_json(
        {"value": [{"id": f"{coll}/zz", "name": "svc-zz", "location": "West US", "properties": {"title": "T1"}}]}
    )
    code, out, err = run("list", "--subscription", h.SUB)
    assert code == 0, err
    assert "svc-zz" in out and "West US" in out and "T1" in out


@pytest.mark.parametrize("width", [80, 120])
def test_list_table_keeps_names_whole_at_terminal_width(run, server, h, monkeypatch, width):
    """Two names sharing a long prefix stay whole and on one line with their location; the
    ids are cut in the middle, keeping their different ends; -o json keeps every id whole."""
    monkeypatch.setenv("COLUMNS", str(width))
    coll = f"/subscriptions/{h.SUB}/providers/Microsoft.MachineLearning/webServices"
    names = ["bike-rental-predictive", "bike-rental-predictive-2"]
    server.expect_request(coll, method="GET").respond_with_json({"value": [
        {"id": f"{coll}/{n}", "name": n, "location": "West Europe",
         "properties": {"provisioningState": "Succeeded", "title": "Bike rental predictive experiment [Predictive Exp.]"}}
        for n in names]})
    code, out, err = run("list", "--subscription", h.SUB)
    assert code == 0, err
    assert max(len(line) for line in out.splitlines()) <= width, out
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in out.splitlines() if "bike-rental" in line]
    assert [r[:3] for r in rows] == [[n, "West Europe", "Succeeded"] for n in names], out
    ends = [r[-1].partition("…")[2] for r in rows]
    assert all(ends) and ends[0] != ends[1] and all(f"{coll}/{n}".endswith(e) for n, e in zip(names, ends)), out
    code, out, err = run("list", "--subscription", h.SUB, "-o", "json")
    assert [i["id"] for i in json.loads(out)] == [f"{coll}/{n}" for n in names]


def test_list_subscription(run, server, h):
    coll = f"/subscriptions/{h.SUB}/providers/Microsoft.MachineLearning/webServices"
    server.expect_request(coll, method="GET", query_string=h.API).respond_with_json({"value": []})
    code, out, err = run("list", "--subscription", h.SUB, "-o", "json")
    assert code == 0, err
    assert json.loads(out) == []
    (req, _), = server.log
    h.assert_arm_request(req, "GET", coll)


# --- new ------------------------------------------------------------------------------------------------------


def test_new_checks_existence_then_puts_and_polls(run, server, h, live_document, tmp_path: Path):
    path = h.definition_file(tmp_path, live_document)
    server.expect_ordered_request(h.WS_PATH, method="GET", query_string=h.API).respond_with_json(
        {"error": {"code": "ResourceNotFound", "message": "not found"}}, status=404
    )
    server.expect_ordered_request(h.WS_PATH, method="PUT", query_string=h.API).respond_with_json(
        {"id": h.WS_PATH, "properties": {"provisioningState": "Provisioning"}}, status=201, headers=h.async_headers(server)
    )
    server.expect_ordered_request(h.op_path(), method="GET").respond_with_json({"status": "Provisioning"})
    server.expect_ordered_request(h.op_path(), method="GET").respond_with_json({"status": "Succeeded"})
    server.expect_ordered_request(h.WS_PATH, method="GET", query_string=h.API).respond_with_json(live_document)
    code, out, err = run("new", h.WS_PATH, "--definition-file", str(path), "--location", "South Central US", "--yes", "-o", "json")
    assert code == 0, err
    assert json.loads(out)["id"] == h.WS_PATH
    server.check_assertions()
    put = server.log[1][0]
    h.assert_arm_request(put, "PUT", h.WS_PATH)
    body = json.loads(put.get_data())
    assert body["location"] == "South Central US"
    assert body["properties"]["assets"] == live_document["properties"]["assets"]


def test_new_refuses_to_overwrite_existing_service(run, server, h, live_document, tmp_path: Path):
    path = h.definition_file(tmp_path, live_document)
    server.expect_request(h.WS_PATH, method="GET").respond_with_json(live_document)
    code, out, err = run("new", h.WS_PATH, "--definition-file", str(path), "--location", "West US", "--yes")
    assert code == 5
    assert "exists" in err and "--force" in err
    assert [r.method for r, _ in server.log] == ["GET"]


def test_new_force_saves_the_existing_service_to_history_then_puts(run, server, h, live_document, tmp_path: Path):
    path = h.definition_file(tmp_path, live_document)
    existing = {**live_document, "tags": {"was": "here"}}
    server.expect_ordered_request(h.WS_PATH, method="GET").respond_with_json(existing)
    server.expect_ordered_request(h.WS_PATH, method="PUT").respond_with_json(live_document, status=200)
    code, out, err = run("new", h.WS_PATH, "--definition-file", str(path), "--location", "West US", "--force", "--yes", "-o", "json")
    assert code == 0, err
    assert [r.method for r, _ in server.log] == ["GET", "PUT"]
    code, out, err = run("history", h.WS_PATH, "--revision", "1", "-o", "json")
    entry = json.loads(out)
    assert (entry["action"], entry["status"], entry["definition"]["tags"]) == ("new", "applied", {"was": "here"})


def test_new_needs_location_and_sends_nothing(run, server, h, live_document, tmp_path: Path):
    path = h.definition_file(tmp_path, live_document)
    code, out, err = run("new", h.WS_PATH, "--definition-file", str(path), "--yes")
    assert code == 2 and "--location" in err
    assert server.log == []


def test_new_what_if_sends_nothing(run, server, h, live_document, tmp_path: Path):
    path = h.definition_file(tmp_path, live_document)
    code, out, err = run("new", h.WS_PATH, "--definition-file", str(path), "--location", "West US", "--what-if", "-o", "json")
    assert code == 0, err
    plan = json.loads(out)
    assert [r["method"] for r in plan["requests"]] == ["GET", "PUT", "GET"]
    assert plan["requests"][1]["body"]["location"] == "West US"
    h.validate_request_body(plan["requests"][1]["body"])
    assert '"location": "West US"' in plan["diff"]
    assert server.log == []


def test_new_failed_lro(run, server, h, live_document, tmp_path: Path):
    path = h.definition_file(tmp_path, live_document)
    server.expect_ordered_request(h.WS_PATH, method="GET").respond_with_json({"error": {"code": "ResourceNotFound"}}, status=404)
    server.expect_ordered_request(h.WS_PATH, method="PUT").respond_with_json({}, status=201, headers=h.async_headers(server, "op9"))
    server.expect_ordered_request(h.op_path("op9"), method="GET").respond_with_json(
        {"status": "Failed", "error": {"code": "InternalError", "message": "boom"}}
    )
    code, out, err = run("new", h.WS_PATH, "--definition-file", str(path), "--location", "West US", "--force", "--yes")
    assert code == 1 and "InternalError" in err and "boom" in err and "req-op9-initial" in err
    code, out, err = run("history", h.WS_PATH, "-o", "json")
    assert [(r["action"], r["status"], r["note"]) for r in json.loads(out)] == [("new", "failed", "the web service did not exist")]


# --- remove -------------------------------------------------------------------------------------------------


def test_remove_202_polls_async_operation(run, server, h, live_document):
    server.expect_ordered_request(h.WS_PATH, method="GET", query_string=h.API).respond_with_json(live_document)
    server.expect_ordered_request(h.WS_PATH, method="DELETE", query_string=h.API).respond_with_data(
        "", status=202, headers=h.async_headers(server)
    )
    server.expect_ordered_request(h.op_path(), method="GET").respond_with_json({"status": "Provisioning"})
    server.expect_ordered_request(h.op_path(), method="GET").respond_with_json({"status": "Succeeded"})
    code, out, err = run("remove", h.WS_PATH, "--yes", "-o", "json")
    assert code == 0, err
    assert json.loads(out) == {"target": h.WS_PATH, "removed": True}
    server.check_assertions()
    h.assert_arm_request(server.log[1][0], "DELETE", h.WS_PATH)
    assert len(server.log) == 4
    # the removed service is in the local history: it can be re-created from there
    code, out, err = run("history", h.WS_PATH, "--revision", "1", "-o", "json")
    entry = json.loads(out)
    assert (entry["action"], entry["status"]) == ("remove", "applied")
    assert entry["definition"]["properties"]["assets"] == live_document["properties"]["assets"]


def test_remove_of_a_missing_service_sends_no_delete(run, server, h):
    server.expect_ordered_request(h.WS_PATH, method="GET").respond_with_json({"error": {"code": "ResourceNotFound", "message": "gone"}}, status=404)
    code, out, err = run("remove", h.WS_PATH, "--yes")
    assert code == 3 and "gone" in err
    assert [r.method for r, _ in server.log] == ["GET"]


def test_remove_204_is_done(run, server, h, live_document):
    server.expect_ordered_request(h.WS_PATH, method="GET").respond_with_json(live_document)
    server.expect_ordered_request(h.WS_PATH, method="DELETE").respond_with_data("", status=204)
    code, out, err = run("remove", h.WS_PATH, "--yes", "-o", "json")
    assert code == 0, err
    assert len(server.log) == 2


def test_remove_polls_location(run, server, h, live_document):
    loc = server.url_for("/subscriptions/x/operationresults/abc")
    server.expect_ordered_request(h.WS_PATH, method="GET").respond_with_json(live_document)
    server.expect_ordered_request(h.WS_PATH, method="DELETE").respond_with_data("", status=202, headers={"Location": loc})
    server.expect_ordered_request("/subscriptions/x/operationresults/abc", method="GET").respond_with_data("", status=202, headers={"Location": loc})
    server.expect_ordered_request("/subscriptions/x/operationresults/abc", method="GET").respond_with_data("", status=204)
    code, out, err = run("remove", h.WS_PATH, "--yes")
    assert code == 0, err
    assert [r.method for r, _ in server.log] == ["GET", "DELETE", "GET", "GET"]


def test_remove_needs_confirmation(run, server, h):
    code, out, err = run("remove", h.WS_PATH)
    assert code == 2 and "--yes" in err
    code, out, err = run("remove", h.WS_PATH, "--what-if", "-o", "json")
    assert code == 0 and [r["method"] for r in json.loads(out)["requests"]] == ["GET", "DELETE", "GET"]
    assert server.log == []


# --- keys -------------------------------------------------------------------------------------------------------


def test_keys_are_printed_and_registered_as_secrets(run, server, h):
    from amlws.redact import redact

    keys = {"primary": "primary-key-value-123", "secondary": "secondary-key-value-456"}
    server.expect_request(h.WS_PATH + "/listKeys", method="GET", query_string=h.API).respond_with_json(keys)
    code, out, err = run("keys", "--resource-group", h.RG, "--name", h.NAME, "--subscription", h.SUB, "-o", "json")
    assert code == 0, err
    assert json.loads(out) == keys
    (req, _), = server.log
    h.assert_arm_request(req, "GET", h.WS_PATH + "/listKeys")
    assert redact("log line primary-key-value-123") == "log line ***"


# --- add-region ------------------------------------------------------------------------------------------------------


def test_add_region_saves_history_posts_polls_then_gets_region(run, server, h, live_document, tmp_path):
    from amlws.safety.history import History

    server.expect_ordered_request(h.WS_PATH, method="GET", query_string={"api-version": "2017-01-01"}).respond_with_json(live_document)
    server.expect_ordered_request(h.WS_PATH + "/CreateRegionalBlob", method="POST",
                                  query_string={"api-version": "2017-01-01", "region": "Southeast Asia"}).respond_with_data(
        "", status=202, headers=h.async_headers(server, "op5")
    )
    server.expect_ordered_request(h.op_path("op5"), method="GET").respond_with_json({"status": "Provisioning"})
    server.expect_ordered_request(h.op_path("op5"), method="GET").respond_with_json({"status": "Succeeded"})
    server.expect_ordered_request(h.WS_PATH, method="GET",
                                  query_string={"api-version": "2017-01-01", "region": "Southeast Asia"}).respond_with_json(live_document)
    code, out, err = run("add-region", h.WS_PATH, "--region", "Southeast Asia", "--yes", "-o", "json")
    assert code == 0, err
    assert json.loads(out)["id"] == h.WS_PATH
    server.check_assertions()
    for req, _ in server.log:
        assert req.headers["Authorization"] == f"Bearer {h.TOKEN}"
    # the live web service is saved before the change, as for every other change (issue 14)
    [entry] = History().list(h.WS_PATH, definitions=True)
    assert (entry["action"], entry["status"], entry["note"]) == ("add-region", "applied", "region Southeast Asia")
    assert entry["definition"]["id"] == live_document["id"]


def test_add_region_failed(run, server, h, live_document):
    server.expect_ordered_request(h.WS_PATH, method="GET").respond_with_json(live_document)
    server.expect_ordered_request(h.WS_PATH + "/CreateRegionalBlob", method="POST").respond_with_data(
        "", status=202, headers=h.async_headers(server, "op6")
    )
    server.expect_ordered_request(h.op_path("op6"), method="GET").respond_with_json(
        {"status": "Failed", "errorInfo": {"code": "RegionNotSupported", "message": "no such region"}}
    )
    code, out, err = run("add-region", h.WS_PATH, "--region", "Mars", "--yes")
    assert code == 1 and "RegionNotSupported" in err and "req-op6-initial" in err
    assert len(server.log) == 3


def test_add_region_requires_region(run, server, h):
    code, out, err = run("add-region", h.WS_PATH, "--yes")
    assert code == 2 and "--region" in err
    assert server.log == []


# --- start-up cost ----------------------------------------------------------------------------------------------


def test_importing_cli_and_plugin_loads_no_azure_sdk():
    code = (
        "import sys, amlws.cli.application, amlws.plugins.arm, amlws.plugins.arm.commands, amlws.plugins.arm.service,"
        " amlws.plugins.arm.client, amlws.plugins.arm.definition, amlws.plugins.arm.ids;"
        "bad = sorted(m for m in sys.modules if m == 'azure' or m.startswith('azure.'));"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


# --- credentials (constructed only; nothing is sent) ---------------------------------------------------------------


def test_credential_kinds_and_sovereign_authority(tmp_path: Path):
    import azure.identity as identity

    from amlws.plugins.arm.client import StaticTokenCredential, make_credential
    from amlws.redact import redact

    sp = {"AMLWS_CREDENTIAL": "service-principal", "AZURE_TENANT_ID": "tenant1", "AZURE_CLIENT_ID": "client1",
          "AZURE_CLIENT_SECRET": "sp-secret-value-1", "AMLWS_CLOUD": "AzureChinaCloud"}
    cred = make_credential(Settings(env=sp))
    assert isinstance(cred, identity.ClientSecretCredential)
    assert "login.chinacloudapi.cn" in cred._authority
    assert redact("x sp-secret-value-1 y") == "x *** y"
    gov = make_credential(Settings(env={**sp, "AMLWS_CLOUD": "AzureUSGovernment"}))
    assert "login.microsoftonline.us" in gov._authority
    assert isinstance(make_credential(Settings(env={"AMLWS_CREDENTIAL": "cli"})), identity.AzureCliCredential)
    assert isinstance(make_credential(Settings(env={"AMLWS_CREDENTIAL": "managed-identity"})), identity.ManagedIdentityCredential)
    assert isinstance(make_credential(Settings(env={})), identity.DefaultAzureCredential)
    token = make_credential(Settings(env={"AMLWS_ARM_TOKEN": "static-token-value", "AMLWS_CREDENTIAL": "cli"}))
    assert isinstance(token, StaticTokenCredential)
    assert token.get_token("https://management.azure.com/.default").token == "static-token-value"
    with pytest.raises(UsageError, match="unknown credential kind"):
        make_credential(Settings(env={"AMLWS_CREDENTIAL": "password"}))


def test_add_region_times_out_cleanly(run, server, h, live_document):
    server.expect_ordered_request(h.WS_PATH, method="GET").respond_with_json(live_document)  # saved to history
    server.expect_ordered_request(h.WS_PATH + "/CreateRegionalBlob", method="POST").respond_with_data(
        "", status=202, headers=h.async_headers(server, "op7")
    )
    server.expect_request(h.op_path("op7"), method="GET").respond_with_json({"status": "Provisioning"})
    code, out, err = run("add-region", h.WS_PATH, "--region", "West Europe", "--yes", "--timeout", "0.3")
    assert code == 1
    assert "did not finish within 0.3 s" in err
    count = len(server.log)
    time.sleep(0.1)
    assert len(server.log) == count  # no polling left behind


def test_add_region_shows_the_operation_state_and_elapsed_time_on_stderr(run, server, h, live_document):
    import re

    server.expect_ordered_request(h.WS_PATH, method="GET").respond_with_json(live_document)  # saved to history
    server.expect_ordered_request(h.WS_PATH + "/CreateRegionalBlob", method="POST").respond_with_data(
        "", status=202, headers=h.async_headers(server, "op7")
    )
    for status in ("Provisioning", "Provisioning", "Succeeded"):
        server.expect_ordered_request(h.op_path("op7"), method="GET").respond_with_json({"status": status})
    server.expect_ordered_request(h.WS_PATH, method="GET").respond_with_json(live_document)
    code, out, err = run("add-region", h.WS_PATH, "--region", "Southeast Asia", "--yes", "-o", "json")
    assert code == 0, err
    assert json.loads(out)["id"] == h.WS_PATH
    subject = f"add region Southeast Asia to {h.NAME}"
    assert [re.sub(r"\(\d+s\)$", "(Ns)", ln) for ln in err.splitlines() if ln.startswith(subject)] == [
        f"{subject}: Accepted (Ns)", f"{subject}: Provisioning (Ns)", f"{subject}: Succeeded (Ns)",
    ], err
    server.check_assertions()
