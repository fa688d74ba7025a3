"""amlws fleet: manifests, sharding, the journal, concurrency limits and --fail-fast (no network:
a toy in-memory backend; the emulator runs are in tests/e2e/test_fleet_e2e.py)."""

from __future__ import annotations

import copy
import json
import os
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from amlws import hookimpl
from amlws.config import Settings
from amlws.errors import ExitCode, RemoteError, UsageError
from amlws.fleet import (
    FleetOptions,
    FleetRow,
    Journal,
    fleet_status,
    fold_journal,
    load_manifest,
    parse_manifest,
    parse_shard,
    read_journal,
    run_fleet,
    select_shard,
    shard_index,
)
from amlws.host import Host
from amlws.model import BackendInfo, Definition, Target, UpdateResult

MODEL = "https://acct.blob.core.windows.net/models/{key}.ilearner?sv=2020-01-01&sr=b&sp=r&se=2099-01-01T00%3A00%3A00Z&sig=abc"


# --- manifests ------------------------------------------------------------------------------------


def test_csv_manifest_columns_params_gates_and_defaults(tmp_path: Path):
    path = tmp_path / "fleet.csv"
    path.write_text(
        "key,target,data,param:URI,gate,create\n"
        "rentalloc001,https://m/workspaces/w/webservices/s/endpoints/rentalloc001,loc1.csv,https://b/1.csv,Accuracy>=0.8;AUC>=0.7,true\n"
        "\n"
        "rentalloc002,https://m/workspaces/w/webservices/s/endpoints/rentalloc002,,https://b/2.csv,,no\n",
        encoding="utf-8",
    )
    rows = load_manifest(path, defaults={"training_url": "https://bes/jobs", "gates": ["RMSE<=10"], "evaluation_output": "output2"})
    assert [r.key for r in rows] == ["rentalloc001", "rentalloc002"]
    a, b = rows
    assert a.training_url == b.training_url == "https://bes/jobs"
    assert a.global_parameters == {"URI": "https://b/1.csv"} and b.global_parameters == {"URI": "https://b/2.csv"}
    assert a.gates == ["Accuracy>=0.8", "AUC>=0.7"] and b.gates == ["RMSE<=10"]  # an empty cell takes the default
    assert a.create is True and b.create is False
    assert a.data == "loc1.csv" and b.data is None
    assert a.evaluation_output == "output2" and a.line == 2 and b.line == 4


def test_json_manifest_with_defaults_and_camel_case(tmp_path: Path):
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps({
        "defaults": {"trainingUrl": "https://bes/jobs", "globalParameters": {"Region": "eu"}},
        "rows": [{"key": "a", "target": "T1", "globalParameters": {"URI": "u1"}},
                 {"name": "b", "target": "T2", "model": "https://x/m.ilearner", "trainingUrl": None}],
    }), encoding="utf-8")
    a, b = load_manifest(path)
    assert a.global_parameters == {"Region": "eu", "URI": "u1"} and a.training_url == "https://bes/jobs"
    assert b.key == "b" and b.model == "https://x/m.ilearner"


@pytest.mark.parametrize("text, message", [
    ("key,target,trainig_url\na,T,u\n", "m.csv line 1: unknown column 'trainig_url'"),
    ("key,target,training_url,modle\na,T,u,\n", "m.csv line 1: unknown column 'modle'"),
    ("key,target,training_url\na,,u\n", "no target"),
    ("key,target\na,T\n", "neither training_url nor model"),
    ("key,target,training_url\na,T,u\na,T2,u\n", "duplicate row key 'a' (rows 2 and 3)"),
    ("key,target,training_url,create\na,T,u,maybe\n", "expected true or false"),
])
def test_bad_manifests_say_which_line(text: str, message: str):
    with pytest.raises(UsageError) as err:
        parse_manifest(text, fmt="csv", source="m.csv")
    assert message in err.value.message and err.value.exit_code == ExitCode.USAGE


def test_yaml_without_pyyaml_names_the_fix(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "yaml", None)  # as if PyYAML were not installed: import raises ImportError
    with pytest.raises(UsageError) as err:
        parse_manifest("- key: a\n", fmt="yaml", source="m.yaml")
    assert "PyYAML" in err.value.message and "amlws[yaml]" in (err.value.hint or "") and err.value.exit_code == ExitCode.USAGE


def test_yaml_manifest_with_defaults_and_global_parameters():
    pytest.importorskip("yaml")  # the yaml extra; in the test extra too
    text = """
defaults:
  training_url: https://ussouthcentral.services.azureml.net/workspaces/w/services/s/jobs
  gate: "Coefficient of Determination>=0.5"
rows:
  - key: loc1
    target: https://management.azureml.net/workspaces/w/webservices/p/endpoints/ep1
    global_parameters: {URI: "https://example.com/data/loc1.csv"}
  - key: loc2
    target: https://management.azureml.net/workspaces/w/webservices/p/endpoints/ep2
    model: https://a.blob.core.windows.net/m/loc2.ilearner?sv=1&sig=x
"""
    rows = parse_manifest(text, fmt="yaml", source="fleet.yaml")
    assert [r.key for r in rows] == ["loc1", "loc2"]
    assert rows[0].training_url.endswith("/services/s/jobs") and rows[0].global_parameters == {"URI": "https://example.com/data/loc1.csv"}
    assert rows[0].gates == ["Coefficient of Determination>=0.5"]
    with pytest.raises(UsageError) as err:
        parse_manifest("rows: [key: a\n", fmt="yaml", source="bad.yaml")
    assert err.value.message.startswith("bad.yaml: invalid YAML")


# --- sharding -------------------------------------------------------------------------------------


def test_shard_index_is_a_stable_sha256_of_the_key():
    # pinned values: a change here would move rows between CI runners mid-fleet
    import hashlib

    for key in ("rentalloc001", "customer-42", "ü"):
        expected = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % 7 + 1
        assert shard_index(key, 7) == expected
    assert shard_index("rentalloc001", 4) == 3 and shard_index("rentalloc002", 4) == 1


def test_shards_are_disjoint_complete_and_balanced():
    rows = [FleetRow(key=f"customer-{i}", target=f"T{i}", model="m") for i in range(2000)]
    n = 8
    slices = [select_shard(rows, (i, n)) for i in range(1, n + 1)]
    keys = [set(r.key for r in s) for s in slices]
    assert sum(len(k) for k in keys) == len(rows) and set().union(*keys) == {r.key for r in rows}
    assert all(a.isdisjoint(b) for i, a in enumerate(keys) for b in keys[i + 1:])
    assert all(150 < len(k) < 350 for k in keys), [len(k) for k in keys]
    # the manifest order does not matter
    assert {r.key for r in select_shard(list(reversed(rows)), (3, n))} == keys[2]


@pytest.mark.parametrize("text", ["0/4", "5/4", "1/0", "a/b", "3"])
def test_bad_shard(text: str):
    with pytest.raises(UsageError):
        parse_shard(text)


# --- the journal ----------------------------------------------------------------------------------


def test_journal_ignores_a_torn_last_line_and_keeps_appending(tmp_path: Path):
    path = tmp_path / "s.jsonl"
    with Journal(path) as j:
        j.append({"event": "submitted", "row": "a", "jobId": "J1", "runId": "R1"})
    with open(path, "ab") as fh:
        fh.write(b'{"event":"done","row":"a","stat')  # kill -9 in the middle of a write
    with Journal(path) as j:
        j.append({"event": "job", "row": "a", "jobId": "J1", "status": "Running"})
    records = read_journal(path)
    assert [r["event"] for r in records] == ["submitted", "job"]
    states, _ = fold_journal(records)
    assert states["a"].job_id == "J1" and states["a"].status == "pending" and states["a"].job_reusable
    assert path.stat().st_mode & 0o777 == 0o600 or not hasattr(__import__("os"), "getuid")


def test_fold_failed_jobs_are_not_reused_and_changed_rows_start_afresh():
    recs = [
        {"event": "submitted", "row": "a", "jobId": "J1", "fingerprint": "f1"},
        {"event": "failed", "row": "a", "exitCode": 1, "jobStatus": "Failed", "fingerprint": "f1"},
        {"event": "submitted", "row": "b", "jobId": "J2", "fingerprint": "f1"},
        {"event": "failed", "row": "b", "exitCode": 4, "error": "401", "fingerprint": "f1"},
        {"event": "done", "row": "c", "status": "deployed", "verified": True, "fingerprint": "f1"},
        {"event": "submitted", "row": "c", "jobId": "J9", "fingerprint": "f2"},
    ]
    states, _ = fold_journal(recs)
    assert not states["a"].job_reusable  # its job failed: a retry trains again
    assert states["b"].job_reusable and states["b"].status == "failed" and states["b"].exit_code == 4
    assert states["c"].status == "pending" and states["c"].job_id == "J9"  # f2: the row was edited


# --- running, with a toy backend ------------------------------------------------------------------


class Toy:
    """Targets ``toy:NAME``; counts concurrent updates; ``fail`` names rows whose update fails."""

    def __init__(self, delay: float = 0.05, fail: dict[str, int] | None = None) -> None:
        self.services: dict[str, dict[str, Any]] = {}
        self.delay = delay
        self.fail = fail or {}
        self.lock = threading.Lock()
        self.inflight = 0
        self.peak = 0
        self.updates: list[str] = []
        self.gets = 0

    @hookimpl
    def amlws_backend_info(self):
        return BackendInfo(name="toy", description="toy", target_help="toy:NAME")

    @hookimpl
    def amlws_claim_target(self, target):
        return Target(backend="toy", id=target, parts={"name": target[4:]}) if target.startswith("toy:") else None

    def _busy(self):
        with self.lock:
            self.inflight += 1
            self.peak = max(self.peak, self.inflight)
        time.sleep(self.delay)
        with self.lock:
            self.inflight -= 1

    @hookimpl
    def amlws_get_definition(self, target):
        self._busy()
        with self.lock:
            self.gets += 1
        return Definition("toy", copy.deepcopy(self.services.get(target.parts["name"], {"model": None})), target)

    @hookimpl
    def amlws_patch_ilearner(self, definition, location):
        return Definition("toy", {**definition.document, "model": location.blob_url}, definition.target)

    @hookimpl
    def amlws_update(self, target, definition):
        name = target.parts["name"]
        self._busy()
        if name in self.fail:
            raise RemoteError(f"update of {name} refused", status=403 if self.fail[name] == 4 else 500)
        with self.lock:
            self.services[name] = definition.document
            self.updates.append(name)
        return UpdateResult(target=target, definition=definition, verified=True, model_uri=definition.document["model"], requests=1)


def toy_rows(n: int) -> list[FleetRow]:
    return [FleetRow(key=f"r{i:03d}", target=f"toy:r{i:03d}", model=MODEL.format(key=f"r{i:03d}")) for i in range(n)]


@pytest.fixture
def toy_host(make_pm, amlws_env):
    def make(backend: Toy) -> Host:
        return Host(make_pm((backend, "toy")), Settings(env={}))

    return make


def test_jobs_bounds_rows_in_flight_and_mgmt_jobs_bounds_calls(toy_host, tmp_path: Path):
    toy = Toy(delay=0.05)
    summary = run_fleet(toy_host(toy), toy_rows(24), FleetOptions(state=tmp_path / "a.jsonl", jobs=6))
    assert summary["exitCode"] == 0 and summary["counts"] == {"deployed": 24}
    assert toy.peak == 6
    toy2 = Toy(delay=0.05)
    run_fleet(toy_host(toy2), toy_rows(24), FleetOptions(state=tmp_path / "b.jsonl", jobs=6, mgmt_jobs=2))
    assert toy2.peak == 2 and len(toy2.updates) == 24


def test_rerun_skips_deployed_rows_and_retries_failed_ones(toy_host, tmp_path: Path):
    state = tmp_path / "s.jsonl"
    toy = Toy(delay=0, fail={"r002": 4})
    rows = toy_rows(5)
    first = run_fleet(toy_host(toy), rows, FleetOptions(state=state, jobs=2))
    assert first["exitCode"] == 4 and first["counts"] == {"deployed": 4, "failed": 1}
    failed = next(r for r in first["rows"] if r["status"] == "failed")
    assert failed["key"] == "r002" and failed["exitCode"] == 4 and "refused" in failed["error"]
    toy.fail.clear()
    second = run_fleet(toy_host(toy), rows, FleetOptions(state=state, jobs=2))
    assert second["exitCode"] == 0 and second["counts"] == {"deployed": 5}
    assert sorted(toy.updates) == sorted(r.key for r in rows)  # r002 once more, nobody twice
    third = run_fleet(toy_host(toy), rows, FleetOptions(state=state, jobs=2))
    assert third["exitCode"] == 0 and len(toy.updates) == 5  # verified rows are never deployed again
    status = fleet_status([state])
    assert status["counts"] == {"deployed": 5} and status["exitCode"] == 0 and status["runs"] == 3


def test_mixed_exit_codes_give_1_and_fail_fast_starts_no_new_row(toy_host, tmp_path: Path):
    toy = Toy(delay=0, fail={"r001": 4, "r003": 1})
    summary = run_fleet(toy_host(toy), toy_rows(6), FleetOptions(state=tmp_path / "a.jsonl", jobs=1))
    assert summary["exitCode"] == 1 and summary["counts"] == {"deployed": 4, "failed": 2}

    toy = Toy(delay=0, fail={"r001": 4})
    summary = run_fleet(toy_host(toy), toy_rows(6), FleetOptions(state=tmp_path / "b.jsonl", jobs=1, fail_fast=True))
    statuses = {r["key"]: r["status"] for r in summary["rows"]}
    assert statuses == {"r000": "deployed", "r001": "failed", "r002": "skipped", "r003": "skipped", "r004": "skipped",
                        "r005": "skipped"}
    assert toy.updates == ["r000"] and summary["exitCode"] == 1  # skipped rows are not done
    # the skipped rows were not journaled as failures: a re-run does them
    rerun = run_fleet(toy_host(toy), toy_rows(6), FleetOptions(state=tmp_path / "b.jsonl", jobs=1))
    assert rerun["counts"] == {"deployed": 5, "failed": 1}


def test_what_if_sends_nothing_and_writes_no_state(toy_host, tmp_path: Path):
    toy = Toy(delay=0)
    summary = run_fleet(toy_host(toy), toy_rows(3), FleetOptions(state=tmp_path / "s.jsonl", what_if=True))
    assert summary["counts"] == {"planned": 3} and summary["exitCode"] == 0 and summary["whatIf"] is True
    assert toy.updates == [] and toy.gets == 0 and not (tmp_path / "s.jsonl").exists()


def test_shard_journals_merge_in_status(toy_host, tmp_path: Path):
    toy = Toy(delay=0)
    rows = toy_rows(20)
    states = []
    for i in (1, 2, 3):
        states.append(tmp_path / f"s{i}.jsonl")
        run_fleet(toy_host(toy), rows, FleetOptions(state=states[-1], shard=(i, 3)))
    assert sorted(toy.updates) == [r.key for r in rows]
    merged = fleet_status(states)
    assert merged["total"] == 20 and merged["counts"] == {"deployed": 20} and merged["exitCode"] == 0
    partial = fleet_status(states[:2])
    assert partial["total"] < 20


def test_cli_fleet_run_and_status(toy_host, tmp_path: Path, make_pm):
    from amlws.cli.application import main

    toy = Toy(delay=0, fail={"r001": 4})
    pm = make_pm((toy, "toy"))
    manifest = tmp_path / "fleet.csv"
    manifest.write_text("key,target,model\n" + "".join(f"r{i:03d},toy:r{i:03d},{MODEL.format(key=i)}\n" for i in range(3)),
                        encoding="utf-8")
    code = main(["fleet", "run", str(manifest), "--yes", "-o", "json"], pm=pm)
    assert code == 4
    state = tmp_path / "fleet.fleet-state.jsonl"
    assert state.exists()
    code = main(["fleet", "status", str(state), "-o", "json"], pm=pm)
    assert code == 4
    toy.fail.clear()
    assert main(["fleet", "run", str(manifest), "--yes"], pm=pm) == 0
    assert main(["fleet", "status", str(state)], pm=pm) == 0


def test_progress_lines_without_a_terminal_and_a_live_panel_with_one(toy_host, tmp_path: Path):
    import io

    from amlws.fleet import FleetProgress

    toy = Toy(delay=0, fail={"r001": 4})
    out = io.StringIO()
    run_fleet(toy_host(toy), toy_rows(3), FleetOptions(state=tmp_path / "a.jsonl", jobs=1), progress=FleetProgress(out))
    lines = [re.sub(r"\(\d+\.\ds\)", "(Ns)", line) for line in out.getvalue().splitlines()]  # a row's seconds vary
    assert lines[0] == "fleet [1/3] r000: deployed (Ns)" and lines[2] == "fleet [3/3] r002: deployed (Ns)"
    assert lines[1].startswith("fleet [2/3] r001: failed (update of r001 refused")
    assert lines[-1].startswith("fleet: 3/3 done (2 deployed, 1 failed), elapsed 0:")
    # a re-run says what was already done
    out = io.StringIO()
    run_fleet(toy_host(toy), toy_rows(3), FleetOptions(state=tmp_path / "a.jsonl", jobs=1), progress=FleetProgress(out))
    assert out.getvalue().splitlines()[0] == "fleet: resuming, 2 of 3 row(s) already done"
    # the live panel (a terminal) draws and ends with the same summary line
    out = io.StringIO()
    progress = FleetProgress(out, live=True)
    run_fleet(toy_host(Toy(delay=0.01)), toy_rows(4), FleetOptions(state=tmp_path / "b.jsonl", jobs=2), progress=progress)
    assert "fleet: 4/4 done (4 deployed)" in out.getvalue()
    assert progress.eta() == 0.0


def test_what_if_reports_failures_and_what_is_already_done(toy_host, tmp_path: Path):
    state = tmp_path / "s.jsonl"
    toy = Toy(delay=0)
    run_fleet(toy_host(toy), toy_rows(2), FleetOptions(state=state))
    size = state.stat().st_size
    rows = [*toy_rows(3), FleetRow(key="bad", target="nobody-claims-this", model=MODEL.format(key="bad"))]
    summary = run_fleet(toy_host(toy), rows, FleetOptions(state=state, what_if=True))
    statuses = {r["key"]: r["status"] for r in summary["rows"]}
    assert statuses == {"r000": "deployed", "r001": "deployed", "r002": "planned", "bad": "failed"}
    bad = next(r for r in summary["rows"] if r["key"] == "bad")
    assert bad["exitCode"] == 2 and "no backend understands the target" in bad["error"]
    assert state.stat().st_size == size and sorted(toy.updates) == ["r000", "r001"]


def test_data_files_are_found_beside_the_manifest(tmp_path: Path, monkeypatch):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "loc1.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    manifest = tmp_path / "m" / "fleet.csv"
    manifest.write_text("key,target,training_url,data\na,T,https://bes/jobs,loc1.csv\nb,T2,https://bes/jobs,container/blob.csv\n",
                        encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    a, b = load_manifest(manifest)
    assert a.data == str((tmp_path / "m" / "loc1.csv").resolve()) and b.data == "container/blob.csv"


def test_an_unverified_deployment_is_deployed_again(toy_host, tmp_path: Path):
    class Lagging(Toy):
        @hookimpl
        def amlws_update(self, target, definition):
            result = super().amlws_update(target, definition)
            result.verified = len(self.updates) > 1  # the service shows the new model only later
            return result

    toy = Lagging(delay=0)
    rows = toy_rows(1)
    first = run_fleet(toy_host(toy), rows, FleetOptions(state=tmp_path / "s.jsonl"))
    assert first["rows"][0]["status"] == "deployed" and first["rows"][0]["verified"] is False
    second = run_fleet(toy_host(toy), rows, FleetOptions(state=tmp_path / "s.jsonl"))
    assert second["rows"][0]["verified"] is True and toy.updates == ["r000", "r000"]
    run_fleet(toy_host(toy), rows, FleetOptions(state=tmp_path / "s.jsonl"))
    assert len(toy.updates) == 2


def test_two_runs_cannot_share_a_state_file(tmp_path: Path):
    from amlws.errors import ConflictError

    state = tmp_path / "s.jsonl"
    first = Journal(state)
    try:
        with pytest.raises(ConflictError) as err:
            Journal(state)
        assert err.value.exit_code == ExitCode.CONFLICT and "--state" in (err.value.hint or "")
    finally:
        first.close()
    Journal(state).close()  # free again once the first run ended


def test_the_yaml_manifest_in_the_docs_parses():
    pytest.importorskip("yaml")
    docs = (Path(__file__).resolve().parents[2] / "docs" / "fleet.md").read_text(encoding="utf-8")
    block = docs.split("**YAML.**", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    rows = parse_manifest(block, fmt="yaml", source="docs/fleet.md")
    assert rows[0].key == "loc1" and rows[0].gates and rows[0].global_parameters["URI"].endswith("loc1.csv")


def test_the_github_actions_matrix_in_the_docs_is_valid_and_uses_real_options():
    """docs/fleet.md's workflow: valid YAML, one shard per matrix value, every option it passes exists."""
    yaml = pytest.importorskip("yaml")
    import re
    import subprocess

    docs = (Path(__file__).resolve().parents[2] / "docs" / "fleet.md").read_text(encoding="utf-8")
    workflow = next(b.split("```", 1)[0] for b in docs.split("```yaml\n")[1:] if "strategy:" in b.split("```", 1)[0])
    doc = yaml.safe_load(workflow)
    shards = doc["jobs"]["shard"]["strategy"]["matrix"]["shard"]
    runs = [step["run"] for job in doc["jobs"].values() for step in job["steps"] if "run" in step]
    fleet_run = next(r for r in runs if "amlws fleet run" in r)
    total = int(re.search(r"--shard \$\{\{ matrix.shard \}\}/(\d+)", fleet_run).group(1))
    assert sorted(parse_shard(f"{s}/{total}")[0] for s in shards) == list(range(1, total + 1))
    assert doc["jobs"]["shard"]["strategy"]["fail-fast"] is False
    import shutil

    exe = shutil.which("amlws", path=str(Path(sys.executable).parent))
    help_text = subprocess.run([exe, "fleet", "run", "--help"], capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}).stdout
    for option in set(re.findall(r"(?<!\S)(--[a-z][a-z-]+)", fleet_run)) - {"--yes"}:
        assert option in help_text, option
    assert any(r.startswith("amlws fleet status state/") for r in runs)


def test_the_cli_runs_the_workers_at_a_1_ms_switch_interval_and_the_library_leaves_it_alone(toy_host, make_pm, tmp_path: Path):
    """``sys.setswitchinterval`` is interpreter-wide: ``run_fleet``, a library call in someone
    else's process, leaves it alone; ``amlws fleet run`` (its own process) sets 1 ms while the
    workers run (a worker whose answer came gets the GIL within 1 ms, not 5) and restores it,
    even when a row fails."""
    from amlws.cli.application import main
    from amlws.cli.fleet import FLEET_SWITCH_INTERVAL

    seen: list[float] = []

    class Watching(Toy):
        @hookimpl
        def amlws_update(self, target, definition):
            seen.append(sys.getswitchinterval())
            return super().amlws_update(target, definition)

    original = sys.getswitchinterval()
    sys.setswitchinterval(0.005)  # the interpreter's default
    try:
        summary = run_fleet(toy_host(Watching(delay=0.0, fail={"r001": 5})), toy_rows(3), FleetOptions(state=tmp_path / "s.jsonl", jobs=2))
        assert summary["counts"] == {"deployed": 2, "failed": 1}
        assert seen and set(seen) == {0.005}
        seen.clear()
        manifest = tmp_path / "fleet.csv"
        manifest.write_text("key,target,model\n" + "".join(f"r{i:03d},toy:r{i:03d},{MODEL.format(key=i)}\n" for i in range(3)),
                            encoding="utf-8")
        assert main(["fleet", "run", str(manifest), "--jobs", "2", "--yes", "-o", "json"], pm=make_pm((Watching(delay=0.0, fail={"r001": 4}), "toy"))) == 4
        assert seen and set(seen) == {FLEET_SWITCH_INTERVAL} and FLEET_SWITCH_INTERVAL == 0.001
        assert sys.getswitchinterval() == 0.005
    finally:
        sys.setswitchinterval(original)


def test_fleet_status_of_a_manifest_reads_its_state_files_or_fails_with_2(make_pm, run_cli, tmp_path: Path):
    """The manifest given instead of the state file: its state file(s) (every shard's), or exit 2,
    never "0 row(s)" and exit 0 (a CI check would pass on nothing)."""
    toy = Toy(delay=0, fail={"r001": 4})
    pm = make_pm((toy, "toy"))
    manifest = tmp_path / "fleet.csv"
    manifest.write_text("key,target,model\n" + "".join(f"r{i:03d},toy:r{i:03d},{MODEL.format(key=i)}\n" for i in range(3)),
                        encoding="utf-8")
    code, out, err = run_cli(["fleet", "status", str(manifest)], pm)
    assert code == 2 and out == ""
    assert err.startswith(f"error: {manifest} is a fleet manifest, not a state file") and err.count("\n") == 1
    assert "(fix: give the --state file(s) that amlws fleet run wrote" in err

    assert run_cli(["fleet", "run", str(manifest), "--yes", "-o", "json"], pm)[0] == 4
    code, out, err = run_cli(["fleet", "status", str(manifest), "-o", "json"], pm)
    status = json.loads(out)
    assert code == 4 and status["total"] == 3 and status["counts"] == {"deployed": 2, "failed": 1}
    assert status["state"] == [str(tmp_path / "fleet.fleet-state.jsonl")]

    sharded = tmp_path / "sharded.csv"
    sharded.write_text(manifest.read_text(encoding="utf-8"), encoding="utf-8")
    for shard in ("1/2", "2/2"):
        run_cli(["fleet", "run", str(sharded), "--shard", shard, "--yes", "-o", "json"], pm)
    code, out, _ = run_cli(["fleet", "status", str(sharded), "-o", "json"], pm)
    status = json.loads(out)
    assert status["total"] == 3 and status["state"] == [str(tmp_path / f"sharded.shard-{i}-of-2.fleet-state.jsonl") for i in (1, 2)]

    not_a_journal = tmp_path / "notes.jsonl"
    not_a_journal.write_text('{"key": "r000", "target": "toy:r000"}\n', encoding="utf-8")
    code, out, err = run_cli(["fleet", "status", str(not_a_journal)], pm)
    assert code == 2 and out == "" and err.startswith(f"error: {not_a_journal} is not a fleet state file")


def test_what_if_counts_each_row_once_with_rows_to_create(toy_host, tmp_path: Path):
    """--what-if on rows that would create their target counted them twice (``7/4 done``)."""
    import io

    from amlws.fleet import FleetProgress

    class Missing(Toy):
        @hookimpl
        def amlws_get_definition(self, target):
            if target.parts["name"] not in self.services:
                raise RemoteError(f"no endpoint {target.parts['name']}", status=404)
            return super().amlws_get_definition(target)

    toy = Missing(delay=0)
    toy.services["r000"] = {"model": None}
    rows = [FleetRow(key=r.key, target=r.target, model=r.model, create=True) for r in toy_rows(4)]
    out = io.StringIO()
    summary = run_fleet(toy_host(toy), rows, FleetOptions(state=tmp_path / "s.jsonl", what_if=True, jobs=1), progress=FleetProgress(out))
    assert summary["counts"] == {"planned": 4} and toy.updates == []
    lines = out.getvalue().splitlines()
    assert lines[:4] == ["fleet [1/4] r000: planned", "fleet [2/4] r001: planned (would create the target, then retrain and deploy)",
                         "fleet [3/4] r002: planned (would create the target, then retrain and deploy)",
                         "fleet [4/4] r003: planned (would create the target, then retrain and deploy)"]
    assert lines[-1].startswith("fleet: 4/4 done (4 planned)")


def test_the_hint_of_a_failed_fleet_says_what_a_rerun_does(run_cli, make_pm, tmp_path: Path):
    """A gate failure is final on rerun: the hint must not promise a retry for it."""
    from amlws.cli.fleet import _rerun_hint

    gated = _rerun_hint([{"key": "a", "status": "gate_failed"}])
    assert "retry" not in gated and "1 gate_failed row(s) are final and a rerun skips them" in gated
    assert "change the row's data or gate in the manifest" in gated
    mixed = _rerun_hint([{"key": "a", "status": "gate_failed"}, {"key": "b", "status": "failed"}])
    assert "rerun amlws fleet run to retry the rows that failed or did not run" in mixed and "1 gate_failed row(s) are final" in mixed
    # through the CLI: a journal whose only unfinished row failed its gate
    state = tmp_path / "s.jsonl"
    with Journal(state) as j:
        j.append({"event": "run", "version": 1, "rows": ["a", "b"]})
        j.append({"event": "done", "row": "a", "status": "deployed", "verified": True, "exitCode": 0})
        j.append({"event": "done", "row": "b", "status": "gate_failed", "exitCode": 5, "error": "gate Accuracy>=0.9 failed"})
    code, out, err = run_cli(["fleet", "status", str(state)], make_pm())
    assert code == 5 and "rerun amlws fleet run to retry" not in err and "are final and a rerun skips them" in err


def test_fleet_status_of_a_missing_file_is_not_found_3(make_pm, run_cli, tmp_path: Path):
    """A path that does not exist is exit 3 as everywhere else (README exit codes); a manifest that
    exists with no state file yet stays exit 2 (see above)."""
    pm = make_pm((Toy(delay=0), "toy"))
    missing = tmp_path / "nosuch.csv"
    code, out, err = run_cli(["fleet", "status", str(missing)], pm)
    assert code == 3 and out == ""
    assert err == f"error: no such file {missing} (fix: check the path: give the --state file(s) that amlws fleet run wrote, or its manifest)\n"


def test_cli_arm_budget_and_no_pacing_reach_the_run_and_its_waits_are_shown(make_pm, run_cli, tmp_path: Path, monkeypatch):
    import amlws.fleet as fleet

    seen: list[FleetOptions] = []

    def fake_run(host: Any, rows: Any, options: FleetOptions, **kwargs: Any) -> dict[str, Any]:
        seen.append(options)
        return {"rows": [{"key": "r000", "status": "deployed", "exitCode": 0, "seconds": 2.5, "throttleSeconds": 1.25},
                         {"key": "r001", "status": "deployed", "exitCode": 0, "seconds": 0.5}],
                "counts": {"deployed": 2}, "total": 2, "exitCode": 0,
                "throttling": {"pacing": True, "armBudgetPercent": 60.0, "requests": 9, "waitSeconds": 1.25, "waits": 2, "throttled": 1}}

    monkeypatch.setattr(fleet, "run_fleet", fake_run)
    manifest = tmp_path / "fleet.csv"
    manifest.write_text("key,target,model\n" + "".join(f"r{i:03d},toy:r{i:03d},{MODEL.format(key=i)}\n" for i in range(2)),
                        encoding="utf-8")
    pm = make_pm((Toy(delay=0), "toy"))
    code, out, _ = run_cli(["fleet", "run", str(manifest), "--yes", "--arm-budget", "60"], pm)
    assert code == 0 and seen[-1].arm_budget == 60 and seen[-1].pacing is True
    assert "waited" in out.splitlines()[1] and "1.25" in out
    assert "ARM budget: 1.2 s of waits (2 request(s)), 1 answer(s) 429 of 9" in out
    assert run_cli(["fleet", "run", str(manifest), "--yes", "--no-pacing"], pm)[0] == 0
    assert seen[-1].pacing is False and seen[-1].arm_budget == 80
    code, _, err = run_cli(["fleet", "run", str(manifest), "--yes", "--arm-budget", "101"], pm)
    assert code == 2 and "--arm-budget" in err
