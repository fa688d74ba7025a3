"""Classic endpoint -> BES/RRS URLs and key (``amlws_service_endpoints``): the endpoint's
``ApiLocation`` and ``PrimaryKey`` (REFERENCE §1.2: build the URLs from ``ApiLocation``), found
by the classic backend rather than by core."""

from __future__ import annotations

import json
from typing import Any

import pytest

#: Where the fake's endpoints say their BES/RRS live (the same local server, outside /workspaces).
EXEC = "/exec"


@pytest.fixture
def execution(fake: Any, httpserver: Any, cc: Any) -> Any:
    for endpoints in fake.endpoints.values():
        for name, doc in endpoints.items():
            doc["ApiLocation"] = httpserver.url_for(f"{EXEC}/workspaces/{cc.WS}/services/{name}id")
    return fake


def test_invoke_by_endpoint_url_uses_its_api_location_and_primary_key(run, execution, httpserver, cc, tmp_path) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text("age,income\n39,77516\n", encoding="utf-8")
    httpserver.expect_oneshot_request(
        f"{EXEC}/workspaces/{cc.WS}/services/ep01id/execute", method="POST",
        query_string={"api-version": "2.0", "details": "true"},
        headers={"Authorization": "Bearer primary-key-ep01-secret=="},
        json={"Inputs": {"input1": {"ColumnNames": ["age", "income"], "Values": [["39", "77516"]]}}, "GlobalParameters": {}},
    ).respond_with_json({"Results": {"output1": {"type": "DataTable", "value": {"ColumnNames": ["Scored Labels"], "Values": [["1"]]}}}})
    r = run("invoke", cc.ep_url(httpserver.url_for("/")), "--input-file", str(rows), "-o", "json")
    assert r.code == 0, r.err
    httpserver.check_assertions()
    assert r.json["outputs"]["output1"]["rows"] == [["1"]]
    assert execution.methods()[0] == f"GET /workspaces/{cc.WS}/webservices/{cc.SVC}/endpoints/ep01"
    assert "primary-key-ep01-secret==" not in r.out + r.err


def test_jobs_run_by_web_service_uses_its_default_endpoint(run, execution, httpserver, cc) -> None:
    """A web service without /endpoints/NAME: BES runs on its default endpoint (the docs' training walkthrough)."""
    base = f"{EXEC}/workspaces/{cc.WS}/services/defaultid/jobs"
    auth = {"Authorization": "Bearer primary-key-default-secret=="}
    httpserver.expect_oneshot_request(base, method="POST", query_string={"api-version": "2.0"}, headers=auth).respond_with_json("j1")
    httpserver.expect_oneshot_request(base + "/j1/start", method="POST", query_string={"api-version": "2.0"}, headers=auth).respond_with_data("")
    httpserver.expect_oneshot_request(base + "/j1", method="GET", query_string={"api-version": "2.0"}, headers=auth).respond_with_json(
        {"StatusCode": "Finished", "Results": {}})
    service_url = httpserver.url_for(f"/workspaces/{cc.WS}/webservices/{cc.TRAIN_SVC}")
    r = run("jobs", "run", "--target", service_url, "--job-config-string", '{"GlobalParameters": {"a": "1"}}',
            "--poll-interval", "0", "-o", "json")
    assert r.code == 0, r.err
    httpserver.check_assertions()
    assert r.json["status"] == "Finished"
    assert [f"{q.method} {q.path}" for q in execution.requests if q.path.startswith(EXEC)] == [
        f"POST {base}", f"POST {base}/j1/start", f"GET {base}/j1"]
    assert [m for m in execution.methods() if "/webservices/" in m] == [
        f"GET /workspaces/{cc.WS}/webservices/{cc.TRAIN_SVC}",
        f"GET /workspaces/{cc.WS}/webservices/{cc.TRAIN_SVC}/endpoints/default",
    ]


def test_endpoints_from_the_live_definition_need_no_second_read(host, execution, httpserver, cc) -> None:
    """retrain reads the live definition once; the smoke test's RRS URL and key come from that read."""
    target = host.resolve(cc.ep_url(httpserver.url_for("/")))
    live = host.get_definition(target)
    assert "PrimaryKey" not in live.document  # the keys are kept out of definitions
    before = len(execution.requests)
    endpoints = host.service_endpoints(target, definition=live)
    assert len(execution.requests) == before
    api = httpserver.url_for(f"{EXEC}/workspaces/{cc.WS}/services/ep01id")
    assert (endpoints.bes_url, endpoints.rrs_url) == (api + "/jobs", api + "/execute?api-version=2.0&details=true")
    assert endpoints.api_key == "primary-key-ep01-secret==" and "secret" not in repr(endpoints)
    assert json.dumps(endpoints.to_dict()).count("secret") == 0
