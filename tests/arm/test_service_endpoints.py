"""ARM web service id -> BES/RRS URLs and key (``amlws_service_endpoints``): ``amlws invoke``,
``amlws jobs`` and ``amlws retrain`` take the web service instead of URLs worked out by hand.

ARM is the TLS test server; the web service's ``swaggerLocation`` points at a second local
server standing in for ``{region}.services.azureml.net``, so each test sees exactly which
URL, query and ``Authorization`` header every call carried."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

PRIMARY = "arm-primary-key-0123456789=="
SECONDARY = "arm-secondary-key-9876543210=="
API_PATH = "/subscriptions/0000000011112222333344444444/services/f00dfeed0123456789abcdef01234567"
EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "specs" / "arm" / "stable-2017-01-01" / "examples" / "getWebService.json"


@pytest.fixture
def scoring(httpserver: HTTPServer) -> HTTPServer:
    """``https://{region}.services.azureml.net`` stand-in (plain http on loopback)."""
    return httpserver


@pytest.fixture
def service(server: HTTPServer, h: Any, live_document: dict[str, Any], scoring: HTTPServer) -> dict[str, Any]:
    """The live web service (its swaggerLocation on the scoring server) and its keys on ARM."""
    doc = json.loads(json.dumps(live_document))
    doc["properties"]["swaggerLocation"] = scoring.url_for(API_PATH + "/swagger.json")
    server.expect_request(h.WS_PATH, method="GET", query_string=h.API).respond_with_json(doc)
    server.expect_request(h.WS_PATH + "/listKeys", method="GET", query_string=h.API).respond_with_json(
        {"primary": PRIMARY, "secondary": SECONDARY})
    return doc


def arm_calls(server: HTTPServer) -> list[str]:
    return [f"{r.method} {r.path}" for r, _ in server.log]


def test_swagger_location_of_the_spec_example_gives_the_api_location() -> None:
    from amlws.model import Target
    from amlws.plugins.arm.service import api_location_from_swagger

    example = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    swagger = example["responses"]["200"]["body"]["properties"]["swaggerLocation"]
    assert swagger == "https://ussouthcentral.services.azureml.net/subscriptions/subscriptionId/services/serviceId/swagger.json"
    api = api_location_from_swagger(swagger, Target("arm", "/subscriptions/s/x"))
    assert api == "https://ussouthcentral.services.azureml.net/subscriptions/subscriptionId/services/serviceId"


def test_invoke_by_resource_id_scores_beside_the_swagger_location_with_the_primary_key(
        run, server, scoring, service, h, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("AMLWS_API_KEY", "another-service-key-not-this-one")  # the named service's own key wins
    rows = tmp_path / "rows.json"
    rows.write_text(json.dumps({"Inputs": {"input1": {"ColumnNames": ["temp", "hum"], "Values": [["20", "0.5"], ["30", "0.1"]]}}}))
    scoring.expect_ordered_request(
        API_PATH + "/execute", method="POST",
        query_string={"api-version": "2.0", "details": "true", "format": "swagger"},
        headers={"Authorization": f"Bearer {PRIMARY}"},
        # format=swagger reads a list of row objects per input: the DataTable is sent in that form
        json={"Inputs": {"input1": [{"temp": "20", "hum": "0.5"}, {"temp": "30", "hum": "0.1"}]}, "GlobalParameters": {}},
    ).respond_with_json({"Results": {"output1": [{"temp": "20", "Scored Labels": "170"}, {"temp": "30", "Scored Labels": "220"}]}})
    code, out, err = run("invoke", h.WS_PATH, "--input-file", str(rows), "-o", "json")
    assert code == 0, err
    scoring.check_assertions()
    assert json.loads(out)["outputs"]["output1"]["rows"] == [["20", "170"], ["30", "220"]]
    assert arm_calls(server) == [f"GET {h.WS_PATH}", f"GET {h.WS_PATH}/listKeys"]
    for req, _ in server.log:
        h.assert_arm_request(req, "GET", req.path)
    assert PRIMARY not in out + err


def test_jobs_status_by_resource_group_and_name(run, server, scoring, service, h) -> None:
    scoring.expect_ordered_request(API_PATH + "/jobs/job7", method="GET", query_string={"api-version": "2.0"},
                                   headers={"Authorization": f"Bearer {PRIMARY}"}).respond_with_json({"StatusCode": "Running"})
    code, out, err = run("jobs", "status", "job7", "-g", h.RG, "-n", h.NAME, "--subscription", h.SUB, "-o", "json")
    assert code == 0, err
    scoring.check_assertions()
    assert json.loads(out)["status"] == "Running"
    assert arm_calls(server) == [f"GET {h.WS_PATH}", f"GET {h.WS_PATH}/listKeys"]


def test_jobs_submit_by_target_posts_to_the_jobs_url(run, server, scoring, service, h) -> None:
    config = {"GlobalParameters": {"URI": "https://x/data.csv"}}
    scoring.expect_ordered_request(API_PATH + "/jobs", method="POST", query_string={"api-version": "2.0"},
                                   headers={"Authorization": f"Bearer {PRIMARY}"}).respond_with_json("job8")
    code, out, err = run("jobs", "submit", "--target", h.WS_PATH, "--job-config-string", json.dumps(config), "-o", "json")
    assert code == 0, err
    scoring.check_assertions()
    assert json.loads(out) == {"jobId": "job8"}


def test_what_if_reads_the_service_but_not_its_keys(run, server, scoring, service, h, tmp_path) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text("temp,hum\n20,0.5\n", encoding="utf-8")
    code, out, err = run("invoke", h.WS_PATH, "--input-file", str(rows), "--what-if", "-o", "json")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["url"] == scoring.url_for(API_PATH + "/execute") + "?api-version=2.0&details=true&format=swagger"
    assert plan["body"]["Inputs"] == {"input1": [{"temp": "20", "hum": "0.5"}]}
    assert arm_calls(server) == [f"GET {h.WS_PATH}"]  # no listKeys
    assert scoring.log == []
    code, out, err = run("jobs", "cancel", "job9", "--target", h.WS_PATH, "--what-if", "-o", "json")
    assert code == 0, err
    assert json.loads(out)["url"] == scoring.url_for(API_PATH + "/jobs/job9") + "?api-version=2.0"


def test_a_service_without_swagger_location_is_a_usage_error(run, server, h, live_document) -> None:
    doc = json.loads(json.dumps(live_document))
    doc["properties"].pop("swaggerLocation")
    doc["properties"]["provisioningState"] = "Provisioning"
    server.expect_request(h.WS_PATH, method="GET", query_string=h.API).respond_with_json(doc)
    code, out, err = run("jobs", "status", "j1", "--target", h.WS_PATH)
    assert code == 2 and out == ""
    assert err.startswith(f"error: {h.WS_PATH} has no swaggerLocation yet (provisioningState Provisioning)")
    assert arm_calls(server) == [f"GET {h.WS_PATH}"]


def test_url_and_web_service_together_are_refused_before_any_call(run, server, h) -> None:
    code, out, err = run("jobs", "status", "j1", "--url", "https://x.services.azureml.net/workspaces/w/services/s/jobs",
                         "--target", h.WS_PATH)
    assert code == 2
    assert "error: give the URL (--url) or the web service, not both" in err
    assert server.log == []


def test_a_resource_id_in_url_is_taken_as_the_web_service(run, server, scoring, service, h) -> None:
    """``retrain --training-service`` takes a URL or a web service through the same path."""
    from amlws import api
    from amlws.config import Settings
    from amlws.host import Host

    host = Host(run.pm, Settings.load())
    url, key = api.service_endpoint(host, "bes", url=h.WS_PATH)
    assert (url, key) == (scoring.url_for(API_PATH + "/jobs"), PRIMARY)
    plain = "https://ussouthcentral.services.azureml.net/workspaces/w/services/s/jobs"
    assert api.service_endpoint(host, "bes", url=plain, api_key="k") == (plain, "k")  # a URL no backend claims: as given
