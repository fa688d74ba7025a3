"""The documented BES/RRS samples (``tests/data/specs/classic/examples``, vendored) replayed through amlws over the wire.

Each test serves or submits one example file as published (the ``VERBATIM-INVALID`` and
``TYPOS-VERBATIM`` ones included: real clients meet them) and asserts the exact request
amlws sends (method, path, query, headers, body bytes) and what it makes of the response.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from amlws.errors import AmlwsError, ExitCode, UsageError
from amlws.http import HttpClient
from amlws.studio.bes import BesClient, parse_status
from amlws.studio.jobconfig import load_job_config, validate_job_config
from amlws.studio.rrs import invoke, load_input

pytestmark = pytest.mark.usefixtures("amlws_env")

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "specs" / "classic" / "examples"

KEY = "spec-example-api-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}", "Accept": "application/json"}
BASE = "/workspaces/ws1/services/svc1"
Q = "api-version=2.0"


def example(name: str) -> str:
    return (EXAMPLES / name).read_text(encoding="utf-8")


def compact(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@pytest.fixture
def bes(httpserver: HTTPServer):
    sleeps: list[float] = []
    return BesClient.from_url(httpserver.url_for(f"{BASE}/jobs?api-version=2.0"), KEY,
                              http=HttpClient(sleep=sleeps.append, retries=0), sleep=sleeps.append, poll_interval=0.01)


def _only_request(httpserver: HTTPServer) -> Any:
    assert len(httpserver.log) == 1, [r.url for r, _ in httpserver.log]
    return httpserver.log[0][0]


# --- submit bodies ------------------------------------------------------------------------------


def test_create_models_config_is_submitted_in_wire_form(httpserver: HTTPServer, bes: BesClient) -> None:
    """docs create-models $configContent: the four-key AzureBlobDataReference, nulls included."""
    httpserver.expect_request(f"{BASE}/jobs", method="POST").respond_with_data(
        example("docs-consume-2016-bes-create-response.json"), content_type="application/json")
    config = validate_job_config(load_job_config(string=example("docs-create-models-and-endpoints-bes-configContent-seq001.json")),
                                 require_model_output=True)

    job_id = bes.submit(config)

    req = _only_request(httpserver)
    assert (req.method, req.path, req.query_string.decode()) == ("POST", f"{BASE}/jobs", Q)
    assert req.headers["Authorization"] == AUTH["Authorization"] and req.headers["Accept"] == "application/json"
    assert req.headers["Content-Type"] == "application/json; charset=utf-8"
    assert req.get_data() == (
        b'{"GlobalParameters":{"URI":"https://bostonmtc.blob.core.windows.net/hai/retrain/bike_rental/BikeRental001.csv"},'
        b'"Outputs":{"output1":{"ConnectionString":"DefaultEndpointsProtocol=https;AccountName=<myaccount>;AccountKey=<mykey>",'
        b'"RelativeLocation":"hai/retrain/bike_rental/model001.ilearner","BaseLocation":null,"SasBlobToken":null}}}'
    )
    assert job_id == "539d0bc2fde945b6ac986b851d0000f0"  # the JSON string, quotes removed


def test_2016_single_input_request_is_sent_with_input_kept_singular(httpserver: HTTPServer, bes: BesClient) -> None:
    """docs consume 2016: singular "Input" was valid at api-version 2.0; the leading slash is dropped."""
    httpserver.expect_request(f"{BASE}/jobs", method="POST").respond_with_json("job-2016")
    config = validate_job_config(load_job_config(string=example("docs-consume-2016-bes-create-request-single-Input.json")))
    assert bes.submit(config) == "job-2016"
    assert _only_request(httpserver).get_data() == compact({
        "Input": {"ConnectionString": "DefaultEndpointsProtocol=https;AccountName=mystorageacct;AccountKey=mystorageacctKey",
                  "RelativeLocation": "mycontainer/mydatablob.csv", "BaseLocation": None, "SasBlobToken": None},
        "GlobalParameters": {},
    })


def test_2015_legacy_request_with_null_output_is_accepted() -> None:
    config = validate_job_config(load_job_config(string=example("docs-consume-2015-legacy-bes-request-Input-Output.json")))
    assert list(config) == ["Input", "GlobalParameters"]
    assert config["Input"]["RelativeLocation"] == "mycontainer/mydatablob.csv"


def test_readme_typos_sample_is_refused_before_anything_is_sent(httpserver: HTTPServer, bes: BesClient) -> None:
    config = load_job_config(string=example("azuremlps-README-bes-jobConfig.TYPOS-VERBATIM.json"))
    with pytest.raises(UsageError) as info:
        validate_job_config(config)
    assert "'GolbalParameters' is misspelt" in info.value.message and info.value.hint == "rename it to 'GlobalParameters'"
    assert httpserver.log == []


def test_dedicated_capacity_sample_is_a_clear_json_error() -> None:
    """Line breaks inside strings, ``\\_`` escapes and HTML entities: not JSON; a usage error naming the spot."""
    with pytest.raises(UsageError) as info:
        load_job_config(string=example("docs-dedicated-capacity-bes-request.VERBATIM-INVALID.txt"))
    assert "malformed JSON at line" in info.value.message and info.value.exit_code == ExitCode.USAGE


def test_dedicated_capacity_pool_id_is_sent() -> None:
    fixed = example("docs-dedicated-capacity-bes-request.VERBATIM-INVALID.txt")
    fixed = fixed.replace("\n\t\t", "").replace("\n\t\t\t", "").replace("\\_", "_").replace("&lt;", "<").replace("&gt;", ">")
    config = validate_job_config(json.loads(fixed, strict=False))
    assert config["AzureBatchPoolId"] == "8dfc151b0d3e446497b845f3b29ef53b" and list(config)[-1] == "AzureBatchPoolId"


# --- status responses ------------------------------------------------------------------------------


def test_2016_status_sample_as_published_is_parsed(httpserver: HTTPServer, bes: BesClient) -> None:
    """The docs' status sample has trailing commas and the "Status Code" typo; amlws still reads it."""
    httpserver.expect_request(f"{BASE}/jobs/539d0bc2fde945b6ac986b851d0000f0", method="GET", query_string=Q).respond_with_data(
        example("docs-consume-2016-bes-status-response.VERBATIM-INVALID.txt"), content_type="application/json")

    status = bes.status("539d0bc2fde945b6ac986b851d0000f0")

    req = _only_request(httpserver)
    assert req.headers["Authorization"] == AUTH["Authorization"] and "Content-Type" not in req.headers
    assert status.status == "Finished" and status.details is None
    assert sorted(status.results or {}) == ["dataOutput", "trainedModelOutput"]
    loc = status.location("trainedModelOutput")
    assert (loc.base_location, loc.relative_location) == ("https://mystorageaccount.blob.core.windows.net/", "models/trainedModel.ilearner")
    assert loc.sas_blob_token == "?sv=2013-08-15&sr=b&sig=EFGH%3D&st=2015-04-04T05%3A39%3A55Z&se=2015-04-05T05%3A44%3A55Z&sp=r"
    assert "EFGH" not in json.dumps(status.to_dict())


def test_2015_legacy_status_with_integer_code_and_single_result() -> None:
    result = json.loads(example("docs-consume-2015-legacy-bes-status-Result.json"))
    status = parse_status("j", {"StatusCode": 4, "Result": result, "Details": None})
    assert status.status == "Finished"
    assert status.location("Result").to_dict() == {"BaseLocation": "BASE_LOCATION", "RelativeLocation": "RELATIVE_LOCATION",
                                                   "SasBlobToken": "SAS_BLOB_TOKEN"}
    assert parse_status("j", {"StatusCode": 1, "Result": None}).results is None


def test_trailing_commas_inside_strings_are_kept() -> None:
    from amlws.studio.bes import loads_tolerant

    assert loads_tolerant('{"Details": "a,}b,]", "x": [1, 2,],}') == {"Details": "a,}b,]", "x": [1, 2]}
    with pytest.raises(ValueError):
        loads_tolerant('{"a": 1,, }')


# --- RRS ------------------------------------------------------------------------------------------


def test_rrs_docs_request_exact(httpserver: HTTPServer, tmp_path: Path) -> None:
    src = tmp_path / "in.json"
    src.write_text(example("docs-consume-2016-rrs-request.json"), encoding="utf-8")
    httpserver.expect_request(f"{BASE}/execute", method="POST").respond_with_json(
        {"Results": {"output1": {"type": "DataTable", "value": {"ColumnNames": ["cog_speed"], "ColumnTypes": ["Numeric"], "Values": [["0"], ["1"]]}}}})
    result = invoke(httpserver.url_for(BASE), KEY, load_input(src), http=HttpClient())
    req = _only_request(httpserver)
    assert (req.method, req.path, req.query_string.decode()) == ("POST", f"{BASE}/execute", "api-version=2.0&details=true")
    assert req.headers["Authorization"] == AUTH["Authorization"] and req.headers["Content-Type"] == "application/json; charset=utf-8"
    assert req.get_data() == b'{"Inputs":{"input1":{"ColumnNames":["cog_speed"],"Values":[["0"],["1"]]}},"GlobalParameters":{}}'
    assert result.outputs["output1"].rows == [["0"], ["1"]]


def test_rrs_readme_input_is_sent_as_written(httpserver: HTTPServer, tmp_path: Path) -> None:
    src = tmp_path / "in.json"
    src.write_text(example("azuremlps-README-rrs-input.json"), encoding="utf-8")
    httpserver.expect_request(f"{BASE}/execute", method="POST").respond_with_json({"Results": {}})
    invoke(httpserver.url_for(BASE), KEY, load_input(src), http=HttpClient())
    assert json.loads(_only_request(httpserver).get_data()) == json.loads(example("azuremlps-README-rrs-input.json"))


def test_rrs_docs_response_as_published_is_a_clear_error(httpserver: HTTPServer) -> None:
    httpserver.expect_request(f"{BASE}/execute", method="POST").respond_with_data(
        example("docs-consume-2016-rrs-response.VERBATIM-INVALID.txt"), content_type="application/json")
    with pytest.raises(AmlwsError, match="non-JSON response"):
        invoke(httpserver.url_for(BASE), KEY, {"Inputs": {"input1": {"ColumnNames": ["a"], "Values": [["0"]]}}}, http=HttpClient())


@pytest.mark.parametrize("given", ["/execute?api-version=2.0&format=swagger", "/execute?api-version=2.0&details=true&format=swagger", ""])
def test_rrs_swagger_format_is_kept(httpserver: HTTPServer, given: str) -> None:
    """``format=swagger`` (newer help pages) goes with the list-of-rows body and the list-of-rows results."""
    httpserver.expect_request(f"{BASE}/execute", method="POST").respond_with_json(
        {"Results": {"output1": [{"column1": "value1", "Scored Labels": "1"}]}})
    body = {"Inputs": {"input1": [{"column1": "value1"}]}, "GlobalParameters": {}}
    result = invoke(httpserver.url_for(BASE) + given, KEY, body, http=HttpClient())
    req = _only_request(httpserver)
    assert req.query_string.decode() == "api-version=2.0&details=true&format=swagger"
    assert req.get_data() == b'{"Inputs":{"input1":[{"column1":"value1"}]},"GlobalParameters":{}}'
    assert result.outputs["output1"].records() == [{"column1": "value1", "Scored Labels": "1"}]


def test_rrs_datatable_body_never_asks_for_swagger(httpserver: HTTPServer) -> None:
    httpserver.expect_request(f"{BASE}/execute", method="POST").respond_with_json({"Results": {}})
    invoke(httpserver.url_for(BASE) + "/execute?api-version=2.0&details=true", KEY,
           {"Inputs": {"input1": {"ColumnNames": ["a"], "Values": [["0"]]}}, "GlobalParameters": {}}, http=HttpClient())
    assert _only_request(httpserver).query_string.decode() == "api-version=2.0&details=true"


def test_status_error_body_of_the_service_is_reported(httpserver: HTTPServer, bes: BesClient) -> None:
    httpserver.expect_request(f"{BASE}/jobs/jz", method="GET").respond_with_response(Response(
        json.dumps({"error": {"code": "BadArgument", "message": "Invalid argument provided.",
                              "details": [{"code": "InvalidBlobExtension", "message": "The blob reference: vishal/training/input has an invalid or missing file extension."}]}}),
        status=400, content_type="application/json"))
    from amlws.errors import RemoteError

    with pytest.raises(RemoteError) as info:
        bes.status("jz")
    assert info.value.detail_codes == ["InvalidBlobExtension"] and "vishal/training/input" in info.value.message


def test_patch_ilearner_bes_result_reads_the_2015_legacy_status() -> None:
    """``--bes-result`` with a whole legacy status (integer StatusCode, single ``Result``), or just its ``Result``."""
    from amlws.api import model_location_from

    result = json.loads(example("docs-consume-2015-legacy-bes-status-Result.json"))
    result["RelativeLocation"] = "models/legacy.ilearner"
    whole = model_location_from(bes_result=json.dumps({"StatusCode": 4, "Result": result, "Details": None}))
    alone = model_location_from(bes_result=json.dumps(result))
    assert whole == alone
    assert whole.to_dict() == {"BaseLocation": "BASE_LOCATION", "RelativeLocation": "models/legacy.ilearner", "SasBlobToken": "SAS_BLOB_TOKEN"}
