"""``amlws jobs ...`` and ``amlws invoke`` through the real CLI boundary and a local server."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

pytestmark = pytest.mark.usefixtures("amlws_env")

KEY = "cli-bes-api-key-0123456789abcdef"
BASE = "/workspaces/ws1/services/svc1"
Q = {"api-version": "2.0"}
AUTH = {"Authorization": f"Bearer {KEY}"}
SIG = "U0lHTkFUVVJFLWNsaQ%3D%3D"
CS = "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=QUNDT1VOVC1LRVktY2xp"
RESULT = {"ConnectionString": None, "RelativeLocation": "models/m.ilearner", "BaseLocation": "https://acct.blob.core.windows.net/",
          "SasBlobToken": f"?sv=2019-02-02&sr=b&sig={SIG}&se=2099-01-01T00%3A00%3A00Z&sp=r"}
CONFIG = '{"GlobalParameters": {"URI": "https://x/data.csv"}, "Outputs": {"output1": {"ConnectionString": "%s", "RelativeLocation": "models/m.ilearner"}}}' % CS


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMLWS_API_KEY", KEY)


@pytest.fixture
def pm(make_pm):
    return make_pm()


def url(httpserver: HTTPServer) -> str:
    return httpserver.url_for(f"{BASE}/jobs?api-version=2.0")


def test_jobs_run_prints_redacted_status(httpserver: HTTPServer, run_cli, pm, key, tmp_path: Path) -> None:
    expected_body = {
        "GlobalParameters": {"URI": "https://x/data.csv"},
        "Outputs": {"output1": {"ConnectionString": CS, "RelativeLocation": "models/m.ilearner", "BaseLocation": None, "SasBlobToken": None}},
    }
    httpserver.expect_ordered_request(f"{BASE}/jobs", method="POST", query_string=Q, headers=AUTH, json=expected_body).respond_with_json("job42")
    httpserver.expect_ordered_request(f"{BASE}/jobs/job42/start", method="POST", query_string=Q, headers=AUTH).respond_with_data("")
    httpserver.expect_ordered_request(f"{BASE}/jobs/job42", method="GET", query_string=Q, headers=AUTH).respond_with_json({"StatusCode": 1})
    httpserver.expect_ordered_request(f"{BASE}/jobs/job42", method="GET", query_string=Q, headers=AUTH).respond_with_json(
        {"StatusCode": "Finished", "Results": {"output1": RESULT}, "Details": None}
    )
    results = tmp_path / "status.json"
    code, out, err = run_cli(["jobs", "run", "--url", url(httpserver), "--job-config-string", CONFIG, "--poll-interval", "0",
                              "--results-file", str(results), "-o", "json"], pm)
    assert code == 0, err
    httpserver.check_assertions()
    data = json.loads(out)
    assert data["jobId"] == "job42" and data["status"] == "Finished"
    assert data["results"]["output1"]["SasBlobToken"].endswith("sig=***&se=2099-01-01T00%3A00%3A00Z&sp=r")
    assert "submitted BES job job42" in err and "BES job job42: Finished" in err
    for secret in (KEY, SIG, "QUNDT1VOVC1LRVktY2xp"):
        assert secret not in out and secret not in err
    # the results file has the real SAS, for patch-ilearner --bes-result, readable by the owner only
    saved = json.loads(results.read_text(encoding="utf-8"))
    assert saved["Results"]["output1"]["SasBlobToken"] == RESULT["SasBlobToken"]
    if os.name == "posix":
        assert stat.S_IMODE(results.stat().st_mode) == 0o600
    from amlws import api

    loc = api.model_location_from(bes_result=str(results), output_name="output1")
    assert loc.uri == "https://acct.blob.core.windows.net/models/m.ilearner" + RESULT["SasBlobToken"]
    assert api.model_location_from(bes_result=str(results)) == loc  # the one .ilearner output


def test_jobs_run_failed_exits_1_with_details(httpserver: HTTPServer, run_cli, pm, key) -> None:
    httpserver.expect_ordered_request(f"{BASE}/jobs", method="POST").respond_with_json("j1")
    httpserver.expect_ordered_request(f"{BASE}/jobs/j1/start", method="POST").respond_with_data("")
    httpserver.expect_ordered_request(f"{BASE}/jobs/j1", method="GET").respond_with_json({"StatusCode": "Failed", "Details": "Error 0003: missing values"})
    code, out, err = run_cli(["jobs", "run", "--url", url(httpserver), "--job-config-string", CONFIG, "--poll-interval", "0"], pm)
    assert code == 1 and out == ""
    assert "error: BES job j1 failed: Error 0003: missing values" in err


def test_submit_validates_before_sending(httpserver: HTTPServer, run_cli, pm, key) -> None:
    typo = '{"GolbalParameters": {"Random seed": 12345}}'
    code, out, err = run_cli(["jobs", "submit", "--url", url(httpserver), "--job-config-string", typo], pm)
    assert code == 2 and "'GolbalParameters' is misspelt" in err and "rename it to 'GlobalParameters'" in err
    bad_ext = '{"Outputs": {"output1": {"ConnectionString": "%s", "RelativeLocation": "models/m.model"}}}' % CS
    code, out, err = run_cli(["jobs", "submit", "--url", url(httpserver), "--job-config-string", bad_ext], pm)
    assert code == 2 and "InvalidBlobExtension" in err
    assert httpserver.log == []


def test_submit_from_flags_and_what_if(httpserver: HTTPServer, run_cli, pm, key, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMLWS_STORAGE_CONNECTION_STRING", CS)
    argv = ["jobs", "submit", "--url", url(httpserver), "--input-blob", "input1=data/train.csv", "--output-blob", "output1=models/m1.ilearner",
            "-p", "Random seed=1", "-o", "json"]
    code, out, err = run_cli([*argv, "--what-if"], pm)
    assert code == 0 and httpserver.log == []
    plan = json.loads(out)
    assert plan["method"] == "POST" and plan["url"].endswith(f"{BASE}/jobs?api-version=2.0")
    assert plan["body"]["Inputs"]["input1"]["ConnectionString"] == "***" and "QUNDT1VOVC1LRVktY2xp" not in out
    httpserver.expect_request(f"{BASE}/jobs", method="POST", query_string=Q, headers=AUTH, json={
        "Inputs": {"input1": {"ConnectionString": CS, "RelativeLocation": "data/train.csv", "BaseLocation": None, "SasBlobToken": None}},
        "GlobalParameters": {"Random seed": "1"},
        "Outputs": {"output1": {"ConnectionString": CS, "RelativeLocation": "models/m1.ilearner", "BaseLocation": None, "SasBlobToken": None}},
    }).respond_with_json("539d0bc2fde945b6ac986b851d0000f0")
    code, out, err = run_cli(argv, pm)
    assert code == 0, err
    assert json.loads(out) == {"jobId": "539d0bc2fde945b6ac986b851d0000f0"}


def test_start_status_wait_cancel(httpserver: HTTPServer, run_cli, pm, key) -> None:
    httpserver.expect_ordered_request(f"{BASE}/jobs/j9/start", method="POST", query_string=Q, headers=AUTH).respond_with_data("")
    httpserver.expect_ordered_request(f"{BASE}/jobs/j9", method="GET", query_string=Q, headers=AUTH).respond_with_json({"StatusCode": "Running"})
    httpserver.expect_ordered_request(f"{BASE}/jobs/j9", method="GET", query_string=Q, headers=AUTH).respond_with_json({"StatusCode": 3})
    httpserver.expect_ordered_request(f"{BASE}/jobs/j9", method="DELETE", query_string=Q, headers=AUTH).respond_with_data("")
    assert run_cli(["jobs", "start", "--url", url(httpserver), "j9", "-o", "json"], pm)[:2] == (0, '{\n  "jobId": "j9",\n  "started": true\n}\n')
    code, out, _ = run_cli(["jobs", "status", "--url", url(httpserver), "j9", "-o", "json"], pm)
    assert code == 0 and json.loads(out) == {"jobId": "j9", "status": "Running", "results": None, "details": None}
    code, out, err = run_cli(["jobs", "wait", "--url", url(httpserver), "j9", "--poll-interval", "0"], pm)
    assert code == 1 and "error: BES job j9 was cancelled" in err
    code, out, err = run_cli(["jobs", "cancel", "--url", url(httpserver), "j9"], pm)
    assert code == 2 and "confirmation needed" in err  # no terminal and no --yes: nothing sent
    code, out, err = run_cli(["jobs", "cancel", "--url", url(httpserver), "j9", "--yes", "-o", "json"], pm)
    assert code == 0 and json.loads(out) == {"jobId": "j9", "cancelled": True}
    httpserver.check_assertions()
    assert len(httpserver.log) == 4


def test_timeout_cancels_the_job(httpserver: HTTPServer, run_cli, pm, key) -> None:
    httpserver.expect_request(f"{BASE}/jobs/jt", method="GET").respond_with_json({"StatusCode": "Running"})
    httpserver.expect_request(f"{BASE}/jobs/jt", method="DELETE", query_string=Q, headers=AUTH).respond_with_data("")
    code, out, err = run_cli(["jobs", "wait", "--url", url(httpserver), "jt", "--poll-interval", "0.05", "--timeout", "0.2"], pm)
    assert code == 1 and "still running after 0.2s; it was cancelled" in err
    assert [r.method for r, _ in httpserver.log][-1] == "DELETE"


def test_no_api_key(httpserver: HTTPServer, run_cli, pm) -> None:
    code, out, err = run_cli(["jobs", "status", "--url", url(httpserver), "j1"], pm)
    assert code == 4 and "no api key configured" in err and "AMLWS_API_KEY" in err
    assert httpserver.log == []


def test_invoke(httpserver: HTTPServer, run_cli, pm, key, tmp_path: Path) -> None:
    httpserver.expect_request(
        f"{BASE}/execute", method="POST", query_string={"api-version": "2.0", "details": "true"}, headers=AUTH,
        json={"Inputs": {"input1": {"ColumnNames": ["age", "sex"], "Values": [["20", "female"]]}}, "GlobalParameters": {}},
    ).respond_with_json({"Results": {"output1": {"type": "DataTable", "value": {
        "ColumnNames": ["age", "sex", "Scored Labels"], "ColumnTypes": ["Numeric", "String", "Numeric"], "Values": [["20", "female", "1"]]}}}})
    data = tmp_path / "in.csv"
    data.write_text("age,sex\n20,female\n", encoding="utf-8")
    raw = tmp_path / "out.json"
    code, out, err = run_cli(["invoke", "--url", httpserver.url_for(BASE), "-i", str(data), "--output-json-file", str(raw), "-o", "json"], pm)
    assert code == 0, err
    assert json.loads(out) == {"outputs": {"output1": {"columns": ["age", "sex", "Scored Labels"], "types": ["Numeric", "String", "Numeric"], "rows": [["20", "female", "1"]]}}}
    assert json.loads(raw.read_text(encoding="utf-8"))["Results"]["output1"]["type"] == "DataTable"
    code, out, err = run_cli(["invoke", "--url", httpserver.url_for(BASE), "-i", str(data)], pm)
    assert code == 0 and "Scored Labels" in out and "female" in out


def test_invoke_rounds_string_scores_in_tables_and_prints_the_rows_as_tsv(httpserver: HTTPServer, run_cli, pm, key, tmp_path: Path) -> None:
    """RRS returns numbers as strings: a table shows 4 significant digits, JSON the exact string;
    ``-o tsv`` prints the scored rows (not one empty line for the nested result)."""
    values = [["20", "female", "1", "-17.412915632731572"], ["35", "male", "0", "0.123456789"]]
    httpserver.expect_request(f"{BASE}/execute", method="POST").respond_with_json({"Results": {"output1": {"type": "DataTable", "value": {
        "ColumnNames": ["age", "sex", "Scored Labels", "Scored Probabilities"], "ColumnTypes": [], "Values": values}}}})
    data = tmp_path / "in.csv"
    data.write_text("age,sex\n20,female\n35,male\n", encoding="utf-8")
    code, out, err = run_cli(["invoke", "--url", httpserver.url_for(BASE), "-i", str(data)], pm)
    assert code == 0, err
    assert "-17.41" in out and "0.1235" in out and "-17.412915632731572" not in out and "0.123456789" not in out
    code, out, err = run_cli(["invoke", "--url", httpserver.url_for(BASE), "-i", str(data), "-o", "tsv"], pm)
    assert (code, out) == (0, "20\tfemale\t1\t-17.412915632731572\n35\tmale\t0\t0.123456789\n"), err
    code, out, err = run_cli(["invoke", "--url", httpserver.url_for(BASE), "-i", str(data), "-o", "json"], pm)
    assert json.loads(out)["outputs"]["output1"]["rows"] == values
    code, out, err = run_cli(["invoke", "--url", httpserver.url_for(BASE), "-i", str(data), "-o", "tsv", "--query", "outputs.output1.columns"], pm)
    assert out == "age\nsex\nScored Labels\nScored Probabilities\n"


def test_status_table(httpserver: HTTPServer, run_cli, pm, key) -> None:
    httpserver.expect_request(f"{BASE}/jobs/jz", method="GET").respond_with_json(
        {"StatusCode": "Finished", "Results": {"output1": RESULT}, "Details": None})
    code, out, err = run_cli(["jobs", "status", "--url", url(httpserver), "jz"], pm)
    assert code == 0, err
    assert "Finished" in out and "https://acct.blob.core.windows.net/models/m.ilearner" in out and SIG not in out


def test_jobs_and_invoke_need_a_url_or_a_web_service(httpserver: HTTPServer, run_cli, pm, key) -> None:
    for argv in (["jobs", "status", "job1"], ["invoke", "--input-json", '{"Inputs": {"input1": {"ColumnNames": ["a"], "Values": [["1"]]}}}']):
        code, out, err = run_cli(argv, pm)
        assert code == 2 and out == ""
        assert err.startswith("error: no web service or URL given (fix: pass the web service"), err
    assert httpserver.log == []
