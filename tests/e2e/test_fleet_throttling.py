"""A fleet on a subscription whose ARM write budget is tiny (4 tokens, 8 more per second): paced by
the remaining-budget headers it finishes with no failed row and no 429, and says what it waited
(summary, journal, ``fleet status``); unpaced, the same fleet storms into 429s. Two shards at once
(10 tokens, 10 more per second) share the subscription's bucket through the headers alone."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests

from amlws.config import Settings
from amlws.emulator import seed as demo
from amlws.emulator.server import EmulatorServer
from amlws.fleet import FleetOptions, FleetRow, fleet_status, read_journal, run_fleet
from amlws.host import Host, check_plugins, get_plugin_manager, register_plugin

MODEL = "https://acct.blob.core.windows.net/models/new.ilearner?sv=2020-01-01&sig=abc"
TINY = {"writes": {"capacity": 4, "refill": 8}}


@pytest.fixture
def server(cert_dir: Path, monkeypatch, tmp_path: Path):
    monkeypatch.setenv("AMLWS_STATE_DIR", str(tmp_path / "state"))
    # made-up model URIs (check_models off); operations end on their first poll
    with EmulatorServer(seed="demo", cert_dir=cert_dir, settings={"check_models": False,
                                                                   "transitions": {"arm_lro": {"mode": "polls", "count": 0}}}) as s:
        yield s


def services(server: EmulatorServer, n: int) -> list[str]:
    """``n`` copies of the demo predictive service (made before the budget is made tiny)."""
    pred = next(x for x in server.seed_summary["armServices"] if not x["training"])
    headers, params, ca = {"Authorization": f"Bearer {demo.DEMO_ARM_TOKEN}"}, {"api-version": "2017-01-01"}, str(server.ca_path)
    doc = requests.get(server.url + pred["id"], params=params, headers=headers, verify=ca, timeout=30).json()
    props = {k: v for k, v in doc["properties"].items()
             if k not in ("provisioningState", "createdOn", "modifiedOn", "swaggerLocation", "payloadsInBlobStorage", "payloadsLocation")}
    ids = []
    for i in range(n):
        r = requests.put(server.url + pred["id"] + f"-{i}", params=params, headers=headers, verify=ca, timeout=30,
                         json={"location": doc["location"], "properties": props})
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return ids


def arm_host(server: EmulatorServer) -> Host:
    import amlws.plugins.arm as arm

    pm = get_plugin_manager(load_entrypoints=False)
    register_plugin(pm, arm, "arm")
    check_plugins(pm)
    return Host(pm, Settings(env={**server.env(), "AMLWS_POLL_INTERVAL": "0.05"}, yes=True))


def patches(server: EmulatorServer) -> Counter[int]:
    return Counter(e["status"] for e in server.emulator.requests(api="arm") if e["method"] == "PATCH")


def test_a_tiny_write_budget_paces_the_fleet_to_no_failed_row_and_no_429(server: EmulatorServer, tmp_path: Path, capsys):
    ids = services(server, 12)
    server.emulator.update_settings({"arm_throttling": TINY})
    rows = [FleetRow(key=f"r{i}", target=t, model=MODEL) for i, t in enumerate(ids)]
    state = tmp_path / "paced.jsonl"
    summary = run_fleet(arm_host(server), rows, FleetOptions(state=state, jobs=6))
    assert summary["counts"] == {"deployed": 12}, summary
    assert patches(server) == Counter({200: 12})  # every write waited for its token: no 429
    throttling = summary["throttling"]
    assert throttling["pacing"] and throttling["throttled"] == 0 and throttling["armBudgetPercent"] == 80
    assert throttling["waitSeconds"] > 0 and throttling["waits"] > 0
    waited = {r["key"]: r["throttleSeconds"] for r in summary["rows"] if r.get("throttleSeconds")}
    assert waited and sum(waited.values()) == pytest.approx(throttling["waitSeconds"], abs=0.05)
    journaled = {rec["row"]: rec["throttleSeconds"] for rec in read_journal(state) if rec.get("throttleSeconds")}
    assert journaled == waited
    assert {r["key"]: r.get("throttleSeconds") for r in fleet_status([state])["rows"] if r.get("throttleSeconds")} == waited
    err = capsys.readouterr().err
    assert err.count("ARM writes budget") == 1  # said once

    # the same fleet without pacing (another model, so that every row changes again) storms into 429s
    server.emulator.buckets.refill_all()
    before = patches(server)
    unpaced = run_fleet(arm_host(server), [FleetRow(key=r.key, target=r.target, model=MODEL.replace("new", "newer")) for r in rows],
                        FleetOptions(state=tmp_path / "unpaced.jsonl", jobs=6, pacing=False))
    storm = patches(server) - before
    assert storm[429] > 0 and unpaced["throttling"]["throttled"] == storm[429]
    assert unpaced["throttling"]["waitSeconds"] == 0


def test_two_shards_share_the_subscription_s_bucket_through_its_headers(server: EmulatorServer, tmp_path: Path):
    ids = services(server, 20)
    server.emulator.update_settings({"arm_throttling": {"writes": {"capacity": 10, "refill": 10}}})
    rows = [FleetRow(key=f"r{i}", target=t, model=MODEL) for i, t in enumerate(ids)]
    summaries: dict[int, Any] = {}

    def shard(i: int) -> None:  # each shard its own host and budget, as two processes would have
        summaries[i] = run_fleet(arm_host(server), rows, FleetOptions(state=tmp_path / f"s{i}.jsonl", jobs=4, shard=(i, 2)))

    threads = [threading.Thread(target=shard, args=(i,)) for i in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sum(s["counts"].get("deployed", 0) for s in summaries.values()) == 20
    got = patches(server)
    assert got[200] == 20 and got[429] <= 1, got  # at most one answer 429 of 20 writes
    assert all(s["throttling"]["waitSeconds"] > 0 for s in summaries.values())
