"""RRS scoring over the real wire, and its inputs (JSON, CSV, stdin)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from amlws.errors import AmlwsError, ExitCode, RemoteError, UsageError
from amlws.http import HttpClient
from amlws.studio.rrs import build_request, invoke, load_input, parse_results

pytestmark = pytest.mark.usefixtures("amlws_env")

KEY = "rrs-api-key-abcdef0123456789=="
PATH = "/workspaces/ws1/services/score1/execute"
Q = {"api-version": "2.0", "details": "true"}

# docs consume-web-services 2016: the request, and the response with its "]." typo fixed.
DOCS_REQUEST = {"Inputs": {"input1": {"ColumnNames": ["cog_speed"], "Values": [["0"], ["1"]]}}, "GlobalParameters": {}}
DOCS_RESPONSE = {
    "Results": {"output1": {"type": "DataTable", "value": {"ColumnNames": ["cog_speed"], "ColumnTypes": ["Numeric"], "Values": [["0"], ["1"]]}}},
    "GlobalParameters": {},
}
# azuremlps README input file (Input1, numeric values, a global parameter).
README_INPUT = {
    "Inputs": {"Input1": {"ColumnNames": ["age", "sex", "bmi", "children", "smoker", "region"],
                          "Values": [[20, "female", 21, 0, "no", "Northeast"], [30, "male", 41, 1, "yes", "Southwest"]]}},
    "GlobalParameters": {"Random seed": 12345},
}


def test_invoke_wire_and_results(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        PATH, method="POST", query_string=Q,
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json; charset=utf-8"},
        data=json.dumps(DOCS_REQUEST, separators=(",", ":")).encode(),
    ).respond_with_json(DOCS_RESPONSE)
    # AzureMLPS -ApiLocation: the base; amlws appends /execute?api-version=2.0&details=true
    result = invoke(httpserver.url_for("/workspaces/ws1/services/score1"), KEY, DOCS_REQUEST, http=HttpClient())
    httpserver.check_assertions()
    assert len(httpserver.log) == 1
    assert result.to_dict() == {"outputs": {"output1": {"columns": ["cog_speed"], "types": ["Numeric"], "rows": [["0"], ["1"]]}}}
    assert result.outputs["output1"].records() == [{"cog_speed": "0"}, {"cog_speed": "1"}]
    assert result.raw == DOCS_RESPONSE


def test_invoke_accepts_execute_url_and_retries_throttling(httpserver: HTTPServer) -> None:
    sleeps: list[float] = []
    httpserver.expect_ordered_request(PATH, method="POST", query_string=Q).respond_with_response(
        Response("", status=429, headers={"Retry-After": "2"})
    )
    httpserver.expect_ordered_request(PATH, method="POST", query_string=Q, json=README_INPUT).respond_with_json(DOCS_RESPONSE)
    invoke(httpserver.url_for(PATH) + "?api-version=2.0&details=true", KEY, README_INPUT, http=HttpClient(sleep=sleeps.append))
    assert sleeps == [2.0] and len(httpserver.log) == 2


def test_invoke_error_body(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH, method="POST").respond_with_json(
        {"error": {"code": "BadArgument", "message": "Invalid argument provided.",
                   "details": [{"code": "ModuleExecutionError", "message": "Module execution encountered an error."}]}},
        status=400,
    )
    with pytest.raises(RemoteError) as info:
        invoke(httpserver.url_for("/workspaces/ws1/services/score1"), KEY, DOCS_REQUEST, http=HttpClient())
    assert info.value.exit_code == ExitCode.USAGE and info.value.detail_codes == ["ModuleExecutionError"]
    assert "Module execution encountered an error." in info.value.message


def test_missing_results_is_an_error() -> None:
    with pytest.raises(AmlwsError, match="no Results"):
        parse_results({"error": None})
    swagger = parse_results({"Results": {"output1": [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]}})
    assert swagger["output1"].columns == ["a", "b"] and swagger["output1"].rows == [[1, "x"], [2, "y"]]


def test_inputs_from_files_and_stdin(tmp_path: Path) -> None:
    j = tmp_path / "in.json"
    j.write_text(json.dumps(README_INPUT), encoding="utf-8")
    assert load_input(j) == README_INPUT
    c = tmp_path / "in.csv"
    c.write_text("\ufeffage,sex\n20,female\n30,male\n", encoding="utf-8")
    assert load_input(c, global_parameters={"Random seed": "1"}) == {
        "Inputs": {"input1": {"ColumnNames": ["age", "sex"], "Values": [["20", "female"], ["30", "male"]]}},
        "GlobalParameters": {"Random seed": "1"},
    }
    assert load_input("-", stdin=io.StringIO("a\tb\n1\t2\n"), input_name="data") == {
        "Inputs": {"data": {"ColumnNames": ["a", "b"], "Values": [["1", "2"]]}}, "GlobalParameters": {},
    }
    assert build_request([{"a": 1}, {"a": 2, "b": 3}]) == {
        "Inputs": {"input1": {"ColumnNames": ["a", "b"], "Values": [[1, None], [2, 3]]}}, "GlobalParameters": {},
    }


@pytest.mark.parametrize(("data", "message"), [
    ({"Inputs": {}}, "must name at least one input"),
    ({"Inputs": {"input1": {"ColumnNames": ["a"], "Values": [["1", "2"]]}}}, "row 1 has 2 values for 1 columns"),
    (42, "not an RRS input"),
])
def test_bad_inputs(data: object, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        build_request(data)
