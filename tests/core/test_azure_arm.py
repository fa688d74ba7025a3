"""The Azure plumbing in core (``amlws.azure``): the generic ARM resource client against a TLS
stand-in for ARM -- each call's method, path, api-version and exact body; long-running operations
through the one poller (``Azure-AsyncOperation`` to Succeeded and to Failed, ``Location`` 202s);
the one error mapping (404 -> not found, 401/403 -> auth); the one retry decision shared with the
``requests`` clients; and a backend that needs nothing from another plugin."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from amlws import http as policy
from amlws.config import Settings
from amlws.errors import AuthError, ExitCode, NotFoundError, OperationFailed, RemoteError

REPO = Path(__file__).resolve().parents[2]
TOKEN = "core-azure-test-token-0123456789"
API = "2025-12-01"
SUB = "00000000-1111-2222-3333-444444444444"
WS = f"/subscriptions/{SUB}/resourceGroups/rg1/providers/Microsoft.MachineLearningServices/workspaces/ws1"
EP = WS + "/onlineEndpoints/ep1"
DEP = EP + "/deployments/blue"
OPS = f"/subscriptions/{SUB}/providers/Microsoft.MachineLearningServices/locations/eastus/mfeOperationsStatus"


@pytest.fixture
def arm(tls_httpserver: HTTPServer) -> Iterator[HTTPServer]:
    """The ARM stand-in; after each test, every request it got carried the bearer token."""
    tls_httpserver.clear()
    yield tls_httpserver
    try:
        for request, _ in tls_httpserver.log:
            assert request.headers.get("Authorization") == f"Bearer {TOKEN}", request.url
    finally:
        tls_httpserver.clear()


@pytest.fixture
def settings(arm: HTTPServer, ca: trustme.CA, tmp_path: Path) -> Settings:
    pem = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    return Settings(env={"AMLWS_ARM_ENDPOINT": f"https://127.0.0.1:{arm.port}", "AMLWS_ARM_TOKEN": TOKEN,
                         "AMLWS_CA_BUNDLE": str(pem), "AMLWS_POLL_INTERVAL": "0.5"})


class Waits(list[float]):
    """An injected sleep: records each wait instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def waits() -> Waits:
    return Waits()


@pytest.fixture
def client(settings: Settings, waits: Waits) -> Iterator[Any]:
    from amlws.azure.arm import ArmResourceClient

    with ArmResourceClient(settings, api_version=API, sleep=waits) as c:
        yield c


def _seen(server: HTTPServer) -> list[tuple[str, str, str | None]]:
    return [(r.method, r.path, r.args.get("api-version")) for r, _ in server.log]


# --- reads -----------------------------------------------------------------------------------------------------------


def test_get_by_id_sends_the_api_version(client: Any, arm: HTTPServer) -> None:
    arm.expect_request(DEP, method="GET", query_string={"api-version": API}).respond_with_json({"id": DEP, "name": "blue"})
    arm.expect_request(DEP, method="GET", query_string={"x": "1", "api-version": "2024-04-01"}).respond_with_json({"id": DEP})
    assert client.get(DEP) == {"id": DEP, "name": "blue"}
    assert client.get(DEP, api_version="2024-04-01", params={"x": "1"})  # per call
    assert _seen(arm) == [("GET", DEP, API), ("GET", DEP, "2024-04-01")]
    assert arm.log[1][0].args.get("x") == "1"
    assert [(w["method"], w["status"]) for w in client.wire] == [("GET", 200), ("GET", 200)]


def test_list_follows_next_link(client: Any, arm: HTTPServer) -> None:
    collection = EP + "/deployments"
    page2 = arm.url_for(collection) + f"?api-version={API}&$skipToken=abc"
    arm.expect_ordered_request(collection, method="GET", query_string={"api-version": API}).respond_with_json(
        {"value": [{"name": "blue"}], "nextLink": page2})
    arm.expect_ordered_request(collection, method="GET", query_string={"api-version": API, "$skipToken": "abc"}).respond_with_json(
        {"value": [{"name": "green"}]})
    assert [d["name"] for d in client.list(collection)] == ["blue", "green"]
    arm.check_assertions()
    assert len(arm.log) == 2


def test_next_link_to_another_host_keeps_the_token_home(client: Any) -> None:
    url = client.next_page_url("https://elsewhere.example/x?$skipToken=t%201", EP + "/deployments")
    assert url == client.url(EP + "/deployments") + f"?$skiptoken=t%201&api-version={API}"


# --- changes and long-running operations ------------------------------------------------------------------------


def test_put_polls_azure_async_operation_to_succeeded_then_gets_the_resource(client: Any, arm: HTTPServer, waits: Waits) -> None:
    body = {"location": "eastus", "properties": {"endpointComputeType": "Managed", "model": "m:1"}, "sku": {"name": "Default", "capacity": 1}}
    status_url = arm.url_for(OPS + "/odidp:1") + f"?api-version={API}"
    arm.expect_ordered_request(DEP, method="PUT", query_string={"api-version": API}).respond_with_json(
        {"id": DEP, "properties": {"provisioningState": "Creating"}}, status=201,
        headers={"Azure-AsyncOperation": status_url, "Retry-After": "7", "x-ms-request-id": "req-put"})
    arm.expect_ordered_request(OPS + "/odidp:1", method="GET").respond_with_json({"status": "InProgress"}, headers={"Retry-After": "2"})
    arm.expect_ordered_request(OPS + "/odidp:1", method="GET").respond_with_json({"status": "Succeeded"})
    arm.expect_ordered_request(DEP, method="GET", query_string={"api-version": API}).respond_with_json(
        {"id": DEP, "properties": {"provisioningState": "Succeeded", "model": "m:1"}})
    final = client.put(DEP, body)
    arm.check_assertions()
    assert final["properties"]["provisioningState"] == "Succeeded"
    put = arm.log[0][0]
    assert json.loads(put.get_data()) == body and put.headers["Content-Type"] == "application/json; charset=utf-8"
    assert waits == [2.0]  # first poll at once, then the poll's Retry-After (injected sleep: no real waiting)


def test_exact_bytes_are_sent_as_given(client: Any, arm: HTTPServer) -> None:
    raw = b'{"properties": {"b": 1, "a": 2}, "tags": {}}'
    arm.expect_request(DEP, method="PATCH").respond_with_json({"id": DEP, "properties": {"provisioningState": "Succeeded"}})
    arm.expect_request(DEP, method="GET").respond_with_json({"id": DEP, "read": "back"})
    assert client.patch(DEP, raw) == {"id": DEP, "read": "back"}  # a 200 without a status URL is read back
    assert arm.log[0][0].get_data() == raw
    assert _seen(arm) == [("PATCH", DEP, API), ("GET", DEP, API)]


def test_failed_operation_is_mapped_with_the_operations_error(client: Any, arm: HTTPServer, settings: Settings) -> None:
    status_url = arm.url_for(OPS + "/odidp:2") + f"?api-version={API}"
    arm.expect_ordered_request(DEP, method="PUT").respond_with_json(
        {"id": DEP}, status=201, headers={"Azure-AsyncOperation": status_url, "x-ms-request-id": "req-put-2"})
    arm.expect_ordered_request(OPS + "/odidp:2", method="GET").respond_with_json({"status": "InProgress"})
    arm.expect_ordered_request(OPS + "/odidp:2", method="GET").respond_with_json(
        {"status": "Failed", "error": {"code": "ModelRegistryError", "message": "Could not find asset with ID: m:9"}})
    with pytest.raises(OperationFailed) as info:
        client.put(DEP, {"properties": {}}, what="update the deployment")
    err = info.value
    assert err.exit_code == ExitCode.FAILED == 1
    assert err.message == ("the operation to update the deployment ended Failed: ModelRegistryError: "
                           "Could not find asset with ID: m:9 (request id req-put-2)")
    assert len(arm.log) == 3  # no final GET after a failure


def test_provisioning_state_in_the_body_is_polled(client: Any, arm: HTTPServer) -> None:
    arm.expect_ordered_request(DEP, method="PUT").respond_with_json({"id": DEP, "properties": {"provisioningState": "Creating"}})
    arm.expect_ordered_request(DEP, method="GET").respond_with_json({"id": DEP, "properties": {"provisioningState": "Updating"}})
    arm.expect_ordered_request(DEP, method="GET").respond_with_json({"id": DEP, "properties": {"provisioningState": "Succeeded"}})
    assert client.put(DEP, {"properties": {}})["properties"]["provisioningState"] == "Succeeded"
    arm.check_assertions()


def test_delete_polls_location_202s(client: Any, arm: HTTPServer, waits: Waits) -> None:
    result_path = f"/subscriptions/{SUB}/providers/Microsoft.MachineLearningServices/locations/eastus/mfeOperationResults/od:3"
    location = arm.url_for(result_path) + f"?api-version={API}"
    arm.expect_ordered_request(DEP, method="DELETE", query_string={"api-version": API}).respond_with_data(
        "", status=202, headers={"Location": location, "Retry-After": "3"})
    arm.expect_ordered_request(result_path, method="GET").respond_with_data("", status=202, headers={"Location": location})
    arm.expect_ordered_request(result_path, method="GET").respond_with_data("", status=204)
    assert client.delete(DEP) is None
    arm.check_assertions()
    assert _seen(arm) == [("DELETE", DEP, API), ("GET", result_path, API), ("GET", result_path, API)]
    assert waits == [0.5]  # first poll at once, then poll_interval (the 202 poll sent no Retry-After)


def test_timeout_stops_polling_with_operation_timeout(settings: Settings, arm: HTTPServer) -> None:
    from amlws.azure.arm import ArmResourceClient
    from amlws.errors import OperationTimeout

    settings.flags["timeout"] = 5.0
    status_url = arm.url_for(OPS + "/slow") + f"?api-version={API}"
    arm.expect_request(DEP, method="PUT").respond_with_json({}, status=201, headers={"Azure-AsyncOperation": status_url})
    arm.expect_request(OPS + "/slow", method="GET").respond_with_json({"status": "InProgress"}, headers={"Retry-After": "60"})
    with ArmResourceClient(settings, api_version=API, sleep=Waits()) as c, pytest.raises(OperationTimeout) as info:
        c.put(DEP, {})
    assert "did not finish within 5 s (status InProgress)" in info.value.message
    assert len(arm.log) == 2  # refused to wait 60 s past the 5 s deadline: no third request


# --- POST actions ---------------------------------------------------------------------------------------------------


def test_post_action_without_body_and_with_body(client: Any, arm: HTTPServer) -> None:
    from amlws.redact import redact

    arm.expect_request(EP + "/listKeys", method="POST", query_string={"api-version": API}).respond_with_json(
        {"primaryKey": "pk-secret-1", "secondaryKey": "sk-secret-2"})
    arm.expect_request(DEP + "/getLogs", method="POST", query_string={"api-version": API}).respond_with_json({"content": "log"})
    assert client.post(EP, "listKeys", secret_fields=True) == {"primaryKey": "pk-secret-1", "secondaryKey": "sk-secret-2"}
    assert redact("key pk-secret-1") == "key ***"
    assert client.post(DEP, "getLogs", {"containerType": "InferenceServer", "tail": 10}) == {"content": "log"}
    keys, logs = arm.log[0][0], arm.log[1][0]
    assert keys.get_data() == b"" and keys.headers.get("Content-Length") == "0"
    assert logs.get_data() == b'{"containerType":"InferenceServer","tail":10}'
    assert logs.headers["Content-Type"] == "application/json; charset=utf-8"


def test_long_running_post_action_polls_location(client: Any, arm: HTTPServer) -> None:
    result_path = f"/subscriptions/{SUB}/providers/Microsoft.MachineLearningServices/locations/eastus/mfeOperationResults/rk"
    arm.expect_ordered_request(EP + "/regenerateKeys", method="POST").respond_with_data(
        "", status=202, headers={"Location": arm.url_for(result_path) + f"?api-version={API}"})
    arm.expect_ordered_request(result_path, method="GET").respond_with_data("", status=202)
    arm.expect_ordered_request(result_path, method="GET").respond_with_data("", status=200)
    client.post(EP, "regenerateKeys", {"keyType": "Primary"}, lro=True)
    arm.check_assertions()
    assert [r.method for r, _ in arm.log] == ["POST", "GET", "GET"]


def test_long_running_post_action_that_fails(client: Any, arm: HTTPServer) -> None:
    status_url = arm.url_for(OPS + "/rk2") + f"?api-version={API}"
    arm.expect_ordered_request(EP + "/regenerateKeys", method="POST").respond_with_data(
        "", status=202, headers={"Azure-AsyncOperation": status_url, "x-ms-request-id": "req-post"})
    arm.expect_ordered_request(OPS + "/rk2", method="GET").respond_with_json(
        {"status": "Canceled", "error": {"code": "Conflict", "message": "another operation is running"}})
    with pytest.raises(OperationFailed, match=r"ended Canceled: Conflict: another operation is running \(request id req-post\)"):
        client.post(EP, "regenerateKeys", {"keyType": "Primary"}, lro=True, what="regenerate the keys")


# --- errors ---------------------------------------------------------------------------------------------------------


def test_404_is_not_found_exit_3(client: Any, arm: HTTPServer) -> None:
    arm.expect_request(DEP, method="GET").respond_with_json(
        {"error": {"code": "ResourceNotFound", "message": "no deployment blue"}}, status=404, headers={"x-ms-request-id": "r404"})
    with pytest.raises(NotFoundError) as info:
        client.get(DEP, what="get the deployment")
    err = info.value
    assert err.exit_code == ExitCode.NOT_FOUND == 3 and err.kind == "not_found"
    assert isinstance(err, RemoteError) and err.status == 404 and err.code == "ResourceNotFound"
    assert err.message.startswith(DEP + ": HTTP 404 NOT FOUND (get the deployment): ResourceNotFound: no deployment blue")
    assert err.hint == "check the subscription, resource group and resource name"
    assert len(arm.log) == 1


@pytest.mark.parametrize("status", [401, 403])
def test_401_and_403_are_auth_exit_4(client: Any, arm: HTTPServer, status: int) -> None:
    arm.expect_request(DEP, method="GET").respond_with_json({"error": {"code": "AuthorizationFailed", "message": "no"}}, status=status)
    with pytest.raises(AuthError) as info:
        client.get(DEP)
    assert info.value.exit_code == ExitCode.AUTH == 4 and "AuthorizationFailed" in info.value.message
    assert len(arm.log) == 1


def test_a_backend_words_its_hints(settings: Settings, arm: HTTPServer) -> None:
    from amlws.azure.arm import ArmResourceClient
    from amlws.azure.errors import Hints

    hints = Hints(noun="online deployment", codes={"UserErrorInvalidModel": "register the model first"})
    arm.expect_ordered_request(DEP, method="GET").respond_with_json({"error": {"code": "Forbidden"}}, status=403)
    arm.expect_ordered_request(DEP, method="PUT").respond_with_json(
        {"error": {"code": "BadArgument", "details": [{"code": "UserErrorInvalidModel", "message": "m"}]}}, status=400)
    with ArmResourceClient(settings, api_version=API, hints=hints) as c:
        with pytest.raises(AuthError) as denied:
            c.get(DEP)
        with pytest.raises(RemoteError) as bad:
            c.put(DEP, {})
    assert denied.value.hint == "the credentials lack permission on this online deployment (needs Contributor or similar)"
    assert bad.value.hint == "register the model first" and bad.value.exit_code == ExitCode.USAGE


# --- retries: one decision -------------------------------------------------------------------------------------------


def test_429_is_retried_after_retry_after_even_for_a_post(client: Any, arm: HTTPServer, waits: Waits) -> None:
    answers = [Response('{"error": {"code": "TooManyRequests"}}', status=429, headers={"Retry-After": "7"}),
               Response('{"content": "ok"}', status=200, content_type="application/json")]
    arm.expect_request(DEP + "/getLogs", method="POST").respond_with_handler(lambda _r: answers.pop(0))
    assert client.post(DEP, "getLogs", {"tail": 1}) == {"content": "ok"}
    assert len(arm.log) == 2 and waits == [7.0]


def test_a_post_the_service_may_have_acted_on_is_not_resent(client: Any, arm: HTTPServer) -> None:
    arm.expect_request(DEP + "/getLogs", method="POST").respond_with_json({"error": {"code": "InternalServerError"}}, status=503)
    with pytest.raises(RemoteError) as info:
        client.post(DEP, "getLogs", {"tail": 1})
    assert info.value.exit_code == ExitCode.FAILED and len(arm.log) == 1  # azure-core alone would re-POST on 503


CASE = re.compile(r"^/case/(\d+)/(\w+)$")
RETRY_AFTER = {"none": None, "two": "2", "huge": "999", "date": "Mon, 01 Jan 2001 00:00:00 GMT"}


def _case_handler(request: Request) -> Response:
    m = CASE.match(request.path)
    assert m
    retry_after = RETRY_AFTER[m.group(2)]
    return Response('{"error": {"code": "X"}}', status=int(m.group(1)), content_type="application/json",
                    headers={"Retry-After": retry_after} if retry_after else {})


def _requests_decision(settings: Settings, method: str, url: str) -> tuple[int, list[float]]:
    from amlws.http import HttpClient

    waits = Waits()
    before = 0
    with HttpClient(settings, sleep=waits) as http:
        try:
            http.request(method, url, headers={"Authorization": f"Bearer {TOKEN}"})
        except RemoteError:
            pass
        before = http.request_count
    return before, list(waits)


def _azure_decision(settings: Settings, method: str, url: str) -> tuple[int, list[float]]:
    from azure.core.rest import HttpRequest

    from amlws.azure.arm import ArmResourceClient
    from amlws.errors import AmlwsError

    waits = Waits()
    with ArmResourceClient(settings, api_version=API, sleep=waits) as c:
        try:
            c.send(HttpRequest(method, url), "probe", "/case")
        except AmlwsError:
            pass
        return len(c.wire), list(waits)


@pytest.mark.parametrize("retry_after", sorted(RETRY_AFTER))
def test_requests_and_azure_core_make_the_same_retry_decision(settings: Settings, arm: HTTPServer, retry_after: str) -> None:
    arm.expect_request(re.compile(r"^/case/")).respond_with_handler(_case_handler)
    for status in (400, 404, 408, 409, 429, 500, 502, 503, 504, 507):
        for method in ("GET", "PUT", "DELETE", "POST", "PATCH"):
            url = arm.url_for(f"/case/{status}/{retry_after}")
            sent_r, waits_r = _requests_decision(settings, method, url)
            sent_a, waits_a = _azure_decision(settings, method, url)
            retried = policy.retryable_status(status, method)
            assert sent_r == sent_a == (policy.DEFAULT_RETRIES + 1 if retried else 1), (status, method)
            assert len(waits_r) == len(waits_a) == sent_r - 1
            for attempt, (wr, wa) in enumerate(zip(waits_r, waits_a, strict=True), start=1):
                if retry_after == "none":  # jittered: both in the same band
                    base = min(policy.MAX_BACKOFF, policy.DEFAULT_BACKOFF * 2 ** (attempt - 1))
                    assert base / 2 <= wr <= base and base / 2 <= wa <= base, (status, method, attempt, wr, wa)
                else:
                    assert wr == wa == {"two": 2.0, "huge": policy.MAX_RETRY_AFTER, "date": 0.0}[retry_after]


def test_retry_functions_are_the_one_rule() -> None:
    assert policy.retryable_status(503, "GET") and not policy.retryable_status(503, "POST")
    assert policy.retryable_status(429, "POST") and not policy.retryable_status(409, "GET")
    assert policy.retryable_status(503, "POST", idempotent=True)
    assert policy.retryable_failure("POST", sent=False) and not policy.retryable_failure("POST", sent=True)
    assert policy.retry_delay(1, "999") == policy.MAX_RETRY_AFTER and policy.retry_delay(3, "4") == 4.0


# --- architecture ---------------------------------------------------------------------------------------------------


def _imported_modules(path: Path, package: str) -> set[str]:
    """Absolute module names ``path`` imports (relative imports resolved against ``package``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            out.update(f"{mod}.{alias.name}" for alias in node.names)
    return out


def test_no_plugin_imports_another_plugin() -> None:
    plugins_dir = REPO / "plugins"
    names = sorted(p.name for p in plugins_dir.iterdir() if (p / "__init__.py").exists())
    assert {"arm", "classic"} <= set(names)
    offenders = []
    for name in names:
        for path in sorted((plugins_dir / name).rglob("*.py")):
            package = "amlws.plugins." + ".".join(path.relative_to(plugins_dir).with_suffix("").parts[:-1])
            for mod in _imported_modules(path, package.rstrip(".")):
                for other in names:
                    if other != name and (mod == f"amlws.plugins.{other}" or mod.startswith(f"amlws.plugins.{other}.")):
                        offenders.append(f"{path.relative_to(REPO)} imports {mod}")
    assert offenders == []


def test_the_azure_plumbing_imports_no_azure_sdk_until_used() -> None:
    code = (
        "import sys, amlws, amlws.azure.arm, amlws.azure.credentials, amlws.azure.pipeline, amlws.azure.polling,"
        " amlws.azure.errors, amlws.azure.connection_string, amlws.plugins.arm.client;"
        "print(','.join(sorted(m for m in sys.modules if m == 'azure' or m.startswith('azure.'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
