"""The v2 job and MLflow calls on the wire (plugins/mlv2/jobs.py, mlflow.py) against a TLS stand-in
for ARM: the job PUT body against the spec's CommandJob example and the schema excerpt, the cancel
202 + Location, MLflow's documented request and answer shapes, and proxies honoured.

Ground truth: tests/data/specs/mlv2/REFERENCE.md §2.4, §5.5, §9, §15; examples/Job/.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

import amlws.plugins.mlv2
from amlws.plugins.mlv2 import schema

from ..e2e.conftest import in_process_cli

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "tests" / "data" / "specs" / "mlv2" / "examples" / "Job"
SUB = "00000000-1111-2222-3333-444444444444"
RG = "test-rg"
WSNAME = "my-aml-workspace"
W = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.MachineLearningServices/workspaces/{WSNAME}"
TOKEN = "test-arm-token-v2jobs"
API = "2025-12-01"
WS_OPTS = ("-g", RG, "-w", WSNAME, "--subscription", SUB)


def example(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


@pytest.fixture
def server(tls_httpserver: HTTPServer) -> Any:
    """The ARM stand-in; after each test every request carried the ARM token (and, for ARM paths, the api-version)."""
    tls_httpserver.clear()
    yield tls_httpserver
    try:
        for request, _ in tls_httpserver.log:
            assert request.headers.get("Authorization") == f"Bearer {TOKEN}", request.path
            if "/api/2.0/mlflow/" not in request.path:
                assert request.args.get("api-version") == API, request.url
    finally:
        tls_httpserver.clear()


@pytest.fixture
def env(server: HTTPServer, ca: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    ca_pem = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_pem))
    for name in ("AZURE_SUBSCRIPTION_ID", "AMLWS_PROFILE", "AMLWS_CLOUD", "AMLWS_CREDENTIAL", "AMLWS_SUBSCRIPTION",
                 "AMLWS_TIMEOUT", "AMLWS_STORAGE_CONNECTION_STRING", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY",
                 "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    values = {"AMLWS_CONFIG_DIR": str(tmp_path / "config"), "AMLWS_STATE_DIR": str(tmp_path / "state"),
              "AMLWS_ARM_ENDPOINT": f"https://127.0.0.1:{server.port}", "AMLWS_ARM_TOKEN": TOKEN,
              "AMLWS_CA_BUNDLE": str(ca_pem), "AMLWS_POLL_INTERVAL": "0.01"}
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(tmp_path)
    return values


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Any:
    return in_process_cli(capsys, (amlws.plugins.mlv2, "mlv2"))


def sent(server: HTTPServer, method: str) -> list[Any]:
    return [r for r, _ in server.log if r.method == method]


# --- submit ---------------------------------------------------------------------------------------------


def test_submit_a_job_file_puts_the_spec_example_body_as_given(server: HTTPServer, env: Any, run: Any, tmp_path: Path) -> None:
    ex = example("CommandJob/createOrUpdate.json")
    body = ex["parameters"]["body"]
    body["properties"].pop("parentJobName")  # not in the 2025-12-01 swagger (REFERENCE.md §5.5 gotchas)
    assert schema.validate(body, "JobBaseResource") == []
    job_file = tmp_path / "job.json"
    job_file.write_text(json.dumps(body))
    answer = ex["responses"]["201"]["body"] if "201" in ex["responses"] else ex["responses"]["200"]["body"]
    server.expect_oneshot_request(f"{W}/jobs/my-job", method="PUT").respond_with_json(answer, status=201)
    code, out, err = run("mlv2", "jobs", "submit", *WS_OPTS, "--job-file", str(job_file), "--name", "my-job", "-o", "json")
    assert code == 0, err
    (put,) = sent(server, "PUT")
    assert json.loads(put.get_data()) == body
    assert put.headers["Content-Type"].startswith("application/json")
    assert json.loads(out) == answer


def test_from_job_copies_the_earlier_job_without_read_only_fields_under_a_new_name(server: HTTPServer, env: Any, run: Any) -> None:
    earlier = example("CommandJob/get.json")["responses"]["200"]["body"]
    earlier["name"] = "train-1"
    earlier["properties"]["outputs"] = {"model": {"jobOutputType": "uri_folder", "mode": "ReadWriteMount",
                                                  "uri": "azureml://datastores/workspaceblobstore/paths/azureml/train-1/model/"}}
    earlier["properties"]["inputs"] = {"train": {"jobInputType": "uri_file", "uri": "azureml://datastores/d/paths/old.csv"}}
    server.expect_request(f"{W}/jobs/train-1", method="GET").respond_with_json(earlier)
    server.expect_request(__import__("re").compile(f"{W}/jobs/train-1-.+"), method="PUT").respond_with_json(
        {"name": "x", "properties": {"status": "NotStarted"}}, status=201)
    code, out, err = run("mlv2", "jobs", "submit", *WS_OPTS, "--from-job", "train-1",
                         "--input", "train=azureml://datastores/d/paths/new.csv", "-o", "json")
    assert code == 0, err
    (put,) = sent(server, "PUT")
    name = put.path.rsplit("/", 1)[-1]
    assert __import__("re").fullmatch(r"train-1-\d{8}T\d{6}Z-[0-9a-f]{4}", name)
    body = json.loads(put.get_data())
    assert schema.validate(body, "JobBaseResource") == []  # read-only fields (status, parameters, services.*.status) gone
    props = body["properties"]
    assert "status" not in props and "parameters" not in props and "status" not in props["services"]["string"]
    assert props["inputs"]["train"]["uri"] == "azureml://datastores/d/paths/new.csv"
    assert "uri" not in props["outputs"]["model"]  # the earlier job's own output location is not reused
    assert props["command"] == earlier["properties"]["command"] and props["environmentId"] == earlier["properties"]["environmentId"]
    assert "id" not in body and "systemData" not in body


def test_a_job_file_of_another_kind_is_exit_2_and_sends_nothing(server: HTTPServer, env: Any, run: Any, tmp_path: Path) -> None:
    job_file = tmp_path / "job.json"
    job_file.write_text(json.dumps({"properties": {"jobType": "Sweep"}}))
    code, _, err = run("mlv2", "jobs", "submit", *WS_OPTS, "--job-file", str(job_file))
    assert code == 2 and "not an Azure ML job" in err
    job_file.write_text(json.dumps({"properties": {"jobType": "Command", "command": "x"}}))
    code, _, err = run("mlv2", "jobs", "submit", *WS_OPTS, "--job-file", str(job_file))
    assert code == 2 and "environmentId" in err
    assert server.log == []


# --- cancel -----------------------------------------------------------------------------------------------


def test_cancel_posts_with_no_body_and_follows_the_location(server: HTTPServer, env: Any, run: Any) -> None:
    job_url = f"https://127.0.0.1:{server.port}{W}/jobs/train-2?api-version={API}"
    server.expect_oneshot_request(f"{W}/jobs/train-2/cancel", method="POST").respond_with_response(
        Response(status=202, headers={"Location": job_url, "Retry-After": "0"}))
    server.expect_request(f"{W}/jobs/train-2", method="GET").respond_with_json(
        {"name": "train-2", "properties": {"jobType": "Command", "status": "Canceled"}})
    code, out, err = run("mlv2", "jobs", "cancel", "train-2", *WS_OPTS, "-o", "json")
    assert code == 0, err
    (post,) = sent(server, "POST")
    assert post.get_data() == b"" and post.headers.get("Content-Length") in ("0", None)
    assert [r.method for r, _ in server.log] == ["POST", "GET", "GET"]  # the Location poll, then the job read
    assert json.loads(out)["properties"]["status"] == "Canceled"


# --- MLflow ---------------------------------------------------------------------------------------------------


def mlflow_workspace(server: HTTPServer, key: str = "mlflowTrackingUri") -> str:
    base = f"/mlflow/v1.0{W}"
    server.expect_request(W, method="GET").respond_with_json(
        {"name": WSNAME, "properties": {key: f"azureml://127.0.0.1:{server.port}{base}"}})
    return base


def settings_of() -> Any:
    from amlws.config import Settings

    return Settings.load()


def test_mlflow_runs_get_and_get_history_documented_shapes(server: HTTPServer, env: Any) -> None:
    from amlws.plugins.mlv2 import jobs, mlflow

    base = mlflow_workspace(server, "mlFlowTrackingUri")
    server.expect_request(f"{base}/api/2.0/mlflow/runs/get", method="GET", query_string={"run_id": "train-2"}).respond_with_json(
        {"run": {"info": {"run_id": "train-2", "status": "FINISHED"},
                 "data": {"metrics": [{"key": "r2", "value": 0.93, "timestamp": 1, "step": 0},
                                      {"key": "rmse", "value": 2.5, "timestamp": 1, "step": 0}],
                          "params": [], "tags": []}}})
    server.expect_request(f"{base}/api/2.0/mlflow/metrics/get-history", method="GET",
                          query_string={"run_id": "train-2", "metric_key": "r2"}).respond_with_json(
        {"metrics": [{"key": "r2", "value": 0.9, "timestamp": 1, "step": 0}, {"key": "r2", "value": 0.93, "timestamp": 2, "step": 1}]})
    settings = settings_of()
    assert mlflow.run_metrics(settings, W, "train-2").values == {"r2": 0.93, "rmse": 2.5}
    with jobs.client(settings, W) as c:
        assert [m["value"] for m in mlflow.metric_history(c, W, "train-2", "r2")] == [0.9, 0.93]


def test_mlflow_tracking_uri_is_read_case_insensitively_and_errors_are_mapped(server: HTTPServer, env: Any) -> None:
    from amlws.errors import NotFoundError, OperationFailed
    from amlws.plugins.mlv2 import mlflow

    base = mlflow_workspace(server, "mlflowtrackinguri")
    server.expect_request(f"{base}/api/2.0/mlflow/runs/get", method="GET").respond_with_json(
        {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Run 'nope' not found."}, status=404)
    with pytest.raises(NotFoundError) as info:
        mlflow.run_metrics(settings_of(), W, "nope")
    assert info.value.exit_code == 3 and "Run 'nope' not found." in info.value.message
    server.clear()
    server.expect_request(W, method="GET").respond_with_json({"name": WSNAME, "properties": {}})
    with pytest.raises(OperationFailed) as failed:
        mlflow.run_metrics(settings_of(), W, "train-2")
    assert failed.value.exit_code == 1 and "no MLflow tracking URI" in failed.value.message


# --- proxies ---------------------------------------------------------------------------------------------------


class _Proxy(BaseHTTPRequestHandler):
    """A forward proxy: CONNECT tunnels (https; records host:port, then relays bytes both ways) and
    plain-http requests in absolute form (records the URL, forwards it with http.client)."""

    seen: ClassVar[list[str]] = []
    protocol_version = "HTTP/1.1"

    def _forward(self) -> None:
        import http.client
        from urllib.parse import urlsplit

        type(self).seen.append(self.path)
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("proxy-connection", "connection")}
        conn.request(self.command, url.path + (f"?{url.query}" if url.query else ""), body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _forward

    def do_CONNECT(self) -> None:
        type(self).seen.append(self.path)
        host, port = self.path.rsplit(":", 1)
        upstream = socket.create_connection((host, int(port)))
        self.send_response_only(200, "Connection established")
        self.end_headers()
        sockets = [self.connection, upstream]

        def pipe(a: socket.socket, b: socket.socket) -> None:
            try:
                while data := a.recv(65536):
                    b.sendall(data)
            except OSError:
                pass
            finally:
                for s in sockets:
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        t = threading.Thread(target=pipe, args=(upstream, self.connection), daemon=True)
        t.start()
        pipe(self.connection, upstream)
        t.join(5)
        self.close_connection = True

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def proxy() -> Any:
    _Proxy.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_https_proxy_carries_the_arm_and_mlflow_calls_and_no_proxy_bypasses_it(server: HTTPServer, env: Any, run: Any,
                                                                              proxy: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    server.expect_request(f"{W}/jobs/train-2", method="GET").respond_with_json(
        {"name": "train-2", "properties": {"jobType": "Command", "status": "Running"}})
    base = mlflow_workspace(server)
    server.expect_request(f"{base}/api/2.0/mlflow/runs/get", method="GET").respond_with_json(
        {"run": {"info": {}, "data": {"metrics": [{"key": "r2", "value": 1.0, "timestamp": 1, "step": 0}]}}})
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
    code, out, err = run("mlv2", "jobs", "status", "train-2", *WS_OPTS)
    assert code == 0, err
    from amlws.plugins.mlv2 import mlflow

    assert mlflow.run_metrics(settings_of(), W, "train-2").values == {"r2": 1.0}
    assert _Proxy.seen and set(_Proxy.seen) == {f"127.0.0.1:{server.port}"}
    before = len(server.log)
    _Proxy.seen.clear()
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    code, _, err = run("mlv2", "jobs", "status", "train-2", *WS_OPTS)
    assert code == 0, err
    assert _Proxy.seen == [] and len(server.log) > before


def test_blob_uploads_go_through_http_proxy(azurite: Any, azurite_container: str, proxy: Any, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """azure-storage-blob (the datastore upload) honours the proxy variables: Azurite is plain http, so HTTP_PROXY."""
    from amlws.azure.blob import upload_file

    for name in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
    data = tmp_path / "new.csv"
    data.write_text("a,b\n1,2\n")
    upload_file(data, connection_string=azurite.connection_string, container=azurite_container, blob_name="in/new.csv")
    assert any(azurite_container in url and url.startswith("http://127.0.0.1:") for url in _Proxy.seen)
    monkeypatch.delenv("HTTP_PROXY")
    with azurite.service() as svc:
        assert svc.get_blob_client(azurite_container, "in/new.csv").download_blob().readall() == b"a,b\n1,2\n"
