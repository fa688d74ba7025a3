"""The ARM backend retries under amlws's one HTTP policy (amlws.http): same budget, statuses,
Retry-After cap, jitter; 429 retried for any method; no retry of a 409 even with Retry-After."""

from __future__ import annotations

import json

from werkzeug import Response

from amlws import http as policy
from amlws.config import Settings


def test_the_arm_retry_policy_is_built_from_the_http_policy():
    from amlws.plugins.arm.client import _retry_policy

    retry = _retry_policy(timeout=30.0)
    assert retry.total_retries == retry.status_retries == policy.DEFAULT_RETRIES
    assert retry.backoff_factor == policy.DEFAULT_BACKOFF and retry.backoff_max == policy.MAX_BACKOFF
    assert retry._retry_on_status_codes == set(policy.RETRY_STATUSES) and retry.timeout == 30.0
    waits = {retry.get_backoff_time({"history": [1, 2, 3], "backoff": 0.5, "max_backoff": 20.0}) for _ in range(50)}
    assert len(waits) > 1 and all(1.0 <= w <= 2.0 for w in waits)  # 2 s base, jittered into [1, 2]


def _answers(*items):
    it = iter(items)

    def handler(_req):
        status, headers, body = next(it)
        return Response(json.dumps(body), status=status, content_type="application/json", headers=headers)

    return handler


def test_409_with_retry_after_is_not_retried(run, server, h):
    server.expect_request(h.WS_PATH, method="GET").respond_with_handler(
        _answers((409, {"Retry-After": "0"}, {"error": {"code": "Conflict", "message": "busy"}})))
    code, out, err = run("get", h.WS_PATH)
    assert code == 5 and "Conflict" in err
    assert len(server.log) == 1


def test_status_outside_the_policy_is_not_retried(run, server, h):
    server.expect_request(h.WS_PATH, method="GET").respond_with_handler(
        _answers((507, {}, {"error": {"code": "InsufficientStorage", "message": "no"}})))
    code, out, err = run("get", h.WS_PATH)
    assert code == 1 and "InsufficientStorage" in err
    assert len(server.log) == 1


def test_retries_stop_after_the_shared_budget(run, server, h):
    busy = (503, {"Retry-After": "0.01"}, {"error": {"code": "ServiceUnavailable", "message": "later"}})
    server.expect_request(h.WS_PATH, method="GET").respond_with_handler(_answers(*[busy] * 10))
    code, out, err = run("get", h.WS_PATH)
    assert code == 1 and "ServiceUnavailable" in err
    assert len(server.log) == policy.DEFAULT_RETRIES + 1


def test_throttled_patch_is_retried(run, server, h, live_document, tmp_path):
    path = tmp_path / "def.json"
    from amlws.plugins.arm.definition import export_document

    path.write_text(json.dumps(export_document(live_document)), encoding="utf-8")
    server.expect_ordered_request(h.WS_PATH, method="GET").respond_with_json(live_document)
    server.expect_ordered_request(h.WS_PATH, method="PATCH").respond_with_handler(
        _answers((429, {"Retry-After": "0"}, {"error": {"code": "TooManyRequests", "message": "slow down"}})))
    server.expect_ordered_request(h.WS_PATH, method="PATCH").respond_with_json(live_document, status=200)
    # the PATCH answer carries no status URL: the service is read back (webservices.json, WebServices_Patch)
    server.expect_ordered_request(h.WS_PATH, method="GET").respond_with_json(live_document)
    code, out, err = run("update", h.WS_PATH, "--service-updates", str(path), "--yes", "-o", "json")
    assert code == 0, err
    assert [r.method for r, _ in server.log] == ["GET", "PATCH", "PATCH", "GET"]


def test_settings_timeout_reaches_the_retry_policy(arm_env):
    from amlws.plugins.arm.client import ArmClient

    with ArmClient(Settings.load(flags={"timeout": 12.5})) as client:
        retry = client.client._client._pipeline._impl_policies  # the configured policies, in order
        found = [p for p in retry if type(p).__name__ == "ArmRetryPolicy"]
        assert found and found[0].timeout == 12.5
