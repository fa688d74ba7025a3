"""The one HTTP policy, against real local servers (pytest-httpserver, TLS via trustme)."""

from __future__ import annotations

import socket
import ssl
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
import trustme
from pytest_httpserver import HTTPServer
from werkzeug import Response

from amlws import __version__
from amlws.config import Settings
from amlws.errors import ConnectionFailed, ExitCode, RemoteError, UsageError
from amlws.http import HttpClient, ca_bundle, error_from_response, parse_retry_after
from amlws.redact import register_secret

pytestmark = pytest.mark.usefixtures("amlws_env")


class Sleeps(list):
    """Injected sleep: records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client(**kwargs) -> tuple[HttpClient, Sleeps]:
    sleeps = Sleeps()
    kwargs.setdefault("timeout", (2.0, 5.0))
    return HttpClient(Settings(env={}), sleep=sleeps, **kwargs), sleeps


def statuses(server: HTTPServer) -> list[int]:
    return [resp.status_code for _, resp in server.log]


# --- retries ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_get_is_retried_on_transient_statuses_honouring_retry_after(httpserver, status):
    httpserver.expect_ordered_request("/r", method="GET").respond_with_data("busy", status=status, headers={"Retry-After": "3"})
    httpserver.expect_ordered_request("/r", method="GET").respond_with_json({"ok": True})
    http, sleeps = client()
    resp = http.request("GET", httpserver.url_for("/r"))
    assert resp.json() == {"ok": True}
    assert statuses(httpserver) == [status, 200]
    assert sleeps == [3.0]
    assert http.request_count == 2


def test_retry_after_http_date_and_backoff_without_header(httpserver):
    when = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    httpserver.expect_ordered_request("/r").respond_with_data("", status=503, headers={"Retry-After": when})
    httpserver.expect_ordered_request("/r").respond_with_data("", status=503)
    httpserver.expect_ordered_request("/r").respond_with_data("ok")
    http, sleeps = client(backoff=0.5)
    assert http.request("GET", httpserver.url_for("/r")).text == "ok"
    assert 27 <= sleeps[0] <= 30
    assert 0.5 <= sleeps[1] <= 1.0  # second attempt: base 1.0 s, half of it jittered


def test_retry_after_is_capped():
    assert parse_retry_after("100000") == 100000.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("-5") == 0.0


def test_retries_are_bounded_and_the_error_is_readable(httpserver):
    body = {"error": {"code": "ServiceUnavailable", "message": "try later", "details": [{"code": "Busy", "message": "node busy"}]}}
    httpserver.expect_request("/r").respond_with_json(body, status=503, headers={"x-ms-request-id": "req-42"})
    http, sleeps = client(retries=2, backoff=0.01)
    with pytest.raises(RemoteError) as info:
        http.request("GET", httpserver.url_for("/r"), error_context="reading the service")
    err = info.value
    assert len(httpserver.log) == 3 and len(sleeps) == 2
    assert err.status == 503 and err.code == "ServiceUnavailable" and err.detail_codes == ["Busy"]
    assert err.request_id == "req-42" and err.exit_code == ExitCode.FAILED
    assert err.message == (
        "HTTP 503 SERVICE UNAVAILABLE: reading the service: ServiceUnavailable: try later: [Busy] node busy: request id req-42"
    )


def test_post_is_not_retried_on_500(httpserver):
    httpserver.expect_request("/jobs", method="POST").respond_with_json({"error": {"code": "Internal"}}, status=500)
    http, sleeps = client()
    with pytest.raises(RemoteError) as info:
        http.request("POST", httpserver.url_for("/jobs"), json_body={"Inputs": {}})
    assert info.value.status == 500
    assert len(httpserver.log) == 1 and sleeps == []


def test_post_is_retried_on_429_because_it_was_not_processed(httpserver):
    httpserver.expect_ordered_request("/jobs", method="POST").respond_with_data("", status=429, headers={"Retry-After": "1"})
    httpserver.expect_ordered_request("/jobs", method="POST").respond_with_json({"id": "job1"})
    http, sleeps = client()
    assert http.request("POST", httpserver.url_for("/jobs"), json_body={"a": 1}).json() == {"id": "job1"}
    assert statuses(httpserver) == [429, 200] and sleeps == [1.0]
    # the same body both times
    assert [req.get_data() for req, _ in httpserver.log] == [b'{"a":1}', b'{"a":1}']


def test_idempotent_override(httpserver):
    httpserver.expect_ordered_request("/x", method="POST").respond_with_data("", status=503)
    httpserver.expect_ordered_request("/x", method="POST").respond_with_data("ok")
    http, _ = client(backoff=0.01)
    assert http.request("POST", httpserver.url_for("/x"), idempotent=True).text == "ok"
    httpserver.clear()
    httpserver.expect_request("/y", method="PUT").respond_with_data("", status=503)
    with pytest.raises(RemoteError):
        http.request("PUT", httpserver.url_for("/y"), idempotent=False)
    assert len(httpserver.log) == 1


def test_deadline_stops_retrying(httpserver):
    httpserver.expect_request("/r").respond_with_data("", status=503, headers={"Retry-After": "60"})
    http, sleeps = client()
    with pytest.raises(RemoteError):
        http.request("GET", httpserver.url_for("/r"), deadline=time.monotonic() + 5)
    assert len(httpserver.log) == 1 and sleeps == []


def test_ok_statuses_and_error_exit_codes(httpserver):
    httpserver.expect_request("/a").respond_with_data("", status=404)
    httpserver.expect_request("/b").respond_with_data("denied", status=403)
    httpserver.expect_request("/c").respond_with_data("", status=409)
    http, _ = client()
    assert http.request("GET", httpserver.url_for("/a"), ok=[200, 404]).status_code == 404
    with pytest.raises(RemoteError) as info:
        http.request("GET", httpserver.url_for("/a"))
    assert info.value.exit_code == ExitCode.NOT_FOUND and "check the target" in info.value.hint
    with pytest.raises(RemoteError) as info:
        http.request("GET", httpserver.url_for("/b"))
    assert info.value.exit_code == ExitCode.AUTH and info.value.message == "HTTP 403 FORBIDDEN: denied"
    with pytest.raises(RemoteError) as info:
        http.request("DELETE", httpserver.url_for("/c"))
    assert info.value.exit_code == ExitCode.CONFLICT


# --- timeouts and connection failures -----------------------------------------------------------


def slow(request):
    time.sleep(0.4)
    return Response("late")


def test_read_timeout_is_retried_for_get_then_fails(httpserver):
    httpserver.expect_request("/slow").respond_with_handler(slow)
    http, sleeps = client(timeout=(1.0, 0.1), retries=1, backoff=0.01)
    with pytest.raises(ConnectionFailed) as info:
        http.request("GET", httpserver.url_for("/slow"), error_context="polling")
    assert info.value.message == f"timed out: GET http://localhost:{httpserver.port} (polling)"
    assert len(sleeps) == 1


def test_read_timeout_is_not_retried_for_post(httpserver):
    httpserver.expect_request("/slow", method="POST").respond_with_handler(slow)
    http, sleeps = client(timeout=(1.0, 0.1), retries=3)
    with pytest.raises(ConnectionFailed, match="timed out: POST"):
        http.request("POST", httpserver.url_for("/slow"))
    assert sleeps == [] and http.request_count == 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_connection_refused_is_retried_then_one_clear_error(method):
    port = free_port()
    http, sleeps = client(retries=2, backoff=0.01)
    with pytest.raises(ConnectionFailed) as info:
        http.request(method, f"http://127.0.0.1:{port}/x")
    # refused means never sent, so even a POST may be retried
    assert len(sleeps) == 2 and http.request_count == 3
    assert info.value.message == f"cannot connect: {method} http://127.0.0.1:{port}"
    assert info.value.exit_code == ExitCode.FAILED and info.value.status is None


def test_invalid_url_is_a_usage_error():
    http, _ = client()
    with pytest.raises(UsageError, match="invalid URL"):
        http.request("GET", "not a url")


# --- headers, bodies, tracing -----------------------------------------------------------------------


def test_user_agent_and_json_body(httpserver):
    seen = {}

    def handler(request):
        seen.update(headers=dict(request.headers), body=request.get_data(), args=request.args.to_dict())
        return Response("ok")

    httpserver.expect_request("/p", method="PUT").respond_with_handler(handler)
    http, _ = client()
    http.request("PUT", httpserver.url_for("/p"), params={"api-version": "2017-01-01"}, json_body={"b": [1, "é"]})
    assert seen["headers"]["User-Agent"].startswith(f"amlws/{__version__} ")
    assert seen["headers"]["Content-Type"] == "application/json; charset=utf-8"
    assert seen["body"] == '{"b":[1,"é"]}'.encode()
    assert seen["args"] == {"api-version": "2017-01-01"}


def test_debug_trace_redacts_authorization_sas_and_account_keys(httpserver, debug_logging, capsys):
    api_key = "apikey-VERY-secret-0001"
    echoed = {"SasBlobToken": "?sv=2020&sig=RESPONSESIG", "note": "AccountKey=RESPKEY123;EndpointSuffix=x"}
    httpserver.expect_request("/svc").respond_with_json(echoed, headers={"Location": "https://h/op?sig=LOCSIG"})
    http, _ = client()
    debug_logging()
    capsys.readouterr()
    http.request(
        "POST",
        httpserver.url_for("/svc") + "?sv=2020&sig=URLSIGNATURE",
        headers={"Authorization": f"Bearer {api_key}"},
        data="DefaultEndpointsProtocol=https;AccountName=a;AccountKey=BODYKEY999;",
    )
    err = capsys.readouterr().err
    assert "> POST http://localhost" in err and "< 200 OK" in err
    for secret in (api_key, "URLSIGNATURE", "BODYKEY999", "RESPONSESIG", "RESPKEY123", "LOCSIG"):
        assert secret not in err, secret
    assert "> Authorization: ***" in err and "sig=***" in err and "AccountKey=***" in err
    # the bearer value is now a known secret everywhere, not only in traces
    from amlws.redact import redact

    assert redact(f"x {api_key} y") == "x *** y"


def test_no_trace_without_debug(httpserver, capsys):
    httpserver.expect_request("/q").respond_with_data("ok")
    http, _ = client()
    http.request("GET", httpserver.url_for("/q"))
    assert capsys.readouterr().err == ""


def test_error_messages_are_redacted(httpserver):
    register_secret("known-secret-value-77")
    httpserver.expect_request("/e").respond_with_json(
        {"error": {"code": "Bad", "message": "blob https://a/b?sig=ERRSIG with known-secret-value-77"}}, status=400
    )
    http, _ = client()
    with pytest.raises(RemoteError) as info:
        http.request("GET", httpserver.url_for("/e"))
    assert "ERRSIG" not in info.value.message and "known-secret-value-77" not in info.value.message
    assert info.value.exit_code == ExitCode.USAGE


def test_error_from_non_json_body(httpserver):
    import requests

    httpserver.expect_request("/h").respond_with_data("<html>\nGateway exploded\n</html>", status=502)
    resp = requests.get(httpserver.url_for("/h"), timeout=5)
    err = error_from_response(resp)
    assert err.message == "HTTP 502 BAD GATEWAY: <html>" and err.code is None


# --- TLS and CA bundles --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    ca = trustme.CA()
    other_ca = trustme.CA()
    folder = tmp_path_factory.mktemp("tls")
    ca_pem = folder / "amlws-ca.pem"
    other_pem = folder / "other-ca.pem"
    ca.cert_pem.write_to_path(str(ca_pem))
    other_ca.cert_pem.write_to_path(str(other_pem))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    server = HTTPServer(host="localhost", port=0, ssl_context=context)
    server.start()
    server.expect_request("/tls").respond_with_json({"tls": True})
    try:
        yield server, ca_pem, other_pem
    finally:
        server.clear()
        server.stop()


def test_amlws_ca_bundle_wins_over_requests_ca_bundle(tls_server, monkeypatch):
    server, ca_pem, other_pem = tls_server
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other_pem))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(other_pem))
    monkeypatch.setenv("AMLWS_CA_BUNDLE", str(ca_pem))
    http, _ = client()
    assert http.verify == str(ca_pem)
    assert http.request("GET", server.url_for("/tls")).json() == {"tls": True}


def test_ca_bundle_from_the_profile_setting(tls_server, monkeypatch):
    server, ca_pem, other_pem = tls_server
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other_pem))
    http = HttpClient(Settings(env={}, profile_values={"ca_bundle": str(ca_pem)}))
    assert http.request("GET", server.url_for("/tls")).json() == {"tls": True}


def test_requests_ca_bundle_is_honoured_when_amlws_has_none(tls_server, monkeypatch):
    server, ca_pem, other_pem = tls_server
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca_pem))
    assert ca_bundle(Settings(env={})) == str(ca_pem)
    http, _ = client()
    assert http.request("GET", server.url_for("/tls")).json() == {"tls": True}


def test_untrusted_certificate_is_one_clear_error_and_not_retried(tls_server, monkeypatch):
    server, _, other_pem = tls_server
    monkeypatch.setenv("AMLWS_CA_BUNDLE", str(other_pem))
    http, sleeps = client()
    with pytest.raises(ConnectionFailed) as info:
        http.request("GET", server.url_for("/tls"))
    assert info.value.message.startswith(f"TLS verification failed for https://localhost:{server.port}: ")
    assert "AMLWS_CA_BUNDLE" in info.value.hint
    assert sleeps == []


def test_default_verify_is_true_without_settings():
    assert ca_bundle(Settings(env={})) is True


def test_missing_ca_bundle_is_a_config_error(tmp_path, monkeypatch):
    from amlws.errors import ConfigError

    monkeypatch.setenv("AMLWS_CA_BUNDLE", str(tmp_path / "nope.pem"))
    with pytest.raises(ConfigError) as info:
        HttpClient(Settings(env={}))
    assert info.value.message == f"CA bundle not found: {tmp_path / 'nope.pem'}" and info.value.exit_code == 2

