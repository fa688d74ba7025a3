"""The fidelity suite: recorded real ARM traffic replayed against the emulator (see replay.py).

Every difference must be in :data:`ALLOWED`, with the reason it is there, and every entry of
:data:`ALLOWED` must still occur: when the emulator is fixed, the entry goes (docs/emulator.md,
"How faithful is it", lists the same differences).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from amlws.emulator.server import EmulatorServer

from .replay import RECORDS, SEED, compare, load, replay

#: (record, aspect) -> why the emulator answers differently
_DELETES = ("the recordings (2017) predate ARM's separate deletes bucket (2024): a DELETE answered "
            "x-ms-ratelimit-remaining-subscription-writes then, -deletes now (emulator: the 2024 buckets)")
ALLOWED: dict[tuple[str, str], str] = {
    (record, "header x-ms-ratelimit-remaining-subscription-writes"): _DELETES
    for record in ("TestUpdateWebService.json", "TestCreateAndGetRegionalProperties.json")}

RECORDINGS = ("TestUpdateWebService.json", "TestCreateAndGetRegionalProperties.json")


@pytest.fixture
def replay_server(cert_dir: Path):
    with EmulatorServer(seed=SEED, cert_dir=cert_dir) as server:
        yield server


@pytest.fixture(scope="session")
def cert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fidelity-certs")


@pytest.mark.parametrize("record", RECORDINGS)
def test_recorded_exchanges_replay_without_unlisted_differences(replay_server, record):
    found = replay(replay_server, record)
    unexpected = [str(d) for d in found if (record, d.aspect) not in ALLOWED]
    assert not unexpected, "\n".join(unexpected)
    stale = {aspect for rec, aspect in ALLOWED if rec == record} - {d.aspect for d in found}
    assert not stale, f"allowed differences that no longer occur (remove them here and in docs/emulator.md): {stale}"


def test_every_recorded_ml_exchange_is_replayed():
    """The replay covers the whole ML part of both recordings: PUT, polls, GET, GET ?region (404 and
    200), CreateRegionalBlob, two PATCHes, listKeys and two DELETEs, with every status poll."""
    methods = [e["RequestMethod"] + (" status" if "/operationsStatus/" in e["RequestUri"] else "")
               for rec in RECORDINGS for _, e in load(rec)]
    assert len(methods) == 29
    assert methods.count("PATCH") == 2 and methods.count("PUT") == 2 and methods.count("DELETE") == 2
    assert methods.count("POST") == 1 and methods.count("GET status") == 15


def test_the_comparison_notices_what_the_issue_lists():
    """The comparator is not blind: the emulator's old answers are reported as differences."""
    entries = dict(load("TestCreateAndGetRegionalProperties.json"))
    not_found = entries[11]  # GET ?region= before CreateRegionalBlob: 404 NotFound/PerRegionPayloadNotFound
    old = {"error": {"code": "BadRequest", "message": "The request is invalid.", "target": None,
                     "details": [{"code": "RegionalPropertiesNotFound", "message": "..."}]}}
    aspects = {d.aspect for d in compare("r", 11, not_found, 400, {"x-ms-request-id": "x"}, json.dumps(old).encode())}
    assert {"status", "extra key error.target", "value error.code", "value error.details.0.code",
            "header x-ms-ratelimit-remaining-subscription-reads", "header x-ms-routing-request-id"} <= aspects
    put = entries[6]  # the first PUT: "southcentralus" answered "South Central US", two properties only
    old_put = {**json.loads(put["ResponseBody"]), "location": "southcentralus"}
    old_put["properties"] = {**old_put["properties"], "packageType": "Graph"}
    aspects = {d.aspect for d in compare("r", 6, put, 201, dict(put["ResponseHeaders"]), json.dumps(old_put).encode())}
    assert aspects >= {"value location", "extra key properties.packageType"}


def test_records_are_the_vendored_public_files():
    sources = (RECORDS / "SOURCES.txt").read_text(encoding="utf-8")
    for record in RECORDINGS:
        assert record in sources
        doc = json.loads((RECORDS / record).read_text(encoding="utf-8"))
        assert doc["Variables"]["SubscriptionId"] == SEED["subscriptions"][0]["id"]
