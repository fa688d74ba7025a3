"""amlws fleet against the emulator + Azurite: Microsoft's "many models and endpoints" walkthrough
(10 bike-rental locations) as one ``amlws fleet run``, killed with SIGKILL mid-run and resumed;
the BES-job limit; shards merged by ``amlws fleet status``.

Counts come from the emulator's request log: a resumed run must not submit a second BES job
for any row, and no endpoint is patched twice.
"""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from amlws.config import Settings
from amlws.fleet import FleetOptions, FleetRow, fleet_status, read_journal, run_fleet
from amlws.host import Host, check_plugins, get_plugin_manager, register_plugin

pytestmark = pytest.mark.azurite


def write_location_data(path: Path, seed: int, n: int = 40) -> None:
    rnd = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["temperature", "humidity", "rentals"])
        for _ in range(n):
            t, h = rnd.uniform(-5, 35), rnd.uniform(25, 95)
            w.writerow([f"{t:.1f}", f"{h:.0f}", round(80 + 12 * t - 0.8 * h + rnd.gauss(0, 20))])


def demo_services(server: Any) -> tuple[str, str]:
    """(training BES URL, scoring web service management URL) of the demo seed."""
    ws = server.seed_summary["workspaces"][0]
    training = next(s for s in ws["services"] if s["kind"] == "training")
    scoring = next(s for s in ws["services"] if s["kind"] == "predictive")
    return training["endpoints"][0]["apiLocation"] + "/jobs", scoring["endpoints"][0]["managementUrl"].rsplit("/endpoints/", 1)[0]


def blob_url(azurite: Any, container: str, name: str, data: bytes) -> str:
    """Upload to Azurite; the blob's URL with a read SAS."""
    from datetime import datetime, timedelta, timezone

    from azure.storage.blob import BlobSasPermissions, generate_blob_sas

    svc = azurite.service()
    try:
        svc.create_container(container)
    except Exception:  # noqa: BLE001 - exists
        pass
    blob = svc.get_blob_client(container, name)
    blob.upload_blob(data, overwrite=True)
    sas = generate_blob_sas(svc.account_name, container, name, account_key=svc.credential.account_key,
                            permission=BlobSasPermissions(read=True), expiry=datetime.now(timezone.utc) + timedelta(hours=2))
    return f"{blob.url}?{sas}"


def walkthrough_manifest(tmp_path: Path, server: Any, n: int = 10, *, azurite: Any = None) -> Path:
    """The docs' loop as a manifest: rentalloc001..010, each with its own data. With ``azurite``, as in
    the walkthrough, each location's file is a blob given only as the ``URI`` global parameter (the
    training experiment's Import Data); without it, a local file in the ``data`` column."""
    _, scoring = demo_services(server)
    path = tmp_path / "bike-rental-fleet.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["key", "target", "data", "param:URI", "create"])
        for i in range(1, n + 1):
            name = f"rentalloc{i:03d}"
            data = tmp_path / f"BikeRental{i:03d}.csv"
            write_location_data(data, i)
            if azurite is not None:
                uri = blob_url(azurite, "bike-rental", f"BikeRental{i:03d}.csv", data.read_bytes())
                w.writerow([name, f"{scoring}/endpoints/{name}", "", uri, "true"])
            else:
                w.writerow([name, f"{scoring}/endpoints/{name}", data.name, f"https://example.blob.core.windows.net/bike/BikeRental{i:03d}.csv", "true"])
    return path


def cli_env(server: Any, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMLWS_") and k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
    env.update(server.env())
    env["AMLWS_STATE_DIR"] = str(tmp_path / "state")
    env["AMLWS_CONFIG_DIR"] = str(tmp_path / "config")
    return env


def amlws_cmd() -> list[str]:
    return [sys.executable, "-c", "from amlws.cli.application import main; main()"]


def jobs_by_row(state: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for rec in read_journal(state):
        if rec.get("event") == "submitted":
            out.setdefault(rec["row"], []).append(rec["jobId"])
    return out


def test_walkthrough_fleet_survives_kill_9_and_resumes_cleanly(emulator_storage: Any, azurite: Any, tmp_path: Path):
    server = emulator_storage
    emu = server.emulator
    emu.update_settings({"transitions": {"bes": {"mode": "time", "seconds": 2.0}}})
    training_url, scoring = demo_services(server)
    manifest = walkthrough_manifest(tmp_path, server, azurite=azurite)
    state = tmp_path / "bike-rental-fleet.fleet-state.jsonl"
    env = cli_env(server, tmp_path)
    args = [*amlws_cmd(), "fleet", "run", str(manifest), "--training-url", training_url, "--jobs", "10", "--bes-jobs", "5",
            "--poll-interval", "0.1", "--yes", "-o", "json"]

    # 1. start, and kill -9 while the second wave of BES jobs is running (every row has its job id journaled,
    #    the first wave is deployed): no request is half-way between the service and the journal
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline:
            recs = read_journal(state)
            submitted = sum(1 for r in recs if r.get("event") == "submitted")
            done = sum(1 for r in recs if r.get("event") == "done")
            if submitted == 10 and 5 <= done < 10:
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.02)
        else:
            pytest.fail("the fleet never reached the kill point")
        proc.send_signal(signal.SIGKILL) if hasattr(signal, "SIGKILL") else proc.kill()
    finally:
        proc.wait(timeout=30)
    assert proc.returncode != 0
    before = jobs_by_row(state)
    assert len(before) == 10 and all(len(j) == 1 for j in before.values())
    counts = Counter(e["operation"] for e in emu.requests())
    assert counts["Jobs_Submit"] == 10 and counts["Endpoints_Put"] == 10
    deployed_before = {r["row"] for r in read_journal(state) if r.get("event") == "done"}

    # 2. resume: waits on the journaled jobs, deploys only what was not deployed
    r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads(r.stdout)
    assert summary["counts"] == {"deployed": 10} and summary["exitCode"] == 0
    assert "already done" in r.stderr
    counts = Counter(e["operation"] for e in emu.requests())
    assert counts["Jobs_Submit"] == 10, "a resumed row submitted a second BES job"
    assert counts["Jobs_Start"] == 10
    assert counts["Endpoints_Put"] == 10  # created once each
    patches = Counter(e["path"] for e in emu.requests() if e["operation"] == "Endpoints_Patch")
    assert len(patches) == 10 and set(patches.values()) == {1}, patches
    after = jobs_by_row(state)
    assert after == before  # no new job ids
    by_key = {row["key"]: row for row in summary["rows"]}
    for key, jobs in before.items():
        assert by_key[key]["jobId"] == jobs[0] and by_key[key]["verified"] is True
    resumed = {row["key"] for row in summary["rows"] if row["attempts"] == 2}
    assert resumed == set(before) - deployed_before
    # each job read its own location's file through the URI parameter (no Web Service Input was sent)
    jobs = emu.store.list("bes_job")
    assert sorted(j["inputs"]["input1"]["_url"].split("?")[0].rsplit("/", 1)[-1] for j in jobs) == [
        f"BikeRental{i:03d}.csv" for i in range(1, 11)]
    assert all(j["outcome"]["status"] == "Finished" for j in jobs)

    # 3. a third run does nothing at all
    n = len(emu.requests())
    r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and json.loads(r.stdout)["counts"] == {"deployed": 10}
    assert [e["operation"] for e in emu.requests()[n:]] == []

    # 4. status
    r = subprocess.run([*amlws_cmd(), "fleet", "status", str(state), "-o", "json"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and json.loads(r.stdout)["counts"] == {"deployed": 10}


def classic_host(server: Any) -> Host:
    import amlws.plugins.classic as classic

    pm = get_plugin_manager(load_entrypoints=False)
    register_plugin(pm, classic, "classic")
    check_plugins(pm)
    return Host(pm, Settings(env=dict(server.env()), yes=True))


def test_bes_jobs_bounds_training_jobs_in_flight_and_shards_merge(emulator_storage: Any, tmp_path: Path, monkeypatch):
    server = emulator_storage
    monkeypatch.setenv("AMLWS_STATE_DIR", str(tmp_path / "state"))
    emu = server.emulator
    emu.update_settings({"transitions": {"bes": {"mode": "time", "seconds": 0.4}}})
    training_url, scoring = demo_services(server)
    rows = []
    for i in range(1, 9):
        data = tmp_path / f"loc{i}.csv"
        write_location_data(data, 100 + i)
        rows.append(FleetRow(key=f"loc{i:03d}", target=f"{scoring}/endpoints/loc{i:03d}", training_url=training_url,
                             data=str(data), create=True))
    host = classic_host(server)
    cs = server.env()["AMLWS_STORAGE_CONNECTION_STRING"]
    states = [tmp_path / f"shard{i}.jsonl" for i in (1, 2)]
    for i, st in enumerate(states, start=1):
        summary = run_fleet(host, rows, FleetOptions(state=st, jobs=8, bes_jobs=2, poll_interval=0.05, shard=(i, 2)),
                            api_key=server.env()["AMLWS_API_KEY"], storage_connection_string=cs)
        assert summary["exitCode"] == 0, summary
    # jobs in flight: from each job's start to its last status poll, in request-log order
    log = emu.requests(api="bes")
    spans: dict[str, list[int]] = {}
    for e in log:
        parts = e["path"].rstrip("/").split("/jobs/")
        if len(parts) == 2:
            job = parts[1].split("/")[0]
            spans.setdefault(job, [e["seq"], e["seq"]])[1] = e["seq"]
    assert len(spans) == 8
    peak = max(sum(1 for a, b in spans.values() if a <= s <= b) for s in range(min(a for a, _ in spans.values()), max(b for _, b in spans.values()) + 1))
    assert peak == 2
    merged = fleet_status(states)
    assert merged["total"] == 8 and merged["counts"] == {"deployed": 8} and merged["exitCode"] == 0
    shard_rows = [{r["key"] for r in fleet_status([s])["rows"]} for s in states]
    assert shard_rows[0].isdisjoint(shard_rows[1]) and shard_rows[0] | shard_rows[1] == {r.key for r in rows}


def test_a_failed_bes_job_fails_its_row_only_and_a_rerun_trains_again(emulator_storage: Any, tmp_path: Path, monkeypatch):
    server = emulator_storage
    monkeypatch.setenv("AMLWS_STATE_DIR", str(tmp_path / "state"))
    emu = server.emulator
    emu.add_fault({"kind": "bes_failure", "message": "Module execution encountered an error.", "times": 1})
    training_url, scoring = demo_services(server)
    data = tmp_path / "d.csv"
    write_location_data(data, 7)
    rows = [FleetRow(key=f"ep{i}", target=f"{scoring}/endpoints/ep{i}", training_url=training_url, data=str(data), create=True)
            for i in range(1, 4)]
    host = classic_host(server)
    cs = server.env()["AMLWS_STORAGE_CONNECTION_STRING"]
    opts = FleetOptions(state=tmp_path / "s.jsonl", jobs=1, poll_interval=0.05)
    first = run_fleet(host, rows, opts, api_key=server.env()["AMLWS_API_KEY"], storage_connection_string=cs)
    assert first["counts"] == {"deployed": 2, "failed": 1} and first["exitCode"] == 1
    failed = next(r for r in first["rows"] if r["status"] == "failed")
    assert failed["jobStatus"] == "Failed" and "Module execution" in failed["error"]
    second = run_fleet(host, rows, opts, api_key=server.env()["AMLWS_API_KEY"], storage_connection_string=cs)
    assert second["counts"] == {"deployed": 3}
    assert Counter(e["operation"] for e in emu.requests())["Jobs_Submit"] == 4  # the failed job is not waited on again


@pytest.mark.skipif(os.name == "nt", reason="a Ctrl-C (SIGINT) to a child process is POSIX-only")
def test_ctrl_c_stops_new_rows_keeps_the_jobs_and_the_next_run_finishes(emulator_storage: Any, tmp_path: Path):
    server = emulator_storage
    emu = server.emulator
    emu.update_settings({"transitions": {"bes": {"mode": "time", "seconds": 1.5}}})
    training_url, _ = demo_services(server)
    manifest = walkthrough_manifest(tmp_path, server, n=4)
    state = tmp_path / "bike-rental-fleet.fleet-state.jsonl"
    env = cli_env(server, tmp_path)
    args = [*amlws_cmd(), "fleet", "run", str(manifest), "--training-url", training_url, "--jobs", "4",
            "--poll-interval", "0.1", "--yes", "-o", "json"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while sum(1 for r in read_journal(state) if r.get("event") == "submitted") < 4:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    summary = json.loads(out)
    assert summary["counts"] == {"interrupted": 4} and summary["exitCode"] == 130
    assert "run the same amlws fleet run again to resume" in err
    assert Counter(e["operation"] for e in emu.requests())["Endpoints_Patch"] == 0
    r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout)["counts"] == {"deployed": 4}
    counts = Counter(e["operation"] for e in emu.requests())
    assert counts["Jobs_Submit"] == 4 and counts["Endpoints_Patch"] == 4


def test_ensure_target_keeps_an_existing_endpoint(emulator_storage: Any, tmp_path: Path, monkeypatch):
    server = emulator_storage
    monkeypatch.setenv("AMLWS_STATE_DIR", str(tmp_path / "state"))
    _, scoring = demo_services(server)
    host = classic_host(server)
    since = server.emulator.requests()[-1]["seq"] if server.emulator.requests() else 0
    existing = host.resolve(f"{scoring}/endpoints/retrain01")
    assert host.ensure_target(existing, {"description": "x"})["created"] is False
    new = host.resolve(f"{scoring}/endpoints/newep01")
    assert host.ensure_target(new, {"description": "newep01"})["created"] is True
    ops = [(e["method"], e["path"].rsplit("/", 1)[-1], e["status"]) for e in server.emulator.requests(since)]
    assert ops == [("GET", "retrain01", 200), ("GET", "newep01", 404), ("PUT", "newep01", 200)]
    assert host.ensure_target(new)["created"] is False


def test_gates_per_row_a_failed_gate_deploys_nothing_and_is_final(emulator_storage: Any, tmp_path: Path, monkeypatch):
    server = emulator_storage
    monkeypatch.setenv("AMLWS_STATE_DIR", str(tmp_path / "state"))
    emu = server.emulator
    training_url, scoring = demo_services(server)
    data = tmp_path / "d.csv"
    write_location_data(data, 11, n=60)
    rows = [FleetRow(key="good", target=f"{scoring}/endpoints/good", training_url=training_url, data=str(data), create=True,
                     evaluation_output="output2", gates=["Coefficient of Determination>=0.5"]),
            FleetRow(key="strict", target=f"{scoring}/endpoints/strict", training_url=training_url, data=str(data), create=True,
                     evaluation_output="output2", gates=["Coefficient of Determination>=0.9999"])]
    host = classic_host(server)
    cs = server.env()["AMLWS_STORAGE_CONNECTION_STRING"]
    opts = FleetOptions(state=tmp_path / "s.jsonl", jobs=2, poll_interval=0.05)
    first = run_fleet(host, rows, opts, api_key=server.env()["AMLWS_API_KEY"], storage_connection_string=cs)
    by_key = {r["key"]: r for r in first["rows"]}
    assert by_key["good"]["status"] == "deployed" and by_key["strict"]["status"] == "gate_failed"
    assert by_key["strict"]["exitCode"] == 5 and first["exitCode"] == 5
    patched = [e["path"].rsplit("/", 1)[-1] for e in emu.requests() if e["operation"] == "Endpoints_Patch"]
    assert patched == ["good"]
    n = len(emu.requests())
    again = run_fleet(host, rows, opts, api_key=server.env()["AMLWS_API_KEY"], storage_connection_string=cs)
    assert again["exitCode"] == 5 and [e for e in emu.requests()[n:] if e["api"] != "control"] == []  # final: nothing re-run


def test_arm_and_classic_rows_in_one_fleet(emulator_storage: Any, tmp_path: Path, monkeypatch):
    server = emulator_storage
    monkeypatch.setenv("AMLWS_STATE_DIR", str(tmp_path / "state"))
    emu = server.emulator
    training_url, scoring = demo_services(server)
    arm_train = next(s for s in server.seed_summary["armServices"] if s["training"])
    arm_pred = next(s for s in server.seed_summary["armServices"] if not s["training"])
    data = tmp_path / "d.csv"
    write_location_data(data, 5)
    rows = [FleetRow(key="arm", target=arm_pred["id"], training_url=arm_train["apiLocation"] + "/jobs", data=str(data)),
            FleetRow(key="classic", target=f"{scoring}/endpoints/retrain01", training_url=training_url, data=str(data))]
    import amlws.plugins.arm as arm
    import amlws.plugins.classic as classic

    pm = get_plugin_manager(load_entrypoints=False)
    register_plugin(pm, classic, "classic")
    register_plugin(pm, arm, "arm")
    check_plugins(pm)
    host = Host(pm, Settings(env={**server.env(), "AMLWS_POLL_INTERVAL": "0.2"}, yes=True))
    summary = run_fleet(host, rows, FleetOptions(state=tmp_path / "s.jsonl", jobs=2, poll_interval=0.05),
                        api_key=server.env()["AMLWS_API_KEY"], storage_connection_string=server.env()["AMLWS_STORAGE_CONNECTION_STRING"])
    assert summary["counts"] == {"deployed": 2}, summary
    assert all(r["verified"] for r in summary["rows"])
    ops = Counter(e["operation"] for e in emu.requests())
    assert ops["WebServices_Patch"] == 1 and ops["Endpoints_Patch"] == 1 and ops["Jobs_Submit"] == 2


def test_what_if_plans_rows_including_endpoints_to_create_and_sends_no_change(emulator_storage: Any, tmp_path: Path, monkeypatch):
    server = emulator_storage
    monkeypatch.setenv("AMLWS_STATE_DIR", str(tmp_path / "state"))
    training_url, scoring = demo_services(server)
    data = tmp_path / "d.csv"
    write_location_data(data, 3)
    rows = [FleetRow(key="new", target=f"{scoring}/endpoints/newep02", training_url=training_url, data=str(data), create=True),
            FleetRow(key="old", target=f"{scoring}/endpoints/retrain01", training_url=training_url, data=str(data))]
    import amlws.plugins.classic as classic

    pm = get_plugin_manager(load_entrypoints=False)
    register_plugin(pm, classic, "classic")
    check_plugins(pm)
    host = Host(pm, Settings(env=dict(server.env()), what_if=True))
    summary = run_fleet(host, rows, FleetOptions(state=tmp_path / "s.jsonl", what_if=True),
                        api_key=server.env()["AMLWS_API_KEY"], storage_connection_string=server.env()["AMLWS_STORAGE_CONNECTION_STRING"])
    assert summary["counts"] == {"planned": 2} and summary["exitCode"] == 0
    assert {e["method"] for e in server.emulator.requests() if e["api"] != "control"} == {"GET"}
    assert not (tmp_path / "s.jsonl").exists()
