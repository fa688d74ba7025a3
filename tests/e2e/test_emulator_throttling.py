"""ARM's per-subscription token buckets in the emulator (docs/emulator.md, ARM throttling): the
remaining-budget headers of both providers, the 429 and its body, the control API, the serve option."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from amlws.emulator import seed as demo
from amlws.emulator.arm_throttling import ArmBuckets, parse_bucket_option
from amlws.emulator.server import EmulatorServer
from amlws.errors import UsageError

from .conftest import API, Http, arm_ws_path

PRED = arm_ws_path(demo.DEMO_ARM_PREDICTIVE)
NOPE = arm_ws_path("nope")  # a PATCH of it is a write (refused): a token, and no operation to wait for
V2 = (f"/subscriptions/{demo.DEMO_SUBSCRIPTION}/resourceGroups/{demo.DEMO_RESOURCE_GROUP}"
      f"/providers/Microsoft.MachineLearningServices/workspaces/{demo.DEMO_MLV2_WORKSPACE}/onlineEndpoints/{demo.DEMO_MLV2_ENDPOINT}")
V2_API = {"api-version": "2025-12-01"}
HEADER = "x-ms-ratelimit-remaining-subscription-{}"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_buckets_refill_continuously_up_to_their_capacity_and_name_the_wait():
    clock = Clock()
    buckets = ArmBuckets(clock)
    config = {"writes": {"capacity": 3, "refill": 2}}
    assert [buckets.take("sub", "PATCH", config).remaining for _ in range(3)] == [2, 1, 0]
    empty = buckets.take("sub", "POST", config)
    assert (empty.allowed, empty.kind, empty.remaining, empty.retry_after) == (False, "writes", 0, 1)
    assert buckets.take("sub", "GET", config).remaining == 249  # reads: ARM's own bucket
    assert buckets.take("sub", "DELETE", config).remaining == 199  # deletes too
    assert buckets.take("other", "PUT", config).allowed  # per subscription
    clock.now += 0.5  # one token back (2 per second)
    assert buckets.take("sub", "PUT", config).allowed
    assert not buckets.take("sub", "PUT", config).allowed
    clock.now += 100  # never above the capacity
    assert [buckets.take("sub", "PUT", config).allowed for _ in range(4)] == [True, True, True, False]
    slow = ArmBuckets(clock).take("s", "PUT", {"writes": {"capacity": 1, "refill": 0.25}})
    assert slow.allowed and ArmBuckets(clock).take("s", "PUT", {"writes": {"capacity": 1, "refill": 0.25}}).allowed


@pytest.fixture
def small(cert_dir: Path):
    """Writes: 3 tokens, refilled one per 4 s (nothing comes back during a test)."""
    with EmulatorServer(seed="demo", cert_dir=cert_dir,
                        settings={"arm_throttling": {"writes": {"capacity": 3, "refill": 0.25}}}) as server:
        yield Http(server)


def test_an_empty_write_bucket_answers_arm_s_429_on_both_providers(small: Http, arm_headers):
    answers = [small.patch(NOPE, params=API, headers=arm_headers, json={}) for _ in range(2)]
    answers.append(small.post(V2 + "/listKeys", params=V2_API, headers=arm_headers))
    assert [r.status_code for r in answers] == [400, 400, 200]  # a body ARM refuses is still a write
    assert [r.headers[HEADER.format("writes")] for r in answers] == ["2", "1", "0"]  # one subscription, one bucket
    for method, path, params in (("PATCH", NOPE, API), ("POST", V2 + "/listKeys", V2_API)):
        r = small.request(method, path, params=params, headers=arm_headers, json={})
        assert r.status_code == 429
        assert r.headers["Retry-After"] == "4"  # whole seconds until a token is back (0.25 per second)
        assert r.headers[HEADER.format("writes")] == "0"
        assert r.headers["x-ms-request-id"] and r.headers["x-ms-correlation-request-id"]
        error = r.json()["error"]
        assert error["code"] == "SubscriptionRequestsThrottled"
        assert f"'{demo.DEMO_SUBSCRIPTION}'" in error["message"] and "'4' seconds" in error["message"]
    # reads and deletes are other buckets; every answer carries its own kind's header only
    for r, kind in ((small.get(PRED, params=API, headers=arm_headers), "reads"),
                    (small.get(V2, params=V2_API, headers=arm_headers), "reads"),
                    (small.delete(arm_ws_path("nope"), params=API, headers=arm_headers), "deletes")):
        assert r.status_code < 429 and int(r.headers[HEADER.format(kind)]) > 190
        assert not {HEADER.format(k) for k in ("reads", "writes", "deletes") if k != kind} & set(map(str.lower, r.headers))
    log = small.control("GET", "requests?api=arm")["requests"]
    assert [e["status"] for e in log if e["method"] == "PATCH"] == [400, 400, 429]


def test_the_control_api_shows_sets_and_refills_the_buckets(small: Http, arm_headers):
    state = small.control("GET", "throttling")
    assert state["buckets"] == {"reads": {"capacity": 250, "refill": 25}, "writes": {"capacity": 3, "refill": 0.25},
                                "deletes": {"capacity": 200, "refill": 10}}
    for _ in range(3):
        small.patch(NOPE, params=API, headers=arm_headers, json={})
    assert small.control("GET", "throttling")["remaining"][demo.DEMO_SUBSCRIPTION]["writes"] < 1
    assert small.patch(NOPE, params=API, headers=arm_headers, json={}).status_code == 429
    small.control("DELETE", "throttling")  # refilled
    assert small.patch(NOPE, params=API, headers=arm_headers, json={}).headers[HEADER.format("writes")] == "2"
    changed = small.control("POST", "throttling", {"writes": {"capacity": 5}})
    assert changed["buckets"]["writes"] == {"capacity": 5, "refill": 0.25} and changed["remaining"] == {}
    assert small.patch(NOPE, params=API, headers=arm_headers, json={}).headers[HEADER.format("writes")] == "4"
    r = small.request("POST", "/_emulator/throttling", json={"writes": {"capacity": 0}})
    assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidThrottling"
    assert small.request("POST", "/_emulator/throttling", json={"puts": {"capacity": 5}}).status_code == 400
    small.control("POST", "reset")  # back to the start configuration, every bucket full
    assert small.control("GET", "throttling")["buckets"]["writes"] == {"capacity": 3, "refill": 0.25}
    assert small.patch(NOPE, params=API, headers=arm_headers, json={}).headers[HEADER.format("writes")] == "2"


def test_arm_s_numbers_are_the_default(http: Http, arm_headers):
    assert http.control("GET", "throttling")["buckets"] == {"reads": {"capacity": 250, "refill": 25},
                                                            "writes": {"capacity": 200, "refill": 10},
                                                            "deletes": {"capacity": 200, "refill": 10}}
    assert http.get(PRED, params=API, headers=arm_headers).headers[HEADER.format("reads")] == "249"


def test_serve_takes_the_bucket_sizes(tmp_path: Path):
    assert parse_bucket_option("writes=50/20") == ("writes", {"capacity": 50.0, "refill": 20.0})
    for bad in ("writes=50", "puts=1/1", "writes=a/b"):
        with pytest.raises(ValueError, match="KIND=CAPACITY/REFILL"):
            parse_bucket_option(bad)
    from amlws.emulator.runner import serve

    with pytest.raises(UsageError, match="--arm-bucket"):
        serve(arm_buckets=["writes=lots"])
    ready = tmp_path / "ready.json"
    proc = subprocess.Popen([sys.executable, "-m", "amlws.emulator", "serve", "--port", "0", "--cert-dir", str(tmp_path / "certs"),
                             "--ready-file", str(ready), "--arm-bucket", "writes=50/20", "--arm-bucket", "reads=7/1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        info = json.loads(ready.read_text())
        import requests

        got = requests.get(info["url"] + "/_emulator/throttling", verify=info["caPath"], timeout=10).json()
        assert got["buckets"]["writes"] == {"capacity": 50, "refill": 20} and got["buckets"]["reads"] == {"capacity": 7, "refill": 1}
        requests.post(info["url"] + "/_emulator/shutdown", verify=info["caPath"], timeout=10)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
