"""Wire audit of the classic management client against REFERENCE §3 and the classic examples.

Every management call: no query string (no api-version), ``Authorization: Bearer <token>``,
``Accept: application/json``, a body (UTF-8 JSON) only on PUT/PATCH/POST refresh; the
documented values passed through unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from werkzeug import Response

from amlws.plugins.classic.targets import parse_url


def _ids(cc: Any, endpoint: str | None = "ep01") -> list[str]:
    return ["--workspace", cc.WS, "--service", cc.SVC] + (["--endpoint", endpoint] if endpoint else [])


def _check_request_line(req: Any, cc: Any) -> None:
    assert req.query_string == b"", req.url  # REFERENCE §3: no api-version on management calls
    assert req.path.startswith(f"/workspaces/{cc.WS}/webservices")
    assert req.headers["Authorization"] == f"Bearer {cc.TOKEN}"
    assert req.headers["Accept"] == "application/json"
    assert "x-ms-metaanalytics-authorizationtoken" not in {k.lower() for k, _ in req.headers.items()}
    if req.method in ("GET", "DELETE"):
        assert req.get_data() == b"" and "Content-Type" not in req.headers
    else:
        assert req.headers["Content-Type"] == "application/json; charset=utf-8"


def test_every_cmdlet_sends_clean_management_requests(fake, run, cc) -> None:
    calls = [
        ("classic", "services", "list", "--workspace", cc.WS),
        ("classic", "services", "get", "--workspace", cc.WS, "--service", cc.SVC),
        ("classic", "endpoints", "list", *_ids(cc, None)),
        ("classic", "endpoints", "get", *_ids(cc)),
        ("classic", "endpoints", "add", *_ids(cc, "ep09"), "--description", "x", "--yes"),
        ("classic", "endpoints", "refresh", *_ids(cc, "ep09"), "--yes"),
        ("classic", "endpoints", "remove", *_ids(cc, "ep09"), "--yes"),
    ]
    for argv in calls:
        r = run(*argv)
        assert r.code == 0, (argv, r.err)
    for req in fake.requests:
        _check_request_line(req, cc)
    base = f"/workspaces/{cc.WS}/webservices"
    assert [f"{q.method} {q.path}" for q in fake.requests if q.method != "GET"] == [
        f"PUT {base}/{cc.SVC}/endpoints/ep09",
        f"POST {base}/{cc.SVC}/endpoints/ep09/refresh",
        f"DELETE {base}/{cc.SVC}/endpoints/ep09",
    ]
    gets = {q.path for q in fake.requests if q.method == "GET"}
    assert {base, f"{base}/{cc.SVC}", f"{base}/{cc.SVC}/endpoints", f"{base}/{cc.SVC}/endpoints/ep01"} <= gets


@pytest.mark.parametrize("base_location", ["https://mystorageaccount.blob.core.windows.net",
                                           "http://mystorageaccount.blob.core.windows.net"])  # the README's own, verbatim
def test_readme_patch_values_are_passed_through_unchanged(fake, run, cc, httpserver, tmp_path: Path, base_location: str) -> None:
    """README ``Patch-AmlWebServiceEndpoint`` values: BaseLocation without a trailing slash is sent as given
    (REFERENCE §3.7 "pass the BES values through unchanged"); the resource name keeps its casing. The
    README's (and create-models') ``http://`` is sent as published too, with ``--allow-http`` and a warning."""
    name = "Income Predictor [Trained Model]"
    fake.put_endpoint(cc.SVC, "ep02", [{"Name": name, "Kind": "TrainedModel", "Location": dict(cc.OLD_LOCATION)}])
    url = cc.ep_url(httpserver.url_for("/"), "ep02")
    exported = tmp_path / "ep02.json"
    assert run("export", url, "-f", str(exported)).code == 0
    sas = "?sr=b&se=2099-02-05T04%3A00%3A00Z&sp=r&sv=2015-02-21&sig=UkVBRE1FLXNpZw%3D%3D"
    http = ["--allow-http"] if base_location.startswith("http:") else []  # a SAS over http: only when asked
    r = run("patch-ilearner", str(exported), "--resource", "income predictor [trained model]",
            "--base-location", base_location,
            "--relative-location", "mycontainer/retrain/new_model.ilearner", "--sas-blob-token", sas, *http)
    assert r.code == 0, r.err
    assert ("plain http" in r.err) == base_location.startswith("http:")
    before = len(fake.requests)
    r = run("update", url, "--service-updates", str(exported), "--yes", "-o", "json", *http)
    assert r.code == 0, r.err
    (patch,) = [q for q in fake.requests[before:] if q.method == "PATCH"]
    assert patch.path == f"/workspaces/{cc.WS}/webservices/{cc.SVC}/endpoints/ep02"
    assert patch.get_data() == (
        '{"Resources":[{"Name":"Income Predictor [Trained Model]","Location":{"BaseLocation":"%s",'
        '"RelativeLocation":"mycontainer/retrain/new_model.ilearner","SasBlobToken":"%s"}}]}' % (base_location, sas)
    ).encode()
    _check_request_line(patch, cc)
    assert r.json["verified"] is True


def test_adf_update_resource_endpoint_is_a_patch_url() -> None:
    """docs-adf-v1 linked service: ``updateResourceEndpoint`` is the classic endpoint management URL."""
    specs = Path(__file__).resolve().parents[1] / "data" / "specs" / "classic" / "examples"
    path = specs / "docs-adf-v1-linked-service-classic-updatable-endpoint.json"
    url = json.loads(path.read_text(encoding="utf-8"))["properties"]["typeProperties"]["updateResourceEndpoint"]
    ref = parse_url(url, None)
    assert ref is not None
    assert (ref.base_url, ref.workspace, ref.service, ref.endpoint) == (
        "https://management.azureml.net/", "xxx", "--scoring experiment--", "endpoint2")
    assert ref.endpoint_url == "https://management.azureml.net/workspaces/xxx/webservices/--scoring%20experiment--/endpoints/endpoint2"


@pytest.mark.parametrize("url, expected", [
    # the MS docs PATCH URL (REFERENCE §3.7), and the region hosts with their path casing normalised
    ("https://management.azureml.net/workspaces/00bf70534500b34rebfa1843d6/webservices/af3er32ad393852f9b30ac9a35b/endpoints/newendpoint2",
     "https://management.azureml.net/workspaces/00bf70534500b34rebfa1843d6/webservices/af3er32ad393852f9b30ac9a35b/endpoints/newendpoint2"),
    ("https://EuropeWest.Management.AzureML.net/Workspaces/W/WebServices/S/Endpoints/ep1",
     "https://europewest.management.azureml.net/workspaces/W/webservices/S/endpoints/ep1"),
    ("https://germanycentral.management.azureml.de/workspaces/W/webservices/S/endpoints/ep1",
     "https://germanycentral.management.azureml.de/workspaces/W/webservices/S/endpoints/ep1"),
    ("https://uswestcentral.management.azureml.net/workspaces/W/webservices/S/endpoints/ep1/",
     "https://uswestcentral.management.azureml.net/workspaces/W/webservices/S/endpoints/ep1"),
])
def test_documented_patch_urls(url: str, expected: str) -> None:
    ref = parse_url(url, None)
    assert ref is not None and ref.endpoint_url == expected


@pytest.mark.parametrize("status, body", [(200, None), (201, None), (204, ""), (202, "")])
def test_add_endpoint_accepts_any_2xx_with_or_without_a_body(run, cc, httpserver, classic_env, status: int, body: Any) -> None:
    """REFERENCE §3.6/§11: the PUT status (200 vs 201) and body are unconfirmed: any 2xx is success."""
    path = f"/workspaces/{cc.WS}/webservices/{cc.SVC}/endpoints/ep07"
    httpserver.expect_request(path, method="GET").respond_with_json(
        {"error": {"code": "NotFound", "message": "no", "details": [{"code": "EndpointNotFound", "message": "no"}]}}, status=404)
    created = json.dumps({"Name": "ep07", "PrimaryKey": "k-secret-7==", "ApiLocation": "https://x/"}) if body is None else body
    httpserver.expect_request(path, method="PUT").respond_with_response(Response(created, status=status, content_type="application/json"))
    r = run("classic", "endpoints", "add", *_ids(cc, "ep07"), "--yes", "-o", "json")
    assert r.code == 0, r.err
    assert r.json["added"] is True and "k-secret-7==" not in r.out
    assert ("endpointObject" in r.json) == (body is None)
    put = httpserver.log[-1][0]
    assert put.get_data() == b'{"Description":null,"ThrottleLevel":"Low","MaxConcurrentCalls":null}'


def test_management_bodies_with_a_bom_are_read(run, cc, httpserver, classic_env) -> None:
    """REFERENCE intro: "Build tolerant parsers". A UTF-8 BOM (as .NET writers may emit) is not "no endpoints"."""
    body = "\ufeff" + json.dumps([{"Name": "default", "ThrottleLevel": "Low", "MaxConcurrentCalls": 4, "PrimaryKey": "pk-secret-1=="}])
    httpserver.expect_request(f"/workspaces/{cc.WS}/webservices/{cc.SVC}/endpoints", method="GET").respond_with_response(
        Response(body.encode("utf-8"), status=200, content_type="application/json; charset=utf-8"))
    r = run("classic", "endpoints", "list", *_ids(cc, None), "-o", "json")
    assert r.code == 0, r.err
    assert [e["Name"] for e in r.json] == ["default"] and "pk-secret-1==" not in r.out



def test_the_docs_obfuscated_ids_go_on_the_wire_as_published(run, cc, httpserver, classic_env) -> None:
    """The MS docs PATCH URL's ids (26/27 letters and digits, REFERENCE §3) are sent, not refused locally."""
    path = "/workspaces/00bf70534500b34rebfa1843d6/webservices/af3er32ad393852f9b30ac9a35b/endpoints/newendpoint2"
    httpserver.expect_request(path, method="GET").respond_with_json(
        {"Name": "newendpoint2", "ThrottleLevel": "Low", "MaxConcurrentCalls": 4, "Resources": []})
    r = run("classic", "endpoints", "get", "--workspace", "00bf70534500b34rebfa1843d6", "--service", "af3er32ad393852f9b30ac9a35b",
            "--endpoint", "newendpoint2", "-o", "json")
    assert r.code == 0, r.err
    assert r.json["Name"] == "newendpoint2"
    (req, _), = httpserver.log
    assert (req.method, req.path, req.query_string) == ("GET", path, b"")
