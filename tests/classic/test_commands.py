"""``amlws classic services|endpoints``: the AzureMLPS cmdlets over the wire (REFERENCE §3.1-3.9)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from amlws.errors import ExitCode


def _ids(cc: Any, endpoint: str | None = "ep01", svc: str | None = None) -> list[str]:
    args = ["--workspace", cc.WS, "--service", svc or cc.SVC]
    if endpoint is not None:
        args += ["--endpoint", endpoint]
    return args


def _mutations(fake: Any) -> list[str]:
    return [f"{q.method} {q.path}" for q in fake.requests if q.method != "GET"]


# --- services -----------------------------------------------------------------------------


def test_services_list(fake, run, cc) -> None:
    r = run("classic", "services", "list", "--workspace", cc.WS, "-o", "json")
    assert r.code == 0, r.err
    assert [s["Id"] for s in r.json] == [cc.SVC, cc.TRAIN_SVC]
    assert r.json[0]["Extra"] == 1  # unknown fields kept
    (req,) = fake.requests
    assert (req.method, req.path, req.query_string) == ("GET", f"/workspaces/{cc.WS}/webservices", b"")
    assert req.headers["Authorization"] == f"Bearer {cc.TOKEN}"


def test_services_list_table(fake, run, cc, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    r = run("classic", "services", "list", "--workspace", cc.WS)
    assert r.code == 0, r.err
    assert "Census [predictive exp.]" in r.out and "DefaultEndpointName" in r.out


def test_services_get_by_url(fake, run, cc, httpserver) -> None:
    url = f"{httpserver.url_for('/')}workspaces/{cc.WS}/webservices/{cc.SVC}"
    r = run("classic", "services", "get", url, "-o", "json")
    assert r.code == 0, r.err
    assert r.json["DefaultEndpointName"] == "default"
    assert fake.methods() == [f"GET /workspaces/{cc.WS}/webservices/{cc.SVC}"]


def test_services_remove(fake, run, cc) -> None:
    r = run("classic", "services", "remove", "--workspace", cc.WS, "--service", cc.TRAIN_SVC, "--yes")
    assert r.code == 0, r.err
    assert 'Web service "Census [training exp.]" was removed.' in r.out
    assert _mutations(fake) == [f"DELETE /workspaces/{cc.WS}/webservices/{cc.TRAIN_SVC}"]
    assert cc.TRAIN_SVC not in fake.services


def test_services_remove_what_if_and_unconfirmed_send_nothing(fake, run, cc) -> None:
    r = run("classic", "services", "remove", "--workspace", cc.WS, "--service", cc.SVC, "--what-if", "-o", "json")
    assert r.code == 0, r.err
    assert r.json["requests"] == [{"method": "DELETE", "url": f"{fake.server.url_for('/')}workspaces/{cc.WS}/webservices/{cc.SVC}"}]
    assert fake.requests == []
    r = run("classic", "services", "remove", "--workspace", cc.WS, "--service", cc.SVC)
    assert r.code == ExitCode.USAGE and "--yes" in r.err
    assert _mutations(fake) == []


# --- endpoints list/get ----------------------------------------------------------------------


def test_endpoints_list_and_get(fake, run, cc) -> None:
    r = run("classic", "endpoints", "list", *_ids(cc, None), "-o", "json")
    assert r.code == 0, r.err
    assert [e["Name"] for e in r.json] == ["default", "ep01"]
    assert "PrimaryKey" not in r.out
    r = run("classic", "endpoints", "list", *_ids(cc, None), "--show-keys", "-o", "json")
    assert r.json[1]["SecondaryKey"] == "secondary-key-ep01-secret=="
    r = run("classic", "endpoints", "list", *_ids(cc, None))
    assert r.code == 0 and "ep01" in r.out and "secret" not in r.out
    assert "PrimaryKey" not in r.out
    r = run("classic", "endpoints", "get", *_ids(cc), "-o", "json")
    assert r.code == 0, r.err
    assert r.json["Resources"][0]["Name"] == cc.MODEL
    assert "PrimaryKey" not in r.json and "secret" not in r.out
    r = run("classic", "endpoints", "get", *_ids(cc), "--show-keys", "--query", "PrimaryKey", "-o", "json")
    assert r.code == 0 and r.json == "primary-key-ep01-secret=="
    assert fake.methods()[-1] == f"GET /workspaces/{cc.WS}/webservices/{cc.SVC}/endpoints/ep01"


# --- add -------------------------------------------------------------------------------------


def test_endpoints_add_sends_the_documented_body(fake, run, cc) -> None:
    r = run("classic", "endpoints", "add", *_ids(cc, "ep02"), "--description", "Région Nord", "--throttle-level", "high",
            "--max-concurrent-calls", "50", "--yes", "-o", "json")
    assert r.code == 0, r.err
    # a GET first: the endpoint as it was (here: none) goes to the local history before the PUT
    assert fake.methods() == [f"GET /workspaces/{cc.WS}/webservices/{cc.SVC}/endpoints/ep02",
                              f"PUT /workspaces/{cc.WS}/webservices/{cc.SVC}/endpoints/ep02"]
    req = fake.requests[1]
    assert (req.method, req.path, req.query_string) == ("PUT", f"/workspaces/{cc.WS}/webservices/{cc.SVC}/endpoints/ep02", b"")
    assert req.headers["Authorization"] == f"Bearer {cc.TOKEN}"
    assert req.headers["Content-Type"] == "application/json; charset=utf-8"
    assert req.get_data() == '{"Description":"Région Nord","ThrottleLevel":"High","MaxConcurrentCalls":50}'.encode()
    assert r.json["added"] is True and r.json["endpointObject"]["Name"] == "ep02"
    assert r.json["message"] == 'Web service endpoint "ep02" was successfully added.'


def test_endpoints_add_defaults_and_prevent_update(fake, run, cc) -> None:
    r = run("classic", "endpoints", "add", *_ids(cc, "ep03"), "--prevent-update", "--yes")
    assert r.code == 0, r.err
    assert json.loads(fake.requests[-1].get_data()) == {"Description": None, "ThrottleLevel": "Low", "MaxConcurrentCalls": None, "PreventUpdate": True}
    assert 'Web service endpoint "ep03" was successfully added.' in r.out


def test_endpoints_add_low_with_max_calls_warns_and_sends_null(fake, run, cc) -> None:
    r = run("classic", "endpoints", "add", *_ids(cc, "ep04"), "--max-concurrent-calls", "10", "--yes")
    assert r.code == 0, r.err
    assert "When ThrottleLevel is set to Low, MaxConcurrentCalls is automatically set to the default value of 4." in r.err
    assert json.loads(fake.requests[-1].get_data()) == {"Description": None, "ThrottleLevel": "Low", "MaxConcurrentCalls": None}


@pytest.mark.parametrize("calls", ["0", "201", "-5"])
def test_endpoints_add_max_calls_out_of_range_sends_nothing(fake, run, cc, calls: str) -> None:
    r = run("classic", "endpoints", "add", *_ids(cc, "ep05"), "--throttle-level", "High", f"--max-concurrent-calls={calls}", "--yes")
    assert r.code == ExitCode.USAGE and "between 1 and 200" in r.err
    assert fake.requests == []


@pytest.mark.parametrize("name", ["EP05", "ep-05", "x" * 25])
def test_endpoints_add_bad_name_sends_nothing(fake, run, cc, name: str) -> None:
    r = run("classic", "endpoints", "add", *_ids(cc, name), "--yes")
    assert r.code == ExitCode.USAGE and "1-24 lowercase letters or digits" in r.err
    assert fake.requests == []


def test_endpoints_add_bad_throttle_sends_nothing(fake, run, cc) -> None:
    r = run("classic", "endpoints", "add", *_ids(cc, "ep06"), "--throttle-level", "Medium", "--yes")
    assert r.code == ExitCode.USAGE and "Low or High" in r.err
    assert fake.requests == []


def test_endpoints_add_what_if(fake, run, cc) -> None:
    r = run("classic", "endpoints", "add", *_ids(cc, "ep07"), "--what-if", "-o", "json")
    assert r.code == 0, r.err
    assert [q["method"] for q in r.json["requests"]] == ["GET", "PUT"]
    assert r.json["requests"][1]["body"] == {"Description": None, "ThrottleLevel": "Low", "MaxConcurrentCalls": None}
    assert fake.requests == []
    r = run("classic", "endpoints", "add", *_ids(cc, "ep07"), "--description", "é", "--what-if")
    assert r.code == 0 and '{"Description": "é", "ThrottleLevel": "Low", "MaxConcurrentCalls": null}' in r.out
    assert fake.requests == []


def test_bad_ids_and_location_send_nothing(fake, run, cc, monkeypatch) -> None:
    r = run("classic", "endpoints", "add", "--workspace", "nothex", "--service", cc.SVC, "--endpoint", "ep08", "--yes")
    assert r.code == ExitCode.USAGE and "invalid workspace id 'nothex'" in r.err
    r = run("classic", "endpoints", "add", "--workspace", cc.WS, "--service", "123", "--endpoint", "ep08", "--yes")
    assert r.code == ExitCode.USAGE and "invalid web service id '123'" in r.err
    monkeypatch.delenv("AMLWS_CLASSIC_ENDPOINT")
    r = run("classic", "endpoints", "add", *_ids(cc, "ep08"), "--location", "North Pole", "--yes")
    assert r.code == ExitCode.USAGE and "unknown classic location 'North Pole'" in r.err and "West Central US" in r.err
    assert fake.requests == []


# --- remove ---------------------------------------------------------------------------------


def test_endpoints_remove(fake, run, cc) -> None:
    r = run("classic", "endpoints", "remove", *_ids(cc), "--yes")
    assert r.code == 0, r.err
    assert 'Web service endpoint "ep01" was successfully removed.' in r.out
    assert _mutations(fake) == [f"DELETE /workspaces/{cc.WS}/webservices/{cc.SVC}/endpoints/ep01"]
    assert fake.requests[-1].get_data() == b""
    # the removed endpoint is in the local history, without its keys
    r = run("history", *_ids(cc), "--revision", "1", "-o", "json")
    assert r.code == 0, r.err
    assert (r.json["action"], r.json["status"], r.json["definition"]["Name"]) == ("endpoint-remove", "applied", "ep01")
    assert "secret" not in r.out


def test_endpoint_changes_are_recorded_in_history(fake, run, cc) -> None:
    assert run("classic", "endpoints", "add", *_ids(cc, "ep09"), "--yes").code == 0
    assert run("classic", "endpoints", "refresh", *_ids(cc, "ep09"), "--yes").code == 0
    r = run("history", *_ids(cc, "ep09"), "-o", "json")
    assert [(e["revision"], e["action"], e["status"], e["note"]) for e in r.json] == [
        (1, "endpoint-add", "applied", "the endpoint did not exist"), (2, "endpoint-refresh", "applied", None)]
    fake.server.log.clear()
    r = run("classic", "services", "remove", "--workspace", cc.WS, "--service", cc.TRAIN_SVC, "--yes")
    assert r.code == 0, r.err
    r = run("history", f"{fake.server.url_for('/')}workspaces/{cc.WS}/webservices/{cc.TRAIN_SVC}", "-o", "json")
    assert r.code == 0, r.err
    assert [(e["action"], e["status"]) for e in r.json] == [("remove", "applied")]


def test_endpoints_remove_default_while_others_exist_sends_nothing(fake, run, cc) -> None:
    r = run("classic", "endpoints", "remove", *_ids(cc, "default"), "--yes")
    assert r.code == ExitCode.CONFLICT
    assert "cannot remove the default endpoint" in r.err and "remove the other endpoints first" in r.err
    assert _mutations(fake) == []


def test_endpoints_remove_default_alone_is_allowed(fake, run, cc) -> None:
    r = run("classic", "endpoints", "remove", *_ids(cc, "default", cc.TRAIN_SVC), "--yes")
    assert r.code == 0, r.err
    assert _mutations(fake) == [f"DELETE /workspaces/{cc.WS}/webservices/{cc.TRAIN_SVC}/endpoints/default"]


# --- refresh --------------------------------------------------------------------------------------


@pytest.mark.parametrize("flag, body, message", [
    ([], b'{"OverwriteResources": "False"}', 'Endpoint "ep01" is refreshed.'),
    (["--overwrite-resources"], b'{"OverwriteResources": "True"}', 'Endpoint "ep01" and the Trained Model(s) are refreshed.'),
])
def test_endpoints_refresh_body(fake, run, cc, flag: list[str], body: bytes, message: str) -> None:
    r = run("classic", "endpoints", "refresh", *_ids(cc), *flag, "--yes")
    assert r.code == 0, r.err
    assert message in r.out
    post = fake.requests[-1]
    assert (post.method, post.path, post.query_string) == ("POST", f"/workspaces/{cc.WS}/webservices/{cc.SVC}/endpoints/ep01/refresh", b"")
    assert post.get_data() == body
    assert post.headers["Content-Type"] == "application/json; charset=utf-8"
    assert post.headers["Authorization"] == f"Bearer {cc.TOKEN}"


def test_endpoints_refresh_304_is_no_change(fake, run, cc) -> None:
    fake.refresh_status = 304
    r = run("classic", "endpoints", "refresh", *_ids(cc), "--yes", "-o", "json")
    assert r.code == 0, r.err
    assert r.json["refreshed"] is False
    assert r.json["message"] == 'No change detected, so endpoint "ep01" is NOT refreshed.'
    # nothing changed: no history revision (it would make a plain `amlws rollback` a no-op)
    r = run("history", *_ids(cc), "-o", "json")
    assert r.code == ExitCode.NOT_FOUND and "no history for" in r.err
    fake.refresh_status = 200
    assert run("classic", "endpoints", "refresh", *_ids(cc), "--yes").code == 0
    assert [(e["revision"], e["action"], e["status"]) for e in run("history", *_ids(cc), "-o", "json").json] == [
        (1, "endpoint-refresh", "applied")]


def test_endpoints_refresh_default_sends_nothing(fake, run, cc) -> None:
    r = run("classic", "endpoints", "refresh", *_ids(cc, "default"), "--yes")
    assert r.code == ExitCode.USAGE and "cannot refresh the default endpoint" in r.err
    assert fake.requests == []


def test_endpoints_refresh_default_by_default_endpoint_name(fake, run, cc) -> None:
    # A service whose default endpoint is not called "default": the web service says which it is.
    fake.add_service("1f3e3f32ad393852f9b30ac9a35b0003", "Other", default="main")
    r = run("classic", "endpoints", "refresh", *_ids(cc, "main", "1f3e3f32ad393852f9b30ac9a35b0003"), "--yes")
    assert r.code == ExitCode.USAGE and "cannot refresh the default endpoint 'main'" in r.err
    assert _mutations(fake) == []


# --- server errors ------------------------------------------------------------------------------


def test_401_is_the_auth_exit_code_with_the_detail_code(fake, run, cc, monkeypatch) -> None:
    monkeypatch.setenv("AMLWS_WORKSPACE_TOKEN", "wrong-token-xyz")
    r = run("classic", "endpoints", "get", *_ids(cc), "--debug")
    assert r.code == ExitCode.AUTH
    assert "ManagementRequestUnauthorized" in r.err and "workspace token" in r.err
    assert "wrong-token-xyz" not in r.err and cc.TOKEN not in r.err


def test_404_is_not_found_with_the_detail_code(fake, run, cc) -> None:
    r = run("classic", "endpoints", "get", *_ids(cc, "ep01", "ffffffffffffffffffffffffffffffff"))
    assert r.code == ExitCode.NOT_FOUND
    assert "WebServiceIdNotFoundInWorkspace" in r.err and "check --workspace and --service" in r.err


def test_non_json_error_body(run, cc, httpserver, classic_env) -> None:
    httpserver.expect_request(f"/workspaces/{cc.WS}/webservices").respond_with_data("Bad Gateway from the front door", status=502)
    httpserver.expect_request(f"/workspaces/{cc.WS}/webservices/{cc.SVC}").respond_with_data("<html>nope</html>", status=400)
    r = run("classic", "services", "get", *_ids(cc, None))
    assert r.code == ExitCode.USAGE and "HTTP 400" in r.err and "<html>nope</html>" in r.err
    assert len(httpserver.log) == 1  # 400 is not retried


def test_retry_after_is_honoured(run, cc, httpserver, classic_env) -> None:
    from werkzeug import Response

    answers = [Response("busy", status=503, headers={"Retry-After": "0"}), Response("[]", status=200, content_type="application/json")]
    httpserver.expect_request(f"/workspaces/{cc.WS}/webservices").respond_with_handler(lambda req: answers.pop(0))
    r = run("classic", "services", "list", "--workspace", cc.WS, "-o", "json")
    assert r.code == 0, r.err
    assert r.json == [] and len(httpserver.log) == 2


def test_missing_token_is_an_auth_error(fake, run, cc, monkeypatch) -> None:
    monkeypatch.delenv("AMLWS_WORKSPACE_TOKEN")
    r = run("classic", "endpoints", "list", *_ids(cc, None))
    assert r.code == ExitCode.AUTH and "no workspace token" in r.err and "AMLWS_WORKSPACE_TOKEN" in r.err
    assert fake.requests == []


def test_api_key_works_instead_of_the_workspace_token(fake, run, cc, monkeypatch) -> None:
    monkeypatch.delenv("AMLWS_WORKSPACE_TOKEN")
    monkeypatch.setenv("AMLWS_API_KEY", cc.TOKEN)  # the fake accepts this value either way
    r = run("classic", "endpoints", "list", *_ids(cc, None))
    assert r.code == 0, r.err
    (req, _), = fake.server.log
    assert req.method == "GET" and req.path.endswith("/endpoints")
    assert req.headers["Authorization"] == f"Bearer {cc.TOKEN}"
