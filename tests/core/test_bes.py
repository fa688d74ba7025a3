"""BES client over the real wire (pytest-httpserver): every request asserted.

Covers NotStarted -> Running -> Finished, integer status codes, Failed with Details,
Cancelled, missing Results, throttling with Retry-After, the submit POST never retried
(500, connection reset), status GETs retried, timeouts and Ctrl-C cancelling the job.
"""

from __future__ import annotations

import json
import socket
import threading
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from amlws.errors import AmlwsError, ConnectionFailed, ExitCode, RemoteError, UsageError
from amlws.http import HttpClient
from amlws.studio.bes import (
    BesClient,
    JobCancelled,
    JobFailed,
    JobTimeout,
    api_location_from_url,
    parse_status,
    parse_status_code,
)

pytestmark = pytest.mark.usefixtures("amlws_env")

KEY = "bes-api-key-0123456789abcdef=="
AUTH = {"Authorization": f"Bearer {KEY}"}
Q = {"api-version": "2.0"}
BASE = "/workspaces/ws1/services/svc1"
SIG = "c2lnbmF0dXJlLXNlY3JldA%3D"
CONFIG = {
    "Inputs": {"input1": {"ConnectionString": None, "RelativeLocation": "data/in.csv",
                          "BaseLocation": "https://acct.blob.core.windows.net/", "SasBlobToken": "?sv=2019&sr=b&sig=in&sp=r"}},
    "GlobalParameters": {"Random seed": "12345"},
    "Outputs": {"output1": {"ConnectionString": None, "RelativeLocation": "models/m1.ilearner",
                            "BaseLocation": "https://acct.blob.core.windows.net/", "SasBlobToken": "?sv=2019&sr=c&sig=out&sp=rw"}},
}
RESULT_REF = {
    "ConnectionString": None,
    "RelativeLocation": "models/m1.ilearner",
    "BaseLocation": "https://acct.blob.core.windows.net/",
    "SasBlobToken": f"?sv=2019-02-02&sr=b&sig={SIG}&se=2099-01-01T00%3A00%3A00Z&sp=r",
}


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(round(seconds, 3))


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(httpserver: HTTPServer, sleeps: Sleeps):
    def make(**kwargs: Any) -> BesClient:
        http = HttpClient(sleep=sleeps, retries=kwargs.pop("retries", 3), backoff=0.01)
        kwargs.setdefault("poll_interval", 0.5)
        return BesClient.from_url(httpserver.url_for(f"{BASE}/jobs?api-version=2.0"), KEY, http=http, sleep=sleeps, **kwargs)

    return make


def expect_status(httpserver: HTTPServer, job: str, body: Any, *, headers: dict[str, str] | None = None, status: int = 200) -> None:
    httpserver.expect_ordered_request(f"{BASE}/jobs/{job}", method="GET", query_string=Q, headers=AUTH).respond_with_response(
        Response(json.dumps(body), status=status, headers=headers or {}, content_type="application/json")
    )


def test_submit_start_poll_until_finished(httpserver: HTTPServer, client, sleeps: Sleeps) -> None:
    httpserver.expect_ordered_request(
        f"{BASE}/jobs", method="POST", query_string=Q, headers={**AUTH, "Content-Type": "application/json; charset=utf-8"},
        data=json.dumps(CONFIG, separators=(",", ":")).encode(),
    ).respond_with_json("539d0bc2fde945b6ac986b851d0000f0")
    httpserver.expect_ordered_request(
        f"{BASE}/jobs/539d0bc2fde945b6ac986b851d0000f0/start", method="POST", query_string=Q, headers=AUTH, data=b""
    ).respond_with_data("")
    job = "539d0bc2fde945b6ac986b851d0000f0"
    expect_status(httpserver, job, {"StatusCode": "NotStarted", "Results": None, "Details": None})
    expect_status(httpserver, job, {"StatusCode": "Running", "Results": None, "Details": None})
    expect_status(httpserver, job, {"StatusCode": "Finished", "Results": {"output1": RESULT_REF}, "Details": None})
    seen: list[tuple[str, float]] = []

    status = client().run(CONFIG, progress=lambda s, elapsed: seen.append((s.status, elapsed)))

    httpserver.check_assertions()
    assert len(httpserver.log) == 5
    assert status.status == "Finished" and status.job_id == job
    assert [s for s, _ in seen] == ["NotStarted", "Running", "Finished"]
    assert sleeps == [0.5, 0.75]  # an interval between polls, growing: never a busy loop
    loc = status.location("output1")
    assert (loc.base_location, loc.relative_location) == ("https://acct.blob.core.windows.net/", "models/m1.ilearner")
    assert loc.sas_blob_token == RESULT_REF["SasBlobToken"]
    shown = json.dumps(status.to_dict())
    assert SIG not in shown and "sig=***" in shown


def test_integer_status_codes(httpserver: HTTPServer, client, sleeps: Sleeps) -> None:
    for code in (0, 1, "1", 4):
        expect_status(httpserver, "j1", {"StatusCode": code, "Results": {"output1": RESULT_REF} if code == 4 else None})
    status = client(poll_interval=0.1).wait("j1")
    httpserver.check_assertions()
    assert status.status == "Finished" and len(httpserver.log) == 4
    assert [parse_status_code(n) for n in (0, 1, 2, 3, 4)] == ["NotStarted", "Running", "Failed", "Cancelled", "Finished"]
    assert parse_status_code("Not Started") == "NotStarted" and parse_status_code("Canceled") == "Cancelled"
    with pytest.raises(AmlwsError, match="unknown job status"):
        parse_status_code(7)


def test_failed_job_raises_with_details(httpserver: HTTPServer, client) -> None:
    details = 'Module: Reader; SNR Job Id: 42; {"Exception":{"ErrorId":"LibraryException","ErrorCode":"1000"}}'
    expect_status(httpserver, "j2", {"StatusCode": "Running"})
    expect_status(httpserver, "j2", {"StatusCode": "Failed", "Results": None, "Details": details})
    with pytest.raises(JobFailed) as info:
        client().wait("j2")
    assert "BES job j2 failed" in info.value.message and "LibraryException" in info.value.message
    assert info.value.exit_code == ExitCode.FAILED
    assert info.value.job_status.details == details
    assert info.value.to_dict()["job"]["status"] == "Failed"
    # raise_on_failure=False returns the status instead (AzureMLPS behaviour, opt-in)
    expect_status(httpserver, "j2", {"StatusCode": 2, "Details": details})
    assert client().wait("j2", raise_on_failure=False).status == "Failed"


@pytest.mark.parametrize("code", ["Cancelled", 3])
def test_cancelled_job_is_its_own_error(httpserver: HTTPServer, client, code: Any) -> None:
    expect_status(httpserver, "j3", {"StatusCode": code, "Results": None})
    with pytest.raises(JobCancelled, match="was cancelled") as info:
        client().wait("j3")
    assert info.value.kind == "job_cancelled"
    assert len(httpserver.log) == 1  # terminal: no polling forever (azuremlps waits for "Canceled")


def test_missing_results(httpserver: HTTPServer, client) -> None:
    expect_status(httpserver, "j4", {"StatusCode": "Finished", "Details": None})
    status = client().wait("j4")
    assert status.results is None
    with pytest.raises(AmlwsError, match="returned no Results"):
        status.location("output1")


def test_output_names_are_case_sensitive(httpserver: HTTPServer, client) -> None:
    expect_status(httpserver, "j5", {"StatusCode": "Finished", "Results": {"Output1": RESULT_REF}})
    status = client().wait("j5")
    with pytest.raises(UsageError, match="case-sensitive: did you mean 'Output1'"):
        status.location("output1")


def test_throttled_status_honours_retry_after(httpserver: HTTPServer, client, sleeps: Sleeps) -> None:
    httpserver.expect_ordered_request(f"{BASE}/jobs/j6", method="GET", query_string=Q, headers=AUTH).respond_with_response(
        Response('{"error":{"code":"TooManyRequests"}}', status=429, headers={"Retry-After": "7"})
    )
    expect_status(httpserver, "j6", {"StatusCode": "Running"}, headers={"Retry-After": "4"})
    expect_status(httpserver, "j6", {"StatusCode": "Finished", "Results": {"output1": RESULT_REF}})
    status = client(poll_interval=0.5).wait("j6")
    httpserver.check_assertions()
    assert status.status == "Finished"
    assert sleeps == [7.0, 4.0]  # 429 Retry-After by the HTTP policy; 200 + Retry-After stretches the poll


def test_status_get_retried_on_5xx(httpserver: HTTPServer, client, sleeps: Sleeps) -> None:
    httpserver.expect_ordered_request(f"{BASE}/jobs/j7", method="GET", query_string=Q).respond_with_data("busy", status=503)
    expect_status(httpserver, "j7", {"StatusCode": "Finished"})
    assert client().wait("j7").status == "Finished"
    assert len(httpserver.log) == 2


def test_submit_not_retried_on_500(httpserver: HTTPServer, client, sleeps: Sleeps) -> None:
    httpserver.expect_request(f"{BASE}/jobs", method="POST", query_string=Q).respond_with_json(
        {"error": {"code": "InternalError", "message": "boom"}}, status=500
    )
    with pytest.raises(RemoteError) as info:
        client().submit(CONFIG)
    assert len(httpserver.log) == 1 and sleeps == []
    assert info.value.status == 500 and "HTTP 500" in info.value.message and "submitting the BES job" in info.value.message
    assert "not retried" in (info.value.hint or "")


def test_submit_retried_only_when_throttled(httpserver: HTTPServer, client, sleeps: Sleeps) -> None:
    httpserver.expect_ordered_request(f"{BASE}/jobs", method="POST", query_string=Q).respond_with_response(
        Response("", status=429, headers={"Retry-After": "3"})
    )
    httpserver.expect_ordered_request(f"{BASE}/jobs", method="POST", query_string=Q, json=CONFIG).respond_with_json("abc")
    assert client().submit(CONFIG) == "abc"
    assert sleeps == [3.0] and len(httpserver.log) == 2


def test_submit_not_retried_on_connection_reset(client, sleeps: Sleeps) -> None:
    """A raw server that reads the request and drops the connection: the POST may have landed."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    port = server.getsockname()[1]
    accepted: list[bytes] = []

    def serve() -> None:
        server.settimeout(5)
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            accepted.append(conn.recv(65536))
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            conn.close()
            try:
                server.settimeout(0.3)  # a retry would arrive at once; then stop
            except OSError:
                return  # the test already closed the listening socket

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        bes = BesClient.from_url(f"http://127.0.0.1:{port}{BASE}/jobs", KEY, http=HttpClient(sleep=sleeps, retries=3))
        with pytest.raises(ConnectionFailed) as info:
            bes.submit(CONFIG)
    finally:
        server.close()
        t.join(5)
    assert len(accepted) == 1 and accepted[0].startswith(b"POST /workspaces/ws1/services/svc1/jobs?api-version=2.0 ")
    assert "not retried" in (info.value.hint or "") and sleeps == []
    assert KEY not in info.value.message


def test_start_ambiguous_failure_checks_status(httpserver: HTTPServer, client) -> None:
    httpserver.expect_ordered_request(f"{BASE}/jobs/j8/start", method="POST", query_string=Q).respond_with_data("oops", status=500)
    expect_status(httpserver, "j8", {"StatusCode": "Running"})
    client().start("j8")  # the job left NotStarted: it was started; the start POST is not re-sent
    httpserver.check_assertions()
    assert len(httpserver.log) == 2


def test_start_failure_on_not_started_job_raises(httpserver: HTTPServer, client) -> None:
    httpserver.expect_ordered_request(f"{BASE}/jobs/j9/start", method="POST", query_string=Q).respond_with_json(
        {"error": {"code": "InvalidOperation", "details": [{"code": "CannotStartJob", "message": "cannot start"}]}}, status=400
    )
    expect_status(httpserver, "j9", {"StatusCode": "NotStarted"})
    with pytest.raises(RemoteError) as info:
        client().start("j9")
    assert info.value.status == 400 and "CannotStartJob" in info.value.detail_codes


def test_cancel_sends_delete(httpserver: HTTPServer, client) -> None:
    httpserver.expect_request(f"{BASE}/jobs/j10", method="DELETE", query_string=Q, headers=AUTH).respond_with_data("", status=200)
    client().cancel("j10")
    httpserver.check_assertions()
    assert len(httpserver.log) == 1


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("keep_job", [False, True])
def test_client_timeout_cancels_unless_keep_job(httpserver: HTTPServer, sleeps: Sleeps, keep_job: bool) -> None:
    clock = FakeClock()

    def sleep(seconds: float) -> None:
        sleeps(seconds)
        clock.now += seconds

    httpserver.expect_request(f"{BASE}/jobs/jt", method="GET", query_string=Q).respond_with_json({"StatusCode": "Running"})
    httpserver.expect_request(f"{BASE}/jobs/jt", method="DELETE", query_string=Q, headers=AUTH).respond_with_data("")
    bes = BesClient(httpserver.url_for(BASE), KEY, http=HttpClient(sleep=sleep), poll_interval=2, sleep=sleep, clock=clock)
    with pytest.raises(JobTimeout) as info:
        bes.wait("jt", timeout=5, keep_job=keep_job)
    deletes = [r for r, _ in httpserver.log if r.method == "DELETE"]
    assert len(deletes) == (0 if keep_job else 1)
    assert info.value.cancelled is (not keep_job)
    assert sum(sleeps) == pytest.approx(5.0)  # the last wait is cut to the deadline
    assert "jobs wait" in (info.value.hint or "") if keep_job else "--keep-job" in (info.value.hint or "")


@pytest.mark.parametrize(("interactive", "answer", "keep_job", "deleted"), [
    (False, None, False, True),   # no terminal: cancel, as on timeout
    (False, None, True, False),   # --keep-job
    (True, True, False, True),    # asked, yes
    (True, False, False, False),  # asked, no
])
def test_ctrl_c_cancels_or_asks(httpserver: HTTPServer, sleeps: Sleeps, capsys, interactive: bool, answer: Any, keep_job: bool, deleted: bool) -> None:
    httpserver.expect_request(f"{BASE}/jobs/jc", method="GET", query_string=Q).respond_with_json({"StatusCode": "Running"})
    httpserver.expect_request(f"{BASE}/jobs/jc", method="DELETE", query_string=Q).respond_with_data("")
    asked: list[str] = []

    def ask(question: str) -> bool:
        asked.append(question)
        return bool(answer)

    def interrupt(status: Any, elapsed: float) -> None:
        raise KeyboardInterrupt

    bes = BesClient(httpserver.url_for(BASE), KEY, http=HttpClient(sleep=sleeps), sleep=sleeps, interactive=interactive, ask=ask)
    with pytest.raises(KeyboardInterrupt):
        bes.wait("jc", progress=interrupt, keep_job=keep_job)
    assert len([r for r, _ in httpserver.log if r.method == "DELETE"]) == (1 if deleted else 0)
    assert asked == (["Cancel the remote BES job jc?"] if interactive and not keep_job else [])
    err = capsys.readouterr().err
    assert ("cancelled" in err) if deleted else ("left running" in err and "amlws jobs wait" in err)


@pytest.mark.parametrize("url", [
    "https://ussouthcentral.services.azureml.net/workspaces/ws/services/svc/jobs?api-version=2.0",
    "https://ussouthcentral.services.azureml.net/workspaces/ws/services/svc/jobs",
    "https://ussouthcentral.services.azureml.net/workspaces/ws/services/svc/jobs/",
    "https://ussouthcentral.services.azureml.net/workspaces/ws/services/svc",
    "https://ussouthcentral.services.azureml.net/workspaces/ws/services/svc/execute?api-version=2.0&details=true",
    "https://ussouthcentral.services.azureml.net/workspaces/ws/services/svc/jobs?details=true&api-version=2.0",
])
def test_api_location_from_url(url: str) -> None:
    assert api_location_from_url(url) == "https://ussouthcentral.services.azureml.net/workspaces/ws/services/svc"


@pytest.mark.parametrize(("url", "message"), [
    ("https://x.services.azureml.net/workspaces/ws/services/svc/jobs?api-version=2014-10-01", "unsupported api-version"),
    ("ftp://x/jobs", "not a BES/RRS URL"),
    ("ussouthcentral.services.azureml.net/jobs", "not a BES/RRS URL"),
    ("https://x.services.azureml.net/jobs", "no service path"),
])
def test_bad_urls(url: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        api_location_from_url(url)


def test_parse_status_tolerates_legacy_shapes() -> None:
    # the 2016 docs' "Status Code" typo, and the 2015 single "Result"
    s = parse_status("j", {"Status Code": "Finished", "Result": {"RelativeLocation": "c/b.csv", "BaseLocation": "https://a/", "SasBlobToken": "?sig=x"}})
    assert s.status == "Finished" and s.results == {"Result": {"RelativeLocation": "c/b.csv", "BaseLocation": "https://a/", "SasBlobToken": "?sig=x"}}
    with pytest.raises(AmlwsError, match="no StatusCode"):
        parse_status("j", {"Results": {}})
    with pytest.raises(AmlwsError, match="malformed"):
        parse_status("j", ["Finished"])


def test_job_id_must_be_present(httpserver: HTTPServer, client) -> None:
    httpserver.expect_request(f"{BASE}/jobs", method="POST").respond_with_data("", status=200)
    with pytest.raises(AmlwsError, match="no job id"):
        client().submit(CONFIG)


def test_api_key_never_in_errors(httpserver: HTTPServer, client) -> None:
    httpserver.expect_request(f"{BASE}/jobs/jx", method="GET").respond_with_json(
        {"error": {"code": "Unauthorized", "message": f"bad key {KEY}"}}, status=401
    )
    with pytest.raises(RemoteError) as info:
        client().status("jx")
    assert info.value.exit_code == ExitCode.AUTH and KEY not in info.value.message


def test_job_progress_reports_each_status_to_the_current_reporter() -> None:
    import io

    from amlws.progress import ConsoleProgress, reporting
    from amlws.studio.bes import JobStatus, job_progress

    plain = io.StringIO()
    with reporting(ConsoleProgress(stream=plain)):
        report = job_progress("BES job")
        for state, t in (("NotStarted", 0.0), ("Running", 2.0), ("Running", 4.0), ("Finished", 9.4)):
            report(JobStatus("j1", state), t)
    assert plain.getvalue() == "BES job j1: NotStarted (0s)\nBES job j1: Running (2s)\nBES job j1: Finished (9s)\n"
